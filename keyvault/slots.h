/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The key-slot kinds of protection modes (docs/protection-modes.md, "Key slots"), on top
 * of repo/keyslot.h's framing and associated data (AD = "coffer-slot-v1" || repo_id ||
 * cfg_hash || kind || epoch):
 *
 *   contacts (4)    k u8 | n u8 | count u16 LE | count x { mask u16 LE | nonce[24] |
 *                   AEAD(W_T, seed[32]) | tag[16] }, one entry per k-subset T of the n
 *                   contacts (mask: bit i for contact i), in increasing mask order.
 *                   W_T = keyed BLAKE2b-256(key = server share, "coffer-contacts-v1" ||
 *                   repo_id || epoch u32 || mask u16 || secret_i for i in T ascending);
 *                   AEAD's AD = slot AD || mask u16. seed: the contacts identity's seed.
 *   protection (5)  nonce[24] | AEAD(metadata key of the epoch, canonical JSON) | tag[16]:
 *                   the epoch's protection mode and recovery methods (struct below). The
 *                   valid record with the highest seq wins.
 *   link (6)        prev u32 LE | nonce[24] | AEAD(L, MK_prev) | tag[16], L = crypto_kdf
 *                   subkey ("cflink__", 6) of MK_e; AD = slot AD || prev u32: whoever
 *                   holds MK_e may read epoch prev (written only where that exposes
 *                   nothing new: docs/protection-modes.md, "Epoch links").
 *
 * Every parser takes untrusted bytes. Return convention: 0, CF_E_* or -errno; outputs
 * set only on success.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"
#include "repo/keys.h"
#include "repo/keyslot.h"

#define CF_CONTACTS_MAX 10       /* n */
#define CF_CONTACT_SECRET_BYTES 32
#define CF_CONTACT_SEED_BYTES 32
#define CF_SERVER_SHARE_BYTES 32
#define CF_PROTECTION_MAX_NAME 256

enum cf_prot_mode {
	CF_MODE_LOCAL = 0,    /* no key vault account: only this user's devices */
	CF_MODE_STANDARD = 1, /* the epoch's key is escrowed with keyvaultd */
	CF_MODE_ADVANCED = 2, /* devices and recovery methods only */
};

/* A decoded protection record (plain data once decrypted; no key material). */
struct cf_protection {
	uint32_t epoch; /* the slot's epoch (set by open, ignored by create) */
	uint32_t seq;
	enum cf_prot_mode mode;
	uint64_t time;
	char reason[64];   /* "init", "mode-advanced", "device-remove", ... */
	char server[CF_PROTECTION_MAX_NAME + 1];  /* key vault URL, "" when none */
	char account[CF_PROTECTION_MAX_NAME + 1]; /* account name, "" when none */
	int escrowed;                             /* this epoch's key went to keyvaultd */
	int has_recovery_key;
	struct cf_pubid recovery_key; /* the recovery-key identity (docs: "R") */
	uint64_t recovery_key_time;
	int has_contacts;
	struct cf_pubid contacts; /* the contacts identity ("C") */
	uint32_t contacts_epoch;  /* epoch of its contacts (4) slot */
	unsigned k, n;
	char names[CF_CONTACTS_MAX][CF_PROTECTION_MAX_NAME + 1];
};

/* cf_prot_mode_name - "local", "standard" or "advanced". */
const char *cf_prot_mode_name(enum cf_prot_mode m);

/*
 * cf_slots_contacts_create - a contacts slot of @epoch wrapping @seed for every
 * @k-subset of @n contacts (1 <= k <= n <= CF_CONTACTS_MAX) whose secrets are
 * @secrets[0..n). Returns 0, CF_E_INVAL, CF_E_LIMIT or -ENOMEM.
 */
int cf_slots_contacts_create(uint8_t **out, size_t *outlen, const uint8_t repo_id[32],
			     const uint8_t cfg_hash[32], uint32_t epoch, unsigned k, unsigned n,
			     const uint8_t seed[CF_CONTACT_SEED_BYTES],
			     const uint8_t share[CF_SERVER_SHARE_BYTES],
			     const uint8_t (*secrets)[CF_CONTACT_SECRET_BYTES]);

/*
 * cf_slots_contacts_info - k, n and epoch of a contacts slot (framing checked, nothing
 * verified). Returns 0, CF_E_FORMAT, CF_E_TRUNCATED, CF_E_CORRUPT (counts that do not
 * agree), or the errors of cf_keyslot_parse.
 */
int cf_slots_contacts_info(const uint8_t *in, size_t len, unsigned *k, unsigned *n,
			   uint32_t *epoch);

/*
 * cf_slots_contacts_open - the seed, from the server @share and the secrets of the
 * contacts in @have (bit i: @secrets[i] is valid; other entries are ignored). Uses the
 * lowest k-subset of @have. Returns 0; CF_E_NOTFOUND when @have holds fewer than k
 * contacts (nothing is tried); CF_E_AUTH when a share or secret is wrong; the framing
 * errors; -ENOMEM.
 */
int cf_slots_contacts_open(struct cf_secbuf **seed, const uint8_t repo_id[32],
			   const uint8_t cfg_hash[32], const uint8_t *in, size_t len,
			   const uint8_t share[CF_SERVER_SHARE_BYTES],
			   const uint8_t (*secrets)[CF_CONTACT_SECRET_BYTES], unsigned have);

/*
 * cf_slots_protection_create - a protection record for the epoch of @keys.
 * Returns 0, CF_E_INVAL (a field out of range) or -ENOMEM.
 */
int cf_slots_protection_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *keys,
			       const uint8_t repo_id[32], const uint8_t cfg_hash[32],
			       const struct cf_protection *p);

/*
 * cf_slots_protection_open - verify and decode a protection record with the epoch's keys
 * from @ring. Returns 0; CF_E_FORMAT (not a protection slot); CF_E_NOTFOUND (the epoch
 * is not held); CF_E_TRUNCATED; CF_E_AUTH; CF_E_CORRUPT (authentic but malformed);
 * -ENOMEM.
 */
int cf_slots_protection_open(struct cf_protection *out, const struct cf_keyring *ring,
			     const uint8_t repo_id[32], const uint8_t cfg_hash[32],
			     const uint8_t *in, size_t len);

/*
 * cf_slots_link_create - a link slot of the epoch of @from giving @mk_prev (the master
 * key of epoch @prev < that epoch). Returns 0, CF_E_INVAL or -ENOMEM.
 */
int cf_slots_link_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *from,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t prev,
			 const uint8_t mk_prev[CF_MASTER_KEY_BYTES]);

/*
 * cf_slots_link_open - open a link slot with the keys of its epoch from @ring:
 * *@mk_prev (secure, 32 bytes) and *@prev. Returns 0; CF_E_FORMAT (not a link, or prev
 * not below the epoch); CF_E_NOTFOUND (epoch not held); CF_E_TRUNCATED; CF_E_AUTH;
 * -ENOMEM.
 */
int cf_slots_link_open(struct cf_secbuf **mk_prev, uint32_t *prev, const struct cf_keyring *ring,
		       const uint8_t repo_id[32], const uint8_t cfg_hash[32], const uint8_t *in,
		       size_t len);
