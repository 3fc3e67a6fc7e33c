/*
 * Notify.* handlers: check parameters, call notify.c, encode sinks.  A
 * sink's secret (webhook signing key, SMTP password) never leaves the
 * daemon, except a webhook secret made by Notify.Add, shown once.  An exec
 * sink runs a command as the daemon's user: adding one is for admins.
 */
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "api.h"
#include "daemon.h"
#include "keystore.h"
#include "notify.h"
#include "proc.h"
#include "store.h"
#include "store_events.h"

#define SINK_KEYS	21
#define TEXT_MAX	4096

/* ",a,b," as a list of names. */
static void
pack_kinds(msgpack_packer *pk, const char *kinds)
{
	const char *p;
	size_t n = 0;

	wire_pack_key(pk, "kinds");
	if (kinds == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	for (p = kinds + 1; *p; p++)
		n += *p == ',';
	msgpack_pack_array(pk, n);
	for (p = kinds + 1; *p; p = strchr(p, ',') + 1)
		wire_pack_strn(pk, p, (size_t)(strchr(p, ',') - p));
}

static void
pack_sink(msgpack_packer *pk, const struct store_sink *k, const char *secret)
{
	static const char *const sev[] = { "info", "warning", "critical" };
	int email = strcmp(k->type, "email") == 0;

	msgpack_pack_map(pk, SINK_KEYS + (secret != NULL));
	wire_pack_kv_int(pk, "id", k->id);
	wire_pack_kv_str(pk, "name", k->name);
	wire_pack_kv_str(pk, "type", k->type);
	wire_pack_kv_str(pk, "target", k->target);
	wire_pack_kv_str(pk, "format", strcmp(k->type, "webhook") == 0 ?
	    k->format : NULL);
	pack_kinds(pk, k->kinds);
	wire_pack_kv_str(pk, "min_severity", sev[k->min_severity % 3]);
	wire_pack_kv_int(pk, "timeout", k->timeout);
	wire_pack_kv_bool(pk, "enabled", k->enabled);
	wire_pack_kv_str(pk, "disabled_reason", k->disabled_reason);
	wire_pack_kv_bool(pk, "has_secret", k->secret != NULL);
	wire_pack_kv_str(pk, "smtp_url", email ? k->smtp_url : NULL);
	wire_pack_kv_str(pk, "smtp_user", email ? k->smtp_user : NULL);
	wire_pack_kv_bool(pk, "smtp_insecure", k->smtp_insecure);
	wire_pack_kv_str(pk, "smtp_ca_file", email ? k->smtp_ca_file : NULL);
	wire_pack_kv_int(pk, "delivered", k->delivered);
	wire_pack_kv_int(pk, "failed_attempts", k->failed);
	wire_pack_kv_int(pk, "pending", k->pending);
	wire_pack_kv_int(pk, "given_up", k->given_up);
	api_pack_time(pk, "last_delivered_at", k->last_delivered_at);
	wire_pack_kv_str(pk, "last_error", k->last_error);
	if (secret != NULL)
		wire_pack_kv_str(pk, "secret", secret);
}

void
api_notify_add(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "name", "type", "url", "secret",
	    "format", "recipients", "smtp_url", "smtp_user", "smtp_password",
	    "from", "smtp_insecure", "command", "kinds", "min_severity",
	    "timeout", "smtp_ca_file", NULL };
	static const char *const texts[] = { "name", "type", "url", "secret",
	    "format", "recipients", "smtp_url", "smtp_user", "smtp_password",
	    "from", "command", "kinds", "min_severity", "smtp_ca_file" };
	enum { NTEXTS = sizeof(texts) / sizeof(texts[0]) };
	struct daemon *d = rpc_call_ctx(call);
	struct notify_params p = { 0 };
	struct store_sink *k;
	struct cf_err e = { 0 };
	char *v[NTEXTS] = { NULL }, *secret = NULL;
	int insecure = 0;
	size_t i;

	if (api_params_only(call, params, names) == -1)
		return;
	for (i = 0; i < NTEXTS; i++)
		if (api_param_text(call, params, texts[i], i < 2, i == 10 ?
		    PROC_COMMAND_MAX : TEXT_MAX, &v[i]) == -1)
			goto out;
	if (api_param_bool(call, params, "smtp_insecure", 0, &insecure) == -1 ||
	    api_param_int(call, params, "timeout", 0, 1, 3600, &p.timeout) == -1)
		goto out;
	/* A command runs as the daemon's user: not an operator's to set. */
	if (strcmp(v[1], "exec") == 0 && rpc_call_role(call) != RPC_ROLE_ADMIN) {
		rpc_call_error(call, WIRE_PERMISSION_DENIED, "an exec sink runs "
		    "a command as certfleetd's user: adding one needs the "
		    "admin role (root or the daemon's user)");
		goto out;
	}
	p.name = v[0];
	p.type = v[1];
	p.url = v[2];
	p.secret = v[3];
	p.format = v[4];
	p.recipients = v[5];
	p.smtp_url = v[6];
	p.smtp_user = v[7];
	p.smtp_password = v[8];
	p.mail_from = v[9];
	p.command = v[10];
	p.kinds = v[11];
	p.min_severity = v[12];
	p.smtp_ca_file = v[13];
	p.smtp_insecure = insecure;
	if ((k = notify_add(d, &p, &secret, &e)) == NULL) {
		api_fail(call, &e);
		goto out;
	}
	pack_sink(rpc_call_result(call), k, secret);
	store_sink_free(k);
	rpc_call_reply(call);
out:
	keystore_secret_free(secret, secret ? strlen(secret) : 0);
	for (i = 0; i < NTEXTS; i++)
		if (i == 3 || i == 8)
			keystore_secret_free(v[i], v[i] ? strlen(v[i]) : 0);
		else
			free(v[i]);
}

