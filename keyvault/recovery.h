/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Recovering a repository's keys on a device that holds none (a new device after every
 * old one was lost), with what the user still has (docs/protection-modes.md,
 * "Recovery"):
 *   password        standard protection: the key vault releases the escrowed key of the
 *                   current epoch; epoch links reach the earlier escrowed epochs;
 *   recovery key    its slots give the epochs up to its creation, and the chain rule the
 *                   later ones;
 *   contacts        k recovery contacts each release their secret to this device (after
 *                   comparing its code) and the account password releases the server
 *                   share: together they open the contacts slot, then as above.
 * Each path ends with this device trusted: its own slots for every recovered epoch, a
 * roster that lists it, and (with an account) a place in the account's directory. Before
 * that, the freshness witness is checked: a repository behind it is refused.
 *
 * `restore recover` and `keyvault recover` run this, then restore as usual.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/secbuf.h"
#include "keyvault/contacts.h"

struct cf_recovery_opts {
	const char *repo_url;        /* required */
	const char *state_dir;       /* NULL: the default */
	const char *cache_dir;       /* NULL: the default */
	const char *passphrase_file; /* keychain passphrase (a new keychain gets it too) */
	const char *server;          /* key vault URL; NULL: from the account record */
	const char *account;         /* account name; NULL: from the account record */
	const char *password;        /* account password (NUL-terminated), may be NULL */
	const char *recovery_key;    /* the typed recovery key, may be NULL */
	const char *const *contacts; /* contact account names, may be NULL */
	size_t ncontacts;
};

struct cf_recovery_result {
	const char *method;                /* "device", "password", "recovery-key", "contacts" */
	uint32_t epochs;                   /* epochs recovered */
	uint32_t current;                  /* the epoch this device now writes under */
	char code[CF_CONTACT_CODE_LEN];    /* contacts: this device's code ("" otherwise) */
	unsigned k, n, released;           /* contacts: the split, and releases received */
	char released_by[256];             /* contacts: who released, comma-separated */
	int waiting;                       /* contacts: fewer than k released so far */
	size_t unreadable;                 /* snapshots present that these keys do not open */
	char unreadable_text[2048];        /* ...in plain words (cf_unreadable_describe) */
};

/*
 * cf_recovery_run - recover the keys of @o->repo_url on this device (creating its
 * keychain when there is none) and make this device trusted. *@res is filled as far as
 * the run got. Returns 0 (the keychain holds the keys: open a session and restore);
 * CF_E_NOTFOUND when what was given does not open the repository (logged: what is
 * missing), also when contacts are still awaited (res->waiting; the code to compare is
 * in res->code); CF_E_CHECKSUM / CF_E_FORMAT for a mistyped recovery key (logged with
 * the groups, before any network use); CF_E_AUTH (wrong password); CF_E_ROLLBACK (the
 * repository is behind the key vault's witness); CF_E_CONFIG (no account for a method
 * that needs one); network, storage and keychain errors.
 */
int cf_recovery_run(const struct cf_recovery_opts *o, struct cf_recovery_result *res);
