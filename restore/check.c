/* SPDX-License-Identifier: ISC */
/*
 * restore check: the driver, config and key slots, and the diagnosis of a repository
 * that cannot be opened at all (a damaged config, a deleted roster). Indexes and packs
 * are in check_data.c, snapshots in check_snap.c.
 */
#include "restore/check_impl.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/secbuf.h"
#include "keyvault/vault.h"
#include "repo/keyslot.h"
#include "repo/manifest.h"
#include "repo/object.h"
#include "restore/extract.h"
#include "util/log.h"

#define CONFIG_MAX 4096
#define SLOT_MAX   (CF_KEYSLOT_HEADER_BYTES + CF_KEYSLOT_MAX_BODY)
#define LOCK_MAX   (16u << 20)
#define EPOCH_MAX  65536u

static void report(struct ck *c, int damage, const char *object, int err, const char *fmt,
                   va_list ap) __attribute__((format(printf, 5, 0)));
static void report(struct ck *c, int damage, const char *object, int err, const char *fmt,
                   va_list ap)
{
	struct cf_check_finding f = {.object = object, .err = err, .damage = damage};
	char what[1024];

	vsnprintf(what, sizeof(what), fmt, ap);
	f.what = what;
	if (damage)
		c->st.damaged++;
	else
		c->st.notes++;
	c->report(c->ctx, &f);
}

void ck_damage(struct ck *c, const char *object, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, 1, object, err, fmt, ap);
	va_end(ap);
}

void ck_note(struct ck *c, const char *object, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, 0, object, err, fmt, ap);
	va_end(ap);
}

int ck_is_damage(int err)
{
	return err == CF_E_AUTH || err == CF_E_CORRUPT || err == CF_E_FORMAT ||
	       err == CF_E_TRUNCATED || err == CF_E_LIMIT || err == CF_E_SIGNATURE ||
	       err == CF_E_UNTRUSTED || err == CF_E_VERSION;
}

int ck_fetch(struct ck *c, const char *name, size_t max, uint8_t **buf, size_t *len)
{
	const char *hex = strrchr(name, '/');
	uint8_t want[32], got[32];
	int rc;

	rc = cf_storage_get_buf(c->storage, name, buf, len, max);
	if (rc == CF_E_LIMIT) {
		ck_damage(c, name, rc, "larger than such an object can be");
		return rc;
	}
	if (rc)
		return rc;
	cf_object_id(*buf, *len, got);
	if (!hex || cf_encode_unhex(want, 32, hex + 1) != 0 || memcmp(want, got, 32) != 0) {
		ck_damage(c, name, CF_E_CORRUPT,
		          "does not match its name: altered, truncated or swapped");
		free(*buf);
		*buf = NULL;
		return CF_E_CORRUPT;
	}
	return 0;
}

struct names {
	char (*v)[CF_STORAGE_NAME_MAX];
	size_t n, cap;
};

static int names_cb(void *ctx, const char *name, uint64_t size)
{
	struct names *l = ctx;

	(void)size;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char(*v)[CF_STORAGE_NAME_MAX] = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n++], CF_STORAGE_NAME_MAX, "%s", name);
	return 0;
}

int ck_names(struct ck *c, const char *prefix, char (**out)[CF_STORAGE_NAME_MAX], size_t *n)
{
	struct names l = {0};
	int rc = cf_storage_list(c->storage, prefix, names_cb, &l);

	if (rc) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* Objects of @prefix: only their names are checked (diagnosis, locks). */
static int names_only(struct ck *c, const char *prefix, size_t max, size_t *count)
{
	char(*names)[CF_STORAGE_NAME_MAX] = NULL;
	size_t n = 0;
	int rc = ck_names(c, prefix, &names, &n);

	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;

		rc = ck_fetch(c, names[i], max, &buf, &len);
		if (ck_is_damage(rc) || rc == CF_E_NOTFOUND)
			rc = 0;
		if (buf)
			++*count;
		free(buf);
	}
	free(names);
	return rc;
}

static int count_cb(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	++*(size_t *)ctx;
	return 0;
}

/*
 * The config object read directly (the repository did not open): reports damage; sets
 * have_config, repo_id and cfg_hash when it is sound. Returns 0, CF_E_NOTFOUND (an empty
 * location: no repository at all), CF_E_VERSION, or a storage error.
 */
