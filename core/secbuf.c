/* SPDX-License-Identifier: ISC */
#include "core/secbuf.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

struct cf_secbuf {
	size_t len;      /* visible length */
	size_t cap;      /* allocated bytes after the header, all wiped on free */
	uint8_t data[];
};

int cf_secbuf_new(struct cf_secbuf **out, size_t len)
{
	struct cf_secbuf *b;
	size_t total;

	if (len > SIZE_MAX - sizeof(*b) - 32)
		return -ENOMEM;
	/*
	 * sodium_malloc places the block against a guard page, so its address is only as
	 * aligned as its size: round up to 16 to keep the header aligned. +1 so a zero-length
	 * buffer still has a valid data pointer.
	 */
	total = (sizeof(*b) + len + 1 + 15) & ~(size_t)15;
	b = sodium_malloc(total);
	if (!b)
		return -ENOMEM;
	b->len = len;
	b->cap = total - sizeof(*b);
	memset(b->data, 0, b->cap);
	*out = b;
	return 0;
}

int cf_secbuf_dup(struct cf_secbuf **out, const void *src, size_t len)
{
	struct cf_secbuf *b;
	int r;

	r = cf_secbuf_new(&b, len);
	if (r)
		return r;
	if (len)
		memcpy(b->data, src, len);
	*out = b;
	return 0;
}

void cf_secbuf_free(struct cf_secbuf *b)
{
	if (!b)
		return;
	sodium_memzero(b->data, b->cap);
	sodium_free(b);  /* also zeroes the whole allocation */
}

uint8_t *cf_secbuf_data(const struct cf_secbuf *b)
{
	return (uint8_t *)b->data;
}

size_t cf_secbuf_len(const struct cf_secbuf *b)
{
	return b->len;
}

void cf_secbuf_shrink(struct cf_secbuf *b, size_t len)
{
	if (len >= b->len)
		return;
	sodium_memzero(b->data + len, b->len - len);
	b->len = len;
}

void *cf_secmem_alloc(size_t len)
{
	/* Round up to 16: sodium_malloc aligns the block only as far as its size. */
	size_t total = len ? (len + 15) & ~(size_t)15 : 16;
	void *p;

	if (len > SIZE_MAX - 16)
		return NULL;
	p = sodium_malloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}

void cf_secmem_free(void *p)
{
	sodium_free(p);  /* accepts NULL; wipes before unmapping */
}
