/* SPDX-License-Identifier: ISC */
/*
 * Signed objects: snapshot manifests and forget records (docs/repository-manifests.md).
 *
 *   0       4    magic "CFM" 0x01 / "CFF" 0x01
 *   4       132  signer: encoded public identity (compared byte for byte with the
 *                trusted list, never interpreted before that)
 *   136     B    body: encrypted object framing (repo/object.h), type 0x12 / 0x13
 *   136+B   64   signature: cf_identity_sign(context, repo_id || bytes [0, 136+B))
 *
 * Nothing inside the signed region is interpreted before the signature verifies (the
 * body's epoch only selects the keys afterwards), so one altered byte anywhere in the
 * body gives CF_E_SIGNATURE, and anywhere in the signer CF_E_UNTRUSTED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/manifest_impl.h"
#include "repo/object.h"
#include "util/log.h"

struct kind_info {
	uint8_t magic[CF_SIGNED_MAGIC_BYTES];
	const char *context;
	const char *what;
	enum cf_object_type type;
	size_t max;
};

static const struct kind_info kinds[] = {
	[CF_SIGNED_MANIFEST] = {{'C', 'F', 'M', 0x01}, "coffer-manifest-v1", "manifest",
				CF_OBJ_MANIFEST, CF_MANIFEST_MAX_BYTES},
	[CF_SIGNED_FORGET] = {{'C', 'F', 'F', 0x01}, "coffer-forget-v1", "forget record",
			      CF_OBJ_FORGET, CF_FORGET_MAX_BYTES},
};

#define SIG_BYTES CF_SIGNATURE_BYTES
#define MIN_BYTES (CF_SIGNED_BODY_OFF + CF_OBJECT_OVERHEAD + SIG_BYTES)

static const struct kind_info *kind_get(enum cf_signed_kind kind)
{
	if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
		return NULL;
	return &kinds[kind];
}

/* The outer framing: magic, version, minimum and maximum size. */
static int frame_check(const struct kind_info *k, const uint8_t *in, size_t len)
{
	if (len < CF_SIGNED_MAGIC_BYTES)
		return CF_E_TRUNCATED;
	if (memcmp(in, k->magic, CF_SIGNED_MAGIC_BYTES - 1) != 0)
		return CF_E_FORMAT;
	if (in[CF_SIGNED_MAGIC_BYTES - 1] != k->magic[CF_SIGNED_MAGIC_BYTES - 1])
		return CF_E_VERSION;
	if (len < MIN_BYTES)
		return CF_E_TRUNCATED;
	if (len > k->max)
		return CF_E_LIMIT;
	return 0;
}

int cf_signed_seal(uint8_t **out, size_t *outlen, enum cf_signed_kind kind,
		   const struct cf_identity *signer, const struct cf_repokeys *keys,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], const void *pt, size_t ptlen)
{
	const struct kind_info *k = kind_get(kind);
	uint8_t *body = NULL, *buf = NULL, *obj;
	struct cf_pubid pub;
	size_t blen, total;
	int r;

	if (!k || !out || !outlen || !signer || !keys || !repo_id || (!pt && ptlen))
		return CF_E_INVAL;
	r = cf_object_seal(&body, &blen, keys, repo_id, k->type, pt, ptlen);
	if (r)
		return r;
	if (blen > k->max - MIN_BYTES + CF_OBJECT_OVERHEAD) {
		r = CF_E_LIMIT;
		goto fail;
	}
	total = CF_SIGNED_BODY_OFF + blen + SIG_BYTES;
	/* Built after repo_id, so the signed message is one contiguous buffer. */
	buf = malloc(CF_REPO_ID_BYTES + total);
	if (!buf) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(buf, repo_id, CF_REPO_ID_BYTES);
	obj = buf + CF_REPO_ID_BYTES;
	memcpy(obj, k->magic, CF_SIGNED_MAGIC_BYTES);
	cf_identity_public(signer, &pub);
	cf_pubid_encode(&pub, obj + CF_SIGNED_SIGNER_OFF);
	memcpy(obj + CF_SIGNED_BODY_OFF, body, blen);
	cf_identity_sign(signer, k->context, buf, CF_REPO_ID_BYTES + total - SIG_BYTES,
			 obj + total - SIG_BYTES);
	memmove(buf, obj, total);
	free(body);
	*out = buf;
	*outlen = total;
	return 0;
fail:
	free(body);
	free(buf);
	return r;
}

