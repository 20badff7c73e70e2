/* SPDX-License-Identifier: ISC */
/* One backup run: database copy, walk, bodies, tree, index, manifest (backupd/snapshot.h). */
#include "backupd/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupd/dbpages.h"
#include "backupd/dbcapture.h"
#include "backupd/dbsnap.h"
#include "backupd/snapshot-internal.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/encode.h"
#include "repo/locks.h"
#include "util/log.h"

#define DBCOPY_PREFIX "backupd-db-"

static const char sqlite_magic[16] = "SQLite format 3";

int cf_snapshot_check_store(const char *store, char *why, size_t whylen)
{
	char magic[16], *db = NULL;
	struct stat sb;
	ssize_t got;
	int fd, r = 0;

	if (stat(store, &sb) < 0) {
		r = errno == ENOENT ? CF_E_NOTFOUND : -errno;
		snprintf(why, whylen, "store %s", store);
		return r;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(why, whylen, "store %s is not a folder", store);
		return -ENOTDIR;
	}
	if (asprintf(&db, "%s/%s", store, CF_SNAPSHOT_DB_NAME) < 0)
		return -ENOMEM;
	if (lstat(db, &sb) < 0) {
		r = errno == ENOENT ? CF_E_NOTFOUND : -errno;
		snprintf(why, whylen, "no readable %s in %s (not a message store)",
		         CF_SNAPSHOT_DB_NAME, store);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size == 0) {
		r = CF_E_FORMAT;
		snprintf(why, whylen, "%s is %s, not a SQLite database", db,
		         S_ISREG(sb.st_mode) ? "empty" : "not a regular file");
		goto out;
	}
	fd = open(db, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot open %s", db);
		goto out;
	}
	got = read(fd, magic, sizeof(magic));
	close(fd);
	if (got != (ssize_t)sizeof(magic) || memcmp(magic, sqlite_magic, sizeof(magic)) != 0) {
		r = CF_E_FORMAT;
		snprintf(why, whylen, "%s is not a SQLite database", db);
	}
out:
	free(db);
	return r;
}

void cf_snapshot_result_clear(struct cf_snapshot_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nvanished; i++)
		free(res->vanished[i]);
	free(res->vanished);
	memset(res, 0, sizeof(*res));
}

/* Remove a database copy and any companion file SQLite may have made beside it. */
static void remove_copy(const char *path)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix[i]) < sizeof(p))
			unlink(p);
}

/* Remove database copies left in the spool by runs that were killed (-9, crash). */
static void clean_spool(const char *spool)
{
	DIR *d = opendir(spool);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		long pid;
		char *end;

		if (strncmp(de->d_name, DBCOPY_PREFIX, strlen(DBCOPY_PREFIX)) != 0)
			continue;
		pid = strtol(de->d_name + strlen(DBCOPY_PREFIX), &end, 10);
		if (strncmp(end, ".db", 3) != 0 || pid <= 0)
			continue;
		if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue; /* another live backup */
		snprintf(path, sizeof(path), "%s/%s", spool, de->d_name);
		if (unlink(path) == 0)
			cf_log_debug("removed a database copy left by an earlier run: %s", path);
	}
	closedir(d);
}

static int emit_piece(void *ctx, const uint8_t *piece, size_t len)
{
	struct run *x = ctx;
	uint8_t id[CF_BLOB_ID_BYTES];
	int r;

	if (run_stopped(x))
		return -EINTR;
	r = cf_repo_put_blob(x->r, CF_BLOB_TREE, piece, len, id, NULL);
	if (r)
		return r;
	if (x->ntrees == x->trees_cap) {
		size_t cap = x->trees_cap ? x->trees_cap * 2 : 16;
		uint8_t *t = realloc(x->trees, cap * CF_BLOB_ID_BYTES);
		if (!t)
			return -ENOMEM;
		x->trees = t;
		x->trees_cap = cap;
	}
	memcpy(x->trees + x->ntrees * CF_BLOB_ID_BYTES, id, CF_BLOB_ID_BYTES);
	x->ntrees++;
	return 0;
}

