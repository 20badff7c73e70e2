/* SPDX-License-Identifier: ISC */
/* repo/dbmap.h: page maps written, read back page by page, walked; damaged maps refused. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "core/hash.h"
#include "repo/dbmap.h"
#include "tests/lib/check.h"

#define PS 512u
#define MAXB 4096

/* A blob store in memory: id = BLAKE2b-256 of (type || data). */
static struct {
	uint8_t type, id[32];
	uint8_t *data;
	size_t len;
} blobs[MAXB];
static size_t nblobs;
static int gets; /* fetches, to see the bundle cache at work */

static void blob_id(uint8_t type, const uint8_t *d, size_t len, uint8_t id[32])
{
	uint8_t *t = malloc(len + 1);

	t[0] = type;
	memcpy(t + 1, d, len);
	cf_hash_blake2b(id, 32, NULL, t, len + 1);
	free(t);
}

static void store(uint8_t type, const uint8_t *d, size_t len, uint8_t id[32])
{
	blob_id(type, d, len, id);
	for (size_t i = 0; i < nblobs; i++)
		if (blobs[i].type == type && !memcmp(blobs[i].id, id, 32))
			return;
	REQUIRE(nblobs < MAXB);
	blobs[nblobs].type = type;
	memcpy(blobs[nblobs].id, id, 32);
	blobs[nblobs].data = malloc(len);
	memcpy(blobs[nblobs].data, d, len);
	blobs[nblobs].len = len;
	nblobs++;
}

static int put(void *ctx, const uint8_t *d, size_t len, uint8_t id[32])
{
	(void)ctx;
	store(CF_BLOB_CHUNKLIST, d, len, id);
	return 0;
}

static int get(void *ctx, uint8_t type, const uint8_t id[32], uint8_t **data, size_t *len)
{
	(void)ctx;
	gets++;
	for (size_t i = 0; i < nblobs; i++)
		if (blobs[i].type == type && !memcmp(blobs[i].id, id, 32)) {
			*data = malloc(blobs[i].len ? blobs[i].len : 1);
			memcpy(*data, blobs[i].data, blobs[i].len);
			*len = blobs[i].len;
			return 0;
		}
	return CF_E_NOTFOUND;
}


/* The content of page @p in "version" @v: depends on both. */
static void page(uint8_t *out, uint64_t p, int v)
{
	for (size_t i = 0; i < PS; i++)
		out[i] = (uint8_t)(p * 131 + i * 7 + (size_t)v * 29 + (i >> 5));
}

/*
 * A database of @np pages: version 0 stored in bundles of 256 consecutive pages; then
 * version 1 changes every page p with p % 7 == 3, the changed pages of each group of 256
 * gathered into one bundle. Returns the root of version 1's map.
 */
static void build(uint64_t np, struct cf_archive_ref *root, uint64_t *size)
{
	struct cf_dbmap_writer *w = NULL;
	uint8_t *buf = malloc((size_t)CF_DBMAP_BUNDLE_PAGES * PS);
	uint8_t id0[32], id1[32];

	REQUIRE(cf_dbmap_writer_new(&w, PS, put, NULL) == 0);
	for (uint64_t g = 0; g * CF_DBMAP_BUNDLE_PAGES < np; g++) {
		uint64_t first = g * CF_DBMAP_BUNDLE_PAGES;
		uint16_t n = (uint16_t)(np - first < CF_DBMAP_BUNDLE_PAGES ? np - first
		                                                           : CF_DBMAP_BUNDLE_PAGES);
		uint16_t k = 0, slot = 0;
		for (uint16_t i = 0; i < n; i++)
			page(buf + (size_t)i * PS, first + i, 0);
		store(CF_BLOB_DATA, buf, (size_t)n * PS, id0);
		for (uint16_t i = 0; i < n; i++)
			if ((first + i) % 7 == 3)
				page(buf + (size_t)k++ * PS, first + i, 1);
		if (k)
			store(CF_BLOB_DATA, buf, (size_t)k * PS, id1);
		for (uint16_t i = 0; i < n; i++) {
			struct cf_dbmap_loc loc;
			int changed = (first + i) % 7 == 3;
			memcpy(loc.id, changed ? id1 : id0, 32);
			loc.bundle_pages = changed ? k : n;
			loc.slot = changed ? slot++ : i;
			CHECK_RC(cf_dbmap_writer_add(w, &loc), 0);
		}
	}
	CHECK_RC(cf_dbmap_writer_finish(w, root, size), 0);
	cf_dbmap_writer_free(w);
	free(buf);
}

