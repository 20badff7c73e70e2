/* SPDX-License-Identifier: ISC */
/* Recovery key, recovery contacts and trusted devices (keyvault/modes.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/error.h"
#include "core/recoverykey.h"
#include "keyvault/contacts.h"
#include "keyvault/kvapi.h"
#include "keyvault/modes.h"
#include "keyvault/modes_impl.h"
#include "repo/keyslot.h"
#include "util/log.h"

static const uint8_t *rid(const struct cf_modes_ctx *m)
{
	return cf_repo_id(m->s->repo);
}

static const uint8_t *cfgh(const struct cf_modes_ctx *m)
{
	return cf_repo_config_hash(m->s->repo);
}

static const char *url(const struct cf_modes_ctx *m)
{
	return cf_repo_url(m->s->repo);
}

/* ---- recovery key ------------------------------------------------------------------- */

/* Recovery-key slots for every epoch held, under @kek with @salt. */
static int rk_slots(struct cf_modes_ctx *m, struct cf_protect *p, const uint8_t *kek,
		    const uint8_t salt[CF_ARGON2_SALT_BYTES])
{
	const struct cf_keyring *ring = cf_repo_keyring(m->s->repo);
	int r = 0;

	for (uint32_t e = 1; e <= p->current && !r; e++) {
		const struct cf_repokeys *k = cf_keyring_get(ring, e);
		uint8_t *slot = NULL;
		size_t len = 0;
		if (!k)
			continue;
		r = cf_keyslot_recovery_seal(&slot, &len, kek, salt, CF_ARGON2_MODERATE, rid(m),
					     cfgh(m), e, cf_repokeys_master(k));
		if (!r)
			r = cf_slotlist_store(m->s->repo, p->slots, slot, len);
		free(slot);
	}
	return r;
}

/* Delete the recovery-key slots whose salt is not @keep (NULL: all). */
static int rk_delete(struct cf_modes_ctx *m, struct cf_protect *p, const uint8_t *keep)
{
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	enum cf_argon2_params set;
	int r = 0;

	for (size_t i = 0; i < p->slots->n && !r;) {
		if (cf_keyslot_recovery_params(p->slots->b[i], p->slots->len[i], salt, &set, NULL) ==
			0 &&
		    (!keep || memcmp(salt, keep, sizeof(salt)) != 0)) {
			r = cf_slotlist_delete(m->s->repo, p->slots, i);
			continue;
		}
		i++;
	}
	return r;
}

int cf_modes_rk_create(struct cf_modes_ctx *m, struct cf_secbuf **text)
{
	struct cf_secbuf *bytes = NULL, *txt = NULL, *kek = NULL;
	struct cf_identity *R = NULL;
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	uint32_t e = 0;
	int rotating, r;

	r = cf_modes_load(m, &p);
	if (r)
		return r;
	rotating = p->rec.has_recovery_key;
	cf_core_random(salt, sizeof(salt));
	r = cf_recoverykey_generate(&bytes, &txt);
	if (!r)
		r = cf_keyslot_recovery_kek(&kek, cf_secbuf_data(bytes), salt, CF_ARGON2_MODERATE);
	if (!r)
		r = cf_protect_rk_identity(&R, cf_secbuf_data(kek));
	if (r)
		goto out;
	cf_modes_base_rec(m, p, &rec, rotating ? "recovery-key-rotate" : "recovery-key-create");
	rec.has_recovery_key = 1;
	cf_identity_public(R, &rec.recovery_key);
	rec.recovery_key_time = (uint64_t)time(NULL);
	if (rotating)
		r = cf_modes_rotate(m, &p, &rec, p->roster->ids, p->roster->n, &e, NULL);
	if (!r)
		r = rk_slots(m, p, cf_secbuf_data(kek), salt);
	if (!r && !rotating) {
		rec.escrowed = p->has_record && p->rec.escrowed;
		r = cf_protect_put_record(p, p->current, &rec);
	}
	if (!r && rotating)
		r = rk_delete(m, p, salt);
	if (r)
		goto out;
	if (rotating)
		cf_change_say(m->ch, "%s: the recovery key was replaced. New key epoch %u: the old"
			      " recovery key opens nothing from now on, and its slots were deleted.",
			      url(m), e);
	cf_change_say(m->ch, "%s: the new recovery key opens every snapshot (epochs 1-%u) and"
		      " every later epoch. Write it down now: it is shown only this once.", url(m),
		      p->current);
	*text = txt;
	txt = NULL;
out:
	cf_identity_free(R);
	cf_secbuf_free(kek);
	cf_secbuf_free(bytes);
	cf_secbuf_free(txt);
	cf_protect_free(p);
	return r;
}

