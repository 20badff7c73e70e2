/* SPDX-License-Identifier: ISC */
/*
 * Snapshot chain verification (docs/repository-manifests.md, "Chain").
 *
 * Every manifest and every forget record becomes a node (seq, id, prev); a forget record
 * stands for the manifest it names. Nodes are sorted by (seq, id). At a sequence, a
 * "live" id is one present as a manifest and named by no forget record. The walk starts
 * at the highest sequence (its single live id, or failing that its single forgotten id)
 * and follows prev down to seq 1; at every sequence the id it arrives at must exist,
 * and no live manifest may sit beside it (a fork). Forgotten ids beside it are resolved
 * fork branches and are ignored, except by the rollback check.
 *
 * A device that cannot read every epoch also passes the authentic objects it cannot open
 * (cf_chain_verify_partial): a sequence with no readable node then opens a hole, and the
 * holes must be accounted for by those objects (docs/repository-manifests.md,
 * "Unreadable epochs").
 */
#include "repo/chain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

struct node {
	uint64_t seq;
	const uint8_t *id;
	int has_prev;
	const uint8_t *prev;
	const struct cf_manifest *m; /* exactly one of m, f */
	const struct cf_forget *f;
};

/* The nodes of one id at one sequence: [lo, hi) in the sorted array. */
struct run {
	size_t lo, hi;
	const struct cf_manifest *m;
	const struct cf_forget *f;
};

static int node_cmp(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	int c;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	c = memcmp(x->id, y->id, CF_MANIFEST_ID_BYTES);
	if (c)
		return c;
	return (x->m ? 0 : 1) - (y->m ? 0 : 1);
}

static int manifest_id_cmp(const void *a, const void *b)
{
	const struct cf_manifest *const *x = a, *const *y = b;

	return memcmp((*x)->id, (*y)->id, CF_MANIFEST_ID_BYTES);
}

static int same_prev(const struct node *a, const struct node *b)
{
	if (a->has_prev != b->has_prev)
		return 0;
	return !a->has_prev || memcmp(a->prev, b->prev, CF_MANIFEST_ID_BYTES) == 0;
}

/* [*lo, *hi): the nodes with sequence @seq (empty when none). */
static void seq_range(const struct node *v, size_t n, uint64_t seq, size_t *lo, size_t *hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (v[mid].seq < seq)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	while (a < n && v[a].seq == seq)
		a++;
	*hi = a;
}

/* The run of nodes for the id starting at @i (within the sequence range ending at @hi). */
static struct run run_at(const struct node *v, size_t i, size_t hi)
{
	struct run r = {i, i, NULL, NULL};

	while (r.hi < hi && memcmp(v[r.hi].id, v[i].id, CF_MANIFEST_ID_BYTES) == 0) {
		if (v[r.hi].m && !r.m)
			r.m = v[r.hi].m;
		if (v[r.hi].f && !r.f)
			r.f = v[r.hi].f;
		r.hi++;
	}
	return r;
}

/*
 * Examine the nodes at one sequence: every run must agree on prev; count the live ids
 * (*@live: the last one) and forgotten ids (*@forgotten: the last one). *@at (may be
 * NULL) receives the run of @want when present. Returns 0 or CF_E_CORRUPT.
 */
static int seq_examine(const struct node *v, size_t lo, size_t hi, const uint8_t *want,
		       struct run *at, size_t *nlive, struct run *live, size_t *nforgot,
		       struct run *forgot)
{
	*nlive = *nforgot = 0;
	for (size_t i = lo; i < hi;) {
		struct run r = run_at(v, i, hi);

		for (size_t j = r.lo + 1; j < r.hi; j++)
			if (!same_prev(&v[r.lo], &v[j]))
				return CF_E_CORRUPT;
		if (r.f) {
			++*nforgot;
			*forgot = r;
		} else {
			++*nlive;
			*live = r;
		}
		if (at && want && memcmp(v[i].id, want, CF_MANIFEST_ID_BYTES) == 0)
			*at = r;
		i = r.hi;
	}
	return 0;
}

