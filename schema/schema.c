/* SPDX-License-Identifier: ISC */
#include "schema/schema-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000

/* Objects SQLite's ANALYZE creates: statistics, not schema. */
#define SCHEMA_OBJECTS                                                                             \
	"SELECT type, name, tbl_name, sql FROM sqlite_schema"                                      \
	" WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\' ORDER BY type, name"

struct dbinfo {
	const char *name;
	const struct cf_schema_steps *steps;
	const char *synchronous;
	bool foreign_keys;
	bool secure_delete;
	/* a user_version 0 file whose schema equals migration 1's is at version 1 */
	bool adopt;
};

static const struct dbinfo dbs[] = {
    [CF_SCHEMA_CHATDB] = {"chatdb", &cf_schema_steps_chatdb, "NORMAL", false, false, true},
    [CF_SCHEMA_STATE] = {"state", &cf_schema_steps_state, "FULL", true, true, false},
    [CF_SCHEMA_CACHE] = {"cache", &cf_schema_steps_cache, "NORMAL", true, false, false},
    [CF_SCHEMA_KEYVAULTD] = {"keyvaultd", &cf_schema_steps_keyvaultd, "FULL", true, true, false},
};

static const struct dbinfo *dbinfo(enum cf_schema_db which)
{
	if ((unsigned)which >= sizeof(dbs) / sizeof(dbs[0]))
		return NULL;
	return &dbs[which];
}

const char *cf_schema_name(enum cf_schema_db which)
{
	const struct dbinfo *d = dbinfo(which);

	return d ? d->name : "unknown";
}

int cf_schema_version(enum cf_schema_db which)
{
	const struct dbinfo *d = dbinfo(which);

	return d ? d->steps->count : -EINVAL;
}

/* The path of @db's main file, for messages. */
static const char *dbpath(sqlite3 *db)
{
	const char *p = sqlite3_db_filename(db, "main");

	return p && *p ? p : ":memory:";
}

/* A SQLite result code as a Coffer error code. */
static int sqlite_err(sqlite3 *db, int rc)
{
	int e;

	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_NOTADB:
		return CF_E_FORMAT;
	case SQLITE_CORRUPT:
		return CF_E_CORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CF_E_BUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		e = db ? sqlite3_system_errno(db) : 0;
		return e > 0 ? -e : CF_E_IO;
	default:
		return CF_E_IO;
	}
}

/* Run @sql (any number of statements, rows ignored); logs "path: what: reason" on error. */
static int exec(sqlite3 *db, const char *what, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return 0;
	if ((rc & 0xff) == SQLITE_NOTADB)
		cf_log_err("%s: not a SQLite database (%s)", dbpath(db), what);
	else
		cf_log_err("%s: %s: %s", dbpath(db), what, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return sqlite_err(db, rc);
}

/* Undo an open transaction, if any (after an error that was already reported). */
static void rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * The first column of the first row of @sql: as an integer in *@iv, or as text copied into
 * @tv (@tvlen bytes, NUL-terminated) when @tv is given. Logs "path: what: reason" on error.
 */
static int query_one(sqlite3 *db, const char *what, const char *sql, long long *iv, char *tv,
                     size_t tvlen)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rc = SQLITE_ERROR;
		if ((rc & 0xff) == SQLITE_NOTADB)
			cf_log_err("%s: not a SQLite database (%s)", dbpath(db), what);
		else
			cf_log_err("%s: %s: %s", dbpath(db), what, sqlite3_errmsg(db));
		rc = sqlite_err(db, rc);
		goto out;
	}
	if (tv) {
		t = sqlite3_column_text(st, 0);
		snprintf(tv, tvlen, "%s", t ? (const char *)t : "");
	} else {
		*iv = sqlite3_column_int64(st, 0);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static bool word_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c == '$' || c >= 0x80;
}

/*
 * @sql with comments and insignificant white space removed: a run of either becomes one
 * space between two word characters and nothing elsewhere; quoted text is kept as is.
 * Returns a malloc'ed string, or NULL when out of memory.
 */
