/* SPDX-License-Identifier: ISC */
#include "backupd/retain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/snapshots.h"
#include "restore/forget.h"
#include "restore/prune.h"
#include "util/cli.h"
#include "util/log.h"

/* A present manifest the chain does not count as forgotten. */
static int listed(const struct cf_chain *c, const struct cf_manifest *m)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].seq == m->seq && !memcmp(c->entries[i].id, m->id, 32))
			return !(c->entries[i].flags & CF_CHAIN_FORGOTTEN);
	return 1;
}

/* This device's listed snapshots, in sequence order, into *@out (@n of them). */
static int own_snapshots(struct cf_session *s, const struct cf_manifest ***out, size_t *n,
                         size_t *others)
{
	const struct cf_chain *c = cf_snapshots_chain(s->snaps);
	size_t total = cf_snapshots_count(s->snaps);
	const struct cf_manifest **v = calloc(total ? total : 1, sizeof(*v));
	struct cf_pubid me;

	if (!v)
		return -ENOMEM;
	cf_identity_public(cf_repo_identity(s->repo), &me);
	*n = *others = 0;
	for (size_t i = 0; i < total; i++) {
		const struct cf_manifest *m = cf_snapshots_get(s->snaps, i);

		if (!listed(c, m))
			continue;
		if (memcmp(m->signer.sign_pk, me.sign_pk, sizeof(me.sign_pk)))
			(*others)++;
		else
			v[(*n)++] = m;
	}
	*out = v;
	return 0;
}

static json_t *decision_json(const struct cf_manifest *m, unsigned keep)
{
	char id[CF_HEX_LEN(32)], why[128];

	cf_encode_hex(id, m->id, 32);
	return json_pack("{s:I, s:s, s:I, s:b, s:s}", "sequence", (json_int_t)m->seq, "id", id,
	                 "time", (json_int_t)m->time, "keep", keep != 0, "reasons",
	                 cf_retention_reasons(why, sizeof(why), keep));
}

static json_t *prune_json(const struct cf_prune_result *r)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "packs_deleted",
	                 (json_int_t)r->packs_deleted, "bytes_deleted", (json_int_t)r->bytes_deleted,
	                 "packs_planned", (json_int_t)r->packs_planned, "bytes_planned",
	                 (json_int_t)r->bytes_planned, "plans_waiting",
	                 (json_int_t)r->plans_waiting, "backups_running",
	                 (json_int_t)r->backups_running);
}

/* Prune (twice with no grace period: the plan of the first run is carried out at once). */
static int prune(struct cf_session *s, const struct cf_retain_opts *o, json_t *d)
{
	struct cf_prune_opts po = {.grace = o->prune_grace,
	                           .stale_lock = CF_PRUNE_STALE_LOCK_DEFAULT};
	struct cf_prune_result res = {0}, again = {0};
	char host[256] = "";
	int r;

	gethostname(host, sizeof(host) - 1);
	po.host = host;
	po.now = (uint64_t)time(NULL);
	r = cf_prune_run(s, &po, &res);
	if (!r && o->prune_grace == 0 && res.plan_written) {
		r = cf_prune_run(s, &po, &again);
		res.packs_deleted += again.packs_deleted;
		res.bytes_deleted += again.bytes_deleted;
		res.plans_waiting = again.plans_waiting;
		res.backups_running = again.backups_running;
		res.packs_planned = again.packs_planned;
		res.bytes_planned = again.bytes_planned;
	}
	json_object_set_new(d, "prune", prune_json(&res));
	return r;
}

