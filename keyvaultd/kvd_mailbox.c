/* SPDX-License-Identifier: ISC */
/* The mailbox of sealed envelopes between devices (docs/keyvaultd-api.md "Mailbox"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"

#define MAILBOX_MAX_MESSAGES 256
#define MAILBOX_MAX_BYTES (INT64_C(64) << 20)
#define TTL_DEFAULT 604800

/* The recipient account (own when "to_account" is absent) and device (0: any). */
static int recipient(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t *account,
		     int64_t *device)
{
	const char *name = cf_kvd_request_str(c->req, "to_account");
	sqlite3_stmt *st;
	int step;

	*account = c->account_id;
	*device = 0;
	if (name) {
		st = cf_kvd_db_prepare(c->db, "SELECT id FROM account WHERE name = ?1");
		if (!st)
			return cf_kvd_dberr(e, c->db, "mailbox");
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			*account = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (step == SQLITE_DONE)
			return cf_kvd_fail(e, 404, "unknown_account", "no such account");
		if (step != SQLITE_ROW)
			return cf_kvd_dberr(e, c->db, "mailbox");
	}
	if (cf_kvd_request_int(c->req, "to_device", device) != 0)
		return 0;
	st = cf_kvd_db_prepare(c->db, "SELECT 1 FROM device WHERE id = ?1 AND account_id = ?2"
				      " AND removed_at IS NULL");
	if (!st)
		return cf_kvd_dberr(e, c->db, "mailbox");
	sqlite3_bind_int64(st, 1, *device);
	sqlite3_bind_int64(st, 2, *account);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step == SQLITE_DONE)
		return cf_kvd_fail(e, 404, "unknown_device", "no such device in that account");
	return step == SQLITE_ROW ? 0 : cf_kvd_dberr(e, c->db, "mailbox");
}

/* 429 mailbox_full when @account cannot take @len more bytes. */
static int quota(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t account, size_t len)
{
	sqlite3_stmt *st;
	int64_t n = 0, bytes = 0;
	int step;

	st = cf_kvd_db_prepare(c->db, "SELECT count(*), coalesce(sum(length(envelope)), 0)"
				      " FROM mailbox WHERE account_id = ?1"
				      " AND (expires_at IS NULL OR expires_at > ?2)");
	if (!st)
		return cf_kvd_dberr(e, c->db, "mailbox");
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, c->now);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		bytes = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_ROW)
		return cf_kvd_dberr(e, c->db, "mailbox");
	if (n >= MAILBOX_MAX_MESSAGES || bytes + (int64_t)len > MAILBOX_MAX_BYTES) {
		int rc = cf_kvd_fail(e, 429, "mailbox_full",
				     "the recipient's mailbox is full; try again later");
		e->retry_after = 3600;
		return rc;
	}
	return 0;
}

int cf_kvd_mailbox_post(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	int64_t account = 0, device = 0, ttl = TTL_DEFAULT;
	uint8_t *env = NULL;
	size_t len = 0;
	sqlite3_stmt *st;
	int rc;

	rc = recipient(c, e, &account, &device);
	if (rc)
		return rc;
	cf_kvd_request_int(c->req, "ttl", &ttl);
	env = malloc(CF_KVD_ENVELOPE_MAX);
	if (!env)
		return cf_kvd_oom(e);
	cf_kvd_request_bytes(c->req, "envelope", env, CF_KVD_ENVELOPE_MAX, &len);
	rc = quota(c, e, account, len);
	if (rc)
		goto out;
	st = cf_kvd_db_prepare(c->db, "INSERT INTO mailbox (account_id, device_id,"
				      " sender_device_id, kind, envelope, created_at, expires_at)"
				      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!st) {
		rc = cf_kvd_dberr(e, c->db, "mailbox");
		goto out;
	}
	sqlite3_bind_int64(st, 1, account);
	if (device)
		sqlite3_bind_int64(st, 2, device);
	sqlite3_bind_int64(st, 3, c->device_id);
	sqlite3_bind_text(st, 4, cf_kvd_request_str(c->req, "kind"), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, env, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->now);
	sqlite3_bind_int64(st, 7, c->now + ttl);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cf_kvd_dberr(e, c->db, "mailbox");
	sqlite3_finalize(st);
	if (rc)
		goto out;
	*resp = json_pack("{s:I, s:I}", "id", (json_int_t)sqlite3_last_insert_rowid(c->db),
			  "expires_at", (json_int_t)(c->now + ttl));
	rc = *resp ? 0 : cf_kvd_oom(e);
	c->status = 201;
out:
	free(env);
	return rc;
}

