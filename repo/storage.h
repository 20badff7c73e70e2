/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Storage: where a repository's objects live. One interface for every backend
 * (file://, WebDAV and S3 over libcurl), described in docs/storage.md.
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
 *       in file:// URLs are decoded. "webdav+http(s)://host[:port]/path" (also written
 *       "http(s)://...") for a WebDAV server; "s3://bucket[/prefix]" for an S3 bucket.
 *       Any other scheme is refused. Settings of the HTTP backends come from the
 *       environment only (see cf_storage_open_with()).
 * @create: when the location is absent or an empty folder, create it (folders 0700,
 *       parents included) and make it ready to receive objects. Otherwise, or without
 *       @create, open what is there; the caller decides whether it is a repository.
 * file:// opening sweeps temporary files older than a day left by interrupted puts.
 * Sets *@out only on success.
 * Returns 0; CF_E_INVAL when @out is NULL; CF_E_CONFIG for a malformed URL, an unknown
 * scheme, a location that is not a folder, or invalid settings (cleartext HTTP to a
 * remote host, missing credentials); CF_E_NOTFOUND when the location is absent and
 * !@create (an S3 bucket is never created: absent is CF_E_NOTFOUND); CF_E_NETWORK when
 * the server cannot be reached or answers unexpectedly; -ENOMEM; -errno.
 */
int cf_storage_open(struct cf_storage **out, const char *url, int create);

/*
 * Settings of the HTTP backends (WebDAV, S3), as key/value strings: the [storage]
 * section of the configuration file. docs/storage.md lists every key under
 * "[storage] config keys"; the file:// backend ignores them all. Secrets (secret access
 * keys, passwords, session tokens) are kept in guarded memory and wiped on free.
 *
 * Precedence, per key: a value set here; else the environment variable
 * COFFER_STORAGE_<KEY> (upper case, e.g. COFFER_STORAGE_PARALLEL); else the usual
 * variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION or
 * AWS_DEFAULT_REGION, AWS_ENDPOINT_URL; COFFER_WEBDAV_USER, COFFER_WEBDAV_PASSWORD);
 * else the documented default.
 */
struct cf_storage_options;

/* cf_storage_options_new - an empty set of settings. Returns 0, -ENOMEM or CF_E_CRYPTO. */
int cf_storage_options_new(struct cf_storage_options **out);

/*
 * cf_storage_options_set - set @key to @value (a copy is kept). A key ending in "_file"
 * (secret_access_key_file, password_file, session_token_file, access_key_id_file) reads
 * the value from that file now (first line, trailing newline dropped; the file must not
 * be readable by others for secrets).
 * Returns 0; CF_E_CONFIG for an unknown key or an invalid value (logged, naming the key,
 * never the value); CF_E_PERM for a secret file readable by group or others; -errno
 * from reading a file; -ENOMEM.
 */
int cf_storage_options_set(struct cf_storage_options *o, const char *key, const char *value);

/* cf_storage_options_free - wipe and release. Accepts NULL. */
void cf_storage_options_free(struct cf_storage_options *o);

/*
 * cf_storage_open_with - cf_storage_open() with settings @o (may be NULL: environment
 * and defaults only). @o is copied; the caller may free it once this returns. Same
 * returns as cf_storage_open().
 */
int cf_storage_open_with(struct cf_storage **out, const char *url, int create,
			 const struct cf_storage_options *o);

/*
 * cf_storage_fresh - 1 when @s was opened with create and its location was absent or an
 * empty folder then (nothing foreign there: safe to initialise a repository), else 0.
 */
int cf_storage_fresh(const struct cf_storage *s);

/*
 * cf_storage_local - 1 when @s is a local folder (file://): cf_storage_put_spool links the
 * spool file itself there, so nobody reads it back; 0 for the HTTP backends.
 */
int cf_storage_local(const struct cf_storage *s);

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
 * cf_storage_put_spool - cf_storage_put_file() of a finished spool file: @fd's file
 * holds exactly @len bytes and the caller never writes to it again, so the file://
 * backend may link that very file into the repository (same file system) instead of
 * copying it; other backends and other file systems copy as cf_storage_put_file() does.
 * Same guarantees and returns.
 */
int cf_storage_put_spool(struct cf_storage *s, const char *name, int fd, uint64_t len);

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

/*
 * Asynchronous transfers: keep several uploads or downloads in flight from one thread.
 *
 * cf_storage_done_cb - called exactly once per accepted operation with its result (the
 * same values the blocking call would return). It runs in a thread that is inside
 * cf_storage_wait_all() or an *_async() call on the same handle — never in a storage-
 * internal thread — and never concurrently with another callback of that handle. A
 * callback may start further *_async() operations (they do not run callbacks when called
 * from a callback) and may call the blocking functions; it must not call
 * cf_storage_wait_all().
 *
 * Every *_async() function checks its arguments like the blocking call, then accepts
 * the operation and returns 0 (@cb will be called), or returns an error without
 * accepting it (@cb is never called). At most cf_storage_parallel(s) transfers run at
 * once per handle; when twice that many accepted operations are unfinished, a further
 * *_async() call first waits for one to finish (running ready callbacks), so memory
 * stays bounded. Descriptors and buffers passed in must stay valid until @cb runs.
 * Backends without native parallel transfers (file://) run the operation inside the
 * *_async() call and call @cb before it returns.
 * Retries happen inside an operation; @cb sees only its final result.
 */
typedef void (*cf_storage_done_cb)(void *arg, int result);

/*
 * cf_storage_put_file_async - cf_storage_put_file() of @len bytes of @fd as @name.
 * Returns 0 (accepted), CF_E_INVAL (bad name, descriptor or length), -ENOMEM.
 */
int cf_storage_put_file_async(struct cf_storage *s, const char *name, int fd, uint64_t len,
			      cf_storage_done_cb cb, void *arg);

/*
 * cf_storage_get_file_async - cf_storage_get_file() of @name into @fd (written from its
 * current offset; use a temporary file). The byte count is not reported: fstat @fd.
 * Returns 0 (accepted), CF_E_INVAL, -ENOMEM.
 */
int cf_storage_get_file_async(struct cf_storage *s, const char *name, int fd,
			      cf_storage_done_cb cb, void *arg);

/*
 * cf_storage_get_range_async - cf_storage_get_range() of @len bytes of @name from @off
 * into @buf (for restore prefetching). Returns 0 (accepted), CF_E_INVAL, -ENOMEM.
 */
int cf_storage_get_range_async(struct cf_storage *s, const char *name, uint64_t off,
			       uint64_t len, uint8_t *buf, cf_storage_done_cb cb, void *arg);

/*
 * cf_storage_wait_all - wait until every operation accepted on @s (by any thread) has
 * finished and its callback has run. Returns 0 (results go to the callbacks).
 */
int cf_storage_wait_all(struct cf_storage *s);

/* cf_storage_parallel - how many transfers @s runs at once (1 for file://). */
unsigned cf_storage_parallel(const struct cf_storage *s);
