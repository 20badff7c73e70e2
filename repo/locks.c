/* SPDX-License-Identifier: ISC */
/* Lock objects: backup locks and prune plans (repo/locks.h). */
#include "repo/locks.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/object.h"
#include "util/log.h"

#define LOCK_MAX (16u << 20)

struct lock_list {
	struct cf_repo *r;
	struct cf_lock *v;
	size_t n, cap;
	int err;
};

void cf_locks_free(struct cf_lock *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].host);
		free(v[i].packs);
	}
	free(v);
}

/* Decode a lock's JSON into @l. Returns 0 or CF_E_CORRUPT. */
static int lock_decode(struct cf_lock *l, const char *json, size_t len)
{
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL), *packs, *p;
	const char *kind = NULL, *host = "";
	json_int_t t = -1;
	size_t i;
	int rc = CF_E_CORRUPT;

	if (!j || json_unpack(j, "{s:s, s:I, s?s}", "kind", &kind, "time", &t, "host", &host) ||
	    t < 0)
		goto out;
	l->time = (uint64_t)t;
	l->host = strdup(host);
	if (!l->host) {
		rc = -ENOMEM;
		goto out;
	}
	if (strcmp(kind, "backup") == 0)
		l->kind = CF_LOCK_BACKUP;
	if (strcmp(kind, "prune-plan") != 0) {
		rc = 0;
		goto out;
	}
	l->kind = CF_LOCK_PLAN;
	packs = json_object_get(j, "packs");
	if (!json_is_array(packs) || json_array_size(packs) > CF_PLAN_MAX_PACKS)
		goto out;
	l->packs = malloc((json_array_size(packs) ? json_array_size(packs) : 1) * 32);
	if (!l->packs) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(packs, i, p)
	{
		if (!json_is_string(p) || cf_encode_unhex(l->packs[i], 32, json_string_value(p)))
			goto out;
		l->npacks++;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int lock_cb(void *ctx, const char *name, uint64_t size)
{
	struct lock_list *ll = ctx;
	uint8_t *buf = NULL, *pt = NULL, want[32], got[32];
	struct cf_lock l = {0};
	size_t len = 0, plen = 0;
	int rc;

	(void)size;
	rc = cf_storage_get_buf(cf_repo_storage(ll->r), name, &buf, &len, LOCK_MAX);
	if (rc == CF_E_NOTFOUND) /* released meanwhile */
		return 0;
	if (rc && rc != CF_E_LIMIT) {
		ll->err = rc;
		return rc;
	}
	if (!rc) {
		cf_object_id(buf, len, got);
		if (cf_encode_unhex(want, 32, strrchr(name, '/') + 1) || memcmp(want, got, 32))
			rc = CF_E_CORRUPT;
	}
	if (!rc)
		rc = cf_object_open(&pt, &plen, cf_repo_keyring(ll->r), cf_repo_id(ll->r),
		                    CF_OBJ_LOCK, buf, len);
	if (!rc)
		rc = lock_decode(&l, (const char *)pt, plen);
	free(buf);
	free(pt);
	if (rc) {
		free(l.host);
		free(l.packs);
	}
	if (rc == -ENOMEM) {
		ll->err = rc;
		return rc;
	}
	if (rc) {
		cf_log_warn("%s: %s ignored: %s (restore check names damaged objects)",
		            cf_repo_url(ll->r), name, cf_strerror(rc));
		return 0;
	}
	if (ll->n == ll->cap) {
		size_t cap = ll->cap ? ll->cap * 2 : 8;
		struct cf_lock *v = realloc(ll->v, cap * sizeof(*v));
		if (!v) {
			free(l.host);
			free(l.packs);
			ll->err = -ENOMEM;
			return -ENOMEM;
		}
		ll->v = v;
		ll->cap = cap;
	}
	snprintf(l.name, sizeof(l.name), "%s", name);
	ll->v[ll->n++] = l;
	return 0;
}

int cf_locks_read(struct cf_repo *r, struct cf_lock **out, size_t *n)
{
	struct lock_list ll = {.r = r};
	int rc = cf_storage_list(cf_repo_storage(r), "locks/", lock_cb, &ll);

	if (ll.err)
		rc = ll.err;
	if (rc) {
		cf_locks_free(ll.v, ll.n);
		return rc;
	}
	*out = ll.v;
	*n = ll.n;
	return 0;
}

/* Seal @j's text as a lock object under the current epoch and store it. */
static int lock_store(struct cf_repo *r, json_t *j, uint8_t id[32])
{
	const struct cf_repokeys *k = cf_keyring_current(cf_repo_keyring(r));
	char *text = NULL, name[CF_STORAGE_NAME_MAX];
	uint8_t *sealed = NULL;
	size_t slen = 0;
	int rc = -ENOMEM;

	if (!k)
		return CF_E_INVAL;
	text = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!text)
		return -ENOMEM;
	rc = cf_object_seal(&sealed, &slen, k, cf_repo_id(r), CF_OBJ_LOCK, text, strlen(text));
	if (!rc) {
		cf_object_id(sealed, slen, id);
		cf_repo_object_name(name, "locks", id);
		rc = cf_storage_put_buf(cf_repo_storage(r), name, sealed, slen);
	}
	free(text);
	free(sealed);
	return rc;
}

int cf_lock_write_plan(struct cf_repo *r, uint64_t time, const char *host,
		       const uint8_t (*packs)[32], size_t n, uint8_t id[32])
{
	json_t *j = NULL, *arr = json_array();
	char hex[CF_HEX_LEN(32)];
	int rc = -ENOMEM;

	for (size_t i = 0; arr && i < n; i++) {
		cf_encode_hex(hex, packs[i], 32);
		if (json_array_append_new(arr, json_string(hex)) < 0)
			goto out;
	}
	j = arr ? json_pack("{s:s, s:I, s:s, s:O}", "kind", "prune-plan", "time",
			    (json_int_t)time, "host", host ? host : "", "packs", arr)
		: NULL;
	rc = lock_store(r, j, id);
out:
	json_decref(arr);
	json_decref(j);
	return rc;
}

int cf_lock_write_backup(struct cf_repo *r, uint64_t time, const char *host, uint8_t id[32])
{
	json_t *j = json_pack("{s:s, s:I, s:s}", "kind", "backup", "time", (json_int_t)time,
			      "host", host ? host : "");
	int rc = lock_store(r, j, id);

	json_decref(j);
	return rc;
}

int cf_lock_delete(struct cf_repo *r, const uint8_t id[32])
{
	char name[CF_STORAGE_NAME_MAX];

	cf_repo_object_name(name, "locks", id);
	return cf_storage_delete(cf_repo_storage(r), name);
}
