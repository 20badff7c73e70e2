/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * When `backupd run` starts the next backup (docs/configuration.md, "[schedule]"):
 *
 *   - after a success: the start of that run + interval + a random share of the jitter;
 *   - after a failure: now + the backoff, retry_min doubled for each further failure in
 *     a row, at most retry_max (a failure is never dropped: it is retried until a run
 *     succeeds, and each one is recorded in the state database);
 *   - a time outside the daily window moves to the next opening of the window (local
 *     time; a window may cross midnight, "22:00-06:00");
 *   - when it is due and the machine runs on battery (and skip_on_battery is set), the
 *     run waits and the power state is checked again every minute.
 *
 * These are pure functions of their arguments (the clock, the zone and the power supply
 * folder are parameters), except cf_schedule_on_battery, which reads that folder.
 */
#include <stdint.h>

struct cf_schedule {
	uint64_t interval;             /* seconds, >= 1 */
	uint64_t jitter;               /* seconds */
	int window_start, window_end;  /* minutes after midnight, or -1 for any time */
	uint64_t retry_min, retry_max; /* seconds */
};

/* cf_schedule_in_window - 1 when @t (unix seconds) lies in @s's daily window (local time). */
int cf_schedule_in_window(const struct cf_schedule *s, uint64_t t);

/*
 * cf_schedule_window - @t when it lies in the window, else the next time the window
 * opens after @t (local time; a clock change on that day is resolved by mktime).
 */
uint64_t cf_schedule_window(const struct cf_schedule *s, uint64_t t);

/*
 * cf_schedule_next - the next run after a successful run that started at @last_start,
 * with @jitter_pick (0 .. s->jitter) added, moved into the window; never before @now.
 */
uint64_t cf_schedule_next(const struct cf_schedule *s, uint64_t last_start, uint64_t now,
                          uint64_t jitter_pick);

/* cf_schedule_backoff - the wait before retry number @failures (>= 1) in a row. */
uint64_t cf_schedule_backoff(const struct cf_schedule *s, unsigned failures);

/* cf_schedule_retry - now + cf_schedule_backoff, moved into the window. */
uint64_t cf_schedule_retry(const struct cf_schedule *s, uint64_t now, unsigned failures);

/*
 * cf_schedule_on_battery - 1 when the power supplies described under @dir (sysfs
 * /sys/class/power_supply layout: NAME/type, NAME/online, NAME/status) say the machine
 * runs on battery: no "Mains" or "USB" supply is online and a "Battery" is
 * "Discharging". 0 otherwise, also when @dir is missing or says nothing (desktops,
 * servers, containers).
 */
int cf_schedule_on_battery(const char *dir);
