/* SPDX-License-Identifier: ISC */
#include "backupd/body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

struct cf_body {
	struct cf_repo *repo;
	struct cf_chunker *ch;
	const volatile sig_atomic_t *stop;
	cf_body_progress_fn progress;
	void *ctx;
	uint8_t *blk;   /* CF_BODY_BLOCK */
	uint8_t *chunk; /* the current chunk's bytes, up to max */
	size_t chunk_len, chunk_cap;

	struct cf_archive_ref *refs; /* of the file being read */
	size_t nrefs, refs_cap;
};

int cf_body_new(struct cf_body **out, struct cf_repo *repo, struct cf_chunker *chunker,
                const volatile sig_atomic_t *stop, cf_body_progress_fn progress, void *ctx)
{
	struct cf_body *b = calloc(1, sizeof(*b));
	struct cf_chunker_params p;

	if (!b)
		return -ENOMEM;
	cf_chunker_get_params(chunker, &p);
	b->repo = repo;
	b->ch = chunker;
	b->stop = stop;
	b->progress = progress;
	b->ctx = ctx;
	b->chunk_cap = p.max;
	b->blk = malloc(CF_BODY_BLOCK);
	b->chunk = malloc(b->chunk_cap);
	if (!b->blk || !b->chunk) {
		cf_body_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void cf_body_free(struct cf_body *b)
{
	if (!b)
		return;
	free(b->blk);
	free(b->chunk);
	free(b->refs);
	free(b);
}

/* Store the pending chunk (b->chunk, b->chunk_len bytes) and append its reference. */
static int finish_chunk(struct cf_body *b)
{
	struct cf_archive_ref *ref;
	int r;

	if (b->stop && *b->stop)
		return -EINTR;
	if (b->nrefs == b->refs_cap) {
		size_t cap = b->refs_cap ? b->refs_cap * 2 : 16;
		ref = realloc(b->refs, cap * sizeof(*ref));
		if (!ref)
			return -ENOMEM;
		b->refs = ref;
		b->refs_cap = cap;
	}
	ref = &b->refs[b->nrefs];
	r = cf_repo_put_blob(b->repo, CF_BLOB_DATA, b->chunk, b->chunk_len, ref->id, NULL);
	if (r)
		return r;
	ref->len = (uint32_t)b->chunk_len;
	b->nrefs++;
	b->chunk_len = 0;
	return 0;
}

/* Feed @len bytes of @p to the chunker, storing each chunk that ends inside them. */
static int feed(struct cf_body *b, const uint8_t *p, size_t len)
{
	while (len) {
		size_t used = 0, cut = cf_chunker_next(b->ch, p, len, &used);
		if (b->chunk_len + used > b->chunk_cap)
			return CF_E_INVAL; /* cannot happen: the chunker cuts at max */
		memcpy(b->chunk + b->chunk_len, p, used);
		b->chunk_len += used;
		if (cut) {
			int r;
			if (cut != b->chunk_len)
				return CF_E_INVAL;
			r = finish_chunk(b);
			if (r)
				return r;
		}
		p += used;
		len -= used;
	}
	return 0;
}

int cf_body_read(struct cf_body *b, int fd, const char *what, struct cf_archive_ref **refs,
                 size_t *nrefs, uint64_t *size)
{
	uint64_t total = 0;
	int r = 0;

	cf_chunker_reset(b->ch);
	b->chunk_len = 0;
	b->nrefs = 0;
	for (;;) {
		ssize_t got = read(fd, b->blk, CF_BODY_BLOCK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			cf_log_err("reading %s: %s", what, strerror(errno));
			return r;
		}
		if (got == 0)
			break;
		total += (uint64_t)got;
		if (total > CF_ARCHIVE_SIZE_MAX) {
			cf_log_err("%s is larger than %llu bytes: not supported", what,
			           (unsigned long long)CF_ARCHIVE_SIZE_MAX);
			return CF_E_LIMIT;
		}
		r = feed(b, b->blk, (size_t)got);
		if (r)
			return r;
		if (b->progress)
			b->progress(b->ctx, (uint64_t)got);
	}
	if (b->chunk_len) {
		r = finish_chunk(b);
		if (r)
			return r;
	}
	if (b->nrefs) {
		*refs = malloc(b->nrefs * sizeof(**refs));
		if (!*refs)
			return -ENOMEM;
		memcpy(*refs, b->refs, b->nrefs * sizeof(**refs));
	} else {
		*refs = NULL;
	}
	*nrefs = b->nrefs;
	*size = total;
	return 0;
}

int cf_refs_encode(const struct cf_archive_ref *refs, size_t n, uint8_t **out, size_t *len)
{
	uint8_t *buf, *p;

	if (n > SIZE_MAX / CF_BODY_REF_BYTES)
		return -ENOMEM;
	buf = malloc(n ? n * CF_BODY_REF_BYTES : 1);
	if (!buf)
		return -ENOMEM;
	p = buf;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, refs[i].id, CF_BLOB_ID_BYTES);
		p += CF_BLOB_ID_BYTES;
		for (int k = 0; k < 4; k++)
			*p++ = (uint8_t)(refs[i].len >> (8 * k));
	}
	*out = buf;
	*len = n * CF_BODY_REF_BYTES;
	return 0;
}

int cf_refs_decode(const uint8_t *in, size_t len, struct cf_archive_ref **refs, size_t *n)
{
	struct cf_archive_ref *v = NULL;
	size_t cnt;

	if (len % CF_BODY_REF_BYTES)
		return CF_E_CORRUPT;
	cnt = len / CF_BODY_REF_BYTES;
	if (cnt) {
		v = malloc(cnt * sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cnt; i++) {
		const uint8_t *p = in + i * CF_BODY_REF_BYTES;
		memcpy(v[i].id, p, CF_BLOB_ID_BYTES);
		p += CF_BLOB_ID_BYTES;
		v[i].len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		           (uint32_t)p[3] << 24;
		if (v[i].len == 0 || v[i].len > CF_ARCHIVE_REF_MAX) {
			free(v);
			return CF_E_CORRUPT;
		}
	}
	*refs = v;
	*n = cnt;
	return 0;
}
