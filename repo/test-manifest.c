/* SPDX-License-Identifier: ISC */
/*
 * Manifests and forget records: round trips, the documented layout re-checked with the
 * primitives directly (signature over repo_id || prefix, CFX body, canonical JSON), every
 * single-bit flip and every truncation with the code for its region, wrong name, unknown
 * signer, other repository, epoch not held, size limits, and hostile JSON bodies sealed
 * and signed by a trusted device.
 *
 *   test-manifest                      run the tests
 *   test-manifest --write-corpus DIR   write seed inputs for tests/fuzz/fuzz-manifest
 *                                      (fixed identities and keys, see fixture()).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "repo/manifest.h"
#include "repo/manifest_impl.h"
#include "repo/object.h"
#include "tests/lib/check.h"
#include "util/log.h"

#define MIN_BYTES (CF_SIGNED_BODY_OFF + CF_OBJECT_OVERHEAD + CF_SIGNATURE_BYTES)

/* ---- fixture: the same seeds as tests/fuzz/fuzz-manifest.c ---------------------------- */

static struct cf_identity *ida, *idb, *idc; /* a signs; a, b trusted; c is not */
static struct cf_pubid puba, pubb, pubc;
static struct cf_keyring *ring, *ring1; /* epochs 1 and 2; epoch 1 only */
static const struct cf_repokeys *keys1, *keys2;
static uint8_t repo[32], repo2[32];

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static struct cf_identity *identity(uint8_t base)
{
	struct cf_identity *id = NULL;
	uint8_t seed[32];

	fill(seed, sizeof(seed), base);
	REQUIRE(cf_identity_from_seed(&id, seed) == 0);
	return id;
}

static void fixture(void)
{
	uint8_t mk1[32], mk2[32];

	REQUIRE(cf_core_init() == 0);
	ida = identity(0x40);
	idb = identity(0x50);
	idc = identity(0x70);
	cf_identity_public(ida, &puba);
	cf_identity_public(idb, &pubb);
	cf_identity_public(idc, &pubc);
	fill(mk1, 32, 0x60);
	fill(mk2, 32, 0xa0);
	fill(repo, 32, 0x80);
	fill(repo2, 32, 0xc0);
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_new(&ring1) == 0);
	REQUIRE(cf_keyring_add(ring, 1, mk1, 0) == 0 && cf_keyring_add(ring, 2, mk2, 1) == 0);
	REQUIRE(cf_keyring_add(ring1, 1, mk1, 1) == 0);
	keys1 = cf_keyring_get(ring, 1);
	keys2 = cf_keyring_get(ring, 2);
	REQUIRE(keys1 && keys2);
}

static void fixture_free(void)
{
	cf_identity_free(ida);
	cf_identity_free(idb);
	cf_identity_free(idc);
	cf_keyring_free(ring);
	cf_keyring_free(ring1);
}

/* ---- sample objects ------------------------------------------------------------------ */

static uint8_t sample_trees[2 * 32];
static char *sample_vanished[] = {"attachments/a.jpg", "attachments/b \xc3\xa9.png"};

static struct cf_manifest sample(void)
{
	struct cf_manifest m = {0};

	fill(sample_trees, sizeof(sample_trees), 0x11);
	m.seq = 7;
	m.has_prev = 1;
	fill(m.prev, 32, 0x22);
	m.time = 1764300000;
	m.host = "laptop";
	m.store = "/home/u/.local/share/app";
	m.trees = sample_trees;
	m.ntrees = 2;
	m.files = 3;
	m.bytes = 1000;
	m.new_bytes = 400;
	m.stored_bytes = 300;
	m.vanished = sample_vanished;
	m.nvanished = 2;
	m.has_db = 1;
	m.db.path = "chat.db";
	m.db.page_size = 4096;
	m.db.pages = 25;
	return m;
}

static struct cf_forget sample_forget(void)
{
	struct cf_forget f = {0};

	f.seq = 6;
	fill(f.manifest, 32, 0x33);
	f.has_prev = 1;
	fill(f.prev, 32, 0x44);
	f.time = 1764400000;
	return f;
}

static uint8_t *encode(size_t *len, const struct cf_manifest *m, const struct cf_repokeys *k)
{
	uint8_t *out = NULL;

	REQUIRE(cf_manifest_encode(&out, len, m, ida, k, repo) == 0);
	return out;
}

