/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Snapshots of a repository: writing manifests and forget records, and loading every
 * manifest with its signature, chain and freshness checked (docs/repository-format.md,
 * "Manifest", "Forget records", "Rollback detection").
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/chain.h"
#include "repo/manifest.h"
#include "repo/repo.h"

struct cf_snapshots;

/* An object refused while loading, for `restore check` and warnings. */
struct cf_snapshot_problem {
	char name[CF_STORAGE_NAME_MAX];
	int err; /* CF_E_UNTRUSTED, CF_E_SIGNATURE, CF_E_CORRUPT, ... */
};

/*
 * cf_snapshots_load - read and verify every manifest and forget record of @r (keys set,
 * cache synced), then the chain, against @seen (may be NULL). A manifest or record that
 * fails verification is left out and reported as a problem (logged once); the chain is
 * built from the rest. Sets *@out only on success. Returns 0; CF_E_ROLLBACK (older than
 * @seen: *@bad_seq names the sequence); CF_E_CORRUPT (an unexplained gap or a fork, with
 * *@bad_seq); storage errors; -ENOMEM.
 */
int cf_snapshots_load(struct cf_snapshots **out, struct cf_repo *r,
		      const struct cf_chain_seen *seen, uint64_t *bad_seq);
void cf_snapshots_free(struct cf_snapshots *s);

/* The verified chain (entries by sequence, including forgotten ones). */
const struct cf_chain *cf_snapshots_chain(const struct cf_snapshots *s);

/* Present (not forgotten) manifests in sequence order. */
size_t cf_snapshots_count(const struct cf_snapshots *s);
const struct cf_manifest *cf_snapshots_get(const struct cf_snapshots *s, size_t i);

/*
 * cf_snapshots_find - a present manifest by "latest" (highest sequence), by sequence
 * number ("#12" or "12"), or by a hex prefix of its id (at least 4 digits, unambiguous).
 * Returns 0; CF_E_NOTFOUND; CF_E_INVAL (ambiguous or malformed).
 */
int cf_snapshots_find(const struct cf_snapshots *s, const char *spec,
		      const struct cf_manifest **m);

/* Objects refused while loading. */
size_t cf_snapshots_problems(const struct cf_snapshots *s,
			     const struct cf_snapshot_problem **p);

/*
 * cf_snapshots_unreadable - the manifests and forget records that are authentic (name,
 * framing, a signer trusted in a held epoch after theirs, signature) but sealed under an
 * epoch this device does not hold (docs/repository-manifests.md, "Unreadable epochs").
 * They are neither problems nor listed manifests; the chain accounts for them
 * (cf_chain_verify_partial). *@o points into @s.
 */
size_t cf_snapshots_unreadable(const struct cf_snapshots *s, const struct cf_chain_opaque **o);

/*
 * cf_repo_write_manifest - sign, encrypt and store @m under the current epoch (the
 * commit point: call after cf_repo_commit_index). @id receives its object id.
 */
int cf_repo_write_manifest(struct cf_repo *r, const struct cf_manifest *m, uint8_t id[32]);

/* cf_repo_write_forget - sign, encrypt and store a forget record. */
int cf_repo_write_forget(struct cf_repo *r, const struct cf_forget *f, uint8_t id[32]);
