/* SPDX-License-Identifier: ISC */
/*
 * modes-probe: what an adversary holding some keys can decrypt, for the modes tests.
 *
 *   modes-probe escrow-get URL ACCOUNT PASSWORD_FILE REPO_HEX
 *       log in like an operator who kept the database and the escrow key would, and print
 *       "EPOCH HEXKEY" of the escrowed key (exit 1 when there is none)
 *   modes-probe keys STATE_DIR REPO_HEX
 *       print "EPOCH HEXKEY" for every key a device's keychain holds (a stolen device)
 *   modes-probe try STATE_DIR CACHE_DIR REPO KEYFILE SEQ...
 *       list every object of snapshots SEQ... (as the legitimate device STATE_DIR sees
 *       them: manifest body, TREE, DATA and CHUNKLIST blobs, the tables of their packs)
 *       and try to decrypt each with every key of KEYFILE ("EPOCH HEXKEY" lines; the key
 *       is tried as the key of the object's own epoch); prints {"objects", "decrypted"}
 *   modes-probe witness-post STATE_DIR CACHE_DIR REPO
 *       what backupd does after a snapshot: post the newest one as the freshness witness
 *   modes-probe index-epochs REPO_DIR
 *       the epochs of the index objects in storage, one per line
 *   modes-probe forge-manifest STATE_DIR CACHE_DIR REPO EPOCH SEQ
 *       an intruder's manifest: a copy of the newest snapshot STATE_DIR reads, with SEQ,
 *       signed by a fresh identity no roster names and sealed under a random key as
 *       epoch EPOCH; stored in snapshots/ and its id printed
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/encode.h"
#include "core/error.h"
#include "core/identity.h"
#include "keyvault/account.h"
#include "keyvault/kvapi.h"
#include "keyvault/session.h"
#include "keyvault/witness.h"
#include "repo/archive.h"
#include "repo/dbmap.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "repo/snapshots.h"
#include "util/cli.h"

#define MAXKEYS 64

struct probe {
	struct cf_session *s;
	uint32_t epochs[MAXKEYS];
	uint8_t keys[MAXKEYS][32];
	size_t nkeys;
	uint64_t objects, decrypted;
};

static void print_key(uint32_t epoch, const uint8_t *key)
{
	char hex[CF_HEX_LEN(32)];

	cf_encode_hex(hex, key, 32);
	printf("%u %s\n", epoch, hex);
}

static int escrow_get(char **argv)
{
	struct cf_kvclient *c = NULL;
	struct cf_secbuf *pw = NULL, *key = NULL;
	uint8_t repo[32];
	uint32_t epoch = 0;
	int r = cf_encode_unhex(repo, 32, argv[4]);

	if (!r)
		r = cf_cli_read_passphrase(argv[3], 4096, CF_CLI_PASS_TRAILING, &pw);
	if (!r)
		r = cf_kvclient_new(&c, argv[1]);
	if (!r)
		r = cf_account_login(c, argv[2], (const char *)cf_secbuf_data(pw), NULL);
	if (!r)
		r = cf_kvapi_escrow_get(c, repo, &epoch, &key);
	if (!r)
		print_key(epoch, cf_secbuf_data(key));
	else
		fprintf(stderr, "escrow-get: %s (%s)\n", cf_strerror(r),
			c ? cf_kvclient_error_code(c) : "");
	cf_secbuf_free(key);
	cf_secbuf_free(pw);
	cf_kvclient_free(c);
	return r ? 1 : 0;
}

static int keys(char **argv)
{
	struct cf_keychain *kc = NULL;
	uint8_t repo[32], key[32];
	int r = cf_encode_unhex(repo, 32, argv[2]);

	if (!r)
		r = cf_keychain_open(&kc, argv[1], getenv("COFFER_PASSPHRASE"));
	for (uint32_t e = 1; !r && e < 4096; e++)
		if (cf_keychain_repo_key(kc, repo, e, key) == 0)
			print_key(e, key);
	cf_keychain_free(kc);
	if (r)
		fprintf(stderr, "keys: %s\n", cf_strerror(r));
	return r ? 1 : 0;
}

/* Does any candidate key, as the key of @epoch, open this object? */
static int try_keys(struct probe *p, uint32_t epoch,
		    int (*open)(void *ctx, const struct cf_keyring *ring, const struct cf_repokeys *k),
		    void *ctx)
{
	int ok = 0;

	for (size_t i = 0; i < p->nkeys && !ok; i++) {
		struct cf_keyring *ring = NULL;
		if (cf_keyring_new(&ring) != 0 || cf_keyring_add(ring, epoch, p->keys[i], 1) != 0) {
			cf_keyring_free(ring);
			continue;
		}
		ok = open(ctx, ring, cf_keyring_get(ring, epoch)) == 0;
		cf_keyring_free(ring);
	}
	p->objects++;
	p->decrypted += ok;
	return ok;
}

