/* SPDX-License-Identifier: ISC */
/* keyvault init, password change, account delete, audit, recover. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/kdf.h"
#include "keyvault/kvapi.h"
#include "keyvault/kv_cli.h"
#include "keyvault/protect.h"
#include "keyvault/recovery.h"
#include "keyvault/witness.h"
#include "util/cli.h"
#include "util/log.h"

static void device_strings(const struct cf_keychain *kc, char fpr[CF_FINGERPRINT_LEN], char *b64,
			   size_t len)
{
	struct cf_pubid pub;
	uint8_t enc[CF_PUBID_ENCODED_BYTES];

	cf_identity_public(cf_keychain_identity(kc), &pub);
	cf_pubid_fingerprint(&pub, fpr);
	cf_pubid_encode(&pub, enc);
	cf_encode_b64(b64, len, enc, sizeof(enc));
}

static int init_local(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_secbuf *pass = NULL;
	char fpr[CF_FINGERPRINT_LEN], b64[256];
	int r, rc = KV_OK;

	r = cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE, CF_CLI_PASS_TRAILING,
				   &pass);
	if (r) {
		kv_fail(o, r, "passphrase %s%s%s", o->pass_file ? "file " : "from COFFER_PASSPHRASE",
			o->pass_file ? o->pass_file : "",
			r == CF_E_CONFIG ? " (empty, longer than 4096 bytes, or binary)" : "");
		return KV_USAGE;
	}
	r = cf_keychain_create(&kc, o->state_dir, pass ? (const char *)cf_secbuf_data(pass) : NULL);
	cf_secbuf_free(pass);
	if (r)
		return kv_fail(o, r, "create keychain %s/%s", o->state_dir, CF_KEYCHAIN_FILE);
	device_strings(kc, fpr, b64, sizeof(b64));
	if (o->json) {
		if (cf_cli_print_json(json_pack("{s:s,s:s,s:s,s:s,s:b}", "fingerprint", fpr,
						"public_identity", b64, "state_dir", o->state_dir,
						"keychain", cf_keychain_path(kc), "passphrase",
						cf_keychain_has_passphrase(kc))))
			rc = kv_fail(NULL, -ENOMEM, "JSON output");
	} else {
		printf("Created keychain %s (passphrase: %s)\n", cf_keychain_path(kc),
		       cf_keychain_has_passphrase(kc) ? "yes" : "no");
		printf("Device fingerprint: %s\n", fpr);
	}
	cf_keychain_free(kc);
	return rc;
}

/* The keychain, created when absent (init with an account reuses an existing one). */
static int keychain_any(const struct kv_opts *o, struct cf_keychain **kc, int *created)
{
	struct cf_secbuf *pass = NULL;
	int r = cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE,
				       CF_CLI_PASS_TRAILING, &pass);

	if (r) {
		kv_fail(o, r, "keychain passphrase");
		return KV_USAGE;
	}
	*created = 0;
	r = cf_keychain_open(kc, o->state_dir, pass ? (const char *)cf_secbuf_data(pass) : NULL);
	if (r == CF_E_NOTFOUND) {
		r = cf_keychain_create(kc, o->state_dir,
				       pass ? (const char *)cf_secbuf_data(pass) : NULL);
		*created = !r;
	}
	cf_secbuf_free(pass);
	return r ? kv_fail(o, r, "keychain in %s", o->state_dir) : KV_OK;
}

