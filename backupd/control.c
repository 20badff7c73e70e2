/* SPDX-License-Identifier: ISC */
#include "backupd/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

int cf_control_listen(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s, r;
	mode_t old;

	r = fill_addr(&sa, path);
	if (r)
		goto fail;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		r = -errno;
		goto fail;
	}
	if (unlink(path) && errno != ENOENT) {
		r = -errno;
		close(s);
		goto fail;
	}
	old = umask(0177); /* the socket file is created 0600 */
	r = bind(s, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!r && listen(s, 16))
		r = -errno;
	if (r) {
		close(s);
		goto fail;
	}
	*fd = s;
	return 0;
fail:
	cf_log_err("control socket %s: %s", path, cf_strerror(r));
	return r;
}

static struct cf_control_conn *conn_new(int fd)
{
	struct cf_control_conn *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->len = 0;
	return c;
}

int cf_control_accept(int lfd, struct cf_control_conn **out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = {.tv_sec = 5};
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		cf_log_warn("control socket: refused a peer of uid %ld", (long)cred.uid);
		close(fd);
		return CF_E_PERM;
	}
	/* a stuck client must not stall the daemon: writes give up after 5 s */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!(*out = conn_new(fd))) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int cf_control_connect(const char *path, struct cf_control_conn **out)
{
	struct sockaddr_un sa;
	int fd, r = fill_addr(&sa, path);

	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = errno == ENOENT || errno == ECONNREFUSED ? CF_E_NOTFOUND : -errno;
		close(fd);
		return r;
	}
	if (!(*out = conn_new(fd))) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int cf_control_send(struct cf_control_conn *c, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t len, off = 0;
	int r = 0;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len] = '\n'; /* replaces the NUL: exactly len + 1 bytes are sent */
	while (off < len + 1) {
		ssize_t n = send(c->fd, s + off, len + 1 - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EPIPE;
			break;
		}
		off += (size_t)n;
	}
	free(s);
	return r;
}

/* A whole line in the buffer: parse it and drop it. */
static int take_line(struct cf_control_conn *c, char *nl, json_t **msg)
{
	size_t used = (size_t)(nl - c->buf) + 1;
	json_t *j;

	*nl = '\0';
	j = json_loads(c->buf, JSON_REJECT_DUPLICATES, NULL);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return CF_E_FORMAT;
	}
	*msg = j;
	return 0;
}

int cf_control_recv(struct cf_control_conn *c, json_t **msg, int timeout_ms)
{
	struct timespec t0, t1;
	char *nl;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int wait = timeout_ms, r;
		ssize_t n;

		if ((nl = memchr(c->buf, '\n', c->len)))
			return take_line(c, nl, msg);
		if (c->len == sizeof(c->buf))
			return CF_E_FORMAT;
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			wait = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
			                          (t1.tv_nsec - t0.tv_nsec) / 1000000);
			if (wait < 0)
				return -ETIMEDOUT;
		}
		r = poll(&p, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		c->len += (size_t)n;
	}
}

void cf_control_close(struct cf_control_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}
