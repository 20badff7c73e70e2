/* SPDX-License-Identifier: ISC */
#pragma once

#include <sqlite3.h>

/*
 * The attachment files the message database names (attachment.filename), as paths
 * relative to the store, so a backup can tell which of them it could not store: a file
 * the database names that is missing from the snapshot is recorded as vanished.
 *
 * The names are read from the backup-API copy of the database, never the live file, so
 * they describe exactly the database state the snapshot holds.
 */
#include <stddef.h>

/*
 * cf_attnames_map - the store-relative path of the attachment.filename value @value, in
 * a new string *@out (caller frees), or *@out = NULL when the value does not point into
 * the store. Understood forms: "~/Library/Messages/REL" (what the app writes),
 * "/Users/NAME/Library/Messages/REL", and "@store_abs/REL" (@store_abs absolute, without
 * a trailing '/'; may be NULL). REL must be a valid archive path
 * (cf_archive_path_check), else the value is ignored. Returns 0 or -ENOMEM.
 */
int cf_attnames_map(const char *value, const char *store_abs, char **out);

struct cf_attnames;

/*
 * cf_attnames_load - read every attachment.filename of the SQLite database @db_path and
 * keep those that map into the store (cf_attnames_map), sorted, without duplicates.
 * A database without an attachment table (or without its filename column) names no
 * file. The file is read as immutable (no locks, no -wal/-shm created beside it): pass a
 * database that no one writes, like the backup copy. Sets *@out only on success. Returns 0;
 * CF_E_FORMAT / CF_E_CORRUPT / CF_E_IO for a database SQLite cannot read (logged); -ENOMEM.
 */
int cf_attnames_load(struct cf_attnames **out, const char *db_path, const char *store_abs);

/*
 * cf_attnames_load_db - the same from an open connection @db (named @db_path in
 * messages), inside whatever transaction the caller holds: the backup reads the names
 * in the read transaction its database copy is made in.
 */
int cf_attnames_load_db(struct cf_attnames **out, sqlite3 *db, const char *db_path,
                        const char *store_abs);

/*
 * cf_attnames_new - an empty set, for a store without a database or for tests; paths
 * are added with cf_attnames_add and the set is sorted by cf_attnames_seal.
 */
int cf_attnames_new(struct cf_attnames **out);
int cf_attnames_add(struct cf_attnames *a, const char *path);
void cf_attnames_seal(struct cf_attnames *a);

/* cf_attnames_free - release the set. Accepts NULL. */
void cf_attnames_free(struct cf_attnames *a);

/* cf_attnames_count - how many distinct paths the database names. */
size_t cf_attnames_count(const struct cf_attnames *a);

/*
 * cf_attnames_mark - note that @path was stored in the snapshot. Returns 1 when the
 * database names it, 0 otherwise.
 */
int cf_attnames_mark(struct cf_attnames *a, const char *path);

/*
 * cf_attnames_next_unmarked - the next path (in sorted order) the database names that
 * was never marked, or NULL after the last one. Start with *@cursor = 0.
 */
const char *cf_attnames_next_unmarked(const struct cf_attnames *a, size_t *cursor);
