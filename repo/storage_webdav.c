/* SPDX-License-Identifier: ISC */
/*
 * The WebDAV backend (webdav+http(s)://host/path): one resource per object under the
 * collection at the URL, transfers through the HTTP engine (repo/http.c).
 *
 * A put: HEAD the name (present: CF_E_EXISTS without uploading), PUT the body to
 * tmp/upload-<random>, HEAD it and compare the stored length with what was sent, then
 * MOVE it to its name with "Overwrite: F" (412: CF_E_EXISTS), creating missing folders
 * with MKCOL on 409. So a partial body is never visible under an object's name, and an
 * existing object is never replaced. docs/storage.md has the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/error.h"
#include "repo/http.h"
#include "repo/storage_impl.h"
#include "repo/storage_webdav.h"
#include "util/log.h"

static const struct cf_storage_ops dav_ops;

static int setup_auth(void *ctx, CURL *e, struct curl_slist **headers)
{
	struct dav *d = ctx;

	(void)headers;
	if (d->st.username || d->st.password) {
		curl_easy_setopt(e, CURLOPT_USERNAME, d->st.username ? d->st.username : "");
		curl_easy_setopt(e, CURLOPT_PASSWORD, d->st.password ? d->st.password : "");
		/* Basic, sent with the first request: probing for Digest would double every
		 * request, since each attempt uses a fresh easy handle */
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	return 0;
}

int cf_storage_webdav_req(struct dav *d, struct cf_http_req *q, const char *method, const char *rel)
{
	cf_http_req_clear(q);
	q->method = method;
	q->what = rel[0] ? rel : "/";
	q->setup = setup_auth;
	q->setup_ctx = d;
	if (asprintf(&q->url, "%s%s", d->root, rel) < 0) {
		q->url = NULL;
		return -ENOMEM;
	}
	return 0;
}

int cf_storage_webdav_fail(struct dav *d, const char *op, const char *name, const char *step,
		    const struct cf_http_req *q, int r)
{
	char why[CURL_ERROR_SIZE + 64];

	if (!r)
		r = q->result ? q->result : cf_http_status_error(q->status);
	if (r == CF_E_NOTFOUND && !strcmp(step, ""))
		return r;
	cf_log_err("storage %s: %s %s%s%s: %s", d->base.url, op, name, step[0] ? ": " : "", step,
		   cf_http_describe(q, why, sizeof(why)));
	return r;
}

/* ---- put ---- */

enum put_step { P_HEAD, P_PUT, P_MKCOL_TMP, P_CHECK_TMP, P_MOVE, P_MKCOL_DIR, P_CHECK_FINAL,
		P_CLEANUP };

struct dav_put {
	struct cf_storage_op *op;
	struct dav *d;
	struct cf_http_req q;
	enum put_step step;
	char tmp[48];
	char dir[CF_STORAGE_NAME_MAX];
	int mkcol_tmp, mkcol_dirs, puts, moves, result;
};

static void put_next(struct cf_http_req *q);

static void put_finish(struct dav_put *p, int r)
{
	struct cf_storage_op *op = p->op;

	cf_http_req_clear(&p->q);
	free(p);
	cf_storage_op_done(op, r);
}

/* Submit step @step of @p. */
static void put_go(struct dav_put *p, enum put_step step)
{
	struct dav *d = p->d;
	const char *name = p->op->name;
	int r = 0;

	p->step = step;
	switch (step) {
	case P_HEAD:
	case P_CHECK_FINAL:
		r = cf_storage_webdav_req(d, &p->q, "HEAD", name);
		break;
	case P_PUT:
		p->puts++;
		r = cf_storage_webdav_req(d, &p->q, "PUT", p->tmp);
		p->q.src = &p->op->src;
		break;
	case P_MKCOL_TMP:
		p->mkcol_tmp = 1;
		r = cf_storage_webdav_req(d, &p->q, "MKCOL", "tmp/");
		break;
	case P_CHECK_TMP:
		r = cf_storage_webdav_req(d, &p->q, "HEAD", p->tmp);
		break;
	case P_MOVE:
		p->moves++;
		r = cf_storage_webdav_req(d, &p->q, "MOVE", p->tmp);
		if (!r)
			r = cf_http_req_header(&p->q, "Destination: %s%s", d->root, name);
		if (!r)
			r = cf_http_req_header(&p->q, "Overwrite: F");
		break;
	case P_MKCOL_DIR:
		r = cf_storage_webdav_req(d, &p->q, "MKCOL", p->dir);
		break;
	case P_CLEANUP:
		r = cf_storage_webdav_req(d, &p->q, "DELETE", p->tmp);
		break;
	}
	if (r) {
		put_finish(p, r);
		return;
	}
	p->q.done = put_next;
	p->q.ctx = p;
	cf_http_submit(d->http, &p->q);
}

