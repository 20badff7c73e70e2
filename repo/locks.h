/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Lock objects (`locks/<id>`, encrypted objects of type CF_OBJ_LOCK with JSON inside):
 * the coordination between backups and `restore prune` (docs/restore.md, "prune").
 *   backup lock  {"kind": "backup", "time", "host"}: held from the start of a backup
 *                until its manifest is stored; prune deletes nothing while a fresh one
 *                exists.
 *   prune plan   {"kind": "prune-plan", "time", "host", "packs": [hex...]}: packs found
 *                unused; deleted by a later prune once the grace period has passed.
 *                A backup never deduplicates against a planned pack.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/storage.h"

#define CF_PLAN_MAX_PACKS 100000u /* packs in one plan; more wait for the next run */

enum cf_lock_kind {
	CF_LOCK_OTHER = 0,  /* a kind this build does not know: left alone */
	CF_LOCK_PLAN = 1,
	CF_LOCK_BACKUP = 2,
};

struct cf_lock {
	char name[CF_STORAGE_NAME_MAX];
	enum cf_lock_kind kind;
	uint64_t time;
	char *host;
	uint8_t (*packs)[32]; /* plans only */
	size_t npacks;
};

/*
 * cf_locks_read - every lock object of @r that opens with this device's keys. Objects
 * that do not match their name or do not decrypt are skipped with a warning (a storage
 * attacker can add garbage, not a plan). *@out (free with cf_locks_free) set on success.
 */
int cf_locks_read(struct cf_repo *r, struct cf_lock **out, size_t *n);
void cf_locks_free(struct cf_lock *v, size_t n);

/*
 * cf_lock_write_plan - store a plan listing @n packs at @time under the current epoch;
 * @id receives its object id. Returns 0, CF_E_INVAL (no current keys), storage errors.
 */
int cf_lock_write_plan(struct cf_repo *r, uint64_t time, const char *host,
		       const uint8_t (*packs)[32], size_t n, uint8_t id[32]);

/*
 * cf_lock_write_backup - store a backup lock at @time; @id receives its object id, for
 * cf_lock_delete when the backup's manifest is stored (or it gave up).
 */
int cf_lock_write_backup(struct cf_repo *r, uint64_t time, const char *host, uint8_t id[32]);

/* cf_lock_delete - remove lock @id. Returns 0, CF_E_NOTFOUND or a storage error. */
int cf_lock_delete(struct cf_repo *r, const uint8_t id[32]);
