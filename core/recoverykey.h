/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Recovery keys: 140 random bits a person writes down and types back.
 *
 * Text form: 7 groups of 5 characters separated by '-', e.g. "7K2QD-…". Each group is 4
 * data characters and 1 check character from the Crockford base-32 alphabet
 * (0-9 A-Z without I L O U: no look-alike pairs). The check character makes a weighted
 * sum over GF(32) (weights alpha^j by position) equal a per-group tag alpha^g — so any
 * single substitution and any transposition inside a group is detected, a group typed in
 * another group's place is detected, and the failing group is named, before any network
 * call. Input is forgiving: case-insensitive, O read as 0,
 * I and L read as 1, spaces and dashes ignored. Specified in docs/formats.md.
 *
 * Binary form: the 28 data symbols (140 bits) packed big-endian into 18 bytes, the last
 * 4 bits zero. This is what recovery-key slots feed to Argon2id.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"

#define CF_RECOVERY_KEY_GROUPS 7
#define CF_RECOVERY_KEY_GROUP_CHARS 5
#define CF_RECOVERY_KEY_BITS 140
#define CF_RECOVERY_KEY_BYTES 18
#define CF_RECOVERY_KEY_TEXT_LEN (CF_RECOVERY_KEY_GROUPS * 6) /* 41 chars + NUL */

/*
 * cf_recoverykey_generate - a fresh recovery key: *@bytes receives the binary form
 * (CF_RECOVERY_KEY_BYTES) and *@text the text form (NUL-terminated, 41 characters),
 * both new secure buffers, set only on success. Returns 0 or -ENOMEM.
 */
int cf_recoverykey_generate(struct cf_secbuf **bytes, struct cf_secbuf **text);

/*
 * cf_recoverykey_format - the text form of @bytes into @text (CF_RECOVERY_KEY_TEXT_LEN).
 * Returns 0, or CF_E_INVAL when the 4 padding bits are not zero.
 */
int cf_recoverykey_format(char text[CF_RECOVERY_KEY_TEXT_LEN],
			  const uint8_t bytes[CF_RECOVERY_KEY_BYTES]);

/*
 * cf_recoverykey_parse - parse a typed recovery key. On success *@bytes is a new secure
 * buffer with the binary form. @bad_groups (may be NULL) receives a bit mask of the
 * groups found wrong: bit g-1 for group g, counting from 1 (0 on success).
 * Returns 0; CF_E_INVAL for NULL arguments; CF_E_FORMAT for a character outside the
 * alphabet (its group is in the mask)
 * or a wrong number of characters (mask 0); CF_E_CHECKSUM when a group's check fails;
 * -ENOMEM.
 */
int cf_recoverykey_parse(struct cf_secbuf **bytes, const char *text, unsigned *bad_groups);

/*
 * cf_recoverykey_describe - a sentence naming the bad groups of @bad_groups, e.g.
 * "group 3 has a typo" / "groups 3 and 4 have typos", into @buf (NUL-terminated).
 */
void cf_recoverykey_describe(char *buf, size_t len, unsigned bad_groups);
