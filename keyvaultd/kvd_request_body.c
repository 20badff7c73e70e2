/* SPDX-License-Identifier: ISC */
/* keyvaultd request bodies: the content type, the JSON object and each field against the
 * route's description (docs/keyvaultd-api.md "Conventions"). Untrusted input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "core/encode.h"
#include "keyvaultd/kvd_request.h"

#define BODY_MAX_DEPTH 4
#define NAME_MAX_BYTES 256
#define KIND_MAX 32

static int depth_ok(json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;

	if (depth > BODY_MAX_DEPTH)
		return 0;
	if (json_is_object(j)) {
		json_object_foreach (j, k, v)
			if (!depth_ok(v, depth + 1))
				return 0;
	} else if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			if (!depth_ok(v, depth + 1))
				return 0;
	}
	return 1;
}

static int check_b64(json_t *v, size_t min, size_t max)
{
	const char *s = json_string_value(v);
	uint8_t *buf;
	size_t got = 0;
	int ok;

	if (!s || json_string_length(v) > cf_encode_b64_len(max) - 1)
		return 0;
	buf = malloc(max ? max : 1);
	if (!buf)
		return -ENOMEM;
	ok = cf_encode_unb64(buf, max, &got, s) == 0 && got >= min && got <= max;
	cf_core_wipe(buf, max);
	free(buf);
	return ok;
}

static int check_identity(json_t *v)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	struct cf_pubid pub;
	const char *s = json_string_value(v);
	size_t got = 0;

	if (!s || json_string_length(v) != cf_encode_b64_len(sizeof(enc)) - 1)
		return 0;
	if (cf_encode_unb64(enc, sizeof(enc), &got, s) != 0 || got != sizeof(enc))
		return 0;
	return cf_pubid_decode(&pub, enc, got) == 0;
}

/* The Argon2id sets of core/kdf.h, as (opslimit, memlimit). */
static const int64_t kdf_sets[][2] = {{2, 67108864}, {3, 268435456}, {1, 8192}};

static int check_kdf(json_t *v, struct cf_kvd_err *e)
{
	json_t *ops, *mem;
	size_t i;

	if (!json_is_object(v))
		return cf_kvd_fail_field(e, "invalid_field", "kdf", "kdf must be an object");
	ops = json_object_get(v, "opslimit");
	mem = json_object_get(v, "memlimit");
	if (json_object_size(v) != (size_t)(!!ops + !!mem)) {
		char name[64] = "kdf";
		const char *k;
		json_t *x;
		json_object_foreach (v, k, x)
			if (strcmp(k, "opslimit") && strcmp(k, "memlimit") && strlen(k) < 48) {
				snprintf(name, sizeof(name), "kdf.%s", k);
				break;
			}
		return cf_kvd_fail_field(e, "unknown_field", name, "kdf has an unknown field");
	}
	if (!ops || !mem)
		return cf_kvd_fail_field(e, "missing_field", !ops ? "kdf.opslimit" : "kdf.memlimit",
					 "kdf needs opslimit and memlimit");
	if (!json_is_integer(ops) || !json_is_integer(mem))
		return cf_kvd_fail_field(e, "invalid_field",
					 !json_is_integer(ops) ? "kdf.opslimit" : "kdf.memlimit",
					 "kdf limits are integers");
	for (i = 0; i < sizeof(kdf_sets) / sizeof(kdf_sets[0]); i++)
		if (json_integer_value(ops) == kdf_sets[i][0] &&
		    json_integer_value(mem) == kdf_sets[i][1])
			return 0;
	return cf_kvd_fail_field(e, "invalid_field", "kdf",
				 "kdf is not one of the Argon2id parameter sets");
}

static int check_text(json_t *v, size_t min, size_t max)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (!s || len < min || len > max)
		return 0;
	return len == 0 || cf_kvd_request_name_ok(s, len);
}

