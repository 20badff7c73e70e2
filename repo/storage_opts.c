/* SPDX-License-Identifier: ISC */
/*
 * Settings of the HTTP storage backends: the [storage] keys (docs/storage.md), their
 * environment variables and defaults. Secrets live in guarded memory.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "core/secbuf.h"
#include "repo/storage.h"
#include "repo/storage_impl.h"
#include "util/log.h"

#define SECRET_FILE_MAX 4096

enum key {
	K_ENDPOINT, K_REGION, K_URL_STYLE, K_ACCESS_KEY_ID, K_SECRET, K_SESSION_TOKEN,
	K_USERNAME, K_PASSWORD, K_PARALLEL, K_UPLOAD_LIMIT, K_CA_FILE, K_CA_PATH,
	K_ALLOW_INSECURE, K_RETRIES, K_RETRY_BASE_MS, K_TIMEOUT, K_CONNECT_TIMEOUT,
	K_CONNECT_TO, K_SIGV4_DATE, K__N
};

static const struct {
	const char *name;
	int secret;
	const char *env[3]; /* the usual variables, after COFFER_STORAGE_<KEY> */
} keys[K__N] = {
	[K_ENDPOINT] = {"endpoint", 0, {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
	[K_REGION] = {"region", 0, {"AWS_REGION", "AWS_DEFAULT_REGION"}},
	[K_URL_STYLE] = {"url_style", 0, {NULL}},
	[K_ACCESS_KEY_ID] = {"access_key_id", 0, {"AWS_ACCESS_KEY_ID"}},
	[K_SECRET] = {"secret_access_key", 1, {"AWS_SECRET_ACCESS_KEY"}},
	[K_SESSION_TOKEN] = {"session_token", 1, {"AWS_SESSION_TOKEN"}},
	[K_USERNAME] = {"username", 0, {"COFFER_WEBDAV_USER"}},
	[K_PASSWORD] = {"password", 1, {"COFFER_WEBDAV_PASSWORD"}},
	[K_PARALLEL] = {"parallel", 0, {NULL}},
	[K_UPLOAD_LIMIT] = {"upload_limit", 0, {NULL}},
	[K_CA_FILE] = {"ca_file", 0, {NULL}},
	[K_CA_PATH] = {"ca_path", 0, {NULL}},
	[K_ALLOW_INSECURE] = {"allow_insecure_http", 0, {NULL}},
	[K_RETRIES] = {"retries", 0, {NULL}},
	[K_RETRY_BASE_MS] = {"retry_base_ms", 0, {NULL}},
	[K_TIMEOUT] = {"timeout", 0, {NULL}},
	[K_CONNECT_TIMEOUT] = {"connect_timeout", 0, {NULL}},
	[K_CONNECT_TO] = {"connect_to", 0, {NULL}},
	[K_SIGV4_DATE] = {"sigv4_date", 0, {NULL}},
};

struct cf_storage_options {
	char *v[K__N]; /* secrets in guarded memory */
};

static char *dup_value(const char *s, int secret)
{
	size_t n = strlen(s) + 1;
	char *d = secret ? cf_secmem_alloc(n) : malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_value(char *s, int secret)
{
	if (!s)
		return;
	if (secret)
		cf_secmem_free(s);
	else
		free(s);
}

int cf_storage_options_new(struct cf_storage_options **out)
{
	if (cf_core_init())
		return CF_E_CRYPTO; /* guarded memory for secrets */
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void cf_storage_options_free(struct cf_storage_options *o)
{
	if (!o)
		return;
	for (int i = 0; i < K__N; i++)
		free_value(o->v[i], keys[i].secret);
	free(o);
}

/* The first line of file @path into guarded or plain memory; secrets must be 0600. */
static int read_value_file(const char *key, const char *path, int secret, char **out)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		cf_log_err("storage setting %s_file: cannot open %s: %s", key, path, cf_strerror(r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (secret && (st.st_mode & 077)) {
		cf_log_err("storage setting %s_file: %s is readable by others (chmod 600 it)", key,
			   path);
		r = CF_E_PERM;
	}
	buf = r ? NULL : (secret ? cf_secmem_alloc(SECRET_FILE_MAX + 1) : malloc(SECRET_FILE_MAX + 1));
	if (!r && !buf)
		r = -ENOMEM;
	if (!r) {
		do
			n = read(fd, buf, SECRET_FILE_MAX);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			r = -errno;
		} else {
			buf[n] = 0;
			buf[strcspn(buf, "\r\n")] = 0;
		}
	}
	close(fd);
	if (r) {
		if (r != CF_E_PERM)
			cf_log_err("storage setting %s_file: cannot read %s: %s", key, path,
				   cf_strerror(r));
		free_value(buf, secret);
		return r;
	}
	*out = buf;
	return 0;
}

static int find_key(const char *key, int *is_file)
{
	size_t n = strlen(key);

	*is_file = n > 5 && !strcmp(key + n - 5, "_file");
	for (int i = 0; i < K__N; i++) {
		size_t kn = strlen(keys[i].name);
		if (*is_file ? (kn == n - 5 && !strncmp(key, keys[i].name, kn))
			     : !strcmp(key, keys[i].name))
			return i;
	}
	return -1;
}

int cf_storage_options_set(struct cf_storage_options *o, const char *key, const char *value)
{
	int is_file, i, r;
	char *v = NULL;

	i = key ? find_key(key, &is_file) : -1;
	if (i < 0 || (is_file && i != K_SECRET && i != K_PASSWORD && i != K_SESSION_TOKEN &&
		      i != K_ACCESS_KEY_ID)) {
		cf_log_err("storage: unknown setting \"%s\"", key ? key : "(null)");
		return CF_E_CONFIG;
	}
	if (!value) {
		cf_log_err("storage setting %s: no value", key);
		return CF_E_CONFIG;
	}
	if (is_file) {
		r = read_value_file(keys[i].name, value, keys[i].secret, &v);
		if (r)
			return r;
	} else {
		v = dup_value(value, keys[i].secret);
		if (!v)
			return -ENOMEM;
	}
	free_value(o->v[i], keys[i].secret);
	o->v[i] = v;
	return 0;
}

/* ---- resolving ---- */

/* The raw value of key @i: set, else COFFER_STORAGE_<KEY>[_FILE], else the usual vars. */
static int raw_value(const struct cf_storage_options *o, int i, char **out, const char **from)
{
	char env[64];
	const char *e;
	size_t n;

	*out = NULL;
	*from = keys[i].name;
	if (o && o->v[i]) {
		*out = dup_value(o->v[i], keys[i].secret);
		return *out ? 0 : -ENOMEM;
	}
	n = (size_t)snprintf(env, sizeof(env), "COFFER_STORAGE_%s", keys[i].name);
	for (size_t j = 15; j < n; j++)
		env[j] = (char)toupper((unsigned char)env[j]);
	e = getenv(env);
	if (e && *e) {
		static __thread char name[64];
		snprintf(name, sizeof(name), "%s", env);
		*from = name;
		*out = dup_value(e, keys[i].secret);
		return *out ? 0 : -ENOMEM;
	}
	snprintf(env + n, sizeof(env) - n, "_FILE");
	e = getenv(env);
	if (e && *e && (keys[i].secret || i == K_ACCESS_KEY_ID))
		return read_value_file(keys[i].name, e, keys[i].secret, out);
	for (int j = 0; j < 3 && keys[i].env[j]; j++) {
		e = getenv(keys[i].env[j]);
		if (e && *e) {
			*from = keys[i].env[j];
			*out = dup_value(e, keys[i].secret);
			return *out ? 0 : -ENOMEM;
		}
	}
	return 0;
}

static int parse_uint(const char *from, const char *s, uint64_t max, uint64_t *v, int suffix)
{
	char *end;
	unsigned long long x;
	uint64_t mul = 1;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (suffix && *end && !end[1]) {
		switch (*end | 0x20) {
		case 'k': mul = 1024; end++; break;
		case 'm': mul = 1024 * 1024; end++; break;
		case 'g': mul = 1024 * 1024 * 1024; end++; break;
		}
	}
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || x > max / mul) {
		cf_log_err("storage setting %s: \"%s\" is not a number from 0 to %llu%s", from, s,
			   (unsigned long long)max, suffix ? " (suffix k, m or g allowed)" : "");
		return CF_E_CONFIG;
	}
	*v = x * mul;
	return 0;
}

static int parse_bool(const char *from, const char *s, int *v)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") ||
	    !strcasecmp(s, "on"))
		*v = 1;
	else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
		 !strcasecmp(s, "off"))
		*v = 0;
	else {
		cf_log_err("storage setting %s: \"%s\" is not yes or no", from, s);
		return CF_E_CONFIG;
	}
	return 0;
}

