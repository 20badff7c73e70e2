/* SPDX-License-Identifier: ISC */
#include "util/config.h"
#include "util/config-internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "util/log.h"

#define MAX_FILE (1u << 20) /* a config file is small; anything larger is a mistake */
#define MAX_STORAGE 64
#define MAX_COUNT 1000000u
#define STR_(x) #x
#define STR(x) STR_(x)

enum ktype { K_PATH, K_URL, K_REPO, K_MIB, K_COUNT, K_DURATION, K_BOOL, K_WINDOW, K_LEVEL };

struct key {
	const char *section, *name;
	enum ktype type;
	size_t off;
};

#define F(field) offsetof(struct cf_config, field)

/* Every key but [storage]'s, in the order docs/configuration.md lists them. */
static const struct key keys[] = {
    {"store", "path", K_PATH, F(store)},
    {"store", "lock_dir", K_PATH, F(lock_dir)},
    {"repository", "url", K_REPO, F(repo_url)},
    {"repository", "state_dir", K_PATH, F(state_dir)},
    {"repository", "cache_dir", K_PATH, F(cache_dir)},
    {"repository", "passphrase_file", K_PATH, F(passphrase_file)},
    {"repository", "pack_size", K_MIB, F(pack_mib)},
    {"schedule", "interval", K_DURATION, F(interval)},
    {"schedule", "jitter", K_DURATION, F(jitter)},
    {"schedule", "window", K_WINDOW, F(window_start)},
    {"schedule", "skip_on_battery", K_BOOL, F(skip_on_battery)},
    {"schedule", "power_supply_path", K_PATH, F(power_supply)},
    {"schedule", "retry_min", K_DURATION, F(retry_min)},
    {"schedule", "retry_max", K_DURATION, F(retry_max)},
    {"retention", "keep_last", K_COUNT, F(keep_last)},
    {"retention", "keep_hourly", K_COUNT, F(keep_hourly)},
    {"retention", "keep_daily", K_COUNT, F(keep_daily)},
    {"retention", "keep_weekly", K_COUNT, F(keep_weekly)},
    {"retention", "keep_monthly", K_COUNT, F(keep_monthly)},
    {"retention", "keep_yearly", K_COUNT, F(keep_yearly)},
    {"retention", "keep_within", K_DURATION, F(keep_within)},
    {"retention", "prune", K_BOOL, F(prune)},
    {"retention", "prune_grace", K_DURATION, F(prune_grace)},
    {"keyvault", "url", K_URL, F(keyvault_url)},
    {"log", "level", K_LEVEL, F(log_level)},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"store",    "repository", "schedule", "retention",
                                       "keyvault", "storage",    "log"};

/* The text being parsed, served to inih line by line. */
struct stream {
	const char *p, *end;
	int line;         /* lines served so far: the line inih is working on */
	int bad_line;     /* the first line that is too long or holds a NUL, or 0 */
	const char *bad;  /* what is wrong with it */
};

struct parse {
	struct cf_config *c;
	const char *name;
	struct stream st;
	int seen[NKEYS]; /* the line of each key, 0 when not given */
	int err_line;    /* the first error found by the handler, or 0 */
	int err_rc;
	char *err;
	size_t errlen;
};

char *cf_config_default_path(void)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *out = NULL;

	if (x && x[0] == '/') {
		if (asprintf(&out, "%s/coffer/coffer.conf", x) < 0)
			out = NULL;
	} else if (home && *home) {
		if (asprintf(&out, "%s/.config/coffer/coffer.conf", home) < 0)
			out = NULL;
	}
	return out;
}

/* inih's fgets: one line of at most @num - 1 bytes; longer lines and NULs are marked. */
static char *reader(char *str, int num, void *stream)
{
	struct stream *s = stream;
	const char *nl, *stop;
	size_t len;

	if (s->p >= s->end || num < 2)
		return NULL;
	s->line++;
	nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
	stop = nl ? nl + 1 : s->end;
	len = (size_t)(stop - s->p);
	if (len - (nl ? 1 : 0) > CF_CONFIG_MAX_LINE || len - (nl ? 1 : 0) + 2 > (size_t)num ||
	    memchr(s->p, '\0', len)) {
		if (!s->bad_line) {
			s->bad_line = s->line;
			s->bad = memchr(s->p, '\0', len) ? "a NUL byte in the line"
			                                 : "line longer than " STR(CF_CONFIG_MAX_LINE)
			                                   " bytes";
		}
		s->p = stop;
		strcpy(str, "\n"); /* the line is dropped: nothing else is reported for it */
		return str;
	}
	memcpy(str, s->p, len);
	str[len] = '\0';
	s->p = stop;
	return str;
}

