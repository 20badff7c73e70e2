/* SPDX-License-Identifier: ISC */
#include "keyvault/contacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/envelope.h"
#include "core/error.h"
#include "core/hash.h"

static const char ad_share[] = "coffer-contact-share-v1";
static const char ad_request[] = "coffer-recovery-request-v1";
static const char ad_release[] = "coffer-contact-release-v1";

#define SHARE_FIXED (5 + 3 + 4 + 32 + 32)
#define REQUEST_FIXED (5 + 32 + 8)
#define RELEASE_FIXED (5 + 1 + 32 + 32)

int cf_contacts_split_new(struct cf_contact_split **out, unsigned k, unsigned n)
{
	struct cf_contact_split *sp;
	int r;

	if (k < 1 || k > n || n > CF_CONTACTS_MAX)
		return CF_E_INVAL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->k = k;
	sp->n = n;
	r = cf_secbuf_new(&sp->seed, CF_CONTACT_SEED_BYTES);
	if (!r)
		r = cf_secbuf_new(&sp->share, CF_SERVER_SHARE_BYTES);
	if (!r)
		r = cf_secbuf_new(&sp->secrets, (size_t)n * CF_CONTACT_SECRET_BYTES);
	if (r) {
		cf_contacts_split_free(sp);
		return r;
	}
	cf_core_random(cf_secbuf_data(sp->seed), CF_CONTACT_SEED_BYTES);
	cf_core_random(cf_secbuf_data(sp->share), CF_SERVER_SHARE_BYTES);
	cf_core_random(cf_secbuf_data(sp->secrets), (size_t)n * CF_CONTACT_SECRET_BYTES);
	*out = sp;
	return 0;
}

void cf_contacts_split_free(struct cf_contact_split *sp)
{
	if (!sp)
		return;
	cf_secbuf_free(sp->seed);
	cf_secbuf_free(sp->share);
	cf_secbuf_free(sp->secrets);
	free(sp);
}

void cf_contact_msg_clear(struct cf_contact_msg *m)
{
	cf_secbuf_free(m->secret);
	m->secret = NULL;
}

static void ct_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void ct_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ct_rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Seal @fixed bytes of @buf (secure) followed by @name, from @me to @to. */
static int seal(uint8_t **env, size_t *len, const struct cf_identity *me, const struct cf_pubid *to,
		size_t nto, const char *ad, struct cf_secbuf *buf, size_t fixed, const char *name)
{
	size_t nlen = strlen(name);
	int r;

	if (nlen < 1 || nlen > CF_CONTACT_NAME_MAX)
		return CF_E_INVAL;
	memcpy(cf_secbuf_data(buf) + fixed, name, nlen);
	r = cf_envelope_seal(env, len, me, to, nto, ad, strlen(ad), cf_secbuf_data(buf),
			     fixed + nlen);
	return r;
}

static int payload_buf(struct cf_secbuf **b, const char *magic)
{
	int r = cf_secbuf_new(b, SHARE_FIXED + CF_CONTACT_NAME_MAX);

	if (!r) {
		memcpy(cf_secbuf_data(*b), magic, 4);
		cf_secbuf_data(*b)[4] = 1;
	}
	return r;
}

int cf_contacts_share_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			   const struct cf_pubid *to, size_t nto, const struct cf_contact_msg *m)
{
	struct cf_secbuf *b = NULL;
	uint8_t *p;
	int r;

	if (!m->secret || m->index >= CF_CONTACTS_MAX || m->k < 1 || m->k > m->n)
		return CF_E_INVAL;
	r = payload_buf(&b, "CFCS");
	if (r)
		return r;
	p = cf_secbuf_data(b);
	p[5] = (uint8_t)m->index;
	p[6] = (uint8_t)m->k;
	p[7] = (uint8_t)m->n;
	ct_le32(p + 8, m->epoch);
	memcpy(p + 12, m->repo_id, 32);
	memcpy(p + 44, cf_secbuf_data(m->secret), 32);
	r = seal(env, len, me, to, nto, ad_share, b, SHARE_FIXED, m->name);
	cf_secbuf_free(b);
	return r;
}

int cf_contacts_request_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			     const struct cf_pubid *to, size_t nto, const struct cf_contact_msg *m)
{
	struct cf_secbuf *b = NULL;
	int r = payload_buf(&b, "CFRQ");

	if (r)
		return r;
	memcpy(cf_secbuf_data(b) + 5, m->repo_id, 32);
	ct_le64(cf_secbuf_data(b) + 37, m->device);
	r = seal(env, len, me, to, nto, ad_request, b, REQUEST_FIXED, m->name);
	cf_secbuf_free(b);
	return r;
}

int cf_contacts_release_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			     const struct cf_pubid *to, const struct cf_contact_msg *m)
{
	struct cf_secbuf *b = NULL;
	uint8_t *p;
	int r;

	if (!m->secret || m->index >= CF_CONTACTS_MAX)
		return CF_E_INVAL;
	r = payload_buf(&b, "CFRL");
	if (r)
		return r;
	p = cf_secbuf_data(b);
	p[5] = (uint8_t)m->index;
	memcpy(p + 6, m->repo_id, 32);
	memcpy(p + 38, cf_secbuf_data(m->secret), 32);
	r = seal(env, len, me, to, 1, ad_release, b, RELEASE_FIXED, m->name);
	cf_secbuf_free(b);
	return r;
}

