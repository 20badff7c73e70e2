/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "core/encode.h"

#define PATH_MAX_LEN 512
#define PATH_MAX_SEGMENTS 8
#define ID_MAX ((INT64_C(1) << 53) - 1)
#define EPOCH_MAX INT64_C(4294967295)
#define NAME_MAX_BYTES 256
#define LABEL_MAX_BYTES 256
#define TTL_MIN 60
#define TTL_MAX (30 * 86400)

static const char *const protections[] = {"standard", "advanced", NULL};
static const char *const vias[] = {"first", "device", "request", "recovery", NULL};

#define REQ(n, t, lo, hi) {n, t, 1, lo, hi, NULL}
#define OPT(n, t, lo, hi) {n, t, 0, lo, hi, NULL}
#define AUTH_KEY REQ("auth_key", CF_KVD_F_B64, 32, 32)
#define END {NULL, CF_KVD_F_INT, 0, 0, 0, NULL}

static const struct cf_kvd_field f_name[] = {REQ("name", CF_KVD_F_NAME, 0, 0), END};
static const struct cf_kvd_field f_create[] = {
    REQ("name", CF_KVD_F_NAME, 0, 0), REQ("salt", CF_KVD_F_B64, 16, 16), REQ("kdf", CF_KVD_F_KDF, 0, 0),
    AUTH_KEY, END};
static const struct cf_kvd_field f_login[] = {REQ("name", CF_KVD_F_NAME, 0, 0), AUTH_KEY, END};
static const struct cf_kvd_field f_auth[] = {AUTH_KEY, END};
static const struct cf_kvd_field f_bind[] = {
    REQ("device", CF_KVD_F_INT, 1, ID_MAX), REQ("signature", CF_KVD_F_B64, 64, 64), END};
static const struct cf_kvd_field f_device_login[] = {
    REQ("name", CF_KVD_F_NAME, 0, 0), REQ("device", CF_KVD_F_INT, 1, ID_MAX), REQ("time", CF_KVD_F_INT, 0, ID_MAX),
    REQ("signature", CF_KVD_F_B64, 64, 64), END};
static const struct cf_kvd_field f_password[] = {
    AUTH_KEY, REQ("salt", CF_KVD_F_B64, 16, 16), REQ("kdf", CF_KVD_F_KDF, 0, 0),
    REQ("new_auth_key", CF_KVD_F_B64, 32, 32), END};
static const struct cf_kvd_field f_device_add[] = {
    REQ("identity", CF_KVD_F_IDENTITY, 0, 0), OPT("label", CF_KVD_F_LABEL, 0, LABEL_MAX_BYTES),
    {"via", CF_KVD_F_ENUM, 1, 0, 0, vias}, OPT("auth_key", CF_KVD_F_B64, 32, 32), END};
static const struct cf_kvd_field f_repo_put[] = {
    {"protection", CF_KVD_F_ENUM, 1, 0, 0, protections}, REQ("epoch", CF_KVD_F_INT, 1, EPOCH_MAX), END};
static const struct cf_kvd_field f_escrow_put[] = {
    REQ("epoch", CF_KVD_F_INT, 1, EPOCH_MAX), REQ("key", CF_KVD_F_B64, 32, 32), END};
static const struct cf_kvd_field f_share_put[] = {
    REQ("epoch", CF_KVD_F_INT, 1, EPOCH_MAX), REQ("share", CF_KVD_F_B64, 1, CF_KVD_SHARE_MAX), END};
static const struct cf_kvd_field f_mailbox[] = {
    OPT("to_account", CF_KVD_F_NAME, 0, 0), OPT("to_device", CF_KVD_F_INT, 1, ID_MAX),
    REQ("kind", CF_KVD_F_KIND, 0, 0), REQ("envelope", CF_KVD_F_B64, 1, CF_KVD_ENVELOPE_MAX),
    OPT("ttl", CF_KVD_F_INT, TTL_MIN, TTL_MAX), END};
static const struct cf_kvd_field f_witness[] = {
    REQ("sequence", CF_KVD_F_INT, 0, ID_MAX), REQ("manifest_hash", CF_KVD_F_B64, 16, 64),
    REQ("signer", CF_KVD_F_B64, 32, 32), REQ("signature", CF_KVD_F_B64, 64, 64), END};

