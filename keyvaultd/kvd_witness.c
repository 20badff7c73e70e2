/* SPDX-License-Identifier: ISC */
/* The freshness witness of a repository (docs/keyvaultd-api.md "Freshness witness"). */
#include <errno.h>
#include <string.h>

#include "core/encode.h"
#include "core/identity.h"
#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"

#define WITNESS_CONTEXT "coffer-witness-v1"
#define HASH_MAX 64

/*
 * The device of the account whose Ed25519 key is @signer: its id and identity. With
 * @active_only, only active devices count. Returns 1 found, 0 not, <0 database error.
 */
static int find_signer(struct cf_kvd_ctx *c, const uint8_t signer[CF_PUBKEY_BYTES],
		       int active_only, int64_t *id, struct cf_pubid *pub)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	sqlite3_stmt *st;
	size_t n;
	int step, found = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT id, identity, removed_at IS NULL AND pending = 0"
				      " FROM device WHERE account_id = ?1 ORDER BY id DESC");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->account_id);
	while (!found && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (active_only && !sqlite3_column_int(st, 2))
			continue;
		n = 0;
		if (cf_encode_unb64(enc, sizeof(enc), &n, (const char *)sqlite3_column_text(st, 1)) ||
		    cf_pubid_decode(pub, enc, n) != 0)
			continue;
		if (!memcmp(pub->sign_pk, signer, CF_PUBKEY_BYTES)) {
			*id = sqlite3_column_int64(st, 0);
			found = 1;
		}
	}
	if (!found && step != SQLITE_DONE)
		found = -1;
	sqlite3_finalize(st);
	return found;
}

/* repo_id[32] | sequence u64 LE | hash_len u8 | hash */
static size_t witness_message(uint8_t *msg, const uint8_t repo[CF_KVD_REPO_BYTES], int64_t seq,
			      const uint8_t *hash, size_t hlen)
{
	size_t n = 0;

	memcpy(msg, repo, CF_KVD_REPO_BYTES);
	n += CF_KVD_REPO_BYTES;
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)((uint64_t)seq >> (8 * i));
	msg[n++] = (uint8_t)hlen;
	memcpy(msg + n, hash, hlen);
	return n + hlen;
}

/* The stored head: 1 with it, 0 when there is none, <0 on error. */
static int current(struct cf_kvd_ctx *c, int64_t repo, int64_t *seq, uint8_t *hash,
		   size_t *hlen)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, "SELECT sequence, manifest_hash FROM freshness"
						    " WHERE repository_id = ?1");
	int step, rc = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, repo);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
	} else if (step == SQLITE_ROW && sqlite3_column_bytes(st, 1) <= HASH_MAX) {
		*seq = sqlite3_column_int64(st, 0);
		*hlen = (size_t)sqlite3_column_bytes(st, 1);
		memcpy(hash, sqlite3_column_blob(st, 1), *hlen);
		rc = 1;
	}
	sqlite3_finalize(st);
	return rc;
}

