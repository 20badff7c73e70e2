/* SPDX-License-Identifier: ISC */
/*
 * Key slots and rosters: each kind opened as documented (the associated data and the
 * bodies rebuilt here from docs/repository-manifests.md with the core primitives),
 * refused for another device, sender, repository, config or epoch, wrong recovery keys,
 * the test Argon2 set outside tests, malformed headers (every truncation, oversized,
 * trailing bytes), opaque escrow / contacts slots, and roster selection.
 *
 *   test-keyslot                      run the tests
 *   test-keyslot --write-corpus DIR   write seed inputs for tests/fuzz/fuzz-keyslot
 *                                     (fixed identities and keys, see fixture()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/envelope.h"
#include "core/error.h"
#include "core/hash.h"
#include "repo/keyslot.h"
#include "tests/lib/check.h"
#include "util/log.h"

/* ---- fixture: the same seeds as tests/fuzz/fuzz-keyslot.c ----------------------------- */

static struct cf_identity *snd, *rcp, *oth, *unk; /* sender, recipient, other, unknown */
static struct cf_pubid psnd, prcp, poth, punk;
static struct cf_keyring *ring, *ring1;           /* epochs 1, 2; epoch 1 only */
static const struct cf_repokeys *keys1, *keys2;
static uint8_t repo[32], repo2[32], cfg[32], cfg2[32], mk1[32], mk2[32], rk[18], rk2[18];
static const char config_text[] =
	"{\"coffer\": \"repository\", \"format\": 1, \"repo_id\": "
	"\"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\", "
	"\"created\": 1764300000}";

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static struct cf_identity *identity(uint8_t base, struct cf_pubid *pub)
{
	struct cf_identity *id = NULL;
	uint8_t seed[32];

	fill(seed, sizeof(seed), base);
	REQUIRE(cf_identity_from_seed(&id, seed) == 0);
	cf_identity_public(id, pub);
	return id;
}

static void fixture(void)
{
	REQUIRE(cf_core_init() == 0);
	snd = identity(0x40, &psnd);
	rcp = identity(0x50, &prcp);
	oth = identity(0x70, &poth);
	unk = identity(0x90, &punk);
	fill(repo, 32, 0x80);
	fill(repo2, 32, 0xc0);
	cf_keyslot_cfg_hash((const uint8_t *)config_text, strlen(config_text), cfg);
	memcpy(cfg2, cfg, 32);
	cfg2[0] ^= 1;
	fill(mk1, 32, 0x60);
	fill(mk2, 32, 0xa0);
	fill(rk, 18, 0x30);
	rk[17] &= 0xf0;
	memcpy(rk2, rk, 18);
	rk2[5] ^= 0x40;
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_new(&ring1) == 0);
	REQUIRE(cf_keyring_add(ring, 1, mk1, 0) == 0 && cf_keyring_add(ring, 2, mk2, 1) == 0);
	REQUIRE(cf_keyring_add(ring1, 1, mk1, 1) == 0);
	keys1 = cf_keyring_get(ring, 1);
	keys2 = cf_keyring_get(ring, 2);
	REQUIRE(keys1 && keys2);
}

static void fixture_free(void)
{
	cf_identity_free(snd);
	cf_identity_free(rcp);
	cf_identity_free(oth);
	cf_identity_free(unk);
	cf_keyring_free(ring);
	cf_keyring_free(ring1);
}

/* "coffer-slot-v1" || repo_id || cfg_hash || kind || epoch LE, as the document says. */
static size_t doc_ad(uint8_t ad[83], const uint8_t *rid, const uint8_t *ch, uint8_t kind,
		     uint32_t epoch)
{
	memcpy(ad, "coffer-slot-v1", 14);
	memcpy(ad + 14, rid, 32);
	memcpy(ad + 46, ch, 32);
	ad[78] = kind;
	for (int i = 0; i < 4; i++)
		ad[79 + i] = (uint8_t)(epoch >> (8 * i));
	return 83;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len, size_t extra)
{
	uint8_t *d = malloc(len + extra + 1);

	REQUIRE(d);
	memcpy(d, p, len);
	memset(d + len, 0, extra);
	return d;
}

