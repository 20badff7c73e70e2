/* SPDX-License-Identifier: ISC */
/* The workers of the parallel restorer (restore/pool.h). */
#include "restore/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/archive.h"
#include "util/log.h"

#define MAX_THREADS 64
#define QUEUE_PER_THREAD 8
#define WAIT_MAX 2 /* fetched items waiting for one file's writer (memory: blobs held) */
#define WRITE_MAX (128u << 10) /* bytes per pwrite: the copy stays in the CPU cache */ /* queued items per worker: each holds an open file */
#define PAGE 4096u                  /* direct writes never share a page with buffered ones */
#define BOUNCE CF_POOL_DIRECT_STEP /* a worker's aligned buffer for direct writes */

struct cf_pool {
	pthread_mutex_t mu;
	pthread_cond_t more; /* an item was queued, the end was announced, or an error */
	pthread_cond_t room; /* an item was taken, or an error */
	pthread_cond_t idle; /* a worker ended */
	pthread_cond_t drained; /* a file's list of handed-over items got shorter, or an error */
	struct cf_pool_item *head, *tail;
	size_t queued, cap;
	unsigned running; /* workers not yet ended */
	int closing;      /* no more items will come */
	int err;          /* the first error; 0 while all is well */
	_Atomic uint64_t bytes;
	int direct;             /* enum cf_pool_direct, AUTO resolved */
	atomic_int nodirect;    /* O_DIRECT was refused: no more tries */
	_Atomic uint64_t dbytes, bbytes, dfiles, fallbacks, test_writes;
	cf_dbmap_get_fn get;
	void *gctx;
	const volatile sig_atomic_t *stop;
	pthread_t *tids;
	unsigned n;   /* threads started */
	int joined;
};

/*
 * One worker per CPU, and one more while direct writes are on (a direct write waits for
 * the device: the extra worker computes meanwhile), at most DEFAULT_MAX: each holds
 * ~9 MiB (three buffers of the largest blob, a bounce and a group buffer), and the memory
 * bar is 64 MiB for the whole process. COFFER_THREADS may ask for more, up to MAX_THREADS.
 */
#define DEFAULT_MAX 4
static int direct_env_off(void)
{
	const char *env = getenv("COFFER_RESTORE_DIRECT");

	return env && !strcmp(env, "0");
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("COFFER_THREADS");

	if (n >= 1 && !direct_env_off())
		n++;
	if (n > DEFAULT_MAX)
		n = DEFAULT_MAX;
	if (env && atoi(env) > 0)
		n = atoi(env);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

void cf_pool_fail(struct cf_pool *p, int err)
{
	pthread_mutex_lock(&p->mu);
	if (!p->err && err)
		p->err = err;
	pthread_cond_broadcast(&p->more);
	pthread_cond_broadcast(&p->room);
	pthread_cond_broadcast(&p->drained);
	pthread_mutex_unlock(&p->mu);
}

static int failed(struct cf_pool *p)
{
	int e;

	pthread_mutex_lock(&p->mu);
	e = p->err;
	pthread_mutex_unlock(&p->mu);
	return e;
}

struct cf_pool_file *cf_pool_file_new(int fd, const char *path, mode_t mode,
                                      const struct timespec *mtime)
{
	size_t n = strlen(path) + 1;
	struct cf_pool_file *f = malloc(sizeof(*f) + n);

	if (!f) {
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->dfd = -1;
	f->align = PAGE;
	atomic_init(&f->buffered, 0);
	f->refs = 1;
	f->writing = 0;
	f->wait_head = f->wait_tail = NULL;
	f->nwait = 0;
	f->mode = mode;
	f->mtime = *mtime;
	memcpy(f->path, path, n);
	return f;
}

void cf_pool_file_put(struct cf_pool *p, struct cf_pool_file *f)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, f->mtime};
	char shown[256];
	int last;

	pthread_mutex_lock(&p->mu);
	last = --f->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (!last)
		return;
	/* every write to the file has returned: now its mode and time */
	if (!failed(p) && (fchmod(f->fd, f->mode) != 0 || futimens(f->fd, ts) != 0)) {
		int e = errno;

		cf_log_err("cannot set the mode or time of \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(e));
		cf_pool_fail(p, -e);
	}
	if (f->dfd >= 0 && close(f->dfd) != 0 && !failed(p)) {
		int e = errno;

		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(e));
		cf_pool_fail(p, -e);
	}
	if (close(f->fd) != 0 && !failed(p)) {
		int e = errno;

		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(e));
		cf_pool_fail(p, -e);
	}
	free(f);
}

