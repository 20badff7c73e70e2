/* SPDX-License-Identifier: ISC */
#include "keyvault/witness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "keyvault/account.h"
#include "util/log.h"

#define WITNESS_MSG (32 + 8 + 1 + 32)

static void witness_msg(uint8_t msg[WITNESS_MSG], const uint8_t repo_id[32], uint64_t seq,
			const uint8_t id[32])
{
	memcpy(msg, repo_id, 32);
	for (int i = 0; i < 8; i++)
		msg[32 + i] = (uint8_t)(seq >> (8 * i));
	msg[40] = 32;
	memcpy(msg + 41, id, 32);
}

static void repo_path(char *out, size_t len, struct cf_session *s, const char *tail)
{
	char hex[CF_HEX_LEN(32)];

	cf_encode_hex(hex, cf_repo_id(s->repo), 32);
	snprintf(out, len, "/v1/repos/%s%s", hex, tail);
}

int cf_witness_post_with(struct cf_kvclient *c, struct cf_session *s, uint64_t seq,
			 const uint8_t id[32])
{
	const struct cf_identity *me = cf_keychain_identity(s->kc);
	uint8_t msg[WITNESS_MSG], sig[CF_SIGNATURE_BYTES];
	char path[128], bh[64], bs[64], bsig[128];
	struct cf_pubid pub;
	json_t *req;
	int r;

	cf_identity_public(me, &pub);
	witness_msg(msg, cf_repo_id(s->repo), seq, id);
	cf_identity_sign(me, "coffer-witness-v1", msg, sizeof(msg), sig);
	cf_encode_b64(bh, sizeof(bh), id, 32);
	cf_encode_b64(bs, sizeof(bs), pub.sign_pk, sizeof(pub.sign_pk));
	cf_encode_b64(bsig, sizeof(bsig), sig, sizeof(sig));
	req = json_pack("{s:I,s:s,s:s,s:s}", "sequence", (json_int_t)seq, "manifest_hash", bh,
			"signer", bs, "signature", bsig);
	if (!req)
		return -ENOMEM;
	repo_path(path, sizeof(path), s, "/witness");
	r = cf_kvclient_call(c, "PUT", path, req, NULL, NULL);
	json_decref(req);
	if (r == CF_E_NOTFOUND && strcmp(cf_kvclient_error_code(c), "unknown_repository") == 0)
		return 0; /* not attached to the account */
	if (r == CF_E_EXISTS) {
		cf_account_report(c, r, "freshness witness");
		return CF_E_ROLLBACK;
	}
	if (r)
		cf_account_report(c, r, "freshness witness");
	return r;
}

int cf_witness_post(struct cf_session *s, uint64_t seq, const uint8_t id[32])
{
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	int r = cf_account_load(&a, s->state_dir);

	if (r || !a->server || a->device <= 0) {
		cf_account_free(a);
		return r;
	}
	r = cf_account_connect(&c, a, s->kc, NULL, NULL);
	if (!r)
		r = cf_witness_post_with(c, s, seq, id);
	cf_kvclient_free(c);
	cf_account_free(a);
	return r;
}

/* 1 when @sign_pk is the signing key of a device in @s's trusted rosters. */
static int trusted_signer(struct cf_session *s, const uint8_t sign_pk[32], struct cf_pubid *who)
{
	size_t n = 0;
	const struct cf_pubid *v = cf_repo_signers(s->repo, &n);

	for (size_t i = 0; i < n; i++)
		if (cf_core_equal(v[i].sign_pk, sign_pk, 32)) {
			*who = v[i];
			return 1;
		}
	return 0;
}

static int witness_verify(struct cf_session *s, json_t *w, uint64_t *seq, uint8_t id[32])
{
	struct cf_secbuf *h = NULL, *signer = NULL, *sig = NULL;
	uint8_t msg[WITNESS_MSG];
	struct cf_pubid who;
	json_int_t sq = 0;
	int r = CF_E_FORMAT;

	if (json_unpack(w, "{s:I}", "sequence", &sq) != 0 || sq < 0)
		return CF_E_FORMAT;
	if (cf_kvclient_take_b64(w, "manifest_hash", 32, &h) ||
	    cf_kvclient_take_b64(w, "signer", 32, &signer) ||
	    cf_kvclient_take_b64(w, "signature", CF_SIGNATURE_BYTES, &sig))
		goto out;
	r = CF_E_UNTRUSTED;
	if (!trusted_signer(s, cf_secbuf_data(signer), &who)) {
		cf_log_warn("the key vault's freshness witness is signed by a device this"
			    " repository never trusted: ignored");
		goto out;
	}
	witness_msg(msg, cf_repo_id(s->repo), (uint64_t)sq, cf_secbuf_data(h));
	r = cf_pubid_verify(&who, "coffer-witness-v1", msg, sizeof(msg), cf_secbuf_data(sig));
	if (r) {
		cf_log_warn("the key vault's freshness witness has a bad signature: ignored");
		goto out;
	}
	*seq = (uint64_t)sq;
	memcpy(id, cf_secbuf_data(h), 32);
out:
	cf_secbuf_free(h);
	cf_secbuf_free(signer);
	cf_secbuf_free(sig);
	return r;
}

/* Is @id among the present manifests this device cannot read? */
static int newer_unreadable(const struct cf_chain *ch, const uint8_t id[32])
{
	for (size_t i = 0; i < ch->nopaque; i++)
		if (!ch->opaque[i].forget && cf_core_equal(ch->opaque[i].id, id, 32))
			return 1;
	return 0;
}

