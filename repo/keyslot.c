/* SPDX-License-Identifier: ISC */
/*
 * Key slots and epoch rosters (layout in repo/keyslot.h and
 * docs/repository-manifests.md, "Key slots"). Every parser takes untrusted bytes.
 */
#include "repo/keyslot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/envelope.h"
#include "core/error.h"
#include "core/hash.h"
#include "util/log.h"

static const uint8_t slot_magic[4] = {'C', 'F', 'S', 0x01};
static const char slot_label[] = "coffer-slot-v1";

#define SLOT_AD_BYTES (sizeof(slot_label) - 1 + CF_REPO_ID_BYTES + CF_CFG_HASH_BYTES + 1 + 4)
#define MK_BYTES CF_MASTER_KEY_BYTES
/* recovery-key body: salt | set | nonce | AEAD(MK) | tag */
#define RK_SET_OFF CF_ARGON2_SALT_BYTES
#define RK_SEALED_OFF (CF_ARGON2_SALT_BYTES + 1)
#define RK_BODY_BYTES (RK_SEALED_OFF + CF_AEAD_OVERHEAD + MK_BYTES)
/* roster plaintext: seq u32 | n u16 | n x identity */
#define ROSTER_HDR 6

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void slot_ad(uint8_t ad[SLOT_AD_BYTES], const uint8_t repo_id[CF_REPO_ID_BYTES],
		    const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint8_t kind, uint32_t epoch)
{
	size_t o = sizeof(slot_label) - 1;

	memcpy(ad, slot_label, o);
	memcpy(ad + o, repo_id, CF_REPO_ID_BYTES);
	o += CF_REPO_ID_BYTES;
	memcpy(ad + o, cfg_hash, CF_CFG_HASH_BYTES);
	o += CF_CFG_HASH_BYTES;
	ad[o++] = kind;
	put_le32(ad + o, epoch);
}

/* A new slot of @kind with room for a @blen-byte body at *@body. */
static uint8_t *slot_new(uint8_t kind, uint32_t epoch, size_t blen, uint8_t **body)
{
	uint8_t *s = malloc(CF_KEYSLOT_HEADER_BYTES + blen);

	if (!s)
		return NULL;
	memcpy(s, slot_magic, 4);
	s[4] = kind;
	put_le32(s + 5, epoch);
	put_le32(s + 9, (uint32_t)blen);
	*body = s + CF_KEYSLOT_HEADER_BYTES;
	return s;
}

void cf_keyslot_cfg_hash(const uint8_t *config, size_t len, uint8_t out[CF_CFG_HASH_BYTES])
{
	cf_hash_blake2b(out, CF_CFG_HASH_BYTES, NULL, config, len);
}

int cf_keyslot_parse(struct cf_keyslot *out, const uint8_t *in, size_t len)
{
	uint32_t blen;

	if (!out || (!in && len))
		return CF_E_INVAL;
	if (len < 4)
		return CF_E_TRUNCATED;
	if (memcmp(in, slot_magic, 3) != 0)
		return CF_E_FORMAT;
	if (in[3] != slot_magic[3])
		return CF_E_VERSION;
	if (len < CF_KEYSLOT_HEADER_BYTES)
		return CF_E_TRUNCATED;
	if (in[4] == 0 || get_le32(in + 5) == 0)
		return CF_E_FORMAT;
	blen = get_le32(in + 9);
	if (blen > CF_KEYSLOT_MAX_BODY)
		return CF_E_LIMIT;
	if (len - CF_KEYSLOT_HEADER_BYTES < blen)
		return CF_E_TRUNCATED;
	if (len - CF_KEYSLOT_HEADER_BYTES > blen)
		return CF_E_FORMAT;
	out->kind = in[4];
	out->epoch = get_le32(in + 5);
	out->body = in + CF_KEYSLOT_HEADER_BYTES;
	out->body_len = blen;
	return 0;
}

