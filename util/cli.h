/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The command-line plumbing keyvault, backupd and restore have in common: the top level
 * (usage, --version, `help [command]`, unknown commands), parsing one command's options
 * with the same complaints, error reports (one line on stderr, and with --json an
 * {"error": ...} object on stdout), sizes for people, whole numbers from options and the
 * passphrase file. Nothing here exits: every function returns, and those that end a run
 * return the exit status for main to return. No state is kept between calls (getopt's
 * own globals aside).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

/* Exit statuses shared by the programs (restore adds 3, damage found). */
enum {
	CF_CLI_RUN = -1, /* not an exit status: the command is to run */
	CF_CLI_OK = 0,
	CF_CLI_FAIL = 1,  /* the operation failed */
	CF_CLI_USAGE = 2, /* usage or configuration error */
};

/*
 * One command of a program. A program's own command table may hold more per command:
 * its elements then begin with this struct (see struct cf_cli).
 */
struct cf_cli_cmd {
	const char *name;
	const char *usage;             /* what `PROG NAME --help` prints, whole */
	const char *shortopts;         /* short options besides -h, getopt's way ("qr:"), or NULL */
	const struct option *longopts; /* getopt_long's table, "help" mapped to 'h' */
	int max_args;                  /* positional arguments allowed; -1: any number */
};

/* A program: its name, version, top-level usage and commands. */
struct cf_cli {
	const char *prog;    /* "restore": starts every message */
	const char *version; /* printed by --version after the name */
	const char *usage;   /* the top-level usage text, whole */
	const void *cmds;    /* array of ncmds elements of cmd_size bytes, each beginning
	                        with a struct cf_cli_cmd */
	size_t ncmds, cmd_size;
};

/* The .cmds, .ncmds and .cmd_size initialisers of struct cf_cli for the array @a. */
#define CF_CLI_COMMANDS(a)                                                                         \
	.cmds = (a), .ncmds = sizeof(a) / sizeof((a)[0]), .cmd_size = sizeof((a)[0])

/*
 * cf_cli_opt_fn - called by cf_cli_args for each of @cmd's options other than -h/--help,
 * with what getopt_long returned and the option's value (NULL without one). Returns 0 to
 * go on, or the exit status to stop with, having said why (cf_cli_complain for a bad
 * value).
 */
typedef int cf_cli_opt_fn(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg);

/*
 * cf_cli_args - main's @argc/@argv up to the command's run. The top level first: without
 * arguments the usage on stderr (exit 2); -h/--help and `help` the usage on stdout (0);
 * --version "PROG VERSION" (0); `help NAME` NAME's usage (0), or a complaint for an
 * unknown NAME or a further argument (2); an unknown command a complaint ending
 * "Try 'PROG --help'." (2). Then the command's options, with getopt_long (options may
 * follow arguments): -h/--help prints its usage on stdout (0); a missing value, an
 * unknown option or more than max_args positional arguments is a complaint with the
 * "Try 'PROG CMD --help'." tail (2); the others go to @on_opt.
 * Returns CF_CLI_RUN with *@cmd the index of the command in cli->cmds and *@first_arg
 * (may be NULL) the index of its first positional argument in the permuted @argv; else
 * the exit status (what @on_opt returned, or one of the above), the output written.
 */
int cf_cli_args(const struct cf_cli *cli, int argc, char **argv, cf_cli_opt_fn *on_opt, void *ctx,
                size_t *cmd, int *first_arg);

/*
 * cf_cli_complain - a usage error of command @cmd: "PROG CMD: <message>" and then
 * "Try 'PROG CMD --help'." on stderr. Returns CF_CLI_USAGE.
 */
int cf_cli_complain(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * cf_cli_exit_code - the usual exit status for error @err: 0 for 0, CF_CLI_USAGE for
 * CF_E_CONFIG, CF_E_INVAL and CF_E_VERSION, else CF_CLI_FAIL.
 */
int cf_cli_exit_code(int err);

/*
 * cf_cli_vreport - "PROG: <what>: <cf_strerror>" on stderr, once; with @json also
 * {"error": {"code": cf_error_name, "what", "message"}} on stdout. <what> is cut at
 * 1535 bytes. Returns cf_cli_exit_code(@err) (a program may map @err otherwise).
 */
int cf_cli_vreport(const char *prog, int json, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* cf_cli_report - cf_cli_vreport with the arguments inline. Same return. */
int cf_cli_report(const char *prog, int json, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * cf_cli_print_json - @j on stdout, indented by 2, reals with 6 significant digits, and a
 * newline; takes the reference. Returns 0, or -ENOMEM (nothing printed) when @j is NULL,
 * the usual sign that building it ran out of memory.
 */
int cf_cli_print_json(json_t *j);

/* cf_cli_human - @n bytes for people ("512 B", "1.5 MiB", up to PiB) into @buf. Returns @buf. */
const char *cf_cli_human(char *buf, size_t cap, uint64_t n);

/*
 * cf_cli_parse_uint - the decimal whole number @s, from @min to @max, into *@out (set only
 * on success). No sign, nothing after the digits. Returns 0, or -1 when @s is not one.
 */
int cf_cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Where a passphrase read from a file ends. */
enum cf_cli_pass_end {
	CF_CLI_PASS_FIRST_LINE, /* at the first "\n" or "\r" */
	CF_CLI_PASS_TRAILING,   /* at the end of the file, less one "\n", "\r\n" or "\r" */
};

/*
 * cf_cli_read_passphrase - the passphrase from @file ("-": standard input) or, when @file
 * is NULL, $COFFER_PASSPHRASE, into secure memory with a terminating NUL. *@out is NULL
 * when neither gives one. From a file it must be 1..@max bytes of text (no NUL) once cut
 * as @end says.
 * Returns 0; CF_E_CONFIG for an empty, too long or binary passphrase; -errno when the
 * file cannot be opened or read; -ENOMEM.
 */
int cf_cli_read_passphrase(const char *file, size_t max, enum cf_cli_pass_end end,
                           struct cf_secbuf **out);
