/* SPDX-License-Identifier: ISC */
/* keyvaultd: the Coffer key vault service (docs/keyvaultd.md, docs/man/keyvaultd.8.scd). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/error.h"
#include "core/keyfile.h"
#include "keyvaultd/kvd_http.h"
#include "keyvaultd/kvd_server.h"
#include "util/cli.h"
#include "util/log.h"

#ifndef CF_VERSION
#define CF_VERSION "unknown"
#endif

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage[] =
    "Usage: keyvaultd --db PATH --escrow-key FILE [options]\n"
    "\n"
    "The Coffer key vault service: accounts, device directory, escrow records, recovery\n"
    "contacts' server shares, mailbox, freshness witnesses and audit log over HTTP/JSON.\n"
    "\n"
    "Options:\n"
    "  --db PATH               the service database (created 0600 and migrated if needed)\n"
    "  --escrow-key FILE       the escrow key file (created 0600 if missing)\n"
    "  --no-create-key         refuse to start when the escrow key file is missing\n"
    "  --listen ADDR[:PORT]    numeric address to listen on (default 127.0.0.1:8420;\n"
    "                          IPv6 as [ADDR]:PORT)\n"
    "  --port PORT             the port (overrides --listen's); 0 picks a free one\n"
    "  --port-file PATH        write the port listened on to PATH once listening\n"
    "  --tls-cert FILE         PEM certificate chain: serve HTTPS (with --tls-key)\n"
    "  --tls-key FILE          PEM private key (0600, like every key file)\n"
    "  --trusted-proxy ADDR    believe X-Forwarded-For from this reverse proxy address\n"
    "  --threads N             request threads and database connections (default 2)\n"
    "  --session-ttl SECONDS   session lifetime (default 3600)\n"
    "  --rate-address N        requests per minute and client address (default 600)\n"
    "  --rate-account N        requests per minute and account (default 300)\n"
    "  --lockout-failures N    failed logins that lock an account (default 5; x4 per\n"
    "                          address)\n"
    "  --lockout-seconds N     how long a lockout lasts (default 900)\n"
    "  -v, --verbose           log debug messages\n"
    "  -q, --quiet             log only warnings and errors\n"
    "  -h, --help              this help\n"
    "      --version           the version\n"
    "\n"
    "With --port 0 (or port 0 in --listen) the chosen port is printed on standard output.\n"
    "SIGTERM or SIGINT stops it cleanly: requests in progress finish first.\n"
    "Exit status: 0 after a clean stop, 1 when it cannot start, 2 for usage errors.\n";

enum {
	OPT_DB = 256,
	OPT_KEY,
	OPT_NO_CREATE,
	OPT_LISTEN,
	OPT_PORT,
	OPT_PORT_FILE,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_PROXY,
	OPT_THREADS,
	OPT_TTL,
	OPT_RATE_ADDR,
	OPT_RATE_ACCOUNT,
	OPT_LOCK_FAIL,
	OPT_LOCK_SECS,
	OPT_VERSION,
};

static const struct option longopts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"escrow-key", required_argument, NULL, OPT_KEY},
    {"no-create-key", no_argument, NULL, OPT_NO_CREATE},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"port", required_argument, NULL, OPT_PORT},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"trusted-proxy", required_argument, NULL, OPT_PROXY},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"session-ttl", required_argument, NULL, OPT_TTL},
    {"rate-address", required_argument, NULL, OPT_RATE_ADDR},
    {"rate-account", required_argument, NULL, OPT_RATE_ACCOUNT},
    {"lockout-failures", required_argument, NULL, OPT_LOCK_FAIL},
    {"lockout-seconds", required_argument, NULL, OPT_LOCK_SECS},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct opts {
	struct cf_kvd_config cfg;
	struct cf_kvd_http_opts http;
	char host[64];
	const char *port_file, *cert_file, *key_file;
	int port_given;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keyvaultd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'keyvaultd --help'.\n");
	return EXIT_USAGE;
}

/* "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT". */
static int parse_listen(struct opts *o, const char *arg)
{
	const char *colon, *host = arg;
	struct in6_addr a6;
	struct in_addr a4;
	size_t hostlen;
	uint64_t port;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close)
			return -1;
		host = arg + 1;
		hostlen = (size_t)(close - host);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return -1;
	} else {
		colon = strrchr(arg, ':');
		if (colon && strchr(arg, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		hostlen = colon ? (size_t)(colon - arg) : strlen(arg);
	}
	if (hostlen == 0 || hostlen >= sizeof(o->host))
		return -1;
	memcpy(o->host, host, hostlen);
	o->host[hostlen] = '\0';
	if (inet_pton(AF_INET, o->host, &a4) != 1 && inet_pton(AF_INET6, o->host, &a6) != 1)
		return -1; /* names are not resolved: say which address */
	if (colon) {
		if (cf_cli_parse_uint(colon + 1, 0, 65535, &port) != 0)
			return -1;
		o->http.port = (unsigned)port;
		o->port_given = 1;
	}
	return 0;
}

static int parse_uint(const char *opt, const char *arg, uint64_t min, uint64_t max,
		      unsigned *out)
{
	uint64_t v;

	if (cf_cli_parse_uint(arg, min, max, &v) != 0) {
		fprintf(stderr, "keyvaultd: %s needs a whole number from %llu to %llu\n"
				"Try 'keyvaultd --help'.\n",
			opt, (unsigned long long)min, (unsigned long long)max);
		return EXIT_USAGE;
	}
	*out = (unsigned)v;
	return 0;
}

/* Returns -1 to run, or the exit status. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	int opt, rc = 0;
	unsigned port;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vqh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_DB: o->cfg.db_path = optarg; break;
		case OPT_KEY: o->cfg.escrow_key_path = optarg; break;
		case OPT_NO_CREATE: o->cfg.create_escrow_key = 0; break;
		case OPT_LISTEN:
			if (parse_listen(o, optarg) != 0)
				return usage_error("--listen: '%s' is not a numeric ADDR[:PORT]",
						   optarg);
			break;
		case OPT_PORT:
			rc = parse_uint("--port", optarg, 0, 65535, &port);
			o->http.port = port;
			o->port_given = 1;
			break;
		case OPT_PORT_FILE: o->port_file = optarg; break;
		case OPT_TLS_CERT: o->cert_file = optarg; break;
		case OPT_TLS_KEY: o->key_file = optarg; break;
		case OPT_PROXY: o->http.trusted_proxy = optarg; break;
		case OPT_THREADS: rc = parse_uint("--threads", optarg, 1, 64, &o->cfg.threads); break;
		case OPT_TTL:
			rc = parse_uint("--session-ttl", optarg, 1, 30 * 86400, &o->cfg.session_ttl);
			break;
		case OPT_RATE_ADDR:
			rc = parse_uint("--rate-address", optarg, 0, 1000000,
					&o->cfg.limits.rate_address);
			break;
		case OPT_RATE_ACCOUNT:
			rc = parse_uint("--rate-account", optarg, 0, 1000000,
					&o->cfg.limits.rate_account);
			break;
		case OPT_LOCK_FAIL:
			rc = parse_uint("--lockout-failures", optarg, 1, 1000,
					&o->cfg.limits.lockout_failures);
			break;
		case OPT_LOCK_SECS:
			rc = parse_uint("--lockout-seconds", optarg, 1, 30 * 86400,
					&o->cfg.limits.lockout_seconds);
			break;
		case 'v': cf_log_set_level(CF_LOG_DEBUG); break;
		case 'q': cf_log_set_level(CF_LOG_WARN); break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		case OPT_VERSION: printf("keyvaultd %s\n", CF_VERSION); return EXIT_OK;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (rc)
			return rc;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->cfg.db_path)
		return usage_error("%s", "--db PATH is required");
	if (!o->cfg.escrow_key_path)
		return usage_error("%s", "--escrow-key FILE is required");
	if (!o->cert_file != !o->key_file)
		return usage_error("%s", "--tls-cert and --tls-key go together");
	o->http.host = o->host;
	o->http.threads = o->cfg.threads;
	return -1;
}

/* Read a PEM file into a NUL-terminated secure buffer (keys: through core/keyfile.h). */
static int read_pem(const char *path, int secret, struct cf_secbuf **out)
{
	struct cf_secbuf *raw = NULL, *text = NULL;
	FILE *f;
	int rc;

	if (secret) {
		rc = cf_keyfile_read(path, &raw);
	} else {
		char buf[65536];
		size_t n;
		f = fopen(path, "rb");
		if (!f)
			return -errno;
		n = fread(buf, 1, sizeof(buf), f);
		rc = ferror(f) ? -EIO : !feof(f) ? CF_E_LIMIT : cf_secbuf_dup(&raw, buf, n);
		fclose(f);
	}
	if (!rc)
		rc = cf_secbuf_new(&text, cf_secbuf_len(raw) + 1);
	if (!rc) {
		memcpy(cf_secbuf_data(text), cf_secbuf_data(raw), cf_secbuf_len(raw));
		*out = text;
	}
	cf_secbuf_free(raw);
	return rc;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096], text[16];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(text, sizeof(text), "%u\n", port);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fputs(text, f) < 0 || fclose(f) != 0) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, path) != 0) {
		n = -errno;
		unlink(tmp);
		return n;
	}
	return 0;
}

