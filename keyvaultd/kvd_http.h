/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * keyvaultd's HTTP front: libmicrohttpd with its own threads, reading each request (body
 * bounded by the route's limit), handing it to cf_kvd_server_handle and sending the JSON
 * answer. TLS through libmicrohttpd's GnuTLS support when a certificate is given.
 */
#include <stddef.h>

struct cf_kvd_server;
struct cf_kvd_http;

struct cf_kvd_http_opts {
	const char *host;          /* numeric IPv4 or IPv6 address to listen on */
	unsigned port;             /* 0: any free port (see cf_kvd_http_port) */
	unsigned threads;          /* request threads, 1..64 */
	const char *tls_cert;      /* PEM text of the certificate chain, or NULL */
	const char *tls_key;       /* PEM text of its private key, or NULL */
	const char *trusted_proxy; /* numeric address whose X-Forwarded-For is believed */
};

/*
 * cf_kvd_http_start - listen as @o says and serve @s until cf_kvd_http_stop. Sets *@out
 * only on success. Returns 0; CF_E_CONFIG (bad address, TLS asked but not available in
 * libmicrohttpd, or half a TLS pair); CF_E_NETWORK (cannot listen: in use, permission);
 * -ENOMEM.
 */
int cf_kvd_http_start(struct cf_kvd_http **out, struct cf_kvd_server *s,
		      const struct cf_kvd_http_opts *o);

/* cf_kvd_http_port - the port actually listened on. */
unsigned cf_kvd_http_port(const struct cf_kvd_http *h);

/* cf_kvd_http_stop - stop listening, finish the requests in progress, release. NULL ok. */
void cf_kvd_http_stop(struct cf_kvd_http *h);

/*
 * cf_kvd_http_address_key - the rate-limit key of a client address: an IPv4 address as
 * dotted text, an IPv6 address as its /64 prefix ("2001:db8:1:2::/64"), an IPv4-mapped
 * IPv6 address as the IPv4 address. @sa is a struct sockaddr. Writes "unknown" for
 * anything else. @buf holds at least 64 bytes.
 */
void cf_kvd_http_address_key(const void *sa, char *buf, size_t cap);
