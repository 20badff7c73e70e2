/* SPDX-License-Identifier: ISC */
/* The XML parsers of storage answers: PROPFIND multistatus, ListObjectsV2, S3 errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/xml.h"
#include "tests/lib/check.h"

struct seen {
	char names[8][256];
	char modified[8][64];
	int coll[8];
	uint64_t len[8];
	int has_len[8];
	int n;
	int stop_at; /* return 99 at this entry (1-based), 0 never */
};

static int dav_cb(void *ctx, const struct cf_xml_dav_entry *e)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", e->href);
		s->coll[s->n] = e->collection;
		s->len[s->n] = e->length;
		s->has_len[s->n] = e->has_length;
		snprintf(s->modified[s->n], sizeof(s->modified[s->n]), "%s",
			 e->modified ? e->modified : "(none)");
	}
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 99 : 0;
}

static int key_cb(void *ctx, const char *key, uint64_t size)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", key);
		s->len[s->n] = size;
	}
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 99 : 0;
}

static int dav(const char *doc, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return cf_xml_propfind(doc, strlen(doc), dav_cb, s);
}

static void test_propfind(void)
{
	/* as nginx's dav-ext module answers, and with another prefix and absolute hrefs */
	static const char nginx[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
		"<D:multistatus xmlns:D=\"DAV:\">\n"
		"<D:response><D:href>/repo/keys/</D:href><D:propstat><D:prop>"
		"<D:resourcetype><D:collection/></D:resourcetype></D:prop>"
		"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n"
		"<D:response><D:href>/repo/keys/ab%20c</D:href><D:propstat><D:prop>"
		"<D:getcontentlength>191</D:getcontentlength><D:resourcetype/>"
		"<D:getlastmodified>Sun, 29 Nov 2026 05:00:36 GMT</D:getlastmodified></D:prop>"
		"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n"
		"</D:multistatus>\n";
	static const char other[] =
		"<multistatus xmlns=\"DAV:\"><response><href> http://h:8080/x/data/ab/ </href>"
		"<propstat><prop><resourcetype><collection/></resourcetype>"
		"<getcontentlength>\n 0 \n</getcontentlength></prop></propstat></response>"
		"<response><propstat><prop><getcontentlength>5</getcontentlength></prop></propstat>"
		"</response>"
		"<response><href>/x/config</href><propstat><prop><getcontentlength>"
		"18446744073709551615</getcontentlength></prop></propstat></response>"
		"</multistatus>";
	struct seen s;

	CHECK_RC(dav(nginx, &s), 0);
	CHECK(s.n == 2);
	CHECK(!strcmp(s.names[0], "/repo/keys/") && s.coll[0] && !s.has_len[0]);
	CHECK(!strcmp(s.names[1], "/repo/keys/ab%20c") && !s.coll[1] && s.has_len[1] &&
	      s.len[1] == 191);
	CHECK(!strcmp(s.modified[0], "(none)"));
	CHECK(!strcmp(s.modified[1], "Sun, 29 Nov 2026 05:00:36 GMT"));
	CHECK_RC(dav(other, &s), 0);
	CHECK(s.n == 2); /* the response without an href is skipped */
	CHECK(!strcmp(s.names[0], "http://h:8080/x/data/ab/") && s.coll[0] && s.len[0] == 0);
	CHECK(!strcmp(s.names[1], "/x/config") && s.len[1] == UINT64_MAX);
	/* the callback's value stops the parse */
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	CHECK_RC(cf_xml_propfind(nginx, strlen(nginx), dav_cb, &s), 99);
	CHECK(s.n == 1);

	/* refused: malformed, DOCTYPE (entities), too deep, too long, bad numbers */
	CHECK_RC(dav("<multistatus xmlns=\"DAV:\"><response>", &s), CF_E_FORMAT);
	CHECK_RC(dav("", &s), CF_E_FORMAT);
	CHECK_RC(dav("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><multistatus xmlns=\"DAV:\">&a;"
		     "</multistatus>", &s), CF_E_FORMAT);
	CHECK_RC(dav("<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat><prop>"
		     "<getcontentlength>12x</getcontentlength></prop></propstat></response>"
		     "</multistatus>", &s), CF_E_FORMAT);
	CHECK_RC(dav("<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat><prop>"
		     "<getcontentlength>18446744073709551616</getcontentlength></prop></propstat>"
		     "</response></multistatus>", &s), CF_E_FORMAT);
	CHECK_RC(dav("<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat><prop>"
		     "<getcontentlength></getcontentlength></prop></propstat></response>"
		     "</multistatus>", &s), CF_E_FORMAT);
	{
		char deep[64 * 8 + 64] = "";
		for (int i = 0; i < 40; i++)
			strcat(deep, "<a>");
		CHECK_RC(dav(deep, &s), CF_E_FORMAT);
	}
	{
		size_t n = 6000;
		char *big = malloc(n + 200);
		REQUIRE(big);
		strcpy(big, "<multistatus xmlns=\"DAV:\"><response><href>");
		memset(big + strlen(big), 'a', n);
		big[43 + n] = 0;
		strcat(big, "</href></response></multistatus>");
		CHECK_RC(dav(big, &s), CF_E_FORMAT);
		free(big);
	}
}

static int list(const char *doc, struct seen *s, int *trunc, char **tok)
{
	memset(s, 0, sizeof(*s));
	*tok = NULL;
	return cf_xml_list_objects(doc, strlen(doc), key_cb, s, trunc, tok);
}

static void test_list_objects(void)
{
	static const char page1[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
		"<IsTruncated>true</IsTruncated>"
		"<Contents><Key>p/config</Key><Size>132</Size><ETag>&quot;x&quot;</ETag></Contents>"
		"<Contents><Key>p/a &amp; b</Key><Size>0</Size></Contents>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"</ListBucketResult>";
	static const char last[] =
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
	struct seen s;
	char *tok = NULL;
	int trunc = -1;

	CHECK_RC(list(page1, &s, &trunc, &tok), 0);
	CHECK(s.n == 2 && trunc == 1);
	CHECK(!strcmp(s.names[0], "p/config") && s.len[0] == 132);
	CHECK(!strcmp(s.names[1], "p/a & b") && s.len[1] == 0);
	CHECK(tok && !strcmp(tok, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
	free(tok);
	CHECK_RC(list(last, &s, &trunc, &tok), 0);
	CHECK(s.n == 0 && trunc == 0 && tok == NULL);

	/* a truncated page without a token, a Contents without Size, another root */
	CHECK_RC(list("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		      &s, &trunc, &tok), CF_E_FORMAT);
	CHECK_RC(list("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
		      &s, &trunc, &tok), CF_E_FORMAT);
	CHECK_RC(list("<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		      &s, &trunc, &tok), CF_E_FORMAT);
	CHECK_RC(list("<Error><Code>NoSuchBucket</Code></Error>", &s, &trunc, &tok), CF_E_FORMAT);
	CHECK_RC(list("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
		      "</ListBucketResult>", &s, &trunc, &tok), CF_E_FORMAT);
	CHECK(tok == NULL);
	/* the callback's value */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	CHECK_RC(cf_xml_list_objects(page1, strlen(page1), key_cb, &s, &trunc, &tok), 99);
	CHECK(tok == NULL);
}

static void test_error_code(void)
{
	static const char doc[] = "<?xml version=\"1.0\"?><Error><Code> InvalidAccessKeyId </Code>"
				  "<Message>The AWS Access Key Id you provided does not exist"
				  "</Message></Error>";
	char buf[32];

	CHECK(!strcmp(cf_xml_error_code(doc, strlen(doc), buf, sizeof(buf)), "InvalidAccessKeyId"));
	CHECK(!strcmp(cf_xml_error_code(doc, strlen(doc), buf, 8), "Invalid"));
	CHECK(!strcmp(cf_xml_error_code("<Error>", 7, buf, sizeof(buf)), ""));
	CHECK(!strcmp(cf_xml_error_code("", 0, buf, sizeof(buf)), ""));
	{
		static const char ctl[] = "<Error><Code>a\x01" "b</Code></Error>";
		static const char odd[] = "<Error><Code>a\tb\x7f</Code></Error>";

		CHECK(!strcmp(cf_xml_error_code(ctl, strlen(ctl), buf, sizeof(buf)), ""));
		CHECK(!strcmp(cf_xml_error_code(odd, strlen(odd), buf, sizeof(buf)), "a?b?"));
	}
}

int main(void)
{
	test_propfind();
	test_list_objects();
	test_error_code();
	return check_finish();
}
