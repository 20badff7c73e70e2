/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The Coffer crypto core: the one component that includes <sodium.h>. The messaging app
 * and the backup both build on it. Everything here is a thin, documented wrapper over
 * libsodium; there are no home-made primitives.
 *
 * Call cf_core_init() once before anything else (it is idempotent and thread-safe).
 */
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* cf_core_init - initialise libsodium. Returns 0, or CF_E_CRYPTO if it cannot start. */
int cf_core_init(void);

/* cf_core_random - fill @buf with @len bytes from the OS CSPRNG (through libsodium). */
void cf_core_random(void *buf, size_t len);

/* cf_core_random_uniform - a uniform random integer in [0, upper), upper > 0. */
uint32_t cf_core_random_uniform(uint32_t upper);

/*
 * cf_core_equal - constant-time comparison of two @len-byte buffers.
 * Returns 1 when equal, 0 otherwise. Time depends only on @len.
 */
int cf_core_equal(const void *a, const void *b, size_t len);

/* cf_core_is_zero - constant-time test that @len bytes are all zero; 1 when they are. */
int cf_core_is_zero(const void *p, size_t len);

/* cf_core_wipe - overwrite @len bytes with zeros in a way the compiler cannot elide. */
void cf_core_wipe(void *p, size_t len);
