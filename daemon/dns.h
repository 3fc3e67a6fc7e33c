/*
 * c-ares on the loop: one long-lived channel bound to libevent through the
 * socket-state callback.  Nothing else in the daemon touches c-ares.
 */
#ifndef CERTFLEET_DNS_H
#define CERTFLEET_DNS_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct dns;
struct dns_req;

enum dns_status {
	DNS_OK = 0,
	DNS_NOT_FOUND,		/* NXDOMAIN or no address of the asked family */
	DNS_TIMEOUT,
	DNS_FAILED,		/* SERVFAIL, refused, malformed, ... */
};

/* Most addresses one lookup hands back; more are ignored. */
#define DNS_ADDRS_MAX	16

/*
 * servers: "ADDR[:PORT]" strings (IPv6 as [ADDR]:PORT); n == 0 uses the
 * system's resolv.conf.  Returns NULL with err.
 */
struct dns	*dns_new(struct event_base *base, const char *const *servers,
		    size_t n, int timeout_ms, char *err, size_t errlen);
/* Cancels every lookup (their callbacks run with DNS_FAILED) and frees. */
void		 dns_free(struct dns *dns);

/* Addresses in resolver order, IPv6 and IPv4 mixed; n == 0 unless DNS_OK. */
typedef void	 dns_addr_cb(enum dns_status status, const struct sockaddr_storage *addrs,
		    size_t n, const char *why, void *arg);

/*
 * Resolves name to addresses.  Returns a handle for dns_cancel, or NULL when
 * out of memory.  cb runs exactly once, from the loop, unless cancelled.
 */
struct dns_req	*dns_resolve(struct dns *dns, const char *name, dns_addr_cb *cb,
		    void *arg);
/* The callback will not run; c-ares' own answer is discarded when it comes. */
void		 dns_cancel(struct dns_req *req);

#endif
