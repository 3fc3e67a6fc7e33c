/*
 * certfleet cert ...: managed certificates from draft to pending (create,
 * update, csr), their keys and PEMs, imports, lists and deletion.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certfleet/methods.h"
#include "certfleet/wire.h"
#include "cli.h"
#include "output.h"

#define PEM_FILE_MAX	(1024u * 1024)
#define MAX_ALIASES	200	/* the daemon's limit is lower and says so */

static int cmd_cert_create(struct cli *, int, char **);
static int cmd_cert_update(struct cli *, int, char **);
static int cmd_cert_csr(struct cli *, int, char **);
static int cmd_cert_show(struct cli *, int, char **);
static int cmd_cert_list(struct cli *, int, char **);
static int cmd_cert_key(struct cli *, int, char **);
static int cmd_cert_pem(struct cli *, int, char **);
static int cmd_cert_import(struct cli *, int, char **);
static int cmd_cert_delete(struct cli *, int, char **);
static int cmd_cert_renew(struct cli *, int, char **);
static int cmd_cert_revoke(struct cli *, int, char **);
static int cmd_cert_wait(struct cli *, int, char **);

#define CERT_OPTS_HELP \
	"  --domain D        the primary name (CN); a wildcard only as *.NAME\n" \
	"  --alias A         another name (SAN), repeatable\n" \
	"  --ca NAME         the CA profile (certfleet ca list)\n" \
	"  --email E         contact address for the CA account\n" \
	"  --agree-tos       agree to the CA's terms of service (required)\n" \
	"  --renew-days N    renew when N days remain (1..89, default 30)\n" \
	"  --key-type T      ec256 (default), ec384, rsa2048, rsa3072, rsa4096\n" \
	"\n" \
	"Names are lower case; internationalized names go in their A-label\n" \
	"(xn--) form; at most 100 names.\n"

