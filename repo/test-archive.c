/* SPDX-License-Identifier: ISC */
/*
 * Tests of repo/archive.h: entry paths, tar headers made by libarchive (deterministic,
 * readable back), the tree encoding (round trip over several pieces, hostile pieces
 * refused) and the tar stream producer (byte-exact bodies read back by libarchive and by
 * GNU tar, path filter, errors).
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "repo/archive.h"
#include "tests/lib/check.h"
#include "util/log.h"

/* ---------------------------------------------------------------------------------- */
/* Fixtures                                                                            */

/* A fake chunk store: chunk i has id {i, i>>8, 0xc5, ...} and pseudo-random content. */
#define MAX_CHUNKS 4096
static uint8_t *chunk_data[MAX_CHUNKS];
static uint32_t chunk_len[MAX_CHUNKS];
static size_t nchunks;
static unsigned fetches;
static int fetch_fail_at = -1; /* chunk index whose fetch fails */

static uint32_t rng = 12345;

static uint8_t rnd8(void)
{
	rng = rng * 1103515245u + 12345u;
	return (uint8_t)(rng >> 16);
}

static void chunk_id(size_t i, uint8_t id[32])
{
	memset(id, 0xc5, 32);
	id[0] = (uint8_t)i;
	id[1] = (uint8_t)(i >> 8);
}

static size_t chunk_new(uint32_t len, struct cf_archive_ref *ref)
{
	size_t i = nchunks++;

	REQUIRE(i < MAX_CHUNKS);
	chunk_data[i] = malloc(len);
	REQUIRE(chunk_data[i]);
	for (uint32_t k = 0; k < len; k++)
		chunk_data[i][k] = rnd8();
	chunk_len[i] = len;
	chunk_id(i, ref->id);
	ref->len = len;
	return i;
}

static int fetch(void *ctx, const uint8_t id[32], uint32_t len, uint8_t **data)
{
	size_t i = (size_t)id[0] | (size_t)id[1] << 8;

	(void)ctx;
	fetches++;
	if (i >= nchunks || chunk_len[i] != len)
		return CF_E_NOTFOUND;
	if ((int)i == fetch_fail_at)
		return CF_E_AUTH;
	*data = malloc(len);
	if (!*data)
		return -ENOMEM;
	memcpy(*data, chunk_data[i], len);
	return 0;
}

/* A test entry: the entry plus the storage its pointers use. */
struct tentry {
	struct cf_archive_entry e;
	char path[CF_ARCHIVE_PATH_MAX + 1];
	uint8_t header[CF_ARCHIVE_HEADER_MAX];
	struct cf_archive_ref refs[64];
	uint8_t *body; /* expected content */
};

/* A file of @size bytes cut into chunks of @piece bytes (0: one chunk), or a directory. */
static struct tentry *tentry_make(const char *path, int dir, uint32_t mode, uint32_t size,
                                  uint32_t piece)
{
	struct tentry *t = calloc(1, sizeof(*t));
	size_t off = 0;

	REQUIRE(t);
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->e.path = t->path;
	t->e.type = dir ? CF_ARCHIVE_DIR : CF_ARCHIVE_FILE;
	t->e.mode = mode;
	t->e.size = dir ? 0 : size;
	t->e.mtime = 1700000000 + (int64_t)strlen(path);
	t->e.mtime_nsec = 999;
	t->body = malloc(size + 1);
	REQUIRE(t->body);
	while (!dir && off < size) {
		uint32_t n = piece && size - off > piece ? piece : (uint32_t)(size - off);
		size_t c;

		REQUIRE(t->e.nrefs < 64);
		c = chunk_new(n, &t->refs[t->e.nrefs]);
		memcpy(t->body + off, chunk_data[c], n);
		off += n;
		t->e.nrefs++;
	}
	t->e.refs = t->refs;
	CHECK_RC(cf_archive_header(&t->e, t->header, sizeof(t->header), &t->e.header_len), 0);
	t->e.header = t->header;
	return t;
}

static void tentry_free(struct tentry *t)
{
	if (!t)
		return;
	free(t->body);
	free(t);
}

/* Collected pieces of a tree writer. */
struct pieces {
	uint8_t *p[256];
	size_t len[256];
	size_t n;
	int fail; /* emit returns this */
};

static int collect(void *ctx, const uint8_t *piece, size_t len)
{
	struct pieces *ps = ctx;

	if (ps->fail)
		return ps->fail;
	REQUIRE(ps->n < 256);
	ps->p[ps->n] = malloc(len);
	REQUIRE(ps->p[ps->n]);
	memcpy(ps->p[ps->n], piece, len);
	ps->len[ps->n++] = len;
	return 0;
}

static void pieces_free(struct pieces *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i]);
	ps->n = 0;
}

static void build_tree(struct pieces *ps, struct tentry **t, size_t n, size_t target)
{
	struct cf_tree_writer *w = NULL;

	memset(ps, 0, sizeof(*ps));
	REQUIRE(cf_tree_writer_new(&w, target, collect, ps) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK_RC(cf_tree_writer_add(w, &t[i]->e), 0);
	CHECK_RC(cf_tree_writer_finish(w, NULL), 0);
	cf_tree_writer_free(w);
}

static int entry_equal(const struct cf_archive_entry *a, const struct cf_archive_entry *b)
{
	if (strcmp(a->path, b->path) || a->type != b->type || a->body != b->body ||
	    a->mode != b->mode || a->size != b->size || a->mtime != b->mtime ||
	    a->mtime_nsec != b->mtime_nsec || a->header_len != b->header_len ||
	    memcmp(a->header, b->header, a->header_len) || a->nrefs != b->nrefs)
		return 0;
	for (size_t i = 0; i < a->nrefs; i++)
		if (memcmp(a->refs[i].id, b->refs[i].id, 32) || a->refs[i].len != b->refs[i].len)
			return 0;
	return 1;
}

/* Read one whole tar stream from @s with reads of @step bytes; *@len receives its size. */
static uint8_t *stream_all(struct cf_tarstream *s, size_t step, size_t *len, int *err)
{
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *buf = malloc(cap);

	REQUIRE(buf);
	*err = 0;
	for (;;) {
		if (cap - n < step) {
			cap = cap * 2 + step;
			buf = realloc(buf, cap);
			REQUIRE(buf);
		}
		*err = cf_tarstream_read(s, buf + n, step, &got);
		if (*err)
			break;
		n += got;
		if (got < step) {
			/* the end: every further read gives nothing */
			CHECK_RC(cf_tarstream_read(s, buf + n, step, &got), 0);
			CHECK(got == 0);
			break;
		}
	}
	*len = n;
	return buf;
}

/* The tar stream of entries @t[0..n) (through a tree of small pieces), read by @step. */
static uint8_t *stream_of(struct tentry **t, size_t n, size_t step, const char *const *filter,
                          size_t nfilter, size_t *len, int *err)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	struct pieces ps;
	uint8_t *out;

	build_tree(&ps, t, n, 4096);
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	if (filter)
		CHECK_RC(cf_tarstream_set_filter(s, filter, nfilter), 0);
	out = stream_all(s, step, len, err);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	pieces_free(&ps);
	return out;
}

