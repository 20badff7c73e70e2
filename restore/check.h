/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * `restore check`: verify every object of a repository by its name and report each
 * damaged one by its repository path (docs/restore.md, "check").
 *
 * Nothing is trusted from the local cache: the check builds a private cache from the
 * repository in a temporary folder and removes it at the end. It never writes to the
 * repository; it may update the keychain exactly as opening a repository does.
 *
 * What is checked:
 *   config     it parses, its format is one this build reads, key slots authenticate
 *              under it;
 *   keys/      each slot hashes to its name and parses; rosters and this device's own
 *              slots authenticate; every epoch held has a roster and a slot for this
 *              device;
 *   index/     each object hashes to its name, decrypts and decodes;
 *   data/      every pack an index names exists with the indexed size; a pack no index
 *              names has a readable table;
 *   snapshots/ and forget/   each object verifies (name, signer in the roster,
 *              signature, decryption, fields); the chain has no unexplained gap and is
 *              not older than what this device has seen; every tree of every snapshot
 *              decodes and every blob it references is in an index;
 *   locks/     each object hashes to its name;
 *   with read_data, every pack is read whole: it hashes to its name, its table parses
 *   and agrees with the index, and every blob in it decrypts.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyvault/keychain.h"

struct cf_check_opts {
	const char *repo_url;   /* required */
	const char *cache_base; /* the private cache goes below it (a fresh sub-folder) */
	int read_data;
};

/* One finding: damage (the object is named) or a note that is not damage. */
struct cf_check_finding {
	const char *object; /* "config", "keys/<id>", "data/ab/<id>", "snapshots/", ... */
	const char *what;   /* for people */
	int err;            /* the CF_E_* / -errno behind it */
	int damage;         /* 1: damage; 0: a note */
};

typedef void (*cf_check_report_fn)(void *ctx, const struct cf_check_finding *f);

struct cf_check_stats {
	size_t keys, indexes, packs, snapshots, forgets, locks, trees;
	uint64_t blobs_checked; /* distinct blobs found in an index or read */
	uint64_t bytes_read;    /* pack bytes read whole (read_data) */
	size_t damaged, notes;
};

/*
 * cf_check_run - check the repository at @o->repo_url as the device of @kc, reporting
 * every finding through @report (called in order, from this thread). @st (may be NULL)
 * receives the counts.
 * Returns 0 when the check ran to the end (look at st->damaged: 0 means no damage),
 * or an error that stopped it before it could say anything about the repository:
 * CF_E_NOTFOUND (no repository there, or this device holds no key for it), CF_E_VERSION
 * (a newer format), CF_E_CONFIG (bad URL), storage errors, -ENOMEM.
 */
int cf_check_run(struct cf_keychain *kc, const struct cf_check_opts *o, cf_check_report_fn report,
                 void *ctx, struct cf_check_stats *st);
