/* SPDX-License-Identifier: ISC */
/*
 * The JSON bodies of manifests and forget records (docs/repository-manifests.md, "Body
 * fields"). Writing: canonical JSON (compact, keys sorted). Reading: untrusted even
 * after the signature verified (a buggy or compromised trusted device), so every field
 * is checked for presence, type, range and length; unknown keys are ignored (forward
 * compatibility), duplicate keys refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/encode.h"
#include "core/error.h"
#include "repo/manifest_impl.h"
#include "util/log.h"

/* First bytes of a zstd frame (RFC 8878): a body a later build may compress. */
static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* ---- writing ------------------------------------------------------------------------ */

static int set_new(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int set_uint(json_t *obj, const char *key, uint64_t v)
{
	if (v > CF_MANIFEST_MAX_INT)
		return CF_E_INVAL;
	return set_new(obj, key, json_integer((json_int_t)v));
}

/* A string field: valid UTF-8 (checked by jansson), no NUL, @min..@max bytes. */
static json_t *string_value(const char *s, size_t min, size_t max, int *r)
{
	size_t n;
	json_t *v;

	if (!s) {
		*r = CF_E_INVAL;
		return NULL;
	}
	n = strnlen(s, max + 1);
	if (n < min || n > max) {
		*r = CF_E_INVAL;
		return NULL;
	}
	v = json_string(s);
	if (!v)
		*r = CF_E_INVAL; /* not UTF-8 (or, rarely, out of memory) */
	return v;
}

static int set_string(json_t *obj, const char *key, const char *s, size_t min, size_t max)
{
	int r = 0;
	json_t *v = string_value(s, min, max, &r);

	if (!v)
		return r;
	return set_new(obj, key, v);
}

static json_t *id_value(const uint8_t id[CF_MANIFEST_ID_BYTES])
{
	char hex[CF_HEX_LEN(CF_MANIFEST_ID_BYTES)];

	cf_encode_hex(hex, id, CF_MANIFEST_ID_BYTES);
	return json_string(hex);
}

static int set_opt_id(json_t *obj, const char *key, int has, const uint8_t *id)
{
	return set_new(obj, key, has ? id_value(id) : json_null());
}

/* Serialise @root canonically into *@out / *@len (consumes @root). */
static int dump(char **out, size_t *len, json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(root);
	if (!s)
		return -ENOMEM;
	*len = strlen(s);
	*out = s;
	return 0;
}

static int add_trees(json_t *root, const struct cf_manifest *m)
{
	json_t *a = json_array();
	int r;

	r = set_new(root, "trees", a);
	if (r)
		return r;
	if (m->ntrees && !m->trees)
		return CF_E_INVAL;
	for (size_t i = 0; i < m->ntrees; i++)
		if (json_array_append_new(a, id_value(m->trees + 32 * i)) != 0)
			return -ENOMEM;
	return 0;
}

static int add_vanished(json_t *root, const struct cf_manifest *m)
{
	json_t *a = json_array();
	int r;

	r = set_new(root, "vanished", a);
	if (r)
		return r;
	if (m->nvanished && !m->vanished)
		return CF_E_INVAL;
	for (size_t i = 0; i < m->nvanished; i++) {
		json_t *v = string_value(m->vanished[i], 1, CF_MANIFEST_MAX_PATH, &r);

		if (!v)
			return r;
		if (json_array_append_new(a, v) != 0)
			return -ENOMEM;
	}
	return 0;
}

static int add_db(json_t *root, const struct cf_manifest *m)
{
	const struct cf_manifest_db *d = &m->db;
	json_t *o;
	int r;

	if (!m->has_db)
		return set_new(root, "db", json_null());
	if (d->page_size < 512 || d->page_size > 65536 || (d->page_size & (d->page_size - 1)))
		return CF_E_INVAL;
	o = json_object();
	r = set_new(root, "db", o);
	if (!r)
		r = set_string(o, "path", d->path, 1, CF_MANIFEST_MAX_PATH);
	if (!r)
		r = set_uint(o, "page_size", d->page_size);
	if (!r)
		r = set_uint(o, "pages", d->pages);
	return r;
}

int cf_manifest_to_json(char **out, size_t *len, const struct cf_manifest *m)
{
	json_t *root;
	int r;

	if (!out || !len || !m)
		return CF_E_INVAL;
	if (m->seq < 1)
		return CF_E_INVAL;
	if (m->ntrees > CF_MANIFEST_MAX_TREES || m->nvanished > CF_MANIFEST_MAX_VANISHED)
		return CF_E_LIMIT;
	root = json_object();
	if (!root)
		return -ENOMEM;
	r = set_uint(root, "seq", m->seq);
	if (!r)
		r = set_opt_id(root, "prev", m->has_prev, m->prev);
	if (!r)
		r = set_uint(root, "time", m->time);
	if (!r)
		r = set_string(root, "host", m->host, 0, CF_MANIFEST_MAX_HOST);
	if (!r)
		r = set_string(root, "store", m->store, 1, CF_MANIFEST_MAX_PATH);
	if (!r)
		r = add_trees(root, m);
	if (!r)
		r = set_uint(root, "files", m->files);
	if (!r)
		r = set_uint(root, "bytes", m->bytes);
	if (!r)
		r = set_uint(root, "new_bytes", m->new_bytes);
	if (!r)
		r = set_uint(root, "stored_bytes", m->stored_bytes);
	if (!r)
		r = add_vanished(root, m);
	if (!r)
		r = add_db(root, m);
	if (r) {
		json_decref(root);
		return r;
	}
	return dump(out, len, root);
}

int cf_forget_to_json(char **out, size_t *len, const struct cf_forget *f)
{
	json_t *root;
	int r;

	if (!out || !len || !f)
		return CF_E_INVAL;
	if (f->seq < 1)
		return CF_E_INVAL;
	root = json_object();
	if (!root)
		return -ENOMEM;
	r = set_uint(root, "seq", f->seq);
	if (!r)
		r = set_new(root, "manifest", id_value(f->manifest));
	if (!r)
		r = set_opt_id(root, "prev", f->has_prev, f->prev);
	if (!r)
		r = set_uint(root, "time", f->time);
	if (r) {
		json_decref(root);
		return r;
	}
	return dump(out, len, root);
}

/* ---- reading ------------------------------------------------------------------------ */

/* Every "bad field" path logs once, at debug level: the caller reports CF_E_CORRUPT. */
static int bad(const char *what, const char *key)
{
	cf_log_debug("%s: field \"%s\" missing or invalid", what, key);
	return CF_E_CORRUPT;
}

static int get_uint(const json_t *obj, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!json_is_integer(v))
		return bad("body", key);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return bad("body", key);
	*out = (uint64_t)i;
	return 0;
}

