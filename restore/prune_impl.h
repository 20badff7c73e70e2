/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to prune.c and prune_lock.c: the lock objects prune reads and writes. */
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/storage.h"

enum pr_lock_kind {
	PR_LOCK_OTHER = 0,  /* a kind this build does not know: left alone */
	PR_LOCK_PLAN = 1,   /* {"kind": "prune-plan", "time", "host", "packs": [hex...]} */
	PR_LOCK_BACKUP = 2, /* {"kind": "backup", "time", "host", ...} */
};

struct pr_lock {
	char name[CF_STORAGE_NAME_MAX];
	enum pr_lock_kind kind;
	uint64_t time;
	char *host;
	uint8_t (*packs)[32]; /* plans only */
	size_t npacks;
};

/*
 * pr_locks_read - every lock object of @r that opens with this device's keys. Objects
 * that do not match their name or do not decrypt are skipped with a warning (a storage
 * attacker can add garbage, not a plan). *@out (free with pr_locks_free) set on success.
 */
int pr_locks_read(struct cf_repo *r, struct pr_lock **out, size_t *n);
void pr_locks_free(struct pr_lock *v, size_t n);

/*
 * pr_plan_write - store a plan listing @n packs at @time under the current epoch;
 * @id receives its object id. Returns 0, CF_E_INVAL (no current keys), storage errors.
 */
int pr_plan_write(struct cf_repo *r, uint64_t time, const char *host, const uint8_t (*packs)[32],
                  size_t n, uint8_t id[32]);

#define PR_PLAN_MAX_PACKS 100000u /* packs in one plan; more wait for the next run */
