/* SPDX-License-Identifier: ISC */
/*
 * Tests of the parallel restorer (restore/plan.h, restore/pool.h) over an in-memory blob
 * store: a tree of files (several chunks each), folders (one read-only), pax times and a
 * database body whose page map scatters pages over bundles (permuted slots, one bundle
 * used by several extents) is restored with 1, 2 and 4 workers and compared, byte, mode
 * and time, with what the tar stream path (cf_extract_stream) makes of the same tree, and
 * with the expected bytes; each bundle must be fetched once. Then failures: a missing
 * blob, a blob of the wrong length, a setuid header, a file where a folder was restored;
 * --path selection; a path that comes twice; a stop request. Direct writes: files whose
 * chunk boundaries make partial pages at the pieces' ends, pieces shorter than a page,
 * exact page multiples and pieces longer than a direct step, restored direct, buffered,
 * and with O_DIRECT refused at open or on a write, all identical to the tar path, with
 * the direct byte count the page-granular split predicts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/archive.h"
#include "repo/dbmap.h"
#include "restore/extract.h"
#include "restore/plan.h"
#include "restore/pool.h"
#include "tests/lib/check.h"
#include "util/log.h"

#define MAX_BLOBS 512
#define PS 512u       /* database page size */
#define DB_PAGES 700u /* three groups of 256 pages (and a partial one) */

struct blob {
	uint8_t id[CF_BLOB_ID_BYTES];
	uint8_t type;
	uint8_t *data;
	size_t len;
	_Atomic unsigned gets;
};

static struct blob store[MAX_BLOBS];
static size_t nstore;
static uint8_t fail_id[CF_BLOB_ID_BYTES];   /* a blob whose fetch fails (CF_E_AUTH) */
static int fail_slow;                       /* ... after 0.1 s */
static uint8_t short_id[CF_BLOB_ID_BYTES];  /* a blob that comes back one byte short */
static char *base;

static void put_blob(uint8_t type, const uint8_t *data, size_t len, uint8_t id[CF_BLOB_ID_BYTES])
{
	struct blob *b;

	REQUIRE(nstore < MAX_BLOBS);
	b = &store[nstore];
	memset(b->id, 0xa5, CF_BLOB_ID_BYTES);
	b->id[0] = (uint8_t)(nstore >> 8);
	b->id[1] = (uint8_t)nstore;
	b->id[2] = type;
	b->type = type;
	b->data = malloc(len ? len : 1);
	REQUIRE(b->data);
	memcpy(b->data, data, len);
	b->len = len;
	atomic_init(&b->gets, 0);
	memcpy(id, b->id, CF_BLOB_ID_BYTES);
	nstore++;
}

static struct blob *find(const uint8_t id[CF_BLOB_ID_BYTES])
{
	for (size_t i = 0; i < nstore; i++)
		if (!memcmp(store[i].id, id, CF_BLOB_ID_BYTES))
			return &store[i];
	return NULL;
}

/* cf_dbmap_get_fn over the store; thread-safe (the store is not changed meanwhile). */
static int fake_get(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES], uint8_t **data,
                    size_t *len)
{
	struct blob *b = find(id);

	(void)ctx;
	if (!b || b->type != type)
		return CF_E_NOTFOUND;
	if (!memcmp(id, fail_id, CF_BLOB_ID_BYTES)) {
		if (fail_slow) /* let the workers fetch the chunks after it first */
			nanosleep(&(struct timespec){.tv_nsec = 100000000L}, NULL);
		return CF_E_AUTH;
	}
	atomic_fetch_add(&b->gets, 1);
	*len = b->len - (memcmp(id, short_id, CF_BLOB_ID_BYTES) ? 0 : 1);
	*data = malloc(b->len ? b->len : 1);
	REQUIRE(*data);
	memcpy(*data, b->data, *len);
	return 0;
}

static int fetch_chunk(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len, uint8_t **data)
{
	size_t got = 0;
	int rc = fake_get(ctx, CF_BLOB_DATA, id, data, &got);

	if (!rc && got != len) {
		free(*data);
		return CF_E_CORRUPT;
	}
	return rc;
}