const struct cli_cmd cli_cert_cmds[] = {
	{ "cert create", cmd_cert_create,
	  "--domain D [--alias A]... --ca NAME [--email E] --agree-tos "
	  "[--renew-days N] [--key-type T]",
	  "create a managed certificate as a draft (no key or CSR yet)",
	  CERT_OPTS_HELP, M_CERT_CREATE },
	{ "cert update", cmd_cert_update,
	  "ID [--domain D] [--alias A]... [--no-aliases] [--ca NAME] "
	  "[--email E] [--renew-days N] [--key-type T]",
	  "edit a draft (refused once its CSR exists)",
	  CERT_OPTS_HELP
	  "\nAny --alias replaces all aliases; --no-aliases removes them.\n",
	  M_CERT_UPDATE },
	{ "cert csr", cmd_cert_csr, "ID",
	  "make a draft's private key and CSR; prints the CNAME records to create",
	  "The key is stored encrypted.  The certificate becomes pending; each\n"
	  "_acme-challenge name must be a CNAME to the certificate's label in the\n"
	  "tech zone (the daemon's techzone-name setting).  Output is zone-file\n"
	  "syntax; --json prints the certificate.\n", M_CERT_CSR },
	{ "cert show", cmd_cert_show, "ID",
	  "show every field of a managed certificate, its CNAMEs and orders", "",
	  M_CERT_SHOW },
	{ "cert list", cmd_cert_list, "[--status S]",
	  "list managed certificates",
	  "  --status S   only draft, pending, active, expired, error or revoked\n",
	  M_CERT_LIST },
	{ "cert key", cmd_cert_key, "ID",
	  "print the private key PEM (admin peers only)", "", M_CERT_KEY },
	{ "cert pem", cmd_cert_pem, "ID [--out DIR]",
	  "print the certificate and chain PEM, or write them to files",
	  "  --out DIR   write DIR/cert.pem, chain.pem, fullchain.pem and key.pem\n"
	  "              (key.pem mode 0600; needs an admin peer for the key).\n"
	  "              Each file is written beside its target and renamed\n"
	  "              over it, so a reader never sees half a file.\n",
	  M_CERT_PEM },
	{ "cert import", cmd_cert_import,
	  "--cert FILE --key FILE [--chain FILE] [--ca NAME --agree-tos] "
	  "[--email E] [--renew-days N]",
	  "import an existing certificate with its private key",
	  "  --cert FILE      exactly one PEM certificate\n"
	  "  --key FILE       its private key (must match the certificate)\n"
	  "  --chain FILE     intermediate certificates (PEM)\n"
	  "  --ca NAME        renew it later through this CA profile (needs\n"
	  "                   --agree-tos); without it certfleet keeps it only\n"
	  "  --email E        contact address for the CA account\n"
	  "  --renew-days N   renew when N days remain\n", M_CERT_IMPORT },
	{ "cert delete", cmd_cert_delete, "ID",
	  "delete a managed certificate, its key and its history", "",
	  M_CERT_DELETE },
	{ "cert renew", cmd_cert_renew, "ID",
	  "renew now with a new key, whatever the threshold",
	  "Answers at once while the order runs; 'cert wait ID' follows it.  The\n"
	  "new certificate replaces the old, which stays in the history.\n",
	  M_CERT_RENEW },
	{ "cert revoke", cmd_cert_revoke, "ID [--reason R]",
	  "ask the CA to revoke a certificate",
	  "  --reason R   unspecified, keyCompromise, cACompromise,\n"
	  "               affiliationChanged, superseded, cessationOfOperation,\n"
	  "               certificateHold, removeFromCRL, privilegeWithdrawn or\n"
	  "               aACompromise\n", M_CERT_REVOKE },
	{ "cert wait", cmd_cert_wait, "ID [--status S] [--timeout SECONDS]",
	  "wait until a certificate reaches a status (default: active)",
	  "  --status S        draft, pending, active, expired, error or revoked\n"
	  "  --timeout SECONDS give up after this long (default 300)\n"
	  "\n"
	  "Exits 0 once the status is reached; 1 when the certificate fails\n"
	  "instead (status error: the last error is printed) or the time runs\n"
	  "out.  A renewal counts from its start: waiting for active after\n"
	  "'cert renew' waits for the new certificate.\n", M_CERT_SHOW },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

/* --- output -------------------------------------------------------------- */

static const struct {
	const char *key, *label;
} cert_fields[] = {
	{ "id", "ID" },
	{ "domain", "Domain" },
	{ "aliases", "Aliases" },
	{ "ca", "Certificate Authority" },
	{ "email", "Email" },
	{ "tos_agreed", "ToS Agreed" },
	{ "auto_renew_days", "Auto Renew Days" },
	{ "status", "Status" },
	{ "source", "Source" },
	{ "days_remaining", "Days Remaining" },
	{ "key_type", "Key Type" },
	{ "label", "Label" },
	{ "common_name", "Common Name" },
	{ "valid_from", "Valid From" },
	{ "valid_until", "Valid Until" },
	{ "issued_by", "Issued By" },
	{ "organization", "Organization" },
	{ "serial_number", "Serial Number" },
	{ "signature_algorithm", "Signature Algorithm" },
	{ "public_key", "Public Key" },
	{ "subject_alt_names", "Subject Alternative Names" },
	{ "fingerprint_sha256", "SHA-256 Fingerprint" },
	{ "subject", "Subject" },
	{ "issuer", "Issuer" },
	{ "last_error", "Last Error" },
	{ "next_renewal_at", "Next Renewal" },
	{ "created_at", "Created" },
	{ "updated_at", "Updated" },
};

static void
print_str(const msgpack_object *map, const char *key)
{
	const msgpack_object *v = wire_map_get(map, key);

	if (v != NULL && v->type == MSGPACK_OBJECT_STR)
		fwrite(v->via.str.ptr, 1, v->via.str.size, stdout);
}

/* "_acme-challenge.example.com. CNAME label.zone." lines; how many. */
static size_t
print_cnames(const msgpack_object *cert)
{
	const msgpack_object *v = wire_map_get(cert, "cname_instructions");
	char name[512], target[512];
	size_t n = 0;

	for (uint32_t i = 0; v && v->type == MSGPACK_OBJECT_ARRAY &&
	    i < v->via.array.size; i++) {
		const msgpack_object *e = &v->via.array.ptr[i];

		printf("%s CNAME %s\n",
		    out_text(e, "name", ",", name, sizeof(name)),
		    out_text(e, "target", ",", target, sizeof(target)));
		n++;
	}
	return n;
}

static void
print_orders(const msgpack_object *cert)
{
	static const char *const headers[] = { "ORDER", "REASON", "STEP",
	    "STATUS", "STARTED", "FINISHED", "PROBLEM" };
	static const char *const keys[] = { "id", "reason", "step", "status",
	    "started_at", "finished_at", "problem_detail" };
	const msgpack_object *v = wire_map_get(cert, "orders");

	if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size == 0)
		return;
	printf("\nOrders:\n");
	out_table_of(v, 7, headers, keys);
}

