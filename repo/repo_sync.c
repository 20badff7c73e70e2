/* SPDX-License-Identifier: ISC */
/* The reader half of a repository: cache sync (indexes, adoption) and blob reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/index.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "repo/repo-internal.h"
#include "util/log.h"

#define INDEX_MAX_BYTES (CF_OBJECT_MAX_PLAIN + CF_OBJECT_OVERHEAD)

struct name_list {
	uint8_t (*ids)[32];
	uint64_t *sizes;
	size_t n, cap;
};

static void name_list_free(struct name_list *l)
{
	free(l->ids);
	free(l->sizes);
}

/* Collect "folder/.../<hex>" names into ids. */
static int collect_cb(void *ctx, const char *name, uint64_t size)
{
	struct name_list *l = ctx;
	const char *hex = strrchr(name, '/');

	if (!hex)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint8_t(*ids)[32] = realloc(l->ids, cap * 32);
		uint64_t *sizes;
		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		sizes = realloc(l->sizes, cap * sizeof(*sizes));
		if (!sizes)
			return -ENOMEM;
		l->sizes = sizes;
		l->cap = cap;
	}
	if (cf_encode_unhex(l->ids[l->n], 32, hex + 1) != 0)
		return 0; /* storage checks names; be safe anyway */
	l->sizes[l->n++] = size;
	return 0;
}

/* Verify a fetched object's name: its id must be the hash of its bytes. */
static int check_name(struct cf_repo *r, const char *name, const uint8_t id[32],
		      const uint8_t *bytes, size_t len)
{
	uint8_t h[32];

	cf_object_id(bytes, len, h);
	if (memcmp(h, id, 32) != 0) {
		cf_log_err("%s: object %s does not match its name (damaged or swapped)", r->url,
			   name);
		return CF_E_CORRUPT;
	}
	return 0;
}

static int load_index(struct cf_repo *r, const uint8_t id[32])
{
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *bytes = NULL, *plain = NULL, type;
	struct cf_index *ix = NULL;
	size_t len = 0, plen = 0;
	uint32_t epoch = 0;
	int rc;

	cf_repo_object_name(name, "index", id);
	rc = cf_storage_get_buf(r->st, name, &bytes, &len, INDEX_MAX_BYTES);
	if (!rc)
		rc = check_name(r, name, id, bytes, len);
	if (!rc)
		rc = cf_object_peek(bytes, len, &type, &epoch);
	if (!rc && !cf_keyring_get(r->ring, epoch)) {
		cf_log_warn("%s: skipping %s: this device holds no key for epoch %u", r->url,
			    name, epoch);
		goto out;
	}
	if (!rc)
		rc = cf_object_open(&plain, &plen, r->ring, r->repo_id, CF_OBJ_INDEX, bytes, len);
	if (!rc)
		rc = cf_index_decode(&ix, plain, plen);
	if (rc) {
		cf_log_err("%s: index object %s is damaged: %s", r->url, name, cf_strerror(rc));
		goto out;
	}
	rc = cf_cache_begin(r->cache);
	if (!rc)
		rc = cf_cache_add_index(r->cache, id, epoch);
	for (size_t i = 0; i < ix->npacks && !rc; i++)
		rc = cf_cache_add_pack(r->cache, ix->packs[i].id, epoch, ix->packs[i].size,
				       ix->packs[i].e, ix->packs[i].n, id);
	if (!rc)
		rc = cf_cache_commit(r->cache);
out:
	cf_index_free(ix);
	free(bytes);
	free(plain);
	return rc;
}

/*
 * cf_repo_read_pack_table - read a pack's table from storage (trailer, then table) and
 * check it. Used for adoption, check and cache rebuilds.
 */
int cf_repo_read_pack_table(struct cf_repo *r, const uint8_t id[32], uint64_t size,
			    uint32_t *epoch, struct cf_pack_entry **e, size_t *n);