/* Index of the trusted identity whose encoding is exactly @enc, or -1. */
static long trusted_index(const uint8_t *enc, const struct cf_pubid *trusted, size_t n)
{
	uint8_t t[CF_PUBID_ENCODED_BYTES];

	for (size_t i = 0; i < n; i++) {
		cf_pubid_encode(&trusted[i], t);
		if (memcmp(t, enc, sizeof(t)) == 0)
			return (long)i;
	}
	return -1;
}

static int verify_signature(const struct kind_info *k, const struct cf_pubid *signer,
			    const uint8_t *in, size_t len, const uint8_t repo_id[CF_REPO_ID_BYTES])
{
	size_t mlen = CF_REPO_ID_BYTES + len - SIG_BYTES;
	uint8_t *msg = malloc(mlen);
	int r;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, repo_id, CF_REPO_ID_BYTES);
	memcpy(msg + CF_REPO_ID_BYTES, in, len - SIG_BYTES);
	r = cf_pubid_verify(signer, k->context, msg, mlen, in + len - SIG_BYTES);
	free(msg);
	return r;
}

int cf_signed_open(uint8_t **pt, size_t *ptlen, uint32_t *epoch, struct cf_pubid *signer,
		   enum cf_signed_kind kind, const uint8_t *in, size_t len,
		   const uint8_t expected_id[CF_MANIFEST_ID_BYTES], const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], const struct cf_pubid *trusted,
		   size_t ntrusted)
{
	const struct kind_info *k = kind_get(kind);
	uint8_t id[CF_MANIFEST_ID_BYTES], type, *p = NULL;
	uint32_t ep;
	size_t plen;
	long who;
	int r;

	if (!k || !pt || !ptlen || !epoch || !signer || (!in && len) || !expected_id || !ring ||
	    !repo_id || (!trusted && ntrusted))
		return CF_E_INVAL;

	cf_object_id(in, len, id);
	if (memcmp(id, expected_id, sizeof(id)) != 0) {
		cf_log_warn("%s: content does not match its name", k->what);
		return CF_E_CORRUPT;
	}
	r = frame_check(k, in, len);
	if (r)
		return r;
	who = trusted_index(in + CF_SIGNED_SIGNER_OFF, trusted, ntrusted);
	if (who < 0)
		return CF_E_UNTRUSTED;
	r = verify_signature(k, &trusted[who], in, len, repo_id);
	if (r)
		return r;
	/* Signed: the body's header may be read now (epoch for the caller). */
	r = cf_object_peek(in + CF_SIGNED_BODY_OFF, len - CF_SIGNED_BODY_OFF - SIG_BYTES, &type,
			   &ep);
	if (r)
		return r;
	r = cf_object_open(&p, &plen, ring, repo_id, k->type, in + CF_SIGNED_BODY_OFF,
			   len - CF_SIGNED_BODY_OFF - SIG_BYTES);
	if (r)
		return r;
	*pt = p;
	*ptlen = plen;
	*epoch = ep;
	*signer = trusted[who];
	return 0;
}

static int signed_peek(enum cf_signed_kind kind, const uint8_t *in, size_t len, uint32_t *epoch,
		       struct cf_pubid *signer)
{
	const struct kind_info *k = kind_get(kind);
	struct cf_pubid pub;
	uint8_t type;
	uint32_t ep;
	int r;

	if (!in && len)
		return CF_E_INVAL;
	r = frame_check(k, in, len);
	if (r)
		return r;
	r = cf_pubid_decode(&pub, in + CF_SIGNED_SIGNER_OFF, CF_PUBID_ENCODED_BYTES);
	if (r)
		return r;
	r = cf_object_peek(in + CF_SIGNED_BODY_OFF, len - CF_SIGNED_BODY_OFF - SIG_BYTES, &type,
			   &ep);
	if (r)
		return r;
	if (type != k->type)
		return CF_E_FORMAT;
	if (epoch)
		*epoch = ep;
	if (signer)
		*signer = pub;
	return 0;
}

