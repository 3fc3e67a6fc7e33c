/*
 * certfleet audit: the fleet's findings as a report, streamed from the
 * tracked items' pages (each carries its findings), so a million items
 * take one page of memory: a table for people, CSV for a spreadsheet, JSON
 * for a program.  The summary comes last, when everything is counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certfleet/escape.h"
#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

static int cmd_audit(struct cli *, int, char **);

const struct cli_cmd cli_audit_cmds[] = {
	{ "audit", cmd_audit, "[--format table|json|csv] [--out FILE [--force]] "
	  "[--min-severity S] [--source host|pem] [--finding CODE,...]",
	  "the fleet's findings as a report (table, JSON or CSV), worst first "
	  "per item",
	  "  --format F        table (default), json (one document: the findings\n"
	  "                    then a summary), csv (RFC 4180, a header row;\n"
	  "                    cells that a spreadsheet would run as a formula\n"
	  "                    start with ')\n"
	  "  --out FILE        write there (refused if it exists, unless --force)\n"
	  "  --min-severity S  info, low, medium, high or critical\n"
	  "  --source S        host or pem items only\n"
	  "  --finding C,...   only these codes (expired, expiring,\n"
	  "                    not_yet_valid, self_signed, untrusted_chain,\n"
	  "                    incomplete_chain, hostname_mismatch, weak_key,\n"
	  "                    weak_signature, long_validity, check_failing,\n"
	  "                    renewal_overdue)\n"
	  "Exit status 0 whether or not there are findings; --json and --jsonl\n"
	  "are the same as --format json.\n",
	  M_TRACK_LIST },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const char *const severities[] = {
	"info", "low", "medium", "high", "critical",
};
#define NSEV	5

static const char *const known_codes[] = {
	"expired", "expiring", "not_yet_valid", "self_signed",
	"untrusted_chain", "incomplete_chain", "hostname_mismatch", "weak_key",
	"weak_signature", "long_validity", "check_failing", "renewal_overdue",
	NULL,
};

enum format { F_TABLE, F_JSON, F_CSV };

struct audit {
	enum format		 format;
	int			 min_sev;
	const char		*source;	/* NULL: both */
	char			 codes[512];	/* ",a,b," ("": every code) */
	struct out_stream	*table;
	json_t			*row;		/* reused per JSON row */
	int64_t			 items, with;	/* items walked, with findings */
	int64_t			 by_sev[NSEV];
	int64_t			 rows;
	int			 failed;
};

static int
sev_index(const char *s)
{
	for (int i = 0; i < NSEV; i++)
		if (strcmp(s, severities[i]) == 0)
			return i;
	return -1;
}

