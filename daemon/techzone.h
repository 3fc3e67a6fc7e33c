/*
 * The tech zone's authoritative DNS server: SOA and NS at the apex, TXT for
 * ACME DNS-01 challenge names, over UDP and TCP.  techzone_answer() is the
 * whole of the DNS logic and does no I/O; techzone_server binds it to the
 * loop.  Records come from a techzone_source, so the store can back them.
 */
#ifndef CERTFLEET_TECHZONE_H
#define CERTFLEET_TECHZONE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct techzone;
struct techzone_mem;
struct techzone_rrl;
struct techzone_server;

#define TECHZONE_UDP_PLAIN_MAX	512	/* UDP answer without EDNS */
#define TECHZONE_UDP_EDNS_MAX	1232	/* UDP answer with EDNS, whatever the client says */
#define TECHZONE_QUERY_MAX	4096	/* longer queries are dropped unanswered */
/*
 * TXT answers are cached this long: short, because one name's values change
 * with every order (a renewal must not be judged on its predecessor's).
 */
#define TECHZONE_TXT_TTL	10
#define TECHZONE_TXT_VALUES_MAX	100	/* values served at one name; more are ignored */
#define TECHZONE_TXT_LEN_MAX	1024	/* one value's bytes (sent as 255-byte strings) */
#define TECHZONE_NS_MAX		8
#define TECHZONE_ADDRS_MAX	8

/* --- records --------------------------------------------------------------- */

/* Receives one TXT value; returns 0 to go on, anything else to stop. */
typedef int	 techzone_txt_cb(const char *value, size_t len, void *arg);

/*
 * Where the records come from.  Names are lowercase, in presentation form,
 * without the final dot ("k3x9.acme.example.com").  Every call is made on the
 * loop, inside techzone_answer(), so it must not block.
 */
struct techzone_source {
	/* Calls each() for every TXT value at owner; returns how many values
	 * it gave (0: none), or -1 on a failure (the answer is SERVFAIL). */
	int		(*txt)(void *ctx, const char *owner, techzone_txt_cb *each,
			    void *each_arg);
	/* Optional: 1 when some name below owner has values, so owner is an
	 * empty non-terminal (NODATA, not NXDOMAIN); 0 when not; -1 failure. */
	int		(*below)(void *ctx, const char *owner);
	/* Optional: the SOA serial; NULL uses techzone_conf.serial. */
	uint32_t	(*serial)(void *ctx);
	void		 *ctx;
};

struct techzone_conf {
	const char		*zone;		/* "acme.example.com"; final dot optional */
	const char *const	*ns;		/* NS names; nns == 0: "ns1.<zone>" */
	size_t			 nns;
	/* Addresses (IPv4 or IPv6 literals) answered for A/AAAA of the NS
	 * names that lie inside the zone; none: those names answer NODATA. */
	const char *const	*ns_addrs;
	size_t			 nns_addrs;
	const char		*rname;		/* NULL: "hostmaster.<zone>" */
	uint32_t		 serial;
	uint32_t		 refresh, retry, expire;
	uint32_t		 minimum;	/* negative-answer TTL */
	uint32_t		 soa_ttl, ns_ttl, txt_ttl;
};

/*
 * Fills conf with the defaults (TXT TTL TECHZONE_TXT_TTL, negative TTL
 * 30 s, ...).
 */
void		 techzone_conf_init(struct techzone_conf *conf, const char *zone);

/*
 * Checks conf and builds the zone's fixed records; src is copied (its ctx is
 * the caller's and must outlive the zone).  Returns NULL with err.  Free
 * with techzone_free().
 */
struct techzone	*techzone_new(const struct techzone_conf *conf,
		    const struct techzone_source *src, char *err, size_t errlen);
void		 techzone_free(struct techzone *tz);

enum techzone_verdict {
	TECHZONE_DROP = 0,	/* send nothing: garbage, a response, no memory */
	TECHZONE_ANSWER,	/* send out[0 .. *outlen) */
};

/*
 * Answers one DNS message.  Over UDP the answer is at most 512 bytes without
 * EDNS and at most min(client's payload, 1232) with it, TC=1 when it does not
 * fit; over TCP up to 65535 bytes.  outmax bounds it further.  No I/O, no
 * clock: rate limiting is the caller's (techzone_rrl).
 */
enum techzone_verdict techzone_answer(const struct techzone *tz,
		    const uint8_t *query, size_t qlen, int over_tcp, uint8_t *out,
		    size_t outmax, size_t *outlen);

