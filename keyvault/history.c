/* SPDX-License-Identifier: ISC */
/*
 * Re-encrypting or forgetting the snapshots of retired epochs (keyvault/history.h). The
 * copy goes through the engine's own read path (TREE pieces, chunk fetches, the database
 * page map) and write path (cf_repo_put_blob under the current epoch, tree writer, index
 * commit, signed manifest).
 */
#include "keyvault/history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "repo/archive.h"
#include "repo/dbmap.h"
#include "repo/object.h"
#include "repo/snapshots.h"
#include "util/log.h"

#define DB_CHUNK (1u << 20)

struct tree_src {
	struct cf_repo *r;
	const struct cf_manifest *m;
};

static int next_piece(void *ctx, size_t index, uint8_t **piece, size_t *len)
{
	struct tree_src *t = ctx;

	if (index >= t->m->ntrees) {
		*piece = NULL;
		*len = 0;
		return 0;
	}
	return cf_repo_get_blob(t->r, CF_BLOB_TREE, t->m->trees + 32 * index, piece, len);
}

static int dbmap_get(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES], uint8_t **data,
		     size_t *len)
{
	return cf_repo_get_blob(ctx, (enum cf_blob_type)type, id, data, len);
}

struct copy {
	struct cf_repo *r;
	struct cf_tree_writer *w;
	uint8_t *trees; /* new TREE ids */
	size_t ntrees;
	struct cf_archive_ref *refs;
	size_t nrefs, cap;
	uint64_t bytes;
};

static int emit_tree(void *ctx, const uint8_t *piece, size_t len)
{
	struct copy *c = ctx;
	uint8_t id[CF_BLOB_ID_BYTES], *v;
	int r = cf_repo_put_blob(c->r, CF_BLOB_TREE, piece, len, id, NULL);

	if (r)
		return r;
	v = realloc(c->trees, (c->ntrees + 1) * CF_BLOB_ID_BYTES);
	if (!v)
		return -ENOMEM;
	c->trees = v;
	memcpy(v + c->ntrees++ * CF_BLOB_ID_BYTES, id, CF_BLOB_ID_BYTES);
	return 0;
}

static int add_ref(struct copy *c, const uint8_t *data, size_t len)
{
	struct cf_archive_ref *ref;
	int r;

	if (c->nrefs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		ref = realloc(c->refs, cap * sizeof(*ref));
		if (!ref)
			return -ENOMEM;
		c->refs = ref;
		c->cap = cap;
	}
	ref = &c->refs[c->nrefs];
	r = cf_repo_put_blob(c->r, CF_BLOB_DATA, data, len, ref->id, NULL);
	if (r)
		return r;
	ref->len = (uint32_t)len;
	c->nrefs++;
	c->bytes += len;
	return 0;
}

/* A database body (page map) read whole and stored again as plain chunks. */
static int copy_chunklist(struct copy *c, const struct cf_archive_entry *e)
{
	struct cf_dbmap_reader *rd = NULL;
	uint8_t *buf = malloc(DB_CHUNK);
	uint64_t left = e->size;
	int r = buf ? cf_dbmap_reader_new(&rd, &e->refs[0], e->size, dbmap_get, c->r) : -ENOMEM;

	while (!r && left) {
		size_t want = left < DB_CHUNK ? (size_t)left : DB_CHUNK, got = 0;
		r = cf_dbmap_reader_read(rd, buf, want, &got);
		if (!r && got != want)
			r = CF_E_CORRUPT;
		if (!r)
			r = add_ref(c, buf, got);
		left -= want;
	}
	cf_dbmap_reader_free(rd);
	free(buf);
	return r;
}

