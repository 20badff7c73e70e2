/* SPDX-License-Identifier: ISC */
/* Accounts and sessions: prelogin, create, login, logout, device binding, password change,
 * account deletion (docs/keyvaultd-api.md "Account and password"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/identity.h"
#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_escrowkey.h"
#include "keyvaultd/kvd_request.h"
#include "keyvaultd/kvd_server.h"
#include "keyvaultd/kvd_session.h"

#define KDF_DEFAULT_OPS 2
#define KDF_DEFAULT_MEM 67108864

static const struct cf_kvd_config *cfg(const struct cf_kvd_ctx *c)
{
	return cf_kvd_server_config(c->srv);
}

static json_t *kdf_json(int64_t ops, int64_t mem)
{
	return json_pack("{s:I, s:I}", "opslimit", (json_int_t)ops, "memlimit", (json_int_t)mem);
}

int cf_kvd_account_prelogin(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *name = cf_kvd_request_str(c->req, "name");
	uint8_t salt[CF_KVD_ESCROWKEY_PRF_BYTES];
	int64_t ops = KDF_DEFAULT_OPS, mem = KDF_DEFAULT_MEM;
	sqlite3_stmt *st;
	int step;

	st = cf_kvd_db_prepare(c->db, "SELECT kdf_salt, kdf_opslimit, kdf_memlimit FROM account"
				      " WHERE name = ?1");
	if (!st)
		return cf_kvd_dberr(e, c->db, "prelogin");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CF_KVD_SALT_BYTES) {
		memcpy(salt, sqlite3_column_blob(st, 0), CF_KVD_SALT_BYTES);
		ops = sqlite3_column_int64(st, 1);
		mem = sqlite3_column_int64(st, 2);
	} else if (step == SQLITE_DONE) {
		/* an unknown name gets a stable salt nobody can tell from a real one */
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "coffer-kvd-prelogin-v1%c%s", 0, name);
		cf_kvd_escrowkey_prf(cf_kvd_server_escrowkey(c->srv), salt, msg, (size_t)n);
	} else {
		sqlite3_finalize(st);
		return cf_kvd_dberr(e, c->db, "prelogin");
	}
	sqlite3_finalize(st);
	*resp = json_pack("{s:o, s:o}", "salt", cf_kvd_b64_json(salt, CF_KVD_SALT_BYTES), "kdf",
			  kdf_json(ops, mem));
	return *resp ? 0 : cf_kvd_oom(e);
}

/* A new session for c->account_id (bound to c->device_id when set): the 201 answer
 * {"account","token","expires_at"}. */
static int new_session(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const char *name,
		       json_t **resp)
{
	uint8_t token[CF_KVD_TOKEN_BYTES];
	int64_t expires;
	int rc;

	rc = cf_kvd_session_create(c->db, c->account_id, c->device_id, c->now,
				   cfg(c)->session_ttl, c->address, token, &expires, e);
	if (rc)
		return rc;
	*resp = json_pack("{s:s, s:o, s:I}", "account", name, "token",
			  cf_kvd_b64_json(token, sizeof(token)), "expires_at", (json_int_t)expires);
	cf_core_wipe(token, sizeof(token));
	if (*resp && c->device_id &&
	    json_object_set_new(*resp, "device", json_integer(c->device_id)) != 0) {
		json_decref(*resp);
		*resp = NULL;
	}
	if (!*resp)
		return cf_kvd_oom(e);
	c->status = 201;
	return 0;
}

