/* SPDX-License-Identifier: ISC */
/* `backupd status`: what the state database and the store lock say, for people or JSON. */
#include "backupd/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backupd/statedb.h"
#include "backupd/storelock.h"
#include "core/error.h"
#include "keyvault/witness.h"
#include "util/cli.h"
#include "util/log.h"

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static const char *when(char *buf, size_t cap, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long long ago = (long long)time(NULL) - t;
	char rel[48];

	if (t <= 0 || !localtime_r(&tt, &tm)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	if (ago >= 0)
		snprintf(rel, sizeof(rel), "%lld %s ago", ago < 120 ? ago : ago < 7200 ? ago / 60 : ago / 3600,
		         ago < 120 ? "s" : ago < 7200 ? "min" : "h");
	else
		snprintf(rel, sizeof(rel), "in %lld %s", -ago < 120 ? -ago : -ago < 7200 ? -ago / 60 : -ago / 3600,
		         -ago < 120 ? "s" : -ago < 7200 ? "min" : "h");
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + strlen(buf), cap - strlen(buf), " (%s)", rel);
	return buf;
}

static void job_line(const char *label, const json_t *j)
{
	char a[64], b[32], c[32];

	if (!json_is_object(j)) {
		printf("%-17s none\n", label);
		return;
	}
	printf("%-17s %s", label, when(a, sizeof(a), num(j, "started_at")));
	if (!strcmp(str(j, "status"), "ok"))
		printf(", snapshot #%lld: %lld files, %s new, %s stored",
		       num(j, "snapshot_sequence"), num(j, "files"),
		       cf_cli_human(b, sizeof(b), (uint64_t)num(j, "bytes_new")),
		       cf_cli_human(c, sizeof(c), (uint64_t)num(j, "bytes_stored")));
	else
		printf(", %s: %s", str(j, "status"), str(j, "error"));
	if (*str(j, "trigger"))
		printf(" [%s]", str(j, "trigger"));
	putchar('\n');
}

static void protection_line(const json_t *st)
{
	const char *p = str(st, "protection");

	if (!strcmp(p, "local"))
		printf("%-17s local: only this user's trusted devices hold the key (no key vault "
		       "account, no recovery method)\n", "Protection:");
	else if (!strcmp(p, "standard"))
		printf("%-17s standard: the key is escrowed with the key vault (its operator can "
		       "read backups; each release is logged)\n", "Protection:");
	else if (!strcmp(p, "advanced"))
		printf("%-17s advanced: only trusted devices and recovery methods hold the key\n",
		       "Protection:");
	else
		printf("%-17s unknown (no successful backup recorded it yet)\n", "Protection:");
}

static void retention_line(const json_t *j)
{
	const json_t *d = json_object_get(j, "detail"), *p;
	char a[64], b[32];

	if (!json_is_object(j))
		return;
	printf("%-17s %s: ", "Retention:", when(a, sizeof(a), num(j, "started_at")));
	if (strcmp(str(j, "status"), "ok")) {
		printf("failed: %s\n", str(j, "error"));
		return;
	}
	printf("%lld kept, %lld forgotten", num(d, "kept"), num(d, "forgotten"));
	p = json_object_get(d, "prune");
	if (json_is_object(p))
		printf(", prune deleted %lld packs (%s)", num(p, "packs_deleted"),
		       cf_cli_human(b, sizeof(b), (uint64_t)num(p, "bytes_deleted")));
	putchar('\n');
}

