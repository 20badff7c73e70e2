/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The device keychain: one file, <state-dir>/keychain (mode 0600), holding this device's
 * secrets:
 *  - the identity seed (core/identity.h);
 *  - per repository (32-byte repository id): the key epochs this device holds (epoch
 *    number -> 32-byte master key) and which epoch is current;
 *  - per repository: the newest snapshot this device has seen (sequence number and
 *    manifest hash), for rollback detection. It lives here, not in the rebuildable cache.
 *
 * The file is sealed with XChaCha20-Poly1305, under a key from Argon2id of an optional
 * passphrase (or a fixed all-zero key in "none" mode: integrity against damage only;
 * secrecy then rests on the file mode). Byte layout: docs/keychain.md.
 *
 * Changes made through this API live in memory until cf_keychain_save(). A handle stays
 * tied to the file version it read or last wrote: saving over a keychain that another
 * process rewrote meanwhile is refused (CF_E_BUSY), so nothing is silently lost.
 *
 * Return convention: 0, a CF_E_* code, or a negative errno; *out is set only on success.
 * Expected failures that the code alone does not explain (passphrase required, unknown
 * version, loose permissions, ...) are logged once here with util/log; callers report the
 * code without repeating the detail.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"

#define CF_KEYCHAIN_FILE          "keychain"
#define CF_KEYCHAIN_REPO_ID_BYTES 32
#define CF_KEYCHAIN_KEY_BYTES     32
#define CF_KEYCHAIN_HASH_BYTES    32

/*
 * Limits (docs/keychain.md, "Limits"). Besides the two counts, the whole file must fit in
 * CF_KEYFILE_MAX_BYTES (1 MiB): about 27 000 epoch keys in all. A change that would break
 * any limit is refused with CF_E_LIMIT and leaves the keychain unchanged.
 */
#define CF_KEYCHAIN_MAX_REPOS      4096
#define CF_KEYCHAIN_MAX_EPOCHS     4096 /* per repository */
#define CF_KEYCHAIN_MAX_PASSPHRASE 4096 /* bytes */

struct cf_keychain;

/* What cf_keychain_repo_info reports about one repository; no key material. */
struct cf_keychain_repo_info {
	uint8_t repo_id[CF_KEYCHAIN_REPO_ID_BYTES];
	uint32_t epochs; /* number of epoch keys held */
	int has_current; /* 0: no epoch was made current yet */
	uint32_t current_epoch;
	int has_seen; /* 0: no snapshot seen yet */
	uint64_t seen_seq;
	uint8_t seen_hash[CF_KEYCHAIN_HASH_BYTES];
};

/*
 * cf_keychain_create - make a new identity and write a new keychain in @state_dir, which
 * is created (with missing parents) mode 0700 if absent. @passphrase NULL means no
 * passphrase; otherwise 1..CF_KEYCHAIN_MAX_PASSPHRASE bytes.
 * Returns 0; CF_E_EXISTS when a keychain is already there (it is left untouched);
 * CF_E_INVAL for an empty @state_dir or passphrase; CF_E_LIMIT for a too long passphrase;
 * -errno (folder or file creation).
 */
int cf_keychain_create(struct cf_keychain **out, const char *state_dir, const char *passphrase);

/*
 * cf_keychain_open - read and decrypt the keychain in @state_dir. @passphrase may be NULL;
 * it is ignored when the keychain has none.
 * Returns 0; CF_E_NOTFOUND when there is no keychain; CF_E_PERM when it is accessible by
 * group or others, not ours, or a symlink; CF_E_AUTH for a wrong passphrase, a missing
 * one (logged as "passphrase required") or a tampered file; CF_E_VERSION for a format
 * version this build does not read; CF_E_TRUNCATED for a short file; CF_E_FORMAT or
 * CF_E_CORRUPT for a malformed one; CF_E_LIMIT beyond a limit; CF_E_UNSAFE for a file
 * written with the test-only Argon2 parameters outside tests; CF_E_BUSY when the file was
 * replaced while being read; -errno.
 */
int cf_keychain_open(struct cf_keychain **out, const char *state_dir, const char *passphrase);

/* cf_keychain_free - wipe and release every secret of @kc. Accepts NULL. */
void cf_keychain_free(struct cf_keychain *kc);

/* cf_keychain_identity - this device's identity; valid until cf_keychain_free. */
const struct cf_identity *cf_keychain_identity(const struct cf_keychain *kc);

/* cf_keychain_path - the keychain file's path; valid until cf_keychain_free. */
const char *cf_keychain_path(const struct cf_keychain *kc);

