/* SPDX-License-Identifier: ISC */
/* Escrow records of standard protection (docs/keyvaultd-api.md "Escrow"): the client's
 * repository master key for the current epoch, sealed under the escrow key. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/secbuf.h"
#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_escrowkey.h"
#include "keyvaultd/kvd_request.h"
#include "keyvaultd/kvd_server.h"
#include "util/log.h"

#define AD_DOMAIN "coffer-kvd-escrow-v1"
#define AD_MAX (sizeof(AD_DOMAIN) + 2 + 256 + CF_KVD_REPO_BYTES + 4)
#define SEALED_BYTES (CF_KVD_MASTER_KEY_BYTES + CF_KVD_ESCROWKEY_OVERHEAD)

/*
 * The associated data of a record: what it belongs to, so that a record moved to another
 * account, repository or epoch does not open.
 *   "coffer-kvd-escrow-v1" 0x00 | name_len u16 LE | account name | repo_id[32] | epoch u32 LE
 */
static int make_ad(struct cf_kvd_ctx *c, int64_t epoch, uint8_t ad[AD_MAX], size_t *adlen)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, "SELECT name FROM account WHERE id = ?1");
	size_t n = 0, len;
	int rc = CF_E_IO;

	if (!st)
		return CF_E_IO;
	sqlite3_bind_int64(st, 1, c->account_id);
	if (sqlite3_step(st) == SQLITE_ROW && (len = (size_t)sqlite3_column_bytes(st, 0)) <= 256) {
		memcpy(ad, AD_DOMAIN, sizeof(AD_DOMAIN));
		n = sizeof(AD_DOMAIN);
		ad[n++] = (uint8_t)(len & 0xff);
		ad[n++] = (uint8_t)(len >> 8);
		memcpy(ad + n, sqlite3_column_text(st, 0), len);
		n += len;
		memcpy(ad + n, c->req->repo, CF_KVD_REPO_BYTES);
		n += CF_KVD_REPO_BYTES;
		for (int i = 0; i < 4; i++)
			ad[n++] = (uint8_t)((uint64_t)epoch >> (8 * i));
		*adlen = n;
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Append the id of a new audit entry to @audit (may be NULL). */
static int audit_escrow(struct cf_kvd_ctx *c, const char *event, const char *actor,
			int64_t epoch, const char *reason, json_t *audit, int64_t *id_out)
{
	json_t *detail = json_pack("{s:o, s:I}", "repo",
				   cf_kvd_hex_json(c->req->repo, CF_KVD_REPO_BYTES), "epoch",
				   (json_int_t)epoch);
	int64_t id = 0;
	int rc;

	if (detail && reason && json_object_set_new(detail, "reason", json_string(reason)) != 0) {
		json_decref(detail);
		detail = NULL;
	}
	rc = detail ? cf_kvd_audit_add(c, c->account_id, event, actor, detail, &id) : -ENOMEM;
	json_decref(detail);
	if (!rc && audit && json_array_append_new(audit, json_integer(id)) != 0)
		rc = -ENOMEM;
	if (!rc && id_out)
		*id_out = id;
	return rc;
}

int cf_kvd_escrow_wipe(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const struct cf_kvd_repo *repo,
		       const char *reason, json_t *deleted, json_t *audit)
{
	sqlite3_stmt *st;
	int64_t epochs[4];
	size_t n = 0, i;
	int step, rc = 0;

	st = cf_kvd_db_prepare(c->db, "UPDATE escrow SET sealed = NULL, deleted_at = ?2"
				      " WHERE repository_id = ?1 AND deleted_at IS NULL"
				      " RETURNING epoch");
	if (!st)
		return cf_kvd_dberr(e, c->db, "escrow deletion");
	sqlite3_bind_int64(st, 1, repo->id);
	sqlite3_bind_int64(st, 2, c->now);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if (n < sizeof(epochs) / sizeof(epochs[0]))
			epochs[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return cf_kvd_dberr(e, c->db, "escrow deletion");
	if (n)
		c->scrub = 1;
	for (i = 0; i < n && !rc; i++) {
		rc = audit_escrow(c, "escrow-delete", NULL, epochs[i], reason, audit, NULL);
		if (!rc && deleted &&
		    json_array_append_new(deleted, json_pack("{s:I, s:I}", "epoch",
							     (json_int_t)epochs[i], "deleted_at",
							     (json_int_t)c->now)) != 0)
			rc = -ENOMEM;
	}
	return rc ? cf_kvd_dberr(e, c->db, "audit") : 0;
}

/* Whether a record exists for (@repo, @epoch): 0 none, 1 live, 2 deleted, <0 error. */
static int record_state(struct cf_kvd_ctx *c, int64_t repo, int64_t epoch)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, "SELECT deleted_at IS NULL FROM escrow"
						    " WHERE repository_id = ?1 AND epoch = ?2");
	int step, state = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, repo);
	sqlite3_bind_int64(st, 2, epoch);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		state = 0;
	else if (step == SQLITE_ROW)
		state = sqlite3_column_int(st, 0) ? 1 : 2;
	sqlite3_finalize(st);
	return state;
}

