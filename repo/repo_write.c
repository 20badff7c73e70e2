/* SPDX-License-Identifier: ISC */
/* The writer half of a repository: dedup, seal, spool packs, upload, index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/index.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "repo/repo-internal.h"
#include "util/log.h"

/* Open addressing over the (already uniformly random) ids. */
static size_t slot_of(const uint8_t *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (cap - 1));
}

static int slot_empty(const uint8_t *e)
{
	return e[CF_BLOB_ID_BYTES] == 0; /* type 0 never occurs */
}

int cf_repo_idset_has(const struct idset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	if (!s->cap)
		return 0;
	for (size_t i = slot_of(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		const uint8_t *e = s->ids[i];
		if (slot_empty(e))
			return 0;
		if (e[CF_BLOB_ID_BYTES] == type && memcmp(e, id, CF_BLOB_ID_BYTES) == 0)
			return 1;
	}
}

int cf_repo_idset_add(struct idset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	if ((s->n + 1) * 2 > s->cap) {
		struct idset bigger = {.cap = s->cap ? s->cap * 2 : 1024};
		bigger.ids = calloc(bigger.cap, sizeof(*bigger.ids));
		if (!bigger.ids)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (!slot_empty(s->ids[i]))
				cf_repo_idset_add(&bigger, s->ids[i][CF_BLOB_ID_BYTES], s->ids[i]);
		free(s->ids);
		*s = bigger;
	}
	for (size_t i = slot_of(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		uint8_t *e = s->ids[i];
		if (!slot_empty(e))
			continue;
		memcpy(e, id, CF_BLOB_ID_BYTES);
		e[CF_BLOB_ID_BYTES] = type;
		s->n++;
		return 0;
	}
}

void cf_repo_idset_clear(struct idset *s)
{
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

static int require_keys(struct cf_repo *r)
{
	if (!r->ring || !cf_keyring_current(r->ring) || !r->cache) {
		cf_log_err("%s: no keys or cache loaded (internal order error)", r->url);
		return CF_E_INVAL;
	}
	return 0;
}

/* Mark pack ticket @t uploaded and advance the durable prefix. Under r->mu. */
static void ticket_done_locked(struct cf_repo *r, uint64_t t)
{
	uint64_t bit = t - r->packs_durable;

	if (bit < 64)
		r->done_mask |= 1ull << bit;
	while (r->done_mask & 1) {
		r->done_mask >>= 1;
		r->packs_durable++;
	}
}

/*
 * Finish and upload the pack @p (ticket @t) without holding r->mu, so other threads keep
 * sealing into the next pack and several packs are hashed and uploaded at once; then
 * record it in the cache under the lock. Frees @p.
 */
static int upload_pack(struct cf_repo *r, struct cf_packw *p, uint64_t t)
{
	struct cf_pack_entry *e = NULL;
	char name[CF_STORAGE_NAME_MAX];
	uint8_t pid[32];
	uint64_t size = 0;
	size_t n = 0;
	int fd = -1, rc;

	rc = cf_packw_finish(p, &fd, &size, pid, &e, &n);
	cf_packw_free(p);
	if (!rc) {
		cf_repo_object_name(name, "data", pid);
		rc = cf_storage_put_spool(r->st, name, fd, size);
		if (rc == CF_E_EXISTS)
			rc = 0; /* same bytes, same name: already there */
		close(fd);
	}
	pthread_mutex_lock(&r->mu);
	if (!rc)
		rc = cf_cache_add_pack(r->cache, pid, r->pack_epoch_of[t & 63], size, e, n, NULL);
	if (!rc) {
		r->stats.bytes_stored += size;
		r->stats.packs++;
		ticket_done_locked(r, t);
	} else if (!r->write_err) {
		r->write_err = rc;
	}
	r->uploading--;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	free(e);
	return rc;
}

struct bg_upload {
	struct cf_repo *r;
	struct cf_packw *p;
	uint64_t t;
	int slot;
};

static void *bg_main(void *arg)
{
	struct bg_upload *b = arg;
	struct cf_repo *r = b->r;

	upload_pack(r, b->p, b->t); /* a failure lands in r->write_err */
	pthread_mutex_lock(&r->mu);
	r->bg_state[b->slot] = 2;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	free(b);
	return NULL;
}

/*
 * Upload the full pack @p (ticket @t) on a background thread, so the thread that filled
 * it goes back to sealing while the pack is hashed, stored and fsync'ed; at most
 * CF_REPO_BG_UPLOADS at once (then this waits for one). Without a thread: inline.
 */
static int spawn_upload(struct cf_repo *r, struct cf_packw *p, uint64_t t)
{
	struct bg_upload *b = malloc(sizeof(*b));
	int slot = -1;

	if (!b)
		return upload_pack(r, p, t);
	pthread_mutex_lock(&r->mu);
	while (slot < 0) {
		for (int i = 0; i < CF_REPO_BG_UPLOADS && slot < 0; i++) {
			if (r->bg_state[i] == 2) {
				pthread_join(r->bg_tid[i], NULL); /* it no longer needs r->mu */
				r->bg_state[i] = 0;
			}
			if (r->bg_state[i] == 0)
				slot = i;
		}
		if (slot < 0)
			pthread_cond_wait(&r->cv, &r->mu);
	}
	*b = (struct bg_upload){.r = r, .p = p, .t = t, .slot = slot};
	r->bg_state[slot] = 1;
	if (pthread_create(&r->bg_tid[slot], NULL, bg_main, b) != 0) {
		r->bg_state[slot] = 0;
		pthread_mutex_unlock(&r->mu);
		free(b);
		return upload_pack(r, p, t);
	}
	pthread_mutex_unlock(&r->mu);
	return 0;
}

void cf_repo_join_uploads(struct cf_repo *r)
{
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < CF_REPO_BG_UPLOADS; i++) {
		while (r->bg_state[i] == 1)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->bg_state[i] == 2)
			pthread_join(r->bg_tid[i], NULL);
		r->bg_state[i] = 0;
	}
	pthread_mutex_unlock(&r->mu);
}

/*
 * Take the pack being filled (under r->mu) for upload: returns it with its ticket, or
 * NULL when there is none. At most 63 uploads are in flight (the ticket window).
 */
static struct cf_packw *take_locked(struct cf_repo *r, uint64_t *t)
{
	struct cf_packw *p = r->pack;

	if (!p || cf_packw_count(p) == 0)
		return NULL;
	while (r->packs_taken - r->packs_durable >= 63)
		pthread_cond_wait(&r->cv, &r->mu);
	r->pack = NULL;
	*t = r->packs_taken++;
	r->pack_epoch_of[*t & 63] = r->pack_epoch;
	r->uploading++;
	return p;
}

int cf_repo_flush(struct cf_repo *r)
{
	struct cf_packw *p;
	uint64_t t = 0;
	int rc;

	pthread_mutex_lock(&r->mu);
	p = take_locked(r, &t);
	pthread_mutex_unlock(&r->mu);
	rc = p ? upload_pack(r, p, t) : 0;
	cf_repo_join_uploads(r);
	pthread_mutex_lock(&r->mu);
	while (r->uploading)
		pthread_cond_wait(&r->cv, &r->mu);
	if (!rc)
		rc = r->write_err;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void cf_repo_lock(struct cf_repo *r)
{
	pthread_mutex_lock(&r->mu);
}

void cf_repo_unlock(struct cf_repo *r)
{
	pthread_mutex_unlock(&r->mu);
}

void cf_repo_pack_tickets(struct cf_repo *r, uint64_t *taken, uint64_t *durable)
{
	pthread_mutex_lock(&r->mu);
	*taken = r->packs_taken;
	*durable = r->packs_durable;
	pthread_mutex_unlock(&r->mu);
}

int cf_repo_exclude_pack(struct cf_repo *r, const uint8_t id[32])
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if (!cf_repo_idset_has(&r->excluded, 1, id))
		rc = cf_repo_idset_add(&r->excluded, 1, id);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int usable_locked(struct cf_repo *r, enum cf_blob_type type,
			 const uint8_t id[CF_BLOB_ID_BYTES])
{
	const struct cf_repokeys *k;
	struct cf_blob_loc loc;
	int rc;

	if (require_keys(r))
		return -EINVAL;
	k = cf_keyring_current(r->ring);
	/* the cache first: a stored blob in a pack a prune plan names is not usable */
	rc = cf_cache_find_blob(r->cache, (uint8_t)type, id, &loc);
	if (rc == CF_E_NOTFOUND) /* sealed in this run, pack not yet in the cache? */
		return cf_repo_idset_has(&r->inpack, (uint8_t)type, id);
	if (rc)
		return rc < 0 ? rc : -EIO;
	/* Ids are keyed per epoch; the epoch test only guards against a stale cache row. */
	return loc.epoch == cf_repokeys_epoch(k) && !cf_repo_idset_has(&r->excluded, 1, loc.pack);
}

int cf_repo_blob_usable(struct cf_repo *r, enum cf_blob_type type,
			const uint8_t id[CF_BLOB_ID_BYTES])
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = usable_locked(r, type, id);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * Packs for a local repository are linked there, not read back: write them with O_DIRECT
 * (docs/performance.md, "Direct writes"); COFFER_DIRECT=0 turns that off. Repositories of
 * format 2 get version 2 packs (named by their tail).
 */
static unsigned spool_flags(const struct cf_repo *r)
{
	const char *env = getenv("COFFER_DIRECT");
	unsigned f = r->format >= 2 ? CF_PACKW_NAME_TAIL : 0;

	if (env && !strcmp(env, "0"))
		return f;
	return f | (cf_storage_local(r->st) ? CF_PACKW_DIRECT : 0);
}

/*
 * Thread-safe: the id and the sealing (compression, encryption) run unlocked, so several
 * threads storing blobs keep several cores busy; dedup and the pack are under r->mu. A
 * new id is claimed (put in @inpack) before it is sealed, so two threads storing the
 * same content store it once; every caller is joined before the index is committed.
 */
int cf_repo_put_blob(struct cf_repo *r, enum cf_blob_type type, const void *data, size_t len,
		     uint8_t id[CF_BLOB_ID_BYTES], int *is_new)
{
	const struct cf_repokeys *k;
	struct cf_packw *full = NULL;
	uint8_t *sealed = NULL;
	size_t slen = 0;
	uint64_t t = 0;
	int rc;

	rc = require_keys(r);
	if (rc)
		return rc;
	k = cf_keyring_current(r->ring);
	cf_repokeys_blob_id(k, type, data, len, id);
	if (is_new)
		*is_new = 0;
	pthread_mutex_lock(&r->mu);
	rc = usable_locked(r, type, id);
	if (rc == 1)
		r->stats.blobs_dup++;
	if (rc == 0)
		rc = cf_repo_idset_add(&r->inpack, (uint8_t)type, id); /* claimed */
	else if (rc == 1)
		rc = 1;
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return rc < 0 ? rc : 0;
	rc = cf_blob_seal(&sealed, &slen, k, r->repo_id, type, id, data, len);
	if (rc)
		return rc;
	pthread_mutex_lock(&r->mu);
	rc = r->write_err;
	if (rc)
		goto out;
	if (!r->pack) {
		rc = cf_packw_new(&r->pack, r->spool_dir, k, r->repo_id, spool_flags(r));
		if (rc)
			goto out;
		r->pack_epoch = cf_repokeys_epoch(k);
	}
	rc = cf_packw_add(r->pack, (uint8_t)type, id, sealed, (uint32_t)slen, (uint32_t)len);
	if (!rc && !cf_repo_idset_has(&r->inpack, (uint8_t)type, id))
		rc = cf_repo_idset_add(&r->inpack, (uint8_t)type, id); /* a flush came between */
	if (rc)
		goto out;
	r->stats.blobs_new++;
	r->stats.bytes_new += len;
	if (is_new)
		*is_new = 1;
	if (cf_packw_bytes(r->pack) >= r->pack_size) {
		cf_packw_mark_full(r->pack);
		full = take_locked(r, &t);
	}
out:
	pthread_mutex_unlock(&r->mu);
	free(sealed);
	if (full)
		rc = spawn_upload(r, full, t);
	return rc;
}

static int collect_unindexed(struct cf_repo *r, struct cf_index *ix)
{
	uint8_t(*names)[32] = NULL;
	size_t n = 0;
	int rc;

	rc = cf_cache_unindexed_packs(r->cache, &names, &n);
	if (rc)
		return rc;
	ix->packs = calloc(n ? n : 1, sizeof(*ix->packs));
	if (!ix->packs) {
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct cf_index_pack *p = &ix->packs[i];
		uint32_t epoch = 0;
		memcpy(p->id, names[i], 32);
		rc = cf_cache_pack_entries(r->cache, names[i], &epoch, &p->size, &p->e, &p->n);
		if (!rc)
			ix->npacks = i + 1;
	}
	free(names);
	return rc;
}

int cf_repo_commit_index(struct cf_repo *r)
{
	struct cf_index ix = {0};
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *plain = NULL, *sealed = NULL, iid[32];
	size_t plen = 0, slen = 0;
	int rc;

	rc = require_keys(r);
	if (!rc)
		rc = cf_repo_flush(r);
	pthread_mutex_lock(&r->mu);
	if (!rc)
		rc = collect_unindexed(r, &ix);
	if (rc || ix.npacks == 0)
		goto out;
	rc = cf_index_encode(&plain, &plen, &ix);
	if (!rc)
		rc = cf_object_seal(&sealed, &slen, cf_keyring_current(r->ring), r->repo_id,
				    CF_OBJ_INDEX, plain, plen);
	if (rc)
		goto out;
	cf_object_id(sealed, slen, iid);
	cf_repo_object_name(name, "index", iid);
	rc = cf_storage_put_buf(r->st, name, sealed, slen);
	if (rc)
		goto out;
	r->stats.bytes_stored += slen;
	rc = cf_cache_begin(r->cache);
	if (!rc)
		rc = cf_cache_add_index(r->cache, iid, cf_repokeys_epoch(cf_keyring_current(r->ring)));
	for (size_t i = 0; i < ix.npacks && !rc; i++)
		rc = cf_cache_set_indexed(r->cache, ix.packs[i].id, iid);
	if (!rc)
		rc = cf_cache_commit(r->cache);
out:
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < ix.npacks; i++)
		free(ix.packs[i].e);
	free(ix.packs);
	free(plain);
	free(sealed);
	return rc;
}
