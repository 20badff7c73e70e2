/* SPDX-License-Identifier: ISC */
#include "backupd/dbsnap.h"
#include "backupd/dbsource.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

/* Map a SQLite result code to ours, logging once with the file and SQLite's message. */
int cf_dbsnap_sql_fail(sqlite3 *db, int rc, const char *what, const char *path)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	cf_log_err("%s %s: %s", what, path, msg);
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		return CF_E_FORMAT;
	case SQLITE_CORRUPT:
		return CF_E_CORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CF_E_BUSY;
	case SQLITE_CANTOPEN:
		return CF_E_NOTFOUND;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return CF_E_IO;
	}
}

int cf_dbsnap_open_source(sqlite3 **out, const char *path, int busy_ms)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0) {
		cf_log_err("message database %s: %s", path, strerror(errno));
		return errno == ENOENT ? CF_E_NOTFOUND : -errno;
	}
	/* Read-only, but not immutable: we must see the -wal the app is writing. */
	/* cfsource: pages read 1 MiB at a time, not one read(2) each (backupd/dbsource.h) */
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
			     cf_dbsource_vfs());
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, busy_ms);
	/* Touch the schema now so "not a database" is reported as such, before copying. */
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		goto fail;
	*out = db;
	return 0;
fail:
	rc = cf_dbsnap_sql_fail(db, rc, "cannot read message database", path);
	sqlite3_close(db);
	return rc;
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int cf_dbsnap_take(const char *src_path, const char *dest_path, int busy_ms,
		   struct cf_dbsnap_info *info)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *bk = NULL;
	int fd, rc, r;

	/* Create the destination 0600 ourselves: it holds the user's messages in clear. */
	fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = errno == EEXIST ? CF_E_EXISTS : -errno;
		cf_log_err("cannot create %s: %s", dest_path, strerror(errno));
		return r;
	}
	close(fd);

	r = cf_dbsnap_open_source(&src, src_path, busy_ms);
	if (r)
		goto fail;
	rc = sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = cf_dbsnap_sql_fail(dst, rc, "cannot open copy", dest_path);
		goto fail;
	}
	/* A scratch copy: no journal, no fsync (it is deleted after the backup run). */
	sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
	bk = sqlite3_backup_init(dst, "main", src, "main");
	if (!bk) {
		r = cf_dbsnap_sql_fail(dst, sqlite3_errcode(dst), "cannot start backup of", src_path);
		goto fail;
	}
	/* One step for all pages: a single read transaction, never restarted. */
	rc = sqlite3_backup_step(bk, -1);
	if (rc != SQLITE_DONE) {
		r = cf_dbsnap_sql_fail(src, rc, "backup of message database", src_path);
		goto fail;
	}
	rc = sqlite3_backup_finish(bk);
	bk = NULL;
	if (rc != SQLITE_OK) {
		r = cf_dbsnap_sql_fail(dst, rc, "finishing copy", dest_path);
		goto fail;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		info->page_size = (uint32_t)pragma_int(dst, "PRAGMA page_size");
		info->pages = (uint64_t)pragma_int(dst, "PRAGMA page_count");
		info->bytes = (uint64_t)info->page_size * info->pages;
		info->data_version = (uint64_t)pragma_int(src, "PRAGMA data_version");
	}
	sqlite3_close(src);
	if (sqlite3_close(dst) != SQLITE_OK) {
		cf_log_err("closing copy %s failed", dest_path);
		unlink(dest_path);
		return CF_E_IO;
	}
	return 0;
fail:
	if (bk)
		sqlite3_backup_finish(bk);
	sqlite3_close(src);
	sqlite3_close(dst);
	unlink(dest_path);
	return r;
}

int cf_dbsnap_check(const char *path, int full)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *res;
	int rc, r = 0;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check",
					-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = cf_dbsnap_sql_fail(db, rc, "cannot check database", path);
		goto out;
	}
	res = (const char *)sqlite3_column_text(st, 0);
	if (!res || strcmp(res, "ok") != 0) {
		cf_log_err("database %s failed its %s: %s", path,
			   full ? "integrity check" : "quick check", res ? res : "?");
		r = CF_E_CORRUPT;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}
