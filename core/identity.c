/* SPDX-License-Identifier: ISC */
/*
 * Device identities: key derivation from the seed, the public-identity encoding, its
 * self-signature, fingerprints and context-bound signatures. The exact byte formats are
 * in docs/formats.md ("Public identity", "Fingerprint and safety number", "Signatures");
 * keep the two in step.
 */
#include "core/identity.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"

/* crypto_kdf context and subkey ids that turn the identity seed into the two key seeds. */
static const char kdf_ctx[crypto_kdf_CONTEXTBYTES] = {'c', 'f', 'i', 'd', 'e', 'n', 't', 0};
enum { KDF_ID_BOX = 1, KDF_ID_SIGN = 2 };

/* Domain strings; each is NUL-terminated in the signed/hashed bytes (sizeof includes it). */
static const char selfsig_domain[] = "coffer-pubid-v1";
static const char fpr_domain[] = "coffer-fingerprint-v1";
static const char sig_domain[] = "coffer-sig-v1";

static const uint8_t pubid_magic[3] = {'C', 'F', 'I'};

#define FPR_ITERATIONS   5200
#define SIGN_CONTEXT_MAX 255

/*
 * Fixed scalar for the X25519 low-order test in cf_pubid_decode. After clamping it is a
 * multiple of 8, below 8 * l, and a multiple of neither l nor the twist's large prime
 * order (checked when it was chosen), so the product is all-zero exactly for points of
 * order 1, 2, 4 or 8.
 */
static const uint8_t probe_scalar[32] = {
    0x43, 0x46, 0x49, 0x20, 0x6c, 0x6f, 0x77, 0x2d, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x20, 0x70, 0x72,
    0x6f, 0x62, 0x65, 0x20, 0x73, 0x63, 0x61, 0x6c, 0x61, 0x72, 0x20, 0x76, 0x31, 0x2e, 0x30, 0x2e,
};

struct cf_identity {
	uint8_t seed[CF_IDENTITY_SEED_BYTES];
	uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
	struct cf_pubid pub;
};

/* Message covered by the self-signature: domain NUL | x25519_pk | ed25519_pk. */
static void selfsig_message(uint8_t msg[sizeof(selfsig_domain) + 64], const struct cf_pubid *pub)
{
	memcpy(msg, selfsig_domain, sizeof(selfsig_domain));
	memcpy(msg + sizeof(selfsig_domain), pub->box_pk, 32);
	memcpy(msg + sizeof(selfsig_domain) + 32, pub->sign_pk, 32);
}

int cf_identity_from_seed(struct cf_identity **out, const uint8_t seed[CF_IDENTITY_SEED_BYTES])
{
	struct cf_identity *id;
	uint8_t *sub;
	uint8_t msg[sizeof(selfsig_domain) + 64];

	/* Room for both derived seeds in secure memory, right after the struct. */
	id = cf_secmem_alloc(sizeof(*id) + 2 * 32);
	if (!id)
		return -ENOMEM;
	sub = (uint8_t *)(id + 1);
	memcpy(id->seed, seed, CF_IDENTITY_SEED_BYTES);
	crypto_kdf_derive_from_key(sub, 32, KDF_ID_BOX, kdf_ctx, id->seed);
	crypto_kdf_derive_from_key(sub + 32, 32, KDF_ID_SIGN, kdf_ctx, id->seed);
	crypto_box_seed_keypair(id->pub.box_pk, id->box_sk, sub);
	crypto_sign_seed_keypair(id->pub.sign_pk, id->sign_sk, sub + 32);
	sodium_memzero(sub, 2 * 32);

	selfsig_message(msg, &id->pub);
	crypto_sign_detached(id->pub.self_sig, NULL, msg, sizeof(msg), id->sign_sk);
	*out = id;
	return 0;
}

int cf_identity_new(struct cf_identity **out)
{
	uint8_t *seed;
	int r;

	seed = cf_secmem_alloc(CF_IDENTITY_SEED_BYTES);
	if (!seed)
		return -ENOMEM;
	randombytes_buf(seed, CF_IDENTITY_SEED_BYTES);
	r = cf_identity_from_seed(out, seed);
	cf_secmem_free(seed);
	return r;
}

