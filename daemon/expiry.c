/*
 * Expiry warnings (expiry.h): the pure rules, the expiry rows' upkeep, and
 * the runner that records what falls due.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "expiry.h"
#include "log.h"
#include "store.h"
#include "store_events.h"
#include "x509.h"

/* Rows looked at per loop turn; the rest follow on the next turns. */
#define EXPIRY_BATCH		128
/* The runner looks again at least this often (seconds), whatever the
 * index says: a wall clock that jumps is caught within the hour. */
#define EXPIRY_REARM_MAX	3600

size_t
expiry_thresholds(const struct config_days *cfg, int64_t valid_from,
    int64_t valid_until, int *out)
{
	int64_t lifetime = valid_until - valid_from + 1;
	size_t n = 0;

	for (size_t i = 0; i < cfg->n; i++)
		/* 3 T <= lifetime: a 6-day certificate is "within 7 days" at
		 * birth, and 45 days "within 30" before its normal renewal. */
		if (cfg->given || (int64_t)cfg->days[i] * EXPIRY_DAY * 3 <=
		    lifetime)
			out[n++] = cfg->days[i];
	return n;
}

/* When threshold T is crossed: from then on at most T days remain. */
static int64_t
crossing(const struct store_expiry *x, int days)
{
	return x->valid_until + 1 - (int64_t)days * EXPIRY_DAY;
}

/* Two thirds into its life a certificate whose automation works has been
 * replaced (certfleet renews at half life at the latest). */
static int64_t
overdue_moment(const struct store_expiry *x)
{
	return x->valid_from + (x->valid_until - x->valid_from + 1) * 2 / 3;
}

static int
still_open(const struct store_expiry *x, int days)
{
	return x->warned_days == 0 || days < x->warned_days;
}

void
expiry_decide(struct store_expiry *x, const int *days, size_t ndays,
    int watch_renewal, int64_t now, struct expiry_due *out)
{
	int64_t next;

	memset(out, 0, sizeof(*out));
	if (now > x->valid_until) {
		/* Expired says it all: no late threshold warnings. */
		if (x->expired_at == 0) {
			out->expired = 1;
			x->expired_at = now;
		}
		x->due_at = 0;
		return;
	}
	for (size_t i = 0; i < ndays; i++)
		if (still_open(x, days[i]) && now >= crossing(x, days[i]))
			out->warn_days = days[i];	/* the lowest wins */
	if (out->warn_days)
		x->warned_days = out->warn_days;
	if (watch_renewal && x->overdue_at == 0 && now >= overdue_moment(x)) {
		out->overdue = 1;
		x->overdue_at = now;
	}
	next = x->valid_until + 1;
	for (size_t i = 0; i < ndays; i++)
		if (still_open(x, days[i]) && crossing(x, days[i]) > now &&
		    crossing(x, days[i]) < next)
			next = crossing(x, days[i]);
	if (watch_renewal && x->overdue_at == 0 && overdue_moment(x) > now &&
	    overdue_moment(x) < next)
		next = overdue_moment(x);
	x->due_at = next;
}

/* --- the rows --------------------------------------------------------------- */

int
expiry_observe(struct daemon *d, const char *subject_type, int64_t subject_id,
    const struct x509_facts *f, char *err, size_t errlen)
{
	struct store_expiry x;
	int rc;

	if (f == NULL || f->fingerprint_sha256 == NULL)
		return 0;
	rc = store_expiry_get(d->store, subject_type, subject_id, &x, err,
	    errlen);
	if (rc == -1)
		return -1;
	if (rc == 0 && strcmp(x.fingerprint, f->fingerprint_sha256) == 0)
		return 0;	/* the same certificate: its state stands */
	memset(&x, 0, sizeof(x));
	snprintf(x.subject_type, sizeof(x.subject_type), "%s", subject_type);
	x.subject_id = subject_id;
	snprintf(x.fingerprint, sizeof(x.fingerprint), "%s",
	    f->fingerprint_sha256);
	x.valid_from = f->valid_from;
	x.valid_until = f->valid_until;
	/* Looked at by the runner at once: it may already be below one. */
	x.due_at = clock_now();
	if (store_expiry_put(d->store, &x, err, errlen) == -1)
		return -1;
	if (d->expiry != NULL)
		expiry_kick(d->expiry);
	return 0;
}

int
expiry_forget(struct daemon *d, const char *subject_type, int64_t subject_id,
    char *err, size_t errlen)
{
	return store_expiry_delete(d->store, subject_type, subject_id, err,
	    errlen);
}

int
expiry_touch(struct daemon *d, const char *subject_type, int64_t subject_id,
    char *err, size_t errlen)
{
	struct store_expiry x;
	int rc;

	rc = store_expiry_get(d->store, subject_type, subject_id, &x, err,
	    errlen);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	if (x.expired_at != 0)
		return 0;
	x.due_at = clock_now();
	if (store_expiry_put(d->store, &x, err, errlen) == -1)
		return -1;
	if (d->expiry != NULL)
		expiry_kick(d->expiry);
	return 0;
}

/* --- the runner ------------------------------------------------------------- */

