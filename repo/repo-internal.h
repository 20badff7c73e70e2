/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to repo.c, repo_sync.c and repo_write.c. */
#include <pthread.h>
#include <stdatomic.h>

#include "repo/repo.h"

#include "repo/pack.h"

/* Full packs uploaded by background threads at once, at most (repo_write.c). */
#define CF_REPO_BG_UPLOADS 3

struct idset {
	uint8_t (*ids)[CF_BLOB_ID_BYTES + 1]; /* id || type; all-zero slot = empty */
	size_t n, cap;
};

/* Blobs are read through aligned windows of the pack (repo_sync.c). */
#define CF_REPO_READ_WINDOW (1u << 20)

#define CF_REPO_WINDOWS 9 /* the one being read and up to 8 read ahead */
#define CF_REPO_LOCAL_WINDOWS 8 /* file://: two per reader or so (3 workers on 2 CPUs) */

struct repo_window {
	uint8_t pack[32];
	uint64_t off, len;
	uint8_t *buf;
	size_t cap;
	uint64_t used;          /* last use, for replacement */
	_Atomic int state;      /* WIN_EMPTY, WIN_PENDING, WIN_READY */
	_Atomic int rc;         /* the read-ahead's result */
};

struct cf_repo {
	struct cf_storage *st;
	struct cf_cache *cache;
	char *url;
	char *cache_dir;    /* <base>/<repo id hex> */
	char *spool_dir;    /* <cache_dir>/spool */
	uint8_t repo_id[CF_REPO_ID_BYTES];
	uint8_t cfg_hash[32];
	unsigned format;     /* the config's format: 2 and later write version 2 packs */
	int created;
	uint64_t pack_size;

	struct cf_keyring *ring;
	const struct cf_identity *me;
	struct cf_pubid *signers;
	size_t nsigners;
	struct repo_roster {
		uint32_t epoch;
		struct cf_pubid *ids;
		size_t n;
	} *rosters;
	size_t nrosters;

	/* writer; @mu guards it (and the cache) so cf_repo_put_blob may run on several threads */
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* an upload finished */
	pthread_mutex_t win_mu; /* guards @win */
	pthread_cond_t win_cv;  /* local storage: a window read without win_mu ended */
	struct repo_window win[CF_REPO_WINDOWS]; /* windows read and read ahead */
	uint64_t win_clock;
	struct cf_packw *pack;  /* being filled; NULL when none */
	uint32_t pack_epoch;    /* the epoch of @pack's blobs */
	/* packs are numbered (tickets) when taken for upload; uploads finish in any order */
	uint64_t packs_taken, packs_durable; /* tickets [0, durable) are all stored */
	uint64_t done_mask;     /* bit i: ticket durable + i is stored */
	uint32_t pack_epoch_of[64]; /* by ticket % 64, for the uploads in flight */
	int uploading;          /* uploads in flight */
	pthread_t bg_tid[CF_REPO_BG_UPLOADS]; /* background uploads (repo_write.c) */
	int bg_state[CF_REPO_BG_UPLOADS];     /* 0 free, 1 running, 2 done: to be joined */
	int write_err;          /* the first failed upload: every later write fails with it */
	struct idset inpack;    /* ids of the blobs in @pack (dedup before the cache knows) */
	struct idset excluded;  /* packs named by prune plans: no dedup against them */
	struct cf_repo_stats stats;
};

int cf_repo_idset_add(struct idset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES]);
int cf_repo_idset_has(const struct idset *s, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES]);
void cf_repo_idset_clear(struct idset *s);
/* Wait for the background pack uploads and join their threads (repo_write.c). */
void cf_repo_join_uploads(struct cf_repo *r);
