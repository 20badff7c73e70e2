/* SPDX-License-Identifier: ISC */
/* The message database stored page by page, on several threads (backupd/dbpages.h). */
#include "backupd/dbpages.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/kdf.h"
#include "core/secbuf.h"
#include "repo/dbmap.h"
#include "util/log.h"

#define GROUP CF_DBMAP_BUNDLE_PAGES
#define DIGEST 16
#define REC (DIGEST + CF_BLOB_ID_BYTES + 2 + 2) /* digest | bundle id | pages u16 | slot u16 */
#define STATE_HDR 64
#define STATE_MAGIC "CFDS"
#define STATE_VERSION 2 /* 1: BLAKE2b-128 digests */
#define MAX_THREADS 16

struct job {
	struct cf_repo *repo;
	int old_fd, new_fd;
	uint32_t ps;
	uint64_t old_pages;
	const uint8_t *key; /* digest key, secure memory */
	const volatile sig_atomic_t *stop;

	pthread_mutex_t mu;
	pthread_cond_t ready_cv, free_cv;
	uint8_t *bufs;           /* nbufs group buffers of GROUP pages */
	size_t nbufs;
	size_t *freel, nfree;    /* free buffers */
	struct gref {
		size_t buf;
		uint64_t g;
		size_t n;
	} *ready;                /* submitted groups, FIFO */
	size_t rhead, rtail;
	int closed;              /* no more groups will come */
	uint64_t submitted;      /* groups submitted */
	int err;                 /* first error */
	struct cf_dbpages_stats st;
};

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than it said: the caller logs */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Buffers of one worker thread. */
struct wbuf {
	uint8_t *data;   /* GROUP pages */
	uint8_t *bundle; /* the changed pages, gathered */
	uint8_t *old;    /* GROUP old records */
	uint8_t *rec;    /* GROUP new records */
	uint8_t ids[CF_DBPAGES_MAX_BUNDLES + 1][CF_BLOB_ID_BYTES]; /* old bundles checked */
	int ok[CF_DBPAGES_MAX_BUNDLES + 1];
};

/*
 * Is the old bundle of record @rec still stored (and usable)? Remembers up to
 * CF_DBPAGES_MAX_BUNDLES answers per group in @w; *@distinct counts the bundles seen,
 * CF_DBPAGES_MAX_BUNDLES + 1 meaning "too many".
 */
static int old_usable(struct job *j, struct wbuf *w, const uint8_t *rec, int *distinct)
{
	const uint8_t *id = rec + DIGEST;
	int r;

	for (int i = 0; i < *distinct && i <= CF_DBPAGES_MAX_BUNDLES; i++)
		if (memcmp(w->ids[i], id, CF_BLOB_ID_BYTES) == 0)
			return w->ok[i];
	if (*distinct > CF_DBPAGES_MAX_BUNDLES)
		return 0;
	r = cf_repo_blob_usable(j->repo, CF_BLOB_DATA, id);
	if (r < 0)
		return r;
	memcpy(w->ids[*distinct], id, CF_BLOB_ID_BYTES);
	w->ok[*distinct] = r;
	(*distinct)++;
	return r;
}