static int put_chunklist(void *ctx, const uint8_t *data, size_t len, uint8_t id[CF_BLOB_ID_BYTES])
{
	(void)ctx;
	put_blob(CF_BLOB_CHUNKLIST, data, len, id);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Building trees                                                                      */

struct tree {
	uint8_t *pieces[64];
	size_t lens[64], n;
	struct cf_tree_writer *w;
};

static int emit(void *ctx, const uint8_t *piece, size_t len)
{
	struct tree *t = ctx;

	REQUIRE(t->n < 64);
	t->pieces[t->n] = malloc(len);
	REQUIRE(t->pieces[t->n]);
	memcpy(t->pieces[t->n], piece, len);
	t->lens[t->n++] = len;
	return 0;
}

static void tree_open(struct tree *t)
{
	memset(t, 0, sizeof(*t));
	REQUIRE(cf_tree_writer_new(&t->w, 4096, emit, t) == 0); /* small pieces: several */
}

static void tree_close(struct tree *t)
{
	REQUIRE(cf_tree_writer_finish(t->w, NULL) == 0);
	cf_tree_writer_free(t->w);
	t->w = NULL;
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->pieces[i]);
}

/* Fix the checksum of the ustar block @b after a change. */
static void ustar_sum(uint8_t *b)
{
	unsigned sum = 0;

	memset(b + 148, ' ', 8);
	for (size_t i = 0; i < CF_TAR_BLOCK; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	b[155] = ' ';
}

/* Add an entry; @mode_field (may be NULL) replaces the ustar mode field's text. */
static void add(struct tree *t, const char *path, uint8_t type, uint32_t mode, int64_t mtime,
                const struct cf_archive_ref *refs, size_t nrefs, uint8_t body, uint64_t size,
                const char *mode_field)
{
	static uint8_t hdr[CF_ARCHIVE_HEADER_MAX];
	struct cf_archive_entry e = {.path = path, .type = type, .body = body, .mode = mode,
	                             .size = size, .mtime = mtime, .refs = refs, .nrefs = nrefs};
	size_t hl = 0;

	REQUIRE(cf_archive_header(&e, hdr, sizeof(hdr), &hl) == 0);
	if (mode_field) {
		memcpy(hdr + hl - CF_TAR_BLOCK + 100, mode_field, 8);
		ustar_sum(hdr + hl - CF_TAR_BLOCK);
	}
	e.header = hdr;
	e.header_len = hl;
	REQUIRE(cf_tree_writer_add(t->w, &e) == 0);
}

/* A file of @len pseudo-random bytes (@seed) cut into chunks of the lengths in @cuts. */
static void add_file(struct tree *t, const char *path, uint32_t mode, int64_t mtime, size_t len,
                     unsigned seed, const size_t *cuts, size_t ncuts)
{
	struct cf_archive_ref refs[16];
	uint8_t *buf = malloc(len ? len : 1);
	size_t off = 0, n = 0;

	REQUIRE(buf && ncuts <= 16);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
	for (size_t i = 0; i < ncuts && off < len; i++) {
		put_blob(CF_BLOB_DATA, buf + off, cuts[i], refs[n].id);
		refs[n++].len = (uint32_t)cuts[i];
		off += cuts[i];
	}
	REQUIRE(off == len);
	add(t, path, CF_ARCHIVE_FILE, mode, mtime, refs, n, CF_ARCHIVE_BODY_REFS, len, NULL);
	free(buf);
}

static uint8_t db_expect[DB_PAGES * PS];

/*
 * The database: page p holds bytes derived from p. Group 0 is one bundle in order;
 * group 1 takes its pages from two bundles, alternating, in reversed slot order within
 * runs; group 2 is a bundle whose slots are a permutation; the tail group one bundle.
 */
static void add_db(struct tree *t, const char *path)
{
	struct cf_dbmap_writer *w = NULL;
	struct cf_dbmap_loc loc[DB_PAGES];
	struct cf_archive_ref root;
	uint8_t *bundle = malloc(256 * PS);
	uint64_t size = 0;

	REQUIRE(bundle);
	for (uint32_t p = 0; p < DB_PAGES; p++)
		for (uint32_t i = 0; i < PS; i++)
			db_expect[p * PS + i] = (uint8_t)(p * 7 + i / 3 + (i & 1) * p);
	/* group 0: pages 0..255 in order */
	put_blob(CF_BLOB_DATA, db_expect, 256 * PS, loc[0].id);
	for (uint32_t p = 0; p < 256; p++) {
		loc[p] = loc[0];
		loc[p].bundle_pages = 256;
		loc[p].slot = (uint16_t)p;
	}
	/* group 1: even pages from bundle A (slots reversed), odd pages from bundle B */
	{
		uint8_t ida[CF_BLOB_ID_BYTES], idb[CF_BLOB_ID_BYTES];

		for (uint32_t k = 0; k < 128; k++) /* A slot k = page 256 + 2 * (127 - k) */
			memcpy(bundle + k * PS, db_expect + (256 + 2 * (127 - k)) * PS, PS);
		put_blob(CF_BLOB_DATA, bundle, 128 * PS, ida);
		for (uint32_t k = 0; k < 128; k++) /* B slot k = page 257 + 2k */
			memcpy(bundle + k * PS, db_expect + (257 + 2 * k) * PS, PS);
		put_blob(CF_BLOB_DATA, bundle, 128 * PS, idb);
		for (uint32_t p = 256; p < 512; p++) {
			uint32_t j = (p - 256) / 2;
			memcpy(loc[p].id, (p & 1) ? idb : ida, CF_BLOB_ID_BYTES);
			loc[p].bundle_pages = 128;
			loc[p].slot = (uint16_t)((p & 1) ? j : 127 - j);
		}
	}
	/* group 2: slot s holds page 512 + (s * 37) % 188 (37 is prime to 188) */
	for (uint32_t s = 0; s < 188; s++)
		memcpy(bundle + s * PS, db_expect + (512 + (s * 37) % 188) * PS, PS);
	put_blob(CF_BLOB_DATA, bundle, 188 * PS, loc[512].id);
	for (uint32_t s = 0; s < 188; s++) {
		uint32_t p = 512 + (s * 37) % 188;
		memcpy(loc[p].id, loc[512].id, CF_BLOB_ID_BYTES);
		loc[p].bundle_pages = 188;
		loc[p].slot = (uint16_t)s;
	}
	REQUIRE(cf_dbmap_writer_new(&w, PS, put_chunklist, NULL) == 0);
	for (uint32_t p = 0; p < DB_PAGES; p++)
		REQUIRE(cf_dbmap_writer_add(w, &loc[p]) == 0);
	REQUIRE(cf_dbmap_writer_finish(w, &root, &size) == 0);
	cf_dbmap_writer_free(w);
	REQUIRE(size == (uint64_t)DB_PAGES * PS);
	add(t, path, CF_ARCHIVE_FILE, 0600, 1700000000, &root, 1, CF_ARCHIVE_BODY_CHUNKLIST, size,
	    NULL);
	free(bundle);
}

/* ---------------------------------------------------------------------------------- */
/* Running and comparing                                                               */

static char *fresh(const char *name)
{
	char *p = NULL;

	REQUIRE(asprintf(&p, "%s/%s", base, name) > 0);
	REQUIRE(mkdir(p, 0700) == 0);
	return p;
}

static int run_plan_direct(const struct tree *t, const char *dir, unsigned threads,
                           const char *const *paths, size_t npaths,
                           const volatile sig_atomic_t *stop, struct cf_extract_stats *st,
                           enum cf_pool_direct direct, struct cf_pool_stats *ps)
{
	struct cf_tree_reader *r = NULL;
	struct cf_plan_opts o = {.get = fake_get, .paths = paths, .npaths = npaths,
	                         .threads = threads, .stop = stop, .direct = direct,
	                         .pool_stats = ps};
	int rc;

	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)t->pieces, t->lens, t->n) == 0);
	rc = cf_plan_extract(dir, r, &o, st);
	cf_tree_reader_free(r);
	return rc;
}

