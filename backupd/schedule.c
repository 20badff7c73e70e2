/* SPDX-License-Identifier: ISC */
#include "backupd/schedule.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_MIN (24 * 60)

/* Minutes after local midnight of @t. */
static int minute_of(uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm))
		return 0;
	return tm.tm_hour * 60 + tm.tm_min;
}

static int minute_in(const struct cf_schedule *s, int m)
{
	if (s->window_start < 0)
		return 1;
	if (s->window_start < s->window_end)
		return m >= s->window_start && m < s->window_end;
	return m >= s->window_start || m < s->window_end; /* crosses midnight */
}

int cf_schedule_in_window(const struct cf_schedule *s, uint64_t t)
{
	return minute_in(s, minute_of(t));
}

uint64_t cf_schedule_window(const struct cf_schedule *s, uint64_t t)
{
	time_t tt = (time_t)t, at;
	struct tm tm;

	if (cf_schedule_in_window(s, t) || !localtime_r(&tt, &tm))
		return t;
	/* the window's opening today, else tomorrow */
	for (int day = 0; day < 3; day++) {
		struct tm o = tm;

		o.tm_mday += day;
		o.tm_hour = s->window_start / 60;
		o.tm_min = s->window_start % 60;
		o.tm_sec = 0;
		o.tm_isdst = -1;
		at = mktime(&o);
		if (at != (time_t)-1 && (uint64_t)at > t)
			return (uint64_t)at;
	}
	return t + 60; /* unreachable with a sane zone: look again in a minute */
}

uint64_t cf_schedule_next(const struct cf_schedule *s, uint64_t last_start, uint64_t now,
                          uint64_t jitter_pick)
{
	uint64_t t = last_start + s->interval + (jitter_pick <= s->jitter ? jitter_pick : s->jitter);

	if (!last_start || t < now)
		t = now;
	return cf_schedule_window(s, t);
}

uint64_t cf_schedule_backoff(const struct cf_schedule *s, unsigned failures)
{
	uint64_t w = s->retry_min ? s->retry_min : 1;

	for (unsigned i = 1; i < failures && w < s->retry_max; i++)
		w *= 2;
	return w < s->retry_max ? w : s->retry_max;
}

uint64_t cf_schedule_retry(const struct cf_schedule *s, uint64_t now, unsigned failures)
{
	return cf_schedule_window(s, now + cf_schedule_backoff(s, failures ? failures : 1));
}

/* The first word of @dir/@name/@file into @buf ("" when unreadable). */
static void read_word(const char *dir, const char *name, const char *file, char *buf, size_t cap)
{
	char path[4096];
	FILE *f;

	buf[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file) >= (int)sizeof(path))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, " \t\r\n")] = '\0';
}

int cf_schedule_on_battery(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int mains_online = 0, discharging = 0;
	char type[32], val[32];

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		read_word(dir, e->d_name, "type", type, sizeof(type));
		if (!strcmp(type, "Mains") || !strcmp(type, "USB")) {
			read_word(dir, e->d_name, "online", val, sizeof(val));
			mains_online |= !strcmp(val, "1");
		} else if (!strcmp(type, "Battery")) {
			read_word(dir, e->d_name, "status", val, sizeof(val));
			discharging |= !strcmp(val, "Discharging");
		}
	}
	closedir(d);
	return !mains_online && discharging;
}