static void
print_targets(const msgpack_object *cert)
{
	static const char *const headers[] = { "TARGET", "DIR", "STATE",
	    "DEPLOYED", "FAILURES", "NEXT TRY", "LAST ERROR" };
	static const char *const keys[] = { "id", "dir", "state", "deployed_at",
	    "failures", "next_attempt_at", "last_error" };
	const msgpack_object *v = wire_map_get(cert, "deploy_targets");

	if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size == 0)
		return;
	printf("\nDeploy targets:\n");
	out_table_of(v, 7, headers, keys);
}

static void
print_cert(const msgpack_object *cert)
{
	static const struct { const char *key, *title; } pems[] = {
		{ "csr", "CSR" }, { "certificate", "Certificate" },
		{ "chain", "Chain" },
	};
	char buf[8192];

	for (size_t i = 0; i < sizeof(cert_fields) / sizeof(cert_fields[0]); i++)
		out_field(cert_fields[i].label, out_text(cert, cert_fields[i].key,
		    " | ", buf, sizeof(buf)), 26);
	const msgpack_object *c = wire_map_get(cert, "cname_instructions");
	if (c != NULL && c->type == MSGPACK_OBJECT_ARRAY && c->via.array.size) {
		printf("\nCNAME records:\n");
		print_cnames(cert);
	}
	print_orders(cert);
	print_targets(cert);
	for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++) {
		const msgpack_object *v = wire_map_get(cert, pems[i].key);

		if (v == NULL || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
			continue;
		printf("\n%s:\n", pems[i].title);
		print_str(cert, pems[i].key);
	}
}

static int
finish_cert(struct cli *cli, struct cf_reply *r)
{
	return cli_finish_object(cli, r, print_cert);
}

/* --- calls ------------------------------------------------------------- */


static int
id_call(struct cli *cli, int argc, char **argv, const char *method,
    struct cf_reply *r)
{
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if (argc != 2)
		return cli_usage_error(cli, "expected one certificate ID");
	if (cli_parse_id(argv[1], &id) == -1)
		return cli_usage_error(cli, "'%s' is not a certificate ID", argv[1]);
	cli_pack_id(&sb, id);
	rc = cli_call(cli, method, &sb, NULL, NULL, r);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Options shared by create and update. */
struct cert_opts {
	const char	*domain, *ca, *email, *key_type;
	const char	*aliases[MAX_ALIASES];
	size_t		 naliases;
	int		 no_aliases;
	int		 agree_tos;
	int64_t		 renew_days;
};

static int
parse_cert_opts(struct cli *cli, int argc, char **argv, struct cert_opts *o)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "alias", required_argument, NULL, 'a' },
		{ "no-aliases", no_argument, NULL, 'A' },
		{ "ca", required_argument, NULL, 'c' },
		{ "email", required_argument, NULL, 'e' },
		{ "agree-tos", no_argument, NULL, 't' },
		{ "renew-days", required_argument, NULL, 'r' },
		{ "key-type", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->domain = optarg; break;
		case 'a':
			if (o->naliases == MAX_ALIASES)
				return cli_usage_error(cli, "too many --alias");
			o->aliases[o->naliases++] = optarg;
			break;
		case 'A': o->no_aliases = 1; break;
		case 'c': o->ca = optarg; break;
		case 'e': o->email = optarg; break;
		case 't': o->agree_tos = 1; break;
		case 'r':
			if (cli_parse_int(optarg, 1, 36500, &o->renew_days) == -1)
				return cli_usage_error(cli, "--renew-days takes a "
				    "number of days");
			break;
		case 'k': o->key_type = optarg; break;
		default:
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (o->no_aliases && o->naliases)
		return cli_usage_error(cli, "--alias and --no-aliases conflict");
	return EXIT_OK;
}

