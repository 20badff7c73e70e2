/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The escrow key: what seals escrow records (and derives keyvaultd's other server secret,
 * the pseudo-random salts prelogin gives for unknown names). Behind a small operations
 * table so that a PKCS#11 token (an HSM, SoftHSM2 in tests) can replace the key file
 * without touching the rest: seal and open with associated data, and a keyed PRF. The
 * key never leaves the backend; callers see only sealed bytes and opened secrets.
 *
 * Key file backend (docs/keyvaultd.md): a 0600 file of 40 bytes, "CFKVDEK" 0x01 and 32
 * random bytes, read through core/keyfile.h (refused when group or others may read it).
 * Sealed records: 0x01 | XChaCha20-Poly1305 seal (nonce, ciphertext, tag) under
 * kdf_subkey(K, 1, "kvdescrw"); PRF: keyed BLAKE2b-256 under kdf_subkey(K, 2, "kvdprfky").
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

#define CF_KVD_ESCROWKEY_OVERHEAD (1 + 24 + 16)
#define CF_KVD_ESCROWKEY_PRF_BYTES 32
#define CF_KVD_ESCROWKEY_REF_MAX 128

/* A backend. Each function returns 0 or a CF_E_* / -errno code, like the wrappers below. */
struct cf_kvd_escrowkey_ops {
	int (*seal)(void *impl, uint8_t *out, const uint8_t *secret, size_t len,
		    const uint8_t *ad, size_t adlen);
	int (*open)(void *impl, struct cf_secbuf **out, const uint8_t *sealed, size_t len,
		    const uint8_t *ad, size_t adlen);
	int (*prf)(void *impl, uint8_t out[CF_KVD_ESCROWKEY_PRF_BYTES], const void *msg,
		   size_t len);
	void (*free)(void *impl);
};

struct cf_kvd_escrowkey;

/*
 * cf_kvd_escrowkey_new - wrap backend @ops/@impl named @ref ("file:<id>", later
 * "pkcs11:<label>"; stored beside every record it seals, at most 128 bytes). Takes @impl
 * (freed through ops->free even on failure). Sets *@out only on success. Returns 0,
 * CF_E_INVAL or -ENOMEM.
 */
int cf_kvd_escrowkey_new(struct cf_kvd_escrowkey **out, const struct cf_kvd_escrowkey_ops *ops,
			 void *impl, const char *ref);

/*
 * cf_kvd_escrowkey_open_file - the key file backend for @path; with @create a missing
 * file is made (0600, fresh random key, atomically). Sets *@out only on success.
 * Returns 0; CF_E_NOTFOUND (missing, !create); CF_E_PERM (group/other access, other
 * owner, symlink); CF_E_FORMAT (not an escrow key file); -errno; -ENOMEM.
 */
int cf_kvd_escrowkey_open_file(struct cf_kvd_escrowkey **out, const char *path, int create);

/* cf_kvd_escrowkey_free - release (wiping the key). Accepts NULL. */
void cf_kvd_escrowkey_free(struct cf_kvd_escrowkey *k);

/* cf_kvd_escrowkey_ref - the key's reference string (static for the key's lifetime). */
const char *cf_kvd_escrowkey_ref(const struct cf_kvd_escrowkey *k);

/*
 * cf_kvd_escrowkey_seal - seal @len secret bytes with associated data @ad into @out, which
 * holds @len + CF_KVD_ESCROWKEY_OVERHEAD bytes. Returns 0 or CF_E_INVAL.
 */
int cf_kvd_escrowkey_seal(const struct cf_kvd_escrowkey *k, uint8_t *out, const uint8_t *secret,
			  size_t len, const uint8_t *ad, size_t adlen);

/*
 * cf_kvd_escrowkey_open - open @sealed (@len bytes) under @ad into a new secure buffer
 * (set only on success). Returns 0; CF_E_TRUNCATED; CF_E_VERSION; CF_E_AUTH (another key
 * or associated data, altered bytes); -ENOMEM.
 */
int cf_kvd_escrowkey_open(const struct cf_kvd_escrowkey *k, struct cf_secbuf **out,
			  const uint8_t *sealed, size_t len, const uint8_t *ad, size_t adlen);

/* cf_kvd_escrowkey_prf - 32 pseudo-random bytes for @msg, stable for a key. Returns 0. */
int cf_kvd_escrowkey_prf(const struct cf_kvd_escrowkey *k,
			 uint8_t out[CF_KVD_ESCROWKEY_PRF_BYTES], const void *msg, size_t len);
