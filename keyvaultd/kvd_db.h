/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * keyvaultd's database connections: a fixed pool of connections to one keyvaultd database
 * (schema/, CF_SCHEMA_KEYVAULTD), one per server thread, and small statement helpers.
 */
#include <sqlite3.h>
#include <stdint.h>

struct cf_kvd_db;

/*
 * cf_kvd_db_open - open (creating and migrating if needed) the database at @path with @n
 * connections (1..64). Sets *@out only on success. Returns 0, cf_schema_open's errors,
 * CF_E_INVAL or -ENOMEM.
 */
int cf_kvd_db_open(struct cf_kvd_db **out, const char *path, unsigned n);

/* cf_kvd_db_free - close every connection. All must have been released. Accepts NULL. */
void cf_kvd_db_free(struct cf_kvd_db *p);

/* cf_kvd_db_acquire - a free connection, waiting for one if all are in use. */
sqlite3 *cf_kvd_db_acquire(struct cf_kvd_db *p);

/* cf_kvd_db_release - give @db back to the pool (outside any transaction). */
void cf_kvd_db_release(struct cf_kvd_db *p, sqlite3 *db);

/*
 * cf_kvd_db_prepare - prepare @sql on @db (logged on failure). Returns the statement or
 * NULL. The caller finalizes it with sqlite3_finalize.
 */
sqlite3_stmt *cf_kvd_db_prepare(sqlite3 *db, const char *sql);

/* cf_kvd_db_exec - run @sql (no results). Returns 0 or CF_E_IO / CF_E_BUSY (logged). */
int cf_kvd_db_exec(sqlite3 *db, const char *sql);

/* cf_kvd_db_changes - rows changed by the last statement on @db. */
int64_t cf_kvd_db_changes(sqlite3 *db);