/* Packs o (plus id when > 0) as the parameter map. */
static void
pack_cert_opts(msgpack_sbuffer *sb, const struct cert_opts *o, int64_t id)
{
	msgpack_packer pk;
	int aliases = o->naliases > 0 || o->no_aliases;
	int n = (id > 0) + (o->domain != NULL) + aliases + (o->ca != NULL) +
	    (o->email != NULL) + o->agree_tos + (o->renew_days != 0) +
	    (o->key_type != NULL);

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	if (id > 0)
		wire_pack_kv_int(&pk, "id", id);
	if (o->domain)
		wire_pack_kv_str(&pk, "domain", o->domain);
	if (aliases) {
		wire_pack_key(&pk, "aliases");
		msgpack_pack_array(&pk, o->naliases);
		for (size_t i = 0; i < o->naliases; i++)
			wire_pack_str(&pk, o->aliases[i]);
	}
	if (o->ca)
		wire_pack_kv_str(&pk, "ca", o->ca);
	if (o->email)
		wire_pack_kv_str(&pk, "email", o->email);
	if (o->agree_tos)
		wire_pack_kv_bool(&pk, "agree_tos", 1);
	if (o->renew_days)
		wire_pack_kv_int(&pk, "renew_days", o->renew_days);
	if (o->key_type)
		wire_pack_kv_str(&pk, "key_type", o->key_type);
}

static int
cmd_cert_create(struct cli *cli, int argc, char **argv)
{
	struct cert_opts o;
	struct cf_reply r;
	msgpack_sbuffer sb;
	int rc;

	if ((rc = parse_cert_opts(cli, argc, argv, &o)) != EXIT_OK)
		return rc;
	if (optind != argc)
		return cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]);
	if (o.domain == NULL || o.ca == NULL)
		return cli_usage_error(cli, "--domain and --ca are required");
	if (!o.agree_tos)
		return cli_usage_error(cli, "--agree-tos is required: the CA "
		    "issues only to those who agree to its terms of service");
	if (o.no_aliases)
		return cli_usage_error(cli, "--no-aliases is for update");
	pack_cert_opts(&sb, &o, 0);
	rc = cli_call(cli, M_CERT_CREATE, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc == EXIT_OK ? finish_cert(cli, &r) : rc;
}

static int
cmd_cert_update(struct cli *cli, int argc, char **argv)
{
	struct cert_opts o;
	struct cf_reply r;
	msgpack_sbuffer sb;
	int64_t id;
	int rc;

	if ((rc = parse_cert_opts(cli, argc, argv, &o)) != EXIT_OK)
		return rc;
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	pack_cert_opts(&sb, &o, id);
	rc = cli_call(cli, M_CERT_UPDATE, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc == EXIT_OK ? finish_cert(cli, &r) : rc;
}

static int
cmd_cert_csr(struct cli *cli, int argc, char **argv)
{
	const msgpack_object *id;
	struct cf_reply r;
	int rc;

	if ((rc = id_call(cli, argc, argv, M_CERT_CSR, &r)) != EXIT_OK)
		return rc;
	if (cli->json) {
		out_json(&r.result);
	} else {
		id = wire_map_get(&r.result, "id");
		printf("; certificate %llu is pending: create these records, each "
		    "a CNAME into the tech zone\n", id && id->type ==
		    MSGPACK_OBJECT_POSITIVE_INTEGER ?
		    (unsigned long long)id->via.u64 : 0ULL);
		print_cnames(&r.result);
	}
	cf_reply_free(&r);
	return EXIT_OK;
}

static int
cmd_cert_show(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = id_call(cli, argc, argv, M_CERT_SHOW, &r)) != EXIT_OK)
		return rc;
	return finish_cert(cli, &r);
}