static int config_raw(struct ck *c)
{
	const char *kind = NULL, *hex = NULL;
	json_int_t format = 0;
	uint8_t *buf = NULL;
	size_t len = 0, count = 0;
	json_t *j = NULL;
	int rc;

	rc = cf_storage_get_buf(c->storage, "config", &buf, &len, CONFIG_MAX);
	if (rc == CF_E_NOTFOUND) {
		rc = cf_storage_list(c->storage, "", count_cb, &count);
		if (!rc && !count)
			return CF_E_NOTFOUND;
		if (!rc)
			ck_damage(c, "config", CF_E_NOTFOUND,
			          "missing, while the repository holds %zu objects", count);
		return rc;
	}
	if (rc == CF_E_LIMIT) {
		ck_damage(c, "config", rc, "larger than a config can be");
		return 0;
	}
	if (rc)
		return rc;
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!j ||
	    json_unpack(j, "{s:s, s:I, s:s}", "coffer", &kind, "format", &format, "repo_id",
	                &hex) != 0 ||
	    strcmp(kind, "repository") != 0 || format < 1 ||
	    cf_encode_unhex(c->repo_id, 32, hex) != 0) {
		ck_damage(c, "config", CF_E_FORMAT, "not a valid repository config");
	} else if (format > CF_REPO_FORMAT) {
		cf_log_err("%s was written by a newer Coffer (format %lld); this build reads"
		           " formats up to %d",
		           c->o->repo_url, (long long)format, CF_REPO_FORMAT);
		rc = CF_E_VERSION;
	} else {
		cf_hash_blake2b(c->cfg_hash, 32, NULL, buf, len);
		c->have_config = 1;
	}
	json_decref(j);
	free(buf);
	return rc;
}

/* A slot that hashes to its name but does not authenticate: reported at the end. */
struct pending {
	char name[CF_STORAGE_NAME_MAX];
	int err;
	uint8_t kind;
	uint32_t epoch;
};

struct keys_pass {
	uint8_t roster[EPOCH_MAX], mine[EPOCH_MAX]; /* per epoch: a valid one was seen */
	struct pending *bad;
	size_t nbad, capbad;
	size_t auth_ok;
};

