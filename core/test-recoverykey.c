/* SPDX-License-Identifier: ISC */
/*
 * Recovery keys: known answers, round trips, forgiving input, and exhaustive error
 * detection (every single substitution, every adjacent transposition, every swap of two
 * groups) over a sample of keys.
 *
 * Hand check of the first "format" vector (all-zero key): every data symbol is 0, so
 * group g's check symbol c must satisfy alpha^4 * c = alpha^g, i.e. c = alpha^(27+g) in
 * GF(32) mod x^5+x^2+1: alpha^27 = 01011 = 11 'B', alpha^28 = 10110 = 22 'P',
 * alpha^29 = 01001 = 9 '9', alpha^30 = 10010 = 18 'J', alpha^31 = 1 '1', alpha^32 = 2 '2',
 * alpha^33 = 4 '4'  ->  "0000B-0000P-00009-0000J-00001-00002-00004".
 * The other vectors come from an independent Python model, run once and recorded.
 */
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "core/recoverykey.h"
#include "core/secbuf.h"
#include "core/testing.h"
#include "tests/lib/check.h"

#define SYMS   35
#define SAMPLE 256

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* A sentinel for "the out parameter was not touched". */
static struct cf_secbuf *const untouched = (struct cf_secbuf *)&check_count;

/* Parse @text expecting @want_rc and @want_mask; on success compare with @want_bytes. */
static void expect_parse(const char *text, int want_rc, unsigned want_mask,
                         const uint8_t *want_bytes)
{
	struct cf_secbuf *b = untouched;
	unsigned mask = 0xdead;
	int rc;

	rc = cf_recoverykey_parse(&b, text, &mask);
	check_count++;
	if (rc != want_rc || mask != want_mask) {
		check_failures++;
		fprintf(stderr, "parse(\"%s\") = %d mask 0x%x, expected %d mask 0x%x\n", text, rc,
		        mask, want_rc, want_mask);
	}
	if (rc == 0) {
		CHECK(b != untouched && b != NULL);
		if (b != untouched && b) {
			CHECK(cf_secbuf_len(b) == CF_RECOVERY_KEY_BYTES);
			if (want_bytes)
				CHECK(memcmp(cf_secbuf_data(b), want_bytes,
				             CF_RECOVERY_KEY_BYTES) == 0);
			cf_secbuf_free(b);
		}
	} else {
		CHECK(b == untouched);
	}
}

/* The 35 symbol characters of a well-formed text, without dashes. */
static void compact(char out[SYMS + 1], const char *text)
{
	size_t n = 0;

	for (const char *p = text; *p; p++)
		if (*p != '-' && n < SYMS)
			out[n++] = *p;
	out[n] = '\0';
}

/* The dashed text form of 35 compact characters. */
static void dashed(char out[CF_RECOVERY_KEY_TEXT_LEN], const char c[SYMS + 1])
{
	char *o = out;

	for (int i = 0; i < SYMS; i++) {
		if (i && i % 5 == 0)
			*o++ = '-';
		*o++ = c[i];
	}
	*o = '\0';
}

static unsigned group_bit(int pos)
{
	return 1u << (pos / 5);
}

static void test_vectors(void)
{
	json_t *root = check_vectors_load("recoverykey.json");
	json_t *arr, *v;
	size_t i;

	arr = json_object_get(root, "format");
	REQUIRE(json_is_array(arr) && json_array_size(arr) >= 5);
	json_array_foreach(arr, i, v)
	{
		size_t len;
		uint8_t *bin = check_hex(json_string_value(json_object_get(v, "bytes")), &len);
		const char *want = json_string_value(json_object_get(v, "text"));
		char text[CF_RECOVERY_KEY_TEXT_LEN];

		REQUIRE(len == CF_RECOVERY_KEY_BYTES && want);
		memset(text, 'x', sizeof(text));
		CHECK_RC(cf_recoverykey_format(text, bin), 0);
		CHECK(strcmp(text, want) == 0);
		if (strcmp(text, want) != 0)
			fprintf(stderr, "  vector %zu: got %.41s want %s\n", i, text, want);
		expect_parse(want, 0, 0, bin);
		free(bin);
	}

	arr = json_object_get(root, "bad_padding");
	REQUIRE(json_is_array(arr) && json_array_size(arr) >= 1);
	json_array_foreach(arr, i, v)
	{
		size_t len;
		uint8_t *bin = check_hex(json_string_value(v), &len);
		char text[CF_RECOVERY_KEY_TEXT_LEN];

		REQUIRE(len == CF_RECOVERY_KEY_BYTES);
		CHECK_RC(cf_recoverykey_format(text, bin), CF_E_INVAL);
		free(bin);
	}
	json_decref(root);
}

