/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/hash.h"
#include "repo/keys.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "tests/lib/check.h"

#define NBLOBS 60

static uint8_t repo_id[32];

static void padme(void)
{
	CHECK(cf_pack_padme(0) == 0);
	CHECK(cf_pack_padme(1) == 1);
	CHECK(cf_pack_padme(1000) == 1024);  /* E=9, S=4: multiples of 32 */
	CHECK(cf_pack_padme(1024) == 1024);
	CHECK(cf_pack_padme(16777217) == 16777216 + 524288); /* E=24, S=5: 2^19 */
	for (uint64_t l = 2; l < 100000; l += 37) {
		uint64_t p = cf_pack_padme(l);
		CHECK(p >= l && p - l <= l / 8 + 1);
	}
	/* a pack that reached the target size: 64 KiB steps; any other: Padmé */
	CHECK(cf_pack_padded(1, 1) == 65536);
	CHECK(cf_pack_padded(65536, 1) == 65536);
	CHECK(cf_pack_padded(16777217, 1) == 16777216 + 65536);
	CHECK(cf_pack_padded(16777217, 0) == cf_pack_padme(16777217));
	CHECK(cf_pack_padded(1000, 0) == 1024);
}

/* Whether @dir's file system takes O_DIRECT at all (tmpfs before Linux 6.6 does not). */
static int check_direct_ok(const char *dir)
{
	int fd = open(dir, O_RDWR | O_TMPFILE | O_DIRECT | O_CLOEXEC, 0600);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static uint8_t *read_fd(int fd, uint64_t size)
{
	uint8_t *b = malloc(size);
	REQUIRE(b && pread(fd, b, size, 0) == (ssize_t)size);
	return b;
}

/* A pack marked full is padded in 64 KiB steps, and its table still parses. */
static void full_pack(const struct cf_keyring *ring, const char *dir)
{
	const struct cf_repokeys *k = cf_keyring_current(ring);
	struct cf_packw *w = NULL;
	struct cf_pack_entry *e = NULL, *t = NULL;
	uint8_t data[5000], id[32], pid[32], *s = NULL, *pack;
	uint32_t table_len = 0, epoch = 0;
	size_t slen = 0, n = 0, tn = 0;
	uint64_t size = 0;
	int fd = -1;

	cf_core_random(data, sizeof(data));
	REQUIRE(cf_packw_new(&w, dir, k, repo_id, 0) == 0);
	cf_repokeys_blob_id(k, CF_BLOB_DATA, data, sizeof(data), id);
	REQUIRE(cf_blob_seal(&s, &slen, k, repo_id, CF_BLOB_DATA, id, data, sizeof(data)) == 0);
	CHECK_RC(cf_packw_add(w, CF_BLOB_DATA, id, s, (uint32_t)slen, sizeof(data)), 0);
	free(s);
	cf_packw_mark_full(w);
	CHECK_RC(cf_packw_finish(w, &fd, &size, pid, &e, &n), 0);
	cf_packw_free(w);
	REQUIRE(fd >= 0 && n == 1);
	CHECK(size == CF_PACK_FULL_UNIT); /* Padmé would have kept ~5 KiB */
	pack = read_fd(fd, size);
	close(fd);
	CHECK_RC(cf_pack_trailer(pack + size - 8, size, &table_len), 0);
	CHECK_RC(cf_pack_table_parse(pack + size - 8 - table_len, table_len, size, ring, repo_id,
				     &epoch, &t, &tn),
		 0);
	CHECK(tn == 1 && memcmp(t[0].id, id, 32) == 0 && t[0].offset == e[0].offset);
	free(t);
	free(e);
	free(pack);
}

/* @flags: CF_PACKW_DIRECT must change nothing but the path; CF_PACKW_NAME_TAIL the name. */
static void round_trip(const struct cf_keyring *ring, const char *dir, unsigned flags)
{
	const struct cf_repokeys *k = cf_keyring_current(ring);
	struct cf_packw *w = NULL;
	struct cf_pack_entry *e = NULL, *t = NULL;
	uint8_t *plain[NBLOBS], ids[NBLOBS][32], pid[32], check[32], *pack;
	uint32_t lens[NBLOBS], table_len = 0, epoch = 0;
	size_t n = 0, tn = 0;
	uint64_t size = 0;
	int fd = -1, moved = 0;

	REQUIRE(cf_packw_new(&w, dir, k, repo_id, flags) == 0);
	for (int i = 0; i < NBLOBS; i++) {
		uint8_t *s = NULL;
		size_t slen = 0;
		lens[i] = 100 + (uint32_t)cf_core_random_uniform(50000);
		plain[i] = malloc(lens[i]);
		REQUIRE(plain[i]);
		cf_core_random(plain[i], lens[i]);
		cf_repokeys_blob_id(k, CF_BLOB_DATA, plain[i], lens[i], ids[i]);
		REQUIRE(cf_blob_seal(&s, &slen, k, repo_id, CF_BLOB_DATA, ids[i], plain[i],
				     lens[i]) == 0);
		CHECK_RC(cf_packw_add(w, CF_BLOB_DATA, ids[i], s, (uint32_t)slen, lens[i]), 0);
		free(s);
	}
	CHECK(cf_packw_count(w) == NBLOBS);
	CHECK_RC(cf_packw_finish(w, &fd, &size, pid, &e, &n), 0);
	if (flags & CF_PACKW_DIRECT)
		CHECK(cf_packw_direct(w) == check_direct_ok(dir));
	else
		CHECK(cf_packw_direct(w) == 0);
	cf_packw_free(w);
	REQUIRE(fd >= 0 && n == NBLOBS);
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)size); /* no block padding left behind */
	CHECK(size == cf_pack_padme(size));
	pack = read_fd(fd, size);
	close(fd);
	CHECK_RC(cf_pack_trailer(pack + size - 8, size, &table_len), 0);
	if (flags & CF_PACKW_NAME_TAIL) { /* version 2: named by size, table and trailer */
		CHECK(cf_pack_version(pack) == 2 && memcmp(pack, "CFP\x02", 4) == 0);
		CHECK_RC(cf_pack_tail_name(check, size, pack + size - 8 - table_len, table_len + 8), 0);
		CHECK(memcmp(check, pid, 32) == 0);
		CHECK_RC(cf_pack_tail_name(check, size + 1, pack + size - 8 - table_len,
		                           table_len + 8), 0);
		CHECK(memcmp(check, pid, 32) != 0); /* the size is bound */
		pack[size - 9] ^= 1;
		CHECK_RC(cf_pack_tail_name(check, size, pack + size - 8 - table_len, table_len + 8), 0);
		CHECK(memcmp(check, pid, 32) != 0); /* and every table byte */
		pack[size - 9] ^= 1;
	} else { /* version 1: named by all its bytes */
		CHECK(cf_pack_version(pack) == 1 && memcmp(pack, "CFP\x01", 4) == 0);
		cf_hash_blake2b(check, 32, NULL, pack, size);
		CHECK(memcmp(check, pid, 32) == 0);
	}

	/* self-describing: the table alone tells every blob */
	CHECK_RC(cf_pack_table_parse(pack + size - 8 - table_len, table_len, size, ring, repo_id,
				     &epoch, &t, &tn),
		 0);
	CHECK(epoch == cf_repokeys_epoch(k) && tn == NBLOBS);
	for (size_t i = 0; i < tn; i++) {
		int j = -1;
		uint8_t *out = NULL;
		size_t olen = 0;
		for (int c = 0; c < NBLOBS; c++)
			if (memcmp(ids[c], t[i].id, 32) == 0)
				j = c;
		REQUIRE(j >= 0);
		if ((size_t)j != i)
			moved++;
		CHECK(t[i].type == e[i].type && memcmp(t[i].id, e[i].id, 32) == 0 &&
		      t[i].offset == e[i].offset && t[i].length == e[i].length &&
		      t[i].raw_length == e[i].raw_length);
		CHECK_RC(cf_blob_open(&out, &olen, k, repo_id, CF_BLOB_DATA, t[i].id,
				      t[i].raw_length, pack + t[i].offset, t[i].length),
			 0);
		CHECK(out && olen == lens[j] && memcmp(out, plain[j], olen) == 0);
		free(out);
	}
	CHECK(moved == 0); /* arrival order: a file's chunks stay together */

	/* a flipped table byte, a bad trailer, a lying size */
	pack[size - 8 - table_len + 40] ^= 1;
	CHECK_RC(cf_pack_table_parse(pack + size - 8 - table_len, table_len, size, ring, repo_id,
				     &epoch, &t, &tn),
		 CF_E_AUTH);
	pack[size - 8 - table_len + 40] ^= 1;
	pack[size - 1] ^= 1;
	CHECK_RC(cf_pack_trailer(pack + size - 8, size, &table_len), CF_E_FORMAT);
	pack[size - 1] ^= 1;
	CHECK_RC(cf_pack_trailer(pack + size - 8, table_len + 8, &table_len), CF_E_CORRUPT);
	CHECK_RC(cf_pack_table_parse(pack + size - 8 - table_len, table_len, size / 2, ring,
				     repo_id, &epoch, &t, &tn),
		 CF_E_CORRUPT);
	free(pack);
	free(e);
	free(t);
	for (int i = 0; i < NBLOBS; i++)
		free(plain[i]);
}

