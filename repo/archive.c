/* SPDX-License-Identifier: ISC */
/*
 * Archive entries: path rules, tar headers made by libarchive, and the check that a
 * stored header describes its entry. The tree encoding and the tar stream producer are
 * in archive_tree.c.
 */
#include "repo/archive.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "util/log.h"

int cf_archive_path_check(const char *path, size_t len)
{
	size_t i = 0, comp = 0;

	if (!path || len == 0 || len > CF_ARCHIVE_PATH_MAX)
		return CF_E_INVAL;
	while (i < len) {
		unsigned char c = (unsigned char)path[i];
		size_t n, j;
		uint32_t cp;

		if (c < 0x80) {
			if (c == 0 || c == '\\')
				return CF_E_INVAL;
			if (c == '/') {
				/* comp = start of the component that ends here */
				if (i == comp)
					return CF_E_INVAL; /* empty component (or leading '/') */
				if ((i - comp == 1 && path[comp] == '.') ||
				    (i - comp == 2 && path[comp] == '.' && path[comp + 1] == '.'))
					return CF_E_INVAL;
				comp = i + 1;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return CF_E_INVAL; /* continuation byte, overlong lead, or > U+10FFFF */
		}
		if (len - i - 1 < n)
			return CF_E_INVAL;
		for (j = 1; j <= n; j++) {
			unsigned char d = (unsigned char)path[i + j];

			if ((d & 0xc0) != 0x80)
				return CF_E_INVAL;
			cp = cp << 6 | (d & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return CF_E_INVAL;
		i += n + 1;
	}
	/* the last component: not empty (trailing '/'), not "." or ".." */
	if (comp == len)
		return CF_E_INVAL;
	if ((len - comp == 1 && path[comp] == '.') ||
	    (len - comp == 2 && path[comp] == '.' && path[comp + 1] == '.'))
		return CF_E_INVAL;
	return 0;
}

const char *cf_archive_printable(const char *path, char *buf, size_t n)
{
	size_t o = 0;

	if (!path)
		return "(none)";
	if (!buf || n < 16)
		return "(path)";
	for (; *path && o + 8 < n; path++) {
		unsigned char c = (unsigned char)*path, d = (unsigned char)path[1];

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ||
		    (c == 0xc2 && d >= 0x80 && d < 0xa0))
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (*path)
		o += (size_t)snprintf(buf + o, n - o, "...");
	buf[o] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------------- */
/* Header bytes from libarchive                                                        */

struct capture {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int on;       /* keep bytes only while archive_write_header runs */
	int overflow; /* the header did not fit in cap */
};

static la_ssize_t capture_write(struct archive *a, void *ctx, const void *bytes, size_t n)
{
	struct capture *c = ctx;

	(void)a;
	if (!c->on)
		return -1; /* body padding, end blocks: refused, so closing stops at once */
	if (n > c->cap - c->len) {
		c->overflow = 1;
		return (la_ssize_t)n;
	}
	memcpy(c->buf + c->len, bytes, n);
	c->len += n;
	return (la_ssize_t)n;
}

static int is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

int cf_archive_header(const struct cf_archive_entry *e, uint8_t *buf, size_t cap, size_t *len)
{
	struct capture c = {.buf = buf, .cap = cap};
	struct archive_entry *ae = NULL;
	struct archive *a = NULL;
	locale_t utf8 = (locale_t)0, prev = (locale_t)0;
	struct cf_archive_entry chk;
	char shown[256];
	int r, ret;

	if (!e || !buf || !len || !e->path ||
	    cf_archive_path_check(e->path, strlen(e->path)) != 0 ||
	    (e->type != CF_ARCHIVE_FILE && e->type != CF_ARCHIVE_DIR) ||
	    e->size > CF_ARCHIVE_SIZE_MAX || (e->type == CF_ARCHIVE_DIR && e->size != 0))
		return CF_E_INVAL;

	/*
	 * libarchive converts the path from the locale's charset to UTF-8 for the pax
	 * "path" record, and the charset is taken from the thread's locale when the
	 * archive object is set up. Pin it to UTF-8 for this thread so the bytes do not
	 * depend on the caller's locale. Without any UTF-8 locale, non-ASCII paths are
	 * written raw with "hdrcharset=BINARY" (still exact bytes, still deterministic).
	 */
	if (!is_ascii(e->path)) {
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (utf8 == (locale_t)0)
			utf8 = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
		if (utf8 != (locale_t)0)
			prev = uselocale(utf8);
	}

	ret = -ENOMEM;
	a = archive_write_new();
	ae = archive_entry_new();
	if (!a || !ae)
		goto fail;
	ret = CF_E_IO;
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK)
		goto fail_la;
	if (!is_ascii(e->path) && utf8 == (locale_t)0 &&
	    archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK)
		goto fail_la;
	if (archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open2(a, &c, NULL, capture_write, NULL, NULL) != ARCHIVE_OK)
		goto fail_la;

	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_filetype(ae, e->type == CF_ARCHIVE_DIR ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(ae, (mode_t)(e->mode & 0777));
	archive_entry_set_size(ae, (la_int64_t)e->size);
	archive_entry_set_mtime(ae, (time_t)e->mtime, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);

	c.on = 1;
	r = archive_write_header(a, ae);
	c.on = 0;
	if (r != ARCHIVE_OK)
		goto fail_la;

	if (c.overflow) {
		ret = CF_E_LIMIT;
		goto fail;
	}
	chk = *e;
	chk.header = buf;
	chk.header_len = c.len;
	if (c.len > CF_ARCHIVE_HEADER_MAX || cf_archive_header_check(&chk) != 0) {
		cf_log_err("libarchive wrote an unexpected tar header for \"%s\"",
		           cf_archive_printable(e->path, shown, sizeof(shown)));
		ret = CF_E_IO;
		goto fail;
	}
	*len = c.len;
	ret = 0;
	goto fail;

fail_la:
	cf_log_err("cannot make a tar header for \"%s\": %s",
	           cf_archive_printable(e->path, shown, sizeof(shown)),
	           a && archive_error_string(a) ? archive_error_string(a) : "libarchive failed");
fail:
	/*
	 * Freeing closes the archive: libarchive then tries to write the body it still
	 * expects (size bytes of zeros) and the end blocks; capture_write refuses the
	 * first such write, so this ends at once whatever the size. (archive_write_fail()
	 * would skip the close but leaks the output buffer in libarchive 3.6.)
	 */
	archive_write_free(a);
	archive_entry_free(ae);
	if (utf8 != (locale_t)0) {
		uselocale(prev);
		freelocale(utf8);
	}
	return ret;
}

/* ---------------------------------------------------------------------------------- */
/* Header check: parse the subset of ustar/pax that cf_archive_header produces         */

/* An octal ustar number field: optional leading spaces, digits, then only NUL/space. */
static int octal_field(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0, digits = 0;

	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	if (digits == 0)
		return -1;
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

/* A decimal number of @n bytes exactly (no sign, no spaces), at most @max. */
static int decimal(const uint8_t *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static const uint8_t ustar_magic[8] = {'u', 's', 't', 'a', 'r', 0, '0', '0'};

/* A number field as libarchive writes it: octal, or base-256 (first byte 0x80 or 0xff). */
static int number_field_ok(const uint8_t *f, size_t n)
{
	uint64_t v;

	return f[0] == 0x80 || f[0] == 0xff || octal_field(f, n, &v) == 0;
}

/* All bytes NUL: an unused number field. */
static int zero_field(const uint8_t *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i])
			return 0;
	return 1;
}

/*
 * A ustar block with a valid (unsigned) checksum, the POSIX magic "ustar\0" "00", and
 * well-formed mode, uid, gid, size and mtime fields (octal or base-256; devmajor and
 * devminor may also be unused): what libarchive writes, and what its reader insists on
 * before it recognises a tar header.
 */
static int ustar_block_ok(const uint8_t *b)
{
	static const struct {
		uint16_t off, len;
	} nums[] = {{100, 8}, {108, 8}, {116, 8}, {124, 12}, {136, 12}};
	uint64_t want, sum = 0, v;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (!number_field_ok(b + nums[i].off, nums[i].len))
			return 0;
	if ((octal_field(b + 329, 8, &v) != 0 && !zero_field(b + 329, 8)) ||
	    (octal_field(b + 337, 8, &v) != 0 && !zero_field(b + 337, 8)))
		return 0;
	if (octal_field(b + 148, 8, &want) != 0)
		return 0;
	for (size_t i = 0; i < CF_TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? (uint64_t)' ' : b[i];
	return sum == want && memcmp(b + 257, ustar_magic, sizeof(ustar_magic)) == 0;
}

struct pax_seen {
	const uint8_t *path;
	size_t path_len;
	int has_path, has_size;
	uint64_t size;
};

static int key_is(const uint8_t *k, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(k, word, n) == 0;
}

/* Parse the records "LEN KEY=VALUE\n" of a pax extended header's data. */
static int pax_records(const uint8_t *p, size_t n, struct pax_seen *px)
{
	static const char *const allowed[] = {"mtime", "atime", "ctime", "uid",
	                                      "gid",   "uname", "gname", "hdrcharset"};

	while (n > 0) {
		const uint8_t *key, *val, *eq;
		size_t sp = 0, klen, vlen;
		uint64_t reclen;
		int ok = 0;

		while (sp < n && sp < 8 && p[sp] >= '0' && p[sp] <= '9')
			sp++;
		if (sp == 0 || sp >= n || p[sp] != ' ' || decimal(p, sp, n, &reclen) != 0 ||
		    reclen < sp + 4 || p[reclen - 1] != '\n')
			return -1;
		key = p + sp + 1;
		eq = memchr(key, '=', (size_t)(p + reclen - 1 - key));
		if (!eq || eq == key)
			return -1;
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(p + reclen - 1 - val);
		if (key_is(key, klen, "path")) {
			if (px->has_path)
				return -1;
			px->has_path = 1;
			px->path = val;
			px->path_len = vlen;
		} else if (key_is(key, klen, "size")) {
			if (px->has_size || decimal(val, vlen, CF_ARCHIVE_SIZE_MAX, &px->size) != 0)
				return -1;
			px->has_size = 1;
		} else {
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				if (key_is(key, klen, allowed[i]))
					ok = 1;
			if (!ok)
				return -1; /* linkpath, GNU.sparse.*, SCHILY.*, ...: not ours */
		}
		p += reclen;
		n -= (size_t)reclen;
	}
	return 0;
}

static int path_matches(const struct cf_archive_entry *e, const uint8_t *p, size_t n)
{
	size_t plen = strlen(e->path);

	if (n == plen + 1 && e->type == CF_ARCHIVE_DIR && p[plen] == '/')
		n = plen;
	return n == plen && memcmp(p, e->path, plen) == 0;
}

int cf_archive_header_check(const struct cf_archive_entry *e)
{
	struct pax_seen px = {0};
	const uint8_t *h, *u;
	uint64_t size;
	size_t hl;

	if (!e || !e->path)
		return CF_E_INVAL;
	h = e->header;
	hl = e->header_len;
	if (!h || hl < CF_TAR_BLOCK || hl % CF_TAR_BLOCK || hl > CF_ARCHIVE_HEADER_MAX)
		return CF_E_CORRUPT;
	u = h + hl - CF_TAR_BLOCK;

	if (hl > CF_TAR_BLOCK) {
		uint64_t dlen;

		if (!ustar_block_ok(h) || h[156] != 'x' || octal_field(h + 124, 12, &dlen) != 0 ||
		    dlen == 0 || dlen > hl - 2 * CF_TAR_BLOCK ||
		    (dlen + CF_TAR_BLOCK - 1) / CF_TAR_BLOCK * CF_TAR_BLOCK !=
		        hl - 2 * CF_TAR_BLOCK)
			return CF_E_CORRUPT;
		for (size_t i = CF_TAR_BLOCK + (size_t)dlen; i < hl - CF_TAR_BLOCK; i++)
			if (h[i] != 0)
				return CF_E_CORRUPT;
		if (pax_records(h + CF_TAR_BLOCK, (size_t)dlen, &px) != 0)
			return CF_E_CORRUPT;
	}

	if (!ustar_block_ok(u) || u[157] != '\0')
		return CF_E_CORRUPT;
	if (e->type == CF_ARCHIVE_FILE ? (u[156] != '0' && u[156] != '\0')
	                               : (e->type != CF_ARCHIVE_DIR || u[156] != '5'))
		return CF_E_CORRUPT;

	if (px.has_path) {
		if (!path_matches(e, px.path, px.path_len))
			return CF_E_CORRUPT;
	} else {
		uint8_t full[256];
		size_t nl = strnlen((const char *)u, 100), pl = strnlen((const char *)u + 345, 155);
		size_t fl = 0;

		if (pl) {
			memcpy(full, u + 345, pl);
			full[pl] = '/';
			fl = pl + 1;
		}
		memcpy(full + fl, u, nl);
		fl += nl;
		if (!path_matches(e, full, fl))
			return CF_E_CORRUPT;
	}

	if (px.has_size)
		size = px.size;
	else if (octal_field(u + 124, 12, &size) != 0)
		return CF_E_CORRUPT;
	if (size != e->size || (e->type == CF_ARCHIVE_DIR && size != 0))
		return CF_E_CORRUPT;
	return 0;
}
