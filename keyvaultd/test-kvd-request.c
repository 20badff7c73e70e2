/* SPDX-License-Identifier: ISC */
/*
 * keyvaultd request parsing and validation: routes and path parameters, query parameters,
 * bearer tokens, content types, body limits, and each field rule of docs/keyvaultd-api.md
 * with the stable error code and field the client is told.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/identity.h"
#include "keyvaultd/kvd_request.h"
#include "tests/lib/check.h"

static const char hex64[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* Route @method @path; returns the answered status (0 on success) and fills @r. */
static int route(struct cf_kvd_req *r, const char *method, const char *path,
		 struct cf_kvd_err *e)
{
	memset(r, 0, sizeof(*r));
	memset(e, 0, sizeof(*e));
	return cf_kvd_request_route(r, method, path, e) ? e->status : 0;
}

static void test_routes(void)
{
	struct cf_kvd_req r;
	struct cf_kvd_err e;
	char path[256];
	size_t n, i;
	const struct cf_kvd_route *all = cf_kvd_request_routes(&n);

	/* every route of the table is reachable by its own method and a sample path */
	for (i = 0; i < n; i++) {
		const char *p = all[i].path;
		char *o = path;
		while (*p) {
			if (!strncmp(p, ":repo", 5)) {
				o += sprintf(o, "%s", hex64);
				p += 5;
			} else if (!strncmp(p, ":id", 3)) {
				o += sprintf(o, "42");
				p += 3;
			} else {
				*o++ = *p++;
			}
		}
		*o = '\0';
		CHECK(route(&r, all[i].method, path, &e) == 0);
		CHECK(r.route == &all[i]);
		CHECK((int)all[i].id == (int)i);
	}
	CHECK(route(&r, "GET", "/v1/repos/" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff/escrow", &e) == 0);
	CHECK(r.route && r.route->id == CF_KVD_R_ESCROW_GET);
	CHECK(r.repo[0] == 0x00 && r.repo[1] == 0x11 && r.repo[31] == 0xff);
	CHECK(r.since == -1 && r.limit == -1);
	CHECK(route(&r, "DELETE", "/v1/devices/9007199254740991", &e) == 0 && r.id == 9007199254740991LL);

	/* not found, method not allowed (with Allow), malformed parameters */
	CHECK(route(&r, "GET", "/v1/nope", &e) == 404 && !strcmp(e.code, "not_found"));
	CHECK(route(&r, "GET", "/", &e) == 404);
	CHECK(route(&r, "GET", "", &e) == 404);
	CHECK(route(&r, "GET", "v1/health", &e) == 404);
	CHECK(route(&r, "GET", "/v1/health/", &e) == 404);
	CHECK(route(&r, "GET", "//v1/health", &e) == 404);
	CHECK(route(&r, "GET", "/v1//health", &e) == 404);
	CHECK(route(&r, "GET", "/v2/health", &e) == 404);
	CHECK(route(&r, "GET", "/v1/a/b/c/d/e/f/g/h/i/j", &e) == 404);
	CHECK(route(&r, "PATCH", "/v1/health", &e) == 405 && !strcmp(e.code, "method_not_allowed"));
	CHECK(!strcmp(e.allow, "GET"));
	CHECK(route(&r, "POST", "/v1/repos", &e) == 405 && !strcmp(e.allow, "GET"));
	CHECK(route(&r, "PATCH", "/v1/session", &e) == 405 && !strcmp(e.allow, "POST, DELETE"));
	CHECK(route(&r, "GET", "/v1/repos/00112233", &e) == 400 && !strcmp(e.code, "invalid_path"));
	CHECK(route(&r, "GET", "/v1/repos/00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", &e) == 400);
	CHECK(route(&r, "GET", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg", &e) == 400);
	CHECK(route(&r, "DELETE", "/v1/devices/0", &e) == 400);
	CHECK(route(&r, "DELETE", "/v1/devices/01", &e) == 400);
	CHECK(route(&r, "DELETE", "/v1/devices/-1", &e) == 400);
	CHECK(route(&r, "DELETE", "/v1/devices/9007199254740992", &e) == 400);
	CHECK(route(&r, "DELETE", "/v1/devices/12345678901234567", &e) == 400);
	CHECK(route(&r, "POST", "/v1/devices/x/approve", &e) == 400);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	CHECK(route(&r, "GET", path, &e) == 404);
	CHECK(route(&r, NULL, "/v1/health", &e) == 404);
	CHECK(route(&r, "GET", NULL, &e) == 404);
}

static void test_query(void)
{
	struct cf_kvd_req r;
	struct cf_kvd_err e;

	CHECK(route(&r, "GET", "/v1/audit", &e) == 0);
	CHECK_RC(cf_kvd_request_query(&r, "since", "0", &e), 0);
	CHECK_RC(cf_kvd_request_query(&r, "limit", "500", &e), 0);
	CHECK(r.since == 0 && r.limit == 500);
	CHECK_RC(cf_kvd_request_query(&r, "since", "5", &e), CF_E_INVAL);
	CHECK(!strcmp(e.code, "invalid_query"));
	CHECK(route(&r, "GET", "/v1/audit", &e) == 0);
	CHECK_RC(cf_kvd_request_query(&r, "limit", "501", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "limit", "0", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "since", "-1", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "since", "1e3", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "since", "", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "since", NULL, &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, "other", "1", &e), CF_E_INVAL);
	CHECK_RC(cf_kvd_request_query(&r, NULL, "1", &e), CF_E_INVAL);
	CHECK(route(&r, "GET", "/v1/mailbox", &e) == 0);
	CHECK_RC(cf_kvd_request_query(&r, "limit", "100", &e), 0);
	CHECK(route(&r, "GET", "/v1/mailbox", &e) == 0);
	CHECK_RC(cf_kvd_request_query(&r, "limit", "101", &e), CF_E_INVAL);
	CHECK(route(&r, "GET", "/v1/devices", &e) == 0);
	CHECK_RC(cf_kvd_request_query(&r, "since", "1", &e), CF_E_INVAL);
}

static void test_bearer(void)
{
	uint8_t token[32];
	char b64[64], header[96];
	struct cf_kvd_req r;
	struct cf_kvd_err e;

	for (int i = 0; i < 32; i++)
		token[i] = (uint8_t)(7 * i + 1);
	cf_encode_b64(b64, sizeof(b64), token, sizeof(token));
	CHECK(strlen(b64) == 43);
	route(&r, "GET", "/v1/devices", &e);
	CHECK_RC(cf_kvd_request_bearer(&r, NULL, &e), 0);
	CHECK(!r.has_token);
	snprintf(header, sizeof(header), "Bearer %s", b64);
	CHECK_RC(cf_kvd_request_bearer(&r, header, &e), 0);
	CHECK(r.has_token && !memcmp(r.token, token, 32));
	snprintf(header, sizeof(header), "bearer   %s", b64);
	memset(&r, 0, sizeof(r));
	CHECK_RC(cf_kvd_request_bearer(&r, header, &e), 0);
	CHECK(r.has_token);
	static const char *const bad[] = {
	    "", "Bearer", "Bearer ", "Basic abc", "Bearer abc",
	    "Bearer AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09rh6O_2", /* 35 bytes */
	    "Bearer AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09p=",
	    "Bearer AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09!",
	    "Bearer AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09r ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		CHECK_RC(cf_kvd_request_bearer(&r, bad[i], &e), CF_E_AUTH);
		CHECK(e.status == 401 && !strcmp(e.code, "unauthorized") && !r.has_token);
	}
	/* a token whose last character carries non-zero padding bits is not canonical */
	snprintf(header, sizeof(header), "Bearer %s", b64);
	header[strlen(header) - 1] = header[strlen(header) - 1] == 'B' ? 'C' : 'B';
	memset(&r, 0, sizeof(r));
	CHECK_RC(cf_kvd_request_bearer(&r, header, &e), CF_E_AUTH);
}

/* Validate @body for @method @path; returns the status (0 ok) and the error in @e. */
static int body(const char *method, const char *path, const char *ct, const char *text,
		struct cf_kvd_err *e, struct cf_kvd_req *keep)
{
	struct cf_kvd_req r;
	int rc;

	REQUIRE(route(&r, method, path, e) == 0);
	memset(e, 0, sizeof(*e));
	rc = cf_kvd_request_body(&r, ct, (const uint8_t *)text, text ? strlen(text) : 0, e);
	if (keep && !rc)
		*keep = r;
	else
		cf_kvd_request_clear(&r);
	return rc ? e->status : 0;
}

#define JSON "application/json"
#define B32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define B16 "AAAAAAAAAAAAAAAAAAAAAA"

static void expect(const char *method, const char *path, const char *text, int status,
		   const char *code, const char *field)
{
	struct cf_kvd_err e;
	int got = body(method, path, JSON, text, &e, NULL);

	CHECK(got == status);
	if (got != status)
		fprintf(stderr, "  body %s: got %d %s (%s), want %d\n", text, got,
			e.code ? e.code : "-", e.message, status);
	if (status && got == status) {
		CHECK(!strcmp(e.code, code));
		if (field)
			CHECK(!strcmp(e.field, field));
	}
}

static void test_body_generic(void)
{
	struct cf_kvd_err e;
	char *big;

	CHECK(body("GET", "/v1/health", NULL, NULL, &e, NULL) == 0);
	CHECK(body("GET", "/v1/health", NULL, "{}", &e, NULL) == 400 &&
	      !strcmp(e.code, "invalid_body"));
	CHECK(body("POST", "/v1/account/prelogin", "text/plain", "{\"name\":\"a\"}", &e, NULL) ==
	      415);
	CHECK(body("POST", "/v1/account/prelogin", NULL, "{\"name\":\"a\"}", &e, NULL) == 415);
	CHECK(body("POST", "/v1/account/prelogin", "application/json; charset=utf-8",
		   "{\"name\":\"a\"}", &e, NULL) == 0);
	CHECK(body("POST", "/v1/account/prelogin", "Application/JSON;charset=\"UTF-8\"",
		   "{\"name\":\"a\"}", &e, NULL) == 0);
	CHECK(body("POST", "/v1/account/prelogin", "application/json; charset=latin1",
		   "{\"name\":\"a\"}", &e, NULL) == 415);
	CHECK(body("POST", "/v1/account/prelogin", "application/jsonx", "{\"name\":\"a\"}", &e,
		   NULL) == 415);
	CHECK(body("POST", "/v1/account/prelogin", JSON, NULL, &e, NULL) == 400 &&
	      !strcmp(e.code, "malformed_json"));
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\"", 400, "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "[]", 400, "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "\"a\"", 400, "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\"} {}", 400, "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\",\"name\":\"b\"}", 400,
	       "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"\\u0000\"}", 400, "malformed_json",
	       NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"\xff\"}", 400, "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\",\"x\":[[[[1]]]]}", 400,
	       "malformed_json", NULL);
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\",\"x\":1}", 400, "unknown_field",
	       "x");
	expect("POST", "/v1/account/prelogin", "{}", 400, "missing_field", "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":null}", 400, "missing_field", "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":1}", 400, "invalid_field", "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":\"\"}", 400, "invalid_field", "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\\nb\"}", 400, "invalid_field",
	       "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":\"a\\u007fb\"}", 400, "invalid_field",
	       "name");
	expect("POST", "/v1/account/prelogin", "{\"name\":\"J\\u00f6rg \\ud83d\\ude00\"}", 0, NULL,
	       NULL);

	/* size limits: the general 64 KiB one, and the declared length checked first */
	big = malloc(70000);
	REQUIRE(big);
	memset(big, ' ', 69999);
	big[0] = '{';
	memcpy(big + 1, "\"name\":\"a\"", 10);
	big[69998] = '}';
	big[69999] = '\0';
	CHECK(body("POST", "/v1/account/prelogin", JSON, big, &e, NULL) == 413 &&
	      !strcmp(e.code, "too_large"));
	free(big);
	struct cf_kvd_req r;
	route(&r, "POST", "/v1/mailbox", &e);
	CHECK_RC(cf_kvd_request_length(&r, 2u << 20, &e), 0);
	CHECK_RC(cf_kvd_request_length(&r, (2u << 20) + 1, &e), CF_E_LIMIT);
	route(&r, "POST", "/v1/session", &e);
	CHECK_RC(cf_kvd_request_length(&r, 65536, &e), 0);
	CHECK_RC(cf_kvd_request_length(&r, 65537, &e), CF_E_LIMIT);
	route(&r, "GET", "/v1/devices", &e);
	CHECK_RC(cf_kvd_request_length(&r, 0, &e), 0);
	CHECK_RC(cf_kvd_request_length(&r, 1, &e), CF_E_INVAL);
	CHECK(!strcmp(e.code, "invalid_body"));
}

static void test_body_fields(void)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	char ident[256], text[1024];
	struct cf_identity *id = NULL;
	struct cf_pubid pub, got;
	struct cf_kvd_req r;
	struct cf_kvd_err e;
	int64_t ops = 0, mem = 0, v = 0;

	/* kdf: exactly the documented parameter sets */
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":2,\"memlimit\":67108864},"
	       "\"auth_key\":\"" B32 "\"}", 0, NULL, NULL);
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":2,\"memlimit\":8192},"
	       "\"auth_key\":\"" B32 "\"}", 400, "invalid_field", "kdf");
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":1},"
	       "\"auth_key\":\"" B32 "\"}", 400, "missing_field", "kdf.memlimit");
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":1,\"memlimit\":8192,"
	       "\"p\":1},\"auth_key\":\"" B32 "\"}", 400, "unknown_field", "kdf.p");
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":1.0,\"memlimit\":8192},"
	       "\"auth_key\":\"" B32 "\"}", 400, "invalid_field", "kdf.opslimit");
	expect("POST", "/v1/account",
	       "{\"name\":\"a\",\"salt\":\"" B16 "\",\"kdf\":[1,8192],\"auth_key\":\"" B32 "\"}",
	       400, "invalid_field", "kdf");
	/* byte strings: exact decoded lengths, canonical unpadded URL-safe base64 */
	expect("POST", "/v1/session", "{\"name\":\"a\",\"auth_key\":\"" B16 "\"}", 400,
	       "invalid_field", "auth_key");
	expect("POST", "/v1/session", "{\"name\":\"a\",\"auth_key\":\"" B32 "A\"}", 400,
	       "invalid_field", "auth_key");
	expect("POST", "/v1/session", "{\"name\":\"a\",\"auth_key\":\"" B32 "=\"}", 400,
	       "invalid_field", "auth_key");
	expect("POST", "/v1/session",
	       "{\"name\":\"a\",\"auth_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+\"}", 400,
	       "invalid_field", "auth_key");
	expect("POST", "/v1/session", "{\"name\":\"a\",\"auth_key\":32}", 400, "invalid_field",
	       "auth_key");
	/* integers: type and range */
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":4294967295}", 0, NULL, NULL);
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":4294967296}", 400, "invalid_field", "epoch");
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":0}", 400, "invalid_field", "epoch");
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":\"1\"}", 400, "invalid_field", "epoch");
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":true}", 400, "invalid_field", "epoch");
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"standard\",\"epoch\":99999999999999999999999}", 400,
	       "malformed_json", NULL);
	expect("PUT", "/v1/repos/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	       "{\"protection\":\"open\",\"epoch\":1}", 400, "invalid_field", "protection");
	/* mailbox kinds and ttl */
	expect("POST", "/v1/mailbox", "{\"kind\":\"key-slot\",\"envelope\":\"AA\"}", 0, NULL, NULL);
	expect("POST", "/v1/mailbox", "{\"kind\":\"Key\",\"envelope\":\"AA\"}", 400,
	       "invalid_field", "kind");
	expect("POST", "/v1/mailbox", "{\"kind\":\"k\",\"envelope\":\"\"}", 400, "invalid_field",
	       "envelope");
	expect("POST", "/v1/mailbox", "{\"kind\":\"k\",\"envelope\":\"AA\",\"ttl\":59}", 400,
	       "invalid_field", "ttl");
	expect("POST", "/v1/mailbox", "{\"kind\":\"k\",\"envelope\":\"AA\",\"to_device\":null}", 0,
	       NULL, NULL);

	/* identities: must decode (self-signature included) */
	REQUIRE(cf_identity_new(&id) == 0);
	cf_identity_public(id, &pub);
	cf_pubid_encode(&pub, enc);
	cf_encode_b64(ident, sizeof(ident), enc, sizeof(enc));
	snprintf(text, sizeof(text), "{\"identity\":\"%s\",\"via\":\"first\",\"label\":\"phone\"}",
		 ident);
	CHECK(body("POST", "/v1/devices", JSON, text, &e, &r) == 0);
	CHECK_RC(cf_kvd_request_identity(&r, "identity", &got), 0);
	CHECK(cf_pubid_equal(&got, &pub));
	CHECK(!strcmp(cf_kvd_request_str(&r, "label"), "phone"));
	CHECK(!cf_kvd_request_has(&r, "auth_key"));
	CHECK_RC(cf_kvd_request_int(&r, "label", &v), CF_E_NOTFOUND);
	cf_kvd_request_clear(&r);
	enc[40] ^= 1; /* breaks the self-signature */
	cf_encode_b64(ident, sizeof(ident), enc, sizeof(enc));
	snprintf(text, sizeof(text), "{\"identity\":\"%s\",\"via\":\"first\"}", ident);
	expect("POST", "/v1/devices", text, 400, "invalid_field", "identity");
	expect("POST", "/v1/devices", "{\"identity\":\"AAAA\",\"via\":\"first\"}", 400,
	       "invalid_field", "identity");
	cf_identity_free(id);

	/* accessors of a validated body */
	CHECK(body("POST", "/v1/account", JSON,
		   "{\"name\":\"b\",\"salt\":\"" B16 "\",\"kdf\":{\"opslimit\":3,"
		   "\"memlimit\":268435456},\"auth_key\":\"" B32 "\"}",
		   &e, &r) == 0);
	CHECK_RC(cf_kvd_request_kdf(&r, &ops, &mem), 0);
	CHECK(ops == 3 && mem == 268435456);
	uint8_t key[32] = {1};
	size_t len = 0;
	CHECK_RC(cf_kvd_request_bytes(&r, "auth_key", key, sizeof(key), &len), 0);
	CHECK(len == 32 && cf_core_is_zero(key, 32));
	cf_kvd_request_clear(&r);
	CHECK(r.body == NULL && r.route == NULL);
}

