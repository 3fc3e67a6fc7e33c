/*
 * When tracked hosts are next checked, and the runner that starts checks as
 * they fall due.  Due work comes from the index on next_check_at, a batch at
 * a time: a million items are never all in memory.
 */
#ifndef CERTFLEET_SCHEDULE_H
#define CERTFLEET_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct scheduler;

/* The seed's tiers: >90 days: 30 days; >30: 7 days; >7: 48 h; else 24 h. */
int64_t	 schedule_interval(int64_t days_remaining);

/*
 * next_check_at after a check at now.  ok: from the expiry's tier.  Failed:
 * sooner, doubling from 10 minutes per consecutive failure, never later than
 * the tier (24 h when nothing is known).
 */
int64_t	 schedule_next(int64_t now, int ok, int has_expiry, int64_t valid_until,
	    int failures);

/*
 * Seconds to wait after `failures` failures (>= 1): min doubling to max,
 * +-20% jitter so a fleet that failed together does not retry together.
 * Used by the issuing engine, notification delivery and deploys.
 */
int64_t	 schedule_backoff(int failures, int64_t min, int64_t max);

/* Starts the check of item id; returns 0 if it started. */
typedef int	 scheduler_start_fn(void *ctx, int64_t id);

struct scheduler *scheduler_new(struct event_base *base, struct store *st,
		    scheduler_start_fn *start, void *ctx, size_t max_in_flight,
		    char *err, size_t errlen);
void		 scheduler_free(struct scheduler *s);
/* Looks for due work soon: after adds, activations and clock changes. */
void		 scheduler_kick(struct scheduler *s);
/* A check that the scheduler started has finished. */
void		 scheduler_done(struct scheduler *s);
void		 scheduler_set_max_in_flight(struct scheduler *s, size_t n);
/* How long a started check holds its item before it is due again. */
#define SCHEDULE_LEASE	300

#endif
