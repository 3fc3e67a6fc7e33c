/*
 * The event model (event.h): the kinds and their usual severity, the data
 * builders, recording inside a write bracket, and the listeners told once
 * per loop turn after the events committed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "daemon.h"
#include "event.h"
#include "store.h"
#include "store_events.h"
#include "x509.h"

const struct event_kind event_kinds[] = {
	/* tracked certificates */
	{ "added", EVENT_INFO, "a certificate is tracked (PEM or host)" },
	{ "checked", EVENT_INFO, "a host was checked; its chain is recorded" },
	{ "chain_changed", EVENT_INFO, "a tracked host now serves another "
	    "certificate" },
	{ "check_failed", EVENT_WARNING, "a host could not be checked" },
	{ "check_recovered", EVENT_INFO, "a host that failed its checks "
	    "answers again" },
	{ "verify_failed", EVENT_CRITICAL, "a chain or name that was valid no "
	    "longer is" },
	{ "activated", EVENT_INFO, "scheduled checks resumed" },
	{ "deactivated", EVENT_INFO, "scheduled checks suspended" },
	{ "deleted", EVENT_INFO, "a tracked certificate was removed" },
	/* every certificate certfleet knows */
	{ "expiring", EVENT_WARNING, "a certificate crossed a warn-days "
	    "threshold" },
	{ "expired", EVENT_CRITICAL, "a certificate's notAfter has passed" },
	{ "renewal_overdue", EVENT_WARNING, "a certificate is past its "
	    "planned renewal and still not replaced" },
	/* managed certificates */
	{ "cert_created", EVENT_INFO, "a managed certificate was drafted" },
	{ "cert_updated", EVENT_INFO, "a draft was edited" },
	{ "cert_csr", EVENT_INFO, "a key and CSR were made" },
	{ "cert_waiting", EVENT_INFO, "issuance waits for the _acme-challenge "
	    "CNAME" },
	{ "cert_issued", EVENT_INFO, "a certificate was issued" },
	{ "cert_renewed", EVENT_INFO, "a certificate was renewed" },
	{ "cert_issue_failed", EVENT_WARNING, "an issuance failed; it is "
	    "retried" },
	{ "cert_renew_failed", EVENT_WARNING, "a renewal failed; it is "
	    "retried" },
	{ "cert_imported", EVENT_INFO, "a certificate and key were imported" },
	{ "cert_revoked", EVENT_WARNING, "a certificate was revoked" },
	{ "cert_deleted", EVENT_INFO, "a managed certificate was deleted" },
	{ "deploy_ok", EVENT_INFO, "a certificate's files reached a deploy "
	    "target and its reload succeeded" },
	{ "deploy_failed", EVENT_WARNING, "a deploy or its reload failed; it "
	    "is retried" },
	/* CA profiles */
	{ "ca_added", EVENT_INFO, "a CA profile was added" },
	{ "ca_deleted", EVENT_INFO, "a CA profile was deleted" },
	{ "ca_eab_set", EVENT_INFO, "a CA profile's EAB was set" },
	{ "acme_account", EVENT_INFO, "an ACME account was registered with a "
	    "CA" },
	{ "ca_acme_profile_set", EVENT_INFO, "a CA profile's ACME profile was "
	    "set" },
	/* notification sinks */
	{ "notify_test", EVENT_INFO, "a test event, sent by notify test" },
	{ "sink_disabled", EVENT_WARNING, "a sink was disabled (its receiver "
	    "answered 410 Gone)" },
	{ "delivery_given_up", EVENT_WARNING, "a sink gave up on an event "
	    "after retrying for days" },
	{ NULL, EVENT_INFO, NULL },
};

static const char *const severity_names[] = { "info", "warning", "critical" };

