-- SPDX-License-Identifier: ISC
--
-- cache 001: the local repository cache. One database per repository (XDG cache dir,
-- coffer/<repo id>/cache.db).
--
-- REBUILDABLE. Every row is derived from the repository (index objects, pack headers,
-- snapshot manifests) or from the file system. Deleting the file loses time, never data:
-- the next run rebuilds it. Nothing here is a security boundary either: whatever is fetched
-- through it is authenticated again (AEAD, manifest signatures) when it is read.
-- Conventions as in state/001_init.sql; object names and ids are raw bytes.

-- Exactly one row: which repository this cache describes. A cache found for another
-- repository id is discarded, never used.
CREATE TABLE cache_info (
	singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
	repo_id BLOB NOT NULL CHECK (length(repo_id) BETWEEN 16 AND 64),
	-- marks the file as safe to delete (tools check it before removing a cache)
	rebuildable INTEGER NOT NULL DEFAULT 1 CHECK (rebuildable = 1),
	created_at INTEGER NOT NULL,
	-- last complete sync of index_object with the repository's listing
	synced_at INTEGER
) STRICT;

-- Index objects of the repository that have been loaded into pack/blob.
CREATE TABLE index_object (
	id INTEGER PRIMARY KEY,
	name BLOB NOT NULL UNIQUE CHECK (length(name) BETWEEN 16 AND 64),
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	loaded_at INTEGER NOT NULL
) STRICT;

-- Known packs. index_id NULL: uploaded by this device but not yet listed in an index object
-- (an interrupted backup resumes from these). When an index object is superseded (prune),
-- the packs it listed go with it unless a newer index object took them over first.
CREATE TABLE pack (
	id INTEGER PRIMARY KEY,
	-- object name: hash of the pack's ciphertext
	name BLOB NOT NULL UNIQUE CHECK (length(name) BETWEEN 16 AND 64),
	-- the key epoch of every blob in the pack; dedup only reuses blobs of the current epoch
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	-- object size in storage (padded ciphertext)
	size INTEGER NOT NULL CHECK (size > 0),
	blob_count INTEGER NOT NULL CHECK (blob_count >= 0),
	index_id INTEGER REFERENCES index_object (id) ON DELETE CASCADE,
	added_at INTEGER NOT NULL
) STRICT;

CREATE INDEX pack_index ON pack (index_id);
CREATE INDEX pack_epoch ON pack (epoch);

-- The blob index: where each chunk (or metadata blob) is stored. A blob may sit in more than
-- one pack (a resumed upload, a pack rewritten by prune): any copy will do.
CREATE TABLE blob (
	-- keyed BLAKE2b of the plaintext (chunk-id key of the pack's epoch)
	id BLOB NOT NULL CHECK (length(id) BETWEEN 16 AND 64),
	-- the blob type byte of the repository format (data, metadata, ...)
	type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 255),
	pack_id INTEGER NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
	-- byte range of the sealed blob inside the pack
	pack_offset INTEGER NOT NULL CHECK (pack_offset >= 0),
	stored_length INTEGER NOT NULL CHECK (stored_length > 0),
	-- plaintext length before compression
	raw_length INTEGER NOT NULL CHECK (raw_length >= 0),
	PRIMARY KEY (id, type, pack_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX blob_pack ON blob (pack_id, pack_offset);

-- The file cache: a file whose size, times, inode and device are unchanged is not read
-- again; its chunk list is reused, but only while the key epoch is still the current one.
CREATE TABLE file (
	id INTEGER PRIMARY KEY,
	-- relative to the store root; the bytes as on disk (bind with their exact length)
	path TEXT NOT NULL UNIQUE CHECK (length(CAST(path AS BLOB)) BETWEEN 1 AND 4096),
	size INTEGER NOT NULL CHECK (size >= 0),
	mtime_ns INTEGER NOT NULL,
	ctime_ns INTEGER NOT NULL,
	-- st_ino and st_dev; values above INT64_MAX are stored as their two's-complement bits
	inode INTEGER NOT NULL,
	device INTEGER NOT NULL,
	-- epoch of the chunk ids below
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	-- the chunk references in file order (the repository's encoding, opaque here), or the
	-- id of the blob holding them (a long list), or both
	chunks BLOB,
	list_id BLOB CHECK (list_id IS NULL OR length(list_id) BETWEEN 16 AND 64),
	-- the backup run that last saw this path: rows of older runs are vanished files
	seen_run INTEGER NOT NULL,
	CHECK (chunks IS NOT NULL OR list_id IS NOT NULL)
) STRICT;

CREATE INDEX file_seen_run ON file (seen_run);

-- Verified snapshot manifests (a row is added only after its signature and chain check).
CREATE TABLE snapshot (
	-- the manifest object's name
	name BLOB PRIMARY KEY CHECK (length(name) BETWEEN 16 AND 64),
	sequence INTEGER NOT NULL CHECK (sequence >= 0),
	manifest_hash BLOB NOT NULL CHECK (length(manifest_hash) BETWEEN 16 AND 64),
	-- NULL for the first snapshot of the chain
	prev_hash BLOB CHECK (prev_hash IS NULL OR length(prev_hash) BETWEEN 16 AND 64),
	epoch INTEGER NOT NULL CHECK (epoch >= 1),
	-- Ed25519 public key of the device that signed it
	signer BLOB NOT NULL CHECK (length(signer) = 32),
	-- time recorded in the manifest
	created_at INTEGER NOT NULL,
	label TEXT CHECK (label IS NULL OR length(label) <= 256),
	files INTEGER CHECK (files IS NULL OR files >= 0),
	bytes INTEGER CHECK (bytes IS NULL OR bytes >= 0),
	verified_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX snapshot_sequence ON snapshot (sequence);
