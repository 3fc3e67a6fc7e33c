/*
 * Cert.* handlers: check parameters, call cert.c, encode certificates.  The
 * facts carry the same names as tracked items (api_pack_item).  Cert.Key is
 * the one method that returns key material; its table row makes it admin
 * only, and nothing here logs what it sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "api.h"
#include "cert.h"
#include "issue.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "keystore.h"
#include "store.h"
#include "store_deploy.h"
#include "x509.h"

#define CERT_LIST_PAGE_MAX	10000
#define CERT_LIST_PAGE_DEFAULT	1000
#define CERT_ORDERS_SHOWN	50
#define CERT_KEYS_BRIEF		37
#define CERT_KEYS_FULL		(CERT_KEYS_BRIEF + 6)

static const char *const statuses[] = {
	"draft", "pending", "active", "expired", "error", "revoked", NULL,
};

static void
pack_cnames(msgpack_packer *pk, const struct store_cert *c, const char *zone)
{
	struct cert_cname *v;
	size_t n = cert_cnames(c, zone, NULL, 0);

	wire_pack_key(pk, "cname_instructions");
	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL) {
		msgpack_pack_array(pk, 0);
		return;
	}
	n = cert_cnames(c, zone, v, n);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "name", v[i].name);
		wire_pack_kv_str(pk, "target", v[i].target);
	}
	free(v);
}


/* The brief object (Cert.List); full adds the PEMs, orders and versions
 * after its CERT_KEYS_BRIEF keys, so the map is opened by the caller. */
static void
pack_cert_brief(msgpack_packer *pk, const struct store_cert *c,
    const char *zone, int64_t now, int busy)
{
	wire_pack_kv_int(pk, "id", c->id);
	wire_pack_kv_str(pk, "domain", c->domain);
	api_pack_strs(pk, "aliases", c->aliases, c->naliases);
	wire_pack_kv_str(pk, "ca", c->ca_name);
	wire_pack_kv_str(pk, "email", c->email);
	wire_pack_kv_bool(pk, "tos_agreed", c->tos_agreed_at != 0);
	api_pack_time(pk, "tos_agreed_at", c->tos_agreed_at);
	wire_pack_kv_int(pk, "auto_renew_days", c->renew_days);
	wire_pack_kv_str(pk, "key_type", c->key_type);
	wire_pack_kv_str(pk, "status", cert_status(c, now));
	wire_pack_kv_str(pk, "source", c->source);
	wire_pack_kv_str(pk, "label", c->label);
	wire_pack_kv_bool(pk, "has_key", c->key_sealed != NULL);
	wire_pack_kv_str(pk, "last_error", c->last_error);
	wire_pack_kv_str(pk, "problem_type", c->problem_type);
	wire_pack_kv_int(pk, "failures", c->failures);
	wire_pack_kv_bool(pk, "in_progress", busy);
	api_pack_time(pk, "next_attempt_at", c->next_attempt_at);
	api_pack_time(pk, "next_renewal_at", c->next_renewal_at);
	api_pack_time(pk, "created_at", c->created_at);
	api_pack_time(pk, "updated_at", c->updated_at);
	pack_cnames(pk, c, zone);
	api_pack_facts(pk, c->facts, now);
}

struct sub_list {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
	int		 redact;	/* deploy targets for the monitor role */
};

static int
pack_order(const struct store_order *o, void *arg)
{
	struct sub_list *l = arg;

	msgpack_pack_map(&l->pk, 11);
	wire_pack_kv_int(&l->pk, "id", o->id);
	wire_pack_kv_str(&l->pk, "reason", o->reason);
	wire_pack_kv_str(&l->pk, "step", o->step);
	wire_pack_kv_str(&l->pk, "status", o->status);
	wire_pack_kv_str(&l->pk, "order_url", o->order_url);
	wire_pack_kv_str(&l->pk, "problem_type", o->problem_type);
	wire_pack_kv_str(&l->pk, "problem_detail", o->problem_detail);
	wire_pack_kv_str(&l->pk, "serial_number", o->serial_number);
	api_pack_time(&l->pk, "started_at", o->started_at);
	api_pack_time(&l->pk, "updated_at", o->updated_at);
	api_pack_time(&l->pk, "finished_at", o->finished_at);
	l->n++;
	return 0;
}

