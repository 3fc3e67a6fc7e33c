/*
 * The TLS probe state machine.  Each probe owns its socket, SSL and events;
 * the engine bounds how many hold a socket at once and queues the rest.  One
 * overall deadline per probe: a peer that trickles a byte a second defeats
 * any per-read idle timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "daemon.h"
#include "dns.h"
#include "log.h"
#include "probe.h"
#include "tlslib.h"
#include "x509.h"

/* Largest certificate message accepted: a huge chain costs no more. */
#define PROBE_MAX_CERT_LIST	(128 * 1024)
/* Longest chain examined. */
#define PROBE_CHAIN_MAX		16
/* Distinct presented intermediate sets remembered as verified. */
#define PROBE_VERIFIED_MAX	4096
/* Whole chains remembered as verified: direct-mapped, 48 bytes a slot. */
#define PROBE_VERDICT_SLOTS	65536

/* An address in 28 bytes, not a 128-byte sockaddr_storage: probes are many. */
union probe_addr {
	struct sockaddr		sa;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
};

enum probe_state {
	PS_QUEUED,
	PS_RESOLVING,
	PS_CONNECTING,
	PS_CONNECTED,		/* waiting for a handshake slot */
	PS_HANDSHAKING,
	PS_DONE,
};

struct probe {
	struct probe_engine	*pe;
	enum probe_state	 state;
	char			*host;
	char			*sni;		/* NULL: send none */
	char			*verify_name;	/* what the certificate must match */
	char			 known_chain[65];	/* hex SHA-256, or "" */
	int			 port;
	int			 host_is_ip;
	int			 verify_is_ip;	/* match an IP SAN, not a name */
	probe_done_cb		*done;
	void			*arg;
	struct timespec		 started;	/* monotonic, for the duration */
	struct dns_req		*dns_req;
	union probe_addr	*addrs;		/* owned; naddrs of them */
	size_t			 naddrs;
	size_t			 next_addr;
	int			 fd;
	SSL			*ssl;
	struct event		 io;
	struct event		 step_timer;	/* connect or handshake */
	struct event		 deadline;	/* the whole probe */
	struct event		 finish;	/* deferred completion */
	int			 io_armed;
	int			 holds_slot;	/* counted in nhandshaking */
	struct timeval		 paused_left;	/* deadline left while PS_CONNECTED */
	char			 last_error[128];
	struct probe_result	 res;
	TAILQ_ENTRY(probe)	 entry;
	TAILQ_ENTRY(probe)	 hs_entry;	/* on hs_wait while PS_CONNECTED */
};
TAILQ_HEAD(probe_list, probe);

/*
 * A presented chain that verified, by the SHA-256 of its DER, with the
 * window in which every certificate of the chain as built (anchor included)
 * is within its validity.  Signatures are a function of the bytes and the
 * anchors, so the same chain seen again under the same anchors verifies
 * again exactly when the clock is inside that window.
 */
struct probe_verdict {
	unsigned char	 digest[32];
	int64_t		 valid_from;	/* latest notBefore */
	int64_t		 valid_until;	/* earliest notAfter */
};

struct probe_engine {
	struct event_base	*base;
	struct dns		*dns;
	struct probe_conf	 conf;
	OSSL_LIB_CTX		*tls;		/* the TLS client's, see tlslib.h */
	SSL_CTX			*ctx;
	EVP_MD			*sha256;	/* fetched once, not per probe */
	X509_STORE		*trust;
	/*
	 * Intermediates already verified up to a trust anchor, as a store with
	 * X509_V_FLAG_PARTIAL_CHAIN, and the digests of the presented sets they
	 * came in: a probe presenting a known set checks only its leaf's
	 * signature instead of the whole chain again.
	 */
	X509_STORE		*verified;
	unsigned char		(*verified_sets)[32];
	size_t			 nverified;
	/* Re-checks of unchanged chains; NULL until the first verdict. */
	struct probe_verdict	*verdicts;
	struct probe_list	 queue;
	struct probe_list	 active;
	size_t			 nqueued;
	size_t			 nactive;
	/*
	 * A probe in its handshake holds ~42 KB of OpenSSL state, one waiting on
	 * DNS or connect ~2 KB: connected probes wait here, socket open and
	 * nothing sent yet, until fewer than conf.handshakes are handshaking.
	 */
	struct probe_list	 hs_wait;
	size_t			 nhandshaking;
	struct probe_stats	 stats;
	int			 fd_starved;	/* EMFILE seen: wait for a slot */
	struct event		*pump;
};