int cf_kvd_witness_put(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	uint8_t hash[HASH_MAX], old[HASH_MAX], signer[CF_PUBKEY_BYTES], sig[CF_SIGNATURE_BYTES];
	uint8_t msg[CF_KVD_REPO_BYTES + 8 + 1 + HASH_MAX];
	struct cf_kvd_repo repo;
	struct cf_pubid pub;
	int64_t seq = 0, oldseq = 0, device = 0;
	size_t hlen = 0, oldlen = 0, n;
	sqlite3_stmt *st;
	int rc, found, ok;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	cf_kvd_request_int(c->req, "sequence", &seq);
	cf_kvd_request_bytes(c->req, "manifest_hash", hash, sizeof(hash), &hlen);
	cf_kvd_request_bytes(c->req, "signer", signer, sizeof(signer), &n);
	cf_kvd_request_bytes(c->req, "signature", sig, sizeof(sig), &n);
	found = find_signer(c, signer, 1, &device, &pub);
	if (found < 0)
		return cf_kvd_dberr(e, c->db, "witness");
	if (!found)
		return cf_kvd_fail(e, 403, "unknown_signer",
				   "the signer is not an active device of this account");
	n = witness_message(msg, c->req->repo, seq, hash, hlen);
	if (cf_pubid_verify(&pub, WITNESS_CONTEXT, msg, n, sig) != 0)
		return cf_kvd_fail(e, 403, "bad_signature", "the witness signature does not verify");
	found = current(c, repo.id, &oldseq, old, &oldlen);
	if (found < 0)
		return cf_kvd_dberr(e, c->db, "witness");
	if (found && seq < oldseq)
		return cf_kvd_fail(e, 409, "witness_backwards",
				   "the witness is at sequence %lld already", (long long)oldseq);
	if (found && seq == oldseq) {
		if (oldlen != hlen || memcmp(old, hash, hlen) != 0)
			return cf_kvd_fail(e, 409, "witness_conflict",
					   "another manifest is witnessed for this sequence");
		*resp = json_pack("{s:I, s:b}", "sequence", (json_int_t)seq, "updated", 0);
		return *resp ? 0 : cf_kvd_oom(e);
	}
	st = cf_kvd_db_prepare(c->db, "INSERT INTO freshness (repository_id, sequence,"
				      " manifest_hash, signature, signer, updated_at)"
				      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (repository_id)"
				      " DO UPDATE SET sequence = excluded.sequence,"
				      " manifest_hash = excluded.manifest_hash,"
				      " signature = excluded.signature, signer = excluded.signer,"
				      " updated_at = excluded.updated_at");
	if (!st)
		return cf_kvd_dberr(e, c->db, "witness");
	sqlite3_bind_int64(st, 1, repo.id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_blob(st, 3, hash, (int)hlen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, sig, sizeof(sig), SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, signer, sizeof(signer), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->now);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return cf_kvd_dberr(e, c->db, "witness");
	*resp = json_pack("{s:I, s:b}", "sequence", (json_int_t)seq, "updated", 1);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_witness_get(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	uint8_t signer[CF_PUBKEY_BYTES];
	struct cf_kvd_repo repo;
	struct cf_pubid pub;
	int64_t device = 0;
	sqlite3_stmt *st;
	int rc, step, found = 0;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	st = cf_kvd_db_prepare(c->db, "SELECT sequence, manifest_hash, signature, signer,"
				      " updated_at FROM freshness WHERE repository_id = ?1");
	if (!st)
		return cf_kvd_dberr(e, c->db, "witness");
	sqlite3_bind_int64(st, 1, repo.id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_bytes(st, 3) == CF_PUBKEY_BYTES) {
		memcpy(signer, sqlite3_column_blob(st, 3), sizeof(signer));
		found = find_signer(c, signer, 0, &device, &pub);
		*resp = json_pack("{s:I, s:o, s:o, s:o, s:o, s:I}", "sequence",
				  (json_int_t)sqlite3_column_int64(st, 0), "manifest_hash",
				  cf_kvd_b64_json(sqlite3_column_blob(st, 1),
						  (size_t)sqlite3_column_bytes(st, 1)),
				  "signature",
				  cf_kvd_b64_json(sqlite3_column_blob(st, 2),
						  (size_t)sqlite3_column_bytes(st, 2)),
				  "signer", cf_kvd_b64_json(signer, sizeof(signer)), "signer_device",
				  cf_kvd_int_or_null(device, found != 1), "updated_at",
				  (json_int_t)sqlite3_column_int64(st, 4));
		rc = *resp ? 0 : cf_kvd_oom(e);
	} else if (step == SQLITE_DONE) {
		rc = cf_kvd_fail(e, 404, "no_witness", "no witness for this repository yet");
	} else {
		rc = cf_kvd_dberr(e, c->db, "witness");
	}
	sqlite3_finalize(st);
	return rc;
}