const struct event_kind *
event_kind_find(const char *name)
{
	for (const struct event_kind *k = event_kinds; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

const char *
event_severity_name(int severity)
{
	if (severity < EVENT_INFO || severity > EVENT_CRITICAL)
		return "info";
	return severity_names[severity];
}

int
event_severity_parse(const char *name)
{
	for (int i = EVENT_INFO; i <= EVENT_CRITICAL; i++)
		if (strcmp(name, severity_names[i]) == 0)
			return i;
	return -1;
}

int
event_kinds_parse(const char *list, char *out, size_t outlen, char *err,
    size_t errlen)
{
	const char *p = list, *comma;
	size_t o = 0;

	if (outlen < 2)
		return -1;
	out[o++] = ',';
	for (; *p != '\0'; p = comma + 1) {
		char name[64];
		size_t n;

		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, errlen, "kinds: an empty or overlong name "
			    "in the list");
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (event_kind_find(name) == NULL) {
			esc_format(err, errlen, "kinds: unknown event kind '%s' "
			    "(certfleet events --help lists them)", name);
			return -1;
		}
		if (o + n + 2 > outlen) {
			snprintf(err, errlen, "kinds: the list is too long");
			return -1;
		}
		memcpy(out + o, name, n);
		o += n;
		out[o++] = ',';
		if (comma == NULL)
			break;
	}
	out[o] = '\0';
	return 0;
}

void
event_init(struct event *ev, const char *kind, const char *subject_type,
    int64_t subject_id)
{
	const struct event_kind *k = event_kind_find(kind);

	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->severity = k ? (int)k->severity : EVENT_INFO;
	ev->subject_type = subject_type;
	ev->subject_id = subject_id;
	ev->data = json_object();
}

void
event_message(struct event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	esc_vformat(ev->message, sizeof(ev->message), fmt, ap);
	va_end(ap);
}

/* Sets key to v (taking it); a failed allocation leaves the key out. */
static void
data_set(struct event *ev, const char *key, json_t *v)
{
	if (ev->data == NULL || v == NULL) {
		json_decref(v);
		return;
	}
	json_object_set_new(ev->data, key, v);
}

/* A string from a certificate or a peer: made valid UTF-8 first, since
 * jansson refuses anything else. */
static json_t *
data_text(const char *s)
{
	size_t n = strlen(s), len;
	json_t *j;
	char *fixed;

	if (esc_utf8_valid(s, n))
		return json_stringn(s, n);
	len = esc_utf8_fixed_len(s, n);
	if ((fixed = malloc(len + 1)) == NULL)
		return NULL;
	esc_utf8(fixed, len + 1, s, n, 0);
	j = json_stringn(fixed, len);
	free(fixed);
	return j;
}

void
event_str(struct event *ev, const char *key, const char *value)
{
	data_set(ev, key, value ? data_text(value) : json_null());
}

void
event_int(struct event *ev, const char *key, int64_t value)
{
	data_set(ev, key, json_integer(value));
}

void
event_time(struct event *ev, const char *key, int64_t t)
{
	char buf[40];

	data_set(ev, key, t ? json_string(clock_rfc3339(t, buf, sizeof(buf))) :
	    json_null());
}

void
event_bool(struct event *ev, const char *key, int value)
{
	data_set(ev, key, json_boolean(value));
}

void
event_facts(struct event *ev, const struct x509_facts *f, int64_t now)
{
	json_t *names = json_array();

	if (f == NULL) {
		json_decref(names);
		return;
	}
	if (names != NULL && f->common_name != NULL)
		json_array_append_new(names, data_text(f->common_name));
	for (size_t i = 0; names != NULL && i < f->nsans; i++)
		if (f->common_name == NULL ||
		    strcmp(f->sans[i], f->common_name) != 0)
			json_array_append_new(names, data_text(f->sans[i]));
	data_set(ev, "names", names);
	event_str(ev, "common_name", f->common_name);
	event_str(ev, "serial_number", f->serial_number);
	event_str(ev, "issued_by", f->issued_by);
	event_str(ev, "fingerprint_sha256", f->fingerprint_sha256);
	event_time(ev, "not_before", f->valid_from);
	event_time(ev, "not_after", f->valid_until);
	event_int(ev, "days_remaining", x509_days_remaining(f->valid_until,
	    now));
}

void
event_cert(struct event *ev, const struct store_cert *c, int64_t now)
{
	json_t *names = json_array();

	event_str(ev, "domain", c->domain);
	if (names != NULL) {
		json_array_append_new(names, data_text(c->domain));
		for (size_t i = 0; i < c->naliases; i++)
			json_array_append_new(names, data_text(c->aliases[i]));
	}
	event_str(ev, "status", c->status);
	event_str(ev, "ca", c->ca_name);
	event_str(ev, "last_error", c->last_error);
	event_int(ev, "failures", c->failures);
	event_time(ev, "next_renewal_at", c->next_renewal_at);
	event_facts(ev, c->facts, now);
	/* The certificate's own names when issued; the requested ones are
	 * what a receiver knows the certificate by. */
	data_set(ev, "names", names);
}

void
event_clear(struct event *ev)
{
	json_decref(ev->data);
	ev->data = NULL;
}

/* --- listeners ------------------------------------------------------------- */

#define EVENTS_LISTENERS_MAX	4

struct events {
	struct store		*store;
	struct event		*wake;		/* a zero-delay timer */
	int			 waiting;	/* a durability wait is queued */
	struct {
		events_listener_fn	*fn;
		void			*arg;
	}			 l[EVENTS_LISTENERS_MAX];
};

static void
events_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events *evs = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < EVENTS_LISTENERS_MAX; i++)
		if (evs->l[i].fn != NULL)
			evs->l[i].fn(evs->l[i].arg);
}