int kv_cmd_init(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_secbuf *pw = NULL;
	struct cf_pubid pub;
	char fpr[CF_FINGERPRINT_LEN], b64[256];
	int created = 0, rc, r;

	if (o->local && (o->server || o->account))
		return kv_usage(o, "--local and --server/--account exclude each other");
	if (o->local)
		return init_local(o);
	if (!o->server || !o->account)
		return kv_usage(o, "give --local (this device only) or --server URL and --account"
				   " NAME");
	rc = kv_password(o, &pw);
	if (!rc && !pw)
		rc = kv_usage(o, "the new account's password: --password-file FILE or COFFER_PASSWORD");
	if (!rc)
		rc = keychain_any(o, &kc, &created);
	if (rc)
		goto out;
	r = cf_account_load(&a, o->state_dir);
	if (!r && a->server) {
		rc = kv_fail(o, CF_E_EXISTS, "this device already belongs to account %s at %s",
			     a->name, a->server);
		goto out;
	}
	if (!r)
		r = cf_kvclient_new(&c, o->server);
	if (!r) {
		r = cf_account_create_remote(c, o->account, (const char *)cf_secbuf_data(pw), NULL);
		if (r == CF_E_EXISTS)
			cf_log_err("account %s exists: on a new device, join it with 'keyvault device"
				   " add' (a trusted device approves) or recover with 'restore"
				   " recover'", o->account);
		else if (r)
			cf_account_report(c, r, "create the account");
	}
	cf_identity_public(cf_keychain_identity(kc), &pub);
	if (!r) {
		r = cf_kvapi_device_add(c, &pub, o->label, "first", NULL, &a->device);
		if (r)
			cf_account_report(c, r, "register this device");
	}
	if (!r) {
		a->server = strdup(o->server);
		a->name = strdup(o->account);
		r = a->server && a->name ? cf_account_save(a) : -ENOMEM;
	}
	if (r) {
		rc = kv_fail(o, r, "create account %s at %s", o->account, o->server);
		goto out;
	}
	device_strings(kc, fpr, b64, sizeof(b64));
	if (o->json) {
		cf_cli_print_json(json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:I,s:b}", "fingerprint", fpr,
					    "public_identity", b64, "state_dir", o->state_dir,
					    "keychain", cf_keychain_path(kc), "passphrase",
					    cf_keychain_has_passphrase(kc), "account", o->account,
					    "server", o->server, "device", (json_int_t)a->device,
					    "keychain_created", created));
	} else {
		printf("%s keychain %s (passphrase: %s)\n", created ? "Created" : "Using",
		       cf_keychain_path(kc), cf_keychain_has_passphrase(kc) ? "yes" : "no");
		printf("Device fingerprint: %s\n", fpr);
		printf("Created account %s at %s; this device is device #%lld.\n", o->account,
		       o->server, (long long)a->device);
		printf("New repositories use standard protection: the key vault keeps a copy of their"
		       " key, so the account password alone can recover them ('keyvault mode"
		       " advanced' changes that).\n");
	}
out:
	cf_kvclient_free(c);
	cf_secbuf_free(pw);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

int kv_cmd_password(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_secbuf *ak = NULL, *npw = NULL, *nk = NULL, *body = NULL;
	uint8_t salt[16];
	json_t *resp = NULL;
	int rc, r;

	if (o->nargs != 1 || strcmp(o->args[0], "change") != 0)
		return kv_usage(o, "say 'keyvault password change'");
	if (!o->new_password_file)
		return kv_usage(o, "--new-password-file FILE is required");
	r = cf_account_read_password(o->new_password_file, &npw);
	if (r || !npw)
		return kv_fail(o, r ? r : CF_E_CONFIG, "new password file %s", o->new_password_file);
	rc = kv_keychain(o, &kc);
	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc)
		rc = kv_connect(o, a, kc, 1, &c, &ak);
	if (rc)
		goto out;
	cf_core_random(salt, sizeof(salt));
	r = cf_secbuf_new(&nk, 32);
	if (!r)
		r = cf_kdf_argon2id(cf_secbuf_data(nk), 32, cf_secbuf_data(npw),
				    strlen((const char *)cf_secbuf_data(npw)), salt,
				    CF_ARGON2_INTERACTIVE);
	if (!r) {
		const char *names[3] = {"auth_key", "salt", "new_auth_key"};
		const uint8_t *vals[3] = {cf_secbuf_data(ak), salt, cf_secbuf_data(nk)};
		size_t lens[3] = {32, 16, 32};
		r = cf_account_secret_body(&body, 3, names, vals, lens,
					   "\"kdf\":{\"opslimit\":2,\"memlimit\":67108864}");
	}
	if (!r)
		r = cf_kvclient_call_secret(c, "PUT", "/v1/account/password",
					    (const char *)cf_secbuf_data(body), cf_secbuf_len(body),
					    &resp, NULL);
	if (r) {
		cf_account_report(c, r, "change the password");
		rc = kv_fail(o, r, "change the password of %s", a->name);
		goto out;
	}
	if (o->json)
		cf_cli_print_json(json_pack("{s:s,s:O}", "account", a->name, "sessions_revoked",
					    json_object_get(resp, "sessions_revoked")));
	else
		printf("The password of account %s was changed; %lld other session(s) were logged"
		       " out. Escrowed keys and contact shares are unchanged.\n", a->name,
		       (long long)json_integer_value(json_object_get(resp, "sessions_revoked")));
