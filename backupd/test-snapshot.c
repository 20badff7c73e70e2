/* SPDX-License-Identifier: ISC */
/*
 * A backup run end to end against a file:// repository: what the snapshot holds (read
 * back as a tar stream and extracted by tar(1)), the file cache, vanished files, the
 * stop flag, and the store checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backupd/snapshot.h"
#include "core/core.h"
#include "core/error.h"
#include "repo/archive.h"
#include "repo/dbmap.h"
#include "tests/lib/check.h"

static char *dir;
static char store[4200], state[4200], cache[4200], url[4200], x[4200];
static uint8_t big[700000];

static void put(const char *rel, const void *data, size_t len)
{
	char p[8400];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", store, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql failed: %s: %s\n", sql, err);
		exit(1);
	}
}

static struct cf_session *open_session(void)
{
	struct cf_session_opts o = {
	    .repo_url = url, .state_dir = state, .cache_dir = cache, .create = 1};
	struct cf_session *s = NULL;

	REQUIRE(cf_session_open(&s, &o) == 0);
	return s;
}

/*
 * A progress hook that changes the store while a file is being read: while
 * meddle_path is read, cut its last byte off (meddle_changes times at most: a size
 * change, seen whatever the timestamp granularity) and delete meddle_delete (once).
 * Runs inside cf_body_read, after a block.
 */
static const char *meddle_path, *meddle_delete;
static int meddle_changes;

static void meddle(void *ctx, const struct cf_snapshot_progress *p)
{
	char f[8400];

	(void)ctx;
	if (!meddle_path || !p->path || strcmp(p->path, meddle_path) != 0)
		return;
	if (meddle_changes > 0) {
		struct stat sb;
		snprintf(f, sizeof(f), "%s/%s", store, meddle_path);
		REQUIRE(stat(f, &sb) == 0 && truncate(f, sb.st_size - 1) == 0);
		meddle_changes--;
	}
	if (meddle_delete) {
		snprintf(f, sizeof(f), "%s/%s", store, meddle_delete);
		CHECK(unlink(f) == 0);
		meddle_delete = NULL;
	}
}

static int backup(struct cf_snapshot_result *res, volatile sig_atomic_t *stop)
{
	struct cf_session *s = open_session();
	struct cf_snapshot_opts o = {.store = store, .stop = stop, .progress = meddle};
	int r = cf_snapshot_run(s, &o, res);

	cf_session_free(s);
	return r;
}

struct reader {
	struct cf_repo *r;
	const struct cf_manifest *m;
};

static int next_piece(void *ctx, size_t i, uint8_t **piece, size_t *len)
{
	struct reader *rd = ctx;

	if (i >= rd->m->ntrees) {
		*piece = NULL;
		return 0;
	}
	return cf_repo_get_blob(rd->r, CF_BLOB_TREE, rd->m->trees + i * 32, piece, len);
}

static int fetch(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len, uint8_t **data)
{
	struct reader *rd = ctx;
	size_t got = 0;
	int r = cf_repo_get_blob(rd->r, CF_BLOB_DATA, id, data, &got);

	if (!r && got != len) {
		free(*data);
		return CF_E_CORRUPT;
	}
	return r;
}

/* repo/dbmap.h's fetch: any blob of the repository. */
static int get_any(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES], uint8_t **data,
                   size_t *len)
{
	return cf_repo_get_blob(ctx, (enum cf_blob_type)type, id, data, len);
}

