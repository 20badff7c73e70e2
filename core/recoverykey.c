/* SPDX-License-Identifier: ISC */
/*
 * Recovery keys (see recoverykey.h and docs/formats.md, "Recovery key").
 *
 * Summary of the format:
 *   - 28 data symbols of 5 bits (140 random bits), 7 groups of 4, each group followed by
 *     one check symbol; symbols are written in Crockford's base-32 alphabet
 *     "0123456789ABCDEFGHJKMNPQRSTVWXYZ" and groups are joined by '-'.
 *   - Symbols are elements of GF(32) = GF(2)[x] / (x^5 + x^2 + 1), alpha = x (0x02).
 *   - Group g (0..6) with symbols v_0..v_4 (v_4 the check symbol) is valid when
 *         alpha^0 v_0 + alpha^1 v_1 + alpha^2 v_2 + alpha^3 v_3 + alpha^4 v_4 = alpha^g
 *     The right-hand side (the group tag) differs per group, so a group typed in
 *     another group's place fails; the distinct nonzero weights catch any single
 *     substitution and any transposition inside a group.
 *
 * Every symbol is secret, so symbol <-> character mapping and the field arithmetic use
 * no secret-dependent branches or table indices: comparisons become masks.
 */
#include "core/recoverykey.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "core/secbuf.h"

#define RK_SYMBOLS        (CF_RECOVERY_KEY_GROUPS * CF_RECOVERY_KEY_GROUP_CHARS) /* 35 */
#define RK_DATA_PER_GROUP (CF_RECOVERY_KEY_GROUP_CHARS - 1)                      /* 4 */
#define RK_DATA_SYMBOLS   (CF_RECOVERY_KEY_GROUPS * RK_DATA_PER_GROUP)           /* 28 */
#define RK_POLY           0x25u /* x^5 + x^2 + 1, primitive */
#define RK_ALPHA_INV4     0x0Bu /* alpha^-4 = alpha^27 = x^3 + x + 1 */

_Static_assert(RK_DATA_SYMBOLS * 5 == CF_RECOVERY_KEY_BITS, "140 bits of data");
_Static_assert((CF_RECOVERY_KEY_BITS + 7) / 8 == CF_RECOVERY_KEY_BYTES, "18 bytes");
_Static_assert(CF_RECOVERY_KEY_TEXT_LEN == RK_SYMBOLS + CF_RECOVERY_KEY_GROUPS, "41 + NUL");
_Static_assert(CF_RECOVERY_KEY_GROUPS <= 8 * sizeof(unsigned), "group mask fits");

/* ---- constant-time helpers (operands are small: < 2^31) ---- */

/* 0xFFFFFFFF when lo <= c <= hi, else 0. */
static uint32_t ct_in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	uint32_t out = ((c - lo) | (hi - c)) >> 31; /* 1 when outside */

	return (out ^ 1u) * 0xFFFFFFFFu;
}

/* 0xFFFFFFFF when a == b, else 0. */
static uint32_t ct_eq(uint32_t a, uint32_t b)
{
	return ct_in_range(a, b, b);
}

/* 1 when v >= k (k >= 1), else 0. */
static uint32_t ct_ge(uint32_t v, uint32_t k)
{
	return ((k - 1u) - v) >> 31;
}

/*
 * gf_mul - the product of @a and @b in GF(32) modulo x^5 + x^2 + 1: shift-and-add over
 * the 5 bits of @b, reducing @a by the polynomial after every doubling, with masks in
 * place of branches.
 */
static uint32_t gf_mul(uint32_t a, uint32_t b)
{
	uint32_t r = 0;

	a &= 0x1Fu;
	for (unsigned i = 0; i < 5; i++) {
		r ^= a & (0u - ((b >> i) & 1u));
		a = (a << 1) ^ (RK_POLY & (0u - ((a >> 4) & 1u)));
		a &= 0x1Fu;
	}
	return r;
}

/* The group tag alpha^g, g in 0..6 (public). */
static uint32_t group_tag(unsigned g)
{
	uint32_t t = 1;

	for (unsigned i = 0; i < g; i++)
		t = gf_mul(t, 2u);
	return t;
}

/* sum_{j<n} alpha^j v[j] over GF(32). */
static uint32_t weighted_sum(const uint8_t *v, unsigned n)
{
	uint32_t s = 0, w = 1;

	for (unsigned j = 0; j < n; j++) {
		s ^= gf_mul(w, v[j]);
		w = gf_mul(w, 2u);
	}
	return s;
}

/* The check symbol of group @g whose 4 data symbols are @data. */
static uint8_t check_symbol(unsigned g, const uint8_t data[RK_DATA_PER_GROUP])
{
	uint32_t s = weighted_sum(data, RK_DATA_PER_GROUP) ^ group_tag(g);

	return (uint8_t)gf_mul(RK_ALPHA_INV4, s);
}

