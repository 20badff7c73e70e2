/* SPDX-License-Identifier: ISC */
/* The restore commands: list, snapshot, export, check, forget, prune. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/error.h"
#include "keyvault/unreadable.h"
#include "restore/check.h"
#include "restore/cli.h"
#include "restore/forget.h"
#include "restore/prune.h"
#include "restore/restore.h"
#include "restore/snapread.h"
#include "util/cli.h"
#include "util/log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void print_json(json_t *j)
{
	if (cf_cli_print_json(j))
		cf_cli_report("restore", 0, -ENOMEM, "cannot build the JSON output");
}

static void hex_id(char out[CF_HEX_LEN(32)], const uint8_t id[32])
{
	cf_encode_hex(out, id, 32);
}

/* A manifest the chain counts as forgotten (its deletion was interrupted) is hidden. */
static int listed(const struct cf_session *s, const struct cf_manifest *m)
{
	const struct cf_chain *c = cf_snapshots_chain(s->snaps);

	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].seq == m->seq && !memcmp(c->entries[i].id, m->id, 32))
			return !(c->entries[i].flags & CF_CHAIN_FORGOTTEN);
	return 1;
}

/* Find snapshot @spec; prints the failure and returns its exit status. */
static int find(const struct opts *o, const struct cf_session *s, const char *spec,
                const struct cf_manifest **m)
{
	int r = cf_snapshots_find(s->snaps, spec, m);

	if (r == CF_E_NOTFOUND)
		return cli_fail(o, r, "no snapshot '%s' in %s ('restore list' shows them)", spec,
		                o->repo);
	if (r == CF_E_INVAL)
		return cli_fail(o, r,
		                "'%s' is ambiguous or not a snapshot id, #sequence or"
		                " 'latest'",
		                spec);
	return r ? cli_fail(o, r, "find snapshot '%s'", spec) : 0;
}

