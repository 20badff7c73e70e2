/* SPDX-License-Identifier: ISC */
/*
 * The snapshot chain: linear chains in any order, forgotten snapshots (middle, newest,
 * first, still present), gaps with the sequence named, forks (and a fork resolved by a
 * forget record), broken links, inconsistent records, epochs going backwards, rollback
 * against the device's seen (seq, id), cf_chain_next, a large chain, an end-to-end run
 * over really encoded and decoded manifests, and runs of unreadable epochs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "repo/chain.h"
#include "repo/manifest.h"
#include "repo/object.h"
#include "tests/lib/check.h"
#include "util/log.h"

#define MAXN 64

/* A repository under construction: manifests m[1..n] linked by prev; ids fake. */
struct repo {
	struct cf_manifest m[MAXN + 1];
	struct cf_forget f[MAXN];
	const struct cf_manifest *mp[2 * MAXN];
	const struct cf_forget *fp[MAXN];
	size_t nm, nf;
	int gone[MAXN + 1]; /* manifest i deleted from the repository */
};

static void fake_id(uint8_t id[32], uint64_t seq, uint8_t branch)
{
	memset(id, 0, 32);
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(seq >> (8 * i));
	id[8] = branch;
	id[31] = 0xcf;
}

/* Manifests 1..n, linear, epoch 1. */
static void linear(struct repo *r, uint64_t n)
{
	memset(r, 0, sizeof(*r));
	for (uint64_t s = 1; s <= n; s++) {
		struct cf_manifest *m = &r->m[s];

		m->seq = s;
		fake_id(m->id, s, 0);
		m->has_prev = s > 1;
		if (s > 1)
			memcpy(m->prev, r->m[s - 1].id, 32);
		m->epoch = 1;
	}
	r->nm = n;
}

/* A forget record for manifest @s as it is. */
static void forget(struct repo *r, uint64_t s)
{
	struct cf_forget *f = &r->f[r->nf];

	memset(f, 0, sizeof(*f));
	f->seq = s;
	memcpy(f->manifest, r->m[s].id, 32);
	f->has_prev = r->m[s].has_prev;
	memcpy(f->prev, r->m[s].prev, 32);
	r->fp[r->nf++] = f;
}

/* Verify; manifests listed in a scrambled order (the input order must not matter). */
static int verify(struct repo *r, const struct cf_chain_seen *seen, uint64_t *bad,
		  struct cf_chain **out)
{
	struct cf_chain *c = NULL;
	size_t k = 0;
	int rc;

	for (size_t i = r->nm; i >= 1; i--)
		if (!r->gone[i] && i % 2)
			r->mp[k++] = &r->m[i];
	for (size_t i = 1; i <= r->nm; i++)
		if (!r->gone[i] && !(i % 2))
			r->mp[k++] = &r->m[i];
	*bad = 12345;
	rc = cf_chain_verify(&c, bad, r->mp, k, r->fp, r->nf, seen);
	CHECK((rc == 0) == (c != NULL));
	if (out)
		*out = c;
	else
		cf_chain_free(c);
	return rc;
}

static struct cf_chain_seen seen_of(const struct repo *r, uint64_t s)
{
	struct cf_chain_seen v;

