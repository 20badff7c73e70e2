/* SPDX-License-Identifier: ISC */
/* The live database streamed page by page into the page store (backupd/dbcapture.h). */
#include "backupd/dbcapture.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/dbmap.h"
#include "util/log.h"

#define GROUP CF_DBMAP_BUNDLE_PAGES
#define VFS_NAME "cfcapture"

/* One capture: the destination "file" as groups of pages. */
struct capture {
	struct cf_dbpages *d;
	uint32_t ps;
	uint8_t *g0;      /* group 0, held until the end (page 1 is rewritten last) */
	uint8_t *cur;     /* the group being filled (group 0: == g0) */
	uint64_t cur_g;
	uint64_t end;     /* bytes: the highest end written, after truncation */
	int broken;       /* SQLite wrote or read back out of order: fall back */
	int err;          /* an error of the page store */
};

struct capfile {
	sqlite3_file base;
	struct capture *c;
};

static int cap_close(sqlite3_file *f)
{
	(void)f;
	return SQLITE_OK;
}

/* Where page @pg (0-based) lives while it may still be read or written; NULL: handed over. */
static uint8_t *page_at(struct capture *c, uint64_t pg)
{
	uint64_t g = pg / GROUP;

	if (g == 0)
		return c->g0 + pg * c->ps;
	if (c->cur && g == c->cur_g)
		return c->cur + (pg - g * GROUP) * c->ps;
	return NULL;
}

static int cap_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct capture *c = ((struct capfile *)f)->c;
	uint64_t pg = (uint64_t)off / c->ps, in = (uint64_t)off % c->ps;
	uint8_t *p;

	if ((uint64_t)off >= c->end) {
		memset(buf, 0, (size_t)amt);
		return SQLITE_IOERR_SHORT_READ;
	}
	p = page_at(c, pg);
	if (!p || in + (uint64_t)amt > c->ps || (uint64_t)off + (uint64_t)amt > c->end) {
		c->broken = 1;
		return SQLITE_IOERR_READ;
	}
	memcpy(buf, p + in, (size_t)amt);
	return SQLITE_OK;
}

/* Hand the current group over and start group @g (zero-filled: pages SQLite skips). */
static int next_group(struct capture *c, uint64_t g)
{
	int r;

	if (c->cur && c->cur != c->g0) {
		r = cf_dbpages_submit(c->d, c->cur, c->cur_g, GROUP);
		c->cur = NULL;
		if (r)
			return r;
	}
	r = cf_dbpages_buffer(c->d, &c->cur);
	if (r) {
		c->cur = NULL;
		return r;
	}
	memset(c->cur, 0, (size_t)GROUP * c->ps);
	c->cur_g = g;
	return 0;
}

static int cap_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct capture *c = ((struct capfile *)f)->c;
	uint64_t pg = (uint64_t)off / c->ps, g = pg / GROUP;
	uint8_t *p;

	if (c->broken || c->err)
		return SQLITE_IOERR_WRITE;
	if ((uint64_t)amt != c->ps || (uint64_t)off % c->ps) {
		c->broken = 1;
		return SQLITE_IOERR_WRITE;
	}
	if (g != 0 && (!c->cur || g != c->cur_g)) {
		if (g != (c->cur == c->g0 ? 1 : c->cur_g + 1)) {
			c->broken = 1; /* a whole group skipped: it may still come, out of order */
			return SQLITE_IOERR_WRITE;
		}
		c->err = next_group(c, g);
		if (c->err)
			return SQLITE_IOERR_WRITE;
	}
	p = page_at(c, pg);
	if (!p) {
		c->broken = 1;
		return SQLITE_IOERR_WRITE;
	}
	memcpy(p, buf, c->ps);
	if ((uint64_t)off + c->ps > c->end)
		c->end = (uint64_t)off + c->ps;
	return SQLITE_OK;
}

static int cap_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct capture *c = ((struct capfile *)f)->c;

	if ((uint64_t)size > c->end)
		return SQLITE_OK; /* only ever shrinks what we know */
	if (c->cur && c->cur != c->g0 && (uint64_t)size < c->cur_g * GROUP * c->ps) {
		c->broken = 1; /* would cut pages already handed over */
		return SQLITE_IOERR_TRUNCATE;
	}
	c->end = (uint64_t)size;
	return SQLITE_OK;
}