int cf_witness_check(struct cf_kvclient *c, struct cf_session *s)
{
	const struct cf_chain *ch = s->snaps ? cf_snapshots_chain(s->snaps) : NULL;
	uint8_t id[32];
	uint64_t seq = 0;
	char path[128];
	json_t *w = NULL;
	int r;

	repo_path(path, sizeof(path), s, "/witness");
	r = cf_kvclient_call(c, "GET", path, NULL, &w, NULL);
	if (r == CF_E_NOTFOUND)
		return 0; /* no witness yet, or a repository the account does not know */
	if (r) {
		cf_account_report(c, r, "read the freshness witness");
		return r;
	}
	r = witness_verify(s, w, &seq, id);
	json_decref(w);
	if (r)
		return r;
	if (ch && ch->unreadable_newer && newer_unreadable(ch, id)) {
		cf_log_warn("%s: the newest snapshot (#%llu, witnessed by the key vault) is sealed"
			    " under a key epoch this device does not hold",
			    cf_repo_url(s->repo), (unsigned long long)seq);
		return 0;
	}
	if (!ch || !ch->has_newest || ch->newest_seq < seq) {
		cf_log_err("%s is behind the key vault's freshness witness: a trusted device"
			   " made snapshot #%llu, but storage only has %s%llu: the newest snapshots"
			   " were deleted (rollback)",
			   cf_repo_url(s->repo), (unsigned long long)seq,
			   ch && ch->has_newest ? "up to #" : "#", ch && ch->has_newest
			   ? (unsigned long long)ch->newest_seq : 0ull);
		return CF_E_ROLLBACK;
	}
	if (seq > 0 && seq <= ch->n) {
		const struct cf_chain_entry *e = &ch->entries[seq - 1];
		if (e->seq == seq && !(e->flags & CF_CHAIN_ID_UNKNOWN) &&
		    !cf_core_equal(e->id, id, 32)) {
			cf_log_err("%s: snapshot #%llu differs from the one the key vault witnessed"
				   " (a forked or replaced history)",
				   cf_repo_url(s->repo), (unsigned long long)seq);
			return CF_E_ROLLBACK;
		}
	}
	return 0;
}

int cf_audit_new(const char *state_dir, const struct cf_keychain *kc, json_t **entries)
{
	struct cf_account *a = NULL;
	struct cf_kvclient *c = NULL;
	json_t *resp = NULL, *all = json_array();
	char path[96];
	json_int_t last;
	int r = all ? cf_account_load(&a, state_dir) : -ENOMEM;

	if (r || !a->server || a->device <= 0)
		goto out;
	r = cf_account_connect(&c, a, kc, NULL, NULL);
	for (int page = 0; !r && page < 100; page++) {
		json_t *list;
		snprintf(path, sizeof(path), "/v1/audit?since=%lld&limit=500",
			 (long long)a->audit_seen);
		r = cf_kvclient_call(c, "GET", path, NULL, &resp, NULL);
		if (r) {
			cf_account_report(c, r, "read the audit log");
			break;
		}
		list = json_object_get(resp, "entries");
		if (!json_is_array(list) || json_unpack(resp, "{s:I}", "last", &last) != 0) {
			r = CF_E_NETWORK;
			break;
		}
		json_array_extend(all, list);
		if (json_array_size(list) == 0 || last <= a->audit_seen) {
			json_decref(resp);
			resp = NULL;
			break;
		}
		a->audit_seen = last;
		json_decref(resp);
		resp = NULL;
	}
	if (!r && json_array_size(all))
		r = cf_account_save(a);
out:
	json_decref(resp);
	cf_kvclient_free(c);
	cf_account_free(a);
	if (r) {
		json_decref(all);
		return r;
	}
	*entries = all;
	return 0;
}

void cf_audit_describe(const json_t *e, char *buf, size_t len)
{
	json_int_t at = 0, id = 0, epoch = -1;
	const char *event = "?", *actor = NULL, *addr = NULL, *repo = NULL;
	json_t *detail = NULL;
	char when[32] = "?";
	struct tm tm;
	size_t o;
	time_t t;

	id = json_integer_value(json_object_get(e, "id"));
	at = json_integer_value(json_object_get(e, "at"));
	if (json_string_value(json_object_get(e, "event")))
		event = json_string_value(json_object_get(e, "event"));
	actor = json_string_value(json_object_get(e, "actor"));
	addr = json_string_value(json_object_get(e, "address"));
	detail = json_object_get(e, "detail");
	if (json_is_object(detail)) {
		repo = json_string_value(json_object_get(detail, "repo"));
		if (json_is_integer(json_object_get(detail, "epoch")))
			epoch = json_integer_value(json_object_get(detail, "epoch"));
	}
	t = (time_t)at;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	snprintf(buf, len, "#%lld %s %s", (long long)id, when, event);
	o = strlen(buf);
	if (actor && o < len)
		o += (size_t)snprintf(buf + o, len - o, " by %s", actor);
	if (addr && o < len)
		o += (size_t)snprintf(buf + o, len - o, " from %s", addr);
	if (repo && o < len)
		o += (size_t)snprintf(buf + o, len - o, " (repository %.12s", repo);
	if (repo && epoch >= 0 && o < len)
		o += (size_t)snprintf(buf + o, len - o, ", epoch %lld", (long long)epoch);
	if (repo && o < len)
		snprintf(buf + o, len - o, ")");
}
