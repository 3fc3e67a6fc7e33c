/*
 * Expiry warnings for every certificate certfleet knows: tracked by PEM or
 * by host, and managed.  Each certificate (by fingerprint) gets one
 * `expiring` per warn-days threshold it crosses (one, for the lowest, when
 * it is first seen already below several), `expired` once when it lapses,
 * and `renewal_overdue` once when one that should be replaced is still the
 * one in use at two thirds of its life.  The state is a row per subject in
 * the store with its own due index, so a restart says nothing twice and a
 * PEM item, never re-fetched, is still watched.  Thresholds follow
 * PITFALLS' short-lived rule: a default threshold of T days applies only to
 * certificates living at least 3 T; thresholds the user gave always apply.
 */
#ifndef CERTFLEET_EXPIRY_H
#define CERTFLEET_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

struct config_days;
struct daemon;
struct store_expiry;
struct x509_facts;

#define EXPIRY_DAY	86400

/* The thresholds (days, largest first) for a certificate valid from..until
 * (both inclusive); out holds CONFIG_DAYS_MAX.  Returns how many. */
size_t	 expiry_thresholds(const struct config_days *cfg, int64_t valid_from,
	    int64_t valid_until, int *out);

/* What expiry_decide found due. */
struct expiry_due {
	int	 warn_days;	/* a threshold crossed: warn for it (0: none) */
	int	 expired;	/* notAfter has passed */
	int	 overdue;	/* two thirds of the life passed, not replaced */
};

/*
 * Pure: what is due for x at now, given its thresholds (largest first) and
 * whether its replacement is expected (a host's or a managed certificate's,
 * not a pasted PEM's).  Updates x's state and its next due_at (0: nothing
 * left to say).
 */
void	 expiry_decide(struct store_expiry *x, const int *days, size_t ndays,
	    int watch_renewal, int64_t now, struct expiry_due *out);

/*
 * Inside the caller's write bracket.  observe: the subject now holds the
 * certificate f; a new fingerprint starts afresh, the same one changes
 * nothing.  forget: the subject is gone.  touch: look at it again now
 * (after an activation).  Each returns 0, or -1 with err.
 */
int	 expiry_observe(struct daemon *d, const char *subject_type,
	    int64_t subject_id, const struct x509_facts *f, char *err,
	    size_t errlen);
int	 expiry_forget(struct daemon *d, const char *subject_type,
	    int64_t subject_id, char *err, size_t errlen);
int	 expiry_touch(struct daemon *d, const char *subject_type,
	    int64_t subject_id, char *err, size_t errlen);

/* The runner: a timer at the soonest due_at, a batch at a time. */
struct expiry_runner;
struct expiry_runner *expiry_runner_new(struct daemon *d, char *err,
		    size_t errlen);
void		 expiry_runner_free(struct expiry_runner *r);
/* Look for due work soon: after observes, clock moves and reloads. */
void		 expiry_kick(struct expiry_runner *r);

#endif
