/* SPDX-License-Identifier: ISC */
/*
 * Recovery on a device that holds no key of the repository (keyvault/recovery.h;
 * docs/protection-modes.md, "Recovery"). The methods fill a keyring from slots they can
 * authenticate (recovery-key slots, the contacts identity's own base slots, the escrowed
 * key that must open its epoch's roster), then cf_protect_follow walks to the newest
 * epoch by the chain rule. becoming_trusted() finishes.
 */
#include "keyvault/recovery.h"
#include "keyvault/recovery_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/recoverykey.h"
#include "keyvault/account.h"
#include "keyvault/kvapi.h"
#include "keyvault/protect.h"
#include "keyvault/unreadable.h"
#include "keyvault/witness.h"
#include "repo/keyslot.h"
#include "util/log.h"

/* What the repository offers, in words (slot headers are visible to anyone). */
void cf_recovery_describe(const struct cf_rec *x, char *buf, size_t len)
{
	int rk = 0, ct = 0;
	unsigned k = 0, n = 0;
	struct cf_keyslot ks;

	for (size_t i = 0; i < x->sl->n; i++) {
		if (cf_keyslot_parse(&ks, x->sl->b[i], x->sl->len[i]) != 0)
			continue;
		rk |= ks.kind == CF_SLOT_RECOVERY_KEY;
		if (ks.kind == CF_SLOT_CONTACTS &&
		    cf_slots_contacts_info(x->sl->b[i], x->sl->len[i], &k, &n, NULL) == 0)
			ct = 1;
	}
	if (rk && ct)
		snprintf(buf, len, "its recovery key, or %u of its %u recovery contacts with the"
			 " account password", k, n);
	else if (rk)
		snprintf(buf, len, "its recovery key");
	else if (ct)
		snprintf(buf, len, "%u of its %u recovery contacts with the account password", k, n);
	else
		snprintf(buf, len, "the account password (if it uses standard protection)");
}

/* ---- recovery key ------------------------------------------------------------------- */

static int by_recovery_key(struct cf_rec *x)
{
	struct cf_secbuf *rk = NULL, *kek = NULL;
	struct cf_identity *R = NULL;
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	enum cf_argon2_params set;
	unsigned bad = 0, added = 0;
	char why[128];
	int r, base = 0;

	r = cf_recoverykey_parse(&rk, x->o->recovery_key, &bad);
	if (r == CF_E_CHECKSUM || (r == CF_E_FORMAT && bad)) {
		cf_recoverykey_describe(why, sizeof(why), bad);
		cf_log_err("the recovery key has a typo: %s", why);
		return r;
	}
	if (r == CF_E_FORMAT)
		cf_log_err("that is not a recovery key: it has 7 groups of 5 characters");
	if (r)
		return r;
	for (size_t i = 0; i < x->sl->n && !r; i++) {
		struct cf_secbuf *mk = NULL;
		uint32_t epoch = 0;
		uint8_t s2[CF_ARGON2_SALT_BYTES];
		if (cf_keyslot_recovery_params(x->sl->b[i], x->sl->len[i], s2, &set, NULL) != 0)
			continue;
		if (!kek || memcmp(s2, salt, sizeof(salt)) != 0) {
			cf_secbuf_free(kek);
			kek = NULL;
			memcpy(salt, s2, sizeof(salt));
			r = cf_keyslot_recovery_kek(&kek, cf_secbuf_data(rk), salt, set);
			if (r)
				break;
		}
		if (cf_keyslot_recovery_open_kek(&mk, &epoch, cf_secbuf_data(kek), rid(x), cfg(x),
						 x->sl->b[i], x->sl->len[i]) != 0)
			continue;
		r = cf_keyring_add(x->ring, epoch, cf_secbuf_data(mk), 0);
		cf_secbuf_free(mk);
		if (!r && !R) {
			cf_identity_free(R);
			r = cf_protect_rk_identity(&R, cf_secbuf_data(kek));
		}
		base++;
	}
	if (!r && !base) {
		cf_log_err("this recovery key opens nothing in %s: it belongs to another repository,"
			   " or it was rotated or removed",
			   cf_repo_url(x->repo));
		r = CF_E_NOTFOUND;
	}
	if (!r)
		r = cf_protect_follow(x->ring, R, x->sl, rid(x), cfg(x), &added);
	cf_identity_free(R);
	cf_secbuf_free(kek);
	cf_secbuf_free(rk);
	if (!r)
		x->res->method = "recovery-key";
	return r;
}

/* ---- password (escrow) ---------------------------------------------------------------- */

