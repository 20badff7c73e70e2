/* SPDX-License-Identifier: ISC */
#include "core/aead.h"

#include <sodium.h>

#include "core/error.h"

void cf_aead_encrypt(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad,
		     size_t adlen, const uint8_t nonce[CF_AEAD_NONCE_BYTES],
		     const uint8_t key[CF_AEAD_KEY_BYTES])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad, adlen, NULL, nonce,
						   key);
}

int cf_aead_decrypt(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[CF_AEAD_NONCE_BYTES],
		    const uint8_t key[CF_AEAD_KEY_BYTES])
{
	if (clen < CF_AEAD_TAG_BYTES)
		return CF_E_TRUNCATED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, ad, adlen, nonce,
						       key) != 0) {
		sodium_memzero(m, clen - CF_AEAD_TAG_BYTES);
		return CF_E_AUTH;
	}
	return 0;
}

void cf_aead_seal(uint8_t *out, const uint8_t *m, size_t mlen, const uint8_t *ad,
		  size_t adlen, const uint8_t key[CF_AEAD_KEY_BYTES])
{
	randombytes_buf(out, CF_AEAD_NONCE_BYTES);
	cf_aead_encrypt(out + CF_AEAD_NONCE_BYTES, m, mlen, ad, adlen, out, key);
}

int cf_aead_open(uint8_t *m, const uint8_t *in, size_t inlen, const uint8_t *ad,
		 size_t adlen, const uint8_t key[CF_AEAD_KEY_BYTES])
{
	if (inlen < CF_AEAD_OVERHEAD)
		return CF_E_TRUNCATED;
	return cf_aead_decrypt(m, in + CF_AEAD_NONCE_BYTES, inlen - CF_AEAD_NONCE_BYTES, ad,
			       adlen, in, key);
}

void cf_aead_keygen(uint8_t key[CF_AEAD_KEY_BYTES])
{
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
}
