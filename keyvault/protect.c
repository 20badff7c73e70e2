/* SPDX-License-Identifier: ISC */
#include "keyvault/protect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/error.h"
#include "core/kdf.h"
#include "repo/keyslot.h"
#include "util/log.h"

void cf_protect_free(struct cf_protect *p)
{
	if (!p)
		return;
	cf_slotlist_free(p->slots);
	cf_roster_free(p->roster);
	free(p);
}

int cf_protect_record_of(const struct cf_slotlist *sl, const struct cf_keyring *ring,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t epoch,
			 struct cf_protection *out)
{
	struct cf_protection best, rec;
	struct cf_keyslot ks;
	int found = 0;

	for (size_t i = 0; i < sl->n; i++) {
		if (cf_keyslot_parse(&ks, sl->b[i], sl->len[i]) != 0 ||
		    ks.kind != CF_SLOT_PROTECTION || ks.epoch != epoch)
			continue;
		if (cf_slots_protection_open(&rec, ring, repo_id, cfg_hash, sl->b[i], sl->len[i]))
			continue;
		if (!found || rec.seq > best.seq)
			best = rec;
		found = 1;
	}
	if (!found)
		return CF_E_NOTFOUND;
	*out = best;
	return 0;
}

int cf_protect_roster_of(const struct cf_slotlist *sl, const struct cf_keyring *ring,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t epoch,
			 struct cf_roster **out)
{
	return cf_roster_select(out, epoch, ring, repo_id, cfg_hash, (const uint8_t *const *)sl->b,
				sl->len, sl->n);
}

int cf_protect_load(struct cf_protect **out, struct cf_session *s)
{
	struct cf_protect *p = calloc(1, sizeof(*p));
	const struct cf_keyring *ring = cf_repo_keyring(s->repo);
	const uint8_t *rid = cf_repo_id(s->repo), *cfg = cf_repo_config_hash(s->repo);
	struct cf_keyslot ks;
	int r;

	if (!p)
		return -ENOMEM;
	p->s = s;
	p->current = cf_repokeys_epoch(cf_keyring_current(ring));
	r = cf_slotlist_load(&p->slots, s->repo);
	if (r)
		goto fail;
	for (size_t i = 0; i < p->slots->n; i++)
		if (cf_keyslot_parse(&ks, p->slots->b[i], p->slots->len[i]) == 0 &&
		    ks.kind == CF_SLOT_ROSTER && ks.epoch > p->newest)
			p->newest = ks.epoch;
	r = cf_protect_roster_of(p->slots, ring, rid, cfg, p->current, &p->roster);
	if (r == CF_E_NOTFOUND)
		r = CF_E_CORRUPT;
	if (r)
		goto fail;
	p->has_record =
	    cf_protect_record_of(p->slots, ring, rid, cfg, p->current, &p->rec) == 0;
	*out = p;
	return 0;
fail:
	cf_protect_free(p);
	return r;
}

int cf_protect_put_record(struct cf_protect *p, uint32_t epoch, struct cf_protection *rec)
{
	const struct cf_keyring *ring = cf_repo_keyring(p->s->repo);
	const struct cf_repokeys *k = cf_keyring_get(ring, epoch);
	struct cf_protection old;
	uint8_t *slot = NULL;
	size_t len = 0;
	int r;

	if (!k)
		return CF_E_NOTFOUND;
	rec->seq = 1;
	if (cf_protect_record_of(p->slots, ring, cf_repo_id(p->s->repo),
				 cf_repo_config_hash(p->s->repo), epoch, &old) == 0)
		rec->seq = old.seq + 1;
	rec->time = (uint64_t)time(NULL);
	rec->epoch = epoch;
	r = cf_slots_protection_create(&slot, &len, k, cf_repo_id(p->s->repo),
				       cf_repo_config_hash(p->s->repo), rec);
	if (!r)
		r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
	free(slot);
	if (!r && epoch == p->current) {
		p->rec = *rec;
		p->has_record = 1;
	}
	return r;
}

int cf_protect_put_roster(struct cf_protect *p, const struct cf_pubid *ids, size_t n)
{
	const struct cf_keyring *ring = cf_repo_keyring(p->s->repo);
	struct cf_roster *nr = NULL;
	uint8_t *slot = NULL;
	size_t len = 0;
	int r;

	r = cf_roster_create(&slot, &len, cf_keyring_get(ring, p->current), cf_repo_id(p->s->repo),
			     cf_repo_config_hash(p->s->repo), p->roster->seq + 1, ids, n);
	if (!r)
		r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
	free(slot);
	if (!r)
		r = cf_protect_roster_of(p->slots, ring, cf_repo_id(p->s->repo),
					 cf_repo_config_hash(p->s->repo), p->current, &nr);
	if (!r) {
		cf_roster_free(p->roster);
		p->roster = nr;
	}
	return r;
}

