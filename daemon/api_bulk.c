/*
 * Track.Import and Track.CheckAll: many checks behind one call, fed into the
 * probe engine a window at a time (a 100,000-line import never holds 100,000
 * probes), with progress streamed as [3, msgid, {done, total, ok, failed}]
 * and a summary with failures counted by cause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "certfleet/wire.h"
#include "api.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "store.h"
#include "track.h"

#define BULK_CAUSES_MAX		32
#define BULK_PROGRESS_MS	100	/* ten a second: a smooth bar, at no cost */
#define BULK_LINE_MAX		600
/* Checks started per turn of the loop, so RPC answers slip in between. */
#define BULK_FEED_SLICE		256

struct bulk_cause {
	char	 text[128];
	size_t	 n;
};

struct bulk {
	struct rpc_call		*call;
	struct daemon		*d;
	int			 import;
	char			*text;		/* import: the lines, owned */
	size_t			 len, pos;
	int64_t			*ids;		/* check all: the items, owned */
	size_t			 nids, next_id;
	size_t			 total, in_flight, done, ok, failed, added,
				 updated;
	size_t			 window;
	struct bulk_cause	 causes[BULK_CAUSES_MAX];
	size_t			 ncauses;
	int64_t			 last_progress_ms;
	struct event		*tick;		/* sends a held-back progress */
	struct event		*feed;		/* starts the next slice */
	int			 exhausted;	/* nothing left to start */
};

static void
bulk_count_cause(struct bulk *b, const char *cause)
{
	size_t i;

	for (i = 0; i < b->ncauses; i++)
		if (strcmp(b->causes[i].text, cause) == 0)
			break;
	if (i == b->ncauses) {
		if (b->ncauses == BULK_CAUSES_MAX) {
			i = BULK_CAUSES_MAX - 1;	/* the last row gathers the rest */
			snprintf(b->causes[i].text, sizeof(b->causes[i].text),
			    "other");
		} else
			snprintf(b->causes[b->ncauses++].text,
			    sizeof(b->causes[i].text), "%s", cause);
	}
	b->causes[i].n++;
}

static void
bulk_free(struct bulk *b)
{
	if (b->feed != NULL)
		event_free(b->feed);
	event_free(b->tick);
	free(b->text);
	free(b->ids);
	free(b);
}

static void
bulk_progress(struct bulk *b, int force)
{
	int64_t t = clock_mono_ms();
	msgpack_packer *pk;

	if (!force && t - b->last_progress_ms < BULK_PROGRESS_MS) {
		/* Held back, not dropped: it goes out when the interval ends. */
		struct timeval tv = { 0,
		    (BULK_PROGRESS_MS - (t - b->last_progress_ms)) * 1000 };
		if (!evtimer_pending(b->tick, NULL))
			evtimer_add(b->tick, &tv);
		return;
	}
	evtimer_del(b->tick);
	b->last_progress_ms = t;
	pk = rpc_call_stream_begin(b->call);
	msgpack_pack_map(pk, 4);
	wire_pack_kv_int(pk, "done", b->done);
	wire_pack_kv_int(pk, "total", b->total);
	wire_pack_kv_int(pk, "ok", b->ok);
	wire_pack_kv_int(pk, "failed", b->failed);
	rpc_call_stream_send(b->call);
}

static void
bulk_finish(struct bulk *b)
{
	msgpack_packer *pk;

	bulk_progress(b, 1);
	pk = rpc_call_result(b->call);
	msgpack_pack_map(pk, b->import ? 6 : 4);
	wire_pack_kv_int(pk, "probed", b->done);
	wire_pack_kv_int(pk, "ok", b->ok);
	wire_pack_kv_int(pk, "failed", b->failed);
	if (b->import) {
		wire_pack_kv_int(pk, "added", b->added);
		wire_pack_kv_int(pk, "updated", b->updated);
	}
	wire_pack_key(pk, "causes");
	msgpack_pack_map(pk, b->ncauses);
	for (size_t i = 0; i < b->ncauses; i++)
		wire_pack_kv_int(pk, b->causes[i].text, b->causes[i].n);
	rpc_call_reply(b->call);
	bulk_free(b);
}

static void bulk_feed(struct bulk *b);

static void
bulk_one_done(struct store_item *item, int created, const struct cf_err *e,
    void *arg)
{
	struct bulk *b = arg;

	if (item != NULL && b->import) {
		if (created)
			b->added++;
		else
			b->updated++;
	}
	store_item_free(item);
	b->in_flight--;
	b->done++;
	if (e == NULL)
		b->ok++;
	else {
		b->failed++;
		bulk_count_cause(b, e->cause[0] ? e->cause : e->msg);
	}
	bulk_progress(b, 0);
	bulk_feed(b);
}

/* Next meaningful import line into buf; 0 at the end. */
static int
next_line(struct bulk *b, char *buf, size_t len)
{
	while (b->pos < b->len) {
		const char *start = b->text + b->pos;
		const char *nl = memchr(start, '\n', b->len - b->pos);
		size_t n = nl ? (size_t)(nl - start) : b->len - b->pos;

		b->pos += n + (nl != NULL);
		while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' ' ||
		    start[n - 1] == '\t'))
			n--;
		while (n > 0 && (*start == ' ' || *start == '\t')) {
			start++;
			n--;
		}
		if (n == 0 || *start == '#')
			continue;
		snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), start);
		return n < len ? 1 : -1;
	}
	return 0;
}