/* ---------------------------------------------------------------------------------- */
/* Paths                                                                               */

static int path_ok(const char *p)
{
	return cf_archive_path_check(p, strlen(p)) == 0;
}

static void test_paths(void)
{
	static const char *const good[] = {
	    "a",        "chat.db",     "Attachments/ab/cd.jpg",
	    "a/.b",     "..a",         "a..",
	    "...",      "caf\xc3\xa9", "\xe2\x98\x95/\xf0\x9f\x98\x80.png",
	    "a b/c\td", ".hidden",
	};
	static const char *const bad[] = {
	    "/a",
	    "a/",
	    "a//b",
	    ".",
	    "..",
	    "./a",
	    "a/.",
	    "a/./b",
	    "a/../b",
	    "../a",
	    "a/..",
	    "a\\b",
	    "\\..\\x",
	    "\xff",
	    "\xc0\xaf",
	    "\xe0\x80\xaf",
	    "\xed\xa0\x80",
	    "\xe2\x82",
	    "\xf4\x90\x80\x80",
	    "\x80",
	    "/",
	    "//",
	};
	char *long_path;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(path_ok(good[i]));
		if (!path_ok(good[i]))
			fprintf(stderr, "  refused good path %zu\n", i);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!path_ok(bad[i]));
		if (path_ok(bad[i]))
			fprintf(stderr, "  accepted bad path %zu\n", i);
	}
	CHECK_RC(cf_archive_path_check("", 0), CF_E_INVAL);
	CHECK_RC(cf_archive_path_check(NULL, 3), CF_E_INVAL);
	CHECK_RC(cf_archive_path_check("a\0b", 3), CF_E_INVAL);
	{
		char b[64];

		CHECK(strcmp(cf_archive_printable("a\nb\x1b[2J\xc2\x9b\x7f\xc3\xa9", b, sizeof(b)),
		             "a\\x0ab\\x1b[2J\\xc2\\x9b\\x7f\xc3\xa9") == 0);
		CHECK(strcmp(cf_archive_printable(NULL, b, sizeof(b)), "(none)") == 0);
		memset(b, 0, sizeof(b));
		cf_archive_printable("0123456789012345678901234567890123456789", b, 20);
		CHECK(strlen(b) < 20 && strstr(b, "..."));
	}
	long_path = malloc(CF_ARCHIVE_PATH_MAX + 2);
	REQUIRE(long_path);
	memset(long_path, 'x', CF_ARCHIVE_PATH_MAX + 1);
	long_path[CF_ARCHIVE_PATH_MAX + 1] = '\0';
	CHECK_RC(cf_archive_path_check(long_path, CF_ARCHIVE_PATH_MAX), 0);
	CHECK_RC(cf_archive_path_check(long_path, CF_ARCHIVE_PATH_MAX + 1), CF_E_INVAL);
	free(long_path);
}

/* ---------------------------------------------------------------------------------- */
/* Headers                                                                             */

/* Read @hdr (+ @size zero body bytes) back with libarchive; check what it reports. */
static void header_reads_back(const uint8_t *hdr, size_t hlen, const char *path, int dir,
                              uint32_t mode, uint64_t size, int64_t mtime)
{
	size_t body = dir ? 0 : (size_t)((size + 511) / 512 * 512);
	size_t total = hlen + body + 1024;
	uint8_t *tar = calloc(1, total);
	struct archive_entry *ae;
	struct archive *a;
	char want[CF_ARCHIVE_PATH_MAX + 2];
	int r;

	REQUIRE(tar);
	memcpy(tar, hdr, hlen);
	a = archive_read_new();
	REQUIRE(a);
	archive_read_support_format_tar(a);
	REQUIRE(archive_read_open_memory(a, tar, total) == ARCHIVE_OK);
	r = archive_read_next_header(a, &ae);
	/* WARN: the C locale cannot represent a UTF-8 path; the bytes are still exact */
	CHECK(r == ARCHIVE_OK || r == ARCHIVE_WARN);
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
		snprintf(want, sizeof(want), "%s%s", path, dir ? "/" : "");
		CHECK(archive_entry_pathname(ae) && strcmp(archive_entry_pathname(ae), want) == 0);
		CHECK(archive_entry_filetype(ae) == (dir ? AE_IFDIR : AE_IFREG));
		CHECK((uint64_t)archive_entry_size(ae) == size);
		CHECK(archive_entry_perm(ae) == (mode & 0777));
		CHECK(archive_entry_mtime(ae) == mtime);
		CHECK(archive_entry_mtime_nsec(ae) == 0);
		CHECK(archive_entry_uid(ae) == 0 && archive_entry_gid(ae) == 0);
		CHECK(!archive_entry_uname(ae) || !*archive_entry_uname(ae));
		CHECK(!archive_entry_hardlink(ae) && !archive_entry_symlink(ae));
		CHECK_RC(archive_read_next_header(a, &ae), ARCHIVE_EOF);
	}
	archive_read_free(a);
	free(tar);
}

static size_t header_of(const char *path, int dir, uint32_t mode, uint64_t size, int64_t mtime,
                        uint8_t *buf)
{
	struct cf_archive_entry e = {.path = path,
	                             .type = dir ? CF_ARCHIVE_DIR : CF_ARCHIVE_FILE,
	                             .mode = mode,
	                             .size = size,
	                             .mtime = mtime,
	                             .mtime_nsec = 123456789};
	size_t len = 0;

	CHECK_RC(cf_archive_header(&e, buf, CF_ARCHIVE_HEADER_MAX, &len), 0);
	return len;
}