static void probe_connect_next(struct probe *p);
static void probe_handshake(struct probe *p);
static void probe_fail(struct probe *p, enum probe_outcome o,
    const char *cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- engine -------------------------------------------------------------- */

static int
engine_load_trust(struct probe_engine *pe, const char *ca_file, char *err,
    size_t errlen)
{
	X509_STORE *st = X509_STORE_new();

	if (st == NULL)
		goto fail;
	if (ca_file != NULL ? X509_STORE_load_file(st, ca_file) != 1 :
	    X509_STORE_set_default_paths(st) != 1) {
		snprintf(err, errlen, "ca-file %s: cannot load trust anchors (%s)",
		    ca_file ? ca_file : "(system)",
		    ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		X509_STORE_free(st);
		return -1;
	}
	X509_STORE_free(pe->trust);
	pe->trust = st;
	/* New anchors: what was verified under the old ones is forgotten. */
	X509_STORE_free(pe->verified);
	if ((pe->verified = X509_STORE_new()) == NULL)
		goto fail;
	X509_STORE_set_flags(pe->verified, X509_V_FLAG_PARTIAL_CHAIN);
	pe->nverified = 0;
	free(pe->verdicts);
	pe->verdicts = NULL;
	return 0;
fail:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/*
 * libssl runs X509_verify_cert on every presented chain, even under
 * SSL_VERIFY_NONE, just to record a result; against the context's empty
 * store that is an X509_STORE_CTX and a failed issuer search per handshake.
 * We judge the chain ourselves once the handshake is done (judge_chain).
 */
static int
accept_any_chain(X509_STORE_CTX *sctx, void *arg)
{
	(void)sctx;
	(void)arg;
	return 1;
}

static SSL_CTX *
engine_ssl_ctx(OSSL_LIB_CTX *tls, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new_ex(tls, NULL, TLS_client_method());

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		ERR_clear_error();
		return NULL;
	}
	/* We audit what servers present, so the handshake accepts anything
	 * and the chain is judged afterwards against the trust store. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, accept_any_chain, NULL);
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* An idle connection holds ~48 KB of buffers; released, ~8.5 KB. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* A server's flight is 4-6 records: read them in one or two calls,
	 * not a header and a body at a time. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_max_cert_list(ctx, PROBE_MAX_CERT_LIST);
	return ctx;
}

static void
engine_pump_cb(evutil_socket_t fd, short what, void *arg);

struct probe_engine *
probe_engine_new(struct event_base *base, struct dns *dns,
    const struct probe_conf *conf, char *err, size_t errlen)
{
	struct probe_engine *pe = calloc(1, sizeof(*pe));

	if (pe == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pe->base = base;
	pe->dns = dns;
	TAILQ_INIT(&pe->queue);
	TAILQ_INIT(&pe->active);
	TAILQ_INIT(&pe->hs_wait);
	/* Causes are a fixed set of literals: a few dozen series at most. */
	mcounters_init(&pe->stats.results, 64);
	hist_init(&pe->stats.duration, hist_latency_bounds,
	    hist_latency_nbounds);
	if ((pe->tls = tlslib_acquire(err, errlen)) == NULL ||
	    (pe->ctx = engine_ssl_ctx(pe->tls, err, errlen)) == NULL ||
	    (pe->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    probe_engine_reconfigure(pe, conf, err, errlen) == -1 ||
	    (pe->pump = event_new(base, -1, 0, engine_pump_cb, pe)) == NULL ||
	    event_priority_set(pe->pump, PRIO_BULK) == -1) {
		if (pe->pump == NULL && err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		probe_engine_free(pe);
		return NULL;
	}
	return pe;
}

int
probe_engine_reconfigure(struct probe_engine *pe, const struct probe_conf *conf,
    char *err, size_t errlen)
{
	if (engine_load_trust(pe, conf->ca_file, err, errlen) == -1)
		return -1;
	pe->conf = *conf;
	pe->conf.ca_file = NULL;	/* not kept: the caller owns the string */
	return 0;
}

size_t
probe_engine_queued(const struct probe_engine *pe)
{
	return pe->nqueued;
}

size_t
probe_engine_active(const struct probe_engine *pe)
{
	return pe->nactive;
}

const struct probe_stats *
probe_engine_stats(const struct probe_engine *pe)
{
	return &pe->stats;
}

static void
engine_pump_later(struct probe_engine *pe)
{
	if (pe->pump != NULL)
		event_active(pe->pump, EV_TIMEOUT, 0);
}

/* --- probe lifetime ------------------------------------------------------ */

static void
probe_close_io(struct probe *p)
{
	if (p->io_armed) {
		event_del(&p->io);
		p->io_armed = 0;
	}
	evtimer_del(&p->step_timer);
	if (p->ssl != NULL) {
		SSL_free(p->ssl);
		p->ssl = NULL;
	}
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
}

static void
probe_free(struct probe *p)
{
	x509_facts_free(p->res.leaf);
	free(p->res.chain_pem);
	free(p->host);
	free(p->sni);
	free(p->verify_name);
	free(p->addrs);
	free(p);
}

static void
probe_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct probe_engine *pe = p->pe;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	mcounters_add(&pe->stats.results, p->res.outcome == PROBE_OK ? "ok" :
	    p->res.cause != NULL ? p->res.cause : "other", NULL, 1);
	if (p->res.outcome != PROBE_CANCELLED)
		hist_observe(&pe->stats.duration,
		    (double)(now.tv_sec - p->started.tv_sec) +
		    (now.tv_nsec - p->started.tv_nsec) / 1e9);
	p->done(&p->res, p->arg);
	probe_free(p);
	engine_pump_later(pe);
}

/* Ends the probe now; the callback runs from the loop. */
static void
probe_end(struct probe *p, enum probe_outcome o)
{
	struct probe_engine *pe = p->pe;

	if (p->state == PS_DONE)
		return;
	if (p->dns_req != NULL) {
		dns_cancel(p->dns_req);
		p->dns_req = NULL;
	}
	if (p->state == PS_CONNECTED)
		TAILQ_REMOVE(&pe->hs_wait, p, hs_entry);
	if (p->holds_slot) {
		p->holds_slot = 0;
		pe->nhandshaking--;
		engine_pump_later(pe);	/* a handshake slot is free */
	}
	probe_close_io(p);
	evtimer_del(&p->deadline);
	if (p->state == PS_QUEUED) {
		TAILQ_REMOVE(&pe->queue, p, entry);
		pe->nqueued--;
	} else {
		TAILQ_REMOVE(&pe->active, p, entry);
		pe->nactive--;
		pe->fd_starved = 0;
	}
	p->state = PS_DONE;
	p->res.outcome = o;
	event_active(&p->finish, EV_TIMEOUT, 0);
}

/* cause: short and host-free, a metrics label ("handshake_failed"). */
static void
probe_fail(struct probe *p, enum probe_outcome o, const char *cause,
    const char *fmt, ...)
{
	va_list ap;

	p->res.cause = cause;
	va_start(ap, fmt);
	vsnprintf(p->res.error, sizeof(p->res.error), fmt, ap);
	va_end(ap);
	probe_end(p, o);
}

void
probe_cancel(struct probe *p)
{
	snprintf(p->res.error, sizeof(p->res.error), "cancelled");
	p->res.cause = "cancelled";
	probe_end(p, PROBE_CANCELLED);
}

void
probe_engine_cancel_all(struct probe_engine *pe)
{
	struct probe *p;

	while ((p = TAILQ_FIRST(&pe->queue)) != NULL)
		probe_cancel(p);
	while ((p = TAILQ_FIRST(&pe->active)) != NULL)
		probe_cancel(p);
}

void
probe_engine_free(struct probe_engine *pe)
{
	if (pe == NULL)
		return;
	probe_engine_cancel_all(pe);
	/* Deliver the cancellations now: the loop may not run again. */
	event_base_loop(pe->base, EVLOOP_NONBLOCK);
	if (pe->pump)
		event_free(pe->pump);
	SSL_CTX_free(pe->ctx);
	EVP_MD_free(pe->sha256);
	X509_STORE_free(pe->trust);
	X509_STORE_free(pe->verified);
	free(pe->verified_sets);
	free(pe->verdicts);
	/* Last: the certificates freed above hold keys of its provider. */
	if (pe->tls != NULL)
		tlslib_release();
	mcounters_free(&pe->stats.results);
	free(pe);
}

/* --- steps --------------------------------------------------------------- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int secs = (p->pe->conf.timeout_ms + 999) / 1000;

	if (p->state == PS_RESOLVING)
		probe_fail(p, PROBE_NOT_FOUND, "dns_timeout", "DNS lookup timed out after %d s",
		    secs);
	else
		probe_fail(p, PROBE_NO_CERT, "timeout", "timed out after %d s", secs);
}

static void
set_timer(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

static void
dns_done_cb(enum dns_status st, const struct sockaddr_storage *addrs,
    size_t n, const char *why, void *arg)
{
	struct probe *p = arg;

	p->dns_req = NULL;
	if (st != DNS_OK) {
		probe_fail(p, PROBE_NOT_FOUND, "nxdomain", "%s does not resolve (%s)", p->host,
		    why);
		return;
	}
	if ((p->addrs = calloc(n, sizeof(*p->addrs))) == NULL) {
		probe_fail(p, PROBE_NO_CERT, "out_of_memory", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(&p->addrs[i], &addrs[i], addrs[i].ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	p->naddrs = n;
	probe_connect_next(p);
}

static void
addr_text(const union probe_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->sin6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(a->sin6.sin6_port));
	} else {
		inet_ntop(AF_INET, &a->sin.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip, ntohs(a->sin.sin_port));
	}
}

static void
io_wait(struct probe *p, short what, event_callback_fn cb)
{
	if (p->io_armed)
		event_del(&p->io);
	event_assign(&p->io, p->pe->base, p->fd, what, cb, p);
	event_priority_set(&p->io, PRIO_BULK);
	event_add(&p->io, NULL);
	p->io_armed = 1;
}

static void
connect_error(struct probe *p, int err)
{
	char addr[64];

	addr_text(&p->addrs[p->next_addr - 1], addr, sizeof(addr));
	snprintf(p->last_error, sizeof(p->last_error), "%s",
	    err == ECONNREFUSED ? "connection refused" :
	    err == ETIMEDOUT ? "connect timed out" : strerror(err));
	log_debug("probe %s:%d: %s: %s", p->host, p->port, addr, p->last_error);
	probe_close_io(p);
	probe_connect_next(p);
}

static void
connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	connect_error(arg, ETIMEDOUT);
}

static void
connect_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	p->io_armed = 0;
	evtimer_del(&p->step_timer);
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		connect_error(p, err);
		return;
	}
	probe_handshake(p);
}

/* Puts a probe that found no descriptor back at the head of the queue. */
static void
probe_requeue(struct probe *p)
{
	struct probe_engine *pe = p->pe;

	TAILQ_REMOVE(&pe->active, p, entry);
	pe->nactive--;
	p->state = PS_QUEUED;
	p->next_addr--;
	TAILQ_INSERT_HEAD(&pe->queue, p, entry);
	pe->nqueued++;
	if (!pe->fd_starved)
		log_warn("probes: out of file descriptors with %zu in flight; "
		    "queueing until one finishes", pe->nactive);
	pe->fd_starved = 1;
	if (pe->nactive == 0)	/* nothing will free a slot: fail honestly */
		probe_fail(p, PROBE_NO_CERT, "no_descriptor", "no file descriptor available");
}

static void
probe_connect_next(struct probe *p)
{
	union probe_addr *a;
	socklen_t slen;

	if (p->next_addr >= p->naddrs) {
		probe_fail(p, PROBE_NO_CERT, "connect_failed", "%s", p->last_error[0] ?
		    p->last_error : "no usable address");
		return;
	}
	a = &p->addrs[p->next_addr++];
	slen = a->sa.sa_family == AF_INET6 ? sizeof(a->sin6) : sizeof(a->sin);
	/* sin_port and sin6_port share their offset. */
	a->sin.sin_port = htons(p->port);
	p->fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (p->fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			probe_requeue(p);
			return;
		}
		connect_error(p, errno);
		return;
	}
	p->state = PS_CONNECTING;
	if (connect(p->fd, &a->sa, slen) == 0) {
		probe_handshake(p);
		return;
	}
	if (errno != EINPROGRESS) {
		connect_error(p, errno);
		return;
	}
	io_wait(p, EV_WRITE, connect_ready_cb);
	event_assign(&p->step_timer, p->pe->base, -1, 0, connect_timeout_cb, p);
	event_priority_set(&p->step_timer, PRIO_BULK);
	set_timer(&p->step_timer, p->pe->conf.connect_timeout_ms);
}

/* One sentence for a failed handshake, draining OpenSSL's error queue. */
static void
handshake_error(struct probe *p, int sslerr)
{
	unsigned long e = ERR_get_error();
	const char *why;

	if (e != 0)
		why = ERR_reason_error_string(e);
	else if (sslerr == SSL_ERROR_SYSCALL && errno != 0)
		why = strerror(errno);
	else
		why = "connection closed by peer";
	ERR_clear_error();
	probe_fail(p, PROBE_NO_CERT, "handshake_failed", "TLS handshake failed: %s",
	    why ? why : "unknown error");
}

static void capture(struct probe *p);

static void
handshake_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	p->io_armed = 0;
	probe_handshake(p);
}

static void
handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	probe_fail(p, PROBE_NO_CERT, "handshake_timeout", "timed out after %d s in the TLS handshake",
	    (p->pe->conf.handshake_timeout_ms + 999) / 1000);
}

