/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for WebDAV PROPFIND answers (cf_xml_propfind), which come from an
 * untrusted server. Every reported entry must have an href within the 4 KiB text bound;
 * anything malformed must be refused without a crash, a leak or unbounded work.
 */
#include <stdlib.h>
#include <string.h>

#include "repo/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_entry(void *ctx, const struct cf_xml_dav_entry *e)
{
	size_t *n = ctx;

	if (!e->href || strlen(e->href) > 4096 || (!e->has_length && e->length))
		abort();
	return ++*n > 100000; /* a callback may stop the parse */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;

	cf_xml_propfind((const char *)data, size, on_entry, &n);
	return 0;
}
