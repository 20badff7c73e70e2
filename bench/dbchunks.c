/* SPDX-License-Identifier: ISC */
/*
 * dbchunks - measure candidate chunkings of a SQLite database for page-level incrementals
 * (docs/database-chunking.md). Reads two versions of a database (OLD, NEW; same page
 * size), finds the pages that differ (as bench/pagediff.py does) and prints, per
 * candidate, the compressed bytes a full backup of NEW and an incremental from OLD to NEW
 * would store (payload only; per-blob overheads are added in the table as counts).
 *
 *   cc -O2 -o /tmp/dbchunks bench/dbchunks.c -lzstd && /tmp/dbchunks old.db new.db [pagesize]
 *
 * Candidates:
 *   fixedN/Lk   fixed runs of N pages, each compressed alone at zstd level k; a run is
 *               stored again when any of its pages changed
 *   bundleN/Lk  the changed pages (any position) gathered N at a time into one blob,
 *               compressed together; a full backup is NEW cut into runs of N pages
 *   dictN/Lk    fixed runs of N pages compressed alone with a 112 KiB zstd dictionary
 *               trained on 2000 pages of OLD (the dictionary itself is not counted)
 */
#define ZDICT_STATIC_LINKING_ONLY
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(1);
	}
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static size_t zsize(ZSTD_CCtx *cc, const void *src, size_t n, int level, const ZSTD_CDict *d)
{
	static uint8_t *dst;
	static size_t cap;
	size_t bound = ZSTD_compressBound(n), r;

	if (bound > cap) {
		free(dst);
		cap = bound;
		dst = malloc(cap);
	}
	r = d ? ZSTD_compress_usingCDict(cc, dst, cap, src, n, d)
	      : ZSTD_compressCCtx(cc, dst, cap, src, n, level);
	if (ZSTD_isError(r)) {
		fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r));
		exit(1);
	}
	return r < n - n / 32 ? r : n; /* Coffer stores raw when zstd saves < 1/32 */
}

int main(int argc, char **argv)
{
	size_t olen, nlen, ps = argc > 3 ? strtoul(argv[3], NULL, 10) : 4096;
	uint8_t *o, *n, *chg;
	size_t op, np, changed = 0;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	static const int levels[] = {1, 3};
	static const size_t fixed[] = {1, 2, 4, 8, 16, 256};
	static const size_t bundle[] = {16, 32, 64, 128};

	if (argc < 3) {
		fprintf(stderr, "usage: dbchunks OLD NEW [pagesize]\n");
		return 2;
	}
	o = slurp(argv[1], &olen);
	n = slurp(argv[2], &nlen);
	op = olen / ps;
	np = nlen / ps;
	chg = calloc(np, 1);
	for (size_t p = 0; p < np; p++) {
		chg[p] = p >= op || memcmp(o + p * ps, n + p * ps, ps) != 0;
		changed += chg[p];
	}
	printf("pages old %zu new %zu changed %zu (%.1f MB)\n", op, np, changed,
	       changed * ps / 1e6);
	printf("%-14s %12s %8s %12s %8s\n", "candidate", "full bytes", "blobs", "incr bytes",
	       "blobs");
	for (size_t li = 0; li < 2; li++) {
		int L = levels[li];
		for (size_t fi = 0; fi < sizeof(fixed) / sizeof(fixed[0]); fi++) {
			size_t N = fixed[fi], full = 0, inc = 0, fb = 0, ib = 0;
			for (size_t p = 0; p < np; p += N) {
				size_t k = p + N <= np ? N : np - p, c = 0, z;
				for (size_t q = p; q < p + k; q++)
					c |= chg[q];
				z = zsize(cc, n + p * ps, k * ps, L, NULL);
				full += z;
				fb++;
				if (c) {
					inc += z;
					ib++;
				}
			}
			printf("fixed%zu/L%d %14zu %8zu %12zu %8zu\n", N, L, full, fb, inc, ib);
		}
		for (size_t bi = 0; bi < sizeof(bundle) / sizeof(bundle[0]); bi++) {
			size_t N = bundle[bi], full = 0, inc = 0, fb = 0, ib = 0, k = 0;
			uint8_t *buf = malloc(N * ps);
			for (size_t p = 0; p < np; p += N) {
				size_t m = p + N <= np ? N : np - p;
				full += zsize(cc, n + p * ps, m * ps, L, NULL);
				fb++;
			}
			for (size_t p = 0; p <= np; p++) {
				if (p < np && chg[p])
					memcpy(buf + k++ * ps, n + p * ps, ps);
				if (k && (k == N || p == np)) {
					inc += zsize(cc, buf, k * ps, L, NULL);
					ib++;
					k = 0;
				}
			}
			printf("bundle%zu/L%d %13zu %8zu %12zu %8zu\n", N, L, full, fb, inc, ib);
			free(buf);
		}
		{
			size_t ns = 2000 < op ? 2000 : op, dcap = 112 << 10, dl;
			uint8_t *samples = malloc(ns * ps), *dict = malloc(dcap);
			size_t *sz = malloc(ns * sizeof(*sz));
			for (size_t i = 0; i < ns; i++) {
				memcpy(samples + i * ps, o + (i * (op / ns)) * ps, ps);
				sz[i] = ps;
			}
			dl = ZDICT_trainFromBuffer(dict, dcap, samples, sz, (unsigned)ns);
			if (ZDICT_isError(dl)) {
				printf("dict: %s\n", ZDICT_getErrorName(dl));
			} else {
				ZSTD_CDict *cd = ZSTD_createCDict(dict, dl, L);
				for (size_t N = 1; N <= 4; N *= 2) {
					size_t full = 0, inc = 0, fb = 0, ib = 0;
					for (size_t p = 0; p < np; p += N) {
						size_t k = p + N <= np ? N : np - p, c = 0, z;
						for (size_t q = p; q < p + k; q++)
							c |= chg[q];
						z = zsize(cc, n + p * ps, k * ps, L, cd);
						full += z;
						fb++;
						if (c) {
							inc += z;
							ib++;
						}
					}
					printf("dict%zu/L%d %15zu %8zu %12zu %8zu (dict %zu B)\n", N, L,
					       full, fb, inc, ib, dl);
				}
				ZSTD_freeCDict(cd);
			}
			free(samples);
			free(dict);
			free(sz);
		}
	}
	ZSTD_freeCCtx(cc);
	return 0;
}