static int run_plan(const struct tree *t, const char *dir, unsigned threads, const char *const *paths,
                    size_t npaths, const volatile sig_atomic_t *stop, struct cf_extract_stats *st)
{
	return run_plan_direct(t, dir, threads, paths, npaths, stop, st, CF_POOL_DIRECT_AUTO, NULL);
}

static int run_tar(const struct tree *t, const char *dir)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	struct cf_dbmap_src src = {.get = fake_get};
	int rc;

	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)t->pieces, t->lens, t->n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch_chunk, NULL) == 0);
	REQUIRE(cf_tarstream_set_body_source(s, cf_dbmap_body_source(), &src) == 0);
	rc = cf_extract_stream(dir, cf_tarstream_pull, s, 0, NULL);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	return rc;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	REQUIRE(buf);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of @dir (caller frees), their number in *@n. */
static char **names(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		v = realloc(v, (*n + 1) * sizeof(*v));
		REQUIRE(v);
		v[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), cmp_names);
	return v;
}

/* 1 when the trees @a and @b hold the same names, types, modes, times and bytes. */
static int same_tree(const char *a, const char *b)
{
	size_t na = 0, nb = 0;
	char **va = names(a, &na), **vb = names(b, &nb);
	int same = na == nb;

	for (size_t i = 0; same && i < na; i++) {
		char pa[4096], pb[4096];
		struct stat sa, sb;

		snprintf(pa, sizeof(pa), "%s/%s", a, va[i]);
		snprintf(pb, sizeof(pb), "%s/%s", b, vb[i]);
		same = !strcmp(va[i], vb[i]) && lstat(pa, &sa) == 0 && lstat(pb, &sb) == 0 &&
		       (sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT) &&
		       (sa.st_mode & 07777) == (sb.st_mode & 07777);
		if (same && S_ISREG(sa.st_mode)) {
			size_t la = 0, lb = 0;
			uint8_t *ca = slurp(pa, &la), *cb = slurp(pb, &lb);
			same = ca && cb && la == lb && !memcmp(ca, cb, la) &&
			       sa.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
			       sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec;
			free(ca);
			free(cb);
		} else if (same) {
			same = same_tree(pa, pb);
			/* parents the restore created keep the time they were created at */
			if (same && strcmp(va[i], "implicit") != 0 && strcmp(va[i], "x") != 0)
				same = sa.st_mtim.tv_sec == sb.st_mtim.tv_sec;
		}
		if (!same)
			fprintf(stderr, "differs: %s vs %s\n", pa, pb);
	}
	for (size_t i = 0; i < na; i++)
		free(va[i]);
	for (size_t i = 0; i < nb; i++)
		free(vb[i]);
	free(va);
	free(vb);
	return same;
}

