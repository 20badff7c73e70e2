/* SPDX-License-Identifier: ISC */
/*
 * Safe extraction of a tar stream (libarchive reader + archive_write_disk, plus our own
 * entry filter) and the atomic swap of a restored folder into place.
 */
#include "restore/extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"
#include "repo/archive.h"
#include "util/log.h"

#define READ_BUF     (64u << 10)
#define RM_DEPTH_MAX 1024

/* ---------------------------------------------------------------------------------- */
/* Reading the stream                                                                  */

struct source {
	cf_extract_read_fn rd;
	void *ctx;
	uint8_t *buf;
	int err; /* the source's own error, returned instead of libarchive's */
};

static la_ssize_t source_read(struct archive *a, void *data, const void **out)
{
	struct source *s = data;
	size_t got = 0;
	int r;

	r = s->rd(s->ctx, s->buf, READ_BUF, &got);
	if (r == 0 && got > READ_BUF)
		r = CF_E_INVAL;
	if (r) {
		s->err = r;
		archive_set_error(a, EIO, "the tar stream source failed");
		return -1;
	}
	*out = s->buf;
	return (la_ssize_t)got;
}

/*
 * Is the entry unsafe to write below the directory @tfd? Returns NULL when it may be
 * written, or why not.
 */
static const char *entry_unsafe(int tfd, struct archive_entry *ae)
{
	const char *p = archive_entry_pathname(ae);
	mode_t type = archive_entry_filetype(ae);
	char buf[PATH_MAX];
	size_t len, start;
	struct stat st;

	if (archive_entry_hardlink(ae))
		return "a hard link";
	if (archive_entry_symlink(ae) || type == AE_IFLNK)
		return "a symbolic link";
	if (type == AE_IFCHR || type == AE_IFBLK)
		return "a device node";
	if (type == AE_IFIFO)
		return "a fifo";
	if (type == AE_IFSOCK)
		return "a socket";
	if (type != AE_IFREG && type != AE_IFDIR)
		return "not a regular file or directory";
	if (archive_entry_sparse_count(ae) > 0)
		return "a sparse file";
	if (archive_entry_perm(ae) & 07000)
		return "has the setuid, setgid or sticky bit";
	if (!p || !*p)
		return "an empty path";
	len = strlen(p);
	if (len >= sizeof(buf))
		return "a path that is too long";
	if (p[0] == '/')
		return "an absolute path";
	if (strchr(p, '\\'))
		return "a backslash in the path";
	/* a directory may carry one trailing '/' */
	if (type == AE_IFDIR && len > 1 && p[len - 1] == '/')
		len--;
	memcpy(buf, p, len);
	buf[len] = '\0';
	for (start = 0; start <= len;) {
		size_t end = start;

		while (end < len && buf[end] != '/')
			end++;
		if (end == start)
			return "an empty path component";
		if (end - start == 1 && buf[start] == '.')
			return "a \".\" path component";
		if (end - start == 2 && buf[start] == '.' && buf[start + 1] == '.')
			return "a \"..\" path component";
		start = end + 1;
	}
	/* nothing that exists along the path may be a symbolic link */
	for (start = 0; start <= len;) {
		size_t end = start;

		while (end < len && buf[end] != '/')
			end++;
		buf[end] = '\0';
		if (fstatat(tfd, buf, &st, AT_SYMLINK_NOFOLLOW) != 0)
			break; /* absent: nothing deeper exists either */
		if (S_ISLNK(st.st_mode))
			return "a path through a symbolic link in the target";
		if (end < len)
			buf[end] = '/';
		if (!S_ISDIR(st.st_mode))
			break; /* libarchive reports the conflict */
		start = end + 1;
	}
	return NULL;
}

static locale_t utf8_locale(void)
{
	locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

	if (l == (locale_t)0)
		l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
	return l;
}

/* The error of a failed libarchive call on @a: -errno when it has one, else @fallback. */
static int la_error(struct archive *a, int fallback)
{
	int e = archive_errno(a);

	return e > 0 ? -e : fallback;
}

