/* SPDX-License-Identifier: ISC */
/*
 * The HTTP transfer engine: one thread per storage handle drives a curl multi handle.
 * Submitters append to a queue and wake the thread; the thread starts queued and due
 * requests while fewer than `parallel` run, retries what failed for a transient reason
 * after a backoff with jitter, and completes the rest through their done callbacks.
 */
#include "repo/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/error.h"
#include "util/log.h"

#define BODY_MAX_DEFAULT ((size_t)64 << 10)
#define BACKOFF_CAP_MS   30000u

enum { MODE_KEEP, MODE_SINK, MODE_DROP };

struct cf_http {
	struct cf_http_conf c;
	char *log_url;
	char *ca_file, *ca_path, *connect_to_s;
	struct curl_slist *connect_to;
	CURLM *multi;
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* cf_http_run waiters */
	struct cf_http_req *queue, *queue_tail; /* waiting to start */
	struct cf_http_req *delayed;            /* waiting for a retry time */
	unsigned running;
	int stop;
	uint64_t rng;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t next_rand(struct cf_http *h)
{
	/* xorshift64*: jitter only, nothing secret */
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return h->rng * 0x2545f4914f6cdd1dULL;
}

void cf_http_req_init(struct cf_http_req *q)
{
	memset(q, 0, sizeof(*q));
	q->length = -1;
}

void cf_http_req_clear(struct cf_http_req *q)
{
	free(q->url);
	curl_slist_free_all(q->headers);
	curl_slist_free_all(q->sent);
	free(q->body);
	cf_http_req_init(q);
}

int cf_http_req_header(struct cf_http_req *q, const char *fmt, ...)
{
	struct curl_slist *l;
	char *line;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	l = curl_slist_append(q->headers, line);
	free(line);
	if (!l)
		return -ENOMEM;
	q->headers = l;
	return 0;
}

int cf_http_escape(char **out, const char *s, int keep_slash)
{
	size_t have = *out ? strlen(*out) : 0;
	char *p = realloc(*out, have + 3 * strlen(s) + 1), *o;

	if (!p) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	o = p + have;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    *c == '-' || *c == '.' || *c == '_' || *c == '~' || (keep_slash && *c == '/'))
			*o++ = (char)*c;
		else
			o += sprintf(o, "%%%02X", *c);
	}
	*o = 0;
	*out = p;
	return 0;
}

int cf_http_status_error(long status)
{
	switch (status) {
	case 404:
		return CF_E_NOTFOUND;
	case 412:
		return CF_E_EXISTS;
	case 401:
	case 403:
		return CF_E_PERM;
	case 507:
		return -ENOSPC;
	default:
		return CF_E_NETWORK;
	}
}

const char *cf_http_describe(const struct cf_http_req *q, char *buf, size_t size)
{
	const char *how = q->attempts > 1 ? " after " : "";
	char n[32] = "";

	if (q->attempts > 1)
		snprintf(n, sizeof(n), "%u attempts", q->attempts);
	if (q->result == CF_E_NETWORK)
		snprintf(buf, size, "%s%s%s", q->error[0] ? q->error : "network failure", how, n);
	else if (q->result)
		snprintf(buf, size, "%s", cf_strerror(q->result));
	else
		snprintf(buf, size, "HTTP %ld%s%s", q->status, how, n);
	return buf;
}

int cf_http_host_is_loopback(const char *url)
{
	const char *p = strstr(url, "://");
	char host[256];
	size_t n;

	if (!p)
		return 0;
	p += 3;
	n = strcspn(p, "/?#");
	if (memchr(p, '@', n)) {
		const char *at = memchr(p, '@', n);
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n >= sizeof(host))
		return 0;
	memcpy(host, p, n);
	host[n] = 0;
	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5) && (host[5] == 0 || host[5] == ':');
	host[strcspn(host, ":")] = 0;
	if (!strcasecmp(host, "localhost"))
		return 1;
	if (strncmp(host, "127.", 4))
		return 0;
	for (const char *c = host + 4; *c; c++)
		if (!((*c >= '0' && *c <= '9') || *c == '.'))
			return 0;
	return 1;
}

/* ---- curl callbacks ---- */

static int keep(struct cf_http_req *q, const char *p, size_t n)
{
	size_t max = q->body_max ? q->body_max : BODY_MAX_DEFAULT;
	uint8_t *b;

	if (n > max - q->body_len) {
		if (q->status >= 200 && q->status < 300)
			return CF_E_LIMIT; /* an answer we need, too large to keep */
		n = max - q->body_len; /* an error document: its start is enough */
	}
	b = realloc(q->body, q->body_len + n + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b + q->body_len, p, n);
	q->body = b;
	q->body_len += n;
	b[q->body_len] = 0;
	return 0;
}

