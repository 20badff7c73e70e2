/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "util/log.h"

static int code_for(int status)
{
	switch (status) {
	case 400: return CF_E_INVAL;
	case 401: return CF_E_AUTH;
	case 403: return CF_E_PERM;
	case 404: case 405: case 410: return CF_E_NOTFOUND;
	case 409: return CF_E_EXISTS;
	case 413: return CF_E_LIMIT;
	case 415: return CF_E_FORMAT;
	case 429: case 503: return CF_E_BUSY;
	default: return CF_E_IO;
	}
}

static int vfail(struct cf_kvd_err *e, int status, const char *code, const char *field,
		 const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int vfail(struct cf_kvd_err *e, int status, const char *code, const char *field,
		 const char *fmt, va_list ap)
{
	e->status = status;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	e->retry_after = 0;
	return code_for(status);
}

int cf_kvd_fail(struct cf_kvd_err *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(e, status, code, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int cf_kvd_fail_field(struct cf_kvd_err *e, const char *code, const char *field,
		      const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(e, 400, code, field, fmt, ap);
	va_end(ap);
	return rc;
}

json_t *cf_kvd_err_json(const struct cf_kvd_err *e)
{
	json_t *j = json_pack("{s:s, s:s}", "error", e->code ? e->code : "internal", "message",
			      e->message);

	if (j && e->field[0] && json_object_set_new(j, "field", json_string(e->field)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int cf_kvd_oom(struct cf_kvd_err *e)
{
	cf_log_err("out of memory");
	cf_kvd_fail(e, 500, "internal", "the server ran out of memory");
	return -ENOMEM;
}

int cf_kvd_dberr(struct cf_kvd_err *e, sqlite3 *db, const char *what)
{
	int rc = sqlite3_extended_errcode(db);

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
		cf_log_warn("database busy: %s", what);
		return cf_kvd_fail(e, 503, "unavailable", "the database is busy; retry later");
	}
	cf_log_err("database: %s: %s", what, sqlite3_errmsg(db));
	return cf_kvd_fail(e, 500, "internal", "internal error");
}

json_t *cf_kvd_b64_json(const uint8_t *p, size_t len)
{
	size_t n = cf_encode_b64_len(len);
	char *s = malloc(n);
	json_t *j;

	if (!s)
		return NULL;
	cf_encode_b64(s, n, p, len);
	j = json_stringn(s, strlen(s));
	cf_core_wipe(s, n); /* it may be a key or a share */
	free(s);
	return j;
}

json_t *cf_kvd_hex_json(const uint8_t *p, size_t len)
{
	char buf[CF_HEX_LEN(64)];

	if (len > 64)
		return NULL;
	cf_encode_hex(buf, p, len);
	return json_string(buf);
}

json_t *cf_kvd_int_or_null(int64_t v, int is_null)
{
	return is_null ? json_null() : json_integer(v);
}

const char *cf_kvd_actor(const struct cf_kvd_ctx *c, char *buf, size_t cap)
{
	if (c->device_id)
		snprintf(buf, cap, "device:%" PRId64, c->device_id);
	else
		snprintf(buf, cap, "session");
	return buf;
}
