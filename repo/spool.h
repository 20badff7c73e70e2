/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Spool files: an anonymous file filled append-only (a pack being built), written out by
 * a background thread from a few 1 MiB buffers, so the caller's append is a memcpy and the
 * write(2)s (and an optional running hash) happen on another core.
 *
 * With @direct the file is written with O_DIRECT: the bytes go from our buffers to the
 * device without page-cache copies. That is for spools that are linked into a local
 * repository and never read back by this process (docs/performance.md, "Direct writes").
 * Where the file system refuses O_DIRECT the spool falls back to ordinary writes.
 */
#include <stddef.h>
#include <stdint.h>

struct cf_spool;
struct cf_hash;

#define CF_SPOOL_BUF_BYTES (1u << 20)
#define CF_SPOOL_ALIGN 4096u

/*
 * cf_spool_new - an anonymous file under @dir (O_TMPFILE, else mkstemp + unlink). @direct:
 * write it with O_DIRECT where the file system allows. Sets *@out only on success.
 * Returns 0, -errno (logged).
 */
int cf_spool_new(struct cf_spool **out, const char *dir, int direct);

/*
 * cf_spool_hash - have the writer absorb every byte appended from now on, in order, into
 * @h (which stays the caller's; do not touch it before cf_spool_finish returns). Call it
 * before the first append.
 */
void cf_spool_hash(struct cf_spool *s, struct cf_hash *h);

/*
 * cf_spool_append - append @len bytes. Returns 0, or the writer's first error (-errno,
 * e.g. -ENOSPC; logged once), after which the spool is useless.
 */
int cf_spool_append(struct cf_spool *s, const void *b, size_t len);

/* cf_spool_len - bytes appended so far. */
uint64_t cf_spool_len(const struct cf_spool *s);

/*
 * cf_spool_finish - write out what is buffered and wait for the writer. On success *@fd is
 * the file (ordinary, not O_DIRECT, descriptor; the caller's to close) of exactly
 * cf_spool_len() bytes, and the hash (if any) has absorbed all of them. The spool is spent
 * either way; free it. Returns 0 or -errno.
 */
int cf_spool_finish(struct cf_spool *s, int *fd);

/* cf_spool_direct - 1 when bytes went out with O_DIRECT (for tests and statistics). */
int cf_spool_direct(const struct cf_spool *s);

/* cf_spool_free - stop the writer, close and drop the file. Accepts NULL. */
void cf_spool_free(struct cf_spool *s);
