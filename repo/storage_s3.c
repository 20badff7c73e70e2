/* SPDX-License-Identifier: ISC */
/*
 * The S3 backend (s3://bucket/prefix): one key per object, prefix + name. Requests are
 * signed by libcurl (CURLOPT_AWS_SIGV4), which signs every header we add and the query
 * string as given: so every request carries x-amz-content-sha256 (the payload's SHA-256
 * on puts, so the server rejects a damaged upload; the empty string's on the rest) and
 * query parameters are written in canonical order, encoded the SigV4 way.
 *
 * A put: HEAD the key (present: CF_E_EXISTS without uploading), then PUT with
 * "If-None-Match: *" (412: CF_E_EXISTS) where the store supports conditional writes.
 * A PutObject is atomic: a key is absent or complete. docs/storage.md has the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "repo/http.h"
#include "repo/storage_impl.h"
#include "repo/xml.h"
#include "util/log.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LIST_BODY_MAX ((size_t)16 << 20)
#define HASH_CHUNK ((size_t)1 << 20)

struct s3 {
	struct cf_storage base;
	struct cf_http *http;
	char *bucket;
	char *prefix;   /* "" or ending in '/' */
	char *obj_base; /* URL to which an escaped key is appended */
	char *list_url; /* URL to which "?query" is appended */
	char *sigv4;    /* "aws:amz:<region>:s3" */
	int no_conditional; /* the store refused If-None-Match */
	struct cf_storage_settings st;
};

static const struct cf_storage_ops s3_ops;

static int setup_sign(void *ctx, CURL *e, struct curl_slist **headers)
{
	struct s3 *d = ctx;
	struct curl_slist *l;
	char *line = NULL;

	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, d->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, d->st.access_key_id);
	curl_easy_setopt(e, CURLOPT_PASSWORD, d->st.secret_access_key);
	if (d->st.session_token) {
		if (asprintf(&line, "x-amz-security-token: %s", d->st.session_token) < 0)
			return -ENOMEM;
		l = curl_slist_append(*headers, line);
		free(line);
		if (!l)
			return -ENOMEM;
		*headers = l;
	}
	if (d->st.sigv4_date) { /* the known-answer test's fixed time */
		if (asprintf(&line, "x-amz-date: %s", d->st.sigv4_date) < 0)
			return -ENOMEM;
		l = curl_slist_append(*headers, line);
		free(line);
		if (!l)
			return -ENOMEM;
		*headers = l;
	}
	return 0;
}

/* Fill @q for @method on the key @key (the prefix is not added here). */
static int req_key(struct s3 *d, struct cf_http_req *q, const char *method, const char *key,
		   const char *sha256_hex)
{
	char *url = strdup(d->obj_base);

	cf_http_req_clear(q);
	q->method = method;
	q->what = key;
	q->setup = setup_sign;
	q->setup_ctx = d;
	if (!url || cf_http_escape(&url, key, 1))
		return -ENOMEM;
	q->url = url;
	return cf_http_req_header(q, "x-amz-content-sha256: %s", sha256_hex);
}

/* Fill @q for @method on object @name (prefix + name). */
static int req_obj(struct s3 *d, struct cf_http_req *q, const char *method, const char *name,
		   const char *sha256_hex)
{
	char key[1024 + CF_STORAGE_NAME_MAX];

	if ((size_t)snprintf(key, sizeof(key), "%s%s", d->prefix, name) >= sizeof(key))
		return CF_E_INVAL;
	return req_key(d, q, method, key, sha256_hex); /* callers then set q->what = name */
}

/* Log a failure once, naming the S3 error code when the answer had one. */
static int fail_log(struct s3 *d, const char *op, const char *name, const struct cf_http_req *q,
		    int r)
{
	char why[CURL_ERROR_SIZE + 64], code[64] = "";

	if (!r)
		r = q->result ? q->result : cf_http_status_error(q->status);
	if (!q->result && q->body)
		cf_xml_error_code((const char *)q->body, q->body_len, code, sizeof(code));
	cf_log_err("storage %s: %s %s: %s%s%s", d->base.url, op, name,
		   cf_http_describe(q, why, sizeof(why)), code[0] ? " " : "", code);
	return r;
}

/* ---- put ---- */

enum put_step { P_HEAD, P_PUT };

struct s3_put {
	struct cf_storage_op *op;
	struct s3 *d;
	struct cf_http_req q;
	enum put_step step;
	char sha[2 * CF_SHA256_BYTES + 1];
	int conditional;
};

