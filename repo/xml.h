/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Parsers of the XML answers of storage servers (expat), for the WebDAV and S3
 * backends: a PROPFIND multistatus (RFC 4918) and an S3 ListObjectsV2 result, plus the
 * Code of an S3 error document. Input is untrusted: documents with a DOCTYPE (so no
 * entity tricks), elements nested deeper than 32, or a text value longer than 4 KiB are
 * refused with CF_E_FORMAT. Element names are matched by their local part, whatever
 * the namespace. Nothing here logs; callers log with the object or folder name.
 */
#include <stddef.h>
#include <stdint.h>

/* One resource of a PROPFIND answer: its href as sent (still percent-encoded). */
struct cf_xml_dav_entry {
	const char *href;
	int collection;    /* <resourcetype><collection/></resourcetype> */
	int has_length;    /* a <getcontentlength> was given */
	uint64_t length;
	const char *modified; /* <getlastmodified> as sent (an HTTP date), or NULL */
};

/* Called per <response>; a non-zero return stops the parse and is returned. */
typedef int (*cf_xml_dav_cb)(void *ctx, const struct cf_xml_dav_entry *e);

/*
 * cf_xml_propfind - parse the multistatus document @doc (@len bytes) and call @cb for
 * each <response> with an <href>. Returns 0; CF_E_FORMAT for a malformed or refused
 * document (a length that is not a decimal number included); -ENOMEM; @cb's value.
 */
int cf_xml_propfind(const char *doc, size_t len, cf_xml_dav_cb cb, void *ctx);

/* One page of a ListObjectsV2 answer. */
typedef int (*cf_xml_key_cb)(void *ctx, const char *key, uint64_t size);

/*
 * cf_xml_list_objects - parse a ListBucketResult @doc: @cb per <Contents> (Key, Size);
 * *@truncated from <IsTruncated>; *@token (malloc'ed, or NULL when absent) from
 * <NextContinuationToken>. Returns 0; CF_E_FORMAT (malformed, a <Contents> without Key
 * or Size, or a truncated page without a token); -ENOMEM; @cb's value. *@token is set
 * only on success.
 */
int cf_xml_list_objects(const char *doc, size_t len, cf_xml_key_cb cb, void *ctx,
			int *truncated, char **token);

/*
 * cf_xml_error_code - the <Code> of an S3 <Error> document into @buf (at most @size - 1
 * printable ASCII bytes), or "" when there is none or @doc does not parse. Returns @buf.
 */
const char *cf_xml_error_code(const char *doc, size_t len, char *buf, size_t size);
