/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "core/core.h"
#include "repo/keys.h"
#include "repo/object.h"
#include "tests/lib/check.h"

static uint8_t repo_id[CF_REPO_ID_BYTES], other_repo[CF_REPO_ID_BYTES];

static void objects(struct cf_keyring *ring)
{
	const struct cf_repokeys *k = cf_keyring_current(ring);
	const char msg[] = "{\"seq\": 1}";
	uint8_t *sealed = NULL, *pt = NULL, type;
	size_t slen = 0, plen = 0;
	uint32_t epoch;

	CHECK_RC(cf_object_seal(&sealed, &slen, k, repo_id, CF_OBJ_INDEX, msg, strlen(msg)), 0);
	REQUIRE(sealed && slen == strlen(msg) + CF_OBJECT_OVERHEAD);
	CHECK_RC(cf_object_peek(sealed, slen, &type, &epoch), 0);
	CHECK(type == CF_OBJ_INDEX && epoch == 7);
	CHECK_RC(cf_object_open(&pt, &plen, ring, repo_id, CF_OBJ_INDEX, sealed, slen), 0);
	CHECK(pt && plen == strlen(msg) && memcmp(pt, msg, plen) == 0 && pt[plen] == 0);
	free(pt);
	pt = NULL;

	/* wrong expected type, other repository, truncated, every flipped byte */
	CHECK_RC(cf_object_open(&pt, &plen, ring, repo_id, CF_OBJ_MANIFEST, sealed, slen),
		 CF_E_CORRUPT);
	CHECK_RC(cf_object_open(&pt, &plen, ring, other_repo, CF_OBJ_INDEX, sealed, slen),
		 CF_E_AUTH);
	CHECK_RC(cf_object_open(&pt, &plen, ring, repo_id, CF_OBJ_INDEX, sealed, 3),
		 CF_E_TRUNCATED);
	CHECK_RC(cf_object_open(&pt, &plen, ring, repo_id, CF_OBJ_INDEX, sealed,
				CF_OBJECT_OVERHEAD - 1),
		 CF_E_TRUNCATED);
	for (size_t i = 0; i < slen; i++) {
		int want = i < 3 ? CF_E_FORMAT : i == 3 ? CF_E_VERSION : i == 4 ? CF_E_CORRUPT
			 : (i >= 5 && i < 9) ? CF_E_NOTFOUND : CF_E_AUTH;
		sealed[i] ^= 0x01;
		CHECK_RC(cf_object_open(&pt, &plen, ring, repo_id, CF_OBJ_INDEX, sealed, slen),
			 want);
		sealed[i] ^= 0x01;
	}
	CHECK(pt == NULL);
	free(sealed);
}

static void blobs(struct cf_keyring *ring)
{
	const struct cf_repokeys *k = cf_keyring_current(ring);
	static uint8_t text[100000], noise[100000];
	uint8_t id[32], id2[32], *s1 = NULL, *s2 = NULL, *out = NULL;
	size_t l1 = 0, l2 = 0, olen = 0;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)("the quick brown fox "[i % 20]);
	cf_core_random(noise, sizeof(noise));

	cf_repokeys_blob_id(k, CF_BLOB_DATA, text, sizeof(text), id);
	cf_repokeys_blob_id(k, CF_BLOB_TREE, text, sizeof(text), id2);
	CHECK(memcmp(id, id2, 32) != 0); /* types are separated */

	CHECK_RC(cf_blob_seal(&s1, &l1, k, repo_id, CF_BLOB_DATA, id, text, sizeof(text)), 0);
	CHECK(l1 < sizeof(text) / 10); /* compressible: zstd used */
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id, sizeof(text), s1, l1),
		 0);
	CHECK(out && olen == sizeof(text) && memcmp(out, text, olen) == 0);
	free(out);
	out = NULL;

	cf_repokeys_blob_id(k, CF_BLOB_DATA, noise, sizeof(noise), id2);
	CHECK_RC(cf_blob_seal(&s2, &l2, k, repo_id, CF_BLOB_DATA, id2, noise, sizeof(noise)), 0);
	CHECK(l2 == sizeof(noise) + CF_BLOB_OVERHEAD); /* incompressible: stored as is */
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id2, sizeof(noise), s2, l2),
		 0);
	CHECK(out && memcmp(out, noise, sizeof(noise)) == 0);
	free(out);
	out = NULL;

	/* a blob moved to another id, type or repository fails authentication */
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id2, sizeof(text), s1, l1),
		 CF_E_AUTH);
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_TREE, id, sizeof(text), s1, l1),
		 CF_E_AUTH);
	CHECK_RC(cf_blob_open(&out, &olen, k, other_repo, CF_BLOB_DATA, id, sizeof(text), s1, l1),
		 CF_E_AUTH);
	/* a wrong length from a lying table is caught */
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id, sizeof(text) - 1, s1, l1),
		 CF_E_CORRUPT);
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id, 10, s1, 20),
		 CF_E_TRUNCATED);
	for (size_t i = 0; i < l1; i += 7) {
		s1[i] ^= 0x80;
		CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id, sizeof(text), s1,
				      l1),
			 CF_E_AUTH);
		s1[i] ^= 0x80;
	}
	CHECK(out == NULL);
	/* empty blob */
	free(s2);
	s2 = NULL;
	cf_repokeys_blob_id(k, CF_BLOB_DATA, "", 0, id2);
	CHECK_RC(cf_blob_seal(&s2, &l2, k, repo_id, CF_BLOB_DATA, id2, "", 0), 0);
	CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, id2, 0, s2, l2), 0);
	CHECK(olen == 0);
	free(out);
	free(s1);
	free(s2);
}

static void keyring(void)
{
	struct cf_keyring *ring = NULL;
	uint8_t mk1[32] = {1}, mk2[32] = {2};

	REQUIRE(cf_keyring_new(&ring) == 0);
	CHECK(cf_keyring_current(ring) == NULL);
	CHECK_RC(cf_keyring_add(ring, 1, mk1, 0), 0);
	CHECK(cf_keyring_current(ring) && cf_repokeys_epoch(cf_keyring_current(ring)) == 1);
	CHECK_RC(cf_keyring_add(ring, 2, mk2, 1), 0);
	CHECK(cf_repokeys_epoch(cf_keyring_current(ring)) == 2);
	CHECK_RC(cf_keyring_add(ring, 1, mk1, 0), 0);
	CHECK_RC(cf_keyring_add(ring, 1, mk2, 0), CF_E_CORRUPT);
	CHECK(cf_keyring_get(ring, 3) == NULL);
	/* different epochs give different subkeys */
	CHECK(memcmp(cf_repokeys_data(cf_keyring_get(ring, 1)),
		     cf_repokeys_data(cf_keyring_get(ring, 2)), 32) != 0);
	CHECK(memcmp(cf_repokeys_data(cf_keyring_get(ring, 1)),
		     cf_repokeys_meta(cf_keyring_get(ring, 1)), 32) != 0);
	cf_keyring_free(ring);
	cf_keyring_free(NULL);
}

int main(void)
{
	struct cf_keyring *ring = NULL;
	uint8_t mk[32];

	REQUIRE(cf_core_init() == 0);
	cf_core_random(repo_id, sizeof(repo_id));
	cf_core_random(other_repo, sizeof(other_repo));
	cf_core_random(mk, sizeof(mk));
	REQUIRE(cf_keyring_new(&ring) == 0);
	REQUIRE(cf_keyring_add(ring, 7, mk, 1) == 0);
	objects(ring);
	blobs(ring);
	keyring();
	cf_keyring_free(ring);
	return check_finish();
}