static int
cmd_cert_delete(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = id_call(cli, argc, argv, M_CERT_DELETE, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		printf("certificate %s deleted\n", argv[1]);
	cf_reply_free(&r);
	return EXIT_OK;
}

static int
cmd_cert_key(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = id_call(cli, argc, argv, M_CERT_KEY, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		out_json(&r.result);
	else
		print_str(&r.result, "key");
	cf_reply_free(&r);
	return EXIT_OK;
}

static const char *const list_headers[] = {
	"ID", "STATUS", "DOMAIN", "ALIASES", "CA", "DAYS", "VALID UNTIL",
};
static const char *const list_keys[] = {
	"id", "status", "domain", "aliases", "ca", "days_remaining",
	"valid_until",
};
#define LIST_COLS	(sizeof(list_keys) / sizeof(list_keys[0]))

/* Pages through Cert.List into one JSON array or one table. */
static int
cmd_cert_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *status = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 's')
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		status = optarg;
	}
	if (optind != argc)
		return cli_usage_error(cli, "takes no arguments but --status");
	return cli_list_pages(cli, M_CERT_LIST, status ? "status" : NULL, status,
	    LIST_COLS, list_headers, list_keys);
}

/* --- files -------------------------------------------------------------- */

/*
 * Writes data to dir/name through a fresh temporary file (mkstemp: O_EXCL,
 * mode 0600 from the start) renamed over the target, so a symbolic link at
 * the target is replaced, never followed, and readers never see half a file.
 */
static int
write_atomic(const char *dir, const char *name, const char *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >=
	    sizeof(tmp) || (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir,
	    name) >= sizeof(dst)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", dst, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

static int
str_of(const msgpack_object *map, const char *key, const char **p, size_t *n)
{
	const msgpack_object *v = wire_map_get(map, key);

	if (v == NULL || v->type != MSGPACK_OBJECT_STR)
		return -1;
	*p = v->via.str.ptr;
	*n = v->via.str.size;
	return 0;
}

static int
pem_to_dir(struct cli *cli, int64_t id, const char *dir, struct cf_reply *pem)
{
	static const struct { const char *key, *file; } files[] = {
		{ "certificate", "cert.pem" }, { "chain", "chain.pem" },
		{ "fullchain", "fullchain.pem" },
	};
	struct cf_reply kr;
	msgpack_sbuffer sb;
	const char *p;
	char err[PATH_MAX + 128];
	size_t n;
	int rc;

	/* The key first: an operator is refused before anything is written. */
	cli_pack_id(&sb, id);
	rc = cli_call(cli, M_CERT_KEY, &sb, NULL, NULL, &kr);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		cf_reply_free(&kr);
		return cli_fail(EXIT_REFUSED, "%s: %s", dir, strerror(errno));
	}
	rc = EXIT_OK;
	for (size_t i = 0; rc == EXIT_OK && i < 3; i++) {
		if (str_of(&pem->result, files[i].key, &p, &n) == -1 ||
		    write_atomic(dir, files[i].file, p, n, 0644, err,
		    sizeof(err)) == -1)
			rc = cli_fail(EXIT_REFUSED, "%s", err);
	}
	if (rc == EXIT_OK && (str_of(&kr.result, "key", &p, &n) == -1 ||
	    write_atomic(dir, "key.pem", p, n, 0600, err, sizeof(err)) == -1))
		rc = cli_fail(EXIT_REFUSED, "%s", err);
	cf_reply_free(&kr);
	if (rc == EXIT_OK && !cli->json)
		printf("wrote %s/cert.pem, chain.pem, fullchain.pem and key.pem\n",
		    dir);
	return rc;
}

