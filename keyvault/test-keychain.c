/* SPDX-License-Identifier: ISC */
/*
 * The device keychain: round trips, passphrases, every byte of the file tampered with or
 * cut off, permissions, repository keys and epochs, the rollback record, limits, and the
 * body parser on hostile input.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/identity.h"
#include "core/keyfile.h"
#include "core/secbuf.h"
#include "keyvault/keychain.h"
#include "tests/lib/check.h"
#include "util/log.h"

enum { HDR = 27, SALT = 7, BODYLEN = 23, NONCE = 24 };

static char path_buf[600];

static const char *kc_file(const char *dir)
{
	snprintf(path_buf, sizeof(path_buf), "%s/keychain", dir);
	return path_buf;
}

static void repo_id(uint8_t id[32], unsigned n)
{
	memset(id, 0, 32);
	id[0] = 0xc0;
	id[28] = (uint8_t)(n >> 24);
	id[29] = (uint8_t)(n >> 16);
	id[30] = (uint8_t)(n >> 8);
	id[31] = (uint8_t)n;
}

/* Read the keychain file into a malloc'ed buffer (test data only). */
static uint8_t *slurp(const char *dir, size_t *len)
{
	struct cf_secbuf *b = NULL;
	uint8_t *p;

	REQUIRE(cf_keyfile_read(kc_file(dir), &b) == 0);
	*len = cf_secbuf_len(b);
	p = malloc(*len + 1);
	REQUIRE(p);
	memcpy(p, cf_secbuf_data(b), *len);
	cf_secbuf_free(b);
	return p;
}

/* Overwrite the keychain in place (no fsync: this runs ~1000 times). */
static void spill(const char *dir, const uint8_t *p, size_t len)
{
	FILE *f = fopen(kc_file(dir), "wb");

	REQUIRE(f);
	REQUIRE(fwrite(p, 1, len, f) == len);
	REQUIRE(fclose(f) == 0);
}

static int same_identity(const struct cf_keychain *a, const struct cf_keychain *b)
{
	struct cf_pubid pa, pb;

	cf_identity_public(cf_keychain_identity(a), &pa);
	cf_identity_public(cf_keychain_identity(b), &pb);
	return cf_pubid_equal(&pa, &pb) && !memcmp(pa.self_sig, pb.self_sig, 64);
}