/* One group: digest its pages, store the changed ones as one bundle, write its records. */
static int do_group(struct job *j, struct wbuf *w, uint64_t g, size_t n, uint64_t *changed)
{
	uint64_t first = g * GROUP;
	size_t nold = 0, k = 0, kept = 0;
	uint8_t id[CF_BLOB_ID_BYTES] = {0};
	int distinct = 0, r, rewrite = 0;
	uint8_t keep[GROUP];

	if (j->old_fd >= 0 && first < j->old_pages) {
		nold = (size_t)(j->old_pages - first < n ? j->old_pages - first : n);
		r = pread_full(j->old_fd, w->old, nold * REC, STATE_HDR + first * REC);
		if (r) {
			cf_log_warn("database state file unreadable (%s): storing pages again",
			            strerror(-r));
			nold = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *rec = w->rec + i * REC;
		cf_hash_siphash128(rec, j->key, w->data + i * j->ps, j->ps);
		keep[i] = 0;
		const uint8_t *o = w->old + i * REC;
		uint16_t obp = i < nold ? get16(o + DIGEST + CF_BLOB_ID_BYTES) : 0;
		if (i < nold && obp && obp <= GROUP &&
		    get16(o + DIGEST + CF_BLOB_ID_BYTES + 2) < obp &&
		    memcmp(rec, o, DIGEST) == 0) {
			r = old_usable(j, w, w->old + i * REC, &distinct);
			if (r < 0)
				return r;
			keep[i] = (uint8_t)r;
		}
	}
	/*
	 * A group is stored whole when it would draw from too many bundles (a restore then
	 * reads a few bundles per group, never one per page) or when most of it changed
	 * anyway (keeping a handful of old pages would pin a whole old bundle for them).
	 */
	for (size_t i = 0; i < n; i++)
		kept += keep[i];
	if (distinct > CF_DBPAGES_MAX_BUNDLES - 1 || kept * 2 < n)
		rewrite = 1;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] && !rewrite)
			continue;
		memcpy(w->bundle + k * j->ps, w->data + i * j->ps, j->ps);
		k++;
	}
	if (k) {
		r = cf_repo_put_blob(j->repo, CF_BLOB_DATA, w->bundle, k * j->ps, id, NULL);
		if (r)
			return r;
	}
	k = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *rec = w->rec + i * REC;
		if (keep[i] && !rewrite) {
			memcpy(rec + DIGEST, w->old + i * REC + DIGEST, REC - DIGEST);
			continue;
		}
		memcpy(rec + DIGEST, id, CF_BLOB_ID_BYTES);
		k++;
	}
	/* the bundle's page count, and each changed page's slot in it */
	for (size_t i = 0, slot = 0; i < n; i++) {
		uint8_t *rec = w->rec + i * REC;
		if (keep[i] && !rewrite)
			continue;
		put16(rec + DIGEST + CF_BLOB_ID_BYTES, (uint16_t)k);
		put16(rec + DIGEST + CF_BLOB_ID_BYTES + 2, (uint16_t)slot++);
	}
	*changed = k;
	r = pwrite_full(j->new_fd, w->rec, n * REC, STATE_HDR + first * REC);
	if (r)
		cf_log_err("writing the database state file: %s", strerror(-r));
	return r;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct wbuf w = {0};
	int r = 0;

	w.bundle = malloc((size_t)GROUP * j->ps);
	w.old = malloc((size_t)GROUP * REC);
	w.rec = malloc((size_t)GROUP * REC);
	if (!w.bundle || !w.old || !w.rec)
		r = -ENOMEM;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		struct gref gr;
		uint64_t changed = 0;

		if (r && !j->err)
			j->err = r;
		if (!j->err && j->stop && *j->stop)
			j->err = -EINTR;
		if (j->err) {
			pthread_cond_broadcast(&j->free_cv);
			break;
		}
		if (j->rhead == j->rtail) {
			if (j->closed)
				break;
			pthread_cond_wait(&j->ready_cv, &j->mu);
			continue;
		}
		gr = j->ready[j->rhead++ % j->nbufs];
		pthread_mutex_unlock(&j->mu);
		w.data = j->bufs + gr.buf * (size_t)GROUP * j->ps;
		r = do_group(j, &w, gr.g, gr.n, &changed);
		pthread_mutex_lock(&j->mu);
		j->freel[j->nfree++] = gr.buf;
		pthread_cond_signal(&j->free_cv);
		if (!r) {
			j->st.pages_changed += changed;
			j->st.groups_stored += changed > 0;
		}
	}
	pthread_mutex_unlock(&j->mu);
	free(w.bundle);
	free(w.old);
	free(w.rec);
	return NULL;
}

