/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Key derivation.
 *  - cf_kdf_subkey: libsodium crypto_kdf (BLAKE2b) subkeys of a 32-byte master key, by
 *    an 8-character context and a 64-bit subkey id. Used for the backup key hierarchy.
 *  - cf_kdf_argon2id: passwords and recovery keys to keys, Argon2id v1.3 with the
 *    parameters stated below (never caller-chosen numbers, so every slot is auditable).
 */
#include <stddef.h>
#include <stdint.h>

#define CF_KDF_KEY_BYTES 32
#define CF_KDF_CONTEXT_BYTES 8
#define CF_KDF_SUBKEY_MIN 16
#define CF_KDF_SUBKEY_MAX 64
#define CF_ARGON2_SALT_BYTES 16

/*
 * Argon2id parameter sets (stored in formats as the enum value, one byte):
 *  CF_ARGON2_INTERACTIVE  opslimit 2, memlimit 64 MiB  — keychain passphrases, account
 *                         passwords on every login (~0.1-0.3 s on a laptop core).
 *  CF_ARGON2_MODERATE     opslimit 3, memlimit 256 MiB — recovery-key and recovery-
 *                         contact slots, used once per recovery.
 *  CF_ARGON2_TEST         opslimit 1, memlimit 8 KiB — only accepted when the
 *                         process set CF_ARGON2_ALLOW_TEST (tests); refused otherwise.
 */
enum cf_argon2_params {
	CF_ARGON2_INTERACTIVE = 1,
	CF_ARGON2_MODERATE = 2,
	CF_ARGON2_TEST = 255,
};

/*
 * cf_kdf_subkey - derive @outlen (16..64) bytes into @out from @key for (@id, @ctx).
 * @ctx is exactly 8 bytes (not NUL-terminated), e.g. "cfchunk\0"-style labels.
 * Returns 0 or CF_E_INVAL.
 */
int cf_kdf_subkey(uint8_t *out, size_t outlen, uint64_t id,
		  const char ctx[CF_KDF_CONTEXT_BYTES], const uint8_t key[CF_KDF_KEY_BYTES]);

/*
 * cf_kdf_argon2id - derive @outlen bytes from @pw with @salt under parameter set @p.
 * Returns 0; CF_E_INVAL for an unknown or disallowed set; -ENOMEM when the memory limit
 * cannot be allocated.
 */
int cf_kdf_argon2id(uint8_t *out, size_t outlen, const void *pw, size_t pwlen,
		    const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params p);

/*
 * cf_kdf_argon2_allow_test - allow CF_ARGON2_TEST for this process (tests only).
 * Also enabled by the environment variable CF_ARGON2_ALLOW_TEST=1.
 */
void cf_kdf_argon2_allow_test(void);
