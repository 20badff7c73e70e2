/* SPDX-License-Identifier: ISC */
/*
 * WebDAV listings: PROPFIND with "Depth: 1" on one folder at a time (many servers refuse
 * Depth: infinity), descending into data/xx/. Each answer is read whole (bounded), then
 * parsed, so a retried request never reports a name twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <time.h>

#include "core/error.h"
#include "repo/storage_webdav.h"
#include "repo/xml.h"
#include "util/log.h"

#define LIST_BODY_MAX ((size_t)64 << 20)

static const char propfind_body[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/><D:getcontentlength/>"
	"<D:getlastmodified/></D:prop></D:propfind>\n";

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * The name of @href relative to the root, into @out without a trailing slash; "" for the
 * root itself. Returns 0, or 1 when the href lies outside the root or is malformed.
 */
static int href_rel(const struct dav *d, const char *href, char *out, size_t size)
{
	const char *p = strstr(href, "://");
	size_t rl = strlen(d->root_path), n = 0;
	char *dec;
	int r = 1;

	if (p) {
		p += 3;
		p += strcspn(p, "/");
	} else {
		p = href;
	}
	dec = malloc(strlen(p) + 1);
	if (!dec)
		return 1;
	for (; *p; p++) {
		if (*p == '%') {
			if (hexv(p[1]) < 0 || hexv(p[2]) < 0 || (p[1] == '0' && p[2] == '0'))
				goto out;
			dec[n++] = (char)(hexv(p[1]) << 4 | hexv(p[2]));
			p += 2;
		} else {
			dec[n++] = *p;
		}
	}
	dec[n] = 0;
	if (n + 1 == rl && !strncmp(dec, d->root_path, n)) { /* the root without its slash */
		out[0] = 0;
		r = 0;
		goto out;
	}
	if (n < rl || strncmp(dec, d->root_path, rl) || n - rl >= size)
		goto out;
	memcpy(out, dec + rl, n - rl + 1);
	n -= rl;
	while (n && out[n - 1] == '/')
		out[--n] = 0;
	r = 0;
out:
	free(dec);
	return r;
}

struct walk {
	struct dav *d;
	const char *folder; /* the folder listed, with its slash ("" for the root) */
	const char *start;  /* the start names in it must have */
	int want_dirs;      /* collect two-hex subfolders (data/) instead of objects */
	char (*dirs)[3];
	size_t ndirs;
	cf_storage_list_cb cb;
	void *ctx;
	int members;        /* entries other than the folder itself */
	int self_collection;
	time_t stale_before; /* tmp/ sweep: collect upload-* older than this */
	char (*stale)[64];
	size_t nstale;
};

#define STALE_SECONDS (24 * 60 * 60)

static int on_entry(void *ctx, const struct cf_xml_dav_entry *e)
{
	struct walk *w = ctx;
	char rel[CF_STORAGE_NAME_MAX + 64];
	const char *leaf;
	size_t fl = strlen(w->folder);

	if (href_rel(w->d, e->href, rel, sizeof(rel)))
		return 0; /* outside the repository: ignore */
	if (strlen(rel) + 1 == fl && !strncmp(rel, w->folder, fl - 1)) {
		w->self_collection = e->collection;
		return 0; /* the folder itself */
	}
	if (!fl && !rel[0]) {
		w->self_collection = e->collection;
		return 0;
	}
	if (strncmp(rel, w->folder, fl) || strchr(rel + fl, '/'))
		return 0; /* not a direct member */
	w->members++;
	leaf = rel + fl;
	if (strncmp(leaf, w->start, strlen(w->start)))
		return 0;
	if (w->stale_before) {
		time_t t = e->modified ? curl_getdate(e->modified, NULL) : -1;
		void *ns;

		if (e->collection || strncmp(leaf, "upload-", 7) || strlen(leaf) >= 64 || t < 0 ||
		    t >= w->stale_before)
			return 0;
		ns = realloc(w->stale, (w->nstale + 1) * sizeof(*w->stale));
		if (!ns)
			return -ENOMEM;
		w->stale = ns;
		snprintf(w->stale[w->nstale++], 64, "%s", leaf);
		return 0;
	}
	if (w->want_dirs) {
		void *nd;

		if (!e->collection || strlen(leaf) != 2)
			return 0;
		nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*w->dirs));
		if (!nd)
			return -ENOMEM;
		w->dirs = nd;
		memcpy(w->dirs[w->ndirs++], leaf, 3);
		return 0;
	}
	if (e->collection || !e->has_length || !w->cb)
		return 0;
	return w->cb(w->ctx, rel, e->length);
}

