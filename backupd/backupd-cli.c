/* SPDX-License-Identifier: ISC */
/*
 * backupd: the backup command line. This build has `now` (one backup, then exit);
 * `run` (the scheduled daemon) and `status` come with a later issue.
 * docs/backupd.md and docs/man/backupd.1.scd document it.
 *
 * Exit codes: 0 success, 1 the backup failed or was interrupted, 2 usage or
 * configuration error. A passphrase is never a command-line argument: it comes from
 * --passphrase-file FILE ("-" for standard input) or $COFFER_PASSPHRASE.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backupd/snapshot.h"
#include "core/encode.h"
#include "core/error.h"
#include "keyvault/session.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };
enum { OPT_STORE = 256, OPT_STATE_DIR, OPT_CACHE_DIR, OPT_PASS_FILE, OPT_PACK_SIZE, OPT_JSON };

#define PACK_MIB_MIN 1
#define PACK_MIB_MAX 64

struct opts {
	const char *store, *repo, *state_dir, *cache_dir, *pass_file;
	unsigned pack_mib;
	int json, quiet;
};

static const char usage_main[] =
    "Usage: backupd <command> [options]\n"
    "\n"
    "Back up the message store into an encrypted, deduplicated repository.\n"
    "\n"
    "Commands:\n"
    "  now       take one backup now and exit\n"
    "  help      show help for a command\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Run 'backupd <command> --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure or interrupted, 2 usage or configuration error.\n";

static const char usage_now[] =
    "Usage: backupd now --store DIR --repo URL [options]\n"
    "\n"
    "Take one snapshot of the message store DIR (chat.db through SQLite's backup API,\n"
    "then every other file) into the repository URL. The first backup into an absent\n"
    "or empty location initialises the repository. Unchanged files are not read again.\n"
    "\n"
    "  --store DIR             the message store folder (holds chat.db)\n"
    "  -r, --repo URL          the repository: file:///path, or a bare path\n"
    "  --state-dir DIR         where the keychain lives (default $XDG_STATE_HOME/coffer,\n"
    "                          else ~/.local/state/coffer)\n"
    "  --cache-dir DIR         the rebuildable local cache (default $XDG_CACHE_HOME/coffer,\n"
    "                          else ~/.cache/coffer)\n"
    "  --passphrase-file FILE  the keychain's passphrase ('-' reads standard input);\n"
    "                          $COFFER_PASSPHRASE is used when this is not given\n"
    "  --pack-size MIB         target pack size in MiB, 1..64 (default 16)\n"
    "  --json                  print the summary as one JSON object\n"
    "  -q, --quiet             no progress and no summary; warnings and errors only\n"
    "  -h, --help              show this help\n"
    "\n"
    "SIGINT or SIGTERM stops the backup at the next blob: no snapshot is written, and\n"
    "what was uploaded is reused by the next run (exit status 1).\n";

static const struct option now_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"store", required_argument, NULL, OPT_STORE},
    {"repo", required_argument, NULL, 'r'},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
    {"pack-size", required_argument, NULL, OPT_PACK_SIZE},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

static const struct cf_cli_cmd commands[] = {
    {.name = "now", .usage = usage_now, .shortopts = "qr:", .longopts = now_longopts},
};

static const struct cf_cli cli = {
    .prog = "backupd", .version = CF_VERSION, .usage = usage_main, CF_CLI_COMMANDS(commands)};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1; /* SA_RESETHAND: a second signal ends the process at once */
}

/*
 * "backupd: <what>: <reason>" on stderr, once; with --json also {"error": ...} on
 * stdout. Returns @status.
 */
static int fail(const struct opts *o, int status, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const struct opts *o, int status, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cf_cli_vreport("backupd", o && o->json, err, fmt, ap);
	va_end(ap);
	return status;
}

struct bar {
	int on;
	struct timespec last;
	int drawn;
};

