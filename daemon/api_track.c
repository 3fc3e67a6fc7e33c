/*
 * Track.* handlers: check parameters, call track.c, encode items.
 */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <time.h>

#include "certfleet/wire.h"
#include "api.h"
#include "config.h"
#include "findings.h"
#include "clock.h"
#include "daemon.h"
#include "store.h"
#include "track.h"
#include "x509.h"

/* A page of Track.List never outgrows a frame. */
#define TRACK_LIST_PAGE_MAX	10000
#define TRACK_LIST_PAGE_DEFAULT	1000

#define ITEM_KEYS	35

static void	reply_item(struct rpc_call *call, struct store_item *item);

static void
pack_tristate(msgpack_packer *pk, const char *key, int v, int known)
{
	wire_pack_key(pk, key);
	if (!known || v < 0)
		msgpack_pack_nil(pk);
	else if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* The probe's view: null for PEM items and before a first good check. */
static void
pack_host_fields(msgpack_packer *pk, const struct store_item *item)
{
	int host = item->host != NULL, seen = host && item->facts != NULL;

	wire_pack_kv_str(pk, "host", item->host);
	wire_pack_key(pk, "port");
	if (host)
		msgpack_pack_int(pk, item->port);
	else
		msgpack_pack_nil(pk);
	wire_pack_kv_str(pk, "sni", item->sni);
	wire_pack_kv_str(pk, "address", item->address);
	wire_pack_kv_str(pk, "tls_version", item->tls_version);
	wire_pack_kv_str(pk, "cipher", item->cipher);
	pack_tristate(pk, "chain_valid", item->chain_valid, seen);
	pack_tristate(pk, "hostname_match", item->hostname_match, seen);
	wire_pack_kv_str(pk, "verify_error", item->verify_error);
	wire_pack_key(pk, "chain_length");
	if (seen)
		msgpack_pack_int(pk, item->chain_length);
	else
		msgpack_pack_nil(pk);
	wire_pack_key(pk, "check_failures");
	if (host)
		msgpack_pack_int(pk, item->check_failures);
	else
		msgpack_pack_nil(pk);
}

/* The item's audit findings, worst first (findings.c). */
static void
pack_findings(msgpack_packer *pk, const struct store_item *item, int64_t now,
    int public_store)
{
	struct finding out[FINDINGS_MAX];
	struct findings_input in;
	size_t n;

	track_findings_input(item, public_store, &in);
	n = findings_compute(&in, -1, now, out);
	wire_pack_key(pk, "findings");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 3);
		wire_pack_kv_str(pk, "code", out[i].code);
		wire_pack_kv_str(pk, "severity",
		    finding_severity_name(out[i].severity));
		wire_pack_kv_str(pk, "text", out[i].text);
	}
}

void
api_pack_item(msgpack_packer *pk, const struct store_item *item, int64_t now,
    int public_store)
{
	const struct x509_facts *f = item->facts;

	msgpack_pack_map(pk, ITEM_KEYS);
	wire_pack_kv_int(pk, "id", item->id);
	wire_pack_kv_str(pk, "source", item->source);
	wire_pack_kv_bool(pk, "active", item->active);
	wire_pack_kv_str(pk, "status", track_status(item, now));
	wire_pack_kv_str(pk, "error", item->check_error);
	api_pack_facts(pk, f, now);
	api_pack_time(pk, "created_at", item->created_at);
	api_pack_time(pk, "last_checked_at", item->last_checked_at);
	api_pack_time(pk, "next_check_at", item->next_check_at);
	pack_host_fields(pk, item);
	pack_findings(pk, item, now, public_store);
}

static void
reply_item(struct rpc_call *call, struct store_item *item)
{
	struct daemon *d = rpc_call_ctx(call);

	api_pack_item(rpc_call_result(call), item, clock_now(),
	    d->cfg->ca_file == NULL);
	store_item_free(item);
	rpc_call_reply(call);
}


/* The answer to a single check: the item, or the error that stopped it. */
static void
check_reply(struct store_item *item, int created, const struct cf_err *e,
    void *arg)
{
	struct rpc_call *call = arg;

	if (item == NULL) {
		api_fail(call, e);
		return;
	}
	/* A stored item whose check failed still answers with the item: the
	 * client shows it and reports the failure. */
	reply_item(call, item);
}

static void
add_host(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct track_target t;
	struct cf_err e = { 0 };
	const char *host = NULL, *sni = NULL;
	size_t hlen = 0, slen = 0;
	char hbuf[512], sbuf[TRACK_HOST_MAX + 2];

	if (api_param_str(call, params, "host", 1, sizeof(hbuf) - 1, &host,
	    &hlen) == -1 ||
	    api_param_str(call, params, "sni", 0, sizeof(sbuf) - 1, &sni,
	    &slen) == -1)
		return;
	if (memchr(host, '\0', hlen) != NULL || (sni && memchr(sni, '\0', slen))) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "%s", TRACK_MSG_BAD_URI);
		return;
	}
	snprintf(hbuf, sizeof(hbuf), "%.*s", (int)hlen, host);
	snprintf(sbuf, sizeof(sbuf), "%.*s", (int)slen, sni ? sni : "");
	if (track_parse_target(hbuf, sbuf, &t, &e) == -1 ||
	    track_add_host(d, &t, check_reply, call, &e) == -1)
		api_fail(call, &e);
}

