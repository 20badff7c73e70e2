/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/core.h"
#include "core/error.h"
#include "keyvaultd/kvd.h"
#include "keyvaultd/kvd_server.h"
#include "util/log.h"

#define MAX_QUERY 8

struct cf_kvd_http {
	struct MHD_Daemon *mhd;
	struct cf_kvd_server *srv;
	unsigned port;
	char trusted_proxy[CF_KVD_ADDRESS_MAX];
};

/* What one request accumulates between the calls of the access handler. */
struct pending {
	size_t limit, len, cap;
	uint8_t *body;
	int too_large;
	size_t nquery;
	int query_overflow;
	const char *query[2 * MAX_QUERY];
};

/* A response body that is wiped when libmicrohttpd lets go of it. */
struct wiped {
	size_t len;
	char data[];
};

static void wiped_free(void *cls)
{
	struct wiped *w = cls;

	cf_core_wipe(w->data, w->len);
	free(w);
}

static void drop_body(struct pending *p)
{
	if (p->body)
		cf_core_wipe(p->body, p->cap);
	free(p->body);
	p->body = NULL;
	p->len = p->cap = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct pending *p = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!p)
		return;
	drop_body(p);
	free(p);
	*con_cls = NULL;
}

static int append(struct pending *p, const char *data, size_t n)
{
	if (p->too_large || n > p->limit - p->len) {
		p->too_large = 1;
		drop_body(p);
		return 0;
	}
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		uint8_t *nb;
		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->limit)
			cap = p->limit;
		nb = malloc(cap);
		if (!nb)
			return -ENOMEM;
		if (p->body)
			memcpy(nb, p->body, p->len);
		if (p->body)
			cf_core_wipe(p->body, p->cap);
		free(p->body);
		p->body = nb;
		p->cap = cap;
	}
	memcpy(p->body + p->len, data, n);
	p->len += n;
	return 0;
}

static enum MHD_Result on_query(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct pending *p = cls;

	(void)kind;
	if (p->nquery == MAX_QUERY) {
		p->query_overflow = 1;
		return MHD_NO;
	}
	p->query[2 * p->nquery] = key;
	p->query[2 * p->nquery + 1] = value;
	p->nquery++;
	return MHD_YES;
}

void cf_kvd_http_address_key(const void *sa_, char *buf, size_t cap)
{
	const struct sockaddr *sa = sa_;

	snprintf(buf, cap, "unknown");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		struct in6_addr prefix;
		char text[INET6_ADDRSTRLEN];
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)cap);
			return;
		}
		memset(&prefix, 0, sizeof(prefix));
		memcpy(&prefix, a, 8);
		inet_ntop(AF_INET6, &prefix, text, sizeof(text));
		snprintf(buf, cap, "%s/64", text);
	}
}

/* The client's address key, believing X-Forwarded-For only from the trusted proxy. */
static void client_address(struct cf_kvd_http *h, struct MHD_Connection *conn, char *buf,
			   size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *fwd, *last;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t n;

	cf_kvd_http_address_key(ci ? ci->client_addr : NULL, buf, cap);
	if (!h->trusted_proxy[0] || strcmp(buf, h->trusted_proxy) != 0)
		return;
	fwd = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
	if (!fwd)
		return;
	last = strrchr(fwd, ',');
	last = last ? last + 1 : fwd;
	while (*last == ' ')
		last++;
	n = strcspn(last, " ");
	if (n >= sizeof(addr))
		return;
	memcpy(addr, last, n);
	addr[n] = '\0';
	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, addr, &u.v4.sin_addr) == 1)
		u.sa.sa_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &u.v6.sin6_addr) == 1)
		u.sa.sa_family = AF_INET6;
	else
		return;
	cf_kvd_http_address_key(&u.sa, buf, cap);
}

static enum MHD_Result answer(struct MHD_Connection *conn, struct cf_kvd_answer *a)
{
	static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
	struct MHD_Response *resp;
	struct wiped *w;
	char num[32];
	size_t len = a->body ? json_dumpb(a->body, NULL, 0, JSON_COMPACT) : 0;
	unsigned status = (unsigned)a->status;
	enum MHD_Result r;