#define NONE CF_KVD_AUTH_NONE
#define SESS CF_KVD_AUTH_SESSION
#define ANYD CF_KVD_AUTH_ANY_DEVICE
#define DEV CF_KVD_AUTH_DEVICE
#define B CF_KVD_BODY_MAX
#define QL (CF_KVD_Q_SINCE | CF_KVD_Q_LIMIT)

static const struct cf_kvd_route routes[] = {
    {CF_KVD_R_HEALTH, "GET", "/v1/health", NONE, 0, NULL, 0, 0},
    {CF_KVD_R_PRELOGIN, "POST", "/v1/account/prelogin", NONE, 0, f_name, B, 0},
    {CF_KVD_R_ACCOUNT_CREATE, "POST", "/v1/account", NONE, 0, f_create, B, 0},
    {CF_KVD_R_ACCOUNT_DELETE, "DELETE", "/v1/account", SESS, 1, f_auth, B, 0},
    {CF_KVD_R_PASSWORD, "PUT", "/v1/account/password", SESS, 1, f_password, B, 0},
    {CF_KVD_R_LOGIN, "POST", "/v1/session", NONE, 0, f_login, B, 0},
    {CF_KVD_R_LOGOUT, "DELETE", "/v1/session", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_SESSION_DEVICE, "POST", "/v1/session/device", SESS, 0, f_bind, B, 0},
    {CF_KVD_R_DEVICE_LOGIN, "POST", "/v1/session/device-login", NONE, 0, f_device_login, B, 0},
    {CF_KVD_R_DEVICES, "GET", "/v1/devices", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_DEVICE_ADD, "POST", "/v1/devices", SESS, 0, f_device_add, B, 0},
    {CF_KVD_R_DEVICE_APPROVE, "POST", "/v1/devices/:id/approve", DEV, 0, NULL, 0, 0},
    {CF_KVD_R_DEVICE_REMOVE, "DELETE", "/v1/devices/:id", DEV, 0, NULL, 0, 0},
    {CF_KVD_R_DIRECTORY, "POST", "/v1/directory", SESS, 0, f_name, B, 0},
    {CF_KVD_R_REPOS, "GET", "/v1/repos", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_REPO_GET, "GET", "/v1/repos/:repo", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_REPO_PUT, "PUT", "/v1/repos/:repo", DEV, 0, f_repo_put, B, 0},
    {CF_KVD_R_REPO_DELETE, "DELETE", "/v1/repos/:repo", DEV, 1, f_auth, B, 0},
    {CF_KVD_R_ESCROW_PUT, "PUT", "/v1/repos/:repo/escrow", DEV, 0, f_escrow_put, B, 0},
    {CF_KVD_R_ESCROW_GET, "GET", "/v1/repos/:repo/escrow", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_ESCROW_DELETE, "DELETE", "/v1/repos/:repo/escrow", DEV, 0, NULL, 0, 0},
    {CF_KVD_R_SHARE_PUT, "PUT", "/v1/repos/:repo/share", DEV, 0, f_share_put, B, 0},
    {CF_KVD_R_SHARE_RELEASE, "POST", "/v1/repos/:repo/share/release", SESS, 1, f_auth, B, 0},
    {CF_KVD_R_SHARE_DELETE, "DELETE", "/v1/repos/:repo/share", DEV, 0, NULL, 0, 0},
    {CF_KVD_R_MAILBOX_POST, "POST", "/v1/mailbox", ANYD, 0, f_mailbox,
     CF_KVD_MAILBOX_BODY_MAX, 0},
    {CF_KVD_R_MAILBOX_FETCH, "GET", "/v1/mailbox", ANYD, 0, NULL, 0, QL},
    {CF_KVD_R_MAILBOX_DELETE, "DELETE", "/v1/mailbox/:id", ANYD, 0, NULL, 0, 0},
    {CF_KVD_R_WITNESS_PUT, "PUT", "/v1/repos/:repo/witness", DEV, 0, f_witness, B, 0},
    {CF_KVD_R_WITNESS_GET, "GET", "/v1/repos/:repo/witness", SESS, 0, NULL, 0, 0},
    {CF_KVD_R_AUDIT, "GET", "/v1/audit", SESS, 0, NULL, 0, QL},
};

const struct cf_kvd_route *cf_kvd_request_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* ---- paths ---- */