static const char *
str_of(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	const msgpack_object *v = wire_map_get(map, key);

	buf[0] = '\0';
	if (v != NULL && v->type == MSGPACK_OBJECT_STR) {
		/* Cut on a character: a half one would corrupt CSV and JSON. */
		size_t n = esc_utf8_prefix(v->via.str.ptr, v->via.str.size,
		    len - 1);

		memcpy(buf, v->via.str.ptr, n);
		buf[n] = '\0';
	}
	else if (v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		snprintf(buf, len, "%llu", (unsigned long long)v->via.u64);
	return buf;
}

/* The name an item is known by: host:port (sni) or its CN. */
static void
item_name(const msgpack_object *item, char *buf, size_t len)
{
	char host[300], port[16], sni[300], cn[OUT_CELL_MAX];

	str_of(item, "host", host, sizeof(host));
	str_of(item, "port", port, sizeof(port));
	str_of(item, "sni", sni, sizeof(sni));
	str_of(item, "common_name", cn, sizeof(cn));
	if (host[0] && sni[0] && strcmp(host, sni) != 0)
		snprintf(buf, len, "%s:%s (%s)", host, port, sni);
	else if (host[0])
		snprintf(buf, len, "%s:%s", host, port);
	else
		snprintf(buf, len, "%s", cn[0] ? cn : "-");
	buf[esc_utf8_trim_partial(buf, strlen(buf))] = '\0';
}

static void
csv_row(const char *const *cells, size_t n)
{
	char cell[OUT_CELL_MAX * 2];

	for (size_t i = 0; i < n; i++) {
		esc_csv(cell, sizeof(cell), cells[i], strlen(cells[i]));
		fputs(cell, stdout);
		fputs(i + 1 < n ? "," : "\r\n", stdout);
	}
}

static void
emit(struct audit *a, const char *const *cells)
{
	static const char *const keys[] = {
		"severity", "code", "id", "source", "name", "not_after", "text",
	};

	a->rows++;
	if (a->format == F_CSV) {
		csv_row(cells, 7);
		return;
	}
	if (a->format == F_TABLE) {
		if (out_stream_cells(a->table, cells) == -1)
			a->failed = 1;
		return;
	}
	json_object_clear(a->row);
	for (size_t i = 0; i < 7; i++)
		json_object_set_new(a->row, keys[i], json_string(cells[i]));
	if (out_stream_json(a->table, a->row) == -1)
		a->failed = 1;
}

/* One item: its findings past the filters, each a row. */
static void
audit_item(struct audit *a, const msgpack_object *item)
{
	const msgpack_object *fs = wire_map_get(item, "findings");
	char id[24], src[8], name[OUT_CELL_MAX + 640], na[40], sev[16];
	char code[64], text[600];
	int counted = 0;

	str_of(item, "source", src, sizeof(src));
	if (a->source != NULL && strcmp(src, a->source) != 0)
		return;
	a->items++;
	if (fs == NULL || fs->type != MSGPACK_OBJECT_ARRAY)
		return;
	str_of(item, "id", id, sizeof(id));
	str_of(item, "valid_until", na, sizeof(na));
	item_name(item, name, sizeof(name));
	for (uint32_t i = 0; i < fs->via.array.size; i++) {
		const msgpack_object *f = &fs->via.array.ptr[i];
		char key[70];
		int s;

		str_of(f, "severity", sev, sizeof(sev));
		str_of(f, "code", code, sizeof(code));
		str_of(f, "text", text, sizeof(text));
		snprintf(key, sizeof(key), ",%s,", code);
		if ((s = sev_index(sev)) < a->min_sev ||
		    (a->codes[0] && strstr(a->codes, key) == NULL))
			continue;
		if (!counted++)
			a->with++;
		a->by_sev[s]++;
		emit(a, (const char *const []){ sev, code, id, src, name, na,
		    text });
	}
}

static json_t *
summary_json(const struct audit *a)
{
	json_t *s = json_object(), *by = json_object();

	for (int i = NSEV - 1; i >= 0; i--)
		json_object_set_new(by, severities[i], json_integer(a->by_sev[i]));
	json_object_set_new(s, "items", json_integer(a->items));
	json_object_set_new(s, "items_with_findings", json_integer(a->with));
	json_object_set_new(s, "findings", json_integer(a->rows));
	json_object_set_new(s, "by_severity", by);
	return s;
}

static void
summary_print(const struct audit *a)
{
	printf("\n%lld items, %lld with findings; %lld findings: %lld "
	    "critical, %lld high, %lld medium, %lld low, %lld info\n",
	    (long long)a->items, (long long)a->with, (long long)a->rows,
	    (long long)a->by_sev[4], (long long)a->by_sev[3],
	    (long long)a->by_sev[2], (long long)a->by_sev[1],
	    (long long)a->by_sev[0]);
}

/* Checks "a,b" against the known codes into ",a,b,"; -1 names the bad. */
static int
parse_codes(const char *list, char *out, size_t len, const char **bad)
{
	char copy[512], *save = NULL;
	size_t o = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	out[o++] = ',';
	for (char *c = strtok_r(copy, ",", &save); c != NULL;
	    c = strtok_r(NULL, ",", &save)) {
		size_t k = 0;

		while (known_codes[k] != NULL && strcmp(known_codes[k], c) != 0)
			k++;
		if (known_codes[k] == NULL) {
			*bad = list + (c - copy);
			return -1;
		}
		o += (size_t)snprintf(out + o, len - o, "%s,", known_codes[k]);
		if (o >= len)
			return -1;
	}
	out[o] = '\0';
	return o > 1 ? 0 : -1;
}

/* --out: stdout becomes the file, made new unless --force. */
static int
open_out(struct cli *cli, const char *path, int force)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY |
	    (force ? O_TRUNC : O_EXCL), 0644);

	if (fd == -1)
		return cli_usage_error(cli, "--out %s: %s%s", path,
		    strerror(errno), errno == EEXIST ? " (--force replaces it)" :
		    "");
	fflush(stdout);
	if (dup2(fd, STDOUT_FILENO) == -1) {
		close(fd);
		return cli_fail(EXIT_REFUSED, "--out %s: %s", path,
		    strerror(errno));
	}
	close(fd);
	return EXIT_OK;
}

