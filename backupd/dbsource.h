/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Reading the live message database in large pieces (docs/database-chunking.md,
 * "Reading the source").
 *
 * SQLite reads a database one page per read(2); a backup of a 1 GB chat.db is ~240,000
 * system calls. The "cfsource" VFS wraps the default one and serves the main database
 * file's small reads from a read-ahead window (CF_DBSOURCE_WINDOW bytes, aligned), filled
 * by one read. Everything else (the -wal, the -shm, locks, journals) passes through
 * unchanged.
 *
 * Why the window is never stale: it is dropped whenever the connection's view may change
 * — on every file lock change (rollback-journal mode: a writer needs an exclusive lock,
 * which our shared lock excludes) and on every shared-memory lock or barrier (WAL mode:
 * a read transaction starts by taking a read mark; within it a checkpoint only backfills
 * pages whose current version our snapshot reads from the -wal, never from the file).
 */
#include <sqlite3.h>

#define CF_DBSOURCE_VFS    "cfsource"
#define CF_DBSOURCE_WINDOW (1u << 20)

/*
 * cf_dbsource_vfs - register the "cfsource" VFS (once, thread-safe) and return its name
 * for sqlite3_open_v2(), or NULL when registration failed (then open with the default
 * VFS: slower, same result).
 */
const char *cf_dbsource_vfs(void);
