/*
 * certfleet track ...: add, list, show, delete, activate, deactivate.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certfleet/escape.h"
#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

/* Read no more than this from a PEM file; the daemon's limit is lower. */
#define PEM_READ_MAX	(8u * 1024 * 1024)

static int cmd_track_add(struct cli *, int, char **);
static int cmd_track_list(struct cli *, int, char **);
static int cmd_track_show(struct cli *, int, char **);
static int cmd_track_delete(struct cli *, int, char **);
static int cmd_track_activate(struct cli *, int, char **);
static int cmd_track_deactivate(struct cli *, int, char **);
static int cmd_track_import(struct cli *, int, char **);
static int cmd_track_check(struct cli *, int, char **);
static int cmd_track_history(struct cli *, int, char **);
static int cmd_track_raw(struct cli *, int, char **);

const struct cli_cmd cli_track_cmds[] = {
	{ "track add", cmd_track_add, "--pem FILE | --host HOST[:PORT] [--sni NAME]",
	  "track a certificate from a PEM file or a live host",
	  "  --pem FILE    a PEM file holding exactly one certificate ('-' reads\n"
	  "                stdin); decoded locally, never re-fetched\n"
	  "  --host HOST   fetched live: a name, an IPv4 address or [IPv6], with an\n"
	  "                optional :PORT (443); https://HOST[:PORT]/... works too.\n"
	  "                The host is probed first; nothing is saved if it fails.\n"
	  "  --sni NAME    the server name to send and match (default: HOST)\n",
	  M_TRACK_ADD },
	{ "track import", cmd_track_import, "FILE",
	  "add or update many hosts, one 'host[:port] [sni]' a line ('-': stdin)",
	  "Lines starting with # are comments.  Targets are probed concurrently;\n"
	  "progress goes to stderr, the summary to stdout.  Failed targets are kept\n"
	  "with their error; a target already tracked is updated.\n", M_TRACK_IMPORT },
	{ "track check", cmd_track_check, "ID | --all",
	  "check a host item now (--all: every active host item)", "",
	  M_TRACK_CHECK },
	{ "track history", cmd_track_history, "ID",
	  "the raw chain snapshots of an item, one per change", "",
	  M_TRACK_HISTORY },
	{ "track raw", cmd_track_raw, "ID [--snapshot N]",
	  "print a snapshot's chain as PEM (default: the latest)", "",
	  M_TRACK_RAW },
	{ "track list", cmd_track_list, "",
	  "list tracked certificates", "", M_TRACK_LIST },
	{ "track show", cmd_track_show, "ID",
	  "show one tracked certificate's facts", "", M_TRACK_SHOW },
	{ "track delete", cmd_track_delete, "ID",
	  "stop tracking a certificate (its events stay)", "", M_TRACK_DELETE },
	{ "track activate", cmd_track_activate, "ID",
	  "resume scheduled checks of an item", "", M_TRACK_ACTIVATE },
	{ "track deactivate", cmd_track_deactivate, "ID",
	  "suspend scheduled checks of an item", "", M_TRACK_DEACTIVATE },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static char *
read_input(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf;
	size_t n;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(PEM_READ_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, PEM_READ_MAX + 1, fp);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		free(buf);
		buf = NULL;
	} else if (n > PEM_READ_MAX) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, PEM_READ_MAX);
		free(buf);
		buf = NULL;
	} else
		*len = n;
out:
	if (fp != stdin)
		fclose(fp);
	return buf;
}

