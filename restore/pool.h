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
 * pwrite()s never overlap. One worker at a time writes a given file: a worker whose
 * fetched blob belongs to a file another worker is writing hands the item over (at most
 * WAIT_MAX wait per file) and fetches the next one, and the writing worker writes what
 * was handed over before it goes back to fetching. The kernel serialises writes to one
 * file on its inode lock anyway, and its waiters spin on that lock, burning a CPU. A file's mode and time are set (fchmod, futimens) by the
 * thread that drops its last reference, after every write to it has returned.
 *
 * Direct writes (docs/restore.md, "Direct writes"): a file may also be open with O_DIRECT
 * (cf_pool_file_direct; on by default, $COFFER_RESTORE_DIRECT=0 turns it off). A worker
 * then copies the whole pages (@align bytes each) inside a piece into the pool's aligned
 * 1 MiB slots and queues them for the pool's writer threads, which write them through
 * that descriptor while the worker goes on; the partial pages at the piece's ends, which
 * it may share with the neighbouring pieces, it writes buffered itself: no page is ever
 * written both ways. A queued slot holds a reference to its file. A direct write refused
 * with EINVAL turns the file (and the files opened after it) to buffered writes; the
 * restore goes on.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "repo/dbmap.h"

struct cf_pool;

/* An output file: open for writing, shared by its items (reference counted). */
struct cf_pool_file {
	int fd;
	int dfd;                 /* the same file opened O_DIRECT, or -1 (cf_pool_file_direct) */
	uint32_t align;          /* with dfd: direct writes cover whole units of this size */
	atomic_int buffered;     /* a direct write was refused: buffered writes only */
	unsigned refs;           /* under the pool's mutex */
	int writing;             /* under the pool's mutex: a worker is writing this file */
	int wbusy;               /* under the pool's mutex: a writer thread writes a slot of it */
	uint64_t next_seq;       /* under the pool's mutex: the ordered item to write next */
	uint64_t size;           /* with dfd: the file's size */
	uint8_t *carry;          /* with dfd: the start of a page whose rest comes with the next piece */
	uint64_t carry_off;      /* ... its offset (a page boundary) */
	uint32_t carry_len;      /* ... and length; 0 when none */
	struct cf_pool_item *wait_head, *wait_tail; /* fetched items handed to that worker */
	unsigned nwait;          /* their number (under the pool's mutex) */
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
	uint8_t *buf;              /* the pool's: the fetched plaintext while it waits */
	size_t blen;
	struct cf_pool_item *part; /* a group's next item (cf_pool_submit_group) */
	uint64_t gbase;            /* a group's first item: the range its items fill */
	uint32_t glen;             /* ... 0 for an item that is not a group */
	uint64_t seq;              /* 1, 2, ...: the order in which a file's pieces are written
	                            * (an ordinary file's chunks); 0: any order */
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

/* A piece is written direct only when it holds at least this many bytes of whole pages;
 * direct writes go out in steps of at most CF_POOL_DIRECT_STEP (a slot). */
#define CF_POOL_DIRECT_MIN (32u << 10)
#define CF_POOL_DIRECT_STEP (1u << 20)

/* How output files are written (cf_pool_set_direct). */
enum cf_pool_direct {
	CF_POOL_DIRECT_AUTO = 0,  /* direct unless $COFFER_RESTORE_DIRECT is "0" */
	CF_POOL_DIRECT_OFF,       /* buffered writes only */
	CF_POOL_DIRECT_ON,        /* direct where the filesystem takes it */
	/* tests: behave as a filesystem refusing O_DIRECT at open, or taking the run's
	 * first direct write and refusing every later one (EINVAL) */
	CF_POOL_DIRECT_TEST_OPEN_EINVAL,
	CF_POOL_DIRECT_TEST_WRITE_EINVAL,
};

/* What the workers wrote, and how (cf_pool_stats). */
struct cf_pool_stats {
	uint64_t direct_bytes;   /* written with O_DIRECT */
	uint64_t buffered_bytes; /* written through the page cache */
	uint64_t direct_files;   /* files opened with O_DIRECT */
	uint64_t fallbacks;      /* O_DIRECT refused (at open or on a write): buffered instead */
};

/* cf_pool_set_direct - how files are written from now on (call before any
 * cf_pool_file_direct; the default is CF_POOL_DIRECT_AUTO). */
void cf_pool_set_direct(struct cf_pool *p, enum cf_pool_direct mode);

/* cf_pool_stats - the counts of bytes and files so far (any thread). */
void cf_pool_stats(struct cf_pool *p, struct cf_pool_stats *out);

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
 * cf_pool_file_direct - open @f a second time with O_DIRECT (the path @f was created
 * with, relative to the folder @dirfd; checked with fstat to be the same inode) so that
 * the workers write its whole pages past the page cache. Call before @f's first item.
 * Does nothing when direct writes are off, when the file (@size bytes) is shorter than
 * CF_POOL_DIRECT_MIN, or when the open fails; otherwise allocates the file's blocks
 * (fallocate, so that direct writes to it are overwrites that may run side by side); the filesystem refusing O_DIRECT (EINVAL) turns direct
 * writes off for the rest of the run. Never fails: buffered writes remain.
 */
void cf_pool_file_direct(struct cf_pool *p, struct cf_pool_file *f, int dirfd, uint64_t size);

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

/*
 * cf_pool_submit_group - queue the @n items @its (all of one file, owned by the pool from
 * now on) as one group: one worker fetches them all, assembles their pieces in a buffer
 * and writes the range [@base, @base + @len) in one go (direct when the file has an
 * O_DIRECT descriptor). Their pieces must cover the range exactly once; 1 <= @len <=
 * CF_POOL_DIRECT_STEP (CF_E_INVAL otherwise, the items dropped). Returns as
 * cf_pool_submit. A worker checks every piece against the range (CF_E_CORRUPT).
 */
int cf_pool_submit_group(struct cf_pool *p, struct cf_pool_item **its, size_t n,
                         uint64_t base, uint32_t len);

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
