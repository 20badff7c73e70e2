/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "tests/lib/check.h"

int main(void)
{
	uint8_t key[CF_AEAD_KEY_BYTES], key2[CF_AEAD_KEY_BYTES];
	const char msg[] = "a message for the aead test";
	const size_t mlen = sizeof(msg);
	uint8_t sealed[sizeof(msg) + CF_AEAD_OVERHEAD], sealed2[sizeof(sealed)];
	uint8_t out[sizeof(msg)];
	const uint8_t ad[] = "type=chunk id=..";

	REQUIRE(cf_core_init() == 0);
	cf_aead_keygen(key);
	cf_aead_keygen(key2);
	CHECK(memcmp(key, key2, sizeof(key)) != 0);

	cf_aead_seal(sealed, (const uint8_t *)msg, mlen, ad, sizeof(ad), key);
	CHECK_RC(cf_aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key), 0);
	CHECK(memcmp(out, msg, mlen) == 0);

	/* fresh nonce each time: same input, different ciphertext */
	cf_aead_seal(sealed2, (const uint8_t *)msg, mlen, ad, sizeof(ad), key);
	CHECK(memcmp(sealed, sealed2, sizeof(sealed)) != 0);

	/* every flipped byte is caught, and the output is zeroed */
	for (size_t i = 0; i < sizeof(sealed); i++) {
		sealed[i] ^= 0x40;
		memset(out, 0xAA, sizeof(out));
		CHECK_RC(cf_aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key), CF_E_AUTH);
		CHECK(cf_core_is_zero(out, sizeof(out)));
		sealed[i] ^= 0x40;
	}
	CHECK_RC(cf_aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad) - 1, key), CF_E_AUTH);
	CHECK_RC(cf_aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key2), CF_E_AUTH);
	CHECK_RC(cf_aead_open(out, sealed, sizeof(sealed) - 1, ad, sizeof(ad), key), CF_E_AUTH);
	CHECK_RC(cf_aead_open(out, sealed, CF_AEAD_OVERHEAD - 1, ad, sizeof(ad), key),
		 CF_E_TRUNCATED);

	/* empty message, explicit nonce, in place */
	{
		uint8_t nonce[CF_AEAD_NONCE_BYTES] = {9}, c[CF_AEAD_TAG_BYTES], buf[8 + 16];
		cf_aead_encrypt(c, NULL, 0, NULL, 0, nonce, key);
		CHECK_RC(cf_aead_decrypt(NULL, c, sizeof(c), NULL, 0, nonce, key), 0);
		memcpy(buf, "inplace!", 8);
		cf_aead_encrypt(buf, buf, 8, NULL, 0, nonce, key);
		CHECK(memcmp(buf, "inplace!", 8) != 0);
		CHECK_RC(cf_aead_decrypt(buf, buf, sizeof(buf), NULL, 0, nonce, key), 0);
		CHECK(memcmp(buf, "inplace!", 8) == 0);
		CHECK_RC(cf_aead_decrypt(buf, buf, 15, NULL, 0, nonce, key), CF_E_TRUNCATED);
	}
	return check_finish();
}
