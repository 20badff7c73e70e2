/* SPDX-License-Identifier: ISC */
#include "keyvault/account.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/kdf.h"
#include "core/keyfile.h"
#include "util/cli.h"
#include "util/log.h"

#define ACCOUNT_FILE_MAX (1u << 20)

static void account_clear(struct cf_account *a)
{
	for (size_t i = 0; i < a->nrepos; i++)
		free(a->repos[i].url);
	free(a->repos);
	free(a->server);
	free(a->name);
	a->repos = NULL;
	a->nrepos = 0;
	a->server = a->name = NULL;
}

void cf_account_free(struct cf_account *a)
{
	if (!a)
		return;
	account_clear(a);
	free(a->path);
	free(a);
}

static int parse_repos(struct cf_account *a, json_t *repos)
{
	const char *key;
	json_t *v;

	if (!json_is_object(repos))
		return CF_E_FORMAT;
	json_object_foreach(repos, key, v)
	{
		uint8_t id[32];
		int r;
		if (!json_is_string(v) || cf_encode_unhex(id, 32, key) != 0)
			return CF_E_FORMAT;
		r = cf_account_remember_repo(a, id, json_string_value(v));
		if (r < 0 || r == CF_E_LIMIT)
			return r;
	}
	return 0;
}

static int parse(struct cf_account *a, const uint8_t *buf, size_t len)
{
	json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *srv = NULL, *name = NULL, *repos = NULL;
	json_int_t dev = 0, seen = 0;
	int r = CF_E_FORMAT;

	if (!j || json_unpack(j, "{s?o,s?o,s?I,s?I,s?o}", "server", &srv, "name", &name, "device",
			      &dev, "audit_seen", &seen, "repos", &repos) != 0)
		goto out;
	if ((srv && !json_is_null(srv) && !json_is_string(srv)) ||
	    (name && !json_is_null(name) && !json_is_string(name)) || dev < 0)
		goto out;
	if (json_is_string(srv) && json_is_string(name)) {
		a->server = strdup(json_string_value(srv));
		a->name = strdup(json_string_value(name));
		if (!a->server || !a->name) {
			r = -ENOMEM;
			goto out;
		}
	}
	a->device = dev;
	a->audit_seen = seen;
	r = repos ? parse_repos(a, repos) : 0;
out:
	json_decref(j);
	if (r == CF_E_FORMAT)
		cf_log_err("%s: not a Coffer account record", a->path);
	return r;
}

int cf_account_load(struct cf_account **out, const char *state_dir)
{
	struct cf_account *a = calloc(1, sizeof(*a));
	struct cf_secbuf *buf = NULL;
	int r;

	if (!a)
		return -ENOMEM;
	if (asprintf(&a->path, "%s/%s", state_dir, CF_ACCOUNT_FILE) < 0) {
		free(a);
		return -ENOMEM;
	}
	r = cf_keyfile_read(a->path, &buf);
	if (r == CF_E_NOTFOUND) {
		*out = a;
		return 0;
	}
	if (r == CF_E_PERM)
		cf_log_err("%s: readable by others or not ours: fix with chmod 600", a->path);
	if (!r)
		r = parse(a, cf_secbuf_data(buf), cf_secbuf_len(buf));
	cf_secbuf_free(buf);
	if (r) {
		cf_account_free(a);
		return r;
	}
	*out = a;
	return 0;
}

int cf_account_save(const struct cf_account *a)
{
	json_t *repos = json_object(), *j;
	char hex[CF_HEX_LEN(32)], *text;
	int r;

	for (size_t i = 0; repos && i < a->nrepos; i++) {
		cf_encode_hex(hex, a->repos[i].id, 32);
		json_object_set_new(repos, hex, json_string(a->repos[i].url));
	}
	j = json_pack("{s:s?,s:s?,s:I,s:I,s:o*}", "server", a->server, "name", a->name, "device",
		      (json_int_t)a->device, "audit_seen", (json_int_t)a->audit_seen, "repos", repos);
	text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	r = cf_keyfile_write(a->path, text, strlen(text), 0);
	if (r)
		cf_log_err("cannot write %s: %s", a->path, cf_strerror(r));
	free(text);
	return r;
}

