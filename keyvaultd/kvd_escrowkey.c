/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_escrowkey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/kdf.h"
#include "core/keyfile.h"
#include "util/log.h"

#define FILE_MAGIC "CFKVDEK\x01"
#define FILE_MAGIC_LEN 8
#define KEY_BYTES 32
#define SEALED_VERSION 0x01

struct cf_kvd_escrowkey {
	const struct cf_kvd_escrowkey_ops *ops;
	void *impl;
	char ref[CF_KVD_ESCROWKEY_REF_MAX + 1];
};

int cf_kvd_escrowkey_new(struct cf_kvd_escrowkey **out, const struct cf_kvd_escrowkey_ops *ops,
			 void *impl, const char *ref)
{
	struct cf_kvd_escrowkey *k;

	if (!ops || !ref || !ref[0] || strlen(ref) > CF_KVD_ESCROWKEY_REF_MAX) {
		if (ops && ops->free)
			ops->free(impl);
		return CF_E_INVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		ops->free(impl);
		return -ENOMEM;
	}
	k->ops = ops;
	k->impl = impl;
	snprintf(k->ref, sizeof(k->ref), "%s", ref);
	*out = k;
	return 0;
}

void cf_kvd_escrowkey_free(struct cf_kvd_escrowkey *k)
{
	if (!k)
		return;
	k->ops->free(k->impl);
	free(k);
}

const char *cf_kvd_escrowkey_ref(const struct cf_kvd_escrowkey *k)
{
	return k->ref;
}

int cf_kvd_escrowkey_seal(const struct cf_kvd_escrowkey *k, uint8_t *out, const uint8_t *secret,
			  size_t len, const uint8_t *ad, size_t adlen)
{
	return k->ops->seal(k->impl, out, secret, len, ad, adlen);
}

int cf_kvd_escrowkey_open(const struct cf_kvd_escrowkey *k, struct cf_secbuf **out,
			  const uint8_t *sealed, size_t len, const uint8_t *ad, size_t adlen)
{
	return k->ops->open(k->impl, out, sealed, len, ad, adlen);
}

int cf_kvd_escrowkey_prf(const struct cf_kvd_escrowkey *k,
			 uint8_t out[CF_KVD_ESCROWKEY_PRF_BYTES], const void *msg, size_t len)
{
	return k->ops->prf(k->impl, out, msg, len);
}

/* ---- the key file backend ---- */

struct filekey {
	uint8_t seal_key[CF_AEAD_KEY_BYTES];
	uint8_t prf_key[CF_HASH_KEY_BYTES];
};

static int file_seal(void *impl, uint8_t *out, const uint8_t *secret, size_t len,
		     const uint8_t *ad, size_t adlen)
{
	struct filekey *fk = impl;

	out[0] = SEALED_VERSION;
	cf_aead_seal(out + 1, secret, len, ad, adlen, fk->seal_key);
	return 0;
}

static int file_open(void *impl, struct cf_secbuf **out, const uint8_t *sealed, size_t len,
		     const uint8_t *ad, size_t adlen)
{
	struct filekey *fk = impl;
	struct cf_secbuf *b = NULL;
	int rc;

	if (len < CF_KVD_ESCROWKEY_OVERHEAD)
		return CF_E_TRUNCATED;
	if (sealed[0] != SEALED_VERSION)
		return CF_E_VERSION;
	rc = cf_secbuf_new(&b, len - CF_KVD_ESCROWKEY_OVERHEAD);
	if (rc)
		return rc;
	rc = cf_aead_open(cf_secbuf_data(b), sealed + 1, len - 1, ad, adlen, fk->seal_key);
	if (rc) {
		cf_secbuf_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

static int file_prf(void *impl, uint8_t out[CF_KVD_ESCROWKEY_PRF_BYTES], const void *msg,
		    size_t len)
{
	struct filekey *fk = impl;

	return cf_hash_blake2b(out, CF_KVD_ESCROWKEY_PRF_BYTES, fk->prf_key, msg, len);
}

static void file_free(void *impl)
{
	cf_secmem_free(impl);
}

static const struct cf_kvd_escrowkey_ops file_ops = {
    .seal = file_seal, .open = file_open, .prf = file_prf, .free = file_free};

/* Read @path, creating it first when missing and @create. */
static int load(const char *path, int create, struct cf_secbuf **out)
{
	uint8_t fresh[FILE_MAGIC_LEN + KEY_BYTES];
	int rc = cf_keyfile_read(path, out);

	if (rc != CF_E_NOTFOUND || !create)
		return rc;
	memcpy(fresh, FILE_MAGIC, FILE_MAGIC_LEN);
	cf_core_random(fresh + FILE_MAGIC_LEN, KEY_BYTES);
	rc = cf_keyfile_write(path, fresh, sizeof(fresh), 1);
	cf_core_wipe(fresh, sizeof(fresh));
	if (rc == CF_E_EXISTS) /* another process made it meanwhile: use theirs */
		rc = 0;
	if (rc)
		return rc;
	cf_log_info("created escrow key file %s", path);
	return cf_keyfile_read(path, out);
}

int cf_kvd_escrowkey_open_file(struct cf_kvd_escrowkey **out, const char *path, int create)
{
	struct cf_secbuf *raw = NULL;
	struct filekey *fk = NULL;
	uint8_t id[CF_HASH_MIN_BYTES];
	char ref[5 + CF_HEX_LEN(8)];
	const uint8_t *key;
	int rc;

	rc = load(path, create, &raw);
	if (rc) {
		cf_log_err("escrow key %s: %s", path, cf_strerror(rc));
		return rc;
	}
	if (cf_secbuf_len(raw) != FILE_MAGIC_LEN + KEY_BYTES ||
	    memcmp(cf_secbuf_data(raw), FILE_MAGIC, FILE_MAGIC_LEN) != 0) {
		cf_log_err("escrow key %s: not a keyvaultd escrow key file", path);
		rc = CF_E_FORMAT;
		goto fail;
	}
	fk = cf_secmem_alloc(sizeof(*fk));
	if (!fk) {
		rc = -ENOMEM;
		goto fail;
	}
	key = cf_secbuf_data(raw) + FILE_MAGIC_LEN;
	if ((rc = cf_kdf_subkey(fk->seal_key, sizeof(fk->seal_key), 1, "kvdescrw", key)) != 0 ||
	    (rc = cf_kdf_subkey(fk->prf_key, sizeof(fk->prf_key), 2, "kvdprfky", key)) != 0)
		goto fail;
	/* the reference names the key without revealing anything about it */
	rc = cf_hash_blake2b(id, sizeof(id), fk->prf_key, "coffer-kvd-keyref-v1", 20);
	if (rc)
		goto fail;
	snprintf(ref, sizeof(ref), "file:");
	cf_encode_hex(ref + 5, id, 8);
	cf_secbuf_free(raw);
	return cf_kvd_escrowkey_new(out, &file_ops, fk, ref);
fail:
	cf_secmem_free(fk);
	cf_secbuf_free(raw);
	return rc;
}
