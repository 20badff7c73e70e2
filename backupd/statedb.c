/* SPDX-License-Identifier: ISC */
#include "backupd/statedb.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "schema/schema.h"
#include "util/log.h"

struct cf_statedb {
	sqlite3 *db;
	char *path;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int sqlerr(struct cf_statedb *s, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db);

	cf_log_err("%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
	return (ext & 0xff) == SQLITE_BUSY ? CF_E_BUSY : CF_E_IO;
}

int cf_statedb_open(struct cf_statedb **out, const char *state_dir, int rdonly)
{
	struct cf_statedb *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if (asprintf(&s->path, "%s/state.db", state_dir) < 0) {
		free(s);
		return -ENOMEM;
	}
	if (!rdonly && mkdir(state_dir, 0700) && errno != EEXIST) {
		r = -errno;
		cf_log_err("cannot create the state folder %s: %s", state_dir, cf_strerror(r));
		goto fail;
	}
	r = cf_schema_open(&s->db, s->path, CF_SCHEMA_STATE, rdonly ? CF_SCHEMA_RDONLY : 0);
	if (r)
		goto fail;
	*out = s;
	return 0;
fail:
	free(s->path);
	free(s);
	return r;
}

void cf_statedb_close(struct cf_statedb *s)
{
	if (!s)
		return;
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

/* Prepare @sql; logs and returns an error code on failure. */
static int prep(struct cf_statedb *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return sqlerr(s, "prepare");
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Step @st to completion and finalize it. */
static int run(struct cf_statedb *s, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);

	r = r == SQLITE_DONE || r == SQLITE_ROW ? 0 : sqlerr(s, what);
	sqlite3_finalize(st);
	return r;
}

int cf_statedb_recover(struct cf_statedb *s, const char *store)
{
	sqlite3_stmt *st = NULL;
	int64_t ids[64];
	size_t n = 0;
	int r, rc;

	r = prep(s, "SELECT id, pid, kind = 'backup' FROM job WHERE status = 'running' AND store IS ?1",
	         &st);
	if (r)
		return r;
	bind_text(st, 1, store);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < sizeof(ids) / sizeof(ids[0])) {
		pid_t pid = (pid_t)sqlite3_column_int64(st, 1);

		if (pid == getpid())
			continue; /* this process's own */
		/* backups run under the store lock the caller holds: any other one is dead,
		 * even if its pid now belongs to another process; other jobs: ask the kernel */
		if (!sqlite3_column_int(st, 2) && pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sqlerr(s, "read the running jobs");
	sqlite3_finalize(st);
	for (size_t i = 0; i < n && !r; i++) {
		if ((r = prep(s,
		              "UPDATE job SET status = 'interrupted', ended_at = ?2, pid = NULL,"
		              " error = 'the process running it stopped (killed, or power lost)'"
		              " WHERE id = ?1",
		              &st)))
			break;
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_int64(st, 2, now_s());
		r = run(s, st, "mark an interrupted job");
	}
	return r ? r : (int)n;
}

int cf_statedb_job_start(struct cf_statedb *s, const char *kind, const char *trigger,
                         const char *store, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int r = prep(s,
	             "INSERT INTO job (kind, started_at, status, pid, trigger, store)"
	             " VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
	             &st);

	if (r)
		return r;
	bind_text(st, 1, kind);
	sqlite3_bind_int64(st, 2, now_s());
	sqlite3_bind_int64(st, 3, (sqlite3_int64)getpid());
	bind_text(st, 4, trigger);
	bind_text(st, 5, store);
	r = run(s, st, "record a job");
	if (!r)
		*id = sqlite3_last_insert_rowid(s->db);
	return r;
}

int cf_statedb_job_end(struct cf_statedb *s, int64_t id, const struct cf_statedb_job_end *e)
{
	sqlite3_stmt *st = NULL;
	int r = prep(s,
	             "UPDATE job SET status = ?2, ended_at = ?3, pid = NULL, error_code = ?4,"
	             " error = substr(?5, 1, 4096), files = ?6, bytes_new = ?7, bytes_stored = ?8,"
	             " snapshot_sequence = ?9, detail = ?10 WHERE id = ?1",
	             &st);

	if (r)
		return r;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, e->status);
	sqlite3_bind_int64(st, 3, now_s());
	sqlite3_bind_int(st, 4, e->error_code);
	bind_text(st, 5, e->error);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)e->files);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)e->bytes_new);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)e->bytes_stored);
	if (e->snapshot_seq >= 0)
		sqlite3_bind_int64(st, 9, e->snapshot_seq);
	else
		sqlite3_bind_null(st, 9);
	bind_text(st, 10, e->detail && strlen(e->detail) <= 65536 ? e->detail : NULL);
	return run(s, st, "record the end of a job");
}

