/*
 * The daemon's one context, handed to every subsystem instead of globals,
 * and the error value that core functions fill for the edges to report.
 */
#ifndef CERTFLEET_DAEMON_H
#define CERTFLEET_DAEMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"
#include "rpc.h"

struct cert_jobs;
struct check_walks;
struct config;
struct event_base;
struct deployer;
struct dns;
struct events;
struct expiry_runner;
struct http;
struct httpd;
struct issuer;
struct keystore;
struct keystore_pool;
struct lag_sampler;
struct notify;
struct probe_engine;
struct rpc_server;
struct scheduler;
struct store;
struct techzone;
struct techzone_server;
struct watchers;

struct daemon {
	struct event_base	*base;
	struct config		*cfg;
	struct store		*store;
	struct rpc_server	*rpc;
	struct dns		*dns;
	struct probe_engine	*probes;
	struct scheduler	*sched;
	struct keystore		*keys;		/* master key: seals private keys */
	struct keystore_pool	*keygen;	/* key generation off the loop */
	struct http		*http;		/* libcurl multi (ACME) */
	struct issuer		*issuer;	/* managed certificates' lifecycle */
	struct techzone		*tz;		/* NULL without techzone-name */
	struct techzone_server	*tzsrv;
	struct cert_jobs	*cert_jobs;	/* CSR steps under way (cert.c) */
	struct events		*events;	/* listeners of committed events */
	struct expiry_runner	*expiry;	/* expiry warnings */
	struct watchers		*watchers;	/* Events.Watch streams */
	struct check_walks	*walks;		/* Check.Run --all under way */
	struct notify		*notify;	/* notification delivery */
	struct deployer		*deployer;	/* deploy targets */
	struct rpc_server	*monitor;	/* read-only socket; NULL: none */
	struct rpc_stats	 rpc_stats;	/* both sockets' requests */
	struct httpd		*httpd;		/* /metrics; NULL: none */
	struct lag_sampler	*lag;		/* the loop's lateness */
	int64_t			 started_at;	/* wall clock, for uptime */
	int			 stopping;
};

/*
 * Event priorities: the loop runs all ready events of a higher priority
 * before any of a lower one, and gives up lower-priority work after
 * LOOP_SLICE_MS to poll again.  So a burst of thousands of handshakes never
 * keeps an RPC answer waiting for more than a slice.
 */
#define PRIO_RPC	0	/* control socket, commits that answers wait for */
#define PRIO_DEFAULT	1	/* DNS, signals, everything else */
#define PRIO_BULK	2	/* probes and the scheduler */
#define PRIO_COUNT	3
#define LOOP_SLICE_MS	10

/* An error for the edge to report: a gRPC status code and one sentence. */
struct cf_err {
	int	 code;
	char	 msg[1024];
	char	 cause[128];	/* short and host-free, for counting by cause */
};

static inline void
cf_err_vset(struct cf_err *e, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static inline void
cf_err_vset(struct cf_err *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	/* Messages quote names from certificates: cut on a character. */
	esc_vformat(e->msg, sizeof(e->msg), fmt, ap);
}

static inline int
cf_err_set(struct cf_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int
cf_err_set(struct cf_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cf_err_vset(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A store lookup's answer as an error for the edge: rc 1 (no such row) is
 * NOT_FOUND with the message fmt makes; rc -1 is UNAVAILABLE, with e->msg
 * as the store filled it.  Returns rc.
 */
static inline int
cf_err_store(struct cf_err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int
cf_err_store(struct cf_err *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (rc == 1) {
		va_start(ap, fmt);
		cf_err_vset(e, WIRE_NOT_FOUND, fmt, ap);
		va_end(ap);
	} else if (rc == -1)
		e->code = WIRE_UNAVAILABLE;
	return rc;
}

#endif
