/* SPDX-License-Identifier: ISC */
/*
 * The HTTP transfer engine against a scripted server on loopback (a thread of this
 * test): retries on 5xx and resets, a truncated body resumed with Range, a server that
 * ignores Range, exhausted retries, uploads re-sent from the start, range clipping;
 * and the small helpers (escaping, loopback detection, status mapping).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/http.h"
#include "tests/lib/check.h"

enum act { SEND, HALF, RESET };

struct step {
	enum act act;
	int status;
	const char *body;
};

static struct {
	pthread_mutex_t mu;
	int fd, port;
	struct step script[16];
	int nsteps, next;
	char reqs[16][2048]; /* request heads and bodies, as received */
	int nreqs;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void script(int n, const struct step *steps)
{
	pthread_mutex_lock(&srv.mu);
	memcpy(srv.script, steps, (size_t)n * sizeof(*steps));
	srv.nsteps = n;
	srv.next = 0;
	srv.nreqs = 0;
	pthread_mutex_unlock(&srv.mu);
}

/* Read one request (head and Content-Length body) into @buf. */
static int read_request(int c, char *buf, size_t size)
{
	size_t n = 0;
	char *end = NULL, *cl;
	long body = 0;

	while (n + 1 < size && !end) {
		ssize_t r = read(c, buf + n, size - 1 - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end)
		return -1;
	cl = strcasestr(buf, "Content-Length:");
	if (cl && cl < end)
		body = strtol(cl + 15, NULL, 10);
	while ((long)(n - (size_t)(end + 4 - buf)) < body && n + 1 < size) {
		ssize_t r = read(c, buf + n, size - 1 - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = 0;
	}
	return 0;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		char req[2048], head[256];
		struct step st = {SEND, 500, ""};
		int c = accept(srv.fd, NULL, NULL);
		size_t bl;

		if (c < 0)
			return NULL;
		if (read_request(c, req, sizeof(req))) {
			close(c);
			continue;
		}
		pthread_mutex_lock(&srv.mu);
		if (srv.nreqs < 16)
			snprintf(srv.reqs[srv.nreqs++], sizeof(srv.reqs[0]), "%s", req);
		if (srv.next < srv.nsteps)
			st = srv.script[srv.next++];
		pthread_mutex_unlock(&srv.mu);
		bl = strlen(st.body);
		if (st.act == RESET) {
			struct linger l = {1, 0};
			setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			close(c);
			continue;
		}
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", st.status,
			 bl);
		if (write(c, head, strlen(head)) < 0 ||
		    write(c, st.body, st.act == HALF ? bl / 2 : bl) < 0)
			perror("write");
		close(c);
	}
}

static void start_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	pthread_t t;

	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(srv.fd >= 0 && bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(listen(srv.fd, 16) == 0 && getsockname(srv.fd, (struct sockaddr *)&a, &al) == 0);
	srv.port = ntohs(a.sin_port);
	REQUIRE(pthread_create(&t, NULL, serve, NULL) == 0);
	pthread_detach(t);
}

static struct cf_http *engine(unsigned retries)
{
	struct cf_http_conf c = {.parallel = 2, .retries = retries, .retry_base_ms = 1,
				 .stall_seconds = 5, .connect_seconds = 5, .log_url = "test"};
	struct cf_http *h = NULL;

	REQUIRE(cf_http_new(&h, &c) == 0);
	return h;
}

/* GET @path into a growing sink, range [@off, +@len). */
static int get(struct cf_http *h, struct cf_http_req *q, struct cf_storage_sink *k, uint64_t off,
	       uint64_t len)
{
	cf_http_req_init(q);
	memset(k, 0, sizeof(*k));
	k->kind = CF_SINK_GROW;
	k->max = 1 << 20;
	k->expect = CF_STORAGE_TO_END;
	q->method = "GET";
	REQUIRE(asprintf(&q->url, "http://127.0.0.1:%d/obj", srv.port) > 0);
	q->sink = k;
	q->off = off;
	q->len = len;
	return cf_http_run(h, q);
}

