/* SPDX-License-Identifier: ISC */
#include "restore/restore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupd/dbsnap.h"
#include "core/error.h"
#include "repo/archive.h"
#include "restore/dbcheck.h"
#include "restore/extract.h"
#include "restore/plan.h"
#include "restore/snapread.h"
#include "util/log.h"

#define DEFAULT_DB "chat.db"

int cf_restore_dir_state(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int state = 1;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return CF_E_INVAL;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			state = 2;
			break;
		}
	closedir(d);
	return state;
}

/* Create the folders above @path (not @path itself), 0700, as needed. */
static int make_parents(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s && !rc; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
	}
	if (rc)
		cf_log_err("cannot create the folders above %s: %s", path, strerror(-rc));
	free(p);
	return rc;
}

struct prescan {
	const char *const *paths;
	size_t n;
	unsigned char *hit;
};

static int prescan_entry(void *ctx, const struct cf_archive_entry *e)
{
	struct prescan *p = ctx;

	for (size_t i = 0; i < p->n; i++)
		if (!p->hit[i] && cf_snapread_path_selected(e->path, p->paths[i]))
			p->hit[i] = 1;
	return 0;
}

int cf_restore_check_paths(struct cf_repo *r, const struct cf_manifest *m, const char *const *paths,
                           size_t n)
{
	struct prescan p = {.paths = paths, .n = n};
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(paths[i]);

		while (len > 1 && paths[i][len - 1] == '/')
			len--;
		if (cf_archive_path_check(paths[i], len) != 0) {
			cf_log_err("\"%s\" cannot be a path in a snapshot (relative, no \".\" or"
			           " \"..\" parts, like Attachments/ab/01/file.jpg)",
			           paths[i]);
			return CF_E_INVAL;
		}
	}
	if (!n)
		return 0;
	p.hit = calloc(n, 1);
	if (!p.hit)
		return -ENOMEM;
	rc = cf_snapread_walk(r, m, NULL, prescan_entry, &p);
	for (size_t i = 0; i < n && !rc; i++)
		if (!p.hit[i]) {
			cf_log_err("\"%s\" is not in snapshot #%llu", paths[i],
			           (unsigned long long)m->seq);
			rc = CF_E_NOTFOUND;
		}
	free(p.hit);
	return rc;
}

struct pull {
	struct cf_tarstream *tar;
	const struct cf_restore_opts *o;
	uint64_t total;
	struct timespec last;
	int shown;
};

static void show_progress(struct pull *p, int final)
{
	struct cf_tarstream_stats st;
	struct timespec now;
	double done;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && p->shown &&
	    (now.tv_sec - p->last.tv_sec) * 1000000000L + (now.tv_nsec - p->last.tv_nsec) <
	        250000000L)
		return;
	p->last = now;
	p->shown = 1;
	cf_tarstream_get_stats(p->tar, &st);
	done = (double)st.body_bytes / (1024.0 * 1024.0);
	if (p->total && !p->o->npaths)
		fprintf(stderr, "\rrestoring: %llu files, %.1f / %.1f MiB (%3.0f%%)",
		        (unsigned long long)st.files, done, (double)p->total / (1024.0 * 1024.0),
		        100.0 * (double)st.body_bytes / (double)p->total);
	else
		fprintf(stderr, "\rrestoring: %llu files, %.1f MiB", (unsigned long long)st.files,
		        done);
	if (final)
		fputc('\n', stderr);
}

/* cf_extract_read_fn over the tar stream, with progress and a stop flag. */
static int pull(void *ctx, void *buf, size_t len, size_t *got)
{
	struct pull *p = ctx;
	int rc;

	if (p->o->stop && *p->o->stop) {
		cf_log_err("interrupted: nothing was restored");
		return -EINTR;
	}
	rc = cf_tarstream_read(p->tar, buf, len, got);
	if (!rc && p->o->progress)
		show_progress(p, *got == 0);
	return rc;
}

/*
 * Remove @dir/@db-wal, -shm and -journal: a restored database stands alone. @warn: say
 * so (they came with the snapshot, not from our own check).
 */
static void drop_sidecars(const char *dir, const char *db, int warn)
{
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	char path[4200];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, db, suffix[i]);
		if (unlink(path) == 0 && warn)
			cf_log_warn("removed %s%s: a restored database needs none", db, suffix[i]);
	}
}

static void show_parallel(void *ctx, const struct cf_extract_stats *st)
{
	const struct pull *p = ctx;

	if (p->total && !p->o->npaths)
		fprintf(stderr, "\rrestoring: %llu files, %.1f / %.1f MiB (%3.0f%%)",
		        (unsigned long long)st->files, (double)st->bytes / (1024.0 * 1024.0),
		        (double)p->total / (1024.0 * 1024.0),
		        100.0 * (double)st->bytes / (double)p->total);
	else
		fprintf(stderr, "\rrestoring: %llu files, %.1f MiB", (unsigned long long)st->files,
		        (double)st->bytes / (1024.0 * 1024.0));
}

/*
 * Restore @m into @tmp with the parallel restorer (restore/plan.h): blobs fetched,
 * verified and written by one worker per CPU. $COFFER_RESTORE_TAR=1 takes the tar stream
 * path instead (comparisons, and a fallback should the parallel one ever misbehave).
 */
