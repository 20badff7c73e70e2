/* SPDX-License-Identifier: ISC */
#include "keyvault/vault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/secbuf.h"
#include "repo/keyslot.h"
#include "keyvault/protect.h"
#include "keyvault/slotlist.h"
#include "repo/object.h"
#include "util/log.h"

/* A new repository: epoch 1, this device's slot and the first roster. */
static int make_first_epoch(struct cf_repo *r, struct cf_keychain *kc, struct cf_keyring *ring)
{
	const struct cf_identity *me = cf_keychain_identity(kc);
	struct cf_secbuf *mk = NULL;
	struct cf_pubid pub;
	uint8_t *slot = NULL, *roster = NULL;
	size_t slen = 0, rlen = 0;
	int rc;

	cf_identity_public(me, &pub);
	rc = cf_secbuf_new(&mk, CF_MASTER_KEY_BYTES);
	if (rc)
		return rc;
	cf_core_random(cf_secbuf_data(mk), CF_MASTER_KEY_BYTES);
	rc = cf_keyring_add(ring, 1, cf_secbuf_data(mk), 1);
	if (!rc)
		rc = cf_keyslot_device_create(&slot, &slen, me, &pub, cf_repo_id(r),
					      cf_repo_config_hash(r), 1, cf_secbuf_data(mk));
	if (!rc)
		rc = cf_roster_create(&roster, &rlen, cf_keyring_current(ring), cf_repo_id(r),
				      cf_repo_config_hash(r), 1, &pub, 1);
	if (!rc)
		rc = cf_slotlist_store(r, NULL, slot, slen);
	if (!rc)
		rc = cf_slotlist_store(r, NULL, roster, rlen);
	if (!rc)
		rc = cf_keychain_repo_put_key(kc, cf_repo_id(r), 1, cf_secbuf_data(mk), 1);
	if (!rc)
		rc = cf_keychain_save(kc);
	free(slot);
	free(roster);
	cf_secbuf_free(mk);
	return rc;
}

/* Epochs the keychain holds; then, if none, this device's slots in the repository. */
static int load_epochs(struct cf_repo *r, struct cf_keychain *kc, struct cf_keyring *ring,
		       const struct cf_slotlist *s)
{
	const struct cf_identity *me = cf_keychain_identity(kc);
	uint8_t key[CF_MASTER_KEY_BYTES];
	uint32_t cur = 0;
	struct cf_pubid pub;
	int rc = 0, found = 0;

	if (cf_keychain_repo_current(kc, cf_repo_id(r), &cur) == 0) {
		for (uint32_t e = 1; e <= cur && !rc; e++) {
			if (cf_keychain_repo_key(kc, cf_repo_id(r), e, key) != 0)
				continue;
			rc = cf_keyring_add(ring, e, key, e == cur);
		}
		cf_core_wipe(key, sizeof(key));
		return rc;
	}
	cf_identity_public(me, &pub);
	for (size_t i = 0; i < s->n && !rc; i++) {
		struct cf_secbuf *mk = NULL;
		uint32_t epoch = 0;
		int o = cf_keyslot_device_open(&mk, &epoch, me, &pub, 1, cf_repo_id(r),
					       cf_repo_config_hash(r), s->b[i], s->len[i]);
		if (o)
			continue; /* another kind, another device's slot, or damaged */
		rc = cf_keyring_add(ring, epoch, cf_secbuf_data(mk), 0);
		if (!rc)
			rc = cf_keychain_repo_put_key(kc, cf_repo_id(r), epoch, cf_secbuf_data(mk),
						      0);
		if (rc == CF_E_ROLLBACK)
			rc = 0;
		cf_secbuf_free(mk);
		found = 1;
	}
	if (!rc && !found) {
		cf_log_err("this device holds no key for %s: recover access with a recovery"
			   " method (keyvault)",
			   cf_repo_url(r));
		return CF_E_NOTFOUND;
	}
	return rc ? rc : cf_keychain_save(kc);
}

/*
 * Later epochs this device was given by a trusted device (a mode change or a device
 * removal made elsewhere): adopt them, so new snapshots are never written under an
 * epoch another device has retired. Warn when the repository has a newer epoch this
 * device was not given (it was removed, or the change is not finished).
 */