static int
cmd_cert_pem(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	struct cf_reply r;
	msgpack_sbuffer sb;
	int64_t id;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'o')
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		dir = optarg;
	}
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	cli_pack_id(&sb, id);
	rc = cli_call(cli, M_CERT_PEM, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (dir != NULL)
		rc = pem_to_dir(cli, id, dir, &r);
	else if (cli->json)
		out_json(&r.result);
	else
		print_str(&r.result, "fullchain");
	cf_reply_free(&r);
	return rc;
}

/* Reads a whole file of at most PEM_FILE_MAX bytes; NULL with err. */
static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(PEM_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, PEM_FILE_MAX + 1, fp);
	if (ferror(fp) || n > PEM_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, ferror(fp) ? "read error" :
		    "file too large");
		explicit_bzero(buf, PEM_FILE_MAX + 1);
		free(buf);
		buf = NULL;
	} else
		*len = n;
	fclose(fp);
	return buf;
}

static void
pack_text(msgpack_packer *pk, const char *key, const char *p, size_t n)
{
	wire_pack_key(pk, key);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, p, n);
}

static int
cmd_cert_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "chain", required_argument, NULL, 'C' },
		{ "ca", required_argument, NULL, 'a' },
		{ "email", required_argument, NULL, 'e' },
		{ "agree-tos", no_argument, NULL, 't' },
		{ "renew-days", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cpath = NULL, *kpath = NULL, *chpath = NULL, *ca = NULL,
	    *email = NULL;
	char *cert = NULL, *key = NULL, *chain = NULL, err[PATH_MAX + 64];
	size_t clen = 0, klen = 0, chlen = 0;
	int64_t renew = 0;
	int ch, tos = 0, rc = EXIT_REFUSED, n;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cpath = optarg; break;
		case 'k': kpath = optarg; break;
		case 'C': chpath = optarg; break;
		case 'a': ca = optarg; break;
		case 'e': email = optarg; break;
		case 't': tos = 1; break;
		case 'r':
			if (cli_parse_int(optarg, 1, 36500, &renew) == -1)
				return cli_usage_error(cli, "--renew-days takes a "
				    "number of days");
			break;
		default:
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind != argc || cpath == NULL || kpath == NULL)
		return cli_usage_error(cli, "--cert FILE and --key FILE are "
		    "required");
	if ((cert = read_file(cpath, &clen, err, sizeof(err))) == NULL ||
	    (key = read_file(kpath, &klen, err, sizeof(err))) == NULL ||
	    (chpath && (chain = read_file(chpath, &chlen, err,
	    sizeof(err))) == NULL)) {
		rc = cli_fail(EXIT_REFUSED, "%s", err);
		goto out;
	}
	n = 2 + (chain != NULL) + (ca != NULL) + (email != NULL) + tos +
	    (renew != 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	pack_text(&pk, "cert", cert, clen);
	pack_text(&pk, "key", key, klen);
	if (chain)
		pack_text(&pk, "chain", chain, chlen);
	if (ca)
		wire_pack_kv_str(&pk, "ca", ca);
	if (email)
		wire_pack_kv_str(&pk, "email", email);
	if (tos)
		wire_pack_kv_bool(&pk, "agree_tos", 1);
	if (renew)
		wire_pack_kv_int(&pk, "renew_days", renew);
	rc = cli_call(cli, M_CERT_IMPORT, &sb, NULL, NULL, &r);
	/* The request held the key: wipe it before it goes back to malloc. */
	explicit_bzero(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (rc == EXIT_OK)
		rc = finish_cert(cli, &r);
out:
	free(cert);
	if (key != NULL) {
		explicit_bzero(key, klen);
		free(key);
	}
	free(chain);
	return rc;
}

static int
cmd_cert_renew(struct cli *cli, int argc, char **argv)
{
	struct cf_reply r;
	int rc;

	if ((rc = id_call(cli, argc, argv, M_CERT_RENEW, &r)) != EXIT_OK)
		return rc;
	if (cli->json)
		return finish_cert(cli, &r);
	printf("certificate %s: renewal started ('certfleet cert wait %s' "
	    "follows it)\n", argv[1], argv[1]);
	cf_reply_free(&r);
	return EXIT_OK;
}

static int
cmd_cert_revoke(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reason = NULL;
	struct cf_reply r;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t id;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'r')
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
		reason = optarg;
	}
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, reason ? 2 : 1);
	wire_pack_kv_int(&pk, "id", id);
	if (reason != NULL)
		wire_pack_kv_str(&pk, "reason", reason);
	rc = cli_call(cli, M_CERT_REVOKE, &sb, NULL, NULL, &r);
	msgpack_sbuffer_destroy(&sb);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		return finish_cert(cli, &r);
	printf("certificate %lld revoked\n", (long long)id);
	cf_reply_free(&r);
	return EXIT_OK;
}

