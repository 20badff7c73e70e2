/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Text encodings in constant time (libsodium's bin2hex/hex2bin/base64 codecs), so they
 * may be used on secrets.
 */
#include <stddef.h>
#include <stdint.h>

/* Length of the hex string for @n bytes, plus the NUL. */
#define CF_HEX_LEN(n) ((n) * 2 + 1)

/* cf_encode_hex - lower-case hex of @len bytes into @out (CF_HEX_LEN(len) bytes). */
void cf_encode_hex(char *out, const uint8_t *in, size_t len);

/*
 * cf_encode_unhex - parse exactly @outlen bytes from the NUL-terminated hex @in.
 * Returns 0, or CF_E_FORMAT for a wrong length or a non-hex character.
 */
int cf_encode_unhex(uint8_t *out, size_t outlen, const char *in);

/* Length of the unpadded URL-safe base64 text for @n bytes, plus the NUL. */
size_t cf_encode_b64_len(size_t n);

/* cf_encode_b64 - URL-safe base64 without padding, NUL-terminated, into @out. */
void cf_encode_b64(char *out, size_t outlen, const uint8_t *in, size_t len);

/*
 * cf_encode_unb64 - decode URL-safe unpadded base64 @in into @out (room: @outmax);
 * *@outlen receives the decoded length. Returns 0 or CF_E_FORMAT.
 */
int cf_encode_unb64(uint8_t *out, size_t outmax, size_t *outlen, const char *in);
