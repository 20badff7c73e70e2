/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to the keyvault program: a repository opened for a protection change. */
#include "keyvault/kv_cli.h"
#include "keyvault/kvapi.h"

struct kv_ctx {
	struct cf_modes_ctx m;
	struct cf_account *acct;
	struct cf_secbuf *ak; /* auth key when a password was given */
	struct cf_change ch;
};

/*
 * kv_ctx_open - the session on @url, the account record and, when the device has an
 * account, a logged-in client (by password when one is given; @need_password: it must
 * be). Returns the exit status; kv_ctx_close releases @k in any case.
 */
int kv_ctx_open(const struct kv_opts *o, const char *url, struct kv_ctx *k, int need_password);
void kv_ctx_close(struct kv_ctx *k);

/*
 * kv_adopt_keys - on a device just approved: the keys of --repo sealed to it by the
 * account's active devices @d (@n), into the keychain. Returns the exit status.
 */
int kv_adopt_keys(const struct kv_opts *o, struct cf_keychain *kc, struct cf_account *a,
		  const struct cf_kvdevice *d, size_t n);
