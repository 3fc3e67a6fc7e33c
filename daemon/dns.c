/*
 * c-ares 1.18 has no event thread and no ares_process_fds: its sockets are
 * watched here through ARES_OPT_SOCK_STATE_CB, one libevent event per socket,
 * and one timer from ares_timeout().
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <ares.h>
#include <event2/event.h>

#include "dns.h"
#include "log.h"

struct dns_sock {
	ares_socket_t		 fd;
	struct event		*ev;
	struct dns		*dns;
	LIST_ENTRY(dns_sock)	 entry;
};

enum dns_req_kind {
	REQ_ADDRS,		/* dns_resolve */
	REQ_CNAME,		/* dns_cname */
};

enum dns_req_state {
	REQ_STARTING,		/* inside ares_*: an answer now must wait */
	REQ_ASKING,		/* c-ares has the question */
	REQ_ANSWERED,		/* answered while STARTING; delivery queued */
};

struct dns_req {
	struct dns		*dns;
	enum dns_req_kind	 kind;
	enum dns_req_state	 state;
	int			 cancelled;	/* any state: discard the answer */
	union {
		dns_addr_cb	*addrs;
		dns_cname_cb	*cname;
	}			 cb;
	void			*arg;
	/* REQ_ADDRS */
	enum dns_status		 status;
	const char		*why;
	struct sockaddr_storage	 addrs[DNS_ADDRS_MAX];
	size_t			 naddrs;
	/* REQ_CNAME */
	enum dns_cname_status	 cstatus;
	char			 qname[DNS_NAME_TEXT_MAX];
	char			 target[DNS_NAME_TEXT_MAX];
	char			 whybuf[768];
	LIST_ENTRY(dns_req)	 entry;
};

struct dns {
	struct event_base	*base;
	ares_channel		 channel;
	struct event		*timer;
	int			 freeing;
	LIST_HEAD(, dns_sock)	 socks;
	LIST_HEAD(, dns_req)	 reqs;
};

static void dns_rearm(struct dns *dns);

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock *s = arg;
	struct dns *dns = s->dns;

	ares_process_fd(dns->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_rearm(dns);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;

	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm(dns);
}

/* Sets the timer to c-ares' next deadline, if it has queries pending. */
static void
dns_rearm(struct dns *dns)
{
	struct timeval tv, *tvp;

	if (dns->freeing)
		return;
	tvp = ares_timeout(dns->channel, NULL, &tv);
	if (tvp == NULL)
		evtimer_del(dns->timer);
	else
		evtimer_add(dns->timer, tvp);
}

static struct dns_sock *
sock_find(struct dns *dns, ares_socket_t fd)
{
	struct dns_sock *s;

	LIST_FOREACH(s, &dns->socks, entry)
		if (s->fd == fd)
			return s;
	return NULL;
}

/* c-ares says which sockets it wants watched, and for what. */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *dns = data;
	struct dns_sock *s = sock_find(dns, fd);
	short what = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	if (s != NULL) {
		event_free(s->ev);
		s->ev = NULL;
		if (what == 0) {
			LIST_REMOVE(s, entry);
			free(s);
			return;
		}
	} else {
		if (what == 0)
			return;
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			log_error("dns: out of memory watching a socket");
			return;
		}
		s->fd = fd;
		s->dns = dns;
		LIST_INSERT_HEAD(&dns->socks, s, entry);
	}
	s->ev = event_new(dns->base, fd, what | EV_PERSIST, sock_event_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		log_error("dns: cannot watch socket %d", (int)fd);
}