static int seal_one(struct cf_protect *p, const struct cf_identity *sender,
		    const struct cf_pubid *to, uint32_t epoch, const uint8_t mk[32])
{
	uint8_t *slot = NULL;
	size_t len = 0;
	int r = cf_keyslot_device_create(&slot, &len, sender, to, cf_repo_id(p->s->repo),
					 cf_repo_config_hash(p->s->repo), epoch, mk);

	if (!r)
		r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
	free(slot);
	return r;
}

int cf_protect_seal_epochs(struct cf_protect *p, const struct cf_identity *sender,
			   const struct cf_pubid *to)
{
	const struct cf_keyring *ring = cf_repo_keyring(p->s->repo);
	int r = 0;

	for (uint32_t e = 1; e <= p->current && !r; e++) {
		const struct cf_repokeys *k = cf_keyring_get(ring, e);
		if (k)
			r = seal_one(p, sender, to, e, cf_repokeys_master(k));
	}
	return r;
}

static int next_epoch_taken(const struct cf_protect *p, uint32_t e)
{
	struct cf_keyslot ks;

	for (size_t i = 0; i < p->slots->n; i++)
		if (cf_keyslot_parse(&ks, p->slots->b[i], p->slots->len[i]) == 0 && ks.epoch == e &&
		    (ks.kind == CF_SLOT_ROSTER || ks.kind == CF_SLOT_DEVICE))
			return 1;
	return 0;
}

/* Every slot of the new epoch @e (key @mk, derived keys @k). */
static int write_epoch(struct cf_protect *p, const struct cf_epoch_spec *spec,
		       const struct cf_repokeys *k, uint32_t e, const uint8_t *mk)
{
	const struct cf_identity *me = cf_keychain_identity(p->s->kc);
	const struct cf_keyring *ring = cf_repo_keyring(p->s->repo);
	const uint8_t *rid = cf_repo_id(p->s->repo), *cfg = cf_repo_config_hash(p->s->repo);
	struct cf_protection rec = spec->rec;
	uint8_t *slot = NULL;
	size_t len = 0;
	int r = 0;

	for (size_t i = 0; i < spec->ndevices && !r; i++)
		r = seal_one(p, me, &spec->devices[i], e, mk);
	if (!r && rec.has_recovery_key)
		r = seal_one(p, me, &rec.recovery_key, e, mk);
	if (!r && rec.has_contacts)
		r = seal_one(p, me, &rec.contacts, e, mk);
	if (!r && spec->link_prev) {
		const struct cf_repokeys *prev = cf_keyring_get(ring, p->current);
		r = cf_slots_link_create(&slot, &len, k, rid, cfg, p->current,
					 cf_repokeys_master(prev));
		if (!r)
			r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
		free(slot);
		slot = NULL;
	}
	if (!r) {
		rec.seq = 1;
		rec.time = (uint64_t)time(NULL);
		rec.epoch = e;
		r = cf_slots_protection_create(&slot, &len, k, rid, cfg, &rec);
		if (!r)
			r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
		free(slot);
		slot = NULL;
	}
	/* The roster last: until it is stored, no device treats the epoch as existing. */
	if (!r)
		r = cf_roster_create(&slot, &len, k, rid, cfg, 1, spec->devices, spec->ndevices);
	if (!r)
		r = cf_slotlist_store(p->s->repo, p->slots, slot, len);
	free(slot);
	return r;
}

int cf_protect_new_epoch(struct cf_protect *p, const struct cf_epoch_spec *spec, uint32_t *epoch,
			 struct cf_secbuf **mk)
{
	const struct cf_identity *me = cf_keychain_identity(p->s->kc);
	struct cf_secbuf *key = NULL;
	struct cf_repokeys *k = NULL;
	struct cf_pubid pub;
	uint32_t e = p->current + 1;
	int r, listed = 0;

