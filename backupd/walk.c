/* SPDX-License-Identifier: ISC */
#include "backupd/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "repo/archive.h"
#include "util/log.h"

int cf_walk_is_db_file(const char *name)
{
	static const char *const names[] = {"chat.db", "chat.db-wal", "chat.db-shm",
	                                    "chat.db-journal"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Byte rank in archive order: end of string first, then '/', then every other byte. */
static unsigned rank(unsigned char c)
{
	return c == 0 ? 0u : c == '/' ? 1u : (unsigned)c + 1u;
}

int cf_walk_path_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;

	while (*p && *p == *q) {
		p++;
		q++;
	}
	return (int)rank(*p) - (int)rank(*q);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cf_walk_free(struct cf_walk *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->e[i].path);
	free(w->e);
	free(w);
}

static int push(struct cf_walk *w, char *path, const struct stat *sb)
{
	struct cf_walk_entry *e;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		e = realloc(w->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->e = e;
		w->cap = cap;
	}
	e = &w->e[w->n++];
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->type = S_ISDIR(sb->st_mode) ? CF_ARCHIVE_DIR : CF_ARCHIVE_FILE;
	e->mode = (uint32_t)(sb->st_mode & 0777);
	e->mtime = (int64_t)sb->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)sb->st_mtim.tv_nsec;
	e->st.size = S_ISDIR(sb->st_mode) ? 0 : (uint64_t)sb->st_size;
	e->st.mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	e->st.ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	e->st.inode = (uint64_t)sb->st_ino;
	e->st.device = (uint64_t)sb->st_dev;
	if (S_ISDIR(sb->st_mode)) {
		w->dirs++;
	} else {
		w->files++;
		w->bytes += e->st.size;
	}
	return 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISLNK(m)                 ? "symbolic link"
	       : S_ISSOCK(m)              ? "socket"
	       : S_ISFIFO(m)              ? "FIFO"
	       : S_ISCHR(m) || S_ISBLK(m) ? "device node"
	                                  : "special file";
}

/* The sorted names of the folder open as @fd (consumed), without "." and "..". */
static int read_names(int fd, char ***names, size_t *n)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	int r = 0;

	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[cnt] = strdup(de->d_name);
		if (!v[cnt]) {
			r = -ENOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (r) {
		while (cnt)
			free(v[--cnt]);
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	*names = v;
	*n = cnt;
	return 0;
}

/*
 * List the folder @rel (relative to @rootfd; "" for the root) into @w, recursively.
 * Only -ENOMEM (or an unreadable root) stops the walk; anything else is a warning.
 */
static int walk_dir(struct cf_walk *w, int rootfd, const char *rel, const char *root)
{
	char **names = NULL;
	size_t n = 0, i;
	int fd, r;

	fd = *rel ? openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
	          : dup(rootfd);
	if (fd < 0 || (r = read_names(fd, &names, &n)) != 0) {
		r = fd < 0 ? -errno : r;
		if (!*rel || r == -ENOMEM)
			return r;
		cf_log_warn("skipping folder %s/%s: %s", root, rel, strerror(-r));
		w->skipped++;
		return 0;
	}
	r = 0;
	for (i = 0; i < n && !r; i++) {
		struct stat sb;
		char *path = NULL;
		size_t len;

		if (!*rel && cf_walk_is_db_file(names[i]))
			continue;
		len = strlen(rel) + 1 + strlen(names[i]) + 1;
		path = malloc(len);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		snprintf(path, len, "%s%s%s", rel, *rel ? "/" : "", names[i]);
		if (fstatat(rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) { /* gone since listed: nothing to keep */
				cf_log_warn("skipping %s/%s: %s", root, path, strerror(errno));
				w->skipped++;
			}
			free(path);
			continue;
		}
		if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
			cf_log_warn("skipping %s/%s: a %s is not backed up", root, path,
			            kind_of(sb.st_mode));
			w->skipped++;
			free(path);
			continue;
		}
		if (cf_archive_path_check(path, strlen(path)) != 0) {
			cf_log_warn("skipping %s/%s: the name is not valid UTF-8, holds a "
			            "backslash or is too long",
			            root, path);
			w->skipped++;
			free(path);
			continue;
		}
		r = push(w, path, &sb);
		if (r) {
			free(path);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			/* w->e may move: pass a copy of the path */
			char *sub = strdup(path);
			r = sub ? walk_dir(w, rootfd, sub, root) : -ENOMEM;
			free(sub);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int cf_walk_list(struct cf_walk **out, const char *root)
{
	struct cf_walk *w = calloc(1, sizeof(*w));
	int fd, r;

	if (!w)
		return -ENOMEM;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		cf_log_err("cannot open store %s: %s", root, strerror(errno));
		goto fail;
	}
	r = walk_dir(w, fd, "", root);
	close(fd);
	if (r) {
		if (r != -ENOMEM)
			cf_log_err("cannot read store %s: %s", root, strerror(-r));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	cf_walk_free(w);
	return r;
}
