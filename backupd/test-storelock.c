/* SPDX-License-Identifier: ISC */
/* backupd/storelock: one holder per store, whatever the path; stale locks taken over. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backupd/storelock.h"
#include "core/error.h"
#include "tests/lib/check.h"

static char *root;

static const char *p(const char *rel)
{
	static char buf[4][1024];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
	return buf[i];
}

static void test_dir(void)
{
	char *d = NULL;
	struct stat st;

	setenv("XDG_RUNTIME_DIR", p("run"), 1);
	mkdir(p("run"), 0700);
	CHECK_RC(cf_storelock_dir(&d, NULL), 0);
	CHECK(d && !strcmp(d, p("run/coffer")));
	CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700);
	free(d);
	d = NULL;
	CHECK_RC(cf_storelock_dir(&d, p("deep/er/locks")), 0);
	CHECK(d && stat(p("deep/er/locks"), &st) == 0);
	free(d);
	d = NULL;
	mkdir(p("open"), 0700);
	chmod(p("open"), 0777);
	CHECK_RC(cf_storelock_dir(&d, p("open")), CF_E_PERM);
	CHECK_RC(cf_storelock_dir(&d, "relative"), CF_E_CONFIG);
	CHECK(d == NULL);
}

static void test_take(void)
{
	struct cf_storelock *a = NULL, *b = NULL;
	struct cf_storelock_info who;
	char lock[4096], sock[4096], buf[64];
	const char *dir = p("locks");
	pid_t stale = 99;
	FILE *f;

	mkdir(dir, 0700);
	mkdir(p("store"), 0700);
	REQUIRE(symlink(p("store"), p("alias")) == 0);
	CHECK_RC(cf_storelock_paths(dir, p("store"), lock, sock, sizeof(lock)), 0);
	CHECK(strstr(lock, "/store-") && strstr(lock, ".lock") && strstr(sock, ".sock"));
	CHECK_RC(cf_storelock_holder(dir, p("store"), &who), CF_E_NOTFOUND);

	CHECK_RC(cf_storelock_take(&a, dir, p("store"), "daemon", &stale, NULL), 0);
	CHECK(a && stale == 0);
	CHECK(!strcmp(cf_storelock_socket(a), sock));
	/* the same folder by another path: the same lock, held */
	memset(&who, 0, sizeof(who));
	CHECK_RC(cf_storelock_take(&b, dir, p("alias"), "now", NULL, &who), CF_E_BUSY);
	CHECK(b == NULL && who.pid == getpid() && !strcmp(who.role, "daemon") && who.started > 0);
	memset(&who, 0, sizeof(who));
	CHECK_RC(cf_storelock_holder(dir, p("alias"), &who), 0);
	CHECK(who.pid == getpid());
	/* the store itself holds no trace of the lock */
	CHECK(access(p("store/.lock"), F_OK) != 0);
	cf_storelock_release(a);
	CHECK_RC(cf_storelock_holder(dir, p("store"), &who), CF_E_NOTFOUND);
	REQUIRE((f = fopen(lock, "r")) != NULL);
	CHECK(fgets(buf, sizeof(buf), f) == NULL); /* emptied on release */
	fclose(f);
	CHECK_RC(cf_storelock_take(&a, dir, p("store"), "now", &stale, NULL), 0);
	CHECK(stale == 0);
	cf_storelock_release(a);

	/* errors */
	CHECK_RC(cf_storelock_take(&a, dir, p("missing"), "now", NULL, NULL), CF_E_NOTFOUND);
	REQUIRE((f = fopen(p("file"), "w")) != NULL);
	fclose(f);
	CHECK_RC(cf_storelock_take(&a, dir, p("file"), "now", NULL, NULL), -ENOTDIR);
	{
		char longdir[300];

		memset(longdir, 'x', sizeof(longdir) - 1);
		longdir[0] = '/';
		longdir[sizeof(longdir) - 1] = '\0';
		CHECK_RC(cf_storelock_paths(longdir, p("store"), lock, sock, sizeof(lock)), CF_E_LIMIT);
	}
}

/* A holder killed outright: the kernel drops its lock; the next taker reports it. */
static void test_stale(void)
{
	struct cf_storelock *a = NULL;
	const char *dir = p("locks");
	pid_t child, stale = 0;
	int status;

	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct cf_storelock *l = NULL;

		if (cf_storelock_take(&l, dir, p("store"), "daemon", NULL, NULL))
			_exit(3);
		kill(getpid(), SIGKILL); /* no release */
		_exit(4);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_RC(cf_storelock_take(&a, dir, p("store"), "daemon", &stale, NULL), 0);
	CHECK(stale == child);
	cf_storelock_release(a);
}

int main(void)
{
	root = check_tmpdir();
	test_dir();
	test_take();
	test_stale();
	check_rmtree(root);
	free(root);
	return check_finish();
}
