/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for key slots and rosters (repo/keyslot.h) on untrusted bytes, with
 * the fixed identities and keys of repo/test-keyslot.c (sender seed 0x40.., recipient
 * 0x50.., master keys 0x60.. / 0xa0.. for epochs 1 / 2, repo_id 0x80.., the same
 * config text, recovery key 0x30..), so its --write-corpus seeds open.
 *
 * Each input goes to the header parser, the device-slot opener, the roster opener and
 * selector, and to the recovery-key opener when its Argon2 set is the test set or an
 * unknown one (the production sets cost 64-256 MiB per call: no fuzzing speed).
 *
 * Invariants: only documented codes; nothing returned on failure; an opened device or
 * recovery slot gives the fixture's 32-byte master key of its epoch; an opened roster
 * re-creates and re-opens to the same list.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "repo/keyslot.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_identity *rcp;
static struct cf_pubid senders[1];
static struct cf_keyring *ring;
static uint8_t repo[32], cfg[32], mk[2][32], rk[18];
static const char config_text[] =
	"{\"coffer\": \"repository\", \"format\": 1, \"repo_id\": "
	"\"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\", "
	"\"created\": 1764300000}";

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static void setup(void)
{
	struct cf_identity *snd = NULL;
	uint8_t seed[32];

	if (cf_core_init() != 0)
		abort();
	cf_log_set_level(CF_LOG_ERR);
	cf_kdf_argon2_allow_test();
	fill(seed, 32, 0x40);
	if (cf_identity_from_seed(&snd, seed) != 0)
		abort();
	cf_identity_public(snd, &senders[0]);
	cf_identity_free(snd);
	fill(seed, 32, 0x50);
	if (cf_identity_from_seed(&rcp, seed) != 0)
		abort();
	fill(repo, 32, 0x80);
	cf_keyslot_cfg_hash((const uint8_t *)config_text, strlen(config_text), cfg);
	fill(mk[0], 32, 0x60);
	fill(mk[1], 32, 0xa0);
	fill(rk, 18, 0x30);
	rk[17] &= 0xf0;
	if (cf_keyring_new(&ring) != 0 || cf_keyring_add(ring, 1, mk[0], 0) != 0 ||
	    cf_keyring_add(ring, 2, mk[1], 1) != 0)
		abort();
}

static int header_code(int r)
{
	return r == CF_E_TRUNCATED || r == CF_E_FORMAT || r == CF_E_VERSION || r == CF_E_LIMIT;
}

/* The opened key must be the fixture's key of the slot's epoch. */
static void check_key(struct cf_secbuf *key, uint32_t epoch)
{
	if (!key || cf_secbuf_len(key) != 32 || epoch < 1 || epoch > 2 ||
	    memcmp(cf_secbuf_data(key), mk[epoch - 1], 32) != 0)
		abort();
	cf_secbuf_free(key);
}

static void device(const uint8_t *data, size_t size)
{
	struct cf_secbuf *key = NULL;
	uint32_t epoch = 0;
	int r;

	r = cf_keyslot_device_open(&key, &epoch, rcp, senders, 1, repo, cfg, data, size);
	switch (r) {
	case 0:
		check_key(key, epoch);
		return;
	case CF_E_UNTRUSTED:
	case CF_E_SIGNATURE:
	case CF_E_NOTRECIPIENT:
	case CF_E_AUTH:
	case CF_E_CORRUPT:
		break;
	default:
		if (!header_code(r))
			abort();
	}
	if (key)
		abort();
}

static void recovery(const uint8_t *data, size_t size, const struct cf_keyslot *s)
{
	struct cf_secbuf *key = NULL;
	uint32_t epoch = 0;
	int r;

	if (s->kind == CF_SLOT_RECOVERY_KEY && s->body_len == 89 &&
	    (s->body[16] == CF_ARGON2_INTERACTIVE || s->body[16] == CF_ARGON2_MODERATE))
		return;
	r = cf_keyslot_recovery_open(&key, &epoch, rk, repo, cfg, data, size);
	if (r == 0) {
		check_key(key, epoch);
		return;
	}
	if (key || !(header_code(r) || r == CF_E_AUTH))
		abort();
}

static void roster(const uint8_t *data, size_t size)
{
	struct cf_roster *r = NULL, *again = NULL;
	uint8_t *b = NULL;
	size_t len;
	int rc;

	rc = cf_roster_open(&r, ring, repo, cfg, data, size);
	if (rc) {
		if (r || !(header_code(rc) || rc == CF_E_NOTFOUND || rc == CF_E_AUTH ||
			   rc == CF_E_CORRUPT))
			abort();
	} else {
		if (!r || r->n < 1 || r->n > CF_ROSTER_MAX)
			abort();
		if (cf_roster_create(&b, &len, cf_keyring_get(ring, r->epoch), repo, cfg, r->seq,
				     r->ids, r->n) != 0 ||
		    cf_roster_open(&again, ring, repo, cfg, b, len) != 0 || again->n != r->n ||
		    again->seq != r->seq || memcmp(again->ids, r->ids, r->n * sizeof(*r->ids)))
			abort();
		free(b);
		cf_roster_free(again);
		cf_roster_free(r);
	}
	r = NULL;
	for (uint32_t e = 1; e <= 2; e++) {
		rc = cf_roster_select(&r, e, ring, repo, cfg, &data, &size, 1);
		if ((rc != 0 && rc != CF_E_NOTFOUND) || (rc != 0) != (r == NULL))
			abort();
		cf_roster_free(r);
		r = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t empty[1];
	static int ready;
	struct cf_keyslot s;
	int r;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (!size)
		data = empty;
	r = cf_keyslot_parse(&s, data, size);
	if (r && !header_code(r))
		abort();
	if (r == 0 && (s.body != data + CF_KEYSLOT_HEADER_BYTES ||
		       s.body_len != size - CF_KEYSLOT_HEADER_BYTES || s.kind == 0 || s.epoch == 0))
		abort();
	device(data, size);
	if (r == 0)
		recovery(data, size, &s);
	roster(data, size);
	return 0;
}
