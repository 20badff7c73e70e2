/* SPDX-License-Identifier: ISC */
/*
 * keyvaultd end to end without sockets: every route through cf_kvd_server_handle, on a real
 * database and escrow key file, with a pinned clock. Accounts, logins and lockout, device
 * binding and device logins, the directory, repositories and mode switches, escrow (and
 * that the database never holds a key in the clear), the server share's attempt limit, the
 * witness, the mailbox, the audit log, password change, account deletion, and that refused
 * requests change nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/identity.h"
#include "keyvaultd/kvd_escrowkey.h"
#include "keyvaultd/kvd_http.h"
#include "keyvaultd/kvd_server.h"
#include "schema/schema.h"
#include "tests/lib/check.h"

static struct cf_kvd_server *srv;
static int64_t now_ = 1800000000;
static const char *addr = "192.0.2.7";
static char *dir;

static int64_t pinned(void)
{
	return now_;
}

/* Call the server; @body is taken (may be NULL); returns the answer body, *@status. */
static json_t *call(const char *method, const char *path, const char *token, json_t *body,
		    int *status)
{
	struct cf_kvd_http_in in;
	struct cf_kvd_answer a;
	char auth[128], pathbuf[512], *q;
	const char *query[8];
	char *text = NULL;
	json_t *out;

	memset(&in, 0, sizeof(in));
	snprintf(pathbuf, sizeof(pathbuf), "%s", path);
	q = strchr(pathbuf, '?');
	if (q) { /* one key=value pair is all the tests need */
		*q++ = '\0';
		query[0] = q;
		query[1] = strchr(q, '=') ? strchr(q, '=') + 1 : NULL;
		if (query[1])
			((char *)query[1])[-1] = '\0';
		in.query = query;
		in.nquery = 1;
	}
	in.method = method;
	in.path = pathbuf;
	in.address = addr;
	if (token) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		in.authorization = auth;
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		REQUIRE(text);
		in.body = (const uint8_t *)text;
		in.body_len = strlen(text);
		in.content_type = "application/json";
		json_decref(body);
	}
	cf_kvd_server_handle(srv, &in, &a);
	free(text);
	*status = a.status;
	out = json_incref(a.body);
	cf_kvd_answer_clear(&a);
	REQUIRE(out);
	return out;
}

/* Call and check the status; returns the body (caller decrefs). */
static json_t *want(int status, const char *method, const char *path, const char *token,
		    json_t *body, int line)
{
	int got = 0;
	json_t *out = call(method, path, token, body, &got);

	check_count++;
	if (got != status) {
		char *t = json_dumps(out, JSON_COMPACT);
		check_failures++;
		fprintf(stderr, "%s:%d: %s %s: status %d, expected %d: %s\n", __FILE__, line,
			method, path, got, status, t ? t : "?");
		free(t);
	}
	return out;
}
#define WANT(st, m, p, t, b) want(st, m, p, t, b, __LINE__)

/* Expect an error answer with @code; nothing returned. */
static void want_err(int status, const char *code, const char *method, const char *path,
		     const char *token, json_t *body, int line)
{
	json_t *out = want(status, method, path, token, body, line);
	const char *got = json_string_value(json_object_get(out, "error"));

	check_count++;
	if (!got || strcmp(got, code) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: error %s, expected %s\n", __FILE__, line,
			got ? got : "(none)", code);
	}
	json_decref(out);
}
#define WANT_ERR(st, code, m, p, t, b) want_err(st, code, m, p, t, b, __LINE__)

static json_t *b64(const void *p, size_t n)
{
	char buf[256];

	REQUIRE(cf_encode_b64_len(n) <= sizeof(buf));
	cf_encode_b64(buf, sizeof(buf), p, n);
	return json_string(buf);
}

static void unb64(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;

	REQUIRE(s && cf_encode_unb64(out, n, &got, s) == 0 && got == n);
}

static json_t *identity_json(const struct cf_identity *id)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	struct cf_pubid pub;

	cf_identity_public(id, &pub);
	cf_pubid_encode(&pub, enc);
	return b64(enc, sizeof(enc));
}

static json_t *kdf_test(void)
{
	return json_pack("{s:i, s:i}", "opslimit", 1, "memlimit", 8192);
}

/* An auth key derived from @pw (tests: any 32 bytes do). */
static json_t *key_of(const char *pw)
{
	uint8_t k[32] = {0};

	snprintf((char *)k, sizeof(k), "%s", pw);
	return b64(k, 32);
}

static const uint8_t salt[16] = {9, 8, 7};

struct account {
	char name[32];
	char token[64];
	struct cf_identity *dev;
	int64_t device;
};

static void take_token(json_t *resp, char *token)
{
	const char *t = json_string_value(json_object_get(resp, "token"));

	REQUIRE(t && strlen(t) == 43);
	snprintf(token, 64, "%s", t);
}

static void bind_device(const char *token, struct cf_identity *dev, int64_t device, int status)
{
	uint8_t raw[32], sig[64];
	json_t *r;

	unb64(token, raw, 32);
	cf_identity_sign(dev, "coffer-kvd-session-v1", raw, 32, sig);
	r = WANT(status, "POST", "/v1/session/device", token,
		 json_pack("{s:I, s:o}", "device", (json_int_t)device, "signature", b64(sig, 64)));
	json_decref(r);
}

