/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * A repository handle: storage, config, the local cache, the keys this device holds,
 * and a writer that deduplicates blobs into packs and commits them through an index
 * (docs/repository-format.md). Manifests and snapshots are in repo/snapshots.h.
 *
 * Typical use:
 *   cf_repo_open(&r, &opts)            storage + config (created when asked and empty)
 *   cf_repo_set_keys(r, ring, ...)     keys from the keychain (keyvault/ decides them)
 *   cf_repo_sync(r)                    cache up to date: indexes loaded, packs adopted
 *   cf_repo_put_blob(...) ...          backup: dedup, seal, spool packs, upload
 *   cf_repo_commit_index(r)            all uploaded packs into a stored index
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "repo/cache.h"
#include "repo/keys.h"
#include "repo/storage.h"

/* 1: packs named by the hash of all their bytes; 2: by their tail (repository-format.md) */
#define CF_REPO_FORMAT 2
#define CF_REPO_DEFAULT_PACK (16u << 20)

struct cf_repo;

struct cf_repo_opts {
	const char *url;       /* repository URL or bare path */
	const char *cache_dir; /* base folder for caches and spool files */
	int create;            /* initialise an absent or empty location */
	uint64_t pack_size;    /* target pack size; 0 = CF_REPO_DEFAULT_PACK */
	/* storage settings (the config's [storage] keys); NULL: environment and defaults */
	const struct cf_storage_options *storage;
};

/* Counters of a writer session, for summaries. */
struct cf_repo_stats {
	uint64_t blobs_new, blobs_dup;
	uint64_t bytes_new;    /* plaintext bytes of new blobs */
	uint64_t bytes_stored; /* bytes uploaded (packs and index) */
	uint64_t packs;
};

/*
 * cf_repo_open - open storage at @o->url and read its config; with @o->create and an
 * absent or empty location, write a new config (random repository id) first.
 * Sets *@out only on success. Returns 0; CF_E_NOTFOUND (no repository there);
 * CF_E_VERSION (written by a newer Coffer: the message says which format); CF_E_FORMAT
 * (not a Coffer repository); CF_E_CONFIG (bad URL); storage errors.
 */
int cf_repo_open(struct cf_repo **out, const struct cf_repo_opts *o);

/* cf_repo_free - abort any unfinished writer work (nothing partial becomes visible). */
void cf_repo_free(struct cf_repo *r);

/* cf_repo_created - 1 when cf_repo_open initialised the repository. */
int cf_repo_created(const struct cf_repo *r);
const uint8_t *cf_repo_id(const struct cf_repo *r);
/* cf_repo_config_hash - BLAKE2b-256 of the config bytes (bound into key slots). */
const uint8_t *cf_repo_config_hash(const struct cf_repo *r);
struct cf_storage *cf_repo_storage(const struct cf_repo *r);
struct cf_cache *cf_repo_cache(const struct cf_repo *r);
const char *cf_repo_url(const struct cf_repo *r);

/*
 * cf_repo_set_keys - hand the repository the keys this device holds (@ring, owned by
 * the repository from now on, also on failure), its identity @me (borrowed; signs
 * manifests), and the devices trusted to sign snapshots (@signers, copied).
 * Returns 0 or -ENOMEM.
 */
int cf_repo_set_keys(struct cf_repo *r, struct cf_keyring *ring, const struct cf_identity *me,
		     const struct cf_pubid *signers, size_t nsigners);
/*
 * cf_repo_set_roster - the devices trusted to sign objects of @epoch (copied; replaces
 * an earlier roster of that epoch). Returns 0 or -ENOMEM.
 */
int cf_repo_set_roster(struct cf_repo *r, uint32_t epoch, const struct cf_pubid *ids, size_t n);
/*
 * cf_repo_roster - the roster of @epoch set by cf_repo_set_roster; NULL (and *@n = 0)
 * when none: nothing of that epoch is trusted.
 */
