/*
 * Settings table and config file parsing (inih for the syntax).  Defaults
 * work with no file at all.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "certfleet/methods.h"
#include "config.h"
#include "log.h"

#ifndef CF_DEFAULT_STATE_DIR
#define CF_DEFAULT_STATE_DIR	"/var/lib/certfleet"
#endif

enum setting_type { SET_STR, SET_INT, SET_MODE, SET_BOOL, SET_LOGLEVEL, SET_LIST,
    SET_DAYS };

struct setting {
	const char		*name;
	enum setting_type	 type;
	size_t			 offset;
	long			 min, max;
	const char		*dflt;
	int			 reloadable;
	const char		*help;
};

#define OFF(f)	offsetof(struct config, f)

/* A list's count lives right after its array: see list_count(). */
_Static_assert(offsetof(struct config, ndns_resolvers) ==
    offsetof(struct config, dns_resolvers) + sizeof(char **),
    "list count must follow its array");
_Static_assert(offsetof(struct config, ntechzone_listen) ==
    offsetof(struct config, techzone_listen) + sizeof(char **),
    "list count must follow its array");
_Static_assert(offsetof(struct config, nhttp_listen) ==
    offsetof(struct config, http_listen) + sizeof(char **),
    "list count must follow its array");
_Static_assert(offsetof(struct config, nhttp_allow) ==
    offsetof(struct config, http_allow) + sizeof(char **),
    "list count must follow its array");