/*
 * Cuts an answer made by techzone_answer() down to its header and question
 * with TC=1 (the "slip" of response rate limiting).  Returns the new length.
 */
size_t		 techzone_slip(uint8_t *answer, size_t len);

/* --- response rate limiting (UDP) ------------------------------------------ */

#define TECHZONE_RRL_DEFAULT_RATE	200	/* answers/s per /24 or /64, as NSD */
#define TECHZONE_RRL_DEFAULT_SLIP	2	/* every 2nd limited answer goes out TC=1 */

enum techzone_rrl_verdict {
	TECHZONE_RRL_PASS = 0,
	TECHZONE_RRL_DROP,
	TECHZONE_RRL_SLIP,	/* send techzone_slip() of the answer */
};

/*
 * Counts answers per client network (IPv4 /24, IPv6 /64) per second.  Past
 * per_second in one second, answers are dropped, except every slip-th, which
 * is sent truncated (slip 0: drop them all).  per_second 0 turns it off.
 */
struct techzone_rrl *techzone_rrl_new(unsigned per_second, unsigned slip);
void		 techzone_rrl_free(struct techzone_rrl *rrl);
/* now: seconds on any steady clock (the caller's, so tests can move it). */
enum techzone_rrl_verdict techzone_rrl_check(struct techzone_rrl *rrl,
		    const struct sockaddr *client, int64_t now);

/* --- the server on the loop ------------------------------------------------ */

typedef int64_t	 techzone_clock_fn(void);

struct techzone_server_conf {
	/* "ADDR:PORT", "[ADDR6]:PORT", or a bare address (port 53).  Port 0
	 * takes a free port, the same for UDP and TCP. */
	const char *const	*listen;
	size_t			 nlisten;
	int			 tcp_max;	/* connections at once; more wait */
	int			 tcp_idle_ms;	/* between queries */
	int			 tcp_io_ms;	/* to receive one query, to send one answer */
	unsigned		 rrl_per_second;	/* 0: no limit */
	unsigned		 rrl_slip;
	techzone_clock_fn	*clock;		/* seconds for the rate limit; NULL: monotonic */
};

struct techzone_stats {
	uint64_t	udp_answers;
	uint64_t	tcp_answers;
	uint64_t	tcp_accepted;
	uint64_t	dropped;	/* garbage and responses */
	uint64_t	rrl_dropped;
	uint64_t	rrl_slipped;
	uint64_t	tcp_closed;	/* connections ended by a timeout or a bad frame */
	uint64_t	rcodes[2][16];	/* answers by [tcp][RCODE] */
};

/* Fills conf with the defaults (64 TCP connections, 10 s idle, 5 s I/O, 200/s). */
void		 techzone_server_conf_init(struct techzone_server_conf *conf);

/*
 * Binds every address for UDP and TCP and serves tz on base (at
 * PRIO_DEFAULT).  tz must outlive the server.  Returns NULL with err.
 */
struct techzone_server *techzone_server_new(struct event_base *base,
		    const struct techzone *tz, const struct techzone_server_conf *conf,
		    char *err, size_t errlen);
/* Closes every socket and connection at once and frees. */
void		 techzone_server_free(struct techzone_server *srv);
/* The port listen address i is bound to (useful with port 0); -1 if none. */
int		 techzone_server_port(const struct techzone_server *srv, size_t i);
void		 techzone_server_stats(const struct techzone_server *srv,
		    struct techzone_stats *out);

/* Parses a listen address as techzone_server_conf.listen; -1 with err. */
int		 techzone_parse_listen(const char *s, struct sockaddr_storage *ss,
		    socklen_t *sslen, char *err, size_t errlen);

/* --- an in-memory source ---------------------------------------------------- */

/*
 * A plain list of (name, value) pairs behind a techzone_source: for tests
 * and until the store backs the zone.  Names compare without case.
 */
struct techzone_mem *techzone_mem_new(void);
void		 techzone_mem_free(struct techzone_mem *m);
/* Adds one value at name (a duplicate is a no-op); -1 when out of memory. */
int		 techzone_mem_add(struct techzone_mem *m, const char *name,
		    const char *value);
/* Removes one value; returns 0, or -1 when it was not there. */
int		 techzone_mem_del(struct techzone_mem *m, const char *name,
		    const char *value);
void		 techzone_mem_source(struct techzone_mem *m,
		    struct techzone_source *out);

#endif
