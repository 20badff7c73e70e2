/* SPDX-License-Identifier: ISC */
#include "keyvault/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "core/secbuf.h"
#include "keyvault/account.h"
#include "keyvault/modes.h"
#include "keyvault/vault.h"
#include "util/log.h"

#define PASS_MAX 4096

char *cf_session_default_dir(const char *kind)
{
	const char *xdg = getenv(strcmp(kind, "STATE") == 0 ? "XDG_STATE_HOME" : "XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *out = NULL;

	if (xdg && xdg[0] == '/') {
		if (asprintf(&out, "%s/coffer", xdg) < 0)
			out = NULL;
	} else if (asprintf(&out, "%s/%s/coffer", home ? home : "/tmp",
			    strcmp(kind, "STATE") == 0 ? ".local/state" : ".cache") < 0) {
		out = NULL;
	}
	return out;
}

/* The passphrase from @file (first line) or COFFER_PASSPHRASE, into secure memory. */
int cf_session_read_passphrase(const char *file, struct cf_secbuf **out)
{
	const char *env = getenv("COFFER_PASSPHRASE");
	struct cf_secbuf *b = NULL;
	ssize_t n = 0;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	if (!file) {
		if (!env || !*env)
			return 0;
		return cf_secbuf_dup(out, env, strlen(env) + 1);
	}
	fd = strcmp(file, "-") == 0 ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cf_log_err("cannot read passphrase file %s: %s", file, strerror(errno));
		return CF_E_CONFIG;
	}
	r = cf_secbuf_new(&b, PASS_MAX + 1);
	while (!r && got < PASS_MAX && (n = read(fd, cf_secbuf_data(b) + got, PASS_MAX - got)) > 0)
		got += (size_t)n;
	if (fd != STDIN_FILENO)
		close(fd);
	if (r)
		return r;
	for (size_t i = 0; i < got; i++)
		if (cf_secbuf_data(b)[i] == '\n' || cf_secbuf_data(b)[i] == '\r') {
			got = i;
			break;
		}
	if (n < 0 || got == 0) {
		cf_log_err("passphrase file %s is empty or unreadable", file);
		cf_secbuf_free(b);
		return CF_E_CONFIG;
	}
	cf_secbuf_data(b)[got] = 0;
	cf_secbuf_shrink(b, got + 1);
	*out = b;
	return 0;
}

/*
 * Note the repository's URL in the account record (keyvault status and device changes
 * find it there); a repository this device just created with an account is attached to
 * it in standard protection.
 */
static int remember(struct cf_session *s)
{
	struct cf_account *a = NULL;
	int r = cf_account_load(&a, s->state_dir);

	if (r) {
		cf_log_warn("the account record in %s is unreadable: not updated", s->state_dir);
		return 0;
	}
	r = cf_account_remember_repo(a, cf_repo_id(s->repo), cf_repo_url(s->repo));
	if (r == 1)
		r = cf_account_save(a);
	if (r > 0 || (r < 0 && r != -ENOMEM))
		r = 0; /* a record that cannot be written costs a line in status, nothing more */
	if (!r && cf_repo_created(s->repo) && a->server)
		r = cf_modes_attach_new(s);
	cf_account_free(a);
	return r;
}

int cf_session_open(struct cf_session **out, const struct cf_session_opts *o)
{
	struct cf_session *s = calloc(1, sizeof(*s));
	struct cf_secbuf *pass = NULL;
	struct cf_repo_opts ro = {0};
	int r;

	if (!s)
		return -ENOMEM;
	r = cf_core_init();
	s->state_dir = o->state_dir ? strdup(o->state_dir) : cf_session_default_dir("STATE");
	s->cache_dir = o->cache_dir ? strdup(o->cache_dir) : cf_session_default_dir("CACHE");
	if (!r && (!s->state_dir || !s->cache_dir))
		r = -ENOMEM;
	if (!r)
		r = cf_session_read_passphrase(o->passphrase_file, &pass);
	if (!r) {
		r = cf_keychain_open(&s->kc, s->state_dir,
				     pass ? (const char *)cf_secbuf_data(pass) : NULL);
		if (r == CF_E_NOTFOUND)
			cf_log_err("no keychain in %s: run 'keyvault init --local --state-dir %s'"
				   " first",
				   s->state_dir, s->state_dir);
	}
	cf_secbuf_free(pass);
	if (r)
		goto fail;
	ro.url = o->repo_url;
	ro.cache_dir = s->cache_dir;
	ro.create = o->create;
	ro.pack_size = o->pack_size;
	ro.storage = o->storage;
	r = cf_repo_open(&s->repo, &ro);
	if (!r)
		r = cf_vault_attach(s->repo, s->kc);
	if (!r)
		r = remember(s);
	if (!r)
		r = cf_repo_sync(s->repo);
	if (r == CF_E_CORRUPT) {
		cf_log_warn("continuing: damaged objects are reported by 'restore check'");
		r = 0;
	}
	if (r)
		goto fail;
	*out = s;
	return 0;
fail:
	cf_session_free(s);
	return r;
}

int cf_session_load_snapshots(struct cf_session *s)
{
	const uint8_t *rid = cf_repo_id(s->repo);
	struct cf_chain_seen seen;
	const struct cf_chain *c;
	uint64_t bad = 0;
	int have_seen, r;

	have_seen = cf_keychain_seen_get(s->kc, rid, &seen.seq, seen.id) == 0;
	cf_snapshots_free(s->snaps);
	s->snaps = NULL;
	r = cf_snapshots_load(&s->snaps, s->repo, have_seen ? &seen : NULL, &bad);
	if (r)
		return r;
	c = cf_snapshots_chain(s->snaps);
	if (c->has_newest && (!have_seen || c->newest_seq > seen.seq))
		r = cf_session_record_seen(s, c->newest_seq, c->newest_id);
	return r;
}

int cf_session_record_seen(struct cf_session *s, uint64_t seq, const uint8_t id[32])
{
	int r = cf_keychain_seen_update(s->kc, cf_repo_id(s->repo), seq, id);

	if (!r)
		r = cf_keychain_save(s->kc);
	if (r)
		cf_log_err("cannot record snapshot %llu as seen in the keychain: %s",
			   (unsigned long long)seq, cf_strerror(r));
	return r;
}

void cf_session_free(struct cf_session *s)
{
	if (!s)
		return;
	cf_snapshots_free(s->snaps);
	cf_repo_free(s->repo);
	cf_keychain_free(s->kc);
	free(s->state_dir);
	free(s->cache_dir);
	free(s);
}
