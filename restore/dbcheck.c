/* SPDX-License-Identifier: ISC */
/* A cheap structural check of a restored database (restore/dbcheck.h). */
#include "restore/dbcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "backupd/dbsnap.h"
#include "core/error.h"
#include "util/log.h"

#define HEADER_BYTES 100

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int header_check(const char *path)
{
	uint8_t h[HEADER_BYTES];
	struct stat st;
	uint32_t ps;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		cf_log_err("cannot check database %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size == 0)
		goto out;
	n = pread(fd, h, sizeof(h), 0);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
		cf_log_err("database %s is not a SQLite database (no SQLite header)", path);
		rc = CF_E_FORMAT;
		goto out;
	}
	ps = be16(h + 16) == 1 ? 65536 : be16(h + 16);
	if (ps < 512 || ps > 65536 || (ps & (ps - 1))) {
		cf_log_err("database %s has an invalid page size (%u)", path, (unsigned)ps);
		rc = CF_E_FORMAT;
	} else if ((uint64_t)st.st_size % ps) {
		cf_log_err("database %s is not a whole number of %u-byte pages (%lld bytes)", path,
		           (unsigned)ps, (long long)st.st_size);
		rc = CF_E_CORRUPT;
	} else if (be32(h + 92) == be32(h + 24) && be32(h + 28) != (uint64_t)st.st_size / ps) {
		cf_log_err("database %s: its header counts %u pages, the file holds %llu", path,
		           (unsigned)be32(h + 28), (unsigned long long)((uint64_t)st.st_size / ps));
		rc = CF_E_CORRUPT;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Read the whole schema through a read-only connection: SQLite parses every entry. */
static int schema_check(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema", -1,
		                        &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		r = cf_dbsnap_sql_fail(db, rc, "cannot read the schema of database", path);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

int cf_dbcheck_structure(const char *path)
{
	int rc = header_check(path);

	return rc ? rc : schema_check(path);
}