	cf_identity_public(me, &pub);
	for (size_t i = 0; i < spec->ndevices; i++)
		listed |= cf_pubid_equal(&spec->devices[i], &pub);
	if (!listed || e == 0)
		return CF_E_INVAL;
	if (next_epoch_taken(p, e)) {
		cf_log_err("%s: key epoch %u already exists, but this device does not hold it:"
			   " another device changed protection meanwhile, or this device was"
			   " removed (keyvault status)",
			   cf_repo_url(p->s->repo), e);
		return CF_E_EXISTS;
	}
	r = cf_secbuf_new(&key, CF_MASTER_KEY_BYTES);
	if (r)
		return r;
	cf_core_random(cf_secbuf_data(key), CF_MASTER_KEY_BYTES);
	r = cf_repokeys_new(&k, e, cf_secbuf_data(key));
	if (!r)
		r = write_epoch(p, spec, k, e, cf_secbuf_data(key));
	/* The slots are stored before the keychain learns the key: a failed save loses
	 * nothing, this device's slot gives the key back. */
	if (!r)
		r = cf_keychain_repo_put_key(p->s->kc, cf_repo_id(p->s->repo), e,
					     cf_secbuf_data(key), 1);
	if (!r)
		r = cf_keychain_save(p->s->kc);
	cf_repokeys_free(k);
	if (r) {
		cf_secbuf_free(key);
		return r;
	}
	*epoch = e;
	if (mk)
		*mk = key;
	else
		cf_secbuf_free(key);
	return 0;
}

/* Open the device slots of @epoch for @me sealed by one of @senders; CF_E_NOTFOUND if none. */
static int open_epoch(struct cf_secbuf **out, const struct cf_identity *me,
		      const struct cf_pubid *senders, size_t ns, const struct cf_slotlist *sl,
		      const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t epoch)
{
	struct cf_secbuf *got = NULL;
	struct cf_keyslot ks;

	for (size_t i = 0; i < sl->n; i++) {
		struct cf_secbuf *mk = NULL;
		if (cf_keyslot_parse(&ks, sl->b[i], sl->len[i]) != 0 || ks.kind != CF_SLOT_DEVICE ||
		    ks.epoch != epoch)
			continue;
		if (cf_keyslot_device_open(&mk, NULL, me, senders, ns, repo_id, cfg_hash, sl->b[i],
					   sl->len[i]) != 0)
			continue;
		if (got && !cf_core_equal(cf_secbuf_data(got), cf_secbuf_data(mk), 32)) {
			cf_secbuf_free(mk);
			cf_secbuf_free(got);
			cf_log_err("two different keys are offered for key epoch %u: refusing both"
				   " (a removed device may be trying to plant an epoch)",
				   epoch);
			return CF_E_CORRUPT;
		}
		cf_secbuf_free(got);
		got = mk;
	}
	if (!got)
		return CF_E_NOTFOUND;
	*out = got;
	return 0;
}

int cf_protect_follow(struct cf_keyring *ring, const struct cf_identity *me,
		      const struct cf_slotlist *sl, const uint8_t repo_id[32],
		      const uint8_t cfg_hash[32], unsigned *added)
{
	unsigned n = 0;
	int r = 0;

	while (cf_keyring_current(ring)) {
		uint32_t e = cf_repokeys_epoch(cf_keyring_current(ring));
		struct cf_roster *ro = NULL;
		struct cf_secbuf *mk = NULL;

		if (e == UINT32_MAX)
			break;
		r = cf_protect_roster_of(sl, ring, repo_id, cfg_hash, e, &ro);
		if (r == CF_E_NOTFOUND) {
			r = 0;
			break;
		}
		if (r)
			break;
		r = open_epoch(&mk, me, ro->ids, ro->n, sl, repo_id, cfg_hash, e + 1);
		cf_roster_free(ro);
		if (r == CF_E_NOTFOUND) {
			r = 0;
			break;
		}
		if (!r)
			r = cf_keyring_add(ring, e + 1, cf_secbuf_data(mk), 1);
		cf_secbuf_free(mk);
		if (r)
			break;
		n++;
	}
	if (added)
		*added = n;
	return r;
}

int cf_protect_rk_identity(struct cf_identity **out, const uint8_t kek[CF_KEYSLOT_KEK_BYTES])
{
	uint8_t seed[CF_IDENTITY_SEED_BYTES];
	int r = cf_kdf_subkey(seed, sizeof(seed), 1, "cfrkid__", kek);

	if (!r)
		r = cf_identity_from_seed(out, seed);
	cf_core_wipe(seed, sizeof(seed));
	return r;
}