static void time_text(char *buf, size_t cap, uint64_t t, int utc)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (utc ? !gmtime_r(&tt, &tm) : !localtime_r(&tt, &tm))
		snprintf(buf, cap, "%llu", (unsigned long long)t);
	else
		strftime(buf, cap, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

static json_t *vanished_json(const struct cf_manifest *m)
{
	json_t *v = json_array();

	for (size_t i = 0; v && i < m->nvanished; i++)
		if (json_array_append_new(v, json_string(m->vanished[i])) < 0) {
			json_decref(v);
			return NULL;
		}
	return v;
}

static json_t *snapshot_json(const struct cf_manifest *m)
{
	char id[CF_HEX_LEN(32)], prev[CF_HEX_LEN(32)], when[32], fpr[CF_FINGERPRINT_LEN];

	hex_id(id, m->id);
	hex_id(prev, m->prev);
	time_text(when, sizeof(when), m->time, 1);
	cf_pubid_fingerprint(&m->signer, fpr);
	return json_pack("{s:s, s:s#, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o*, s:I,"
	                 " s:s}",
	                 "id", id, "short_id", id, 8, "sequence", (json_int_t)m->seq, "time",
	                 (json_int_t)m->time, "time_utc", when, "files", (json_int_t)m->files,
	                 "bytes", (json_int_t)m->bytes, "new_bytes", (json_int_t)m->new_bytes,
	                 "stored_bytes", (json_int_t)m->stored_bytes, "host", m->host, "store",
	                 m->store, "prev", m->has_prev ? json_string(prev) : json_null(),
	                 "vanished", vanished_json(m), "epoch", (json_int_t)m->epoch, "signer",
	                 fpr);
}

/* Snapshots sealed under epochs this device does not hold: said in plain words. */
static void list_unreadable(const struct opts *o, struct cf_session *s)
{
	char text[2048];

	if (cf_unreadable_describe(s, text, sizeof(text)))
		fprintf(o->json ? stderr : stdout, "%s%s\n", o->json ? "restore: note: " : "\n",
		        text);
}

int cmd_list(const struct opts *o)
{
	struct cf_session *s = NULL;
	json_t *arr = NULL;
	size_t shown = 0, n;
	int rc = cli_open(o, 1, &s);

	if (rc)
		return rc;
	n = cf_snapshots_count(s->snaps);
	if (o->json)
		arr = json_array();
	else if (n)
		printf("%6s  %-8s  %-19s  %8s  %10s  %s\n", "SEQ", "ID", "TIME", "FILES", "SIZE",
		       "HOST");
	for (size_t i = 0; i < n; i++) {
		const struct cf_manifest *m = cf_snapshots_get(s->snaps, i);
		char id[CF_HEX_LEN(32)], when[32], size[32];

		if (!listed(s, m))
			continue;
		shown++;
		if (o->json) {
			if (arr && json_array_append_new(arr, snapshot_json(m)) < 0) {
				json_decref(arr);
				arr = NULL;
			}
			continue;
		}
		hex_id(id, m->id);
		time_text(when, sizeof(when), m->time, 0);
		printf("%6llu  %.8s  %-19s  %8llu  %10s  %s", (unsigned long long)m->seq, id, when,
		       (unsigned long long)m->files, cf_cli_human(size, sizeof(size), m->bytes),
		       m->host);
		if (m->nvanished)
			printf("  (%zu vanished)", m->nvanished);
		putchar('\n');
	}
	if (o->json)
		print_json(arr);
	else if (!shown)
		printf("no snapshots in %s\n", o->repo);
	list_unreadable(o, s);
	cf_session_free(s);
	return o->json && !arr ? EXIT_FAIL : EXIT_OK;
}

static void print_vanished(const struct cf_manifest *m)
{
	if (!m->nvanished)
		return;
	printf("these files had vanished when the snapshot was taken:\n");
	for (size_t i = 0; i < m->nvanished; i++)
		printf("  %s\n", m->vanished[i]);
}

/* --to without trailing slashes (a new string), or NULL. */
static char *target(const char *to)
{
	char *t = strdup(to);
	size_t n = t ? strlen(t) : 0;

	while (n > 1 && t[n - 1] == '/')
		t[--n] = '\0';
	return t;
}

static void catch_signals(void)
{
	struct sigaction sa = {0};

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int snapshot_report(const struct opts *o, const struct cf_manifest *m, const char *to,
                           const struct cf_restore_result *res)
{
	char id[CF_HEX_LEN(32)], size[32];
	const char *check = o->verify ? "integrity_check" : "structure check";

	hex_id(id, m->id);
	if (o->json) {
		print_json(json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:o, s:o}", "id", id,
		                     "sequence", (json_int_t)m->seq, "to", to, "files",
		                     (json_int_t)res->files, "dirs", (json_int_t)res->dirs, "bytes",
		                     (json_int_t)res->bytes, "database",
		                     res->db_checked ? json_pack("{s:s, s:b}", "check", check, "ok",
		                                                 res->db_status == 0)
		                                     : json_null(),
		                     "vanished", vanished_json(m)));
	} else {
		printf("restored snapshot #%llu (%.8s) to %s: %llu files, %llu folders, %s\n",
		       (unsigned long long)m->seq, id, to, (unsigned long long)res->files,
		       (unsigned long long)res->dirs, cf_cli_human(size, sizeof(size), res->bytes));
		if (res->db_checked)
			printf("database: %s %s\n", check, res->db_status ? "FAILED" : "ok");
		print_vanished(m);
	}
	if (res->db_checked && res->db_status)
		return cli_fail(o, res->db_status,
		                "the restored database fails its %s (the snapshot holds it so)",
		                check);
	return EXIT_OK;
}

