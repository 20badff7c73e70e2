/* SPDX-License-Identifier: ISC */
#include "keyvault/kvapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "keyvault/account.h"
#include "util/log.h"

#define ENVELOPE_MAX (1u << 20)

static void repo_path(char *out, size_t len, const uint8_t repo_id[32], const char *tail)
{
	char hex[CF_HEX_LEN(32)];

	cf_encode_hex(hex, repo_id, 32);
	snprintf(out, len, "/v1/repos/%s%s", hex, tail);
}

int cf_kvapi_identity(const char *b64, struct cf_pubid *out)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES + 4];
	size_t len = 0;

	if (!b64 || cf_encode_unb64(enc, sizeof(enc), &len, b64) != 0 ||
	    cf_pubid_decode(out, enc, len) != 0)
		return CF_E_FORMAT;
	return 0;
}

static json_int_t int_or0(const json_t *v)
{
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int device_decode(const json_t *d, struct cf_kvdevice *out)
{
	const char *id = json_string_value(json_object_get(d, "identity"));
	const char *state = json_string_value(json_object_get(d, "state"));
	const char *label = json_string_value(json_object_get(d, "label"));
	const json_t *n = json_object_get(d, "id");

	memset(out, 0, sizeof(*out));
	if (!json_is_integer(n) || cf_kvapi_identity(id, &out->identity) != 0) {
		cf_log_warn("key vault directory: an entry that does not decode was skipped");
		return CF_E_FORMAT;
	}
	out->id = json_integer_value(n);
	snprintf(out->state, sizeof(out->state), "%s", state ? state : "active");
	snprintf(out->label, sizeof(out->label), "%s", label ? label : "");
	out->added_by = int_or0(json_object_get(d, "added_by"));
	out->added_at = int_or0(json_object_get(d, "added_at"));
	out->removed_at = int_or0(json_object_get(d, "removed_at"));
	return 0;
}

static int devices_decode(json_t *list, struct cf_kvdevice **out, size_t *n)
{
	size_t cnt = json_array_size(list), k = 0;
	struct cf_kvdevice *v;

	if (!json_is_array(list) || cnt > CF_KVAPI_MAX_DEVICES)
		return CF_E_NETWORK;
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++)
		if (device_decode(json_array_get(list, i), &v[k]) == 0)
			k++;
	*out = v;
	*n = k;
	return 0;
}

int cf_kvapi_devices(struct cf_kvclient *c, struct cf_kvdevice **out, size_t *n)
{
	json_t *resp = NULL;
	int r = cf_kvclient_call(c, "GET", "/v1/devices", NULL, &resp, NULL);

	if (!r)
		r = devices_decode(json_object_get(resp, "devices"), out, n);
	json_decref(resp);
	return r;
}

int cf_kvapi_directory(struct cf_kvclient *c, const char *name, struct cf_kvdevice **out,
		       size_t *n)
{
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	int r = req ? cf_kvclient_call(c, "POST", "/v1/directory", req, &resp, NULL) : -ENOMEM;

	if (!r)
		r = devices_decode(json_object_get(resp, "devices"), out, n);
	json_decref(req);
	json_decref(resp);
	return r;
}

static void b64_identity(char *out, size_t len, const struct cf_pubid *id)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];

	cf_pubid_encode(id, enc);
	cf_encode_b64(out, len, enc, sizeof(enc));
}

int cf_kvapi_device_add(struct cf_kvclient *c, const struct cf_pubid *id, const char *label,
			const char *via, const struct cf_secbuf *auth_key, int64_t *device)
{
	char ident[256], *extra = NULL;
	json_t *q = NULL, *resp = NULL;
	json_int_t dev = 0;
	int r;

	b64_identity(ident, sizeof(ident), id);
	q = json_pack("{s:s,s:s,s:s?}", "identity", ident, "via", via, "label",
		      label && *label ? label : NULL);
	if (!q)
		return -ENOMEM;
	if (auth_key) {
		struct cf_secbuf *body = NULL;
		const char *names[1] = {"auth_key"};
		const uint8_t *vals[1] = {cf_secbuf_data(auth_key)};
		size_t lens[1] = {cf_secbuf_len(auth_key)};
		char *members = json_dumps(q, JSON_COMPACT);
		r = -ENOMEM;
		if (members && strlen(members) >= 2) {
			members[strlen(members) - 1] = 0; /* "{...": drop the braces */
			extra = strdup(members + 1);
		}
		free(members);
		if (extra)
			r = cf_account_secret_body(&body, 1, names, vals, lens, extra);
		if (!r)
			r = cf_kvclient_call_secret(c, "POST", "/v1/devices",
						    (const char *)cf_secbuf_data(body),
						    cf_secbuf_len(body), &resp, NULL);
		cf_secbuf_free(body);
		free(extra);
	} else {
		r = cf_kvclient_call(c, "POST", "/v1/devices", q, &resp, NULL);
	}
	json_decref(q);
	if (!r && json_unpack(resp, "{s:{s:I}}", "device", "id", &dev) != 0)
		r = CF_E_NETWORK;
	if (!r && device)
		*device = dev;
	json_decref(resp);
	return r;
}

