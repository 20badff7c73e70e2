/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * A set of blob (type, id) pairs in memory, for the walks of `restore check` and
 * `restore prune` over every snapshot: open addressing over the ids (already uniformly
 * random), 33 bytes a slot, at most half full — about 70 MB per million distinct blobs.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/keys.h"

struct cf_blobset {
	uint8_t (*slot)[CF_BLOB_ID_BYTES + 1]; /* id || type; type 0 = empty */
	size_t n, cap;
};

/* cf_blobset_add - add (@type, @id); *@added (may be NULL) is 1 when it was new. */
int cf_blobset_add(struct cf_blobset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
                   int *added);

/* cf_blobset_has - 1 when (@type, @id) is in @s, 0 otherwise. */
int cf_blobset_has(const struct cf_blobset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES]);

/* cf_blobset_clear - release the memory; the set is empty and usable again. */
void cf_blobset_clear(struct cf_blobset *s);
