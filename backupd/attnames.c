/* SPDX-License-Identifier: ISC */
#include "backupd/attnames.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/archive.h"
#include "util/log.h"

struct name {
	char *path;
	int marked;
};

struct cf_attnames {
	struct name *v;
	size_t n, cap;
};

static const char app_prefix[] = "~/Library/Messages/";
static const char users_prefix[] = "/Users/";
static const char lib_part[] = "/Library/Messages/";

/* @s after @prefix when it starts with it, else NULL. */
static const char *after(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

int cf_attnames_map(const char *value, const char *store_abs, char **out)
{
	const char *rel = NULL, *p;

	*out = NULL;
	if (!value)
		return 0;
	if ((p = after(value, app_prefix)) != NULL) {
		rel = p;
	} else if ((p = after(value, users_prefix)) != NULL) {
		const char *slash = strchr(p, '/');
		if (slash && slash != p && (p = after(slash, lib_part)) != NULL)
			rel = p;
	}
	if (!rel && store_abs && *store_abs && (p = after(value, store_abs)) != NULL && *p == '/')
		rel = p + 1;
	if (!rel || cf_archive_path_check(rel, strlen(rel)) != 0)
		return 0;
	*out = strdup(rel);
	return *out ? 0 : -ENOMEM;
}

int cf_attnames_new(struct cf_attnames **out)
{
	struct cf_attnames *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	*out = a;
	return 0;
}

void cf_attnames_free(struct cf_attnames *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].path);
	free(a->v);
	free(a);
}

static int add_owned(struct cf_attnames *a, char *path)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct name *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n].path = path;
	a->v[a->n].marked = 0;
	a->n++;
	return 0;
}

int cf_attnames_add(struct cf_attnames *a, const char *path)
{
	char *p = strdup(path);
	int r;

	if (!p)
		return -ENOMEM;
	r = add_owned(a, p);
	if (r)
		free(p);
	return r;
}

static int cmp_name(const void *x, const void *y)
{
	return strcmp(((const struct name *)x)->path, ((const struct name *)y)->path);
}

void cf_attnames_seal(struct cf_attnames *a)
{
	size_t w = 0;

	if (!a->n)
		return;
	qsort(a->v, a->n, sizeof(*a->v), cmp_name);
	for (size_t i = 0; i < a->n; i++) {
		if (w && strcmp(a->v[w - 1].path, a->v[i].path) == 0) {
			free(a->v[i].path);
			continue;
		}
		a->v[w++] = a->v[i];
	}
	a->n = w;
}

size_t cf_attnames_count(const struct cf_attnames *a)
{
	return a ? a->n : 0;
}

int cf_attnames_mark(struct cf_attnames *a, const char *path)
{
	struct name key = {.path = (char *)path};
	struct name *hit;

	if (!a || !a->n)
		return 0;
	hit = bsearch(&key, a->v, a->n, sizeof(*a->v), cmp_name);
	if (!hit)
		return 0;
	hit->marked = 1;
	return 1;
}

const char *cf_attnames_next_unmarked(const struct cf_attnames *a, size_t *cursor)
{
	if (!a)
		return NULL;
	while (*cursor < a->n) {
		const struct name *x = &a->v[(*cursor)++];
		if (!x->marked)
			return x->path;
	}
	return NULL;
}

/* 1 when table attachment has a filename column, 0 when not, <0 on error. */
static int has_column(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int found = 0, rc;

	rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('attachment')", -1, &st,
	                        NULL);
	if (rc != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *n = sqlite3_column_text(st, 0);
		if (n && strcmp((const char *)n, "filename") == 0)
			found = 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? found : -1;
}

static int sql_code(sqlite3 *db, int rc, const char *path)
{
	cf_log_err("reading attachment names from %s: %s", path,
	           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		return CF_E_FORMAT;
	case SQLITE_CORRUPT:
		return CF_E_CORRUPT;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return CF_E_IO;
	}
}

/*
 * "file:PATH?immutable=1" with PATH percent-encoded: the copy is read as a plain file,
 * without locks and without creating -wal/-shm files beside it (its header may say WAL).
 */
static char *immutable_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *u = malloc(5 + 3 * n + 13), *p;

	if (!u)
		return NULL;
	p = u + sprintf(u, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("/-._~", *c)) {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		}
	}
	strcpy(p, "?immutable=1");
	return u;
}

int cf_attnames_load_db(struct cf_attnames **out, sqlite3 *db, const char *db_path,
                        const char *store_abs)
{
	struct cf_attnames *a = NULL;
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = cf_attnames_new(&a);
	if (r)
		return r;
	r = has_column(db);
	if (r < 0) {
		r = sql_code(db, sqlite3_errcode(db), db_path);
		goto fail;
	}
	if (r == 0) {
		cf_log_debug("%s has no attachment.filename column: no attachment names", db_path);
		goto done;
	}
	rc = sqlite3_prepare_v2(db, "SELECT filename FROM attachment WHERE filename IS NOT NULL",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = sql_code(db, rc, db_path);
		goto fail;
	}
	r = 0;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		char *rel = NULL;
		r = cf_attnames_map(v, store_abs, &rel);
		if (!r && rel) {
			r = add_owned(a, rel);
			if (r)
				free(rel);
		}
	}
	if (!r && rc != SQLITE_DONE)
		r = sql_code(db, rc, db_path);
	if (r)
		goto fail;
done:
	sqlite3_finalize(st);
	cf_attnames_seal(a);
	*out = a;
	return 0;
fail:
	sqlite3_finalize(st);
	cf_attnames_free(a);
	return r;
}

int cf_attnames_load(struct cf_attnames **out, const char *db_path, const char *store_abs)
{
	sqlite3 *db = NULL;
	char *uri = NULL;
	int rc, r;

	uri = immutable_uri(db_path);
	if (!uri)
		return -ENOMEM;
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
	                     NULL);
	free(uri);
	if (rc != SQLITE_OK)
		r = sql_code(db, rc, db_path);
	else
		r = cf_attnames_load_db(out, db, db_path, store_abs);
	sqlite3_close(db);
	return r;
}
