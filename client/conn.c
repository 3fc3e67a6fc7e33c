/*
 * Blocking client connection.  The daemon's frames are checked with the same
 * wire_check the daemon uses, so a confused peer cannot balloon the client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "certfleet/wire.h"
#include "conn.h"

struct cf_conn {
	int		 fd;
	uint32_t	 next_msgid;
};

struct cf_conn *
cf_conn_open(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct cf_conn *c;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->next_msgid = 1;
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "cannot reach certfleetd at %s: %s", path,
		    strerror(errno));
		if (c->fd != -1)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void
cf_conn_close(struct cf_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int
send_request(struct cf_conn *c, uint32_t msgid, const char *method,
    const char *params, size_t plen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t hdr[WIRE_HDR_LEN];
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, WIRE_REQUEST);
	msgpack_pack_uint32(&pk, msgid);
	wire_pack_str(&pk, method);
	msgpack_pack_array(&pk, params ? 1 : 0);
	if (params != NULL)
		msgpack_sbuffer_write(&sb, params, plen);
	if (sb.size > WIRE_FRAME_MAX) {
		msgpack_sbuffer_destroy(&sb);
		errno = EMSGSIZE;
		return -1;
	}
	wire_put_len(hdr, (uint32_t)sb.size);
	rc = write_all(c->fd, hdr, sizeof(hdr)) == 0 &&
	    write_all(c->fd, sb.data, sb.size) == 0 ? 0 : -1;
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
reply_error(struct cf_reply *r, const msgpack_object *e)
{
	const msgpack_object *code = wire_map_get(e, "code");
	const msgpack_object *msg = wire_map_get(e, "message");

	r->ok = 0;
	r->code = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
	    (int)code->via.u64 : WIRE_UNKNOWN;
	if (msg && msg->type == MSGPACK_OBJECT_STR)
		snprintf(r->message, sizeof(r->message), "%.*s",
		    (int)msg->via.str.size, msg->via.str.ptr);
	else
		snprintf(r->message, sizeof(r->message), "%s",
		    wire_status_name(r->code));
}

int
cf_send(struct cf_conn *c, const char *method, const char *params,
    size_t plen, uint32_t *msgid, char *err, size_t errlen)
{
	*msgid = c->next_msgid++;
	if (send_request(c, *msgid, method, params, plen) == -1) {
		snprintf(err, errlen, "lost the connection to certfleetd: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
cf_call(struct cf_conn *c, const char *method, const char *params, size_t plen,
    cf_stream_fn *stream, void *arg, struct cf_reply *reply, char *err,
    size_t errlen)
{
	uint32_t msgid;

	if (cf_send(c, method, params, plen, &msgid, err, errlen) == -1) {
		memset(reply, 0, sizeof(*reply));
		msgpack_zone_init(&reply->zone, 4096);
		return -1;
	}
	return cf_wait(c, msgid, stream, arg, reply, err, errlen);
}

int
cf_wait(struct cf_conn *c, uint32_t msgid, cf_stream_fn *stream, void *arg,
    struct cf_reply *reply, char *err, size_t errlen)
{
	uint8_t hdr[WIRE_HDR_LEN], *body = NULL;

	memset(reply, 0, sizeof(*reply));
	msgpack_zone_init(&reply->zone, 4096);
	for (;;) {
		msgpack_object msg, *v;
		uint32_t n;

		free(body);
		body = NULL;
		if (read_all(c->fd, hdr, sizeof(hdr)) == -1) {
			snprintf(err, errlen, "certfleetd closed the connection");
			return -1;
		}
		n = wire_get_len(hdr);
		if (n == 0 || n > WIRE_FRAME_MAX || (body = malloc(n)) == NULL ||
		    read_all(c->fd, body, n) == -1) {
			snprintf(err, errlen, "bad or truncated frame from certfleetd");
			free(body);
			return -1;
		}
		if (wire_unpack(body, n, &reply->zone, &msg, err, errlen) == -1)
			break;
		if (msg.type != MSGPACK_OBJECT_ARRAY || msg.via.array.size < 3)
			continue;
		v = msg.via.array.ptr;
		if (v[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    (v[1].via.u64 != msgid && v[1].via.u64 != 0))
			continue;
		if (v[0].via.u64 == WIRE_STREAM && msg.via.array.size == 3) {
			if (stream != NULL)
				stream(&v[2], arg);
			continue;
		}
		if (v[0].via.u64 != WIRE_RESPONSE || msg.via.array.size != 4)
			continue;
		if (v[2].type != MSGPACK_OBJECT_NIL)
			reply_error(reply, &v[2]);
		else {
			reply->ok = 1;
			reply->result = v[3];
		}
		/* Strings point into body: it lives as long as the reply. */
		msgpack_zone_push_finalizer(&reply->zone, free, body);
		return 0;
	}
	free(body);
	return -1;
}

void
cf_reply_free(struct cf_reply *reply)
{
	msgpack_zone_destroy(&reply->zone);
}