static int exists(int tfd, const char *path)
{
	struct stat st;

	return fstatat(tfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/*
 * Directories that already existed: libarchive would set their mode and time at once,
 * before the files written into them change the time again (and a read-only mode would
 * stop those writes). We keep them and set mode and time at the end, deepest first.
 */
struct dirfix {
	char *path;
	mode_t mode;
	struct timespec mtime;
};

struct dirfixes {
	struct dirfix *v;
	size_t n, cap;
};

static int dirfix_add(struct dirfixes *f, struct archive_entry *ae)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct dirfix *nv = realloc(f->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		f->v = nv;
		f->cap = ncap;
	}
	f->v[f->n].path = strdup(archive_entry_pathname(ae));
	if (!f->v[f->n].path)
		return -ENOMEM;
	f->v[f->n].mode = archive_entry_perm(ae) & 0777;
	f->v[f->n].mtime.tv_sec = archive_entry_mtime(ae);
	f->v[f->n].mtime.tv_nsec = archive_entry_mtime_nsec(ae);
	f->n++;
	return 0;
}

static int dirfix_cmp(const void *a, const void *b)
{
	const struct dirfix *x = a, *y = b;

	return strcmp(y->path, x->path); /* descending: children before parents */
}

static int dirfix_apply(struct dirfixes *f, int tfd, unsigned flags)
{
	char shown[256];

	if (f->n == 0)
		return 0;
	qsort(f->v, f->n, sizeof(*f->v), dirfix_cmp);
	for (size_t i = 0; i < f->n; i++) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, f->v[i].mtime};

		if (fchmodat(tfd, f->v[i].path, f->v[i].mode, 0) != 0 ||
		    (!(flags & CF_EXTRACT_NO_TIME) &&
		     utimensat(tfd, f->v[i].path, ts, AT_SYMLINK_NOFOLLOW) != 0)) {
			int e = errno;

			cf_log_err("cannot set the mode or time of \"%s\": %s",
			           cf_archive_printable(f->v[i].path, shown, sizeof(shown)),
			           strerror(e));
			return -e;
		}
	}
	return 0;
}

static void dirfix_free(struct dirfixes *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].path);
	free(f->v);
}

/* Copy the body of the current entry from @in to @out. */
static int copy_body(struct archive *in, struct archive *out, struct source *src, const char *name,
                     struct cf_extract_stats *cnt)
{
	char shown[256];

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(in, &buf, &size, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			if (src->err)
				return src->err;
			cf_log_err("cannot read \"%s\" from the tar stream: %s",
			           cf_archive_printable(name, shown, sizeof(shown)),
			           archive_error_string(in));
			return CF_E_FORMAT;
		}
		if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK) {
			cf_log_err("cannot write \"%s\": %s",
			           cf_archive_printable(name, shown, sizeof(shown)),
			           archive_error_string(out));
			return la_error(out, CF_E_IO);
		}
		cnt->bytes += size;
	}
}

int cf_extract_stream(const char *target, cf_extract_read_fn rd, void *ctx, unsigned flags,
                      struct cf_extract_stats *st)
{
	struct cf_extract_stats cnt = {0};
	struct archive *in = NULL, *out = NULL;
	struct source src = {.rd = rd, .ctx = ctx};
	struct dirfixes fixes = {0};
	locale_t utf8 = (locale_t)0, prev = (locale_t)0;
	int tfd = -1, cwd = -1, in_target = 0, warned = 0, opts, r, ret;
	char shown[256];