/* Where the page digests of the previous backup of this store live (dbpages.h). */
static int state_path(struct run *x)
{
	char hex[CF_HEX_LEN(16)];
	uint8_t h[16];

	cf_hash_blake2b(h, sizeof(h), NULL, x->store, strlen(x->store));
	cf_encode_hex(hex, h, sizeof(h));
	if (asprintf(&x->dbstate, "%s/dbstate-%s", cf_repo_spool_dir(x->r), hex) < 0) {
		x->dbstate = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Stream the database into the page store (backupd/dbcapture.h) and read the attachment
 * names in the same read transaction; when SQLite does not write in order, fall back to
 * a copy in the spool (COFFER_DB_COPY=1 forces that path).
 */
static int take_db(struct run *x, struct cf_dbsnap_info *info, struct stat *live)
{
	const struct cf_repokeys *k = cf_keyring_current(cf_repo_keyring(x->r));
	int busy = x->o->busy_ms > 0 ? x->o->busy_ms : CF_SNAPSHOT_BUSY_MS;
	const char *force = getenv("COFFER_DB_COPY");
	char *src = NULL;
	int r;

	clean_spool(cf_repo_spool_dir(x->r));
	r = state_path(x);
	if (r)
		return r;
	if (asprintf(&src, "%s/%s", x->store, CF_SNAPSHOT_DB_NAME) < 0)
		return -ENOMEM;
	if (lstat(src, live) < 0) {
		r = errno == ENOENT ? CF_E_NOTFOUND : -errno;
		cf_log_err("message database %s: %s", src, strerror(errno));
		free(src);
		return r;
	}
	if (!force || strcmp(force, "1") != 0) {
		r = cf_dbcapture_take(src, busy, x->r, x->dbstate, cf_repokeys_gear(k), x->o->stop,
		                      x->store, &x->dbp, &x->names, info);
		if (r || x->dbp) {
			free(src);
			return r;
		}
	}
	if (asprintf(&x->dbcopy, "%s/%s%ld.db", cf_repo_spool_dir(x->r), DBCOPY_PREFIX,
	             (long)getpid()) < 0) {
		free(src);
		x->dbcopy = NULL;
		return -ENOMEM;
	}
	r = cf_dbsnap_take(src, x->dbcopy, busy, info);
	free(src);
	if (r) {
		free(x->dbcopy); /* cf_dbsnap_take removed it */
		x->dbcopy = NULL;
		return r;
	}
	cf_log_debug("database copy: %llu pages of %u bytes", (unsigned long long)info->pages,
	             (unsigned)info->page_size);
	return cf_attnames_load(&x->names, x->dbcopy, x->store);
}

/*
 * The database as the archive's first entry, "chat.db", stored page by page
 * (docs/database-chunking.md): the streamed store finished, or the copy stored and
 * removed.
 */
static int add_db(struct run *x, const struct stat *live, const struct cf_dbsnap_info *info)
{
	const struct cf_repokeys *k = cf_keyring_current(cf_repo_keyring(x->r));
	struct cf_archive_entry e = {
	    .path = CF_SNAPSHOT_DB_NAME,
	    .type = CF_ARCHIVE_FILE,
	    .body = CF_ARCHIVE_BODY_CHUNKLIST,
	    .mode = live->st_mode & 0777,
	    .mtime = (int64_t)live->st_mtim.tv_sec,
	    .mtime_nsec = (uint32_t)live->st_mtim.tv_nsec,
	    .nrefs = 1,
	};
	struct cf_archive_ref root;
	struct cf_dbpages_stats dst = {0};
	uint64_t size = 0;
	int fd, r;

	cf_snapshot_report(x, CF_SNAPSHOT_DB_NAME);
	if (x->dbp) { /* streamed: wait for the last groups */
		x->db_streamed = 1;
		r = cf_dbpages_finish(x->dbp, info->pages, &root, &size, &dst);
		cf_dbpages_free(x->dbp);
		x->dbp = NULL;
		if (r)
			return r;
		goto stored;
	}
	fd = open(x->dbcopy, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		cf_log_err("cannot open database copy %s: %s", x->dbcopy, strerror(errno));
		return r;
	}
	r = cf_dbpages_store(x->r, fd, info->page_size, info->pages, x->dbstate,
	                     cf_repokeys_gear(k), 0, x->o->stop, &root, &size, &dst);
	close(fd);
	remove_copy(x->dbcopy);
	free(x->dbcopy);
	x->dbcopy = NULL;
	if (r)
		return r;
stored:
	cf_log_debug("database: %llu of %llu pages stored in %llu bundles (%s)",
	             (unsigned long long)dst.pages_changed, (unsigned long long)dst.pages,
	             (unsigned long long)dst.groups_stored,
	             dst.had_state ? "changed pages" : "no earlier state: all pages");
	e.size = size;
	e.refs = &root;
	r = cf_archive_header(&e, x->hdr, CF_ARCHIVE_HEADER_MAX, &e.header_len);
	if (!r) {
		e.header = x->hdr;
		r = cf_tree_writer_add(x->tw, &e);
	}
	if (r)
		return r;
	x->files++;
	x->files_read++;
	x->bytes += size;
	x->prog.files_done++;
	atomic_fetch_add(&x->bytes_read, size);
	cf_snapshot_report(x, NULL);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Vanished = files gone before reading + database-named paths not in the snapshot. */
static int collect_vanished(struct run *x)
{
	const char *p;
	size_t cur = 0, w = 0;
	int r;

	while ((p = cf_attnames_next_unmarked(x->names, &cur)) != NULL) {
		r = cf_snapshot_add_vanished(x, p);
		if (r)
			return r;
	}
	if (!x->nvanished)
		return 0;
	qsort(x->vanished, x->nvanished, sizeof(*x->vanished), cmp_str);
	for (size_t i = 0; i < x->nvanished; i++) {
		if (w && strcmp(x->vanished[w - 1], x->vanished[i]) == 0) {
			free(x->vanished[i]);
			continue;
		}
		x->vanished[w++] = x->vanished[i];
	}
	x->nvanished = w;
	return 0;
}

static void host_name(char *buf, size_t cap)
{
	if (gethostname(buf, cap - 1) < 0)
		buf[0] = 0;
	buf[cap - 1] = 0;
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			buf[0] = 0; /* not plain ASCII: leave it out */
			break;
		}
}

/* Index, manifest, seen record: the commit. */
static int commit(struct run *x, const struct cf_dbsnap_info *info, struct cf_snapshot_result *res)
{
	struct cf_manifest m = {0};
	struct cf_chain_seen seen;
	struct cf_repo_stats st;
	char host[CF_MANIFEST_MAX_HOST + 1];
	int r, have_seen;

	if (run_stopped(x))
		return -EINTR;
	r = cf_repo_commit_index(x->r);
	if (!r)
		r = cf_snapshot_flush_rows(x, 1);
	if (!r)
		r = collect_vanished(x);
	if (r)
		return r;
	have_seen = cf_keychain_seen_get(x->s->kc, cf_repo_id(x->r), &seen.seq, seen.id) == 0;
	r = cf_chain_next(cf_snapshots_chain(x->s->snaps), have_seen ? &seen : NULL, &m.seq,
	                  &m.has_prev, m.prev);
	if (r) {
		cf_log_err("cannot number the new snapshot: %s", cf_strerror(r));
		return r;
	}
	cf_repo_stats(x->r, &st);
	host_name(host, sizeof(host));
	m.time = (uint64_t)time(NULL);
	m.host = host;
	m.store = x->store;
	m.trees = x->trees;
	m.ntrees = x->ntrees;
	m.files = x->files;
	m.bytes = x->bytes;
	m.new_bytes = st.bytes_new;
	m.stored_bytes = st.bytes_stored;
	m.vanished = x->vanished;
	m.nvanished = x->nvanished;
	m.has_db = 1;
	m.db.path = (char *)CF_SNAPSHOT_DB_NAME;
	m.db.page_size = info->page_size;
	m.db.pages = info->pages;
	if (run_stopped(x))
		return -EINTR;
	r = cf_repo_write_manifest(x->r, &m, res->id);
	if (r) {
		cf_log_err("cannot write the snapshot manifest: %s", cf_strerror(r));
		return r;
	}
	if (cf_session_record_seen(x->s, m.seq, res->id) != 0)
		cf_log_warn("snapshot %llu is stored; the next run records it as seen",
		            (unsigned long long)m.seq);
	res->seq = m.seq;
	res->new_bytes = st.bytes_new;
	res->stored_bytes = st.bytes_stored;
	return 0;
}

/*
 * The contract with `restore prune` (docs/restore.md): hold a backup lock until the
 * manifest is stored, and never deduplicate against a pack a prune plan names.
 */
static int guard_begin(struct run *x)
{
	struct cf_lock *locks = NULL;
	size_t n = 0;
	char host[256] = "";
	int r;

	r = cf_locks_read(x->r, &locks, &n);
	for (size_t i = 0; !r && i < n; i++)
		for (size_t j = 0; !r && locks[i].kind == CF_LOCK_PLAN && j < locks[i].npacks; j++)
			r = cf_repo_exclude_pack(x->r, locks[i].packs[j]);
	cf_locks_free(locks, n);
	if (r)
		return r;
	gethostname(host, sizeof(host) - 1);
	r = cf_lock_write_backup(x->r, (uint64_t)time(NULL), host, x->lock_id);
	if (!r)
		x->has_lock = 1;
	return r;
}

static int setup(struct run *x)
{
	const struct cf_repokeys *k = cf_keyring_current(cf_repo_keyring(x->r));
	int r;

	if (!k) {
		cf_log_err("%s: no current key epoch", cf_repo_url(x->r));
		return CF_E_NOTFOUND;
	}
	x->epoch = cf_repokeys_epoch(k);
	x->run_id = (int64_t)time(NULL);
	x->hdr = malloc(CF_ARCHIVE_HEADER_MAX);
	if (!x->hdr)
		return -ENOMEM;
	r = cf_tree_writer_new(&x->tw, 0, emit_piece, x);
	if (!r)
		r = guard_begin(x);
	return r;
}

static void run_free(struct run *x)
{
	if (x->has_lock && cf_lock_delete(x->r, x->lock_id) != 0)
		cf_log_warn("could not remove this backup's lock from %s (prune treats it as"
			    " stale after 24 hours)",
			    cf_repo_url(x->r));
	if (x->dbcopy) {
		remove_copy(x->dbcopy);
		free(x->dbcopy);
	}
	cf_dbpages_free(x->dbp); /* stopped before add_db: drops state.new */
	if (x->dbstate) {
		if (x->committed)
			cf_dbpages_state_commit(x->dbstate);
		else
			cf_dbpages_state_drop(x->dbstate);
		free(x->dbstate);
	}
	if (x->rootfd >= 0)
		close(x->rootfd);
	cf_snapshot_drop_rows(x);
	for (size_t i = 0; i < x->nvanished; i++)
		free(x->vanished[i]);
	free(x->vanished);
	cf_walk_free(x->walk);
	cf_attnames_free(x->names);
	cf_tree_writer_free(x->tw);
	free(x->trees);
	free(x->hdr);
	free(x->store);
}

int cf_snapshot_run(struct cf_session *s, const struct cf_snapshot_opts *o,
                    struct cf_snapshot_result *res)
{
	struct run x = {.s = s, .r = s->repo, .o = o, .rootfd = -1,
	                .prog_mu = PTHREAD_MUTEX_INITIALIZER};
	struct cf_snapshot_result out = {0};
	struct cf_dbsnap_info info = {0};
	struct timespec t0, t1;
	struct stat live;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	x.store = realpath(o->store, NULL);
	if (!x.store) {
		r = errno == ENOENT ? CF_E_NOTFOUND : -errno;
		cf_log_err("store %s: %s", o->store, strerror(errno));
		goto fail;
	}
	x.rootfd = open(x.store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.rootfd < 0) {
		r = -errno;
		cf_log_err("cannot open store %s: %s", x.store, strerror(errno));
		goto fail;
	}
	/* The chain first: a rolled-back repository is refused before any work. */
	r = cf_session_load_snapshots(s);
	if (!r)
		r = setup(&x);
	if (r)
		goto fail;
	/* The database first, then the files it names. */
	r = take_db(&x, &info, &live);
	if (!r)
		r = cf_walk_list(&x.walk, x.store);
	if (r)
		goto fail;
	x.prog.files_total = x.walk->files + 1;
	x.prog.bytes_total = x.walk->bytes + info.bytes;
	x.dirs = 0;
	x.skipped = x.walk->skipped;
	r = add_db(&x, &live, &info);
	if (!r)
		r = cf_snapshot_add_walk(&x);
	if (!r)
		r = cf_tree_writer_finish(x.tw, NULL);
	if (!r)
		r = commit(&x, &info, &out);
	if (r)
		goto fail;
	x.committed = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out.files = x.files;
	out.dirs = x.dirs;
	out.files_read = x.files_read;
	out.files_unchanged = x.files_unchanged;
	out.bytes = x.bytes;
	out.skipped = x.skipped;
	out.db_streamed = x.db_streamed;
	out.vanished = x.vanished;
	out.nvanished = x.nvanished;
	x.vanished = NULL;
	x.nvanished = 0;
	out.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	run_free(&x);
	*res = out;
	return 0;
fail:
	if (r == -EINTR)
		cf_log_debug("backup of %s stopped: no snapshot written", o->store);
	run_free(&x);
	return r;
}