/* A forget record must agree with the manifest it names, when that is present. */
static int forgets_consistent(const struct cf_manifest *const *manifests, size_t nm,
			      const struct cf_forget *const *forgets, size_t nf, uint64_t *bad)
{
	const struct cf_manifest **byid;
	int r = 0;

	if (!nm || !nf)
		return 0;
	byid = malloc(nm * sizeof(*byid));
	if (!byid)
		return -ENOMEM;
	memcpy(byid, manifests, nm * sizeof(*byid));
	qsort(byid, nm, sizeof(*byid), manifest_id_cmp);
	for (size_t i = 0; i < nf && !r; i++) {
		const struct cf_forget *f = forgets[i];
		struct cf_manifest key = {0};
		const struct cf_manifest *kp = &key, *const *hit;

		memcpy(key.id, f->manifest, CF_MANIFEST_ID_BYTES);
		hit = bsearch(&kp, byid, nm, sizeof(*byid), manifest_id_cmp);
		if (!hit)
			continue;
		if ((*hit)->seq != f->seq || (*hit)->has_prev != f->has_prev ||
		    (f->has_prev && memcmp((*hit)->prev, f->prev, CF_MANIFEST_ID_BYTES))) {
			cf_log_warn("chain: forget record for snapshot %llu disagrees with it",
				    (unsigned long long)f->seq);
			*bad = f->seq;
			r = CF_E_CORRUPT;
		}
	}
	free(byid);
	return r;
}

