/* SPDX-License-Identifier: ISC */
#include "backupd/cli-text.h"

#include <stddef.h>

const char cf_usage_main[] =
    "Usage: backupd <command> [options]\n"
    "\n"
    "Back up the message store into an encrypted, deduplicated repository.\n"
    "\n"
    "Commands:\n"
    "  now        take one backup now (through the running daemon, if there is one)\n"
    "  run        the background service: back up on the configured schedule\n"
    "  status     last success, last failure and why, next run, repository size\n"
    "  retention  apply (or with --dry-run show) the retention policy\n"
    "  config     check the configuration file and show the settings in force\n"
    "  help       show help for a command\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Run 'backupd <command> --help' for a command's options. Settings come from\n"
    "$XDG_CONFIG_HOME/coffer/coffer.conf (or --config FILE); options win over it.\n"
    "Exit status: 0 success, 1 failure or interrupted, 2 usage or configuration error,\n"
    "3 another backupd holds the store.\n";

#define COMMON_TEXT                                                                                \
	"  --config FILE           the configuration file (default\n"                             \
	"                          $XDG_CONFIG_HOME/coffer/coffer.conf, if it exists)\n"          \
	"  --store DIR             the message store folder (holds chat.db)\n"                     \
	"  -r, --repo URL          the repository: file:///path, or a bare path\n"                 \
	"  --state-dir DIR         keychain and state database (default $XDG_STATE_HOME/coffer,\n" \
	"                          else ~/.local/state/coffer)\n"                                  \
	"  --cache-dir DIR         the rebuildable local cache (default $XDG_CACHE_HOME/coffer,\n" \
	"                          else ~/.cache/coffer)\n"                                        \
	"  --passphrase-file FILE  the keychain's passphrase ('-' reads standard input);\n"       \
	"                          $COFFER_PASSPHRASE is used when none is given\n"

const char cf_usage_now[] =
    "Usage: backupd now [--store DIR] [--repo URL] [options]\n"
    "\n"
    "Take one snapshot of the message store DIR (chat.db through SQLite's backup API,\n"
    "then every other file) into the repository URL. The first backup into an absent\n"
    "or empty location initialises the repository. Unchanged files are not read again.\n"
    "When a daemon ('backupd run') serves the store, it is asked to run the backup and\n"
    "this command waits for it; otherwise the backup runs here. The retention policy of\n"
    "the configuration is applied after a successful backup.\n"
    "\n" COMMON_TEXT
    "  --pack-size MIB         target pack size in MiB, 1..64 (default 16)\n"
    "  --no-wait               with a daemon: return once it accepted the request\n"
    "  --json                  print the summary as one JSON object\n"
    "  -q, --quiet             no progress and no summary; warnings and errors only\n"
    "  -h, --help              show this help\n"
    "\n"
    "SIGINT or SIGTERM stops the backup at the next blob: no snapshot is written, and\n"
    "what was uploaded is reused by the next run (exit status 1).\n";

const char cf_usage_run[] =
    "Usage: backupd run [--store DIR] [--repo URL] [options]\n"
    "\n"
    "Run as a service: back up the store on the schedule of the configuration\n"
    "([schedule]: interval with jitter, daily window, not on battery), retry failures\n"
    "with backoff, apply the retention policy after each success, and answer\n"
    "'backupd now' through a control socket. One daemon per store. Logs go to standard\n"
    "error (the journal under systemd; Type=notify is supported).\n"
    "\n" COMMON_TEXT
    "  --pack-size MIB         target pack size in MiB, 1..64 (default 16)\n"
    "  -q, --quiet             log warnings and errors only\n"
    "  -h, --help              show this help\n"
    "\n"
    "SIGTERM or SIGINT: the running backup stops at its next blob (what was uploaded is\n"
    "reused), then exit 0. SIGHUP: read the configuration again (a bad one is reported and\n"
    "the previous one stays in force).\n";

const char cf_usage_status[] =
    "Usage: backupd status [--store DIR] [options]\n"
    "\n"
    "Show what the state database says about the store (default: the one backed up last):\n"
    "the daemon, the last success, the last failure and why, the running backup, the next\n"
    "run, the repository size, the protection mode, the last retention run and the key\n"
    "vault's audit-log entries not shown before.\n"
    "\n"
    "  --config FILE           the configuration file\n"
    "  --store DIR             the message store folder\n"
    "  --state-dir DIR         where the state database is\n"
    "  --json                  print one JSON object\n"
    "  -h, --help              show this help\n";

const char cf_usage_retention[] =
    "Usage: backupd retention [--dry-run] [options]\n"
    "\n"
    "Apply the [retention] policy of the configuration to this device's snapshots:\n"
    "forget those no rule keeps, then prune the data only they held. With --dry-run,\n"
    "show for every snapshot whether it would be kept and why, and change nothing.\n"
    "\n" COMMON_TEXT
    "  --dry-run               decide and show only\n"
    "  --json                  print the decisions as one JSON object\n"
    "  -q, --quiet             print nothing but errors\n"
    "  -h, --help              show this help\n";

const char cf_usage_config[] =
    "Usage: backupd config [options]\n"
    "\n"
    "Read and check the configuration file: every problem is named with its file, line\n"
    "and key (exit status 2). Then show the settings in force, options included.\n"
    "\n" COMMON_TEXT
    "  --json                  print them as one JSON object\n"
    "  -h, --help              show this help\n";

#define COMMON_OPTS                                                                                \
	{"help", no_argument, NULL, 'h'}, {"config", required_argument, NULL, CF_OPT_CONFIG},    \
	    {"store", required_argument, NULL, CF_OPT_STORE},                                      \
	    {"state-dir", required_argument, NULL, CF_OPT_STATE_DIR},                              \
	    {"json", no_argument, NULL, CF_OPT_JSON}
#define REPO_OPTS                                                                                  \
	{"repo", required_argument, NULL, 'r'},                                                  \
	    {"cache-dir", required_argument, NULL, CF_OPT_CACHE_DIR},                              \
	    {"passphrase-file", required_argument, NULL, CF_OPT_PASS_FILE}

const struct option cf_opts_now[] = {
    COMMON_OPTS,
    REPO_OPTS,
    {"pack-size", required_argument, NULL, CF_OPT_PACK_SIZE},
    {"no-wait", no_argument, NULL, CF_OPT_NO_WAIT},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

const struct option cf_opts_run[] = {
    COMMON_OPTS,
    REPO_OPTS,
    {"pack-size", required_argument, NULL, CF_OPT_PACK_SIZE},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

const struct option cf_opts_status[] = {
    COMMON_OPTS,
    {NULL, 0, NULL, 0},
};

const struct option cf_opts_retention[] = {
    COMMON_OPTS,
    REPO_OPTS,
    {"dry-run", no_argument, NULL, CF_OPT_DRY_RUN},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

const struct option cf_opts_config[] = {
    COMMON_OPTS,
    REPO_OPTS,
    {NULL, 0, NULL, 0},
};