int cf_kvd_account_create(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *name = cf_kvd_request_str(c->req, "name");
	uint8_t salt[CF_KVD_SALT_BYTES], key[CF_KVD_AUTH_KEY_BYTES], hash[CF_KVD_AUTH_HASH_BYTES];
	int64_t ops = 0, mem = 0;
	size_t n;
	sqlite3_stmt *st;
	int rc, step;

	cf_kvd_request_bytes(c->req, "salt", salt, sizeof(salt), &n);
	cf_kvd_request_bytes(c->req, "auth_key", key, sizeof(key), &n);
	cf_kvd_request_kdf(c->req, &ops, &mem);
	cf_kvd_session_auth_hash(hash, salt, key);
	cf_core_wipe(key, sizeof(key));
	st = cf_kvd_db_prepare(c->db, "INSERT INTO account (name, kdf_salt, kdf_opslimit,"
				      " kdf_memlimit, auth_hash, created_at)"
				      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st)
		return cf_kvd_dberr(e, c->db, "new account");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, salt, sizeof(salt), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ops);
	sqlite3_bind_int64(st, 4, mem);
	sqlite3_bind_blob(st, 5, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->now);
	step = sqlite3_step(st);
	if (step != SQLITE_DONE && step != SQLITE_CONSTRAINT_UNIQUE)
		rc = cf_kvd_dberr(e, c->db, "new account");
	sqlite3_finalize(st);
	if (step == SQLITE_CONSTRAINT_UNIQUE)
		return cf_kvd_fail(e, 409, "name_taken", "an account with this name exists");
	if (step != SQLITE_DONE)
		return rc;
	c->account_id = sqlite3_last_insert_rowid(c->db);
	rc = cf_kvd_audit_add(c, c->account_id, "account-create", "session", NULL, NULL);
	if (rc)
		return cf_kvd_dberr(e, c->db, "audit");
	return new_session(c, e, name, resp);
}

/* Count a failed authentication of @account (0: unknown name) and answer 401. */
static int auth_failed(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t account)
{
	int64_t until = 0;
	json_t *detail = NULL;
	int rc;

	c->keep_changes = 1;
	rc = cf_kvd_limits_failure(c->db, &cfg(c)->limits, account, c->address, c->now, &until);
	if (!rc && account > 0) {
		detail = until ? json_pack("{s:I}", "locked_until", (json_int_t)until) : NULL;
		rc = cf_kvd_audit_add(c, account, "login-failed", NULL, detail, NULL);
		json_decref(detail);
	}
	if (rc) {
		c->keep_changes = 0;
		return cf_kvd_dberr(e, c->db, "counting a failed login");
	}
	return cf_kvd_fail(e, 401, "bad_credentials", "wrong account name or password");
}

/* Compare the body's "auth_key" (in constant time) with @stored for @salt. 1 if equal. */
static int key_matches(const struct cf_kvd_ctx *c, const char *field, const uint8_t *salt,
		       const uint8_t *stored)
{
	uint8_t key[CF_KVD_AUTH_KEY_BYTES], hash[CF_KVD_AUTH_HASH_BYTES];
	size_t n = 0;
	int eq;

	if (cf_kvd_request_bytes(c->req, field, key, sizeof(key), &n) != 0 || n != sizeof(key))
		memset(key, 0, sizeof(key));
	cf_kvd_session_auth_hash(hash, salt, key);
	eq = cf_core_equal(hash, stored, sizeof(hash));
	cf_core_wipe(key, sizeof(key));
	return eq;
}

/* Load the salt and auth hash of @account (or of the account named @name when > 0 is not
 * given). Returns SQLITE_ROW, SQLITE_DONE (none) or an error. */
static int load_auth(sqlite3 *db, int64_t account, const char *name, int64_t *id,
		     uint8_t salt[CF_KVD_SALT_BYTES], uint8_t hash[CF_KVD_AUTH_HASH_BYTES])
{
	sqlite3_stmt *st;
	int step;

	st = cf_kvd_db_prepare(db, name ? "SELECT id, kdf_salt, auth_hash FROM account"
					  " WHERE name = ?1"
					: "SELECT id, kdf_salt, auth_hash FROM account WHERE id = ?1");
	if (!st)
		return SQLITE_ERROR;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, account);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != CF_KVD_SALT_BYTES ||
		    sqlite3_column_bytes(st, 2) != CF_KVD_AUTH_HASH_BYTES) {
			step = SQLITE_CORRUPT;
		} else {
			*id = sqlite3_column_int64(st, 0);
			memcpy(salt, sqlite3_column_blob(st, 1), CF_KVD_SALT_BYTES);
			memcpy(hash, sqlite3_column_blob(st, 2), CF_KVD_AUTH_HASH_BYTES);
		}
	}
	sqlite3_finalize(st);
	return step;
}

