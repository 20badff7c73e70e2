/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The configuration file, coffer.conf: one INI file (parsed by inih) at
 * $XDG_CONFIG_HOME/coffer/coffer.conf (else ~/.config/coffer/coffer.conf), or the file
 * named by --config. Every key is documented in docs/configuration.md and in
 * coffer.conf(5); this module knows all of them and validates the whole file at once.
 *
 * A problem is reported as "FILE:LINE: [section] key: what is wrong" (the first one; the
 * file is read to the end so that the line numbers are right). Unknown sections and keys,
 * a key given twice, a value of the wrong kind or out of range, a line that is not
 * "[section]" or "key = value" are all errors: a typo never silently becomes a default.
 *
 * Secrets are not values of this file (except the [storage] credentials, which the
 * storage layer accepts only from a file nobody else can read): the keychain passphrase
 * comes from passphrase_file or $COFFER_PASSPHRASE; storage credentials from *_file keys
 * or the environment (docs/storage.md).
 *
 * The [storage] section is not interpreted here: its keys belong to the storage layer
 * (repo/storage.h, cf_storage_options_set), which validates them; they are kept in file
 * order with their line numbers so that its complaints can name the line too.
 */
#include <stddef.h>
#include <stdint.h>

#define CF_CONFIG_MAX_LINE 198 /* bytes of one line, newline excluded (inih's buffer) */
#define CF_CONFIG_MAX_DURATION (100ull * 366 * 86400) /* a century, in seconds */

/* A key = value of the [storage] section, as written. */
struct cf_config_entry {
	char *key, *value;
	int line;
};

/* The effective settings. Unset strings are NULL; numbers hold their defaults. */
struct cf_config {
	char *path; /* the file read, or NULL when none was (defaults only) */

	/* [store] */
	char *store;    /* path: the message store folder */
	char *lock_dir; /* where the store lock and the control socket live */

	/* [repository] */
	char *repo_url;
	char *state_dir, *cache_dir;
	char *passphrase_file;
	unsigned pack_mib; /* 0: the engine's default */

	/* [schedule] */
	uint64_t interval;    /* seconds between scheduled runs; default 3600 */
	uint64_t jitter;      /* up to this many seconds added at random; default 0 */
	int window_start;     /* minutes after local midnight, or -1 (any time) */
	int window_end;       /* end of the window (exclusive); may be < start (crosses midnight) */
	int skip_on_battery;  /* do not start a scheduled run while on battery; default 1 */
	char *power_supply;   /* default /sys/class/power_supply */
	uint64_t retry_min;   /* first retry after a failure; default 60 */
	uint64_t retry_max;   /* the longest wait between retries; default 3600 */

	/* [retention] */
	unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	uint64_t keep_within; /* seconds; 0: not used */
	int prune;            /* prune after forgetting; default 1 */
	uint64_t prune_grace; /* seconds; default 3600 */

	/* [keyvault] */
	char *keyvault_url;

	/* [log] */
	int log_level; /* enum cf_log_level; default CF_LOG_INFO */

	/* [storage], uninterpreted */
	struct cf_config_entry *storage;
	size_t nstorage;
};

/*
 * cf_config_default_path - "$XDG_CONFIG_HOME/coffer/coffer.conf", else
 * "$HOME/.config/coffer/coffer.conf", as a new string (the caller frees it); NULL when
 * neither variable is set (or out of memory).
 */
char *cf_config_default_path(void);

/*
 * cf_config_load - read and validate the file @path into a new struct cf_config (*@out,
 * set only on success; free with cf_config_free). With @path NULL the default path is
 * used, and a missing default file is not an error (the defaults are returned, ->path
 * NULL); a file named by @path must exist.
 * On failure one line saying what is wrong ("FILE:LINE: [section] key: ...", or
 * "FILE: ..." for the file as a whole) is written to @err (@errlen bytes); nothing is
 * logged. Returns 0; CF_E_CONFIG for an invalid file or value; CF_E_NOTFOUND for a
 * missing @path; -errno when the file cannot be read; -ENOMEM.
 */
int cf_config_load(struct cf_config **out, const char *path, char *err, size_t errlen);

/*
 * cf_config_parse - cf_config_load from @len bytes at @text (no NUL needed), @name
 * standing for the file in messages. Same returns (never CF_E_NOTFOUND). For the fuzzer
 * and unit tests; cf_config_load reads the file and calls this.
 */
int cf_config_parse(struct cf_config **out, const char *name, const char *text, size_t len,
                    char *err, size_t errlen);

/* cf_config_free - release @c, wiping the [storage] values. Accepts NULL. */
void cf_config_free(struct cf_config *c);

/*
 * cf_config_parse_duration - "90", "90s", "15m", "6h", "1d", "2w" (a whole number and at
 * most one unit) into seconds, at most CF_CONFIG_MAX_DURATION. Returns 0, or -1 (*@out
 * unchanged).
 */
int cf_config_parse_duration(const char *s, uint64_t *out);

/*
 * cf_config_format_duration - @secs for people in the units above ("1h30m", "2d", "0s")
 * into @buf. Returns @buf.
 */
const char *cf_config_format_duration(char *buf, size_t cap, uint64_t secs);