static void
audit_page(const msgpack_object *item, void *arg)
{
	audit_item(arg, item);
}

static int
cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'F' },
		{ "min-severity", required_argument, NULL, 's' },
		{ "source", required_argument, NULL, 'S' },
		{ "finding", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const headers[] = {
		"SEVERITY", "CODE", "ID", "SOURCE", "NAME", "NOT AFTER", "DETAIL",
	};
	struct audit a = { .format = cli->json ? F_JSON : F_TABLE };
	const char *out = NULL, *bad = NULL;
	int force = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "table") == 0)
				a.format = F_TABLE;
			else if (strcmp(optarg, "json") == 0)
				a.format = F_JSON;
			else if (strcmp(optarg, "csv") == 0)
				a.format = F_CSV;
			else
				return cli_usage_error(cli, "--format is table, "
				    "json or csv (html comes later)");
			break;
		case 'o': out = optarg; break;
		case 'F': force = 1; break;
		case 's':
			if ((a.min_sev = sev_index(optarg)) < 0)
				return cli_usage_error(cli, "--min-severity is "
				    "info, low, medium, high or critical");
			break;
		case 'S':
			if (strcmp(optarg, "host") != 0 && strcmp(optarg, "pem") != 0)
				return cli_usage_error(cli, "--source is host or "
				    "pem");
			a.source = optarg;
			break;
		case 'c':
			if (parse_codes(optarg, a.codes, sizeof(a.codes),
			    &bad) == -1)
				return cli_usage_error(cli, "--finding: unknown "
				    "code '%s' (certfleet audit --help)",
				    bad ? bad : optarg);
			break;
		default:
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]);
	if (force && out == NULL)
		return cli_usage_error(cli, "--force goes with --out");
	if (out != NULL && (rc = open_out(cli, out, force)) != EXIT_OK)
		return rc;
	if (a.format == F_CSV)
		csv_row(headers, 7);
	else if ((a.table = out_stream_new(a.format == F_TABLE ? OUT_TABLE :
	    OUT_JSON, 7, headers, NULL)) == NULL ||
	    (a.format == F_JSON && (a.row = json_object()) == NULL))
		return cli_fail(EXIT_REFUSED, "out of memory");
	if (a.format == F_JSON)
		fputs("{\"findings\": ", stdout);
	rc = cli_each_page(cli, M_TRACK_LIST, audit_page, &a);
	if (a.failed && rc == EXIT_OK)
		rc = EXIT_REFUSED;
	if (a.table != NULL && out_stream_end(a.table, rc == EXIT_OK) == -1 &&
	    rc == EXIT_OK)
		rc = EXIT_REFUSED;
	json_decref(a.row);
	if (rc != EXIT_OK)
		return rc;
	if (a.format == F_TABLE)
		summary_print(&a);
	else if (a.format == F_JSON) {
		json_t *s = summary_json(&a);
		char *text = s ? json_dumps(s, JSON_INDENT(2) |
		    JSON_ENSURE_ASCII) : NULL;

		printf(", \"summary\": %s}\n", text ? text : "null");
		free(text);
		json_decref(s);
	}
	if (fflush(stdout) == EOF)
		return cli_fail(EXIT_REFUSED, "cannot write the report: %s",
		    strerror(errno));
	return EXIT_OK;
}
