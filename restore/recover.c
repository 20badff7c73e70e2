/* SPDX-License-Identifier: ISC */
/*
 * restore recover: recovery on a new device (keyvault/recovery.h), then a restore of the
 * newest snapshot with `restore snapshot latest --to DIR`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "keyvault/account.h"
#include "keyvault/recovery.h"
#include "restore/cli.h"
#include "util/cli.h"
#include "util/log.h"

static int read_secrets(const struct opts *o, struct cf_secbuf **pw, struct cf_secbuf **rk)
{
	int r = cf_account_read_password(o->password_file, pw);

	if (r) {
		cli_fail(o, r, "read the account password %s", o->password_file ? o->password_file : "");
		return EXIT_USAGE;
	}
	if (o->rk_file) {
		r = cf_cli_read_passphrase(o->rk_file, 1024, CF_CLI_PASS_TRAILING, rk);
		if (r) {
			cli_fail(o, r, "read the recovery key file %s", o->rk_file);
			return EXIT_USAGE;
		}
	}
	return 0;
}

int cmd_recover(const struct opts *o)
{
	struct cf_recovery_opts ro = {0};
	struct cf_recovery_result res;
	struct cf_secbuf *pw = NULL, *rk = NULL;
	struct opts so = *o;
	char *latest[] = {"latest"};
	int r, rc;

	if (!o->to)
		return cf_cli_complain("restore", o->cmd, "--to DIR is required");
	if ((o->server != NULL) != (o->account != NULL))
		return cf_cli_complain("restore", o->cmd, "--server and --account go together");
	rc = read_secrets(o, &pw, &rk);
	if (rc)
		goto out;
	ro.repo_url = o->repo;
	ro.state_dir = o->state_dir;
	ro.cache_dir = o->cache_dir;
	ro.passphrase_file = o->pass_file;
	ro.server = o->server;
	ro.account = o->account;
	ro.password = pw ? (const char *)cf_secbuf_data(pw) : NULL;
	ro.recovery_key = rk ? (const char *)cf_secbuf_data(rk) : NULL;
	ro.contacts = o->contacts;
	ro.ncontacts = o->ncontacts;
	r = cf_recovery_run(&ro, &res);
	if (res.waiting)
		printf("Waiting for recovery contacts: %u of %u needed, %u released%s%s%s.\n"
		       "Code to compare with them: %s\n",
		       res.k, res.n, res.released, res.released ? " (by " : "", res.released_by,
		       res.released ? ")" : "", res.code);
	if (r) {
		rc = cli_fail(o, r, "recover the keys of %s", o->repo);
		rc = rc == EXIT_OK ? EXIT_FAIL : rc;
		goto out;
	}
	if (!o->json)
		printf("Recovered with %s: %u key epoch(s); this device is trusted now.\n",
		       res.method, res.epochs);
	if (res.unreadable) /* the restore below may find none it can read */
		fprintf(o->json ? stderr : stdout, "%s%s\n", o->json ? "restore: note: " : "",
			res.unreadable_text);
	so.args = latest;
	so.nargs = 1;
	rc = cmd_snapshot(&so);
out:
	cf_secbuf_free(pw);
	cf_secbuf_free(rk);
	return rc;
}
