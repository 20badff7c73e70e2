/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Restoring a snapshot into a folder (`restore snapshot`, docs/restore.md).
 *
 * The snapshot is always extracted into a fresh private folder next to the target
 * (cf_extract_tmpdir) by the parallel restorer (restore/plan.h), checked (every blob
 * authenticated and its keyed id checked on the way; the restored database's structure,
 * restore/dbcheck.h, or with @verify PRAGMA integrity_check), and only then moved into place in
 * one step (cf_extract_swap_into). On any failure the temporary folder is removed and
 * the target is exactly as it was: a restore never leaves half a store behind, and
 * never half-overwrites a live one.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/manifest.h"
#include "repo/repo.h"

struct cf_restore_opts {
	const char *to;                    /* the store root to create or replace */
	const char *const *paths;          /* restore only these entries (and what lies below) */
	size_t npaths;                     /* 0: everything */
	int in_place;                      /* @to may hold a store: replace it atomically */
	int verify;                        /* integrity_check instead of the structural check */
	int progress;                      /* progress line on stderr (a terminal) */
	const volatile sig_atomic_t *stop; /* may be NULL; non-zero: abort (SIGINT) */
};

struct cf_restore_result {
	uint64_t files, dirs, bytes; /* written */
	int db_checked;              /* the database was among the restored files */
	int db_status;               /* 0, or the error of its check (CF_E_CORRUPT, ...) */
};

/*
 * cf_restore_snapshot - restore snapshot @m of @r (keys attached, cache synced) as
 * described by @o. The target's parent folders are created when missing.
 *
 * Without @o->in_place, @o->to must be absent or an empty folder (CF_E_EXISTS
 * otherwise, before anything is read). With it, an existing store at @o->to is replaced
 * as a whole; @o->paths must then be empty (CF_E_INVAL: a partial restore would drop
 * the rest of the store). Every path in @o->paths must name an entry of the snapshot
 * (CF_E_NOTFOUND, checked before extracting; CF_E_INVAL for a path that can never be an
 * entry, e.g. with "..").
 *
 * A restored database that fails its check is reported in @res->db_status; the new
 * folder is still moved into place (the data is the snapshot's), except with
 * @o->in_place, where the live store is kept and CF_E_CORRUPT returned. Stray
 * "-wal", "-shm" and "-journal" files next to the restored database are removed.
 *
 * @res (may be NULL) is filled on success and, as far as it got, on failure.
 * Returns 0; CF_E_EXISTS; CF_E_INVAL; CF_E_NOTFOUND; CF_E_UNSAFE (an entry refused by
 * the extractor); the errors of cf_repo_get_blob (CF_E_AUTH, CF_E_CORRUPT, ...: the
 * repository is damaged); CF_E_CORRUPT; -EINTR (stopped through @o->stop); -errno from
 * the filesystem (-ENOSPC, ...). Errors are logged once.
 */
int cf_restore_snapshot(struct cf_repo *r, const struct cf_manifest *m,
                        const struct cf_restore_opts *o, struct cf_restore_result *res);

/*
 * cf_restore_check_paths - 0 when each of @paths[0..n) is a possible entry path and
 * selects at least one entry of snapshot @m (reading its tree, not its data), by the
 * rule of cf_tarstream_set_filter. Returns 0; CF_E_INVAL (logged: a path that can never
 * be an entry); CF_E_NOTFOUND (logged, naming the first path that selects nothing); the
 * errors of reading the tree.
 */
int cf_restore_check_paths(struct cf_repo *r, const struct cf_manifest *m, const char *const *paths,
                           size_t n);

/*
 * cf_restore_dir_state - 0 when @dir does not exist, 1 when it is an empty directory,
 * 2 when it is a directory with entries; CF_E_INVAL when it exists and is not a
 * directory; -errno when it cannot be read.
 */
int cf_restore_dir_state(const char *dir);