static int follow_epochs(struct cf_repo *r, struct cf_keychain *kc, struct cf_keyring *ring,
			 const struct cf_slotlist *s)
{
	const struct cf_repokeys *cur;
	struct cf_keyslot ks;
	unsigned added = 0;
	uint32_t newest = 0, e;
	int rc;

	rc = cf_protect_follow(ring, cf_keychain_identity(kc), s, cf_repo_id(r),
			       cf_repo_config_hash(r), &added);
	if (rc || !cf_keyring_current(ring))
		return rc;
	cur = cf_keyring_current(ring);
	e = cf_repokeys_epoch(cur);
	for (size_t i = 0; i < s->n; i++)
		if (cf_keyslot_parse(&ks, s->b[i], s->len[i]) == 0 && ks.kind == CF_SLOT_ROSTER &&
		    ks.epoch > newest)
			newest = ks.epoch;
	if (newest > e)
		cf_log_warn("%s: the repository has key epoch %u but this device was only given"
			    " epoch %u: it was removed from the trusted devices, or a protection"
			    " change is unfinished (keyvault status)",
			    cf_repo_url(r), newest, e);
	if (!added)
		return 0;
	for (uint32_t x = e - added + 1; x <= e && !rc; x++)
		rc = cf_keychain_repo_put_key(kc, cf_repo_id(r), x,
					      cf_repokeys_master(cf_keyring_get(ring, x)), 1);
	if (!rc)
		rc = cf_keychain_save(kc);
	if (!rc)
		cf_log_info("%s: now writing under key epoch %u (set by another device)",
			    cf_repo_url(r), e);
	return rc;
}

/* The union of the rosters of every epoch held: whose snapshots are trusted. */
static int load_signers(struct cf_repo *r, const struct cf_keyring *ring, const struct cf_slotlist *s,
			uint32_t max_epoch, struct cf_pubid **out, size_t *nout)
{
	struct cf_pubid *v = NULL;
	size_t n = 0;
	int rc = 0;

	for (uint32_t e = 1; e <= max_epoch && !rc; e++) {
		struct cf_roster *ro = NULL;
		int sr;
		if (!cf_keyring_get(ring, e))
			continue;
		sr = cf_roster_select(&ro, e, ring, cf_repo_id(r), cf_repo_config_hash(r),
				      (const uint8_t *const *)s->b, s->len, s->n);
		if (sr == CF_E_NOTFOUND) {
			cf_log_err("%s: no valid roster for key epoch %u", cf_repo_url(r), e);
			rc = CF_E_CORRUPT;
			break;
		}
		if (sr) {
			rc = sr;
			break;
		}
		rc = cf_repo_set_roster(r, e, ro->ids, ro->n);
		if (rc) {
			cf_roster_free(ro);
			break;
		}
		struct cf_pubid *nv = realloc(v, (n + ro->n) * sizeof(*nv));
		if (!nv) {
			rc = -ENOMEM;
		} else {
			v = nv;
			for (size_t i = 0; i < ro->n; i++) {
				int dup = 0;
				for (size_t j = 0; j < n; j++)
					dup |= cf_pubid_equal(&v[j], &ro->ids[i]);
				if (!dup)
					v[n++] = ro->ids[i];
			}
		}
		cf_roster_free(ro);
	}
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

int cf_vault_attach(struct cf_repo *r, struct cf_keychain *kc)
{
	struct cf_slotlist *s = NULL;
	struct cf_keyring *ring = NULL;
	struct cf_pubid *signers = NULL;
	size_t nsigners = 0;
	int rc;

	rc = cf_keyring_new(&ring);
	if (rc)
		return rc;
	if (cf_repo_created(r))
		rc = make_first_epoch(r, kc, ring);
	if (!rc)
		rc = cf_slotlist_load(&s, r);
	if (!rc && !cf_repo_created(r))
		rc = load_epochs(r, kc, ring, s);
	if (!rc)
		rc = follow_epochs(r, kc, ring, s);
	if (!rc && !cf_keyring_current(ring))
		rc = CF_E_NOTFOUND;
	if (!rc)
		rc = load_signers(r, ring, s, cf_repokeys_epoch(cf_keyring_current(ring)),
				  &signers, &nsigners);
	cf_slotlist_free(s);
	if (rc) {
		cf_keyring_free(ring);
		return rc;
	}
	rc = cf_repo_set_keys(r, ring, cf_keychain_identity(kc), signers, nsigners);
	free(signers);
	return rc;
}
