/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Typed calls of keyvaultd's API (docs/keyvaultd-api.md) over a logged-in client, for
 * the keyvault commands and the recovery path. Each returns 0 or the client's error
 * (keyvault/kvclient.h); refusals are NOT logged here (callers know what they tried and
 * use cf_account_report); secrets travel only through secure memory.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"
#include "keyvault/kvclient.h"

#define CF_KVAPI_MAX_DEVICES 1024

struct cf_kvdevice {
	int64_t id;
	struct cf_pubid identity;
	char state[16]; /* "active", "pending", "removed" */
	char label[257];
	int64_t added_by; /* 0: none */
	int64_t added_at, removed_at;
};

/*
 * cf_kvapi_devices - the account's directory (GET /v1/devices). *@out malloc'ed.
 * cf_kvapi_directory - another account's active devices (POST /v1/directory).
 * An entry whose identity does not decode is skipped (logged as a warning).
 */
int cf_kvapi_devices(struct cf_kvclient *c, struct cf_kvdevice **out, size_t *n);
int cf_kvapi_directory(struct cf_kvclient *c, const char *name, struct cf_kvdevice **out,
		       size_t *n);

/*
 * cf_kvapi_device_add - POST /v1/devices for @id via @via ("first", "device", "request",
 * "recovery"; @auth_key required for "recovery", else NULL). *@device its new id.
 */
int cf_kvapi_device_add(struct cf_kvclient *c, const struct cf_pubid *id, const char *label,
			const char *via, const struct cf_secbuf *auth_key, int64_t *device);

/* cf_kvapi_device_approve / _remove - POST .../approve, DELETE /v1/devices/{id}. */
int cf_kvapi_device_approve(struct cf_kvclient *c, int64_t device);
int cf_kvapi_device_remove(struct cf_kvclient *c, int64_t device);

/*
 * cf_kvapi_repo_put - PUT /v1/repos/{repo} {protection, epoch}; *@resp (may be NULL)
 * the answer (escrow_deleted, audit ids). cf_kvapi_repo_get - GET /v1/repos/{repo}.
 */
int cf_kvapi_repo_put(struct cf_kvclient *c, const uint8_t repo_id[32], const char *protection,
		      uint32_t epoch, json_t **resp);
int cf_kvapi_repo_get(struct cf_kvclient *c, const uint8_t repo_id[32], json_t **resp);

/* Escrow: PUT (the key of @epoch), GET (*@key secure, *@epoch), DELETE (*@resp answer). */
int cf_kvapi_escrow_put(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t epoch,
			const uint8_t key[32]);
int cf_kvapi_escrow_get(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t *epoch,
			struct cf_secbuf **key);
int cf_kvapi_escrow_delete(struct cf_kvclient *c, const uint8_t repo_id[32], json_t **resp);

/* Contact server share: PUT, release (+password; *@share secure), DELETE. */
int cf_kvapi_share_put(struct cf_kvclient *c, const uint8_t repo_id[32], uint32_t epoch,
		       const uint8_t *share, size_t len);
int cf_kvapi_share_release(struct cf_kvclient *c, const uint8_t repo_id[32],
			   const struct cf_secbuf *auth_key, struct cf_secbuf **share,
			   int64_t *remaining);
int cf_kvapi_share_delete(struct cf_kvclient *c, const uint8_t repo_id[32]);

/*
 * Mailbox. cf_kvapi_mail_post - to @to_account (NULL: own) and @to_device (0: every
 * device). cf_kvapi_mail_list - every visible message of @kind (NULL: all), as a JSON
 * array (new reference). cf_kvapi_mail_delete - one message.
 */
int cf_kvapi_mail_post(struct cf_kvclient *c, const char *to_account, int64_t to_device,
		       const char *kind, const uint8_t *env, size_t len);
int cf_kvapi_mail_list(struct cf_kvclient *c, const char *kind, json_t **msgs);
int cf_kvapi_mail_delete(struct cf_kvclient *c, int64_t id);

/* cf_kvapi_mail_envelope - the decoded envelope of message @m (*@env malloc'ed). */
int cf_kvapi_mail_envelope(const json_t *m, uint8_t **env, size_t *len);

/* cf_kvapi_identity - decode an API "identity" string into @out. 0 or CF_E_FORMAT. */
int cf_kvapi_identity(const char *b64, struct cf_pubid *out);
