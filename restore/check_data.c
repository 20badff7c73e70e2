/* SPDX-License-Identifier: ISC */
/* restore check: index objects, the packs they name, and reading every pack whole. */
#include "restore/check_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/error.h"
#include "core/hash.h"
#include "repo/index.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "restore/packtable.h"
#include "util/log.h"

#define INDEX_MAX    (CF_OBJECT_MAX_PLAIN + CF_OBJECT_OVERHEAD)
#define BLOB_REPORTS 3 /* damaged blobs named per pack; the rest are counted */

static int pack_cmp(const void *a, const void *b)
{
	return memcmp(((const struct ck_pack *)a)->id, ((const struct ck_pack *)b)->id, 32);
}

const struct ck_pack *ck_pack_find(const struct ck_packs *l, const uint8_t id[32])
{
	struct ck_pack key;

	if (!l->n)
		return NULL;
	memcpy(key.id, id, 32);
	return bsearch(&key, l->v, l->n, sizeof(*l->v), pack_cmp);
}

static int pack_add(struct ck_packs *l, const uint8_t id[32], uint64_t size, size_t index)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ck_pack *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memcpy(l->v[l->n].id, id, 32);
	l->v[l->n].size = size;
	l->v[l->n++].index = index;
	return 0;
}

static int index_add(struct ck *c, const uint8_t id[32], const struct cf_index *ix)
{
	uint8_t(*v)[32] = realloc(c->index_ids, (c->nindex + 1) * 32);
	int rc = 0;

	if (!v)
		return -ENOMEM;
	c->index_ids = v;
	memcpy(v[c->nindex], id, 32);
	for (size_t i = 0; i < ix->npacks && !rc; i++)
		rc = pack_add(&c->indexed, ix->packs[i].id, ix->packs[i].size, c->nindex);
	c->nindex++;
	return rc;
}

