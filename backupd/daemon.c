/* SPDX-License-Identifier: ISC */
#include "backupd/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backupd/control.h"
#include "backupd/notify.h"
#include "backupd/storelock.h"
#include "core/core.h"
#include "core/error.h"
#include "util/cli.h"
#include "util/log.h"

#define MAX_CLIENTS 32
#define BATTERY_RECHECK 60 /* at most this many seconds between looks at the power supply */
#define MAX_WAIT_MS 60000  /* wake at least this often: the wall clock may jump (suspend) */

struct client {
	struct cf_control_conn *c;
	uint64_t wait_for; /* the run whose end it waits for; 0: none (not a `now` client) */
};

struct daemon {
	struct cf_settings *st;
	struct cf_settings *pending; /* reloaded while a job ran: applied when it ends */
	const struct cf_settings_args *args;
	struct cf_statedb *db;
	struct cf_storelock *lock;
	int lfd;
	struct client cl[MAX_CLIENTS];
	size_t ncl;

	/* the job on the worker thread */
	pthread_t th;
	int running, done_pipe[2];
	struct cf_job job;
	int64_t job_id;
	uint64_t job_started;
	const char *trigger;
	uint64_t runs; /* runs started so far */

	uint64_t next_at;
	unsigned failures;
	int now_wanted;   /* a `now` is waiting to start */
	int first;        /* no run has started since the daemon started */
	int stopping;
	int battery_said; /* "on battery" logged for this wait */
};

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		stop_flag = 1; /* the job polls it before every blob */
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

static const char *when(char *buf, size_t cap, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !localtime_r(&tt, &tm))
		snprintf(buf, cap, "-");
	else
		strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static void save_schedule(struct daemon *d)
{
	struct cf_statedb_store u = {.url = d->st->repo,
	                             .set_next = 1,
	                             .next_run_at = (int64_t)d->next_at,
	                             .set_failures = 1,
	                             .failures = d->failures};
	char a[32];

	cf_statedb_store_update(d->db, d->st->store, &u);
	if (!d->running)
		cf_notify_status("idle; next backup %s", when(a, sizeof(a), d->next_at));
}

/* A random delay from 0 to the jitter (whole seconds). */
static uint64_t jitter_pick(const struct daemon *d)
{
	uint64_t j = d->st->sched.jitter;

	if (!j)
		return 0;
	return cf_core_random_uniform((uint32_t)(j >= UINT32_MAX ? UINT32_MAX - 1 : j) + 1);
}

/* The next run after the newest recorded one (at start and after a reload). */
static void plan_from_history(struct daemon *d)
{
	uint64_t last_ok = (uint64_t)cf_statedb_last_start(d->db, d->st->store, "ok");
	uint64_t last_any = (uint64_t)cf_statedb_last_start(d->db, d->st->store, NULL);

	d->failures = cf_statedb_failures(d->db, d->st->store);
	if (!last_ok || last_any > last_ok)
		d->next_at = cf_schedule_window(&d->st->sched, now_s()); /* never, or not ok: resume */
	else
		d->next_at = cf_schedule_next(&d->st->sched, last_ok, now_s(), jitter_pick(d));
	save_schedule(d);
}

