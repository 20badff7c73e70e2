/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for cf_envelope_open on untrusted bytes. The identities are the
 * fixed roles of tests/vectors/envelope.json (role 0 sends, role 1 receives, role 6 is
 * another trusted sender), so the seed corpus (the KAT envelopes) opens and mutations
 * start from a valid envelope. Inputs whose first byte has the top bit set are also
 * sealed as a payload and opened again (seal/open round trip on odd sizes). Every input
 * is also opened once more after re-signing it with the sender's key, as a trusted but
 * hostile sender would: that reaches the slot and payload code behind the signature.
 *
 * Invariants checked: the result is one of the documented codes; nothing is returned
 * on failure; a success gives a payload of the declared length from a listed sender.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/envelope.h"
#include "core/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_identity *sender, *me;
static struct cf_pubid senders[2], rcpt[3];
static const char kat_ad[] = "repo=7f3a epoch=3";

static struct cf_identity *role(unsigned r)
{
	struct cf_identity *id;
	uint8_t seed[32];

	for (unsigned j = 0; j < 32; j++)
		seed[j] = (uint8_t)(0x11 * r + 3 * j);
	if (cf_identity_from_seed(&id, seed) != 0)
		abort();
	return id;
}

static void setup(void)
{
	struct cf_identity *other;

	if (cf_core_init() != 0)
		abort();
	sender = role(0);
	me = role(1);
	other = role(6);
	cf_identity_public(other, &senders[0]);
	cf_identity_public(sender, &senders[1]);
	cf_identity_free(other);
	for (unsigned i = 0; i < 3; i++) {
		struct cf_identity *r = i == 0 ? NULL : role(2 + i);

		cf_identity_public(r ? r : me, &rcpt[i]);
		cf_identity_free(r);
	}
}

static int documented(int r)
{
	switch (r) {
	case 0:
	case CF_E_TRUNCATED:
	case CF_E_FORMAT:
	case CF_E_VERSION:
	case CF_E_LIMIT:
	case CF_E_UNTRUSTED:
	case CF_E_SIGNATURE:
	case CF_E_NOTRECIPIENT:
	case CF_E_AUTH:
		return 1;
	default:
		return 0;
	}
}

static int try_open(const uint8_t *data, size_t size, const char *ad)
{
	struct cf_secbuf *pb = NULL;
	size_t idx = (size_t)-1;
	int r;

	r = cf_envelope_open(&pb, &idx, me, senders, 2, ad, strlen(ad), data, size);
	if (!documented(r))
		abort();
	if (r) {
		if (pb || idx != (size_t)-1)
			abort();
		return r;
	}
	if (!pb || idx >= 2 ||
	    size != 178 + 56 * (size_t)(data[68] | data[69] << 8) + cf_secbuf_len(pb))
		abort();
	cf_secbuf_free(pb);
	return 0;
}

static void round_trip(const uint8_t *data, size_t size)
{
	struct cf_secbuf *pb = NULL;
	size_t n = 1 + data[0] % 3, adlen = size < 9 ? size - 1 : 8, envlen, idx = 9;
	uint8_t *env = NULL;

	if (cf_envelope_seal(&env, &envlen, sender, rcpt, n, data + 1, adlen, data, size) != 0)
		abort();
	if (cf_envelope_open(&pb, &idx, me, senders, 2, data + 1, adlen, env, envlen) != 0)
		abort();
	if (idx != 1 || cf_secbuf_len(pb) != size || memcmp(cf_secbuf_data(pb), data, size))
		abort();
	cf_secbuf_free(pb);
	free(env);
}

/*
 * Replace the last 64 bytes of a copy of @data with the sender's signature over
 * "coffer-envelope-v1-sig" NUL | BLAKE2b-512(ad) | the bytes before (docs/formats.md),
 * then open it: it must never fail with CF_E_SIGNATURE when the sender field is the
 * sender's key.
 */
static void resigned(const uint8_t *data, size_t size)
{
	static const char dom[] = "coffer-envelope-v1-sig";
	size_t pre = sizeof(dom) + 64;
	uint8_t *m = malloc(pre + size), *e;
	int r;

	if (!m)
		abort();
	e = m + pre;
	memcpy(m, dom, sizeof(dom));
	if (cf_hash_blake2b(m + sizeof(dom), 64, NULL, kat_ad, strlen(kat_ad)) != 0)
		abort();
	memcpy(e, data, size);
	cf_identity_sign_raw(sender, e + size - 64, m, pre + size - 64);
	r = try_open(e, size, kat_ad);
	if (r == CF_E_SIGNATURE && size >= 36 && !memcmp(e + 4, senders[1].sign_pk, 32))
		abort();
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (try_open(data, size, kat_ad) == CF_E_SIGNATURE)
		try_open(data, size, "");
	if (size >= 178 && size <= (1u << 20))
		resigned(data, size);
	if (size > 0 && size <= 4096 && (data[0] & 0x80))
		round_trip(data, size);
	return 0;
}
