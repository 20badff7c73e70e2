/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * keyvaultd internals shared by its modules: the error answer every request path fills,
 * the per-request context handlers receive, and the handlers themselves. The HTTP API these
 * implement is docs/keyvaultd-api.md; the database is schema/keyvaultd/.
 *
 * Conventions: functions return 0, a positive CF_E_* code (an answered error: the
 * struct cf_kvd_err says what the client is told) or a negative errno (answered as 500).
 */
#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"

#define CF_KVD_API_VERSION 1
#define CF_KVD_TOKEN_BYTES 32
#define CF_KVD_AUTH_KEY_BYTES 32
#define CF_KVD_AUTH_HASH_BYTES 32
#define CF_KVD_SALT_BYTES 16
#define CF_KVD_REPO_BYTES 32
#define CF_KVD_MASTER_KEY_BYTES 32
#define CF_KVD_SHARE_MAX 4096
#define CF_KVD_ENVELOPE_MAX (1u << 20)
#define CF_KVD_BODY_MAX (64u << 10)
#define CF_KVD_MAILBOX_BODY_MAX (2u << 20)
#define CF_KVD_ADDRESS_MAX 64
#define CF_KVD_SHARE_ATTEMPTS 10

/* The answer to a request that failed: HTTP status, stable code, text, offending field. */
struct cf_kvd_err {
	int status;
	const char *code;           /* static string, docs/keyvaultd-api.md's table */
	char field[64];             /* "" unless missing/unknown/invalid_field */
	char message[192];
	unsigned long retry_after;  /* seconds, for 429; 0: no header */
	char allow[48];             /* for 405: the Allow header */
};

/*
 * cf_kvd_fail - fill @e (status, code, printf-style message) and return the CF_E_* code
 * matching @status (400 CF_E_INVAL, 401 CF_E_AUTH, 403 CF_E_PERM, 404/405 CF_E_NOTFOUND,
 * 409 CF_E_EXISTS, 410 CF_E_NOTFOUND, 413 CF_E_LIMIT, 415 CF_E_FORMAT, 429/503 CF_E_BUSY,
 * 500 CF_E_IO). @code must be a static string.
 */
