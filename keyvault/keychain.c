/* SPDX-License-Identifier: ISC */
/*
 * The device keychain file: header, Argon2id of the passphrase, AEAD of the body;
 * create, open, save and the guard against overwriting a newer file.
 * docs/keychain.md has the byte layout; keep the two in step. The in-memory tables and
 * the body codec are in keychain_body.c.
 */
#include "keyvault/keychain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/aead.h"
#include "core/core.h"
#include "core/kdf.h"
#include "core/keyfile.h"
#include "core/secbuf.h"
#include "keyvault/keychain_impl.h"
#include "util/log.h"

static const uint8_t kc_magic[4] = {'C', 'F', 'K', 'C'};

enum {
	KC_VERSION = 1,
	KC_OFF_VERSION = 4,
	KC_OFF_PROT = 5,
	KC_OFF_PARAMS = 6,
	KC_OFF_SALT = 7,
	KC_OFF_BODYLEN = 7 + CF_ARGON2_SALT_BYTES,
	PROT_NONE = 0,
	PROT_PASSPHRASE = 1,
};

_Static_assert(KC_OFF_BODYLEN + 4 == KC_HDR_BYTES, "header layout");

static int fast_kdf;

void cf_keychain_testing_fast_kdf(void)
{
	fast_kdf = 1;
	cf_kdf_argon2_allow_test();
}

static int stamp_get(const char *path, struct kc_stamp *s)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? CF_E_NOTFOUND : -errno;
	memset(s, 0, sizeof(*s));
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	return 0;
}

