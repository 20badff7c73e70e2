/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The message database stored page by page (docs/database-chunking.md).
 *
 * The consistent copy (backupd/dbsnap.h) is read in groups of CF_DBMAP_BUNDLE_PAGES
 * pages by several threads at once. Each page gets a keyed 128-bit digest; a local state
 * file remembers, per page, its digest and where the previous backup stored it (bundle
 * id, slot). Pages whose digest is unchanged, and whose bundle the repository still
 * holds, keep their place; the changed pages of a group are gathered into one new
 * bundle (a DATA blob, compressed as a whole). The page locations then go into a page
 * map (repo/dbmap.h) whose root the archive entry references.
 *
 * Without a usable state file (first backup, another cache folder, a new key epoch) every
 * group is stored whole — and deduplicated against bundles already stored.
 */
#include <signal.h>
#include <stdint.h>

#include "repo/archive.h"
#include "repo/chunker.h"
#include "repo/repo.h"

#define CF_DBPAGES_MAX_BUNDLES 8 /* bundles one group may draw from before it is rewritten */

struct cf_dbpages_stats {
	uint64_t pages;         /* in the database */
	uint64_t pages_changed; /* stored again (changed, new, or in a rewritten group) */
	uint64_t groups_stored; /* bundles written */
	int had_state;          /* a usable state file was found */
};

/*
 * cf_dbpages_store - store the database copy open at @fd (@pages pages of @page_size
 * bytes) into @repo with @threads threads (0: one per CPU), diffing against the state
 * file @state (absent is fine) and writing the next state to "@state.new" (0600). The
 * digests are keyed by a subkey of @gear_key (the epoch's gear key). @stop (may be
 * NULL) is polled between groups. On success *@root is the page map's root reference
 * and *@size the body size.
 * Returns 0; -EINTR when stopped; -errno of reads and writes (logged); repository errors;
 * CF_E_INVAL for a page size repo/dbmap.h does not allow; -ENOMEM.
 */
int cf_dbpages_store(struct cf_repo *repo, int fd, uint32_t page_size, uint64_t pages,
                     const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                     int threads, const volatile sig_atomic_t *stop,
                     struct cf_archive_ref *root, uint64_t *size, struct cf_dbpages_stats *st);

/*
 * cf_dbpages_state_commit - the snapshot was written: "@state.new" becomes @state.
 * cf_dbpages_state_drop - it was not: remove "@state.new". Both accept a missing file.
 */
int cf_dbpages_state_commit(const char *state);
void cf_dbpages_state_drop(const char *state);
