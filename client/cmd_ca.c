/*
 * certfleet ca ...: add, list, show, delete CA profiles.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

static int cmd_ca_add(struct cli *, int, char **);
static int cmd_ca_list(struct cli *, int, char **);
static int cmd_ca_show(struct cli *, int, char **);
static int cmd_ca_delete(struct cli *, int, char **);

const struct cli_cmd cli_ca_cmds[] = {
	{ "ca add", cmd_ca_add,
	  "NAME --directory URL [--trust CAFILE] [--eab-kid KID --eab-hmac-key KEY] "
	  "[--acme-profile P]",
	  "add an ACME CA profile (or set a built-in profile's EAB or ACME profile)",
	  "  --directory URL     the CA's ACME directory (https:// only)\n"
	  "  --trust CAFILE      PEM file of the roots that verify the CA's HTTPS\n"
	  "                      (default: the system store)\n"
	  "  --eab-kid KID       External Account Binding key id, with\n"
	  "  --eab-hmac-key KEY  its HMAC key, base64url as the CA gives it\n"
	  "  --acme-profile P    the CA's certificate profile to ask for in every\n"
	  "                      order (ACME profiles, e.g. Let's Encrypt's classic,\n"
	  "                      tlsserver, shortlived); 1..64 of A-Z a-z 0-9 . _ -;\n"
	  "                      \"\" asks for none (the CA's default).  An order\n"
	  "                      fails if the CA's directory does not offer it.\n"
	  "\n"
	  "Built in: letsencrypt, letsencrypt-staging, zerossl and google; the\n"
	  "last two need EAB: 'certfleet ca add zerossl --eab-kid K --eab-hmac-key H'\n"
	  "sets it.  A built-in profile takes only --eab-kid/--eab-hmac-key and\n"
	  "--acme-profile ('certfleet ca add letsencrypt --acme-profile shortlived').\n"
	  "The HMAC key is stored encrypted and never shown again.\n",
	  M_CA_ADD },
	{ "ca list", cmd_ca_list, "", "list CA profiles", "", M_CA_LIST },
	{ "ca show", cmd_ca_show, "NAME", "show one CA profile", "", M_CA_SHOW },
	{ "ca delete", cmd_ca_delete, "NAME",
	  "delete a CA profile (refused for built-ins and while certificates "
	  "use it)", "", M_CA_DELETE },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const struct {
	const char *key, *label;
} ca_fields[] = {
	{ "name", "Name" },
	{ "directory", "Directory" },
	{ "trust", "Trust File" },
	{ "eab_kid", "EAB Key ID" },
	{ "eab_configured", "EAB Configured" },
	{ "eab_required", "EAB Required" },
	{ "acme_profile", "ACME Profile" },
	{ "builtin", "Built In" },
	{ "certificates", "Certificates" },
	{ "created_at", "Created" },
};

static int
finish_ca(struct cli *cli, struct cf_reply *r)
{
	char buf[4096];

	if (cli->json)
		out_json(&r->result);
	else
		for (size_t i = 0; i < sizeof(ca_fields) / sizeof(ca_fields[0]); i++)
			out_field(ca_fields[i].label, out_text(&r->result,
			    ca_fields[i].key, ",", buf, sizeof(buf)), 16);
	cf_reply_free(r);
	return EXIT_OK;
}

static int
cmd_ca_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "trust", required_argument, NULL, 't' },
		{ "eab-kid", required_argument, NULL, 'k' },
		{ "eab-hmac-key", required_argument, NULL, 'h' },
		{ "acme-profile", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *trust = NULL, *kid = NULL, *key = NULL;
	const char *prof = NULL;
	char abs[PATH_MAX];
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ch, rc, n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else if (ch == 't')
			trust = optarg;
		else if (ch == 'k')
			kid = optarg;
		else if (ch == 'h')
			key = optarg;
		else if (ch == 'p')
			prof = optarg;
		else
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, "expected one profile NAME");
	if ((kid == NULL) != (key == NULL))
		return cli_usage_error(cli, "give --eab-kid and --eab-hmac-key "
		    "together");
	/* The daemon does not share our working directory. */
	if (trust != NULL) {
		if (realpath(trust, abs) == NULL)
			return cli_fail(EXIT_REFUSED, "trust file %s: %s", trust,
			    strerror(errno));
		trust = abs;
	}
	n = 1 + (dir != NULL) + (trust != NULL) + 2 * (kid != NULL) +
	    (prof != NULL);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	wire_pack_kv_str(&pk, "name", argv[optind]);
	if (dir)
		wire_pack_kv_str(&pk, "directory", dir);
	if (trust)
		wire_pack_kv_str(&pk, "trust", trust);
	if (kid) {
		wire_pack_kv_str(&pk, "eab_kid", kid);
		wire_pack_kv_str(&pk, "eab_hmac_key", key);
	}
	if (prof)
		wire_pack_kv_str(&pk, "acme_profile", prof);
	rc = cli_call(cli, M_CA_ADD, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc == EXIT_OK ? finish_ca(cli, &r) : rc;
}

static int
cmd_ca_list(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "NAME", "BUILT IN", "EAB",
	    "CERTS", "DIRECTORY" };
	static const char *const keys[] = { "name", "builtin",
	    "eab_configured", "certificates", "directory" };

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	return cli_call_list(cli, M_CA_LIST, NULL, 5, headers, keys);
}

static int
name_call(struct cli *cli, int argc, char **argv, const char *method,
    struct cf_reply *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (argc != 2)
		return cli_usage_error(cli, "expected one profile NAME");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_str(&pk, "name", argv[1]);
	rc = cli_call(cli, method, &sb, NULL, NULL, r);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
cmd_ca_show(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_CA_SHOW, &r)) != EXIT_OK)
		return rc;
	return finish_ca(cli, &r);
}

static int
cmd_ca_delete(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_CA_DELETE, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		printf("CA profile %s deleted\n", argv[1]);
	cf_reply_free(&r);
	return EXIT_OK;
}
