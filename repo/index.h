/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Index objects (docs/repository-format.md, "Index"): which blobs are in which packs.
 * Plaintext (inside an encrypted object of type CF_OBJ_INDEX):
 *   n_supersedes u32 || n_supersedes x id[32]
 *   n_packs u32 || n_packs x { pack id[32] || size u64 || entry list (pack.h) }
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/pack.h"

#define CF_INDEX_MAX_PACKS (1u << 20)

struct cf_index_pack {
	uint8_t id[32];
	uint64_t size;
	struct cf_pack_entry *e;
	size_t n;
};

struct cf_index {
	uint8_t (*supersedes)[32];
	size_t nsupersedes;
	struct cf_index_pack *packs;
	size_t npacks;
};

/* cf_index_encode - the plaintext of @ix into *@out (malloc'ed). Returns 0 or -ENOMEM. */
int cf_index_encode(uint8_t **out, size_t *len, const struct cf_index *ix);

/*
 * cf_index_decode - parse an index plaintext (untrusted). *@out is allocated; release
 * with cf_index_free. Returns 0, CF_E_TRUNCATED, CF_E_FORMAT, CF_E_CORRUPT, CF_E_LIMIT,
 * -ENOMEM. Blob geometry is checked against each pack's size.
 */
int cf_index_decode(struct cf_index **out, const uint8_t *in, size_t len);

/* cf_index_free - release a decoded index (or one built by the caller with malloc). */
void cf_index_free(struct cf_index *ix);