int cf_kvapi_device_approve(struct cf_kvclient *c, int64_t device)
{
	char path[64];

	snprintf(path, sizeof(path), "/v1/devices/%lld/approve", (long long)device);
	return cf_kvclient_call(c, "POST", path, NULL, NULL, NULL);
}

int cf_kvapi_device_remove(struct cf_kvclient *c, int64_t device)
{
	char path[64];

	snprintf(path, sizeof(path), "/v1/devices/%lld", (long long)device);
	return cf_kvclient_call(c, "DELETE", path, NULL, NULL, NULL);
}

int cf_kvapi_repo_put(struct cf_kvclient *c, const uint8_t repo_id[32], const char *protection,
		      uint32_t epoch, json_t **resp)
{
	json_t *q = json_pack("{s:s,s:I}", "protection", protection, "epoch", (json_int_t)epoch);
	char path[128];
	int r;

	if (!q)
		return -ENOMEM;
	repo_path(path, sizeof(path), repo_id, "");
	r = cf_kvclient_call(c, "PUT", path, q, resp, NULL);
	json_decref(q);
	return r;
}

int cf_kvapi_repo_get(struct cf_kvclient *c, const uint8_t repo_id[32], json_t **resp)
{
	char path[128];

	repo_path(path, sizeof(path), repo_id, "");
	return cf_kvclient_call(c, "GET", path, NULL, resp, NULL);
}

int cf_kvapi_escrow_put(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t epoch,
			const uint8_t key[32])
{
	struct cf_secbuf *body = NULL;
	const char *names[1] = {"key"};
	const uint8_t *vals[1] = {key};
	size_t lens[1] = {32};
	char path[128], extra[32];
	int r;

	snprintf(extra, sizeof(extra), "\"epoch\":%u", (unsigned)epoch);
	repo_path(path, sizeof(path), repo_id, "/escrow");
	r = cf_account_secret_body(&body, 1, names, vals, lens, extra);
	if (!r)
		r = cf_kvclient_call_secret(c, "PUT", path, (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), NULL, NULL);
	cf_secbuf_free(body);
	return r;
}

int cf_kvapi_escrow_get(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t *epoch,
			struct cf_secbuf **key)
{
	json_t *resp = NULL;
	json_int_t e = 0;
	char path[128];
	int r;

	repo_path(path, sizeof(path), repo_id, "/escrow");
	r = cf_kvclient_call(c, "GET", path, NULL, &resp, NULL);
	if (!r && (json_unpack(resp, "{s:I}", "epoch", &e) != 0 || e < 1 || e > UINT32_MAX))
		r = CF_E_NETWORK;
	if (!r)
		r = cf_kvclient_take_b64(resp, "key", 32, key);
	if (!r)
		*epoch = (uint32_t)e;
	json_decref(resp);
	return r;
}

int cf_kvapi_escrow_delete(struct cf_kvclient *c, const uint8_t repo_id[32], json_t **resp)
{
	char path[128];

	repo_path(path, sizeof(path), repo_id, "/escrow");
	return cf_kvclient_call(c, "DELETE", path, NULL, resp, NULL);
}

int cf_kvapi_share_put(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t epoch,
		       const uint8_t *share, size_t len)
{
	struct cf_secbuf *body = NULL;
	const char *names[1] = {"share"};
	const uint8_t *vals[1] = {share};
	size_t lens[1] = {len};
	char path[128], extra[32];
	int r;

	snprintf(extra, sizeof(extra), "\"epoch\":%u", (unsigned)epoch);
	repo_path(path, sizeof(path), repo_id, "/share");
	r = cf_account_secret_body(&body, 1, names, vals, lens, extra);
	if (!r)
		r = cf_kvclient_call_secret(c, "PUT", path, (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), NULL, NULL);
	cf_secbuf_free(body);
	return r;
}