	if (st)
		memset(st, 0, sizeof(*st));
	if (!target || !rd)
		return CF_E_INVAL;
	tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0) {
		ret = errno == ENOTDIR ? CF_E_INVAL : -errno;
		cf_log_err("cannot open the restore folder %s: %s", target, strerror(errno));
		return ret;
	}
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0) {
		ret = -errno;
		cf_log_err("cannot remember the working directory: %s", strerror(errno));
		goto out;
	}
	/* paths are UTF-8 bytes: read and write them unchanged whatever the locale */
	utf8 = utf8_locale();
	if (utf8 != (locale_t)0)
		prev = uselocale(utf8);

	ret = -ENOMEM;
	src.buf = malloc(READ_BUF);
	in = archive_read_new();
	out = archive_write_disk_new();
	if (!src.buf || !in || !out)
		goto out;
	opts = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM;
	if (!(flags & CF_EXTRACT_NO_TIME))
		opts |= ARCHIVE_EXTRACT_TIME;
	if (flags & CF_EXTRACT_NO_OVERWRITE)
		opts |= ARCHIVE_EXTRACT_NO_OVERWRITE;
	ret = CF_E_IO;
	if (archive_read_support_format_tar(in) != ARCHIVE_OK ||
	    archive_write_disk_set_options(out, opts) != ARCHIVE_OK) {
		cf_log_err("cannot set up libarchive: %s", archive_error_string(in));
		goto out;
	}
	if (fchdir(tfd) != 0) {
		ret = -errno;
		cf_log_err("cannot enter the restore folder %s: %s", target, strerror(errno));
		goto out;
	}
	in_target = 1;
	if (archive_read_open(in, &src, NULL, source_read, NULL) != ARCHIVE_OK) {
		ret = src.err ? src.err : CF_E_FORMAT;
		if (!src.err)
			cf_log_err("not a tar stream: %s", archive_error_string(in));
		goto out;
	}

	for (;;) {
		struct archive_entry *ae;
		const char *why, *name;

		r = archive_read_next_header(in, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ret = src.err ? src.err : CF_E_FORMAT;
			if (!src.err)
				cf_log_err("cannot read the tar stream: %s",
				           archive_error_string(in));
			goto out;
		}
		name = archive_entry_pathname(ae);
		why = entry_unsafe(tfd, ae);
		if (why) {
			cf_log_err("refusing archive entry \"%s\": %s",
			           cf_archive_printable(name, shown, sizeof(shown)), why);
			ret = CF_E_UNSAFE;
			goto out;
		}
		archive_entry_set_perm(ae, archive_entry_perm(ae) & 0777);
		/* libarchive would skip an existing file silently: refuse it instead */
		if ((flags & CF_EXTRACT_NO_OVERWRITE) && archive_entry_filetype(ae) == AE_IFREG &&
		    exists(tfd, name)) {
			cf_log_err("refusing to overwrite \"%s\"",
			           cf_archive_printable(name, shown, sizeof(shown)));
			ret = CF_E_EXISTS;
			goto out;
		}
		if (archive_entry_filetype(ae) == AE_IFDIR && exists(tfd, name)) {
			/* checked above: not a link; if not a folder, mkdir fails below */
			struct stat dst;

			if (fstatat(tfd, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(dst.st_mode)) {
				ret = dirfix_add(&fixes, ae);
				if (ret)
					goto out;
				/* writable for us meanwhile, like the folders libarchive creates */
				if ((dst.st_mode & 0700) != 0700)
					(void)fchmodat(tfd, name, (dst.st_mode & 0777) | 0700, 0);
				cnt.dirs++;
				continue;
			}
		}
		r = archive_write_header(out, ae);
		if (r < ARCHIVE_WARN) {
			cf_log_err("cannot write \"%s\": %s",
			           cf_archive_printable(name, shown, sizeof(shown)),
			           archive_error_string(out));
			ret = la_error(out, CF_E_IO);
			goto out;
		}
		if (r == ARCHIVE_WARN && !warned++)
			cf_log_warn("\"%s\": %s", cf_archive_printable(name, shown, sizeof(shown)),
			            archive_error_string(out));
		if (archive_entry_filetype(ae) == AE_IFREG) {
			ret = copy_body(in, out, &src, name, &cnt);
			if (ret)
				goto out;
		}
		r = archive_write_finish_entry(out);
		if (r < ARCHIVE_WARN) {
			cf_log_err("cannot finish \"%s\": %s",
			           cf_archive_printable(name, shown, sizeof(shown)),
			           archive_error_string(out));
			ret = la_error(out, CF_E_IO);
			goto out;
		}
		if (archive_entry_filetype(ae) == AE_IFREG)
			cnt.files++;
		else
			cnt.dirs++;
	}
	/* directory modes and times are applied at close */
	if (archive_write_close(out) != ARCHIVE_OK) {
		cf_log_err("cannot finish the restore: %s", archive_error_string(out));
		ret = la_error(out, CF_E_IO);
		goto out;
	}
	ret = dirfix_apply(&fixes, tfd, flags);

out:
	/* free (and so close) the disk writer while still in the target: its paths are relative */
	archive_write_free(out);
	archive_read_free(in);
	free(src.buf);
	dirfix_free(&fixes);
	if (in_target && fchdir(cwd) != 0)
		cf_log_warn("cannot return to the working directory: %s", strerror(errno));
	if (utf8 != (locale_t)0) {
		uselocale(prev);
		freelocale(utf8);
	}
	if (cwd >= 0)
		close(cwd);
	close(tfd);
	if (st)
		*st = cnt;
	return ret;
}

