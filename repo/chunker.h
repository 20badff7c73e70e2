/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Content-defined chunking: FastCDC-style gear hashing with normalized chunking, keyed.
 *
 * A file is cut into chunks whose boundaries depend on the content (so an insertion near
 * the start of a file moves only the first chunk or two and dedup keeps working) and on
 * a 32-byte secret (so someone who knows the plaintext of a common file cannot predict
 * where it is cut). The algorithm, the parameter choices and the exact derivation of the
 * gear table from the secret are in docs/chunking.md.
 *
 * Sizes: every chunk of a file is in [min, max] except the last one, which may be
 * shorter than min. Parameters must satisfy
 *     CF_CHUNKER_MIN_LOWER <= min < avg < max <= CF_CHUNKER_MAX_UPPER,  avg a power of 2.
 * The real mean chunk size on incompressible data is about 1.2 x avg (see the docs).
 *
 * Streaming use (the caller never holds more than one read block plus, if it wants to
 * compress the chunk as a whole, one chunk of at most max bytes):
 *
 *     cf_chunker_reset(c);                       // a new file
 *     while ((n = read(fd, blk, sizeof(blk))) > 0) {
 *             const uint8_t *p = blk;
 *             while (n > 0) {
 *                     size_t used, len = cf_chunker_next(c, p, n, &used);
 *                     absorb(p, used);           // bytes of the current chunk
 *                     if (len)
 *                             finish_chunk(len); // the chunk ends here, len bytes long
 *                     p += used;
 *                     n -= used;
 *             }
 *     }
 *     if (cf_chunker_pending(c))
 *             finish_chunk(cf_chunker_pending(c)); // the last, possibly short, chunk
 *
 * A chunker is not thread-safe; use one per thread (they are cheap: ~2 KiB).
 */
#include <stddef.h>
#include <stdint.h>

#define CF_CHUNKER_KEY_BYTES 32

/* Bounds on the parameters (bytes). */
#define CF_CHUNKER_MIN_LOWER 64u         /* one gear window */
#define CF_CHUNKER_MAX_UPPER (64u << 20) /* 64 MiB */

/* Defaults (bytes): 512 KiB / 1 MiB / 8 MiB. */
#define CF_CHUNKER_DEFAULT_MIN (512u << 10)
#define CF_CHUNKER_DEFAULT_AVG (1u << 20)
#define CF_CHUNKER_DEFAULT_MAX (8u << 20)

struct cf_chunker_params {
	uint32_t min; /* no chunk but a file's last is shorter */
	uint32_t avg; /* the normal size, where the cut condition loosens; a power of two */
	uint32_t max; /* a chunk is cut here at the latest */
};

struct cf_chunker;

/* cf_chunker_params_default - fill @p with the defaults above. */
void cf_chunker_params_default(struct cf_chunker_params *p);

/*
 * cf_chunker_params_check - 0 when @p satisfies the bounds above, CF_E_INVAL otherwise
 * (also for a NULL @p).
 */
int cf_chunker_params_check(const struct cf_chunker_params *p);

/*
 * cf_chunker_new - a chunker with parameters @p (NULL for the defaults) whose gear table
 * is derived from the secret @key (CF_CHUNKER_KEY_BYTES): the epoch's gear key, subkey
 * "cfgear__"/4 of the epoch master key (docs/repository-format.md); the expansion into
 * the table is in docs/chunking.md. The state (table included) lives in secure memory
 * and is wiped by cf_chunker_free. The chunker starts at the beginning of a file.
 * Sets *@out only on success. Returns 0; CF_E_INVAL for bad parameters or a NULL @out or
 * @key; CF_E_CRYPTO when the crypto library cannot start; -ENOMEM.
 */
int cf_chunker_new(struct cf_chunker **out, const struct cf_chunker_params *p,
		   const uint8_t key[CF_CHUNKER_KEY_BYTES]);

/* cf_chunker_free - wipe and release @c. Accepts NULL. */
void cf_chunker_free(struct cf_chunker *c);

/* cf_chunker_reset - forget any pending bytes and start a new file. */
void cf_chunker_reset(struct cf_chunker *c);

/* cf_chunker_get_params - copy the parameters @c was created with into *@p. */
void cf_chunker_get_params(const struct cf_chunker *c, struct cf_chunker_params *p);

/*
 * cf_chunker_next - feed the next @len bytes of the file, in blocks of any size.
 *
 * When a chunk ends inside @buf, returns its length (> 0, <= max), counted from the start
 * of the current chunk, so it includes the bytes of earlier calls still pending; sets
 * *@consumed to the number of bytes of @buf up to and including the chunk's last byte.
 * The chunker then starts the next chunk; call again with the rest of @buf.
 * Otherwise returns 0 with *@consumed = @len: every byte is pending in the current chunk.
 *
 * At end of file the pending bytes (cf_chunker_pending) are the last chunk. Never reads
 * outside buf[0..len). @buf may be NULL when @len is 0.
 */
size_t cf_chunker_next(struct cf_chunker *c, const uint8_t *buf, size_t len,
		       size_t *consumed);

/*
 * cf_chunker_pending - bytes fed since the last cut (or reset): the length of the current
 * chunk so far, always < max.
 */
uint64_t cf_chunker_pending(const struct cf_chunker *c);

/*
 * cf_chunker_cut - for a whole in-memory buffer: the length of the first chunk of
 * buf[0..len), as if @buf were the start of a file. Returns @len when no boundary is
 * found (so @len itself if @len <= min), 0 only when @len is 0. Does not touch the
 * streaming state of @c. Same cuts as cf_chunker_next fed the same bytes in any blocks.
 */
size_t cf_chunker_cut(const struct cf_chunker *c, const uint8_t *buf, size_t len);
