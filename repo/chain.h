/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The snapshot chain (docs/repository-format.md, "Manifest", "Forget records",
 * "Rollback detection"; the exact rules in docs/repository-manifests.md, "Chain").
 *
 * Input: the decoded (verified) manifests and forget records of one repository, in any
 * order, and the newest (seq, id) this device has already seen, if any. The chain is
 * walked from the newest sequence down to 1 through the `prev` links; every sequence
 * number must be accounted for, by a manifest or by a forget record naming it.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/manifest.h"

/* The newest snapshot a device has seen (kept per repository in its keychain). */
struct cf_chain_seen {
	uint64_t seq;
	uint8_t id[CF_MANIFEST_ID_BYTES];
};

enum {
	CF_CHAIN_PRESENT = 1u << 0,   /* the manifest is in the repository */
	CF_CHAIN_FORGOTTEN = 1u << 1, /* a forget record names it */
	CF_CHAIN_UNREADABLE = 1u << 2, /* in a run of sequences this device cannot read */
	CF_CHAIN_ID_UNKNOWN = 1u << 3, /* with UNREADABLE: below the run's top, id is zero */
};

/*
 * A manifest or forget record that is authentic (its name, framing, a trusted signer and
 * the signature checked) but sealed under a key epoch this device does not hold: its
 * sequence and prev are unknown (docs/repository-manifests.md, "Unreadable epochs").
 */
struct cf_chain_opaque {
	uint8_t id[CF_MANIFEST_ID_BYTES];
	uint32_t epoch; /* authenticated by the signature */
	int forget;     /* 1: a forget record; 0: a manifest */
};

struct cf_chain_entry {
	uint64_t seq;
	uint8_t id[CF_MANIFEST_ID_BYTES];   /* zero when CF_CHAIN_ID_UNKNOWN */
	unsigned flags;                     /* CF_CHAIN_*: PRESENT and/or FORGOTTEN; UNREADABLE */
	const struct cf_manifest *manifest; /* when PRESENT: one of the inputs */
	const struct cf_forget *forget;     /* when FORGOTTEN: one of the inputs */
};

/*
 * A verified chain: entries for sequences 1..newest_seq in order (one per sequence),
 * pointing into the caller's inputs (valid while they live). Plain data.
 */
struct cf_chain {
	size_t n;
	struct cf_chain_entry *entries;
	int has_newest; /* 0 for an empty repository */
	uint64_t newest_seq;
	uint8_t newest_id[CF_MANIFEST_ID_BYTES];
	size_t unreadable;       /* sequences in unreadable runs (entries flagged UNREADABLE) */
	size_t unreadable_newer; /* unreadable manifests of an epoch above the newest readable
				    one: later snapshots whose sequence this device cannot know */
	const struct cf_chain_opaque *opaque; /* the unreadable inputs (caller's array) */
	size_t nopaque;
};

/*
 * cf_chain_verify - check the chain formed by @manifests (@nm) and @forgets (@nf) and,
 * if @seen is not NULL, that the repository is not older than it. *@out (free with
 * cf_chain_free) set only on success; *@bad_seq (may be NULL) receives the sequence at
 * fault on CF_E_CORRUPT or CF_E_ROLLBACK (0 otherwise). The same manifest or record
 * listed twice is harmless. Returns 0 or, checked in this order:
 *   CF_E_CORRUPT   two live manifests with one seq (a fork); a sequence neither present
 *                  nor forgotten (a gap; *@bad_seq is the highest missing one); a prev
 *                  that names nothing at the sequence below; prev missing above seq 1 or
 *                  present at seq 1; a forget record that disagrees with the manifest it
 *                  names (seq or prev); a manifest whose epoch is lower than the epoch of
 *                  a manifest before it in the chain;
 *   CF_E_ROLLBACK  the newest sequence is below @seen's, or @seen's manifest is neither
 *                  present nor forgotten at its sequence (also: an empty repository);
 *   CF_E_INVAL, -ENOMEM.
 */
int cf_chain_verify(struct cf_chain **out, uint64_t *bad_seq,
		    const struct cf_manifest *const *manifests, size_t nm,
		    const struct cf_forget *const *forgets, size_t nf,
		    const struct cf_chain_seen *seen);

/*
 * cf_chain_verify_partial - cf_chain_verify for a device that cannot read every epoch:
 * @opaque (@no entries, see struct cf_chain_opaque) are the authentic objects it cannot
 * open. With @no == 0 it is exactly cf_chain_verify. Otherwise a run of sequences with no
 * readable manifest or forget record (a hole) is accepted only when unreadable objects
 * account for every sequence of it: an unreadable manifest whose epoch lies between the
 * epochs of the live manifests below and above the run, or an unreadable forget record
 * of an epoch not below the one under the run; each object accounts for one sequence at
 * most, and the unreadable manifest the run's upper neighbour names as prev belongs to
 * that run (its epoch not above the neighbour's). Every other rule, and the rollback
 * check against @seen, is applied unchanged to what is readable. Entries of a hole are
 * flagged CF_CHAIN_UNREADABLE (the top one carries the id its successor names). A hole
 * longer than @no is refused at once. Returns as cf_chain_verify; CF_E_CORRUPT with
 * *@bad_seq at a hole's top sequence when the objects do not account for it.
 */
int cf_chain_verify_partial(struct cf_chain **out, uint64_t *bad_seq,
			    const struct cf_manifest *const *manifests, size_t nm,
			    const struct cf_forget *const *forgets, size_t nf,
			    const struct cf_chain_opaque *opaque, size_t no,
			    const struct cf_chain_seen *seen);

/*
 * cf_chain_next - the seq and prev of the next manifest to write: one more than the
 * newest of @c (forgotten ones count) and of @seen (may be NULL), prev the newest id.
 * *@has_prev is 0 for the first snapshot of a repository. Returns 0; CF_E_ROLLBACK when
 * @seen is newer than @c (the chain was not verified against it); CF_E_NOTFOUND when
 * @c->unreadable_newer is not 0 (the newest snapshots are in an epoch this device does
 * not hold: the next sequence is unknown, and guessing would fork); CF_E_LIMIT when the
 * sequence would exceed CF_MANIFEST_MAX_INT; CF_E_INVAL.
 */
int cf_chain_next(const struct cf_chain *c, const struct cf_chain_seen *seen, uint64_t *seq,
		  int *has_prev, uint8_t prev[CF_MANIFEST_ID_BYTES]);

/* cf_chain_free - release a chain (not the inputs it points to). Accepts NULL. */
void cf_chain_free(struct cf_chain *c);
