/* SPDX-License-Identifier: ISC */
/*
 * backupd: the backup command line — `now` (one backup: through the running daemon when
 * there is one, else in this process), `run` (the scheduled daemon), `status`,
 * `retention` (apply or preview the retention policy) and `config` (check and show the
 * configuration). docs/backupd.md and docs/man/backupd.1.scd document it.
 *
 * Exit codes: 0 success; 1 the operation failed or was interrupted; 2 usage or
 * configuration error; 3 another backupd holds the store. A passphrase is never a
 * command-line argument: it comes from --passphrase-file FILE ("-" for standard input),
 * passphrase_file in the configuration, or $COFFER_PASSPHRASE.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backupd/cli-text.h"
#include "backupd/control.h"
#include "backupd/daemon.h"
#include "backupd/status.h"
#include "backupd/storelock.h"
#include "core/encode.h"
#include "core/error.h"
#include "keyvault/witness.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

enum { CMD_NOW, CMD_RUN, CMD_STATUS, CMD_RETENTION, CMD_CONFIG };

struct opts {
	struct cf_settings_args a;
	int json, quiet, dry_run, no_wait;
};

static const struct cf_cli_cmd commands[] = {
    [CMD_NOW] = {.name = "now", .usage = cf_usage_now, .shortopts = "qr:", .longopts = cf_opts_now},
    [CMD_RUN] = {.name = "run", .usage = cf_usage_run, .shortopts = "qr:", .longopts = cf_opts_run},
    [CMD_STATUS] = {.name = "status", .usage = cf_usage_status, .longopts = cf_opts_status},
    [CMD_RETENTION] = {.name = "retention", .usage = cf_usage_retention, .shortopts = "qr:",
                       .longopts = cf_opts_retention},
    [CMD_CONFIG] = {.name = "config", .usage = cf_usage_config, .shortopts = "r:",
                    .longopts = cf_opts_config},
};

static const struct cf_cli cli = {
    .prog = "backupd", .version = CF_VERSION, .usage = cf_usage_main, CF_CLI_COMMANDS(commands)};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1; /* SA_RESETHAND: a second signal ends the process at once */
}

struct bar {
	int on;
	struct timespec last;
	int drawn;
};

static void draw_bar(void *ctx, const struct cf_snapshot_progress *p)
{
	struct bar *b = ctx;
	struct timespec now;
	char done[32], total[32], line[160];
	unsigned pct, fill;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (b->drawn &&
	    (now.tv_sec - b->last.tv_sec) * 1000 + (now.tv_nsec - b->last.tv_nsec) / 1000000 <
	        200 &&
	    p->files_done != p->files_total)
		return;
	b->last = now;
	b->drawn = 1;
	pct = p->bytes_total ? (unsigned)(p->bytes_done * 100 / p->bytes_total) : 100;
	if (pct > 100)
		pct = 100;
	fill = pct / 5;
	n = snprintf(line, sizeof(line), "\r[%.*s%.*s] %3u%%  %llu/%llu files  %s / %s", (int)fill,
	             "####################", (int)(20 - fill), "....................", pct,
	             (unsigned long long)p->files_done, (unsigned long long)p->files_total,
	             cf_cli_human(done, sizeof(done), p->bytes_done),
	             cf_cli_human(total, sizeof(total), p->bytes_total));
	if (n > 0)
		fprintf(stderr, "%s\033[K", line);
}

static void clear_bar(struct bar *b)
{
	if (b->drawn)
		fputs("\r\033[K", stderr);
	b->drawn = 0;
}

