/*
 * Ca.* handlers: check parameters, call cert.c, encode profiles.  The EAB
 * HMAC key never leaves the daemon: a profile shows only whether it is set.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "acme.h"
#include "api.h"
#include "cert.h"
#include "daemon.h"
#include "keystore.h"
#include "store.h"

#define CA_KEYS	10

static void
pack_ca(msgpack_packer *pk, const struct store_ca *ca)
{
	msgpack_pack_map(pk, CA_KEYS);
	wire_pack_kv_str(pk, "name", ca->name);
	wire_pack_kv_str(pk, "directory", ca->directory_url);
	wire_pack_kv_str(pk, "trust", ca->trust_file);
	wire_pack_kv_str(pk, "eab_kid", ca->eab_kid);
	wire_pack_kv_bool(pk, "eab_configured", ca->eab_kid != NULL);
	wire_pack_kv_bool(pk, "eab_required", ca->eab_required);
	wire_pack_kv_str(pk, "acme_profile", ca->acme_profile);
	wire_pack_kv_bool(pk, "builtin", ca->builtin);
	wire_pack_kv_int(pk, "certificates", ca->ncerts);
	api_pack_time(pk, "created_at", ca->created_at);
}

static void
reply_ca(struct rpc_call *call, struct store_ca *ca)
{
	pack_ca(rpc_call_result(call), ca);
	store_ca_free(ca);
	rpc_call_reply(call);
}

void
api_ca_add(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "name", "directory", "trust",
	    "eab_kid", "eab_hmac_key", "acme_profile", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct cert_ca_params p = { 0 };
	char *name = NULL, *dir = NULL, *trust = NULL, *kid = NULL, *key = NULL;
	char *prof = NULL;
	struct store_ca *ca;
	struct cf_err e = { 0 };

	if (api_params_only(call, params, names) == -1 ||
	    api_param_text(call, params, "name", 1, CA_NAME_MAX, &name) == -1 ||
	    api_param_text(call, params, "directory", 0, CA_URL_MAX, &dir) == -1 ||
	    api_param_text(call, params, "trust", 0, PATH_MAX, &trust) == -1 ||
	    api_param_text(call, params, "eab_kid", 0, CA_EAB_KID_MAX,
	    &kid) == -1 ||
	    api_param_text(call, params, "eab_hmac_key", 0, CA_EAB_KEY_MAX,
	    &key) == -1 ||
	    api_param_text(call, params, "acme_profile", 0,
	    4 * ACME_PROFILE_NAME_MAX, &prof) == -1)
		goto out;
	p.name = name;
	p.directory = dir;
	p.trust_file = trust;
	p.eab_kid = kid;
	p.eab_hmac_key = key;
	p.acme_profile = prof;
	if ((ca = cert_ca_add(d, &p, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_ca(call, ca);
out:
	free(name);
	free(dir);
	free(trust);
	free(kid);
	free(prof);
	if (key != NULL)
		keystore_secret_free(key, strlen(key));
}

/* Reads the required "name"; NULL after answering. */
static char *
param_name(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "name", NULL };
	char *name = NULL;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_text(call, params, "name", 1, CA_NAME_MAX, &name) == -1)
		return NULL;
	return name;
}

void
api_ca_show(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_ca *ca;
	struct cf_err e = { 0 };
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if ((ca = cert_ca_get(d, name, &e)) == NULL)
		api_fail(call, &e);
	else
		reply_ca(call, ca);
	free(name);
}

void
api_ca_delete(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	char *name;

	if ((name = param_name(call, params)) == NULL)
		return;
	if (cert_ca_delete(d, name, &e) == -1)
		api_fail(call, &e);
	else {
		msgpack_packer *pk = rpc_call_result(call);

		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "name", name);
		wire_pack_kv_bool(pk, "deleted", 1);
		rpc_call_reply(call);
	}
	free(name);
}

struct ca_list {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
};

static int
list_one(const struct store_ca *ca, void *arg)
{
	struct ca_list *l = arg;

	pack_ca(&l->pk, ca);
	l->n++;
	return 0;
}

void
api_ca_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct ca_list l = { .n = 0 };
	char err[256];

	if (api_params_only(call, params, names) == -1)
		return;
	msgpack_sbuffer_init(&l.sb);
	msgpack_packer_init(&l.pk, &l.sb, msgpack_sbuffer_write);
	if (store_cas_each(d->store, list_one, &l, err, sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&l.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &l.sb, l.n);
}