/* Decode with the bytes' own id and the standard trusted list. */
static int decode(const uint8_t *in, size_t len, const struct cf_keyring *r, const uint8_t *rid)
{
	const struct cf_pubid trusted[2] = {pubb, puba};
	struct cf_manifest *m = NULL;
	uint8_t id[32];
	int rc;

	cf_object_id(in, len, id);
	rc = cf_manifest_decode(&m, in, len, id, r, rid, trusted, 2);
	CHECK((rc == 0) == (m != NULL));
	cf_manifest_free(m);
	return rc;
}

static int decode_forget(const uint8_t *in, size_t len)
{
	const struct cf_pubid trusted[1] = {puba};
	struct cf_forget *f = NULL;
	uint8_t id[32];
	int rc;

	cf_object_id(in, len, id);
	rc = cf_forget_decode(&f, in, len, id, ring, repo, trusted, 1);
	CHECK((rc == 0) == (f != NULL));
	cf_forget_free(f);
	return rc;
}

/* ---- round trips and the layout -------------------------------------------------------- */

static const char sample_json[] =
	"{\"bytes\":1000,\"db\":{\"page_size\":4096,\"pages\":25,\"path\":\"chat.db\"},"
	"\"files\":3,\"host\":\"laptop\",\"new_bytes\":400,"
	"\"prev\":\"22232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041\","
	"\"seq\":7,\"store\":\"/home/u/.local/share/app\",\"stored_bytes\":300,"
	"\"time\":1764300000,\"trees\":["
	"\"1112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30\","
	"\"3132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50\"],"
	"\"vanished\":[\"attachments/a.jpg\",\"attachments/b \xc3\xa9.png\"]}";

static void test_round_trip(void)
{
	struct cf_manifest m = sample(), *got = NULL;
	const struct cf_pubid trusted[2] = {pubb, puba};
	uint8_t *b, id[32];
	size_t len;

	b = encode(&len, &m, keys2);
	cf_object_id(b, len, id);
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring, repo, trusted, 2), 0);
	REQUIRE(got);
	CHECK(got->seq == 7 && got->has_prev && memcmp(got->prev, m.prev, 32) == 0);
	CHECK(got->time == m.time && strcmp(got->host, "laptop") == 0);
	CHECK(strcmp(got->store, m.store) == 0);
	CHECK(got->ntrees == 2 && memcmp(got->trees, sample_trees, 64) == 0);
	CHECK(got->files == 3 && got->bytes == 1000 && got->new_bytes == 400);
	CHECK(got->stored_bytes == 300);
	CHECK(got->nvanished == 2 && strcmp(got->vanished[1], sample_vanished[1]) == 0);
	CHECK(got->has_db && strcmp(got->db.path, "chat.db") == 0);
	CHECK(got->db.page_size == 4096 && got->db.pages == 25);
	CHECK(got->epoch == 2 && cf_pubid_equal(&got->signer, &puba));
	CHECK(memcmp(got->id, id, 32) == 0);
	cf_manifest_free(got);
	free(b);

	/* The first snapshot: no prev, no db, empty lists, empty host. */
	m.seq = 1;
	m.has_prev = 0;
	m.has_db = 0;
	m.ntrees = m.nvanished = 0;
	m.trees = NULL;
	m.vanished = NULL;
	m.host = "";
	b = encode(&len, &m, keys1);
	cf_object_id(b, len, id);
	got = NULL;
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring1, repo, &puba, 1), 0);
	REQUIRE(got);
	CHECK(got->seq == 1 && !got->has_prev && !got->has_db && got->ntrees == 0);
	CHECK(got->nvanished == 0 && got->host[0] == 0 && got->epoch == 1);
	cf_manifest_free(got);
	free(b);
}

