/*
 * certfleet notify ...: add, list, show, delete, test and retry
 * notification sinks.  Secret files are read here and their text sent;
 * the daemon seals it and never shows it again.
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

#define SECRET_FILE_MAX	4096

static int cmd_notify_add(struct cli *, int, char **);
static int cmd_notify_list(struct cli *, int, char **);
static int cmd_notify_show(struct cli *, int, char **);
static int cmd_notify_delete(struct cli *, int, char **);
static int cmd_notify_test(struct cli *, int, char **);
static int cmd_notify_retry(struct cli *, int, char **);
static int cmd_notify_enable(struct cli *, int, char **);

const struct cli_cmd cli_notify_cmds[] = {
	{ "notify add", cmd_notify_add,
	  "NAME (--webhook URL [--secret-file FILE] [--format json|slack] | "
	  "--email ADDR[,ADDR] --smtp URL [--smtp-user U --smtp-password-file F] "
	  "[--from ADDR] [--smtp-insecure] [--smtp-ca-file FILE] | --exec CMD) "
	  "[--kinds K,...] "
	  "[--min-severity S] [--timeout SECONDS]",
	  "add a notification sink: events go to a webhook, e-mail or a command",
	  "  --webhook URL          POST each event as JSON, signed as Standard\n"
	  "                         Webhooks say (webhook-id, webhook-timestamp,\n"
	  "                         webhook-signature); https://, or http:// to a\n"
	  "                         loopback address\n"
	  "  --secret-file FILE     its signing secret, whsec_BASE64; without it\n"
	  "                         one is made and shown once\n"
	  "  --format slack         post {\"text\": ...} for Slack, Mattermost and\n"
	  "                         compatible incoming webhooks\n"
	  "  --email ADDR[,ADDR]    mail the events (a burst within 60 s: one mail)\n"
	  "  --smtp URL             smtp://HOST[:PORT] (STARTTLS required) or\n"
	  "                         smtps://HOST[:PORT]\n"
	  "  --smtp-user U, --smtp-password-file F   SMTP AUTH\n"
	  "  --from ADDR            the sender (default certfleet@HOSTNAME)\n"
	  "  --smtp-insecure        allow smtp:// without STARTTLS\n"
	  "  --smtp-ca-file FILE    trust these roots for the SMTP server\n"
	  "                         (default: the system store)\n"
	  "  --exec CMD             run CMD with /bin/sh -c: the event as JSON on\n"
	  "                         stdin, its facts in CERTFLEET_* variables\n"
	  "                         (admin only; never interpolated into CMD)\n"
	  "  --kinds K,...          only these event kinds (certfleet events kinds)\n"
	  "  --min-severity S       info (default), warning or critical\n"
	  "  --timeout SECONDS      one attempt (default 10 webhook, 60 e-mail\n"
	  "                         and exec)\n"
	  "\n"
	  "Delivery is at least once: failures are retried from 30 s, doubling\n"
	  "to an hour, for 3 days; then given up ('notify retry' re-queues).\n"
	  "A webhook answering 410 Gone is disabled.\n",
	  M_NOTIFY_ADD },
	{ "notify list", cmd_notify_list, "",
	  "list notification sinks and their delivery counts", "",
	  M_NOTIFY_LIST },
	{ "notify show", cmd_notify_show, "NAME",
	  "show one notification sink", "", M_NOTIFY_SHOW },
	{ "notify delete", cmd_notify_delete, "NAME",
	  "delete a sink and what it has queued", "", M_NOTIFY_DELETE },
	{ "notify test", cmd_notify_test, "NAME",
	  "send a test event to one sink through the real path", "",
	  M_NOTIFY_TEST },
	{ "notify retry", cmd_notify_retry, "NAME",
	  "re-queue the deliveries a sink gave up", "", M_NOTIFY_RETRY },
	{ "notify enable", cmd_notify_enable, "NAME",
	  "enable a sink again after a 410 Gone disabled it (then 'notify "
	  "retry' re-queues what it gave up)", "", M_NOTIFY_ENABLE },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const struct {
	const char *key, *label;
} sink_fields[] = {
	{ "id", "ID" }, { "name", "Name" }, { "type", "Type" },
	{ "target", "Target" }, { "format", "Format" }, { "kinds", "Kinds" },
	{ "min_severity", "Min Severity" }, { "timeout", "Timeout (s)" },
	{ "enabled", "Enabled" }, { "disabled_reason", "Disabled Because" },
	{ "has_secret", "Secret Set" }, { "smtp_url", "SMTP" },
	{ "smtp_user", "SMTP User" }, { "smtp_insecure", "SMTP Insecure" },
	{ "smtp_ca_file", "SMTP CA File" },
	{ "delivered", "Delivered" }, { "failed_attempts", "Failed Attempts" },
	{ "pending", "Pending" }, { "given_up", "Given Up" },
	{ "last_delivered_at", "Last Delivered" },
	{ "last_error", "Last Error" },
};

static void
print_sink(const msgpack_object *k)
{
	char buf[OUT_CELL_MAX * 4];
	const msgpack_object *secret = wire_map_get(k, "secret");

	for (size_t i = 0; i < sizeof(sink_fields) / sizeof(sink_fields[0]); i++)
		out_field(sink_fields[i].label, out_text(k, sink_fields[i].key,
		    ",", buf, sizeof(buf)), 17);
	if (secret != NULL && secret->type == MSGPACK_OBJECT_STR)
		printf("\nThe webhook's signing secret, shown this once (give it "
		    "to the receiver):\n%s\n", out_text(k, "secret", ",", buf,
		    sizeof(buf)));
}

/* The first line of a small secret file, trimmed; NULL with err. */
static char *
read_secret(const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = calloc(1, SECRET_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, SECRET_FILE_MAX, fp);
	if (ferror(fp) || n == 0) {
		snprintf(err, errlen, "%s: %s", path, n == 0 ? "empty" :
		    "read error");
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int
cmd_notify_add(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "webhook", required_argument, NULL, 'w' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "email", required_argument, NULL, 'e' },
		{ "smtp", required_argument, NULL, 'm' },
		{ "smtp-user", required_argument, NULL, 'u' },
		{ "smtp-password-file", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'F' },
		{ "smtp-insecure", no_argument, NULL, 'I' },
		{ "smtp-ca-file", required_argument, NULL, 'C' },
		{ "exec", required_argument, NULL, 'x' },
		{ "kinds", required_argument, NULL, 'k' },
		{ "min-severity", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *webhook = NULL, *secret_file = NULL, *format = NULL;
	const char *email = NULL, *smtp = NULL, *user = NULL, *pw_file = NULL;
	const char *from = NULL, *cmd = NULL, *kinds = NULL, *sev = NULL;
	const char *ca_file = NULL;
	char ca_abs[PATH_MAX];
	char *secret = NULL, *password = NULL, err[512];
	int64_t timeout = 0;
	int insecure = 0, ch, rc, n, kinds_n;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'w': webhook = optarg; break;
		case 's': secret_file = optarg; break;
		case 'f': format = optarg; break;
		case 'e': email = optarg; break;
		case 'm': smtp = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pw_file = optarg; break;
		case 'F': from = optarg; break;
		case 'I': insecure = 1; break;
		case 'C': ca_file = optarg; break;
		case 'x': cmd = optarg; break;
		case 'k': kinds = optarg; break;
		case 'S': sev = optarg; break;
		case 't':
			if (cli_parse_int(optarg, 1, 3600, &timeout) == 0)
				break;
			return cli_usage_error(cli, "--timeout must be 1..3600 "
			    "seconds");
		default:
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, "expected one sink NAME");
	if ((webhook != NULL) + (email != NULL) + (cmd != NULL) != 1)
		return cli_usage_error(cli, "give one of --webhook, --email and "
		    "--exec");
	if ((secret_file || format) && webhook == NULL)
		return cli_usage_error(cli, "--secret-file and --format are for "
		    "--webhook");
	if ((smtp || user || pw_file || from || insecure || ca_file) &&
	    email == NULL)
		return cli_usage_error(cli, "--smtp, --smtp-user, "
		    "--smtp-password-file, --from and --smtp-insecure are for "
		    "--email");
	if (email != NULL && smtp == NULL)
		return cli_usage_error(cli, "--email needs --smtp URL");
	/* The daemon does not share our working directory. */
	if (ca_file != NULL) {
		if (realpath(ca_file, ca_abs) == NULL)
			return cli_fail(EXIT_USAGE, "--smtp-ca-file %s: %s",
			    ca_file, strerror(errno));
		ca_file = ca_abs;
	}
	if ((user == NULL) != (pw_file == NULL))
		return cli_usage_error(cli, "give --smtp-user and "
		    "--smtp-password-file together");
	if (secret_file && (secret = read_secret(secret_file, err,
	    sizeof(err))) == NULL)
		return cli_fail(EXIT_USAGE, "--secret-file %s", err);
	if (pw_file && (password = read_secret(pw_file, err,
	    sizeof(err))) == NULL) {
		wipe_free(secret);
		return cli_fail(EXIT_USAGE, "--smtp-password-file %s", err);
	}
	kinds_n = kinds != NULL;
	n = 2 + (webhook != NULL) + (secret != NULL) + (format != NULL) +
	    (email != NULL) + (smtp != NULL) + (user != NULL) +
	    (password != NULL) + (from != NULL) + insecure + (cmd != NULL) +
	    kinds_n + (sev != NULL) + (timeout != 0) + (ca_file != NULL);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	wire_pack_kv_str(&pk, "name", argv[optind]);
	wire_pack_kv_str(&pk, "type", webhook ? "webhook" : email ? "email" :
	    "exec");
#define OPT(key, v) do { if ((v) != NULL) wire_pack_kv_str(&pk, key, v); } \
	while (0)
	OPT("url", webhook);
	OPT("secret", secret);
	OPT("format", format);
	OPT("recipients", email);
	OPT("smtp_url", smtp);
	OPT("smtp_user", user);
	OPT("smtp_password", password);
	OPT("from", from);
	OPT("command", cmd);
	OPT("kinds", kinds);
	OPT("min_severity", sev);
	OPT("smtp_ca_file", ca_file);
#undef OPT
	if (insecure)
		wire_pack_kv_bool(&pk, "smtp_insecure", 1);
	if (timeout)
		wire_pack_kv_int(&pk, "timeout", timeout);
	wipe_free(secret);
	wipe_free(password);
	rc = cli_call(cli, M_NOTIFY_ADD, &sb, NULL, NULL, &r);
	explicit_bzero(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_sink);
}

static int
cmd_notify_list(struct cli *cli, int argc, char **argv)
{
	static const char *const headers[] = { "NAME", "TYPE", "TARGET",
	    "ENABLED", "DELIVERED", "PENDING", "GIVEN UP", "LAST ERROR" };
	static const char *const keys[] = { "name", "type", "target", "enabled",
	    "delivered", "pending", "given_up", "last_error" };

	if (argc != 1)
		return cli_usage_error(cli, "takes no arguments");
	return cli_call_list(cli, M_NOTIFY_LIST, NULL, 8, headers, keys);
}

/* Calls method with {name: argv[1]}. */
static int
name_call(struct cli *cli, int argc, char **argv, const char *method,
    struct cf_reply *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (argc != 2)
		return cli_usage_error(cli, "expected one sink NAME");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	wire_pack_kv_str(&pk, "name", argv[1]);
	rc = cli_call(cli, method, &sb, NULL, NULL, r);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
cmd_notify_show(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_NOTIFY_SHOW, &r)) != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_sink);
}

static void
print_deleted(const msgpack_object *o)
{
	char buf[256];

	printf("sink %s deleted\n", out_text(o, "name", ",", buf, sizeof(buf)));
}

static void
print_tested(const msgpack_object *o)
{
	char name[256], id[32];

	printf("test event %s queued for sink %s (see 'certfleet notify show "
	    "%s')\n", out_text(o, "event", ",", id, sizeof(id)),
	    out_text(o, "name", ",", name, sizeof(name)), name);
}

static void
print_retried(const msgpack_object *o)
{
	char name[256], n[32];

	printf("%s deliveries of sink %s queued again\n", out_text(o,
	    "requeued", ",", n, sizeof(n)), out_text(o, "name", ",", name,
	    sizeof(name)));
}

static int
cmd_notify_delete(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_NOTIFY_DELETE, &r)) != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_deleted);
}

static int
cmd_notify_test(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_NOTIFY_TEST, &r)) != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_tested);
}

static int
cmd_notify_enable(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_NOTIFY_ENABLE, &r)) != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_sink);
}

static int
cmd_notify_retry(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = name_call(cli, argc, argv, M_NOTIFY_RETRY, &r)) != EXIT_OK)
		return rc;
	return cli_finish_object(cli, &r, print_retried);
}
