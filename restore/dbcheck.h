/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The default check of a restored database (docs/restore.md, "The database check"). Its
 * pages were verified blob by blob against keyed ids of what SQLite's backup API
 * produced, so the restore only makes sure the file is a whole SQLite database that
 * opens; `restore snapshot --verify` runs PRAGMA integrity_check instead
 * (backupd/dbsnap.h's cf_dbsnap_check).
 */

/*
 * cf_dbcheck_structure - check @path: the SQLite header magic, a page size that is a power
 * of two in 512..65536, a file size that is a whole number of pages, the page count in
 * the header equal to that number (when the header's count is current: "version-valid-for"
 * equal to the change counter, as SQLite's backup API leaves it), and the schema read
 * through a read-only connection. An empty file passes (SQLite reads it as an empty
 * database). Returns 0; CF_E_FORMAT (not a SQLite database); CF_E_CORRUPT (logged, naming
 * the problem); -errno.
 */
int cf_dbcheck_structure(const char *path);
