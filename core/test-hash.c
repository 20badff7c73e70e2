/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/core.h"
#include "core/hash.h"
#include "tests/lib/check.h"

static void kat_blake2b(json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(v, "blake2b"), i, e) {
		size_t klen, mlen, dlen, outlen = (size_t)json_integer_value(json_object_get(e, "outlen"));
		uint8_t *key = check_hex(json_string_value(json_object_get(e, "key")), &klen);
		uint8_t *msg = check_hex(json_string_value(json_object_get(e, "msg")), &mlen);
		uint8_t *want = check_hex(json_string_value(json_object_get(e, "digest")), &dlen);
		uint8_t got[64];
		struct cf_hash *h = NULL;

		REQUIRE(dlen == outlen);
		CHECK_RC(cf_hash_blake2b(got, outlen, klen ? key : NULL, msg, mlen), 0);
		CHECK(memcmp(got, want, outlen) == 0);

		/* incremental, fed byte by byte, must agree */
		memset(got, 0, sizeof(got));
		CHECK_RC(cf_hash_new(&h, outlen, klen ? key : NULL), 0);
		for (size_t j = 0; j < mlen; j++)
			cf_hash_update(h, msg + j, 1);
		cf_hash_final(h, got);
		cf_hash_free(h);
		CHECK(memcmp(got, want, outlen) == 0);
		free(key);
		free(msg);
		free(want);
	}
}

static void kat_sha256(json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(v, "sha256"), i, e) {
		size_t mlen, dlen;
		uint8_t *msg = check_hex(json_string_value(json_object_get(e, "msg")), &mlen);
		uint8_t *want = check_hex(json_string_value(json_object_get(e, "digest")), &dlen);
		uint8_t got[CF_SHA256_BYTES];
		struct cf_sha256 *h = NULL;

		cf_hash_sha256(got, msg, mlen);
		CHECK(memcmp(got, want, sizeof(got)) == 0);
		memset(got, 0, sizeof(got));
		CHECK_RC(cf_hash_sha256_new(&h), 0);
		cf_hash_sha256_update(h, msg, 1);
		cf_hash_sha256_update(h, msg + 1, mlen - 1);
		cf_hash_sha256_final(h, got);
		cf_hash_sha256_free(h);
		CHECK(memcmp(got, want, sizeof(got)) == 0);
		free(msg);
		free(want);
	}
}

static void kat_siphash(json_t *v)
{
	json_t *arr = json_object_get(json_object_get(v, "siphash128"), "vectors"), *e;
	size_t i;

	REQUIRE(json_array_size(arr) >= 3);
	json_array_foreach(arr, i, e) {
		size_t klen, mlen, dlen;
		uint8_t *key = check_hex(json_string_value(json_object_get(e, "key")), &klen);
		uint8_t *msg = check_hex(json_string_value(json_object_get(e, "msg")), &mlen);
		uint8_t *want = check_hex(json_string_value(json_object_get(e, "digest")), &dlen);
		uint8_t got[CF_SIPHASH_BYTES];
		REQUIRE(klen == CF_SIPHASH_KEY_BYTES && dlen == CF_SIPHASH_BYTES);
		cf_hash_siphash128(got, key, msg, mlen);
		CHECK(memcmp(got, want, dlen) == 0);
		free(key);
		free(msg);
		free(want);
	}
}

static void limits(void)
{
	uint8_t out[65];
	struct cf_hash *h = (struct cf_hash *)&out; /* must stay untouched on failure */

	CHECK_RC(cf_hash_blake2b(out, 15, NULL, "x", 1), CF_E_INVAL);
	CHECK_RC(cf_hash_blake2b(out, 65, NULL, "x", 1), CF_E_INVAL);
	CHECK_RC(cf_hash_new(&h, 8, NULL), CF_E_INVAL);
	CHECK(h == (struct cf_hash *)&out);
	cf_hash_free(NULL);
	cf_hash_sha256_free(NULL);
}

int main(void)
{
	json_t *v;

	REQUIRE(cf_core_init() == 0);
	v = check_vectors_load("primitives.json");
	kat_blake2b(v);
	kat_sha256(v);
	kat_siphash(v);
	limits();
	json_decref(v);
	return check_finish();
}
