/* SPDX-License-Identifier: ISC */
/* The store walk: order, what is left out, stat fields. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backupd/walk.h"
#include "core/error.h"
#include "repo/archive.h"
#include "tests/lib/check.h"

static char *dir;

static void put(const char *rel, const char *content)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

static void mkd(const char *rel)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	REQUIRE(mkdir(p, 0750) == 0);
}

static void test_cmp(void)
{
	CHECK(cf_walk_path_cmp("a", "a") == 0);
	CHECK(cf_walk_path_cmp("a", "a/b") < 0);
	CHECK(cf_walk_path_cmp("a/b", "a-c") < 0); /* '/' before every other byte */
	CHECK(cf_walk_path_cmp("a-c", "a/b") > 0);
	CHECK(cf_walk_path_cmp("a/z", "ab") < 0);
	CHECK(cf_walk_path_cmp("B", "a") < 0); /* byte order */
	CHECK(cf_walk_path_cmp("\xc3\xa9", "z") > 0);
	CHECK(cf_walk_is_db_file("chat.db") && cf_walk_is_db_file("chat.db-wal") &&
	      cf_walk_is_db_file("chat.db-shm") && cf_walk_is_db_file("chat.db-journal"));
	CHECK(!cf_walk_is_db_file("chat.db2") && !cf_walk_is_db_file("chat") &&
	      !cf_walk_is_db_file("Attachments"));
}

static void test_walk(void)
{
	static const char *const want[] = {
	    "Attachments",
	    "Attachments/00",
	    "Attachments/00/empty",
	    "Attachments/00/x.jpg",
	    "Attachments/0a",
	    "Attachments/0a/chat.db-wal",
	    "a",
	    "a/b",
	    "a-c",
	    "z.txt",
	};
	const size_t nwant = sizeof(want) / sizeof(want[0]);
	struct cf_walk *w = NULL;
	char p[4096];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int sk;

	put("chat.db", "db");
	put("chat.db-wal", "wal");
	put("chat.db-shm", "shm");
	put("chat.db-journal", "j");
	mkd("Attachments");
	mkd("Attachments/0a");
	mkd("Attachments/00");
	mkd("Attachments/00/empty");
	put("Attachments/00/x.jpg", "jpeg bytes");
	put("Attachments/0a/chat.db-wal", "only the root's are left out");
	mkd("a");
	put("a/b", "b");
	put("a-c", "c");
	put("z.txt", "0123456789");
	/* left out with a warning */
	snprintf(p, sizeof(p), "%s/link", dir);
	REQUIRE(symlink("/etc/passwd", p) == 0);
	snprintf(p, sizeof(p), "%s/a/dirlink", dir);
	REQUIRE(symlink("..", p) == 0);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	REQUIRE(mkfifo(p, 0600) == 0);
	snprintf(p, sizeof(p), "%s/bad\xff name", dir);
	REQUIRE(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/back\\slash", dir);
	REQUIRE(mkdir(p, 0700) == 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	REQUIRE(sk >= 0 && bind(sk, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	CHECK_RC(cf_walk_list(&w, dir), 0);
	REQUIRE(w != NULL);
	CHECK(w->n == nwant);
	for (size_t i = 0; i < w->n && i < nwant; i++) {
		if (strcmp(w->e[i].path, want[i]) != 0) {
			fprintf(stderr, "entry %zu: '%s', want '%s'\n", i, w->e[i].path, want[i]);
			CHECK(0);
		}
		if (i)
			CHECK(cf_walk_path_cmp(w->e[i - 1].path, w->e[i].path) < 0);
		CHECK(cf_archive_path_check(w->e[i].path, strlen(w->e[i].path)) == 0);
	}
	CHECK(w->files == 5 && w->dirs == 5);
	CHECK(w->bytes ==
	      strlen("jpeg bytes") + strlen("only the root's are left out") + 1 + 1 + 10);
	CHECK(w->skipped == 6); /* link, dirlink, fifo, bad name, backslash, socket */
	for (size_t i = 0; i < w->n; i++) {
		struct stat sb;
		const struct cf_walk_entry *e = &w->e[i];
		snprintf(p, sizeof(p), "%s/%s", dir, e->path);
		REQUIRE(lstat(p, &sb) == 0);
		CHECK(e->type == (S_ISDIR(sb.st_mode) ? CF_ARCHIVE_DIR : CF_ARCHIVE_FILE));
		CHECK(e->mode == (sb.st_mode & 0777));
		CHECK(e->st.inode == sb.st_ino && e->st.device == sb.st_dev);
		CHECK(e->st.size == (S_ISDIR(sb.st_mode) ? 0 : (uint64_t)sb.st_size));
		CHECK(e->mtime == sb.st_mtim.tv_sec && e->mtime_nsec == sb.st_mtim.tv_nsec);
		CHECK(e->st.mtime_ns == sb.st_mtim.tv_sec * 1000000000ll + sb.st_mtim.tv_nsec);
		CHECK(e->st.ctime_ns == sb.st_ctim.tv_sec * 1000000000ll + sb.st_ctim.tv_nsec);
	}
	cf_walk_free(w);
	close(sk);

	/* not a folder, absent */
	w = NULL;
	snprintf(p, sizeof(p), "%s/z.txt", dir);
	CHECK_RC(cf_walk_list(&w, p), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/absent", dir);
	CHECK_RC(cf_walk_list(&w, p), -ENOENT);
	CHECK(w == NULL);
	cf_walk_free(NULL);
}

static void test_empty(void)
{
	struct cf_walk *w = NULL;
	char p[4096];

	snprintf(p, sizeof(p), "%s/Attachments/00/empty", dir);
	CHECK_RC(cf_walk_list(&w, p), 0);
	REQUIRE(w != NULL);
	CHECK(w->n == 0 && w->files == 0 && w->dirs == 0 && w->bytes == 0);
	cf_walk_free(w);
}

int main(void)
{
	dir = check_tmpdir();
	test_cmp();
	test_walk();
	test_empty();
	check_rmtree(dir);
	return check_finish();
}
