/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the protection-mode slots (keyvault/slots.h), the contact messages and
 * code (keyvault/contacts.h) and the chain rule (cf_protect_follow):
 *  - the k-of-n contacts slot: any k contacts plus the server share give the seed; a
 *    contact alone, k-1 contacts plus the server share, the server share alone (with
 *    guessed secrets), or a wrong share give nothing; every flipped byte is refused;
 *  - epoch links and protection records: round trip, another key/epoch/repository or any
 *    flipped byte refused;
 *  - messages: only the addressed device opens a release, only listed senders are
 *    accepted; the code is 12 digits and compared ignoring spaces;
 *  - the chain rule: a later epoch is adopted only when sealed by a device of the
 *    previous epoch's roster; two keys for one epoch are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "keyvault/contacts.h"
#include "keyvault/protect.h"
#include "keyvault/slots.h"
#include "tests/lib/check.h"
#include "util/log.h"

static uint8_t repo[32], cfg[32];

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static struct cf_identity *ident(uint8_t base)
{
	struct cf_identity *id = NULL;
	uint8_t seed[32];

	fill(seed, 32, base);
	REQUIRE(cf_identity_from_seed(&id, seed) == 0);
	return id;
}

/* ---- contacts slot ------------------------------------------------------------------ */

static void test_contacts(void)
{
	uint8_t seed[32], share[32], wrong[32], secrets[CF_CONTACTS_MAX][32], guess[CF_CONTACTS_MAX][32];
	struct cf_secbuf *got = NULL;
	uint8_t *slot = NULL;
	size_t len = 0;
	unsigned k = 0, n = 0;
	uint32_t epoch = 0;

	fill(seed, 32, 0x11);
	fill(share, 32, 0x22);
	fill(wrong, 32, 0x23);
	for (int i = 0; i < CF_CONTACTS_MAX; i++) {
		fill(secrets[i], 32, (uint8_t)(0x30 + 16 * i));
		fill(guess[i], 32, (uint8_t)(0x31 + 16 * i));
	}
	REQUIRE(cf_slots_contacts_create(&slot, &len, repo, cfg, 3, 2, 3, seed, share,
					 (const uint8_t(*)[32])secrets) == 0);
	CHECK(cf_slots_contacts_info(slot, len, &k, &n, &epoch) == 0 && k == 2 && n == 3 &&
	      epoch == 3);
	/* any two contacts and the server share */
	for (unsigned have = 0; have < 8; have++) {
		unsigned bits = (have & 1) + (have >> 1 & 1) + (have >> 2 & 1);
		int r = cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
					       (const uint8_t(*)[32])secrets, have);
		if (bits >= 2) {
			CHECK_RC(r, 0);
			CHECK(got && memcmp(cf_secbuf_data(got), seed, 32) == 0);
		} else {
			/* one contact with the server share, or the server share alone */
			CHECK_RC(r, CF_E_NOTFOUND);
		}
		cf_secbuf_free(got);
		got = NULL;
	}
	/* k-1 contacts and the server share, the missing secret guessed */
	memcpy(guess[0], secrets[0], 32);
	CHECK_RC(cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
					(const uint8_t(*)[32])guess, 3), CF_E_AUTH);
	/* the server share alone with every secret guessed */
	CHECK_RC(cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
					(const uint8_t(*)[32])guess + 1, 3), CF_E_AUTH);
	/* contacts without the server share (a guessed one) */
	CHECK_RC(cf_slots_contacts_open(&got, repo, cfg, slot, len, wrong,
					(const uint8_t(*)[32])secrets, 7), CF_E_AUTH);
	/* another repository, another config */
	CHECK_RC(cf_slots_contacts_open(&got, cfg, cfg, slot, len, share,
					(const uint8_t(*)[32])secrets, 3), CF_E_AUTH);
	CHECK(got == NULL);
	/* every flipped byte of the body breaks the subset whose wrap it is in (or all) */
	for (size_t i = CF_KEYSLOT_HEADER_BYTES; i < len; i++) {
		static const unsigned masks[3] = {3, 5, 6};
		int failed = 0;
		slot[i] ^= 0x01;
		for (int j = 0; j < 3; j++) {
			if (cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
						   (const uint8_t(*)[32])secrets, masks[j]) != 0)
				failed++;
			else if (memcmp(cf_secbuf_data(got), seed, 32) != 0)
				failed = -100; /* a wrong seed must never come out */
			cf_secbuf_free(got);
			got = NULL;
		}
		CHECK(failed >= 1);
		slot[i] ^= 0x01;
	}
	for (size_t cut = 0; cut < len; cut += 7)
		CHECK(cf_slots_contacts_info(slot, cut, NULL, NULL, NULL) != 0);
	free(slot);
	/* 5 of 10: C(10,5) = 252 wraps, any 5 open it */
	REQUIRE(cf_slots_contacts_create(&slot, &len, repo, cfg, 1, 5, 10, seed, share,
					 (const uint8_t(*)[32])secrets) == 0);
	CHECK_RC(cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
					(const uint8_t(*)[32])secrets, 0x2a9), 0);
	CHECK(got && memcmp(cf_secbuf_data(got), seed, 32) == 0);
	cf_secbuf_free(got);
	CHECK_RC(cf_slots_contacts_open(&got, repo, cfg, slot, len, share,
					(const uint8_t(*)[32])secrets, 0x0f), CF_E_NOTFOUND);
	free(slot);
	CHECK_RC(cf_slots_contacts_create(&slot, &len, repo, cfg, 1, 4, 3, seed, share,
					  (const uint8_t(*)[32])secrets), CF_E_INVAL);
	CHECK_RC(cf_slots_contacts_create(&slot, &len, repo, cfg, 1, 2, 11, seed, share,
					  (const uint8_t(*)[32])secrets), CF_E_LIMIT);
}

