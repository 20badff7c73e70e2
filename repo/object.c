/* SPDX-License-Identifier: ISC */
#include "repo/object.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/error.h"
#include "core/hash.h"

static const uint8_t obj_magic[4] = {'C', 'F', 'X', 0x01};
static const char obj_label[] = "coffer-object-v1";
static const char blob_label[] = "coffer-blob-v1";

#define OBJ_AD_BYTES (sizeof(obj_label) - 1 + CF_REPO_ID_BYTES + 1 + 4)
#define BLOB_AD_BYTES (sizeof(blob_label) - 1 + CF_REPO_ID_BYTES + 1 + 4 + CF_BLOB_ID_BYTES)

enum { COMP_NONE = 0, COMP_ZSTD = 1 };

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void object_ad(uint8_t ad[OBJ_AD_BYTES], const uint8_t repo_id[CF_REPO_ID_BYTES],
		      uint8_t type, uint32_t epoch)
{
	size_t o = sizeof(obj_label) - 1;

	memcpy(ad, obj_label, o);
	memcpy(ad + o, repo_id, CF_REPO_ID_BYTES);
	o += CF_REPO_ID_BYTES;
	ad[o++] = type;
	put_le32(ad + o, epoch);
}

static void blob_ad(uint8_t ad[BLOB_AD_BYTES], const uint8_t repo_id[CF_REPO_ID_BYTES],
		    uint8_t type, uint32_t epoch, const uint8_t id[CF_BLOB_ID_BYTES])
{
	size_t o = sizeof(blob_label) - 1;

	memcpy(ad, blob_label, o);
	memcpy(ad + o, repo_id, CF_REPO_ID_BYTES);
	o += CF_REPO_ID_BYTES;
	ad[o++] = type;
	put_le32(ad + o, epoch);
	memcpy(ad + o + 4, id, CF_BLOB_ID_BYTES);
}

void cf_object_id(const uint8_t *bytes, size_t len, uint8_t id[32])
{
	cf_hash_blake2b(id, 32, NULL, bytes, len);
}

int cf_object_seal(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_object_type type,
		   const void *pt, size_t len)
{
	uint8_t ad[OBJ_AD_BYTES], *buf;
	uint32_t epoch = cf_repokeys_epoch(k);

	if (len > CF_OBJECT_MAX_PLAIN)
		return CF_E_LIMIT;
	buf = malloc(len + CF_OBJECT_OVERHEAD);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, obj_magic, 4);
	buf[4] = (uint8_t)type;
	put_le32(buf + 5, epoch);
	cf_core_random(buf + 9, CF_AEAD_NONCE_BYTES);
	object_ad(ad, repo_id, (uint8_t)type, epoch);
	cf_aead_encrypt(buf + CF_OBJECT_HEADER_BYTES, pt, len, ad, sizeof(ad), buf + 9,
			cf_repokeys_meta(k));
	*out = buf;
	*outlen = len + CF_OBJECT_OVERHEAD;
	return 0;
}

int cf_object_peek(const uint8_t *in, size_t len, uint8_t *type, uint32_t *epoch)
{
	if (len < 4)
		return CF_E_TRUNCATED;
	if (memcmp(in, obj_magic, 3) != 0)
		return CF_E_FORMAT;
	if (in[3] != obj_magic[3])
		return CF_E_VERSION;
	if (len < CF_OBJECT_OVERHEAD)
		return CF_E_TRUNCATED;
	*type = in[4];
	*epoch = get_le32(in + 5);
	return 0;
}

int cf_object_open(uint8_t **pt, size_t *len, const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_object_type type,
		   const uint8_t *in, size_t inlen)
{
	const struct cf_repokeys *k;
	uint8_t ad[OBJ_AD_BYTES], t, *buf;
	uint32_t epoch;
	size_t plen;
	int r;

	r = cf_object_peek(in, inlen, &t, &epoch);
	if (r)
		return r;
	if (t != (uint8_t)type)
		return CF_E_CORRUPT;
	if (inlen - CF_OBJECT_OVERHEAD > CF_OBJECT_MAX_PLAIN)
		return CF_E_LIMIT;
	k = cf_keyring_get(ring, epoch);
	if (!k)
		return CF_E_NOTFOUND;
	plen = inlen - CF_OBJECT_OVERHEAD;
	buf = malloc(plen + 1);
	if (!buf)
		return -ENOMEM;
	object_ad(ad, repo_id, t, epoch);
	r = cf_aead_decrypt(buf, in + CF_OBJECT_HEADER_BYTES, inlen - CF_OBJECT_HEADER_BYTES, ad,
			    sizeof(ad), in + 9, cf_repokeys_meta(k));
	if (r) {
		free(buf);
		return r;
	}
	buf[plen] = 0;
	*pt = buf;
	*len = plen;
	return 0;
}

/*
 * One zstd context pair per thread, kept for the thread's life: ZSTD_compress() would
 * allocate and clear ~1 MiB of match tables for every blob (on the benchmark VM fresh
 * pages are expensive), a kept context reuses them.
 */
/*
 * Blob compression: zstd level 2 with a minimum match of 5 (docs/performance.md,
 * "Compression"): on the medium database 1.5x the speed of level 3 for 1.4 % more bytes.
 */
#define CF_BLOB_ZSTD_LEVEL 2
#define CF_BLOB_ZSTD_MINMATCH 5

struct zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};
static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static int zkey_ok;

