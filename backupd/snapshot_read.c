/* SPDX-License-Identifier: ISC */
/*
 * The walk into the snapshot with files read on several threads.
 *
 * The committing thread plans up to WINDOW entries ahead (file-cache lookups) and hands
 * the files that must be read to the readers through a queue; each reader has its own
 * chunker and body, and stores blobs with cf_repo_put_blob (thread-safe). Entries are
 * committed to the tree strictly in walk order, so the snapshot is the same whatever the
 * timing. Memory: WINDOW jobs' reference lists, plus per reader one read block and one
 * chunk (backupd/body.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backupd/snapshot-internal.h"
#include "core/error.h"
#include "util/log.h"

#define WINDOW 64
#define MAX_READERS 8

enum { SLOT_EMPTY, SLOT_QUEUED, SLOT_DONE };

struct pool {
	struct run *x;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct file_job jobs[WINDOW];
	int state[WINDOW];
	size_t queue[WINDOW], qhead, qtail; /* walk indices to read, FIFO */
	int quit;
};

struct reader {
	struct pool *p;
	const char *path; /* the file being read, for progress reports */
	struct cf_chunker *ch;
	struct cf_body *body;
	pthread_t tid;
	int started;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct pool *p = rd->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t i;
		while (!p->quit && p->qhead == p->qtail)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit)
			break;
		i = p->queue[p->qhead++ % WINDOW];
		pthread_mutex_unlock(&p->mu);
		rd->path = p->x->walk->e[i].path;
		cf_snapshot_file_read(p->x, rd->body, &p->x->walk->e[i], &p->jobs[i % WINDOW]);
		pthread_mutex_lock(&p->mu);
		p->state[i % WINDOW] = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* after each block a reader reads */
static void reader_progress(void *ctx, uint64_t bytes)
{
	struct reader *rd = ctx;

	atomic_fetch_add(&rd->p->x->bytes_read, bytes);
	cf_snapshot_report(rd->p->x, rd->path);
}

static int nreaders(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("COFFER_THREADS");

	if (env && atoi(env) > 0)
		n = atoi(env);
	return n < 1 ? 1 : n > MAX_READERS ? MAX_READERS : (int)n;
}

static int readers_start(struct pool *p, struct reader *rd, int n, const uint8_t *gear)
{
	int started = 0, r = 0;

	for (int i = 0; i < n && !r; i++) {
		rd[i].p = p;
		r = cf_chunker_new(&rd[i].ch, NULL, gear);
		if (!r)
			r = cf_body_new(&rd[i].body, p->x->r, rd[i].ch, p->x->o->stop,
			                reader_progress, &rd[i]);
		if (!r && pthread_create(&rd[i].tid, NULL, reader_main, &rd[i]) == 0) {
			rd[i].started = 1;
			started++;
		}
	}
	return started ? 0 : r ? r : -EAGAIN;
}

static void readers_stop(struct pool *p, struct reader *rd, int n)
{
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < n; i++) {
		if (rd[i].started)
			pthread_join(rd[i].tid, NULL);
		cf_body_free(rd[i].body);
		cf_chunker_free(rd[i].ch);
	}
}

/* Plan entry @i: a directory or cached file is ready at once, others are queued. */
static int plan(struct pool *p, size_t i)
{
	const struct cf_walk_entry *we = &p->x->walk->e[i];
	struct file_job *j = &p->jobs[i % WINDOW];
	int r = 0, st = SLOT_DONE;

	if (we->type == CF_ARCHIVE_FILE) {
		r = cf_snapshot_file_plan(p->x, we, j);
		if (r)
			return r;
		if (!j->cached)
			st = SLOT_QUEUED;
	}
	pthread_mutex_lock(&p->mu);
	p->state[i % WINDOW] = st;
	if (st == SLOT_QUEUED) {
		p->queue[p->qtail++ % WINDOW] = i;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static int commit_one(struct pool *p, size_t i)
{
	struct run *x = p->x;
	const struct cf_walk_entry *we = &x->walk->e[i];
	struct file_job *j = &p->jobs[i % WINDOW];
	int r;

	pthread_mutex_lock(&p->mu);
	while (p->state[i % WINDOW] != SLOT_DONE)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (we->type == CF_ARCHIVE_DIR) {
		r = cf_snapshot_add_entry(x, we->path, CF_ARCHIVE_DIR, we->mode, we->mtime,
		                          we->mtime_nsec, NULL, 0, 0);
		x->dirs += !r;
	} else {
		r = cf_snapshot_file_commit(x, we, j);
	}
	cf_file_job_clear(j);
	p->state[i % WINDOW] = SLOT_EMPTY;
	return r;
}

int cf_snapshot_add_walk(struct run *x)
{
	const struct cf_repokeys *k = cf_keyring_current(cf_repo_keyring(x->r));
	struct reader rd[MAX_READERS];
	struct pool *p = calloc(1, sizeof(*p));
	size_t n = x->walk->n, planned = 0, done = 0;
	int nr = nreaders(), r;

	if (!p)
		return -ENOMEM;
	memset(rd, 0, sizeof(rd));
	p->x = x;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	r = readers_start(p, rd, nr, cf_repokeys_gear(k));
	while (!r && done < n) {
		while (!r && planned < n && planned - done < WINDOW)
			r = plan(p, planned++);
		if (!r && run_stopped(x))
			r = -EINTR;
		if (!r)
			r = commit_one(p, done++);
	}
	readers_stop(p, rd, nr);
	/* after an error: the jobs planned but not committed */
	for (size_t i = done; i < planned; i++)
		cf_file_job_clear(&p->jobs[i % WINDOW]);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return r;
}
