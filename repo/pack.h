/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Packs (docs/repository-format.md, "Packs"): blobs of one epoch in arrival order, zero
 * padding (to a Padmé size, or to 64 KiB for a pack that reached the target size), an encrypted table of the blobs, its length and "CFPT".
 * Built in a spool file (never in memory) and handed to storage as a file descriptor.
 * Index files reuse the table's entry encoding.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/keys.h"

#define CF_PACK_MAX_BYTES (1u << 30)
#define CF_PACK_ENTRY_BYTES (1 + 32 + 4 + 4 + 4)
#define CF_PACK_TRAILER_BYTES 8
#define CF_PACK_HEADER_BYTES 4

struct cf_pack_entry {
	uint8_t type;
	uint8_t id[CF_BLOB_ID_BYTES];
	uint32_t offset;     /* from the start of the pack */
	uint32_t length;     /* stored (encrypted) length */
	uint32_t raw_length; /* plaintext length */
};

struct cf_packw;

/*
 * cf_packw_new - start a pack for epoch keys @k in an anonymous spool file under
 * @spool_dir (repo/spool.h: written and hashed by a background thread). @flags:
 * CF_PACKW_DIRECT writes the spool with O_DIRECT, for a spool that storage links into a
 * local repository and nobody reads back soon; CF_PACKW_NAME_TAIL makes a version 2 pack,
 * named by cf_pack_tail_name (else version 1, named by the hash of all its bytes). Sets *@out only on success. Returns 0 or
 * -errno.
 */
#define CF_PACKW_DIRECT 1u
#define CF_PACKW_NAME_TAIL 2u /* a version 2 pack (repository format 2): cf_pack_tail_name */
int cf_packw_new(struct cf_packw **out, const char *spool_dir, const struct cf_repokeys *k,
		 const uint8_t repo_id[CF_REPO_ID_BYTES], unsigned flags);

/*
 * cf_packw_add - append one sealed blob (from cf_blob_seal) with its type, id and
 * plaintext length. Returns 0, CF_E_LIMIT when the pack would exceed CF_PACK_MAX_BYTES,
 * -errno on a spool write failure (e.g. -ENOSPC).
 */
int cf_packw_add(struct cf_packw *p, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES],
		 const uint8_t *stored, uint32_t stored_len, uint32_t raw_len);

/*
 * cf_packw_mark_full - the pack is closed because it reached the target size (not at
 * the end of a backup): cf_packw_finish pads it to a multiple of CF_PACK_FULL_UNIT
 * instead of its Padmé length (docs/repository-format.md, "Padding").
 */
#define CF_PACK_FULL_UNIT (64u << 10)
void cf_packw_mark_full(struct cf_packw *p);

/* cf_packw_bytes - bytes of blobs added so far; cf_packw_count - how many blobs. */
uint64_t cf_packw_bytes(const struct cf_packw *p);
size_t cf_packw_count(const struct cf_packw *p);

/*
 * cf_packw_finish - complete the pack in its anonymous file (blobs in arrival order,
 * padding, table, trailer) and wait for the spool's writer; call it without holding locks
 * that other writers need. On success *@fd is a descriptor the caller reads with pread and
 * closes, *@size its length, @pack_id its name (docs/repository-format.md), and
 * *@entries (malloc'ed, caller frees) the *@n blobs with their final offsets.
 * The writer is spent either way; free it. Returns 0, -errno, -ENOMEM.
 */
int cf_packw_finish(struct cf_packw *p, int *fd, uint64_t *size, uint8_t pack_id[32],
		    struct cf_pack_entry **entries, size_t *n);

/* cf_packw_direct - 1 when the pack's bytes went out with O_DIRECT (tests, statistics). */
int cf_packw_direct(const struct cf_packw *p);

/* cf_packw_free - discard the writer and its spool. Accepts NULL. */
void cf_packw_free(struct cf_packw *p);

/* cf_pack_padme - the Padmé padded length for @len (>= @len). */
uint64_t cf_pack_padme(uint64_t len);

/*
 * cf_pack_padded - the length a pack of @len bytes is padded to: a multiple of
 * CF_PACK_FULL_UNIT when @full (it reached the target size), else cf_pack_padme(@len).
 */
uint64_t cf_pack_padded(uint64_t len, int full);

/* cf_pack_version - a pack's version from its first 4 bytes: 1, 2, or 0 (not a pack). */
int cf_pack_version(const uint8_t head[CF_PACK_HEADER_BYTES]);

/*
 * cf_pack_tail_name - the name of a version 2 pack of @pack_size bytes whose last
 * @tail_len bytes (its table and trailer) are @tail: BLAKE2b-256("CFP" 0x02 || size u64 ||
 * tail). The table binds every blob's id, place and length, and each blob's AEAD binds its
 * id, so the name need not hash the blobs again (docs/repository-format.md).
 * Returns 0 or -ENOMEM.
 */
int cf_pack_tail_name(uint8_t id[32], uint64_t pack_size, const uint8_t *tail, size_t tail_len);

/*
 * cf_pack_trailer - parse a pack's last CF_PACK_TRAILER_BYTES bytes: *@table_len is the
 * table's length. Returns 0; CF_E_FORMAT for a wrong magic; CF_E_CORRUPT when the table
 * cannot fit in a pack of @pack_size bytes.
 */
int cf_pack_trailer(const uint8_t tail[CF_PACK_TRAILER_BYTES], uint64_t pack_size,
		    uint32_t *table_len);

/*
 * cf_pack_table_parse - verify, decrypt and check a pack table (untrusted bytes) of a
 * pack of @pack_size bytes: every entry must lie inside the blob area, in no overlap
 * with another, of a known type, at least a blob's overhead long, within the limits.
 * *@entries is malloc'ed (caller frees). Returns 0; the object errors of cf_object_open;
 * CF_E_CORRUPT for an inconsistent table; -ENOMEM.
 */
int cf_pack_table_parse(const uint8_t *table, size_t len, uint64_t pack_size,
			const struct cf_keyring *ring, const uint8_t repo_id[CF_REPO_ID_BYTES],
			uint32_t *epoch, struct cf_pack_entry **entries, size_t *n);

/*
 * cf_pack_entries_encode / _decode - the binary entry list shared by pack tables and
 * index files: n u32 || n x entry (type u8, id[32], offset u32, length u32, raw u32).
 * Encode returns a malloc'ed buffer. Decode checks counts against @len and types; it
 * does not know pack geometry (see cf_pack_table_parse). Returns 0, CF_E_TRUNCATED,
 * CF_E_FORMAT (trailing bytes), CF_E_CORRUPT (bad type), CF_E_LIMIT, -ENOMEM.
 */
int cf_pack_entries_encode(uint8_t **out, size_t *outlen, const struct cf_pack_entry *e,
			   size_t n);
int cf_pack_entries_decode(const uint8_t *in, size_t len, size_t *used,
			   struct cf_pack_entry **entries, size_t *n);
