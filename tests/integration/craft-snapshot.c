/* SPDX-License-Identifier: ISC */
/*
 * craft-snapshot - commit a snapshot with hostile archive entries, as a real device would
 * (for tests/integration/test-hostile-snapshots.sh).
 *
 * The library's tree writer refuses every entry this tool exists to make, so the TREE
 * pieces are encoded here by hand from the layout in docs/archive.md, and each entry's
 * tar header is made by libarchive's own pax writer from an archive_entry describing the
 * hostile thing (a symlink with its target, a device node with its rdev, ...). The
 * snapshot is then committed the normal way: DATA and TREE blobs, index, a manifest
 * chained to the newest one, the seen record.
 *
 * Every snapshot has two pieces. Piece 0 holds harmless entries (a folder, before.txt),
 * so a restore that streams entries may already have written them when it meets the
 * hostile entry in piece 1 (then after.txt): the test can see partial content.
 *
 * Usage: craft-snapshot VARIANT --repo URL --state-dir S --cache-dir C --outside DIR
 *                       [--victim FILE] [--expect DIR]
 *   VARIANT   good | dotdot | absolute | symlink-out | device | hardlink | header-dotdot
 *   --outside a folder outside the restore target (absolute path): what escapes aim at
 *   --victim  an existing file outside the target, the hard link's target (hardlink)
 *   --expect  write the regular files the snapshot holds there, as they must restore
 * Exit status: 0 committed, 1 failure, 2 usage.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "keyvault/keychain.h"
#include "keyvault/session.h"
#include "repo/chain.h"
#include "repo/keys.h"
#include "repo/repo.h"
#include "repo/snapshots.h"

#define MTIME 1764300000
#define MAX_REFS 4

/* What the tar header of an entry says (independent of the tree fields). */
enum hdr_kind { H_FILE, H_DIR, H_SYMLINK, H_HARDLINK, H_CHARDEV };

struct spec {
	const char *tree_path; /* the path in the tree entry */
	const char *hdr_path;  /* the path in the tar header (usually the same) */
	enum hdr_kind kind;
	const char *link;      /* symlink or hard link target */
	const char *body;      /* file content, NULL for none */
	size_t body_len;
	int piece;             /* 0 or 1 */
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return buf_add(b, x, 2);
}

static int put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return buf_add(b, x, 4);
}

static int put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return buf_add(b, x, 8);
}

/* libarchive client writer: append everything to a struct buf. */
static la_ssize_t sink_write(struct archive *a, void *ctx, const void *data, size_t n)
{
	(void)a;
	return buf_add(ctx, data, n) ? -1 : (la_ssize_t)n;
}

static const char *kind_name(enum hdr_kind k)
{
	switch (k) {
	case H_FILE: return "file";
	case H_DIR: return "dir";
	case H_SYMLINK: return "symlink";
	case H_HARDLINK: return "hardlink";
	case H_CHARDEV: return "chardev";
	}
	return "?";
}

/*
 * Read the header bytes back with libarchive and make sure they say what @s asked for:
 * libarchive's writer must not have sanitised the hostile part away.
 */
static int header_says(const struct spec *s, const uint8_t *hdr, size_t len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	uint8_t *tar = calloc(1, len + 1024); /* header, then two end blocks */
	const char *p, *l;
	int ok = 0;

	if (!a || !tar)
		goto out;
	memcpy(tar, hdr, len);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, tar, len + 1024) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		fprintf(stderr, "craft-snapshot: libarchive cannot read back the header for %s\n",
			s->hdr_path);
		goto out;
	}
	p = archive_entry_pathname(e);
	/* libarchive writes a directory's name with a trailing '/' */
	if (!p || (strcmp(p, s->hdr_path) != 0 &&
		   !(s->kind == H_DIR && strlen(p) == strlen(s->hdr_path) + 1 &&
		     strncmp(p, s->hdr_path, strlen(s->hdr_path)) == 0 && p[strlen(p) - 1] == '/'))) {
		fprintf(stderr, "craft-snapshot: header path is \"%s\", wanted \"%s\"\n",
			p ? p : "(null)", s->hdr_path);
		goto out;
	}
	switch (s->kind) {
	case H_FILE: ok = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e); break;
	case H_DIR: ok = archive_entry_filetype(e) == AE_IFDIR; break;
	case H_CHARDEV:
		ok = archive_entry_filetype(e) == AE_IFCHR && archive_entry_rdevmajor(e) == 1 &&
		     archive_entry_rdevminor(e) == 3;
		break;
	case H_SYMLINK:
		l = archive_entry_symlink(e);
		ok = archive_entry_filetype(e) == AE_IFLNK && l && strcmp(l, s->link) == 0;
		break;
	case H_HARDLINK:
		l = archive_entry_hardlink(e);
		ok = l && strcmp(l, s->link) == 0;
		break;
	}
	if (!ok)
		fprintf(stderr, "craft-snapshot: the header for %s is not the %s asked for\n",
			s->hdr_path, kind_name(s->kind));