struct obj {
	struct probe *p;
	const uint8_t *bytes;
	size_t len;
	uint8_t type;
	uint8_t id[32];
	uint32_t raw;
	uint64_t pack_size;
};

static int open_object(void *ctx, const struct cf_keyring *ring, const struct cf_repokeys *k)
{
	struct obj *o = ctx;
	uint8_t *pt = NULL;
	size_t len = 0;
	int r;

	(void)k;
	r = cf_object_open(&pt, &len, ring, cf_repo_id(o->p->s->repo), (enum cf_object_type)o->type,
			   o->bytes, o->len);
	free(pt);
	return r;
}

static int open_blob(void *ctx, const struct cf_keyring *ring, const struct cf_repokeys *k)
{
	struct obj *o = ctx;
	uint8_t *pt = NULL;
	size_t len = 0;
	int r;

	(void)ring;
	r = cf_blob_open(&pt, &len, k, cf_repo_id(o->p->s->repo), (enum cf_blob_type)o->type, o->id,
			 o->raw, o->bytes, o->len);
	free(pt);
	return r;
}

static int open_table(void *ctx, const struct cf_keyring *ring, const struct cf_repokeys *k)
{
	struct obj *o = ctx;
	struct cf_pack_entry *e = NULL;
	uint32_t epoch = 0;
	size_t n = 0;
	int r;

	(void)k;
	r = cf_pack_table_parse(o->bytes, o->len, o->pack_size, ring, cf_repo_id(o->p->s->repo),
				&epoch, &e, &n);
	free(e);
	return r;
}

static void probe_pack(struct probe *p, const struct cf_blob_loc *loc)
{
	struct cf_storage *st = cf_repo_storage(p->s->repo);
	uint8_t tail[CF_PACK_TRAILER_BYTES], *table;
	char name[CF_STORAGE_NAME_MAX];
	uint32_t tlen = 0;
	struct obj o = {.p = p, .pack_size = loc->pack_size};

	cf_repo_object_name(name, "data", loc->pack);
	if (cf_storage_get_range(st, name, loc->pack_size - sizeof(tail), sizeof(tail), tail) != 0 ||
	    cf_pack_trailer(tail, loc->pack_size, &tlen) != 0)
		return;
	table = malloc(tlen);
	if (table && cf_storage_get_range(st, name, loc->pack_size - sizeof(tail) - tlen, tlen,
					  table) == 0) {
		o.bytes = table;
		o.len = tlen;
		try_keys(p, loc->epoch, open_table, &o);
	}
	free(table);
}

