/* SPDX-License-Identifier: ISC */
/*
 * keyvault contact (both sides: setting up one's own recovery contacts, and being a
 * recovery contact for others), and taking a repository's keys on a newly approved
 * device. The shares a contact keeps for others live in <state-dir>/guardian (0600):
 * each as the sealed envelope it arrived in (only this device can open it), with who
 * sent it (docs/protection-modes.md, "Recovery contacts").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/keyfile.h"
#include "keyvault/contacts.h"
#include "keyvault/kv_ctx.h"
#include "keyvault/protect.h"
#include "keyvault/slotlist.h"
#include "util/cli.h"
#include "util/log.h"

#define GUARDIAN_FILE "guardian"
#define GUARDIAN_MAX 256

static char *guardian_path(const struct kv_opts *o)
{
	char *p = NULL;

	return asprintf(&p, "%s/%s", o->state_dir, GUARDIAN_FILE) < 0 ? NULL : p;
}

static json_t *guardian_load(const struct kv_opts *o)
{
	struct cf_secbuf *b = NULL;
	char *path = guardian_path(o);
	json_t *j = NULL;
	int r = path ? cf_keyfile_read(path, &b) : -ENOMEM;

	if (r == CF_E_NOTFOUND)
		j = json_pack("{s:[]}", "shares");
	else if (!r)
		j = json_loadb((const char *)cf_secbuf_data(b), cf_secbuf_len(b), 0, NULL);
	if (j && !json_is_array(json_object_get(j, "shares"))) {
		json_decref(j);
		j = NULL;
	}
	if (!j)
		cf_log_err("%s: unreadable (%s)", path ? path : GUARDIAN_FILE,
			   r ? cf_strerror(r) : "not a share list");
	cf_secbuf_free(b);
	free(path);
	return j;
}

static int guardian_save(const struct kv_opts *o, json_t *g)
{
	char *path = guardian_path(o), *text = json_dumps(g, JSON_INDENT(2));
	int r = path && text ? cf_keyfile_write(path, text, strlen(text), 0) : -ENOMEM;

	free(path);
	free(text);
	return r;
}

/* The active devices of account @name as identities. */
static int devices_of(struct cf_kvclient *c, const char *name, struct cf_pubid **ids, size_t *n)
{
	struct cf_kvdevice *d = NULL;
	int r = cf_kvapi_directory(c, name, &d, n);

	if (r)
		return r;
	*ids = calloc(*n ? *n : 1, sizeof(**ids));
	for (size_t i = 0; *ids && i < *n; i++)
		(*ids)[i] = d[i].identity;
	free(d);
	return *ids ? 0 : -ENOMEM;
}

/* Move newly mailed shares into the guardian file. Returns how many arrived, or < 0. */
static int fetch_shares(const struct kv_opts *o, struct cf_kvclient *c,
			const struct cf_keychain *kc, json_t *g)
{
	json_t *msgs = NULL, *m;
	size_t i;
	int got = 0, r = cf_kvapi_mail_list(c, "contact-share", &msgs);

	if (r) {
		cf_account_report(c, r, "read the mailbox");
		return r < 0 ? r : -EIO;
	}
	json_array_foreach(msgs, i, m)
	{
		const char *from = json_string_value(json_object_get(m, "from_account"));
		struct cf_contact_msg msg = {0};
		struct cf_pubid *ids = NULL;
		uint8_t *env = NULL;
		size_t n = 0, len = 0;
		char hex[CF_HEX_LEN(32)], sender[256];
		uint8_t enc[CF_PUBID_ENCODED_BYTES];
		if (from && devices_of(c, from, &ids, &n) == 0 &&
		    cf_kvapi_mail_envelope(m, &env, &len) == 0 &&
		    cf_contacts_share_open(&msg, cf_keychain_identity(kc), ids, n, env, len) == 0 &&
		    strcmp(msg.name, from) == 0 && json_array_size(json_object_get(g, "shares")) < GUARDIAN_MAX) {
			cf_encode_hex(hex, msg.repo_id, 32);
			cf_pubid_encode(&msg.sender, enc);
			cf_encode_b64(sender, sizeof(sender), enc, sizeof(enc));
			json_array_append_new(
			    json_object_get(g, "shares"),
			    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:O,s:I}", "owner", from, "repo", hex,
				      "index", (json_int_t)msg.index, "k", (json_int_t)msg.k, "n",
				      (json_int_t)msg.n, "epoch", (json_int_t)msg.epoch, "sender",
				      sender, "envelope", json_object_get(m, "envelope"), "received",
				      (json_int_t)time(NULL)));
			got++;
			cf_kvapi_mail_delete(c, json_integer_value(json_object_get(m, "id")));
		} else {
			cf_log_warn("a share from %s could not be verified: ignored",
				    from ? from : "a deleted account");
		}
		cf_contact_msg_clear(&msg);
		free(env);
		free(ids);
	}
	json_decref(msgs);
	if (got && guardian_save(o, g) != 0)
		return -EIO;
	return got;
}