out:
	if (a)
		archive_read_free(a);
	free(tar);
	return ok ? 0 : 1;
}

/* The exact bytes libarchive's pax ("restricted") writer emits as @s's header. */
static int make_header(const struct spec *s, struct buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct buf all = {0};
	int rc = 1;

	if (!a || !e)
		goto out;
	archive_entry_set_pathname(e, s->hdr_path);
	archive_entry_set_mtime(e, MTIME, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	switch (s->kind) {
	case H_FILE:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)s->body_len);
		break;
	case H_DIR:
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_size(e, 0);
		break;
	case H_SYMLINK:
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_set_symlink(e, s->link);
		archive_entry_set_size(e, 0);
		break;
	case H_HARDLINK:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_hardlink(e, s->link);
		archive_entry_set_size(e, 0);
		break;
	case H_CHARDEV:
		archive_entry_set_filetype(e, AE_IFCHR);
		archive_entry_set_perm(e, 0666);
		archive_entry_set_rdev(e, makedev(1, 3));
		archive_entry_set_size(e, 0);
		break;
	}
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open(a, &all, NULL, sink_write, NULL) != ARCHIVE_OK) {
		fprintf(stderr, "craft-snapshot: libarchive: %s\n", archive_error_string(a));
		goto out;
	}
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		fprintf(stderr, "craft-snapshot: libarchive header for %s: %s\n", s->hdr_path,
			archive_error_string(a));
		goto out;
	}
	/* only what archive_write_header produced: the body and end blocks come later */
	if (all.len == 0 || all.len % 512 != 0) {
		fprintf(stderr, "craft-snapshot: odd header length %zu for %s\n", all.len,
			s->hdr_path);
		goto out;
	}
	if (header_says(s, all.p, all.len) == 0 && buf_add(out, all.p, all.len) == 0)
		rc = 0;
out:
	if (a) {
		/* closing pads the body and writes the end blocks: past what we kept */
		archive_write_close(a);
		archive_write_free(a);
	}
	archive_entry_free(e);
	free(all.p);
	return rc;
}

/*
 * Append @s as a tree entry (docs/archive.md, "TREE pieces") to @piece, storing its body
 * as DATA blobs of at most 3000 bytes (so a body has several references).
 */
static int encode_entry(struct cf_repo *r, const struct spec *s, struct buf *piece)
{
	struct buf hdr = {0};
	uint8_t ids[MAX_REFS][CF_BLOB_ID_BYTES];
	uint32_t lens[MAX_REFS];
	size_t nrefs = 0, plen = strlen(s->tree_path);
	uint32_t mode;
	int rc;

	for (size_t off = 0; s->body && off < s->body_len; off += 3000) {
		size_t n = s->body_len - off < 3000 ? s->body_len - off : 3000;

		if (nrefs == MAX_REFS)
			return 1;
		rc = cf_repo_put_blob(r, CF_BLOB_DATA, s->body + off, n, ids[nrefs], NULL);
		if (rc) {
			fprintf(stderr, "craft-snapshot: put DATA blob: %s\n", cf_strerror(rc));
			return 1;
		}
		lens[nrefs++] = (uint32_t)n;
	}
	if (make_header(s, &hdr))
		return 1;
	mode = s->kind == H_DIR ? 0755 : s->kind == H_CHARDEV ? 0666 : s->kind == H_SYMLINK ? 0777 : 0644;
	rc = buf_add(piece, (uint8_t[]){s->kind == H_DIR ? 2 : 1, 0}, 2);
	rc = rc ? rc : put_u16(piece, (uint16_t)plen);
	rc = rc ? rc : put_u32(piece, mode);
	rc = rc ? rc : put_u64(piece, s->body ? s->body_len : 0);
	rc = rc ? rc : put_u64(piece, MTIME);
	rc = rc ? rc : put_u32(piece, 0);
	rc = rc ? rc : put_u32(piece, (uint32_t)hdr.len);
	rc = rc ? rc : put_u32(piece, (uint32_t)nrefs);
	rc = rc ? rc : buf_add(piece, s->tree_path, plen);
	rc = rc ? rc : buf_add(piece, hdr.p, hdr.len);
	for (size_t i = 0; !rc && i < nrefs; i++) {
		rc = buf_add(piece, ids[i], CF_BLOB_ID_BYTES);
		rc = rc ? rc : put_u32(piece, lens[i]);
	}
	free(hdr.p);
	return rc ? 1 : 0;
}