int cf_account_remember_repo(struct cf_account *a, const uint8_t id[32], const char *url)
{
	struct cf_account_repo *v;
	char *u;

	for (size_t i = 0; i < a->nrepos; i++) {
		if (memcmp(a->repos[i].id, id, 32) != 0)
			continue;
		if (strcmp(a->repos[i].url, url) == 0)
			return 0;
		u = strdup(url);
		if (!u)
			return -ENOMEM;
		free(a->repos[i].url);
		a->repos[i].url = u;
		return 1;
	}
	if (a->nrepos >= CF_ACCOUNT_MAX_REPOS)
		return CF_E_LIMIT;
	v = realloc(a->repos, (a->nrepos + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->repos = v;
	u = strdup(url);
	if (!u)
		return -ENOMEM;
	memcpy(v[a->nrepos].id, id, 32);
	v[a->nrepos++].url = u;
	return 1;
}

const char *cf_account_repo_url(const struct cf_account *a, const uint8_t id[32])
{
	for (size_t i = 0; i < a->nrepos; i++)
		if (memcmp(a->repos[i].id, id, 32) == 0)
			return a->repos[i].url;
	return NULL;
}

int cf_account_read_password(const char *file, struct cf_secbuf **out)
{
	const char *env = getenv("COFFER_PASSWORD");
	int r;

	*out = NULL;
	if (!file)
		return env && *env ? cf_secbuf_dup(out, env, strlen(env) + 1) : 0;
	r = cf_cli_read_passphrase(file, 4096, CF_CLI_PASS_TRAILING, out);
	if (r < 0 && r != -ENOMEM) {
		cf_log_err("cannot read password file %s: %s", file, strerror(-r));
		r = CF_E_CONFIG;
	}
	return r;
}

void cf_account_report(const struct cf_kvclient *c, int err, const char *what)
{
	const char *code = cf_kvclient_error_code(c), *msg = cf_kvclient_error_message(c);

	if (err == CF_E_NETWORK && strcmp(code, "unreachable") == 0)
		return; /* logged by the client already */
	if (*code)
		cf_log_err("%s: %s (%s)", what, msg, code);
	else
		cf_log_err("%s: %s", what, cf_strerror(err));
}

int cf_account_secret_body(struct cf_secbuf **out, size_t n, const char *const *names,
			   const uint8_t *const *vals, const size_t *lens, const char *extra)
{
	struct cf_secbuf *b = NULL;
	size_t cap = 16 + (extra ? strlen(extra) : 0), o = 0;
	char *p;
	int r;

	for (size_t i = 0; i < n; i++)
		cap += strlen(names[i]) + cf_encode_b64_len(lens[i]) + 8;
	r = cf_secbuf_new(&b, cap);
	if (r)
		return r;
	p = (char *)cf_secbuf_data(b);
	p[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(p + o, cap - o, "%s\"%s\":\"", i ? "," : "", names[i]);
		cf_encode_b64(p + o, cap - o, vals[i], lens[i]);
		o += strlen(p + o);
		p[o++] = '"';
	}
	if (extra && *extra)
		o += (size_t)snprintf(p + o, cap - o, "%s%s", n ? "," : "", extra);
	p[o++] = '}';
	p[o] = 0;
	cf_secbuf_shrink(b, o);
	*out = b;
	return 0;
}

/* The Argon2id set of a server's {"opslimit","memlimit"} answer. */
static int kdf_set(json_t *kdf, enum cf_argon2_params *set)
{
	json_int_t ops = 0, mem = 0;

	if (json_unpack(kdf, "{s:I,s:I}", "opslimit", &ops, "memlimit", &mem) != 0)
		return CF_E_FORMAT;
	if (ops == 2 && mem == 67108864)
		*set = CF_ARGON2_INTERACTIVE;
	else if (ops == 3 && mem == 268435456)
		*set = CF_ARGON2_MODERATE;
	else if (ops == 1 && mem == 8192)
		*set = CF_ARGON2_TEST;
	else
		return CF_E_VERSION;
	return 0;
}

static int derive(struct cf_secbuf **key, const char *password, const uint8_t salt[16],
		  enum cf_argon2_params set)
{
	struct cf_secbuf *k = NULL;
	int r = cf_secbuf_new(&k, CF_AUTH_KEY_BYTES);

	if (!r)
		r = cf_kdf_argon2id(cf_secbuf_data(k), CF_AUTH_KEY_BYTES, password, strlen(password),
				    salt, set);
	if (r == CF_E_INVAL) {
		cf_log_err("the account uses test-only key derivation parameters: refused");
		r = CF_E_UNSAFE;
	}
	if (r) {
		cf_secbuf_free(k);
		return r;
	}
	*key = k;
	return 0;
}

static char *json_quote(const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	return t;
}

/* Take {"token", "expires_at"} of a login answer into @c. */
static int take_token(struct cf_kvclient *c, json_t *resp)
{
	struct cf_secbuf *tok = NULL;
	int r = cf_kvclient_take_b64(resp, "token", CF_KVCLIENT_TOKEN_BYTES, &tok);

	if (!r)
		r = cf_kvclient_set_token(c, cf_secbuf_data(tok));
	cf_secbuf_free(tok);
	return r;
}

int cf_account_create_remote(struct cf_kvclient *c, const char *name, const char *password,
			     struct cf_secbuf **auth_key)
{
	struct cf_secbuf *key = NULL, *body = NULL;
	uint8_t salt[16];
	char *qname = json_quote(name), *extra = NULL;
	const char *names[2] = {"auth_key", "salt"};
	const uint8_t *vals[2];
	size_t lens[2] = {CF_AUTH_KEY_BYTES, sizeof(salt)};
	json_t *resp = NULL;
	int r;

	cf_core_random(salt, sizeof(salt));
	r = qname ? derive(&key, password, salt, CF_ARGON2_INTERACTIVE) : -ENOMEM;
	if (!r && asprintf(&extra, "\"name\":%s,\"kdf\":{\"opslimit\":2,\"memlimit\":67108864}",
			   qname) < 0) {
		extra = NULL;
		r = -ENOMEM;
	}
	vals[0] = key ? cf_secbuf_data(key) : NULL;
	vals[1] = salt;
	if (!r)
		r = cf_account_secret_body(&body, 2, names, vals, lens, extra);
	if (!r)
		r = cf_kvclient_call_secret(c, "POST", "/v1/account", (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), &resp, NULL);
	if (!r)
		r = take_token(c, resp);
	json_decref(resp);
	cf_secbuf_free(body);
	free(qname);
	free(extra);
	if (!r && auth_key)
		*auth_key = key;
	else
		cf_secbuf_free(key);
	return r;
}

int cf_account_login(struct cf_kvclient *c, const char *name, const char *password,
		     struct cf_secbuf **auth_key)
{
	struct cf_secbuf *key = NULL, *salt = NULL, *body = NULL;
	enum cf_argon2_params set = CF_ARGON2_INTERACTIVE;
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	const char *names[1] = {"auth_key"};
	const uint8_t *vals[1];
	size_t lens[1] = {CF_AUTH_KEY_BYTES};
	char *qname = json_quote(name), *extra = NULL;
	int r = req && qname ? 0 : -ENOMEM;

	if (!r)
		r = cf_kvclient_call(c, "POST", "/v1/account/prelogin", req, &resp, NULL);
	if (!r)
		r = cf_kvclient_take_b64(resp, "salt", 16, &salt);
	if (!r)
		r = kdf_set(json_object_get(resp, "kdf"), &set);
	if (r == CF_E_VERSION)
		cf_log_err("the key vault asks for Argon2id parameters this build does not know");
	if (!r)
		r = derive(&key, password, cf_secbuf_data(salt), set);
	if (!r && asprintf(&extra, "\"name\":%s", qname) < 0) {
		extra = NULL;
		r = -ENOMEM;
	}
	if (!r) {
		vals[0] = cf_secbuf_data(key);
		r = cf_account_secret_body(&body, 1, names, vals, lens, extra);
	}
	json_decref(resp);
	resp = NULL;
	if (!r)
		r = cf_kvclient_call_secret(c, "POST", "/v1/session", (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), &resp, NULL);
	if (!r)
		r = take_token(c, resp);
	json_decref(req);
	json_decref(resp);
	cf_secbuf_free(body);
	cf_secbuf_free(salt);
	free(qname);
	free(extra);
	if (!r && auth_key)
		*auth_key = key;
	else
		cf_secbuf_free(key);
	return r;
}

int cf_account_bind(struct cf_kvclient *c, const struct cf_keychain *kc, int64_t device)
{
	uint8_t sig[CF_SIGNATURE_BYTES];
	char b64[128];
	json_t *req;
	int r;

	if (!cf_kvclient_token(c))
		return CF_E_INVAL;
	cf_identity_sign(cf_keychain_identity(kc), "coffer-kvd-session-v1", cf_kvclient_token(c),
			 CF_KVCLIENT_TOKEN_BYTES, sig);
	cf_encode_b64(b64, sizeof(b64), sig, sizeof(sig));
	req = json_pack("{s:I,s:s}", "device", (json_int_t)device, "signature", b64);
	if (!req)
		return -ENOMEM;
	r = cf_kvclient_call(c, "POST", "/v1/session/device", req, NULL, NULL);
	json_decref(req);
	return r;
}

/*
 * The time for a device login: keyvaultd refuses a time not above the last one it
 * accepted from this device, so two logins within one second must not share it. The
 * last time used is kept next to the keychain ("device-login", 0600); the server accepts
 * times up to five minutes ahead, so running ahead of the clock is fine.
 */
static uint64_t login_time(const struct cf_keychain *kc, uint64_t bump)
{
	uint64_t t = (uint64_t)time(NULL), last = 0;
	struct cf_secbuf *b = NULL;
	char *dir = strdup(cf_keychain_path(kc)), *slash, *path = NULL, text[32];

	if (!dir)
		return t;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (asprintf(&path, "%s/device-login", slash ? dir : ".") < 0)
		path = NULL;
	if (path && cf_keyfile_read(path, &b) == 0 && cf_secbuf_len(b) < sizeof(text)) {
		memcpy(text, cf_secbuf_data(b), cf_secbuf_len(b));
		text[cf_secbuf_len(b)] = 0;
		last = strtoull(text, NULL, 10);
	}
	cf_secbuf_free(b);
	if (t <= last)
		t = last + 1;
	t += bump;
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)t);
	if (path)
		cf_keyfile_write(path, text, strlen(text), 0);
	free(path);
	free(dir);
	return t;
}

