/* SPDX-License-Identifier: ISC */
/*
 * Sealed envelopes: known answers (tests/vectors/envelope.json, sealed under the
 * deterministic RNG), an independent opener written from docs/formats.md with plain
 * libsodium calls, every single-bit flip and every truncation with the exact error code
 * for the region, crafted envelopes re-signed by the sender (garbage payload, bad wrap,
 * low-order ephemeral key, duplicated slot), limits and large payloads.
 *
 * `test-envelope --print-vectors` prints the vector file for the current code; the test
 * itself only compares against the committed file.
 */
#include <sodium.h>
#include <string.h>

#include "core/core.h"
#include "core/envelope.h"
#include "core/testing.h"
#include "tests/lib/check.h"

#define NRCPT 5
#define MIB   (1024u * 1024u)

struct kat {
	const char *name;
	uint8_t rng[32];
	size_t n; /* recipients */
	const char *ad;
	const char *payload;
};

static const struct kat kats[] = {
    {"five-recipients",
     {'c', 'o', 'f', 'f', 'e', 'r', '-', 'e', 'n', 'v', '-', '1'},
     NRCPT,
     "repo=7f3a epoch=3",
     "backup master key for epoch 3, 32 bytes follow"},
    {"one-recipient-empty",
     {'c', 'o', 'f', 'f', 'e', 'r', '-', 'e', 'n', 'v', '-', '2'},
     1,
     "",
     ""},
};

/* Role seeds: 0 = sender, 1..5 = recipients, 6 = another trusted sender, 7 = outsider. */
static void role_seed(uint8_t seed[32], unsigned role)
{
	for (unsigned j = 0; j < 32; j++)
		seed[j] = (uint8_t)(0x11 * role + 3 * j);
}

struct party {
	struct cf_identity *id;
	struct cf_pubid pub;
	uint8_t xsk[32];  /* X25519 secret, re-derived per docs/formats.md */
	uint8_t edsk[64]; /* Ed25519 secret (libsodium layout: seed | pk) */
};

static struct party P[8];

/* Build a party and re-derive its secret keys independently of identity.c. */
static void party_init(struct party *p, unsigned role)
{
	uint8_t seed[32], xs[32], es[32], xpk[32], epk[32];

	role_seed(seed, role);
	REQUIRE(cf_identity_from_seed(&p->id, seed) == 0);
	cf_identity_public(p->id, &p->pub);
	crypto_kdf_derive_from_key(xs, 32, 1, "cfident", seed);
	crypto_kdf_derive_from_key(es, 32, 2, "cfident", seed);
	crypto_box_seed_keypair(xpk, p->xsk, xs);
	crypto_sign_seed_keypair(epk, p->edsk, es);
	REQUIRE(memcmp(xpk, p->pub.box_pk, 32) == 0 && memcmp(epk, p->pub.sign_pk, 32) == 0);
}

/* ---- the format, restated from docs/formats.md ---------------------------------- */

static size_t le16(const uint8_t *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8;
}

