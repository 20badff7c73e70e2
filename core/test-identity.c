/* SPDX-License-Identifier: ISC */
/*
 * Device identities: known answers (tests/vectors/identity.json), an independent
 * re-derivation of every documented step with plain libsodium calls (docs/formats.md),
 * and the decoder's rejections, one per error code.
 *
 * `test-identity --print-vectors` prints the vector file for the current code; the test
 * itself only compares against the committed file.
 */
#include <sodium.h>
#include <string.h>

#include "core/core.h"
#include "core/identity.h"
#include "core/testing.h"
#include "tests/lib/check.h"

static const char sig_context[] = "coffer-test-v1";
static const char sig_message[] = "The quick brown fox signs the manifest.";
static const uint8_t new_rng_seed[32] = {'c', 'o', 'f', 'f', 'e', 'r', '-', 'i', 'd'};

static void make_seed(uint8_t seed[32], unsigned which)
{
	for (unsigned i = 0; i < 32; i++)
		seed[i] = which == 0 ? (uint8_t)i : which == 1 ? (uint8_t)(0x20 + i) : 0xa5;
}

static char *hex(const uint8_t *p, size_t len)
{
	char *s = malloc(2 * len + 1);

	REQUIRE(s);
	sodium_bin2hex(s, 2 * len + 1, p, len);
	return s;
}

static struct cf_identity *from_seed(const uint8_t seed[32])
{
	struct cf_identity *id = NULL;

	REQUIRE(cf_identity_from_seed(&id, seed) == 0 && id);
	return id;
}