/* One UPDATE of @store's row with @sql (?1 store, ?2 and ?3 the values). */
static int update(struct cf_statedb *s, const char *store, const char *sql, sqlite3_int64 a,
                  const char *b, const char *c, int a_null)
{
	sqlite3_stmt *st = NULL;
	int r = prep(s, sql, &st);

	if (r)
		return r;
	bind_text(st, 1, store);
	if (a_null)
		sqlite3_bind_null(st, 2);
	else
		sqlite3_bind_int64(st, 2, a);
	bind_text(st, 3, b);
	bind_text(st, 4, c);
	return run(s, st, "update the store's record");
}

int cf_statedb_store_update(struct cf_statedb *s, const char *store,
                            const struct cf_statedb_store *u)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sqlerr(s, "begin");
	r = prep(s,
	         "INSERT INTO backupd_store (store, repository_url, updated_at) VALUES (?1, ?2, ?3)"
	         " ON CONFLICT (store) DO UPDATE SET repository_url = ?2, updated_at = ?3",
	         &st);
	if (!r) {
		bind_text(st, 1, store);
		bind_text(st, 2, u->url);
		sqlite3_bind_int64(st, 3, now_s());
		r = run(s, st, "record the store");
	}
	if (!r && u->set_next)
		r = update(s, store, "UPDATE backupd_store SET next_run_at = ?2 WHERE store = ?1",
		           u->next_run_at, NULL, NULL, u->next_run_at == 0);
	if (!r && u->set_failures)
		r = update(s, store, "UPDATE backupd_store SET failures = ?2 WHERE store = ?1",
		           u->failures, NULL, NULL, 0);
	if (!r && u->set_size) {
		char n[32];

		snprintf(n, sizeof(n), "%lld", (long long)u->objects);
		r = update(s, store,
		           "UPDATE backupd_store SET repository_bytes = ?2, repository_objects = CAST(?3"
		           " AS INTEGER), measured_at = unixepoch() WHERE store = ?1",
		           u->bytes, n, NULL, 0);
	}
	if (!r && u->set_protection)
		r = update(s, store, "UPDATE backupd_store SET protection = ?3 WHERE store = ?1", 0,
		           u->protection, NULL, 1);
	if (!r && u->set_daemon)
		r = update(s, store,
		           "UPDATE backupd_store SET daemon_pid = ?2, daemon_started_at = CASE WHEN ?2"
		           " IS NULL THEN NULL ELSE unixepoch() END, config_path = ?3 WHERE store = ?1",
		           u->pid, u->config_path, NULL, u->pid == 0);
	if (!r && u->set_config_error)
		r = update(s, store, "UPDATE backupd_store SET config_error = ?3 WHERE store = ?1", 0,
		           u->config_error, NULL, 1);
	if (sqlite3_exec(s->db, r ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK && !r)
		r = sqlerr(s, "commit");
	return r;
}

#define AUDIT_KEEP 200

