/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The snapshot archive (docs/repository-format.md, "Snapshot archive"; byte layouts in
 * docs/archive.md).
 *
 * A snapshot's content is, byte for byte, a POSIX pax tar stream of the store folder. It
 * is not stored as a tar file: it is kept as a sequence of entries, each carrying the
 * exact tar header bytes libarchive produced for it and its body as an ordered list of
 * chunk references. The entries are encoded into TREE blob payloads ("pieces", about
 * 1 MiB each) whose ids the manifest lists in order.
 *
 *   backup:   cf_archive_header() per file -> cf_tree_writer_add() -> pieces (emit callback)
 *   restore:  pieces -> cf_tree_reader -> cf_tarstream (+ fetch callback for chunks)
 *             -> tar bytes (cf_tarstream_read / cf_tarstream_export / restore/extract.h)
 *
 * Everything read back (pieces, the header bytes inside them) is treated as untrusted:
 * every count, length, path and header is checked before use.
 *
 * Entries are regular files and directories only. Paths are relative, valid UTF-8, at
 * most CF_ARCHIVE_PATH_MAX bytes, with no empty, "." or ".." component, no leading or
 * trailing '/', and no NUL or backslash anywhere (cf_archive_path_check).
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/keys.h"

#define CF_ARCHIVE_PATH_MAX   4096         /* bytes of a path, without the NUL */
#define CF_ARCHIVE_HEADER_MAX (64u << 10)  /* bytes of one entry's tar header(s) */
#define CF_ARCHIVE_SIZE_MAX   (1ull << 40) /* bytes of one file */
#define CF_ARCHIVE_REF_MAX    (64u << 20)  /* bytes of one chunk (= CF_BLOB_MAX_PLAIN) */
#define CF_TAR_BLOCK          512u

#define CF_TREE_VERSION      1          /* the piece encoding this build writes and reads */
#define CF_TREE_PIECE_TARGET (1u << 20) /* default piece size the writer aims for */
#define CF_TREE_PIECE_MAX    (8u << 20) /* no piece is larger (one big entry alone) */

enum cf_archive_type {
	CF_ARCHIVE_FILE = 1, /* regular file */
	CF_ARCHIVE_DIR = 2,  /* directory */
};

enum cf_archive_body {
	CF_ARCHIVE_BODY_REFS = 0,      /* refs[] are the body's chunks, in order */
	CF_ARCHIVE_BODY_CHUNKLIST = 1, /* refs[0] is the root CHUNKLIST blob (issue 4) */
};

/* One chunk of a body: a DATA blob id and the chunk's plaintext length. */
struct cf_archive_ref {
	uint8_t id[CF_BLOB_ID_BYTES];
	uint32_t len;
};

/*
 * One archive entry. As input (writer) every pointer is borrowed for the call. As output
 * (reader) every pointer is owned by the reader and valid until its next call.
 */
struct cf_archive_entry {
	const char *path;      /* NUL-terminated, see cf_archive_path_check */
	uint8_t type;          /* enum cf_archive_type */
	uint8_t body;          /* enum cf_archive_body */
	uint32_t mode;         /* permission bits, <= 0777 */
	uint64_t size;         /* body bytes; 0 for directories; <= CF_ARCHIVE_SIZE_MAX */
	int64_t mtime;         /* seconds since the epoch */
	uint32_t mtime_nsec;   /* < 1e9 */
	const uint8_t *header; /* the tar header bytes (pax extended header + ustar) */
	size_t header_len;     /* a multiple of 512, 512..CF_ARCHIVE_HEADER_MAX */
	const struct cf_archive_ref *refs;
	size_t nrefs; /* BODY_REFS: lengths sum to size; BODY_CHUNKLIST: 1 */
};

/*
 * cf_archive_path_check - 0 when @path (@len bytes, no NUL expected inside) is a valid
 * entry path: 1..CF_ARCHIVE_PATH_MAX bytes of valid UTF-8 (no overlong forms, no
 * surrogates), no NUL, no backslash, not starting or ending with '/', no empty, "." or
 * ".." component. CF_E_INVAL otherwise. Pure; never logs.
 */
int cf_archive_path_check(const char *path, size_t len);

/*
 * cf_archive_printable - @path made safe for a log line in @buf (@n bytes, >= 16):
 * control bytes (C0, DEL, C1 raw or UTF-8 encoded) shown as \xNN, cut with "..." when
 * too long. Returns @buf, or "(none)" for a NULL @path.
 */
const char *cf_archive_printable(const char *path, char *buf, size_t n);

/*
 * cf_archive_header - the tar header bytes for the entry described by @e (path, type,
 * mode, size, mtime; the other fields are ignored) as libarchive's pax writer
 * ("pax restricted": a pax extended header only when the ustar header cannot hold the
 * path or size) produces them: uid/gid 0, empty user and group names, mode & 0777,
 * mtime in whole seconds, no atime/ctime. Paths are written as UTF-8 whatever the
 * process locale. The output depends on the inputs only (deterministic).
 *
 * Writes the header into @buf (@cap bytes; CF_ARCHIVE_HEADER_MAX always suffices) and
 * its length, a multiple of 512, into *@len (only on success).
 * Returns 0; CF_E_INVAL for an invalid path (cf_archive_path_check), type, size or NULL
 * argument; CF_E_LIMIT when @cap is too small; CF_E_IO when libarchive fails (logged);
 * -ENOMEM.
 */
