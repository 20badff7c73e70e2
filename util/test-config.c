/* SPDX-License-Identifier: ISC */
/* util/config: every key parsed, every kind of mistake named by file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "tests/lib/check.h"
#include "util/config.h"
#include "util/log.h"

static struct cf_config *parse_ok(const char *text)
{
	struct cf_config *c = NULL;
	char err[512];
	int rc = cf_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err));

	if (rc)
		fprintf(stderr, "unexpected failure %d: %s\n", rc, err);
	CHECK(rc == 0 && c);
	return c;
}

/* @text must fail with a message starting with @prefix (file:line: [section] key). */
static void parse_bad(const char *text, const char *prefix)
{
	struct cf_config *c = NULL;
	char err[512];
	int rc = cf_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err));

	CHECK_RC(rc, CF_E_CONFIG);
	CHECK(c == NULL);
	if (strncmp(err, prefix, strlen(prefix))) {
		fprintf(stderr, "for %s\n  got  '%s'\n  want '%s...'\n", text, err, prefix);
		CHECK(!"message prefix");
	}
	cf_config_free(c);
}

static void test_defaults(void)
{
	struct cf_config *c = parse_ok("");

	if (!c)
		return;
	CHECK(c->interval == 3600 && c->jitter == 0 && c->window_start == -1);
	CHECK(c->skip_on_battery == 1 && !strcmp(c->power_supply, "/sys/class/power_supply"));
	CHECK(c->retry_min == 60 && c->retry_max == 3600);
	CHECK(c->prune == 1 && c->prune_grace == 3600 && c->log_level == CF_LOG_INFO);
	CHECK(!c->store && !c->repo_url && !c->keyvault_url && c->nstorage == 0);
	CHECK(!c->keep_last && !c->keep_daily && !c->keep_within);
	cf_config_free(c);
}

static void test_all_keys(void)
{
	static const char text[] =
	    "; a comment\n"
	    "# another\n"
	    "[store]\n"
	    "path = /home/u/Messages\n"
	    "lock_dir = ~/run\n"
	    "[repository]\n"
	    "url = s3://bucket/prefix\n"
	    "state_dir = /s\n"
	    "cache_dir = /c\n"
	    "passphrase_file = /p ; inline comment\n"
	    "pack_size = 8\n"
	    "[schedule]\n"
	    "interval = 90m\n"
	    "jitter = 30\n"
	    "window = 22:30 - 06:00\n"
	    "skip_on_battery = No\n"
	    "power_supply_path = /tmp/ps\n"
	    "retry_min = 10s\n"
	    "retry_max = 2h\n"
	    "[retention]\n"
	    "keep_last = 3\n"
	    "keep_hourly = 24\n"
	    "keep_daily = 7\n"
	    "keep_weekly = 4\n"
	    "keep_monthly = 12\n"
	    "keep_yearly = 2\n"
	    "keep_within = 2w\n"
	    "prune = off\n"
	    "prune_grace = 0\n"
	    "[keyvault]\n"
	    "url = https://kv.example.org:8443\n"
	    "[storage]\n"
	    "region = eu-west-1\n"
	    "secret_access_key_file = /k\n"
	    "[log]\n"
	    "level = debug\n";
	struct cf_config *c;

	setenv("HOME", "/home/u", 1);
	c = parse_ok(text);
	if (!c)
		return;
	CHECK(!strcmp(c->store, "/home/u/Messages") && !strcmp(c->lock_dir, "/home/u/run"));
	CHECK(!strcmp(c->repo_url, "s3://bucket/prefix") && !strcmp(c->state_dir, "/s"));
	CHECK(!strcmp(c->cache_dir, "/c") && !strcmp(c->passphrase_file, "/p"));
	CHECK(c->pack_mib == 8 && c->interval == 5400 && c->jitter == 30);
	CHECK(c->window_start == 22 * 60 + 30 && c->window_end == 6 * 60);
	CHECK(c->skip_on_battery == 0 && !strcmp(c->power_supply, "/tmp/ps"));
	CHECK(c->retry_min == 10 && c->retry_max == 7200);
	CHECK(c->keep_last == 3 && c->keep_hourly == 24 && c->keep_daily == 7);
	CHECK(c->keep_weekly == 4 && c->keep_monthly == 12 && c->keep_yearly == 2);
	CHECK(c->keep_within == 14 * 86400 && c->prune == 0 && c->prune_grace == 0);
	CHECK(!strcmp(c->keyvault_url, "https://kv.example.org:8443"));
	CHECK(c->log_level == CF_LOG_DEBUG && c->nstorage == 2);
	if (c->nstorage == 2) {
		CHECK(!strcmp(c->storage[0].key, "region") && c->storage[0].line == 33);
		CHECK(!strcmp(c->storage[1].value, "/k") && c->storage[1].line == 34);
	}
	cf_config_free(c);

	/* a bare absolute path is a file:// repository; a window ending at 24:00 */
	c = parse_ok("[repository]\nurl = /backups/coffer\n[schedule]\nwindow=00:00-24:00\n");
	if (c) {
		CHECK(!strcmp(c->repo_url, "/backups/coffer"));
		CHECK(c->window_start == 0 && c->window_end == 24 * 60);
	}
	cf_config_free(c);
}

