/* SPDX-License-Identifier: ISC */
#include "util/config.h"
#include "util/config-internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

int cf_config_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int cf_config_parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		char unit;
		uint64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	uint64_t v = 0, mul = 1;
	const char *q = s;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*q); q++) {
		if (v > CF_CONFIG_MAX_DURATION)
			return -1;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (*q) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].unit == *q)
				break;
		if (i == sizeof(units) / sizeof(units[0]) || q[1])
			return -1;
		mul = units[i].secs;
	}
	if (v > CF_CONFIG_MAX_DURATION / mul)
		return -1;
	*out = v * mul;
	return 0;
}

const char *cf_config_format_duration(char *buf, size_t cap, uint64_t secs)
{
	static const struct {
		const char *unit;
		uint64_t secs;
	} units[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}};
	size_t off = 0;

	if (!cap)
		return buf;
	buf[0] = '\0';
	if (!secs) {
		snprintf(buf, cap, "0s");
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < cap; i++) {
		uint64_t n = secs / units[i].secs;
		int w;

		if (!n)
			continue;
		secs -= n * units[i].secs;
		w = snprintf(buf + off, cap - off, "%llu%s", (unsigned long long)n, units[i].unit);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

int cf_config_parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
	                                                                          "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* "HH:MM" into minutes after midnight. */
static int parse_clock(const char *s, size_t len, int *out)
{
	if (len != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || m > 59 || (h == 24 && m))
		return -1;
	*out = h * 60 + m;
	return 0;
}

int cf_config_parse_window(const char *v, int *start, int *end)
{
	const char *dash = strchr(v, '-');
	size_t a, b;

	if (!dash)
		return -1;
	a = (size_t)(dash - v);
	while (a && v[a - 1] == ' ')
		a--;
	dash++;
	while (*dash == ' ')
		dash++;
	b = strlen(dash);
	if (parse_clock(v, a, start) || parse_clock(dash, b, end))
		return -1;
	if (*start == 24 * 60)
		*start = 0;
	if (*end == 0)
		*end = 24 * 60;
	return *start == *end % (24 * 60) && *end != 24 * 60 ? -1 : 0;
}

int cf_config_parse_level(const char *v, int *out)
{
	static const struct {
		const char *name;
		int level;
	} lv[] = {{"error", CF_LOG_ERR},
	          {"warning", CF_LOG_WARN},
	          {"info", CF_LOG_INFO},
	          {"debug", CF_LOG_DEBUG}};

	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++)
		if (!strcasecmp(v, lv[i].name)) {
			*out = lv[i].level;
			return 0;
		}
	return -1;
}