static size_t le32(const uint8_t *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

/* Header length (magic .. payload length) for n recipients: 98 + 56 n. */
static size_t hdr_len(size_t n)
{
	return 70 + 56 * n + 24 + 4;
}

/* The documented check order, up to the sender look-up; SIGNATURE past that. */
static int model_code(const uint8_t *e, size_t len, const uint8_t trusted_sender[32])
{
	size_t n, h, pl;

	if (len < 4)
		return CF_E_TRUNCATED;
	if (memcmp(e, "CFE", 3) != 0)
		return CF_E_FORMAT;
	if (e[3] != 1)
		return CF_E_VERSION;
	if (len < 70)
		return CF_E_TRUNCATED;
	n = le16(e + 68);
	if (n == 0)
		return CF_E_FORMAT;
	if (n > 1024)
		return CF_E_LIMIT;
	h = hdr_len(n);
	if (len < h)
		return CF_E_TRUNCATED;
	pl = le32(e + h - 4);
	if (pl > 16 * MIB)
		return CF_E_LIMIT;
	if (len < h + pl + 16 + 64)
		return CF_E_TRUNCATED;
	if (len > h + pl + 16 + 64)
		return CF_E_FORMAT;
	if (memcmp(e + 4, trusted_sender, 32) != 0)
		return CF_E_UNTRUSTED;
	return CF_E_SIGNATURE;
}

static void spec_hint(uint8_t hint[8], const uint8_t eph[32], const uint8_t rpk[32])
{
	uint8_t in[24 + 32], h[16];

	memcpy(in, "coffer-envelope-v1-hint", 24);
	memcpy(in + 24, rpk, 32);
	crypto_generichash(h, 16, in, sizeof(in), eph, 32);
	memcpy(hint, h, 8);
}

/* Re-sign @e (@len bytes, signature last) as @edsk under @ad. */
static void spec_resign(uint8_t *e, size_t len, const uint8_t edsk[64], const char *ad)
{
	uint8_t *m = malloc(23 + 64 + len);

	REQUIRE(m);
	memcpy(m, "coffer-envelope-v1-sig", 23);
	crypto_generichash(m + 23, 64, (const uint8_t *)ad, strlen(ad), NULL, 0);
	memcpy(m + 87, e, len - 64);
	crypto_sign_detached(e + len - 64, NULL, m, 87 + len - 64, edsk);
	free(m);
}

/*
 * Open @e as the holder of @xsk/@xpk from the documentation alone. Returns 0 and a
 * malloc'ed payload in *@out (and the content key in @ck), or -1.
 */
static int spec_open(uint8_t **out, const uint8_t *e, size_t len, const uint8_t xsk[32],
                     const uint8_t xpk[32], const char *ad, uint8_t ck[32])
{
	uint8_t *m, hint[8], shared[32], wrap[56], *pad, *pl;
	size_t n, h, plen, i;
	int ok = 0;

	if (len < 70 || memcmp(e, "CFE\x01", 4) != 0)
		return -1;
	n = le16(e + 68);
	h = hdr_len(n);
	plen = le32(e + h - 4);
	if (len != h + plen + 80)
		return -1;
	m = malloc(87 + len - 64);
	REQUIRE(m);
	memcpy(m, "coffer-envelope-v1-sig", 23);
	crypto_generichash(m + 23, 64, (const uint8_t *)ad, strlen(ad), NULL, 0);
	memcpy(m + 87, e, len - 64);
	ok = crypto_sign_verify_detached(e + len - 64, m, 87 + len - 64, e + 4) == 0;
	free(m);
	if (!ok || crypto_scalarmult(shared, xsk, e + 36) != 0)
		return -1;
	{
		uint8_t in[24 + 64];

		memcpy(in, "coffer-envelope-v1-wrap", 24);
		memcpy(in + 24, e + 36, 32);
		memcpy(in + 56, xpk, 32);
		crypto_generichash(wrap, 56, in, sizeof(in), shared, 32);
	}
	spec_hint(hint, e + 36, xpk);
	for (i = 0, ok = 0; i < n && !ok; i++) {
		const uint8_t *slot = e + 70 + 56 * i;

		ok = memcmp(slot, hint, 8) == 0 &&
		     crypto_aead_xchacha20poly1305_ietf_decrypt(ck, NULL, NULL, slot + 8, 48, e, 36,
		                                                wrap + 32, wrap) == 0;
	}
	if (!ok)
		return -1;
	pad = malloc(h + 32);
	pl = malloc(plen + 1);
	REQUIRE(pad && pl);
	memcpy(pad, e, h);
	crypto_generichash(pad + h, 32, (const uint8_t *)ad, strlen(ad), NULL, 0);
	ok = crypto_aead_xchacha20poly1305_ietf_decrypt(pl, NULL, NULL, e + h, plen + 16, pad,
	                                                h + 32, e + h - 28, ck) == 0;
	free(pad);
	if (!ok) {
		free(pl);
		return -1;
	}
	*out = pl;
	return 0;
}

/* Re-encrypt the payload of @e under content key @ck for its current header and @ad. */
static void spec_reseal_payload(uint8_t *e, const uint8_t ck[32], const void *payload,
                                const char *ad)
{
	size_t h = hdr_len(le16(e + 68)), plen = le32(e + h - 4);
	uint8_t *pad = malloc(h + 32);

	REQUIRE(pad);
	memcpy(pad, e, h);
	crypto_generichash(pad + h, 32, (const uint8_t *)ad, strlen(ad), NULL, 0);
	crypto_aead_xchacha20poly1305_ietf_encrypt(e + h, NULL, payload, plen, pad, h + 32, NULL,
	                                           e + h - 28, ck);
	free(pad);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void recipients_of(struct cf_pubid *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i] = P[1 + i].pub;
}

/* Trusted senders: another device first, so the real sender's index is 1. */
static const struct cf_pubid *trusted(void)
{
	static struct cf_pubid t[2];

	t[0] = P[6].pub;
	t[1] = P[0].pub;
	return t;
}

static int open_as(unsigned role, const uint8_t *e, size_t len, const char *ad,
                   struct cf_secbuf **pb, size_t *idx)
{
	return cf_envelope_open(pb, idx, P[role].id, trusted(), 2, ad, strlen(ad), e, len);
}

/* Open as @role expecting failure @want; checks that nothing was set. */
static void expect_fail(unsigned role, const uint8_t *e, size_t len, const char *ad, int want)
{
	struct cf_secbuf *pb = (struct cf_secbuf *)&P; /* sentinel */
	size_t idx = 999;

	CHECK_RC(open_as(role, e, len, ad, &pb, &idx), want);
	CHECK(pb == (struct cf_secbuf *)&P && idx == 999);
}

static void expect_open(unsigned role, const uint8_t *e, size_t len, const char *ad,
                        const void *payload, size_t plen)
{
	struct cf_secbuf *pb = NULL;
	size_t idx = 999;

	CHECK_RC(open_as(role, e, len, ad, &pb, &idx), 0);
	if (!pb)
		return;
	CHECK(idx == 1);
	CHECK(cf_secbuf_len(pb) == plen);
	CHECK(plen == 0 || memcmp(cf_secbuf_data(pb), payload, plen) == 0);
	cf_secbuf_free(pb);
}

static void seal_kat(const struct kat *k, uint8_t **env, size_t *len)
{
	struct cf_pubid r[NRCPT];

	recipients_of(r, k->n);
	cf_testing_rng_seed(k->rng);
	REQUIRE(cf_envelope_seal(env, len, P[0].id, r, k->n, k->ad, strlen(k->ad), k->payload,
	                         strlen(k->payload)) == 0);
	cf_testing_rng_system();
}

static char *hex(const uint8_t *p, size_t len)
{
	char *s = malloc(2 * len + 1);

	REQUIRE(s);
	sodium_bin2hex(s, 2 * len + 1, p, len);
	return s;
}

/* The generator behind tests/vectors/envelope.json. */
static int print_vectors(void)
{
	json_t *root = json_object(), *arr = json_array(), *seeds = json_array();
	char *s;

	json_object_set_new(
	    root, "comment",
	    json_string("Produced by `test-envelope --print-vectors` (core/test-"
	                "envelope.c): cf_envelope_seal by role 0 to roles 1..n, "
	                "payload and ad as UTF-8, right after cf_testing_rng_seed("
	                "rng_seed) (ChaCha20 keystream, core/testing.c). Role k's "
	                "identity seed is byte j = 0x11*k + 3*j. Opened by an "
	                "independent implementation of docs/formats.md in the test."));
	for (unsigned role = 0; role < 8; role++) {
		uint8_t seed[32];

		role_seed(seed, role);
		json_array_append_new(seeds, json_string(s = hex(seed, 32)));
		free(s);
	}
	json_object_set_new(root, "role_seeds", seeds);
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t *env;
		size_t len;
		json_t *o = json_object();

		seal_kat(&kats[i], &env, &len);
		json_object_set_new(o, "name", json_string(kats[i].name));
		json_object_set_new(o, "rng_seed", json_string(s = hex(kats[i].rng, 32)));
		free(s);
		json_object_set_new(o, "recipients", json_integer((json_int_t)kats[i].n));
		json_object_set_new(o, "ad", json_string(kats[i].ad));
		json_object_set_new(o, "payload", json_string(kats[i].payload));
		json_object_set_new(o, "envelope", json_string(s = hex(env, len)));
		free(s);
		free(env);
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "vectors", arr);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(root);
	return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_kat(void)
{
	json_t *v = check_vectors_load("envelope.json");
	json_t *arr = json_object_get(v, "vectors"), *seeds = json_object_get(v, "role_seeds");

	REQUIRE(json_array_size(arr) == sizeof(kats) / sizeof(kats[0]));
	for (unsigned role = 0; role < 8; role++) {
		uint8_t seed[32], *js;
		size_t l;

		role_seed(seed, role);
		js = check_hex(json_string_value(json_array_get(seeds, role)), &l);
		CHECK(l == 32 && memcmp(js, seed, 32) == 0);
		free(js);
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const struct kat *k = &kats[i];
		json_t *o = json_array_get(arr, i);
		size_t elen, mylen, rl;
		uint8_t *env = check_hex(json_string_value(json_object_get(o, "envelope")), &elen);
		uint8_t *rng = check_hex(json_string_value(json_object_get(o, "rng_seed")), &rl);
		uint8_t *mine, *pl, ck[32];

		REQUIRE(rl == 32 && memcmp(rng, k->rng, 32) == 0);
		CHECK(strcmp(json_string_value(json_object_get(o, "ad")), k->ad) == 0);
		CHECK(strcmp(json_string_value(json_object_get(o, "payload")), k->payload) == 0);
		CHECK(json_integer_value(json_object_get(o, "recipients")) == (json_int_t)k->n);
		seal_kat(k, &mine, &mylen);
		CHECK(mylen == elen && memcmp(mine, env, elen) == 0);
		CHECK(elen == 178 + 56 * k->n + strlen(k->payload));
		for (unsigned r = 1; r <= k->n; r++) {
			expect_open(r, env, elen, k->ad, k->payload, strlen(k->payload));
			pl = NULL;
			CHECK(spec_open(&pl, env, elen, P[r].xsk, P[r].pub.box_pk, k->ad, ck) == 0);
			CHECK(pl && memcmp(pl, k->payload, strlen(k->payload)) == 0);
			free(pl);
		}
		expect_fail(7, env, elen, k->ad, CF_E_NOTRECIPIENT);
		expect_fail(6, env, elen, k->ad, CF_E_NOTRECIPIENT);
		CHECK(spec_open(&pl, env, elen, P[7].xsk, P[7].pub.box_pk, k->ad, ck) == -1);
		free(mine);
		free(env);
		free(rng);
	}
	json_decref(v);
}

/* Every bit of every byte, and every truncation, of the five-recipient KAT envelope. */
static void test_tamper(void)
{
	uint8_t *env, *t, pk[32];
	size_t len;
	const struct kat *k = &kats[0];

	seal_kat(k, &env, &len);
	t = malloc(len + 1);
	REQUIRE(t);
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			int want;

			memcpy(t, env, len);
			t[i] ^= (uint8_t)(1u << b);
			want = model_code(t, len, P[0].pub.sign_pk);
			/* the regions the brief names, independently of the model */
			if (i < 3)
				CHECK(want == CF_E_FORMAT);
			else if (i == 3)
				CHECK(want == CF_E_VERSION);
			else if (i < 36)
				CHECK(want == CF_E_UNTRUSTED);
			else if (i < 68 || (i >= 70 && i < hdr_len(NRCPT) - 4) ||
			         i >= hdr_len(NRCPT))
				CHECK(want == CF_E_SIGNATURE);
			else
				CHECK(want == CF_E_TRUNCATED || want == CF_E_FORMAT ||
				      want == CF_E_LIMIT);
			expect_fail(1, t, len, k->ad, want);
		}
	}
	for (size_t l = 0; l < len; l++) {
		expect_fail(1, env, l, k->ad, CF_E_TRUNCATED);
		CHECK_RC(cf_envelope_sender(pk, env, l), l < 36 ? CF_E_TRUNCATED : 0);
	}
	memcpy(t, env, len);
	t[len] = 0;
	expect_fail(1, t, len + 1, k->ad, CF_E_FORMAT);
	CHECK_RC(cf_envelope_sender(pk, env, len), 0);
	CHECK(memcmp(pk, P[0].pub.sign_pk, 32) == 0);
	t[0] = 'X';
	CHECK_RC(cf_envelope_sender(pk, t, len), CF_E_FORMAT);
	t[0] = 'C';
	t[3] = 2;
	CHECK_RC(cf_envelope_sender(pk, t, len), CF_E_VERSION);

	/* Other @ad, untrusted sender, sender field swapped for another trusted key. */
	expect_fail(1, env, len, "repo=7f3a epoch=4", CF_E_SIGNATURE);
	expect_fail(1, env, len, "", CF_E_SIGNATURE);
	CHECK_RC(cf_envelope_open(&(struct cf_secbuf *){NULL}, NULL, P[1].id, &P[6].pub, 1, k->ad,
	                          strlen(k->ad), env, len),
	         CF_E_UNTRUSTED);
	CHECK_RC(cf_envelope_open(&(struct cf_secbuf *){NULL}, NULL, P[1].id, NULL, 0, k->ad,
	                          strlen(k->ad), env, len),
	         CF_E_UNTRUSTED);
	memcpy(t, env, len);
	memcpy(t + 4, P[6].pub.sign_pk, 32);
	expect_fail(1, t, len, k->ad, CF_E_SIGNATURE);
	/* Re-signed by that other trusted key it verifies, but every wrapped key is bound
	 * to the original sender (wrap AD = magic | sender key): nothing unwraps. */
	spec_resign(t, len, P[6].edsk, k->ad);
	expect_fail(1, t, len, k->ad, CF_E_NOTRECIPIENT);

	/* Forged counts: checked before the signature. */
	memcpy(t, env, len);
	t[68] = 0xff, t[69] = 0xff;
	expect_fail(1, t, len, k->ad, CF_E_LIMIT);
	t[68] = 0x01, t[69] = 0x04; /* 1025 */
	expect_fail(1, t, len, k->ad, CF_E_LIMIT);
	t[68] = 0x00, t[69] = 0x04; /* 1024: the slots do not fit */
	expect_fail(1, t, len, k->ad, CF_E_TRUNCATED);
	t[68] = 0, t[69] = 0;
	expect_fail(1, t, len, k->ad, CF_E_FORMAT);
	memcpy(t, env, len);
	memcpy(t + hdr_len(NRCPT) - 4, "\x01\x00\x00\x01", 4); /* 16 MiB + 1 */
	expect_fail(1, t, len, k->ad, CF_E_LIMIT);
	memcpy(t + hdr_len(NRCPT) - 4, "\x00\x00\x00\x01", 4); /* 16 MiB */
	expect_fail(1, t, len, k->ad, CF_E_TRUNCATED);
	free(t);
	free(env);
}

