/* SPDX-License-Identifier: ISC */
/* restore check: manifests, forget records, the chain, and every snapshot's tree. */
#include "restore/check_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/cache.h"
#include "repo/dbmap.h"
#include "repo/chain.h"
#include "repo/manifest.h"
#include "restore/snapread.h"
#include "util/log.h"

#define SNAP_REPORTS 5 /* missing blobs named per snapshot; the rest are counted */

struct loaded {
	struct cf_manifest **m;
	size_t nm;
	struct cf_forget **f;
	size_t nf;
};

static void loaded_free(struct loaded *l)
{
	for (size_t i = 0; i < l->nm; i++)
		cf_manifest_free(l->m[i]);
	for (size_t i = 0; i < l->nf; i++)
		cf_forget_free(l->f[i]);
	free(l->m);
	free(l->f);
}

/* Why a manifest or forget record was refused, in words, naming an unknown signer. */
static void refused(struct ck *c, const char *name, int err, const uint8_t *buf, size_t len,
                    int forget)
{
	struct cf_pubid signer;
	char fpr[CF_FINGERPRINT_LEN];
	int pr = forget ? cf_forget_peek(buf, len, NULL, &signer)
	                : cf_manifest_peek(buf, len, NULL, &signer);

	if (err == CF_E_UNTRUSTED && !pr) {
		cf_pubid_fingerprint(&signer, fpr);
		ck_damage(c, name, err,
		          "refused: signed by %s, which is not a trusted device of this"
		          " repository",
		          fpr);
	} else if (err == CF_E_NOTFOUND) {
		ck_note(c, name, err, "written under a key epoch this device does not hold");
	} else {
		ck_damage(c, name, err, "refused: %s", cf_strerror(err));
	}
}

/* Read and verify every object of snapshots/ (@forget 0) or forget/ (@forget 1). */
static int load(struct ck *c, struct loaded *l, int forget)
{
	char(*names)[CF_STORAGE_NAME_MAX] = NULL;
	size_t n = 0;
	int rc = ck_names(c, forget ? "forget/" : "snapshots/", &names, &n);

	if (!rc && n) {
		void *v = forget ? (void *)(l->f = calloc(n, sizeof(*l->f)))
		                 : (void *)(l->m = calloc(n, sizeof(*l->m)));
		if (!v)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t *buf = NULL, id[32];
		size_t len = 0;

		rc = ck_fetch(c, names[i], forget ? CF_FORGET_MAX_BYTES : CF_MANIFEST_MAX_BYTES,
		              &buf, &len);
		if (ck_is_damage(rc) || rc == CF_E_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (forget)
			c->st.forgets++;
		else
			c->st.snapshots++;
		cf_encode_unhex(id, 32, strrchr(names[i], '/') + 1);
		if (forget)
			rc = cf_forget_decode(&l->f[l->nf], buf, len, id, c->ring, c->repo_id,
			                      c->signers, c->nsigners);
		else
			rc = cf_manifest_decode(&l->m[l->nm], buf, len, id, c->ring, c->repo_id,
			                        c->signers, c->nsigners);
		if (!rc && forget)
			l->nf++;
		else if (!rc)
			l->nm++;
		else if (rc != -ENOMEM) {
			refused(c, names[i], rc, buf, len, forget);
			rc = 0;
		}
		free(buf);
	}
	free(names);
	return rc;
}

/* The chain of the sound manifests and records, against what this device has seen. */
static int chain(struct ck *c, const struct loaded *l)
{
	struct cf_chain_seen seen;
	struct cf_chain *ch = NULL;
	uint64_t bad = 0;
	int have_seen, rc;

	have_seen = cf_keychain_seen_get(c->kc, c->repo_id, &seen.seq, seen.id) == 0;
	if (!l->nm && !l->nf && !have_seen)
		return 0; /* an empty repository */
	rc =
	    cf_chain_verify(&ch, &bad, (const struct cf_manifest *const *)l->m, l->nm,
	                    (const struct cf_forget *const *)l->f, l->nf, have_seen ? &seen : NULL);
	cf_chain_free(ch);
	if (rc == CF_E_CORRUPT)
		ck_damage(c, "snapshots/", rc,
		          "the chain is broken at sequence %llu: a snapshot is missing without a"
		          " forget record, or two claim one sequence",
		          (unsigned long long)bad);
	else if (rc == CF_E_ROLLBACK)
		ck_damage(c, "snapshots/", rc,
		          "sequence %llu, which this device has seen, is missing: snapshots were"
		          " deleted or an old copy of the repository is served",
		          (unsigned long long)(have_seen ? seen.seq : bad));
	else if (rc)
		return rc;
	return 0;
}

struct walk {
	struct ck *c;
	char name[CF_STORAGE_NAME_MAX];
	size_t problems;
	int have_tree_pack;
	uint8_t tree_pack[32];
};

static void problem(struct walk *w, int err, const char *what, const uint8_t id[32],
                    const char *pack)
{
	char hex[CF_HEX_LEN(32)];

	if (++w->problems > SNAP_REPORTS)
		return;
	cf_encode_hex(hex, id, 32);
	ck_damage(w->c, w->name, err, "%s %.16s…%s%s", what, hex, pack ? " " : "",
	          pack ? pack : "");
}

/* Where a referenced blob is: in an indexed pack that exists, or damage. */
static int blob_ref(struct walk *w, uint8_t type, const uint8_t id[32], int tree)
{
	struct ck *c = w->c;
	struct cf_blob_loc loc;
	char pack[CF_STORAGE_NAME_MAX + 64], pname[CF_STORAGE_NAME_MAX];
	int rc;

	if (cf_blobset_has(&c->seen, type, id))
		return 0;
	rc = cf_cache_find_blob(cf_repo_cache(c->repo), type, id, &loc);
	if (rc == CF_E_NOTFOUND) {
		problem(w, rc, tree ? "tree blob" : "references blob", id, "which is in no pack");
		return 0;
	}
	if (rc)
		return rc;
	if (tree) {
		memcpy(w->tree_pack, loc.pack, 32);
		w->have_tree_pack = 1;
	}
	cf_repo_object_name(pname, "data", loc.pack);
	if (!ck_pack_find(&c->indexed, loc.pack)) {
		snprintf(pack, sizeof(pack),
		         "is only in %s, which no index names (a deleted index?)", pname);
		problem(w, CF_E_NOTFOUND, "blob", id, pack);
		return 0;
	}
	if (!ck_pack_find(&c->stored, loc.pack)) {
		snprintf(pack, sizeof(pack), "is in %s, which is missing", pname);
		problem(w, CF_E_NOTFOUND, "blob", id, pack);
		return 0;
	}
	c->st.blobs_checked++;
	return cf_blobset_add(&c->seen, type, id, NULL);
}

static int tree_cb(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES])
{
	struct walk *w = ctx;
	size_t before = w->problems;
	int rc;

	w->c->st.trees++;
	w->have_tree_pack = 0;
	rc = blob_ref(w, CF_BLOB_TREE, id, 1);
	if (!rc && w->problems != before)
		rc = CF_E_NOTFOUND; /* the tree cannot be read: stop this snapshot */
	return rc;
}

