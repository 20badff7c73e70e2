/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * backupd's records in the client state database (<state dir>/state.db, schema/state/):
 * one `job` row per backup or retention run (what started it, how it ended and why), and
 * one `backupd_store` row per message store (next run, failures in a row, repository
 * size, protection mode, the daemon serving it). `backupd status` reads them back.
 * Every write is its own transaction; errors are logged once here.
 */
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

struct cf_statedb;

/*
 * cf_statedb_open - open (creating and migrating it, unless @rdonly) <@state_dir>/state.db;
 * the folder is created 0700 when missing (not with @rdonly). Sets *@out only on success.
 * Returns 0; CF_E_NOTFOUND (@rdonly and no database); errors of cf_schema_open.
 */
int cf_statedb_open(struct cf_statedb **out, const char *state_dir, int rdonly);

/* cf_statedb_close - close. Accepts NULL. */
void cf_statedb_close(struct cf_statedb *db);

/*
 * cf_statedb_recover - mark the 'running' jobs of @store whose process is gone as
 * 'interrupted' (killed, power lost). The caller holds the store lock: every running
 * backup of another process is then dead (a reused pid does not fool it); other jobs
 * count as dead when their pid no longer exists. Returns the number marked (>= 0) or an
 * error.
 */
int cf_statedb_recover(struct cf_statedb *db, const char *store);

/*
 * cf_statedb_job_start - a new 'running' job row of @kind ("backup", "retention") for
 * @store, started by @trigger ("schedule", "now", "retry", "start"; NULL for none) by
 * this process. *@id receives its id. Returns 0 or an error.
 */
int cf_statedb_job_start(struct cf_statedb *db, const char *kind, const char *trigger,
                         const char *store, int64_t *id);

/* How a job ended. */
struct cf_statedb_job_end {
	const char *status; /* "ok", "failed", "cancelled", "interrupted" */
	int error_code;     /* 0, CF_E_* or -errno */
	const char *error;  /* the one-line message (required for "failed") */
	uint64_t files, bytes_new, bytes_stored;
	int64_t snapshot_seq; /* -1: none */
	const char *detail;   /* a JSON object as text, or NULL */
};

/* cf_statedb_job_end - record the end of job @id. Returns 0 or an error. */
int cf_statedb_job_end(struct cf_statedb *db, int64_t id, const struct cf_statedb_job_end *e);

/* Fields of a store's row to change (the others are left as they are). */
struct cf_statedb_store {
	const char *url; /* required */
	int set_next;
	int64_t next_run_at; /* 0: none */
	int set_failures;
	unsigned failures;
	int set_size;
	int64_t bytes, objects;
	int set_protection;
	const char *protection; /* NULL: unknown */
	int set_daemon;
	pid_t pid; /* 0: no daemon */
	const char *config_path;
	int set_config_error;
	const char *config_error; /* NULL: none */
};

/* cf_statedb_store_update - create or change @store's row. Returns 0 or an error. */
int cf_statedb_store_update(struct cf_statedb *db, const char *store,
                            const struct cf_statedb_store *u);

/*
 * cf_statedb_audit_add - append the key vault audit entries @entries (a JSON array) to
 * those of @store not shown yet (the newest 200 are kept). cf_statedb_audit_clear - mark
 * them shown. Both return 0 or an error.
 */
int cf_statedb_audit_add(struct cf_statedb *db, const char *store, const json_t *entries);
int cf_statedb_audit_clear(struct cf_statedb *db, const char *store);

/*
 * cf_statedb_failures - the failures in a row recorded for @store (0 when no row).
 * cf_statedb_last_start - the start of @store's newest backup job with status @status
 * (NULL: any), 0 when none.
 */
unsigned cf_statedb_failures(struct cf_statedb *db, const char *store);
int64_t cf_statedb_last_start(struct cf_statedb *db, const char *store, const char *status);

/*
 * cf_statedb_status - everything `backupd status` shows for @store (NULL: the store of
 * the newest backup job) as a new JSON object (docs/backupd.md, "Status"). Returns 0;
 * CF_E_NOTFOUND (nothing recorded for it); -ENOMEM; database errors.
 */
int cf_statedb_status(struct cf_statedb *db, const char *store, json_t **out);