/* Envelopes the trusted sender signed but built wrong: only the later checks catch them. */
static void test_resigned(void)
{
	const struct kat *k = &kats[0];
	uint8_t *env, *t, *pl, ck[32];
	size_t len, h = hdr_len(NRCPT);

	seal_kat(k, &env, &len);
	t = malloc(len);
	REQUIRE(t);

	memcpy(t, env, len); /* garbage payload */
	t[h + 3] ^= 0x40;
	spec_resign(t, len, P[0].edsk, k->ad);
	for (unsigned r = 1; r <= NRCPT; r++)
		expect_fail(r, t, len, k->ad, CF_E_AUTH);

	memcpy(t, env, len); /* payload nonce changed */
	t[h - 10] ^= 0x01;
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_fail(2, t, len, k->ad, CF_E_AUTH);

	/* Slot edits: the payload AD covers the whole header, so any edit alone is AUTH... */
	memcpy(t, env, len); /* recipient 3's wrapped key damaged: hint matches, unwrap fails */
	t[70 + 56 * 2 + 8 + 5] ^= 0x80;
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_fail(3, t, len, k->ad, CF_E_NOTRECIPIENT);
	expect_fail(2, t, len, k->ad, CF_E_AUTH);
	/* ...and with the payload re-encrypted for the new header, the others open. */
	REQUIRE(spec_open(&pl, env, len, P[1].xsk, P[1].pub.box_pk, k->ad, ck) == 0);
	free(pl);
	spec_reseal_payload(t, ck, k->payload, k->ad);
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_fail(3, t, len, k->ad, CF_E_NOTRECIPIENT);
	expect_open(2, t, len, k->ad, k->payload, strlen(k->payload));

	memcpy(t, env, len); /* slot 2 replaced by a copy of slot 1: duplicates are read */
	memcpy(t + 70 + 56, t + 70, 56);
	spec_reseal_payload(t, ck, k->payload, k->ad);
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_open(1, t, len, k->ad, k->payload, strlen(k->payload));
	expect_fail(2, t, len, k->ad, CF_E_NOTRECIPIENT);
	memcpy(t + 70 + 8, t + 70 + 56 * 3 + 8, 48); /* first copy wrong: the second opens */
	spec_reseal_payload(t, ck, k->payload, k->ad);
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_open(1, t, len, k->ad, k->payload, strlen(k->payload));

	memcpy(t, env, len); /* low-order ephemeral key with matching hints */
	memset(t + 36, 0, 32);
	for (unsigned r = 0; r < NRCPT; r++)
		spec_hint(t + 70 + 56 * r, t + 36, P[1 + r].pub.box_pk);
	spec_resign(t, len, P[0].edsk, k->ad);
	expect_fail(1, t, len, k->ad, CF_E_NOTRECIPIENT);

	memcpy(t, env, len); /* control: a plain re-signature changes nothing */
	spec_resign(t, len, P[0].edsk, k->ad);
	CHECK(memcmp(t, env, len) == 0);
	free(t);
	free(env);
}