/* The next folder to create for the object (data/, data/xx/, snapshots/...), or 0. */
static int next_dir(struct dav_put *p)
{
	const char *name = p->op->name, *slash;
	size_t have = strlen(p->dir);

	slash = strchr(name + have, '/');
	if (!slash)
		return 0;
	memcpy(p->dir, name, (size_t)(slash - name) + 1);
	p->dir[slash - name + 1] = 0;
	return 1;
}

/* Fail the put at this step: log, delete the temporary copy if any, finish. */
static void put_fail(struct dav_put *p, const char *step, int r)
{
	p->result = cf_storage_webdav_fail(p->d, "put", p->op->name, step, &p->q, r);
	if (p->step >= P_CHECK_TMP && p->step != P_CHECK_FINAL)
		put_go(p, P_CLEANUP);
	else
		put_finish(p, p->result);
}

static void put_next(struct cf_http_req *q)
{
	struct dav_put *p = q->ctx;
	long st = q->status;
	int ok = !q->result && st >= 200 && st < 300;

	if (q->result && p->step != P_CLEANUP) {
		put_fail(p, p->step == P_PUT ? "uploading" : "", 0);
		return;
	}
	switch (p->step) {
	case P_HEAD:
		if (ok)
			put_finish(p, CF_E_EXISTS);
		else if (st == 404)
			put_go(p, P_PUT);
		else
			put_fail(p, "checking for an existing object", 0);
		return;
	case P_PUT:
		if (ok)
			put_go(p, P_CHECK_TMP);
		else if ((st == 409 || st == 404) && !p->mkcol_tmp)
			put_go(p, P_MKCOL_TMP);
		else
			put_fail(p, "uploading", 0);
		return;
	case P_MKCOL_TMP:
		if (ok || st == 405)
			put_go(p, P_PUT);
		else
			put_fail(p, "creating tmp/", 0);
		return;
	case P_CHECK_TMP:
		if (ok && q->length >= 0 && (uint64_t)q->length == p->op->src.len)
			put_go(p, P_MOVE);
		else if (ok && p->puts < 3)
			put_go(p, P_PUT); /* the server stored a different length: send it again */
		else if (ok)
			put_fail(p, "the server keeps storing a different length than was sent",
				 CF_E_NETWORK);
		else
			put_fail(p, "checking the uploaded length", 0);
		return;
	case P_MOVE:
		if (ok) {
			put_finish(p, 0);
		} else if (st == 412) {
			p->result = CF_E_EXISTS;
			put_go(p, P_CLEANUP);
		} else if (st == 409 && !p->mkcol_dirs && next_dir(p)) {
			p->mkcol_dirs = 1;
			put_go(p, P_MKCOL_DIR);
		} else if (st == 404 && (q->attempts > 1 || p->moves > 1)) {
			put_go(p, P_CHECK_FINAL); /* an earlier try moved it, its answer was lost */
		} else {
			put_fail(p, "moving into place", 0);
		}
		return;
	case P_MKCOL_DIR:
		if (!ok && st != 405)
			put_fail(p, "creating a folder", 0);
		else if (next_dir(p))
			put_go(p, P_MKCOL_DIR);
		else
			put_go(p, P_MOVE);
		return;
	case P_CHECK_FINAL:
		if (ok && q->length >= 0 && (uint64_t)q->length == p->op->src.len)
			put_finish(p, 0);
		else
			put_fail(p, "the object is not where it was moved", CF_E_NETWORK);
		return;
	case P_CLEANUP:
		put_finish(p, p->result);
		return;
	}
}

