/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_session.h"

#include <string.h>

#include "core/core.h"
#include "core/hash.h"
#include "keyvaultd/kvd_db.h"
#include "util/log.h"

static const char token_domain[] = "coffer-kvd-token-v1"; /* with its NUL */
static const char auth_domain[] = "coffer-kvd-auth-v1";

void cf_kvd_session_token_hash(uint8_t out[CF_KVD_AUTH_HASH_BYTES],
			       const uint8_t token[CF_KVD_TOKEN_BYTES])
{
	uint8_t msg[sizeof(token_domain) + CF_KVD_TOKEN_BYTES];

	memcpy(msg, token_domain, sizeof(token_domain));
	memcpy(msg + sizeof(token_domain), token, CF_KVD_TOKEN_BYTES);
	cf_hash_blake2b(out, CF_KVD_AUTH_HASH_BYTES, NULL, msg, sizeof(msg));
	cf_core_wipe(msg, sizeof(msg));
}

void cf_kvd_session_auth_hash(uint8_t out[CF_KVD_AUTH_HASH_BYTES],
			      const uint8_t salt[CF_KVD_SALT_BYTES],
			      const uint8_t auth_key[CF_KVD_AUTH_KEY_BYTES])
{
	uint8_t msg[sizeof(auth_domain) + CF_KVD_SALT_BYTES + CF_KVD_AUTH_KEY_BYTES];

	memcpy(msg, auth_domain, sizeof(auth_domain));
	memcpy(msg + sizeof(auth_domain), salt, CF_KVD_SALT_BYTES);
	memcpy(msg + sizeof(auth_domain) + CF_KVD_SALT_BYTES, auth_key, CF_KVD_AUTH_KEY_BYTES);
	cf_hash_blake2b(out, CF_KVD_AUTH_HASH_BYTES, NULL, msg, sizeof(msg));
	cf_core_wipe(msg, sizeof(msg));
}

int cf_kvd_session_create(sqlite3 *db, int64_t account, int64_t device, int64_t now,
			  unsigned ttl, const char *addr, uint8_t token[CF_KVD_TOKEN_BYTES], int64_t *expires_at,
			  struct cf_kvd_err *e)
{
	uint8_t hash[CF_KVD_AUTH_HASH_BYTES];
	sqlite3_stmt *st;
	int rc;

	cf_core_random(token, CF_KVD_TOKEN_BYTES);
	cf_kvd_session_token_hash(hash, token);
	st = cf_kvd_db_prepare(db, "INSERT INTO session (token_hash, account_id, created_at,"
				   " expires_at, address, device_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st)
		return cf_kvd_dberr(e, db, "new session");
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now + (ttl ? ttl : 1));
	sqlite3_bind_text(st, 5, addr, -1, SQLITE_STATIC);
	if (device > 0)
		sqlite3_bind_int64(st, 6, device);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, db, "new session");
	sqlite3_finalize(st);
	if (rc) {
		cf_core_wipe(token, CF_KVD_TOKEN_BYTES);
		return rc;
	}
	*expires_at = now + (ttl ? ttl : 1);
	return 0;
}

int cf_kvd_session_lookup(sqlite3 *db, const uint8_t token[CF_KVD_TOKEN_BYTES], int64_t now,
			  struct cf_kvd_session_info *out, struct cf_kvd_err *e)
{
	uint8_t hash[CF_KVD_AUTH_HASH_BYTES];
	sqlite3_stmt *st;
	int rc, step;

	cf_kvd_session_token_hash(hash, token);
	st = cf_kvd_db_prepare(db, "SELECT s.account_id, s.expires_at, s.device_id, d.pending,"
				   " d.removed_at FROM session s"
				   " LEFT JOIN device d ON d.id = s.device_id WHERE s.token_hash = ?1");
	if (!st)
		return cf_kvd_dberr(e, db, "session");
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		sqlite3_finalize(st);
		return cf_kvd_fail(e, 401, "invalid_token", "unknown or revoked session token");
	}
	if (step != SQLITE_ROW) {
		rc = cf_kvd_dberr(e, db, "session");
		sqlite3_finalize(st);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	out->account_id = sqlite3_column_int64(st, 0);
	out->expires_at = sqlite3_column_int64(st, 1);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
	    sqlite3_column_type(st, 4) == SQLITE_NULL) {
		out->device_id = sqlite3_column_int64(st, 2);
		out->device_state = sqlite3_column_int(st, 3) ? CF_KVD_DEVICE_PENDING
							      : CF_KVD_DEVICE_ACTIVE;
	}
	sqlite3_finalize(st);
	if (out->expires_at <= now) {
		cf_kvd_session_revoke(db, hash, 0, 0, NULL, NULL);
		return cf_kvd_fail(e, 401, "token_expired", "the session expired; log in again");
	}
	st = cf_kvd_db_prepare(db, "UPDATE session SET last_used_at = ?2 WHERE token_hash = ?1");
	if (!st)
		return cf_kvd_dberr(e, db, "session");
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, db, "session");
	sqlite3_finalize(st);
	return rc;
}

int cf_kvd_session_revoke(sqlite3 *db, const uint8_t *token_hash, int64_t account,
			  int64_t device, const uint8_t *keep_hash, int64_t *n)
{
	sqlite3_stmt *st;
	int ok;

	if (token_hash) {
		st = cf_kvd_db_prepare(db, "DELETE FROM session WHERE token_hash = ?1");
		if (st)
			sqlite3_bind_blob(st, 1, token_hash, CF_KVD_AUTH_HASH_BYTES, SQLITE_STATIC);
	} else if (device > 0) {
		st = cf_kvd_db_prepare(db, "DELETE FROM session WHERE account_id = ?1"
					   " AND device_id = ?2");
		if (st) {
			sqlite3_bind_int64(st, 1, account);
			sqlite3_bind_int64(st, 2, device);
		}
	} else {
		st = cf_kvd_db_prepare(db, "DELETE FROM session WHERE account_id = ?1"
					   " AND token_hash IS NOT ?2");
		if (st) {
			sqlite3_bind_int64(st, 1, account);
			if (keep_hash)
				sqlite3_bind_blob(st, 2, keep_hash, CF_KVD_AUTH_HASH_BYTES,
						  SQLITE_STATIC);
		}
	}
	if (!st)
		return CF_E_IO;
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok) {
		cf_log_err("database: revoking sessions: %s", sqlite3_errmsg(db));
		return CF_E_IO;
	}
	if (n)
		*n = cf_kvd_db_changes(db);
	return 0;
}

int cf_kvd_session_purge(sqlite3 *db, int64_t now)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(db, "DELETE FROM session WHERE expires_at <= ?1");
	int ok;

	if (!st)
		return CF_E_IO;
	sqlite3_bind_int64(st, 1, now);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? 0 : CF_E_IO;
}
