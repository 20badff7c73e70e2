/* SPDX-License-Identifier: ISC */
#include "keyvaultd/kvd_db.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "schema/schema.h"
#include "util/log.h"

struct cf_kvd_db {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned n, nfree;
	sqlite3 **all;
	sqlite3 **free; /* stack of free connections */
};

void cf_kvd_db_free(struct cf_kvd_db *p)
{
	unsigned i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		sqlite3_close_v2(p->all[i]);
	free(p->all);
	free(p->free);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}

int cf_kvd_db_open(struct cf_kvd_db **out, const char *path, unsigned n)
{
	struct cf_kvd_db *p;
	int rc = 0;

	if (n < 1 || n > 64)
		return CF_E_INVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->all = calloc(n, sizeof(*p->all));
	p->free = calloc(n, sizeof(*p->free));
	if (!p->all || !p->free) {
		rc = -ENOMEM;
		goto fail;
	}
	for (; p->n < n; p->n++) {
		rc = cf_schema_open(&p->all[p->n], path, CF_SCHEMA_KEYVAULTD, 0);
		if (rc)
			goto fail;
		p->free[p->nfree++] = p->all[p->n];
	}
	*out = p;
	return 0;
fail:
	cf_kvd_db_free(p);
	return rc;
}

sqlite3 *cf_kvd_db_acquire(struct cf_kvd_db *p)
{
	sqlite3 *db;

	pthread_mutex_lock(&p->lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->freed, &p->lock);
	db = p->free[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	return db;
}

void cf_kvd_db_release(struct cf_kvd_db *p, sqlite3 *db)
{
	pthread_mutex_lock(&p->lock);
	p->free[p->nfree++] = db;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

sqlite3_stmt *cf_kvd_db_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		cf_log_err("database: cannot prepare a statement: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

int cf_kvd_db_exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		return 0;
	cf_log_err("database: %s: %s", sql, sqlite3_errmsg(db));
	return (rc & 0xff) == SQLITE_BUSY ? CF_E_BUSY : CF_E_IO;
}

int64_t cf_kvd_db_changes(sqlite3 *db)
{
	return sqlite3_changes64(db);
}