/* ---------------------------------------------------------------------------------- */
/* Removing a tree                                                                     */

static int rm_at(int dfd, const char *name, dev_t dev, int top, int depth)
{
	struct dirent *ent;
	struct stat st;
	DIR *d;
	int fd, ret = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
	if (!top && st.st_dev != dev)
		return -EXDEV; /* a mount point inside: never descend */
	if (depth > RM_DEPTH_MAX)
		return -ELOOP;
	if ((st.st_mode & 0700) != 0700)
		(void)fchmodat(dfd, name, (st.st_mode & 0777) | 0700, 0);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((ent = readdir(d)) != NULL) {
		int r;

		if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
			continue;
		r = rm_at(fd, ent->d_name, st.st_dev, 0, depth + 1);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && !ret)
		ret = -errno;
	return ret;
}

int cf_extract_rmtree(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	return rm_at(AT_FDCWD, path, 0, 1, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Swapping a restored folder into place                                               */

/* @path with a symbolic link at its end resolved; other paths unchanged. malloc'ed. */
static int resolve_link(const char *path, char **out)
{
	struct stat st;
	char *p;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		p = realpath(path, NULL);
	else
		p = strdup(path);
	if (!p)
		return errno ? -errno : -ENOMEM;
	/* drop trailing slashes ("live/" names the same folder as "live") */
	for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	*out = p;
	return 0;
}

/* Split @path into a malloc'ed parent folder and a pointer to its last component. */
static int split_parent(const char *path, char **parent, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*parent = strdup(".");
		*base = path;
	} else {
		*parent = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	if (!*parent)
		return -ENOMEM;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, "..")) {
		free(*parent);
		*parent = NULL;
		return CF_E_INVAL;
	}
	return 0;
}

int cf_extract_tmpdir(const char *live_dir, char **out)
{
	char *live = NULL, *parent = NULL, *path = NULL;
	const char *base;
	int ret;

	if (!live_dir || !*live_dir || !out)
		return CF_E_INVAL;
	ret = resolve_link(live_dir, &live);
	if (ret)
		goto fail;
	ret = split_parent(live, &parent, &base);
	if (ret)
		goto fail;
	if (asprintf(&path, "%s/.%s.restore-XXXXXX", parent, base) < 0) {
		path = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	if (!mkdtemp(path)) {
		ret = -errno;
		cf_log_err("cannot create a restore folder next to %s: %s", live_dir,
		           strerror(errno));
		goto fail;
	}
	*out = path;
	path = NULL;
	ret = 0;
fail:
	free(path);
	free(parent);
	free(live);
	return ret;
}

static void sync_parent(const char *path)
{
	char *parent = NULL;
	const char *base;
	int fd;

	if (split_parent(path, &parent, &base) != 0)
		return;
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(parent);
}

static void remove_old(const char *path)
{
	int r = cf_extract_rmtree(path);

	if (r)
		cf_log_warn("the previous content could not be fully removed from %s: %s", path,
		            strerror(-r));
}

/* Does the directory @path hold nothing? Unreadable counts as not empty. */
static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 0;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

/* Is @inner equal to @outer or below it (both resolved)? */
static int is_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	return strncmp(inner, outer, n) == 0 &&
	       (inner[n] == '\0' || inner[n] == '/' || (n == 1 && outer[0] == '/'));
}