static int add_pending(struct keys_pass *k, const char *name, int err, uint8_t kind, uint32_t epoch)
{
	if (k->nbad == k->capbad) {
		size_t cap = k->capbad ? k->capbad * 2 : 8;
		struct pending *v = realloc(k->bad, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		k->bad = v;
		k->capbad = cap;
	}
	snprintf(k->bad[k->nbad].name, CF_STORAGE_NAME_MAX, "%s", name);
	k->bad[k->nbad].err = err;
	k->bad[k->nbad].kind = kind;
	k->bad[k->nbad++].epoch = epoch;
	return 0;
}

/* Authenticate one parsed slot (a roster, or a device slot) under the config. */
static int slot_auth(struct ck *c, struct keys_pass *k, const char *name,
                     const struct cf_keyslot *ks, const uint8_t *buf, size_t len)
{
	const struct cf_identity *me = cf_keychain_identity(c->kc);
	struct cf_pubid self;
	int rc;

	if (ks->kind == CF_SLOT_ROSTER) {
		struct cf_roster *ro = NULL;

		if (!c->ring || !cf_keyring_get(c->ring, ks->epoch))
			return 0; /* an epoch this device cannot read */
		rc = cf_roster_open(&ro, c->ring, c->repo_id, c->cfg_hash, buf, len);
		cf_roster_free(ro);
		if (rc == -ENOMEM)
			return rc;
		if (rc)
			return add_pending(k, name, rc, ks->kind, ks->epoch);
		k->auth_ok++;
		if (ks->epoch < EPOCH_MAX)
			k->roster[ks->epoch] = 1;
		return 0;
	}
	if (ks->kind == CF_SLOT_DEVICE) {
		struct cf_secbuf *mk = NULL;
		uint32_t epoch = 0;

		cf_identity_public(me, &self);
		rc = cf_keyslot_device_open(&mk, &epoch, me, c->nsigners ? c->signers : &self,
		                            c->nsigners ? c->nsigners : 1, c->repo_id, c->cfg_hash,
		                            buf, len);
		cf_secbuf_free(mk);
		if (rc == -ENOMEM)
			return rc;
		if (rc == CF_E_UNTRUSTED) {
			ck_note(c, name, rc,
			        "a device slot made by a device that is not trusted"
			        " to sign snapshots");
			return 0;
		}
		if (rc && rc != CF_E_NOTRECIPIENT)
			return add_pending(k, name, rc, ks->kind, ks->epoch);
		k->auth_ok++; /* its signature verified under this config */
		if (!rc && epoch < EPOCH_MAX)
			k->mine[epoch] = 1;
	}
	return 0;
}

/*
 * keys/: names, headers, and the slots this device can authenticate. While diagnosing
 * (@diag), slots that all fail although they match their names point at the config.
 */
static int ck_keys(struct ck *c, int diag)
{
	char(*names)[CF_STORAGE_NAME_MAX] = NULL;
	struct keys_pass *k = calloc(1, sizeof(*k));
	uint32_t top = 0;
	size_t n = 0;
	int rc;

	if (!k)
		return -ENOMEM;
	rc = ck_names(c, "keys/", &names, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		struct cf_keyslot ks;
		uint8_t *buf = NULL;
		size_t len = 0;

		rc = ck_fetch(c, names[i], SLOT_MAX, &buf, &len);
		if (ck_is_damage(rc) || rc == CF_E_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		c->st.keys++;
		rc = cf_keyslot_parse(&ks, buf, len);
		if (rc) {
			ck_damage(c, names[i], rc, "not a key slot: %s", cf_strerror(rc));
			rc = 0;
		} else if (c->have_config) {
			rc = slot_auth(c, k, names[i], &ks, buf, len);
		}
		free(buf);
	}
	free(names);
	if (rc)
		goto out;
	if (diag && c->have_config && k->nbad && !k->auth_ok) {
		ck_damage(c, "config", CF_E_AUTH,
		          "the key slots match their names but none authenticates under this"
		          " config: the config was altered");
	} else {
		for (size_t i = 0; i < k->nbad; i++)
			ck_damage(c, k->bad[i].name, k->bad[i].err,
			          "%s of key epoch %u does not authenticate in this repository: %s",
			          k->bad[i].kind == CF_SLOT_ROSTER ? "the roster" : "a device slot",
			          (unsigned)k->bad[i].epoch, cf_strerror(k->bad[i].err));
	}
	if (c->ring && cf_keyring_current(c->ring))
		top = cf_repokeys_epoch(cf_keyring_current(c->ring));
	for (uint32_t e = 1; e <= top && e < EPOCH_MAX; e++) {
		if (!cf_keyring_get(c->ring, e))
			continue;
		if (!k->roster[e])
			ck_damage(c, "keys/", CF_E_NOTFOUND,
			          "no valid roster for key epoch %u: it was deleted or damaged",
			          (unsigned)e);
		if (!k->mine[e])
			ck_damage(c, "keys/", CF_E_NOTFOUND,
			          "no key slot of this device for key epoch %u: it was deleted or"
			          " damaged",
			          (unsigned)e);
	}
out:
	free(k->bad);
	free(k);
	return rc;
}

/* The keys this device's keychain holds for the repository named by the config. */
static int ring_from_keychain(struct ck *c, struct cf_keyring **out)
{
	uint8_t key[CF_MASTER_KEY_BYTES];
	struct cf_keyring *ring = NULL;
	uint32_t cur = 0;
	int rc = cf_keyring_new(&ring);

	if (!rc && c->have_config && cf_keychain_repo_current(c->kc, c->repo_id, &cur) == 0) {
		for (uint32_t e = 1; e <= cur && !rc; e++)
			if (cf_keychain_repo_key(c->kc, c->repo_id, e, key) == 0)
				rc = cf_keyring_add(ring, e, key, e == cur);
		cf_core_wipe(key, sizeof(key));
	}
	if (rc) {
		cf_keyring_free(ring);
		return rc;
	}
	*out = ring;
	return 0;
}

/*
 * The repository did not open (@why) or this device's keys did not attach: say what is
 * damaged from what can still be read — the config, the key slots, and the names of the
 * other small objects.
 */
static int diagnose(struct ck *c, int why)
{
	static const char *const folders[] = {"index/", "snapshots/", "forget/", "locks/"};
	static const size_t max[] = {CF_OBJECT_MAX_PLAIN + CF_OBJECT_OVERHEAD,
	                             CF_MANIFEST_MAX_BYTES, CF_FORGET_MAX_BYTES, LOCK_MAX};
	size_t *count[] = {&c->st.indexes, &c->st.snapshots, &c->st.forgets, &c->st.locks};
	struct cf_keyring *ring = NULL;
	size_t before = c->st.damaged;
	int rc;

	if (!c->storage) {
		rc = cf_storage_open(&c->storage, c->o->repo_url, 0);
		if (rc)
			return rc;
		rc = config_raw(c);
		if (rc)
			return rc;
	}
	rc = ring_from_keychain(c, &ring);
	if (rc)
		return rc;
	c->ring = ring;
	rc = ck_keys(c, 1);
	for (size_t i = 0; i < 4 && !rc; i++)
		rc = names_only(c, folders[i], max[i], count[i]);
	c->ring = NULL;
	cf_keyring_free(ring);
	if (!rc && c->st.damaged == before) {
		if (why == CF_E_CORRUPT)
			ck_damage(c, "keys/", why,
			          "no valid roster for a key epoch of this device");
		else
			rc = why; /* nothing damaged: this device simply has no access */
	}
	return rc;
}

/* A fresh, private cache folder below @base (created with its parents, 0700). */
static int make_cache(const char *base, char **out)
{
	char *dir = NULL;

	if (asprintf(&dir, "%s/", base) < 0)
		return -ENOMEM;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			int rc = -errno;
			cf_log_err("cannot create the cache folder %s: %s", dir, strerror(errno));
			free(dir);
			return rc;
		}
		*p = '/';
	}
	free(dir);
	if (asprintf(&dir, "%s/check-XXXXXX", base) < 0)
		return -ENOMEM;
	if (!mkdtemp(dir)) {
		int rc = -errno;
		cf_log_err("cannot create a folder in %s: %s", base, strerror(errno));
		free(dir);
		return rc;
	}
	*out = dir;
	return 0;
}

