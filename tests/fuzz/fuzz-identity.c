/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for cf_pubid_decode on untrusted bytes. A decoded identity must
 * encode back to exactly the input (the encoding is canonical) and give a well-formed
 * fingerprint. A 32-byte input is also used as an identity seed: its public identity
 * must decode to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fingerprint(const struct cf_pubid *p)
{
	char f[CF_FINGERPRINT_LEN];

	cf_pubid_fingerprint(p, f);
	if (strlen(f) != CF_FINGERPRINT_LEN - 1)
		abort();
	for (size_t i = 0; i < CF_FINGERPRINT_LEN - 1; i++)
		if ((i % 6 == 5) != (f[i] == ' ') || (f[i] != ' ' && (f[i] < '0' || f[i] > '9')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct cf_pubid p, q;
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	int r;

	if (!ready) {
		if (cf_core_init() != 0)
			abort();
		ready = 1;
	}
	memset(&p, 0x5a, sizeof(p));
	q = p;
	r = cf_pubid_decode(&p, data, size);
	switch (r) {
	case 0:
		cf_pubid_encode(&p, enc);
		if (size != sizeof(enc) || memcmp(enc, data, size) != 0)
			abort();
		check_fingerprint(&p);
		break;
	case CF_E_TRUNCATED:
	case CF_E_FORMAT:
	case CF_E_VERSION:
	case CF_E_CORRUPT:
	case CF_E_SIGNATURE:
		if (memcmp(&p, &q, sizeof(p)) != 0)
			abort();
		break;
	default:
		abort();
	}
	if (size == CF_IDENTITY_SEED_BYTES) {
		struct cf_identity *id;

		if (cf_identity_from_seed(&id, data) != 0)
			abort();
		cf_identity_public(id, &q);
		cf_identity_free(id);
		cf_pubid_encode(&q, enc);
		if (cf_pubid_decode(&p, enc, sizeof(enc)) != 0 || !cf_pubid_equal(&p, &q))
			abort();
		check_fingerprint(&q);
	}
	return 0;
}