/* Tables that decrypt fine but describe impossible geometry are refused. */
static void hostile_tables(const struct cf_keyring *ring)
{
	const struct cf_repokeys *k = cf_keyring_current(ring);
	struct cf_pack_entry ents[2] = {{.type = CF_BLOB_DATA, .offset = 4, .length = 100},
					{.type = CF_BLOB_DATA, .offset = 50, .length = 100}};
	struct cf_pack_entry *out = NULL;
	uint8_t *list = NULL, plain[4 + 4 + 2 * CF_PACK_ENTRY_BYTES], *sealed = NULL;
	size_t llen = 0, slen = 0, n = 0;
	uint32_t epoch = 0, ep = cf_repokeys_epoch(k);

	REQUIRE(cf_pack_entries_encode(&list, &llen, ents, 2) == 0);
	memcpy(plain, &ep, 4); /* little-endian host assumed by this test */
	memcpy(plain + 4, list, llen);
	REQUIRE(cf_object_seal(&sealed, &slen, k, repo_id, CF_OBJ_PACK_TABLE, plain, 4 + llen) == 0);
	/* overlapping blobs */
	CHECK_RC(cf_pack_table_parse(sealed, slen, 100000, ring, repo_id, &epoch, &out, &n),
		 CF_E_CORRUPT);
	free(sealed);
	/* a blob running into the table */
	ents[1].offset = 104;
	free(list);
	REQUIRE(cf_pack_entries_encode(&list, &llen, ents, 2) == 0);
	memcpy(plain + 4, list, llen);
	REQUIRE(cf_object_seal(&sealed, &slen, k, repo_id, CF_OBJ_PACK_TABLE, plain, 4 + llen) == 0);
	CHECK_RC(cf_pack_table_parse(sealed, slen, 104 + 100 + 8 + slen, ring, repo_id, &epoch,
				     &out, &n),
		 0);
	free(out);
	out = NULL;
	CHECK_RC(cf_pack_table_parse(sealed, slen, 104 + 99 + 8 + slen, ring, repo_id, &epoch,
				     &out, &n),
		 CF_E_CORRUPT);
	/* an unknown blob type and a count larger than the bytes */
	list[4] = 9;
	CHECK_RC(cf_pack_entries_decode(list, llen, NULL, &out, &n), CF_E_CORRUPT);
	list[4] = CF_BLOB_DATA;
	list[0] = 3;
	CHECK_RC(cf_pack_entries_decode(list, llen, NULL, &out, &n), CF_E_TRUNCATED);
	list[0] = 1;
	CHECK_RC(cf_pack_entries_decode(list, llen, NULL, &out, &n), CF_E_FORMAT);
	CHECK(out == NULL);
	free(list);
	free(sealed);
}

int main(void)
{
	struct cf_keyring *ring = NULL;
	uint8_t mk[32];
	char *dir = check_tmpdir();

	REQUIRE(cf_core_init() == 0);
	cf_core_random(repo_id, 32);
	cf_core_random(mk, 32);
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_add(ring, 3, mk, 1) == 0);
	padme();
	round_trip(ring, dir, 0);
	round_trip(ring, dir, CF_PACKW_DIRECT);
	round_trip(ring, dir, CF_PACKW_NAME_TAIL);
	round_trip(ring, dir, CF_PACKW_NAME_TAIL | CF_PACKW_DIRECT);
	full_pack(ring, dir);
	hostile_tables(ring);
	cf_keyring_free(ring);
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