static void test_header(void)
{
	static uint8_t h1[CF_ARCHIVE_HEADER_MAX], h2[CF_ARCHIVE_HEADER_MAX];
	char longp[400];
	const char *uni = "Attachments/caf\xc3\xa9 \xe2\x98\x95/\xf0\x9f\x98\x80.jpg";
	struct cf_archive_entry e = {.path = "x", .type = CF_ARCHIVE_FILE};
	size_t n1, n2, len = 7;

	/* plain ustar, deterministic, readable */
	n1 = header_of("chat.db", 0, 0600, 12345, 1700000000, h1);
	n2 = header_of("chat.db", 0, 0600, 12345, 1700000000, h2);
	CHECK(n1 == 512 && n1 == n2 && memcmp(h1, h2, n1) == 0);
	header_reads_back(h1, n1, "chat.db", 0, 0600, 12345, 1700000000);

	/* setuid and friends never reach the header; dirs get the trailing slash */
	n1 = header_of("bin", 0, 04755, 0, 5, h1);
	header_reads_back(h1, n1, "bin", 0, 0755, 0, 5);
	n1 = header_of("Attachments", 1, 02755, 0, 1, h1);
	CHECK(n1 == 512 && h1[156] == '5');
	header_reads_back(h1, n1, "Attachments", 1, 0755, 0, 1);

	/* a long path needs a pax extended header */
	memset(longp, 0, sizeof(longp));
	for (size_t i = 0; i < 300; i += 10)
		memcpy(longp + i, "Attachmen/", 10);
	memcpy(longp + 300, "file.bin", 8);
	n1 = header_of(longp, 0, 0644, 99, 1600000000, h1);
	n2 = header_of(longp, 0, 0644, 99, 1600000000, h2);
	CHECK(n1 > 512 && n1 % 512 == 0 && n1 == n2 && memcmp(h1, h2, n1) == 0);
	CHECK(h1[156] == 'x');
	header_reads_back(h1, n1, longp, 0, 0644, 99, 1600000000);

	/* a component too long for ustar's name field */
	memset(longp, 'n', 150);
	longp[150] = '\0';
	n1 = header_of(longp, 0, 0644, 1, 1600000000, h1);
	CHECK(n1 > 512);
	header_reads_back(h1, n1, longp, 0, 0644, 1, 1600000000);

	/* every way of splitting a path into ustar prefix and name, or needing pax */
	for (size_t plen = 95; plen <= 262; plen++) {
		for (size_t cut = 1; cut + 1 < plen; cut += 23) {
			memset(longp, 'p', plen);
			longp[cut] = '/';
			longp[plen] = '\0';
			for (int dir = 0; dir < 2; dir++) {
				n1 = header_of(longp, dir, 0644, 0, 1600000000, h1);
				header_reads_back(h1, n1, longp, dir, 0644, 0, 1600000000);
			}
		}
	}

	/* non-ASCII: a pax header with the UTF-8 path, whatever the process locale */
	n1 = header_of(uni, 0, 0640, 3, 1500000000, h1);
	CHECK(n1 == 1536 && h1[156] == 'x');
	CHECK(memmem(h1 + 512, 512, "hdrcharset", 10) == NULL);
	header_reads_back(h1, n1, uni, 0, 0640, 3, 1500000000);
	if (setlocale(LC_CTYPE, "C.UTF-8")) {
		n2 = header_of(uni, 0, 0640, 3, 1500000000, h2);
		CHECK(n1 == n2 && memcmp(h1, h2, n1) == 0);
		setlocale(LC_CTYPE, "C");
	}

	/* a size beyond ustar's 8 GiB */
	n1 = header_of("big.db", 0, 0600, CF_ARCHIVE_SIZE_MAX, 1700000000, h1);
	CHECK(n1 == 1536);
	CHECK(memmem(h1 + 512, 512, "size=1099511627776\n", 19) != NULL);

	/* negative and far-future mtimes still round-trip */
	n1 = header_of("old", 0, 0644, 0, -86400, h1);
	header_reads_back(h1, n1, "old", 0, 0644, 0, -86400);
	n1 = header_of("future", 0, 0644, 0, 100000000000LL, h1);
	header_reads_back(h1, n1, "future", 0, 0644, 0, 100000000000LL);

	/* refused input */
	CHECK_RC(cf_archive_header(NULL, h1, sizeof(h1), &len), CF_E_INVAL);
	e.path = "../x";
	CHECK_RC(cf_archive_header(&e, h1, sizeof(h1), &len), CF_E_INVAL);
	e.path = "a\\b";
	CHECK_RC(cf_archive_header(&e, h1, sizeof(h1), &len), CF_E_INVAL);
	e.path = "x";
	e.type = 3;
	CHECK_RC(cf_archive_header(&e, h1, sizeof(h1), &len), CF_E_INVAL);
	e.type = CF_ARCHIVE_DIR;
	e.size = 1;
	CHECK_RC(cf_archive_header(&e, h1, sizeof(h1), &len), CF_E_INVAL);
	e.type = CF_ARCHIVE_FILE;
	e.size = CF_ARCHIVE_SIZE_MAX + 1;
	CHECK_RC(cf_archive_header(&e, h1, sizeof(h1), &len), CF_E_INVAL);
	e.size = 1;
	CHECK_RC(cf_archive_header(&e, h1, 511, &len), CF_E_LIMIT);
	CHECK(len == 7);
}

#define POSIX_MAGIC "ustar\00000" /* "ustar", NUL, "00" */

/* Fix the checksum of the 512-byte ustar block @b after editing it. */
static void fix_checksum(uint8_t *b)
{
	unsigned sum = 0;

	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	b[155] = ' ';
}

/* "LEN key=value\n" records for each "key=value" of the NULL-terminated list. */
static const char *recs(const char *kv, ...)
{
	static char out[2048];
	size_t off = 0;
	va_list ap;

	va_start(ap, kv);
	for (; kv; kv = va_arg(ap, const char *)) {
		size_t body = strlen(kv) + 2, len = body + 1; /* ' ' and '\n', one digit */

		while (snprintf(NULL, 0, "%zu", len) + body != len)
			len++;
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%zu %s\n", len, kv);
	}
	va_end(ap);
	return out;
}

/*
 * A header with a pax extended header holding @records (already "LEN k=v\n" formatted)
 * before the ustar header of @e's own header (whose last block is kept).
 */
