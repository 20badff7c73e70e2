/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Coffer error convention (all components).
 *
 * Functions return int: 0 on success; a positive CF_E_* code below for an expected,
 * documented outcome the caller may act on; a negative errno (-ENOMEM, -EIO, ...) passed
 * through from the system. An error is logged once, where it is detected; callers pass
 * the code up unchanged. cf_strerror() turns either kind into a sentence for people.
 *
 * The numeric values are stable (they appear in --json output): append, never renumber.
 */
enum {
	CF_OK = 0,
	CF_E_AUTH = 1,         /* authentication failed: wrong key, tampered ciphertext */
	CF_E_NOTFOUND = 2,     /* the named thing does not exist */
	CF_E_CORRUPT = 3,      /* well-formed framing but inconsistent content */
	CF_E_FORMAT = 4,       /* not our format, or malformed (bad magic, trailing bytes) */
	CF_E_VERSION = 5,      /* our format, but a version this build does not read */
	CF_E_TRUNCATED = 6,    /* input ends before the format says it should */
	CF_E_LIMIT = 7,        /* a count or size exceeds a documented limit */
	CF_E_SIGNATURE = 8,    /* a signature does not verify under the claimed key */
	CF_E_UNTRUSTED = 9,    /* signed by a key that is not in the trusted set */
	CF_E_NOTRECIPIENT = 10, /* an envelope not addressed to this device */
	CF_E_CHECKSUM = 11,    /* a human-typed code has a typo (see the group mask) */
	CF_E_PERM = 12,        /* a secret file is readable by others, or not ours */
	CF_E_EXISTS = 13,      /* refusing to overwrite something that exists */
	CF_E_INVAL = 14,       /* invalid argument from the caller */
	CF_E_BUSY = 15,        /* locked or in use by someone else */
	CF_E_ROLLBACK = 16,    /* older state served than this device has already seen */
	CF_E_CRYPTO = 17,      /* the crypto library failed (init, RNG); should not happen */
	CF_E_IO = 18,          /* an I/O error that has no errno (e.g. SQLite, libarchive) */
	CF_E_CONFIG = 19,      /* configuration missing or invalid */
	CF_E_NETWORK = 20,     /* remote unreachable or protocol failure */
	CF_E_UNSAFE = 21,      /* refused for safety (path escape, device node, ...) */
	CF_E__MAX
};

/*
 * cf_strerror - a short English sentence for an error code.
 * @err: 0, a CF_E_* code, or a negative errno.
 * Returns a static string; never NULL; thread-safe.
 */
const char *cf_strerror(int err);

/*
 * cf_error_name - the symbolic name of a code ("CF_E_AUTH", "ENOMEM", "OK").
 * For machine-readable output (--json). Returns a static string; never NULL.
 */
const char *cf_error_name(int err);
