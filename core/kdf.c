/* SPDX-License-Identifier: ISC */
#include "core/kdf.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int allow_test;

void cf_kdf_argon2_allow_test(void)
{
	allow_test = 1;
}

int cf_kdf_subkey(uint8_t *out, size_t outlen, uint64_t id,
		  const char ctx[CF_KDF_CONTEXT_BYTES], const uint8_t key[CF_KDF_KEY_BYTES])
{
	if (outlen < CF_KDF_SUBKEY_MIN || outlen > CF_KDF_SUBKEY_MAX)
		return CF_E_INVAL;
	if (crypto_kdf_derive_from_key(out, outlen, id, ctx, key) != 0)
		return CF_E_INVAL;
	return 0;
}

static int params(enum cf_argon2_params p, unsigned long long *ops, size_t *mem)
{
	const char *env;

	switch (p) {
	case CF_ARGON2_INTERACTIVE:
		*ops = 2;
		*mem = 64u << 20;
		return 0;
	case CF_ARGON2_MODERATE:
		*ops = 3;
		*mem = 256u << 20;
		return 0;
	case CF_ARGON2_TEST:
		env = getenv("CF_ARGON2_ALLOW_TEST");
		if (!allow_test && !(env && strcmp(env, "1") == 0))
			return CF_E_INVAL;
		*ops = 1;
		*mem = 8u << 10;
		return 0;
	}
	return CF_E_INVAL;
}

int cf_kdf_argon2id(uint8_t *out, size_t outlen, const void *pw, size_t pwlen,
		    const uint8_t salt[CF_ARGON2_SALT_BYTES], enum cf_argon2_params p)
{
	unsigned long long ops;
	size_t mem;
	int r;

	r = params(p, &ops, &mem);
	if (r)
		return r;
	if (outlen < crypto_pwhash_BYTES_MIN || pwlen > crypto_pwhash_PASSWD_MAX)
		return CF_E_INVAL;
	/* crypto_pwhash fails only when the memory cannot be had. */
	if (crypto_pwhash(out, outlen, pw, pwlen, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13))
		return -ENOMEM;
	return 0;
}
