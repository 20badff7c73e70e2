/* SPDX-License-Identifier: ISC */
#include "backupd/job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupd/kvlink.h"
#include "core/encode.h"
#include "core/error.h"
#include "repo/storage.h"
#include "util/log.h"

struct tally {
	uint64_t bytes, objects;
};

static int count_object(void *ctx, const char *name, uint64_t size)
{
	struct tally *t = ctx;

	(void)name;
	t->bytes += size;
	t->objects++;
	return 0;
}

static void set_why(struct cf_job *j, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(struct cf_job *j, int rc, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(j->why, sizeof(j->why), "%s: %s", what, cf_strerror(rc));
	j->rc = rc;
}

static int open_session(struct cf_job *j, struct cf_session **s)
{
	struct cf_session_opts so = {0};
	int r;

	so.repo_url = j->repo;
	so.state_dir = j->state_dir;
	so.cache_dir = j->cache_dir;
	so.passphrase_file = j->pass_file;
	so.create = j->kind == CF_JOB_BACKUP;
	so.pack_size = (uint64_t)j->pack_mib << 20;
	r = cf_session_open(s, &so);
	if (r)
		set_why(j, r, "open repository %s", j->repo);
	return r;
}

static void backup(struct cf_job *j, struct cf_session *s)
{
	struct cf_snapshot_opts sno = {0};
	int r;

	sno.store = j->store;
	sno.stop = j->stop;
	sno.progress = j->progress;
	sno.ctx = j->ctx;
	if (j->stop && *j->stop) {
		set_why(j, -EINTR, "backup of %s stopped before it began", j->store);
		return;
	}
	r = cf_snapshot_run(s, &sno, &j->snap);
	if (r == -EINTR) {
		snprintf(j->why, sizeof(j->why),
		         "backup of %s interrupted: no snapshot written (what was uploaded is reused "
		         "by the next run)",
		         j->store);
		j->rc = r;
		return;
	}
	if (r) {
		set_why(j, r, "backup of %s into %s", j->store, j->repo);
		return;
	}
	j->have_snap = 1;
	if (cf_kvlink_after_backup(s, j->snap.seq, j->snap.id, &j->audit) == CF_E_ROLLBACK)
		set_why(j, CF_E_ROLLBACK,
		        "snapshot #%llu was saved, but the key vault has witnessed a newer or "
		        "different snapshot of %s",
		        (unsigned long long)j->snap.seq, j->repo);
}

int cf_job_run(struct cf_job *j)
{
	struct cf_session *s = NULL;
	struct tally t = {0};
	int r;

	j->rc = 0;
	j->why[0] = '\0';
	if (j->kind == CF_JOB_BACKUP) {
		char why[1200];

		r = cf_snapshot_check_store(j->store, why, sizeof(why));
		if (r) {
			snprintf(j->why, sizeof(j->why), "%s", why);
			return j->rc = r;
		}
	}
	if (open_session(j, &s))
		return j->rc;
	if (j->kind == CF_JOB_BACKUP)
		backup(j, s);
	if (!j->rc && (j->kind == CF_JOB_RETENTION || !cf_retention_empty(&j->retain.policy))) {
		r = cf_retain_run(s, &j->retain, &j->retention);
		if (r) {
			j->retain_rc = r;
			snprintf(j->retain_why, sizeof(j->retain_why), "retention on %s: %s", j->repo,
			         cf_strerror(r));
		}
	}
	if (!j->rc || j->have_snap) {
		if (cf_kvlink_protection(s, j->protection, sizeof(j->protection)))
			j->protection[0] = '\0';
		if (!cf_storage_list(cf_repo_storage(s->repo), "", count_object, &t)) {
			j->measured = 1;
			j->repo_bytes = t.bytes;
			j->repo_objects = t.objects;
		}
	}
	cf_session_free(s);
	return j->rc;
}

void cf_job_clear(struct cf_job *j)
{
	cf_snapshot_result_clear(&j->snap);
	json_decref(j->retention);
	json_decref(j->audit);
	j->retention = j->audit = NULL;
	j->have_snap = j->measured = 0;
	j->rc = j->retain_rc = 0;
	j->why[0] = j->retain_why[0] = '\0';
}

int cf_job_exit_code(const struct cf_job *j)
{
	if (!j->rc)
		return j->retain_rc ? 1 : 0;
	return j->rc == CF_E_CONFIG || j->rc == CF_E_VERSION ? 2 : 1;
}

json_t *cf_job_summary_json(const struct cf_job *j)
{
	const struct cf_snapshot_result *res = &j->snap;
	char hex[CF_HEX_LEN(32)];
	json_t *v = json_array(), *o;

	if (!j->have_snap) {
		json_decref(v);
		return json_null();
	}
	cf_encode_hex(hex, res->id, sizeof(res->id));
	for (size_t i = 0; v && i < res->nvanished; i++)
		if (json_array_append_new(v, json_string(res->vanished[i])) < 0) {
			json_decref(v);
			v = NULL;
		}
	o = json_pack("{s:s,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o*,s:f}", "id", hex,
	              "seq", (json_int_t)res->seq, "store", j->store, "repository", j->repo,
	              "files", (json_int_t)res->files, "dirs", (json_int_t)res->dirs, "files_read",
	              (json_int_t)res->files_read, "files_unchanged",
	              (json_int_t)res->files_unchanged, "bytes", (json_int_t)res->bytes,
	              "new_bytes", (json_int_t)res->new_bytes, "stored_bytes",
	              (json_int_t)res->stored_bytes, "skipped", (json_int_t)res->skipped,
	              "vanished", (json_int_t)res->nvanished, "vanished_paths", v, "duration",
	              res->seconds);
	if (o && j->retention)
		json_object_set(o, "retention", j->retention);
	if (o && j->audit)
		json_object_set(o, "audit_new", j->audit);
	return o;
}