struct dns *
dns_new(struct event_base *base, const char *const *servers, size_t n,
    int timeout_ms, char *err, size_t errlen)
{
	struct ares_options opts = { 0 };
	struct dns *dns;
	char csv[1024] = "";
	int rc;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	if ((dns = calloc(1, sizeof(*dns))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dns->base = base;
	LIST_INIT(&dns->socks);
	LIST_INIT(&dns->reqs);
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = dns;
	opts.timeout = timeout_ms;
	opts.tries = 2;
	rc = ares_init_options(&dns->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(dns);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(csv, ",", sizeof(csv) - strlen(csv) - 1);
		strncat(csv, servers[i], sizeof(csv) - strlen(csv) - 1);
	}
	if (n > 0 && (rc = ares_set_servers_ports_csv(dns->channel, csv)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "dns-resolver '%s': %s", csv,
		    ares_strerror(rc));
		dns_free(dns);
		return NULL;
	}
	if ((dns->timer = evtimer_new(base, timer_cb, dns)) == NULL) {
		snprintf(err, errlen, "out of memory");
		dns_free(dns);
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns *dns)
{
	struct dns_sock *s;

	if (dns == NULL)
		return;
	/* ares_destroy runs every pending callback with ARES_EDESTRUCTION. */
	ares_destroy(dns->channel);
	dns->freeing = 1;
	while ((s = LIST_FIRST(&dns->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		if (s->ev)
			event_free(s->ev);
		free(s);
	}
	if (dns->timer)
		event_free(dns->timer);
	free(dns);
	ares_library_cleanup();
}

static enum dns_status
status_from_ares(int rc)
{
	switch (rc) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return DNS_NOT_FOUND;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	default:
		return DNS_FAILED;
	}
}

static void
req_deliver(struct dns_req *req)
{
	if (!req->cancelled && req->kind == REQ_ADDRS)
		req->cb.addrs(req->status, req->naddrs ? req->addrs : NULL,
		    req->naddrs, req->why, req->arg);
	else if (!req->cancelled)
		req->cb.cname(req->cstatus, req->cstatus == DNS_CNAME_FOUND ?
		    req->target : NULL, req->whybuf, req->arg);
	free(req);
}

static void
deliver_later_cb(evutil_socket_t fd, short what, void *arg)
{
	req_deliver(arg);
}

/* c-ares answered: deliver now, or from the loop if still inside the ask. */
static void
req_answered(struct dns_req *req)
{
	LIST_REMOVE(req, entry);
	if (req->state == REQ_STARTING) {
		req->state = REQ_ANSWERED;
		return;
	}
	req_deliver(req);
}

static struct dns_req *
req_new(struct dns *dns, enum dns_req_kind kind, void *arg)
{
	struct dns_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->dns = dns;
	req->kind = kind;
	req->state = REQ_STARTING;
	req->arg = arg;
	LIST_INSERT_HEAD(&dns->reqs, req, entry);
	return req;
}

/*
 * After the ares_* call: an answer that came inside it (a cache, a bad
 * name, a destroyed channel) is delivered from the loop, so callers get the
 * handle first and callbacks never run inside their own caller.
 */
static struct dns_req *
req_started(struct dns_req *req)
{
	const struct timeval now = { 0, 0 };
	struct dns *dns = req->dns;

	if (req->state == REQ_STARTING) {
		req->state = REQ_ASKING;
	} else if (event_base_once(dns->base, -1, EV_TIMEOUT, deliver_later_cb,
	    req, &now) == -1) {
		free(req);
		return NULL;
	}
	dns_rearm(dns);
	return req;
}

static void
addrinfo_cb(void *arg, int rc, int timeouts, struct ares_addrinfo *res)
{
	struct dns_req *req = arg;

	for (struct ares_addrinfo_node *a = res ? res->nodes : NULL;
	    a != NULL && req->naddrs < DNS_ADDRS_MAX; a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    a->ai_addrlen > sizeof(req->addrs[0]))
			continue;
		memcpy(&req->addrs[req->naddrs++], a->ai_addr, a->ai_addrlen);
	}
	if (rc == ARES_SUCCESS && req->naddrs == 0)
		rc = ARES_ENODATA;
	if (rc != ARES_SUCCESS)
		req->naddrs = 0;
	req->status = status_from_ares(rc);
	req->why = ares_strerror(rc);
	if (res != NULL)
		ares_freeaddrinfo(res);
	req_answered(req);
}

struct dns_req *
dns_resolve(struct dns *dns, const char *name, dns_addr_cb *cb, void *arg)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC,
	    .ai_flags = ARES_AI_NOSORT };
	struct dns_req *req = req_new(dns, REQ_ADDRS, arg);

	if (req == NULL)
		return NULL;
	req->cb.addrs = cb;
	ares_getaddrinfo(dns->channel, name, NULL, &hints, addrinfo_cb, req);
	return req_started(req);
}

void
dns_cancel(struct dns_req *req)
{
	req->cancelled = 1;
}

/* --- CNAME polls -------------------------------------------------------------- */

#define DNS_HEADER_LEN	12
#define DNS_NAME_WIRE_MAX 255
#define DNS_TYPE_CNAME	5
#define DNS_CLASS_IN	1

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Appends one label's bytes in presentation form, lowercased. */
static int
label_text(const unsigned char *l, size_t n, char *out, size_t outlen,
    size_t *used)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = l[i];
		char esc[5];
		size_t k;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c > 0x20 && c < 0x7f && c != '.' && c != '\\' && c != '"' &&
		    c != '(' && c != ')' && c != ';' && c != '@' && c != '$') {
			esc[0] = (char)c;
			k = 1;
		} else if (c > 0x20 && c < 0x7f) {
			esc[0] = '\\';
			esc[1] = (char)c;
			k = 2;
		} else
			k = (size_t)snprintf(esc, sizeof(esc), "\\%03u", c);
		if (*used + k >= outlen)
			return -1;
		memcpy(out + *used, esc, k);
		*used += k;
	}
	out[*used] = '\0';
	return 0;
}