static void put_next(struct cf_http_req *q);

static void put_finish(struct s3_put *p, int r)
{
	struct cf_storage_op *op = p->op;

	cf_http_req_clear(&p->q);
	free(p);
	cf_storage_op_done(op, r);
}

static void put_go(struct s3_put *p, enum put_step step)
{
	struct s3 *d = p->d;
	int r;

	p->step = step;
	if (step == P_HEAD) {
		r = req_obj(d, &p->q, "HEAD", p->op->name, EMPTY_SHA256);
	} else {
		r = req_obj(d, &p->q, "PUT", p->op->name, p->sha);
		p->conditional = !__atomic_load_n(&d->no_conditional, __ATOMIC_RELAXED);
		if (!r && p->conditional)
			r = cf_http_req_header(&p->q, "If-None-Match: *");
		if (!r)
			r = cf_http_req_header(&p->q, "Content-Type: application/octet-stream");
		p->q.src = &p->op->src;
	}
	if (r) {
		put_finish(p, r);
		return;
	}
	p->q.what = p->op->name;
	p->q.done = put_next;
	p->q.ctx = p;
	cf_http_submit(d->http, &p->q);
}

static void put_next(struct cf_http_req *q)
{
	struct s3_put *p = q->ctx;
	long st = q->status;

	if (q->result) {
		put_finish(p, fail_log(p->d, "put", p->op->name, q, 0));
		return;
	}
	if (p->step == P_HEAD) {
		if (st == 200)
			put_finish(p, CF_E_EXISTS);
		else if (st == 404)
			put_go(p, P_PUT);
		else
			put_finish(p, fail_log(p->d, "put (checking for an existing object)",
					       p->op->name, q, 0));
		return;
	}
	if (st >= 200 && st < 300) {
		put_finish(p, 0);
	} else if (st == 412 && q->attempts > 1) {
		/* our own earlier attempt landed and its answer was lost: the name is the
		 * hash of the content, so the stored object holds these very bytes */
		put_finish(p, 0);
	} else if (st == 412) {
		put_finish(p, CF_E_EXISTS);
	} else if (st == 501 && p->conditional) {
		__atomic_store_n(&p->d->no_conditional, 1, __ATOMIC_RELAXED);
		cf_log_info("storage %s: the store does not support conditional writes "
			    "(If-None-Match); relying on the check before each upload",
			    p->d->base.url);
		put_go(p, P_PUT);
	} else {
		put_finish(p, fail_log(p->d, "put", p->op->name, q, 0));
	}
}

/* The SHA-256 of the source, in hex, read with cf_storage_src_read(). */
static int source_sha256(const struct cf_storage_src *src, char hex[2 * CF_SHA256_BYTES + 1])
{
	uint8_t digest[CF_SHA256_BYTES], *buf = NULL;
	struct cf_sha256 *h = NULL;
	int r;

	r = cf_hash_sha256_new(&h);
	if (r)
		return r;
	if (src->fd < 0) {
		cf_hash_sha256_update(h, src->buf, (size_t)src->len);
	} else {
		buf = malloc(HASH_CHUNK);
		r = buf ? 0 : -ENOMEM;
		for (uint64_t off = 0; !r && off < src->len;) {
			size_t n = src->len - off < HASH_CHUNK ? (size_t)(src->len - off) : HASH_CHUNK;
			r = cf_storage_src_read(src, off, buf, n);
			if (!r)
				cf_hash_sha256_update(h, buf, n);
			off += n;
		}
	}
	cf_hash_sha256_final(h, digest);
	cf_hash_sha256_free(h);
	free(buf);
	for (int i = 0; i < CF_SHA256_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return r;
}

static void start_put(struct s3 *d, struct cf_storage_op *op)
{
	struct s3_put *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		cf_storage_op_done(op, -ENOMEM);
		return;
	}
	p->op = op;
	p->d = d;
	cf_http_req_init(&p->q);
	r = source_sha256(&op->src, p->sha);
	if (r) {
		cf_log_err("storage %s: put %s: reading the source: %s", d->base.url, op->name,
			   r == CF_E_TRUNCATED ? "shorter than the length given" : cf_strerror(r));
		free(p);
		cf_storage_op_done(op, r);
		return;
	}
	put_go(p, P_HEAD);
}

/* ---- get ---- */

struct s3_get {
	struct cf_storage_op *op;
	struct s3 *d;
	struct cf_http_req q;
	const char *name;
	int done_sync, result;
};