/*
 * cf_recoverykey_generate under the deterministic generator. The seed is set before
 * cf_core_init (as testing.h requires) and again just before generating, which restarts
 * the keystream, so the vector does not depend on what sodium_init draws for itself.
 */
static void test_generate_kat(const uint8_t *seed)
{
	json_t *root = check_vectors_load("recoverykey.json");
	json_t *keys = json_object_get(json_object_get(root, "generate"), "keys");
	json_t *v;
	size_t i;

	REQUIRE(json_is_array(keys) && json_array_size(keys) >= 2);
	cf_testing_rng_seed(seed);
	json_array_foreach(keys, i, v)
	{
		size_t len;
		uint8_t *bin = check_hex(json_string_value(json_object_get(v, "bytes")), &len);
		const char *want = json_string_value(json_object_get(v, "text"));
		struct cf_secbuf *b = untouched, *t = untouched;

		REQUIRE(len == CF_RECOVERY_KEY_BYTES && want);
		CHECK_RC(cf_recoverykey_generate(&b, &t), 0);
		REQUIRE(b != untouched && t != untouched);
		CHECK(cf_secbuf_len(b) == CF_RECOVERY_KEY_BYTES);
		CHECK(cf_secbuf_len(t) == CF_RECOVERY_KEY_TEXT_LEN);
		CHECK(memcmp(cf_secbuf_data(b), bin, len) == 0);
		CHECK(strcmp((const char *)cf_secbuf_data(t), want) == 0);
		if (strcmp((const char *)cf_secbuf_data(t), want) != 0)
			fprintf(stderr, "  generate %zu: got %s want %s\n", i,
			        (const char *)cf_secbuf_data(t), want);
		cf_secbuf_free(b);
		cf_secbuf_free(t);
		free(bin);
	}
	json_decref(root);
}

/* A fresh key from the (seeded) generator: text form in @text, binary in @bin. */
static void new_key(char text[CF_RECOVERY_KEY_TEXT_LEN], uint8_t bin[CF_RECOVERY_KEY_BYTES])
{
	struct cf_secbuf *b, *t;

	REQUIRE(cf_recoverykey_generate(&b, &t) == 0);
	memcpy(bin, cf_secbuf_data(b), CF_RECOVERY_KEY_BYTES);
	memcpy(text, cf_secbuf_data(t), CF_RECOVERY_KEY_TEXT_LEN);
	cf_secbuf_free(b);
	cf_secbuf_free(t);
}

static void test_round_trip(void)
{
	for (int k = 0; k < 2000; k++) {
		char text[CF_RECOVERY_KEY_TEXT_LEN], again[CF_RECOVERY_KEY_TEXT_LEN];
		uint8_t bin[CF_RECOVERY_KEY_BYTES];
		int shape = 1;

		new_key(text, bin);
		shape &= strlen(text) == 41;
		for (int i = 0; i < 41; i++) {
			if (i % 6 == 5)
				shape &= text[i] == '-';
			else
				shape &= text[i] && strchr(alphabet, text[i]) != NULL;
		}
		CHECK(shape);
		CHECK((bin[CF_RECOVERY_KEY_BYTES - 1] & 0x0F) == 0);
		CHECK_RC(cf_recoverykey_format(again, bin), 0);
		CHECK(strcmp(again, text) == 0);
		expect_parse(text, 0, 0, bin);
	}
}

