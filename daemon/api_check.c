/*
 * Check.Run: the monitoring check.  One item or certificate is judged from
 * the store; a host is probed afresh and nothing is saved; --all walks the
 * whole fleet a page per loop turn (a million items never stall the loop)
 * and answers with counts by state and, on request, the worst items.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "certfleet/wire.h"
#include "api.h"
#include "cert.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "findings.h"
#include "probe.h"
#include "store.h"
#include "store_metrics.h"
#include "track.h"
#include "x509.h"

#define FLEET_PAGE		2000
#define FLEET_PROBLEMS_MAX	100
#define FLEET_WALKS_MAX		8	/* --all walks at once */

static void
pack_verdict(msgpack_packer *pk, const char *name, const char *source,
    int64_t id, const struct check_verdict *v, int64_t valid_until)
{
	msgpack_pack_map(pk, 9);
	wire_pack_kv_int(pk, "state", v->state);
	wire_pack_kv_str(pk, "status", check_state_name(v->state));
	wire_pack_kv_str(pk, "name", name ? name : "");
	wire_pack_kv_str(pk, "source", source);
	wire_pack_kv_int(pk, "id", id);
	wire_pack_kv_str(pk, "summary", v->reason);
	wire_pack_kv_int(pk, "days_left", v->days_left);
	wire_pack_key(pk, "thresholds");
	msgpack_pack_map(pk, 2);
	wire_pack_kv_int(pk, "warning", v->warn);
	wire_pack_kv_int(pk, "critical", v->crit);
	api_pack_time(pk, "not_after", valid_until);
}

/* The name a host item is known by: SNI, else host; port unless 443. */
static void
host_name(char *buf, size_t len, const char *host, int port, const char *sni)
{
	const char *n = sni != NULL && sni[0] ? sni : host ? host : "";

	if (port != 443 && port != 0)
		snprintf(buf, len, "%s:%d", n, port);
	else
		snprintf(buf, len, "%s", n);
}

/*
 * --findings: a critical finding makes the check CRITICAL, a high one at
 * least WARNING; their codes join the line.
 */
static void
apply_findings(struct check_verdict *v, const struct finding *f, size_t n)
{
	char line[sizeof(v->reason)];
	size_t o;

	if (n == 0 || v->state == CHECK_UNKNOWN)
		return;
	if (f[0].severity == SEV_CRITICAL)
		v->state = CHECK_CRITICAL;
	else if (f[0].severity == SEV_HIGH && v->state < CHECK_WARNING)
		v->state = CHECK_WARNING;
	o = (size_t)snprintf(line, sizeof(line), "%s; findings:", v->reason);
	for (size_t i = 0; i < n && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s %s",
		    i ? "," : "", f[i].code);
	/* Cut on a character: the reason may end in a long name. */
	esc_format(v->reason, sizeof(v->reason), "%s", line);
}

static void
reply_one(struct rpc_call *call, const struct check_input *in,
    const char *source, int64_t id, int warn, int crit,
    const struct finding *f, size_t nf)
{
	struct check_verdict v;

	check_judge(in, warn, crit, clock_now(), &v);
	apply_findings(&v, f, nf);
	pack_verdict(rpc_call_result(call), in->name, source, id, &v,
	    in->valid_until);
	rpc_call_reply(call);
}