static int get_result(struct s3 *d, const char *name, struct cf_http_req *q)
{
	if (!q->result && (q->status == 200 || q->status == 206 || q->status == 416))
		return 0;
	if (!q->result && q->status == 404)
		return CF_E_NOTFOUND;
	return fail_log(d, "get", name, q, 0);
}

static void get_done(struct cf_http_req *q)
{
	struct s3_get *g = q->ctx;
	struct cf_storage_op *op = g->op;
	int r = get_result(g->d, op->name, q);

	cf_http_req_clear(&g->q);
	free(g);
	cf_storage_op_done(op, r);
}

static void start_get(struct s3 *d, struct cf_storage_op *op)
{
	struct s3_get *g = calloc(1, sizeof(*g));
	int r;

	if (!g) {
		cf_storage_op_done(op, -ENOMEM);
		return;
	}
	g->op = op;
	g->d = d;
	cf_http_req_init(&g->q);
	r = req_obj(d, &g->q, "GET", op->name, EMPTY_SHA256);
	if (r) {
		free(g);
		cf_storage_op_done(op, r);
		return;
	}
	g->q.what = op->name;
	g->q.sink = &op->sink;
	g->q.off = op->off;
	g->q.len = op->len;
	g->q.done = get_done;
	g->q.ctx = g;
	cf_http_submit(d->http, &g->q);
}

int cf_storage_s3_get_raw(struct cf_storage *s, const char *key, uint64_t off, uint64_t len,
			  struct cf_storage_sink *k)
{
	struct s3 *d = (struct s3 *)s;
	struct cf_http_req q;
	int r;

	if (s->ops != &s3_ops)
		return CF_E_INVAL;
	cf_http_req_init(&q);
	r = req_key(d, &q, "GET", key, EMPTY_SHA256);
	if (!r) {
		q.sink = k;
		q.off = off;
		q.len = len;
		r = cf_http_run(d->http, &q);
	}
	if (!r)
		r = get_result(d, key, &q);
	cf_http_req_clear(&q);
	return r;
}

static void s3_start(struct cf_storage *s, struct cf_storage_op *op)
{
	if (op->kind == CF_OP_PUT)
		start_put((struct s3 *)s, op);
	else
		start_get((struct s3 *)s, op);
}

static unsigned s3_parallel(const struct cf_storage *s)
{
	return cf_http_parallel(((const struct s3 *)s)->http);
}

/* ---- stat, delete ---- */

/* HEAD @name: 0 with *@size, CF_E_NOTFOUND (not logged), or a logged error. */
static int head(struct s3 *d, const char *op, const char *name, uint64_t *size)
{
	struct cf_http_req q;
	int r;

	cf_http_req_init(&q);
	r = req_obj(d, &q, "HEAD", name, EMPTY_SHA256);
	q.what = name;
	if (!r)
		r = cf_http_run(d->http, &q);
	if (!r && q.status == 200 && q.length >= 0)
		*size = (uint64_t)q.length;
	else if (!r && q.status == 404)
		r = CF_E_NOTFOUND;
	else if (r != -ENOMEM)
		r = fail_log(d, op, name, &q, r);
	cf_http_req_clear(&q);
	return r;
}

static int s3_stat(struct cf_storage *s, const char *name, uint64_t *size)
{
	return head((struct s3 *)s, "stat", name, size);
}

static int s3_del(struct cf_storage *s, const char *name)
{
	struct s3 *d = (struct s3 *)s;
	struct cf_http_req q;
	uint64_t size;
	int r;

	/* S3 answers 204 whether or not the key existed: ask first */
	r = head(d, "delete", name, &size);
	if (r)
		return r;
	cf_http_req_init(&q);
	r = req_obj(d, &q, "DELETE", name, EMPTY_SHA256);
	q.what = name;
	if (!r)
		r = cf_http_run(d->http, &q);
	if (!r && q.status == 404)
		r = CF_E_NOTFOUND;
	else if (!r && (q.status < 200 || q.status >= 300))
		r = fail_log(d, "delete", name, &q, 0);
	else if (r && r != -ENOMEM)
		r = fail_log(d, "delete", name, &q, r);
	cf_http_req_clear(&q);
	return r;
}

/* ---- list ---- */

struct page {
	struct s3 *d;
	cf_storage_list_cb cb;
	void *ctx;
	unsigned keys;
};