/* The generator behind tests/vectors/identity.json. */
static int print_vectors(void)
{
	json_t *root = json_object(), *ids = json_array();
	struct cf_pubid pub[3];
	char fpr[CF_FINGERPRINT_LEN], sn[CF_SAFETY_NUMBER_LEN], *s;

	json_object_set_new(
	    root, "comment",
	    json_string("Produced by `test-identity --print-vectors` (core/test-"
	                "identity.c) and cross-checked by an independent "
	                "re-derivation; layouts in docs/formats.md. new_from_rng: "
	                "cf_identity_new right after cf_testing_rng_seed(rng_seed)."));
	json_object_set_new(root, "sig_context", json_string(sig_context));
	json_object_set_new(root, "sig_message", json_string(sig_message));
	for (unsigned k = 0; k < 3; k++) {
		uint8_t seed[32], enc[CF_PUBID_ENCODED_BYTES], sig[64];
		struct cf_identity *id;
		json_t *o = json_object();

		make_seed(seed, k);
		id = from_seed(seed);
		cf_identity_public(id, &pub[k]);
		cf_pubid_encode(&pub[k], enc);
		cf_pubid_fingerprint(&pub[k], fpr);
		cf_identity_sign(id, sig_context, sig_message, strlen(sig_message), sig);
		json_object_set_new(o, "seed", json_string(s = hex(seed, 32)));
		free(s);
		json_object_set_new(o, "public", json_string(s = hex(enc, sizeof(enc))));
		free(s);
		json_object_set_new(o, "fingerprint", json_string(fpr));
		json_object_set_new(o, "signature", json_string(s = hex(sig, 64)));
		free(s);
		json_array_append_new(ids, o);
		cf_identity_free(id);
	}
	json_object_set_new(root, "identities", ids);
	cf_pubid_safety_number(&pub[0], &pub[1], sn);
	json_object_set_new(root, "safety_number_0_1", json_string(sn));
	{
		struct cf_identity *id = NULL;
		uint8_t enc[CF_PUBID_ENCODED_BYTES];

		cf_testing_rng_seed(new_rng_seed);
		REQUIRE(cf_identity_new(&id) == 0);
		cf_identity_public(id, &pub[0]);
		cf_pubid_encode(&pub[0], enc);
		char *h1 = hex(new_rng_seed, 32), *h2 = hex(enc, sizeof(enc));

		json_object_set_new(root, "new_from_rng",
		                    json_pack("{s:s,s:s}", "rng_seed", h1, "public", h2));
		free(h1);
		free(h2);
		cf_identity_free(id);
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(root);
	return 0;
}

/*
 * Re-derive the identity for @seed following docs/formats.md with raw libsodium calls,
 * and check every public byte against the implementation.
 */
static void check_independent(const uint8_t seed[32], const struct cf_pubid *pub, uint8_t ed_sk[64])
{
	uint8_t xs[32], es[32], xpk[32], xsk[32], epk[32], msg[16 + 64];

	crypto_kdf_derive_from_key(xs, 32, 1, "cfident", seed);
	crypto_kdf_derive_from_key(es, 32, 2, "cfident", seed);
	crypto_box_seed_keypair(xpk, xsk, xs);
	crypto_sign_seed_keypair(epk, ed_sk, es);
	CHECK(memcmp(xpk, pub->box_pk, 32) == 0);
	CHECK(memcmp(epk, pub->sign_pk, 32) == 0);
	memcpy(msg, "coffer-pubid-v1", 16);
	memcpy(msg + 16, xpk, 32);
	memcpy(msg + 48, epk, 32);
	CHECK(crypto_sign_verify_detached(pub->self_sig, msg, sizeof(msg), epk) == 0);
}

/* The documented signature message, verified with raw Ed25519. */
static int raw_verify(const uint8_t pk[32], const char *ctx, const char *m, const uint8_t sig[64])
{
	uint8_t buf[14 + 64 + 1 + 64];
	size_t cl = strlen(ctx);

	REQUIRE(cl <= 64);
	memcpy(buf, "coffer-sig-v1", 14);
	memcpy(buf + 14, ctx, cl);
	buf[14 + cl] = 0;
	crypto_generichash(buf + 15 + cl, 64, (const uint8_t *)m, strlen(m), NULL, 0);
	return crypto_sign_verify_detached(sig, buf, 15 + cl + 64, pk);
}

static void test_vectors(void)
{
	json_t *v = check_vectors_load("identity.json");
	json_t *ids = json_object_get(v, "identities");
	struct cf_pubid pub[3];
	const char *ctx = json_string_value(json_object_get(v, "sig_context"));
	const char *msg = json_string_value(json_object_get(v, "sig_message"));
	char sn[CF_SAFETY_NUMBER_LEN], sn2[CF_SAFETY_NUMBER_LEN];

	REQUIRE(json_array_size(ids) == 3 && ctx && msg);
	for (size_t k = 0; k < 3; k++) {
		json_t *o = json_array_get(ids, k);
		size_t seedlen, enclen, siglen;
		uint8_t *seed = check_hex(json_string_value(json_object_get(o, "seed")), &seedlen);
		uint8_t *enc = check_hex(json_string_value(json_object_get(o, "public")), &enclen);
		uint8_t *sig =
		    check_hex(json_string_value(json_object_get(o, "signature")), &siglen);
		uint8_t mine[CF_PUBID_ENCODED_BYTES], mysig[64], ed_sk[64];
		char fpr[CF_FINGERPRINT_LEN];
		struct cf_identity *id;
		struct cf_pubid dec;

		REQUIRE(seedlen == 32 && enclen == sizeof(mine) && siglen == 64);
		id = from_seed(seed);
		cf_identity_public(id, &pub[k]);
		cf_pubid_encode(&pub[k], mine);
		CHECK(memcmp(mine, enc, enclen) == 0);
		CHECK_RC(cf_pubid_decode(&dec, enc, enclen), 0);
		CHECK(cf_pubid_equal(&dec, &pub[k]));
		CHECK(memcmp(dec.self_sig, pub[k].self_sig, 64) == 0);
		cf_pubid_fingerprint(&pub[k], fpr);
		CHECK(strcmp(fpr, json_string_value(json_object_get(o, "fingerprint"))) == 0);
		cf_identity_sign(id, ctx, msg, strlen(msg), mysig);
		CHECK(memcmp(mysig, sig, 64) == 0);
		CHECK_RC(cf_pubid_verify(&pub[k], ctx, msg, strlen(msg), sig), 0);
		CHECK(raw_verify(pub[k].sign_pk, ctx, msg, sig) == 0);
		check_independent(seed, &pub[k], ed_sk);
		sodium_memzero(ed_sk, sizeof(ed_sk));
		cf_identity_free(id);
		free(seed);
		free(enc);
		free(sig);
	}
	cf_pubid_safety_number(&pub[0], &pub[1], sn);
	cf_pubid_safety_number(&pub[1], &pub[0], sn2);
	CHECK(strcmp(sn, json_string_value(json_object_get(v, "safety_number_0_1"))) == 0);
	CHECK(strcmp(sn, sn2) == 0);
	CHECK(strlen(sn) == CF_SAFETY_NUMBER_LEN - 1);
	for (size_t i = 0; i < CF_SAFETY_NUMBER_LEN - 1; i++)
		CHECK((i % 6 == 5) ? sn[i] == ' ' : (sn[i] >= '0' && sn[i] <= '9'));
	/* smaller fingerprint first */
	CHECK(memcmp(sn, sn + 36, 35) <= 0);

	{
		json_t *o = json_object_get(v, "new_from_rng");
		size_t l1, l2;
		uint8_t *rs = check_hex(json_string_value(json_object_get(o, "rng_seed")), &l1);
		uint8_t *enc = check_hex(json_string_value(json_object_get(o, "public")), &l2);
		uint8_t mine[CF_PUBID_ENCODED_BYTES];
		struct cf_identity *id = NULL, *id2 = NULL;
		struct cf_pubid p1, p2;

		REQUIRE(l1 == 32 && l2 == sizeof(mine));
		cf_testing_rng_seed(rs);
		REQUIRE(cf_identity_new(&id) == 0);
		REQUIRE(cf_identity_new(&id2) == 0);
		cf_identity_public(id, &p1);
		cf_identity_public(id2, &p2);
		cf_pubid_encode(&p1, mine);
		CHECK(memcmp(mine, enc, l2) == 0);
		CHECK(!cf_pubid_equal(&p1, &p2));
		cf_identity_free(id);
		cf_identity_free(id2);
		cf_testing_rng_system();
		free(rs);
		free(enc);
	}
	json_decref(v);
}

/* Encode @pub with a fresh self-signature by @ed_sk over whatever keys it holds. */
static void encode_signed(uint8_t out[CF_PUBID_ENCODED_BYTES], struct cf_pubid *pub,
                          const uint8_t ed_sk[64])
{
	uint8_t msg[16 + 64];

	memcpy(msg, "coffer-pubid-v1", 16);
	memcpy(msg + 16, pub->box_pk, 32);
	memcpy(msg + 48, pub->sign_pk, 32);
	crypto_sign_detached(pub->self_sig, NULL, msg, sizeof(msg), ed_sk);
	cf_pubid_encode(pub, out);
}

static void test_decode_rejects(void)
{
	/* Small-order and non-canonical X25519 u-coordinates (little endian). */
	static const char *const bad_x[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "0900000000000000000000000000000000000000000000000000000000000080",
	};
	/* Ed25519 encodings that are not acceptable points. */
	static const char *const bad_ed[] = {
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "0000000000000000000000000000000000000000000000000000000000000080",
	    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    /* base point + an order-8 point: on the curve, outside the prime-order group */
	    "98519eadf35b995233b51b5cd23e9cc5a28b639b5a4af0ec903cb960d81b7819",
	};
	uint8_t seed[32], enc[CF_PUBID_ENCODED_BYTES + 1], t[CF_PUBID_ENCODED_BYTES + 1];
	uint8_t ed_sk[64];
	struct cf_identity *id;
	struct cf_pubid pub, out, p2;

	make_seed(seed, 0);
	id = from_seed(seed);
	cf_identity_public(id, &pub);
	cf_pubid_encode(&pub, enc);
	check_independent(seed, &pub, ed_sk);

	memset(&out, 0x5a, sizeof(out));
	p2 = out;
	for (size_t l = 0; l < 4; l++)
		CHECK_RC(cf_pubid_decode(&out, enc, l), CF_E_TRUNCATED);
	for (size_t l = 4; l < CF_PUBID_ENCODED_BYTES; l++)
		CHECK_RC(cf_pubid_decode(&out, enc, l), CF_E_TRUNCATED);
	CHECK(memcmp(&out, &p2, sizeof(out)) == 0); /* untouched on failure */
	enc[CF_PUBID_ENCODED_BYTES] = 0;
	CHECK_RC(cf_pubid_decode(&out, enc, CF_PUBID_ENCODED_BYTES + 1), CF_E_FORMAT);
	for (size_t i = 0; i < 3; i++) {
		memcpy(t, enc, sizeof(t));
		t[i] ^= 0x20;
		CHECK_RC(cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES), CF_E_FORMAT);
		CHECK_RC(cf_pubid_decode(&out, t, 10), CF_E_FORMAT);
	}
	for (unsigned ver = 0; ver < 256; ver += 1) {
		if (ver == CF_PUBID_VERSION)
			continue;
		memcpy(t, enc, sizeof(t));
		t[3] = (uint8_t)ver;
		CHECK_RC(cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES), CF_E_VERSION);
	}
	/* Every bit of the self-signature and of the X25519 key; the Ed25519 key too. */
	for (size_t i = 4; i < CF_PUBID_ENCODED_BYTES; i++) {
		for (int b = 0; b < 8; b++) {
			int r;

			memcpy(t, enc, sizeof(t));
			t[i] ^= (uint8_t)(1u << b);
			r = cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES);
			if (i == 35 && b == 7) /* top bit of the X25519 key: non-canonical */
				CHECK_RC(r, CF_E_CORRUPT);
			else if (i >= 36 && i < 68) /* Ed25519 key: off-curve or wrong sig */
				CHECK(r == CF_E_CORRUPT || r == CF_E_SIGNATURE);
			else
				CHECK_RC(r, CF_E_SIGNATURE);
		}
	}
	/* Bad keys under a valid self-signature: only the key check can refuse them. */
	for (size_t k = 0; k < sizeof(bad_x) / sizeof(bad_x[0]); k++) {
		p2 = pub;
		REQUIRE(sodium_hex2bin(p2.box_pk, 32, bad_x[k], 64, NULL, NULL, NULL) == 0);
		encode_signed(t, &p2, ed_sk);
		CHECK_RC(cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES), CF_E_CORRUPT);
	}
	for (size_t k = 0; k < sizeof(bad_ed) / sizeof(bad_ed[0]); k++) {
		memcpy(t, enc, CF_PUBID_ENCODED_BYTES);
		REQUIRE(sodium_hex2bin(t + 36, 32, bad_ed[k], 64, NULL, NULL, NULL) == 0);
		CHECK_RC(cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES), CF_E_CORRUPT);
	}
	/* Control: a good foreign X25519 key under a valid self-signature decodes. */
	p2 = pub;
	crypto_scalarmult_base(p2.box_pk, seed);
	encode_signed(t, &p2, ed_sk);
	CHECK_RC(cf_pubid_decode(&out, t, CF_PUBID_ENCODED_BYTES), 0);
	CHECK(cf_pubid_equal(&out, &p2));
	CHECK(!cf_pubid_equal(&out, &pub));
	/* ...and the genuine encoding round-trips. */
	CHECK_RC(cf_pubid_decode(&out, enc, CF_PUBID_ENCODED_BYTES), 0);
	CHECK(cf_pubid_equal(&out, &pub));
	sodium_memzero(ed_sk, sizeof(ed_sk));
	cf_identity_free(id);
}

