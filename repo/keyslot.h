/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Key slots and epoch rosters (`keys/<id>`; docs/repository-format.md, "Key slots";
 * byte-exact bodies in docs/repository-manifests.md):
 *
 *   0   4  magic "CFS" 0x01
 *   4   1  kind (enum cf_keyslot_kind)
 *   5   4  epoch u32 LE (>= 1)
 *   9   4  body length L u32 LE (<= CF_KEYSLOT_MAX_BODY)
 *   13  L  body
 *
 * Every body is bound to the associated data
 *   "coffer-slot-v1" || repo_id[32] || cfg_hash[32] || kind u8 || epoch u32 LE
 * so a slot moved to another repository, kind or epoch, or read with an altered config,
 * opens nothing.
 *
 *   device (1)        a core envelope (core/envelope.h) from the creating device to one
 *                     recipient device; payload MK_e (32 bytes).
 *   recovery key (3)  salt[16] || argon2 set u8 || nonce[24] || AEAD(KEK, MK_e) || tag[16],
 *                     KEK = Argon2id(recovery key binary form, salt, set).
 *   roster (16)       nonce[24] || AEAD(metadata key of epoch e, roster) || tag[16],
 *                     roster = seq u32 || n u16 || n x encoded public identity (132).
 *   recovery contacts (4), protection record (5), epoch link (6): bodies defined
 *                     and parsed in keyvault/slots.h (docs/protection-modes.md).
 *   escrow (2), any other kind: opaque here; parsed, never refused for being present
 *                     (Coffer stores no escrow slot: keyvaultd holds the escrow copy).
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/kdf.h"
#include "core/recoverykey.h"
#include "core/secbuf.h"
#include "repo/keys.h"

enum cf_keyslot_kind {
	CF_SLOT_DEVICE = 1,
	CF_SLOT_ESCROW = 2,
	CF_SLOT_RECOVERY_KEY = 3,
	CF_SLOT_CONTACTS = 4,
	CF_SLOT_PROTECTION = 5, /* keyvault/slots.h */
	CF_SLOT_LINK = 6,       /* keyvault/slots.h */
	CF_SLOT_ROSTER = 16,
};

#define CF_KEYSLOT_HEADER_BYTES 13
#define CF_KEYSLOT_MAX_BODY (1u << 20)
#define CF_CFG_HASH_BYTES 32
#define CF_ROSTER_MAX 1024 /* identities in one roster */

/* A parsed slot header: a view into the caller's bytes (valid while they are). */
struct cf_keyslot {
	uint8_t kind;
	uint32_t epoch;
	const uint8_t *body;
	size_t body_len;
};

/* A verified roster: the devices trusted to sign objects of @epoch. Plain data. */
struct cf_roster {
	uint32_t epoch;
	uint32_t seq;
	size_t n;
	struct cf_pubid *ids; /* n entries, distinct */
};

/*
 * cf_keyslot_cfg_hash - BLAKE2b-256 of the exact `config` object bytes: the cfg_hash
 * bound into every slot.
 */
void cf_keyslot_cfg_hash(const uint8_t *config, size_t len, uint8_t out[CF_CFG_HASH_BYTES]);

/*
 * cf_keyslot_parse - parse the header of a stored slot (@len untrusted bytes). *@out is
 * filled only on success and points into @in. Any kind 1..255 parses (unknown kinds are
 * for the caller to skip). Returns 0; CF_E_TRUNCATED (shorter than the header or than
 * its body length); CF_E_FORMAT (wrong magic, kind 0, epoch 0, bytes after the body);
 * CF_E_VERSION (slot version other than 1); CF_E_LIMIT (body length above
 * CF_KEYSLOT_MAX_BODY); CF_E_INVAL (NULL arguments).
 */
int cf_keyslot_parse(struct cf_keyslot *out, const uint8_t *in, size_t len);

/*
 * cf_keyslot_device_create - a device slot giving @mk (the master key of @epoch) to
 * @recipient, sealed and signed by @sender. *@out malloc'ed (*@outlen bytes), set only
 * on success. Returns 0, CF_E_INVAL (epoch 0, NULL arguments), CF_E_CORRUPT (a
 * recipient key of low order) or -ENOMEM.
 */
int cf_keyslot_device_create(uint8_t **out, size_t *outlen, const struct cf_identity *sender,
			     const struct cf_pubid *recipient,
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			     const uint8_t mk[CF_MASTER_KEY_BYTES]);