static int map_blob(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	return blob_ref(ctx, type, id, 0);
}

static int entry_cb(void *ctx, const struct cf_archive_entry *e)
{
	struct walk *w = ctx;
	uint8_t type = e->body == CF_ARCHIVE_BODY_CHUNKLIST ? CF_BLOB_CHUNKLIST : CF_BLOB_DATA;
	int rc = 0;

	if (e->body == CF_ARCHIVE_BODY_CHUNKLIST && e->nrefs == 1) {
		/* a database page map: every node and bundle it names */
		size_t before = w->problems;
		rc = cf_dbmap_walk(&e->refs[0], cf_snapread_get_blob, w->c->repo, map_blob, w);
		if (rc == -ENOMEM)
			return rc;
		if (rc && w->problems == before)
			problem(w, rc, "database page map", e->refs[0].id, "cannot be read");
		return 0;
	}

	for (size_t i = 0; i < e->nrefs && !rc; i++)
		rc = blob_ref(w, type, e->refs[i].id, 0);
	return rc;
}

/* Walk one snapshot's tree: every tree decodes, every blob is where the index says. */
static int walk_snapshot(struct ck *c, const struct cf_manifest *m)
{
	struct walk w = {.c = c};
	size_t before = c->st.damaged;
	int rc;

	cf_repo_object_name(w.name, "snapshots", m->id);
	rc = cf_snapread_walk(c->repo, m, tree_cb, entry_cb, &w);
	if (rc == -ENOMEM)
		return rc;
	if (w.problems > SNAP_REPORTS)
		ck_damage(c, w.name, CF_E_NOTFOUND, "and %zu more missing blobs",
		          w.problems - SNAP_REPORTS);
	if (rc && c->st.damaged == before) {
		char pname[CF_STORAGE_NAME_MAX] = "";

		if (w.have_tree_pack)
			cf_repo_object_name(pname, "data", w.tree_pack);
		ck_damage(c, w.name, rc, "its archive tree cannot be read%s%s: %s",
		          *pname ? " from " : "", pname, cf_strerror(rc));
	}
	return 0;
}

int ck_snapshots(struct ck *c)
{
	struct loaded l = {0};
	int rc;

	rc = load(c, &l, 0);
	if (!rc)
		rc = load(c, &l, 1);
	if (!rc)
		rc = chain(c, &l);
	for (size_t i = 0; i < l.nm && !rc; i++)
		rc = walk_snapshot(c, l.m[i]);
	loaded_free(&l);
	return rc;
}