static void test_create_open(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL, *none = NULL;
	char dir[512];
	struct stat st;

	/* missing parents are created 0700, whatever the umask */
	snprintf(dir, sizeof(dir), "%s/a/b/state", tmp);
	CHECK_RC(cf_keychain_open(&kc, dir, NULL), CF_E_NOTFOUND);
	umask(0);
	CHECK_RC(cf_keychain_create(&kc, dir, NULL), 0);
	umask(022);
	REQUIRE(kc);
	REQUIRE(stat(dir, &st) == 0);
	CHECK((st.st_mode & 0777) == 0700);
	snprintf(path_buf, sizeof(path_buf), "%s/a", tmp);
	REQUIRE(stat(path_buf, &st) == 0);
	CHECK((st.st_mode & 0777) == 0700);
	REQUIRE(stat(kc_file(dir), &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
	CHECK(strcmp(cf_keychain_path(kc), kc_file(dir)) == 0);
	CHECK(!cf_keychain_has_passphrase(kc));
	CHECK(cf_keychain_repo_count(kc) == 0);

	/* never overwritten */
	CHECK_RC(cf_keychain_create(&kc2, dir, NULL), CF_E_EXISTS);
	CHECK(kc2 == NULL);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);
	REQUIRE(kc2);
	CHECK(same_identity(kc, kc2));
	/* a passphrase given for an unprotected keychain is ignored */
	CHECK_RC(cf_keychain_open(&none, dir, "unused"), 0);
	CHECK(none && same_identity(kc, none) && !cf_keychain_has_passphrase(none));
	cf_keychain_free(none);
	cf_keychain_free(kc2);
	kc2 = NULL;

	/* two creations give two identities */
	snprintf(dir, sizeof(dir), "%s/other", tmp);
	CHECK_RC(cf_keychain_create(&kc2, dir, NULL), 0);
	CHECK(kc2 && !same_identity(kc, kc2));
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
	kc = NULL;
	cf_keychain_free(NULL);

	CHECK_RC(cf_keychain_create(&kc, "", NULL), CF_E_INVAL);
	CHECK_RC(cf_keychain_create(&kc, dir, ""), CF_E_INVAL);
	CHECK(kc == NULL);
}

static void test_passphrase(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL;
	char dir[512], longpw[CF_KEYCHAIN_MAX_PASSPHRASE + 2];
	uint8_t *a, *b;
	size_t alen, blen;

	snprintf(dir, sizeof(dir), "%s/pw", tmp);
	CHECK_RC(cf_keychain_create(&kc, dir, "correct horse"), 0);
	REQUIRE(kc);
	CHECK(cf_keychain_has_passphrase(kc));
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), CF_E_AUTH); /* required */
	CHECK_RC(cf_keychain_open(&kc2, dir, "correct horsE"), CF_E_AUTH);
	CHECK_RC(cf_keychain_open(&kc2, dir, ""), CF_E_INVAL);
	CHECK(kc2 == NULL);
	CHECK_RC(cf_keychain_open(&kc2, dir, "correct horse"), 0);
	CHECK(kc2 && same_identity(kc, kc2) && cf_keychain_has_passphrase(kc2));
	cf_keychain_free(kc2);
	kc2 = NULL;

	/* the file records the (test) parameter set; each save takes a new salt and nonce */
	a = slurp(dir, &alen);
	CHECK(a[5] == 1 && a[6] == 255);
	CHECK_RC(cf_keychain_save(kc), 0);
	b = slurp(dir, &blen);
	CHECK(alen == blen && memcmp(a, b, SALT) == 0);
	CHECK(memcmp(a + SALT, b + SALT, 16) != 0);
	CHECK(memcmp(a + HDR, b + HDR, NONCE) != 0);
	free(a);
	free(b);

	/* change, then remove the passphrase */
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	CHECK_RC(cf_keychain_set_passphrase(kc, longpw), CF_E_LIMIT);
	CHECK_RC(cf_keychain_set_passphrase(kc, ""), CF_E_INVAL);
	CHECK(cf_keychain_has_passphrase(kc));
	CHECK_RC(cf_keychain_set_passphrase(kc, "battery staple"), 0);
	CHECK_RC(cf_keychain_save(kc), 0);
	CHECK_RC(cf_keychain_open(&kc2, dir, "correct horse"), CF_E_AUTH);
	CHECK_RC(cf_keychain_open(&kc2, dir, "battery staple"), 0);
	cf_keychain_free(kc2);
	kc2 = NULL;
	CHECK_RC(cf_keychain_set_passphrase(kc, NULL), 0);
	CHECK(!cf_keychain_has_passphrase(kc));
	CHECK_RC(cf_keychain_save(kc), 0);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);
	CHECK(kc2 && same_identity(kc, kc2));
	a = slurp(dir, &alen);
	CHECK(a[5] == 0 && a[6] == 0);
	free(a);
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
}

/* Expected result of opening the file with byte @i flipped. */
static int flip_expect(size_t i, int prot)
{
	if (i < 4)
		return CF_E_FORMAT; /* magic */
	if (i == 4)
		return CF_E_VERSION;
	if (i == 5 || i == 6)
		return CF_E_FORMAT; /* protection and parameter set no longer agree */
	if (i < BODYLEN)
		return prot ? CF_E_AUTH : CF_E_FORMAT; /* salt: another key, or not zero */
	if (i < HDR)
		return -1; /* body length: TRUNCATED or FORMAT (trailing) */
	return CF_E_AUTH;  /* nonce, ciphertext, tag */
}