out:
	json_decref(resp);
	cf_secbuf_free(body);
	cf_secbuf_free(nk);
	cf_secbuf_free(npw);
	cf_secbuf_free(ak);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

/* After the account is gone, each repository's record says so (no escrow from now on). */
static void mark_local(const struct kv_opts *o, struct cf_account *a)
{
	for (size_t i = 0; i < a->nrepos; i++) {
		struct cf_session_opts so;
		struct cf_session *s = NULL;
		struct cf_protect *p = NULL;
		kv_session_opts(o, a->repos[i].url, &so);
		if (cf_session_open(&s, &so) == 0 && cf_protect_load(&p, s) == 0 && p->has_record) {
			struct cf_protection rec = p->rec;
			rec.mode = rec.mode == CF_MODE_STANDARD ? CF_MODE_LOCAL : rec.mode;
			rec.escrowed = 0;
			rec.server[0] = rec.account[0] = 0;
			snprintf(rec.reason, sizeof(rec.reason), "account-delete");
			if (cf_protect_put_record(p, p->current, &rec) != 0)
				cf_log_warn("%s: its protection record still names the account",
					    a->repos[i].url);
		}
		cf_protect_free(p);
		cf_session_free(s);
	}
}

int kv_cmd_account(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	struct cf_secbuf *ak = NULL, *body = NULL;
	json_t *resp = NULL, *d;
	int rc, r;

	if (o->nargs != 1 || strcmp(o->args[0], "delete") != 0)
		return kv_usage(o, "say 'keyvault account delete --yes'");
	if (!o->yes)
		return kv_usage(o, "deleting the account cannot be undone: add --yes");
	rc = kv_keychain(o, &kc);
	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc)
		rc = kv_connect(o, a, kc, 1, &c, &ak);
	if (rc)
		goto out;
	{
		const char *names[1] = {"auth_key"};
		const uint8_t *vals[1] = {cf_secbuf_data(ak)};
		size_t lens[1] = {32};
		r = cf_account_secret_body(&body, 1, names, vals, lens, NULL);
	}
	if (!r)
		r = cf_kvclient_call_secret(c, "DELETE", "/v1/account", (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), &resp, NULL);
	if (r) {
		cf_account_report(c, r, "delete the account");
		rc = kv_fail(o, r, "delete account %s", a->name);
		goto out;
	}
	d = json_object_get(resp, "deleted");
	if (!o->json)
		printf("Deleted account %s at %s: %lld escrowed key(s), %lld contact share(s), %lld"
		       " witness(es), %lld device(s), %lld message(s) and %lld audit entries are gone"
		       " from the key vault.\n", a->name, a->server,
		       (long long)json_integer_value(json_object_get(d, "escrow_records")),
		       (long long)json_integer_value(json_object_get(d, "contact_shares")),
		       (long long)json_integer_value(json_object_get(d, "witnesses")),
		       (long long)json_integer_value(json_object_get(d, "devices")),
		       (long long)json_integer_value(json_object_get(d, "messages")),
		       (long long)json_integer_value(json_object_get(d, "audit_entries")));
	mark_local(o, a);
	free(a->server);
	free(a->name);
	a->server = a->name = NULL;
	a->device = 0;
	r = cf_account_save(a);
	if (o->json)
		cf_cli_print_json(json_pack("{s:O}", "deleted", d));
	if (r)
		rc = kv_fail(o, r, "update the account record");
out:
	json_decref(resp);
	cf_secbuf_free(body);
	cf_secbuf_free(ak);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