/* A header with any body (for opaque kinds and crafted slots). */
static uint8_t *make_slot(size_t *len, uint8_t kind, uint32_t epoch, const uint8_t *body,
			  size_t blen)
{
	uint8_t *s = malloc(13 + blen + 1);

	REQUIRE(s);
	memcpy(s, "CFS\x01", 4);
	s[4] = kind;
	put32(s + 5, epoch);
	put32(s + 9, (uint32_t)blen);
	if (blen)
		memcpy(s + 13, body, blen);
	*len = 13 + blen;
	return s;
}

static int mk_is(const struct cf_secbuf *b, const uint8_t *want)
{
	return b && cf_secbuf_len(b) == 32 && memcmp(cf_secbuf_data(b), want, 32) == 0;
}

/* ---- header ------------------------------------------------------------------------------ */

static void test_parse(void)
{
	uint8_t body[40] = {0}, *s, *t;
	struct cf_keyslot ks;
	size_t len;

	s = make_slot(&len, CF_SLOT_ESCROW, 3, body, sizeof(body));
	CHECK_RC(cf_keyslot_parse(&ks, s, len), 0);
	CHECK(ks.kind == CF_SLOT_ESCROW && ks.epoch == 3 && ks.body == s + 13);
	CHECK(ks.body_len == sizeof(body));
	for (size_t l = 0; l < len; l++)
		CHECK_RC(cf_keyslot_parse(&ks, s, l), CF_E_TRUNCATED);
	t = dup_bytes(s, len, 1);
	CHECK_RC(cf_keyslot_parse(&ks, t, len + 1), CF_E_FORMAT);
	t[0] = 'X';
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_FORMAT);
	t[0] = 'C';
	t[3] = 2;
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_VERSION);
	t[3] = 1;
	t[4] = 0;
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_FORMAT);
	t[4] = 200; /* a kind from the future: parsed, for the caller to skip */
	CHECK_RC(cf_keyslot_parse(&ks, t, len), 0);
	put32(t + 5, 0);
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_FORMAT);
	put32(t + 5, 3);
	put32(t + 9, CF_KEYSLOT_MAX_BODY + 1);
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_LIMIT);
	put32(t + 9, 0xffffffffu);
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_LIMIT);
	put32(t + 9, CF_KEYSLOT_MAX_BODY);
	CHECK_RC(cf_keyslot_parse(&ks, t, len), CF_E_TRUNCATED);
	CHECK_RC(cf_keyslot_parse(NULL, t, len), CF_E_INVAL);
	free(t);
	free(s);

	/* The contacts kind parses too; an empty body is a valid header. */
	s = make_slot(&len, CF_SLOT_CONTACTS, 1, NULL, 0);
	CHECK_RC(cf_keyslot_parse(&ks, s, len), 0);
	CHECK(ks.kind == CF_SLOT_CONTACTS && ks.body_len == 0);
	free(s);

	{
		uint8_t h[32];

		cf_hash_blake2b(h, 32, NULL, config_text, strlen(config_text));
		CHECK(memcmp(h, cfg, 32) == 0);
	}
}

/* ---- device slots ------------------------------------------------------------------------- */