/* PROPFIND @w->folder and walk its members. 404 is an empty folder (*@absent set). */
static int propfind(struct walk *w, int *absent)
{
	struct cf_storage_src body = {.fd = -1, .buf = (const uint8_t *)propfind_body,
				      .len = sizeof(propfind_body) - 1};
	struct cf_http_req q;
	int r;

	*absent = 0;
	cf_http_req_init(&q);
	r = cf_storage_webdav_req(w->d, &q, "PROPFIND", w->folder);
	if (!r)
		r = cf_http_req_header(&q, "Depth: 1");
	if (!r)
		r = cf_http_req_header(&q, "Content-Type: application/xml; charset=utf-8");
	if (r)
		goto out;
	q.src = &body;
	q.body_max = LIST_BODY_MAX;
	r = cf_http_run(w->d->http, &q);
	if (!r && q.status == 404) {
		*absent = 1;
		goto out;
	}
	if (r || q.status != 207) {
		r = cf_storage_webdav_fail(w->d, "list", w->folder[0] ? w->folder : "/", "PROPFIND",
					   &q, r == -ENOMEM ? r : 0);
		goto out;
	}
	r = cf_xml_propfind((const char *)q.body, q.body_len, on_entry, w);
	if (r == CF_E_FORMAT)
		cf_log_err("storage %s: list %s: the server's PROPFIND answer is not valid "
			   "multistatus XML", w->d->base.url, w->folder[0] ? w->folder : "/");
out:
	cf_http_req_clear(&q);
	return r;
}

int cf_storage_webdav_list_probe(struct dav *d, int *exists, int *empty, int *folder)
{
	struct walk w = {.d = d, .folder = "", .start = ""};
	int absent, r;

	r = propfind(&w, &absent);
	free(w.dirs);
	if (r)
		return r;
	*exists = !absent;
	*empty = w.members == 0;
	*folder = absent || w.self_collection;
	return 0;
}

/* List objects of @folder (with slash) starting with @start. */
static int list_folder(struct dav *d, const char *folder, const char *start,
		       cf_storage_list_cb cb, void *ctx)
{
	struct walk w = {.d = d, .folder = folder, .start = start, .cb = cb, .ctx = ctx};
	int absent, r;

	r = propfind(&w, &absent);
	free(w.dirs);
	return r;
}

/* data/: the two-hex subfolders matching @start (0-2 digits), each listed. */
static int list_data(struct dav *d, const char *start, cf_storage_list_cb cb, void *ctx)
{
	struct walk w = {.d = d, .folder = "data/", .start = start, .want_dirs = 1};
	char sub[16];
	int absent, r;

	r = propfind(&w, &absent);
	for (size_t i = 0; i < w.ndirs && !r; i++) {
		snprintf(sub, sizeof(sub), "data/%s/", w.dirs[i]);
		r = list_folder(d, sub, "", cb, ctx);
	}
	free(w.dirs);
	return r;
}

int cf_storage_webdav_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb,
			   void *ctx)
{
	struct dav *d = (struct dav *)s;
	const char *slash = strchr(prefix, '/');
	char folder[16];
	uint64_t size;
	int r;

	if (!*prefix) {
		r = s->ops->stat(s, "config", &size);
		if (!r)
			r = cb(ctx, "config", size);
		else if (r == CF_E_NOTFOUND)
			r = 0;
		for (size_t i = 0; i < CF_STORAGE_NFOLDERS && !r; i++) {
			snprintf(folder, sizeof(folder), "%s/", cf_storage_folders[i]);
			r = i == 0 ? list_data(d, "", cb, ctx) : list_folder(d, folder, "", cb, ctx);
		}
		return r;
	}
	if (!slash || (size_t)(slash - prefix) + 2 > sizeof(folder))
		return CF_E_INVAL;
	memcpy(folder, prefix, (size_t)(slash - prefix) + 1);
	folder[slash - prefix + 1] = 0;
	if (strcmp(folder, "data/"))
		return list_folder(d, folder, slash + 1, cb, ctx);
	if (strlen(slash + 1) < 3)
		return list_data(d, slash + 1, cb, ctx);
	snprintf(folder, sizeof(folder), "data/%.2s/", slash + 1);
	return list_folder(d, folder, slash + 4, cb, ctx);
}

void cf_storage_webdav_list_sweep(struct dav *d)
{
	struct walk w = {.d = d, .folder = "tmp/", .start = "",
			 .stale_before = time(NULL) - STALE_SECONDS};
	struct cf_http_req q;
	char rel[80];
	int absent;

	if (propfind(&w, &absent) == 0) {
		for (size_t i = 0; i < w.nstale; i++) {
			snprintf(rel, sizeof(rel), "tmp/%s", w.stale[i]);
			cf_http_req_init(&q);
			if (!cf_storage_webdav_req(d, &q, "DELETE", rel) && !cf_http_run(d->http, &q) &&
			    q.status >= 300 && q.status != 404)
				cf_log_warn("storage %s: cannot remove stale %s: HTTP %ld", d->base.url,
					    rel, q.status);
			cf_http_req_clear(&q);
		}
	}
	free(w.stale);
	free(w.dirs);
}
