/*
 * certfleet: finds the command in the tables, strips the global options
 * (which may come before or after the command words), and runs it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "certfleet/escape.h"
#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

static const struct cli_cmd *const cmd_tables[] = {
	cli_misc_cmds, cli_track_cmds, cli_ca_cmds, cli_cert_cmds,
	cli_deploy_cmds, cli_notify_cmds, cli_check_cmds, cli_audit_cmds, NULL,
};

static void
usage_all(FILE *fp)
{
	fprintf(fp,
	    "usage: certfleet [--socket PATH] [--json | --jsonl] COMMAND [ARGS]\n"
	    "\n"
	    "Talks to certfleetd over its control socket ($CERTFLEET_SOCKET,\n"
	    "default %s).\n"
	    "\n"
	    "Commands:\n", CF_DEFAULT_SOCKET);
	for (size_t t = 0; cmd_tables[t] != NULL; t++)
		for (const struct cli_cmd *c = cmd_tables[t]; c->words; c++)
			fprintf(fp, "  %-24s %s\n", c->words, c->summary);
	fprintf(fp,
	    "\n"
	    "Options (before or after the command):\n"
	    "  --socket PATH   the daemon's control socket\n"
	    "  --json          print one JSON document for programs (listings\n"
	    "                  stream it page by page)\n"
	    "  --jsonl         listings: one JSON object a line\n"
	    "  --help          this text; COMMAND --help for one command\n"
	    "  --version       the client's version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused by the daemon, 2 usage error,\n"
	    "3 daemon unreachable.\n");
}

static void
usage_cmd(const struct cli_cmd *c, FILE *fp)
{
	fprintf(fp, "usage: certfleet %s%s%s\n\n%s\n", c->words,
	    c->args[0] ? " " : "", c->args, c->summary);
	if (c->help[0])
		fprintf(fp, "\n%s", c->help);
	fprintf(fp, "\nCalls %s.  Global options: --socket PATH, --json, --jsonl.\n",
	    c->method);
}

/* "certfleet track" alone: one line naming that group's commands. */
static int
usage_group(const char *word)
{
	size_t n = strlen(word);
	char list[512] = "";

	for (size_t t = 0; cmd_tables[t] != NULL; t++)
		for (const struct cli_cmd *c = cmd_tables[t]; c->words; c++) {
			if (strncmp(c->words, word, n) != 0 || c->words[n] != ' ')
				continue;
			if (list[0] != '\0')
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, c->words + n + 1, sizeof(list) - strlen(list) - 1);
		}
	if (list[0] == '\0')
		return cli_fail(EXIT_USAGE, "unknown command '%s'; try certfleet "
		    "--help", word);
	return cli_fail(EXIT_USAGE, "'%s' needs a command: %s (certfleet %s "
	    "COMMAND --help)", word, list, word);
}

int
cli_fail(int code, const char *fmt, ...)
{
	char raw[2048], line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* The daemon's messages quote names from certificates: one line,
	 * escaped like every other output. */
	if (n < 0)
		n = 0;
	esc_term(line, sizeof(line), raw, (size_t)n < sizeof(raw) ? (size_t)n :
	    esc_utf8_trim_partial(raw, sizeof(raw) - 1), 0, NULL);
	fprintf(stderr, "certfleet: %s%s\n", line, (size_t)n < sizeof(raw) ?
	    "" : ESC_CUT_MARK);
	return code;
}

int
cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	/* Quotes the user's arguments: escaped by cli_fail like the rest. */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return cli_fail(EXIT_USAGE, "%s: %s (usage: certfleet %s %s)",
	    cli->cmd->words, why, cli->cmd->words, cli->cmd->args);
}

int
cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
cli_parse_id(const char *s, int64_t *id)
{
	return cli_parse_int(s, 1, INT64_MAX, id);
}

void
cli_pack_id(msgpack_sbuffer *sb, int64_t id)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_int(&pk, "id", id);
}

int
cli_finish_object(struct cli *cli, struct cf_reply *r,
    void (*print)(const msgpack_object *))
{
	int rc = EXIT_OK;

	if (cli->json)
		rc = out_json(&r->result) == 0 ? EXIT_OK : EXIT_REFUSED;
	else
		print(&r->result);
	cf_reply_free(r);
	return rc;
}

