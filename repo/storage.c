/* SPDX-License-Identifier: ISC */
/*
 * The storage front: object name grammar, URL parsing and backend dispatch, and the
 * sources and sinks that let backends stream without holding objects in memory.
 */
#include "repo/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/storage_impl.h"
#include "util/log.h"

const char *const cf_storage_folders[CF_STORAGE_NFOLDERS] = {"data",      "keys",   "index",
							     "snapshots", "forget", "locks"};

static int is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The first @n bytes of @s are lower-case hex (and no NUL among them). */
static int hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return 0;
	return 1;
}

/*
 * Match @s against "<folder>/" for a known folder. Returns the length of that head and
 * sets *@data when it is "data/"; 0 when @s starts with no known folder.
 */
static size_t folder_head(const char *s, int *data)
{
	size_t n;

	for (size_t i = 0; i < CF_STORAGE_NFOLDERS; i++) {
		n = strlen(cf_storage_folders[i]);
		if (!strncmp(s, cf_storage_folders[i], n) && s[n] == '/') {
			*data = i == 0;
			return n + 1;
		}
	}
	*data = 0;
	return 0;
}

int cf_storage_name_valid(const char *name)
{
	size_t head;
	const char *id;
	int data;

	if (!name)
		return 0;
	if (!strcmp(name, "config"))
		return 1;
	head = folder_head(name, &data);
	if (!head)
		return 0;
	id = name + head;
	if (data) {
		/* data/<id[0:2]>/<id> */
		if (!hex_run(id, 2) || id[2] != '/')
			return 0;
		id += 3;
		if (id[0] != name[head] || id[1] != name[head + 1])
			return 0;
	}
	return strlen(id) == CF_STORAGE_ID_HEX && hex_run(id, CF_STORAGE_ID_HEX);
}

/* A list prefix: "", or a folder head followed by the start of a valid name. */
static int prefix_valid(const char *p)
{
	size_t head, n;
	const char *rest;
	int data;

	if (!*p)
		return 1;
	head = folder_head(p, &data);
	if (!head)
		return 0;
	rest = p + head;
	n = strlen(rest);
	if (!data)
		return n <= CF_STORAGE_ID_HEX && hex_run(rest, n);
	if (n <= 2)
		return hex_run(rest, n);
	if (!hex_run(rest, 2) || rest[2] != '/')
		return 0;
	rest += 3;
	n -= 3;
	if (n > CF_STORAGE_ID_HEX || !hex_run(rest, n))
		return 0;
	/* the id must start with its folder's two digits, as far as it goes */
	return (n < 1 || rest[0] == p[head]) && (n < 2 || rest[1] == p[head + 1]);
}

