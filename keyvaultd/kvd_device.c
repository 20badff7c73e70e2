/* SPDX-License-Identifier: ISC */
/* The identity directory: an account's devices, and other accounts' active devices
 * (docs/keyvaultd-api.md "Device directory"). */
#include <errno.h>
#include <string.h>

#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"
#include "keyvaultd/kvd_session.h"

#define DEVICE_COLUMNS "id, identity, label, pending, added_by, added_at, removed_at"

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string((const char *)sqlite3_column_text(st, col));
}

/* A row of DEVICE_COLUMNS as the API's device object. */
static json_t *device_json(sqlite3_stmt *st)
{
	int removed = sqlite3_column_type(st, 6) != SQLITE_NULL;
	const char *state = removed ? "removed" : sqlite3_column_int(st, 3) ? "pending" : "active";

	return json_pack("{s:I, s:o, s:o, s:s, s:o, s:I, s:o}", "id",
			 (json_int_t)sqlite3_column_int64(st, 0), "identity", text_or_null(st, 1),
			 "label", text_or_null(st, 2), "state", state, "added_by",
			 cf_kvd_int_or_null(sqlite3_column_int64(st, 4),
					    sqlite3_column_type(st, 4) == SQLITE_NULL),
			 "added_at", (json_int_t)sqlite3_column_int64(st, 5), "removed_at",
			 cf_kvd_int_or_null(sqlite3_column_int64(st, 6), !removed));
}

/* The device object of @id in the caller's account; 404 unknown_device when none. */
static int load_device(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t id, json_t **out)
{
	sqlite3_stmt *st;
	int step, rc = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT " DEVICE_COLUMNS " FROM device"
				      " WHERE id = ?1 AND account_id = ?2");
	if (!st)
		return cf_kvd_dberr(e, c->db, "device");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, c->account_id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*out = device_json(st);
		if (!*out)
			rc = cf_kvd_oom(e);
	} else if (step == SQLITE_DONE) {
		rc = cf_kvd_fail(e, 404, "unknown_device", "no such device in this account");
	} else {
		rc = cf_kvd_dberr(e, c->db, "device");
	}
	sqlite3_finalize(st);
	return rc;
}

int cf_kvd_device_list(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *list = json_array(), *d;
	sqlite3_stmt *st;
	int step;

	st = cf_kvd_db_prepare(c->db, "SELECT " DEVICE_COLUMNS " FROM device"
				      " WHERE account_id = ?1 ORDER BY id");
	if (!st || !list) {
		sqlite3_finalize(st);
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "devices");
	}
	sqlite3_bind_int64(st, 1, c->account_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		d = device_json(st);
		if (!d || json_array_append_new(list, d) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "devices");
	}
	*resp = json_pack("{s:o}", "devices", list);
	return *resp ? 0 : cf_kvd_oom(e);
}

/* Which "via" a POST /v1/devices asks for, and what it requires. */
static int check_via(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const char *via)
{
	int has_key = cf_kvd_request_has(c->req, "auth_key");
	sqlite3_stmt *st;
	int64_t n = -1;

	if (!strcmp(via, "recovery")) {
		if (!has_key)
			return cf_kvd_fail_field(e, "missing_field", "auth_key",
						 "adding a device by recovery needs the auth key");
		return cf_kvd_account_check_password(c, e);
	}
	if (has_key)
		return cf_kvd_fail_field(e, "invalid_field", "auth_key",
					 "auth_key belongs only to via \"recovery\"");
	if (!strcmp(via, "device") && c->device_state != CF_KVD_DEVICE_ACTIVE)
		return cf_kvd_fail(e, 403, "device_required",
				   "only an active device of the account can add one directly");
	if (strcmp(via, "first") != 0)
		return 0;
	st = cf_kvd_db_prepare(c->db, "SELECT count(*) FROM device WHERE account_id = ?1");
	if (!st)
		return cf_kvd_dberr(e, c->db, "devices");
	sqlite3_bind_int64(st, 1, c->account_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (n < 0)
		return cf_kvd_dberr(e, c->db, "devices");
	if (n > 0)
		return cf_kvd_fail(e, 409, "not_first", "this account already has devices");
	return 0;
}

/* Turn the pending device with the request's identity active; *@id 0 when there is none. */
static int promote_pending(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int64_t *id)
{
	sqlite3_stmt *st;
	int step;

	*id = 0;
	st = cf_kvd_db_prepare(c->db, "UPDATE device SET pending = 0, added_by = NULL"
				      " WHERE account_id = ?1 AND identity = ?2 AND pending = 1"
				      " AND removed_at IS NULL RETURNING id");
	if (!st)
		return cf_kvd_dberr(e, c->db, "device");
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_text(st, 2, cf_kvd_request_str(c->req, "identity"), -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		step = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : cf_kvd_dberr(e, c->db, "device");
}

int cf_kvd_device_add(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *via = cf_kvd_request_str(c->req, "via");
	const char *label = cf_kvd_request_str(c->req, "label");
	int pending = !strcmp(via, "request"), by_device = !strcmp(via, "device");
	const char *event = pending ? "device-request"
			    : !strcmp(via, "recovery") ? "device-add-recovery" : "device-add";
	json_t *d = NULL, *detail;
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc, step;

	rc = check_via(c, e, via);
	if (rc)
		return rc;
	if (!strcmp(via, "recovery")) {
		/* a device that asked to join (pending) and then recovered becomes active */
		rc = promote_pending(c, e, &id);
		if (rc)
			return rc;
		if (id)
			goto added;
	}
	st = cf_kvd_db_prepare(c->db, "INSERT INTO device (account_id, identity, label, added_by,"
				      " added_at, pending) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st)
		return cf_kvd_dberr(e, c->db, "new device");
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_text(st, 2, cf_kvd_request_str(c->req, "identity"), -1, SQLITE_STATIC);
	if (label)
		sqlite3_bind_text(st, 3, label, -1, SQLITE_STATIC);
	if (by_device)
		sqlite3_bind_int64(st, 4, c->device_id);
	sqlite3_bind_int64(st, 5, c->now);
	sqlite3_bind_int(st, 6, pending);
	step = sqlite3_step(st);
	if (step != SQLITE_DONE && step != SQLITE_CONSTRAINT_UNIQUE)
		rc = cf_kvd_dberr(e, c->db, "new device");
	sqlite3_finalize(st);
	if (step == SQLITE_CONSTRAINT_UNIQUE)
		return cf_kvd_fail(e, 409, "device_exists",
				   "this identity is already a device of the account");
	if (rc)
		return rc;
	id = sqlite3_last_insert_rowid(c->db);
added:
	detail = json_pack("{s:I, s:s}", "device", (json_int_t)id, "via", via);
	rc = detail ? cf_kvd_audit_add(c, c->account_id, event, NULL, detail, NULL) : -ENOMEM;
	json_decref(detail);
	if (rc)
		return cf_kvd_dberr(e, c->db, "audit");
	rc = load_device(c, e, id, &d);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "device", d);
	c->status = 201;
	return *resp ? 0 : cf_kvd_oom(e);
}

/* Change device @c->req->id with @sql (?1 id, ?2 account, ?3 caller's device, ?4 now; it
 * may leave some unused), which must touch exactly one row, then audit @event. */
static int change(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const char *sql,
		  const char *event)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(c->db, sql);
	json_t *detail;
	int ok, rc;

	if (!st)
		return cf_kvd_dberr(e, c->db, event);
	sqlite3_bind_int64(st, 1, c->req->id);
	sqlite3_bind_int64(st, 2, c->account_id);
	sqlite3_bind_int64(st, 3, c->device_id);
	sqlite3_bind_int64(st, 4, c->now);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok || cf_kvd_db_changes(c->db) != 1)
		return cf_kvd_dberr(e, c->db, event);
	detail = json_pack("{s:I}", "device", (json_int_t)c->req->id);
	rc = detail ? cf_kvd_audit_add(c, c->account_id, event, NULL, detail, NULL) : -ENOMEM;
	json_decref(detail);
	return rc ? cf_kvd_dberr(e, c->db, "audit") : 0;
}

