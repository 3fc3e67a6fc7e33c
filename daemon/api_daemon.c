/*
 * Daemon.* handlers: status and the method list.
 */
#include <time.h>
#include <unistd.h>

#include "autoconfig.h"

#include "certfleet/wire.h"
#include "api.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "expiry.h"
#include "notify.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "issue.h"
#include "techzone.h"

static const char *const role_names[] = { "none", "monitor", "operator",
    "admin" };

/* The tech zone as it runs: nil when none is configured. */
/* The issuing engine's counters since start (nil while it is stopping). */
static void
pack_issuer(msgpack_packer *pk, const struct daemon *d)
{
	struct issuer_stats st;

	wire_pack_key(pk, "issuer");
	if (d->issuer == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	issuer_stats(d->issuer, &st);
	msgpack_pack_map(pk, 4);
	wire_pack_kv_int(pk, "jobs", (int64_t)st.jobs);
	wire_pack_kv_int(pk, "issued", (int64_t)st.issued);
	wire_pack_kv_int(pk, "renewed", (int64_t)st.renewed);
	wire_pack_kv_int(pk, "failed", (int64_t)st.failed);
}

/* Deliveries and deploys under way (nil while stopping). */
static void
pack_outputs(msgpack_packer *pk, const struct daemon *d)
{
	size_t running = 0, peak = 0;

	wire_pack_key(pk, "notify_inflight");
	if (d->notify != NULL)
		msgpack_pack_uint64(pk, notify_inflight(d->notify));
	else
		msgpack_pack_nil(pk);
	wire_pack_key(pk, "deploys");
	if (d->deployer == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	deployer_stats(d->deployer, &running, &peak);
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "running", (int64_t)running);
	wire_pack_kv_int(pk, "peak", (int64_t)peak);
}

static void
pack_techzone(msgpack_packer *pk, const struct daemon *d)
{
	struct techzone_stats ts;

	wire_pack_key(pk, "techzone");
	if (d->tzsrv == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	techzone_server_stats(d->tzsrv, &ts);
	msgpack_pack_map(pk, 9);
	wire_pack_kv_str(pk, "name", d->cfg->techzone_name);
	wire_pack_key(pk, "listen");
	msgpack_pack_array(pk, d->cfg->ntechzone_listen);
	for (size_t i = 0; i < d->cfg->ntechzone_listen; i++)
		wire_pack_str(pk, d->cfg->techzone_listen[i]);
	wire_pack_kv_int(pk, "udp_answers", (int64_t)ts.udp_answers);
	wire_pack_kv_int(pk, "tcp_answers", (int64_t)ts.tcp_answers);
	wire_pack_kv_int(pk, "tcp_accepted", (int64_t)ts.tcp_accepted);
	wire_pack_kv_int(pk, "dropped", (int64_t)ts.dropped);
	wire_pack_kv_int(pk, "rrl_dropped", (int64_t)ts.rrl_dropped);
	wire_pack_kv_int(pk, "rrl_slipped", (int64_t)ts.rrl_slipped);
	wire_pack_kv_int(pk, "tcp_closed", (int64_t)ts.tcp_closed);
}

void
api_daemon_status(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_counts c = { 0 };
	msgpack_packer *pk;

	if (api_params_only(call, params, names) == -1)
		return;
	if (store_counts(d->store, &c) == -1) {
		rpc_call_error(call, WIRE_UNAVAILABLE, "database: cannot count items");
		return;
	}
	pk = rpc_call_result(call);
	msgpack_pack_map(pk, 13);
	wire_pack_kv_str(pk, "version", PACKAGE_VERSION);
	wire_pack_kv_int(pk, "pid", getpid());
	api_pack_time(pk, "started_at", d->started_at);
	wire_pack_kv_int(pk, "uptime_seconds", (int64_t)time(NULL) - d->started_at);
	wire_pack_kv_int(pk, "schema_version", store_schema_version(d->store));
	wire_pack_kv_str(pk, "role", role_names[rpc_call_role(call)]);
	wire_pack_kv_int(pk, "clients", rpc_server_nclients(d->rpc));
	wire_pack_kv_int(pk, "events", c.events);
	wire_pack_key(pk, "tracked");
	msgpack_pack_map(pk, 4);
	wire_pack_kv_int(pk, "total", c.tracked);
	wire_pack_kv_int(pk, "active", c.active);
	wire_pack_kv_int(pk, "pem", c.pem);
	wire_pack_kv_int(pk, "host", c.host);
	pack_techzone(pk, d);
	pack_issuer(pk, d);
	pack_outputs(pk, d);
	rpc_call_reply(call);
}

void
api_daemon_methods(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	msgpack_packer *pk;
	size_t n = 0;

	if (api_params_only(call, params, names) == -1)
		return;
	while (api_methods[n].name != NULL)
		n++;
	pk = rpc_call_result(call);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 3);
		wire_pack_kv_str(pk, "name", api_methods[i].name);
		wire_pack_kv_str(pk, "role", role_names[api_methods[i].role]);
		wire_pack_kv_str(pk, "summary", api_methods[i].summary);
	}
	rpc_call_reply(call);
}

void
api_debug_set_clock(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "offset", NULL };
	struct daemon *d = rpc_call_ctx(call);
	int64_t offset = 0;
	char buf[40];

	if (!d->cfg->test_hooks) {
		rpc_call_error(call, WIRE_FAILED_PRECONDITION,
		    "Debug.SetClock needs the daemon started with --test-hooks yes");
		return;
	}
	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "offset", 1, -(1LL << 40), 1LL << 40,
	    &offset) == -1)
		return;
	clock_set_offset(offset);
	log_info("test hook: clock moved to %s (offset %lld s)",
	    clock_rfc3339(clock_now(), buf, sizeof(buf)), (long long)offset);
	if (d->sched != NULL)
		scheduler_kick(d->sched);
	if (d->expiry != NULL)
		expiry_kick(d->expiry);
	if (d->notify != NULL)
		notify_kick(d->notify);
	if (d->deployer != NULL)
		deployer_kick(d->deployer);
	msgpack_packer *pk = rpc_call_result(call);
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "offset", offset);
	api_pack_time(pk, "now", clock_now());
	rpc_call_reply(call);
}
