/* SPDX-License-Identifier: ISC */
/* Spool files: bytes, length and running hash identical with and without O_DIRECT. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/hash.h"
#include "repo/spool.h"
#include "tests/lib/check.h"

static int direct_ok(const char *dir)
{
	int fd = open(dir, O_RDWR | O_TMPFILE | O_DIRECT | O_CLOEXEC, 0600);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Append @total bytes in pieces of the sizes in @steps (cycled), then compare the file,
 * its length and the hash the writer computed with what was appended.
 */
static void fill(const char *dir, int direct, size_t total, const size_t *steps, size_t nsteps)
{
	struct cf_spool *s = NULL;
	struct cf_hash *h = NULL;
	uint8_t *ref = malloc(total + 1), *back = malloc(total + 1), want[32], got[32];
	size_t at = 0, i = 0;
	int fd = -1, fl;

	REQUIRE(ref && back);
	cf_core_random(ref, total);
	REQUIRE(cf_spool_new(&s, dir, direct) == 0);
	REQUIRE(cf_hash_new(&h, 32, NULL) == 0);
	cf_spool_hash(s, h);
	while (at < total) {
		size_t c = steps[i++ % nsteps];

		if (c > total - at)
			c = total - at;
		CHECK_RC(cf_spool_append(s, ref + at, c), 0);
		at += c;
		CHECK(cf_spool_len(s) == at);
	}
	CHECK_RC(cf_spool_finish(s, &fd), 0);
	REQUIRE(fd >= 0);
	/* direct writes happen only when asked and possible (a tiny spool may write once) */
	CHECK(cf_spool_direct(s) == (direct && total > 0 && direct_ok(dir)));
	cf_spool_free(s);
	fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && !(fl & O_DIRECT)); /* readers use unaligned buffers */
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)total);
	CHECK(pread(fd, back, total + 1, 0) == (ssize_t)total);
	CHECK(memcmp(back, ref, total) == 0);
	cf_hash_final(h, got);
	cf_hash_free(h);
	cf_hash_blake2b(want, 32, NULL, ref, total);
	CHECK(memcmp(want, got, 32) == 0);
	close(fd);
	free(ref);
	free(back);
}

/* Freeing a spool whose writer is busy neither hangs nor leaks (ASan). */
static void abandoned(const char *dir)
{
	struct cf_spool *s = NULL;
	uint8_t *b = calloc(1, 5u << 20);

	REQUIRE(b);
	REQUIRE(cf_spool_new(&s, dir, 1) == 0);
	CHECK_RC(cf_spool_append(s, b, 5u << 20), 0);
	cf_spool_free(s);
	cf_spool_free(NULL);
	free(b);
}

int main(void)
{
	static const size_t odd[] = {1, 4095, 4097, 70000, 3, 1u << 20, (1u << 20) + 3, 17};
	static const size_t page[] = {4096};
	static const size_t big[] = {3u << 20};
	char *dir = check_tmpdir(), missing[4200];
	struct cf_spool *s = NULL;

	REQUIRE(cf_core_init() == 0);
	for (int direct = 0; direct < 2; direct++) {
		fill(dir, direct, 0, page, 1);                      /* empty */
		fill(dir, direct, 10, odd, 1);                      /* less than a block */
		fill(dir, direct, 8u << 20, page, 1);               /* block multiple, ring wraps */
		fill(dir, direct, (5u << 20) + 12345, odd, 8);      /* odd pieces, odd end */
		fill(dir, direct, (7u << 20) + 1, big, 1);          /* pieces over several buffers */
		fill(dir, direct, CF_SPOOL_BUF_BYTES, page, 1);     /* exactly one buffer */
	}
	abandoned(dir);
	snprintf(missing, sizeof(missing), "%s/no/such/folder", dir);
	CHECK(cf_spool_new(&s, missing, 1) == -ENOENT && s == NULL);
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