static void
bulk_fail_input(struct bulk *b, const char *cause)
{
	b->done++;
	b->failed++;
	bulk_count_cause(b, cause);
}

static int
bulk_start_import(struct bulk *b, struct cf_err *e)
{
	char line[BULK_LINE_MAX], *sni;
	struct track_target t;
	int rc;

	if ((rc = next_line(b, line, sizeof(line))) == 0)
		return 0;
	if (rc == -1) {
		bulk_fail_input(b, "invalid input");
		return 1;
	}
	if ((sni = strpbrk(line, " \t")) != NULL) {
		*sni++ = '\0';
		sni += strspn(sni, " \t");
	}
	if (track_parse_target(line, sni, &t, e) == -1) {
		bulk_fail_input(b, "invalid input");
		return 1;
	}
	if (track_import_host(b->d, &t, bulk_one_done, b, e) == -1) {
		bulk_fail_input(b, e->msg);
		return 1;
	}
	b->in_flight++;
	return 1;
}

static int
bulk_start_check(struct bulk *b, struct cf_err *e)
{
	if (b->next_id >= b->nids)
		return 0;
	if (track_check(b->d, b->ids[b->next_id++], "forced", bulk_one_done, b,
	    e) == -1) {
		bulk_fail_input(b, e->code == WIRE_NOT_FOUND ? "deleted meanwhile" :
		    e->msg);
		return 1;
	}
	b->in_flight++;
	return 1;
}

/* Starts at most a slice of checks; finishes once all have ended. */
static void
bulk_feed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bulk *b = arg;
	struct cf_err e = { 0 };
	int n = 0;

	while (!b->exhausted && b->in_flight < b->window &&
	    n++ < BULK_FEED_SLICE)
		if (!(b->import ? bulk_start_import(b, &e) :
		    bulk_start_check(b, &e)))
			b->exhausted = 1;
	if (b->exhausted && b->in_flight == 0) {
		bulk_finish(b);
		return;
	}
	if (!b->exhausted && b->in_flight < b->window)
		event_active(b->feed, EV_TIMEOUT, 0);
}

static void
bulk_feed(struct bulk *b)
{
	event_active(b->feed, EV_TIMEOUT, 0);
}

static void
bulk_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	bulk_progress(arg, 1);
}

static struct bulk *
bulk_new(struct rpc_call *call)
{
	struct bulk *b = calloc(1, sizeof(*b));
	struct daemon *d = rpc_call_ctx(call);

	if (b != NULL &&
	    ((b->tick = evtimer_new(d->base, bulk_tick_cb, b)) == NULL ||
	    (b->feed = event_new(d->base, -1, 0, bulk_feed_cb, b)) == NULL ||
	    event_priority_set(b->feed, PRIO_BULK) == -1)) {
		if (b->tick != NULL)
			event_free(b->tick);
		if (b->feed != NULL)
			event_free(b->feed);
		free(b);
		b = NULL;
	}
	if (b == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	b->call = call;
	b->d = d;
	b->window = (size_t)d->cfg->probe_concurrency;
	b->last_progress_ms = clock_mono_ms();
	return b;
}

void
api_track_import(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "targets", NULL };
	const char *text = NULL;
	size_t len = 0;
	struct bulk *b;

	if (api_params_only(call, params, names) == -1 ||
	    api_param_str(call, params, "targets", 1, WIRE_FRAME_MAX, &text,
	    &len) == -1 || (b = bulk_new(call)) == NULL)
		return;
	/* The request's buffer goes away when this returns: copy. */
	if ((b->text = malloc(len ? len : 1)) == NULL) {
		bulk_free(b);
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	memcpy(b->text, text, len);
	b->len = len;
	b->import = 1;
	for (char line[BULK_LINE_MAX]; next_line(b, line, sizeof(line)) != 0;)
		b->total++;
	b->pos = 0;
	bulk_progress(b, 1);
	bulk_feed(b);
}

static int
collect_id(int64_t id, void *arg)
{
	struct bulk *b = arg;

	if (b->nids % 1024 == 0) {
		int64_t *p = realloc(b->ids, (b->nids + 1024) * sizeof(*p));
		if (p == NULL)
			return -1;
		b->ids = p;
	}
	b->ids[b->nids++] = id;
	return 0;
}

void
api_track_check_all(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	struct bulk *b;

	if (api_params_only(call, params, names) == -1 ||
	    (b = bulk_new(call)) == NULL)
		return;
	if (store_active_hosts_each(b->d->store, collect_id, b) == -1) {
		bulk_free(b);
		rpc_call_error(call, WIRE_UNAVAILABLE,
		    "database: cannot list host items");
		return;
	}
	b->total = b->nids;
	bulk_progress(b, 1);
	bulk_feed(b);
}
