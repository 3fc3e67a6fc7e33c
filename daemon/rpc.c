/*
 * Control-socket server.  One rpc_conn per client owns its bufferevent;
 * one rpc_call per request lives until its answer leaves (or the client is
 * gone).  A client that misbehaves loses its own connection and nothing else.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"
#include "daemon.h"
#include "log.h"
#include "rpc.h"

/* Requests one client may have in flight before we stop reading from it. */
#define RPC_CALLS_PER_CONN	64
/* Unread answers one client may leave queued before we stop reading. */
#define RPC_OUTPUT_HIGH		(8u * 1024 * 1024)
/* How long half a frame may sit unfinished. */
#define RPC_PARTIAL_TIMEOUT	30

struct rpc_conn {
	struct rpc_server	*srv;
	struct bufferevent	*bev;		/* NULL once closed */
	struct event		*kick;		/* deferred resume or free */
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
	enum rpc_role		 role;
	int			 ncalls;
	int			 closing;	/* close once output drains */
	LIST_ENTRY(rpc_conn)	 entry;
};

struct rpc_call {
	struct rpc_conn		*conn;
	uint64_t		 msgid;
	struct timespec		 started;	/* monotonic, for the duration */
	const struct rpc_method	*method;
	msgpack_sbuffer		 result;
	msgpack_packer		 pk;
	msgpack_sbuffer		 stream;
	msgpack_packer		 spk;
};

struct rpc_server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*accept_pause;
	char			*path;
	gid_t			 group;
	int			 monitor;	/* a read-only socket */
	struct rpc_stats	*stats;
	int			 max_clients;
	int			 nclients;
	const struct rpc_method	*methods;
	void			*ctx;
	rpc_barrier_fn		*barrier;
	LIST_HEAD(, rpc_conn)	 conns;
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_kick_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(struct rpc_conn *conn);

/* --- sending ------------------------------------------------------------- */

static void
conn_send_frame(struct rpc_conn *conn, const void *a, size_t alen,
    const void *b, size_t blen)
{
	struct evbuffer *out;
	uint8_t hdr[WIRE_HDR_LEN];

	if (conn == NULL || conn->bev == NULL)
		return;
	if (alen + blen > WIRE_FRAME_MAX) {
		log_warn("rpc: answer of %zu bytes exceeds the frame limit; "
		    "closing client pid %d", alen + blen, (int)conn->pid);
		conn->closing = 1;
		return;
	}
	out = bufferevent_get_output(conn->bev);
	wire_put_len(hdr, (uint32_t)(alen + blen));
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_add(out, a, alen);
	if (blen > 0)
		evbuffer_add(out, b, blen);
	if (evbuffer_get_length(out) > RPC_OUTPUT_HIGH)
		bufferevent_disable(conn->bev, EV_READ);
}

static void
pack_error(msgpack_packer *pk, int code, const char *msg)
{
	msgpack_pack_map(pk, 3);
	wire_pack_kv_int(pk, "code", code);
	wire_pack_kv_str(pk, "message", msg);
	wire_pack_key(pk, "details");
	msgpack_pack_nil(pk);
}

static void
conn_send_error(struct rpc_conn *conn, uint64_t msgid, int code,
    const char *msg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, WIRE_RESPONSE);
	msgpack_pack_uint64(&pk, msgid);
	pack_error(&pk, code, msg);
	msgpack_pack_nil(&pk);
	conn_send_frame(conn, sb.data, sb.size, NULL, 0);
	msgpack_sbuffer_destroy(&sb);
}

/* --- connection lifetime ------------------------------------------------- */

static void
conn_close(struct rpc_conn *conn)
{
	if (conn->bev == NULL)
		return;
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	if (conn->srv != NULL) {
		LIST_REMOVE(conn, entry);
		if (conn->srv->nclients-- == conn->srv->max_clients &&
		    conn->srv->listener != NULL)
			evconnlistener_enable(conn->srv->listener);
	}
	/* Calls in flight still point here; the last one frees us. */
	if (conn->ncalls == 0)
		event_active(conn->kick, EV_TIMEOUT, 0);
}

