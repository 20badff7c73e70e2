/* SPDX-License-Identifier: ISC */
#include "core/error.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
} table[CF_E__MAX] = {
	[CF_OK] = {"OK", "success"},
	[CF_E_AUTH] = {"CF_E_AUTH", "authentication failed (wrong key or tampered data)"},
	[CF_E_NOTFOUND] = {"CF_E_NOTFOUND", "not found"},
	[CF_E_CORRUPT] = {"CF_E_CORRUPT", "data is corrupt"},
	[CF_E_FORMAT] = {"CF_E_FORMAT", "malformed or not in a Coffer format"},
	[CF_E_VERSION] = {"CF_E_VERSION", "format version not supported by this build"},
	[CF_E_TRUNCATED] = {"CF_E_TRUNCATED", "data is truncated"},
	[CF_E_LIMIT] = {"CF_E_LIMIT", "a size or count exceeds its limit"},
	[CF_E_SIGNATURE] = {"CF_E_SIGNATURE", "signature does not verify"},
	[CF_E_UNTRUSTED] = {"CF_E_UNTRUSTED", "signed by an unknown or untrusted key"},
	[CF_E_NOTRECIPIENT] = {"CF_E_NOTRECIPIENT", "not addressed to this device"},
	[CF_E_CHECKSUM] = {"CF_E_CHECKSUM", "checksum mismatch (typo)"},
	[CF_E_PERM] = {"CF_E_PERM", "unsafe permissions or ownership on a secret file"},
	[CF_E_EXISTS] = {"CF_E_EXISTS", "already exists"},
	[CF_E_INVAL] = {"CF_E_INVAL", "invalid argument"},
	[CF_E_BUSY] = {"CF_E_BUSY", "busy or locked by another process"},
	[CF_E_ROLLBACK] = {"CF_E_ROLLBACK", "older state than already seen (rollback)"},
	[CF_E_CRYPTO] = {"CF_E_CRYPTO", "cryptographic library failure"},
	[CF_E_IO] = {"CF_E_IO", "input/output error"},
	[CF_E_CONFIG] = {"CF_E_CONFIG", "invalid configuration"},
	[CF_E_NETWORK] = {"CF_E_NETWORK", "network or protocol failure"},
	[CF_E_UNSAFE] = {"CF_E_UNSAFE", "refused as unsafe"},
};

const char *cf_strerror(int err)
{
	if (err < 0)
		return strerror(-err);
	if (err < CF_E__MAX && table[err].text)
		return table[err].text;
	return "unknown error";
}

const char *cf_error_name(int err)
{
	if (err < 0) {
		const char *n = strerrorname_np(-err);
		return n ? n : "ERRNO";
	}
	if (err < CF_E__MAX && table[err].name)
		return table[err].name;
	return "CF_E_UNKNOWN";
}
