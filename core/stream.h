/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Streaming AEAD for data too large for one buffer: libsodium secretstream
 * (XChaCha20-Poly1305), each message authenticated, reordering, truncation and
 * dropping detected; the last message carries the FINAL tag.
 *
 * A stream is header[24] followed by messages, each ciphertext = plaintext + 17 bytes.
 */
#include <stddef.h>
#include <stdint.h>

#define CF_STREAM_KEY_BYTES 32
#define CF_STREAM_HEADER_BYTES 24
#define CF_STREAM_ABYTES 17

struct cf_stream;

/*
 * cf_stream_push_new - start encrypting under @key; writes the stream header to @header.
 * The state (key material) is in secure memory. Sets *@out only on success.
 * Returns 0 or -ENOMEM.
 */
int cf_stream_push_new(struct cf_stream **out, uint8_t header[CF_STREAM_HEADER_BYTES],
		       const uint8_t key[CF_STREAM_KEY_BYTES]);

/*
 * cf_stream_push - encrypt one message of @mlen bytes into @c (@mlen + 17 bytes), with
 * optional @ad. @final marks the last message; nothing may be pushed after it.
 * Returns 0, or CF_E_INVAL after the final message.
 */
int cf_stream_push(struct cf_stream *s, uint8_t *c, const uint8_t *m, size_t mlen,
		   const uint8_t *ad, size_t adlen, int final);

/*
 * cf_stream_pull_new - start decrypting a stream with @header under @key.
 * Sets *@out only on success. Returns 0, CF_E_FORMAT for an invalid header, -ENOMEM.
 */
int cf_stream_pull_new(struct cf_stream **out, const uint8_t header[CF_STREAM_HEADER_BYTES],
		       const uint8_t key[CF_STREAM_KEY_BYTES]);

/*
 * cf_stream_pull - verify and decrypt one message @c (@clen bytes) into @m (@clen - 17).
 * *@final is set to 1 when this was the final message. Returns 0, CF_E_TRUNCATED when
 * @clen < 17, CF_E_AUTH on a forged, reordered or post-final message (then @m is zeroed).
 */
int cf_stream_pull(struct cf_stream *s, uint8_t *m, const uint8_t *c, size_t clen,
		   const uint8_t *ad, size_t adlen, int *final);

/* cf_stream_free - wipe and release a push or pull state. Accepts NULL. */
void cf_stream_free(struct cf_stream *s);
