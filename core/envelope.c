/* SPDX-License-Identifier: ISC */
/*
 * Sealed envelopes, format v1. The byte layout, derivations and the order of the checks
 * on open are specified in docs/formats.md ("Envelope"); keep the two in step.
 *
 *   0    "CFE" 0x01
 *   4    sender Ed25519 public key [32]
 *   36   ephemeral X25519 public key [32]
 *   68   n, recipient count, u16 LE (1..1024)
 *   70   n slots of { hint[8] | wrapped content key [32 + 16] }
 *   S    payload nonce [24]                         S = 70 + 56 n
 *   S+24 payload length u32 LE (<= 16 MiB)
 *   H    ciphertext [len + 16]                      H = S + 28 (end of the header)
 *   T    Ed25519 signature [64]                     T = H + len + 16
 */
#include "core/envelope.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"

#define OFF_SENDER    4
#define OFF_EPH       36
#define OFF_COUNT     68
#define OFF_SLOTS     70
#define HINT_BYTES    8
#define WRAPPED_BYTES (32 + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define SLOT_BYTES    (HINT_BYTES + WRAPPED_BYTES)
#define NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SIG_BYTES     crypto_sign_BYTES
#define WRAP_AD_BYTES OFF_EPH /* magic | version | sender key */

static const uint8_t env_magic[3] = {'C', 'F', 'E'};

/* Domain strings, used with their terminating NUL (sizeof). */
static const char wrap_domain[] = "coffer-envelope-v1-wrap";
static const char hint_domain[] = "coffer-envelope-v1-hint";
static const char sig_domain[] = "coffer-envelope-v1-sig";

/* The signed message is sig_domain NUL | BLAKE2b-512(ad) | envelope bytes before T. */
#define SIG_PREFIX_BYTES (sizeof(sig_domain) + 64)

/* Header length (magic through payload length) for @n recipients. */
static size_t header_len(size_t n)
{
	return OFF_SLOTS + n * SLOT_BYTES + NONCE_BYTES + 4;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* hint = first 8 bytes of BLAKE2b-128(key = eph_pk, hint_domain NUL | recipient_pk). */
static void slot_hint(uint8_t hint[HINT_BYTES], const uint8_t eph_pk[32], const uint8_t rcpt_pk[32])
{
	crypto_generichash_state st;
	uint8_t h[16];

	crypto_generichash_init(&st, eph_pk, 32, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)hint_domain, sizeof(hint_domain));
	crypto_generichash_update(&st, rcpt_pk, 32);
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(hint, h, HINT_BYTES);
}

/*
 * wrap = BLAKE2b-448(key = shared, wrap_domain NUL | eph_pk | recipient_pk);
 * wrap key = wrap[0..32), wrap nonce = wrap[32..56). @wrap is secret memory.
 */
static void slot_wrap_key(uint8_t wrap[32 + NONCE_BYTES], const uint8_t shared[32],
                          const uint8_t eph_pk[32], const uint8_t rcpt_pk[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, shared, 32, 32 + NONCE_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)wrap_domain, sizeof(wrap_domain));
	crypto_generichash_update(&st, eph_pk, 32);
	crypto_generichash_update(&st, rcpt_pk, 32);
	crypto_generichash_final(&st, wrap, 32 + NONCE_BYTES);
	sodium_memzero(&st, sizeof(st));
}

/*
 * Payload associated data: the header bytes followed by BLAKE2b-256(@ad), in a new
 * malloc'ed buffer of header_len + 32 bytes. Returns NULL when out of memory.
 */
static uint8_t *payload_ad(const uint8_t *hdr, size_t hlen, const void *ad, size_t adlen)
{
	uint8_t *p = malloc(hlen + 32);

	if (!p)
		return NULL;
	memcpy(p, hdr, hlen);
	crypto_generichash(p + hlen, 32, ad, adlen, NULL, 0);
	return p;
}

/* Start the signed message in @m: sig_domain NUL | BLAKE2b-512(@ad). */
static void sig_prefix(uint8_t *m, const void *ad, size_t adlen)
{
	memcpy(m, sig_domain, sizeof(sig_domain));
	crypto_generichash(m + sizeof(sig_domain), 64, ad, adlen, NULL, 0);
}

struct seal_secrets {
	uint8_t eph_sk[32];
	uint8_t content_key[32];
	uint8_t shared[32];
	uint8_t wrap[32 + NONCE_BYTES];
};