static const struct {
	const char *key, *label;
} item_fields[] = {
	{ "id", "ID" },
	{ "source", "Source" },
	{ "active", "Active" },
	{ "status", "Status" },
	{ "error", "Error" },
	{ "common_name", "Common Name" },
	{ "valid_from", "Valid From" },
	{ "valid_until", "Valid Until" },
	{ "days_remaining", "Days Remaining" },
	{ "issued_by", "Issued By" },
	{ "organization", "Organization" },
	{ "organizational_unit", "Organizational Unit" },
	{ "location", "Location" },
	{ "serial_number", "Serial Number" },
	{ "signature_algorithm", "Signature Algorithm" },
	{ "public_key", "Public Key" },
	{ "subject_alt_names", "Subject Alternative Names" },
	{ "host", "Host" },
	{ "port", "Port" },
	{ "sni", "SNI" },
	{ "address", "Address" },
	{ "tls_version", "TLS Version" },
	{ "cipher", "Cipher" },
	{ "chain_valid", "Chain Valid" },
	{ "hostname_match", "Hostname Match" },
	{ "verify_error", "Verify Error" },
	{ "chain_length", "Chain Length" },
	{ "check_failures", "Failed Checks" },
	{ "subject", "Subject" },
	{ "issuer", "Issuer" },
	{ "fingerprint_sha256", "SHA-256 Fingerprint" },
	{ "created_at", "Created" },
	{ "last_checked_at", "Last Checked" },
	{ "next_check_at", "Next Check" },
};

/* One line per finding, "severity code: text", under one label. */
static void
print_findings(const msgpack_object *item)
{
	const msgpack_object *fs = wire_map_get(item, "findings");
	char code[64], sev[16], text[OUT_CELL_MAX], line[OUT_CELL_MAX + 96];

	if (fs == NULL || fs->type != MSGPACK_OBJECT_ARRAY ||
	    fs->via.array.size == 0) {
		out_field("Findings", "none", 26);
		return;
	}
	for (uint32_t i = 0; i < fs->via.array.size; i++) {
		const msgpack_object *f = &fs->via.array.ptr[i];

		snprintf(line, sizeof(line), "%s %s: %s",
		    out_text(f, "severity", ",", sev, sizeof(sev)),
		    out_text(f, "code", ",", code, sizeof(code)),
		    out_text(f, "text", ",", text, sizeof(text)));
		out_field(i == 0 ? "Findings" : "", line, 26);
	}
}

static void
print_item(const msgpack_object *item)
{
	char buf[8192];

	for (size_t i = 0; i < sizeof(item_fields) / sizeof(item_fields[0]); i++)
		out_field(item_fields[i].label, out_text(item, item_fields[i].key,
		    " | ", buf, sizeof(buf)), 26);
	print_findings(item);
}

static int
finish_item(struct cli *cli, struct cf_reply *r)
{
	return cli_finish_object(cli, r, print_item);
}


static int
add_host(struct cli *cli, const char *host, const char *sni)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, sni ? 2 : 1);
	wire_pack_kv_str(&pk, "host", host);
	if (sni)
		wire_pack_kv_str(&pk, "sni", sni);
	rc = cli_call(cli, M_TRACK_ADD, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc == EXIT_OK ? finish_item(cli, &r) : rc;
}

static int
cmd_track_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pem", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "sni", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *host = NULL, *sni = NULL;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512], *pem;
	size_t len = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			path = optarg;
		else if (ch == 'H')
			host = optarg;
		else if (ch == 's')
			sni = optarg;
		else
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
	}
	if ((path == NULL) == (host == NULL) || optind != argc ||
	    (sni != NULL && host == NULL))
		return cli_usage_error(cli, "give one source: --pem FILE or "
		    "--host HOST [--sni NAME]");
	if (host != NULL)
		return add_host(cli, host, sni);
	if ((pem = read_input(path, &len, err, sizeof(err))) == NULL)
		return cli_fail(EXIT_REFUSED, "%s", err);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_key(&pk, "pem");
	msgpack_pack_str(&pk, len);
	msgpack_pack_str_body(&pk, pem, len);
	free(pem);
	rc = cli_call(cli, M_TRACK_ADD, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc == EXIT_OK ? finish_item(cli, &r) : rc;
}