/* A JSON string value of @min..@max bytes without NUL; *@out a malloc'ed copy. */
static int string_copy(const json_t *v, size_t min, size_t max, char **out)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return CF_E_CORRUPT;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < min || n > max || strlen(s) != n)
		return CF_E_CORRUPT;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int get_string(const json_t *obj, const char *key, size_t min, size_t max, char **out)
{
	int r = string_copy(json_object_get(obj, key), min, max, out);

	return r == CF_E_CORRUPT ? bad("body", key) : r;
}

/* A manifest id: exactly 64 lower-case hex digits. */
static int id_parse(const json_t *v, uint8_t id[CF_MANIFEST_ID_BYTES])
{
	const char *s;

	if (!json_is_string(v) || json_string_length(v) != 2 * CF_MANIFEST_ID_BYTES)
		return CF_E_CORRUPT;
	s = json_string_value(v);
	for (size_t i = 0; i < 2 * CF_MANIFEST_ID_BYTES; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return CF_E_CORRUPT;
	return cf_encode_unhex(id, CF_MANIFEST_ID_BYTES, s) == 0 ? 0 : CF_E_CORRUPT;
}

static int get_id(const json_t *obj, const char *key, uint8_t id[CF_MANIFEST_ID_BYTES])
{
	return id_parse(json_object_get(obj, key), id) ? bad("body", key) : 0;
}

/* "key": null or an id; the key itself is required. */
static int get_opt_id(const json_t *obj, const char *key, int *has,
		      uint8_t id[CF_MANIFEST_ID_BYTES])
{
	json_t *v = json_object_get(obj, key);

	if (json_is_null(v)) {
		*has = 0;
		return 0;
	}
	if (id_parse(v, id))
		return bad("body", key);
	*has = 1;
	return 0;
}

/* Parse one JSON object from an untrusted body; *@root on success. */
static int load(json_t **root, const char *json, size_t len)
{
	json_error_t err;
	json_t *j;

	if (!json)
		return CF_E_INVAL;
	if (len >= sizeof(zstd_magic) && memcmp(json, zstd_magic, sizeof(zstd_magic)) == 0) {
		cf_log_debug("body: zstd frame (compressed bodies are not read by this build)");
		return CF_E_VERSION;
	}
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		cf_log_debug("body: not JSON: %s", err.text);
		return CF_E_CORRUPT;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return bad("body", "(top level)");
	}
	*root = j;
	return 0;
}