int cf_modes_rk_verify(struct cf_modes_ctx *m, const char *typed)
{
	struct cf_secbuf *rk = NULL, *kek = NULL, *mk = NULL;
	uint8_t salt[CF_ARGON2_SALT_BYTES], held[32];
	struct cf_protect *p = NULL;
	enum cf_argon2_params set;
	unsigned bad = 0, ok = 0, slots = 0;
	char why[128];
	int r;

	r = cf_recoverykey_parse(&rk, typed, &bad);
	if (r == CF_E_CHECKSUM || (r == CF_E_FORMAT && bad)) {
		cf_recoverykey_describe(why, sizeof(why), bad);
		cf_log_err("the recovery key has a typo: %s", why);
	} else if (r == CF_E_FORMAT) {
		cf_log_err("that is not a recovery key: it has 7 groups of 5 characters");
	}
	if (!r)
		r = cf_modes_load(m, &p);
	for (size_t i = 0; !r && p && i < p->slots->n; i++) {
		uint32_t e = 0;
		uint8_t s2[CF_ARGON2_SALT_BYTES];
		if (cf_keyslot_recovery_params(p->slots->b[i], p->slots->len[i], s2, &set, NULL) != 0)
			continue;
		slots++;
		if (!kek || memcmp(s2, salt, sizeof(salt)) != 0) {
			cf_secbuf_free(kek);
			kek = NULL;
			memcpy(salt, s2, sizeof(salt));
			r = cf_keyslot_recovery_kek(&kek, cf_secbuf_data(rk), salt, set);
		}
		if (!r && cf_keyslot_recovery_open_kek(&mk, &e, cf_secbuf_data(kek), rid(m), cfgh(m),
						       p->slots->b[i], p->slots->len[i]) == 0) {
			if (cf_keychain_repo_key(m->s->kc, rid(m), e, held) == 0 &&
			    cf_core_equal(held, cf_secbuf_data(mk), 32))
				ok++;
			cf_secbuf_free(mk);
			mk = NULL;
		}
	}
	cf_core_wipe(held, sizeof(held));
	if (!r && !slots) {
		cf_log_err("%s has no recovery key", url(m));
		r = CF_E_NOTFOUND;
	} else if (!r && ok < slots) {
		cf_log_err("this is not the recovery key of %s (it opens %u of its %u recovery-key"
			   " slots)", url(m), ok, slots);
		r = CF_E_AUTH;
	}
	if (!r)
		cf_change_say(m->ch, "%s: the recovery key is right: it opens all %u of its slots.",
			      url(m), slots);
	cf_secbuf_free(kek);
	cf_secbuf_free(rk);
	cf_protect_free(p);
	return r;
}

