/* SPDX-License-Identifier: ISC */
/*
 * restore: list, restore, export, check, forget and prune the snapshots of a repository
 * (docs/restore.md, docs/man/restore.1.scd). This file holds the command line: usage,
 * options, opening the repository, error reporting. The commands are in cli_cmds.c.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error,
 * 3 `restore check` found damage. A passphrase is never a command-line argument: it
 * comes from --passphrase-file FILE ("-" for standard input) or $COFFER_PASSPHRASE.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "core/secbuf.h"
#include "restore/cli.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

#define COMMON_USAGE                                                                               \
	"  --repo URL              the repository (file:///path or a bare path); required\n"       \
	"  --state-dir DIR         this device's keychain (default $XDG_STATE_HOME/coffer)\n"      \
	"  --cache-dir DIR         the local cache (default $XDG_CACHE_HOME/coffer)\n"             \
	"  --passphrase-file FILE  the keychain's passphrase ('-': standard input);\n"             \
	"                          $COFFER_PASSPHRASE is used when this is not given\n"            \
	"  --json                  machine-readable output on standard output\n"                   \
	"  -h, --help              show this help\n"

static const char usage_main[] =
    "Usage: restore <command> [options]\n"
    "\n"
    "List, restore and look after the snapshots of a Coffer repository.\n"
    "\n"
    "Commands:\n"
    "  list      list the snapshots\n"
    "  snapshot  restore a snapshot (or some of its files) into a folder\n"
    "  export    write a snapshot as a plain tar stream to standard output\n"
    "  check     verify every object of the repository, naming each damaged one\n"
    "  forget    forget snapshots (a signed record explains the gap)\n"
    "  prune     remove data no snapshot references (two-phase)\n"
    "  recover   a new device: recover the keys (password, recovery key or contacts),\n"
    "            then restore the newest snapshot\n"
    "  help      show help for a command\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Run 'restore <command> --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure, 2 usage or configuration error, 3 damage found\n"
    "(check).\n";

static const char usage_list[] =
    "Usage: restore list --repo URL [options]\n"
    "\n"
    "List the snapshots, oldest first: sequence, short id, time, files, size, host.\n"
    "Every manifest is verified (signer, signature, chain, and against the newest\n"
    "snapshot this device has seen); refused ones are not listed and are named in\n"
    "warnings.\n"
    "\n" COMMON_USAGE;

static const char usage_snapshot[] =
    "Usage: restore snapshot ID|latest --to DIR --repo URL [options]\n"
    "\n"
    "Restore a snapshot so that DIR becomes the store root (DIR/chat.db,\n"
    "DIR/Attachments/...). ID is 'latest', a sequence number ('#12' or '12'), or a prefix\n"
    "of the snapshot id (4 hex digits or more). The snapshot is extracted into a\n"
    "temporary folder next to DIR (one worker thread per CPU; COFFER_THREADS) and moved\n"
    "into place only when complete and checked. Every blob is authenticated and its\n"
    "keyed id checked, so the database gets a structural check (header, page count,\n"
    "schema); --verify runs SQLite's full integrity_check instead.\n"
    "\n"
    "  --to DIR                where to restore: an absent or empty folder\n"
    "  --in-place              DIR may hold a store: replace it in one atomic step\n"
    "  --path P                restore only entry P (a file, or a folder and what lies\n"
    "                          below it); repeatable; not with --in-place\n"
    "  --verify                PRAGMA integrity_check on the restored database\n" COMMON_USAGE;

static const char usage_export[] =
    "Usage: restore export ID|latest --repo URL [options] > FILE.tar\n"
    "\n"
    "Write the snapshot as a plain POSIX (pax) tar stream to standard output, which must\n"
    "not be a terminal.\n"
    "\n"
    "  --path P                only entry P and what lies below it; repeatable\n" COMMON_USAGE;

static const char usage_check[] =
    "Usage: restore check --repo URL [--read-data] [options]\n"
    "\n"
    "Verify every object of the repository by its name and report each damaged one as\n"
    "'damaged: <object> (<why>)'. Works from a private, fresh cache. Exit status 3 when\n"
    "anything is damaged.\n"
    "\n"
    "  --read-data             also read every pack whole: its name, its table, and\n"
    "                          every blob in it\n" COMMON_USAGE;

static const char usage_forget[] =
    "Usage: restore forget ID... --repo URL [options]\n"
    "\n"
    "Forget snapshots: for each, store a signed forget record, then delete its manifest,\n"
    "so the gap in the chain stays explained. The data is removed later by prune.\n"
    "\n" COMMON_USAGE;

static const char usage_prune[] =
    "Usage: restore prune --repo URL [--dry-run] [--grace SECONDS] [options]\n"
    "\n"
    "Remove packs that no snapshot references, in two phases so that it never races a\n"
    "running backup: a run deletes the packs of plans older than the grace period that\n"
    "are still unreferenced (unless a backup is running), then writes a new plan for the\n"
    "unreferenced packs no plan names yet. Packs holding referenced and unreferenced\n"
    "blobs together are kept.\n"
    "\n"
    "  --dry-run               say what would be deleted and planned; change nothing\n"
    "  --grace SECONDS         how old a plan must be before its packs go (default "
    "3600)\n" COMMON_USAGE;

static const char usage_recover[] =
    "Usage: restore recover --repo URL --to DIR [--server URL --account NAME] [options]\n"
    "\n"
    "On a device that holds no key of the repository (all old devices lost): recover its\n"
    "keys with what you still have, make this device trusted, then restore the newest\n"
    "snapshot into DIR (docs/protection-modes.md, \"Recovery\"):\n"
    "  standard protection   the account password (--password-file)\n"
    "  advanced protection   the recovery key (--recovery-key-file), or K recovery\n"
    "                        contacts (--contact NAME, repeated) and the password\n"
    "With contacts, the first run asks them and shows a code to compare; run it again\n"
    "once K of them have helped. The repository is refused when it is behind the key\n"
    "vault's freshness witness (newest snapshots deleted).\n"
    "\n"
    "  --to DIR                where to restore: an absent or empty folder\n"
    "  --server URL            the key vault (default: this device's account)\n"
    "  --account NAME          the account\n"
    "  --password-file FILE    the account password (else $COFFER_PASSWORD)\n"
    "  --recovery-key-file F   the recovery key ('-': standard input)\n"
    "  --contact NAME          a recovery contact to ask (repeatable)\n" COMMON_USAGE;

enum {
	OPT_REPO = 256,
	OPT_STATE_DIR,
	OPT_CACHE_DIR,
	OPT_PASS_FILE,
	OPT_JSON,
	OPT_TO,
	OPT_PATH,
	OPT_IN_PLACE,
	OPT_VERIFY,
	OPT_READ_DATA,
	OPT_DRY_RUN,
	OPT_GRACE,
	OPT_SERVER,
	OPT_ACCOUNT,
	OPT_PASSWORD_FILE,
	OPT_RK_FILE,
	OPT_CONTACT,
};

#define COMMON_OPTS                                                                                \
	{"help", no_argument, NULL, 'h'}, {"repo", required_argument, NULL, OPT_REPO},             \
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},                                 \
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},                                 \
	    {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},                           \
	{                                                                                          \
		"json", no_argument, NULL, OPT_JSON                                                \
	}

static const struct option list_opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
static const struct option snapshot_opts[] = {
    COMMON_OPTS,
    {"to", required_argument, NULL, OPT_TO},
    {"path", required_argument, NULL, OPT_PATH},
    {"in-place", no_argument, NULL, OPT_IN_PLACE},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {NULL, 0, NULL, 0},
};
static const struct option export_opts[] = {
    COMMON_OPTS, {"path", required_argument, NULL, OPT_PATH}, {NULL, 0, NULL, 0}};
static const struct option check_opts[] = {
    COMMON_OPTS, {"read-data", no_argument, NULL, OPT_READ_DATA}, {NULL, 0, NULL, 0}};
static const struct option prune_opts[] = {
    COMMON_OPTS,
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"grace", required_argument, NULL, OPT_GRACE},
    {NULL, 0, NULL, 0},
};

static const struct option recover_opts[] = {
    COMMON_OPTS,
    {"to", required_argument, NULL, OPT_TO},
    {"server", required_argument, NULL, OPT_SERVER},
    {"account", required_argument, NULL, OPT_ACCOUNT},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"recovery-key-file", required_argument, NULL, OPT_RK_FILE},
    {"contact", required_argument, NULL, OPT_CONTACT},
    {NULL, 0, NULL, 0},
};

static const struct command {
	struct cf_cli_cmd cli; /* first: cf_cli walks this table; cli.max_args arguments at most */
	int min_args;          /* positional arguments at least */
	int (*run)(const struct opts *o);
} commands[] = {
    {{"list", usage_list, NULL, list_opts, 0}, 0, cmd_list},
    {{"snapshot", usage_snapshot, NULL, snapshot_opts, 1}, 1, cmd_snapshot},
    {{"export", usage_export, NULL, export_opts, 1}, 1, cmd_export},
    {{"check", usage_check, NULL, check_opts, 0}, 0, cmd_check},
    {{"forget", usage_forget, NULL, list_opts, -1}, 1, cmd_forget},
    {{"prune", usage_prune, NULL, prune_opts, 0}, 0, cmd_prune},
    {{"recover", usage_recover, NULL, recover_opts, 0}, 0, cmd_recover},
};