static void draw_bar(void *ctx, const struct cf_snapshot_progress *p)
{
	struct bar *b = ctx;
	struct timespec now;
	char done[32], total[32], line[160];
	unsigned pct, fill;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (b->drawn &&
	    (now.tv_sec - b->last.tv_sec) * 1000 + (now.tv_nsec - b->last.tv_nsec) / 1000000 <
	        200 &&
	    p->files_done != p->files_total)
		return;
	b->last = now;
	b->drawn = 1;
	pct = p->bytes_total ? (unsigned)(p->bytes_done * 100 / p->bytes_total) : 100;
	if (pct > 100)
		pct = 100;
	fill = pct / 5;
	n = snprintf(line, sizeof(line), "\r[%.*s%.*s] %3u%%  %llu/%llu files  %s / %s", (int)fill,
	             "####################", (int)(20 - fill), "....................", pct,
	             (unsigned long long)p->files_done, (unsigned long long)p->files_total,
	             cf_cli_human(done, sizeof(done), p->bytes_done),
	             cf_cli_human(total, sizeof(total), p->bytes_total));
	if (n > 0)
		fprintf(stderr, "%s\033[K", line);
}

static void clear_bar(struct bar *b)
{
	if (b->drawn)
		fputs("\r\033[K", stderr);
	b->drawn = 0;
}

static void summary_text(const struct cf_snapshot_result *res, const char *hex)
{
	char a[32], b[32], c[32];

	printf("Snapshot %.8s saved (sequence %llu)\n", hex, (unsigned long long)res->seq);
	printf("Files:         %llu (%llu read, %llu unchanged), %llu folders\n",
	       (unsigned long long)res->files, (unsigned long long)res->files_read,
	       (unsigned long long)res->files_unchanged, (unsigned long long)res->dirs);
	printf("Bytes:         %s\n", cf_cli_human(a, sizeof(a), res->bytes));
	printf("New bytes:     %s\n", cf_cli_human(b, sizeof(b), res->new_bytes));
	printf("Stored bytes:  %s\n", cf_cli_human(c, sizeof(c), res->stored_bytes));
	printf("Vanished:      %zu\n", res->nvanished);
	if (res->skipped)
		printf("Skipped:       %llu (see the warnings above)\n",
		       (unsigned long long)res->skipped);
	printf("Duration:      %.1f s\n", res->seconds);
}

static void report_vanished(const struct cf_snapshot_result *res)
{
	size_t shown = res->nvanished < 10 ? res->nvanished : 10;

	if (!res->nvanished)
		return;
	fprintf(stderr, "backupd: %zu file%s vanished during the backup: ", res->nvanished,
	        res->nvanished == 1 ? "" : "s");
	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", res->vanished[i]);
	if (shown < res->nvanished)
		fprintf(stderr, ", and %zu more", res->nvanished - shown);
	fputc('\n', stderr);
}

static int summary_json(const struct cf_snapshot_result *res, const char *hex, const struct opts *o)
{
	json_t *v = json_array(), *j;

	for (size_t i = 0; v && i < res->nvanished; i++)
		if (json_array_append_new(v, json_string(res->vanished[i])) < 0) {
			json_decref(v);
			v = NULL;
		}
	j = json_pack(
	    "{s:s,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o*,s:f}", "id", hex, "seq",
	    (json_int_t)res->seq, "store", o->store, "repository", o->repo, "files",
	    (json_int_t)res->files, "dirs", (json_int_t)res->dirs, "files_read",
	    (json_int_t)res->files_read, "files_unchanged", (json_int_t)res->files_unchanged,
	    "bytes", (json_int_t)res->bytes, "new_bytes", (json_int_t)res->new_bytes,
	    "stored_bytes", (json_int_t)res->stored_bytes, "skipped", (json_int_t)res->skipped,
	    "vanished", (json_int_t)res->nvanished, "vanished_paths", v, "duration", res->seconds);
	if (!j || !v) {
		json_decref(j);
		return fail(NULL, EXIT_FAIL, -ENOMEM, "JSON output");
	}
	cf_cli_print_json(j);
	return EXIT_OK;
}