int cf_modes_rk_remove(struct cf_modes_ctx *m)
{
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	uint32_t e = 0;
	int r = cf_modes_load(m, &p);

	if (r)
		return r;
	if (!p->rec.has_recovery_key) {
		cf_log_err("%s has no recovery key", url(m));
		r = CF_E_NOTFOUND;
	} else if (cf_modes_mode_of(p) == CF_MODE_ADVANCED && !p->rec.has_contacts) {
		cf_log_err("the recovery key is the only recovery method of %s, which uses advanced"
			   " protection: add recovery contacts or switch to standard first",
			   url(m));
		r = CF_E_UNSAFE;
	}
	if (!r) {
		cf_modes_base_rec(m, p, &rec, "recovery-key-remove");
		rec.has_recovery_key = 0;
		r = cf_modes_rotate(m, &p, &rec, p->roster->ids, p->roster->n, &e, NULL);
	}
	if (!r)
		r = rk_delete(m, p, NULL);
	if (!r)
		cf_change_say(m->ch, "%s: the recovery key was removed: its slots were deleted, and"
			      " new key epoch %u is not given to it.", url(m), e);
	cf_protect_free(p);
	return r;
}

/* ---- recovery contacts -------------------------------------------------------------- */

/* Seal contact @i's share to the devices of @name and mail it. */
static int send_share(struct cf_modes_ctx *m, const struct cf_contact_split *sp, unsigned i,
		      const char *name, uint32_t epoch)
{
	struct cf_contact_msg msg = {.index = i, .k = sp->k, .n = sp->n, .epoch = epoch};
	struct cf_kvdevice *devs = NULL;
	struct cf_pubid *to = NULL;
	uint8_t *env = NULL;
	size_t n = 0, len = 0;
	int r;

	r = cf_kvapi_directory(m->c, name, &devs, &n);
	if (r) {
		cf_account_report(m->c, r, name);
		return r;
	}
	to = calloc(n ? n : 1, sizeof(*to));
	r = !to ? -ENOMEM : n == 0 ? CF_E_NOTFOUND : 0;
	if (r == CF_E_NOTFOUND)
		cf_log_err("recovery contact %s has no active device to seal a share to", name);
	for (size_t j = 0; !r && j < n; j++)
		to[j] = devs[j].identity;
	memcpy(msg.repo_id, rid(m), 32);
	snprintf(msg.name, sizeof(msg.name), "%s", m->acct->name);
	if (!r)
		r = cf_secbuf_dup(&msg.secret, cf_secbuf_data(sp->secrets) + 32 * i, 32);
	if (!r)
		r = cf_contacts_share_seal(&env, &len, cf_keychain_identity(m->s->kc), to, n, &msg);
	if (!r) {
		r = cf_kvapi_mail_post(m->c, name, 0, "contact-share", env, len);
		if (r)
			cf_account_report(m->c, r, "mail the share");
	}
	cf_contact_msg_clear(&msg);
	free(env);
	free(to);
	free(devs);
	return r;
}

/* Names: 1..256 bytes, distinct, not the account itself. */
static int check_names(const struct cf_modes_ctx *m, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (len < 1 || len > CF_CONTACT_NAME_MAX || strcmp(names[i], m->acct->name) == 0) {
			cf_log_err("recovery contact '%s': not a valid other account", names[i]);
			return CF_E_INVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0) {
				cf_log_err("recovery contact '%s' named twice", names[i]);
				return CF_E_INVAL;
			}
	}
	return 0;
}

static int dropping(const struct cf_protection *old, const char *const *names, size_t n)
{
	for (unsigned i = 0; old->has_contacts && i < old->n; i++) {
		int kept = 0;
		for (size_t j = 0; j < n; j++)
			kept |= strcmp(old->names[i], names[j]) == 0;
		if (!kept)
			return 1;
	}
	return 0;
}

static int contacts_remove_all(struct cf_modes_ctx *m, struct cf_protect **p)
{
	struct cf_protection rec;
	uint32_t e = 0;
	int r;

	if (!(*p)->rec.has_contacts) {
		cf_log_err("%s has no recovery contacts", url(m));
		return CF_E_NOTFOUND;
	}
	if (cf_modes_mode_of(*p) == CF_MODE_ADVANCED && !(*p)->rec.has_recovery_key) {
		cf_log_err("the contacts are the only recovery method of %s, which uses advanced"
			   " protection: create a recovery key or switch to standard first", url(m));
		return CF_E_UNSAFE;
	}
	cf_modes_base_rec(m, *p, &rec, "contacts-remove");
	rec.has_contacts = 0;
	r = cf_modes_rotate(m, p, &rec, (*p)->roster->ids, (*p)->roster->n, &e, NULL);
	if (!r && cf_kvapi_share_delete(m->c, rid(m)) != 0)
		cf_log_warn("the key vault's share could not be deleted (it is useless alone)");
	if (!r)
		cf_change_say(m->ch, "%s: recovery contacts removed: new key epoch %u is not given to"
			      " them, and the key vault's share was deleted.", url(m), e);
	return r;
}