const struct cf_pubid *cf_repo_roster(const struct cf_repo *r, uint32_t epoch, size_t *n);
const struct cf_keyring *cf_repo_keyring(const struct cf_repo *r);
const struct cf_identity *cf_repo_identity(const struct cf_repo *r);
const struct cf_pubid *cf_repo_signers(const struct cf_repo *r, size_t *n);

/*
 * cf_repo_sync - open the cache and bring it up to date with storage: load index objects
 * it lacks, adopt packs that no index names (an interrupted backup), drop packs that are
 * gone. Returns 0 or the first error (a damaged index object is reported and skipped,
 * CF_E_CORRUPT is returned at the end so callers know).
 */
int cf_repo_sync(struct cf_repo *r);

/*
 * cf_repo_put_blob - store @data as a blob of @type under the current epoch unless an
 * identical one is already stored; @id receives its id, *@is_new (may be NULL) whether
 * it was new. Packs are uploaded as they fill. Returns 0 or an error.
 */
int cf_repo_put_blob(struct cf_repo *r, enum cf_blob_type type, const void *data, size_t len,
		     uint8_t id[CF_BLOB_ID_BYTES], int *is_new);

/*
 * cf_repo_exclude_pack - never deduplicate against blobs in pack @id (a prune plan names
 * it: it may be deleted soon). Returns 0 or -ENOMEM.
 */
int cf_repo_exclude_pack(struct cf_repo *r, const uint8_t id[32]);

/*
 * cf_repo_blob_usable - 1 when blob (@type, @id) of the current epoch is stored (or in
 * the pack being filled) and not in an excluded pack, so a reference to it may be
 * written; 0 when not; negative on a cache error.
 */
int cf_repo_blob_usable(struct cf_repo *r, enum cf_blob_type type,
			const uint8_t id[CF_BLOB_ID_BYTES]);

/* cf_repo_flush - finish and upload the pack being filled, if any. */
int cf_repo_flush(struct cf_repo *r);

/*
 * cf_repo_commit_index - flush, then write one index object naming every uploaded or
 * adopted pack not yet in an index. The step before a manifest may be written.
 */
int cf_repo_commit_index(struct cf_repo *r);

/* cf_repo_stats - the writer counters since open. */
void cf_repo_stats(const struct cf_repo *r, struct cf_repo_stats *st);

/*
 * cf_repo_lock / cf_repo_unlock - hold the writer lock while using cf_repo_cache()
 * directly when other threads may be storing blobs (they use the cache under it). Never
 * call another cf_repo_* function while holding it.
 */
void cf_repo_lock(struct cf_repo *r);
void cf_repo_unlock(struct cf_repo *r);

/*
 * cf_repo_pack_tickets - packs are numbered when taken for upload (*@taken so far);
 * *@durable is the length of the prefix of those numbers that are all stored and in the
 * cache. A blob added before a moment when *@taken was T is stored once *@durable > T.
 * Thread-safe.
 */
void cf_repo_pack_tickets(struct cf_repo *r, uint64_t *taken, uint64_t *durable);

/*
 * cf_repo_get_blob - read, verify and decrypt blob (@type, @id); *@data malloc'ed.
 * Thread-safe (the cache lookup runs under the writer lock, the pack read under the
 * window lock, decryption and the id check unlocked), also next to cf_repo_put_blob.
 * Returns 0; CF_E_NOTFOUND (not in any index); CF_E_AUTH / CF_E_CORRUPT (damaged pack:
 * the message names the pack object); storage errors.
 */
int cf_repo_get_blob(struct cf_repo *r, enum cf_blob_type type, const uint8_t id[CF_BLOB_ID_BYTES],
		     uint8_t **data, size_t *len);

/* cf_repo_spool_dir - a private folder for temporary files of this repository. */
const char *cf_repo_spool_dir(const struct cf_repo *r);

/* Object names: "data/ab/<hex>", "index/<hex>", ... into @out (CF_STORAGE_NAME_MAX). */
void cf_repo_object_name(char *out, const char *folder, const uint8_t id[32]);