/* ---- links and protection records --------------------------------------------------- */

static struct cf_keyring *ring_with(uint32_t e1, uint8_t b1, uint32_t e2, uint8_t b2)
{
	struct cf_keyring *ring = NULL;
	uint8_t mk[32];

	REQUIRE(cf_keyring_new(&ring) == 0);
	fill(mk, 32, b1);
	REQUIRE(cf_keyring_add(ring, e1, mk, 1) == 0);
	if (e2) {
		fill(mk, 32, b2);
		REQUIRE(cf_keyring_add(ring, e2, mk, 1) == 0);
	}
	return ring;
}

static void test_link(void)
{
	struct cf_keyring *ring = ring_with(1, 0x60, 2, 0x70), *other = ring_with(2, 0x71, 0, 0);
	struct cf_secbuf *got = NULL;
	uint8_t mk1[32], *slot = NULL;
	size_t len = 0;
	uint32_t prev = 0;

	fill(mk1, 32, 0x60);
	REQUIRE(cf_slots_link_create(&slot, &len, cf_keyring_get(ring, 2), repo, cfg, 1, mk1) == 0);
	CHECK_RC(cf_slots_link_open(&got, &prev, ring, repo, cfg, slot, len), 0);
	CHECK(got && prev == 1 && memcmp(cf_secbuf_data(got), mk1, 32) == 0);
	cf_secbuf_free(got);
	got = NULL;
	CHECK_RC(cf_slots_link_open(&got, &prev, other, repo, cfg, slot, len), CF_E_AUTH);
	CHECK_RC(cf_slots_link_open(&got, &prev, ring, cfg, cfg, slot, len), CF_E_AUTH);
	slot[CF_KEYSLOT_HEADER_BYTES] = 2; /* prev = the link's own epoch */
	CHECK_RC(cf_slots_link_open(&got, &prev, ring, repo, cfg, slot, len), CF_E_FORMAT);
	slot[CF_KEYSLOT_HEADER_BYTES] = 1;
	for (size_t i = CF_KEYSLOT_HEADER_BYTES + 4; i < len; i++) {
		slot[i] ^= 0x80;
		CHECK(cf_slots_link_open(&got, &prev, ring, repo, cfg, slot, len) != 0);
		slot[i] ^= 0x80;
	}
	CHECK(got == NULL);
	free(slot);
	slot = NULL;
	CHECK_RC(cf_slots_link_create(&slot, &len, cf_keyring_get(ring, 1), repo, cfg, 1, mk1),
		 CF_E_INVAL);
	CHECK(slot == NULL);
	cf_keyring_free(ring);
	cf_keyring_free(other);
}

