/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to check.c, check_data.c and check_snap.c. */
#include "restore/check.h"

#include "core/identity.h"
#include "repo/keys.h"
#include "repo/repo.h"
#include "restore/blobset.h"

/* A pack as the repository lists it or an index names it. */
struct ck_pack {
	uint8_t id[32];
	uint64_t size;
	size_t index; /* which index object names it (indexed list only) */
};

struct ck_packs {
	struct ck_pack *v;
	size_t n, cap;
};

struct ck {
	const struct cf_check_opts *o;
	cf_check_report_fn report;
	void *ctx;
	struct cf_check_stats st;

	struct cf_keychain *kc;
	struct cf_repo *repo;       /* NULL while diagnosing a repository that did not open */
	struct cf_storage *storage; /* the repository's, or our own while diagnosing */
	int have_config;            /* repo_id and cfg_hash are known */
	uint8_t repo_id[32], cfg_hash[32];
	const struct cf_keyring *ring; /* may be NULL */
	const struct cf_pubid *signers;
	size_t nsigners;

	uint8_t (*index_ids)[32]; /* valid index objects, in the order read */
	size_t nindex;
	struct ck_packs stored;  /* data/ as listed, sorted by id */
	struct ck_packs indexed; /* named by a valid index, sorted by id */
	struct cf_blobset seen;  /* blobs already found in an index */
};

/* ck_damage / ck_note - report a finding about @object (printf-style explanation). */
void ck_damage(struct ck *c, const char *object, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ck_note(struct ck *c, const char *object, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * ck_fetch - read the small object @name (at most @max bytes) and check that it hashes
 * to the id in its name; damage is reported. Returns 0, CF_E_CORRUPT / CF_E_LIMIT /
 * CF_E_NOTFOUND (reported or vanished meanwhile), or a storage error (not reported).
 */
int ck_fetch(struct ck *c, const char *name, size_t max, uint8_t **buf, size_t *len);

/* ck_is_damage - 1 when @err from reading an object means the object is bad. */
int ck_is_damage(int err);

/* ck_names - every object name under @prefix ("index/", ...), malloc'ed. */
int ck_names(struct ck *c, const char *prefix, char (**names)[CF_STORAGE_NAME_MAX], size_t *n);

/* ck_pack_find - the pack @id in @l (sorted), or NULL. */
const struct ck_pack *ck_pack_find(const struct ck_packs *l, const uint8_t id[32]);

/* The passes, in order. Each returns 0 or an error that stops the check. */
int ck_indexes(struct ck *c);
int ck_packs(struct ck *c);
int ck_snapshots(struct ck *c);
int ck_read_data(struct ck *c);
void ck_free(struct ck *c);