int cf_kvd_account_login(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *name = cf_kvd_request_str(c->req, "name");
	uint8_t salt[CF_KVD_SALT_BYTES] = {0}, hash[CF_KVD_AUTH_HASH_BYTES] = {0};
	int64_t id = 0;
	int rc, step;

	step = load_auth(c->db, 0, name, &id, salt, hash);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return cf_kvd_dberr(e, c->db, "login");
	if (step == SQLITE_DONE) {
		key_matches(c, "auth_key", salt, hash); /* the same work as for a real account */
		return auth_failed(c, e, 0);
	}
	rc = cf_kvd_limits_locked(c->db, id, c->now, e);
	if (!rc)
		rc = cf_kvd_limits_account(c->db, &cfg(c)->limits, id, c->now, e);
	if (rc) {
		c->keep_changes = 1; /* the request is counted */
		return rc;
	}
	if (!key_matches(c, "auth_key", salt, hash))
		return auth_failed(c, e, id);
	if (cf_kvd_limits_success(c->db, id, c->address) != 0)
		return cf_kvd_dberr(e, c->db, "login");
	c->account_id = id;
	return new_session(c, e, name, resp);
}

int cf_kvd_account_check_password(struct cf_kvd_ctx *c, struct cf_kvd_err *e)
{
	uint8_t salt[CF_KVD_SALT_BYTES], hash[CF_KVD_AUTH_HASH_BYTES];
	int64_t id = 0;
	int rc, step;

	step = load_auth(c->db, c->account_id, NULL, &id, salt, hash);
	if (step != SQLITE_ROW)
		return cf_kvd_dberr(e, c->db, "password check");
	rc = cf_kvd_limits_locked(c->db, id, c->now, e);
	if (rc)
		return rc;
	if (!key_matches(c, "auth_key", salt, hash))
		return auth_failed(c, e, id);
	if (cf_kvd_limits_success(c->db, id, c->address) != 0)
		return cf_kvd_dberr(e, c->db, "password check");
	return 0;
}

int cf_kvd_account_logout(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	if (cf_kvd_session_revoke(c->db, c->token_hash, 0, 0, NULL, NULL) != 0)
		return cf_kvd_dberr(e, c->db, "logout");
	*resp = json_pack("{s:b}", "revoked", 1);
	return *resp ? 0 : cf_kvd_oom(e);
}

/* The identity and state of @device of the account; 404 unknown_device when it has none. */
static int device_identity(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t device,
			   struct cf_pubid *pub, int *pending)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	sqlite3_stmt *st;
	size_t n = 0;
	int step, rc = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT identity, pending FROM device WHERE id = ?1"
				      " AND account_id = ?2 AND removed_at IS NULL");
	if (!st)
		return cf_kvd_dberr(e, c->db, "device");
	sqlite3_bind_int64(st, 1, device);
	sqlite3_bind_int64(st, 2, c->account_id);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		rc = cf_kvd_fail(e, 404, "unknown_device", "no such device in this account");
	else if (step != SQLITE_ROW)
		rc = cf_kvd_dberr(e, c->db, "device");
	else if (cf_encode_unb64(enc, sizeof(enc), &n, (const char *)sqlite3_column_text(st, 0)) ||
		 cf_pubid_decode(pub, enc, n) != 0)
		rc = cf_kvd_fail(e, 500, "internal", "a stored identity does not decode");
	else
		*pending = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	return rc;
}

