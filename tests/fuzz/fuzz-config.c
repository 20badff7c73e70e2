/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the configuration parser (util/config.c, inih underneath) on
 * arbitrary bytes. Accepted: every value is within its documented range, paths are
 * absolute, [storage] keys are well-formed. Refused: CF_E_CONFIG with a message that
 * starts with the file name and names a line that exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
	if (p && p[0] != '/')
		abort();
}

static void check_ok(const struct cf_config *c)
{
	char buf[64];

	if (c->interval < 1 || c->interval > CF_CONFIG_MAX_DURATION || c->retry_min < 1 ||
	    c->retry_max < c->retry_min || c->jitter > CF_CONFIG_MAX_DURATION)
		abort();
	if ((c->window_start < 0) != (c->window_end < 0) || c->window_start >= 24 * 60 ||
	    c->window_end > 24 * 60 || (c->window_start >= 0 && c->window_start == c->window_end))
		abort();
	if (c->pack_mib > 64 || c->keep_last > 1000000 || c->keep_yearly > 1000000)
		abort();
	check_path(c->store);
	check_path(c->lock_dir);
	check_path(c->state_dir);
	check_path(c->cache_dir);
	check_path(c->passphrase_file);
	check_path(c->power_supply);
	for (size_t i = 0; i < c->nstorage; i++) {
		if (!c->storage[i].key[0] || !c->storage[i].value[0] || c->storage[i].line < 1)
			abort();
		for (const char *k = c->storage[i].key; *k; k++)
			if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
				abort();
	}
	cf_config_format_duration(buf, sizeof(buf), c->interval);
	cf_config_format_duration(buf, sizeof(buf), CF_CONFIG_MAX_DURATION);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_config *c = NULL;
	char err[512];
	size_t lines = 1;
	long line;
	int r;

	r = cf_config_parse(&c, "fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (!r) {
		if (!c)
			abort();
		check_ok(c);
		cf_config_free(c);
		return 0;
	}
	if (r != CF_E_CONFIG || c)
		abort();
	if (strncmp(err, "fuzz.conf:", 10))
		abort();
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	line = strtol(err + 10, NULL, 10);
	if (line < 1 || (size_t)line > lines)
		abort();
	return 0;
}