static char *normalize(const char *sql)
{
	char *out = malloc(strlen(sql) + 1), *o = out;
	const char *s = sql, *e;
	bool gap = false;
	char close;

	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '-' && s[1] == '-') {
			s += strcspn(s, "\n");
			gap = true;
			continue;
		}
		if (s[0] == '/' && s[1] == '*') {
			e = strstr(s + 2, "*/");
			s = e ? e + 2 : s + strlen(s);
			gap = true;
			continue;
		}
		if (strchr(" \t\n\r\f\v", *s)) {
			s++;
			gap = true;
			continue;
		}
		if (gap && o > out && word_char((unsigned char)o[-1]) &&
		    word_char((unsigned char)*s))
			*o++ = ' ';
		gap = false;
		if (*s != '\'' && *s != '"' && *s != '`' && *s != '[') {
			*o++ = *s++;
			continue;
		}
		close = *s == '[' ? ']' : *s;
		*o++ = *s++;
		while (*s && *s != close)
			*o++ = *s++;
		if (*s)
			*o++ = *s++; /* a doubled quote simply opens the next quoted part */
	}
	*o = '\0';
	return out;
}

/* Column @i of two rows: equal text (or both NULL), after normalize() when @norm. */
static int same_column(sqlite3_stmt *a, sqlite3_stmt *b, int i, bool norm, bool *same)
{
	const char *ta = (const char *)sqlite3_column_text(a, i);
	const char *tb = (const char *)sqlite3_column_text(b, i);
	char *na = NULL, *nb = NULL;
	int rc = 0;

	if (!ta || !tb) {
		*same = !ta && !tb;
		return 0;
	}
	if (!norm) {
		*same = strcmp(ta, tb) == 0;
		return 0;
	}
	na = normalize(ta);
	nb = normalize(tb);
	if (!na || !nb) {
		cf_log_err("schema: out of memory comparing schemas");
		rc = -ENOMEM;
		goto out;
	}
	*same = strcmp(na, nb) == 0;
out:
	free(na);
	free(nb);
	return rc;
}

/*
 * Does @db's schema equal the one migration 1 of @s creates (in a scratch in-memory
 * database)? Sets *@match; logs only on errors.
 */
static int schema_matches(sqlite3 *db, const struct cf_schema_steps *s, bool *match)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *a = NULL, *b = NULL;
	int ra, rb, rc;
	bool same = true;

	*match = false;
	rc = sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		cf_log_err("schema: cannot open a scratch database: %s", sqlite3_errstr(rc));
		rc = sqlite_err(NULL, rc);
		goto out;
	}
	rc = exec(ref, s->step[0].name, s->step[0].sql);
	if (rc)
		goto out;
	if (sqlite3_prepare_v2(db, SCHEMA_OBJECTS, -1, &a, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ref, SCHEMA_OBJECTS, -1, &b, NULL) != SQLITE_OK) {
		cf_log_err("%s: reading the schema: %s", dbpath(db),
		           a ? sqlite3_errmsg(ref) : sqlite3_errmsg(db));
		rc = sqlite_err(a ? ref : db, sqlite3_errcode(a ? ref : db));
		goto out;
	}
	for (;;) {
		ra = sqlite3_step(a);
		rb = sqlite3_step(b);
		if (ra != SQLITE_ROW && ra != SQLITE_DONE) {
			cf_log_err("%s: reading the schema: %s", dbpath(db), sqlite3_errmsg(db));
			rc = sqlite_err(db, ra);
			goto out;
		}
		if (ra != rb || ra == SQLITE_DONE)
			break;
		for (int i = 0; i < 4 && same && !rc; i++)
			rc = same_column(a, b, i, i == 3, &same);
		if (rc || !same)
			goto out;
	}
	*match = ra == SQLITE_DONE && rb == SQLITE_DONE;
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	sqlite3_close_v2(ref);
	return rc;
}

/*
 * The version a database at user_version @v with @objects schema objects is at, for
 * database @d, in *@eff. Logs and returns CF_E_FORMAT / CF_E_VERSION for what is not ours.
 */
static int effective_version(sqlite3 *db, const struct dbinfo *d, const struct cf_schema_steps *s,
                             long long v, long long objects, long long *eff)
{
	bool match = false;
	int rc;

	*eff = v;
	if (v < 0) {
		cf_log_err("%s: not a Coffer %s database (user_version %lld)", dbpath(db), d->name,
		           v);
		return CF_E_FORMAT;
	}
	if (v > s->count) {
		cf_log_err("%s: %s database schema version %lld is newer than this build knows "
		           "(%d): upgrade Coffer; the file was not changed",
		           dbpath(db), d->name, v, s->count);
		return CF_E_VERSION;
	}
	if (v > 0 || objects == 0)
		return 0;
	if (d->adopt) {
		rc = schema_matches(db, s, &match);
		if (rc)
			return rc;
	}
	if (!match && d->adopt) {
		cf_log_err("%s: its schema differs from the %s schema this build knows; the file "
		           "was not changed",
		           dbpath(db), d->name);
		return CF_E_FORMAT;
	}
	if (!match) {
		cf_log_err("%s: holds tables but no Coffer schema version: not a Coffer %s "
		           "database; the file was not changed",
		           dbpath(db), d->name);
		return CF_E_FORMAT;
	}
	*eff = 1;
	return 0;
}