static size_t craft_pax(const struct cf_archive_entry *e, const char *records, uint8_t *out)
{
	size_t rl = strlen(records), dl = (rl + 511) / 512 * 512;

	memset(out, 0, 512 + dl + 512);
	memcpy(out, "PaxHeader/x", 11);
	memcpy(out + 100, "0000644", 8);
	memcpy(out + 108, "0000000", 8);
	memcpy(out + 116, "0000000", 8);
	snprintf((char *)out + 124, 12, "%011o", (unsigned)rl);
	memcpy(out + 136, "00000000000", 12);
	out[156] = 'x';
	memcpy(out + 257, POSIX_MAGIC, 8);
	fix_checksum(out);
	memcpy(out + 512, records, rl);
	memcpy(out + 512 + dl, e->header + e->header_len - 512, 512);
	return 512 + dl + 512;
}

static void test_header_check(void)
{
	static uint8_t hb[CF_ARCHIVE_HEADER_MAX], crafted[8192];
	struct cf_archive_entry e = {
	    .path = "dir/file.txt", .type = CF_ARCHIVE_FILE, .mode = 0644, .size = 10, .mtime = 1};
	struct cf_archive_entry d = {.path = "dir", .type = CF_ARCHIVE_DIR, .mode = 0755};
	static uint8_t dh[CF_ARCHIVE_HEADER_MAX];
	struct cf_archive_entry x;

	REQUIRE(cf_archive_header(&e, hb, sizeof(hb), &e.header_len) == 0);
	e.header = hb;
	REQUIRE(cf_archive_header(&d, dh, sizeof(dh), &d.header_len) == 0);
	d.header = dh;
	CHECK_RC(cf_archive_header_check(&e), 0);
	CHECK_RC(cf_archive_header_check(&d), 0);
	CHECK_RC(cf_archive_header_check(NULL), CF_E_INVAL);

	x = e;
	x.size = 11;
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x = e;
	x.path = "dir/file.txx";
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.path = "dir/file.tx";
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x = e;
	x.type = CF_ARCHIVE_DIR;
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x = d;
	x.type = CF_ARCHIVE_FILE;
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x = e;
	x.header_len = 513;
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = 0;
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);

	/* a flipped byte breaks the checksum; a fixed checksum with a hardlink type, too */
	hb[10] ^= 1;
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	hb[10] ^= 1;
	hb[156] = '1';
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	hb[156] = '2';
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	hb[156] = '0';
	memcpy(hb + 157, "/etc/passwd", 11); /* a link name on a regular file */
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	memset(hb + 157, 0, 11);
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), 0);
	memcpy(hb + 257, "ustar  ", 8); /* GNU magic */
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	memcpy(hb + 257, POSIX_MAGIC, 8);
	fix_checksum(hb);
	/* number fields libarchive's reader checks before it recognises a header */
	hb[101] = 'x'; /* mode */
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	hb[101] = '0';
	hb[140] = '9'; /* mtime */
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), CF_E_CORRUPT);
	hb[140] = '0';
	fix_checksum(hb);
	CHECK_RC(cf_archive_header_check(&e), 0);

	/* crafted pax headers */
	x = e;
	x.header = crafted;
	x.header_len = craft_pax(&e, recs("path=dir/file.txt", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), 0);
	x.header_len =
	    craft_pax(&e, recs("path=dir/file.txt", "size=10", "mtime=1.5", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), 0);
	x.header_len = craft_pax(&e, recs("hdrcharset=BINARY", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), 0);
	x.header_len =
	    craft_pax(&e, "25 path=dir/other.txt\n", crafted); /* a wrong record length */
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("path=dir/other.txt", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("size=11", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("linkpath=/etc/x", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("GNU.sparse.size=100", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("path=dir/file.txt", "path=dir/file.txt", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, "999 path=dir/file.txt\n", crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, "3 \n", crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, "10 noequal\n", crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	x.header_len = craft_pax(&e, recs("size=1x0", NULL), crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	/* a global header ('g') is not ours */
	x.header_len = craft_pax(&e, recs("path=dir/file.txt", NULL), crafted);
	crafted[156] = 'g';
	fix_checksum(crafted);
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
	/* junk hidden in the padding of the extended header */
	x.header_len = craft_pax(&e, recs("path=dir/file.txt", NULL), crafted);
	crafted[512 + 300] = 'A';
	CHECK_RC(cf_archive_header_check(&x), CF_E_CORRUPT);
}

/* ---------------------------------------------------------------------------------- */
/* Tree encoding                                                                       */

static struct tentry **sample_entries(size_t *n)
{
	struct tentry **t = calloc(64, sizeof(*t));
	char p[512];
	size_t k = 0;

	REQUIRE(t);
	t[k++] = tentry_make("chat.db", 0, 0600, 5000, 1024);
	t[k++] = tentry_make("Attachments", 1, 0700, 0, 0);
	t[k++] = tentry_make("Attachments/empty", 0, 0644, 0, 0);
	t[k++] = tentry_make("Attachments/one", 0, 0644, 1, 0);
	t[k++] = tentry_make("Attachments/b511", 0, 0644, 511, 100);
	t[k++] = tentry_make("Attachments/b512", 0, 0644, 512, 0);
	t[k++] = tentry_make("Attachments/b513", 0, 0644, 513, 256);
	t[k++] = tentry_make("Attachments/caf\xc3\xa9 \xe2\x98\x95.jpg", 0, 0640, 3000, 999);
	for (int i = 0; i < 30; i++) {
		snprintf(p, sizeof(p), "Attachments/%02x/%s%d.bin", i,
		         i % 3 ? ""
		               : "a-rather-long-name-so-that-the-ustar-name-field-overflows-"
		                 "and-a-pax-header-is-needed-for-this-one-",
		         i);
		t[k++] = tentry_make(p, i % 7 == 0, 0644, (uint32_t)(i * 37), 64);
	}
	*n = k;
	return t;
}

static void free_entries(struct tentry **t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tentry_free(t[i]);
	free(t);
}

struct cb_pieces {
	struct pieces *ps;
	int fail_at; /* index whose fetch fails, or -1 */
};

static int next_piece(void *ctx, size_t index, uint8_t **piece, size_t *len)
{
	struct cb_pieces *c = ctx;

	if ((int)index == c->fail_at)
		return CF_E_NOTFOUND;
	if (index >= c->ps->n) {
		*piece = NULL;
		return 0;
	}
	*piece = malloc(c->ps->len[index]);
	REQUIRE(*piece);
	memcpy(*piece, c->ps->p[index], c->ps->len[index]);
	*len = c->ps->len[index];
	return 0;
}

static void test_tree_roundtrip(void)
{
	struct tentry **t;
	struct pieces ps;
	struct cf_tree_reader *r = NULL;
	const struct cf_archive_entry *e;
	struct cb_pieces cb;
	size_t n, i, total = 0;

	t = sample_entries(&n);
	build_tree(&ps, t, n, 2048);
	CHECK(ps.n > 3);
	for (i = 0; i < ps.n; i++) {
		CHECK(ps.len[i] <= CF_TREE_PIECE_MAX);
		total += ps.len[i];
	}

	/* from memory */
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	for (i = 0;; i++) {
		CHECK_RC(cf_tree_reader_next(r, &e), 0);
		if (!e)
			break;
		CHECK(i < n && entry_equal(e, &t[i]->e));
	}
	CHECK(i == n);
	CHECK_RC(cf_tree_reader_next(r, &e), 0);
	CHECK(e == NULL);
	cf_tree_reader_free(r);

	/* through the callback */
	cb.ps = &ps;
	cb.fail_at = -1;
	REQUIRE(cf_tree_reader_new(&r, next_piece, &cb) == 0);
	for (i = 0;; i++) {
		CHECK_RC(cf_tree_reader_next(r, &e), 0);
		if (!e)
			break;
		CHECK(i < n && entry_equal(e, &t[i]->e));
	}
	CHECK(i == n);
	cf_tree_reader_free(r);

	/* a callback error is returned as is, and sticks */
	cb.fail_at = 1;
	REQUIRE(cf_tree_reader_new(&r, next_piece, &cb) == 0);
	for (i = 0; i < n; i++)
		if (cf_tree_reader_next(r, &e) != 0)
			break;
	CHECK(i > 0 && i < n);
	CHECK_RC(cf_tree_reader_next(r, &e), CF_E_NOTFOUND);
	cf_tree_reader_free(r);
	pieces_free(&ps);

	/* the default target: a single piece holds them all */
	build_tree(&ps, t, n, 0);
	CHECK(ps.n == 1 && ps.len[0] < total);
	pieces_free(&ps);

	/* a target of 1: one entry per piece */
	build_tree(&ps, t, n, 1);
	CHECK(ps.n == n);
	pieces_free(&ps);

	/* an empty tree has no piece and reads as empty */
	build_tree(&ps, t, 0, 0);
	CHECK(ps.n == 0);
	REQUIRE(cf_tree_reader_new_mem(&r, NULL, NULL, 0) == 0);
	CHECK_RC(cf_tree_reader_next(r, &e), 0);
	CHECK(e == NULL);
	cf_tree_reader_free(r);
	free_entries(t, n);
}

static void test_tree_writer_refuses(void)
{
	struct tentry *f = tentry_make("f", 0, 0644, 100, 50), *d = tentry_make("d", 1, 0755, 0, 0);
	struct cf_tree_writer *w = NULL;
	struct cf_archive_entry x;
	struct pieces ps = {0};
	size_t np = 9;

	CHECK_RC(cf_tree_writer_new(NULL, 0, collect, &ps), CF_E_INVAL);
	CHECK_RC(cf_tree_writer_new(&w, 0, NULL, &ps), CF_E_INVAL);
	CHECK_RC(cf_tree_writer_new(&w, CF_TREE_PIECE_MAX + 1, collect, &ps), CF_E_INVAL);
	CHECK(w == NULL);
	REQUIRE(cf_tree_writer_new(&w, 0, collect, &ps) == 0);

	x = f->e;
	x.path = "../f";
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.size = 101; /* refs sum to 100, header says 100 */
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.nrefs = 1; /* refs sum to 50 */
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.mode = 04644;
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.path = "g"; /* header names "f" */
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.mtime_nsec = 1000000000;
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = d->e;
	x.nrefs = 1;
	x.refs = f->refs;
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.body = 7;
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	x = f->e;
	x.refs = NULL;
	CHECK_RC(cf_tree_writer_add(w, &x), CF_E_INVAL);
	/* the writer carries on after refusing an entry */
	CHECK_RC(cf_tree_writer_add(w, &f->e), 0);
	CHECK_RC(cf_tree_writer_add(w, &d->e), 0);
	CHECK_RC(cf_tree_writer_finish(w, &np), 0);
	CHECK(np == 1 && ps.n == 1);
	CHECK_RC(cf_tree_writer_add(w, &f->e), CF_E_INVAL);
	cf_tree_writer_free(w);
	pieces_free(&ps);

	/* an emit error is returned and sticks */
	w = NULL;
	ps.fail = CF_E_IO;
	REQUIRE(cf_tree_writer_new(&w, 1, collect, &ps) == 0);
	CHECK_RC(cf_tree_writer_add(w, &f->e), 0);
	CHECK_RC(cf_tree_writer_add(w, &d->e), CF_E_IO);
	CHECK_RC(cf_tree_writer_add(w, &d->e), CF_E_IO);
	CHECK_RC(cf_tree_writer_finish(w, NULL), CF_E_IO);
	cf_tree_writer_free(w);
	cf_tree_writer_free(NULL);
	cf_tree_reader_free(NULL);
	tentry_free(f);
	tentry_free(d);
}

/* Decode a single hand-made piece; returns the reader's first error or 0. */
static int read_piece(const uint8_t *p, size_t len, size_t *entries)
{
	struct cf_tree_reader *r = NULL;
	const struct cf_archive_entry *e;
	size_t n = 0;
	int ret;

	REQUIRE(cf_tree_reader_new_mem(&r, &p, &len, 1) == 0);
	for (;;) {
		ret = cf_tree_reader_next(r, &e);
		if (ret || !e)
			break;
		n++;
	}
	if (ret)
		CHECK_RC(cf_tree_reader_next(r, &e), ret); /* sticky */
	cf_tree_reader_free(r);
	if (entries)
		*entries = n;
	return ret;
}

/* Hand-encoding of pieces with arbitrary (hostile) fields. */
struct raw_entry {
	uint8_t type, body;
	uint16_t plen;
	uint32_t mode;
	uint64_t size;
	uint32_t nsec, hlen, nrefs;
	const char *path;
	const uint8_t *header;
	const uint32_t *reflens;
	size_t refs_written; /* refs actually present in the bytes */
};

static void le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t raw_piece(uint8_t *buf, uint32_t index, uint32_t count, const struct raw_entry *re,
                        size_t n)
{
	size_t off = 12;

	memcpy(buf, "CFT\x01", 4);
	le(buf + 4, index, 4);
	le(buf + 8, count, 4);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + off;

		p[0] = re[i].type;
		p[1] = re[i].body;
		le(p + 2, re[i].plen, 2);
		le(p + 4, re[i].mode, 4);
		le(p + 8, re[i].size, 8);
		le(p + 16, 1700000000, 8);
		le(p + 24, re[i].nsec, 4);
		le(p + 28, re[i].hlen, 4);
		le(p + 32, re[i].nrefs, 4);
		off += 36;
		memcpy(buf + off, re[i].path, re[i].plen);
		off += re[i].plen;
		memcpy(buf + off, re[i].header, re[i].hlen);
		off += re[i].hlen;
		for (size_t k = 0; k < re[i].refs_written; k++) {
			memset(buf + off, 0xab, 32);
			le(buf + off + 32, re[i].reflens[k], 4);
			off += 36;
		}
	}
	return off;
}

static void test_tree_hostile(void)
{
	static uint8_t buf[1 << 18], hdr[CF_ARCHIVE_HEADER_MAX], dhdr[CF_ARCHIVE_HEADER_MAX];
	static const uint32_t lens[2] = {60, 40};
	struct cf_archive_entry fe = {
	    .path = "f", .type = CF_ARCHIVE_FILE, .mode = 0644, .size = 100};
	struct cf_archive_entry de = {.path = "d", .type = CF_ARCHIVE_DIR, .mode = 0755};
	struct raw_entry good, x, two[2];
	size_t hl, dl, len, n, i;
	uint8_t *big;
	int ret;

	REQUIRE(cf_archive_header(&fe, hdr, sizeof(hdr), &hl) == 0);
	REQUIRE(cf_archive_header(&de, dhdr, sizeof(dhdr), &dl) == 0);
	good = (struct raw_entry){.type = 1,
	                          .plen = 1,
	                          .mode = 0644,
	                          .size = 100,
	                          .hlen = (uint32_t)hl,
	                          .nrefs = 2,
	                          .path = "f",
	                          .header = hdr,
	                          .reflens = lens,
	                          .refs_written = 2};

	len = raw_piece(buf, 0, 1, &good, 1);
	CHECK_RC(read_piece(buf, len, &n), 0);
	CHECK(n == 1);

	/* every truncation is refused, never read beyond the end */
	for (i = 0; i < len; i++) {
		uint8_t *cut = malloc(i ? i : 1);

		REQUIRE(cut);
		memcpy(cut, buf, i);
		ret = read_piece(cut, i, &n);
		CHECK(ret == CF_E_TRUNCATED || ret == CF_E_CORRUPT);
		CHECK(n == 0);
		free(cut);
	}
	/* trailing bytes */
	buf[len] = 0;
	CHECK_RC(read_piece(buf, len + 1, NULL), CF_E_FORMAT);
	/* magic, version, index, count */
	buf[0] = 'X';
	CHECK_RC(read_piece(buf, len, NULL), CF_E_FORMAT);
	buf[0] = 'C';
	buf[3] = 2;
	CHECK_RC(read_piece(buf, len, NULL), CF_E_VERSION);
	buf[3] = 1;
	le(buf + 4, 1, 4);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	le(buf + 4, 0, 4);
	le(buf + 8, 0, 4);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	le(buf + 8, 0xffffffffu, 4);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	/* two entries, the second cut short: the first is not returned either */
	two[0] = good;
	two[1] = good;
	len = raw_piece(buf, 0, 2, two, 2);
	CHECK_RC(read_piece(buf, len, NULL), 0);
	CHECK_RC(read_piece(buf, len - 40, &n), CF_E_TRUNCATED);
	CHECK(n == 0);
	/* a count the piece cannot possibly hold */
	len = raw_piece(buf, 0, 2, two, 1);
	CHECK_RC(read_piece(buf, len, &n), CF_E_CORRUPT);
	/* a bad second entry: the first is not returned either (checked as a whole) */
	two[1].mode = 04755;
	len = raw_piece(buf, 0, 2, two, 2);
	CHECK_RC(read_piece(buf, len, &n), CF_E_CORRUPT);
	CHECK(n == 0);

	/* field by field */
	x = good;
	x.size = 101;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT); /* lengths do not sum */
	x = good;
	x.size = CF_ARCHIVE_SIZE_MAX + 1;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_LIMIT);
	x = good;
	x.hlen = (uint32_t)hl + 1;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.hlen = CF_ARCHIVE_HEADER_MAX + 512;
	len = raw_piece(buf, 0, 1, &good, 1);
	le(buf + 12 + 28, x.hlen, 4);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_LIMIT);
	x = good;
	x.nrefs = 0xffffffffu;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_TRUNCATED);
	x = good;
	x.type = 3; /* a symlink, say */
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.type = 0;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.mode = 01000644;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.nsec = 1000000000;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.body = 2;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.path = "\0";
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.path = "/";
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.plen = 0;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.plen = 5000;
	len = raw_piece(buf, 0, 1, &good, 1);
	le(buf + 12 + 2, x.plen, 2);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_LIMIT);
	{
		static const uint32_t zero[2] = {0, 100}, huge[2] = {CF_ARCHIVE_REF_MAX + 1, 0};

		x = good;
		x.reflens = zero;
		len = raw_piece(buf, 0, 1, &x, 1);
		CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
		x.reflens = huge;
		len = raw_piece(buf, 0, 1, &x, 1);
		CHECK_RC(read_piece(buf, len, NULL), CF_E_LIMIT);
	}
	/* a header for another path, or another type */
	x = good;
	x.path = "g";
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x = good;
	x.header = dhdr;
	x.hlen = (uint32_t)dl;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	/* a directory with a body */
	x = (struct raw_entry){
	    .type = 2, .plen = 1, .mode = 0755, .hlen = (uint32_t)dl, .path = "d", .header = dhdr};
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), 0);
	x.nrefs = 1;
	x.reflens = lens;
	x.refs_written = 1;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	/* a chunk list needs exactly one reference (its root) */
	x = good;
	x.body = CF_ARCHIVE_BODY_CHUNKLIST;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), CF_E_CORRUPT);
	x.nrefs = 1;
	x.refs_written = 1;
	len = raw_piece(buf, 0, 1, &x, 1);
	CHECK_RC(read_piece(buf, len, NULL), 0);

	/* an oversized piece */
	big = calloc(1, CF_TREE_PIECE_MAX + 1);
	REQUIRE(big);
	len = raw_piece(big, 0, 1, &good, 1);
	CHECK_RC(read_piece(big, CF_TREE_PIECE_MAX + 1, NULL), CF_E_LIMIT);
	free(big);
	/* a piece given as NULL */
	{
		const uint8_t *np = NULL;
		size_t nl = 0;
		struct cf_tree_reader *r = NULL;
		const struct cf_archive_entry *e;

		REQUIRE(cf_tree_reader_new_mem(&r, &np, &nl, 1) == 0);
		CHECK(cf_tree_reader_next(r, &e) != 0);
		cf_tree_reader_free(r);
	}
	/* random bytes after a valid piece head */
	for (int round = 0; round < 2000; round++) {
		len = raw_piece(buf, 0, 1, &good, 1);
		for (int k = 0; k < 1 + round % 4; k++) {
			size_t at = (size_t)rnd8() << 8;

			at = (at | rnd8()) % len;
			buf[at] = rnd8();
		}
		ret = read_piece(buf, len, NULL);
		CHECK(ret == 0 || ret == CF_E_CORRUPT || ret == CF_E_TRUNCATED ||
		      ret == CF_E_FORMAT || ret == CF_E_VERSION || ret == CF_E_LIMIT);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Tar stream                                                                          */

/* Parse @tar with libarchive and compare every entry and every body byte with @t. */
static void tar_matches(const uint8_t *tar, size_t len, struct tentry **t, size_t n)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	static uint8_t body[1 << 16];
	char want[CF_ARCHIVE_PATH_MAX + 2];
	size_t i;
	int r;

	REQUIRE(a);
	archive_read_support_format_tar(a);
	REQUIRE(archive_read_open_memory(a, tar, len) == ARCHIVE_OK);
	for (i = 0;; i++) {
		la_ssize_t got;
		size_t off = 0;

		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		CHECK(r == ARCHIVE_OK || r == ARCHIVE_WARN);
		if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || i >= n)
			break;
		snprintf(want, sizeof(want), "%s%s", t[i]->e.path,
		         t[i]->e.type == CF_ARCHIVE_DIR ? "/" : "");
		CHECK(strcmp(archive_entry_pathname(ae), want) == 0);
		CHECK((uint64_t)archive_entry_size(ae) == t[i]->e.size);
		while ((got = archive_read_data(a, body, sizeof(body))) > 0) {
			CHECK(off + (size_t)got <= t[i]->e.size &&
			      memcmp(body, t[i]->body + off, (size_t)got) == 0);
			off += (size_t)got;
		}
		CHECK(got == 0);
		CHECK(off == t[i]->e.size);
	}
	CHECK(i == n);
	archive_read_free(a);
}