/* The stored bytes, re-checked with the primitives as docs/repository-manifests.md says. */
static void test_layout(void)
{
	struct cf_manifest m = sample();
	uint8_t enc[CF_PUBID_ENCODED_BYTES], *b, *msg, *pt = NULL, type;
	size_t len, ptlen;
	uint32_t epoch = 0;
	struct cf_pubid who;

	b = encode(&len, &m, keys2);
	CHECK(memcmp(b, "CFM\x01", 4) == 0);
	cf_pubid_encode(&puba, enc);
	CHECK(memcmp(b + 4, enc, sizeof(enc)) == 0);
	msg = malloc(32 + len - 64);
	REQUIRE(msg);
	memcpy(msg, repo, 32);
	memcpy(msg + 32, b, len - 64);
	CHECK_RC(cf_pubid_verify(&puba, "coffer-manifest-v1", msg, 32 + len - 64, b + len - 64),
		 0);
	CHECK_RC(cf_pubid_verify(&puba, "coffer-forget-v1", msg, 32 + len - 64, b + len - 64),
		 CF_E_SIGNATURE);
	free(msg);
	CHECK_RC(cf_object_peek(b + 136, len - 200, &type, &epoch), 0);
	CHECK(type == CF_OBJ_MANIFEST && epoch == 2);
	CHECK_RC(cf_object_open(&pt, &ptlen, ring, repo, CF_OBJ_MANIFEST, b + 136, len - 200), 0);
	REQUIRE(pt);
	CHECK(ptlen == strlen(sample_json) && memcmp(pt, sample_json, ptlen) == 0);
	if (ptlen != strlen(sample_json) || memcmp(pt, sample_json, ptlen))
		fprintf(stderr, "body: %s\n", (char *)pt);
	free(pt);

	CHECK_RC(cf_manifest_peek(b, len, &epoch, &who), 0);
	CHECK(epoch == 2 && cf_pubid_equal(&who, &puba));
	b[4 + 40] ^= 1; /* the claimed signer no longer decodes (self-signature) */
	CHECK(cf_manifest_peek(b, len, NULL, NULL) != 0);
	CHECK_RC(cf_forget_peek(b, len, NULL, NULL), CF_E_FORMAT);
	free(b);
}

static void test_forget_round_trip(void)
{
	struct cf_forget f = sample_forget(), *got = NULL;
	uint8_t *b = NULL, id[32];
	size_t len;

	REQUIRE(cf_forget_encode(&b, &len, &f, ida, keys1, repo) == 0);
	CHECK(memcmp(b, "CFF\x01", 4) == 0);
	cf_object_id(b, len, id);
	CHECK_RC(cf_forget_decode(&got, b, len, id, ring, repo, &puba, 1), 0);
	REQUIRE(got);
	CHECK(got->seq == 6 && memcmp(got->manifest, f.manifest, 32) == 0);
	CHECK(got->has_prev && memcmp(got->prev, f.prev, 32) == 0 && got->time == f.time);
	CHECK(got->epoch == 1 && cf_pubid_equal(&got->signer, &puba));
	cf_forget_free(got);
	/* A record is not a manifest, and the other way round. */
	CHECK_RC(decode(b, len, ring, repo), CF_E_FORMAT);
	/* Relabelled as a manifest: the magic is signed too. */
	b[2] = 'M';
	CHECK_RC(decode(b, len, ring, repo), CF_E_SIGNATURE);
	free(b);

	f.seq = 1;
	f.has_prev = 0;
	REQUIRE(cf_forget_encode(&b, &len, &f, ida, keys1, repo) == 0);
	CHECK_RC(decode_forget(b, len), 0);
	free(b);
	f.seq = 0;
	CHECK_RC(cf_forget_encode(&b, &len, &f, ida, keys1, repo), CF_E_INVAL);
}

/* ---- tampering -------------------------------------------------------------------------- */

static int region_code(size_t i, size_t len)
{
	if (i < 3)
		return CF_E_FORMAT;
	if (i == 3)
		return CF_E_VERSION;
	if (i < 136)
		return CF_E_UNTRUSTED;
	(void)len;
	return CF_E_SIGNATURE; /* body and signature */
}

static void test_bit_flips(void)
{
	const struct cf_pubid trusted[1] = {puba};
	struct cf_manifest m = sample(), *got;
	uint8_t *b, id[32];
	size_t len, bad = 0, bad_name = 0;

	b = encode(&len, &m, keys1);
	cf_object_id(b, len, id);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			b[i] ^= (uint8_t)(1u << bit);
			rc = decode(b, len, ring, repo);
			if (rc != region_code(i, len)) {
				if (bad++ < 5)
					fprintf(stderr, "flip %zu.%d: %d, expected %d\n", i, bit,
						rc, region_code(i, len));
			}
			/* Under its old name, every altered object is refused first. */
			got = NULL;
			if (cf_manifest_decode(&got, b, len, id, ring, repo, trusted, 1) !=
			    CF_E_CORRUPT)
				bad_name++;
			cf_manifest_free(got);
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK(bad == 0);
	CHECK(bad_name == 0);
	CHECK_RC(decode(b, len, ring, repo), 0);
	free(b);
}

