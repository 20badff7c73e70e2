/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for manifests and forget records (repo/manifest.h) on untrusted
 * bytes, with the fixed identity and keys of repo/test-manifest.c (signer seed 0x40..,
 * epoch 1 master key 0x60.., repo_id 0x80..), so its --write-corpus seeds verify and
 * mutations start from valid objects.
 *
 * Each input is fed, as is, to both decoders (named by its own hash, so the name check
 * passes and the parsers behind it are reached) and to both peeks; and, as a decrypted
 * body, to both JSON validators directly (the signature stops mutations from reaching
 * them otherwise).
 *
 * Invariants: only documented codes; nothing returned on failure; an accepted object
 * re-encodes and decodes to the same canonical body; an accepted JSON body serialises
 * canonically and that serialisation is a fixed point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "repo/manifest.h"
#include "repo/manifest_impl.h"
#include "repo/object.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_identity *signer;
static struct cf_pubid trusted;
static struct cf_keyring *ring;
static uint8_t repo[32];

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static void setup(void)
{
	uint8_t seed[32], mk[32];

	if (cf_core_init() != 0)
		abort();
	cf_log_set_level(CF_LOG_ERR);
	fill(seed, 32, 0x40);
	fill(mk, 32, 0x60);
	fill(repo, 32, 0x80);
	if (cf_identity_from_seed(&signer, seed) != 0 || cf_keyring_new(&ring) != 0 ||
	    cf_keyring_add(ring, 1, mk, 1) != 0)
		abort();
	cf_identity_public(signer, &trusted);
}

static int documented(int r)
{
	switch (r) {
	case 0:
	case CF_E_CORRUPT:
	case CF_E_TRUNCATED:
	case CF_E_FORMAT:
	case CF_E_VERSION:
	case CF_E_LIMIT:
	case CF_E_UNTRUSTED:
	case CF_E_SIGNATURE:
	case CF_E_NOTFOUND:
	case CF_E_AUTH:
		return 1;
	default:
		return 0;
	}
}

static int peek_documented(int r)
{
	return documented(r) && r != CF_E_UNTRUSTED && r != CF_E_NOTFOUND && r != CF_E_AUTH;
}

/* Two canonical bodies must be equal byte for byte. */
static void same_json(char *a, size_t alen, char *b, size_t blen)
{
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort();
	free(a);
	free(b);
}

static void manifest_round_trip(const struct cf_manifest *m)
{
	struct cf_manifest *again = NULL;
	uint8_t *b = NULL, id[32];
	char *j1 = NULL, *j2 = NULL;
	size_t len, l1, l2;

	if (cf_manifest_encode(&b, &len, m, signer, cf_keyring_current(ring), repo) != 0)
		abort();
	cf_object_id(b, len, id);
	if (cf_manifest_decode(&again, b, len, id, ring, repo, &trusted, 1) != 0)
		abort();
	if (cf_manifest_to_json(&j1, &l1, m) != 0 || cf_manifest_to_json(&j2, &l2, again) != 0)
		abort();
	same_json(j1, l1, j2, l2);
	cf_manifest_free(again);
	free(b);
}

static void decode_both(const uint8_t *data, size_t size)
{
	struct cf_manifest *m = NULL;
	struct cf_forget *f = NULL;
	uint8_t id[32];
	int r;

	cf_object_id(data, size, id);
	r = cf_manifest_decode(&m, data, size, id, ring, repo, &trusted, 1);
	if (!documented(r) || (r != 0) != (m == NULL))
		abort();
	if (m) {
		if (m->seq < 1 || m->epoch != 1 || m->ntrees > CF_MANIFEST_MAX_TREES)
			abort();
		manifest_round_trip(m);
		cf_manifest_free(m);
	}
	r = cf_forget_decode(&f, data, size, id, ring, repo, &trusted, 1);
	if (!documented(r) || (r != 0) != (f == NULL))
		abort();
	cf_forget_free(f);
	if (!peek_documented(cf_manifest_peek(data, size, NULL, NULL)) ||
	    !peek_documented(cf_forget_peek(data, size, NULL, NULL)))
		abort();
}

static void json_both(const uint8_t *data, size_t size)
{
	struct cf_manifest *m = NULL, *m2 = NULL;
	struct cf_forget *f = NULL, *f2 = NULL;
	char *j1 = NULL, *j2 = NULL;
	size_t l1, l2;
	int r;

	r = cf_manifest_from_json(&m, (const char *)data, size);
	if ((r && r != CF_E_CORRUPT && r != CF_E_VERSION) || (r != 0) != (m == NULL))
		abort();
	if (m) {
		if (cf_manifest_to_json(&j1, &l1, m) != 0 ||
		    cf_manifest_from_json(&m2, j1, l1) != 0 || cf_manifest_to_json(&j2, &l2, m2))
			abort();
		same_json(j1, l1, j2, l2);
		cf_manifest_free(m2);
		cf_manifest_free(m);
	}
	r = cf_forget_from_json(&f, (const char *)data, size);
	if ((r && r != CF_E_CORRUPT && r != CF_E_VERSION) || (r != 0) != (f == NULL))
		abort();
	if (f) {
		if (cf_forget_to_json(&j1, &l1, f) != 0 || cf_forget_from_json(&f2, j1, l1) != 0 ||
		    cf_forget_to_json(&j2, &l2, f2))
			abort();
		same_json(j1, l1, j2, l2);
		cf_forget_free(f2);
		cf_forget_free(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t empty[1];
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (!size)
		data = empty;
	decode_both(data, size);
	json_both(data, size);
	return 0;
}
