/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * keyvaultd request parsing and strict validation, without sockets or database: the route
 * table of docs/keyvaultd-api.md, path parameters, query parameters, the bearer token, the
 * content type and the JSON body checked field by field against the route's description.
 * Everything here takes untrusted bytes (tests/fuzz/fuzz-keyvaultd-request.c).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "keyvaultd/kvd.h"

/* What a route demands of its caller (docs/keyvaultd-api.md "Authentication levels"). */
enum cf_kvd_auth {
	CF_KVD_AUTH_NONE,
	CF_KVD_AUTH_SESSION,
	CF_KVD_AUTH_ANY_DEVICE, /* session bound to an active or pending device */
	CF_KVD_AUTH_DEVICE,     /* session bound to an active device */
};

enum cf_kvd_route_id {
	CF_KVD_R_HEALTH,
	CF_KVD_R_PRELOGIN,
	CF_KVD_R_ACCOUNT_CREATE,
	CF_KVD_R_ACCOUNT_DELETE,
	CF_KVD_R_PASSWORD,
	CF_KVD_R_LOGIN,
	CF_KVD_R_LOGOUT,
	CF_KVD_R_SESSION_DEVICE,
	CF_KVD_R_DEVICE_LOGIN,
	CF_KVD_R_DEVICES,
	CF_KVD_R_DEVICE_ADD,
	CF_KVD_R_DEVICE_APPROVE,
	CF_KVD_R_DEVICE_REMOVE,
	CF_KVD_R_DIRECTORY,
	CF_KVD_R_REPOS,
	CF_KVD_R_REPO_GET,
	CF_KVD_R_REPO_PUT,
	CF_KVD_R_REPO_DELETE,
	CF_KVD_R_ESCROW_PUT,
	CF_KVD_R_ESCROW_GET,
	CF_KVD_R_ESCROW_DELETE,
	CF_KVD_R_SHARE_PUT,
	CF_KVD_R_SHARE_RELEASE,
	CF_KVD_R_SHARE_DELETE,
	CF_KVD_R_MAILBOX_POST,
	CF_KVD_R_MAILBOX_FETCH,
	CF_KVD_R_MAILBOX_DELETE,
	CF_KVD_R_WITNESS_PUT,
	CF_KVD_R_WITNESS_GET,
	CF_KVD_R_AUDIT,
	CF_KVD_R__COUNT
};

/* Internal to kvd_request*.c: how a route describes one body field. */
enum cf_kvd_ftype {
	CF_KVD_F_NAME,     /* account name: 1..256 bytes of UTF-8, no control characters */
	CF_KVD_F_B64,      /* unpadded URL-safe base64 of min..max bytes */
	CF_KVD_F_INT,      /* integer min..max */
	CF_KVD_F_IDENTITY, /* an encoded public identity that decodes */
	CF_KVD_F_KDF,      /* {"opslimit","memlimit"}: one of core/kdf.h's sets */
	CF_KVD_F_LABEL,    /* text of 0..max bytes like a name */
	CF_KVD_F_KIND,     /* 1..32 of a-z and - */
	CF_KVD_F_ENUM,     /* one of values */
};

struct cf_kvd_field {
	const char *name;
	enum cf_kvd_ftype type;
	int required;
	int64_t min, max;           /* CF_KVD_F_INT: value; CF_KVD_F_B64: decoded bytes */
	const char *const *values;  /* CF_KVD_F_ENUM, NULL-terminated */
};


/* One route: method, path pattern, what it needs. */
struct cf_kvd_route {
	enum cf_kvd_route_id id;
	const char *method;
	const char *path;        /* segments; ":repo" is hex32, ":id" an integer id */
	enum cf_kvd_auth auth;
	int password;            /* the body carries "auth_key" to check again */
	const struct cf_kvd_field *fields; /* NULL: the route takes no body */
	size_t body_max;
	unsigned query;          /* CF_KVD_Q_* allowed */
};

enum { CF_KVD_Q_SINCE = 1, CF_KVD_Q_LIMIT = 2 };