int cf_kvd_escrow_put(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const struct cf_kvd_escrowkey *key = cf_kvd_server_escrowkey(c->srv);
	uint8_t master[CF_KVD_MASTER_KEY_BYTES], sealed[SEALED_BYTES], ad[AD_MAX];
	struct cf_kvd_repo repo;
	json_t *replaced = NULL;
	int64_t epoch = 0;
	size_t n = 0, adlen = 0;
	sqlite3_stmt *st;
	int rc, state;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	cf_kvd_request_int(c->req, "epoch", &epoch);
	if (repo.advanced)
		return cf_kvd_fail(e, 409, "advanced_mode",
				   "this repository is in advanced protection: nothing is escrowed");
	if (epoch != repo.epoch)
		return cf_kvd_fail(e, 409, "not_current_epoch",
				   "only the current epoch (%lld) can be escrowed", (long long)repo.epoch);
	state = record_state(c, repo.id, epoch);
	if (state < 0)
		return cf_kvd_dberr(e, c->db, "escrow");
	if (state)
		return cf_kvd_fail(e, 409, "escrow_exists",
				   state == 1 ? "this epoch is already escrowed"
					      : "this epoch's escrow record was deleted; start a new epoch");
	replaced = json_array();
	if (!replaced)
		return cf_kvd_oom(e);
	rc = cf_kvd_escrow_wipe(c, e, &repo, "replaced", replaced, NULL);
	if (rc)
		goto out;
	if (make_ad(c, epoch, ad, &adlen) != 0) {
		rc = cf_kvd_dberr(e, c->db, "escrow");
		goto out;
	}
	cf_kvd_request_bytes(c->req, "key", master, sizeof(master), &n);
	rc = cf_kvd_escrowkey_seal(key, sealed, master, sizeof(master), ad, adlen);
	cf_core_wipe(master, sizeof(master));
	if (rc) {
		rc = cf_kvd_fail(e, 500, "internal", "the escrow key cannot seal");
		goto out;
	}
	st = cf_kvd_db_prepare(c->db, "INSERT INTO escrow (repository_id, epoch, sealed, key_ref,"
				      " created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!st) {
		rc = cf_kvd_dberr(e, c->db, "escrow");
		goto out;
	}
	sqlite3_bind_int64(st, 1, repo.id);
	sqlite3_bind_int64(st, 2, epoch);
	sqlite3_bind_blob(st, 3, sealed, sizeof(sealed), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, cf_kvd_escrowkey_ref(key), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, c->db, "escrow");
	sqlite3_finalize(st);
	if (!rc && audit_escrow(c, "escrow-store", NULL, epoch, NULL, NULL, NULL) != 0)
		rc = cf_kvd_dberr(e, c->db, "audit");
	if (rc)
		goto out;
	*resp = json_pack("{s:I, s:I, s:O}", "epoch", (json_int_t)epoch, "created_at",
			  (json_int_t)c->now, "replaced", replaced);
	rc = *resp ? 0 : cf_kvd_oom(e);
	c->status = 201;
out:
	json_decref(replaced);
	return rc;
}

