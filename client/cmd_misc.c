/*
 * certfleet status, events and methods.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

static int cmd_status(struct cli *, int, char **);
static int cmd_events_kinds(struct cli *, int, char **);
static int cmd_events(struct cli *, int, char **);
static int cmd_methods(struct cli *, int, char **);
static int cmd_debug_clock(struct cli *, int, char **);

const struct cli_cmd cli_misc_cmds[] = {
	{ "status", cmd_status, "",
	  "daemon version, uptime, schema version and counts", "",
	  M_DAEMON_STATUS },
	{ "events", cmd_events, "[--follow] [--after ID] [--before ID] "
	  "[--kinds K,...] "
	  "[--subject TYPE:ID | --item ID] [--limit N]",
	  "the activity feed, newest first; --follow streams new events",
	  "  --follow         print events as they commit, oldest first, until\n"
	  "                   the daemon stops (--json: one JSON object a line);\n"
	  "                   reconnect with --after the last ID printed: no gap,\n"
	  "                   no duplicate (calls Events.Watch)\n"
	  "  --after ID       only events newer than ID\n"
	  "  --before ID      only events older than ID (paging back)\n"
	  "  --kinds K,...    only these kinds ('certfleet events kinds' lists\n"
	  "                   them)\n"
	  "  --subject T:ID   only events about one thing: tracked:3,\n"
	  "                   certificate:5, ca:2, sink:1\n"
	  "  --item ID        the same as --subject tracked:ID\n"
	  "  --limit N        at most N events (default 50, at most 10000)\n",
	  M_EVENTS_LIST },
	{ "events kinds", cmd_events_kinds, "",
	  "every event kind, its usual severity and what it means", "",
	  M_EVENTS_KINDS },
	{ "methods", cmd_methods, "",
	  "the RPC methods the daemon serves", "", M_DAEMON_METHODS },
	{ "debug clock", cmd_debug_clock, "SECONDS",
	  "tests only: move the daemon's clock to now + SECONDS (0 resets)",
	  "Needs certfleetd started with --test-hooks yes and an admin peer.\n",
	  M_DEBUG_SET_CLOCK },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static int
cmd_status(struct cli *cli, int argc, char **argv)
{
	static const struct { const char *key, *label; } rows[] = {
		{ "version", "Version" }, { "pid", "PID" },
		{ "started_at", "Started" }, { "uptime_seconds", "Uptime (s)" },
		{ "schema_version", "Schema Version" }, { "role", "Your Role" },
		{ "clients", "Clients" }, { "events", "Events" },
	};
	struct cf_reply r;
	char buf[256];
	int rc;

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	if ((rc = cli_call(cli, M_DAEMON_STATUS, NULL, NULL, NULL, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else {
		const msgpack_object *t = wire_map_get(&r.result, "tracked");

		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
			out_field(rows[i].label, out_text(&r.result, rows[i].key,
			    ",", buf, sizeof(buf)), 16);
		out_field("Tracked", out_text(t, "total", ",", buf, sizeof(buf)), 16);
		out_field("  active", out_text(t, "active", ",", buf, sizeof(buf)), 16);
		out_field("  from PEM", out_text(t, "pem", ",", buf, sizeof(buf)), 16);
		out_field("  from host", out_text(t, "host", ",", buf, sizeof(buf)), 16);
		t = wire_map_get(&r.result, "techzone");
		if (t == NULL || t->type != MSGPACK_OBJECT_MAP)
			out_field("Tech Zone", "-", 16);
		else {
			out_field("Tech Zone", out_text(t, "name", ",", buf,
			    sizeof(buf)), 16);
			out_field("  listen", out_text(t, "listen", ", ", buf,
			    sizeof(buf)), 16);
			out_field("  UDP answers", out_text(t, "udp_answers", ",",
			    buf, sizeof(buf)), 16);
			out_field("  TCP answers", out_text(t, "tcp_answers", ",",
			    buf, sizeof(buf)), 16);
			out_field("  dropped", out_text(t, "dropped", ",", buf,
			    sizeof(buf)), 16);
			out_field("  rate-limited", out_text(t, "rrl_dropped", ",",
			    buf, sizeof(buf)), 16);
		}
		t = wire_map_get(&r.result, "issuer");
		if (t != NULL && t->type == MSGPACK_OBJECT_MAP) {
			out_field("Issuing now", out_text(t, "jobs", ",", buf,
			    sizeof(buf)), 16);
			out_field("  issued", out_text(t, "issued", ",", buf,
			    sizeof(buf)), 16);
			out_field("  renewed", out_text(t, "renewed", ",", buf,
			    sizeof(buf)), 16);
			out_field("  failed", out_text(t, "failed", ",", buf,
			    sizeof(buf)), 16);
		}
	}
	cf_reply_free(&r);
	return EXIT_OK;
}

static const char *const events_headers[] = { "ID", "TIME", "SEVERITY",
    "SUBJECT", "KIND", "MESSAGE" };
static const char *const events_keys[] = { "id", "at", "severity", "subject",
    "kind", "message" };

/* One event as it arrives: a JSON line, or a row (no alignment: the rows
 * come one by one). */