static void test_device(void)
{
	const struct cf_pubid senders[2] = {poth, psnd};
	struct cf_secbuf *got = NULL;
	uint8_t *s = NULL, *t, ad[83];
	uint32_t epoch = 0;
	size_t len, idx = 9;

	REQUIRE(cf_keyslot_device_create(&s, &len, snd, &prcp, repo, cfg, 2, mk2) == 0);
	CHECK(memcmp(s, "CFS\x01", 4) == 0 && s[4] == CF_SLOT_DEVICE && le32(s + 5) == 2);
	CHECK(le32(s + 9) == len - 13);
	CHECK_RC(cf_keyslot_device_open(&got, &epoch, rcp, senders, 2, repo, cfg, s, len), 0);
	CHECK(mk_is(got, mk2) && epoch == 2);
	cf_secbuf_free(got);
	got = NULL;

	/* The body is a plain core envelope under the documented associated data. */
	doc_ad(ad, repo, cfg, CF_SLOT_DEVICE, 2);
	CHECK_RC(cf_envelope_open(&got, &idx, rcp, senders, 2, ad, sizeof(ad), s + 13, len - 13),
		 0);
	CHECK(mk_is(got, mk2) && idx == 1);
	cf_secbuf_free(got);
	got = NULL;

	/* Not for this device; not from a trusted device; another repository or config. */
	CHECK_RC(cf_keyslot_device_open(&got, NULL, oth, senders, 2, repo, cfg, s, len),
		 CF_E_NOTRECIPIENT);
	CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, &punk, 1, repo, cfg, s, len),
		 CF_E_UNTRUSTED);
	CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg2, s, len),
		 CF_E_SIGNATURE);
	CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo2, cfg, s, len),
		 CF_E_SIGNATURE);
	/* Moved to another epoch or kind. */
	t = dup_bytes(s, len, 0);
	put32(t + 5, 1);
	CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg, t, len),
		 CF_E_SIGNATURE);
	put32(t + 5, 2);
	t[4] = CF_SLOT_RECOVERY_KEY;
	CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg, t, len),
		 CF_E_FORMAT);
	CHECK(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len) != 0);
	t[4] = CF_SLOT_DEVICE;
	/* Any altered byte: refused, never a key. */
	for (size_t i = 0; i < len; i++) {
		t[i] ^= 0x10;
		CHECK(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg, t, len) != 0);
		t[i] ^= 0x10;
	}
	CHECK(got == NULL);
	for (size_t l = 0; l < len; l++)
		CHECK(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg, t, l) ==
		      CF_E_TRUNCATED);
	free(t);
	free(s);

	/* A trusted device that sealed something other than a 32-byte key. */
	{
		uint8_t *env = NULL;
		size_t elen;

		doc_ad(ad, repo, cfg, CF_SLOT_DEVICE, 2);
		REQUIRE(cf_envelope_seal(&env, &elen, snd, &prcp, 1, ad, sizeof(ad), mk2, 31) == 0);
		s = make_slot(&len, CF_SLOT_DEVICE, 2, env, elen);
		CHECK_RC(cf_keyslot_device_open(&got, NULL, rcp, senders, 2, repo, cfg, s, len),
			 CF_E_CORRUPT);
		free(env);
		free(s);
	}
	CHECK_RC(cf_keyslot_device_create(&s, &len, snd, &prcp, repo, cfg, 0, mk2), CF_E_INVAL);
}

/* ---- recovery-key slots ---------------------------------------------------------------- */

static void test_recovery_unsafe(void)
{
	uint8_t body[89], *s;
	struct cf_secbuf *got = NULL;
	size_t len;
	const char *env = getenv("CF_ARGON2_ALLOW_TEST");

	if (env && strcmp(env, "1") == 0)
		return; /* the environment allows the test set: nothing to prove here */
	memset(body, 0x5a, sizeof(body));
	body[16] = CF_ARGON2_TEST;
	s = make_slot(&len, CF_SLOT_RECOVERY_KEY, 1, body, sizeof(body));
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, s, len), CF_E_UNSAFE);
	free(s);
	s = NULL;
	CHECK_RC(cf_keyslot_recovery_create(&s, &len, rk, CF_ARGON2_TEST, repo, cfg, 1, mk1),
		 CF_E_INVAL);
	CHECK(s == NULL && got == NULL);
}