static void test_truncation(void)
{
	struct cf_manifest m = sample();
	size_t len, bad = 0;
	uint8_t *b = encode(&len, &m, keys1), *big;

	for (size_t l = 0; l < len; l++) {
		int want = l < MIN_BYTES ? CF_E_TRUNCATED : CF_E_SIGNATURE;
		int rc = decode(b, l, ring, repo);

		if (rc != want && bad++ < 5)
			fprintf(stderr, "length %zu: %d, expected %d\n", l, rc, want);
	}
	CHECK(bad == 0);
	/* One byte more: the signature no longer covers what it says. */
	big = malloc(len + 1);
	REQUIRE(big);
	memcpy(big, b, len);
	big[len] = 0;
	CHECK_RC(decode(big, len + 1, ring, repo), CF_E_SIGNATURE);
	free(big);
	free(b);

	/* Above the size limits (checked before any signature work). */
	big = calloc(1, CF_MANIFEST_MAX_BYTES + 1);
	REQUIRE(big);
	memcpy(big, "CFM\x01", 4);
	CHECK_RC(decode(big, CF_MANIFEST_MAX_BYTES + 1, ring, repo), CF_E_LIMIT);
	memcpy(big, "CFF\x01", 4);
	CHECK_RC(decode_forget(big, CF_FORGET_MAX_BYTES + 1), CF_E_LIMIT);
	CHECK_RC(decode_forget(big, CF_FORGET_MAX_BYTES), CF_E_UNTRUSTED);
	free(big);
}

static void test_trust_and_keys(void)
{
	struct cf_manifest m = sample(), *got = NULL;
	uint8_t *b, id[32], other[32];
	size_t len;

	b = encode(&len, &m, keys2);
	cf_object_id(b, len, id);
	memcpy(other, id, 32);
	other[31] ^= 0x80;
	CHECK_RC(cf_manifest_decode(&got, b, len, other, ring, repo, &puba, 1), CF_E_CORRUPT);
	/* Signed by a device outside the roster; an empty roster. */
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring, repo, &pubb, 1), CF_E_UNTRUSTED);
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring, repo, NULL, 0), CF_E_UNTRUSTED);
	/* Served as part of another repository. */
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring, repo2, &puba, 1), CF_E_SIGNATURE);
	/* An epoch this device does not hold. */
	CHECK_RC(cf_manifest_decode(&got, b, len, id, ring1, repo, &puba, 1), CF_E_NOTFOUND);
	CHECK_RC(cf_manifest_decode(&got, b, len, NULL, ring, repo, &puba, 1), CF_E_INVAL);
	CHECK(got == NULL);
	free(b);

	/* By an untrusted device, however well-formed. */
	REQUIRE(cf_manifest_encode(&b, &len, &m, idc, keys1, repo) == 0);
	CHECK_RC(decode(b, len, ring, repo), CF_E_UNTRUSTED);
	free(b);
}

/*
 * A trusted device that signs, for repository R, a body encrypted for repository R2: the
 * signature holds, the body's associated data does not.
 */
static void test_body_other_repo(void)
{
	uint8_t *obj = NULL, *b, *msg, enc[CF_PUBID_ENCODED_BYTES];
	size_t olen, len;

	REQUIRE(cf_object_seal(&obj, &olen, keys1, repo2, CF_OBJ_MANIFEST, "{}", 2) == 0);
	len = 136 + olen + 64;
	b = malloc(len);
	msg = malloc(32 + len - 64);
	REQUIRE(b && msg);
	memcpy(b, "CFM\x01", 4);
	cf_pubid_encode(&puba, enc);
	memcpy(b + 4, enc, sizeof(enc));
	memcpy(b + 136, obj, olen);
	memcpy(msg, repo, 32);
	memcpy(msg + 32, b, len - 64);
	cf_identity_sign(ida, "coffer-manifest-v1", msg, 32 + len - 64, b + len - 64);
	CHECK_RC(decode(b, len, ring, repo), CF_E_AUTH);
	free(obj);
	free(b);
	free(msg);

	/* And the same with a body of the wrong object type. */
	REQUIRE(cf_object_seal(&obj, &olen, keys1, repo, CF_OBJ_INDEX, "{}", 2) == 0);
	REQUIRE(cf_signed_seal(&b, &len, CF_SIGNED_MANIFEST, ida, keys1, repo, "{}", 2) == 0);
	REQUIRE(len == 136 + olen + 64);
	memcpy(b + 136, obj, olen);
	msg = malloc(32 + len - 64);
	REQUIRE(msg);
	memcpy(msg, repo, 32);
	memcpy(msg + 32, b, len - 64);
	cf_identity_sign(ida, "coffer-manifest-v1", msg, 32 + len - 64, b + len - 64);
	CHECK_RC(decode(b, len, ring, repo), CF_E_CORRUPT);
	free(obj);
	free(b);
	free(msg);
}