static void test_protection(void)
{
	struct cf_keyring *ring = ring_with(4, 0x60, 0, 0), *other = ring_with(4, 0x61, 0, 0);
	struct cf_identity *r = ident(0x90), *c = ident(0xa0);
	struct cf_protection p = {0}, q;
	uint8_t *slot = NULL;
	size_t len = 0;

	p.seq = 7;
	p.mode = CF_MODE_ADVANCED;
	p.time = 1764300000;
	strcpy(p.reason, "mode-advanced");
	strcpy(p.server, "https://kv.example");
	strcpy(p.account, "alice");
	p.has_recovery_key = 1;
	cf_identity_public(r, &p.recovery_key);
	p.recovery_key_time = 1764300001;
	p.has_contacts = 1;
	cf_identity_public(c, &p.contacts);
	p.contacts_epoch = 3;
	p.k = 2;
	p.n = 3;
	strcpy(p.names[0], "bob");
	strcpy(p.names[1], "carol");
	strcpy(p.names[2], "dave");
	REQUIRE(cf_slots_protection_create(&slot, &len, cf_keyring_get(ring, 4), repo, cfg, &p) == 0);
	CHECK_RC(cf_slots_protection_open(&q, ring, repo, cfg, slot, len), 0);
	CHECK(q.epoch == 4 && q.seq == 7 && q.mode == CF_MODE_ADVANCED && !q.escrowed);
	CHECK(strcmp(q.account, "alice") == 0 && strcmp(q.server, "https://kv.example") == 0);
	CHECK(q.has_recovery_key && cf_pubid_equal(&q.recovery_key, &p.recovery_key));
	CHECK(q.has_contacts && q.k == 2 && q.n == 3 && strcmp(q.names[2], "dave") == 0 &&
	      q.contacts_epoch == 3 && cf_pubid_equal(&q.contacts, &p.contacts));
	CHECK_RC(cf_slots_protection_open(&q, other, repo, cfg, slot, len), CF_E_AUTH);
	CHECK_RC(cf_slots_protection_open(&q, ring, cfg, cfg, slot, len), CF_E_AUTH);
	for (size_t i = CF_KEYSLOT_HEADER_BYTES; i < len; i += 3) {
		slot[i] ^= 0x04;
		CHECK(cf_slots_protection_open(&q, ring, repo, cfg, slot, len) != 0);
		slot[i] ^= 0x04;
	}
	slot[5] = 5; /* another epoch in the header */
	CHECK_RC(cf_slots_protection_open(&q, ring, repo, cfg, slot, len), CF_E_NOTFOUND);
	free(slot);
	p.k = 4; /* more than n */
	CHECK_RC(cf_slots_protection_create(&slot, &len, cf_keyring_get(ring, 4), repo, cfg, &p),
		 CF_E_INVAL);
	cf_identity_free(r);
	cf_identity_free(c);
	cf_keyring_free(ring);
	cf_keyring_free(other);
}

/* ---- messages and code -------------------------------------------------------------- */

