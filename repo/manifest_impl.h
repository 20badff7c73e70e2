/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Internal to repo/manifest*.c, and used by their tests and fuzzers: the signed
 * container shared by manifests and forget records, and the JSON bodies on their own.
 * Not part of the repository API: callers use repo/manifest.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "repo/keys.h"
#include "repo/manifest.h"

enum cf_signed_kind {
	CF_SIGNED_MANIFEST = 0, /* "CFM", "coffer-manifest-v1", CF_OBJ_MANIFEST */
	CF_SIGNED_FORGET = 1,   /* "CFF", "coffer-forget-v1", CF_OBJ_FORGET */
};

#define CF_SIGNED_MAGIC_BYTES 4
#define CF_SIGNED_SIGNER_OFF 4
#define CF_SIGNED_BODY_OFF (4 + CF_PUBID_ENCODED_BYTES)

/*
 * cf_signed_seal - wrap the plaintext @pt (@ptlen bytes, any content) as a signed object
 * of @kind: encrypt it with cf_object_seal under @keys, prefix magic and the signer's
 * encoded identity, sign. *@out malloc'ed, set only on success.
 * Returns 0, CF_E_LIMIT (result above the kind's size limit) or -ENOMEM.
 */
int cf_signed_seal(uint8_t **out, size_t *outlen, enum cf_signed_kind kind,
		   const struct cf_identity *signer, const struct cf_repokeys *keys,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], const void *pt, size_t ptlen);

/*
 * cf_signed_open - verify and decrypt a signed object of @kind, in the order documented
 * at cf_manifest_decode (up to and including decryption). On success *@pt is the
 * malloc'ed, NUL-terminated plaintext of *@ptlen bytes, and *@epoch and *@signer are
 * set. Returns the codes of cf_manifest_decode except the JSON ones.
 */
int cf_signed_open(uint8_t **pt, size_t *ptlen, uint32_t *epoch, struct cf_pubid *signer,
		   enum cf_signed_kind kind, const uint8_t *in, size_t len,
		   const uint8_t expected_id[CF_MANIFEST_ID_BYTES], const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], const struct cf_pubid *trusted,
		   size_t ntrusted);

/*
 * cf_manifest_to_json / cf_forget_to_json - the canonical JSON body (compact, keys
 * sorted, UTF-8) into *@out (malloc'ed, NUL-terminated, *@len bytes without the NUL).
 * Returns 0, CF_E_INVAL, CF_E_LIMIT or -ENOMEM.
 */
int cf_manifest_to_json(char **out, size_t *len, const struct cf_manifest *m);
int cf_forget_to_json(char **out, size_t *len, const struct cf_forget *f);

/*
 * cf_manifest_from_json / cf_forget_from_json - parse and validate a decrypted body
 * (@len bytes at @json, untrusted). Sets *@out only on success; the decode-only fields
 * (epoch, signer, id) are zero. Returns 0, CF_E_VERSION (a zstd frame: compressed
 * bodies are not read by this build), CF_E_CORRUPT or -ENOMEM.
 */
int cf_manifest_from_json(struct cf_manifest **out, const char *json, size_t len);
int cf_forget_from_json(struct cf_forget **out, const char *json, size_t len);
