/* SPDX-License-Identifier: ISC */
/* restore prune: what is referenced, the two phases, and the index rewrite. */
#include "restore/prune.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/cache.h"
#include "repo/dbmap.h"
#include "repo/index.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "restore/blobset.h"
#include "restore/prune_impl.h"
#include "restore/snapread.h"
#include "restore/packtable.h"
#include "util/log.h"

#define INDEX_MAX (CF_OBJECT_MAX_PLAIN + CF_OBJECT_OVERHEAD)

enum use { USE_UNREADABLE = 0, USE_USED, USE_MIXED, USE_UNUSED };

struct pack {
	uint8_t id[32]; /* first: packs are searched by id */
	uint64_t size;
	enum use use;
	int ready;   /* named by a plan older than the grace period */
	int waiting; /* named by a younger plan */
};

struct pr {
	struct cf_session *s;
	struct cf_repo *r;
	const struct cf_prune_opts *o;
	struct cf_prune_result *res;
	struct cf_blobset refs;
	struct pack *packs; /* data/ as listed, sorted by id */
	size_t npacks, cap;
	struct cf_lock *locks;
	size_t nlocks;
};

static int pack_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32); /* id is the first member */
}

static struct pack *pack_find(struct pr *p, const uint8_t id[32])
{
	return p->npacks ? bsearch(id, p->packs, p->npacks, sizeof(*p->packs), pack_cmp) : NULL;
}

/* ---------------------------------------------------------------------------------- */
/* What the snapshots reference                                                         */

static int ref_tree(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES])
{
	return cf_blobset_add(&((struct pr *)ctx)->refs, CF_BLOB_TREE, id, NULL);
}

static int ref_blob(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	return cf_blobset_add(&((struct pr *)ctx)->refs, type, id, NULL);
}

static int ref_entry(void *ctx, const struct cf_archive_entry *e)
{
	struct pr *p = ctx;
	int rc = 0;

	if (e->body == CF_ARCHIVE_BODY_CHUNKLIST) /* a database page map: its nodes, bundles */
		return cf_dbmap_walk(&e->refs[0], cf_snapread_get_blob, p->r, ref_blob, p);
	if (e->body != CF_ARCHIVE_BODY_REFS) {
		cf_log_err("\"%s\": a chunk-list body this build cannot follow: prune needs a"
		           " newer Coffer",
		           e->path);
		return CF_E_VERSION;
	}
	for (size_t i = 0; i < e->nrefs && !rc; i++)
		rc = cf_blobset_add(&p->refs, CF_BLOB_DATA, e->refs[i].id, NULL);
	return rc;
}

