/*
 * Events.List: the activity feed, newest first.
 */
#include "certfleet/wire.h"
#include "api.h"
#include "daemon.h"
#include "store.h"

#define EVENTS_LIMIT_DEFAULT	50
#define EVENTS_LIMIT_MAX	10000

struct events_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
};

static int
pack_event(const struct store_event *ev, void *arg)
{
	struct events_ctx *ctx = arg;

	msgpack_pack_map(&ctx->pk, 5);
	wire_pack_kv_int(&ctx->pk, "id", ev->id);
	api_pack_time(&ctx->pk, "at", ev->at);
	wire_pack_key(&ctx->pk, "item");
	if (ev->item_id > 0)
		msgpack_pack_int64(&ctx->pk, ev->item_id);
	else
		msgpack_pack_nil(&ctx->pk);
	wire_pack_kv_str(&ctx->pk, "kind", ev->kind);
	wire_pack_kv_str(&ctx->pk, "message", ev->message);
	ctx->n++;
	return 0;
}

void
api_events_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "item", "limit", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct events_ctx ctx = { .n = 0 };
	int64_t item = 0, limit = EVENTS_LIMIT_DEFAULT;
	char err[256];

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "item", 0, 1, INT64_MAX, &item) == -1 ||
	    api_param_int(call, params, "limit", 0, 1, EVENTS_LIMIT_MAX,
	    &limit) == -1)
		return;
	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_events_each(d->store, item, limit, pack_event, &ctx, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}