static int cap_sync(sqlite3_file *f, int flags)
{
	(void)f;
	(void)flags;
	return SQLITE_OK;
}

static int cap_size(sqlite3_file *f, sqlite3_int64 *size)
{
	*size = (sqlite3_int64)((struct capfile *)f)->c->end;
	return SQLITE_OK;
}

static int cap_lock(sqlite3_file *f, int level)
{
	(void)f;
	(void)level;
	return SQLITE_OK;
}

static int cap_reserved(sqlite3_file *f, int *out)
{
	(void)f;
	*out = 0;
	return SQLITE_OK;
}

static int cap_fcntl(sqlite3_file *f, int op, void *arg)
{
	(void)f;
	(void)op;
	(void)arg;
	return SQLITE_NOTFOUND;
}

static int cap_sector(sqlite3_file *f)
{
	(void)f;
	return 4096;
}

static int cap_devchar(sqlite3_file *f)
{
	(void)f;
	return 0;
}

static const sqlite3_io_methods cap_io = {
    .iVersion = 1,
    .xClose = cap_close,
    .xRead = cap_read,
    .xWrite = cap_write,
    .xTruncate = cap_truncate,
    .xSync = cap_sync,
    .xFileSize = cap_size,
    .xLock = cap_lock,
    .xUnlock = cap_lock,
    .xCheckReservedLock = cap_reserved,
    .xFileControl = cap_fcntl,
    .xSectorSize = cap_sector,
    .xDeviceCharacteristics = cap_devchar,
};

/* The destination's name carries the capture's address: "/cfcapture/<%p>". */
static int cap_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct capfile *cf = (struct capfile *)f;
	void *ptr = NULL;

	(void)vfs;
	f->pMethods = NULL;
	if (!name || !(flags & SQLITE_OPEN_MAIN_DB) || sscanf(name, "/" VFS_NAME "/%p", &ptr) != 1 ||
	    !ptr)
		return SQLITE_CANTOPEN; /* no journal, no temporary files */
	cf->c = ptr;
	f->pMethods = &cap_io;
	if (out)
		*out = flags;
	return SQLITE_OK;
}

static int cap_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	(void)vfs;
	(void)name;
	(void)sync;
	return SQLITE_OK;
}

static int cap_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	(void)name;
	(void)flags;
	*out = 0;
	return SQLITE_OK;
}

static int cap_fullname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	if ((int)strlen(name) >= n)
		return SQLITE_CANTOPEN;
	strcpy(out, name);
	return SQLITE_OK;
}

/* Randomness, sleep and time come from the default VFS. */
static sqlite3_vfs *base_vfs;

static int cap_random(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int cap_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return base_vfs->xSleep(base_vfs, us);
}

static int cap_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return base_vfs->xCurrentTime(base_vfs, t);
}

static sqlite3_vfs cap_vfs = {
    .iVersion = 1,
    .szOsFile = sizeof(struct capfile),
    .mxPathname = 256,
    .zName = VFS_NAME,
    .xOpen = cap_open,
    .xDelete = cap_delete,
    .xAccess = cap_access,
    .xFullPathname = cap_fullname,
    .xRandomness = cap_random,
    .xSleep = cap_sleep,
    .xCurrentTime = cap_time,
};

static int vfs_rc = SQLITE_ERROR;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;

static void vfs_register(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	vfs_rc = base_vfs ? sqlite3_vfs_register(&cap_vfs, 0) : SQLITE_ERROR;
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

/* The backup itself, into the capture @c, inside the source's read transaction. */
static int copy_pages(sqlite3 *src, const char *src_path, struct capture *c, uint64_t *pages)
{
	char name[64];
	sqlite3 *dst = NULL;
	sqlite3_backup *bk = NULL;
	int rc, r = 0;

	snprintf(name, sizeof(name), "/" VFS_NAME "/%p", (void *)c);
	rc = sqlite3_open_v2(name, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                                     SQLITE_OPEN_NOMUTEX, VFS_NAME);
	if (rc != SQLITE_OK)
		return cf_dbsnap_sql_fail(dst, rc, "cannot open the capture of", src_path);
	/* no journal; a small cache, so pages flow out as they are copied */
	sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=16",
	             NULL, NULL, NULL);
	bk = sqlite3_backup_init(dst, "main", src, "main");
	if (!bk) {
		r = cf_dbsnap_sql_fail(dst, sqlite3_errcode(dst), "cannot start backup of", src_path);
		goto out;
	}
	rc = sqlite3_backup_step(bk, -1); /* one step: one read transaction, never restarted */
	if (rc == SQLITE_DONE)
		rc = sqlite3_backup_finish(bk);
	else
		sqlite3_backup_finish(bk);
	if (rc != SQLITE_OK && !c->broken && !c->err)
		r = cf_dbsnap_sql_fail(src, rc, "backup of message database", src_path);
	if (!r && !c->broken && !c->err) {
		/* the size SQLite left, checked against page 1's "in-header database size" */
		const uint8_t *h = c->g0;
		uint64_t n = c->end / c->ps;
		uint32_t hdr = (uint32_t)h[28] << 24 | (uint32_t)h[29] << 16 | (uint32_t)h[30] << 8 | h[31];
		if (n == 0 || c->end % c->ps || hdr != n) {
			cf_log_debug("database capture: header says %u pages, %llu bytes written", hdr,
			             (unsigned long long)c->end);
			c->broken = 1;
		}
		*pages = n;
	}
out:
	sqlite3_close(dst);
	return r;
}