static const struct cf_cli cli = {
    .prog = "restore", .version = CF_VERSION, .usage = usage_main, CF_CLI_COMMANDS(commands)};

int cli_fail(const struct opts *o, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_cli_vreport("restore", o && o->json, err, fmt, ap);
	va_end(ap);
	return rc;
}

static int open_fail(const struct opts *o, int r, const char *what)
{
	const char *hint = "";

	if (r == CF_E_AUTH)
		hint = " (wrong passphrase? use --passphrase-file or COFFER_PASSPHRASE)";
	else if (r == CF_E_ROLLBACK)
		hint = " (this device has seen newer snapshots: some were deleted, or an old copy"
		       " of the repository is served)";
	else if (r == CF_E_NOTFOUND)
		hint = " (no repository at that location, or this device holds no key for it)";
	else if (r == CF_E_CORRUPT)
		hint = " (run 'restore check' to name the damaged objects)";
	cli_fail(o, r, "%s %s%s", what, o->repo, hint);
	/* no keychain or no repository there, an unreadable passphrase: configuration */
	return r == CF_E_NOTFOUND || r == CF_E_FORMAT ? EXIT_USAGE : cf_cli_exit_code(r);
}

int cli_keychain(const struct opts *o, struct cf_keychain **kc)
{
	struct cf_secbuf *pass = NULL;
	char *dir = o->state_dir ? strdup(o->state_dir) : cf_session_default_dir("STATE");
	int r = dir ? cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE,
	                                     CF_CLI_PASS_FIRST_LINE, &pass)
	            : -ENOMEM;

	if (r) {
		free(dir);
		cli_fail(o, r, "read the passphrase %s", o->pass_file ? o->pass_file : "");
		return EXIT_USAGE;
	}
	r = cf_keychain_open(kc, dir, pass ? (const char *)cf_secbuf_data(pass) : NULL);
	cf_secbuf_free(pass);
	if (r == CF_E_NOTFOUND)
		r = cli_fail(o, r, "no keychain in %s: run 'keyvault init --local --state-dir %s'",
		             dir, dir)
		        ? EXIT_USAGE
		        : 0;
	else if (r)
		r = open_fail(o, r, "open the keychain for");
	free(dir);
	return r;
}

