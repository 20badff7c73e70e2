-- SPDX-License-Identifier: ISC
--
-- keyvaultd 001: the key vault service's database (escrow, identity directory, recovery
-- contacts' server shares, freshness witnesses, audit log).
--
-- NOT rebuildable: this is the service's whole state (keyvaultd itself is stateless).
-- Conventions as in state/001_init.sql. Secrets are stored only as hashes (auth keys,
-- session tokens) or sealed (escrow records under the server's escrow key). Triggers here
-- guard invariants of the trust model against bugs in keyvaultd, not against the operator.

-- An account of the messaging app. The password never reaches the server: the client derives
-- an auth key with Argon2id(password, kdf_salt, kdf_opslimit, kdf_memlimit) and the server
-- keeps only a hash of that key.
CREATE TABLE account (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
	-- crypto_pwhash_SALTBYTES
	kdf_salt BLOB NOT NULL CHECK (length(kdf_salt) = 16),
	kdf_opslimit INTEGER NOT NULL CHECK (kdf_opslimit >= 1),
	kdf_memlimit INTEGER NOT NULL CHECK (kdf_memlimit >= 8192),
	auth_hash BLOB NOT NULL CHECK (length(auth_hash) BETWEEN 32 AND 64),
	created_at INTEGER NOT NULL,
	disabled_at INTEGER
) STRICT;

-- Sessions, stored by the hash of their bearer token only.
CREATE TABLE session (
	token_hash BLOB PRIMARY KEY CHECK (length(token_hash) BETWEEN 32 AND 64),
	account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
	last_used_at INTEGER,
	-- client address at login, for the audit log
	address TEXT CHECK (address IS NULL OR length(address) <= 64)
) STRICT, WITHOUT ROWID;

CREATE INDEX session_account ON session (account_id);
CREATE INDEX session_expires ON session (expires_at);

-- Rate limit and lockout per account: requests in the current window, consecutive failed
-- authentications, and the lockout end (NULL: not locked).
CREATE TABLE account_limit (
	account_id INTEGER PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
	window_start INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	locked_until INTEGER
) STRICT;

-- The same per client address (IPv4 address, or IPv6 /64 prefix, as text).
CREATE TABLE address_limit (
	address TEXT PRIMARY KEY CHECK (length(address) BETWEEN 1 AND 64),
	window_start INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	locked_until INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX address_limit_window ON address_limit (window_start);

-- Identity directory: the devices of an account (for sealing envelopes to them and to
-- contacts). Removal is permanent; re-adding a device makes a new row.
CREATE TABLE device (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
	-- the encoded public identity (X25519 + Ed25519), as core/ encodes it
	identity TEXT NOT NULL CHECK (length(identity) BETWEEN 1 AND 512),
	label TEXT CHECK (label IS NULL OR length(label) <= 256),
	-- the device that added it; NULL for the account's first device
	added_by INTEGER REFERENCES device (id) ON DELETE SET NULL,
	added_at INTEGER NOT NULL,
	removed_at INTEGER,
	CHECK (added_by IS NOT id)
) STRICT;

CREATE UNIQUE INDEX device_active_identity ON device (account_id, identity)
	WHERE removed_at IS NULL;
CREATE INDEX device_added_by ON device (added_by);

CREATE TRIGGER device_removal_final
BEFORE UPDATE OF removed_at, identity, account_id ON device
WHEN OLD.removed_at IS NOT NULL
	OR NEW.identity IS NOT OLD.identity
	OR NEW.account_id IS NOT OLD.account_id
BEGIN
	SELECT RAISE(ABORT, 'device: identity and owner are fixed, and removal is final');
END;

-- A backup repository of an account, with its protection mode and current key epoch.
CREATE TABLE repository (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
	repo_id BLOB NOT NULL CHECK (length(repo_id) BETWEEN 16 AND 64),
	protection TEXT NOT NULL CHECK (protection IN ('standard', 'advanced')),
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (account_id, repo_id)
) STRICT;

CREATE TRIGGER repository_epoch_forward
BEFORE UPDATE OF epoch ON repository
WHEN NEW.epoch < OLD.epoch
BEGIN
	SELECT RAISE(ABORT, 'repository: the key epoch can only grow');
END;

-- Escrow records (standard protection only): the epoch's master key sealed under the
-- server's escrow key (key_ref names which: key file id now, HSM key label later). Deleting
-- a record wipes the sealed key and keeps the metadata (secure_delete is on).
CREATE TABLE escrow (
	id INTEGER PRIMARY KEY,
	repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	sealed BLOB CHECK (sealed IS NULL OR length(sealed) BETWEEN 1 AND 4096),
	key_ref TEXT NOT NULL CHECK (length(key_ref) BETWEEN 1 AND 128),
	created_at INTEGER NOT NULL,
	deleted_at INTEGER,
	CHECK ((deleted_at IS NULL) = (sealed IS NOT NULL)),
	UNIQUE (repository_id, epoch)
) STRICT;

CREATE UNIQUE INDEX escrow_live ON escrow (repository_id) WHERE deleted_at IS NULL;

-- Only the current epoch of a repository in standard protection is ever escrowed.
CREATE TRIGGER escrow_standard_only
BEFORE INSERT ON escrow
WHEN NOT EXISTS (SELECT 1 FROM repository
		 WHERE id = NEW.repository_id AND protection = 'standard' AND epoch = NEW.epoch)
BEGIN
	SELECT RAISE(ABORT, 'escrow: only the current epoch of a standard repository');
END;

CREATE TRIGGER escrow_deletion_final
BEFORE UPDATE ON escrow
WHEN OLD.deleted_at IS NOT NULL
BEGIN
	SELECT RAISE(ABORT, 'escrow: a deleted record stays deleted');
END;

-- Switching to advanced requires the live escrow record to be deleted first (same
-- transaction), so no code path leaves the server able to read the new epoch.
CREATE TRIGGER repository_advanced_without_escrow
BEFORE UPDATE OF protection ON repository
WHEN NEW.protection = 'advanced'
	AND EXISTS (SELECT 1 FROM escrow WHERE repository_id = NEW.id AND deleted_at IS NULL)
BEGIN
	SELECT RAISE(ABORT, 'repository: delete the live escrow record before going advanced');
END;

-- The server's share of a recovery-contact split (useless alone). Released only after
-- account authentication; every release attempt is counted, and the tenth destroys it.
CREATE TABLE contact_share (
	id INTEGER PRIMARY KEY,
	repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	share BLOB CHECK (share IS NULL OR length(share) BETWEEN 1 AND 4096),
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 10),
	created_at INTEGER NOT NULL,
	released_at INTEGER,
	deleted_at INTEGER,
	CHECK ((deleted_at IS NULL) = (share IS NOT NULL)),
	UNIQUE (repository_id, epoch)
) STRICT;

CREATE UNIQUE INDEX contact_share_live ON contact_share (repository_id)
	WHERE deleted_at IS NULL;

CREATE TRIGGER contact_share_attempt_limit
AFTER UPDATE OF attempts ON contact_share
WHEN NEW.attempts >= 10 AND NEW.share IS NOT NULL
BEGIN
	UPDATE contact_share SET share = NULL, deleted_at = unixepoch() WHERE id = NEW.id;
END;

-- Mailbox of sealed envelopes (key slots for a new device, recovery requests and answers).
-- The server cannot open them; the sender's identity is also inside the signed envelope.
CREATE TABLE mailbox (
	id INTEGER PRIMARY KEY,
	-- recipient account, and device (NULL: any device of the account)
	account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
	device_id INTEGER REFERENCES device (id) ON DELETE CASCADE,
	sender_device_id INTEGER REFERENCES device (id) ON DELETE SET NULL,
	kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32 AND kind NOT GLOB '*[^a-z-]*'),
	envelope BLOB NOT NULL CHECK (length(envelope) BETWEEN 1 AND 1048576),
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	fetched_at INTEGER
) STRICT;

