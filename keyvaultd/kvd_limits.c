/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_limits.h"

#include <stdio.h>

#include "keyvaultd/kvd_db.h"
#include "util/log.h"

void cf_kvd_limits_defaults(struct cf_kvd_limits_cfg *cfg)
{
	cfg->rate_address = 600;
	cfg->rate_account = 300;
	cfg->lockout_failures = 5;
	cfg->lockout_seconds = 900;
}

#define COUNT_SQL(table, key)                                                                      \
	"INSERT INTO " table " (" key ", window_start, attempts) VALUES (?1, ?2, 1)"               \
	" ON CONFLICT (" key ") DO UPDATE SET"                                                      \
	" window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END,"          \
	" attempts = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE attempts + 1 END"                \
	" RETURNING window_start, attempts, locked_until"

/* Count one request in @st's row (bound at ?1) and apply @rate. */
static int count(sqlite3 *db, sqlite3_stmt *st, unsigned rate, int64_t now, int check_lock,
		 struct cf_kvd_err *e)
{
	int64_t window, attempts, locked;
	int rc;

	if (!st)
		return cf_kvd_dberr(e, db, "rate limit");
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, CF_KVD_LIMITS_WINDOW);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = cf_kvd_dberr(e, db, "rate limit");
		sqlite3_finalize(st);
		return rc;
	}
	window = sqlite3_column_int64(st, 0);
	attempts = sqlite3_column_int64(st, 1);
	locked = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2);
	sqlite3_step(st); /* finish the RETURNING statement */
	sqlite3_finalize(st);
	if (check_lock && locked > now) {
		rc = cf_kvd_fail(e, 429, "locked",
				 "too many failed attempts from this address; try again later");
		e->retry_after = (unsigned long)(locked - now);
		return rc;
	}
	if (rate && attempts > rate) {
		rc = cf_kvd_fail(e, 429, "rate_limited", "too many requests; slow down");
		e->retry_after = (unsigned long)(window + CF_KVD_LIMITS_WINDOW - now);
		return rc;
	}
	return 0;
}

int cf_kvd_limits_address(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, const char *addr,
			  int64_t now, struct cf_kvd_err *e)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(db, COUNT_SQL("address_limit", "address"));

	if (st)
		sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	return count(db, st, cfg->rate_address, now, 1, e);
}

int cf_kvd_limits_account(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, int64_t account,
			  int64_t now, struct cf_kvd_err *e)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(db, COUNT_SQL("account_limit", "account_id"));

	if (st)
		sqlite3_bind_int64(st, 1, account);
	return count(db, st, cfg->rate_account, now, 0, e);
}

int cf_kvd_limits_locked(sqlite3 *db, int64_t account, int64_t now, struct cf_kvd_err *e)
{
	sqlite3_stmt *st = cf_kvd_db_prepare(
	    db, "SELECT locked_until FROM account_limit WHERE account_id = ?1");
	int64_t locked = 0;
	int rc;

	if (!st)
		return cf_kvd_dberr(e, db, "lockout");
	sqlite3_bind_int64(st, 1, account);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		locked = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cf_kvd_dberr(e, db, "lockout");
	if (locked > now) {
		rc = cf_kvd_fail(e, 429, "locked",
				 "this account is locked after too many failed attempts; try again "
				 "later");
		e->retry_after = (unsigned long)(locked - now);
		return rc;
	}
	return 0;
}

/* Add one failure to the row keyed @text or @num, locking it at @threshold failures. */
static int add_failure(sqlite3 *db, const char *table, const char *key, const char *text,
		       int64_t num, int64_t now, unsigned threshold, unsigned seconds,
		       int64_t *until)
{
	char sql[256];
	sqlite3_stmt *st;
	int64_t failures = 0;
	int ok;

	*until = 0;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s (%s, window_start, failures) VALUES (?1, ?2, 1)"
		 " ON CONFLICT (%s) DO UPDATE SET failures = failures + 1 RETURNING failures",
		 table, key, key);
	st = cf_kvd_db_prepare(db, sql);
	if (!st)
		return CF_E_IO;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	sqlite3_bind_int64(st, 2, now);
	ok = sqlite3_step(st) == SQLITE_ROW;
	if (ok) {
		failures = sqlite3_column_int64(st, 0);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (ok && threshold && failures >= threshold) {
		*until = now + seconds;
		snprintf(sql, sizeof(sql), "UPDATE %s SET locked_until = ?2 WHERE %s = ?1", table,
			 key);
		st = cf_kvd_db_prepare(db, sql);
		if (!st)
			return CF_E_IO;
		if (text)
			sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, 1, num);
		sqlite3_bind_int64(st, 2, *until);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
	}
	if (!ok) {
		cf_log_err("database: counting a failed authentication: %s", sqlite3_errmsg(db));
		return CF_E_IO;
	}
	return 0;
}

int cf_kvd_limits_failure(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, int64_t account,
			  const char *addr, int64_t now, int64_t *locked_until)
{
	int64_t until = 0, ignored;
	int rc;

	rc = add_failure(db, "address_limit", "address", addr, 0, now, cfg->lockout_failures * 4,
			 cfg->lockout_seconds, &ignored);
	if (!rc && account > 0)
		rc = add_failure(db, "account_limit", "account_id", NULL, account, now,
				 cfg->lockout_failures, cfg->lockout_seconds, &until);
	if (locked_until)
		*locked_until = until;
	return rc;
}

int cf_kvd_limits_success(sqlite3 *db, int64_t account, const char *addr)
{
	sqlite3_stmt *st;
	int ok;

	st = cf_kvd_db_prepare(db, "UPDATE address_limit SET failures = 0 WHERE address = ?1");
	if (!st)
		return CF_E_IO;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (ok && account > 0) {
		st = cf_kvd_db_prepare(db, "UPDATE account_limit SET failures = 0"
					   " WHERE account_id = ?1");
		if (!st)
			return CF_E_IO;
		sqlite3_bind_int64(st, 1, account);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
	}
	if (!ok) {
		cf_log_err("database: resetting failure counts: %s", sqlite3_errmsg(db));
		return CF_E_IO;
	}
	return 0;
}
