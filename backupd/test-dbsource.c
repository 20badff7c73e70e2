/* SPDX-License-Identifier: ISC */
/*
 * The read-ahead VFS (backupd/dbsource.h): a reader that keeps its connection open sees
 * every change a writer commits between its read transactions — in WAL mode across
 * checkpoints that rewrite the database file, and in rollback-journal mode — and reads
 * exactly what the default VFS reads.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupd/dbsnap.h"
#include "backupd/dbsource.h"
#include "tests/lib/check.h"

#define ROWS 6000

static char *dir;

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql failed: %s: %s\n", sql, err);
		exit(1);
	}
}

/* One read transaction: a digest of every row (so every page of the table is read). */
static int64_t digest(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	REQUIRE(sqlite3_prepare_v2(db, "SELECT sum(id * (CAST(v AS INTEGER) % 1000003)), "
				       "count(*) + (SELECT count(*) FROM pad) FROM t",
				   -1, &st, NULL) == SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0) * 7919 + sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return v;
}

/* Rows of 300 bytes whose content depends on @gen, and random blobs in a second table:
 * a database of a few MiB, several read-ahead windows. */
static void fill(sqlite3 *db, int gen)
{
	char sql[256];

	exec_sql(db, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO t(id, v) SELECT value, printf('%%0300d', value * %d) "
		 "FROM generate_series(1, %d)",
		 gen, ROWS);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		/* generate_series is an extension some builds lack: a recursive CTE instead */
		snprintf(sql, sizeof(sql),
			 "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE "
			 "x < %d) INSERT OR REPLACE INTO t(id, v) SELECT x, printf('%%0300d', x * "
			 "%d) FROM s",
			 ROWS, gen);
		exec_sql(db, sql);
	}
	exec_sql(db, "INSERT INTO pad(b) SELECT randomblob(2000) FROM t WHERE id % 8 = 0");
	exec_sql(db, "COMMIT");
}

static void scenario(const char *name, const char *journal)
{
	char path[4096], sql[128];
	sqlite3 *w = NULL, *r = NULL, *plain = NULL;
	int64_t a, b, want;

	snprintf(path, sizeof(path), "%s/%s.db", dir, name);
	REQUIRE(sqlite3_open(path, &w) == SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", journal);
	exec_sql(w, sql);
	exec_sql(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE pad(b BLOB)");
	fill(w, 3);

	REQUIRE(cf_dbsnap_open_source(&r, path, 1000) == 0);
	REQUIRE(sqlite3_open_v2(path, &plain, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	a = digest(r);
	CHECK(a == digest(plain) && a > 0);

	/* a writer rewrites every row between our transactions; WAL: checkpointed into the
	 * file, so the new pages come from the database file, where our window was */
	fill(w, 5);
	if (!strcmp(journal, "WAL"))
		exec_sql(w, "PRAGMA wal_checkpoint(TRUNCATE)");
	b = digest(r);
	want = digest(plain);
	CHECK(b == want);
	CHECK(b != a);

	/* and once more, now without a checkpoint (WAL: the pages come from the -wal) */
	fill(w, 11);
	CHECK(digest(r) == digest(plain));

	/* every page read through the window is what the default VFS reads */
	{
		sqlite3_stmt *st = NULL;
		REQUIRE(sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
		CHECK(sqlite3_step(st) == SQLITE_ROW &&
		      !strcmp((const char *)sqlite3_column_text(st, 0), "ok"));
		sqlite3_finalize(st);
	}
	sqlite3_close(plain);
	sqlite3_close(r);
	sqlite3_close(w);
}

int main(void)
{
	dir = check_tmpdir();
	REQUIRE(cf_dbsource_vfs() != NULL);
	REQUIRE(sqlite3_vfs_find(CF_DBSOURCE_VFS) != NULL);
	scenario("wal", "WAL");
	scenario("rollback", "DELETE");
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