void cf_identity_free(struct cf_identity *id)
{
	cf_secmem_free(id);
}

int cf_identity_seed(const struct cf_identity *id, struct cf_secbuf **out)
{
	return cf_secbuf_dup(out, id->seed, CF_IDENTITY_SEED_BYTES);
}

void cf_identity_public(const struct cf_identity *id, struct cf_pubid *out)
{
	*out = id->pub;
}

int cf_identity_dh(const struct cf_identity *id, uint8_t shared[32],
                   const uint8_t peer_pk[CF_PUBKEY_BYTES])
{
	/* libsodium returns -1 for an all-zero result (a low-order peer key). */
	if (crypto_scalarmult(shared, id->box_sk, peer_pk) != 0) {
		sodium_memzero(shared, 32);
		return CF_E_CORRUPT;
	}
	return 0;
}

/*
 * Build the signed message for (context, msg):
 *   "coffer-sig-v1" 0x00 | context | 0x00 | BLAKE2b-512(msg)
 * into @buf (room for SIGN_CONTEXT_MAX). Returns its length, or 0 when @context is
 * longer than SIGN_CONTEXT_MAX.
 */
static size_t sig_message(uint8_t *buf, const char *context, const void *msg, size_t len)
{
	size_t clen = strnlen(context, SIGN_CONTEXT_MAX + 1);
	size_t off = 0;

	if (clen > SIGN_CONTEXT_MAX)
		return 0;
	memcpy(buf, sig_domain, sizeof(sig_domain));
	off += sizeof(sig_domain);
	memcpy(buf + off, context, clen);
	off += clen;
	buf[off++] = 0;
	crypto_generichash(buf + off, 64, msg, len, NULL, 0);
	return off + 64;
}

void cf_identity_sign(const struct cf_identity *id, const char *context, const void *msg,
                      size_t len, uint8_t sig[CF_SIGNATURE_BYTES])
{
	uint8_t buf[sizeof(sig_domain) + SIGN_CONTEXT_MAX + 1 + 64];
	size_t n = sig_message(buf, context, msg, len);

	if (!n) {
		/* Labels are compile-time constants: an over-long one is a programming bug. */
		fprintf(stderr, "cf_identity_sign: context label longer than %d bytes\n",
		        SIGN_CONTEXT_MAX);
		abort();
	}
	crypto_sign_detached(sig, NULL, buf, n, id->sign_sk);
}

int cf_pubid_verify(const struct cf_pubid *pub, const char *context, const void *msg, size_t len,
                    const uint8_t sig[CF_SIGNATURE_BYTES])
{
	uint8_t buf[sizeof(sig_domain) + SIGN_CONTEXT_MAX + 1 + 64];
	size_t n = sig_message(buf, context, msg, len);

	if (!n)
		return CF_E_SIGNATURE; /* nothing can have been signed under it */
	if (crypto_sign_verify_detached(sig, buf, n, pub->sign_pk) != 0)
		return CF_E_SIGNATURE;
	return 0;
}

void cf_pubid_encode(const struct cf_pubid *pub, uint8_t out[CF_PUBID_ENCODED_BYTES])
{
	memcpy(out, pubid_magic, 3);
	out[3] = CF_PUBID_VERSION;
	memcpy(out + 4, pub->box_pk, 32);
	memcpy(out + 36, pub->sign_pk, 32);
	memcpy(out + 68, pub->self_sig, 64);
}

/*
 * An X25519 public key we accept: canonical (top bit clear, u < 2^255 - 19) and not of
 * small order.
 */
static int x25519_pk_ok(const uint8_t pk[32])
{
	uint8_t q[32];
	int ok;

	if (pk[31] & 0x80)
		return 0;
	/* u >= p = 2^255 - 19 means bytes ed ff .. ff 7f (little endian) or above. */
	if (pk[31] == 0x7f && pk[0] >= 0xed) {
		int all_ff = 1;
		for (int i = 1; i < 31; i++)
			all_ff &= pk[i] == 0xff;
		if (all_ff)
			return 0;
	}
	ok = crypto_scalarmult(q, probe_scalar, pk) == 0;
	sodium_memzero(q, sizeof(q));
	return ok;
}