int cf_archive_header(const struct cf_archive_entry *e, uint8_t *buf, size_t cap, size_t *len);

/*
 * cf_archive_header_check - 0 when e->header is a header this module could have written
 * for @e: [one pax 'x' extended header +] one ustar header, checksums valid, typeflag
 * matching e->type, the path (pax "path" or ustar prefix/name) equal to e->path (a
 * directory may carry one trailing '/'), the size (pax "size" or ustar size) equal to
 * e->size, no link name, and only the pax keys path, size, mtime, atime, ctime, uid,
 * gid, uname, gname, hdrcharset, each at most once. So a tar reader reading the header
 * sees the entry the tree describes and the stream stays in step.
 * Returns 0 or CF_E_CORRUPT (CF_E_INVAL for a NULL @e). Never logs.
 */
int cf_archive_header_check(const struct cf_archive_entry *e);

/* ---------------------------------------------------------------------------------- */
/* Tree encoding: a sequence of entries cut into TREE blob payloads.                   */

struct cf_tree_writer;

/*
 * cf_tree_emit_fn - receives one finished piece (@len bytes, valid during the call);
 * the caller stores it as a TREE blob and appends its id to the manifest's list.
 * Returns 0 or an error code, which the writer returns to its caller unchanged.
 */
typedef int (*cf_tree_emit_fn)(void *ctx, const uint8_t *piece, size_t len);

/*
 * cf_tree_writer_new - a streaming tree encoder that emits pieces through @emit. A piece
 * is closed before it would grow beyond @target bytes (0 for CF_TREE_PIECE_TARGET); an
 * entry never spans pieces, so a single entry larger than @target makes a piece of its
 * own. Sets *@out only on success. Returns 0, CF_E_INVAL (NULL @out or @emit, @target >
 * CF_TREE_PIECE_MAX) or -ENOMEM.
 */
int cf_tree_writer_new(struct cf_tree_writer **out, size_t target, cf_tree_emit_fn emit, void *ctx);

/*
 * cf_tree_writer_add - append entry @e (all fields used; cf_archive_header gives the
 * header). The entry is checked exactly as the reader will check it, so the writer never
 * produces a tree the reader refuses. May emit the previous piece.
 * Returns 0; CF_E_INVAL for an invalid entry (logged, naming the path); CF_E_LIMIT when
 * the entry alone exceeds CF_TREE_PIECE_MAX (use a CHUNKLIST body); an error of @emit;
 * -ENOMEM. After an error from @emit or -ENOMEM the writer is unusable (every later call
 * returns the same code); after CF_E_INVAL/CF_E_LIMIT the entry is skipped and the
 * writer carries on.
 */
int cf_tree_writer_add(struct cf_tree_writer *w, const struct cf_archive_entry *e);

/*
 * cf_tree_writer_finish - emit the last, partial piece (an empty tree has no piece).
 * *@npieces (may be NULL) receives the number of pieces emitted in total. Further adds
 * are refused (CF_E_INVAL). Returns 0 or an error of @emit.
 */
int cf_tree_writer_finish(struct cf_tree_writer *w, size_t *npieces);

/* cf_tree_writer_free - release @w (pending entries not yet emitted are lost). NULL ok. */
void cf_tree_writer_free(struct cf_tree_writer *w);

struct cf_tree_reader;

/*
 * cf_tree_piece_fn - produce piece number @index (0, 1, ...) of the tree: 0 with a
 * malloc'ed buffer in *@piece (the reader frees it) and its length in *@len; 0 with
 * *@piece = NULL after the last piece; or an error code, returned by the reader as is.
 */
typedef int (*cf_tree_piece_fn)(void *ctx, size_t index, uint8_t **piece, size_t *len);

/*
 * cf_tree_reader_new - a decoder over the pieces produced by @next. Sets *@out only on
 * success. Returns 0, CF_E_INVAL (NULL argument) or -ENOMEM.
 */
int cf_tree_reader_new(struct cf_tree_reader **out, cf_tree_piece_fn next, void *ctx);

/*
 * cf_tree_reader_new_mem - a decoder over @n pieces held by the caller (pieces[i],
 * lens[i] bytes), which must outlive the reader. For tests, fuzzing and callers that
 * already hold every piece. Returns 0, CF_E_INVAL or -ENOMEM.
 */
int cf_tree_reader_new_mem(struct cf_tree_reader **out, const uint8_t *const *pieces,
                           const size_t *lens, size_t n);

/*
 * cf_tree_reader_next - the next entry: 0 with *@e set (valid until the next call or
 * free), or 0 with *@e = NULL at the end of the tree. Each piece is checked whole before
 * its first entry is returned. Errors (logged once, naming piece and entry):
 * CF_E_FORMAT (bad magic, trailing bytes), CF_E_VERSION (piece encoding or body kind
 * newer than this build), CF_E_TRUNCATED, CF_E_CORRUPT (inconsistent entry, piece out
 * of order, invalid path or header), CF_E_LIMIT (piece, path, header, size or chunk
 * beyond its limit), errors of the piece callback, -ENOMEM. An error is sticky: every
 * later call returns it again.
 */