/* The certificate's status and last error, copied out of a Cert.Show. */
static void
wait_read(const struct cf_reply *r, char *status, size_t slen, char *error,
    size_t elen)
{
	const msgpack_object *v;

	v = wire_map_get(&r->result, "status");
	snprintf(status, slen, "%.*s", v && v->type == MSGPACK_OBJECT_STR ?
	    (int)v->via.str.size : 0, v && v->type == MSGPACK_OBJECT_STR ?
	    v->via.str.ptr : "");
	v = wire_map_get(&r->result, "last_error");
	snprintf(error, elen, "%.*s", v && v->type == MSGPACK_OBJECT_STR ?
	    (int)v->via.str.size : 0, v && v->type == MSGPACK_OBJECT_STR ?
	    v->via.str.ptr : "");
}

static int
cmd_cert_wait(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *want = "active";
	char status[16], error[1024], *end;
	struct timespec t0, now, nap = { 0, 200 * 1000 * 1000 };
	long timeout = 300;
	int64_t id;
	int ch, rc, waited = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 's')
			want = optarg;
		else if (ch == 't') {
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout < 0 ||
			    timeout > 86400 * 7)
				return cli_usage_error(cli, "--timeout wants "
				    "seconds, 0 to 604800");
		} else
			return cli_usage_error(cli, "unknown option '%s'",
			    argv[optind - 1]);
	}
	if (optind + 1 != argc || cli_parse_id(argv[optind], &id) == -1)
		return cli_usage_error(cli, "expected one certificate ID");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct cf_reply r;
		msgpack_sbuffer sb;
		char show[64];

		cli_pack_id(&sb, id);
		rc = cli_call(cli, M_CERT_SHOW, &sb, NULL, NULL, &r);
		msgpack_sbuffer_destroy(&sb);
		if (rc != EXIT_OK)
			return rc;
		wait_read(&r, status, sizeof(status), error, sizeof(error));
		/* A renewal under way keeps the old certificate active: the
		 * wait is over only once the engine is done with it. */
		const msgpack_object *busy = wire_map_get(&r.result,
		    "in_progress");
		int running = busy && busy->type == MSGPACK_OBJECT_BOOLEAN &&
		    busy->via.boolean;
		if (strcmp(status, want) == 0 && !running) {
			rc = cli->json ? finish_cert(cli, &r) :
			    (cf_reply_free(&r), EXIT_OK);
			if (!cli->json)
				printf("certificate %lld is %s\n", (long long)id,
				    status);
			return rc;
		}
		cf_reply_free(&r);
		if (strcmp(status, "error") == 0 && strcmp(want, "error") != 0)
			return cli_fail(EXIT_REFUSED, "certificate %lld failed: %s",
			    (long long)id, error[0] ? error : "(no detail)");
		if (strcmp(status, "revoked") == 0 && strcmp(want, "revoked") != 0)
			return cli_fail(EXIT_REFUSED, "certificate %lld is revoked",
			    (long long)id);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= timeout) {
			snprintf(show, sizeof(show), "%s", status);
			return cli_fail(EXIT_REFUSED, "certificate %lld is still %s "
			    "after %ld s%s%s", (long long)id, show, timeout,
			    error[0] ? ": " : "", error);
		}
		if (!waited++ && !cli->json && isatty(STDERR_FILENO))
			fprintf(stderr, "waiting for certificate %lld to be %s "
			    "(now %s)...\n", (long long)id, want, status);
		nanosleep(&nap, NULL);
	}
}
