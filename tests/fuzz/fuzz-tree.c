/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the snapshot tree decoder (repo/archive.h) on untrusted bytes:
 * the input is one TREE piece (index 0). The seed corpus (corpus/tree/) holds valid
 * pieces made by cf_tree_writer, so mutations start from real entries and headers.
 *
 * Invariants checked:
 *  - the result is 0 or one of the documented codes, and errors are sticky;
 *  - an accepted entry satisfies every documented rule (path, type, mode, header length
 *    and header check, chunk lengths summing to the size, directories without body);
 *  - an accepted piece is canonical: the writer re-encodes its entries into exactly the
 *    input bytes;
 *  - the tar stream of an accepted piece (chunks faked with a pattern) has exactly the
 *    length the entries announce, and libarchive's tar reader walks it in step.
 */
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "repo/archive.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX (4u << 20) /* skip streaming inputs announcing more than this */

static int documented(int r)
{
	switch (r) {
	case 0:
	case CF_E_FORMAT:
	case CF_E_VERSION:
	case CF_E_TRUNCATED:
	case CF_E_CORRUPT:
	case CF_E_LIMIT:
		return 1;
	default:
		return 0;
	}
}

static void check_entry(const struct cf_archive_entry *e)
{
	uint64_t sum = 0;

	if (cf_archive_path_check(e->path, strlen(e->path)) != 0 ||
	    (e->type != CF_ARCHIVE_FILE && e->type != CF_ARCHIVE_DIR) || (e->mode & ~0777u) ||
	    e->size > CF_ARCHIVE_SIZE_MAX || e->mtime_nsec >= 1000000000u || e->header_len < 512 ||
	    e->header_len % 512 || e->header_len > CF_ARCHIVE_HEADER_MAX ||
	    cf_archive_header_check(e) != 0)
		abort();
	if (e->type == CF_ARCHIVE_DIR && (e->size || e->nrefs))
		abort();
	for (size_t i = 0; i < e->nrefs; i++) {
		if (e->refs[i].len == 0 || e->refs[i].len > CF_ARCHIVE_REF_MAX)
			abort();
		sum += e->refs[i].len;
	}
	if (e->body == CF_ARCHIVE_BODY_REFS ? sum != e->size : e->nrefs != 1)
		abort();
}

struct reenc {
	const uint8_t *want;
	size_t len;
	int pieces;
};

static int compare_piece(void *ctx, const uint8_t *piece, size_t len)
{
	struct reenc *r = ctx;

	if (r->pieces++ || len != r->len || memcmp(piece, r->want, len) != 0)
		abort();
	return 0;
}

static int fetch(void *ctx, const uint8_t id[CF_BLOB_ID_BYTES], uint32_t len, uint8_t **out)
{
	uint8_t *b = malloc(len);

	(void)ctx;
	if (!b)
		return -12;
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(id[i % CF_BLOB_ID_BYTES] + i);
	*out = b;
	return 0;
}

/* A chunk-list body: the stream must stop with CF_E_VERSION when it gets there. */
static void stream_chunklist(const uint8_t *data, size_t size)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	static uint8_t buf[1 << 16];
	size_t got;
	int ret;

	if (cf_tree_reader_new_mem(&r, &data, &size, 1) != 0 ||
	    cf_tarstream_new(&s, r, fetch, NULL) != 0)
		abort();
	do
		ret = cf_tarstream_read(s, buf, sizeof(buf), &got);
	while (ret == 0 && got > 0);
	if (ret != CF_E_VERSION)
		abort();
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
}

/* Produce the stream and walk it with libarchive: entry count and bodies stay in step. */
static void stream_check(const uint8_t *data, size_t size, uint64_t expect, size_t entries)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tarstream *s = NULL;
	struct archive_entry *ae;
	struct archive *a;
	uint8_t *tar = malloc(expect + 1);
	size_t got, n = 0;
	int ret;

	if (!tar || cf_tree_reader_new_mem(&r, &data, &size, 1) != 0 ||
	    cf_tarstream_new(&s, r, fetch, NULL) != 0)
		abort();
	/* one byte more than announced: the stream must end exactly there */
	if (cf_tarstream_read(s, tar, expect + 1, &got) != 0 || got != expect)
		abort();
	a = archive_read_new();
	if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_memory(a, tar, expect) != ARCHIVE_OK)
		abort();
	while ((ret = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ret == ARCHIVE_WARN) {
		if (archive_read_data_skip(a) != ARCHIVE_OK)
			abort();
		n++;
	}
	if (ret != ARCHIVE_EOF || n != entries)
		abort();
	archive_read_free(a);
	cf_tarstream_free(s);
	cf_tree_reader_free(r);
	free(tar);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_tree_reader *r = NULL;
	struct cf_tree_writer *w = NULL;
	const struct cf_archive_entry *e;
	struct reenc re = {.want = data, .len = size};
	uint64_t expect = 1024;
	size_t entries = 0;
	int ret, chunklist = 0;

	cf_log_set_level((enum cf_log_level)0); /* refusals are the point: keep quiet */
	if (cf_tree_reader_new_mem(&r, &data, &size, 1) != 0 ||
	    cf_tree_writer_new(&w, CF_TREE_PIECE_MAX, compare_piece, &re) != 0)
		abort();
	for (;;) {
		ret = cf_tree_reader_next(r, &e);
		if (ret || !e)
			break;
		check_entry(e);
		if (cf_tree_writer_add(w, e) != 0)
			abort();
		entries++;
		chunklist |= e->body == CF_ARCHIVE_BODY_CHUNKLIST;
		expect += e->header_len + (e->size + 511) / 512 * 512;
	}
	if (!documented(ret))
		abort();
	if (ret) {
		if (entries != 0 || cf_tree_reader_next(r, &e) != ret)
			abort(); /* the piece is checked whole first; errors stick */
	} else {
		if (cf_tree_writer_finish(w, NULL) != 0 || re.pieces != (entries ? 1 : 0))
			abort();
		if (chunklist && expect <= STREAM_MAX)
			stream_chunklist(data, size);
		else if (entries && expect <= STREAM_MAX)
			stream_check(data, size, expect, entries);
	}
	cf_tree_writer_free(w);
	cf_tree_reader_free(r);
	return 0;
}
