/* SPDX-License-Identifier: ISC */
/*
 * Contacts, protection-record and epoch-link slots (layouts in keyvault/slots.h and
 * docs/protection-modes.md). Every parser takes untrusted bytes.
 */
#include "keyvault/slots.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/kdf.h"
#include "util/log.h"

#define WRAP_BYTES (2 + CF_AEAD_OVERHEAD + CF_CONTACT_SEED_BYTES)
#define CONTACTS_HDR 4
#define LINK_BODY (4 + CF_AEAD_OVERHEAD + CF_MASTER_KEY_BYTES)
#define PROT_JSON_MAX (64u << 10)

static const char contacts_label[] = "coffer-contacts-v1";

const char *cf_prot_mode_name(enum cf_prot_mode m)
{
	return m == CF_MODE_STANDARD ? "standard" : m == CF_MODE_ADVANCED ? "advanced" : "local";
}

static void le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned popcount(unsigned v)
{
	unsigned c = 0;

	for (; v; v &= v - 1)
		c++;
	return c;
}

static size_t binomial(unsigned n, unsigned k)
{
	size_t r = 1;

	for (unsigned i = 1; i <= k; i++)
		r = r * (n - k + i) / i;
	return r;
}

/* W_T for subset @mask (docs: keyed BLAKE2b under the server share). */
static int subset_key(uint8_t key[CF_AEAD_KEY_BYTES], const uint8_t repo_id[32], uint32_t epoch,
		      unsigned mask, const uint8_t share[CF_SERVER_SHARE_BYTES],
		      const uint8_t (*secrets)[CF_CONTACT_SECRET_BYTES])
{
	struct cf_hash *h = NULL;
	uint8_t hdr[4 + 2];
	int r = cf_hash_new(&h, CF_AEAD_KEY_BYTES, share);

	if (r)
		return r;
	le32(hdr, epoch);
	le16(hdr + 4, mask);
	cf_hash_update(h, contacts_label, sizeof(contacts_label) - 1);
	cf_hash_update(h, repo_id, 32);
	cf_hash_update(h, hdr, sizeof(hdr));
	for (unsigned i = 0; i < CF_CONTACTS_MAX; i++)
		if (mask & (1u << i))
			cf_hash_update(h, secrets[i], CF_CONTACT_SECRET_BYTES);
	cf_hash_final(h, key);
	cf_hash_free(h);
	return 0;
}

static void wrap_ad(uint8_t *ad, const uint8_t repo_id[32], const uint8_t cfg_hash[32],
		    uint32_t epoch, unsigned mask)
{
	cf_keyslot_ad(ad, repo_id, cfg_hash, CF_SLOT_CONTACTS, epoch);
	le16(ad + CF_KEYSLOT_AD_BYTES, mask);
}

int cf_slots_contacts_create(uint8_t **out, size_t *outlen, const uint8_t repo_id[32],
			     const uint8_t cfg_hash[32], uint32_t epoch, unsigned k, unsigned n,
			     const uint8_t seed[CF_CONTACT_SEED_BYTES],
			     const uint8_t share[CF_SERVER_SHARE_BYTES],
			     const uint8_t (*secrets)[CF_CONTACT_SECRET_BYTES])
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES + 2], *slot, *body, *p;
	uint8_t *key = NULL;
	size_t count, blen;
	int r = 0;

	if (!out || !outlen || !repo_id || !cfg_hash || !seed || !share || !secrets || epoch == 0 ||
	    k < 1 || k > n)
		return CF_E_INVAL;
	if (n > CF_CONTACTS_MAX)
		return CF_E_LIMIT;
	count = binomial(n, k);
	blen = CONTACTS_HDR + count * WRAP_BYTES;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	slot = cf_keyslot_new(CF_SLOT_CONTACTS, epoch, blen, &body);
	if (!key || !slot) {
		cf_secmem_free(key);
		free(slot);
		return -ENOMEM;
	}
	body[0] = (uint8_t)k;
	body[1] = (uint8_t)n;
	le16(body + 2, (unsigned)count);
	p = body + CONTACTS_HDR;
	for (unsigned mask = 1; mask < (1u << n) && !r; mask++) {
		if (popcount(mask) != k)
			continue;
		r = subset_key(key, repo_id, epoch, mask, share, secrets);
		if (r)
			break;
		le16(p, mask);
		wrap_ad(ad, repo_id, cfg_hash, epoch, mask);
		cf_aead_seal(p + 2, seed, CF_CONTACT_SEED_BYTES, ad, sizeof(ad), key);
		p += WRAP_BYTES;
	}
	cf_secmem_free(key);
	if (r) {
		free(slot);
		return r;
	}
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + blen;
	return 0;
}

