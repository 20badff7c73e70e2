/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to the restore program: restore-cli.c (options, sessions) and cli_cmds.c. */
#include <stddef.h>
#include <stdint.h>

#include "keyvault/session.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_DAMAGE = 3 };

struct opts {
	const char *cmd;
	const char *repo, *state_dir, *cache_dir, *pass_file, *to;
	const char **paths;
	size_t npaths;
	const char *server, *account, *password_file, *rk_file; /* recover */
	const char **contacts;
	size_t ncontacts;
	int json, in_place, verify, read_data, dry_run;
	uint64_t grace;
	char **args; /* positional arguments */
	int nargs;
};

/*
 * cli_fail - "restore: <what>: <reason>" on stderr, once; with --json also
 * {"error": {code, what, message}} on stdout (cf_cli_vreport). Returns the exit status
 * for @err (cf_cli_exit_code).
 */
int cli_fail(const struct opts *o, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * cli_open - open the repository as this device (and with @load, its snapshots,
 * refused ones reported as one warning). Prints the failure and returns its exit status;
 * 0 with *@s set on success.
 */
int cli_open(const struct opts *o, int load, struct cf_session **s);

/* cli_keychain - open this device's keychain alone (for check). Same returns. */
int cli_keychain(const struct opts *o, struct cf_keychain **kc);

int cmd_list(const struct opts *o);
int cmd_snapshot(const struct opts *o);
int cmd_export(const struct opts *o);
int cmd_check(const struct opts *o);
int cmd_forget(const struct opts *o);
int cmd_prune(const struct opts *o);
int cmd_recover(const struct opts *o); /* recover.c */