static void start_put(struct dav *d, struct cf_storage_op *op)
{
	struct dav_put *p = calloc(1, sizeof(*p));
	uint64_t v;

	if (!p) {
		cf_storage_op_done(op, -ENOMEM);
		return;
	}
	p->op = op;
	p->d = d;
	cf_http_req_init(&p->q);
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		free(p);
		cf_storage_op_done(op, -EIO);
		return;
	}
	/* no leading dot: some servers (nginx dav-ext) hide dot files from PROPFIND */
	snprintf(p->tmp, sizeof(p->tmp), "tmp/upload-%016llx", (unsigned long long)v);
	put_go(p, P_HEAD);
}

/* ---- get ---- */

struct dav_get {
	struct cf_storage_op *op;
	struct dav *d;
	struct cf_http_req q;
};

static void get_done(struct cf_http_req *q)
{
	struct dav_get *g = q->ctx;
	struct cf_storage_op *op = g->op;
	int r = 0;

	if (q->result || !(q->status == 200 || q->status == 206 || q->status == 416))
		r = cf_storage_webdav_fail(g->d, "get", op->name, "", q, 0);
	cf_http_req_clear(&g->q);
	free(g);
	cf_storage_op_done(op, r);
}

static void start_get(struct dav *d, struct cf_storage_op *op)
{
	struct dav_get *g = calloc(1, sizeof(*g));
	int r;

	if (!g) {
		cf_storage_op_done(op, -ENOMEM);
		return;
	}
	g->op = op;
	g->d = d;
	cf_http_req_init(&g->q);
	r = cf_storage_webdav_req(d, &g->q, "GET", op->name);
	if (r) {
		free(g);
		cf_storage_op_done(op, r);
		return;
	}
	g->q.sink = &op->sink;
	g->q.off = op->off;
	g->q.len = op->len;
	g->q.done = get_done;
	g->q.ctx = g;
	cf_http_submit(d->http, &g->q);
}

static void dav_start(struct cf_storage *s, struct cf_storage_op *op)
{
	if (op->kind == CF_OP_PUT)
		start_put((struct dav *)s, op);
	else
		start_get((struct dav *)s, op);
}

static unsigned dav_parallel(const struct cf_storage *s)
{
	return cf_http_parallel(((const struct dav *)s)->http);
}

/* ---- stat, delete ---- */

static int dav_stat(struct cf_storage *s, const char *name, uint64_t *size)
{
	struct dav *d = (struct dav *)s;
	struct cf_http_req q;
	int r;

	cf_http_req_init(&q);
	r = cf_storage_webdav_req(d, &q, "HEAD", name);
	if (!r)
		r = cf_http_run(d->http, &q);
	if (!r && q.status == 200 && q.length >= 0)
		*size = (uint64_t)q.length;
	else if (!r && q.status == 404)
		r = CF_E_NOTFOUND;
	else if (r != -ENOMEM)
		r = cf_storage_webdav_fail(d, "stat", name, "", &q, r);
	cf_http_req_clear(&q);
	return r;
}

static int dav_del(struct cf_storage *s, const char *name)
{
	struct dav *d = (struct dav *)s;
	struct cf_http_req q;
	int r;

	cf_http_req_init(&q);
	r = cf_storage_webdav_req(d, &q, "DELETE", name);
	if (!r)
		r = cf_http_run(d->http, &q);
	if (!r && q.status == 404)
		r = CF_E_NOTFOUND;
	else if (!r && (q.status < 200 || q.status >= 300))
		r = cf_storage_webdav_fail(d, "delete", name, "", &q, 0);
	else if (r && r != -ENOMEM)
		r = cf_storage_webdav_fail(d, "delete", name, "", &q, r);
	cf_http_req_clear(&q);
	return r;
}


/* ---- open ---- */

/* MKCOL @url (absolute): 0 when made or already there. */
static int mkcol(struct dav *d, const char *url, const char *what)
{
	struct cf_http_req q;
	int r;

	cf_http_req_init(&q);
	q.method = "MKCOL";
	q.what = what;
	q.setup = setup_auth;
	q.setup_ctx = d;
	q.url = strdup(url);
	r = q.url ? cf_http_run(d->http, &q) : -ENOMEM;
	if (!r && q.status != 201 && q.status != 200 && q.status != 405)
		r = cf_storage_webdav_fail(d, "create folder", what, "", &q, 0);
	else if (r && r != -ENOMEM)
		r = cf_storage_webdav_fail(d, "create folder", what, "", &q, r);
	cf_http_req_clear(&q);
	return r;
}