static void test_recovery(void)
{
	struct cf_secbuf *got = NULL;
	uint8_t *s = NULL, *t, ad[83], kek[32], out[32];
	uint32_t epoch = 0;
	size_t len;

	cf_kdf_argon2_allow_test();
	REQUIRE(cf_keyslot_recovery_create(&s, &len, rk, CF_ARGON2_TEST, repo, cfg, 1, mk1) == 0);
	CHECK(len == 13 + 89 && s[4] == CF_SLOT_RECOVERY_KEY && le32(s + 9) == 89);
	CHECK(s[13 + 16] == CF_ARGON2_TEST);
	CHECK_RC(cf_keyslot_recovery_open(&got, &epoch, rk, repo, cfg, s, len), 0);
	CHECK(mk_is(got, mk1) && epoch == 1);
	cf_secbuf_free(got);
	got = NULL;

	/* Rebuilt from the document: KEK = Argon2id(rk, salt, set); AEAD under the slot AD. */
	REQUIRE(cf_kdf_argon2id(kek, 32, rk, 18, s + 13, CF_ARGON2_TEST) == 0);
	doc_ad(ad, repo, cfg, CF_SLOT_RECOVERY_KEY, 1);
	CHECK_RC(cf_aead_open(out, s + 13 + 17, 72, ad, sizeof(ad), kek), 0);
	CHECK(memcmp(out, mk1, 32) == 0);

	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk2, repo, cfg, s, len), CF_E_AUTH);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg2, s, len), CF_E_AUTH);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo2, cfg, s, len), CF_E_AUTH);
	t = dup_bytes(s, len, 1);
	put32(t + 5, 2);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), CF_E_AUTH);
	put32(t + 5, 1);
	t[13] ^= 1; /* salt */
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), CF_E_AUTH);
	t[13] ^= 1;
	t[13 + 16] = CF_ARGON2_INTERACTIVE; /* another known set: another KEK */
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), CF_E_AUTH);
	t[13 + 16] = 7;
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), CF_E_VERSION);
	t[13 + 16] = CF_ARGON2_TEST;
	for (size_t i = 13 + 17; i < len; i++) {
		t[i] ^= 0x01;
		CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), CF_E_AUTH);
		t[i] ^= 0x01;
	}
	/* Body shorter or longer than its layout (header kept consistent). */
	put32(t + 9, 88);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len - 1), CF_E_TRUNCATED);
	put32(t + 9, 90);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len + 1), CF_E_FORMAT);
	put32(t + 9, 89);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, t, len), 0);
	cf_secbuf_free(got);
	got = NULL;
	free(t);
	/* Not a recovery-key slot. */
	s[4] = CF_SLOT_ESCROW;
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, s, len), CF_E_FORMAT);
	free(s);
	s = NULL;
	CHECK(got == NULL);
	CHECK_RC(cf_keyslot_recovery_create(&s, &len, rk, (enum cf_argon2_params)9, repo, cfg, 1,
					    mk1),
		 CF_E_INVAL);
	CHECK(s == NULL);
}

/* The production parameter set, once (256 MiB, about a second). */
static void test_recovery_moderate(void)
{
	struct cf_secbuf *got = NULL;
	uint8_t *s = NULL;
	size_t len;

	REQUIRE(cf_keyslot_recovery_create(&s, &len, rk, CF_ARGON2_MODERATE, repo, cfg, 2, mk2) ==
		0);
	CHECK(s[13 + 16] == CF_ARGON2_MODERATE);
	CHECK_RC(cf_keyslot_recovery_open(&got, NULL, rk, repo, cfg, s, len), 0);
	CHECK(mk_is(got, mk2));
	cf_secbuf_free(got);
	free(s);
}

/* ---- rosters ---------------------------------------------------------------------------- */

static uint8_t *roster(size_t *len, const struct cf_repokeys *k, uint32_t seq,
		       const struct cf_pubid *ids, size_t n)
{
	uint8_t *s = NULL;

	REQUIRE(cf_roster_create(&s, len, k, repo, cfg, seq, ids, n) == 0);
	return s;
}

/* Seal @pt as a roster body for header epoch @epoch under the metadata key of @k. */
static uint8_t *craft_roster(size_t *len, uint32_t epoch, const struct cf_repokeys *k,
			     const uint8_t *pt, size_t ptlen)
{
	uint8_t ad[83], *body = malloc(ptlen + 40), *s;

	REQUIRE(body);
	doc_ad(ad, repo, cfg, CF_SLOT_ROSTER, epoch);
	cf_aead_seal(body, pt, ptlen, ad, sizeof(ad), cf_repokeys_meta(k));
	s = make_slot(len, CF_SLOT_ROSTER, epoch, body, ptlen + 40);
	free(body);
	return s;
}