static void print_human(const json_t *st)
{
	const json_t *d = json_object_get(st, "daemon"), *run = json_object_get(st, "running"),
	             *audit = json_object_get(st, "audit_new"), *e;
	char a[64], b[32], line[512];
	size_t i;

	printf("%-17s %s\n", "Store:", str(st, "store"));
	printf("%-17s %s\n", "Repository:", str(st, "repository"));
	if (json_is_object(d))
		printf("%-17s running, pid %lld (%s) since %s\n", "Daemon:", num(d, "pid"),
		       str(d, "role"), when(a, sizeof(a), num(d, "since")));
	else
		printf("%-17s not running\n", "Daemon:");
	protection_line(st);
	job_line("Last success:", json_object_get(st, "last_success"));
	job_line("Last failure:", json_object_get(st, "last_failure"));
	if (json_is_object(run))
		printf("%-17s %s since %s [%s]\n", "Running now:", str(run, "kind"),
		       when(a, sizeof(a), num(run, "started_at")), str(run, "trigger"));
	if (json_is_object(d) && !strcmp(str(d, "role"), "daemon"))
		printf("%-17s %s\n", "Next run:",
		       json_is_object(run) ? "after the running one"
		                           : when(a, sizeof(a), num(st, "next_run")));
	else
		printf("%-17s none planned (no daemon: 'backupd run' schedules backups)\n",
		       "Next run:");
	if (num(st, "failures"))
		printf("%-17s %lld in a row (retried with backoff)\n", "Failures:",
		       num(st, "failures"));
	if (json_is_integer(json_object_get(st, "repository_bytes")))
		printf("%-17s %s in %lld objects (measured %s)\n", "Repository size:",
		       cf_cli_human(b, sizeof(b), (uint64_t)num(st, "repository_bytes")),
		       num(st, "repository_objects"), when(a, sizeof(a), num(st, "measured_at")));
	retention_line(json_object_get(st, "last_retention"));
	if (*str(st, "config_error"))
		printf("%-17s %s\n", "Config error:", str(st, "config_error"));
	if (json_array_size(audit)) {
		printf("Key vault audit log, %zu new entr%s:\n", json_array_size(audit),
		       json_array_size(audit) == 1 ? "y" : "ies");
		json_array_foreach(audit, i, e)
		{
			cf_audit_describe(e, line, sizeof(line));
			printf("  %s\n", line);
		}
	} else {
		printf("%-17s no new entries\n", "Key vault audit:");
	}
}

int cf_status_run(const char *state_dir, const char *lock_dir, const char *store, int json)
{
	struct cf_statedb *db = NULL;
	struct cf_storelock_info who = {0};
	char *dir = NULL;
	json_t *st = NULL;
	int r;

	r = cf_statedb_open(&db, state_dir, 1);
	if (r == CF_E_VERSION) /* written by an older build: bring it up to date */
		r = cf_statedb_open(&db, state_dir, 0);
	if (!r)
		r = cf_statedb_status(db, store, &st);
	if (r == CF_E_NOTFOUND) {
		cf_statedb_close(db);
		if (json)
			cf_cli_print_json(json_pack("{s:s?, s:b}", "store", store, "recorded", 0));
		else
			printf("No backup%s%s recorded yet in %s/state.db.\n", store ? " of " : "",
			       store ? store : "", state_dir);
		return 0;
	}
	if (r) {
		cf_statedb_close(db);
		return cf_cli_report("backupd", json, r, "read the state database in %s", state_dir);
	}
	json_object_set_new(st, "recorded", json_true());
	json_object_set_new(st, "daemon", json_null());
	if (!cf_storelock_dir(&dir, lock_dir) &&
	    !cf_storelock_holder(dir, json_string_value(json_object_get(st, "store")), &who))
		json_object_set_new(st, "daemon",
		                    json_pack("{s:I, s:s, s:I}", "pid", (json_int_t)who.pid, "role",
		                              who.role, "since", (json_int_t)who.started));
	free(dir);
	if (json)
		cf_cli_print_json(json_incref(st));
	else
		print_human(st);
	cf_statedb_close(db);
	/* the audit entries shown are no longer new */
	if (json_array_size(json_object_get(st, "audit_new")) &&
	    !cf_statedb_open(&db, state_dir, 0)) {
		cf_statedb_audit_clear(db, json_string_value(json_object_get(st, "store")));
		cf_statedb_close(db);
	}
	json_decref(st);
	return 0;
}