static void test_errors(void)
{
	parse_bad("[schedule]\ninterval = 5 minutes\n", "t.conf:2: [schedule] interval: '5 minutes'");
	parse_bad("[schedule]\n\ninterval = -1\n", "t.conf:3: [schedule] interval:");
	parse_bad("[schedule]\ninterval = 0\n", "t.conf:2: [schedule] interval: must be at least");
	parse_bad("[schedule]\njitter = 1y\n", "t.conf:2: [schedule] jitter:");
	parse_bad("[schedule]\ninterval = 99999999999999999999\n", "t.conf:2: [schedule] interval:");
	parse_bad("[schedule]\nintervall = 1h\n", "t.conf:2: [schedule] intervall: unknown key");
	parse_bad("[schedule]\nwindow = 25:00-01:00\n", "t.conf:2: [schedule] window:");
	parse_bad("[schedule]\nwindow = 01:00-01:00\n", "t.conf:2: [schedule] window:");
	parse_bad("[schedule]\nwindow = 1:00-3:00\n", "t.conf:2: [schedule] window:");
	parse_bad("[schedule]\nskip_on_battery = maybe\n", "t.conf:2: [schedule] skip_on_battery:");
	parse_bad("[schedule]\nretry_min = 1h\nretry_max = 1m\n",
	          "t.conf:3: [schedule] retry_max: retry_max must not be shorter");
	parse_bad("[schedule]\nretry_min = 2h\n", "t.conf:2: [schedule] retry_min: retry_max");
	parse_bad("[retention]\nkeep_daily = 7\nkeep_daily = 8\n",
	          "t.conf:3: [retention] keep_daily: given twice (first on line 2)");
	parse_bad("[retention]\nkeep_last = -3\n", "t.conf:2: [retention] keep_last:");
	parse_bad("[retention]\nkeep_last = 3x\n", "t.conf:2: [retention] keep_last:");
	parse_bad("[retention]\nkeep_last = 1000001\n", "t.conf:2: [retention] keep_last:");
	parse_bad("[retention]\nprune = perhaps\n", "t.conf:2: [retention] prune:");
	parse_bad("[repository]\npack_size = 65\n", "t.conf:2: [repository] pack_size:");
	parse_bad("[repository]\npack_size = 0\n", "t.conf:2: [repository] pack_size:");
	parse_bad("[repository]\nurl = ftp://x/y\n", "t.conf:2: [repository] url:");
	parse_bad("[repository]\nurl = relative/path\n", "t.conf:2: [repository] url:");
	parse_bad("[repository]\nstate_dir = relative\n", "t.conf:2: [repository] state_dir:");
	parse_bad("[repository]\nurl =\n", "t.conf:2: [repository] url: empty value");
	parse_bad("[keyvault]\nurl = kv.example.org\n", "t.conf:2: [keyvault] url:");
	parse_bad("[log]\nlevel = loud\n", "t.conf:2: [log] level:");
	parse_bad("[colour]\nblue = 1\n", "t.conf:2: [colour] blue: unknown section");
	parse_bad("path = /x\n", "t.conf:1: path: a key before any [section]");
	parse_bad("[store]\npath = /x\nnonsense\n", "t.conf:3: not a '[section]'");
	parse_bad("[store\npath = /x\n", "t.conf:1: not a '[section]'");
	parse_bad("[storage]\nRegion = x\n", "t.conf:2: [storage] Region: not a key name");
	parse_bad("[storage]\n:region = x\n", "t.conf:2: a value without a key name");
	parse_bad("[store]\n = /x\n", "t.conf:2:");
	parse_bad("[storage]\nregion = x\nregion = y\n",
	          "t.conf:3: [storage] region: given twice (first on line 2)");
	/* the earliest error is reported, whatever its kind */
	parse_bad("[schedule]\ninterval = x\n[nope]\na = b\n", "t.conf:2: [schedule] interval:");
	parse_bad("[nope]\na = b\n[schedule]\ninterval = x\n", "t.conf:2: [nope] a:");
	{
		char longline[400];

		snprintf(longline, sizeof(longline), "[store]\npath = /%0250d\n[log]\nlevel = x\n", 0);
		parse_bad(longline, "t.conf:2: line longer than");
	}
	{
		static const char nul[] = "[store]\npath = /a\0b\n";
		struct cf_config *c = NULL;
		char err[256];

		CHECK_RC(cf_config_parse(&c, "t.conf", nul, sizeof(nul) - 1, err, sizeof(err)),
		         CF_E_CONFIG);
		CHECK(!strncmp(err, "t.conf:2: a NUL byte", 20));
	}
}

