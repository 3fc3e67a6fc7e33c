/*
 * The monitoring HTTP listener.  evhttp parses requests; what it lacks in
 * libevent 2.1 is a bound on connections.  Each connection's bufferevent is
 * made here (evhttp_set_bevcb) and we keep a reference to it: evhttp's
 * bufferevent_free() clears its callbacks, which a sweep notices, and only
 * then does our reference close the socket and count the connection gone.
 * (A pass-through filter with a free callback would be simpler, but in
 * 2.1.12 a filter under evhttp is used after free when a reply closes the
 * connection: valgrind shows it with a 20-line evhttp program.)  Pacing
 * needs nothing more: a chunk's "written" callback runs once the socket
 * took the whole output, so a scrape holds at most a chunk per reader.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "config.h"
#include "daemon.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "scrape.h"
#include "store.h"

#define HTTPD_HEADERS_MAX	8192
#define HTTPD_IDLE_SECS		30
#define HTTPD_CHUNK		(64 * 1024)	/* send when this much is ready */
#define HTTPD_SWEEP_MS		500	/* how soon a closed connection counts */
#define HTTPD_TURN_NS		8000000L	/* scrape work per turn: < a slice */
#define HTTPD_READ_MAX		(2 * HTTPD_HEADERS_MAX)	/* unread input held */
#define HTTPD_ALLOW_MAX		64
#define HTTPD_LISTEN_MAX	16

struct cidr {
	int		 family;
	unsigned char	 addr[16];
	int		 bits;
};

/* A connection: its bufferevent, shared with evhttp until it lets go. */
struct hconn {
	struct httpd		*h;
	struct bufferevent	*bev;		/* our reference */
	struct event		*vet;		/* its peer checked once accepted */
	LIST_ENTRY(hconn)	 entry;
};

enum job_state {
	JOB_PRODUCING,		/* next part due from the loop */
	JOB_WRITING,		/* a chunk is with the reader */
};

/* One /metrics reply under way. */
struct scrape_job {
	struct httpd		*h;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct scrape		*scrape;
	struct evbuffer		*buf;
	struct event		*next;
	enum job_state		 state;
	LIST_ENTRY(scrape_job)	 entry;
};

struct httpd {
	struct daemon		*d;
	struct evhttp		*http;
	struct evhttp_bound_socket *bound[HTTPD_LISTEN_MAX];
	size_t			 nbound;
	struct cidr		 allow[HTTPD_ALLOW_MAX];
	size_t			 nallow;
	int			 max_conns;
	int			 nconns;
	int			 paused;	/* listeners off: at the bound */
	struct event		*sweep;		/* finds connections evhttp freed */
	LIST_HEAD(, hconn)	 conns;
	LIST_HEAD(, scrape_job)	 jobs;
};

/* --- addresses ----------------------------------------------------------- */

int
httpd_parse_listen(const char *s, char *addr, size_t addrlen, int *port,
    char *err, size_t errlen)
{
	const char *colon, *host = s;
	size_t hlen;
	char *end;
	long p;
	unsigned char buf[16];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= addrlen)
		goto bad;
	memcpy(addr, host, hlen);
	addr[hlen] = '\0';
	if (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1)
		goto bad;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p < 1 ||
	    p > 65535)
		goto bad;
	*port = (int)p;
	return 0;
bad:
	snprintf(err, errlen, "http-listen: '%s' is not ADDR:PORT (an IP "
	    "address, [v6]:PORT for IPv6, a port 1..65535)", s);
	return -1;
}

static int
cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen)
{
	char addr[64], *end;
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	long bits;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		goto bad;
	bits = c->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		long max = bits;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || end == slash + 1 || *end != '\0' || bits < 0 ||
		    bits > max)
			goto bad;
	}
	c->bits = (int)bits;
	return 0;
bad:
	snprintf(err, errlen, "http-allow: '%s' is not an address or CIDR "
	    "(192.0.2.0/24, 2001:db8::/32)", s);
	return -1;
}