/* The newest share kept for (@owner, @repo_hex), or NULL. */
static json_t *share_for(json_t *g, const char *owner, const char *repo_hex)
{
	json_t *best = NULL, *s;
	size_t i;

	json_array_foreach(json_object_get(g, "shares"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "owner")), owner) ||
		    strcmp(json_string_value(json_object_get(s, "repo")), repo_hex))
			continue;
		if (!best || json_integer_value(json_object_get(s, "received")) >=
				 json_integer_value(json_object_get(best, "received")))
			best = s;
	}
	return best;
}

/* Release the share @s to the requesting device: open it, reseal it to @to only. */
static int release(struct cf_kvclient *c, const struct cf_keychain *kc, json_t *s,
		   const struct cf_pubid *to, const char *owner, int64_t to_device, const char *me)
{
	struct cf_contact_msg share = {0}, rel = {0};
	struct cf_pubid sender;
	uint8_t *env = NULL, *out = NULL;
	size_t len = 0, olen = 0;
	int r = cf_kvapi_identity(json_string_value(json_object_get(s, "sender")), &sender);

	if (!r)
		r = cf_kvapi_mail_envelope(s, &env, &len);
	if (!r)
		r = cf_contacts_share_open(&share, cf_keychain_identity(kc), &sender, 1, env, len);
	if (!r) {
		rel.index = share.index;
		memcpy(rel.repo_id, share.repo_id, 32);
		snprintf(rel.name, sizeof(rel.name), "%s", me);
		rel.secret = share.secret;
		share.secret = NULL;
		r = cf_contacts_release_seal(&out, &olen, cf_keychain_identity(kc), to, &rel);
	}
	if (!r) {
		r = cf_kvapi_mail_post(c, owner, to_device, "contact-release", out, olen);
		if (r)
			cf_account_report(c, r, "send the released share");
	}
	cf_contact_msg_clear(&share);
	cf_contact_msg_clear(&rel);
	free(env);
	free(out);
	return r;
}

/* Answer the recovery requests in the mailbox whose code is @code (NULL: just list). */
static int help(const struct kv_opts *o, struct cf_kvclient *c, const struct cf_keychain *kc,
		const struct cf_account *a, json_t *g)
{
	json_t *msgs = NULL, *m;
	size_t i;
	int r = cf_kvapi_mail_list(c, "recovery-request", &msgs), asked = 0, released = 0;

	if (r) {
		cf_account_report(c, r, "read the mailbox");
		return kv_fail(o, r, "recovery requests");
	}
	json_array_foreach(msgs, i, m)
	{
		const char *from = json_string_value(json_object_get(m, "from_account"));
		struct cf_contact_msg req = {0};
		struct cf_pubid who;
		uint8_t *env = NULL;
		size_t len = 0;
		char hex[CF_HEX_LEN(32)], code[CF_CONTACT_CODE_LEN];
		json_t *s;
		if (!from ||
		    cf_kvapi_identity(json_string_value(json_object_get(m, "from_identity")), &who) ||
		    cf_kvapi_mail_envelope(m, &env, &len) ||
		    cf_contacts_request_open(&req, cf_keychain_identity(kc), &who, 1, env, len) ||
		    strcmp(req.name, from) != 0) {
			free(env);
			continue;
		}
		free(env);
		cf_encode_hex(hex, req.repo_id, 32);
		s = share_for(g, from, hex);
		if (!s) {
			printf("%s asks for help, but you keep no share for them (repository %.12s).\n",
			       from, hex);
			continue;
		}
		asked++;
		cf_contacts_code(&who, req.repo_id, code);
		if (!o->code) {
			printf("%s asks for help recovering repository %.12s on a new device.\n"
			       "Call them, ask for the code their new device shows, and run:\n"
			       "  keyvault contact help --code 'CODE'\n", from, hex);
			continue;
		}
		if (!cf_contacts_code_equal(o->code, code))
			continue;
		r = release(c, kc, s, &who, from,
			    json_integer_value(json_object_get(m, "from_device")), a->name);
		if (r)
			break;
		released++;
		printf("Released your share to %s's new device (the code matched). Only that device"
		       " can open it.\n", from);
		cf_kvapi_mail_delete(c, json_integer_value(json_object_get(m, "id")));
	}
	json_decref(msgs);
	if (r)
		return kv_fail(o, r, "help");
	if (!asked)
		printf("Nobody you protect has asked for help.\n");
	if (o->code && asked && !released) {
		fprintf(stderr, "keyvault: the code does not match any request: nothing was"
				" released\n");
		return KV_FAIL;
	}
	return KV_OK;
}

