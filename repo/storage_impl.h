/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Storage backends: the contract between storage.c (the public front, which checks
 * names, parses URLs and shapes results) and each backend (storage_file.c,
 * storage_webdav.c, storage_s3.c). Internal to repo/: nothing outside the storage files
 * includes this (the SigV4 known-answer test excepted).
 *
 * The front has already validated every object name and list prefix a backend receives.
 * A backend:
 *  - implements put as write-once and atomic (docs/storage.md says how each does it);
 *  - reads the object to store only through cf_storage_src_read(), which may be called
 *    again for any offset (a retry restarts from 0, parallel parts read their ranges);
 *  - delivers what it reads only through cf_storage_sink_begin()/_write(), in order,
 *    each byte once (a retried download resumes where the sink stopped: k->done);
 *  - logs each failure once with cf_log_err(), naming the object and s->url, except
 *    CF_E_NOTFOUND, CF_E_EXISTS and values returned by a list callback, which it
 *    returns silently; errors from the source or sink are passed up unchanged (and
 *    logged by the backend, since sources and sinks never log);
 *  - is safe to call from several threads at once on one handle.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/storage.h"

/* The folders of a repository, "data" first (its objects sit one level deeper). */
#define CF_STORAGE_NFOLDERS 6
extern const char *const cf_storage_folders[CF_STORAGE_NFOLDERS];

/* A get that reads to the end of the object. */
#define CF_STORAGE_TO_END UINT64_MAX

/* What a put stores: a descriptor read with pread(2) from 0, or a memory buffer. */
struct cf_storage_src {
	int fd;             /* >= 0: the bytes are [0, len) of this descriptor */
	const uint8_t *buf; /* when fd < 0 */
	uint64_t len;
	int adopt; /* fd's file is exactly the object and never written again: a local
	              backend may take the file itself (a hard link) instead of a copy */
};

/*
 * cf_storage_src_read - copy bytes [@off, @off + @n) of @src into @p (@off + @n <=
 * src->len). Always complete: returns 0, CF_E_TRUNCATED when the descriptor ends first,
 * or -errno from pread(2). Thread-safe; never logs.
 */
int cf_storage_src_read(const struct cf_storage_src *src, uint64_t off, void *p, size_t n);

/* Where a get delivers bytes. Built by the front; backends only call the functions. */
enum cf_storage_sink_kind {
	CF_SINK_FD,    /* write(2) to fd */
	CF_SINK_GROW,  /* a malloc'ed buffer that grows up to max */
	CF_SINK_FIXED, /* the caller's buffer of cap bytes */
};

struct cf_storage_sink {
	enum cf_storage_sink_kind kind;
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t max;
	uint64_t done;   /* bytes delivered so far */
	uint64_t expect; /* announced by begin; CF_STORAGE_TO_END when unknown */
};

/*
 * cf_storage_sink_begin - announce that @size bytes will follow (call at most once,
 * before any write, when the size is known: file size, Content-Length). The front later
 * refuses a delivery that stops short of it (CF_E_TRUNCATED).
 * Returns 0, CF_E_LIMIT when @size exceeds what the sink accepts, -ENOMEM.
 */
int cf_storage_sink_begin(struct cf_storage_sink *k, uint64_t size);

/*
 * cf_storage_sink_write - deliver the next @n bytes. Returns 0, CF_E_LIMIT when the
 * sink's bound is exceeded, -ENOMEM, or -errno from write(2) (e.g. -ENOSPC, -EPIPE).
 */
int cf_storage_sink_write(struct cf_storage_sink *k, const uint8_t *p, size_t n);

/*
 * An operation started without waiting (cf_storage_ops.start): the front fills it in,
 * the backend moves it along and finishes it with cf_storage_op_done().
 */
enum cf_storage_op_kind { CF_OP_PUT, CF_OP_GET };

struct cf_storage_op {
	struct cf_storage *s;
	enum cf_storage_op_kind kind;
	char name[CF_STORAGE_NAME_MAX];
	struct cf_storage_src src;   /* PUT */
	struct cf_storage_sink sink; /* GET */
	uint64_t off, len;           /* GET: the range (len may be CF_STORAGE_TO_END) */
	cf_storage_done_cb cb;       /* the caller's, NULL for a blocking call */
	void *arg;
	int result;
	int finished;                /* blocking calls wait for it */
	struct cf_storage_op *next;  /* the front's completion list */
	void *state;                 /* the backend's */
};

/*
 * cf_storage_op_done - the backend's end of an operation: @result as cf_storage_ops.put
 * or .get would return it (the front then checks a get's length). Call exactly once per
 * started operation, from any thread; @op may be freed before this returns.
 */
void cf_storage_op_done(struct cf_storage_op *op, int result);

