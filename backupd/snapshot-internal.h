/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to snapshot.c and snapshot_files.c: the state of one backup run. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "backupd/attnames.h"
#include "backupd/body.h"
#include "backupd/dbpages.h"
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
	uint64_t ticket; /* cf_repo_pack_tickets' taken when queued: safe once durable > it */
};

/* One regular file of the walk on its way into the snapshot (snapshot_read.c). */
struct file_job {
	char *abs;                   /* absolute path, for the file cache */
	int cached;                  /* refs came from the file cache: nothing to read */
	int rc;                      /* read_file's result: 0, 1 vanished, 2 skipped, <0 */
	struct cf_archive_ref *refs; /* malloc'ed */
	size_t n;
	uint64_t size;
	struct cf_file_stat st;      /* the stat tuple it was read under */
	int stable;                  /* unchanged while read: its row may be cached */
};

struct run {
	struct cf_session *s;
	struct cf_repo *r;
	const struct cf_snapshot_opts *o;
	char *store; /* absolute, resolved */
	int rootfd;
	uint32_t epoch;
	int64_t run_id;

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

	char *dbcopy; /* spool path of the database copy while it exists */
	struct cf_dbpages *dbp; /* the streamed database store until add_db finishes it */
	int db_streamed;
	char *dbstate; /* the database page state file (backupd/dbpages.h) */
	int committed; /* the manifest is stored */
	uint8_t lock_id[32]; /* our backup lock in locks/, while has_lock */
	int has_lock;

	struct cf_snapshot_progress prog;
	_Atomic uint64_t bytes_read; /* by every reader thread; prog.bytes_done follows it */
	pthread_mutex_t prog_mu;     /* one progress call at a time */
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
/* the three steps of a file: plan (cache lookup; the committing thread), read (any
 * thread, with its own body), commit (entry and cache row, in walk order) */
int cf_snapshot_file_plan(struct run *x, const struct cf_walk_entry *we, struct file_job *j);
void cf_snapshot_file_read(struct run *x, struct cf_body *body, const struct cf_walk_entry *we,
                           struct file_job *j);
int cf_snapshot_file_commit(struct run *x, const struct cf_walk_entry *we, struct file_job *j);
void cf_file_job_clear(struct file_job *j);

/* snapshot_read.c: every walk entry into the snapshot, files read on several threads */
int cf_snapshot_add_walk(struct run *x);
int cf_snapshot_add_vanished(struct run *x, const char *path);
int cf_snapshot_flush_rows(struct run *x, int all);
void cf_snapshot_drop_rows(struct run *x);
/* report progress (any thread): @path the file being read or committed, may be NULL */
void cf_snapshot_report(struct run *x, const char *path);