/* ---- encoder limits ---------------------------------------------------------------------- */

static void test_encode_limits(void)
{
	struct cf_manifest m;
	uint8_t *b = NULL;
	size_t len;
	char host[CF_MANIFEST_MAX_HOST + 2];

	m = sample();
	m.seq = 0;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	m = sample();
	m.host = "caf\xe9"; /* Latin-1, not UTF-8 */
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	m.host = host;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	host[CF_MANIFEST_MAX_HOST] = 0;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), 0);
	free(b);
	b = NULL;
	m = sample();
	m.store = "";
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	m = sample();
	m.ntrees = CF_MANIFEST_MAX_TREES + 1;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_LIMIT);
	m = sample();
	m.nvanished = CF_MANIFEST_MAX_VANISHED + 1;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_LIMIT);
	m = sample();
	m.bytes = CF_MANIFEST_MAX_INT + 1;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	m = sample();
	m.db.page_size = 1000;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	m = sample();
	m.vanished[0] = "";
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	m.vanished[0] = "attachments/a.jpg";
	m.store = NULL;
	CHECK_RC(cf_manifest_encode(&b, &len, &m, ida, keys1, repo), CF_E_INVAL);
	CHECK(b == NULL);
}

/* ---- hostile bodies, signed by a trusted device ------------------------------------------ */

static int seal_decode(enum cf_signed_kind kind, const void *body, size_t len)
{
	uint8_t *b = NULL;
	size_t blen;
	int rc;

	REQUIRE(cf_signed_seal(&b, &blen, kind, ida, keys1, repo, body, len) == 0);
	rc = kind == CF_SIGNED_MANIFEST ? decode(b, blen, ring, repo) : decode_forget(b, blen);
	free(b);
	return rc;
}

/* The sample manifest's body with @key replaced by the JSON text @value (NULL: removed). */
static int mutated(const char *key, const char *value)
{
	json_t *root = json_loads(sample_json, 0, NULL), *v;
	char *s;
	int rc;

	REQUIRE(root);
	if (value) {
		v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		REQUIRE(v);
		REQUIRE(json_object_set_new(root, key, v) == 0);
	} else {
		REQUIRE(json_object_del(root, key) == 0);
	}
	s = json_dumps(root, JSON_COMPACT);
	REQUIRE(s);
	rc = seal_decode(CF_SIGNED_MANIFEST, s, strlen(s));
	free(s);
	json_decref(root);
	return rc;
}

