/*
 * certfleet check: a Monitoring Plugins check (Nagios, Icinga, Naemon,
 * Sensu).  One status line on stdout, "CERTFLEET <STATE> - <text> |
 * <perfdata>", and the exit code the guidelines give: 0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN.  Everything that is not a verdict (bad
 * arguments, no daemon, a timeout) is UNKNOWN, never CRITICAL: exit 2 means
 * a certificate is in trouble.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certfleet/escape.h"
#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

#define CHECK_UNKNOWN	3
#define CHECK_TIMEOUT	30

static int cmd_check(struct cli *, int, char **);

const struct cli_cmd cli_check_cmds[] = {
	{ "check", cmd_check, "(--item ID | --cert ID | --host HOST[:PORT] "
	  "[--sni NAME] | --all) [-w DAYS] [-c DAYS] [--findings] [-v] "
	  "[-t SECONDS]",
	  "a Nagios/Icinga check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
	  "  --item ID        a tracked item (by PEM or host), as last checked\n"
	  "  --cert ID        a managed certificate\n"
	  "  --host H[:PORT]  probe a host now (port 443 by default); nothing\n"
	  "                   is saved\n"
	  "  --sni NAME       the name to send and match (with --host)\n"
	  "  --all            the whole fleet: the worst state wins; counts as\n"
	  "                   perfdata; deactivated items are left out\n"
	  "  -w, --warning D  WARNING below D days left (default 30)\n"
	  "  -c, --critical D CRITICAL below D days left (default 14)\n"
	  "                   The defaults step down 30, 14, 7, 3, 1 to a third\n"
	  "                   of the certificate's lifetime, so a 6-day\n"
	  "                   certificate warns at 1 day; given values apply\n"
	  "                   as given.  An expired certificate, an untrusted\n"
	  "                   chain, a name mismatch or a host that does not\n"
	  "                   answer is CRITICAL; a failing renewal WARNING.\n"
	  "  --findings       with --item: the audit's findings count too (a\n"
	  "                   critical one is CRITICAL, a high one WARNING) and\n"
	  "                   their codes join the line\n"
	  "  -v, --verbose    with --all: one line per item not OK (up to 100)\n"
	  "  -t, --timeout S  UNKNOWN after S seconds (default 30)\n"
	  "Works through the read-only monitor socket (--socket PATH or\n"
	  "CERTFLEET_SOCKET).\n",
	  M_CHECK_RUN },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const char *const state_names[] = {
	"OK", "WARNING", "CRITICAL", "UNKNOWN",
};

static int unknown(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Not a verdict: one UNKNOWN line on stdout, where the monitor reads. */
static int
unknown(const char *fmt, ...)
{
	char msg[1024], shown[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	esc_term(shown, sizeof(shown), msg, strlen(msg), 0, NULL);
	for (char *p = shown; *p; p++)
		if (*p == '|')
			*p = '/';	/* '|' would start perfdata */
	printf("CERTFLEET UNKNOWN - %s\n", shown);
	return CHECK_UNKNOWN;
}

static void
timeout_cb(int sig)
{
	static const char line[] = "CERTFLEET UNKNOWN - no answer from "
	    "certfleetd in time\n";

	(void)sig;
	/* Only async-signal-safe calls here. */
	if (write(STDOUT_FILENO, line, sizeof(line) - 1) < 0)
		_exit(CHECK_UNKNOWN);
	_exit(CHECK_UNKNOWN);
}

/* Text for the status line: escaped, and no '|' (it starts perfdata). */
static void
line_text(char *buf, size_t len, const msgpack_object *o)
{
	char raw[1024] = "";

	if (o != NULL && o->type == MSGPACK_OBJECT_STR)
		snprintf(raw, sizeof(raw), "%.*s", (int)o->via.str.size,
		    o->via.str.ptr);
	esc_term(buf, len, raw, strlen(raw), 0, NULL);
	for (char *p = buf; *p; p++)
		if (*p == '|')
			*p = '/';
}

static int64_t
map_int(const msgpack_object *m, const char *key, int64_t dflt)
{
	const msgpack_object *v = wire_map_get(m, key);

	if (v == NULL)
		return dflt;
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)v->via.u64;
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return v->via.i64;
	return dflt;
}

static int
state_of(const msgpack_object *m)
{
	int64_t s = map_int(m, "state", CHECK_UNKNOWN);

	return s >= 0 && s <= CHECK_UNKNOWN ? (int)s : CHECK_UNKNOWN;
}

static void
print_one(const msgpack_object *r)
{
	const msgpack_object *th = wire_map_get(r, "thresholds");
	int64_t w = th ? map_int(th, "warning", 0) : 0;
	int64_t c = th ? map_int(th, "critical", 0) : 0;
	char text[1024], ws[24] = "", cs[24] = "";
	int st = state_of(r);

	line_text(text, sizeof(text), wire_map_get(r, "summary"));
	if (w > 0)
		snprintf(ws, sizeof(ws), "%lld", (long long)w);
	if (c > 0)
		snprintf(cs, sizeof(cs), "%lld", (long long)c);
	if (wire_map_get(r, "not_after") != NULL &&
	    wire_map_get(r, "not_after")->type != MSGPACK_OBJECT_NIL)
		printf("CERTFLEET %s - %s | 'days'=%lld;%s;%s;0;\n",
		    state_names[st], text,
		    (long long)map_int(r, "days_left", 0), ws, cs);
	else
		printf("CERTFLEET %s - %s\n", state_names[st], text);
}

