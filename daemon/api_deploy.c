/*
 * Cert.Deploy* handlers: check parameters, call deploy.c, encode targets.
 * Admin only (their rows in api.c): a reload command runs as the daemon's
 * user and a deploy writes the private key.
 */
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "api.h"
#include "daemon.h"
#include "deploy.h"
#include "proc.h"
#include "store.h"
#include "store_deploy.h"

#define TARGET_KEYS	16

void
api_pack_deploy_target(msgpack_packer *pk, const struct store_deploy *t,
    int redact)
{
	char mode[8];

	msgpack_pack_map(pk, TARGET_KEYS);
	wire_pack_kv_int(pk, "id", t->id);
	wire_pack_kv_int(pk, "cert", t->cert_id);
	wire_pack_kv_str(pk, "dir", t->dir);
	wire_pack_kv_str(pk, "owner", t->owner);
	snprintf(mode, sizeof(mode), "%04o", t->key_mode);
	wire_pack_kv_str(pk, "key_mode", mode);
	snprintf(mode, sizeof(mode), "%04o", t->cert_mode);
	wire_pack_kv_str(pk, "cert_mode", mode);
	wire_pack_kv_bool(pk, "combined", t->combined);
	/* A reload command may carry a credential, and its error the
	 * command's output: not for the monitor socket's peers. */
	wire_pack_kv_str(pk, "reload", redact ? NULL : t->reload);
	wire_pack_kv_int(pk, "timeout", t->timeout);
	wire_pack_kv_str(pk, "state", t->state);
	wire_pack_kv_str(pk, "deployed_fingerprint", t->deployed_fingerprint);
	api_pack_time(pk, "deployed_at", t->deployed_at);
	wire_pack_kv_str(pk, "last_error", redact && t->last_error ?
	    "(hidden from the monitor role)" : t->last_error);
	wire_pack_kv_int(pk, "failures", t->failures);
	api_pack_time(pk, "next_attempt_at", t->next_attempt_at);
	api_pack_time(pk, "created_at", t->created_at);
}

/* A mode given as octal text ("0640"); -1 absent; -2 answered. */
static int
param_mode(struct rpc_call *call, const msgpack_object *params,
    const char *key)
{
	const char *s;
	char buf[8], *end;
	size_t len;
	long m;

	s = NULL;
	if (api_param_str(call, params, key, 0, 6, &s, &len) == -1)
		return -2;
	if (s == NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	m = strtol(buf, &end, 8);
	if (len == 0 || *end != '\0' || m < 0 || m > 0777) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "parameter '%s' must "
		    "be an octal mode such as 0640", key);
		return -2;
	}
	return (int)m;
}

void
api_cert_deploy_add(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "dir", "owner", "key_mode",
	    "cert_mode", "combined", "reload", "timeout", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct deploy_params p = { .key_mode = -1, .cert_mode = -1 };
	struct store_deploy *t;
	struct cf_err e = { 0 };
	char *dir = NULL, *owner = NULL, *reload = NULL;
	int64_t timeout = 0;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &p.cert_id) == -1 ||
	    api_param_text(call, params, "dir", 1, DEPLOY_PATH_MAX, &dir) == -1 ||
	    api_param_text(call, params, "owner", 0, 255, &owner) == -1 ||
	    api_param_text(call, params, "reload", 0, PROC_COMMAND_MAX,
	    &reload) == -1 ||
	    api_param_bool(call, params, "combined", 0, &p.combined) == -1 ||
	    api_param_int(call, params, "timeout", 0, 1, 3600, &timeout) == -1 ||
	    (p.key_mode = param_mode(call, params, "key_mode")) == -2 ||
	    (p.cert_mode = param_mode(call, params, "cert_mode")) == -2)
		goto out;
	p.dir = dir;
	p.owner = owner;
	p.reload = reload;
	p.timeout = (int)timeout;
	if ((t = deploy_add(d, &p, &e)) == NULL) {
		api_fail(call, &e);
		goto out;
	}
	api_pack_deploy_target(rpc_call_result(call), t, 0);
	store_deploy_free(t);
	rpc_call_reply(call);
out:
	free(dir);
	free(owner);
	free(reload);
}

struct list_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
	int		 redact;
};

static int
list_one(const struct store_deploy *t, void *arg)
{
	struct list_ctx *ctx = arg;

	api_pack_deploy_target(&ctx->pk, t, ctx->redact);
	ctx->n++;
	return 0;
}

/* Answers call with the certificate's targets. */
static void
reply_targets(struct rpc_call *call, struct daemon *d, int64_t cert_id)
{
	struct list_ctx ctx = {
		.n = 0, .redact = rpc_call_role(call) < RPC_ROLE_OPERATOR,
	};
	char err[256];

	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_deploys_cert(d->store, cert_id, list_one, &ctx, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}

void
api_cert_deploy_list(struct rpc_call *call, const msgpack_object *params)
{
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	reply_targets(call, rpc_call_ctx(call), id);
}

void
api_cert_deploy_remove(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "target", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	int64_t id, target;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &id) == -1 ||
	    api_param_int(call, params, "target", 1, 1, INT64_MAX,
	    &target) == -1)
		return;
	if (deploy_remove(d, id, target, &e) == -1)
		api_fail(call, &e);
	else
		api_reply_deleted(call, target);
}

static void
run_done(int64_t cert_id, const char *err, void *arg)
{
	struct rpc_call *call = arg;

	if (err != NULL)
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
	else
		reply_targets(call, rpc_call_ctx(call), cert_id);
}

void
api_cert_deploy_run(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "target", NULL };
	struct daemon *d = rpc_call_ctx(call);
	int64_t id, target = 0;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &id) == -1 ||
	    api_param_int(call, params, "target", 0, 1, INT64_MAX,
	    &target) == -1)
		return;
	if (d->deployer == NULL) {
		rpc_call_error(call, WIRE_UNAVAILABLE, "deploys are not running");
		return;
	}
	deployer_run(d->deployer, id, target, run_done, call);
}
