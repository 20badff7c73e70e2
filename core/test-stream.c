/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/stream.h"
#include "tests/lib/check.h"

#define NMSG 4
#define MLEN 100

/* Encrypts NMSG messages of MLEN bytes into @c (NMSG * (MLEN + 17)) under @key. */
static void make_stream(uint8_t hdr[CF_STREAM_HEADER_BYTES], uint8_t *c, const uint8_t *key)
{
	struct cf_stream *s = NULL;
	uint8_t m[MLEN];

	REQUIRE(cf_stream_push_new(&s, hdr, key) == 0);
	for (int i = 0; i < NMSG; i++) {
		memset(m, 'a' + i, sizeof(m));
		CHECK_RC(cf_stream_push(s, c + i * (MLEN + CF_STREAM_ABYTES), m, MLEN, NULL, 0,
					i == NMSG - 1),
			 0);
	}
	CHECK_RC(cf_stream_push(s, c, m, MLEN, NULL, 0, 0), CF_E_INVAL);
	cf_stream_free(s);
}

/* Pulls messages in the order given by @order; returns the first error or 0. */
static int pull(const uint8_t *hdr, const uint8_t *c, const uint8_t *key, const int *order,
		int n, int *saw_final)
{
	struct cf_stream *s = NULL;
	uint8_t m[MLEN];
	int r, fin = 0;

	r = cf_stream_pull_new(&s, hdr, key);
	if (r)
		return r;
	for (int i = 0; i < n && !r; i++) {
		r = cf_stream_pull(s, m, c + order[i] * (MLEN + CF_STREAM_ABYTES),
				   MLEN + CF_STREAM_ABYTES, NULL, 0, &fin);
		if (!r) {
			uint8_t want[MLEN];
			memset(want, 'a' + order[i], MLEN);
			CHECK(memcmp(m, want, MLEN) == 0);
		}
	}
	*saw_final = fin;
	cf_stream_free(s);
	return r;
}

int main(void)
{
	uint8_t key[32], key2[32], hdr[CF_STREAM_HEADER_BYTES];
	uint8_t c[NMSG * (MLEN + CF_STREAM_ABYTES)];
	const int in_order[] = {0, 1, 2, 3}, swapped[] = {0, 2, 1, 3}, dropped[] = {0, 1, 3};
	const int replay[] = {0, 1, 2, 3, 3};
	int fin;

	REQUIRE(cf_core_init() == 0);
	cf_aead_keygen(key);
	cf_aead_keygen(key2);
	make_stream(hdr, c, key);

	CHECK_RC(pull(hdr, c, key, in_order, 4, &fin), 0);
	CHECK(fin == 1);
	/* truncation: the FINAL tag never arrives */
	CHECK_RC(pull(hdr, c, key, in_order, 3, &fin), 0);
	CHECK(fin == 0);
	CHECK_RC(pull(hdr, c, key, swapped, 4, &fin), CF_E_AUTH);
	CHECK_RC(pull(hdr, c, key, dropped, 3, &fin), CF_E_AUTH);
	CHECK_RC(pull(hdr, c, key, replay, 5, &fin), CF_E_AUTH);
	CHECK_RC(pull(hdr, c, key2, in_order, 1, &fin), CF_E_AUTH);
	c[MLEN + CF_STREAM_ABYTES + 5] ^= 1;
	CHECK_RC(pull(hdr, c, key, in_order, 4, &fin), CF_E_AUTH);
	c[MLEN + CF_STREAM_ABYTES + 5] ^= 1;
	hdr[3] ^= 1;
	CHECK_RC(pull(hdr, c, key, in_order, 1, &fin), CF_E_AUTH);
	hdr[3] ^= 1;
	{
		struct cf_stream *s = NULL;
		uint8_t m[4];
		REQUIRE(cf_stream_pull_new(&s, hdr, key) == 0);
		CHECK_RC(cf_stream_pull(s, m, c, CF_STREAM_ABYTES - 1, NULL, 0, &fin),
			 CF_E_TRUNCATED);
		cf_stream_free(s);
	}
	cf_stream_free(NULL);
	return check_finish();
}