static int check_kind(json_t *v)
{
	const char *s = json_string_value(v);
	size_t i, len = json_string_length(v);

	if (!s || len < 1 || len > KIND_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return 0;
	return 1;
}

/* Check one present, non-null field. Returns 0, an answered error, or -ENOMEM. */
static int check_field(const struct cf_kvd_field *f, json_t *v, struct cf_kvd_err *e)
{
	int ok = 0;
	size_t i;

	switch (f->type) {
	case CF_KVD_F_NAME:
		ok = check_text(v, 1, NAME_MAX_BYTES);
		break;
	case CF_KVD_F_LABEL:
		ok = check_text(v, 0, (size_t)f->max);
		break;
	case CF_KVD_F_KIND:
		ok = check_kind(v);
		break;
	case CF_KVD_F_INT:
		ok = json_is_integer(v) && json_integer_value(v) >= f->min &&
		     json_integer_value(v) <= f->max;
		break;
	case CF_KVD_F_B64:
		ok = check_b64(v, (size_t)f->min, (size_t)f->max);
		if (ok < 0)
			return cf_kvd_oom(e);
		break;
	case CF_KVD_F_IDENTITY:
		ok = check_identity(v);
		break;
	case CF_KVD_F_ENUM:
		for (i = 0; json_is_string(v) && f->values[i]; i++)
			if (!strcmp(json_string_value(v), f->values[i]))
				ok = 1;
		break;
	case CF_KVD_F_KDF:
		return check_kdf(v, e);
	}
	if (!ok)
		return cf_kvd_fail_field(e, "invalid_field", f->name, "field '%s' is not valid",
					 f->name);
	return 0;
}

static int validate(const struct cf_kvd_field *fields, json_t *obj, struct cf_kvd_err *e)
{
	const struct cf_kvd_field *f;
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach (obj, k, v) {
		for (f = fields; f->name; f++)
			if (!strcmp(f->name, k))
				break;
		if (!f->name)
			return cf_kvd_fail_field(e, "unknown_field", strlen(k) < 60 ? k : "?",
						 "unknown field");
	}
	for (f = fields; f->name; f++) {
		v = json_object_get(obj, f->name);
		if (!v || json_is_null(v)) {
			if (f->required)
				return cf_kvd_fail_field(e, "missing_field", f->name,
							 "field '%s' is required", f->name);
			continue;
		}
		rc = check_field(f, v, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int content_type_ok(const char *ct)
{
	const char *p;

	if (!ct || strncasecmp(ct, "application/json", 16) != 0)
		return 0;
	p = ct + 16;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 1;
	if (*p++ != ';')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return 0;
	p += 8;
	if (*p == '"')
		return !strcasecmp(p, "\"utf-8\"");
	return !strcasecmp(p, "utf-8");
}

int cf_kvd_request_body(struct cf_kvd_req *r, const char *content_type, const uint8_t *body,
			size_t len, struct cf_kvd_err *e)
{
	json_error_t jerr;
	json_t *obj;
	int rc;

	if (!r->route->fields) {
		if (len)
			return cf_kvd_fail(e, 400, "invalid_body", "this route takes no body");
		return 0;
	}
	rc = cf_kvd_request_length(r, len, e);
	if (rc)
		return rc;
	if (!content_type_ok(content_type))
		return cf_kvd_fail(e, 415, "unsupported_media_type",
				   "the body must be application/json");
	if (len == 0)
		return cf_kvd_fail(e, 400, "malformed_json", "a JSON object body is required");
	obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return cf_kvd_fail(e, 400, "malformed_json", "not valid JSON (at byte %d)",
				   jerr.position);
	if (!json_is_object(obj) || !depth_ok(obj, 1)) {
		json_decref(obj);
		return cf_kvd_fail(e, 400, "malformed_json",
				   "the body must be a JSON object nested at most %d deep",
				   BODY_MAX_DEPTH);
	}
	rc = validate(r->route->fields, obj, e);
	if (rc) {
		json_decref(obj);
		return rc;
	}
	r->body = obj;
	return 0;
}
