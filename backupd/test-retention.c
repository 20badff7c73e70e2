/* SPDX-License-Identifier: ISC */
/*
 * The retention policy on generated snapshot dates: hand-made cases with the expected
 * set written out, and thousands of generated dates checked against a reference that
 * computes the calendar periods independently (day numbers and civil dates from the
 * Unix time by arithmetic, not by gmtime/localtime, and a different algorithm: group,
 * pick the newest of each group, take the N newest groups).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backupd/retention.h"
#include "tests/lib/check.h"

#define H 3600ull
#define D (24 * H)

/* 2024-01-01T00:00:00Z, a Monday */
#define T0 1704067200ull

/* civil date of day number @z (days since 1970-01-01), Howard Hinnant's algorithm */
static void civil(int64_t z, int64_t *y, unsigned *m)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* the reference's period key of @t shifted by @off seconds (the zone's offset) */
static int64_t ref_period(uint64_t t, int k, int64_t off)
{
	int64_t s = (int64_t)t + off, day = s / 86400, y;
	unsigned m;

	switch (k) {
	case 0:
		return s / 3600;
	case 1:
		return day;
	case 2:
		return (day + 3) / 7; /* weeks from Monday to Sunday (1970-01-01 was a Thursday) */
	case 3:
		civil(day, &y, &m);
		return y * 12 + m;
	default:
		civil(day, &y, &m);
		return y;
	}
}

static int newer(const struct cf_retention_item *a, const struct cf_retention_item *b)
{
	return a->time != b->time ? a->time > b->time : a->seq > b->seq;
}

/* The expected keep bits of every item, computed the reference way. */
static void reference(const struct cf_retention_policy *p, const struct cf_retention_item *v,
                      size_t n, int64_t off, unsigned *want)
{
	const unsigned counts[5] = {p->hourly, p->daily, p->weekly, p->monthly, p->yearly};
	static const unsigned bits[5] = {CF_KEEP_HOURLY, CF_KEEP_DAILY, CF_KEEP_WEEKLY,
	                                 CF_KEEP_MONTHLY, CF_KEEP_YEARLY};
	size_t newest = 0, *best = malloc(n * sizeof(size_t)), ngroups;
	int64_t *key = malloc(n * sizeof(int64_t));

	REQUIRE(best && key);
	for (size_t i = 0; i < n; i++) {
		want[i] = 0;
		if (newer(&v[i], &v[newest]))
			newest = i;
	}
	want[newest] |= CF_KEEP_NEWEST;
	/* keep_last: the items fewer than N items are newer than */
	for (size_t i = 0; i < n; i++) {
		size_t rank = 0;

		for (size_t j = 0; j < n; j++)
			rank += newer(&v[j], &v[i]);
		if (rank < p->last)
			want[i] |= CF_KEEP_LAST;
		if (p->within && v[newest].time - v[i].time <= p->within)
			want[i] |= CF_KEEP_WITHIN;
	}
	for (int k = 0; k < 5; k++) {
		if (!counts[k])
			continue;
		/* the newest item of each period */
		ngroups = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t kk = ref_period(v[i].time, k, off);
			size_t g;

			for (g = 0; g < ngroups; g++)
				if (key[g] == kk)
					break;
			if (g == ngroups) {
				key[ngroups] = kk;
				best[ngroups++] = i;
			} else if (newer(&v[i], &v[best[g]])) {
				best[g] = i;
			}
		}
		/* the periods whose newest item has fewer than N newer group representatives */
		for (size_t g = 0; g < ngroups; g++) {
			size_t rank = 0;

			for (size_t h = 0; h < ngroups; h++)
				rank += newer(&v[best[h]], &v[best[g]]);
			if (rank < counts[k])
				want[best[g]] |= bits[k];
		}
	}
	free(best);
	free(key);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void compare(const struct cf_retention_policy *p, struct cf_retention_item *v, size_t n,
                    int utc, int64_t off, const char *what)
{
	unsigned *want = malloc(n * sizeof(unsigned));
	size_t kept = 0, got, bad = 0;

	REQUIRE(want);
	reference(p, v, n, off, want);
	got = cf_retention_apply(p, v, n, utc);
	for (size_t i = 0; i < n; i++) {
		kept += want[i] != 0;
		if (v[i].keep != want[i] && bad++ < 5)
			fprintf(stderr, "%s: item seq %llu time %llu: keep %#x, want %#x\n", what,
			        (unsigned long long)v[i].seq, (unsigned long long)v[i].time,
			        v[i].keep, want[i]);
	}
	CHECK(bad == 0);
	CHECK(got == kept);
	free(want);
}

/* append a snapshot at @t with the next sequence number */
static void add(struct cf_retention_item *v, size_t *n, uint64_t t)
{
	v[*n].time = t;
	v[*n].seq = *n + 1;
	v[*n].keep = 0;
	(*n)++;
}

