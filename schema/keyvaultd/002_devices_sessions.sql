-- SPDX-License-Identifier: ISC
--
-- keyvaultd 002: pending devices and device-bound sessions (docs/keyvaultd-api.md).
--
-- A new device may ask to join an account (pending) until an active device approves it;
-- approval is final. A session may prove once that it speaks for one of the account's
-- devices (a signature over its token), or be opened by an active device alone (a signed,
-- timestamped device login, for unattended backups); the audit log then names that
-- device, and routes that change protection require it.

-- 1: asked to be added, not yet approved by an active device
ALTER TABLE device ADD COLUMN pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1));

CREATE TRIGGER device_approval_final
BEFORE UPDATE OF pending ON device
WHEN NEW.pending > OLD.pending
BEGIN
	SELECT RAISE(ABORT, 'device: approval is final');
END;

-- the newest "time" of a device login (POST /v1/session/device-login) accepted for this
-- device, so that a signed login request cannot be replayed
ALTER TABLE device ADD COLUMN login_time INTEGER;

-- the device this session proved to be; NULL: a session of the account password only
ALTER TABLE session ADD COLUMN device_id INTEGER REFERENCES device (id) ON DELETE CASCADE;

CREATE INDEX session_device ON session (device_id) WHERE device_id IS NOT NULL;