int cmd_snapshot(const struct opts *o)
{
	struct cf_restore_opts ro = {0};
	struct cf_restore_result res = {0};
	const struct cf_manifest *m = NULL;
	struct cf_session *s = NULL;
	char *to = NULL;
	int rc, state;

	if (!o->to || !*o->to)
		return cf_cli_complain("restore", o->cmd, "--to DIR is required");
	if (o->in_place && o->npaths) {
		fprintf(stderr, "restore snapshot: --in-place replaces the whole store and cannot"
		                " be combined with --path\n");
		return EXIT_USAGE;
	}
	to = target(o->to);
	if (!to)
		return cli_fail(o, -ENOMEM, "restore");
	state = cf_restore_dir_state(to);
	if (state == 2 && !o->in_place) {
		cli_fail(o, CF_E_EXISTS,
		         "%s is not empty: restore into an empty or absent folder,"
		         " or replace the store there with --in-place",
		         to);
		free(to);
		return EXIT_USAGE;
	}
	rc = cli_open(o, 1, &s);
	if (!rc)
		rc = find(o, s, o->args[0], &m);
	if (rc)
		goto out;
	catch_signals();
	ro.to = to;
	ro.paths = o->paths;
	ro.npaths = o->npaths;
	ro.in_place = o->in_place;
	ro.verify = o->verify;
	ro.progress = !o->json && isatty(STDERR_FILENO);
	ro.stop = &stop_requested;
	rc = cf_restore_snapshot(s->repo, m, &ro, &res);
	if (rc)
		rc = cli_fail(o, rc, "restore snapshot #%llu to %s (nothing was written there)",
		              (unsigned long long)m->seq, to);
	else
		rc = snapshot_report(o, m, to, &res);
out:
	cf_session_free(s);
	free(to);
	return rc;
}

int cmd_export(const struct opts *opts)
{
	struct opts o = *opts;
	const struct cf_manifest *m = NULL;
	struct cf_snapread *sr = NULL;
	struct cf_session *s = NULL;
	int rc;

	o.json = 0; /* standard output carries the tar stream */
	if (isatty(STDOUT_FILENO))
		return cli_fail(&o, CF_E_INVAL,
		                "refusing to write a tar stream to a terminal:"
		                " redirect standard output to a file or a pipe");
	rc = cli_open(&o, 1, &s);
	if (!rc)
		rc = find(&o, s, o.args[0], &m);
	if (rc)
		goto out;
	rc = cf_restore_check_paths(s->repo, m, o.paths, o.npaths);
	if (!rc)
		rc = cf_snapread_new(&sr, s->repo, m);
	if (!rc && o.npaths)
		rc = cf_tarstream_set_filter(cf_snapread_tar(sr), o.paths, o.npaths);
	if (!rc) {
		signal(SIGPIPE, SIG_IGN);
		rc = cf_tarstream_export(cf_snapread_tar(sr), STDOUT_FILENO);
	}
	if (rc == -EPIPE)
		rc = EXIT_FAIL; /* the reader went away: already said once */
	else if (rc)
		rc = cli_fail(&o, rc, "export snapshot #%llu", (unsigned long long)m->seq);
out:
	cf_snapread_free(sr);
	cf_session_free(s);
	return rc;
}

struct check_out {
	const struct opts *o;
	json_t *damaged, *notes;
};

static void check_report(void *ctx, const struct cf_check_finding *f)
{
	struct check_out *c = ctx;

	if (!c->o->json) {
		if (f->damage)
			printf("damaged: %s (%s)\n", f->object, f->what);
		else
			printf("note: %s: %s\n", f->object, f->what);
		fflush(stdout);
		return;
	}
	json_array_append_new(f->damage ? c->damaged : c->notes,
	                      json_pack("{s:s, s:s, s:s}", "object", f->object, "problem", f->what,
	                                "code", cf_error_name(f->err)));
}

