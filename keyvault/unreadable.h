/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Snapshots present in a repository but sealed under key epochs this device does not
 * hold (docs/protection-modes.md, "Recovery", and docs/repository-manifests.md,
 * "Unreadable epochs"): in plain words, for `restore list` and `keyvault status`.
 */
#include <stddef.h>

#include "keyvault/session.h"

/*
 * cf_unreadable_describe - write into @buf (@len bytes, always terminated) which
 * snapshots of @s (cf_session_load_snapshots done) this device cannot read: their
 * sequences where the chain knows them, the key epochs, and the recovery methods whose
 * slots in the repository open those epochs. Writes "" when every snapshot is readable.
 * Returns the number of unreadable manifests (0: nothing to say).
 */
size_t cf_unreadable_describe(struct cf_session *s, char *buf, size_t len);