/* Create account @name with its first device, bound to the session in a->token. */
static void make_account(struct account *a, const char *name, const char *pw)
{
	json_t *r;

	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	r = WANT(201, "POST", "/v1/account", NULL,
		 json_pack("{s:s, s:o, s:o, s:o}", "name", name, "salt", b64(salt, 16), "kdf",
			   kdf_test(), "auth_key", key_of(pw)));
	take_token(r, a->token);
	json_decref(r);
	REQUIRE(cf_identity_new(&a->dev) == 0);
	r = WANT(201, "POST", "/v1/devices", a->token,
		 json_pack("{s:o, s:s, s:s}", "identity", identity_json(a->dev), "via", "first",
			   "label", "laptop"));
	a->device = json_integer_value(json_object_get(json_object_get(r, "device"), "id"));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r, "device"), "state")),
		      "active"));
	json_decref(r);
	bind_device(a->token, a->dev, a->device, 200);
}

static void login(const char *name, const char *pw, char *token)
{
	json_t *r = WANT(201, "POST", "/v1/session", NULL,
			 json_pack("{s:s, s:o}", "name", name, "auth_key", key_of(pw)));

	take_token(r, token);
	json_decref(r);
}

/* A dump of the tables that hold the service's state (not counters, sessions, audit). */
static char *dump_state(void)
{
	static const char *const tables[] = {"account", "device", "repository", "escrow",
					     "contact_share", "mailbox", "freshness"};
	sqlite3 *db = NULL;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap), path[4096];

	REQUIRE(out);
	snprintf(path, sizeof(path), "%s/kvd.db", dir);
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		char sql[128];
		sqlite3_stmt *st;
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY rowid", tables[t]);
		REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *v = sqlite3_column_blob(st, c);
				int n = sqlite3_column_bytes(st, c);
				if (len + (size_t)n * 2 + 16 > cap) {
					cap = cap * 2 + (size_t)n * 2;
					out = realloc(out, cap);
					REQUIRE(out);
				}
				for (int i = 0; i < n; i++)
					len += (size_t)sprintf(out + len, "%02x", v[i]);
				out[len++] = '|';
			}
			out[len++] = '\n';
		}
		sqlite3_finalize(st);
	}
	out[len] = '\0';
	sqlite3_close_v2(db);
	return out;
}

/* 1 when the bytes @p (@n) occur anywhere in the database file or its WAL. */
static int db_contains(const uint8_t *p, size_t n)
{
	static const char *const files[] = {"kvd.db", "kvd.db-wal"};
	int found = 0;

	for (size_t f = 0; f < 2 && !found; f++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
		FILE *fp = fopen(path, "rb");
		if (!fp)
			continue;
		fseek(fp, 0, SEEK_END);
		long size = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		uint8_t *buf = malloc((size_t)size + 1);
		REQUIRE(buf);
		if (fread(buf, 1, (size_t)size, fp) == (size_t)size)
			found = memmem(buf, (size_t)size, p, n) != NULL;
		free(buf);
		fclose(fp);
	}
	return found;
}

static void test_accounts(void)
{
	char tok[64], tok2[64];
	json_t *r;
	struct account a;

	r = WANT(200, "GET", "/v1/health", NULL, NULL);
	CHECK(!strcmp(json_string_value(json_object_get(r, "service")), "keyvaultd"));
	json_decref(r);
	make_account(&a, "alice", "correct horse");
	WANT_ERR(409, "name_taken", "POST", "/v1/account", NULL,
		 json_pack("{s:s, s:o, s:o, s:o}", "name", "alice", "salt", b64(salt, 16), "kdf",
			   kdf_test(), "auth_key", key_of("x")));
	/* prelogin: the account's salt; for unknown names a stable salt of the same shape */
	r = WANT(200, "POST", "/v1/account/prelogin", NULL, json_pack("{s:s}", "name", "alice"));
	uint8_t s[16];
	unb64(json_string_value(json_object_get(r, "salt")), s, 16);
	CHECK(!memcmp(s, salt, 16));
	CHECK(json_integer_value(json_object_get(json_object_get(r, "kdf"), "memlimit")) == 8192);
	json_decref(r);
	json_t *u1 = WANT(200, "POST", "/v1/account/prelogin", NULL, json_pack("{s:s}", "name", "nobody"));
	json_t *u2 = WANT(200, "POST", "/v1/account/prelogin", NULL, json_pack("{s:s}", "name", "nobody"));
	json_t *u3 = WANT(200, "POST", "/v1/account/prelogin", NULL, json_pack("{s:s}", "name", "nobodz"));
	CHECK(json_equal(u1, u2) && !json_equal(u1, u3));
	CHECK(json_integer_value(json_object_get(json_object_get(u1, "kdf"), "opslimit")) == 2);
	json_decref(u1);
	json_decref(u2);
	json_decref(u3);

	/* login, wrong key, unknown name: the same answer */
	login("alice", "correct horse", tok);
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
		 json_pack("{s:s, s:o}", "name", "alice", "auth_key", key_of("wrong")));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
		 json_pack("{s:s, s:o}", "name", "nobody", "auth_key", key_of("wrong")));
	/* logout; the token is dead afterwards (replay) */
	json_decref(WANT(200, "GET", "/v1/devices", tok, NULL));
	json_decref(WANT(200, "DELETE", "/v1/session", tok, NULL));
	WANT_ERR(401, "invalid_token", "GET", "/v1/devices", tok, NULL);
	WANT_ERR(401, "invalid_token", "DELETE", "/v1/session", tok, NULL);
	WANT_ERR(401, "unauthorized", "GET", "/v1/devices", NULL, NULL);
	/* expiry */
	login("alice", "correct horse", tok2);
	now_ += 599;
	json_decref(WANT(200, "GET", "/v1/devices", tok2, NULL));
	now_ += 1;
	WANT_ERR(401, "token_expired", "GET", "/v1/devices", tok2, NULL);
	WANT_ERR(401, "invalid_token", "GET", "/v1/devices", tok2, NULL);
	cf_identity_free(a.dev);
}

