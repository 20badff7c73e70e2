/* SPDX-License-Identifier: ISC */
/*
 * Tests of restore/extract.h: a round trip from the snapshot stream producer into a
 * folder; hostile tar streams made with libarchive's writer (.., absolute paths,
 * symlinks, hard links, devices, fifos, setuid) refused with nothing written outside
 * the target; symlinks already in the target; non-tar input; the atomic swap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "repo/archive.h"
#include "restore/extract.h"
#include "tests/lib/check.h"
#include "util/log.h"

static char *base; /* per-run scratch folder: base/t<N> targets, base/outside sentinel */
static char outside[PATH_MAX];

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                             */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *fresh_target(void)
{
	static unsigned seq;
	char *p = malloc(PATH_MAX);

	REQUIRE(p);
	snprintf(p, PATH_MAX, "%s/t%u", base, seq++);
	REQUIRE(mkdir(p, 0700) == 0);
	return p;
}

static void drop(char *dir)
{
	cf_extract_rmtree(dir);
	free(dir);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	REQUIRE(fstat(fd, &st) == 0);
	b = malloc((size_t)st.st_size + 1);
	REQUIRE(b);
	REQUIRE(read(fd, b, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* An in-memory tar stream handed out in pieces of @step bytes; fails at @fail_at. */
struct memsrc {
	const uint8_t *p;
	size_t len, off, step;
	size_t fail_at; /* offset at which the source fails (0: never) */
};

static int mem_read(void *ctx, void *buf, size_t len, size_t *got)
{
	struct memsrc *m = ctx;
	size_t n = m->len - m->off;

	if (m->fail_at && m->off >= m->fail_at)
		return CF_E_AUTH;
	if (n > len)
		n = len;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*got = n;
	return 0;
}

static int extract_mem(const char *target, const uint8_t *tar, size_t len, unsigned flags,
                       struct cf_extract_stats *st)
{
	struct memsrc m = {.p = tar, .len = len, .step = 1000};

	return cf_extract_stream(target, mem_read, &m, flags, st);
}

/* Hostile tar streams, written with libarchive's own writer. */
struct tarw {
	struct archive *a;
	uint8_t *buf;
	size_t used;
};

static void tarw_open(struct tarw *w)
{
	w->buf = malloc(1 << 20);
	REQUIRE(w->buf);
	w->used = 0;
	w->a = archive_write_new();
	REQUIRE(w->a);
	REQUIRE(archive_write_set_format_pax_restricted(w->a) == ARCHIVE_OK);
	REQUIRE(archive_write_open_memory(w->a, w->buf, 1 << 20, &w->used) == ARCHIVE_OK);
}

static void tarw_add(struct tarw *w, const char *path, mode_t type, mode_t perm, const char *link,
                     int hard, const char *body)
{
	struct archive_entry *ae = archive_entry_new();
	size_t blen = body ? strlen(body) : 0;

	REQUIRE(ae);
	archive_entry_set_pathname(ae, path);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, perm);
	archive_entry_set_mtime(ae, 1700000000, 0);
	if (type == AE_IFCHR || type == AE_IFBLK)
		archive_entry_set_rdev(ae, makedev(1, 3));
	if (link && hard)
		archive_entry_set_hardlink(ae, link);
	else if (link)
		archive_entry_set_symlink(ae, link);
	archive_entry_set_size(ae, type == AE_IFREG && !hard ? (la_int64_t)blen : 0);
	REQUIRE(archive_write_header(w->a, ae) == ARCHIVE_OK);
	if (blen && type == AE_IFREG && !hard)
		REQUIRE(archive_write_data(w->a, body, blen) == (la_ssize_t)blen);
	archive_entry_free(ae);
}

static void tarw_close(struct tarw *w)
{
	REQUIRE(archive_write_close(w->a) == ARCHIVE_OK);
	archive_write_free(w->a);
}

/* ---------------------------------------------------------------------------------- */
/* Snapshot streams from repo/archive.h                                                */

#define MAX_CHUNKS 512
static uint8_t *chunks[MAX_CHUNKS];
static uint32_t chunk_lens[MAX_CHUNKS];
static size_t nchunks;

static int fetch(void *ctx, const uint8_t id[32], uint32_t len, uint8_t **data)
{
	size_t i = (size_t)id[0] | (size_t)id[1] << 8;

	(void)ctx;
	if (i >= nchunks || chunk_lens[i] != len)
		return CF_E_NOTFOUND;
	*data = malloc(len);
	if (!*data)
		return -ENOMEM;
	memcpy(*data, chunks[i], len);
	return 0;
}

struct spec {
	const char *path;
	int dir;
	uint32_t mode;
	uint32_t size;
};

struct tree {
	uint8_t *pieces[64];
	size_t lens[64];
	size_t n;
	uint8_t *bodies[64]; /* per spec entry */
};

static int collect(void *ctx, const uint8_t *piece, size_t len)
{
	struct tree *t = ctx;

	REQUIRE(t->n < 64);
	t->pieces[t->n] = malloc(len);
	REQUIRE(t->pieces[t->n]);
	memcpy(t->pieces[t->n], piece, len);
	t->lens[t->n++] = len;
	return 0;
}

static void tree_build(struct tree *t, const struct spec *s, size_t n)
{
	static uint8_t hdr[CF_ARCHIVE_HEADER_MAX];
	struct cf_tree_writer *w = NULL;
	uint32_t x = 777;

	memset(t, 0, sizeof(*t));
	REQUIRE(cf_tree_writer_new(&w, 4096, collect, t) == 0);
	for (size_t i = 0; i < n; i++) {
		struct cf_archive_ref refs[32];
		struct cf_archive_entry e = {.path = s[i].path,
		                             .type = s[i].dir ? CF_ARCHIVE_DIR : CF_ARCHIVE_FILE,
		                             .mode = s[i].mode,
		                             .size = s[i].dir ? 0 : s[i].size,
		                             .mtime = 1600000000 + (int64_t)i * 1000,
		                             .refs = refs};

		t->bodies[i] = malloc(s[i].size + 1);
		REQUIRE(t->bodies[i]);
		for (uint32_t k = 0; k < s[i].size; k++) {
			x = x * 1664525u + 1013904223u;
			t->bodies[i][k] = (uint8_t)(x >> 24);
		}
		for (uint32_t off = 0; !s[i].dir && off < s[i].size;) {
			uint32_t len = s[i].size - off > 3000 ? 3000 : s[i].size - off;
			size_t c = nchunks++;

			REQUIRE(c < MAX_CHUNKS && e.nrefs < 32);
			chunks[c] = malloc(len);
			REQUIRE(chunks[c]);
			memcpy(chunks[c], t->bodies[i] + off, len);
			chunk_lens[c] = len;
			memset(refs[e.nrefs].id, 0x5a, 32);
			refs[e.nrefs].id[0] = (uint8_t)c;
			refs[e.nrefs].id[1] = (uint8_t)(c >> 8);
			refs[e.nrefs].len = len;
			e.nrefs++;
			off += len;
		}
		REQUIRE(cf_archive_header(&e, hdr, sizeof(hdr), &e.header_len) == 0);
		e.header = hdr;
		REQUIRE(cf_tree_writer_add(w, &e) == 0);
	}
	REQUIRE(cf_tree_writer_finish(w, NULL) == 0);
	cf_tree_writer_free(w);
}

static void tree_free(struct tree *t, size_t n)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->pieces[i]);
	for (size_t i = 0; i < n; i++)
		free(t->bodies[i]);
}

