/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Rate limits and lockout, per client address and per account, counted in the database
 * (tables address_limit and account_limit) so that they survive restarts and hold across
 * several keyvaultd processes on one database. Rules: docs/keyvaultd-api.md, "Rate limits
 * and lockout". Every function runs inside the caller's transaction.
 */
#include <sqlite3.h>
#include <stdint.h>

#include "keyvaultd/kvd.h"

#define CF_KVD_LIMITS_WINDOW 60

struct cf_kvd_limits_cfg {
	unsigned rate_address;     /* requests per window and address */
	unsigned rate_account;     /* authenticated requests per window and account */
	unsigned lockout_failures; /* consecutive failures that lock an account (x4: address) */
	unsigned lockout_seconds;
};

/* cf_kvd_limits_defaults - the documented defaults (600, 300, 5, 900). */
void cf_kvd_limits_defaults(struct cf_kvd_limits_cfg *cfg);

/*
 * cf_kvd_limits_address - count one request from @addr at @now. Returns 0; CF_E_BUSY with
 * 429 rate_limited (window full) or 429 locked (address locked), Retry-After set; CF_E_IO
 * (500, logged).
 */
int cf_kvd_limits_address(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, const char *addr,
			  int64_t now, struct cf_kvd_err *e);

/*
 * cf_kvd_limits_account - count one request for @account. Returns 0, CF_E_BUSY (429
 * rate_limited) or CF_E_IO.
 */
int cf_kvd_limits_account(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, int64_t account,
			  int64_t now, struct cf_kvd_err *e);

/*
 * cf_kvd_limits_locked - 0 when @account may try to authenticate now, else CF_E_BUSY with
 * 429 locked and Retry-After (or CF_E_IO).
 */
int cf_kvd_limits_locked(sqlite3 *db, int64_t account, int64_t now, struct cf_kvd_err *e);

/*
 * cf_kvd_limits_failure - record a failed authentication from @addr, and for @account
 * unless it is 0. Reaching the thresholds locks for cfg->lockout_seconds; failures go on
 * counting, so each further failure locks again. *@locked_until (may be NULL) receives
 * the account's lockout end, or 0 when not locked. Returns 0 or CF_E_IO.
 */
int cf_kvd_limits_failure(sqlite3 *db, const struct cf_kvd_limits_cfg *cfg, int64_t account,
			  const char *addr, int64_t now, int64_t *locked_until);

/*
 * cf_kvd_limits_success - a successful authentication: reset the failure counts of
 * @account (if not 0) and @addr. Returns 0 or CF_E_IO.
 */
int cf_kvd_limits_success(sqlite3 *db, int64_t account, const char *addr);
