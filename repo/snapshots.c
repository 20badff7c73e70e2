/* SPDX-License-Identifier: ISC */
#include "repo/snapshots.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/object.h"
#include "util/log.h"

#define MANIFEST_MAX_BYTES (64u << 20)

struct cf_snapshots {
	struct cf_manifest **m;
	size_t nm, capm;
	struct cf_forget **f;
	size_t nf, capf;
	const struct cf_manifest **present; /* sorted by seq */
	size_t npresent;
	struct cf_snapshot_problem *problems;
	size_t nproblems, capp;
	struct cf_chain_opaque *o; /* authentic, but of an epoch this device does not hold */
	size_t no, capo;
	struct cf_chain *chain;
};

struct load_ctx {
	struct cf_repo *r;
	struct cf_snapshots *s;
	int forget; /* loading forget/ rather than snapshots/ */
	int err;
};

static int add_problem(struct cf_snapshots *s, const char *name, int err)
{
	if (s->nproblems == s->capp) {
		size_t cap = s->capp ? s->capp * 2 : 8;
		struct cf_snapshot_problem *p = realloc(s->problems, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->problems = p;
		s->capp = cap;
	}
	snprintf(s->problems[s->nproblems].name, CF_STORAGE_NAME_MAX, "%s", name);
	s->problems[s->nproblems++].err = err;
	return 0;
}

static int grow(void **v, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *nv = realloc(*v, c * sizeof(void *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/*
 * The signers trusted for an object of @epoch, which this device does not hold (so it
 * cannot open that epoch's roster): the devices in the rosters of the held epochs after
 * it (trusted by whoever started those epochs, who held @epoch), or, when it holds none
 * after it, of the held epochs before it. *@out is malloc'ed (may be NULL when empty).
 */
static int opaque_signers(struct cf_repo *r, uint32_t epoch, struct cf_pubid **out,
			  size_t *nout)
{
	const struct cf_repokeys *cur = cf_keyring_current(cf_repo_keyring(r));
	uint32_t top = cur ? cf_repokeys_epoch(cur) : 0;
	struct cf_pubid *v = NULL;
	size_t n = 0;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
		uint64_t from = pass ? 1 : (uint64_t)epoch + 1;
		uint64_t to = pass ? (uint64_t)epoch - 1 : top;
		for (uint64_t e = from; e <= to; e++) {
			size_t k = 0;
			const struct cf_pubid *ids = cf_repo_roster(r, (uint32_t)e, &k);
			struct cf_pubid *nv;

			if (!ids || !k)
				continue;
			nv = realloc(v, (n + k) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			memcpy(v + n, ids, k * sizeof(*v));
			n += k;
		}
	}
	*out = v;
	*nout = n;
	return 0;
}

/*
 * An object of an epoch this device does not hold: authenticate it (name, framing,
 * signer, signature: the decoder's checks up to the decryption, which must then fail
 * with CF_E_NOTFOUND) and keep it as unreadable. Returns 0 or the decoder's refusal.
 */
static int load_opaque(struct load_ctx *c, const uint8_t *bytes, size_t len,
		       const uint8_t id[32], uint32_t epoch)
{
	const struct cf_keyring *ring = cf_repo_keyring(c->r);
	struct cf_snapshots *s = c->s;
	struct cf_pubid *trusted = NULL;
	struct cf_manifest *m = NULL;
	struct cf_forget *f = NULL;
	size_t nt = 0;
	int r = opaque_signers(c->r, epoch, &trusted, &nt);

	if (r)
		return r;
	if (c->forget)
		r = cf_forget_decode(&f, bytes, len, id, ring, cf_repo_id(c->r), trusted, nt);
	else
		r = cf_manifest_decode(&m, bytes, len, id, ring, cf_repo_id(c->r), trusted, nt);
	free(trusted);
	if (!r) { /* cannot be: the epoch is not held */
		cf_manifest_free(m);
		cf_forget_free(f);
		return CF_E_CORRUPT;
	}
	if (r != CF_E_NOTFOUND)
		return r;
	if (s->no == s->capo) {
		size_t cap = s->capo ? s->capo * 2 : 8;
		struct cf_chain_opaque *nv = realloc(s->o, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->o = nv;
		s->capo = cap;
	}
	memcpy(s->o[s->no].id, id, 32);
	s->o[s->no].epoch = epoch;
	s->o[s->no++].forget = c->forget;
	return 0;
}

static int load_one(void *ctx, const char *name, uint64_t size)
{
	struct load_ctx *c = ctx;
	const struct cf_pubid *signers = NULL;
	uint8_t *bytes = NULL, id[32];
	const char *hex = strrchr(name, '/');
	size_t len = 0, ns = 0;
	uint32_t epoch = 0;
	int r, pr = 1;

	(void)size;
	if (!hex || cf_encode_unhex(id, 32, hex + 1) != 0)
		return 0;
	r = cf_storage_get_buf(cf_repo_storage(c->r), name, &bytes, &len, MANIFEST_MAX_BYTES);
	if (r && r != CF_E_LIMIT && r != CF_E_NOTFOUND) {
		c->err = r;
		return r; /* storage failure: stop */
	}
	/* each object is judged by the roster of its own epoch */
	if (!r) {
		pr = c->forget ? cf_forget_peek(bytes, len, &epoch, NULL)
			       : cf_manifest_peek(bytes, len, &epoch, NULL);
		signers = pr ? NULL : cf_repo_roster(c->r, epoch, &ns);
		if (pr)
			ns = 0;
	}
	if (!r && !pr && epoch && cf_repo_keyring(c->r) &&
	    !cf_keyring_get(cf_repo_keyring(c->r), epoch)) {
		r = load_opaque(c, bytes, len, id, epoch);
	} else if (!r && !c->forget) {
		struct cf_manifest *m = NULL;
		r = cf_manifest_decode(&m, bytes, len, id, cf_repo_keyring(c->r), cf_repo_id(c->r),
				       signers, ns);
		if (!r && !(r = grow((void **)&c->s->m, &c->s->capm, c->s->nm)))
			c->s->m[c->s->nm++] = m;
		else if (!r)
			cf_manifest_free(m);
	} else if (!r) {
		struct cf_forget *f = NULL;
		r = cf_forget_decode(&f, bytes, len, id, cf_repo_keyring(c->r), cf_repo_id(c->r),
				     signers, ns);
		if (!r && !(r = grow((void **)&c->s->f, &c->s->capf, c->s->nf)))
			c->s->f[c->s->nf++] = f;
		else if (!r)
			cf_forget_free(f);
	}
	free(bytes);
	if (r == -ENOMEM) {
		c->err = r;
		return r;
	}
	if (r) {
		cf_log_err("%s: %s refused: %s", cf_repo_url(c->r), name, cf_strerror(r));
		if (add_problem(c->s, name, r) < 0) {
			c->err = -ENOMEM;
			return -ENOMEM;
		}
	}
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct cf_manifest *x = *(const struct cf_manifest *const *)a;
	const struct cf_manifest *y = *(const struct cf_manifest *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int cf_snapshots_load(struct cf_snapshots **out, struct cf_repo *r,
		      const struct cf_chain_seen *seen, uint64_t *bad_seq)
{
	struct cf_snapshots *s = calloc(1, sizeof(*s));
	struct load_ctx c = {.r = r, .s = s};
	int rc;

	if (!s)
		return -ENOMEM;
	rc = cf_storage_list(cf_repo_storage(r), "snapshots/", load_one, &c);
	if (!rc) {
		c.forget = 1;
		rc = cf_storage_list(cf_repo_storage(r), "forget/", load_one, &c);
	}
	if (c.err)
		rc = c.err;
	if (!rc)
		rc = cf_chain_verify_partial(&s->chain, bad_seq,
					     (const struct cf_manifest *const *)s->m, s->nm,
					     (const struct cf_forget *const *)s->f, s->nf, s->o,
					     s->no, seen);
	if (rc == CF_E_ROLLBACK)
		cf_log_err("%s is older than what this device has already seen (sequence %llu):"
			   " snapshots were deleted or an old copy is being served",
			   cf_repo_url(r), bad_seq ? (unsigned long long)*bad_seq : 0ull);
	else if (rc == CF_E_CORRUPT)
		cf_log_err("%s: the snapshot chain is broken at sequence %llu (a snapshot is"
			   " missing without a forget record, or two claim one sequence)",
			   cf_repo_url(r), bad_seq ? (unsigned long long)*bad_seq : 0ull);
	if (rc)
		goto fail;
	s->present = malloc((s->nm ? s->nm : 1) * sizeof(*s->present));
	if (!s->present) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < s->nm; i++)
		s->present[i] = s->m[i];
	s->npresent = s->nm;
	qsort(s->present, s->npresent, sizeof(*s->present), cmp_seq);
	*out = s;
	return 0;
fail:
	cf_snapshots_free(s);
	return rc;
}

void cf_snapshots_free(struct cf_snapshots *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nm; i++)
		cf_manifest_free(s->m[i]);
	for (size_t i = 0; i < s->nf; i++)
		cf_forget_free(s->f[i]);
	cf_chain_free(s->chain);
	free(s->m);
	free(s->f);
	free(s->present);
	free(s->problems);
	free(s->o);
	free(s);
}

const struct cf_chain *cf_snapshots_chain(const struct cf_snapshots *s)
{
	return s->chain;
}

size_t cf_snapshots_count(const struct cf_snapshots *s)
{
	return s->npresent;
}

const struct cf_manifest *cf_snapshots_get(const struct cf_snapshots *s, size_t i)
{
	return i < s->npresent ? s->present[i] : NULL;
}

size_t cf_snapshots_problems(const struct cf_snapshots *s, const struct cf_snapshot_problem **p)
{
	*p = s->problems;
	return s->nproblems;
}

size_t cf_snapshots_unreadable(const struct cf_snapshots *s, const struct cf_chain_opaque **o)
{
	*o = s->o;
	return s->no;
}

int cf_snapshots_find(const struct cf_snapshots *s, const char *spec,
		      const struct cf_manifest **m)
{
	const struct cf_manifest *hit = NULL;
	size_t plen = strlen(spec);
	char *end = NULL;

	if (strcmp(spec, "latest") == 0) {
		if (!s->npresent)
			return CF_E_NOTFOUND;
		*m = s->present[s->npresent - 1];
		return 0;
	}
	if (spec[0] == '#' || plen < 4) {
		unsigned long long seq = strtoull(spec + (spec[0] == '#'), &end, 10);
		if (!end || *end || end == spec + (spec[0] == '#'))
			return CF_E_INVAL;
		for (size_t i = 0; i < s->npresent; i++)
			if (s->present[i]->seq == seq)
				hit = s->present[i];
	} else {
		if (plen > 64)
			return CF_E_INVAL;
		for (size_t i = 0; i < s->npresent; i++) {
			char hex[CF_HEX_LEN(32)];
			cf_encode_hex(hex, s->present[i]->id, 32);
			if (strncasecmp(hex, spec, plen) != 0)
				continue;
			if (hit)
				return CF_E_INVAL;
			hit = s->present[i];
		}
	}
	if (!hit)
		return CF_E_NOTFOUND;
	*m = hit;
	return 0;
}

static int store(struct cf_repo *r, const char *folder, uint8_t *bytes, size_t len,
		 uint8_t id[32])
{
	char name[CF_STORAGE_NAME_MAX];

	cf_object_id(bytes, len, id);
	cf_repo_object_name(name, folder, id);
	return cf_storage_put_buf(cf_repo_storage(r), name, bytes, len);
}

int cf_repo_write_manifest(struct cf_repo *r, const struct cf_manifest *m, uint8_t id[32])
{
	const struct cf_keyring *ring = cf_repo_keyring(r);
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc;

	if (!ring || !cf_keyring_current(ring) || !cf_repo_identity(r))
		return CF_E_INVAL;
	rc = cf_manifest_encode(&bytes, &len, m, cf_repo_identity(r), cf_keyring_current(ring),
				cf_repo_id(r));
	if (!rc)
		rc = store(r, "snapshots", bytes, len, id);
	free(bytes);
	return rc;
}

int cf_repo_write_forget(struct cf_repo *r, const struct cf_forget *f, uint8_t id[32])
{
	const struct cf_keyring *ring = cf_repo_keyring(r);
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc;

	if (!ring || !cf_keyring_current(ring) || !cf_repo_identity(r))
		return CF_E_INVAL;
	rc = cf_forget_encode(&bytes, &len, f, cf_repo_identity(r), cf_keyring_current(ring),
			      cf_repo_id(r));
	if (!rc)
		rc = store(r, "forget", bytes, len, id);
	free(bytes);
	return rc;
}
