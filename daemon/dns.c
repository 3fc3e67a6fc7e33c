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

struct dns_req {
	struct dns		*dns;
	dns_addr_cb		*cb;
	void			*arg;
	int			 cancelled;
	int			 starting;	/* inside ares_getaddrinfo */
	int			 answered;
	enum dns_status		 status;
	const char		*why;
	struct sockaddr_storage	 addrs[DNS_ADDRS_MAX];
	size_t			 naddrs;
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
	if (!req->cancelled)
		req->cb(req->status, req->naddrs ? req->addrs : NULL, req->naddrs,
		    req->why, req->arg);
	free(req);
}

static void
deliver_later_cb(evutil_socket_t fd, short what, void *arg)
{
	req_deliver(arg);
}

static void
addrinfo_cb(void *arg, int rc, int timeouts, struct ares_addrinfo *res)
{
	struct dns_req *req = arg;

	LIST_REMOVE(req, entry);
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
	req->answered = 1;
	/* An answer inside dns_resolve waits for the loop: callers get the
	 * handle first, and callbacks never run inside their own caller. */
	if (!req->starting)
		req_deliver(req);
}

struct dns_req *
dns_resolve(struct dns *dns, const char *name, dns_addr_cb *cb, void *arg)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC,
	    .ai_flags = ARES_AI_NOSORT };
	struct dns_req *req = calloc(1, sizeof(*req));
	const struct timeval now = { 0, 0 };

	if (req == NULL)
		return NULL;
	req->dns = dns;
	req->cb = cb;
	req->arg = arg;
	req->starting = 1;
	LIST_INSERT_HEAD(&dns->reqs, req, entry);
	ares_getaddrinfo(dns->channel, name, NULL, &hints, addrinfo_cb, req);
	req->starting = 0;
	if (req->answered &&
	    event_base_once(dns->base, -1, EV_TIMEOUT, deliver_later_cb, req,
	    &now) == -1) {
		free(req);
		return NULL;
	}
	dns_rearm(dns);
	return req;
}

void
dns_cancel(struct dns_req *req)
{
	req->cancelled = 1;
}