int cmd_check(const struct opts *o)
{
	struct check_out out = {.o = o, .damaged = json_array(), .notes = json_array()};
	struct cf_check_opts co = {.repo_url = o->repo, .read_data = o->read_data};
	struct cf_check_stats st = {0};
	struct cf_keychain *kc = NULL;
	char *cache = o->cache_dir ? strdup(o->cache_dir) : cf_session_default_dir("CACHE");
	char size[32];
	int rc;

	rc = !cache || !out.damaged || !out.notes ? cli_fail(o, -ENOMEM, "check")
	                                          : cli_keychain(o, &kc);
	if (rc)
		goto done;
	co.cache_base = cache;
	cf_log_set_level(CF_LOG_WARN); /* the private cache's set-up is not news */
	rc = cf_check_run(kc, &co, check_report, &out, &st);
	if (rc) {
		json_decref(out.damaged);
		json_decref(out.notes);
		out.damaged = out.notes = NULL;
		/* no repository there, or no key for it: configuration */
		rc = cli_fail(o, rc, "check %s", o->repo) == EXIT_FAIL && rc == CF_E_NOTFOUND
		         ? EXIT_USAGE
		         : cf_cli_exit_code(rc);
		goto done;
	}
	if (o->json) {
		print_json(json_pack(
		    "{s:b, s:O, s:O, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		    " s:I}}",
		    "ok", st.damaged == 0, "damaged", out.damaged, "notes", out.notes, "checked",
		    "key_slots", (json_int_t)st.keys, "indexes", (json_int_t)st.indexes, "packs",
		    (json_int_t)st.packs, "snapshots", (json_int_t)st.snapshots, "forget_records",
		    (json_int_t)st.forgets, "locks", (json_int_t)st.locks, "trees",
		    (json_int_t)st.trees, "blobs", (json_int_t)st.blobs_checked, "bytes_read",
		    (json_int_t)st.bytes_read));
	} else {
		printf("checked %zu key slots, %zu indexes, %zu packs, %zu snapshots, %zu forget"
		       " records, %zu trees, %llu blobs",
		       st.keys, st.indexes, st.packs, st.snapshots, st.forgets, st.trees,
		       (unsigned long long)st.blobs_checked);
		if (o->read_data)
			printf(" (%s of packs read)",
			       cf_cli_human(size, sizeof(size), st.bytes_read));
		printf("\n");
		if (st.damaged)
			printf("%zu problem%s found: the repository is damaged\n", st.damaged,
			       st.damaged == 1 ? "" : "s");
		else
			printf("no damage found\n");
	}
	rc = st.damaged ? EXIT_DAMAGE : EXIT_OK;
done:
	json_decref(out.damaged);
	json_decref(out.notes);
	cf_keychain_free(kc);
	free(cache);
	return rc;
}

int cmd_forget(const struct opts *o)
{
	const struct cf_manifest **m = calloc((size_t)o->nargs, sizeof(*m));
	struct cf_session *s = NULL;
	json_t *arr = json_array();
	int rc = !m || !arr ? cli_fail(o, -ENOMEM, "forget") : cli_open(o, 1, &s);

	/* every id is resolved before anything is forgotten: a typo changes nothing */
	for (int i = 0; i < o->nargs && !rc; i++)
		rc = find(o, s, o->args[i], &m[i]);
	for (int i = 0; i < o->nargs && !rc; i++) {
		char id[CF_HEX_LEN(32)], rec[CF_HEX_LEN(32)];
		uint8_t record[32];
		int dup = 0;

		for (int j = 0; j < i; j++)
			dup |= m[j] == m[i];
		if (dup)
			continue;
		rc = cf_restore_forget(s->repo, m[i], (uint64_t)time(NULL), record);
		if (rc) {
			rc =
			    cli_fail(o, rc, "forget snapshot #%llu", (unsigned long long)m[i]->seq);
			break;
		}
		hex_id(id, m[i]->id);
		hex_id(rec, record);
		if (o->json)
			json_array_append_new(arr,
			                      json_pack("{s:s, s:I, s:s}", "id", id, "sequence",
			                                (json_int_t)m[i]->seq, "record", rec));
		else
			printf("forgot snapshot #%llu (%.8s): record forget/%s\n",
			       (unsigned long long)m[i]->seq, id, rec);
	}
	if (!rc && o->json)
		print_json(json_pack("{s:O}", "forgotten", arr));
	json_decref(arr);
	free(m);
	cf_session_free(s);
	return rc;
}

