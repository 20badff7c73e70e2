/* SPDX-License-Identifier: ISC */
/*
 * The file:// backend: a repository in a local folder, one file per object (0600),
 * folders 0700 created on demand. Every access goes through the root folder's
 * descriptor with *at() calls on names the front has validated, so nothing outside the
 * repository is reachable and a later chdir() changes nothing.
 *
 * A put writes tmp/.tmp-<random>, fsyncs it, then moves it to its name with
 * renameat2(RENAME_NOREPLACE) (or link(2) where the file system lacks that flag), both
 * of which refuse an existing name, and fsyncs the destination folder. The object is
 * therefore either absent or complete, and never replaced. docs/storage.md has the rest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/storage_impl.h"
#include "util/log.h"

#define TMP_DIR       "tmp"
#define TMP_PREFIX    ".tmp-"
#define TMP_NAME_SIZE 40 /* "tmp/.tmp-" + 16 hex + NUL, with room */
#define STALE_SECONDS (24 * 60 * 60)
#define COPY_CHUNK    ((size_t)1 << 20)

struct file_storage {
	struct cf_storage base;
	int root; /* O_RDONLY | O_DIRECTORY */
};

static const struct cf_storage_ops file_ops;

static struct file_storage *fs_of(struct cf_storage *s)
{
	return (struct file_storage *)s;
}

/* Log @r once for @op on @name, unless it is a routine answer. Returns @r. */
static int report(const struct file_storage *fs, const char *op, const char *name, int r)
{
	if (r && r != CF_E_NOTFOUND && r != CF_E_EXISTS)
		cf_log_err("storage %s: %s %s: %s", fs->base.url, op, name,
			   r == CF_E_LIMIT ? "larger than the caller allows" : cf_strerror(r));
	return r;
}