static void set_err(struct parse *p, int line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(struct parse *p, int line, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err_line && p->err_line <= line)
		return; /* an earlier line's error wins */
	p->err_line = line;
	p->err_rc = rc;
	if (!p->err || !p->errlen)
		return;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A path value: "~" and "~/..." expand with $HOME; the result must be absolute. */
static int parse_path(struct parse *p, const struct key *k, const char *v, char **out)
{
	const char *home = getenv("HOME");
	char *s = NULL;

	if (v[0] == '~' && (v[1] == '\0' || v[1] == '/')) {
		if (!home || home[0] != '/') {
			set_err(p, p->st.line, CF_E_CONFIG,
			        "[%s] %s: '~' needs $HOME to be set to an absolute path", k->section,
			        k->name);
			return 0;
		}
		if (asprintf(&s, "%s%s", home, v + 1) < 0)
			return -ENOMEM;
	} else if (v[0] != '/') {
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: '%s' is not an absolute path",
		        k->section, k->name, v);
		return 0;
	} else if (!(s = strdup(v))) {
		return -ENOMEM;
	}
	free(*out);
	*out = s;
	return 0;
}

static int parse_url(struct parse *p, const struct key *k, const char *v, char **out)
{
	static const char *const repo_schemes[] = {"file://",          "http://",  "https://",
	                                           "webdav+http://",   "s3://",
	                                           "webdav+https://"};
	int ok = 0;

	if (k->type == K_REPO) {
		for (size_t i = 0; i < sizeof(repo_schemes) / sizeof(repo_schemes[0]); i++)
			ok |= !strncmp(v, repo_schemes[i], strlen(repo_schemes[i]));
		if (!ok && (v[0] == '/' || v[0] == '~'))
			return parse_path(p, k, v, out);
	} else {
		ok = !strncmp(v, "https://", 8) || !strncmp(v, "http://", 7);
	}
	if (!ok || strlen(v) > 4096) {
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: '%s' is not %s", k->section, k->name,
		        v,
		        k->type == K_REPO ? "a repository URL (file://, webdav+https://, https://, "
		                            "s3:// or an absolute path)"
		                          : "an http:// or https:// URL");
		return 0;
	}
	free(*out);
	return (*out = strdup(v)) ? 0 : -ENOMEM;
}

/* The value @v of key @k, into the config. 0 (errors recorded in @p) or -ENOMEM. */
static int set_value(struct parse *p, const struct key *k, const char *v)
{
	char *field = (char *)p->c + k->off;
	uint64_t n;
	int bad = 0;
	const char *want = "";

	switch (k->type) {
	case K_PATH:
		return parse_path(p, k, v, (char **)(void *)field);
	case K_URL:
	case K_REPO:
		return parse_url(p, k, v, (char **)(void *)field);
	case K_MIB:
		bad = !isdigit((unsigned char)v[0]) || strlen(v) > 3 || (n = strtoull(v, NULL, 10)) < 1 ||
		      n > 64 || v[strspn(v, "0123456789")];
		if (!bad)
			*(unsigned *)(void *)field = (unsigned)n;
		want = "a size in MiB from 1 to 64";
		break;
	case K_COUNT:
		bad = !isdigit((unsigned char)v[0]) || strlen(v) > 7 || v[strspn(v, "0123456789")] ||
		      (n = strtoull(v, NULL, 10)) > MAX_COUNT;
		if (!bad)
			*(unsigned *)(void *)field = (unsigned)n;
		want = "a whole number from 0 to 1000000";
		break;
	case K_DURATION:
		bad = cf_config_parse_duration(v, (uint64_t *)(void *)field) != 0;
		want = "a duration: a whole number with an optional unit s, m, h, d or w "
		       "(\"90s\", \"15m\", \"6h\", \"1d\")";
		break;
	case K_BOOL:
		bad = cf_config_parse_bool(v, (int *)(void *)field) != 0;
		want = "yes or no";
		break;
	case K_WINDOW:
		bad = cf_config_parse_window(v, &p->c->window_start, &p->c->window_end) != 0;
		want = "a daily time window HH:MM-HH:MM (local time, e.g. \"01:00-06:00\"; it may "
		       "cross midnight; start and end must differ)";
		break;
	case K_LEVEL:
		bad = cf_config_parse_level(v, (int *)(void *)field) != 0;
		want = "error, warning, info or debug";
		break;
	}
	if (bad)
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: '%s' is not %s", k->section, k->name, v,
		        want);
	return 0;
}

