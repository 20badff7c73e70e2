/* SPDX-License-Identifier: ISC */
#include "keyvault/kvclient.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "util/log.h"

struct cf_kvclient {
	CURL *easy;
	char *url;
	uint8_t *token; /* secure memory, NULL when none */
	char code[64];
	char message[256];
};

/* The response being received: grown in secure memory (it may hold a key). */
struct rbuf {
	struct cf_secbuf *b;
	size_t len;
	int over;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* 1 when @host (as in a URL, IPv6 in brackets) is a loopback address or "localhost". */
static int host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof(buf) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = 0;
		if (inet_pton(AF_INET6, buf, &a6) == 1)
			return IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

static int check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *allow = getenv("COFFER_KEYVAULT_ALLOW_HTTP");
	int rc = CF_E_CONFIG;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		cf_log_err("key vault URL %s: not a URL", url);
		goto out;
	}
	if (strcmp(scheme, "https") == 0)
		rc = 0;
	else if (strcmp(scheme, "http") != 0)
		cf_log_err("key vault URL %s: only http:// and https:// are supported", url);
	else if (host_is_loopback(host) || (allow && strcmp(allow, "1") == 0))
		rc = 0;
	else
		cf_log_err("key vault URL %s: cleartext http:// only to a loopback address (use"
			   " https://, or set COFFER_KEYVAULT_ALLOW_HTTP=1)",
			   url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int cf_kvclient_new(struct cf_kvclient **out, const char *url)
{
	struct cf_kvclient *c;
	size_t n;
	int rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return CF_E_CRYPTO;
	if (!url || !*url)
		return CF_E_CONFIG;
	rc = check_url(url);
	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->url = strdup(url);
	c->easy = curl_easy_init();
	if (!c->url || !c->easy) {
		cf_kvclient_free(c);
		return -ENOMEM;
	}
	n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = 0;
	*out = c;
	return 0;
}

void cf_kvclient_free(struct cf_kvclient *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	cf_secmem_free(c->token);
	free(c->url);
	free(c);
}

const char *cf_kvclient_url(const struct cf_kvclient *c)
{
	return c->url;
}

int cf_kvclient_set_token(struct cf_kvclient *c, const uint8_t token[CF_KVCLIENT_TOKEN_BYTES])
{
	if (!c->token)
		c->token = cf_secmem_alloc(CF_KVCLIENT_TOKEN_BYTES);
	if (!c->token)
		return -ENOMEM;
	memcpy(c->token, token, CF_KVCLIENT_TOKEN_BYTES);
	return 0;
}

const uint8_t *cf_kvclient_token(const struct cf_kvclient *c)
{
	return c->token;
}

const char *cf_kvclient_error_code(const struct cf_kvclient *c)
{
	return c->code;
}

const char *cf_kvclient_error_message(const struct cf_kvclient *c)
{
	return c->message;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct rbuf *rb = ud;
	size_t n = size * nmemb, cap = rb->b ? cf_secbuf_len(rb->b) : 0;

	if (rb->len + n > CF_KVCLIENT_MAX_RESPONSE) {
		rb->over = 1;
		return 0;
	}
	if (rb->len + n + 1 > cap) {
		struct cf_secbuf *nb = NULL;
		size_t ncap = cap ? cap : 4096;
		while (ncap < rb->len + n + 1)
			ncap *= 2;
		if (cf_secbuf_new(&nb, ncap) != 0)
			return 0;
		if (rb->b)
			memcpy(cf_secbuf_data(nb), cf_secbuf_data(rb->b), rb->len);
		cf_secbuf_free(rb->b);
		rb->b = nb;
	}
	memcpy(cf_secbuf_data(rb->b) + rb->len, ptr, n);
	rb->len += n;
	return n;
}

static int status_error(long status)
{
	switch (status) {
	case 400: return CF_E_INVAL;
	case 401: return CF_E_AUTH;
	case 403: return CF_E_PERM;
	case 404:
	case 405: return CF_E_NOTFOUND;
	case 409: return CF_E_EXISTS;
	case 410:
	case 413: return CF_E_LIMIT;
	case 415: return CF_E_FORMAT;
	case 429: return CF_E_BUSY;
	default: return CF_E_NETWORK;
	}
}

/* Keep the server's error code and message from the error body @j. */
static void keep_error(struct cf_kvclient *c, json_t *j, long status)
{
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *msg = json_string_value(json_object_get(j, "message"));

	snprintf(c->code, sizeof(c->code), "%s", code ? code : "http_error");
	if (msg)
		snprintf(c->message, sizeof(c->message), "%s", msg);
	else
		snprintf(c->message, sizeof(c->message), "HTTP status %ld", status);
}

static int perform(struct cf_kvclient *c, const char *method, const char *path, const char *body,
		   size_t len, json_t **resp, long *status)
{
	struct curl_slist *hl = NULL, *l;
	struct rbuf rb = {0};
	char url[2048], auth[128], b64[64], errbuf[CURL_ERROR_SIZE] = "";
	long st = 0;
	json_t *j = NULL;
	CURLcode cc;
	int rc;

	c->code[0] = c->message[0] = 0;
	if (status)
		*status = 0;
	if (snprintf(url, sizeof(url), "%s%s", c->url, path) >= (int)sizeof(url))
		return CF_E_INVAL;
	hl = curl_slist_append(NULL, "Accept: application/json");
	if (hl && body && (l = curl_slist_append(hl, "Content-Type: application/json")))
		hl = l;
	if (hl && c->token) {
		cf_encode_b64(b64, sizeof(b64), c->token, CF_KVCLIENT_TOKEN_BYTES);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", b64);
		if ((l = curl_slist_append(hl, auth)))
			hl = l;
		cf_core_wipe(auth, sizeof(auth));
		cf_core_wipe(b64, sizeof(b64));
	}
	curl_easy_reset(c->easy);
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (getenv("COFFER_KEYVAULT_CA"))
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, getenv("COFFER_KEYVAULT_CA"));
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &rb);
	if (body) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	}
	cc = curl_easy_perform(c->easy);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		cf_log_err("key vault %s: %s %s: %s", c->url, method, path,
			   rb.over ? "answer too large" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
		snprintf(c->code, sizeof(c->code), "unreachable");
		snprintf(c->message, sizeof(c->message), "cannot reach the key vault %s", c->url);
		rc = CF_E_NETWORK;
		goto out;
	}
	if (status)
		*status = st;
	j = rb.b ? json_loadb((const char *)cf_secbuf_data(rb.b), rb.len, JSON_REJECT_DUPLICATES,
			      NULL)
		 : NULL;
	if (!json_is_object(j)) {
		cf_log_err("key vault %s: %s %s: HTTP %ld with an answer that is not JSON", c->url,
			   method, path, st);
		snprintf(c->code, sizeof(c->code), "bad_answer");
		snprintf(c->message, sizeof(c->message), "the key vault answered HTTP %ld", st);
		rc = CF_E_NETWORK;
		goto out;
	}
	if (st < 200 || st > 299) {
		keep_error(c, j, st);
		rc = status_error(st);
		goto out;
	}
	rc = 0;
	if (resp) {
		*resp = j;
		j = NULL;
	}