int cf_modes_contacts_set(struct cf_modes_ctx *m, const char *const *names, size_t n, unsigned k)
{
	struct cf_contact_split *sp = NULL;
	struct cf_identity *C = NULL;
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	uint8_t *slot = NULL;
	size_t len = 0;
	uint32_t e = 0;
	int r;

	if (!m->c || !m->acct->name) {
		cf_log_err("recovery contacts need a key vault account");
		return CF_E_CONFIG;
	}
	r = check_names(m, names, n);
	if (!r)
		r = cf_modes_load(m, &p);
	if (r)
		goto out;
	if (n == 0) {
		r = contacts_remove_all(m, &p);
		goto out;
	}
	r = cf_contacts_split_new(&sp, k, (unsigned)n);
	if (!r)
		r = cf_identity_from_seed(&C, cf_secbuf_data(sp->seed));
	if (r)
		goto out;
	cf_modes_base_rec(m, p, &rec, "contacts-set");
	rec.has_contacts = 1;
	cf_identity_public(C, &rec.contacts);
	rec.k = k;
	rec.n = (unsigned)n;
	for (size_t i = 0; i < n; i++)
		snprintf(rec.names[i], sizeof(rec.names[i]), "%s", names[i]);
	if (dropping(&p->rec, names, n))
		r = cf_modes_rotate(m, &p, &rec, p->roster->ids, p->roster->n, &e, NULL);
	if (!r)
		r = cf_slots_contacts_create(&slot, &len, rid(m), cfgh(m), p->current, k,
					     (unsigned)n, cf_secbuf_data(sp->seed),
					     cf_secbuf_data(sp->share),
					     (const uint8_t(*)[32])cf_secbuf_data(sp->secrets));
	if (!r)
		r = cf_slotlist_store(m->s->repo, p->slots, slot, len);
	if (!r)
		r = cf_protect_seal_epochs(p, C, &rec.contacts);
	if (!r) {
		r = cf_kvapi_share_put(m->c, rid(m), p->current, cf_secbuf_data(sp->share),
				       CF_SERVER_SHARE_BYTES);
		if (r)
			cf_account_report(m->c, r, "store the key vault's share");
	}
	for (size_t i = 0; i < n && !r; i++)
		r = send_share(m, sp, (unsigned)i, names[i], p->current);
	if (!r) {
		rec.contacts_epoch = p->current;
		rec.escrowed = p->has_record && p->rec.escrowed;
		r = cf_protect_put_record(p, p->current, &rec);
	}
	if (r)
		goto out;
	if (e)
		cf_change_say(m->ch, "%s: a contact was dropped, so new key epoch %u is given only to"
			      " the new set.", url(m), e);
	cf_change_say(m->ch, "%s: recovery contacts are now %u of %zu (", url(m), k, n);
	for (size_t i = 0; i < n; i++) {
		char *l = m->ch->line[m->ch->n - 1];
		size_t o = strlen(l);
		snprintf(l + o, sizeof(m->ch->line[0]) - o, "%s%s", i ? ", " : "", names[i]);
	}
	if (m->ch->n) {
		char *l = m->ch->line[m->ch->n - 1];
		size_t o = strlen(l);
		snprintf(l + o, sizeof(m->ch->line[0]) - o,
			 "). Each got a share sealed to their devices; the key vault keeps a share"
			 " that is useless alone and is released only with your password.");
	}
out:
	free(slot);
	cf_identity_free(C);
	cf_contacts_split_free(sp);
	cf_protect_free(p);
	return r;
}

