/* SPDX-License-Identifier: ISC */
#include "tests/lib/check.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned check_failures;
unsigned check_count;

int check_finish(void)
{
	fprintf(stderr, "%u checks, %u failed\n", check_count, check_failures);
	if (check_count == 0) {
		fprintf(stderr, "no check ran: treating as failure\n");
		return 1;
	}
	return check_failures ? 1 : 0;
}

json_t *check_vectors_load(const char *name)
{
	const char *root = getenv("CF_SOURCE_ROOT");
	char path[4096];
	json_error_t err;
	json_t *j;

	if (!root)
		root = ".";
	snprintf(path, sizeof(path), "%s/tests/vectors/%s", root, name);
	j = json_load_file(path, 0, &err);
	if (!j) {
		fprintf(stderr, "cannot load vectors %s: %s (line %d)\n", path, err.text,
			err.line);
		exit(1);
	}
	return j;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8_t *check_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out;

	if (n % 2) {
		fprintf(stderr, "odd-length hex in vector\n");
		exit(1);
	}
	out = malloc(n / 2 + 1);
	if (!out)
		exit(1);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "bad hex in vector\n");
			exit(1);
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

char *check_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base)
		base = "/tmp";
	p = malloc(strlen(base) + 32);
	if (!p)
		exit(1);
	sprintf(p, "%s/cftest.XXXXXX", base);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		exit(1);
	}
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void check_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