static void test_lockout(void)
{
	char tok[64];
	json_t *r;
	size_t i, failed = 0;
	struct account a;

	make_account(&a, "mallory-target", "secret");
	for (i = 0; i < 4; i++)
		WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
			 json_pack("{s:s, s:o}", "name", a.name, "auth_key", key_of("guess")));
	/* a success resets the count */
	login(a.name, "secret", tok);
	for (i = 0; i < 5; i++)
		WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
			 json_pack("{s:s, s:o}", "name", a.name, "auth_key", key_of("guess")));
	/* locked: even the right password is refused */
	WANT_ERR(429, "locked", "POST", "/v1/session", NULL,
		 json_pack("{s:s, s:o}", "name", a.name, "auth_key", key_of("secret")));
	/* the live session still reads the audit log, which shows the failures */
	r = WANT(200, "GET", "/v1/audit?limit=100", a.token, NULL);
	json_t *e;
	json_array_foreach (json_object_get(r, "entries"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "event")), "login-failed"))
			failed++;
	CHECK(failed == 9);
	json_decref(r);
	now_ += 900;
	login(a.name, "secret", tok);
	cf_identity_free(a.dev);
}

static const char repo_hex[] = "a1a2a3a4a5a6a7a8a9aaabacadaeaf00a1a2a3a4a5a6a7a8a9aaabacadaeaf00";
#define REPO "/v1/repos/a1a2a3a4a5a6a7a8a9aaabacadaeaf00a1a2a3a4a5a6a7a8a9aaabacadaeaf00"

static int64_t audit_count(const char *token, const char *event)
{
	json_t *r = WANT(200, "GET", "/v1/audit?limit=500", token, NULL), *e;
	int64_t n = 0;
	size_t i;

	json_array_foreach (json_object_get(r, "entries"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "event")), event))
			n++;
	json_decref(r);
	return n;
}

static void test_escrow_and_modes(void)
{
	uint8_t master[32], got[32];
	struct account a, b;
	char pwtok[64];
	json_t *r;

	make_account(&a, "carol", "pw-carol");
	make_account(&b, "dave", "pw-dave");
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)(0xc0 + i);
	login("carol", "pw-carol", pwtok); /* a password-only session: no device */
	WANT_ERR(403, "device_required", "PUT", REPO, pwtok,
		 json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1));
	r = WANT(201, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1));
	CHECK(json_is_true(json_object_get(r, "created")));
	json_decref(r);
	json_decref(WANT(200, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1)));
	WANT_ERR(404, "no_escrow", "GET", REPO "/escrow", a.token, NULL);
	WANT_ERR(409, "not_current_epoch", "PUT", REPO "/escrow", a.token,
		 json_pack("{s:i, s:o}", "epoch", 2, "key", b64(master, 32)));
	json_decref(WANT(201, "PUT", REPO "/escrow", a.token,
			 json_pack("{s:i, s:o}", "epoch", 1, "key", b64(master, 32))));
	WANT_ERR(409, "escrow_exists", "PUT", REPO "/escrow", a.token,
		 json_pack("{s:i, s:o}", "epoch", 1, "key", b64(master, 32)));
	CHECK(!db_contains(master, 32));
	/* read by the device, released to a password-only session: both in the audit log */
	r = WANT(200, "GET", REPO "/escrow", a.token, NULL);
	unb64(json_string_value(json_object_get(r, "key")), got, 32);
	CHECK(!memcmp(got, master, 32) && json_integer_value(json_object_get(r, "epoch")) == 1);
	json_decref(r);
	r = WANT(200, "GET", REPO "/escrow", pwtok, NULL);
	unb64(json_string_value(json_object_get(r, "key")), got, 32);
	CHECK(!memcmp(got, master, 32));
	json_decref(r);
	CHECK(audit_count(a.token, "escrow-read") == 1);
	CHECK(audit_count(a.token, "escrow-release") == 1);
	CHECK(audit_count(a.token, "escrow-store") == 1);
	/* another account sees none of it */
	WANT_ERR(404, "unknown_repository", "GET", REPO "/escrow", b.token, NULL);
	WANT_ERR(404, "unknown_repository", "GET", REPO, b.token, NULL);
	CHECK(audit_count(b.token, "escrow-read") == 0);

	/* epochs only grow */
	json_decref(WANT(200, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 2)));
	WANT_ERR(409, "epoch_backwards", "PUT", REPO, a.token,
		 json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1));
	/* the epoch 1 record stays until epoch 2 is escrowed */
	r = WANT(200, "GET", REPO, a.token, NULL);
	CHECK(json_integer_value(json_object_get(json_object_get(r, "escrow"), "epoch")) == 1);
	json_decref(r);
	master[0] ^= 0xff;
	r = WANT(201, "PUT", REPO "/escrow", a.token, json_pack("{s:i, s:o}", "epoch", 2, "key", b64(master, 32)));
	CHECK(json_array_size(json_object_get(r, "replaced")) == 1);
	json_decref(r);

	/* standard -> advanced: the escrow record goes in the same answer, and is logged */
	r = WANT(200, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "advanced", "epoch", 3));
	json_t *del = json_object_get(r, "escrow_deleted");
	CHECK(json_array_size(del) == 1 &&
	      json_integer_value(json_object_get(json_array_get(del, 0), "epoch")) == 2);
	CHECK(json_array_size(json_object_get(r, "audit")) == 2);
	json_decref(r);
	WANT_ERR(404, "no_escrow", "GET", REPO "/escrow", a.token, NULL);
	WANT_ERR(404, "no_escrow", "GET", REPO "/escrow", pwtok, NULL);
	WANT_ERR(409, "advanced_mode", "PUT", REPO "/escrow", a.token,
		 json_pack("{s:i, s:o}", "epoch", 3, "key", b64(master, 32)));
	CHECK(audit_count(a.token, "escrow-delete") == 2);
	CHECK(audit_count(a.token, "mode-change") == 3);
	r = WANT(200, "GET", "/v1/repos", a.token, NULL);
	json_t *repo = json_array_get(json_object_get(r, "repos"), 0);
	CHECK(!strcmp(json_string_value(json_object_get(repo, "repo")), repo_hex));
	CHECK(!strcmp(json_string_value(json_object_get(repo, "protection")), "advanced"));
	CHECK(json_is_null(json_object_get(repo, "escrow")));
	json_decref(r);
	CHECK(!db_contains(master, 32));

	/* advanced -> standard: a new epoch, escrowed alone */
	json_decref(WANT(200, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 4)));
	WANT_ERR(409, "not_current_epoch", "PUT", REPO "/escrow", a.token,
		 json_pack("{s:i, s:o}", "epoch", 3, "key", b64(master, 32)));
	json_decref(WANT(201, "PUT", REPO "/escrow", a.token, json_pack("{s:i, s:o}", "epoch", 4, "key", b64(master, 32))));
	r = WANT(200, "DELETE", REPO "/escrow", a.token, NULL);
	CHECK(json_array_size(json_object_get(r, "deleted")) == 1 &&
	      json_is_integer(json_object_get(r, "audit")));
	json_decref(r);
	r = WANT(200, "DELETE", REPO "/escrow", a.token, NULL);
	CHECK(json_array_size(json_object_get(r, "deleted")) == 0);
	json_decref(r);
	cf_identity_free(a.dev);
	cf_identity_free(b.dev);
}

