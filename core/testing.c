/* SPDX-License-Identifier: ISC */
/*
 * Deterministic randombytes for known-answer tests. Only in the core_testing library.
 * The generator is the ChaCha20 keystream (libsodium crypto_stream_chacha20) under the
 * seed, consumed in order, so a sequence of randombytes_buf calls is reproducible.
 */
#include "core/testing.h"

#include <sodium.h>
#include <string.h>

static uint8_t seed_key[crypto_stream_chacha20_KEYBYTES];
static uint64_t block_counter;   /* 64-byte keystream blocks consumed */
static uint8_t pending[64];
static size_t pending_len;

static void det_fill(void *buf, size_t len)
{
	uint8_t *p = buf;
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};

	while (len) {
		if (!pending_len) {
			crypto_stream_chacha20_xor_ic(pending, (const uint8_t[64]){0}, 64, nonce,
						      block_counter++, seed_key);
			pending_len = 64;
		}
		size_t n = len < pending_len ? len : pending_len;
		memcpy(p, pending + 64 - pending_len, n);
		pending_len -= n;
		p += n;
		len -= n;
	}
}

static uint32_t det_random(void)
{
	uint32_t v;

	det_fill(&v, sizeof(v));
	return v;
}

static const char *det_name(void)
{
	return "coffer-test-deterministic";
}

static void det_stir(void)
{
}

static int det_close(void)
{
	return 0;
}

static struct randombytes_implementation det_impl = {
	.implementation_name = det_name,
	.random = det_random,
	.stir = det_stir,
	.uniform = NULL,   /* libsodium's generic rejection sampling over .random */
	.buf = det_fill,
	.close = det_close,
};

void cf_testing_rng_seed(const uint8_t seed[32])
{
	memcpy(seed_key, seed, sizeof(seed_key));
	block_counter = 0;
	pending_len = 0;
	randombytes_set_implementation(&det_impl);
}

void cf_testing_rng_system(void)
{
	randombytes_set_implementation(&randombytes_sysrandom_implementation);
}
