/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to recovery.c and recovery_contacts.c: one recovery run. */
#include "keyvault/account.h"
#include "keyvault/kvclient.h"
#include "keyvault/recovery.h"
#include "keyvault/slotlist.h"
#include "repo/repo.h"

struct cf_rec {
	const struct cf_recovery_opts *o;
	struct cf_recovery_result *res;
	struct cf_keychain *kc;
	struct cf_account *acct;
	struct cf_kvclient *c; /* logged in, when a password was given */
	struct cf_secbuf *auth_key;
	struct cf_repo *repo;
	struct cf_slotlist *sl;
	struct cf_keyring *ring;
};

static inline const uint8_t *rid(const struct cf_rec *x)
{
	return cf_repo_id(x->repo);
}

static inline const uint8_t *cfg(const struct cf_rec *x)
{
	return cf_repo_config_hash(x->repo);
}

/* cf_recovery_describe - what the repository offers to recover it with, in words. */
void cf_recovery_describe(const struct cf_rec *x, char *buf, size_t len);

/* cf_recovery_contacts - the contacts path (requests, releases, server share, chain). */
int cf_recovery_contacts(struct cf_rec *x);
