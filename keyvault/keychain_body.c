/* SPDX-License-Identifier: ISC */
/*
 * The device keychain in memory: the sorted repository and key tables, their lookups and
 * changes, and the record body they are saved as (docs/keychain.md, "Body"). The parser
 * reads untrusted bytes: every length and count is checked before use.
 */
#include <errno.h>
#include <string.h>

#include "core/core.h"
#include "core/secbuf.h"
#include "keyvault/keychain.h"
#include "keyvault/keychain_impl.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)kc_get32(p) << 32 | kc_get32(p + 4);
}

size_t kc_body_size(size_t nrepos, size_t nkeys)
{
	return KC_REC_HDR + CF_IDENTITY_SEED_BYTES + nrepos * (KC_REC_HDR + KC_REPO_VAL) +
	       nkeys * (KC_REC_HDR + KC_KEY_VAL);
}

/*
 * Make room for @need elements of @elem bytes in a secure-memory table holding @used
 * (sodium_malloc has no realloc). Returns the table, moved or not; NULL when out of memory
 * (the old table is then intact).
 */
static void *grow(void *tab, size_t *cap, size_t need, size_t elem, size_t used)
{
	size_t ncap = *cap ? *cap : 8;
	void *n;

	if (need <= *cap && tab)
		return tab;
	while (ncap < need)
		ncap *= 2;
	n = cf_secmem_alloc(ncap * elem);
	if (!n)
		return NULL;
	if (used)
		memcpy(n, tab, used * elem);
	cf_secmem_free(tab);
	*cap = ncap;
	return n;
}

/* Binary search; returns 1 and the index when found, else 0 and the insertion point. */
static int repo_find(const struct cf_keychain *kc, const uint8_t id[32], size_t *pos)
{
	size_t lo = 0, hi = kc->nrepos;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(kc->repos[mid].id, id, 32);
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return 0;
}

static int key_cmp(const struct kc_key *k, const uint8_t repo[32], uint32_t epoch)
{
	int c = memcmp(k->repo, repo, 32);

	if (c)
		return c;
	return k->epoch < epoch ? -1 : k->epoch > epoch;
}

static int key_find(const struct cf_keychain *kc, const uint8_t repo[32], uint32_t epoch,
                    size_t *pos)
{
	size_t lo = 0, hi = kc->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&kc->keys[mid], repo, epoch);
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return 0;
}

static uint8_t *put_rec(uint8_t *p, uint8_t type, uint16_t len)
{
	p[0] = type;
	put16(p + 1, len);
	return p + KC_REC_HDR;
}

int kc_encode_body(const struct cf_keychain *kc, struct cf_secbuf **out)
{
	struct cf_secbuf *seed = NULL, *b = NULL;
	size_t k = 0;
	uint8_t *p;
	int r;

	r = cf_identity_seed(kc->id, &seed);
	if (r)
		goto fail;
	r = cf_secbuf_new(&b, kc_body_size(kc->nrepos, kc->nkeys));
	if (r)
		goto fail;
	p = put_rec(cf_secbuf_data(b), KC_REC_IDENTITY, CF_IDENTITY_SEED_BYTES);
	memcpy(p, cf_secbuf_data(seed), CF_IDENTITY_SEED_BYTES);
	p += CF_IDENTITY_SEED_BYTES;
	for (size_t i = 0; i < kc->nrepos; i++) {
		const struct kc_repo *rp = &kc->repos[i];
		p = put_rec(p, KC_REC_REPO, KC_REPO_VAL);
		memcpy(p, rp->id, 32);
		p[32] = rp->flags;
		kc_put32(p + 33, rp->current);
		put64(p + 37, rp->seen_seq);
		memcpy(p + 45, rp->seen_hash, 32);
		p += KC_REPO_VAL;
		/* Keys are sorted by repository like the repositories: one merge pass. */
		for (; k < kc->nkeys && memcmp(kc->keys[k].repo, rp->id, 32) == 0; k++) {
			p = put_rec(p, KC_REC_KEY, KC_KEY_VAL);
			kc_put32(p, kc->keys[k].epoch);
			memcpy(p + 4, kc->keys[k].key, 32);
			p += KC_KEY_VAL;
		}
	}
	*out = b;
	b = NULL;
fail:
	cf_secbuf_free(seed);
	cf_secbuf_free(b);
	return r;
}

/* End of a repository's records: its current epoch must be one it holds. */
static int repo_check(const struct cf_keychain *kc)
{
	const struct kc_repo *rp;
	size_t pos;

	if (!kc->nrepos)
		return 0;
	rp = &kc->repos[kc->nrepos - 1];
	if ((rp->flags & KC_REPO_F_CURRENT) && !key_find(kc, rp->id, rp->current, &pos))
		return CF_E_CORRUPT;
	return 0;
}

