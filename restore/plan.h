/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The parallel restorer (docs/restore.md, "How a restore runs"): the snapshot's entries
 * are read in order on the calling thread (the planner), which checks each one, creates
 * the folders and the files (empty, sized with ftruncate) and hands every blob to write
 * to the workers of restore/pool.h as a work item: a file's chunk with its offset, or a
 * database bundle with the page offsets of the slots it fills. Modes and times are set
 * when everything is written: each file's by the worker that finishes it, the folders'
 * at the end, deepest first.
 *
 * The result is the one cf_extract_stream gives for the snapshot's tar stream: the same
 * entries, contents, modes (mode & 0777 from the tar header; setuid, setgid and sticky
 * refused) and modification times (from the tar header, as libarchive reads it), parent
 * folders created when absent with mode 0777 & ~umask. Memory does not grow with the
 * snapshot: the queue is bounded, files are closed as they complete; only the folders'
 * final modes and times are kept until the end.
 */
#include <signal.h>
#include <stddef.h>

#include "repo/archive.h"
#include "repo/dbmap.h"
#include "restore/extract.h"

struct cf_pool_stats;

struct cf_plan_opts {
	/* blobs: DATA for the workers, CHUNKLIST (page maps) for the planner. Called from
	 * several threads at once: must be thread-safe. */
	cf_dbmap_get_fn get;
	void *gctx;
	const char *const *paths;          /* only these entries and what lies below them */
	size_t npaths;                     /* 0: every entry */
	unsigned threads;                  /* 0: one per CPU, or $COFFER_THREADS */
	const volatile sig_atomic_t *stop; /* may be NULL; non-zero: stop with -EINTR */
	/* may be NULL: called on the planner thread every so often with the counts so far */
	void (*progress)(void *ctx, const struct cf_extract_stats *st);
	void *pctx;
	int direct;                        /* enum cf_pool_direct (restore/pool.h); 0: AUTO */
	struct cf_pool_stats *pool_stats;  /* may be NULL: receives the workers' counts */
};

/*
 * cf_plan_extract - restore the entries of @tree (read to its end) below the existing,
 * empty, private folder @target, as described above. Entries already written stay on
 * failure: the caller restores into a fresh temporary folder and removes it.
 *
 * *@st (may be NULL) receives the counts (files, folders, bytes), also on failure.
 * Returns 0; CF_E_UNSAFE (an entry that cannot be written safely: setuid/setgid/sticky,
 * a file where a folder was restored or the reverse; logged naming it); the errors of the
 * tree reader, of cf_dbmap_extents and of @get (CF_E_AUTH, CF_E_CORRUPT, CF_E_NOTFOUND,
 * ...; logged naming the entry); CF_E_CORRUPT (a blob of the wrong length); -EINTR
 * (@stop); -errno from the filesystem (-ENOSPC, ...); -ENOMEM. Errors are logged once.
 */
int cf_plan_extract(const char *target, struct cf_tree_reader *tree, const struct cf_plan_opts *o,
                    struct cf_extract_stats *st);