static void *worker(void *arg)
{
	struct daemon *d = arg;
	unsigned char c = 1;

	cf_job_run(&d->job);
	if (write(d->done_pipe[1], &c, 1) < 0)
		cf_log_err("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

static void start_job(struct daemon *d, const char *trigger)
{
	sigset_t all, old;
	char a[32];
	int r;

	cf_settings_job(d->st, CF_JOB_BACKUP, &d->job);
	d->job.stop = &stop_flag;
	d->trigger = trigger;
	d->job_started = now_s();
	d->job_id = 0;
	if (cf_statedb_job_start(d->db, "backup", trigger, d->st->store, &d->job_id))
		cf_log_warn("this run is not recorded in the state database");
	d->runs++;
	d->now_wanted = 0;
	d->first = 0;
	d->battery_said = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* signals go to the main thread */
	r = pthread_create(&d->th, NULL, worker, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		d->job.rc = -r;
		snprintf(d->job.why, sizeof(d->job.why), "cannot start the backup thread: %s",
		         strerror(r));
		unsigned char c = 1;
		if (write(d->done_pipe[1], &c, 1) < 0)
			cf_log_err("cannot wake the main thread");
		d->running = 2; /* finished without a thread */
		return;
	}
	d->running = 1;
	cf_log_info("backup %llu started (%s) at %s", (unsigned long long)d->runs, trigger,
	            when(a, sizeof(a), d->job_started));
	cf_notify_status("backing up (%s, started %s)", trigger, a);
}

static void reply_done(struct daemon *d, json_t *msg)
{
	for (size_t i = 0; i < d->ncl; i++)
		if (d->cl[i].wait_for == d->runs) {
			cf_control_send(d->cl[i].c, msg);
			cf_control_close(d->cl[i].c);
			d->cl[i--] = d->cl[--d->ncl];
		}
}

static void apply(struct daemon *d, struct cf_settings *n);

static void finish_job(struct daemon *d)
{
	struct cf_job *j = &d->job;
	int cancelled = j->rc == -EINTR && stop_flag;
	const char *status = !j->rc ? "ok" : cancelled ? "cancelled" : "failed";
	json_t *msg;
	char a[32], b[32], c[32];

	if (d->running == 1)
		pthread_join(d->th, NULL);
	d->running = 0;
	if (d->job_id && cf_settings_record(d->db, d->st, d->job_id, j, cancelled, &d->failures))
		cf_log_warn("the outcome of this run is not fully recorded in the state database");
	if (!j->rc)
		cf_log_info("backup %llu: snapshot #%llu saved (%s new, %s stored, %.1f s)",
		            (unsigned long long)d->runs, (unsigned long long)j->snap.seq,
		            cf_cli_human(a, sizeof(a), j->snap.new_bytes),
		            cf_cli_human(b, sizeof(b), j->snap.stored_bytes), j->snap.seconds);
	else if (cancelled)
		cf_log_info("backup %llu stopped: %s", (unsigned long long)d->runs, j->why);
	else
		cf_log_err("backup %llu failed (%u in a row): %s", (unsigned long long)d->runs,
		           d->failures, j->why);
	if (j->retain_rc)
		cf_log_err("%s", j->retain_why);
	if (!d->stopping) {
		if (!j->rc) {
			d->next_at =
			    cf_schedule_next(&d->st->sched, d->job_started, now_s(), jitter_pick(d));
		} else {
			d->next_at = cf_schedule_retry(&d->st->sched, now_s(), d->failures);
			cf_log_info("next attempt at %s", when(c, sizeof(c), d->next_at));
		}
		save_schedule(d);
	}
	msg = json_pack("{s:s, s:s, s:I, s:o, s:s*, s:s*, s:I}", "event", "done", "status", status,
	                "error_code", (json_int_t)j->rc, "snapshot", cf_job_summary_json(j),
	                "error", j->rc ? j->why : NULL, "retention_error",
	                j->retain_rc ? j->retain_why : NULL, "next_run", (json_int_t)d->next_at);
	if (msg)
		reply_done(d, msg);
	json_decref(msg);
	cf_job_clear(j);
	if (d->pending && !d->stopping) {
		apply(d, d->pending);
		d->pending = NULL;
	}
}

/* Put the reloaded settings @n in force (no job runs). */
static void apply(struct daemon *d, struct cf_settings *n)
{
	char a[32], ib[32];

	if (cf_settings_apply_storage(n, d->st))
		cf_log_warn("storage settings not fully applied (out of memory)");
	cf_settings_free(d->st);
	d->st = n;
	cf_log_set_level((enum cf_log_level)n->cfg->log_level);
	plan_from_history(d);
	cf_log_info("configuration reloaded from %s: interval %s, next backup %s",
	            n->config_path ? n->config_path : "(defaults)",
	            cf_config_format_duration(ib, sizeof(ib), n->sched.interval),
	            when(a, sizeof(a), d->next_at));
}

/* SIGHUP: read the configuration again; keep the old one when the new one is bad. */
static void reload(struct daemon *d)
{
	struct cf_settings *n = NULL;
	struct cf_statedb_store u = {.url = d->st->repo, .set_config_error = 1};
	struct timespec ts;
	char err[2048], msg[256];
	int r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	cf_notify(msg);
	r = cf_settings_load(&n, d->args, 1, err, sizeof(err));
	if (!r && strcmp(n->store, d->st->store)) {
		snprintf(err, sizeof(err), "the store changed (%s): restart backupd to switch stores",
		         n->store);
		r = CF_E_CONFIG;
	}
	if (!r && (n->cfg->lock_dir || d->st->cfg->lock_dir) &&
	    (!n->cfg->lock_dir || !d->st->cfg->lock_dir ||
	     strcmp(n->cfg->lock_dir, d->st->cfg->lock_dir))) {
		snprintf(err, sizeof(err), "lock_dir changed: restart backupd to use it");
		r = CF_E_CONFIG;
	}
	if (r) {
		cf_log_err("configuration not reloaded, the previous one stays in force: %s", err);
		u.config_error = err;
		cf_statedb_store_update(d->db, d->st->store, &u);
		cf_settings_free(n);
		cf_notify("READY=1");
		return;
	}
	cf_statedb_store_update(d->db, d->st->store, &u);
	if (d->running) {
		/* the running job reads the current settings: swap once it has ended */
		cf_settings_free(d->pending);
		d->pending = n;
		cf_log_info("configuration reloaded from %s: it applies when the running backup ends",
		            n->config_path ? n->config_path : "(defaults)");
	} else {
		apply(d, n);
	}
	cf_notify("READY=1");
}

static json_t *status_msg(struct daemon *d)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:b, s:s*, s:I, s:I, s:I, s:I}", "event", "status",
	                 "pid", (json_int_t)getpid(), "store", d->st->store, "repository",
	                 d->st->repo, "running", d->running != 0, "trigger",
	                 d->running ? d->trigger : NULL, "started", (json_int_t)d->job_started,
	                 "next_run", (json_int_t)d->next_at, "interval",
	                 (json_int_t)d->st->sched.interval, "failures", (json_int_t)d->failures);
}