static int contacts_parse(struct cf_keyslot *s, const uint8_t *in, size_t len, unsigned *k,
			  unsigned *n)
{
	int r = cf_keyslot_parse(s, in, len);

	if (r)
		return r;
	if (s->kind != CF_SLOT_CONTACTS)
		return CF_E_FORMAT;
	if (s->body_len < CONTACTS_HDR)
		return CF_E_TRUNCATED;
	*k = s->body[0];
	*n = s->body[1];
	if (*k < 1 || *k > *n || *n > CF_CONTACTS_MAX)
		return CF_E_CORRUPT;
	if ((size_t)(s->body[2] | s->body[3] << 8) != binomial(*n, *k))
		return CF_E_CORRUPT;
	if (s->body_len != CONTACTS_HDR + binomial(*n, *k) * WRAP_BYTES)
		return s->body_len < CONTACTS_HDR + binomial(*n, *k) * WRAP_BYTES ? CF_E_TRUNCATED
										   : CF_E_FORMAT;
	return 0;
}

int cf_slots_contacts_info(const uint8_t *in, size_t len, unsigned *k, unsigned *n,
			   uint32_t *epoch)
{
	struct cf_keyslot s;
	unsigned kk, nn;
	int r = contacts_parse(&s, in, len, &kk, &nn);

	if (r)
		return r;
	if (k)
		*k = kk;
	if (n)
		*n = nn;
	if (epoch)
		*epoch = s.epoch;
	return 0;
}

int cf_slots_contacts_open(struct cf_secbuf **seed, const uint8_t repo_id[32],
			   const uint8_t cfg_hash[32], const uint8_t *in, size_t len,
			   const uint8_t share[CF_SERVER_SHARE_BYTES],
			   const uint8_t (*secrets)[CF_CONTACT_SECRET_BYTES], unsigned have)
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES + 2], *key = NULL;
	struct cf_secbuf *out = NULL;
	struct cf_keyslot s;
	unsigned k, n, mask = 0;
	const uint8_t *p;
	int r;

	if (!seed || !repo_id || !cfg_hash || !share || !secrets)
		return CF_E_INVAL;
	r = contacts_parse(&s, in, len, &k, &n);
	if (r)
		return r;
	have &= (1u << n) - 1;
	for (unsigned i = 0; i < n && popcount(mask) < k; i++)
		if (have & (1u << i))
			mask |= 1u << i;
	if (popcount(mask) < k)
		return CF_E_NOTFOUND;
	for (p = s.body + CONTACTS_HDR; p < s.body + s.body_len; p += WRAP_BYTES)
		if ((unsigned)(p[0] | p[1] << 8) == mask)
			break;
	if (p >= s.body + s.body_len)
		return CF_E_CORRUPT;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	r = key ? cf_secbuf_new(&out, CF_CONTACT_SEED_BYTES) : -ENOMEM;
	if (!r)
		r = subset_key(key, repo_id, s.epoch, mask, share, secrets);
	if (!r) {
		wrap_ad(ad, repo_id, cfg_hash, s.epoch, mask);
		r = cf_aead_open(cf_secbuf_data(out), p + 2, WRAP_BYTES - 2, ad, sizeof(ad), key);
	}
	cf_secmem_free(key);
	if (r) {
		cf_secbuf_free(out);
		return r;
	}
	*seed = out;
	return 0;
}