static int number(const char *from, const char *s, uint64_t min, uint64_t max, unsigned *v)
{
	uint64_t x;
	int r = parse_uint(from, s, max, &x, 0);

	if (!r && x < min) {
		cf_log_err("storage setting %s: %s is below the minimum %llu", from, s,
			   (unsigned long long)min);
		return CF_E_CONFIG;
	}
	if (!r)
		*v = (unsigned)x;
	return r;
}

/* Interpret the non-string key @i. */
static int convert(struct cf_storage_settings *st, int i, const char *from, const char *v)
{
	switch (i) {
	case K_URL_STYLE:
		if (!strcmp(v, "auto"))
			st->url_style = CF_STYLE_AUTO;
		else if (!strcmp(v, "path"))
			st->url_style = CF_STYLE_PATH;
		else if (!strcmp(v, "virtual-host") || !strcmp(v, "virtual"))
			st->url_style = CF_STYLE_VHOST;
		else {
			cf_log_err("storage setting %s: \"%s\" is not auto, path or virtual-host",
				   from, v);
			return CF_E_CONFIG;
		}
		return 0;
	case K_PARALLEL:
		return number(from, v, 1, 64, &st->parallel);
	case K_UPLOAD_LIMIT:
		return parse_uint(from, v, (uint64_t)1 << 40, &st->upload_limit, 1);
	case K_ALLOW_INSECURE:
		return parse_bool(from, v, &st->allow_insecure_http);
	case K_RETRIES:
		return number(from, v, 0, 100, &st->retries);
	case K_RETRY_BASE_MS:
		return number(from, v, 1, 60000, &st->retry_base_ms);
	case K_TIMEOUT:
		return number(from, v, 1, 3600, &st->timeout);
	case K_CONNECT_TIMEOUT:
		return number(from, v, 1, 600, &st->connect_timeout);
	default:
		return 0;
	}
}

