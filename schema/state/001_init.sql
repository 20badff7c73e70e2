-- SPDX-License-Identifier: ISC
--
-- state 001: the client state database (one per user; XDG state dir, coffer/state.db, 0600).
--
-- NOT rebuildable: it records which repositories this device uses, what it has seen of them
-- and its job history. Conventions for every Coffer database:
--   * times are Unix seconds (UTC) unless the column name says otherwise (_ns);
--   * ids and hashes are raw bytes (BLOB), never hex text;
--   * no secret is ever stored here: keys live in the keychain, credentials in the config;
--   * CHECKs never compare two wall-clock times (clocks step backwards).

-- A repository this device backs up to or restores from.
CREATE TABLE repository (
	id INTEGER PRIMARY KEY,
	-- storage URL (file://, https://, s3://); credentials are never part of it
	url TEXT NOT NULL UNIQUE CHECK (length(url) BETWEEN 1 AND 4096),
	-- the repository's random id, as in its config object (bound into every AEAD)
	repo_id BLOB NOT NULL UNIQUE CHECK (length(repo_id) BETWEEN 16 AND 64),
	format_version INTEGER NOT NULL CHECK (format_version >= 1),
	protection TEXT NOT NULL CHECK (protection IN ('standard', 'advanced')),
	-- the key epoch new data is written under
	key_epoch INTEGER NOT NULL CHECK (key_epoch >= 1),
	added_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- The newest snapshot this device has seen per repository: a copy for `status` and a second
-- witness. The keychain holds the authoritative value (docs/schema.md, "Rollback detection").
CREATE TABLE seen_head (
	repository_id INTEGER PRIMARY KEY REFERENCES repository (id) ON DELETE CASCADE,
	sequence INTEGER NOT NULL CHECK (sequence >= 0),
	manifest_hash BLOB NOT NULL CHECK (length(manifest_hash) BETWEEN 16 AND 64),
	seen_at INTEGER NOT NULL
) STRICT;

-- Moving back, or a different manifest under the same sequence (a fork), is refused here too.
-- Write with UPDATE or INSERT ... ON CONFLICT DO UPDATE; INSERT OR REPLACE bypasses this.
CREATE TRIGGER seen_head_forward_only
BEFORE UPDATE OF sequence, manifest_hash ON seen_head
WHEN NEW.sequence < OLD.sequence
	OR (NEW.sequence = OLD.sequence AND NEW.manifest_hash IS NOT OLD.manifest_hash)
BEGIN
	SELECT RAISE(ABORT, 'seen_head: the newest snapshot seen can only move forward');
END;

-- Metadata of the key slots found in a repository (the slots themselves live there), so that
-- `keyvault status` can say who can read what without fetching them.
CREATE TABLE key_slot (
	repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
	-- the slot's name in the repository
	slot_id TEXT NOT NULL CHECK (length(slot_id) BETWEEN 1 AND 128),
	kind TEXT NOT NULL CHECK (kind IN ('device', 'escrow', 'recovery-key', 'contact')),
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	created_at INTEGER NOT NULL,
	-- shown to the user: device name, contact name
	label TEXT CHECK (label IS NULL OR length(label) <= 256),
	-- who opens it: device identity fingerprint or contact account; NULL for escrow/recovery-key
	holder TEXT CHECK (holder IS NULL OR length(holder) <= 512),
	PRIMARY KEY (repository_id, slot_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX key_slot_epoch ON key_slot (repository_id, epoch, kind);

-- One row per job (backup, restore, check, prune, rekey, ...). A row left 'running' by a
-- process that died is marked 'interrupted' by the next start.
CREATE TABLE job (
	id INTEGER PRIMARY KEY,
	repository_id INTEGER REFERENCES repository (id) ON DELETE SET NULL,
	kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32 AND kind NOT GLOB '*[^a-z-]*'),
	started_at INTEGER NOT NULL,
	ended_at INTEGER,
	status TEXT NOT NULL
		CHECK (status IN ('running', 'ok', 'failed', 'cancelled', 'interrupted')),
	-- process running it, while 'running'
	pid INTEGER,
	-- 0, a CF_E_* code or a negative errno; and the one-line message shown to the user
	error_code INTEGER,
	error TEXT CHECK (error IS NULL OR length(error) <= 4096),
	-- files processed; bytes of new data found; bytes uploaded (compressed, encrypted, padded)
	files INTEGER NOT NULL DEFAULT 0 CHECK (files >= 0),
	bytes_new INTEGER NOT NULL DEFAULT 0 CHECK (bytes_new >= 0),
	bytes_stored INTEGER NOT NULL DEFAULT 0 CHECK (bytes_stored >= 0),
	-- the snapshot a backup committed
	snapshot_sequence INTEGER CHECK (snapshot_sequence IS NULL OR snapshot_sequence >= 0),
	CHECK ((status = 'running') = (ended_at IS NULL)),
	CHECK (status <> 'failed' OR error IS NOT NULL)
) STRICT;

CREATE INDEX job_started ON job (started_at);
CREATE INDEX job_repository ON job (repository_id, started_at);
CREATE INDEX job_running ON job (status) WHERE status = 'running';

-- Small persistent settings that are not configuration (the config file wins for those).
CREATE TABLE setting (
	key TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
	value TEXT NOT NULL CHECK (length(value) <= 65536),
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
