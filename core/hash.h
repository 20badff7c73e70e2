/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Hashing: BLAKE2b (keyed or not; libsodium crypto_generichash), SHA-256 (for
 * protocols that demand it, e.g. S3's x-amz-content-sha256) and SipHash-128 (a fast
 * keyed PRF for change detection).
 */
#include <stddef.h>
#include <stdint.h>

#define CF_HASH_BYTES 32      /* default BLAKE2b output: object and chunk ids */
#define CF_HASH_KEY_BYTES 32  /* key length used for keyed BLAKE2b */
#define CF_HASH_MIN_BYTES 16
#define CF_HASH_MAX_BYTES 64
#define CF_SHA256_BYTES 32

struct cf_hash;

/*
 * cf_hash_blake2b - one-shot BLAKE2b of @in into @outlen bytes (16..64).
 * @key may be NULL (unkeyed) or CF_HASH_KEY_BYTES long. Returns 0 or CF_E_INVAL.
 */
int cf_hash_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, const void *in,
		    size_t inlen);

#define CF_SIPHASH_BYTES 16
#define CF_SIPHASH_KEY_BYTES 16

/*
 * cf_hash_siphash128 - SipHash-2-4 with 128-bit output (libsodium
 * crypto_shorthash_siphashx24) of @in under the secret @key. A fast keyed PRF for
 * change detection under our own key (database page digests); not collision resistant
 * against someone who holds the key, so never use it for content ids.
 */
void cf_hash_siphash128(uint8_t out[CF_SIPHASH_BYTES], const uint8_t key[CF_SIPHASH_KEY_BYTES],
			const void *in, size_t inlen);

/*
 * cf_hash_new - incremental BLAKE2b with @outlen bytes of output; @key NULL or 32 bytes.
 * The state lives in secure memory (it holds the key). Sets *@out only on success.
 * Returns 0, CF_E_INVAL or -ENOMEM.
 */
int cf_hash_new(struct cf_hash **out, size_t outlen, const uint8_t *key);

/* cf_hash_update - absorb @len bytes. */
void cf_hash_update(struct cf_hash *h, const void *in, size_t len);

/*
 * cf_hash_final - write the digest (the @outlen given to cf_hash_new) and wipe the state;
 * the state may not be updated afterwards, only freed.
 */
void cf_hash_final(struct cf_hash *h, uint8_t *out);

/* cf_hash_free - wipe and release. Accepts NULL. */
void cf_hash_free(struct cf_hash *h);

/* cf_hash_sha256 - one-shot SHA-256. */
void cf_hash_sha256(uint8_t out[CF_SHA256_BYTES], const void *in, size_t len);

struct cf_sha256;
/* Incremental SHA-256 (not secret: plain heap). Same contract as cf_hash_*. */
int cf_hash_sha256_new(struct cf_sha256 **out);
void cf_hash_sha256_update(struct cf_sha256 *h, const void *in, size_t len);
void cf_hash_sha256_final(struct cf_sha256 *h, uint8_t out[CF_SHA256_BYTES]);
void cf_hash_sha256_free(struct cf_sha256 *h);