static void
check_item(struct rpc_call *call, int64_t id, int warn, int crit,
    int with_findings)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	struct store_item *it;
	struct finding f[FINDINGS_MAX];
	struct findings_input fin;
	size_t nf = 0;
	struct check_input in = { .chain_valid = -1, .hostname_match = -1 };
	char name[300];
	int host;

	if ((it = track_get(d, id, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	host = strcmp(it->source, "host") == 0;
	if (host)
		host_name(name, sizeof(name), it->host, it->port, it->sni);
	else
		snprintf(name, sizeof(name), "%s", it->facts &&
		    it->facts->common_name ? it->facts->common_name :
		    "certificate");
	in.name = name;
	in.watch_renewal = host;
	if (it->facts != NULL) {
		in.valid_from = it->facts->valid_from;
		in.valid_until = it->facts->valid_until;
	}
	if (host) {
		in.chain_valid = it->chain_valid;
		in.hostname_match = it->hostname_match;
		in.verify_error = it->verify_error;
		if (it->check_failures > 0)
			in.check_error = it->check_error ? it->check_error :
			    "no answer";
	}
	if (with_findings) {
		track_findings_input(it, d->cfg->ca_file == NULL, &fin);
		nf = findings_compute(&fin, -1, clock_now(), f);
	}
	reply_one(call, &in, it->source, id, warn, crit, f, nf);
	store_item_free(it);
}

static void
check_cert(struct rpc_call *call, int64_t id, int warn, int crit)
{
	struct daemon *d = rpc_call_ctx(call);
	struct cf_err e = { 0 };
	struct store_cert *c;
	struct check_input in = { .chain_valid = -1, .hostname_match = -1 };

	if ((c = cert_get(d, id, &e)) == NULL) {
		api_fail(call, &e);
		return;
	}
	in.name = c->domain;
	in.managed = 1;
	in.watch_renewal = strcmp(c->source, "acme") == 0;
	in.status = c->status;
	in.last_error = c->last_error;
	in.next_renewal_at = c->next_renewal_at;
	if (c->facts != NULL) {
		in.valid_from = c->facts->valid_from;
		in.valid_until = c->facts->valid_until;
	}
	reply_one(call, &in, "managed", id, warn, crit, NULL, 0);
	store_cert_free(c);
}

/* --- a host probed afresh ------------------------------------------------ */

struct host_check {
	struct rpc_call	*call;
	int		 warn, crit;
	char		 name[300];
};

static void
host_probed(const struct probe_result *res, void *arg)
{
	struct host_check *hc = arg;
	struct check_input in = {
		.name = hc->name, .watch_renewal = 0,
		.chain_valid = -1, .hostname_match = -1,
	};

	/* Not a verdict about the host: the client says UNKNOWN. */
	if (res->outcome == PROBE_CANCELLED || (res->cause != NULL &&
	    (strcmp(res->cause, "no_descriptor") == 0 ||
	    strcmp(res->cause, "out_of_memory") == 0))) {
		rpc_call_error(hc->call, WIRE_UNAVAILABLE, "the probe of %s "
		    "could not run: %s", hc->name, res->error);
		free(hc);
		return;
	}
	if (res->outcome == PROBE_OK && res->leaf != NULL) {
		in.valid_from = res->leaf->valid_from;
		in.valid_until = res->leaf->valid_until;
		in.chain_valid = res->chain_valid;
		in.hostname_match = res->hostname_match;
		in.verify_error = res->verify_error;
	} else
		in.check_error = res->error[0] ? res->error : "no certificate";
	reply_one(hc->call, &in, "host", 0, hc->warn, hc->crit, NULL, 0);
	free(hc);
}

static void
check_host(struct rpc_call *call, const char *target, const char *sni,
    int warn, int crit)
{
	struct daemon *d = rpc_call_ctx(call);
	struct track_target t;
	struct cf_err e = { 0 };
	struct host_check *hc;

	if (track_parse_target(target, sni, &t, &e) == -1) {
		api_fail(call, &e);
		return;
	}
	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	hc->call = call;
	hc->warn = warn;
	hc->crit = crit;
	host_name(hc->name, sizeof(hc->name), t.host, t.port, t.sni);
	if (probe_start(d->probes, t.host, t.port, t.sni[0] ? t.sni : NULL,
	    NULL, host_probed, hc) == NULL) {
		free(hc);
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED,
		    "cannot start a probe now");
	}
}

/* --- the fleet ----------------------------------------------------------- */

struct fleet_check {
	LIST_ENTRY(fleet_check)	 entry;		/* on d->walks */
	struct rpc_call		*call;
	struct daemon		*d;
	struct event		*next;
	int			 warn, crit;
	int			 verbose;
	int			 managed;	/* walking managed (else tracked) */
	int64_t			 after;
	int64_t			 now;
	int64_t			 counts[4];
	int64_t			 items;
	msgpack_sbuffer		 problems;	/* packed verdicts */
	msgpack_packer		 ppk;
	size_t			 nproblems;
	enum check_state	 worst;
};

/* The --all walks under way: capped, and answered at shutdown. */
struct check_walks {
	LIST_HEAD(, fleet_check) list;
	size_t			 n;
};

static void
fleet_item(const struct store_metric_item *it, void *arg)
{
	struct fleet_check *fc = arg;
	struct check_input in = {
		.managed = it->source == MS_MANAGED,
		.watch_renewal = it->source != MS_PEM,
		.valid_from = it->valid_from, .valid_until = it->valid_until,
		.chain_valid = it->chain_valid,
		.hostname_match = it->hostname_match,
		.status = it->status, .next_renewal_at = it->next_renewal_at,
	};
	struct check_verdict v;
	char name[300];
	static const char *const sources[] = { "host", "pem", "managed" };

	fc->after = it->id;
	if (it->source != MS_MANAGED && !it->active)
		return;		/* deactivated: the operator said not now */
	if (it->source == MS_HOST)
		host_name(name, sizeof(name), it->host, it->port, it->sni);
	else
		snprintf(name, sizeof(name), "%s", it->cn ? it->cn :
		    "certificate");
	in.name = name;
	if (it->source == MS_HOST && it->check_failures > 0)
		in.check_error = it->check_error ? it->check_error : "no answer";
	in.verify_error = it->verify_error;
	/* A draft has no certificate by design: nothing to judge. */
	if (in.managed && it->valid_until == 0 && it->status != NULL &&
	    strcmp(it->status, "error") != 0)
		return;
	check_judge(&in, fc->warn, fc->crit, fc->now, &v);
	fc->items++;
	fc->counts[v.state]++;
	if (v.state != CHECK_UNKNOWN && v.state > fc->worst)
		fc->worst = v.state;
	if (fc->verbose && v.state != CHECK_OK &&
	    fc->nproblems < FLEET_PROBLEMS_MAX) {
		pack_verdict(&fc->ppk, name, sources[it->source], it->id, &v,
		    it->valid_until);
		fc->nproblems++;
	}
}

static void
fleet_free(struct fleet_check *fc)
{
	LIST_REMOVE(fc, entry);
	fc->d->walks->n--;
	event_free(fc->next);
	msgpack_sbuffer_destroy(&fc->problems);
	free(fc);
}

static void
fleet_reply(struct fleet_check *fc)
{
	msgpack_packer *pk = rpc_call_result(fc->call);
	/* UNKNOWN only when nothing could be judged at all. */
	enum check_state st = fc->items == 0 || fc->counts[CHECK_UNKNOWN] ==
	    fc->items ? CHECK_UNKNOWN : fc->worst;

	msgpack_pack_map(pk, 5);
	wire_pack_kv_int(pk, "state", st);
	wire_pack_kv_str(pk, "status", check_state_name(st));
	wire_pack_kv_int(pk, "items", fc->items);
	wire_pack_key(pk, "counts");
	msgpack_pack_map(pk, 4);
	for (int i = 0; i < 4; i++)
		wire_pack_kv_int(pk, check_state_name(i), fc->counts[i]);
	wire_pack_key(pk, "problems");
	msgpack_pack_array(pk, fc->nproblems);
	pk->callback(pk->data, fc->problems.data, fc->problems.size);
	rpc_call_reply(fc->call);
}

static void
fleet_step(evutil_socket_t fd, short what, void *arg)
{
	struct fleet_check *fc = arg;
	char err[256];
	int n;

	/* Nobody waits for the answer: stop walking. */
	if (!rpc_call_connected(fc->call)) {
		rpc_call_error(fc->call, WIRE_CANCELLED, "the client left");
		fleet_free(fc);
		return;
	}
	n = store_metric_items(fc->d->store, fc->managed, fc->after,
	    FLEET_PAGE, fleet_item, fc, err, sizeof(err));
	if (n == -1) {
		rpc_call_error(fc->call, WIRE_UNAVAILABLE, "%s", err);
		fleet_free(fc);
		return;
	}
	if (n == FLEET_PAGE) {
		event_active(fc->next, EV_TIMEOUT, 0);
		return;
	}
	if (fc->managed) {
		fc->managed = 0;
		fc->after = 0;
		event_active(fc->next, EV_TIMEOUT, 0);
		return;
	}
	fleet_reply(fc);
	fleet_free(fc);
}

static void
check_fleet(struct rpc_call *call, int warn, int crit, int verbose)
{
	struct daemon *d = rpc_call_ctx(call);
	struct fleet_check *fc = NULL;

	if (d->walks == NULL && (d->walks = calloc(1, sizeof(*d->walks))) !=
	    NULL)
		LIST_INIT(&d->walks->list);
	if (d->walks != NULL && d->walks->n >= FLEET_WALKS_MAX) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "%d fleet checks "
		    "are under way, the limit; try again shortly",
		    FLEET_WALKS_MAX);
		return;
	}
	if (d->walks == NULL || (fc = calloc(1, sizeof(*fc))) == NULL ||
	    (fc->next = event_new(d->base, -1, 0, fleet_step, fc)) == NULL) {
		free(fc);
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	LIST_INSERT_HEAD(&d->walks->list, fc, entry);
	d->walks->n++;
	/* Each page waits behind answers and other callers' work. */
	event_priority_set(fc->next, PRIO_BULK);
	fc->call = call;
	fc->d = d;
	fc->warn = warn;
	fc->crit = crit;
	fc->verbose = verbose;
	fc->managed = 1;
	fc->now = clock_now();
	msgpack_sbuffer_init(&fc->problems);
	msgpack_packer_init(&fc->ppk, &fc->problems, msgpack_sbuffer_write);
	event_active(fc->next, EV_TIMEOUT, 0);
}

