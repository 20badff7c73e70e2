/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The local, rebuildable repository cache (schema/cache): which index objects are loaded,
 * which packs exist and which blobs they hold, and the file cache. Deleting it loses
 * time, never data: cf_repo_open rebuilds it from the repository. Nothing read through
 * it is trusted: blobs are authenticated again when read.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/keys.h"
#include "repo/pack.h"

struct cf_cache;

struct cf_blob_loc {
	uint8_t pack[32];
	uint32_t epoch;
	uint64_t pack_size;
	uint32_t offset, length, raw_length;
};

/*
 * cf_cache_open - open or create the cache at @path for @repo_id. A cache that belongs
 * to another repository or cannot be read is deleted and created anew (it is only a
 * cache). Sets *@out only on success. Returns 0, CF_E_IO, -errno.
 */
int cf_cache_open(struct cf_cache **out, const char *path, const uint8_t repo_id[CF_REPO_ID_BYTES]);
/* cf_cache_free - close. Accepts NULL. */
void cf_cache_free(struct cf_cache *c);

/* cf_cache_begin / cf_cache_commit - group many writes in one transaction. */
int cf_cache_begin(struct cf_cache *c);
int cf_cache_commit(struct cf_cache *c);
/* cf_cache_rollback - abandon the open transaction, if any (after a failed write). */
void cf_cache_rollback(struct cf_cache *c);

/* cf_cache_has_index - 1 when index object @name was loaded, 0 if not, <0 on error. */
int cf_cache_has_index(struct cf_cache *c, const uint8_t name[32]);
/* cf_cache_has_pack - 1 when pack @name is known (indexed or adopted), 0 if not. */
int cf_cache_has_pack(struct cf_cache *c, const uint8_t name[32]);

/*
 * cf_cache_add_pack - record pack @name (@epoch, @size) and its blobs. @index_name NULL
 * means "uploaded or adopted but not yet in an index". Replaces what was known of it.
 */
int cf_cache_add_pack(struct cf_cache *c, const uint8_t name[32], uint32_t epoch, uint64_t size,
		      const struct cf_pack_entry *e, size_t n, const uint8_t *index_name);

/* cf_cache_add_index - record index object @name (@epoch) as loaded; its packs follow. */
int cf_cache_add_index(struct cf_cache *c, const uint8_t name[32], uint32_t epoch);

/*
 * cf_cache_unindexed_packs - the packs known with no index object: *@names (malloc'ed,
 * *@n x 32 bytes). Returns 0 or an error.
 */
int cf_cache_unindexed_packs(struct cf_cache *c, uint8_t (**names)[32], size_t *n);

/* cf_cache_all_packs - every known pack name: *@names (malloc'ed, *@n x 32 bytes). */
int cf_cache_all_packs(struct cf_cache *c, uint8_t (**names)[32], size_t *n);

/* cf_cache_pack_entries - the blobs recorded for pack @name (malloc'ed). */
int cf_cache_pack_entries(struct cf_cache *c, const uint8_t name[32], uint32_t *epoch,
			  uint64_t *size, struct cf_pack_entry **e, size_t *n);

/* cf_cache_set_indexed - mark pack @name as listed in index object @index_name. */
int cf_cache_set_indexed(struct cf_cache *c, const uint8_t name[32], const uint8_t index_name[32]);

/*
 * cf_cache_find_blob - where blob (@type, @id) is stored. Returns 0, CF_E_NOTFOUND, or an
 * error. Any copy will do.
 */
int cf_cache_find_blob(struct cf_cache *c, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
		       struct cf_blob_loc *loc);

/* cf_cache_forget_pack - drop a pack and its blobs (it vanished from storage). */
int cf_cache_forget_pack(struct cf_cache *c, const uint8_t name[32]);

/* File cache: a file whose stat tuple is unchanged reuses its chunk references. */
struct cf_file_stat {
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t inode, device;
};

/*
 * cf_cache_file_get - the chunk references (opaque bytes, malloc'ed) recorded for @path
 * under @epoch when its stat tuple equals @st. Returns 0, CF_E_NOTFOUND (unknown or
 * changed), or an error.
 */
int cf_cache_file_get(struct cf_cache *c, const char *path, const struct cf_file_stat *st,
		      uint32_t epoch, uint8_t **refs, size_t *len);

/* cf_cache_file_put - record @path's stat tuple and chunk references, seen in run @run. */
int cf_cache_file_put(struct cf_cache *c, const char *path, const struct cf_file_stat *st,
		      uint32_t epoch, const uint8_t *refs, size_t len, int64_t run);
