/* SPDX-License-Identifier: ISC */
#include "restore/blobset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static size_t home(const uint8_t *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (cap - 1));
}

/* The slot holding (@type, @id), or the empty slot where it would go. */
static uint8_t *find(const struct cf_blobset *s, uint8_t type, const uint8_t *id)
{
	for (size_t i = home(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		uint8_t *e = s->slot[i];

		if (e[CF_BLOB_ID_BYTES] == 0 ||
		    (e[CF_BLOB_ID_BYTES] == type && memcmp(e, id, CF_BLOB_ID_BYTES) == 0))
			return e;
	}
}

static int grow(struct cf_blobset *s)
{
	struct cf_blobset big = {.cap = s->cap ? s->cap * 2 : 4096};

	big.slot = calloc(big.cap, sizeof(*big.slot));
	if (!big.slot)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		const uint8_t *e = s->slot[i];

		if (e[CF_BLOB_ID_BYTES])
			memcpy(find(&big, e[CF_BLOB_ID_BYTES], e), e, CF_BLOB_ID_BYTES + 1);
	}
	big.n = s->n;
	free(s->slot);
	*s = big;
	return 0;
}

int cf_blobset_add(struct cf_blobset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
                   int *added)
{
	uint8_t *e;

	if (type == 0)
		return CF_E_INVAL;
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	e = find(s, type, id);
	if (added)
		*added = e[CF_BLOB_ID_BYTES] == 0;
	if (e[CF_BLOB_ID_BYTES] == 0) {
		memcpy(e, id, CF_BLOB_ID_BYTES);
		e[CF_BLOB_ID_BYTES] = type;
		s->n++;
	}
	return 0;
}

int cf_blobset_has(const struct cf_blobset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	if (!s->cap || type == 0)
		return 0;
	return find(s, type, id)[CF_BLOB_ID_BYTES] != 0;
}

void cf_blobset_clear(struct cf_blobset *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}