/* Extract the snapshot stream of @t into @target. */
static int extract_tree(struct tree *t, const char *target, unsigned flags,
                        struct cf_extract_stats *st)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	int ret;

	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)t->pieces, t->lens, t->n) == 0);
	REQUIRE(cf_tarstream_new(&s, r, fetch, NULL) == 0);
	ret = cf_extract_stream(target, cf_tarstream_pull, s, flags, st);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	return ret;
}

static const struct spec sample[] = {
    {"chat.db", 0, 0600, 20000},
    {"Attachments", 1, 0750, 0},
    {"Attachments/ab", 1, 0700, 0},
    {"Attachments/ab/photo.jpg", 0, 0644, 7001},
    {"Attachments/ab/empty", 0, 0400, 0},
    {"Attachments/caf\xc3\xa9 \xe2\x98\x95.png", 0, 0640, 513},
    {"Attachments/a-long-folder-name-that-goes-on-and-on-and-on/and-a-long-file-name-"
     "too-so-the-path-needs-a-pax-header.bin",
     0, 0600, 1},
    {"ro", 1, 0500, 0},
    {"ro/inside", 0, 0444, 100},
};
#define NSAMPLE (sizeof(sample) / sizeof(sample[0]))

static void check_sample(const char *dir, const struct tree *t)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < NSAMPLE; i++) {
		struct stat st;
		uint8_t *b;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, sample[i].path);
		CHECK(lstat(path, &st) == 0);
		CHECK(sample[i].dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
		CHECK((st.st_mode & 07777) == sample[i].mode);
		CHECK(st.st_mtime == 1600000000 + (time_t)i * 1000);
		if (st.st_mtime != 1600000000 + (time_t)i * 1000)
			fprintf(stderr, "  %s: mtime %lld\n", sample[i].path,
			        (long long)st.st_mtime);
		if (sample[i].dir)
			continue;
		CHECK(st.st_uid == getuid());
		b = slurp(path, &len);
		if (!b && access(path, R_OK) != 0)
			continue; /* root-less and unreadable: mode checked above */
		CHECK(b && len == sample[i].size && memcmp(b, t->bodies[i], len) == 0);
		free(b);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Tests                                                                               */

static void test_roundtrip(void)
{
	struct cf_extract_stats st;
	struct tree t;
	char *dir = fresh_target(), cwd1[PATH_MAX], cwd2[PATH_MAX];
	uint64_t bytes = 0;

	for (size_t i = 0; i < NSAMPLE; i++)
		bytes += sample[i].dir ? 0 : sample[i].size;
	tree_build(&t, sample, NSAMPLE);
	REQUIRE(getcwd(cwd1, sizeof(cwd1)));
	umask(077); /* the stored modes win over the umask */
	CHECK_RC(extract_tree(&t, dir, 0, &st), 0);
	umask(022);
	REQUIRE(getcwd(cwd2, sizeof(cwd2)));
	CHECK(strcmp(cwd1, cwd2) == 0);
	CHECK(st.files == 6 && st.dirs == 3 && st.bytes == bytes);
	check_sample(dir, &t);
	CHECK(count_entries(dir) == 3);

	/* again into the same folder: overwritten; with NO_OVERWRITE: refused */
	CHECK_RC(extract_tree(&t, dir, 0, &st), 0);
	check_sample(dir, &t);
	CHECK_RC(extract_tree(&t, dir, CF_EXTRACT_NO_OVERWRITE, &st), CF_E_EXISTS);
	drop(dir);

	/* NO_TIME leaves times at now */
	dir = fresh_target();
	CHECK_RC(extract_tree(&t, dir, CF_EXTRACT_NO_TIME, &st), 0);
	{
		char p[PATH_MAX];
		struct stat s;

		snprintf(p, sizeof(p), "%s/chat.db", dir);
		CHECK(stat(p, &s) == 0 && s.st_mtime > 1700000000);
	}
	drop(dir);

	/* a target that is not a folder */
	CHECK_RC(cf_extract_stream(NULL, mem_read, NULL, 0, &st), CF_E_INVAL);
	CHECK_RC(cf_extract_stream("/dev/null", mem_read, NULL, 0, &st), CF_E_INVAL);
	tree_free(&t, NSAMPLE);
}

/* A hostile stream must be refused with @want and leave the sentinel empty. */
static void expect_refused(const char *what, const uint8_t *tar, size_t len, int want)
{
	char *dir = fresh_target(), cwd1[PATH_MAX], cwd2[PATH_MAX];
	struct cf_extract_stats st;
	int r;

	REQUIRE(getcwd(cwd1, sizeof(cwd1)));
	r = extract_mem(dir, tar, len, 0, &st);
	REQUIRE(getcwd(cwd2, sizeof(cwd2)));
	CHECK(strcmp(cwd1, cwd2) == 0);
	CHECK(r == want);
	if (r != want)
		fprintf(stderr, "  %s: got %d, expected %d\n", what, r, want);
	CHECK(count_entries(outside) == 0);
	CHECK(access("/tmp/cf-escaped", F_OK) != 0);
	drop(dir);
}

struct tent {
	const char *path; /* NULL ends a case; "@" stands for <outside>/evil (absolute) */
	mode_t type, perm;
	const char *link; /* "@" stands for <outside> (absolute) */
	int hard;
	const char *body;
};

static const struct {
	const char *what;
	struct tent e[3];
} hostile[] = {
    {"dotdot", {{"../outside/evil", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"dotdot deep", {{"a/../../outside/evil", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"dotdot dir", {{"..", AE_IFDIR, 0755, NULL, 0, NULL}}},
    {"absolute", {{"@", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"absolute tmp", {{"/tmp/cf-escaped", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"symlink out, then through it",
     {{"link", AE_IFLNK, 0777, "@", 0, NULL}, {"link/evil", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"relative symlink out",
     {{"link", AE_IFLNK, 0777, "../outside", 0, NULL},
      {"link/evil", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"harmless-looking symlink", {{"l", AE_IFLNK, 0777, "chat.db", 0, NULL}}},
    {"hardlink out", {{"hl", AE_IFREG, 0644, "/etc/passwd", 1, NULL}}},
    {"hardlink in", {{"f", AE_IFREG, 0644, NULL, 0, "data"}, {"hl", AE_IFREG, 0644, "f", 1, NULL}}},
    {"char device", {{"null", AE_IFCHR, 0666, NULL, 0, NULL}}},
    {"block device", {{"sda", AE_IFBLK, 0660, NULL, 0, NULL}}},
    {"fifo", {{"fifo", AE_IFIFO, 0644, NULL, 0, NULL}}},
    {"setuid", {{"suid", AE_IFREG, 04755, NULL, 0, "#!/bin/sh\n"}}},
    {"setgid dir", {{"sgid", AE_IFDIR, 02755, NULL, 0, NULL}}},
    {"sticky", {{"sticky", AE_IFDIR, 01777, NULL, 0, NULL}}},
    {"backslash", {{"..\\..\\outside\\evil", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"empty component", {{"a//b", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"dot component", {{"./a", AE_IFREG, 0644, NULL, 0, "x"}}},
    {"file with trailing slash", {{"a/", AE_IFREG, 0644, NULL, 0, "x"}}},
};

static void test_hostile(void)
{
	char abs_path[PATH_MAX + 16];
	struct tarw w;

	snprintf(abs_path, sizeof(abs_path), "%s/evil", outside);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		tarw_open(&w);
		for (const struct tent *t = hostile[i].e; t->path; t++) {
			const char *path = strcmp(t->path, "@") ? t->path : abs_path;
			const char *link = t->link && !strcmp(t->link, "@") ? outside : t->link;

			tarw_add(&w, path, t->type, t->perm, link, t->hard, t->body);
		}
		tarw_close(&w);
		expect_refused(hostile[i].what, w.buf, w.used, CF_E_UNSAFE);
		free(w.buf);
	}

	/* a good entry, then a bad one: the first stays, nothing after the bad one */
	{
		char *dir = fresh_target(), p[PATH_MAX];
		struct cf_extract_stats st;

		tarw_open(&w);
		tarw_add(&w, "good", AE_IFREG, 0644, NULL, 0, "fine");
		tarw_add(&w, "dev", AE_IFCHR, 0666, NULL, 0, NULL);
		tarw_add(&w, "after", AE_IFREG, 0644, NULL, 0, "never");
		tarw_close(&w);
		CHECK_RC(extract_mem(dir, w.buf, w.used, 0, &st), CF_E_UNSAFE);
		CHECK(st.files == 1 && st.bytes == 4);
		snprintf(p, sizeof(p), "%s/good", dir);
		CHECK(access(p, F_OK) == 0);
		snprintf(p, sizeof(p), "%s/after", dir);
		CHECK(access(p, F_OK) != 0);
		CHECK(count_entries(dir) == 1);
		free(w.buf);
		drop(dir);
	}
}

static void test_existing_symlinks(void)
{
	static const struct spec s[] = {
	    {"Attachments", 1, 0700, 0},
	    {"Attachments/x.jpg", 0, 0600, 10},
	};
	static const struct spec s2[] = {{"chat.db", 0, 0600, 10}};
	char *dir, p[PATH_MAX];
	struct cf_extract_stats st;
	struct tree t;

	/* a folder of the target is a symlink pointing outside */
	tree_build(&t, s, 2);
	dir = fresh_target();
	snprintf(p, sizeof(p), "%s/Attachments", dir);
	REQUIRE(symlink(outside, p) == 0);
	CHECK_RC(extract_tree(&t, dir, 0, &st), CF_E_UNSAFE);
	CHECK(count_entries(outside) == 0);
	drop(dir);

	/* deeper: only the file's parent is a link */
	dir = fresh_target();
	snprintf(p, sizeof(p), "%s/Attachments", dir);
	REQUIRE(mkdir(p, 0700) == 0);
	tree_free(&t, 2);
	{
		static const struct spec s3[] = {{"Attachments/in/x.jpg", 0, 0600, 10}};

		tree_build(&t, s3, 1);
		snprintf(p, sizeof(p), "%s/Attachments/in", dir);
		REQUIRE(symlink("../../../outside", p) == 0);
		CHECK_RC(extract_tree(&t, dir, 0, &st), CF_E_UNSAFE);
		CHECK(count_entries(outside) == 0);
		tree_free(&t, 1);
	}
	drop(dir);

	/* the file itself is a symlink to a file outside */
	tree_build(&t, s2, 1);
	dir = fresh_target();
	snprintf(p, sizeof(p), "%s/chat.db", dir);
	REQUIRE(symlink("../outside/victim", p) == 0);
	CHECK_RC(extract_tree(&t, dir, 0, &st), CF_E_UNSAFE);
	CHECK(count_entries(outside) == 0);
	drop(dir);
	tree_free(&t, 1);
}

static void test_bad_input(void)
{
	static const struct spec s[] = {{"chat.db", 0, 0600, 50000}};
	uint8_t junk[4096];
	struct tarw w;
	struct tree t;
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *ts = NULL;
	uint8_t *tar;
	size_t len = 0, got;
	char *dir;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	expect_refused("junk", junk, sizeof(junk), CF_E_FORMAT);
	expect_refused("empty", junk, 0, CF_E_FORMAT);

	/* a compressed tar is not read (no filters) */
	tarw_open(&w);
	archive_write_free(w.a);
	w.a = archive_write_new();
	REQUIRE(w.a);
	REQUIRE(archive_write_set_format_pax_restricted(w.a) == ARCHIVE_OK);
	if (archive_write_add_filter_gzip(w.a) == ARCHIVE_OK) {
		REQUIRE(archive_write_open_memory(w.a, w.buf, 1 << 20, &w.used) == ARCHIVE_OK);
		tarw_add(&w, "f", AE_IFREG, 0644, NULL, 0, "compressed");
		tarw_close(&w);
		expect_refused("gzip", w.buf, w.used, CF_E_FORMAT);
	} else {
		archive_write_free(w.a);
	}
	free(w.buf);

	/* a stream cut in the middle of a body, and a source that fails */
	tree_build(&t, s, 1);
	REQUIRE(cf_tree_reader_new_mem(&r, (const uint8_t *const *)t.pieces, t.lens, t.n) == 0);
	REQUIRE(cf_tarstream_new(&ts, r, fetch, NULL) == 0);
	tar = malloc(1 << 17);
	REQUIRE(tar);
	CHECK_RC(cf_tarstream_read(ts, tar, 1 << 17, &got), 0);
	len = got;
	CHECK(len == 512 + 50176 + 1024);
	expect_refused("truncated", tar, 20000, CF_E_FORMAT);
	{
		struct memsrc m = {.p = tar, .len = len, .step = 4096, .fail_at = 8192};
		struct cf_extract_stats st;

		dir = fresh_target();
		CHECK_RC(cf_extract_stream(dir, mem_read, &m, 0, &st), CF_E_AUTH);
		CHECK(count_entries(outside) == 0);
		drop(dir);
	}
	free(tar);
	cf_tarstream_free(ts);
	cf_tree_reader_free(r);

	/* a full disk (here: a file size limit) is reported as such, cwd restored */
	{
		struct rlimit old, lim;
		struct cf_extract_stats st;
		char cwd1[PATH_MAX], cwd2[PATH_MAX];

		REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
		lim = old;
		lim.rlim_cur = 10000;
		signal(SIGXFSZ, SIG_IGN);
		dir = fresh_target();
		REQUIRE(getcwd(cwd1, sizeof(cwd1)));
		REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
		CHECK_RC(extract_tree(&t, dir, 0, &st), -EFBIG);
		REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
		REQUIRE(getcwd(cwd2, sizeof(cwd2)));
		CHECK(strcmp(cwd1, cwd2) == 0);
		CHECK(st.files == 0 && st.bytes <= 10000);
		drop(dir);
	}
	tree_free(&t, 1);
}

/* Fill @dir with files "<tag>-1", "<tag>-sub/<tag>-2" (the sub-folder read-only). */
static void fill(const char *dir, const char *tag)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s-1", dir, tag);
	f = fopen(p, "w");
	REQUIRE(f);
	fputs(tag, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/%s-sub", dir, tag);
	REQUIRE(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/%s-sub/%s-2", dir, tag, tag);
	f = fopen(p, "w");
	REQUIRE(f);
	fputs(tag, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/%s-sub", dir, tag);
	REQUIRE(chmod(p, 0500) == 0);
}

static int has(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return access(p, F_OK) == 0;
}

static void test_swap(unsigned flags)
{
	char *parent = fresh_target(), live[PATH_MAX], *tmp = NULL;
	struct stat st;

	snprintf(live, sizeof(live), "%s/store", parent);
	REQUIRE(mkdir(live, 0750) == 0);
	fill(live, "old");
	CHECK_RC(cf_extract_tmpdir(live, &tmp), 0);
	REQUIRE(tmp);
	CHECK(strncmp(tmp, parent, strlen(parent)) == 0);
	CHECK(stat(tmp, &st) == 0 && (st.st_mode & 0777) == 0700);
	fill(tmp, "new");
	CHECK_RC(cf_extract_swap_into_flags(tmp, live, flags), 0);
	CHECK(has(live, "new-1") && has(live, "new-sub/new-2"));
	CHECK(!has(live, "old-1") && !has(live, "old-sub"));
	CHECK(access(tmp, F_OK) != 0);
	CHECK(count_entries(parent) == 1); /* no temporary or old folder left */
	CHECK(stat(live, &st) == 0 && (st.st_mode & 0777) == 0750);
	free(tmp);

	/* through a symlink: the folder it names is replaced, the link stays */
	{
		char link[PATH_MAX + 64];

		snprintf(link, sizeof(link), "%s/link", parent);
		REQUIRE(symlink("store", link) == 0);
		CHECK_RC(cf_extract_tmpdir(link, &tmp), 0);
		fill(tmp, "third");
		CHECK_RC(cf_extract_swap_into_flags(tmp, link, flags), 0);
		CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
		CHECK(has(live, "third-1") && !has(live, "new-1"));
		CHECK(count_entries(parent) == 2);
		free(tmp);
		unlink(link);
	}

	/* no live folder yet */
	{
		char fresh[PATH_MAX + 64];

		snprintf(fresh, sizeof(fresh), "%s/newstore", parent);
		CHECK_RC(cf_extract_tmpdir(fresh, &tmp), 0);
		fill(tmp, "n");
		CHECK_RC(cf_extract_swap_into_flags(tmp, fresh, flags), 0);
		CHECK(has(fresh, "n-1") && access(tmp, F_OK) != 0);
		free(tmp);
	}

	/* refused: live is a file; tmp inside live; tmp missing. Nothing changes. */
	{
		char file[PATH_MAX + 64], inner[PATH_MAX + 64];
		FILE *f;

		snprintf(file, sizeof(file), "%s/plain", parent);
		f = fopen(file, "w");
		REQUIRE(f);
		fclose(f);
		CHECK_RC(cf_extract_tmpdir(live, &tmp), 0);
		CHECK_RC(cf_extract_swap_into_flags(tmp, file, flags), CF_E_INVAL);
		CHECK(access(tmp, F_OK) == 0);
		snprintf(inner, sizeof(inner), "%s/inner", live);
		REQUIRE(mkdir(inner, 0700) == 0);
		CHECK_RC(cf_extract_swap_into_flags(inner, live, flags), CF_E_INVAL);
		CHECK_RC(cf_extract_swap_into_flags(live, inner, flags), CF_E_INVAL);
		CHECK(has(live, "third-1") && has(live, "inner"));
		CHECK_RC(cf_extract_swap_into_flags(file, live, flags), CF_E_INVAL);
		CHECK(cf_extract_swap_into_flags("/nonexistent/x", live, flags) != 0);
		CHECK(has(live, "third-1"));
		cf_extract_rmtree(tmp);
		free(tmp);
	}
	drop(parent);
}

static void test_swap_restore(void)
{
	static const struct spec s[] = {
	    {"chat.db", 0, 0600, 5000},
	    {"Attachments", 1, 0700, 0},
	    {"Attachments/p.jpg", 0, 0600, 100},
	};
	char *parent = fresh_target(), live[PATH_MAX], *tmp = NULL;
	struct cf_extract_stats st;
	struct tree t;

	/* the whole restore path: temp folder, extraction, swap */
	snprintf(live, sizeof(live), "%s/store", parent);
	REQUIRE(mkdir(live, 0700) == 0);
	fill(live, "old");
	tree_build(&t, s, 3);
	REQUIRE(cf_extract_tmpdir(live, &tmp) == 0);
	CHECK_RC(extract_tree(&t, tmp, 0, &st), 0);
	CHECK_RC(cf_extract_swap_into(tmp, live), 0);
	CHECK(has(live, "chat.db") && has(live, "Attachments/p.jpg") && !has(live, "old-1"));
	CHECK(count_entries(parent) == 1);
	free(tmp);
	tree_free(&t, 3);

	CHECK_RC(cf_extract_swap_into(NULL, live), CF_E_INVAL);
	CHECK_RC(cf_extract_tmpdir(NULL, &tmp), CF_E_INVAL);
	CHECK_RC(cf_extract_tmpdir("/", &tmp), CF_E_INVAL);
	CHECK_RC(cf_extract_rmtree("/nonexistent/cf-x"), 0);
	drop(parent);
}

int main(void)
{
	cf_log_set_level((enum cf_log_level)(CF_LOG_ERR - 1)); /* expected errors are noisy */
	if (getenv("CF_TEST_VERBOSE"))
		cf_log_set_level(CF_LOG_DEBUG);
	base = check_tmpdir();
	snprintf(outside, sizeof(outside), "%s/outside", base);
	REQUIRE(mkdir(outside, 0700) == 0);

	test_roundtrip();
	test_hostile();
	test_existing_symlinks();
	test_bad_input();
	test_swap(0);
	test_swap(CF_SWAP_NO_EXCHANGE);
	test_swap_restore();

	CHECK(count_entries(outside) == 0);
	cf_extract_rmtree(base);
	free(base);
	for (size_t i = 0; i < nchunks; i++)
		free(chunks[i]);
	return check_finish();
}
