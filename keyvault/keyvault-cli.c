/* SPDX-License-Identifier: ISC */
/*
 * keyvault: the key-management command line. This build has `init --local` and `status`
 * (which also shows the device: there is no separate `device show`); mode, recovery-key,
 * contact, device and audit come with later issues. docs/keychain.md documents both.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
 * A passphrase is never a command-line argument (process listings show those): it comes
 * from --passphrase-file FILE ("-" for standard input) or $COFFER_PASSPHRASE.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/identity.h"
#include "core/secbuf.h"
#include "keyvault/keychain.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct opts {
	const char *state_dir;
	const char *pass_file;
	int json, local;
};

enum { OPT_STATE_DIR = 256, OPT_PASS_FILE, OPT_JSON, OPT_LOCAL };

static const char usage_main[] =
    "Usage: keyvault <command> [options]\n"
    "\n"
    "Manage this device's keys and who can read its backups.\n"
    "\n"
    "Commands:\n"
    "  init      create this device's keychain (identity keys)\n"
    "  status    show the device fingerprint, protection and known repositories\n"
    "  help      show help for a command\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Run 'keyvault <command> --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure, 2 usage or configuration error.\n";

static const char usage_init[] =
    "Usage: keyvault init --local [--state-dir DIR] [--passphrase-file FILE] [--json]\n"
    "\n"
    "Create this device's keychain with a new identity and print its fingerprint.\n"
    "Never overwrites an existing keychain.\n"
    "\n"
    "  --local                 set up this device only, without a key vault server\n"
    "                          (required in this build)\n"
    "  --state-dir DIR         where the keychain lives (default $XDG_STATE_HOME/coffer,\n"
    "                          else ~/.local/state/coffer)\n"
    "  --passphrase-file FILE  protect the keychain with the passphrase in FILE (one\n"
    "                          trailing newline is dropped; '-' reads standard input);\n"
    "                          $COFFER_PASSPHRASE is used when this is not given\n"
    "  --json                  print {fingerprint, public_identity, state_dir, ...}\n"
    "  -h, --help              show this help\n";

static const char usage_status[] =
    "Usage: keyvault status [--state-dir DIR] [--passphrase-file FILE] [--json]\n"
    "\n"
    "Show this device (fingerprint, public identity), whether the keychain has a\n"
    "passphrase, and the repositories it holds keys for with their current epochs.\n"
    "Never prints key material.\n"
    "\n"
    "  --state-dir DIR         where the keychain lives (default $XDG_STATE_HOME/coffer,\n"
    "                          else ~/.local/state/coffer)\n"
    "  --passphrase-file FILE  the keychain's passphrase ('-' reads standard input);\n"
    "                          $COFFER_PASSPHRASE is used when this is not given\n"
    "  --json                  machine-readable output\n"
    "  -h, --help              show this help\n";

static const struct option init_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"local", no_argument, NULL, OPT_LOCAL},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

static const struct option status_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

static int cmd_init(const struct opts *o);
static int cmd_status(const struct opts *o);

static const struct command {
	struct cf_cli_cmd cli; /* first: cf_cli walks this table */
	int (*run)(const struct opts *o);
} commands[] = {
    {{.name = "init", .usage = usage_init, .longopts = init_longopts}, cmd_init},
    {{.name = "status", .usage = usage_status, .longopts = status_longopts}, cmd_status},
};

static const struct cf_cli cli = {
    .prog = "keyvault", .version = CF_VERSION, .usage = usage_main, CF_CLI_COMMANDS(commands)};

/*
 * "keyvault: <what>: <reason>" on stderr, once; with --json also {"error": ...} on
 * stdout. Returns the exit status for @err.
 */
static int fail(const struct opts *o, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct opts *o, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_cli_vreport("keyvault", o && o->json, err, fmt, ap);
	va_end(ap);
	/* keyvault: a keychain from a newer format version is a failure (1), not configuration */
	return err == CF_E_VERSION ? EXIT_FAIL : rc;
}