static void
print_fleet(const msgpack_object *r, int verbose)
{
	const msgpack_object *counts = wire_map_get(r, "counts");
	const msgpack_object *probs = wire_map_get(r, "problems");
	int64_t n[4];

	for (int i = 0; i < 4; i++)
		n[i] = counts ? map_int(counts, state_names[i], 0) : 0;
	printf("CERTFLEET %s - %lld certificate%s: %lld critical, %lld "
	    "warning, %lld unknown, %lld ok | 'ok'=%lld;;;0; 'warning'=%lld;;;0; "
	    "'critical'=%lld;;;0; 'unknown'=%lld;;;0;\n",
	    state_names[state_of(r)], (long long)map_int(r, "items", 0),
	    map_int(r, "items", 0) == 1 ? "" : "s", (long long)n[2], (long long)n[1], (long long)n[3], (long long)n[0],
	    (long long)n[0], (long long)n[1], (long long)n[2], (long long)n[3]);
	if (!verbose || probs == NULL || probs->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < probs->via.array.size; i++) {
		const msgpack_object *p = &probs->via.array.ptr[i];
		char text[1024], src[16];

		line_text(text, sizeof(text), wire_map_get(p, "summary"));
		line_text(src, sizeof(src), wire_map_get(p, "source"));
		printf("%s: %s %lld: %s\n", state_names[state_of(p)], src,
		    (long long)map_int(p, "id", 0), text);
	}
}

static int
check_call(struct cli *cli, const msgpack_sbuffer *sb, int fleet, int verbose)
{
	struct cf_reply r;
	char err[512];
	int st;

	if (cli->conn == NULL &&
	    (cli->conn = cf_conn_open(cli->socket, err, sizeof(err))) == NULL)
		return unknown("%s", err);
	if (cf_call(cli->conn, M_CHECK_RUN, sb->data, sb->size, NULL, NULL, &r,
	    err, sizeof(err)) == -1) {
		cf_reply_free(&r);
		return unknown("%s", err);
	}
	if (!r.ok) {
		st = unknown("%s", r.message);
		cf_reply_free(&r);
		return st;
	}
	st = state_of(&r.result);
	if (cli->json) {
		if (out_json(&r.result) != 0)
			st = CHECK_UNKNOWN;
	} else if (fleet)
		print_fleet(&r.result, verbose);
	else
		print_one(&r.result);
	cf_reply_free(&r);
	return st;
}

static int
cmd_check(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "item", required_argument, NULL, 'i' },
		{ "cert", required_argument, NULL, 'C' },
		{ "host", required_argument, NULL, 'H' },
		{ "sni", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "warning", required_argument, NULL, 'w' },
		{ "critical", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, 't' },
		{ "findings", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t item = 0, cert = 0, warn = -1, crit = -1, tmo = CHECK_TIMEOUT;
	const char *host = NULL, *sni = NULL;
	int all = 0, verbose = 0, findings = 0, ch, n, rc;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	while ((ch = getopt_long(argc, argv, "w:c:vt:", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (cli_parse_id(optarg, &item) == -1)
				return unknown("--item needs an item ID");
			break;
		case 'C':
			if (cli_parse_id(optarg, &cert) == -1)
				return unknown("--cert needs a certificate ID");
			break;
		case 'H': host = optarg; break;
		case 's': sni = optarg; break;
		case 'a': all = 1; break;
		case 'w':
			if (cli_parse_int(optarg, 0, 3650, &warn) == -1)
				return unknown("-w needs days, 0..3650");
			break;
		case 'c':
			if (cli_parse_int(optarg, 0, 3650, &crit) == -1)
				return unknown("-c needs days, 0..3650");
			break;
		case 'v': verbose = 1; break;
		case 'F': findings = 1; break;
		case 't':
			if (cli_parse_int(optarg, 1, 3600, &tmo) == -1)
				return unknown("-t needs seconds, 1..3600");
			break;
		default:
			return unknown("check: unknown option '%s' (certfleet "
			    "check --help)", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return unknown("check: unexpected argument '%s'", argv[optind]);
	if ((item != 0) + (cert != 0) + (host != NULL) + all != 1)
		return unknown("check: give one of --item, --cert, --host or "
		    "--all");
	if (sni != NULL && host == NULL)
		return unknown("check: --sni goes with --host");
	if (findings && item == 0)
		return unknown("check: --findings goes with --item");
	if (warn >= 0 && crit >= 0 && crit > warn)
		return unknown("check: -c (%lld) must not exceed -w (%lld)",
		    (long long)crit, (long long)warn);
	signal(SIGALRM, timeout_cb);
	alarm((unsigned)tmo);
	n = (item != 0) + (cert != 0) + (host != NULL) + (sni != NULL) + all +
	    verbose + findings + (warn >= 0) + (crit >= 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	if (item)
		wire_pack_kv_int(&pk, "item", item);
	if (cert)
		wire_pack_kv_int(&pk, "cert", cert);
	if (host)
		wire_pack_kv_str(&pk, "host", host);
	if (sni)
		wire_pack_kv_str(&pk, "sni", sni);
	if (all)
		wire_pack_kv_bool(&pk, "all", 1);
	if (verbose)
		wire_pack_kv_bool(&pk, "verbose", 1);
	if (findings)
		wire_pack_kv_bool(&pk, "findings", 1);
	if (warn >= 0)
		wire_pack_kv_int(&pk, "warning", warn);
	if (crit >= 0)
		wire_pack_kv_int(&pk, "critical", crit);
	rc = check_call(cli, &sb, all, verbose);
	msgpack_sbuffer_destroy(&sb);
	alarm(0);
	return rc;
}