/* ---- manifests ---------------------------------------------------------------------- */

int cf_manifest_encode(uint8_t **out, size_t *outlen, const struct cf_manifest *m,
		       const struct cf_identity *signer, const struct cf_repokeys *keys,
		       const uint8_t repo_id[CF_REPO_ID_BYTES])
{
	char *json = NULL;
	size_t jlen;
	int r;

	if (!out || !outlen || !m || !signer || !keys || !repo_id)
		return CF_E_INVAL;
	r = cf_manifest_to_json(&json, &jlen, m);
	if (r)
		return r;
	r = cf_signed_seal(out, outlen, CF_SIGNED_MANIFEST, signer, keys, repo_id, json, jlen);
	free(json);
	return r;
}

int cf_manifest_decode(struct cf_manifest **out, const uint8_t *in, size_t len,
		       const uint8_t expected_id[CF_MANIFEST_ID_BYTES],
		       const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
		       const struct cf_pubid *trusted, size_t ntrusted)
{
	struct cf_manifest *m = NULL;
	struct cf_pubid signer;
	uint8_t *pt = NULL;
	uint32_t epoch;
	size_t ptlen;
	int r;

	if (!out)
		return CF_E_INVAL;
	r = cf_signed_open(&pt, &ptlen, &epoch, &signer, CF_SIGNED_MANIFEST, in, len,
			   expected_id, ring, repo_id, trusted, ntrusted);
	if (r)
		return r;
	r = cf_manifest_from_json(&m, (const char *)pt, ptlen);
	free(pt);
	if (r) {
		if (r == CF_E_CORRUPT)
			cf_log_warn("manifest: signed body is not a valid manifest");
		return r;
	}
	m->epoch = epoch;
	m->signer = signer;
	memcpy(m->id, expected_id, CF_MANIFEST_ID_BYTES);
	*out = m;
	return 0;
}

int cf_manifest_peek(const uint8_t *in, size_t len, uint32_t *epoch, struct cf_pubid *signer)
{
	return signed_peek(CF_SIGNED_MANIFEST, in, len, epoch, signer);
}

/* ---- forget records ----------------------------------------------------------------- */

int cf_forget_encode(uint8_t **out, size_t *outlen, const struct cf_forget *f,
		     const struct cf_identity *signer, const struct cf_repokeys *keys,
		     const uint8_t repo_id[CF_REPO_ID_BYTES])
{
	char *json = NULL;
	size_t jlen;
	int r;

	if (!out || !outlen || !f || !signer || !keys || !repo_id)
		return CF_E_INVAL;
	r = cf_forget_to_json(&json, &jlen, f);
	if (r)
		return r;
	r = cf_signed_seal(out, outlen, CF_SIGNED_FORGET, signer, keys, repo_id, json, jlen);
	free(json);
	return r;
}

int cf_forget_decode(struct cf_forget **out, const uint8_t *in, size_t len,
		     const uint8_t expected_id[CF_MANIFEST_ID_BYTES],
		     const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const struct cf_pubid *trusted, size_t ntrusted)
{
	struct cf_forget *f = NULL;
	struct cf_pubid signer;
	uint8_t *pt = NULL;
	uint32_t epoch;
	size_t ptlen;
	int r;

	if (!out)
		return CF_E_INVAL;
	r = cf_signed_open(&pt, &ptlen, &epoch, &signer, CF_SIGNED_FORGET, in, len, expected_id,
			   ring, repo_id, trusted, ntrusted);
	if (r)
		return r;
	r = cf_forget_from_json(&f, (const char *)pt, ptlen);
	free(pt);
	if (r) {
		if (r == CF_E_CORRUPT)
			cf_log_warn("forget record: signed body is not a valid record");
		return r;
	}
	f->epoch = epoch;
	f->signer = signer;
	memcpy(f->id, expected_id, CF_MANIFEST_ID_BYTES);
	*out = f;
	return 0;
}

int cf_forget_peek(const uint8_t *in, size_t len, uint32_t *epoch, struct cf_pubid *signer)
{
	return signed_peek(CF_SIGNED_FORGET, in, len, epoch, signer);
}