static int add_storage(struct parse *p, const char *name, const char *v)
{
	struct cf_config *c = p->c;
	struct cf_config_entry *e;

	for (const char *q = name; *q; q++)
		if (!islower((unsigned char)*q) && !isdigit((unsigned char)*q) && *q != '_') {
			set_err(p, p->st.line, CF_E_CONFIG,
			        "[storage] %s: not a key name (lower-case letters, digits, '_')", name);
			return 0;
		}
	for (size_t i = 0; i < c->nstorage; i++)
		if (!strcmp(c->storage[i].key, name)) {
			set_err(p, p->st.line, CF_E_CONFIG,
			        "[storage] %s: given twice (first on line %d)", name,
			        c->storage[i].line);
			return 0;
		}
	if (c->nstorage == MAX_STORAGE) {
		set_err(p, p->st.line, CF_E_CONFIG, "[storage] %s: more than %d keys", name,
		        MAX_STORAGE);
		return 0;
	}
	e = realloc(c->storage, (c->nstorage + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	c->storage = e;
	e += c->nstorage;
	e->key = strdup(name);
	e->value = strdup(v);
	e->line = p->st.line;
	if (!e->key || !e->value) {
		free(e->key);
		free(e->value);
		return -ENOMEM;
	}
	c->nstorage++;
	return 0;
}

static void list_keys(const char *section, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NKEYS && off < cap; i++) {
		int w;

		if (strcmp(keys[i].section, section))
			continue;
		w = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", keys[i].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	size_t i, s;
	char known[256];

	if (p->err_rc == -ENOMEM)
		return 1;
	if (!*name) {
		set_err(p, p->st.line, CF_E_CONFIG, "a value without a key name");
		return 1;
	}
	if (!*section) {
		set_err(p, p->st.line, CF_E_CONFIG, "%s: a key before any [section]", name);
		return 1;
	}
	for (s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
		if (!strcmp(sections[s], section))
			break;
	if (s == sizeof(sections) / sizeof(sections[0])) {
		set_err(p, p->st.line, CF_E_CONFIG,
		        "[%s] %s: unknown section [%s] (known: [store], [repository], [schedule], "
		        "[retention], [keyvault], [storage], [log])",
		        section, name, section);
		return 1;
	}
	if (cf_config_has_control(value)) {
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: control characters in the value",
		        section, name);
		return 1;
	}
	if (!*value) {
		set_err(p, p->st.line, CF_E_CONFIG,
		        "[%s] %s: empty value (leave the key out for its default)", section, name);
		return 1;
	}
	if (!strcmp(section, "storage")) {
		if (add_storage(p, name, value) < 0)
			p->err_rc = -ENOMEM;
		return 1;
	}
	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			break;
	if (i == NKEYS) {
		list_keys(section, known, sizeof(known));
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: unknown key (the keys of [%s]: %s)",
		        section, name, section, known);
		return 1;
	}
	if (p->seen[i]) {
		set_err(p, p->st.line, CF_E_CONFIG, "[%s] %s: given twice (first on line %d)",
		        section, name, p->seen[i]);
		return 1;
	}
	p->seen[i] = p->st.line;
	if (set_value(p, &keys[i], value) < 0)
		p->err_rc = -ENOMEM;
	return 1;
}

static int key_line(const struct parse *p, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return p->seen[i];
	return 0;
}

/* Checks between keys, once the whole file is read. */
static void cross_check(struct parse *p)
{
	struct cf_config *c = p->c;
	int line;

	if (c->interval < 1 && (line = key_line(p, "interval")))
		set_err(p, line, CF_E_CONFIG, "[schedule] interval: must be at least 1s");
	if (c->retry_min < 1 && (line = key_line(p, "retry_min")))
		set_err(p, line, CF_E_CONFIG, "[schedule] retry_min: must be at least 1s");
	if (c->retry_max < c->retry_min) {
		line = key_line(p, "retry_max") ? key_line(p, "retry_max") : key_line(p, "retry_min");
		set_err(p, line, CF_E_CONFIG,
		        "[schedule] %s: retry_max must not be shorter than retry_min",
		        key_line(p, "retry_max") ? "retry_max" : "retry_min");
	}
}

static struct cf_config *defaults(void)
{
	struct cf_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->interval = 3600;
	c->window_start = c->window_end = -1;
	c->skip_on_battery = 1;
	c->retry_min = 60;
	c->retry_max = 3600;
	c->prune = 1;
	c->prune_grace = 3600;
	c->log_level = CF_LOG_INFO;
	c->power_supply = strdup("/sys/class/power_supply");
	if (!c->power_supply) {
		free(c);
		return NULL;
	}
	return c;
}

int cf_config_parse(struct cf_config **out, const char *name, const char *text, size_t len,
                    char *err, size_t errlen)
{
	struct parse p = {.name = name, .err = err, .errlen = errlen};
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!out || !name || (!text && len))
		return CF_E_INVAL;
	if (!(p.c = defaults()))
		return -ENOMEM;
	p.st.p = text;
	p.st.end = text + len;
	r = ini_parse_stream(reader, &p.st, handler, &p);
	if (p.err_rc == -ENOMEM || r == -2) {
		cf_config_free(p.c);
		return -ENOMEM;
	}
	if (p.st.bad_line)
		set_err(&p, p.st.bad_line, CF_E_CONFIG, "%s", p.st.bad);
	if (r > 0)
		set_err(&p, r, CF_E_CONFIG,
		        "not a '[section]' or 'key = value' line (comments start with ';' or '#')");
	if (!p.err_line)
		cross_check(&p);
	if (p.err_line) {
		cf_config_free(p.c);
		return p.err_rc ? p.err_rc : CF_E_CONFIG;
	}
	*out = p.c;
	return 0;
}

