/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Protection changes of one repository (docs/protection-modes.md): modes, recovery key,
 * recovery contacts, trusted devices. Every change that takes a reader away (switching
 * to advanced, removing a device, rotating or removing a recovery method) starts a new
 * key epoch; adding a reader does not. Each function records in @m->ch, in plain
 * sentences, what it changed.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"
#include "keyvault/account.h"
#include "keyvault/kvclient.h"
#include "keyvault/protect.h"
#include "keyvault/session.h"

#define CF_CHANGE_LINES 32

/* What a command changed, for people. */
struct cf_change {
	char line[CF_CHANGE_LINES][320];
	unsigned n;
};

/* cf_change_say - add a sentence (silently dropped beyond CF_CHANGE_LINES). */
void cf_change_say(struct cf_change *ch, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct cf_modes_ctx {
	struct cf_session_opts so;      /* how to (re)open the repository */
	struct cf_session *s;           /* open; reopened after a new epoch */
	struct cf_account *acct;        /* the local account record */
	struct cf_kvclient *c;          /* logged in and bound to this device; NULL: none */
	const struct cf_secbuf *auth_key; /* the account's auth key when a password was given */
	struct cf_change *ch;
};

enum cf_history {
	CF_HISTORY_UNSET = 0,
	CF_HISTORY_REENCRYPT,
	CF_HISTORY_FORGET,
	CF_HISTORY_KEEP,
};

/*
 * cf_modes_standard - standard protection: from advanced, a new epoch escrowed alone;
 * from local (no account yet), the current epoch is escrowed and linked to the earlier
 * local ones; already standard, a missing escrow is put back. Needs an account (@m->c).
 * Returns 0, CF_E_CONFIG (no account), key vault, storage and keychain errors.
 */
int cf_modes_standard(struct cf_modes_ctx *m);

/*
 * cf_modes_advanced - advanced protection: refused (CF_E_UNSAFE, logged) without a
 * recovery method. From standard: a new epoch, the key vault's escrow deleted (confirmed
 * from its answer and its audit log), then @h for the snapshots of escrowed epochs
 * (CF_HISTORY_UNSET is refused with CF_E_CONFIG when there are any). From local: the
 * record says advanced. Returns 0 or an error.
 */
int cf_modes_advanced(struct cf_modes_ctx *m, enum cf_history h);

/*
 * cf_modes_rk_create - a new recovery key (rotating an existing one: new epoch, old
 * slots deleted). *@text receives its text form (secure; show it once).
 * cf_modes_rk_verify - 0 when @typed opens this repository's recovery-key slots;
 * CF_E_CHECKSUM/CF_E_FORMAT (typo, logged), CF_E_AUTH (another key), CF_E_NOTFOUND.
 * cf_modes_rk_remove - new epoch without it; refused in advanced mode when it is the only
 * recovery method (CF_E_UNSAFE).
 */
int cf_modes_rk_create(struct cf_modes_ctx *m, struct cf_secbuf **text);
int cf_modes_rk_verify(struct cf_modes_ctx *m, const char *typed);
int cf_modes_rk_remove(struct cf_modes_ctx *m);

/*
 * cf_modes_contacts_set - replace the recovery contacts by @names (@n, 0..10; 0 removes
 * them) with threshold @k: a new split, its server share stored with the key vault, each
 * contact's share sealed to their devices and mailed. Dropping a contact also starts a
 * new epoch. Needs an account. Returns 0, CF_E_INVAL, CF_E_NOTFOUND (a contact account
 * without devices), key vault and storage errors.
 */
int cf_modes_contacts_set(struct cf_modes_ctx *m, const char *const *names, size_t n, unsigned k);

/*
 * cf_modes_device_add - trust @dev: its slots for every epoch held, and the roster.
 * cf_modes_device_remove - a new epoch without @dev (CF_E_NOTFOUND when it is not in
 * the roster; CF_E_INVAL for this device itself).
 */
int cf_modes_device_add(struct cf_modes_ctx *m, const struct cf_pubid *dev);
int cf_modes_device_remove(struct cf_modes_ctx *m, const struct cf_pubid *dev);

/*
 * cf_modes_attach_new - called for a repository this device just created when it has an
 * account: standard protection from the first snapshot on. Failures are warnings (the
 * backup goes on; `keyvault mode standard` finishes it later): returns 0 or -ENOMEM.
 */
int cf_modes_attach_new(struct cf_session *s);
