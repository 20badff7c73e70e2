/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the pack parsers. The input is taken three ways:
 *  - its last 8 bytes as a pack trailer, against the input's length as pack size;
 *  - as a plaintext entry list (cf_pack_entries_decode);
 *  - sealed under a fixed key as a pack table, so cf_pack_table_parse's geometry checks
 *    see attacker-chosen content behind valid authentication (a key holder gone rogue).
 * Anything accepted must satisfy the documented invariants, else abort().
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "repo/keys.h"
#include "repo/object.h"
#include "repo/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_keyring *ring;
static const uint8_t repo_id[CF_REPO_ID_BYTES] = {7};

static void setup(void)
{
	uint8_t mk[32] = {1, 2, 3};

	if (cf_core_init() != 0 || cf_keyring_new(&ring) != 0 || cf_keyring_add(ring, 1, mk, 1))
		abort();
}

static void table(const uint8_t *data, size_t size)
{
	struct cf_pack_entry *e = NULL;
	uint8_t *sealed = NULL, *plain;
	size_t slen = 0, n = 0;
	uint32_t epoch = 0;
	uint64_t pack_size;

	if (size < 8)
		return;
	/* first 4 bytes: the pack size to check against; the rest: epoch || entries */
	pack_size = (uint64_t)data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16 |
		    (uint64_t)(data[3] & 0x3f) << 24;
	plain = malloc(size - 4 + 4);
	if (!plain)
		abort();
	memcpy(plain, "\x01\x00\x00\x00", 4); /* epoch 1 */
	memcpy(plain + 4, data + 8, size - 8);
	if (cf_object_seal(&sealed, &slen, cf_keyring_current(ring), repo_id, CF_OBJ_PACK_TABLE,
			   plain, size - 8 + 4) == 0 &&
	    cf_pack_table_parse(sealed, slen, pack_size, ring, repo_id, &epoch, &e, &n) == 0) {
		uint64_t end = pack_size - CF_PACK_TRAILER_BYTES - slen;
		if (epoch != 1)
			abort();
		for (size_t i = 0; i < n; i++)
			if (e[i].offset < CF_PACK_HEADER_BYTES ||
			    (uint64_t)e[i].offset + e[i].length > end ||
			    e[i].length < CF_BLOB_OVERHEAD)
				abort();
		free(e);
	}
	free(sealed);
	free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_pack_entry *e = NULL;
	uint32_t tlen = 0;
	size_t n = 0, used = 0;

	if (!ring)
		setup();
	if (size >= CF_PACK_TRAILER_BYTES &&
	    cf_pack_trailer(data + size - CF_PACK_TRAILER_BYTES, size, &tlen) == 0 &&
	    (uint64_t)tlen + CF_PACK_TRAILER_BYTES + CF_PACK_HEADER_BYTES > size)
		abort();
	if (cf_pack_entries_decode(data, size, &used, &e, &n) == 0) {
		if (used != 4 + n * CF_PACK_ENTRY_BYTES || used > size)
			abort();
		for (size_t i = 0; i < n; i++)
			if (e[i].type < CF_BLOB_DATA || e[i].type > CF_BLOB_CHUNKLIST)
				abort();
		free(e);
	}
	table(data, size);
	return 0;
}