static void test_roster_open(void)
{
	const struct cf_pubid two[2] = {psnd, prcp};
	struct cf_roster *r = NULL;
	uint8_t *s, *t, ad[83], pt[6 + 2 * 132];
	size_t len, tlen;

	s = roster(&len, keys1, 4, two, 2);
	CHECK(s[4] == CF_SLOT_ROSTER && le32(s + 5) == 1 && len == 13 + 40 + 6 + 264);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), 0);
	REQUIRE(r);
	CHECK(r->epoch == 1 && r->seq == 4 && r->n == 2);
	CHECK(cf_roster_contains(r, &psnd) && cf_roster_contains(r, &prcp));
	CHECK(!cf_roster_contains(r, &poth));
	cf_roster_free(r);
	r = NULL;

	/* The documented plaintext under the metadata key. */
	doc_ad(ad, repo, cfg, CF_SLOT_ROSTER, 1);
	CHECK_RC(cf_aead_open(pt, s + 13, len - 13, ad, sizeof(ad), cf_repokeys_meta(keys1)), 0);
	CHECK(le32(pt) == 4 && pt[4] == 2 && pt[5] == 0);
	{
		uint8_t enc[132];

		cf_pubid_encode(&prcp, enc);
		CHECK(memcmp(pt + 6 + 132, enc, 132) == 0);
	}

	CHECK_RC(cf_roster_open(&r, ring, repo, cfg2, s, len), CF_E_AUTH);
	CHECK_RC(cf_roster_open(&r, ring, repo2, cfg, s, len), CF_E_AUTH);
	t = dup_bytes(s, len, 0);
	put32(t + 5, 2); /* claims epoch 2 */
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, t, len), CF_E_AUTH);
	CHECK_RC(cf_roster_open(&r, ring1, repo, cfg, t, len), CF_E_NOTFOUND);
	free(t);
	for (size_t i = 13; i < len; i++) {
		s[i] ^= 0x80;
		CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_AUTH);
		s[i] ^= 0x80;
	}
	free(s);

	/* Sealed under epoch 2's key while claiming epoch 1 (AD of epoch 1). */
	memcpy(pt, "\x01\x00\x00\x00\x01\x00", 6);
	cf_pubid_encode(&punk, pt + 6);
	s = craft_roster(&len, 1, keys2, pt, 6 + 132);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_AUTH);
	free(s);
	s = craft_roster(&len, 1, keys1, pt, 6 + 132); /* the same, rightly sealed */
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), 0);
	cf_roster_free(r);
	r = NULL;
	free(s);

	/* Authentic but malformed: count 0, count/length mismatch, bad identity, duplicate. */
	pt[4] = 0;
	s = craft_roster(&len, 1, keys1, pt, 6);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_CORRUPT);
	free(s);
	pt[4] = 2;
	s = craft_roster(&len, 1, keys1, pt, 6 + 132);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_CORRUPT);
	free(s);
	cf_pubid_encode(&punk, pt + 6 + 132);
	s = craft_roster(&len, 1, keys1, pt, 6 + 264);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_CORRUPT);
	free(s);
	pt[6 + 132 + 50] ^= 1;
	s = craft_roster(&len, 1, keys1, pt, 6 + 264);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_CORRUPT);
	free(s);
	s = craft_roster(&len, 1, keys1, pt, 5);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_CORRUPT);
	free(s);
	s = make_slot(&len, CF_SLOT_ROSTER, 1, pt, 39);
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_TRUNCATED);
	s[4] = CF_SLOT_DEVICE;
	CHECK_RC(cf_roster_open(&r, ring, repo, cfg, s, len), CF_E_FORMAT);
	free(s);
	CHECK(r == NULL);

	/* Creation rules. */
	s = NULL;
	CHECK_RC(cf_roster_create(&s, &tlen, keys1, repo, cfg, 1, two, 0), CF_E_INVAL);
	{
		const struct cf_pubid twice[2] = {psnd, psnd};

		CHECK_RC(cf_roster_create(&s, &tlen, keys1, repo, cfg, 1, twice, 2), CF_E_INVAL);
	}
	CHECK_RC(cf_roster_create(&s, &tlen, keys1, repo, cfg, 1, two, CF_ROSTER_MAX + 1),
		 CF_E_LIMIT);
	CHECK(s == NULL);
}