/* $XDG_STATE_HOME/coffer, or ~/.local/state/coffer (XDG: ignore a relative value). */
static char *default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	char *dir = NULL;

	if (xdg && xdg[0] == '/') {
		if (asprintf(&dir, "%s/coffer", xdg) < 0)
			return NULL;
		return dir;
	}
	if (!home || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/')
		return NULL;
	if (asprintf(&dir, "%s/.local/state/coffer", home) < 0)
		return NULL;
	return dir;
}

/* A passphrase that cannot be read is a configuration error: exit 2 whatever the cause. */
static int passphrase_fail(const struct opts *o, int err)
{
	fail(o, err, "passphrase %s%s%s", o->pass_file ? "file " : "from COFFER_PASSPHRASE",
	     o->pass_file ? o->pass_file : "",
	     err == CF_E_CONFIG ? " (empty, longer than 4096 bytes, or binary)" : "");
	return EXIT_USAGE;
}

static const char *pass_str(const struct cf_secbuf *pass)
{
	return pass ? (const char *)cf_secbuf_data(pass) : NULL;
}

/* Fingerprint and base64url public identity of the keychain's device. */
static void device_strings(const struct cf_keychain *kc, char fpr[CF_FINGERPRINT_LEN], char *b64,
                           size_t b64len)
{
	struct cf_pubid pub;
	uint8_t enc[CF_PUBID_ENCODED_BYTES];

	cf_identity_public(cf_keychain_identity(kc), &pub);
	cf_pubid_fingerprint(&pub, fpr);
	cf_pubid_encode(&pub, enc);
	cf_encode_b64(b64, b64len, enc, sizeof(enc));
}

static int cmd_init(const struct opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_secbuf *pass = NULL;
	char fpr[CF_FINGERPRINT_LEN], b64[256];
	int r, rc = EXIT_OK;

	if (!o->local) {
		fprintf(stderr, "keyvault init: --local is required: this build sets up a device "
		                "without a key vault server\n");
		return EXIT_USAGE;
	}
	r = cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE, CF_CLI_PASS_TRAILING,
	                           &pass);
	if (r)
		return passphrase_fail(o, r);
	r = cf_keychain_create(&kc, o->state_dir, pass_str(pass));
	cf_secbuf_free(pass);
	if (r)
		return fail(o, r, "create keychain %s/%s", o->state_dir, CF_KEYCHAIN_FILE);
	device_strings(kc, fpr, b64, sizeof(b64));
	if (o->json) {
		json_t *j =
		    json_pack("{s:s,s:s,s:s,s:s,s:b}", "fingerprint", fpr, "public_identity", b64,
		              "state_dir", o->state_dir, "keychain", cf_keychain_path(kc),
		              "passphrase", cf_keychain_has_passphrase(kc));
		if (cf_cli_print_json(j))
			rc = fail(NULL, -ENOMEM, "JSON output");
	} else {
		printf("Created keychain %s (passphrase: %s)\n", cf_keychain_path(kc),
		       cf_keychain_has_passphrase(kc) ? "yes" : "no");
		printf("Device fingerprint: %s\n", fpr);
	}
	cf_keychain_free(kc);
	return rc;
}

static json_t *repo_json(const struct cf_keychain_repo_info *ri)
{
	char hex[CF_HEX_LEN(CF_KEYCHAIN_REPO_ID_BYTES)];

	cf_encode_hex(hex, ri->repo_id, sizeof(ri->repo_id));
	return json_pack("{s:s,s:o,s:I,s:o}", "repo_id", hex, "current_epoch",
	                 ri->has_current ? json_integer(ri->current_epoch) : json_null(),
	                 "epochs_held", (json_int_t)ri->epochs, "seen_seq",
	                 ri->has_seen ? json_integer((json_int_t)ri->seen_seq) : json_null());
}

static int status_json(const struct opts *o, const struct cf_keychain *kc, const char *fpr,
                       const char *b64)
{
	struct cf_keychain_repo_info ri;
	json_t *j, *repos = json_array();

	for (size_t i = 0; repos && cf_keychain_repo_info(kc, i, &ri) == 0; i++)
		if (json_array_append_new(repos, repo_json(&ri)) < 0) {
			json_decref(repos);
			repos = NULL;
		}
	j = json_pack("{s:s,s:s,s:b,s:s,s:s,s:o*}", "state_dir", o->state_dir, "keychain",
	              cf_keychain_path(kc), "passphrase", cf_keychain_has_passphrase(kc),
	              "fingerprint", fpr, "public_identity", b64, "repositories", repos);
	if (!j || !repos) {
		json_decref(j);
		return fail(NULL, -ENOMEM, "JSON output");
	}
	cf_cli_print_json(j);
	return EXIT_OK;
}

