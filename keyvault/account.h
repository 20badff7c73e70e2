/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * This device's key vault account (docs/protection-modes.md, "Accounts"):
 *  - the local record `<state-dir>/account` (JSON, mode 0600 through core/keyfile.h):
 *    server URL, account name, this device's id in the account's directory, and the
 *    repositories this device has used ({repo id: URL}); no secret;
 *  - logging in: the password never leaves the device. auth_key = Argon2id(password,
 *    the account's salt, its parameter set) is what keyvaultd checks (it stores a hash);
 *  - a device-bound session without the password (keyvaultd's device login, for
 *    backupd), signed by the device's identity key.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"
#include "keyvault/keychain.h"
#include "keyvault/kvclient.h"

#define CF_ACCOUNT_FILE "account"
#define CF_ACCOUNT_MAX_REPOS 1024
#define CF_AUTH_KEY_BYTES 32

struct cf_account_repo {
	uint8_t id[32];
	char *url;
};

/* The local record. server/name NULL: this device has no account (init --local). */
struct cf_account {
	char *path;
	char *server, *name;
	int64_t device;     /* 0: not registered */
	int64_t audit_seen; /* the newest audit entry id already shown (cf_audit_new) */
	struct cf_account_repo *repos;
	size_t nrepos;
};

/*
 * cf_account_load - read <@state_dir>/account; an absent file gives an empty record.
 * Returns 0, CF_E_PERM (loose permissions), CF_E_FORMAT (not our JSON), -errno, -ENOMEM.
 */
int cf_account_load(struct cf_account **out, const char *state_dir);

/* cf_account_save - write the record atomically (0600). Returns 0 or -errno. */
int cf_account_save(const struct cf_account *a);

/* cf_account_free - release. Accepts NULL. */
void cf_account_free(struct cf_account *a);

/*
 * cf_account_remember_repo - note that repository @id lives at @url. Returns 1 when the
 * record changed (save it), 0 when it was known, CF_E_LIMIT, -ENOMEM.
 */
int cf_account_remember_repo(struct cf_account *a, const uint8_t id[32], const char *url);

/* cf_account_repo_url - the URL recorded for @id, or NULL. */
const char *cf_account_repo_url(const struct cf_account *a, const uint8_t id[32]);

/*
 * cf_account_read_password - the account password from @file ('-': standard input) or
 * $COFFER_PASSWORD, into secure memory (NUL-terminated). *@out is NULL when neither
 * gives one. Returns 0, CF_E_CONFIG (empty or unreadable file), -ENOMEM.
 */
int cf_account_read_password(const char *file, struct cf_secbuf **out);

/*
 * cf_account_create_remote - create account @name on the server of @c with @password:
 * a fresh salt, interactive Argon2id. Logs in (the token is set on @c); *@auth_key
 * (may be NULL) receives the auth key. Returns 0; CF_E_EXISTS (name taken); errors of
 * the server (cf_kvclient); -ENOMEM.
 */
int cf_account_create_remote(struct cf_kvclient *c, const char *name, const char *password,
			     struct cf_secbuf **auth_key);

/*
 * cf_account_login - log in as @name with @password (prelogin, Argon2id, session); the
 * token is set on @c and *@auth_key (may be NULL) receives the auth key for +password
 * requests. Returns 0; CF_E_AUTH (wrong name or password); CF_E_BUSY (locked or rate
 * limited: the message says for how long); CF_E_VERSION (Argon2 parameters this build
 * does not know); server errors.
 */
int cf_account_login(struct cf_kvclient *c, const char *name, const char *password,
		     struct cf_secbuf **auth_key);

/*
 * cf_account_bind - bind the session of @c to device @device of the account, proving
 * possession of @kc's identity. Returns 0 or a server error (CF_E_NOTFOUND: removed).
 */
int cf_account_bind(struct cf_kvclient *c, const struct cf_keychain *kc, int64_t device);

/*
 * cf_account_device_login - a session bound to device @device of @name without the
 * password: a fresh signed statement (keyvaultd's device login). Returns 0, CF_E_AUTH
 * (not an active device of the account), server errors.
 */
int cf_account_device_login(struct cf_kvclient *c, const char *name, int64_t device,
			    const struct cf_keychain *kc);

/*
 * cf_account_connect - a client for @a's server, logged in: with @password (may be NULL)
 * by password (then bound to a->device when it is set); without, by device login.
 * *@auth_key (may be NULL) receives the auth key when a password was given.
 * Returns 0; CF_E_CONFIG when @a has no account; the errors above.
 */
int cf_account_connect(struct cf_kvclient **out, const struct cf_account *a,
		       const struct cf_keychain *kc, const char *password,
		       struct cf_secbuf **auth_key);

/*
 * cf_account_secret_body - JSON text {"<k1>": "<b64 v1>"[, ...]} in secure memory, for
 * requests carrying a key: @n pairs of field names and byte strings, then @extra (JSON
 * members "\"a\":1,..." without braces, may be NULL) appended. Returns 0 or -ENOMEM.
 */
int cf_account_secret_body(struct cf_secbuf **out, size_t n, const char *const *names,
			   const uint8_t *const *vals, const size_t *lens, const char *extra);

/* cf_account_report - "<what>: <server message> (<code>)" for a failed call, logged. */
void cf_account_report(const struct cf_kvclient *c, int err, const char *what);