	v.seq = s;
	memcpy(v.id, r->m[s].id, 32);
	return v;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_empty(void)
{
	struct cf_chain *c = NULL;
	struct cf_chain_seen seen = {1, {0}};
	uint8_t prev[32];
	uint64_t seq, bad;
	int has_prev = 9;

	CHECK_RC(cf_chain_verify(&c, &bad, NULL, 0, NULL, 0, NULL), 0);
	REQUIRE(c);
	CHECK(c->n == 0 && !c->has_newest && bad == 0);
	CHECK_RC(cf_chain_next(c, NULL, &seq, &has_prev, prev), 0);
	CHECK(seq == 1 && has_prev == 0);
	CHECK_RC(cf_chain_next(c, &seen, &seq, &has_prev, prev), CF_E_ROLLBACK);
	cf_chain_free(c);
	c = NULL;
	/* Everything deleted, on a device that saw snapshot 1. */
	CHECK_RC(cf_chain_verify(&c, &bad, NULL, 0, NULL, 0, &seen), CF_E_ROLLBACK);
	CHECK(bad == 1 && c == NULL);
	seen.seq = 0;
	CHECK_RC(cf_chain_verify(&c, &bad, NULL, 0, NULL, 0, &seen), CF_E_INVAL);
}

static void test_linear(void)
{
	static struct repo r;
	struct cf_chain *c = NULL;
	struct cf_chain_seen seen;
	uint8_t prev[32];
	uint64_t bad, seq;
	int has_prev;

	linear(&r, 5);
	CHECK_RC(verify(&r, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->n == 5 && c->has_newest && c->newest_seq == 5 && bad == 0);
	CHECK(memcmp(c->newest_id, r.m[5].id, 32) == 0);
	for (size_t i = 0; i < c->n; i++) {
		CHECK(c->entries[i].seq == i + 1 && c->entries[i].flags == CF_CHAIN_PRESENT);
		CHECK(c->entries[i].manifest == &r.m[i + 1] && !c->entries[i].forget);
	}
	CHECK_RC(cf_chain_next(c, NULL, &seq, &has_prev, prev), 0);
	CHECK(seq == 6 && has_prev && memcmp(prev, r.m[5].id, 32) == 0);
	seen = seen_of(&r, 5);
	CHECK_RC(cf_chain_next(c, &seen, &seq, &has_prev, prev), 0);
	CHECK(seq == 6);
	seen.seq = 6;
	CHECK_RC(cf_chain_next(c, &seen, &seq, &has_prev, prev), CF_E_ROLLBACK);
	cf_chain_free(c);

	/* Seen an older one, or the newest: fine. */
	seen = seen_of(&r, 3);
	CHECK_RC(verify(&r, &seen, &bad, NULL), 0);
	seen = seen_of(&r, 5);
	CHECK_RC(verify(&r, &seen, &bad, NULL), 0);

	/* The same manifest listed twice is harmless. */
	{
		const struct cf_manifest *twice[3] = {&r.m[1], &r.m[1], &r.m[2]};

		c = NULL;
		CHECK_RC(cf_chain_verify(&c, &bad, twice, 3, NULL, 0, NULL), 0);
		CHECK(c && c->n == 2);
		cf_chain_free(c);
	}
}

static void test_forgotten(void)
{
	static struct repo r;
	struct cf_chain *c = NULL;
	struct cf_chain_seen seen;
	uint8_t prev[32];
	uint64_t bad, seq;
	int has_prev;

	/* The middle one, deleted with its record. */
	linear(&r, 5);
	forget(&r, 3);
	r.gone[3] = 1;
	CHECK_RC(verify(&r, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->n == 5 && c->entries[2].flags == CF_CHAIN_FORGOTTEN);
	CHECK(c->entries[2].forget == &r.f[0] && !c->entries[2].manifest);
	CHECK(memcmp(c->entries[2].id, r.m[3].id, 32) == 0);
	cf_chain_free(c);
	/* The device saw it before it was forgotten: explained by the record. */
	seen = seen_of(&r, 3);
	CHECK_RC(verify(&r, &seen, &bad, NULL), 0);

	/* Without its record: a gap, named. */
	r.nf = 0;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	/* Two consecutive ones missing: the highest is named. */
	r.gone[2] = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	forget(&r, 3);
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 2);
	forget(&r, 2);
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);

	/* Forgotten but not deleted yet (prune pending). */
	linear(&r, 4);
	forget(&r, 2);
	CHECK_RC(verify(&r, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->entries[1].flags == (CF_CHAIN_PRESENT | CF_CHAIN_FORGOTTEN));
	cf_chain_free(c);

	/* The first one. */
	linear(&r, 4);
	r.gone[1] = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 1);
	forget(&r, 1);
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);

	/* The newest: still counts for the next sequence and for the seen check. */
	linear(&r, 4);
	forget(&r, 4);
	r.gone[4] = 1;
	seen = seen_of(&r, 4);
	c = NULL;
	CHECK_RC(verify(&r, &seen, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->newest_seq == 4 && memcmp(c->newest_id, r.m[4].id, 32) == 0);
	CHECK_RC(cf_chain_next(c, &seen, &seq, &has_prev, prev), 0);
	CHECK(seq == 5 && has_prev && memcmp(prev, r.m[4].id, 32) == 0);
	cf_chain_free(c);
}

static void test_rollback(void)
{
	static struct repo r;
	struct cf_chain_seen seen;
	uint64_t bad;

	/* An older list served again: the newest two removed. */
	linear(&r, 6);
	seen = seen_of(&r, 6);
	r.gone[5] = r.gone[6] = 1;
	CHECK_RC(verify(&r, &seen, &bad, NULL), CF_E_ROLLBACK);
	CHECK(bad == 6);
	/* Without the seen record, the shorter chain is consistent. */
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);

