/* SPDX-License-Identifier: ISC */
/* keyvault mode, recovery-key, device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/recoverykey.h"
#include "keyvault/kvapi.h"
#include "keyvault/kv_cli.h"
#include "keyvault/kv_ctx.h"
#include "keyvault/slotlist.h"
#include "util/cli.h"
#include "util/log.h"

int kv_ctx_open(const struct kv_opts *o, const char *url, struct kv_ctx *k, int need_password)
{
	int r, rc;

	memset(k, 0, sizeof(*k));
	k->m.ch = &k->ch;
	r = cf_account_load(&k->acct, o->state_dir);
	if (r)
		return kv_fail(o, r, "read the account record in %s", o->state_dir);
	k->m.acct = k->acct;
	kv_session_opts(o, url, &k->m.so);
	r = cf_session_open(&k->m.s, &k->m.so);
	if (r)
		return kv_fail(o, r, "open %s", url);
	if (!k->acct->server)
		return need_password ? kv_fail(o, CF_E_CONFIG, "this needs a key vault account") : 0;
	rc = kv_connect(o, k->acct, k->m.s->kc, need_password, &k->m.c, &k->ak);
	k->m.auth_key = k->ak;
	return rc;
}

void kv_ctx_close(struct kv_ctx *k)
{
	cf_session_free(k->m.s);
	cf_kvclient_free(k->m.c);
	cf_secbuf_free(k->ak);
	cf_account_free(k->acct);
}

int kv_cmd_mode(const struct kv_opts *o)
{
	struct kv_ctx k;
	struct cf_account *a = NULL;
	const char *url;
	int rc, r, adv;

	if (o->nargs != 1 || (strcmp(o->args[0], "standard") && strcmp(o->args[0], "advanced")))
		return kv_usage(o, "say 'keyvault mode standard' or 'keyvault mode advanced'");
	adv = strcmp(o->args[0], "advanced") == 0;
	if (!adv && o->history)
		return kv_usage(o, "the history options belong to 'mode advanced'");
	if ((r = cf_account_load(&a, o->state_dir)) != 0)
		return kv_fail(o, r, "read the account record");
	url = kv_repo_url(o, a);
	if (!url) {
		cf_account_free(a);
		return KV_USAGE;
	}
	rc = kv_ctx_open(o, url, &k, 0);
	if (!rc) {
		r = adv ? cf_modes_advanced(&k.m, o->history) : cf_modes_standard(&k.m);
		if (r == CF_E_CONFIG && adv && !o->history)
			rc = KV_USAGE;
		else if (r)
			rc = kv_fail(o, r, "switch %s to %s protection", url, o->args[0]);
	}
	if (!rc || k.ch.n)
		kv_print_changes(o, &k.ch, NULL);
	kv_ctx_close(&k);
	cf_account_free(a);
	return rc;
}

int kv_cmd_recovery_key(const struct kv_opts *o)
{
	struct cf_secbuf *text = NULL, *typed = NULL;
	struct cf_account *a = NULL;
	struct kv_ctx k;
	const char *sub = o->nargs == 1 ? o->args[0] : "";
	char *url;
	int rc, r;

	if (strcmp(sub, "create") && strcmp(sub, "verify") && strcmp(sub, "rotate") &&
	    strcmp(sub, "remove"))
		return kv_usage(o, "say create, verify, rotate or remove");
	if (!strcmp(sub, "verify") && !o->recovery_key_file)
		return kv_usage(o, "verify reads the key from --recovery-key-file FILE ('-': stdin)");
	if ((r = cf_account_load(&a, o->state_dir)) != 0)
		return kv_fail(o, r, "read the account record");
	url = kv_repo_url(o, a) ? strdup(kv_repo_url(o, a)) : NULL;
	cf_account_free(a);
	if (!url)
		return KV_USAGE;
	if (o->recovery_key_file &&
	    (r = cf_cli_read_passphrase(o->recovery_key_file, 1024, CF_CLI_PASS_TRAILING, &typed))) {
		rc = kv_fail(o, r, "recovery key file %s", o->recovery_key_file);
		free(url);
		return rc;
	}
	if (typed && !strcmp(sub, "verify")) {
		/* a typo is named before anything else is opened */
		struct cf_secbuf *bin = NULL;
		unsigned bad = 0;
		char why[128];
		r = cf_recoverykey_parse(&bin, (const char *)cf_secbuf_data(typed), &bad);
		cf_secbuf_free(bin);
		if (r) {
			cf_recoverykey_describe(why, sizeof(why), bad);
			rc = kv_fail(o, r, "recovery key: %s", bad ? why : "not 7 groups of 5 characters");
			cf_secbuf_free(typed);
			free(url);
			return rc;
		}
	}
	rc = kv_ctx_open(o, url, &k, 0);
	if (!rc) {
		if (!strcmp(sub, "verify"))
			r = cf_modes_rk_verify(&k.m, (const char *)cf_secbuf_data(typed));
		else if (!strcmp(sub, "remove"))
			r = cf_modes_rk_remove(&k.m);
		else
			r = cf_modes_rk_create(&k.m, &text);
		if (r)
			rc = kv_fail(o, r, "recovery-key %s for %s", sub, url);
	}
	if (!rc && text && !o->json)
		printf("Recovery key: %s\n", (const char *)cf_secbuf_data(text));
	if (!rc || k.ch.n)
		kv_print_changes(o, &k.ch,
				 text && o->json ? json_pack("{s:s}", "recovery_key",
							     (const char *)cf_secbuf_data(text))
						 : NULL);
	cf_secbuf_free(text);
	cf_secbuf_free(typed);
	kv_ctx_close(&k);
	free(url);
	return rc;
}

