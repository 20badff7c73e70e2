/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the restore operations on repositories built here through the repo API:
 * the blob set, path selection, cf_restore_snapshot's refusals and its clean failure,
 * hostile trees written by a device that holds the keys, forget, prune's two phases
 * (backup locks, resurrected and mixed packs, refusal on unreadable snapshots), and
 * check on what prune leaves.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "repo/archive.h"
#include "repo/object.h"
#include "repo/snapshots.h"
#include "restore/blobset.h"
#include "restore/check.h"
#include "restore/forget.h"
#include "restore/prune.h"
#include "restore/restore.h"
#include "restore/snapread.h"
#include "tests/lib/check.h"

struct env {
	char *dir, repo[4096], state[4096], cache[4096];
	struct cf_session *s;
	uint64_t seq;
	uint8_t prev[32];
};

struct file {
	const char *path;
	const char *content;
};

typedef void (*patch_fn)(uint8_t *piece, size_t len);

static void env_open(struct env *e)
{
	struct cf_session_opts so = {0};
	struct cf_keychain *kc = NULL;

	memset(e, 0, sizeof(*e));
	e->dir = check_tmpdir();
	snprintf(e->repo, sizeof(e->repo), "%s/repo", e->dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
	snprintf(e->cache, sizeof(e->cache), "%s/cache", e->dir);
	REQUIRE(cf_keychain_create(&kc, e->state, NULL) == 0);
	cf_keychain_free(kc);
	so.repo_url = e->repo;
	so.state_dir = e->state;
	so.cache_dir = e->cache;
	so.create = 1;
	REQUIRE(cf_session_open(&e->s, &so) == 0);
	REQUIRE(cf_session_load_snapshots(e->s) == 0);
}

static void env_close(struct env *e)
{
	cf_session_free(e->s);
	check_rmtree(e->dir);
	free(e->dir);
}

struct emit_ctx {
	struct cf_repo *r;
	patch_fn patch;
	uint8_t *trees;
	size_t n;
};

static int emit(void *ctx, const uint8_t *piece, size_t len)
{
	struct emit_ctx *c = ctx;
	uint8_t *copy = malloc(len), id[32];
	int rc;

	REQUIRE(copy);
	memcpy(copy, piece, len);
	if (c->patch)
		c->patch(copy, len);
	rc = cf_repo_put_blob(c->r, CF_BLOB_TREE, copy, len, id, NULL);
	free(copy);
	if (rc)
		return rc;
	c->trees = realloc(c->trees, (c->n + 1) * 32);
	REQUIRE(c->trees);
	memcpy(c->trees + c->n++ * 32, id, 32);
	return 0;
}

/* A snapshot of @files (one chunk each), committed like a backup: packs, index, manifest. */
static void snapshot(struct env *e, const struct file *files, size_t n, patch_fn patch,
                     uint8_t id[32])
{
	struct emit_ctx c = {.r = e->s->repo, .patch = patch};
	struct cf_tree_writer *w = NULL;
	struct cf_manifest m = {0};
	uint8_t header[CF_ARCHIVE_HEADER_MAX];
	uint64_t bytes = 0;

	REQUIRE(cf_tree_writer_new(&w, 0, emit, &c) == 0);
	for (size_t i = 0; i < n; i++) {
		struct cf_archive_ref ref = {.len = (uint32_t)strlen(files[i].content)};
		struct cf_archive_entry a = {
		    .path = files[i].path,
		    .type = CF_ARCHIVE_FILE,
		    .mode = 0644,
		    .size = ref.len,
		    .mtime = 1700000000,
		    .header = header,
		    .refs = &ref,
		    .nrefs = 1,
		};
		REQUIRE(cf_repo_put_blob(e->s->repo, CF_BLOB_DATA, files[i].content, ref.len,
		                         ref.id, NULL) == 0);
		REQUIRE(cf_archive_header(&a, header, sizeof(header), &a.header_len) == 0);
		REQUIRE(cf_tree_writer_add(w, &a) == 0);
		bytes += ref.len;
	}
	REQUIRE(cf_tree_writer_finish(w, NULL) == 0);
	cf_tree_writer_free(w);
	REQUIRE(cf_repo_commit_index(e->s->repo) == 0);
	m.seq = ++e->seq;
	m.has_prev = m.seq > 1;
	memcpy(m.prev, e->prev, 32);
	m.time = (uint64_t)time(NULL);
	m.host = "test";
	m.store = "/store";
	m.trees = c.trees;
	m.ntrees = c.n;
	m.files = n;
	m.bytes = bytes;
	REQUIRE(cf_repo_write_manifest(e->s->repo, &m, id) == 0);
	memcpy(e->prev, id, 32);
	free(c.trees);
	REQUIRE(cf_session_load_snapshots(e->s) == 0);
}

static const struct cf_manifest *by_seq(struct env *e, uint64_t seq)
{
	for (size_t i = 0; i < cf_snapshots_count(e->s->snaps); i++)
		if (cf_snapshots_get(e->s->snaps, i)->seq == seq)
			return cf_snapshots_get(e->s->snaps, i);
	return NULL;
}

static int count_objects(struct env *e, const char *folder)
{
	char cmd[8300];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s/%s' -type f 2>/dev/null | wc -l", e->repo, folder);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---------------------------------------------------------------------------------- */

static void test_blobset(void)
{
	struct cf_blobset s = {0};
	uint8_t id[32];
	int added = 0;

	for (uint32_t i = 0; i < 20000; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id, &i, sizeof(i));
		id[31] = (uint8_t)i;
		CHECK(cf_blobset_add(&s, CF_BLOB_DATA, id, &added) == 0 && added);
	}
	CHECK(s.n == 20000);
	for (uint32_t i = 0; i < 20000; i += 997) {
		memset(id, 0, sizeof(id));
		memcpy(id, &i, sizeof(i));
		id[31] = (uint8_t)i;
		CHECK(cf_blobset_has(&s, CF_BLOB_DATA, id));
		CHECK(!cf_blobset_has(&s, CF_BLOB_TREE, id)); /* the type is part of the key */
		CHECK(cf_blobset_add(&s, CF_BLOB_DATA, id, &added) == 0 && !added);
	}
	memset(id, 0xee, sizeof(id));
	CHECK(!cf_blobset_has(&s, CF_BLOB_DATA, id));
	CHECK(cf_blobset_add(&s, 0, id, NULL) == CF_E_INVAL);
	cf_blobset_clear(&s);
	CHECK(s.n == 0 && !cf_blobset_has(&s, CF_BLOB_DATA, id));
}

static void test_path_selected(void)
{
	CHECK(cf_snapread_path_selected("a/b", "a/b"));
	CHECK(cf_snapread_path_selected("a/b/c", "a/b"));
	CHECK(cf_snapread_path_selected("a/b/c", "a/b/"));
	CHECK(!cf_snapread_path_selected("a/bc", "a/b"));
	CHECK(!cf_snapread_path_selected("a", "a/b"));
	CHECK(cf_snapread_path_selected("chat.db", "chat.db"));
	CHECK(!cf_snapread_path_selected("chat.db-wal", "chat.db"));
}

static void test_restore(void)
{
	static const struct file files[] = {
	    {"a.txt", "alpha"},
	    {"dir/b.txt", "bravo"},
	    {"dir/sub/c.txt", "charlie"},
	};
	static volatile sig_atomic_t stop = 1;
	struct cf_restore_opts o = {0};
	struct cf_restore_result res;
	const struct cf_manifest *m;
	const char *only_dir[] = {"dir/sub"}, *nope[] = {"dir/none"}, *bad[] = {"../x"};
	char to[4200], path[4300];
	struct env e;
	uint8_t id[32];

	env_open(&e);
	snapshot(&e, files, 3, NULL, id);
	REQUIRE((m = by_seq(&e, 1)) != NULL);
	snprintf(to, sizeof(to), "%s/deep/er/out", e.dir);
	o.to = to;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, &res), 0);
	CHECK(res.files == 3 && res.bytes == 17 && !res.db_checked);
	snprintf(path, sizeof(path), "%s/dir/sub/c.txt", to);
	CHECK(slurp(path) && strcmp(slurp(path), "charlie") == 0);
	CHECK_RC(cf_restore_dir_state(to), 2);

	/* a non-empty target is refused before anything is read; --in-place replaces it */
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), CF_E_EXISTS);
	snprintf(path, sizeof(path), "%s/extra", to);
	REQUIRE(fclose(fopen(path, "w")) == 0);
	o.in_place = 1;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), 0);
	CHECK(!exists(path));
	o.paths = only_dir;
	o.npaths = 1;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), CF_E_INVAL);
	o.in_place = 0;

	/* --path: a folder and what lies below it, nothing else */
	snprintf(to, sizeof(to), "%s/part", e.dir);
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, &res), 0);
	CHECK(res.files == 1);
	snprintf(path, sizeof(path), "%s/dir/sub/c.txt", to);
	CHECK(exists(path));
	snprintf(path, sizeof(path), "%s/a.txt", to);
	CHECK(!exists(path));
	snprintf(to, sizeof(to), "%s/none", e.dir);
	o.paths = nope;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), CF_E_NOTFOUND);
	CHECK(!exists(to));
	o.paths = bad;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), CF_E_INVAL);
	CHECK(!exists(to));

	/* interrupted: nothing at the target, no temporary folder left */
	o.paths = NULL;
	o.npaths = 0;
	o.stop = &stop;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), -EINTR);
	CHECK(!exists(to));
	snprintf(path, sizeof(path), "ls -a '%s' | grep -q restore-", e.dir);
	CHECK(system(path) != 0);
	env_close(&e);
}

