/* SPDX-License-Identifier: ISC */
/* The workers of the parallel restorer (restore/pool.h). */
#include "restore/pool-internal.h"

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
#define QUEUE_PER_THREAD 8 /* queued items per worker: each holds an open file */
#define WAIT_MAX 2 /* fetched items waiting for one file's writer (memory: blobs held) */

/*
 * One worker per CPU, and one more while direct writes are on (the extra worker computes
 * while another waits for a window read), at most DEFAULT_MAX: each holds ~7 MiB (three
 * buffers of the largest blob, and a slot), and the memory bar is 64 MiB for the whole
 * process. COFFER_THREADS may ask for more, up to MAX_THREADS.
 */
#define DEFAULT_MAX 4
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("COFFER_THREADS");

	if (n >= 1 && !cf_pool_direct_env_off())
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
	pthread_cond_broadcast(&p->slot_back);
	pthread_mutex_unlock(&p->mu);
}

int cf_pool_failed(struct cf_pool *p)
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
	f->align = POOL_PAGE;
	atomic_init(&f->buffered, 0);
	f->refs = 1;
	f->writing = 0;
	f->wbusy = 0;
	f->next_seq = 1;
	f->size = 0;
	f->carry = NULL;
	f->carry_off = 0;
	f->carry_len = 0;
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
	/* every write to the file has returned: a page start still carried (the pieces did not
	 * reach the file's end: the planner never does that), then its mode and time */
	if (f->carry_len && !cf_pool_failed(p))
		cf_pool_direct_flush(p, f);
	free(f->carry);
	if (!cf_pool_failed(p) && (fchmod(f->fd, f->mode) != 0 || futimens(f->fd, ts) != 0)) {
		int e = errno;

		cf_log_err("cannot set the mode or time of \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(e));
		cf_pool_fail(p, -e);
	}
	if (f->dfd >= 0 && close(f->dfd) != 0 && !cf_pool_failed(p)) {
		int e = errno;

		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(f->path, shown, sizeof(shown)), strerror(e));
		cf_pool_fail(p, -e);
	}
	if (close(f->fd) != 0 && !cf_pool_failed(p)) {
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
		if (!cf_pool_failed(p))
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
static int write_item(struct cf_pool *p, const struct cf_pool_item *it)
{
	char shown[256];
	uint64_t done = 0;
	int rc = 0;

	for (uint32_t i = 0; !rc && i < it->ncopies; i++) {
		const struct cf_pool_copy *c = &it->copy[i];

		if ((uint64_t)c->src + c->len > it->blen) /* the planner checked it: defensive */
			return CF_E_CORRUPT;
		rc = cf_pool_direct_piece(p, it->file, it->buf + c->src, c->len, c->dst,
		                          CF_POOL_DIRECT_MIN, it->seq != 0);
		if (rc && !cf_pool_failed(p))
			cf_log_err("cannot write \"%s\": %s",
			           cf_archive_printable(it->file->path, shown, sizeof(shown)),
			           rc < 0 ? strerror(-rc) : cf_strerror(rc));
		done += c->len;
	}
	if (!rc)
		atomic_fetch_add(&p->bytes, done);
	return rc;
}

/*
 * Fetch the items of the group @g, copy their pieces into a slot, and write the group's
 * range from it. Logs its own errors.
 */
static int run_group(struct cf_pool *p, struct cf_pool_item *g)
{
	char shown[256];
	struct cf_pool_slot *s;
	int rc = cf_pool_direct_take(p, &s);

	if (rc)
		return rc;
	for (struct cf_pool_item *it = g; it; it = it->part) {
		rc = fetch_item(p, it);
		for (uint32_t i = 0; !rc && i < it->ncopies; i++) {
			const struct cf_pool_copy *c = &it->copy[i];

			/* the planner checked them: defensive */
			if ((uint64_t)c->src + c->len > it->blen || c->dst < g->gbase ||
			    c->dst - g->gbase + c->len > g->glen)
				rc = CF_E_CORRUPT;
			else
				memcpy(s->data + (c->dst - g->gbase), it->buf + c->src, c->len);
		}
		free(it->buf);
		it->buf = NULL;
		if (rc) {
			cf_pool_direct_give(p, s);
			return rc;
		}
	}
	/* one write for the whole group: direct however small its whole pages are */
	rc = cf_pool_direct_group(p, s, g->file, g->glen, g->gbase);
	if (rc && !cf_pool_failed(p))
		cf_log_err("cannot write \"%s\": %s",
		           cf_archive_printable(g->file->path, shown, sizeof(shown)),
		           rc < 0 ? strerror(-rc) : cf_strerror(rc));
	else if (!rc)
		atomic_fetch_add(&p->bytes, g->glen);
	return rc;
}

/* Whether @it must wait: another worker writes its file, or an item before it
 * (cf_pool_item.seq) is not written yet. Under p->mu. */
static int must_wait(const struct cf_pool_item *it)
{
	return it->file->writing || (it->seq && it->seq != it->file->next_seq);
}

/* Hand @it to the file's list, which is kept in cf_pool_item.seq order. Under p->mu. */
static void park(struct cf_pool_file *f, struct cf_pool_item *it)
{
	struct cf_pool_item **pp = &f->wait_head;

	while (it->seq && *pp && (*pp)->seq && (*pp)->seq < it->seq)
		pp = &(*pp)->next;
	it->next = *pp;
	*pp = it;
	if (!it->next)
		f->wait_tail = it;
	f->nwait++;
}

/*
 * After an error, the items handed to @f that no worker will write (their predecessor
 * was dropped): dropped, unless a worker writes @f, which drops them itself.
 */
static void release_parked(struct cf_pool *p, struct cf_pool_file *f)
{
	struct cf_pool_item *list = NULL;

	pthread_mutex_lock(&p->mu);
	if (!f->writing) {
		list = f->wait_head;
		f->wait_head = f->wait_tail = NULL;
		f->nwait = 0;
		pthread_cond_broadcast(&p->drained);
	}
	pthread_mutex_unlock(&p->mu);
	while (list) {
		struct cf_pool_item *next = list->next;

		item_drop(p, list);
		list = next;
	}
}

/* The handed-over item to write after @done, unlinked; NULL if none is due. Under p->mu. */
static struct cf_pool_item *next_due(struct cf_pool *p, struct cf_pool_file *f,
				     const struct cf_pool_item *done)
{
	struct cf_pool_item *next = f->wait_head;

	if (done->seq)
		f->next_seq = done->seq + 1;
	/* after an error every item goes (unwritten), due or not */
	if (!next || (!p->err && next->seq && next->seq != f->next_seq))
		return NULL;
	item_pop(&f->wait_head, &f->wait_tail);
	f->nwait--;
	return next;
}

/*
 * Write the fetched item @it (the worker's from now on), or hand it to the file: to the
 * worker that is writing it, or, for an ordered item whose predecessor is not written
 * yet, to the worker that will write that one (waiting while WAIT_MAX items wait there
 * already). A worker that writes a file also writes the items handed to it meanwhile,
 * in order.
 */
static void write_or_hand_over(struct cf_pool *p, struct cf_pool_item *it)
{
	struct cf_pool_file *f = it->file;

	pthread_mutex_lock(&p->mu);
	while (must_wait(it) && f->nwait >= WAIT_MAX && !p->err)
		pthread_cond_wait(&p->drained, &p->mu);
	if (must_wait(it)) {
		if (p->err) { /* the writer drops what it holds; this one goes too */
			pthread_mutex_unlock(&p->mu);
			release_parked(p, f);
			item_drop(p, it);
			return;
		}
		park(f, it);
		pthread_mutex_unlock(&p->mu);
		return;
	}
	f->writing = 1;
	pthread_mutex_unlock(&p->mu);
	while (it) {
		struct cf_pool_item *next;
		int rc = cf_pool_failed(p) ? 0 : write_item(p, it);

		if (rc)
			cf_pool_fail(p, rc);
		pthread_mutex_lock(&p->mu);
		next = next_due(p, f, it);
		if (!next)
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
			rc = run_group(p, it);
			if (rc)
				cf_pool_fail(p, rc);
			item_drop(p, it);
			continue;
		}
		rc = fetch_item(p, it);
		if (rc) {
			cf_pool_fail(p, rc);
			release_parked(p, it->file);
			item_drop(p, it);
		} else {
			write_or_hand_over(p, it);
		}
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
	pthread_cond_init(&p->drained, NULL);
	p->cap = (size_t)threads * QUEUE_PER_THREAD;
	p->get = get;
	p->gctx = gctx;
	p->stop = stop;
	atomic_init(&p->bytes, 0);
	/* each worker holds at most one slot at a time, each writer one: one spare */
	if (cf_pool_direct_init(p, threads + POOL_WRITERS + 1)) {
		cf_pool_free(p);
		return -ENOMEM;
	}
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

	while ((it = item_pop(&p->head, &p->tail)) != NULL) {
		release_parked(p, it->file); /* the later items of its file, handed over */
		item_drop(p, it);
	}
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
	cf_pool_direct_end(p); /* the writers finish what the workers queued */
	drop_queued(p); /* after an error the workers left items behind */
	rc = cf_pool_failed(p);
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
	cf_pool_direct_end(p);
	drop_queued(p);
	cf_pool_direct_free(p);
	pthread_cond_destroy(&p->drained);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->mu);
	free(p->tids);
	free(p);
}
