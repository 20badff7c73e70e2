/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "tests/lib/check.h"

int main(void)
{
	const uint8_t bin[] = {0x00, 0x01, 0xab, 0xff, 0x7e};
	char hex[CF_HEX_LEN(sizeof(bin))];
	uint8_t back[sizeof(bin)], big[16];
	char b64[64];
	size_t n = 0;

	REQUIRE(cf_core_init() == 0);
	cf_encode_hex(hex, bin, sizeof(bin));
	CHECK(strcmp(hex, "0001abff7e") == 0);
	CHECK_RC(cf_encode_unhex(back, sizeof(back), "0001abff7e"), 0);
	CHECK(memcmp(back, bin, sizeof(bin)) == 0);
	CHECK_RC(cf_encode_unhex(back, sizeof(back), "0001ABFF7E"), 0);
	CHECK_RC(cf_encode_unhex(back, sizeof(back), "0001abff7"), CF_E_FORMAT);
	CHECK_RC(cf_encode_unhex(back, sizeof(back), "0001abff7e00"), CF_E_FORMAT);
	CHECK_RC(cf_encode_unhex(back, sizeof(back), "0001abff7g"), CF_E_FORMAT);

	/* RFC 4648 "foobar" in the URL-safe alphabet without padding */
	CHECK(cf_encode_b64_len(6) == 9);
	cf_encode_b64(b64, sizeof(b64), (const uint8_t *)"foobar", 6);
	CHECK(strcmp(b64, "Zm9vYmFy") == 0);
	cf_encode_b64(b64, sizeof(b64), (const uint8_t *)"fo", 2);
	CHECK(strcmp(b64, "Zm8") == 0);
	cf_encode_b64(b64, sizeof(b64), (const uint8_t[]){0xfb, 0xff}, 2);
	CHECK(strcmp(b64, "-_8") == 0);
	CHECK_RC(cf_encode_unb64(big, sizeof(big), &n, "Zm9vYmFy"), 0);
	CHECK(n == 6 && memcmp(big, "foobar", 6) == 0);
	CHECK_RC(cf_encode_unb64(big, sizeof(big), &n, "Zm9v+mFy"), CF_E_FORMAT);
	CHECK_RC(cf_encode_unb64(big, sizeof(big), &n, "Zm8="), CF_E_FORMAT);
	CHECK_RC(cf_encode_unb64(big, 2, &n, "Zm9vYmFy"), CF_E_FORMAT);
	return check_finish();
}
