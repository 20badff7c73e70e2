/* SPDX-License-Identifier: ISC */
/* The planner of the parallel restorer (restore/plan.h). */
#include "restore/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "restore/pool.h"
#include "restore/snapread.h"
#include "util/log.h"

#define PENDING_BUNDLES 16 /* database bundles gathered before they are handed over */

/* A folder's final mode and time, applied at the end (deepest first; last record wins). */
struct dirrec {
	char *path;
	mode_t mode;
	struct timespec mtime; /* tv_nsec UTIME_OMIT: leave the time (a parent we created) */
	size_t seq;
};

struct plan {
	const struct cf_plan_opts *o;
	int tfd;
	mode_t umask;
	struct cf_pool *pool;
	struct dirrec *dirs;
	size_t ndirs, dcap;
	char *lastdir; /* the last parent folder known to exist below the target */
	struct cf_extract_stats st;
	struct timespec shown;
	/* the database body being planned: bundles gathered per group of pages */
	struct cf_pool_file *dbf;
	uint64_t group;
	struct cf_pool_item *pend[PENDING_BUNDLES];
	size_t npend;
	uint64_t gbase, gbytes; /* the group's range so far (its extents follow each other) */
	int gsplit;             /* some of the group's bundles were handed over already */
};

/* ---------------------------------------------------------------------------------- */
/* The tar header's mode and time, as libarchive reads them                            */

/* A ustar number field: octal, or base-256 (first byte 0x80 positive, 0xff negative). */
static int64_t number_field(const uint8_t *f, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] == 0x80 || f[0] == 0xff) {
		v = f[0] == 0xff ? UINT64_MAX : 0;
		for (i = 1; i < n; i++)
			v = v << 8 | f[i];
		return (int64_t)v;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(f[i] - '0');
	return (int64_t)v;
}

/* The pax "mtime" value "[-]S[.F]" of @v (@n bytes). Returns 0 when it parses. */
static int pax_time(const uint8_t *v, size_t n, struct timespec *ts)
{
	int64_t s = 0, ns = 0, scale = 100000000;
	size_t i = 0;
	int neg = 0;

	if (i < n && v[i] == '-') {
		neg = 1;
		i++;
	}
	if (i == n || v[i] < '0' || v[i] > '9')
		return -1;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		s = s > INT64_MAX / 10 - 10 ? INT64_MAX / 10 : s * 10 + (v[i] - '0');
	if (i < n && v[i] == '.')
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, scale /= 10)
			ns += (v[i] - '0') * scale;
	ts->tv_sec = (time_t)(neg ? -s : s);
	ts->tv_nsec = (long)ns;
	if (neg && ns) { /* -1.25 is 1.25 s before the epoch */
		ts->tv_sec--;
		ts->tv_nsec = 1000000000L - (long)ns;
	}
	return 0;
}

/* The "mtime" record of a pax extended header's data, if any (the tree reader checked
 * the records' syntax). */
static int pax_mtime(const uint8_t *p, size_t n, struct timespec *ts)
{
	while (n > 0) {
		size_t len = 0, sp = 0;
		const uint8_t *key;

		while (sp < n && p[sp] >= '0' && p[sp] <= '9')
			len = len * 10 + (size_t)(p[sp++] - '0');
		if (sp == 0 || len <= sp + 1 || len > n)
			return -1;
		key = p + sp + 1;
		if (len - sp - 2 > 6 && memcmp(key, "mtime=", 6) == 0)
			return pax_time(key + 6, len - sp - 2 - 6, ts);
		p += len;
		n -= len;
	}
	return -1;
}