static int probe_blob(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES])
{
	struct probe *p = ctx;
	struct cf_blob_loc loc;
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *buf;
	struct obj o = {.p = p, .type = type};

	if (cf_cache_find_blob(cf_repo_cache(p->s->repo), type, id, &loc) != 0)
		return 0;
	cf_repo_object_name(name, "data", loc.pack);
	buf = malloc(loc.length);
	if (buf && cf_storage_get_range(cf_repo_storage(p->s->repo), name, loc.offset, loc.length,
					buf) == 0) {
		memcpy(o.id, id, 32);
		o.raw = loc.raw_length;
		o.bytes = buf;
		o.len = loc.length;
		try_keys(p, loc.epoch, open_blob, &o);
		probe_pack(p, &loc);
	}
	free(buf);
	return 0;
}

static int get_fn(void *ctx, uint8_t type, const uint8_t id[CF_BLOB_ID_BYTES], uint8_t **data,
		  size_t *len)
{
	return cf_repo_get_blob(ctx, (enum cf_blob_type)type, id, data, len);
}

static int probe_snapshot(struct probe *p, const struct cf_manifest *m)
{
	struct cf_tree_reader *rd = NULL;
	const struct cf_archive_entry *e;
	const uint8_t **pieces = calloc(m->ntrees ? m->ntrees : 1, sizeof(*pieces));
	size_t *lens = calloc(m->ntrees ? m->ntrees : 1, sizeof(*lens));
	char name[CF_STORAGE_NAME_MAX];
	uint8_t *bytes = NULL;
	size_t len = 0;
	int r = pieces && lens ? 0 : -ENOMEM;

	cf_repo_object_name(name, "snapshots", m->id);
	if (!r)
		r = cf_storage_get_buf(cf_repo_storage(p->s->repo), name, &bytes, &len,
				       CF_MANIFEST_MAX_BYTES);
	if (!r && len > 136 + 64) {
		struct obj o = {.p = p, .type = CF_OBJ_MANIFEST, .bytes = bytes + 136,
				.len = len - 136 - 64};
		try_keys(p, m->epoch, open_object, &o);
	}
	for (size_t i = 0; !r && i < m->ntrees; i++) {
		uint8_t *piece = NULL;
		probe_blob(p, CF_BLOB_TREE, m->trees + 32 * i);
		r = cf_repo_get_blob(p->s->repo, CF_BLOB_TREE, m->trees + 32 * i, &piece, &lens[i]);
		pieces[i] = piece;
	}
	if (!r)
		r = cf_tree_reader_new_mem(&rd, pieces, lens, m->ntrees);
	while (!r && (r = cf_tree_reader_next(rd, &e)) == 0 && e) {
		if (e->body == CF_ARCHIVE_BODY_CHUNKLIST)
			r = cf_dbmap_walk(&e->refs[0], get_fn, p->s->repo, probe_blob, p);
		else
			for (size_t i = 0; i < e->nrefs; i++)
				probe_blob(p, CF_BLOB_DATA, e->refs[i].id);
	}
	cf_tree_reader_free(rd);
	for (size_t i = 0; pieces && i < m->ntrees; i++)
		free((void *)pieces[i]);
	free(pieces);
	free(lens);
	free(bytes);
	return r;
}

static int open_session(struct cf_session **s, char **argv)
{
	struct cf_session_opts so = {.state_dir = argv[1], .cache_dir = argv[2],
				     .repo_url = argv[3]};
	int r = cf_session_open(s, &so);

	if (!r)
		r = cf_session_load_snapshots(*s);
	return r;
}

static int try_cmd(int argc, char **argv)
{
	struct probe p = {0};
	FILE *f = fopen(argv[4], "r");
	char line[256], hex[80];
	unsigned e;
	int r;

	while (f && fgets(line, sizeof(line), f) && p.nkeys < MAXKEYS)
		if (sscanf(line, "%u %70s", &e, hex) == 2 &&
		    cf_encode_unhex(p.keys[p.nkeys], 32, hex) == 0)
			p.epochs[p.nkeys++] = e;
	if (f)
		fclose(f);
	r = open_session(&p.s, argv);
	for (int i = 5; !r && i < argc; i++) {
		const struct cf_manifest *m = NULL;
		r = cf_snapshots_find(p.s->snaps, argv[i], &m);
		if (!r)
			r = probe_snapshot(&p, m);
	}
	if (!r)
		printf("{\"objects\": %llu, \"decrypted\": %llu, \"keys\": %zu}\n",
		       (unsigned long long)p.objects, (unsigned long long)p.decrypted, p.nkeys);
	else
		fprintf(stderr, "try: %s\n", cf_strerror(r));
	cf_session_free(p.s);
	return r ? 1 : 0;
}

