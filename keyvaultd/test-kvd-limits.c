/* SPDX-License-Identifier: ISC */
/*
 * keyvaultd's counters and secrets at rest: rate-limit windows and lockouts per address and
 * account, session tokens (stored hashed, expiring, revocable), the auth hash, and the
 * escrow key file (created 0600, refused when readable by others, seals bound to their
 * associated data).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_escrowkey.h"
#include "keyvaultd/kvd_limits.h"
#include "keyvaultd/kvd_session.h"
#include "schema/schema.h"
#include "tests/lib/check.h"

static char *dir;

static const char *tpath(const char *name)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static int64_t add_account(sqlite3 *db, const char *name)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO account (name, kdf_salt, kdf_opslimit, kdf_memlimit, auth_hash,"
		 " created_at) VALUES ('%s', zeroblob(16), 1, 8192, zeroblob(32), 1)", name);
	REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	return sqlite3_last_insert_rowid(db);
}

static void test_address_window(sqlite3 *db)
{
	struct cf_kvd_limits_cfg cfg;
	struct cf_kvd_err e;
	int64_t t = 1000000;

	cf_kvd_limits_defaults(&cfg);
	CHECK(cfg.rate_address == 600 && cfg.rate_account == 300 && cfg.lockout_failures == 5 &&
	      cfg.lockout_seconds == 900);
	cfg.rate_address = 3;
	for (int i = 0; i < 3; i++)
		CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.1", t + i, &e), 0);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.1", t + 10, &e), CF_E_BUSY);
	CHECK(e.status == 429 && !strcmp(e.code, "rate_limited") && e.retry_after == 50);
	/* another address has its own window */
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.2", t + 10, &e), 0);
	/* the window ends 60 s after it began */
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.1", t + 59, &e), CF_E_BUSY);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.1", t + 60, &e), 0);
	/* 0: no limit */
	cfg.rate_address = 0;
	for (int i = 0; i < 10; i++)
		CHECK_RC(cf_kvd_limits_address(db, &cfg, "192.0.2.1", t + 61, &e), 0);
}

static void test_lockout(sqlite3 *db)
{
	struct cf_kvd_limits_cfg cfg;
	struct cf_kvd_err e;
	int64_t acct = add_account(db, "locky"), other = add_account(db, "other");
	int64_t t = 2000000, until = -1;

	cf_kvd_limits_defaults(&cfg);
	cfg.lockout_failures = 3;
	cfg.lockout_seconds = 100;
	CHECK_RC(cf_kvd_limits_locked(db, acct, t, &e), 0);
	for (int i = 0; i < 2; i++) {
		CHECK_RC(cf_kvd_limits_failure(db, &cfg, acct, "198.51.100.1", t, &until), 0);
		CHECK(until == 0);
	}
	/* a success in between starts the count again */
	CHECK_RC(cf_kvd_limits_success(db, acct, "198.51.100.1"), 0);
	for (int i = 0; i < 2; i++)
		CHECK_RC(cf_kvd_limits_failure(db, &cfg, acct, "198.51.100.1", t, &until), 0);
	CHECK_RC(cf_kvd_limits_locked(db, acct, t, &e), 0);
	CHECK_RC(cf_kvd_limits_failure(db, &cfg, acct, "198.51.100.1", t, &until), 0);
	CHECK(until == t + 100);
	CHECK_RC(cf_kvd_limits_locked(db, acct, t + 99, &e), CF_E_BUSY);
	CHECK(e.status == 429 && !strcmp(e.code, "locked") && e.retry_after == 1);
	CHECK_RC(cf_kvd_limits_locked(db, other, t + 99, &e), 0);
	CHECK_RC(cf_kvd_limits_locked(db, acct, t + 100, &e), 0);
	/* failures go on counting: the next one locks again at once */
	CHECK_RC(cf_kvd_limits_failure(db, &cfg, acct, "198.51.100.1", t + 200, &until), 0);
	CHECK(until == t + 300);
	CHECK_RC(cf_kvd_limits_locked(db, acct, t + 200, &e), CF_E_BUSY);

	/* the address locks after 4 x lockout_failures, for every request it makes */
	for (int i = 0; i < 11; i++)
		CHECK_RC(cf_kvd_limits_failure(db, &cfg, 0, "198.51.100.9", t, NULL), 0);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "198.51.100.9", t, &e), 0);
	CHECK_RC(cf_kvd_limits_failure(db, &cfg, 0, "198.51.100.9", t, NULL), 0);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "198.51.100.9", t + 1, &e), CF_E_BUSY);
	CHECK(!strcmp(e.code, "locked") && e.retry_after == 99);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "198.51.100.10", t + 1, &e), 0);
	CHECK_RC(cf_kvd_limits_address(db, &cfg, "198.51.100.9", t + 100, &e), 0);
}

