/* SPDX-License-Identifier: ISC */
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum cf_log_level max_level = CF_LOG_INFO;
static const char *prog = "coffer";

void cf_log_set_level(enum cf_log_level lvl)
{
	max_level = lvl;
}

void cf_log_set_prog(const char *name)
{
	prog = name;
}

static const char *level_word(enum cf_log_level lvl)
{
	switch (lvl) {
	case CF_LOG_ERR:
		return "error";
	case CF_LOG_WARN:
		return "warning";
	case CF_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void cf_log(enum cf_log_level lvl, const char *fmt, ...)
{
	char line[2048];
	int n, off;
	va_list ap;

	if (lvl > max_level)
		return;
	if (getenv("JOURNAL_STREAM") || getenv("CF_LOG_JOURNAL"))
		off = snprintf(line, sizeof(line), "<%d>%s: ", (int)lvl, prog);
	else
		off = snprintf(line, sizeof(line), "%s: %s: ", prog, level_word(lvl));
	if (off < 0 || (size_t)off >= sizeof(line))
		off = 0;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - (size_t)off - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	n += off;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
