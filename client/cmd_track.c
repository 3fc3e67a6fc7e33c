/*
 * certfleet track ...: add, list, show, delete, activate, deactivate.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

/* Read no more than this from a PEM file; the daemon's limit is lower. */
#define PEM_READ_MAX	(8u * 1024 * 1024)
#define LIST_PAGE	1000

static int cmd_track_add(struct cli *, int, char **);
static int cmd_track_list(struct cli *, int, char **);
static int cmd_track_show(struct cli *, int, char **);
static int cmd_track_delete(struct cli *, int, char **);
static int cmd_track_activate(struct cli *, int, char **);
static int cmd_track_deactivate(struct cli *, int, char **);

const struct cli_cmd cli_track_cmds[] = {
	{ "track add", cmd_track_add, "--pem FILE",
	  "track a certificate from a PEM file ('-' reads stdin)",
	  "The certificate is decoded locally by the daemon and never re-fetched.\n"
	  "The file must hold exactly one certificate.\n", M_TRACK_ADD },
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
	{ "subject", "Subject" },
	{ "issuer", "Issuer" },
	{ "fingerprint_sha256", "SHA-256 Fingerprint" },
	{ "created_at", "Created" },
	{ "last_checked_at", "Last Checked" },
	{ "next_check_at", "Next Check" },
};

static void
print_item(const msgpack_object *item)
{
	char buf[8192];

	for (size_t i = 0; i < sizeof(item_fields) / sizeof(item_fields[0]); i++)
		out_field(item_fields[i].label, out_text(item, item_fields[i].key,
		    " | ", buf, sizeof(buf)), 26);
}

/* Prints an item result (JSON or the human view) and frees the reply. */
static int
finish_item(struct cli *cli, struct cf_reply *r)
{
	int rc = EXIT_OK;

	if (cli->json)
		rc = out_json(&r->result) == 0 ? EXIT_OK : EXIT_REFUSED;
	else
		print_item(&r->result);
	cf_reply_free(r);
	return rc;
}

static void
pack_id_params(msgpack_sbuffer *sb, int64_t id)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_int(&pk, "id", id);
}

static int
cmd_track_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pem", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512], *pem;
	size_t len = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'p')
			return cli_usage_error(cli, "unknown option");
		path = optarg;
	}
	if (path == NULL || optind != argc)
		return cli_usage_error(cli, "give one source: --pem FILE");
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
	pack_id_params(&sb, id);
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

static void
table_add_item(struct out_table *t, const msgpack_object *item)
{
	char bufs[LIST_COLS][512];
	const char *cells[LIST_COLS];

	for (size_t c = 0; c < LIST_COLS; c++)
		cells[c] = out_text(item, list_keys[c], ",", bufs[c],
		    sizeof(bufs[c]));
	out_table_add(t, cells);
}

/* Pages through Track.List, passing each page's array to the sinks. */
static int
cmd_track_list(struct cli *cli, int argc, char **argv)
{
	struct out_table *t = NULL;
	json_t *all = NULL;
	int64_t after = 0;
	int rc = EXIT_OK;

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	if (cli->json ? (all = json_array()) == NULL :
	    (t = out_table_new(LIST_COLS, list_headers)) == NULL)
		return cli_fail(EXIT_REFUSED, "out of memory");
	for (;;) {
		struct cf_reply r;
		msgpack_sbuffer sb;
		msgpack_packer pk;
		const msgpack_object *page;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		wire_pack_kv_int(&pk, "after", after);
		wire_pack_kv_int(&pk, "limit", LIST_PAGE);
		rc = cli_call(cli, M_TRACK_LIST, &sb, NULL, NULL, &r);
		msgpack_sbuffer_destroy(&sb);
		if (rc != EXIT_OK)
			break;
		page = &r.result;
		uint32_t n = page->type == MSGPACK_OBJECT_ARRAY ?
		    page->via.array.size : 0;
		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *item = &page->via.array.ptr[i];
			const msgpack_object *id = wire_map_get(item, "id");

			if (all != NULL)
				json_array_append_new(all, out_json_from(item));
			else
				table_add_item(t, item);
			if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				after = (int64_t)id->via.u64;
		}
		cf_reply_free(&r);
		if (n < LIST_PAGE)
			break;
	}
	if (rc == EXIT_OK && all != NULL) {
		out_json_doc(all);
		all = NULL;
	} else if (rc == EXIT_OK)
		out_table_print(t, stdout);
	json_decref(all);
	out_table_free(t);
	return rc;
}
