/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Minimal test helpers. A failed CHECK prints file:line and the expression, counts the
 * failure and carries on; check_finish() returns the process exit status (0 when no
 * check failed, 1 otherwise), so a test main ends with `return check_finish();`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

extern unsigned check_failures;
extern unsigned check_count;

#define CHECK(expr)                                                                        \
	do {                                                                               \
		check_count++;                                                             \
		if (!(expr)) {                                                             \
			check_failures++;                                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
				#expr);                                                    \
		}                                                                          \
	} while (0)

/* CHECK_RC: an int-returning call must give exactly @want; prints both on mismatch. */
#define CHECK_RC(call, want)                                                               \
	do {                                                                               \
		int check_rc_ = (call);                                                    \
		int check_want_ = (want);                                                  \
		check_count++;                                                             \
		if (check_rc_ != check_want_) {                                            \
			check_failures++;                                                  \
			fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__,  \
				__LINE__, #call, check_rc_, check_want_);                  \
		}                                                                          \
	} while (0)

/* Abort the test at once (setup failures that make further checks meaningless). */
#define REQUIRE(expr)                                                                      \
	do {                                                                               \
		check_count++;                                                             \
		if (!(expr)) {                                                             \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
				#expr);                                                    \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

#include <stdlib.h>

/* check_finish - print the tally; 0 if every check passed and at least one ran. */
int check_finish(void);

/*
 * check_vectors_load - parse tests/vectors/@name (under $CF_SOURCE_ROOT, or the source
 * tree path compiled in) as JSON. Exits the test with a message when it cannot.
 * The caller owns the reference (json_decref).
 */
json_t *check_vectors_load(const char *name);

/*
 * check_hex - decode the hex string @hex into a new malloc'ed buffer; *@len receives
 * the length. Exits the test on malformed hex (a broken vector file is a failure).
 */
uint8_t *check_hex(const char *hex, size_t *len);

/* check_tmpdir - a fresh private temporary directory (mkdtemp); never NULL. */
char *check_tmpdir(void);

/* check_rmtree - remove @path recursively (best effort, for cleanup). */
void check_rmtree(const char *path);
