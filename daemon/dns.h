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
/*
 * Cancels every lookup and frees; callbacks not cancelled run now, with
 * DNS_FAILED or DNS_CNAME_FAILED.
 */
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

/* --- CNAME polls (DNS-01 delegation) ---------------------------------------- */

enum dns_cname_status {
	DNS_CNAME_FOUND = 0,	/* target is the CNAME's target */
	DNS_CNAME_NONE,		/* the name exists but has no CNAME (NODATA) */
	DNS_CNAME_NXDOMAIN,	/* the name does not exist */
	DNS_CNAME_TIMEOUT,	/* no resolver answered in time */
	DNS_CNAME_FAILED,	/* SERVFAIL, REFUSED, a malformed answer, shutdown */
};

/* A name in presentation form without its final dot, and its NUL. */
#define DNS_NAME_TEXT_MAX	(4 * 253 + 1)	/* every byte escaped as \DDD */

/*
 * target: lowercase, without the final dot, NULL unless DNS_CNAME_FOUND.
 * why: one sentence naming the name and what was found, for any status.
 */
typedef void	 dns_cname_cb(enum dns_cname_status status, const char *target,
		    const char *why, void *arg);

/*
 * Asks the configured resolvers for the CNAME at name (never following it,
 * never the search list).  Returns a handle for dns_cancel, or NULL when out
 * of memory.  cb runs exactly once, from the loop, unless cancelled.
 */
struct dns_req	*dns_cname(struct dns *dns, const char *name, dns_cname_cb *cb,
		    void *arg);

/*
 * The pure part: classifies a resolver's answer (a DNS message, untrusted)
 * to a CNAME question for qname.  Fills target (when FOUND) and why.  Names
 * are read with every bound checked: compression pointers must point
 * backwards (so no loops), names stay within 255 bytes, records within the
 * message.
 */
enum dns_cname_status dns_cname_parse(const unsigned char *msg, size_t len,
		    const char *qname, char *target, size_t targetlen, char *why,
		    size_t whylen);

/*
 * Reads the (possibly compressed) name at msg[*off] into out as lowercase
 * presentation form without the final dot ("" for the root); moves *off past
 * it.  Returns 0, or -1 when the name is malformed or out is too small.
 */
int		 dns_name_read(const unsigned char *msg, size_t len, size_t *off,
		    char *out, size_t outlen);

#endif