struct cf_pool_item *cf_pool_item_new(struct cf_pool *p, struct cf_pool_file *f,
                                      const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len,
                                      uint32_t cap)
{
	struct cf_pool_item *it = calloc(1, sizeof(*it) + (size_t)cap * sizeof(it->copy[0]));

	if (!it)
		return NULL;
	pthread_mutex_lock(&p->mu);
	f->refs++;
	pthread_mutex_unlock(&p->mu);
	it->file = f;
	memcpy(it->id, id, CF_BLOB_ID_BYTES);
	it->len = len;
	it->cap = cap;
	return it;
}

/* Append @it to the list @head/@tail (the queue, or a file's handed-over items). */
static void item_push(struct cf_pool_item **head, struct cf_pool_item **tail,
                      struct cf_pool_item *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

/* Take the first item of the list @head/@tail, or NULL when it is empty. */
static struct cf_pool_item *item_pop(struct cf_pool_item **head, struct cf_pool_item **tail)
{
	struct cf_pool_item *it = *head;

	if (it) {
		*head = it->next;
		if (!*head)
			*tail = NULL;
	}
	return it;
}

static void item_drop(struct cf_pool *p, struct cf_pool_item *it)
{
	while (it) {
		struct cf_pool_item *next = it->part;

		free(it->buf);
		cf_pool_file_put(p, it->file);
		free(it);
		it = next;
	}
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len > WRITE_MAX ? WRITE_MAX : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Direct writes (docs/restore.md, "Direct writes")                                    */

/* A worker's own state: its bounce buffer, allocated at its first direct write and kept
 * so that its pages stay mapped and warm. */
struct wstate {
	uint8_t *bounce;
	uint8_t *group; /* CF_POOL_DIRECT_STEP bytes, page-aligned: a group assembled */
	int nobounce; /* the allocation failed: buffered writes */
};

void cf_pool_set_direct(struct cf_pool *p, enum cf_pool_direct mode)
{
	/* direct by default: docs/restore.md, "Direct writes"; COFFER_RESTORE_DIRECT=0 off */
	if (mode == CF_POOL_DIRECT_AUTO)
		mode = direct_env_off() ? CF_POOL_DIRECT_OFF : CF_POOL_DIRECT_ON;
	p->direct = mode;
}

void cf_pool_stats(struct cf_pool *p, struct cf_pool_stats *out)
{
	out->direct_bytes = atomic_load(&p->dbytes);
	out->buffered_bytes = atomic_load(&p->bbytes);
	out->direct_files = atomic_load(&p->dfiles);
	out->fallbacks = atomic_load(&p->fallbacks);
}

/* The errors with which a filesystem refuses O_DIRECT or a direct write's alignment. */
static int refused(int e)
{
	return e == EINVAL || e == EOPNOTSUPP;
}

/* @f is written buffered from now on, and so is every file opened after it. */
static void fall_back(struct cf_pool *p, struct cf_pool_file *f)
{
	char shown[256];

	if (!atomic_exchange(&p->nodirect, 1))
		cf_log_debug("a direct write to \"%s\" was refused: writing buffered",
		             cf_archive_printable(f->path, shown, sizeof(shown)));
	if (!atomic_exchange(&f->buffered, 1))
		atomic_fetch_add(&p->fallbacks, 1);
}

/* The unit of a file's direct writes: a page, or the filesystem's block when larger;
 * 0 (buffered writes) for a block the bounce buffer cannot hold whole. */
static uint32_t direct_unit(const struct stat *st)
{
	if (st->st_blksize <= (blksize_t)PAGE)
		return PAGE;
	if (st->st_blksize > (blksize_t)BOUNCE || st->st_blksize % PAGE)
		return 0;
	return (uint32_t)st->st_blksize;
}

void cf_pool_file_direct(struct cf_pool *p, struct cf_pool_file *f, int dirfd, uint64_t size)
{
	char shown[256];
	struct stat a, b;
	uint32_t unit;
	int dfd;

	if (p->direct == CF_POOL_DIRECT_OFF || atomic_load(&p->nodirect) || f->dfd >= 0)
		return;
	if (size < CF_POOL_DIRECT_MIN || fstat(f->fd, &a) != 0 || !S_ISREG(a.st_mode) ||
	    !(unit = direct_unit(&a)))
		return;
	if (p->direct == CF_POOL_DIRECT_TEST_OPEN_EINVAL) {
		dfd = -1;
		errno = EINVAL;
	} else {
		dfd = openat(dirfd, f->path, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
	}
	if (dfd < 0) {
		if (refused(errno)) {
			atomic_fetch_add(&p->fallbacks, 1);
			if (!atomic_exchange(&p->nodirect, 1))
				cf_log_debug("O_DIRECT refused (%s): writing buffered", strerror(errno));
		} else {
			cf_log_debug("cannot open \"%s\" again with O_DIRECT: %s; writing it buffered",
			             cf_archive_printable(f->path, shown, sizeof(shown)), strerror(errno));
		}
		return;
	}
	if (fstat(dfd, &b) != 0 || b.st_dev != a.st_dev || b.st_ino != a.st_ino) {
		cf_log_debug("\"%s\" opened again is another file: writing it buffered",
		             cf_archive_printable(f->path, shown, sizeof(shown)));
		close(dfd);
		return;
	}
	/* blocks allocated now (unwritten): the direct writes are overwrites, which the
	 * filesystem lets run side by side; a failure only loses that */
	(void)fallocate(f->fd, 0, 0, (off_t)size);
	f->align = unit;
	f->dfd = dfd;
	atomic_fetch_add(&p->dfiles, 1);
}

static int write_buffered(struct cf_pool *p, struct cf_pool_file *f, const uint8_t *buf,
                          size_t len, uint64_t off)
{
	int rc = pwrite_all(f->fd, buf, len, off);

	if (!rc)
		atomic_fetch_add(&p->bbytes, len);
	return rc;
}

/*
 * Write @len bytes at @off (both multiples of @f's unit) with O_DIRECT, through @w's
 * bounce buffer. *@done: the bytes written. Returns 0, 1 when the filesystem refused
 * (the rest is to be written buffered), or -errno.
 */
static int write_direct(struct cf_pool *p, struct wstate *w, struct cf_pool_file *f,
                        const uint8_t *buf, size_t len, uint64_t off, size_t *done)
{
	size_t step = BOUNCE - BOUNCE % f->align;

	*done = 0;
	while (*done < len) {
		size_t n = len - *done > step ? step : len - *done;
		ssize_t k;

		const uint8_t *src = buf + *done;

		if ((uintptr_t)src % PAGE) { /* an aligned buffer (a group) goes out as it is */
			memcpy(w->bounce, src, n);
			src = w->bounce;
		}
		if (p->direct == CF_POOL_DIRECT_TEST_WRITE_EINVAL &&
		    atomic_fetch_add(&p->test_writes, 1) > 0) {
			k = -1;
			errno = EINVAL;
		} else {
			k = pwrite(f->dfd, src, n, (off_t)(off + *done));
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return refused(errno) ? 1 : -errno;
		/* a short write: the part of a unit it wrote is written again, whole */
		k -= k % (ssize_t)f->align;
		if (k == 0)
			return -EIO;
		*done += (size_t)k;
		atomic_fetch_add(&p->dbytes, (uint64_t)k);
	}
	return 0;
}

/*
 * Write the piece @buf[0..@len) at @off of @f: the whole units inside it direct, the
 * partial units at its ends (shared with the neighbouring pieces, or the file's last)
 * buffered, so that no unit is written both ways. A piece with less than @min bytes of
 * whole units (CF_POOL_DIRECT_MIN for a blob's piece, 1 for an assembled group) is written
 * buffered: a direct write waits for the device (~0.1 ms each here), which costs more
 * than a few page-cache pages.
 */
static int write_piece(struct cf_pool *p, struct wstate *w, struct cf_pool_file *f,
                       const uint8_t *buf, size_t len, uint64_t off, uint64_t min)
{
	uint64_t end = off + len, lo, hi;
	size_t done = 0;
	int rc;

	if (f->dfd < 0 || atomic_load(&f->buffered) || atomic_load(&p->nodirect))
		return write_buffered(p, f, buf, len, off);
	lo = (off + f->align - 1) / f->align * f->align;
	hi = end / f->align * f->align;
	if (hi <= lo || hi - lo < min || w->nobounce)
		return write_buffered(p, f, buf, len, off);
	if (!w->bounce) {
		void *b = NULL;

		if (posix_memalign(&b, PAGE, BOUNCE) != 0) {
			w->nobounce = 1;
			return write_buffered(p, f, buf, len, off);
		}
		w->bounce = b;
	}
	rc = write_buffered(p, f, buf, (size_t)(lo - off), off);
	if (!rc)
		rc = write_direct(p, w, f, buf + (lo - off), (size_t)(hi - lo), lo, &done);
	if (rc == 1) {
		fall_back(p, f);
		rc = write_buffered(p, f, buf + (lo - off) + done, (size_t)(hi - lo) - done,
		                    lo + done);
	}
	if (!rc)
		rc = write_buffered(p, f, buf + (hi - off), (size_t)(end - hi), hi);
	return rc;
}

/* ---------------------------------------------------------------------------------- */

/* Fetch the item's blob into it->buf and check its length. Logs its own errors. */
static int fetch_item(struct cf_pool *p, struct cf_pool_item *it)
{
	char shown[256], hex[CF_HEX_LEN(CF_BLOB_ID_BYTES)];
	int rc;

	if (p->stop && *p->stop)
		return -EINTR;
	rc = p->get(p->gctx, CF_BLOB_DATA, it->id, &it->buf, &it->blen);
	if (rc) {
		it->buf = NULL;
		if (!failed(p))
			cf_log_err("cannot restore \"%s\": %s",
			           cf_archive_printable(it->file->path, shown, sizeof(shown)),
			           cf_strerror(rc));
		return rc;
	}
	if (it->blen != it->len) {
		cf_encode_hex(hex, it->id, CF_BLOB_ID_BYTES);
		cf_log_err("cannot restore \"%s\": data blob %s holds %zu bytes, the snapshot says %u",
		           cf_archive_printable(it->file->path, shown, sizeof(shown)), hex, it->blen,
		           (unsigned)it->len);
		return CF_E_CORRUPT;
	}
	return 0;
}

/* Write the pieces of the fetched item @it. Logs its own errors. */
static int write_item(struct cf_pool *p, struct wstate *w, const struct cf_pool_item *it)
{
	char shown[256];
	uint64_t done = 0;
	int rc = 0;

	for (uint32_t i = 0; !rc && i < it->ncopies; i++) {
		const struct cf_pool_copy *c = &it->copy[i];

		if ((uint64_t)c->src + c->len > it->blen) /* the planner checked it: defensive */
			return CF_E_CORRUPT;
		rc = write_piece(p, w, it->file, it->buf + c->src, c->len, c->dst,
		                 CF_POOL_DIRECT_MIN);
		if (rc)
			cf_log_err("cannot write \"%s\": %s",
			           cf_archive_printable(it->file->path, shown, sizeof(shown)),
			           strerror(-rc));
		done += c->len;
	}
	if (!rc)
		atomic_fetch_add(&p->bytes, done);
	return rc;
}

/*
 * Fetch the items of the group @g, copy their pieces into the worker's group buffer, and
 * write the group's range from it. Logs its own errors.
 */
static int run_group(struct cf_pool *p, struct wstate *w, struct cf_pool_item *g)
{
	char shown[256];
	int rc;

	if (!w->group) {
		void *b = NULL;

		if (posix_memalign(&b, PAGE, CF_POOL_DIRECT_STEP) != 0)
			return -ENOMEM;
		w->group = b;
	}
	for (struct cf_pool_item *it = g; it; it = it->part) {
		rc = fetch_item(p, it);
		for (uint32_t i = 0; !rc && i < it->ncopies; i++) {
			const struct cf_pool_copy *c = &it->copy[i];

			/* the planner checked them: defensive */
			if ((uint64_t)c->src + c->len > it->blen || c->dst < g->gbase ||
			    c->dst - g->gbase + c->len > g->glen)
				rc = CF_E_CORRUPT;
			else
				memcpy(w->group + (c->dst - g->gbase), it->buf + c->src, c->len);
		}
		free(it->buf);
		it->buf = NULL;
		if (rc)
			return rc;
	}
	/* one write for the whole group: direct however small its whole pages are */
	rc = write_piece(p, w, g->file, w->group, g->glen, g->gbase, 1);
	if (rc)
		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(g->file->path, shown, sizeof(shown)), strerror(-rc));
	else
		atomic_fetch_add(&p->bytes, g->glen);
	return rc;
}

/*
 * Write the fetched item @it (the worker's from now on), or hand it to the worker that is
 * writing its file (waiting while WAIT_MAX items wait there already); a worker that
 * writes a file also writes the items handed to it meanwhile, in their order.
 */
static void write_or_hand_over(struct cf_pool *p, struct wstate *w, struct cf_pool_item *it)
{
	struct cf_pool_file *f = it->file;

	pthread_mutex_lock(&p->mu);
	while (f->writing && f->nwait >= WAIT_MAX && !p->err)
		pthread_cond_wait(&p->drained, &p->mu);
	if (f->writing) {
		if (p->err) { /* the writer drops what it holds; this one goes too */
			pthread_mutex_unlock(&p->mu);
			item_drop(p, it);
			return;
		}
		item_push(&f->wait_head, &f->wait_tail, it);
		f->nwait++;
		pthread_mutex_unlock(&p->mu);
		return;
	}
	f->writing = 1;
	pthread_mutex_unlock(&p->mu);
	while (it) {
		struct cf_pool_item *next;
		int rc = failed(p) ? 0 : write_item(p, w, it);

		if (rc)
			cf_pool_fail(p, rc);
		pthread_mutex_lock(&p->mu);
		next = item_pop(&f->wait_head, &f->wait_tail);
		if (next)
			f->nwait--;
		else
			f->writing = 0;
		pthread_cond_broadcast(&p->drained);
		pthread_mutex_unlock(&p->mu);
		item_drop(p, it); /* @next, if any, still holds a reference to @f */
		it = next;
	}
}

static void *worker(void *arg)
{
	struct cf_pool *p = arg;
	struct wstate w = {0};

	for (;;) {
		struct cf_pool_item *it;
		int rc;

		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->closing && !p->err)
			pthread_cond_wait(&p->more, &p->mu);
		if (p->err || !p->head) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		it = item_pop(&p->head, &p->tail);
		p->queued--;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);

		if (it->glen) {
			rc = run_group(p, &w, it);
			if (rc)
				cf_pool_fail(p, rc);
			item_drop(p, it);
			continue;
		}
		rc = fetch_item(p, it);
		if (rc) {
			cf_pool_fail(p, rc);
			item_drop(p, it);
		} else {
			write_or_hand_over(p, &w, it);
		}
	}
	free(w.bounce);
	free(w.group);
	pthread_mutex_lock(&p->mu);
	p->running--;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int cf_pool_new(struct cf_pool **out, unsigned threads, cf_dbmap_get_fn get, void *gctx,
                const volatile sig_atomic_t *stop)
{
	struct cf_pool *p;
	int rc = 0;

	if (!out || !get)
		return CF_E_INVAL;
	if (!threads)
		threads = default_threads();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tids = calloc(threads, sizeof(*p->tids));
	if (!p->tids) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->room, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_cond_init(&p->drained, NULL);
	p->cap = (size_t)threads * QUEUE_PER_THREAD;
	p->get = get;
	p->gctx = gctx;
	p->stop = stop;
	atomic_init(&p->bytes, 0);
	atomic_init(&p->nodirect, 0);
	atomic_init(&p->dbytes, 0);
	atomic_init(&p->bbytes, 0);
	atomic_init(&p->dfiles, 0);
	atomic_init(&p->fallbacks, 0);
	atomic_init(&p->test_writes, 0);
	cf_pool_set_direct(p, CF_POOL_DIRECT_AUTO);
	for (unsigned i = 0; i < threads; i++) {
		pthread_mutex_lock(&p->mu);
		p->running++;
		pthread_mutex_unlock(&p->mu);
		rc = pthread_create(&p->tids[i], NULL, worker, p);
		if (rc) {
			pthread_mutex_lock(&p->mu);
			p->running--;
			pthread_mutex_unlock(&p->mu);
			break;
		}
		p->n++;
	}
	if (!p->n) {
		cf_log_err("cannot start a restore thread: %s", strerror(rc));
		cf_pool_free(p);
		return -rc;
	}
	*out = p;
	return 0;
}

unsigned cf_pool_threads(const struct cf_pool *p)
{
	return p->n;
}

int cf_pool_submit(struct cf_pool *p, struct cf_pool_item *it)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	while (p->queued >= p->cap && !p->err)
		pthread_cond_wait(&p->room, &p->mu);
	rc = p->err;
	if (!rc) {
		item_push(&p->head, &p->tail, it);
		p->queued++;
		pthread_cond_signal(&p->more);
	}
	pthread_mutex_unlock(&p->mu);
	if (rc)
		item_drop(p, it);
	return rc;
}

int cf_pool_submit_group(struct cf_pool *p, struct cf_pool_item **its, size_t n,
                         uint64_t base, uint32_t len)
{
	if (!n)
		return CF_E_INVAL;
	for (size_t i = 1; i < n; i++)
		its[i - 1]->part = its[i];
	its[n - 1]->part = NULL;
	if (len == 0 || len > CF_POOL_DIRECT_STEP) {
		item_drop(p, its[0]);
		return CF_E_INVAL;
	}
	its[0]->gbase = base;
	its[0]->glen = len;
	return cf_pool_submit(p, its[0]);
}

static void join_all(struct cf_pool *p)
{
	if (p->joined)
		return;
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->tids[i], NULL);
	p->joined = 1;
}