/*
 * Waiting for one of our own handshake slots is not the peer's time: the
 * deadline stops while a connected probe waits, and resumes with what was
 * left, so one deadline still bounds everything the peer can cost.
 */
static void
deadline_pause(struct probe *p)
{
	struct timeval at, now;

	p->paused_left = (struct timeval){ 0, 0 };
	if (evtimer_pending(&p->deadline, &at)) {
		event_base_gettimeofday_cached(p->pe->base, &now);
		if (timercmp(&at, &now, >))
			timersub(&at, &now, &p->paused_left);
	}
	evtimer_del(&p->deadline);
}

static void
probe_handshake(struct probe *p)
{
	int rc, err;

	if (p->ssl == NULL) {
		/* Wait behind earlier waiters, or for a free slot. */
		if (p->state != PS_CONNECTED && (p->pe->nhandshaking >=
		    (size_t)p->pe->conf.handshakes ||
		    !TAILQ_EMPTY(&p->pe->hs_wait))) {
			deadline_pause(p);
			p->state = PS_CONNECTED;
			TAILQ_INSERT_TAIL(&p->pe->hs_wait, p, hs_entry);
			return;
		}
		if (p->state == PS_CONNECTED) {
			TAILQ_REMOVE(&p->pe->hs_wait, p, hs_entry);
			evtimer_add(&p->deadline, &p->paused_left);
		}
		p->pe->nhandshaking++;
		p->holds_slot = 1;	/* released in probe_end, even if SSL_new fails */
		addr_text(&p->addrs[p->next_addr - 1], p->res.address,
		    sizeof(p->res.address));
		if ((p->ssl = SSL_new(p->pe->ctx)) == NULL ||
		    SSL_set_fd(p->ssl, p->fd) != 1 ||
		    (p->sni != NULL &&
		    SSL_set_tlsext_host_name(p->ssl, p->sni) != 1)) {
			handshake_error(p, SSL_ERROR_SSL);
			return;
		}
		SSL_set_connect_state(p->ssl);
		p->state = PS_HANDSHAKING;
		event_assign(&p->step_timer, p->pe->base, -1, 0,
		    handshake_timeout_cb, p);
		event_priority_set(&p->step_timer, PRIO_BULK);
		set_timer(&p->step_timer, p->pe->conf.handshake_timeout_ms);
	}
	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(p->ssl);
	if (rc == 1) {
		capture(p);
		return;
	}
	switch ((err = SSL_get_error(p->ssl, rc))) {
	case SSL_ERROR_WANT_READ:
		io_wait(p, EV_READ, handshake_io_cb);
		return;
	case SSL_ERROR_WANT_WRITE:
		io_wait(p, EV_WRITE, handshake_io_cb);
		return;
	default:
		handshake_error(p, err);
	}
}