int cf_extract_swap_into_flags(const char *tmpdir, const char *live_dir, unsigned flags)
{
	char *live = NULL, *old = NULL, *rt = NULL, *rl = NULL;
	struct stat ts, ls;
	int have_live, flush, fd, ret, e;

	if (!tmpdir || !live_dir || !*tmpdir || !*live_dir)
		return CF_E_INVAL;
	if (lstat(tmpdir, &ts) != 0 || !S_ISDIR(ts.st_mode)) {
		cf_log_err("the restored folder %s is not a directory", tmpdir);
		return CF_E_INVAL;
	}
	ret = resolve_link(live_dir, &live);
	if (ret)
		goto fail;
	have_live = stat(live, &ls) == 0;
	if (!have_live && errno != ENOENT) {
		ret = -errno;
		cf_log_err("cannot examine %s: %s", live_dir, strerror(errno));
		goto fail;
	}
	if (have_live && !S_ISDIR(ls.st_mode)) {
		cf_log_err("%s is not a directory", live_dir);
		ret = CF_E_INVAL;
		goto fail;
	}
	rt = realpath(tmpdir, NULL);
	rl = have_live ? realpath(live, NULL) : NULL;
	if (!rt || (have_live && !rl)) {
		ret = -errno;
		goto fail;
	}
	if (have_live && (is_within(rt, rl) || is_within(rl, rt))) {
		cf_log_err("%s and %s must not contain one another", tmpdir, live_dir);
		ret = CF_E_INVAL;
		goto fail;
	}

	/*
	 * The old folder's mode; the new content on disk before it replaces old content.
	 * An empty (or absent) folder has nothing to lose: no flush, as cp or tar would.
	 */
	flush = have_live && !dir_is_empty(live);
	fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (have_live)
			(void)fchmod(fd, ls.st_mode & 07777);
		if (flush && syncfs(fd) != 0)
			cf_log_warn("cannot flush %s: %s", tmpdir, strerror(errno));
		close(fd);
	}

	if (!have_live) {
		if (rename(tmpdir, live) != 0) {
			ret = -errno;
			cf_log_err("cannot move %s to %s: %s", tmpdir, live, strerror(errno));
			goto fail;
		}
		ret = 0;
		goto fail;
	}

	if (!(flags & CF_SWAP_NO_EXCHANGE)) {
		if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, live, RENAME_EXCHANGE) == 0) {
			if (flush)
				sync_parent(live);
			remove_old(tmpdir); /* now holds the previous content */
			ret = 0;
			goto fail;
		}
		e = errno;
		if (e != EINVAL && e != ENOSYS && e != ENOTSUP && e != EOPNOTSUPP) {
			ret = -e;
			cf_log_err("cannot swap %s into %s: %s", tmpdir, live, strerror(e));
			goto fail;
		}
		cf_log_debug("no atomic exchange on this filesystem (%s): renaming", strerror(e));
	}

	/* fallback: live -> live.old-<pid>, tmp -> live, remove old; put live back on failure */
	if (asprintf(&old, "%s.old-%ld", live, (long)getpid()) < 0) {
		old = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	if (rename(live, old) != 0) {
		ret = -errno;
		cf_log_err("cannot move %s aside: %s", live, strerror(errno));
		goto fail;
	}
	if (rename(tmpdir, live) != 0) {
		e = errno;
		if (rename(old, live) != 0)
			cf_log_err("cannot move %s into place (%s), and the previous content "
			           "stays at %s: %s",
			           tmpdir, strerror(e), old, strerror(errno));
		else
			cf_log_err("cannot move %s into place: %s", tmpdir, strerror(e));
		ret = -e;
		goto fail;
	}
	if (flush)
		sync_parent(live);
	remove_old(old);
	ret = 0;
fail:
	free(rt);
	free(rl);
	free(old);
	free(live);
	return ret;
}

int cf_extract_swap_into(const char *tmpdir, const char *live_dir)
{
	return cf_extract_swap_into_flags(tmpdir, live_dir, 0);
}