/*
 * Inside a write transaction: apply the next migration (or adopt, or find the database
 * current and set *@done). Logs on error; the caller rolls back.
 */
static int migrate_once(sqlite3 *db, const struct dbinfo *d, const struct cf_schema_steps *s,
                        bool *done)
{
	long long v, objects, eff;
	char bump[64];
	bool adopted;
	int rc;

	*done = false;
	rc = query_one(db, "reading user_version", "PRAGMA user_version", &v, NULL, 0);
	if (!rc)
		rc = query_one(db, "reading the schema", "SELECT count(*) FROM sqlite_schema",
		               &objects, NULL, 0);
	if (!rc)
		rc = effective_version(db, d, s, v, objects, &eff);
	if (rc)
		return rc;
	if (eff == s->count && eff == v) {
		*done = true;
		return 0;
	}
	adopted = eff != v;
	if (!adopted) {
		char what[128];

		snprintf(what, sizeof(what), "%s migration %s failed", d->name, s->step[eff].name);
		rc = exec(db, what, s->step[eff].sql);
		if (rc)
			return rc;
		eff++;
	}
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %lld", eff);
	rc = exec(db, "setting user_version", bump);
	if (rc)
		return rc;
	cf_log_info("%s: %s schema %s version %lld", dbpath(db), d->name,
	            adopted ? "adopted as" : "migrated to", eff);
	return 0;
}

static int migrate(sqlite3 *db, const struct dbinfo *d, const struct cf_schema_steps *s)
{
	long long v;
	bool done = false;
	int rc;

	if (!db || !s || s->count < 1) {
		cf_log_err("schema: migrate: invalid argument");
		return CF_E_INVAL;
	}
	rc = query_one(db, "reading user_version", "PRAGMA user_version", &v, NULL, 0);
	if (rc)
		return rc;
	if (v == s->count)
		return 0;
	if (!sqlite3_get_autocommit(db)) {
		cf_log_err("%s: cannot migrate inside a transaction", dbpath(db));
		return CF_E_INVAL;
	}
	while (!done) {
		rc = exec(db, "starting a migration", "BEGIN IMMEDIATE");
		if (rc)
			return rc;
		rc = migrate_once(db, d, s, &done);
		if (!rc)
			rc = exec(db, "committing a migration", "COMMIT");
		if (rc) {
			rollback(db);
			return rc;
		}
	}
	return 0;
}

int cf_schema_migrate_steps(sqlite3 *db, enum cf_schema_db which,
                            const struct cf_schema_steps *steps)
{
	const struct dbinfo *d = dbinfo(which);

	if (!d) {
		cf_log_err("schema: migrate: unknown database kind %d", (int)which);
		return CF_E_INVAL;
	}
	return migrate(db, d, steps ? steps : d->steps);
}

int cf_schema_migrate(sqlite3 *db, enum cf_schema_db which)
{
	return cf_schema_migrate_steps(db, which, NULL);
}

/*
 * Before SQLite sees @path: create it (0600) when missing and allowed, or make sure it is a
 * regular file that is empty or starts with the SQLite header. Never writes to an existing
 * file.
 */
static int precheck(const char *path, bool mustexist, const char *name)
{
	static const char magic[16] = "SQLite format 3";
	unsigned char hdr[100];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && !mustexist) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST) {
			rc = -errno;
			cf_log_err("%s: cannot create the %s database: %s", path, name,
			           strerror(-rc));
			return rc;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT) {
			cf_log_err("%s: no %s database there", path, name);
			return CF_E_NOTFOUND;
		}
		cf_log_err("%s: cannot open the %s database: %s", path, name, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		cf_log_err("%s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cf_log_err("%s: not a regular file, so not a %s database", path, name);
		rc = CF_E_FORMAT;
		goto out;
	}
	if (st.st_size == 0)
		goto out; /* SQLite treats an empty file as a new database */
	n = pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		rc = -errno;
		cf_log_err("%s: %s", path, strerror(-rc));
		goto out;
	}
	if ((size_t)n < sizeof(hdr) || memcmp(hdr, magic, sizeof(magic)) != 0) {
		cf_log_err("%s: not a SQLite database, so not a %s database; the file was not "
		           "changed",
		           path, name);
		rc = CF_E_FORMAT;
	}
