/* SPDX-License-Identifier: ISC */
#include "core/hash.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

#include "core/error.h"

struct cf_hash {
	crypto_generichash_state st;
	size_t outlen;
};

struct cf_sha256 {
	crypto_hash_sha256_state st;
};

static int outlen_ok(size_t outlen)
{
	return outlen >= CF_HASH_MIN_BYTES && outlen <= CF_HASH_MAX_BYTES;
}

int cf_hash_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, const void *in,
		    size_t inlen)
{
	if (!outlen_ok(outlen))
		return CF_E_INVAL;
	crypto_generichash(out, outlen, in, inlen, key, key ? CF_HASH_KEY_BYTES : 0);
	return 0;
}

int cf_hash_new(struct cf_hash **out, size_t outlen, const uint8_t *key)
{
	struct cf_hash *h;

	if (!outlen_ok(outlen))
		return CF_E_INVAL;
	/* The state holds the key: keep it in secure memory. */
	h = sodium_malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->outlen = outlen;
	crypto_generichash_init(&h->st, key, key ? CF_HASH_KEY_BYTES : 0, outlen);
	*out = h;
	return 0;
}

void cf_hash_update(struct cf_hash *h, const void *in, size_t len)
{
	crypto_generichash_update(&h->st, in, len);
}

void cf_hash_final(struct cf_hash *h, uint8_t *out)
{
	crypto_generichash_final(&h->st, out, h->outlen);
	sodium_memzero(&h->st, sizeof(h->st));
}

void cf_hash_free(struct cf_hash *h)
{
	sodium_free(h);
}

void cf_hash_siphash128(uint8_t out[CF_SIPHASH_BYTES], const uint8_t key[CF_SIPHASH_KEY_BYTES],
			const void *in, size_t inlen)
{
	crypto_shorthash_siphashx24(out, in, inlen, key);
}

void cf_hash_sha256(uint8_t out[CF_SHA256_BYTES], const void *in, size_t len)
{
	crypto_hash_sha256(out, in, len);
}

int cf_hash_sha256_new(struct cf_sha256 **out)
{
	struct cf_sha256 *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	crypto_hash_sha256_init(&h->st);
	*out = h;
	return 0;
}

void cf_hash_sha256_update(struct cf_sha256 *h, const void *in, size_t len)
{
	crypto_hash_sha256_update(&h->st, in, len);
}

void cf_hash_sha256_final(struct cf_sha256 *h, uint8_t out[CF_SHA256_BYTES])
{
	crypto_hash_sha256_final(&h->st, out);
}

void cf_hash_sha256_free(struct cf_sha256 *h)
{
	free(h);
}