/* Whether the keychain file exists (to tell a missing keychain from a missing repository). */
static int keychain_exists(const struct opts *o)
{
	char *dir = o->state_dir ? strdup(o->state_dir) : cf_session_default_dir("STATE");
	char *path = NULL;
	int yes = 0;

	if (dir && asprintf(&path, "%s/%s", dir, CF_KEYCHAIN_FILE) >= 0) {
		yes = access(path, F_OK) == 0;
		free(path);
	}
	free(dir);
	return yes;
}

int cli_open(const struct opts *o, int load, struct cf_session **out)
{
	struct cf_session_opts so = {
	    .repo_url = o->repo,
	    .state_dir = o->state_dir,
	    .cache_dir = o->cache_dir,
	    .passphrase_file = o->pass_file,
	};
	const struct cf_snapshot_problem *p = NULL;
	struct cf_session *s = NULL;
	size_t n;
	int r;

	r = cf_session_open(&s, &so);
	if (r == CF_E_NOTFOUND && !keychain_exists(o)) {
		cli_fail(o, r, "open %s without this device's keychain", o->repo);
		return EXIT_USAGE;
	}
	if (r)
		return open_fail(o, r, "open");
	if (load) {
		r = cf_session_load_snapshots(s);
		if (r) {
			cf_session_free(s);
			return open_fail(o, r, "load the snapshots of");
		}
		n = cf_snapshots_problems(s->snaps, &p);
		for (size_t i = 0; i < n && i < 10; i++)
			fprintf(stderr, "restore: warning: %s refused and not listed: %s\n",
			        p[i].name, cf_strerror(p[i].err));
		if (n > 10)
			fprintf(stderr,
			        "restore: warning: and %zu more refused objects ('restore"
			        " check' names them)\n",
			        n - 10);
	}
	*out = s;
	return 0;
}

