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
 * Streaming use: the producer (the database capture, backupd/dbcapture.h) fills group
 * buffers of CF_DBMAP_BUNDLE_PAGES pages and submits them in any order, each group once;
 * worker threads store them meanwhile. Memory: (threads + 3) group buffers.
 *
 * cf_dbpages_begin - start a store of pages of @page_size bytes (arguments as for
 * cf_dbpages_store). Sets *@out only on success. Returns 0, CF_E_INVAL, -errno, -ENOMEM.
 * cf_dbpages_buffer - a free group buffer in *@buf (waits for one); returns 0 or the
 * first error of the workers (then stop producing and free).
 * cf_dbpages_submit - hand over group @group (0-based) of @n pages in @buf (from
 * cf_dbpages_buffer); pages missing from a group must be zero-filled by the producer.
 * cf_dbpages_release - give back a buffer that will not be submitted.
 * cf_dbpages_finish - wait for every group, check that the @pages pages were all
 * submitted, write the state file and the page map: *@root, *@size, *@st as for
 * cf_dbpages_store.
 * cf_dbpages_free - stop (dropping what is queued when not finished) and release;
 * accepts NULL. "@state.new" is removed unless finish succeeded.
 */
struct cf_dbpages;

int cf_dbpages_begin(struct cf_dbpages **out, struct cf_repo *repo, uint32_t page_size,
                     const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                     int threads, const volatile sig_atomic_t *stop);
int cf_dbpages_buffer(struct cf_dbpages *d, uint8_t **buf);
int cf_dbpages_submit(struct cf_dbpages *d, uint8_t *buf, uint64_t group, size_t n);
void cf_dbpages_release(struct cf_dbpages *d, uint8_t *buf);
int cf_dbpages_finish(struct cf_dbpages *d, uint64_t pages, struct cf_archive_ref *root,
                      uint64_t *size, struct cf_dbpages_stats *st);
void cf_dbpages_free(struct cf_dbpages *d);

/*
 * cf_dbpages_state_commit - the snapshot was written: "@state.new" becomes @state.
 * cf_dbpages_state_drop - it was not: remove "@state.new". Both accept a missing file.
 */
int cf_dbpages_state_commit(const char *state);
void cf_dbpages_state_drop(const char *state);