/* One request from client @i; returns 0 to keep the connection, -1 to drop it. */
static int serve(struct daemon *d, size_t i)
{
	struct client *c = &d->cl[i];
	json_t *req = NULL, *ans = NULL;
	const char *cmd;
	int r = cf_control_recv(c->c, &req, 2000), keep = -1;

	if (r)
		return -1;
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd && !strcmp(cmd, "now") && !d->stopping) {
		d->now_wanted = 1;
		c->wait_for = d->runs + 1; /* the next run to start (after a running one) */
		ans = json_pack("{s:s, s:b}", "event", "accepted", "queued", d->running != 0);
		keep = 0;
	} else if (cmd && !strcmp(cmd, "status")) {
		ans = status_msg(d);
	} else {
		ans = json_pack("{s:s, s:s}", "event", "error", "message",
		                d->stopping ? "the daemon is stopping" : "unknown request");
	}
	if (ans && cf_control_send(c->c, ans))
		keep = -1;
	json_decref(ans);
	json_decref(req);
	return keep;
}

static void accept_clients(struct daemon *d)
{
	struct cf_control_conn *c;
	int r;

	while ((r = cf_control_accept(d->lfd, &c)) != -EAGAIN) {
		if (r)
			continue;
		if (d->ncl == MAX_CLIENTS) {
			cf_control_close(c);
			continue;
		}
		d->cl[d->ncl++] = (struct client){c, 0};
	}
}

/* Start a run when one is due (or wanted), unless on battery. */
static void maybe_start(struct daemon *d)
{
	uint64_t now = now_s();
	char a[32];

	if (d->running || d->stopping)
		return;
	if (d->now_wanted) {
		start_job(d, "now");
		return;
	}
	if (now < d->next_at)
		return;
	if (d->st->cfg->skip_on_battery && cf_schedule_on_battery(d->st->cfg->power_supply)) {
		if (!d->battery_said)
			cf_log_info("on battery power: the scheduled backup waits for mains power");
		d->battery_said = 1;
		d->next_at = now + (d->st->sched.interval < BATTERY_RECHECK ? d->st->sched.interval
		                                                          : BATTERY_RECHECK);
		cf_notify_status("waiting for mains power (next look %s)",
		                 when(a, sizeof(a), d->next_at));
		return;
	}
	start_job(d, d->failures ? "retry" : d->first ? "start" : "schedule");
}

static int wait_ms(const struct daemon *d)
{
	uint64_t now = now_s();

	if (d->running)
		return MAX_WAIT_MS;
	if (d->now_wanted || d->next_at <= now)
		return 0;
	return d->next_at - now > MAX_WAIT_MS / 1000 ? MAX_WAIT_MS : (int)(d->next_at - now) * 1000;
}

