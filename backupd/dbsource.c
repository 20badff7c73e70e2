/* SPDX-License-Identifier: ISC */
/* The read-ahead VFS for the live database (backupd/dbsource.h). */
#include "backupd/dbsource.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

struct srcfile {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, stored right after this struct */
	uint8_t *buf;       /* the window (main database only; sqlite3_malloc) */
	sqlite3_int64 woff; /* the window's offset in the file */
	int wlen;           /* bytes valid in the window; 0: none */
	int main_db;
};

#define ALIGNED(n) (((n) + 15) & ~(size_t)15)

static sqlite3_vfs *base_vfs;

static struct srcfile *sf(sqlite3_file *f)
{
	return (struct srcfile *)f;
}

static const sqlite3_io_methods *rm(sqlite3_file *f)
{
	return sf(f)->real->pMethods;
}

/* The connection's view may change: the window may be stale from now on. */
static void drop(sqlite3_file *f)
{
	sf(f)->wlen = 0;
}

static int src_close(sqlite3_file *f)
{
	struct srcfile *s = sf(f);
	int rc = s->real->pMethods ? s->real->pMethods->xClose(s->real) : SQLITE_OK;

	sqlite3_free(s->buf);
	s->buf = NULL;
	s->wlen = 0;
	return rc;
}

/* Fill the window holding @off; 0 when it now covers [off, off + amt). */
static int fill(struct srcfile *s, int amt, sqlite3_int64 off)
{
	sqlite3_int64 size = 0, w = off & ~(sqlite3_int64)(CF_DBSOURCE_WINDOW - 1);
	int n;

	s->wlen = 0;
	if (!s->buf)
		s->buf = sqlite3_malloc(CF_DBSOURCE_WINDOW);
	if (!s->buf || s->real->pMethods->xFileSize(s->real, &size) != SQLITE_OK || w >= size)
		return -1;
	n = size - w < CF_DBSOURCE_WINDOW ? (int)(size - w) : (int)CF_DBSOURCE_WINDOW;
	if (off + amt > w + n || s->real->pMethods->xRead(s->real, s->buf, n, w) != SQLITE_OK)
		return -1; /* past the end, or the file shrank: the plain read reports it */
	s->woff = w;
	s->wlen = n;
	return 0;
}

static int src_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct srcfile *s = sf(f);

	if (s->main_db && amt > 0 && amt <= (int)(CF_DBSOURCE_WINDOW / 4) && off >= 0) {
		int hit = s->wlen && off >= s->woff && off + amt <= s->woff + s->wlen;
		if (hit || fill(s, amt, off) == 0) {
			memcpy(buf, s->buf + (off - s->woff), (size_t)amt);
			return SQLITE_OK;
		}
	}
	return rm(f)->xRead(s->real, buf, amt, off);
}

static int src_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	drop(f);
	return rm(f)->xWrite(sf(f)->real, buf, amt, off);
}

static int src_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	drop(f);
	return rm(f)->xTruncate(sf(f)->real, size);
}

static int src_sync(sqlite3_file *f, int flags)
{
	return rm(f)->xSync(sf(f)->real, flags);
}

static int src_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return rm(f)->xFileSize(sf(f)->real, size);
}

static int src_lock(sqlite3_file *f, int level)
{
	drop(f);
	return rm(f)->xLock(sf(f)->real, level);
}

static int src_unlock(sqlite3_file *f, int level)
{
	drop(f);
	return rm(f)->xUnlock(sf(f)->real, level);
}

static int src_reserved(sqlite3_file *f, int *out)
{
	return rm(f)->xCheckReservedLock(sf(f)->real, out);
}

static int src_fcntl(sqlite3_file *f, int op, void *arg)
{
	return rm(f)->xFileControl(sf(f)->real, op, arg);
}

static int src_sector(sqlite3_file *f)
{
	return rm(f)->xSectorSize(sf(f)->real);
}

static int src_devchar(sqlite3_file *f)
{
	return rm(f)->xDeviceCharacteristics(sf(f)->real);
}

static int src_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **p)
{
	drop(f);
	if (rm(f)->iVersion < 2)
		return SQLITE_IOERR_SHMMAP;
	return rm(f)->xShmMap(sf(f)->real, pg, pgsz, extend, p);
}

static int src_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	drop(f);
	if (rm(f)->iVersion < 2)
		return SQLITE_IOERR_SHMLOCK;
	return rm(f)->xShmLock(sf(f)->real, offset, n, flags);
}