/* The summary of a snapshot (the JSON object of cf_job_summary_json) for people. */
static void summary_text(const json_t *s)
{
	char a[32], b[32], c[32], line[512];
	long long skipped = (long long)json_integer_value(json_object_get(s, "skipped"));
	const json_t *audit, *e;
	size_t i;

#define N(k) ((unsigned long long)json_integer_value(json_object_get(s, k)))
	printf("Snapshot %.8s saved (sequence %llu)\n", json_string_value(json_object_get(s, "id")),
	       N("seq"));
	printf("Files:         %llu (%llu read, %llu unchanged), %llu folders\n", N("files"),
	       N("files_read"), N("files_unchanged"), N("dirs"));
	printf("Bytes:         %s\n", cf_cli_human(a, sizeof(a), N("bytes")));
	printf("New bytes:     %s\n", cf_cli_human(b, sizeof(b), N("new_bytes")));
	printf("Stored bytes:  %s\n", cf_cli_human(c, sizeof(c), N("stored_bytes")));
	printf("Vanished:      %llu\n", N("vanished"));
	if (skipped)
		printf("Skipped:       %lld (see the warnings above)\n", skipped);
	printf("Duration:      %.1f s\n", json_real_value(json_object_get(s, "duration")));
#undef N
	audit = json_object_get(s, "audit_new");
	if (json_array_size(audit))
		printf("Key vault audit log, %zu new entr%s:\n", json_array_size(audit),
		       json_array_size(audit) == 1 ? "y" : "ies");
	json_array_foreach(audit, i, e)
	{
		cf_audit_describe(e, line, sizeof(line));
		printf("  %s\n", line);
	}
}

