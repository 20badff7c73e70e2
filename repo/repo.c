/* SPDX-License-Identifier: ISC */
#include "repo/repo.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/hash.h"
#include "repo/pack.h"
#include "repo/repo-internal.h"
#include "util/log.h"

#define CONFIG_MAX 4096

void cf_repo_object_name(char *out, const char *folder, const uint8_t id[32])
{
	char hex[CF_HEX_LEN(32)];

	cf_encode_hex(hex, id, 32);
	if (strcmp(folder, "data") == 0)
		snprintf(out, CF_STORAGE_NAME_MAX, "data/%.2s/%s", hex, hex);
	else
		snprintf(out, CF_STORAGE_NAME_MAX, "%s/%s", folder, hex);
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = i < len ? '/' : '\0';
	}
	return 0;
}

static int write_config(struct cf_repo *r)
{
	char hex[CF_HEX_LEN(CF_REPO_ID_BYTES)], *text = NULL;
	json_t *j;
	int rc;

	cf_core_random(r->repo_id, CF_REPO_ID_BYTES);
	cf_encode_hex(hex, r->repo_id, CF_REPO_ID_BYTES);
	j = json_pack("{s:s, s:i, s:s, s:I}", "coffer", "repository", "format", CF_REPO_FORMAT,
		      "repo_id", hex, "created", (json_int_t)time(NULL));
	text = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	rc = cf_storage_put_buf(r->st, "config", text, strlen(text));
	if (!rc) {
		cf_hash_blake2b(r->cfg_hash, 32, NULL, text, strlen(text));
		r->format = CF_REPO_FORMAT;
	}
	free(text);
	return rc;
}

static int parse_config(struct cf_repo *r, const uint8_t *buf, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
	const char *kind = NULL, *hex = NULL;
	json_int_t format = 0;
	int rc = CF_E_FORMAT;

	if (!j || json_unpack(j, "{s:s, s:I, s:s}", "coffer", &kind, "format", &format,
			      "repo_id", &hex) != 0 ||
	    strcmp(kind, "repository") != 0) {
		cf_log_err("%s: not a Coffer repository (unreadable config)", r->url);
		goto out;
	}
	if (format > CF_REPO_FORMAT) {
		cf_log_err("%s was written by a newer Coffer (format %lld); this build reads formats"
			   " up to %d: upgrade Coffer",
			   r->url, (long long)format, CF_REPO_FORMAT);
		rc = CF_E_VERSION;
		goto out;
	}
	if (format < 1 || cf_encode_unhex(r->repo_id, CF_REPO_ID_BYTES, hex) != 0) {
		cf_log_err("%s: config is damaged", r->url);
		goto out;
	}
	cf_hash_blake2b(r->cfg_hash, 32, NULL, buf, len);
	r->format = (unsigned)format;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int is_empty_cb(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	*(int *)ctx = 0;
	return 0;
}

static int load_or_init(struct cf_repo *r, int create)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc, empty = 1;

	rc = cf_storage_get_buf(r->st, "config", &buf, &len, CONFIG_MAX);
	if (rc == CF_E_NOTFOUND && create) {
		rc = cf_storage_list(r->st, "", is_empty_cb, &empty);
		if (rc)
			return rc;
		if (!empty || !cf_storage_fresh(r->st)) {
			cf_log_err("%s is not empty and holds no repository: refusing to"
				   " initialise one there (choose an empty or new location)",
				   r->url);
			return CF_E_FORMAT;
		}
		rc = write_config(r);
		if (!rc)
			r->created = 1;
		return rc;
	}
	if (rc == CF_E_NOTFOUND)
		cf_log_err("%s: no repository there", r->url);
	if (rc)
		return rc;
	rc = parse_config(r, buf, len);
	free(buf);
	return rc;
}

