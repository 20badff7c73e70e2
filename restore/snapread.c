/* SPDX-License-Identifier: ISC */
#include "restore/snapread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/dbmap.h"
#include "util/log.h"

struct pieces {
	struct cf_repo *r;
	const struct cf_manifest *m;
	int (*tree_cb)(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES]);
	void *ctx;
};

struct cf_snapread {
	struct pieces p;
	struct cf_dbmap_src dbsrc;
	struct cf_tree_reader *tree;
	struct cf_tarstream *tar;
};

/* cf_tree_piece_fn: TREE blob number @index of the manifest, or the end. */
static int next_piece(void *ctx, size_t index, uint8_t **piece, size_t *len)
{
	struct pieces *p = ctx;
	const uint8_t *id;
	int rc;

	if (index >= p->m->ntrees) {
		*piece = NULL;
		*len = 0;
		return 0;
	}
	id = p->m->trees + index * CF_BLOB_ID_BYTES;
	if (p->tree_cb) {
		rc = p->tree_cb(p->ctx, id);
		if (rc)
			return rc;
	}
	rc = cf_repo_get_blob(p->r, CF_BLOB_TREE, id, piece, len);
	if (rc == CF_E_NOTFOUND) {
		char hex[CF_HEX_LEN(CF_BLOB_ID_BYTES)];

		cf_encode_hex(hex, id, CF_BLOB_ID_BYTES);
		cf_log_err("%s: tree blob %s of the snapshot is in no index", cf_repo_url(p->r),
		           hex);
	}
	return rc;
}

/* cf_chunk_fetch_fn: a DATA blob, exactly as long as its tree entry says. */
static int fetch_chunk(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len, uint8_t **data)
{
	struct pieces *p = ctx;
	char hex[CF_HEX_LEN(CF_BLOB_ID_BYTES)];
	uint8_t *buf = NULL;
	size_t got = 0;
	int rc;

	rc = cf_repo_get_blob(p->r, CF_BLOB_DATA, id, &buf, &got);
	if (rc == CF_E_NOTFOUND) {
		cf_encode_hex(hex, id, CF_BLOB_ID_BYTES);
		cf_log_err("%s: data blob %s of the snapshot is in no index", cf_repo_url(p->r),
		           hex);
	}
	if (rc)
		return rc;
	if (got != len) {
		cf_encode_hex(hex, id, CF_BLOB_ID_BYTES);
		cf_log_err("%s: data blob %s holds %zu bytes, its tree entry says %u",
		           cf_repo_url(p->r), hex, got, (unsigned)len);
		free(buf);
		return CF_E_CORRUPT;
	}
	if (!buf) /* an empty chunk: the stream wants a buffer all the same */
		buf = malloc(1);
	if (!buf)
		return -ENOMEM;
	*data = buf;
	return 0;
}

int cf_snapread_get_blob(void *repo, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
                         uint8_t **data, size_t *len)
{
	struct cf_repo *r = repo;
	int rc = cf_repo_get_blob(r, (enum cf_blob_type)type, id, data, len);

	if (rc == CF_E_NOTFOUND) {
		char hex[CF_HEX_LEN(CF_BLOB_ID_BYTES)];

		cf_encode_hex(hex, id, CF_BLOB_ID_BYTES);
		cf_log_err("%s: %s blob %s of the snapshot is in no index", cf_repo_url(r),
		           type == CF_BLOB_CHUNKLIST ? "page map" : "data", hex);
	}
	return rc;
}

int cf_snapread_new(struct cf_snapread **out, struct cf_repo *r, const struct cf_manifest *m)
{
	struct cf_snapread *s;
	int rc;

	if (!out || !r || !m)
		return CF_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p.r = r;
	s->p.m = m;
	rc = cf_tree_reader_new(&s->tree, next_piece, &s->p);
	if (!rc)
		rc = cf_tarstream_new(&s->tar, s->tree, fetch_chunk, &s->p);
	s->dbsrc.get = cf_snapread_get_blob;
	s->dbsrc.ctx = r;
	if (!rc)
		rc = cf_tarstream_set_body_source(s->tar, cf_dbmap_body_source(), &s->dbsrc);
	if (rc) {
		cf_snapread_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

struct cf_tarstream *cf_snapread_tar(struct cf_snapread *s)
{
	return s->tar;
}

struct cf_tree_reader *cf_snapread_tree(struct cf_snapread *s)
{
	return s->tree;
}

void cf_snapread_free(struct cf_snapread *s)
{
	if (!s)
		return;
	cf_tarstream_free(s->tar);
	cf_tree_reader_free(s->tree);
	free(s);
}

int cf_snapread_walk(struct cf_repo *r, const struct cf_manifest *m,
                     int (*tree_cb)(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES]),
                     cf_snapread_entry_fn entry_cb, void *ctx)
{
	struct pieces p = {.r = r, .m = m, .tree_cb = tree_cb, .ctx = ctx};
	struct cf_tree_reader *tree = NULL;
	const struct cf_archive_entry *e = NULL;
	int rc;

	rc = cf_tree_reader_new(&tree, next_piece, &p);
	while (!rc) {
		rc = cf_tree_reader_next(tree, &e);
		if (rc || !e)
			break;
		if (entry_cb)
			rc = entry_cb(ctx, e);
	}
	cf_tree_reader_free(tree);
	return rc;
}

int cf_snapread_path_selected(const char *path, const char *sel)
{
	size_t n = strlen(sel);

	while (n > 1 && sel[n - 1] == '/')
		n--;
	return strncmp(path, sel, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
