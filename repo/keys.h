/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The keys of one repository key epoch, derived from its 32-byte master key
 * (docs/repository-format.md, "Key hierarchy"): chunk-id, data, metadata and gear keys.
 * A keyring holds every epoch this device may use for one repository.
 */
#include <stddef.h>
#include <stdint.h>

#define CF_REPO_ID_BYTES 32
#define CF_MASTER_KEY_BYTES 32
#define CF_BLOB_ID_BYTES 32
#define CF_REPOKEY_BYTES 32

/* Blob types (repository-format.md, "Blobs"). */
enum cf_blob_type {
	CF_BLOB_DATA = 1,
	CF_BLOB_TREE = 2,
	CF_BLOB_CHUNKLIST = 3,
};

struct cf_repokeys; /* one epoch; secure memory */
struct cf_keyring;  /* epoch -> cf_repokeys, plus the current epoch */

/*
 * cf_repokeys_new - derive the epoch's subkeys from @mk. Sets *@out only on success.
 * Returns 0 or -ENOMEM.
 */
int cf_repokeys_new(struct cf_repokeys **out, uint32_t epoch,
		    const uint8_t mk[CF_MASTER_KEY_BYTES]);
/* cf_repokeys_free - wipe and release. Accepts NULL. */
void cf_repokeys_free(struct cf_repokeys *k);

uint32_t cf_repokeys_epoch(const struct cf_repokeys *k);
/* The 32-byte subkeys; valid until cf_repokeys_free. */
const uint8_t *cf_repokeys_data(const struct cf_repokeys *k);
const uint8_t *cf_repokeys_meta(const struct cf_repokeys *k);
const uint8_t *cf_repokeys_gear(const struct cf_repokeys *k);
/* cf_repokeys_master - the epoch's master key (for key slots). */
const uint8_t *cf_repokeys_master(const struct cf_repokeys *k);

/* cf_repokeys_blob_id - keyed BLAKE2b-256 of (@type || @data): the dedup id. */
void cf_repokeys_blob_id(const struct cf_repokeys *k, enum cf_blob_type type,
			 const void *data, size_t len, uint8_t id[CF_BLOB_ID_BYTES]);

/* cf_keyring_new - an empty keyring. Returns 0 or -ENOMEM. */
int cf_keyring_new(struct cf_keyring **out);
/* cf_keyring_free - release the ring and every epoch in it (wiped). Accepts NULL. */
void cf_keyring_free(struct cf_keyring *ring);
/*
 * cf_keyring_add - add epoch @epoch with master key @mk; @make_current selects it for
 * new writes. Adding an epoch twice with the same key is a no-op; with another key,
 * CF_E_CORRUPT. Returns 0, CF_E_CORRUPT, CF_E_LIMIT (65535 epochs) or -ENOMEM.
 */
int cf_keyring_add(struct cf_keyring *ring, uint32_t epoch, const uint8_t mk[CF_MASTER_KEY_BYTES],
		   int make_current);
/* cf_keyring_get - the keys of @epoch, or NULL when this device does not hold it. */
const struct cf_repokeys *cf_keyring_get(const struct cf_keyring *ring, uint32_t epoch);
/* cf_keyring_current - the keys new objects are written under, or NULL when empty. */
const struct cf_repokeys *cf_keyring_current(const struct cf_keyring *ring);