int
cli_call(struct cli *cli, const char *method, const msgpack_sbuffer *params,
    cf_stream_fn *stream, void *arg, struct cf_reply *reply)
{
	char err[512];

	if (cli->conn == NULL &&
	    (cli->conn = cf_conn_open(cli->socket, err, sizeof(err))) == NULL)
		return cli_fail(EXIT_UNREACHABLE, "%s", err);
	if (cf_call(cli->conn, method, params ? params->data : NULL,
	    params ? params->size : 0, stream, arg, reply, err,
	    sizeof(err)) == -1) {
		cf_reply_free(reply);
		return cli_fail(EXIT_UNREACHABLE, "%s", err);
	}
	if (!reply->ok) {
		int code = reply->code == WIRE_UNAVAILABLE ? EXIT_UNREACHABLE :
		    EXIT_REFUSED;
		cli_fail(code, "%s", reply->message);
		cf_reply_free(reply);
		return code;
	}
	return EXIT_OK;
}

int
cli_call_list(struct cli *cli, const char *method, const msgpack_sbuffer *params,
    size_t ncols, const char *const *headers, const char *const *keys)
{
	struct cf_reply r;
	int rc;

	if ((rc = cli_call(cli, method, params, NULL, NULL, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		out_table_of(&r.result, ncols, headers, keys);
	cf_reply_free(&r);
	return EXIT_OK;
}

/* One page of a list method: {after, limit[, filter_key: filter_value]}. */
/* Asks for the page after `after`; page_wait reads the answer. */
static int
page_send(struct cli *cli, const char *method, const char *filter_key,
    const char *filter_value, int64_t after, uint32_t *msgid)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512];
	int rc = EXIT_OK;

	if (cli->conn == NULL &&
	    (cli->conn = cf_conn_open(cli->socket, err, sizeof(err))) == NULL)
		return cli_fail(EXIT_UNREACHABLE, "%s", err);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, filter_key ? 3 : 2);
	wire_pack_kv_int(&pk, "after", after);
	wire_pack_kv_int(&pk, "limit", CLI_LIST_PAGE);
	if (filter_key != NULL)
		wire_pack_kv_str(&pk, filter_key, filter_value);
	if (cf_send(cli->conn, method, sb.data, sb.size, msgid, err,
	    sizeof(err)) == -1)
		rc = cli_fail(EXIT_UNREACHABLE, "%s", err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* The answer to page_send, judged as cli_call judges one. */
static int
page_wait(struct cli *cli, uint32_t msgid, struct cf_reply *r)
{
	char err[512];
	int code;

	if (cf_wait(cli->conn, msgid, NULL, NULL, r, err, sizeof(err)) == -1) {
		cf_reply_free(r);
		return cli_fail(EXIT_UNREACHABLE, "%s", err);
	}
	if (!r->ok) {
		code = r->code == WIRE_UNAVAILABLE ? EXIT_UNREACHABLE :
		    EXIT_REFUSED;
		cli_fail(code, "%s", r->message);
		cf_reply_free(r);
		return code;
	}
	return EXIT_OK;
}

/* The id of a page's last item, where the next page starts. */
static int64_t
page_last_id(const msgpack_object *page, int64_t dflt)
{
	const msgpack_object *id;

	if (page->type != MSGPACK_OBJECT_ARRAY || page->via.array.size == 0)
		return dflt;
	id = wire_map_get(&page->via.array.ptr[page->via.array.size - 1], "id");
	return id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
	    (int64_t)id->via.u64 : dflt;
}

struct list_out {
	struct out_stream	*st;
	int			 rc;
};

/*
 * Every item of a list method, page by page in constant memory, to fn; the
 * next page is asked for before this one is handed over, so the daemon
 * makes it meanwhile.
 */
static int
pages(struct cli *cli, const char *method, const char *filter_key,
    const char *filter_value, cli_item_fn *fn, void *arg)
{
	int64_t after = 0;
	uint32_t msgid = 0;
	int rc;

	rc = page_send(cli, method, filter_key, filter_value, after, &msgid);
	while (rc == EXIT_OK) {
		struct cf_reply r;
		uint32_t n;
		int more;

		if ((rc = page_wait(cli, msgid, &r)) != EXIT_OK)
			break;
		n = r.result.type == MSGPACK_OBJECT_ARRAY ?
		    r.result.via.array.size : 0;
		after = page_last_id(&r.result, after);
		if ((more = n == CLI_LIST_PAGE))
			rc = page_send(cli, method, filter_key, filter_value,
			    after, &msgid);
		for (uint32_t i = 0; i < n; i++)
			fn(&r.result.via.array.ptr[i], arg);
		cf_reply_free(&r);
		if (!more)
			break;
	}
	return rc;
}

int
cli_each_page(struct cli *cli, const char *method, cli_item_fn *fn, void *arg)
{
	return pages(cli, method, NULL, NULL, fn, arg);
}

static void
stream_item(const msgpack_object *item, void *arg)
{
	struct list_out *lo = arg;

	if (lo->rc == EXIT_OK && out_stream_item(lo->st, item) == -1)
		lo->rc = EXIT_REFUSED;
}

int
cli_list_pages(struct cli *cli, const char *method, const char *filter_key,
    const char *filter_value, size_t ncols, const char *const *headers,
    const char *const *keys)
{
	struct list_out lo = { .rc = EXIT_OK };
	int rc;

	if ((lo.st = out_stream_new(cli->jsonl ? OUT_JSONL : cli->json ?
	    OUT_JSON : OUT_TABLE, ncols, headers, keys)) == NULL)
		return cli_fail(EXIT_REFUSED, "out of memory");
	rc = pages(cli, method, filter_key, filter_value, stream_item, &lo);
	if (rc == EXIT_OK)
		rc = lo.rc;
	if (out_stream_end(lo.st, rc == EXIT_OK) == -1 && rc == EXIT_OK)
		rc = EXIT_REFUSED;
	return rc;
}

/* Finds the command whose words are the longest prefix of argv. */
static const struct cli_cmd *
find_cmd(int argc, char **argv, int *used)
{
	const struct cli_cmd *best = NULL;
	int bestn = 0;

	for (size_t t = 0; cmd_tables[t] != NULL; t++)
		for (const struct cli_cmd *c = cmd_tables[t]; c->words; c++) {
			char words[64], *w, *save = NULL;
			int n = 0, match = 1;

			snprintf(words, sizeof(words), "%s", c->words);
			for (w = strtok_r(words, " ", &save); w && match;
			    w = strtok_r(NULL, " ", &save), n++)
				match = n < argc && strcmp(argv[n], w) == 0;
			if (match && n > bestn) {
				best = c;
				bestn = n;
			}
		}
	*used = bestn;
	return best;
}

int
main(int argc, char **argv)
{
	struct cli cli = { 0 };
	char **rest;
	int nrest = 0, help = 0, used, rc;

	opterr = 0;	/* commands report their own usage errors, on one line */
	cli.socket = getenv("CERTFLEET_SOCKET");
	if (cli.socket == NULL || *cli.socket == '\0')
		cli.socket = CF_DEFAULT_SOCKET;
	if ((rest = calloc(argc + 1, sizeof(char *))) == NULL)
		return cli_fail(EXIT_REFUSED, "out of memory");
	/* Global options anywhere on the line; "--" ends them. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				rest[nrest++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if (strcmp(argv[i], "--jsonl") == 0)
			cli.json = cli.jsonl = 1;	/* lists: a line each */
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			help = 1;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("certfleet %s\n", PACKAGE_VERSION);
			free(rest);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--socket") == 0) {
			if (++i == argc) {
				free(rest);
				return cli_fail(EXIT_USAGE, "--socket needs a path");
			}
			cli.socket = argv[i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0)
			cli.socket = argv[i] + 9;
		else
			rest[nrest++] = argv[i];
	}
	if (nrest == 0) {
		usage_all(help ? stdout : stderr);
		free(rest);
		return help ? EXIT_OK : EXIT_USAGE;
	}
	if ((cli.cmd = find_cmd(nrest, rest, &used)) == NULL) {
		rc = usage_group(rest[0]);
		free(rest);
		return rc;
	}
	if (help) {
		usage_cmd(cli.cmd, stdout);
		free(rest);
		return EXIT_OK;
	}
	/* The handler sees its own arguments with a getopt-style argv[0]. */
	rest[used - 1] = argv[0];
	rc = cli.cmd->fn(&cli, nrest - used + 1, rest + used - 1);
	cf_conn_close(cli.conn);
	free(rest);
	/* A document or table that did not reach stdout whole is a failure,
	 * said once, never an exit 0 after half the output. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (!out_failed())
			cli_fail(EXIT_REFUSED, "cannot write the output: %s",
			    strerror(errno));
		return rc == EXIT_OK ? EXIT_REFUSED : rc;
	}
	if (out_failed() && rc == EXIT_OK)
		return EXIT_REFUSED;
	return rc;
}
