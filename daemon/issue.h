/*
 * The issuing engine: moves managed certificates through their lifecycle on
 * the loop.  A pending certificate has its _acme-challenge CNAMEs polled
 * until each points at its tech-zone label, then is ordered by ACME DNS-01
 * (TXT values published in certfleetd's own tech zone); an active one is
 * renewed with a new key when its threshold comes, and marked expired past
 * notAfter.  Every step is written to the store before the next starts, so
 * an order killed mid-way resumes where it was after a restart.
 */
#ifndef CERTFLEET_ISSUE_H
#define CERTFLEET_ISSUE_H

#include <stdint.h>

#include "metrics.h"

struct cf_err;
struct daemon;
struct issuer;

/* Most certificates worked on at once; more wait for the next tick. */
#define ISSUE_JOBS_MAX		1024
/* How long a certificate is leased to a job: one that outlives it (a
 * crash) is picked up again when the lease ends, or at the next start. */
#define ISSUE_LEASE_SECS	600

/*
 * Returns a new engine on d (which must have store, dns, http, keys and
 * keygen), or NULL with err.  Running orders left by a previous run are
 * due at once.
 */
struct issuer	*issuer_new(struct daemon *d, char *err, size_t errlen);
/* Stops every job (their state stays in the store) and frees.  NULL: no-op. */
void		 issuer_free(struct issuer *is);
/* Looks for due work now rather than at the next tick. */
void		 issuer_kick(struct issuer *is);
/* 1 while a job works on the certificate (CNAME check, order, renewal). */
int		 issuer_busy(const struct issuer *is, int64_t cert_id);
/* Stops the job of a certificate about to be deleted; its TXT values go. */
void		 issuer_forget(struct issuer *is, int64_t cert_id);

/*
 * Cert.Renew: orders a new certificate with a new key now, whatever the
 * threshold.  Refused (FAILED_PRECONDITION) for drafts, revoked
 * certificates and imports without a CA profile.
 */
int		 issuer_renew(struct issuer *is, int64_t cert_id,
		    struct cf_err *e);

/* Called once when a revocation ends: e NULL on success. */
typedef void	 issuer_done_fn(const struct cf_err *e, void *arg);
/*
 * Cert.Revoke: asks the certificate's CA to revoke it (RFC 5280 reason
 * code, -1 for none) and marks it revoked.  done runs later, from the loop.
 * Returns 0, or -1 with e when it cannot start.
 */
int		 issuer_revoke(struct issuer *is, int64_t cert_id, int reason,
		    issuer_done_fn *done, void *arg, struct cf_err *e);

/*
 * The renewal time an ARI window [start, end] suggests (RFC 9773 §4.2): the
 * point r/2^32 of the way in, never before now, never after the threshold.
 * A window that ends before it starts is ignored.  Pure, for tests.
 */
int64_t		 issue_ari_pick(int64_t start, int64_t end, int64_t threshold,
		    int64_t now, uint32_t r);

/* Counters for Daemon.Status. */
struct issuer_stats {
	uint64_t	 jobs;		/* under way now */
	uint64_t	 issued;	/* since start */
	uint64_t	 renewed;
	uint64_t	 failed;
};
void		 issuer_stats(const struct issuer *is, struct issuer_stats *st);

/* Counted for /metrics since start, labelled by the CA profile's name. */
struct issuer_metrics {
	struct mcounters	 orders;	/* {ca, result}: valid, failed */
	struct mcounters	 requests;	/* {ca, code}: HTTP status */
	struct mcounters	 rate_limited;	/* {ca}: rateLimited problems */
	struct hist		 duration;	/* seconds, one ACME request */
};
const struct issuer_metrics *issuer_metrics(const struct issuer *is);

#endif
