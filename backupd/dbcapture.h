/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The message database streamed into the page store without a temporary copy.
 *
 * SQLite's online backup API copies the live database (one sqlite3_backup_step(-1): one
 * read transaction, so a concurrent writer can neither tear nor restart it, and content
 * still in the -wal is included) into a destination database whose file is a private VFS
 * ("cfcapture"): the pages SQLite writes to it go straight into group buffers of
 * backupd/dbpages.h, which worker threads digest and store while the copy goes on. The
 * first group is held back until the end, because SQLite rewrites page 1 last.
 *
 * SQLite writes the destination's pages in ascending order in practice (it copies pages
 * 1..N and spills its small cache oldest first). Should it ever write or read back a page
 * that has already been handed over, the capture stops and says so, and the caller falls
 * back to a temporary copy (backupd/dbsnap.h) — slower, never wrong.
 *
 * The attachment names are read from the source in the same read transaction, so they
 * match the pages exactly.
 */
#include "backupd/attnames.h"
#include "backupd/dbpages.h"
#include "backupd/dbsnap.h"

/*
 * cf_dbcapture_take - copy the SQLite database @src_path into a new page store (begun
 * with cf_dbpages_begin(@repo, the source's page size, @state, @gear_key, 0, @stop)) and
 * load its attachment names mapped into @store_abs. Waits up to @busy_ms for a writer
 * holding an exclusive lock (rollback-journal databases).
 * Returns 0 with *@d (call cf_dbpages_finish with info->pages, then cf_dbpages_free),
 * *@names and @info set when every page was streamed; 0 with *@d = NULL when SQLite
 * wrote out of order (nothing is wrong: use cf_dbsnap_take instead); otherwise the errors
 * of cf_dbsnap_take and cf_dbpages_begin, logged once.
 */
int cf_dbcapture_take(const char *src_path, int busy_ms, struct cf_repo *repo,
                      const char *state, const uint8_t gear_key[CF_CHUNKER_KEY_BYTES],
                      const volatile sig_atomic_t *stop, const char *store_abs,
                      struct cf_dbpages **d, struct cf_attnames **names,
                      struct cf_dbsnap_info *info);
