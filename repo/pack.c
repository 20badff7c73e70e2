/* SPDX-License-Identifier: ISC */
#include "repo/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "core/hash.h"
#include "repo/object.h"
#include "repo/spool.h"
#include "util/log.h"

static const uint8_t pack_magic[4] = {'C', 'F', 'P', 0x01};    /* named by all its bytes */
static const uint8_t pack_magic_v2[4] = {'C', 'F', 'P', 0x02}; /* named by its tail */
static const uint8_t trailer_magic[4] = {'C', 'F', 'P', 'T'};

struct cf_packw {
	const struct cf_repokeys *k;
	uint8_t repo_id[CF_REPO_ID_BYTES];
	struct cf_spool *spool;       /* the pack being written: magic, blobs in arrival order */
	struct cf_hash *h;            /* version 1 names: the spool's writer hashes every byte */
	struct cf_pack_entry *e;      /* final offsets */
	size_t n, cap;
	int full;                     /* closed at the target size: finer padding */
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cf_packw_new(struct cf_packw **out, const char *spool_dir, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], unsigned flags)
{
	struct cf_packw *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = cf_spool_new(&p->spool, spool_dir, !!(flags & CF_PACKW_DIRECT));
	if (!r && !(flags & CF_PACKW_NAME_TAIL))
		r = cf_hash_new(&p->h, 32, NULL);
	if (!r && p->h)
		cf_spool_hash(p->spool, p->h);
	if (!r)
		r = cf_spool_append(p->spool, p->h ? pack_magic : pack_magic_v2, sizeof(pack_magic));
	if (r) {
		cf_packw_free(p);
		return r;
	}
	p->k = k;
	memcpy(p->repo_id, repo_id, CF_REPO_ID_BYTES);
	*out = p;
	return 0;
}

void cf_packw_free(struct cf_packw *p)
{
	if (!p)
		return;
	cf_spool_free(p->spool); /* first: its writer may still use the hash */
	cf_hash_free(p->h);
	free(p->e);
	free(p);
}

uint64_t cf_packw_bytes(const struct cf_packw *p)
{
	return cf_spool_len(p->spool);
}

int cf_packw_direct(const struct cf_packw *p)
{
	return cf_spool_direct(p->spool);
}

size_t cf_packw_count(const struct cf_packw *p)
{
	return p->n;
}

int cf_packw_add(struct cf_packw *p, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
		 const uint8_t *stored, uint32_t stored_len, uint32_t raw_len)
{
	struct cf_pack_entry *e;
	uint64_t at = cf_spool_len(p->spool);
	int r;

	/* room for the header, the table (one entry more) and its framing, and padding */
	if (at + stored_len + (p->n + 1) * CF_PACK_ENTRY_BYTES + 4096 >
	    CF_PACK_MAX_BYTES / 8 * 7)
		return CF_E_LIMIT;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		e = realloc(p->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		p->e = e;
		p->cap = cap;
	}
	r = cf_spool_append(p->spool, stored, stored_len);
	if (r)
		return r; /* logged by the spool */
	e = &p->e[p->n++];
	e->type = type;
	memcpy(e->id, id, CF_BLOB_ID_BYTES);
	e->offset = (uint32_t)at;
	e->length = stored_len;
	e->raw_length = raw_len;
	return 0;
}

void cf_packw_mark_full(struct cf_packw *p)
{
	p->full = 1;
}

uint64_t cf_pack_padded(uint64_t len, int full)
{
	if (full)
		return (len + CF_PACK_FULL_UNIT - 1) / CF_PACK_FULL_UNIT * CF_PACK_FULL_UNIT;
	return cf_pack_padme(len);
}

uint64_t cf_pack_padme(uint64_t len)
{
	unsigned e, s;
	uint64_t mask;

	if (len < 2)
		return len;
	e = 63u - (unsigned)__builtin_clzll(len); /* floor(log2 len) */
	s = 32u - (unsigned)__builtin_clz(e);     /* floor(log2 e) + 1 */
	if (e <= s)
		return len;
	mask = (1ull << (e - s)) - 1;
	return (len + mask) & ~mask;
}