/* 1 when the 5 symbols of group @g satisfy the check equation. */
static int group_ok(unsigned g, const uint8_t v[CF_RECOVERY_KEY_GROUP_CHARS])
{
	return (weighted_sum(v, CF_RECOVERY_KEY_GROUP_CHARS) ^ group_tag(g)) == 0;
}

/* The alphabet character of symbol @v (0..31), without indexing a table. */
static char sym_to_char(uint32_t v)
{
	/* '0'..'9', then 'A'.. skipping I, L, O and U: one extra step after each gap. */
	uint32_t c =
	    '0' + v + 7u * ct_ge(v, 10) + ct_ge(v, 18) + ct_ge(v, 20) + ct_ge(v, 22) + ct_ge(v, 27);

	return (char)c;
}

/*
 * char_to_sym - the symbol of the ASCII character @c, forgiving case and the look-alikes
 * O (0), I and L (1). *@v receives the symbol (0 when invalid). Returns 1 when @c is in
 * the alphabet, 0 otherwise. Branch-free in @c.
 */
static int char_to_sym(uint32_t c, uint32_t *v)
{
	uint32_t up, m, val = 0, ok = 0;

	up = c - (0x20u & ct_in_range(c, 'a', 'z'));

	m = ct_in_range(up, '0', '9');
	val |= m & (up - '0');
	ok |= m;
	m = ct_in_range(up, 'A', 'H');
	val |= m & (up - 'A' + 10u);
	ok |= m;
	m = ct_eq(up, 'I') | ct_eq(up, 'L');
	val |= m & 1u;
	ok |= m;
	m = ct_eq(up, 'O');
	ok |= m; /* value 0 */
	m = ct_in_range(up, 'J', 'K');
	val |= m & (up - 'J' + 18u);
	ok |= m;
	m = ct_in_range(up, 'M', 'N');
	val |= m & (up - 'M' + 20u);
	ok |= m;
	m = ct_in_range(up, 'P', 'T');
	val |= m & (up - 'P' + 22u);
	ok |= m;
	m = ct_in_range(up, 'V', 'Z');
	val |= m & (up - 'V' + 27u);
	ok |= m;

	*v = val & 0x1Fu;
	return (int)(ok & 1u);
}

/*
 * separator_len - the length of the separator starting at @p, or 0 when @p does not
 * start one. Separators: ASCII whitespace, '-', and the UTF-8 encodings of U+00A0 (no-break
 * space), U+2010..U+2015 (hyphens and dashes) and U+2212 (minus sign), which text editors
 * and password managers substitute for space and '-'.
 */