/* The events of this turn are durable (or were rolled back: listeners read
 * the store, so a wake without new rows costs one empty query). */
static void
events_durable_cb(int ok, void *arg)
{
	struct events *evs = arg;
	struct timeval now = { 0, 0 };

	(void)ok;
	evs->waiting = 0;
	/* From the loop, never inside the commit that called us. */
	evtimer_add(evs->wake, &now);
}

struct events *
events_new(struct event_base *base, struct store *st, char *err,
    size_t errlen)
{
	struct events *evs = calloc(1, sizeof(*evs));

	if (evs == NULL || (evs->wake = evtimer_new(base, events_wake_cb,
	    evs)) == NULL) {
		free(evs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	evs->store = st;
	return evs;
}

void
events_free(struct events *evs)
{
	if (evs == NULL)
		return;
	event_free(evs->wake);
	free(evs);
}

int
events_listen(struct events *evs, events_listener_fn *fn, void *arg)
{
	for (int i = 0; i < EVENTS_LISTENERS_MAX; i++)
		if (evs->l[i].fn == NULL) {
			evs->l[i].fn = fn;
			evs->l[i].arg = arg;
			return 0;
		}
	return -1;
}

void
events_unlisten(struct events *evs, events_listener_fn *fn, void *arg)
{
	for (int i = 0; evs != NULL && i < EVENTS_LISTENERS_MAX; i++)
		if (evs->l[i].fn == fn && evs->l[i].arg == arg)
			evs->l[i].fn = NULL;
}

int
event_record(struct daemon *d, struct event *ev, char *err, size_t errlen)
{
	struct store_event row = {
		.at = ev->at ? ev->at : clock_now(),
		.kind = ev->kind,
		.severity = ev->severity,
		.subject_type = ev->subject_type,
		.subject_id = ev->subject_id,
		.message = ev->message,
		.only_sink = ev->only_sink,
	};
	char *data = ev->data ? json_dumps(ev->data, JSON_COMPACT) : NULL;
	int rc;

	row.data = data ? data : "{}";
	rc = store_event_insert(d->store, &row, err, errlen);
	free(data);
	event_clear(ev);
	if (rc == 0 && d->events != NULL && !d->events->waiting) {
		d->events->waiting = 1;
		store_when_durable(d->store, events_durable_cb, d->events);
	}
	return rc;
}
