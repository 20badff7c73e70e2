/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Test-only hooks. Linked only into tests (the `core_testing` library), never into a
 * program: production binaries have no way to make randomness predictable.
 */
#include <stdint.h>

/*
 * cf_testing_rng_seed - replace libsodium's randombytes with a deterministic generator
 * (ChaCha20 keystream keyed by @seed, restarted by each call), so known-answer vectors
 * for envelopes, identities and recovery keys are reproducible. Call it before
 * cf_core_init() for the first time in a process; call it again to restart the stream.
 */
void cf_testing_rng_seed(const uint8_t seed[32]);

/* cf_testing_rng_system - go back to the operating system's generator. */
void cf_testing_rng_system(void);
