/*
 * Events.List (the activity feed, newest first, with filters), Events.Kinds
 * and Events.Watch: a stream of events as they commit.  A watch is a cursor
 * over the events table, not a queue: it reads the store after each commit
 * and sends while its client keeps up, so a slow reader is paced by its
 * socket and one far behind simply reads further back.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "certfleet/wire.h"
#include "api.h"
#include "daemon.h"
#include "event.h"
#include "store.h"
#include "store_events.h"

#define EVENTS_LIMIT_DEFAULT	50
#define EVENTS_LIMIT_MAX	10000
/* A watch sends at most this many events per look, and looks again while
 * its client has less than WATCH_BACKLOG_MAX bytes still to read. */
#define WATCH_BATCH		256
#define WATCH_BACKLOG_MAX	(256u * 1024)
/* A watch whose client is behind looks again after this long. */
#define WATCH_RETRY_MS		50
#define KINDS_TEXT_MAX		2048

static void
pack_event(msgpack_packer *pk, const struct store_event *ev)
{
	msgpack_pack_map(pk, 8);
	wire_pack_kv_int(pk, "id", ev->id);
	api_pack_time(pk, "at", ev->at);
	wire_pack_kv_str(pk, "kind", ev->kind);
	wire_pack_kv_str(pk, "severity", event_severity_name(ev->severity));
	wire_pack_key(pk, "subject");
	if (ev->subject_type != NULL) {
		msgpack_pack_map(pk, 2);
		wire_pack_kv_str(pk, "type", ev->subject_type);
		wire_pack_kv_int(pk, "id", ev->subject_id);
	} else
		msgpack_pack_nil(pk);
	/* Before subjects, the feed named tracked items only. */
	wire_pack_key(pk, "item");
	if (ev->subject_type != NULL &&
	    strcmp(ev->subject_type, EVENT_SUBJECT_TRACKED) == 0)
		msgpack_pack_int64(pk, ev->subject_id);
	else
		msgpack_pack_nil(pk);
	wire_pack_kv_str(pk, "message", ev->message);
	wire_pack_key(pk, "data");
	api_pack_json_text(pk, ev->data);
}

/*
 * The filters common to List and Watch: after, kinds (an array of names or
 * one "a,b" string) and subject ("tracked:3", or item N for the old
 * Events.List).  kinds_buf holds the store's form.  0, or -1 answered.
 */
static int
read_filter(struct rpc_call *call, const msgpack_object *params,
    struct store_event_filter *f, char *kinds_buf, size_t kinds_len)
{
	const msgpack_object *kv = wire_map_get(params, "kinds");
	const char *subject = NULL;
	char list[KINDS_TEXT_MAX], err[256];
	int64_t item = 0;
	size_t n = 0, len = 0, klen = 0;