static void src_shm_barrier(sqlite3_file *f)
{
	drop(f);
	if (rm(f)->iVersion >= 2)
		rm(f)->xShmBarrier(sf(f)->real);
}

static int src_shm_unmap(sqlite3_file *f, int del)
{
	drop(f);
	if (rm(f)->iVersion < 2)
		return SQLITE_OK;
	return rm(f)->xShmUnmap(sf(f)->real, del);
}

static int src_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	*pp = NULL;
	if (rm(f)->iVersion < 3)
		return SQLITE_OK; /* no memory map: SQLite reads instead */
	return rm(f)->xFetch(sf(f)->real, off, amt, pp);
}

static int src_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	if (rm(f)->iVersion < 3)
		return SQLITE_OK;
	return rm(f)->xUnfetch(sf(f)->real, off, p);
}

static const sqlite3_io_methods src_io = {
    .iVersion = 3,
    .xClose = src_close,
    .xRead = src_read,
    .xWrite = src_write,
    .xTruncate = src_truncate,
    .xSync = src_sync,
    .xFileSize = src_size,
    .xLock = src_lock,
    .xUnlock = src_unlock,
    .xCheckReservedLock = src_reserved,
    .xFileControl = src_fcntl,
    .xSectorSize = src_sector,
    .xDeviceCharacteristics = src_devchar,
    .xShmMap = src_shm_map,
    .xShmLock = src_shm_lock,
    .xShmBarrier = src_shm_barrier,
    .xShmUnmap = src_shm_unmap,
    .xFetch = src_fetch,
    .xUnfetch = src_unfetch,
};

static int src_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct srcfile *s = sf(f);
	int rc;

	(void)vfs;
	memset(s, 0, sizeof(*s));
	s->real = (sqlite3_file *)((char *)f + ALIGNED(sizeof(*s)));
	memset(s->real, 0, (size_t)base_vfs->szOsFile);
	rc = base_vfs->xOpen(base_vfs, name, s->real, flags, out);
	/* SQLite calls xClose whenever pMethods is set, even after a failed open */
	f->pMethods = s->real->pMethods ? &src_io : NULL;
	s->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
	return rc;
}

static int src_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	(void)vfs;
	return base_vfs->xDelete(base_vfs, name, sync);
}

static int src_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int src_fullname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *src_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return base_vfs->xDlOpen(base_vfs, name);
}

static void src_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	base_vfs->xDlError(base_vfs, n, msg);
}

static void (*src_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return base_vfs->xDlSym(base_vfs, h, sym);
}

static void src_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	base_vfs->xDlClose(base_vfs, h);
}

static int src_random(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int src_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return base_vfs->xSleep(base_vfs, us);
}

static int src_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return base_vfs->xCurrentTime(base_vfs, t);
}

static int src_lasterror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, msg) : 0;
}

static int src_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	double d = 0;
	int rc;

	(void)vfs;
	if (base_vfs->iVersion >= 2 && base_vfs->xCurrentTimeInt64)
		return base_vfs->xCurrentTimeInt64(base_vfs, t);
	rc = base_vfs->xCurrentTime(base_vfs, &d);
	*t = (sqlite3_int64)(d * 86400000.0);
	return rc;
}

static sqlite3_vfs src_vfs = {
    .iVersion = 2,
    .zName = CF_DBSOURCE_VFS,
    .xOpen = src_open,
    .xDelete = src_delete,
    .xAccess = src_access,
    .xFullPathname = src_fullname,
    .xDlOpen = src_dlopen,
    .xDlError = src_dlerror,
    .xDlSym = src_dlsym,
    .xDlClose = src_dlclose,
    .xRandomness = src_random,
    .xSleep = src_sleep,
    .xCurrentTime = src_time,
    .xGetLastError = src_lasterror,
    .xCurrentTimeInt64 = src_time64,
};

static int vfs_rc = SQLITE_ERROR;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;

static void vfs_register(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	if (!base_vfs)
		return;
	src_vfs.szOsFile = (int)(ALIGNED(sizeof(struct srcfile)) + (size_t)base_vfs->szOsFile);
	src_vfs.mxPathname = base_vfs->mxPathname;
	vfs_rc = sqlite3_vfs_register(&src_vfs, 0);
}

const char *cf_dbsource_vfs(void)
{
	pthread_once(&vfs_once, vfs_register);
	return vfs_rc == SQLITE_OK ? CF_DBSOURCE_VFS : NULL;
}