static void test_forgiving(void)
{
	/* "04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57" and "0000B-...": see the vectors */
	static const uint8_t k1[CF_RECOVERY_KEY_BYTES] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
	                                                  0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98,
	                                                  0x76, 0x54, 0x32, 0x10, 0xaa, 0x50};
	static const uint8_t k0[CF_RECOVERY_KEY_BYTES] = {0};
	static const struct {
		const char *text;
		const uint8_t *bin;
	} ok[] = {
	    {"04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57", k1},
	    {"04hmy-asw9p-nf6yt-zzpw2-qac7e-cn1jz-22n57", k1},
	    {"O4HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CNIJZ-22N57", k1},
	    {"o4HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CNlJZ-22N57", k1},
	    {"04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CNLJZ-22N57", k1},
	    {"04HMYASW9PNF6YTZZPW2QAC7ECN1JZ22N57", k1},
	    {"04HMY ASW9P NF6YT ZZPW2 QAC7E CN1JZ 22N57", k1},
	    {"  04 HMY-ASW9P--NF6-YT ZZ PW2-QAC7E CN1JZ-22N57\n", k1},
	    {"\t04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57\r\n", k1},
	    {"-04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57-", k1},
	    /* en dash, em dash, no-break space, minus sign (UTF-8) */
	    {"04HMY\xe2\x80\x93"
	     "ASW9P\xe2\x80\x94NF6YT\xc2\xa0ZZPW2\xe2\x88\x92QAC7E-CN1JZ-22N57",
	     k1},
	    {"oooob-ooooP-oooo9-ooooj-ooooi-OOOO2-oooo4", k0},
	    {"0000b0000p000090000j0000l0000200004", k0},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		expect_parse(ok[i].text, 0, 0, ok[i].bin);

	/* bad_groups may be NULL */
	{
		struct cf_secbuf *b = NULL;

		CHECK_RC(cf_recoverykey_parse(&b, ok[0].text, NULL), 0);
		cf_secbuf_free(b);
		b = untouched;
		CHECK_RC(
		    cf_recoverykey_parse(&b, "04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N58", NULL),
		    CF_E_CHECKSUM);
		CHECK(b == untouched);
	}
}

/*
 * For each of SAMPLE keys: every single substitution, every adjacent transposition of
 * differing characters, every swap of two differing groups, every invalid character and
 * every one-character deletion and insertion.
 */
