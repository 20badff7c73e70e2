/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Reading one snapshot's archive out of a repository: the TREE blobs the manifest lists,
 * decoded in order (cf_tree_reader), and the tar stream made from them with its DATA
 * chunks fetched from the repository (cf_tarstream). Every blob is authenticated by
 * cf_repo_get_blob; every chunk is also checked against the length its tree entry
 * claims, so the tar stream never emits a byte the tree did not announce.
 *
 * Shared by `restore snapshot`, `restore export`, `restore check` and `restore prune`.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/archive.h"
#include "repo/manifest.h"
#include "repo/repo.h"

struct cf_snapread;

/*
 * cf_snapread_new - a tar stream over snapshot @m of @r (both borrowed; they must
 * outlive the reader). Sets *@out only on success. Returns 0, CF_E_INVAL or -ENOMEM.
 */
int cf_snapread_new(struct cf_snapread **out, struct cf_repo *r, const struct cf_manifest *m);

/* cf_snapread_tar - the tar stream (owned by @s; read, filter or export it). */
struct cf_tarstream *cf_snapread_tar(struct cf_snapread *s);

/*
 * cf_snapread_tree - the snapshot's entries (owned by @s): for readers that fetch the file
 * contents themselves (restore/plan.h). Use either this or the tar stream, not both.
 */
struct cf_tree_reader *cf_snapread_tree(struct cf_snapread *s);

/* cf_snapread_free - release the stream and its tree reader. Accepts NULL. */
void cf_snapread_free(struct cf_snapread *s);

/*
 * cf_snapread_entry_fn - called for each archive entry in order (@e valid during the
 * call). Return 0 to go on, anything else to stop the walk with that value.
 */
typedef int (*cf_snapread_entry_fn)(void *ctx, const struct cf_archive_entry *e);

/*
 * cf_snapread_walk - decode the tree of snapshot @m entry by entry without reading any
 * file content (only TREE blobs are fetched). @tree_cb (may be NULL) is told each TREE
 * blob id before it is read, @entry_cb each entry.
 * Returns 0; the errors of cf_repo_get_blob (CF_E_NOTFOUND for a tree missing from the
 * index, CF_E_AUTH / CF_E_CORRUPT for a damaged one) and of cf_tree_reader_next; the
 * first non-zero value of a callback; -ENOMEM.
 */
int cf_snapread_walk(struct cf_repo *r, const struct cf_manifest *m,
                     int (*tree_cb)(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES]),
                     cf_snapread_entry_fn entry_cb, void *ctx);

/*
 * cf_snapread_path_selected - 1 when the entry path @path equals the selector @sel or
 * lies below it at a '/' boundary ("a/b" selects "a/b" and "a/b/c", not "a/bc"; trailing
 * '/' in @sel is ignored), the rule of cf_tarstream_set_filter; 0 otherwise.
 */
int cf_snapread_path_selected(const char *path, const char *sel);

/*
 * cf_snapread_get_blob - a repo/dbmap.h cf_dbmap_get_fn over the repository @repo (a
 * struct cf_repo *): cf_repo_get_blob, naming a blob that is in no index.
 */
int cf_snapread_get_blob(void *repo, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
                         uint8_t **data, size_t *len);