static const size_t cuts_a[] = {1000, 1, 4095, 70000, 3};
static const size_t cuts_b[] = {65536, 65536, 12345};

static void make_main_tree(struct tree *t)
{

	tree_open(t);
	add(t, "Attachments", CF_ARCHIVE_DIR, 0750, 1600000000, NULL, 0, 0, 0, NULL);
	add(t, "Attachments/ro", CF_ARCHIVE_DIR, 0555, 1600000100, NULL, 0, 0, 0, NULL);
	add_file(t, "Attachments/ro/a.bin", 0444, 1600000200, 75099, 1, cuts_a, 5);
	add_file(t, "Attachments/b.bin", 0640, 1600000300, 143417, 2, cuts_b, 3);
	add_file(t, "Attachments/empty", 0600, 1600000400, 0, 3, NULL, 0);
	add_file(t, "implicit/x/far.bin", 0600, 9000000000LL, 1000, 4, cuts_a, 1); /* pax mtime */
	add_db(t, "chat.db");
	add_file(t, "zz-last", 0644, -5, 3, 5, (const size_t[]){3}, 1);
	tree_close(t);
}

static int takes_direct(const char *dir);
static uint64_t unit_of(const char *dir);
static uint64_t file_direct(uint64_t unit, const size_t *cuts, size_t ncuts, int *opened);