/* --- judging the chain --------------------------------------------------- */

/*
 * One pass over the DER of the presented certificates (at most
 * PROBE_CHAIN_MAX): the SHA-256 of the whole chain, which names it, and of
 * the certificates after the leaf, which name its intermediate set.
 */
static int
chain_digests(const EVP_MD *sha256, STACK_OF(X509) *chain,
    struct probe_result *res, unsigned char whole[32], unsigned char inter[32])
{
	EVP_MD_CTX *mw = EVP_MD_CTX_new(), *mi = EVP_MD_CTX_new();
	int ok = mw != NULL && mi != NULL &&
	    EVP_DigestInit_ex(mw, sha256, NULL) == 1 &&
	    EVP_DigestInit_ex(mi, sha256, NULL) == 1;

	for (int i = 0; ok && i < sk_X509_num(chain) && i < PROBE_CHAIN_MAX; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(chain, i), &der);

		ok = len > 0 && EVP_DigestUpdate(mw, der, len) == 1 &&
		    (i == 0 || EVP_DigestUpdate(mi, der, len) == 1);
		OPENSSL_free(der);
		res->chain_length++;
	}
	ok = ok && EVP_DigestFinal_ex(mw, whole, NULL) == 1 &&
	    EVP_DigestFinal_ex(mi, inter, NULL) == 1;
	if (ok)
		for (int i = 0; i < 32; i++)
			snprintf(res->chain_sha256 + 2 * i, 3, "%02x", whole[i]);
	EVP_MD_CTX_free(mw);
	EVP_MD_CTX_free(mi);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* The presented certificates (at most PROBE_CHAIN_MAX) as PEM, leaf first. */