int cf_kvapi_share_release(struct cf_kvclient *c, const uint8_t repo_id[32],
			   const struct cf_secbuf *auth_key, struct cf_secbuf **share,
			   int64_t *remaining)
{
	struct cf_secbuf *body = NULL;
	const char *names[1] = {"auth_key"};
	const uint8_t *vals[1] = {cf_secbuf_data(auth_key)};
	size_t lens[1] = {cf_secbuf_len(auth_key)};
	json_t *resp = NULL;
	json_int_t rem = 0;
	char path[128];
	int r;

	repo_path(path, sizeof(path), repo_id, "/share/release");
	r = cf_account_secret_body(&body, 1, names, vals, lens, NULL);
	if (!r)
		r = cf_kvclient_call_secret(c, "POST", path, (const char *)cf_secbuf_data(body),
					    cf_secbuf_len(body), &resp, NULL);
	if (!r)
		r = cf_kvclient_take_b64(resp, "share", 0, share);
	if (!r && remaining && json_unpack(resp, "{s:I}", "remaining", &rem) == 0)
		*remaining = rem;
	cf_secbuf_free(body);
	json_decref(resp);
	return r;
}

int cf_kvapi_share_delete(struct cf_kvclient *c, const uint8_t repo_id[32])
{
	char path[128];

	repo_path(path, sizeof(path), repo_id, "/share");
	return cf_kvclient_call(c, "DELETE", path, NULL, NULL, NULL);
}

int cf_kvapi_mail_post(struct cf_kvclient *c, const char *to_account, int64_t to_device,
		       const char *kind, const uint8_t *env, size_t len)
{
	size_t blen = cf_encode_b64_len(len);
	char *b64 = malloc(blen);
	json_t *q;
	int r;

	if (!b64)
		return -ENOMEM;
	cf_encode_b64(b64, blen, env, len);
	q = json_pack("{s:s,s:s}", "kind", kind, "envelope", b64);
	free(b64);
	if (q && to_account)
		json_object_set_new(q, "to_account", json_string(to_account));
	if (q && to_device > 0)
		json_object_set_new(q, "to_device", json_integer(to_device));
	r = q ? cf_kvclient_call(c, "POST", "/v1/mailbox", q, NULL, NULL) : -ENOMEM;
	json_decref(q);
	return r;
}

int cf_kvapi_mail_list(struct cf_kvclient *c, const char *kind, json_t **msgs)
{
	json_t *all = json_array(), *resp = NULL;
	json_int_t since = 0;
	char path[96];
	int r = all ? 0 : -ENOMEM;

	for (int page = 0; !r && page < 64; page++) {
		json_t *list, *m;
		size_t i;
		snprintf(path, sizeof(path), "/v1/mailbox?since=%lld&limit=100", (long long)since);
		r = cf_kvclient_call(c, "GET", path, NULL, &resp, NULL);
		if (r)
			break;
		list = json_object_get(resp, "messages");
		if (!json_is_array(list)) {
			r = CF_E_NETWORK;
			break;
		}
		json_array_foreach(list, i, m)
		{
			json_int_t id = 0;
			const char *k = json_string_value(json_object_get(m, "kind"));
			if (json_unpack(m, "{s:I}", "id", &id) == 0 && id > since)
				since = id;
			if (k && (!kind || strcmp(k, kind) == 0))
				json_array_append(all, m);
		}
		if (json_array_size(list) < 100) {
			json_decref(resp);
			resp = NULL;
			break;
		}
		json_decref(resp);
		resp = NULL;
	}
	json_decref(resp);
	if (r) {
		json_decref(all);
		return r;
	}
	*msgs = all;
	return 0;
}

int cf_kvapi_mail_delete(struct cf_kvclient *c, int64_t id)
{
	char path[64];

	snprintf(path, sizeof(path), "/v1/mailbox/%lld", (long long)id);
	return cf_kvclient_call(c, "DELETE", path, NULL, NULL, NULL);
}

int cf_kvapi_mail_envelope(const json_t *m, uint8_t **env, size_t *len)
{
	const char *b64 = json_string_value(json_object_get(m, "envelope"));
	size_t cap, got = 0;
	uint8_t *buf;

	if (!b64)
		return CF_E_FORMAT;
	cap = strlen(b64) * 3 / 4 + 4;
	if (cap > ENVELOPE_MAX + 4)
		return CF_E_LIMIT;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	if (cf_encode_unb64(buf, cap, &got, b64) != 0) {
		free(buf);
		return CF_E_FORMAT;
	}
	*env = buf;
	*len = got;
	return 0;
}