/* Open the old state file when it describes pages of @ps bytes; -1 otherwise. */
static int open_old(const char *state, uint32_t ps, uint64_t *pages)
{
	uint8_t h[STATE_HDR];
	uint64_t n = 0;
	int fd = open(state, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (pread_full(fd, h, sizeof(h), 0) != 0 || memcmp(h, STATE_MAGIC, 4) != 0 ||
	    h[4] != STATE_VERSION || (uint32_t)(h[8] | h[9] << 8 | h[10] << 16 | (uint32_t)h[11] << 24) != ps) {
		cf_log_debug("%s is not a usable database state file: storing every page", state);
		close(fd);
		return -1;
	}
	for (int i = 0; i < 8; i++)
		n |= (uint64_t)h[16 + i] << (8 * i);
	*pages = n;
	return fd;
}

static int state_header(int fd, uint32_t ps, uint64_t pages)
{
	uint8_t h[STATE_HDR] = {0};

	memcpy(h, STATE_MAGIC, 4);
	h[4] = STATE_VERSION;
	for (int i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(ps >> (8 * i));
	for (int i = 0; i < 8; i++)
		h[16 + i] = (uint8_t)(pages >> (8 * i));
	return pwrite_full(fd, h, sizeof(h), 0);
}

static int new_state(const char *path, uint32_t ps)
{
	int fd, r;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		cf_log_err("cannot create %s: %s", path, strerror(errno));
		return r;
	}
	r = state_header(fd, ps, 0); /* the page count is written by finish */
	if (r) {
		cf_log_err("cannot write %s: %s", path, strerror(-r));
		close(fd);
		unlink(path);
		return r;
	}
	return fd;
}

static int put_node(void *ctx, const uint8_t *data, size_t len, uint8_t id[CF_BLOB_ID_BYTES])
{
	return cf_repo_put_blob(ctx, CF_BLOB_CHUNKLIST, data, len, id, NULL);
}

/* The page map from the new state file's records. */
static int write_map(struct job *j, uint64_t pages, struct cf_archive_ref *root, uint64_t *size)
{
	struct cf_dbmap_writer *w = NULL;
	const size_t batch = 4096;
	uint8_t *buf = malloc(batch * REC);
	int r;

	if (!buf)
		return -ENOMEM;
	r = cf_dbmap_writer_new(&w, j->ps, put_node, j->repo);
	for (uint64_t p = 0; !r && p < pages; p += batch) {
		size_t n = (size_t)(pages - p < batch ? pages - p : batch);
		r = pread_full(j->new_fd, buf, n * REC, STATE_HDR + p * REC);
		if (r)
			cf_log_err("reading back the database state file: %s", strerror(-r));
		for (size_t i = 0; !r && i < n; i++) {
			const uint8_t *rec = buf + i * REC;
			struct cf_dbmap_loc loc;
			memcpy(loc.id, rec + DIGEST, CF_BLOB_ID_BYTES);
			loc.bundle_pages = get16(rec + DIGEST + CF_BLOB_ID_BYTES);
			loc.slot = get16(rec + DIGEST + CF_BLOB_ID_BYTES + 2);
			r = cf_dbmap_writer_add(w, &loc);
		}
	}
	if (!r)
		r = cf_dbmap_writer_finish(w, root, size);
	cf_dbmap_writer_free(w);
	free(buf);
	return r;
}

static long cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

struct cf_dbpages {
	struct job j;
	pthread_t tid[MAX_THREADS];
	int nt;
	char *newpath;
	uint8_t *key; /* secure memory */
	int finished;
};

/* Stop the workers (after the queued groups when @drain) and wait for them. */
static int stop_workers(struct cf_dbpages *d, int drain)
{
	struct job *j = &d->j;
	int r;

	pthread_mutex_lock(&j->mu);
	j->closed = 1;
	if (!drain && !j->err)
		j->err = -ECANCELED;
	pthread_cond_broadcast(&j->ready_cv);
	pthread_mutex_unlock(&j->mu);
	for (int i = 0; i < d->nt; i++)
		pthread_join(d->tid[i], NULL);
	if (d->nt == 0 && drain)
		worker(j); /* no thread could start: do it here */
	d->nt = 0;
	r = j->err;
	return r == -ECANCELED ? 0 : r;
}

void cf_dbpages_free(struct cf_dbpages *d)
{
	if (!d)
		return;
	stop_workers(d, 0);
	if (!d->finished && d->newpath)
		unlink(d->newpath);
	if (d->j.old_fd >= 0)
		close(d->j.old_fd);
	if (d->j.new_fd >= 0)
		close(d->j.new_fd);
	pthread_cond_destroy(&d->j.ready_cv);
	pthread_cond_destroy(&d->j.free_cv);
	pthread_mutex_destroy(&d->j.mu);
	free(d->j.bufs);
	free(d->j.freel);
	free(d->j.ready);
	free(d->newpath);
	cf_secmem_free(d->key);
	free(d);
}

int cf_dbpages_begin(struct cf_dbpages **out, struct cf_repo *repo, uint32_t page_size,
                     const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                     int threads, const volatile sig_atomic_t *stop)
{
	struct cf_dbpages *d;
	struct job *j;
	int r;

	if (page_size < CF_DBMAP_PAGE_MIN || page_size > CF_DBMAP_PAGE_MAX ||
	    (page_size & (page_size - 1))) {
		cf_log_err("database: pages of %u bytes cannot be stored page by page",
		           (unsigned)page_size);
		return CF_E_INVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	j = &d->j;
	j->repo = repo;
	j->ps = page_size;
	j->stop = stop;
	j->old_fd = j->new_fd = -1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->ready_cv, NULL);
	pthread_cond_init(&j->free_cv, NULL);
	d->nt = threads > 0 ? threads : (int)cpus();
	if (d->nt > MAX_THREADS)
		d->nt = MAX_THREADS;
	j->nbufs = (size_t)d->nt + 3; /* the producer holds two (group 0 and the current) */
	j->bufs = malloc(j->nbufs * GROUP * page_size);
	j->freel = calloc(j->nbufs, sizeof(*j->freel));
	j->ready = calloc(j->nbufs, sizeof(*j->ready));
	d->key = cf_secmem_alloc(CF_SIPHASH_KEY_BYTES);
	r = -ENOMEM;
	if (!j->bufs || !j->freel || !j->ready || !d->key || asprintf(&d->newpath, "%s.new", state) < 0) {
		d->newpath = NULL;
		goto fail;
	}
	for (size_t i = 0; i < j->nbufs; i++)
		j->freel[j->nfree++] = i;
	r = cf_kdf_subkey(d->key, CF_SIPHASH_KEY_BYTES, 2, "cfpgdig_", gear_key);
	if (r)
		goto fail;
	j->key = d->key;
	j->old_fd = open_old(state, page_size, &j->old_pages);
	j->st.had_state = j->old_fd >= 0;
	j->new_fd = new_state(d->newpath, page_size);
	if (j->new_fd < 0) {
		r = j->new_fd;
		goto fail;
	}
	for (int i = 0; i < d->nt; i++)
		if (pthread_create(&d->tid[i], NULL, worker, j) != 0) {
			d->nt = i;
			break;
		}
	*out = d;
	return 0;
fail:
	d->nt = 0;
	cf_dbpages_free(d);
	return r;
}

int cf_dbpages_buffer(struct cf_dbpages *d, uint8_t **buf)
{
	struct job *j = &d->j;
	int r;

	pthread_mutex_lock(&j->mu);
	while (!j->err && j->nfree == 0)
		pthread_cond_wait(&j->free_cv, &j->mu);
	r = j->err;
	if (!r)
		*buf = j->bufs + j->freel[--j->nfree] * (size_t)GROUP * j->ps;
	pthread_mutex_unlock(&j->mu);
	return r;
}

void cf_dbpages_release(struct cf_dbpages *d, uint8_t *buf)
{
	struct job *j = &d->j;

	pthread_mutex_lock(&j->mu);
	j->freel[j->nfree++] = (size_t)(buf - j->bufs) / ((size_t)GROUP * j->ps);
	pthread_cond_signal(&j->free_cv);
	pthread_mutex_unlock(&j->mu);
}

int cf_dbpages_submit(struct cf_dbpages *d, uint8_t *buf, uint64_t group, size_t n)
{
	struct job *j = &d->j;
	int r;

	pthread_mutex_lock(&j->mu);
	r = j->err;
	if (!r) {
		j->ready[j->rtail++ % j->nbufs] = (struct gref){
		    .buf = (size_t)(buf - j->bufs) / ((size_t)GROUP * j->ps), .g = group, .n = n};
		j->submitted++;
		pthread_cond_signal(&j->ready_cv);
	} else {
		j->freel[j->nfree++] = (size_t)(buf - j->bufs) / ((size_t)GROUP * j->ps);
	}
	pthread_mutex_unlock(&j->mu);
	if (!r && d->nt == 0)
		r = stop_workers(d, 1); /* no threads: the group is done here */
	return r;
}

int cf_dbpages_finish(struct cf_dbpages *d, uint64_t pages, struct cf_archive_ref *root,
                      uint64_t *size, struct cf_dbpages_stats *st)
{
	struct job *j = &d->j;
	int r;

	r = stop_workers(d, 1);
	if (!r && (pages == 0 || pages > UINT32_MAX ||
	           j->submitted != (pages + GROUP - 1) / GROUP)) {
		cf_log_err("database: %llu groups stored for %llu pages (internal error)",
		           (unsigned long long)j->submitted, (unsigned long long)pages);
		r = CF_E_INVAL;
	}
	if (!r) {
		r = state_header(j->new_fd, j->ps, pages);
		if (r)
			cf_log_err("cannot write %s: %s", d->newpath, strerror(-r));
	}
	if (!r)
		r = write_map(j, pages, root, size);
	if (!r && st) {
		*st = j->st;
		st->pages = pages;
	}
	d->finished = !r;
	return r;
}

int cf_dbpages_store(struct cf_repo *repo, int fd, uint32_t page_size, uint64_t pages,
                     const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                     int threads, const volatile sig_atomic_t *stop,
                     struct cf_archive_ref *root, uint64_t *size, struct cf_dbpages_stats *st)
{
	struct cf_dbpages *d = NULL;
	int r;

	r = cf_dbpages_begin(&d, repo, page_size, state, gear_key, threads, stop);
	for (uint64_t g = 0; !r && g * GROUP < pages; g++) {
		size_t n = (size_t)(pages - g * GROUP < GROUP ? pages - g * GROUP : GROUP);
		uint8_t *buf = NULL;
		r = cf_dbpages_buffer(d, &buf);
		if (r)
			break;
		r = pread_full(fd, buf, n * page_size, g * GROUP * page_size);
		if (r) {
			cf_log_err("reading the database copy at page %llu: %s",
			           (unsigned long long)(g * GROUP) + 1, strerror(-r));
			cf_dbpages_release(d, buf);
			break;
		}
		r = cf_dbpages_submit(d, buf, g, n);
	}
	if (!r)
		r = cf_dbpages_finish(d, pages, root, size, st);
	cf_dbpages_free(d);
	return r;
}

int cf_dbpages_state_commit(const char *state)
{
	char *newpath = NULL;
	int r = 0;

	if (asprintf(&newpath, "%s.new", state) < 0)
		return -ENOMEM;
	if (rename(newpath, state) < 0 && errno != ENOENT) {
		r = -errno;
		cf_log_warn("cannot keep the database state %s: %s (the next backup stores the"
		            " database whole)", state, strerror(errno));
		unlink(newpath);
	}
	free(newpath);
	return r;
}

void cf_dbpages_state_drop(const char *state)
{
	char *newpath = NULL;

	if (asprintf(&newpath, "%s.new", state) < 0)
		return;
	unlink(newpath);
	free(newpath);
}