static int
chain_to_pem(STACK_OF(X509) *chain, struct probe_result *res)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ok = bio != NULL;

	for (int i = 0; ok && i < sk_X509_num(chain) && i < PROBE_CHAIN_MAX; i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i)) == 1;
	ok = ok && (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    (res->chain_pem = strndup(data, n)) != NULL;
	BIO_free(bio);
	ERR_clear_error();
	return ok ? 0 : -1;
}

static int
verified_set_known(const struct probe_engine *pe, const unsigned char d[32])
{
	for (size_t i = 0; i < pe->nverified; i++)
		if (memcmp(pe->verified_sets[i], d, 32) == 0)
			return 1;
	return 0;
}

/* Remembers the intermediates of a chain that verified in full. */
static void
verified_set_add(struct probe_engine *pe, X509_STORE_CTX *vctx,
    const unsigned char d[32])
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(vctx);
	int n = built ? sk_X509_num(built) : 0;

	if (pe->nverified >= PROBE_VERIFIED_MAX || n < 3)
		return;
	if (pe->nverified % 64 == 0) {
		void *p = realloc(pe->verified_sets,
		    (pe->nverified + 64) * sizeof(*pe->verified_sets));
		if (p == NULL)
			return;
		pe->verified_sets = p;
	}
	/* Everything between the leaf and the anchor. */
	for (int i = 1; i < n - 1; i++)
		X509_STORE_add_cert(pe->verified, sk_X509_value(built, i));
	memcpy(pe->verified_sets[pe->nverified++], d, 32);
}