int cf_kvd_escrow_get(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const struct cf_kvd_escrowkey *key = cf_kvd_server_escrowkey(c->srv);
	struct cf_secbuf *master = NULL;
	struct cf_kvd_repo repo;
	uint8_t sealed[SEALED_BYTES], ad[AD_MAX];
	size_t adlen = 0;
	int64_t epoch = 0, audit_id = 0;
	int device = c->device_state == CF_KVD_DEVICE_ACTIVE;
	sqlite3_stmt *st;
	int rc, step, ref_ok = 0, len_ok = 0;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	st = cf_kvd_db_prepare(c->db, "SELECT epoch, sealed, key_ref FROM escrow"
				      " WHERE repository_id = ?1 AND deleted_at IS NULL");
	if (!st)
		return cf_kvd_dberr(e, c->db, "escrow");
	sqlite3_bind_int64(st, 1, repo.id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		epoch = sqlite3_column_int64(st, 0);
		len_ok = sqlite3_column_bytes(st, 1) == (int)sizeof(sealed);
		if (len_ok)
			memcpy(sealed, sqlite3_column_blob(st, 1), sizeof(sealed));
		ref_ok = !strcmp((const char *)sqlite3_column_text(st, 2),
				 cf_kvd_escrowkey_ref(key));
	}
	sqlite3_finalize(st);
	if (step == SQLITE_DONE)
		return cf_kvd_fail(e, 404, "no_escrow", "no escrow record for this repository");
	if (step != SQLITE_ROW)
		return cf_kvd_dberr(e, c->db, "escrow");
	if (!ref_ok || !len_ok) {
		cf_log_err("escrow record of epoch %lld was sealed under another escrow key",
			   (long long)epoch);
		return cf_kvd_fail(e, 500, "internal", "the escrow record cannot be opened");
	}
	/* logged before the key leaves: an audit entry or no key */
	rc = audit_escrow(c, device ? "escrow-read" : "escrow-release", device ? NULL : "recovery",
			  epoch, NULL, NULL, &audit_id);
	if (!rc)
		rc = make_ad(c, epoch, ad, &adlen);
	if (rc)
		return cf_kvd_dberr(e, c->db, "audit");
	rc = cf_kvd_escrowkey_open(key, &master, sealed, sizeof(sealed), ad, adlen);
	if (rc) {
		cf_log_err("escrow record of epoch %lld does not open: %s", (long long)epoch,
			   cf_strerror(rc));
		return cf_kvd_fail(e, 500, "internal", "the escrow record cannot be opened");
	}
	*resp = json_pack("{s:I, s:o, s:I}", "epoch", (json_int_t)epoch, "key",
			  cf_kvd_b64_json(cf_secbuf_data(master), cf_secbuf_len(master)), "audit",
			  (json_int_t)audit_id);
	cf_secbuf_free(master);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_escrow_delete(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	struct cf_kvd_repo repo;
	json_t *deleted = json_array(), *audit = json_array();
	int rc;

	if (!deleted || !audit) {
		rc = cf_kvd_oom(e);
		goto out;
	}
	rc = cf_kvd_repo_find(c, e, &repo);
	if (!rc)
		rc = cf_kvd_escrow_wipe(c, e, &repo, "request", deleted, audit);
	if (rc)
		goto out;
	*resp = json_pack("{s:O, s:O}", "deleted", deleted, "audit",
			  json_array_size(audit) ? json_array_get(audit, 0) : json_null());
	rc = *resp ? 0 : cf_kvd_oom(e);
out:
	json_decref(deleted);
	json_decref(audit);
	return rc;
}