/* The first bytes of an answer: decide where its body goes. */
static int route(struct cf_http_req *q)
{
	struct cf_storage_sink *k = q->sink;
	curl_off_t cl = -1;
	uint64_t at, total;

	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
	if (!k || (q->status != 200 && q->status != 206)) {
		q->mode = MODE_KEEP;
		return 0;
	}
	q->mode = MODE_SINK;
	at = q->off + (k->done - q->start_done); /* the first byte still wanted */
	q->skip = q->status == 200 ? at : 0;     /* the server ignored Range */
	if (q->begun)
		return 0;
	q->begun = 1;
	curl_easy_getinfo(q->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	if (cl < 0)
		return 0;
	total = q->status == 200 ? ((uint64_t)cl > q->off ? (uint64_t)cl - q->off : 0) : (uint64_t)cl;
	if (q->len != CF_STORAGE_TO_END && total > q->len)
		total = q->len;
	return cf_storage_sink_begin(k, total);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cf_http_req *q = ud;
	size_t n = size * nmemb, take = n, avail;
	uint64_t got;
	int r;

	if (q->mode < 0 && (r = route(q)) != 0)
		goto fail;
	if (q->mode == MODE_KEEP) {
		r = keep(q, p, n);
		if (r)
			goto fail;
		return n;
	}
	if (q->skip) {
		uint64_t s = q->skip < n ? q->skip : n;
		q->skip -= s;
		p += s;
		take -= (size_t)s;
	}
	avail = take;
	got = q->sink->done - q->start_done;
	if (q->len != CF_STORAGE_TO_END && take > q->len - got)
		take = (size_t)(q->len - got);
	if (take) {
		r = cf_storage_sink_write(q->sink, (const uint8_t *)p, take);
		if (r)
			goto fail;
	}
	if (take < avail) {
		q->clipped = 1; /* a longer body than asked for: stop here */
		return 0;
	}
	return n;
fail:
	q->abort_err = r;
	return 0;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cf_http_req *q = ud;
	uint64_t left = q->src->len - q->up_pos;
	size_t n = size * nmemb;
	int r;

	if (n > left)
		n = (size_t)left;
	if (!n)
		return 0;
	r = cf_storage_src_read(q->src, q->up_pos, p, n);
	if (r) {
		q->abort_err = r;
		return CURL_READFUNC_ABORT;
	}
	q->up_pos += n;
	return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct cf_http_req *q = ud;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > q->src->len)
		return CURL_SEEKFUNC_CANTSEEK;
	q->up_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- attempts ---- */

static int add_range(struct cf_http_req *q, struct curl_slist **hl)
{
	uint64_t at = q->off + (q->sink->done - q->start_done);
	char line[80];
	struct curl_slist *l;

	if (at == 0 && q->len == CF_STORAGE_TO_END)
		return 0;
	if (q->len == CF_STORAGE_TO_END)
		snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)at);
	else /* an empty window asks for one byte, cut off on arrival: it tests existence */
		snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)at,
			 (unsigned long long)(q->len ? q->off + q->len - 1 : q->off));
	l = curl_slist_append(*hl, line);
	if (!l)
		return -ENOMEM;
	*hl = l;
	return 0;
}

/* Build an easy handle for the next attempt of @q. */
static int start_attempt(struct cf_http *h, struct cf_http_req *q)
{
	struct curl_slist *hl = NULL, *l;
	CURL *e;
	int r = -ENOMEM;

	q->attempts++;
	q->status = 0;
	q->length = -1;
	q->mode = -1;
	q->up_pos = 0;
	q->skip = 0;
	q->clipped = 0;
	q->abort_err = 0;
	q->error[0] = 0;
	free(q->body);
	q->body = NULL;
	q->body_len = 0;
	curl_slist_free_all(q->sent);
	q->sent = NULL;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	for (l = q->headers; l; l = l->next) {
		struct curl_slist *n = curl_slist_append(hl, l->data);
		if (!n)
			goto fail;
		hl = n;
	}
	if (q->sink && (r = add_range(q, &hl)) != 0)
		goto fail;
	if (q->setup && (r = q->setup(q->setup_ctx, e, &hl)) != 0)
		goto fail;
	r = -ENOMEM;
	q->sent = hl;
	q->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, q->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->error);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)h->c.connect_seconds);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)h->c.stall_seconds);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "coffer/0.1");
	if (h->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	if (h->ca_path)
		curl_easy_setopt(e, CURLOPT_CAPATH, h->ca_path);
	if (h->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->connect_to);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
	}
	if (q->src) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, q);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->src->len);
		if (h->c.upload_limit)
			curl_easy_setopt(e, CURLOPT_MAX_SEND_SPEED_LARGE,
					 (curl_off_t)(h->c.upload_limit / h->c.parallel + 1));
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto fail;
	h->running++;
	return 0;
