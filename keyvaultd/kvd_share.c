/* SPDX-License-Identifier: ISC */
/* The server share of a recovery-contact split (docs/keyvaultd-api.md "Recovery-contact
 * server share"): stored, released after account authentication, at most 10 attempts. */
#include <errno.h>
#include <string.h>

#include "core/core.h"
#include "core/secbuf.h"
#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"

static int audit_share(struct cf_kvd_ctx *c, const char *event, int64_t epoch, int64_t attempts)
{
	json_t *detail = json_pack("{s:o, s:I}", "repo",
				   cf_kvd_hex_json(c->req->repo, CF_KVD_REPO_BYTES), "epoch",
				   (json_int_t)epoch);
	int rc;

	if (detail && attempts >= 0 &&
	    json_object_set_new(detail, "attempts", json_integer(attempts)) != 0) {
		json_decref(detail);
		detail = NULL;
	}
	rc = detail ? cf_kvd_audit_add(c, c->account_id, event, NULL, detail, NULL) : -ENOMEM;
	json_decref(detail);
	return rc;
}

int cf_kvd_share_put(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	uint8_t share[CF_KVD_SHARE_MAX];
	struct cf_kvd_repo repo;
	int64_t epoch = 0;
	size_t n = 0;
	sqlite3_stmt *st;
	int rc, ok;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	cf_kvd_request_int(c->req, "epoch", &epoch);
	if (epoch > repo.epoch)
		return cf_kvd_fail(e, 409, "not_current_epoch",
				   "the repository's epoch is %lld", (long long)repo.epoch);
	cf_kvd_request_bytes(c->req, "share", share, sizeof(share), &n);
	/* the previous split's share (another epoch) is overwritten */
	st = cf_kvd_db_prepare(c->db, "UPDATE contact_share SET share = NULL, deleted_at = ?3"
				      " WHERE repository_id = ?1 AND epoch != ?2"
				      " AND deleted_at IS NULL");
	if (!st)
		return cf_kvd_dberr(e, c->db, "share");
	sqlite3_bind_int64(st, 1, repo.id);
	sqlite3_bind_int64(st, 2, epoch);
	sqlite3_bind_int64(st, 3, c->now);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	c->scrub = cf_kvd_db_changes(c->db) > 0;
	st = ok ? cf_kvd_db_prepare(c->db,
				    "INSERT INTO contact_share (repository_id, epoch, share, created_at)"
				    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (repository_id, epoch)"
				    " DO UPDATE SET share = excluded.share, attempts = 0,"
				    " created_at = excluded.created_at, released_at = NULL,"
				    " deleted_at = NULL")
		: NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, repo.id);
		sqlite3_bind_int64(st, 2, epoch);
		sqlite3_bind_blob(st, 3, share, (int)n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, c->now);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
	}
	cf_core_wipe(share, sizeof(share));
	if (!st || !ok || audit_share(c, "share-store", epoch, -1) != 0)
		return cf_kvd_dberr(e, c->db, "share");
	*resp = json_pack("{s:I, s:I}", "epoch", (json_int_t)epoch, "created_at",
			  (json_int_t)c->now);
	c->status = 201;
	return *resp ? 0 : cf_kvd_oom(e);
}

/* The live share of @repo (its row id, epoch, attempts so far and bytes); 410 share_locked
 * when the newest one was destroyed by the attempt limit, 404 no_share when none. */