static void test_seal_limits(void)
{
	struct cf_pubid r[NRCPT], *many;
	struct cf_identity *last = NULL;
	uint8_t *env = (uint8_t *)&P, *env2, seed[32];
	size_t len = 12345, len2, big = CF_ENVELOPE_MAX_AD + 1;
	char *bigad = calloc(1, big);

	REQUIRE(bigad);
	recipients_of(r, NRCPT);
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, 0, "", 0, "x", 1), CF_E_INVAL);
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, NRCPT, "", 0, bigad,
	                          CF_ENVELOPE_MAX_PAYLOAD + 1),
	         CF_E_LIMIT);
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, NRCPT, bigad, big, "x", 1), CF_E_LIMIT);
	r[3] = r[1];
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, NRCPT, "", 0, "x", 1), CF_E_INVAL);
	recipients_of(r, NRCPT);
	memset(r[4].box_pk, 0, 32); /* low order */
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, NRCPT, "", 0, "x", 1), CF_E_CORRUPT);
	r[4].box_pk[0] = 1;
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, NRCPT, "", 0, "x", 1), CF_E_CORRUPT);
	CHECK(env == (uint8_t *)&P && len == 12345); /* untouched on failure */
	expect_fail(1, (const uint8_t *)"", 0, "", CF_E_TRUNCATED);
	/* an over-long @ad is refused before anything else */
	CHECK_RC(cf_envelope_open(&(struct cf_secbuf *){NULL}, NULL, P[1].id, trusted(), 2, bigad,
	                          big, (const uint8_t *)"CFE\x01", 4),
	         CF_E_LIMIT);

	/* 1025 refused; exactly 1024 seals, and the last one opens. */
	many = calloc(CF_ENVELOPE_MAX_RECIPIENTS + 1, sizeof(*many));
	REQUIRE(many);
	for (size_t i = 0; i <= CF_ENVELOPE_MAX_RECIPIENTS; i++) {
		struct cf_identity *id;

		memset(seed, 0, sizeof(seed));
		memcpy(seed, &i, sizeof(i));
		seed[31] = 0x77;
		REQUIRE(cf_identity_from_seed(&id, seed) == 0);
		cf_identity_public(id, &many[i]);
		if (i == CF_ENVELOPE_MAX_RECIPIENTS - 1)
			last = id;
		else
			cf_identity_free(id);
	}
	CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, many, CF_ENVELOPE_MAX_RECIPIENTS + 1, "", 0,
	                          "x", 1),
	         CF_E_LIMIT);
	CHECK_RC(cf_envelope_seal(&env2, &len2, P[0].id, many, CF_ENVELOPE_MAX_RECIPIENTS, "a", 1,
	                          "hi", 2),
	         0);
	CHECK(len2 == 178 + 56 * 1024 + 2);
	{
		struct cf_secbuf *pb = NULL;

		CHECK_RC(cf_envelope_open(&pb, NULL, last, &P[0].pub, 1, "a", 1, env2, len2), 0);
		CHECK(pb && cf_secbuf_len(pb) == 2 && memcmp(cf_secbuf_data(pb), "hi", 2) == 0);
		cf_secbuf_free(pb);
	}
	free(env2);
	cf_identity_free(last);
	free(many);
	free(bigad);
}

