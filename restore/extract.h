/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Safe extraction of a snapshot's tar stream into a folder, and the atomic swap of a
 * restored folder into the place of the live one (docs/archive.md, "Extraction").
 *
 * The stream is untrusted even though repo/archive.h produced it: only regular files and
 * directories are written, only below the target, never through a symbolic link, never
 * with setuid/setgid/sticky bits, never owned by anyone but the caller.
 *
 *   restore into the live store:
 *       cf_extract_tmpdir(live, &tmp);            // next to live, same filesystem
 *       cf_extract_stream(tmp, cf_tarstream_pull, stream, 0, &st);
 *       cf_extract_swap_into(tmp, live);          // on failure: remove tmp, live intact
 */
#include <stddef.h>
#include <stdint.h>

/*
 * cf_extract_read_fn - pull the next bytes of the tar stream: up to @len bytes into
 * @buf, their number in *@got (0 at the end). Returns 0 or an error code, which
 * cf_extract_stream returns as is. repo/archive.h's cf_tarstream_pull has this shape.
 */
typedef int (*cf_extract_read_fn)(void *ctx, void *buf, size_t len, size_t *got);

enum cf_extract_flags {
	CF_EXTRACT_NO_OVERWRITE = 1 << 0, /* an existing file at an entry's path: CF_E_EXISTS */
	CF_EXTRACT_NO_TIME = 1 << 1,      /* leave modification times at "now" */
};

struct cf_extract_stats {
	uint64_t files; /* regular files written */
	uint64_t dirs;  /* directories created or updated */
	uint64_t bytes; /* file content bytes written */
};

/*
 * cf_extract_stream - read a tar (pax/ustar) stream from @rd and write its entries below
 * the existing directory @target, which is taken as given (it may be reached through a
 * symbolic link; nothing below it may be).
 *
 * Each entry is checked before anything is written for it; the extraction stops at the
 * first entry that is not a regular file or a directory (symbolic or hard link, device,
 * fifo, sparse file...), whose path is empty, absolute, has an empty, "." or ".."
 * component or a backslash, is longer than PATH_MAX, or whose mode has the setuid,
 * setgid or sticky bit, or whose path goes through (or ends at) an existing symbolic
 * link below @target: CF_E_UNSAFE, logged once naming the entry. Then libarchive writes
 * it with ARCHIVE_EXTRACT_SECURE_NODOTDOT | SECURE_SYMLINKS | SECURE_NOABSOLUTEPATHS,
 * ARCHIVE_EXTRACT_PERM (mode & 0777, the umask does not apply) and ARCHIVE_EXTRACT_TIME,
 * never ownership, ACLs, xattrs or file flags. Entries already written stay: the caller
 * extracts into a fresh temporary folder and removes it on failure.
 *
 * Only the tar format is read: compressed or other archive formats are refused. While
 * it runs, the process's working directory is @target (libarchive resolves relative
 * paths from it); it is restored before returning. Not for multi-threaded callers.
 *
 * @flags: enum cf_extract_flags. *@st (may be NULL) receives the counts, also on error
 * (what was written until then).
 * Returns 0; CF_E_UNSAFE; CF_E_FORMAT (not a tar stream, or a malformed one);
 * CF_E_EXISTS (CF_EXTRACT_NO_OVERWRITE); CF_E_INVAL (NULL argument, @target not a
 * directory); an error of @rd; -errno from the filesystem (-ENOSPC, -EACCES, ...);
 * CF_E_IO for other libarchive failures. Errors are logged once.
 */
int cf_extract_stream(const char *target, cf_extract_read_fn rd, void *ctx, unsigned flags,
                      struct cf_extract_stats *st);

/*
 * cf_extract_tmpdir - create a private (0700) empty directory next to @live_dir, on the
 * same filesystem, named ".<name>.restore-XXXXXX", for cf_extract_swap_into. If
 * @live_dir is a symbolic link, next to what it points to. *@out is malloc'ed (caller
 * frees). Returns 0, CF_E_INVAL or -errno.
 */
int cf_extract_tmpdir(const char *live_dir, char **out);

enum cf_swap_flags {
	CF_SWAP_NO_EXCHANGE = 1 << 0, /* skip RENAME_EXCHANGE, use the fallback (tests) */
};

/*
 * cf_extract_swap_into - make the restored directory @tmpdir the live directory
 * @live_dir and delete the previous content, so readers of @live_dir see either the old
 * or the new content, never a mix.
 *
 * When @live_dir holds anything, first flushes the filesystem holding @tmpdir (syncfs)
 * so the new content is on disk before the old is deleted, and after the swap the
 * parent folder (fsync); an empty or absent @live_dir has nothing to lose and is not
 * flushed for (as cp or tar would not). Gives @tmpdir the permission bits of @live_dir.
 * Then:
 *  - @live_dir does not exist: rename(tmpdir, live_dir).
 *  - renameat2(RENAME_EXCHANGE) swaps the two directories atomically; the old content,
 *    now at @tmpdir, is removed.
 *  - where the filesystem lacks RENAME_EXCHANGE (EINVAL/ENOSYS/ENOTSUP: some network
 *    and FUSE filesystems), live_dir is renamed to "<live_dir>.old-<pid>", tmpdir to
 *    live_dir, and the old one removed. For the short moment between the two renames
 *    live_dir does not exist (it is never half-written); if the second rename fails, the
 *    old directory is renamed back.
 * A symbolic link at @live_dir is followed (the directory it names is replaced; the link
 * stays). Both must be on one filesystem (-EXDEV otherwise: use cf_extract_tmpdir).
 * Failing to delete the old content is logged as a warning and still returns 0 (the new
 * content is in place; the old sits at the logged path).
 * Returns 0; CF_E_INVAL (@tmpdir is not a directory, or @live_dir exists and is not
 * one); -errno from rename (nothing changed). Errors are logged once.
 */
int cf_extract_swap_into(const char *tmpdir, const char *live_dir);

/* cf_extract_swap_into_flags - cf_extract_swap_into with enum cf_swap_flags @flags. */
int cf_extract_swap_into_flags(const char *tmpdir, const char *live_dir, unsigned flags);

/*
 * cf_extract_rmtree - remove @path and everything below it without following symbolic
 * links and without leaving the filesystem; directories without write or search
 * permission are made accessible first. Returns 0 (also when @path does not exist),
 * -errno of the first failure, or -ELOOP beyond 1024 levels.
 */
int cf_extract_rmtree(const char *path);