/* Commands of the form "track VERB ID" that answer with the item. */
static int
id_command(struct cli *cli, int argc, char **argv, const char *method)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if (argc != 2)
		return cli_usage_error(cli, "expected one item ID");
	if (cli_parse_id(argv[1], &id) == -1)
		return cli_usage_error(cli, "'%s' is not an item ID", argv[1]);
	cli_pack_id(&sb, id);
	rc = cli_call(cli, method, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (strcmp(method, M_TRACK_DELETE) == 0) {
		if (cli->json)
			out_json(&r.result);
		else
			printf("item %lld deleted\n", (long long)id);
		cf_reply_free(&r);
		return EXIT_OK;
	}
	return finish_item(cli, &r);
}

static int
cmd_track_show(struct cli *cli, int argc, char **argv)
{
	return id_command(cli, argc, argv, M_TRACK_SHOW);
}

static int
cmd_track_delete(struct cli *cli, int argc, char **argv)
{
	return id_command(cli, argc, argv, M_TRACK_DELETE);
}

static int
cmd_track_activate(struct cli *cli, int argc, char **argv)
{
	return id_command(cli, argc, argv, M_TRACK_ACTIVATE);
}

static int
cmd_track_deactivate(struct cli *cli, int argc, char **argv)
{
	return id_command(cli, argc, argv, M_TRACK_DEACTIVATE);
}

static const char *const list_headers[] = {
	"ID", "SOURCE", "ACTIVE", "STATUS", "DAYS", "VALID UNTIL", "COMMON NAME",
};
static const char *const list_keys[] = {
	"id", "source", "active", "status", "days_remaining", "valid_until",
	"common_name",
};
#define LIST_COLS	(sizeof(list_keys) / sizeof(list_keys[0]))

/* Pages through Track.List. */
static int
cmd_track_list(struct cli *cli, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	return cli_list_pages(cli, M_TRACK_LIST, NULL, NULL, LIST_COLS,
	    list_headers, list_keys);
}

/* --- bulk work with progress ------------------------------------------- */

struct progress {
	int	 tty;
	time_t	 last;
};

static int64_t
map_int(const msgpack_object *m, const char *key)
{
	const msgpack_object *v = wire_map_get(m, key);

	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
	    (int64_t)v->via.u64 : 0;
}

/* A bar on a terminal, a plain line a second otherwise, both on stderr. */
static void
show_progress(const msgpack_object *item, void *arg)
{
	struct progress *p = arg;
	int64_t done = map_int(item, "done"), total = map_int(item, "total");
	int64_t ok = map_int(item, "ok"), failed = map_int(item, "failed");
	char bar[31];
	int fill = total > 0 ? (int)(done * 30 / total) : 30;

	if (p->tty) {
		memset(bar, '#', fill);
		memset(bar + fill, '.', 30 - fill);
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %lld/%lld  ok %lld  failed %lld", bar,
		    (long long)done, (long long)total, (long long)ok,
		    (long long)failed);
		if (done == total)
			fputc('\n', stderr);
	} else if (time(NULL) != p->last || done == total) {
		p->last = time(NULL);
		fprintf(stderr, "probed %lld/%lld (ok %lld, failed %lld)\n",
		    (long long)done, (long long)total, (long long)ok,
		    (long long)failed);
	}
	fflush(stderr);
}

