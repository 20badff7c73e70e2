/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Device identity: an X25519 key pair (encryption: envelopes are wrapped to it) and an
 * Ed25519 key pair (signatures: envelopes, snapshot manifests), both derived from one
 * 32-byte secret seed, which is all a keychain stores.
 *
 * The public identity has a versioned encoding (docs/formats.md, "Public identity"):
 *   magic "CFI" | version 0x01 | x25519_pk[32] | ed25519_pk[32] | self_sig[64]
 * where self_sig is the Ed25519 signature binding the two keys, so a directory cannot
 * pair someone's signing key with an encryption key of its choice.
 *
 * A fingerprint is 30 decimal digits in six groups of five, for people to compare
 * (Signal "safety number" style); a safety number for two parties is both fingerprints,
 * the numerically smaller first.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

#define CF_IDENTITY_SEED_BYTES 32
#define CF_PUBKEY_BYTES 32
#define CF_SIGNATURE_BYTES 64
#define CF_PUBID_VERSION 1
#define CF_PUBID_ENCODED_BYTES (4 + 32 + 32 + 64)
#define CF_FINGERPRINT_LEN (30 + 5 + 1)   /* "12345 67890 ... 12345" + NUL */
#define CF_SAFETY_NUMBER_LEN (60 + 11 + 1)

/* A public identity: plain data, safe to copy and publish. */
struct cf_pubid {
	uint8_t box_pk[CF_PUBKEY_BYTES];    /* X25519 */
	uint8_t sign_pk[CF_PUBKEY_BYTES];   /* Ed25519 */
	uint8_t self_sig[CF_SIGNATURE_BYTES];
};

/* A device's secret identity; opaque, lives in secure memory. */
struct cf_identity;

/*
 * cf_identity_new - generate a fresh identity from the CSPRNG.
 * Sets *@out only on success. Returns 0 or -ENOMEM.
 */
int cf_identity_new(struct cf_identity **out);

/*
 * cf_identity_from_seed - rebuild the identity for @seed (deterministic).
 * Sets *@out only on success. Returns 0 or -ENOMEM.
 */
int cf_identity_from_seed(struct cf_identity **out, const uint8_t seed[CF_IDENTITY_SEED_BYTES]);

/* cf_identity_free - wipe and release. Accepts NULL. */
void cf_identity_free(struct cf_identity *id);

/*
 * cf_identity_seed - copy the secret seed into a new secure buffer (for the keychain).
 * Sets *@out only on success. Returns 0 or -ENOMEM.
 */
int cf_identity_seed(const struct cf_identity *id, struct cf_secbuf **out);

/* cf_identity_public - the identity's public half, self-signature included. */
void cf_identity_public(const struct cf_identity *id, struct cf_pubid *out);

/*
 * cf_identity_sign - sign @msg under @context (a short NUL-terminated label such as
 * "coffer-manifest-v1"); a signature made under one context never verifies under another.
 * @context is at most 255 bytes: labels are constants, so a longer one is a programming
 * error and aborts (cf_pubid_verify returns CF_E_SIGNATURE for it).
 */
void cf_identity_sign(const struct cf_identity *id, const char *context, const void *msg,
		      size_t len, uint8_t sig[CF_SIGNATURE_BYTES]);

/*
 * cf_pubid_verify - verify @sig over @msg under @context for @pub.
 * Returns 0 or CF_E_SIGNATURE.
 */
int cf_pubid_verify(const struct cf_pubid *pub, const char *context, const void *msg,
		    size_t len, const uint8_t sig[CF_SIGNATURE_BYTES]);

/* cf_pubid_encode - the versioned encoding (CF_PUBID_ENCODED_BYTES). */
void cf_pubid_encode(const struct cf_pubid *pub, uint8_t out[CF_PUBID_ENCODED_BYTES]);

/*
 * cf_pubid_decode - parse and check an encoded public identity (untrusted input).
 * Sets *@out only on success. Returns 0; CF_E_TRUNCATED when shorter than the version
 * needs; CF_E_FORMAT for a wrong magic or trailing bytes; CF_E_VERSION for an unknown
 * version; CF_E_SIGNATURE when the self-signature fails; CF_E_CORRUPT for a key that is
 * not a valid curve point (low order, non-canonical).
 */
int cf_pubid_decode(struct cf_pubid *out, const uint8_t *in, size_t len);

/* cf_pubid_equal - 1 when both halves of the keys are equal (constant time). */
int cf_pubid_equal(const struct cf_pubid *a, const struct cf_pubid *b);

/* cf_pubid_fingerprint - the 30-digit fingerprint, grouped by spaces. */
void cf_pubid_fingerprint(const struct cf_pubid *pub, char out[CF_FINGERPRINT_LEN]);

/* cf_pubid_safety_number - both fingerprints, smaller first, 12 groups of five. */
void cf_pubid_safety_number(const struct cf_pubid *a, const struct cf_pubid *b,
			    char out[CF_SAFETY_NUMBER_LEN]);

/*
 * Internal to core (envelope.c): X25519 with the identity's secret key.
 * Returns 0, or CF_E_CORRUPT when the result is all-zero (low-order peer key).
 */
int cf_identity_dh(const struct cf_identity *id, uint8_t shared[32],
		   const uint8_t peer_pk[CF_PUBKEY_BYTES]);

/*
 * Internal to core (envelope.c): a plain Ed25519 signature over @msg exactly as given
 * (no context label, no prehash). The caller must domain-separate @msg: it has to begin
 * with a NUL-terminated domain string of its own (envelopes: "coffer-envelope-v1-sig"),
 * distinct from "coffer-sig-v1" and "coffer-pubid-v1" used by this file.
 */
void cf_identity_sign_raw(const struct cf_identity *id, uint8_t sig[CF_SIGNATURE_BYTES],
			  const void *msg, size_t len);