static int64_t count_sessions(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM session", -1, &st, NULL) == 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_sessions(sqlite3 *db)
{
	uint8_t tok[CF_KVD_TOKEN_BYTES], tok2[CF_KVD_TOKEN_BYTES], h1[32], h2[32];
	struct cf_kvd_session_info info;
	struct cf_kvd_err e;
	int64_t acct = add_account(db, "sess"), exp = 0, n = 0;
	int64_t t = 3000000;
	sqlite3_stmt *st;
	int found;

	CHECK_RC(cf_kvd_session_create(db, acct, 0, t, 10, "127.0.0.1", tok, &exp, &e), 0);
	CHECK(exp == t + 10);
	/* only the hash is stored */
	cf_kvd_session_token_hash(h1, tok);
	REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM session WHERE token_hash = ?1", -1,
				   &st, NULL) == 0);
	sqlite3_bind_blob(st, 1, h1, 32, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	CHECK(found);
	REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM session WHERE instr(token_hash, ?1)",
				   -1, &st, NULL) == 0);
	sqlite3_bind_blob(st, 1, tok, 32, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	CHECK(!found);

	CHECK_RC(cf_kvd_session_lookup(db, tok, t + 9, &info, &e), 0);
	CHECK(info.account_id == acct && info.device_id == 0 &&
	      info.device_state == CF_KVD_DEVICE_NONE && info.expires_at == t + 10);
	/* another token, a flipped bit: unknown */
	memcpy(tok2, tok, sizeof(tok2));
	tok2[5] ^= 0x20;
	CHECK_RC(cf_kvd_session_lookup(db, tok2, t, &info, &e), CF_E_AUTH);
	CHECK(e.status == 401 && !strcmp(e.code, "invalid_token"));
	/* expiry: refused, then gone */
	CHECK_RC(cf_kvd_session_lookup(db, tok, t + 10, &info, &e), CF_E_AUTH);
	CHECK(!strcmp(e.code, "token_expired"));
	CHECK_RC(cf_kvd_session_lookup(db, tok, t + 5, &info, &e), CF_E_AUTH);
	CHECK(!strcmp(e.code, "invalid_token"));

	/* revocation: one token, all but one, all of a device */
	CHECK_RC(cf_kvd_session_create(db, acct, 0, t, 10, "127.0.0.1", tok, &exp, &e), 0);
	CHECK_RC(cf_kvd_session_create(db, acct, 0, t, 10, "127.0.0.1", tok2, &exp, &e), 0);
	CHECK(memcmp(tok, tok2, sizeof(tok)) != 0);
	cf_kvd_session_token_hash(h1, tok);
	cf_kvd_session_token_hash(h2, tok2);
	CHECK_RC(cf_kvd_session_revoke(db, NULL, acct, 0, h1, &n), 0);
	CHECK(n == 1);
	CHECK_RC(cf_kvd_session_lookup(db, tok2, t, &info, &e), CF_E_AUTH);
	CHECK_RC(cf_kvd_session_lookup(db, tok, t, &info, &e), 0);
	CHECK_RC(cf_kvd_session_revoke(db, h1, 0, 0, NULL, &n), 0);
	CHECK(n == 1);
	CHECK_RC(cf_kvd_session_lookup(db, tok, t, &info, &e), CF_E_AUTH);
	/* purge removes expired ones */
	CHECK_RC(cf_kvd_session_create(db, acct, 0, t, 10, "127.0.0.1", tok, &exp, &e), 0);
	CHECK(count_sessions(db) == 1);
	CHECK_RC(cf_kvd_session_purge(db, t + 9), 0);
	CHECK(count_sessions(db) == 1);
	CHECK_RC(cf_kvd_session_purge(db, t + 10), 0);
	CHECK(count_sessions(db) == 0);

	/* auth hash: depends on salt and key */
	uint8_t salt[16] = {1}, key[32] = {2}, a[32], b[32];
	cf_kvd_session_auth_hash(a, salt, key);
	salt[15] = 9;
	cf_kvd_session_auth_hash(b, salt, key);
	CHECK(memcmp(a, b, 32) != 0);
	salt[15] = 0;
	key[31] = 1;
	cf_kvd_session_auth_hash(b, salt, key);
	CHECK(memcmp(a, b, 32) != 0);
	key[31] = 0;
	cf_kvd_session_auth_hash(b, salt, key);
	CHECK(memcmp(a, b, 32) == 0);
}