struct cf_storage_ops {
	const char *scheme;
	/*
	 * Optional: start a put or get and return at once, finishing it later with
	 * cf_storage_op_done() from any thread (possibly before start returns). A backend
	 * with start may leave put and get NULL: the front runs blocking calls through it.
	 */
	void (*start)(struct cf_storage *s, struct cf_storage_op *op);
	/* How many transfers run at once (NULL: 1). */
	unsigned (*parallel)(const struct cf_storage *s);
	/* Store @src as the new object @name: 0, CF_E_EXISTS, -errno. */
	int (*put)(struct cf_storage *s, const char *name, const struct cf_storage_src *src);
	/*
	 * Deliver bytes [@off, @off + @len) of @name, clipped to the object's end (nothing
	 * when @off is past it), to @k; @len may be CF_STORAGE_TO_END. 0, CF_E_NOTFOUND,
	 * -errno. The front checks completeness.
	 */
	int (*get)(struct cf_storage *s, const char *name, uint64_t off, uint64_t len,
		   struct cf_storage_sink *k);
	/* Size of @name: 0, CF_E_NOTFOUND, -errno. */
	int (*stat)(struct cf_storage *s, const char *name, uint64_t *size);
	/*
	 * Call @cb for at least every object whose name starts with @prefix (more is fine:
	 * the front filters names and prefixes). Never reports temporary files. Returns 0,
	 * -errno, or the first non-zero value of @cb unchanged.
	 */
	int (*list)(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb, void *ctx);
	/* Remove @name: 0, CF_E_NOTFOUND, -errno. */
	int (*del)(struct cf_storage *s, const char *name);
	/* Release everything, the handle and s->url included. */
	void (*close)(struct cf_storage *s);
};

struct cf_storage_async; /* the front's completion queue (storage.c) */

/* The common head of every backend's handle (embedded as its first member). */
struct cf_storage {
	const struct cf_storage_ops *ops;
	char *url; /* malloc'ed, for messages, no credentials */
	int fresh; /* opened with create, and the location was absent or empty */
	struct cf_storage_async *as; /* set up by the front after open */
};

/*
 * Resolved settings of the HTTP backends (storage_opts.c): values from
 * cf_storage_options, then the environment, then defaults. Secrets are in guarded
 * memory (core/secbuf.h) and wiped by cf_storage_settings_free().
 */
enum cf_storage_url_style { CF_STYLE_AUTO, CF_STYLE_PATH, CF_STYLE_VHOST };

struct cf_storage_settings {
	char *endpoint;          /* S3: scheme://host[:port], or NULL (AWS) */
	char *region;
	enum cf_storage_url_style url_style;
	char *access_key_id;
	char *secret_access_key; /* guarded */
	char *session_token;     /* guarded */
	char *username;          /* WebDAV */
	char *password;          /* guarded */
	unsigned parallel;
	uint64_t upload_limit;   /* bytes per second, 0 = none */
	char *ca_file, *ca_path, *connect_to;
	int allow_insecure_http;
	unsigned retries, retry_base_ms, timeout, connect_timeout;
	char *sigv4_date;        /* testing only: a fixed x-amz-date */
};

/*
 * cf_storage_settings_resolve - fill @st from @o (may be NULL), the environment and the
 * defaults. Returns 0; CF_E_CONFIG (an invalid value in the environment, logged with
 * the variable's name); CF_E_PERM; -errno; -ENOMEM. Free with cf_storage_settings_free
 * (also on failure).
 */
int cf_storage_settings_resolve(struct cf_storage_settings *st,
				const struct cf_storage_options *o);
void cf_storage_settings_free(struct cf_storage_settings *st);

/*
 * cf_storage_webdav_open - open the WebDAV backend at @base ("http(s)://host[:port]/
 * path", no userinfo, no query). Same contract as cf_storage_open(); @st is taken
 * over (freed on failure too).
 */
int cf_storage_webdav_open(struct cf_storage **out, const char *base, int create,
			   struct cf_storage_settings *st);

/*
 * cf_storage_s3_open - open the S3 backend on @bucket with key prefix @prefix ("" or
 * ending in '/'). Same contract; @st is taken over.
 */
int cf_storage_s3_open(struct cf_storage **out, const char *bucket, const char *prefix,
		       int create, struct cf_storage_settings *st);

/*
 * cf_storage_s3_get_raw - GET bytes [@off, @off + @len) of the key @key (any key, the
 * repository prefix not added) into @k. For the SigV4 known-answer test only: real
 * callers go through the front's name checks. Returns 0, CF_E_NOTFOUND, -errno.
 */
int cf_storage_s3_get_raw(struct cf_storage *s, const char *key, uint64_t off, uint64_t len,
			  struct cf_storage_sink *k);

/*
 * cf_storage_file_open - open the file backend at the absolute, normalised @path (the
 * front parsed the URL). Same contract as cf_storage_open().
 */
int cf_storage_file_open(struct cf_storage **out, const char *path, int create);

/*
 * cf_storage_check_name - 0 when @name is a valid object name; otherwise log it (for
 * operation @op on @s) and return CF_E_INVAL.
 */
int cf_storage_check_name(const struct cf_storage *s, const char *op, const char *name);

/* cf_storage_async_attach - set up the front's completion queue of a new handle. */
int cf_storage_async_attach(struct cf_storage *s);

/* cf_storage_async_detach - wait for unfinished operations, then release the queue. */
void cf_storage_async_detach(struct cf_storage *s);

/* cf_storage_async_run - run @op (filled in) through the backend and wait for it. */
int cf_storage_async_run(struct cf_storage *s, struct cf_storage_op *op);

/*
 * cf_storage_name_printable - copy at most @size - 1 bytes of @name into @buf for a log
 * line, replacing control and non-ASCII bytes with '?'. Returns @buf.
 */
const char *cf_storage_name_printable(char *buf, size_t size, const char *name);