static void test_share(void)
{
	uint8_t share[48], got[48];
	struct account a;
	json_t *r;
	int i;

	make_account(&a, "erin", "pw-erin");
	memset(share, 0x5e, sizeof(share));
	json_decref(WANT(201, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "advanced", "epoch", 1)));
	WANT_ERR(404, "no_share", "POST", REPO "/share/release", a.token,
		 json_pack("{s:o}", "auth_key", key_of("pw-erin")));
	WANT_ERR(409, "not_current_epoch", "PUT", REPO "/share", a.token,
		 json_pack("{s:i, s:o}", "epoch", 2, "share", b64(share, sizeof(share))));
	json_decref(WANT(201, "PUT", REPO "/share", a.token,
			 json_pack("{s:i, s:o}", "epoch", 1, "share", b64(share, sizeof(share)))));
	/* a wrong password counts as an attempt */
	WANT_ERR(401, "bad_credentials", "POST", REPO "/share/release", a.token,
		 json_pack("{s:o}", "auth_key", key_of("nope")));
	for (i = 2; i <= 10; i++) {
		r = WANT(200, "POST", REPO "/share/release", a.token,
			 json_pack("{s:o}", "auth_key", key_of("pw-erin")));
		unb64(json_string_value(json_object_get(r, "share")), got, sizeof(got));
		CHECK(!memcmp(got, share, sizeof(share)));
		CHECK(json_integer_value(json_object_get(r, "attempts")) == i);
		CHECK(json_integer_value(json_object_get(r, "remaining")) == 10 - i);
		json_decref(r);
	}
	WANT_ERR(410, "share_locked", "POST", REPO "/share/release", a.token,
		 json_pack("{s:o}", "auth_key", key_of("pw-erin")));
	CHECK(audit_count(a.token, "share-release") == 9);
	CHECK(audit_count(a.token, "share-release-failed") == 1);
	CHECK(audit_count(a.token, "share-destroyed") == 1);
	CHECK(!db_contains(share, sizeof(share)));
	/* a new split starts over */
	json_decref(WANT(201, "PUT", REPO "/share", a.token,
			 json_pack("{s:i, s:o}", "epoch", 1, "share", b64(share, sizeof(share)))));
	r = WANT(200, "POST", REPO "/share/release", a.token, json_pack("{s:o}", "auth_key", key_of("pw-erin")));
	CHECK(json_integer_value(json_object_get(r, "attempts")) == 1);
	json_decref(r);
	r = WANT(200, "DELETE", REPO "/share", a.token, NULL);
	CHECK(json_is_true(json_object_get(r, "deleted")));
	json_decref(r);
	WANT_ERR(404, "no_share", "POST", REPO "/share/release", a.token,
		 json_pack("{s:o}", "auth_key", key_of("pw-erin")));
	cf_identity_free(a.dev);
}