int cf_repo_open(struct cf_repo **out, const struct cf_repo_opts *o)
{
	struct cf_repo *r = calloc(1, sizeof(*r));
	char hex[CF_HEX_LEN(CF_REPO_ID_BYTES)];
	int rc;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_mutex_init(&r->win_mu, NULL);
	pthread_cond_init(&r->win_cv, NULL);
	rc = cf_core_init();
	if (!rc)
		rc = cf_storage_open_with(&r->st, o->url, o->create, o->storage);
	if (rc)
		goto fail;
	r->url = strdup(cf_storage_url(r->st));
	r->pack_size = o->pack_size ? o->pack_size : CF_REPO_DEFAULT_PACK;
	rc = r->url ? load_or_init(r, o->create) : -ENOMEM;
	if (rc)
		goto fail;
	cf_encode_hex(hex, r->repo_id, CF_REPO_ID_BYTES);
	if (asprintf(&r->cache_dir, "%s/%s", o->cache_dir, hex) < 0 ||
	    asprintf(&r->spool_dir, "%s/spool", r->cache_dir) < 0) {
		r->cache_dir = r->spool_dir = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	rc = mkdir_p(r->spool_dir);
	if (rc) {
		cf_log_err("cannot create cache folder %s: %s", r->spool_dir, strerror(-rc));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	cf_repo_free(r);
	return rc;
}

void cf_repo_free(struct cf_repo *r)
{
	if (!r)
		return;
	cf_repo_join_uploads(r); /* they use the cache and the storage */
	cf_packw_free(r->pack); /* an unfinished pack is only a spool file: gone */
	cf_repo_idset_clear(&r->inpack);
	cf_repo_idset_clear(&r->excluded);
	cf_cache_free(r->cache);
	if (r->st)
		cf_storage_wait_all(r->st); /* read-aheads write into the windows */
	cf_storage_free(r->st);
	cf_keyring_free(r->ring);
	free(r->signers);
	for (size_t i = 0; i < r->nrosters; i++)
		free(r->rosters[i].ids);
	free(r->rosters);
	free(r->url);
	free(r->cache_dir);
	free(r->spool_dir);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->win_mu);
	pthread_cond_destroy(&r->win_cv);
	for (int i = 0; i < CF_REPO_WINDOWS; i++)
		free(r->win[i].buf);
	free(r);
}

int cf_repo_created(const struct cf_repo *r)
{
	return r->created;
}

const uint8_t *cf_repo_id(const struct cf_repo *r)
{
	return r->repo_id;
}

const uint8_t *cf_repo_config_hash(const struct cf_repo *r)
{
	return r->cfg_hash;
}

struct cf_storage *cf_repo_storage(const struct cf_repo *r)
{
	return r->st;
}

struct cf_cache *cf_repo_cache(const struct cf_repo *r)
{
	return r->cache;
}

const char *cf_repo_url(const struct cf_repo *r)
{
	return r->url;
}

const char *cf_repo_spool_dir(const struct cf_repo *r)
{
	return r->spool_dir;
}

int cf_repo_set_keys(struct cf_repo *r, struct cf_keyring *ring, const struct cf_identity *me,
		     const struct cf_pubid *signers, size_t nsigners)
{
	struct cf_pubid *copy = malloc(nsigners ? nsigners * sizeof(*copy) : 1);

	if (!copy) {
		cf_keyring_free(ring);
		return -ENOMEM;
	}
	if (nsigners)
		memcpy(copy, signers, nsigners * sizeof(*copy));
	cf_keyring_free(r->ring);
	free(r->signers);
	r->ring = ring;
	r->me = me;
	r->signers = copy;
	r->nsigners = nsigners;
	return 0;
}

const struct cf_keyring *cf_repo_keyring(const struct cf_repo *r)
{
	return r->ring;
}

const struct cf_identity *cf_repo_identity(const struct cf_repo *r)
{
	return r->me;
}

const struct cf_pubid *cf_repo_signers(const struct cf_repo *r, size_t *n)
{
	*n = r->nsigners;
	return r->signers;
}

void cf_repo_stats(const struct cf_repo *r, struct cf_repo_stats *st)
{
	struct cf_repo *w = (struct cf_repo *)r; /* the lock only, nothing else changes */

	pthread_mutex_lock(&w->mu);
	*st = r->stats;
	pthread_mutex_unlock(&w->mu);
}

int cf_repo_set_roster(struct cf_repo *r, uint32_t epoch, const struct cf_pubid *ids, size_t n)
{
	struct cf_pubid *copy = malloc(n ? n * sizeof(*copy) : 1);
	struct repo_roster *v;
	size_t i;

	if (!copy)
		return -ENOMEM;
	if (n)
		memcpy(copy, ids, n * sizeof(*copy));
	for (i = 0; i < r->nrosters; i++)
		if (r->rosters[i].epoch == epoch)
			break;
	if (i == r->nrosters) {
		v = realloc(r->rosters, (r->nrosters + 1) * sizeof(*v));
		if (!v) {
			free(copy);
			return -ENOMEM;
		}
		r->rosters = v;
		r->nrosters++;
	} else {
		free(r->rosters[i].ids);
	}
	r->rosters[i].epoch = epoch;
	r->rosters[i].ids = copy;
	r->rosters[i].n = n;
	return 0;
}

const struct cf_pubid *cf_repo_roster(const struct cf_repo *r, uint32_t epoch, size_t *n)
{
	for (size_t i = 0; i < r->nrosters; i++)
		if (r->rosters[i].epoch == epoch) {
			*n = r->rosters[i].n;
			return r->rosters[i].ids;
		}
	*n = 0;
	return NULL;
}