static int decode_repo(struct cf_keychain *kc, const uint8_t *v)
{
	struct kc_repo *rp;
	uint8_t flags = v[32];
	int r;

	if (flags & ~(KC_REPO_F_CURRENT | KC_REPO_F_SEEN))
		return CF_E_FORMAT;
	/* Fields without their flag are zero: one encoding per state. */
	if ((!(flags & KC_REPO_F_CURRENT) && !cf_core_is_zero(v + 33, 4)) ||
	    (!(flags & KC_REPO_F_SEEN) && !cf_core_is_zero(v + 37, 8 + 32)))
		return CF_E_CORRUPT;
	r = repo_check(kc);
	if (r)
		return r;
	if (kc->nrepos == CF_KEYCHAIN_MAX_REPOS)
		return CF_E_LIMIT;
	if (kc->nrepos && memcmp(kc->repos[kc->nrepos - 1].id, v, 32) >= 0)
		return CF_E_CORRUPT; /* out of order or repeated */
	rp = grow(kc->repos, &kc->repo_cap, kc->nrepos + 1, sizeof(*rp), kc->nrepos);
	if (!rp)
		return -ENOMEM;
	kc->repos = rp;
	rp = &kc->repos[kc->nrepos++];
	memcpy(rp->id, v, 32);
	rp->flags = flags;
	rp->current = kc_get32(v + 33);
	rp->seen_seq = get64(v + 37);
	memcpy(rp->seen_hash, v + 45, 32);
	return 0;
}

static int decode_key(struct cf_keychain *kc, const uint8_t *v)
{
	struct kc_repo *rp;
	struct kc_key *k;
	uint32_t epoch = kc_get32(v);

	if (!kc->nrepos)
		return CF_E_CORRUPT; /* a key before any repository */
	rp = &kc->repos[kc->nrepos - 1];
	if (rp->nkeys == CF_KEYCHAIN_MAX_EPOCHS)
		return CF_E_LIMIT;
	if (rp->nkeys && kc->keys[kc->nkeys - 1].epoch >= epoch)
		return CF_E_CORRUPT; /* out of order or repeated */
	k = grow(kc->keys, &kc->key_cap, kc->nkeys + 1, sizeof(*k), kc->nkeys);
	if (!k)
		return -ENOMEM;
	kc->keys = k;
	k = &kc->keys[kc->nkeys++];
	memcpy(k->repo, rp->id, 32);
	k->epoch = epoch;
	memcpy(k->key, v + 4, 32);
	rp->nkeys++;
	return 0;
}

/* Parse @len untrusted bytes into the empty handle @kc. */
int kc_decode_body(struct cf_keychain *kc, const uint8_t *p, size_t len)
{
	size_t off = 0, vlen;
	const uint8_t *v;
	int r = 0;

	while (off < len && !r) {
		if (len - off < KC_REC_HDR)
			return CF_E_TRUNCATED;
		vlen = (size_t)p[off + 1] << 8 | p[off + 2];
		v = p + off + KC_REC_HDR;
		if (vlen > len - off - KC_REC_HDR)
			return CF_E_TRUNCATED;
		switch (p[off]) {
		case KC_REC_IDENTITY:
			if (off != 0)
				return CF_E_CORRUPT; /* exactly one, first */
			if (vlen != CF_IDENTITY_SEED_BYTES)
				return CF_E_FORMAT;
			r = cf_identity_from_seed(&kc->id, v);
			break;
		case KC_REC_REPO:
			if (vlen != KC_REPO_VAL)
				return CF_E_FORMAT;
			r = kc->id ? decode_repo(kc, v) : CF_E_CORRUPT;
			break;
		case KC_REC_KEY:
			if (vlen != KC_KEY_VAL)
				return CF_E_FORMAT;
			r = decode_key(kc, v);
			break;
		default:
			return CF_E_FORMAT;
		}
		off += KC_REC_HDR + vlen;
	}
	if (r)
		return r;
	if (!kc->id)
		return CF_E_CORRUPT;
	return repo_check(kc);
}

const struct cf_identity *cf_keychain_identity(const struct cf_keychain *kc)
{
	return kc->id;
}

const char *cf_keychain_path(const struct cf_keychain *kc)
{
	return kc->path;
}

int cf_keychain_has_passphrase(const struct cf_keychain *kc)
{
	return kc->pass != NULL;
}

size_t cf_keychain_repo_count(const struct cf_keychain *kc)
{
	return kc->nrepos;
}

int cf_keychain_repo_info(const struct cf_keychain *kc, size_t index,
                          struct cf_keychain_repo_info *out)
{
	const struct kc_repo *rp;

	if (index >= kc->nrepos)
		return CF_E_NOTFOUND;
	rp = &kc->repos[index];
	memset(out, 0, sizeof(*out));
	memcpy(out->repo_id, rp->id, 32);
	out->epochs = rp->nkeys;
	out->has_current = !!(rp->flags & KC_REPO_F_CURRENT);
	out->current_epoch = rp->current;
	out->has_seen = !!(rp->flags & KC_REPO_F_SEEN);
	out->seen_seq = rp->seen_seq;
	memcpy(out->seen_hash, rp->seen_hash, 32);
	return 0;
}