static void tamper(const char *dir, const char *pass, int prot)
{
	struct cf_keychain *kc = NULL;
	uint8_t *img, *mod;
	size_t len;
	int r, bad = 0;

	img = slurp(dir, &len);
	mod = malloc(len + 1);
	REQUIRE(mod);
	cf_log_set_level(0); /* the library logs each refusal; keep the output short */
	for (size_t i = 0; i < len; i++) {
		memcpy(mod, img, len);
		mod[i] ^= 0x01;
		spill(dir, mod, len);
		r = cf_keychain_open(&kc, dir, pass);
		int want = flip_expect(i, prot);
		if (want < 0 ? (r != CF_E_TRUNCATED && r != CF_E_FORMAT) : r != want) {
			fprintf(stderr, "flip at %zu (prot %d): got %d, want %d\n", i, prot, r,
			        want);
			bad++;
		}
		if (kc)
			bad++;
	}
	/* every truncation, and a trailing byte */
	for (size_t n = 0; n < len; n++) {
		spill(dir, img, n);
		r = cf_keychain_open(&kc, dir, pass);
		if (r != CF_E_TRUNCATED) {
			fprintf(stderr, "truncated to %zu: got %d\n", n, r);
			bad++;
		}
	}
	memcpy(mod, img, len);
	mod[len] = 0;
	spill(dir, mod, len + 1);
	CHECK_RC(cf_keychain_open(&kc, dir, pass), CF_E_FORMAT);
	/* another version */
	memcpy(mod, img, len);
	mod[4] = 2;
	spill(dir, mod, len);
	CHECK_RC(cf_keychain_open(&kc, dir, pass), CF_E_VERSION);
	cf_log_set_level(CF_LOG_INFO);
	CHECK(bad == 0);
	CHECK(kc == NULL);
	spill(dir, img, len);
	CHECK_RC(cf_keychain_open(&kc, dir, pass), 0);
	cf_keychain_free(kc);
	free(img);
	free(mod);
}

static void test_tamper(const char *tmp)
{
	struct cf_keychain *kc = NULL;
	uint8_t id[32], key[32] = {1, 2, 3};
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/tamper-pw", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, "pw") == 0);
	repo_id(id, 1);
	CHECK_RC(cf_keychain_repo_put_key(kc, id, 1, key, 1), 0);
	CHECK_RC(cf_keychain_save(kc), 0);
	cf_keychain_free(kc);
	tamper(dir, "pw", 1);

	snprintf(dir, sizeof(dir), "%s/tamper-none", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, NULL) == 0);
	CHECK_RC(cf_keychain_seen_update(kc, id, 9, key), 0);
	CHECK_RC(cf_keychain_save(kc), 0);
	cf_keychain_free(kc);
	tamper(dir, NULL, 0);
}

static void test_perms(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/perm", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, NULL) == 0);
	cf_log_set_level(0);
	chmod(kc_file(dir), 0640);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), CF_E_PERM);
	chmod(kc_file(dir), 0604);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), CF_E_PERM);
	cf_log_set_level(CF_LOG_INFO);
	chmod(kc_file(dir), 0600);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);

	/* a handle never overwrites a file another handle rewrote meanwhile */
	CHECK_RC(cf_keychain_save(kc2), 0);
	cf_log_set_level(0);
	CHECK_RC(cf_keychain_save(kc), CF_E_BUSY);
	cf_log_set_level(CF_LOG_INFO);
	CHECK_RC(cf_keychain_save(kc2), 0);
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
}

