/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Snapshot manifests (`snapshots/<id>`) and forget records (`forget/<id>`): signed,
 * encrypted commit points (docs/repository-format.md, "Manifest", "Forget records";
 * byte-exact layout and the JSON field list in docs/repository-manifests.md).
 *
 *   0       4    magic "CFM" 0x01 (forget record: "CFF" 0x01)
 *   4       132  signer: encoded public identity
 *   136     ..   body: encrypted object (CFX framing), type CF_OBJ_MANIFEST / CF_OBJ_FORGET
 *   end-64  64   Ed25519 signature, context "coffer-manifest-v1" / "coffer-forget-v1",
 *                message = repo_id || every byte before the signature
 *
 * The structs below are plain data (a manifest is not secret once decrypted). Decoding
 * verifies, in this order: the name (hash of the bytes), the framing and its limits, the
 * signer against the caller's trusted list (the roster of the object's epoch), the
 * signature, the decryption, then every JSON field.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "repo/keys.h"

#define CF_MANIFEST_ID_BYTES 32
#define CF_MANIFEST_MAX_BYTES (128u << 20)  /* a whole stored manifest */
#define CF_FORGET_MAX_BYTES (64u << 10)     /* a whole stored forget record */
#define CF_MANIFEST_MAX_TREES (1u << 20)
#define CF_MANIFEST_MAX_VANISHED (1u << 20)
#define CF_MANIFEST_MAX_PATH 4096           /* bytes, without the NUL */
#define CF_MANIFEST_MAX_HOST 255
#define CF_MANIFEST_MAX_INT 9007199254740991ull /* 2^53 - 1: every JSON integer */

struct cf_manifest_db {
	char *path;         /* "chat.db": relative to the store */
	uint32_t page_size; /* a power of two, 512..65536 */
	uint64_t pages;
};

struct cf_manifest {
	uint64_t seq;       /* 1.. : one more than the highest sequence the writer knew */
	int has_prev;       /* 0 only for the first snapshot (seq 1) */
	uint8_t prev[CF_MANIFEST_ID_BYTES];
	uint64_t time;      /* unix seconds */
	char *host;         /* at most CF_MANIFEST_MAX_HOST bytes, may be "" */
	char *store;        /* the store folder backed up, non-empty */
	uint8_t *trees;     /* ntrees x 32-byte TREE blob ids, in archive order */
	size_t ntrees;
	uint64_t files, bytes, new_bytes, stored_bytes;
	char **vanished;    /* paths that vanished during the backup, each non-empty */
	size_t nvanished;
	int has_db;         /* 0: "db": null */
	struct cf_manifest_db db;

	/* Set by cf_manifest_decode, ignored by cf_manifest_encode. */
	uint32_t epoch;
	struct cf_pubid signer;
	uint8_t id[CF_MANIFEST_ID_BYTES];
};

struct cf_forget {
	uint64_t seq;                          /* the forgotten manifest's seq */
	uint8_t manifest[CF_MANIFEST_ID_BYTES]; /* its id */
	int has_prev;                          /* its prev (none for seq 1) */
	uint8_t prev[CF_MANIFEST_ID_BYTES];
	uint64_t time;                         /* when it was forgotten */

	/* Set by cf_forget_decode, ignored by cf_forget_encode. */
	uint32_t epoch;
	struct cf_pubid signer;
	uint8_t id[CF_MANIFEST_ID_BYTES];
};

/*
 * cf_manifest_encode - sign and encrypt @m as a manifest of @keys' epoch for @repo_id.
 * Strings must be valid UTF-8 without NUL and within the limits above; integers at most
 * CF_MANIFEST_MAX_INT; seq >= 1. *@out is malloc'ed (*@outlen bytes; the caller frees
 * it; its object id is cf_object_id of those bytes), set only on success.
 * Returns 0, CF_E_INVAL (a field out of range, not UTF-8), CF_E_LIMIT (too many trees or
 * vanished paths, too large a result) or -ENOMEM.
 */
