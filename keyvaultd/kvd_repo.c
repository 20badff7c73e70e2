/* SPDX-License-Identifier: ISC */
/* Repositories of an account: protection mode and key epoch (docs/keyvaultd-api.md
 * "Repositories"). */
#include <errno.h>
#include <string.h>

#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"

int cf_kvd_repo_find(struct cf_kvd_ctx *c, struct cf_kvd_err *e, struct cf_kvd_repo *out)
{
	sqlite3_stmt *st;
	int step, rc = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT id, protection, epoch FROM repository"
				      " WHERE account_id = ?1 AND repo_id = ?2");
	if (!st)
		return cf_kvd_dberr(e, c->db, "repository");
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_blob(st, 2, c->req->repo, CF_KVD_REPO_BYTES, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->advanced = !strcmp((const char *)sqlite3_column_text(st, 1), "advanced");
		out->epoch = sqlite3_column_int64(st, 2);
	} else if (step == SQLITE_DONE) {
		rc = cf_kvd_fail(e, 404, "unknown_repository",
				 "this account has no such repository");
	} else {
		rc = cf_kvd_dberr(e, c->db, "repository");
	}
	sqlite3_finalize(st);
	return rc;
}

#define REPO_SELECT                                                                                \
	"SELECT r.repo_id, r.protection, r.epoch, r.created_at, r.updated_at,"                     \
	" e.epoch, e.created_at, s.epoch, s.attempts, s.created_at, s.released_at,"                \
	" f.sequence, f.updated_at FROM repository r"                                              \
	" LEFT JOIN escrow e ON e.repository_id = r.id AND e.deleted_at IS NULL"                   \
	" LEFT JOIN contact_share s ON s.repository_id = r.id AND s.deleted_at IS NULL"            \
	" LEFT JOIN freshness f ON f.repository_id = r.id WHERE r.account_id = ?1"

static json_t *col_int(sqlite3_stmt *st, int col)
{
	return cf_kvd_int_or_null(sqlite3_column_int64(st, col),
				  sqlite3_column_type(st, col) == SQLITE_NULL);
}

/* A row of REPO_SELECT as the API's repo object. */
static json_t *repo_json(sqlite3_stmt *st)
{
	json_t *escrow = json_null(), *share = json_null(), *witness = json_null();

	if (sqlite3_column_type(st, 5) != SQLITE_NULL)
		escrow = json_pack("{s:o, s:o}", "epoch", col_int(st, 5), "created_at",
				   col_int(st, 6));
	if (sqlite3_column_type(st, 7) != SQLITE_NULL)
		share = json_pack("{s:o, s:o, s:o, s:o}", "epoch", col_int(st, 7), "attempts",
				  col_int(st, 8), "created_at", col_int(st, 9), "released_at",
				  col_int(st, 10));
	if (sqlite3_column_type(st, 11) != SQLITE_NULL)
		witness = json_pack("{s:o, s:o}", "sequence", col_int(st, 11), "updated_at",
				    col_int(st, 12));
	return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "repo",
			 cf_kvd_hex_json(sqlite3_column_blob(st, 0),
					 (size_t)sqlite3_column_bytes(st, 0)),
			 "protection", (const char *)sqlite3_column_text(st, 1), "epoch",
			 col_int(st, 2), "created_at", col_int(st, 3), "updated_at",
			 col_int(st, 4), "escrow", escrow, "share", share, "witness", witness);
}

/* The repos of the account (@one: only c->req->repo) as a JSON array. */
static int repos(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int one, json_t **out)
{
	json_t *list = json_array(), *j;
	sqlite3_stmt *st;
	int step;

	st = cf_kvd_db_prepare(c->db, one ? REPO_SELECT " AND r.repo_id = ?2"
					  : REPO_SELECT " ORDER BY r.id");
	if (!st || !list) {
		sqlite3_finalize(st);
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "repositories");
	}
	sqlite3_bind_int64(st, 1, c->account_id);
	if (one)
		sqlite3_bind_blob(st, 2, c->req->repo, CF_KVD_REPO_BYTES, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		j = repo_json(st);
		if (!j || json_array_append_new(list, j) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "repositories");
	}
	*out = list;
	return 0;
}

int cf_kvd_repo_list(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *list = NULL;
	int rc = repos(c, e, 0, &list);

	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "repos", list);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_repo_get(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *list = NULL;
	int rc = repos(c, e, 1, &list);

	if (rc)
		return rc;
	if (json_array_size(list) != 1) {
		json_decref(list);
		return cf_kvd_fail(e, 404, "unknown_repository",
				   "this account has no such repository");
	}
	*resp = json_incref(json_array_get(list, 0));
	json_decref(list);
	return 0;
}