	if (api_param_int(call, params, "after", 0, 0, INT64_MAX,
	    &f->after) == -1 ||
	    api_param_int(call, params, "item", 0, 1, INT64_MAX, &item) == -1 ||
	    api_param_str(call, params, "subject", 0, 64, &subject,
	    &len) == -1)
		return -1;
	if (kv != NULL && kv->type == MSGPACK_OBJECT_NIL)
		kv = NULL;		/* nil: no filter */
	if (kv != NULL && kv->type == MSGPACK_OBJECT_ARRAY) {
		list[0] = '\0';
		for (uint32_t i = 0; i < kv->via.array.size; i++) {
			const msgpack_object *k = &kv->via.array.ptr[i];

			if (k->type != MSGPACK_OBJECT_STR || n + k->via.str.size +
			    2 > sizeof(list)) {
				rpc_call_error(call, WIRE_INVALID_ARGUMENT,
				    "parameter 'kinds' must be a list of kind "
				    "names");
				return -1;
			}
			if (i > 0)
				list[n++] = ',';
			memcpy(list + n, k->via.str.ptr, k->via.str.size);
			n += k->via.str.size;
			list[n] = '\0';
		}
	} else if (kv != NULL) {
		const char *s = NULL;

		if (api_param_str(call, params, "kinds", 0, sizeof(list) - 1, &s,
		    &klen) == -1)
			return -1;
		if (s == NULL) {
			rpc_call_error(call, WIRE_INVALID_ARGUMENT, "parameter "
			    "'kinds' must be a list of kind names or \"a,b\"");
			return -1;
		}
		memcpy(list, s, klen);
		list[klen] = '\0';
	}
	if (kv != NULL) {
		if (event_kinds_parse(list, kinds_buf, kinds_len, err,
		    sizeof(err)) == -1) {
			rpc_call_error(call, WIRE_INVALID_ARGUMENT, "%s", err);
			return -1;
		}
		f->kinds = kinds_buf;
	}
	if (item > 0) {
		f->subject_type = EVENT_SUBJECT_TRACKED;
		f->subject_id = item;
	}
	if (subject != NULL) {
		static const char *const types[] = { EVENT_SUBJECT_TRACKED,
		    EVENT_SUBJECT_CERTIFICATE, EVENT_SUBJECT_CA,
		    EVENT_SUBJECT_SINK, NULL };
		char text[80], *colon, *end = NULL;

		/* The packed string is not NUL-terminated: a copy is (len is
		 * at most 64, api_param_str's bound). */
		if (len >= sizeof(text))
			len = sizeof(text) - 1;
		memcpy(text, subject, len);
		text[len] = '\0';
		if ((colon = strchr(text, ':')) != NULL) {
			*colon = '\0';
			for (size_t i = 0; types[i] != NULL; i++)
				if (strcmp(types[i], text) == 0)
					f->subject_type = types[i];
			f->subject_id = strtoll(colon + 1, &end, 10);
		}
		if (f->subject_type == NULL || f->subject_id <= 0 ||
		    end == colon + 1 || *end != '\0') {
			rpc_call_error(call, WIRE_INVALID_ARGUMENT, "parameter "
			    "'subject' must be TYPE:ID, TYPE one of tracked, "
			    "certificate, ca, sink (e.g. tracked:3)");
			return -1;
		}
	}
	return 0;
}

struct list_ctx {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 n;
};

static int
list_one(const struct store_event *ev, void *arg)
{
	struct list_ctx *ctx = arg;

	pack_event(&ctx->pk, ev);
	ctx->n++;
	return 0;
}

void
api_events_list(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "item", "subject", "after",
	    "before", "kinds", "limit", NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct store_event_filter f = { .limit = EVENTS_LIMIT_DEFAULT };
	struct list_ctx ctx = { .n = 0 };
	char kinds[KINDS_TEXT_MAX + 2], err[256];

	if (api_params_only(call, params, names) == -1 ||
	    read_filter(call, params, &f, kinds, sizeof(kinds)) == -1 ||
	    api_param_int(call, params, "before", 0, 1, INT64_MAX,
	    &f.before) == -1 ||
	    api_param_int(call, params, "limit", 0, 1, EVENTS_LIMIT_MAX,
	    &f.limit) == -1)
		return;
	msgpack_sbuffer_init(&ctx.sb);
	msgpack_packer_init(&ctx.pk, &ctx.sb, msgpack_sbuffer_write);
	if (store_events_each(d->store, &f, list_one, &ctx, err,
	    sizeof(err)) == -1) {
		msgpack_sbuffer_destroy(&ctx.sb);
		rpc_call_error(call, WIRE_UNAVAILABLE, "%s", err);
		return;
	}
	api_reply_array(call, &ctx.sb, ctx.n);
}

void
api_events_kinds(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { NULL };
	msgpack_packer *pk;
	size_t n = 0;

	if (api_params_only(call, params, names) == -1)
		return;
	while (event_kinds[n].name != NULL)
		n++;
	pk = rpc_call_result(call);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 3);
		wire_pack_kv_str(pk, "kind", event_kinds[i].name);
		wire_pack_kv_str(pk, "severity",
		    event_severity_name(event_kinds[i].severity));
		wire_pack_kv_str(pk, "summary", event_kinds[i].summary);
	}
	rpc_call_reply(call);
}

/* --- Events.Watch ----------------------------------------------------------- */

struct watch {
	struct watchers		*set;
	struct rpc_call		*call;
	struct store_event_filter f;
	char			 kinds[KINDS_TEXT_MAX + 2];
	size_t			 nsent;		/* by the last query */
	struct event		*retry;
	LIST_ENTRY(watch)	 entry;
};

struct watchers {
	struct daemon		*d;
	LIST_HEAD(, watch)	 list;
};

