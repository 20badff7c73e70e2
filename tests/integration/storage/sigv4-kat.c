/* SPDX-License-Identifier: ISC */
/*
 * SigV4 known-answer driver: sends AWS's documented example requests through Coffer's
 * S3 backend to a capture listener on loopback (capture.py), which records the
 * Authorization headers; test-storage-sigv4.sh compares them with the published
 * signatures. The host name is AWS's, but CURLOPT_CONNECT_TO sends every byte to
 * 127.0.0.1:PORT; x-amz-date is fixed to the example's time.
 *   1. GET /test.txt with Range: bytes=0-9 (AWS's "GET Object" example);
 *   2. a listing of data/ whose second page carries continuation-token=abc, which must
 *      be signed with its query parameters in canonical order.
 * Usage: sigv4-kat PORT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/storage.h"
#include "repo/storage_impl.h"

static int listed;

static int on_name(void *ctx, const char *name, uint64_t size)
{
	(void)ctx;
	printf("listed %s %llu\n", name, (unsigned long long)size);
	listed++;
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const set[][2] = {
		{"endpoint", "http://s3.amazonaws.com"},
		{"region", "us-east-1"},
		{"url_style", "virtual-host"},
		{"access_key_id", "AKIAIOSFODNN7EXAMPLE"},
		{"secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"sigv4_date", "20130524T000000Z"},
		{"allow_insecure_http", "yes"},
		{"retries", "0"},
		{"parallel", "1"},
	};
	struct cf_storage_options *o = NULL;
	struct cf_storage *s = NULL;
	uint8_t buf[16] = {0};
	struct cf_storage_sink k = {.kind = CF_SINK_FIXED, .buf = buf, .cap = 10, .max = 10,
				    .expect = CF_STORAGE_TO_END};
	char connect_to[128];
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	snprintf(connect_to, sizeof(connect_to), "examplebucket.s3.amazonaws.com:80:127.0.0.1:%s",
		 argv[1]);
	if (cf_storage_options_new(&o))
		return 1;
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (cf_storage_options_set(o, set[i][0], set[i][1]))
			return 1;
	if (cf_storage_options_set(o, "connect_to", connect_to))
		return 1;
	r = cf_storage_open_with(&s, "s3://examplebucket", 0, o);
	cf_storage_options_free(o);
	if (r) {
		fprintf(stderr, "open: %s\n", cf_strerror(r));
		return 1;
	}
	r = cf_storage_s3_get_raw(s, "test.txt", 0, 10, &k);
	printf("get test.txt: %s, %llu bytes: %.10s\n", cf_strerror(r),
	       (unsigned long long)k.done, (const char *)buf);
	if (!r)
		r = cf_storage_list(s, "data/", on_name, NULL);
	printf("list data/: %s, %d names\n", cf_strerror(r), listed);
	cf_storage_free(s);
	return r ? 1 : 0;
}