	/* The seen manifest replaced by another with its seq. */
	linear(&r, 6);
	seen = seen_of(&r, 4);
	seen.id[20] ^= 1;
	CHECK_RC(verify(&r, &seen, &bad, NULL), CF_E_ROLLBACK);
	CHECK(bad == 4);
	seen = seen_of(&r, 6);
	seen.id[0] ^= 1;
	CHECK_RC(verify(&r, &seen, &bad, NULL), CF_E_ROLLBACK);
	CHECK(bad == 6);
}

static void test_forks_and_links(void)
{
	static struct repo r;
	struct cf_chain_seen seen;
	struct cf_manifest *x;
	uint64_t bad;

	/* Seq 3 twice (both after 2), 4 follows one of them. */
	linear(&r, 5);
	x = &r.m[6];
	*x = r.m[3];
	fake_id(x->id, 3, 1);
	r.nm = 6; /* m[6] is the second seq-3 manifest */
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	/* Resolved: the branch nobody follows is forgotten by a record. */
	r.f[0] = (struct cf_forget){.seq = 3, .has_prev = 1};
	memcpy(r.f[0].manifest, x->id, 32);
	memcpy(r.f[0].prev, x->prev, 32);
	r.fp[0] = &r.f[0];
	r.nf = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);
	/* A device that had seen the forgotten branch accepts it. */
	seen.seq = 3;
	memcpy(seen.id, x->id, 32);
	CHECK_RC(verify(&r, &seen, &bad, NULL), 0);
	/* Forgetting the followed one instead leaves a live manifest off the chain. */
	memcpy(r.f[0].manifest, r.m[3].id, 32);
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);

	/* A fork at the head. */
	linear(&r, 4);
	r.m[5] = r.m[4];
	fake_id(r.m[5].id, 4, 1);
	r.nm = 5;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 4);

	/* A prev naming nothing that exists. */
	linear(&r, 5);
	r.m[4].prev[5] ^= 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);

	/* No prev above seq 1; a prev at seq 1. */
	linear(&r, 5);
	r.m[3].has_prev = 0;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	linear(&r, 3);
	r.m[1].has_prev = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 1);
}

static void test_inconsistent_records(void)
{
	static struct repo r;
	uint64_t bad;

	/* A record naming a present manifest under another seq. */
	linear(&r, 5);
	forget(&r, 3);
	r.f[0].seq = 4;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 4);
	/* ... or with another prev. */
	linear(&r, 5);
	forget(&r, 3);
	r.f[0].prev[0] ^= 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	/* Two records for a deleted manifest that disagree about its prev. */
	linear(&r, 5);
	forget(&r, 3);
	forget(&r, 3);
	r.f[1].prev[0] ^= 1;
	r.gone[3] = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
	/* Two agreeing records are fine. */
	r.f[1].prev[0] ^= 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);
	/* A record that forgets something that never was in the chain, as the head. */
	linear(&r, 3);
	forget(&r, 3);
	r.f[0].seq = 4;
	fake_id(r.f[0].manifest, 4, 7);
	memcpy(r.f[0].prev, r.m[3].id, 32);
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0); /* a forgotten 4th, properly linked */
	r.f[0].prev[0] ^= 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 3);
}

