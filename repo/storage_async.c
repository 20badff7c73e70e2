/* SPDX-License-Identifier: ISC */
/*
 * The storage front's operations through a backend, blocking or not: every put and get
 * becomes a struct cf_storage_op that the backend finishes with cf_storage_op_done();
 * blocking calls wait for it, asynchronous ones queue their callbacks, which run in the
 * callers' threads (inside *_async() or cf_storage_wait_all()), one at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/storage.h"
#include "repo/storage_impl.h"
#include "util/log.h"

struct cf_storage_async {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned unfinished;               /* accepted async ops the backend still runs */
	struct cf_storage_op *ready, *tail; /* finished, callback not yet run */
	int dispatching;                   /* a thread is running a callback */
};

/* The thread is running a done callback (of any handle). */
static __thread int in_callback;

/* A get ended well: did the sink receive everything it was promised? */
static int get_check(struct cf_storage_op *op)
{
	struct cf_storage_sink *k = &op->sink;

	if ((op->len != CF_STORAGE_TO_END && k->done != op->len) ||
	    (k->expect != CF_STORAGE_TO_END && k->done != k->expect)) {
		cf_log_err("storage %s: get %s: object ends early (%llu bytes received)",
			   op->s->url, op->name, (unsigned long long)k->done);
		return CF_E_TRUNCATED;
	}
	return 0;
}

void cf_storage_op_done(struct cf_storage_op *op, int result)
{
	struct cf_storage_async *as = op->s->as;

	if (op->kind == CF_OP_GET && !result)
		result = get_check(op);
	op->result = result;
	pthread_mutex_lock(&as->mu);
	if (op->cb) {
		op->next = NULL;
		if (as->tail)
			as->tail->next = op;
		else
			as->ready = op;
		as->tail = op;
		as->unfinished--;
	} else {
		op->finished = 1;
	}
	pthread_cond_broadcast(&as->cv);
	pthread_mutex_unlock(&as->mu);
}

/* For backends without start: run the blocking op now. */
static void start_op(struct cf_storage *s, struct cf_storage_op *op)
{
	if (s->ops->start) {
		s->ops->start(s, op);
		return;
	}
	if (op->kind == CF_OP_PUT)
		cf_storage_op_done(op, s->ops->put(s, op->name, &op->src));
	else
		cf_storage_op_done(op, s->ops->get(s, op->name, op->off, op->len, &op->sink));
}

int cf_storage_async_run(struct cf_storage *s, struct cf_storage_op *op)
{
	op->s = s;
	op->cb = NULL;
	op->finished = 0;
	op->sink.expect = CF_STORAGE_TO_END;
	start_op(s, op);
	pthread_mutex_lock(&s->as->mu);
	while (!op->finished)
		pthread_cond_wait(&s->as->cv, &s->as->mu);
	pthread_mutex_unlock(&s->as->mu);
	return op->result;
}

/* With as->mu held: run one ready callback if this thread may. 1 when it did. */
static int dispatch_one(struct cf_storage_async *as)
{
	struct cf_storage_op *op = as->ready;

	if (!op || as->dispatching || in_callback)
		return 0;
	as->ready = op->next;
	if (!as->ready)
		as->tail = NULL;
	as->dispatching = 1;
	pthread_mutex_unlock(&as->mu);
	in_callback = 1;
	op->cb(op->arg, op->result);
	in_callback = 0;
	free(op);
	pthread_mutex_lock(&as->mu);
	as->dispatching = 0;
	pthread_cond_broadcast(&as->cv);
	return 1;
}

static unsigned parallel_of(const struct cf_storage *s)
{
	return s->ops->parallel ? s->ops->parallel(s) : 1;
}

/* Accept @op (malloc'ed, filled in): wait for room, start it, run ready callbacks. */
static int submit(struct cf_storage *s, struct cf_storage_op *op)
{
	struct cf_storage_async *as = s->as;
	unsigned limit = 2 * parallel_of(s);

	op->s = s;
	op->finished = 0;
	op->sink.expect = CF_STORAGE_TO_END;
	pthread_mutex_lock(&as->mu);
	while (as->unfinished >= limit)
		if (!dispatch_one(as))
			pthread_cond_wait(&as->cv, &as->mu);
	as->unfinished++;
	pthread_mutex_unlock(&as->mu);
	start_op(s, op);
	pthread_mutex_lock(&as->mu);
	while (dispatch_one(as))
		;
	pthread_mutex_unlock(&as->mu);
	return 0;
}