/* Follow the links down from every epoch held. */
static int follow_links(struct cf_rec *x)
{
	struct cf_keyslot ks;
	int again = 1, r = 0;

	while (again && !r) {
		again = 0;
		for (size_t i = 0; i < x->sl->n && !r; i++) {
			struct cf_secbuf *mk = NULL;
			uint32_t prev = 0;
			if (cf_keyslot_parse(&ks, x->sl->b[i], x->sl->len[i]) != 0 ||
			    ks.kind != CF_SLOT_LINK || !cf_keyring_get(x->ring, ks.epoch))
				continue;
			if (cf_slots_link_open(&mk, &prev, x->ring, rid(x), cfg(x), x->sl->b[i],
					       x->sl->len[i]) != 0)
				continue;
			if (!cf_keyring_get(x->ring, prev)) {
				r = cf_keyring_add(x->ring, prev, cf_secbuf_data(mk), 0);
				again = 1;
			}
			cf_secbuf_free(mk);
		}
	}
	return r;
}

static int by_password(struct cf_rec *x)
{
	struct cf_secbuf *key = NULL;
	struct cf_roster *ro = NULL;
	uint32_t epoch = 0;
	char what[256];
	int r;

	r = cf_kvapi_escrow_get(x->c, rid(x), &epoch, &key);
	if (r == CF_E_NOTFOUND) {
		cf_recovery_describe(x, what, sizeof(what));
		cf_log_err("the key vault holds no key for this repository (%s): it uses advanced"
			   " protection, or it was never attached to this account. Recover it with"
			   " %s",
			   cf_kvclient_error_code(x->c), what);
		return CF_E_NOTFOUND;
	}
	if (r) {
		cf_account_report(x->c, r, "get the escrowed key");
		return r;
	}
	r = cf_keyring_add(x->ring, epoch, cf_secbuf_data(key), 1);
	cf_secbuf_free(key);
	if (!r && cf_protect_roster_of(x->sl, x->ring, rid(x), cfg(x), epoch, &ro) != 0) {
		cf_log_err("the key the key vault released does not open epoch %u of %s", epoch,
			   cf_repo_url(x->repo));
		r = CF_E_AUTH;
	}
	cf_roster_free(ro);
	if (!r)
		r = follow_links(x);
	if (!r)
		x->res->method = "password";
	return r;
}

/* ---- finishing ------------------------------------------------------------------------ */

static int keep_keys(struct cf_rec *x)
{
	const struct cf_repokeys *cur = cf_keyring_current(x->ring);
	uint32_t top = cur ? cf_repokeys_epoch(cur) : 0;
	int r = 0;

	for (uint32_t e = 1; e <= top && !r; e++) {
		const struct cf_repokeys *k = cf_keyring_get(x->ring, e);
		if (!k)
			continue;
		r = cf_keychain_repo_put_key(x->kc, rid(x), e, cf_repokeys_master(k), e == top);
		x->res->epochs++;
	}
	x->res->current = top;
	return r ? r : cf_keychain_save(x->kc);
}

/* This device's slots for every epoch, a roster naming it, a place in the directory. */
static int become_trusted(struct cf_rec *x, struct cf_session *s)
{
	const struct cf_identity *me = cf_keychain_identity(s->kc);
	struct cf_protect *p = NULL;
	struct cf_pubid pub, *ids = NULL;
	int r = cf_protect_load(&p, s);

	cf_identity_public(me, &pub);
	if (!r)
		r = cf_protect_seal_epochs(p, me, &pub);
	if (!r && !cf_roster_contains(p->roster, &pub)) {
		ids = calloc(p->roster->n + 1, sizeof(*ids));
		r = ids ? 0 : -ENOMEM;
		if (!r) {
			memcpy(ids, p->roster->ids, p->roster->n * sizeof(*ids));
			ids[p->roster->n] = pub;
			r = cf_protect_put_roster(p, ids, p->roster->n + 1);
		}
	}
	cf_protect_free(p);
	free(ids);
	if (!r && x->c && x->auth_key) {
		int64_t dev = 0;
		int d = cf_kvapi_device_add(x->c, &pub, "recovered device", "recovery", x->auth_key,
					    &dev);
		if (!d) {
			x->acct->device = dev;
		} else if (d == CF_E_EXISTS && x->acct->device > 0) {
			cf_log_warn("this device stays pending in the account's directory until a"
				    " trusted device approves it (keyvault device approve)");
		} else {
			cf_account_report(x->c, d, "add this device to the account's directory");
		}
	}
	if (!r && x->acct) {
		if (cf_account_remember_repo(x->acct, rid(x), cf_repo_url(x->repo)) < 0)
			r = -ENOMEM;
		if (!r)
			r = cf_account_save(x->acct);
	}
	return r;
}