static void on_signals(struct daemon *d)
{
	unsigned char sig[16];
	ssize_t n;

	while ((n = read(sig_pipe[0], sig, sizeof(sig))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (sig[i] == SIGHUP && !d->stopping) {
				reload(d);
			} else if ((sig[i] == SIGTERM || sig[i] == SIGINT) && !d->stopping) {
				d->stopping = 1;
				cf_notify("STOPPING=1");
				cf_log_info("stopping%s", d->running ? ": the running backup stops at its "
				                                       "next blob"
				                                     : "");
			}
		}
}

static void loop(struct daemon *d)
{
	while (!(d->stopping && !d->running)) {
		struct pollfd p[3 + MAX_CLIENTS];
		size_t np = 3;
		int r;

		maybe_start(d);
		p[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		p[1] = (struct pollfd){.fd = d->done_pipe[0], .events = POLLIN};
		p[2] = (struct pollfd){.fd = d->lfd, .events = POLLIN};
		for (size_t i = 0; i < d->ncl; i++)
			p[np++] = (struct pollfd){.fd = d->cl[i].c->fd, .events = POLLIN};
		r = poll(p, np, wait_ms(d));
		if (r < 0 && errno != EINTR) {
			cf_log_err("poll: %s", strerror(errno));
			d->stopping = 1;
		}
		if (r <= 0)
			continue;
		if (p[0].revents)
			on_signals(d);
		if (p[1].revents) {
			unsigned char c[8];

			if (read(d->done_pipe[0], c, sizeof(c)) > 0)
				finish_job(d);
		}
		/* clients (finish_job may have answered and closed some): a waiting one that
		 * becomes readable has gone away */
		for (size_t k = 3; k < np; k++) {
			size_t i;

			if (!p[k].revents)
				continue;
			for (i = 0; i < d->ncl && d->cl[i].c->fd != p[k].fd; i++)
				;
			if (i < d->ncl && (d->cl[i].wait_for || serve(d, i))) {
				cf_control_close(d->cl[i].c);
				d->cl[i] = d->cl[--d->ncl];
			}
		}
		if (p[2].revents)
			accept_clients(d);
	}
}

/* Take the store lock, open the database and the control socket. */
static int start(struct daemon *d)
{
	struct cf_storelock_info who = {0};
	struct cf_statedb_store u = {.url = d->st->repo, .set_daemon = 1, .set_config_error = 1};
	char *dir = NULL, a[32];
	pid_t stale = 0;
	int r;

	r = cf_storelock_dir(&dir, d->st->cfg->lock_dir);
	if (!r)
		r = cf_storelock_take(&d->lock, dir, d->st->store, "daemon", &stale, &who);
	free(dir);
	if (r == CF_E_BUSY) {
		fprintf(stderr, "backupd: %s is already served by backupd pid %ld (%s, since %s)\n",
		        d->st->store, (long)who.pid, who.role[0] ? who.role : "unknown role",
		        when(a, sizeof(a), (uint64_t)who.started));
		return CF_BKD_EXIT_LOCKED;
	}
	if (r) {
		cf_cli_report("backupd", 0, r, "lock the store %s", d->st->store);
		return CF_BKD_EXIT_FAIL;
	}
	r = cf_statedb_open(&d->db, d->st->state_dir, 0);
	if (!r)
		r = cf_statedb_recover(d->db, d->st->store) < 0 ? CF_E_IO : 0;
	if (!r)
		r = cf_control_listen(cf_storelock_socket(d->lock), &d->lfd);
	if (!r && pipe2(d->done_pipe, O_CLOEXEC))
		r = -errno;
	if (r) {
		cf_cli_report("backupd", 0, r, "start the daemon for %s", d->st->store);
		return CF_BKD_EXIT_FAIL;
	}
	u.pid = getpid();
	u.config_path = d->st->config_path;
	cf_statedb_store_update(d->db, d->st->store, &u);
	plan_from_history(d);
	cf_log_info("serving %s into %s (pid %ld); first backup %s", d->st->store, d->st->repo,
	            (long)getpid(), when(a, sizeof(a), d->next_at));
	cf_notify("READY=1");
	return 0;
}

static void finish(struct daemon *d)
{
	struct cf_statedb_store u = {.url = d->st->repo, .set_daemon = 1};
	json_t *bye = json_pack("{s:s, s:s}", "event", "error", "message", "the daemon stopped");

	for (size_t i = 0; i < d->ncl; i++) {
		if (bye && d->cl[i].wait_for)
			cf_control_send(d->cl[i].c, bye);
		cf_control_close(d->cl[i].c);
	}
	json_decref(bye);
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(cf_storelock_socket(d->lock));
	}
	if (d->db) {
		u.pid = 0;
		cf_statedb_store_update(d->db, d->st->store, &u);
	}
	for (int i = 0; i < 2; i++)
		if (d->done_pipe[i] >= 0)
			close(d->done_pipe[i]);
	cf_statedb_close(d->db);
	cf_storelock_release(d->lock);
	cf_settings_free(d->pending);
	cf_settings_free(d->st);
}

int cf_daemon_run(struct cf_settings *s, const struct cf_settings_args *args)
{
	struct daemon d = {.st = s, .args = args, .lfd = -1, .done_pipe = {-1, -1}, .first = 1};
	int rc;

	if (setup_signals() || cf_core_init()) {
		cf_cli_report("backupd", 0, -EIO, "set up the daemon");
		cf_settings_free(s);
		return CF_BKD_EXIT_FAIL;
	}
	if (cf_settings_apply_storage(s, NULL)) {
		cf_settings_free(s);
		return CF_BKD_EXIT_FAIL;
	}
	rc = start(&d);
	if (!rc) {
		loop(&d);
		cf_log_info("stopped");
	}
	finish(&d);
	return rc;
}