static int device_login_at(struct cf_kvclient *c, const char *name, int64_t device,
			   const struct cf_keychain *kc, uint64_t t)
{
	size_t nlen = strlen(name);
	uint64_t d = (uint64_t)device;
	uint8_t *msg = malloc(nlen + 1 + 16), sig[CF_SIGNATURE_BYTES];
	char b64[128];
	json_t *req = NULL, *resp = NULL;
	int r;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, name, nlen);
	msg[nlen] = 0;
	for (int i = 0; i < 8; i++) {
		msg[nlen + 1 + i] = (uint8_t)(d >> (8 * i));
		msg[nlen + 9 + i] = (uint8_t)(t >> (8 * i));
	}
	cf_identity_sign(cf_keychain_identity(kc), "coffer-kvd-device-login-v1", msg, nlen + 17,
			 sig);
	free(msg);
	cf_encode_b64(b64, sizeof(b64), sig, sizeof(sig));
	req = json_pack("{s:s,s:I,s:I,s:s}", "name", name, "device", (json_int_t)device, "time",
			(json_int_t)t, "signature", b64);
	r = req ? cf_kvclient_call(c, "POST", "/v1/session/device-login", req, &resp, NULL)
		: -ENOMEM;
	if (!r)
		r = take_token(c, resp);
	json_decref(req);
	json_decref(resp);
	return r;
}

