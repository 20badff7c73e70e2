/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "keyvaultd/kvd_db.h"
#include "keyvaultd/kvd_escrowkey.h"
#include "keyvaultd/kvd_request.h"
#include "keyvaultd/kvd_session.h"
#include "util/log.h"

#define PURGE_INTERVAL 60

struct cf_kvd_server {
	struct cf_kvd_config cfg;
	struct cf_kvd_db *db;
	struct cf_kvd_escrowkey *key;
	_Atomic int64_t next_purge;
	/* every request is one write transaction: they queue here rather than in SQLite's
	 * busy handler, which polls with sleeps and lets a waiter starve (other processes on
	 * the same database still meet the busy handler) */
	pthread_mutex_t write_lock;
};

static cf_kvd_handler health;

static cf_kvd_handler *const handlers[CF_KVD_R__COUNT] = {
    [CF_KVD_R_HEALTH] = health,
    [CF_KVD_R_PRELOGIN] = cf_kvd_account_prelogin,
    [CF_KVD_R_ACCOUNT_CREATE] = cf_kvd_account_create,
    [CF_KVD_R_ACCOUNT_DELETE] = cf_kvd_account_delete,
    [CF_KVD_R_PASSWORD] = cf_kvd_account_password,
    [CF_KVD_R_LOGIN] = cf_kvd_account_login,
    [CF_KVD_R_LOGOUT] = cf_kvd_account_logout,
    [CF_KVD_R_SESSION_DEVICE] = cf_kvd_account_bind,
    [CF_KVD_R_DEVICE_LOGIN] = cf_kvd_account_device_login,
    [CF_KVD_R_DEVICES] = cf_kvd_device_list,
    [CF_KVD_R_DEVICE_ADD] = cf_kvd_device_add,
    [CF_KVD_R_DEVICE_APPROVE] = cf_kvd_device_approve,
    [CF_KVD_R_DEVICE_REMOVE] = cf_kvd_device_remove,
    [CF_KVD_R_DIRECTORY] = cf_kvd_device_directory,
    [CF_KVD_R_REPOS] = cf_kvd_repo_list,
    [CF_KVD_R_REPO_GET] = cf_kvd_repo_get,
    [CF_KVD_R_REPO_PUT] = cf_kvd_repo_put,
    [CF_KVD_R_REPO_DELETE] = cf_kvd_repo_delete,
    [CF_KVD_R_ESCROW_PUT] = cf_kvd_escrow_put,
    [CF_KVD_R_ESCROW_GET] = cf_kvd_escrow_get,
    [CF_KVD_R_ESCROW_DELETE] = cf_kvd_escrow_delete,
    [CF_KVD_R_SHARE_PUT] = cf_kvd_share_put,
    [CF_KVD_R_SHARE_RELEASE] = cf_kvd_share_release,
    [CF_KVD_R_SHARE_DELETE] = cf_kvd_share_delete,
    [CF_KVD_R_MAILBOX_POST] = cf_kvd_mailbox_post,
    [CF_KVD_R_MAILBOX_FETCH] = cf_kvd_mailbox_fetch,
    [CF_KVD_R_MAILBOX_DELETE] = cf_kvd_mailbox_delete,
    [CF_KVD_R_WITNESS_PUT] = cf_kvd_witness_put,
    [CF_KVD_R_WITNESS_GET] = cf_kvd_witness_get,
    [CF_KVD_R_AUDIT] = cf_kvd_audit_list,
};

static int health(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	(void)c;
	*resp = json_pack("{s:s, s:i}", "service", "keyvaultd", "api", CF_KVD_API_VERSION);
	return *resp ? 0 : cf_kvd_oom(e);
}

void cf_kvd_server_defaults(struct cf_kvd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->create_escrow_key = 1;
	cfg->session_ttl = 3600;
	cfg->threads = 2;
	cf_kvd_limits_defaults(&cfg->limits);
}