int
dns_name_read(const unsigned char *msg, size_t len, size_t *off, char *out,
    size_t outlen)
{
	size_t pos = *off, wire = 0, used = 0, next = 0, lowest = *off;
	int jumped = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (;;) {
		if (pos >= len)
			return -1;
		if ((msg[pos] & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len)
				return -1;
			to = (size_t)(msg[pos] & 0x3f) << 8 | msg[pos + 1];
			/* Only backwards, before anything this name has read
			 * so far: every byte is read at most once, no loops. */
			if (to >= lowest)
				return -1;
			lowest = to;
			if (!jumped)
				next = pos + 2;
			jumped = 1;
			pos = to;
			continue;
		}
		if ((msg[pos] & 0xc0) != 0)
			return -1;	/* 0x40 and 0x80: obsolete label types */
		size_t n = msg[pos];
		wire += n + 1;
		if (wire > DNS_NAME_WIRE_MAX)
			return -1;
		if (n == 0)
			break;
		if (pos + 1 + n > len)
			return -1;
		if (used > 0) {
			if (used + 1 >= outlen)
				return -1;
			out[used++] = '.';
		}
		if (label_text(msg + pos + 1, n, out, outlen, &used) == -1)
			return -1;
		pos += 1 + n;
	}
	*off = jumped ? next : pos + 1;
	return 0;
}

/*
 * name lowercased and without its final dot, for comparing with answers;
 * -1 for an empty name or label.
 */
static int
name_normalize(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen || name[0] == '.' || name[n - 1] == '.' ||
	    memmem(name, n, "..", 2) != NULL)
		return -1;	/* an empty label */
	for (size_t i = 0; i < n; i++)
		out[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	out[n] = '\0';
	return 0;
}

static const char *
rcode_name(unsigned rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL",
	    "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
	    "NOTAUTH", "NOTZONE" };

	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] :
	    "an unknown error code";
}

