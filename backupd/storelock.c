/* SPDX-License-Identifier: ISC */
#include "backupd/storelock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

#define SUN_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

struct cf_storelock {
	int fd;
	char lock[4096], sock[4096];
};

/* mkdir -p @path with mode 0700 for what is created. */
static int make_dirs(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		int r = mkdir(path, 0700);
		*p = c;
		if (r && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
	}
}

int cf_storelock_dir(char **out, const char *configured)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	char *d = NULL;
	int r;

	if (configured && *configured)
		r = asprintf(&d, "%s", configured);
	else if (run && run[0] == '/')
		r = asprintf(&d, "%s/coffer", run);
	else
		r = asprintf(&d, "/tmp/coffer-%u", (unsigned)geteuid());
	if (r < 0)
		return -ENOMEM;
	if (d[0] != '/') {
		cf_log_err("lock folder %s: not an absolute path", d);
		free(d);
		return CF_E_CONFIG;
	}
	r = make_dirs(d);
	if (!r && lstat(d, &st))
		r = -errno;
	if (r) {
		cf_log_err("lock folder %s: %s", d, cf_strerror(r));
		free(d);
		return r;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		cf_log_err("lock folder %s: %s", d,
		           !S_ISDIR(st.st_mode)     ? "not a folder"
		           : st.st_uid != geteuid() ? "belongs to another user"
		                                    : "others may write to it (want mode 0700)");
		free(d);
		return CF_E_PERM;
	}
	*out = d;
	return 0;
}

int cf_storelock_paths(const char *dir, const char *store, char *lock, char *sock, size_t cap)
{
	struct stat st;
	int n, m;

	if (stat(store, &st))
		return errno == ENOENT ? CF_E_NOTFOUND : -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	n = snprintf(lock, cap, "%s/store-%llx-%llx.lock", dir, (unsigned long long)st.st_dev,
	             (unsigned long long)st.st_ino);
	m = snprintf(sock, cap, "%s/store-%llx-%llx.sock", dir, (unsigned long long)st.st_dev,
	             (unsigned long long)st.st_ino);
	if (n < 0 || m < 0 || (size_t)n >= cap || (size_t)m >= cap || (size_t)m >= SUN_MAX)
		return CF_E_LIMIT;
	return 0;
}

/* Parse the lock file's text into @info (fields it lacks stay zero). */
static void parse_info(const char *text, struct cf_storelock_info *info)
{
	const char *p;

	memset(info, 0, sizeof(*info));
	if ((p = strstr(text, "pid ")))
		info->pid = (pid_t)strtol(p + 4, NULL, 10);
	if ((p = strstr(text, "role ")))
		sscanf(p + 5, "%15s", info->role);
	if ((p = strstr(text, "started ")))
		info->started = strtoll(p + 8, NULL, 10);
	if (info->pid < 0)
		info->pid = 0;
}

static void read_info(int fd, struct cf_storelock_info *info)
{
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	parse_info(buf, info);
}

static int lock_fd(int fd, short type, int cmd)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

	return fcntl(fd, cmd, &fl);
}

/* Who holds the lock on @fd, read from the file; waits briefly for a new holder's text. */
static void holder_of(int fd, struct cf_storelock_info *info)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int i = 0; i < 100; i++) {
		read_info(fd, info);
		if (info->pid)
			return;
		nanosleep(&ts, NULL); /* the holder writes its pid right after locking */
	}
}

int cf_storelock_take(struct cf_storelock **out, const char *dir, const char *store,
                      const char *role, pid_t *stale, struct cf_storelock_info *holder)
{
	struct cf_storelock *l = calloc(1, sizeof(*l));
	struct cf_storelock_info old;
	char text[256];
	int r, n;

	if (stale)
		*stale = 0;
	if (!l)
		return -ENOMEM;
	l->fd = -1;
	r = cf_storelock_paths(dir, store, l->lock, l->sock, sizeof(l->lock));
	if (r)
		goto fail;
	l->fd = open(l->lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->fd < 0) {
		r = -errno;
		cf_log_err("store lock %s: %s", l->lock, cf_strerror(r));
		goto fail;
	}
	if (lock_fd(l->fd, F_WRLCK, F_OFD_SETLK)) {
		r = errno == EAGAIN || errno == EACCES ? CF_E_BUSY : -errno;
		if (r == CF_E_BUSY && holder)
			holder_of(l->fd, holder);
		goto fail;
	}
	read_info(l->fd, &old);
	if (old.pid && old.pid != getpid()) {
		cf_log_warn("took over the lock of %s left by pid %ld (%s)", store, (long)old.pid,
		            kill(old.pid, 0) && errno == ESRCH ? "no longer running"
		                                               : "it no longer holds it");
		if (stale)
			*stale = old.pid;
	}
	n = snprintf(text, sizeof(text), "pid %ld\nrole %s\nstarted %lld\n", (long)getpid(),
	             role, (long long)time(NULL));
	if (ftruncate(l->fd, 0) || pwrite(l->fd, text, (size_t)n, 0) != n || fsync(l->fd)) {
		r = -errno;
		cf_log_err("store lock %s: %s", l->lock, cf_strerror(r));
		goto fail;
	}
	*out = l;
	return 0;
fail:
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	return r;
}

int cf_storelock_holder(const char *dir, const char *store, struct cf_storelock_info *info)
{
	char lock[4096], sock[4096];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd, r;

	r = cf_storelock_paths(dir, store, lock, sock, sizeof(lock));
	if (r)
		return r;
	fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? CF_E_NOTFOUND : -errno;
	/* a read lock conflicts with the holder's write lock: F_OFD_GETLK says if there is one */
	fl.l_type = F_RDLCK;
	if (fcntl(fd, F_OFD_GETLK, &fl)) {
		r = -errno;
	} else if (fl.l_type == F_UNLCK) {
		r = CF_E_NOTFOUND;
	} else {
		holder_of(fd, info);
		r = 0;
	}
	close(fd);
	return r;
}

const char *cf_storelock_socket(const struct cf_storelock *l)
{
	return l->sock;
}

void cf_storelock_release(struct cf_storelock *l)
{
	if (!l)
		return;
	if (ftruncate(l->fd, 0))
		cf_log_warn("store lock %s: %s", l->lock, cf_strerror(-errno));
	close(l->fd); /* lets go of the lock */
	free(l);
}