static void test_escrowkey(void)
{
	struct cf_kvd_escrowkey *k = NULL, *k2 = NULL;
	struct cf_secbuf *out = NULL;
	uint8_t secret[32], sealed[32 + CF_KVD_ESCROWKEY_OVERHEAD], p1[32], p2[32];
	const char *path = tpath("escrow.key");
	char ref[160];
	struct stat st;

	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(i * 3);
	CHECK_RC(cf_kvd_escrowkey_open_file(&k, path, 0), CF_E_NOTFOUND);
	CHECK(k == NULL);
	CHECK_RC(cf_kvd_escrowkey_open_file(&k, path, 1), 0);
	REQUIRE(k);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 40);
	snprintf(ref, sizeof(ref), "%s", cf_kvd_escrowkey_ref(k));
	CHECK(!strncmp(ref, "file:", 5) && strlen(ref) == 21);
	CHECK_RC(cf_kvd_escrowkey_seal(k, sealed, secret, sizeof(secret), (const uint8_t *)"ad", 2), 0);
	CHECK(memcmp(sealed + 25, secret, 32) != 0);
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, sizeof(sealed), (const uint8_t *)"ad", 2), 0);
	CHECK(out && cf_secbuf_len(out) == 32 && !memcmp(cf_secbuf_data(out), secret, 32));
	cf_secbuf_free(out);
	out = NULL;
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, sizeof(sealed), (const uint8_t *)"ae", 2),
		 CF_E_AUTH);
	CHECK(out == NULL);
	sealed[30] ^= 1;
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, sizeof(sealed), (const uint8_t *)"ad", 2),
		 CF_E_AUTH);
	sealed[30] ^= 1;
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, 40, (const uint8_t *)"ad", 2),
		 CF_E_TRUNCATED);
	sealed[0] = 2;
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, sizeof(sealed), (const uint8_t *)"ad", 2),
		 CF_E_VERSION);
	CHECK_RC(cf_kvd_escrowkey_prf(k, p1, "name", 4), 0);
	/* reopening the same file gives the same key (reference and PRF) */
	CHECK_RC(cf_kvd_escrowkey_open_file(&k2, path, 1), 0);
	REQUIRE(k2);
	CHECK(!strcmp(cf_kvd_escrowkey_ref(k2), ref));
	CHECK_RC(cf_kvd_escrowkey_prf(k2, p2, "name", 4), 0);
	CHECK(!memcmp(p1, p2, 32));
	CHECK_RC(cf_kvd_escrowkey_prf(k2, p2, "namf", 4), 0);
	CHECK(memcmp(p1, p2, 32) != 0);
	cf_kvd_escrowkey_free(k2);
	k2 = NULL;
	/* refused when others may read it, or when it is not an escrow key file */
	CHECK(chmod(path, 0640) == 0);
	CHECK_RC(cf_kvd_escrowkey_open_file(&k2, path, 1), CF_E_PERM);
	CHECK(chmod(path, 0600) == 0);
	int fd = open(tpath("other.key"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && write(fd, "not a key file at all, forty bytes long!", 40) == 40);
	close(fd);
	CHECK_RC(cf_kvd_escrowkey_open_file(&k2, tpath("other.key"), 1), CF_E_FORMAT);
	CHECK(k2 == NULL);
	/* a new key file is another key: its seals do not open under the first */
	CHECK_RC(cf_kvd_escrowkey_open_file(&k2, tpath("second.key"), 1), 0);
	REQUIRE(k2);
	CHECK(strcmp(cf_kvd_escrowkey_ref(k2), ref) != 0);
	CHECK_RC(cf_kvd_escrowkey_seal(k2, sealed, secret, sizeof(secret), NULL, 0), 0);
	CHECK_RC(cf_kvd_escrowkey_open(k, &out, sealed, sizeof(sealed), NULL, 0), CF_E_AUTH);
	cf_kvd_escrowkey_free(k);
	cf_kvd_escrowkey_free(k2);
	cf_kvd_escrowkey_free(NULL);
}

int main(void)
{
	sqlite3 *db = NULL;

	REQUIRE(cf_core_init() == 0);
	dir = check_tmpdir();
	REQUIRE(cf_schema_open(&db, tpath("kvd.db"), CF_SCHEMA_KEYVAULTD, 0) == 0);
	test_address_window(db);
	test_lockout(db);
	test_sessions(db);
	sqlite3_close_v2(db);
	test_escrowkey();
	check_rmtree(dir);
	return check_finish();
}
