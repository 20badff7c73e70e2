/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * `restore prune`: remove packs no snapshot references, in two phases so that it never
 * races a running backup (the protocol is in docs/restore.md, "prune").
 *
 *   phase 1  write a plan: an encrypted lock object (locks/<id>, CF_OBJ_LOCK) listing the
 *            packs that no snapshot references now, with the time;
 *   phase 2  on a later run, for every plan older than the grace period and while no
 *            backup holds a lock: the packs of the plan that are still unreferenced
 *            are dropped from the index (a new index superseding the old ones is written
 *            first, then the old ones are deleted), then deleted; the plan is removed.
 *
 * A pack holding both referenced and unreferenced blobs is kept whole (repacking is
 * future work). Nothing is deleted when any snapshot cannot be read completely.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyvault/session.h"

#define CF_PRUNE_GRACE_DEFAULT      3600u  /* seconds */
#define CF_PRUNE_STALE_LOCK_DEFAULT 86400u /* a backup lock older than this is ignored */

struct cf_prune_opts {
	int dry_run;         /* say what would happen, change nothing */
	uint64_t grace;      /* seconds a plan must age before its packs go (0 allowed) */
	uint64_t stale_lock; /* seconds after which a backup lock no longer blocks */
	uint64_t now;        /* unix time of this run */
	const char *host;    /* recorded in the plan */
};

struct cf_prune_result {
	size_t packs;            /* packs in the repository */
	size_t packs_used;       /* every blob referenced */
	size_t packs_mixed;      /* kept: referenced and unreferenced blobs together */
	size_t packs_unused;     /* no blob referenced */
	size_t packs_unreadable; /* no table this device can read: never deleted */
	size_t plans_ready;      /* plans old enough to be carried out */
	size_t plans_waiting;    /* plans younger than the grace period */
	size_t backups_running;  /* backup locks that made phase 2 wait */
	size_t packs_deleted;    /* phase 2 (or: would be, with dry_run) */
	uint64_t bytes_deleted;
	size_t packs_kept; /* planned, but referenced again since: kept */
	size_t indexes_written, indexes_deleted;
	size_t packs_planned; /* phase 1: in the new plan (or: would be) */
	uint64_t bytes_planned;
	int plan_written;
	uint8_t plan_id[32];
};

/*
 * cf_prune_run - one prune run over the repository of @s (snapshots loaded with
 * cf_session_load_snapshots). @res (may be NULL) receives what was found and done.
 * Returns 0; CF_E_CORRUPT when a manifest was refused or an index or tree cannot be
 * read (nothing is deleted then: run `restore check`); CF_E_VERSION for a snapshot
 * with bodies this build cannot follow; storage errors; -ENOMEM. Errors are logged.
 */
int cf_prune_run(struct cf_session *s, const struct cf_prune_opts *o, struct cf_prune_result *res);