int kv_cmd_audit(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	json_t *all = json_array(), *resp = NULL, *e;
	json_int_t since = 0, last = 0;
	char path[96], line[512];
	size_t i;
	int rc, r = 0;

	rc = kv_keychain(o, &kc);
	if (!rc && (r = cf_account_load(&a, o->state_dir)) != 0)
		rc = kv_fail(o, r, "account record");
	if (!rc)
		rc = kv_connect(o, a, kc, 0, &c, NULL);
	while (!rc) {
		snprintf(path, sizeof(path), "/v1/audit?since=%lld&limit=500", (long long)since);
		r = cf_kvclient_call(c, "GET", path, NULL, &resp, NULL);
		if (r) {
			cf_account_report(c, r, "read the audit log");
			rc = kv_fail(o, r, "audit log of %s", a->name);
			break;
		}
		json_array_extend(all, json_object_get(resp, "entries"));
		last = json_integer_value(json_object_get(resp, "last"));
		if (json_array_size(json_object_get(resp, "entries")) < 500 || last <= since)
			break;
		since = last;
		json_decref(resp);
		resp = NULL;
	}
	if (!rc && o->json) {
		cf_cli_print_json(json_pack("{s:O}", "entries", all));
	} else if (!rc) {
		printf("Audit log of account %s (%zu entries):\n", a->name, json_array_size(all));
		json_array_foreach(all, i, e)
		{
			cf_audit_describe(e, line, sizeof(line));
			printf("  %s\n", line);
		}
	}
	json_decref(resp);
	json_decref(all);
	cf_kvclient_free(c);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}

int kv_cmd_recover(const struct kv_opts *o)
{
	struct cf_recovery_opts ro = {0};
	struct cf_recovery_result res;
	struct cf_secbuf *pw = NULL, *rk = NULL;
	int rc, r;

	if (!o->repo)
		return kv_usage(o, "--repo URL is required");
	if ((o->server != NULL) != (o->account != NULL))
		return kv_usage(o, "--server and --account go together");
	rc = kv_password(o, &pw);
	if (rc)
		return rc;
	if (o->recovery_key_file &&
	    (r = cf_cli_read_passphrase(o->recovery_key_file, 1024, CF_CLI_PASS_TRAILING, &rk))) {
		cf_secbuf_free(pw);
		return kv_fail(o, r, "recovery key file %s", o->recovery_key_file);
	}
	ro.repo_url = o->repo;
	ro.state_dir = o->state_dir;
	ro.cache_dir = o->cache_dir;
	ro.passphrase_file = o->pass_file;
	ro.server = o->server;
	ro.account = o->account;
	ro.password = pw ? (const char *)cf_secbuf_data(pw) : NULL;
	ro.recovery_key = rk ? (const char *)cf_secbuf_data(rk) : NULL;
	ro.contacts = o->contacts;
	ro.ncontacts = o->ncontacts;
	r = cf_recovery_run(&ro, &res);
	cf_secbuf_free(pw);
	cf_secbuf_free(rk);
	if (res.waiting && !o->json)
		printf("Waiting for recovery contacts: %u of %u needed, %u released%s%s%s.\n"
		       "Code to compare with them: %s\n", res.k, res.n, res.released,
		       res.released ? " (by " : "", res.released_by, res.released ? ")" : "",
		       res.code);
	if (o->json)
		cf_cli_print_json(json_pack("{s:s,s:I,s:I,s:b,s:s,s:I,s:I,s:I}", "method", res.method,
					    "epochs", (json_int_t)res.epochs, "current",
					    (json_int_t)res.current, "waiting", res.waiting, "code",
					    res.code, "k", (json_int_t)res.k, "n", (json_int_t)res.n,
					    "released", (json_int_t)res.released));
	if (r)
		return kv_fail(NULL, r, "recover %s", o->repo);
	if (!o->json)
		printf("Recovered the keys of %s with %s: %u epoch(s); this device is now trusted"
		       " and writes under epoch %u.\n", o->repo, res.method, res.epochs, res.current);
	if (!o->json && res.unreadable)
		printf("%s\n", res.unreadable_text);
	return KV_OK;
}
