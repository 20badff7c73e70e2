/* SPDX-License-Identifier: ISC */
#include "repo/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/kdf.h"
#include "core/secbuf.h"

#define KEYRING_MAX 65535

struct cf_repokeys {
	uint8_t master[CF_MASTER_KEY_BYTES];
	uint8_t chunk[4][CF_REPOKEY_BYTES]; /* per blob type, index 1..3 */
	uint8_t data[CF_REPOKEY_BYTES];
	uint8_t meta[CF_REPOKEY_BYTES];
	uint8_t gear[CF_REPOKEY_BYTES];
	uint32_t epoch;
};

struct cf_keyring {
	struct cf_repokeys **epochs;
	size_t n, cap;
	const struct cf_repokeys *current;
};

int cf_repokeys_new(struct cf_repokeys **out, uint32_t epoch,
		    const uint8_t mk[CF_MASTER_KEY_BYTES])
{
	struct cf_repokeys *k = cf_secmem_alloc(sizeof(*k));

	if (!k)
		return -ENOMEM;
	memcpy(k->master, mk, CF_MASTER_KEY_BYTES);
	k->epoch = epoch;
	/* Subkey ids and contexts: docs/repository-format.md, "Key hierarchy". */
	for (int t = CF_BLOB_DATA; t <= CF_BLOB_CHUNKLIST; t++)
		cf_kdf_subkey(k->chunk[t], CF_REPOKEY_BYTES, (uint64_t)t, "cfchunk_", mk);
	cf_kdf_subkey(k->data, CF_REPOKEY_BYTES, 2, "cfdata__", mk);
	cf_kdf_subkey(k->meta, CF_REPOKEY_BYTES, 3, "cfmeta__", mk);
	cf_kdf_subkey(k->gear, CF_REPOKEY_BYTES, 4, "cfgear__", mk);
	*out = k;
	return 0;
}

void cf_repokeys_free(struct cf_repokeys *k)
{
	cf_secmem_free(k);
}

uint32_t cf_repokeys_epoch(const struct cf_repokeys *k)
{
	return k->epoch;
}

const uint8_t *cf_repokeys_data(const struct cf_repokeys *k)
{
	return k->data;
}

const uint8_t *cf_repokeys_meta(const struct cf_repokeys *k)
{
	return k->meta;
}

const uint8_t *cf_repokeys_gear(const struct cf_repokeys *k)
{
	return k->gear;
}

const uint8_t *cf_repokeys_master(const struct cf_repokeys *k)
{
	return k->master;
}

void cf_repokeys_blob_id(const struct cf_repokeys *k, enum cf_blob_type type,
			 const void *data, size_t len, uint8_t id[CF_BLOB_ID_BYTES])
{
	/* Types are separated by key: a TREE can never collide with a DATA blob. */
	unsigned t = (unsigned)type <= CF_BLOB_CHUNKLIST ? (unsigned)type : 0;

	cf_hash_blake2b(id, CF_BLOB_ID_BYTES, k->chunk[t], data, len);
}

int cf_keyring_new(struct cf_keyring **out)
{
	struct cf_keyring *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}

void cf_keyring_free(struct cf_keyring *ring)
{
	if (!ring)
		return;
	for (size_t i = 0; i < ring->n; i++)
		cf_repokeys_free(ring->epochs[i]);
	free(ring->epochs);
	free(ring);
}

int cf_keyring_add(struct cf_keyring *ring, uint32_t epoch, const uint8_t mk[CF_MASTER_KEY_BYTES],
		   int make_current)
{
	struct cf_repokeys *k;
	int r;

	for (size_t i = 0; i < ring->n; i++) {
		if (ring->epochs[i]->epoch != epoch)
			continue;
		if (!cf_core_equal(ring->epochs[i]->master, mk, CF_MASTER_KEY_BYTES))
			return CF_E_CORRUPT;
		if (make_current)
			ring->current = ring->epochs[i];
		return 0;
	}
	if (ring->n >= KEYRING_MAX)
		return CF_E_LIMIT;
	if (ring->n == ring->cap) {
		size_t cap = ring->cap ? ring->cap * 2 : 4;
		struct cf_repokeys **e = realloc(ring->epochs, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ring->epochs = e;
		ring->cap = cap;
	}
	r = cf_repokeys_new(&k, epoch, mk);
	if (r)
		return r;
	ring->epochs[ring->n++] = k;
	if (make_current || !ring->current)
		ring->current = k;
	return 0;
}

const struct cf_repokeys *cf_keyring_get(const struct cf_keyring *ring, uint32_t epoch)
{
	for (size_t i = 0; i < ring->n; i++)
		if (ring->epochs[i]->epoch == epoch)
			return ring->epochs[i];
	return NULL;
}

const struct cf_repokeys *cf_keyring_current(const struct cf_keyring *ring)
{
	return ring->current;
}
