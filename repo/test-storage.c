/* SPDX-License-Identifier: ISC */
/* Storage interface and the file:// backend. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/storage.h"
#include "tests/lib/check.h"

#define MIB (1024u * 1024u)
#define BIG ((uint64_t)40 * MIB)

static char *base; /* the test's private folder */

static char *path_of(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", base, rel);
	return buf[i];
}

/* An object id: 64 hex digits starting with @lead, padded with @fill. */
static const char *oid(const char *folder, const char *lead, char fill)
{
	static char names[8][CF_STORAGE_NAME_MAX];
	static int i;
	char id[CF_STORAGE_ID_HEX + 1];
	size_t n = strlen(lead);

	memset(id, fill, CF_STORAGE_ID_HEX);
	memcpy(id, lead, n);
	id[CF_STORAGE_ID_HEX] = 0;
	i = (i + 1) % 8;
	if (!strcmp(folder, "data"))
		snprintf(names[i], sizeof(names[i]), "data/%.2s/%s", id, id);
	else
		snprintf(names[i], sizeof(names[i]), "%s/%s", folder, id);
	return names[i];
}

/* Deterministic content: byte @off of the test stream. */
static void pattern(uint8_t *p, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = (off + i) >> 3;
		x ^= x >> 31;
		x *= 0x9e3779b97f4a7c15ULL;
		x ^= x >> 29;
		p[i] = (uint8_t)(x >> (((off + i) & 7) * 8));
	}
}