static struct watchers *watchers_of(struct daemon *d);

static void
watch_free(struct watch *w)
{
	LIST_REMOVE(w, entry);
	event_free(w->retry);
	free(w);
}

static int
watch_send_one(const struct store_event *ev, void *arg)
{
	struct watch *w = arg;

	pack_event(rpc_call_stream_begin(w->call), ev);
	rpc_call_stream_send(w->call);
	w->f.after = ev->id;
	w->nsent++;
	return 0;
}

/*
 * Sends what committed past the cursor while the client keeps up.  A
 * client gone ends the watch here: its call is freed, the stream with it.
 */
static void
watch_pump(struct watch *w)
{
	struct daemon *d = w->set->d;
	struct timeval tv = { 0, WATCH_RETRY_MS * 1000 };
	char err[256];

	if (!rpc_call_connected(w->call)) {
		rpc_call_error(w->call, WIRE_CANCELLED, "the client went away");
		watch_free(w);
		return;
	}
	while (rpc_call_backlog(w->call) < WATCH_BACKLOG_MAX) {
		int64_t last = 0;

		/* Read before the query: events matching no filter still move
		 * the cursor, so a narrow watch does not rescan them. */
		(void)store_events_last_id(d->store, &last);
		w->nsent = 0;
		w->f.limit = WATCH_BATCH;
		w->f.ascending = 1;
		if (store_events_each(d->store, &w->f, watch_send_one, w, err,
		    sizeof(err)) == -1) {
			rpc_call_error(w->call, WIRE_UNAVAILABLE, "%s", err);
			watch_free(w);
			return;
		}
		if (w->nsent < WATCH_BATCH) {
			if (last > w->f.after)
				w->f.after = last;
			return;		/* caught up */
		}
	}
	/* Behind: the socket paces us; look again shortly. */
	evtimer_add(w->retry, &tv);
}

static void
watch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	watch_pump(arg);
}

static void
watchers_wake_cb(void *arg)
{
	struct watchers *set = arg;
	struct watch *w, *next;

	for (w = LIST_FIRST(&set->list); w != NULL; w = next) {
		next = LIST_NEXT(w, entry);
		if (!evtimer_pending(w->retry, NULL))
			watch_pump(w);
	}
}

static struct watchers *
watchers_of(struct daemon *d)
{
	struct watchers *set = d->watchers;

	if (set != NULL)
		return set;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->d = d;
	LIST_INIT(&set->list);
	if (d->events == NULL || events_listen(d->events, watchers_wake_cb,
	    set) == -1) {
		free(set);
		return NULL;
	}
	d->watchers = set;
	return set;
}

void
api_events_watch(struct rpc_call *call, const msgpack_object *params)
{
	static const char *const names[] = { "after", "kinds", "subject",
	    NULL };
	struct daemon *d = rpc_call_ctx(call);
	struct watchers *set;
	struct watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	w->f.after = -1;
	if (api_params_only(call, params, names) == -1 ||
	    read_filter(call, params, &w->f, w->kinds, sizeof(w->kinds)) ==
	    -1) {
		free(w);
		return;
	}
	/* Without a cursor, from now on. */
	if (w->f.after < 0 && store_events_last_id(d->store, &w->f.after) ==
	    -1) {
		free(w);
		rpc_call_error(call, WIRE_UNAVAILABLE, "cannot read the feed");
		return;
	}
	if ((set = watchers_of(d)) == NULL ||
	    (w->retry = evtimer_new(d->base, watch_retry_cb, w)) == NULL) {
		free(w);
		rpc_call_error(call, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	w->set = set;
	w->call = call;
	LIST_INSERT_HEAD(&set->list, w, entry);
	watch_pump(w);
}

void
api_events_watch_stop(struct daemon *d)
{
	struct watchers *set = d->watchers;
	struct watch *w;

	if (set == NULL)
		return;
	while ((w = LIST_FIRST(&set->list)) != NULL) {
		rpc_call_error(w->call, WIRE_UNAVAILABLE, "certfleetd is "
		    "stopping; watch again with --after %lld",
		    (long long)w->f.after);
		watch_free(w);
	}
	events_unlisten(d->events, watchers_wake_cb, set);
	d->watchers = NULL;
	free(set);
}