static int write_expect(const char *dir, const struct spec *s)
{
	const char *rel = s->tree_path;
	char path[4200];
	FILE *f;

	if (!rel || strlen(dir) + strlen(rel) + 2 > sizeof(path))
		return 1;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return 1;
	strcpy(path, dir);
	strcat(path, "/");
	strcat(path, rel);
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0'; /* each parent folder in turn */
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return 1;
		*p = '/';
	}
	if (s->kind == H_DIR)
		return mkdir(path, 0755) < 0 && errno != EEXIST;
	f = fopen(path, "wb");
	if (!f)
		return 1;
	if (s->body_len && fwrite(s->body, 1, s->body_len, f) != s->body_len) {
		fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: craft-snapshot good|dotdot|absolute|symlink-out|device|hardlink|"
			"header-dotdot --repo URL --state-dir S --cache-dir C --outside DIR"
			" [--victim FILE] [--expect DIR]\n");
}

int main(int argc, char **argv)
{
	struct cf_session_opts o = {.create = 1};
	struct cf_session *s = NULL;
	struct cf_manifest m = {0};
	struct cf_chain_seen seen;
	struct spec specs[8];
	struct buf pieces[2] = {{0}, {0}};
	uint32_t counts[2] = {0, 0};
	uint8_t trees[2 * CF_BLOB_ID_BYTES], mid[32];
	const char *variant, *outside = NULL, *victim = NULL, *expect = NULL;
	char escape[4200], good[5000];
	size_t n = 0;
	uint64_t files = 0, bytes = 0;
	int rc, status = 1, have_seen;

	if (argc < 2) {
		usage();
		return 2;
	}
	variant = argv[1];
	for (int i = 2; i < argc; i++) {
		const char **dst = NULL;

		if (!strcmp(argv[i], "--repo"))
			dst = &o.repo_url;
		else if (!strcmp(argv[i], "--state-dir"))
			dst = &o.state_dir;
		else if (!strcmp(argv[i], "--cache-dir"))
			dst = &o.cache_dir;
		else if (!strcmp(argv[i], "--outside"))
			dst = &outside;
		else if (!strcmp(argv[i], "--victim"))
			dst = &victim;
		else if (!strcmp(argv[i], "--expect"))
			dst = &expect;
		if (!dst || i + 1 >= argc) {
			usage();
			return 2;
		}
		*dst = argv[++i];
	}
	if (!o.repo_url || !o.state_dir || !outside || outside[0] != '/') {
		usage();
		return 2;
	}
	for (size_t i = 0; i < sizeof(good); i++)
		good[i] = (char)('a' + (i * 7 + i / 13) % 26);

	/* piece 0: harmless entries that a streaming restore may write before piece 1 */
	specs[n++] = (struct spec){"Attachments", "Attachments", H_DIR, NULL, NULL, 0, 0};
	specs[n++] = (struct spec){"before.txt", "before.txt", H_FILE, NULL, "before\n", 7, 0};

	if (!strcmp(variant, "good")) {
		specs[n++] = (struct spec){"Attachments/ok/good.bin", "Attachments/ok/good.bin",
					   H_FILE, NULL, good, sizeof(good), 1};
	} else if (!strcmp(variant, "dotdot")) {
		specs[n++] = (struct spec){"../evil", "../evil", H_FILE, NULL, "EVIL\n", 5, 1};
	} else if (!strcmp(variant, "header-dotdot")) {
		/* the tree says a harmless name, the tar header (what extraction obeys) climbs */
		specs[n++] = (struct spec){"evil", "../evil", H_FILE, NULL, "EVIL\n", 5, 1};
	} else if (!strcmp(variant, "absolute")) {
		snprintf(escape, sizeof(escape), "%s/evil", outside);
		specs[n++] = (struct spec){escape, escape, H_FILE, NULL, "EVIL\n", 5, 1};
	} else if (!strcmp(variant, "symlink-out")) {
		specs[n++] = (struct spec){"link", "link", H_SYMLINK, outside, NULL, 0, 1};
		specs[n++] = (struct spec){"link/evil", "link/evil", H_FILE, NULL, "EVIL\n", 5, 1};
	} else if (!strcmp(variant, "device")) {
		specs[n++] = (struct spec){"dev0", "dev0", H_CHARDEV, NULL, NULL, 0, 1};
	} else if (!strcmp(variant, "hardlink")) {
		if (!victim || victim[0] != '/') {
			fprintf(stderr, "craft-snapshot: hardlink needs --victim /ABSOLUTE/FILE\n");
			return 2;
		}
		specs[n++] = (struct spec){"evil", "evil", H_HARDLINK, victim, NULL, 0, 1};
	} else {
		usage();
		return 2;
	}
	specs[n++] = (struct spec){"after.txt", "after.txt", H_FILE, NULL, "after\n", 6, 1};

	if (cf_core_init() != 0) {
		fprintf(stderr, "craft-snapshot: cannot start the crypto core\n");
		return 1;
	}
	rc = cf_session_open(&s, &o);
	if (!rc)
		rc = cf_session_load_snapshots(s);
	if (rc) {
		fprintf(stderr, "craft-snapshot: session: %s\n", cf_strerror(rc));
		goto out;
	}
	for (int p = 0; p < 2; p++) {
		uint8_t head[12] = {'C', 'F', 'T', 0x01, (uint8_t)p, 0, 0, 0};

		if (buf_add(&pieces[p], head, sizeof(head)))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct buf *pc = &pieces[specs[i].piece];

		if (encode_entry(s->repo, &specs[i], pc))
			goto out;
		counts[specs[i].piece]++;
		if (specs[i].kind != H_DIR)
			files++;
		bytes += specs[i].body ? specs[i].body_len : 0;
		if (expect && !strcmp(variant, "good") && write_expect(expect, &specs[i])) {
			fprintf(stderr, "craft-snapshot: cannot write %s/%s\n", expect,
				specs[i].tree_path);
			goto out;
		}
	}
	for (int p = 0; p < 2; p++) {
		for (int b = 0; b < 4; b++) /* count u32 at offset 8 */
			pieces[p].p[8 + b] = (uint8_t)(counts[p] >> (8 * b));
		rc = cf_repo_put_blob(s->repo, CF_BLOB_TREE, pieces[p].p, pieces[p].len,
				      trees + (size_t)p * CF_BLOB_ID_BYTES, NULL);
		if (rc) {
			fprintf(stderr, "craft-snapshot: put TREE blob: %s\n", cf_strerror(rc));
			goto out;
		}
	}
	rc = cf_repo_commit_index(s->repo);
	if (rc) {
		fprintf(stderr, "craft-snapshot: commit index: %s\n", cf_strerror(rc));
		goto out;
	}
	have_seen = cf_keychain_seen_get(s->kc, cf_repo_id(s->repo), &seen.seq, seen.id) == 0;
	rc = cf_chain_next(cf_snapshots_chain(s->snaps), have_seen ? &seen : NULL, &m.seq,
			   &m.has_prev, m.prev);
	if (!rc) {
		m.time = MTIME;
		m.host = "craft-snapshot";
		m.store = "/crafted";
		m.trees = trees;
		m.ntrees = 2;
		m.files = files;
		m.bytes = bytes;
		rc = cf_repo_write_manifest(s->repo, &m, mid);
	}
	if (!rc)
		rc = cf_session_record_seen(s, m.seq, mid);
	if (rc) {
		fprintf(stderr, "craft-snapshot: manifest: %s\n", cf_strerror(rc));
		goto out;
	}
	printf("snapshot #%llu: %s\n", (unsigned long long)m.seq, variant);
	status = 0;
out:
	cf_session_free(s);
	free(pieces[0].p);
	free(pieces[1].p);
	return status;
}
