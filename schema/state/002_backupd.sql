-- SPDX-License-Identifier: ISC
--
-- state 002: what `backupd run` and `backupd status` need besides the job history — the
-- daemon's schedule per store, the measured repository size, the protection mode last
-- seen, how far the user has been shown keyvaultd's audit log — and, per job, what started
-- it and a JSON detail (retention decisions, prune results). docs/backupd.md, "Status".

-- One row per message store backed up by this user (its absolute path).
CREATE TABLE backupd_store (
	store TEXT PRIMARY KEY CHECK (length(store) BETWEEN 1 AND 4096),
	-- storage URL (credentials are never part of it)
	repository_url TEXT NOT NULL CHECK (length(repository_url) BETWEEN 1 AND 4096),
	-- when the next scheduled run is due (NULL: no daemon has planned one)
	next_run_at INTEGER,
	-- failed runs in a row since the last success (drives the retry backoff)
	failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	-- total size and number of the objects in storage, measured after the last success
	repository_bytes INTEGER CHECK (repository_bytes IS NULL OR repository_bytes >= 0),
	repository_objects INTEGER CHECK (repository_objects IS NULL OR repository_objects >= 0),
	measured_at INTEGER,
	-- protection mode as the keyvault layer last reported it ('local', 'standard',
	-- 'advanced'); NULL while unknown
	protection TEXT CHECK (protection IS NULL OR length(protection) <= 32),
	-- the highest keyvaultd audit-log entry id already shown to the user
	audit_seen INTEGER NOT NULL DEFAULT 0 CHECK (audit_seen >= 0),
	-- audit-log entries fetched but not shown yet (JSON array), NULL when none
	audit_new TEXT CHECK (audit_new IS NULL OR length(audit_new) <= 65536),
	-- the daemon serving this store, while it runs
	daemon_pid INTEGER,
	daemon_started_at INTEGER,
	-- the configuration file in use and the last reload error (NULL: none)
	config_path TEXT CHECK (config_path IS NULL OR length(config_path) <= 4096),
	config_error TEXT CHECK (config_error IS NULL OR length(config_error) <= 4096),
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What started a job: the schedule, `backupd now`, a retry after a failure, or the daemon's
-- start (a run that was due or interrupted). NULL for jobs of other programs.
ALTER TABLE job ADD COLUMN trigger TEXT
	CHECK (trigger IS NULL OR trigger IN ('schedule', 'now', 'retry', 'start'));
-- The message store a backup job read (absolute path).
ALTER TABLE job ADD COLUMN store TEXT CHECK (store IS NULL OR length(store) <= 4096);
-- A JSON object with the job's details (retention: kept and forgotten snapshots with
-- reasons; prune: packs and bytes deleted).
ALTER TABLE job ADD COLUMN detail TEXT CHECK (detail IS NULL OR length(detail) <= 65536);

CREATE INDEX job_store ON job (store, started_at) WHERE store IS NOT NULL;