int cf_account_device_login(struct cf_kvclient *c, const char *name, int64_t device,
			    const struct cf_keychain *kc)
{
	int r = device_login_at(c, name, device, kc, login_time(kc, 0));

	/* another process may have used the same second meanwhile: one more try */
	if (r == CF_E_AUTH)
		r = device_login_at(c, name, device, kc, login_time(kc, 1));
	return r;
}

int cf_account_connect(struct cf_kvclient **out, const struct cf_account *a,
		       const struct cf_keychain *kc, const char *password,
		       struct cf_secbuf **auth_key)
{
	struct cf_kvclient *c = NULL;
	struct cf_secbuf *ak = NULL;
	int r;

	if (!a->server || !a->name) {
		cf_log_err("this device has no key vault account (keyvault init --server URL"
			   " --account NAME)");
		return CF_E_CONFIG;
	}
	r = cf_kvclient_new(&c, a->server);
	if (r)
		return r;
	if (password) {
		r = cf_account_login(c, a->name, password, &ak);
		if (r)
			cf_account_report(c, r, "log in to the key vault");
		if (!r && a->device > 0) {
			r = cf_account_bind(c, kc, a->device);
			if (r)
				cf_account_report(c, r, "identify this device to the key vault");
		}
	} else if (a->device > 0) {
		r = cf_account_device_login(c, a->name, a->device, kc);
		if (r)
			cf_account_report(c, r, "log in to the key vault as this device");
	} else {
		cf_log_err("the account password is needed (--password-file or COFFER_PASSWORD)");
		r = CF_E_CONFIG;
	}
	if (r) {
		cf_secbuf_free(ak);
		cf_kvclient_free(c);
		return r;
	}
	if (auth_key)
		*auth_key = ak;
	else
		cf_secbuf_free(ak);
	*out = c;
	return 0;
}
