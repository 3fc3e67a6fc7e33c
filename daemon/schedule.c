/*
 * Schedule rules and the due-work runner.  The runner sleeps until the
 * soonest next_check_at (at most a minute, so a moved clock is noticed),
 * takes a bounded batch of due ids from the index, leases each (pushes its
 * next_check_at past the probe's lifetime, so a crash retries it) and starts
 * its check.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "x509.h"

#define DAY		86400
#define RETRY_FIRST	600
#define SLEEP_MAX	60
#define BATCH_MAX	1024

int64_t
schedule_interval(int64_t days)
{
	if (days > 90)
		return 30 * DAY;
	if (days > 30)
		return 7 * DAY;
	if (days > 7)
		return 2 * DAY;
	return DAY;	/* 7 days or less, and expired: the check is daily */
}

int64_t
schedule_next(int64_t now, int ok, int has_expiry, int64_t valid_until,
    int failures)
{
	int64_t tier, retry;

	tier = has_expiry ?
	    schedule_interval(x509_days_remaining(valid_until, now)) : DAY;
	if (ok)
		return now + tier;
	retry = RETRY_FIRST;
	for (int i = 1; i < failures && retry < tier; i++)
		retry *= 2;
	return now + (retry < tier ? retry : tier);
}

struct scheduler {
	struct event_base	*base;
	struct store		*st;
	scheduler_start_fn	*start;
	void			*ctx;
	size_t			 max_in_flight;
	size_t			 in_flight;
	struct event		*timer;
};

static void
sched_arm(struct scheduler *s, int64_t secs)
{
	struct timeval tv = { secs > SLEEP_MAX ? SLEEP_MAX : secs, 0 };

	if (secs <= 0)
		tv = (struct timeval){ 0, 0 };
	evtimer_add(s->timer, &tv);
}

static void
sched_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	int64_t ids[BATCH_MAX], now = clock_now(), next;
	size_t room = s->max_in_flight - s->in_flight, n = 0;
	char err[256];

	if (s->in_flight >= s->max_in_flight)
		return;		/* scheduler_done() wakes us */
	if (room > BATCH_MAX)
		room = BATCH_MAX;
	if (store_items_due(s->st, now, ids, room, &n) == -1) {
		log_error("schedule: cannot read due items; retrying in %d s",
		    SLEEP_MAX);
		sched_arm(s, SLEEP_MAX);
		return;
	}
	if (n > 0 && store_write_begin(s->st, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			store_item_set_next_check(s->st, ids[i],
			    now + SCHEDULE_LEASE, err, sizeof(err));
		store_write_end(s->st, 1);
	}
	for (size_t i = 0; i < n; i++)
		if (s->start(s->ctx, ids[i]) == 0)
			s->in_flight++;
	if (n == room) {		/* more may be due: continue next turn */
		sched_arm(s, 0);
		return;
	}
	if (store_next_due(s->st, &next) == -1 || next == 0)
		sched_arm(s, SLEEP_MAX);
	else
		sched_arm(s, next - now);
}

struct scheduler *
scheduler_new(struct event_base *base, struct store *st,
    scheduler_start_fn *start, void *ctx, size_t max_in_flight, char *err,
    size_t errlen)
{
	struct scheduler *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->timer = evtimer_new(base, sched_run_cb, s)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	event_priority_set(s->timer, PRIO_BULK);
	s->base = base;
	s->st = st;
	s->start = start;
	s->ctx = ctx;
	s->max_in_flight = max_in_flight ? max_in_flight : 1;
	scheduler_kick(s);
	return s;
}

void
scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	event_free(s->timer);
	free(s);
}

void
scheduler_kick(struct scheduler *s)
{
	sched_arm(s, 0);
}

void
scheduler_done(struct scheduler *s)
{
	if (s->in_flight > 0)
		s->in_flight--;
	if (s->in_flight + 1 == s->max_in_flight)
		scheduler_kick(s);
}

void
scheduler_set_max_in_flight(struct scheduler *s, size_t n)
{
	s->max_in_flight = n ? n : 1;
	scheduler_kick(s);
}

int64_t
schedule_backoff(int failures, int64_t min, int64_t max)
{
	int64_t d = min;
	uint32_t r = 0;

	for (int i = 1; i < failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	(void)RAND_bytes((unsigned char *)&r, sizeof(r));
	return d + (int64_t)(d * ((double)(r % 401) - 200) / 1000.0);
}
