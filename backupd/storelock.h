/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * One backupd per message store: a lock outside the store (so it is never backed up),
 * named after the store folder's device and inode ("store-<dev>-<ino>.lock", so every
 * path to the same folder finds the same lock, whatever state directory a backupd uses),
 * in the lock folder: [store] lock_dir, else $XDG_RUNTIME_DIR/coffer, else
 * /tmp/coffer-<uid>. The folder is created 0700 and must belong to this user.
 *
 * The lock is an open-file-description record lock (fcntl F_OFD_SETLK) on the whole file:
 * the kernel releases it when its holder exits in any way (kill -9 included), so a lock
 * left behind by a dead process is never in the way. The file holds the holder's pid,
 * role and start time for others to read; a holder empties it when it lets go, so a
 * non-empty file found by a new holder is the trace of one that died (a stale lock): it
 * is taken over and the old pid reported. The control socket of a daemon
 * ("store-<dev>-<ino>.sock") lives beside the lock.
 */
#include <stddef.h>
#include <sys/types.h>

struct cf_storelock;

/* What a lock file says about its holder. */
struct cf_storelock_info {
	pid_t pid;          /* 0: unknown */
	char role[16];      /* "daemon" or "now" */
	long long started;  /* unix seconds, 0: unknown */
};

/*
 * cf_storelock_dir - the lock folder (@configured, or the default above) as a new string
 * in *@out, created (mode 0700, parents too) when missing. Returns 0; CF_E_PERM when it
 * belongs to another user or others may write to it; CF_E_CONFIG when no folder can be
 * chosen; -errno; -ENOMEM.
 */
int cf_storelock_dir(char **out, const char *configured);

/*
 * cf_storelock_paths - the lock file and control socket paths of the store folder
 * @store in the lock folder @dir, into @lock and @sock (@cap bytes each; a socket path
 * must fit in sockaddr_un). Returns 0; CF_E_NOTFOUND (no such store); -ENOTDIR;
 * CF_E_LIMIT (paths too long); -errno.
 */
int cf_storelock_paths(const char *dir, const char *store, char *lock, char *sock, size_t cap);

/*
 * cf_storelock_take - take the lock of @store as @role ("daemon" or "now"). Sets *@out
 * only on success; *@stale (may be NULL) receives the pid found in a stale lock that was
 * taken over (0 when none). When another process holds the lock, *@holder (may be NULL)
 * says who. Returns 0; CF_E_BUSY (held by someone else); errors of cf_storelock_paths;
 * -errno; -ENOMEM.
 */
int cf_storelock_take(struct cf_storelock **out, const char *dir, const char *store,
                      const char *role, pid_t *stale, struct cf_storelock_info *holder);

/*
 * cf_storelock_holder - who holds the lock of @store now, without taking it. Returns 0
 * with *@info filled (held); CF_E_NOTFOUND (nobody holds it); errors as above.
 */
int cf_storelock_holder(const char *dir, const char *store, struct cf_storelock_info *info);

/* cf_storelock_socket - the control socket path beside the lock @l. */
const char *cf_storelock_socket(const struct cf_storelock *l);

/* cf_storelock_release - empty the lock file and let go of the lock. Accepts NULL. */
void cf_storelock_release(struct cf_storelock *l);