CREATE INDEX mailbox_recipient ON mailbox (account_id, id);
CREATE INDEX mailbox_device ON mailbox (device_id);
CREATE INDEX mailbox_sender ON mailbox (sender_device_id);
CREATE INDEX mailbox_expiry ON mailbox (expires_at) WHERE expires_at IS NOT NULL;

-- Freshness witness: the newest snapshot head a device of the account reported, signed by
-- that device, so that a new device can detect a rollback of the repository.
CREATE TABLE freshness (
	repository_id INTEGER PRIMARY KEY REFERENCES repository (id) ON DELETE CASCADE,
	sequence INTEGER NOT NULL CHECK (sequence >= 0),
	manifest_hash BLOB NOT NULL CHECK (length(manifest_hash) BETWEEN 16 AND 64),
	-- Ed25519 signature by the device whose public key is signer
	signature BLOB NOT NULL CHECK (length(signature) = 64),
	signer BLOB NOT NULL CHECK (length(signer) = 32),
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER freshness_forward_only
BEFORE UPDATE OF sequence, manifest_hash ON freshness
WHEN NEW.sequence < OLD.sequence
	OR (NEW.sequence = OLD.sequence AND NEW.manifest_hash IS NOT OLD.manifest_hash)
BEGIN
	SELECT RAISE(ABORT, 'freshness: the witnessed head can only move forward');
END;

-- Audit log per account: every escrow store, read, release and deletion, every recovery
-- attempt, device and mode change. Append-only; rows go only with their account.
CREATE TABLE audit (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
	at INTEGER NOT NULL,
	-- e.g. escrow-read, escrow-release, escrow-delete, recovery-attempt, device-add
	event TEXT NOT NULL CHECK (length(event) BETWEEN 1 AND 64 AND event NOT GLOB '*[^a-z-]*'),
	-- who: 'device:<id>', 'contact:<account>', 'operator', 'server'
	actor TEXT CHECK (actor IS NULL OR length(actor) <= 256),
	address TEXT CHECK (address IS NULL OR length(address) <= 64),
	-- event details as a JSON object (json_valid() cannot be used: it is not innocuous, and
	-- Coffer opens every database with trusted_schema off)
	detail TEXT CHECK (detail IS NULL OR (length(detail) BETWEEN 2 AND 4096
		AND detail GLOB '{*}'))
) STRICT;

CREATE INDEX audit_account ON audit (account_id, id);

CREATE TRIGGER audit_no_update
BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit: the log is append-only');
END;

CREATE TRIGGER audit_no_delete
BEFORE DELETE ON audit
WHEN EXISTS (SELECT 1 FROM account WHERE id = OLD.account_id)
BEGIN
	SELECT RAISE(ABORT, 'audit: the log is append-only');
END;