int cf_repo_read_pack_table(struct cf_repo *r, const uint8_t id[32], uint64_t size,
			    uint32_t *epoch, struct cf_pack_entry **e, size_t *n)
{
	char name[CF_STORAGE_NAME_MAX];
	uint8_t tail[CF_PACK_TRAILER_BYTES], *table = NULL;
	uint32_t tlen = 0;
	int rc;

	cf_repo_object_name(name, "data", id);
	if (size < CF_PACK_TRAILER_BYTES + CF_PACK_HEADER_BYTES)
		return CF_E_TRUNCATED;
	rc = cf_storage_get_range(r->st, name, size - CF_PACK_TRAILER_BYTES,
				  CF_PACK_TRAILER_BYTES, tail);
	if (!rc)
		rc = cf_pack_trailer(tail, size, &tlen);
	if (rc)
		return rc;
	table = malloc(tlen ? tlen : 1);
	if (!table)
		return -ENOMEM;
	rc = cf_storage_get_range(r->st, name, size - CF_PACK_TRAILER_BYTES - tlen, tlen, table);
	if (!rc)
		rc = cf_pack_table_parse(table, tlen, size, r->ring, r->repo_id, epoch, e, n);
	free(table);
	return rc;
}

static int adopt_pack(struct cf_repo *r, const uint8_t id[32], uint64_t size)
{
	struct cf_pack_entry *e = NULL;
	uint32_t epoch = 0;
	size_t n = 0;
	int rc;

	rc = cf_repo_read_pack_table(r, id, size, &epoch, &e, &n);
	if (rc == CF_E_NOTFOUND) /* an epoch this device cannot read: not ours to adopt */
		return 0;
	if (!rc) {
		rc = cf_cache_add_pack(r->cache, id, epoch, size, e, n, NULL);
		if (!rc)
			cf_log_info("adopted pack %02x%02x%02x%02x… (%zu blobs) left by an"
				    " interrupted backup",
				    id[0], id[1], id[2], id[3], n);
	} else {
		char hex[CF_HEX_LEN(32)];
		cf_encode_hex(hex, id, 32);
		cf_log_warn("%s: pack %s has no readable table (%s): ignored", r->url, hex,
			    cf_strerror(rc));
		rc = 0; /* a damaged unreferenced pack must not stop a backup; check reports it */
	}
	free(e);
	return rc;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Packs the cache knows that storage no longer has (pruned elsewhere): forget them, so
 * nothing is deduplicated against a blob that is gone. @present is sorted. */
static int drop_vanished_packs(struct cf_repo *r, const struct name_list *present)
{
	uint8_t(*known)[32] = NULL;
	size_t n = 0;
	int rc;

	rc = cf_cache_all_packs(r->cache, &known, &n);
	if (!rc)
		rc = cf_cache_begin(r->cache);
	for (size_t i = 0; i < n && !rc; i++)
		if (!bsearch(known[i], present->ids, present->n, 32, cmp_id))
			rc = cf_cache_forget_pack(r->cache, known[i]);
	if (!rc)
		rc = cf_cache_commit(r->cache);
	free(known);
	return rc;
}

int cf_repo_sync(struct cf_repo *r)
{
	struct name_list idx = {0}, packs = {0};
	char path[4200];
	int rc, damaged = 0;

	if (!r->cache) {
		snprintf(path, sizeof(path), "%s/cache.db", r->cache_dir);
		rc = cf_cache_open(&r->cache, path, r->repo_id);
		if (rc)
			return rc;
	}
	if (!r->ring)
		return CF_E_INVAL;
	rc = cf_storage_list(r->st, "index/", collect_cb, &idx);
	for (size_t i = 0; i < idx.n && !rc; i++) {
		int known = cf_cache_has_index(r->cache, idx.ids[i]);
		if (known < 0) {
			rc = known;
		} else if (!known) {
			int lr = load_index(r, idx.ids[i]);
			if (lr == CF_E_CORRUPT || lr == CF_E_AUTH || lr == CF_E_FORMAT ||
			    lr == CF_E_TRUNCATED || lr == CF_E_VERSION || lr == CF_E_LIMIT)
				damaged = 1;
			else
				rc = lr;
		}
	}
	if (!rc)
		rc = cf_storage_list(r->st, "data/", collect_cb, &packs);
	if (!rc) {
		/* sizes travel with ids: sort pairs together */
		struct pair {
			uint8_t id[32];
			uint64_t size;
		} *pairs = malloc((packs.n ? packs.n : 1) * sizeof(struct pair));
		if (!pairs) {
			rc = -ENOMEM;
		} else {
			for (size_t i = 0; i < packs.n; i++) {
				memcpy(pairs[i].id, packs.ids[i], 32);
				pairs[i].size = packs.sizes[i];
			}
			qsort(pairs, packs.n, sizeof(*pairs), cmp_id);
			for (size_t i = 0; i < packs.n; i++) {
				memcpy(packs.ids[i], pairs[i].id, 32);
				packs.sizes[i] = pairs[i].size;
			}
			free(pairs);
			rc = drop_vanished_packs(r, &packs);
		}
	}
	for (size_t i = 0; i < packs.n && !rc; i++) {
		int known = cf_cache_has_pack(r->cache, packs.ids[i]);
		if (known < 0)
			rc = known;
		else if (!known)
			rc = adopt_pack(r, packs.ids[i], packs.sizes[i]);
	}
	name_list_free(&idx);
	name_list_free(&packs);
	if (!rc && damaged)
		rc = CF_E_CORRUPT;
	return rc;
}

enum { WIN_EMPTY, WIN_PENDING, WIN_READY };

static void window_done(void *arg, int result)
{
	struct repo_window *w = arg;

	atomic_store(&w->rc, result);
	atomic_store(&w->state, WIN_READY);
}

/* A window of @pack holding [@off, @off + @len), ready or being read; NULL if none. */
static struct repo_window *window_find(struct cf_repo *r, const uint8_t pack[32], uint64_t off,
				       uint64_t len)
{
	for (int i = 0; i < CF_REPO_WINDOWS; i++) {
		struct repo_window *w = &r->win[i];
		if (atomic_load(&w->state) != WIN_EMPTY && memcmp(w->pack, pack, 32) == 0 &&
		    off >= w->off && off + len <= w->off + w->len)
			return w;
	}
	return NULL;
}

/* The least recently used window that is not being read into, sized for @len bytes. */
static struct repo_window *window_take(struct cf_repo *r, uint64_t len,
				       const struct repo_window *keep)
{
	struct repo_window *best = NULL;
	/* file://: about two windows per reader (the restore's default 3 workers on 2 CPUs);
	 * more cost memory and barely save reads (docs/performance.md) */
	int nwin = cf_storage_parallel(r->st) > 1 ? CF_REPO_WINDOWS : CF_REPO_LOCAL_WINDOWS;

	for (int i = 0; i < nwin; i++) {
		struct repo_window *w = &r->win[i];
		if (w == keep || atomic_load(&w->state) == WIN_PENDING)
			continue;
		if (!best || w->used < best->used)
			best = w;
	}
	if (!best)
		return NULL;
	if (best->cap < len) { /* page-aligned: file:// reads whole blocks with O_DIRECT */
		void *buf = NULL;

		if (posix_memalign(&buf, 4096, (size_t)len) != 0)
			return NULL;
		free(best->buf);
		best->buf = buf;
		best->cap = (size_t)len;
	}
	atomic_store(&best->state, WIN_EMPTY);
	best->used = ++r->win_clock;
	return best;
}

/*
 * On remote storage, start reading the next windows of the pack after @hi (as many as
 * the storage runs transfers at once), so a restore is not bound by latency: blobs sit
 * in the order they were stored, and a restore mostly walks a pack from front to back.
 */
static void read_ahead(struct cf_repo *r, const char *name, const struct cf_blob_loc *loc,
		       uint64_t hi, const struct repo_window *keep)
{
	unsigned n = cf_storage_parallel(r->st);

	if (n > CF_REPO_WINDOWS - 1)
		n = CF_REPO_WINDOWS - 1;
	for (unsigned i = 0; n > 1 && i < n && hi < loc->pack_size; i++) {
		uint64_t end = hi + CF_REPO_READ_WINDOW > loc->pack_size ? loc->pack_size
									 : hi + CF_REPO_READ_WINDOW;
		struct repo_window *w;
		if (!window_find(r, loc->pack, hi, end - hi)) {
			w = window_take(r, end - hi, keep);
			if (!w)
				return;
			memcpy(w->pack, loc->pack, 32);
			w->off = hi;
			w->len = end - hi;
			atomic_store(&w->state, WIN_PENDING);
			if (cf_storage_get_range_async(r->st, name, hi, end - hi, w->buf, window_done,
						       w) != 0) {
				atomic_store(&w->state, WIN_EMPTY);
				return;
			}
		}
		hi = end;
	}
}

/*
 * Local storage: read window @w without holding r->win_mu, so readers
 * wait for the disk side by side (the packs a backup wrote with O_DIRECT are not in the
 * page cache). The window is PENDING meanwhile: window_take skips it, and readers of the
 * same range wait on r->win_cv. Called and returns under r->win_mu; on failure the
 * window is EMPTY again.
 */
static int read_unlocked(struct cf_repo *r, const char *name, struct repo_window *w,
			 const uint8_t pack[32], uint64_t off, uint64_t len)
{
	int rc;

	memcpy(w->pack, pack, 32);
	w->off = off;
	w->len = len;
	atomic_store(&w->state, WIN_PENDING);
	pthread_mutex_unlock(&r->win_mu);
	rc = cf_storage_get_range(r->st, name, off, len, w->buf);
	pthread_mutex_lock(&r->win_mu);
	atomic_store(&w->state, rc ? WIN_EMPTY : WIN_READY);
	pthread_cond_broadcast(&r->win_cv);
	return rc;
}

/* file://: the length of the local window at @off (aligned) of a pack of @pack_size bytes. */
static uint64_t local_window_len(uint64_t pack_size, uint64_t off)
{
	return pack_size - off < CF_REPO_READ_WINDOW ? pack_size - off : CF_REPO_READ_WINDOW;
}

/*
 * file://: copy the stored bytes of @loc out of the windows that hold them, reading the
 * missing ones: every local window is one aligned CF_REPO_READ_WINDOW of the pack (less
 * at its end), so a blob that crosses a window boundary takes its parts from two
 * windows and no byte of the pack is read twice while its window is kept. Sets *@out
 * (malloc'ed).
 */
static int read_local(struct cf_repo *r, const char *name, const struct cf_blob_loc *loc,
		      uint8_t **out)
{
	uint64_t pos = loc->offset, end = pos + loc->length;
	uint8_t *buf;
	int rc = 0;

	if (end > loc->pack_size)
		return CF_E_CORRUPT; /* the cache says the blob ends past its pack */
	buf = malloc(loc->length ? loc->length : 1);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&r->win_mu);
	while (pos < end) {
		struct repo_window *w = window_find(r, loc->pack, pos, 1);
		uint64_t n;

		if (w && atomic_load(&w->state) == WIN_PENDING) { /* being read: wait for it */
			pthread_cond_wait(&r->win_cv, &r->win_mu);
			continue;
		}
		if (!w) {
			uint64_t lo = pos / CF_REPO_READ_WINDOW * CF_REPO_READ_WINDOW;
			uint64_t len = local_window_len(loc->pack_size, lo);

			w = window_take(r, len, NULL);
			if (!w) { /* every window is being read into */
				pthread_cond_wait(&r->win_cv, &r->win_mu);
				continue;
			}
			rc = read_unlocked(r, name, w, loc->pack, lo, len);
			if (rc)
				break;
			atomic_store(&w->rc, 0);
		}
		n = (end < w->off + w->len ? end : w->off + w->len) - pos;
		memcpy(buf + (pos - loc->offset), w->buf + (pos - w->off), (size_t)n);
		w->used = ++r->win_clock;
		pos += n;
	}
	pthread_mutex_unlock(&r->win_mu);
	if (rc)
		free(buf);
	else
		*out = buf;
	return rc;
}