const char *cf_storage_name_printable(char *buf, size_t size, const char *name)
{
	size_t i = 0;

	if (!size)
		return buf;
	for (; name && name[i] && i + 1 < size; i++)
		buf[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	buf[i] = 0;
	return buf;
}

int cf_storage_check_name(const struct cf_storage *s, const char *op, const char *name)
{
	char shown[CF_STORAGE_NAME_MAX];

	if (cf_storage_name_valid(name))
		return 0;
	cf_log_err("storage %s: %s: invalid object name \"%s\"", s ? s->url : "?", op,
		   name ? cf_storage_name_printable(shown, sizeof(shown), name) : "(null)");
	return CF_E_INVAL;
}

/* ---- sources and sinks ---- */

int cf_storage_src_read(const struct cf_storage_src *src, uint64_t off, void *p, size_t n)
{
	uint8_t *d = p;

	if (src->fd < 0) {
		memcpy(d, src->buf + off, n);
		return 0;
	}
	while (n) {
		ssize_t r = pread(src->fd, d, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return CF_E_TRUNCATED;
		d += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

static int grow_to(struct cf_storage_sink *k, size_t want)
{
	size_t cap = k->cap ? k->cap : 4096;
	uint8_t *nb;

	while (cap < want)
		cap = cap > k->max / 2 ? k->max : cap * 2;
	if (cap < want)
		cap = want;
	nb = realloc(k->buf, cap ? cap : 1);
	if (!nb)
		return -ENOMEM;
	k->buf = nb;
	k->cap = cap;
	return 0;
}

int cf_storage_sink_begin(struct cf_storage_sink *k, uint64_t size)
{
	k->expect = size;
	switch (k->kind) {
	case CF_SINK_GROW:
		if (size > k->max)
			return CF_E_LIMIT;
		return size > k->cap ? grow_to(k, (size_t)size) : 0;
	case CF_SINK_FIXED:
		return size > k->cap ? CF_E_LIMIT : 0;
	default:
		return 0;
	}
}

int cf_storage_sink_write(struct cf_storage_sink *k, const uint8_t *p, size_t n)
{
	size_t left = n;
	int r;

	if (k->kind == CF_SINK_FD) {
		while (left) {
			ssize_t w = write(k->fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			p += w;
			left -= (size_t)w;
		}
		k->done += n;
		return 0;
	}
	if (n > k->max - k->done) /* done <= max always */
		return CF_E_LIMIT;
	if (k->done + n > k->cap) {
		if (k->kind == CF_SINK_FIXED)
			return CF_E_LIMIT;
		r = grow_to(k, (size_t)k->done + n);
		if (r)
			return r;
	}
	memcpy(k->buf + k->done, p, n);
	k->done += n;
	return 0;
}

/* Run a get and check that the sink received everything it was promised. */
static int do_get(struct cf_storage *s, const char *op, const char *name, uint64_t off,
		  uint64_t len, struct cf_storage_sink *k)
{
	struct cf_storage_op o = {.kind = CF_OP_GET, .off = off, .len = len};
	int r;

	r = cf_storage_check_name(s, op, name);
	if (r)
		return r;
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.sink = *k;
	r = cf_storage_async_run(s, &o);
	*k = o.sink;
	return r;
}

/* ---- URL parsing ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode %XX escapes of @in into a new string; NULL on a malformed escape or %00. */
static char *percent_decode(const char *in, int *nomem)
{
	char *out = malloc(strlen(in) + 1), *o = out;

	*nomem = !out;
	if (!out)
		return NULL;
	for (; *in; in++) {
		if (*in != '%') {
			*o++ = *in;
			continue;
		}
		if (hexval(in[1]) < 0 || hexval(in[2]) < 0 || (in[1] == '0' && in[2] == '0')) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hexval(in[1]) << 4 | hexval(in[2]));
		in += 2;
	}
	*o = 0;
	return out;
}

/*
 * Make @path absolute (against the working directory) and drop empty and "." segments
 * and trailing slashes. ".." is kept as written: resolving it needs the file system.
 */
static int absolute_path(const char *path, char **out)
{
	char *cwd = NULL, *joined = NULL, *res, *o;
	const char *p;
	int r;

	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return -errno;
		if (asprintf(&joined, "%s/%s", cwd, path) < 0) {
			free(cwd);
			return -ENOMEM;
		}
		free(cwd);
		path = joined;
	}
	res = malloc(strlen(path) + 2);
	r = res ? 0 : -ENOMEM;
	if (r)
		goto out;
	o = res;
	for (p = path; *p;) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		*o++ = '/';
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	if (o == res)
		*o++ = '/';
	*o = 0;
	*out = res;
out:
	free(joined);
	return r;
}

/* Length of a URL scheme ("file" in "file:..."), 0 when @url has none. */
static size_t scheme_len(const char *url)
{
	size_t n = 0;

	if (!((url[0] | 0x20) >= 'a' && (url[0] | 0x20) <= 'z'))
		return 0;
	while (url[n] && (strchr("+-.", url[n]) || ((url[n] | 0x20) >= 'a' &&
	       (url[n] | 0x20) <= 'z') || (url[n] >= '0' && url[n] <= '9')))
		n++;
	return url[n] == ':' ? n : 0;
}

/* The path of a file URL or bare path in *@path (malloc'ed), or CF_E_CONFIG. */
static int file_path(const char *url, size_t slen, char **path)
{
	const char *p = url;
	char *dec = NULL;
	int nomem = 0, r;

	if (slen) {
		p = url + slen + 1;
		if (!strncmp(p, "//localhost/", 12))
			p += 11;
		else if (!strncmp(p, "//", 2))
			p += 2;
		else if (p[0] != '/')
			p = "";
		dec = percent_decode(p, &nomem);
		if (nomem)
			return -ENOMEM;
		if (!dec || !*dec) {
			cf_log_err("storage: \"%s\" is not a valid file URL: use "
				   "file:///absolute/path or file://relative/path",
				   url);
			free(dec);
			return CF_E_CONFIG;
		}
		p = dec;
	}
	r = absolute_path(p, path);
	free(dec);
	return r;
}

/* "webdav+http://h/p" or "http://h/p": the http(s) URL of the collection in *@base. */
static int webdav_base(const char *url, size_t slen, char **base)
{
	const char *rest = url + slen + 1, *auth;
	int tls = (url[slen - 1] | 0x20) == 's';
	size_t alen, n;

	if (strncmp(rest, "//", 2))
		goto bad;
	auth = rest + 2;
	alen = strcspn(auth, "/?#");
	if (!alen)
		goto bad;
	if (memchr(auth, '@', alen)) {
		cf_log_err("storage: put no user name or password in a repository URL (it would "
			   "show in process lists and logs); use the username and password settings "
			   "or COFFER_WEBDAV_USER and COFFER_WEBDAV_PASSWORD");
		return CF_E_CONFIG;
	}
	if (strpbrk(auth, "?#") || strchr(auth, ' ')) {
		cf_log_err("storage: a WebDAV URL takes no query, fragment or spaces (encode them)");
		return CF_E_CONFIG;
	}
	n = strlen(auth);
	while (n > alen + 1 && auth[n - 1] == '/' && auth[n - 2] == '/')
		n--; /* one trailing slash is enough */
	if (asprintf(base, "%s://%.*s%s", tls ? "https" : "http", (int)n, auth,
		     auth[n - 1] == '/' ? "" : "/") < 0)
		return -ENOMEM;
	return 0;
bad:
	cf_log_err("storage: \"%.*s\" is not a valid URL: use %.*s://host[:port]/path", 200, url,
		   (int)slen, url);
	return CF_E_CONFIG;
}

/* "s3://bucket[/prefix]": *@bucket and *@prefix ("" or "a/b/"), malloc'ed. */
static int s3_location(const char *url, char **bucket, char **prefix)
{
	const char *b = url + 3, *p;
	char *dec = NULL, *o;
	size_t blen;
	int nomem = 0;

	if (strncmp(b, "//", 2))
		goto bad;
	b += 2;
	blen = strcspn(b, "/");
	if (!blen || blen > 255)
		goto bad;
	for (size_t i = 0; i < blen; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", b[i]))
			goto bad;
	p = b + blen;
	dec = percent_decode(p, &nomem);
	if (nomem)
		return -ENOMEM;
	if (!dec || strpbrk(dec, "?#"))
		goto bad;
	/* drop empty segments; keep one trailing slash */
	o = dec;
	for (const char *c = dec; *c;) {
		size_t n;
		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && !strncmp(c, "..", 2)))
			goto bad;
		memmove(o, c, n);
		o += n;
		c += n;
		if (n)
			*o++ = '/';
	}
	*o = 0;
	*prefix = dec;
	*bucket = strndup(b, blen);
	if (!*bucket) {
		free(dec);
		return -ENOMEM;
	}
	return 0;
bad:
	free(dec);
	cf_log_err("storage: \"%.*s\" is not a valid S3 location: use s3://bucket or "
		   "s3://bucket/prefix", 200, url);
	return CF_E_CONFIG;
}

static int open_http(struct cf_storage **out, const char *url, size_t slen, int create,
		     const struct cf_storage_options *o)
{
	struct cf_storage_settings st;
	char *a = NULL, *b = NULL;
	int s3 = slen == 2 && !strncasecmp(url, "s3", 2), r;

	r = s3 ? s3_location(url, &a, &b) : webdav_base(url, slen, &a);
	if (r)
		return r;
	r = cf_storage_settings_resolve(&st, o);
	if (r) {
		cf_storage_settings_free(&st);
		goto out;
	}
	if (s3)
		r = cf_storage_s3_open(out, a, b, create, &st);
	else
		r = cf_storage_webdav_open(out, a, create, &st);
out:
	free(a);
	free(b);
	return r;
}

static const char *const http_schemes[] = {"webdav+http", "webdav+https", "http", "https",
					   "s3"};

int cf_storage_open_with(struct cf_storage **out, const char *url, int create,
			 const struct cf_storage_options *o)
{
	struct cf_storage *s = NULL;
	char *path = NULL;
	size_t slen;
	int r;

	if (!out)
		return CF_E_INVAL;
	if (!url || !*url) {
		cf_log_err("storage: no repository location given");
		return CF_E_CONFIG;
	}
	slen = scheme_len(url);
	if (slen && !(slen == 4 && !strncasecmp(url, "file", 4))) {
		size_t i, n = sizeof(http_schemes) / sizeof(http_schemes[0]);

		for (i = 0; i < n; i++)
			if (strlen(http_schemes[i]) == slen && !strncasecmp(url, http_schemes[i], slen))
				break;
		if (i == n) {
			cf_log_err("storage: unknown URL scheme \"%.*s\" (supported: file://, "
				   "webdav+http(s)://, http(s)://, s3://; write a relative path that "
				   "contains ':' as ./path)",
				   (int)(slen > 32 ? 32 : slen), url);
			return CF_E_CONFIG;
		}
		r = open_http(&s, url, slen, create, o);
	} else {
		r = file_path(url, slen, &path);
		if (!r)
			r = cf_storage_file_open(&s, path, create);
		free(path);
	}
	if (r)
		return r;
	r = cf_storage_async_attach(s);
	if (r) {
		s->ops->close(s);
		return r;
	}
	*out = s;
	return 0;
}

int cf_storage_open(struct cf_storage **out, const char *url, int create)
{
	return cf_storage_open_with(out, url, create, NULL);
}

void cf_storage_free(struct cf_storage *s)
{
	if (!s)
		return;
	cf_storage_async_detach(s);
	s->ops->close(s);
}

const char *cf_storage_url(const struct cf_storage *s)
{
	return s && s->url ? s->url : "(no storage)";
}

/* ---- operations ---- */

/* A blocking put of @src as @name (checked). */
static int do_put(struct cf_storage *s, const char *name, const struct cf_storage_src *src)
{
	struct cf_storage_op o = {.kind = CF_OP_PUT, .src = *src};

	snprintf(o.name, sizeof(o.name), "%s", name);
	return cf_storage_async_run(s, &o);
}

static int put_fd(struct cf_storage *s, const char *name, int fd, uint64_t len, int adopt)
{
	struct cf_storage_src src = {.fd = fd, .len = len, .adopt = adopt};
	int r = cf_storage_check_name(s, "put", name);

	if (r)
		return r;
	if (fd < 0 || len > (uint64_t)INT64_MAX) {
		cf_log_err("storage %s: put %s: invalid source descriptor or length", s->url, name);
		return CF_E_INVAL;
	}
	return do_put(s, name, &src);
}

int cf_storage_put_file(struct cf_storage *s, const char *name, int fd, uint64_t len)
{
	return put_fd(s, name, fd, len, 0);
}

int cf_storage_put_spool(struct cf_storage *s, const char *name, int fd, uint64_t len)
{
	return put_fd(s, name, fd, len, 1);
}

int cf_storage_put_buf(struct cf_storage *s, const char *name, const void *buf, size_t len)
{
	struct cf_storage_src src = {.fd = -1, .buf = buf, .len = len};
	int r = cf_storage_check_name(s, "put", name);

	if (r)
		return r;
	if (!buf && len) {
		cf_log_err("storage %s: put %s: no buffer", s->url, name);
		return CF_E_INVAL;
	}
	if (!buf)
		src.buf = (const uint8_t *)"";
	return do_put(s, name, &src);
}

int cf_storage_get_file(struct cf_storage *s, const char *name, int fd, uint64_t *len)
{
	struct cf_storage_sink k = {.kind = CF_SINK_FD, .fd = fd};
	int r;

	r = do_get(s, "get", name, 0, CF_STORAGE_TO_END, &k);
	if (!r && len)
		*len = k.done;
	return r;
}

int cf_storage_get_buf(struct cf_storage *s, const char *name, uint8_t **buf, size_t *len,
		       size_t max)
{
	struct cf_storage_sink k = {.kind = CF_SINK_GROW, .max = max};
	int r;

	r = do_get(s, "get", name, 0, CF_STORAGE_TO_END, &k);
	if (!r && !k.buf) {
		k.buf = malloc(1);
		r = k.buf ? 0 : -ENOMEM;
	}
	if (r) {
		free(k.buf);
		return r;
	}
	*buf = k.buf;
	*len = (size_t)k.done;
	return 0;
}

int cf_storage_get_range(struct cf_storage *s, const char *name, uint64_t off, uint64_t len,
			 uint8_t *buf)
{
	struct cf_storage_sink k = {.kind = CF_SINK_FIXED, .buf = buf};

	if (len > SIZE_MAX || off > UINT64_MAX - len || len == CF_STORAGE_TO_END ||
	    (!buf && len)) {
		cf_log_err("storage %s: get %s: invalid range", cf_storage_url(s),
			   cf_storage_name_valid(name) ? name : "(invalid name)");
		return CF_E_INVAL;
	}
	k.cap = k.max = (size_t)len;
	return do_get(s, "get", name, off, len, &k);
}

int cf_storage_stat(struct cf_storage *s, const char *name, uint64_t *size)
{
	uint64_t sz = 0;
	int r = cf_storage_check_name(s, "stat", name);

	if (r)
		return r;
	r = s->ops->stat(s, name, &sz);
	if (!r && size)
		*size = sz;
	return r;
}

struct list_filter {
	const char *prefix;
	size_t plen;
	cf_storage_list_cb cb;
	void *ctx;
};

static int list_filter_cb(void *ctx, const char *name, uint64_t size)
{
	struct list_filter *f = ctx;

	if (strncmp(name, f->prefix, f->plen) || !cf_storage_name_valid(name))
		return 0;
	return f->cb(f->ctx, name, size);
}

int cf_storage_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb, void *ctx)
{
	struct list_filter f = {.prefix = prefix, .cb = cb, .ctx = ctx};
	char shown[CF_STORAGE_NAME_MAX];

	if (!prefix || !cb || !prefix_valid(prefix)) {
		cf_log_err("storage %s: list: invalid prefix \"%s\"", cf_storage_url(s),
			   prefix ? cf_storage_name_printable(shown, sizeof(shown), prefix)
				  : "(null)");
		return CF_E_INVAL;
	}
	f.plen = strlen(prefix);
	return s->ops->list(s, prefix, list_filter_cb, &f);
}

int cf_storage_delete(struct cf_storage *s, const char *name)
{
	int r = cf_storage_check_name(s, "delete", name);

	return r ? r : s->ops->del(s, name);
}

int cf_storage_local(const struct cf_storage *s)
{
	return !strcmp(s->ops->scheme, "file");
}

int cf_storage_fresh(const struct cf_storage *s)
{
	return s->fresh;
}