static json_t *witness_body(const struct cf_identity *dev, int64_t seq, const uint8_t hash[32])
{
	uint8_t msg[32 + 8 + 1 + 32], sig[64], repo[32];
	struct cf_pubid pub;
	size_t n = 0;

	REQUIRE(cf_encode_unhex(repo, 32, repo_hex) == 0);
	memcpy(msg, repo, 32);
	n = 32;
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)seq >> (8 * i));
	msg[n++] = 32;
	memcpy(msg + n, hash, 32);
	n += 32;
	cf_identity_sign(dev, "coffer-witness-v1", msg, n, sig);
	cf_identity_public(dev, &pub);
	return json_pack("{s:I, s:o, s:o, s:o}", "sequence", (json_int_t)seq, "manifest_hash",
			 b64(hash, 32), "signer", b64(pub.sign_pk, 32), "signature", b64(sig, 64));
}

static void test_witness(void)
{
	uint8_t h1[32], h2[32];
	struct cf_identity *stranger = NULL;
	struct account a;
	json_t *r, *body;

	make_account(&a, "frank", "pw-frank");
	memset(h1, 1, 32);
	memset(h2, 2, 32);
	WANT_ERR(404, "unknown_repository", "PUT", REPO "/witness", a.token, witness_body(a.dev, 5, h1));
	json_decref(WANT(201, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1)));
	WANT_ERR(404, "no_witness", "GET", REPO "/witness", a.token, NULL);
	r = WANT(200, "PUT", REPO "/witness", a.token, witness_body(a.dev, 5, h1));
	CHECK(json_is_true(json_object_get(r, "updated")));
	json_decref(r);
	r = WANT(200, "PUT", REPO "/witness", a.token, witness_body(a.dev, 5, h1));
	CHECK(json_is_false(json_object_get(r, "updated")));
	json_decref(r);
	WANT_ERR(409, "witness_conflict", "PUT", REPO "/witness", a.token, witness_body(a.dev, 5, h2));
	WANT_ERR(409, "witness_backwards", "PUT", REPO "/witness", a.token, witness_body(a.dev, 4, h2));
	REQUIRE(cf_identity_new(&stranger) == 0);
	WANT_ERR(403, "unknown_signer", "PUT", REPO "/witness", a.token, witness_body(stranger, 6, h2));
	body = witness_body(a.dev, 6, h2);
	json_object_set_new(body, "sequence", json_integer(7)); /* signed 6, claims 7 */
	WANT_ERR(403, "bad_signature", "PUT", REPO "/witness", a.token, body);
	json_decref(WANT(200, "PUT", REPO "/witness", a.token, witness_body(a.dev, 6, h2)));
	r = WANT(200, "GET", REPO "/witness", a.token, NULL);
	CHECK(json_integer_value(json_object_get(r, "sequence")) == 6);
	CHECK(json_integer_value(json_object_get(r, "signer_device")) == a.device);
	uint8_t got[32];
	unb64(json_string_value(json_object_get(r, "manifest_hash")), got, 32);
	CHECK(!memcmp(got, h2, 32));
	json_decref(r);
	cf_identity_free(stranger);
	cf_identity_free(a.dev);
}

