/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Secure buffers for secrets: memory from sodium_malloc (guard pages, canary, mlock'ed
 * where the system allows), zeroed by sodium_free when released. Every key, password,
 * recovery key and decrypted key slot lives in one of these.
 */
#include <stddef.h>
#include <stdint.h>

struct cf_secbuf;

/*
 * cf_secbuf_new - allocate a zero-filled secure buffer of @len bytes (@len may be 0).
 * Sets *@out only on success. Returns 0, or -ENOMEM.
 */
int cf_secbuf_new(struct cf_secbuf **out, size_t len);

/*
 * cf_secbuf_dup - a new secure buffer holding a copy of @len bytes at @src.
 * Sets *@out only on success. Returns 0, or -ENOMEM.
 */
int cf_secbuf_dup(struct cf_secbuf **out, const void *src, size_t len);

/* cf_secbuf_free - wipe and release @b. Accepts NULL. */
void cf_secbuf_free(struct cf_secbuf *b);

/* cf_secbuf_data - the buffer's bytes (writable), valid until cf_secbuf_free. */
uint8_t *cf_secbuf_data(const struct cf_secbuf *b);

/* cf_secbuf_len - the buffer's length in bytes. */
size_t cf_secbuf_len(const struct cf_secbuf *b);

/*
 * cf_secbuf_shrink - make the visible length @len (<= the current length), wiping the
 * tail. The allocation is not returned early; it is all wiped on free.
 */
void cf_secbuf_shrink(struct cf_secbuf *b, size_t len);

/*
 * cf_secmem_alloc - raw secure memory for fixed-size secret structs (sodium_malloc),
 * zero-filled and 16-byte aligned. Returns NULL when out of memory. Release with cf_secmem_free, which wipes it.
 */
void *cf_secmem_alloc(size_t len);

/* cf_secmem_free - wipe and release memory from cf_secmem_alloc. Accepts NULL. */
void cf_secmem_free(void *p);