/* ---------------------------------------------------------------------------------- */
/* Hostile trees: a device holding the keys writes entries a restore must refuse.       */

#define VICTIM "aaaaaaa"

/* Replace every occurrence of VICTIM in the piece (entry path and tar header). */
static void replace_path(uint8_t *p, size_t len, const char *with)
{
	for (size_t i = 0; i + strlen(VICTIM) <= len; i++)
		if (memcmp(p + i, VICTIM, strlen(VICTIM)) == 0)
			memcpy(p + i, with, strlen(VICTIM));
}

/* The ustar header in the piece: "ustar" sits 257 bytes into it. */
static uint8_t *ustar(uint8_t *p, size_t len)
{
	for (size_t i = 257; i + 5 <= len; i++)
		if (memcmp(p + i, "ustar", 5) == 0)
			return p + i - 257;
	return NULL;
}

static void fix_checksum(uint8_t *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void patch_dotdot(uint8_t *p, size_t len)
{
	uint8_t *h = ustar(p, len);

	replace_path(p, len, "../evil");
	if (h)
		fix_checksum(h);
}

static void patch_absolute(uint8_t *p, size_t len)
{
	uint8_t *h = ustar(p, len);

	replace_path(p, len, "/tmp/xx");
	if (h)
		fix_checksum(h);
}

static void patch_typeflag(uint8_t *p, size_t len, char flag)
{
	uint8_t *h = ustar(p, len);

	if (!h)
		return;
	h[156] = (uint8_t)flag;
	if (flag == '2')
		memcpy(h + 157, "/etc/passwd", 11); /* linkname */
	fix_checksum(h);
}

static void patch_symlink(uint8_t *p, size_t len)
{
	patch_typeflag(p, len, '2');
}

static void patch_device(uint8_t *p, size_t len)
{
	patch_typeflag(p, len, '3');
}

static void test_hostile(void)
{
	static const struct file files[] = {{VICTIM, "payload"}};
	static const patch_fn patches[] = {patch_dotdot, patch_absolute, patch_symlink,
	                                   patch_device};
	struct cf_restore_opts o = {0};
	struct cf_prune_opts po = {.now = (uint64_t)time(NULL), .stale_lock = 60};
	char to[4200], path[4300];
	struct env e;
	uint8_t id[32];

	env_open(&e);
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		const struct cf_manifest *m;
		int rc;

		snapshot(&e, files, 1, patches[i], id);
		REQUIRE((m = by_seq(&e, e.seq)) != NULL);
		snprintf(to, sizeof(to), "%s/out%zu", e.dir, i);
		o.to = to;
		rc = cf_restore_snapshot(e.s->repo, m, &o, NULL);
		CHECK(rc == CF_E_CORRUPT || rc == CF_E_UNSAFE);
		CHECK(!exists(to));
		snprintf(path, sizeof(path), "%s/evil", e.dir);
		CHECK(!exists(path));
		CHECK(!exists("/tmp/xx"));
	}
	/* prune deletes nothing while a snapshot cannot be read whole */
	CHECK_RC(cf_prune_run(e.s, &po, NULL), CF_E_CORRUPT);
	env_close(&e);
}

