/* SPDX-License-Identifier: ISC */
/* Unreadable snapshots in plain words (keyvault/unreadable.h). */
#include "keyvault/unreadable.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keyvault/slotlist.h"
#include "keyvault/slots.h"
#include "repo/chain.h"
#include "repo/keyslot.h"
#include "repo/snapshots.h"

#define MAX_EPOCHS 64 /* named one by one; more are summed up */

struct out {
	char *buf;
	size_t len, at;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->at >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->at, o->len - o->at, fmt, ap);
	va_end(ap);
	o->at = n < 0 ? o->len : o->at + (size_t)n;
}

/* The sequences the chain places in unreadable runs, as ranges "#a-#b". */
static void put_sequences(struct out *o, const struct cf_chain *c)
{
	int first = 1;

	for (size_t i = 0; i < c->n; i++) {
		size_t j = i;
		if (!(c->entries[i].flags & CF_CHAIN_UNREADABLE))
			continue;
		while (j + 1 < c->n && (c->entries[j + 1].flags & CF_CHAIN_UNREADABLE))
			j++;
		put(o, "%s#%llu", first ? "" : ", ", (unsigned long long)c->entries[i].seq);
		if (j > i)
			put(o, "-#%llu", (unsigned long long)c->entries[j].seq);
		first = 0;
		i = j;
	}
	if (c->unreadable_newer && c->has_newest)
		put(o, "%s%zu newer than #%llu", first ? "" : ", and ", c->unreadable_newer,
		    (unsigned long long)c->newest_seq);
	else if (c->unreadable_newer)
		put(o, "%s%zu whose sequence numbers this device cannot know", first ? "" : ", and ",
		    c->unreadable_newer);
}

/*
 * Can the method of slot @kind reach every epoch in @ep? Its slot sits at the epoch the
 * method was set up in; later epochs are wrapped to its identity like to a device
 * (cf_protect_follow), so a slot at or below the epoch is the sign. (*@k, *@n: a contacts
 * slot's counts.)
 */
static int covers(const struct cf_slotlist *sl, const uint32_t *ep, size_t nep, uint8_t kind,
		  unsigned *k, unsigned *n)
{
	for (size_t e = 0; e < nep; e++) {
		int found = 0;
		for (size_t i = 0; i < sl->n && !found; i++) {
			struct cf_keyslot ks;
			if (cf_keyslot_parse(&ks, sl->b[i], sl->len[i]) != 0 || ks.kind != kind ||
			    ks.epoch > ep[e])
				continue;
			found = kind != CF_SLOT_CONTACTS ||
				cf_slots_contacts_info(sl->b[i], sl->len[i], k, n, NULL) == 0;
		}
		if (!found)
			return 0;
	}
	return nep > 0;
}

static void put_methods(struct out *o, struct cf_session *s, const uint32_t *ep, size_t nep)
{
	struct cf_slotlist *sl = NULL;
	unsigned k = 0, n = 0;
	int rk = 0, ct = 0;

	if (cf_slotlist_load(&sl, s->repo) == 0) {
		rk = covers(sl, ep, nep, CF_SLOT_RECOVERY_KEY, &k, &n);
		ct = covers(sl, ep, nep, CF_SLOT_CONTACTS, &k, &n);
	}
	cf_slotlist_free(sl);
	if (rk && ct)
		put(o, " Recovering with the recovery key, or with %u of the %u recovery contacts"
		    " and the account password, would open them", k, n);
	else if (rk)
		put(o, " Recovering with the recovery key would open them");
	else if (ct)
		put(o, " Recovering with %u of the %u recovery contacts and the account password"
		    " would open them", k, n);
	if (rk || ct)
		put(o, " (restore recover on another device), as would a device that still holds"
		    " those keys.");
	else
		put(o, " No recovery key or recovery contacts of the repository open them: only a"
		    " device that still holds those keys can.");
}

size_t cf_unreadable_describe(struct cf_session *s, char *buf, size_t len)
{
	const struct cf_chain_opaque *op = NULL;
	const struct cf_chain *c;
	struct out o = {buf, len, 0};
	uint32_t ep[MAX_EPOCHS];
	size_t no, nep = 0, nm = 0, more = 0;

	if (len)
		buf[0] = '\0';
	if (!s || !s->snaps)
		return 0;
	c = cf_snapshots_chain(s->snaps);
	no = cf_snapshots_unreadable(s->snaps, &op);
	for (size_t i = 0; i < no; i++) {
		size_t j = 0;
		if (op[i].forget)
			continue;
		nm++;
		while (j < nep && ep[j] != op[i].epoch)
			j++;
		if (j == nep && nep < MAX_EPOCHS)
			ep[nep++] = op[i].epoch;
		else if (j == nep)
			more++;
	}
	if (!nm)
		return 0;
	for (size_t i = 1; i < nep; i++) /* ascending, for people */
		for (size_t j = i; j > 0 && ep[j - 1] > ep[j]; j--) {
			uint32_t t = ep[j];
			ep[j] = ep[j - 1];
			ep[j - 1] = t;
		}
	put(&o, "%zu snapshot%s (", nm, nm == 1 ? "" : "s");
	put_sequences(&o, c);
	put(&o, ") %s in the repository but this device cannot read %s: %s sealed under key"
	    " epoch%s ", nm == 1 ? "is" : "are", nm == 1 ? "it" : "them",
	    nm == 1 ? "it is" : "they are", nep + more == 1 ? "" : "s");
	for (size_t i = 0; i < nep; i++)
		put(&o, "%s%u", i ? ", " : "", ep[i]);
	if (more)
		put(&o, " and %zu more", more);
	put(&o, ", whose keys this device was not given (the key vault's escrow opens only"
	    " the epoch of standard protection that it holds).");
	put_methods(&o, s, ep, more ? 0 : nep);
	return nm;
}