static void status_text(const struct cf_keychain *kc, const char *fpr)
{
	struct cf_keychain_repo_info ri;
	char hex[CF_HEX_LEN(CF_KEYCHAIN_REPO_ID_BYTES)];
	size_t n = cf_keychain_repo_count(kc);

	printf("Keychain:           %s\n", cf_keychain_path(kc));
	printf("Passphrase:         %s\n", cf_keychain_has_passphrase(kc) ? "yes" : "no");
	printf("Device fingerprint: %s\n", fpr);
	if (!n)
		printf("Repositories:       none\n");
	else
		printf("Repositories:       %zu\n", n);
	for (size_t i = 0; cf_keychain_repo_info(kc, i, &ri) == 0; i++) {
		cf_encode_hex(hex, ri.repo_id, sizeof(ri.repo_id));
		printf("  %s\n    ", hex);
		if (ri.has_current)
			printf("current epoch %u", (unsigned)ri.current_epoch);
		else
			printf("no current epoch");
		printf(", %u epoch key%s held", (unsigned)ri.epochs, ri.epochs == 1 ? "" : "s");
		if (ri.has_seen)
			printf(", newest snapshot seen: #%llu", (unsigned long long)ri.seen_seq);
		putchar('\n');
	}
}

static int cmd_status(const struct opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_secbuf *pass = NULL;
	char fpr[CF_FINGERPRINT_LEN], b64[256];
	int r, rc;

	r = cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE, CF_CLI_PASS_TRAILING,
	                           &pass);
	if (r)
		return passphrase_fail(o, r);
	r = cf_keychain_open(&kc, o->state_dir, pass_str(pass));
	if (r) {
		rc = fail(o, r, "open keychain %s/%s%s", o->state_dir, CF_KEYCHAIN_FILE,
		          r == CF_E_NOTFOUND ? " (create one with 'keyvault init --local')"
		          : r == CF_E_AUTH && !pass
		              ? " (passphrase required: use --passphrase-file or "
		                "COFFER_PASSPHRASE)"
		              : "");
		cf_secbuf_free(pass);
		return rc;
	}
	cf_secbuf_free(pass);
	device_strings(kc, fpr, b64, sizeof(b64));
	rc = EXIT_OK;
	if (o->json)
		rc = status_json(o, kc, fpr, b64);
	else
		status_text(kc, fpr);
	cf_keychain_free(kc);
	return rc;
}

/* One of a command's own options (cf_cli_args handles --help and the complaints). */
static int on_opt(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg)
{
	struct opts *o = ctx;

	switch (opt) {
	case OPT_LOCAL:
		o->local = 1;
		break;
	case OPT_STATE_DIR:
		o->state_dir = arg;
		break;
	case OPT_PASS_FILE:
		o->pass_file = arg;
		break;
	case OPT_JSON:
		o->json = 1;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c;
	struct opts o = {0};
	char *dir = NULL;
	size_t i;
	int rc;

	cf_log_set_prog("keyvault");
	rc = cf_cli_args(&cli, argc, argv, on_opt, &o, &i, NULL);
	if (rc != CF_CLI_RUN)
		return rc;
	c = &commands[i];
	if (o.state_dir && !*o.state_dir)
		return cf_cli_complain("keyvault", c->cli.name, "--state-dir is empty");
	if (cf_core_init() != 0)
		return fail(&o, CF_E_CRYPTO, "start the crypto library");
	if (!o.state_dir) {
		dir = default_state_dir();
		if (!dir)
			return fail(&o, CF_E_CONFIG,
			            "no state folder: set --state-dir, XDG_STATE_HOME or HOME");
		o.state_dir = dir;
	}
	rc = c->run(&o);
	free(dir);
	return rc;
}
