/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * A session: everything a command needs to work on one repository as this device —
 * the keychain (passphrase from a file or COFFER_PASSPHRASE), the repository with this
 * device's keys and signers, a synced cache, and the snapshot list checked against what
 * this device has seen. backupd and restore both start here.
 */
#include <stdint.h>

#include "keyvault/keychain.h"
#include "repo/repo.h"
#include "repo/snapshots.h"

struct cf_session_opts {
	const char *repo_url;        /* required */
	const char *state_dir;       /* keychain folder; NULL: $XDG_STATE_HOME/coffer */
	const char *cache_dir;       /* NULL: $XDG_CACHE_HOME/coffer */
	const char *passphrase_file; /* NULL: COFFER_PASSPHRASE, else none */
	int create;                  /* initialise an absent or empty repository */
	uint64_t pack_size;          /* 0: default */
	const struct cf_storage_options *storage; /* [storage] settings; NULL: environment */
};

struct cf_session {
	struct cf_keychain *kc;
	struct cf_repo *repo;
	struct cf_snapshots *snaps; /* after cf_session_load_snapshots */
	char *state_dir, *cache_dir;
};

/*
 * cf_session_open - open the keychain and the repository, attach this device's keys and
 * sync the cache. Sets *@out only on success; errors are logged once with what failed.
 * Returns 0 or the failing step's code (CF_E_NOTFOUND for a missing keychain or
 * repository, CF_E_AUTH for a wrong passphrase, CF_E_VERSION, CF_E_CONFIG, ...).
 */
int cf_session_open(struct cf_session **out, const struct cf_session_opts *o);

/*
 * cf_session_load_snapshots - load and verify every snapshot against the newest this
 * device has seen, then record the newest as seen (so a later rollback is detected).
 * Returns 0, CF_E_ROLLBACK, CF_E_CORRUPT (broken chain), or an error.
 */
int cf_session_load_snapshots(struct cf_session *s);

/*
 * cf_session_record_seen - record @seq/@id (a snapshot this device just wrote or saw)
 * in the keychain and save it. Returns 0 or an error (CF_E_ROLLBACK, CF_E_BUSY, ...).
 */
int cf_session_record_seen(struct cf_session *s, uint64_t seq, const uint8_t id[32]);

/* cf_session_free - close everything. Accepts NULL. */
void cf_session_free(struct cf_session *s);

/*
 * cf_session_read_passphrase - the keychain passphrase from @file (first line; "-":
 * standard input) or $COFFER_PASSPHRASE, into secure memory with a NUL; *@out NULL when
 * neither gives one. Returns 0, CF_E_CONFIG (unreadable or empty file), -ENOMEM.
 */
int cf_session_read_passphrase(const char *file, struct cf_secbuf **out);

/*
 * cf_session_default_dir - "$XDG_<KIND>_HOME/coffer" or "$HOME/<fallback>/coffer" into a
 * new string (caller frees). @kind is "STATE" or "CACHE".
 */
char *cf_session_default_dir(const char *kind);