static struct probe_verdict *
verdict_slot(const struct probe_engine *pe, const unsigned char d[32])
{
	/* d is a SHA-256: its first bytes are as good as any hash of it. */
	return pe->verdicts == NULL ? NULL :
	    &pe->verdicts[((size_t)d[0] << 8 | d[1]) % PROBE_VERDICT_SLOTS];
}

static int
verdict_known(const struct probe_engine *pe, const unsigned char d[32],
    int64_t now)
{
	const struct probe_verdict *v = verdict_slot(pe, d);

	return v != NULL && memcmp(v->digest, d, 32) == 0 &&
	    now >= v->valid_from && now <= v->valid_until;
}

/* Remembers a chain that verified, with its validity window as built. */
static void
verdict_add(struct probe_engine *pe, X509_STORE_CTX *vctx,
    const unsigned char d[32])
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(vctx);
	struct probe_verdict v;

	if (built == NULL)
		return;
	memcpy(v.digest, d, 32);
	v.valid_from = INT64_MIN;
	v.valid_until = INT64_MAX;
	for (int i = 0; i < sk_X509_num(built); i++) {
		X509 *c = sk_X509_value(built, i);
		int64_t from, until;

		if (x509_time_to_epoch(X509_get0_notBefore(c), &from) == -1 ||
		    x509_time_to_epoch(X509_get0_notAfter(c), &until) == -1)
			return;
		if (from > v.valid_from)
			v.valid_from = from;
		if (until < v.valid_until)
			v.valid_until = until;
	}
	if (pe->verdicts == NULL &&
	    (pe->verdicts = calloc(PROBE_VERDICT_SLOTS, sizeof(v))) == NULL)
		return;
	*verdict_slot(pe, d) = v;
}