static void test_durations(void)
{
	uint64_t v = 7;
	char buf[64];

	CHECK(!cf_config_parse_duration("0", &v) && v == 0);
	CHECK(!cf_config_parse_duration("45", &v) && v == 45);
	CHECK(!cf_config_parse_duration("3w", &v) && v == 21 * 86400);
	CHECK(cf_config_parse_duration("", &v) == -1 && v == 21 * 86400);
	CHECK(cf_config_parse_duration("1h30m", &v) == -1);
	CHECK(cf_config_parse_duration(" 1h", &v) == -1);
	CHECK(cf_config_parse_duration("1H", &v) == -1);
	CHECK(cf_config_parse_duration("36600d", &v) == 0);
	CHECK(cf_config_parse_duration("36700d", &v) == -1);
	CHECK(!strcmp(cf_config_format_duration(buf, sizeof(buf), 5400), "1h30m"));
	CHECK(!strcmp(cf_config_format_duration(buf, sizeof(buf), 0), "0s"));
	CHECK(!strcmp(cf_config_format_duration(buf, sizeof(buf), 90061), "1d1h1m1s"));
}

static void test_files(void)
{
	char *dir = check_tmpdir(), path[512], err[512];
	struct cf_config *c = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/none.conf", dir);
	CHECK_RC(cf_config_load(&c, path, err, sizeof(err)), CF_E_NOTFOUND);
	CHECK(strstr(err, "none.conf: cannot open") != NULL);
	/* no file at the default path: defaults, no error */
	setenv("XDG_CONFIG_HOME", dir, 1);
	CHECK_RC(cf_config_load(&c, NULL, err, sizeof(err)), 0);
	CHECK(c && c->path == NULL && c->interval == 3600);
	cf_config_free(c);
	c = NULL;
	/* the default path when present */
	snprintf(path, sizeof(path), "%s/coffer", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/coffer/coffer.conf", dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("[schedule]\ninterval = 2m\n", f);
	fclose(f);
	CHECK_RC(cf_config_load(&c, NULL, err, sizeof(err)), 0);
	CHECK(c && c->path && !strcmp(c->path, path) && c->interval == 120);
	cf_config_free(c);
	c = NULL;
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("[schedule]\ninterval = soon\n", f);
	fclose(f);
	CHECK_RC(cf_config_load(&c, path, err, sizeof(err)), CF_E_CONFIG);
	CHECK(!strncmp(err, path, strlen(path)) && strstr(err, ":2: [schedule] interval:"));
	CHECK_RC(cf_config_load(&c, dir, err, sizeof(err)), CF_E_CONFIG); /* a folder */
	CHECK(c == NULL);
	check_rmtree(dir);
	free(dir);
}

int main(void)
{
	test_defaults();
	test_all_keys();
	test_errors();
	test_durations();
	test_files();
	return check_finish();
}