static void
conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_conn *conn = arg;

	if (conn->bev == NULL) {
		if (conn->ncalls == 0) {
			event_free(conn->kick);
			free(conn);
		}
		return;
	}
	conn_process(conn);
}

static enum rpc_role
role_for(const struct rpc_server *srv, uid_t uid, gid_t gid)
{
	/* The monitor socket's mode, not the peer, says who reaches it: even
	 * root connecting there gets only reads. */
	if (srv->monitor)
		return RPC_ROLE_MONITOR;
	if (uid == 0 || uid == geteuid())
		return RPC_ROLE_ADMIN;
	if (gid == srv->group)
		return RPC_ROLE_OPERATOR;
	return RPC_ROLE_NONE;
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct rpc_server *srv = arg;
	struct rpc_conn *conn;
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		log_warn("rpc: cannot read peer credentials: %s", strerror(errno));
		close(fd);
		return;
	}
	if ((conn = calloc(1, sizeof(*conn))) == NULL ||
	    (conn->kick = event_new(srv->base, -1, 0, conn_kick_cb, conn)) == NULL ||
	    (conn->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("rpc: out of memory accepting a client");
		if (conn != NULL && conn->kick != NULL)
			event_free(conn->kick);
		free(conn);
		close(fd);
		return;
	}
	conn->srv = srv;
	conn->uid = cred.uid;
	conn->gid = cred.gid;
	conn->pid = cred.pid;
	conn->role = role_for(srv, cred.uid, cred.gid);
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    conn);
	bufferevent_priority_set(conn->bev, PRIO_RPC);
	event_priority_set(conn->kick, PRIO_RPC);
	/* Never buffer more than one whole frame from a client. */
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
	    WIRE_FRAME_MAX + WIRE_HDR_LEN);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&srv->conns, conn, entry);
	if (++srv->nclients >= srv->max_clients) {
		log_warn("rpc: %d clients connected, the limit; new ones wait",
		    srv->nclients);
		evconnlistener_disable(l);
	}
	log_debug("rpc: client pid %d uid %d connected (role %d)",
	    (int)cred.pid, (int)cred.uid, conn->role);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_server *srv = arg;

	if (srv->listener != NULL && srv->nclients < srv->max_clients)
		evconnlistener_enable(srv->listener);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct rpc_server *srv = arg;
	struct timeval pause = { 0, 100 * 1000 };

	/* Out of descriptors the socket stays readable: without a pause the
	 * loop would spin on accept(). */
	log_warn("rpc: accept failed: %s; pausing new clients for 100 ms",
	    strerror(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(l);
	evtimer_add(srv->accept_pause, &pause);
}

/* --- calls --------------------------------------------------------------- */

static struct rpc_call *
call_new(struct rpc_conn *conn, uint64_t msgid, const struct rpc_method *m)
{
	struct rpc_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		return NULL;
	call->conn = conn;
	call->msgid = msgid;
	call->method = m;
	clock_gettime(CLOCK_MONOTONIC, &call->started);
	msgpack_sbuffer_init(&call->result);
	msgpack_packer_init(&call->pk, &call->result, msgpack_sbuffer_write);
	msgpack_sbuffer_init(&call->stream);
	msgpack_packer_init(&call->spk, &call->stream, msgpack_sbuffer_write);
	conn->ncalls++;
	return call;
}

/* Counts an answered call by method and status code. */
static void
call_count(struct rpc_call *call, int code)
{
	struct rpc_server *srv = call->conn->srv;
	struct timespec now;

	if (srv == NULL || srv->stats == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	mcounters_add(&srv->stats->requests, call->method->name,
	    wire_status_name(code), 1);
	mcounters_hist(&srv->stats->durations, call->method->name,
	    (double)(now.tv_sec - call->started.tv_sec) +
	    (now.tv_nsec - call->started.tv_nsec) / 1e9);
}

static void
call_free(struct rpc_call *call)
{
	struct rpc_conn *conn = call->conn;

	msgpack_sbuffer_destroy(&call->result);
	msgpack_sbuffer_destroy(&call->stream);
	free(call);
	/* Resume or free from the loop, never inside the caller's stack. */
	if (--conn->ncalls == 0 || conn->bev != NULL)
		event_active(conn->kick, EV_TIMEOUT, 0);
}

void *
rpc_call_ctx(const struct rpc_call *call)
{
	return call->conn->srv != NULL ? call->conn->srv->ctx : NULL;
}

enum rpc_role
rpc_call_role(const struct rpc_call *call)
{
	return call->conn->role;
}

const char *
rpc_call_method(const struct rpc_call *call)
{
	return call->method->name;
}

int
rpc_call_connected(const struct rpc_call *call)
{
	return call->conn->bev != NULL;
}

size_t
rpc_call_backlog(const struct rpc_call *call)
{
	if (call->conn->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(call->conn->bev));
}

msgpack_packer *
rpc_call_result(struct rpc_call *call)
{
	return &call->pk;
}

static void
call_send_result(int ok, void *arg)
{
	struct rpc_call *call = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!ok) {
		conn_send_error(call->conn, call->msgid, WIRE_UNAVAILABLE,
		    "the change could not be committed to the database");
		call_count(call, WIRE_UNAVAILABLE);
		call_free(call);
		return;
	}
	call_count(call, WIRE_OK);
	if (call->result.size == 0)
		msgpack_pack_nil(&call->pk);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, WIRE_RESPONSE);
	msgpack_pack_uint64(&pk, call->msgid);
	msgpack_pack_nil(&pk);
	conn_send_frame(call->conn, sb.data, sb.size, call->result.data,
	    call->result.size);
	msgpack_sbuffer_destroy(&sb);
	call_free(call);
}