static int extract_parallel(struct cf_repo *r, const struct cf_manifest *m,
                            const struct cf_restore_opts *o, const char *tmp,
                            struct cf_restore_result *res)
{
	struct cf_snapread *sr = NULL;
	struct cf_extract_stats st = {0};
	struct cf_plan_opts po = {0};
	struct pull p = {.o = o, .total = m->bytes};
	int rc;

	rc = cf_snapread_new(&sr, r, m);
	if (rc)
		return rc;
	po.get = cf_snapread_get_blob;
	po.gctx = r;
	po.paths = o->paths;
	po.npaths = o->npaths;
	po.stop = o->stop;
	if (o->progress) {
		po.progress = show_parallel;
		po.pctx = &p;
	}
	rc = cf_plan_extract(tmp, cf_snapread_tree(sr), &po, &st);
	if (o->progress)
		fputc('\n', stderr);
	res->files = st.files;
	res->dirs = st.dirs;
	res->bytes = st.bytes;
	cf_snapread_free(sr);
	return rc;
}

/* Extract @m (or the selected paths) into the fresh folder @tmp. */
static int extract(struct cf_repo *r, const struct cf_manifest *m, const struct cf_restore_opts *o,
                   const char *tmp, struct cf_restore_result *res)
{
	struct cf_snapread *sr = NULL;
	struct cf_extract_stats st = {0};
	struct pull p = {.o = o, .total = m->bytes};
	int rc;

	if (!getenv("COFFER_RESTORE_TAR") || strcmp(getenv("COFFER_RESTORE_TAR"), "1") != 0)
		return extract_parallel(r, m, o, tmp, res);
	rc = cf_snapread_new(&sr, r, m);
	if (rc)
		return rc;
	p.tar = cf_snapread_tar(sr);
	if (o->npaths)
		rc = cf_tarstream_set_filter(p.tar, o->paths, o->npaths);
	if (!rc)
		rc = cf_extract_stream(tmp, pull, &p, 0, &st);
	if (p.shown && !rc)
		show_progress(&p, 1);
	else if (p.shown)
		fputc('\n', stderr);
	res->files = st.files;
	res->dirs = st.dirs;
	res->bytes = st.bytes;
	cf_snapread_free(sr);
	return rc;
}

/* Check the restored database, if the restore holds one. */
static int check_db(const struct cf_manifest *m, const struct cf_restore_opts *o, const char *tmp,
                    struct cf_restore_result *res)
{
	const char *db = m->has_db && m->db.path ? m->db.path : DEFAULT_DB;
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmp, db);
	drop_sidecars(tmp, db, 1);
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	res->db_checked = 1;
	/* the pages were verified blob by blob: by default only the structure (dbcheck.h) */
	res->db_status = o->verify ? cf_dbsnap_check(path, 1) : cf_dbcheck_structure(path);
	/* a read-only check of a WAL database may leave empty side files: never keep them */
	drop_sidecars(tmp, db, 0);
	return res->db_status;
}

int cf_restore_snapshot(struct cf_repo *r, const struct cf_manifest *m,
                        const struct cf_restore_opts *o, struct cf_restore_result *out)
{
	struct cf_restore_result res = {0};
	char *tmp = NULL;
	int rc, state;

	if (!r || !m || !o || !o->to || !*o->to || (o->npaths && !o->paths))
		return CF_E_INVAL;
	if (o->in_place && o->npaths) {
		cf_log_err("--in-place replaces the whole store and cannot be combined with"
		           " --path: restore single files into a new folder and copy them");
		return CF_E_INVAL;
	}
	state = cf_restore_dir_state(o->to);
	if (state == CF_E_INVAL)
		cf_log_err("%s exists and is not a folder", o->to);
	else if (state < 0)
		cf_log_err("cannot read %s: %s", o->to, strerror(-state));
	else if (state == 2 && !o->in_place)
		cf_log_err("%s is not empty: restore into an empty or absent folder, or replace"
		           " the store there with --in-place",
		           o->to);
	if (state < 0 || state == CF_E_INVAL)
		return state;
	if (state == 2 && !o->in_place)
		return CF_E_EXISTS;
	rc = cf_restore_check_paths(r, m, o->paths, o->npaths);
	if (!rc)
		rc = make_parents(o->to);
	if (!rc) {
		rc = cf_extract_tmpdir(o->to, &tmp);
		if (rc)
			cf_log_err("cannot create a temporary folder next to %s: %s", o->to,
			           cf_strerror(rc));
	}
	if (rc)
		goto out;
	rc = extract(r, m, o, tmp, &res);
	if (!rc && o->stop && *o->stop)
		rc = -EINTR;
	if (!rc && check_db(m, o, tmp, &res) && o->in_place) {
		cf_log_err("the restored database failed its check: the store at %s was left"
		           " as it was",
		           o->to);
		rc = CF_E_CORRUPT;
	}
	if (rc)
		goto out;
	/* the folder must still be what we checked: nobody wrote into it meanwhile */
	state = cf_restore_dir_state(o->to);
	if (state == 2 && !o->in_place) {
		cf_log_err("%s is no longer empty: restored files left at %s", o->to, tmp);
		free(tmp);
		tmp = NULL;
		rc = CF_E_EXISTS;
		goto out;
	}
	rc = cf_extract_swap_into(tmp, o->to);
out:
	if (rc && tmp) {
		int rr = cf_extract_rmtree(tmp);
		if (rr)
			cf_log_warn("cannot remove the temporary folder %s: %s", tmp,
			            strerror(-rr));
	}
	free(tmp);
	if (out)
		*out = res;
	return rc;
}
