/* SPDX-License-Identifier: ISC */
/*
 * Recovery with k contacts (keyvault/recovery.h; docs/protection-modes.md, "Recovery
 * contacts"): register as a pending device, mail the requests, collect the releases, get
 * the server share with the password, open the contacts slot, then C's base slots and
 * the chain rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "keyvault/contacts.h"
#include "keyvault/kvapi.h"
#include "keyvault/protect.h"
#include "keyvault/recovery_impl.h"
#include "repo/keyslot.h"
#include "util/log.h"

/* The newest contacts slot: its index in x->sl, or -1. */
static long newest_contacts_slot(const struct cf_rec *x, unsigned *k, unsigned *n)
{
	uint32_t best = 0, e;
	long at = -1;

	for (size_t i = 0; i < x->sl->n; i++)
		if (cf_slots_contacts_info(x->sl->b[i], x->sl->len[i], k, n, &e) == 0 && e >= best) {
			best = e;
			at = (long)i;
		}
	if (at >= 0)
		cf_slots_contacts_info(x->sl->b[at], x->sl->len[at], k, n, NULL);
	return at;
}

/* This device in the account's directory (pending when new), the session bound to it. */
static int ensure_device(struct cf_rec *x)
{
	struct cf_pubid me;
	int r = 0;

	cf_identity_public(cf_keychain_identity(x->kc), &me);
	if (x->acct->device <= 0) {
		r = cf_kvapi_device_add(x->c, &me, "recovering device", "request", NULL,
					&x->acct->device);
		if (r) {
			cf_account_report(x->c, r, "register this device with the key vault");
			return r;
		}
		r = cf_account_save(x->acct);
	}
	if (!r)
		r = cf_account_bind(x->c, x->kc, x->acct->device);
	if (r)
		cf_account_report(x->c, r, "identify this device to the key vault");
	return r;
}

static int post_requests(struct cf_rec *x, unsigned done_mask)
{
	const struct cf_identity *me = cf_keychain_identity(x->kc);
	int r = 0;

	for (size_t i = 0; i < x->o->ncontacts && !r; i++) {
		struct cf_contact_msg m = {0};
		struct cf_kvdevice *devs = NULL;
		struct cf_pubid *to = NULL;
		uint8_t *env = NULL;
		size_t n = 0, len = 0;
		(void)done_mask;
		r = cf_kvapi_directory(x->c, x->o->contacts[i], &devs, &n);
		if (r) {
			cf_account_report(x->c, r, x->o->contacts[i]);
			break;
		}
		to = calloc(n ? n : 1, sizeof(*to));
		for (size_t j = 0; to && j < n; j++)
			to[j] = devs[j].identity;
		memcpy(m.repo_id, rid(x), 32);
		m.device = (uint64_t)x->acct->device;
		snprintf(m.name, sizeof(m.name), "%s", x->acct->name);
		r = !to ? -ENOMEM : n == 0 ? CF_E_NOTFOUND : 0;
		if (r == CF_E_NOTFOUND)
			cf_log_err("recovery contact %s has no active device", x->o->contacts[i]);
		if (!r)
			r = cf_contacts_request_seal(&env, &len, me, to, n, &m);
		if (!r)
			r = cf_kvapi_mail_post(x->c, x->o->contacts[i], 0, "recovery-request", env,
					       len);
		if (r && r != CF_E_NOTFOUND)
			cf_account_report(x->c, r, "send the recovery request");
		free(env);
		free(to);
		free(devs);
	}
	return r;
}

/* Releases in the mailbox for this repository: secrets by index, and who sent them. */
static int collect_releases(struct cf_rec *x, uint8_t (*secrets)[32], unsigned *have, json_t **ids)
{
	const struct cf_identity *me = cf_keychain_identity(x->kc);
	json_t *msgs = NULL, *m;
	size_t i;
	int r = cf_kvapi_mail_list(x->c, "contact-release", &msgs);

	if (r) {
		cf_account_report(x->c, r, "read the mailbox");
		return r;
	}
	*ids = json_array();
	json_array_foreach(msgs, i, m)
	{
		struct cf_contact_msg rel = {0};
		struct cf_pubid sender;
		uint8_t *env = NULL;
		size_t len = 0;
		if (cf_kvapi_identity(json_string_value(json_object_get(m, "from_identity")),
				      &sender) != 0 ||
		    cf_kvapi_mail_envelope(m, &env, &len) != 0)
			continue;
		if (cf_contacts_release_open(&rel, me, &sender, 1, env, len) == 0 &&
		    memcmp(rel.repo_id, rid(x), 32) == 0 && rel.index < CF_CONTACTS_MAX) {
			memcpy(secrets[rel.index], cf_secbuf_data(rel.secret), 32);
			if (!(*have & (1u << rel.index))) {
				size_t o = strlen(x->res->released_by);
				snprintf(x->res->released_by + o, sizeof(x->res->released_by) - o,
					 "%s%s", o ? ", " : "", rel.name);
			}
			*have |= 1u << rel.index;
			json_array_append(*ids, json_object_get(m, "id"));
		}
		cf_contact_msg_clear(&rel);
		free(env);
	}
	json_decref(msgs);
	return 0;
}

