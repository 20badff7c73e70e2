/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The key hierarchy of one repository as this device sees it: on a new repository, the
 * first key epoch, this device's key slot and the roster of trusted signers; on an
 * existing one, the epochs this device holds (keychain, or its device slots in the
 * repository) and the rosters that say whose snapshots to trust.
 */
#include "keyvault/keychain.h"
#include "repo/repo.h"

/*
 * cf_vault_attach - load this device's keys for @r into it (cf_repo_set_keys). When @r
 * was just created, make epoch 1: a random master key, a device slot for this device and
 * a roster listing it, stored in the repository before the keychain records the key (so
 * a failed keychain save loses nothing: the slot gives the key back).
 * Returns 0; CF_E_NOTFOUND when this device holds no key for the repository ("recover
 * it with a recovery method"); CF_E_CORRUPT when no valid roster exists for an epoch
 * this device holds; CF_E_BUSY when the keychain changed on disk meanwhile; storage
 * errors; -ENOMEM.
 */
int cf_vault_attach(struct cf_repo *r, struct cf_keychain *kc);