static void test_messages(void)
{
	struct cf_identity *owner = ident(0x10), *contact = ident(0x20), *newdev = ident(0x30),
			   *other = ident(0x40);
	struct cf_pubid po, pc, pn, px;
	struct cf_contact_msg m = {0}, out;
	char code[CF_CONTACT_CODE_LEN], code2[CF_CONTACT_CODE_LEN];
	uint8_t *env = NULL, secret[32];
	size_t len = 0;

	cf_identity_public(owner, &po);
	cf_identity_public(contact, &pc);
	cf_identity_public(newdev, &pn);
	cf_identity_public(other, &px);
	fill(secret, 32, 0x77);
	m.index = 1;
	m.k = 2;
	m.n = 3;
	m.epoch = 5;
	memcpy(m.repo_id, repo, 32);
	strcpy(m.name, "alice");
	REQUIRE(cf_secbuf_dup(&m.secret, secret, 32) == 0);
	REQUIRE(cf_contacts_share_seal(&env, &len, owner, &pc, 1, &m) == 0);
	CHECK_RC(cf_contacts_share_open(&out, contact, &po, 1, env, len), 0);
	CHECK(out.index == 1 && out.k == 2 && out.n == 3 && out.epoch == 5 &&
	      strcmp(out.name, "alice") == 0 && memcmp(cf_secbuf_data(out.secret), secret, 32) == 0);
	cf_contact_msg_clear(&out);
	CHECK_RC(cf_contacts_share_open(&out, contact, &px, 1, env, len), CF_E_UNTRUSTED);
	CHECK_RC(cf_contacts_share_open(&out, other, &po, 1, env, len), CF_E_NOTRECIPIENT);
	/* a share is not a release: other associated data */
	CHECK(cf_contacts_release_open(&out, contact, &po, 1, env, len) != 0);
	free(env);
	/* the release reaches the confirmed device only */
	REQUIRE(cf_contacts_release_seal(&env, &len, contact, &pn, &m) == 0);
	CHECK_RC(cf_contacts_release_open(&out, newdev, &pc, 1, env, len), 0);
	CHECK(out.index == 1 && memcmp(cf_secbuf_data(out.secret), secret, 32) == 0);
	cf_contact_msg_clear(&out);
	CHECK_RC(cf_contacts_release_open(&out, other, &pc, 1, env, len), CF_E_NOTRECIPIENT);
	free(env);
	m.device = 42;
	REQUIRE(cf_contacts_request_seal(&env, &len, newdev, &pc, 1, &m) == 0);
	CHECK_RC(cf_contacts_request_open(&out, contact, &pn, 1, env, len), 0);
	CHECK(out.device == 42 && out.secret == NULL && cf_pubid_equal(&out.sender, &pn));
	free(env);
	cf_contact_msg_clear(&m);
	/* the code: 12 digits, different for another device or repository */
	cf_contacts_code(&pn, repo, code);
	CHECK(strlen(code) == 14 && code[4] == ' ' && code[9] == ' ');
	CHECK(cf_contacts_code_equal(code, code));
	{
		char typed[32];
		snprintf(typed, sizeof(typed), "%.4s-%.4s%.4s", code, code + 5, code + 10);
		CHECK(cf_contacts_code_equal(typed, code));
		typed[0] = typed[0] == '9' ? '8' : '9';
		CHECK(!cf_contacts_code_equal(typed, code));
	}
	CHECK(!cf_contacts_code_equal("", code));
	cf_contacts_code(&px, repo, code2);
	CHECK(strcmp(code, code2) != 0);
	cf_contacts_code(&pn, cfg, code2);
	CHECK(strcmp(code, code2) != 0);
	cf_identity_free(owner);
	cf_identity_free(contact);
	cf_identity_free(newdev);
	cf_identity_free(other);
}

/* ---- the chain rule ---------------------------------------------------------------- */

static void add(struct cf_slotlist *sl, uint8_t *b, size_t len)
{
	sl->b = realloc(sl->b, (sl->n + 1) * sizeof(*sl->b));
	sl->len = realloc(sl->len, (sl->n + 1) * sizeof(*sl->len));
	sl->name = realloc(sl->name, (sl->n + 1) * sizeof(*sl->name));
	REQUIRE(sl->b && sl->len && sl->name);
	sl->b[sl->n] = b;
	sl->len[sl->n] = len;
	strcpy(sl->name[sl->n++], "keys/x");
}

static void test_follow(void)
{
	struct cf_identity *a = ident(0x50), *b = ident(0x51), *removed = ident(0x52);
	struct cf_pubid pa, pb, pr, roster1[3];
	struct cf_slotlist *sl = calloc(1, sizeof(*sl));
	struct cf_keyring *ring = ring_with(1, 0x60, 0, 0);
	uint8_t mk2[32], mk3[32], mkx[32], *s;
	size_t len;
	unsigned added = 0;

	REQUIRE(sl);
	cf_identity_public(a, &pa);
	cf_identity_public(b, &pb);
	cf_identity_public(removed, &pr);
	fill(mk2, 32, 0x70);
	fill(mk3, 32, 0x80);
	fill(mkx, 32, 0x90);
	roster1[0] = pa;
	roster1[1] = pb;
	roster1[2] = pr;
	/* epoch 1: a, b and the device removed at epoch 2; epoch 2: a and b */
	REQUIRE(cf_roster_create(&s, &len, cf_keyring_get(ring, 1), repo, cfg, 1, roster1, 3) == 0);
	add(sl, s, len);
	{
		struct cf_keyring *r2 = ring_with(2, 0x70, 0, 0);
		REQUIRE(cf_roster_create(&s, &len, cf_keyring_get(r2, 2), repo, cfg, 1, roster1, 2) ==
			0);
		add(sl, s, len);
		cf_keyring_free(r2);
	}
	/* b gives epoch 2 to a; the removed device plants an epoch 3 for a */
	REQUIRE(cf_keyslot_device_create(&s, &len, b, &pa, repo, cfg, 2, mk2) == 0);
	add(sl, s, len);
	REQUIRE(cf_keyslot_device_create(&s, &len, removed, &pa, repo, cfg, 3, mk3) == 0);
	add(sl, s, len);
	CHECK_RC(cf_protect_follow(ring, a, sl, repo, cfg, &added), 0);
	CHECK(added == 1 && cf_repokeys_epoch(cf_keyring_current(ring)) == 2);
	/* a second, different key for epoch 2 by a trusted device is a conflict */
	{
		struct cf_keyring *r1 = ring_with(1, 0x60, 0, 0);
		REQUIRE(cf_keyslot_device_create(&s, &len, a, &pa, repo, cfg, 2, mkx) == 0);
		add(sl, s, len);
		CHECK_RC(cf_protect_follow(r1, a, sl, repo, cfg, &added), CF_E_CORRUPT);
		CHECK(cf_repokeys_epoch(cf_keyring_current(r1)) == 1);
		cf_keyring_free(r1);
	}
	cf_slotlist_free(sl);
	cf_keyring_free(ring);
	cf_identity_free(a);
	cf_identity_free(b);
	cf_identity_free(removed);
}

