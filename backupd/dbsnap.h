/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * A consistent copy of the live message database through SQLite's online backup API.
 *
 * The copy is made in one sqlite3_backup_step(-1): one read transaction covers the whole
 * copy, so a writer committing (and checkpointing) meanwhile can neither restart nor tear
 * it, and committed content still in the -wal file is included. The raw database file is
 * never read directly. The result is an ordinary SQLite file at @dest_path (the -wal and
 * -shm of the source are folded in, never stored).
 */
#include <sqlite3.h>
#include <stdint.h>

struct cf_dbsnap_info {
	uint32_t page_size;
	uint64_t pages;        /* pages in the copy */
	uint64_t bytes;        /* page_size * pages */
	uint64_t data_version; /* the source's PRAGMA data_version seen during the copy */
};

/*
 * cf_dbsnap_take - copy the SQLite database @src_path into a new file @dest_path (which
 * must not exist; created 0600). Waits up to @busy_ms for a writer holding an exclusive
 * lock (rollback-journal databases; WAL databases never block the copy).
 * On success fills @info (may be NULL). On failure @dest_path does not exist.
 * Returns 0; CF_E_NOTFOUND when @src_path is absent; CF_E_FORMAT when it is not a SQLite
 * database; CF_E_CORRUPT when SQLite reports it malformed; CF_E_BUSY when it stayed locked;
 * CF_E_EXISTS when @dest_path exists; CF_E_IO or -errno otherwise. Each failure is logged
 * once, naming the file.
 */
int cf_dbsnap_take(const char *src_path, const char *dest_path, int busy_ms,
		   struct cf_dbsnap_info *info);

/*
 * cf_dbsnap_check - run PRAGMA quick_check (or integrity_check when @full) on @path.
 * Returns 0 when SQLite answers "ok"; CF_E_CORRUPT with the first problem logged; CF_E_FORMAT
 * when the file is not a database.
 */
int cf_dbsnap_check(const char *path, int full);

/*
 * cf_dbsnap_open_source - open the live database @path read-only (never immutable: the
 * -wal must be seen) with a busy timeout of @busy_ms, and read its schema so that "not a
 * database" shows now. Sets *@out only on success; errors as cf_dbsnap_take's, logged.
 */
int cf_dbsnap_open_source(sqlite3 **out, const char *path, int busy_ms);

/*
 * cf_dbsnap_sql_fail - log "@what @path: <SQLite's message>" once and map the SQLite
 * result @rc to a CF_E_* code or -errno (CF_E_FORMAT, CF_E_CORRUPT, CF_E_BUSY, ...).
 */
int cf_dbsnap_sql_fail(sqlite3 *db, int rc, const char *what, const char *path);