int cf_kvd_account_bind(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	uint8_t sig[CF_SIGNATURE_BYTES];
	struct cf_pubid pub;
	int64_t device = 0;
	size_t n = 0;
	sqlite3_stmt *st;
	int rc, pending = 0;

	if (c->device_id)
		return cf_kvd_fail(e, 409, "already_bound", "this session is bound to a device");
	cf_kvd_request_int(c->req, "device", &device);
	cf_kvd_request_bytes(c->req, "signature", sig, sizeof(sig), &n);
	rc = device_identity(c, e, device, &pub, &pending);
	if (rc)
		return rc;
	if (cf_pubid_verify(&pub, "coffer-kvd-session-v1", c->token, CF_KVD_TOKEN_BYTES, sig)) {
		c->keep_changes = 1;
		if (cf_kvd_limits_failure(c->db, &cfg(c)->limits, 0, c->address, c->now, NULL))
			c->keep_changes = 0;
		return cf_kvd_fail(e, 403, "bad_signature",
				   "the signature does not verify under the device's identity");
	}
	st = cf_kvd_db_prepare(c->db, "UPDATE session SET device_id = ?1 WHERE token_hash = ?2");
	if (!st)
		return cf_kvd_dberr(e, c->db, "bind");
	sqlite3_bind_int64(st, 1, device);
	sqlite3_bind_blob(st, 2, c->token_hash, CF_KVD_AUTH_HASH_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, c->db, "bind");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	*resp = json_pack("{s:I, s:s}", "device", (json_int_t)device, "state",
			  pending ? "pending" : "active");
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_account_password(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	uint8_t salt[CF_KVD_SALT_BYTES], key[CF_KVD_AUTH_KEY_BYTES], hash[CF_KVD_AUTH_HASH_BYTES];
	int64_t ops = 0, mem = 0, revoked = 0;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	rc = cf_kvd_account_check_password(c, e);
	if (rc)
		return rc;
	cf_kvd_request_bytes(c->req, "salt", salt, sizeof(salt), &n);
	cf_kvd_request_bytes(c->req, "new_auth_key", key, sizeof(key), &n);
	cf_kvd_request_kdf(c->req, &ops, &mem);
	cf_kvd_session_auth_hash(hash, salt, key);
	cf_core_wipe(key, sizeof(key));
	st = cf_kvd_db_prepare(c->db, "UPDATE account SET kdf_salt = ?1, kdf_opslimit = ?2,"
				      " kdf_memlimit = ?3, auth_hash = ?4 WHERE id = ?5");
	if (!st)
		return cf_kvd_dberr(e, c->db, "password");
	sqlite3_bind_blob(st, 1, salt, sizeof(salt), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ops);
	sqlite3_bind_int64(st, 3, mem);
	sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->account_id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CF_E_IO;
	sqlite3_finalize(st);
	if (!rc)
		rc = cf_kvd_session_revoke(c->db, NULL, c->account_id, 0, c->token_hash, &revoked);
	if (!rc)
		rc = cf_kvd_audit_add(c, c->account_id, "password-change", NULL, NULL, NULL);
	if (rc)
		return cf_kvd_dberr(e, c->db, "password");
	*resp = json_pack("{s:I}", "sessions_revoked", (json_int_t)revoked);
	return *resp ? 0 : cf_kvd_oom(e);
}

/* One count for the account deletion summary. */
static int64_t count(sqlite3 *db, const char *sql, int64_t account)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(db, sql);
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, account);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int cf_kvd_account_delete(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	static const struct {
		const char *key, *sql;
	} counts[] = {
	    {"devices", "SELECT count(*) FROM device WHERE account_id = ?1"},
	    {"repositories", "SELECT count(*) FROM repository WHERE account_id = ?1"},
	    {"escrow_records", "SELECT count(*) FROM escrow WHERE deleted_at IS NULL AND"
			       " repository_id IN (SELECT id FROM repository WHERE account_id = ?1)"},
	    {"contact_shares", "SELECT count(*) FROM contact_share WHERE deleted_at IS NULL AND"
			       " repository_id IN (SELECT id FROM repository WHERE account_id = ?1)"},
	    {"witnesses", "SELECT count(*) FROM freshness WHERE"
			  " repository_id IN (SELECT id FROM repository WHERE account_id = ?1)"},
	    {"messages", "SELECT count(*) FROM mailbox WHERE account_id = ?1"},
	    {"audit_entries", "SELECT count(*) FROM audit WHERE account_id = ?1"},
	};
	json_t *deleted;
	sqlite3_stmt *st;
	size_t i;
	int rc;

	rc = cf_kvd_account_check_password(c, e);
	if (rc)
		return rc;
	deleted = json_object();
	if (!deleted)
		return cf_kvd_oom(e);
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int64_t n = count(c->db, counts[i].sql, c->account_id);
		if (n < 0 || json_object_set_new(deleted, counts[i].key, json_integer(n)) != 0) {
			json_decref(deleted);
			return cf_kvd_dberr(e, c->db, "account deletion");
		}
	}
	c->scrub = 1;
	st = cf_kvd_db_prepare(c->db, "DELETE FROM account WHERE id = ?1 RETURNING name");
	if (st) {
		sqlite3_bind_int64(st, 1, c->account_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = json_object_set_new(deleted, "account",
						 json_string((const char *)sqlite3_column_text(st, 0)));
		else
			rc = CF_E_IO;
		if (!rc && sqlite3_step(st) != SQLITE_DONE)
			rc = CF_E_IO;
		sqlite3_finalize(st);
	}
	if (!st || rc) {
		json_decref(deleted);
		return cf_kvd_dberr(e, c->db, "account deletion");
	}
	*resp = json_pack("{s:o}", "deleted", deleted);
	return *resp ? 0 : cf_kvd_oom(e);
}