int cf_kvd_fail(struct cf_kvd_err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* cf_kvd_fail_field - cf_kvd_fail naming @field (for *_field codes). */
int cf_kvd_fail_field(struct cf_kvd_err *e, const char *code, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* cf_kvd_err_json - the error body {"error","message"[,"field"]} of @e (new reference). */
json_t *cf_kvd_err_json(const struct cf_kvd_err *e);

struct cf_kvd_req;
struct cf_kvd_server;

/* States of a device in the directory. */
enum cf_kvd_device_state {
	CF_KVD_DEVICE_NONE = 0, /* the session is bound to no device */
	CF_KVD_DEVICE_PENDING,
	CF_KVD_DEVICE_ACTIVE,
};

/* What a handler gets: the request, an open transaction, who asks. */
struct cf_kvd_ctx {
	struct cf_kvd_server *srv;
	const struct cf_kvd_req *req;
	sqlite3 *db;             /* inside BEGIN IMMEDIATE; the server commits or rolls back */
	int64_t now;
	const char *address;     /* client address key (IPv4, or IPv6 /64 prefix) */
	int64_t account_id;      /* 0 on routes without a session */
	int64_t device_id;       /* the session's device, 0 when none */
	enum cf_kvd_device_state device_state;
	uint8_t token_hash[CF_KVD_AUTH_HASH_BYTES]; /* the session's, when there is one */
	const uint8_t *token;    /* the raw token (request memory), when there is one */
	int status;              /* HTTP status of a success; 200 unless the handler sets 201 */
	/* set by a handler whose error answer must still commit what it wrote (a failed
	 * authentication counted, an attempt on a share) */
	int keep_changes;
	/* set by a handler that wiped key material (escrow record, share, account): after the
	 * commit the WAL is checkpointed and truncated so no old copy stays in it */
	int scrub;
};

/* A handler: fills *@resp (new reference) and returns 0, or fills the error and returns
 * its code. On an error the caller rolls back what the handler wrote, unless it set
 * keep_changes. */
typedef int cf_kvd_handler(struct cf_kvd_ctx *c, struct cf_kvd_err *e, json_t **resp);

/* kvd_account.c */
cf_kvd_handler cf_kvd_account_prelogin, cf_kvd_account_create, cf_kvd_account_login,
    cf_kvd_account_logout, cf_kvd_account_bind, cf_kvd_account_device_login, cf_kvd_account_password,
    cf_kvd_account_delete;
/* kvd_device.c */
cf_kvd_handler cf_kvd_device_list, cf_kvd_device_add, cf_kvd_device_approve,
    cf_kvd_device_remove, cf_kvd_device_directory;
/* kvd_repo.c */
cf_kvd_handler cf_kvd_repo_list, cf_kvd_repo_get, cf_kvd_repo_put, cf_kvd_repo_delete;
/* kvd_escrow.c */
cf_kvd_handler cf_kvd_escrow_put, cf_kvd_escrow_get, cf_kvd_escrow_delete;
/* kvd_share.c */
cf_kvd_handler cf_kvd_share_put, cf_kvd_share_release, cf_kvd_share_delete;
/* kvd_mailbox.c */
cf_kvd_handler cf_kvd_mailbox_post, cf_kvd_mailbox_fetch, cf_kvd_mailbox_delete;
/* kvd_witness.c */
cf_kvd_handler cf_kvd_witness_put, cf_kvd_witness_get;
/* kvd_audit.c */
cf_kvd_handler cf_kvd_audit_list;

/*
 * cf_kvd_account_check_password - constant-time check of the body's "auth_key" against
 * the account of @c (a "+password" request). Call it before writing anything: a mismatch
 * is counted as a failed authentication (rate limits, audit "login-failed"), c->keep_changes
 * is set and 401 bad_credentials (or 429 locked) answered. A locked account is refused
 * even with the right key. Returns 0 or the error.
 */
int cf_kvd_account_check_password(struct cf_kvd_ctx *c, struct cf_kvd_err *e);

/*
 * cf_kvd_audit_add - append an audit entry for @account_id: @event (a-z and -), @actor
 * (NULL: from @c's session: "device:<id>" or "session"), @detail (JSON object or NULL;
 * borrowed). *@id (may be NULL) receives the entry's id. Returns 0 or CF_E_IO.
 */
int cf_kvd_audit_add(struct cf_kvd_ctx *c, int64_t account_id, const char *event,
		     const char *actor, json_t *detail, int64_t *id);

/* cf_kvd_actor - "device:<id>" or "session" for @c into @buf (>= 32 bytes). Returns @buf. */
const char *cf_kvd_actor(const struct cf_kvd_ctx *c, char *buf, size_t cap);

/*
 * cf_kvd_b64_json - a JSON string holding @len bytes at @p as unpadded URL-safe base64
 * (new reference, NULL when out of memory). The temporary text is wiped (keys and shares
 * pass through here; keyvaultd's jansson allocator wipes the JSON string when freed).
 */
json_t *cf_kvd_b64_json(const uint8_t *p, size_t len);

/* cf_kvd_hex_json - @len bytes as lower-case hex, a JSON string (new reference). */
json_t *cf_kvd_hex_json(const uint8_t *p, size_t len);

/* cf_kvd_int_or_null - @v as a JSON integer, or null when @is_null. */
json_t *cf_kvd_int_or_null(int64_t v, int is_null);

/* cf_kvd_oom - answer an allocation failure: 500 internal, returns -ENOMEM. */
int cf_kvd_oom(struct cf_kvd_err *e);

/* cf_kvd_dberr - log the SQLite error of @db with @what once and answer 500 internal
 * (503 unavailable when the database is busy). Returns the CF_E_* code. */
int cf_kvd_dberr(struct cf_kvd_err *e, sqlite3 *db, const char *what);

/* A repository row of the caller's account. */
struct cf_kvd_repo {
	int64_t id;      /* repository.id */
	int advanced;    /* protection is 'advanced' */
	int64_t epoch;
};

/*
 * cf_kvd_repo_find - the repository c->req->repo of the caller's account. Returns 0, or
 * 404 unknown_repository, or a database error.
 */
int cf_kvd_repo_find(struct cf_kvd_ctx *c, struct cf_kvd_err *e, struct cf_kvd_repo *out);

/*
 * cf_kvd_escrow_wipe - delete the live escrow record of repository @repo (overwriting the
 * sealed key) and audit it ("escrow-delete" with @reason). Appends {"epoch","deleted_at"}
 * to @deleted and the audit entry id to @audit (either may be NULL). Returns 0 (also when
 * there was nothing to delete) or an answered error.
 */
int cf_kvd_escrow_wipe(struct cf_kvd_ctx *c, struct cf_kvd_err *e, const struct cf_kvd_repo *repo,
		       const char *reason, json_t *deleted, json_t *audit);