int cf_kvd_server_new(struct cf_kvd_server **out, const struct cf_kvd_config *cfg)
{
	struct cf_kvd_server *s;
	int rc;

	if (!cfg->db_path || !cfg->escrow_key_path || !cfg->session_ttl || !cfg->threads)
		return CF_E_INVAL;
	rc = cf_core_init();
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->write_lock, NULL);
	rc = cf_kvd_escrowkey_open_file(&s->key, cfg->escrow_key_path, cfg->create_escrow_key);
	if (!rc)
		rc = cf_kvd_db_open(&s->db, cfg->db_path, cfg->threads);
	if (rc) {
		cf_kvd_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cf_kvd_server_free(struct cf_kvd_server *s)
{
	if (!s)
		return;
	cf_kvd_db_free(s->db);
	cf_kvd_escrowkey_free(s->key);
	pthread_mutex_destroy(&s->write_lock);
	free(s);
}

const struct cf_kvd_config *cf_kvd_server_config(const struct cf_kvd_server *s)
{
	return &s->cfg;
}

const struct cf_kvd_escrowkey *cf_kvd_server_escrowkey(const struct cf_kvd_server *s)
{
	return s->key;
}

size_t cf_kvd_server_body_limit(const char *method, const char *path)
{
	struct cf_kvd_req r;
	struct cf_kvd_err e;

	memset(&r, 0, sizeof(r));
	if (cf_kvd_request_route(&r, method, path, &e) != 0 || !r.route->fields)
		return 0;
	return r.route->body_max;
}

void cf_kvd_answer_clear(struct cf_kvd_answer *a)
{
	json_decref(a->body);
	a->body = NULL;
}

/* Housekeeping now and then, inside a request's transaction: expired sessions and
 * messages, idle rate-limit rows. Failures are only logged. */
static void purge(struct cf_kvd_server *s, sqlite3 *db, int64_t now)
{
	int64_t due = atomic_load(&s->next_purge);

	if (now < due || !atomic_compare_exchange_strong(&s->next_purge, &due, now + PURGE_INTERVAL))
		return;
	if (cf_kvd_session_purge(db, now) != 0)
		cf_log_warn("purging expired sessions failed");
	cf_kvd_db_exec(db, "SAVEPOINT purge");
	sqlite3_stmt *st = cf_kvd_db_prepare(db, "DELETE FROM mailbox WHERE expires_at <= ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	st = cf_kvd_db_prepare(db, "DELETE FROM address_limit WHERE window_start < ?1 AND"
				   " failures = 0 AND (locked_until IS NULL OR locked_until < ?2)");
	if (st) {
		sqlite3_bind_int64(st, 1, now - 86400);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	cf_kvd_db_exec(db, "RELEASE purge");
}

/*
 * After key material was wiped (secure_delete zeroes it in the database file), copy the
 * WAL into the database and truncate it, so that no older page holding the key stays in
 * the WAL file. Best effort: a reader may keep part of the WAL alive until the next time.
 */
static void scrub(sqlite3 *db)
{
	if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
	    SQLITE_OK)
		cf_log_debug("WAL checkpoint after a key wipe did not complete (%s)",
			     sqlite3_errmsg(db));
}

/* The session part: who asks, and may they use this route. */
static int authenticate(struct cf_kvd_server *s, struct cf_kvd_ctx *c, struct cf_kvd_req *req,
			struct cf_kvd_err *e)
{
	struct cf_kvd_session_info info;
	int rc;

	if (req->route->auth == CF_KVD_AUTH_NONE)
		return 0;
	rc = cf_kvd_session_lookup(c->db, req->token, c->now, &info, e);
	if (rc) {
		if (e->status == 401)
			cf_kvd_limits_failure(c->db, &s->cfg.limits, 0, c->address, c->now, NULL);
		return rc;
	}
	c->account_id = info.account_id;
	c->device_id = info.device_id;
	c->device_state = info.device_state;
	c->token = req->token;
	cf_kvd_session_token_hash(c->token_hash, req->token);
	rc = cf_kvd_limits_account(c->db, &s->cfg.limits, c->account_id, c->now, e);
	if (rc)
		return rc;
	if (req->route->auth == CF_KVD_AUTH_ANY_DEVICE && c->device_state == CF_KVD_DEVICE_NONE)
		return cf_kvd_fail(e, 403, "device_required",
				   "bind this session to a device first (POST /v1/session/device)");
	if (req->route->auth == CF_KVD_AUTH_DEVICE && c->device_state != CF_KVD_DEVICE_ACTIVE)
		return cf_kvd_fail(e, 403, "device_required",
				   "this needs a session bound to an active device of the account");
	return 0;
}

/* Run @req in one transaction. Returns 0 with *@resp, or the error in @e. */
static int run(struct cf_kvd_server *s, struct cf_kvd_req *req, const struct cf_kvd_http_in *in,
	       struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp)
{
	sqlite3 *db = cf_kvd_db_acquire(s->db);
	int rc, fatal;

	c->srv = s;
	c->req = req;
	c->db = db;
	c->now = s->cfg.clock ? s->cfg.clock() : (int64_t)time(NULL);
	c->address = in->address;
	c->status = 200;
	pthread_mutex_lock(&s->write_lock);
	if (cf_kvd_db_exec(db, "BEGIN IMMEDIATE") != 0) {
		pthread_mutex_unlock(&s->write_lock);
		cf_kvd_db_release(s->db, db);
		return cf_kvd_fail(e, 503, "unavailable", "the database is busy; retry later");
	}
	purge(s, db, c->now);
	rc = cf_kvd_limits_address(db, &s->cfg.limits, in->address, c->now, e);
	if (!rc)
		rc = authenticate(s, c, req, e);
	if (!rc)
		rc = cf_kvd_request_body(req, in->content_type, in->body, in->body_len, e);
	if (!rc && (rc = cf_kvd_db_exec(db, "SAVEPOINT handler")) != 0)
		cf_kvd_fail(e, 503, "unavailable", "the database is busy; retry later");
	else if (!rc) {
		rc = handlers[req->route->id](c, e, resp);
		if (rc && !c->keep_changes)
			cf_kvd_db_exec(db, "ROLLBACK TO handler");
		cf_kvd_db_exec(db, "RELEASE handler");
	}
	fatal = rc && (e->status >= 500 || e->status == 0);
	if (fatal || cf_kvd_db_exec(db, "COMMIT") != 0) {
		cf_kvd_db_exec(db, "ROLLBACK");
		if (!fatal) {
			json_decref(*resp);
			*resp = NULL;
			rc = cf_kvd_fail(e, 503, "unavailable", "the database is busy; retry later");
		}
	} else if (c->scrub) {
		scrub(db);
	}
	pthread_mutex_unlock(&s->write_lock);
	cf_kvd_db_release(s->db, db);
	return rc;
}

void cf_kvd_server_handle(struct cf_kvd_server *s, const struct cf_kvd_http_in *in,
			  struct cf_kvd_answer *out)
{
	struct cf_kvd_req req;
	struct cf_kvd_err e;
	struct cf_kvd_ctx c;
	json_t *resp = NULL;
	size_t i;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&e, 0, sizeof(e));
	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	rc = cf_kvd_request_route(&req, in->method, in->path, &e);
	for (i = 0; !rc && i < in->nquery; i++)
		rc = cf_kvd_request_query(&req, in->query[2 * i], in->query[2 * i + 1], &e);
	if (!rc && in->body_too_large)
		rc = cf_kvd_request_length(&req, UINT64_MAX, &e);
	if (!rc && req.route->auth != CF_KVD_AUTH_NONE) {
		rc = cf_kvd_request_bearer(&req, in->authorization, &e);
		if (!rc && !req.has_token)
			rc = cf_kvd_fail(&e, 401, "unauthorized",
					 "this needs 'Authorization: Bearer <token>'");
	}
	if (!rc)
		rc = run(s, &req, in, &c, &e, &resp);
	if (rc) {
		if (!e.status || !e.code)
			cf_kvd_fail(&e, 500, "internal", "internal error");
		json_decref(resp);
		out->status = e.status;
		out->body = cf_kvd_err_json(&e);
		out->retry_after = e.retry_after;
		memcpy(out->allow, e.allow, sizeof(out->allow));
	} else {
		out->status = c.status;
		out->body = resp;
	}
	cf_kvd_request_clear(&req);
}
