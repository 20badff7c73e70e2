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
};

struct cf_chain_entry {
	uint64_t seq;
	uint8_t id[CF_MANIFEST_ID_BYTES];
	unsigned flags;                     /* CF_CHAIN_* */
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
 * cf_chain_next - the seq and prev of the next manifest to write: one more than the
 * newest of @c (forgotten ones count) and of @seen (may be NULL), prev the newest id.
 * *@has_prev is 0 for the first snapshot of a repository. Returns 0; CF_E_ROLLBACK when
 * @seen is newer than @c (the chain was not verified against it); CF_E_LIMIT when the
 * sequence would exceed CF_MANIFEST_MAX_INT; CF_E_INVAL.
 */
int cf_chain_next(const struct cf_chain *c, const struct cf_chain_seen *seen, uint64_t *seq,
		  int *has_prev, uint8_t prev[CF_MANIFEST_ID_BYTES]);

/* cf_chain_free - release a chain (not the inputs it points to). Accepts NULL. */
void cf_chain_free(struct cf_chain *c);
