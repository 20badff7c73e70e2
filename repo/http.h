/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The HTTP transfer engine of the WebDAV and S3 backends (internal to repo/'s storage
 * files; the only place besides them that includes <curl/curl.h>).
 *
 * One engine per storage handle: a thread that drives a curl multi handle, at most
 * `parallel` transfers at once, connections reused between them. Requests are submitted
 * from any thread; each is retried with exponential backoff and jitter on 5xx, 429, 408,
 * timeouts, stalls, resets and truncated bodies, then completed once through its done
 * callback, which runs on the engine thread and may submit further requests (the next
 * step of a WebDAV put, a retry after creating a folder) but must not block.
 *
 * Uploads stream from a struct cf_storage_src (pread, so a retry restarts from 0);
 * downloads of object bodies stream into a struct cf_storage_sink, and a retried
 * download resumes with Range where the sink stopped, so each byte arrives once. Other
 * response bodies (listings, error documents) are kept in memory up to body_max.
 * Nothing here logs a credential: URLs never carry one, and authentication is set by
 * the backend's setup hook on each attempt.
 */
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/storage_impl.h"

struct cf_http;

struct cf_http_conf {
	unsigned parallel;      /* transfers at once (>= 1) */
	uint64_t upload_limit;  /* bytes per second over all uploads; 0 = none */
	const char *ca_file;    /* CURLOPT_CAINFO, or NULL */
	const char *ca_path;    /* CURLOPT_CAPATH, or NULL */
	const char *connect_to; /* CURLOPT_CONNECT_TO "host:port:addr:port", or NULL */
	unsigned retries;       /* further attempts after the first */
	unsigned retry_base_ms; /* first backoff; doubles each time, capped at 30 s */
	unsigned stall_seconds; /* a transfer that moves no byte this long is a timeout */
	unsigned connect_seconds;
	const char *log_url;    /* for messages: the repository URL, no credentials */
};

struct cf_http_req;
typedef void (*cf_http_done_fn)(struct cf_http_req *q);
typedef int (*cf_http_setup_fn)(void *ctx, CURL *e, struct curl_slist **headers);

struct cf_http_req {
	/* ---- set by the caller (cf_http_req_init zeroes everything) ---- */
	const char *method;             /* "GET", "HEAD", "PUT", "DELETE", "MOVE", ... */
	char *url;                      /* malloc'ed; freed by cf_http_req_clear */
	struct curl_slist *headers;     /* extra headers; freed by cf_http_req_clear */
	const struct cf_storage_src *src; /* request body, or NULL */
	struct cf_storage_sink *sink;   /* where a 2xx body goes (GET); NULL: kept in body */
	uint64_t off, len;              /* with a sink: the range wanted (len may be TO_END) */
	size_t body_max;                /* bound of a kept body (default 64 KiB) */
	const char *what;               /* the object or folder, for messages */
	cf_http_setup_fn setup;         /* per attempt: authentication, signed headers */
	void *setup_ctx;
	cf_http_done_fn done;           /* NULL for cf_http_run() */
	void *ctx;                      /* the caller's */

	/* ---- results, valid in done ---- */
	int result;   /* 0: an HTTP answer (see status); CF_E_NETWORK; a sink/source error */
	long status;  /* HTTP status of the last attempt (0 without an answer) */
	int64_t length; /* Content-Length of the answer, -1 when absent */
	uint8_t *body;  /* kept body (malloc'ed, NUL-terminated), or NULL */
	size_t body_len;
	unsigned attempts;
	char error[CURL_ERROR_SIZE]; /* curl's message for CF_E_NETWORK */

	/* ---- engine-private ---- */
	struct cf_http *h;
	struct cf_http_req *next;
	CURL *easy;
	struct curl_slist *sent; /* headers of the current attempt */
	uint64_t up_pos;         /* upload read position */
	uint64_t start_done;     /* sink->done when the request began */
	uint64_t skip;           /* bytes of a 200 answer to drop (resume, Range ignored) */
	uint64_t due_ms;         /* retry time */
	int mode;                /* body routing of the current attempt */
	int abort_err;           /* a source/sink error that stops the transfer */
	int clipped;             /* stopped on purpose: all wanted bytes arrived */
	int begun;               /* sink_begin called */
	int finished;            /* for cf_http_run */
};

/*
 * cf_http_new - start an engine with @c (copied). Sets *@out on success.
 * Returns 0, -ENOMEM, CF_E_NETWORK (curl could not start), -errno (thread creation).
 */
int cf_http_new(struct cf_http **out, const struct cf_http_conf *c);

/* cf_http_free - stop the engine; requests still queued complete with CF_E_NETWORK. */
void cf_http_free(struct cf_http *h);

/* cf_http_req_init - zero @q (call before filling it in, and to reuse it). */
void cf_http_req_init(struct cf_http_req *q);

/* cf_http_req_clear - free what @q owns (url, headers, body) and zero it. */
void cf_http_req_clear(struct cf_http_req *q);

/*
 * cf_http_req_header - append "Name: value" to @q's headers. Returns 0 or -ENOMEM.
 */
int cf_http_req_header(struct cf_http_req *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * cf_http_submit - queue @q; its done callback runs once on the engine thread with
 * the result. @q (and its source, sink) must stay valid until then.
 */
void cf_http_submit(struct cf_http *h, struct cf_http_req *q);

/*
 * cf_http_run - submit @q and wait for it (q->done must be NULL). Returns q->result.
 * Safe from any thread except the engine's own (a done callback must not call it).
 */
int cf_http_run(struct cf_http *h, struct cf_http_req *q);

/* cf_http_parallel - the configured number of transfers at once. */
unsigned cf_http_parallel(const struct cf_http *h);

/*
 * cf_http_escape - append @s to the malloc'ed string *@out percent-encoding every byte
 * except unreserved ones (A-Z a-z 0-9 - . _ ~) and, when @keep_slash, '/'. Upper-case
 * hex, as SigV4 wants. Returns 0 or -ENOMEM (then *@out is freed and NULL).
 */
int cf_http_escape(char **out, const char *s, int keep_slash);

/* cf_http_status_error - the CF_E_* / -errno value for an unexpected HTTP status. */
int cf_http_status_error(long status);

/*
 * cf_http_describe - a short description of a failed request for a log line ("HTTP 503
 * after 7 attempts", "connection refused ... after 3 attempts") into @buf. Returns @buf.
 */
const char *cf_http_describe(const struct cf_http_req *q, char *buf, size_t size);

/*
 * cf_http_host_is_loopback - 1 when the host of @url (http or https) is "localhost",
 * a 127.0.0.0/8 address or [::1]; 0 otherwise.
 */
int cf_http_host_is_loopback(const char *url);