static void read_back(uint64_t np)
{
	struct cf_archive_ref root;
	struct cf_dbmap_reader *r = NULL;
	uint64_t size = 0, p = 0;
	uint8_t want[PS], *buf = malloc(3000);
	size_t got, have = 0;
	int rc;

	build(np, &root, &size);
	CHECK(size == np * PS);
	gets = 0;
	REQUIRE(cf_dbmap_reader_new(&r, &root, size, get, NULL) == 0);
	/* odd read sizes: pages cross read boundaries */
	uint8_t *acc = malloc(PS);
	while ((rc = cf_dbmap_reader_read(r, buf, 3000, &got)) == 0 && got) {
		for (size_t i = 0; i < got; i++) {
			acc[have++] = buf[i];
			if (have == PS) {
				page(want, p, p % 7 == 3);
				CHECK(memcmp(acc, want, PS) == 0);
				p++;
				have = 0;
			}
		}
	}
	CHECK_RC(rc, 0);
	CHECK(p == np && have == 0);
	/* each bundle fetched once: two per group plus the nodes and the root */
	CHECK(gets <= (int)(2 * ((np + 255) / 256) + (np + 65535) / 65536 + 1));
	cf_dbmap_reader_free(r);
	/* a wrong size is refused */
	CHECK_RC(cf_dbmap_reader_new(&r, &root, size + PS, get, NULL), CF_E_CORRUPT);
	free(acc);
	free(buf);
}

static int walk_n[4];
static int count_cb(void *ctx, uint8_t type, const uint8_t id[32])
{
	(void)ctx;
	(void)id;
	walk_n[type]++;
	return 0;
}

static void walk(void)
{
	struct cf_archive_ref root;
	uint64_t size;

	build(70000, &root, &size); /* two nodes */
	memset(walk_n, 0, sizeof(walk_n));
	CHECK_RC(cf_dbmap_walk(&root, get, NULL, count_cb, NULL), 0);
	CHECK(walk_n[CF_BLOB_CHUNKLIST] == 3);
	/* every group has an old and a new bundle; extents alternate between them */
	CHECK(walk_n[CF_BLOB_DATA] >= 2 * ((70000 + 255) / 256));
}

/* Damage: flip bytes of the root blob (stored under a new id) and read. */
static void damaged(void)
{
	struct cf_archive_ref root, bad;
	struct cf_dbmap_reader *r = NULL;
	uint64_t size;
	uint8_t *d = NULL;
	size_t len = 0;

	build(1000, &root, &size);
	REQUIRE(get(NULL, CF_BLOB_CHUNKLIST, root.id, &d, &len) == 0);
	const size_t at[] = {0, 4, 5, 9, 12, 20, 24 + 32};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint8_t *c = malloc(len);
		memcpy(c, d, len);
		c[at[i]] ^= 0x40;
		store(CF_BLOB_CHUNKLIST, c, len, bad.id);
		bad.len = (uint32_t)len;
		int rc = cf_dbmap_reader_new(&r, &bad, size, get, NULL);
		CHECK(rc == CF_E_CORRUPT || rc == CF_E_FORMAT || rc == CF_E_VERSION);
		if (!rc)
			cf_dbmap_reader_free(r);
		free(c);
	}
	/* truncated root, and a root whose recorded length differs */
	store(CF_BLOB_CHUNKLIST, d, 10, bad.id);
	bad.len = 10;
	CHECK_RC(cf_dbmap_reader_new(&r, &bad, size, get, NULL), CF_E_TRUNCATED);
	bad = root;
	bad.len++;
	CHECK_RC(cf_dbmap_reader_new(&r, &bad, size, get, NULL), CF_E_CORRUPT);
	free(d);
}

static void writer_args(void)
{
	struct cf_dbmap_writer *w = NULL;
	struct cf_dbmap_loc loc = {.bundle_pages = 2, .slot = 2};
	struct cf_archive_ref root;
	uint64_t size;

	CHECK_RC(cf_dbmap_writer_new(&w, 1000, put, NULL), CF_E_INVAL);
	CHECK_RC(cf_dbmap_writer_new(&w, 256, put, NULL), CF_E_INVAL);
	REQUIRE(cf_dbmap_writer_new(&w, 4096, put, NULL) == 0);
	CHECK_RC(cf_dbmap_writer_add(w, &loc), CF_E_INVAL); /* slot beyond the bundle */
	loc.bundle_pages = CF_DBMAP_BUNDLE_PAGES + 1;
	loc.slot = 0;
	CHECK_RC(cf_dbmap_writer_add(w, &loc), CF_E_INVAL);
	CHECK_RC(cf_dbmap_writer_finish(w, &root, &size), CF_E_INVAL); /* no page */
	cf_dbmap_writer_free(w);
	cf_dbmap_writer_free(NULL);
	cf_dbmap_reader_free(NULL);
}

int main(void)
{
	REQUIRE(cf_core_init() == 0);
	read_back(1);
	read_back(300);
	read_back(CF_DBMAP_NODE_PAGES + 513);
	walk();
	damaged();
	writer_args();
	for (size_t i = 0; i < nblobs; i++)
		free(blobs[i].data);
	return check_finish();
}