struct expiry_runner {
	struct daemon	*d;
	struct event	*timer;
};

/* "in 6 days", "in 20 hours": what is left, as a person says it. */
static void
remaining_text(int64_t valid_until, int64_t now, char *buf, size_t len)
{
	int64_t left = valid_until + 1 - now;

	if (left >= 2 * EXPIRY_DAY)
		snprintf(buf, len, "in %" PRId64 " days", left / EXPIRY_DAY);
	else if (left >= 7200)
		snprintf(buf, len, "in %" PRId64 " hours", left / 3600);
	else
		snprintf(buf, len, "in %" PRId64 " minutes", left > 60 ?
		    left / 60 : 1);
}

/* What the runner knows of the subject, for the messages and data. */
struct subject {
	struct store_item	*item;
	struct store_cert	*cert;
	const struct x509_facts	*facts;
	char			 what[300];	/* "certificate 3 (a.example)" */
	int			 watch_renewal;
	int			 quiet;		/* inactive or revoked */
};

static int
subject_load(struct daemon *d, const struct store_expiry *x,
    struct subject *s, char *err, size_t errlen)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (strcmp(x->subject_type, EVENT_SUBJECT_TRACKED) == 0) {
		if ((rc = store_item_get(d->store, x->subject_id, &s->item, err,
		    errlen)) != 0)
			return rc;
		s->facts = s->item->facts;
		s->quiet = !s->item->active;
		s->watch_renewal = strcmp(s->item->source, "host") == 0;
		if (s->item->host != NULL)
			esc_format(s->what, sizeof(s->what), "%s:%d (item %lld)",
			    s->item->host, s->item->port,
			    (long long)s->item->id);
		else
			esc_format(s->what, sizeof(s->what), "item %lld (%s)",
			    (long long)s->item->id, s->facts &&
			    s->facts->common_name ? s->facts->common_name :
			    "no CN");
		return 0;
	}
	if ((rc = store_cert_get(d->store, x->subject_id, &s->cert, err,
	    errlen)) != 0)
		return rc;
	s->facts = s->cert->facts;
	s->quiet = strcmp(s->cert->status, "revoked") == 0;
	s->watch_renewal = s->cert->ca_id != 0;
	esc_format(s->what, sizeof(s->what), "certificate %lld (%s)",
	    (long long)s->cert->id, s->cert->domain);
	return 0;
}

static void
subject_free(struct subject *s)
{
	store_item_free(s->item);
	store_cert_free(s->cert);
}

/* The facts a receiver needs: the certificate's and the subject's. */
static void
subject_data(struct event *ev, const struct subject *s,
    const struct store_expiry *x, int64_t now)
{
	if (s->facts != NULL &&
	    strcmp(s->facts->fingerprint_sha256, x->fingerprint) == 0)
		event_facts(ev, s->facts, now);
	else {
		event_str(ev, "fingerprint_sha256", x->fingerprint);
		event_time(ev, "not_after", x->valid_until);
		event_int(ev, "days_remaining",
		    x509_days_remaining(x->valid_until, now));
	}
	event_int(ev, "lifetime_days", (x->valid_until - x->valid_from + 1) /
	    EXPIRY_DAY);
	if (s->item != NULL) {
		event_str(ev, "source", s->item->source);
		if (s->item->host != NULL) {
			event_str(ev, "host", s->item->host);
			event_int(ev, "port", s->item->port);
			event_str(ev, "sni", s->item->sni);
		}
		return;
	}
	event_str(ev, "domain", s->cert->domain);
	event_str(ev, "status", s->cert->status);
	event_str(ev, "ca", s->cert->ca_name);
	event_str(ev, "last_error", s->cert->last_error);
	event_time(ev, "next_renewal_at", s->cert->next_renewal_at);
}

/* Why a managed certificate is still the old one, for its warning. */
static const char *
renewal_state(const struct subject *s, char *buf, size_t len)
{
	if (s->cert == NULL)
		return "";
	if (s->cert->ca_id == 0)
		return "; it is an import that certfleet does not renew";
	if (s->cert->last_error != NULL) {
		esc_format(buf, len, "; its renewal has not happened: %s",
		    s->cert->last_error);
		return buf;
	}
	return "; its renewal has not happened yet";
}

static int
record(struct daemon *d, const struct store_expiry *x, const struct subject *s,
    const char *kind, int severity, int64_t now, const char *msg, char *err,
    size_t errlen)
{
	struct event ev;

	event_init(&ev, kind, x->subject_type, x->subject_id);
	if (severity >= 0)
		ev.severity = severity;
	ev.at = now;
	esc_format(ev.message, sizeof(ev.message), "%s", msg);
	subject_data(&ev, s, x, now);
	return event_record(d, &ev, err, errlen);
}