	w = malloc(sizeof(*w) + (len > sizeof(oom) ? len : sizeof(oom)) + 1);
	if (!w)
		return MHD_NO;
	if (!len || json_dumpb(a->body, w->data, len, JSON_COMPACT) != len) {
		len = sizeof(oom) - 1;
		memcpy(w->data, oom, len);
		status = 500;
	}
	w->len = len;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(len, w->data, wiped_free, w);
	if (!resp) {
		wiped_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (a->retry_after) {
		snprintf(num, sizeof(num), "%lu", a->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (a->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow);
	if (a->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Hand the finished request to the server and queue its answer. */
static enum MHD_Result finish(struct cf_kvd_http *h, struct MHD_Connection *conn,
			      const char *url, const char *method, struct pending *p)
{
	struct cf_kvd_http_in in;
	struct cf_kvd_answer a;
	char addr[CF_KVD_ADDRESS_MAX];
	static const char *const overflow[2] = {"too-many", NULL};
	enum MHD_Result r;

	memset(&in, 0, sizeof(in));
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_query, p);
	client_address(h, conn, addr, sizeof(addr));
	in.method = method;
	in.path = url;
	in.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	in.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_TYPE);
	in.query = p->query_overflow ? overflow : p->query;
	in.nquery = p->query_overflow ? 1 : p->nquery;
	in.body = p->body;
	in.body_len = p->len;
	in.body_too_large = p->too_large;
	in.address = addr;
	cf_kvd_server_handle(h->srv, &in, &a);
	drop_body(p);
	r = answer(conn, &a);
	cf_kvd_answer_clear(&a);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct cf_kvd_http *h = cls;
	struct pending *p = *con_cls;
	const char *cl;
	unsigned long long declared;
	char *end;

	(void)version;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		*con_cls = p;
		p->limit = cf_kvd_server_body_limit(method, url);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			errno = 0;
			declared = strtoull(cl, &end, 10);
			if (errno || *end || declared > p->limit) {
				/* answer at once: the body is never read */
				p->too_large = 1;
				return finish(h, conn, url, method, p);
			}
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (append(p, upload_data, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	return finish(h, conn, url, method, p);
}

/*
 * No percent-decoding: every path and query value of the API is plain ASCII, and decoding
 * would let "%00" cut a path short or "%2F" add a segment. Escapes stay literal and so never
 * match a route or a number.
 */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	cf_log_warn("http: %s", buf);
}

int cf_kvd_http_start(struct cf_kvd_http **out, struct cf_kvd_server *s,
		      const struct cf_kvd_http_opts *o)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	struct cf_kvd_http *h;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	int tls = o->tls_cert || o->tls_key;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, o->host, &u.v4.sin_addr) == 1) {
		u.v4.sin_family = AF_INET;
		u.v4.sin_port = htons((uint16_t)o->port);
	} else if (inet_pton(AF_INET6, o->host, &u.v6.sin6_addr) == 1) {
		u.v6.sin6_family = AF_INET6;
		u.v6.sin6_port = htons((uint16_t)o->port);
		flags |= MHD_USE_IPv6;
	} else {
		cf_log_err("listen address '%s' is not a numeric IPv4 or IPv6 address", o->host);
		return CF_E_CONFIG;
	}
	if (o->port > 65535 || o->threads < 1 || o->threads > 64)
		return CF_E_CONFIG;
	if (tls && (!o->tls_cert || !o->tls_key)) {
		cf_log_err("TLS needs both --tls-cert and --tls-key");
		return CF_E_CONFIG;
	}
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		cf_log_err("this libmicrohttpd has no TLS; run keyvaultd behind a TLS reverse proxy");
		return CF_E_CONFIG;
	}
	if (tls)
		flags |= MHD_USE_TLS;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->srv = s;
	if (o->trusted_proxy)
		snprintf(h->trusted_proxy, sizeof(h->trusted_proxy), "%s", o->trusted_proxy);
	h->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_SOCK_ADDR, &u.sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 1 ? o->threads : 0),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, h, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, h,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    o->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, o->tls_key, MHD_OPTION_END);
	if (!h->mhd) {
		cf_log_err("cannot listen on %s port %u", o->host, o->port);
		free(h);
		return CF_E_NETWORK;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : o->port;
	*out = h;
	return 0;
}

unsigned cf_kvd_http_port(const struct cf_kvd_http *h)
{
	return h->port;
}

void cf_kvd_http_stop(struct cf_kvd_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
