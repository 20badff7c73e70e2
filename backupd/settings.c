/* SPDX-License-Identifier: ISC */
#include "backupd/settings.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "keyvault/session.h"
#include "repo/storage.h"
#include "util/log.h"

/* [storage] keys whose value is a secret: in the file itself only when it is private. */
static const char *const secret_keys[] = {"secret_access_key", "session_token", "password"};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The store path made absolute, symbolic links resolved when it exists. */
static char *absolute_store(const char *p)
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	char *out = NULL;

	if (realpath(p, buf))
		return strdup(buf);
	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

/* 1 when @path is a file only its owner may read or write. */
static int private_file(const char *path)
{
	struct stat st;

	return path && !stat(path, &st) && !(st.st_mode & 077);
}

/* Every [storage] key through the storage layer's own checks. */
static int check_storage(const struct cf_config *c, char *err, size_t cap)
{
	struct cf_storage_options *o = NULL;
	const char *file = c->path ? c->path : "(configuration)";
	int r = 0;

	if (!c->nstorage)
		return 0;
	if ((r = cf_storage_options_new(&o)))
		return r;
	for (size_t i = 0; i < c->nstorage && !r; i++) {
		const struct cf_config_entry *e = &c->storage[i];

		for (size_t k = 0; k < sizeof(secret_keys) / sizeof(secret_keys[0]); k++)
			if (!strcmp(e->key, secret_keys[k]) && !private_file(c->path)) {
				snprintf(err, cap,
				         "%s:%d: [storage] %s: a secret in a configuration file others can "
				         "read: chmod 600 the file, or use %s_file (a file only you can "
				         "read) or the environment",
				         file, e->line, e->key, e->key);
				r = CF_E_CONFIG;
			}
		if (r)
			break;
		r = cf_storage_options_set(o, e->key, e->value);
		if (r)
			snprintf(err, cap, "%s:%d: [storage] %s: %s (docs/storage.md lists the keys)",
			         file, e->line, e->key,
			         r == CF_E_CONFIG ? "unknown key or invalid value" : cf_strerror(r));
	}
	cf_storage_options_free(o);
	return r == CF_E_PERM || r < 0 ? CF_E_CONFIG : r;
}

int cf_settings_load(struct cf_settings **out, const struct cf_settings_args *a, int need_store,
                     char *err, size_t cap)
{
	struct cf_settings *s = calloc(1, sizeof(*s));
	struct cf_config *c;
	const char *store, *file;
	int r;

	if (!s)
		return -ENOMEM;
	r = cf_config_load(&s->cfg, a->config, err, cap);
	if (r)
		goto fail;
	c = s->cfg;
	file = c->path ? c->path : "the configuration file";
	r = check_storage(c, err, cap);
	if (r)
		goto fail;
	store = a->store ? a->store : c->store;
	r = -ENOMEM;
	if (store && !(s->store = absolute_store(store)))
		goto fail;
	if (!(s->repo = dup_or_null(a->repo ? a->repo : c->repo_url)) && (a->repo || c->repo_url))
		goto fail;
	s->state_dir = a->state_dir   ? strdup(a->state_dir)
	               : c->state_dir ? strdup(c->state_dir)
	                              : cf_session_default_dir("STATE");
	s->cache_dir = a->cache_dir   ? strdup(a->cache_dir)
	               : c->cache_dir ? strdup(c->cache_dir)
	                              : cf_session_default_dir("CACHE");
	if (!s->state_dir || !s->cache_dir || (c->path && !(s->config_path = strdup(c->path))))
		goto fail;
	r = CF_E_CONFIG;
	if (need_store && !s->store) {
		snprintf(err, cap, "no message store: give --store DIR, or path in the [store] section of %s",
		         file);
		goto fail;
	}
	if (need_store && !s->repo) {
		snprintf(err, cap, "no repository: give --repo URL, or url in the [repository] section of %s",
		         file);
		goto fail;
	}
	s->pass_file = a->pass_file ? a->pass_file : c->passphrase_file;
	s->pack_mib = a->pack_mib ? a->pack_mib : c->pack_mib;
	s->sched = (struct cf_schedule){c->interval,   c->jitter,    c->window_start,
	                                c->window_end, c->retry_min, c->retry_max};
	s->retain.policy = (struct cf_retention_policy){c->keep_last,    c->keep_hourly,
	                                                c->keep_daily,   c->keep_weekly,
	                                                c->keep_monthly, c->keep_yearly,
	                                                c->keep_within};
	s->retain.prune = c->prune;
	s->retain.prune_grace = c->prune_grace;
	*out = s;
	return 0;
fail:
	cf_settings_free(s);
	return r;
}