/* ---- epoch links ------------------------------------------------------------------ */

static void link_ad(uint8_t *ad, const uint8_t repo_id[32], const uint8_t cfg_hash[32],
		    uint32_t epoch, uint32_t prev)
{
	cf_keyslot_ad(ad, repo_id, cfg_hash, CF_SLOT_LINK, epoch);
	le32(ad + CF_KEYSLOT_AD_BYTES, prev);
}

static int link_key(uint8_t key[CF_AEAD_KEY_BYTES], const struct cf_repokeys *k)
{
	return cf_kdf_subkey(key, CF_AEAD_KEY_BYTES, CF_SLOT_LINK, "cflink__",
			     cf_repokeys_master(k));
}

int cf_slots_link_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *from,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t prev,
			 const uint8_t mk_prev[CF_MASTER_KEY_BYTES])
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES + 4], *slot, *body, *key;
	uint32_t epoch;

	if (!out || !outlen || !from || !repo_id || !cfg_hash || !mk_prev)
		return CF_E_INVAL;
	epoch = cf_repokeys_epoch(from);
	if (prev == 0 || prev >= epoch)
		return CF_E_INVAL;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	slot = cf_keyslot_new(CF_SLOT_LINK, epoch, LINK_BODY, &body);
	if (!key || !slot) {
		cf_secmem_free(key);
		free(slot);
		return -ENOMEM;
	}
	link_key(key, from);
	le32(body, prev);
	link_ad(ad, repo_id, cfg_hash, epoch, prev);
	cf_aead_seal(body + 4, mk_prev, CF_MASTER_KEY_BYTES, ad, sizeof(ad), key);
	cf_secmem_free(key);
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + LINK_BODY;
	return 0;
}

int cf_slots_link_open(struct cf_secbuf **mk_prev, uint32_t *prev, const struct cf_keyring *ring,
		       const uint8_t repo_id[32], const uint8_t cfg_hash[32], const uint8_t *in,
		       size_t len)
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES + 4], *key = NULL;
	const struct cf_repokeys *k;
	struct cf_secbuf *mk = NULL;
	struct cf_keyslot s;
	uint32_t p;
	int r;

	if (!mk_prev || !ring || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = cf_keyslot_parse(&s, in, len);
	if (r)
		return r;
	if (s.kind != CF_SLOT_LINK)
		return CF_E_FORMAT;
	if (s.body_len < LINK_BODY)
		return CF_E_TRUNCATED;
	if (s.body_len > LINK_BODY)
		return CF_E_FORMAT;
	p = rd32(s.body);
	if (p == 0 || p >= s.epoch)
		return CF_E_FORMAT;
	k = cf_keyring_get(ring, s.epoch);
	if (!k)
		return CF_E_NOTFOUND;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	r = key ? cf_secbuf_new(&mk, CF_MASTER_KEY_BYTES) : -ENOMEM;
	if (!r)
		r = link_key(key, k);
	if (!r) {
		link_ad(ad, repo_id, cfg_hash, s.epoch, p);
		r = cf_aead_open(cf_secbuf_data(mk), s.body + 4, LINK_BODY - 4, ad, sizeof(ad), key);
	}
	cf_secmem_free(key);
	if (r) {
		cf_secbuf_free(mk);
		return r;
	}
	*mk_prev = mk;
	if (prev)
		*prev = p;
	return 0;
}

/* ---- protection records ----------------------------------------------------------- */

static json_t *pubid_json(const struct cf_pubid *id)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	char b64[256];

	cf_pubid_encode(id, enc);
	cf_encode_b64(b64, sizeof(b64), enc, sizeof(enc));
	return json_string(b64);
}

