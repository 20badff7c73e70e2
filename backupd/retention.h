/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The retention policy: which snapshots to keep, as a pure function of their times
 * (docs/configuration.md, "[retention]"; the rules are restic's, so they read the same):
 *
 *   keep_last N      the N newest snapshots;
 *   keep_hourly N    the newest snapshot of each of the N newest hours that have one;
 *   keep_daily N     ... of each of the N newest days (likewise weekly: ISO weeks,
 *                    monthly, yearly), calendar periods in local time;
 *   keep_within D    every snapshot at most D seconds older than the newest one.
 *
 * A snapshot is kept when any rule keeps it, and the newest snapshot is always kept.
 * A policy with no rule keeps everything (nothing is ever forgotten by an empty policy).
 * Periods are counted only where a snapshot exists: "keep_daily = 7" keeps one snapshot
 * of each of the 7 most recent days that have snapshots, however far apart.
 */
#include <stddef.h>
#include <stdint.h>

struct cf_retention_policy {
	unsigned last, hourly, daily, weekly, monthly, yearly;
	uint64_t within; /* seconds; 0: not used */
};

/* Why a snapshot is kept (bits of cf_retention_item.keep). */
enum {
	CF_KEEP_NEWEST = 1 << 0,
	CF_KEEP_LAST = 1 << 1,
	CF_KEEP_HOURLY = 1 << 2,
	CF_KEEP_DAILY = 1 << 3,
	CF_KEEP_WEEKLY = 1 << 4,
	CF_KEEP_MONTHLY = 1 << 5,
	CF_KEEP_YEARLY = 1 << 6,
	CF_KEEP_WITHIN = 1 << 7,
	CF_KEEP_NO_POLICY = 1 << 8,
};

struct cf_retention_item {
	uint64_t time; /* unix seconds (in): the snapshot's time */
	uint64_t seq;  /* (in) its sequence number: the newer of two at the same time */
	unsigned keep; /* (out) CF_KEEP_* bits; 0: forget it */
};

/* cf_retention_empty - 1 when @p has no rule (keeps everything), else 0. */
int cf_retention_empty(const struct cf_retention_policy *p);

/*
 * cf_retention_apply - decide for each of the @n items of @v (any order; the array is
 * left in its order) whether @p keeps it, filling ->keep. Calendar periods use local
 * time (the TZ environment variable) when @utc is 0, UTC otherwise. Pure: no I/O.
 * Returns the number of items kept, or (size_t)-1 when out of memory (->keep then all
 * set to CF_KEEP_NO_POLICY: nothing is forgotten).
 */
size_t cf_retention_apply(const struct cf_retention_policy *p, struct cf_retention_item *v,
                          size_t n, int utc);

/*
 * cf_retention_reasons - the CF_KEEP_* bits of @keep as words ("last, daily") into
 * @buf; "forget" for 0. Returns @buf.
 */
const char *cf_retention_reasons(char *buf, size_t cap, unsigned keep);