/* jansson allocations are wiped when freed: answers carry escrowed keys and shares. */
static void *wiping_malloc(size_t n)
{
	size_t *p = malloc(sizeof(size_t) * 2 + n);

	if (!p)
		return NULL;
	p[0] = n;
	return p + 2;
}

static void wiping_free(void *ptr)
{
	size_t *p = ptr;

	if (!p)
		return;
	p -= 2;
	cf_core_wipe(p + 2, p[0]);
	free(p);
}

static int serve(struct opts *o)
{
	struct cf_secbuf *cert = NULL, *key = NULL;
	struct cf_kvd_server *srv = NULL;
	struct cf_kvd_http *http = NULL;
	sigset_t set;
	int sig = 0, rc;

	if (o->cert_file && ((rc = read_pem(o->cert_file, 0, &cert)) != 0 ||
			     (rc = read_pem(o->key_file, 1, &key)) != 0)) {
		cf_log_err("TLS files %s, %s: %s", o->cert_file, o->key_file, cf_strerror(rc));
		goto out;
	}
	rc = cf_kvd_server_new(&srv, &o->cfg);
	if (rc) {
		cf_log_err("cannot start: %s", cf_strerror(rc));
		goto out;
	}
	/* the request threads inherit this mask; only sigwait below takes the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	o->http.tls_cert = cert ? (const char *)cf_secbuf_data(cert) : NULL;
	o->http.tls_key = key ? (const char *)cf_secbuf_data(key) : NULL;
	rc = cf_kvd_http_start(&http, srv, &o->http);
	if (rc)
		goto out;
	cf_log_info("listening on %s port %u (%s), database %s", o->host, cf_kvd_http_port(http),
		    cert ? "https" : "http", o->cfg.db_path);
	if (o->port_given && o->http.port == 0) {
		printf("%u\n", cf_kvd_http_port(http));
		fflush(stdout);
	}
	if (o->port_file && (rc = write_port_file(o->port_file, cf_kvd_http_port(http))) != 0) {
		cf_log_err("cannot write the port file %s: %s", o->port_file, cf_strerror(rc));
		goto out;
	}
	do {
		if (sigwait(&set, &sig) != 0)
			break;
		if (sig == SIGHUP)
			cf_log_info("SIGHUP ignored (nothing to reload)");
	} while (sig == SIGHUP);
	cf_log_info("stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
	cf_kvd_http_stop(http);
	cf_kvd_server_free(srv);
	cf_secbuf_free(cert);
	cf_secbuf_free(key);
	return rc ? EXIT_FAIL : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	cf_log_set_prog("keyvaultd");
	cf_kvd_server_defaults(&o.cfg);
	snprintf(o.host, sizeof(o.host), "127.0.0.1");
	o.http.port = 8420;
	rc = parse_args(&o, argc, argv);
	if (rc >= 0)
		return rc;
	if (cf_core_init() != 0) {
		cf_log_err("the crypto library does not start");
		return EXIT_FAIL;
	}
	json_set_alloc_funcs(wiping_malloc, wiping_free);
	return serve(&o);
}