int cf_pack_entries_encode(uint8_t **out, size_t *outlen, const struct cf_pack_entry *e,
			   size_t n)
{
	size_t len = 4 + n * CF_PACK_ENTRY_BYTES;
	uint8_t *buf, *q;

	if (n > UINT32_MAX / CF_PACK_ENTRY_BYTES)
		return CF_E_LIMIT;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	put_le32(buf, (uint32_t)n);
	q = buf + 4;
	for (size_t i = 0; i < n; i++, q += CF_PACK_ENTRY_BYTES) {
		q[0] = e[i].type;
		memcpy(q + 1, e[i].id, CF_BLOB_ID_BYTES);
		put_le32(q + 33, e[i].offset);
		put_le32(q + 37, e[i].length);
		put_le32(q + 41, e[i].raw_length);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int cf_pack_entries_decode(const uint8_t *in, size_t len, size_t *used,
			   struct cf_pack_entry **entries, size_t *n)
{
	struct cf_pack_entry *e;
	const uint8_t *q;
	uint32_t count;

	if (len < 4)
		return CF_E_TRUNCATED;
	count = get_le32(in);
	if (count > (len - 4) / CF_PACK_ENTRY_BYTES)
		return CF_E_TRUNCATED;
	if (!used && len != 4 + (size_t)count * CF_PACK_ENTRY_BYTES)
		return CF_E_FORMAT;
	e = malloc(count ? count * sizeof(*e) : 1);
	if (!e)
		return -ENOMEM;
	q = in + 4;
	for (uint32_t i = 0; i < count; i++, q += CF_PACK_ENTRY_BYTES) {
		e[i].type = q[0];
		if (e[i].type < CF_BLOB_DATA || e[i].type > CF_BLOB_CHUNKLIST) {
			free(e);
			return CF_E_CORRUPT;
		}
		memcpy(e[i].id, q + 1, CF_BLOB_ID_BYTES);
		e[i].offset = get_le32(q + 33);
		e[i].length = get_le32(q + 37);
		e[i].raw_length = get_le32(q + 41);
	}
	if (used)
		*used = 4 + (size_t)count * CF_PACK_ENTRY_BYTES;
	*entries = e;
	*n = count;
	return 0;
}

int cf_packw_finish(struct cf_packw *p, int *fd_out, uint64_t *size, uint8_t pack_id[32],
		    struct cf_pack_entry **entries, size_t *n)
{
	uint8_t *list = NULL, *plain = NULL, *table = NULL, zeros[4096] = {0};
	size_t list_len = 0, table_len = 0;
	uint64_t total, pad;
	int fd = -1, r;

	/* the table (offsets are final now) as an encrypted object: epoch || entries */
	r = cf_pack_entries_encode(&list, &list_len, p->e, p->n);
	if (r)
		goto out;
	plain = malloc(4 + list_len);
	if (!plain) {
		r = -ENOMEM;
		goto out;
	}
	put_le32(plain, cf_repokeys_epoch(p->k));
	memcpy(plain + 4, list, list_len);
	r = cf_object_seal(&table, &table_len, p->k, p->repo_id, CF_OBJ_PACK_TABLE, plain,
			   4 + list_len);
	if (r)
		goto out;
	free(plain); /* now the tail: table || trailer */
	plain = realloc(table, table_len + CF_PACK_TRAILER_BYTES);
	if (!plain) {
		r = -ENOMEM;
		goto out;
	}
	table = plain;
	plain = NULL;
	put_le32(table + table_len, (uint32_t)table_len);
	memcpy(table + table_len + 4, trailer_magic, 4);
	total = cf_spool_len(p->spool) + table_len + CF_PACK_TRAILER_BYTES;
	for (pad = cf_pack_padded(total, p->full) - total; pad && !r;) {
		size_t c = pad < sizeof(zeros) ? (size_t)pad : sizeof(zeros);
		r = cf_spool_append(p->spool, zeros, c);
		pad -= c;
	}
	if (!r)
		r = cf_spool_append(p->spool, table, table_len + CF_PACK_TRAILER_BYTES);
	if (!r)
		r = cf_spool_finish(p->spool, &fd); /* a version 1 name: hashed by the writer */
	if (r)
		goto out;
	if (p->h)
		cf_hash_final(p->h, pack_id);
	else
		r = cf_pack_tail_name(pack_id, cf_spool_len(p->spool), table,
				      table_len + CF_PACK_TRAILER_BYTES);
	if (r) {
		close(fd);
		goto out;
	}
	*fd_out = fd;
	*size = cf_spool_len(p->spool);
	*entries = p->e;
	*n = p->n;
	p->e = NULL;
	p->n = p->cap = 0;
out:
	free(list);
	free(plain);
	free(table);
	return r;
}

int cf_pack_version(const uint8_t head[CF_PACK_HEADER_BYTES])
{
	if (!memcmp(head, pack_magic, sizeof(pack_magic)))
		return 1;
	if (!memcmp(head, pack_magic_v2, sizeof(pack_magic_v2)))
		return 2;
	return 0;
}

int cf_pack_tail_name(uint8_t id[32], uint64_t pack_size, const uint8_t *tail, size_t tail_len)
{
	struct cf_hash *h = NULL;
	uint8_t pre[CF_PACK_HEADER_BYTES + 8];
	int r = cf_hash_new(&h, 32, NULL);

	if (r)
		return r;
	memcpy(pre, pack_magic_v2, sizeof(pack_magic_v2));
	put_le32(pre + 4, (uint32_t)pack_size);
	put_le32(pre + 8, (uint32_t)(pack_size >> 32));
	cf_hash_update(h, pre, sizeof(pre));
	cf_hash_update(h, tail, tail_len);
	cf_hash_final(h, id);
	cf_hash_free(h);
	return 0;
}

int cf_pack_trailer(const uint8_t tail[CF_PACK_TRAILER_BYTES], uint64_t pack_size,
		    uint32_t *table_len)
{
	uint32_t t;

	if (memcmp(tail + 4, trailer_magic, 4) != 0)
		return CF_E_FORMAT;
	t = get_le32(tail);
	if (pack_size > CF_PACK_MAX_BYTES ||
	    (uint64_t)t + CF_PACK_TRAILER_BYTES + CF_PACK_HEADER_BYTES > pack_size)
		return CF_E_CORRUPT;
	*table_len = t;
	return 0;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct cf_pack_entry *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int cf_pack_table_parse(const uint8_t *table, size_t len, uint64_t pack_size,
			const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
			uint32_t *epoch, struct cf_pack_entry **entries, size_t *n)
{
	struct cf_pack_entry *e = NULL, *sorted = NULL;
	uint8_t *plain = NULL, otype;
	size_t plen = 0, count = 0;
	uint64_t end, prev_end = CF_PACK_HEADER_BYTES;
	uint32_t oepoch;
	int r;

	if (pack_size > CF_PACK_MAX_BYTES || len + CF_PACK_TRAILER_BYTES > pack_size)
		return CF_E_CORRUPT;
	end = pack_size - CF_PACK_TRAILER_BYTES - len; /* blobs and padding end here */
	r = cf_object_peek(table, len, &otype, &oepoch);
	if (!r)
		r = cf_object_open(&plain, &plen, ring, repo_id, CF_OBJ_PACK_TABLE, table, len);
	if (r)
		return r;
	r = CF_E_CORRUPT;
	if (plen < 4 || get_le32(plain) != oepoch)
		goto fail;
	r = cf_pack_entries_decode(plain + 4, plen - 4, NULL, &e, &count);
	if (r)
		goto fail;
	sorted = malloc(count ? count * sizeof(*sorted) : 1);
	if (!sorted) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(sorted, e, count * sizeof(*e));
	qsort(sorted, count, sizeof(*sorted), cmp_offset);
	r = CF_E_CORRUPT;
	for (size_t i = 0; i < count; i++) {
		const struct cf_pack_entry *x = &sorted[i];
		if (x->offset < prev_end || x->length < CF_BLOB_OVERHEAD ||
		    (uint64_t)x->offset + x->length > end || x->raw_length > CF_BLOB_MAX_PLAIN)
			goto fail;
		prev_end = (uint64_t)x->offset + x->length;
	}
	free(sorted);
	free(plain);
	*epoch = oepoch;
	*entries = e;
	*n = count;
	return 0;
fail:
	free(sorted);
	free(e);
	free(plain);
	return r;
}
