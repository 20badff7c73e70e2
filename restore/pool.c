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
#define WRITE_MAX (128u << 10) /* bytes per pwrite: the copy stays in the CPU cache */ /* queued items per worker: each holds an open file */

struct cf_pool {
	pthread_mutex_t mu;
	pthread_cond_t more; /* an item was queued, the end was announced, or an error */
	pthread_cond_t room; /* an item was taken, or an error */
	pthread_cond_t idle; /* a worker ended */
	struct cf_pool_item *head, *tail;
	size_t queued, cap;
	unsigned running; /* workers not yet ended */
	int closing;      /* no more items will come */
	int err;          /* the first error; 0 while all is well */
	_Atomic uint64_t bytes;
	cf_dbmap_get_fn get;
	void *gctx;
	const volatile sig_atomic_t *stop;
	pthread_t *tids;
	unsigned n;   /* threads started */
	int joined;
};

/*
 * One worker per CPU, at most DEFAULT_MAX: each holds ~7 MiB (three buffers of the
 * largest blob), and the memory bar is 64 MiB for the whole process. COFFER_THREADS
 * may ask for more, up to MAX_THREADS.
 */
#define DEFAULT_MAX 4
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("COFFER_THREADS");

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
	f->refs = 1;
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

static void item_drop(struct cf_pool *p, struct cf_pool_item *it)
{
	cf_pool_file_put(p, it->file);
	free(it);
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

/* Fetch the item's blob, check it, write its pieces. Logs its own errors. */
static int run_item(struct cf_pool *p, const struct cf_pool_item *it)
{
	char shown[256], hex[CF_HEX_LEN(CF_BLOB_ID_BYTES)];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t done = 0;
	int rc;

	if (p->stop && *p->stop)
		return -EINTR;
	rc = p->get(p->gctx, CF_BLOB_DATA, it->id, &buf, &len);
	if (rc) {
		if (!failed(p))
			cf_log_err("cannot restore \"%s\": %s",
			           cf_archive_printable(it->file->path, shown, sizeof(shown)),
			           cf_strerror(rc));
		return rc;
	}
	if (len != it->len) {
		cf_encode_hex(hex, it->id, CF_BLOB_ID_BYTES);
		cf_log_err("cannot restore \"%s\": data blob %s holds %zu bytes, the snapshot says %u",
		           cf_archive_printable(it->file->path, shown, sizeof(shown)), hex, len,
		           (unsigned)it->len);
		rc = CF_E_CORRUPT;
	}
	for (uint32_t i = 0; !rc && i < it->ncopies; i++) {
		const struct cf_pool_copy *c = &it->copy[i];

		if ((uint64_t)c->src + c->len > len) { /* the planner checked it: defensive */
			rc = CF_E_CORRUPT;
			break;
		}
		rc = pwrite_all(it->file->fd, buf + c->src, c->len, c->dst);
		if (rc)
			cf_log_err("cannot write \"%s\": %s",
			           cf_archive_printable(it->file->path, shown, sizeof(shown)),
			           strerror(-rc));
		done += c->len;
	}
	free(buf);
	if (!rc)
		atomic_fetch_add(&p->bytes, done);
	return rc;
}

static void *worker(void *arg)
{
	struct cf_pool *p = arg;

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
		it = p->head;
		p->head = it->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);

		rc = run_item(p, it);
		if (rc)
			cf_pool_fail(p, rc);
		item_drop(p, it);
	}
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
	p->cap = (size_t)threads * QUEUE_PER_THREAD;
	p->get = get;
	p->gctx = gctx;
	p->stop = stop;
	atomic_init(&p->bytes, 0);
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
		it->next = NULL;
		if (p->tail)
			p->tail->next = it;
		else
			p->head = it;
		p->tail = it;
		p->queued++;
		pthread_cond_signal(&p->more);
	}
	pthread_mutex_unlock(&p->mu);
	if (rc)
		item_drop(p, it);
	return rc;
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
	while (p->head) {
		struct cf_pool_item *it = p->head;

		p->head = it->next;
		item_drop(p, it);
	}
	p->tail = NULL;
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
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->mu);
	free(p->tids);
	free(p);
}
