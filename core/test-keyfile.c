/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/keyfile.h"
#include "tests/lib/check.h"

int main(void)
{
	char *dir = check_tmpdir();
	char path[512], link_path[512];
	struct cf_secbuf *b = NULL;
	struct stat st;

	REQUIRE(cf_core_init() == 0);
	snprintf(path, sizeof(path), "%s/key", dir);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);

	CHECK_RC(cf_keyfile_read(path, &b), CF_E_NOTFOUND);
	umask(0); /* even a permissive umask must not loosen the mode */
	CHECK_RC(cf_keyfile_write(path, "0123456789", 10, 1), 0);
	REQUIRE(stat(path, &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
	CHECK_RC(cf_keyfile_write(path, "x", 1, 1), CF_E_EXISTS);

	CHECK_RC(cf_keyfile_read(path, &b), 0);
	REQUIRE(b);
	CHECK(cf_secbuf_len(b) == 10 && memcmp(cf_secbuf_data(b), "0123456789", 10) == 0);
	cf_secbuf_free(b);
	b = NULL;

	/* replace atomically */
	CHECK_RC(cf_keyfile_write(path, "new", 3, 0), 0);
	CHECK_RC(cf_keyfile_read(path, &b), 0);
	CHECK(b && cf_secbuf_len(b) == 3 && memcmp(cf_secbuf_data(b), "new", 3) == 0);
	cf_secbuf_free(b);
	b = NULL;
	REQUIRE(stat(path, &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);

	/* readable by group or others: refused, like ssh */
	chmod(path, 0640);
	CHECK_RC(cf_keyfile_read(path, &b), CF_E_PERM);
	chmod(path, 0604);
	CHECK_RC(cf_keyfile_read(path, &b), CF_E_PERM);
	chmod(path, 0600);
	/* a symlink is not followed */
	REQUIRE(symlink(path, link_path) == 0);
	CHECK_RC(cf_keyfile_read(link_path, &b), CF_E_PERM);
	CHECK(b == NULL);
	/* no temporary file left behind */
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 2", dir);
		CHECK(system(cmd) == 0);
	}
	check_rmtree(dir);
	free(dir);
	return check_finish();
}