static const char hex64[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* A forget body from @tmpl with hex64 in place of each '@', sealed, signed, decoded. */
static int forget_json(const char *tmpl)
{
	char body[512];
	size_t n = 0;

	for (const char *p = tmpl; *p && n + sizeof(hex64) < sizeof(body); p++) {
		if (*p == '@') {
			memcpy(body + n, hex64, sizeof(hex64) - 1);
			n += sizeof(hex64) - 1;
		} else {
			body[n++] = *p;
		}
	}
	return seal_decode(CF_SIGNED_FORGET, body, n);
}

static void test_hostile_json(void)
{
	static const struct {
		const char *key, *value;
	} bad[] = {
		{"seq", NULL}, {"seq", "0"}, {"seq", "-1"}, {"seq", "\"7\""}, {"seq", "7.0"},
		{"seq", "9007199254740992"}, {"seq", "true"}, {"seq", "null"},
		{"prev", NULL}, {"prev", "\"00112233\""}, {"prev", "5"}, {"prev", "[]"},
		{"prev", "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\""},
		{"prev", "\"g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""},
		{"prev", "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\""},
		{"time", "-5"}, {"time", "1e3"}, {"time", NULL},
		{"host", "7"}, {"host", NULL}, {"host", "null"},
		{"store", "\"\""}, {"store", "[\"/x\"]"},
		{"trees", "\"abc\""}, {"trees", "[1]"}, {"trees", "[\"00\"]"}, {"trees", "{}"},
		{"trees", NULL}, {"files", "\"3\""}, {"bytes", "-1"}, {"new_bytes", "1.5"},
		{"stored_bytes", "false"}, {"files", NULL},
		{"vanished", "[\"\"]"}, {"vanished", "[3]"}, {"vanished", "\"a\""},
		{"vanished", "[\"a\\u0000b\"]"}, {"vanished", NULL},
		{"db", NULL}, {"db", "\"chat.db\""}, {"db", "{}"}, {"db", "[]"},
		{"db", "{\"path\":\"chat.db\",\"page_size\":1000,\"pages\":1}"},
		{"db", "{\"path\":\"chat.db\",\"page_size\":256,\"pages\":1}"},
		{"db", "{\"path\":\"chat.db\",\"page_size\":131072,\"pages\":1}"},
		{"db", "{\"path\":\"chat.db\",\"page_size\":4096,\"pages\":-1}"},
		{"db", "{\"path\":\"\",\"page_size\":4096,\"pages\":1}"},
		{"db", "{\"page_size\":4096,\"pages\":1}"},
	};
	static const char *const raw_bad[] = {
		"", "not json", "[]", "null", "7", "\"seq\"",
		"{\"seq\":1,\"seq\":2}", /* duplicate keys */
	};
	size_t nbad = 0;
	char *s;
	int rc;

	/* The crafting path itself accepts the genuine body, and ignores unknown keys. */
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, sample_json, strlen(sample_json)), 0);
	CHECK_RC(mutated("comment", "{\"added\":[1,2,3]}"), 0);
	CHECK_RC(mutated("db", "null"), 0);
	CHECK_RC(mutated("prev", "null"), 0);
	CHECK_RC(mutated("host", "\"\""), 0);
	CHECK_RC(mutated("seq", "9007199254740991"), 0);
	CHECK_RC(mutated("db", "{\"path\":\"chat.db\",\"page_size\":65536,\"pages\":0}"), 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = mutated(bad[i].key, bad[i].value);
		if (rc != CF_E_CORRUPT && nbad++ < 10)
			fprintf(stderr, "%s = %s: %d\n", bad[i].key,
				bad[i].value ? bad[i].value : "(removed)", rc);
	}
	CHECK(nbad == 0);
	for (size_t i = 0; i < sizeof(raw_bad) / sizeof(raw_bad[0]); i++)
		CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, raw_bad[i], strlen(raw_bad[i])),
			 CF_E_CORRUPT);
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, sample_json, strlen(sample_json) - 1),
		 CF_E_CORRUPT);
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, "{\"seq\":1}\0", 10), CF_E_CORRUPT);
	/* A complete body with one key given twice. */
	s = malloc(sizeof(sample_json) + 16);
	REQUIRE(s);
	snprintf(s, sizeof(sample_json) + 16, "{\"seq\":8,%s", sample_json + 1);
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, s, strlen(s)), CF_E_CORRUPT);
	free(s);
	/* A zstd frame: a later format, not read by this build. */
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, "\x28\xb5\x2f\xfd\x00\x00", 6), CF_E_VERSION);

	/* Oversized strings. */
	s = malloc(CF_MANIFEST_MAX_PATH + 16);
	REQUIRE(s);
	s[0] = '"';
	memset(s + 1, 'p', CF_MANIFEST_MAX_PATH + 1);
	strcpy(s + CF_MANIFEST_MAX_PATH + 2, "\"");
	CHECK_RC(mutated("store", s), CF_E_CORRUPT);
	s[CF_MANIFEST_MAX_PATH + 1] = '"';
	s[CF_MANIFEST_MAX_PATH + 2] = 0;
	CHECK_RC(mutated("store", s), 0);
	memset(s + 1, 'h', CF_MANIFEST_MAX_HOST + 1);
	strcpy(s + CF_MANIFEST_MAX_HOST + 2, "\"");
	CHECK_RC(mutated("host", s), CF_E_CORRUPT);
	free(s);

	/* Forget records ('@': an id). */
	CHECK_RC(forget_json("{\"seq\":3,\"manifest\":\"@\",\"prev\":null,\"time\":1}"), 0);
	CHECK_RC(forget_json("{\"seq\":0,\"manifest\":\"@\",\"prev\":null,\"time\":1}"),
		 CF_E_CORRUPT);
	CHECK_RC(forget_json("{\"seq\":3,\"manifest\":null,\"prev\":\"@\",\"time\":1}"),
		 CF_E_CORRUPT);
	CHECK_RC(forget_json("{\"seq\":3,\"manifest\":\"@\",\"time\":1}"), CF_E_CORRUPT);
	CHECK_RC(forget_json("{\"seq\":3,\"manifest\":\"@\",\"prev\":null}"), CF_E_CORRUPT);
	CHECK_RC(forget_json("{\"seq\":3,\"manifest\":\"@\",\"prev\":7,\"time\":1}"),
		 CF_E_CORRUPT);
}

