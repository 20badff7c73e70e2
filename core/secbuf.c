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

	if (len > SIZE_MAX - sizeof(*b) - 1)
		return -ENOMEM;
	/* +1 so a zero-length buffer still has a valid data pointer. */
	b = sodium_malloc(sizeof(*b) + len + 1);
	if (!b)
		return -ENOMEM;
	b->len = len;
	b->cap = len + 1;
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
	void *p = sodium_malloc(len ? len : 1);

	if (p)
		memset(p, 0, len ? len : 1);
	return p;
}

void cf_secmem_free(void *p)
{
	sodium_free(p);  /* accepts NULL; wipes before unmapping */
}