/* Open @env, check the magic and the size, copy the trailing name into @out. */
static int open_msg(struct cf_secbuf **pl, struct cf_contact_msg *out, const struct cf_identity *me,
		    const struct cf_pubid *senders, size_t ns, const char *ad, const char *magic,
		    size_t fixed, const uint8_t *env, size_t len)
{
	size_t who = 0, plen, nlen;
	const uint8_t *p;
	int r;

	memset(out, 0, sizeof(*out));
	r = cf_envelope_open(pl, &who, me, senders, ns, ad, strlen(ad), env, len);
	if (r)
		return r;
	p = cf_secbuf_data(*pl);
	plen = cf_secbuf_len(*pl);
	r = plen < fixed ? CF_E_TRUNCATED
	    : memcmp(p, magic, 4) != 0 || p[4] != 1 ? CF_E_FORMAT
						     : 0;
	nlen = plen - (r ? 0 : fixed);
	if (!r && (nlen < 1 || nlen > CF_CONTACT_NAME_MAX || memchr(p + fixed, 0, nlen)))
		r = CF_E_FORMAT;
	if (r) {
		cf_secbuf_free(*pl);
		*pl = NULL;
		return r;
	}
	memcpy(out->name, p + fixed, nlen);
	out->name[nlen] = 0;
	out->sender = senders[who];
	return 0;
}

int cf_contacts_share_open(struct cf_contact_msg *out, const struct cf_identity *me,
			   const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			   size_t len)
{
	struct cf_secbuf *pl = NULL;
	const uint8_t *p;
	int r = open_msg(&pl, out, me, senders, ns, ad_share, "CFCS", SHARE_FIXED, env, len);

	if (r)
		return r;
	p = cf_secbuf_data(pl);
	out->index = p[5];
	out->k = p[6];
	out->n = p[7];
	out->epoch = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
		     (uint32_t)p[11] << 24;
	memcpy(out->repo_id, p + 12, 32);
	if (out->k < 1 || out->k > out->n || out->n > CF_CONTACTS_MAX || out->index >= out->n)
		r = CF_E_FORMAT;
	if (!r)
		r = cf_secbuf_dup(&out->secret, p + 44, 32);
	cf_secbuf_free(pl);
	return r;
}

int cf_contacts_request_open(struct cf_contact_msg *out, const struct cf_identity *me,
			     const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			     size_t len)
{
	struct cf_secbuf *pl = NULL;
	int r = open_msg(&pl, out, me, senders, ns, ad_request, "CFRQ", REQUEST_FIXED, env, len);

	if (r)
		return r;
	memcpy(out->repo_id, cf_secbuf_data(pl) + 5, 32);
	out->device = ct_rd64(cf_secbuf_data(pl) + 37);
	cf_secbuf_free(pl);
	return 0;
}

int cf_contacts_release_open(struct cf_contact_msg *out, const struct cf_identity *me,
			     const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			     size_t len)
{
	struct cf_secbuf *pl = NULL;
	const uint8_t *p;
	int r = open_msg(&pl, out, me, senders, ns, ad_release, "CFRL", RELEASE_FIXED, env, len);

	if (r)
		return r;
	p = cf_secbuf_data(pl);
	out->index = p[5];
	memcpy(out->repo_id, p + 6, 32);
	r = out->index < CF_CONTACTS_MAX ? cf_secbuf_dup(&out->secret, p + 38, 32) : CF_E_FORMAT;
	cf_secbuf_free(pl);
	return r;
}

void cf_contacts_code(const struct cf_pubid *requester, const uint8_t repo_id[32],
		      char out[CF_CONTACT_CODE_LEN])
{
	static const char label[] = "coffer-contact-code-v1";
	uint8_t buf[sizeof(label) - 1 + CF_PUBID_ENCODED_BYTES + 32], h[32];
	uint64_t v = 0;

	memcpy(buf, label, sizeof(label) - 1);
	cf_pubid_encode(requester, buf + sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1 + CF_PUBID_ENCODED_BYTES, repo_id, 32);
	cf_hash_blake2b(h, sizeof(h), NULL, buf, sizeof(buf));
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	v %= 1000000000000ull;
	snprintf(out, CF_CONTACT_CODE_LEN, "%04u %04u %04u", (unsigned)(v / 100000000ull),
		 (unsigned)(v / 10000 % 10000), (unsigned)(v % 10000));
}

int cf_contacts_code_equal(const char *typed, const char *code)
{
	char a[32], b[32];
	size_t na = 0, nb = 0;

	for (; *typed && na < sizeof(a) - 1; typed++)
		if (*typed != ' ' && *typed != '-')
			a[na++] = *typed;
	for (; *code && nb < sizeof(b) - 1; code++)
		if (*code != ' ')
			b[nb++] = *code;
	return na == nb && na == 12 && cf_core_equal(a, b, na);
}