static size_t separator_len(const unsigned char *p)
{
	if (p[0] == '-' || p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
		return 1;
	if (p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (p[0] == 0xE2 && p[1] == 0x80 && p[2] >= 0x90 && p[2] <= 0x95)
		return 3;
	if (p[0] == 0xE2 && p[1] == 0x88 && p[2] == 0x92)
		return 3;
	return 0;
}

/* Unpack the 28 data symbols from the 18-byte binary form (MSB first). */
static void unpack(uint8_t data[RK_DATA_SYMBOLS], const uint8_t bytes[CF_RECOVERY_KEY_BYTES])
{
	uint32_t acc = 0;
	unsigned bits = 0, n = 0;

	for (unsigned i = 0; i < CF_RECOVERY_KEY_BYTES && n < RK_DATA_SYMBOLS; i++) {
		acc = (acc << 8) | bytes[i];
		bits += 8;
		while (bits >= 5 && n < RK_DATA_SYMBOLS) {
			bits -= 5;
			data[n++] = (uint8_t)((acc >> bits) & 0x1Fu);
		}
		acc &= (1u << bits) - 1u;
	}
}

/* Pack the 28 data symbols into the 18-byte binary form, the 4 trailing bits zero. */
static void pack(uint8_t bytes[CF_RECOVERY_KEY_BYTES], const uint8_t data[RK_DATA_SYMBOLS])
{
	uint32_t acc = 0;
	unsigned bits = 0, n = 0;

	for (unsigned i = 0; i < RK_DATA_SYMBOLS; i++) {
		acc = (acc << 5) | data[i];
		bits += 5;
		while (bits >= 8) {
			bits -= 8;
			bytes[n++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1u;
	}
	/* 140 = 17 * 8 + 4: the last 4 data bits, then 4 zero bits. */
	bytes[n] = (uint8_t)(acc << (8 - bits));
}

int cf_recoverykey_format(char text[CF_RECOVERY_KEY_TEXT_LEN],
                          const uint8_t bytes[CF_RECOVERY_KEY_BYTES])
{
	uint8_t data[RK_DATA_SYMBOLS];
	char *o = text;
	int rc;

	if ((bytes[CF_RECOVERY_KEY_BYTES - 1] & 0x0Fu) != 0) {
		rc = CF_E_INVAL;
		goto fail;
	}
	unpack(data, bytes);
	for (unsigned g = 0; g < CF_RECOVERY_KEY_GROUPS; g++) {
		const uint8_t *d = data + g * RK_DATA_PER_GROUP;

		if (g > 0)
			*o++ = '-';
		for (unsigned j = 0; j < RK_DATA_PER_GROUP; j++)
			*o++ = sym_to_char(d[j]);
		*o++ = sym_to_char(check_symbol(g, d));
	}
	*o = '\0';
	rc = 0;
fail:
	cf_core_wipe(data, sizeof(data));
	return rc;
}

int cf_recoverykey_generate(struct cf_secbuf **bytes, struct cf_secbuf **text)
{
	struct cf_secbuf *b = NULL, *t = NULL;
	uint8_t *raw;
	int rc;

	rc = cf_secbuf_new(&b, CF_RECOVERY_KEY_BYTES);
	if (rc)
		goto fail;
	rc = cf_secbuf_new(&t, CF_RECOVERY_KEY_TEXT_LEN);
	if (rc)
		goto fail;
	raw = cf_secbuf_data(b);
	cf_core_random(raw, CF_RECOVERY_KEY_BYTES);
	raw[CF_RECOVERY_KEY_BYTES - 1] &= 0xF0u; /* 140 bits: clear the 4 padding bits */
	rc = cf_recoverykey_format((char *)cf_secbuf_data(t), raw);
	if (rc)
		goto fail;
	*bytes = b;
	*text = t;
	return 0;
fail:
	cf_secbuf_free(b);
	cf_secbuf_free(t);
	return rc;
}

int cf_recoverykey_parse(struct cf_secbuf **bytes, const char *text, unsigned *bad_groups)
{
	uint8_t sym[RK_SYMBOLS];
	uint8_t data[RK_DATA_SYMBOLS];
	const unsigned char *p = (const unsigned char *)text;
	struct cf_secbuf *out = NULL;
	unsigned mask = 0, invalid = 0;
	size_t n = 0;
	uint32_t v;
	int rc;

	memset(sym, 0, sizeof(sym));
	memset(data, 0, sizeof(data));
	if (bad_groups)
		*bad_groups = 0;
	if (!bytes || !text) {
		rc = CF_E_INVAL;
		goto fail;
	}

	/* Every non-separator character takes one symbol slot, valid or not; a non-ASCII
	 * character (a UTF-8 lead byte and its continuation bytes) takes one slot too. */
	while (*p) {
		size_t sep = separator_len(p);
		int ok;

		if (sep) {
			p += sep;
			continue;
		}
		ok = char_to_sym(*p, &v);
		if (*p++ >= 0x80) {
			ok = 0;
			while ((*p & 0xC0u) == 0x80u)
				p++;
		}
		if (n < RK_SYMBOLS) {
			sym[n] = (uint8_t)v;
			if (!ok)
				invalid |= 1u << (n / CF_RECOVERY_KEY_GROUP_CHARS);
		}
		n++;
	}
	if (n != RK_SYMBOLS) {
		rc = CF_E_FORMAT;
		goto fail;
	}

	for (unsigned g = 0; g < CF_RECOVERY_KEY_GROUPS; g++) {
		const uint8_t *grp = sym + g * CF_RECOVERY_KEY_GROUP_CHARS;

		if (!(invalid & (1u << g)) && !group_ok(g, grp))
			mask |= 1u << g;
		memcpy(data + g * RK_DATA_PER_GROUP, grp, RK_DATA_PER_GROUP);
	}
	if (invalid) {
		/* Name every group to fix: those with a stray character and those whose
		 * check fails. */
		mask |= invalid;
		rc = CF_E_FORMAT;
		goto fail;
	}
	if (mask) {
		rc = CF_E_CHECKSUM;
		goto fail;
	}

	rc = cf_secbuf_new(&out, CF_RECOVERY_KEY_BYTES);
	if (rc)
		goto fail;
	pack(cf_secbuf_data(out), data);
	*bytes = out;
	out = NULL;
	rc = 0;
fail:
	if (bad_groups)
		*bad_groups = mask;
	cf_secbuf_free(out);
	cf_core_wipe(sym, sizeof(sym));
	cf_core_wipe(data, sizeof(data));
	return rc;
}

void cf_recoverykey_describe(char *buf, size_t len, unsigned bad_groups)
{
	unsigned groups[CF_RECOVERY_KEY_GROUPS];
	unsigned count = 0;
	size_t off;

	if (!buf || len == 0)
		return;
	for (unsigned g = 0; g < CF_RECOVERY_KEY_GROUPS; g++)
		if (bad_groups & (1u << g))
			groups[count++] = g + 1;

	if (count == 0) {
		snprintf(buf, len,
		         "the key has the wrong number of characters (expected %d letters and "
		         "digits)",
		         RK_SYMBOLS);
		return;
	}
	if (count == 1) {
		snprintf(buf, len, "group %u has a typo", groups[0]);
		return;
	}
	off = (size_t)snprintf(buf, len, "groups %u", groups[0]);
	for (unsigned i = 1; i < count && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%u",
		                        i + 1 == count ? " and " : ", ", groups[i]);
	if (off < len)
		snprintf(buf + off, len - off, " have typos");
}
