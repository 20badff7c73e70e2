/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/identity.h"
#include "repo/repo.h"
#include "repo/storage.h"
#include "tests/lib/check.h"

#define NB 40
#define BLEN 20000

static char *dir, url[512], cache1[512], cache2[512];
static uint8_t mk[32];
static uint8_t data[NB][BLEN];

static struct cf_repo *open_repo(const char *cache, int create, int *rc_out)
{
	struct cf_repo_opts o = {.url = url, .cache_dir = cache, .create = create,
				 .pack_size = 200000};
	struct cf_repo *r = NULL;
	struct cf_keyring *ring = NULL;
	int rc = cf_repo_open(&r, &o);

	if (rc_out)
		*rc_out = rc;
	if (rc)
		return NULL;
	REQUIRE(cf_keyring_new(&ring) == 0 && cf_keyring_add(ring, 1, mk, 1) == 0);
	REQUIRE(cf_repo_set_keys(r, ring, NULL, NULL, 0) == 0);
	CHECK_RC(cf_repo_sync(r), 0);
	return r;
}

static int count_cb(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static int count(struct cf_repo *r, const char *prefix)
{
	int n = 0;

	REQUIRE(cf_storage_list(cf_repo_storage(r), prefix, count_cb, &n) == 0);
	return n;
}

static void put_all(struct cf_repo *r, int from, int to, uint8_t ids[][32], int want_new)
{
	for (int i = from; i < to; i++) {
		int is_new = -1;
		CHECK_RC(cf_repo_put_blob(r, CF_BLOB_DATA, data[i], BLEN, ids[i], &is_new), 0);
		CHECK(is_new == want_new);
	}
}

int main(void)
{
	static uint8_t ids[NB][32];
	struct cf_repo *r;
	struct cf_repo_stats st;
	int rc, packs_before;

	REQUIRE(cf_core_init() == 0);
	dir = check_tmpdir();
	snprintf(url, sizeof(url), "file://%s/repo", dir);
	snprintf(cache1, sizeof(cache1), "%s/cache1", dir);
	snprintf(cache2, sizeof(cache2), "%s/cache2", dir);
	cf_core_random(mk, sizeof(mk));
	for (int i = 0; i < NB; i++)
		cf_core_random(data[i], BLEN);

	/* absent repository: refused without create, made with it */
	r = open_repo(cache1, 0, &rc);
	CHECK(r == NULL && rc == CF_E_NOTFOUND);
	r = open_repo(cache1, 1, &rc);
	REQUIRE(r && rc == 0);
	CHECK(cf_repo_created(r) == 1);

	/* first half: uploaded and indexed */
	put_all(r, 0, NB / 2, ids, 1);
	put_all(r, 0, 5, ids, 0); /* dedup inside the session */
	CHECK_RC(cf_repo_commit_index(r), 0);
	cf_repo_stats(r, &st);
	CHECK(st.blobs_new == NB / 2 && st.blobs_dup == 5 && st.packs >= 2);
	CHECK(count(r, "index/") == 1);
	/* second half: packs uploaded, then the process "dies" before the index */
	put_all(r, NB / 2, NB, ids, 1);
	CHECK_RC(cf_repo_flush(r), 0);
	packs_before = count(r, "data/");
	cf_repo_free(r);

	/* a new device cache: indexes loaded, orphan packs adopted, nothing re-uploaded */
	r = open_repo(cache2, 0, &rc);
	REQUIRE(r);
	CHECK(cf_repo_created(r) == 0);
	put_all(r, 0, NB, ids, 0);
	CHECK_RC(cf_repo_commit_index(r), 0);
	CHECK(count(r, "data/") == packs_before);
	CHECK(count(r, "index/") == 2);
	for (int i = 0; i < NB; i++) {
		uint8_t *out = NULL;
		size_t len = 0;
		CHECK_RC(cf_repo_get_blob(r, CF_BLOB_DATA, ids[i], &out, &len), 0);
		CHECK(out && len == BLEN && memcmp(out, data[i], BLEN) == 0);
		free(out);
	}
	{
		uint8_t missing[32] = {1}, *out = NULL;
		size_t len = 0;
		CHECK_RC(cf_repo_get_blob(r, CF_BLOB_DATA, missing, &out, &len), CF_E_NOTFOUND);
	}
	cf_repo_free(r);

	/* a pack removed elsewhere (prune by another device): the cache forgets it, and its
	 * blobs are stored again rather than deduplicated against nothing */
	{
		struct cf_blob_loc loc;
		char name[CF_STORAGE_NAME_MAX];
		int again = 0;
		r = open_repo(cache2, 0, &rc);
		REQUIRE(r);
		REQUIRE(cf_cache_find_blob(cf_repo_cache(r), CF_BLOB_DATA, ids[0], &loc) == 0);
		cf_repo_object_name(name, "data", loc.pack);
		REQUIRE(cf_storage_delete(cf_repo_storage(r), name) == 0);
		cf_repo_free(r);
		r = open_repo(cache2, 0, &rc);
		REQUIRE(r);
		CHECK_RC(cf_cache_find_blob(cf_repo_cache(r), CF_BLOB_DATA, ids[0], &loc),
			 CF_E_NOTFOUND);
		for (int i = 0; i < NB; i++) {
			int is_new = 0;
			CHECK_RC(cf_repo_put_blob(r, CF_BLOB_DATA, data[i], BLEN, ids[i], &is_new), 0);
			again += is_new;
		}
		CHECK(again > 0 && again < NB);
		/* full packs upload in the background: the cache knows them after a flush */
		CHECK_RC(cf_repo_flush(r), 0);
		/* a pack a prune plan names is never deduplicated against */
		REQUIRE(cf_cache_find_blob(cf_repo_cache(r), CF_BLOB_DATA, ids[1], &loc) == 0);
		CHECK(cf_repo_blob_usable(r, CF_BLOB_DATA, ids[1]) == 1);
		CHECK_RC(cf_repo_exclude_pack(r, loc.pack), 0);
		CHECK(cf_repo_blob_usable(r, CF_BLOB_DATA, ids[1]) == 0);
		{
			int is_new = 0;
			CHECK_RC(cf_repo_put_blob(r, CF_BLOB_DATA, data[1], BLEN, ids[1], &is_new), 0);
			CHECK(is_new == 1);
		}
		cf_repo_free(r);
	}

	/* a repository written by a newer format is refused with a clear code */
	{
		char path[600];
		FILE *f;
		snprintf(path, sizeof(path), "%s/newer", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/newer/config", dir);
		f = fopen(path, "w");
		REQUIRE(f);
		fputs("{\"coffer\":\"repository\",\"format\":99,\"repo_id\":\"00\"}", f);
		fclose(f);
		snprintf(url, sizeof(url), "%s/newer", dir);
		r = open_repo(cache1, 1, &rc);
		CHECK(r == NULL && rc == CF_E_VERSION);
		/* a folder with files but no config is not initialised over */
		snprintf(path, sizeof(path), "%s/other", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/other/keys", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/other/keys/%064d", dir, 0);
		f = fopen(path, "w");
		REQUIRE(f);
		fclose(f);
		snprintf(url, sizeof(url), "%s/other", dir);
		r = open_repo(cache1, 1, &rc);
		CHECK(r == NULL && rc == CF_E_FORMAT);
		/* nor is a folder of someone else's files (a mistyped path) */
		snprintf(path, sizeof(path), "%s/home", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/home/notes.txt", dir);
		f = fopen(path, "w");
		REQUIRE(f);
		fclose(f);
		snprintf(url, sizeof(url), "%s/home", dir);
		r = open_repo(cache1, 1, &rc);
		CHECK(r == NULL && rc == CF_E_FORMAT);
		snprintf(path, sizeof(path), "%s/home/config", dir);
		CHECK(access(path, F_OK) != 0);
	}
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
