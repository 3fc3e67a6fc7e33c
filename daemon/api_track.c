/*
 * Track.* handlers: check parameters, call track.c, encode items.
 */
#include <stdio.h>
#include <string.h>

#include "certfleet/wire.h"
#include "api.h"
#include "clock.h"
#include "daemon.h"
#include "store.h"
#include "track.h"
#include "x509.h"

/* A page of Track.List never outgrows a frame. */
#define TRACK_LIST_PAGE_MAX	10000
#define TRACK_LIST_PAGE_DEFAULT	1000

#define ITEM_KEYS	23

void
api_pack_item(msgpack_packer *pk, const struct store_item *item, int64_t now)
{
	const struct x509_facts *f = item->facts;
	char buf[40];

	msgpack_pack_map(pk, ITEM_KEYS);
	wire_pack_kv_int(pk, "id", item->id);
	wire_pack_kv_str(pk, "source", item->source);
	wire_pack_kv_bool(pk, "active", item->active);
	wire_pack_kv_str(pk, "status", track_status(item, now));
	wire_pack_kv_str(pk, "error", item->check_error);
	wire_pack_kv_str(pk, "common_name", f ? f->common_name : NULL);
	wire_pack_kv_str(pk, "valid_from",
	    f ? clock_rfc3339(f->valid_from, buf, sizeof(buf)) : NULL);
	wire_pack_kv_str(pk, "valid_until",
	    f ? clock_rfc3339(f->valid_until, buf, sizeof(buf)) : NULL);
	wire_pack_key(pk, "days_remaining");
	if (f)
		msgpack_pack_int64(pk, x509_days_remaining(f->valid_until, now));
	else
		msgpack_pack_nil(pk);
	wire_pack_kv_str(pk, "issued_by", f ? f->issued_by : NULL);
	wire_pack_kv_str(pk, "issuer", f ? f->issuer : NULL);
	wire_pack_kv_str(pk, "subject", f ? f->subject : NULL);
	wire_pack_kv_str(pk, "organization", f ? f->organization : NULL);
	wire_pack_kv_str(pk, "organizational_unit",
	    f ? f->organizational_unit : NULL);
	wire_pack_kv_str(pk, "location", f ? f->location : NULL);
	wire_pack_kv_str(pk, "serial_number", f ? f->serial_number : NULL);
	wire_pack_kv_str(pk, "signature_algorithm",
	    f ? f->signature_algorithm : NULL);
	wire_pack_kv_str(pk, "public_key", f ? f->public_key : NULL);
	wire_pack_key(pk, "subject_alt_names");
	msgpack_pack_array(pk, f ? f->nsans : 0);
	for (size_t i = 0; f && i < f->nsans; i++)
		wire_pack_str(pk, f->sans[i]);
	wire_pack_kv_str(pk, "fingerprint_sha256",
	    f ? f->fingerprint_sha256 : NULL);
	api_pack_time(pk, "created_at", item->created_at);
	api_pack_time(pk, "last_checked_at", item->last_checked_at);
	api_pack_time(pk, "next_check_at", item->next_check_at);
}

static void
reply_item(struct rpc_call *call, struct store_item *item)
{
	api_pack_item(rpc_call_result(call), item, clock_now());
	store_item_free(item);
	rpc_call_reply(call);
}

void
api_track_add(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "pem", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	const char *pem = NULL;
	size_t len = 0;

	if (api_params_only(call, params, names) == -1)
		return;
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

/* Reads the required "id" parameter; -1 after answering. */
static int
param_id(struct rpc_call *call, const msgpack_object *params, int64_t *id)
{
	static const char *const names[] = { "id", NULL };

	if (api_params_only(call, params, names) == -1)
		return -1;
	return api_param_int(call, params, "id", 1, 1, INT64_MAX, id);
}

void
api_track_show(struct rpc_call *call, const msgpack_object *params)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	int64_t id;

	if (param_id(call, params, &id) == -1)
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

	if (param_id(call, params, &id) == -1)
		return;
	if (track_delete(d, id, &e) == -1) {
		api_fail(call, &e);
		return;
	}
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "id", id);
	wire_pack_kv_bool(pk, "deleted", 1);
	rpc_call_reply(call);
}

static void
set_active(struct rpc_call *call, const msgpack_object *params, int active)
{
	struct daemon *d = rpc_call_ctx(call);
	struct store_item *item;
	struct cf_err e = { 0 };
	int64_t id;

	if (param_id(call, params, &id) == -1)
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
};

static int
list_one(const struct store_item *item, void *arg)
{
	struct list_ctx *ctx = arg;

	api_pack_item(&ctx->pk, item, ctx->now);
	ctx->n++;
	return 0;
}

void
api_track_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "after", "limit", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct list_ctx ctx = { .now = clock_now() };
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
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_array(pk, ctx.n);
	msgpack_sbuffer_write(pk->data, ctx.sb.data, ctx.sb.size);
	msgpack_sbuffer_destroy(&ctx.sb);
	rpc_call_reply(call);
}