static int on_key(void *ctx, const char *key, uint64_t size)
{
	struct page *pg = ctx;
	size_t pl = strlen(pg->d->prefix);

	pg->keys++;
	if (strncmp(key, pg->d->prefix, pl) || !pg->cb)
		return 0; /* not ours (the front filters names further) */
	return pg->cb(pg->ctx, key + pl, size);
}

/*
 * One ListObjectsV2 request for keys under @prefix, continuing after @token (may be
 * NULL), at most @max keys (0: the server's default). Parameters in canonical order.
 */
static int list_page(struct s3 *d, const char *prefix, const char *token, unsigned max,
		     struct page *pg, int *truncated, char **next, long *status)
{
	struct cf_http_req q;
	char *url = NULL, *etok = NULL, *epre = NULL, num[32];
	int r = -ENOMEM;

	cf_http_req_init(&q);
	if (token && cf_http_escape(&etok, token, 0))
		goto out;
	if (cf_http_escape(&epre, prefix, 0))
		goto out;
	if (max)
		snprintf(num, sizeof(num), "&max-keys=%u", max);
	else
		num[0] = 0;
	/* canonical order: continuation-token < list-type < max-keys < prefix */
	if (asprintf(&url, "%s?%s%s%slist-type=2%s&prefix=%s", d->list_url,
		     token ? "continuation-token=" : "", token ? etok : "", token ? "&" : "", num,
		     epre) < 0) {
		url = NULL;
		goto out;
	}
	q.url = url;
	url = NULL;
	q.method = "GET";
	q.what = prefix;
	q.setup = setup_sign;
	q.setup_ctx = d;
	q.body_max = LIST_BODY_MAX;
	r = cf_http_req_header(&q, "x-amz-content-sha256: %s", EMPTY_SHA256);
	if (!r)
		r = cf_http_run(d->http, &q);
	*status = q.status;
	if (!r && q.status == 404)
		r = CF_E_NOTFOUND;
	else if (r || q.status != 200)
		r = fail_log(d, "list", prefix, &q, r == -ENOMEM ? r : 0);
	else
		r = cf_xml_list_objects((const char *)q.body, q.body_len, on_key, pg, truncated, next);
	if (r == CF_E_FORMAT)
		cf_log_err("storage %s: list %s: the server's answer is not a valid "
			   "ListObjectsV2 result", d->base.url, prefix);
out:
	free(url);
	free(etok);
	free(epre);
	cf_http_req_clear(&q);
	return r;
}

static int s3_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb, void *ctx)
{
	struct s3 *d = (struct s3 *)s;
	struct page pg = {.d = d, .cb = cb, .ctx = ctx};
	char *full = NULL, *token = NULL, *next;
	int truncated = 1, r = 0;
	long status;

	if (asprintf(&full, "%s%s", d->prefix, prefix) < 0)
		return -ENOMEM;
	while (truncated && !r) {
		next = NULL;
		r = list_page(d, full, token, 0, &pg, &truncated, &next, &status);
		if (r == CF_E_NOTFOUND)
			r = fail_log(d, "list", full, &(struct cf_http_req){.status = 404}, 0);
		if (!r && truncated && token && !strcmp(token, next)) {
			cf_log_err("storage %s: list %s: the server repeats its continuation token",
				   d->base.url, full);
			r = CF_E_NETWORK;
		}
		free(token);
		token = next;
	}
	free(token);
	free(full);
	return r;
}

/* ---- open and close ---- */

static int open_bucket(struct s3 *d, int create)
{
	struct page pg = {.d = d};
	int truncated = 0, r;
	char *next = NULL;
	long status = 0;

	/* one page is enough to tell an empty prefix (no max-keys: s3rver fails on it) */
	r = list_page(d, d->prefix, NULL, 0, &pg, &truncated, &next, &status);
	free(next);
	if (r == CF_E_NOTFOUND) {
		cf_log_err("storage %s: the bucket \"%s\" does not exist (Coffer never creates "
			   "buckets: create it with the store's tools)", d->base.url, d->bucket);
		return CF_E_NOTFOUND;
	}
	if (r)
		return r;
	d->base.fresh = create && pg.keys == 0;
	return 0;
}

