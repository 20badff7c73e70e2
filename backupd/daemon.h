/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * `backupd run`: the long-running service (docs/backupd.md, "The daemon").
 *
 * It takes the store lock (one daemon per store), listens on the control socket beside
 * it, and runs backups on a worker thread when the schedule says (backupd/schedule.h) or
 * a `backupd now` asks. The main thread only waits (poll) for: a signal, a control
 * connection, the end of the job, or the next due time.
 *
 *   SIGTERM, SIGINT  stop: a running backup stops at its next blob (nothing half-written;
 *                    what was uploaded is reused by the next run), then exit 0.
 *   SIGHUP           reload the configuration file; an invalid one is reported (log and
 *                    state database) and the previous configuration stays in force. A
 *                    change of store or lock folder needs a restart.
 *
 * Every job is recorded in the state database; a failure schedules a retry with backoff.
 * With $NOTIFY_SOCKET set (systemd Type=notify) it reports READY, RELOADING, STOPPING and
 * a one-line STATUS.
 */
#include "backupd/settings.h"

/* Exit statuses of the program (docs/backupd.md). */
enum {
	CF_BKD_EXIT_OK = 0,
	CF_BKD_EXIT_FAIL = 1,
	CF_BKD_EXIT_USAGE = 2,
	CF_BKD_EXIT_LOCKED = 3, /* another backupd holds the store */
};

/*
 * cf_daemon_run - serve the store of @s (ownership passes to the daemon) until stopped.
 * @args are read again on SIGHUP. Returns the exit status: 0 after SIGTERM/SIGINT;
 * CF_BKD_EXIT_LOCKED when another backupd holds the store (its pid is named on stderr);
 * 1 when it cannot start.
 */
int cf_daemon_run(struct cf_settings *s, const struct cf_settings_args *args);
