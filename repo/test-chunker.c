/* SPDX-License-Identifier: ISC */
/*
 * Content-defined chunker tests.
 *
 *   test-chunker                   run the tests (known answers from
 *                                  tests/vectors/chunker.json)
 *   test-chunker --print-vectors   print the vector file for the cases below, computed by
 *                                  this build (used once; the test never regenerates)
 *
 * Test data comes from xorshift64 (Marsaglia's 13/7/17 triple): state s, nonzero; each
 * step s ^= s << 13; s ^= s >> 7; s ^= s << 17; and emits the new s as 8 little-endian
 * bytes. A buffer of n bytes is the first n bytes of that stream from the seed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/error.h"
#include "repo/chunker.h"
#include "tests/lib/check.h"

#define KiB (1u << 10)
#define MiB (1u << 20)

static const struct cf_chunker_params small = {2 * KiB, 8 * KiB, 64 * KiB};

/* ---- helpers ---------------------------------------------------------------------- */

static void xorshift_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (size_t j = 0; j < 8 && i + j < len; j++)
			buf[i + j] = (uint8_t)(s >> (8 * j));
	}
}

static uint8_t *xmalloc(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	REQUIRE(p != NULL);
	return p;
}

static uint8_t *random_buf(size_t len, uint64_t seed)
{
	uint8_t *b = xmalloc(len);

	xorshift_fill(b, len, seed);
	return b;
}

static void key_fill(uint8_t key[CF_CHUNKER_KEY_BYTES], uint8_t start, int step)
{
	for (unsigned i = 0; i < CF_CHUNKER_KEY_BYTES; i++)
		key[i] = (uint8_t)(start + step * (int)i);
}

static struct cf_chunker *mk(const struct cf_chunker_params *p, const uint8_t *key)
{
	struct cf_chunker *c = NULL;

	REQUIRE(cf_chunker_new(&c, p, key) == 0 && c != NULL);
	return c;
}

/* A list of chunk lengths. */
struct cuts {
	size_t *v;
	size_t n, cap;
};

static void cuts_push(struct cuts *l, size_t x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		REQUIRE(l->v != NULL);
	}
	l->v[l->n++] = x;
}

static void cuts_free(struct cuts *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cuts_equal(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0;
}

/* Whole-buffer chunking with cf_chunker_cut. */
static struct cuts chunk_whole(const struct cf_chunker *c, const uint8_t *buf, size_t len)
{
	struct cuts l = {0};
	size_t off = 0;

	while (off < len) {
		size_t n = cf_chunker_cut(c, buf + off, len - off);

		REQUIRE(n > 0 && n <= len - off);
		cuts_push(&l, n);
		off += n;
	}
	return l;
}

/*
 * Streaming chunking with cf_chunker_next, fed in blocks of @feed bytes (0: block sizes
 * drawn from xorshift in [1, 3 MiB]). Checks the contract of every call on the way.
 */
static struct cuts chunk_stream(struct cf_chunker *c, const uint8_t *buf, size_t len,
				size_t feed)
{
	struct cuts l = {0};
	uint64_t s = 0x9e3779b97f4a7c15u;
	size_t off = 0, inchunk = 0;
	unsigned bad = 0;

	cf_chunker_reset(c);
	while (off < len) {
		size_t blk = feed, used;

		if (!blk) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			blk = 1 + (size_t)(s % (3 * MiB));
		}
		if (blk > len - off)
			blk = len - off;
		while (blk > 0) {
			size_t n;

			used = (size_t)-1;
			n = cf_chunker_next(c, buf + off, blk, &used);
			if (used == 0 || used > blk)
				bad++;
			if (n) {
				if (n != inchunk + used || cf_chunker_pending(c) != 0)
					bad++;
				cuts_push(&l, n);
				inchunk = 0;
			} else {
				inchunk += used;
				if (used != blk || cf_chunker_pending(c) != inchunk)
					bad++;
			}
			if (used == 0 || used > blk)
				break;
			off += used;
			blk -= used;
		}
		if (bad)
			break;
	}
	CHECK(bad == 0);
	if (cf_chunker_pending(c))
		cuts_push(&l, (size_t)cf_chunker_pending(c));
	CHECK(cf_chunker_pending(c) == inchunk);
	return l;
}