void
api_track_add(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "pem", "host", "sni", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	const char *pem = NULL;
	size_t len = 0;

	if (api_params_only(call, params, names) == -1)
		return;
	if ((wire_map_get(params, "pem") != NULL) ==
	    (wire_map_get(params, "host") != NULL)) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT,
		    "give exactly one source: pem or host");
		return;
	}
	if (wire_map_get(params, "host") != NULL) {
		add_host(call, params);
		return;
	}
	/* Oversized text gets the PEM refusal too, with its precise reason. */
	const msgpack_object *v = wire_map_get(params, "pem");
	if (v != NULL && v->type == MSGPACK_OBJECT_STR &&
	    v->via.str.size > X509_PEM_MAX) {
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "%s (input too large: "
		    "%u bytes, limit %u)", X509_PEM_REFUSAL, v->via.str.size,
		    X509_PEM_MAX);
		return;
	}
	if (api_param_str(call, params, "pem", 1, X509_PEM_MAX, &pem, &len) == -1)
		return;
	if ((item = track_add_pem(d, pem, len, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	reply_item(call, item);
}

void
api_track_show(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if ((item = track_get(d, id, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	reply_item(call, item);
}

void
api_track_delete(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if (track_delete(d, id, &e) == -1) {
		api_fail(call, &e);
		return;
	}
	api_reply_deleted(call, id);
}

static void
set_active(struct rpc_call *call, const msgpack_object *params, int active)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if ((item = track_set_active(d, id, active, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	reply_item(call, item);
}

void
api_track_activate(struct rpc_call *call, const msgpack_object *params)
{
	set_active(call, params, 1);
}

void
api_track_deactivate(struct rpc_call *call, const msgpack_object *params)
{
	set_active(call, params, 0);
}

struct list_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
	int64_t		 now;
	int		 public_store;	/* chains judged by the system store */
};

static int
list_one(const struct store_item *item, void *arg)
{
	struct list_ctx *ctx = arg;

	api_pack_item(&ctx->pk, item, ctx->now, ctx->public_store);
	ctx->n++;
	return 0;
}

void
api_track_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "after", "limit", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct list_ctx ctx = {
		.now = clock_now(), .public_store = d->cfg->ca_file == NULL,
	};
	int64_t after = 0, limit = TRACK_LIST_PAGE_DEFAULT;
	char err[256];

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "after", 0, 0, INT64_MAX, &after) == -1 ||
	    api_param_int(call, params, "limit", 0, 1, TRACK_LIST_PAGE_MAX,
	    &limit) == -1)
		return;
	/* Items are packed apart, then framed by a counted array. */
	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_items_each(d->store, after, limit, list_one, &ctx, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}

void
api_track_check(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	int64_t id;

	if (api_param_id(call, params, &id) == -1)
		return;
	if (track_check(d, id, "forced", check_reply, call, &e) == -1)
		api_fail(call, &e);
}

struct snap_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
	int64_t		 want;		/* Track.Raw: this one; 0: the last */
	char		*pem;
	int64_t		 number;
};

static int
pack_snapshot(const struct store_snapshot *s, void *arg)
{
	struct snap_ctx *ctx = arg;

	msgpack_pack_map(&ctx->pk, 5);
	wire_pack_kv_int(&ctx->pk, "snapshot", s->number);
	api_pack_time(&ctx->pk, "at", s->at);
	wire_pack_kv_str(&ctx->pk, "chain_sha256", s->chain_sha256);
	wire_pack_kv_str(&ctx->pk, "leaf_sha256", s->leaf_sha256);
	wire_pack_kv_int(&ctx->pk, "chain_length", s->chain_length);
	ctx->n++;
	return 0;
}

/* Finds the item or answers NOT_FOUND. */
static int
item_exists(struct rpc_call *call, int64_t id)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };

	if ((item = track_get(d, id, &e)) == NULL) {
		api_fail(call, &e);
		return 0;
	}
	store_item_free(item);
	return 1;
}

void
api_track_history(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct snap_ctx ctx = { .n = 0 };
	char err[256];
	int64_t id;

	if (api_param_id(call, params, &id) == -1 || !item_exists(call, id))
		return;
	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_snapshots_each(d->store, id, pack_snapshot, &ctx, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}

static int
pick_snapshot(const struct store_snapshot *s, void *arg)
{
	struct snap_ctx *ctx = arg;

	if (ctx->want != 0 && s->number != ctx->want)
		return 0;
	free(ctx->pem);
	ctx->pem = strdup(s->chain_pem ? s->chain_pem : "");
	ctx->number = s->number;
	return ctx->want != 0;
}

void
api_track_raw(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "id", "snapshot", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct snap_ctx ctx = { .n = 0 };
	char err[256];
	int64_t id;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "id", 1, 1, INT64_MAX, &id) == -1 ||
	    api_param_int(call, params, "snapshot", 0, 1, INT64_MAX,
	    &ctx.want) == -1 || !item_exists(call, id))
		return;
	if (store_snapshots_each(d->store, id, pick_snapshot, &ctx, err,
	    sizeof(err)) == -1) {
		free(ctx.pem);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	if (ctx.pem == NULL) {
		if (ctx.want)
			rpc_call_error(call, WIRE_NOT_FOUND, "item %lld has no "
			    "snapshot %lld", (long long)id, (long long)ctx.want);
		else
			rpc_call_error(call, WIRE_NOT_FOUND, "item %lld has no "
			    "snapshot: PEM items keep their certificate in "
			    "track show, and a host never checked has none",
			    (long long)id);
		return;
	}
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "snapshot", ctx.number);
	wire_pack_kv_str(pk, "pem", ctx.pem);
	free(ctx.pem);
	rpc_call_reply(call);
}