static int build_nodes(struct node **out, const struct cf_manifest *const *manifests, size_t nm,
		       const struct cf_forget *const *forgets, size_t nf)
{
	struct node *v = malloc((nm + nf ? nm + nf : 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nm; i++) {
		const struct cf_manifest *m = manifests[i];

		v[i] = (struct node){m->seq, m->id, m->has_prev, m->prev, m, NULL};
	}
	for (size_t i = 0; i < nf; i++) {
		const struct cf_forget *f = forgets[i];

		v[nm + i] = (struct node){f->seq, f->manifest, f->has_prev, f->prev, NULL, f};
	}
	qsort(v, nm + nf, sizeof(*v), node_cmp);
	*out = v;
	return 0;
}

/* Fail at @seq with a message. */
static int corrupt(uint64_t *bad, uint64_t seq, const char *why)
{
	cf_log_warn("chain: snapshot %llu: %s", (unsigned long long)seq, why);
	*bad = seq;
	return CF_E_CORRUPT;
}

/* A run of sequences [bottom, top] with nothing readable (docs: "Unreadable epochs"). */
struct hole {
	uint64_t top, bottom;
	uint32_t lo, hi;  /* epochs of the live manifests below and above (lo 1 when none) */
	uint64_t need;    /* sequences not yet accounted for */
	const uint8_t *named; /* the id the manifest above names as prev */
};

struct holes {
	struct hole *v;
	size_t n;
	uint64_t budget; /* opaque objects not yet spent on a hole's length */
};

/* Record the hole [j+1, s] below a manifest of epoch @hi naming @want; fill its entries. */
static int add_hole(struct holes *h, uint64_t s, uint64_t j, uint32_t hi, const uint8_t *want,
		    struct cf_chain_entry *e, size_t *k, uint64_t *bad)
{
	if (!h)
		return corrupt(bad, s, "missing, and no forget record explains it");
	if (s - j > h->budget)
		return corrupt(bad, s, "missing, and too few unreadable snapshots or forget"
			       " records could stand for it");
	h->budget -= s - j;
	h->v[h->n++] = (struct hole){s, j + 1, 1, hi, s - j, want};
	for (uint64_t t = s; t > j; t--) {
		--*k;
		memset(&e[*k], 0, sizeof(e[*k]));
		e[*k].seq = t;
		e[*k].flags = CF_CHAIN_UNREADABLE | (t == s ? 0 : CF_CHAIN_ID_UNKNOWN);
		if (t == s)
			memcpy(e[*k].id, want, CF_MANIFEST_ID_BYTES);
	}
	return 0;
}

/*
 * Walk from the newest sequence down to 1, filling @e from the end (@cap entries).
 * *@count entries. With @h (a device holding unreadable objects) a sequence with no
 * readable node opens a hole instead of failing.
 */
static int walk(const struct node *v, size_t n, struct cf_chain_entry *e, size_t cap,
		size_t *count, struct holes *h, uint64_t *bad)
{
	uint64_t s = v[n - 1].seq, epoch_seq = 0;
	uint32_t epoch_max = UINT32_MAX;
	const uint8_t *want = NULL;
	size_t k = cap, lo, hi, nlive, nforgot;
	struct run at = {0, 0, NULL, NULL}, live = at, forgot = at;

	for (;;) {
		seq_range(v, n, s, &lo, &hi);
		if (lo == hi) { /* never at the head: v[n - 1] is there */
			uint64_t j = lo ? v[lo - 1].seq : 0;
			int r = add_hole(h, s, j, epoch_max, want, e, &k, bad);
			if (r)
				return r;
			if (j == 0)
				break;
			s = j;
			want = NULL; /* below a hole: the sequence is read like a head */
			continue;
		}
		at.lo = at.hi = 0;
		if (seq_examine(v, lo, hi, want, &at, &nlive, &live, &nforgot, &forgot))
			return corrupt(bad, s, "forget records disagree about it");
		if (nlive > 1)
			return corrupt(bad, s, "two different snapshots claim it (fork)");
		if (!want) { /* the head */
			if (nlive == 1)
				at = live;
			else if (nforgot == 1)
				at = forgot;
			else
				return corrupt(bad, s, "ambiguous: several forgotten snapshots");
		} else if (at.lo == at.hi) {
			return corrupt(bad, s, "missing: the next snapshot names another one");
		} else if (nlive == 1 && live.lo != at.lo) {
			return corrupt(bad, s, "two different snapshots claim it (fork)");
		}
		if (at.m && !at.f) {
			if (at.m->epoch > epoch_max)
				return corrupt(bad, epoch_seq,
					       "older key epoch than its predecessor");
			epoch_max = at.m->epoch;
			epoch_seq = s;
		}
		k--;
		e[k].seq = s;
		memcpy(e[k].id, v[at.lo].id, CF_MANIFEST_ID_BYTES);
		e[k].flags = (at.m ? CF_CHAIN_PRESENT : 0) | (at.f ? CF_CHAIN_FORGOTTEN : 0);
		e[k].manifest = at.m;
		e[k].forget = at.f;
		if (s == 1) {
			if (v[at.lo].has_prev)
				return corrupt(bad, 1, "the first snapshot names a predecessor");
			break;
		}
		if (!v[at.lo].has_prev)
			return corrupt(bad, s, "names no predecessor");
		want = v[at.lo].prev;
		s--;
	}
	*count = cap - k;
	memmove(e, e + k, *count * sizeof(*e));
	return 0;
}

/* ---- accounting for the holes (docs/repository-manifests.md, "Unreadable epochs") ---- */

struct ep {
	uint32_t epoch;
	size_t i;
};

static int ep_asc(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;

	return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

static int hole_lo_desc(const void *a, const void *b)
{
	const struct hole *x = a, *y = b;

	return x->lo > y->lo ? -1 : x->lo < y->lo;
}

/* Each hole's lo: the epoch of the nearest live manifest below it (1 when none). */
static uint32_t set_lows(struct holes *h, const struct cf_chain_entry *e, size_t n)
{
	uint32_t last = 1, top = 0;
	size_t k = h->n; /* holes were recorded from the top down */

	for (size_t i = 0; i < n; i++) {
		if (k && e[i].seq == h->v[k - 1].bottom)
			h->v[--k].lo = last;
		if ((e[i].flags & (CF_CHAIN_PRESENT | CF_CHAIN_FORGOTTEN)) == CF_CHAIN_PRESENT)
			last = top = e[i].manifest->epoch;
	}
	return top;
}

/* The manifest its upper neighbour names belongs to the hole (rule 5 both ways). */
static int account_named(struct holes *h, const struct cf_chain_opaque *o, size_t no,
			 char *used, uint64_t *bad)
{
	for (size_t k = 0; k < h->n; k++) {
		struct hole *x = &h->v[k];

		for (size_t i = 0; i < no; i++) {
			if (used[i] || o[i].forget ||
			    memcmp(o[i].id, x->named, CF_MANIFEST_ID_BYTES) != 0)
				continue;
			if (o[i].epoch > x->hi || o[i].epoch < x->lo)
				return corrupt(bad, x->top, "its key epoch is out of order with the"
					       " snapshots around it");
			used[i] = 1;
			x->need--;
			break;
		}
	}
	return 0;
}

/* Unreadable manifests: ascending epoch, each to the fitting hole that closes first. */
static void account_manifests(struct holes *h, const struct cf_chain_opaque *o,
			      struct ep *v, size_t nv, char *used, uint32_t head_epoch,
			      size_t *newer)
{
	qsort(v, nv, sizeof(*v), ep_asc);
	for (size_t i = 0; i < nv; i++) {
		struct hole *best = NULL;

		if (used[v[i].i])
			continue;
		for (size_t k = 0; k < h->n; k++) {
			struct hole *x = &h->v[k];
			if (x->need && x->lo <= v[i].epoch && v[i].epoch <= x->hi &&
			    (!best || x->hi < best->hi))
				best = x;
		}
		if (best) {
			best->need--;
			used[v[i].i] = 1;
		} else if (o[v[i].i].epoch > head_epoch) {
			++*newer;
		}
	}
}

/* Unreadable forget records: one written at epoch f can stand for a hole with lo <= f. */
static void account_forgets(struct holes *h, struct ep *v, size_t nv)
{
	size_t p = nv;
	uint64_t pool = 0;

	qsort(v, nv, sizeof(*v), ep_asc);
	qsort(h->v, h->n, sizeof(*h->v), hole_lo_desc);
	for (size_t k = 0; k < h->n; k++) {
		struct hole *x = &h->v[k];
		uint64_t take;

		while (p > 0 && v[p - 1].epoch >= x->lo) {
			p--;
			pool++;
		}
		take = x->need < pool ? x->need : pool;
		x->need -= take;
		pool -= take;
	}
}

static int account(struct holes *h, const struct cf_chain_entry *e, size_t n,
		   const struct cf_chain_opaque *o, size_t no, size_t *newer, uint64_t *bad)
{
	uint32_t head_epoch = set_lows(h, e, n);
	struct ep *vm = malloc((no ? no : 1) * sizeof(*vm)), *vf = NULL;
	char *used = calloc(no ? no : 1, 1);
	size_t nvm = 0, nvf = 0;
	int r = -ENOMEM;

	if (!vm || !used)
		goto out;
	vf = malloc((no ? no : 1) * sizeof(*vf));
	if (!vf)
		goto out;
	r = account_named(h, o, no, used, bad);
	if (r)
		goto out;
	for (size_t i = 0; i < no; i++) {
		if (o[i].forget)
			vf[nvf++] = (struct ep){o[i].epoch, i};
		else
			vm[nvm++] = (struct ep){o[i].epoch, i};
	}
	account_manifests(h, o, vm, nvm, used, head_epoch, newer);
	account_forgets(h, vf, nvf);
	for (size_t k = 0; k < h->n && !r; k++)
		if (h->v[k].need)
			r = corrupt(bad, h->v[k].top, "missing: no unreadable snapshot or forget"
				    " record is left to stand for it");
out:
	free(vm);
	free(vf);
	free(used);
	return r;
}

static int check_seen(const struct node *v, size_t n, const struct cf_chain_seen *seen,
		      uint64_t *bad)
{
	size_t lo, hi;

	if (n == 0 || v[n - 1].seq < seen->seq) {
		cf_log_warn("the repository is older than what this device has already seen "
			    "(snapshot %llu)", (unsigned long long)seen->seq);
		*bad = seen->seq;
		return CF_E_ROLLBACK;
	}
	seq_range(v, n, seen->seq, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		if (memcmp(v[i].id, seen->id, CF_MANIFEST_ID_BYTES) == 0)
			return 0;
	cf_log_warn("snapshot %llu seen by this device is gone, and no forget record explains it",
		    (unsigned long long)seen->seq);
	*bad = seen->seq;
	return CF_E_ROLLBACK;
}

int cf_chain_verify_partial(struct cf_chain **out, uint64_t *bad_seq,
			    const struct cf_manifest *const *manifests, size_t nm,
			    const struct cf_forget *const *forgets, size_t nf,
			    const struct cf_chain_opaque *opaque, size_t no,
			    const struct cf_chain_seen *seen)
{
	struct cf_chain *c = NULL;
	struct node *v = NULL;
	struct holes h = {NULL, 0, no};
	uint64_t bad = 0;
	size_t n = nm + nf, count = 0;
	int r;

	if (!out || (nm && !manifests) || (nf && !forgets) || (no && !opaque) ||
	    (seen && seen->seq == 0))
		return CF_E_INVAL;
	for (size_t i = 0; i < nm; i++)
		if (!manifests[i])
			return CF_E_INVAL;
	for (size_t i = 0; i < nf; i++)
		if (!forgets[i])
			return CF_E_INVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = forgets_consistent(manifests, nm, forgets, nf, &bad);
	if (r)
		goto fail;
	r = build_nodes(&v, manifests, nm, forgets, nf);
	if (r)
		goto fail;
	if (no) {
		h.v = malloc((n + 1) * sizeof(*h.v)); /* at most one hole per readable node */
		if (!h.v) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (n) {
		c->entries = malloc((n + no) * sizeof(*c->entries));
		if (!c->entries) {
			r = -ENOMEM;
			goto fail;
		}
		r = walk(v, n, c->entries, n + no, &count, no ? &h : NULL, &bad);
		if (r)
			goto fail;
		c->n = count;
		c->has_newest = 1;
		c->newest_seq = c->entries[count - 1].seq;
		memcpy(c->newest_id, c->entries[count - 1].id, CF_MANIFEST_ID_BYTES);
	}
	if (no) {
		for (size_t k = 0; k < h.n; k++)
			c->unreadable += h.v[k].top - h.v[k].bottom + 1;
		r = account(&h, c->entries, c->n, opaque, no, &c->unreadable_newer, &bad);
		if (r)
			goto fail;
		c->opaque = opaque;
		c->nopaque = no;
	}
	if (seen) {
		r = check_seen(v, n, seen, &bad);
		if (r)
			goto fail;
	}
	free(v);
	free(h.v);
	if (bad_seq)
		*bad_seq = 0;
	*out = c;
	return 0;
fail:
	if (bad_seq)
		*bad_seq = bad;
	free(v);
	free(h.v);
	cf_chain_free(c);
	return r;
}

int cf_chain_verify(struct cf_chain **out, uint64_t *bad_seq,
		    const struct cf_manifest *const *manifests, size_t nm,
		    const struct cf_forget *const *forgets, size_t nf,
		    const struct cf_chain_seen *seen)
{
	return cf_chain_verify_partial(out, bad_seq, manifests, nm, forgets, nf, NULL, 0, seen);
}

int cf_chain_next(const struct cf_chain *c, const struct cf_chain_seen *seen, uint64_t *seq,
		  int *has_prev, uint8_t prev[CF_MANIFEST_ID_BYTES])
{
	if (!c || !seq || !has_prev || !prev)
		return CF_E_INVAL;
	if (seen && (!c->has_newest || seen->seq > c->newest_seq))
		return CF_E_ROLLBACK;
	if (c->unreadable_newer) {
		cf_log_err("the newest %zu snapshot(s) are sealed under a key epoch this device"
			   " does not hold: it cannot add one after them (their sequence is"
			   " unknown)",
			   c->unreadable_newer);
		return CF_E_NOTFOUND;
	}
	if (!c->has_newest) {
		*seq = 1;
		*has_prev = 0;
		return 0;
	}
	if (c->newest_seq >= CF_MANIFEST_MAX_INT)
		return CF_E_LIMIT;
	*seq = c->newest_seq + 1;
	*has_prev = 1;
	memcpy(prev, c->newest_id, CF_MANIFEST_ID_BYTES);
	return 0;
}

void cf_chain_free(struct cf_chain *c)
{
	if (!c)
		return;
	free(c->entries);
	free(c);
}