out:
	close(fd);
	return rc;
}

/* Connection settings that never write to the file. */
static int configure(sqlite3 *db, const struct dbinfo *d)
{
	char sql[160];

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL) != SQLITE_OK) {
		cf_log_err("%s: cannot configure the connection: %s", dbpath(db),
		           sqlite3_errmsg(db));
		return CF_E_IO;
	}
	snprintf(sql, sizeof(sql), "PRAGMA foreign_keys = %s; PRAGMA synchronous = %s;%s",
	         d->foreign_keys ? "ON" : "OFF", d->synchronous,
	         d->secure_delete ? " PRAGMA secure_delete = ON;" : "");
	return exec(db, "setting pragmas", sql);
}

/* Read-only: usable only at the latest version. */
static int check_current(sqlite3 *db, const struct dbinfo *d, long long v, long long objects)
{
	long long eff;
	int rc = effective_version(db, d, d->steps, v, objects, &eff);

	if (rc || eff == d->steps->count)
		return rc;
	if (eff == 0)
		cf_log_err("%s: an empty database, not a %s database", dbpath(db), d->name);
	else
		cf_log_err("%s: %s database schema version %lld, this build needs %d: open it "
		           "read-write once to upgrade it",
		           dbpath(db), d->name, eff, d->steps->count);
	return eff == 0 ? CF_E_FORMAT : CF_E_VERSION;
}

/* Switch to WAL (persistent). Filesystems without shared memory keep their mode. */
static int set_wal(sqlite3 *db)
{
	char mode[16];
	int rc = query_one(db, "switching to WAL", "PRAGMA journal_mode = WAL", NULL, mode,
	                   sizeof(mode));

	if (!rc && strcmp(mode, "wal") != 0)
		cf_log_warn("%s: WAL unavailable, journal mode stays %s", dbpath(db), mode);
	return rc;
}

int cf_schema_open(sqlite3 **out, const char *path, enum cf_schema_db which, int flags)
{
	const struct dbinfo *d = dbinfo(which);
	sqlite3 *db = NULL;
	char *uri_safe = NULL;
	long long v, objects, eff = -1;
	bool rdonly;
	int rc;

	if (!out || !path || !*path || !d || (flags & ~(CF_SCHEMA_MUSTEXIST | CF_SCHEMA_RDONLY))) {
		cf_log_err("schema: open: invalid argument");
		return CF_E_INVAL;
	}
	rdonly = flags & CF_SCHEMA_RDONLY;
	rc = precheck(path, rdonly || (flags & CF_SCHEMA_MUSTEXIST), d->name);
	if (rc)
		return rc;
	if (strncmp(path, "file:", 5) == 0) { /* SQLite would take it for a URI */
		uri_safe = malloc(strlen(path) + 3);
		if (!uri_safe) {
			cf_log_err("%s: out of memory", path);
			return -ENOMEM;
		}
		sprintf(uri_safe, "./%s", path);
	}
	rc = sqlite3_open_v2(uri_safe ? uri_safe : path, &db,
	                     rdonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		cf_log_err("%s: cannot open the %s database: %s", path, d->name,
		           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		rc = sqlite_err(db, rc);
		goto fail;
	}
	if (!rdonly && sqlite3_db_readonly(db, "main") == 1) {
		cf_log_err("%s: cannot open the %s database for writing", path, d->name);
		rc = -EACCES;
		goto fail;
	}
	/* Only reads until the file is known to be ours, at a version this build handles. */
	rc = configure(db, d);
	if (!rc)
		rc = query_one(db, "reading the schema", "SELECT count(*) FROM sqlite_schema",
		               &objects, NULL, 0);
	if (!rc)
		rc = query_one(db, "reading user_version", "PRAGMA user_version", &v, NULL, 0);
	if (!rc && rdonly)
		rc = check_current(db, d, v, objects);
	else if (!rc)
		rc = effective_version(db, d, d->steps, v, objects, &eff);
	if (rc)
		goto fail;
	if (!rdonly && eff == 0) /* a new database: fix its page size before WAL */
		rc = exec(db, "setting the page size", "PRAGMA page_size = 4096");
	if (!rdonly && !rc)
		rc = set_wal(db);
	if (!rdonly && !rc)
		rc = migrate(db, d, d->steps);
	if (rc)
		goto fail;
	free(uri_safe);
	*out = db;
	return 0;
fail:
	sqlite3_close_v2(db);
	free(uri_safe);
	return rc;
}
