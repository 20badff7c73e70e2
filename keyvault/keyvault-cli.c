/* SPDX-License-Identifier: ISC */
/*
 * keyvault: the key-management command line (docs/protection-modes.md,
 * docs/man/keyvault.1.scd). This file holds usage, options and dispatch; the commands
 * are in kv_*.c.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
 * Secrets are never command-line arguments (process listings show those): the keychain
 * passphrase comes from --passphrase-file or $COFFER_PASSPHRASE, the account password
 * from --password-file or $COFFER_PASSWORD, a recovery key from --recovery-key-file.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "keyvault/kv_cli.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

#define STATE_USAGE                                                                                \
	"  --state-dir DIR         where the keychain lives (default $XDG_STATE_HOME/coffer,\n"    \
	"                          else ~/.local/state/coffer)\n"                                  \
	"  --passphrase-file FILE  the keychain's passphrase ('-' reads standard input);\n"        \
	"                          $COFFER_PASSPHRASE is used when this is not given\n"            \
	"  --json                  machine-readable output\n"                                      \
	"  -h, --help              show this help\n"
#define REPO_USAGE                                                                                 \
	"  --repo URL              the repository (default: the only one this device knows)\n"     \
	"  --cache-dir DIR         the local cache (default $XDG_CACHE_HOME/coffer)\n"
#define PASSWORD_USAGE                                                                             \
	"  --password-file FILE    the account password ('-': standard input); else\n"             \
	"                          $COFFER_PASSWORD; without either, this device logs in\n"        \
	"                          with its own key\n"

static const char usage_main[] =
    "Usage: keyvault <command> [options]\n"
    "\n"
    "Manage this device's keys and who can read its backups.\n"
    "\n"
    "Commands:\n"
    "  init          create this device's keychain, and an account with --server\n"
    "  status        device, account, protection mode, epochs, devices, recovery methods,\n"
    "                and in plain words who can read which snapshots\n"
    "  mode          standard | advanced: switch the protection mode\n"
    "  recovery-key  create | verify | rotate | remove the recovery key\n"
    "  contact       add | remove | list recovery contacts; help someone recover\n"
    "  device        list | add | approve | remove trusted devices\n"
    "  password      change: change the account password\n"
    "  account       delete: delete the account with its escrow, shares and witness\n"
    "  audit         show the account's audit log (every escrow release and recovery)\n"
    "  recover       recover a repository's keys on this device (see restore recover)\n"
    "  help          show help for a command\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Run 'keyvault <command> --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure, 2 usage or configuration error.\n";

static const char usage_init[] =
    "Usage: keyvault init --local [options]\n"
    "       keyvault init --server URL --account NAME [options]\n"
    "\n"
    "Create this device's keychain with a new identity and print its fingerprint; never\n"
    "overwrites an existing keychain. With --server, also create the key vault account\n"
    "NAME (reusing an existing keychain) with this device as its first device: new\n"
    "repositories then use standard protection.\n"
    "\n"
    "  --local                 set up this device only, without a key vault account\n"
    "  --server URL            the key vault (https://..., or http:// to loopback)\n"
    "  --account NAME          the account to create\n"
    "  --label TEXT            a name for this device in the account's directory\n" PASSWORD_USAGE
    "  --passphrase-file FILE  protect the keychain with the passphrase in FILE (one\n"
    "                          trailing newline is dropped; '-' reads standard input);\n"
    "                          $COFFER_PASSPHRASE is used when this is not given\n"
    "  --state-dir DIR         where the keychain lives (default $XDG_STATE_HOME/coffer,\n"
    "                          else ~/.local/state/coffer)\n"
    "  --json                  print {fingerprint, public_identity, state_dir, ...}\n"
    "  -h, --help              show this help\n";

static const char usage_status[] =
    "Usage: keyvault status [--repo URL] [options]\n"
    "\n"
    "Show this device (fingerprint, public identity), whether the keychain has a\n"
    "passphrase, the account, and for each repository its protection mode, key epoch,\n"
    "trusted devices, recovery methods and who can read which snapshots. Warns about a\n"
    "repository whose key has no escrow and no recovery method. Never prints key material.\n"
    "\n" REPO_USAGE STATE_USAGE;

static const char usage_mode[] =
    "Usage: keyvault mode standard|advanced [--repo URL] [options]\n"
    "\n"
    "standard: the key vault keeps a copy of the key (the account password alone can\n"
    "recover). From advanced this starts a new key epoch and escrows only that one.\n"
    "advanced: only your devices and recovery methods can read the backups; needs a\n"
    "recovery method. Starts a new key epoch and makes the key vault delete its copy.\n"
    "\n"
    "  --reencrypt-history     re-encrypt the snapshots the key vault could read\n"
    "  --forget-history        forget them\n"
    "  --keep-history          keep them (the operator could still read them)\n" REPO_USAGE
        PASSWORD_USAGE STATE_USAGE;

static const char usage_rk[] =
    "Usage: keyvault recovery-key create|verify|rotate|remove [--repo URL] [options]\n"
    "\n"
    "create: make a recovery key (shown once) that alone recovers every snapshot.\n"
    "verify: check a recovery key you wrote down (--recovery-key-file).\n"
    "rotate: replace it (new key epoch; the old one opens nothing new).\n"
    "remove: remove it (new key epoch).\n"
    "\n"
    "  --recovery-key-file F   the typed recovery key (for verify; '-': standard input)\n" REPO_USAGE
        PASSWORD_USAGE STATE_USAGE;

static const char usage_contact[] =
    "Usage: keyvault contact add NAME... [--threshold K] [--repo URL] [options]\n"
    "       keyvault contact remove NAME... | list | help [--code CODE] [options]\n"
    "\n"
    "add/remove: set who your recovery contacts are (accounts of other people); K of them\n"
    "(default: a majority) and your account password recover your backups.\n"
    "list: your contacts, and the people you are a recovery contact for.\n"
    "help: help someone who asked to recover: compare the code their new device shows,\n"
    "then run again with --code CODE to release your share to that device only.\n"
    "\n"
    "  --threshold K           how many contacts must help (1..N)\n"
    "  --code CODE             the code the recovering device shows\n" REPO_USAGE PASSWORD_USAGE
        STATE_USAGE;

static const char usage_device[] =
    "Usage: keyvault device list|add|approve ID|remove ID [options]\n"
    "\n"
    "list: the account's devices and which repositories trust them.\n"
    "add: on a new device, ask to join the account (--server, --account); once approved,\n"
    "run it again with --repo URL to receive the repository's keys.\n"
    "approve ID: on a trusted device, approve a new device after comparing its\n"
    "fingerprint (--fingerprint).\n"
    "remove ID|FINGERPRINT: a lost or stolen device; each repository gets a new key epoch\n"
    "it cannot read.\n"
    "\n"
    "  --server URL            the key vault (add)\n"
    "  --account NAME          the account (add)\n"
    "  --label TEXT            a name for this device (add)\n"
    "  --fingerprint FPR       the new device's fingerprint, as it shows it (approve)\n" REPO_USAGE
        PASSWORD_USAGE STATE_USAGE;

static const char usage_password[] =
    "Usage: keyvault password change --password-file OLD --new-password-file NEW\n"
    "\n"
    "Change the account password. Every other session of the account is logged out.\n"
    "\n" PASSWORD_USAGE "  --new-password-file F   the new password\n" STATE_USAGE;

static const char usage_account[] =
    "Usage: keyvault account delete --yes [options]\n"
    "\n"
    "Delete the key vault account with its escrowed keys, contact shares, witnesses,\n"
    "mailbox and audit log. The repositories and this device's keys stay.\n"
    "\n"
    "  --yes                   really delete\n" PASSWORD_USAGE STATE_USAGE;

static const char usage_audit[] =
    "Usage: keyvault audit [options]\n"
    "\n"
    "Show the account's audit log: every escrow store, read, release and deletion, every\n"
    "share release and recovery attempt, device and mode change.\n"
    "\n" PASSWORD_USAGE STATE_USAGE;

static const char usage_recover[] =
    "Usage: keyvault recover --repo URL [--server URL --account NAME] [options]\n"
    "\n"
    "Recover the keys of a repository on this device (a new one), with what you still\n"
    "have: the account password (standard protection), the recovery key, or K recovery\n"
    "contacts plus the account password. Ends with this device trusted.\n"
    "\n"
    "  --recovery-key-file F   the recovery key\n"
    "  --contact NAME          a recovery contact to ask (repeatable)\n"
    "  --server URL            the key vault\n"
    "  --account NAME          the account\n" REPO_USAGE PASSWORD_USAGE STATE_USAGE;

enum {
	OPT_STATE_DIR = 256,
	OPT_PASS_FILE,
	OPT_JSON,
	OPT_LOCAL,
	OPT_REPO,
	OPT_CACHE_DIR,
	OPT_SERVER,
	OPT_ACCOUNT,
	OPT_PASSWORD_FILE,
	OPT_NEW_PASSWORD_FILE,
	OPT_RK_FILE,
	OPT_LABEL,
	OPT_FINGERPRINT,
	OPT_CODE,
	OPT_CONTACT,
	OPT_THRESHOLD,
	OPT_YES,
	OPT_REENCRYPT,
	OPT_FORGET,
	OPT_KEEP,
};

#define O_COMMON                                                                                   \
	{"help", no_argument, NULL, 'h'}, {"state-dir", required_argument, NULL, OPT_STATE_DIR},  \
	    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},                           \
	    {"json", no_argument, NULL, OPT_JSON}
#define O_REPO                                                                                     \
	{"repo", required_argument, NULL, OPT_REPO}, {"cache-dir", required_argument, NULL,        \
						      OPT_CACHE_DIR}
#define O_PASSWORD {"password-file", required_argument, NULL, OPT_PASSWORD_FILE}
#define O_ACCOUNT                                                                                  \
	{"server", required_argument, NULL, OPT_SERVER}, {"account", required_argument, NULL,      \
							  OPT_ACCOUNT}
#define O_END {NULL, 0, NULL, 0}

static const struct option o_init[] = {O_COMMON, O_ACCOUNT, O_PASSWORD,
				       {"local", no_argument, NULL, OPT_LOCAL},
				       {"label", required_argument, NULL, OPT_LABEL}, O_END};
static const struct option o_status[] = {O_COMMON, O_REPO, O_END};
static const struct option o_mode[] = {O_COMMON, O_REPO, O_PASSWORD,
				       {"reencrypt-history", no_argument, NULL, OPT_REENCRYPT},
				       {"forget-history", no_argument, NULL, OPT_FORGET},
				       {"keep-history", no_argument, NULL, OPT_KEEP}, O_END};
static const struct option o_rk[] = {O_COMMON, O_REPO, O_PASSWORD,
				     {"recovery-key-file", required_argument, NULL, OPT_RK_FILE},
				     O_END};
static const struct option o_contact[] = {O_COMMON, O_REPO, O_PASSWORD,
					  {"threshold", required_argument, NULL, OPT_THRESHOLD},
					  {"code", required_argument, NULL, OPT_CODE}, O_END};
static const struct option o_device[] = {O_COMMON, O_REPO, O_PASSWORD, O_ACCOUNT,
					 {"label", required_argument, NULL, OPT_LABEL},
					 {"fingerprint", required_argument, NULL, OPT_FINGERPRINT},
					 O_END};
static const struct option o_password[] = {
    O_COMMON, O_PASSWORD, {"new-password-file", required_argument, NULL, OPT_NEW_PASSWORD_FILE},
    O_END};
static const struct option o_account[] = {O_COMMON, O_PASSWORD,
					  {"yes", no_argument, NULL, OPT_YES}, O_END};
static const struct option o_audit[] = {O_COMMON, O_PASSWORD, O_END};
static const struct option o_recover[] = {O_COMMON, O_REPO, O_PASSWORD, O_ACCOUNT,
					  {"recovery-key-file", required_argument, NULL, OPT_RK_FILE},
					  {"contact", required_argument, NULL, OPT_CONTACT}, O_END};

static const struct command {
	struct cf_cli_cmd cli; /* first: cf_cli walks this table */
	int (*run)(const struct kv_opts *o);
} commands[] = {
    {{.name = "init", .usage = usage_init, .longopts = o_init}, kv_cmd_init},
    {{.name = "status", .usage = usage_status, .longopts = o_status}, kv_cmd_status},
    {{.name = "mode", .usage = usage_mode, .longopts = o_mode, .max_args = 1}, kv_cmd_mode},
    {{.name = "recovery-key", .usage = usage_rk, .longopts = o_rk, .max_args = 1},
     kv_cmd_recovery_key},
    {{.name = "contact", .usage = usage_contact, .longopts = o_contact, .max_args = 11},
     kv_cmd_contact},
    {{.name = "device", .usage = usage_device, .longopts = o_device, .max_args = 2},
     kv_cmd_device},
    {{.name = "password", .usage = usage_password, .longopts = o_password, .max_args = 1},
     kv_cmd_password},
    {{.name = "account", .usage = usage_account, .longopts = o_account, .max_args = 1},
     kv_cmd_account},
    {{.name = "audit", .usage = usage_audit, .longopts = o_audit}, kv_cmd_audit},
    {{.name = "recover", .usage = usage_recover, .longopts = o_recover}, kv_cmd_recover},
};