static void test_stream(void)
{
	static const size_t steps[] = {1, 7, 511, 512, 4096, 100000};
	struct tentry **t;
	uint8_t *ref, *s;
	size_t n, rlen, slen, expect = 1024;
	int err;

	t = sample_entries(&n);
	for (size_t i = 0; i < n; i++)
		expect += t[i]->e.header_len + (size_t)(t[i]->e.size + 511) / 512 * 512;
	fetches = 0;
	ref = stream_of(t, n, 65536, NULL, 0, &rlen, &err);
	CHECK_RC(err, 0);
	CHECK(rlen == expect);
	CHECK(rlen % 512 == 0);
	tar_matches(ref, rlen, t, n);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		s = stream_of(t, n, steps[k], NULL, 0, &slen, &err);
		CHECK_RC(err, 0);
		CHECK(slen == rlen && memcmp(s, ref, rlen) == 0);
		free(s);
	}

	/* GNU tar reads the same stream: names and one body */
	{
		char dir[] = "/tmp/cfarchXXXXXX", path[64], cmd[256], line[512];
		FILE *f, *p;
		size_t i = 0, got;
		static uint8_t body[8192];

		if (mkdtemp(dir) && system("tar --version >/dev/null 2>&1") == 0) {
			snprintf(path, sizeof(path), "%s/s.tar", dir);
			f = fopen(path, "wb");
			REQUIRE(f);
			CHECK(fwrite(ref, 1, rlen, f) == rlen);
			fclose(f);
			snprintf(cmd, sizeof(cmd), "tar -tf %s", path);
			p = popen(cmd, "r");
			REQUIRE(p);
			while (fgets(line, sizeof(line), p)) {
				char want[600];

				line[strcspn(line, "\n")] = '\0';
				if (i < n)
					snprintf(want, sizeof(want), "%s%s", t[i]->e.path,
					         t[i]->e.type == CF_ARCHIVE_DIR ? "/" : "");
				CHECK(i < n && strcmp(line, want) == 0);
				i++;
			}
			CHECK(pclose(p) == 0);
			CHECK(i == n);
			snprintf(cmd, sizeof(cmd), "tar -xOf %s chat.db", path);
			p = popen(cmd, "r");
			REQUIRE(p);
			got = fread(body, 1, sizeof(body), p);
			CHECK(pclose(p) == 0);
			CHECK(got == t[0]->e.size && memcmp(body, t[0]->body, got) == 0);
			unlink(path);
			rmdir(dir);
		} else {
			fprintf(stderr, "GNU tar not available: interop check skipped\n");
		}
	}

	/* export to a file descriptor gives the same bytes */
	{
		struct cf_tree_reader *r = NULL;
		struct cf_tarstream *ts = NULL;
		struct pieces ps;
		char path[] = "/tmp/cfexpXXXXXX";
		int fd = mkstemp(path);
		struct stat st;
		struct cf_tarstream_stats sst;
		uint8_t *back;

		REQUIRE(fd >= 0);
		build_tree(&ps, t, n, 4096);
		REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) ==
		        0);
		REQUIRE(cf_tarstream_new(&ts, r, fetch, NULL) == 0);
		CHECK_RC(cf_tarstream_export(ts, fd), 0);
		cf_tarstream_get_stats(ts, &sst);
		CHECK(sst.stream_bytes == rlen && sst.files + sst.dirs == n);
		REQUIRE(fstat(fd, &st) == 0);
		CHECK((size_t)st.st_size == rlen);
		back = malloc(rlen);
		REQUIRE(back);
		CHECK(pread(fd, back, rlen, 0) == (ssize_t)rlen && memcmp(back, ref, rlen) == 0);
		free(back);
		close(fd);
		unlink(path);
		cf_tarstream_free(ts);
		cf_tree_reader_free(r);

		/* a reader that went away: -EPIPE, not a crash */
		int pfd[2];

		REQUIRE(pipe(pfd) == 0);
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) ==
		        0);
		REQUIRE(cf_tarstream_new(&ts, r, fetch, NULL) == 0);
		CHECK_RC(cf_tarstream_export(ts, pfd[1]), -EPIPE);
		close(pfd[1]);
		cf_tarstream_free(ts);
		cf_tree_reader_free(r);
		pieces_free(&ps);
	}

	/* an empty tree is just the two end blocks */
	s = stream_of(t, 0, 100, NULL, 0, &slen, &err);
	CHECK_RC(err, 0);
	CHECK(slen == 1024);
	for (size_t i = 0; i < slen; i++)
		if (s[i])
			CHECK(!"non-zero end block");
	free(s);
	free(ref);
	free_entries(t, n);
}

