/* SPDX-License-Identifier: ISC */
#include "core/encode.h"

#include <sodium.h>
#include <string.h>

#include "core/error.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

void cf_encode_hex(char *out, const uint8_t *in, size_t len)
{
	sodium_bin2hex(out, CF_HEX_LEN(len), in, len);
}

int cf_encode_unhex(uint8_t *out, size_t outlen, const char *in)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(in) != outlen * 2)
		return CF_E_FORMAT;
	if (sodium_hex2bin(out, outlen, in, outlen * 2, NULL, &got, &end) != 0 ||
	    got != outlen || *end != '\0')
		return CF_E_FORMAT;
	return 0;
}

size_t cf_encode_b64_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, B64_VARIANT);
}

void cf_encode_b64(char *out, size_t outlen, const uint8_t *in, size_t len)
{
	sodium_bin2base64(out, outlen, in, len, B64_VARIANT);
}

int cf_encode_unb64(uint8_t *out, size_t outmax, size_t *outlen, const char *in)
{
	const char *end = NULL;
	size_t got = 0;

	if (sodium_base642bin(out, outmax, in, strlen(in), NULL, &got, &end, B64_VARIANT) != 0 ||
	    *end != '\0')
		return CF_E_FORMAT;
	*outlen = got;
	return 0;
}
