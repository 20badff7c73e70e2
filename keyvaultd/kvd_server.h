/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The keyvaultd server without its sockets: configuration, the escrow key, the database
 * pool, and cf_kvd_server_handle, which turns one request (as the HTTP layer received it)
 * into one answer. Thread-safe: the HTTP layer calls it from several threads.
 *
 * Each request runs in one BEGIN IMMEDIATE transaction: rate limits and the session are
 * checked and counted, the body validated, then the route's handler runs in a savepoint
 * that is rolled back when it answers an error (so a refused request changes nothing but
 * the counters, the audit entries of failed authentications and share attempts).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_limits.h"

struct cf_kvd_escrowkey;

struct cf_kvd_config {
	const char *db_path;
	const char *escrow_key_path;
	int create_escrow_key;    /* create the escrow key file when missing */
	unsigned session_ttl;     /* seconds, >= 1 */
	unsigned threads;         /* database connections: one per server thread */
	struct cf_kvd_limits_cfg limits;
	int64_t (*clock)(void);   /* NULL: time(NULL); tests may pin it */
};

/* A request as the HTTP layer received it. */
struct cf_kvd_http_in {
	const char *method;
	const char *path;           /* without the query */
	const char *authorization;  /* NULL when absent */
	const char *content_type;   /* NULL when absent */
	const char *const *query;   /* @nquery key/value pairs, value may be NULL */
	size_t nquery;
	const uint8_t *body;
	size_t body_len;
	int body_too_large;         /* the body exceeded cf_kvd_server_body_limit() */
	const char *address;        /* the client's address key */
};

/* The answer: status, JSON body (owned by the answer), extra headers. */
struct cf_kvd_answer {
	int status;
	json_t *body;
	unsigned long retry_after; /* 0: no Retry-After */
	char allow[48];            /* "" or the Allow header of a 405 */
};

/* cf_kvd_server_defaults - @cfg with the documented defaults (paths NULL). */
void cf_kvd_server_defaults(struct cf_kvd_config *cfg);

/*
 * cf_kvd_server_new - open the database and the escrow key of @cfg (copied; the strings
 * must outlive the server). Sets *@out only on success. Returns 0, the errors of
 * cf_kvd_db_open and cf_kvd_escrowkey_open_file (logged), CF_E_INVAL or -ENOMEM.
 */
int cf_kvd_server_new(struct cf_kvd_server **out, const struct cf_kvd_config *cfg);

/* cf_kvd_server_free - close everything. No request may be running. Accepts NULL. */
void cf_kvd_server_free(struct cf_kvd_server *s);

/*
 * cf_kvd_server_body_limit - the largest body the route of @method @path accepts (0 for
 * an unknown route or one without a body), so the HTTP layer stops reading beyond it.
 */
size_t cf_kvd_server_body_limit(const char *method, const char *path);

/*
 * cf_kvd_server_handle - answer @in. Always fills @out (release its body with
 * cf_kvd_answer_clear); never fails: errors become error answers.
 */
void cf_kvd_server_handle(struct cf_kvd_server *s, const struct cf_kvd_http_in *in,
			  struct cf_kvd_answer *out);

/* cf_kvd_answer_clear - release the answer's body. */
void cf_kvd_answer_clear(struct cf_kvd_answer *a);

/* For handlers. */
const struct cf_kvd_config *cf_kvd_server_config(const struct cf_kvd_server *s);
const struct cf_kvd_escrowkey *cf_kvd_server_escrowkey(const struct cf_kvd_server *s);