/* Every chunk in [min, max] but the last, which is in [1, max]; the sum is @len. */
static int cuts_valid(const struct cuts *l, const struct cf_chunker_params *p, size_t len)
{
	size_t sum = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] > p->max || l->v[i] == 0)
			return 0;
		if (i + 1 < l->n && l->v[i] < p->min)
			return 0;
		sum += l->v[i];
	}
	return sum == len;
}

/* ---- known answers ---------------------------------------------------------------- */

struct kat_case {
	const char *name;
	uint8_t key_start;
	int key_step;
	struct cf_chunker_params p;
	const char *input; /* "xorshift64" or "zero" */
	uint64_t seed;
	size_t len;
};

static const struct kat_case kat_cases[] = {
	{"defaults", 0x00, 1, {512 * KiB, 1 * MiB, 8 * MiB}, "xorshift64", 1, 24 * MiB},
	{"small", 0x00, 1, {2 * KiB, 8 * KiB, 64 * KiB}, "xorshift64", 2, 1 * MiB},
	{"small-other-key", 0x1f, -1, {2 * KiB, 8 * KiB, 64 * KiB}, "xorshift64", 2, 1 * MiB},
	{"tiny-min-64", 0xa0, 3, {64, 256, 1024}, "xorshift64", 3, 64 * KiB},
	{"odd-bounds", 0x00, 1, {1000, 4096, 10000}, "xorshift64", 4, 256 * KiB + 17},
	{"zero", 0x00, 1, {2 * KiB, 8 * KiB, 64 * KiB}, "zero", 0, 200000},
};

static uint8_t *case_input(const char *input, uint64_t seed, size_t len)
{
	uint8_t *b;

	if (strcmp(input, "zero") == 0) {
		b = xmalloc(len);
		memset(b, 0, len);
		return b;
	}
	REQUIRE(strcmp(input, "xorshift64") == 0 && seed != 0);
	return random_buf(len, seed);
}