int cf_envelope_seal(uint8_t **out, size_t *outlen, const struct cf_identity *sender,
                     const struct cf_pubid *recipients, size_t n, const void *ad, size_t adlen,
                     const void *payload, size_t len)
{
	struct seal_secrets *sec = NULL;
	struct cf_pubid spub;
	uint8_t *m = NULL, *pad = NULL, *env, *res = NULL;
	size_t hlen, total;
	int r;

	if (n == 0)
		return CF_E_INVAL;
	if (n > CF_ENVELOPE_MAX_RECIPIENTS || len > CF_ENVELOPE_MAX_PAYLOAD ||
	    adlen > CF_ENVELOPE_MAX_AD)
		return CF_E_LIMIT;
	/* A recipient listed twice is a caller bug (and would show in the envelope). */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (memcmp(recipients[i].box_pk, recipients[j].box_pk, 32) == 0)
				return CF_E_INVAL;

	/* Bounded above: no overflow even with a 32-bit size_t. */
	hlen = header_len(n);
	total = hlen + len + TAG_BYTES + SIG_BYTES;

	sec = cf_secmem_alloc(sizeof(*sec));
	m = malloc(SIG_PREFIX_BYTES + total);
	if (!sec || !m) {
		r = -ENOMEM;
		goto fail;
	}
	/* The envelope is built in place after the signature prefix. */
	env = m + SIG_PREFIX_BYTES;
	cf_identity_public(sender, &spub);

	/* Randomness, in this order: ephemeral key, content key, payload nonce. */
	crypto_box_keypair(env + OFF_EPH, sec->eph_sk);
	randombytes_buf(sec->content_key, sizeof(sec->content_key));
	randombytes_buf(env + hlen - 4 - NONCE_BYTES, NONCE_BYTES);

	memcpy(env, env_magic, 3);
	env[3] = CF_ENVELOPE_VERSION;
	memcpy(env + OFF_SENDER, spub.sign_pk, 32);
	put_le16(env + OFF_COUNT, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *slot = env + OFF_SLOTS + i * SLOT_BYTES;
		const uint8_t *rpk = recipients[i].box_pk;

		if (crypto_scalarmult(sec->shared, sec->eph_sk, rpk) != 0) {
			r = CF_E_CORRUPT;
			goto fail;
		}
		slot_hint(slot, env + OFF_EPH, rpk);
		slot_wrap_key(sec->wrap, sec->shared, env + OFF_EPH, rpk);
		crypto_aead_xchacha20poly1305_ietf_encrypt(slot + HINT_BYTES, NULL,
		                                           sec->content_key, 32, env, WRAP_AD_BYTES,
		                                           NULL, sec->wrap + 32, sec->wrap);
	}
	put_le32(env + hlen - 4, (uint32_t)len);

	pad = payload_ad(env, hlen, ad, adlen);
	if (!pad) {
		r = -ENOMEM;
		goto fail;
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(env + hlen, NULL, payload, len, pad, hlen + 32,
	                                           NULL, env + hlen - 4 - NONCE_BYTES,
	                                           sec->content_key);

	sig_prefix(m, ad, adlen);
	cf_identity_sign_raw(sender, env + total - SIG_BYTES, m,
	                     SIG_PREFIX_BYTES + total - SIG_BYTES);

	res = malloc(total);
	if (!res) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(res, env, total);
	*out = res;
	*outlen = total;
	r = 0;
fail:
	free(pad);
	free(m);
	cf_secmem_free(sec);
	return r;
}

/*
 * Parse the framing of @env: magic, version, counts and lengths, in the documented order.
 * On success *@n and *@plen hold the recipient count and payload length, and envlen is
 * exactly header_len(n) + plen + 16 + 64.
 */
static int parse(const uint8_t *env, size_t envlen, size_t *n, size_t *plen)
{
	size_t cnt, hlen, len;

	if (envlen < 4)
		return CF_E_TRUNCATED;
	if (memcmp(env, env_magic, 3) != 0)
		return CF_E_FORMAT;
	if (env[3] != CF_ENVELOPE_VERSION)
		return CF_E_VERSION;
	if (envlen < OFF_SLOTS)
		return CF_E_TRUNCATED;
	cnt = (size_t)env[OFF_COUNT] | (size_t)env[OFF_COUNT + 1] << 8;
	if (cnt == 0)
		return CF_E_FORMAT;
	if (cnt > CF_ENVELOPE_MAX_RECIPIENTS)
		return CF_E_LIMIT;
	hlen = header_len(cnt);
	if (envlen < hlen)
		return CF_E_TRUNCATED;
	len = get_le32(env + hlen - 4);
	if (len > CF_ENVELOPE_MAX_PAYLOAD)
		return CF_E_LIMIT;
	/* hlen <= 57442 and len <= 16 MiB: the sum cannot overflow. */
	if (envlen < hlen + len + TAG_BYTES + SIG_BYTES)
		return CF_E_TRUNCATED;
	if (envlen > hlen + len + TAG_BYTES + SIG_BYTES)
		return CF_E_FORMAT;
	*n = cnt;
	*plen = len;
	return 0;
}

int cf_envelope_sender(uint8_t sign_pk[CF_PUBKEY_BYTES], const uint8_t *env, size_t envlen)
{
	if (envlen < 4)
		return CF_E_TRUNCATED;
	if (memcmp(env, env_magic, 3) != 0)
		return CF_E_FORMAT;
	if (env[3] != CF_ENVELOPE_VERSION)
		return CF_E_VERSION;
	if (envlen < OFF_SENDER + 32)
		return CF_E_TRUNCATED;
	memcpy(sign_pk, env + OFF_SENDER, 32);
	return 0;
}

struct open_secrets {
	uint8_t shared[32];
	uint8_t wrap[32 + NONCE_BYTES];
	uint8_t content_key[32];
};

int cf_envelope_open(struct cf_secbuf **payload, size_t *sender_index, const struct cf_identity *me,
                     const struct cf_pubid *senders, size_t nsenders, const void *ad, size_t adlen,
                     const uint8_t *env, size_t envlen)
{
	struct open_secrets *sec = NULL;
	struct cf_secbuf *pb = NULL;
	struct cf_pubid mine;
	uint8_t *m = NULL, *pad = NULL;
	uint8_t hint[HINT_BYTES];
	size_t n, plen, hlen, sigoff, idx, i;
	int r, found, keyed;

	if (adlen > CF_ENVELOPE_MAX_AD)
		return CF_E_LIMIT; /* nothing sealed with such @ad can exist */
	r = parse(env, envlen, &n, &plen);
	if (r)
		return r;
	hlen = header_len(n);
	sigoff = envlen - SIG_BYTES;

	for (idx = 0; idx < nsenders; idx++)
		if (sodium_memcmp(senders[idx].sign_pk, env + OFF_SENDER, 32) == 0)
			break;
	if (idx == nsenders)
		return CF_E_UNTRUSTED;

	m = malloc(SIG_PREFIX_BYTES + sigoff);
	if (!m) {
		r = -ENOMEM;
		goto fail;
	}
	sig_prefix(m, ad, adlen);
	memcpy(m + SIG_PREFIX_BYTES, env, sigoff);
	if (crypto_sign_verify_detached(env + sigoff, m, SIG_PREFIX_BYTES + sigoff,
	                                senders[idx].sign_pk) != 0) {
		r = CF_E_SIGNATURE;
		goto fail;
	}
	free(m); /* up to 16 MiB: not needed any more */
	m = NULL;

	sec = cf_secmem_alloc(sizeof(*sec));
	if (!sec) {
		r = -ENOMEM;
		goto fail;
	}
	cf_identity_public(me, &mine);
	slot_hint(hint, env + OFF_EPH, mine.box_pk);
	found = 0;
	keyed = 0;
	for (i = 0; i < n && !found; i++) {
		const uint8_t *slot = env + OFF_SLOTS + i * SLOT_BYTES;

		if (sodium_memcmp(slot, hint, HINT_BYTES) != 0)
			continue;
		/* The shared secret and wrap key are the same for all of our slots. */
		if (!keyed) {
			if (cf_identity_dh(me, sec->shared, env + OFF_EPH) != 0)
				break; /* low-order ephemeral key: no slot can open */
			slot_wrap_key(sec->wrap, sec->shared, env + OFF_EPH, mine.box_pk);
			keyed = 1;
		}
		found = crypto_aead_xchacha20poly1305_ietf_decrypt(
		            sec->content_key, NULL, NULL, slot + HINT_BYTES, WRAPPED_BYTES, env,
		            WRAP_AD_BYTES, sec->wrap + 32, sec->wrap) == 0;
	}
	if (!found) {
		r = CF_E_NOTRECIPIENT;
		goto fail;
	}

	r = cf_secbuf_new(&pb, plen);
	if (r)
		goto fail;
	pad = payload_ad(env, hlen, ad, adlen);
	if (!pad) {
		r = -ENOMEM;
		goto fail;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        cf_secbuf_data(pb), NULL, NULL, env + hlen, plen + TAG_BYTES, pad, hlen + 32,
	        env + hlen - 4 - NONCE_BYTES, sec->content_key) != 0) {
		r = CF_E_AUTH;
		goto fail;
	}
	*payload = pb;
	pb = NULL;
	if (sender_index)
		*sender_index = idx;
	r = 0;
fail:
	cf_secbuf_free(pb);
	free(pad);
	free(m);
	cf_secmem_free(sec);
	return r;
}
