/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * One backup of the live message store into a repository (`backupd now`).
 *
 * What a snapshot holds: the store folder as a pax tar stream kept as chunk references
 * (repo/archive.h): first "chat.db", a consistent copy taken through SQLite's online
 * backup API (backupd/dbsnap.h; -wal/-shm folded in), then every other regular file and
 * directory in archive order (backupd/walk.h). Symlinks, sockets, FIFOs and devices are
 * skipped with a warning. Unchanged files (same size, mtime, ctime, inode, device and key
 * epoch as in the file cache) reuse their chunk references without being read.
 *
 * Vanished files: every path the database copy names (attachment.filename) that the
 * snapshot does not hold, and every file that disappeared between the listing and its
 * reading, is recorded in the manifest's vanished list.
 *
 * Commit order: packs -> index -> manifest -> the keychain's "seen" record. Interrupted
 * at any point (stop flag, kill -9, error) the repository stays consistent: packs
 * uploaded so far are adopted by the next run's cache sync and their blobs reused.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "keyvault/session.h"

#define CF_SNAPSHOT_DB_NAME "chat.db"
#define CF_SNAPSHOT_BUSY_MS 5000 /* default wait for a locked (rollback-journal) database */

struct cf_snapshot_progress {
	uint64_t files_done, files_total; /* regular files, chat.db included */
	uint64_t bytes_done, bytes_total; /* file bytes (read or found unchanged) */
	const char *path;                 /* the file being worked on, or NULL */
};

typedef void (*cf_snapshot_progress_fn)(void *ctx, const struct cf_snapshot_progress *p);

struct cf_snapshot_opts {
	const char *store;                 /* the store folder (holds chat.db); required */
	int busy_ms;                       /* 0: CF_SNAPSHOT_BUSY_MS */
	const volatile sig_atomic_t *stop; /* non-zero: stop at the next blob (may be NULL) */
	/* may be NULL; called often (rate-limit output), from the reader threads too, but
	 * never twice at once; p->path is the file being read or committed */
	cf_snapshot_progress_fn progress;
	void *ctx;
};

struct cf_snapshot_result {
	uint8_t id[32]; /* the manifest's object id */
	uint64_t seq;
	uint64_t files;           /* regular files in the snapshot, chat.db included */
	uint64_t dirs;            /* directories in the snapshot */
	uint64_t files_read;      /* files whose content was read (chat.db included) */
	uint64_t files_unchanged; /* files whose references came from the file cache */
	uint64_t bytes;           /* file content bytes in the snapshot */
	uint64_t new_bytes;       /* plaintext bytes of blobs new to the repository */
	uint64_t stored_bytes;    /* bytes uploaded (packs and index) */
	uint64_t skipped;         /* entries left out with a warning */
	int db_streamed;          /* chat.db went to the store without a temporary copy */
	char **vanished;          /* sorted relative paths (owned) */
	size_t nvanished;
	double seconds;
};

/*
 * cf_snapshot_check_store - check, without writing anything, that @store is a folder
 * holding a regular file chat.db that starts like a SQLite database. On failure a short
 * description ("no chat.db in /x: not a message store") is written to @why (@whylen
 * bytes) and nothing is logged. Returns 0; CF_E_NOTFOUND (no store, no chat.db);
 * -ENOTDIR (not a folder); CF_E_FORMAT (chat.db is not a regular file, is empty or is not
 * SQLite); -errno.
 */
int cf_snapshot_check_store(const char *store, char *why, size_t whylen);

/*
 * cf_snapshot_run - back up @o->store into the repository of the open session @s (made
 * with create = 1 for a first backup) and commit a new snapshot. Fills *@res (clear with
 * cf_snapshot_result_clear) only on success. Errors are logged once where detected.
 * Returns 0; -EINTR when stopped (no manifest written); CF_E_ROLLBACK (the repository is
 * older than this device has seen); errors of cf_dbsnap_take for the database
 * (CF_E_NOTFOUND, CF_E_FORMAT, CF_E_CORRUPT, CF_E_BUSY); storage, cache and I/O errors;
 * -ENOMEM. Files that cannot be read are skipped with a warning, not errors.
 */
int cf_snapshot_run(struct cf_session *s, const struct cf_snapshot_opts *o,
                    struct cf_snapshot_result *res);

/* cf_snapshot_result_clear - release what @res owns and zero it. Accepts NULL. */
void cf_snapshot_result_clear(struct cf_snapshot_result *res);