static void test_epochs(void)
{
	static struct repo r;
	uint64_t bad;

	linear(&r, 6);
	r.m[4].epoch = r.m[5].epoch = r.m[6].epoch = 2;
	CHECK_RC(verify(&r, NULL, &bad, NULL), 0);
	/* A device removed at epoch 2 still holds epoch 1's key: it cannot continue the chain. */
	r.m[6].epoch = 1;
	CHECK_RC(verify(&r, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 6);
}

static void test_large(void)
{
	static struct cf_manifest m[20001];
	const struct cf_manifest **p = malloc(20000 * sizeof(*p));
	struct cf_chain *c = NULL;
	uint64_t bad;

	REQUIRE(p);
	for (uint64_t s = 1; s <= 20000; s++) {
		m[s].seq = s;
		fake_id(m[s].id, s, 0);
		m[s].has_prev = s > 1;
		memcpy(m[s].prev, m[s - 1].id, 32);
		m[s].epoch = (uint32_t)(s / 5000 + 1);
	}
	for (size_t i = 0; i < 20000; i++) /* a fixed permutation (7919 is prime) */
		p[i] = &m[1 + (i * 7919) % 20000];
	CHECK_RC(cf_chain_verify(&c, &bad, p, 20000, NULL, 0, NULL), 0);
	CHECK(c && c->n == 20000 && c->newest_seq == 20000);
	cf_chain_free(c);
	free(p);
}

/* ---- end to end over encoded manifests ----------------------------------------------------- */

static void test_real_manifests(void)
{
	struct cf_identity *dev = NULL;
	struct cf_keyring *ring = NULL;
	struct cf_manifest *dec[4] = {0};
	struct cf_chain *c = NULL;
	struct cf_pubid pub;
	struct cf_chain_seen seen;
	uint8_t seed[32], mk[32], repo[32], id[32];
	uint64_t bad;

	memset(seed, 0x41, 32);
	memset(mk, 0x42, 32);
	memset(repo, 0x43, 32);
	REQUIRE(cf_identity_from_seed(&dev, seed) == 0);
	cf_identity_public(dev, &pub);
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_add(ring, 1, mk, 1) == 0);
	for (int i = 0; i < 4; i++) {
		struct cf_manifest m = {0};
		uint8_t *b = NULL;
		size_t len;

		/* Each backup asks the chain for its seq and prev. */
		CHECK_RC(cf_chain_verify(&c, &bad, (const struct cf_manifest *const *)dec,
					 (size_t)i, NULL, 0, NULL),
			 0);
		REQUIRE(c);
		CHECK_RC(cf_chain_next(c, NULL, &m.seq, &m.has_prev, m.prev), 0);
		cf_chain_free(c);
		c = NULL;
		m.host = "h";
		m.store = "/s";
		m.time = 1764300000 + (uint64_t)i;
		REQUIRE(cf_manifest_encode(&b, &len, &m, dev, cf_keyring_current(ring), repo) == 0);
		cf_object_id(b, len, id);
		REQUIRE(cf_manifest_decode(&dec[i], b, len, id, ring, repo, &pub, 1) == 0);
		free(b);
	}
	seen.seq = 4;
	memcpy(seen.id, dec[3]->id, 32);
	CHECK_RC(cf_chain_verify(&c, &bad, (const struct cf_manifest *const *)dec, 4, NULL, 0,
				 &seen),
		 0);
	CHECK(c && c->n == 4 && memcmp(c->newest_id, dec[3]->id, 32) == 0);
	cf_chain_free(c);
	c = NULL;
	/* The newest deleted by the storage operator. */
	CHECK_RC(cf_chain_verify(&c, &bad, (const struct cf_manifest *const *)dec, 3, NULL, 0,
				 &seen),
		 CF_E_ROLLBACK);
	for (int i = 0; i < 4; i++)
		cf_manifest_free(dec[i]);
	cf_keyring_free(ring);
	cf_identity_free(dev);
}

/*
 * Unreadable epochs (docs/repository-manifests.md, "Unreadable epochs"): manifests 1-2 in
 * epoch 1, 3-5 in epoch 2 (not held), 6-8 in epoch 3. @opq lists the manifests passed
 * as unreadable (not gone); @extra more unreadable objects.
 */
static int verify_partial(struct repo *r, const int *opq, const struct cf_chain_opaque *extra,
			  size_t nextra, const struct cf_chain_seen *seen, uint64_t *bad,
			  struct cf_chain **out)
{
	struct cf_chain_opaque o[MAXN + 8];
	struct cf_chain *c = NULL;
	size_t k = 0, no = 0;
	int rc;

	for (size_t i = r->nm; i >= 1; i--) {
		if (r->gone[i])
			continue;
		if (opq[i]) {
			memcpy(o[no].id, r->m[i].id, 32);
			o[no].epoch = r->m[i].epoch;
			o[no++].forget = 0;
		} else {
			r->mp[k++] = &r->m[i];
		}
	}
	for (size_t i = 0; i < nextra; i++)
		o[no++] = extra[i];
	*bad = 12345;
	rc = cf_chain_verify_partial(&c, bad, r->mp, k, r->fp, r->nf, o, no, seen);
	CHECK((rc == 0) == (c != NULL));
	if (out)
		*out = c;
	else
		cf_chain_free(c);
	return rc;
}

static void three_epochs(struct repo *r, int *opq)
{
	linear(r, 8);
	memset(opq, 0, (MAXN + 1) * sizeof(*opq));
	for (uint64_t s = 1; s <= 8; s++)
		r->m[s].epoch = s <= 2 ? 1 : s <= 5 ? 2 : 3;
	opq[3] = opq[4] = opq[5] = 1;
}