static void test_devices_and_mailbox(void)
{
	struct cf_identity *d2 = NULL, *d3 = NULL;
	struct account a, b;
	char tok2[64], tok3[64], b2tok[64];
	int64_t id2, id3, msg;
	json_t *r;

	make_account(&a, "gina", "pw-gina");
	make_account(&b, "hank", "pw-hank");
	REQUIRE(cf_identity_new(&d2) == 0 && cf_identity_new(&d3) == 0);
	/* added by an active device */
	login("gina", "pw-gina", tok2);
	WANT_ERR(403, "device_required", "POST", "/v1/devices", tok2,
		 json_pack("{s:o, s:s}", "identity", identity_json(d2), "via", "device"));
	WANT_ERR(409, "not_first", "POST", "/v1/devices", tok2,
		 json_pack("{s:o, s:s}", "identity", identity_json(d2), "via", "first"));
	r = WANT(201, "POST", "/v1/devices", a.token,
		 json_pack("{s:o, s:s}", "identity", identity_json(d2), "via", "device"));
	id2 = json_integer_value(json_object_get(json_object_get(r, "device"), "id"));
	CHECK(json_integer_value(json_object_get(json_object_get(r, "device"), "added_by")) == a.device);
	json_decref(r);
	WANT_ERR(409, "device_exists", "POST", "/v1/devices", a.token,
		 json_pack("{s:o, s:s}", "identity", identity_json(d2), "via", "device"));
	bind_device(tok2, d2, id2, 200);
	bind_device(tok2, d2, id2, 409);
	/* asked by a new device, approved by an active one */
	login("gina", "pw-gina", tok3);
	r = WANT(201, "POST", "/v1/devices", tok3,
		 json_pack("{s:o, s:s}", "identity", identity_json(d3), "via", "request"));
	id3 = json_integer_value(json_object_get(json_object_get(r, "device"), "id"));
	json_decref(r);
	bind_device(tok3, d2, id3, 403); /* signed by the wrong key */
	bind_device(tok3, d3, id3, 200);
	WANT_ERR(403, "device_required", "PUT", REPO, tok3,
		 json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1));
	/* the pending device already has a mailbox: another account writes to it */
	uint8_t env[100];
	memset(env, 0xee, sizeof(env));
	login("hank", "pw-hank", b2tok);
	WANT_ERR(403, "device_required", "POST", "/v1/mailbox", b2tok,
		 json_pack("{s:s, s:I, s:s, s:o}", "to_account", "gina", "to_device", (json_int_t)id3,
			   "kind", "share-request", "envelope", b64(env, sizeof(env))));
	WANT_ERR(404, "unknown_device", "POST", "/v1/mailbox", b.token,
		 json_pack("{s:s, s:I, s:s, s:o}", "to_account", "gina", "to_device", (json_int_t)b.device,
			   "kind", "share-request", "envelope", b64(env, sizeof(env))));
	WANT_ERR(404, "unknown_account", "POST", "/v1/mailbox", b.token,
		 json_pack("{s:s, s:s, s:o}", "to_account", "nobody", "kind", "x", "envelope", b64(env, 10)));
	r = WANT(201, "POST", "/v1/mailbox", b.token,
		 json_pack("{s:s, s:I, s:s, s:o}", "to_account", "gina", "to_device", (json_int_t)id3,
			   "kind", "share-request", "envelope", b64(env, sizeof(env))));
	msg = json_integer_value(json_object_get(r, "id"));
	json_decref(r);
	/* only the addressed device sees it */
	r = WANT(200, "GET", "/v1/mailbox", a.token, NULL);
	CHECK(json_array_size(json_object_get(r, "messages")) == 0);
	json_decref(r);
	r = WANT(200, "GET", "/v1/mailbox?since=0", tok3, NULL);
	json_t *m = json_array_get(json_object_get(r, "messages"), 0);
	CHECK(json_array_size(json_object_get(r, "messages")) == 1);
	CHECK(m && !strcmp(json_string_value(json_object_get(m, "from_account")), "hank"));
	CHECK(m && json_integer_value(json_object_get(m, "from_device")) == b.device);
	CHECK(m && !strcmp(json_string_value(json_object_get(m, "kind")), "share-request"));
	json_decref(r);
	char path[64];
	snprintf(path, sizeof(path), "/v1/mailbox/%lld", (long long)msg);
	WANT_ERR(404, "unknown_message", "DELETE", path, a.token, NULL);
	WANT_ERR(404, "unknown_message", "DELETE", path, b.token, NULL);
	json_decref(WANT(200, "DELETE", path, tok3, NULL));
	WANT_ERR(404, "unknown_message", "DELETE", path, tok3, NULL);

	/* approval: by an active device only, once */
	snprintf(path, sizeof(path), "/v1/devices/%lld/approve", (long long)id3);
	WANT_ERR(403, "device_required", "POST", path, tok3, NULL);
	WANT_ERR(404, "unknown_device", "POST", path, b.token, NULL);
	r = WANT(200, "POST", path, a.token, NULL);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r, "device"), "state")), "active"));
	json_decref(r);
	WANT_ERR(409, "not_pending", "POST", path, a.token, NULL);
	CHECK(audit_count(a.token, "device-approve") == 1);

	/* the directory: active devices of another account */
	r = WANT(200, "POST", "/v1/directory", b.token, json_pack("{s:s}", "name", "gina"));
	CHECK(json_array_size(json_object_get(r, "devices")) == 3);
	json_decref(r);
	WANT_ERR(404, "unknown_account", "POST", "/v1/directory", b.token, json_pack("{s:s}", "name", "zed"));

	/* removal: final, its sessions end, another account cannot do it */
	snprintf(path, sizeof(path), "/v1/devices/%lld", (long long)id2);
	WANT_ERR(404, "unknown_device", "DELETE", path, b.token, NULL);
	r = WANT(200, "DELETE", path, a.token, NULL);
	CHECK(json_integer_value(json_object_get(r, "sessions_revoked")) == 1);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r, "device"), "state")), "removed"));
	json_decref(r);
	WANT_ERR(401, "invalid_token", "GET", "/v1/devices", tok2, NULL);
	WANT_ERR(404, "unknown_device", "DELETE", path, a.token, NULL);
	r = WANT(200, "POST", "/v1/directory", b.token, json_pack("{s:s}", "name", "gina"));
	CHECK(json_array_size(json_object_get(r, "devices")) == 2);
	json_decref(r);
	CHECK(audit_count(a.token, "device-remove") == 1);
	CHECK(audit_count(a.token, "device-add") == 2);

	/* a full mailbox refuses more (256 unexpired messages), until messages expire */
	int full = 0, n;
	for (n = 0; n < 300 && !full; n++) {
		int st = 0;
		json_t *x = call("POST", "/v1/mailbox", b.token,
				 json_pack("{s:s, s:s, s:o, s:i}", "to_account", "gina", "kind", "note",
					   "envelope", b64(env, 8), "ttl", 60),
				 &st);
		full = st == 429 && !strcmp(json_string_value(json_object_get(x, "error")), "mailbox_full");
		json_decref(x);
	}
	CHECK(full && n == 257);
	now_ += 61;
	json_decref(WANT(201, "POST", "/v1/mailbox", b.token,
			 json_pack("{s:s, s:s, s:o}", "to_account", "gina", "kind", "note", "envelope", b64(env, 8))));
	CHECK(audit_count(a.token, "device-request") == 1);
	cf_identity_free(d2);
	cf_identity_free(d3);
	cf_identity_free(a.dev);
	cf_identity_free(b.dev);
}

