/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The SQLite databases Coffer reads and writes, their schemas and migrations.
 *
 * The SQL lives in schema/<db>/NNN_name.sql and is embedded at build time (schema/embed.py);
 * migrations are numbered, append-only, and keyed by PRAGMA user_version: a database at
 * user_version N has had migrations 1..N applied. docs/schema.md describes every database.
 *
 * Handles are plain sqlite3 connections: close them with sqlite3_close_v2(). A connection is
 * used by one thread at a time. Errors follow core/error.h (0, CF_E_*, or -errno) and are
 * logged once, here, with the database's path.
 */
#include <sqlite3.h>

#include "core/error.h"

enum cf_schema_db {
	CF_SCHEMA_CHATDB,    /* the message store (iMessage-like chat.db), owned by the app */
	CF_SCHEMA_STATE,     /* client state: repositories, seen heads, key slots, jobs */
	CF_SCHEMA_CACHE,     /* per-repository cache: blob index, packs, files, snapshots */
	CF_SCHEMA_KEYVAULTD, /* the key vault service */
};

/* Flags for cf_schema_open(). */
enum {
	/* fail with CF_E_NOTFOUND rather than create a missing file */
	CF_SCHEMA_MUSTEXIST = 1 << 0,
	/* open read-only; implies CF_SCHEMA_MUSTEXIST; never migrates nor changes the file */
	CF_SCHEMA_RDONLY = 1 << 1,
};

/*
 * cf_schema_open - open (or create) the database @which at @path, ready to use.
 * @out:   receives the connection, only on success (left unchanged otherwise).
 * @path:  a file system path (never a URI); a missing file is created with mode 0600 unless
 *         @flags has CF_SCHEMA_MUSTEXIST or CF_SCHEMA_RDONLY. Its directory must exist.
 * @flags: 0 or CF_SCHEMA_* flags above.
 *
 * Every connection gets: extended result codes, a 5 s busy timeout, defensive mode and
 * trusted_schema off; foreign_keys on (all but chatdb, whose app does not enforce them);
 * secure_delete on for state and keyvaultd; synchronous FULL for state and keyvaultd, NORMAL
 * for chatdb and cache. Read-write opens also switch the file to WAL (persistent, as the
 * app's chat.db is) and migrate it to cf_schema_version(@which).
 *
 * A read-only open succeeds only for a database already at the latest version (a chatdb at
 * user_version 0 whose schema equals the latest also counts, see cf_schema_migrate).
 *
 * Returns 0; CF_E_NOTFOUND (missing and must exist); CF_E_FORMAT (not a regular file, not a
 * SQLite database, or a SQLite database that is not a Coffer @which database); CF_E_VERSION
 * (newer than this build knows, or, read-only, older than it needs); CF_E_CORRUPT; CF_E_BUSY
 * (locked beyond the busy timeout); CF_E_INVAL (bad arguments); CF_E_IO or -errno. On
 * CF_E_FORMAT and CF_E_VERSION the file has not been written to.
 */
int cf_schema_open(sqlite3 **out, const char *path, enum cf_schema_db which, int flags);

/*
 * cf_schema_migrate - bring @db, an open read-write connection, to the latest schema of
 * @which. Each migration runs in its own BEGIN IMMEDIATE transaction together with its
 * user_version bump, re-reading user_version inside the transaction (so concurrent openers
 * migrate once). A failing migration is rolled back: the database stays at the version it
 * had before that migration, and the error is returned. An already current database costs
 * one read and takes no lock. @db must not be inside a transaction.
 *
 * A database at user_version 0 that already holds tables is refused (CF_E_FORMAT: another
 * program's database, never altered), except a chatdb whose schema (type, name, table and
 * whitespace-normalized SQL of every object; sqlite_stat* ignored) equals what migration 1
 * creates: that is a store written by the app or by genstore.py, and it is adopted as
 * version 1 without executing any SQL.
 *
 * Pragmas are cf_schema_open()'s business, not this function's.
 * Returns 0; CF_E_VERSION (user_version newer than this build knows); CF_E_FORMAT (negative
 * user_version, or a foreign database as above); CF_E_INVAL; CF_E_BUSY; CF_E_CORRUPT;
 * CF_E_IO or -errno (a failed migration statement).
 */
int cf_schema_migrate(sqlite3 *db, enum cf_schema_db which);

/*
 * cf_schema_version - the latest schema version this build knows for @which (the number of
 * its migrations, >= 1), or -EINVAL for an unknown @which.
 */
int cf_schema_version(enum cf_schema_db which);

/*
 * cf_schema_name - the short name of @which ("chatdb", "state", "cache", "keyvaultd"), as
 * used for its folder under schema/ and in messages; "unknown" for anything else. Static.
 */
const char *cf_schema_name(enum cf_schema_db which);