static void put(const char *dir, const char *name, const uint8_t *b, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	REQUIRE(f && fwrite(b, 1, len, f) == len);
	fclose(f);
}

/* Seeds for tests/fuzz/fuzz-keyvault-slots.c (the same fixtures). */
static int write_corpus(const char *dir)
{
	struct cf_keyring *ring = ring_with(1, 0x60, 2, 0x70), *r4 = ring_with(4, 0x60, 0, 0);
	struct cf_identity *owner = ident(0x10), *contact = ident(0x20), *newdev = ident(0x30);
	struct cf_pubid pc, pn;
	struct cf_protection p = {0};
	struct cf_contact_msg m = {.index = 1, .k = 2, .n = 3, .epoch = 3, .device = 7};
	uint8_t seed[32], share[32], secrets[CF_CONTACTS_MAX][32], mk1[32], *b = NULL;
	size_t len = 0;

	fill(seed, 32, 0x11);
	fill(share, 32, 0x22);
	for (int i = 0; i < CF_CONTACTS_MAX; i++)
		fill(secrets[i], 32, (uint8_t)(0x30 + 16 * i));
	fill(mk1, 32, 0x60);
	REQUIRE(cf_slots_contacts_create(&b, &len, repo, cfg, 3, 2, 3, seed, share,
					 (const uint8_t(*)[32])secrets) == 0);
	put(dir, "contacts-2of3", b, len);
	free(b);
	REQUIRE(cf_slots_link_create(&b, &len, cf_keyring_get(ring, 2), repo, cfg, 1, mk1) == 0);
	put(dir, "link-2-1", b, len);
	free(b);
	p.seq = 1;
	p.mode = CF_MODE_STANDARD;
	p.escrowed = 1;
	strcpy(p.reason, "init");
	strcpy(p.server, "http://127.0.0.1:1");
	strcpy(p.account, "alice");
	p.has_contacts = 1;
	cf_identity_public(contact, &p.contacts);
	p.k = 1;
	p.n = 1;
	strcpy(p.names[0], "bob");
	REQUIRE(cf_slots_protection_create(&b, &len, cf_keyring_get(r4, 4), repo, cfg, &p) == 0);
	put(dir, "protection", b, len);
	free(b);
	cf_identity_public(contact, &pc);
	cf_identity_public(newdev, &pn);
	memcpy(m.repo_id, repo, 32);
	strcpy(m.name, "alice");
	REQUIRE(cf_secbuf_dup(&m.secret, seed, 32) == 0);
	REQUIRE(cf_contacts_share_seal(&b, &len, owner, &pc, 1, &m) == 0);
	put(dir, "share", b, len);
	free(b);
	REQUIRE(cf_contacts_request_seal(&b, &len, newdev, &pc, 1, &m) == 0);
	put(dir, "request", b, len);
	free(b);
	REQUIRE(cf_contacts_release_seal(&b, &len, contact, &pn, &m) == 0);
	put(dir, "release", b, len);
	free(b);
	cf_contact_msg_clear(&m);
	cf_identity_free(owner);
	cf_identity_free(contact);
	cf_identity_free(newdev);
	cf_keyring_free(ring);
	cf_keyring_free(r4);
	return 0;
}

int main(int argc, char **argv)
{
	REQUIRE(cf_core_init() == 0);
	cf_log_set_level(CF_LOG_ERR);
	fill(repo, 32, 0x80);
	fill(cfg, 32, 0xc0);
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	test_contacts();
	test_link();
	test_protection();
	test_messages();
	test_follow();
	return check_finish();
}
