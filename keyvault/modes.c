/* SPDX-License-Identifier: ISC */
/*
 * Protection changes (keyvault/modes.h). The order in every change: the repository's
 * slots first (a new epoch is complete before anything points at it), then the keychain,
 * then the key vault; a failure leaves a state the same command can finish.
 */
#include "keyvault/modes.h"
#include "keyvault/modes_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/recoverykey.h"
#include "keyvault/contacts.h"
#include "keyvault/history.h"
#include "keyvault/kvapi.h"
#include "repo/keyslot.h"
#include "util/log.h"

void cf_change_say(struct cf_change *ch, const char *fmt, ...)
{
	va_list ap;

	if (!ch || ch->n >= CF_CHANGE_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(ch->line[ch->n++], sizeof(ch->line[0]), fmt, ap);
	va_end(ap);
}

static const uint8_t *rid(const struct cf_modes_ctx *m)
{
	return cf_repo_id(m->s->repo);
}

static const char *url(const struct cf_modes_ctx *m)
{
	return cf_repo_url(m->s->repo);
}

int cf_modes_load(struct cf_modes_ctx *m, struct cf_protect **p)
{
	int r = cf_protect_load(p, m->s);

	if (r)
		cf_log_err("%s: cannot read its key slots: %s", url(m), cf_strerror(r));
	return r;
}

enum cf_prot_mode cf_modes_mode_of(const struct cf_protect *p)
{
	return p->has_record ? p->rec.mode : CF_MODE_LOCAL;
}

/* The current record as the base of a new one (a fresh local record when none). */
void cf_modes_base_rec(const struct cf_modes_ctx *m, const struct cf_protect *p,
		     struct cf_protection *rec, const char *reason)
{
	if (p->has_record)
		*rec = p->rec;
	else
		memset(rec, 0, sizeof(*rec));
	rec->escrowed = 0;
	snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
	if (m->acct && m->acct->server && m->acct->name) {
		snprintf(rec->server, sizeof(rec->server), "%s", m->acct->server);
		snprintf(rec->account, sizeof(rec->account), "%s", m->acct->name);
	}
}

int cf_modes_reopen(struct cf_modes_ctx *m)
{
	int r;

	cf_session_free(m->s);
	m->s = NULL;
	r = cf_session_open(&m->s, &m->so);
	if (r)
		cf_log_err("cannot reopen %s after the change: %s", m->so.repo_url, cf_strerror(r));
	return r;
}

/* The key vault's side of epoch @e: mode and epoch, and the escrow in standard mode. */
int cf_modes_server_epoch(struct cf_modes_ctx *m, enum cf_prot_mode mode, uint32_t e,
			const uint8_t mk[32], json_t **resp)
{
	int r;

	if (mode == CF_MODE_LOCAL)
		return 0;
	if (!m->c) {
		cf_log_err("this change needs the key vault: this device has no account, or"
			   " --password-file / device login failed");
		return CF_E_CONFIG;
	}
	r = cf_kvapi_repo_put(m->c, rid(m), cf_prot_mode_name(mode), e, resp);
	if (r) {
		cf_account_report(m->c, r, "tell the key vault about the new key epoch");
		return r;
	}
	if (mode != CF_MODE_STANDARD)
		return 0;
	r = cf_kvapi_escrow_put(m->c, rid(m), e, mk);
	if (r == CF_E_EXISTS && strcmp(cf_kvclient_error_code(m->c), "escrow_exists") == 0)
		r = 0;
	if (r)
		cf_account_report(m->c, r, "escrow the key");
	return r;
}

/*
 * A new epoch for the devices @devs with record @rec, then the key vault, then the
 * session reopened under it; *@p is replaced by the new state.
 */
int cf_modes_rotate(struct cf_modes_ctx *m, struct cf_protect **p, struct cf_protection *rec,
		  const struct cf_pubid *devs, size_t n, uint32_t *epoch, json_t **resp)
{
	struct cf_epoch_spec spec = {.devices = devs, .ndevices = n, .rec = *rec};
	struct cf_secbuf *mk = NULL;
	uint32_t e = 0;
	int r;

	spec.link_prev = rec->mode == CF_MODE_STANDARD && cf_modes_mode_of(*p) == CF_MODE_STANDARD;
	spec.rec.escrowed = 0;
	r = cf_protect_new_epoch(*p, &spec, &e, &mk);
	if (!r)
		r = cf_modes_server_epoch(m, rec->mode, e, cf_secbuf_data(mk), resp);
	cf_secbuf_free(mk);
	cf_protect_free(*p);
	*p = NULL;
	if (!r)
		r = cf_modes_reopen(m);
	if (!r)
		r = cf_modes_load(m, p);
	if (!r && rec->mode == CF_MODE_STANDARD) {
		*rec = (*p)->rec;
		rec->escrowed = 1;
		r = cf_protect_put_record(*p, e, rec);
	}
	if (!r)
		*epoch = e;
	return r;
}

static int links_to_older(struct cf_modes_ctx *m, struct cf_protect *p, unsigned *nlinks)
{
	const struct cf_keyring *ring = cf_repo_keyring(m->s->repo);
	const struct cf_repokeys *cur = cf_keyring_get(ring, p->current);
	int r = 0;

	*nlinks = 0;
	for (uint32_t e = 1; e < p->current && !r; e++) {
		const struct cf_repokeys *k = cf_keyring_get(ring, e);
		struct cf_protection rec;
		uint8_t *slot = NULL;
		size_t len = 0;
		if (!k)
			continue;
		if (cf_protect_record_of(p->slots, ring, rid(m), cf_repo_config_hash(m->s->repo), e,
					 &rec) == 0 &&
		    rec.mode == CF_MODE_ADVANCED)
			continue; /* never expose an epoch made under advanced protection */
		r = cf_slots_link_create(&slot, &len, cur, rid(m), cf_repo_config_hash(m->s->repo), e,
					 cf_repokeys_master(k));
		if (!r)
			r = cf_slotlist_store(m->s->repo, p->slots, slot, len);
		free(slot);
		if (!r)
			(*nlinks)++;
	}
	return r;
}

int cf_modes_standard(struct cf_modes_ctx *m)
{
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	enum cf_prot_mode was;
	uint32_t e = 0;
	unsigned nl = 0;
	int r = cf_modes_load(m, &p);

	if (r)
		return r;
	was = cf_modes_mode_of(p);
	if (!m->c) {
		r = cf_modes_server_epoch(m, CF_MODE_STANDARD, 0, NULL, NULL);
		goto out;
	}
	cf_modes_base_rec(m, p, &rec, "mode-standard");
	rec.mode = CF_MODE_STANDARD;
	if (was == CF_MODE_ADVANCED) {
		r = cf_modes_rotate(m, &p, &rec, p->roster->ids, p->roster->n, &e, NULL);
		if (!r)
			cf_change_say(m->ch, "%s: advanced -> standard protection. New key epoch %u;"
				      " the key vault now holds a copy of its key. Snapshots made under"
				      " advanced protection stay unreadable to the key vault operator.",
				      url(m), e);
		goto out;
	}
	e = p->current;
	r = cf_modes_server_epoch(m, CF_MODE_STANDARD, e,
			 cf_repokeys_master(cf_keyring_get(cf_repo_keyring(m->s->repo), e)), NULL);
	if (!r && was == CF_MODE_LOCAL)
		r = links_to_older(m, p, &nl);
	rec.escrowed = 1;
	if (!r)
		r = cf_protect_put_record(p, e, &rec);
	if (!r && was == CF_MODE_LOCAL)
		cf_change_say(m->ch, "%s: local -> standard protection. The key vault %s (account"
			      " %s) now holds a copy of the key of epoch %u%s%s%s", url(m),
			      m->acct->server, m->acct->name, e,
			      nl ? ", linked to the " : "", nl ? "earlier epochs" : "",
			      ": the account password alone can recover every snapshot.");
	else if (!r)
		cf_change_say(m->ch, "%s: already in standard protection; the key of epoch %u is"
			      " escrowed with the key vault.", url(m), e);
out:
	cf_protect_free(p);
	return r;
}

/* Confirm from the audit log that entry @id is the escrow deletion. */
static int audit_confirms(struct cf_modes_ctx *m, json_int_t id)
{
	json_t *resp = NULL, *e;
	char path[96];
	size_t i;
	int found = 0;

	snprintf(path, sizeof(path), "/v1/audit?since=%lld&limit=10", (long long)(id - 1));
	if (cf_kvclient_call(m->c, "GET", path, NULL, &resp, NULL) != 0)
		return 0;
	json_array_foreach(json_object_get(resp, "entries"), i, e)
	{
		const char *ev = json_string_value(json_object_get(e, "event"));
		if (json_integer_value(json_object_get(e, "id")) == id && ev &&
		    strcmp(ev, "escrow-delete") == 0)
			found = 1;
	}
	json_decref(resp);
	return found;
}

static void report_escrow_deleted(struct cf_modes_ctx *m, json_t *resp)
{
	json_t *del = json_object_get(resp, "escrow_deleted"), *d, *a;
	json_int_t audit_id = 0;
	size_t i;

	json_array_foreach(json_object_get(resp, "audit"), i, a)
	{
		if (audit_confirms(m, json_integer_value(a)))
			audit_id = json_integer_value(a);
	}
	if (json_array_size(del) == 0) {
		cf_change_say(m->ch, "The key vault held no copy of a key of %s any more.", url(m));
		return;
	}
	json_array_foreach(del, i, d)
	{
		cf_change_say(m->ch, "The key vault deleted its copy of the key of epoch %lld%s%lld%s",
			      (long long)json_integer_value(json_object_get(d, "epoch")),
			      audit_id ? " (confirmed by its answer and by audit entry #" : "",
			      (long long)audit_id,
			      audit_id ? ", escrow-delete)." : " (its answer; no audit entry found!).");
		if (!audit_id)
			cf_log_warn("the key vault's audit log does not show the escrow deletion");
	}
}

/* Epochs below the current one whose key the key vault held (record: escrowed/standard). */
static void retired_epochs(struct cf_modes_ctx *m, struct cf_protect *p, uint8_t *sel)
{
	const struct cf_keyring *ring = cf_repo_keyring(m->s->repo);
	struct cf_protection rec;

	for (uint32_t e = 1; e < p->current; e++)
		sel[e] = cf_protect_record_of(p->slots, ring, rid(m), cf_repo_config_hash(m->s->repo),
					      e, &rec) == 0 &&
			 (rec.escrowed || rec.mode == CF_MODE_STANDARD);
}

static uint64_t count_in(struct cf_session *s, const uint8_t *sel, uint32_t n)
{
	uint64_t c = 0;

	for (size_t i = 0; s->snaps && i < cf_snapshots_count(s->snaps); i++) {
		uint32_t e = cf_snapshots_get(s->snaps, i)->epoch;
		c += e <= n && sel[e];
	}
	return c;
}

static int history(struct cf_modes_ctx *m, const uint8_t *sel, uint32_t n, enum cf_history h)
{
	struct cf_history_sel hs = {sel, n};
	struct cf_history_stats st;
	uint64_t cnt;
	int r = cf_session_load_snapshots(m->s);

	if (r)
		return r;
	cnt = count_in(m->s, sel, n);
	if (h == CF_HISTORY_KEEP || (h == CF_HISTORY_UNSET && !cnt)) {
		if (cnt)
			cf_change_say(m->ch, "Kept %llu earlier snapshots as they are: the key vault"
				      " operator could still read them if it kept a copy of their key"
				      " (keyvault status lists them).", (unsigned long long)cnt);
		return 0;
	}
	r = cf_history_rewrite(m->s, &hs, h == CF_HISTORY_REENCRYPT, &st);
	if (!r && h == CF_HISTORY_REENCRYPT)
		cf_change_say(m->ch, "Re-encrypted %llu earlier snapshots under the new epoch and"
			      " forgot the originals; deleted %llu packs and %llu indexes of the"
			      " escrowed epochs.", (unsigned long long)st.snapshots,
			      (unsigned long long)st.packs, (unsigned long long)st.indexes);
	else if (!r)
		cf_change_say(m->ch, "Forgot %llu earlier snapshots and deleted %llu packs and %llu"
			      " indexes of the escrowed epochs.", (unsigned long long)st.snapshots,
			      (unsigned long long)st.packs, (unsigned long long)st.indexes);
	return r;
}

int cf_modes_advanced(struct cf_modes_ctx *m, enum cf_history h)
{
	struct cf_protect *p = NULL;
	struct cf_protection rec;
	json_t *resp = NULL;
	uint8_t *sel = NULL;
	uint32_t e = 0, n;
	int r = cf_modes_load(m, &p);

	if (r)
		return r;
	if (!p->rec.has_recovery_key && !p->rec.has_contacts) {
		cf_log_err("advanced protection needs a recovery method first: the key vault will"
			   " not be able to help. Run 'keyvault recovery-key create' or 'keyvault"
			   " contact add'");
		r = CF_E_UNSAFE;
		goto out;
	}
	cf_modes_base_rec(m, p, &rec, "mode-advanced");
	rec.mode = CF_MODE_ADVANCED;
	if (cf_modes_mode_of(p) != CF_MODE_STANDARD) {
		if (cf_modes_mode_of(p) == CF_MODE_LOCAL && m->c)
			r = cf_modes_server_epoch(m, CF_MODE_ADVANCED, p->current, NULL, &resp);
		if (!r && cf_modes_mode_of(p) == CF_MODE_LOCAL)
			r = cf_protect_put_record(p, p->current, &rec);
		if (!r)
			cf_change_say(m->ch, "%s: %s advanced protection: only your devices and"
				      " recovery methods can read it.", url(m),
				      cf_modes_mode_of(p) == CF_MODE_ADVANCED ? "already in" : "now in");
		if (!r && resp)
			report_escrow_deleted(m, resp);
		goto out;
	}
	n = p->current;
	sel = calloc(n + 1, 1);
	if (!sel) {
		r = -ENOMEM;
		goto out;
	}
	retired_epochs(m, p, sel);
	sel[n] = 1; /* the current epoch is escrowed too, and retired by this switch */
	r = cf_session_load_snapshots(m->s);
	if (!r && h == CF_HISTORY_UNSET && count_in(m->s, sel, n)) {
		cf_log_err("%s has %llu snapshots the key vault operator can read: choose"
			   " --reencrypt-history, --forget-history or --keep-history",
			   url(m), (unsigned long long)count_in(m->s, sel, n));
		r = CF_E_CONFIG;
	}
	if (!r)
		r = cf_modes_rotate(m, &p, &rec, p->roster->ids, p->roster->n, &e, &resp);
	if (r)
		goto out;
	cf_change_say(m->ch, "%s: standard -> advanced protection. New key epoch %u, sealed only"
		      " to your %zu trusted device(s) and your recovery methods; later backups"
		      " never reuse data of an escrowed epoch.", url(m), e, p->roster->n);
	report_escrow_deleted(m, resp);
	r = history(m, sel, n, h);
out:
	json_decref(resp);
	free(sel);
	cf_protect_free(p);
	return r;
}