/* The whole file at @path into a new buffer. */
static int slurp(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st = {0};
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc;

	if (!f) {
		rc = errno == ENOENT ? CF_E_NOTFOUND : -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
		rc = CF_E_CONFIG;
		snprintf(err, errlen, "%s: %s", path,
		         !S_ISREG(st.st_mode) ? "not a regular file" : "larger than 1 MiB");
		fclose(f);
		return rc;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || n > (size_t)st.st_size) {
		rc = ferror(f) ? -EIO : CF_E_CONFIG;
		snprintf(err, errlen, "%s: %s", path, ferror(f) ? "read error" : "grew while read");
		fclose(f);
		free(buf);
		return rc;
	}
	fclose(f);
	*text = buf;
	*len = n;
	return 0;
}

int cf_config_load(struct cf_config **out, const char *path, char *err, size_t errlen)
{
	char *def = NULL, *text = NULL, dummy[8];
	struct cf_config *c = NULL;
	size_t len = 0;
	int rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!out)
		return CF_E_INVAL;
	if (!path) {
		def = cf_config_default_path();
		if (!def || access(def, F_OK)) {
			free(def);
			if (!(c = defaults()))
				return -ENOMEM;
			*out = c;
			return 0;
		}
		path = def;
	}
	rc = slurp(path, &text, &len, err, errlen);
	if (!rc)
		rc = cf_config_parse(&c, path, text, len, err, errlen);
	if (!rc && !(c->path = strdup(path))) {
		cf_config_free(c);
		rc = -ENOMEM;
	}
	free(text);
	free(def);
	if (!rc)
		*out = c;
	return rc;
}

void cf_config_free(struct cf_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nstorage; i++) {
		free(c->storage[i].key);
		if (c->storage[i].value) {
			cf_core_wipe(c->storage[i].value, strlen(c->storage[i].value));
			free(c->storage[i].value);
		}
	}
	free(c->storage);
	free(c->path);
	free(c->store);
	free(c->lock_dir);
	free(c->repo_url);
	free(c->state_dir);
	free(c->cache_dir);
	free(c->passphrase_file);
	free(c->power_supply);
	free(c->keyvault_url);
	free(c);
}