/* hand-made: every expected item written out */
static void test_cases(void)
{
	struct cf_retention_item v[12];
	struct cf_retention_policy p = {0};
	char why[128];
	size_t n = 0;

	/* two snapshots a day for 5 days, then one 30 days before; seq in time order */
	add(v, &n, T0 - 30 * D);
	for (int d = 0; d < 5; d++) {
		add(v, &n, T0 + (uint64_t)d * D + 9 * H);
		add(v, &n, T0 + (uint64_t)d * D + 21 * H);
	}
	/* no rule: everything kept, nothing forgotten */
	CHECK(cf_retention_empty(&p));
	CHECK(cf_retention_apply(&p, v, n, 1) == n);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i].keep == CF_KEEP_NO_POLICY);

	/* keep_daily 3: the evening snapshot of the 3 newest days (seq 11, 9, 7) */
	p.daily = 3;
	CHECK(cf_retention_apply(&p, v, n, 1) == 3);
	for (size_t i = 0; i < n; i++)
		CHECK((v[i].keep != 0) == (v[i].seq == 11 || v[i].seq == 9 || v[i].seq == 7));
	CHECK(v[10].keep == (CF_KEEP_NEWEST | CF_KEEP_DAILY));

	/* + keep_last 2 (11, 10) + keep_monthly 2 (Jan: 11; Dec: 1) */
	p.last = 2;
	p.monthly = 2;
	CHECK(cf_retention_apply(&p, v, n, 1) == 5);
	for (size_t i = 0; i < n; i++)
		CHECK((v[i].keep != 0) == (v[i].seq == 11 || v[i].seq == 10 || v[i].seq == 9 ||
		                           v[i].seq == 7 || v[i].seq == 1));
	CHECK(v[0].keep == CF_KEEP_MONTHLY);
	CHECK(!strcmp(cf_retention_reasons(why, sizeof(why), v[10].keep),
	              "newest, last, daily, monthly"));
	CHECK(!strcmp(cf_retention_reasons(why, sizeof(why), 0), "forget"));

	/* keep_within 36h of the newest (day 4, 21:00): day 3 09:00 onwards: seq 8..11 */
	memset(&p, 0, sizeof(p));
	p.within = 36 * H;
	CHECK(cf_retention_apply(&p, v, n, 1) == 4);
	for (size_t i = 0; i < n; i++)
		CHECK((v[i].keep != 0) == (v[i].seq >= 8));

	/* weekly 2 across a week boundary: Sun 2024-01-07 22:00 and 23:00, Mon 01-08 01:00 */
	memset(&p, 0, sizeof(p));
	p.weekly = 2;
	n = 0;
	add(v, &n, T0 + 6 * D + 22 * H);
	add(v, &n, T0 + 6 * D + 23 * H);
	add(v, &n, T0 + 7 * D + 1 * H);
	CHECK(cf_retention_apply(&p, v, n, 1) == 2);
	CHECK(v[0].keep == 0 && v[1].keep == CF_KEEP_WEEKLY &&
	      v[2].keep == (CF_KEEP_NEWEST | CF_KEEP_WEEKLY));

	/* the same time twice: the higher sequence is the newer */
	memset(&p, 0, sizeof(p));
	p.last = 1;
	v[0] = (struct cf_retention_item){T0, 5, 0};
	v[1] = (struct cf_retention_item){T0, 6, 0};
	CHECK(cf_retention_apply(&p, v, 2, 1) == 1);
	CHECK(v[0].keep == 0 && v[1].keep == (CF_KEEP_NEWEST | CF_KEEP_LAST));
	CHECK(cf_retention_apply(&p, v, 0, 1) == 0);
}

/* generated: random dates over ~3 years, many policies, exactly the reference's set */
static void test_generated(int utc, int64_t off, const char *zone)
{
	enum { N = 1500 };
	struct cf_retention_item *v = malloc(N * sizeof(*v));
	char what[96];

	REQUIRE(v);
	for (int round = 0; round < 40; round++) {
		struct cf_retention_policy p = {0};
		size_t n = 1 + rnd() % N;
		uint64_t span = (round % 4 == 0) ? 3 * D : 3 * 366 * D;

		for (size_t i = 0; i < n; i++) {
			v[i].time = T0 - span + rnd() % span;
			if (i && rnd() % 8 == 0)
				v[i].time = v[i - 1].time; /* equal times happen */
			v[i].seq = i + 1;
			v[i].keep = 0xdead;
		}
		p.last = (unsigned)(rnd() % 4);
		p.hourly = (unsigned)(rnd() % 3 ? 0 : rnd() % 50);
		p.daily = (unsigned)(rnd() % 2 ? 0 : rnd() % 40);
		p.weekly = (unsigned)(rnd() % 2 ? 0 : rnd() % 20);
		p.monthly = (unsigned)(rnd() % 2 ? 0 : rnd() % 30);
		p.yearly = (unsigned)(rnd() % 3 ? 0 : rnd() % 5);
		p.within = rnd() % 3 ? 0 : rnd() % (60 * D);
		if (cf_retention_empty(&p))
			p.daily = 7;
		snprintf(what, sizeof(what), "%s round %d (n %zu)", zone, round, n);
		compare(&p, v, n, utc, off, what);
	}
	free(v);
}

int main(void)
{
	test_cases();
	test_generated(1, 0, "UTC");
	/* local time in a zone 5 hours east of UTC, without daylight saving */
	setenv("TZ", "<+05>-5", 1);
	tzset();
	test_generated(0, 5 * 3600, "UTC+5");
	return check_finish();
}
