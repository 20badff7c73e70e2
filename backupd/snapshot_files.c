/* SPDX-License-Identifier: ISC */
/* The file half of a backup run: cache lookups, reading, entries, vanished files. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backupd/snapshot-internal.h"
#include "core/error.h"
#include "util/log.h"

void cf_snapshot_report(struct run *x, const char *path)
{
	if (!x->o->progress)
		return;
	pthread_mutex_lock(&x->prog_mu);
	x->prog.path = path;
	x->prog.bytes_done = atomic_load(&x->bytes_read);
	x->o->progress(x->o->ctx, &x->prog);
	x->prog.path = NULL;
	pthread_mutex_unlock(&x->prog_mu);
}

int cf_snapshot_add_entry(struct run *x, const char *path, uint8_t type, uint32_t mode,
                          int64_t mtime, uint32_t mtime_nsec, const struct cf_archive_ref *refs,
                          size_t nrefs, uint64_t size)
{
	struct cf_archive_entry e = {
	    .path = path,
	    .type = type,
	    .body = CF_ARCHIVE_BODY_REFS,
	    .mode = mode & 0777,
	    .size = size,
	    .mtime = mtime,
	    .mtime_nsec = mtime_nsec,
	    .refs = refs,
	    .nrefs = nrefs,
	};
	int r;

	r = cf_archive_header(&e, x->hdr, CF_ARCHIVE_HEADER_MAX, &e.header_len);
	if (!r) {
		e.header = x->hdr;
		r = cf_tree_writer_add(x->tw, &e);
	}
	return r;
}

int cf_snapshot_add_vanished(struct run *x, const char *path)
{
	char *p;

	if (x->nvanished == x->vanished_cap) {
		size_t cap = x->vanished_cap ? x->vanished_cap * 2 : 16;
		char **v = realloc(x->vanished, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->vanished = v;
		x->vanished_cap = cap;
	}
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	x->vanished[x->nvanished++] = p;
	return 0;
}

#define ROW_BATCH 32 /* file-cache rows written per transaction, at most (but see "all") */

static void free_row(struct pending_row *p)
{
	free(p->path);
	free(p->refs);
}

void cf_snapshot_drop_rows(struct run *x)
{
	for (size_t i = 0; i < x->npend; i++)
		free_row(&x->pend[i]);
	free(x->pend);
	x->pend = NULL;
	x->npend = x->pend_cap = 0;
}

/*
 * Write the waiting file-cache rows once their blobs are safe: @all after the index
 * commit, otherwise the leading rows whose blobs are in stored packs (every blob of a
 * row was added before the row was queued, so a durable pack numbered at or after the
 * row's ticket, with all before it, covers them).
 */
int cf_snapshot_flush_rows(struct run *x, int all)
{
	struct cf_cache *c = cf_repo_cache(x->r);
	uint64_t taken, durable;
	size_t k = 0;
	int r;

	if (!x->npend)
		return 0;
	cf_repo_pack_tickets(x->r, &taken, &durable);
	while (k < x->npend && (all || x->pend[k].ticket < durable))
		k++;
	if (!k)
		return 0;
	cf_repo_lock(x->r); /* readers and uploads use the cache too */
	r = cf_cache_begin(c);
	for (size_t i = 0; i < k && !r; i++)
		r = cf_cache_file_put(c, x->pend[i].path, &x->pend[i].st, x->epoch, x->pend[i].refs,
		                      x->pend[i].len, x->run_id);
	if (!r)
		r = cf_cache_commit(c);
	else
		cf_cache_rollback(c);
	cf_repo_unlock(x->r);
	for (size_t i = 0; i < k; i++)
		free_row(&x->pend[i]);
	memmove(x->pend, x->pend + k, (x->npend - k) * sizeof(*x->pend));
	x->npend -= k;
	return r;
}