/* Lists one entry above their limits (built as text: a few MiB). */
static void test_huge_lists(void)
{
	size_t n = CF_MANIFEST_MAX_VANISHED + 1, off;
	const char *head = "{\"bytes\":1,\"db\":null,\"files\":1,\"host\":\"h\",\"new_bytes\":1,"
			   "\"prev\":null,\"seq\":1,\"store\":\"s\",\"stored_bytes\":1,\"time\":1,";
	char *s = malloc(strlen(head) + 4 * n + 64);

	REQUIRE(s);
	/* vanished: n paths "a" */
	off = (size_t)sprintf(s, "%s\"trees\":[],\"vanished\":[", head);
	for (size_t i = 0; i < n; i++) {
		memcpy(s + off, "\"a\",", 4);
		off += 4;
	}
	strcpy(s + off - 1, "]}");
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, s, strlen(s)), CF_E_CORRUPT);
	/* at the limit it is accepted */
	strcpy(s + off - 5, "]}");
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, s, strlen(s)), 0);

	/* trees: n entries (the count is refused before the entries are read) */
	n = CF_MANIFEST_MAX_TREES + 1;
	off = (size_t)sprintf(s, "%s\"vanished\":[],\"trees\":[", head);
	for (size_t i = 0; i < n; i++) {
		memcpy(s + off, "0,", 2);
		off += 2;
	}
	strcpy(s + off - 1, "]}");
	CHECK_RC(seal_decode(CF_SIGNED_MANIFEST, s, strlen(s)), CF_E_CORRUPT);
	free(s);
}

/* ---- corpus for the fuzzer -------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

static int write_corpus(const char *dir)
{
	struct cf_manifest m = sample();
	struct cf_forget f = sample_forget();
	uint8_t *b = NULL;
	size_t len;
	int bad = 0;

	REQUIRE(cf_manifest_encode(&b, &len, &m, ida, keys1, repo) == 0);
	bad |= write_file(dir, "manifest-full", b, len);
	free(b);
	m.seq = 1;
	m.has_prev = m.has_db = 0;
	m.ntrees = m.nvanished = 0;
	REQUIRE(cf_manifest_encode(&b, &len, &m, ida, keys1, repo) == 0);
	bad |= write_file(dir, "manifest-first", b, len);
	free(b);
	REQUIRE(cf_forget_encode(&b, &len, &f, ida, keys1, repo) == 0);
	bad |= write_file(dir, "forget", b, len);
	free(b);
	bad |= write_file(dir, "json-manifest", sample_json, strlen(sample_json));
	{
		char body[256];

		snprintf(body, sizeof(body), "{\"seq\":3,\"manifest\":\"%s\",\"prev\":\"%s\","
			 "\"time\":1}", hex64, hex64);
		bad |= write_file(dir, "json-forget", body, strlen(body));
	}
	return bad;
}

int main(int argc, char **argv)
{
	cf_log_set_level(CF_LOG_ERR); /* thousands of expected refusals */
	fixture();
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
		int r = write_corpus(argv[2]);

		fixture_free();
		return r;
	}
	test_round_trip();
	test_layout();
	test_forget_round_trip();
	test_bit_flips();
	test_truncation();
	test_trust_and_keys();
	test_body_other_repo();
	test_encode_limits();
	test_hostile_json();
	test_huge_lists();
	fixture_free();
	return check_finish();
}