static int read_trees(struct cf_manifest *m, const json_t *root)
{
	json_t *a = json_object_get(root, "trees");
	size_t n;

	if (!json_is_array(a))
		return bad("manifest", "trees");
	n = json_array_size(a);
	if (n > CF_MANIFEST_MAX_TREES)
		return bad("manifest", "trees");
	m->trees = malloc(n ? 32 * n : 1);
	if (!m->trees)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (id_parse(json_array_get(a, i), m->trees + 32 * i))
			return bad("manifest", "trees");
		m->ntrees = i + 1;
	}
	return 0;
}

static int read_vanished(struct cf_manifest *m, const json_t *root)
{
	json_t *a = json_object_get(root, "vanished");
	size_t n;
	int r;

	if (!json_is_array(a))
		return bad("manifest", "vanished");
	n = json_array_size(a);
	if (n > CF_MANIFEST_MAX_VANISHED)
		return bad("manifest", "vanished");
	m->vanished = calloc(n ? n : 1, sizeof(*m->vanished));
	if (!m->vanished)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = string_copy(json_array_get(a, i), 1, CF_MANIFEST_MAX_PATH, &m->vanished[i]);
		if (r)
			return r == CF_E_CORRUPT ? bad("manifest", "vanished") : r;
		m->nvanished = i + 1;
	}
	return 0;
}

static int read_db(struct cf_manifest *m, const json_t *root)
{
	json_t *o = json_object_get(root, "db");
	uint64_t ps = 0;
	int r;

	if (json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return bad("manifest", "db");
	r = get_string(o, "path", 1, CF_MANIFEST_MAX_PATH, &m->db.path);
	if (!r)
		r = get_uint(o, "page_size", 512, 65536, &ps);
	if (!r && (ps & (ps - 1)))
		r = bad("manifest", "db.page_size");
	if (!r)
		r = get_uint(o, "pages", 0, CF_MANIFEST_MAX_INT, &m->db.pages);
	if (r)
		return r;
	m->db.page_size = (uint32_t)ps;
	m->has_db = 1;
	return 0;
}

int cf_manifest_from_json(struct cf_manifest **out, const char *json, size_t len)
{
	struct cf_manifest *m = NULL;
	json_t *root = NULL;
	int r;

	r = load(&root, json, len);
	if (r)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		goto fail;
	}
	r = get_uint(root, "seq", 1, CF_MANIFEST_MAX_INT, &m->seq);
	if (!r)
		r = get_opt_id(root, "prev", &m->has_prev, m->prev);
	if (!r)
		r = get_uint(root, "time", 0, CF_MANIFEST_MAX_INT, &m->time);
	if (!r)
		r = get_string(root, "host", 0, CF_MANIFEST_MAX_HOST, &m->host);
	if (!r)
		r = get_string(root, "store", 1, CF_MANIFEST_MAX_PATH, &m->store);
	if (!r)
		r = read_trees(m, root);
	if (!r)
		r = get_uint(root, "files", 0, CF_MANIFEST_MAX_INT, &m->files);
	if (!r)
		r = get_uint(root, "bytes", 0, CF_MANIFEST_MAX_INT, &m->bytes);
	if (!r)
		r = get_uint(root, "new_bytes", 0, CF_MANIFEST_MAX_INT, &m->new_bytes);
	if (!r)
		r = get_uint(root, "stored_bytes", 0, CF_MANIFEST_MAX_INT, &m->stored_bytes);
	if (!r)
		r = read_vanished(m, root);
	if (!r)
		r = read_db(m, root);
	if (r)
		goto fail;
	json_decref(root);
	*out = m;
	return 0;
fail:
	json_decref(root);
	cf_manifest_free(m);
	return r;
}

int cf_forget_from_json(struct cf_forget **out, const char *json, size_t len)
{
	struct cf_forget *f = NULL;
	json_t *root = NULL;
	int r;

	r = load(&root, json, len);
	if (r)
		return r;
	f = calloc(1, sizeof(*f));
	if (!f) {
		r = -ENOMEM;
		goto fail;
	}
	r = get_uint(root, "seq", 1, CF_MANIFEST_MAX_INT, &f->seq);
	if (!r)
		r = get_id(root, "manifest", f->manifest);
	if (!r)
		r = get_opt_id(root, "prev", &f->has_prev, f->prev);
	if (!r)
		r = get_uint(root, "time", 0, CF_MANIFEST_MAX_INT, &f->time);
	if (r)
		goto fail;
	json_decref(root);
	*out = f;
	return 0;
fail:
	json_decref(root);
	free(f);
	return r;
}

void cf_manifest_free(struct cf_manifest *m)
{
	if (!m)
		return;
	free(m->host);
	free(m->store);
	free(m->trees);
	if (m->vanished)
		for (size_t i = 0; i < m->nvanished; i++)
			free(m->vanished[i]);
	free(m->vanished);
	free(m->db.path);
	free(m);
}

void cf_forget_free(struct cf_forget *f)
{
	free(f);
}