/* Check one index object; a sound one is added to what the packs are checked against. */
static int one_index(struct ck *c, const char *name)
{
	uint8_t *buf = NULL, *pt = NULL, type = 0, id[32];
	struct cf_index *ix = NULL;
	size_t len = 0, plen = 0;
	uint32_t epoch = 0;
	int rc;

	rc = ck_fetch(c, name, INDEX_MAX, &buf, &len);
	if (ck_is_damage(rc) || rc == CF_E_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	c->st.indexes++;
	rc = cf_object_peek(buf, len, &type, &epoch);
	if (rc || type != CF_OBJ_INDEX) {
		ck_damage(c, name, rc ? rc : CF_E_CORRUPT, "not an index object: %s",
		          cf_strerror(rc ? rc : CF_E_CORRUPT));
		goto out;
	}
	if (!cf_keyring_get(c->ring, epoch)) {
		ck_note(c, name, CF_E_NOTFOUND,
		        "key epoch %u is not held by this device: not"
		        " checked",
		        (unsigned)epoch);
		goto out;
	}
	rc = cf_object_open(&pt, &plen, c->ring, c->repo_id, CF_OBJ_INDEX, buf, len);
	if (!rc)
		rc = cf_index_decode(&ix, pt, plen);
	if (rc == -ENOMEM)
		goto out;
	if (rc) {
		ck_damage(c, name, rc, "%s", cf_strerror(rc));
		rc = 0;
		goto out;
	}
	cf_encode_unhex(id, 32, strrchr(name, '/') + 1);
	rc = index_add(c, id, ix);
out:
	cf_index_free(ix);
	free(pt);
	free(buf);
	return rc;
}

int ck_indexes(struct ck *c)
{
	char(*names)[CF_STORAGE_NAME_MAX] = NULL;
	size_t n = 0;
	int rc = ck_names(c, "index/", &names, &n);

	for (size_t i = 0; i < n && !rc; i++)
		rc = one_index(c, names[i]);
	free(names);
	if (!rc && c->indexed.n)
		qsort(c->indexed.v, c->indexed.n, sizeof(*c->indexed.v), pack_cmp);
	return rc;
}

static int stored_cb(void *ctx, const char *name, uint64_t size)
{
	uint8_t id[32];

	if (cf_encode_unhex(id, 32, strrchr(name, '/') + 1) != 0)
		return 0;
	return pack_add(ctx, id, size, 0);
}

/* A pack no index names: it must at least have a readable table. */
static int unindexed(struct ck *c, const struct ck_pack *s, const char *name)
{
	struct cf_pack_entry *e = NULL;
	uint32_t epoch = 0;
	size_t n = 0;
	int rc;

	rc = cf_repo_read_pack_table(c->repo, s->id, s->size, &epoch, &e, &n);
	free(e);
	if (rc == CF_E_NOTFOUND) {
		ck_note(c, name, rc, "no index names it and this device cannot read its table");
		return 0;
	}
	if (ck_is_damage(rc)) {
		ck_damage(c, name, rc, "no index names it and its table is unreadable: %s",
		          cf_strerror(rc));
		return 0;
	}
	if (!rc)
		ck_note(c, name, 0,
		        "no index names it (left by an interrupted backup; the next"
		        " backup indexes it)");
	return rc;
}

int ck_packs(struct ck *c)
{
	char name[CF_STORAGE_NAME_MAX], ix[CF_HEX_LEN(32)];
	int rc;

	rc = cf_storage_list(c->storage, "data/", stored_cb, &c->stored);
	if (rc)
		return rc;
	if (c->stored.n)
		qsort(c->stored.v, c->stored.n, sizeof(*c->stored.v), pack_cmp);
	c->st.packs = c->stored.n;
	for (size_t i = 0; i < c->indexed.n; i++) {
		const struct ck_pack *p = &c->indexed.v[i], *s = ck_pack_find(&c->stored, p->id);

		if (i && memcmp(p->id, c->indexed.v[i - 1].id, 32) == 0)
			continue; /* named by two indexes (a prune was interrupted) */
		cf_repo_object_name(name, "data", p->id);
		cf_encode_hex(ix, c->index_ids[p->index], 32);
		if (!s)
			ck_damage(c, name, CF_E_NOTFOUND, "missing; index/%.16s… names it", ix);
		else if (s->size != p->size)
			ck_damage(c, name, CF_E_TRUNCATED,
			          "holds %llu bytes; index/%.16s… says %llu",
			          (unsigned long long)s->size, ix, (unsigned long long)p->size);
	}
	for (size_t i = 0; i < c->stored.n && !rc; i++) {
		const struct ck_pack *s = &c->stored.v[i];

		if (ck_pack_find(&c->indexed, s->id))
			continue;
		cf_repo_object_name(name, "data", s->id);
		rc = unindexed(c, s, name);
	}
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* --read-data                                                                          */

static int spool_fd(struct ck *c)
{
	char path[4200];
	int fd;

	fd = open(cf_repo_spool_dir(c->repo), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/check-XXXXXX", cf_repo_spool_dir(c->repo));
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : CF_E_TRUNCATED;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* BLAKE2b-256 of the first @len bytes of @fd. */
static int hash_fd(int fd, uint64_t len, uint8_t out[32])
{
	const size_t step = 1u << 20;
	struct cf_hash *h = NULL;
	uint8_t *buf = malloc(step);
	int rc = buf ? cf_hash_new(&h, 32, NULL) : -ENOMEM;

	for (uint64_t off = 0; !rc && off < len;) {
		size_t n = len - off < step ? (size_t)(len - off) : step;

		rc = pread_all(fd, buf, n, off);
		if (!rc)
			cf_hash_update(h, buf, n);
		off += n;
	}
	if (!rc)
		cf_hash_final(h, out);
	cf_hash_free(h);
	free(buf);
	return rc;
}

/*
 * The name a pack of @len bytes in @fd must have: version 1 hashes all its bytes, version
 * 2 only its tail (@tail, @tail_len: table and trailer; 0 when unreadable, which cannot
 * match). An unknown version gets a name no pack has.
 */
static int pack_name(int fd, uint64_t len, const uint8_t head[CF_PACK_HEADER_BYTES],
                     const uint8_t *tail, size_t tail_len, uint8_t out[32])
{
	switch (cf_pack_version(head)) {
	case 1:
		return hash_fd(fd, len, out);
	case 2:
		if (tail_len)
			return cf_pack_tail_name(out, len, tail, tail_len);
		break;
	}
	memset(out, 0, 32);
	return 0;
}

/*
 * A version 2 pack's name does not cover the padding between its last blob and its table
 * (at @table_at): it must be zeros, so nothing can hide there.
 */
static int padding(struct ck *c, const char *name, int fd, const struct cf_pack_entry *e,
                   size_t n, uint64_t table_at)
{
	uint64_t end = CF_PACK_HEADER_BYTES;
	uint8_t buf[4096];

	for (size_t i = 0; i < n; i++)
		if ((uint64_t)e[i].offset + e[i].length > end)
			end = (uint64_t)e[i].offset + e[i].length;
	while (end < table_at) {
		size_t k = table_at - end < sizeof(buf) ? (size_t)(table_at - end) : sizeof(buf);
		int rc = pread_all(fd, buf, k, end);

		if (rc)
			return rc;
		for (size_t i = 0; i < k; i++)
			if (buf[i]) {
				ck_damage(c, name, CF_E_CORRUPT, "its padding is not zeros: altered");
				return 0;
			}
		end += k;
	}
	return 0;
}

/* The index's entries for the pack must be in its table, at the same places. */
static void compare_index(struct ck *c, const char *name, const uint8_t id[32],
                          const struct cf_pack_entry *t, size_t nt)
{
	const struct ck_pack *p = ck_pack_find(&c->indexed, id);
	struct cf_pack_entry *ie = NULL;
	uint64_t size = 0;
	uint32_t epoch = 0;
	size_t ni = 0, bad = 0;

	if (!p || cf_cache_pack_entries(cf_repo_cache(c->repo), id, &epoch, &size, &ie, &ni))
		return;
	for (size_t i = 0; i < ni; i++) {
		size_t j = 0;

		while (j < nt && (t[j].type != ie[i].type || memcmp(t[j].id, ie[i].id, 32) != 0))
			j++;
		if (j == nt || t[j].offset != ie[i].offset || t[j].length != ie[i].length ||
		    t[j].raw_length != ie[i].raw_length)
			bad++;
	}
	if (bad) {
		char ix[CF_HEX_LEN(32)];

		cf_encode_hex(ix, c->index_ids[p->index], 32);
		ck_damage(c, name, CF_E_CORRUPT,
		          "%zu of the %zu blobs index/%.16s… lists are not in its table as listed",
		          bad, ni, ix);
	}
	free(ie);
}

/* Decrypt every blob of the table @e (@n) of the pack in @fd. */
static int blobs(struct ck *c, const char *name, int fd, uint32_t epoch,
                 const struct cf_pack_entry *e, size_t n)
{
	const struct cf_repokeys *k = cf_keyring_get(c->ring, epoch);
	size_t bad = 0;
	int rc = 0;

	if (!k) {
		ck_note(c, name, CF_E_NOTFOUND, "key epoch %u is not held: blobs not checked",
		        (unsigned)epoch);
		return 0;
	}
	for (size_t i = 0; i < n && rc != -ENOMEM; i++) {
		uint8_t *stored = malloc(e[i].length ? e[i].length : 1), *plain = NULL;
		size_t plen = 0;
		char hex[CF_HEX_LEN(32)];

		rc = stored ? pread_all(fd, stored, e[i].length, e[i].offset) : -ENOMEM;
		if (!rc)
			rc =
			    cf_blob_open(&plain, &plen, k, c->repo_id, (enum cf_blob_type)e[i].type,
			                 e[i].id, e[i].raw_length, stored, e[i].length);
		free(stored);
		free(plain);
		if (!rc) {
			c->st.blobs_checked++;
			continue;
		}
		if (rc == -ENOMEM)
			break;
		if (++bad <= BLOB_REPORTS) {
			cf_encode_hex(hex, e[i].id, 32);
			ck_damage(c, name, rc, "blob %.16s…: %s", hex, cf_strerror(rc));
		}
		rc = 0;
	}
	if (bad > BLOB_REPORTS)
		ck_damage(c, name, CF_E_AUTH, "and %zu more damaged blobs", bad - BLOB_REPORTS);
	return rc;
}

/* Read pack @s whole: its name, its table, every blob. */
static int read_pack(struct ck *c, const struct ck_pack *s)
{
	char name[CF_STORAGE_NAME_MAX];
	uint8_t head[CF_PACK_HEADER_BYTES] = {0}, tail[CF_PACK_TRAILER_BYTES], h[32];
	uint8_t *table = NULL;
	struct cf_pack_entry *e = NULL;
	uint32_t tlen = 0, epoch = 0;
	uint64_t len = 0;
	size_t n = 0;
	int fd, rc, trc;

	cf_repo_object_name(name, "data", s->id);
	fd = spool_fd(c);
	if (fd < 0) {
		cf_log_err("cannot create a temporary file in %s: %s", cf_repo_spool_dir(c->repo),
		           strerror(-fd));
		return fd;
	}
	rc = cf_storage_get_file(c->storage, name, fd, &len);
	if (rc == CF_E_NOTFOUND || ck_is_damage(rc)) {
		if (rc != CF_E_NOTFOUND)
			ck_damage(c, name, rc, "cannot be read whole: %s", cf_strerror(rc));
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	c->st.bytes_read += len;
	rc = len < CF_PACK_TRAILER_BYTES + CF_PACK_HEADER_BYTES
	         ? CF_E_TRUNCATED
	         : pread_all(fd, head, sizeof(head), 0);
	if (!rc)
		rc = pread_all(fd, tail, sizeof(tail), len - sizeof(tail));
	if (!rc)
		rc = cf_pack_trailer(tail, len, &tlen);
	if (!rc && !(table = malloc(tlen + sizeof(tail))))
		rc = -ENOMEM;
	if (!rc)
		rc = pread_all(fd, table, tlen + sizeof(tail), len - sizeof(tail) - tlen);
	if (rc < 0)
		goto out;
	trc = rc; /* damage in the tail: reported below, after the name */
	rc = pack_name(fd, len, head, table, trc ? 0 : tlen + sizeof(tail), h);
	if (rc)
		goto out;
	if (memcmp(h, s->id, 32) != 0)
		ck_damage(c, name, CF_E_CORRUPT,
		          "does not match its name: altered, truncated or swapped");
	rc = trc;
	if (!rc)
		rc = cf_pack_table_parse(table, tlen, len, c->ring, c->repo_id, &epoch, &e, &n);
	if (rc == CF_E_NOTFOUND) {
		ck_note(c, name, rc, "this device holds no key for its epoch: not checked");
		rc = 0;
		goto out;
	}
	if (rc > 0) {
		ck_damage(c, name, rc, "its table is unreadable: %s", cf_strerror(rc));
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	compare_index(c, name, s->id, e, n);
	if (cf_pack_version(head) == 2)
		rc = padding(c, name, fd, e, n, len - tlen - sizeof(tail));
	if (!rc)
		rc = blobs(c, name, fd, epoch, e, n);
out:
	free(table);
	free(e);
	close(fd);
	return rc;
}

int ck_read_data(struct ck *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->stored.n && !rc; i++)
		rc = read_pack(c, &c->stored.v[i]);
	return rc;
}