fail:
	q->sent = NULL;
	q->easy = NULL;
	curl_slist_free_all(hl);
	curl_easy_cleanup(e);
	return r;
}

static int retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

static void complete(struct cf_http *h, struct cf_http_req *q)
{
	if (q->done) {
		q->done(q);
		return;
	}
	pthread_mutex_lock(&h->mu);
	q->finished = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void schedule_retry(struct cf_http *h, struct cf_http_req *q, const char *why)
{
	unsigned shift = q->attempts - 1 < 16 ? q->attempts - 1 : 16;
	uint64_t base = (uint64_t)h->c.retry_base_ms << shift, delay;
	struct cf_http_req **pp;

	if (base > BACKOFF_CAP_MS)
		base = BACKOFF_CAP_MS;
	delay = base / 2 + next_rand(h) % (base / 2 + 1); /* "equal jitter" */
	cf_log_info("storage %s: %s %s: %s; retrying in %llu ms (attempt %u of %u)", h->log_url,
		    q->method, q->what ? q->what : "", why, (unsigned long long)delay,
		    q->attempts + 1, h->c.retries + 1);
	q->due_ms = now_ms() + delay;
	pthread_mutex_lock(&h->mu);
	for (pp = &h->delayed; *pp && (*pp)->due_ms <= q->due_ms; pp = &(*pp)->next)
		;
	q->next = *pp;
	*pp = q;
	pthread_mutex_unlock(&h->mu);
}

/* A transfer ended: retry it, or complete it. */
static void finish_attempt(struct cf_http *h, struct cf_http_req *q, CURLcode res)
{
	char why[CURL_ERROR_SIZE + 32];
	curl_off_t cl = -1;
	int again = 0;

	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
	curl_easy_getinfo(q->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	q->length = cl;
	curl_multi_remove_handle(h->multi, q->easy);
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	h->running--;
	if (q->clipped && res == CURLE_WRITE_ERROR)
		res = CURLE_OK;
	/* every byte of the window arrived, then the connection failed: done anyway */
	if (res != CURLE_OK && !q->abort_err && q->sink && q->mode == MODE_SINK &&
	    q->len != CF_STORAGE_TO_END && q->sink->done - q->start_done == q->len)
		res = CURLE_OK;
	if (q->abort_err) {
		q->result = q->abort_err;
	} else if (res == CURLE_OK) {
		q->result = 0;
		if (q->status >= 500 || q->status == 429 || q->status == 408) {
			again = 1;
			snprintf(why, sizeof(why), "HTTP %ld", q->status);
		}
	} else {
		q->result = CF_E_NETWORK;
		if (!q->error[0])
			snprintf(q->error, sizeof(q->error), "%s", curl_easy_strerror(res));
		again = retryable_curl(res);
		snprintf(why, sizeof(why), "%s", q->error);
	}
	if (again && q->attempts <= h->c.retries && !h->stop) {
		schedule_retry(h, q, why);
		return;
	}
	complete(h, q);
}

static void fail_unstarted(struct cf_http *h, struct cf_http_req *q, int r)
{
	q->result = r;
	if (r == CF_E_NETWORK && !q->error[0])
		snprintf(q->error, sizeof(q->error), "the storage handle is closing");
	complete(h, q);
}

/* Start what may start; returns the poll timeout in ms. */
static int start_ready(struct cf_http *h)
{
	struct cf_http_req *q;
	uint64_t t = now_ms();
	int timeout = 1000, r;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		q = NULL;
		if (h->running < h->c.parallel || h->stop) {
			if (h->delayed && (h->delayed->due_ms <= t || h->stop)) {
				q = h->delayed;
				h->delayed = q->next;
			} else if (h->queue) {
				q = h->queue;
				h->queue = q->next;
				if (!h->queue)
					h->queue_tail = NULL;
			}
		}
		if (!q && h->delayed && h->running < h->c.parallel) {
			uint64_t d = h->delayed->due_ms > t ? h->delayed->due_ms - t : 0;
			if (d < (uint64_t)timeout)
				timeout = (int)d;
		}
		pthread_mutex_unlock(&h->mu);
		if (!q)
			return timeout;
		q->next = NULL;
		if (h->stop) {
			fail_unstarted(h, q, CF_E_NETWORK);
			continue;
		}
		r = start_attempt(h, q);
		if (r)
			fail_unstarted(h, q, r);
	}
}

static void *engine(void *arg)
{
	struct cf_http *h = arg;
	CURLMsg *m;
	int left, still, timeout, stop;

	for (;;) {
		timeout = start_ready(h);
		pthread_mutex_lock(&h->mu);
		stop = h->stop && !h->queue && !h->delayed;
		pthread_mutex_unlock(&h->mu);
		if (stop && !h->running)
			break;
		curl_multi_perform(h->multi, &still);
		while ((m = curl_multi_info_read(h->multi, &left))) {
			char *priv = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			finish_attempt(h, (struct cf_http_req *)(void *)priv, m->data.result);
		}
		pthread_mutex_lock(&h->mu);
		if (h->queue && h->running < h->c.parallel)
			timeout = 0;
		if (h->delayed && h->running < h->c.parallel) {
			/* a retry scheduled just now: wake up when it is due */
			uint64_t t = now_ms(), due = h->delayed->due_ms;
			uint64_t d = due > t ? due - t : 0;
			if (d < (uint64_t)timeout)
				timeout = (int)d;
		}
		pthread_mutex_unlock(&h->mu);
		if (timeout > 0)
			curl_multi_poll(h->multi, NULL, 0, timeout, NULL);
	}
	return NULL;
}

/* ---- public ---- */

void cf_http_submit(struct cf_http *h, struct cf_http_req *q)
{
	q->h = h;
	q->next = NULL;
	q->attempts = 0;
	q->finished = 0;
	q->begun = 0;
	q->result = 0;
	if (q->sink)
		q->start_done = q->sink->done;
	pthread_mutex_lock(&h->mu);
	if (h->queue_tail)
		h->queue_tail->next = q;
	else
		h->queue = q;
	h->queue_tail = q;
	pthread_mutex_unlock(&h->mu);
	curl_multi_wakeup(h->multi);
}

int cf_http_run(struct cf_http *h, struct cf_http_req *q)
{
	q->done = NULL;
	cf_http_submit(h, q);
	pthread_mutex_lock(&h->mu);
	while (!q->finished)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return q->result;
}

unsigned cf_http_parallel(const struct cf_http *h)
{
	return h->c.parallel;
}

static char *dup_or_null(const char *s, int *nomem)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*nomem = 1;
	return d;
}