void
api_check_run(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = {
		"item", "cert", "host", "sni", "all", "warning", "critical",
		"verbose", "findings", NULL,
	};
	int64_t item = 0, cert = 0, warn = -1, crit = -1;
	char *host = NULL, *sni = NULL;
	int all = 0, verbose = 0, with_findings = 0, forms;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_int(call, params, "item", 0, 1, INT64_MAX, &item) == -1 ||
	    api_param_int(call, params, "cert", 0, 1, INT64_MAX, &cert) == -1 ||
	    api_param_bool(call, params, "all", 0, &all) == -1 ||
	    api_param_bool(call, params, "verbose", 0, &verbose) == -1 ||
	    api_param_bool(call, params, "findings", 0, &with_findings) == -1 ||
	    api_param_int(call, params, "warning", 0, 0, 3650, &warn) == -1 ||
	    api_param_int(call, params, "critical", 0, 0, 3650, &crit) == -1 ||
	    api_param_text(call, params, "host", 0, 300, &host) == -1 ||
	    api_param_text(call, params, "sni", 0, 253, &sni) == -1)
		goto out;
	forms = (item != 0) + (cert != 0) + (host != NULL) + (all != 0);
	if (forms != 1)
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "give exactly one "
		    "of item, cert, host or all");
	else if (sni != NULL && host == NULL)
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "sni goes with "
		    "host");
	else if (with_findings && item == 0)
		rpc_call_error(call, WIRE_INVALID_ARGUMENT, "findings goes "
		    "with item (tracked items' findings; the others' come with "
		    "the audit)");
	else if (item != 0)
		check_item(call, item, (int)warn, (int)crit, with_findings);
	else if (cert != 0)
		check_cert(call, cert, (int)warn, (int)crit);
	else if (host != NULL && rpc_call_role(call) < RPC_ROLE_OPERATOR)
		/* A probe is a connection anywhere, not a read: a monitor
		 * checks what is tracked. */
		rpc_call_error(call, WIRE_PERMISSION_DENIED, "permission "
		    "denied: probing a host needs the operator role (the "
		    "monitor socket checks tracked items)");
	else if (host != NULL)
		check_host(call, host, sni, (int)warn, (int)crit);
	else
		check_fleet(call, (int)warn, (int)crit, verbose);
out:
	free(host);
	free(sni);
}

void
api_check_stop(struct daemon *d)
{
	struct fleet_check *fc;

	if (d->walks == NULL)
		return;
	while ((fc = LIST_FIRST(&d->walks->list)) != NULL) {
		rpc_call_error(fc->call, WIRE_UNAVAILABLE, "certfleetd is "
		    "stopping");
		fleet_free(fc);
	}
	free(d->walks);
	d->walks = NULL;
}
