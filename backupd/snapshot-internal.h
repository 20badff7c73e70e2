/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to snapshot.c and snapshot_files.c: the state of one backup run. */
#include <time.h>

#include "backupd/attnames.h"
#include "backupd/body.h"
#include "backupd/snapshot.h"
#include "backupd/walk.h"
#include "repo/archive.h"
#include "repo/chunker.h"

/* A file-cache row waiting until every blob it references is in an uploaded pack. */
struct pending_row {
	char *path; /* absolute */
	struct cf_file_stat st;
	uint8_t *refs;
	size_t len;
};

struct run {
	struct cf_session *s;
	struct cf_repo *r;
	const struct cf_snapshot_opts *o;
	char *store; /* absolute, resolved */
	int rootfd;
	uint32_t epoch;
	int64_t run_id;

	struct cf_chunker *ch;
	struct cf_body *body;
	struct cf_tree_writer *tw;
	uint8_t *hdr; /* CF_ARCHIVE_HEADER_MAX */
	uint8_t *trees;
	size_t ntrees, trees_cap;

	struct cf_walk *walk;
	struct cf_attnames *names;
	char **vanished;
	size_t nvanished, vanished_cap;

	struct pending_row *pend;
	size_t npend, pend_cap;
	uint64_t packs_seen;

	char *dbcopy; /* spool path of the database copy while it exists */
	char *dbstate; /* the database page state file (backupd/dbpages.h) */
	int committed; /* the manifest is stored */
	uint8_t lock_id[32]; /* our backup lock in locks/, while has_lock */
	int has_lock;

	struct cf_snapshot_progress prog;
	uint64_t files, dirs, files_read, files_unchanged, bytes, skipped;
};

static inline int run_stopped(const struct run *x)
{
	return x->o->stop && *x->o->stop;
}

/* snapshot_files.c */
int cf_snapshot_add_entry(struct run *x, const char *path, uint8_t type, uint32_t mode,
                          int64_t mtime, uint32_t mtime_nsec, const struct cf_archive_ref *refs,
                          size_t nrefs, uint64_t size);
int cf_snapshot_add_file(struct run *x, const struct cf_walk_entry *we);
int cf_snapshot_add_vanished(struct run *x, const char *path);
int cf_snapshot_flush_rows(struct run *x, int all);
void cf_snapshot_drop_rows(struct run *x);
void cf_snapshot_progress_bytes(void *ctx, uint64_t bytes);