enum dns_cname_status
dns_cname_parse(const unsigned char *msg, size_t len, const char *qname,
    char *target, size_t targetlen, char *why, size_t whylen)
{
	char want[DNS_NAME_TEXT_MAX], owner[DNS_NAME_TEXT_MAX];
	unsigned rcode, qdcount, ancount;
	size_t off = DNS_HEADER_LEN;
	int found = 0;

	if (targetlen > 0)
		target[0] = '\0';
	if (name_normalize(qname, want, sizeof(want)) == -1) {
		snprintf(why, whylen, "'%.300s' is not a name to ask about", qname);
		return DNS_CNAME_FAILED;
	}
	if (len < DNS_HEADER_LEN || !(msg[2] & 0x80)) {
		snprintf(why, whylen, "the resolver's answer for %.300s is not a "
		    "DNS response", want);
		return DNS_CNAME_FAILED;
	}
	rcode = msg[3] & 0x0f;
	qdcount = get16(msg + 4);
	ancount = get16(msg + 6);
	if (qdcount != 1 || dns_name_read(msg, len, &off, owner,
	    sizeof(owner)) == -1 || off + 4 > len ||
	    strcmp(owner, want) != 0 || get16(msg + off) != DNS_TYPE_CNAME) {
		snprintf(why, whylen, "the resolver's answer for %.300s does not "
		    "carry the question asked", want);
		return DNS_CNAME_FAILED;
	}
	off += 4;
	if (rcode == 3) {
		snprintf(why, whylen, "%.300s does not exist (NXDOMAIN)", want);
		return DNS_CNAME_NXDOMAIN;
	}
	if (rcode != 0) {
		snprintf(why, whylen, "the resolver answered %s for %.300s",
		    rcode_name(rcode), want);
		return DNS_CNAME_FAILED;
	}
	/* Each record is at least 11 bytes, so the walk ends with the message. */
	for (unsigned i = 0; i < ancount; i++) {
		unsigned type, class, rdlen;
		size_t rdata;

		if (dns_name_read(msg, len, &off, owner, sizeof(owner)) == -1 ||
		    off + 10 > len)
			goto malformed;
		type = get16(msg + off);
		class = get16(msg + off + 2);
		rdlen = get16(msg + off + 8);
		rdata = off + 10;
		if (rdata + rdlen > len)
			goto malformed;
		off = rdata + rdlen;
		if (type != DNS_TYPE_CNAME || class != DNS_CLASS_IN ||
		    strcmp(owner, want) != 0)
			continue;
		/* The target must lie inside its own record's data. */
		size_t toff = rdata;
		if (dns_name_read(msg, rdata + rdlen, &toff, owner,
		    sizeof(owner)) == -1 || toff != rdata + rdlen)
			goto malformed;
		if (found && strcmp(owner, target) != 0) {
			snprintf(why, whylen, "%.300s has several CNAME records "
			    "(%.200s, %.200s)", want, target, owner);
			return DNS_CNAME_FAILED;
		}
		if (owner[0] == '\0' || strlen(owner) >= targetlen)
			goto malformed;
		memcpy(target, owner, strlen(owner) + 1);
		found = 1;
	}
	if (found) {
		snprintf(why, whylen, "%.300s is a CNAME to %.300s", want, target);
		return DNS_CNAME_FOUND;
	}
	snprintf(why, whylen, "%.300s exists but has no CNAME record", want);
	return DNS_CNAME_NONE;
malformed:
	if (targetlen > 0)
		target[0] = '\0';
	snprintf(why, whylen, "the resolver's answer for %.300s is malformed",
	    want);
	return DNS_CNAME_FAILED;
}

static void
cname_cb(void *arg, int rc, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *req = arg;
	char *why = req->whybuf;
	size_t whylen = sizeof(req->whybuf);

	/* An answer message decides, whatever c-ares made of its rcode. */
	if (abuf != NULL && alen > 0 && rc != ARES_ECANCELLED &&
	    rc != ARES_EDESTRUCTION)
		req->cstatus = dns_cname_parse(abuf, (size_t)alen, req->qname,
		    req->target, sizeof(req->target), why, whylen);
	else if (rc == ARES_ENOTFOUND) {
		req->cstatus = DNS_CNAME_NXDOMAIN;
		snprintf(why, whylen, "%.300s does not exist (NXDOMAIN)",
		    req->qname);
	} else if (rc == ARES_ENODATA) {
		req->cstatus = DNS_CNAME_NONE;
		snprintf(why, whylen, "%.300s exists but has no CNAME record",
		    req->qname);
	} else if (rc == ARES_ETIMEOUT) {
		req->cstatus = DNS_CNAME_TIMEOUT;
		snprintf(why, whylen, "no resolver answered for %.300s in time",
		    req->qname);
	} else {
		req->cstatus = DNS_CNAME_FAILED;
		snprintf(why, whylen, "looking up the CNAME at %.300s failed: %s",
		    req->qname, ares_strerror(rc));
	}
	req_answered(req);
}

struct dns_req *
dns_cname(struct dns *dns, const char *name, dns_cname_cb *cb, void *arg)
{
	struct dns_req *req = req_new(dns, REQ_CNAME, arg);

	if (req == NULL)
		return NULL;
	req->cb.cname = cb;
	if (name_normalize(name, req->qname, sizeof(req->qname)) == -1 ||
	    strlen(req->qname) > 253) {
		/* Answered like any other, from the loop. */
		req->cstatus = DNS_CNAME_FAILED;
		snprintf(req->whybuf, sizeof(req->whybuf), "'%.300s' is not a "
		    "name to ask about", name);
		LIST_REMOVE(req, entry);
		req->state = REQ_ANSWERED;
		return req_started(req);
	}
	ares_query(dns->channel, req->qname, DNS_CLASS_IN, DNS_TYPE_CNAME,
	    cname_cb, req);
	return req_started(req);
}
