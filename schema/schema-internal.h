/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Between schema.c, the source that schema/embed.py generates, and test-schema.c.
 * Not for other components.
 */
#include <sqlite3.h>

#include "schema/schema.h"

/* One migration: its file name ("001_init.sql") and its SQL text (NUL-terminated). */
struct cf_schema_step {
	const char *name;
	const char *sql;
};

/* The migrations of one database, in order: step[i] takes user_version i to i + 1. */
struct cf_schema_steps {
	const char *db;
	const struct cf_schema_step *step;
	int count;
};

/* Generated from schema/<db>/NNN_*.sql. */
extern const struct cf_schema_steps cf_schema_steps_cache;
extern const struct cf_schema_steps cf_schema_steps_chatdb;
extern const struct cf_schema_steps cf_schema_steps_keyvaultd;
extern const struct cf_schema_steps cf_schema_steps_state;

/*
 * cf_schema_migrate_steps - TEST ONLY: cf_schema_migrate() with @steps in place of the
 * embedded migrations of @which (whose adoption rule and name still apply); NULL @steps
 * means the embedded ones. Lets a test inject a failing migration.
 */
int cf_schema_migrate_steps(sqlite3 *db, enum cf_schema_db which,
                            const struct cf_schema_steps *steps);