/* Where requests go: obj_base and list_url for path or virtual-host style. */
static int make_urls(struct s3 *d)
{
	const char *ep = d->st.endpoint, *host;
	char *aws = NULL;
	int vhost, r = 0;
	size_t n;

	if (!ep) {
		if (asprintf(&aws, "https://s3.%s.amazonaws.com", d->st.region) < 0)
			return -ENOMEM;
		ep = aws;
	}
	host = strstr(ep, "://");
	if (!host || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) ||
	    strpbrk(host + 3, "@?#")) {
		cf_log_err("storage %s: endpoint \"%s\" is not http(s)://host[:port]", d->base.url, ep);
		free(aws);
		return CF_E_CONFIG;
	}
	host += 3;
	n = strcspn(host, "/");
	vhost = d->st.url_style == CF_STYLE_VHOST ||
		(d->st.url_style == CF_STYLE_AUTO && aws && !strpbrk(d->bucket, "._ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
	if (vhost) {
		if (asprintf(&d->obj_base, "%.*s%s.%.*s/", (int)(host - ep), ep, d->bucket, (int)n,
			     host) < 0)
			d->obj_base = NULL;
		d->list_url = d->obj_base ? strdup(d->obj_base) : NULL;
	} else {
		if (asprintf(&d->obj_base, "%.*s/%s/", (int)(host + n - ep), ep, d->bucket) < 0)
			d->obj_base = NULL;
		if (asprintf(&d->list_url, "%.*s/%s", (int)(host + n - ep), ep, d->bucket) < 0)
			d->list_url = NULL;
	}
	if (!d->obj_base || !d->list_url)
		r = -ENOMEM;
	if (!r && !strncmp(ep, "http://", 7) && !cf_http_host_is_loopback(d->obj_base) &&
	    !d->st.allow_insecure_http) {
		cf_log_err("storage %s: refusing cleartext HTTP to %s, a host that is not this "
			   "machine (use https://, or set allow_insecure_http = yes)", d->base.url, ep);
		r = CF_E_CONFIG;
	}
	free(aws);
	return r;
}

int cf_storage_s3_open(struct cf_storage **out, const char *bucket, const char *prefix,
		       int create, struct cf_storage_settings *st)
{
	struct cf_http_conf c = {0};
	struct s3 *d = calloc(1, sizeof(*d));
	int r = -ENOMEM;

	if (!d) {
		cf_storage_settings_free(st);
		return -ENOMEM;
	}
	d->base.ops = &s3_ops;
	d->st = *st;
	memset(st, 0, sizeof(*st));
	d->bucket = strdup(bucket);
	d->prefix = strdup(prefix);
	if (!d->bucket || !d->prefix ||
	    asprintf(&d->base.url, "s3://%s%s%.*s", bucket, prefix[0] ? "/" : "",
		     prefix[0] ? (int)strlen(prefix) - 1 : 0, prefix) < 0 ||
	    asprintf(&d->sigv4, "aws:amz:%s:s3", d->st.region) < 0) {
		d->sigv4 = NULL;
		goto fail;
	}
	if (!d->st.access_key_id || !d->st.secret_access_key) {
		cf_log_err("storage %s: no S3 credentials: set access_key_id and "
			   "secret_access_key in [storage], or AWS_ACCESS_KEY_ID and "
			   "AWS_SECRET_ACCESS_KEY", d->base.url);
		r = CF_E_CONFIG;
		goto fail;
	}
	r = make_urls(d);
	if (r)
		goto fail;
	c.parallel = d->st.parallel;
	c.upload_limit = d->st.upload_limit;
	c.ca_file = d->st.ca_file;
	c.ca_path = d->st.ca_path;
	c.connect_to = d->st.connect_to;
	c.retries = d->st.retries;
	c.retry_base_ms = d->st.retry_base_ms;
	c.stall_seconds = d->st.timeout;
	c.connect_seconds = d->st.connect_timeout;
	c.log_url = d->base.url;
	r = cf_http_new(&d->http, &c);
	if (!r)
		r = open_bucket(d, create);
	if (r)
		goto fail;
	*out = &d->base;
	return 0;
fail:
	s3_ops.close(&d->base);
	return r;
}

static void s3_close(struct cf_storage *s)
{
	struct s3 *d = (struct s3 *)s;

	cf_http_free(d->http);
	cf_storage_settings_free(&d->st);
	free(d->bucket);
	free(d->prefix);
	free(d->obj_base);
	free(d->list_url);
	free(d->sigv4);
	free(d->base.url);
	free(d);
}

static const struct cf_storage_ops s3_ops = {
	.scheme = "s3",
	.start = s3_start,
	.parallel = s3_parallel,
	.stat = s3_stat,
	.list = s3_list,
	.del = s3_del,
	.close = s3_close,
};