/* Every blob of every present snapshot (forgotten or not: a half-done forget counts). */
static int collect_refs(struct pr *p)
{
	const struct cf_snapshot_problem *prob = NULL;
	const struct cf_chain_opaque *unread = NULL;
	size_t nprob = cf_snapshots_problems(p->s->snaps, &prob);
	int rc = 0;

	if (nprob) {
		cf_log_err("%s: %zu snapshot object%s refused (first: %s): prune deletes nothing"
		           " while a snapshot cannot be read; run 'restore check'",
		           cf_repo_url(p->r), nprob, nprob == 1 ? " was" : "s were", prob[0].name);
		return CF_E_CORRUPT;
	}
	if (cf_snapshots_unreadable(p->s->snaps, &unread)) { /* their data looks unused here */
		cf_log_err("%s: some snapshots are sealed under key epochs this device does not"
		           " hold: prune deletes nothing here; run it on a device that holds every"
		           " epoch", cf_repo_url(p->r));
		return CF_E_NOTFOUND;
	}
	for (size_t i = 0; i < cf_snapshots_count(p->s->snaps) && !rc; i++) {
		const struct cf_manifest *m = cf_snapshots_get(p->s->snaps, i);

		rc = cf_snapread_walk(p->r, m, ref_tree, ref_entry, p);
		if (rc && rc != -ENOMEM && rc != CF_E_VERSION) {
			cf_log_err("%s: snapshot #%llu cannot be read whole (%s): prune deletes"
			           " nothing; run 'restore check'",
			           cf_repo_url(p->r), (unsigned long long)m->seq, cf_strerror(rc));
			rc = CF_E_CORRUPT;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Packs and how much of each is referenced                                              */

static int list_cb(void *ctx, const char *name, uint64_t size)
{
	struct pr *p = ctx;

	if (p->npacks == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct pack *v = realloc(p->packs, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->packs = v;
		p->cap = cap;
	}
	if (cf_encode_unhex(p->packs[p->npacks].id, 32, strrchr(name, '/') + 1) != 0)
		return 0;
	p->packs[p->npacks].size = size;
	p->packs[p->npacks].use = USE_UNREADABLE;
	p->packs[p->npacks].ready = p->packs[p->npacks].waiting = 0;
	p->npacks++;
	return 0;
}

static int classify(struct pr *p)
{
	struct cf_cache *cache = cf_repo_cache(p->r);
	int rc = cf_storage_list(cf_repo_storage(p->r), "data/", list_cb, p);

	if (rc)
		return rc;
	if (p->npacks)
		qsort(p->packs, p->npacks, sizeof(*p->packs), pack_cmp);
	for (size_t i = 0; i < p->npacks; i++) {
		struct pack *k = &p->packs[i];
		struct cf_pack_entry *e = NULL;
		uint32_t epoch = 0;
		uint64_t size = 0;
		size_t n = 0, used = 0;

		rc = cf_cache_pack_entries(cache, k->id, &epoch, &size, &e, &n);
		if (rc == CF_E_NOTFOUND || (!rc && size != k->size)) {
			free(e);
			p->res->packs_unreadable++;
			continue; /* no table read: never deleted */
		}
		if (rc)
			return rc;
		for (size_t j = 0; j < n; j++)
			used += cf_blobset_has(&p->refs, e[j].type, e[j].id);
		free(e);
		k->use = used == 0 ? USE_UNUSED : used == n ? USE_USED : USE_MIXED;
		if (k->use == USE_UNUSED)
			p->res->packs_unused++;
		else if (k->use == USE_MIXED)
			p->res->packs_mixed++;
		else
			p->res->packs_used++;
	}
	p->res->packs = p->npacks;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Phase 2: the index rewrite, then the deletions                                       */

struct old_index {
	uint8_t id[32];
	uint32_t epoch;
	struct cf_index *ix;
};

struct idlist {
	uint8_t (*v)[32];
	size_t n, cap;
};

static int idlist_cb(void *ctx, const char *name, uint64_t size)
{
	struct idlist *l = ctx;

	(void)size;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint8_t(*v)[32] = realloc(l->v, cap * 32);
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (cf_encode_unhex(l->v[l->n], 32, strrchr(name, '/') + 1) == 0)
		l->n++;
	return 0;
}

/* A pack prune deletes in phase 2: planned long enough ago, and still unreferenced. */
static int doomed(struct pr *p, const uint8_t id[32])
{
	struct pack *k = pack_find(p, id);

	return k && k->use == USE_UNUSED && k->ready;
}

/*
 * Read index object @id into @oi. oi->ix stays NULL when it is gone or belongs to an
 * epoch this device cannot read (the packs of that epoch are unreadable too, so never
 * deleted). Returns 0; CF_E_CORRUPT when it is damaged (logged: prune stops); storage
 * errors; -ENOMEM.
 */
static int read_index(struct pr *p, const uint8_t id[32], struct old_index *oi)
{
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *buf = NULL, *pt = NULL, h[32], type = 0;
	size_t len = 0, plen = 0;
	int rc;

	memcpy(oi->id, id, 32);
	cf_repo_object_name(name, "index", id);
	rc = cf_storage_get_buf(cf_repo_storage(p->r), name, &buf, &len, INDEX_MAX);
	if (rc == CF_E_NOTFOUND)
		return 0; /* gone meanwhile (another prune): nothing to supersede */
	if (!rc) {
		cf_object_id(buf, len, h);
		rc = memcmp(h, id, 32) ? CF_E_CORRUPT : cf_object_peek(buf, len, &type, &oi->epoch);
	}
	if (!rc && !cf_keyring_get(cf_repo_keyring(p->r), oi->epoch))
		goto out;
	if (!rc)
		rc = cf_object_open(&pt, &plen, cf_repo_keyring(p->r), cf_repo_id(p->r),
		                    CF_OBJ_INDEX, buf, len);
	if (!rc)
		rc = cf_index_decode(&oi->ix, pt, plen);
	if (rc > 0) {
		cf_log_err("%s: %s cannot be read (%s): prune deletes nothing; run 'restore check'",
		           cf_repo_url(p->r), name, cf_strerror(rc));
		rc = CF_E_CORRUPT;
	}
out:
	free(buf);
	free(pt);
	return rc;
}

/* The index objects that name a doomed pack. */
static int affected(struct pr *p, struct old_index **out, size_t *nout)
{
	struct idlist ids = {0};
	struct old_index *v = NULL;
	size_t n = 0;
	int rc;

	rc = cf_storage_list(cf_repo_storage(p->r), "index/", idlist_cb, &ids);
	if (!rc && ids.n && !(v = calloc(ids.n, sizeof(*v))))
		rc = -ENOMEM;
	for (size_t i = 0; i < ids.n && !rc; i++) {
		int hit = 0;

		rc = read_index(p, ids.v[i], &v[n]);
		for (size_t j = 0; !rc && v[n].ix && j < v[n].ix->npacks && !hit; j++)
			hit = doomed(p, v[n].ix->packs[j].id);
		if (!rc && hit) {
			n++;
		} else {
			cf_index_free(v[n].ix);
			v[n].ix = NULL;
		}
	}
	free(ids.v);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			cf_index_free(v[i].ix);
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* Write one index of @epoch holding the kept packs of @v[] of that epoch. */
static int write_replacement(struct pr *p, const struct old_index *v, size_t n, uint32_t epoch)
{
	const struct cf_repokeys *k = cf_keyring_get(cf_repo_keyring(p->r), epoch);
	struct cf_index nix = {0};
	struct cf_blobset seen = {0};
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *plain = NULL, *sealed = NULL, id[32];
	size_t plen = 0, slen = 0, cap = 0, ns = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].epoch != epoch)
			continue;
		cap += v[i].ix->npacks;
		ns++;
	}
	nix.packs = calloc(cap ? cap : 1, sizeof(*nix.packs));
	nix.supersedes = malloc(ns * 32);
	if (!nix.packs || !nix.supersedes) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (v[i].epoch != epoch)
			continue;
		memcpy(nix.supersedes[nix.nsupersedes++], v[i].id, 32);
		for (size_t j = 0; j < v[i].ix->npacks && !rc; j++) {
			const struct cf_index_pack *ip = &v[i].ix->packs[j];
			int added = 0;

			if (doomed(p, ip->id))
				continue;
			rc = cf_blobset_add(&seen, 1, ip->id, &added);
			if (!rc && added)
				nix.packs[nix.npacks++] = *ip; /* borrowed: freed with v[i] */
		}
	}
	if (rc || !nix.npacks)
		goto out; /* nothing kept: the old ones just go */
	rc = cf_index_encode(&plain, &plen, &nix);
	if (!rc)
		rc = cf_object_seal(&sealed, &slen, k, cf_repo_id(p->r), CF_OBJ_INDEX, plain, plen);
	if (rc)
		goto out;
	cf_object_id(sealed, slen, id);
	cf_repo_object_name(name, "index", id);
	rc = cf_storage_put_buf(cf_repo_storage(p->r), name, sealed, slen);
	if (rc == CF_E_EXISTS)
		rc = 0;
	if (rc)
		goto out;
	p->res->indexes_written++;
	/* our own cache follows at once (it is only a cache: errors are not fatal) */
	if (!cf_cache_begin(cf_repo_cache(p->r))) {
		int cr = cf_cache_add_index(cf_repo_cache(p->r), id, epoch);
		for (size_t i = 0; i < nix.npacks && !cr; i++)
			cr = cf_cache_set_indexed(cf_repo_cache(p->r), nix.packs[i].id, id);
		cf_cache_commit(cf_repo_cache(p->r));
	}
out:
	cf_blobset_clear(&seen);
	free(nix.packs);
	free(nix.supersedes);
	free(plain);
	free(sealed);
	return rc;
}

/* New indexes without the doomed packs, then the old ones go. */
static int rewrite_indexes(struct pr *p)
{
	struct old_index *v = NULL;
	char name[CF_STORAGE_NAME_MAX];
	size_t n = 0;
	int rc = affected(p, &v, &n);

	for (size_t i = 0; i < n && !rc; i++) {
		int first = 1;

		for (size_t j = 0; j < i; j++)
			first &= v[j].epoch != v[i].epoch;
		if (first)
			rc = write_replacement(p, v, n, v[i].epoch);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		cf_repo_object_name(name, "index", v[i].id);
		rc = cf_storage_delete(cf_repo_storage(p->r), name);
		if (rc == CF_E_NOTFOUND)
			rc = 0;
		if (!rc)
			p->res->indexes_deleted++;
	}
	for (size_t i = 0; i < n; i++)
		cf_index_free(v[i].ix);
	free(v);
	return rc;
}

/*
 * Before anything is deleted, each doomed pack's own table (read from storage, not the
 * cache) must agree that no blob in it is referenced; a pack whose table cannot be read
 * is kept.
 */
static int confirm_doomed(struct pr *p)
{
	for (size_t i = 0; i < p->npacks; i++) {
		struct pack *k = &p->packs[i];
		struct cf_pack_entry *e = NULL;
		uint32_t epoch = 0;
		size_t n = 0, used = 0;
		int rc;

		if (!doomed(p, k->id))
			continue;
		rc = cf_repo_read_pack_table(p->r, k->id, k->size, &epoch, &e, &n);
		if (rc == -ENOMEM)
			return rc;
		for (size_t j = 0; !rc && j < n; j++)
			used += cf_blobset_has(&p->refs, e[j].type, e[j].id);
		free(e);
		if (rc || used) {
			char hex[CF_HEX_LEN(32)];

			cf_encode_hex(hex, k->id, 32);
			cf_log_warn("%s: pack %.16s… kept: %s", cf_repo_url(p->r), hex,
			            rc ? cf_strerror(rc) : "its table lists referenced blobs");
			k->use = rc ? USE_UNREADABLE : USE_MIXED;
		}
	}
	return 0;
}

/* Plans old enough, packs still unreferenced, no backup running: delete. */
static int phase2(struct pr *p)
{
	char name[CF_STORAGE_NAME_MAX];
	int rc = 0;

	if (!p->res->plans_ready)
		return 0;
	for (size_t i = 0; i < p->nlocks; i++) {
		const struct cf_lock *l = &p->locks[i];

		if (l->kind != CF_LOCK_BACKUP)
			continue;
		if (l->time + p->o->stale_lock < p->o->now) {
			cf_log_warn("%s: ignoring %s: a backup lock of %s from %llu seconds ago"
			            " (a backup that died?)",
			            cf_repo_url(p->r), l->name, l->host,
			            (unsigned long long)(p->o->now - l->time));
			continue;
		}
		cf_log_info("a backup is running (%s, from %s): planned packs are deleted on a"
		            " later run",
		            l->name, l->host);
		p->res->backups_running++;
	}
	if (p->res->backups_running)
		return 0;
	rc = confirm_doomed(p);
	for (size_t i = 0; i < p->npacks && !rc; i++) {
		if (!p->packs[i].ready)
			continue;
		if (p->packs[i].use == USE_UNUSED) {
			p->res->packs_deleted++;
			p->res->bytes_deleted += p->packs[i].size;
		} else {
			p->res->packs_kept++;
		}
	}
	if (rc || p->o->dry_run)
		return rc;
	if (p->res->packs_deleted)
		rc = rewrite_indexes(p);
	for (size_t i = 0; i < p->npacks && !rc; i++) {
		if (!doomed(p, p->packs[i].id))
			continue;
		cf_repo_object_name(name, "data", p->packs[i].id);
		rc = cf_storage_delete(cf_repo_storage(p->r), name);
		if (rc == CF_E_NOTFOUND)
			rc = 0;
		if (!rc)
			cf_cache_forget_pack(cf_repo_cache(p->r), p->packs[i].id);
	}
	for (size_t i = 0; i < p->nlocks && !rc; i++) {
		const struct cf_lock *l = &p->locks[i];

		if (l->kind != CF_LOCK_PLAN || l->time + p->o->grace > p->o->now)
			continue;
		rc = cf_storage_delete(cf_repo_storage(p->r), l->name);
		if (rc == CF_E_NOTFOUND)
			rc = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------------------------- */

/* Mark the packs every plan names; count ready and waiting plans. */
static void mark_plans(struct pr *p)
{
	for (size_t i = 0; i < p->nlocks; i++) {
		const struct cf_lock *l = &p->locks[i];
		int ready;

		if (l->kind != CF_LOCK_PLAN)
			continue;
		ready = l->time + p->o->grace <= p->o->now;
		if (ready)
			p->res->plans_ready++;
		else
			p->res->plans_waiting++;
		for (size_t j = 0; j < l->npacks; j++) {
			struct pack *k = pack_find(p, l->packs[j]);

			if (k && ready)
				k->ready = 1;
			else if (k)
				k->waiting = 1;
		}
	}
}

/* Phase 1: a plan for the unreferenced packs no plan names yet. */
static int phase1(struct pr *p)
{
	uint8_t(*v)[32] = NULL;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < p->npacks; i++) {
		const struct pack *k = &p->packs[i];

		if (k->use != USE_UNUSED || k->ready || k->waiting || n == CF_PLAN_MAX_PACKS)
			continue;
		if (!v && !(v = malloc(p->npacks * 32)))
			return -ENOMEM;
		memcpy(v[n++], k->id, 32);
		p->res->bytes_planned += k->size;
	}
	p->res->packs_planned = n;
	if (n && !p->o->dry_run) {
		rc = cf_lock_write_plan(p->r, p->o->now, p->o->host, (const uint8_t(*)[32])v, n,
		                   p->res->plan_id);
		if (!rc)
			p->res->plan_written = 1;
	}
	free(v);
	return rc;
}

int cf_prune_run(struct cf_session *s, const struct cf_prune_opts *o, struct cf_prune_result *res)
{
	struct cf_prune_result dummy;
	struct pr p = {.s = s, .o = o, .res = res ? res : &dummy};
	int rc;

	if (!s || !s->repo || !s->snaps || !o)
		return CF_E_INVAL;
	p.r = s->repo;
	memset(p.res, 0, sizeof(*p.res));
	rc = collect_refs(&p);
	if (!rc)
		rc = classify(&p);
	if (!rc)
		rc = cf_locks_read(p.r, &p.locks, &p.nlocks);
	if (!rc) {
		mark_plans(&p);
		rc = phase2(&p);
	}
	if (!rc)
		rc = phase1(&p);
	cf_blobset_clear(&p.refs);
	cf_locks_free(p.locks, p.nlocks);
	free(p.packs);
	return rc;
}