static int contacts_base(struct cf_rec *x, long at, const uint8_t (*secrets)[32], unsigned have)
{
	struct cf_secbuf *share = NULL, *seed = NULL;
	struct cf_identity *C = NULL;
	struct cf_pubid cpub;
	struct cf_keyslot ks;
	int64_t remaining = -1;
	unsigned added = 0;
	int r, base = 0;

	r = cf_kvapi_share_release(x->c, rid(x), x->auth_key, &share, &remaining);
	if (r) {
		cf_account_report(x->c, r, "get the key vault's share");
		return r;
	}
	if (cf_secbuf_len(share) != CF_SERVER_SHARE_BYTES)
		r = CF_E_FORMAT;
	if (!r)
		r = cf_slots_contacts_open(&seed, rid(x), cfg(x), x->sl->b[at], x->sl->len[at],
					   cf_secbuf_data(share), secrets, have);
	if (r == CF_E_AUTH)
		cf_log_err("the contacts' secrets and the key vault's share do not open the contacts"
			   " slot (a share from an older split?)");
	if (!r)
		r = cf_identity_from_seed(&C, cf_secbuf_data(seed));
	if (!r)
		cf_identity_public(C, &cpub);
	for (size_t i = 0; i < x->sl->n && !r; i++) {
		struct cf_secbuf *mk = NULL;
		uint32_t e = 0;
		if (cf_keyslot_parse(&ks, x->sl->b[i], x->sl->len[i]) != 0 || ks.kind != CF_SLOT_DEVICE)
			continue;
		if (cf_keyslot_device_open(&mk, &e, C, &cpub, 1, rid(x), cfg(x), x->sl->b[i],
					   x->sl->len[i]) != 0)
			continue;
		r = cf_keyring_add(x->ring, e, cf_secbuf_data(mk), 0);
		cf_secbuf_free(mk);
		base++;
	}
	if (!r && !base)
		r = CF_E_NOTFOUND;
	if (!r)
		r = cf_protect_follow(x->ring, C, x->sl, rid(x), cfg(x), &added);
	cf_identity_free(C);
	cf_secbuf_free(seed);
	cf_secbuf_free(share);
	return r;
}

int cf_recovery_contacts(struct cf_rec *x)
{
	uint8_t(*secrets)[32] = cf_secmem_alloc(CF_CONTACTS_MAX * 32);
	struct cf_pubid me;
	json_t *ids = NULL, *v;
	unsigned have = 0;
	size_t i;
	long at;
	int r;

	if (!secrets)
		return -ENOMEM;
	cf_identity_public(cf_keychain_identity(x->kc), &me);
	cf_contacts_code(&me, rid(x), x->res->code);
	at = newest_contacts_slot(x, &x->res->k, &x->res->n);
	r = at < 0 ? CF_E_NOTFOUND : ensure_device(x);
	if (at < 0)
		cf_log_err("%s has no recovery contacts", cf_repo_url(x->repo));
	if (!r)
		r = collect_releases(x, secrets, &have, &ids);
	x->res->released = 0;
	for (unsigned b = have; b; b &= b - 1)
		x->res->released++;
	if (!r && x->res->released < x->res->k) {
		r = post_requests(x, have);
		x->res->waiting = 1;
		if (!r) {
			cf_log_err("%u of %u recovery contacts must help; %u released so far%s%s%s."
				   " Ask them to run 'keyvault contact help' and compare this code:"
				   " %s",
				   x->res->k, x->res->n, x->res->released, have ? " (" : "",
				   x->res->released_by, have ? ")" : "", x->res->code);
			r = CF_E_NOTFOUND;
		}
	}
	if (!r)
		r = contacts_base(x, at, (const uint8_t(*)[32])secrets, have);
	if (!r) {
		x->res->method = "contacts";
		json_array_foreach(ids, i, v) cf_kvapi_mail_delete(x->c, json_integer_value(v));
	}
	json_decref(ids);
	cf_secmem_free(secrets);
	return r;
}

