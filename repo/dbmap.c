/* SPDX-License-Identifier: ISC */
/* Database page maps: encoder, streaming reader, reference walk (repo/dbmap.h). */
#include "repo/dbmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

#define MAGIC "CFDM"
#define VERSION 1
#define KIND_ROOT 1
#define KIND_NODE 2
#define HDR 12                        /* magic, version, kind, reserved u16, page size u32 */
#define ROOT_FIXED (HDR + 8 + 4)      /* + pages u64 + n u32 */
#define ROOT_ITEM (CF_BLOB_ID_BYTES + 4)
#define NODE_FIXED (HDR + 4)          /* + n u32 */
#define EXT_BYTES (4 + CF_BLOB_ID_BYTES + 2 + 2)

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

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int page_size_ok(uint32_t ps)
{
	return ps >= CF_DBMAP_PAGE_MIN && ps <= CF_DBMAP_PAGE_MAX && (ps & (ps - 1)) == 0;
}

static void header(uint8_t *p, uint8_t kind, uint32_t page_size)
{
	memcpy(p, MAGIC, 4);
	p[4] = VERSION;
	p[5] = kind;
	put16(p + 6, 0);
	put32(p + 8, page_size);
}

/* Check a header of @kind; returns 0 or a code (logged by the caller). */
static int header_check(const uint8_t *p, size_t len, uint8_t kind, uint32_t *page_size)
{
	if (len < HDR)
		return CF_E_TRUNCATED;
	if (memcmp(p, MAGIC, 4) != 0)
		return CF_E_FORMAT;
	if (p[4] != VERSION)
		return CF_E_VERSION;
	if (p[5] != kind || get16(p + 6) != 0 || !page_size_ok(get32(p + 8)))
		return CF_E_CORRUPT;
	*page_size = get32(p + 8);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Writer                                                                              */

struct ext {
	uint32_t count;
	struct cf_dbmap_loc loc; /* of the extent's first page */
};

struct cf_dbmap_writer {
	uint32_t page_size;
	cf_dbmap_put_fn put;
	void *ctx;
	uint64_t pages;      /* added so far */
	uint32_t node_pages; /* in the current node */
	struct ext *ext;     /* of the current node */
	size_t next, ecap;
	uint8_t *root; /* ROOT_ITEM per stored node */
	size_t nroot, rcap;
};

int cf_dbmap_writer_new(struct cf_dbmap_writer **out, uint32_t page_size, cf_dbmap_put_fn put,
                        void *ctx)
{
	struct cf_dbmap_writer *w;

	if (!out || !put || !page_size_ok(page_size))
		return CF_E_INVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->page_size = page_size;
	w->put = put;
	w->ctx = ctx;
	*out = w;
	return 0;
}

void cf_dbmap_writer_free(struct cf_dbmap_writer *w)
{
	if (!w)
		return;
	free(w->ext);
	free(w->root);
	free(w);
}

static int store_node(struct cf_dbmap_writer *w)
{
	uint8_t *buf, *p, id[CF_BLOB_ID_BYTES];
	size_t len = NODE_FIXED + w->next * EXT_BYTES;
	int r;

	if (w->nroot == w->rcap) {
		size_t cap = w->rcap ? w->rcap * 2 : 8;
		uint8_t *nr = realloc(w->root, cap * ROOT_ITEM);
		if (!nr)
			return -ENOMEM;
		w->root = nr;
		w->rcap = cap;
	}
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	header(buf, KIND_NODE, w->page_size);
	put32(buf + HDR, (uint32_t)w->next);
	p = buf + NODE_FIXED;
	for (size_t i = 0; i < w->next; i++, p += EXT_BYTES) {
		put32(p, w->ext[i].count);
		memcpy(p + 4, w->ext[i].loc.id, CF_BLOB_ID_BYTES);
		put16(p + 4 + CF_BLOB_ID_BYTES, w->ext[i].loc.bundle_pages);
		put16(p + 6 + CF_BLOB_ID_BYTES, w->ext[i].loc.slot);
	}
	r = w->put(w->ctx, buf, len, id);
	free(buf);
	if (r)
		return r;
	memcpy(w->root + w->nroot * ROOT_ITEM, id, CF_BLOB_ID_BYTES);
	put32(w->root + w->nroot * ROOT_ITEM + CF_BLOB_ID_BYTES, w->node_pages);
	w->nroot++;
	w->next = 0;
	w->node_pages = 0;
	return 0;
}

int cf_dbmap_writer_add(struct cf_dbmap_writer *w, const struct cf_dbmap_loc *loc)
{
	struct ext *last;

	if (!w || !loc || loc->bundle_pages == 0 || loc->bundle_pages > CF_DBMAP_BUNDLE_PAGES ||
	    loc->slot >= loc->bundle_pages)
		return CF_E_INVAL;
	last = w->next ? &w->ext[w->next - 1] : NULL;
	if (last && last->loc.bundle_pages == loc->bundle_pages &&
	    (uint32_t)last->loc.slot + last->count == loc->slot &&
	    memcmp(last->loc.id, loc->id, CF_BLOB_ID_BYTES) == 0) {
		last->count++;
	} else {
		if (w->next == w->ecap) {
			size_t cap = w->ecap ? w->ecap * 2 : 64;
			struct ext *ne = realloc(w->ext, cap * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			w->ext = ne;
			w->ecap = cap;
		}
		w->ext[w->next].count = 1;
		w->ext[w->next].loc = *loc;
		w->next++;
	}
	w->pages++;
	w->node_pages++;
	if (w->node_pages == CF_DBMAP_NODE_PAGES)
		return store_node(w);
	return 0;
}

int cf_dbmap_writer_finish(struct cf_dbmap_writer *w, struct cf_archive_ref *root,
                           uint64_t *size)
{
	uint8_t *buf;
	size_t len;
	int r;

	if (!w || !root || !size || w->pages == 0)
		return CF_E_INVAL;
	if (w->node_pages) {
		r = store_node(w);
		if (r)
			return r;
	}
	len = ROOT_FIXED + w->nroot * ROOT_ITEM;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	header(buf, KIND_ROOT, w->page_size);
	for (int i = 0; i < 8; i++)
		buf[HDR + i] = (uint8_t)(w->pages >> (8 * i));
	put32(buf + HDR + 8, (uint32_t)w->nroot);
	memcpy(buf + ROOT_FIXED, w->root, w->nroot * ROOT_ITEM);
	r = w->put(w->ctx, buf, len, root->id);
	free(buf);
	if (r)
		return r;
	root->len = (uint32_t)len;
	*size = w->pages * w->page_size;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Decoding                                                                            */

struct root {
	uint32_t page_size;
	uint64_t pages;
	uint32_t n;
	uint8_t *buf; /* the blob; items at buf + ROOT_FIXED */
};

static int root_load(struct root *rt, const struct cf_archive_ref *ref, cf_dbmap_get_fn get,
                     void *ctx)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t sum = 0;
	int r;

	r = get(ctx, CF_BLOB_CHUNKLIST, ref->id, &buf, &len);
	if (r)
		return r;
	r = header_check(buf, len, KIND_ROOT, &rt->page_size);
	if (!r && len < ROOT_FIXED)
		r = CF_E_TRUNCATED;
	if (!r && len != ref->len)
		r = CF_E_CORRUPT;
	if (!r) {
		rt->pages = 0;
		for (int i = 0; i < 8; i++)
			rt->pages |= (uint64_t)buf[HDR + i] << (8 * i);
		rt->n = get32(buf + HDR + 8);
		if ((len - ROOT_FIXED) / ROOT_ITEM != rt->n || (len - ROOT_FIXED) % ROOT_ITEM)
			r = CF_E_CORRUPT;
	}
	for (uint32_t i = 0; !r && i < rt->n; i++) {
		uint32_t np = get32(buf + ROOT_FIXED + i * ROOT_ITEM + CF_BLOB_ID_BYTES);
		/* every node but the last covers exactly CF_DBMAP_NODE_PAGES pages */
		if (np == 0 || np > CF_DBMAP_NODE_PAGES || (i + 1 < rt->n && np != CF_DBMAP_NODE_PAGES))
			r = CF_E_CORRUPT;
		sum += np;
	}
	if (!r && (sum != rt->pages || rt->pages == 0))
		r = CF_E_CORRUPT;
	if (r) {
		cf_log_err("database page map: the root blob is damaged (%s)", cf_strerror(r));
		free(buf);
		return r;
	}
	rt->buf = buf;
	return 0;
}

/* Load node @i of @rt: *@buf (caller frees) and its extent count. */
static int node_load(const struct root *rt, uint32_t i, cf_dbmap_get_fn get, void *ctx,
                     uint8_t **out, uint32_t *next)
{
	const uint8_t *item = rt->buf + ROOT_FIXED + (size_t)i * ROOT_ITEM;
	uint32_t np = get32(item + CF_BLOB_ID_BYTES), ps = 0, n;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t sum = 0;
	int r;

	r = get(ctx, CF_BLOB_CHUNKLIST, item, &buf, &len);
	if (r)
		return r;
	r = header_check(buf, len, KIND_NODE, &ps);
	if (!r && len < NODE_FIXED)
		r = CF_E_TRUNCATED;
	if (!r && ps != rt->page_size)
		r = CF_E_CORRUPT;
	if (!r) {
		n = get32(buf + HDR);
		if ((len - NODE_FIXED) % EXT_BYTES || (len - NODE_FIXED) / EXT_BYTES != n)
			r = CF_E_CORRUPT;
	}
	for (uint32_t k = 0; !r && k < n; k++) {
		const uint8_t *e = buf + NODE_FIXED + (size_t)k * EXT_BYTES;
		uint32_t cnt = get32(e), bp = get16(e + 4 + CF_BLOB_ID_BYTES),
		         slot = get16(e + 6 + CF_BLOB_ID_BYTES);
		if (cnt == 0 || bp == 0 || bp > CF_DBMAP_BUNDLE_PAGES || slot + cnt > bp)
			r = CF_E_CORRUPT;
		sum += cnt;
	}
	if (!r && sum != np)
		r = CF_E_CORRUPT;
	if (r) {
		cf_log_err("database page map: node %u is damaged (%s)", (unsigned)i, cf_strerror(r));
		free(buf);
		return r;
	}
	*out = buf;
	*next = n;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Reader                                                                              */

struct bundle {
	uint8_t id[CF_BLOB_ID_BYTES];
	uint16_t pages;
	uint8_t *data; /* NULL: slot free */
	uint64_t used; /* LRU clock */
};

struct cf_dbmap_reader {
	cf_dbmap_get_fn get;
	void *ctx;
	struct root rt;
	uint32_t node;  /* current node */
	uint8_t *nbuf;  /* its blob, NULL before the first */
	uint32_t next, ext;   /* extents in it, current extent */
	uint32_t in_ext;      /* pages of the current extent already emitted */
	uint32_t in_page;     /* bytes of the current page already emitted */
	uint64_t pages_done;
	struct bundle cache[CF_DBMAP_CACHE];
	uint64_t clock;
	int err;
};

int cf_dbmap_reader_new(struct cf_dbmap_reader **out, const struct cf_archive_ref *root,
                        uint64_t size, cf_dbmap_get_fn get, void *ctx)
{
	struct cf_dbmap_reader *r;
	int rc;

	if (!out || !root || !get)
		return CF_E_INVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->get = get;
	r->ctx = ctx;
	rc = root_load(&r->rt, root, get, ctx);
	if (!rc && r->rt.pages * r->rt.page_size != size) {
		cf_log_err("database page map: %llu pages of %u bytes, but the entry is %llu bytes",
		           (unsigned long long)r->rt.pages, (unsigned)r->rt.page_size,
		           (unsigned long long)size);
		rc = CF_E_CORRUPT;
	}
	if (rc) {
		cf_dbmap_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void cf_dbmap_reader_free(struct cf_dbmap_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < CF_DBMAP_CACHE; i++)
		free(r->cache[i].data);
	free(r->nbuf);
	free(r->rt.buf);
	free(r);
}

/* The decoded bundle (@id, @pages pages), from the cache or fetched. */
static int bundle_get(struct cf_dbmap_reader *r, const uint8_t *id, uint16_t pages,
                      const uint8_t **data)
{
	struct bundle *victim = &r->cache[0];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	for (size_t i = 0; i < CF_DBMAP_CACHE; i++) {
		struct bundle *b = &r->cache[i];
		if (b->data && b->pages == pages && memcmp(b->id, id, CF_BLOB_ID_BYTES) == 0) {
			b->used = ++r->clock;
			*data = b->data;
			return 0;
		}
		if (!b->data || (victim->data && b->used < victim->used))
			victim = b;
	}
	rc = r->get(r->ctx, CF_BLOB_DATA, id, &buf, &len);
	if (rc)
		return rc;
	if (len != (size_t)pages * r->rt.page_size) {
		cf_log_err("database page map: a bundle holds %zu bytes, the map says %u pages", len,
		           (unsigned)pages);
		free(buf);
		return CF_E_CORRUPT;
	}
	free(victim->data);
	memcpy(victim->id, id, CF_BLOB_ID_BYTES);
	victim->pages = pages;
	victim->data = buf;
	victim->used = ++r->clock;
	*data = buf;
	return 0;
}

int cf_dbmap_reader_read(struct cf_dbmap_reader *r, uint8_t *buf, size_t len, size_t *got)
{
	size_t done = 0;
	int rc = 0;

	if (!r || !got || (len && !buf))
		return CF_E_INVAL;
	if (r->err)
		return r->err;
	while (done < len && r->pages_done < r->rt.pages) {
		const uint8_t *e, *data;
		uint32_t cnt, bp, slot;
		size_t n;

		if (!r->nbuf || r->ext == r->next) {
			free(r->nbuf);
			r->nbuf = NULL;
			if (r->nbuf == NULL && r->pages_done) /* node done: the next one */
				r->node++;
			rc = node_load(&r->rt, r->node, r->get, r->ctx, &r->nbuf, &r->next);
			if (rc)
				break;
			r->ext = 0;
			r->in_ext = 0;
		}
		e = r->nbuf + NODE_FIXED + (size_t)r->ext * EXT_BYTES;
		cnt = get32(e);
		bp = get16(e + 4 + CF_BLOB_ID_BYTES);
		slot = get16(e + 6 + CF_BLOB_ID_BYTES);
		rc = bundle_get(r, e + 4, (uint16_t)bp, &data);
		if (rc)
			break;
		n = r->rt.page_size - r->in_page;
		if (n > len - done)
			n = len - done;
		memcpy(buf + done, data + (size_t)(slot + r->in_ext) * r->rt.page_size + r->in_page, n);
		done += n;
		r->in_page += (uint32_t)n;
		if (r->in_page == r->rt.page_size) {
			r->in_page = 0;
			r->pages_done++;
			if (++r->in_ext == cnt) {
				r->in_ext = 0;
				r->ext++;
			}
		}
	}
	if (rc) {
		r->err = rc;
		return rc;
	}
	*got = done;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Walk, body source                                                                   */

int cf_dbmap_walk(const struct cf_archive_ref *root, cf_dbmap_get_fn get, void *gctx,
                  int (*cb)(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES]),
                  void *ctx)
{
	struct root rt = {0};
	int r;

	if (!root || !get || !cb)
		return CF_E_INVAL;
	r = cb(ctx, CF_BLOB_CHUNKLIST, root->id);
	if (!r)
		r = root_load(&rt, root, get, gctx);
	for (uint32_t i = 0; !r && i < rt.n; i++) {
		uint8_t *nb = NULL;
		uint32_t n = 0;
		r = cb(ctx, CF_BLOB_CHUNKLIST, rt.buf + ROOT_FIXED + (size_t)i * ROOT_ITEM);
		if (!r)
			r = node_load(&rt, i, get, gctx, &nb, &n);
		for (uint32_t k = 0; !r && k < n; k++) {
			const uint8_t *e = nb + NODE_FIXED + (size_t)k * EXT_BYTES;
			/* consecutive extents of one bundle are reported once */
			if (k && memcmp(e + 4, e + 4 - EXT_BYTES, CF_BLOB_ID_BYTES) == 0)
				continue;
			r = cb(ctx, CF_BLOB_DATA, e + 4);
		}
		free(nb);
	}
	free(rt.buf);
	return r;
}

int cf_dbmap_extents(const struct cf_archive_ref *root, uint64_t size, cf_dbmap_get_fn get,
                     void *gctx, cf_dbmap_extent_fn cb, void *ctx)
{
	struct root rt = {0};
	uint64_t page = 0;
	int r;

	if (!root || !get || !cb)
		return CF_E_INVAL;
	r = root_load(&rt, root, get, gctx);
	if (!r && rt.pages * rt.page_size != size) {
		cf_log_err("database page map: %llu pages of %u bytes, but the entry is %llu bytes",
		           (unsigned long long)rt.pages, (unsigned)rt.page_size,
		           (unsigned long long)size);
		r = CF_E_CORRUPT;
	}
	for (uint32_t i = 0; !r && i < rt.n; i++) {
		uint8_t *nb = NULL;
		uint32_t n = 0;

		r = node_load(&rt, i, get, gctx, &nb, &n);
		for (uint32_t k = 0; !r && k < n; k++) {
			const uint8_t *e = nb + NODE_FIXED + (size_t)k * EXT_BYTES;
			struct cf_dbmap_loc loc;
			uint32_t cnt = get32(e);

			memcpy(loc.id, e + 4, CF_BLOB_ID_BYTES);
			loc.bundle_pages = get16(e + 4 + CF_BLOB_ID_BYTES);
			loc.slot = get16(e + 6 + CF_BLOB_ID_BYTES);
			r = cb(ctx, rt.page_size, page, cnt, &loc);
			page += cnt;
		}
		free(nb);
	}
	free(rt.buf);
	return r;
}

static int src_open(void *ctx, const struct cf_archive_entry *e, void **h)
{
	struct cf_dbmap_src *s = ctx;
	struct cf_dbmap_reader *r = NULL;
	int rc;

	if (e->nrefs != 1)
		return CF_E_CORRUPT;
	rc = cf_dbmap_reader_new(&r, &e->refs[0], e->size, s->get, s->ctx);
	if (!rc)
		*h = r;
	return rc;
}

static int src_read(void *h, uint8_t *buf, size_t len, size_t *got)
{
	return cf_dbmap_reader_read(h, buf, len, got);
}

static void src_close(void *h)
{
	cf_dbmap_reader_free(h);
}

static const struct cf_body_source dbmap_source = {src_open, src_read, src_close};

const struct cf_body_source *cf_dbmap_body_source(void)
{
	return &dbmap_source;
}