/* Hand over the last group and group 0, with their real page counts. */
static int hand_over(struct capture *c, uint64_t pages)
{
	uint64_t last = (pages - 1) / GROUP;
	int r = 0;

	if (c->cur && c->cur != c->g0) {
		if (c->cur_g != last)
			return CF_E_INVAL;
		r = cf_dbpages_submit(c->d, c->cur, c->cur_g, (size_t)(pages - last * GROUP));
		c->cur = NULL;
	}
	if (!r)
		r = cf_dbpages_submit(c->d, c->g0, 0, (size_t)(pages < GROUP ? pages : GROUP));
	c->g0 = NULL;
	return r;
}

static int read_page_size(sqlite3 *src, const char *path, uint32_t *ps)
{
	int64_t v = pragma_int(src, "PRAGMA page_size");

	if (v < 512 || v > 65536 || (v & (v - 1))) {
		cf_log_err("message database %s: page size %lld not understood", path, (long long)v);
		return CF_E_FORMAT;
	}
	*ps = (uint32_t)v;
	return 0;
}

int cf_dbcapture_take(const char *src_path, int busy_ms, struct cf_repo *repo,
                      const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                      const volatile sig_atomic_t *stop, const char *store_abs,
                      struct cf_dbpages **d, struct cf_attnames **names,
                      struct cf_dbsnap_info *info)
{
	struct capture c = {0};
	struct cf_attnames *an = NULL;
	sqlite3 *src = NULL;
	uint64_t pages = 0;
	int rc, r;

	*d = NULL;
	pthread_once(&vfs_once, vfs_register);
	if (vfs_rc != SQLITE_OK)
		return 0; /* no capture VFS: the caller copies */
	r = cf_dbsnap_open_source(&src, src_path, busy_ms);
	if (r)
		return r;
	/* One read transaction for the names and the pages: they match. */
	rc = sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = cf_dbsnap_sql_fail(src, rc, "cannot read message database", src_path);
		goto out;
	}
	r = read_page_size(src, src_path, &c.ps);
	if (!r)
		r = cf_attnames_load_db(&an, src, src_path, store_abs);
	if (!r)
		r = cf_dbpages_begin(&c.d, repo, c.ps, state, gear_key, 0, stop);
	if (!r)
		r = cf_dbpages_buffer(c.d, &c.g0);
	if (r)
		goto out;
	memset(c.g0, 0, (size_t)GROUP * c.ps);
	c.cur = c.g0;
	c.cur_g = 0;
	r = copy_pages(src, src_path, &c, &pages);
	if (!r && c.err)
		r = c.err;
	if (!r && c.broken) {
		cf_log_debug("database capture of %s out of order: falling back to a copy", src_path);
		goto out;
	}
	if (!r)
		r = hand_over(&c, pages);
	if (r)
		goto out;
	memset(info, 0, sizeof(*info));
	info->page_size = c.ps;
	info->pages = pages;
	info->bytes = pages * c.ps;
	info->data_version = (uint64_t)pragma_int(src, "PRAGMA data_version");
	*d = c.d;
	*names = an;
	c.d = NULL;
	an = NULL;
out:
	sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(src);
	cf_attnames_free(an);
	cf_dbpages_free(c.d); /* on fallback or error: drops what was queued */
	return r;
}