static int copy_refs(struct copy *c, const struct cf_archive_entry *e)
{
	int r = 0;

	for (size_t i = 0; i < e->nrefs && !r; i++) {
		uint8_t *data = NULL;
		size_t len = 0;
		r = cf_repo_get_blob(c->r, CF_BLOB_DATA, e->refs[i].id, &data, &len);
		if (!r && len != e->refs[i].len)
			r = CF_E_CORRUPT;
		if (!r)
			r = add_ref(c, data, len);
		free(data);
	}
	return r;
}

/* The entries of @m, copied into new TREE pieces (c->trees). */
static int copy_tree(struct copy *c, const struct cf_manifest *m)
{
	struct tree_src src = {c->r, m};
	struct cf_tree_reader *rd = NULL;
	const struct cf_archive_entry *e;
	int r;

	r = cf_tree_reader_new(&rd, next_piece, &src);
	if (!r)
		r = cf_tree_writer_new(&c->w, 0, emit_tree, c);
	while (!r && (r = cf_tree_reader_next(rd, &e)) == 0 && e) {
		struct cf_archive_entry ne = *e;
		c->nrefs = 0;
		if (e->body == CF_ARCHIVE_BODY_CHUNKLIST)
			r = copy_chunklist(c, e);
		else
			r = copy_refs(c, e);
		ne.body = CF_ARCHIVE_BODY_REFS;
		ne.refs = c->refs;
		ne.nrefs = c->nrefs;
		if (!r)
			r = cf_tree_writer_add(c->w, &ne);
	}
	if (!r)
		r = cf_tree_writer_finish(c->w, NULL);
	cf_tree_reader_free(rd);
	cf_tree_writer_free(c->w);
	c->w = NULL;
	return r;
}

static int forget_one(struct cf_repo *r, const struct cf_manifest *m)
{
	struct cf_forget f = {0};
	char name[CF_STORAGE_NAME_MAX];
	uint8_t id[32];
	int rc;

	f.seq = m->seq;
	memcpy(f.manifest, m->id, 32);
	f.has_prev = m->has_prev;
	if (m->has_prev)
		memcpy(f.prev, m->prev, 32);
	f.time = (uint64_t)time(NULL);
	rc = cf_repo_write_forget(r, &f, id);
	cf_repo_object_name(name, "snapshots", m->id);
	if (!rc)
		rc = cf_storage_delete(cf_repo_storage(r), name);
	if (rc == CF_E_NOTFOUND)
		rc = 0;
	if (rc)
		cf_log_err("%s: cannot forget snapshot #%llu: %s", cf_repo_url(r),
			   (unsigned long long)m->seq, cf_strerror(rc));
	return rc;
}

static int retired(const struct cf_history_sel *sel, uint32_t e)
{
	return e <= sel->n && sel->epochs[e];
}

/* Delete the packs (from the cache) and index objects of the retired epochs. */
struct idx_ctx {
	struct cf_repo *r;
	const struct cf_history_sel *sel;
	struct cf_history_stats *st;
	int err;
};

static int index_cb(void *ctx, const char *name, uint64_t size)
{
	struct idx_ctx *x = ctx;
	uint8_t hdr[CF_OBJECT_OVERHEAD], type;
	uint32_t epoch;
	int r;

	if (size < sizeof(hdr))
		return 0;
	r = cf_storage_get_range(cf_repo_storage(x->r), name, 0, sizeof(hdr), hdr);
	if (r || cf_object_peek(hdr, sizeof(hdr), &type, &epoch) != 0 || !retired(x->sel, epoch))
		return 0;
	r = cf_storage_delete(cf_repo_storage(x->r), name);
	if (r && r != CF_E_NOTFOUND) {
		x->err = r;
		return r;
	}
	x->st->indexes++;
	return 0;
}

static int delete_retired(struct cf_repo *r, const struct cf_history_sel *sel,
			  struct cf_history_stats *st)
{
	struct idx_ctx x = {r, sel, st, 0};
	uint8_t(*names)[32] = NULL;
	size_t n = 0;
	int rc = cf_cache_all_packs(cf_repo_cache(r), &names, &n);