static int got(const struct cf_storage_sink *k, const char *want)
{
	return k->done == strlen(want) && !memcmp(k->buf, want, k->done);
}

static void test_get(void)
{
	struct cf_http *h = engine(3);
	struct cf_storage_sink k;
	struct cf_http_req q;

	/* a 503, then the object */
	script(2, (struct step[]){{SEND, 503, "busy"}, {SEND, 200, "hello"}});
	CHECK_RC(get(h, &q, &k, 0, CF_STORAGE_TO_END), 0);
	CHECK(q.status == 200 && q.attempts == 2 && got(&k, "hello"));
	CHECK(k.expect == 5);
	cf_http_req_clear(&q);
	free(k.buf);

	/* cut after half the body: the retry asks for the rest with Range */
	script(2, (struct step[]){{HALF, 200, "0123456789"}, {SEND, 206, "56789"}});
	CHECK_RC(get(h, &q, &k, 0, CF_STORAGE_TO_END), 0);
	CHECK(got(&k, "0123456789") && q.attempts == 2);
	CHECK(strstr(srv.reqs[1], "Range: bytes=5-") != NULL);
	CHECK(strstr(srv.reqs[0], "Range:") == NULL);
	cf_http_req_clear(&q);
	free(k.buf);

	/* a server that ignores Range: the bytes already delivered are skipped */
	script(3, (struct step[]){{HALF, 200, "0123456789"}, {RESET, 0, ""},
				  {SEND, 200, "0123456789"}});
	CHECK_RC(get(h, &q, &k, 0, CF_STORAGE_TO_END), 0);
	CHECK(got(&k, "0123456789") && q.attempts == 3);
	cf_http_req_clear(&q);
	free(k.buf);

	/* a window: Range sent; a longer answer than asked for is clipped */
	script(1, (struct step[]){{SEND, 200, "0123456789"}});
	CHECK_RC(get(h, &q, &k, 2, 3), 0);
	CHECK(got(&k, "234") && strstr(srv.reqs[0], "Range: bytes=2-4") != NULL);
	cf_http_req_clear(&q);
	free(k.buf);

	/* an empty window (does it exist?) asks for one byte and takes none */
	script(1, (struct step[]){{SEND, 206, "3"}});
	CHECK_RC(get(h, &q, &k, 3, 0), 0);
	CHECK(q.status == 206 && k.done == 0 && strstr(srv.reqs[0], "Range: bytes=3-3") != NULL);
	cf_http_req_clear(&q);
	free(k.buf);

	/* retries run out: the last answer is reported */
	script(4, (struct step[]){{SEND, 500, "a"}, {SEND, 502, "b"}, {SEND, 429, "c"},
				  {SEND, 503, "d"}});
	CHECK_RC(get(h, &q, &k, 0, CF_STORAGE_TO_END), 0);
	CHECK(q.status == 503 && q.attempts == 4 && k.done == 0);
	CHECK(q.body && !strcmp((char *)q.body, "d")); /* an error body is kept, not delivered */
	cf_http_req_clear(&q);
	free(k.buf);

	/* 404 is an answer, not retried */
	script(2, (struct step[]){{SEND, 404, ""}, {SEND, 200, "no"}});
	CHECK_RC(get(h, &q, &k, 0, CF_STORAGE_TO_END), 0);
	CHECK(q.status == 404 && q.attempts == 1);
	cf_http_req_clear(&q);
	free(k.buf);
	cf_http_free(h);
}

static void test_put_and_refused(void)
{
	struct cf_storage_src src = {.fd = -1, .buf = (const uint8_t *)"payload-bytes", .len = 13};
	struct cf_http *h = engine(2);
	struct cf_http_req q;
	int fd, port;

	script(2, (struct step[]){{RESET, 0, ""}, {SEND, 201, ""}});
	cf_http_req_init(&q);
	q.method = "PUT";
	REQUIRE(asprintf(&q.url, "http://127.0.0.1:%d/up", srv.port) > 0);
	q.src = &src;
	CHECK_RC(cf_http_run(h, &q), 0);
	CHECK(q.status == 201 && q.attempts == 2);
	CHECK(srv.nreqs == 2 && strstr(srv.reqs[1], "\r\n\r\npayload-bytes") != NULL);
	cf_http_req_clear(&q);

	/* nothing listens: CF_E_NETWORK after every attempt */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof(a);
		REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
		REQUIRE(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
		port = ntohs(a.sin_port);
	}
	cf_http_req_init(&q);
	q.method = "HEAD";
	REQUIRE(asprintf(&q.url, "http://127.0.0.1:%d/x", port) > 0);
	CHECK_RC(cf_http_run(h, &q), CF_E_NETWORK);
	CHECK(q.attempts == 3 && q.error[0]);
	cf_http_req_clear(&q);
	close(fd);
	cf_http_free(h);
}

