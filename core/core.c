/* SPDX-License-Identifier: ISC */
#include "core/core.h"

#include <sodium.h>

int cf_core_init(void)
{
	/* sodium_init is thread-safe and returns 1 when already initialised. */
	if (sodium_init() < 0)
		return CF_E_CRYPTO;
	return 0;
}

void cf_core_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint32_t cf_core_random_uniform(uint32_t upper)
{
	return randombytes_uniform(upper);
}

int cf_core_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

int cf_core_is_zero(const void *p, size_t len)
{
	return sodium_is_zero(p, len);
}

void cf_core_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}