static int pubid_parse(struct cf_pubid *id, const char *b64)
{
	uint8_t enc[CF_PUBID_ENCODED_BYTES + 8];
	size_t len = 0;

	if (cf_encode_unb64(enc, sizeof(enc), &len, b64) != 0)
		return CF_E_CORRUPT;
	return cf_pubid_decode(id, enc, len) == 0 ? 0 : CF_E_CORRUPT;
}

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *protection_json(const struct cf_protection *p)
{
	json_t *rk = json_null(), *ct = json_null();

	if (p->has_recovery_key)
		rk = json_pack("{s:o,s:I}", "identity", pubid_json(&p->recovery_key), "time",
			       (json_int_t)p->recovery_key_time);
	if (p->has_contacts) {
		json_t *names = json_array();
		for (unsigned i = 0; names && i < p->n; i++)
			json_array_append_new(names, json_string(p->names[i]));
		ct = json_pack("{s:I,s:o,s:I,s:I,s:o}", "epoch", (json_int_t)p->contacts_epoch,
			       "identity", pubid_json(&p->contacts), "k", (json_int_t)p->k, "n",
			       (json_int_t)p->n, "names", names);
	}
	return json_pack("{s:o,s:o,s:b,s:s,s:s,s:o,s:I,s:o,s:I}", "account",
			 str_or_null(p->account), "contacts", ct, "escrowed", p->escrowed, "mode",
			 cf_prot_mode_name(p->mode), "reason", p->reason, "recovery_key", rk,
			 "seq", (json_int_t)p->seq, "server", str_or_null(p->server), "time",
			 (json_int_t)p->time);
}

int cf_slots_protection_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *keys,
			       const uint8_t repo_id[32], const uint8_t cfg_hash[32],
			       const struct cf_protection *p)
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES], *slot, *body;
	json_t *j;
	char *text;
	size_t tlen;

	if (!out || !outlen || !keys || !repo_id || !cfg_hash || !p ||
	    (p->has_contacts && (p->k < 1 || p->k > p->n || p->n > CF_CONTACTS_MAX)))
		return CF_E_INVAL;
	j = protection_json(p);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	tlen = strlen(text);
	slot = cf_keyslot_new(CF_SLOT_PROTECTION, cf_repokeys_epoch(keys), tlen + CF_AEAD_OVERHEAD,
			      &body);
	if (!slot) {
		free(text);
		return -ENOMEM;
	}
	cf_keyslot_ad(ad, repo_id, cfg_hash, CF_SLOT_PROTECTION, cf_repokeys_epoch(keys));
	cf_aead_seal(body, (const uint8_t *)text, tlen, ad, sizeof(ad), cf_repokeys_meta(keys));
	free(text);
	*out = slot;
	*outlen = CF_KEYSLOT_HEADER_BYTES + tlen + CF_AEAD_OVERHEAD;
	return 0;
}