static int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const unsigned char *a;
	unsigned char mapped[16];
	int family = sa->sa_family, full, rest;

	if (family == AF_INET)
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		a = (const unsigned char *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* A v4-mapped peer on a dual-stack socket is a v4 peer. */
		if (c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			memcpy(mapped, a + 12, 4);
			a = mapped;
			family = AF_INET;
		}
	} else
		return 0;
	if (family != c->family)
		return 0;
	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 ||
	    ((a[full] ^ c->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int
allow_load(const struct config *cfg, struct cidr *allow, size_t *nallow,
    char *err, size_t errlen)
{
	static const char *const loopback[] = { "127.0.0.0/8", "::1/128" };
	const char *const *list = (const char *const *)cfg->http_allow;
	size_t n = cfg->nhttp_allow;

	if (n == 0) {
		list = loopback;
		n = 2;
	}
	if (n > HTTPD_ALLOW_MAX) {
		snprintf(err, errlen, "http-allow: at most %d", HTTPD_ALLOW_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (cidr_parse(list[i], &allow[i], err, errlen) == -1)
			return -1;
	*nallow = n;
	return 0;
}

static int
addr_allowed(const struct httpd *h, const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	for (size_t i = 0; i < h->nallow; i++)
		if (cidr_match(&h->allow[i], sa))
			return 1;
	return 0;
}

static int
peer_allowed(const struct httpd *h, struct evhttp_connection *evcon)
{
	return addr_allowed(h, evhttp_connection_get_addr(evcon));
}

int
httpd_check_config(const struct config *cfg, char *err, size_t errlen)
{
	struct cidr allow[HTTPD_ALLOW_MAX];
	size_t nallow;
	char addr[64];
	int port;

	if (cfg->nhttp_listen > HTTPD_LISTEN_MAX) {
		snprintf(err, errlen, "http-listen: at most %d",
		    HTTPD_LISTEN_MAX);
		return -1;
	}
	for (size_t i = 0; i < cfg->nhttp_listen; i++)
		if (httpd_parse_listen(cfg->http_listen[i], addr, sizeof(addr),
		    &port, err, errlen) == -1)
			return -1;
	return allow_load(cfg, allow, &nallow, err, errlen);
}

/* --- connections --------------------------------------------------------- */

static void listeners_enable(struct httpd *h, int on);
static void sweep_arm(struct httpd *h);

/*
 * The servers of this process, found by their evhttp: evhttp hands its
 * listeners its own pointer as their argument, so an accept error callback
 * has nothing else to find its server by.  One per daemon in practice.
 */
#define HTTPD_SERVERS_MAX	4
static struct httpd *servers[HTTPD_SERVERS_MAX];

/*
 * Out of descriptors the listening socket stays readable: without a pause
 * the loop would spin on accept() at a priority above the probes whose
 * sockets would free some.  Paused here, the sweep timer resumes it.
 */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	for (size_t i = 0; i < HTTPD_SERVERS_MAX; i++) {
		struct httpd *h = servers[i];

		if (h == NULL || (void *)h->http != arg)
			continue;
		log_warn("http: accept failed: %s; pausing new connections",
		    strerror(EVUTIL_SOCKET_ERROR()));
		listeners_enable(h, 0);
		sweep_arm(h);
		return;
	}
	evconnlistener_disable(l);	/* not ours: never left spinning */
}

static void
listeners_enable(struct httpd *h, int on)
{
	for (size_t i = 0; i < h->nbound; i++) {
		struct evconnlistener *l =
		    evhttp_bound_socket_get_listener(h->bound[i]);

		if (on)
			evconnlistener_enable(l);
		else
			evconnlistener_disable(l);
	}
	h->paused = !on;
}

static void
hconn_free(struct hconn *c)
{
	if (c->vet != NULL)
		event_free(c->vet);
	bufferevent_decref(c->bev);
	free(c);
}

/*
 * Right after the accept (evhttp has set the socket by then): a peer
 * outside http-allow is cut off at once, so idle connections from
 * strangers cannot hold the connection slots until the idle timeout.
 */
static void
vet_cb(evutil_socket_t unused, short what, void *arg)
{
	struct hconn *c = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    !addr_allowed(c->h, (struct sockaddr *)&ss))
		shutdown(fd, SHUT_RDWR);	/* evhttp sees the end */
}

static void
sweep_arm(struct httpd *h)
{
	struct timeval tv = { 0, HTTPD_SWEEP_MS * 1000 };

	if (!evtimer_pending(h->sweep, NULL))
		evtimer_add(h->sweep, &tv);
}

/* Drops our reference to every bufferevent evhttp has freed (its
 * callbacks cleared): that closes the socket. */
static void
sweep_now(struct httpd *h)
{
	struct hconn *c, *next;

	for (c = LIST_FIRST(&h->conns); c != NULL; c = next) {
		bufferevent_data_cb r, w;
		bufferevent_event_cb e;

		next = LIST_NEXT(c, entry);
		bufferevent_getcb(c->bev, &r, &w, &e, NULL);
		if (r != NULL || w != NULL || e != NULL)
			continue;
		LIST_REMOVE(c, entry);
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		hconn_free(c);
		h->nconns--;
	}
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	sweep_now(h);
	if (h->paused && h->nconns < h->max_conns)
		listeners_enable(h, 1);	/* also after an accept error */
	if (h->nconns > 0)
		sweep_arm(h);
}

/* evhttp asks for each accepted connection's bufferevent (fd set later). */
static struct bufferevent *
conn_bev(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	struct hconn *c;

	/* At the bound, count the ones evhttp let go since the last sweep
	 * first (the new one is not on the list yet: its callbacks are not
	 * set, it would look released). */
	if (h->nconns + 1 >= h->max_conns)
		sweep_now(h);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;	/* evhttp makes a plain one: uncounted */
	if ((c->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		return NULL;
	}
	if ((c->vet = evtimer_new(base, vet_cb, c)) == NULL) {
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	c->h = h;
	event_active(c->vet, EV_TIMEOUT, 0);
	bufferevent_priority_set(c->bev, PRIO_BULK);
	/* While a reply streams evhttp reads nothing: hold at most this. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTPD_READ_MAX);
	bufferevent_incref(c->bev);
	LIST_INSERT_HEAD(&h->conns, c, entry);
	sweep_arm(h);
	/* Already accepted: the bound applies to the next ones. */
	if (++h->nconns >= h->max_conns && !h->paused) {
		log_warn("http: %d connections, the limit; new ones wait",
		    h->nconns);
		listeners_enable(h, 0);
	}
	return c->bev;
}

/* --- /metrics ------------------------------------------------------------ */

static void job_next_cb(evutil_socket_t fd, short what, void *arg);

static void
job_free(struct scrape_job *j)
{
	LIST_REMOVE(j, entry);
	if (j->evcon != NULL)
		evhttp_connection_set_closecb(j->evcon, NULL, NULL);
	scrape_free(j->scrape);
	evbuffer_free(j->buf);
	event_free(j->next);
	free(j);
}

/* The connection is going: the reply cannot finish. */
static void
job_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct scrape_job *j = arg;

	log_debug("http: /metrics reader went away mid-reply");
	j->evcon = NULL;
	/* Detached from a failed connection, the request is ours to free;
	 * still attached, the connection frees it next. */
	if (evhttp_request_get_connection(j->req) == NULL)
		evhttp_send_reply_end(j->req);
	job_free(j);
}

/*
 * The next turn of a scrape.  It runs above the probes, so a probe storm
 * cannot stretch a 0.6 s scrape past a scraper's timeout (at probe
 * priority, behind thousands of ready probes: 28 s).  But libevent runs
 * only the highest non-empty priority a turn, so when other work is ready
 * the scrape waits a millisecond on a timer: the loop then gives the
 * probes a slice (10 ms) before the scrape's next 8 ms.
 */
static void
job_continue(struct scrape_job *j)
{
	struct timeval yield = { 0, 1000 };

	if (event_base_get_num_events(j->h->d->base, EVENT_BASE_COUNT_ACTIVE) >
	    0)
		evtimer_add(j->next, &yield);
	else
		event_active(j->next, EV_TIMEOUT, 0);
}

static void
job_written_cb(struct evhttp_connection *evcon, void *arg)
{
	struct scrape_job *j = arg;

	j->state = JOB_PRODUCING;
	job_continue(j);
}

/* A store error after the status line went out: cut the reply short, so
 * the scraper sees a failed scrape, never a partial one as whole. */
static void
job_abort(struct scrape_job *j, const char *why)
{
	struct evhttp_connection *evcon = j->evcon;

	log_error("http: /metrics failed: %s", why);
	j->evcon = NULL;
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	job_free(j);
	evhttp_connection_free(evcon);	/* frees the request with it */
}

static void
job_next_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scrape_job *j = arg;
	struct timespec t0, now;
	char err[256];
	int rc;

	/* Steps (a page of rows each) for a few milliseconds a turn: one step
	 * a turn let a probe storm stretch a 1 s scrape past a minute; more
	 * than this would hold answers up. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		rc = scrape_step(j->scrape, j->buf, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (rc == 1 && evbuffer_get_length(j->buf) < HTTPD_CHUNK &&
	    (now.tv_sec - t0.tv_sec) * 1000000000L + now.tv_nsec - t0.tv_nsec <
	    HTTPD_TURN_NS);
	if (rc == -1) {
		job_abort(j, err);
		return;
	}
	if (rc == 1 && evbuffer_get_length(j->buf) < HTTPD_CHUNK) {
		job_continue(j);
		return;
	}
	if (rc == 0) {
		struct evhttp_request *req = j->req;

		/* Ending the reply may free the connection at once (a reply
		 * that closes it): the job lets go of it first. */
		if (evbuffer_get_length(j->buf) > 0)
			evhttp_send_reply_chunk(req, j->buf);
		job_free(j);
		evhttp_send_reply_end(req);
		return;
	}
	j->state = JOB_WRITING;
	evhttp_send_reply_chunk_with_cb(j->req, j->buf, job_written_cb, j);
}

static void
serve_metrics(struct httpd *h, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *accept = evhttp_find_header(in, "Accept");
	int om = mw_wants_openmetrics(accept);
	struct scrape_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->buf = evbuffer_new()) == NULL ||
	    (j->next = event_new(h->d->base, -1, 0, job_next_cb, j)) == NULL ||
	    (j->scrape = scrape_new(h->d, om)) == NULL) {
		if (j != NULL) {
			if (j->buf != NULL)
				evbuffer_free(j->buf);
			if (j->next != NULL)
				event_free(j->next);
			free(j);
		}
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	/* Above the probes, yielding to them: see job_continue(). */
	event_priority_set(j->next, PRIO_DEFAULT);
	j->h = h;
	j->req = req;
	j->evcon = evhttp_request_get_connection(req);
	LIST_INSERT_HEAD(&h->jobs, j, entry);
	evhttp_connection_set_closecb(j->evcon, job_closed_cb, j);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", om ? MW_CONTENT_TYPE_OPENMETRICS :
	    MW_CONTENT_TYPE_TEXT);
	/* An HTTP/1.0 reader gets no chunks and no length: only the close
	 * ends its body.  A scrape a few seconds apart loses nothing by it. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	/* An HTTP/1.0 "Connection: keep-alive" would make evhttp announce a
	 * Content-Length of 0 before the first chunk: the close is the end. */
	evhttp_remove_header(in, "Connection");
	evhttp_send_reply_start(req, 200, "OK");
	j->state = JOB_PRODUCING;
	event_active(j->next, EV_TIMEOUT, 0);
}