static char **string_slot(struct cf_storage_settings *st, int i)
{
	switch (i) {
	case K_ENDPOINT: return &st->endpoint;
	case K_REGION: return &st->region;
	case K_ACCESS_KEY_ID: return &st->access_key_id;
	case K_SECRET: return &st->secret_access_key;
	case K_SESSION_TOKEN: return &st->session_token;
	case K_USERNAME: return &st->username;
	case K_PASSWORD: return &st->password;
	case K_CA_FILE: return &st->ca_file;
	case K_CA_PATH: return &st->ca_path;
	case K_CONNECT_TO: return &st->connect_to;
	case K_SIGV4_DATE: return &st->sigv4_date;
	default: return NULL;
	}
}

int cf_storage_settings_resolve(struct cf_storage_settings *st,
				const struct cf_storage_options *o)
{
	const char *from;
	char *v, **slot;
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (cf_core_init())
		return CF_E_CRYPTO;
	st->parallel = 4;
	st->retries = 6;
	st->retry_base_ms = 500;
	st->timeout = 60;
	st->connect_timeout = 30;
	for (int i = 0; i < K__N && !r; i++) {
		r = raw_value(o, i, &v, &from);
		if (r || !v)
			continue;
		slot = string_slot(st, i);
		if (slot) {
			*slot = v;
			continue;
		}
		r = convert(st, i, from, v);
		free_value(v, keys[i].secret);
	}
	if (!r && !st->region) {
		st->region = strdup("us-east-1");
		r = st->region ? 0 : -ENOMEM;
	}
	return r;
}

void cf_storage_settings_free(struct cf_storage_settings *st)
{
	for (int i = 0; i < K__N; i++) {
		char **slot = string_slot(st, i);
		if (slot) {
			free_value(*slot, keys[i].secret);
			*slot = NULL;
		}
	}
}
