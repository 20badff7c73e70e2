/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The workers of the parallel restorer (docs/restore.md, "How a restore runs"): one thread
 * per CPU takes work items from a bounded queue, fetches each item's blob through a
 * cf_dbmap_get_fn (the repository: windowed pack reads, decryption, keyed id check,
 * decompression), checks its length and pwrite()s its pieces at their offsets in an
 * output file that the planner (restore/plan.c) created and sized.
 *
 * Shared state: the queue, the reference counts of the output files, the first error and
 * the counters live in struct cf_pool under one mutex; an item belongs to exactly one
 * thread once taken, and each byte range of a file is written by exactly one item, so
 * pwrite()s never overlap. A file's mode and time are set (fchmod, futimens) by the
 * thread that drops its last reference, after every write to it has returned.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "repo/dbmap.h"

struct cf_pool;

/* An output file: open for writing, shared by its items (reference counted). */
struct cf_pool_file {
	int fd;
	unsigned refs;           /* under the pool's mutex */
	mode_t mode;             /* set when the last reference goes */
	struct timespec mtime;   /* set when the last reference goes */
	char path[];             /* the entry path, for messages */
};

/* One piece of a blob: @len bytes from offset @src of the blob go to offset @dst. */
struct cf_pool_copy {
	uint64_t dst;
	uint32_t src, len;
};

/* A blob to fetch and the pieces of it to write. */
struct cf_pool_item {
	struct cf_pool_item *next; /* queue link */
	struct cf_pool_file *file; /* holds one reference, dropped when the item is done */
	uint8_t id[CF_BLOB_ID_BYTES];
	uint32_t len;              /* the blob's plaintext must be exactly this long */
	uint32_t ncopies, cap;
	struct cf_pool_copy copy[];
};

/*
 * cf_pool_new - start @threads workers (0: one per CPU, or $COFFER_THREADS) fetching DATA
 * blobs through @get (called from several threads at once: it must be thread-safe).
 * @stop (may be NULL): when it becomes non-zero, workers stop with -EINTR. Sets *@out only
 * on success. Returns 0, -ENOMEM, or -errno of pthread_create when no thread started.
 */
int cf_pool_new(struct cf_pool **out, unsigned threads, cf_dbmap_get_fn get, void *gctx,
                const volatile sig_atomic_t *stop);

/* cf_pool_threads - the number of workers running. */
unsigned cf_pool_threads(const struct cf_pool *p);

/*
 * cf_pool_file_new - an output file record for @fd (owned from now on: closed when the
 * last reference goes, also on failure) and @path (copied), with one reference held by
 * the caller. Returns NULL on -ENOMEM (and closes @fd).
 */
struct cf_pool_file *cf_pool_file_new(int fd, const char *path, mode_t mode,
                                      const struct timespec *mtime);

/*
 * cf_pool_file_put - drop one reference; the last one sets mode and time, closes and
 * frees the file (errors become the pool's error, logged naming the file).
 */
void cf_pool_file_put(struct cf_pool *p, struct cf_pool_file *f);

/*
 * cf_pool_item_new - an item for blob @id of @len bytes with room for @cap copies,
 * taking a new reference to @f. Returns NULL on -ENOMEM.
 */
struct cf_pool_item *cf_pool_item_new(struct cf_pool *p, struct cf_pool_file *f,
                                      const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len,
                                      uint32_t cap);

/*
 * cf_pool_submit - queue @it (owned by the pool from now on), waiting while the queue is
 * full. Returns 0, or the pool's first error (the item is then dropped).
 */
int cf_pool_submit(struct cf_pool *p, struct cf_pool_item *it);

/* cf_pool_fail - record @err as the pool's error unless one is already recorded. */
void cf_pool_fail(struct cf_pool *p, int err);

/*
 * cf_pool_finish - no more items: wait until every queued item is done and the workers
 * have ended, calling @tick (may be NULL) about every 250 ms meanwhile. Returns 0 or the
 * first error of any item. Call once.
 */
int cf_pool_finish(struct cf_pool *p, void (*tick)(void *ctx), void *ctx);

/* cf_pool_bytes - file bytes written so far (any thread). */
uint64_t cf_pool_bytes(struct cf_pool *p);

/* cf_pool_free - stop and join the workers (after cf_pool_finish or on an error path:
 * queued items are dropped) and free everything. Accepts NULL. */
void cf_pool_free(struct cf_pool *p);