static void test_repo_keys(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL;
	struct cf_keychain_repo_info ri;
	uint8_t a[32], b[32], k1[32], k2[32], k3[32], out[32];
	uint32_t ep = 0;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/repos", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, "pw") == 0);
	repo_id(a, 7);
	repo_id(b, 3);
	cf_core_random(k1, 32);
	cf_core_random(k2, 32);
	cf_core_random(k3, 32);

	CHECK_RC(cf_keychain_repo_key(kc, a, 1, out), CF_E_NOTFOUND);
	CHECK_RC(cf_keychain_repo_current(kc, a, &ep), CF_E_NOTFOUND);
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 1, k1, 0), 0);
	CHECK_RC(cf_keychain_repo_current(kc, a, &ep), CF_E_NOTFOUND); /* not made current */
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 2, k2, 1), 0);
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 1, k1, 0), 0); /* same key: no-op */
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 1, k3, 0), CF_E_EXISTS);
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 1, k1, 1), CF_E_ROLLBACK);
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 0, k3, 1), CF_E_ROLLBACK);
	CHECK_RC(cf_keychain_repo_key(kc, a, 0, out), CF_E_NOTFOUND); /* refused: not kept */
	CHECK_RC(cf_keychain_repo_put_key(kc, b, 0xffffffffu, k3, 1), 0);
	CHECK_RC(cf_keychain_repo_put_key(kc, a, 5, k3, 1), 0);
	CHECK_RC(cf_keychain_save(kc), 0);

	CHECK_RC(cf_keychain_open(&kc2, dir, "pw"), 0);
	REQUIRE(kc2);
	CHECK_RC(cf_keychain_repo_key(kc2, a, 1, out), 0);
	CHECK(memcmp(out, k1, 32) == 0);
	CHECK_RC(cf_keychain_repo_key(kc2, a, 2, out), 0);
	CHECK(memcmp(out, k2, 32) == 0);
	CHECK_RC(cf_keychain_repo_key(kc2, a, 5, out), 0);
	CHECK(memcmp(out, k3, 32) == 0);
	CHECK_RC(cf_keychain_repo_key(kc2, a, 3, out), CF_E_NOTFOUND);
	CHECK_RC(cf_keychain_repo_current(kc2, a, &ep), 0);
	CHECK(ep == 5);
	CHECK_RC(cf_keychain_repo_current(kc2, b, &ep), 0);
	CHECK(ep == 0xffffffffu);
	CHECK_RC(cf_keychain_repo_key(kc2, b, 0xffffffffu, out), 0);
	CHECK(memcmp(out, k3, 32) == 0);

	/* listing: repository-id order, no keys */
	CHECK(cf_keychain_repo_count(kc2) == 2);
	CHECK_RC(cf_keychain_repo_info(kc2, 0, &ri), 0);
	CHECK(memcmp(ri.repo_id, b, 32) == 0 && ri.epochs == 1 && ri.has_current && !ri.has_seen);
	CHECK_RC(cf_keychain_repo_info(kc2, 1, &ri), 0);
	CHECK(memcmp(ri.repo_id, a, 32) == 0 && ri.epochs == 3 && ri.current_epoch == 5);
	CHECK_RC(cf_keychain_repo_info(kc2, 2, &ri), CF_E_NOTFOUND);
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
}

static void test_seen(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL;
	uint8_t r1[32], h1[32], h2[32], h3[32], out[32];
	uint64_t seq = 0;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/seen", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, NULL) == 0);
	repo_id(r1, 1);
	memset(h1, 0x11, 32);
	memset(h2, 0x22, 32);
	memset(h3, 0x33, 32);
	CHECK_RC(cf_keychain_seen_get(kc, r1, &seq, out), CF_E_NOTFOUND);
	CHECK_RC(cf_keychain_seen_update(kc, r1, 5, h1), 0);
	CHECK_RC(cf_keychain_seen_update(kc, r1, 5, h1), 0);             /* same: no-op */
	CHECK_RC(cf_keychain_seen_update(kc, r1, 5, h2), CF_E_ROLLBACK); /* fork */
	CHECK_RC(cf_keychain_seen_update(kc, r1, 4, h1), CF_E_ROLLBACK);
	CHECK_RC(cf_keychain_seen_update(kc, r1, 0, h3), CF_E_ROLLBACK);
	CHECK_RC(cf_keychain_seen_get(kc, r1, &seq, out), 0);
	CHECK(seq == 5 && memcmp(out, h1, 32) == 0);
	CHECK_RC(cf_keychain_seen_update(kc, r1, UINT64_MAX - 1, h3), 0);
	CHECK_RC(cf_keychain_repo_current(kc, r1, &(uint32_t){0}), CF_E_NOTFOUND);
	CHECK_RC(cf_keychain_save(kc), 0);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);
	REQUIRE(kc2);
	CHECK_RC(cf_keychain_seen_get(kc2, r1, &seq, out), 0);
	CHECK(seq == UINT64_MAX - 1 && memcmp(out, h3, 32) == 0);
	CHECK_RC(cf_keychain_seen_update(kc2, r1, 6, h2), CF_E_ROLLBACK); /* after reopen too */
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
}