static void test_filter(void)
{
	struct tentry *t[6], *sel[6];
	const char *const f1[] = {"Attachments/ab", "nothing/here", "Attachments/ab/"};
	const char *const f2[] = {"chat.db"};
	const char *const bad[] = {"../x"};
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	struct pieces ps;
	uint8_t *out, tmp[16];
	size_t len, got;
	unsigned before;
	int err;

	t[0] = tentry_make("chat.db", 0, 0600, 700, 300);
	t[1] = tentry_make("Attachments/ab", 1, 0700, 0, 0);
	t[2] = tentry_make("Attachments/ab/x.jpg", 0, 0600, 10, 0);
	t[3] = tentry_make("Attachments/abc.jpg", 0, 0600, 20, 0);
	t[4] = tentry_make("Attachments/ab/y/z.jpg", 0, 0600, 30, 0);
	t[5] = tentry_make("Attachments/a", 0, 0600, 40, 0);

	fetches = 0;
	out = stream_of(t, 6, 333, f1, 3, &len, &err);
	CHECK_RC(err, 0);
	sel[0] = t[1];
	sel[1] = t[2];
	sel[2] = t[4];
	tar_matches(out, len, sel, 3);
	CHECK(fetches == 2); /* only the selected bodies were fetched */
	free(out);

	out = stream_of(t, 6, 4096, f2, 1, &len, &err);
	CHECK_RC(err, 0);
	tar_matches(out, len, t, 1);
	free(out);

	/* which filter paths matched */
	build_tree(&ps, t, 6, 0);
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	CHECK_RC(cf_tarstream_set_filter(s, bad, 1), CF_E_INVAL);
	CHECK_RC(cf_tarstream_set_filter(s, f1, 0), CF_E_INVAL);
	CHECK_RC(cf_tarstream_set_filter(s, f1, 3), 0);
	CHECK_RC(cf_tarstream_set_filter(s, f2, 1), CF_E_INVAL); /* only once */
	out = stream_all(s, 100, &len, &err);
	CHECK_RC(err, 0);
	CHECK(cf_tarstream_filter_matched(s, 0) == 1);
	CHECK(cf_tarstream_filter_matched(s, 1) == 0);
	CHECK(cf_tarstream_filter_matched(s, 2) == 1);
	CHECK(cf_tarstream_filter_matched(s, 3) == 0);
	free(out);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);

	/* after reading began, no filter */
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	CHECK_RC(cf_tarstream_read(s, tmp, sizeof(tmp), &got), 0);
	CHECK_RC(cf_tarstream_set_filter(s, f2, 1), CF_E_INVAL);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);

	/* a fetch error stops the stream and sticks */
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	fetch_fail_at = (int)(t[0]->refs[1].id[0] | t[0]->refs[1].id[1] << 8);
	before = fetches;
	out = stream_all(s, 4096, &len, &err);
	CHECK_RC(err, CF_E_AUTH);
	CHECK(fetches == before + 2);
	CHECK_RC(cf_tarstream_read(s, tmp, sizeof(tmp), &got), CF_E_AUTH);
	fetch_fail_at = -1;
	free(out);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	pieces_free(&ps);

	CHECK_RC(cf_tarstream_new(&s, NULL, fetch, NULL), CF_E_INVAL);
	cf_tarstream_free(NULL);
	for (int i = 0; i < 6; i++)
		tentry_free(t[i]);
}

