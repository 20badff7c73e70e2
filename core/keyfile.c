/* SPDX-License-Identifier: ISC */
#include "core/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		r = -errno;
	else if (fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int cf_keyfile_write(const char *path, const void *data, size_t len, int exclusive)
{
	char *tmp = NULL;
	int fd = -1, r;
	struct stat st;

	if (len > CF_KEYFILE_MAX_BYTES)
		return CF_E_LIMIT;
	if (exclusive && lstat(path, &st) == 0)
		return CF_E_EXISTS;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	/* mkostemp creates the file 0600 from the first instant. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (!r)
		r = write_all(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	fd = -1;
	if (r)
		goto fail;
	if (exclusive) {
		/* link(2) fails if @path appeared meanwhile: no silent overwrite. */
		if (link(tmp, path) < 0) {
			r = errno == EEXIST ? CF_E_EXISTS : -errno;
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	free(tmp);
	return fsync_parent(path);
fail:
	unlink(tmp);
	free(tmp);
	return r;
}

int cf_keyfile_read(const char *path, struct cf_secbuf **out)
{
	struct cf_secbuf *b = NULL;
	struct stat st;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? CF_E_NOTFOUND : (errno == ELOOP ? CF_E_PERM : -errno);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		r = CF_E_PERM;
		goto fail;
	}
	if (st.st_size > (off_t)CF_KEYFILE_MAX_BYTES) {
		r = CF_E_LIMIT;
		goto fail;
	}
	r = cf_secbuf_new(&b, (size_t)st.st_size);
	if (r)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, cf_secbuf_data(b) + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;  /* shrank under us: keep what is there */
		got += (size_t)n;
	}
	cf_secbuf_shrink(b, got);
	close(fd);
	*out = b;
	return 0;
fail:
	cf_secbuf_free(b);
	close(fd);
	return r;
}