int cf_keychain_repo_key(const struct cf_keychain *kc, const uint8_t repo_id[32], uint32_t epoch,
                         uint8_t key[32])
{
	size_t pos;

	if (!key_find(kc, repo_id, epoch, &pos))
		return CF_E_NOTFOUND;
	memcpy(key, kc->keys[pos].key, 32);
	return 0;
}

int cf_keychain_repo_current(const struct cf_keychain *kc, const uint8_t repo_id[32],
                             uint32_t *epoch)
{
	size_t pos;

	if (!repo_find(kc, repo_id, &pos) || !(kc->repos[pos].flags & KC_REPO_F_CURRENT))
		return CF_E_NOTFOUND;
	*epoch = kc->repos[pos].current;
	return 0;
}

int cf_keychain_seen_get(const struct cf_keychain *kc, const uint8_t repo_id[32], uint64_t *seq,
                         uint8_t hash[32])
{
	size_t pos;

	if (!repo_find(kc, repo_id, &pos) || !(kc->repos[pos].flags & KC_REPO_F_SEEN))
		return CF_E_NOTFOUND;
	*seq = kc->repos[pos].seen_seq;
	memcpy(hash, kc->repos[pos].seen_hash, 32);
	return 0;
}

/*
 * Find or add the repository @id; returns its index in *@pos. @extra_keys is how many
 * keys the caller is about to add, so the size limit is checked before anything changes.
 */
static int repo_get(struct cf_keychain *kc, const uint8_t id[32], size_t extra_keys, size_t *pos)
{
	int found = repo_find(kc, id, pos);
	size_t nrepos = kc->nrepos + !found;
	struct kc_repo *repos;
	struct kc_key *keys;

	if (!found && kc->nrepos >= CF_KEYCHAIN_MAX_REPOS)
		return CF_E_LIMIT;
	if (kc_body_size(nrepos, kc->nkeys + extra_keys) > KC_MAX_BODY)
		return CF_E_LIMIT;
	keys = grow(kc->keys, &kc->key_cap, kc->nkeys + extra_keys, sizeof(*keys), kc->nkeys);
	if (!keys)
		return -ENOMEM;
	kc->keys = keys;
	repos = grow(kc->repos, &kc->repo_cap, nrepos, sizeof(*repos), kc->nrepos);
	if (!repos)
		return -ENOMEM;
	kc->repos = repos;
	if (found)
		return 0;
	memmove(&kc->repos[*pos + 1], &kc->repos[*pos], (kc->nrepos - *pos) * sizeof(*kc->repos));
	memset(&kc->repos[*pos], 0, sizeof(*kc->repos));
	memcpy(kc->repos[*pos].id, id, 32);
	kc->nrepos++;
	return 0;
}

int cf_keychain_repo_put_key(struct cf_keychain *kc, const uint8_t repo_id[32], uint32_t epoch,
                             const uint8_t key[32], int make_current)
{
	struct kc_repo *rp;
	size_t rpos, kpos;
	int have, r;

	have = key_find(kc, repo_id, epoch, &kpos);
	if (have && !cf_core_equal(kc->keys[kpos].key, key, 32))
		return CF_E_EXISTS;
	if (repo_find(kc, repo_id, &rpos)) {
		rp = &kc->repos[rpos];
		if (!have && rp->nkeys >= CF_KEYCHAIN_MAX_EPOCHS)
			return CF_E_LIMIT;
		if (make_current && (rp->flags & KC_REPO_F_CURRENT) && epoch < rp->current)
			return CF_E_ROLLBACK;
	}
	r = repo_get(kc, repo_id, !have, &rpos);
	if (r)
		return r;
	rp = &kc->repos[rpos];
	if (!have) {
		memmove(&kc->keys[kpos + 1], &kc->keys[kpos],
		        (kc->nkeys - kpos) * sizeof(*kc->keys));
		memcpy(kc->keys[kpos].repo, repo_id, 32);
		kc->keys[kpos].epoch = epoch;
		memcpy(kc->keys[kpos].key, key, 32);
		kc->nkeys++;
		rp->nkeys++;
	}
	if (make_current) {
		rp->flags |= KC_REPO_F_CURRENT;
		rp->current = epoch;
	}
	return 0;
}

int cf_keychain_seen_update(struct cf_keychain *kc, const uint8_t repo_id[32], uint64_t seq,
                            const uint8_t hash[32])
{
	struct kc_repo *rp;
	size_t pos;
	int r;

	if (repo_find(kc, repo_id, &pos) && (kc->repos[pos].flags & KC_REPO_F_SEEN)) {
		rp = &kc->repos[pos];
		if (seq < rp->seen_seq)
			return CF_E_ROLLBACK;
		if (seq == rp->seen_seq)
			return memcmp(rp->seen_hash, hash, 32) ? CF_E_ROLLBACK : 0;
	}
	r = repo_get(kc, repo_id, 0, &pos);
	if (r)
		return r;
	rp = &kc->repos[pos];
	rp->flags |= KC_REPO_F_SEEN;
	rp->seen_seq = seq;
	memcpy(rp->seen_hash, hash, 32);
	return 0;
}