/* Drop the items no worker took (after an error or a cancel). */
static void drop_queued(struct cf_pool *p)
{
	struct cf_pool_item *it;

	while ((it = item_pop(&p->head, &p->tail)) != NULL)
		item_drop(p, it);
	p->queued = 0;
}

int cf_pool_finish(struct cf_pool *p, void (*tick)(void *ctx), void *ctx)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	p->closing = 1;
	pthread_cond_broadcast(&p->more);
	while (p->running > 0) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->idle, &p->mu, &until);
		if (tick && p->running > 0) {
			pthread_mutex_unlock(&p->mu);
			tick(ctx);
			pthread_mutex_lock(&p->mu);
		}
	}
	pthread_mutex_unlock(&p->mu);
	join_all(p);
	drop_queued(p); /* after an error the workers left items behind */
	rc = failed(p);
	return rc;
}

uint64_t cf_pool_bytes(struct cf_pool *p)
{
	return atomic_load(&p->bytes);
}

void cf_pool_free(struct cf_pool *p)
{
	if (!p)
		return;
	if (!p->joined) {
		pthread_mutex_lock(&p->mu);
		if (!p->err)
			p->err = -ECANCELED; /* items still queued are not wanted any more */
		p->closing = 1;
		pthread_cond_broadcast(&p->more);
		pthread_cond_broadcast(&p->room);
		pthread_mutex_unlock(&p->mu);
		join_all(p);
	}
	drop_queued(p);
	pthread_cond_destroy(&p->drained);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->mu);
	free(p->tids);
	free(p);
}