static void test_exhaustive(void)
{
	static const char *const invalid[] = {"U", "u",        "*",        "!",           "_",
	                                      ".", "\xc3\xa9", "\xd0\x90", "\xe2\x82\xac"};
	unsigned subst = 0, transp = 0, swaps = 0;

	for (int k = 0; k < SAMPLE; k++) {
		char text[CF_RECOVERY_KEY_TEXT_LEN], c[SYMS + 1], m[SYMS + 1];
		char t[CF_RECOVERY_KEY_TEXT_LEN], buf[64];
		uint8_t bin[CF_RECOVERY_KEY_BYTES];

		new_key(text, bin);
		compact(c, text);
		REQUIRE(strlen(c) == SYMS);

		/* single substitutions, in the dashed form and the compact form */
		for (int p = 0; p < SYMS; p++) {
			for (int s = 0; s < 32; s++) {
				if (alphabet[s] == c[p])
					continue;
				memcpy(m, c, sizeof(m));
				m[p] = alphabet[s];
				dashed(t, m);
				expect_parse(t, CF_E_CHECKSUM, group_bit(p), NULL);
				if (s % 8 == 0)
					expect_parse(m, CF_E_CHECKSUM, group_bit(p), NULL);
				subst++;
			}
		}

		/* adjacent transpositions, ignoring dashes: within and across groups */
		for (int p = 0; p + 1 < SYMS; p++) {
			if (c[p] == c[p + 1])
				continue;
			memcpy(m, c, sizeof(m));
			m[p] = c[p + 1];
			m[p + 1] = c[p];
			dashed(t, m);
			expect_parse(t, CF_E_CHECKSUM, group_bit(p) | group_bit(p + 1), NULL);
			transp++;
		}

		/* two whole groups exchanged (two groups of a valid key always differ: their
		 * weighted sums are different group tags) */
		for (int a = 0; a < 7; a++) {
			for (int b = a + 1; b < 7; b++) {
				CHECK(memcmp(c + 5 * a, c + 5 * b, 5) != 0);
				memcpy(m, c, sizeof(m));
				memcpy(m + 5 * a, c + 5 * b, 5);
				memcpy(m + 5 * b, c + 5 * a, 5);
				dashed(t, m);
				expect_parse(t, CF_E_CHECKSUM, (1u << a) | (1u << b), NULL);
				swaps++;
			}
		}

		/* a character outside the alphabet names its group, in place of any symbol */
		for (int p = 0; p < SYMS; p++) {
			const char *bad =
			    invalid[(size_t)(k + p) % (sizeof(invalid) / sizeof(invalid[0]))];

			snprintf(buf, sizeof(buf), "%.*s%s%s", p, c, bad, c + p + 1);
			expect_parse(buf, CF_E_FORMAT, group_bit(p), NULL);
		}

		/* every deletion and every insertion of one symbol: wrong length, mask 0 */
		for (int p = 0; p < SYMS; p++) {
			snprintf(buf, sizeof(buf), "%.*s%s", p, c, c + p + 1);
			expect_parse(buf, CF_E_FORMAT, 0, NULL);
			snprintf(buf, sizeof(buf), "%.*s%c%s", p, c, alphabet[(k + p) % 32], c + p);
			expect_parse(buf, CF_E_FORMAT, 0, NULL);
		}
	}
	/* the loops above really ran */
	CHECK(subst == SAMPLE * SYMS * 31u);
	CHECK(transp > SAMPLE * 30u);
	CHECK(swaps == SAMPLE * 21u);
}

static void test_format_errors(void)
{
	const char *good = "04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57";
	char buf[128];

	/* wrong total number of symbols */
	expect_parse("", CF_E_FORMAT, 0, NULL);
	expect_parse("-----", CF_E_FORMAT, 0, NULL);
	expect_parse("  \n", CF_E_FORMAT, 0, NULL);
	expect_parse("04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N5", CF_E_FORMAT, 0, NULL);
	expect_parse("04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N577", CF_E_FORMAT, 0, NULL);
	expect_parse("04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ", CF_E_FORMAT, 0, NULL);
	snprintf(buf, sizeof(buf), "%s-%s", good, good);
	expect_parse(buf, CF_E_FORMAT, 0, NULL);
	/* a stray character on top of 35 symbols is a wrong length, not a bad group */
	expect_parse("04HMY*ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57", CF_E_FORMAT, 0, NULL);
	/* a wrong length wins over a stray character */
	expect_parse("04HMU-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N5", CF_E_FORMAT, 0, NULL);

	/* stray characters name their groups; other groups whose check fails are named too */
	expect_parse("04HMU-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57", CF_E_FORMAT, 1u << 0, NULL);
	expect_parse("04HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N5U", CF_E_FORMAT, 1u << 6, NULL);
	expect_parse("04HMY-ASW9P-NF*YT-ZZPW2-QAC7E-CN1#Z-22N57", CF_E_FORMAT,
	             (1u << 2) | (1u << 5), NULL);
	expect_parse("04HMY-ASW9P-NF*YT-ZZPW3-QAC7E-CN1JZ-22N57", CF_E_FORMAT,
	             (1u << 2) | (1u << 3), NULL);
	/* a NUL-free non-ASCII look-alike (Cyrillic A) counts as one character */
	expect_parse("04HMY-\xd0\x90SW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N57", CF_E_FORMAT, 1u << 1,
	             NULL);

	/* several typos */
	expect_parse("14HMY-ASW9P-NF6YT-ZZPW2-QAC7E-CN1JZ-22N58", CF_E_CHECKSUM,
	             (1u << 0) | (1u << 6), NULL);
	expect_parse("14HMY-BSW9P-NF6YT-ZZPW2-RAC7E-CN1JZ-22N58", CF_E_CHECKSUM,
	             (1u << 0) | (1u << 1) | (1u << 4) | (1u << 6), NULL);

	/* the format refuses nonzero padding and accepts zero padding */
	{
		uint8_t bin[CF_RECOVERY_KEY_BYTES] = {0};
		char text[CF_RECOVERY_KEY_TEXT_LEN];

		for (int bit = 0; bit < 4; bit++) {
			bin[CF_RECOVERY_KEY_BYTES - 1] = (uint8_t)(1u << bit);
			CHECK_RC(cf_recoverykey_format(text, bin), CF_E_INVAL);
		}
		bin[CF_RECOVERY_KEY_BYTES - 1] = 0xF0;
		CHECK_RC(cf_recoverykey_format(text, bin), 0);
	}
}