static void test_sign_verify(void)
{
	uint8_t seed[32], sig[64], sig2[64];
	struct cf_identity *a, *b;
	struct cf_pubid pa, pb;
	char longctx[257];
	static const char m[] = "manifest bytes";

	make_seed(seed, 0);
	a = from_seed(seed);
	make_seed(seed, 1);
	b = from_seed(seed);
	cf_identity_public(a, &pa);
	cf_identity_public(b, &pb);

	cf_identity_sign(a, "coffer-manifest-v1", m, sizeof(m), sig);
	CHECK_RC(cf_pubid_verify(&pa, "coffer-manifest-v1", m, sizeof(m), sig), 0);
	CHECK_RC(cf_pubid_verify(&pa, "coffer-manifest-v2", m, sizeof(m), sig), CF_E_SIGNATURE);
	CHECK_RC(cf_pubid_verify(&pa, "", m, sizeof(m), sig), CF_E_SIGNATURE);
	CHECK_RC(cf_pubid_verify(&pa, "coffer-manifest-v1", m, sizeof(m) - 1, sig), CF_E_SIGNATURE);
	CHECK_RC(cf_pubid_verify(&pb, "coffer-manifest-v1", m, sizeof(m), sig), CF_E_SIGNATURE);
	for (int i = 0; i < 64; i++) {
		memcpy(sig2, sig, 64);
		sig2[i] ^= 0x01;
		CHECK_RC(cf_pubid_verify(&pa, "coffer-manifest-v1", m, sizeof(m), sig2),
		         CF_E_SIGNATURE);
	}
	/* Deterministic, empty message and empty context are fine. */
	cf_identity_sign(a, "coffer-manifest-v1", m, sizeof(m), sig2);
	CHECK(memcmp(sig, sig2, 64) == 0);
	cf_identity_sign(a, "", NULL, 0, sig);
	CHECK_RC(cf_pubid_verify(&pa, "", NULL, 0, sig), 0);
	CHECK(raw_verify(pa.sign_pk, "", "", sig) == 0);
	/* The self-signature is not usable as a signature in any context. */
	CHECK_RC(cf_pubid_verify(&pa, "coffer-pubid-v1", pa.box_pk, 64, pa.self_sig),
	         CF_E_SIGNATURE);
	/* Contexts up to 255 bytes; a longer one never verifies. */
	memset(longctx, 'x', sizeof(longctx));
	longctx[255] = 0;
	cf_identity_sign(a, longctx, m, sizeof(m), sig);
	CHECK_RC(cf_pubid_verify(&pa, longctx, m, sizeof(m), sig), 0);
	longctx[255] = 'x';
	longctx[256] = 0;
	CHECK_RC(cf_pubid_verify(&pa, longctx, m, sizeof(m), sig), CF_E_SIGNATURE);
	cf_identity_free(a);
	cf_identity_free(b);
}