static json_t *device_login_body(const char *name, const struct cf_identity *dev, int64_t device,
				 int64_t t)
{
	uint8_t msg[300], sig[64];
	size_t n = strlen(name) + 1;

	memcpy(msg, name, n);
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)device >> (8 * i));
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)t >> (8 * i));
	cf_identity_sign(dev, "coffer-kvd-device-login-v1", msg, n, sig);
	return json_pack("{s:s, s:I, s:I, s:o}", "name", name, "device", (json_int_t)device, "time",
			 (json_int_t)t, "signature", b64(sig, 64));
}

static void test_device_login_and_recovery(void)
{
	struct cf_identity *nd = NULL;
	struct account a;
	char tok[64], ptok[64];
	json_t *r;
	int64_t pend;

	make_account(&a, "ivy", "pw-ivy");
	r = WANT(201, "POST", "/v1/session/device-login", NULL, device_login_body("ivy", a.dev, a.device, now_));
	take_token(r, tok);
	CHECK(json_integer_value(json_object_get(r, "device")) == a.device);
	json_decref(r);
	/* bound already: a device route works */
	json_decref(WANT(201, "PUT", REPO, tok, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1)));
	/* replayed, stale, future, wrong name: one answer */
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session/device-login", NULL, device_login_body("ivy", a.dev, a.device, now_));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session/device-login", NULL, device_login_body("ivy", a.dev, a.device, now_ - 301));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session/device-login", NULL, device_login_body("ivy", a.dev, a.device, now_ + 301));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session/device-login", NULL, device_login_body("gina", a.dev, a.device, now_ + 1));
	json_decref(WANT(201, "POST", "/v1/session/device-login", NULL, device_login_body("ivy", a.dev, a.device, now_ + 1)));

	/* recovery: a pending device becomes active with the password */
	REQUIRE(cf_identity_new(&nd) == 0);
	login("ivy", "pw-ivy", ptok);
	r = WANT(201, "POST", "/v1/devices", ptok, json_pack("{s:o, s:s}", "identity", identity_json(nd), "via", "request"));
	pend = json_integer_value(json_object_get(json_object_get(r, "device"), "id"));
	json_decref(r);
	bind_device(ptok, nd, pend, 200);
	WANT_ERR(400, "missing_field", "POST", "/v1/devices", ptok,
		 json_pack("{s:o, s:s}", "identity", identity_json(nd), "via", "recovery"));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/devices", ptok,
		 json_pack("{s:o, s:s, s:o}", "identity", identity_json(nd), "via", "recovery", "auth_key", key_of("x")));
	r = WANT(201, "POST", "/v1/devices", ptok,
		 json_pack("{s:o, s:s, s:o}", "identity", identity_json(nd), "via", "recovery", "auth_key", key_of("pw-ivy")));
	CHECK(json_integer_value(json_object_get(json_object_get(r, "device"), "id")) == pend);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r, "device"), "state")), "active"));
	json_decref(r);
	/* the same session now counts as an active device */
	json_decref(WANT(200, "PUT", REPO, ptok, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 2)));
	CHECK(audit_count(a.token, "device-add-recovery") == 1);
	cf_identity_free(nd);
	cf_identity_free(a.dev);
}

static void test_password_and_delete(void)
{
	struct account a, b;
	char tok[64], tok2[64];
	uint8_t master[32];
	json_t *r;

	make_account(&a, "jack", "old-pw");
	make_account(&b, "kim", "pw-kim");
	memset(master, 0x3c, sizeof(master));
	login("jack", "old-pw", tok);
	WANT_ERR(401, "bad_credentials", "PUT", "/v1/account/password", tok,
		 json_pack("{s:o, s:o, s:o, s:o}", "auth_key", key_of("nope"), "salt", b64(salt, 16),
			   "kdf", kdf_test(), "new_auth_key", key_of("new-pw")));
	r = WANT(200, "PUT", "/v1/account/password", tok,
		 json_pack("{s:o, s:o, s:o, s:o}", "auth_key", key_of("old-pw"), "salt", b64(salt, 16),
			   "kdf", kdf_test(), "new_auth_key", key_of("new-pw")));
	CHECK(json_integer_value(json_object_get(r, "sessions_revoked")) == 1);
	json_decref(r);
	WANT_ERR(401, "invalid_token", "GET", "/v1/devices", a.token, NULL);
	json_decref(WANT(200, "GET", "/v1/devices", tok, NULL));
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
		 json_pack("{s:s, s:o}", "name", "jack", "auth_key", key_of("old-pw")));
	login("jack", "new-pw", tok2);
	bind_device(tok2, a.dev, a.device, 200);
	json_decref(WANT(201, "PUT", REPO, tok2, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 1)));
	json_decref(WANT(201, "PUT", REPO "/escrow", tok2, json_pack("{s:i, s:o}", "epoch", 1, "key", b64(master, 32))));
	json_decref(WANT(201, "PUT", REPO "/share", tok2, json_pack("{s:i, s:o}", "epoch", 1, "share", b64(master, 8))));

	/* another account's token can do nothing to it */
	WANT_ERR(401, "bad_credentials", "DELETE", "/v1/account", b.token, json_pack("{s:o}", "auth_key", key_of("new-pw")));
	json_decref(WANT(200, "GET", "/v1/devices", tok2, NULL));
	/* deletion: everything goes, and says so */
	r = WANT(200, "DELETE", "/v1/account", tok2, json_pack("{s:o}", "auth_key", key_of("new-pw")));
	json_t *d = json_object_get(r, "deleted");
	CHECK(!strcmp(json_string_value(json_object_get(d, "account")), "jack"));
	CHECK(json_integer_value(json_object_get(d, "devices")) == 1);
	CHECK(json_integer_value(json_object_get(d, "escrow_records")) == 1);
	CHECK(json_integer_value(json_object_get(d, "contact_shares")) == 1);
	CHECK(json_integer_value(json_object_get(d, "repositories")) == 1);
	json_decref(r);
	WANT_ERR(401, "invalid_token", "GET", "/v1/devices", tok2, NULL);
	WANT_ERR(401, "bad_credentials", "POST", "/v1/session", NULL,
		 json_pack("{s:s, s:o}", "name", "jack", "auth_key", key_of("new-pw")));
	CHECK(!db_contains(master, 32));
	cf_identity_free(a.dev);
	cf_identity_free(b.dev);
}