int cf_retain_run(struct cf_session *s, const struct cf_retain_opts *o, json_t **detail)
{
	const struct cf_manifest **own = NULL;
	struct cf_retention_item *it = NULL;
	json_t *d = NULL, *arr;
	size_t n = 0, others = 0, forgotten = 0, kept = 0;
	int r;

	*detail = NULL;
	r = cf_session_load_snapshots(s);
	if (!r)
		r = own_snapshots(s, &own, &n, &others);
	if (r)
		return r;
	it = calloc(n ? n : 1, sizeof(*it));
	d = json_pack("{s:[], s:b, s:I, s:n}", "snapshots", "dry_run", o->dry_run, "other_devices",
	              (json_int_t)others, "prune");
	if (!it || !d) {
		r = -ENOMEM;
		goto out;
	}
	arr = json_object_get(d, "snapshots");
	for (size_t i = 0; i < n; i++) {
		it[i].time = own[i]->time;
		it[i].seq = own[i]->seq;
	}
	cf_retention_apply(&o->policy, it, n, 0);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, decision_json(own[i], it[i].keep));
		kept += it[i].keep != 0;
	}
	for (size_t i = 0; i < n && !o->dry_run && !r; i++) {
		if (it[i].keep)
			continue;
		r = cf_restore_forget(s->repo, own[i], (uint64_t)time(NULL), NULL);
		if (!r)
			forgotten++;
	}
	json_object_set_new(d, "kept", json_integer((json_int_t)kept));
	json_object_set_new(d, "forgotten", json_integer((json_int_t)(o->dry_run ? n - kept : forgotten)));
	if (!r && !o->dry_run && o->prune) {
		free(own);
		own = NULL; /* the manifests go with the reload */
		r = cf_session_load_snapshots(s);
		if (!r)
			r = prune(s, o, d);
	}
	if (r)
		json_object_set_new(d, "error", json_string(cf_strerror(r)));
out:
	free(own);
	free(it);
	*detail = d;
	return r;
}

void cf_retain_print(const json_t *d, int dry_run)
{
	const json_t *arr = json_object_get(d, "snapshots"), *v, *p = json_object_get(d, "prune");
	size_t i;

	if (json_array_size(arr))
		printf("%6s  %-8s  %-19s  %-6s  %s\n", "SEQ", "ID", "TIME", "", "WHY");
	json_array_foreach(arr, i, v)
	{
		time_t t = (time_t)json_integer_value(json_object_get(v, "time"));
		char when[32] = "?";
		struct tm tm;

		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%6lld  %.8s  %-19s  %-6s  %s\n",
		       (long long)json_integer_value(json_object_get(v, "sequence")),
		       json_string_value(json_object_get(v, "id")), when,
		       json_is_true(json_object_get(v, "keep")) ? "keep" : "forget",
		       json_is_true(json_object_get(v, "keep"))
		           ? json_string_value(json_object_get(v, "reasons"))
		           : "no rule keeps it");
	}
	printf("%lld kept, %lld %s", (long long)json_integer_value(json_object_get(d, "kept")),
	       (long long)json_integer_value(json_object_get(d, "forgotten")),
	       dry_run ? "would be forgotten" : "forgotten");
	if (json_integer_value(json_object_get(d, "other_devices")))
		printf(" (%lld snapshots of other devices left alone)",
		       (long long)json_integer_value(json_object_get(d, "other_devices")));
	putchar('\n');
	if (json_is_object(p)) {
		char a[32], b[32];

		printf("prune: %lld packs deleted (%s)",
		       (long long)json_integer_value(json_object_get(p, "packs_deleted")),
		       cf_cli_human(a, sizeof(a),
		                    (uint64_t)json_integer_value(json_object_get(p, "bytes_deleted"))));
		if (json_integer_value(json_object_get(p, "packs_planned")))
			printf(", %lld planned for deletion after the grace period (%s)",
			       (long long)json_integer_value(json_object_get(p, "packs_planned")),
			       cf_cli_human(b, sizeof(b), (uint64_t)json_integer_value(
			                                      json_object_get(p, "bytes_planned"))));
		putchar('\n');
	} else if (dry_run) {
		printf("prune: not run in a dry run (it would remove the data only forgotten "
		       "snapshots hold)\n");
	}
}
