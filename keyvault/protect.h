/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The protection of one repository as this device sees it, and the changes to it
 * (docs/protection-modes.md): which key epochs exist, the roster and protection record of
 * each epoch this device holds, starting a new epoch, recovery identities (recovery key
 * "R", contacts "C") and the rule by which a holder of one epoch accepts the next one.
 *
 * Everything works on an open session (keyvault/session.h): the repository with this
 * device's keys, and the keychain.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"
#include "keyvault/session.h"
#include "keyvault/slotlist.h"
#include "keyvault/slots.h"
#include "repo/keyslot.h"

struct cf_protect {
	struct cf_session *s;      /* borrowed */
	struct cf_slotlist *slots; /* every key slot of the repository */
	uint32_t current;          /* the epoch this device writes under */
	uint32_t newest;           /* the highest epoch a roster slot names (maybe not held) */
	int has_record;            /* rec is the current epoch's protection record */
	struct cf_protection rec;  /* else zero: mode local, no recovery method */
	struct cf_roster *roster;  /* trusted devices of the current epoch */
};

/*
 * cf_protect_load - read the key slots of @s's repository and describe its protection.
 * Sets *@out only on success. Returns 0, CF_E_CORRUPT (no valid roster for the current
 * epoch), storage errors, -ENOMEM.
 */
int cf_protect_load(struct cf_protect **out, struct cf_session *s);

/* cf_protect_free - release. Accepts NULL. */
void cf_protect_free(struct cf_protect *p);

/*
 * cf_protect_record_of - the valid protection record of @epoch with the highest seq
 * among @sl, opened with @ring. Returns 0 or CF_E_NOTFOUND (none, or epoch not held).
 */
int cf_protect_record_of(const struct cf_slotlist *sl, const struct cf_keyring *ring,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t epoch,
			 struct cf_protection *out);

/* cf_protect_roster_of - cf_roster_select over @sl. Same returns. */
int cf_protect_roster_of(const struct cf_slotlist *sl, const struct cf_keyring *ring,
			 const uint8_t repo_id[32], const uint8_t cfg_hash[32], uint32_t epoch,
			 struct cf_roster **out);

/*
 * cf_protect_put_record - store @rec as the protection record of @epoch (held), with
 * seq one above the highest stored and time now (both set in @rec).
 * Returns 0, CF_E_NOTFOUND (epoch not held), storage errors, -ENOMEM.
 */
int cf_protect_put_record(struct cf_protect *p, uint32_t epoch, struct cf_protection *rec);

/*
 * cf_protect_put_roster - store a roster for the current epoch listing @ids (@n), seq
 * one above the current one. Returns 0, storage errors, -ENOMEM.
 */
int cf_protect_put_roster(struct cf_protect *p, const struct cf_pubid *ids, size_t n);

/*
 * cf_protect_seal_epochs - for every epoch from 1 to the current one that this device
 * holds, store a device slot giving its key to @to, sealed by @sender (this device, or
 * a recovery identity sealing its own base slots). Returns 0 or an error.
 */
int cf_protect_seal_epochs(struct cf_protect *p, const struct cf_identity *sender,
			   const struct cf_pubid *to);

/* What a new epoch is given to, and its record. */
struct cf_epoch_spec {
	const struct cf_pubid *devices; /* the new roster (this device must be in it) */
	size_t ndevices;
	struct cf_protection rec;       /* mode, account, recovery identities; seq/time set */
	int link_prev;                  /* also store a link new -> current (see docs) */
};

/*
 * cf_protect_new_epoch - start epoch current+1: a random master key sealed to every
 * device of @spec and to its recovery identities, a roster, the protection record and
 * the optional link; then the keychain holds it as current (saved). Nothing is written
 * when the next epoch already exists in the repository (CF_E_EXISTS: another device
 * changed protection meanwhile, or this one was removed). *@epoch receives the new
 * epoch; *@mk (may be NULL) a copy of its master key. The session still has the old
 * keys loaded: reopen it to write under the new epoch.
 * Returns 0, CF_E_EXISTS, CF_E_INVAL (this device not in @spec's devices), storage and
 * keychain errors, -ENOMEM.
 */
int cf_protect_new_epoch(struct cf_protect *p, const struct cf_epoch_spec *spec, uint32_t *epoch,
			 struct cf_secbuf **mk);

/*
 * cf_protect_follow - the chain rule (docs: "Accepting a later epoch"): starting from the
 * epochs @ring holds, while the repository has a device slot of epoch e+1 addressed to
 * @me whose sealer is in the roster of epoch e (the highest held), add e+1's key to
 * @ring (current). Two different keys offered for one epoch are CF_E_CORRUPT.
 * *@added (may be NULL) receives the number of epochs added. Returns 0, CF_E_CORRUPT,
 * -ENOMEM.
 */
int cf_protect_follow(struct cf_keyring *ring, const struct cf_identity *me,
		      const struct cf_slotlist *sl, const uint8_t repo_id[32],
		      const uint8_t cfg_hash[32], unsigned *added);

/*
 * Recovery identities. cf_protect_rk_identity - "R" of a recovery key from its KEK
 * (cf_keyslot_recovery_kek of the key and its slots' salt). Returns 0 or -ENOMEM.
 */
int cf_protect_rk_identity(struct cf_identity **out, const uint8_t kek[CF_KEYSLOT_KEK_BYTES]);
