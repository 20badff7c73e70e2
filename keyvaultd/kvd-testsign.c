/* SPDX-License-Identifier: ISC */
/*
 * kvd-testsign: device identities and signatures for keyvaultd's integration tests and
 * load test, whose clients are Python scripts without Ed25519. Not installed.
 *
 *   kvd-testsign new                          -> "SEEDHEX IDENTITY_B64 SIGNPK_B64"
 *   kvd-testsign sign SEEDHEX CONTEXT MSGHEX  -> signature, base64 (cf_identity_sign)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/identity.h"
#include "core/secbuf.h"

static int usage(void)
{
	fputs("usage: kvd-testsign new | sign SEEDHEX CONTEXT MSGHEX\n", stderr);
	return 2;
}

static int cmd_new(void)
{
	struct cf_identity *id = NULL;
	struct cf_secbuf *seed = NULL;
	struct cf_pubid pub;
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	char hex[CF_HEX_LEN(CF_IDENTITY_SEED_BYTES)], ident[256], pk[64];

	if (cf_identity_new(&id) || cf_identity_seed(id, &seed))
		return 1;
	cf_identity_public(id, &pub);
	cf_pubid_encode(&pub, enc);
	cf_encode_hex(hex, cf_secbuf_data(seed), CF_IDENTITY_SEED_BYTES);
	cf_encode_b64(ident, sizeof(ident), enc, sizeof(enc));
	cf_encode_b64(pk, sizeof(pk), pub.sign_pk, sizeof(pub.sign_pk));
	printf("%s %s %s\n", hex, ident, pk);
	cf_secbuf_free(seed);
	cf_identity_free(id);
	return 0;
}

static int cmd_sign(const char *seedhex, const char *context, const char *msghex)
{
	uint8_t seed[CF_IDENTITY_SEED_BYTES], sig[CF_SIGNATURE_BYTES], *msg;
	size_t len = strlen(msghex) / 2;
	struct cf_identity *id = NULL;
	char out[128];

	msg = malloc(len + 1);
	if (!msg || cf_encode_unhex(seed, sizeof(seed), seedhex) ||
	    (len && cf_encode_unhex(msg, len, msghex)) || cf_identity_from_seed(&id, seed)) {
		free(msg);
		return usage();
	}
	cf_identity_sign(id, context, msg, len, sig);
	cf_encode_b64(out, sizeof(out), sig, sizeof(sig));
	printf("%s\n", out);
	cf_identity_free(id);
	free(msg);
	return 0;
}

int main(int argc, char **argv)
{
	if (cf_core_init())
		return 1;
	if (argc == 2 && !strcmp(argv[1], "new"))
		return cmd_new();
	if (argc == 5 && !strcmp(argv[1], "sign"))
		return cmd_sign(argv[2], argv[3], argv[4]);
	return usage();
}