static void hexprint(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int print_vectors(void)
{
	size_t ncases = sizeof(kat_cases) / sizeof(kat_cases[0]);

	printf("{\n  \"comment\": \"Content-defined chunker known answers (docs/chunking.md). "
	       "Input 'xorshift64': the first len bytes of the xorshift64 (13/7/17) stream "
	       "from seed, each state emitted as 8 little-endian bytes; 'zero': len zero "
	       "bytes. chunks: the lengths of the chunks of the whole input, in order, the "
	       "last one included. Printed by test-chunker --print-vectors and checked against "
	       "the independent Python model in docs/chunking.md.\",\n  \"cases\": [\n");
	for (size_t k = 0; k < ncases; k++) {
		const struct kat_case *kc = &kat_cases[k];
		uint8_t key[CF_CHUNKER_KEY_BYTES];
		struct cf_chunker *c;
		uint8_t *buf;
		struct cuts l;

		key_fill(key, kc->key_start, kc->key_step);
		c = mk(&kc->p, key);
		buf = case_input(kc->input, kc->seed, kc->len);
		l = chunk_whole(c, buf, kc->len);
		printf("    {\"name\": \"%s\", \"key\": \"", kc->name);
		hexprint(key, sizeof(key));
		printf("\",\n     \"min\": %u, \"avg\": %u, \"max\": %u,\n", kc->p.min, kc->p.avg,
		       kc->p.max);
		printf("     \"input\": \"%s\", \"seed\": %llu, \"len\": %zu,\n     \"chunks\": [",
		       kc->input, (unsigned long long)kc->seed, kc->len);
		for (size_t i = 0; i < l.n; i++)
			printf("%s%s%zu", i ? "," : "", i && i % 10 == 0 ? "\n      " : "",
			       l.v[i]);
		printf("]}%s\n", k + 1 < ncases ? "," : "");
		cuts_free(&l);
		free(buf);
		cf_chunker_free(c);
	}
	printf("  ]\n}\n");
	return 0;
}

static void kat(void)
{
	json_t *v = check_vectors_load("chunker.json");
	json_t *cases = json_object_get(v, "cases"), *e;
	size_t k;

	REQUIRE(json_array_size(cases) >= 5);
	json_array_foreach(cases, k, e) {
		size_t klen;
		uint8_t *key = check_hex(json_string_value(json_object_get(e, "key")), &klen);
		struct cf_chunker_params p = {
			(uint32_t)json_integer_value(json_object_get(e, "min")),
			(uint32_t)json_integer_value(json_object_get(e, "avg")),
			(uint32_t)json_integer_value(json_object_get(e, "max")),
		};
		const char *input = json_string_value(json_object_get(e, "input"));
		uint64_t seed = (uint64_t)json_integer_value(json_object_get(e, "seed"));
		size_t len = (size_t)json_integer_value(json_object_get(e, "len"));
		json_t *chunks = json_object_get(e, "chunks"), *x;
		struct cuts want = {0}, got, st;
		struct cf_chunker *c;
		uint8_t *buf;
		size_t i;

		REQUIRE(klen == CF_CHUNKER_KEY_BYTES && input && json_is_array(chunks));
		json_array_foreach(chunks, i, x) cuts_push(&want, (size_t)json_integer_value(x));
		c = mk(&p, key);
		buf = case_input(input, seed, len);

		got = chunk_whole(c, buf, len);
		CHECK(cuts_equal(&got, &want));
		if (!cuts_equal(&got, &want))
			fprintf(stderr, "  case %s: %zu chunks, %zu expected\n",
				json_string_value(json_object_get(e, "name")), got.n, want.n);
		CHECK(cuts_valid(&want, &p, len));

		/* the same answers streamed in 1 MiB blocks and in odd blocks */
		st = chunk_stream(c, buf, len, 1 * MiB);
		CHECK(cuts_equal(&st, &want));
		cuts_free(&st);
		st = chunk_stream(c, buf, len, 4093);
		CHECK(cuts_equal(&st, &want));
		cuts_free(&st);

		cuts_free(&got);
		cuts_free(&want);
		free(buf);
		free(key);
		cf_chunker_free(c);
	}
	json_decref(v);
}

/* ---- properties ------------------------------------------------------------------- */

/* Sizes within bounds; any feed sizes give the whole-buffer cuts. */
static void streaming(void)
{
	const size_t len = 8 * MiB;
	const size_t feeds[] = {7, 4093, 65536, 65537, 1 * MiB, 3 * MiB + 1, 0};
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c;
	uint8_t *buf = random_buf(len, 11);
	struct cuts whole, st;

	key_fill(key, 0x42, 5);
	c = mk(&small, key);
	whole = chunk_whole(c, buf, len);
	CHECK(cuts_valid(&whole, &small, len));
	CHECK(whole.n > 100);

	for (size_t i = 0; i < sizeof(feeds) / sizeof(feeds[0]); i++) {
		st = chunk_stream(c, buf, len, feeds[i]);
		CHECK(cuts_equal(&st, &whole));
		cuts_free(&st);
	}
	/* one byte at a time (on a 1 MiB prefix, to stay quick under sanitizers) */
	{
		struct cuts pre = chunk_whole(c, buf, 1 * MiB);

		st = chunk_stream(c, buf, 1 * MiB, 1);
		CHECK(cuts_equal(&st, &pre));
		cuts_free(&st);
		cuts_free(&pre);
	}
	cuts_free(&whole);
	free(buf);
	cf_chunker_free(c);
}

/* Offsets (from the start of the file) at which chunks end. */
static size_t *ends_of(const struct cuts *l)
{
	size_t *e = malloc((l->n ? l->n : 1) * sizeof(*e));
	size_t off = 0;

	REQUIRE(e != NULL);
	for (size_t i = 0; i < l->n; i++) {
		off += l->v[i];
		e[i] = off;
	}
	return e;
}

/*
 * How many chunks of @a (by content: start and end in the file) are not chunks of @b,
 * where @b is @a with @delta bytes inserted (delta > 0) or removed (delta < 0) at @at.
 * A chunk that contains the edit point never matches.
 */
static size_t chunks_lost(const struct cuts *a, const struct cuts *b, size_t at, long delta)
{
	size_t *ea = ends_of(a), *eb = ends_of(b);
	size_t lost = 0, j = 0, sa = 0;

	for (size_t i = 0; i < a->n; sa = ea[i], i++) {
		size_t s = sa, t = ea[i], found = 0;

		if (s < at && t > at) {
			lost++;
			continue;
		}
		if (s >= at) {
			s = (size_t)((long)s + delta);
			t = (size_t)((long)t + delta);
		}
		/* is there a chunk [s, t) in b? */
		while (j < b->n && eb[j] < t)
			j++;
		if (j < b->n && eb[j] == t && t - b->v[j] == s)
			found = 1;
		lost += !found;
	}
	free(ea);
	free(eb);
	return lost;
}

/* Insertions, deletions and a one-byte change move only the chunks next to the edit. */
static void shift_resistance(void)
{
	const size_t len = 4 * MiB, ins = 37, at = 1000, mid = 2 * MiB + 12345;
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c;
	uint8_t *buf = random_buf(len, 21);
	uint8_t *mod = xmalloc(len + ins);
	struct cuts a, b;
	size_t lost;

	key_fill(key, 7, 11);
	c = mk(&small, key);
	a = chunk_whole(c, buf, len);

	/* insert 37 bytes near the start */
	memcpy(mod, buf, at);
	xorshift_fill(mod + at, ins, 99);
	memcpy(mod + at + ins, buf + at, len - at);
	b = chunk_whole(c, mod, len + ins);
	lost = chunks_lost(&a, &b, at, (long)ins);
	fprintf(stderr, "insert: %zu of %zu chunks changed\n", lost, a.n);
	CHECK(lost >= 1 && lost <= 3);
	CHECK(a.n - lost >= a.n * 99 / 100);
	cuts_free(&b);

	/* delete 37 bytes near the start */
	memcpy(mod, buf, at);
	memcpy(mod + at, buf + at + ins, len - at - ins);
	b = chunk_whole(c, mod, len - ins);
	lost = chunks_lost(&a, &b, at, -(long)ins);
	fprintf(stderr, "delete: %zu of %zu chunks changed\n", lost, a.n);
	CHECK(lost >= 1 && lost <= 3);
	cuts_free(&b);

	/* flip one byte in the middle: same length, only its neighbourhood moves */
	memcpy(mod, buf, len);
	mod[mid] ^= 0x5a;
	b = chunk_whole(c, mod, len);
	lost = chunks_lost(&a, &b, mid, 0);
	fprintf(stderr, "flip: %zu of %zu chunks changed\n", lost, a.n);
	CHECK(lost >= 1 && lost <= 3);
	cuts_free(&b);

	cuts_free(&a);
	free(mod);
	free(buf);
	cf_chunker_free(c);
}

/* Another key cuts elsewhere: the boundaries are not a function of the content alone. */
static void keyed(void)
{
	const size_t len = 8 * MiB;
	uint8_t k1[CF_CHUNKER_KEY_BYTES], k2[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c1, *c2;
	uint8_t *buf = random_buf(len, 31);
	struct cuts a, b;
	size_t *ea, *eb, common = 0, j = 0;

	key_fill(k1, 0, 1);
	memcpy(k2, k1, sizeof(k2));
	k2[31] ^= 1; /* one bit of key */
	c1 = mk(&small, k1);
	c2 = mk(&small, k2);
	a = chunk_whole(c1, buf, len);
	b = chunk_whole(c2, buf, len);
	CHECK(!cuts_equal(&a, &b));
	CHECK(a.v[0] != b.v[0] || a.v[1] != b.v[1]);
	ea = ends_of(&a);
	eb = ends_of(&b);
	for (size_t i = 0; i + 1 < a.n; i++) {
		while (j < b.n && eb[j] < ea[i])
			j++;
		common += j < b.n && eb[j] == ea[i];
	}
	/* by chance two independent keys share a boundary now and then, rarely */
	fprintf(stderr, "keys: %zu of %zu boundaries in common\n", common, a.n);
	CHECK(common * 10 < a.n);
	free(ea);
	free(eb);
	cuts_free(&a);
	cuts_free(&b);
	cf_chunker_free(c1);
	cf_chunker_free(c2);
	free(buf);
}

/* The mean chunk size over 64 MiB of random data is within 30% of avg. */
static void average(void)
{
	const size_t len = 64 * MiB;
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c;
	uint8_t *buf = random_buf(len, 41);
	struct cuts l;
	double mean;

	key_fill(key, 0x80, 7);
	c = mk(&small, key);
	l = chunk_whole(c, buf, len);
	CHECK(cuts_valid(&l, &small, len));
	mean = (double)len / (double)l.n;
	fprintf(stderr, "mean chunk %.0f bytes for avg %u (%zu chunks)\n", mean, small.avg, l.n);
	CHECK(mean >= 0.7 * small.avg && mean <= 1.3 * small.avg);
	cuts_free(&l);
	cf_chunker_free(c);
	free(buf);
}

/* Data without any boundary (all zero) is cut at max. */
static void zeros(void)
{
	const size_t len = 20 * MiB;
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c;
	uint8_t *buf = xmalloc(len);
	struct cuts l;

	memset(buf, 0, len);
	key_fill(key, 0, 1);
	c = mk(NULL, key); /* defaults: 8 + 8 + 4 MiB */
	l = chunk_whole(c, buf, len);
	CHECK(l.n == 3 && l.v[0] == 8 * MiB && l.v[1] == 8 * MiB && l.v[2] == 4 * MiB);
	cuts_free(&l);
	cf_chunker_free(c);

	c = mk(&small, key);
	l = chunk_whole(c, buf, 1 * MiB + 5);
	CHECK(l.n == 17 && l.v[16] == 5);
	for (size_t i = 0; i + 1 < l.n; i++)
		CHECK(l.v[i] == small.max);
	cuts_free(&l);
	l = chunk_stream(c, buf, 1 * MiB + 5, 1000);
	CHECK(l.n == 17 && l.v[0] == small.max && l.v[16] == 5);
	cuts_free(&l);
	cf_chunker_free(c);
	free(buf);
}

static void params(void)
{
	static const struct cf_chunker_params bad[] = {
		{0, 0, 0},
		{63, 256, 1024},                  /* min below one window */
		{64, 64, 1024},                   /* min == avg */
		{512, 256, 1024},                 /* min > avg */
		{64, 1024, 1024},                 /* avg == max */
		{64, 2048, 1024},                 /* avg > max */
		{2048, 3000, 16384},              /* avg not a power of two */
		{2048, 4097, 16384},              /* avg not a power of two */
		{1 * MiB, 32 * MiB, 64 * MiB + 1}, /* max above 64 MiB */
		{1 * MiB, 32 * MiB, UINT32_MAX},
		{UINT32_MAX - 2, UINT32_MAX - 1, UINT32_MAX},
	};
	static const struct cf_chunker_params good[] = {
		{64, 128, 129},
		{1000, 4096, 10000},
		{32 * MiB - 1, 32 * MiB, 64 * MiB},
		{512 * KiB, 1 * MiB, 8 * MiB},
	};
	struct cf_chunker *sentinel = (struct cf_chunker *)&sentinel, *c = sentinel;
	struct cf_chunker_params p, q;
	uint8_t key[CF_CHUNKER_KEY_BYTES] = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RC(cf_chunker_params_check(&bad[i]), CF_E_INVAL);
		CHECK_RC(cf_chunker_new(&c, &bad[i], key), CF_E_INVAL);
		CHECK(c == sentinel);
	}
	CHECK_RC(cf_chunker_params_check(NULL), CF_E_INVAL);
	CHECK_RC(cf_chunker_new(&c, &small, NULL), CF_E_INVAL);
	CHECK(c == sentinel);
	CHECK_RC(cf_chunker_new(NULL, &small, key), CF_E_INVAL);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_RC(cf_chunker_params_check(&good[i]), 0);
		c = sentinel;
		CHECK_RC(cf_chunker_new(&c, &good[i], key), 0);
		REQUIRE(c != sentinel && c != NULL);
		cf_chunker_get_params(c, &q);
		CHECK(memcmp(&q, &good[i], sizeof(q)) == 0);
		cf_chunker_free(c);
	}

	cf_chunker_params_default(&p);
	CHECK(p.min == 512 * KiB && p.avg == 1 * MiB && p.max == 8 * MiB);
	CHECK_RC(cf_chunker_params_check(&p), 0);
	c = mk(NULL, key);
	cf_chunker_get_params(c, &q);
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	cf_chunker_free(c);
	cf_chunker_free(NULL);
}