static void report_vanished(const json_t *s)
{
	const json_t *v = json_object_get(s, "vanished_paths");
	size_t n = json_array_size(v), shown = n < 10 ? n : 10;

	if (!n)
		return;
	fprintf(stderr, "backupd: %zu file%s vanished during the backup: ", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", json_string_value(json_array_get(v, i)));
	if (shown < n)
		fprintf(stderr, ", and %zu more", n - shown);
	fputc('\n', stderr);
}

/* What `now` prints after a backup, in-process or by the daemon: the exit status. */
static int print_outcome(const struct opts *o, json_t *snap, const char *error, int code,
                         const char *retain_error)
{
	int rc = !error ? 0 : code == CF_E_CONFIG || code == CF_E_VERSION ? 2 : 1;

	if (json_is_object(snap))
		report_vanished(snap);
	if (error)
		cf_cli_report("backupd", o->json, code, "%s", error);
	else if (o->json)
		cf_cli_print_json(json_incref(snap));
	else if (!o->quiet)
		summary_text(snap);
	if (!error && retain_error) {
		fprintf(stderr, "backupd: the snapshot was saved, but %s\n", retain_error);
		rc = 1;
	}
	return rc;
}

/* `now` through the daemon that holds the store: ask, wait for the run, print. */
static int now_by_daemon(const struct opts *o, const char *sock, pid_t pid)
{
	struct cf_control_conn *c = NULL;
	json_t *req = json_pack("{s:s}", "cmd", "now"), *m = NULL;
	const char *ev;
	int r, rc = 1;

	r = cf_control_connect(sock, &c);
	if (!r)
		r = cf_control_send(c, req);
	json_decref(req);
	while (!r) {
		r = cf_control_recv(c, &m, -1);
		if (r)
			break;
		ev = json_string_value(json_object_get(m, "event"));
		if (ev && !strcmp(ev, "accepted")) {
			if (!o->quiet)
				fprintf(stderr, "backupd: the daemon (pid %ld) %s\n", (long)pid,
				        json_is_true(json_object_get(m, "queued"))
				            ? "is backing up: a new backup follows that one"
				            : "starts a backup now");
			json_decref(m);
			if (o->no_wait)
				break;
			continue;
		}
		if (ev && !strcmp(ev, "done"))
			rc = print_outcome(
			    o, json_object_get(m, "snapshot"),
			    json_string_value(json_object_get(m, "error")),
			    (int)json_integer_value(json_object_get(m, "error_code")),
			    json_string_value(json_object_get(m, "retention_error")));
		else
			rc = cf_cli_report("backupd", o->json, CF_E_BUSY, "the daemon (pid %ld): %s",
			                   (long)pid, json_string_value(json_object_get(m, "message")));
		json_decref(m);
		break;
	}
	cf_control_close(c);
	if (r)
		return cf_cli_report("backupd", o->json, r, "ask the daemon (pid %ld) for a backup",
		                     (long)pid);
	return o->no_wait ? 0 : rc;
}

static int locked(const struct opts *o, const char *store, const struct cf_storelock_info *w)
{
	fprintf(stderr, "backupd: %s is locked by backupd pid %ld (%s)\n", store, (long)w->pid,
	        !strcmp(w->role, "daemon") ? "a daemon that does not answer" : "a backup running now");
	if (o->json)
		cf_cli_print_json(json_pack("{s:{s:s, s:s, s:I}}", "error", "code", "CF_E_BUSY",
		                            "message", "the store is locked by another backupd", "pid",
		                            (json_int_t)w->pid));
	return CF_BKD_EXIT_LOCKED;
}

/* `now` in this process, holding the store lock. */
static int now_here(const struct opts *o, struct cf_settings *s, struct cf_storelock *lock)
{
	struct cf_statedb *db = NULL;
	struct cf_job j;
	struct sigaction sa;
	struct bar bar = {0};
	int64_t id = 0;
	json_t *snap;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (cf_statedb_open(&db, s->state_dir, 0) == 0) {
		cf_statedb_recover(db, s->store);
		if (cf_statedb_job_start(db, "backup", "now", s->store, &id))
			id = 0;
	} else {
		fprintf(stderr, "backupd: warning: this backup is not recorded in the state database\n");
	}
	cf_settings_job(s, CF_JOB_BACKUP, &j);
	bar.on = !o->quiet && isatty(STDERR_FILENO);
	j.stop = &stop_flag;
	j.progress = bar.on ? draw_bar : NULL;
	j.ctx = &bar;
	cf_job_run(&j);
	clear_bar(&bar);
	if (db && id)
		cf_settings_record(db, s, id, &j, j.rc == -EINTR && stop_flag, NULL);
	cf_statedb_close(db);
	cf_storelock_release(lock);
	snap = cf_job_summary_json(&j);
	rc = print_outcome(o, snap, j.rc ? j.why : NULL, j.rc, j.retain_rc ? j.retain_why : NULL);
	json_decref(snap);
	cf_job_clear(&j);
	return rc;
}

static int cmd_now(const struct opts *o, struct cf_settings *s)
{
	struct cf_storelock_info who = {0};
	struct cf_storelock *lock = NULL;
	char *dir = NULL, why[1200];
	int r;

	r = cf_snapshot_check_store(s->store, why, sizeof(why));
	if (r)
		return cf_cli_report("backupd", o->json, r, "%s", why) ? 1 : 1;
	r = cf_storelock_dir(&dir, s->cfg->lock_dir);
	if (!r)
		r = cf_storelock_take(&lock, dir, s->store, "now", NULL, &who);
	if (r == CF_E_BUSY && !strcmp(who.role, "daemon")) {
		char lk[4096], sock[4096];

		r = cf_storelock_paths(dir, s->store, lk, sock, sizeof(lk));
		free(dir);
		if (r)
			return cf_cli_report("backupd", o->json, r, "find the daemon of %s", s->store);
		r = now_by_daemon(o, sock, who.pid);
		return r;
	}
	free(dir);
	if (r == CF_E_BUSY)
		return locked(o, s->store, &who);
	if (r)
		return cf_cli_report("backupd", o->json, r, "lock the store %s", s->store) ? 1 : 1;
	if (cf_settings_apply_storage(s, NULL)) {
		cf_storelock_release(lock);
		return cf_cli_report("backupd", o->json, -ENOMEM, "storage settings");
	}
	return now_here(o, s, lock);
}

static int cmd_retention(const struct opts *o, struct cf_settings *s)
{
	struct cf_statedb *db = NULL;
	struct cf_job j;
	int64_t id = 0;
	int rc;

	if (cf_retention_empty(&s->retain.policy)) {
		fprintf(stderr, "backupd retention: no keep_* rule in the [retention] section of %s: "
		                "nothing would be forgotten\n",
		        s->config_path ? s->config_path : "the configuration (none read)");
		return CF_BKD_EXIT_USAGE;
	}
	if (cf_settings_apply_storage(s, NULL))
		return cf_cli_report("backupd", o->json, -ENOMEM, "storage settings");
	cf_settings_job(s, CF_JOB_RETENTION, &j);
	j.retain.dry_run = o->dry_run;
	if (!o->dry_run && s->store && !cf_statedb_open(&db, s->state_dir, 0) &&
	    cf_statedb_job_start(db, "retention", "now", s->store, &id))
		id = 0;
	cf_job_run(&j);
	if (db && id)
		cf_settings_record(db, s, id, &j, 0, NULL);
	cf_statedb_close(db);
	if (j.retention && o->json)
		cf_cli_print_json(json_incref(j.retention));
	else if (j.retention && !o->quiet)
		cf_retain_print(j.retention, o->dry_run);
	rc = cf_job_exit_code(&j);
	if (j.rc || j.retain_rc)
		cf_cli_report("backupd", o->json && !j.retention, j.rc ? j.rc : j.retain_rc, "%s",
		              j.rc ? j.why : j.retain_why);
	cf_job_clear(&j);
	return rc;
}

static int cmd_config(const struct opts *o, const struct cf_settings *s)
{
	const struct cf_config *c = s->cfg;
	char iv[32], jt[32], rmin[32], rmax[32], kw[32], pg[32];
	json_t *j = json_pack(
	    "{s:s?, s:{s:s?, s:s?}, s:{s:s?, s:s, s:s, s:s?, s:I}, s:{s:I, s:I, s:s?, s:b, s:s, "
	    "s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I}, s:{s:s?}, s:I}",
	    "config", s->config_path, "store", "path", s->store, "lock_dir", c->lock_dir,
	    "repository", "url", s->repo, "state_dir", s->state_dir, "cache_dir", s->cache_dir,
	    "passphrase_file", s->pass_file, "pack_size", (json_int_t)s->pack_mib, "schedule",
	    "interval", (json_int_t)c->interval, "jitter", (json_int_t)c->jitter, "window", NULL,
	    "skip_on_battery", c->skip_on_battery, "power_supply_path", c->power_supply,
	    "retry_min", (json_int_t)c->retry_min, "retry_max", (json_int_t)c->retry_max,
	    "retention", "keep_last", (json_int_t)c->keep_last, "keep_hourly",
	    (json_int_t)c->keep_hourly, "keep_daily", (json_int_t)c->keep_daily, "keep_weekly",
	    (json_int_t)c->keep_weekly, "keep_monthly", (json_int_t)c->keep_monthly, "keep_yearly",
	    (json_int_t)c->keep_yearly, "keep_within", (json_int_t)c->keep_within, "prune",
	    c->prune, "prune_grace", (json_int_t)c->prune_grace, "keyvault", "url",
	    c->keyvault_url, "storage_keys", (json_int_t)c->nstorage);
	char win[32] = "";

	if (c->window_start >= 0)
		snprintf(win, sizeof(win), "%02d:%02d-%02d:%02d", c->window_start / 60,
		         c->window_start % 60, c->window_end / 60, c->window_end % 60);
	if (o->json) {
		if (j && *win)
			json_object_set_new(json_object_get(j, "schedule"), "window", json_string(win));
		return cf_cli_print_json(j) ? 1 : 0;
	}
	json_decref(j);
	printf("configuration: %s\n", s->config_path ? s->config_path : "(no file: defaults)");
	printf("store:         %s\n", s->store ? s->store : "(not set)");
	printf("repository:    %s\n", s->repo ? s->repo : "(not set)");
	printf("state, cache:  %s, %s\n", s->state_dir, s->cache_dir);
	printf("schedule:      every %s, jitter %s, window %s, %s on battery\n",
	       cf_config_format_duration(iv, sizeof(iv), c->interval),
	       cf_config_format_duration(jt, sizeof(jt), c->jitter), *win ? win : "any time",
	       c->skip_on_battery ? "wait" : "run");
	printf("retries:       from %s, doubling up to %s\n",
	       cf_config_format_duration(rmin, sizeof(rmin), c->retry_min),
	       cf_config_format_duration(rmax, sizeof(rmax), c->retry_max));
	if (cf_retention_empty(&s->retain.policy))
		printf("retention:     keep everything (no keep_* rule)\n");
	else
		printf("retention:     last %u, hourly %u, daily %u, weekly %u, monthly %u, yearly %u, "
		       "within %s; prune %s (grace %s)\n",
		       c->keep_last, c->keep_hourly, c->keep_daily, c->keep_weekly, c->keep_monthly,
		       c->keep_yearly, cf_config_format_duration(kw, sizeof(kw), c->keep_within),
		       c->prune ? "yes" : "no", cf_config_format_duration(pg, sizeof(pg), c->prune_grace));
	printf("storage keys:  %zu\n", c->nstorage);
	return 0;
}

/* One of a command's own options (cf_cli_args handles --help and the complaints). */
static int on_opt(void *ctx, const struct cf_cli_cmd *cmd, int opt, char *arg)
{
	struct opts *o = ctx;
	uint64_t mib;

	switch (opt) {
	case CF_OPT_CONFIG:
		o->a.config = arg;
		break;
	case CF_OPT_STORE:
		o->a.store = arg;
		break;
	case 'r':
		o->a.repo = arg;
		break;
	case CF_OPT_STATE_DIR:
		o->a.state_dir = arg;
		break;
	case CF_OPT_CACHE_DIR:
		o->a.cache_dir = arg;
		break;
	case CF_OPT_PASS_FILE:
		o->a.pass_file = arg;
		break;
	case CF_OPT_PACK_SIZE:
		if (cf_cli_parse_uint(arg, 1, 64, &mib))
			return cf_cli_complain("backupd", cmd->name,
			                       "--pack-size wants MiB from 1 to 64, not '%s'", arg);
		o->a.pack_mib = (unsigned)mib;
		break;
	case CF_OPT_JSON:
		o->json = 1;
		break;
	case CF_OPT_DRY_RUN:
		o->dry_run = 1;
		break;
	case CF_OPT_NO_WAIT:
		o->no_wait = 1;
		break;
	case 'q':
		o->quiet = 1;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct cf_settings *s = NULL;
	const char *empty = NULL;
	char err[2048];
	size_t cmd;
	int rc;

	cf_log_set_prog("backupd");
	rc = cf_cli_args(&cli, argc, argv, on_opt, &o, &cmd, NULL);
	if (rc != CF_CLI_RUN)
		return rc;
	if (o.a.state_dir && !*o.a.state_dir)
		empty = "--state-dir";
	if (o.a.cache_dir && !*o.a.cache_dir)
		empty = "--cache-dir";
	if ((o.a.store && !*o.a.store) || (o.a.repo && !*o.a.repo) || (o.a.config && !*o.a.config))
		empty = "--store, --repo and --config";
	if (empty)
		return cf_cli_complain("backupd", commands[cmd].name, "%s must not be empty", empty);
	rc = cf_settings_load(&s, &o.a, cmd == CMD_NOW || cmd == CMD_RUN, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "backupd %s: %s\n", commands[cmd].name, err);
		if (o.json)
			cf_cli_print_json(json_pack("{s:{s:s, s:s}}", "error", "code",
			                            cf_error_name(rc == CF_E_NOTFOUND ? CF_E_CONFIG : rc),
			                            "message", err));
		return rc == -ENOMEM ? 1 : CF_BKD_EXIT_USAGE;
	}
	cf_log_set_level(o.quiet ? CF_LOG_WARN : (enum cf_log_level)s->cfg->log_level);
	switch (cmd) {
	case CMD_NOW:
		rc = cmd_now(&o, s);
		break;
	case CMD_RUN:
		return cf_daemon_run(s, &o.a); /* takes s */
	case CMD_STATUS:
		rc = cf_status_run(s->state_dir, s->cfg->lock_dir, s->store, o.json);
		break;
	case CMD_RETENTION:
		if (!s->repo) {
			cf_settings_free(s);
			return cf_cli_complain("backupd", "retention",
			                       "no repository: give --repo URL or [repository] url");
		}
		rc = cmd_retention(&o, s);
		break;
	default:
		rc = cmd_config(&o, s);
		break;
	}
	cf_settings_free(s);
	return rc;
}