static int
bulk_call(struct cli *cli, const char *method, const msgpack_sbuffer *params)
{
	struct progress p = { .tty = isatty(STDERR_FILENO) };
	const msgpack_object *causes;
	struct cf_reply r;
	char buf[64];
	int rc;

	if ((rc = cli_call(cli, method, params, show_progress, &p, &r)) != EXIT_OK)
		return rc;
	if (cli->json) {
		out_json(&r.result);
	} else {
		static const char *const keys[] = { "probed", "ok", "failed",
		    "added", "updated" };
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (wire_map_get(&r.result, keys[i]) != NULL)
				out_field(keys[i], out_text(&r.result, keys[i], ",",
				    buf, sizeof(buf)), 8);
		causes = wire_map_get(&r.result, "causes");
		for (uint32_t i = 0; causes && causes->type == MSGPACK_OBJECT_MAP &&
		    i < causes->via.map.size; i++) {
			const msgpack_object *k = &causes->via.map.ptr[i].key;
			const msgpack_object *v = &causes->via.map.ptr[i].val;
			char why[OUT_CELL_MAX];

			esc_term(why, sizeof(why), k->via.str.ptr,
			    k->via.str.size, 0, NULL);
			printf("  %6llu  %s\n", (unsigned long long)v->via.u64,
			    why);
		}
	}
	rc = map_int(&r.result, "failed") > 0 ? EXIT_REFUSED : EXIT_OK;
	if (rc != EXIT_OK)
		fprintf(stderr, "certfleet: %lld of %lld targets failed\n",
		    (long long)map_int(&r.result, "failed"),
		    (long long)map_int(&r.result, "probed"));
	cf_reply_free(&r);
	return rc;
}

static int
cmd_track_import(struct cli *cli, int argc, char **argv)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512], *text;
	size_t len = 0;
	int rc;

	if (argc != 2)
		return cli_usage_error(cli, "expected one FILE (or -)");
	if ((text = read_input(argv[1], &len, err, sizeof(err))) == NULL)
		return cli_fail(EXIT_REFUSED, "%s", err);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_key(&pk, "targets");
	msgpack_pack_str(&pk, len);
	msgpack_pack_str_body(&pk, text, len);
	free(text);
	rc = bulk_call(cli, M_TRACK_IMPORT, &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
cmd_track_check(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--all") == 0)
		return bulk_call(cli, M_TRACK_CHECK_ALL, NULL);
	if (argc != 2)
		return cli_usage_error(cli, "expected one item ID or --all");
	if (cli_parse_id(argv[1], &id) == -1)
		return cli_usage_error(cli, "'%s' is not an item ID", argv[1]);
	cli_pack_id(&sb, id);
	rc = cli_call(cli, M_TRACK_CHECK, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	/* The item is shown either way; a failed check also fails the command. */
	const msgpack_object *err = wire_map_get(&r.result, "error");
	char why[1024] = "";
	if (err != NULL && err->type == MSGPACK_OBJECT_STR)
		snprintf(why, sizeof(why), "%.*s", (int)err->via.str.size,
		    err->via.str.ptr);
	rc = finish_item(cli, &r);
	if (rc == EXIT_OK && why[0] != '\0')
		return cli_fail(EXIT_REFUSED, "check failed: %s", why);
	return rc;
}

static int
cmd_track_history(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "SNAPSHOT", "AT", "CHAIN",
	    "LEAF SHA-256" };
	static const char *const keys[] = { "snapshot", "at", "chain_length",
	    "leaf_sha256" };
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if (argc != 2 || cli_parse_id(argv[1], &id) == -1)
		return cli_usage_error(cli, "expected one item ID");
	cli_pack_id(&sb, id);
	rc = cli_call_list(cli, M_TRACK_HISTORY, &sb, 4, headers, keys);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
cmd_track_raw(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "snapshot", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t id, snap = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (ch != 'n' || cli_parse_id(optarg, &snap) == -1)
			return cli_usage_error(cli, "--snapshot takes a number");
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one item ID");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, snap ? 2 : 1);
	wire_pack_kv_int(&pk, "id", id);
	if (snap)
		wire_pack_kv_int(&pk, "snapshot", snap);
	rc = cli_call(cli, M_TRACK_RAW, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else {
		const msgpack_object *pem = wire_map_get(&r.result, "pem");
		if (pem != NULL && pem->type == MSGPACK_OBJECT_STR)
			fwrite(pem->via.str.ptr, 1, pem->via.str.size, stdout);
	}
	cf_reply_free(&r);
	return EXIT_OK;
}
