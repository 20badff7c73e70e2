/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Sessions and secrets at rest: bearer tokens (32 random bytes; only their hash is stored)
 * and the account auth hash (the client's Argon2id auth key, hashed with the account
 * salt). Every function runs inside the caller's transaction.
 *
 *   token_hash = BLAKE2b-256("coffer-kvd-token-v1" 0x00 | token)
 *   auth_hash  = BLAKE2b-256("coffer-kvd-auth-v1" 0x00 | salt | auth_key)
 */
#include <sqlite3.h>
#include <stdint.h>

#include "keyvaultd/kvd.h"

/* cf_kvd_session_token_hash - the stored form of @token. */
void cf_kvd_session_token_hash(uint8_t out[CF_KVD_AUTH_HASH_BYTES],
			       const uint8_t token[CF_KVD_TOKEN_BYTES]);

/* cf_kvd_session_auth_hash - the stored form of an account's auth key. */
void cf_kvd_session_auth_hash(uint8_t out[CF_KVD_AUTH_HASH_BYTES],
			      const uint8_t salt[CF_KVD_SALT_BYTES],
			      const uint8_t auth_key[CF_KVD_AUTH_KEY_BYTES]);

/*
 * cf_kvd_session_create - a new session for @account valid for @ttl seconds from @now,
 * from client address @addr, bound to @device (0: not bound). @token receives the bearer token (the caller wipes it once
 * sent). Returns 0 or CF_E_IO / CF_E_BUSY with @e filled.
 */
int cf_kvd_session_create(sqlite3 *db, int64_t account, int64_t device, int64_t now,
			  unsigned ttl, const char *addr, uint8_t token[CF_KVD_TOKEN_BYTES], int64_t *expires_at,
			  struct cf_kvd_err *e);

/* What a live session says about its caller. */
struct cf_kvd_session_info {
	int64_t account_id;
	int64_t device_id; /* 0: not bound */
	enum cf_kvd_device_state device_state;
	int64_t expires_at;
};

/*
 * cf_kvd_session_lookup - the session of @token at @now; records the use (last_used_at).
 * An expired session is deleted. Returns 0; CF_E_AUTH with 401 invalid_token (unknown,
 * revoked) or token_expired; CF_E_IO / CF_E_BUSY.
 */
int cf_kvd_session_lookup(sqlite3 *db, const uint8_t token[CF_KVD_TOKEN_BYTES], int64_t now,
			  struct cf_kvd_session_info *out, struct cf_kvd_err *e);

/*
 * cf_kvd_session_revoke - delete sessions: the one of @token_hash when it is not NULL,
 * else every session of @account bound to @device (device > 0), else every session of
 * @account except @keep_hash (may be NULL). *@n (may be NULL) gets the number revoked.
 * Returns 0 or CF_E_IO.
 */
int cf_kvd_session_revoke(sqlite3 *db, const uint8_t *token_hash, int64_t account,
			  int64_t device, const uint8_t *keep_hash, int64_t *n);

/* cf_kvd_session_purge - delete sessions expired before @now. Returns 0 or CF_E_IO. */
int cf_kvd_session_purge(sqlite3 *db, int64_t now);