static void test_roundtrip(void)
{
	struct tree t;
	char *ref = fresh("ref");
	struct cf_extract_stats st;
	static const unsigned threads[] = {1, 2, 4};
	struct cf_pool_stats ps;
	int can = takes_direct(ref);

	make_main_tree(&t);
	CHECK_RC(run_tar(&t, ref), 0);
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		char name[32], path[4096];
		uint8_t *db;
		size_t len = 0;
		char *dir;

		for (size_t i = 0; i < nstore; i++)
			atomic_store(&store[i].gets, 0);
		snprintf(name, sizeof(name), "par%u", threads[k]);
		dir = fresh(name);
		/* 1 and 2 workers buffered; 4 with direct writes, where the database's groups are
		 * assembled (two bundles, permuted slots) and each written in one go */
		memset(&ps, 0, sizeof(ps));
		CHECK_RC(run_plan_direct(&t, dir, threads[k], NULL, 0, NULL, &st,
		                         threads[k] == 4 ? CF_POOL_DIRECT_ON : CF_POOL_DIRECT_OFF,
		                         &ps),
		         0);
		if (threads[k] == 4 && can && unit_of(dir) == 4096) { /* the database's whole pages */
			int o;
			uint64_t files = file_direct(4096, cuts_a, 5, &o) + file_direct(4096, cuts_b, 3, &o);

			CHECK(files > 0); /* the attachments' big pieces go direct too */
			CHECK(ps.direct_bytes == (uint64_t)DB_PAGES * PS / 4096 * 4096 + files);
		}
		else if (threads[k] == 4 && can)
			CHECK(ps.direct_bytes > 0);
		else if (threads[k] != 4)
			CHECK(ps.direct_bytes == 0);
		CHECK(st.files == 6 && st.dirs == 2);
		CHECK(st.bytes == 75099 + 143417 + 1000 + 3 + (uint64_t)DB_PAGES * PS);
		CHECK(same_tree(ref, dir));
		snprintf(path, sizeof(path), "%s/chat.db", dir);
		db = slurp(path, &len);
		CHECK(db && len == sizeof(db_expect) && !memcmp(db, db_expect, len));
		free(db);
		/* every DATA blob fetched exactly once: bundles gathered within their group */
		for (size_t i = 0; i < nstore; i++)
			if (store[i].type == CF_BLOB_DATA && store[i].gets != 1) {
				fprintf(stderr, "blob %zu fetched %u times\n", i, store[i].gets);
				CHECK(0);
			}
		free(dir);
	}
	free(ref);
	tree_free(&t);
}

/* Failures: a missing/forged blob, a short blob; the error comes back, nothing hangs. */
static void test_failures(void)
{
	struct tree t;
	struct cf_extract_stats st;
	size_t first = nstore;
	int n = 0;

	make_main_tree(&t);
	/* the fake refuses a bundle of the database, then a chunk of a file */
	for (size_t i = first; i < nstore; i++)
		if (store[i].type == CF_BLOB_DATA && store[i].len == 128 * PS) {
			memcpy(fail_id, store[i].id, CF_BLOB_ID_BYTES);
			break;
		}
	for (unsigned th = 1; th <= 4; th *= 2) {
		char name[32];
		snprintf(name, sizeof(name), "fail%u", th);
		char *dir = fresh(name);
		CHECK_RC(run_plan(&t, dir, th, NULL, 0, NULL, &st), CF_E_AUTH);
		free(dir);
	}
	memset(fail_id, 0, sizeof(fail_id));
	for (size_t i = first; i < nstore && !n; i++)
		if (store[i].type == CF_BLOB_DATA && store[i].len == 70000) {
			memcpy(short_id, store[i].id, CF_BLOB_ID_BYTES);
			n = 1;
		}
	REQUIRE(n);
	{
		char *dir = fresh("short");
		CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, &st), CF_E_CORRUPT);
		free(dir);
	}
	memset(short_id, 0, sizeof(short_id));
	{
		static volatile sig_atomic_t stop = 1;
		char *dir = fresh("stop");
		CHECK_RC(run_plan(&t, dir, 2, NULL, 0, &stop, &st), -EINTR);
		free(dir);
	}
	tree_free(&t);
}

/* Entries that cannot be written: setuid, a file where a folder is, a folder where a file is. */
static void test_refusals(void)
{
	struct tree t;
	char *dir;
	struct stat sb;

	tree_open(&t);
	add_file(&t, "ok.txt", 0644, 1, 3, 6, (const size_t[]){3}, 1);
	add(&t, "suid", CF_ARCHIVE_FILE, 0755, 1, NULL, 0, 0, 0, "0004755");
	tree_close(&t);
	dir = fresh("suid");
	CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, NULL), CF_E_UNSAFE);
	CHECK(fstatat(AT_FDCWD, dir, &sb, 0) == 0);
	free(dir);
	tree_free(&t);

	tree_open(&t);
	add(&t, "d", CF_ARCHIVE_DIR, 0755, 1, NULL, 0, 0, 0, NULL);
	add_file(&t, "d", 0644, 1, 3, 7, (const size_t[]){3}, 1);
	tree_close(&t);
	dir = fresh("file-over-dir");
	CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, NULL), CF_E_UNSAFE);
	free(dir);
	tree_free(&t);

	/* a page map that describes fewer bytes than its entry claims */
	{
		struct tree m;
		struct cf_tree_reader *r = NULL;

		make_main_tree(&m);
		REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)m.pieces, m.lens, m.n) == 0);
		tree_open(&t);
		for (const struct cf_archive_entry *e = NULL; cf_tree_reader_next(r, &e) == 0 && e;)
			if (e->body == CF_ARCHIVE_BODY_CHUNKLIST)
				add(&t, "chat.db", CF_ARCHIVE_FILE, 0600, 1, e->refs, 1,
				    CF_ARCHIVE_BODY_CHUNKLIST, e->size + PS, NULL);
		cf_tree_reader_free(r);
		tree_free(&m);
		tree_close(&t);
		dir = fresh("short-map");
		CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, NULL), CF_E_CORRUPT);
		free(dir);
		tree_free(&t);
	}

	tree_open(&t);
	add_file(&t, "f", 0644, 1, 3, 8, (const size_t[]){3}, 1);
	add_file(&t, "f/g", 0644, 1, 3, 9, (const size_t[]){3}, 1);
	tree_close(&t);
	dir = fresh("below-file");
	CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, NULL), CF_E_UNSAFE);
	free(dir);
	tree_free(&t);
}

