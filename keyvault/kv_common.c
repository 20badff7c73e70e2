/* SPDX-License-Identifier: ISC */
/* Helpers shared by the keyvault commands (keyvault/kv_cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "keyvault/kv_cli.h"
#include "util/cli.h"
#include "util/log.h"

int kv_fail(const struct kv_opts *o, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cf_cli_vreport("keyvault", o && o->json, err, fmt, ap);
	va_end(ap);
	/* a keychain from a newer format version is a failure (1), not configuration */
	return err == CF_E_VERSION ? KV_FAIL : rc;
}

int kv_usage(const struct kv_opts *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cf_cli_complain("keyvault", o->cmd, "%s", msg);
}

int kv_keychain(const struct kv_opts *o, struct cf_keychain **kc)
{
	struct cf_secbuf *pass = NULL;
	int r;

	r = cf_cli_read_passphrase(o->pass_file, CF_KEYCHAIN_MAX_PASSPHRASE, CF_CLI_PASS_TRAILING,
				   &pass);
	if (r) {
		kv_fail(o, r, "passphrase %s%s%s", o->pass_file ? "file " : "from COFFER_PASSPHRASE",
			o->pass_file ? o->pass_file : "",
			r == CF_E_CONFIG ? " (empty, longer than 4096 bytes, or binary)" : "");
		return KV_USAGE;
	}
	r = cf_keychain_open(kc, o->state_dir, pass ? (const char *)cf_secbuf_data(pass) : NULL);
	if (r) {
		int rc = kv_fail(o, r, "open keychain %s/%s%s", o->state_dir, CF_KEYCHAIN_FILE,
				 r == CF_E_NOTFOUND ? " (create one with 'keyvault init')"
				 : r == CF_E_AUTH && !pass
				     ? " (passphrase required: use --passphrase-file or"
				       " COFFER_PASSPHRASE)"
				     : "");
		cf_secbuf_free(pass);
		return rc;
	}
	cf_secbuf_free(pass);
	return KV_OK;
}

int kv_password(const struct kv_opts *o, struct cf_secbuf **pw)
{
	int r = cf_account_read_password(o->password_file, pw);

	if (r)
		return kv_fail(o, r, "account password%s%s", o->password_file ? " file " : "",
			       o->password_file ? o->password_file : "");
	return KV_OK;
}

int kv_connect(const struct kv_opts *o, const struct cf_account *a, const struct cf_keychain *kc,
	       int need_password, struct cf_kvclient **c, struct cf_secbuf **auth_key)
{
	struct cf_secbuf *pw = NULL;
	int rc = kv_password(o, &pw), r;

	if (rc)
		return rc;
	if (!a->server || !a->name) {
		cf_secbuf_free(pw);
		return kv_fail(o, CF_E_CONFIG, "this device has no key vault account (keyvault init"
					       " --server URL --account NAME)");
	}
	if (need_password && !pw)
		return kv_usage(o, "the account password is needed: --password-file FILE or"
				   " COFFER_PASSWORD");
	r = cf_account_connect(c, a, kc, pw ? (const char *)cf_secbuf_data(pw) : NULL, auth_key);
	cf_secbuf_free(pw);
	if (r)
		return kv_fail(o, r, "log in to the key vault %s as %s", a->server, a->name);
	return KV_OK;
}

const char *kv_repo_url(const struct kv_opts *o, const struct cf_account *a)
{
	if (o->repo)
		return o->repo;
	if (a && a->nrepos == 1)
		return a->repos[0].url;
	if (a && a->nrepos > 1)
		kv_usage(o, "this device knows %zu repositories: choose one with --repo URL",
			 a->nrepos);
	else
		kv_usage(o, "which repository? --repo URL");
	return NULL;
}

void kv_session_opts(const struct kv_opts *o, const char *url, struct cf_session_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->repo_url = url;
	so->state_dir = o->state_dir;
	so->cache_dir = o->cache_dir;
	so->passphrase_file = o->pass_file;
}

void kv_print_changes(const struct kv_opts *o, const struct cf_change *ch, json_t *extra)
{
	json_t *j, *lines;

	if (!o->json) {
		for (unsigned i = 0; i < ch->n; i++)
			printf("%s\n", ch->line[i]);
		json_decref(extra);
		return;
	}
	lines = json_array();
	for (unsigned i = 0; lines && i < ch->n; i++)
		json_array_append_new(lines, json_string(ch->line[i]));
	j = extra ? extra : json_object();
	if (j && lines)
		json_object_set_new(j, "changes", lines);
	else
		json_decref(lines);
	cf_cli_print_json(j);
}