/* Export the newest snapshot as a tar file; return its manifest's vanished count. */
static size_t export_latest(const char *tar_path, uint64_t *nsnaps)
{
	struct cf_session *s = open_session();
	struct cf_tree_reader *tr = NULL;
	struct cf_tarstream *ts = NULL;
	struct reader rd = {.r = s->repo};
	struct cf_dbmap_src dbsrc = {.get = get_any, .ctx = s->repo};
	size_t nv;
	int fd;

	REQUIRE(cf_session_load_snapshots(s) == 0);
	*nsnaps = cf_snapshots_count(s->snaps);
	REQUIRE(cf_snapshots_find(s->snaps, "latest", &rd.m) == 0);
	CHECK(rd.m->has_db && strcmp(rd.m->db.path, "chat.db") == 0 && rd.m->db.pages > 0);
	CHECK(rd.m->store[0] == '/');
	nv = rd.m->nvanished;
	REQUIRE(cf_tree_reader_new(&tr, next_piece, &rd) == 0);
	REQUIRE(cf_tarstream_new(&ts, tr, fetch, &rd) == 0);
	REQUIRE(cf_tarstream_set_body_source(ts, cf_dbmap_body_source(), &dbsrc) == 0);
	fd = open(tar_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	CHECK_RC(cf_tarstream_export(ts, fd), 0);
	close(fd);
	cf_tarstream_free(ts);
	cf_tree_reader_free(tr);
	cf_session_free(s);
	return nv;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[20000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int64_t rows(const char *db_path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM message", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_checks(void)
{
	char why[4300], p[8400];

	CHECK_RC(cf_snapshot_check_store(store, why, sizeof(why)), 0);
	snprintf(p, sizeof(p), "%s/absent", dir);
	CHECK_RC(cf_snapshot_check_store(p, why, sizeof(why)), CF_E_NOTFOUND);
	snprintf(p, sizeof(p), "%s/Attachments/aa/f2.bin", store);
	CHECK_RC(cf_snapshot_check_store(p, why, sizeof(why)), -ENOTDIR);
	CHECK(strstr(why, "not a folder") != NULL);
	snprintf(p, sizeof(p), "%s/Attachments", store);
	CHECK_RC(cf_snapshot_check_store(p, why, sizeof(why)), CF_E_NOTFOUND);
	CHECK(strstr(why, "chat.db") != NULL);
	snprintf(p, sizeof(p), "%s/other", store);
	CHECK_RC(cf_snapshot_check_store(p, why, sizeof(why)), CF_E_FORMAT); /* text chat.db */
	CHECK(strstr(why, "not a SQLite database") != NULL);
}

int main(void)
{
	/* one reader: the meddling below relies on files being read in walk order */
	setenv("COFFER_THREADS", "1", 1);
	struct cf_snapshot_result res = {0};
	struct cf_keychain *kc = NULL;
	volatile sig_atomic_t stop = 0;
	sqlite3 *live = NULL;
	char p[8400], tar[8400];
	uint64_t nsnaps = 0;

	REQUIRE(cf_core_init() == 0);
	dir = check_tmpdir();
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(url, sizeof(url), "file://%s/repo", dir);
	snprintf(tar, sizeof(tar), "%s/out.tar", dir);
	snprintf(x, sizeof(x), "%s/x", dir);
	REQUIRE(cf_keychain_create(&kc, state, NULL) == 0);
	cf_keychain_free(kc);

	/* a store: a WAL database with uncheckpointed rows, attachments, another folder */
	REQUIRE(mkdir(store, 0700) == 0);
	snprintf(p, sizeof(p), "%s/chat.db", store);
	REQUIRE(sqlite3_open(p, &live) == SQLITE_OK);
	exec_sql(live, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
	               "CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT);"
	               "CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY, filename TEXT);"
	               "INSERT INTO attachment (filename) VALUES"
	               " ('~/Library/Messages/Attachments/aa/f1.bin'),"
	               " ('~/Library/Messages/Attachments/aa/f2.bin'),"
	               " ('~/Library/Messages/Attachments/bb/gone.bin');"
	               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<500)"
	               " INSERT INTO message (text) SELECT 'hello ' || i FROM c;"
	               /* about 900 pages: several page groups, streamed one after another */
	               "CREATE TABLE pad (b BLOB); INSERT INTO pad VALUES (randomblob(3600000));");
	/* @live stays open: the rows live in chat.db-wal */
	snprintf(p, sizeof(p), "%s/chat.db-wal", store);
	REQUIRE(access(p, F_OK) == 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	snprintf(p, sizeof(p), "%s/Attachments", store);
	REQUIRE(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/Attachments/aa", store);
	REQUIRE(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/Attachments/empty", store);
	REQUIRE(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/other", store);
	REQUIRE(mkdir(p, 0755) == 0);
	put("Attachments/aa/f1.bin", big, sizeof(big));
	put("Attachments/aa/f2.bin", "small", 5);
	put("other/chat.db", "a text file named like the database", 35);
	test_checks();

	/* first backup */
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(res.seq == 1);
	CHECK(res.files == 4 && res.files_read == 4 && res.files_unchanged == 0);
	CHECK(res.dirs == 4);
	CHECK(res.bytes > sizeof(big) + 40);
	CHECK(res.new_bytes >= res.bytes && res.stored_bytes > 0);
	CHECK(res.nvanished == 1 && strcmp(res.vanished[0], "Attachments/bb/gone.bin") == 0);
	CHECK(res.db_streamed == 1); /* no temporary copy */
	cf_snapshot_result_clear(&res);

	CHECK(export_latest(tar, &nsnaps) == 1);
	CHECK(nsnaps == 1);
	REQUIRE(mkdir(x, 0700) == 0);
	CHECK(sh("tar -xf '%s' -C '%s'", tar, x) == 0);
	CHECK(sh("tar -tf '%s' | head -1 | grep -qx chat.db", tar) == 0);
	CHECK(sh("tar -tf '%s' | grep -q -e '-wal' -e '-shm'", tar) != 0);
	CHECK(sh("cmp -s '%s/Attachments/aa/f1.bin' '%s/Attachments/aa/f1.bin'", store, x) == 0);
	CHECK(sh("cmp -s '%s/other/chat.db' '%s/other/chat.db'", store, x) == 0);
	snprintf(p, sizeof(p), "%s/Attachments/empty", x);
	CHECK(access(p, F_OK) == 0);
	snprintf(p, sizeof(p), "%s/chat.db", x);
	CHECK(rows(p) == 500); /* the WAL content is in the copy */

	/* second backup, through the temporary copy: the same pages, nothing new stored */
	setenv("COFFER_DB_COPY", "1", 1);
	CHECK_RC(backup(&res, NULL), 0);
	unsetenv("COFFER_DB_COPY");
	CHECK(res.seq == 2 && res.files == 4 && res.files_read == 1 && res.files_unchanged == 3);
	CHECK(res.db_streamed == 0);
	CHECK(res.new_bytes == 0);
	cf_snapshot_result_clear(&res);
	CHECK(export_latest(tar, &nsnaps) == 1); /* gone.bin is still named */
	CHECK(sh("tar -xOf '%s' chat.db | cmp -s - '%s/chat.db'", tar, x) == 0);

	/* a changed file is read again; a new one too */
	exec_sql(live, "DELETE FROM attachment WHERE filename LIKE '%gone.bin'");
	put("Attachments/aa/f2.bin", "smaller", 7);
	put("Attachments/aa/f3.bin", big, 1000);
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(res.seq == 3 && res.files == 5 && res.files_read == 3 && res.files_unchanged == 2);
	CHECK(res.nvanished == 0);
	cf_snapshot_result_clear(&res);

	/* changed while read once: read again, recorded in the file cache; a later file
	 * deleted between the listing and its reading: vanished (a file found unchanged
	 * in the file cache is not opened: it is kept as listed) */
	put("Attachments/aa/f4.bin", "to be deleted", 13);
	put("Attachments/aa/f1.bin", big, sizeof(big) - 10);
	meddle_path = "Attachments/aa/f1.bin";
	meddle_changes = 1;
	meddle_delete = "Attachments/aa/f4.bin";
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(meddle_changes == 0 && meddle_delete == NULL);
	CHECK(res.files == 5 && res.files_read == 2 && res.files_unchanged == 3);
	CHECK(res.nvanished == 1 && strcmp(res.vanished[0], "Attachments/aa/f4.bin") == 0);
	cf_snapshot_result_clear(&res);
	meddle_path = NULL;
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(res.files_read == 1 && res.files_unchanged == 4); /* f1 as re-read is cached */
	CHECK(res.nvanished == 0);
	cf_snapshot_result_clear(&res);
	CHECK(export_latest(tar, &nsnaps) == 0);
	CHECK(sh("rm -rf '%s' && mkdir '%s' && tar -xf '%s' -C '%s'", x, x, tar, x) == 0);
	CHECK(sh("cmp -s '%s/Attachments/aa/f1.bin' '%s/Attachments/aa/f1.bin'", store, x) == 0);

	/* changed during both reads: stored as read (size = what was read), not cached */
	put("Attachments/aa/f1.bin", big, sizeof(big) - 10);
	meddle_path = "Attachments/aa/f1.bin";
	meddle_changes = 2;
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(meddle_changes == 0);
	CHECK(res.files_read == 2 && res.files_unchanged == 3);
	cf_snapshot_result_clear(&res);
	meddle_path = NULL;
	CHECK(export_latest(tar, &nsnaps) == 0);
	CHECK(sh("rm -rf '%s' && mkdir '%s' && tar -xf '%s' -C '%s'", x, x, tar, x) == 0);
	CHECK(sh("test \"$(stat -c %%s '%s/Attachments/aa/f1.bin')\" = %zu", x, sizeof(big) - 11) ==
	      0);
	CHECK_RC(backup(&res, NULL), 0);
	CHECK(res.files_read == 2 && res.files_unchanged == 3); /* f1 read again */
	cf_snapshot_result_clear(&res);

	/* the stop flag: -EINTR, no manifest */
	stop = 1;
	res.seq = 77;
	CHECK_RC(backup(&res, &stop), -EINTR);
	CHECK(res.seq == 77);
	CHECK(export_latest(tar, &nsnaps) == 0);
	CHECK(nsnaps == 7);
	CHECK(sh("tar -tf '%s' | grep -qx Attachments/aa/f3.bin", tar) == 0);

	/* the database copy is gone from the spool */
	CHECK(sh("test -z \"$(find '%s' -name 'backupd-db-*')\"", cache) == 0);

	sqlite3_close(live);
	cf_snapshot_result_clear(&res);
	cf_snapshot_result_clear(NULL);
	check_rmtree(dir);
	return check_finish();
}