static void expect_describe(unsigned mask, const char *want)
{
	char buf[128];

	memset(buf, 'x', sizeof(buf));
	cf_recoverykey_describe(buf, sizeof(buf), mask);
	CHECK(strcmp(buf, want) == 0);
	if (strcmp(buf, want) != 0)
		fprintf(stderr, "  describe(0x%x) = \"%s\", want \"%s\"\n", mask, buf, want);
}

static void test_describe(void)
{
	char small[12];

	expect_describe(0, "the key has the wrong number of characters (expected 35 letters and "
	                   "digits)");
	expect_describe(1u << 0, "group 1 has a typo");
	expect_describe(1u << 2, "group 3 has a typo");
	expect_describe(1u << 6, "group 7 has a typo");
	expect_describe((1u << 1) | (1u << 2), "groups 2 and 3 have typos");
	expect_describe((1u << 0) | (1u << 3) | (1u << 5), "groups 1, 4 and 6 have typos");
	expect_describe(0x7F, "groups 1, 2, 3, 4, 5, 6 and 7 have typos");

	/* truncation keeps a terminated prefix and writes nothing past @len */
	memset(small, 'x', sizeof(small));
	cf_recoverykey_describe(small, 8, 0x7F);
	CHECK(strcmp(small, "groups ") == 0);
	CHECK(small[8] == 'x');
	memset(small, 'x', sizeof(small));
	cf_recoverykey_describe(small, 1, 1);
	CHECK(small[0] == '\0' && small[1] == 'x');
	memset(small, 'x', sizeof(small));
	cf_recoverykey_describe(small, 0, 1);
	CHECK(small[0] == 'x');

	/* the parse mask feeds describe */
	{
		struct cf_secbuf *b = NULL;
		unsigned mask = 0;
		char buf[128];

		CHECK_RC(
		    cf_recoverykey_parse(&b, "04HMY-ASW9P-NF6YT-ZZPW3-QAC7E-CN1JZ-22N57", &mask),
		    CF_E_CHECKSUM);
		cf_recoverykey_describe(buf, sizeof(buf), mask);
		CHECK(strcmp(buf, "group 4 has a typo") == 0);
	}
}

int main(void)
{
	uint8_t seed[32], sample_seed[32];

	for (int i = 0; i < 32; i++) {
		seed[i] = (uint8_t)i;
		sample_seed[i] = (uint8_t)(0xA5 ^ i);
	}
	cf_testing_rng_seed(seed);
	REQUIRE(cf_core_init() == 0);

	test_generate_kat(seed);
	test_vectors();

	/* a reproducible sample for the exhaustive checks */
	cf_testing_rng_seed(sample_seed);
	test_round_trip();
	test_forgiving();
	test_exhaustive();
	test_format_errors();
	test_describe();
	return check_finish();
}