static void test_roster_select(void)
{
	const struct cf_pubid a[1] = {psnd}, ab[2] = {psnd, prcp}, ac[2] = {psnd, poth};
	const struct cf_pubid u[1] = {punk};
	uint8_t *slots[8], junk[60];
	size_t lens[8], n = 0;
	struct cf_roster *r = NULL;

	slots[n] = roster(&lens[n], keys1, 1, a, 1), n++;
	slots[n] = roster(&lens[n], keys1, 2, ab, 2), n++;
	slots[n] = roster(&lens[n], keys2, 9, u, 1), n++; /* another epoch */
	REQUIRE(cf_keyslot_device_create(&slots[n], &lens[n], snd, &prcp, repo, cfg, 1, mk1) == 0);
	n++;
	memset(junk, 0xee, sizeof(junk));
	slots[n] = make_slot(&lens[n], CF_SLOT_ROSTER, 1, junk, sizeof(junk)), n++; /* garbage */
	slots[n] = make_slot(&lens[n], CF_SLOT_CONTACTS, 1, junk, 7), n++;
	CHECK_RC(cf_roster_select(&r, 1, ring, repo, cfg, (const uint8_t *const *)slots, lens, n),
		 0);
	REQUIRE(r);
	CHECK(r->seq == 2 && r->n == 2 && cf_roster_contains(r, &prcp));
	cf_roster_free(r);
	r = NULL;
	CHECK_RC(cf_roster_select(&r, 2, ring, repo, cfg, (const uint8_t *const *)slots, lens, n),
		 0);
	REQUIRE(r);
	CHECK(r->seq == 9 && r->n == 1 && cf_roster_contains(r, &punk));
	cf_roster_free(r);
	r = NULL;

	/* Two holders of MK_1 wrote seq 2 at once: the union. */
	slots[n] = roster(&lens[n], keys1, 2, ac, 2), n++;
	CHECK_RC(cf_roster_select(&r, 1, ring, repo, cfg, (const uint8_t *const *)slots, lens, n),
		 0);
	REQUIRE(r);
	CHECK(r->seq == 2 && r->n == 3 && cf_roster_contains(r, &poth));
	cf_roster_free(r);
	r = NULL;

	/* None for epoch 3; an epoch the ring does not hold; only garbage. */
	CHECK_RC(cf_roster_select(&r, 3, ring, repo, cfg, (const uint8_t *const *)slots, lens, n),
		 CF_E_NOTFOUND);
	CHECK_RC(cf_roster_select(&r, 2, ring1, repo, cfg, (const uint8_t *const *)slots, lens, n),
		 CF_E_NOTFOUND);
	CHECK_RC(cf_roster_select(&r, 1, ring, repo, cfg, (const uint8_t *const *)slots + 4,
				  lens + 4, 2),
		 CF_E_NOTFOUND);
	CHECK(r == NULL);
	for (size_t i = 0; i < n; i++)
		free(slots[i]);
}

/* ---- corpus for the fuzzer ---------------------------------------------------------------- */

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
	const struct cf_pubid ids[2] = {psnd, prcp};
	uint8_t *s = NULL, junk[32] = {0};
	size_t len;
	int bad = 0;

	cf_kdf_argon2_allow_test();
	REQUIRE(cf_keyslot_device_create(&s, &len, snd, &prcp, repo, cfg, 1, mk1) == 0);
	bad |= write_file(dir, "device", s, len);
	free(s);
	REQUIRE(cf_keyslot_recovery_create(&s, &len, rk, CF_ARGON2_TEST, repo, cfg, 1, mk1) == 0);
	bad |= write_file(dir, "recovery-test-set", s, len);
	free(s);
	REQUIRE(cf_roster_create(&s, &len, keys1, repo, cfg, 3, ids, 2) == 0);
	bad |= write_file(dir, "roster", s, len);
	free(s);
	s = make_slot(&len, CF_SLOT_ESCROW, 1, junk, sizeof(junk));
	bad |= write_file(dir, "escrow-opaque", s, len);
	free(s);
	return bad;
}

int main(int argc, char **argv)
{
	cf_log_set_level(CF_LOG_ERR); /* expected refusals */
	fixture();
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
		int r = write_corpus(argv[2]);

		fixture_free();
		return r;
	}
	test_parse();
	test_device();
	test_recovery_unsafe(); /* before the test set is allowed for the process */
	test_recovery();
	test_recovery_moderate();
	test_roster_open();
	test_roster_select();
	fixture_free();
	return check_finish();
}