/* --- requests ------------------------------------------------------------ */

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	if (b != NULL)
		evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void
serve_healthz(struct httpd *h, struct evhttp_request *req)
{
	struct store_counts c;

	/* The loop answered; the store must too. */
	if (store_counts(h->d->store, &c) == -1)
		reply_text(req, 503, "Service Unavailable", "store unavailable");
	else
		reply_text(req, 200, "OK", "ok");
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (!peer_allowed(h, evcon)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		reply_text(req, 403, "Forbidden", "not in http-allow");
		return;
	}
	if ((path == NULL || strcmp(path, "/metrics") == 0) &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		/* evhttp sends no body for HEAD and would never call back on a
		 * chunk: the headers alone, without walking the store. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", mw_wants_openmetrics(evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Accept")) ?
		    MW_CONTENT_TYPE_OPENMETRICS : MW_CONTENT_TYPE_TEXT);
		evhttp_send_reply(req, 200, "OK", NULL);
	} else if (path == NULL || strcmp(path, "/metrics") == 0)
		serve_metrics(h, req);
	else if (strcmp(path, "/healthz") == 0)
		serve_healthz(h, req);
	else if (strcmp(path, "/") == 0)
		reply_text(req, 200, "OK", "certfleetd: /metrics, /healthz");
	else
		reply_text(req, 404, "Not Found", "not found: /metrics, "
		    "/healthz");
}

/* --- the server ---------------------------------------------------------- */

struct httpd *
httpd_new(struct daemon *d, char *err, size_t errlen)
{
	struct config *cfg = d->cfg;
	struct httpd *h = calloc(1, sizeof(*h));

	if (h == NULL || (h->http = evhttp_new(d->base)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->d = d;
	h->max_conns = cfg->http_max_connections;
	LIST_INIT(&h->conns);
	LIST_INIT(&h->jobs);
	if ((h->sweep = evtimer_new(d->base, sweep_cb, h)) == NULL) {
		snprintf(err, errlen, "out of memory");
		httpd_free(h);
		return NULL;
	}
	for (size_t i = 0; i < HTTPD_SERVERS_MAX; i++)
		if (servers[i] == NULL) {
			servers[i] = h;
			break;
		}
	if (allow_load(cfg, h->allow, &h->nallow, err, errlen) == -1) {
		httpd_free(h);
		return NULL;
	}
	evhttp_set_bevcb(h->http, conn_bev, h);
	evhttp_set_gencb(h->http, request_cb, h);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->http, HTTPD_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_timeout(h->http, HTTPD_IDLE_SECS);
	for (size_t i = 0; i < cfg->nhttp_listen; i++) {
		char addr[64];
		int port;

		if (h->nbound == sizeof(h->bound) / sizeof(h->bound[0])) {
			snprintf(err, errlen, "http-listen: at most 16");
			httpd_free(h);
			return NULL;
		}
		if (httpd_parse_listen(cfg->http_listen[i], addr, sizeof(addr),
		    &port, err, errlen) == -1) {
			httpd_free(h);
			return NULL;
		}
		if ((h->bound[h->nbound] = evhttp_bind_socket_with_handle(
		    h->http, addr, (ev_uint16_t)port)) == NULL) {
			snprintf(err, errlen, "http-listen %s: cannot listen: %s",
			    cfg->http_listen[i], strerror(errno));
			httpd_free(h);
			return NULL;
		}
		evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(
		    h->bound[h->nbound]), accept_error_cb);
		h->nbound++;
		log_info("http: serving /metrics on %s", cfg->http_listen[i]);
	}
	return h;
}

int
httpd_reconfigure(struct httpd *h, const struct config *next, char *err,
    size_t errlen)
{
	struct cidr allow[HTTPD_ALLOW_MAX];
	size_t nallow;

	if (allow_load(next, allow, &nallow, err, errlen) == -1)
		return -1;
	memcpy(h->allow, allow, sizeof(allow));
	h->nallow = nallow;
	h->max_conns = next->http_max_connections;
	if (h->paused && h->nconns < h->max_conns)
		listeners_enable(h, 1);
	return 0;
}

void
httpd_free(struct httpd *h)
{
	struct hconn *c;

	if (h == NULL)
		return;
	for (size_t i = 0; i < HTTPD_SERVERS_MAX; i++)
		if (servers[i] == h)
			servers[i] = NULL;
	/* Connections close with the server: their scrapes end (closecb). */
	if (h->http != NULL)
		evhttp_free(h->http);
	while (!LIST_EMPTY(&h->jobs))
		job_free(LIST_FIRST(&h->jobs));
	while ((c = LIST_FIRST(&h->conns)) != NULL) {
		LIST_REMOVE(c, entry);
		hconn_free(c);
	}
	if (h->sweep != NULL)
		event_free(h->sweep);
	free(h);
}