static void prune_text(const struct opts *o, const struct cf_prune_result *r)
{
	char a[32], b[32];
	const char *would = o->dry_run ? "would be " : "";

	printf("packs: %zu (%zu in use, %zu partly used and kept, %zu unused, %zu unreadable)\n",
	       r->packs, r->packs_used, r->packs_mixed, r->packs_unused, r->packs_unreadable);
	if (r->backups_running)
		printf("a backup is running: planned packs are deleted on a later run\n");
	else if (r->plans_ready)
		printf("%zu pack%s %sdeleted (%s), %zu planned but in use again and kept\n",
		       r->packs_deleted, r->packs_deleted == 1 ? "" : "s", would,
		       cf_cli_human(a, sizeof(a), r->bytes_deleted), r->packs_kept);
	if (r->plans_waiting)
		printf("%zu plan%s younger than the grace period (%llu s): wait for a later run\n",
		       r->plans_waiting, r->plans_waiting == 1 ? " is" : "s are",
		       (unsigned long long)o->grace);
	if (r->packs_planned)
		printf("%zu unused pack%s (%s) %splanned for deletion after the grace period%s\n",
		       r->packs_planned, r->packs_planned == 1 ? "" : "s",
		       cf_cli_human(b, sizeof(b), r->bytes_planned), o->dry_run ? "would be " : "",
		       o->dry_run ? "" : ": run prune again later");
	else if (!r->plans_ready && !r->plans_waiting)
		printf("nothing to prune\n");
}

int cmd_prune(const struct opts *o)
{
	struct cf_prune_opts po = {.dry_run = o->dry_run, .grace = o->grace};
	struct cf_prune_result res = {0};
	struct cf_session *s = NULL;
	char host[256] = "", plan[CF_HEX_LEN(32)];
	int rc = cli_open(o, 1, &s);

	if (rc)
		return rc;
	gethostname(host, sizeof(host) - 1);
	po.host = host;
	po.now = (uint64_t)time(NULL);
	po.stale_lock = CF_PRUNE_STALE_LOCK_DEFAULT;
	rc = cf_prune_run(s, &po, &res);
	cf_session_free(s);
	if (rc)
		return cli_fail(o, rc, "prune %s", o->repo);
	hex_id(plan, res.plan_id);
	if (o->json)
		print_json(json_pack(
		    "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		    " s:o}",
		    "dry_run", o->dry_run, "packs", (json_int_t)res.packs, "packs_used",
		    (json_int_t)res.packs_used, "packs_mixed", (json_int_t)res.packs_mixed,
		    "packs_unused", (json_int_t)res.packs_unused, "packs_unreadable",
		    (json_int_t)res.packs_unreadable, "plans_ready", (json_int_t)res.plans_ready,
		    "plans_waiting", (json_int_t)res.plans_waiting, "backups_running",
		    (json_int_t)res.backups_running, "packs_deleted", (json_int_t)res.packs_deleted,
		    "bytes_deleted", (json_int_t)res.bytes_deleted, "packs_kept",
		    (json_int_t)res.packs_kept, "indexes_written", (json_int_t)res.indexes_written,
		    "packs_planned", (json_int_t)res.packs_planned, "bytes_planned",
		    (json_int_t)res.bytes_planned, "plan",
		    res.plan_written ? json_string(plan) : json_null()));
	else
		prune_text(o, &res);
	return EXIT_OK;
}