int cf_http_new(struct cf_http **out, const struct cf_http_conf *c)
{
	struct cf_http *h;
	int nomem = 0, r;

	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK) {
		cf_log_err("storage: libcurl failed to start: %s", curl_easy_strerror(curl_init_result));
		return CF_E_NETWORK;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->c = *c;
	if (!h->c.parallel)
		h->c.parallel = 1;
	if (!h->c.stall_seconds)
		h->c.stall_seconds = 60;
	if (!h->c.connect_seconds)
		h->c.connect_seconds = 30;
	if (!h->c.retry_base_ms)
		h->c.retry_base_ms = 1;
	h->log_url = dup_or_null(c->log_url ? c->log_url : "?", &nomem);
	h->ca_file = dup_or_null(c->ca_file, &nomem);
	h->ca_path = dup_or_null(c->ca_path, &nomem);
	h->connect_to_s = dup_or_null(c->connect_to, &nomem);
	h->c.log_url = h->c.ca_file = h->c.ca_path = h->c.connect_to = NULL;
	if (!nomem && h->connect_to_s) {
		h->connect_to = curl_slist_append(NULL, h->connect_to_s);
		nomem = !h->connect_to;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (getrandom(&h->rng, sizeof(h->rng), GRND_NONBLOCK) != (ssize_t)sizeof(h->rng))
		h->rng = now_ms() ^ (uint64_t)(uintptr_t)h;
	h->rng |= 1;
	h->multi = nomem ? NULL : curl_multi_init();
	if (!h->multi) {
		cf_http_free(h);
		return -ENOMEM;
	}
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)h->c.parallel);
	r = pthread_create(&h->thread, NULL, engine, h);
	if (r) {
		cf_http_free(h);
		return -r;
	}
	h->thread_started = 1;
	*out = h;
	return 0;
}

void cf_http_free(struct cf_http *h)
{
	if (!h)
		return;
	if (h->thread_started) {
		pthread_mutex_lock(&h->mu);
		h->stop = 1;
		pthread_mutex_unlock(&h->mu);
		curl_multi_wakeup(h->multi);
		pthread_join(h->thread, NULL);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->connect_to);
	free(h->connect_to_s);
	free(h->ca_file);
	free(h->ca_path);
	free(h->log_url);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}