static void
follow_print(const msgpack_object *ev, void *arg)
{
	struct cli *cli = arg;
	char buf[OUT_CELL_MAX];
	json_t *j;
	char *text;

	if (cli->json) {
		if ((j = out_json_from(ev)) == NULL ||
		    (text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) ==
		    NULL) {
			json_decref(j);
			return;
		}
		puts(text);
		free(text);
		json_decref(j);
	} else {
		for (size_t i = 0; i < 6; i++)
			printf("%s%s", i ? "  " : "", out_text(ev,
			    events_keys[i], ",", buf, sizeof(buf)));
		putchar('\n');
	}
	fflush(stdout);
}

static int
cmd_events(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "item", required_argument, NULL, 'i' },
		{ "subject", required_argument, NULL, 's' },
		{ "after", required_argument, NULL, 'a' },
		{ "before", required_argument, NULL, 'b' },
		{ "kinds", required_argument, NULL, 'k' },
		{ "limit", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *subject = NULL, *kinds = NULL;
	int64_t item = 0, limit = 50, after = -1, before = 0;
	int follow = 0, ch, rc, n;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'i' && cli_parse_id(optarg, &item) == 0)
			continue;
		if (ch == 'l' && cli_parse_int(optarg, 1, 10000, &limit) == 0)
			continue;
		if (ch == 'a' && cli_parse_int(optarg, 0, INT64_MAX, &after) == 0)
			continue;
		if (ch == 'b' && cli_parse_id(optarg, &before) == 0)
			continue;
		if (ch == 's' || ch == 'k' || ch == 'f') {
			subject = ch == 's' ? optarg : subject;
			kinds = ch == 'k' ? optarg : kinds;
			follow |= ch == 'f';
			continue;
		}
		return cli_usage_error(cli, ch == 'i' ? "bad item ID" :
		    ch == 'l' ? "--limit must be 1..10000" : ch == 'a' ||
		    ch == 'b' ? "--after and --before need an event ID" :
		    "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if (item && subject)
		return cli_usage_error(cli, "give --item or --subject, not both");
	if (before && follow)
		return cli_usage_error(cli, "--before is for the list, not "
		    "--follow");
	n = (item != 0) + (subject != NULL) + (after >= 0) + (kinds != NULL) +
	    !follow + (before != 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	if (!follow)
		wire_pack_kv_int(&pk, "limit", limit);
	if (item)
		wire_pack_kv_int(&pk, "item", item);
	if (subject)
		wire_pack_kv_str(&pk, "subject", subject);
	if (after >= 0)
		wire_pack_kv_int(&pk, "after", after);
	if (before)
		wire_pack_kv_int(&pk, "before", before);
	if (kinds)
		wire_pack_kv_str(&pk, "kinds", kinds);
	if (!follow) {
		rc = cli_call_list(cli, M_EVENTS_LIST, &sb, 6, events_headers,
		    events_keys);
		msgpack_sbuffer_destroy(&sb);
		return rc;
	}
	/* Streams until the daemon ends it; the last id printed is the
	 * cursor for --after on reconnecting. */
	rc = cli_call(cli, M_EVENTS_WATCH, &sb, follow_print, cli, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc == EXIT_OK)
		cf_reply_free(&r);
	return rc;
}

static int
cmd_events_kinds(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "KIND", "SEVERITY", "MEANING" };
	static const char *const keys[] = { "kind", "severity", "summary" };

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	return cli_call_list(cli, M_EVENTS_KINDS, NULL, 3, headers, keys);
}

static int
cmd_methods(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "METHOD", "ROLE", "SUMMARY" };
	static const char *const keys[] = { "name", "role", "summary" };

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	return cli_call_list(cli, M_DAEMON_METHODS, NULL, 3, headers, keys);
}

static int
cmd_debug_clock(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t offset;
	char buf[64];
	int rc;

	if (argc != 2 || cli_parse_int(argv[1], -(1LL << 40), 1LL << 40,
	    &offset) == -1)
		return cli_usage_error(cli, "expected SECONDS");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_int(&pk, "offset", offset);
	rc = cli_call(cli, M_DEBUG_SET_CLOCK, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		printf("daemon clock now %s\n", out_text(&r.result, "now", ",",
		    buf, sizeof(buf)));
	cf_reply_free(&r);
	return EXIT_OK;
}
