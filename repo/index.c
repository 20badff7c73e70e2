/* SPDX-License-Identifier: ISC */
#include "repo/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/object.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

int cf_index_encode(uint8_t **out, size_t *len, const struct cf_index *ix)
{
	size_t total = 4 + ix->nsupersedes * 32 + 4, o = 0;
	uint8_t *b;

	for (size_t i = 0; i < ix->npacks; i++)
		total += 32 + 8 + 4 + ix->packs[i].n * CF_PACK_ENTRY_BYTES;
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	put_le32(b, (uint32_t)ix->nsupersedes);
	o = 4;
	for (size_t i = 0; i < ix->nsupersedes; i++, o += 32)
		memcpy(b + o, ix->supersedes[i], 32);
	put_le32(b + o, (uint32_t)ix->npacks);
	o += 4;
	for (size_t i = 0; i < ix->npacks; i++) {
		uint8_t *list = NULL;
		size_t llen = 0;
		int r = cf_pack_entries_encode(&list, &llen, ix->packs[i].e, ix->packs[i].n);
		if (r) {
			free(b);
			return r;
		}
		memcpy(b + o, ix->packs[i].id, 32);
		put_le64(b + o + 32, ix->packs[i].size);
		memcpy(b + o + 40, list, llen);
		o += 40 + llen;
		free(list);
	}
	*out = b;
	*len = o;
	return 0;
}

void cf_index_free(struct cf_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->npacks; i++)
		free(ix->packs[i].e);
	free(ix->packs);
	free(ix->supersedes);
	free(ix);
}

/* Blobs must lie inside the pack's blob area; the table itself is not known here. */
static int check_geometry(const struct cf_index_pack *p)
{
	if (p->size > CF_PACK_MAX_BYTES)
		return CF_E_CORRUPT;
	for (size_t i = 0; i < p->n; i++) {
		const struct cf_pack_entry *e = &p->e[i];
		if (e->offset < CF_PACK_HEADER_BYTES || e->length < CF_BLOB_OVERHEAD ||
		    (uint64_t)e->offset + e->length + CF_PACK_TRAILER_BYTES > p->size ||
		    e->raw_length > CF_BLOB_MAX_PLAIN)
			return CF_E_CORRUPT;
	}
	return 0;
}

int cf_index_decode(struct cf_index **out, const uint8_t *in, size_t len)
{
	struct cf_index *ix = calloc(1, sizeof(*ix));
	size_t o = 0;
	uint32_t ns, np;
	int r = CF_E_TRUNCATED;

	if (!ix)
		return -ENOMEM;
	if (len < 4)
		goto fail;
	ns = get_le32(in);
	if (ns > (len - 4) / 32)
		goto fail;
	ix->supersedes = malloc(ns ? ns * 32 : 1);
	if (!ix->supersedes) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(ix->supersedes, in + 4, (size_t)ns * 32);
	ix->nsupersedes = ns;
	o = 4 + (size_t)ns * 32;
	if (len - o < 4)
		goto fail;
	np = get_le32(in + o);
	o += 4;
	if (np > CF_INDEX_MAX_PACKS) {
		r = CF_E_LIMIT;
		goto fail;
	}
	if (np > (len - o) / (32 + 8 + 4))
		goto fail;
	ix->packs = calloc(np ? np : 1, sizeof(*ix->packs));
	if (!ix->packs) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < np; i++) {
		struct cf_index_pack *p = &ix->packs[i];
		size_t used = 0;
		if (len - o < 32 + 8 + 4) {
			r = CF_E_TRUNCATED;
			goto fail;
		}
		memcpy(p->id, in + o, 32);
		p->size = get_le64(in + o + 32);
		o += 40;
		r = cf_pack_entries_decode(in + o, len - o, &used, &p->e, &p->n);
		if (r)
			goto fail;
		ix->npacks = i + 1;
		o += used;
		r = check_geometry(p);
		if (r)
			goto fail;
	}
	ix->npacks = np;
	if (o != len) {
		r = CF_E_FORMAT;
		goto fail;
	}
	*out = ix;
	return 0;
fail:
	cf_index_free(ix);
	return r;
}