int cf_pubid_decode(struct cf_pubid *out, const uint8_t *in, size_t len)
{
	struct cf_pubid p;
	uint8_t msg[sizeof(selfsig_domain) + 64];

	if (len < 4)
		return CF_E_TRUNCATED;
	if (memcmp(in, pubid_magic, 3) != 0)
		return CF_E_FORMAT;
	if (in[3] != CF_PUBID_VERSION)
		return CF_E_VERSION;
	if (len < CF_PUBID_ENCODED_BYTES)
		return CF_E_TRUNCATED;
	if (len > CF_PUBID_ENCODED_BYTES)
		return CF_E_FORMAT;
	memcpy(p.box_pk, in + 4, 32);
	memcpy(p.sign_pk, in + 36, 32);
	memcpy(p.self_sig, in + 68, 64);
	if (!crypto_core_ed25519_is_valid_point(p.sign_pk))
		return CF_E_CORRUPT;
	if (!x25519_pk_ok(p.box_pk))
		return CF_E_CORRUPT;
	selfsig_message(msg, &p);
	if (crypto_sign_verify_detached(p.self_sig, msg, sizeof(msg), p.sign_pk) != 0)
		return CF_E_SIGNATURE;
	*out = p;
	return 0;
}

int cf_pubid_equal(const struct cf_pubid *a, const struct cf_pubid *b)
{
	return (sodium_memcmp(a->box_pk, b->box_pk, 32) |
	        sodium_memcmp(a->sign_pk, b->sign_pk, 32)) == 0;
}

void cf_pubid_fingerprint(const struct cf_pubid *pub, char out[CF_FINGERPRINT_LEN])
{
	crypto_generichash_state st;
	uint8_t h[64];
	const uint8_t version = CF_PUBID_VERSION;

	/* h_1 = BLAKE2b-512(domain NUL | version | x25519_pk | ed25519_pk) */
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)fpr_domain, sizeof(fpr_domain));
	crypto_generichash_update(&st, &version, 1);
	crypto_generichash_update(&st, pub->box_pk, 32);
	crypto_generichash_update(&st, pub->sign_pk, 32);
	crypto_generichash_final(&st, h, sizeof(h));
	/* h_i = BLAKE2b-512(h_{i-1} | x25519_pk | ed25519_pk), i = 2..5200 */
	for (int i = 1; i < FPR_ITERATIONS; i++) {
		crypto_generichash_init(&st, NULL, 0, sizeof(h));
		crypto_generichash_update(&st, h, sizeof(h));
		crypto_generichash_update(&st, pub->box_pk, 32);
		crypto_generichash_update(&st, pub->sign_pk, 32);
		crypto_generichash_final(&st, h, sizeof(h));
	}
	/* Six groups: 5 bytes big-endian, mod 100000, five digits, separated by spaces. */
	for (int g = 0; g < 6; g++) {
		uint64_t v = 0;
		for (int k = 0; k < 5; k++)
			v = v << 8 | h[5 * g + k];
		v %= 100000;
		for (int k = 4; k >= 0; k--) {
			out[6 * g + k] = (char)('0' + v % 10);
			v /= 10;
		}
		out[6 * g + 5] = g < 5 ? ' ' : '\0';
	}
}

void cf_pubid_safety_number(const struct cf_pubid *a, const struct cf_pubid *b,
                            char out[CF_SAFETY_NUMBER_LEN])
{
	char fa[CF_FINGERPRINT_LEN], fb[CF_FINGERPRINT_LEN];
	const char *lo, *hi;

	cf_pubid_fingerprint(a, fa);
	cf_pubid_fingerprint(b, fb);
	/* Same length, same layout: string order is numeric order. */
	if (strcmp(fa, fb) <= 0) {
		lo = fa;
		hi = fb;
	} else {
		lo = fb;
		hi = fa;
	}
	snprintf(out, CF_SAFETY_NUMBER_LEN, "%s %s", lo, hi);
}

void cf_identity_sign_raw(const struct cf_identity *id, uint8_t sig[CF_SIGNATURE_BYTES],
                          const void *msg, size_t len)
{
	crypto_sign_detached(sig, NULL, msg, len, id->sign_sk);
}