static void test_limits(const char *tmp)
{
	struct cf_keychain *kc = NULL, *kc2 = NULL;
	uint8_t id[32], key[32], h[32] = {0};
	uint32_t ep;
	char dir[512];
	unsigned n = 0;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/limits", tmp);
	REQUIRE(cf_keychain_create(&kc, dir, NULL) == 0);
	cf_core_random(key, 32);
	repo_id(id, 0);
	for (uint32_t e = 0; e < CF_KEYCHAIN_MAX_EPOCHS && !r; e++)
		r = cf_keychain_repo_put_key(kc, id, e, key, 1);
	CHECK_RC(r, 0);
	CHECK_RC(cf_keychain_repo_put_key(kc, id, CF_KEYCHAIN_MAX_EPOCHS, key, 1), CF_E_LIMIT);
	CHECK_RC(cf_keychain_repo_current(kc, id, &ep), 0);
	CHECK(ep == CF_KEYCHAIN_MAX_EPOCHS - 1);
	for (unsigned i = 1; i < CF_KEYCHAIN_MAX_REPOS && !r; i++) {
		repo_id(id, i);
		r = cf_keychain_seen_update(kc, id, i, h);
	}
	CHECK_RC(r, 0);
	repo_id(id, CF_KEYCHAIN_MAX_REPOS);
	CHECK_RC(cf_keychain_seen_update(kc, id, 1, h), CF_E_LIMIT);
	CHECK_RC(cf_keychain_repo_put_key(kc, id, 1, key, 1), CF_E_LIMIT);
	CHECK(cf_keychain_repo_count(kc) == CF_KEYCHAIN_MAX_REPOS);
	CHECK_RC(cf_keychain_save(kc), 0);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);
	CHECK(kc2 && cf_keychain_repo_count(kc2) == CF_KEYCHAIN_MAX_REPOS);
	cf_keychain_free(kc2);
	kc2 = NULL;

	/*
	 * The file size: keys are refused before the file would outgrow a key file.
	 * Body now: identity 3+32, 4096 repositories of 3+77, 4096 keys of 3+36; the body
	 * may take 1 MiB minus the header (27) and the AEAD overhead (40).
	 */
	const size_t used = 35 + 4096 * 80 + 4096 * 39, room = (1u << 20) - 27 - 40 - used;
	for (unsigned i = 1; i < CF_KEYCHAIN_MAX_REPOS && !r; i++) {
		repo_id(id, i);
		for (uint32_t e = 0; e < 64 && !r; e++) {
			r = cf_keychain_repo_put_key(kc, id, e, key, 0);
			n += !r;
		}
	}
	CHECK_RC(r, CF_E_LIMIT);
	CHECK(n == room / 39);
	CHECK_RC(cf_keychain_save(kc), 0);
	CHECK_RC(cf_keychain_open(&kc2, dir, NULL), 0);
	repo_id(id, 1);
	CHECK_RC(kc2 ? cf_keychain_repo_key(kc2, id, 63, h) : -1, 0);
	CHECK(memcmp(h, key, 32) == 0);
	cf_keychain_free(kc2);
	cf_keychain_free(kc);
}

/* Body records for the parser tests. */
static size_t rec(uint8_t *p, uint8_t type, const void *v, uint16_t len)
{
	p[0] = type;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	if (len)
		memcpy(p + 3, v, len);
	return 3 + (size_t)len;
}

static size_t rec_repo(uint8_t *p, unsigned n, uint8_t flags, uint32_t current)
{
	uint8_t v[77] = {0};

	repo_id(v, n);
	v[32] = flags;
	v[33] = (uint8_t)(current >> 24);
	v[36] = (uint8_t)current;
	return rec(p, 2, v, sizeof(v));
}

static size_t rec_key(uint8_t *p, uint8_t epoch)
{
	uint8_t v[36] = {0};

	v[3] = epoch;
	return rec(p, 3, v, sizeof(v));
}