static int witness_post(char **argv)
{
	struct cf_session *s = NULL;
	int r = open_session(&s, argv);
	const struct cf_chain *c = r ? NULL : cf_snapshots_chain(s->snaps);

	if (!r && c->has_newest)
		r = cf_witness_post(s, c->newest_seq, c->newest_id);
	if (r)
		fprintf(stderr, "witness-post: %s\n", cf_strerror(r));
	cf_session_free(s);
	return r ? 1 : 0;
}

static int index_epochs(char **argv)
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/index", argv[1]);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		uint8_t hdr[CF_OBJECT_OVERHEAD], type;
		uint32_t epoch;
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/index/%s", argv[1], de->d_name);
		f = fopen(path, "rb");
		if (f && fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr) &&
		    cf_object_peek(hdr, sizeof(hdr), &type, &epoch) == 0)
			printf("%u\n", epoch);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return 0;
}

static int forge_manifest(char **argv)
{
	struct cf_session *s = NULL;
	struct cf_identity *intruder = NULL;
	struct cf_repokeys *keys = NULL;
	struct cf_manifest m;
	uint8_t mk[32], id[32], *bytes = NULL;
	char name[CF_STORAGE_NAME_MAX], hex[CF_HEX_LEN(32)];
	size_t len = 0;
	int r = open_session(&s, argv);

	cf_core_random(mk, sizeof(mk));
	if (!r && !cf_snapshots_count(s->snaps))
		r = CF_E_NOTFOUND;
	if (!r)
		r = cf_identity_new(&intruder);
	if (!r)
		r = cf_repokeys_new(&keys, (uint32_t)strtoul(argv[4], NULL, 10), mk);
	if (!r) {
		m = *cf_snapshots_get(s->snaps, cf_snapshots_count(s->snaps) - 1);
		m.seq = strtoull(argv[5], NULL, 10);
		r = cf_manifest_encode(&bytes, &len, &m, intruder, keys, cf_repo_id(s->repo));
	}
	if (!r) {
		cf_object_id(bytes, len, id);
		cf_repo_object_name(name, "snapshots", id);
		r = cf_storage_put_buf(cf_repo_storage(s->repo), name, bytes, len);
	}
	if (!r) {
		cf_encode_hex(hex, id, 32);
		printf("%s\n", hex);
	} else {
		fprintf(stderr, "forge-manifest: %s\n", cf_strerror(r));
	}
	free(bytes);
	cf_repokeys_free(keys);
	cf_identity_free(intruder);
	cf_session_free(s);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (cf_core_init() != 0)
		return 2;
	if (argc == 6 && !strcmp(argv[1], "escrow-get"))
		return escrow_get(argv + 1);
	if (argc == 4 && !strcmp(argv[1], "keys"))
		return keys(argv + 1);
	if (argc >= 7 && !strcmp(argv[1], "try"))
		return try_cmd(argc - 1, argv + 1);
	if (argc == 5 && !strcmp(argv[1], "witness-post"))
		return witness_post(argv + 1);
	if (argc == 3 && !strcmp(argv[1], "index-epochs"))
		return index_epochs(argv + 1);
	if (argc == 7 && !strcmp(argv[1], "forge-manifest"))
		return forge_manifest(argv + 1);
	fprintf(stderr, "usage: see the top of modes-probe.c\n");
	return 2;
}