/*
 * cf_keyslot_device_open - open a device slot as @me, accepting only a creator among
 * @senders (@nsenders identities, e.g. the user's known devices). On success *@mk is a
 * new secure buffer of CF_MASTER_KEY_BYTES and *@epoch (may be NULL) the slot's epoch.
 * Returns 0 or: the errors of cf_keyslot_parse; CF_E_FORMAT when the slot is not a
 * device slot; the errors of cf_envelope_open in its order (CF_E_UNTRUSTED for a
 * creator not in @senders, CF_E_SIGNATURE for another repo_id / cfg_hash / epoch or any
 * altered byte, CF_E_NOTRECIPIENT when it is not for @me, CF_E_AUTH); CF_E_CORRUPT when
 * the payload is not 32 bytes; -ENOMEM. A device looking for its slots skips
 * CF_E_UNTRUSTED and CF_E_NOTRECIPIENT.
 */
int cf_keyslot_device_open(struct cf_secbuf **mk, uint32_t *epoch, const struct cf_identity *me,
			   const struct cf_pubid *senders, size_t nsenders,
			   const uint8_t repo_id[CF_REPO_ID_BYTES],
			   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in,
			   size_t len);

/*
 * cf_keyslot_recovery_create - a recovery-key slot for @mk of @epoch: KEK =
 * Argon2id(@rk, fresh salt, @set) (CF_ARGON2_MODERATE in production). *@out malloc'ed,
 * set only on success. Returns 0, CF_E_INVAL (epoch 0, a set cf_kdf_argon2id refuses,
 * NULL arguments) or -ENOMEM.
 */
int cf_keyslot_recovery_create(uint8_t **out, size_t *outlen,
			       const uint8_t rk[CF_RECOVERY_KEY_BYTES], enum cf_argon2_params set,
			       const uint8_t repo_id[CF_REPO_ID_BYTES],
			       const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			       const uint8_t mk[CF_MASTER_KEY_BYTES]);

/*
 * cf_keyslot_recovery_open - open a recovery-key slot with the recovery key's binary
 * form @rk. On success *@mk is a new secure buffer (32 bytes), *@epoch (may be NULL)
 * the slot's epoch. Returns 0 or: the errors of cf_keyslot_parse; CF_E_FORMAT (not a
 * recovery-key slot, or a body longer than its layout); CF_E_TRUNCATED (shorter);
 * CF_E_VERSION (an Argon2 parameter set this build does not know); CF_E_UNSAFE (the
 * test parameter set outside tests); CF_E_AUTH (wrong key, another repo_id / cfg_hash /
 * epoch, any altered byte); -ENOMEM.
 */
int cf_keyslot_recovery_open(struct cf_secbuf **mk, uint32_t *epoch,
			     const uint8_t rk[CF_RECOVERY_KEY_BYTES],
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in,
			     size_t len);

/*
 * The same recovery-key slot in two steps, so that one Argon2id run serves many slots
 * (one per epoch, all with the same salt):
 *
 * cf_keyslot_recovery_kek - KEK = Argon2id(@rk, @salt, @set) into a new secure buffer
 * (CF_KEYSLOT_KEK_BYTES). Returns 0, CF_E_INVAL (a set cf_kdf_argon2id refuses, NULL
 * arguments) or -ENOMEM.
 *
 * cf_keyslot_recovery_seal - a recovery-key slot for @mk of @epoch under @kek, recording
 * @salt and @set. Same returns as cf_keyslot_recovery_create.
 *
 * cf_keyslot_recovery_params - read the salt, parameter set and epoch of a recovery-key
 * slot (untrusted bytes; nothing is verified but the framing). Returns 0 or the framing
 * errors of cf_keyslot_recovery_open (CF_E_FORMAT, CF_E_TRUNCATED, CF_E_VERSION, ...).
 *
 * cf_keyslot_recovery_open_kek - cf_keyslot_recovery_open with the KEK already derived.
 * Returns 0, the framing errors, CF_E_AUTH (another KEK, any altered byte) or -ENOMEM.
 */
#define CF_KEYSLOT_KEK_BYTES 32
int cf_keyslot_recovery_kek(struct cf_secbuf **kek, const uint8_t rk[CF_RECOVERY_KEY_BYTES],
			    const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params set);