int cf_storage_wait_all(struct cf_storage *s)
{
	struct cf_storage_async *as = s->as;

	if (in_callback) {
		cf_log_err("storage %s: cf_storage_wait_all called from a done callback", s->url);
		return CF_E_INVAL;
	}
	pthread_mutex_lock(&as->mu);
	while (as->unfinished || as->ready || as->dispatching)
		if (!dispatch_one(as))
			pthread_cond_wait(&as->cv, &as->mu);
	pthread_mutex_unlock(&as->mu);
	return 0;
}

unsigned cf_storage_parallel(const struct cf_storage *s)
{
	return parallel_of(s);
}

int cf_storage_async_attach(struct cf_storage *s)
{
	s->as = calloc(1, sizeof(*s->as));
	if (!s->as)
		return -ENOMEM;
	pthread_mutex_init(&s->as->mu, NULL);
	pthread_cond_init(&s->as->cv, NULL);
	return 0;
}

void cf_storage_async_detach(struct cf_storage *s)
{
	struct cf_storage_async *as = s->as;

	if (!as)
		return;
	cf_storage_wait_all(s);
	pthread_mutex_destroy(&as->mu);
	pthread_cond_destroy(&as->cv);
	free(as);
	s->as = NULL;
}

static int async_prepare(struct cf_storage *s, const char *name, cf_storage_done_cb cb,
			 struct cf_storage_op **out, enum cf_storage_op_kind kind)
{
	struct cf_storage_op *op;
	int r = cf_storage_check_name(s, kind == CF_OP_PUT ? "put" : "get", name);

	if (r)
		return r;
	if (!cb) {
		cf_log_err("storage %s: %s: no callback", s->url, name);
		return CF_E_INVAL;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->kind = kind;
	snprintf(op->name, sizeof(op->name), "%s", name);
	*out = op;
	return 0;
}

int cf_storage_put_file_async(struct cf_storage *s, const char *name, int fd, uint64_t len,
			      cf_storage_done_cb cb, void *arg)
{
	struct cf_storage_op *op;
	int r;

	if (fd < 0 || len > (uint64_t)INT64_MAX) {
		cf_log_err("storage %s: put: invalid source descriptor or length", s->url);
		return CF_E_INVAL;
	}
	r = async_prepare(s, name, cb, &op, CF_OP_PUT);
	if (r)
		return r;
	op->src = (struct cf_storage_src){.fd = fd, .len = len};
	op->cb = cb;
	op->arg = arg;
	return submit(s, op);
}

int cf_storage_get_file_async(struct cf_storage *s, const char *name, int fd,
			      cf_storage_done_cb cb, void *arg)
{
	struct cf_storage_op *op;
	int r;

	if (fd < 0) {
		cf_log_err("storage %s: get: invalid descriptor", s->url);
		return CF_E_INVAL;
	}
	r = async_prepare(s, name, cb, &op, CF_OP_GET);
	if (r)
		return r;
	op->sink = (struct cf_storage_sink){.kind = CF_SINK_FD, .fd = fd};
	op->len = CF_STORAGE_TO_END;
	op->cb = cb;
	op->arg = arg;
	return submit(s, op);
}

int cf_storage_get_range_async(struct cf_storage *s, const char *name, uint64_t off,
			       uint64_t len, uint8_t *buf, cf_storage_done_cb cb, void *arg)
{
	struct cf_storage_op *op;
	int r;

	if (len > SIZE_MAX || off > UINT64_MAX - len || len == CF_STORAGE_TO_END ||
	    (!buf && len)) {
		cf_log_err("storage %s: get: invalid range", cf_storage_url(s));
		return CF_E_INVAL;
	}
	r = async_prepare(s, name, cb, &op, CF_OP_GET);
	if (r)
		return r;
	op->sink = (struct cf_storage_sink){.kind = CF_SINK_FIXED, .buf = buf,
					    .cap = (size_t)len, .max = (size_t)len};
	op->off = off;
	op->len = len;
	op->cb = cb;
	op->arg = arg;
	return submit(s, op);
}
