/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Applying the retention policy (backupd/retention.h) to a repository through the
 * engine's forget and prune (restore/forget.h, restore/prune.h): after a successful
 * backup, and by `backupd retention`.
 *
 * Only this device's snapshots (signed by its identity) are considered: the policy never
 * forgets what another device wrote into a shared repository. Forgetting writes a forget
 * record, then deletes the manifest; prune then removes the packs nothing references any
 * more, in its two phases (a plan first, the deletion once the plan is older than the
 * grace period; with a grace period of 0 both happen in the same run).
 */
#include <jansson.h>
#include <stdint.h>

#include "backupd/retention.h"
#include "keyvault/session.h"

struct cf_retain_opts {
	struct cf_retention_policy policy;
	int prune;            /* prune after forgetting */
	uint64_t prune_grace; /* seconds */
	int dry_run;          /* decide and report only: nothing is written or deleted */
};

/*
 * cf_retain_run - apply @o to the repository of @s (snapshots are (re)loaded here).
 * *@detail receives a new JSON object describing every decision (docs/backupd.md,
 * "Retention"): "snapshots" [{sequence, id, time, keep, reasons}], "kept", "forgotten",
 * "other_devices", and "prune" (what prune did, or null). It is set on failure too when
 * something was decided (with "error"), else NULL.
 * Returns 0; errors of loading the snapshots, of forget and of prune (the snapshots
 * forgotten before an error stay forgotten: forget is safe to repeat).
 */
int cf_retain_run(struct cf_session *s, const struct cf_retain_opts *o, json_t **detail);

/*
 * cf_retain_print - the decisions of @detail for people on stdout: one line per snapshot
 * (sequence, id, time, KEEP/FORGET and why), then the totals and what prune did.
 */
void cf_retain_print(const json_t *detail, int dry_run);