/*
 * Read the stored bytes of @loc through aligned windows: storage sees reads of
 * CF_REPO_READ_WINDOW-aligned ranges (whole packs when small), never a blob's exact
 * bounds, which would reveal chunk sizes. Windows are kept and read ahead, so the next
 * blobs of the same pack usually cost no request. Copies the blob into *@out
 * (malloc'ed). Takes r->win_mu (released while a local window is read).
 */
static int read_windowed(struct cf_repo *r, const char *name, const struct cf_blob_loc *loc,
			 uint8_t **out)
{
	uint64_t lo = loc->offset / CF_REPO_READ_WINDOW * CF_REPO_READ_WINDOW;
	uint64_t hi = ((uint64_t)loc->offset + loc->length + CF_REPO_READ_WINDOW - 1) /
		      CF_REPO_READ_WINDOW * CF_REPO_READ_WINDOW;
	struct repo_window *w;
	int rc = 0;

	if (cf_storage_parallel(r->st) <= 1)
		return read_local(r, name, loc, out);
	if (hi > loc->pack_size)
		hi = loc->pack_size;
	if ((uint64_t)loc->offset + loc->length > hi)
		return CF_E_CORRUPT; /* the cache says the blob ends past its pack */
	pthread_mutex_lock(&r->win_mu);
	w = window_find(r, loc->pack, loc->offset, loc->length);
	if (w && atomic_load(&w->state) == WIN_PENDING)
		cf_storage_wait_all(r->st);
	if (w && atomic_load(&w->rc) != 0) {
		atomic_store(&w->state, WIN_EMPTY); /* a failed read-ahead: read it here */
		w = NULL;
	}
	if (!w) {
		w = window_take(r, hi - lo, NULL);
		if (!w) {
			rc = -ENOMEM;
			goto out;
		}
		rc = cf_storage_get_range(r->st, name, lo, hi - lo, w->buf);
		if (rc)
			goto out;
		memcpy(w->pack, loc->pack, 32);
		w->off = lo;
		w->len = hi - lo;
		atomic_store(&w->rc, 0);
		atomic_store(&w->state, WIN_READY);
	}
	read_ahead(r, name, loc, w->off + w->len, w); /* keep the next windows coming */
	w->used = ++r->win_clock;
	*out = malloc(loc->length ? loc->length : 1);
	if (!*out)
		rc = -ENOMEM;
	else
		memcpy(*out, w->buf + (loc->offset - w->off), loc->length);
out:
	pthread_mutex_unlock(&r->win_mu);
	return rc;
}

int cf_repo_get_blob(struct cf_repo *r, enum cf_blob_type type, const uint8_t id[CF_BLOB_ID_BYTES],
		     uint8_t **data, size_t *len)
{
	const struct cf_repokeys *k;
	struct cf_blob_loc loc;
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *stored = NULL;
	int rc;

	if (!r->cache || !r->ring)
		return CF_E_INVAL;
	cf_repo_lock(r); /* the cache is shared with other readers and writers */
	rc = cf_cache_find_blob(r->cache, (uint8_t)type, id, &loc);
	cf_repo_unlock(r);
	if (rc)
		return rc;
	k = cf_keyring_get(r->ring, loc.epoch);
	if (!k)
		return CF_E_NOTFOUND;
	cf_repo_object_name(name, "data", loc.pack);
	rc = read_windowed(r, name, &loc, &stored);
	if (!rc)
		rc = cf_blob_open_owned(data, len, k, r->repo_id, type, id, loc.raw_length,
					stored, loc.length); /* takes stored */
	else
		free(stored);
	if (rc)
		cf_log_err("%s: cannot read a blob from %s: %s", r->url, name, cf_strerror(rc));
	return rc;
}
