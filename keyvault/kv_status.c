/* SPDX-License-Identifier: ISC */
/* keyvault status: the device, the account, and each repository's protection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encode.h"
#include "core/error.h"
#include "keyvault/kv_cli.h"
#include "keyvault/protect.h"
#include "keyvault/unreadable.h"
#include "util/cli.h"
#include "util/log.h"

static size_t put_range(char *buf, size_t len, size_t o, uint64_t a, uint64_t b)
{
	if (!a || o >= len)
		return o;
	if (b > a)
		return o + (size_t)snprintf(buf + o, len - o, "%s#%llu-#%llu", o ? ", " : "",
					    (unsigned long long)a, (unsigned long long)b);
	return o + (size_t)snprintf(buf + o, len - o, "%s#%llu", o ? ", " : "",
				    (unsigned long long)a);
}

/* Snapshot sequence numbers of epoch @e as ranges ("#1-#3, #7") into @buf; their count. */
static size_t ranges(const struct cf_session *s, uint32_t e, char *buf, size_t len)
{
	size_t n = cf_snapshots_count(s->snaps), cnt = 0, o = 0;
	uint64_t start = 0, last = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cf_manifest *m = cf_snapshots_get(s->snaps, i);
		if (m->epoch != e)
			continue;
		cnt++;
		if (start && m->seq == last + 1) {
			last = m->seq;
			continue;
		}
		o = put_range(buf, len, o, start, last);
		start = last = m->seq;
	}
	put_range(buf, len, o, start, last);
	return cnt;
}

static const char *readers(const struct cf_protection *rec, int has)
{
	if (!has)
		return "your trusted devices (no protection record: a repository from before"
		       " protection modes, or the record was deleted)";
	if (rec->mode == CF_MODE_STANDARD || rec->escrowed)
		return "your trusted devices, your recovery methods, and the key vault operator"
		       " (the key was escrowed)";
	if (rec->mode == CF_MODE_ADVANCED)
		return "only your trusted devices and your recovery methods";
	return rec->has_recovery_key || rec->has_contacts
		   ? "only your trusted devices and your recovery methods (no key vault)"
		   : "only your trusted devices (no key vault, no recovery method)";
}