struct many {
	pthread_mutex_t mu;
	int done, ok;
};

static void many_done(struct cf_http_req *q)
{
	struct many *m = q->ctx;

	pthread_mutex_lock(&m->mu);
	m->done++;
	m->ok += !q->result && q->status == 200;
	pthread_mutex_unlock(&m->mu);
}

static void test_async(void)
{
	struct many m = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct cf_http *h = engine(3);
	struct cf_http_req q[6];
	struct step steps[12];

	/* three resets among the first answers: whoever gets them, 4 attempts suffice */
	for (int i = 0; i < 12; i++)
		steps[i] = (struct step){i == 0 || i == 2 || i == 3 ? RESET : SEND, 200, "x"};
	script(12, steps);
	for (int i = 0; i < 6; i++) {
		cf_http_req_init(&q[i]);
		q[i].method = "GET";
		REQUIRE(asprintf(&q[i].url, "http://127.0.0.1:%d/%d", srv.port, i) > 0);
		q[i].done = many_done;
		q[i].ctx = &m;
		cf_http_submit(h, &q[i]);
	}
	for (int t = 0; t < 500; t++) {
		pthread_mutex_lock(&m.mu);
		int d = m.done;
		pthread_mutex_unlock(&m.mu);
		if (d == 6)
			break;
		usleep(10000);
	}
	CHECK(m.done == 6 && m.ok == 6);
	if (m.ok != 6)
		fprintf(stderr, "done %d ok %d\n", m.done, m.ok);
	for (int i = 0; i < 6; i++)
		cf_http_req_clear(&q[i]);
	cf_http_free(h);
}

static void test_helpers(void)
{
	char *s = strdup("x?");

	REQUIRE(s);
	CHECK_RC(cf_http_escape(&s, "data/ab c~-_.%=&é", 1), 0);
	CHECK(!strcmp(s, "x?data/ab%20c~-_.%25%3D%26%C3%A9"));
	free(s);
	s = NULL;
	CHECK_RC(cf_http_escape(&s, "data/", 0), 0);
	CHECK(!strcmp(s, "data%2F"));
	free(s);
	CHECK(cf_http_host_is_loopback("http://127.0.0.1:8080/x"));
	CHECK(cf_http_host_is_loopback("http://127.1.2.3/"));
	CHECK(cf_http_host_is_loopback("https://LOCALHOST"));
	CHECK(cf_http_host_is_loopback("http://[::1]:99/"));
	CHECK(!cf_http_host_is_loopback("http://127.0.0.1.example.org/"));
	CHECK(!cf_http_host_is_loopback("http://localhost.example.org/"));
	CHECK(!cf_http_host_is_loopback("http://10.0.0.1/"));
	CHECK(!cf_http_host_is_loopback("http://[::2]/"));
	CHECK(!cf_http_host_is_loopback("http://evil@example.org/"));
	CHECK(!cf_http_host_is_loopback("no-scheme"));
	CHECK(cf_http_status_error(404) == CF_E_NOTFOUND);
	CHECK(cf_http_status_error(412) == CF_E_EXISTS);
	CHECK(cf_http_status_error(403) == CF_E_PERM);
	CHECK(cf_http_status_error(507) == -ENOSPC);
	CHECK(cf_http_status_error(500) == CF_E_NETWORK);
}

int main(void)
{
	start_server();
	test_helpers();
	test_get();
	test_put_and_refused();
	test_async();
	return check_finish();
}