static int load_share(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t repo, int64_t *id,
		      int64_t *epoch, int64_t *attempts, struct cf_secbuf **share)
{
	sqlite3_stmt *st;
	int step, rc = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT id, epoch, attempts, share FROM contact_share"
				      " WHERE repository_id = ?1"
				      " ORDER BY deleted_at IS NULL DESC, id DESC LIMIT 1");
	if (!st)
		return cf_kvd_dberr(e, c->db, "share");
	sqlite3_bind_int64(st, 1, repo);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*epoch = sqlite3_column_int64(st, 1);
		*attempts = sqlite3_column_int64(st, 2);
		if (sqlite3_column_type(st, 3) == SQLITE_NULL)
			rc = *attempts >= CF_KVD_SHARE_ATTEMPTS
				 ? cf_kvd_fail(e, 410, "share_locked",
					       "the server share was destroyed after %d attempts",
					       CF_KVD_SHARE_ATTEMPTS)
				 : cf_kvd_fail(e, 404, "no_share", "no server share is stored");
		else
			rc = cf_secbuf_dup(share, sqlite3_column_blob(st, 3),
					   (size_t)sqlite3_column_bytes(st, 3));
		if (rc < 0)
			rc = cf_kvd_oom(e);
	} else if (step == SQLITE_DONE) {
		rc = cf_kvd_fail(e, 404, "no_share", "no server share is stored");
	} else {
		rc = cf_kvd_dberr(e, c->db, "share");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run @sql (?1 the share row @id, ?2 now). */
static int mark(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const char *sql, int64_t id)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, sql);
	int ok;

	if (!st)
		return cf_kvd_dberr(e, c->db, "share");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, c->now);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? 0 : cf_kvd_dberr(e, c->db, "share");
}

int cf_kvd_share_release(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	struct cf_secbuf *share = NULL;
	struct cf_kvd_repo repo;
	int64_t id = 0, epoch = 0, attempts = 0;
	int rc;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (!rc)
		rc = load_share(c, e, repo.id, &id, &epoch, &attempts, &share);
	if (rc)
		return rc;
	/* the attempt is counted before the password is checked; the tenth destroys it */
	rc = mark(c, e, "UPDATE contact_share SET attempts = attempts + 1 WHERE id = ?1", id);
	if (rc)
		goto out;
	attempts++;
	c->scrub = attempts >= CF_KVD_SHARE_ATTEMPTS; /* the trigger destroyed it */
	rc = cf_kvd_account_check_password(c, e);
	if (rc == CF_E_AUTH) {
		/* keep_changes is set: the attempt stays counted */
		if (audit_share(c, "share-release-failed", epoch, attempts) != 0 ||
		    (attempts >= CF_KVD_SHARE_ATTEMPTS &&
		     audit_share(c, "share-destroyed", epoch, attempts) != 0))
			rc = cf_kvd_dberr(e, c->db, "audit");
		goto out;
	}
	if (!rc)
		rc = mark(c, e, "UPDATE contact_share SET released_at = ?2 WHERE id = ?1", id);
	if (rc)
		goto out;
	if (audit_share(c, "share-release", epoch, attempts) != 0 ||
	    (attempts >= CF_KVD_SHARE_ATTEMPTS &&
	     audit_share(c, "share-destroyed", epoch, attempts) != 0)) {
		rc = cf_kvd_dberr(e, c->db, "audit");
		goto out;
	}
	*resp = json_pack("{s:I, s:o, s:I, s:I}", "epoch", (json_int_t)epoch, "share",
			  cf_kvd_b64_json(cf_secbuf_data(share), cf_secbuf_len(share)), "attempts",
			  (json_int_t)attempts, "remaining",
			  (json_int_t)(CF_KVD_SHARE_ATTEMPTS - attempts));
	rc = *resp ? 0 : cf_kvd_oom(e);
out:
	cf_secbuf_free(share);
	return rc;
}

int cf_kvd_share_delete(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	struct cf_kvd_repo repo;
	sqlite3_stmt *st;
	int64_t epoch = 0;
	int rc, step, deleted = 0;

	rc = cf_kvd_repo_find(c, e, &repo);
	if (rc)
		return rc;
	st = cf_kvd_db_prepare(c->db, "UPDATE contact_share SET share = NULL, deleted_at = ?2"
				      " WHERE repository_id = ?1 AND deleted_at IS NULL"
				      " RETURNING epoch");
	if (!st)
		return cf_kvd_dberr(e, c->db, "share");
	sqlite3_bind_int64(st, 1, repo.id);
	sqlite3_bind_int64(st, 2, c->now);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		deleted = c->scrub = 1;
		epoch = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE || (deleted && audit_share(c, "share-delete", epoch, -1) != 0))
		return cf_kvd_dberr(e, c->db, "share");
	*resp = json_pack("{s:b}", "deleted", deleted);
	return *resp ? 0 : cf_kvd_oom(e);
}