static int guardian_list(const struct kv_opts *o, json_t *g)
{
	json_t *s;
	size_t i;

	if (o->json)
		return 0;
	printf("You are a recovery contact for %zu repository(ies):\n",
	       json_array_size(json_object_get(g, "shares")));
	json_array_foreach(json_object_get(g, "shares"), i, s)
	printf("  %s (repository %.12s): contact %lld of %lld, %lld needed\n",
	       json_string_value(json_object_get(s, "owner")),
	       json_string_value(json_object_get(s, "repo")),
	       (long long)json_integer_value(json_object_get(s, "index")) + 1,
	       (long long)json_integer_value(json_object_get(s, "n")),
	       (long long)json_integer_value(json_object_get(s, "k")));
	return 0;
}

/* contact list / help: the guardian side (and, for list, one's own contacts). */
static int guardian_cmd(const struct kv_opts *o, int is_help)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	json_t *g = NULL;
	int rc = kv_keychain(o, &kc), r;

	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc && !(g = guardian_load(o)))
		rc = KV_FAIL;
	if (!rc && a->server)
		rc = kv_connect(o, a, kc, 0, &c, NULL);
	if (!rc && c && fetch_shares(o, c, kc, g) < 0)
		rc = kv_fail(o, CF_E_IO, "store the shares received");
	if (!rc && is_help && !c)
		rc = kv_fail(o, CF_E_CONFIG, "helping needs this device's key vault account");
	if (!rc && is_help)
		rc = help(o, c, kc, a, g);
	else if (!rc)
		rc = guardian_list(o, g);
	if (!rc && !is_help && o->json)
		cf_cli_print_json(json_pack("{s:O}", "protecting", json_object_get(g, "shares")));
	json_decref(g);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

/* contact add / remove: the owner's side. */
static int contacts_change(const struct kv_opts *o, int add)
{
	const char *names[CF_CONTACTS_MAX];
	struct cf_protect *p = NULL;
	struct cf_account *a = NULL;
	struct kv_ctx k;
	char *url;
	size_t n = 0;
	unsigned kk;
	int rc, r;

	if (o->nargs < 2)
		return kv_usage(o, "name the contacts: %s NAME...", add ? "add" : "remove");
	if ((r = cf_account_load(&a, o->state_dir)) != 0)
		return kv_fail(o, r, "account record");
	url = kv_repo_url(o, a) ? strdup(kv_repo_url(o, a)) : NULL;
	cf_account_free(a);
	if (!url)
		return KV_USAGE;
	rc = kv_ctx_open(o, url, &k, 0);
	if (!rc && (r = cf_protect_load(&p, k.m.s)) != 0)
		rc = kv_fail(o, r, "key slots of %s", url);
	for (unsigned i = 0; !rc && p->rec.has_contacts && i < p->rec.n; i++) {
		int drop = 0;
		for (int j = 1; j < o->nargs; j++)
			drop |= strcmp(o->args[j], p->rec.names[i]) == 0;
		if (add || !drop)
			names[n++] = p->rec.names[i];
	}
	for (int j = 1; !rc && add && j < o->nargs; j++) {
		int dup = 0;
		for (size_t i = 0; i < n; i++)
			dup |= strcmp(names[i], o->args[j]) == 0;
		if (!dup && n >= CF_CONTACTS_MAX)
			rc = kv_usage(o, "at most %d recovery contacts", CF_CONTACTS_MAX);
		else if (!dup)
			names[n++] = o->args[j];
	}
	kk = o->threshold ? o->threshold
	     : p && p->rec.has_contacts && p->rec.k <= n ? p->rec.k
						       : (unsigned)(n + 1) / 2;
	if (!rc && n && (kk < 1 || kk > n))
		rc = kv_usage(o, "--threshold must be between 1 and %zu", n);
	if (!rc && (r = cf_modes_contacts_set(&k.m, names, n, kk)) != 0)
		rc = kv_fail(o, r, "recovery contacts of %s", url);
	if (!rc || k.ch.n)
		kv_print_changes(o, &k.ch, NULL);
	cf_protect_free(p);
	kv_ctx_close(&k);
	free(url);
	return rc;
}

