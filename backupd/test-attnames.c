/* SPDX-License-Identifier: ISC */
/* Attachment names from the database: path mapping, loading, marking. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backupd/attnames.h"
#include "core/error.h"
#include "tests/lib/check.h"

static char *dir;

/* map @v and compare with @want (NULL: not in the store) */
static void map_is(const char *v, const char *store, const char *want)
{
	char *got = (char *)"unset";

	CHECK_RC(cf_attnames_map(v, store, &got), 0);
	if (want ? !got || strcmp(got, want) != 0 : got != NULL) {
		fprintf(stderr, "map '%s': got '%s', want '%s'\n", v ? v : "(null)",
		        got ? got : "(null)", want ? want : "(null)");
		CHECK(0);
	}
	free(got);
}

static void test_map(void)
{
	map_is("~/Library/Messages/Attachments/0a/03/GUID/IMG_1.heic", NULL,
	       "Attachments/0a/03/GUID/IMG_1.heic");
	map_is("~/Library/Messages/Attachments/0a/03/GUID/IMG_1.heic", "/srv/store",
	       "Attachments/0a/03/GUID/IMG_1.heic");
	map_is("/Users/ann/Library/Messages/Attachments/x/y", NULL, "Attachments/x/y");
	map_is("/srv/store/Attachments/a b/c.pdf", "/srv/store", "Attachments/a b/c.pdf");
	map_is("/srv/store2/Attachments/c.pdf", "/srv/store", NULL); /* not below the store */
	map_is("/srv/store", "/srv/store", NULL);
	map_is("/srv/store/", "/srv/store", NULL);
	/* refused: escapes, empty components, other places, nothing */
	map_is("~/Library/Messages/../../etc/passwd", NULL, NULL);
	map_is("~/Library/Messages/Attachments//x", NULL, NULL);
	map_is("~/Library/Messages/", NULL, NULL);
	map_is("~/Library/Messages/Attachments/x/", NULL, NULL);
	map_is("~/Library/Messages/a\\b", NULL, NULL);
	map_is("~/Library/Messages/bad\xff", NULL, NULL);
	map_is("/Users//Library/Messages/Attachments/x", NULL, NULL);
	map_is("/Users/ann/Documents/x", NULL, NULL);
	map_is("/var/mobile/Library/SMS/Attachments/x", NULL, NULL);
	map_is("Attachments/x", NULL, NULL);
	map_is("", NULL, NULL);
	map_is(NULL, NULL, NULL);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql failed: %s: %s\n", sql, err);
		exit(1);
	}
}

static void make_db(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	exec_sql(db, sql);
	sqlite3_close(db);
}

static void test_load(void)
{
	struct cf_attnames *a = NULL;
	char p[4096];
	const char *v;
	size_t cur = 0;

	snprintf(p, sizeof(p), "%s/chat.db", dir);
	make_db(p, "CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY, guid TEXT, filename TEXT);"
	           "INSERT INTO attachment (filename) VALUES"
	           " ('~/Library/Messages/Attachments/b/2'),"
	           " ('~/Library/Messages/Attachments/a/1'),"
	           " ('~/Library/Messages/Attachments/b/2')," /* a re-send: same path twice */
	           " (NULL),"
	           " ('/elsewhere/file'),"
	           " ('~/Library/Messages/../x'),"
	           " ('/store/Attachments/c/3');");
	CHECK_RC(cf_attnames_load(&a, p, "/store"), 0);
	REQUIRE(a != NULL);
	CHECK(cf_attnames_count(a) == 3);
	CHECK(cf_attnames_mark(a, "Attachments/b/2") == 1);
	CHECK(cf_attnames_mark(a, "Attachments/zz") == 0);
	CHECK(cf_attnames_mark(a, "Attachments/a") == 0);
	v = cf_attnames_next_unmarked(a, &cur);
	CHECK(v && strcmp(v, "Attachments/a/1") == 0);
	v = cf_attnames_next_unmarked(a, &cur);
	CHECK(v && strcmp(v, "Attachments/c/3") == 0);
	CHECK(cf_attnames_next_unmarked(a, &cur) == NULL);
	CHECK(cf_attnames_next_unmarked(a, &cur) == NULL);
	cf_attnames_free(a);

	/* no attachment table, or no filename column: no names, no error */
	a = NULL;
	snprintf(p, sizeof(p), "%s/plain.db", dir);
	make_db(p, "CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT);");
	CHECK_RC(cf_attnames_load(&a, p, NULL), 0);
	CHECK(a && cf_attnames_count(a) == 0);
	cur = 0;
	CHECK(cf_attnames_next_unmarked(a, &cur) == NULL);
	cf_attnames_free(a);
	a = NULL;
	snprintf(p, sizeof(p), "%s/other.db", dir);
	make_db(p, "CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY, path TEXT);");
	CHECK_RC(cf_attnames_load(&a, p, NULL), 0);
	CHECK(a && cf_attnames_count(a) == 0);
	cf_attnames_free(a);

	/* not a database */
	a = NULL;
	snprintf(p, sizeof(p), "%s/text.db", dir);
	{
		FILE *f = fopen(p, "w");
		REQUIRE(f);
		for (int i = 0; i < 100; i++)
			fputs("this is not a database, just some text\n", f);
		fclose(f);
	}
	CHECK_RC(cf_attnames_load(&a, p, NULL), CF_E_FORMAT);
	CHECK(a == NULL);
	cf_attnames_free(NULL);
}

static void test_manual(void)
{
	struct cf_attnames *a = NULL;
	size_t cur = 0;

	REQUIRE(cf_attnames_new(&a) == 0);
	CHECK_RC(cf_attnames_add(a, "z"), 0);
	CHECK_RC(cf_attnames_add(a, "a"), 0);
	CHECK_RC(cf_attnames_add(a, "z"), 0);
	cf_attnames_seal(a);
	CHECK(cf_attnames_count(a) == 2);
	CHECK(cf_attnames_mark(a, "a") == 1);
	CHECK(strcmp(cf_attnames_next_unmarked(a, &cur), "z") == 0);
	cf_attnames_free(a);
}

int main(void)
{
	dir = check_tmpdir();
	test_map();
	test_load();
	test_manual();
	check_rmtree(dir);
	return check_finish();
}