/* One of a command's own options (cf_cli_args handles --help and the complaints). */
static int on_opt(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg)
{
	struct opts *o = ctx;
	const char **v;

	switch (opt) {
	case OPT_REPO:
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
	case OPT_JSON:
		o->json = 1;
		break;
	case OPT_TO:
		o->to = arg;
		break;
	case OPT_PATH:
		v = realloc(o->paths, (o->npaths + 1) * sizeof(*v));
		if (!v)
			return cli_fail(o, -ENOMEM, "parse options");
		o->paths = v;
		o->paths[o->npaths++] = arg;
		break;
	case OPT_IN_PLACE:
		o->in_place = 1;
		break;
	case OPT_VERIFY:
		o->verify = 1;
		break;
	case OPT_READ_DATA:
		o->read_data = 1;
		break;
	case OPT_DRY_RUN:
		o->dry_run = 1;
		break;
	case OPT_GRACE:
		if (cf_cli_parse_uint(arg, 0, UINT64_MAX, &o->grace))
			return cf_cli_complain("restore", cmd->name,
			                       "--grace wants whole seconds, not '%s'", arg);
		break;
	case OPT_SERVER:
		o->server = arg;
		break;
	case OPT_ACCOUNT:
		o->account = arg;
		break;
	case OPT_PASSWORD_FILE:
		o->password_file = arg;
		break;
	case OPT_RK_FILE:
		o->rk_file = arg;
		break;
	case OPT_CONTACT:
		v = realloc(o->contacts, (o->ncontacts + 1) * sizeof(*v));
		if (!v)
			return cli_fail(o, -ENOMEM, "parse options");
		o->contacts = v;
		o->contacts[o->ncontacts++] = arg;
		break;
	}
	return 0;
}

/* main's arguments into @o and *@c, checked; CF_CLI_RUN, or the exit status. */
static int parse(int argc, char **argv, struct opts *o, const struct command **c)
{
	size_t i;
	int first, rc = cf_cli_args(&cli, argc, argv, on_opt, o, &i, &first);

	if (rc != CF_CLI_RUN)
		return rc;
	*c = &commands[i];
	o->cmd = (*c)->cli.name;
	o->args = argv + first;
	o->nargs = argc - first;
	if (o->nargs < (*c)->min_args)
		return cf_cli_complain("restore", o->cmd,
		                       "which snapshot? (an id, #sequence or 'latest')");
	if (!o->repo || !*o->repo)
		return cf_cli_complain("restore", o->cmd, "--repo is required");
	if ((o->state_dir && !*o->state_dir) || (o->cache_dir && !*o->cache_dir))
		return cf_cli_complain("restore", o->cmd, "an empty folder name");
	return CF_CLI_RUN;
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	struct opts o = {.grace = 3600};
	int rc;

	cf_log_set_prog("restore");
	/*
	 * Blobs are read into buffers of about 1 MiB, several per blob, on several threads.
	 * glibc would map and unmap each one (and trim its heaps), faulting every page in
	 * again: on a 1.8 GB restore that was ~30k page faults and ~15 % of the CPU time.
	 * Keep them in one heap instead (docs/performance.md, restore).
	 */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	rc = parse(argc, argv, &o, &c);
	if (rc == CF_CLI_RUN && cf_core_init() != 0)
		rc = cli_fail(&o, CF_E_CRYPTO, "start the crypto library");
	if (rc == CF_CLI_RUN)
		rc = c->run(&o);
	free(o.paths);
	free(o.contacts);
	return rc;
}