/* Parse @in and require @kind. */
static int parse_kind(struct cf_keyslot *s, const uint8_t *in, size_t len, uint8_t kind)
{
	int r = cf_keyslot_parse(s, in, len);

	if (r)
		return r;
	return s->kind == kind ? 0 : CF_E_FORMAT;
}

/* ---- device slots ----------------------------------------------------------------- */

int cf_keyslot_device_create(uint8_t **out, size_t *outlen, const struct cf_identity *sender,
			     const struct cf_pubid *recipient,
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			     const uint8_t mk[CF_MASTER_KEY_BYTES])
{
	uint8_t ad[SLOT_AD_BYTES], *env = NULL, *slot, *body;
	size_t envlen;
	int r;

	if (!out || !outlen || !sender || !recipient || !repo_id || !cfg_hash || !mk ||
	    epoch == 0)
		return CF_E_INVAL;
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_DEVICE, epoch);
	r = cf_envelope_seal(&env, &envlen, sender, recipient, 1, ad, sizeof(ad), mk, MK_BYTES);
	if (r)
		return r;
	if (envlen > CF_KEYSLOT_MAX_BODY) { /* cannot happen with one recipient */
		free(env);
		return CF_E_LIMIT;
	}
	slot = slot_new(CF_SLOT_DEVICE, epoch, envlen, &body);
	if (!slot) {
		free(env);
		return -ENOMEM;
	}
	memcpy(body, env, envlen);
	free(env);
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + envlen;
	return 0;
}

int cf_keyslot_device_open(struct cf_secbuf **mk, uint32_t *epoch, const struct cf_identity *me,
			   const struct cf_pubid *senders, size_t nsenders,
			   const uint8_t repo_id[CF_REPO_ID_BYTES],
			   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in, size_t len)
{
	struct cf_secbuf *payload = NULL;
	uint8_t ad[SLOT_AD_BYTES];
	struct cf_keyslot s;
	int r;

	if (!mk || !me || (!senders && nsenders) || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = parse_kind(&s, in, len, CF_SLOT_DEVICE);
	if (r)
		return r;
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_DEVICE, s.epoch);
	r = cf_envelope_open(&payload, NULL, me, senders, nsenders, ad, sizeof(ad), s.body,
			     s.body_len);
	if (r)
		return r;
	if (cf_secbuf_len(payload) != MK_BYTES) {
		cf_secbuf_free(payload);
		cf_log_warn("key slot: a trusted device sealed a master key of the wrong size");
		return CF_E_CORRUPT;
	}
	*mk = payload;
	if (epoch)
		*epoch = s.epoch;
	return 0;
}

/* ---- recovery-key slots ------------------------------------------------------------- */

int cf_keyslot_recovery_kek(struct cf_secbuf **kek, const uint8_t rk[CF_RECOVERY_KEY_BYTES],
			    const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params set)
{
	struct cf_secbuf *k = NULL;
	int r;

	if (!kek || !rk || !salt)
		return CF_E_INVAL;
	r = cf_secbuf_new(&k, CF_AEAD_KEY_BYTES);
	if (r)
		return r;
	r = cf_kdf_argon2id(cf_secbuf_data(k), CF_AEAD_KEY_BYTES, rk, CF_RECOVERY_KEY_BYTES, salt,
			    set);
	if (r) {
		cf_secbuf_free(k);
		return r;
	}
	*kek = k;
	return 0;
}

int cf_keyslot_recovery_seal(uint8_t **out, size_t *outlen, const uint8_t kek[CF_AEAD_KEY_BYTES],
			     const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params set,
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			     const uint8_t mk[CF_MASTER_KEY_BYTES])
{
	uint8_t ad[SLOT_AD_BYTES], *slot, *body;

	if (!out || !outlen || !kek || !salt || !repo_id || !cfg_hash || !mk || epoch == 0 ||
	    (unsigned)set > 255)
		return CF_E_INVAL;
	slot = slot_new(CF_SLOT_RECOVERY_KEY, epoch, RK_BODY_BYTES, &body);
	if (!slot)
		return -ENOMEM;
	memcpy(body, salt, CF_ARGON2_SALT_BYTES);
	body[RK_SET_OFF] = (uint8_t)set;
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_RECOVERY_KEY, epoch);
	cf_aead_seal(body + RK_SEALED_OFF, mk, MK_BYTES, ad, sizeof(ad), kek);
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + RK_BODY_BYTES;
	return 0;
}

