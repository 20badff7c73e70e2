/* SPDX-License-Identifier: ISC */
/*
 * expat-based parsers of PROPFIND multistatus, ListObjectsV2 and S3 error documents.
 * One walker keeps the stack of local element names and the text of the element of
 * interest; each document kind acts on end tags.
 */
#include "repo/xml.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define DEPTH_MAX 32
#define TEXT_MAX  4096
#define NAME_MAX_ 64

enum kind { DAV, LIST, ERR };

struct walker {
	XML_Parser p;
	enum kind kind;
	int depth;
	char stack[DEPTH_MAX][NAME_MAX_];
	char text[TEXT_MAX + 1];
	size_t tlen;
	int collect; /* the current element's text is wanted */
	int err;     /* CF_E_FORMAT, -ENOMEM or a callback's value */

	/* DAV */
	char href[TEXT_MAX + 1];
	char modified[TEXT_MAX + 1];
	int has_href, collection, has_length, has_modified;
	uint64_t length;
	cf_xml_dav_cb dav_cb;
	/* LIST */
	char key[TEXT_MAX + 1];
	int has_key, has_size, truncated;
	uint64_t size;
	char *token;
	cf_xml_key_cb key_cb;
	void *ctx;
	/* ERR */
	char code[TEXT_MAX + 1];
};

static const char *local(const char *name)
{
	const char *sep = strrchr(name, '\x01');

	return sep ? sep + 1 : name;
}

static void stop(struct walker *w, int err)
{
	if (!w->err)
		w->err = err;
	XML_StopParser(w->p, XML_FALSE);
}

/* The parent of the current element is @name. */
static int parent_is(const struct walker *w, const char *name)
{
	return w->depth >= 2 && !strcmp(w->stack[w->depth - 2], name);
}

static int wanted(const struct walker *w, const char *n)
{
	switch (w->kind) {
	case DAV:
		return (!strcmp(n, "href") && parent_is(w, "response")) ||
		       !strcmp(n, "getcontentlength") || !strcmp(n, "getlastmodified");
	case LIST:
		return ((!strcmp(n, "Key") || !strcmp(n, "Size")) && parent_is(w, "Contents")) ||
		       ((!strcmp(n, "IsTruncated") || !strcmp(n, "NextContinuationToken")) &&
			w->depth == 2);
	default:
		return !strcmp(n, "Code") && w->depth == 2 && parent_is(w, "Error");
	}
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walker *w = ud;
	const char *n = local(name);

	(void)attrs;
	if (w->depth >= DEPTH_MAX) {
		stop(w, CF_E_FORMAT);
		return;
	}
	strncpy(w->stack[w->depth], n, NAME_MAX_ - 1);
	w->stack[w->depth][NAME_MAX_ - 1] = 0;
	w->depth++;
	w->tlen = 0;
	w->text[0] = 0;
	w->collect = wanted(w, n);
	if (w->kind == DAV && !strcmp(n, "response")) {
		w->has_href = w->collection = w->has_length = w->has_modified = 0;
		w->length = 0;
	} else if (w->kind == DAV && !strcmp(n, "collection") && parent_is(w, "resourcetype")) {
		w->collection = 1;
	} else if (w->kind == LIST && !strcmp(n, "Contents")) {
		w->has_key = w->has_size = 0;
	}
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct walker *w = ud;

	if (!w->collect || len <= 0)
		return;
	if ((size_t)len > TEXT_MAX - w->tlen) {
		stop(w, CF_E_FORMAT);
		return;
	}
	memcpy(w->text + w->tlen, s, (size_t)len);
	w->tlen += (size_t)len;
	w->text[w->tlen] = 0;
}

/* A decimal number, optionally surrounded by white space. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return CF_E_FORMAT;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (!digits || *s)
		return CF_E_FORMAT;
	*v = x;
	return 0;
}

/* Trim white space around @s in place. */
static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static void end_dav(struct walker *w, const char *n)
{
	struct cf_xml_dav_entry e;
	int r;

	if (!strcmp(n, "href") && w->collect) {
		memcpy(w->href, trim(w->text), strlen(trim(w->text)) + 1);
		w->has_href = 1;
	} else if (!strcmp(n, "getcontentlength")) {
		if (parse_u64(w->text, &w->length)) {
			stop(w, CF_E_FORMAT);
			return;
		}
		w->has_length = 1;
	} else if (!strcmp(n, "getlastmodified")) {
		memcpy(w->modified, trim(w->text), strlen(trim(w->text)) + 1);
		w->has_modified = 1;
	} else if (!strcmp(n, "response") && w->has_href) {
		e.modified = w->has_modified ? w->modified : NULL;
		e.href = w->href;
		e.collection = w->collection;
		e.has_length = w->has_length;
		e.length = w->length;
		r = w->dav_cb(w->ctx, &e);
		if (r)
			stop(w, r);
	}
}