void ck_free(struct ck *c)
{
	free(c->index_ids);
	free(c->stored.v);
	free(c->indexed.v);
	cf_blobset_clear(&c->seen);
	if (c->repo)
		cf_repo_free(c->repo);
	else
		cf_storage_free(c->storage);
}

int cf_check_run(struct cf_keychain *kc, const struct cf_check_opts *o, cf_check_report_fn rep,
                 void *ctx, struct cf_check_stats *st)
{
	struct ck c = {.o = o, .report = rep, .ctx = ctx, .kc = kc};
	struct cf_repo_opts ro = {0};
	char *cache = NULL;
	int rc;

	if (!kc || !o || !o->repo_url || !o->cache_base || !rep)
		return CF_E_INVAL;
	rc = make_cache(o->cache_base, &cache);
	if (rc)
		return rc;
	ro.url = o->repo_url;
	ro.cache_dir = cache;
	rc = cf_repo_open(&c.repo, &ro);
	if (rc == CF_E_NOTFOUND || rc == CF_E_FORMAT) {
		rc = diagnose(&c, rc);
		goto out;
	}
	if (rc)
		goto out;
	c.storage = cf_repo_storage(c.repo);
	c.have_config = 1;
	memcpy(c.repo_id, cf_repo_id(c.repo), 32);
	memcpy(c.cfg_hash, cf_repo_config_hash(c.repo), 32);
	rc = cf_vault_attach(c.repo, kc);
	if (rc == CF_E_NOTFOUND || rc == CF_E_CORRUPT) {
		rc = diagnose(&c, rc);
		goto out;
	}
	if (!rc)
		rc = cf_repo_sync(c.repo);
	if (rc == CF_E_CORRUPT)
		rc = 0; /* a damaged index: named below */
	if (rc)
		goto out;
	c.ring = cf_repo_keyring(c.repo);
	c.signers = cf_repo_signers(c.repo, &c.nsigners);
	rc = ck_keys(&c, 0);
	if (!rc)
		rc = ck_indexes(&c);
	if (!rc)
		rc = ck_packs(&c);
	if (!rc)
		rc = ck_snapshots(&c);
	if (!rc)
		rc = names_only(&c, "locks/", LOCK_MAX, &c.st.locks);
	if (!rc && o->read_data)
		rc = ck_read_data(&c);
out:
	ck_free(&c);
	if (cache) {
		cf_extract_rmtree(cache);
		free(cache);
	}
	if (st)
		*st = c.st;
	return rc;
}
