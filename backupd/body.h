/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * File bodies for a snapshot: a file read in blocks, cut by the keyed chunker, each chunk
 * stored as a DATA blob; the result is the body's chunk references. And the encoding of
 * those references in the file cache.
 *
 * Memory is bounded whatever the file size: one read block (CF_BODY_BLOCK) plus one
 * chunk (at most the chunker's max), plus the reference list (36 bytes per chunk).
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/archive.h"
#include "repo/chunker.h"
#include "repo/repo.h"

#define CF_BODY_BLOCK     (1u << 20)
#define CF_BODY_REF_BYTES (CF_BLOB_ID_BYTES + 4) /* one encoded reference */

/* Called after each block read (@bytes: how many bytes were just read). */
typedef void (*cf_body_progress_fn)(void *ctx, uint64_t bytes);

struct cf_body;

/*
 * cf_body_new - a body reader storing chunks into @repo (keys set) with @chunker
 * (borrowed; both must outlive the reader). @stop (may be NULL) is polled before every
 * blob is stored: when it becomes non-zero the read stops with -EINTR. @progress may be
 * NULL. Sets *@out only on success. Returns 0 or -ENOMEM.
 */
int cf_body_new(struct cf_body **out, struct cf_repo *repo, struct cf_chunker *chunker,
                const volatile sig_atomic_t *stop, cf_body_progress_fn progress, void *ctx);

/* cf_body_free - release the reader and its buffers. Accepts NULL. */
void cf_body_free(struct cf_body *b);

/*
 * cf_body_read - read @fd from its current offset to the end, store every chunk, and
 * return the references: *@refs (malloc'ed, *@nrefs entries; NULL with 0 for an empty
 * file) and the bytes read in *@size. Set only on success.
 * Returns 0; -EINTR when stopped; -errno of read (logged with @what, the file's name);
 * errors of cf_repo_put_blob; CF_E_LIMIT beyond CF_ARCHIVE_SIZE_MAX; -ENOMEM.
 */
int cf_body_read(struct cf_body *b, int fd, const char *what, struct cf_archive_ref **refs,
                 size_t *nrefs, uint64_t *size);

/*
 * cf_refs_encode - @n references as n x (id[32] || length u32 LE) in a new buffer *@out
 * (*@len bytes; caller frees; for n == 0 a 1-byte allocation with *@len = 0).
 * Returns 0 or -ENOMEM.
 */
int cf_refs_encode(const struct cf_archive_ref *refs, size_t n, uint8_t **out, size_t *len);

/*
 * cf_refs_decode - the inverse of cf_refs_encode: *@refs (malloc'ed, NULL when empty)
 * and *@n. Returns 0; CF_E_CORRUPT when @len is not a multiple of CF_BODY_REF_BYTES or a
 * length is 0 or above CF_ARCHIVE_REF_MAX; -ENOMEM.
 */
int cf_refs_decode(const uint8_t *in, size_t len, struct cf_archive_ref **refs, size_t *n);
