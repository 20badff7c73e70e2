/* SPDX-License-Identifier: ISC */
/* The per-account audit log: appending entries, and GET /v1/audit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_request.h"

int cf_kvd_audit_add(struct cf_kvd_ctx *c, int64_t account_id, const char *event,
		     const char *actor, json_t *detail, int64_t *id)
{
	char who[32], text[4097];
	sqlite3_stmt *st;
	int ok;

	if (!actor)
		actor = cf_kvd_actor(c, who, sizeof(who));
	if (detail) {
		size_t n = json_dumpb(detail, text, sizeof(text) - 1, JSON_COMPACT | JSON_SORT_KEYS);
		if (n == 0 || n >= sizeof(text))
			return CF_E_LIMIT;
		text[n] = '\0';
	}
	st = cf_kvd_db_prepare(c->db, "INSERT INTO audit (account_id, at, event, actor, address,"
				      " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st)
		return CF_E_IO;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, c->now);
	sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->address, -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return CF_E_IO;
	if (id)
		*id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* One row of the audit table as its JSON entry. */
static json_t *entry(sqlite3_stmt *st)
{
	json_t *j, *detail = json_null();
	const char *text = (const char *)sqlite3_column_text(st, 5);

	if (text) {
		detail = json_loads(text, 0, NULL);
		if (!detail)
			detail = json_null();
	}
	j = json_pack("{s:I, s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0),
		      "at", (json_int_t)sqlite3_column_int64(st, 1), "event",
		      (const char *)sqlite3_column_text(st, 2), "actor",
		      sqlite3_column_type(st, 3) == SQLITE_NULL
			  ? json_null()
			  : json_string((const char *)sqlite3_column_text(st, 3)),
		      "address",
		      sqlite3_column_type(st, 4) == SQLITE_NULL
			  ? json_null()
			  : json_string((const char *)sqlite3_column_text(st, 4)),
		      "detail", detail);
	return j;
}

int cf_kvd_audit_list(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	int64_t since = c->req->since > 0 ? c->req->since : 0;
	int64_t limit = c->req->limit > 0 ? c->req->limit : 100, last = since;
	json_t *list = json_array(), *j;
	sqlite3_stmt *st;
	int step;

	if (!list)
		return cf_kvd_oom(e);
	st = cf_kvd_db_prepare(c->db, "SELECT id, at, event, actor, address, detail FROM audit"
				      " WHERE account_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
	if (!st) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "audit");
	}
	sqlite3_bind_int64(st, 1, c->account_id);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		j = entry(st);
		last = sqlite3_column_int64(st, 0);
		if (!j || json_array_append_new(list, j) != 0) {
			sqlite3_finalize(st);
			json_decref(list);
			return cf_kvd_oom(e);
		}
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		json_decref(list);
		return cf_kvd_dberr(e, c->db, "audit");
	}
	*resp = json_pack("{s:o, s:I}", "entries", list, "last", (json_int_t)last);
	return *resp ? 0 : cf_kvd_oom(e);
}
