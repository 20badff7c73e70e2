/* SPDX-License-Identifier: ISC */
/*
 * The tree encoding (entries cut into TREE pieces) and the tar stream producer.
 * Byte layout: docs/archive.md. All integers little-endian.
 */
#include "repo/archive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

#define PIECE_HEAD  12 /* magic[4] | index u32 | count u32 */
#define ENTRY_FIXED 36 /* type..nrefs, before the path */
#define REF_BYTES   (CF_BLOB_ID_BYTES + 4)

static const uint8_t piece_magic[3] = {'C', 'F', 'T'};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/*
 * The checks shared by the writer and the reader, on an entry whose refs are @raw (36
 * bytes each, as encoded) or e->refs. Returns 0, CF_E_LIMIT or CF_E_CORRUPT; *@why
 * names the problem.
 */
static int entry_check(const struct cf_archive_entry *e, const uint8_t *raw, const char **why)
{
	uint64_t sum = 0;

	*why = "invalid path";
	if (strlen(e->path) > CF_ARCHIVE_PATH_MAX)
		return CF_E_LIMIT;
	if (cf_archive_path_check(e->path, strlen(e->path)) != 0)
		return CF_E_CORRUPT;
	*why = "unknown entry type";
	if (e->type != CF_ARCHIVE_FILE && e->type != CF_ARCHIVE_DIR)
		return CF_E_CORRUPT;
	*why = "mode has bits beyond 0777";
	if (e->mode & ~0777u)
		return CF_E_CORRUPT;
	*why = "size too large";
	if (e->size > CF_ARCHIVE_SIZE_MAX)
		return CF_E_LIMIT;
	*why = "nanoseconds out of range";
	if (e->mtime_nsec >= 1000000000u)
		return CF_E_CORRUPT;
	*why = "header too long";
	if (e->header_len > CF_ARCHIVE_HEADER_MAX)
		return CF_E_LIMIT;
	*why = "header length not a positive multiple of 512";
	if (e->header_len < CF_TAR_BLOCK || e->header_len % CF_TAR_BLOCK)
		return CF_E_CORRUPT;
	*why = "unknown body encoding";
	if (e->body != CF_ARCHIVE_BODY_REFS && e->body != CF_ARCHIVE_BODY_CHUNKLIST)
		return CF_E_CORRUPT;
	*why = "directory with a body";
	if (e->type == CF_ARCHIVE_DIR && (e->size || e->nrefs || e->body))
		return CF_E_CORRUPT;
	*why = "chunk list root is not one reference";
	if (e->body == CF_ARCHIVE_BODY_CHUNKLIST && e->nrefs != 1)
		return CF_E_CORRUPT;
	for (size_t i = 0; i < e->nrefs; i++) {
		uint32_t l = raw ? get32(raw + i * REF_BYTES + CF_BLOB_ID_BYTES) : e->refs[i].len;

		*why = "empty chunk";
		if (l == 0)
			return CF_E_CORRUPT;
		*why = "chunk too large";
		if (l > CF_ARCHIVE_REF_MAX)
			return CF_E_LIMIT;
		sum += l;
	}
	*why = "chunk lengths do not sum to the size";
	if (e->body == CF_ARCHIVE_BODY_REFS && sum != e->size)
		return CF_E_CORRUPT;
	*why = "tar header does not describe the entry";
	if (cf_archive_header_check(e) != 0)
		return CF_E_CORRUPT;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Writer                                                                              */

struct cf_tree_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t target;
	uint32_t count; /* entries in the open piece */
	uint32_t index; /* number of the open piece */
	cf_tree_emit_fn emit;
	void *ctx;
	int err; /* sticky */
	int finished;
};

int cf_tree_writer_new(struct cf_tree_writer **out, size_t target, cf_tree_emit_fn emit, void *ctx)
{
	struct cf_tree_writer *w;

	if (!out || !emit || target > CF_TREE_PIECE_MAX)
		return CF_E_INVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->target = target ? target : CF_TREE_PIECE_TARGET;
	w->emit = emit;
	w->ctx = ctx;
	*out = w;
	return 0;
}