/* Split @path ("/a/b") into its non-empty segments (pointers into @buf, which is cut). */
static int split(char *buf, char **seg)
{
	int i, n = 0;
	char *p = buf, *slash;

	if (*p != '/')
		return -1;
	for (;;) {
		if (n == PATH_MAX_SEGMENTS)
			return -1;
		seg[n++] = ++p;
		slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash;
	}
	for (i = 0; i < n; i++)
		if (seg[i][0] == '\0')
			return -1; /* "//", a trailing slash, or "/" alone */
	return n;
}

static int is_lower_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A decimal id 1..ID_MAX, no sign, no leading zero. */
static int parse_id(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 16 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > ID_MAX)
		return -1;
	*out = v;
	return 0;
}

/*
 * Compare the segments of @path with @pattern. Returns 1 on a match (parameters stored
 * in @r when @r is not NULL), 0 when the shape differs, -1 when the shape matches but a
 * parameter is malformed.
 */
static int match(const char *pattern, char **seg, int nseg, struct cf_kvd_req *r)
{
	char pbuf[64];
	char *pseg[PATH_MAX_SEGMENTS];
	int n, i, bad = 0;
	int64_t id;

	snprintf(pbuf, sizeof(pbuf), "%s", pattern);
	n = split(pbuf, pseg);
	if (n != nseg)
		return 0;
	for (i = 0; i < n; i++)
		if (pseg[i][0] != ':' && strcmp(pseg[i], seg[i]) != 0)
			return 0;
	for (i = 0; i < n; i++) {
		if (!strcmp(pseg[i], ":repo")) {
			if (!is_lower_hex(seg[i], 2 * CF_KVD_REPO_BYTES))
				bad = 1;
			else if (r && cf_encode_unhex(r->repo, CF_KVD_REPO_BYTES, seg[i]) != 0)
				bad = 1;
		} else if (!strcmp(pseg[i], ":id")) {
			if (parse_id(seg[i], &id) != 0)
				bad = 1;
			else if (r)
				r->id = id;
		}
	}
	return bad ? -1 : 1;
}

int cf_kvd_request_route(struct cf_kvd_req *r, const char *method, const char *path,
			 struct cf_kvd_err *e)
{
	char buf[PATH_MAX_LEN + 1];
	char *seg[PATH_MAX_SEGMENTS];
	size_t i, len;
	int n, m, bad = 0;

	r->since = r->limit = -1;
	e->allow[0] = '\0';
	len = path ? strlen(path) : 0;
	if (len == 0 || len > PATH_MAX_LEN || !method)
		return cf_kvd_fail(e, 404, "not_found", "no such route");
	memcpy(buf, path, len + 1);
	n = split(buf, seg);
	if (n <= 0)
		return cf_kvd_fail(e, 404, "not_found", "no such route");
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		m = match(routes[i].path, seg, n, NULL);
		if (m == 0)
			continue;
		if (strcmp(routes[i].method, method) != 0) {
			size_t used = strlen(e->allow);
			snprintf(e->allow + used, sizeof(e->allow) - used, "%s%s", used ? ", " : "",
				 routes[i].method);
			continue;
		}
		if (m < 0) {
			bad = 1;
			continue;
		}
		match(routes[i].path, seg, n, r);
		r->route = &routes[i];
		e->allow[0] = '\0';
		return 0;
	}
	if (bad)
		return cf_kvd_fail(e, 400, "invalid_path",
				   "a repository is 64 lower-case hex digits, an id a positive integer");
	if (e->allow[0]) {
		char allow[sizeof(e->allow)];
		memcpy(allow, e->allow, sizeof(allow));
		cf_kvd_fail(e, 405, "method_not_allowed", "%s is not allowed here", method);
		memcpy(e->allow, allow, sizeof(allow));
		return CF_E_NOTFOUND;
	}
	return cf_kvd_fail(e, 404, "not_found", "no such route");
}

/* ---- query, token, length ---- */

int cf_kvd_request_query(struct cf_kvd_req *r, const char *key, const char *value,
			 struct cf_kvd_err *e)
{
	int64_t *slot = NULL, v;
	int64_t max = 0;