/* Create the root collection and its missing parents, from the top. */
static int make_root(struct dav *d)
{
	char *url = strdup(d->root), *p;
	int r = 0;

	if (!url)
		return -ENOMEM;
	p = strstr(url, "://") + 3;
	p += strcspn(p, "/");
	while (!r && (p = strchr(p + 1, '/'))) {
		char keep = p[1];

		p[1] = 0;
		r = mkcol(d, url, strstr(url, "://") + 3);
		p[1] = keep;
	}
	free(url);
	return r;
}

/* The percent-decoded path of @root into a new string; NULL on a bad escape. */
static char *decoded_path(const char *root)
{
	const char *p = strstr(root, "://") + 3;
	char *out, *o;

	p += strcspn(p, "/");
	out = o = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		if (!p[1] || !p[2] || !strchr("0123456789abcdefABCDEF", p[1]) ||
		    !strchr("0123456789abcdefABCDEF", p[2])) {
			free(out);
			return NULL;
		}
		*o++ = (char)strtol((char[]){p[1], p[2], 0}, NULL, 16);
		p += 2;
	}
	*o = 0;
	return out;
}

static int open_root(struct dav *d, int create)
{
	int exists, empty, folder, r;

	r = cf_storage_webdav_list_probe(d, &exists, &empty, &folder);
	if (r)
		return r;
	if (!exists && !create)
		return CF_E_NOTFOUND;
	if (!folder) {
		cf_log_err("storage %s: not a folder (WebDAV collection)", d->base.url);
		return CF_E_CONFIG;
	}
	if (!exists) {
		r = make_root(d);
		d->base.fresh = 1;
	} else {
		d->base.fresh = create && empty;
	}
	if (!r && exists && !d->base.fresh)
		cf_storage_webdav_list_sweep(d);
	if (!r && d->base.fresh) {
		char *tmp = NULL;

		if (asprintf(&tmp, "%stmp/", d->root) < 0)
			return -ENOMEM;
		r = mkcol(d, tmp, "tmp/");
		free(tmp);
	}
	return r;
}

int cf_storage_webdav_open(struct cf_storage **out, const char *base, int create,
			   struct cf_storage_settings *st)
{
	struct cf_http_conf c = {0};
	struct dav *d = calloc(1, sizeof(*d));
	int r = -ENOMEM;

	if (!d) {
		cf_storage_settings_free(st);
		return -ENOMEM;
	}
	d->base.ops = &dav_ops;
	d->st = *st;
	memset(st, 0, sizeof(*st));
	d->root = strdup(base);
	if (!d->root || asprintf(&d->base.url, "webdav+%s", base) < 0) {
		d->base.url = NULL;
		goto fail;
	}
	d->root_path = decoded_path(base);
	if (!d->root_path) {
		cf_log_err("storage %s: malformed percent escape in the path", d->base.url);
		r = CF_E_CONFIG;
		goto fail;
	}
	if (!strncmp(base, "http://", 7) && !cf_http_host_is_loopback(base) &&
	    !d->st.allow_insecure_http) {
		cf_log_err("storage %s: refusing cleartext HTTP to a host that is not this machine "
			   "(use https://, or set allow_insecure_http = yes)", d->base.url);
		r = CF_E_CONFIG;
		goto fail;
	}
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
	if (r)
		goto fail;
	r = open_root(d, create);
	if (r)
		goto fail;
	*out = &d->base;
	return 0;
fail:
	dav_ops.close(&d->base);
	return r;
}

static void dav_close(struct cf_storage *s)
{
	struct dav *d = (struct dav *)s;

	cf_http_free(d->http);
	cf_storage_settings_free(&d->st);
	free(d->root);
	free(d->root_path);
	free(d->base.url);
	free(d);
}

static const struct cf_storage_ops dav_ops = {
	.scheme = "webdav",
	.start = dav_start,
	.parallel = dav_parallel,
	.stat = dav_stat,
	.list = cf_storage_webdav_list,
	.del = dav_del,
	.close = dav_close,
};