static int stamp_eq(const struct kc_stamp *a, const struct kc_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* A new, empty handle for @state_dir; validates @passphrase. */
static int kc_alloc(struct cf_keychain **out, const char *state_dir, const char *passphrase)
{
	struct cf_keychain *kc;
	int r;

	if (!state_dir || !*state_dir)
		return CF_E_INVAL;
	kc = cf_secmem_alloc(sizeof(*kc));
	if (!kc)
		return -ENOMEM;
	if (asprintf(&kc->path, "%s/%s", state_dir, CF_KEYCHAIN_FILE) < 0) {
		kc->path = NULL;
		cf_keychain_free(kc);
		return -ENOMEM;
	}
	r = cf_keychain_set_passphrase(kc, passphrase);
	if (r) {
		cf_keychain_free(kc);
		return r;
	}
	*out = kc;
	return 0;
}

void cf_keychain_free(struct cf_keychain *kc)
{
	if (!kc)
		return;
	cf_identity_free(kc->id);
	cf_secbuf_free(kc->pass);
	cf_secmem_free(kc->repos);
	cf_secmem_free(kc->keys);
	free(kc->path);
	cf_secmem_free(kc);
}

int cf_keychain_set_passphrase(struct cf_keychain *kc, const char *passphrase)
{
	struct cf_secbuf *p = NULL;
	size_t len;
	int r;

	if (passphrase) {
		len = strlen(passphrase);
		if (len == 0)
			return CF_E_INVAL;
		if (len > CF_KEYCHAIN_MAX_PASSPHRASE)
			return CF_E_LIMIT;
		r = cf_secbuf_dup(&p, passphrase, len + 1);
		if (r)
			return r;
	}
	cf_secbuf_free(kc->pass);
	kc->pass = p;
	return 0;
}

int cf_keychain_testing_parse_body(const uint8_t *body, size_t len)
{
	struct cf_keychain *kc = cf_secmem_alloc(sizeof(*kc));
	int r;

	if (!kc)
		return -ENOMEM;
	r = kc_decode_body(kc, body, len);
	cf_keychain_free(kc);
	return r;
}

struct kc_header {
	uint8_t prot, params;
	uint8_t salt[CF_ARGON2_SALT_BYTES];
	uint32_t body_len;
};

static int parse_header(const char *path, const uint8_t *p, size_t len, struct kc_header *h)
{
	uint64_t need;

	if (len < sizeof(kc_magic))
		return memcmp(p, kc_magic, len) ? CF_E_FORMAT : CF_E_TRUNCATED;
	if (memcmp(p, kc_magic, sizeof(kc_magic)))
		return CF_E_FORMAT;
	if (len <= KC_OFF_VERSION)
		return CF_E_TRUNCATED;
	if (p[KC_OFF_VERSION] != KC_VERSION) {
		cf_log_err("keychain %s has format version %u; this build reads version %u", path,
		           p[KC_OFF_VERSION], KC_VERSION);
		return CF_E_VERSION;
	}
	if (len < KC_HDR_BYTES)
		return CF_E_TRUNCATED;
	h->prot = p[KC_OFF_PROT];
	h->params = p[KC_OFF_PARAMS];
	memcpy(h->salt, p + KC_OFF_SALT, sizeof(h->salt));
	h->body_len = kc_get32(p + KC_OFF_BODYLEN);
	if (h->prot == PROT_NONE) {
		if (h->params != 0 || !cf_core_is_zero(h->salt, sizeof(h->salt)))
			return CF_E_FORMAT;
	} else if (h->prot == PROT_PASSPHRASE) {
		if (h->params != CF_ARGON2_INTERACTIVE && h->params != CF_ARGON2_MODERATE &&
		    h->params != CF_ARGON2_TEST)
			return CF_E_FORMAT;
	} else {
		return CF_E_FORMAT;
	}
	need = (uint64_t)KC_HDR_BYTES + CF_AEAD_OVERHEAD + h->body_len;
	if (len < need)
		return CF_E_TRUNCATED;
	if (len > need)
		return CF_E_FORMAT; /* trailing bytes */
	return 0;
}

/* The file key: Argon2id of the passphrase, or all zeros for PROT_NONE. */
static int file_key(const char *path, const struct kc_header *h, const struct cf_secbuf *pass,
                    uint8_t key[CF_AEAD_KEY_BYTES])
{
	const char *pw;
	int r;

	memset(key, 0, CF_AEAD_KEY_BYTES);
	if (h->prot == PROT_NONE)
		return 0;
	if (!pass) {
		cf_log_err("keychain %s is protected by a passphrase: passphrase required", path);
		return CF_E_AUTH;
	}
	if (h->params == CF_ARGON2_TEST && !fast_kdf) {
		cf_log_err("keychain %s uses test-only Argon2id parameters; refused", path);
		return CF_E_UNSAFE;
	}
	pw = (const char *)cf_secbuf_data(pass);
	r = cf_kdf_argon2id(key, CF_AEAD_KEY_BYTES, pw, strlen(pw), h->salt, h->params);
	return r == CF_E_INVAL ? CF_E_UNSAFE : r;
}

int cf_keychain_open(struct cf_keychain **out, const char *state_dir, const char *passphrase)
{
	struct cf_keychain *kc = NULL;
	struct cf_secbuf *file = NULL, *body = NULL;
	struct kc_stamp after;
	struct kc_header h;
	uint8_t *key = NULL;
	const uint8_t *d;
	size_t len;
	int r;

	r = cf_core_init();
	if (!r)
		r = kc_alloc(&kc, state_dir, passphrase);
	if (r)
		goto fail;
	r = stamp_get(kc->path, &kc->disk);
	if (!r)
		r = cf_keyfile_read(kc->path, &file);
	if (r == CF_E_PERM)
		cf_log_err("keychain %s: group or others may access it, or it is not yours, or a "
		           "symlink: refused (chmod 600 fixes the mode)",
		           kc->path);
	if (r)
		goto fail;
	r = stamp_get(kc->path, &after);
	if (!r && !stamp_eq(&kc->disk, &after))
		r = CF_E_BUSY;
	if (r)
		goto fail;
	d = cf_secbuf_data(file);
	len = cf_secbuf_len(file);
	r = parse_header(kc->path, d, len, &h);
	if (r)
		goto fail;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	if (!key || cf_secbuf_new(&body, h.body_len)) {
		r = -ENOMEM;
		goto fail;
	}
	r = file_key(kc->path, &h, kc->pass, key);
	if (r)
		goto fail;
	r = cf_aead_open(cf_secbuf_data(body), d + KC_HDR_BYTES, len - KC_HDR_BYTES, d,
	                 KC_HDR_BYTES, key);
	if (r == CF_E_AUTH)
		cf_log_err("keychain %s: %s", kc->path,
		           h.prot == PROT_NONE ? "damaged or altered"
		                               : "wrong passphrase, or the file was altered");
	if (!r)
		r = kc_decode_body(kc, cf_secbuf_data(body), h.body_len);
	if (r)
		goto fail;
	if (h.prot == PROT_NONE)
		cf_keychain_set_passphrase(kc, NULL); /* saves keep the file's protection */
	*out = kc;
	kc = NULL;
fail:
	cf_secmem_free(key);
	cf_secbuf_free(body);
	cf_secbuf_free(file);
	cf_keychain_free(kc);
	return r;
}

static int save_file(struct cf_keychain *kc, int exclusive)
{
	struct cf_secbuf *body = NULL, *file = NULL;
	struct kc_stamp now;
	struct kc_header h = {0};
	uint8_t *key = NULL, *d;
	size_t blen;
	int r;

	if (!exclusive && (stamp_get(kc->path, &now) || !stamp_eq(&now, &kc->disk))) {
		cf_log_err("keychain %s changed on disk since it was read; not overwriting it",
		           kc->path);
		return CF_E_BUSY;
	}
	blen = kc_body_size(kc->nrepos, kc->nkeys);
	r = kc_encode_body(kc, &body);
	if (r)
		goto fail;
	key = cf_secmem_alloc(CF_AEAD_KEY_BYTES);
	/* Secure memory for the image too: in PROT_NONE the ciphertext is no secret. */
	if (!key || cf_secbuf_new(&file, KC_HDR_BYTES + CF_AEAD_OVERHEAD + blen)) {
		r = -ENOMEM;
		goto fail;
	}
	if (kc->pass) {
		h.prot = PROT_PASSPHRASE;
		h.params = fast_kdf ? CF_ARGON2_TEST : CF_ARGON2_INTERACTIVE;
		cf_core_random(h.salt, sizeof(h.salt));
	}
	r = file_key(kc->path, &h, kc->pass, key);
	if (r)
		goto fail;
	d = cf_secbuf_data(file);
	memcpy(d, kc_magic, sizeof(kc_magic));
	d[KC_OFF_VERSION] = KC_VERSION;
	d[KC_OFF_PROT] = h.prot;
	d[KC_OFF_PARAMS] = h.params;
	memcpy(d + KC_OFF_SALT, h.salt, sizeof(h.salt));
	kc_put32(d + KC_OFF_BODYLEN, (uint32_t)blen);
	cf_aead_seal(d + KC_HDR_BYTES, cf_secbuf_data(body), blen, d, KC_HDR_BYTES, key);
	r = cf_keyfile_write(kc->path, d, cf_secbuf_len(file), exclusive);
	if (!r)
		r = stamp_get(kc->path, &kc->disk);
fail:
	cf_secmem_free(key);
	cf_secbuf_free(body);
	cf_secbuf_free(file);
	return r;
}

int cf_keychain_save(struct cf_keychain *kc)
{
	return save_file(kc, 0);
}

/* mkdir -p with mode 0700 for every folder it creates. */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	struct stat st;
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			if (chmod(p, 0700) < 0) /* whatever the umask */
				r = -errno;
		} else if (errno != EEXIST) {
			r = -errno;
		}
		*s = c;
		if (r || !c)
			break;
	}
	if (!r && stat(dir, &st) < 0)
		r = -errno;
	else if (!r && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	free(p);
	return r;
}

int cf_keychain_create(struct cf_keychain **out, const char *state_dir, const char *passphrase)
{
	struct cf_keychain *kc = NULL;
	struct stat st;
	int r;

	r = cf_core_init();
	if (!r)
		r = kc_alloc(&kc, state_dir, passphrase);
	if (!r)
		r = make_dirs(state_dir);
	if (r)
		goto fail;
	/* Cheap early answer; cf_keyfile_write's link(2) settles any race. */
	if (lstat(kc->path, &st) == 0) {
		r = CF_E_EXISTS;
		goto fail;
	}
	r = cf_identity_new(&kc->id);
	if (!r)
		r = save_file(kc, 1);
	if (r)
		goto fail;
	*out = kc;
	kc = NULL;
fail:
	cf_keychain_free(kc);
	return r;
}
