/* SPDX-License-Identifier: ISC */
/* backupd/schedule: next run, jitter, daily window (across midnight, DST), backoff, battery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupd/schedule.h"
#include "tests/lib/check.h"

#define H 3600ull
#define DAY (24 * H)
#define T0 1704067200ull /* 2024-01-01T00:00:00Z */

static struct cf_schedule sched(int ws, int we)
{
	return (struct cf_schedule){.interval = H, .jitter = 600, .window_start = ws,
	                            .window_end = we, .retry_min = 60, .retry_max = H};
}

static void test_window(void)
{
	struct cf_schedule any = sched(-1, -1), night = sched(60, 360), wrap = sched(22 * 60, 6 * 60),
	                   late = sched(20 * 60, 24 * 60);

	CHECK(cf_schedule_in_window(&any, T0 + 13 * H));
	CHECK(cf_schedule_window(&any, T0 + 13 * H) == T0 + 13 * H);
	/* 01:00-06:00 */
	CHECK(cf_schedule_in_window(&night, T0 + 3 * H));
	CHECK(!cf_schedule_in_window(&night, T0 + 6 * H));
	CHECK(cf_schedule_in_window(&night, T0 + 6 * H - 1));
	CHECK(cf_schedule_window(&night, T0 + 1800) == T0 + H);          /* 00:30 -> 01:00 */
	CHECK(cf_schedule_window(&night, T0 + 7 * H) == T0 + DAY + H);   /* 07:00 -> tomorrow */
	CHECK(cf_schedule_window(&night, T0 + 3 * H + 5) == T0 + 3 * H + 5);
	/* 22:00-06:00 crosses midnight */
	CHECK(cf_schedule_in_window(&wrap, T0 + 23 * H));
	CHECK(cf_schedule_in_window(&wrap, T0 + 5 * H + 59 * 60));
	CHECK(!cf_schedule_in_window(&wrap, T0 + 6 * H));
	CHECK(cf_schedule_window(&wrap, T0 + 6 * H) == T0 + 22 * H);
	CHECK(cf_schedule_window(&wrap, T0 + 12 * H) == T0 + 22 * H);
	/* 20:00-24:00 */
	CHECK(cf_schedule_in_window(&late, T0 + 23 * H + 59 * 60));
	CHECK(!cf_schedule_in_window(&late, T0 + DAY));
	CHECK(cf_schedule_window(&late, T0 + DAY + 60) == T0 + DAY + 20 * H);
}

static void test_next_and_backoff(void)
{
	struct cf_schedule s = sched(-1, -1), night = sched(60, 360);

	CHECK(cf_schedule_next(&s, T0, T0 + 10, 0) == T0 + H);
	CHECK(cf_schedule_next(&s, T0, T0 + 10, 300) == T0 + H + 300);
	CHECK(cf_schedule_next(&s, T0, T0 + 10, 9999) == T0 + H + 600); /* at most the jitter */
	CHECK(cf_schedule_next(&s, T0, T0 + 5 * H, 0) == T0 + 5 * H);  /* overdue: now */
	CHECK(cf_schedule_next(&s, 0, T0 + 7, 0) == T0 + 7);           /* never ran: now */
	/* in a window: 05:30 + 1h = 06:30, outside: tomorrow 01:00 */
	CHECK(cf_schedule_next(&night, T0 + 5 * H + 1800, T0 + 5 * H + 1900, 0) == T0 + DAY + H);

	CHECK(cf_schedule_backoff(&s, 1) == 60);
	CHECK(cf_schedule_backoff(&s, 2) == 120);
	CHECK(cf_schedule_backoff(&s, 3) == 240);
	CHECK(cf_schedule_backoff(&s, 6) == 1920);
	CHECK(cf_schedule_backoff(&s, 7) == H);
	CHECK(cf_schedule_backoff(&s, 4000000000u) == H); /* no overflow */
	CHECK(cf_schedule_retry(&s, T0, 2) == T0 + 120);
	CHECK(cf_schedule_retry(&night, T0 + 12 * H, 1) == T0 + DAY + H);
}

static void test_dst(void)
{
	/* 2024-03-31 in Berlin: 02:00 CET jumps to 03:00 CEST; a window opening at 02:30 */
	struct cf_schedule s = sched(150, 240);
	const uint64_t midnight = 1711839600ull; /* 2024-03-31T00:00:00+01:00 */
	uint64_t t;

	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	t = cf_schedule_window(&s, midnight);
	CHECK(t > midnight && t <= midnight + 3 * H);
	CHECK(cf_schedule_in_window(&s, t));
	setenv("TZ", "UTC", 1);
	tzset();
}

static void put(const char *dir, const char *name, const char *file, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_battery(void)
{
	char *root = check_tmpdir(), d[1024];

	snprintf(d, sizeof(d), "%s/none", root);
	CHECK(cf_schedule_on_battery(d) == 0); /* no folder: a desktop or a container */
	CHECK(cf_schedule_on_battery(NULL) == 0);
	snprintf(d, sizeof(d), "%s/laptop", root);
	mkdir(d, 0700);
	CHECK(cf_schedule_on_battery(d) == 0);
	put(d, "BAT0", "type", "Battery\n");
	put(d, "BAT0", "status", "Discharging\n");
	CHECK(cf_schedule_on_battery(d) == 1);
	put(d, "AC", "type", "Mains\n");
	put(d, "AC", "online", "0\n");
	CHECK(cf_schedule_on_battery(d) == 1);
	put(d, "AC", "online", "1\n");
	CHECK(cf_schedule_on_battery(d) == 0);
	put(d, "AC", "online", "0\n");
	put(d, "BAT0", "status", "Charging\n");
	CHECK(cf_schedule_on_battery(d) == 0);
	put(d, "BAT0", "status", "Discharging\n");
	put(d, "usb", "type", "USB\n");
	put(d, "usb", "online", "1\n");
	CHECK(cf_schedule_on_battery(d) == 0);
	check_rmtree(root);
	free(root);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_window();
	test_next_and_backoff();
	test_dst();
	test_battery();
	return check_finish();
}
