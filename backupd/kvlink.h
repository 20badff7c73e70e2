/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * What backupd asks of the key vault layer (keyvault/, issue 6) after a backup: the
 * repository's protection mode, reporting the new snapshot to keyvaultd's freshness
 * witness, and fetching the audit-log entries the user has not seen. A device without a
 * key vault account gets "local" and no entries; nothing here fails a backup.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "keyvault/session.h"

/*
 * cf_kvlink_protection - "local", "standard" or "advanced" for @s's repository into
 * @mode (@cap bytes). Returns 0, or the key vault layer's error (@mode then "").
 */
int cf_kvlink_protection(struct cf_session *s, char *mode, size_t cap);

/*
 * cf_kvlink_after_backup - report snapshot @seq / @id to the witness and fetch new
 * audit-log entries into *@audit (a new JSON array, maybe empty; NULL on failure).
 * Returns 0, or the first error (logged as a warning); CF_E_ROLLBACK from the witness
 * means keyvaultd saw a newer or different head: the caller records it as a failure.
 */
int cf_kvlink_after_backup(struct cf_session *s, uint64_t seq, const uint8_t id[32],
                           json_t **audit);