/* ---------------------------------------------------------------------------------- */
/* forget and prune                                                                     */

static void backup_lock(struct env *e, uint64_t t, char name[CF_STORAGE_NAME_MAX])
{
	char text[256];
	uint8_t *sealed = NULL, id[32];
	size_t slen = 0;

	snprintf(text, sizeof(text), "{\"host\":\"h\",\"kind\":\"backup\",\"time\":%llu}",
	         (unsigned long long)t);
	REQUIRE(cf_object_seal(&sealed, &slen, cf_keyring_current(cf_repo_keyring(e->s->repo)),
	                       cf_repo_id(e->s->repo), CF_OBJ_LOCK, text, strlen(text)) == 0);
	cf_object_id(sealed, slen, id);
	cf_repo_object_name(name, "locks", id);
	REQUIRE(cf_storage_put_buf(cf_repo_storage(e->s->repo), name, sealed, slen) == 0);
	free(sealed);
}

static void count_damage(void *ctx, const struct cf_check_finding *f)
{
	if (f->damage) {
		++*(int *)ctx;
		fprintf(stderr, "damaged: %s (%s)\n", f->object, f->what);
	}
}

static int damage(struct env *e, int read_data)
{
	struct cf_check_opts co = {
	    .repo_url = e->repo, .cache_base = e->cache, .read_data = read_data};
	int n = 0;

	CHECK_RC(cf_check_run(e->s->kc, &co, count_damage, &n, NULL), 0);
	return n;
}

