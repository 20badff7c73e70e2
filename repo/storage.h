/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Storage: where a repository's objects live. One interface for every backend
 * (file:// now; WebDAV and S3 over libcurl later), described in docs/storage.md.
 *
 * A repository is a flat set of write-once objects with names from a fixed grammar:
 *
 *   config
 *   keys/<id>   index/<id>   snapshots/<id>   forget/<id>   locks/<id>
 *   data/<id[0:2]>/<id>
 *
 * where <id> is exactly 64 lower-case hex digits. Every name is checked here, once,
 * before any backend sees it (CF_E_INVAL otherwise), and every name a backend lists is
 * checked again before the caller sees it.
 *
 * Guarantees of every backend: an object is visible under its name complete or not at
 * all; a put never replaces an existing object (CF_E_EXISTS); objects are streamed from
 * and to file descriptors, never held whole in memory (except get_buf, which the caller
 * bounds). Every call may run concurrently with others on the same handle from several
 * threads.
 *
 * Errors follow core/error.h. An unexpected failure is logged once, naming the object
 * and the URL. CF_E_NOTFOUND (open, get, stat, delete) and CF_E_EXISTS (put) are
 * routine answers to probes and are not logged: the caller logs them if they matter.
 */
#include <stddef.h>
#include <stdint.h>

/* The longest object name, plus its NUL ("snapshots/" + 64 hex + NUL is 75). */
#define CF_STORAGE_NAME_MAX 80

/* Hex digits in an object id. */
#define CF_STORAGE_ID_HEX 64

struct cf_storage;

/*
 * cf_storage_open - open the repository at @url.
 * @url: "file:///abs/path", "file://rel/path" (relative to the working directory),
 *       "file://localhost/abs/path", or a bare path (same as file://); percent escapes
 *       in file:// URLs are decoded. "webdav+http(s)://", "http(s)://" and "s3://" are
 *       recognised but not built yet; any other scheme is refused.
 * @create: when the location is absent or an empty folder, create it (folders 0700,
 *       parents included) and make it ready to receive objects. Otherwise, or without
 *       @create, open what is there; the caller decides whether it is a repository.
 * file:// opening sweeps temporary files older than a day left by interrupted puts.
 * Sets *@out only on success.
 * Returns 0; CF_E_INVAL when @out is NULL; CF_E_CONFIG for a malformed URL, an unknown or unbuilt scheme, or a
 * location that is not a folder; CF_E_NOTFOUND when the location is absent and
 * !@create; -ENOMEM; -errno from the system.
 */
int cf_storage_open(struct cf_storage **out, const char *url, int create);

/*
 * cf_storage_fresh - 1 when @s was opened with create and its location was absent or an
 * empty folder then (nothing foreign there: safe to initialise a repository), else 0.
 */
int cf_storage_fresh(const struct cf_storage *s);

/* cf_storage_free - close a handle and release it. Accepts NULL. */
void cf_storage_free(struct cf_storage *s);

/*
 * cf_storage_url - the location of @s, for messages: a canonical URL with an absolute
 * path for file://, never any credential. Valid until cf_storage_free(); never NULL.
 */
const char *cf_storage_url(const struct cf_storage *s);

/*
 * cf_storage_name_valid - 1 when @name follows the object name grammar above, 0
 * otherwise (NULL, empty, "..", absolute, empty segments, an unknown folder, an id that
 * is not 64 lower-case hex digits, or a data/ folder that is not the id's first two).
 */
int cf_storage_name_valid(const char *name);

/*
 * cf_storage_put_file - store @len bytes read from @fd as the new object @name.
 * @fd is read with pread(2) from offset 0 (so a backend may retry or read it in
 * parallel); its file offset is neither used nor changed. It must be a regular file
 * (or another seekable descriptor) holding at least @len bytes.
 * Write-once and atomic: on success the object is durable (fsync'ed or acknowledged by
 * the server); on failure no partial object is ever visible under @name (only when the
 * very last step, making the folder entry durable, fails may the complete object
 * remain; a retry then gets CF_E_EXISTS).
 * Returns 0; CF_E_EXISTS when @name exists (the stored object is left unchanged);
 * CF_E_INVAL for an invalid name; CF_E_TRUNCATED when @fd holds fewer than @len bytes;
 * -ENOSPC when storage is full; -errno (e.g. -ESPIPE when @fd is a pipe).
 */
int cf_storage_put_file(struct cf_storage *s, const char *name, int fd, uint64_t len);

/*
 * cf_storage_put_buf - store the @len bytes at @buf as the new object @name. For small
 * objects (config, keys, index, manifests); same guarantees and returns as
 * cf_storage_put_file() (without CF_E_TRUNCATED).
 */
int cf_storage_put_buf(struct cf_storage *s, const char *name, const void *buf, size_t len);

/*
 * cf_storage_get_file - stream the object @name into @fd with write(2) from its
 * current offset (a pipe is fine). *@len receives the number of bytes written, on
 * success only (@len may be NULL).
 * On failure, part of the object may already have been written to @fd: write into a
 * temporary file and discard it on error.
 * Returns 0; CF_E_NOTFOUND; CF_E_INVAL for an invalid name; CF_E_TRUNCATED when the
 * object ended before its announced size; -errno from reading or from writing @fd
 * (e.g. -ENOSPC on a full disk).
 */
int cf_storage_get_file(struct cf_storage *s, const char *name, int fd, uint64_t *len);

/*
 * cf_storage_get_buf - read the whole object @name into a new malloc'ed buffer,
 * refusing objects larger than @max bytes. *@buf (free() it) and *@len are set on
 * success only; an empty object gives a non-NULL *@buf and *@len 0.
 * Returns 0; CF_E_NOTFOUND; CF_E_INVAL; CF_E_LIMIT when the object exceeds @max;
 * CF_E_TRUNCATED; -ENOMEM; -errno.
 */
int cf_storage_get_buf(struct cf_storage *s, const char *name, uint8_t **buf, size_t *len,
		       size_t max);

/*
 * cf_storage_get_range - read exactly @len bytes of object @name from byte @off into
 * @buf (a window of a pack for restore). @len 0 only tests that the object exists.
 * On failure @buf may have been partly overwritten.
 * Returns 0; CF_E_NOTFOUND; CF_E_INVAL (invalid name, or @off + @len overflows);
 * CF_E_TRUNCATED when the object ends before @off + @len; -errno.
 */
int cf_storage_get_range(struct cf_storage *s, const char *name, uint64_t off, uint64_t len,
			 uint8_t *buf);

/*
 * cf_storage_stat - the size of object @name in *@size (on success only; @size may be
 * NULL to test existence).
 * Returns 0; CF_E_NOTFOUND; CF_E_INVAL; -errno.
 */
int cf_storage_stat(struct cf_storage *s, const char *name, uint64_t *size);

/*
 * cf_storage_list_cb - called once per listed object with its full name (valid for the
 * duration of the call) and size. Return 0 to go on; any other value stops the listing
 * and becomes the return value of cf_storage_list().
 */
typedef int (*cf_storage_list_cb)(void *ctx, const char *name, uint64_t size);

/*
 * cf_storage_list - call @cb for every object whose name starts with @prefix, in no
 * particular order. @prefix is "" (every object), a folder with its slash ("data/",
 * "snapshots/"), or such a folder followed by the start of a valid name ("data/ab/",
 * "snapshots/3fa2" to find an object by a short id). data/ is searched through its
 * two-hex subfolders. Temporary files and anything that is not a valid object name are
 * never reported. Objects put or deleted during the listing may or may not be reported.
 * Returns 0; CF_E_INVAL for a prefix that no valid name starts with; the first non-zero
 * value of @cb; -errno.
 */
int cf_storage_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb, void *ctx);

/*
 * cf_storage_delete - remove object @name (forget, prune, releasing a lock). Durable on
 * success. Returns 0; CF_E_NOTFOUND when absent; CF_E_INVAL; -errno.
 */
int cf_storage_delete(struct cf_storage *s, const char *name);
