/*
 * The store's event tables (schema 008): the activity feed, the expiry
 * watch with its due index, notification sinks and the outbox of their
 * deliveries.  Writes run inside the caller's store_write_begin/end
 * bracket, so an event and its deliveries commit together or not at all.
 * Functions return 0, 1 for "no such row" where noted, -1 with err.
 */
#ifndef CERTFLEET_STORE_EVENTS_H
#define CERTFLEET_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* --- events ---------------------------------------------------------------- */

struct store_event {
	int64_t		 id;
	int64_t		 at;
	const char	*kind;
	int		 severity;	/* 0 info, 1 warning, 2 critical */
	const char	*subject_type;	/* NULL: about no one thing */
	int64_t		 subject_id;
	const char	*message;
	const char	*data;		/* a JSON object's text */
	int64_t		 only_sink;	/* insert: this sink alone (notify test) */
};

/* Inserts ev (sets ev->id) and one delivery per enabled sink that wants
 * its kind and severity, due at ev->at (an e-mail sink's a minute later,
 * so a burst becomes one message).  An event about a sink is not
 * delivered to that sink: a failing sink never feeds itself. */
int	 store_event_insert(struct store *st, struct store_event *ev,
	    char *err, size_t errlen);

struct store_event_filter {
	int64_t		 after;		/* ids above this (0: from the start) */
	int64_t		 before;	/* ids below this (0: to the end) */
	const char	*subject_type;	/* with subject_id; NULL: any */
	int64_t		 subject_id;
	const char	*kinds;		/* ",a,b,"; NULL: any */
	int		 ascending;	/* oldest first (cursors) */
	int64_t		 limit;		/* > 0 */
};

typedef int store_event_fn(const struct store_event *ev, void *arg);
/* Calls fn per matching event (fn returns non-zero to stop). */
int	 store_events_each(struct store *st, const struct store_event_filter *f,
	    store_event_fn *fn, void *arg, char *err, size_t errlen);
/* The newest event id, 0 when there is none. */
int	 store_events_last_id(struct store *st, int64_t *id);
/* One event as a new copy of its row: 0, 1 not found; free with
 * store_event_free. */
int	 store_event_get(struct store *st, int64_t id, struct store_event **out,
	    char *err, size_t errlen);
void	 store_event_free(struct store_event *ev);

/* --- expiry watch ---------------------------------------------------------- */

struct store_expiry {
	char		 subject_type[16];	/* "tracked" or "certificate" */
	int64_t		 subject_id;
	char		 fingerprint[65];
	int64_t		 valid_from;
	int64_t		 valid_until;
	int		 warned_days;	/* lowest threshold warned, 0: none */
	int64_t		 expired_at;	/* 0: not yet */
	int64_t		 overdue_at;	/* renewal_overdue recorded; 0: not */
	int64_t		 due_at;	/* 0: nothing left to say */
};

int	 store_expiry_get(struct store *st, const char *type, int64_t id,
	    struct store_expiry *out, char *err, size_t errlen);	/* 1 */
int	 store_expiry_put(struct store *st, const struct store_expiry *x,
	    char *err, size_t errlen);
int	 store_expiry_delete(struct store *st, const char *type, int64_t id,
	    char *err, size_t errlen);
/* Up to max rows due at or before now, soonest first. */
int	 store_expiry_due(struct store *st, int64_t now, struct store_expiry *out,
	    size_t max, size_t *n, char *err, size_t errlen);
/* The soonest due_at; 0 when nothing is due ever. */
int	 store_expiry_next_due(struct store *st, int64_t *at);

/* --- notification sinks and their outbox --------------------------------- */

struct store_sink {
	int64_t		 id;
	char		*name;
	char		 type[8];	/* webhook, email, exec */
	char		*target;	/* URL, "a@x,b@y", or the command */
	char		 format[8];	/* json, slack (webhooks) */
	unsigned char	*secret;	/* sealed, sinks:<id>:secret; NULL none */
	size_t		 secret_len;
	char		*smtp_url;
	char		*smtp_user;
	char		*mail_from;
	int		 smtp_insecure;
	char		*smtp_ca_file;
	char		*kinds;		/* ",a,b,"; NULL: every kind */
	int		 min_severity;
	int		 timeout;	/* seconds per attempt */
	int		 enabled;
	char		*disabled_reason;
	int64_t		 delivered;	/* counters */
	int64_t		 failed;
	int64_t		 last_delivered_at;
	char		*last_error;
	int64_t		 created_at;
	int64_t		 pending;	/* read only: deliveries waiting */
	int64_t		 given_up;	/* read only: deliveries given up */
};

void	 store_sink_free(struct store_sink *s);
/* Sets s->id; 1 when the name is taken. */
int	 store_sink_insert(struct store *st, struct store_sink *s, char *err,
	    size_t errlen);
int	 store_sink_set_secret(struct store *st, int64_t id,
	    const unsigned char *blob, size_t len, char *err, size_t errlen);
/* By name (id 0) or by id; 1: not found. */
int	 store_sink_get(struct store *st, const char *name, int64_t id,
	    struct store_sink **out, char *err, size_t errlen);
typedef int store_sink_fn(const struct store_sink *s, void *arg);
/* By name; counts included. */
int	 store_sinks_each(struct store *st, store_sink_fn *fn, void *arg,
	    char *err, size_t errlen);
/* Deletes the sink and its deliveries; 1: not found. */
int	 store_sink_delete(struct store *st, int64_t id, char *err,
	    size_t errlen);
int	 store_sink_disable(struct store *st, int64_t id, const char *reason,
	    char *err, size_t errlen);
int	 store_sink_enable(struct store *st, int64_t id, char *err,
	    size_t errlen);						/* 1 */

struct store_delivery {
	int64_t		 id;
	int64_t		 event_id;
	int64_t		 sink_id;
	int		 attempts;
	int64_t		 created_at;
};

/* Up to max of the sink's deliveries due at or before now, oldest first. */
int	 store_deliveries_due(struct store *st, int64_t sink_id, int64_t now,
	    struct store_delivery *out, size_t max, size_t *n, char *err,
	    size_t errlen);
/* The soonest due delivery of an enabled sink; 0 when none. */
int	 store_deliveries_next_due(struct store *st, int64_t *at);
/* Holds a delivery under way until lease_until (a crash retries it then). */
int	 store_delivery_lease(struct store *st, int64_t id, int64_t lease_until,
	    char *err, size_t errlen);
/* Delivered: the row goes, the sink counts it. */
int	 store_delivery_done(struct store *st, const struct store_delivery *d,
	    int64_t now, char *err, size_t errlen);
/* Failed: retried at next_at, or given up when next_at is 0. */
int	 store_delivery_failed(struct store *st, const struct store_delivery *d,
	    int64_t next_at, const char *why, char *err, size_t errlen);
/* Given-up deliveries of the sink due again now; *n how many. */
int	 store_deliveries_retry(struct store *st, int64_t sink_id, int64_t now,
	    int64_t *n, char *err, size_t errlen);

#endif
