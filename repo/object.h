/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Encrypted objects and blobs (docs/repository-format.md, "Encrypted object framing" and
 * "Blobs"). Objects: "CFX" 0x01 | type | epoch u32 | nonce[24] | ciphertext | tag, under
 * the epoch's metadata key, AD = "coffer-object-v1" || repo_id || type || epoch.
 * Blobs: nonce[24] | ciphertext(compression u8 || payload) | tag, under the data key
 * (DATA) or metadata key (other types), AD = "coffer-blob-v1" || repo_id || type ||
 * epoch || id. Compression (zstd) is used only when it saves at least 1/32.
 *
 * All parsers here take untrusted bytes: every length is checked before use.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/keys.h"

enum cf_object_type {
	CF_OBJ_PACK_TABLE = 0x10,
	CF_OBJ_INDEX = 0x11,
	CF_OBJ_MANIFEST = 0x12,
	CF_OBJ_FORGET = 0x13,
	CF_OBJ_LOCK = 0x14,
	CF_OBJ_ROSTER = 0x15,
};

#define CF_OBJECT_HEADER_BYTES (4 + 1 + 4 + 24)
#define CF_OBJECT_OVERHEAD (CF_OBJECT_HEADER_BYTES + 16)
#define CF_OBJECT_MAX_PLAIN (256u << 20)
#define CF_BLOB_OVERHEAD (24 + 1 + 16)
#define CF_BLOB_MAX_PLAIN (64u << 20)

/*
 * cf_object_seal - encrypt @pt (@len bytes) as an object of @type under @k. *@out is a
 * malloc'ed buffer of *@outlen bytes (caller frees). Returns 0, CF_E_LIMIT or -ENOMEM.
 */
int cf_object_seal(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_object_type type,
		   const void *pt, size_t len);

/*
 * cf_object_peek - read @type and @epoch from an object's header without decrypting.
 * Returns 0, CF_E_TRUNCATED, CF_E_FORMAT (magic) or CF_E_VERSION.
 */
int cf_object_peek(const uint8_t *in, size_t len, uint8_t *type, uint32_t *epoch);

/*
 * cf_object_open - verify and decrypt an object that must be of @type, with the epoch's
 * keys looked up in @ring. *@pt is malloc'ed (caller frees), NUL-terminated after *@len
 * bytes for JSON convenience. Returns 0; CF_E_TRUNCATED / CF_E_FORMAT / CF_E_VERSION;
 * CF_E_CORRUPT when the type differs; CF_E_NOTFOUND when the epoch's keys are not held
 * ("this device cannot read epoch N"); CF_E_AUTH when authentication fails; -ENOMEM.
 */
int cf_object_open(uint8_t **pt, size_t *len, const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_object_type type,
		   const uint8_t *in, size_t inlen);

/*
 * cf_blob_seal - compress (if it helps) and encrypt @data as a blob of @type with id @id
 * under @k into *@out (malloc'ed, *@outlen bytes). Returns 0, CF_E_LIMIT or -ENOMEM.
 */
int cf_blob_seal(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		 const uint8_t id[CF_BLOB_ID_BYTES], const void *data, size_t len);

/*
 * cf_blob_open - verify, decrypt and decompress a stored blob; @raw_len is the expected
 * plaintext length (from the pack table), at most CF_BLOB_MAX_PLAIN. *@out malloc'ed.
 * Also recomputes the keyed id and compares it with @id (CF_E_CORRUPT when different).
 * Returns 0, CF_E_TRUNCATED, CF_E_AUTH, CF_E_CORRUPT, CF_E_LIMIT or -ENOMEM.
 */
int cf_blob_open(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		 const uint8_t id[CF_BLOB_ID_BYTES], uint32_t raw_len, const uint8_t *in,
		 size_t inlen);

/*
 * cf_blob_open_owned - cf_blob_open() of a malloc'ed @in that it takes over (freed on every
 * path, or handed back as *@out): decrypted in place, so an uncompressed blob costs no
 * second buffer.
 */
int cf_blob_open_owned(uint8_t **out, size_t *outlen, const struct cf_repokeys *k,
		       const uint8_t repo_id[CF_REPO_ID_BYTES], enum cf_blob_type type,
		       const uint8_t id[CF_BLOB_ID_BYTES], uint32_t raw_len, uint8_t *in,
		       size_t inlen);

/* cf_object_id - BLAKE2b-256 of the complete stored bytes: the object's name id. */
void cf_object_id(const uint8_t *bytes, size_t len, uint8_t id[32]);