/* A request as parsed so far. Zero it, then call the cf_kvd_request_* steps in order. */
struct cf_kvd_req {
	const struct cf_kvd_route *route;
	uint8_t repo[CF_KVD_REPO_BYTES]; /* :repo */
	int64_t id;                      /* :id, 0 when the path has none */
	int has_token;
	uint8_t token[CF_KVD_TOKEN_BYTES];
	int64_t since, limit;            /* -1 when absent */
	json_t *body;                    /* the validated object, NULL without a body */
};

/* Size of the longest request body any route accepts. */
#define CF_KVD_REQUEST_MAX_BODY CF_KVD_MAILBOX_BODY_MAX

/*
 * cf_kvd_request_route - find the route for @method and @path (the URL path, query
 * removed) and read its path parameters into @r. Sets since/limit to -1.
 * Returns 0; CF_E_NOTFOUND with 404 not_found, or 405 method_not_allowed (e->allow set);
 * CF_E_INVAL with 400 invalid_path (bad hex or id).
 */
int cf_kvd_request_route(struct cf_kvd_req *r, const char *method, const char *path,
			 struct cf_kvd_err *e);

/*
 * cf_kvd_request_query - one query parameter @key=@value (decoded) of @r's route.
 * @value may be NULL (a key without '='). Returns 0 or CF_E_INVAL (400 invalid_query).
 */
int cf_kvd_request_query(struct cf_kvd_req *r, const char *key, const char *value,
			 struct cf_kvd_err *e);

/*
 * cf_kvd_request_bearer - the Authorization header (NULL when absent). A well-formed
 * "Bearer <b64(32)>" sets r->token. Absent: r->has_token stays 0 and 0 is returned (the
 * server decides whether the route needs one). Returns 0 or CF_E_AUTH (401 unauthorized).
 */
int cf_kvd_request_bearer(struct cf_kvd_req *r, const char *header, struct cf_kvd_err *e);

/*
 * cf_kvd_request_length - check a declared body length against the route's limit before
 * reading it. Returns 0, CF_E_LIMIT (413 too_large) or, for a route that takes no body,
 * CF_E_INVAL (400 invalid_body).
 */
int cf_kvd_request_length(const struct cf_kvd_req *r, uint64_t length, struct cf_kvd_err *e);

/*
 * cf_kvd_request_body - validate the body (@len bytes, @content_type may be NULL) against
 * the route: no body for routes without fields; otherwise an application/json object with
 * exactly the described fields. On success r->body holds it (released by
 * cf_kvd_request_clear). Returns 0; CF_E_LIMIT (413); CF_E_FORMAT (415); CF_E_INVAL (400
 * malformed_json, invalid_body, missing_field, unknown_field, invalid_field); -ENOMEM.
 */
int cf_kvd_request_body(struct cf_kvd_req *r, const char *content_type, const uint8_t *body,
			size_t len, struct cf_kvd_err *e);

/* cf_kvd_request_clear - release the body and wipe the token. Leaves @r zeroed. */
void cf_kvd_request_clear(struct cf_kvd_req *r);

/* cf_kvd_request_routes - the route table (@n entries), for tests and the server. */
const struct cf_kvd_route *cf_kvd_request_routes(size_t *n);

/*
 * Accessors for a validated body (fields are known valid, so these only fail for a field
 * that is absent or null, returning CF_E_NOTFOUND, or a buffer that is too small).
 */
int cf_kvd_request_has(const struct cf_kvd_req *r, const char *name);
int cf_kvd_request_int(const struct cf_kvd_req *r, const char *name, int64_t *out);
const char *cf_kvd_request_str(const struct cf_kvd_req *r, const char *name);
int cf_kvd_request_bytes(const struct cf_kvd_req *r, const char *name, uint8_t *out,
			 size_t cap, size_t *len);
int cf_kvd_request_identity(const struct cf_kvd_req *r, const char *name, struct cf_pubid *out);
/* "kdf" as its (opslimit, memlimit) pair. */
int cf_kvd_request_kdf(const struct cf_kvd_req *r, int64_t *opslimit, int64_t *memlimit);

/*
 * cf_kvd_request_name_ok - 1 when @s (@len bytes) is an account name: 1..256 bytes of
 * valid UTF-8 without control characters.
 */
int cf_kvd_request_name_ok(const char *s, size_t len);