static int queue_row(struct run *x, const char *abs, const struct cf_file_stat *st,
                     const struct cf_archive_ref *refs, size_t n)
{
	struct pending_row *p;
	uint64_t durable;
	int r;

	/*
	 * Rows of earlier files first (see above), in batches: each flush is one cache
	 * transaction under the repository lock that the readers' blob stores wait for.
	 */
	r = x->npend >= ROW_BATCH ? cf_snapshot_flush_rows(x, 0) : 0;
	if (r)
		return r;
	if (x->npend == x->pend_cap) {
		size_t cap = x->pend_cap ? x->pend_cap * 2 : 64;
		p = realloc(x->pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		x->pend = p;
		x->pend_cap = cap;
	}
	p = &x->pend[x->npend];
	memset(p, 0, sizeof(*p));
	cf_repo_pack_tickets(x->r, &p->ticket, &durable);
	p->st = *st;
	p->path = strdup(abs);
	r = p->path ? cf_refs_encode(refs, n, &p->refs, &p->len) : -ENOMEM;
	if (r) {
		free(p->path);
		return r;
	}
	x->npend++;
	return 0;
}

static void stat_of(const struct stat *sb, struct cf_file_stat *st)
{
	st->size = (uint64_t)sb->st_size;
	st->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	st->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	st->inode = (uint64_t)sb->st_ino;
	st->device = (uint64_t)sb->st_dev;
}

static int stat_same(const struct cf_file_stat *a, const struct cf_file_stat *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       a->inode == b->inode && a->device == b->device;
}

/*
 * The file cache's references for @we when its stat tuple and epoch match and every
 * referenced blob is still known (a pack may have been pruned or lost since): 1 with
 * *@refs / *@n set, 0 for a miss, <0 on error.
 */
static int cached_refs(struct run *x, const char *abs, const struct cf_walk_entry *we,
                       struct cf_archive_ref **refs, size_t *n)
{
	struct cf_cache *c = cf_repo_cache(x->r);
	struct cf_archive_ref *v = NULL;
	uint8_t *enc = NULL;
	size_t len = 0, cnt = 0;
	uint64_t sum = 0;
	int r;

	cf_repo_lock(x->r);
	r = cf_cache_file_get(c, abs, &we->st, x->epoch, &enc, &len);
	cf_repo_unlock(x->r);
	if (r == CF_E_NOTFOUND)
		return 0;
	if (r)
		return r;
	r = cf_refs_decode(enc, len, &v, &cnt);
	free(enc);
	if (r == CF_E_CORRUPT)
		return 0;
	if (r)
		return r;
	for (size_t i = 0; i < cnt; i++) {
		sum += v[i].len;
		/* stored, of this epoch, and not in a pack a prune plan may delete */
		r = cf_repo_blob_usable(x->r, CF_BLOB_DATA, v[i].id);
		if (r == 0)
			goto miss;
		if (r < 0) {
			free(v);
			return r;
		}
	}
	if (sum != we->st.size)
		goto miss;
	*refs = v;
	*n = cnt;
	return 1;
miss:
	free(v);
	return 0;
}

/* Open @rel for reading without following a symlink and without touching atime. */
static int open_file(struct run *x, const char *rel)
{
	int fl = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd = openat(x->rootfd, rel, fl | O_NOATIME);

	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
		fd = openat(x->rootfd, rel, fl);
	return fd < 0 ? -errno : fd;
}

/*
 * Read @rel: 0 with refs/size and the stat tuple it was read under (*@stable 1 when the
 * file did not change while it was read); 1 when it vanished (ENOENT); 2 when it was
 * skipped with a warning; <0 on error.
 */
static int read_file(struct run *x, struct cf_body *body, const struct cf_walk_entry *we,
                     struct cf_archive_ref **refs, size_t *n, uint64_t *size,
                     struct cf_file_stat *st, int *stable)
{
	struct stat before, after;
	struct cf_file_stat a, b;
	int fd, r;

	for (int attempt = 0;; attempt++) {
		fd = open_file(x, we->path);
		if (fd == -ENOENT)
			return 1;
		if (fd < 0) {
			cf_log_warn("skipping %s/%s: %s", x->store, we->path, strerror(-fd));
			return 2;
		}
		if (fstat(fd, &before) < 0) {
			cf_log_warn("skipping %s/%s: %s", x->store, we->path, strerror(errno));
			close(fd);
			return 2;
		}
		if (!S_ISREG(before.st_mode)) {
			cf_log_warn("skipping %s/%s: no longer a regular file", x->store, we->path);
			close(fd);
			return 2;
		}
		r = cf_body_read(body, fd, we->path, refs, n, size);
		if (!r && fstat(fd, &after) < 0)
			r = -errno;
		close(fd);
		if (r)
			return r;
		stat_of(&before, &a);
		stat_of(&after, &b);
		*stable = stat_same(&a, &b) && b.size == *size;
		*st = a;
		if (*stable)
			return 0;
		if (attempt == 1) {
			cf_log_warn("%s/%s changed while it was read: stored as read", x->store,
			            we->path);
			return 0;
		}
		cf_log_debug("%s/%s changed while it was read: reading it again", x->store,
		             we->path);
		free(*refs);
		*refs = NULL;
	}
}

void cf_file_job_clear(struct file_job *j)
{
	free(j->refs);
	free(j->abs);
	memset(j, 0, sizeof(*j));
}

int cf_snapshot_file_plan(struct run *x, const struct cf_walk_entry *we, struct file_job *j)
{
	int r;

	memset(j, 0, sizeof(*j));
	j->size = we->st.size;
	if (asprintf(&j->abs, "%s/%s", x->store, we->path) < 0) {
		j->abs = NULL;
		return -ENOMEM;
	}
	r = cached_refs(x, j->abs, we, &j->refs, &j->n);
	if (r < 0)
		return r;
	j->cached = r;
	return 0;
}

void cf_snapshot_file_read(struct run *x, struct cf_body *body, const struct cf_walk_entry *we,
                           struct file_job *j)
{
	j->rc = read_file(x, body, we, &j->refs, &j->n, &j->size, &j->st, &j->stable);
}

int cf_snapshot_file_commit(struct run *x, const struct cf_walk_entry *we, struct file_job *j)
{
	int r = j->rc;

	if (!j->cached) {
		if (r == 1) {
			cf_log_debug("%s vanished before it could be read", we->path);
			r = cf_snapshot_add_vanished(x, we->path);
			goto out;
		}
		if (r == 2) {
			x->skipped++;
			r = 0;
			goto out;
		}
		if (r)
			goto out;
	} else {
		atomic_fetch_add(&x->bytes_read, j->size);
	}
	r = cf_snapshot_add_entry(x, we->path, CF_ARCHIVE_FILE, we->mode, we->mtime, we->mtime_nsec,
	                          j->refs, j->n, j->size);
	if (r == CF_E_INVAL || r == CF_E_LIMIT) {
		cf_log_warn("skipping %s/%s: %s", x->store, we->path, cf_strerror(r));
		x->skipped++;
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	cf_attnames_mark(x->names, we->path);
	x->files++;
	x->bytes += j->size;
	if (j->cached) {
		x->files_unchanged++;
	} else {
		x->files_read++;
		if (j->stable)
			r = queue_row(x, j->abs, &j->st, j->refs, j->n);
	}
out:
	if (!r) {
		pthread_mutex_lock(&x->prog_mu);
		x->prog.files_done++;
		pthread_mutex_unlock(&x->prog_mu);
		cf_snapshot_report(x, NULL);
	}
	return r;
}