/* ---- trusted devices ------------------------------------------------------------------ */

int cf_modes_device_add(struct cf_modes_ctx *m, const struct cf_pubid *dev)
{
	struct cf_protect *p = NULL;
	struct cf_pubid *ids = NULL;
	char fpr[CF_FINGERPRINT_LEN];
	int r = cf_modes_load(m, &p);

	if (r)
		return r;
	cf_pubid_fingerprint(dev, fpr);
	r = cf_protect_seal_epochs(p, cf_keychain_identity(m->s->kc), dev);
	if (!r && !cf_roster_contains(p->roster, dev)) {
		ids = calloc(p->roster->n + 1, sizeof(*ids));
		r = ids ? 0 : -ENOMEM;
		if (!r) {
			memcpy(ids, p->roster->ids, p->roster->n * sizeof(*ids));
			ids[p->roster->n] = *dev;
			r = cf_protect_put_roster(p, ids, p->roster->n + 1);
		}
	}
	if (!r)
		cf_change_say(m->ch, "%s: device %s is trusted: it was given the keys of epochs"
			      " 1-%u.", url(m), fpr, p->current);
	free(ids);
	cf_protect_free(p);
	return r;
}

int cf_modes_device_remove(struct cf_modes_ctx *m, const struct cf_pubid *dev)
{
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	struct cf_pubid me, *ids = NULL;
	char fpr[CF_FINGERPRINT_LEN];
	size_t n = 0;
	uint32_t e = 0;
	int r = cf_modes_load(m, &p);

	if (r)
		return r;
	cf_pubid_fingerprint(dev, fpr);
	cf_identity_public(cf_keychain_identity(m->s->kc), &me);
	if (cf_pubid_equal(dev, &me)) {
		cf_log_err("a device cannot remove itself from %s: remove it from another device",
			   url(m));
		r = CF_E_INVAL;
	} else if (!cf_roster_contains(p->roster, dev)) {
		cf_log_err("device %s is not trusted by %s", fpr, url(m));
		r = CF_E_NOTFOUND;
	}
	ids = r ? NULL : calloc(p->roster->n, sizeof(*ids));
	if (!r && !ids)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < p->roster->n; i++)
		if (!cf_pubid_equal(&p->roster->ids[i], dev))
			ids[n++] = p->roster->ids[i];
	if (!r) {
		cf_modes_base_rec(m, p, &rec, "device-remove");
		r = cf_modes_rotate(m, &p, &rec, ids, n, &e, NULL);
	}
	if (!r)
		cf_change_say(m->ch, "%s: device %s removed. New key epoch %u is sealed only to the"
			      " %zu remaining device(s) and the recovery methods: the removed"
			      " device can read no snapshot made from now on.", url(m), fpr, e, n);
	free(ids);
	cf_protect_free(p);
	return r;
}

int cf_modes_attach_new(struct cf_session *s)
{
	struct cf_account *a = NULL;
	struct cf_change ch = {0};
	struct cf_modes_ctx m = {.s = s, .ch = &ch};
	int r = cf_account_load(&a, s->state_dir);

	if (r || !a->server || a->device <= 0)
		goto out;
	m.acct = a;
	if (cf_account_connect(&m.c, a, s->kc, NULL, NULL) == 0)
		r = cf_modes_standard(&m);
	else
		r = CF_E_NETWORK;
	if (r)
		cf_log_warn("%s is not escrowed with the key vault yet: run 'keyvault mode standard"
			    " --repo %s' to finish",
			    cf_repo_url(s->repo), cf_repo_url(s->repo));
	else
		for (unsigned i = 0; i < ch.n; i++)
			cf_log_info("%s", ch.line[i]);
	cf_kvclient_free(m.c);
	r = r == -ENOMEM ? r : 0;
out:
	cf_account_free(a);
	return r;
}