int cf_keyslot_recovery_create(uint8_t **out, size_t *outlen,
			       const uint8_t rk[CF_RECOVERY_KEY_BYTES], enum cf_argon2_params set,
			       const uint8_t repo_id[CF_REPO_ID_BYTES],
			       const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			       const uint8_t mk[CF_MASTER_KEY_BYTES])
{
	struct cf_secbuf *kek = NULL;
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	int r;

	if (!out || !outlen || !rk || !repo_id || !cfg_hash || !mk || epoch == 0 ||
	    (unsigned)set > 255)
		return CF_E_INVAL;
	cf_core_random(salt, sizeof(salt));
	r = cf_keyslot_recovery_kek(&kek, rk, salt, set);
	if (!r)
		r = cf_keyslot_recovery_seal(out, outlen, cf_secbuf_data(kek), salt, set, repo_id,
					     cfg_hash, epoch, mk);
	cf_secbuf_free(kek);
	return r;
}

static int argon2_set_known(uint8_t set)
{
	return set == CF_ARGON2_INTERACTIVE || set == CF_ARGON2_MODERATE || set == CF_ARGON2_TEST;
}

/* Parse a recovery-key slot: its body checked for length and a known parameter set. */
static int recovery_parse(struct cf_keyslot *s, const uint8_t *in, size_t len)
{
	int r = parse_kind(s, in, len, CF_SLOT_RECOVERY_KEY);

	if (r)
		return r;
	if (s->body_len < RK_BODY_BYTES)
		return CF_E_TRUNCATED;
	if (s->body_len > RK_BODY_BYTES)
		return CF_E_FORMAT;
	if (!argon2_set_known(s->body[RK_SET_OFF]))
		return CF_E_VERSION;
	return 0;
}

int cf_keyslot_recovery_params(const uint8_t *in, size_t len,
			       uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params *set,
			       uint32_t *epoch)
{
	struct cf_keyslot s;
	int r;

	if (!salt || !set)
		return CF_E_INVAL;
	r = recovery_parse(&s, in, len);
	if (r)
		return r;
	memcpy(salt, s.body, CF_ARGON2_SALT_BYTES);
	*set = (enum cf_argon2_params)s.body[RK_SET_OFF];
	if (epoch)
		*epoch = s.epoch;
	return 0;
}

int cf_keyslot_recovery_open_kek(struct cf_secbuf **mk, uint32_t *epoch,
				 const uint8_t kek[CF_AEAD_KEY_BYTES],
				 const uint8_t repo_id[CF_REPO_ID_BYTES],
				 const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in,
				 size_t len)
{
	struct cf_secbuf *key = NULL;
	uint8_t ad[SLOT_AD_BYTES];
	struct cf_keyslot s;
	int r;

	if (!mk || !kek || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = recovery_parse(&s, in, len);
	if (r)
		return r;
	r = cf_secbuf_new(&key, MK_BYTES);
	if (r)
		return r;
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_RECOVERY_KEY, s.epoch);
	r = cf_aead_open(cf_secbuf_data(key), s.body + RK_SEALED_OFF, s.body_len - RK_SEALED_OFF,
			 ad, sizeof(ad), kek);
	if (r) {
		cf_secbuf_free(key);
		return r;
	}
	*mk = key;
	if (epoch)
		*epoch = s.epoch;
	return 0;
}

