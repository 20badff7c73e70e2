/* SPDX-License-Identifier: ISC */
#pragma once

/* The usage texts and option tables of the backupd commands (backupd-cli.c). */
#include <getopt.h>

enum {
	CF_OPT_CONFIG = 256,
	CF_OPT_STORE,
	CF_OPT_STATE_DIR,
	CF_OPT_CACHE_DIR,
	CF_OPT_PASS_FILE,
	CF_OPT_PACK_SIZE,
	CF_OPT_JSON,
	CF_OPT_DRY_RUN,
	CF_OPT_NO_WAIT,
};

extern const char cf_usage_main[], cf_usage_now[], cf_usage_run[], cf_usage_status[],
    cf_usage_retention[], cf_usage_config[];
extern const struct option cf_opts_now[], cf_opts_run[], cf_opts_status[], cf_opts_retention[],
    cf_opts_config[];