/* ---- device --------------------------------------------------------------------------- */

static int same_fpr(const char *typed, const struct cf_pubid *id)
{
	char fpr[CF_FINGERPRINT_LEN], a[64], b[64];
	size_t na = 0, nb = 0;

	cf_pubid_fingerprint(id, fpr);
	for (const char *p = typed; *p && na < sizeof(a) - 1; p++)
		if (*p >= '0' && *p <= '9')
			a[na++] = *p;
	for (const char *p = fpr; *p && nb < sizeof(b) - 1; p++)
		if (*p >= '0' && *p <= '9')
			b[nb++] = *p;
	return na == nb && memcmp(a, b, na) == 0;
}

static int device_list(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_kvdevice *d = NULL;
	struct cf_pubid me;
	char fpr[CF_FINGERPRINT_LEN];
	json_t *arr = json_array();
	size_t n = 0;
	int rc = kv_keychain(o, &kc), r;

	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc)
		rc = kv_connect(o, a, kc, 0, &c, NULL);
	if (!rc && (r = cf_kvapi_devices(c, &d, &n)) != 0) {
		cf_account_report(c, r, "list the devices");
		rc = kv_fail(o, r, "devices of %s", a->name);
	}
	if (!rc)
		cf_identity_public(cf_keychain_identity(kc), &me);
	for (size_t i = 0; !rc && i < n; i++) {
		int self = cf_pubid_equal(&d[i].identity, &me);
		cf_pubid_fingerprint(&d[i].identity, fpr);
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:b}", "id", (json_int_t)d[i].id,
						     "state", d[i].state, "fingerprint", fpr, "label",
						     d[i].label, "this_device", self));
		if (!o->json)
			printf("#%-4lld %-8s %s  %s%s\n", (long long)d[i].id, d[i].state, fpr,
			       d[i].label, self ? "  (this device)" : "");
	}
	if (!rc && o->json)
		cf_cli_print_json(json_pack("{s:O}", "devices", arr));
	json_decref(arr);
	free(d);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

/* On a new device: ask to join; once approved, take the keys of --repo. */
static int device_add(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_kvdevice *d = NULL;
	struct cf_pubid me;
	char fpr[CF_FINGERPRINT_LEN];
	size_t n = 0;
	int rc, r, active = 0;

	rc = kv_keychain(o, &kc);
	if (rc == KV_FAIL && (r = cf_keychain_create(&kc, o->state_dir, NULL)) == 0)
		rc = KV_OK;
	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc && !a->server) {
		if (!o->server || !o->account)
			return kv_usage(o, "--server URL and --account NAME say which account to join");
		a->server = strdup(o->server);
		a->name = strdup(o->account);
		if (!a->server || !a->name || cf_account_save(a) != 0)
			rc = kv_fail(o, -ENOMEM, "account record");
	}
	if (!rc)
		rc = kv_connect(o, a, kc, a->device <= 0, &c, NULL);
	if (rc)
		goto out;
	cf_identity_public(cf_keychain_identity(kc), &me);
	cf_pubid_fingerprint(&me, fpr);
	if (a->device <= 0) {
		r = cf_kvapi_device_add(c, &me, o->label, "request", NULL, &a->device);
		if (!r)
			r = cf_account_save(a);
		if (r) {
			cf_account_report(c, r, "ask to join");
			rc = kv_fail(o, r, "join account %s", a->name);
			goto out;
		}
		printf("Asked to join account %s as device #%lld. On a trusted device run:\n"
		       "  keyvault device approve %lld --fingerprint '%s'\n"
		       "then run 'keyvault device add --repo URL' here again.\n", a->name,
		       (long long)a->device, (long long)a->device, fpr);
		goto out;
	}
	r = cf_kvapi_devices(c, &d, &n);
	for (size_t i = 0; !r && i < n; i++)
		active |= d[i].id == a->device && strcmp(d[i].state, "active") == 0;
	if (!r && !active) {
		printf("Device #%lld (%s) is still waiting for approval by a trusted device.\n",
		       (long long)a->device, fpr);
		rc = KV_FAIL;
	} else if (!r && o->repo) {
		rc = kv_adopt_keys(o, kc, a, d, n);
	} else if (!r) {
		printf("Device #%lld is approved. Run again with --repo URL to receive a"
		       " repository's keys.\n", (long long)a->device);
	} else {
		cf_account_report(c, r, "list the devices");
		rc = kv_fail(o, r, "devices of %s", a->name);
	}