/* Reads the required "name" and nothing else; NULL when answered. */
static char *
param_name(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "name", NULL };
	char *name = NULL;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_text(call, params, "name", 1, NOTIFY_NAME_MAX + 1,
	    &name) == -1)
		return NULL;
	return name;
}

void
api_notify_show(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_sink *k;
	struct cf_err e = { 0 };
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if ((k = notify_get(d, name, &e)) == NULL)
		api_fail(call, &e);
	else {
		pack_sink(rpc_call_result(call), k, NULL);
		store_sink_free(k);
		rpc_call_reply(call);
	}
	free(name);
}

struct list_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
};

static int
list_one(const struct store_sink *k, void *arg)
{
	struct list_ctx *ctx = arg;

	pack_sink(&ctx->pk, k, NULL);
	ctx->n++;
	return 0;
}

void
api_notify_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct list_ctx ctx = { .n = 0 };
	char err[256];

	if (api_params_only(call, params, names) == -1)
		return;
	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_sinks_each(d->store, list_one, &ctx, err, sizeof(err)) ==
	    -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}

void
api_notify_delete(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	msgpack_packer *pk;
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if (notify_delete(d, name, &e) == -1)
		api_fail(call, &e);
	else {
		pk = rpc_call_result(call);
		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "name", name);
		wire_pack_kv_bool(pk, "deleted", 1);
		rpc_call_reply(call);
	}
	free(name);
}

void
api_notify_test(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	msgpack_packer *pk;
	int64_t id = 0;
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if (notify_test(d, name, &id, &e) == -1)
		api_fail(call, &e);
	else {
		pk = rpc_call_result(call);
		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "name", name);
		wire_pack_kv_int(pk, "event", id);
		rpc_call_reply(call);
	}
	free(name);
}

void
api_notify_enable(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_sink *k;
	struct cf_err e = { 0 };
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if (notify_enable(d, name, &e) == -1 || (k = notify_get(d, name,
	    &e)) == NULL)
		api_fail(call, &e);
	else {
		pack_sink(rpc_call_result(call), k, NULL);
		store_sink_free(k);
		rpc_call_reply(call);
	}
	free(name);
}

void
api_notify_retry(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	msgpack_packer *pk;
	int64_t n = 0;
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if (notify_retry(d, name, &n, &e) == -1)
		api_fail(call, &e);
	else {
		pk = rpc_call_result(call);
		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "name", name);
		wire_pack_kv_int(pk, "requeued", n);
		rpc_call_reply(call);
	}
	free(name);
}
