/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * The control socket of a running `backupd run`: an AF_UNIX stream socket beside the
 * store lock (backupd/storelock.h), mode 0600 in a 0700 folder, and only peers of the
 * same user (SO_PEERCRED) are served. Messages are JSON objects, one per line
 * (at most CF_CONTROL_MAX_LINE bytes), documented in docs/backupd.md, "Control socket":
 *
 *   client -> daemon   {"cmd": "now"}  |  {"cmd": "status"}
 *   daemon -> client   {"event": "accepted", "queued": bool}, later
 *                      {"event": "done", "status": "ok"|"failed"|"cancelled", ...}
 *                      {"event": "status", ...}
 *                      {"event": "error", "message": "..."}
 */
#include <jansson.h>

#define CF_CONTROL_MAX_LINE 65536

/* A connection with its read buffer. */
struct cf_control_conn {
	int fd;
	size_t len;
	char buf[CF_CONTROL_MAX_LINE];
};

/*
 * cf_control_listen - bind and listen on @path (a stale socket file there is removed
 * first: the caller holds the store lock). Sets *@fd (non-blocking, close-on-exec) only
 * on success. Returns 0 or -errno (logged).
 */
int cf_control_listen(const char *path, int *fd);

/*
 * cf_control_accept - accept one connection on @lfd into a new connection (*@out), or
 * refuse a peer of another user. Returns 0; CF_E_PERM (refused and closed); -EAGAIN
 * (nobody waiting); -errno; -ENOMEM.
 */
int cf_control_accept(int lfd, struct cf_control_conn **out);

/*
 * cf_control_connect - connect to the daemon at @path. Returns 0 with *@out set;
 * CF_E_NOTFOUND when no daemon listens there; -errno; -ENOMEM.
 */
int cf_control_connect(const char *path, struct cf_control_conn **out);

/*
 * cf_control_send - @msg as one line (compact JSON). Does not take the reference.
 * Returns 0 or -errno (-EPIPE: the peer went away).
 */
int cf_control_send(struct cf_control_conn *c, json_t *msg);

/*
 * cf_control_recv - the next message, waiting at most @timeout_ms (-1: forever). Sets
 * *@msg (a JSON object; the caller owns it). Returns 0; -ETIMEDOUT; -EPIPE (closed
 * before a whole line); CF_E_FORMAT (not a JSON object, or a line too long); -errno.
 */
int cf_control_recv(struct cf_control_conn *c, json_t **msg, int timeout_ms);

/* cf_control_close - close and free. Accepts NULL. */
void cf_control_close(struct cf_control_conn *c);