/* A file of @len pattern bytes written in 1 MiB pieces; returns an O_RDONLY fd. */
static int make_pattern_file(const char *path, uint64_t len)
{
	uint8_t *buf = malloc(MIB);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(buf && fd >= 0);
	for (uint64_t off = 0; off < len; off += MIB) {
		size_t n = len - off < MIB ? (size_t)(len - off) : MIB;
		pattern(buf, off, n);
		REQUIRE(write(fd, buf, n) == (ssize_t)n);
	}
	close(fd);
	free(buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	return fd;
}

/* 1 when @fd holds exactly @len pattern bytes from the start. */
static int fd_has_pattern(int fd, uint64_t len)
{
	uint8_t *a = malloc(MIB), *b = malloc(MIB);
	int ok = a && b;
	struct stat st;

	ok = ok && fstat(fd, &st) == 0 && (uint64_t)st.st_size == len;
	for (uint64_t off = 0; ok && off < len; off += MIB) {
		size_t n = len - off < MIB ? (size_t)(len - off) : MIB;
		ok = pread(fd, a, n, (off_t)off) == (ssize_t)n;
		pattern(b, off, n);
		ok = ok && !memcmp(a, b, n);
	}
	free(a);
	free(b);
	return ok;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffffu;
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

#define ID  "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" /* 64 */
#define ID3 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde" /* 63 */

static void test_names(void)
{
	static const char *const good[] = {
		"config", "keys/" ID, "index/" ID, "snapshots/" ID, "forget/" ID, "locks/" ID,
		"data/ab/" ID,
	};
	static const char *const bad[] = {
		"", "/", "config/", "/config", "../x", "./config", "configx", "keys", "keys/",
		"keys/XYZ", "keys/" ID3, "keys/" ID3 "0a", "keys/" ID "/", "keys//" ID, "/keys/" ID,
		"keys/../keys/" ID, "keys/./" ID, "tmp/" ID, "packs/" ID, "Keys/" ID,
		"keys/ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
		"keys/" ID3 "g", "keys/" ID3 " ", "keys/" ID3 "\n", "data/zz/..", "data/ab/",
		"data/ab", "data/" ID, "data/cd/" ID, "data/AB/" ID, "data/ab/ab/" ID, "data/a/" ID,
		"data/ab/../ab/" ID, "data/ab/" ID3,
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(strlen(good[i]) < CF_STORAGE_NAME_MAX);
		if (!cf_storage_name_valid(good[i]))
			fprintf(stderr, "  should be valid: %s\n", good[i]);
		CHECK(cf_storage_name_valid(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cf_storage_name_valid(bad[i]))
			fprintf(stderr, "  should be invalid: %s\n", bad[i]);
		CHECK(!cf_storage_name_valid(bad[i]));
	}
	CHECK(!cf_storage_name_valid(NULL));
}

/* @url opens the repository whose canonical URL is @want. */
static void opens_as(const char *url, const char *want)
{
	struct cf_storage *t = NULL;

	CHECK_RC(cf_storage_open(&t, url, 0), 0);
	CHECK(t && !strcmp(cf_storage_url(t), want));
	if (t && strcmp(cf_storage_url(t), want))
		fprintf(stderr, "  %s opened as %s\n", url, cf_storage_url(t));
	cf_storage_free(t);
}

static void touch(const char *rel)
{
	int fd = open(path_of(rel), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	close(fd);
}

static void test_urls(void)
{
	char *cwd = getcwd(NULL, 0), want[PATH_MAX + 16], url[PATH_MAX + 32];
	struct cf_storage *s = NULL;

	REQUIRE(cwd && mkdir(path_of("u"), 0700) == 0 && mkdir(path_of("u/my dir"), 0700) == 0);
	/* bare absolute path; the URL is canonical and opens the same place again */
	CHECK_RC(cf_storage_open(&s, path_of("u/my dir/"), 0), 0);
	REQUIRE(s);
	snprintf(want, sizeof(want), "file://%s", path_of("u/my dir"));
	CHECK(!strcmp(cf_storage_url(s), want));
	CHECK_RC(cf_storage_put_buf(s, "config", "x", 1), 0);
	cf_storage_free(s);
	s = NULL;
	opens_as(want, want);
	/* a percent escape and an upper-case scheme; localhost */
	snprintf(url, sizeof(url), "FILE://%s", path_of("u/my%20dir"));
	opens_as(url, want);
	snprintf(url, sizeof(url), "file://localhost%s", path_of("u/my dir"));
	opens_as(url, want);
	/* relative forms, against the working folder */
	REQUIRE(chdir(path_of("u")) == 0);
	opens_as("file://my dir", want);
	opens_as("./my dir/.", want);
	opens_as("my dir//", want);
	REQUIRE(chdir(cwd) == 0);

	/* refused locations leave *out alone */
	CHECK_RC(cf_storage_open(&s, "", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "ftp://example.org/x", 1), CF_E_CONFIG);
	/* HTTP backends: refused before any traffic (no test here reaches a network) */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("COFFER_STORAGE_ACCESS_KEY_ID");
	unsetenv("COFFER_STORAGE_SECRET_ACCESS_KEY");
	unsetenv("COFFER_STORAGE_ALLOW_INSECURE_HTTP");
	CHECK_RC(cf_storage_open(&s, "webdav+http://example.org/dav", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "http://example.org/", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "webdav+https://user:pw@example.org/dav", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "webdav+https://example.org/dav?x=1", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "webdav+https:example.org", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "s3://bucket/prefix", 1), CF_E_CONFIG); /* no credentials */
	CHECK_RC(cf_storage_open(&s, "s3://", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "s3://bad bucket/x", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "s3://bucket/a/../b", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "backup:2024", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "file://", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "file:relative", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "file:///tmp/bad%zzescape", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, "file:///tmp/nul%00byte", 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, path_of("u/absent"), 0), CF_E_NOTFOUND);
	touch("u/plain");
	CHECK_RC(cf_storage_open(&s, path_of("u/plain"), 1), CF_E_CONFIG);
	CHECK_RC(cf_storage_open(&s, path_of("u/plain/below"), 1), CF_E_CONFIG);
	CHECK(s == NULL);

	/* create: absent (parents too) and empty folders are made ready; others are not */
	umask(0);
	CHECK_RC(cf_storage_open(&s, path_of("u/new/repo"), 1), 0);
	CHECK(mode_of(path_of("u/new")) == 0700 && mode_of(path_of("u/new/repo")) == 0700);
	CHECK(mode_of(path_of("u/new/repo/tmp")) == 0700);
	cf_storage_free(s);
	s = NULL;
	REQUIRE(mkdir(path_of("u/empty"), 0700) == 0);
	CHECK_RC(cf_storage_open(&s, path_of("u/empty"), 1), 0);
	CHECK(entries(path_of("u/empty")) == 1 && mode_of(path_of("u/empty/tmp")) == 0700);
	cf_storage_free(s);
	s = NULL;
	CHECK_RC(cf_storage_open(&s, path_of("u"), 1), 0);
	CHECK(mode_of(path_of("u/tmp")) == 0xffffu);
	cf_storage_free(s);
	umask(022);
	cf_storage_free(NULL);
	free(cwd);
}

struct seen {
	int n;
	int stop_after;
	char names[16][CF_STORAGE_NAME_MAX];
	uint64_t sizes[16];
};

static int collect(void *ctx, const char *name, uint64_t size)
{
	struct seen *v = ctx;

	if (v->n < 16) {
		snprintf(v->names[v->n], sizeof(v->names[0]), "%s", name);
		v->sizes[v->n] = size;
	}
	v->n++;
	return v->stop_after && v->n >= v->stop_after ? 42 : 0;
}

static int has(const struct seen *v, const char *name)
{
	for (int i = 0; i < v->n && i < 16; i++)
		if (!strcmp(v->names[i], name))
			return 1;
	return 0;
}

static struct seen list(struct cf_storage *s, const char *prefix, int want_rc)
{
	struct seen v = {0};

	CHECK_RC(cf_storage_list(s, prefix, collect, &v), want_rc);
	return v;
}

static void test_basic(struct cf_storage *s)
{
	const char *k = oid("keys", "0a", 'b');
	uint8_t *buf = NULL, big[100];
	char rel[CF_STORAGE_NAME_MAX + 2];
	size_t len = 0;
	uint64_t size = 0;

	/* buffer round trip, stat, write-once */
	CHECK_RC(cf_storage_put_buf(s, k, "hello", 5), 0);
	CHECK_RC(cf_storage_stat(s, k, &size), 0);
	CHECK(size == 5);
	CHECK_RC(cf_storage_get_buf(s, k, &buf, &len, 64), 0);
	CHECK(buf && len == 5 && !memcmp(buf, "hello", 5));
	free(buf);
	buf = NULL;
	CHECK_RC(cf_storage_put_buf(s, k, "HELLO!", 6), CF_E_EXISTS);
	CHECK_RC(cf_storage_get_buf(s, k, &buf, &len, 64), 0);
	CHECK(buf && len == 5 && !memcmp(buf, "hello", 5));
	free(buf);
	buf = NULL;
	CHECK_RC(cf_storage_get_buf(s, k, &buf, &len, 4), CF_E_LIMIT);
	CHECK(buf == NULL);
	CHECK_RC(cf_storage_get_range(s, k, 1, 3, big), 0);
	CHECK(!memcmp(big, "ell", 3));
	CHECK_RC(cf_storage_get_range(s, k, 5, 0, big), 0);
	CHECK_RC(cf_storage_get_range(s, k, 3, 3, big), CF_E_TRUNCATED);
		CHECK_RC(cf_storage_get_range(s, k, UINT64_MAX, 2, big), CF_E_INVAL);
	snprintf(rel, sizeof(rel), "r/%s", k);
	CHECK(mode_of(path_of(rel)) == 0600);
	CHECK(mode_of(path_of("r/keys")) == 0700 && mode_of(path_of("r")) == 0700);

	/* an empty object */
	CHECK_RC(cf_storage_put_buf(s, "config", NULL, 0), 0);
	CHECK_RC(cf_storage_get_buf(s, "config", &buf, &len, 0), 0);
	CHECK(buf != NULL && len == 0);
	free(buf);
	buf = NULL;

	/* absent objects and invalid names, for every operation */
	CHECK_RC(cf_storage_stat(s, oid("index", "", '1'), &size), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_get_buf(s, oid("index", "", '1'), &buf, &len, 9), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_get_range(s, oid("data", "12", '1'), 0, 1, big), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_delete(s, oid("data", "12", '1')), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_put_buf(s, "../escape", "x", 1), CF_E_INVAL);
	CHECK_RC(cf_storage_put_buf(s, "keys/XYZ", "x", 1), CF_E_INVAL);
	CHECK_RC(cf_storage_get_buf(s, "/etc/passwd", &buf, &len, 9), CF_E_INVAL);
	CHECK_RC(cf_storage_get_file(s, "tmp/x", 1, NULL), CF_E_INVAL);
	CHECK_RC(cf_storage_get_range(s, "data/zz/..", 0, 1, big), CF_E_INVAL);
	CHECK_RC(cf_storage_stat(s, "keys/", &size), CF_E_INVAL);
	CHECK_RC(cf_storage_delete(s, "snapshots"), CF_E_INVAL);
	CHECK_RC(cf_storage_put_file(s, "config/x", 0, 0), CF_E_INVAL);
	CHECK(access(path_of("escape"), F_OK) != 0);

	/* delete */
	CHECK_RC(cf_storage_delete(s, k), 0);
	CHECK_RC(cf_storage_stat(s, k, NULL), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_delete(s, k), CF_E_NOTFOUND);
	CHECK_RC(cf_storage_put_buf(s, k, "again", 5), 0); /* the name is free again */
	CHECK(buf == NULL);
}

static void test_list(struct cf_storage *s)
{
	const char *d1 = oid("data", "ab", '1'), *d2 = oid("data", "cd", '2');
	const char *d3 = oid("data", "ab9", '3'), *sn = oid("snapshots", "3fa2", '0');
	struct seen v;

	/* test_basic left config and one key */
	CHECK_RC(cf_storage_put_buf(s, d1, "one", 3), 0);
	CHECK_RC(cf_storage_put_buf(s, d2, "two!", 4), 0);
	CHECK_RC(cf_storage_put_buf(s, d3, "three", 5), 0);
	CHECK_RC(cf_storage_put_buf(s, sn, "snap", 4), 0);
	CHECK(mode_of(path_of("r/data")) == 0700 && mode_of(path_of("r/data/ab")) == 0700);
	/* strays that must never be listed */
	touch("r/tmp/.tmp-0123456789abcdef");
	touch("r/data/ab/not-an-object");
	touch("r/snapshots/3FA2000000000000000000000000000000000000000000000000000000000000");
	touch("r/data/ab/cd22222222222222222222222222222222222222222222222222222222222222");
	touch("r/README");
	CHECK(mkdir(path_of("r/index"), 0700) == 0);
	CHECK(mkdir(path_of("r/index/1111111111111111111111111111111111111111111111111111111111111111"),
		    0700) == 0);

	v = list(s, "", 0);
	CHECK(v.n == 6);
	CHECK(has(&v, "config") && has(&v, d1) && has(&v, d2) && has(&v, d3) && has(&v, sn));
	v = list(s, "data/", 0);
	CHECK(v.n == 3 && has(&v, d1) && has(&v, d2) && has(&v, d3));
	for (int i = 0; i < v.n; i++)
		CHECK(v.sizes[i] == (!strcmp(v.names[i], d1) ? 3u : !strcmp(v.names[i], d2) ? 4u : 5u));
	v = list(s, "data/ab/", 0);
	CHECK(v.n == 2 && has(&v, d1) && has(&v, d3));
	v = list(s, "data/a", 0);
	CHECK(v.n == 2);
	v = list(s, "data/ab/ab9", 0);
	CHECK(v.n == 1 && has(&v, d3));
	v = list(s, "snapshots/", 0);
	CHECK(v.n == 1 && has(&v, sn) && v.sizes[0] == 4);
	v = list(s, "snapshots/3f", 0);
	CHECK(v.n == 1 && has(&v, sn));
	v = list(s, "snapshots/3e", 0);
	CHECK(v.n == 0);
	v = list(s, "index/", 0);
	CHECK(v.n == 0);
	v = list(s, "locks/", 0); /* a folder that was never created */
	CHECK(v.n == 0);
	v = (struct seen){.stop_after = 2};
	CHECK_RC(cf_storage_list(s, "", collect, &v), 42);
	CHECK(v.n == 2);

	list(s, "snap", CF_E_INVAL);
	list(s, "tmp/", CF_E_INVAL);
	list(s, "../", CF_E_INVAL);
	list(s, "data/zz/", CF_E_INVAL);
	list(s, "data/ab/cd", CF_E_INVAL);
	list(s, "keys/XY", CF_E_INVAL);
	list(s, "config", CF_E_INVAL);
	CHECK_RC(cf_storage_list(s, NULL, collect, &v), CF_E_INVAL);
}

/* A 40 MiB object through descriptors: memory stays far below its size. */
static void test_stream(struct cf_storage *s)
{
	const char *name = oid("data", "5e", '7');
	long before = maxrss_kib();
	uint8_t win[4096], want[4096], *whole = NULL;
	size_t wlen = 0;
	int src, dst, p[2], status = -1;
	uint64_t len = 0;
	pid_t pid;

	src = make_pattern_file(path_of("big.src"), BIG);
	CHECK_RC(cf_storage_put_file(s, name, src, BIG), 0);
	CHECK_RC(cf_storage_put_file(s, name, src, BIG), CF_E_EXISTS);
	CHECK(lseek(src, 0, SEEK_CUR) == 0); /* the source offset is left alone */
	dst = open(path_of("big.dst"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(dst >= 0);
	CHECK_RC(cf_storage_get_file(s, name, dst, &len), 0);
	CHECK(len == BIG && fd_has_pattern(dst, BIG));
	close(dst);
	unlink(path_of("big.dst"));

	/* a pipe as the destination: a reader process checks every byte */
	REQUIRE(pipe(p) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		uint8_t *a = malloc(MIB), *b = malloc(MIB);
		uint64_t off = 0;
		ssize_t n;

		close(p[1]);
		while (a && b && (n = read(p[0], a, MIB)) > 0) {
			pattern(b, off, (size_t)n);
			if (memcmp(a, b, (size_t)n))
				_exit(1);
			off += (uint64_t)n;
		}
		_exit(off == BIG ? 0 : 2);
	}
	close(p[0]);
	CHECK_RC(cf_storage_get_file(s, name, p[1], &len), 0);
	close(p[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* aligned windows, the last one ending exactly at the end */
	for (uint64_t off = 0; off < BIG; off += 7 * MIB + 4096) {
		CHECK_RC(cf_storage_get_range(s, name, off, sizeof(win), win), 0);
		pattern(want, off, sizeof(win));
		CHECK(!memcmp(win, want, sizeof(win)));
	}
	CHECK_RC(cf_storage_get_range(s, name, BIG - sizeof(win), sizeof(win), win), 0);
	CHECK_RC(cf_storage_get_range(s, name, BIG - 10, sizeof(win), win), CF_E_TRUNCATED);
	CHECK_RC(cf_storage_get_buf(s, name, &whole, &wlen, MIB), CF_E_LIMIT);
	CHECK(whole == NULL);

	/* a full destination disk */
	dst = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (dst >= 0) {
		CHECK_RC(cf_storage_get_file(s, name, dst, &len), -ENOSPC);
		close(dst);
	}
	fprintf(stderr, "  max RSS grew by %ld KiB streaming %llu MiB\n", maxrss_kib() - before,
		(unsigned long long)(BIG / MIB));
	CHECK(maxrss_kib() - before < (long)(BIG / 1024 / 4));
	close(src);
}

/* Every failed put leaves neither the object nor a temporary file. */
/* An O_TMPFILE spool (as packs use) holding @len pattern bytes; -1 where unsupported. */
static int spool_file(const char *dir, uint64_t len)
{
	uint8_t *buf = malloc(MIB);
	int fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);

	REQUIRE(buf);
	for (uint64_t off = 0; fd >= 0 && off < len; off += MIB) {
		size_t n = len - off < MIB ? (size_t)(len - off) : MIB;
		pattern(buf, off, n);
		REQUIRE(write(fd, buf, n) == (ssize_t)n);
	}
	free(buf);
	return fd;
}

/*
 * A finished spool is linked into the repository, not copied: the object is the same
 * file (same inode) and complete; a length other than the file's is copied instead.
 */
static void test_spool(struct cf_storage *s)
{
	const char *name = oid("data", "9a", '1'), *name2 = oid("data", "9a", '2');
	char rel[CF_STORAGE_NAME_MAX + 8], rel2[CF_STORAGE_NAME_MAX + 8];
	struct stat a, b;
	int fd = spool_file(path_of("r"), 3 * MIB + 17), obj, temps = entries(path_of("r/tmp"));

	snprintf(rel, sizeof(rel), "r/%s", name);
	snprintf(rel2, sizeof(rel2), "r/%s", name2);

	if (fd < 0) {
		fprintf(stderr, "no O_TMPFILE here: spool link not tested\n");
		return;
	}
	CHECK_RC(cf_storage_put_spool(s, name, fd, 3 * MIB + 17), 0);
	CHECK_RC(cf_storage_put_spool(s, name, fd, 3 * MIB + 17), CF_E_EXISTS);
	obj = open(path_of(rel), O_RDONLY | O_CLOEXEC);
	REQUIRE(obj >= 0);
	CHECK(fstat(fd, &a) == 0 && fstat(obj, &b) == 0 && a.st_ino == b.st_ino);
	CHECK(fd_has_pattern(obj, 3 * MIB + 17));
	CHECK(mode_of(path_of(rel)) == 0600);
	close(obj);
	/* the caller's length is not the file's: a copy of those bytes, a new inode */
	CHECK_RC(cf_storage_put_spool(s, name2, fd, MIB), 0);
	obj = open(path_of(rel2), O_RDONLY | O_CLOEXEC);
	REQUIRE(obj >= 0);
	CHECK(fstat(obj, &b) == 0 && a.st_ino != b.st_ino);
	CHECK(fd_has_pattern(obj, MIB));
	close(obj);
	close(fd);
	CHECK(entries(path_of("r/tmp")) == temps); /* no temporary file left behind */
}

static void expect_nothing(struct cf_storage *s, const char *name, const char *tmpdir)
{
	CHECK_RC(cf_storage_stat(s, name, NULL), CF_E_NOTFOUND);
	CHECK(entries(tmpdir) == 0);
}

static void test_failed_puts(struct cf_storage *s)
{
	const char *name = oid("data", "fa", '1');
	struct rlimit old, lim;
	int fd, p[2];

	REQUIRE(entries(path_of("r/tmp")) >= 0);
	unlink(path_of("r/tmp/.tmp-0123456789abcdef"));
	expect_nothing(s, name, path_of("r/tmp"));
	fd = make_pattern_file(path_of("fail.src"), 3 * MIB);
	close(fd);

	fd = open(path_of("fail.src"), O_WRONLY | O_CLOEXEC); /* read gives EBADF */
	CHECK_RC(cf_storage_put_file(s, name, fd, 3 * MIB), -EBADF);
	close(fd);
	expect_nothing(s, name, path_of("r/tmp"));

	fd = open(path_of("fail.src"), O_RDONLY | O_CLOEXEC); /* shorter than promised */
	CHECK_RC(cf_storage_put_file(s, name, fd, 3 * MIB + 1), CF_E_TRUNCATED);
	expect_nothing(s, name, path_of("r/tmp"));

	REQUIRE(pipe(p) == 0); /* not seekable */
	CHECK(write(p[1], "abc", 3) == 3);
	CHECK_RC(cf_storage_put_file(s, name, p[0], 3), -ESPIPE);
	close(p[0]);
	close(p[1]);
	expect_nothing(s, name, path_of("r/tmp"));

	/* the write fails half way (file size limit: EFBIG, like a full disk) */
	signal(SIGXFSZ, SIG_IGN);
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = MIB;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_RC(cf_storage_put_file(s, name, fd, 3 * MIB), -EFBIG);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	expect_nothing(s, name, path_of("r/tmp"));

	CHECK_RC(cf_storage_put_file(s, name, fd, 3 * MIB), 0);
	close(fd);
	CHECK(entries(path_of("r/tmp")) == 0);
}

/*
 * A real full disk: a 1 MiB tmpfs in a private mount namespace (needs CAP_SYS_ADMIN;
 * skipped without it). Runs in a child so the parent's namespace is untouched.
 */
static void test_enospc(void)
{
	int status = -1;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct cf_storage *s = NULL;
		const char *name = oid("data", "ee", '0');
		uint8_t *buf = calloc(1, 2 * MIB);
		int fd;

		if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mkdir(path_of("small"), 0700) < 0 ||
		    mount("tmpfs", path_of("small"), "tmpfs", 0, "size=1m,mode=0700") < 0)
			_exit(77);
		if (!buf || cf_storage_open(&s, path_of("small"), 1) ||
		    cf_storage_put_buf(s, name, buf, 2 * MIB) != -ENOSPC ||
		    cf_storage_stat(s, name, NULL) != CF_E_NOTFOUND ||
		    entries(path_of("small/tmp")) != 0)
			_exit(1);
		fd = make_pattern_file(path_of("full.src"), 2 * MIB);
		if (cf_storage_put_file(s, name, fd, 2 * MIB) != -ENOSPC ||
		    cf_storage_stat(s, name, NULL) != CF_E_NOTFOUND ||
		    entries(path_of("small/tmp")) != 0 || cf_storage_put_buf(s, name, buf, 1000))
			_exit(2);
		cf_storage_free(s);
		free(buf);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		fprintf(stderr, "  ENOSPC on tmpfs skipped (no mount namespace)\n");
	else
		CHECK(WEXITSTATUS(status) == 0);
}

/* Several processes race to store one name: exactly one wins, the object is whole. */
static void test_race(struct cf_storage *s)
{
	const char *name = oid("locks", "ace", '0');
	int wins = 0, exists = 0, status;
	uint8_t *got = NULL, first;
	size_t len = 0;

	for (int i = 0; i < 6; i++) {
		pid_t pid = fork();

		REQUIRE(pid >= 0);
		if (pid == 0) {
			uint8_t *b = malloc(MIB);
			int r;

			if (!b)
				_exit(3);
			memset(b, 'a' + i, MIB);
			r = cf_storage_put_buf(s, name, b, MIB);
			_exit(r == 0 ? 0 : r == CF_E_EXISTS ? 1 : 2);
		}
	}
	for (int i = 0; i < 6; i++) {
		CHECK(wait(&status) > 0 && WIFEXITED(status));
		wins += WEXITSTATUS(status) == 0;
		exists += WEXITSTATUS(status) == 1;
	}
	CHECK(wins == 1 && exists == 5);
	CHECK_RC(cf_storage_get_buf(s, name, &got, &len, 2 * MIB), 0);
	CHECK(got && len == MIB);
	first = got ? got[0] : 0;
	for (size_t i = 0; got && i < len; i++)
		if (got[i] != first) {
			CHECK(!"mixed content");
			break;
		}
	free(got);
	CHECK(entries(path_of("r/tmp")) == 0);
}

static void test_stale_temps(void)
{
	struct timespec old[2] = {{.tv_sec = time(NULL) - 2 * 24 * 3600}, {.tv_sec = 0}};
	struct cf_storage *s = NULL;

	old[1] = old[0];
	touch("r/tmp/.tmp-old");
	touch("r/tmp/.tmp-fresh");
	touch("r/tmp/keep-old");
	CHECK(utimensat(AT_FDCWD, path_of("r/tmp/.tmp-old"), old, 0) == 0);
	CHECK(utimensat(AT_FDCWD, path_of("r/tmp/keep-old"), old, 0) == 0);
	CHECK_RC(cf_storage_open(&s, path_of("r"), 0), 0);
	CHECK(access(path_of("r/tmp/.tmp-old"), F_OK) != 0);
	CHECK(access(path_of("r/tmp/.tmp-fresh"), F_OK) == 0);
	CHECK(access(path_of("r/tmp/keep-old"), F_OK) == 0);
	cf_storage_free(s);
}

/* ---- options ---- */

static void test_options(void)
{
	struct cf_storage_options *o = NULL;
	struct cf_storage *s = NULL;
	int fd;

	REQUIRE(cf_storage_options_new(&o) == 0);
	CHECK_RC(cf_storage_options_set(o, "no_such_key", "1"), CF_E_CONFIG);
	CHECK_RC(cf_storage_options_set(o, "region_file", "/dev/null"), CF_E_CONFIG);
	CHECK_RC(cf_storage_options_set(o, "parallel", "4"), 0);
	CHECK_RC(cf_storage_options_set(o, "region", NULL), CF_E_CONFIG);
	/* a secret file readable by others is refused; 0600 is read (first line) */
	fd = open(path_of("secret"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0 && write(fd, "s3cr3t\nignored\n", 15) == 15);
	REQUIRE(fchmod(fd, 0644) == 0);
	close(fd);
	CHECK_RC(cf_storage_options_set(o, "secret_access_key_file", path_of("secret")), CF_E_PERM);
	REQUIRE(chmod(path_of("secret"), 0600) == 0);
	CHECK_RC(cf_storage_options_set(o, "secret_access_key_file", path_of("secret")), 0);
	CHECK_RC(cf_storage_options_set(o, "password_file", path_of("absent")), -ENOENT);
	/* invalid values are found at open, before any traffic */
	CHECK_RC(cf_storage_options_set(o, "parallel", "0"), 0);
	CHECK_RC(cf_storage_open_with(&s, "webdav+http://127.0.0.1:9/x", 1, o), CF_E_CONFIG);
	CHECK_RC(cf_storage_options_set(o, "parallel", "many"), 0);
	CHECK_RC(cf_storage_open_with(&s, "webdav+http://127.0.0.1:9/x", 1, o), CF_E_CONFIG);
	CHECK_RC(cf_storage_options_set(o, "parallel", "2"), 0);
	CHECK_RC(cf_storage_options_set(o, "url_style", "sideways"), 0);
	CHECK_RC(cf_storage_open_with(&s, "webdav+http://127.0.0.1:9/x", 1, o), CF_E_CONFIG);
	CHECK_RC(cf_storage_options_set(o, "url_style", "path"), 0);
	/* S3 with credentials but a cleartext remote endpoint */
	CHECK_RC(cf_storage_options_set(o, "access_key_id", "AKID"), 0);
	CHECK_RC(cf_storage_options_set(o, "endpoint", "http://example.org"), 0);
	CHECK_RC(cf_storage_open_with(&s, "s3://bucket", 1, o), CF_E_CONFIG);
	/* the environment fills what the options leave unset */
	setenv("COFFER_STORAGE_TIMEOUT", "zero", 1);
	CHECK_RC(cf_storage_open_with(&s, "s3://bucket", 1, o), CF_E_CONFIG);
	unsetenv("COFFER_STORAGE_TIMEOUT");
	CHECK(s == NULL);
	cf_storage_options_free(o);
	cf_storage_options_free(NULL);
	/* file:// ignores every setting */
	REQUIRE(cf_storage_options_new(&o) == 0);
	CHECK_RC(cf_storage_open_with(&s, path_of("optrepo"), 1, o), 0);
	cf_storage_options_free(o);
	CHECK(s && cf_storage_parallel(s) == 1);
	cf_storage_free(s);
}

/* ---- asynchronous calls ---- */

struct async_log {
	int calls, fails, last;
	struct cf_storage *s;
	uint8_t *buf;
	int chained;
};

static void count_cb(void *arg, int result)
{
	struct async_log *l = arg;

	l->calls++;
	l->last = result;
	if (result)
		l->fails++;
}

/* A callback that starts another operation, as an engine would chain steps. */
static void chain_cb(void *arg, int result)
{
	struct async_log *l = arg;

	count_cb(arg, result);
	if (!l->chained++)
		CHECK_RC(cf_storage_get_range_async(l->s, oid("data", "c0", '0'), 3, 5, l->buf,
						    count_cb, l), 0);
}

static void test_async(struct cf_storage *s)
{
	struct async_log l = {.s = s};
	uint8_t buf[16], want[16];
	char names[8][CF_STORAGE_NAME_MAX];
	int fd, out;

	fd = make_pattern_file(path_of("async.src"), 1000);
	for (int i = 0; i < 8; i++) {
		char lead[3];

		snprintf(lead, sizeof(lead), "c%d", i);
		snprintf(names[i], sizeof(names[i]), "%s", oid("data", lead, '0'));
		CHECK_RC(cf_storage_put_file_async(s, names[i], fd, 1000, count_cb, &l), 0);
	}
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 8 && l.fails == 0);
	/* again: every one exists now */
	CHECK_RC(cf_storage_put_file_async(s, names[0], fd, 1000, count_cb, &l), 0);
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 9 && l.last == CF_E_EXISTS);
	/* refused before acceptance: no callback */
	CHECK_RC(cf_storage_put_file_async(s, "data/zz/x", fd, 1000, count_cb, &l), CF_E_INVAL);
	CHECK_RC(cf_storage_put_file_async(s, names[1], -1, 1000, count_cb, &l), CF_E_INVAL);
	CHECK_RC(cf_storage_get_range_async(s, names[1], UINT64_MAX, 2, buf, count_cb, &l),
		 CF_E_INVAL);
	CHECK_RC(cf_storage_get_range_async(s, names[1], 0, 2, buf, NULL, &l), CF_E_INVAL);
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 9);
	/* ranges, a chained call, a missing object, a range past the end */
	l = (struct async_log){.s = s, .buf = buf};
	memset(buf, 0, sizeof(buf));
	CHECK_RC(cf_storage_get_range_async(s, names[2], 10, 6, buf + 8, chain_cb, &l), 0);
	CHECK_RC(cf_storage_get_range_async(s, oid("data", "dd", '1'), 0, 4, buf, count_cb, &l), 0);
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 3 && l.fails == 1);
	pattern(want, 3, 5);
	CHECK(!memcmp(buf, want, 5));
	pattern(want, 10, 6);
	CHECK(!memcmp(buf + 8, want, 6));
	l = (struct async_log){.s = s};
	CHECK_RC(cf_storage_get_range_async(s, names[2], 995, 10, buf, count_cb, &l), 0);
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 1 && l.last == CF_E_TRUNCATED);
	/* a whole object into a file */
	out = open(path_of("async.out"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(out >= 0);
	CHECK_RC(cf_storage_get_file_async(s, names[3], out, count_cb, &l), 0);
	CHECK_RC(cf_storage_wait_all(s), 0);
	CHECK(l.calls == 2 && l.last == 0 && fd_has_pattern(out, 1000));
	close(out);
	close(fd);
}

int main(void)
{
	struct cf_storage *s = NULL;

	base = check_tmpdir();
	umask(022);
	test_names();
	test_urls();
	REQUIRE(cf_storage_open(&s, path_of("r"), 1) == 0);
	test_basic(s);
	test_list(s);
	test_stream(s);
	test_spool(s);
	test_failed_puts(s);
	test_race(s);
	test_async(s);
	cf_storage_free(s);
	test_options();
	test_stale_temps();
	test_enospc();
	check_rmtree(base);
	free(base);
	return check_finish();
}
