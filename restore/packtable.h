/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * cf_repo_read_pack_table - defined in repo/repo_sync.c (adoption, cache rebuilds) but
 * not declared in a repo/ header yet: read pack @id (@size bytes, as listed) from
 * storage — its trailer, then its table — and verify and decode the table. On success
 * *@epoch and the *@n entries (*@e, malloc'ed) are set. Returns 0; CF_E_TRUNCATED /
 * CF_E_FORMAT / CF_E_CORRUPT (a damaged pack); CF_E_NOTFOUND (the pack is gone, or this
 * device holds no key for its epoch); CF_E_AUTH; storage errors; -ENOMEM.
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/pack.h"
#include "repo/repo.h"

int cf_repo_read_pack_table(struct cf_repo *r, const uint8_t id[32], uint64_t size, uint32_t *epoch,
                            struct cf_pack_entry **e, size_t *n);