/* cf_keychain_has_passphrase - 1 when saves are protected by a passphrase, else 0. */
int cf_keychain_has_passphrase(const struct cf_keychain *kc);

/*
 * cf_keychain_save - atomically rewrite the keychain file from memory, with a fresh salt
 * and nonce (so a passphrase costs one Argon2id run per save).
 * Returns 0; CF_E_BUSY when the file changed on disk (or vanished) since @kc read or last
 * wrote it: reopen and redo the change; -errno.
 */
int cf_keychain_save(struct cf_keychain *kc);

/*
 * cf_keychain_repo_key - copy the master key of @epoch for @repo_id into @key.
 * Returns 0, or CF_E_NOTFOUND (unknown repository or epoch; @key is untouched).
 */
int cf_keychain_repo_key(const struct cf_keychain *kc, const uint8_t repo_id[32], uint32_t epoch,
                         uint8_t key[32]);

/*
 * cf_keychain_repo_put_key - hold @key as the master key of @epoch for @repo_id; with
 * @make_current, @epoch also becomes the current epoch. Putting the same key again is a
 * no-op. Returns 0; CF_E_EXISTS when @epoch is held with a different key (a key is never
 * replaced); CF_E_ROLLBACK when @make_current names an epoch older than the current one
 * (epochs only move forward); CF_E_LIMIT; -ENOMEM. On error nothing changes.
 */
int cf_keychain_repo_put_key(struct cf_keychain *kc, const uint8_t repo_id[32], uint32_t epoch,
                             const uint8_t key[32], int make_current);

/*
 * cf_keychain_repo_current - the current epoch of @repo_id into *@epoch.
 * Returns 0, or CF_E_NOTFOUND when the repository is unknown or has no current epoch.
 */
int cf_keychain_repo_current(const struct cf_keychain *kc, const uint8_t repo_id[32],
                             uint32_t *epoch);

/* cf_keychain_repo_count - how many repositories the keychain knows. */
size_t cf_keychain_repo_count(const struct cf_keychain *kc);

/*
 * cf_keychain_repo_info - describe the @index-th repository (0-based, in repository-id
 * order) into *@out, without key material. Returns 0, or CF_E_NOTFOUND past the end.
 */
int cf_keychain_repo_info(const struct cf_keychain *kc, size_t index,
                          struct cf_keychain_repo_info *out);

/*
 * cf_keychain_seen_get - the newest snapshot this device saw in @repo_id: sequence number
 * into *@seq and manifest hash into @hash. Returns 0, or CF_E_NOTFOUND when never seen.
 */
int cf_keychain_seen_get(const struct cf_keychain *kc, const uint8_t repo_id[32], uint64_t *seq,
                         uint8_t hash[32]);

/*
 * cf_keychain_seen_update - record that snapshot @seq with manifest @hash was seen in
 * @repo_id. The record only moves forward: a higher @seq replaces it; the same @seq with
 * the same @hash is a no-op. Returns 0; CF_E_ROLLBACK for a lower @seq, or the same @seq
 * with another hash (a fork); CF_E_LIMIT (a new repository beyond the limits); -ENOMEM.
 */
int cf_keychain_seen_update(struct cf_keychain *kc, const uint8_t repo_id[32], uint64_t seq,
                            const uint8_t hash[32]);

/*
 * cf_keychain_set_passphrase - protect later saves with @passphrase, or with none when
 * NULL. Takes effect at the next cf_keychain_save. Returns 0; CF_E_INVAL for an empty
 * passphrase; CF_E_LIMIT beyond CF_KEYCHAIN_MAX_PASSPHRASE bytes; -ENOMEM.
 */
int cf_keychain_set_passphrase(struct cf_keychain *kc, const char *passphrase);

/*
 * Test and fuzzing hooks; never called by programs.
 *
 * cf_keychain_testing_fast_kdf - make this process write passphrase keychains with the
 * CF_ARGON2_TEST parameters (recorded in the file) and allow reading them. Programs
 * always write CF_ARGON2_INTERACTIVE and refuse TEST files (CF_E_UNSAFE), whatever the
 * environment says.
 *
 * cf_keychain_testing_parse_body - run the body parser over @len untrusted plaintext
 * bytes (what the AEAD protects) and discard the result. Returns what cf_keychain_open
 * would return for that body: 0, CF_E_FORMAT, CF_E_CORRUPT, CF_E_TRUNCATED, CF_E_LIMIT
 * or -ENOMEM.
 */
void cf_keychain_testing_fast_kdf(void);
int cf_keychain_testing_parse_body(const uint8_t *body, size_t len);
