/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for S3 ListObjectsV2 pages and error documents (cf_xml_list_objects,
 * cf_xml_error_code), which come from an untrusted server. A truncated page that is
 * accepted must carry a continuation token; error codes are printable and bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "repo/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_key(void *ctx, const char *key, uint64_t size)
{
	size_t *n = ctx;

	(void)size;
	if (!key || strlen(key) > 4096)
		abort();
	return ++*n > 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = NULL, code[64];
	int truncated = -1;
	size_t n = 0;

	if (cf_xml_list_objects((const char *)data, size, on_key, &n, &truncated, &token) == 0) {
		if (truncated != 0 && truncated != 1)
			abort();
		if (truncated && (!token || !*token))
			abort();
	}
	free(token);
	cf_xml_error_code((const char *)data, size, code, sizeof(code));
	for (size_t i = 0; code[i]; i++)
		if (code[i] <= 0x20 || code[i] >= 0x7f || i >= sizeof(code) - 1)
			abort();
	return 0;
}
