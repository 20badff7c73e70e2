/* SPDX-License-Identifier: ISC */
/* The session glue: first epoch, slots and roster, manifests, seen, rollback. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/encode.h"
#include "keyvault/keychain.h"
#include "keyvault/session.h"
#include "repo/object.h"
#include "repo/snapshots.h"
#include "tests/lib/check.h"

static char *dir, state[512], state2[512], cache[512], url[512];

static int open_session(struct cf_session **s, const char *st, int create)
{
	struct cf_session_opts o = {.repo_url = url, .state_dir = st, .cache_dir = cache,
				    .create = create};
	return cf_session_open(s, &o);
}

/* One backup's worth of commit: a blob, the index, a manifest chained to the last. */
static void backup(struct cf_session *s, uint8_t id_out[32])
{
	struct cf_manifest m = {0};
	const struct cf_chain *c;
	struct cf_chain_seen seen;
	uint8_t blob[32], data[1000];
	int have_seen;

	REQUIRE(cf_session_load_snapshots(s) == 0);
	cf_core_random(data, sizeof(data));
	CHECK_RC(cf_repo_put_blob(s->repo, CF_BLOB_TREE, data, sizeof(data), blob, NULL), 0);
	CHECK_RC(cf_repo_commit_index(s->repo), 0);
	c = cf_snapshots_chain(s->snaps);
	have_seen = cf_keychain_seen_get(s->kc, cf_repo_id(s->repo), &seen.seq, seen.id) == 0;
	CHECK_RC(cf_chain_next(c, have_seen ? &seen : NULL, &m.seq, &m.has_prev, m.prev), 0);
	m.time = 1764300000;
	m.host = "test";
	m.store = "/store";
	m.trees = blob;
	m.ntrees = 1;
	CHECK_RC(cf_repo_write_manifest(s->repo, &m, id_out), 0);
	CHECK_RC(cf_session_record_seen(s, m.seq, id_out), 0);
}

static int count_cb(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

int main(void)
{
	struct cf_session *s = NULL;
	struct cf_keychain *kc = NULL;
	uint8_t id1[32], id2[32];
	char path[700], hex[CF_HEX_LEN(32)];
	int n = 0;

	REQUIRE(cf_core_init() == 0);
	cf_keychain_testing_fast_kdf();
	dir = check_tmpdir();
	snprintf(state, sizeof(state), "%s/device", dir);
	snprintf(state2, sizeof(state2), "%s/device2", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(url, sizeof(url), "%s/repo", dir);

	/* no keychain yet: a clear not-found */
	CHECK_RC(open_session(&s, state, 1), CF_E_NOTFOUND);
	REQUIRE(cf_keychain_create(&kc, state, NULL) == 0);
	cf_keychain_free(kc);
	REQUIRE(cf_keychain_create(&kc, state2, NULL) == 0);
	cf_keychain_free(kc);

	/* first open initialises: config, one device slot, one roster */
	CHECK_RC(open_session(&s, state, 1), 0);
	REQUIRE(s);
	CHECK(cf_storage_list(cf_repo_storage(s->repo), "keys/", count_cb, &n) == 0 && n == 2);
	backup(s, id1);
	backup(s, id2);
	CHECK_RC(cf_session_load_snapshots(s), 0);
	CHECK(cf_snapshots_count(s->snaps) == 2);
	CHECK(cf_snapshots_get(s->snaps, 1)->seq == 2);
	CHECK(memcmp(cf_snapshots_get(s->snaps, 1)->prev, id1, 32) == 0);
	cf_session_free(s);
	s = NULL;

	/* the keychain alone gives the keys back; a fresh cache is rebuilt */
	check_rmtree(cache);
	CHECK_RC(open_session(&s, state, 0), 0);
	CHECK_RC(cf_session_load_snapshots(s), 0);
	CHECK(s && cf_snapshots_count(s->snaps) == 2);
	cf_session_free(s);
	s = NULL;

	/* another device holds no key for this repository */
	CHECK_RC(open_session(&s, state2, 0), CF_E_NOTFOUND);

	/* rollback: the newest manifest deleted; this device saw it */
	cf_encode_hex(hex, id2, 32);
	snprintf(path, sizeof(path), "%s/snapshots/%s", url, hex);
	REQUIRE(unlink(path) == 0);
	CHECK_RC(open_session(&s, state, 0), 0);
	CHECK_RC(cf_session_load_snapshots(s), CF_E_ROLLBACK);
	cf_session_free(s);

	check_rmtree(dir);
	free(dir);
	return check_finish();
}
