/* SPDX-License-Identifier: ISC */
#include "util/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

static const struct cf_cli_cmd *cmd_at(const struct cf_cli *cli, size_t i)
{
	return (const struct cf_cli_cmd *)((const char *)cli->cmds + i * cli->cmd_size);
}

/* The index of command @name, or cli->ncmds when there is none. */
static size_t find_cmd(const struct cf_cli *cli, const char *name)
{
	size_t i;

	for (i = 0; i < cli->ncmds; i++)
		if (strcmp(cmd_at(cli, i)->name, name) == 0)
			break;
	return i;
}

/* `PROG help [NAME]`: @argv[0] is "help". */
static int help(const struct cf_cli *cli, int argc, char **argv)
{
	size_t i;

	if (argc == 1) {
		fputs(cli->usage, stdout);
		return CF_CLI_OK;
	}
	i = find_cmd(cli, argv[1]);
	if (i == cli->ncmds || argc > 2) {
		fprintf(stderr, "%s help: %s '%s'\nUsage: %s help [command]\n", cli->prog,
		        i < cli->ncmds ? "unexpected argument" : "no such command",
		        argv[i < cli->ncmds ? 2 : 1], cli->prog);
		return CF_CLI_USAGE;
	}
	fputs(cmd_at(cli, i)->usage, stdout);
	return CF_CLI_OK;
}

/* The top level of cf_cli_args: CF_CLI_RUN with *@cmd set, or the exit status. */
static int dispatch(const struct cf_cli *cli, int argc, char **argv, size_t *cmd)
{
	if (argc < 2) {
		fputs(cli->usage, stderr);
		return CF_CLI_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cli->usage, stdout);
		return CF_CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s %s\n", cli->prog, cli->version);
		return CF_CLI_OK;
	}
	if (!strcmp(argv[1], "help"))
		return help(cli, argc - 1, argv + 1);
	*cmd = find_cmd(cli, argv[1]);
	if (*cmd == cli->ncmds) {
		fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", cli->prog, argv[1],
		        cli->prog);
		return CF_CLI_USAGE;
	}
	return CF_CLI_RUN;
}

/* A command's options, @argv[0] its name: CF_CLI_RUN, or the exit status. */
static int parse(const struct cf_cli *cli, const struct cf_cli_cmd *cmd, int argc, char **argv,
                 cf_cli_opt_fn *on_opt, void *ctx, int *first_arg)
{
	char optstring[64];
	int opt, rc;

	snprintf(optstring, sizeof(optstring), ":h%s", cmd->shortopts ? cmd->shortopts : "");
	opterr = 0;
	optind = 0; /* GNU: full reinitialisation */
	while ((opt = getopt_long(argc, argv, optstring, cmd->longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(cmd->usage, stdout);
			return CF_CLI_OK;
		case ':':
			return cf_cli_complain(cli->prog, cmd->name, "option '%s' needs a value",
			                       argv[optind - 1]);
		case '?':
			if (optopt)
				return cf_cli_complain(cli->prog, cmd->name, "unknown option '-%c'",
				                       optopt);
			return cf_cli_complain(cli->prog, cmd->name, "unknown option '%s'",
			                       argv[optind - 1]);
		default:
			rc = on_opt(ctx, cmd, opt, optarg);
			if (rc)
				return rc;
		}
	}
	if (cmd->max_args >= 0 && argc - optind > cmd->max_args)
		return cf_cli_complain(cli->prog, cmd->name, "unexpected argument '%s'",
		                       argv[optind + cmd->max_args]);
	*first_arg = optind;
	return CF_CLI_RUN;
}

int cf_cli_args(const struct cf_cli *cli, int argc, char **argv, cf_cli_opt_fn *on_opt, void *ctx,
                size_t *cmd, int *first_arg)
{
	int first = 0, rc = dispatch(cli, argc, argv, cmd);

	if (rc == CF_CLI_RUN)
		rc = parse(cli, cmd_at(cli, *cmd), argc - 1, argv + 1, on_opt, ctx, &first);
	if (rc == CF_CLI_RUN && first_arg)
		*first_arg = first + 1;
	return rc;
}

int cf_cli_complain(const char *prog, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr); /* the lines stay together */
	fprintf(stderr, "%s %s: ", prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", prog, cmd);
	funlockfile(stderr);
	return CF_CLI_USAGE;
}

int cf_cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return CF_CLI_OK;
	case CF_E_CONFIG:
	case CF_E_INVAL:
	case CF_E_VERSION:
		return CF_CLI_USAGE;
	default:
		return CF_CLI_FAIL;
	}
}

int cf_cli_vreport(const char *prog, int json, int err, const char *fmt, va_list ap)
{
	char what[1536];

	vsnprintf(what, sizeof(what), fmt, ap);
	fprintf(stderr, "%s: %s: %s\n", prog, what, cf_strerror(err));
	if (json)
		cf_cli_print_json(json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
		                            cf_error_name(err), "what", what, "message",
		                            cf_strerror(err)));
	return cf_cli_exit_code(err);
}

int cf_cli_report(const char *prog, int json, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_cli_vreport(prog, json, err, fmt, ap);
	va_end(ap);
	return rc;
}

int cf_cli_print_json(json_t *j)
{
	if (!j)
		return -ENOMEM;
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	putchar('\n');
	json_decref(j);
	return 0;
}

const char *cf_cli_human(char *buf, size_t cap, uint64_t n)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

int cf_cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Cut the @got bytes at @d where @end says; returns the new length. */
static size_t pass_cut(const uint8_t *d, size_t got, enum cf_cli_pass_end end)
{
	if (end == CF_CLI_PASS_FIRST_LINE) {
		for (size_t i = 0; i < got; i++)
			if (d[i] == '\n' || d[i] == '\r')
				return i;
		return got;
	}
	if (got && d[got - 1] == '\n')
		got--;
	if (got && d[got - 1] == '\r')
		got--;
	return got;
}

int cf_cli_read_passphrase(const char *file, size_t max, enum cf_cli_pass_end end,
                           struct cf_secbuf **out)
{
	const size_t cap = max + 3; /* "\r\n" and one byte more tell a long one apart */
	const char *env = getenv("COFFER_PASSPHRASE");
	struct cf_secbuf *b = NULL;
	size_t got = 0;
	uint8_t *d;
	int fd, r;

	*out = NULL;
	if (!file)
		return env && *env ? cf_secbuf_dup(out, env, strlen(env) + 1) : 0;
	r = cf_secbuf_new(&b, cap + 1);
	if (r)
		return r;
	d = cf_secbuf_data(b);
	fd = strcmp(file, "-") == 0 ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	while (!r && got < cap) {
		ssize_t n = read(fd, d + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		got += (size_t)n;
	}
	if (fd > STDIN_FILENO)
		close(fd);
	if (!r) {
		got = pass_cut(d, got, end);
		if (got == 0 || got > max || memchr(d, '\0', got))
			r = CF_E_CONFIG;
	}
	if (r) {
		cf_secbuf_free(b);
		return r;
	}
	d[got] = '\0';
	cf_secbuf_shrink(b, got + 1);
	*out = b;
	return 0;
}
