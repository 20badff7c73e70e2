/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Recovery contacts (docs/protection-modes.md, "Recovery contacts"): the k-of-n split,
 * the three messages that travel through keyvaultd's mailbox as core envelopes, the short
 * code a contact compares before helping, and the contact's own store of the shares it
 * keeps for others (`<state-dir>/guardian`, 0600).
 *
 * Messages (binary payloads, each sealed with its own associated data label):
 *   share    owner device -> every device of the contact   "coffer-contact-share-v1"
 *            "CFCS" 1 | index u8 | k u8 | n u8 | epoch u32 LE | repo_id[32] |
 *            secret[32] | owner account name (1..256 bytes)
 *   request  recovering device -> every device of a contact  "coffer-recovery-request-v1"
 *            "CFRQ" 1 | repo_id[32] | device id u64 LE | owner account name
 *   release  contact device -> the recovering device only    "coffer-contact-release-v1"
 *            "CFRL" 1 | index u8 | repo_id[32] | secret[32] | contact account name
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"
#include "keyvault/slots.h"

#define CF_CONTACT_CODE_LEN 15 /* "1234 5678 9012" + NUL */
#define CF_CONTACT_NAME_MAX 256

/* A fresh split: the contacts identity's seed, the server share, n contact secrets. */
struct cf_contact_split {
	unsigned k, n;
	struct cf_secbuf *seed;    /* CF_CONTACT_SEED_BYTES */
	struct cf_secbuf *share;   /* CF_SERVER_SHARE_BYTES */
	struct cf_secbuf *secrets; /* n x CF_CONTACT_SECRET_BYTES */
};

/* cf_contacts_split_new - random seed, share and secrets. Returns 0, CF_E_INVAL, -ENOMEM. */
int cf_contacts_split_new(struct cf_contact_split **out, unsigned k, unsigned n);
/* cf_contacts_split_free - wipe and release. Accepts NULL. */
void cf_contacts_split_free(struct cf_contact_split *sp);

/* A decoded message (share, request or release). secret: secure, NULL for a request. */
struct cf_contact_msg {
	unsigned index, k, n;
	uint32_t epoch;
	uint64_t device;
	uint8_t repo_id[32];
	char name[CF_CONTACT_NAME_MAX + 1]; /* owner (share, request) or contact (release) */
	struct cf_secbuf *secret;
	struct cf_pubid sender; /* the verified sealer */
};

/* cf_contact_msg_clear - wipe the secret. */
void cf_contact_msg_clear(struct cf_contact_msg *m);

/*
 * cf_contacts_share_seal / request_seal / release_seal - seal a message from @me to @to
 * (@nto identities). *@env malloc'ed. Returns 0, CF_E_INVAL, CF_E_LIMIT, -ENOMEM.
 */
int cf_contacts_share_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			   const struct cf_pubid *to, size_t nto, const struct cf_contact_msg *m);
int cf_contacts_request_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			     const struct cf_pubid *to, size_t nto, const struct cf_contact_msg *m);
int cf_contacts_release_seal(uint8_t **env, size_t *len, const struct cf_identity *me,
			     const struct cf_pubid *to, const struct cf_contact_msg *m);

/*
 * cf_contacts_share_open / request_open / release_open - open a message as @me, sealed
 * by one of @senders (@ns; the directory's devices of the claimed account). *@out is
 * filled only on success (sender set). Returns 0, the errors of cf_envelope_open,
 * CF_E_FORMAT / CF_E_TRUNCATED for a payload of the wrong shape, -ENOMEM.
 */
int cf_contacts_share_open(struct cf_contact_msg *out, const struct cf_identity *me,
			   const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			   size_t len);
int cf_contacts_request_open(struct cf_contact_msg *out, const struct cf_identity *me,
			     const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			     size_t len);
int cf_contacts_release_open(struct cf_contact_msg *out, const struct cf_identity *me,
			     const struct cf_pubid *senders, size_t ns, const uint8_t *env,
			     size_t len);

/*
 * cf_contacts_code - the code the recovering device @requester shows and a contact
 * compares: 12 digits in three groups, from BLAKE2b over its public identity and the
 * repository id.
 */
void cf_contacts_code(const struct cf_pubid *requester, const uint8_t repo_id[32],
		      char out[CF_CONTACT_CODE_LEN]);

/* cf_contacts_code_equal - 1 when @typed (spaces and '-' ignored) equals @code's digits. */
int cf_contacts_code_equal(const char *typed, const char *code);
