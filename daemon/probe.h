/*
 * TLS probes: resolve -> connect (each address in turn) -> handshake with
 * SNI -> capture the presented chain -> close, as a non-blocking state
 * machine on the loop.  Chains are judged, not refused: an expired,
 * self-signed or wrong-host certificate is a result, not an error.
 */
#ifndef CERTFLEET_PROBE_H
#define CERTFLEET_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct dns;
struct event_base;
struct probe;
struct probe_engine;
struct x509_facts;

/* Counted for /metrics since start. */
struct probe_stats {
	struct mcounters	 results;	/* {result}: "ok" or the cause */
	struct hist		 duration;	/* seconds, start to verdict */
};

struct probe_conf {
	const char	*ca_file;		/* NULL: the system store */
	int		 concurrency;		/* probes with a socket at once */
	int		 handshakes;		/* of those, in the TLS handshake */
	int		 timeout_ms;		/* the whole probe */
	int		 connect_timeout_ms;	/* each address */
	int		 handshake_timeout_ms;
};

enum probe_outcome {
	PROBE_OK = 0,
	PROBE_NOT_FOUND,	/* the name does not resolve */
	PROBE_NO_CERT,		/* resolved, but no certificate came back */
	PROBE_CANCELLED,
};

struct probe_result {
	enum probe_outcome	 outcome;
	char			 error[256];	/* cause when not OK */
	const char		*cause;		/* short, host-free; NULL when OK */
	char			 address[64];	/* the address that answered */
	struct x509_facts	*leaf;		/* owned by the probe */
	char			*chain_pem;	/* leaf first, as presented */
	char			 chain_sha256[65];
	int			 chain_length;
	/*
	 * The chain is the one the caller said it knew: leaf and chain_pem
	 * are then NULL, since the caller already holds what they would say.
	 */
	int			 chain_unchanged;
	char			 tls_version[16];
	char			 cipher[64];
	int			 chain_valid;
	int			 hostname_match;
	char			 verify_error[128];	/* "" when valid */
};

/*
 * Called once per probe, from the loop, with the probe's result; the result
 * and the probe are freed when the callback returns.
 */
typedef void	 probe_done_cb(const struct probe_result *res, void *arg);

struct probe_engine *probe_engine_new(struct event_base *base, struct dns *dns,
		    const struct probe_conf *conf, char *err, size_t errlen);
/* Cancels every probe; callbacks run with PROBE_CANCELLED from the loop. */
void		 probe_engine_cancel_all(struct probe_engine *pe);
/* Cancels every probe (callbacks run with PROBE_CANCELLED) and frees. */
void		 probe_engine_free(struct probe_engine *pe);
int		 probe_engine_reconfigure(struct probe_engine *pe,
		    const struct probe_conf *conf, char *err, size_t errlen);
/* Probes waiting for a slot and probes under way. */
size_t		 probe_engine_queued(const struct probe_engine *pe);
size_t		 probe_engine_active(const struct probe_engine *pe);
const struct probe_stats *probe_engine_stats(const struct probe_engine *pe);

/*
 * Starts (or queues) a probe of host:port presenting sni (NULL: host, unless
 * host is an IP literal).  known_chain: the hex SHA-256 of the chain last
 * seen there, or NULL; when the same chain comes back, its facts and PEM are
 * not decoded again (see chain_unchanged).  Returns a handle for
 * probe_cancel, or NULL when out of memory.  done runs exactly once, never
 * inside this call.
 */
struct probe	*probe_start(struct probe_engine *pe, const char *host,
		    int port, const char *sni, const char *known_chain,
		    probe_done_cb *done, void *arg);
/* done runs with PROBE_CANCELLED from the loop. */
void		 probe_cancel(struct probe *p);

#endif