int cf_keyslot_recovery_open(struct cf_secbuf **mk, uint32_t *epoch,
			     const uint8_t rk[CF_RECOVERY_KEY_BYTES],
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in,
			     size_t len)
{
	struct cf_secbuf *kek = NULL;
	enum cf_argon2_params set;
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	int r;

	if (!mk || !rk || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = cf_keyslot_recovery_params(in, len, salt, &set, NULL);
	if (r)
		return r;
	r = cf_keyslot_recovery_kek(&kek, rk, salt, set);
	if (r == CF_E_INVAL) {
		cf_log_warn("recovery-key slot uses the test parameters: refused");
		r = CF_E_UNSAFE;
	}
	if (!r)
		r = cf_keyslot_recovery_open_kek(mk, epoch, cf_secbuf_data(kek), repo_id, cfg_hash,
						 in, len);
	cf_secbuf_free(kek);
	return r;
}

/* ---- helpers for slot kinds defined outside this file ------------------------------ */

void cf_keyslot_ad(uint8_t ad[CF_KEYSLOT_AD_BYTES], const uint8_t repo_id[CF_REPO_ID_BYTES],
		   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint8_t kind, uint32_t epoch)
{
	slot_ad(ad, repo_id, cfg_hash, kind, epoch);
}

uint8_t *cf_keyslot_new(uint8_t kind, uint32_t epoch, size_t blen, uint8_t **body)
{
	if (kind == 0 || epoch == 0 || blen > CF_KEYSLOT_MAX_BODY || !body)
		return NULL;
	return slot_new(kind, epoch, blen, body);
}

/* ---- rosters ------------------------------------------------------------------------ */

static int pubid_listed(const struct cf_pubid *ids, size_t n, const struct cf_pubid *id)
{
	for (size_t i = 0; i < n; i++)
		if (cf_pubid_equal(&ids[i], id))
			return 1;
	return 0;
}

int cf_roster_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *keys,
		     const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t seq,
		     const struct cf_pubid *ids, size_t n)
{
	uint8_t ad[SLOT_AD_BYTES], *pt = NULL, *slot = NULL, *body;
	uint32_t epoch;
	size_t ptlen;

	if (!out || !outlen || !keys || !repo_id || !cfg_hash || !ids || n == 0)
		return CF_E_INVAL;
	if (n > CF_ROSTER_MAX)
		return CF_E_LIMIT;
	for (size_t i = 1; i < n; i++)
		if (pubid_listed(ids, i, &ids[i]))
			return CF_E_INVAL;
	epoch = cf_repokeys_epoch(keys);
	if (epoch == 0)
		return CF_E_INVAL;
	ptlen = ROSTER_HDR + n * CF_PUBID_ENCODED_BYTES;
	pt = malloc(ptlen);
	slot = slot_new(CF_SLOT_ROSTER, epoch, ptlen + CF_AEAD_OVERHEAD, &body);
	if (!pt || !slot) {
		free(pt);
		free(slot);
		return -ENOMEM;
	}
	put_le32(pt, seq);
	put_le16(pt + 4, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		cf_pubid_encode(&ids[i], pt + ROSTER_HDR + i * CF_PUBID_ENCODED_BYTES);
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_ROSTER, epoch);
	cf_aead_seal(body, pt, ptlen, ad, sizeof(ad), cf_repokeys_meta(keys));
	free(pt);
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + ptlen + CF_AEAD_OVERHEAD;
	return 0;
}

void cf_roster_free(struct cf_roster *r)
{
	if (!r)
		return;
	free(r->ids);
	free(r);
}

/* Decode an authenticated roster plaintext; CF_E_CORRUPT for any inconsistency. */
static int roster_decode(struct cf_roster **out, uint32_t epoch, const uint8_t *pt, size_t len)
{
	struct cf_roster *r;
	size_t n;

	if (len < ROSTER_HDR)
		return CF_E_CORRUPT;
	n = (size_t)pt[4] | (size_t)pt[5] << 8;
	if (n == 0 || n > CF_ROSTER_MAX || len != ROSTER_HDR + n * CF_PUBID_ENCODED_BYTES)
		return CF_E_CORRUPT;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ids = calloc(n, sizeof(*r->ids));
	if (!r->ids) {
		free(r);
		return -ENOMEM;
	}
	r->epoch = epoch;
	r->seq = get_le32(pt);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = pt + ROSTER_HDR + i * CF_PUBID_ENCODED_BYTES;

		if (cf_pubid_decode(&r->ids[i], e, CF_PUBID_ENCODED_BYTES) != 0 ||
		    pubid_listed(r->ids, i, &r->ids[i])) {
			cf_roster_free(r);
			return CF_E_CORRUPT;
		}
		r->n = i + 1;
	}
	*out = r;
	return 0;
}

