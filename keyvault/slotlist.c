/* SPDX-License-Identifier: ISC */
#include "keyvault/slotlist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "repo/keyslot.h"
#include "repo/object.h"
#include "util/log.h"

#define SLOT_MAX (CF_KEYSLOT_HEADER_BYTES + CF_KEYSLOT_MAX_BODY)

struct load_ctx {
	struct cf_repo *r;
	struct cf_slotlist *s;
	int err;
};

static int append(struct cf_slotlist *s, uint8_t *buf, size_t len, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		uint8_t **b = realloc(s->b, cap * sizeof(*b));
		size_t *l;
		char(*nm)[CF_STORAGE_NAME_MAX];

		if (!b)
			return -ENOMEM;
		s->b = b;
		l = realloc(s->len, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		s->len = l;
		nm = realloc(s->name, cap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		s->name = nm;
		s->cap = cap;
	}
	s->b[s->n] = buf;
	s->len[s->n] = len;
	snprintf(s->name[s->n], CF_STORAGE_NAME_MAX, "%s", name);
	s->n++;
	return 0;
}

static int load_cb(void *ctx, const char *name, uint64_t size)
{
	struct load_ctx *c = ctx;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	(void)size;
	if (c->s->n >= CF_SLOTLIST_MAX)
		return 0;
	r = cf_storage_get_buf(cf_repo_storage(c->r), name, &buf, &len, SLOT_MAX);
	if (r == CF_E_LIMIT || r == CF_E_NOTFOUND) {
		cf_log_warn("%s: %s skipped: %s", cf_repo_url(c->r), name, cf_strerror(r));
		return 0;
	}
	if (!r) {
		r = append(c->s, buf, len, name);
		if (r)
			free(buf);
	}
	if (r)
		c->err = r;
	return r;
}

int cf_slotlist_load(struct cf_slotlist **out, struct cf_repo *r)
{
	struct cf_slotlist *s = calloc(1, sizeof(*s));
	struct load_ctx c = {.r = r, .s = s};
	int rc;

	if (!s)
		return -ENOMEM;
	rc = cf_storage_list(cf_repo_storage(r), "keys/", load_cb, &c);
	if (c.err)
		rc = c.err;
	if (rc) {
		cf_slotlist_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cf_slotlist_free(struct cf_slotlist *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->b[i]);
	free(s->b);
	free(s->len);
	free(s->name);
	free(s);
}

int cf_slotlist_store(struct cf_repo *r, struct cf_slotlist *s, const uint8_t *bytes, size_t len)
{
	char name[CF_STORAGE_NAME_MAX];
	uint8_t id[32], *copy;
	int rc;

	cf_object_id(bytes, len, id);
	cf_repo_object_name(name, "keys", id);
	rc = cf_storage_put_buf(cf_repo_storage(r), name, bytes, len);
	if (rc == CF_E_EXISTS)
		rc = 0;
	if (rc) {
		cf_log_err("%s: cannot store key slot %s: %s", cf_repo_url(r), name, cf_strerror(rc));
		return rc;
	}
	if (!s)
		return 0;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, bytes, len);
	rc = append(s, copy, len, name);
	if (rc)
		free(copy);
	return rc;
}

int cf_slotlist_delete(struct cf_repo *r, struct cf_slotlist *s, size_t i)
{
	int rc = cf_storage_delete(cf_repo_storage(r), s->name[i]);

	if (rc == CF_E_NOTFOUND)
		rc = 0;
	if (rc) {
		cf_log_err("%s: cannot delete %s: %s", cf_repo_url(r), s->name[i], cf_strerror(rc));
		return rc;
	}
	free(s->b[i]);
	s->n--;
	s->b[i] = s->b[s->n];
	s->len[i] = s->len[s->n];
	memcpy(s->name[i], s->name[s->n], CF_STORAGE_NAME_MAX);
	return 0;
}