	if (key && !strcmp(key, "since") && (r->route->query & CF_KVD_Q_SINCE)) {
		slot = &r->since;
		max = ID_MAX;
	} else if (key && !strcmp(key, "limit") && (r->route->query & CF_KVD_Q_LIMIT)) {
		slot = &r->limit;
		max = r->route->id == CF_KVD_R_AUDIT ? 500 : 100;
	}
	if (!slot)
		return cf_kvd_fail(e, 400, "invalid_query", "unknown query parameter");
	if (*slot >= 0)
		return cf_kvd_fail(e, 400, "invalid_query", "query parameter '%s' given twice",
				   key);
	if (!value)
		return cf_kvd_fail(e, 400, "invalid_query", "'%s' needs a value", key);
	if (!strcmp(value, "0") && slot == &r->since)
		v = 0;
	else if (parse_id(value, &v) != 0 || v > max)
		return cf_kvd_fail(e, 400, "invalid_query", "'%s' must be a whole number up to %lld",
				   key, (long long)max);
	*slot = v;
	return 0;
}

int cf_kvd_request_bearer(struct cf_kvd_req *r, const char *header, struct cf_kvd_err *e)
{
	size_t got = 0;
	const char *p;

	if (!header)
		return 0;
	if (strncasecmp(header, "Bearer ", 7) != 0)
		return cf_kvd_fail(e, 401, "unauthorized", "expected 'Authorization: Bearer <token>'");
	p = header + 7;
	while (*p == ' ')
		p++;
	/* 32 bytes are 43 characters of unpadded base64 */
	if (strlen(p) != 43 || cf_encode_unb64(r->token, sizeof(r->token), &got, p) != 0 ||
	    got != CF_KVD_TOKEN_BYTES) {
		cf_core_wipe(r->token, sizeof(r->token));
		return cf_kvd_fail(e, 401, "unauthorized", "malformed bearer token");
	}
	r->has_token = 1;
	return 0;
}

int cf_kvd_request_length(const struct cf_kvd_req *r, uint64_t length, struct cf_kvd_err *e)
{
	size_t max = r->route->fields ? r->route->body_max : 0;

	if (length <= max)
		return 0;
	if (!max)
		return cf_kvd_fail(e, 400, "invalid_body", "this route takes no body");
	return cf_kvd_fail(e, 413, "too_large", "the body exceeds %zu bytes", max);
}

/* ---- body ---- */

int cf_kvd_request_name_ok(const char *s, size_t len)
{
	size_t i = 0;

	if (len < 1 || len > NAME_MAX_BYTES)
		return 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			unsigned char cc = (unsigned char)s[i + k];
			if ((cc & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (cc & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

void cf_kvd_request_clear(struct cf_kvd_req *r)
{
	json_decref(r->body);
	cf_core_wipe(r, sizeof(*r));
}

/* ---- accessors ---- */

static json_t *get(const struct cf_kvd_req *r, const char *name)
{
	json_t *v = r->body ? json_object_get(r->body, name) : NULL;

	return json_is_null(v) ? NULL : v;
}

int cf_kvd_request_has(const struct cf_kvd_req *r, const char *name)
{
	return get(r, name) != NULL;
}

int cf_kvd_request_int(const struct cf_kvd_req *r, const char *name, int64_t *out)
{
	json_t *v = get(r, name);

	if (!json_is_integer(v))
		return CF_E_NOTFOUND;
	*out = json_integer_value(v);
	return 0;
}

const char *cf_kvd_request_str(const struct cf_kvd_req *r, const char *name)
{
	return json_string_value(get(r, name));
}

int cf_kvd_request_bytes(const struct cf_kvd_req *r, const char *name, uint8_t *out,
			 size_t cap, size_t *len)
{
	const char *s = json_string_value(get(r, name));

	if (!s)
		return CF_E_NOTFOUND;
	return cf_encode_unb64(out, cap, len, s) ? CF_E_LIMIT : 0;
}

int cf_kvd_request_identity(const struct cf_kvd_req *r, const char *name, struct cf_pubid *out)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	size_t len = 0;
	int rc = cf_kvd_request_bytes(r, name, enc, sizeof(enc), &len);

	if (rc)
		return rc;
	return cf_pubid_decode(out, enc, len);
}

int cf_kvd_request_kdf(const struct cf_kvd_req *r, int64_t *opslimit, int64_t *memlimit)
{
	json_t *v = get(r, "kdf");

	if (!json_is_object(v))
		return CF_E_NOTFOUND;
	*opslimit = json_integer_value(json_object_get(v, "opslimit"));
	*memlimit = json_integer_value(json_object_get(v, "memlimit"));
	return 0;
}
