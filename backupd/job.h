/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * One backupd job, the same whether `backupd now` runs it in its own process or the
 * daemon runs it on its worker thread: open the session, take the snapshot, report it to
 * the key vault layer, apply the retention policy (forget + prune), measure the
 * repository. The job touches no global state and prints nothing; the caller records
 * the outcome (backupd/statedb.h) and tells the user.
 */
#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "backupd/retain.h"
#include "backupd/snapshot.h"

enum cf_job_kind {
	CF_JOB_BACKUP,    /* snapshot, then retention when a policy is set */
	CF_JOB_RETENTION, /* retention only (`backupd retention`) */
};

struct cf_job {
	/* in */
	enum cf_job_kind kind;
	const char *store, *repo, *state_dir, *cache_dir, *pass_file;
	unsigned pack_mib; /* 0: default */
	struct cf_retain_opts retain;
	const volatile sig_atomic_t *stop; /* non-zero: stop at the next blob */
	cf_snapshot_progress_fn progress;  /* may be NULL */
	void *ctx;

	/* out (cf_job_clear releases) */
	int rc;         /* 0, or what failed (CF_E_*, -errno; -EINTR: stopped) */
	char why[1536]; /* the one-line message when rc != 0 */
	int have_snap;
	struct cf_snapshot_result snap;
	json_t *retention; /* decisions (cf_retain_run), or NULL when no policy ran */
	int retain_rc;     /* 0, or what failed in the retention step (then in retain_why) */
	char retain_why[512];
	json_t *audit;     /* new audit-log entries (JSON array), or NULL */
	int measured;
	uint64_t repo_bytes, repo_objects;
	char protection[16]; /* "" when unknown */
};

/*
 * cf_job_run - run @j (inputs set, outputs zero). Returns j->rc, the outcome of the
 * backup (for a CF_JOB_RETENTION job: of opening the repository). The retention step's
 * own outcome is j->retain_rc / j->retain_why: a backup whose retention failed still
 * committed its snapshot (have_snap).
 */
int cf_job_run(struct cf_job *j);

/* cf_job_clear - release the outputs of @j and zero them. */
void cf_job_clear(struct cf_job *j);

/*
 * cf_job_exit_code - the exit status for @j's outcome: 0; 2 for a configuration error;
 * 1 for any other failure, the retention step's included.
 */
int cf_job_exit_code(const struct cf_job *j);

/* cf_job_summary_json - the snapshot summary `backupd now --json` prints (new reference). */
json_t *cf_job_summary_json(const struct cf_job *j);
