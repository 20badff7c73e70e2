/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Listing the store folder for a snapshot: every regular file and directory under the
 * root, in archive order, with the stat fields the file cache and the tar headers need.
 *
 * Order: depth first, the entries of each directory sorted by name (byte order), a
 * directory before its contents. So paths are sorted component by component ("a",
 * "a/b", "a-c"): the order a tar reader expects, each folder before what it holds.
 *
 * Left out, each with a warning: symbolic links, sockets, FIFOs, device nodes, names
 * that are not valid archive paths (cf_archive_path_check: not UTF-8, backslash, too
 * long), and folders that cannot be read. Left out silently: the database files at the
 * root (chat.db is taken through the backup API; chat.db-wal, -shm and -journal are
 * folded into that copy), see cf_walk_is_db_file().
 */
#include <stddef.h>
#include <stdint.h>

#include "repo/cache.h"

struct cf_walk_entry {
	char *path;    /* relative, '/' separated */
	uint8_t type;  /* CF_ARCHIVE_FILE or CF_ARCHIVE_DIR */
	uint32_t mode; /* permission bits (st_mode & 0777) */
	int64_t mtime; /* seconds */
	uint32_t mtime_nsec;
	struct cf_file_stat st; /* size, mtime_ns, ctime_ns, inode, device */
};

struct cf_walk {
	struct cf_walk_entry *e; /* in archive order */
	size_t n, cap;
	uint64_t files;   /* regular files listed */
	uint64_t dirs;    /* directories listed */
	uint64_t bytes;   /* sum of the regular files' sizes */
	uint64_t skipped; /* entries left out with a warning */
};

/*
 * cf_walk_list - list the folder @root (which must be a directory; symlinks below it are
 * never followed). Sets *@out only on success (free with cf_walk_free).
 * Returns 0; -errno when @root itself cannot be opened or read; -ENOMEM. Entries and
 * sub-folders that cannot be read are skipped with a warning (counted in skipped).
 */
int cf_walk_list(struct cf_walk **out, const char *root);

/* cf_walk_free - release a listing. Accepts NULL. */
void cf_walk_free(struct cf_walk *w);

/*
 * cf_walk_is_db_file - 1 when the root-level name @name is the message database or one
 * of its companion files (chat.db, chat.db-wal, chat.db-shm, chat.db-journal), which the
 * walk never lists; 0 otherwise.
 */
int cf_walk_is_db_file(const char *name);

/*
 * cf_walk_path_cmp - compare two relative paths in archive order (component by
 * component, byte order): <0, 0, >0 like strcmp.
 */
int cf_walk_path_cmp(const char *a, const char *b);