static int
pack_version(const struct store_cert_version *v, void *arg)
{
	struct sub_list *l = arg;
	char buf[40];

	msgpack_pack_map(&l->pk, 5);
	api_pack_time(&l->pk, "replaced_at", v->replaced_at);
	wire_pack_kv_str(&l->pk, "serial_number", v->serial_number);
	wire_pack_kv_str(&l->pk, "fingerprint_sha256", v->fingerprint_sha256);
	wire_pack_kv_str(&l->pk, "valid_from",
	    clock_rfc3339(v->valid_from, buf, sizeof(buf)));
	wire_pack_kv_str(&l->pk, "valid_until",
	    clock_rfc3339(v->valid_until, buf, sizeof(buf)));
	l->n++;
	return 0;
}

static int
pack_target(const struct store_deploy *t, void *arg)
{
	struct sub_list *l = arg;

	api_pack_deploy_target(&l->pk, t, l->redact);
	l->n++;
	return 0;
}

/* Answers with the full object and frees c. */
static void
reply_cert(struct rpc_call *call, struct store_cert *c)
{
	struct daemon *d = rpc_call_ctx(call);
	struct sub_list orders = { .n = 0 }, versions = { .n = 0 };
	struct sub_list targets = {
		.n = 0, .redact = rpc_call_role(call) < RPC_ROLE_OPERATOR,
	};
	char err[256];
	msgpack_packer *pk;

	msgpack_sbuffer_init(&orders.sb);
	msgpack_packer_init(&orders.pk, &orders.sb, msgpack_sbuffer_write);
	msgpack_sbuffer_init(&versions.sb);
	msgpack_packer_init(&versions.pk, &versions.sb, msgpack_sbuffer_write);
	msgpack_sbuffer_init(&targets.sb);
	msgpack_packer_init(&targets.pk, &targets.sb, msgpack_sbuffer_write);
	if (store_orders_each(d->store, c->id, CERT_ORDERS_SHOWN, pack_order,
	    &orders, err, sizeof(err)) == -1 ||
	    store_cert_versions_each(d->store, c->id, pack_version, &versions,
	    err, sizeof(err)) == -1 ||
	    store_deploys_cert(d->store, c->id, pack_target, &targets, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&orders.sb);
		msgpack_sbuffer_destroy(&versions.sb);
		msgpack_sbuffer_destroy(&targets.sb);
		store_cert_free(c);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	pk = rpc_call_result(call);
	msgpack_pack_map(pk, CERT_KEYS_FULL);
	pack_cert_brief(pk, c, d->cfg->techzone_name, clock_now(),
	    issuer_busy(d->issuer, c->id));
	wire_pack_kv_str(pk, "csr", c->csr_pem);
	wire_pack_kv_str(pk, "certificate", c->facts ? c->facts->pem : NULL);
	wire_pack_kv_str(pk, "chain", c->chain_pem);
	wire_pack_key(pk, "orders");
	msgpack_pack_array(pk, orders.n);
	msgpack_sbuffer_write(pk->data, orders.sb.data, orders.sb.size);
	wire_pack_key(pk, "versions");
	msgpack_pack_array(pk, versions.n);
	msgpack_sbuffer_write(pk->data, versions.sb.data, versions.sb.size);
	wire_pack_key(pk, "deploy_targets");
	msgpack_pack_array(pk, targets.n);
	msgpack_sbuffer_write(pk->data, targets.sb.data, targets.sb.size);
	msgpack_sbuffer_destroy(&orders.sb);
	msgpack_sbuffer_destroy(&versions.sb);
	msgpack_sbuffer_destroy(&targets.sb);
	store_cert_free(c);
	rpc_call_reply(call);
}

/* Cert.Create and Cert.Update share their parameters. */
struct cert_in {
	struct cert_params	 p;
	char			*domain, *ca, *email, *key_type;
	char			**aliases;
	size_t			 naliases;
};

static void
cert_in_free(struct cert_in *in)
{
	free(in->domain);
	free(in->ca);
	free(in->email);
	free(in->key_type);
	api_texts_free(in->aliases, in->naliases);
}

static int
read_cert_params(struct rpc_call *call, const msgpack_object *params,
    int create, struct cert_in *in)
{
	int tos = -1;

	memset(in, 0, sizeof(*in));
	in->p.agree_tos = -1;
	if (api_param_text(call, params, "domain", create, CERT_NAME_MAX * 4,
	    &in->domain) == -1 ||
	    api_param_texts(call, params, "aliases", CERT_NAMES_MAX,
	    CERT_NAME_MAX * 4, &in->aliases, &in->naliases) == -1 ||
	    api_param_text(call, params, "ca", create, CA_NAME_MAX,
	    &in->ca) == -1 ||
	    api_param_text(call, params, "email", 0, CERT_EMAIL_MAX,
	    &in->email) == -1 ||
	    api_param_bool(call, params, "agree_tos", create, &tos) == -1 ||
	    api_param_int(call, params, "renew_days", 0, 1, 36500,
	    &in->p.renew_days) == -1 ||
	    api_param_text(call, params, "key_type", 0, 16, &in->key_type) == -1)
		return -1;
	in->p.domain = in->domain;
	in->p.aliases = (const char **)in->aliases;
	in->p.naliases = in->naliases;
	in->p.has_aliases = wire_map_get(params, "aliases") != NULL;
	in->p.ca = in->ca;
	in->p.email = in->email;
	in->p.agree_tos = tos;
	in->p.key_type = in->key_type;
	return 0;
}

void
api_cert_create(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "domain", "aliases", "ca", "email",
	    "agree_tos", "renew_days", "key_type", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_cert *c;
	struct cf_err e = { 0 };
	struct cert_in in;

	if (api_params_only(call, params, names) == -1)
		return;
	if (read_cert_params(call, params, 1, &in) == -1) {
		cert_in_free(&in);
		return;
	}
	if ((c = cert_create(d, &in.p, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_cert(call, c);
	cert_in_free(&in);
}

void
api_cert_update(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "domain", "aliases", "ca",
	    "email", "agree_tos", "renew_days", "key_type", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_cert *c;
	struct cf_err e = { 0 };
	struct cert_in in;
	int64_t id;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &id) == -1)
		return;
	if (read_cert_params(call, params, 0, &in) == -1) {
		cert_in_free(&in);
		return;
	}
	if ((c = cert_update(d, id, &in.p, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_cert(call, c);
	cert_in_free(&in);
}

static void
csr_done(struct store_cert *c, const struct cf_err *e, void *arg)
{
	struct rpc_call *call = arg;

	if (c == NULL)
		api_fail(call, e);
	else
		reply_cert(call, c);
}

void
api_cert_csr(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	/* Answered from csr_done once the key pool has made the key. */
	if (cert_csr(d, id, csr_done, call, &e) == -1)
		api_fail(call, &e);
}

void
api_cert_show(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_cert *c;
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if ((c = cert_get(d, id, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_cert(call, c);
}

void
api_cert_delete(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if (cert_delete(d, id, &e) == -1) {
		api_fail(call, &e);
		return;
	}
	api_reply_deleted(call, id);
}

struct list_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
	int64_t		 limit;
	int64_t		 now;
	const char	*status;
	const char	*zone;
	const struct issuer *issuer;
};

static int
list_one(const struct store_cert *c, void *arg)
{
	struct list_ctx *l = arg;

	/* Filtered on the status shown, which the clock can move. */
	if (l->status != NULL && strcmp(cert_status(c, l->now), l->status) != 0)
		return 0;
	msgpack_pack_map(&l->pk, CERT_KEYS_BRIEF);
	pack_cert_brief(&l->pk, c, l->zone, l->now,
	    issuer_busy(l->issuer, c->id));
	return ++l->n >= (size_t)l->limit;
}

void
api_cert_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "status", "after", "limit", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct list_ctx l = { .limit = CERT_LIST_PAGE_DEFAULT, .now = clock_now() };
	char err[256], *status = NULL;
	int64_t after = 0;
	int known = 0;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_text(call, params, "status", 0, 16, &status) == -1 ||
	    api_param_int(call, params, "after", 0, 0, INT64_MAX, &after) == -1 ||
	    api_param_int(call, params, "limit", 0, 1, CERT_LIST_PAGE_MAX,
	    &l.limit) == -1) {
		free(status);
		return;
	}
	for (size_t i = 0; status != NULL && statuses[i] != NULL; i++)
		known |= strcmp(status, statuses[i]) == 0;
	if (status != NULL && !known) {
		free(status);
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "status must be draft, "
		    "pending, active, expired, error or revoked");
		return;
	}
	l.status = status;
	l.zone = d->cfg->techzone_name;
	l.issuer = d->issuer;
	msgpack_sbuffer_init(&l.sb);
	msgpack_packer_init(&l.pk, &l.sb, msgpack_sbuffer_write);
	if (store_certs_each(d->store, NULL, after, 0, list_one, &l, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&l.sb);
		free(status);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	free(status);
	api_reply_array(call, &l.sb, l.n);
}

void
api_cert_key(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	char *pem = NULL;
	size_t len = 0;
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if (cert_key_pem(d, id, &pem, &len, &e) == -1) {
		api_fail(call, &e);
		return;
	}
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "id", id);
	wire_pack_key(pk, "key");
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, pem, len);
	keystore_secret_free(pem, len);
	rpc_call_reply(call);
}

void
api_cert_pem(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_cert *c;
	struct cf_err e = { 0 };
	const char *cert, *chain;
	char *full;
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if ((c = cert_get(d, id, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	if (c->facts == NULL || c->facts->pem == NULL) {
		rpc_call_error(call, WIRE_FAILED_PRECONDITION, "certificate %lld "
		    "is %s and has no certificate yet", (long long)id, c->status);
		store_cert_free(c);
		return;
	}
	cert = c->facts->pem;
	chain = c->chain_pem ? c->chain_pem : "";
	if (asprintf(&full, "%s%s", cert, chain) == -1) {
		store_cert_free(c);
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_map(pk, 4);
	wire_pack_kv_int(pk, "id", id);
	wire_pack_kv_str(pk, "certificate", cert);
	wire_pack_kv_str(pk, "chain", chain);
	wire_pack_kv_str(pk, "fullchain", full);
	free(full);
	store_cert_free(c);
	rpc_call_reply(call);
}

void
api_cert_import(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "cert", "key", "chain", "ca",
	    "email", "agree_tos", "renew_days", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct cert_import_params p = { .agree_tos = -1 };
	struct store_cert *c;
	struct cf_err e = { 0 };
	char *ca = NULL, *email = NULL;
	int tos = -1;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_str(call, params, "cert", 1, X509_PEM_MAX, &p.cert,
	    &p.cert_len) == -1 ||
	    api_param_str(call, params, "key", 1, KEYSTORE_PEM_MAX, &p.key,
	    &p.key_len) == -1 ||
	    api_param_str(call, params, "chain", 0, X509_PEM_MAX, &p.chain,
	    &p.chain_len) == -1 ||
	    api_param_text(call, params, "ca", 0, CA_NAME_MAX, &ca) == -1 ||
	    api_param_text(call, params, "email", 0, CERT_EMAIL_MAX,
	    &email) == -1 ||
	    api_param_bool(call, params, "agree_tos", 0, &tos) == -1 ||
	    api_param_int(call, params, "renew_days", 0, 1, 36500,
	    &p.renew_days) == -1)
		goto out;
	p.ca = ca;
	p.email = email;
	p.agree_tos = tos;
	if ((c = cert_import(d, &p, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_cert(call, c);
out:
	free(ca);
	free(email);
}

void
api_cert_renew(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_cert *c;
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	/* Answered at once: the order runs on; `cert wait` follows it. */
	if (issuer_renew(d->issuer, id, &e) == -1 ||
	    (c = cert_get(d, id, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_cert(call, c);
}

/* RFC 5280 CRLReason names ACME accepts, by code (7 is unused). */
static const char *const revoke_reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

struct revoke_call {
	struct rpc_call	*call;
	int64_t		 id;
};

static void
revoke_done(const struct cf_err *e, void *arg)
{
	struct revoke_call *rc = arg;
	struct daemon *d = rpc_call_ctx(rc->call);
	struct store_cert *c;
	struct cf_err ge = { 0 };

	if (e != NULL)
		api_fail(rc->call, e);
	else if ((c = cert_get(d, rc->id, &ge)) == NULL)
		api_fail(rc->call, &ge);
	else
		reply_cert(rc->call, c);
	free(rc);
}

void
api_cert_revoke(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "reason", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	struct revoke_call *rc;
	const char *reason = NULL;
	size_t len = 0;
	int64_t id;
	int code = -1;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &id) == -1 ||
	    api_param_str(call, params, "reason", 0, 32, &reason, &len) == -1)
		return;
	if (reason != NULL) {
		for (size_t i = 0; i < sizeof(revoke_reasons) /
		    sizeof(revoke_reasons[0]) && code == -1; i++)
			if (revoke_reasons[i] != NULL &&
			    strlen(revoke_reasons[i]) == len &&
			    memcmp(revoke_reasons[i], reason, len) == 0)
				code = (int)i;
		if (code == -1) {
			rpc_call_error(call, WIRE_INVALID_ARGUMENT, "reason must "
			    "be one of unspecified, keyCompromise, cACompromise, "
			    "affiliationChanged, superseded, cessationOfOperation, "
			    "certificateHold, removeFromCRL, privilegeWithdrawn, "
			    "aACompromise");
			return;
		}
	}
	if ((rc = malloc(sizeof(*rc))) == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	rc->call = call;
	rc->id = id;
	if (issuer_revoke(d->issuer, id, code, revoke_done, rc, &e) == -1) {
		free(rc);
		api_fail(call, &e);
	}
}
