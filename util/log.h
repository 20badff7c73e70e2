/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Logging for daemons and CLIs: one line per event to stderr (journald picks it up with
 * the level as a <N> prefix when CF_LOG_JOURNAL is set or stderr is the journal stream).
 * Messages never contain secrets or credentials: callers log names, never values.
 */
#include <stdarg.h>

enum cf_log_level {
	CF_LOG_ERR = 3,
	CF_LOG_WARN = 4,
	CF_LOG_INFO = 6,
	CF_LOG_DEBUG = 7,
};

/* cf_log_set_level - messages above @lvl are dropped. Default CF_LOG_INFO. */
void cf_log_set_level(enum cf_log_level lvl);

/* cf_log_set_prog - the program name printed before each line ("backupd"). */
void cf_log_set_prog(const char *name);

/* cf_log - printf-style message at @lvl. Thread-safe (one write per line). */
void cf_log(enum cf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cf_log_err(...) cf_log(CF_LOG_ERR, __VA_ARGS__)
#define cf_log_warn(...) cf_log(CF_LOG_WARN, __VA_ARGS__)
#define cf_log_info(...) cf_log(CF_LOG_INFO, __VA_ARGS__)
#define cf_log_debug(...) cf_log(CF_LOG_DEBUG, __VA_ARGS__)
