/* SPDX-License-Identifier: ISC */
/*
 * bench-chunker - throughput of the content-defined chunker on one core.
 *
 *   bench-chunker [MiB]     (default 256)
 *
 * Chunks MiB of pseudo-random data (xorshift64, incompressible and boundary-rich) with
 * the default parameters and a random key, twice: whole-buffer (cf_chunker_cut) and
 * streaming in 1 MiB blocks (cf_chunker_next, as backupd reads files). Prints MB/s
 * (10^6 bytes per second) for each, the best of 3 runs. A last line measures the raw
 * gear-hash rate: min = 64 so that (almost) every byte is hashed and tested, where the
 * defaults skip the first min - 64 bytes of each chunk. Not a test: it only fails when a
 * chunker cannot be created or the two modes disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "repo/chunker.h"

#define MiB ((size_t)1 << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *buf, size_t len)
{
	uint64_t s = 0x2545f4914f6cdd1du;

	for (size_t i = 0; i < len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(buf + i, &s, len - i < 8 ? len - i : 8);
	}
}

/* Returns the number of chunks; *@sum receives a checksum of the cut positions. */
static size_t run_whole(const struct cf_chunker *c, const uint8_t *buf, size_t len,
			uint64_t *sum)
{
	size_t off = 0, n = 0;

	*sum = 0;
	while (off < len) {
		off += cf_chunker_cut(c, buf + off, len - off);
		*sum = *sum * 31 + off;
		n++;
	}
	return n;
}

static size_t run_stream(struct cf_chunker *c, const uint8_t *buf, size_t len, uint64_t *sum)
{
	size_t off = 0, n = 0;

	*sum = 0;
	cf_chunker_reset(c);
	while (off < len) {
		size_t blk = len - off < MiB ? len - off : MiB;

		while (blk > 0) {
			size_t used;

			if (cf_chunker_next(c, buf + off, blk, &used)) {
				*sum = *sum * 31 + off + used;
				n++;
			}
			off += used;
			blk -= used;
		}
	}
	if (cf_chunker_pending(c)) {
		*sum = *sum * 31 + off;
		n++;
	}
	return n;
}

static double best_of_3(struct cf_chunker *c, const uint8_t *buf, size_t len, int stream,
			size_t *n, uint64_t *sum)
{
	double best = 0;

	for (int r = 0; r < 3; r++) {
		double t0 = now(), rate;

		*n = stream ? run_stream(c, buf, len, sum) : run_whole(c, buf, len, sum);
		rate = (double)len / (now() - t0) / 1e6;
		best = rate > best ? rate : best;
	}
	return best;
}

int main(int argc, char **argv)
{
	const struct cf_chunker_params raw = {64, 1u << 20, 8u << 20};
	size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
	size_t len = mib * MiB, nw, ns, nr;
	uint8_t key[CF_CHUNKER_KEY_BYTES];
	struct cf_chunker *c, *c_raw;
	double w, s, r;
	uint64_t sw, ss, sr;
	uint8_t *buf;

	if (mib == 0 || mib > 65536 || cf_core_init() != 0)
		return 1;
	buf = malloc(len);
	if (!buf)
		return 1;
	fill(buf, len);
	cf_core_random(key, sizeof(key));
	if (cf_chunker_new(&c, NULL, key) != 0 || cf_chunker_new(&c_raw, &raw, key) != 0)
		return 1;
	cf_core_wipe(key, sizeof(key));

	w = best_of_3(c, buf, len, 0, &nw, &sw);
	s = best_of_3(c, buf, len, 1, &ns, &ss);
	r = best_of_3(c_raw, buf, len, 0, &nr, &sr);
	printf("chunker: %zu MiB of pseudo-random data, best of 3\n", mib);
	printf("  defaults 512K/1M/8M, whole buffer (cf_chunker_cut): %6.0f MB/s  "
	       "(%zu chunks, mean %.0f KiB)\n", w, nw, (double)len / (double)nw / 1024.0);
	printf("  defaults, streaming 1 MiB blocks (cf_chunker_next): %6.0f MB/s\n", s);
	printf("  min 64/1M/8M, every byte hashed (raw gear rate):    %6.0f MB/s\n", r);
	cf_chunker_free(c);
	cf_chunker_free(c_raw);
	free(buf);
	if (nw != ns || sw != ss) {
		fprintf(stderr, "bench-chunker: streaming and whole-buffer cuts differ\n");
		return 1;
	}
	return 0;
}