/* --path selects entries (parents created); a path that comes twice: the later wins. */
/* Files without folder entries, in an order that moves between branches whose names
 * share leading characters: every missing folder must be made (the planner skips only
 * the folders it knows exist). */
static void test_implicit_parents(void)
{
	static const char *const paths[] = {"p/bx/f1", "p/b/f2", "p/b/c/f3", "p/bx/y/f4", "q/f5",
	                                    "p/f6",    "pb/f7",  "p/b/c/d/f8", "p/b/cd/f9", "f10"};
	char *ref = fresh("implicit-ref"), *dir = fresh("implicit");
	struct cf_extract_stats st;
	struct tree t;

	tree_open(&t);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		add_file(&t, paths[i], 0644, 1600000000, 10 + i, (unsigned)(40 + i),
		         (const size_t[]){10 + i}, 1);
	tree_close(&t);
	CHECK_RC(run_tar(&t, ref), 0);
	CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, &st), 0);
	CHECK(st.files == sizeof(paths) / sizeof(paths[0]));
	CHECK(same_tree(ref, dir));
	free(ref);
	free(dir);
	tree_free(&t);
}

static void test_select_and_twice(void)
{
	struct tree t;
	char *dir, path[4096];
	size_t n = 0, len = 0;
	char **v;
	uint8_t *c;
	const char *sel[] = {"Attachments/ro/"};
	struct cf_extract_stats st;

	make_main_tree(&t);
	dir = fresh("select");
	CHECK_RC(run_plan(&t, dir, 2, sel, 1, NULL, &st), 0);
	CHECK(st.files == 1 && st.dirs == 1);
	v = names(dir, &n);
	CHECK(n == 1 && !strcmp(v[0], "Attachments"));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	snprintf(path, sizeof(path), "%s/Attachments", dir);
	v = names(path, &n);
	CHECK(n == 1 && !strcmp(v[0], "ro"));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	snprintf(path, sizeof(path), "%s/Attachments/ro/a.bin", dir);
	c = slurp(path, &len);
	CHECK(c && len == 75099);
	free(c);
	free(dir);
	tree_free(&t);

	tree_open(&t);
	add_file(&t, "twice", 0644, 1, 70000, 10, (const size_t[]){70000}, 1);
	add_file(&t, "twice", 0600, 2, 5, 11, (const size_t[]){5}, 1);
	tree_close(&t);
	dir = fresh("twice");
	CHECK_RC(run_plan(&t, dir, 2, NULL, 0, NULL, NULL), 0);
	{
		char *ref = fresh("twice-ref");
		CHECK_RC(run_tar(&t, ref), 0);
		CHECK(same_tree(ref, dir));
		free(ref);
	}
	free(dir);
	tree_free(&t);
}

/* ---------------------------------------------------------------------------------- */
/* Direct writes                                                                       */

struct dfile {
	const char *path;
	size_t cuts[8], ncuts;
};

/* Chunk boundaries: with 4 KiB pages every whole page of a direct file goes direct, the
 * pages a piece shares with its neighbours completed from the carry; with larger units a
 * piece's whole units go direct when they are at least CF_POOL_DIRECT_MIN bytes. */