static void methods_text(const struct cf_protection *rec, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	if (rec->has_recovery_key)
		o += (size_t)snprintf(buf, len, "recovery key");
	if (rec->has_contacts) {
		o += (size_t)snprintf(buf + o, len - o, "%s%u of %u recovery contacts (", o ? ", " : "",
				      rec->k, rec->n);
		for (unsigned i = 0; i < rec->n && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", rec->names[i]);
		if (o < len)
			snprintf(buf + o, len - o, ")");
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The text and JSON view of one repository. */
static json_t *repo_view(const struct kv_opts *o, struct cf_session *s, struct cf_protect *p)
{
	const struct cf_keyring *ring = cf_repo_keyring(s->repo);
	struct cf_pubid me;
	json_t *j, *epochs = json_array(), *devs = json_array();
	char fpr[CF_FINGERPRINT_LEN], methods[1024], rg[512], unread[2048];
	size_t nun;
	enum cf_prot_mode mode = p->has_record ? p->rec.mode : CF_MODE_LOCAL;
	int warn_none, kept = 0;

	cf_identity_public(cf_keychain_identity(s->kc), &me);
	methods_text(&p->rec, methods, sizeof(methods));
	if (!o->json) {
		printf("\nRepository %s\n", cf_repo_url(s->repo));
		printf("  Protection:       %s%s\n", cf_prot_mode_name(mode),
		       mode == CF_MODE_STANDARD ? " (the key vault holds a copy of the key)"
		       : mode == CF_MODE_ADVANCED
			   ? " (only your devices and recovery methods can read it)"
			   : " (no key vault account)");
		printf("  Key epoch:        %u%s\n", p->current,
		       p->newest > p->current ? " (the repository has a newer one this device was"
						" not given)"
					      : "");
		printf("  Recovery methods: %s\n", methods);
		printf("  Trusted devices:  %zu\n", p->roster->n);
	}
	for (size_t i = 0; i < p->roster->n; i++) {
		cf_pubid_fingerprint(&p->roster->ids[i], fpr);
		if (!o->json)
			printf("    %s%s\n", fpr,
			       cf_pubid_equal(&p->roster->ids[i], &me) ? "  (this device)" : "");
		json_array_append_new(devs, json_string(fpr));
	}
	if (!o->json)
		printf("  Who can read which snapshots:\n");
	for (uint32_t e = 1; e <= p->current; e++) {
		struct cf_protection rec = {0};
		int has = cf_keyring_get(ring, e) &&
			  cf_protect_record_of(p->slots, ring, cf_repo_id(s->repo),
					       cf_repo_config_hash(s->repo), e, &rec) == 0;
		size_t cnt = s->snaps ? ranges(s, e, rg, sizeof(rg)) : 0;
		int operator = has && (rec.mode == CF_MODE_STANDARD || rec.escrowed);
		if (!cf_keyring_get(ring, e))
			continue;
		if (operator && cnt && mode == CF_MODE_ADVANCED)
			kept += (int)cnt;
		json_array_append_new(epochs,
				      json_pack("{s:I,s:s,s:b,s:I,s:s}", "epoch", (json_int_t)e, "mode",
						has ? cf_prot_mode_name(rec.mode) : "unknown",
						"operator_can_read", operator, "snapshots",
						(json_int_t)cnt, "readers", readers(&rec, has)));
		if (!o->json && cnt)
			printf("    %s (epoch %u): %s\n", rg, e, readers(&rec, has));
	}
	nun = cf_unreadable_describe(s, unread, sizeof(unread));
	if (!o->json && nun)
		printf("    %s\n", unread);
	warn_none = mode == CF_MODE_LOCAL && !p->rec.has_recovery_key && !p->rec.has_contacts;
	if (!o->json && warn_none)
		printf("  Warning: the key of this repository has no escrow and no recovery method:"
		       " if your devices are lost, its backups are lost. Create a recovery key"
		       " (keyvault recovery-key create) or attach an account (keyvault mode"
		       " standard).\n");
	if (!o->json && kept)
		printf("  Note: %d snapshot(s) above were made while the key vault held their key:"
		       " its operator could still read them if it kept a copy (keyvault mode"
		       " advanced --reencrypt-history).\n", kept);
	j = json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:b,s:i}", "url", cf_repo_url(s->repo), "mode",
		      cf_prot_mode_name(mode), "epoch", (json_int_t)p->current, "newest_epoch",
		      (json_int_t)p->newest, "devices", devs, "epochs", epochs, "no_recovery_warning",
		      warn_none, "operator_readable_kept", kept);
	if (j) {
		json_object_set_new(j, "recovery_key", json_boolean(p->rec.has_recovery_key));
		json_object_set_new(j, "unreadable_snapshots", json_integer((json_int_t)nun));
		json_object_set_new(j, "contacts",
				    p->rec.has_contacts
					? json_pack("{s:I,s:I}", "k", (json_int_t)p->rec.k, "n",
						    (json_int_t)p->rec.n)
					: json_null());
	}
	return j;
}

static json_t *one_repo(const struct kv_opts *o, const char *url)
{
	struct cf_session_opts so;
	struct cf_session *s = NULL;
	struct cf_protect *p = NULL;
	json_t *j = NULL;
	int r;

	kv_session_opts(o, url, &so);
	r = cf_session_open(&s, &so);
	if (!r) {
		r = cf_session_load_snapshots(s);
		if (r == CF_E_ROLLBACK || r == CF_E_CORRUPT) {
			cf_log_warn("%s: snapshots not shown: %s", url, cf_strerror(r));
			cf_snapshots_free(s->snaps);
			s->snaps = NULL;
			r = 0;
		}
	}
	if (!r)
		r = cf_protect_load(&p, s);
	if (!r)
		j = repo_view(o, s, p);
	else if (!o->json)
		printf("\nRepository %s\n  cannot be opened: %s\n", url, cf_strerror(r));
	if (r)
		j = json_pack("{s:s,s:s}", "url", url, "error", cf_error_name(r));
	cf_protect_free(p);
	cf_session_free(s);
	return j;
}

static void keychain_repos(const struct kv_opts *o, const struct cf_keychain *kc, json_t *arr)
{
	struct cf_keychain_repo_info ri;
	char hex[CF_HEX_LEN(32)];
	size_t n = cf_keychain_repo_count(kc);

	if (!o->json)
		printf(n ? "Repositories:       %zu\n" : "Repositories:       none\n", n);
	for (size_t i = 0; cf_keychain_repo_info(kc, i, &ri) == 0; i++) {
		cf_encode_hex(hex, ri.repo_id, sizeof(ri.repo_id));
		json_array_append_new(
		    arr, json_pack("{s:s,s:o,s:I,s:o}", "repo_id", hex, "current_epoch",
				   ri.has_current ? json_integer(ri.current_epoch) : json_null(),
				   "epochs_held", (json_int_t)ri.epochs, "seen_seq",
				   ri.has_seen ? json_integer((json_int_t)ri.seen_seq) : json_null()));
		if (o->json)
			continue;
		printf("  %s\n    ", hex);
		if (ri.has_current)
			printf("current epoch %u", (unsigned)ri.current_epoch);
		else
			printf("no current epoch");
		printf(", %u epoch key%s held", (unsigned)ri.epochs, ri.epochs == 1 ? "" : "s");
		if (ri.has_seen)
			printf(", newest snapshot seen: #%llu", (unsigned long long)ri.seen_seq);
		putchar('\n');
	}
}

int kv_cmd_status(const struct kv_opts *o)
{
	struct cf_keychain *kc = NULL;
	struct cf_account *a = NULL;
	struct cf_pubid pub;
	uint8_t enc[CF_PUBID_ENCODED_BYTES];
	char fpr[CF_FINGERPRINT_LEN], b64[256];
	json_t *repos = json_array(), *views = json_array(), *j;
	int rc = kv_keychain(o, &kc), r;

	if (rc)
		goto out;
	r = cf_account_load(&a, o->state_dir);
	if (r) {
		rc = kv_fail(o, r, "read the account record in %s", o->state_dir);
		goto out;
	}
	cf_identity_public(cf_keychain_identity(kc), &pub);
	cf_pubid_fingerprint(&pub, fpr);
	cf_pubid_encode(&pub, enc);
	cf_encode_b64(b64, sizeof(b64), enc, sizeof(enc));
	if (!o->json) {
		printf("Keychain:           %s\n", cf_keychain_path(kc));
		printf("Passphrase:         %s\n", cf_keychain_has_passphrase(kc) ? "yes" : "no");
		printf("Device fingerprint: %s\n", fpr);
		if (a->server)
			printf("Account:            %s at %s (device #%lld)\n", a->name, a->server,
			       (long long)a->device);
		else
			printf("Account:            none (this device has no key vault account)\n");
	}
	keychain_repos(o, kc, repos);
	if (o->repo)
		json_array_append_new(views, one_repo(o, o->repo));
	else
		for (size_t i = 0; i < a->nrepos; i++)
			json_array_append_new(views, one_repo(o, a->repos[i].url));
	if (o->json) {
		j = json_pack("{s:s,s:s,s:b,s:s,s:s,s:O,s:O}", "state_dir", o->state_dir, "keychain",
			      cf_keychain_path(kc), "passphrase", cf_keychain_has_passphrase(kc),
			      "fingerprint", fpr, "public_identity", b64, "repositories", repos,
			      "protection", views);
		if (j)
			json_object_set_new(j, "account",
					    a->server ? json_pack("{s:s,s:s,s:I}", "name", a->name,
								  "server", a->server, "device",
								  (json_int_t)a->device)
						      : json_null());
		if (cf_cli_print_json(j))
			rc = kv_fail(NULL, -ENOMEM, "JSON output");
	}
out:
	json_decref(repos);
	json_decref(views);
	cf_account_free(a);
	cf_keychain_free(kc);
	return rc;
}
