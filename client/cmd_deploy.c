/*
 * certfleet cert deploy ...: where a managed certificate's files go, and
 * deploying them now.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

static int cmd_deploy_add(struct cli *, int, char **);
static int cmd_deploy_list(struct cli *, int, char **);
static int cmd_deploy_remove(struct cli *, int, char **);
static int cmd_deploy_run(struct cli *, int, char **);

const struct cli_cmd cli_deploy_cmds[] = {
	{ "cert deploy add", cmd_deploy_add,
	  "ID --dir DIR [--owner USER[:GROUP]] [--key-mode 0600] "
	  "[--cert-mode 0644] [--combined] [--reload CMD] [--timeout SECONDS]",
	  "deploy a certificate's files into DIR after every issuance and "
	  "renewal (admin only)",
	  "  --dir DIR          an existing absolute directory, not a symbolic\n"
	  "                     link, not writable by others; gets cert.pem,\n"
	  "                     chain.pem, fullchain.pem, privkey.pem (certbot's\n"
	  "                     names)\n"
	  "  --owner U[:G]      the files' owner and group (names or numbers)\n"
	  "  --key-mode MODE    privkey.pem's mode (default 0600; at most 0660)\n"
	  "  --cert-mode MODE   the other files' mode (default 0644)\n"
	  "  --combined         also combined.pem: key + fullchain (HAProxy,\n"
	  "                     Postfix), with the key's mode\n"
	  "  --reload CMD       run after the files are in place (/bin/sh -c, as\n"
	  "                     the daemon's user): RENEWED_LINEAGE,\n"
	  "                     RENEWED_DOMAINS and CERTFLEET_* set, so certbot\n"
	  "                     deploy hooks run as they are\n"
	  "  --timeout SECONDS  the reload's limit (default 60)\n"
	  "\n"
	  "Each file is written under a temporary name, given its owner and mode\n"
	  "before any data, fsynced and renamed into place.  A failure is a\n"
	  "deploy_failed event and is retried (1 minute doubling to 6 hours).\n",
	  M_CERT_DEPLOY_ADD },
	{ "cert deploy list", cmd_deploy_list, "ID",
	  "a certificate's deploy targets and their state", "",
	  M_CERT_DEPLOY_LIST },
	{ "cert deploy remove", cmd_deploy_remove, "ID TARGET",
	  "stop deploying to a target (its files stay)", "",
	  M_CERT_DEPLOY_REMOVE },
	{ "cert deploy run", cmd_deploy_run, "ID [TARGET]",
	  "deploy now and wait for the result (admin only)", "",
	  M_CERT_DEPLOY_RUN },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const char *const headers[] = { "TARGET", "DIR", "STATE", "DEPLOYED",
    "FAILURES", "NEXT TRY", "LAST ERROR" };
static const char *const keys[] = { "id", "dir", "state", "deployed_at",
    "failures", "next_attempt_at", "last_error" };

static int
cmd_deploy_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "owner", required_argument, NULL, 'o' },
		{ "key-mode", required_argument, NULL, 'k' },
		{ "cert-mode", required_argument, NULL, 'c' },
		{ "combined", no_argument, NULL, 'C' },
		{ "reload", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *owner = NULL, *kmode = NULL, *cmode = NULL;
	const char *reload = NULL;
	char abs[PATH_MAX];
	int64_t id, timeout = 0;
	int combined = 0, ch, n, rc;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'o': owner = optarg; break;
		case 'k': kmode = optarg; break;
		case 'c': cmode = optarg; break;
		case 'C': combined = 1; break;
		case 'r': reload = optarg; break;
		case 't':
			if (cli_parse_int(optarg, 1, 3600, &timeout) == 0)
				break;
			return cli_usage_error(cli, "--timeout must be 1..3600");
		default:
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	if (dir == NULL)
		return cli_usage_error(cli, "--dir is required");
	/* The daemon does not share our working directory; a symbolic link
	 * is the daemon's to refuse, so it is not resolved here. */
	if (dir[0] != '/') {
		if (getcwd(abs, sizeof(abs)) == NULL ||
		    strlen(abs) + strlen(dir) + 2 > sizeof(abs))
			return cli_fail(EXIT_USAGE, "--dir %s: %s", dir,
			    strerror(errno));
		strcat(abs, "/");
		strcat(abs, dir);
		dir = abs;
	}
	n = 2 + (owner != NULL) + (kmode != NULL) + (cmode != NULL) + combined +
	    (reload != NULL) + (timeout != 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	wire_pack_kv_int(&pk, "id", id);
	wire_pack_kv_str(&pk, "dir", dir);
	if (owner)
		wire_pack_kv_str(&pk, "owner", owner);
	if (kmode)
		wire_pack_kv_str(&pk, "key_mode", kmode);
	if (cmode)
		wire_pack_kv_str(&pk, "cert_mode", cmode);
	if (combined)
		wire_pack_kv_bool(&pk, "combined", 1);
	if (reload)
		wire_pack_kv_str(&pk, "reload", reload);
	if (timeout)
		wire_pack_kv_int(&pk, "timeout", timeout);
	rc = cli_call(cli, M_CERT_DEPLOY_ADD, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else {
		struct out_table *t = out_table_new(7, headers);

		if (t != NULL && out_table_add_keys(t, &r.result, keys) == 0)
			out_table_print(t, stdout);
		out_table_free(t);
	}
	cf_reply_free(&r);
	return EXIT_OK;
}

static int
cmd_deploy_list(struct cli *cli, int argc, char **argv)
{
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if (argc != 2 || cli_parse_id(argv[1], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	cli_pack_id(&sb, id);
	rc = cli_call_list(cli, M_CERT_DEPLOY_LIST, &sb, 7, headers, keys);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
cmd_deploy_remove(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t id, target;
	int rc;

	if (argc != 3 || cli_parse_id(argv[1], &id) == -1 ||
	    cli_parse_id(argv[2], &target) == -1)
		return cli_usage_error(cli, "expected a certificate ID and a "
		    "TARGET id");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_int(&pk, "id", id);
	wire_pack_kv_int(&pk, "target", target);
	rc = cli_call(cli, M_CERT_DEPLOY_REMOVE, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		printf("deploy target %lld of certificate %lld removed\n",
		    (long long)target, (long long)id);
	cf_reply_free(&r);
	return EXIT_OK;
}

/* Exits 1 when a target it ran is failed. */
static int
cmd_deploy_run(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t id, target = 0;
	int rc, failed = 0;

	if ((argc != 2 && argc != 3) || cli_parse_id(argv[1], &id) == -1 ||
	    (argc == 3 && cli_parse_id(argv[2], &target) == -1))
		return cli_usage_error(cli, "expected a certificate ID and "
		    "optionally a TARGET id");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, target ? 2 : 1);
	wire_pack_kv_int(&pk, "id", id);
	if (target)
		wire_pack_kv_int(&pk, "target", target);
	rc = cli_call(cli, M_CERT_DEPLOY_RUN, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	for (uint32_t i = 0; r.result.type == MSGPACK_OBJECT_ARRAY &&
	    i < r.result.via.array.size; i++) {
		const msgpack_object *t = &r.result.via.array.ptr[i];
		const msgpack_object *tid = wire_map_get(t, "id");
		const msgpack_object *st = wire_map_get(t, "state");

		if ((target == 0 || (tid && tid->type ==
		    MSGPACK_OBJECT_POSITIVE_INTEGER && (int64_t)tid->via.u64 ==
		    target)) && st && st->type == MSGPACK_OBJECT_STR &&
		    st->via.str.size == 6 && memcmp(st->via.str.ptr, "failed",
		    6) == 0)
			failed = 1;
	}
	if (cli->json)
		out_json(&r.result);
	else
		out_table_of(&r.result, 7, headers, keys);
	cf_reply_free(&r);
	if (failed)
		return cli_fail(EXIT_REFUSED, "a deploy failed (see LAST ERROR)");
	return EXIT_OK;
}