static const struct dfile dfiles[] = {
    {"d/exact", {262144, 524288, 409600}, 3},                      /* page multiples */
    {"d/odd", {5000, 300000, 3000, 1200000, 100, 270000, 7}, 7},   /* heads, tails, sub-page */
    {"d/shared", {4000, 50, 46, 266000}, 4},                       /* one page, three pieces */
    {"d/tail", {270000, 266240}, 2},                               /* last partial page */
    {"d/below-min", {100, 36000}, 2},                              /* whole pages < the minimum */
    {"d/small", {5000}, 1},                                        /* shorter than the minimum */
    {"d/big", {3 * 1048576 + 12288}, 1},                           /* several direct steps */
};
#define NDFILES (sizeof(dfiles) / sizeof(dfiles[0]))

static size_t dfile_len(const struct dfile *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->ncuts; i++)
		n += f->cuts[i];
	return n;
}

/* The unit of direct writes in @dir, as the pool chooses it (0: none). */
static uint64_t unit_of(const char *dir)
{
	struct stat st;

	REQUIRE(stat(dir, &st) == 0);
	if (st.st_blksize <= 4096)
		return 4096;
	return st.st_blksize > (blksize_t)CF_POOL_DIRECT_STEP || st.st_blksize % 4096 ? 0
	                                                                              : (uint64_t)st.st_blksize;
}

/* The bytes of a file cut into @ncuts pieces of @cuts bytes that the page-granular
 * split writes direct (unit @unit); *@opened: whether the file gets O_DIRECT. With
 * 4 KiB pages the pieces come in order and each page is written whole, so all but the
 * last partial page goes direct; with larger units each piece's own whole units of at
 * least CF_POOL_DIRECT_MIN bytes do. */
static uint64_t file_direct(uint64_t unit, const size_t *cuts, size_t ncuts, int *opened)
{
	uint64_t n = 0, off = 0, len = 0;

	for (size_t i = 0; i < ncuts; i++)
		len += cuts[i];
	*opened = unit && len >= CF_POOL_DIRECT_MIN;
	if (unit == 4096)
		return *opened ? len / unit * unit : 0;
	for (size_t i = 0; *opened && i < ncuts; i++) {
		uint64_t lo = (off + unit - 1) / unit * unit;
		uint64_t hi = (off + cuts[i]) / unit * unit;

		if (hi > lo && hi - lo >= CF_POOL_DIRECT_MIN)
			n += hi - lo;
		off += cuts[i];
	}
	return n;
}

/* The bytes the page-granular split writes direct, and the files that get O_DIRECT. */
static uint64_t expect_direct(uint64_t unit, uint64_t *files)
{
	uint64_t n = 0;

	*files = 0;
	for (size_t k = 0; k < NDFILES; k++) {
		int opened;

		n += file_direct(unit, dfiles[k].cuts, dfiles[k].ncuts, &opened);
		*files += (uint64_t)opened;
	}
	return n;
}

/* Does the filesystem of @dir take an aligned O_DIRECT write? */
static int takes_direct(const char *dir)
{
	char path[4096];
	void *buf = NULL;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0600);
	REQUIRE(posix_memalign(&buf, 4096, 4096) == 0);
	memset(buf, 1, 4096);
	ok = fd >= 0 && pwrite(fd, buf, 4096, 0) == 4096;
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(buf);
	return ok;
}