/* Refused requests change nothing in the service's state. */
static void test_refusals_change_nothing(void)
{
	struct account a, b;
	char *before, *after;
	uint8_t master[32] = {7};

	make_account(&a, "lena", "pw-lena");
	make_account(&b, "max", "pw-max");
	json_decref(WANT(201, "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "standard", "epoch", 3)));
	json_decref(WANT(201, "PUT", REPO "/escrow", a.token, json_pack("{s:i, s:o}", "epoch", 3, "key", b64(master, 32))));
	before = dump_state();
	WANT_ERR(404, "unknown_repository", "PUT", REPO "/escrow", b.token, json_pack("{s:i, s:o}", "epoch", 1, "key", b64(master, 32)));
	WANT_ERR(401, "bad_credentials", "DELETE", "/v1/account", a.token, json_pack("{s:o}", "auth_key", key_of("x")));
	WANT_ERR(401, "bad_credentials", "DELETE", REPO, a.token, json_pack("{s:o}", "auth_key", key_of("x")));
	WANT_ERR(409, "epoch_backwards", "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "advanced", "epoch", 2));
	WANT_ERR(400, "invalid_field", "PUT", REPO, a.token, json_pack("{s:s, s:i}", "protection", "advanced", "epoch", 0));
	WANT_ERR(400, "unknown_field", "PUT", REPO "/escrow", a.token, json_pack("{s:i, s:o, s:b}", "epoch", 1, "key", b64(master, 32), "x", 1));
	WANT_ERR(401, "invalid_token", "PUT", REPO "/escrow", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", json_pack("{s:i, s:o}", "epoch", 1, "key", b64(master, 32)));
	WANT_ERR(404, "not_found", "PUT", "/v1/escrow", a.token, NULL);
	after = dump_state();
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);
	cf_identity_free(a.dev);
	cf_identity_free(b.dev);
}

/* Rate-limit keys of client addresses: IPv4 as is, IPv6 by /64, mapped IPv4 as IPv4. */
static void test_address_keys(void)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	char key[64];

	memset(&v4, 0, sizeof(v4));
	v4.sin_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.9", &v4.sin_addr);
	cf_kvd_http_address_key(&v4, key, sizeof(key));
	CHECK(!strcmp(key, "203.0.113.9"));
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &v6.sin6_addr);
	cf_kvd_http_address_key(&v6, key, sizeof(key));
	CHECK(!strcmp(key, "2001:db8:1:2::/64"));
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::1", &v6.sin6_addr);
	cf_kvd_http_address_key(&v6, key, sizeof(key));
	CHECK(!strcmp(key, "2001:db8:1:2::/64"));
	inet_pton(AF_INET6, "::ffff:198.51.100.4", &v6.sin6_addr);
	cf_kvd_http_address_key(&v6, key, sizeof(key));
	CHECK(!strcmp(key, "198.51.100.4"));
	cf_kvd_http_address_key(NULL, key, sizeof(key));
	CHECK(!strcmp(key, "unknown"));
}

static void run_cases(void)
{
	test_address_keys();
	test_accounts();
	test_lockout();
	test_escrow_and_modes();
	test_share();
	test_witness();
	test_devices_and_mailbox();
	test_device_login_and_recovery();
	test_password_and_delete();
	test_refusals_change_nothing();
}

int main(void)
{
	struct cf_kvd_config cfg;
	char db[4096], key[4096];

	REQUIRE(cf_core_init() == 0);
	dir = check_tmpdir();
	snprintf(db, sizeof(db), "%s/kvd.db", dir);
	snprintf(key, sizeof(key), "%s/escrow.key", dir);
	cf_kvd_server_defaults(&cfg);
	cfg.db_path = db;
	cfg.escrow_key_path = key;
	cfg.session_ttl = 600;
	cfg.clock = pinned;
	cfg.threads = 1;
	REQUIRE(cf_kvd_server_new(&srv, &cfg) == 0);
	run_cases();
	cf_kvd_server_free(srv);
	check_rmtree(dir);
	return check_finish();
}
