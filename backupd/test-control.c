/* SPDX-License-Identifier: ISC */
/* backupd/control: the control socket's JSON lines, both ends, and what it refuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backupd/control.h"
#include "core/error.h"
#include "tests/lib/check.h"

int main(void)
{
	char *dir = check_tmpdir(), path[512];
	struct cf_control_conn *cl = NULL, *sv = NULL;
	json_t *m = NULL, *req;
	struct stat st;
	int lfd = -1;
	char *big;

	snprintf(path, sizeof(path), "%s/c.sock", dir);
	CHECK_RC(cf_control_connect(path, &cl), CF_E_NOTFOUND);
	CHECK_RC(cf_control_listen(path, &lfd), 0);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK_RC(cf_control_accept(lfd, &sv), -EAGAIN); /* nobody yet */
	CHECK_RC(cf_control_connect(path, &cl), 0);
	CHECK_RC(cf_control_accept(lfd, &sv), 0);
	REQUIRE(cl && sv);

	/* a request and two answers in one write */
	req = json_pack("{s:s}", "cmd", "now");
	CHECK_RC(cf_control_send(cl, req), 0);
	json_decref(req);
	CHECK_RC(cf_control_recv(sv, &m, 2000), 0);
	CHECK(m && !strcmp(json_string_value(json_object_get(m, "cmd")), "now"));
	json_decref(m);
	CHECK(send(sv->fd, "{\"event\":\"accepted\"}\n{\"event\":\"done\"}\n", 38, 0) == 38);
	CHECK_RC(cf_control_recv(cl, &m, 2000), 0);
	CHECK(m && !strcmp(json_string_value(json_object_get(m, "event")), "accepted"));
	json_decref(m);
	CHECK_RC(cf_control_recv(cl, &m, 2000), 0);
	CHECK(m && !strcmp(json_string_value(json_object_get(m, "event")), "done"));
	json_decref(m);
	CHECK_RC(cf_control_recv(cl, &m, 50), -ETIMEDOUT);

	/* not a JSON object, then a line longer than the limit */
	CHECK(send(cl->fd, "[1,2]\n", 6, 0) == 6);
	CHECK_RC(cf_control_recv(sv, &m, 2000), CF_E_FORMAT);
	CHECK(send(cl->fd, "{\"a\":1,\"a\":2}\n", 14, 0) == 14); /* duplicate keys */
	CHECK_RC(cf_control_recv(sv, &m, 2000), CF_E_FORMAT);
	big = malloc(CF_CONTROL_MAX_LINE + 10);
	REQUIRE(big);
	memset(big, ' ', CF_CONTROL_MAX_LINE + 10);
	{
		size_t off = 0;
		int got = 0;

		/* feed it while it reads, until it gives up on the line */
		while (!got && off < CF_CONTROL_MAX_LINE + 10) {
			ssize_t n = send(cl->fd, big + off, CF_CONTROL_MAX_LINE + 10 - off, MSG_DONTWAIT);

			if (n > 0)
				off += (size_t)n;
			got = cf_control_recv(sv, &m, 100) == CF_E_FORMAT;
		}
		if (!got)
			got = cf_control_recv(sv, &m, 1000) == CF_E_FORMAT;
		CHECK(got);
	}
	free(big);

	/* the client goes away */
	cf_control_close(cl);
	cl = NULL;
	sv->len = 0;
	CHECK_RC(cf_control_recv(sv, &m, 2000), -EPIPE);
	cf_control_close(sv);
	close(lfd);

	/* a stale socket file is replaced on listen */
	CHECK_RC(cf_control_listen(path, &lfd), 0);
	close(lfd);
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
