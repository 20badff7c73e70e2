/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The page map of a database body (docs/database-chunking.md): a SQLite file kept as
 * pages, each page found in a "bundle" (a DATA blob holding 1..CF_DBMAP_BUNDLE_PAGES
 * whole pages, not necessarily adjacent in the file). The map is a small tree of
 * CHUNKLIST blobs: a root listing nodes, each node covering a fixed range of
 * CF_DBMAP_NODE_PAGES pages as extents "count pages are slots slot.. of bundle id". A
 * node whose pages kept their bundles is byte-identical to the previous snapshot's and
 * costs nothing to store again.
 *
 * The archive entry of such a body has body kind CF_ARCHIVE_BODY_CHUNKLIST and one
 * reference: the root blob (id, length). Every decoder here takes untrusted bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/archive.h"
#include "repo/keys.h"

#define CF_DBMAP_BUNDLE_PAGES 256u   /* pages per bundle at most (1 MiB at 4 KiB) */
#define CF_DBMAP_NODE_PAGES   65536u /* pages covered by one map node (the last: fewer) */
#define CF_DBMAP_PAGE_MIN     512u
#define CF_DBMAP_PAGE_MAX     65536u

/* Where one page lives: slot @slot of the bundle (@id, @bundle_pages pages). */
struct cf_dbmap_loc {
	uint8_t id[CF_BLOB_ID_BYTES];
	uint16_t bundle_pages;
	uint16_t slot;
};

/* Fetch a blob's plaintext (malloc'ed into *@data) — the repository, or a test fake. */
typedef int (*cf_dbmap_get_fn)(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
                               uint8_t **data, size_t *len);
/* Store a CHUNKLIST blob, returning its id. */
typedef int (*cf_dbmap_put_fn)(void *ctx, const uint8_t *data, size_t len,
                               uint8_t id[CF_BLOB_ID_BYTES]);

struct cf_dbmap_writer;

/*
 * cf_dbmap_writer_new - a map encoder for a database of @page_size bytes per page (a
 * power of two in CF_DBMAP_PAGE_MIN..MAX) storing its blobs through @put. Pages are
 * added in order, page 0 first. Sets *@out only on success. Returns 0, CF_E_INVAL, -ENOMEM.
 */
int cf_dbmap_writer_new(struct cf_dbmap_writer **out, uint32_t page_size, cf_dbmap_put_fn put,
                        void *ctx);

/*
 * cf_dbmap_writer_add - the next page lives at @loc. Stores a node when its range is
 * complete. Returns 0, CF_E_INVAL (bad location), an error of @put, -ENOMEM.
 */
int cf_dbmap_writer_add(struct cf_dbmap_writer *w, const struct cf_dbmap_loc *loc);

/*
 * cf_dbmap_writer_finish - store the last node and the root; *@root is the reference an
 * archive entry carries (id and plaintext length of the root blob), *@size the body size
 * (pages x page size). Returns 0, CF_E_INVAL (no page), an error of @put, -ENOMEM.
 */
int cf_dbmap_writer_finish(struct cf_dbmap_writer *w, struct cf_archive_ref *root,
                           uint64_t *size);

/* cf_dbmap_writer_free - release @w. Accepts NULL. */
void cf_dbmap_writer_free(struct cf_dbmap_writer *w);

struct cf_dbmap_reader;

/*
 * cf_dbmap_reader_new - read the body whose map root is @root, which must describe
 * exactly @size bytes, fetching blobs through @get. Keeps a few decoded bundles (at most
 * CF_DBMAP_CACHE of them) so each is normally fetched once. Sets *@out only on success.
 * Returns 0; CF_E_CORRUPT / CF_E_FORMAT / CF_E_VERSION / CF_E_TRUNCATED for a bad root
 * (logged); errors of @get; -ENOMEM.
 */
#define CF_DBMAP_CACHE 16u
int cf_dbmap_reader_new(struct cf_dbmap_reader **out, const struct cf_archive_ref *root,
                        uint64_t size, cf_dbmap_get_fn get, void *ctx);

/*
 * cf_dbmap_reader_read - the next up to @len bytes of the body into @buf; *@got is less
 * than @len only at its end. Returns 0 or an error (bad node or bundle: CF_E_CORRUPT
 * etc., logged; errors of @get). Errors are sticky.
 */
int cf_dbmap_reader_read(struct cf_dbmap_reader *r, uint8_t *buf, size_t len, size_t *got);

/* cf_dbmap_reader_free - release @r. Accepts NULL. */
void cf_dbmap_reader_free(struct cf_dbmap_reader *r);

/*
 * cf_dbmap_walk - call @cb once for the root, once per node (CF_BLOB_CHUNKLIST) and once
 * per bundle reference of each node (CF_BLOB_DATA; a bundle used by several extents of a
 * node is reported once per node), fetching the root and nodes through @get. For prune
 * and check: everything a database body keeps alive. Returns 0, decode errors, errors of
 * @get or @cb.
 */
int cf_dbmap_walk(const struct cf_archive_ref *root, cf_dbmap_get_fn get, void *gctx,
                  int (*cb)(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES]),
                  void *ctx);

/*
 * cf_dbmap_extent_fn - @count pages of the body, from page @page on (pages of @page_size
 * bytes), are slots @loc->slot .. @loc->slot + @count - 1 of bundle @loc->id, which holds
 * @loc->bundle_pages pages. Return 0 to go on, anything else to stop with that value.
 */
typedef int (*cf_dbmap_extent_fn)(void *ctx, uint32_t page_size, uint64_t page, uint32_t count,
                                  const struct cf_dbmap_loc *loc);

/*
 * cf_dbmap_extents - decode the map whose root is @root, which must describe exactly
 * @size bytes, fetching the root and nodes (never the bundles) through @get, and call @cb
 * for every extent in page order: together they cover pages 0 .. pages-1 once each. Every
 * extent is checked as cf_dbmap_reader checks it (1 <= bundle pages <= 256, slot + count
 * <= bundle pages); the bundles' lengths are the caller's to check. For restorers that
 * fetch bundles themselves (restore/plan.c). Returns 0; CF_E_CORRUPT / CF_E_FORMAT /
 * CF_E_VERSION / CF_E_TRUNCATED (logged); errors of @get or @cb; CF_E_INVAL.
 */
int cf_dbmap_extents(const struct cf_archive_ref *root, uint64_t size, cf_dbmap_get_fn get,
                     void *gctx, cf_dbmap_extent_fn cb, void *ctx);

/*
 * cf_dbmap_body_source - a cf_tarstream body source for CHUNKLIST bodies over @get: set
 * it with cf_tarstream_set_body_source(s, cf_dbmap_body_source(), &dbmap_ctx) where the
 * context is a struct cf_dbmap_src.
 */
struct cf_dbmap_src {
	cf_dbmap_get_fn get;
	void *ctx;
};
const struct cf_body_source *cf_dbmap_body_source(void);
