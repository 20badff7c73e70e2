/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * One-shot authenticated encryption: XChaCha20-Poly1305 (IETF), libsodium
 * crypto_aead_xchacha20poly1305_ietf_*. Nonces are random (192 bits), so callers never
 * track counters.
 *
 * Sealed layout produced by cf_aead_seal: nonce[24] || ciphertext[mlen] || tag[16].
 */
#include <stddef.h>
#include <stdint.h>

#define CF_AEAD_KEY_BYTES 32
#define CF_AEAD_NONCE_BYTES 24
#define CF_AEAD_TAG_BYTES 16
#define CF_AEAD_OVERHEAD (CF_AEAD_NONCE_BYTES + CF_AEAD_TAG_BYTES)

/*
 * cf_aead_encrypt - encrypt @m (@mlen bytes) with explicit @nonce into @c, which must hold
 * @mlen + CF_AEAD_TAG_BYTES bytes. @ad may be NULL when @adlen is 0. @c may equal @m.
 */
void cf_aead_encrypt(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad,
		     size_t adlen, const uint8_t nonce[CF_AEAD_NONCE_BYTES],
		     const uint8_t key[CF_AEAD_KEY_BYTES]);

/*
 * cf_aead_decrypt - verify and decrypt @c (@clen bytes incl. tag) into @m (@clen - 16
 * bytes). Returns 0, CF_E_TRUNCATED if @clen < tag, CF_E_AUTH if verification fails
 * (then @m is zeroed). @m may equal @c.
 */
int cf_aead_decrypt(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[CF_AEAD_NONCE_BYTES],
		    const uint8_t key[CF_AEAD_KEY_BYTES]);

/*
 * cf_aead_seal - encrypt with a fresh random nonce; @out (not overlapping @m) holds @mlen +
 * CF_AEAD_OVERHEAD bytes and receives nonce || ciphertext || tag.
 */
void cf_aead_seal(uint8_t *out, const uint8_t *m, size_t mlen, const uint8_t *ad,
		  size_t adlen, const uint8_t key[CF_AEAD_KEY_BYTES]);

/*
 * cf_aead_open - open what cf_aead_seal produced (@inlen bytes) into @m, which must hold
 * @inlen - CF_AEAD_OVERHEAD bytes. Returns 0, CF_E_TRUNCATED or CF_E_AUTH.
 */
int cf_aead_open(uint8_t *m, const uint8_t *in, size_t inlen, const uint8_t *ad,
		 size_t adlen, const uint8_t key[CF_AEAD_KEY_BYTES]);

/* cf_aead_keygen - a fresh random key. */
void cf_aead_keygen(uint8_t key[CF_AEAD_KEY_BYTES]);