out:
	free(d);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

/* Every repository this command applies to: --repo, else all the account record knows. */
static int each_repo(const struct kv_opts *o, const struct cf_account *a, const struct cf_pubid *dev,
		     int remove)
{
	int rc = KV_OK;

	for (size_t i = 0; i < (o->repo ? 1 : a->nrepos) && rc == KV_OK; i++) {
		const char *url = o->repo ? o->repo : a->repos[i].url;
		struct kv_ctx k;
		int r;
		rc = kv_ctx_open(o, url, &k, 0);
		if (!rc) {
			r = remove ? cf_modes_device_remove(&k.m, dev) : cf_modes_device_add(&k.m, dev);
			if (r == CF_E_NOTFOUND && remove && !o->repo)
				r = 0; /* not trusted by this one: nothing to do */
			if (r)
				rc = kv_fail(o, r, "%s", url);
		}
		kv_print_changes(o, &k.ch, NULL);
		kv_ctx_close(&k);
	}
	return rc;
}

static int device_change(const struct kv_opts *o, int remove)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_kvdevice *d = NULL, *t = NULL;
	size_t n = 0;
	uint64_t id = 0;
	int rc, r;

	if (o->nargs != 2)
		return kv_usage(o, "which device? %s ID%s", o->args[0], remove ? "|FINGERPRINT" : "");
	if (!remove && !o->fingerprint)
		return kv_usage(o, "compare fingerprints first: --fingerprint 'FPR' as the new device"
				   " shows it");
	rc = kv_keychain(o, &kc);
	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc)
		rc = kv_connect(o, a, kc, 0, &c, NULL);
	if (!rc && (r = cf_kvapi_devices(c, &d, &n)) != 0) {
		cf_account_report(c, r, "list the devices");
		rc = kv_fail(o, r, "devices of %s", a->name);
	}
	if (rc)
		goto out;
	cf_cli_parse_uint(o->args[1], 1, INT64_MAX, &id);
	for (size_t i = 0; i < n; i++)
		if ((id && d[i].id == (int64_t)id) ||
		    (!id && strcmp(d[i].state, "removed") && same_fpr(o->args[1], &d[i].identity)))
			t = &d[i];
	if (!t) {
		rc = kv_fail(o, CF_E_NOTFOUND, "device %s in account %s", o->args[1], a->name);
		goto out;
	}
	if (!remove && !same_fpr(o->fingerprint, &t->identity)) {
		rc = kv_fail(o, CF_E_UNTRUSTED, "device #%lld: its fingerprint is not the one given:"
						" nothing was approved", (long long)t->id);
		goto out;
	}
	r = remove ? cf_kvapi_device_remove(c, t->id)
		   : strcmp(t->state, "pending") == 0 ? cf_kvapi_device_approve(c, t->id) : 0;
	if (r) {
		cf_account_report(c, r, remove ? "remove the device" : "approve the device");
		rc = kv_fail(o, r, "device #%lld", (long long)t->id);
		goto out;
	}
	if (!o->json)
		printf("Device #%lld %s in account %s.\n", (long long)t->id,
		       remove ? "removed from the directory" : "approved", a->name);
	rc = each_repo(o, a, &t->identity, remove);
out:
	free(d);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

int kv_cmd_device(const struct kv_opts *o)
{
	const char *sub = o->nargs >= 1 ? o->args[0] : "";

	if (!strcmp(sub, "list") && o->nargs == 1)
		return device_list(o);
	if (!strcmp(sub, "add") && o->nargs == 1)
		return device_add(o);
	if (!strcmp(sub, "approve"))
		return device_change(o, 0);
	if (!strcmp(sub, "remove"))
		return device_change(o, 1);
	return kv_usage(o, "say list, add, approve ID or remove ID");
}
