/* SPDX-License-Identifier: ISC */
#include "schema/schema-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/check.h"

extern char **environ;

static char *tmp;

/* A path under the test's temporary directory (static buffer rotation: 4 at a time). */
static const char *tpath(const char *name)
{
	static char buf[4][4096];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmp, name);
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	REQUIRE(f);
	REQUIRE(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	REQUIRE(n >= 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	REQUIRE(p);
	REQUIRE(fread(p, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	REQUIRE(f);
	REQUIRE(fwrite(data, 1, len, f) == len);
	REQUIRE(fclose(f) == 0);
}

/* Does the file at @path still hold exactly @len bytes @data? */
static bool unchanged(const char *path, const char *data, size_t len)
{
	size_t n;
	char *now = slurp(path, &n);
	bool same = n == len && memcmp(now, data, n) == 0;

	free(now);
	return same;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
	        SQLITE_OK);
	return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* First column of the first row as an integer; LLONG_MIN-ish sentinel on error. */
static long long qint(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -999999;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool has_object(sqlite3 *db, const char *type, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM sqlite_schema WHERE type = '%s' AND name = '%s'", type,
	         name);
	return qint(db, sql) == 1;
}

/*
 * The schema as one string: "type|name|tbl_name|sql" lines ordered by type and name,
 * sqlite_stat* left out; with @squeeze, every white-space character outside quotes removed
 * (the test's own normalization, independent of schema.c's).
 */
static char *schema_dump(sqlite3 *db, bool squeeze)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);

	REQUIRE(out);
	REQUIRE(sqlite3_prepare_v2(db,
	                           "SELECT type, name, tbl_name, coalesce(sql, '') FROM "
	                           "sqlite_schema WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\' "
	                           "ORDER BY type, name",
	                           -1, &st, NULL) == SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char quote = 0;

		for (int c = 0; c < 4; c++) {
			const char *s = (const char *)sqlite3_column_text(st, c);

			for (; *s; s++) {
				if (len + 3 > cap) {
					cap *= 2;
					out = realloc(out, cap);
					REQUIRE(out);
				}
				if (quote && *s == quote)
					quote = 0;
				else if (!quote && (*s == '\'' || *s == '"'))
					quote = *s;
				if (squeeze && !quote && strchr(" \t\r\n", *s))
					continue;
				out[len++] = *s;
			}
			out[len++] = c == 3 ? '\n' : '|';
		}
	}
	out[len] = '\0';
	sqlite3_finalize(st);
	return out;
}

static const char *const expected[][12] = {
    [CF_SCHEMA_CHATDB] = {"message", "chat", "handle", "attachment", "chat_message_join",
                          "chat_handle_join", "message_attachment_join", "deleted_messages",
                          "_SqliteDatabaseProperties", "kvtable", NULL},
    [CF_SCHEMA_STATE] = {"repository", "seen_head", "key_slot", "job", "setting", NULL},
    [CF_SCHEMA_CACHE] = {"cache_info", "index_object", "pack", "blob", "file", "snapshot", NULL},
    [CF_SCHEMA_KEYVAULTD] = {"account", "session", "account_limit", "address_limit", "device",
                             "repository", "escrow", "contact_share", "mailbox", "freshness",
                             "audit"},
};

static void test_fresh(enum cf_schema_db k)
{
	const char *path = tpath(cf_schema_name(k));
	sqlite3 *db = NULL;
	struct stat st;
	char *before, *after;

	CHECK(cf_schema_version(k) >= 1);
	CHECK_RC(cf_schema_open(&db, path, k, CF_SCHEMA_MUSTEXIST), CF_E_NOTFOUND);
	CHECK_RC(cf_schema_open(&db, path, k, CF_SCHEMA_RDONLY), CF_E_NOTFOUND);
	CHECK(db == NULL && access(path, F_OK) != 0);

	CHECK_RC(cf_schema_open(&db, path, k, 0), 0);
	REQUIRE(db);
	CHECK(qint(db, "PRAGMA user_version") == cf_schema_version(k));
	for (int i = 0; i < 12 && expected[k][i]; i++)
		CHECK(has_object(db, "table", expected[k][i]));
	CHECK(qint(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
	CHECK(qint(db, "PRAGMA foreign_keys") == (k != CF_SCHEMA_CHATDB));
	CHECK(
	    qint(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") ==
	    1);
	CHECK(qint(db, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
	if (k != CF_SCHEMA_CHATDB) /* every Coffer-owned table is STRICT */
		CHECK(qint(db, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND "
		               "type = 'table' AND name NOT LIKE 'sqlite%' AND strict = 0") == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	before = schema_dump(db, false);
	sqlite3_close_v2(db);

	db = NULL;
	CHECK_RC(cf_schema_open(&db, path, k, 0), 0); /* idempotent */
	REQUIRE(db);
	CHECK(qint(db, "PRAGMA user_version") == cf_schema_version(k));
	CHECK_RC(cf_schema_migrate(db, k), 0);
	after = schema_dump(db, false);
	CHECK(strcmp(before, after) == 0);
	free(after);
	sqlite3_close_v2(db);

	db = NULL;
	CHECK_RC(cf_schema_open(&db, path, k, CF_SCHEMA_RDONLY), 0);
	REQUIRE(db);
	CHECK(sqlite3_db_readonly(db, "main") == 1);
	after = schema_dump(db, false);
	CHECK(strcmp(before, after) == 0);
	free(after);
	free(before);
	sqlite3_close_v2(db);
}

/* A database from a newer build: refused, file untouched, and the log names the path. */
static void test_newer(void)
{
	const char *path = tpath("newer.db"), *logpath = tpath("newer.log");
	sqlite3 *db = raw_open(path), *out = NULL;
	size_t len, loglen;
	char *bytes, *log;
	int saved, fd;

	REQUIRE(raw_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 999;") == SQLITE_OK);
	sqlite3_close_v2(db);
	bytes = slurp(path, &len);

	saved = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(saved >= 0 && fd >= 0 && dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	CHECK_RC(cf_schema_open(&out, path, CF_SCHEMA_STATE, 0), CF_E_VERSION);
	REQUIRE(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	log = slurp(logpath, &loglen);
	CHECK(strstr(log, path) != NULL && strstr(log, "newer") != NULL);
	free(log);

	CHECK_RC(cf_schema_open(&out, path, CF_SCHEMA_STATE, CF_SCHEMA_RDONLY), CF_E_VERSION);
	CHECK(out == NULL);
	CHECK(unchanged(path, bytes, len)); /* in particular, not switched to WAL */

	db = raw_open(path);
	CHECK_RC(cf_schema_migrate(db, CF_SCHEMA_STATE), CF_E_VERSION);
	sqlite3_close_v2(db);
	CHECK(unchanged(path, bytes, len));
	free(bytes);
}

/* Files that are not SQLite databases (or not Coffer ones) are refused and untouched. */
static void test_not_ours(void)
{
	static const char text[] = "backup this, please\nnot a database at all\n";
	char junk[512];
	const char *path;
	sqlite3 *db = NULL;
	size_t len;
	char *bytes;

	path = tpath("text.db");
	spit(path, text, sizeof(text) - 1);
	CHECK_RC(cf_schema_open(&db, path, CF_SCHEMA_CACHE, 0), CF_E_FORMAT);
	CHECK(unchanged(path, text, sizeof(text) - 1));

	path = tpath("badheader.db"); /* the magic, then garbage */
	memset(junk, 0xa5, sizeof(junk));
	memcpy(junk, "SQLite format 3", 16);
	spit(path, junk, sizeof(junk));
	CHECK_RC(cf_schema_open(&db, path, CF_SCHEMA_STATE, 0), CF_E_FORMAT);
	CHECK(unchanged(path, junk, sizeof(junk)));

	path = tpath("short.db");
	spit(path, "SQLite", 6);
	CHECK_RC(cf_schema_open(&db, path, CF_SCHEMA_KEYVAULTD, 0), CF_E_FORMAT);
	CHECK(unchanged(path, "SQLite", 6));

	CHECK_RC(cf_schema_open(&db, tmp, CF_SCHEMA_STATE, 0), CF_E_FORMAT); /* a directory */

	/* Another program's SQLite database at user_version 0. */
	path = tpath("foreign.db");
	db = raw_open(path);
	REQUIRE(raw_exec(db, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');") ==
	        SQLITE_OK);
	sqlite3_close_v2(db);
	db = NULL;
	bytes = slurp(path, &len);
	for (int k = CF_SCHEMA_CHATDB; k <= CF_SCHEMA_KEYVAULTD; k++) {
		CHECK_RC(cf_schema_open(&db, path, (enum cf_schema_db)k, 0), CF_E_FORMAT);
		CHECK_RC(cf_schema_open(&db, path, (enum cf_schema_db)k, CF_SCHEMA_RDONLY),
		         CF_E_FORMAT);
	}
	CHECK(db == NULL);
	CHECK(unchanged(path, bytes, len));
	free(bytes);

	/* A relative path that looks like a URI is still a path. */
	{
		char cwd[4096];

		REQUIRE(getcwd(cwd, sizeof(cwd)) && chdir(tmp) == 0);
		CHECK_RC(cf_schema_open(&db, "file:odd.db?mode=memory", CF_SCHEMA_CACHE, 0), 0);
		CHECK(access("file:odd.db?mode=memory", F_OK) == 0);
		sqlite3_close_v2(db);
		db = NULL;
		REQUIRE(chdir(cwd) == 0);
	}

	CHECK_RC(cf_schema_open(&db, path, (enum cf_schema_db)42, 0), CF_E_INVAL);
	CHECK_RC(cf_schema_open(&db, path, CF_SCHEMA_STATE, 0x100), CF_E_INVAL);
	CHECK(cf_schema_version((enum cf_schema_db)42) == -EINVAL);
	CHECK(strcmp(cf_schema_name(CF_SCHEMA_KEYVAULTD), "keyvaultd") == 0);
}

/* A failing migration leaves the database at the version before it. */
static void test_failing_migration(void)
{
	const char *path = tpath("failing.db");
	const struct cf_schema_step *real = cf_schema_steps_state.step;
	const struct cf_schema_step three[] = {
	    real[0],
	    {"002_ok.sql", "CREATE TABLE note (x INTEGER) STRICT;"},
	    {"003_bad.sql", "CREATE TABLE half (y INTEGER); CREATE TABLE conflict (z);"},
	};
	const struct cf_schema_steps steps = {"state", three, 3};
	sqlite3 *db = NULL;

	CHECK_RC(cf_schema_open(&db, path, CF_SCHEMA_STATE, 0), 0);
	REQUIRE(db);
	/* as if the real state schema had migration 001 only: 002 is the fake one below */
	REQUIRE(raw_exec(db, "PRAGMA user_version = 1") == SQLITE_OK);
	REQUIRE(raw_exec(db, "CREATE TABLE conflict (z)") == SQLITE_OK); /* in 003's way */
	CHECK(cf_schema_migrate_steps(db, CF_SCHEMA_STATE, &steps) == CF_E_IO);
	CHECK(qint(db, "PRAGMA user_version") == 2); /* 002 committed on its own */
	CHECK(has_object(db, "table", "note"));
	CHECK(!has_object(db, "table", "half")); /* 003's first statement rolled back */
	CHECK(sqlite3_get_autocommit(db));

	REQUIRE(raw_exec(db, "DROP TABLE conflict") == SQLITE_OK);
	CHECK_RC(cf_schema_migrate_steps(db, CF_SCHEMA_STATE, &steps), 0);
	CHECK(qint(db, "PRAGMA user_version") == 3);
	CHECK(has_object(db, "table", "half") && has_object(db, "table", "conflict"));

	/* Not inside the caller's transaction. */
	REQUIRE(raw_exec(db, "PRAGMA user_version = 1; BEGIN") == SQLITE_OK);
	CHECK_RC(cf_schema_migrate_steps(db, CF_SCHEMA_STATE, &steps), CF_E_INVAL);
	REQUIRE(raw_exec(db, "ROLLBACK") == SQLITE_OK);
	sqlite3_close_v2(db);
}

static int rc_of(sqlite3 *db, const char *sql)
{
	return raw_exec(db, sql) & 0xff;
}

/* CHECKs, foreign keys and guard triggers of state and keyvaultd. */
static void test_constraints(void)
{
	sqlite3 *db = NULL;

	CHECK_RC(cf_schema_open(&db, tpath("kvd.db"), CF_SCHEMA_KEYVAULTD, 0), 0);
	REQUIRE(db);
	CHECK(qint(db, "PRAGMA secure_delete") == 1);
	CHECK(rc_of(db, "INSERT INTO account (name, kdf_salt, kdf_opslimit, kdf_memlimit, "
	                "auth_hash, created_at) VALUES ('a', zeroblob(15), 3, 65536, "
	                "zeroblob(32), 1)") == SQLITE_CONSTRAINT); /* salt length */
	CHECK(rc_of(db, "INSERT INTO account (name, kdf_salt, kdf_opslimit, kdf_memlimit, "
	                "auth_hash, created_at) VALUES ('a', zeroblob(16), 3, 'lots', "
	                "zeroblob(32), 1)") == SQLITE_CONSTRAINT); /* STRICT */
	CHECK(rc_of(db, "INSERT INTO account (id, name, kdf_salt, kdf_opslimit, kdf_memlimit, "
	                "auth_hash, created_at) VALUES (1, 'a', zeroblob(16), 3, 65536, "
	                "zeroblob(32), 1)") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO session VALUES (zeroblob(32), 2, 1, 9, NULL, NULL, NULL)") ==
	      SQLITE_CONSTRAINT); /* no account 2 */
	CHECK(rc_of(db, "INSERT INTO session VALUES (zeroblob(32), 1, 9, 9, NULL, NULL, NULL)") ==
	      SQLITE_CONSTRAINT); /* expires before it starts */
	CHECK(rc_of(db, "INSERT INTO repository VALUES (1, 1, zeroblob(32), 'standard', 1, 1, "
	                "1)") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO escrow (repository_id, epoch, sealed, key_ref, created_at) "
	                "VALUES (1, 2, x'01', 'k1', 1)") == SQLITE_CONSTRAINT); /* not current */
	CHECK(rc_of(db, "INSERT INTO escrow (repository_id, epoch, sealed, key_ref, created_at) "
	                "VALUES (1, 1, x'01', 'k1', 1)") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE repository SET protection = 'advanced', epoch = 2") ==
	      SQLITE_CONSTRAINT); /* live escrow */
	CHECK(rc_of(db, "UPDATE escrow SET sealed = NULL, deleted_at = 2; UPDATE repository SET "
	                "protection = 'advanced', epoch = 2") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE repository SET epoch = 1") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO escrow (repository_id, epoch, sealed, key_ref, created_at) "
	                "VALUES (1, 2, x'01', 'k1', 1)") == SQLITE_CONSTRAINT); /* advanced */
	CHECK(rc_of(db, "INSERT INTO contact_share (repository_id, epoch, share, created_at) "
	                "VALUES (1, 2, x'02', 1)") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE contact_share SET attempts = 9") == SQLITE_OK);
	CHECK(qint(db, "SELECT share IS NOT NULL FROM contact_share") == 1);
	CHECK(rc_of(db, "UPDATE contact_share SET attempts = 10") == SQLITE_OK);
	CHECK(qint(db, "SELECT share IS NULL AND deleted_at > 0 FROM contact_share") == 1);
	CHECK(rc_of(db, "UPDATE contact_share SET attempts = 11") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO audit (account_id, at, event, detail) VALUES (1, 1, "
	                "'escrow-read', '{\"epoch\":1}')") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO audit (account_id, at, event) VALUES (1, 1, 'Bad Event')") ==
	      SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "UPDATE audit SET at = 2") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "DELETE FROM audit") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO device (id, account_id, identity, added_at, removed_at) "
	                "VALUES (1, 1, 'pub1', 1, 5)") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE device SET removed_at = NULL") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO freshness VALUES (1, 7, zeroblob(32), zeroblob(64), "
	                "zeroblob(32), 1)") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE freshness SET sequence = 6") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "DELETE FROM account") == SQLITE_OK); /* everything cascades */
	CHECK(qint(db, "SELECT (SELECT count(*) FROM audit) + (SELECT count(*) FROM device) + "
	               "(SELECT count(*) FROM escrow) + (SELECT count(*) FROM repository)") == 0);
	sqlite3_close_v2(db);

	db = NULL;
	CHECK_RC(cf_schema_open(&db, tpath("st.db"), CF_SCHEMA_STATE, 0), 0);
	REQUIRE(db);
	CHECK(rc_of(db, "INSERT INTO repository VALUES (1, 'file:///r', zeroblob(32), 1, "
	                "'paranoid', 1, 1, 1)") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO repository VALUES (1, 'file:///r', zeroblob(32), 1, "
	                "'advanced', 1, 1, 1)") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO seen_head VALUES (1, 5, zeroblob(32), 1)") == SQLITE_OK);
	CHECK(rc_of(db, "UPDATE seen_head SET sequence = 4") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "UPDATE seen_head SET manifest_hash = randomblob(32)") ==
	      SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "UPDATE seen_head SET sequence = 6, manifest_hash = randomblob(32)") ==
	      SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO key_slot VALUES (1, 's1', 'escrow-ish', 1, 1, NULL, "
	                "NULL)") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO job (kind, started_at, status) VALUES ('backup', 1, "
	                "'failed')") == SQLITE_CONSTRAINT); /* ended and error missing */
	CHECK(rc_of(db, "INSERT INTO job (kind, started_at, status) VALUES ('backup', 1, "
	                "'running')") == SQLITE_OK);
	sqlite3_close_v2(db);

	db = NULL;
	CHECK_RC(cf_schema_open(&db, tpath("cache.db"), CF_SCHEMA_CACHE, 0), 0);
	REQUIRE(db);
	CHECK(rc_of(db, "INSERT INTO cache_info (singleton, repo_id, created_at) VALUES (1, "
	                "zeroblob(32), 1)") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO cache_info (singleton, repo_id, created_at) VALUES (2, "
	                "zeroblob(32), 1)") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "INSERT INTO blob VALUES (zeroblob(32), 0, 1, 0, 10, 10)") ==
	      SQLITE_CONSTRAINT); /* no pack 1 */
	CHECK(rc_of(db, "INSERT INTO index_object VALUES (1, zeroblob(32), 1, 1); INSERT INTO "
	                "pack VALUES (1, zeroblob(32), 1, 100, 1, 1, 1); INSERT INTO blob VALUES "
	                "(zeroblob(32), 0, 1, 0, 10, 10)") == SQLITE_OK);
	CHECK(rc_of(db, "INSERT INTO file (path, size, mtime_ns, ctime_ns, inode, device, epoch, "
	                "seen_run) VALUES ('a', 1, 1, 1, 1, 1, 1, 1)") == SQLITE_CONSTRAINT);
	CHECK(rc_of(db, "DELETE FROM index_object") == SQLITE_OK); /* superseded: cascades */
	CHECK(qint(db, "SELECT (SELECT count(*) FROM pack) + (SELECT count(*) FROM blob)") == 0);
	sqlite3_close_v2(db);
}

/* Run argv (no shell); returns the exit status, or -errno when it could not start. */
static int run(char *const argv[])
{
	pid_t pid;
	int st, err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);

	if (err)
		return -err;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Our chat.db and genstore.py's are interchangeable. Returns false when skipped. */
static bool test_chatdb_genstore(void)
{
	const char *shared = getenv("CF_SHARED_ROOT"), *root = getenv("CF_SOURCE_ROOT");
	char script[4096], store[4096], chat[4200];
	char *argv[] = {"python3",    script, store,           "--seed", "1",
	                "--messages", "40",   "--attachments", "2",      NULL};
	sqlite3 *gen = NULL, *ours = NULL, *db = NULL;
	char *a, *b, *bytes;
	const char *alt;
	size_t len;
	int rc;

	if (shared)
		snprintf(script, sizeof(script), "%s/bench/genstore.py", shared);
	else
		snprintf(script, sizeof(script), "%s/../shared/bench/genstore.py",
		         root ? root : ".");
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "skip chatdb compatibility: no %s\n", script);
		return false;
	}
	snprintf(store, sizeof(store), "%s", tpath("store"));
	rc = run(argv);
	if (rc == -ENOENT) {
		fprintf(stderr, "skip chatdb compatibility: python3 not found\n");
		return false;
	}
	CHECK_RC(rc, 0);
	if (rc)
		return true;
	snprintf(chat, sizeof(chat), "%s/chat.db", store);

	CHECK_RC(cf_schema_open(&ours, tpath("ours-chat.db"), CF_SCHEMA_CHATDB, 0), 0);
	REQUIRE(ours);
	REQUIRE(sqlite3_open_v2(chat, &gen, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	a = schema_dump(gen, true);
	b = schema_dump(ours, true);
	CHECK(strcmp(a, b) == 0); /* same objects, same normalized SQL */
	if (strcmp(a, b) != 0)
		fprintf(stderr, "genstore schema:\n%s\nours:\n%s\n", a, b);
	free(a);
	free(b);
	a = schema_dump(gen, false);
	b = schema_dump(ours, false);
	CHECK(strcmp(a, b) == 0); /* even verbatim, as bench/dbsame.py compares it */
	free(a);
	free(b);
	CHECK(qint(gen, "PRAGMA page_size") == qint(ours, "PRAGMA page_size"));
	CHECK(qint(gen, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") ==
	      1);
	CHECK(rc_of(ours, "INSERT INTO message (guid, text) VALUES ('g1', 'hi'); DELETE FROM "
	                  "message; ") == SQLITE_OK);
	CHECK(qint(ours, "SELECT count(*) FROM deleted_messages WHERE guid = 'g1'") == 1);
	sqlite3_close_v2(ours);
	sqlite3_close_v2(gen);

	/* genstore's store, user_version 0, is adopted: read-only as is, read-write as v1. */
	CHECK_RC(cf_schema_open(&db, chat, CF_SCHEMA_CHATDB, CF_SCHEMA_RDONLY), 0);
	REQUIRE(db);
	CHECK(qint(db, "PRAGMA user_version") == 0);
	sqlite3_close_v2(db);
	db = NULL;
	CHECK_RC(cf_schema_open(&db, chat, CF_SCHEMA_CHATDB, 0), 0);
	REQUIRE(db);
	CHECK(qint(db, "PRAGMA user_version") == 1);
	CHECK(qint(db, "SELECT count(*) FROM message") == 40);
	sqlite3_close_v2(db);

	/* A store whose schema differs is not adopted, and not touched. */
	alt = tpath("altered-chat.db");
	bytes = slurp(chat, &len);
	spit(alt, bytes, len);
	free(bytes);
	db = raw_open(alt);
	REQUIRE(raw_exec(db, "PRAGMA user_version = 0; ALTER TABLE message ADD COLUMN x TEXT") ==
	        SQLITE_OK);
	sqlite3_close_v2(db);
	db = NULL;
	bytes = slurp(alt, &len);
	CHECK_RC(cf_schema_open(&db, alt, CF_SCHEMA_CHATDB, 0), CF_E_FORMAT);
	CHECK(db == NULL);
	CHECK(unchanged(alt, bytes, len));
	free(bytes);
	return true;
}

int main(void)
{
	bool ran_genstore;
	int rc;

	tmp = check_tmpdir();
	for (int k = CF_SCHEMA_CHATDB; k <= CF_SCHEMA_KEYVAULTD; k++)
		test_fresh((enum cf_schema_db)k);
	test_newer();
	test_not_ours();
	test_failing_migration();
	test_constraints();
	ran_genstore = test_chatdb_genstore();
	check_rmtree(tmp);
	free(tmp);
	rc = check_finish();
	if (rc == 0 && !ran_genstore)
		return 77; /* everything else passed; the compatibility check could not run */
	return rc;
}