static void test_unreadable(void)
{
	static struct repo r;
	static int opq[MAXN + 1];
	struct cf_chain *c = NULL;
	struct cf_chain_seen seen;
	struct cf_chain_opaque fo = {{0}, 2, 1};
	uint8_t prev[32];
	uint64_t bad, seq;
	int has_prev;

	/* The hole 3-5 accounted for by the three unreadable manifests of epoch 2. */
	three_epochs(&r, opq);
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->n == 8 && c->newest_seq == 8 && c->unreadable == 3 && !c->unreadable_newer);
	CHECK(c->entries[4].seq == 5 && c->entries[4].flags == CF_CHAIN_UNREADABLE);
	CHECK(memcmp(c->entries[4].id, r.m[5].id, 32) == 0 && !c->entries[4].manifest);
	CHECK(c->entries[2].flags == (CF_CHAIN_UNREADABLE | CF_CHAIN_ID_UNKNOWN));
	CHECK(c->entries[1].flags == CF_CHAIN_PRESENT && c->entries[1].manifest == &r.m[2]);
	CHECK(c->entries[5].flags == CF_CHAIN_PRESENT && c->entries[5].manifest == &r.m[6]);
	CHECK_RC(cf_chain_next(c, NULL, &seq, &has_prev, prev), 0);
	CHECK(seq == 9 && has_prev && memcmp(prev, r.m[8].id, 32) == 0);
	cf_chain_free(c);
	c = NULL;

	/* Without the unreadable objects: the gap, as for every other device. */
	memset(opq, 0, (MAXN + 1) * sizeof(*opq));
	r.gone[3] = r.gone[4] = r.gone[5] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 5);

	/* The operator deletes one unreadable manifest: the others cannot stand for it. */
	three_epochs(&r, opq);
	r.gone[4] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 5);
	/* ... nor a manifest of another epoch than the hole's (here: above epoch 3). */
	fo.forget = 0;
	fo.epoch = 4;
	memset(fo.id, 0x44, 32);
	CHECK_RC(verify_partial(&r, opq, &fo, 1, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 5);
	/* ... but a forget record written in epoch 2 (the snapshot forgotten, then pruned). */
	fo.forget = 1;
	fo.epoch = 2;
	CHECK_RC(verify_partial(&r, opq, &fo, 1, NULL, &bad, NULL), 0);
	/* The newest readable snapshot names a deleted one: two left for three sequences. */
	three_epochs(&r, opq);
	r.gone[5] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 5);
	/* The manifest named as prev must not be of a later epoch than its successor. */
	three_epochs(&r, opq);
	r.m[5].epoch = 4;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 5);

	/* Rollback and forks are found as before in what is readable. */
	three_epochs(&r, opq);
	seen = seen_of(&r, 8);
	r.gone[8] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, &seen, &bad, NULL), CF_E_ROLLBACK);
	CHECK(bad == 8);
	three_epochs(&r, opq);
	r.m[9] = r.m[7];
	r.m[9].id[9] = 1; /* a second snapshot 7 */
	r.nm = 9;
	r.gone[9] = 0;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, NULL), CF_E_CORRUPT);
	CHECK(bad == 7);

	/* The newest snapshots unreadable: their sequence is unknown, no next one is made. */
	three_epochs(&r, opq);
	for (int s = 3; s <= 8; s++)
		opq[s] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->n == 2 && c->newest_seq == 2 && c->unreadable == 0 && c->unreadable_newer == 6);
	CHECK_RC(cf_chain_next(c, NULL, &seq, &has_prev, prev), CF_E_NOTFOUND);
	cf_chain_free(c);
	c = NULL;

	/* Unreadable from the first snapshot on: a hole down to sequence 1. */
	three_epochs(&r, opq);
	opq[1] = opq[2] = 1;
	CHECK_RC(verify_partial(&r, opq, NULL, 0, NULL, &bad, &c), 0);
	REQUIRE(c);
	CHECK(c->n == 8 && c->unreadable == 5 && c->entries[0].seq == 1);
	cf_chain_free(c);
}

int main(void)
{
	cf_log_set_level(CF_LOG_ERR); /* expected refusals */
	REQUIRE(cf_core_init() == 0);
	test_empty();
	test_linear();
	test_forgotten();
	test_rollback();
	test_forks_and_links();
	test_inconsistent_records();
	test_epochs();
	test_large();
	test_real_manifests();
	test_unreadable();
	return check_finish();
}
