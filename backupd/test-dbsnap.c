/* SPDX-License-Identifier: ISC */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backupd/dbsnap.h"
#include "core/error.h"
#include "tests/lib/check.h"

static char *dir;

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql failed: %s: %s\n", sql, err);
		exit(1);
	}
}

static int64_t query_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void make_db(const char *path, int wal)
{
	sqlite3 *db = NULL;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	exec_sql(db, wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE");
	exec_sql(db, "CREATE TABLE items(id INTEGER PRIMARY KEY, batch INT, v BLOB);"
		     "CREATE TABLE summary(n INT, batches INT);"
		     "INSERT INTO summary VALUES (0, 0);");
	sqlite3_close(db);
}

/*
 * The writer: each transaction inserts 1..50 rows and bumps the summary, so every
 * committed state has count(items) == summary.n. Checkpoints every few commits, so WAL
 * content moves into the main file while the copy runs. Bounded: at most 20000 commits.
 */
static void writer(const char *path)
{
	sqlite3 *db = NULL;
	char sql[256];

	if (sqlite3_open(path, &db) != SQLITE_OK)
		_exit(2);
	sqlite3_busy_timeout(db, 5000);
	for (int i = 0; i < 20000; i++) {
		int k = 1 + i % 50;
		exec_sql(db, "BEGIN IMMEDIATE");
		snprintf(sql, sizeof(sql),
			 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d)"
			 " INSERT INTO items(batch, v) SELECT %d, randomblob(300) FROM c",
			 k, i);
		exec_sql(db, sql);
		snprintf(sql, sizeof(sql), "UPDATE summary SET n = n + %d, batches = batches + 1",
			 k);
		exec_sql(db, sql);
		exec_sql(db, "COMMIT");
		if (i % 7 == 0)
			exec_sql(db, "PRAGMA wal_checkpoint(PASSIVE)");
	}
	sqlite3_close(db);
	_exit(0);
}

static void concurrent_writer(void)
{
	char src[512], dst[512];
	pid_t pid;
	int copies_with_data = 0;

	path_in(src, sizeof(src), "live.db");
	make_db(src, 1);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		writer(src);
	for (int round = 0; round < 8; round++) {
		struct cf_dbsnap_info info;
		int64_t n, sum;

		usleep(30000);
		snprintf(dst, sizeof(dst), "%s/copy%d.db", dir, round);
		CHECK_RC(cf_dbsnap_take(src, dst, 5000, &info), 0);
		CHECK_RC(cf_dbsnap_check(dst, 1), 0);
		n = query_int(dst, "SELECT count(*) FROM items");
		sum = query_int(dst, "SELECT n FROM summary");
		/* one committed state: never half a transaction */
		CHECK(n == sum);
		CHECK(info.page_size == 4096 && info.pages > 0);
		CHECK(info.bytes == (uint64_t)info.page_size * info.pages);
		if (n > 0)
			copies_with_data++;
		{
			/* the copy is a single file: no -wal folded out beside it */
			char wal[600];
			struct stat st;
			snprintf(wal, sizeof(wal), "%s-wal", dst);
			CHECK(stat(wal, &st) < 0 || st.st_size == 0);
			CHECK(stat(dst, &st) == 0 && (st.st_mode & 0777) == 0600);
		}
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	CHECK(copies_with_data > 0);
}

static void bad_inputs(void)
{
	char src[512], dst[512], junk[512];
	FILE *f;

	path_in(src, sizeof(src), "absent.db");
	path_in(dst, sizeof(dst), "out-absent.db");
	CHECK_RC(cf_dbsnap_take(src, dst, 100, NULL), CF_E_NOTFOUND);
	CHECK(access(dst, F_OK) != 0);

	path_in(junk, sizeof(junk), "junk.db");
	f = fopen(junk, "w");
	REQUIRE(f);
	for (int i = 0; i < 4096; i++)
		fputc('x', f);
	fclose(f);
	path_in(dst, sizeof(dst), "out-junk.db");
	CHECK_RC(cf_dbsnap_take(junk, dst, 100, NULL), CF_E_FORMAT);
	CHECK(access(dst, F_OK) != 0);
	CHECK_RC(cf_dbsnap_check(junk, 0), CF_E_FORMAT);

	/* destination exists: refused, and left as it was */
	path_in(src, sizeof(src), "small.db");
	make_db(src, 0);
	CHECK_RC(cf_dbsnap_take(src, junk, 100, NULL), CF_E_EXISTS);
	CHECK(query_int(junk, "SELECT count(*) FROM sqlite_master") == -1);
}

static void locked(void)
{
	char src[512], dst[512];
	int ready[2];
	pid_t pid;
	char c;

	path_in(src, sizeof(src), "locked.db");
	path_in(dst, sizeof(dst), "out-locked.db");
	make_db(src, 0);
	REQUIRE(pipe(ready) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		sqlite3 *db = NULL;
		if (sqlite3_open(src, &db) != SQLITE_OK)
			_exit(2);
		exec_sql(db, "BEGIN EXCLUSIVE; INSERT INTO summary VALUES (1, 1);");
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		sleep(5);
		_exit(0);
	}
	REQUIRE(read(ready[0], &c, 1) == 1);
	CHECK_RC(cf_dbsnap_take(src, dst, 200, NULL), CF_E_BUSY);
	CHECK(access(dst, F_OK) != 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	/* once the lock is gone the copy works and has only committed rows */
	CHECK_RC(cf_dbsnap_take(src, dst, 2000, NULL), 0);
	CHECK(query_int(dst, "SELECT count(*) FROM summary") == 1);
}

static void corrupt(void)
{
	char src[512], dst[512];
	sqlite3 *db = NULL;
	FILE *f;

	path_in(src, sizeof(src), "corrupt.db");
	path_in(dst, sizeof(dst), "out-corrupt.db");
	make_db(src, 0);
	REQUIRE(sqlite3_open(src, &db) == SQLITE_OK);
	exec_sql(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<2000)"
		     " INSERT INTO items(batch, v) SELECT x, randomblob(200) FROM c");
	sqlite3_close(db);
	/* scribble over a b-tree page in the middle of the items table */
	f = fopen(src, "r+b");
	REQUIRE(f);
	fseek(f, 4096 * 20 + 8, SEEK_SET);
	for (int i = 0; i < 200; i++)
		fputc(0xff, f);
	fclose(f);
	CHECK_RC(cf_dbsnap_check(src, 1), CF_E_CORRUPT);
}

int main(void)
{
	dir = check_tmpdir();
	concurrent_writer();
	bad_inputs();
	locked();
	corrupt();
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