int cf_roster_open(struct cf_roster **out, const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES],
		   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in, size_t len)
{
	const struct cf_repokeys *k;
	uint8_t ad[SLOT_AD_BYTES], *pt;
	struct cf_keyslot s;
	size_t ptlen;
	int r;

	if (!out || !ring || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = parse_kind(&s, in, len, CF_SLOT_ROSTER);
	if (r)
		return r;
	k = cf_keyring_get(ring, s.epoch);
	if (!k)
		return CF_E_NOTFOUND;
	if (s.body_len < CF_AEAD_OVERHEAD)
		return CF_E_TRUNCATED;
	ptlen = s.body_len - CF_AEAD_OVERHEAD;
	pt = malloc(ptlen ? ptlen : 1);
	if (!pt)
		return -ENOMEM;
	slot_ad(ad, repo_id, cfg_hash, CF_SLOT_ROSTER, s.epoch);
	r = cf_aead_open(pt, s.body, s.body_len, ad, sizeof(ad), cf_repokeys_meta(k));
	if (!r) {
		r = roster_decode(out, s.epoch, pt, ptlen);
		if (r == CF_E_CORRUPT)
			cf_log_warn("roster of epoch %u: authentic but malformed", s.epoch);
	}
	free(pt);
	return r;
}

/* Add to @best the identities of @r it does not list yet (a tie at the same seq). */
static int roster_merge(struct cf_roster *best, const struct cf_roster *r)
{
	struct cf_pubid *ids;
	size_t n = best->n;

	ids = realloc(best->ids, (best->n + r->n) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	best->ids = ids;
	for (size_t i = 0; i < r->n; i++)
		if (!pubid_listed(ids, n, &r->ids[i]))
			ids[n++] = r->ids[i];
	best->n = n;
	return 0;
}

int cf_roster_select(struct cf_roster **out, uint32_t epoch, const struct cf_keyring *ring,
		     const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *const *slots,
		     const size_t *lens, size_t n)
{
	struct cf_roster *best = NULL, *r;
	struct cf_keyslot s;
	int rc, last = 0;

	if (!out || !ring || !repo_id || !cfg_hash || (n && (!slots || !lens)))
		return CF_E_INVAL;
	if (!cf_keyring_get(ring, epoch))
		return CF_E_NOTFOUND;
	for (size_t i = 0; i < n; i++) {
		if (cf_keyslot_parse(&s, slots[i], lens[i]) != 0 || s.kind != CF_SLOT_ROSTER ||
		    s.epoch != epoch)
			continue;
		r = NULL;
		rc = cf_roster_open(&r, ring, repo_id, cfg_hash, slots[i], lens[i]);
		if (rc < 0)
			goto fail;
		if (rc) {
			last = rc;
			cf_log_warn("roster slot of epoch %u skipped: %s", epoch, cf_strerror(rc));
			continue;
		}
		if (!best || r->seq > best->seq) {
			cf_roster_free(best);
			best = r;
		} else if (r->seq == best->seq) {
			rc = roster_merge(best, r);
			cf_roster_free(r);
			if (rc)
				goto fail;
		} else {
			cf_roster_free(r);
		}
	}
	if (!best) {
		cf_log_warn("no valid roster for epoch %u%s%s", epoch, last ? ": " : "",
			    last ? cf_strerror(last) : "");
		return CF_E_NOTFOUND;
	}
	*out = best;
	return 0;
fail:
	cf_roster_free(best);
	return rc;
}

int cf_roster_contains(const struct cf_roster *r, const struct cf_pubid *id)
{
	if (!r || !id)
		return 0;
	return pubid_listed(r->ids, r->n, id);
}
