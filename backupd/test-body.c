/* SPDX-License-Identifier: ISC */
/* File bodies: streaming chunking into a repository, reference encoding. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backupd/body.h"
#include "core/core.h"
#include "core/error.h"
#include "tests/lib/check.h"

static char *dir;

static void test_refs(void)
{
	struct cf_archive_ref in[3], *out = NULL;
	uint8_t *enc = NULL;
	size_t len = 0, n = 0;

	for (int i = 0; i < 3; i++) {
		memset(in[i].id, 0x10 + i, sizeof(in[i].id));
		in[i].len = 0x01020304u + (uint32_t)i;
	}
	in[2].len = CF_ARCHIVE_REF_MAX;
	CHECK_RC(cf_refs_encode(in, 3, &enc, &len), 0);
	CHECK(len == 3 * CF_BODY_REF_BYTES);
	/* little-endian length after the id */
	CHECK(enc[32] == 0x04 && enc[33] == 0x03 && enc[34] == 0x02 && enc[35] == 0x01);
	CHECK_RC(cf_refs_decode(enc, len, &out, &n), 0);
	CHECK(n == 3 && out && memcmp(out, in, sizeof(in)) == 0);
	free(out);
	out = NULL;
	CHECK_RC(cf_refs_decode(enc, len - 1, &out, &n), CF_E_CORRUPT);
	enc[CF_BODY_REF_BYTES + 32] = enc[CF_BODY_REF_BYTES + 33] = 0;
	enc[CF_BODY_REF_BYTES + 34] = enc[CF_BODY_REF_BYTES + 35] = 0;
	CHECK_RC(cf_refs_decode(enc, len, &out, &n), CF_E_CORRUPT); /* zero length */
	enc[2 * CF_BODY_REF_BYTES + 32] = 1;                        /* MAX + 1 */
	CHECK_RC(cf_refs_decode(enc + CF_BODY_REF_BYTES * 2, CF_BODY_REF_BYTES, &out, &n),
	         CF_E_CORRUPT);
	CHECK(out == NULL);
	free(enc);
	enc = NULL;
	CHECK_RC(cf_refs_encode(NULL, 0, &enc, &len), 0);
	CHECK(enc != NULL && len == 0);
	CHECK_RC(cf_refs_decode(enc, 0, &out, &n), 0);
	CHECK(out == NULL && n == 0);
	free(enc);
}

static struct cf_repo *open_repo(void)
{
	char url[4200], cache[4200];
	struct cf_repo_opts o = {.url = url, .cache_dir = cache, .create = 1, .pack_size = 1 << 20};
	struct cf_repo *r = NULL;
	struct cf_keyring *ring = NULL;
	uint8_t mk[32];

	snprintf(url, sizeof(url), "file://%s/repo", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	cf_core_random(mk, sizeof(mk));
	REQUIRE(cf_repo_open(&r, &o) == 0);
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_add(ring, 1, mk, 1) == 0);
	REQUIRE(cf_repo_set_keys(r, ring, NULL, NULL, 0) == 0);
	REQUIRE(cf_repo_sync(r) == 0);
	return r;
}

static int write_file(const char *name, const uint8_t *data, size_t len)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data, len) == (ssize_t)len);
	REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

static uint64_t progress_total;

static void on_progress(void *ctx, uint64_t bytes)
{
	(void)ctx;
	progress_total += bytes;
}

static void test_read(void)
{
	const size_t len = 3 * CF_BODY_BLOCK + 12345; /* cuts fall across read blocks */
	const struct cf_chunker_params p = {.min = 4096, .avg = 16384, .max = 65536};
	struct cf_repo *r = open_repo();
	struct cf_chunker *ch = NULL;
	struct cf_body *b = NULL;
	struct cf_archive_ref *refs = NULL;
	volatile sig_atomic_t stop = 0;
	uint8_t *data = malloc(len), key[32];
	size_t n = 0, off = 0;
	uint64_t size = 0;
	int fd;

	REQUIRE(data);
	cf_core_random(data, len);
	cf_core_random(key, sizeof(key));
	REQUIRE(cf_chunker_new(&ch, &p, key) == 0);
	REQUIRE(cf_body_new(&b, r, ch, &stop, on_progress, NULL) == 0);

	fd = write_file("big", data, len);
	CHECK_RC(cf_body_read(b, fd, "big", &refs, &n, &size), 0);
	close(fd);
	CHECK(size == len && progress_total == len);
	CHECK(n > 10);
	/* the same cuts as the whole-buffer chunker; every chunk stored and readable */
	CHECK_RC(cf_repo_commit_index(r), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t *got = NULL;
		size_t glen = 0;
		CHECK(refs[i].len == cf_chunker_cut(ch, data + off, len - off));
		CHECK_RC(cf_repo_get_blob(r, CF_BLOB_DATA, refs[i].id, &got, &glen), 0);
		CHECK(got && glen == refs[i].len && memcmp(got, data + off, glen) == 0);
		free(got);
		off += refs[i].len;
	}
	CHECK(off == len);
	free(refs);
	refs = NULL;

	/* empty file: no refs */
	fd = write_file("empty", data, 0);
	CHECK_RC(cf_body_read(b, fd, "empty", &refs, &n, &size), 0);
	CHECK(refs == NULL && n == 0 && size == 0);
	close(fd);

	/* a tiny file: one short chunk; the same content again adds nothing new */
	{
		struct cf_repo_stats st0, st1;
		fd = write_file("tiny", data, 100);
		CHECK_RC(cf_body_read(b, fd, "tiny", &refs, &n, &size), 0);
		CHECK(n == 1 && size == 100 && refs && refs[0].len == 100);
		free(refs);
		refs = NULL;
		cf_repo_stats(r, &st0);
		REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
		CHECK_RC(cf_body_read(b, fd, "tiny", &refs, &n, &size), 0);
		cf_repo_stats(r, &st1);
		CHECK(st1.blobs_new == st0.blobs_new && st1.blobs_dup == st0.blobs_dup + 1);
		free(refs);
		refs = NULL;
		close(fd);
	}

	/* the stop flag ends the read at the next blob, with nothing returned */
	stop = 1;
	fd = write_file("stopped", data, 200000);
	{
		static struct cf_archive_ref sentinel;
		refs = &sentinel;
		CHECK_RC(cf_body_read(b, fd, "stopped", &refs, &n, &size), -EINTR);
		CHECK(refs == &sentinel);
	}
	close(fd);

	/* a read error is passed up */
	stop = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	refs = NULL;
	CHECK_RC(cf_body_read(b, fd, "a folder", &refs, &n, &size), -EISDIR);
	close(fd);

	cf_body_free(b);
	cf_body_free(NULL);
	cf_chunker_free(ch);
	cf_repo_free(r);
	free(data);
}

int main(void)
{
	REQUIRE(cf_core_init() == 0);
	dir = check_tmpdir();
	test_refs();
	test_read();
	check_rmtree(dir);
	return check_finish();
}
