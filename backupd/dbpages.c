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
#define STATE_VERSION 1
#define MAX_THREADS 16

struct job {
	struct cf_repo *repo;
	int fd, old_fd, new_fd;
	uint32_t ps;
	uint64_t pages, old_pages;
	const uint8_t *key; /* digest key, secure memory */
	const volatile sig_atomic_t *stop;

	pthread_mutex_t mu;
	uint64_t next_group; /* the next group to take */
	int err;             /* first error */
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
static int do_group(struct job *j, struct wbuf *w, uint64_t g, uint64_t *changed)
{
	uint64_t first = g * GROUP;
	size_t n = (size_t)(j->pages - first < GROUP ? j->pages - first : GROUP);
	size_t nold = 0, k = 0, kept = 0;
	uint8_t id[CF_BLOB_ID_BYTES] = {0};
	int distinct = 0, r, rewrite = 0;
	uint8_t keep[GROUP];

	r = pread_full(j->fd, w->data, n * j->ps, first * j->ps);
	if (r) {
		cf_log_err("reading the database copy at page %llu: %s",
		           (unsigned long long)first + 1, strerror(-r));
		return r;
	}
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
		cf_hash_blake2b(rec, DIGEST, j->key, w->data + i * j->ps, j->ps);
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
	uint64_t groups = (j->pages + GROUP - 1) / GROUP;
	int r = 0;

	w.data = malloc((size_t)GROUP * j->ps);
	w.bundle = malloc((size_t)GROUP * j->ps);
	w.old = malloc((size_t)GROUP * REC);
	w.rec = malloc((size_t)GROUP * REC);
	if (!w.data || !w.bundle || !w.old || !w.rec)
		r = -ENOMEM;
	for (;;) {
		uint64_t g, changed = 0;

		pthread_mutex_lock(&j->mu);
		if (r && !j->err)
			j->err = r;
		if (j->err || j->next_group >= groups || (j->stop && *j->stop)) {
			if (!j->err && j->stop && *j->stop)
				j->err = -EINTR;
			pthread_mutex_unlock(&j->mu);
			break;
		}
		g = j->next_group++;
		pthread_mutex_unlock(&j->mu);
		r = do_group(j, &w, g, &changed);
		if (!r) {
			pthread_mutex_lock(&j->mu);
			j->st.pages_changed += changed;
			j->st.groups_stored += changed > 0;
			pthread_mutex_unlock(&j->mu);
		}
	}
	free(w.data);
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

static int new_state(const char *path, uint32_t ps, uint64_t pages)
{
	uint8_t h[STATE_HDR] = {0};
	int fd, r;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		cf_log_err("cannot create %s: %s", path, strerror(errno));
		return r;
	}
	memcpy(h, STATE_MAGIC, 4);
	h[4] = STATE_VERSION;
	for (int i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(ps >> (8 * i));
	for (int i = 0; i < 8; i++)
		h[16 + i] = (uint8_t)(pages >> (8 * i));
	r = pwrite_full(fd, h, sizeof(h), 0);
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
static int write_map(struct job *j, struct cf_archive_ref *root, uint64_t *size)
{
	struct cf_dbmap_writer *w = NULL;
	const size_t batch = 4096;
	uint8_t *buf = malloc(batch * REC);
	int r;

	if (!buf)
		return -ENOMEM;
	r = cf_dbmap_writer_new(&w, j->ps, put_node, j->repo);
	for (uint64_t p = 0; !r && p < j->pages; p += batch) {
		size_t n = (size_t)(j->pages - p < batch ? j->pages - p : batch);
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

int cf_dbpages_store(struct cf_repo *repo, int fd, uint32_t page_size, uint64_t pages,
                     const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                     int threads, const volatile sig_atomic_t *stop,
                     struct cf_archive_ref *root, uint64_t *size, struct cf_dbpages_stats *st)
{
	struct job j = {.repo = repo, .fd = fd, .old_fd = -1, .new_fd = -1, .ps = page_size,
	                .pages = pages, .stop = stop};
	pthread_t tid[MAX_THREADS];
	char *newpath = NULL;
	uint8_t *key = NULL;
	int nt = 0, r;

	if (page_size < CF_DBMAP_PAGE_MIN || page_size > CF_DBMAP_PAGE_MAX ||
	    (page_size & (page_size - 1)) || pages == 0 || pages > UINT32_MAX) {
		cf_log_err("database copy: %llu pages of %u bytes cannot be stored page by page",
		           (unsigned long long)pages, (unsigned)page_size);
		return CF_E_INVAL;
	}
	if (asprintf(&newpath, "%s.new", state) < 0)
		return -ENOMEM;
	key = cf_secmem_alloc(32);
	if (!key) {
		r = -ENOMEM;
		goto out;
	}
	r = cf_kdf_subkey(key, 32, 1, "cfpgdig_", gear_key);
	if (r)
		goto out;
	j.key = key;
	pthread_mutex_init(&j.mu, NULL);
	j.old_fd = open_old(state, page_size, &j.old_pages);
	j.st.had_state = j.old_fd >= 0;
	j.new_fd = new_state(newpath, page_size, pages);
	if (j.new_fd < 0) {
		r = j.new_fd;
		goto out_mu;
	}
	nt = threads > 0 ? threads : (int)cpus();
	if (nt > MAX_THREADS)
		nt = MAX_THREADS;
	for (int i = 0; i < nt; i++)
		if (pthread_create(&tid[i], NULL, worker, &j) != 0) {
			nt = i;
			break;
		}
	if (nt == 0)
		worker(&j); /* no thread could start: do it here */
	for (int i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	r = j.err;
	if (!r)
		r = write_map(&j, root, size);
	if (!r && st) {
		*st = j.st;
		st->pages = pages;
	}
out_mu:
	pthread_mutex_destroy(&j.mu);
out:
	if (j.old_fd >= 0)
		close(j.old_fd);
	if (j.new_fd >= 0)
		close(j.new_fd);
	if (r)
		unlink(newpath);
	free(newpath);
	cf_secmem_free(key);
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
