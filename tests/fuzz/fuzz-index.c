/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for index plaintexts (cf_index_decode). An accepted index must
 * re-encode to exactly the input (the encoding is canonical) and respect the geometry
 * limits; anything else must be refused without a crash or leak.
 */
#include <stdlib.h>
#include <string.h>

#include "repo/index.h"
#include "repo/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_index *ix = NULL;
	uint8_t *again = NULL;
	size_t len = 0;

	if (cf_index_decode(&ix, data, size) != 0)
		return 0;
	for (size_t i = 0; i < ix->npacks; i++)
		for (size_t j = 0; j < ix->packs[i].n; j++)
			if ((uint64_t)ix->packs[i].e[j].offset + ix->packs[i].e[j].length >
			    ix->packs[i].size)
				abort();
	if (cf_index_encode(&again, &len, ix) != 0 || len != size || memcmp(again, data, size))
		abort();
	free(again);
	cf_index_free(ix);
	return 0;
}