static const struct cf_cli cli = {
    .prog = "keyvault", .version = CF_VERSION, .usage = usage_main, CF_CLI_COMMANDS(commands)};

/* $XDG_STATE_HOME/coffer, or ~/.local/state/coffer (XDG: ignore a relative value). */
static char *default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	char *dir = NULL;

	if (xdg && xdg[0] == '/')
		return asprintf(&dir, "%s/coffer", xdg) < 0 ? NULL : dir;
	if (!home || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/')
		return NULL;
	return asprintf(&dir, "%s/.local/state/coffer", home) < 0 ? NULL : dir;
}

static int on_opt(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg)
{
	struct kv_opts *o = ctx;
	uint64_t v = 0;

	switch (opt) {
	case OPT_STATE_DIR: o->state_dir = arg; break;
	case OPT_PASS_FILE: o->pass_file = arg; break;
	case OPT_JSON: o->json = 1; break;
	case OPT_LOCAL: o->local = 1; break;
	case OPT_REPO: o->repo = arg; break;
	case OPT_CACHE_DIR: o->cache_dir = arg; break;
	case OPT_SERVER: o->server = arg; break;
	case OPT_ACCOUNT: o->account = arg; break;
	case OPT_PASSWORD_FILE: o->password_file = arg; break;
	case OPT_NEW_PASSWORD_FILE: o->new_password_file = arg; break;
	case OPT_RK_FILE: o->recovery_key_file = arg; break;
	case OPT_LABEL: o->label = arg; break;
	case OPT_FINGERPRINT: o->fingerprint = arg; break;
	case OPT_CODE: o->code = arg; break;
	case OPT_YES: o->yes = 1; break;
	case OPT_CONTACT:
		if (o->ncontacts >= 10)
			return cf_cli_complain("keyvault", cmd->name, "at most 10 contacts");
		o->contacts[o->ncontacts++] = arg;
		break;
	case OPT_THRESHOLD:
		if (cf_cli_parse_uint(arg, 1, 10, &v) != 0)
			return cf_cli_complain("keyvault", cmd->name,
					       "--threshold must be a number from 1 to 10");
		o->threshold = (unsigned)v;
		break;
	case OPT_REENCRYPT:
	case OPT_FORGET:
	case OPT_KEEP:
		if (o->history)
			return cf_cli_complain("keyvault", cmd->name,
					       "choose one of --reencrypt-history, --forget-history"
					       " and --keep-history");
		o->history = opt == OPT_REENCRYPT ? CF_HISTORY_REENCRYPT
			     : opt == OPT_FORGET  ? CF_HISTORY_FORGET
						  : CF_HISTORY_KEEP;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c;
	struct kv_opts o = {0};
	char *dir = NULL;
	size_t i;
	int rc, first = 0;

	cf_log_set_prog("keyvault");
	rc = cf_cli_args(&cli, argc, argv, on_opt, &o, &i, &first);
	if (rc != CF_CLI_RUN)
		return rc;
	c = &commands[i];
	o.cmd = c->cli.name;
	o.args = argv + first;
	o.nargs = argc - first;
	if (o.state_dir && !*o.state_dir)
		return cf_cli_complain("keyvault", c->cli.name, "--state-dir is empty");
	if (cf_core_init() != 0)
		return kv_fail(&o, CF_E_CRYPTO, "start the crypto library");
	if (!o.state_dir) {
		dir = default_state_dir();
		if (!dir)
			return kv_fail(&o, CF_E_CONFIG,
				       "no state folder: set --state-dir, XDG_STATE_HOME or HOME");
		o.state_dir = dir;
	}
	rc = c->run(&o);
	free(dir);
	return rc;
}