static int cmd_now(struct opts *o)
{
	struct cf_session_opts so = {0};
	struct cf_snapshot_opts sno = {0};
	struct cf_snapshot_result res = {0};
	struct cf_session *s = NULL;
	struct sigaction sa;
	struct bar bar = {0};
	char why[1200], hex[CF_HEX_LEN(32)];
	int r, rc;

	r = cf_snapshot_check_store(o->store, why, sizeof(why));
	if (r)
		return fail(o, EXIT_FAIL, r, "%s", why);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	so.repo_url = o->repo;
	so.state_dir = o->state_dir;
	so.cache_dir = o->cache_dir;
	so.passphrase_file = o->pass_file;
	so.create = 1;
	so.pack_size = (uint64_t)o->pack_mib << 20;
	r = cf_session_open(&s, &so);
	if (r)
		return fail(o, r == CF_E_CONFIG || r == CF_E_VERSION ? EXIT_USAGE : EXIT_FAIL, r,
		            "open repository %s", o->repo);
	if (stop_flag) {
		cf_session_free(s);
		return fail(o, EXIT_FAIL, -EINTR, "backup of %s interrupted before it began",
		            o->store);
	}
	bar.on = !o->quiet && isatty(STDERR_FILENO);
	sno.store = o->store;
	sno.stop = &stop_flag;
	sno.progress = bar.on ? draw_bar : NULL;
	sno.ctx = &bar;
	r = cf_snapshot_run(s, &sno, &res);
	clear_bar(&bar);
	cf_session_free(s);
	if (r == -EINTR)
		return fail(o, EXIT_FAIL, r,
		            "backup of %s interrupted: no snapshot written (what was uploaded is "
		            "reused by the next run)",
		            o->store);
	if (r)
		return fail(o, EXIT_FAIL, r, "backup of %s into %s", o->store, o->repo);
	cf_encode_hex(hex, res.id, sizeof(res.id));
	report_vanished(&res);
	rc = EXIT_OK;
	if (o->json)
		rc = summary_json(&res, hex, o);
	else if (!o->quiet)
		summary_text(&res, hex);
	cf_snapshot_result_clear(&res);
	return rc;
}

/* One of `now`'s own options (cf_cli_args handles --help and the complaints). */
static int on_opt(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg)
{
	struct opts *o = ctx;
	uint64_t mib;

	switch (opt) {
	case OPT_STORE:
		o->store = arg;
		break;
	case 'r':
		o->repo = arg;
		break;
	case OPT_STATE_DIR:
		o->state_dir = arg;
		break;
	case OPT_CACHE_DIR:
		o->cache_dir = arg;
		break;
	case OPT_PASS_FILE:
		o->pass_file = arg;
		break;
	case OPT_PACK_SIZE:
		if (cf_cli_parse_uint(arg, PACK_MIB_MIN, PACK_MIB_MAX, &mib))
			return cf_cli_complain("backupd", cmd->name,
			                       "--pack-size wants MiB from %d to %d, not '%s'",
			                       PACK_MIB_MIN, PACK_MIB_MAX, arg);
		o->pack_mib = (unsigned)mib;
		break;
	case OPT_JSON:
		o->json = 1;
		break;
	case 'q':
		o->quiet = 1;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	size_t i;
	int rc;

	cf_log_set_prog("backupd");
	rc = cf_cli_args(&cli, argc, argv, on_opt, &o, &i, NULL);
	if (rc != CF_CLI_RUN)
		return rc;
	if (!o.store || !*o.store || !o.repo || !*o.repo)
		return cf_cli_complain("backupd", "now", "--store DIR and --repo URL are required");
	if ((o.state_dir && !*o.state_dir) || (o.cache_dir && !*o.cache_dir))
		return cf_cli_complain("backupd", "now",
		                       "--state-dir and --cache-dir must not be empty");
	if (o.quiet)
		cf_log_set_level(CF_LOG_WARN);
	return cmd_now(&o);
}