out:
	json_decref(j);
	cf_secbuf_free(rb.b);
	return rc;
}

int cf_kvclient_call(struct cf_kvclient *c, const char *method, const char *path,
		     const json_t *body, json_t **resp, long *status)
{
	char *text = NULL;
	int rc;

	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return -ENOMEM;
	}
	rc = perform(c, method, path, text, text ? strlen(text) : 0, resp, status);
	if (text) {
		cf_core_wipe(text, strlen(text));
		free(text);
	}
	return rc;
}

int cf_kvclient_call_secret(struct cf_kvclient *c, const char *method, const char *path,
			    const char *body, size_t len, json_t **resp, long *status)
{
	return perform(c, method, path, body, len, resp, status);
}

int cf_kvclient_take_b64(json_t *obj, const char *field, size_t len, struct cf_secbuf **out)
{
	json_t *v = json_object_get(obj, field);
	const char *s = json_string_value(v);
	struct cf_secbuf *b = NULL;
	size_t got = 0, max = len ? len : 4096;
	int rc;

	if (!s)
		return CF_E_FORMAT;
	rc = cf_secbuf_new(&b, max);
	if (rc)
		return rc;
	rc = cf_encode_unb64(cf_secbuf_data(b), max, &got, s);
	cf_core_wipe((char *)s, strlen(s)); /* jansson's own copy of the secret */
	if (!rc && len && got != len)
		rc = CF_E_FORMAT;
	if (rc) {
		cf_secbuf_free(b);
		return CF_E_FORMAT;
	}
	cf_secbuf_shrink(b, got);
	*out = b;
	return 0;
}
