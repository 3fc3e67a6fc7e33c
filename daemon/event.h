/*
 * The event model: what happened, how much it matters, to what, and the
 * facts a receiver needs without a second call.  Emitters (track.c, cert.c,
 * issue.c, expiry.c, notify.c) build a struct event and record it inside
 * their write bracket; the store writes the event and its outbox rows in the
 * same transaction.  Listeners (notification delivery, Events.Watch) are
 * told once per loop turn, after the events they may read have committed.
 */
#ifndef CERTFLEET_EVENT_H
#define CERTFLEET_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct daemon;
struct event_base;
struct store;
struct x509_facts;

enum event_severity {
	EVENT_INFO = 0,
	EVENT_WARNING = 1,
	EVENT_CRITICAL = 2,
};

/* Subject types, as stored and sent. */
#define EVENT_SUBJECT_TRACKED		"tracked"
#define EVENT_SUBJECT_CERTIFICATE	"certificate"
#define EVENT_SUBJECT_CA		"ca"
#define EVENT_SUBJECT_SINK		"sink"

struct event_kind {
	const char		*name;
	enum event_severity	 severity;	/* its usual severity */
	const char		*summary;
};

/* Every kind, in documentation order; the last row's name is NULL. */
extern const struct event_kind event_kinds[];
const struct event_kind *event_kind_find(const char *name);

const char	*event_severity_name(int severity);
int		 event_severity_parse(const char *name);	/* -1: unknown */

/*
 * "a,b" (kinds, checked) into ",a,b," in out, the store's filter form.
 * Returns 0, or -1 with err naming the unknown kind.
 */
int		 event_kinds_parse(const char *list, char *out, size_t outlen,
		    char *err, size_t errlen);

#define EVENT_MESSAGE_MAX	1024

struct event {
	const char	*kind;		/* a row of event_kinds */
	int		 severity;	/* the kind's unless changed */
	const char	*subject_type;	/* EVENT_SUBJECT_*, or NULL */
	int64_t		 subject_id;
	int64_t		 at;		/* 0: clock_now() when recorded */
	char		 message[EVENT_MESSAGE_MAX];
	json_t		*data;		/* an object; owned by the event */
	int64_t		 only_sink;	/* delivered to this sink alone */
};

/* Starts ev; the data object may fail to allocate (then it stays empty). */
void	 event_init(struct event *ev, const char *kind,
	    const char *subject_type, int64_t subject_id);
/* The one-line message, cut on a character when too long. */
void	 event_message(struct event *ev, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 event_str(struct event *ev, const char *key, const char *value);
void	 event_int(struct event *ev, const char *key, int64_t value);
void	 event_time(struct event *ev, const char *key, int64_t t);
void	 event_bool(struct event *ev, const char *key, int value);
/* A certificate's facts into data: names, common_name, serial, issuer,
 * fingerprint, not_before, not_after, days_remaining (at now). */
void	 event_facts(struct event *ev, const struct x509_facts *f, int64_t now);
/* A managed certificate into data: its domain, names, status, CA, last
 * error, next renewal and, once issued, its facts (as event_facts). */
struct store_cert;
void	 event_cert(struct event *ev, const struct store_cert *c, int64_t now);
/* Releases ev's data (event_record does it too). */
void	 event_clear(struct event *ev);

/*
 * Records ev inside the caller's open write bracket, with one delivery per
 * sink that wants it, and has the listeners told once it commits.  Releases
 * ev's data either way.  Returns 0, or -1 with err.
 */
int	 event_record(struct daemon *d, struct event *ev, char *err,
	    size_t errlen);

/* --- listeners ------------------------------------------------------------- */

struct events;
typedef void	 events_listener_fn(void *arg);

struct events	*events_new(struct event_base *base, struct store *st,
		    char *err, size_t errlen);
void		 events_free(struct events *evs);
/* fn(arg) runs once per loop turn in which events committed (at most 4). */
int		 events_listen(struct events *evs, events_listener_fn *fn,
		    void *arg);
void		 events_unlisten(struct events *evs, events_listener_fn *fn,
		    void *arg);

#endif
