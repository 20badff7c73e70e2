/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * keyvaultd's freshness witness and audit log, for the daemon and the recovery path
 * (docs/protection-modes.md, "Freshness witness", "Audit log").
 *
 * The witness of a repository is the newest snapshot head (sequence, manifest id) a
 * trusted device reported, signed by that device (context "coffer-witness-v1", message
 * repo_id[32] | sequence u64 LE | 32 | manifest id[32]). A new device that never saw the
 * repository compares it with what storage serves: storage behind the witness is a
 * rollback (CF_E_ROLLBACK).
 *
 * For backupd (to be wired by the daemon): after each snapshot, cf_witness_post(); at the
 * end of `backupd now`, cf_audit_new() and print each entry with cf_audit_describe().
 * Both do nothing (return 0) for a device without a key vault account.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "keyvault/kvclient.h"
#include "keyvault/session.h"

/*
 * cf_witness_post - report snapshot @seq with manifest id @id of @s's repository to the
 * key vault of this device's account (device login: no password needed). A repository
 * the key vault does not know yet (never attached to the account) is skipped: 0.
 * Returns 0; CF_E_ROLLBACK when the key vault already witnessed a newer or different
 * head (a fork or a rolled-back repository: do not ignore); CF_E_NETWORK, CF_E_AUTH
 * (this device was removed from the account), other server errors. Errors are logged.
 */
int cf_witness_post(struct cf_session *s, uint64_t seq, const uint8_t id[32]);

/* cf_witness_post_with - the same through an already connected device session @c. */
int cf_witness_post_with(struct cf_kvclient *c, struct cf_session *s, uint64_t seq,
			 const uint8_t id[32]);

/*
 * cf_witness_check - compare the witness of @s's repository (fetched through @c, any
 * session) with its snapshots (cf_session_load_snapshots must have run). The witness
 * counts only when signed by a device trusted in some epoch this device holds.
 * Returns 0 (no witness, or storage is at or past it); CF_E_ROLLBACK (logged: the
 * repository is behind the witness, or forked from it); CF_E_UNTRUSTED (a witness
 * signed by a device this repository never trusted: logged, and ignored by callers that
 * choose to); network errors.
 */
int cf_witness_check(struct cf_kvclient *c, struct cf_session *s);

/*
 * cf_audit_new - the audit entries of this device's account newer than the last call
 * (the cursor is kept in the account record), as a JSON array in *@entries (new
 * reference; empty when there is nothing new or no account). Returns 0, or network /
 * server errors (the cursor does not move then).
 */
int cf_audit_new(const char *state_dir, const struct cf_keychain *kc, json_t **entries);

/*
 * cf_audit_describe - one line for people about audit entry @e: time (UTC), event,
 * who, from where, and the repository and epoch when the detail names them.
 */
void cf_audit_describe(const json_t *e, char *buf, size_t len);