int cf_tree_reader_next(struct cf_tree_reader *r, const struct cf_archive_entry **e);

/* cf_tree_reader_free - release @r and the piece it holds. Accepts NULL. */
void cf_tree_reader_free(struct cf_tree_reader *r);

/* ---------------------------------------------------------------------------------- */
/* The tar stream: header || body || zero padding to 512, per entry; then 2 zero blocks. */

/*
 * cf_chunk_fetch_fn - the plaintext of DATA blob @id, which must be exactly @len bytes
 * (the repository checks the blob's raw length against @len): 0 with a malloc'ed buffer
 * in *@data (the stream frees it), or an error code, which the stream returns as is.
 */
typedef int (*cf_chunk_fetch_fn)(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len,
                                 uint8_t **data);

struct cf_tarstream;

struct cf_tarstream_stats {
	uint64_t files;        /* regular file entries emitted */
	uint64_t dirs;         /* directory entries emitted */
	uint64_t body_bytes;   /* file content bytes emitted */
	uint64_t stream_bytes; /* tar bytes emitted in total */
};

/*
 * cf_tarstream_new - a tar stream producer over the entries of @r (borrowed: it must
 * outlive the stream and not be used by anyone else meanwhile), fetching chunks through
 * @fetch one at a time (memory: one chunk plus one piece). Sets *@out only on success.
 * Returns 0, CF_E_INVAL or -ENOMEM.
 */
int cf_tarstream_new(struct cf_tarstream **out, struct cf_tree_reader *r, cf_chunk_fetch_fn fetch,
                     void *ctx);

/*
 * A producer of CHUNKLIST bodies (database page maps, repo/dbmap.h): @open starts entry
 * @e's body (0 with a handle in *@h), @read gives its next bytes (*@got < @len only at its
 * end), @close releases the handle. The stream checks that exactly e->size bytes come.
 */
struct cf_body_source {
	int (*open)(void *ctx, const struct cf_archive_entry *e, void **h);
	int (*read)(void *h, uint8_t *buf, size_t len, size_t *got);
	void (*close)(void *h);
};

/*
 * cf_tarstream_set_body_source - read CHUNKLIST bodies through @src (borrowed; @ctx is
 * passed to @src->open). Without one such a body stops the stream with CF_E_VERSION.
 * Returns 0 or CF_E_INVAL (NULL argument, or reading began).
 */
int cf_tarstream_set_body_source(struct cf_tarstream *s, const struct cf_body_source *src,
                                 void *ctx);

/*
 * cf_tarstream_set_filter - emit only the entries whose path equals one of @paths[0..n)
 * or lies below one (at a '/' boundary: "a/b" selects "a/b" and "a/b/c", not "a/bc").
 * Trailing '/' in a filter path is ignored. Call before the first read. Ancestor
 * directories of a selected entry are not added (the extractor creates them).
 * Returns 0; CF_E_INVAL for an invalid filter path (cf_archive_path_check), n == 0 or a
 * call after reading began; -ENOMEM.
 */
int cf_tarstream_set_filter(struct cf_tarstream *s, const char *const *paths, size_t n);

/*
 * cf_tarstream_filter_matched - after the stream ended: 1 when @paths[i] of the filter
 * selected at least one entry, 0 otherwise (also for i out of range or no filter).
 */
int cf_tarstream_filter_matched(const struct cf_tarstream *s, size_t i);

/*
 * cf_tarstream_read - the next up to @len bytes of the stream into @buf. *@got receives
 * the number written: less than @len only at the end of the stream, 0 once it is over.
 * Returns 0; CF_E_VERSION for a CHUNKLIST body without a body source (logged);
 * errors of the tree reader or of @fetch, unchanged. Errors are sticky.
 */
int cf_tarstream_read(struct cf_tarstream *s, void *buf, size_t len, size_t *got);

/*
 * cf_tarstream_pull - cf_tarstream_read with the stream as a void pointer: the shape of
 * restore/extract.h's cf_extract_read_fn, so a stream can feed the extractor directly.
 */
int cf_tarstream_pull(void *stream, void *buf, size_t len, size_t *got);

/*
 * cf_tarstream_export - write the whole (rest of the) stream to @fd (restore export).
 * Returns 0, the errors of cf_tarstream_read, or -errno of write (-EPIPE when the reader
 * went away; the caller decides about SIGPIPE). Logs write errors.
 */
int cf_tarstream_export(struct cf_tarstream *s, int fd);

/* cf_tarstream_get_stats - counters of what was emitted so far. */
void cf_tarstream_get_stats(const struct cf_tarstream *s, struct cf_tarstream_stats *st);

/* cf_tarstream_free - release @s and any chunk it holds (not the tree reader). NULL ok. */
void cf_tarstream_free(struct cf_tarstream *s);