	for (size_t i = 0; i < n && !rc; i++) {
		struct cf_pack_entry *e = NULL;
		char name[CF_STORAGE_NAME_MAX];
		uint64_t size = 0;
		uint32_t epoch = 0;
		size_t ne = 0;
		rc = cf_cache_pack_entries(cf_repo_cache(r), names[i], &epoch, &size, &e, &ne);
		free(e);
		if (rc || !retired(sel, epoch))
			continue;
		cf_repo_object_name(name, "data", names[i]);
		rc = cf_storage_delete(cf_repo_storage(r), name);
		if (rc == CF_E_NOTFOUND)
			rc = 0;
		if (!rc) {
			cf_cache_forget_pack(cf_repo_cache(r), names[i]);
			st->packs++;
		}
	}
	free(names);
	if (!rc)
		rc = cf_storage_list(cf_repo_storage(r), "index/", index_cb, &x);
	return x.err ? x.err : rc;
}

/* Copy @m under the current epoch as snapshot @seq after @prev; *@id its new id. */
static int reencrypt_one(struct cf_session *s, const struct cf_manifest *m, uint64_t seq,
			 const uint8_t *prev, uint8_t id[32], uint64_t *bytes)
{
	struct copy c = {.r = s->repo};
	struct cf_repo_stats rs;
	struct cf_manifest nm = *m;
	int r = copy_tree(&c, m);

	if (!r)
		r = cf_repo_commit_index(s->repo);
	cf_repo_stats(s->repo, &rs);
	nm.seq = seq;
	nm.has_prev = prev != NULL;
	if (prev)
		memcpy(nm.prev, prev, 32);
	nm.trees = c.trees;
	nm.ntrees = c.ntrees;
	nm.new_bytes = rs.bytes_new;
	nm.stored_bytes = rs.bytes_stored;
	if (!r)
		r = cf_repo_write_manifest(s->repo, &nm, id);
	if (!r)
		r = cf_session_record_seen(s, seq, id);
	*bytes += c.bytes;
	free(c.trees);
	free(c.refs);
	return r;
}

int cf_history_rewrite(struct cf_session *s, const struct cf_history_sel *sel, int reencrypt,
		       struct cf_history_stats *st)
{
	struct cf_history_stats local = {0};
	struct cf_chain_seen seen;
	uint8_t prev[32], id[32];
	uint64_t seq = 0;
	int has_prev = 0, have_seen, r = 0;
	size_t n;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	if (!s->snaps || retired(sel, cf_repokeys_epoch(cf_keyring_current(cf_repo_keyring(s->repo)))))
		return CF_E_INVAL;
	n = cf_snapshots_count(s->snaps);
	have_seen = cf_keychain_seen_get(s->kc, cf_repo_id(s->repo), &seen.seq, seen.id) == 0;
	if (reencrypt)
		r = cf_chain_next(cf_snapshots_chain(s->snaps), have_seen ? &seen : NULL, &seq,
				  &has_prev, prev);
	for (size_t i = 0; i < n && !r && reencrypt; i++) {
		const struct cf_manifest *m = cf_snapshots_get(s->snaps, i);
		if (!retired(sel, m->epoch))
			continue;
		r = reencrypt_one(s, m, seq, has_prev ? prev : NULL, id, &st->bytes);
		if (r)
			cf_log_err("%s: cannot re-encrypt snapshot #%llu: %s", cf_repo_url(s->repo),
				   (unsigned long long)m->seq, cf_strerror(r));
		memcpy(prev, id, 32);
		has_prev = 1;
		seq++;
	}
	for (size_t i = 0; i < n && !r; i++) {
		const struct cf_manifest *m = cf_snapshots_get(s->snaps, i);
		if (!retired(sel, m->epoch))
			continue;
		r = forget_one(s->repo, m);
		if (!r)
			st->snapshots++;
	}
	if (!r)
		r = delete_retired(s->repo, sel, st);
	return r;
}
