/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Readiness and status notifications to the service manager (systemd's Type=notify), by
 * the sd_notify datagram protocol implemented here (libsystemd is not a dependency):
 * when $NOTIFY_SOCKET names an AF_UNIX datagram socket (a path, or "@name" for the
 * abstract namespace), one datagram holding newline-separated "KEY=value" assignments
 * is sent to it ("READY=1", "STATUS=...", "RELOADING=1", "STOPPING=1"). Without
 * $NOTIFY_SOCKET nothing is sent. docs/backupd.md, "Running as a service".
 */

/*
 * cf_notify - send @state (e.g. "READY=1\nSTATUS=idle") to $NOTIFY_SOCKET, if set.
 * Returns 0 (also when the variable is unset); CF_E_CONFIG when it is not a usable
 * socket address; -errno when sending fails. Nothing is logged.
 */
int cf_notify(const char *state);

/* cf_notify_status - cf_notify("STATUS=<printf result>"), newlines replaced by spaces. */
int cf_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