void
rpc_call_reply(struct rpc_call *call)
{
	struct rpc_server *srv = call->conn->srv;

	if (srv != NULL && srv->barrier != NULL)
		srv->barrier(srv->ctx, call_send_result, call);
	else
		call_send_result(1, call);
}

void
rpc_call_error(struct rpc_call *call, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	esc_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_send_error(call->conn, call->msgid, code, msg);
	call_count(call, code);
	call_free(call);
}

msgpack_packer *
rpc_call_stream_begin(struct rpc_call *call)
{
	msgpack_sbuffer_clear(&call->stream);
	msgpack_pack_array(&call->spk, 3);
	msgpack_pack_int(&call->spk, WIRE_STREAM);
	msgpack_pack_uint64(&call->spk, call->msgid);
	return &call->spk;
}

void
rpc_call_stream_send(struct rpc_call *call)
{
	conn_send_frame(call->conn, call->stream.data, call->stream.size,
	    NULL, 0);
	msgpack_sbuffer_clear(&call->stream);
}

/* --- requests ------------------------------------------------------------ */

static const struct rpc_method *
method_find(const struct rpc_server *srv, const char *name, size_t len)
{
	for (const struct rpc_method *m = srv->methods; m->name != NULL; m++)
		if (strlen(m->name) == len && memcmp(m->name, name, len) == 0)
			return m;
	return NULL;
}

