/*
 * The client's side of the wire: one blocking connection to certfleetd,
 * requests out, frames in, every frame checked like the daemon checks ours.
 */
#ifndef CERTFLEET_CLIENT_CONN_H
#define CERTFLEET_CLIENT_CONN_H

#include <stdint.h>

#include <msgpack.h>

struct cf_conn;

/* Returns a connection or NULL with err (the daemon is unreachable). */
struct cf_conn	*cf_conn_open(const char *path, char *err, size_t errlen);
void		 cf_conn_close(struct cf_conn *c);

struct cf_reply {
	msgpack_zone	 zone;
	msgpack_object	 result;	/* valid when ok */
	int		 ok;
	int		 code;		/* gRPC status when !ok */
	char		 message[1024];
};

/* Called for each stream item [3, msgid, item] before the answer. */
typedef void	 cf_stream_fn(const msgpack_object *item, void *arg);

/*
 * Sends method(params) where params is packed msgpack (a map) or NULL, and
 * waits for the answer.  Returns 0 with reply filled (check reply->ok), or
 * -1 when the connection failed (err says why).  Free with cf_reply_free.
 */
int	 cf_call(struct cf_conn *c, const char *method, const char *params,
	    size_t plen, cf_stream_fn *stream, void *arg, struct cf_reply *reply,
	    char *err, size_t errlen);
/*
 * cf_call in two halves, so a caller can ask for the next page before it
 * prints this one: cf_send queues the request (its msgid in *msgid), and
 * cf_wait reads until that request's answer.  One request in flight at a
 * time: answers to others are skipped.
 */
int	 cf_send(struct cf_conn *c, const char *method, const char *params,
	    size_t plen, uint32_t *msgid, char *err, size_t errlen);
int	 cf_wait(struct cf_conn *c, uint32_t msgid, cf_stream_fn *stream,
	    void *arg, struct cf_reply *reply, char *err, size_t errlen);
void	 cf_reply_free(struct cf_reply *reply);

#endif