static void test_direct(void)
{
	static const struct {
		enum cf_pool_direct mode;
		const char *env; /* $COFFER_RESTORE_DIRECT, NULL: unset */
		int direct;      /* direct writes expected */
	} runs[] = {
	    {CF_POOL_DIRECT_ON, NULL, 1},
	    {CF_POOL_DIRECT_AUTO, NULL, 1}, /* direct by default */
	    {CF_POOL_DIRECT_AUTO, "1", 1},
	    {CF_POOL_DIRECT_AUTO, "0", 0},
	    {CF_POOL_DIRECT_OFF, NULL, 0},
	    {CF_POOL_DIRECT_TEST_OPEN_EINVAL, NULL, 0},
	    {CF_POOL_DIRECT_TEST_WRITE_EINVAL, NULL, 1},
	};
	static const unsigned threads[] = {1, 3};
	struct tree t;
	char *ref = fresh("direct-ref");
	uint64_t total = 0, files = 0, expect = expect_direct(unit_of(ref), &files);
	int can = takes_direct(ref);

	if (!can)
		fprintf(stderr, "note: %s refuses O_DIRECT: only the fallback is checked\n", base);
	CHECK(expect > 0 || !unit_of(ref));
	tree_open(&t);
	add(&t, "d", CF_ARCHIVE_DIR, 0755, 1600000000, NULL, 0, 0, 0, NULL);
	for (size_t k = 0; k < NDFILES; k++) {
		add_file(&t, dfiles[k].path, 0644, 1600000000 + (int64_t)k, dfile_len(&dfiles[k]),
		         (unsigned)(20 + k), dfiles[k].cuts, dfiles[k].ncuts);
		total += dfile_len(&dfiles[k]);
	}
	tree_close(&t);
	CHECK_RC(run_tar(&t, ref), 0);
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++)
		for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
			struct cf_pool_stats ps = {0};
			struct cf_extract_stats st;
			char name[32];
			char *dir;

			snprintf(name, sizeof(name), "direct%zu-%u", r, threads[k]);
			dir = fresh(name);
			if (runs[r].env)
				setenv("COFFER_RESTORE_DIRECT", runs[r].env, 1);
			else
				unsetenv("COFFER_RESTORE_DIRECT");
			CHECK_RC(run_plan_direct(&t, dir, threads[k], NULL, 0, NULL, &st, runs[r].mode,
			                         &ps),
			         0);
			unsetenv("COFFER_RESTORE_DIRECT");
			CHECK(same_tree(ref, dir));
			CHECK(st.bytes == total && ps.direct_bytes + ps.buffered_bytes == total);
			if (!runs[r].direct || !can || !expect) {
				CHECK(ps.direct_bytes == 0);
				if (runs[r].mode == CF_POOL_DIRECT_TEST_OPEN_EINVAL)
					CHECK(ps.fallbacks == (files ? 1u : 0u) && ps.direct_files == 0);
				else if (!runs[r].direct)
					CHECK(ps.fallbacks == 0 && ps.direct_files == 0);
				else if (files) /* the filesystem refused */
					CHECK(ps.fallbacks >= 1);
			} else if (runs[r].mode == CF_POOL_DIRECT_TEST_WRITE_EINVAL) {
				/* the run's first direct write passes, then the files fall back (and
				 * those opened later are not opened direct any more) */
				CHECK(ps.direct_files >= 1 && ps.direct_files <= files && ps.fallbacks >= 1);
				CHECK(ps.direct_bytes > 0 && ps.direct_bytes <= CF_POOL_DIRECT_STEP &&
				      ps.direct_bytes < expect);
			} else {
				CHECK(ps.direct_files == files && ps.fallbacks == 0);
				CHECK(ps.direct_bytes == expect);
			}
			if (ps.direct_bytes != expect && runs[r].direct && can &&
			    runs[r].mode != CF_POOL_DIRECT_TEST_WRITE_EINVAL)
				fprintf(stderr, "run %zu: %llu bytes direct, expected %llu\n", r,
				        (unsigned long long)ps.direct_bytes, (unsigned long long)expect);
			free(dir);
		}
	/* a middle chunk of d/odd fails while the chunks after it are fetched and handed
	 * over to wait for it: the error comes back, and (under ASan) nothing is leaked */
	for (size_t i = 0; i < nstore; i++)
		if (store[i].type == CF_BLOB_DATA && store[i].len == 1200000)
			memcpy(fail_id, store[i].id, CF_BLOB_ID_BYTES);
	fail_slow = 1;
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		char name[32];
		char *dir;

		snprintf(name, sizeof(name), "direct-fail-%u", threads[k]);
		dir = fresh(name);
		CHECK_RC(run_plan_direct(&t, dir, threads[k], NULL, 0, NULL, NULL, CF_POOL_DIRECT_ON,
		                         NULL),
		         CF_E_AUTH);
		free(dir);
	}
	fail_slow = 0;
	memset(fail_id, 0, sizeof(fail_id));
	free(ref);
	tree_free(&t);
}

int main(void)
{
	cf_log_set_level((enum cf_log_level)(CF_LOG_ERR - 1)); /* expected errors are noisy */
	if (getenv("CF_TEST_VERBOSE"))
		cf_log_set_level(CF_LOG_DEBUG);
	unsetenv("COFFER_RESTORE_DIRECT");
	base = check_tmpdir();
	test_roundtrip();
	test_direct();
	test_failures();
	test_refusals();
	test_select_and_twice();
	test_implicit_parents();
	cf_extract_rmtree(base);
	free(base);
	for (size_t i = 0; i < nstore; i++)
		free(store[i].data);
	return check_finish();
}
