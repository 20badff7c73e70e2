/* SPDX-License-Identifier: ISC */
/*
 * timed-backup - one real backup (the engine of `backupd now`) whose snapshot carries a
 * chosen time, for tests/integration/daemon/test-daemon-retention.sh: the retention
 * policy is tested on snapshots dated over months, made in seconds.
 *
 * The engine stamps a snapshot with time(2). This program defines time() itself, which
 * the static linker binds for every call made from the program's own code and the Coffer
 * libraries linked into it (not for the C library's internal use): it returns the value
 * of --time. Every other part of the backup is the real one.
 *
 * Usage: timed-backup --time UNIX --store DIR --repo URL --state-dir S --cache-dir C
 *                     [--pack-size MIB]
 * Prints the snapshot's sequence number. Exit status: 0 committed, 1 failure, 2 usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backupd/snapshot.h"
#include "core/error.h"
#include "keyvault/session.h"

static time_t fake_now;

time_t time(time_t *t)
{
	if (t)
		*t = fake_now;
	return fake_now;
}

int main(int argc, char **argv)
{
	struct cf_session_opts so = {.create = 1};
	struct cf_snapshot_opts sno = {0};
	struct cf_snapshot_result res = {0};
	struct cf_session *s = NULL;
	int r;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--time"))
			fake_now = (time_t)strtoll(v, NULL, 10);
		else if (!strcmp(k, "--store"))
			sno.store = v;
		else if (!strcmp(k, "--repo"))
			so.repo_url = v;
		else if (!strcmp(k, "--state-dir"))
			so.state_dir = v;
		else if (!strcmp(k, "--cache-dir"))
			so.cache_dir = v;
		else if (!strcmp(k, "--pack-size"))
			so.pack_size = strtoull(v, NULL, 10) << 20;
		else {
			fprintf(stderr, "timed-backup: unknown option %s\n", k);
			return 2;
		}
	}
	if (argc % 2 == 0 || fake_now <= 0 || !sno.store || !so.repo_url) {
		fprintf(stderr, "usage: timed-backup --time UNIX --store DIR --repo URL ...\n");
		return 2;
	}
	r = cf_session_open(&s, &so);
	if (!r)
		r = cf_snapshot_run(s, &sno, &res);
	cf_session_free(s);
	if (r) {
		fprintf(stderr, "timed-backup: %s\n", cf_strerror(r));
		return 1;
	}
	printf("%llu\n", (unsigned long long)res.seq);
	cf_snapshot_result_clear(&res);
	return 0;
}