void cf_settings_free(struct cf_settings *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nenv; i++)
		free(s->env_set[i]);
	free(s->env_set);
	free(s->config_path);
	free(s->store);
	free(s->repo);
	free(s->state_dir);
	free(s->cache_dir);
	cf_config_free(s->cfg);
	free(s);
}

int cf_settings_apply_storage(struct cf_settings *s, struct cf_settings *old)
{
	for (size_t i = 0; old && i < old->nenv; i++)
		unsetenv(old->env_set[i]);
	for (size_t i = 0; i < s->cfg->nstorage; i++) {
		const struct cf_config_entry *e = &s->cfg->storage[i];
		char name[128], **v;
		size_t n = (size_t)snprintf(name, sizeof(name), "COFFER_STORAGE_%s", e->key);

		if (n >= sizeof(name))
			continue; /* no key of the storage layer is that long */
		for (size_t k = 15; k < n; k++)
			name[k] = (char)toupper((unsigned char)name[k]);
		if (getenv(name))
			continue; /* the user's environment wins over the file */
		v = realloc(s->env_set, (s->nenv + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->env_set = v;
		if (!(v[s->nenv] = strdup(name)) || setenv(name, e->value, 1))
			return -ENOMEM;
		s->nenv++;
	}
	return 0;
}

void cf_settings_job(const struct cf_settings *s, enum cf_job_kind kind, struct cf_job *j)
{
	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->store = s->store;
	j->repo = s->repo;
	j->state_dir = s->state_dir;
	j->cache_dir = s->cache_dir;
	j->pass_file = s->pass_file;
	j->pack_mib = s->pack_mib;
	j->retain = s->retain;
}

/* The retention step as its own job row. */
static int record_retention(struct cf_statedb *db, const struct cf_settings *s,
                            const struct cf_job *j)
{
	struct cf_statedb_job_end e = {.status = j->retain_rc ? "failed" : "ok",
	                               .error_code = j->retain_rc,
	                               .error = j->retain_rc ? j->retain_why : NULL,
	                               .snapshot_seq = -1};
	char *detail = json_dumps(j->retention, JSON_COMPACT);
	int64_t id;
	int r = cf_statedb_job_start(db, "retention", NULL, s->store, &id);

	e.detail = detail;
	if (!r)
		r = cf_statedb_job_end(db, id, &e);
	free(detail);
	return r;
}

int cf_settings_record(struct cf_statedb *db, const struct cf_settings *s, int64_t id,
                       const struct cf_job *j, int cancelled, unsigned *failures)
{
	struct cf_statedb_job_end e = {.snapshot_seq = -1};
	struct cf_statedb_store u = {.url = s->repo, .set_failures = 1};
	char *detail = NULL;
	int r;

	u.failures = cf_statedb_failures(db, s->store);
	if (j->kind == CF_JOB_BACKUP) {
		e.status = j->rc == 0 ? "ok" : cancelled ? "cancelled" : "failed";
		e.error_code = j->rc;
		e.error = j->rc ? j->why : NULL;
		if (j->have_snap) {
			e.files = j->snap.files;
			e.bytes_new = j->snap.new_bytes;
			e.bytes_stored = j->snap.stored_bytes;
			e.snapshot_seq = (int64_t)j->snap.seq;
		}
		if (!j->rc)
			u.failures = 0;
		else if (!cancelled)
			u.failures++;
	} else {
		e.status = j->rc || j->retain_rc ? "failed" : "ok";
		e.error_code = j->rc ? j->rc : j->retain_rc;
		e.error = j->rc ? j->why : j->retain_rc ? j->retain_why : NULL;
		e.detail = detail = j->retention ? json_dumps(j->retention, JSON_COMPACT) : NULL;
		u.set_failures = 0;
	}
	r = cf_statedb_job_end(db, id, &e);
	free(detail);
	if (!r && j->kind == CF_JOB_BACKUP && j->retention)
		r = record_retention(db, s, j);
	if (j->measured) {
		u.set_size = 1;
		u.bytes = (int64_t)j->repo_bytes;
		u.objects = (int64_t)j->repo_objects;
	}
	if (j->protection[0]) {
		u.set_protection = 1;
		u.protection = j->protection;
	}
	if (!r)
		r = cf_statedb_store_update(db, s->store, &u);
	if (!r && j->audit)
		r = cf_statedb_audit_add(db, s->store, j->audit);
	if (failures)
		*failures = u.failures;
	return r;
}
