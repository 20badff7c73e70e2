/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/core.h"
#include "core/kdf.h"
#include "tests/lib/check.h"

static void kat(json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(v, "kdf"), i, e) {
		size_t klen, slen;
		size_t outlen = (size_t)json_integer_value(json_object_get(e, "outlen"));
		uint8_t *key = check_hex(json_string_value(json_object_get(e, "key")), &klen);
		uint8_t *want = check_hex(json_string_value(json_object_get(e, "subkey")), &slen);
		const char *ctx = json_string_value(json_object_get(e, "ctx"));
		uint64_t id = (uint64_t)json_integer_value(json_object_get(e, "id"));
		uint8_t got[64];

		REQUIRE(klen == 32 && strlen(ctx) == 8 && slen == outlen);
		CHECK_RC(cf_kdf_subkey(got, outlen, id, ctx, key), 0);
		CHECK(memcmp(got, want, outlen) == 0);
		/* another id gives another key */
		CHECK_RC(cf_kdf_subkey(got, outlen, id + 1, ctx, key), 0);
		CHECK(memcmp(got, want, outlen) != 0);
		free(key);
		free(want);
	}

	json_array_foreach(json_object_get(v, "argon2id_test_params"), i, e) {
		size_t plen, slen, klen;
		size_t outlen = (size_t)json_integer_value(json_object_get(e, "outlen"));
		uint8_t *pw = check_hex(json_string_value(json_object_get(e, "password")), &plen);
		uint8_t *salt = check_hex(json_string_value(json_object_get(e, "salt")), &slen);
		uint8_t *want = check_hex(json_string_value(json_object_get(e, "key")), &klen);
		uint8_t got[64];

		REQUIRE(slen == CF_ARGON2_SALT_BYTES && klen == outlen);
		/* the test parameter set is refused until a test allows it */
		CHECK_RC(cf_kdf_argon2id(got, outlen, pw, plen, salt, CF_ARGON2_TEST), CF_E_INVAL);
		cf_kdf_argon2_allow_test();
		CHECK_RC(cf_kdf_argon2id(got, outlen, pw, plen, salt, CF_ARGON2_TEST), 0);
		CHECK(memcmp(got, want, outlen) == 0);
		pw[0] ^= 1;
		CHECK_RC(cf_kdf_argon2id(got, outlen, pw, plen, salt, CF_ARGON2_TEST), 0);
		CHECK(memcmp(got, want, outlen) != 0);
		free(pw);
		free(salt);
		free(want);
	}
}

static void params(void)
{
	uint8_t out[32], salt[CF_ARGON2_SALT_BYTES] = {1};
	uint8_t key[32] = {0};

	CHECK_RC(cf_kdf_argon2id(out, sizeof(out), "pw", 2, salt, (enum cf_argon2_params)77),
		 CF_E_INVAL);
	CHECK_RC(cf_kdf_subkey(out, 8, 1, "cftest__", key), CF_E_INVAL);
	CHECK_RC(cf_kdf_subkey(out, 65, 1, "cftest__", key), CF_E_INVAL);
	/* the stated production set really runs (64 MiB, 2 passes) */
	CHECK_RC(cf_kdf_argon2id(out, sizeof(out), "pw", 2, salt, CF_ARGON2_INTERACTIVE), 0);
}

int main(void)
{
	json_t *v;

	unsetenv("CF_ARGON2_ALLOW_TEST");
	REQUIRE(cf_core_init() == 0);
	v = check_vectors_load("primitives.json");
	kat(v);
	params();
	json_decref(v);
	return check_finish();
}