int cf_keyslot_recovery_seal(uint8_t **out, size_t *outlen,
			     const uint8_t kek[CF_KEYSLOT_KEK_BYTES],
			     const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params set,
			     const uint8_t repo_id[CF_REPO_ID_BYTES],
			     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t epoch,
			     const uint8_t mk[CF_MASTER_KEY_BYTES]);
int cf_keyslot_recovery_params(const uint8_t *in, size_t len,
			       uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params *set,
			       uint32_t *epoch);
int cf_keyslot_recovery_open_kek(struct cf_secbuf **mk, uint32_t *epoch,
				 const uint8_t kek[CF_KEYSLOT_KEK_BYTES],
				 const uint8_t repo_id[CF_REPO_ID_BYTES],
				 const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in,
				 size_t len);

/*
 * For slot kinds whose bodies are defined elsewhere (keyvault/slots.h: contacts,
 * protection records, epoch links):
 *
 * cf_keyslot_ad - the associated data every slot body is bound to (see the top).
 * cf_keyslot_new - a malloc'ed slot of @kind and @epoch (both non-zero) with room for a
 * @blen-byte body (<= CF_KEYSLOT_MAX_BODY) at *@body; NULL on a bad argument or no memory.
 * The slot is CF_KEYSLOT_HEADER_BYTES + @blen bytes long.
 */
#define CF_KEYSLOT_AD_BYTES (14 + CF_REPO_ID_BYTES + CF_CFG_HASH_BYTES + 1 + 4)
void cf_keyslot_ad(uint8_t ad[CF_KEYSLOT_AD_BYTES], const uint8_t repo_id[CF_REPO_ID_BYTES],
		   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint8_t kind, uint32_t epoch);
uint8_t *cf_keyslot_new(uint8_t kind, uint32_t epoch, size_t blen, uint8_t **body);

/*
 * cf_roster_create - a roster slot for the epoch of @keys, listing @n (1..CF_ROSTER_MAX)
 * distinct identities @ids under sequence @seq. *@out malloc'ed, set only on success.
 * Returns 0, CF_E_INVAL (n == 0, an identity listed twice, NULL arguments), CF_E_LIMIT
 * or -ENOMEM.
 */
int cf_roster_create(uint8_t **out, size_t *outlen, const struct cf_repokeys *keys,
		     const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], uint32_t seq,
		     const struct cf_pubid *ids, size_t n);

/*
 * cf_roster_open - verify and decode one roster slot with the epoch's keys from @ring.
 * *@out (free with cf_roster_free) set only on success. Returns 0 or: the errors of
 * cf_keyslot_parse; CF_E_FORMAT (not a roster slot); CF_E_NOTFOUND (@ring does not hold
 * the epoch); CF_E_TRUNCATED (body shorter than nonce and tag); CF_E_AUTH (another key,
 * repo_id, cfg_hash or epoch, any altered byte); CF_E_CORRUPT (authentic but malformed:
 * count 0 or above CF_ROSTER_MAX, length mismatch, an identity that does not decode, a
 * duplicate); -ENOMEM.
 */
int cf_roster_open(struct cf_roster **out, const struct cf_keyring *ring,
		   const uint8_t repo_id[CF_REPO_ID_BYTES],
		   const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *in, size_t len);

/*
 * cf_roster_select - the roster of @epoch among @n stored slots (@slots[i], @lens[i]
 * bytes; any kinds, any epochs: the others are skipped). Rosters that fail to open are
 * skipped with a warning (a storage attacker can add garbage but cannot forge one); the
 * valid one with the highest seq wins, and valid rosters tied at that seq are merged
 * (every holder of MK_e may write one). *@out set only on success.
 * Returns 0; CF_E_NOTFOUND when no valid roster of @epoch is among them (the last
 * error seen is logged); CF_E_NOTFOUND too when @ring does not hold @epoch; -ENOMEM.
 */
int cf_roster_select(struct cf_roster **out, uint32_t epoch, const struct cf_keyring *ring,
		     const uint8_t repo_id[CF_REPO_ID_BYTES],
		     const uint8_t cfg_hash[CF_CFG_HASH_BYTES], const uint8_t *const *slots,
		     const size_t *lens, size_t n);

/* cf_roster_contains - 1 when @id is in @r (both keys equal), else 0. */
int cf_roster_contains(const struct cf_roster *r, const struct cf_pubid *id);

/* cf_roster_free - release a roster. Accepts NULL. */
void cf_roster_free(struct cf_roster *r);