static void zctx_free(void *p)
{
	struct zctx *z = p;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static void zkey_init(void)
{
	zkey_ok = pthread_key_create(&zkey, zctx_free) == 0;
}

/* This thread's contexts (made on first use), or NULL without memory: use the plain calls. */
static struct zctx *zctx_get(void)
{
	struct zctx *z;

	pthread_once(&zonce, zkey_init);
	if (!zkey_ok)
		return NULL;
	z = pthread_getspecific(zkey);
	if (z)
		return z;
	z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->c = ZSTD_createCCtx();
	z->d = ZSTD_createDCtx();
	if (!z->c || !z->d || ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel,
	                                                           CF_BLOB_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_minMatch, CF_BLOB_ZSTD_MINMATCH)) ||
	    pthread_setspecific(zkey, z) != 0) {
		zctx_free(z);
		return NULL;
	}
	return z;
}

static size_t compress(void *dst, size_t cap, const void *src, size_t len)
{
	struct zctx *z = zctx_get();

	return z ? ZSTD_compress2(z->c, dst, cap, src, len)
		 : ZSTD_compress(dst, cap, src, len, CF_BLOB_ZSTD_LEVEL);
}

static size_t decompress(void *dst, size_t cap, const void *src, size_t len)
{
	struct zctx *z = zctx_get();

	return z ? ZSTD_decompressDCtx(z->d, dst, cap, src, len) : ZSTD_decompress(dst, cap, src, len);
}

static const uint8_t *blob_key(const struct cf_repokeys *k, enum cf_blob_type type)
{
	return type == CF_BLOB_DATA ? cf_repokeys_data(k) : cf_repokeys_meta(k);
}

int cf_blob_seal(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		 const uint8_t id[CF_BLOB_ID_BYTES], const void *data, size_t len)
{
	uint8_t ad[BLOB_AD_BYTES], *buf, *body;
	size_t bound, plen = len;
	uint8_t comp = COMP_NONE;

	if (len > CF_BLOB_MAX_PLAIN)
		return CF_E_LIMIT;
	bound = ZSTD_compressBound(len);
	if (bound < len)
		bound = len;
	buf = malloc(CF_BLOB_OVERHEAD + bound);
	if (!buf)
		return -ENOMEM;
	body = buf + CF_AEAD_NONCE_BYTES;
	if (len >= 64) {
		size_t c = compress(body + 1, bound, data, len);
		/* keep compression only when it saves at least 1/32 */
		if (!ZSTD_isError(c) && c < len - len / 32) {
			comp = COMP_ZSTD;
			plen = c;
		}
	}
	if (comp == COMP_NONE && len)
		memcpy(body + 1, data, len);
	body[0] = comp;
	cf_core_random(buf, CF_AEAD_NONCE_BYTES);
	blob_ad(ad, repo_id, (uint8_t)type, cf_repokeys_epoch(k), id);
	cf_aead_encrypt(body, body, 1 + plen, ad, sizeof(ad), buf, blob_key(k, type));
	*out = buf;
	*outlen = CF_BLOB_OVERHEAD + plen;
	return 0;
}

int cf_blob_open_owned(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		       const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		       const uint8_t id[CF_BLOB_ID_BYTES], uint32_t raw_len, uint8_t *in,
		       size_t inlen)
{
	uint8_t ad[BLOB_AD_BYTES], check[CF_BLOB_ID_BYTES], *body, *raw = NULL;
	size_t blen;
	int r;

	r = inlen < CF_BLOB_OVERHEAD ? CF_E_TRUNCATED : 0;
	if (!r && (raw_len > CF_BLOB_MAX_PLAIN ||
		   inlen - CF_BLOB_OVERHEAD > CF_BLOB_MAX_PLAIN + 4096))
		r = CF_E_LIMIT;
	if (r)
		goto fail;
	/* in place: nonce || body || tag, the body decrypted where it lies */
	body = in + CF_AEAD_NONCE_BYTES;
	blen = inlen - CF_AEAD_NONCE_BYTES - CF_AEAD_TAG_BYTES;
	blob_ad(ad, repo_id, (uint8_t)type, cf_repokeys_epoch(k), id);
	r = cf_aead_decrypt(body, body, inlen - CF_AEAD_NONCE_BYTES, ad, sizeof(ad), in,
			    blob_key(k, type));
	if (r)
		goto fail;
	r = CF_E_CORRUPT;
	if (body[0] == COMP_NONE) {
		if (blen - 1 != raw_len)
			goto fail;
		memmove(in, body + 1, raw_len); /* the plaintext to the buffer's start */
		raw = in;
		in = NULL;
	} else if (body[0] == COMP_ZSTD) {
		unsigned long long fcs = ZSTD_getFrameContentSize(body + 1, blen - 1);
		size_t got;

		if (fcs != raw_len)
			goto fail;
		raw = malloc(raw_len ? raw_len : 1);
		if (!raw) {
			r = -ENOMEM;
			goto fail;
		}
		got = decompress(raw, raw_len, body + 1, blen - 1);
		if (ZSTD_isError(got) || got != raw_len)
			goto fail;
	} else {
		goto fail;
	}
	cf_repokeys_blob_id(k, type, raw, raw_len, check);
	if (!cf_core_equal(check, id, CF_BLOB_ID_BYTES))
		goto fail;
	free(in);
	*out = raw;
	*outlen = raw_len;
	return 0;
fail:
	free(in);
	free(raw);
	return r;
}

int cf_blob_open(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		 const uint8_t id[CF_BLOB_ID_BYTES], uint32_t raw_len, const uint8_t *in,
		 size_t inlen)
{
	uint8_t *copy = malloc(inlen ? inlen : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, in, inlen);
	return cf_blob_open_owned(out, outlen, k, repo_id, type, id, raw_len, copy, inlen);
}