int cf_statedb_audit_add(struct cf_statedb *s, const char *store, const json_t *entries)
{
	sqlite3_stmt *st = NULL;
	json_t *all = NULL;
	char *text = NULL;
	size_t i;
	const json_t *e;
	int r;

	if (!json_array_size(entries))
		return 0;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sqlerr(s, "begin");
	r = prep(s, "SELECT audit_new FROM backupd_store WHERE store = ?1", &st);
	if (!r) {
		bind_text(st, 1, store);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
			all = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		sqlite3_finalize(st);
		if (!json_is_array(all)) {
			json_decref(all);
			all = json_array();
		}
		json_array_foreach(entries, i, e) json_array_append(all, (json_t *)e);
		while (json_array_size(all) > AUDIT_KEEP)
			json_array_remove(all, 0);
		/* stay within the column's limit: drop the oldest until the text fits */
		while (all && (text = json_dumps(all, JSON_COMPACT)) && strlen(text) > 65536 &&
		       json_array_size(all)) {
			free(text);
			text = NULL;
			json_array_remove(all, 0);
		}
		r = text ? 0 : -ENOMEM;
	}
	if (!r)
		r = update(s, store, "UPDATE backupd_store SET audit_new = ?3 WHERE store = ?1", 0,
		           text, NULL, 1);
	if (sqlite3_exec(s->db, r ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK && !r)
		r = sqlerr(s, "commit");
	free(text);
	json_decref(all);
	return r;
}

int cf_statedb_audit_clear(struct cf_statedb *s, const char *store)
{
	return update(s, store, "UPDATE backupd_store SET audit_new = NULL WHERE store = ?1", 0,
	              NULL, NULL, 1);
}

unsigned cf_statedb_failures(struct cf_statedb *s, const char *store)
{
	sqlite3_stmt *st = NULL;
	unsigned n = 0;

	if (prep(s, "SELECT failures FROM backupd_store WHERE store = ?1", &st))
		return 0;
	bind_text(st, 1, store);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (unsigned)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int64_t cf_statedb_last_start(struct cf_statedb *s, const char *store, const char *status)
{
	sqlite3_stmt *st = NULL;
	int64_t t = 0;

	if (prep(s,
	         "SELECT max(started_at) FROM job WHERE kind = 'backup' AND store = ?1"
	         " AND (?2 IS NULL OR status = ?2)",
	         &st))
		return 0;
	bind_text(st, 1, store);
	bind_text(st, 2, status);
	if (sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return t;
}

/* @s as a JSON string; bytes that are not UTF-8 (a path can hold any) become '?'. */
static json_t *text_json(const char *s)
{
	json_t *j = json_string(s);
	char *c;

	if (j || !(c = strdup(s)))
		return j;
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

/* The value of column @i as JSON (integers, text, null). */
static json_t *col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_TEXT:
		return text_json((const char *)sqlite3_column_text(st, i));
	default:
		return json_null();
	}
}

/* The first row of @sql (?1 bound to @store) as an object, or JSON null. */
static json_t *row_json(struct cf_statedb *s, const char *sql, const char *store)
{
	sqlite3_stmt *st = NULL;
	json_t *o;

	if (prep(s, sql, &st))
		return NULL;
	bind_text(st, 1, store);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return json_null();
	}
	o = json_object();
	for (int i = 0; o && i < sqlite3_column_count(st); i++) {
		const char *name = sqlite3_column_name(st, i);
		json_t *v = col_json(st, i);

		if (!strcmp(name, "detail") && json_is_string(v)) {
			json_t *d = json_loads(json_string_value(v), 0, NULL);

			json_decref(v);
			v = d ? d : json_null();
		}
		if (json_object_set_new(o, name, v)) {
			json_decref(o);
			o = NULL;
		}
	}
	sqlite3_finalize(st);
	return o;
}

#define JOB_COLS                                                                                   \
	"SELECT id, kind, trigger, started_at, ended_at, status, error_code, error, files,"        \
	" bytes_new, bytes_stored, snapshot_sequence, detail FROM job WHERE store = ?1 "

int cf_statedb_status(struct cf_statedb *s, const char *store, json_t **out)
{
	static const struct {
		const char *key, *sql;
	} parts[] = {
	    {"last_success", JOB_COLS "AND kind = 'backup' AND status = 'ok' ORDER BY id DESC"},
	    {"last_failure",
	     JOB_COLS "AND kind = 'backup' AND status IN ('failed', 'interrupted') ORDER BY id DESC"},
	    {"last_run", JOB_COLS "AND kind = 'backup' AND status <> 'running' ORDER BY id DESC"},
	    {"running", JOB_COLS "AND status = 'running' ORDER BY id DESC"},
	    {"last_retention", JOB_COLS "AND kind = 'retention' ORDER BY id DESC"},
	};
	char *chosen = NULL;
	json_t *o, *row;
	int r = 0;

	if (!store) {
		sqlite3_stmt *st = NULL;

		if ((r = prep(s, "SELECT store FROM job WHERE store IS NOT NULL ORDER BY id DESC", &st)))
			return r;
		if (sqlite3_step(st) == SQLITE_ROW)
			chosen = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (!chosen)
			return CF_E_NOTFOUND;
		store = chosen;
	}
	row = row_json(s,
	               "SELECT store, repository_url AS repository, next_run_at AS next_run, failures,"
	               " repository_bytes, repository_objects, measured_at, protection, audit_seen,"
	               " audit_new, daemon_pid, daemon_started_at, config_path, config_error"
	               " FROM backupd_store WHERE store = ?1",
	               store);
	if (!row || json_is_null(row)) {
		json_decref(row);
		free(chosen);
		return row ? CF_E_NOTFOUND : -ENOMEM;
	}
	o = row;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		json_t *j = row_json(s, parts[i].sql, store);

		if (!j || json_object_set_new(o, parts[i].key, j)) {
			r = -ENOMEM;
			break;
		}
	}
	/* the stored audit entries are a JSON array in text */
	row = json_object_get(o, "audit_new");
	if (!r && json_is_string(row)) {
		json_t *a = json_loads(json_string_value(row), 0, NULL);

		json_object_set_new(o, "audit_new", a ? a : json_null());
	}
	free(chosen);
	if (r) {
		json_decref(o);
		return r;
	}
	*out = o;
	return 0;
}
