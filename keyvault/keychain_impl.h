/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Private to keychain.c (file framing, open/create/save) and keychain_body.c (in-memory
 * tables, the record body, accessors). Byte layout: docs/keychain.md.
 *
 * Everything in a handle sits in secure memory: the handle itself, the repository table
 * (sorted by repository id) and the key table (sorted by repository id, then epoch).
 * Sorted tables give binary-search lookups and one canonical body, whose order the
 * parser checks.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/aead.h"
#include "core/keyfile.h"
#include "core/secbuf.h"
#include "keyvault/keychain.h"

enum {
	/* body records: type u8 | length u16 (big-endian) | value */
	KC_REC_HDR = 3,
	KC_REC_IDENTITY = 1,
	KC_REC_REPO = 2,
	KC_REC_KEY = 3,
	KC_REPO_VAL = 32 + 1 + 4 + 8 + 32, /* 77 */
	KC_KEY_VAL = 4 + 32,               /* 36 */
	KC_REPO_F_CURRENT = 0x01,
	KC_REPO_F_SEEN = 0x02,
	/* file header; the sealed body follows */
	KC_HDR_BYTES = 4 + 1 + 1 + 1 + 16 + 4, /* 27 */
};

/* Largest body whose file still fits in a key file. */
#define KC_MAX_BODY (CF_KEYFILE_MAX_BYTES - KC_HDR_BYTES - CF_AEAD_OVERHEAD)

struct kc_repo {
	uint8_t id[32];
	uint8_t flags; /* KC_REPO_F_*; fields without their flag are zero */
	uint32_t current;
	uint32_t nkeys;
	uint64_t seen_seq;
	uint8_t seen_hash[32];
};

struct kc_key {
	uint8_t repo[32];
	uint32_t epoch;
	uint8_t key[32];
};

/*
 * Which version of the file a handle belongs to (see cf_keychain_save). Every save makes
 * a new file (rename), so the inode changes; mtime catches a reused inode number. ctime
 * is left out on purpose: a chmod is not a new version.
 */
struct kc_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct cf_keychain {
	struct cf_identity *id;
	struct cf_secbuf *pass; /* NUL-terminated; NULL: no passphrase */
	struct kc_repo *repos;
	size_t nrepos, repo_cap;
	struct kc_key *keys;
	size_t nkeys, key_cap;
	char *path; /* not secret: plain malloc */
	struct kc_stamp disk;
};

static inline void kc_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t kc_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* kc_body_size - the encoded body's length for these table sizes. */
size_t kc_body_size(size_t nrepos, size_t nkeys);

/* kc_encode_body - the body of @kc into a new secure buffer. Returns 0 or -ENOMEM. */
int kc_encode_body(const struct cf_keychain *kc, struct cf_secbuf **out);

/*
 * kc_decode_body - parse @len untrusted bytes into the empty handle @kc (identity and
 * tables). Returns 0, CF_E_FORMAT, CF_E_CORRUPT, CF_E_TRUNCATED, CF_E_LIMIT or -ENOMEM;
 * on error @kc may hold part of the tables (the caller frees it).
 */
int kc_decode_body(struct cf_keychain *kc, const uint8_t *p, size_t len);