static int writer_flush(struct cf_tree_writer *w)
{
	int r;

	if (w->count == 0)
		return 0;
	put32(w->buf + 8, w->count);
	r = w->emit(w->ctx, w->buf, w->len);
	if (r) {
		w->err = r;
		return r;
	}
	w->index++;
	w->count = 0;
	w->len = 0;
	return 0;
}

int cf_tree_writer_add(struct cf_tree_writer *w, const struct cf_archive_entry *e)
{
	size_t plen, need;
	const char *why;
	char shown[256];
	uint8_t *p;
	int r;

	if (!w || !e || !e->path || (e->nrefs && !e->refs) || (e->header_len && !e->header))
		return CF_E_INVAL;
	if (w->err)
		return w->err;
	if (w->finished)
		return CF_E_INVAL;
	r = entry_check(e, NULL, &why);
	if (r) {
		cf_log_err("cannot add \"%s\" to the snapshot tree: %s",
		           cf_archive_printable(e->path, shown, sizeof(shown)), why);
		return r == CF_E_LIMIT ? CF_E_LIMIT : CF_E_INVAL;
	}
	plen = strlen(e->path);
	if (e->nrefs > (CF_TREE_PIECE_MAX - PIECE_HEAD) / REF_BYTES) {
		cf_log_err("cannot add \"%s\" to the snapshot tree: too many chunks",
		           cf_archive_printable(e->path, shown, sizeof(shown)));
		return CF_E_LIMIT;
	}
	need = ENTRY_FIXED + plen + e->header_len + e->nrefs * REF_BYTES;
	if (need > CF_TREE_PIECE_MAX - PIECE_HEAD) {
		cf_log_err("cannot add \"%s\" to the snapshot tree: too many chunks",
		           cf_archive_printable(e->path, shown, sizeof(shown)));
		return CF_E_LIMIT;
	}
	if (w->count && w->len + need > w->target) {
		r = writer_flush(w);
		if (r)
			return r;
	}
	if (w->len + need + PIECE_HEAD > w->cap) {
		size_t ncap = w->cap ? w->cap : 4096;
		uint8_t *nb;

		while (ncap < w->len + need + PIECE_HEAD)
			ncap *= 2;
		nb = realloc(w->buf, ncap);
		if (!nb) {
			w->err = -ENOMEM;
			return -ENOMEM;
		}
		w->buf = nb;
		w->cap = ncap;
	}
	if (w->count == 0) {
		memcpy(w->buf, piece_magic, 3);
		w->buf[3] = CF_TREE_VERSION;
		put32(w->buf + 4, w->index);
		put32(w->buf + 8, 0);
		w->len = PIECE_HEAD;
	}
	p = w->buf + w->len;
	p[0] = e->type;
	p[1] = e->body;
	put16(p + 2, (uint16_t)plen);
	put32(p + 4, e->mode);
	put64(p + 8, e->size);
	put64(p + 16, (uint64_t)e->mtime);
	put32(p + 24, e->mtime_nsec);
	put32(p + 28, (uint32_t)e->header_len);
	put32(p + 32, (uint32_t)e->nrefs);
	p += ENTRY_FIXED;
	memcpy(p, e->path, plen);
	p += plen;
	memcpy(p, e->header, e->header_len);
	p += e->header_len;
	for (size_t i = 0; i < e->nrefs; i++, p += REF_BYTES) {
		memcpy(p, e->refs[i].id, CF_BLOB_ID_BYTES);
		put32(p + CF_BLOB_ID_BYTES, e->refs[i].len);
	}
	w->len += need;
	w->count++;
	return 0;
}