/* Verifies leaf against store; returns 1 or 0, with ctx kept for the caller. */
static int
verify_in(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain,
    X509_STORE_CTX *vctx)
{
	X509_STORE_CTX_cleanup(vctx);
	if (X509_STORE_CTX_init(vctx, store, leaf, chain) != 1)
		return -1;
	/* The daemon's clock, so a test that moves it sees certificates age. */
	X509_STORE_CTX_set_time(vctx, 0, (time_t)clock_now());
	return X509_verify_cert(vctx) == 1;
}

static void
judge_chain(struct probe *p, X509 *leaf, STACK_OF(X509) *chain,
    const unsigned char chain_digest[32], const unsigned char d[32])
{
	struct probe_engine *pe = p->pe;
	X509_STORE_CTX *vctx = NULL;
	struct probe_result *res = &p->res;
	int known, rc = -1;
	/* The digest covers PROBE_CHAIN_MAX certificates: longer chains are
	 * judged every time. */
	int cacheable = sk_X509_num(chain) <= PROBE_CHAIN_MAX;

	if (cacheable && verdict_known(pe, chain_digest, clock_now())) {
		res->chain_valid = 1;
		goto name;
	}
	vctx = X509_STORE_CTX_new();
	known = verified_set_known(pe, d);
	if (vctx != NULL && known)
		rc = verify_in(pe->verified, leaf, chain, vctx);
	/* Unknown sets, and any doubt, get the full verification. */
	if (vctx != NULL && rc != 1) {
		rc = verify_in(pe->trust, leaf, chain, vctx);
		if (rc == 1 && !known)
			verified_set_add(pe, vctx, d);
	}
	if (rc == 1 && cacheable)
		verdict_add(pe, vctx, chain_digest);
	res->chain_valid = rc == 1;
	if (rc == -1 || vctx == NULL)
		snprintf(res->verify_error, sizeof(res->verify_error),
		    "cannot verify: out of memory");
	else if (rc == 0)
		snprintf(res->verify_error, sizeof(res->verify_error), "%s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
	X509_STORE_CTX_free(vctx);
name:
	if (p->verify_is_ip)
		res->hostname_match = X509_check_ip_asc(leaf, p->verify_name, 0) == 1;
	else
		res->hostname_match = X509_check_host(leaf, p->verify_name, 0, 0,
		    NULL) == 1;
	ERR_clear_error();
}

static void
capture(struct probe *p)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(p->ssl);
	X509 *leaf;
	unsigned char digest[32], inter[32];
	char err[256];

	if (chain == NULL || sk_X509_num(chain) == 0 ||
	    (leaf = sk_X509_value(chain, 0)) == NULL) {
		probe_fail(p, PROBE_NO_CERT, "no_certificate", "no certificate presented");
		return;
	}
	snprintf(p->res.tls_version, sizeof(p->res.tls_version), "%s",
	    SSL_get_version(p->ssl));
	snprintf(p->res.cipher, sizeof(p->res.cipher), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(p->ssl)));
	if (chain_digests(p->pe->sha256, chain, &p->res, digest, inter) == -1) {
		probe_fail(p, PROBE_NO_CERT, "bad_certificate", "cannot encode the presented chain");
		return;
	}
	/* The chain last seen here: what its leaf says is already known. */
	if (p->known_chain[0] != '\0' &&
	    strcmp(p->known_chain, p->res.chain_sha256) == 0)
		p->res.chain_unchanged = 1;
	else if ((p->res.leaf = x509_facts_from_cert(leaf, err,
	    sizeof(err))) == NULL) {
		probe_fail(p, PROBE_NO_CERT, "bad_certificate", "unusable certificate: %s", err);
		return;
	} else if (chain_to_pem(chain, &p->res) == -1) {
		probe_fail(p, PROBE_NO_CERT, "bad_certificate", "cannot encode the presented chain");
		return;
	}
	judge_chain(p, leaf, chain, digest, inter);
	probe_end(p, PROBE_OK);
}

