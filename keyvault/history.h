/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * What happens to the snapshots of retired key epochs when protection changes
 * (docs/protection-modes.md, "History"): re-encrypt them under the current epoch, or
 * forget them; either way the packs and indexes of those epochs are deleted afterwards,
 * so no object readable with a retired key is left for any snapshot.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyvault/session.h"

struct cf_history_stats {
	uint64_t snapshots; /* rewritten or forgotten */
	uint64_t bytes;     /* plaintext bytes rewritten */
	uint64_t packs;     /* pack objects deleted */
	uint64_t indexes;   /* index objects deleted */
};

/* Which epochs are retired: @epochs[e] non-zero for e in 1..@n (index 0 unused). */
struct cf_history_sel {
	const uint8_t *epochs;
	uint32_t n;
};

/*
 * cf_history_rewrite - for every present snapshot of @s (loaded) whose epoch @sel
 * retires: with @reencrypt, write a copy under the current epoch (same entries and file
 * contents, database bodies as plain chunk lists, new sequence numbers in the original
 * order) and then forget the original; without, forget it. Then delete every pack and
 * index object of the retired epochs. The current epoch must not be retired.
 * *@st (may be NULL) receives counters. Returns 0, CF_E_INVAL, repository errors.
 * After an error the repository stays consistent: a copy is committed before its
 * original is forgotten; running again finishes the job.
 */
int cf_history_rewrite(struct cf_session *s, const struct cf_history_sel *sel, int reencrypt,
		       struct cf_history_stats *st);