int cf_manifest_encode(uint8_t **out, size_t *outlen, const struct cf_manifest *m,
		       const struct cf_identity *signer, const struct cf_repokeys *keys,
		       const uint8_t repo_id[CF_REPO_ID_BYTES]);

/*
 * cf_manifest_decode - verify and decode the stored manifest @in (@len untrusted bytes)
 * named @expected_id, for @repo_id, accepting only a signer among @trusted (@ntrusted
 * public identities: the roster of the manifest's epoch, see cf_manifest_peek) and
 * decrypting with the epoch's keys from @ring. On success *@out is a new manifest (free
 * with cf_manifest_free) with epoch, signer and id filled in; nothing is set otherwise.
 * Returns 0 or, checked in this order:
 *   CF_E_CORRUPT        the bytes do not hash to @expected_id;
 *   CF_E_TRUNCATED / CF_E_FORMAT / CF_E_VERSION / CF_E_LIMIT   the outer framing;
 *   CF_E_UNTRUSTED      the signer is not in @trusted (any altered signer byte);
 *   CF_E_SIGNATURE      the signature does not verify (any altered byte, other repo_id);
 *   CF_E_NOTFOUND       @ring does not hold the epoch's keys;
 *   CF_E_AUTH           the body does not decrypt (framing errors of the signed body
 *                       are passed through from cf_object_open);
 *   CF_E_CORRUPT        the JSON is malformed, a field is missing, of the wrong type,
 *                       out of range, or a list exceeds its limit;
 *   CF_E_INVAL (NULL arguments), -ENOMEM.
 */
int cf_manifest_decode(struct cf_manifest **out, const uint8_t *in, size_t len,
		       const uint8_t expected_id[CF_MANIFEST_ID_BYTES],
		       const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
		       const struct cf_pubid *trusted, size_t ntrusted);

/*
 * cf_manifest_peek - read the claimed epoch and signer of a stored manifest without
 * verifying anything (to pick the roster to pass to cf_manifest_decode, or to name an
 * unknown signer by fingerprint). @epoch and @signer may be NULL.
 * Returns 0, CF_E_TRUNCATED, CF_E_FORMAT, CF_E_VERSION, CF_E_LIMIT, or the errors of
 * cf_pubid_decode for the signer field.
 */
int cf_manifest_peek(const uint8_t *in, size_t len, uint32_t *epoch, struct cf_pubid *signer);

/*
 * cf_manifest_free - release a manifest whose struct and every member were allocated
 * with malloc (as cf_manifest_decode does). Accepts NULL.
 */
void cf_manifest_free(struct cf_manifest *m);

/*
 * cf_forget_encode - sign and encrypt the forget record @f (same rules and returns as
 * cf_manifest_encode).
 */
int cf_forget_encode(uint8_t **out, size_t *outlen, const struct cf_forget *f,
		     const struct cf_identity *signer, const struct cf_repokeys *keys,
		     const uint8_t repo_id[CF_REPO_ID_BYTES]);

/*
 * cf_forget_decode - verify and decode a stored forget record (magic "CFF", limit
 * CF_FORGET_MAX_BYTES); same order of checks and returns as cf_manifest_decode.
 * Free the result with cf_forget_free.
 */
int cf_forget_decode(struct cf_forget **out, const uint8_t *in, size_t len,
		     const uint8_t expected_id[CF_MANIFEST_ID_BYTES],
		     const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const struct cf_pubid *trusted, size_t ntrusted);

/* cf_forget_peek - as cf_manifest_peek, for a forget record. */
int cf_forget_peek(const uint8_t *in, size_t len, uint32_t *epoch, struct cf_pubid *signer);

/* cf_forget_free - release a forget record from cf_forget_decode. Accepts NULL. */
void cf_forget_free(struct cf_forget *f);