static const struct setting settings[] = {
	{ "state-dir", SET_STR, OFF(state_dir), 0, 0, CF_DEFAULT_STATE_DIR, 0,
	  "directory for the database and lock" },
	{ "socket", SET_STR, OFF(socket_path), 0, 0, CF_DEFAULT_SOCKET, 0,
	  "control socket path (the client's default too)" },
	{ "socket-group", SET_STR, OFF(socket_group), 0, 0, NULL, 0,
	  "group whose members are operators (default: the daemon's group)" },
	{ "log-level", SET_LOGLEVEL, OFF(log_level), 0, 0, "info", 1,
	  "error, warn, info or debug" },
	{ "syslog", SET_BOOL, OFF(syslog), 0, 0, "no", 1,
	  "also log to syslog (yes/no)" },
	{ "commit-interval-ms", SET_INT, OFF(commit_interval_ms), 1, 1000, "5", 1,
	  "how long writes gather before one commit" },
	{ "max-clients", SET_INT, OFF(max_clients), 1, 100000, "1024", 1,
	  "concurrent RPC connections" },
	{ "dns-resolver", SET_LIST, OFF(dns_resolvers), 0, 16, NULL, 0,
	  "resolver ADDR[:PORT] for lookups, repeatable (default: resolv.conf)" },
	{ "dns-timeout-ms", SET_INT, OFF(dns_timeout_ms), 100, 60000, "2000", 0,
	  "how long one DNS try waits for one resolver before the next" },
	{ "ca-file", SET_STR, OFF(ca_file), 0, 0, NULL, 1,
	  "trust anchors for judging presented chains (default: system store)" },
	{ "probe-concurrency", SET_INT, OFF(probe_concurrency), 1, 100000, "4096", 1,
	  "TLS probes under way at once" },
	{ "probe-handshakes", SET_INT, OFF(probe_handshakes), 1, 100000, "2048", 1,
	  "of those, TLS handshakes at once (each holds ~42 KB of OpenSSL state)" },
	{ "probe-timeout", SET_INT, OFF(probe_timeout), 1, 600, "10", 1,
	  "seconds one probe may take in all" },
	{ "probe-connect-timeout", SET_INT, OFF(probe_connect_timeout), 1, 600, "5", 1,
	  "seconds to connect to one address" },
	{ "probe-handshake-timeout", SET_INT, OFF(probe_handshake_timeout), 1, 600,
	  "10", 1, "seconds for the TLS handshake" },
	{ "test-hooks", SET_BOOL, OFF(test_hooks), 0, 0, "no", 0,
	  "enable Debug.* methods such as moving the clock (tests only)" },
	{ "techzone-name", SET_STR, OFF(techzone_name), 0, 0, NULL, 0,
	  "zone certfleetd serves for DNS-01 (needed to issue certificates)" },
	{ "techzone-listen", SET_LIST, OFF(techzone_listen), 0, 16, NULL, 0,
	  "ADDR[:PORT] the tech zone answers on (UDP and TCP), repeatable" },
	{ "acme-orders-per-account", SET_INT, OFF(acme_orders_per_account), 1,
	  1000, "16", 1, "ACME orders in flight per CA account (a CA deserves "
	  "politeness)" },
	{ "acme-timeout", SET_INT, OFF(acme_timeout), 1, 600, "30", 1,
	  "seconds one ACME request may take" },
	{ "acme-retry-min", SET_INT, OFF(acme_retry_min), 1, 86400, "60", 1,
	  "seconds before the first retry of a failed order (doubles each time)" },
	{ "acme-retry-max", SET_INT, OFF(acme_retry_max), 1, 604800, "21600", 1,
	  "seconds, the longest wait between retries of failed orders" },
	{ "cname-poll-min", SET_INT, OFF(cname_poll_min), 1, 86400, "5", 1,
	  "seconds before a missing _acme-challenge CNAME is looked up again "
	  "(doubles each time)" },
	{ "cname-poll-max", SET_INT, OFF(cname_poll_max), 1, 86400, "600", 1,
	  "seconds, the longest wait between CNAME lookups" },
	{ "deploy-concurrency", SET_INT, OFF(deploy_concurrency), 1, 1024, "16",
	  1, "deploys (each a writer child, then its reload) under way at once" },
	{ "http-listen", SET_LIST, OFF(http_listen), 0, 16, NULL, 0,
	    "ADDR:PORT for GET /metrics and /healthz (repeatable; off when unset)" },
	{ "http-allow", SET_LIST, OFF(http_allow), 0, 64, NULL, 1,
	    "CIDR that may connect to http-listen (repeatable; unset: loopback only)" },
	{ "http-max-connections", SET_INT, OFF(http_max_connections), 1, 10000,
	    "64", 1, "HTTP connections at once; beyond, new ones wait" },
	{ "metrics-items", SET_INT, OFF(metrics_items), 0, 100000000, "10000", 1,
	    "certificates with series of their own in /metrics; beyond, aggregates only" },
	{ "monitor-socket", SET_STR, OFF(monitor_socket), 0, 0, NULL, 0,
	    "a second, read-only control socket (role monitor); off when unset" },
	{ "monitor-socket-mode", SET_MODE, OFF(monitor_socket_mode), 0, 0777,
	    "0666", 0, "the monitor socket's mode, in octal as for chmod" },
	{ "warn-days", SET_DAYS, OFF(warn_days), 1, 3650, "30,14,7,3,1", 1,
	  "days before notAfter to warn, largest first; by default a threshold "
	  "applies only to certificates living 3 times as long" },
};

#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