static void test_prune(void)
{
	static const struct file one[] = {{"one.txt", "only in snapshot one"}};
	static const struct file two[] = {{"two.txt", "only in snapshot two"}};
	struct cf_prune_opts po = {.stale_lock = 3600, .host = "test"};
	struct cf_prune_result res;
	char lock[CF_STORAGE_NAME_MAX], to[4200], path[4300];
	struct cf_restore_opts o = {0};
	const struct cf_manifest *m;
	struct env e;
	uint8_t id[32], rec[32];
	uint64_t t0 = (uint64_t)time(NULL);

	env_open(&e);
	snapshot(&e, one, 1, NULL, id);
	snapshot(&e, two, 1, NULL, id);
	CHECK(count_objects(&e, "data") == 2);
	CHECK(damage(&e, 1) == 0);

	/* nothing is unreferenced yet */
	po.now = t0;
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.packs == 2 && res.packs_used == 2 && res.packs_planned == 0 && !res.plan_written);

	/* forget #1: record first, then the manifest goes; the chain stays whole */
	REQUIRE((m = by_seq(&e, 1)) != NULL);
	CHECK_RC(cf_restore_forget(e.s->repo, m, t0, rec), 0);
	CHECK(count_objects(&e, "snapshots") == 1 && count_objects(&e, "forget") == 1);
	CHECK_RC(cf_session_load_snapshots(e.s), 0);
	CHECK(cf_snapshots_count(e.s->snaps) == 1);
	CHECK(damage(&e, 0) == 0);

	/* phase 1 */
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.packs_unused == 1 && res.packs_planned == 1 && res.plan_written);
	CHECK(count_objects(&e, "locks") == 1 && count_objects(&e, "data") == 2);

	/* a running backup makes phase 2 wait; a stale backup lock does not */
	backup_lock(&e, t0 + 5, lock);
	po.now = t0 + 10;
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.plans_ready == 1 && res.backups_running == 1 && res.packs_deleted == 0);
	CHECK(count_objects(&e, "data") == 2);
	po.now = t0 + 5 + 3600 + 1;
	po.dry_run = 1;
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.backups_running == 0 && res.packs_deleted == 1);
	CHECK(count_objects(&e, "data") == 2 && count_objects(&e, "locks") == 2);
	po.dry_run = 0;
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.packs_deleted == 1 && res.indexes_deleted == 1 && res.packs_planned == 0);
	CHECK(count_objects(&e, "data") == 1);
	CHECK(count_objects(&e, "locks") == 1); /* the backup lock is not prune's to remove */
	REQUIRE(cf_storage_delete(cf_repo_storage(e.s->repo), lock) == 0);
	CHECK(damage(&e, 1) == 0);

	/* what is left restores */
	REQUIRE((m = by_seq(&e, 2)) != NULL);
	snprintf(to, sizeof(to), "%s/out", e.dir);
	o.to = to;
	CHECK_RC(cf_restore_snapshot(e.s->repo, m, &o, NULL), 0);
	snprintf(path, sizeof(path), "%s/two.txt", to);
	CHECK(slurp(path) && strcmp(slurp(path), "only in snapshot two") == 0);
	env_close(&e);
}