static void end_list(struct walker *w, const char *n)
{
	int r;

	if (!w->collect && strcmp(n, "Contents"))
		return;
	if (!strcmp(n, "Key")) {
		memcpy(w->key, w->text, w->tlen + 1); /* keys keep their spaces */
		w->has_key = 1;
	} else if (!strcmp(n, "Size")) {
		if (parse_u64(w->text, &w->size)) {
			stop(w, CF_E_FORMAT);
			return;
		}
		w->has_size = 1;
	} else if (!strcmp(n, "IsTruncated")) {
		const char *t = trim(w->text);
		if (!strcmp(t, "true"))
			w->truncated = 1;
		else if (!strcmp(t, "false"))
			w->truncated = 0;
		else
			stop(w, CF_E_FORMAT);
	} else if (!strcmp(n, "NextContinuationToken")) {
		free(w->token);
		w->token = strdup(trim(w->text));
		if (!w->token)
			stop(w, -ENOMEM);
	} else if (!strcmp(n, "Contents")) {
		if (!w->has_key || !w->has_size) {
			stop(w, CF_E_FORMAT);
			return;
		}
		r = w->key_cb(w->ctx, w->key, w->size);
		if (r)
			stop(w, r);
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct walker *w = ud;
	const char *n = local(name);

	if (w->kind == DAV)
		end_dav(w, n);
	else if (w->kind == LIST)
		end_list(w, n);
	else if (w->collect && !strcmp(n, "Code"))
		memcpy(w->code, trim(w->text), strlen(trim(w->text)) + 1);
	w->collect = 0;
	w->tlen = 0;
	w->text[0] = 0;
	if (w->depth > 0)
		w->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	stop(ud, CF_E_FORMAT);
}

static int walk(struct walker *w, const char *doc, size_t len)
{
	int r;

	if (len > INT_MAX)
		return CF_E_FORMAT;
	w->p = XML_ParserCreateNS(NULL, '\x01');
	if (!w->p)
		return -ENOMEM;
	XML_SetUserData(w->p, w);
	XML_SetElementHandler(w->p, on_start, on_end);
	XML_SetCharacterDataHandler(w->p, on_text);
	XML_SetStartDoctypeDeclHandler(w->p, on_doctype);
	if (XML_Parse(w->p, doc, (int)len, XML_TRUE) == XML_STATUS_ERROR && !w->err)
		w->err = XML_GetErrorCode(w->p) == XML_ERROR_NO_MEMORY ? -ENOMEM : CF_E_FORMAT;
	r = w->err;
	XML_ParserFree(w->p);
	return r;
}

int cf_xml_propfind(const char *doc, size_t len, cf_xml_dav_cb cb, void *ctx)
{
	struct walker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->kind = DAV;
	w->dav_cb = cb;
	w->ctx = ctx;
	r = walk(w, doc, len);
	free(w);
	return r;
}

int cf_xml_list_objects(const char *doc, size_t len, cf_xml_key_cb cb, void *ctx,
			int *truncated, char **token)
{
	struct walker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->kind = LIST;
	w->key_cb = cb;
	w->ctx = ctx;
	r = walk(w, doc, len);
	if (!r && w->depth == 0 && strcmp(w->stack[0], "ListBucketResult"))
		r = CF_E_FORMAT;
	if (!r && w->truncated && (!w->token || !*w->token))
		r = CF_E_FORMAT;
	if (!r) {
		*truncated = w->truncated;
		*token = w->token;
		w->token = NULL;
	}
	free(w->token);
	free(w);
	return r;
}

const char *cf_xml_error_code(const char *doc, size_t len, char *buf, size_t size)
{
	struct walker *w = calloc(1, sizeof(*w));
	size_t i = 0;

	if (size)
		buf[0] = 0;
	if (!w || !size)
		goto out;
	w->kind = ERR;
	if (walk(w, doc, len))
		goto out;
	for (; w->code[i] && i + 1 < size; i++)
		buf[i] = (w->code[i] > 0x20 && w->code[i] < 0x7f) ? w->code[i] : '?';
	buf[i] = 0;
out:
	free(w);
	return buf;
}