/* Insert or update the repository row; *@created tells which. */
static int store(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const struct cf_kvd_repo *old,
		 const char *protection, int64_t epoch)
{
	sqlite3_stmt *st;
	int ok;

	if (old->id)
		st = cf_kvd_db_prepare(c->db, "UPDATE repository SET protection = ?3, epoch = ?4,"
					      " updated_at = ?5 WHERE id = ?1 AND account_id = ?2");
	else
		st = cf_kvd_db_prepare(c->db, "INSERT INTO repository (account_id, repo_id,"
					      " protection, epoch, created_at, updated_at)"
					      " VALUES (?2, ?6, ?3, ?4, ?5, ?5)");
	if (!st)
		return cf_kvd_dberr(e, c->db, "repository");
	sqlite3_bind_int64(st, 1, old->id);
	sqlite3_bind_int64(st, 2, c->account_id);
	sqlite3_bind_text(st, 3, protection, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, epoch);
	sqlite3_bind_int64(st, 5, c->now);
	sqlite3_bind_blob(st, 6, c->req->repo, CF_KVD_REPO_BYTES, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? 0 : cf_kvd_dberr(e, c->db, "repository");
}

int cf_kvd_repo_put(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *protection = cf_kvd_request_str(c->req, "protection");
	int advanced = !strcmp(protection, "advanced");
	struct cf_kvd_repo old = {0};
	json_t *deleted = json_array(), *audit = json_array(), *detail;
	int64_t epoch = 0, id;
	int rc;

	cf_kvd_request_int(c->req, "epoch", &epoch);
	if (!deleted || !audit) {
		rc = cf_kvd_oom(e);
		goto fail;
	}
	rc = cf_kvd_repo_find(c, e, &old);
	if (rc && e->status != 404)
		goto fail;
	rc = 0;
	if (old.id && epoch < old.epoch) {
		rc = cf_kvd_fail(e, 409, "epoch_backwards",
				 "the key epoch is %lld; it can only grow", (long long)old.epoch);
		goto fail;
	}
	/* advanced: the escrow record goes first, in this transaction (the schema insists) */
	if (old.id && advanced && (rc = cf_kvd_escrow_wipe(c, e, &old, "mode-advanced", deleted,
							   audit)) != 0)
		goto fail;
	rc = store(c, e, &old, protection, epoch);
	if (rc)
		goto fail;
	if (!old.id || old.advanced != advanced || old.epoch != epoch) {
		detail = json_pack("{s:o, s:s, s:I, s:o, s:o}", "repo",
				   cf_kvd_hex_json(c->req->repo, CF_KVD_REPO_BYTES), "protection",
				   protection, "epoch", (json_int_t)epoch, "previous_protection",
				   old.id ? json_string(old.advanced ? "advanced" : "standard")
					  : json_null(),
				   "previous_epoch", cf_kvd_int_or_null(old.epoch, !old.id));
		rc = detail ? cf_kvd_audit_add(c, c->account_id, "mode-change", NULL, detail, &id)
			    : -ENOMEM;
		json_decref(detail);
		if (!rc && json_array_append_new(audit, json_integer(id)) != 0)
			rc = -ENOMEM;
		if (rc) {
			rc = cf_kvd_dberr(e, c->db, "audit");
			goto fail;
		}
	}
	*resp = json_pack("{s:o, s:s, s:I, s:b, s:o, s:o}", "repo",
			  cf_kvd_hex_json(c->req->repo, CF_KVD_REPO_BYTES), "protection", protection,
			  "epoch", (json_int_t)epoch, "created", !old.id, "escrow_deleted", deleted,
			  "audit", audit);
	if (!*resp)
		return cf_kvd_oom(e);
	c->status = old.id ? 200 : 201;
	return 0;
fail:
	json_decref(deleted);
	json_decref(audit);
	return rc;
}

static int64_t count(sqlite3 *db, const char *sql, int64_t repo)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(db, sql);
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, repo);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int cf_kvd_repo_delete(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	struct cf_kvd_repo repo;
	int64_t esc, shares, wit;
	sqlite3_stmt *st;
	json_t *detail;
	int rc, ok;

	rc = cf_kvd_account_check_password(c, e);
	if (!rc)
		rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	esc = count(c->db, "SELECT count(*) FROM escrow WHERE repository_id = ?1"
			   " AND deleted_at IS NULL", repo.id);
	shares = count(c->db, "SELECT count(*) FROM contact_share WHERE repository_id = ?1"
			      " AND deleted_at IS NULL", repo.id);
	wit = count(c->db, "SELECT count(*) FROM freshness WHERE repository_id = ?1", repo.id);
	st = cf_kvd_db_prepare(c->db, "DELETE FROM repository WHERE id = ?1");
	if (!st || esc < 0 || shares < 0 || wit < 0) {
		sqlite3_finalize(st);
		return cf_kvd_dberr(e, c->db, "repository deletion");
	}
	sqlite3_bind_int64(st, 1, repo.id);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return cf_kvd_dberr(e, c->db, "repository deletion");
	c->scrub = 1;
	detail = json_pack("{s:o}", "repo", cf_kvd_hex_json(c->req->repo, CF_KVD_REPO_BYTES));
	rc = detail ? cf_kvd_audit_add(c, c->account_id, "repo-delete", NULL, detail, NULL)
		    : -ENOMEM;
	json_decref(detail);
	if (rc)
		return cf_kvd_dberr(e, c->db, "audit");
	*resp = json_pack("{s:{s:I, s:I, s:I}}", "deleted", "escrow_records", (json_int_t)esc,
			  "contact_shares", (json_int_t)shares, "witnesses", (json_int_t)wit);
	return *resp ? 0 : cf_kvd_oom(e);
}