/* A planned pack that a later snapshot uses again is kept, whole or partly used. */
static void test_prune_resurrect(void)
{
	static const struct file one[] = {{"x.txt", "shared content"}};
	static const struct file two[] = {{"y.txt", "other content"}};
	static const struct file three[] = {{"z.txt", "shared content"}};
	struct cf_prune_opts po = {.stale_lock = 3600, .host = "test"};
	struct cf_prune_result res;
	struct env e;
	uint8_t id[32];

	env_open(&e);
	snapshot(&e, one, 1, NULL, id);
	snapshot(&e, two, 1, NULL, id);
	REQUIRE(cf_restore_forget(e.s->repo, by_seq(&e, 1), (uint64_t)time(NULL), NULL) == 0);
	REQUIRE(cf_session_load_snapshots(e.s) == 0);
	po.now = (uint64_t)time(NULL);
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.packs_planned == 1);
	/* snapshot 3 stores "shared content" again: deduplicated into the planned pack */
	snapshot(&e, three, 1, NULL, id);
	CHECK_RC(cf_prune_run(e.s, &po, &res), 0);
	CHECK(res.plans_ready == 1 && res.packs_deleted == 0 && res.packs_kept == 1);
	CHECK(res.packs_mixed == 1); /* its data blob is used, snapshot 1's tree is not */
	CHECK(count_objects(&e, "data") == 3 && count_objects(&e, "locks") == 0);
	CHECK(damage(&e, 1) == 0);

	/* a refused manifest stops prune before anything is deleted */
	{
		const char junk[] = "not a manifest";
		char name[CF_STORAGE_NAME_MAX];
		uint8_t jid[32];

		cf_object_id((const uint8_t *)junk, sizeof(junk), jid);
		cf_repo_object_name(name, "snapshots", jid);
		REQUIRE(cf_storage_put_buf(cf_repo_storage(e.s->repo), name, junk, sizeof(junk)) ==
		        0);
		REQUIRE(cf_session_load_snapshots(e.s) == 0);
		CHECK_RC(cf_prune_run(e.s, &po, &res), CF_E_CORRUPT);
		CHECK(damage(&e, 0) == 1);
	}
	env_close(&e);
}

int main(void)
{
	REQUIRE(cf_core_init() == 0);
	test_blobset();
	test_path_selected();
	test_restore();
	test_hostile();
	test_prune();
	test_prune_resurrect();
	return check_finish();
}