static void test_names(void)
{
	CHECK(cf_kvd_request_name_ok("alice", 5));
	CHECK(cf_kvd_request_name_ok("+49 170 1234567", 15));
	CHECK(cf_kvd_request_name_ok("\xc3\xa9", 2));
	CHECK(cf_kvd_request_name_ok("\xf0\x9f\x98\x80", 4));
	CHECK(!cf_kvd_request_name_ok("", 0));
	CHECK(!cf_kvd_request_name_ok("a\tb", 3));
	CHECK(!cf_kvd_request_name_ok("\xc0\xaf", 2));         /* overlong */
	CHECK(!cf_kvd_request_name_ok("\xed\xa0\x80", 3));     /* surrogate */
	CHECK(!cf_kvd_request_name_ok("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	CHECK(!cf_kvd_request_name_ok("\xe2\x82", 2));         /* truncated */
	char long_name[258];
	memset(long_name, 'x', sizeof(long_name));
	CHECK(cf_kvd_request_name_ok(long_name, 256));
	CHECK(!cf_kvd_request_name_ok(long_name, 257));
}

int main(void)
{
	REQUIRE(cf_core_init() == 0);
	test_routes();
	test_query();
	test_bearer();
	test_body_generic();
	test_body_fields();
	test_names();
	return check_finish();
}