static void test_sizes(void)
{
	static const size_t sizes[] = {0, 1, 1 * MIB, CF_ENVELOPE_MAX_PAYLOAD};
	struct cf_pubid r[2];
	uint8_t *big = malloc(CF_ENVELOPE_MAX_PAYLOAD), *e1, *e2, h1[8], h2[8];
	size_t l1, l2;

	REQUIRE(big);
	for (size_t i = 0; i < CF_ENVELOPE_MAX_PAYLOAD; i++)
		big[i] = (uint8_t)(i * 131 + (i >> 11));
	r[0] = P[2].pub;
	r[1] = P[5].pub;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint8_t *env = NULL;
		size_t len = 0;

		CHECK_RC(cf_envelope_seal(&env, &len, P[0].id, r, 2, "sz", 2, big, sizes[s]), 0);
		CHECK(len == 178 + 2 * 56 + sizes[s]);
		expect_open(5, env, len, "sz", big, sizes[s]);
		expect_open(2, env, len, "sz", big, sizes[s]);
		expect_fail(1, env, len, "sz", CF_E_NOTRECIPIENT);
		free(env);
	}
	/* System RNG: two seals of the same input differ, and so do a recipient's hints. */
	CHECK_RC(cf_envelope_seal(&e1, &l1, P[0].id, r, 1, "", 0, "same", 4), 0);
	CHECK_RC(cf_envelope_seal(&e2, &l2, P[0].id, r, 1, "", 0, "same", 4), 0);
	CHECK(l1 == l2 && memcmp(e1, e2, l1) != 0);
	memcpy(h1, e1 + 70, 8);
	memcpy(h2, e2 + 70, 8);
	CHECK(memcmp(h1, h2, 8) != 0);
	free(e1);
	free(e2);
	free(big);
}

int main(int argc, char **argv)
{
	cf_testing_rng_seed(kats[0].rng);
	REQUIRE(cf_core_init() == 0);
	cf_testing_rng_system();
	for (unsigned role = 0; role < 8; role++)
		party_init(&P[role], role);
	if (argc > 1 && strcmp(argv[1], "--print-vectors") == 0)
		return print_vectors();
	test_kat();
	test_tamper();
	test_resigned();
	test_seal_limits();
	test_sizes();
	for (unsigned role = 0; role < 8; role++) {
		cf_identity_free(P[role].id);
		sodium_memzero(&P[role], sizeof(P[role]));
	}
	return check_finish();
}
