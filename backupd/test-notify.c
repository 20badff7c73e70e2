/* SPDX-License-Identifier: ISC */
/* backupd/notify: the sd_notify datagrams, to a path and to the abstract namespace. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backupd/notify.h"
#include "core/error.h"
#include "tests/lib/check.h"

/* A datagram socket bound at @name (a path, or "@x" abstract). */
static int listener(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct timeval tv = {.tv_sec = 5};

	REQUIRE(fd >= 0 && len < sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	REQUIRE(bind(fd, (struct sockaddr *)&sa,
	             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'))) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void expect_msg(int fd, const char *want)
{
	char buf[600];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	CHECK(n >= 0);
	buf[n > 0 ? n : 0] = '\0';
	if (strcmp(buf, want))
		fprintf(stderr, "got '%s', want '%s'\n", buf, want);
	CHECK(!strcmp(buf, want));
}

int main(void)
{
	char *dir = check_tmpdir(), path[512], abs_name[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CHECK_RC(cf_notify("READY=1"), 0); /* not under a service manager: nothing to do */

	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_RC(cf_notify("READY=1"), 0);
	expect_msg(fd, "READY=1");
	CHECK_RC(cf_notify_status("backing up\n%d files", 3), 0);
	expect_msg(fd, "STATUS=backing up 3 files");
	close(fd);

	snprintf(abs_name, sizeof(abs_name), "@coffer-test-%ld", (long)getpid());
	fd = listener(abs_name);
	setenv("NOTIFY_SOCKET", abs_name, 1);
	CHECK_RC(cf_notify("STOPPING=1"), 0);
	expect_msg(fd, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative", 1);
	CHECK_RC(cf_notify("READY=1"), CF_E_CONFIG);
	snprintf(path, sizeof(path), "%s/nobody", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK(cf_notify("READY=1") < 0); /* nobody listens: an error, nothing else */
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
