/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Internals shared by the WebDAV backend's files (storage_webdav.c: open, put, get,
 * stat, delete; storage_webdav_list.c: PROPFIND listings). Nothing else includes this.
 */
#include "repo/http.h"
#include "repo/storage_impl.h"

struct dav {
	struct cf_storage base;
	struct cf_http *http;
	char *root;      /* "http(s)://host[:port]/path/" */
	char *root_path; /* "/path/", percent-decoded, for matching hrefs */
	struct cf_storage_settings st;
};

/*
 * cf_storage_webdav_req - clear @q and fill it for @method on @rel (relative to the
 * root: an object name, "tmp/...", or a folder with its slash; "" for the root), with
 * the authentication hook. Returns 0 or -ENOMEM.
 */
int cf_storage_webdav_req(struct dav *d, struct cf_http_req *q, const char *method,
			  const char *rel);

/*
 * cf_storage_webdav_fail - log that @op on @name failed (at @step, may be "") with what
 * @q says, once; returns @r, or the value @q's result or status stands for when @r is 0.
 */
int cf_storage_webdav_fail(struct dav *d, const char *op, const char *name, const char *step,
			   const struct cf_http_req *q, int r);

/* cf_storage_webdav_list - the list operation (see struct cf_storage_ops). */
int cf_storage_webdav_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb,
			   void *ctx);

/*
 * cf_storage_webdav_list_probe - PROPFIND the root: *@exists (0 on 404), *@empty (no
 * member), *@folder (the root is a collection). Returns 0, or an error already logged.
 */
int cf_storage_webdav_list_probe(struct dav *d, int *exists, int *empty, int *folder);

/*
 * cf_storage_webdav_list_sweep - delete tmp/upload-* resources last modified more than a
 * day ago (puts that died before their MOVE). Best effort: failures are logged as
 * warnings (or, for the listing itself, as the list operation logs them).
 */
void cf_storage_webdav_list_sweep(struct dav *d);
