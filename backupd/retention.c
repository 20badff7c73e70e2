/* SPDX-License-Identifier: ISC */
#include "backupd/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cf_retention_empty(const struct cf_retention_policy *p)
{
	return !p || (!p->last && !p->hourly && !p->daily && !p->weekly && !p->monthly &&
	              !p->yearly && !p->within);
}

enum period { P_HOUR, P_DAY, P_WEEK, P_MONTH, P_YEAR, NPERIODS };

/* A number naming the calendar period of @t (equal numbers: the same period). */
static int64_t period_of(uint64_t t, enum period p, int utc)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char week[16];

	if (utc ? !gmtime_r(&tt, &tm) : !localtime_r(&tt, &tm))
		return -1 - (int64_t)(t / 3600); /* out of range: every hour its own period */
	switch (p) {
	case P_HOUR:
		return (((int64_t)tm.tm_year * 12 + tm.tm_mon) * 31 + tm.tm_mday) * 24 + tm.tm_hour;
	case P_DAY:
		return ((int64_t)tm.tm_year * 12 + tm.tm_mon) * 31 + tm.tm_mday;
	case P_WEEK:
		/* the ISO 8601 week-based year and week number */
		strftime(week, sizeof(week), "%G%V", &tm);
		return strtoll(week, NULL, 10);
	case P_MONTH:
		return (int64_t)tm.tm_year * 12 + tm.tm_mon;
	default:
		return tm.tm_year;
	}
}

/* Order of decision: newest first (time, then sequence). */
static int newest_first(const void *a, const void *b)
{
	const struct cf_retention_item *x = *(const struct cf_retention_item *const *)a;
	const struct cf_retention_item *y = *(const struct cf_retention_item *const *)b;

	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? 1 : -1;
	return 0;
}

size_t cf_retention_apply(const struct cf_retention_policy *p, struct cf_retention_item *v,
                          size_t n, int utc)
{
	static const unsigned bit[NPERIODS] = {CF_KEEP_HOURLY, CF_KEEP_DAILY, CF_KEEP_WEEKLY,
	                                       CF_KEEP_MONTHLY, CF_KEEP_YEARLY};
	unsigned left[NPERIODS], last;
	int64_t seen[NPERIODS];
	int have[NPERIODS] = {0};
	struct cf_retention_item **o;
	size_t kept = 0;

	if (!n)
		return 0;
	if (cf_retention_empty(p)) {
		for (size_t i = 0; i < n; i++)
			v[i].keep = CF_KEEP_NO_POLICY;
		return n;
	}
	o = malloc(n * sizeof(*o));
	if (!o) {
		for (size_t i = 0; i < n; i++)
			v[i].keep = CF_KEEP_NO_POLICY;
		return (size_t)-1;
	}
	for (size_t i = 0; i < n; i++)
		o[i] = &v[i];
	qsort(o, n, sizeof(*o), newest_first);
	left[P_HOUR] = p->hourly;
	left[P_DAY] = p->daily;
	left[P_WEEK] = p->weekly;
	left[P_MONTH] = p->monthly;
	left[P_YEAR] = p->yearly;
	last = p->last;
	for (size_t i = 0; i < n; i++) {
		struct cf_retention_item *it = o[i];

		it->keep = i == 0 ? CF_KEEP_NEWEST : 0;
		if (last) {
			it->keep |= CF_KEEP_LAST;
			last--;
		}
		for (int k = 0; k < NPERIODS; k++) {
			int64_t id;

			if (!left[k])
				continue;
			id = period_of(it->time, (enum period)k, utc);
			if (have[k] && id == seen[k])
				continue; /* a newer snapshot already stands for this period */
			have[k] = 1;
			seen[k] = id;
			it->keep |= bit[k];
			left[k]--;
		}
		if (p->within && o[0]->time - it->time <= p->within)
			it->keep |= CF_KEEP_WITHIN;
		kept += it->keep != 0;
	}
	free(o);
	return kept;
}

const char *cf_retention_reasons(char *buf, size_t cap, unsigned keep)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {{CF_KEEP_NEWEST, "newest"},   {CF_KEEP_LAST, "last"},
	             {CF_KEEP_HOURLY, "hourly"},   {CF_KEEP_DAILY, "daily"},
	             {CF_KEEP_WEEKLY, "weekly"},   {CF_KEEP_MONTHLY, "monthly"},
	             {CF_KEEP_YEARLY, "yearly"},   {CF_KEEP_WITHIN, "within"},
	             {CF_KEEP_NO_POLICY, "no policy"}};
	size_t off = 0;

	if (!cap)
		return buf;
	snprintf(buf, cap, "%s", keep ? "" : "forget");
	for (size_t i = 0; keep && i < sizeof(words) / sizeof(words[0]) && off < cap; i++) {
		int w;

		if (!(keep & words[i].bit))
			continue;
		w = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", words[i].word);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}