int cf_tree_writer_finish(struct cf_tree_writer *w, size_t *npieces)
{
	int r;

	if (!w)
		return CF_E_INVAL;
	if (w->err)
		return w->err;
	r = writer_flush(w);
	if (r)
		return r;
	w->finished = 1;
	if (npieces)
		*npieces = w->index;
	return 0;
}

void cf_tree_writer_free(struct cf_tree_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

/* ---------------------------------------------------------------------------------- */
/* Reader                                                                              */

struct cf_tree_reader {
	cf_tree_piece_fn next;
	void *ctx;
	const uint8_t *const *mem; /* or pieces held by the caller */
	const size_t *mem_lens;
	size_t mem_n;

	uint8_t *owned; /* the current piece, when it came from @next */
	const uint8_t *piece;
	size_t piece_len;
	size_t index; /* number of the current piece */
	int have_piece;
	size_t pos;        /* offset of the next entry */
	uint32_t left;     /* entries still to return from this piece */
	uint32_t entry_no; /* for messages */

	char path[CF_ARCHIVE_PATH_MAX + 1];
	struct cf_archive_ref *refs;
	size_t refs_cap;
	struct cf_archive_entry cur;
	int err; /* sticky */
	int done;
};

int cf_tree_reader_new(struct cf_tree_reader **out, cf_tree_piece_fn next, void *ctx)
{
	struct cf_tree_reader *r;

	if (!out || !next)
		return CF_E_INVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->next = next;
	r->ctx = ctx;
	*out = r;
	return 0;
}

int cf_tree_reader_new_mem(struct cf_tree_reader **out, const uint8_t *const *pieces,
                           const size_t *lens, size_t n)
{
	struct cf_tree_reader *r;

	if (!out || (n && (!pieces || !lens)))
		return CF_E_INVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->mem = pieces;
	r->mem_lens = lens;
	r->mem_n = n;
	*out = r;
	return 0;
}

/*
 * Decode the entry at p[0..n) into *@e (path pointing into the piece, not terminated;
 * refs left NULL) and its raw refs into *@raw; *@used gets its encoded length.
 */
static int entry_decode(const uint8_t *p, size_t n, struct cf_archive_entry *e, const uint8_t **raw,
                        size_t *used, size_t *plen, const char **why)
{
	uint64_t need;

	*why = "entry cut short";
	if (n < ENTRY_FIXED)
		return CF_E_TRUNCATED;
	memset(e, 0, sizeof(*e));
	e->type = p[0];
	e->body = p[1];
	*plen = get16(p + 2);
	e->mode = get32(p + 4);
	e->size = get64(p + 8);
	e->mtime = (int64_t)get64(p + 16);
	e->mtime_nsec = get32(p + 24);
	e->header_len = get32(p + 28);
	e->nrefs = get32(p + 32);
	*why = "path too long";
	if (*plen > CF_ARCHIVE_PATH_MAX)
		return CF_E_LIMIT;
	*why = "header too long";
	if (e->header_len > CF_ARCHIVE_HEADER_MAX)
		return CF_E_LIMIT;
	need = ENTRY_FIXED + (uint64_t)*plen + e->header_len + (uint64_t)e->nrefs * REF_BYTES;
	*why = "entry cut short";
	if (need > n)
		return CF_E_TRUNCATED;
	e->header = p + ENTRY_FIXED + *plen;
	*raw = e->header + e->header_len;
	*used = (size_t)need;
	return 0;
}

/* Check one whole entry of the piece at r->piece + off (the path is copied to r->path). */
static int entry_at(struct cf_tree_reader *r, size_t off, const uint8_t **raw, size_t *used,
                    const char **why)
{
	struct cf_archive_entry *e = &r->cur;
	size_t plen;
	int ret;

	ret = entry_decode(r->piece + off, r->piece_len - off, e, raw, used, &plen, why);
	if (ret)
		return ret;
	*why = "path contains NUL";
	if (memchr(r->piece + off + ENTRY_FIXED, 0, plen))
		return CF_E_CORRUPT;
	memcpy(r->path, r->piece + off + ENTRY_FIXED, plen);
	r->path[plen] = '\0';
	e->path = r->path;
	return entry_check(e, *raw, why);
}

static int reader_fail(struct cf_tree_reader *r, int err, const char *why)
{
	cf_log_err("snapshot tree piece %zu, entry %u: %s", r->index, r->entry_no, why);
	r->err = err;
	return err;
}

/* Fetch piece r->index and check it whole. 0 with r->done set after the last piece. */
static int reader_load(struct cf_tree_reader *r)
{
	const uint8_t *raw;
	const char *why;
	size_t off, used, len = 0;
	uint8_t *p = NULL;
	uint32_t count;
	int ret;

	free(r->owned);
	r->owned = NULL;
	r->piece = NULL;
	r->entry_no = 0;
	if (r->mem) {
		if (r->index >= r->mem_n) {
			r->done = 1;
			return 0;
		}
		r->piece = r->mem[r->index];
		r->piece_len = r->mem_lens[r->index];
	} else if (!r->mem_n && r->next) {
		ret = r->next(r->ctx, r->index, &p, &len);
		if (ret) {
			r->err = ret;
			return ret;
		}
		if (!p) {
			r->done = 1;
			return 0;
		}
		r->owned = p;
		r->piece = p;
		r->piece_len = len;
	} else {
		r->done = 1;
		return 0;
	}
	if (!r->piece && r->piece_len)
		return reader_fail(r, CF_E_INVAL, "missing piece");
	if (r->piece_len > CF_TREE_PIECE_MAX)
		return reader_fail(r, CF_E_LIMIT, "piece too large");
	if (r->piece_len < PIECE_HEAD)
		return reader_fail(r, CF_E_TRUNCATED, "piece cut short");
	if (memcmp(r->piece, piece_magic, 3) != 0)
		return reader_fail(r, CF_E_FORMAT, "not a tree piece");
	if (r->piece[3] != CF_TREE_VERSION)
		return reader_fail(r, CF_E_VERSION, "tree encoding of a newer version");
	if (get32(r->piece + 4) != r->index)
		return reader_fail(r, CF_E_CORRUPT, "piece out of order");
	count = get32(r->piece + 8);
	if (count == 0 || count > (r->piece_len - PIECE_HEAD) / (ENTRY_FIXED + CF_TAR_BLOCK + 1))
		return reader_fail(r, CF_E_CORRUPT, "impossible entry count");
	/* check every entry before returning the first one */
	off = PIECE_HEAD;
	for (uint32_t i = 0; i < count; i++) {
		r->entry_no = i;
		ret = entry_at(r, off, &raw, &used, &why);
		if (ret)
			return reader_fail(r, ret, why);
		off += used;
	}
	r->entry_no = count;
	if (off != r->piece_len)
		return reader_fail(r, CF_E_FORMAT, "trailing bytes after the last entry");
	r->have_piece = 1;
	r->pos = PIECE_HEAD;
	r->left = count;
	r->entry_no = 0;
	return 0;
}

int cf_tree_reader_next(struct cf_tree_reader *r, const struct cf_archive_entry **e)
{
	const uint8_t *raw;
	const char *why;
	size_t used;
	int ret;

	if (!r || !e)
		return CF_E_INVAL;
	if (r->err)
		return r->err;
	while (!r->done && (!r->have_piece || r->left == 0)) {
		if (r->have_piece)
			r->index++;
		r->have_piece = 0;
		ret = reader_load(r);
		if (ret)
			return ret;
	}
	if (r->done) {
		*e = NULL;
		return 0;
	}
	ret = entry_at(r, r->pos, &raw, &used, &why);
	if (ret) /* checked when the piece was loaded: cannot happen */
		return reader_fail(r, ret, why);
	if (r->cur.nrefs > r->refs_cap) {
		struct cf_archive_ref *nr = realloc(r->refs, r->cur.nrefs * sizeof(*nr));

		if (!nr) {
			r->err = -ENOMEM;
			return -ENOMEM;
		}
		r->refs = nr;
		r->refs_cap = r->cur.nrefs;
	}
	for (size_t i = 0; i < r->cur.nrefs; i++) {
		memcpy(r->refs[i].id, raw + i * REF_BYTES, CF_BLOB_ID_BYTES);
		r->refs[i].len = get32(raw + i * REF_BYTES + CF_BLOB_ID_BYTES);
	}
	r->cur.refs = r->cur.nrefs ? r->refs : NULL;
	r->pos += used;
	r->left--;
	r->entry_no++;
	*e = &r->cur;
	return 0;
}

void cf_tree_reader_free(struct cf_tree_reader *r)
{
	if (!r)
		return;
	free(r->owned);
	free(r->refs);
	free(r);
}

/* ---------------------------------------------------------------------------------- */
/* Tar stream                                                                          */

struct filter_path {
	char *path;
	size_t len;
	size_t orig; /* index in the caller's array */
	int matched;
};

enum ts_state { TS_NEXT, TS_HEADER, TS_BODY, TS_PAD, TS_END, TS_DONE };

struct cf_tarstream {
	struct cf_tree_reader *r;
	cf_chunk_fetch_fn fetch;
	void *ctx;

	enum ts_state state;
	const struct cf_archive_entry *e;
	size_t off;     /* bytes of the header / chunk / padding / end already emitted */
	size_t ref;     /* current chunk */
	uint8_t *chunk; /* its plaintext, while being emitted */
	size_t pad;     /* zero bytes after the body */

	const struct cf_body_source *bsrc; /* CHUNKLIST bodies; NULL: not supported */
	void *bctx;
	void *bh; /* the open CHUNKLIST body */
	uint64_t boff;

	struct filter_path *filter;
	size_t nfilter;
	int started;
	int err; /* sticky */
	struct cf_tarstream_stats st;
};

int cf_tarstream_new(struct cf_tarstream **out, struct cf_tree_reader *r, cf_chunk_fetch_fn fetch,
                     void *ctx)
{
	struct cf_tarstream *s;

	if (!out || !r || !fetch)
		return CF_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->r = r;
	s->fetch = fetch;
	s->ctx = ctx;
	s->state = TS_NEXT;
	*out = s;
	return 0;
}

static int filter_cmp(const void *a, const void *b)
{
	const struct filter_path *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->path, y->path, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void filter_free(struct filter_path *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		free(f[i].path);
	free(f);
}

int cf_tarstream_set_body_source(struct cf_tarstream *s, const struct cf_body_source *src,
                                 void *ctx)
{
	if (!s || !src || !src->open || !src->read || !src->close || s->started)
		return CF_E_INVAL;
	s->bsrc = src;
	s->bctx = ctx;
	return 0;
}

int cf_tarstream_set_filter(struct cf_tarstream *s, const char *const *paths, size_t n)
{
	struct filter_path *f;

	if (!s || !paths || n == 0 || s->started || s->filter)
		return CF_E_INVAL;
	f = calloc(n, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = paths[i] ? strlen(paths[i]) : 0;

		while (len > 1 && paths[i][len - 1] == '/')
			len--;
		if (!paths[i] || cf_archive_path_check(paths[i], len) != 0) {
			char shown[256];

			cf_log_err("invalid path \"%s\" to select from the snapshot",
			           cf_archive_printable(paths[i], shown, sizeof(shown)));
			filter_free(f, n);
			return CF_E_INVAL;
		}
		f[i].path = strndup(paths[i], len);
		if (!f[i].path) {
			filter_free(f, n);
			return -ENOMEM;
		}
		f[i].len = len;
		f[i].orig = i;
	}
	qsort(f, n, sizeof(*f), filter_cmp);
	s->filter = f;
	s->nfilter = n;
	return 0;
}

int cf_tarstream_filter_matched(const struct cf_tarstream *s, size_t i)
{
	if (!s)
		return 0;
	for (size_t k = 0; k < s->nfilter; k++)
		if (s->filter[k].orig == i)
			return s->filter[k].matched;
	return 0;
}

/* Does the filter select @path: the path itself or one of its ancestors is listed? */
static int selected(struct cf_tarstream *s, const char *path)
{
	size_t len = strlen(path);
	int hit = 0;

	if (!s->filter)
		return 1;
	for (size_t cut = 1; cut <= len; cut++) {
		struct filter_path key, *f;

		if (cut < len && path[cut] != '/')
			continue;
		key.path = (char *)path;
		key.len = cut;
		f = bsearch(&key, s->filter, s->nfilter, sizeof(*f), filter_cmp);
		if (f) {
			/* equal filter paths sort together: mark every copy */
			size_t at = (size_t)(f - s->filter), lo = at, hi = at + 1;

			while (lo > 0 && !filter_cmp(&s->filter[lo - 1], &key))
				lo--;
			while (hi < s->nfilter && !filter_cmp(&s->filter[hi], &key))
				hi++;
			for (size_t k = lo; k < hi; k++)
				s->filter[k].matched = 1;
			hit = 1;
		}
	}
	return hit;
}

static int ts_fail(struct cf_tarstream *s, int err)
{
	s->err = err;
	free(s->chunk);
	s->chunk = NULL;
	if (s->bh)
		s->bsrc->close(s->bh);
	s->bh = NULL;
	return err;
}

/* TS_BODY of a CHUNKLIST body: up to @len bytes from the body source. */
static int ts_chunklist(struct cf_tarstream *s, uint8_t *out, size_t len, size_t *n)
{
	const struct cf_archive_entry *e = s->e;
	uint64_t left = e->size - s->boff;
	size_t got = 0;
	int ret;

	if (!s->bh) {
		ret = s->bsrc->open(s->bctx, e, &s->bh);
		if (ret)
			return ret;
		s->boff = 0;
		left = e->size;
	}
	if (len > left)
		len = (size_t)left;
	ret = s->bsrc->read(s->bh, out, len, &got);
	if (ret)
		return ret;
	if (got != len) {
		char shown[256];

		cf_log_err("\"%s\": the body ended after %llu of %llu bytes",
		           cf_archive_printable(e->path, shown, sizeof(shown)),
		           (unsigned long long)(s->boff + got), (unsigned long long)e->size);
		return CF_E_CORRUPT;
	}
	s->boff += got;
	*n = got;
	return 0;
}

int cf_tarstream_read(struct cf_tarstream *s, void *buf, size_t len, size_t *got)
{
	uint8_t *out = buf;
	size_t done = 0, n;
	int ret;

	if (!s || !got || (len && !buf))
		return CF_E_INVAL;
	if (s->err)
		return s->err;
	s->started = 1;
	while (done < len && s->state != TS_DONE) {
		const struct cf_archive_entry *e = s->e;

		switch (s->state) {
		case TS_NEXT:
			ret = cf_tree_reader_next(s->r, &s->e);
			if (ret)
				return ts_fail(s, ret);
			s->off = 0;
			if (!s->e) {
				s->state = TS_END;
				break;
			}
			if (!selected(s, s->e->path))
				break;
			if (s->e->body == CF_ARCHIVE_BODY_CHUNKLIST && !s->bsrc) {
				char shown[256];

				cf_log_err("\"%s\": large-body chunk lists need a newer Coffer",
				           cf_archive_printable(s->e->path, shown, sizeof(shown)));
				return ts_fail(s, CF_E_VERSION);
			}
			s->state = TS_HEADER;
			if (s->e->type == CF_ARCHIVE_DIR)
				s->st.dirs++;
			else
				s->st.files++;
			break;
		case TS_HEADER:
			n = e->header_len - s->off;
			if (n > len - done)
				n = len - done;
			memcpy(out + done, e->header + s->off, n);
			done += n;
			s->off += n;
			if (s->off == e->header_len) {
				s->state = TS_BODY;
				s->ref = 0;
				s->off = 0;
			}
			break;
		case TS_BODY:
			if (e->body == CF_ARCHIVE_BODY_CHUNKLIST) {
				n = 0;
				if (s->bh && s->boff == e->size) {
					s->bsrc->close(s->bh);
					s->bh = NULL;
					s->pad = (CF_TAR_BLOCK - e->size % CF_TAR_BLOCK) %
					         CF_TAR_BLOCK;
					s->state = TS_PAD;
					break;
				}
				if (e->size == 0) {
					s->pad = 0;
					s->state = TS_PAD;
					break;
				}
				ret = ts_chunklist(s, out + done, len - done, &n);
				if (ret)
					return ts_fail(s, ret);
				done += n;
				s->st.body_bytes += n;
				break;
			}
			if (s->ref == e->nrefs) {
				s->pad = (CF_TAR_BLOCK - e->size % CF_TAR_BLOCK) % CF_TAR_BLOCK;
				s->state = TS_PAD;
				break;
			}
			if (!s->chunk) {
				uint8_t *data = NULL;

				ret = s->fetch(s->ctx, e->refs[s->ref].id, e->refs[s->ref].len,
				               &data);
				if (ret)
					return ts_fail(s, ret);
				if (!data)
					return ts_fail(s, CF_E_INVAL);
				s->chunk = data;
				s->off = 0;
			}
			n = e->refs[s->ref].len - s->off;
			if (n > len - done)
				n = len - done;
			memcpy(out + done, s->chunk + s->off, n);
			done += n;
			s->off += n;
			s->st.body_bytes += n;
			if (s->off == e->refs[s->ref].len) {
				free(s->chunk);
				s->chunk = NULL;
				s->ref++;
				s->off = 0;
			}
			break;
		case TS_PAD:
			n = s->pad < len - done ? s->pad : len - done;
			memset(out + done, 0, n);
			done += n;
			s->pad -= n;
			if (s->pad == 0)
				s->state = TS_NEXT;
			break;
		case TS_END:
			n = 2 * CF_TAR_BLOCK - s->off;
			if (n > len - done)
				n = len - done;
			memset(out + done, 0, n);
			done += n;
			s->off += n;
			if (s->off == 2 * CF_TAR_BLOCK)
				s->state = TS_DONE;
			break;
		case TS_DONE:
			break;
		}
	}
	s->st.stream_bytes += done;
	*got = done;
	return 0;
}

int cf_tarstream_pull(void *stream, void *buf, size_t len, size_t *got)
{
	return cf_tarstream_read(stream, buf, len, got);
}

int cf_tarstream_export(struct cf_tarstream *s, int fd)
{
	const size_t bufsz = 256u << 10;
	uint8_t *buf;
	size_t got;
	int ret = 0;

	if (!s || fd < 0)
		return CF_E_INVAL;
	buf = malloc(bufsz);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ret = cf_tarstream_read(s, buf, bufsz, &got);
		if (ret || got == 0)
			break;
		for (size_t off = 0; off < got;) {
			ssize_t w = write(fd, buf + off, got - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				ret = w < 0 ? -errno : -EIO;
				cf_log_err("cannot write the tar stream: %s", strerror(-ret));
				goto out;
			}
			off += (size_t)w;
		}
	}
out:
	free(buf);
	return ret;
}

void cf_tarstream_get_stats(const struct cf_tarstream *s, struct cf_tarstream_stats *st)
{
	if (!st)
		return;
	if (!s) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = s->st;
}

void cf_tarstream_free(struct cf_tarstream *s)
{
	if (!s)
		return;
	free(s->chunk);
	if (s->bh)
		s->bsrc->close(s->bh);
	filter_free(s->filter, s->nfilter);
	free(s);
}
