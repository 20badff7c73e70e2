/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for keyvaultd's request parsing and validation (keyvaultd/kvd_request.h),
 * without sockets or database. The input is a request in lines:
 *
 *   METHOD \n PATH \n AUTHORIZATION \n CONTENT-TYPE \n QUERY \n BODY...
 *
 * (QUERY as k=v&k=v; an empty AUTHORIZATION or CONTENT-TYPE line means the header is
 * absent). The steps run in the server's order and stop at the first refusal, which must
 * carry an HTTP status and a stable code. An accepted body is then read through every
 * accessor, and what the validator accepted must hold: known fields only, byte strings
 * that decode, identities that decode.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "keyvaultd/kvd_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of @data (NUL-terminated copy in @buf) or NULL at the end. */
static const char *line(const uint8_t **data, size_t *size, char *buf, size_t cap)
{
	const uint8_t *nl = memchr(*data, '\n', *size);
	size_t n;

	if (!nl)
		return NULL;
	n = (size_t)(nl - *data);
	if (n >= cap || memchr(*data, 0, n))
		return NULL;
	memcpy(buf, *data, n);
	buf[n] = '\0';
	*size -= n + 1;
	*data = nl + 1;
	return buf;
}

static void refused(const struct cf_kvd_err *e, int rc)
{
	if (rc <= 0 || e->status < 400 || e->status > 599 || !e->code || !e->code[0])
		abort();
}

static void read_body(const struct cf_kvd_req *r)
{
	static uint8_t buf[CF_KVD_ENVELOPE_MAX];
	const char *k;
	json_t *v;
	struct cf_pubid pub;
	int64_t i, j;
	size_t len;

	json_object_foreach (r->body, k, v) {
		if (json_is_null(v))
			continue;
		if (json_is_string(v) && cf_kvd_request_str(r, k) == NULL)
			abort();
		if (json_is_integer(v) && cf_kvd_request_int(r, k, &i) != 0)
			abort();
		if (!strcmp(k, "identity") && cf_kvd_request_identity(r, k, &pub) != 0)
			abort();
		if ((!strcmp(k, "auth_key") || !strcmp(k, "signature") || !strcmp(k, "envelope") ||
		     !strcmp(k, "share") || !strcmp(k, "key") || !strcmp(k, "salt")) &&
		    cf_kvd_request_bytes(r, k, buf, sizeof(buf), &len) != 0)
			abort();
		if (!strcmp(k, "kdf") && cf_kvd_request_kdf(r, &i, &j) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char method[16], path[1024], auth[256], ct[128], query[512];
	const char *m, *p, *a, *t, *q;
	struct cf_kvd_req r;
	struct cf_kvd_err e;
	char *save = NULL, *pair;
	int rc;

	if (!ready) {
		if (cf_core_init() != 0)
			abort();
		ready = 1;
	}
	m = line(&data, &size, method, sizeof(method));
	p = m ? line(&data, &size, path, sizeof(path)) : NULL;
	a = p ? line(&data, &size, auth, sizeof(auth)) : NULL;
	t = a ? line(&data, &size, ct, sizeof(ct)) : NULL;
	q = t ? line(&data, &size, query, sizeof(query)) : NULL;
	if (!q) {
		cf_kvd_request_name_ok((const char *)data, size);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	rc = cf_kvd_request_route(&r, m, p, &e);
	for (pair = strtok_r(query, "&", &save); !rc && pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		if (eq)
			*eq++ = '\0';
		rc = cf_kvd_request_query(&r, pair, eq, &e);
	}
	if (!rc)
		rc = cf_kvd_request_bearer(&r, a[0] ? a : NULL, &e);
	if (!rc)
		rc = cf_kvd_request_length(&r, size, &e);
	if (!rc)
		rc = cf_kvd_request_body(&r, t[0] ? t : NULL, data, size, &e);
	if (rc) {
		refused(&e, rc);
	} else {
		if (!r.route || (r.route->fields && !json_is_object(r.body)) ||
		    (!r.route->fields && (r.body || size)))
			abort();
		if (r.body)
			read_body(&r);
	}
	cf_kvd_request_clear(&r);
	return 0;
}