static int copy_str(char *dst, size_t cap, const json_t *v)
{
	const char *s;

	if (json_is_null(v))
		return 0;
	s = json_string_value(v);
	if (!s || strlen(s) >= cap || !*s)
		return CF_E_CORRUPT;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int contacts_decode(struct cf_protection *p, json_t *ct)
{
	json_int_t epoch, k, n;
	json_t *names;
	const char *id;

	if (json_unpack(ct, "{s:I,s:s,s:I,s:I,s:o!}", "epoch", &epoch, "identity", &id, "k", &k,
			"n", &n, "names", &names) != 0 ||
	    n < 1 || n > CF_CONTACTS_MAX || k < 1 || k > n || epoch < 1 || epoch > UINT32_MAX ||
	    !json_is_array(names) || json_array_size(names) != (size_t)n)
		return CF_E_CORRUPT;
	for (size_t i = 0; i < (size_t)n; i++)
		if (copy_str(p->names[i], sizeof(p->names[i]), json_array_get(names, i)) ||
		    !p->names[i][0])
			return CF_E_CORRUPT;
	p->has_contacts = 1;
	p->k = (unsigned)k;
	p->n = (unsigned)n;
	p->contacts_epoch = (uint32_t)epoch;
	return pubid_parse(&p->contacts, id);
}

static int protection_decode(struct cf_protection *p, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *acc, *srv, *ct, *rk;
	const char *mode, *reason, *id;
	json_int_t seq, t, rkt;
	int esc, r = CF_E_CORRUPT;

	if (!j || json_unpack(j, "{s:o,s:o,s:b,s:s,s:s,s:o,s:I,s:o,s:I!}", "account", &acc,
			      "contacts", &ct, "escrowed", &esc, "mode", &mode, "reason", &reason,
			      "recovery_key", &rk, "seq", &seq, "server", &srv, "time", &t) != 0)
		goto out;
	if (seq < 0 || seq > UINT32_MAX || t < 0 || strlen(reason) >= sizeof(p->reason))
		goto out;
	p->seq = (uint32_t)seq;
	p->time = (uint64_t)t;
	memcpy(p->reason, reason, strlen(reason) + 1);
	p->escrowed = esc;
	if (strcmp(mode, "local") == 0)
		p->mode = CF_MODE_LOCAL;
	else if (strcmp(mode, "standard") == 0)
		p->mode = CF_MODE_STANDARD;
	else if (strcmp(mode, "advanced") == 0)
		p->mode = CF_MODE_ADVANCED;
	else
		goto out;
	if (copy_str(p->account, sizeof(p->account), acc) ||
	    copy_str(p->server, sizeof(p->server), srv))
		goto out;
	if (!json_is_null(rk)) {
		if (json_unpack(rk, "{s:s,s:I!}", "identity", &id, "time", &rkt) != 0 || rkt < 0 ||
		    pubid_parse(&p->recovery_key, id) != 0)
			goto out;
		p->has_recovery_key = 1;
		p->recovery_key_time = (uint64_t)rkt;
	}
	if (!json_is_null(ct) && contacts_decode(p, ct) != 0)
		goto out;
	r = 0;
out:
	json_decref(j);
	return r;
}

int cf_slots_protection_open(struct cf_protection *out, const struct cf_keyring *ring,
			     const uint8_t repo_id[32], const uint8_t cfg_hash[32],
			     const uint8_t *in, size_t len)
{
	uint8_t ad[CF_KEYSLOT_AD_BYTES], *pt;
	const struct cf_repokeys *k;
	struct cf_protection p;
	struct cf_keyslot s;
	size_t ptlen;
	int r;

	if (!out || !ring || !repo_id || !cfg_hash)
		return CF_E_INVAL;
	r = cf_keyslot_parse(&s, in, len);
	if (r)
		return r;
	if (s.kind != CF_SLOT_PROTECTION)
		return CF_E_FORMAT;
	k = cf_keyring_get(ring, s.epoch);
	if (!k)
		return CF_E_NOTFOUND;
	if (s.body_len < CF_AEAD_OVERHEAD)
		return CF_E_TRUNCATED;
	ptlen = s.body_len - CF_AEAD_OVERHEAD;
	if (ptlen > PROT_JSON_MAX)
		return CF_E_LIMIT;
	pt = malloc(ptlen + 1);
	if (!pt)
		return -ENOMEM;
	cf_keyslot_ad(ad, repo_id, cfg_hash, CF_SLOT_PROTECTION, s.epoch);
	r = cf_aead_open(pt, s.body, s.body_len, ad, sizeof(ad), cf_repokeys_meta(k));
	memset(&p, 0, sizeof(p));
	if (!r)
		r = protection_decode(&p, (const char *)pt, ptlen);
	free(pt);
	if (r == CF_E_CORRUPT)
		cf_log_warn("protection record of epoch %u: authentic but malformed", s.epoch);
	if (r)
		return r;
	p.epoch = s.epoch;
	*out = p;
	return 0;
}
