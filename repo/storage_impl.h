/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Storage backends: the contract between storage.c (the public front, which checks
 * names, parses URLs and shapes results) and each backend (storage_file.c; WebDAV and
 * S3 later). Internal to repo/: nothing outside the storage files includes this.
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

struct cf_storage_ops {
	const char *scheme;
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

/* The common head of every backend's handle (embedded as its first member). */
struct cf_storage {
	const struct cf_storage_ops *ops;
	char *url; /* malloc'ed, for messages, no credentials */
	int fresh; /* opened with create, and the location was absent or empty */
};

/*
 * cf_storage_file_open - open the file backend at the absolute, normalised @path (the
 * front parsed the URL). Same contract as cf_storage_open().
 */
int cf_storage_file_open(struct cf_storage **out, const char *path, int create);

/*
 * cf_storage_name_printable - copy at most @size - 1 bytes of @name into @buf for a log
 * line, replacing control and non-ASCII bytes with '?'. Returns @buf.
 */
const char *cf_storage_name_printable(char *buf, size_t size, const char *name);
