/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Forgetting a snapshot (`restore forget`): a signed forget record first, then the
 * manifest is deleted — in that order, so the gap the deletion leaves in the chain is
 * always explained (docs/repository-format.md, "Forget records"). The data only the
 * snapshot referenced stays until `restore prune` removes it.
 */
#include <stdint.h>

#include "repo/manifest.h"
#include "repo/repo.h"

/*
 * cf_restore_forget - forget snapshot @m of @r (a verified, present manifest; keys
 * attached) at time @now. @record (may be NULL) receives the forget record's id.
 * Forgetting a snapshot whose record is already stored (a forget interrupted before the
 * deletion) writes a second record for it, which the chain accepts, and deletes it.
 * Returns 0; CF_E_INVAL (no current keys or identity); storage errors. If the manifest
 * cannot be deleted after the record was stored, the error is returned and the record
 * stays: the snapshot is then forgotten for every reader (it no longer appears in the
 * list) and running forget again finishes the deletion.
 */
int cf_restore_forget(struct cf_repo *r, const struct cf_manifest *m, uint64_t now,
                      uint8_t record[32]);