static json_t *col_text(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string((const char *)sqlite3_column_text(st, col));
}

static json_t *col_int(sqlite3_stmt *st, int col)
{
	return cf_kvd_int_or_null(sqlite3_column_int64(st, col),
				  sqlite3_column_type(st, col) == SQLITE_NULL);
}

/* Record the first delivery of the messages this device just fetched, up to id @last. */
static int mark_fetched(struct cf_kvd_ctx *c, int64_t last)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, "UPDATE mailbox SET fetched_at = ?4"
						    " WHERE account_id = ?1 AND id > ?2 AND id <= ?3"
						    " AND (device_id IS NULL OR device_id = ?5)"
						    " AND fetched_at IS NULL");
	int ok;

	if (!st)
		return CF_E_IO;
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_int64(st, 2, c->req->since > 0 ? c->req->since : 0);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, c->now);
	sqlite3_bind_int64(st, 5, c->device_id);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? 0 : CF_E_IO;
}

int cf_kvd_mailbox_fetch(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *list = json_array(), *m;
	sqlite3_stmt *st;
	int64_t last = 0;
	int step;

	st = cf_kvd_db_prepare(
	    c->db, "SELECT m.id, m.kind, a.name, d.id, d.identity, m.device_id, m.envelope,"
		   " m.created_at, m.expires_at FROM mailbox m"
		   " LEFT JOIN device d ON d.id = m.sender_device_id AND d.removed_at IS NULL"
		   " LEFT JOIN account a ON a.id = d.account_id"
		   " WHERE m.account_id = ?1 AND (m.device_id IS NULL OR m.device_id = ?2)"
		   " AND m.id > ?3 AND (m.expires_at IS NULL OR m.expires_at > ?4)"
		   " ORDER BY m.id LIMIT ?5");
	if (!st || !list) {
		sqlite3_finalize(st);
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "mailbox");
	}
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_int64(st, 2, c->device_id);
	sqlite3_bind_int64(st, 3, c->req->since > 0 ? c->req->since : 0);
	sqlite3_bind_int64(st, 4, c->now);
	sqlite3_bind_int64(st, 5, c->req->limit > 0 ? c->req->limit : 20);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		m = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			      (json_int_t)sqlite3_column_int64(st, 0), "kind", col_text(st, 1),
			      "from_account", col_text(st, 2), "from_device", col_int(st, 3),
			      "from_identity", col_text(st, 4), "to_device", col_int(st, 5),
			      "envelope",
			      cf_kvd_b64_json(sqlite3_column_blob(st, 6),
					      (size_t)sqlite3_column_bytes(st, 6)),
			      "created_at", col_int(st, 7), "expires_at", col_int(st, 8));
		if (!m || json_array_append_new(list, m) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
		last = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (step == SQLITE_DONE && last && mark_fetched(c, last) != 0)
		step = SQLITE_ERROR;
	if (step != SQLITE_DONE) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "mailbox");
	}
	*resp = json_pack("{s:o}", "messages", list);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_mailbox_delete(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	sqlite3_stmt *st;
	int ok;

	st = cf_kvd_db_prepare(c->db, "DELETE FROM mailbox WHERE id = ?1 AND account_id = ?2"
				      " AND (device_id IS NULL OR device_id = ?3)");
	if (!st)
		return cf_kvd_dberr(e, c->db, "mailbox");
	sqlite3_bind_int64(st, 1, c->req->id);
	sqlite3_bind_int64(st, 2, c->account_id);
	sqlite3_bind_int64(st, 3, c->device_id);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return cf_kvd_dberr(e, c->db, "mailbox");
	if (cf_kvd_db_changes(c->db) != 1)
		return cf_kvd_fail(e, 404, "unknown_message", "no such message for this device");
	*resp = json_pack("{s:b}", "deleted", 1);
	return *resp ? 0 : cf_kvd_oom(e);
}