static void test_seed_dh_equal(void)
{
	uint8_t seed[32], s1[32], s2[32], zero[32] = {0};
	struct cf_identity *a, *b, *c;
	struct cf_secbuf *sb = NULL;
	struct cf_pubid pa, pb, pc;
	char f1[CF_FINGERPRINT_LEN], f2[CF_FINGERPRINT_LEN];

	make_seed(seed, 2);
	a = from_seed(seed);
	make_seed(seed, 1);
	b = from_seed(seed);
	cf_identity_public(a, &pa);
	cf_identity_public(b, &pb);

	REQUIRE(cf_identity_seed(a, &sb) == 0);
	CHECK(cf_secbuf_len(sb) == 32);
	make_seed(seed, 2);
	CHECK(memcmp(cf_secbuf_data(sb), seed, 32) == 0);
	c = from_seed(cf_secbuf_data(sb));
	cf_secbuf_free(sb);
	cf_identity_public(c, &pc);
	CHECK(cf_pubid_equal(&pa, &pc));
	CHECK(memcmp(&pa, &pc, sizeof(pa)) == 0);
	CHECK(!cf_pubid_equal(&pa, &pb));
	pc = pa;
	pc.sign_pk[31] ^= 1;
	CHECK(!cf_pubid_equal(&pa, &pc));

	CHECK_RC(cf_identity_dh(a, s1, pb.box_pk), 0);
	CHECK_RC(cf_identity_dh(b, s2, pa.box_pk), 0);
	CHECK(memcmp(s1, s2, 32) == 0);
	CHECK(!sodium_is_zero(s1, 32));
	CHECK_RC(cf_identity_dh(a, s1, zero), CF_E_CORRUPT);
	CHECK(sodium_is_zero(s1, 32));

	cf_pubid_fingerprint(&pa, f1);
	cf_pubid_fingerprint(&pb, f2);
	CHECK(strlen(f1) == CF_FINGERPRINT_LEN - 1);
	CHECK(strcmp(f1, f2) != 0);
	cf_identity_free(a);
	cf_identity_free(b);
	cf_identity_free(c);
}

int main(int argc, char **argv)
{
	/* Deterministic RNG from the start, so cf_identity_new vectors are reproducible. */
	cf_testing_rng_seed(new_rng_seed);
	REQUIRE(cf_core_init() == 0);
	if (argc > 1 && strcmp(argv[1], "--print-vectors") == 0)
		return print_vectors();
	test_vectors();
	test_decode_rejects();
	test_sign_verify();
	test_seed_dh_equal();
	return check_finish();
}