/* Mode and time of @e from its header; CF_E_UNSAFE for setuid/setgid/sticky. */
static int header_meta(const struct cf_archive_entry *e, mode_t *mode, struct timespec *mtime)
{
	const uint8_t *u = e->header + e->header_len - CF_TAR_BLOCK;
	int64_t m = number_field(u + 100, 8);

	if (m & 07000)
		return CF_E_UNSAFE;
	*mode = (mode_t)(m & 0777);
	mtime->tv_sec = (time_t)number_field(u + 136, 12);
	mtime->tv_nsec = 0;
	if (e->header_len > CF_TAR_BLOCK) {
		int64_t dlen = number_field(e->header + 124, 12);

		if (dlen > 0 && (uint64_t)dlen <= e->header_len - 2 * CF_TAR_BLOCK)
			(void)pax_mtime(e->header + CF_TAR_BLOCK, (size_t)dlen, mtime);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Folders                                                                             */

static int dir_record(struct plan *p, const char *path, size_t len, mode_t mode,
                      const struct timespec *mtime)
{
	struct dirrec *d;

	if (p->ndirs == p->dcap) {
		size_t cap = p->dcap ? p->dcap * 2 : 64;
		struct dirrec *nd = realloc(p->dirs, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		p->dirs = nd;
		p->dcap = cap;
	}
	d = &p->dirs[p->ndirs];
	d->path = strndup(path, len);
	if (!d->path)
		return -ENOMEM;
	d->mode = mode;
	d->mtime = *mtime;
	d->seq = p->ndirs++;
	return 0;
}

static int refuse(const char *path, const char *why)
{
	char shown[256];

	cf_log_err("refusing archive entry \"%s\": %s",
	           cf_archive_printable(path, shown, sizeof(shown)), why);
	return CF_E_UNSAFE;
}

static int fs_fail(const char *what, const char *path, int e)
{
	char shown[256];

	cf_log_err("cannot %s \"%s\": %s", what, cf_archive_printable(path, shown, sizeof(shown)),
	           strerror(e));
	return -e;
}

/* Create folder @path (@len bytes of it) 0700 unless it exists; *@made: it was created. */
static int make_dir(struct plan *p, const char *path, size_t len, const char *entry, int *made)
{
	char buf[CF_ARCHIVE_PATH_MAX + 1];
	struct stat st;

	memcpy(buf, path, len);
	buf[len] = '\0';
	*made = 0;
	if (mkdirat(p->tfd, buf, 0700) == 0) {
		*made = 1;
		return 0;
	}
	if (errno != EEXIST)
		return fs_fail("create the folder for", entry, errno);
	if (fstatat(p->tfd, buf, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return fs_fail("examine the folder for", entry, errno);
	if (!S_ISDIR(st.st_mode))
		return refuse(entry, "a file of that name was restored before");
	return 0;
}

/* Remember that folder @path (@len bytes of it) exists. */
static void known_dir(struct plan *p, const char *path, size_t len)
{
	free(p->lastdir);
	p->lastdir = strndup(path, len); /* NULL (out of memory): merely slower */
}

/* The folders above @path, created (mode 0777 & ~umask at the end, like libarchive's). */
static int make_parents(struct plan *p, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0, known = 0;
	struct timespec keep = {.tv_nsec = UTIME_OMIT};
	int rc = 0, made;

	/* the folders on the way to the last one known to exist (usually the previous
	 * entry's) exist: skip the leading folders @path shares with it */
	if (p->lastdir) {
		size_t ll = strlen(p->lastdir), c = 0;

		while (c < ll && c < plen && p->lastdir[c] == path[c])
			c++;
		if ((c == plen || path[c] == '/') && (c == ll || p->lastdir[c] == '/'))
			known = c;
		else /* back to the last folder boundary inside the shared part */
			for (known = c; known > 0 && path[--known] != '/';)
				;
	}
	if (!plen || known == plen)
		return 0;
	for (size_t i = known + 1; i <= plen && !rc; i++) {
		if (i < plen && path[i] != '/')
			continue;
		rc = make_dir(p, path, i, path, &made);
		if (!rc && made)
			rc = dir_record(p, path, i, 0777 & ~p->umask, &keep);
	}
	if (!rc)
		known_dir(p, path, plen);
	return rc;
}

static int dirrec_cmp(const void *a, const void *b)
{
	const struct dirrec *x = a, *y = b;
	int c = strcmp(y->path, x->path); /* descending: children before parents */

	return c ? c : x->seq < y->seq ? 1 : -1; /* the latest record of a path first */
}

static int apply_dirs(struct plan *p)
{
	if (!p->ndirs)
		return 0;
	qsort(p->dirs, p->ndirs, sizeof(*p->dirs), dirrec_cmp);
	for (size_t i = 0; i < p->ndirs; i++) {
		struct dirrec *d = &p->dirs[i];
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, d->mtime};

		if (i && !strcmp(d->path, p->dirs[i - 1].path))
			continue; /* an earlier record of the same folder */
		if (fchmodat(p->tfd, d->path, d->mode, 0) != 0 ||
		    (d->mtime.tv_nsec != UTIME_OMIT &&
		     utimensat(p->tfd, d->path, ts, AT_SYMLINK_NOFOLLOW) != 0))
			return fs_fail("set the mode or time of", d->path, errno);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Files                                                                               */

static int open_file(struct plan *p, const struct cf_archive_entry *e, int *out)
{
	struct stat st;

	for (int tries = 0; tries < 2; tries++) {
		int fd = openat(p->tfd, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		                0600);

		if (fd >= 0) {
			*out = fd;
			return 0;
		}
		if (errno != EEXIST)
			break;
		if (fstatat(p->tfd, e->path, &st, AT_SYMLINK_NOFOLLOW) != 0)
			break;
		if (!S_ISREG(st.st_mode))
			return refuse(e->path, "a folder of that name was restored before");
		/* the path came twice: the later entry replaces the earlier, as tar does */
		if (unlinkat(p->tfd, e->path, 0) != 0)
			break;
	}
	return fs_fail("create", e->path, errno);
}

static int refs_items(struct plan *p, struct cf_pool_file *f, const struct cf_archive_entry *e)
{
	uint64_t off = 0;
	int rc = 0;

	for (size_t i = 0; i < e->nrefs && !rc; i++) {
		struct cf_pool_item *it = cf_pool_item_new(p->pool, f, e->refs[i].id, e->refs[i].len, 1);

		if (!it)
			return -ENOMEM;
		it->copy[0] = (struct cf_pool_copy){.dst = off, .src = 0, .len = e->refs[i].len};
		it->ncopies = 1;
		it->seq = i + 1; /* written front to back: pool_direct.c, slot_next */
		off += e->refs[i].len;
		rc = cf_pool_submit(p->pool, it);
	}
	return rc;
}

static int flush_bundles(struct plan *p)
{
	int rc = 0;

	/* a whole group going out direct: one worker assembles it, one aligned write */
	if (p->npend && !p->gsplit && p->dbf && p->dbf->dfd >= 0 &&
	    p->gbytes <= CF_POOL_DIRECT_STEP) {
		rc = cf_pool_submit_group(p->pool, p->pend, p->npend, p->gbase, (uint32_t)p->gbytes);
		memset(p->pend, 0, p->npend * sizeof(p->pend[0]));
		p->npend = 0;
		return rc;
	}

	for (size_t i = 0; i < p->npend; i++) {
		int r = cf_pool_submit(p->pool, p->pend[i]);

		if (r && !rc)
			rc = r;
		p->pend[i] = NULL;
	}
	p->npend = 0;
	return rc;
}

/* cf_dbmap_extent_fn: gather the extents of each bundle within a group of pages. */
static int on_extent(void *ctx, uint32_t ps, uint64_t page, uint32_t count,
                     const struct cf_dbmap_loc *loc)
{
	struct plan *p = ctx;
	struct cf_pool_item *it = NULL;
	uint64_t group = page / CF_DBMAP_BUNDLE_PAGES;
	int rc = 0;

	if (group != p->group) {
		rc = flush_bundles(p);
		p->gbase = page * ps;
		p->gbytes = 0;
		p->gsplit = 0;
	}
	p->group = group;
	p->gbytes += (uint64_t)count * ps;
	for (size_t i = 0; i < p->npend && !it; i++)
		if (!memcmp(p->pend[i]->id, loc->id, CF_BLOB_ID_BYTES) &&
		    p->pend[i]->len == (uint32_t)loc->bundle_pages * ps &&
		    p->pend[i]->ncopies < p->pend[i]->cap)
			it = p->pend[i];
	if (!it && !rc) {
		if (p->npend == PENDING_BUNDLES) {
			p->gsplit = 1; /* the group's bundles go out one by one */
			rc = flush_bundles(p);
		}
		it = rc ? NULL
		        : cf_pool_item_new(p->pool, p->dbf, loc->id, (uint32_t)loc->bundle_pages * ps,
		                           CF_DBMAP_BUNDLE_PAGES);
		if (!it && !rc)
			rc = -ENOMEM;
		if (it)
			p->pend[p->npend++] = it;
	}
	if (rc)
		return rc;
	/* cf_dbmap_extents checked slot + count <= bundle pages */
	it->copy[it->ncopies++] = (struct cf_pool_copy){
	    .dst = page * ps, .src = (uint32_t)loc->slot * ps, .len = count * ps};
	return 0;
}

static int chunklist_items(struct plan *p, struct cf_pool_file *f, const struct cf_archive_entry *e)
{
	int rc;

	p->dbf = f;
	p->group = UINT64_MAX;
	rc = cf_dbmap_extents(&e->refs[0], e->size, p->o->get, p->o->gctx, on_extent, p);
	if (rc) {
		for (size_t i = 0; i < p->npend; i++) {
			cf_pool_file_put(p->pool, p->pend[i]->file);
			free(p->pend[i]);
		}
		p->npend = 0;
	} else {
		rc = flush_bundles(p);
	}
	p->dbf = NULL;
	return rc;
}

static int plan_file(struct plan *p, const struct cf_archive_entry *e, mode_t mode,
                     const struct timespec *mtime)
{
	struct cf_pool_file *f;
	int fd = -1, rc;

	rc = open_file(p, e, &fd);
	if (rc)
		return rc;
	if (e->size && ftruncate(fd, (off_t)e->size) != 0) {
		rc = fs_fail("write", e->path, errno);
		close(fd);
		return rc;
	}
	f = cf_pool_file_new(fd, e->path, mode, mtime);
	if (!f)
		return -ENOMEM;
	cf_pool_file_direct(p->pool, f, p->tfd, e->size); /* whole pages past the page cache */
	if (e->body == CF_ARCHIVE_BODY_CHUNKLIST)
		rc = chunklist_items(p, f, e);
	else
		rc = refs_items(p, f, e);
	cf_pool_file_put(p->pool, f); /* the planner's reference */
	if (!rc)
		p->st.files++;
	return rc;
}

/* ---------------------------------------------------------------------------------- */

static int selected(const struct cf_plan_opts *o, const char *path)
{
	if (!o->npaths)
		return 1;
	for (size_t i = 0; i < o->npaths; i++)
		if (cf_snapread_path_selected(path, o->paths[i]))
			return 1;
	return 0;
}

static void progress(struct plan *p, int force)
{
	struct timespec now;

	if (!p->o->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - p->shown.tv_sec) * 1000000000L +
	                      (now.tv_nsec - p->shown.tv_nsec) < 250000000L)
		return;
	p->shown = now;
	p->st.bytes = cf_pool_bytes(p->pool);
	p->o->progress(p->o->pctx, &p->st);
}

static void tick(void *ctx)
{
	progress(ctx, 1);
}

static int plan_entry(struct plan *p, const struct cf_archive_entry *e)
{
	struct timespec mtime;
	mode_t mode;
	int rc, made;

	if (p->o->stop && *p->o->stop)
		return -EINTR;
	if (!selected(p->o, e->path))
		return 0;
	if (header_meta(e, &mode, &mtime) != 0)
		return refuse(e->path, "has the setuid, setgid or sticky bit");
	rc = make_parents(p, e->path);
	if (rc)
		return rc;
	if (e->type == CF_ARCHIVE_DIR) {
		rc = make_dir(p, e->path, strlen(e->path), e->path, &made);
		if (!rc)
			rc = dir_record(p, e->path, strlen(e->path), mode, &mtime);
		if (!rc)
			known_dir(p, e->path, strlen(e->path)); /* its files usually follow */
		if (!rc)
			p->st.dirs++;
	} else {
		rc = plan_file(p, e, mode, &mtime);
	}
	progress(p, 0);
	return rc;
}

int cf_plan_extract(const char *target, struct cf_tree_reader *tree, const struct cf_plan_opts *o,
                    struct cf_extract_stats *st)
{
	struct plan p = {.o = o, .tfd = -1};
	const struct cf_archive_entry *e = NULL;
	int rc, prc;

	if (st)
		memset(st, 0, sizeof(*st));
	if (!target || !tree || !o || !o->get || (o->npaths && !o->paths))
		return CF_E_INVAL;
	p.tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.tfd < 0) {
		rc = errno == ENOTDIR ? CF_E_INVAL : -errno;
		cf_log_err("cannot open the restore folder %s: %s", target, strerror(errno));
		return rc;
	}
	/* the umask can only be read by setting it: no thread of ours creates files yet */
	p.umask = umask(077);
	umask(p.umask);
	rc = cf_pool_new(&p.pool, o->threads, o->get, o->gctx, o->stop);
	if (!rc)
		cf_pool_set_direct(p.pool, (enum cf_pool_direct)o->direct);
	while (!rc) {
		rc = cf_tree_reader_next(tree, &e);
		if (rc || !e)
			break;
		rc = plan_entry(&p, e);
	}
	if (rc && p.pool)
		cf_pool_fail(p.pool, rc); /* the workers stop at once */
	/* every entry exists: the folders' modes and times while the workers finish (writing
	 * into files already open changes no folder) */
	if (!rc)
		rc = apply_dirs(&p);
	if (rc && p.pool)
		cf_pool_fail(p.pool, rc);
	if (p.pool) {
		prc = cf_pool_finish(p.pool, o->progress ? tick : NULL, &p);
		if (!rc)
			rc = prc;
		p.st.bytes = cf_pool_bytes(p.pool);
		if (o->pool_stats)
			cf_pool_stats(p.pool, o->pool_stats);
	}
	if (rc == -EINTR)
		cf_log_err("interrupted: nothing was restored");
	else if (!rc)
		progress(&p, 1);
	cf_pool_free(p.pool);
	for (size_t i = 0; i < p.ndirs; i++)
		free(p.dirs[i].path);
	free(p.dirs);
	free(p.lastdir);
	close(p.tfd);
	if (st)
		*st = p.st;
	return rc;
}