/* Checks the msgpack-rpc request shape; returns the params map or NULL. */
static const msgpack_object *
request_parse(const msgpack_object *msg, uint64_t *msgid,
    const msgpack_object **method, const char **why)
{
	static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
	const msgpack_object *v, *params;

	if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size != 4) {
		*why = "a request is [0, msgid, method, [params]]";
		return NULL;
	}
	v = msg->via.array.ptr;
	if (v[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*msgid = v[1].via.u64;
	if (v[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    v[0].via.u64 != WIRE_REQUEST) {
		*why = "only requests (type 0) are accepted";
		return NULL;
	}
	if (v[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    v[1].via.u64 > UINT32_MAX) {
		*why = "msgid must be an unsigned 32-bit integer";
		return NULL;
	}
	if (v[2].type != MSGPACK_OBJECT_STR) {
		*why = "method must be a string";
		return NULL;
	}
	*method = &v[2];
	if (v[3].type != MSGPACK_OBJECT_ARRAY || v[3].via.array.size > 1) {
		*why = "params must be an array of at most one map";
		return NULL;
	}
	if (v[3].via.array.size == 0)
		return &empty;
	params = &v[3].via.array.ptr[0];
	if (params->type == MSGPACK_OBJECT_NIL)
		return &empty;
	if (params->type != MSGPACK_OBJECT_MAP) {
		*why = "params must be an array of at most one map";
		return NULL;
	}
	return params;
}

static void
conn_dispatch(struct rpc_conn *conn, const msgpack_object *msg)
{
	const msgpack_object *params, *mname = NULL;
	const struct rpc_method *m;
	const char *why = NULL;
	struct rpc_call *call;
	uint64_t msgid = 0;

	if ((params = request_parse(msg, &msgid, &mname, &why)) == NULL) {
		conn_send_error(conn, msgid, WIRE_INVALID_ARGUMENT, why);
		return;
	}
	m = method_find(conn->srv, mname->via.str.ptr, mname->via.str.size);
	if (m == NULL) {
		char text[160];
		snprintf(text, sizeof(text), "no such method '%.*s'",
		    (int)(mname->via.str.size > 64 ? 64 : mname->via.str.size),
		    mname->via.str.ptr);
		conn_send_error(conn, msgid, WIRE_UNIMPLEMENTED, text);
		return;
	}
	if (conn->role < m->role) {
		conn_send_error(conn, msgid, WIRE_PERMISSION_DENIED,
		    conn->role == RPC_ROLE_NONE ?
		    "permission denied: not root, the daemon's user or in its group" :
		    conn->role == RPC_ROLE_MONITOR ?
		    "permission denied: the monitor socket only reads" :
		    "permission denied: this needs an admin peer");
		if (conn->srv->stats != NULL)
			mcounters_add(&conn->srv->stats->requests, m->name,
			    wire_status_name(WIRE_PERMISSION_DENIED), 1);
		return;
	}
	if ((call = call_new(conn, msgid, m)) == NULL) {
		conn_send_error(conn, msgid, WIRE_RESOURCE_EXHAUSTED,
		    "out of memory");
		return;
	}
	m->handler(call, params);
}

static void
conn_handle_frame(struct rpc_conn *conn, const uint8_t *body, size_t len)
{
	char err[128];
	msgpack_zone zone;
	msgpack_object msg;

	msgpack_zone_init(&zone, 2048);
	if (wire_unpack(body, len, &zone, &msg, err, sizeof(err)) == -1) {
		/* The stream can no longer be trusted: answer, then close. */
		conn_send_error(conn, 0, WIRE_INVALID_ARGUMENT, err);
		conn->closing = 1;
	} else
		conn_dispatch(conn, &msg);
	msgpack_zone_destroy(&zone);
}

static void
conn_process(struct rpc_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	uint8_t hdr[WIRE_HDR_LEN];
	struct timeval partial = { RPC_PARTIAL_TIMEOUT, 0 };

	while (!conn->closing && conn->ncalls < RPC_CALLS_PER_CONN &&
	    evbuffer_get_length(out) <= RPC_OUTPUT_HIGH) {
		size_t have = evbuffer_get_length(in);
		uint32_t n;

		if (have < WIRE_HDR_LEN)
			break;
		evbuffer_copyout(in, hdr, sizeof(hdr));
		n = wire_get_len(hdr);
		if (n > WIRE_FRAME_MAX || n == 0) {
			char msg[96];
			snprintf(msg, sizeof(msg), "frame of %u bytes refused "
			    "(limit %u)", n, WIRE_FRAME_MAX);
			conn_send_error(conn, 0, n ? WIRE_RESOURCE_EXHAUSTED :
			    WIRE_INVALID_ARGUMENT, msg);
			conn->closing = 1;
			break;
		}
		if (have < WIRE_HDR_LEN + (size_t)n)
			break;
		evbuffer_drain(in, WIRE_HDR_LEN);
		conn_handle_frame(conn, evbuffer_pullup(in, n), n);
		evbuffer_drain(in, n);
	}
	if (conn->closing) {
		bufferevent_disable(conn->bev, EV_READ);
		if (evbuffer_get_length(out) == 0)
			conn_close(conn);
		return;
	}
	if (conn->ncalls < RPC_CALLS_PER_CONN &&
	    evbuffer_get_length(out) <= RPC_OUTPUT_HIGH)
		bufferevent_enable(conn->bev, EV_READ);
	else
		bufferevent_disable(conn->bev, EV_READ);
	/* Half a frame may not sit forever; a whole idle connection may. */
	bufferevent_set_timeouts(conn->bev,
	    evbuffer_get_length(in) > 0 ? &partial : NULL, NULL);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct rpc_conn *conn = arg;

	/* Output drained: close if asked to, else maybe read again. */
	if (conn->closing)
		conn_close(conn);
	else
		conn_process(conn);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rpc_conn *conn = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_info("rpc: client pid %d left half a frame for %d s; closed",
		    (int)conn->pid, RPC_PARTIAL_TIMEOUT);
	else if (what & BEV_EVENT_ERROR)
		log_debug("rpc: client pid %d: %s", (int)conn->pid,
		    strerror(EVUTIL_SOCKET_ERROR()));
	conn_close(conn);
}

/* --- server -------------------------------------------------------------- */

void
rpc_stats_init(struct rpc_stats *st)
{
	/* Label sets are bounded by the method table times the codes. */
	mcounters_init(&st->requests, 1024);
	mcounters_init(&st->durations, 256);
}

void
rpc_stats_free(struct rpc_stats *st)
{
	mcounters_free(&st->requests);
	mcounters_free(&st->durations);
}

static int
socket_bind(const char *path, gid_t group, mode_t mode, char *err,
    size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (limit %zu)",
		    path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* The caller holds the state lock, so an existing file is stale. */
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	old = umask(0117);	/* born 0660: no window with wider access */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chown(path, (uid_t)-1, group) == -1 || chmod(path, mode) == -1 ||
	    listen(fd, 128) == -1) {
		snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

struct rpc_server *
rpc_server_new(struct event_base *base, const struct rpc_server_conf *conf,
    char *err, size_t errlen)
{
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	int fd;

	if (srv == NULL || (srv->path = strdup(conf->path)) == NULL) {
		free(srv);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->base = base;
	srv->group = conf->group;
	srv->monitor = conf->monitor;
	srv->stats = conf->stats;
	srv->max_clients = conf->max_clients;
	srv->methods = conf->methods;
	srv->ctx = conf->ctx;
	srv->barrier = conf->barrier;
	LIST_INIT(&srv->conns);
	if ((fd = socket_bind(conf->path, conf->group,
	    conf->mode ? (mode_t)conf->mode : 0660, err, errlen)) == -1) {
		free(srv->path);
		free(srv);
		return NULL;
	}
	srv->listener = evconnlistener_new(base, accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (srv->listener == NULL) {
		snprintf(err, errlen, "socket %s: cannot listen", conf->path);
		close(fd);
		unlink(conf->path);
		free(srv->path);
		free(srv);
		return NULL;
	}
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	if ((srv->accept_pause = evtimer_new(base, accept_resume_cb, srv)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rpc_server_free(srv);
		return NULL;
	}
	return srv;
}

void
rpc_server_stop_accepting(struct rpc_server *srv)
{
	if (srv->listener == NULL)
		return;
	evconnlistener_free(srv->listener);
	srv->listener = NULL;
	unlink(srv->path);
}

void
rpc_server_free(struct rpc_server *srv)
{
	struct rpc_conn *conn;

	if (srv == NULL)
		return;
	rpc_server_stop_accepting(srv);
	while ((conn = LIST_FIRST(&srv->conns)) != NULL) {
		conn_close(conn);
		conn->srv = NULL;
		if (conn->ncalls == 0) {
			event_free(conn->kick);
			free(conn);
		}
	}
	if (srv->accept_pause != NULL)
		event_free(srv->accept_pause);
	free(srv->path);
	free(srv);
}

void
rpc_server_set_max_clients(struct rpc_server *srv, int n)
{
	srv->max_clients = n;
}

int
rpc_server_nclients(const struct rpc_server *srv)
{
	return srv->nclients;
}