/* Short inputs, empty calls, pending and reset. */
static void edges(void)
{
	const size_t len = 256 * KiB;
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c;
	uint8_t *buf = random_buf(len, 51);
	struct cuts a, b;
	size_t used = 12345;

	key_fill(key, 3, 3);
	c = mk(&small, key);
	CHECK(cf_chunker_cut(c, buf, 0) == 0);
	CHECK(cf_chunker_cut(c, NULL, 0) == 0);
	CHECK(cf_chunker_cut(c, buf, 1) == 1);
	CHECK(cf_chunker_cut(c, buf, small.min - 1) == small.min - 1);
	CHECK(cf_chunker_cut(c, buf, small.min) == small.min);
	CHECK(cf_chunker_cut(c, buf, len) <= small.max);

	CHECK(cf_chunker_pending(c) == 0);
	CHECK(cf_chunker_next(c, NULL, 0, &used) == 0 && used == 0);
	CHECK(cf_chunker_next(c, buf, 100, &used) == 0 && used == 100);
	CHECK(cf_chunker_pending(c) == 100);
	CHECK(cf_chunker_next(c, buf, 0, &used) == 0 && used == 0);
	CHECK(cf_chunker_pending(c) == 100);

	/* cut() does not disturb the streaming state */
	(void)cf_chunker_cut(c, buf, len);
	CHECK(cf_chunker_pending(c) == 100);

	/* a reset forgets the pending bytes: the next file chunks as if fresh */
	cf_chunker_reset(c);
	CHECK(cf_chunker_pending(c) == 0);
	a = chunk_whole(c, buf, len);
	cf_chunker_reset(c);
	(void)cf_chunker_next(c, buf + 5000, 30000, &used);
	b = chunk_stream(c, buf, len, 777); /* resets first, like a new file */
	CHECK(cuts_equal(&a, &b));
	cuts_free(&a);
	cuts_free(&b);

	/* the first chunk of a file is the same whatever follows it */
	{
		size_t first = cf_chunker_cut(c, buf, len);

		CHECK(cf_chunker_cut(c, buf, first) == first);
		CHECK(cf_chunker_cut(c, buf, first + 1) == first);
	}

	cf_chunker_free(c);
	free(buf);
}

int main(int argc, char **argv)
{
	REQUIRE(cf_core_init() == 0);
	if (argc > 1 && strcmp(argv[1], "--print-vectors") == 0)
		return print_vectors();
	if (argc > 1) {
		fprintf(stderr, "usage: %s [--print-vectors]\n", argv[0]);
		return 2;
	}
	params();
	edges();
	kat();
	streaming();
	shift_resistance();
	keyed();
	average();
	zeros();
	return check_finish();
}