static void test_parser(void)
{
	static uint8_t buf[600000];
	uint8_t seed[32] = {9};
	size_t n, m;

	n = rec(buf, 1, seed, 32);
	CHECK_RC(cf_keychain_testing_parse_body(buf, n), 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, 0), CF_E_CORRUPT);
	CHECK_RC(cf_keychain_testing_parse_body(buf, 2), CF_E_TRUNCATED);
	CHECK_RC(cf_keychain_testing_parse_body(buf, n - 1), CF_E_TRUNCATED);
	CHECK_RC(cf_keychain_testing_parse_body(buf, rec(buf, 1, seed, 31)), CF_E_FORMAT);
	CHECK_RC(cf_keychain_testing_parse_body(buf, rec(buf, 9, seed, 32)), CF_E_FORMAT);

	n = rec(buf, 1, seed, 32);
	m = n + rec(buf + n, 1, seed, 32);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* twice */
	m = rec_repo(buf, 1, 0, 0);
	m += rec(buf + m, 1, seed, 32);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* not first */
	n = rec(buf, 1, seed, 32);
	m = n + rec_key(buf + n, 1);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* no repo */
	m = n + rec_repo(buf + n, 2, 0, 0);
	m += rec_repo(buf + m, 1, 0, 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* order */
	m = n + rec_repo(buf + n, 1, 0, 0);
	m += rec_repo(buf + m, 1, 0, 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* repeated */
	m = n + rec_repo(buf + n, 1, 0, 0);
	m += rec_key(buf + m, 2);
	m += rec_key(buf + m, 2);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* epoch twice */
	m = n + rec_repo(buf + n, 1, 1, 3);
	m += rec_key(buf + m, 2);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* current absent */
	m = n + rec_repo(buf + n, 1, 0, 3);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_CORRUPT); /* stray field */
	m = n + rec_repo(buf + n, 1, 4, 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_FORMAT); /* unknown flag */
	m = n + rec_repo(buf + n, 1, 1, 3);
	m += rec_key(buf + m, 1);
	m += rec_key(buf + m, 3);
	m += rec_repo(buf + m, 2, 2, 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m - 1), CF_E_TRUNCATED);
	buf[n + 2] = 76; /* repo record one byte short */
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_FORMAT);

	/* count limits hold even for a body no writer would make */
	m = n;
	for (unsigned i = 0; i <= CF_KEYCHAIN_MAX_REPOS; i++)
		m += rec_repo(buf + m, i, 0, 0);
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_LIMIT);
	m = n + rec_repo(buf + n, 1, 0, 0);
	for (unsigned e = 0; e <= CF_KEYCHAIN_MAX_EPOCHS; e++) {
		uint8_t v[36] = {0};
		v[2] = (uint8_t)(e >> 8);
		v[3] = (uint8_t)e;
		m += rec(buf + m, 3, v, sizeof(v));
	}
	CHECK_RC(cf_keychain_testing_parse_body(buf, m), CF_E_LIMIT);
}

/*
 * Before the test hook: a keychain recording the test-only Argon2id set is refused, even
 * with CF_ARGON2_ALLOW_TEST=1 in the environment (only the hook allows it).
 */
static void test_unsafe_params(const char *tmp)
{
	struct cf_keychain *kc = NULL;
	uint8_t img[HDR + 40] = {'C', 'F', 'K', 'C', 1, 1, 255};
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/unsafe", tmp);
	REQUIRE(mkdir(dir, 0700) == 0);
	REQUIRE(cf_keyfile_write(kc_file(dir), img, sizeof(img), 1) == 0);
	setenv("CF_ARGON2_ALLOW_TEST", "1", 1);
	cf_log_set_level(0);
	CHECK_RC(cf_keychain_open(&kc, dir, "pw"), CF_E_UNSAFE);
	img[6] = 1; /* the same file with the interactive set gets as far as the AEAD */
	spill(dir, img, sizeof(img));
	CHECK_RC(cf_keychain_open(&kc, dir, "pw"), CF_E_AUTH);
	cf_log_set_level(CF_LOG_INFO);
	unsetenv("CF_ARGON2_ALLOW_TEST");
	CHECK(kc == NULL);
}

int main(void)
{
	char *tmp = check_tmpdir();

	REQUIRE(cf_core_init() == 0);
	cf_log_set_prog("test-keychain");
	test_unsafe_params(tmp);
	cf_keychain_testing_fast_kdf();
	test_create_open(tmp);
	test_passphrase(tmp);
	test_tamper(tmp);
	test_perms(tmp);
	test_repo_keys(tmp);
	test_seen(tmp);
	test_limits(tmp);
	test_parser();
	check_rmtree(tmp);
	free(tmp);
	return check_finish();
}