static void test_chunklist(void)
{
	struct tentry *t = tentry_make("huge.db", 0, 0600, 4000, 0);
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	const struct cf_archive_entry *e;
	struct pieces ps;
	uint8_t *out;
	size_t len;
	int err;

	t->e.body = CF_ARCHIVE_BODY_CHUNKLIST; /* refs[0] stands for the root node */
	build_tree(&ps, &t, 1, 0);
	CHECK(ps.n == 1);
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	CHECK_RC(cf_tree_reader_next(r, &e), 0);
	CHECK(e && e->body == CF_ARCHIVE_BODY_CHUNKLIST && e->nrefs == 1 && e->size == 4000);
	cf_tree_reader_free(r);
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)ps.p, ps.len, ps.n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	out = stream_all(s, 4096, &len, &err);
	CHECK_RC(err, CF_E_VERSION);
	CHECK(len == 0);
	free(out);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	pieces_free(&ps);
	tentry_free(t);
}

int main(void)
{
	cf_log_set_level((enum cf_log_level)(CF_LOG_ERR - 1)); /* expected errors are noisy */
	if (getenv("CF_TEST_VERBOSE"))
		cf_log_set_level(CF_LOG_DEBUG);
	test_paths();
	test_header();
	test_header_check();
	test_tree_roundtrip();
	test_tree_writer_refuses();
	test_tree_hostile();
	test_stream();
	test_filter();
	test_chunklist();
	for (size_t i = 0; i < nchunks; i++)
		free(chunk_data[i]);
	return check_finish();
}