static int finish(struct cf_rec *x)
{
	struct cf_session_opts so = {.repo_url = x->o->repo_url,
				     .state_dir = x->o->state_dir,
				     .cache_dir = x->o->cache_dir,
				     .passphrase_file = x->o->passphrase_file};
	struct cf_session *s = NULL;
	int r = keep_keys(x);

	if (!r)
		r = cf_session_open(&s, &so);
	if (!r)
		r = cf_session_load_snapshots(s);
	if (!r && x->c)
		r = cf_witness_check(x->c, s);
	if (r == CF_E_UNTRUSTED)
		r = 0;
	if (!r)
		x->res->unreadable = cf_unreadable_describe(s, x->res->unreadable_text,
							    sizeof(x->res->unreadable_text));
	if (!r)
		r = become_trusted(x, s);
	cf_session_free(s);
	return r;
}

/* ---- setting up ------------------------------------------------------------------------ */

static int setup(struct cf_rec *x, const struct cf_recovery_opts *o)
{
	struct cf_repo_opts ro = {.url = o->repo_url, .cache_dir = o->cache_dir};
	struct cf_secbuf *pass = NULL;
	int r;

	r = cf_session_read_passphrase(o->passphrase_file, &pass);
	if (!r) {
		const char *p = pass ? (const char *)cf_secbuf_data(pass) : NULL;
		r = cf_keychain_open(&x->kc, o->state_dir, p);
		if (r == CF_E_NOTFOUND)
			r = cf_keychain_create(&x->kc, o->state_dir, p);
	}
	cf_secbuf_free(pass);
	if (!r)
		r = cf_account_load(&x->acct, o->state_dir);
	if (!r && o->server && o->account &&
	    (!x->acct->server || strcmp(x->acct->server, o->server) != 0 ||
	     strcmp(x->acct->name, o->account) != 0)) {
		free(x->acct->server);
		free(x->acct->name);
		x->acct->server = strdup(o->server);
		x->acct->name = strdup(o->account);
		x->acct->device = 0;
		r = x->acct->server && x->acct->name ? cf_account_save(x->acct) : -ENOMEM;
	}
	if (!r)
		r = cf_repo_open(&x->repo, &ro);
	if (!r)
		r = cf_slotlist_load(&x->sl, x->repo);
	if (!r)
		r = cf_keyring_new(&x->ring);
	if (!r && o->password && x->acct->server) {
		r = cf_kvclient_new(&x->c, x->acct->server);
		if (!r)
			r = cf_account_login(x->c, x->acct->name, o->password, &x->auth_key);
		if (r)
			cf_account_report(x->c, r, "log in to the key vault");
	} else if (!r && o->password) {
		cf_log_err("a password was given but no key vault account: add --server URL"
			   " --account NAME");
		r = CF_E_CONFIG;
	}
	return r;
}

int cf_recovery_run(const struct cf_recovery_opts *oo, struct cf_recovery_result *res)
{
	struct cf_recovery_opts opts = *oo, *o = &opts;
	struct cf_rec x = {.o = o, .res = res};
	char *sd = NULL, *cd = NULL, what[256];
	uint32_t cur = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->method = "none";
	if (!o->state_dir)
		o->state_dir = sd = cf_session_default_dir("STATE");
	if (!o->cache_dir)
		o->cache_dir = cd = cf_session_default_dir("CACHE");
	r = o->state_dir && o->cache_dir ? cf_core_init() : -ENOMEM;
	if (!r && o->recovery_key) { /* a typo is named before any storage or network use */
		struct cf_secbuf *bin = NULL;
		unsigned bad = 0;
		char why[128];
		r = cf_recoverykey_parse(&bin, o->recovery_key, &bad);
		cf_secbuf_free(bin);
		cf_recoverykey_describe(why, sizeof(why), bad);
		if (r)
			cf_log_err("the recovery key %s", bad ? why : "is not 7 groups of 5 characters");
	}
	if (!r)
		r = setup(&x, o);
	if (!r && cf_keychain_repo_current(x.kc, rid(&x), &cur) == 0) {
		res->method = "device";
		res->current = cur;
		goto out; /* this device holds keys already: a plain restore */
	}
	if (!r && !o->recovery_key && !o->ncontacts && !o->password) {
		cf_recovery_describe(&x, what, sizeof(what));
		cf_log_err("nothing to recover with: this device holds no key of %s. It can be"
			   " recovered with %s",
			   cf_repo_url(x.repo), what);
		r = CF_E_NOTFOUND;
	}
	if (!r && o->ncontacts && !x.c) {
		cf_log_err("recovery contacts need the account password too (it releases the key"
			   " vault's share)");
		r = CF_E_CONFIG;
	}
	if (!r && o->recovery_key)
		r = by_recovery_key(&x);
	else if (!r && o->ncontacts)
		r = cf_recovery_contacts(&x);
	else if (!r)
		r = by_password(&x);
	if (!r)
		r = finish(&x);
out:
	cf_keyring_free(x.ring);
	cf_slotlist_free(x.sl);
	cf_repo_free(x.repo);
	cf_secbuf_free(x.auth_key);
	cf_kvclient_free(x.c);
	cf_account_free(x.acct);
	cf_keychain_free(x.kc);
	free(sd);
	free(cd);
	return r;
}
