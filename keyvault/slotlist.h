/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Every key slot of a repository (`keys/`), read into memory: the raw bytes (untrusted)
 * and their object names. vault.c, protect.c and recovery.c work on this list.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/storage.h"

#define CF_SLOTLIST_MAX 65536

struct cf_slotlist {
	uint8_t **b;                          /* b[i]: malloc'ed slot bytes */
	size_t *len;                          /* their lengths */
	char (*name)[CF_STORAGE_NAME_MAX];    /* "keys/<hex>" */
	size_t n, cap;
};

/*
 * cf_slotlist_load - list and read every `keys/` object of @r (at most CF_SLOTLIST_MAX;
 * an object too large or gone meanwhile is skipped with a warning). Sets *@out only on
 * success. Returns 0, storage errors or -ENOMEM.
 */
int cf_slotlist_load(struct cf_slotlist **out, struct cf_repo *r);

/* cf_slotlist_free - release the list and every slot. Accepts NULL. */
void cf_slotlist_free(struct cf_slotlist *s);

/*
 * cf_slotlist_store - store @bytes as `keys/<hash>` in @r and, when @s is not NULL,
 * append a copy to @s. An identical object already stored is fine. Returns 0, storage
 * errors or -ENOMEM.
 */
int cf_slotlist_store(struct cf_repo *r, struct cf_slotlist *s, const uint8_t *bytes, size_t len);

/*
 * cf_slotlist_delete - delete slot @i of @s from storage (gone already is fine) and
 * from the list. Returns 0 or a storage error.
 */
int cf_slotlist_delete(struct cf_repo *r, struct cf_slotlist *s, size_t i);