/* Records what is due for one row and writes its new state. */
static int
expiry_run_one(struct daemon *d, struct store_expiry *x, int64_t now,
    char *err, size_t errlen)
{
	struct subject s;
	struct expiry_due due;
	int days[CONFIG_DAYS_MAX];
	char msg[EVENT_MESSAGE_MAX], left[40], when[40], why[700];
	size_t n;
	int rc;

	if ((rc = subject_load(d, x, &s, err, errlen)) == 1)
		return store_expiry_delete(d->store, x->subject_type,
		    x->subject_id, err, errlen);
	if (rc == -1)
		return -1;
	if (s.quiet) {
		/* Nothing while inactive; an activation looks again. */
		x->due_at = 0;
		subject_free(&s);
		return store_expiry_put(d->store, x, err, errlen);
	}
	n = expiry_thresholds(&d->cfg->warn_days, x->valid_from,
	    x->valid_until, days);
	expiry_decide(x, days, n, s.watch_renewal, now, &due);
	remaining_text(x->valid_until, now, left, sizeof(left));
	clock_rfc3339(x->valid_until, when, sizeof(when));
	rc = 0;
	if (due.expired) {
		esc_format(msg, sizeof(msg), "%s: the certificate expired at %s%s",
		    s.what, when, renewal_state(&s, why, sizeof(why)));
		rc = record(d, x, &s, "expired", -1, now, msg, err, errlen);
	}
	if (rc == 0 && due.warn_days) {
		esc_format(msg, sizeof(msg), "%s: the certificate expires %s, at "
		    "%s%s", s.what, left, when, renewal_state(&s, why,
		    sizeof(why)));
		rc = record(d, x, &s, "expiring", due.warn_days <= 3 ?
		    EVENT_CRITICAL : EVENT_WARNING, now, msg, err, errlen);
	}
	if (rc == 0 && due.overdue) {
		esc_format(msg, sizeof(msg), "%s: %s is two thirds through its "
		    "life and still %s; it expires %s%s", s.what,
		    s.cert ? "the certificate" : "the certificate served",
		    s.cert ? "not renewed" : "the one in use", left,
		    renewal_state(&s, why, sizeof(why)));
		rc = record(d, x, &s, "renewal_overdue", -1, now, msg, err,
		    errlen);
	}
	subject_free(&s);
	if (rc == 0)
		rc = store_expiry_put(d->store, x, err, errlen);
	return rc;
}

static void
expiry_arm(struct expiry_runner *r, int64_t delay)
{
	struct timeval tv = { delay < 0 ? 0 : delay, 0 };

	if (delay > EXPIRY_REARM_MAX)
		tv.tv_sec = EXPIRY_REARM_MAX;
	evtimer_add(r->timer, &tv);
}

static void
expiry_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct expiry_runner *r = arg;
	struct daemon *d = r->d;
	struct store_expiry rows[EXPIRY_BATCH];
	int64_t now = clock_now(), next;
	char err[512];
	size_t n = 0;
	int ok = 1;

	(void)fd;
	(void)what;
	if (store_expiry_due(d->store, now, rows, EXPIRY_BATCH, &n, err,
	    sizeof(err)) == -1) {
		log_error("expiry warnings: %s; trying again in a minute", err);
		expiry_arm(r, 60);
		return;
	}
	/* A bracket per row: one that fails is retried alone, not with the
	 * whole batch behind it. */
	for (size_t i = 0; i < n; i++) {
		if (store_write_begin(d->store, err, sizeof(err)) == -1) {
			ok = 0;
			break;
		}
		if (expiry_run_one(d, &rows[i], now, err, sizeof(err)) == 0) {
			store_write_end(d->store, 1);
			continue;
		}
		store_write_end(d->store, 0);
		log_error("expiry warnings: %s %lld: %s; trying again in a "
		    "minute", rows[i].subject_type,
		    (long long)rows[i].subject_id, err);
		/* Out of the way of the others for a minute, as stored (the
		 * decision above was rolled back with its events). */
		if (store_write_begin(d->store, err, sizeof(err)) == 0) {
			struct store_expiry x;
			int put = store_expiry_get(d->store,
			    rows[i].subject_type, rows[i].subject_id, &x, err,
			    sizeof(err)) == 0;

			if (put) {
				x.due_at = now + 60;
				put = store_expiry_put(d->store, &x, err,
				    sizeof(err)) == 0;
			}
			store_write_end(d->store, put);
		}
	}
	if (!ok) {
		log_error("expiry warnings: %s; trying again in a minute", err);
		expiry_arm(r, 60);
		return;
	}
	if (n == EXPIRY_BATCH) {
		expiry_arm(r, 0);	/* more due: the next turn */
		return;
	}
	if (store_expiry_next_due(d->store, &next) == -1 || next == 0)
		expiry_arm(r, EXPIRY_REARM_MAX);
	else
		expiry_arm(r, next - clock_now());
}

struct expiry_runner *
expiry_runner_new(struct daemon *d, char *err, size_t errlen)
{
	struct expiry_runner *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->timer = evtimer_new(d->base, expiry_run_cb,
	    r)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->d = d;
	if (event_base_get_npriorities(d->base) > PRIO_BULK)
		event_priority_set(r->timer, PRIO_BULK);
	expiry_kick(r);
	return r;
}

void
expiry_runner_free(struct expiry_runner *r)
{
	if (r == NULL)
		return;
	event_free(r->timer);
	free(r);
}

void
expiry_kick(struct expiry_runner *r)
{
	expiry_arm(r, 0);
}