static const struct setting *
setting_find(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

const char *
config_name_at(size_t i)
{
	return i < NSETTINGS ? settings[i].name : NULL;
}

static int
parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcasecmp(v, "off") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* The count of a list lives right after its array in struct config. */
static size_t *
list_count(struct config *cfg, const struct setting *s)
{
	return (size_t *)((char *)cfg + s->offset + sizeof(char **));
}

static int
list_append(struct config *cfg, const struct setting *s, const char *value,
    char *err, size_t errlen)
{
	char ***list = (char ***)((char *)cfg + s->offset);
	size_t *n = list_count(cfg, s);
	char **grown;

	if (value == NULL || *value == '\0') {
		snprintf(err, errlen, "%s: empty value", s->name);
		return -1;
	}
	if (*n >= (size_t)s->max) {
		snprintf(err, errlen, "%s: at most %ld values", s->name, s->max);
		return -1;
	}
	if ((grown = realloc(*list, (*n + 1) * sizeof(char *))) == NULL ||
	    (grown[*n] = strdup(value)) == NULL) {
		if (grown != NULL)
			*list = grown;
		snprintf(err, errlen, "%s: out of memory", s->name);
		return -1;
	}
	*list = grown;
	(*n)++;
	return 0;
}

static void
list_clear(struct config *cfg, const struct setting *s)
{
	char ***list = (char ***)((char *)cfg + s->offset);
	size_t *n = list_count(cfg, s);

	for (size_t i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

/* "30,14,7": distinct whole days in s's bounds, stored largest first. */
static int
parse_days(const struct setting *s, const char *value, struct config_days *d,
    char *err, size_t errlen)
{
	struct config_days out = { .given = 1 };
	const char *p = value;
	char *end;

	while (*p != '\0') {
		long n;
		size_t i;

		errno = 0;
		n = strtol(p, &end, 10);
		if (errno != 0 || end == p || (*end != ',' && *end != '\0') ||
		    n < s->min || n > s->max) {
			snprintf(err, errlen, "%s: '%s' is not a list of days in "
			    "%ld..%ld separated by commas", s->name, value, s->min,
			    s->max);
			return -1;
		}
		for (i = 0; i < out.n && out.days[i] != (int)n; i++)
			;
		if (i < out.n) {
			snprintf(err, errlen, "%s: %ld is given twice", s->name, n);
			return -1;
		}
		if (out.n == CONFIG_DAYS_MAX) {
			snprintf(err, errlen, "%s: at most %d thresholds", s->name,
			    CONFIG_DAYS_MAX);
			return -1;
		}
		/* Insertion keeps them largest first. */
		for (i = out.n++; i > 0 && out.days[i - 1] < (int)n; i--)
			out.days[i] = out.days[i - 1];
		out.days[i] = (int)n;
		p = *end == ',' ? end + 1 : end;
	}
	if (out.n == 0) {
		snprintf(err, errlen, "%s: empty value", s->name);
		return -1;
	}
	*d = out;
	return 0;
}

static int
setting_apply(struct config *cfg, const struct setting *s, const char *value,
    char *err, size_t errlen)
{
	void *field = (char *)cfg + s->offset;
	char *end;
	long n;
	int b;

	switch (s->type) {
	case SET_LIST:
		return list_append(cfg, s, value, err, errlen);
	case SET_STR:
		if (value == NULL) {
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		if (*value == '\0') {
			snprintf(err, errlen, "%s: empty value", s->name);
			return -1;
		}
		char *copy = strdup(value);
		if (copy == NULL) {
			snprintf(err, errlen, "%s: out of memory", s->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	case SET_INT:
	case SET_MODE:
		errno = 0;
		n = strtol(value, &end, s->type == SET_MODE ? 8 : 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    n < s->min || n > s->max) {
			if (s->type == SET_MODE)
				snprintf(err, errlen, "%s: '%s' is not an octal "
				    "mode in 0..0777", s->name, value);
			else
				snprintf(err, errlen, "%s: '%s' is not an "
				    "integer in %ld..%ld", s->name, value,
				    s->min, s->max);
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	case SET_BOOL:
		if (parse_bool(value, &b) == -1) {
			snprintf(err, errlen, "%s: '%s' is not yes or no",
			    s->name, value);
			return -1;
		}
		*(int *)field = b;
		return 0;
	case SET_DAYS:
		return parse_days(s, value, field, err, errlen);
	case SET_LOGLEVEL:
		if ((b = log_level_parse(value)) == -1) {
			snprintf(err, errlen,
			    "%s: '%s' is not one of error, warn, info, debug",
			    s->name, value);
			return -1;
		}
		*(int *)field = b;
		return 0;
	}
	return -1;
}

struct config *
config_new(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char err[256];

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (settings[i].dflt == NULL)
			continue;
		if (setting_apply(cfg, &settings[i], settings[i].dflt, err,
		    sizeof(err)) == -1) {
			config_free(cfg);
			return NULL;
		}
	}
	cfg->warn_days.given = 0;	/* the default scales with lifetimes */
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (settings[i].type == SET_STR)
			free(*(char **)((char *)cfg + settings[i].offset));
		else if (settings[i].type == SET_LIST)
			list_clear(cfg, &settings[i]);
	}
	free(cfg);
}

int
config_set(struct config *cfg, const char *name, const char *value,
    char *err, size_t errlen)
{
	const struct setting *s = setting_find(name);

	if (s == NULL) {
		snprintf(err, errlen, "unknown setting '%s'", name);
		return -1;
	}
	return setting_apply(cfg, s, value, err, errlen);
}

void
config_clear(struct config *cfg, const char *name)
{
	const struct setting *s = setting_find(name);

	if (s != NULL && s->type == SET_LIST)
		list_clear(cfg, s);
}

int
config_is_list(const char *name)
{
	const struct setting *s = setting_find(name);

	return s != NULL && s->type == SET_LIST;
}

int
config_reloadable(const char *name)
{
	const struct setting *s = setting_find(name);

	return s != NULL && s->reloadable;
}

int
config_differs(const struct config *a, const struct config *b,
    const char *name)
{
	const struct setting *s = setting_find(name);

	if (s == NULL)
		return 0;
	const void *fa = (const char *)a + s->offset;
	const void *fb = (const char *)b + s->offset;
	if (s->type == SET_LIST) {
		size_t na = *(const size_t *)((const char *)fa + sizeof(char **));
		size_t nb = *(const size_t *)((const char *)fb + sizeof(char **));
		char *const *la = *(char *const *const *)fa;
		char *const *lb = *(char *const *const *)fb;

		if (na != nb)
			return 1;
		for (size_t i = 0; i < na; i++)
			if (strcmp(la[i], lb[i]) != 0)
				return 1;
		return 0;
	}
	if (s->type == SET_DAYS)
		return memcmp(fa, fb, sizeof(struct config_days)) != 0;
	if (s->type == SET_STR) {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		if (sa == NULL || sb == NULL)
			return sa != sb;
		return strcmp(sa, sb) != 0;
	}
	return *(const int *)fa != *(const int *)fb;
}

struct load_ctx {
	struct config	*cfg;
	unsigned char	 seen[NSETTINGS];
	char		 msg[256];
};

static int
load_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct load_ctx *ctx = arg;
	const struct setting *s;

	if (section[0] != '\0') {
		snprintf(ctx->msg, sizeof(ctx->msg),
		    "sections are not used ([%s])", section);
		return 0;
	}
	if ((s = setting_find(name)) == NULL) {
		snprintf(ctx->msg, sizeof(ctx->msg), "unknown setting '%s'", name);
		return 0;
	}
	if (ctx->seen[s - settings]++ && s->type != SET_LIST) {
		snprintf(ctx->msg, sizeof(ctx->msg), "'%s' is set twice", name);
		return 0;
	}
	return setting_apply(ctx->cfg, s, value, ctx->msg, sizeof(ctx->msg)) == 0;
}

int
config_load_file(struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct load_ctx ctx = { .cfg = cfg };
	FILE *fp;
	int line;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	line = ini_parse_file(fp, load_handler, &ctx);
	fclose(fp);
	if (line == 0)
		return 0;
	if (line < 0)
		snprintf(err, errlen, "%s: cannot read", path);
	else
		snprintf(err, errlen, "%s:%d: %s", path, line,
		    ctx.msg[0] ? ctx.msg : "syntax error");
	return -1;
}

void
config_usage(FILE *fp)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s %s", s->name,
		    s->type == SET_BOOL ? "yes|no" : "VALUE");
		fprintf(fp, "  %-32s %s", flag, s->help);
		if (s->dflt != NULL)
			fprintf(fp, " [%s]", s->dflt);
		fputc('\n', fp);
	}
}