/* --- starting ------------------------------------------------------------ */

static int
parse_ip_literal(const char *host, int port, union probe_addr *a)
{
	struct sockaddr_in *s4 = &a->sin;
	struct sockaddr_in6 *s6 = &a->sin6;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

static void
probe_begin(struct probe *p)
{
	struct probe_engine *pe = p->pe;

	TAILQ_REMOVE(&pe->queue, p, entry);
	pe->nqueued--;
	TAILQ_INSERT_TAIL(&pe->active, p, entry);
	pe->nactive++;
	if (!evtimer_pending(&p->deadline, NULL))
		set_timer(&p->deadline, pe->conf.timeout_ms);
	if (p->naddrs > 0) {		/* an IP literal, or a requeued probe */
		probe_connect_next(p);
		return;
	}
	p->state = PS_RESOLVING;
	if ((p->dns_req = dns_resolve(pe->dns, p->host, dns_done_cb, p)) == NULL)
		probe_fail(p, PROBE_NOT_FOUND, "out_of_memory", "out of memory resolving %s",
		    p->host);
}

static void
engine_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_engine *pe = arg;
	struct probe *p;

	/* Connected probes first: they already hold a socket. */
	while (pe->nhandshaking < (size_t)pe->conf.handshakes &&
	    (p = TAILQ_FIRST(&pe->hs_wait)) != NULL)
		probe_handshake(p);
	while (!pe->fd_starved && pe->nactive < (size_t)pe->conf.concurrency &&
	    (p = TAILQ_FIRST(&pe->queue)) != NULL)
		probe_begin(p);
}

struct probe *
probe_start(struct probe_engine *pe, const char *host, int port,
    const char *sni, const char *known_chain, probe_done_cb *done, void *arg)
{
	struct probe *p = calloc(1, sizeof(*p));
	union probe_addr scratch;

	if (p == NULL)
		return NULL;
	p->pe = pe;
	p->fd = -1;
	p->port = port;
	clock_gettime(CLOCK_MONOTONIC, &p->started);
	p->done = done;
	p->arg = arg;
	if (known_chain != NULL && strlen(known_chain) == 64)
		memcpy(p->known_chain, known_chain, 65);
	p->host = strdup(host);
	if (parse_ip_literal(host, port, &scratch) == 0) {
		if ((p->addrs = malloc(sizeof(*p->addrs))) == NULL) {
			free(p);
			return NULL;
		}
		p->addrs[0] = scratch;
		p->host_is_ip = 1;
		p->naddrs = 1;
	}
	/* SNI carries names only (RFC 6066); an IP literal sends none. */
	if (sni != NULL)
		p->sni = strdup(sni);
	else if (!p->host_is_ip)
		p->sni = strdup(host);
	p->verify_name = strdup(sni ? sni : host);
	p->verify_is_ip = sni == NULL ? p->host_is_ip :
	    parse_ip_literal(sni, port, &scratch) == 0;
	if (p->host == NULL || p->verify_name == NULL ||
	    ((sni != NULL || !p->host_is_ip) && p->sni == NULL)) {
		probe_free(p);
		return NULL;
	}
	evtimer_assign(&p->deadline, pe->base, deadline_cb, p);
	evtimer_assign(&p->step_timer, pe->base, connect_timeout_cb, p);
	event_assign(&p->finish, pe->base, -1, 0, probe_finish_cb, p);
	event_priority_set(&p->deadline, PRIO_BULK);
	event_priority_set(&p->step_timer, PRIO_BULK);
	event_priority_set(&p->finish, PRIO_BULK);
	p->state = PS_QUEUED;
	TAILQ_INSERT_TAIL(&pe->queue, p, entry);
	pe->nqueued++;
	engine_pump_later(pe);
	return p;
}