int kv_cmd_contact(const struct kv_opts *o)
{
	const char *sub = o->nargs >= 1 ? o->args[0] : "";

	if (!strcmp(sub, "add") || !strcmp(sub, "remove"))
		return contacts_change(o, !strcmp(sub, "add"));
	if ((!strcmp(sub, "list") || !strcmp(sub, "help")) && o->nargs == 1)
		return guardian_cmd(o, !strcmp(sub, "help"));
	return kv_usage(o, "say add NAME..., remove NAME..., list or help");
}

int kv_adopt_keys(const struct kv_opts *o, struct cf_keychain *kc, struct cf_account *a,
		  const struct cf_kvdevice *d, size_t n)
{
	struct cf_repo_opts ro = {.url = o->repo, .cache_dir = o->cache_dir};
	struct cf_pubid *senders = calloc(n ? n : 1, sizeof(*senders));
	struct cf_repo *repo = NULL;
	struct cf_slotlist *sl = NULL;
	struct cf_keyring *ring = NULL;
	char *cd = o->cache_dir ? NULL : cf_session_default_dir("CACHE");
	size_t ns = 0;
	unsigned got = 0, added = 0;
	int r;

	if (!o->cache_dir)
		ro.cache_dir = cd;
	for (size_t i = 0; senders && i < n; i++)
		if (!strcmp(d[i].state, "active"))
			senders[ns++] = d[i].identity;
	r = senders && ro.cache_dir ? cf_repo_open(&repo, &ro) : -ENOMEM;
	if (!r)
		r = cf_slotlist_load(&sl, repo);
	if (!r)
		r = cf_keyring_new(&ring);
	for (size_t i = 0; !r && i < sl->n; i++) {
		struct cf_secbuf *mk = NULL;
		uint32_t e = 0;
		if (cf_keyslot_device_open(&mk, &e, cf_keychain_identity(kc), senders, ns,
					   cf_repo_id(repo), cf_repo_config_hash(repo), sl->b[i],
					   sl->len[i]) != 0)
			continue;
		r = cf_keyring_add(ring, e, cf_secbuf_data(mk), 0);
		cf_secbuf_free(mk);
		got++;
	}
	if (!r && !got) {
		cf_log_err("no key of %s was given to this device yet: approve it on a trusted device"
			   " that uses this repository", o->repo);
		r = CF_E_NOTFOUND;
	}
	if (!r)
		r = cf_protect_follow(ring, cf_keychain_identity(kc), sl, cf_repo_id(repo),
				      cf_repo_config_hash(repo), &added);
	for (uint32_t e = 1; !r && cf_keyring_current(ring) &&
			     e <= cf_repokeys_epoch(cf_keyring_current(ring));
	     e++)
		if (cf_keyring_get(ring, e))
			r = cf_keychain_repo_put_key(kc, cf_repo_id(repo), e,
						     cf_repokeys_master(cf_keyring_get(ring, e)),
						     e == cf_repokeys_epoch(cf_keyring_current(ring)));
	if (!r)
		r = cf_keychain_save(kc);
	if (!r && cf_account_remember_repo(a, cf_repo_id(repo), cf_repo_url(repo)) == 1)
		r = cf_account_save(a);
	if (!r)
		printf("This device now holds the keys of %s (epochs up to %u) and can back up and"
		       " restore it.\n", cf_repo_url(repo),
		       cf_repokeys_epoch(cf_keyring_current(ring)));
	cf_keyring_free(ring);
	cf_slotlist_free(sl);
	cf_repo_free(repo);
	free(senders);
	free(cd);
	return r ? kv_fail(o, r, "take the keys of %s", o->repo) : KV_OK;
}
