/* SPDX-License-Identifier: ISC */
/* backupd/statedb: job rows, the store's row, recovery of dead jobs, status, audit entries. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backupd/statedb.h"
#include "core/error.h"
#include "tests/lib/check.h"

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void test_jobs(const char *dir)
{
	struct cf_statedb *db = NULL;
	struct cf_statedb_store u = {.url = "file:///r"};
	struct cf_statedb_job_end ok = {.status = "ok", .files = 7, .bytes_new = 100,
	                                .bytes_stored = 50, .snapshot_seq = 3,
	                                .detail = "{\"kept\": 2}"};
	struct cf_statedb_job_end bad = {.status = "failed", .error_code = CF_E_NETWORK,
	                                 .error = "backup of /s into file:///r: unreachable",
	                                 .snapshot_seq = -1};
	json_t *st = NULL;
	int64_t a, b, c;

	CHECK_RC(cf_statedb_open(&db, dir, 1), CF_E_NOTFOUND);
	CHECK_RC(cf_statedb_open(&db, dir, 0), 0);
	REQUIRE(db);
	CHECK_RC(cf_statedb_status(db, "/s", &st), CF_E_NOTFOUND);
	CHECK_RC(cf_statedb_status(db, NULL, &st), CF_E_NOTFOUND);

	CHECK_RC(cf_statedb_job_start(db, "backup", "schedule", "/s", &a), 0);
	u.set_next = 1;
	u.next_run_at = 1234;
	CHECK_RC(cf_statedb_store_update(db, "/s", &u), 0);
	CHECK_RC(cf_statedb_status(db, "/s", &st), 0);
	CHECK(st && !strcmp(str(json_object_get(st, "running"), "trigger"), "schedule"));
	CHECK(json_is_null(json_object_get(st, "last_success")));
	CHECK(num(st, "next_run") == 1234 && !strcmp(str(st, "repository"), "file:///r"));
	json_decref(st);

	CHECK_RC(cf_statedb_job_end(db, a, &ok), 0);
	CHECK_RC(cf_statedb_job_start(db, "backup", "retry", "/s", &b), 0);
	CHECK_RC(cf_statedb_job_end(db, b, &bad), 0);
	CHECK_RC(cf_statedb_job_start(db, "retention", NULL, "/s", &c), 0);
	CHECK_RC(cf_statedb_job_end(db, c, &ok), 0);
	u = (struct cf_statedb_store){.url = "file:///r", .set_failures = 1, .failures = 1,
	                              .set_size = 1, .bytes = 4096, .objects = 9,
	                              .set_protection = 1, .protection = "local"};
	CHECK_RC(cf_statedb_store_update(db, "/s", &u), 0);
	CHECK(cf_statedb_failures(db, "/s") == 1);
	CHECK(cf_statedb_failures(db, "/other") == 0);
	CHECK(cf_statedb_last_start(db, "/s", "ok") > 0);
	CHECK(cf_statedb_last_start(db, "/other", NULL) == 0);

	st = NULL;
	CHECK_RC(cf_statedb_status(db, NULL, &st), 0); /* the store of the newest job */
	REQUIRE(st);
	CHECK(!strcmp(str(st, "store"), "/s"));
	CHECK(num(json_object_get(st, "last_success"), "snapshot_sequence") == 3);
	CHECK(num(json_object_get(st, "last_success"), "files") == 7);
	CHECK(!strcmp(str(json_object_get(st, "last_failure"), "error"), bad.error));
	CHECK(num(json_object_get(st, "last_failure"), "error_code") == CF_E_NETWORK);
	CHECK(!strcmp(str(json_object_get(st, "last_run"), "trigger"), "retry"));
	CHECK(json_is_null(json_object_get(st, "running")));
	CHECK(num(json_object_get(json_object_get(st, "last_retention"), "detail"), "kept") == 2);
	CHECK(num(st, "repository_bytes") == 4096 && num(st, "repository_objects") == 9);
	CHECK(num(st, "failures") == 1 && !strcmp(str(st, "protection"), "local"));
	CHECK(num(st, "next_run") == 1234); /* untouched by the later update */
	json_decref(st);

	/* a failed job without a message is refused by the schema */
	bad.error = NULL;
	CHECK_RC(cf_statedb_job_start(db, "backup", "now", "/s", &a), 0);
	CHECK(cf_statedb_job_end(db, a, &bad) != 0);
	bad.status = "cancelled";
	CHECK_RC(cf_statedb_job_end(db, a, &bad), 0);
	cf_statedb_close(db);
}

/* A 'running' row whose process died is marked interrupted by the next start. */
static void test_recover(const char *dir)
{
	struct cf_statedb *db = NULL;
	json_t *st = NULL;
	int64_t id, mine;
	pid_t child;
	int status;

	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct cf_statedb *c = NULL;

		if (cf_statedb_open(&c, dir, 0) || cf_statedb_job_start(c, "backup", "now", "/k", &id))
			_exit(3);
		kill(getpid(), SIGKILL);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK_RC(cf_statedb_open(&db, dir, 0), 0);
	REQUIRE(db);
	CHECK_RC(cf_statedb_job_start(db, "backup", "now", "/k", &mine), 0); /* alive: kept */
	CHECK(cf_statedb_recover(db, "/k") == 1);
	CHECK(cf_statedb_recover(db, "/k") == 0);
	CHECK_RC(cf_statedb_store_update(db, "/k", &(struct cf_statedb_store){.url = "u"}), 0);
	CHECK_RC(cf_statedb_status(db, "/k", &st), 0);
	CHECK(st && !strcmp(str(json_object_get(st, "last_failure"), "status"), "interrupted"));
	CHECK(!strcmp(str(json_object_get(st, "running"), "status"), "running"));
	json_decref(st);
	cf_statedb_close(db);
}

static void test_audit(const char *dir)
{
	struct cf_statedb *db = NULL;
	json_t *e = json_array(), *st = NULL;

	CHECK_RC(cf_statedb_open(&db, dir, 0), 0);
	REQUIRE(db && e);
	for (int i = 0; i < 250; i++)
		json_array_append_new(e, json_pack("{s:i, s:s}", "id", i, "event", "escrow-read"));
	CHECK_RC(cf_statedb_audit_add(db, "/s", e), 0);
	CHECK_RC(cf_statedb_status(db, "/s", &st), 0);
	CHECK(st && json_array_size(json_object_get(st, "audit_new")) == 200);
	CHECK(num(json_array_get(json_object_get(st, "audit_new"), 0), "id") == 50);
	json_decref(st);
	CHECK_RC(cf_statedb_audit_clear(db, "/s"), 0);
	CHECK_RC(cf_statedb_status(db, "/s", &st), 0);
	CHECK(st && json_is_null(json_object_get(st, "audit_new")));
	json_decref(st);
	json_decref(e);
	cf_statedb_close(db);
}

int main(void)
{
	char *root = check_tmpdir(), dir[1024];

	snprintf(dir, sizeof(dir), "%s/state", root);
	test_jobs(dir);
	test_recover(dir);
	test_audit(dir);
	check_rmtree(root);
	free(root);
	return check_finish();
}
