/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The settings of one backupd run: the configuration file (util/config.h) overlaid by the
 * command line (which wins), with the defaults filled in; plus recording a job's outcome
 * in the state database the same way for `backupd now` and the daemon.
 *
 * The [storage] keys are checked with the storage layer (cf_storage_options_set) when
 * the settings are loaded, so a bad one is reported with its file, line and key before
 * anything runs. They reach the storage layer through its COFFER_STORAGE_<KEY>
 * environment variables (repo/storage.h), set by cf_settings_apply_storage for this
 * process; a variable already set by the user wins over the file. A secret value
 * (secret_access_key, session_token, password) is accepted in the file only when the
 * file is private (mode 0600 or stricter); else its *_file form or the environment.
 */
#include <stddef.h>
#include <stdint.h>

#include "backupd/job.h"
#include "backupd/retain.h"
#include "backupd/schedule.h"
#include "backupd/statedb.h"
#include "util/config.h"

/* What the command line says (NULL / 0: not given). */
struct cf_settings_args {
	const char *config, *store, *repo, *state_dir, *cache_dir, *pass_file;
	unsigned pack_mib;
};

struct cf_settings {
	struct cf_config *cfg;
	char *config_path;  /* the file read, or NULL */
	char *store;        /* absolute, symbolic links resolved; NULL when not set */
	char *repo;         /* NULL when not set */
	char *state_dir, *cache_dir;
	const char *pass_file; /* in cfg or the arguments, or NULL */
	unsigned pack_mib;
	struct cf_schedule sched;
	struct cf_retain_opts retain;
	char **env_set; /* the COFFER_STORAGE_* variables this process set */
	size_t nenv;
};

/*
 * cf_settings_load - read the configuration (@a->config, else the default path) and
 * overlay @a. With @need_store, the store and the repository must be given (here or in
 * the file). Sets *@out only on success. On failure one line saying what is wrong goes
 * to @err (@cap bytes). Returns 0; CF_E_CONFIG (invalid file, missing store or
 * repository, a bad [storage] key); CF_E_NOTFOUND (the named file does not exist);
 * -errno; -ENOMEM.
 */
int cf_settings_load(struct cf_settings **out, const struct cf_settings_args *a, int need_store,
                     char *err, size_t cap);

/* cf_settings_free - release @s (the environment it set stays). Accepts NULL. */
void cf_settings_free(struct cf_settings *s);

/*
 * cf_settings_apply_storage - set the COFFER_STORAGE_* variables for @s's [storage] keys,
 * after removing those @old (may be NULL) set. Call only while no job runs (the
 * environment is not thread-safe). Returns 0 or -ENOMEM.
 */
int cf_settings_apply_storage(struct cf_settings *s, struct cf_settings *old);

/* cf_settings_job - the inputs of a job of @kind from @s. */
void cf_settings_job(const struct cf_settings *s, enum cf_job_kind kind, struct cf_job *j);

/*
 * cf_settings_record - record the end of job @id (from cf_statedb_job_start) of @s in
 * @db: the backup row ("ok", "failed", or "cancelled" when @cancelled), a retention row
 * when one ran, and the store's row (failures in a row, size, protection, new audit
 * entries). *@failures (may be NULL) receives the failures in a row after this job.
 * Returns 0 or a database error (logged).
 */
int cf_settings_record(struct cf_statedb *db, const struct cf_settings *s, int64_t id,
                       const struct cf_job *j, int cancelled, unsigned *failures);