/* The state of @c->req->id: 0 with *@pending, or 404 unknown_device (also when removed). */
static int live_device(struct cf_kvd_ctx *c, struct cf_kvd_err *e, int *pending)
{
	json_t *d = NULL;
	int rc = load_device(c, e, c->req->id, &d);

	if (rc)
		return rc;
	rc = strcmp(json_string_value(json_object_get(d, "state")), "removed") == 0;
	*pending = !strcmp(json_string_value(json_object_get(d, "state")), "pending");
	json_decref(d);
	if (rc)
		return cf_kvd_fail(e, 404, "unknown_device", "this device was removed");
	return 0;
}

int cf_kvd_device_approve(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *d = NULL;
	int pending = 0, rc;

	rc = live_device(c, e, &pending);
	if (rc)
		return rc;
	if (!pending)
		return cf_kvd_fail(e, 409, "not_pending", "this device is not waiting for approval");
	rc = change(c, e, "UPDATE device SET pending = 0, added_by = ?3 WHERE id = ?1"
			  " AND account_id = ?2 AND pending = 1",
		    "device-approve");
	if (!rc)
		rc = load_device(c, e, c->req->id, &d);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "device", d);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_device_remove(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	json_t *d = NULL;
	int64_t revoked = 0;
	int pending = 0, rc;

	rc = live_device(c, e, &pending);
	if (rc)
		return rc;
	rc = change(c, e, "UPDATE device SET removed_at = ?4 WHERE id = ?1 AND account_id = ?2"
			  " AND removed_at IS NULL",
		    "device-remove");
	if (rc)
		return rc;
	if (cf_kvd_session_revoke(c->db, NULL, c->account_id, c->req->id, NULL, &revoked) != 0)
		return cf_kvd_dberr(e, c->db, "revoking sessions");
	rc = load_device(c, e, c->req->id, &d);
	if (rc)
		return rc;
	*resp = json_pack("{s:o, s:I}", "device", d, "sessions_revoked", (json_int_t)revoked);
	return *resp ? 0 : cf_kvd_oom(e);
}

int cf_kvd_device_directory(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	const char *name = cf_kvd_request_str(c->req, "name");
	json_t *list = json_array(), *d;
	sqlite3_stmt *st;
	int step, found = 0;

	st = cf_kvd_db_prepare(c->db, "SELECT d.id, d.identity, d.label FROM account a"
				      " LEFT JOIN device d ON d.account_id = a.id"
				      " AND d.removed_at IS NULL AND d.pending = 0"
				      " WHERE a.name = ?1 ORDER BY d.id");
	if (!st || !list) {
		sqlite3_finalize(st);
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "directory");
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		found = 1;
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue; /* an account without active devices */
		d = json_pack("{s:I, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0),
			      "identity", text_or_null(st, 1), "label", text_or_null(st, 2));
		if (!d || json_array_append_new(list, d) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "directory");
	}
	if (!found) {
		json_decref(list);
		return cf_kvd_fail(e, 404, "unknown_account", "no such account");
	}
	*resp = json_pack("{s:s, s:o}", "account", name, "devices", list);
	return *resp ? 0 : cf_kvd_oom(e);
}
