/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Internal to the keyvault program (keyvault-cli.c: options and dispatch; kv_*.c: the
 * commands). Every command returns its exit status: 0 success, 1 failure, 2 usage or
 * configuration error.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"
#include "keyvault/account.h"
#include "keyvault/keychain.h"
#include "keyvault/kvclient.h"
#include "keyvault/modes.h"

enum { KV_OK = 0, KV_FAIL = 1, KV_USAGE = 2 };

struct kv_opts {
	const char *cmd;
	const char *state_dir, *pass_file, *repo, *cache_dir;
	const char *server, *account, *password_file, *new_password_file;
	const char *recovery_key_file, *label, *fingerprint, *code;
	const char *contacts[16];
	size_t ncontacts;
	unsigned threshold;
	int json, local, yes;
	enum cf_history history;
	char **args; /* positional arguments */
	int nargs;
};

/* kv_fail - "keyvault: <what>: <reason>" (and the JSON error). Returns the exit status. */
int kv_fail(const struct kv_opts *o, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kv_usage - "keyvault CMD: <message>" + the --help hint. Returns KV_USAGE. */
int kv_usage(const struct kv_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kv_keychain - open the keychain (its passphrase from the options). Exit status. */
int kv_keychain(const struct kv_opts *o, struct cf_keychain **kc);

/* kv_password - the account password (--password-file or COFFER_PASSWORD) or NULL. */
int kv_password(const struct kv_opts *o, struct cf_secbuf **pw);

/*
 * kv_connect - a logged-in client for the account in @a: by password when one is
 * available (then *@auth_key, may be NULL, receives the auth key), else by device login.
 * With @need_password a missing password is a usage error. Exit status.
 */
int kv_connect(const struct kv_opts *o, const struct cf_account *a, const struct cf_keychain *kc,
	       int need_password, struct cf_kvclient **c, struct cf_secbuf **auth_key);

/*
 * kv_repo_url - the repository a command works on: --repo, else the only one in the
 * account record. NULL (with a usage message) when it cannot tell.
 */
const char *kv_repo_url(const struct kv_opts *o, const struct cf_account *a);

/* kv_session_opts - session options for @url from the command's options. */
void kv_session_opts(const struct kv_opts *o, const char *url, struct cf_session_opts *so);

/* kv_print_changes - the sentences of @ch (text), or {"changes": [...]} with --json. */
void kv_print_changes(const struct kv_opts *o, const struct cf_change *ch, json_t *extra);

int kv_cmd_init(const struct kv_opts *o);
int kv_cmd_status(const struct kv_opts *o);
int kv_cmd_mode(const struct kv_opts *o);
int kv_cmd_recovery_key(const struct kv_opts *o);
int kv_cmd_contact(const struct kv_opts *o);
int kv_cmd_device(const struct kv_opts *o);
int kv_cmd_password(const struct kv_opts *o);
int kv_cmd_account(const struct kv_opts *o);
int kv_cmd_audit(const struct kv_opts *o);
int kv_cmd_recover(const struct kv_opts *o);
