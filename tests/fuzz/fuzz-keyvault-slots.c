/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the protection-mode parsers on untrusted bytes: contacts slots,
 * protection records and epoch links (keyvault/slots.c) and the contact messages
 * (keyvault/contacts.c), with the fixtures of keyvault/test-slots.c (repo_id 0x80..,
 * cfg_hash 0xc0.., epoch keys 0x60.. for epochs 1 and 4 and 0x70.. for epoch 2, seed
 * 0x11.., server share 0x22.., contact secrets 0x30 + 16 i.., identities from seeds
 * 0x10.. owner, 0x20.. contact, 0x30.. new device), so `test-slots --write-corpus DIR`
 * seeds open.
 *
 * The two sources are compiled into this harness (they are not part of the instrumented
 * fuzz libraries), so libFuzzer sees their branches.
 *
 * Invariants: only documented codes; nothing returned on failure; what opens is the
 * fixture's (the seed, the epoch key a link names), and a decoded protection record
 * encodes and decodes to the same record.
 */
#include "keyvault/contacts.c"
#include "keyvault/slots.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t repo[32], cfg[32], seed[32], share[32], secrets[CF_CONTACTS_MAX][32], mk[3][32];
static struct cf_keyring *ring;
static struct cf_identity *owner, *contact, *newdev;
static struct cf_pubid powner, pcontact, pnew;

static void fill(uint8_t *p, size_t n, uint8_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(base + i);
}

static struct cf_identity *ident(uint8_t base, struct cf_pubid *pub)
{
	struct cf_identity *id = NULL;
	uint8_t s[32];

	fill(s, 32, base);
	if (cf_identity_from_seed(&id, s) != 0)
		abort();
	cf_identity_public(id, pub);
	return id;
}

static void setup(void)
{
	if (cf_core_init() != 0 || cf_keyring_new(&ring) != 0)
		abort();
	cf_log_set_level(CF_LOG_ERR);
	fill(repo, 32, 0x80);
	fill(cfg, 32, 0xc0);
	fill(seed, 32, 0x11);
	fill(share, 32, 0x22);
	for (int i = 0; i < CF_CONTACTS_MAX; i++)
		fill(secrets[i], 32, (uint8_t)(0x30 + 16 * i));
	fill(mk[0], 32, 0x60);
	fill(mk[1], 32, 0x70);
	if (cf_keyring_add(ring, 1, mk[0], 1) || cf_keyring_add(ring, 2, mk[1], 1) ||
	    cf_keyring_add(ring, 4, mk[0], 1))
		abort();
	owner = ident(0x10, &powner);
	contact = ident(0x20, &pcontact);
	newdev = ident(0x30, &pnew);
}

static void check_protection(const uint8_t *data, size_t size)
{
	struct cf_protection p, q;
	uint8_t *again = NULL;
	size_t len = 0;
	int r = cf_slots_protection_open(&p, ring, repo, cfg, data, size);

	if (r != 0 && r != CF_E_FORMAT && r != CF_E_NOTFOUND && r != CF_E_TRUNCATED &&
	    r != CF_E_AUTH && r != CF_E_CORRUPT && r != CF_E_LIMIT && r != CF_E_VERSION &&
	    r != -ENOMEM)
		abort();
	if (r)
		return;
	if (cf_slots_protection_create(&again, &len, cf_keyring_get(ring, p.epoch), repo, cfg,
				       &p) != 0 ||
	    cf_slots_protection_open(&q, ring, repo, cfg, again, len) != 0 || q.seq != p.seq ||
	    q.mode != p.mode || q.k != p.k || q.n != p.n || strcmp(q.account, p.account) ||
	    strcmp(q.reason, p.reason))
		abort();
	free(again);
}

static void check_slots(const uint8_t *data, size_t size)
{
	struct cf_secbuf *out = NULL;
	unsigned k, n;
	uint32_t e, prev = 0;
	int r;

	cf_slots_contacts_info(data, size, &k, &n, &e);
	for (unsigned have = 0; have < 8; have++) {
		r = cf_slots_contacts_open(&out, repo, cfg, data, size, share,
					   (const uint8_t(*)[32])secrets, have);
		if (r == 0 && memcmp(cf_secbuf_data(out), seed, 32) != 0)
			abort();
		if (r != 0 && out)
			abort();
		cf_secbuf_free(out);
		out = NULL;
	}
	r = cf_slots_link_open(&out, &prev, ring, repo, cfg, data, size);
	if (r == 0 && (!cf_keyring_get(ring, prev) ||
		       memcmp(cf_secbuf_data(out), cf_repokeys_master(cf_keyring_get(ring, prev)),
			      32) != 0))
		abort();
	cf_secbuf_free(out);
	check_protection(data, size);
}

static void check_messages(const uint8_t *data, size_t size)
{
	struct cf_contact_msg m;

	if (cf_contacts_share_open(&m, contact, &powner, 1, data, size) == 0) {
		if (!m.secret || m.index >= m.n || m.k > m.n || !m.name[0])
			abort();
		cf_contact_msg_clear(&m);
	}
	if (cf_contacts_request_open(&m, contact, &pnew, 1, data, size) == 0) {
		if (m.secret || !m.name[0])
			abort();
	}
	if (cf_contacts_release_open(&m, newdev, &pcontact, 1, data, size) == 0) {
		if (!m.secret || m.index >= CF_CONTACTS_MAX)
			abort();
		cf_contact_msg_clear(&m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	check_slots(data, size);
	check_messages(data, size);
	return 0;
}
