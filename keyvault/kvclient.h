/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The keyvaultd HTTP client (docs/keyvaultd-api.md): one libcurl easy handle, JSON in and
 * out, TLS verification on. Cleartext http:// is accepted only to a loopback address
 * (127.0.0.0/8, ::1, localhost) unless COFFER_KEYVAULT_ALLOW_HTTP=1 is set; a CA bundle
 * for a private TLS setup comes from COFFER_KEYVAULT_CA (a file). This is the only file
 * of keyvault/ that uses libcurl.
 *
 * Errors: a 2xx answer is 0. Otherwise the server's stable code and message are kept
 * (cf_kvclient_error_code / _message) and the call returns: 400 CF_E_INVAL, 401
 * CF_E_AUTH, 403 CF_E_PERM, 404 CF_E_NOTFOUND, 405 CF_E_NOTFOUND, 409 CF_E_EXISTS,
 * 410 CF_E_LIMIT, 413 CF_E_LIMIT, 415 CF_E_FORMAT, 429 CF_E_BUSY, other CF_E_NETWORK;
 * CF_E_NETWORK when the server cannot be reached or answers something that is not JSON
 * (logged once here). Server-side refusals are not logged here: callers say what failed
 * with the code and message.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

#define CF_KVCLIENT_TOKEN_BYTES 32
#define CF_KVCLIENT_MAX_RESPONSE (32u << 20)

struct cf_kvclient;

/*
 * cf_kvclient_new - a client for the server at @url ("https://host[:port]" or, to
 * loopback, "http://..."; a trailing '/' is ignored). Sets *@out only on success.
 * Returns 0; CF_E_CONFIG (not an http(s) URL, cleartext to a non-loopback host);
 * CF_E_CRYPTO/-ENOMEM (libcurl could not start).
 */
int cf_kvclient_new(struct cf_kvclient **out, const char *url);

/* cf_kvclient_free - wipe the session token and release. Accepts NULL. */
void cf_kvclient_free(struct cf_kvclient *c);

/* cf_kvclient_url - the server URL given to cf_kvclient_new (without a trailing '/'). */
const char *cf_kvclient_url(const struct cf_kvclient *c);

/* cf_kvclient_set_token - use @token (32 bytes, copied into secure memory) as bearer. */
int cf_kvclient_set_token(struct cf_kvclient *c, const uint8_t token[CF_KVCLIENT_TOKEN_BYTES]);

/* cf_kvclient_token - the bearer token, or NULL when none is set. */
const uint8_t *cf_kvclient_token(const struct cf_kvclient *c);

/*
 * cf_kvclient_call - @method @path (e.g. "/v1/devices") with the JSON object @body
 * (borrowed; NULL: no body). On a 2xx answer *@resp (may be NULL) receives the parsed
 * object (new reference). *@status (may be NULL) receives the HTTP status, or 0 when
 * there was none. Returns 0 or an error as described at the top.
 */
int cf_kvclient_call(struct cf_kvclient *c, const char *method, const char *path,
		     const json_t *body, json_t **resp, long *status);

/*
 * cf_kvclient_call_secret - as cf_kvclient_call, but the body is the exact JSON text
 * @body (@len bytes, e.g. in secure memory, holding an auth key or a master key): it is
 * sent as is and no copy of it outlives the call.
 */
int cf_kvclient_call_secret(struct cf_kvclient *c, const char *method, const char *path,
			    const char *body, size_t len, json_t **resp, long *status);

/* The stable error code ("bad_credentials") and message of the last failed call. */
const char *cf_kvclient_error_code(const struct cf_kvclient *c);
const char *cf_kvclient_error_message(const struct cf_kvclient *c);

/*
 * cf_kvclient_take_b64 - decode the base64url string @field of @obj into a new secure
 * buffer of exactly @len bytes (@len 0: any length up to 4096), then overwrite the JSON
 * string in place. Returns 0, CF_E_FORMAT (missing, not base64, wrong length), -ENOMEM.
 */
int cf_kvclient_take_b64(json_t *obj, const char *field, size_t len, struct cf_secbuf **out);
