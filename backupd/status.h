/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * `backupd status` (docs/backupd.md, "Status"): for the store @store (NULL: the one of the
 * newest backup recorded) from <@state_dir>/state.db and the store lock in @lock_dir
 * (NULL: the default lock folder): last success, last failure and why, the running job,
 * next run, failures in a row, repository size, protection mode, the last retention run
 * and the key vault audit-log entries not shown before (shown once: they are marked
 * seen). @json prints one JSON object instead of text.
 */

/* cf_status_run - print the status. Returns the exit status (0, or 1 when unreadable). */
int cf_status_run(const char *state_dir, const char *lock_dir, const char *store, int json);