static int write_all(int fd, const uint8_t *p, uint64_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len > COPY_CHUNK ? COPY_CHUNK : (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* fsync the folder that holds @path (relative to @dirfd, or absolute). */
static int fsync_parent(int dirfd, const char *path)
{
	char *copy = strdup(path), *slash;
	const char *parent = ".";
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (slash == copy) {
		parent = "/";
	} else if (slash) {
		*slash = 0;
		parent = copy;
	}
	fd = openat(dirfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

/* Create folder @dir (relative to @dirfd, or absolute) and its missing parents, 0700. */
static int make_dirs(int dirfd, const char *dir)
{
	char *part = strdup(dir), *slash = part;
	int r = 0;

	if (!part)
		return -ENOMEM;
	while (slash && !r) {
		slash = strchr(slash + (slash == part && *part == '/'), '/');
		if (slash)
			*slash = 0;
		if (mkdirat(dirfd, part, 0700) == 0) {
			/* mkdir honours the umask: set the mode exactly, then make it durable */
			r = fchmodat(dirfd, part, 0700, 0) < 0 ? -errno : fsync_parent(dirfd, part);
		} else if (errno != EEXIST) {
			r = -errno;
		}
		if (slash)
			*slash++ = '/';
	}
	free(part);
	return r;
}

/* ---- put ---- */

static void temp_name(char *buf, size_t size)
{
	static unsigned long counter;
	unsigned long long v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = (unsigned long long)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		    (unsigned long long)getpid() << 32 ^
		    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	}
	snprintf(buf, size, TMP_DIR "/" TMP_PREFIX "%016llx", v);
}

/* Create a fresh temporary file (0600) in tmp/; its name goes to @tmp. */
static int open_temp(struct file_storage *fs, char *tmp, size_t size)
{
	int made = 0, fd, r;

	for (int tries = 0; tries < 16; tries++) {
		temp_name(tmp, size);
		fd = openat(fs->root, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		if (fd >= 0) {
			if (fchmod(fd, 0600) == 0)
				return fd;
			r = -errno;
			close(fd);
			unlinkat(fs->root, tmp, 0);
			return r;
		}
		if (errno == ENOENT && !made) {
			made = 1;
			r = make_dirs(fs->root, TMP_DIR);
			if (r)
				return r;
		} else if (errno != EEXIST) {
			return -errno;
		}
	}
	return -EEXIST;
}

/*
 * Copy @src into @dst: in the kernel where it can (a reflink on some file systems).
 * On failure *@stage says which side failed.
 */
static int copy_src(int dst, const struct cf_storage_src *src, const char **stage)
{
	uint64_t off = 0;
	uint8_t *buf;
	int r = 0;

	if (src->fd < 0)
		return write_all(dst, src->buf, src->len);
	while (off < src->len) {
		loff_t in = (loff_t)off;
		uint64_t want = src->len - off;
		ssize_t n = copy_file_range(src->fd, &in, dst, NULL,
					    want > (1u << 30) ? (1u << 30) : (size_t)want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EIO || errno == EFBIG))
			return -errno; /* *stage names the writing side already */
		if (n <= 0)
			break; /* not supported here, or a short source: the plain loop decides */
		off += (uint64_t)n;
	}
	if (off == src->len)
		return 0;
	buf = malloc(src->len - off > COPY_CHUNK ? COPY_CHUNK : (size_t)(src->len - off));
	if (!buf)
		return -ENOMEM;
	while (off < src->len && !r) {
		size_t n = src->len - off > COPY_CHUNK ? COPY_CHUNK : (size_t)(src->len - off);

		r = cf_storage_src_read(src, off, buf, n);
		if (r)
			*stage = r == CF_E_TRUNCATED ? "the source is shorter than the length given"
						     : "reading the source";
		else
			r = write_all(dst, buf, n);
		off += n;
	}
	free(buf);
	return r;
}

/*
 * A spool file the caller gave away (src->adopt): link that very file as the temporary
 * object (docs/storage.md) when it is a regular file of exactly src->len bytes on this
 * file system. Returns 0 with *@fd open on it, or nonzero to make the caller copy.
 */
static int adopt_src(struct file_storage *fs, const struct cf_storage_src *src, char *tmp,
		     size_t size, int *fd)
{
	char proc[64];
	struct stat st;

	if (!src->adopt || src->fd < 0 || fstat(src->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != src->len || fchmod(src->fd, 0600) < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src->fd);
	for (int tries = 0; tries < 2; tries++) {
		temp_name(tmp, size);
		if (linkat(AT_FDCWD, proc, fs->root, tmp, AT_SYMLINK_FOLLOW) == 0) {
			*fd = dup(src->fd);
			if (*fd >= 0)
				return 0;
			unlinkat(fs->root, tmp, 0);
			return -1;
		}
		if (errno != ENOENT || tries || make_dirs(fs->root, TMP_DIR))
			break; /* EXDEV, no /proc, a named (not O_TMPFILE) file... */
	}
	tmp[0] = 0;
	return -1;
}

/* Give the complete temporary file @tmp its final @name, refusing an existing one. */
static int publish(struct file_storage *fs, const char *tmp, const char *name)
{
	char dir[CF_STORAGE_NAME_MAX];
	const char *slash;
	int err, r;

	for (int tries = 0;; tries++) {
		if (renameat2(fs->root, tmp, fs->root, name, RENAME_NOREPLACE) == 0)
			return 0;
		err = errno;
		if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) {
			/* no RENAME_NOREPLACE here (NFS, older kernels): link(2) also refuses */
			if (linkat(fs->root, tmp, fs->root, name, 0) == 0) {
				unlinkat(fs->root, tmp, 0); /* a leftover is swept later */
				return 0;
			}
			err = errno;
		}
		if (err == EEXIST)
			return CF_E_EXISTS;
		slash = strrchr(name, '/');
		if (err != ENOENT || tries || !slash || (size_t)(slash - name) >= sizeof(dir))
			return -err;
		/* first object of its folder: create data/, data/xx/, snapshots/, ... */
		memcpy(dir, name, (size_t)(slash - name));
		dir[slash - name] = 0;
		r = make_dirs(fs->root, dir);
		if (r)
			return r;
	}
}

static int file_put(struct cf_storage *s, const char *name, const struct cf_storage_src *src)
{
	struct file_storage *fs = fs_of(s);
	char tmp[TMP_NAME_SIZE] = "";
	const char *stage = "creating a temporary file";
	struct stat st;
	int fd = -1, r;

	/* cheap early answer; publish() is what actually enforces write-once */
	if (fstatat(fs->root, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return CF_E_EXISTS;
	if (adopt_src(fs, src, tmp, sizeof(tmp), &fd) == 0) {
		r = 0; /* the spool file itself: nothing to copy */
	} else {
		fd = open_temp(fs, tmp, sizeof(tmp));
		if (fd < 0) {
			r = fd;
			tmp[0] = 0;
			goto fail;
		}
		stage = "writing the temporary copy";
		r = copy_src(fd, src, &stage);
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	fd = -1;
	if (r)
		goto fail;
	stage = "publishing";
	r = publish(fs, tmp, name);
	if (r)
		goto fail;
	tmp[0] = 0;
	/* The object is complete and visible; only its folder entry's durability failed. */
	stage = "syncing its folder";
	r = fsync_parent(fs->root, name);
	if (r)
		goto fail;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(fs->root, tmp, 0);
	if (r != CF_E_EXISTS)
		cf_log_err("storage %s: put %s: %s%s%s", fs->base.url, name, stage,
			   r == CF_E_TRUNCATED ? "" : ": ", r == CF_E_TRUNCATED ? "" : cf_strerror(r));
	return r;
}

/* ---- get, stat, delete ---- */

/* Open object @name for reading into *@fd; 0, CF_E_NOTFOUND, CF_E_CORRUPT or -errno. */
static int open_object(struct file_storage *fs, const char *name, int *fd, struct stat *st)
{
	int r = 0;

	*fd = openat(fs->root, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? CF_E_NOTFOUND : -errno;
	if (fstat(*fd, st) < 0)
		r = -errno;
	else if (!S_ISREG(st->st_mode))
		r = CF_E_CORRUPT; /* a folder or device where an object should be */
	if (r) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/* pread exactly @n bytes (less only at the end of the file: *@got says). */
static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t g = pread(fd, p + *got, n - *got, (off_t)(off + *got));
		if (g < 0 && errno == EINTR)
			continue;
		if (g < 0)
			return -errno;
		if (g == 0)
			break;
		*got += (size_t)g;
	}
	return 0;
}

#define DIRECT_ALIGN 4096u
#define DIRECT_MIN (64u << 10)

/*
 * A range read into a fixed buffer (a restore's window): straight into it, without the
 * bounce copy, and its whole aligned blocks with O_DIRECT when the buffer and the offset
 * allow — no page-cache pages to allocate and fill (docs/performance.md, "Direct
 * writes"; the same VM cost applies to reads). Returns 1 when it did not apply.
 */
static int get_into_buffer(struct file_storage *fs, const char *name, int fd, uint64_t off,
			   uint64_t n, struct cf_storage_sink *k)
{
	uint8_t *dst = k->buf + k->done;
	size_t head = 0, got = 0, tail_got = 0;
	int r = 0;

	if (k->kind != CF_SINK_FIXED || n > k->cap - k->done)
		return 1;
	if (n >= DIRECT_MIN && off % DIRECT_ALIGN == 0 && (uintptr_t)dst % DIRECT_ALIGN == 0) {
		int dfd = openat(fs->root, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT);

		if (dfd >= 0) {
			head = (size_t)(n / DIRECT_ALIGN * DIRECT_ALIGN);
			r = pread_full(dfd, dst, head, off, &got);
			close(dfd);
			if (r == -EINVAL) { /* refused after all: the ordinary read below */
				r = 0;
				head = got = 0;
			}
			if (!r && got < head) /* shorter than its size said: the front reports it */
				n = got;
		}
	}
	if (!r && head < n) {
		r = pread_full(fd, dst + head, (size_t)(n - head), off + head, &tail_got);
		got = head + tail_got;
	}
	if (!r)
		k->done += got;
	return r;
}

static int file_get(struct cf_storage *s, const char *name, uint64_t off, uint64_t len,
		    struct cf_storage_sink *k)
{
	struct file_storage *fs = fs_of(s);
	uint8_t *buf = NULL;
	uint64_t size, n;
	struct stat st;
	int fd, r;

	r = open_object(fs, name, &fd, &st);
	if (r)
		return report(fs, "get", name, r);
	size = (uint64_t)st.st_size;
	n = off >= size ? 0 : (len < size - off ? len : size - off);
	r = cf_storage_sink_begin(k, n);
	if (r || !n)
		goto out;
	r = get_into_buffer(fs, name, fd, off, n, k);
	if (r <= 0)
		goto out;
	r = 0;
	posix_fadvise(fd, (off_t)off, (off_t)n, POSIX_FADV_SEQUENTIAL);
	buf = malloc(n > COPY_CHUNK ? COPY_CHUNK : (size_t)n);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (n && !r) {
		ssize_t got = pread(fd, buf, n > COPY_CHUNK ? COPY_CHUNK : (size_t)n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -errno;
		if (got <= 0)
			break; /* an early end is reported by the front as truncation */
		r = cf_storage_sink_write(k, buf, (size_t)got);
		off += (uint64_t)got;
		n -= (uint64_t)got;
	}
out:
	free(buf);
	close(fd);
	return report(fs, "get", name, r);
}

static int file_stat(struct cf_storage *s, const char *name, uint64_t *size)
{
	struct file_storage *fs = fs_of(s);
	struct stat st;
	int r = 0;

	if (fstatat(fs->root, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = errno == ENOENT || errno == ENOTDIR ? CF_E_NOTFOUND : -errno;
	else if (!S_ISREG(st.st_mode))
		r = CF_E_CORRUPT;
	else
		*size = (uint64_t)st.st_size;
	return report(fs, "stat", name, r);
}

static int file_del(struct cf_storage *s, const char *name)
{
	struct file_storage *fs = fs_of(s);
	int r = 0;

	if (unlinkat(fs->root, name, 0) < 0)
		r = errno == ENOENT || errno == ENOTDIR ? CF_E_NOTFOUND : -errno;
	else
		r = fsync_parent(fs->root, name);
	return report(fs, "delete", name, r);
}

/* ---- list ---- */

/*
 * Report the regular files of @folder named like an id and starting with @start (the
 * front checks the full grammar). With @sub (data/), descend instead into the two-hex
 * subfolders that @start allows. Folder errors are logged here; callback values are
 * returned untouched.
 */
static int walk(struct file_storage *fs, const char *folder, const char *start, int sub,
		cf_storage_list_cb cb, void *ctx)
{
	char name[CF_STORAGE_NAME_MAX];
	size_t slen = strlen(start);
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd, r = 0;

	fd = openat(fs->root, folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : report(fs, "list", folder, -errno);
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return report(fs, "list", folder, r);
	}
	while (!r) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				r = report(fs, "list", folder, -errno);
			break;
		}
		if (strlen(e->d_name) != (sub ? 2 : CF_STORAGE_ID_HEX) || e->d_name[0] == '.' ||
		    strncmp(e->d_name, start, sub && slen > 2 ? 2 : slen))
			continue;
		snprintf(name, sizeof(name), "%s/%s", folder, e->d_name);
		if (sub) {
			r = walk(fs, name, slen > 3 ? start + 3 : "", 0, cb, ctx);
			continue;
		}
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) /* else deleted meanwhile */
				r = report(fs, "list", folder, -errno);
			continue;
		}
		if (S_ISREG(st.st_mode))
			r = cb(ctx, name, (uint64_t)st.st_size);
	}
	closedir(d);
	return r;
}

static int file_list(struct cf_storage *s, const char *prefix, cf_storage_list_cb cb, void *ctx)
{
	struct file_storage *fs = fs_of(s);
	const char *slash = strchr(prefix, '/');
	char folder[16];
	uint64_t size;
	int r;

	if (!*prefix) {
		r = file_stat(s, "config", &size);
		if (!r)
			r = cb(ctx, "config", size);
		else if (r == CF_E_NOTFOUND)
			r = 0;
		for (size_t i = 0; i < CF_STORAGE_NFOLDERS && !r; i++)
			r = walk(fs, cf_storage_folders[i], "", i == 0, cb, ctx);
		return r;
	}
	if (!slash || (size_t)(slash - prefix) >= sizeof(folder))
		return report(fs, "list", prefix, CF_E_INVAL);
	memcpy(folder, prefix, (size_t)(slash - prefix));
	folder[slash - prefix] = 0;
	if (strcmp(folder, "data"))
		return walk(fs, folder, slash + 1, 0, cb, ctx);
	if (strlen(slash + 1) < 3)
		return walk(fs, folder, slash + 1, 1, cb, ctx);
	/* "data/xx/...": only that subfolder */
	snprintf(folder, sizeof(folder), "data/%.2s", slash + 1);
	return walk(fs, folder, slash + 4, 0, cb, ctx);
}

/* ---- open and close ---- */

/* Remove temporary files older than a day: puts that died before they finished. */
static void sweep_temps(struct file_storage *fs)
{
	time_t cutoff = time(NULL) - STALE_SECONDS;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	fd = openat(fs->root, TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime > cutoff)
			continue;
		if (unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT)
			cf_log(errno == EROFS || errno == EACCES ? CF_LOG_DEBUG : CF_LOG_WARN,
			       "storage %s: cannot remove stale %s/%s: %s", fs->base.url, TMP_DIR,
			       e->d_name, strerror(errno));
	}
	closedir(d);
}

/* 1 when the folder @fd has no entries, 0 when it has some, or -errno. */
static int folder_empty(int fd)
{
	struct dirent *e;
	int dfd, r = 1;
	DIR *d;

	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			r = 0;
	closedir(d);
	return r;
}

/* "file://" + @path, with '%' and control bytes escaped so the URL opens the same place. */
static char *make_url(const char *path)
{
	char *url = malloc(strlen("file://") + 3 * strlen(path) + 1), *o;

	if (!url)
		return NULL;
	o = url + sprintf(url, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '%' || *p < 0x20 || *p == 0x7f)
			o += sprintf(o, "%%%02X", *p);
		else
			*o++ = (char)*p;
	}
	*o = 0;
	return url;
}

int cf_storage_file_open(struct cf_storage **out, const char *path, int create)
{
	struct file_storage *fs;
	int fresh = 0, r;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->base.ops = &file_ops;
	fs->root = -1;
	fs->base.url = make_url(path);
	if (!fs->base.url) {
		r = -ENOMEM;
		goto fail;
	}
	fs->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root < 0 && errno == ENOENT && create) {
		r = make_dirs(AT_FDCWD, path);
		if (r)
			goto fail_log;
		fresh = 1;
		fs->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fs->root < 0) {
		r = errno == ENOENT ? CF_E_NOTFOUND : errno == ENOTDIR ? CF_E_CONFIG : -errno;
		if (r == CF_E_CONFIG)
			cf_log_err("storage %s: not a folder", fs->base.url);
		else if (r != CF_E_NOTFOUND)
			goto fail_log;
		goto fail;
	}
	if (create && !fresh) {
		r = folder_empty(fs->root);
		if (r < 0)
			goto fail_log;
		fresh = r;
	}
	if (fresh) {
		r = make_dirs(fs->root, TMP_DIR);
		if (r)
			goto fail_log;
	}
	sweep_temps(fs);
	fs->base.fresh = fresh;
	*out = &fs->base;
	return 0;
fail_log:
	cf_log_err("storage %s: cannot open: %s", fs->base.url ? fs->base.url : path,
		   cf_strerror(r));
fail:
	file_ops.close(&fs->base);
	return r;
}

static void file_close(struct cf_storage *s)
{
	struct file_storage *fs = fs_of(s);

	if (fs->root >= 0)
		close(fs->root);
	free(fs->base.url);
	free(fs);
}

static const struct cf_storage_ops file_ops = {
	.scheme = "file",
	.put = file_put,
	.get = file_get,
	.stat = file_stat,
	.list = file_list,
	.del = file_del,
	.close = file_close,
};
