/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to modes.c and modes_ops.c: the steps every protection change shares. */
#include <jansson.h>

#include "keyvault/modes.h"

/* cf_modes_load - cf_protect_load, logged. */
int cf_modes_load(struct cf_modes_ctx *m, struct cf_protect **p);
/* cf_modes_mode_of - the current epoch's mode (local when it has no record). */
enum cf_prot_mode cf_modes_mode_of(const struct cf_protect *p);
/* cf_modes_base_rec - the current record (or a fresh one) with @reason, not escrowed. */
void cf_modes_base_rec(const struct cf_modes_ctx *m, const struct cf_protect *p,
		       struct cf_protection *rec, const char *reason);
/* cf_modes_reopen - reopen m->s (after the keychain got a new current epoch). */
int cf_modes_reopen(struct cf_modes_ctx *m);
/* cf_modes_server_epoch - the key vault's side of epoch @e in @mode (escrow @mk if standard). */
int cf_modes_server_epoch(struct cf_modes_ctx *m, enum cf_prot_mode mode, uint32_t e,
			  const uint8_t mk[32], json_t **resp);
/*
 * cf_modes_rotate - a new epoch for @devs with @rec, the key vault told, the session
 * reopened; *@p replaced by the new state (NULL after an error).
 */
int cf_modes_rotate(struct cf_modes_ctx *m, struct cf_protect **p, struct cf_protection *rec,
		    const struct cf_pubid *devs, size_t n, uint32_t *epoch, json_t **resp);