/* The signed message of a device login: name | 0x00 | device u64 LE | time u64 LE. */
static size_t device_login_message(uint8_t *msg, const char *name, int64_t device, int64_t t)
{
	size_t n = strlen(name) + 1;

	memcpy(msg, name, n);
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)device >> (8 * i));
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)t >> (8 * i));
	return n;
}

int cf_kvd_account_device_login(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *name = cf_kvd_request_str(c->req, "name");
	uint8_t sig[CF_SIGNATURE_BYTES], msg[256 + 1 + 16], enc[CF_PUBID_ENCODED_BYTES];
	struct cf_pubid pub;
	int64_t device = 0, t = 0, account = 0, last = -1;
	size_t n = 0;
	sqlite3_stmt *st;
	int rc, step, ok = 0;

	cf_kvd_request_int(c->req, "device", &device);
	cf_kvd_request_int(c->req, "time", &t);
	cf_kvd_request_bytes(c->req, "signature", sig, sizeof(sig), &n);
	st = cf_kvd_db_prepare(c->db, "SELECT a.id, d.identity, d.login_time FROM account a"
				      " JOIN device d ON d.account_id = a.id WHERE a.name = ?1"
				      " AND d.id = ?2 AND d.removed_at IS NULL AND d.pending = 0");
	if (!st)
		return cf_kvd_dberr(e, c->db, "device login");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, device);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		account = sqlite3_column_int64(st, 0);
		last = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2);
		n = 0;
		ok = !cf_encode_unb64(enc, sizeof(enc), &n, (const char *)sqlite3_column_text(st, 1)) &&
		     !cf_pubid_decode(&pub, enc, n);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return cf_kvd_dberr(e, c->db, "device login");
	/* one answer for every refusal; each counts against the address */
	if (ok)
		ok = t > last && t <= c->now + 300 && t >= c->now - 300;
	if (ok) {
		n = device_login_message(msg, name, device, t);
		ok = cf_pubid_verify(&pub, "coffer-kvd-device-login-v1", msg, n, sig) == 0;
	}
	if (!ok)
		return auth_failed(c, e, 0);
	rc = cf_kvd_limits_account(c->db, &cfg(c)->limits, account, c->now, e);
	if (rc) {
		c->keep_changes = 1;
		return rc;
	}
	st = cf_kvd_db_prepare(c->db, "UPDATE device SET login_time = ?2 WHERE id = ?1");
	if (!st)
		return cf_kvd_dberr(e, c->db, "device login");
	sqlite3_bind_int64(st, 1, device);
	sqlite3_bind_int64(st, 2, t);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, c->db, "device login");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	c->account_id = account;
	c->device_id = device;
	c->device_state = CF_KVD_DEVICE_ACTIVE;
	return new_session(c, e, name, resp);
}
