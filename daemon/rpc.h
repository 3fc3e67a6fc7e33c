/*
 * The control socket: a Unix stream listener speaking length-prefixed
 * msgpack-rpc.  Each connection's role comes from SO_PEERCRED at accept.
 * Handlers are rows of a method table; they may answer at once or later.
 */
#ifndef CERTFLEET_RPC_H
#define CERTFLEET_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "metrics.h"

struct event_base;
struct rpc_server;
struct rpc_call;

enum rpc_role {
	RPC_ROLE_NONE = 0,	/* may connect, may do nothing */
	RPC_ROLE_MONITOR,	/* the monitor socket: reads, never a change */
	RPC_ROLE_OPERATOR,	/* the socket's group: all but secrets */
	RPC_ROLE_ADMIN,		/* root or the daemon's own uid */
};

/* params is a map (empty when the request had none). */
typedef void	 rpc_handler(struct rpc_call *call, const msgpack_object *params);

struct rpc_method {
	const char	*name;
	rpc_handler	*handler;
	enum rpc_role	 role;		/* least role allowed to call it */
	const char	*summary;
};

/* Called with (done, done_arg) before a reply leaves: done runs once durable. */
typedef void	 rpc_durable_cb(int ok, void *arg);
typedef void	 rpc_barrier_fn(void *ctx, rpc_durable_cb *done, void *done_arg);

/* Counted for /metrics; owned by the caller, shared by its servers. */
struct rpc_stats {
	struct mcounters	 requests;	/* {method, code} */
	struct mcounters	 durations;	/* {method}: seconds to answer */
};

struct rpc_server_conf {
	const char		*path;
	gid_t			 group;		/* operators' group */
	int			 mode;		/* 0: 0660 */
	int			 monitor;	/* every peer gets RPC_ROLE_MONITOR */
	struct rpc_stats	*stats;		/* NULL: not counted */
	int			 max_clients;
	const struct rpc_method	*methods;	/* terminated by a NULL name */
	void			*ctx;		/* handed to handlers */
	rpc_barrier_fn		*barrier;	/* NULL: replies leave at once */
};

void		 rpc_stats_init(struct rpc_stats *st);
void		 rpc_stats_free(struct rpc_stats *st);

/*
 * Binds the socket (mode 0660 or conf->mode, group conf->group) and starts accepting.  The
 * caller must hold the state lock: an existing file at path is removed.
 */
struct rpc_server *rpc_server_new(struct event_base *base,
		    const struct rpc_server_conf *conf, char *err, size_t errlen);
/* Stops accepting and removes the socket file; calls in flight go on. */
void		 rpc_server_stop_accepting(struct rpc_server *srv);
/* Closes every connection (their pending calls are cancelled) and frees. */
void		 rpc_server_free(struct rpc_server *srv);
void		 rpc_server_set_max_clients(struct rpc_server *srv, int n);
int		 rpc_server_nclients(const struct rpc_server *srv);

/* --- for handlers -------------------------------------------------------- */
void		*rpc_call_ctx(const struct rpc_call *call);
enum rpc_role	 rpc_call_role(const struct rpc_call *call);
const char	*rpc_call_method(const struct rpc_call *call);
/* Whether the client is still there to read an answer. */
int		 rpc_call_connected(const struct rpc_call *call);
/* Bytes queued for the client and not yet taken by its socket: a stream
 * waits while it is high, so a slow reader paces its writer. */
size_t		 rpc_call_backlog(const struct rpc_call *call);

/* Packer for the result value; pack exactly one value, then rpc_call_reply. */
msgpack_packer	*rpc_call_result(struct rpc_call *call);
/* Sends the result once everything written so far is durable; frees call. */
void		 rpc_call_reply(struct rpc_call *call);
/* Sends an error {code, message, details=nil} now; frees call. */
void		 rpc_call_error(struct rpc_call *call, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Stream items: pack one value into the packer, then send it. */
msgpack_packer	*rpc_call_stream_begin(struct rpc_call *call);
void		 rpc_call_stream_send(struct rpc_call *call);

#endif
