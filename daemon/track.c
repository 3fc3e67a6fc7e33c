/*
 * Tracked items: adding, reading, (de)activating and deleting, each change
 * recorded in the activity feed inside the same transaction.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"
#include "clock.h"
#include "daemon.h"
#include "event.h"
#include "expiry.h"
#include "log.h"
#include "probe.h"
#include "schedule.h"
#include "store.h"
#include "findings.h"
#include "track.h"
#include "x509.h"

const char *
track_status(const struct store_item *item, int64_t now)
{
	if (item->check_error != NULL || item->facts == NULL)
		return "error";
	return x509_validity_status(item->facts->valid_from,
	    item->facts->valid_until, now);
}

/* Opens a write bracket, reporting failure as UNAVAILABLE. */
static int
write_begin(struct daemon *d, struct cf_err *e)
{
	char err[256];

	if (store_write_begin(d->store, err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", err);
	return 0;
}

/*
 * Records an event about item (its target and certificate facts in data)
 * inside the open bracket; at 0 is now.  -1 with e's message set.
 */
static int
item_event(struct daemon *d, const struct store_item *item, const char *kind,
    int64_t at, struct cf_err *e, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int
item_event(struct daemon *d, const struct store_item *item, const char *kind,
    int64_t at, struct cf_err *e, const char *fmt, ...)
{
	struct event ev;
	va_list ap;

	event_init(&ev, kind, EVENT_SUBJECT_TRACKED, item->id);
	ev.at = at;
	va_start(ap, fmt);
	esc_vformat(ev.message, sizeof(ev.message), fmt, ap);
	va_end(ap);
	event_str(&ev, "source", item->source);
	if (item->host != NULL) {
		event_str(&ev, "host", item->host);
		event_int(&ev, "port", item->port);
		event_str(&ev, "sni", item->sni);
	}
	event_facts(&ev, item->facts, at ? at : clock_now());
	if (item->check_error != NULL)
		event_str(&ev, "error", item->check_error);
	if (strcmp(item->source, "host") == 0) {
		event_int(&ev, "attempt", item->check_failures);
		if (item->chain_valid >= 0)
			event_bool(&ev, "chain_valid", item->chain_valid);
		if (item->hostname_match >= 0)
			event_bool(&ev, "hostname_match", item->hostname_match);
		event_str(&ev, "verify_error", item->verify_error);
	}
	if (event_record(d, &ev, e->msg, sizeof(e->msg)) == -1) {
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	return 0;
}

struct store_item *
track_add_pem(struct daemon *d, const char *pem, size_t len, struct cf_err *e)
{
	struct store_item *item;
	struct x509_facts *facts;
	char err[512];
	int64_t existing, now = clock_now();

	if ((facts = x509_facts_from_pem(pem, len, err, sizeof(err))) == NULL) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "%s (%s)", X509_PEM_REFUSAL,
		    err);
		return NULL;
	}
	if (store_item_find_pem(d->store, facts->fingerprint_sha256,
	    &existing) == 0) {
		cf_err_set(e, WIRE_ALREADY_EXISTS, "this certificate is already "
		    "tracked as item %lld", (long long)existing);
		x509_facts_free(facts);
		return NULL;
	}
	if ((item = calloc(1, sizeof(*item))) == NULL) {
		x509_facts_free(facts);
		cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	memcpy(item->source, "pem", 4);
	item->active = 1;
	item->facts = facts;
	item->created_at = now;
	item->last_checked_at = now;
	/* PEM items are never re-fetched: no next_check_at. */
	if (write_begin(d, e) == -1) {
		store_item_free(item);
		return NULL;
	}
	if (store_item_insert(d->store, item, e->msg, sizeof(e->msg)) == -1 ||
	    item_event(d, item, "added", now, e, "added from PEM: %s, valid "
	    "until %s", facts->common_name ? facts->common_name :
	    facts->subject, clock_rfc3339(facts->valid_until, err,
	    sizeof(err))) == -1 ||
	    expiry_observe(d, EVENT_SUBJECT_TRACKED, item->id, facts, e->msg,
	    sizeof(e->msg)) == -1) {
		store_write_end(d->store, 0);
		e->code = WIRE_UNAVAILABLE;
		store_item_free(item);
		return NULL;
	}
	store_write_end(d->store, 1);
	log_info("item %lld added from PEM (%s)", (long long)item->id,
	    facts->fingerprint_sha256);
	return item;
}

struct store_item *
track_get(struct daemon *d, int64_t id, struct cf_err *e)
{
	struct store_item *item;
	int rc;

	rc = store_item_get(d->store, id, &item, e->msg, sizeof(e->msg));
	return cf_err_store(e, rc, "no tracked item %lld", (long long)id) == 0 ?
	    item : NULL;
}

int
track_delete(struct daemon *d, int64_t id, struct cf_err *e)
{
	struct store_item *item;
	int rc;

	if ((item = track_get(d, id, e)) == NULL)
		return -1;
	if (write_begin(d, e) == -1) {
		store_item_free(item);
		return -1;
	}
	rc = store_item_delete(d->store, id, e->msg, sizeof(e->msg));
	if (rc == 0)
		rc = store_snapshots_delete(d->store, id, e->msg, sizeof(e->msg));
	if (rc == 0)
		rc = expiry_forget(d, EVENT_SUBJECT_TRACKED, id, e->msg,
		    sizeof(e->msg));
	if (rc == 0)
		rc = item_event(d, item, "deleted", 0, e, "item %lld deleted",
		    (long long)id);
	store_item_free(item);
	store_write_end(d->store, rc == 0);
	if (cf_err_store(e, rc, "no tracked item %lld", (long long)id) != 0)
		return -1;
	log_info("item %lld deleted", (long long)id);
	return 0;
}

struct store_item *
track_set_active(struct daemon *d, int64_t id, int active, struct cf_err *e)
{
	struct store_item *item;
	const char *kind = active ? "activated" : "deactivated";
	int rc;

	if ((item = track_get(d, id, e)) == NULL)
		return NULL;
	if (item->active == active)
		return item;	/* nothing changes, nothing to record */
	if (write_begin(d, e) == -1) {
		store_item_free(item);
		return NULL;
	}
	/* An activated host item is checked soon; PEM items never are. */
	int64_t next = active && strcmp(item->source, "host") == 0 ?
	    clock_now() : 0;
	rc = store_item_set_active(d->store, id, active, next, e->msg,
	    sizeof(e->msg));
	/* Expiry warnings wait while an item is inactive, and catch up. */
	if (rc == 0 && active)
		rc = expiry_touch(d, EVENT_SUBJECT_TRACKED, id, e->msg,
		    sizeof(e->msg));
	if (rc == 0)
		rc = item_event(d, item, kind, 0, e, "item %lld %s",
		    (long long)id, kind);
	store_write_end(d->store, rc == 0);
	if (cf_err_store(e, rc, "no tracked item %lld", (long long)id) != 0) {
		store_item_free(item);
		return NULL;
	}
	item->active = active;
	item->next_check_at = next;
	if (next != 0 && d->sched != NULL)
		scheduler_kick(d->sched);
	return item;
}

/* --- host targets ------------------------------------------------------------ */

static int
valid_hostname(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (len == 0 || len > TRACK_HOST_MAX || h[0] == '.')
		return 0;
	for (const char *p = h; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

static int
is_ip_literal(const char *s, int family)
{
	unsigned char buf[16];

	return inet_pton(family, s, buf) == 1;
}

/* "htps:\\x" has a scheme; "host:443" does not. */
static int
has_scheme(const char *s)
{
	const char *p = s;

	if (!isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':' && !isdigit((unsigned char)p[1]) && p[1] != '\0';
}

static int
parse_port(const char *s, int *port)
{
	long n = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > 65535)
		return -1;
	*port = (int)n;
	return 0;
}

/* Splits an authority (no scheme, no path) into host and port. */
static int
parse_authority(char *a, struct track_target *t)
{
	char *colon;

	t->port = 443;
	if (a[0] == '[') {
		char *end = strchr(a, ']');
		if (end == NULL)
			return -1;
		*end = '\0';
		if (!is_ip_literal(a + 1, AF_INET6))
			return -1;
		if (end[1] == ':' && parse_port(end + 2, &t->port) == -1)
			return -1;
		if (end[1] != '\0' && end[1] != ':')
			return -1;
		snprintf(t->host, sizeof(t->host), "%.*s", TRACK_HOST_MAX, a + 1);
		return 0;
	}
	if (is_ip_literal(a, AF_INET6)) {	/* bare IPv6, no port */
		snprintf(t->host, sizeof(t->host), "%.*s", TRACK_HOST_MAX, a);
		return 0;
	}
	if ((colon = strchr(a, ':')) != NULL) {
		*colon = '\0';
		if (parse_port(colon + 1, &t->port) == -1)
			return -1;
	}
	if (!is_ip_literal(a, AF_INET) && !valid_hostname(a))
		return -1;
	snprintf(t->host, sizeof(t->host), "%.*s", TRACK_HOST_MAX, a);
	return 0;
}

int
track_parse_target(const char *text, const char *sni, struct track_target *t,
    struct cf_err *e)
{
	char buf[TRACK_HOST_MAX + 64], *a;
	size_t len;

	memset(t, 0, sizeof(*t));
	while (isspace((unsigned char)*text))
		text++;
	len = strlen(text);
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, TRACK_MSG_BAD_URI);
	memcpy(buf, text, len);
	buf[len] = '\0';
	a = buf;
	if (has_scheme(a)) {
		if (strncasecmp(a, "https://", 8) != 0)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT,
			    TRACK_MSG_BAD_SCHEME);
		a += 8;
		a[strcspn(a, "/?#")] = '\0';	/* keep the authority only */
	}
	if (strpbrk(a, " \t\\@/?#") != NULL || parse_authority(a, t) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, TRACK_MSG_BAD_URI);
	if (sni != NULL && sni[0] != '\0') {
		if (strlen(sni) > TRACK_HOST_MAX || !valid_hostname(sni))
			return cf_err_set(e, WIRE_INVALID_ARGUMENT,
			    "%s (invalid SNI name)", TRACK_MSG_BAD_URI);
		snprintf(t->sni, sizeof(t->sni), "%s", sni);
	}
	return 0;
}

/* --- checks ------------------------------------------------------------------- */

enum check_kind {
	CHECK_ADD,	/* new target; store only on success */
	CHECK_IMPORT,	/* new or known target; store whatever happens */
	CHECK_EXISTING,	/* a stored item */
};

struct track_check {
	struct daemon		*d;
	enum check_kind		 kind;
	int64_t			 id;
	struct track_target	 target;
	char			 origin[16];
	track_done_fn		*done;
	void			*arg;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* Copies a probe result into item; takes the leaf facts from res. */
static void
item_take_result(struct store_item *item, struct probe_result *res)
{
	/* An unchanged chain brings no facts: the item's own still hold. */
	if (!res->chain_unchanged) {
		x509_facts_free(item->facts);
		item->facts = res->leaf;
		res->leaf = NULL;
	}
	free(item->address);
	free(item->tls_version);
	free(item->cipher);
	free(item->verify_error);
	free(item->chain_sha256);
	item->address = dup_or_null(res->address);
	item->tls_version = dup_or_null(res->tls_version);
	item->cipher = dup_or_null(res->cipher);
	item->verify_error = dup_or_null(res->verify_error);
	item->chain_sha256 = dup_or_null(res->chain_sha256);
	item->chain_valid = res->chain_valid;
	item->hostname_match = res->hostname_match;
	item->chain_length = res->chain_length;
}

/* The seed's message for a failed probe, with its cause. */
static void
probe_error(const struct probe_result *res, struct cf_err *e)
{
	if (res->outcome == PROBE_NOT_FOUND) {
		cf_err_set(e, WIRE_NOT_FOUND, "%s (%s)", TRACK_MSG_NOT_FOUND,
		    res->error);
		snprintf(e->cause, sizeof(e->cause), "name does not resolve");
	} else {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "%s (%s)",
		    TRACK_MSG_NO_DETAILS, res->error);
		snprintf(e->cause, sizeof(e->cause), "%.127s", res->error);
	}
}

/* Applies a probe result to item (new or loaded) and schedules it. */
static void
item_apply(struct store_item *item, struct probe_result *res,
    const struct cf_err *pe, int64_t now)
{
	int ok = res->outcome == PROBE_OK;
	char when[40];

	item->last_checked_at = now;
	free(item->check_error);
	item->check_error = NULL;
	if (ok) {
		item_take_result(item, res);
		item->check_failures = 0;
	} else
		item->check_failures++;
	item->next_check_at = item->active ? schedule_next(now, ok,
	    item->facts != NULL, item->facts ? item->facts->valid_until : 0,
	    item->check_failures) : 0;
	if (!ok && asprintf(&item->check_error, "%s; failed %d time%s, next "
	    "try at %s", pe->msg, item->check_failures,
	    item->check_failures == 1 ? "" : "s",
	    item->next_check_at ? clock_rfc3339(item->next_check_at, when,
	    sizeof(when)) : "(inactive)") == -1)
		item->check_error = NULL;
}

/* What an item was before a check, to tell what the check changed. */
struct item_prev {
	char	*chain;		/* chain_sha256, or NULL */
	char	 fingerprint[65];
	int	 chain_valid;
	int	 hostname_match;
	int	 failures;
};

static int
item_prev_take(struct item_prev *p, const struct store_item *item)
{
	memset(p, 0, sizeof(*p));
	p->chain_valid = item->chain_valid;
	p->hostname_match = item->hostname_match;
	p->failures = item->check_failures;
	if (item->facts != NULL && item->facts->fingerprint_sha256 != NULL)
		snprintf(p->fingerprint, sizeof(p->fingerprint), "%s",
		    item->facts->fingerprint_sha256);
	if (item->chain_sha256 != NULL &&
	    (p->chain = strdup(item->chain_sha256)) == NULL)
		return -1;
	return 0;
}

/*
 * The events a check of an existing item is worth: a failure; or a
 * recovery, a new certificate, and a chain or name that stopped being
 * valid, each its own kind so a sink can ask for just that.
 */
static int
check_events(struct daemon *d, const struct store_item *item,
    const struct item_prev *prev, int ok, int changed, const char *origin,
    struct cf_err *e)
{
	int64_t at = item->last_checked_at;
	char when[40];
	int rc = 0;

	if (!ok)
		return item_event(d, item, "check_failed", at, e, "%s check of "
		    "%s:%d failed: %s", origin, item->host, item->port,
		    item->check_error ? item->check_error : "?");
	if (prev->failures > 0)
		rc = item_event(d, item, "check_recovered", at, e, "%s check of "
		    "%s:%d works again after %d failure%s", origin, item->host,
		    item->port, prev->failures, prev->failures == 1 ? "" : "s");
	if (rc == 0 && ((prev->chain_valid == 1 && item->chain_valid == 0) ||
	    (prev->hostname_match == 1 && item->hostname_match == 0)))
		rc = item_event(d, item, "verify_failed", at, e, "%s:%d: the "
		    "chain %s no longer valid%s%s", item->host, item->port,
		    item->chain_valid == 0 ? "is" : "is valid but the name is",
		    item->verify_error ? ": " : "", item->verify_error ?
		    item->verify_error : "");
	if (rc == 0)
		rc = item_event(d, item, changed ? "chain_changed" : "checked",
		    at, e, "%s check of %s:%d: %s, valid until %s%s%s", origin,
		    item->host, item->port, changed ? "chain changed" :
		    "chain unchanged", clock_rfc3339(item->facts->valid_until,
		    when, sizeof(when)), item->chain_valid == 1 ? "" :
		    ", chain invalid: ", item->chain_valid == 1 ? "" :
		    (item->verify_error ? item->verify_error : "?"));
	return rc;
}

/* Writes the item, its snapshot when the chain changed, its events and its
 * expiry watch. */
static int
item_store(struct daemon *d, struct store_item *item, int is_new,
    const struct item_prev *prev, const struct probe_result *res,
    const char *origin, struct cf_err *e)
{
	char when[40];
	int ok = res->outcome == PROBE_OK;
	int changed = ok && (prev->chain == NULL ||
	    strcmp(prev->chain, res->chain_sha256) != 0);
	int rc;

	if (write_begin(d, e) == -1)
		return -1;
	rc = is_new ? store_item_insert(d->store, item, e->msg, sizeof(e->msg)) :
	    store_item_update(d->store, item, e->msg, sizeof(e->msg));
	if (rc == 0 && changed)
		rc = store_snapshot_add(d->store, item->id, item->last_checked_at,
		    res->chain_sha256, item->facts->fingerprint_sha256,
		    res->chain_length, res->chain_pem, e->msg, sizeof(e->msg));
	if (rc == 0 && changed)
		rc = expiry_observe(d, EVENT_SUBJECT_TRACKED, item->id,
		    item->facts, e->msg, sizeof(e->msg));
	if (rc == 0 && is_new && ok)
		rc = item_event(d, item, "added", item->last_checked_at, e,
		    "%s check of %s:%d: first chain recorded, valid until %s%s%s",
		    origin, item->host, item->port,
		    clock_rfc3339(item->facts->valid_until, when, sizeof(when)),
		    item->chain_valid == 1 ? "" : ", chain invalid: ",
		    item->chain_valid == 1 ? "" : (item->verify_error ?
		    item->verify_error : "?"));
	else if (rc == 0)
		rc = check_events(d, item, prev, ok, changed, origin, e);
	store_write_end(d->store, rc == 0);
	if (rc != 0) {
		e->code = rc == 1 ? WIRE_NOT_FOUND : WIRE_UNAVAILABLE;
		return -1;
	}
	return 0;
}

static struct store_item *
item_new_host(const struct track_target *t, int64_t now)
{
	struct store_item *item = calloc(1, sizeof(*item));

	if (item == NULL)
		return NULL;
	memcpy(item->source, "host", 5);
	item->active = 1;
	item->created_at = now;
	item->port = t->port;
	item->chain_valid = item->hostname_match = -1;
	item->host = strdup(t->host);
	item->sni = dup_or_null(t->sni);
	if (item->host == NULL || (t->sni[0] && item->sni == NULL)) {
		store_item_free(item);
		return NULL;
	}
	return item;
}

static int check_probe(struct track_check *c, const char *known);

static void
check_probe_done(const struct probe_result *cres, void *arg)
{
	struct track_check *c = arg;
	struct daemon *d = c->d;
	struct probe_result *res = (struct probe_result *)cres;
	struct store_item *item = NULL;
	struct cf_err pe = { 0 }, e = { 0 };
	struct item_prev prev = { 0 };
	int64_t now = clock_now(), id = c->id;
	int is_new = 0;

	if (res->outcome == PROBE_CANCELLED) {
		cf_err_set(&e, WIRE_CANCELLED, "check cancelled: certfleetd is "
		    "stopping");
		goto out;
	}
	if (res->outcome != PROBE_OK)
		probe_error(res, &pe);
	if (c->kind == CHECK_ADD && res->outcome != PROBE_OK) {
		e = pe;
		goto out;
	}
	/* A target imported twice, or added meanwhile, is updated. */
	if (c->kind != CHECK_EXISTING &&
	    store_item_find_host(d->store, c->target.host, c->target.port,
	    c->target.sni[0] ? c->target.sni : NULL, &id) != 0)
		id = 0;
	is_new = id == 0;
	if (is_new)
		item = item_new_host(&c->target, now);
	else
		item = track_get(d, id, &e);
	if (item == NULL) {
		if (e.code == 0)
			cf_err_set(&e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	/*
	 * Another check stored a different chain while this one ran: the facts
	 * this probe skipped as known are not the item's.  Probe again in full.
	 */
	if (res->chain_unchanged && (item->facts == NULL ||
	    item->chain_sha256 == NULL ||
	    strcmp(item->chain_sha256, res->chain_sha256) != 0)) {
		store_item_free(item);
		if (check_probe(c, NULL) == 0)
			return;
		item = NULL;
		cf_err_set(&e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if (item_prev_take(&prev, item) == -1) {
		store_item_free(item);
		item = NULL;
		cf_err_set(&e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	item_apply(item, res, &pe, now);
	if (item_store(d, item, is_new, &prev, res, c->origin, &e) == -1) {
		store_item_free(item);
		item = NULL;
		goto out;
	}
	if (is_new && item->next_check_at != 0 && d->sched != NULL)
		scheduler_kick(d->sched);
	if (res->outcome != PROBE_OK)
		e = pe;
out:
	free(prev.chain);
	c->done(item, item != NULL && is_new, e.code ? &e : NULL, c->arg);
	free(c);
}

/* The digest of the chain an existing target last presented, or NULL. */
static const char *
known_chain(struct daemon *d, enum check_kind kind, int64_t id,
    const struct track_target *t, char buf[65])
{
	if (kind == CHECK_ADD || (id == 0 && store_item_find_host(d->store,
	    t->host, t->port, t->sni[0] ? t->sni : NULL, &id) != 0))
		return NULL;
	return store_item_chain_digest(d->store, id, buf) == 0 && buf[0] ?
	    buf : NULL;
}

static int
check_probe(struct track_check *c, const char *known)
{
	const struct track_target *t = &c->target;

	return probe_start(c->d->probes, t->host, t->port,
	    t->sni[0] ? t->sni : NULL, known, check_probe_done, c) ? 0 : -1;
}

static int
check_start(struct daemon *d, enum check_kind kind, int64_t id,
    const struct track_target *t, const char *origin, track_done_fn *done,
    void *arg, struct cf_err *e)
{
	struct track_check *c = calloc(1, sizeof(*c));
	char known[65];

	if (c == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	c->d = d;
	c->kind = kind;
	c->id = id;
	c->target = *t;
	c->done = done;
	c->arg = arg;
	snprintf(c->origin, sizeof(c->origin), "%s", origin);
	if (check_probe(c, known_chain(d, kind, id, t, known)) == -1) {
		free(c);
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	}
	return 0;
}

int
track_add_host(struct daemon *d, const struct track_target *t,
    track_done_fn *done, void *arg, struct cf_err *e)
{
	int64_t id;

	if (store_item_find_host(d->store, t->host, t->port,
	    t->sni[0] ? t->sni : NULL, &id) == 0)
		return cf_err_set(e, WIRE_ALREADY_EXISTS, "%s:%d%s%s is already "
		    "tracked as item %lld", t->host, t->port, t->sni[0] ?
		    " with SNI " : "", t->sni, (long long)id);
	return check_start(d, CHECK_ADD, 0, t, "first", done, arg, e);
}

int
track_import_host(struct daemon *d, const struct track_target *t,
    track_done_fn *done, void *arg, struct cf_err *e)
{
	return check_start(d, CHECK_IMPORT, 0, t, "import", done, arg, e);
}

int
track_check(struct daemon *d, int64_t id, const char *origin,
    track_done_fn *done, void *arg, struct cf_err *e)
{
	struct store_item *item = track_get(d, id, e);
	struct track_target t = { .port = 0 };

	if (item == NULL)
		return -1;
	if (strcmp(item->source, "host") != 0) {
		store_item_free(item);
		return cf_err_set(e, WIRE_FAILED_PRECONDITION, "item %lld is a "
		    "PEM certificate: it is never re-fetched", (long long)id);
	}
	snprintf(t.host, sizeof(t.host), "%s", item->host);
	t.port = item->port;
	snprintf(t.sni, sizeof(t.sni), "%s", item->sni ? item->sni : "");
	store_item_free(item);
	return check_start(d, CHECK_EXISTING, id, &t, origin, done, arg, e);
}

static void
scheduled_done(struct store_item *item, int created, const struct cf_err *e,
    void *arg)
{
	struct daemon *d = arg;

	if (e != NULL && item == NULL)
		log_warn("scheduled check not recorded: %s", e->msg);
	store_item_free(item);
	scheduler_done(d->sched);
}

int
track_scheduled_start(void *ctx, int64_t id)
{
	struct daemon *d = ctx;
	struct cf_err e = { 0 };

	if (track_check(d, id, "scheduled", scheduled_done, d, &e) == -1) {
		if (e.code != WIRE_NOT_FOUND)
			log_warn("scheduled check of item %lld: %s",
			    (long long)id, e.msg);
		return -1;
	}
	return 0;
}

void
track_findings_input(const struct store_item *item, int public_store,
    struct findings_input *in)
{
	const struct x509_facts *f = item->facts;
	int host = item->host != NULL, judged = host && f != NULL &&
	    item->active;

	memset(in, 0, sizeof(*in));
	in->chain_valid = judged ? item->chain_valid : -1;
	in->hostname_match = judged ? item->hostname_match : -1;
	in->verify_error = item->verify_error;
	in->chain_length = item->chain_length;
	in->check_failures = host && item->active ? item->check_failures : 0;
	in->watch_renewal = host;
	in->publicly_trusted = judged && item->chain_valid == 1 && public_store;
	if (f != NULL) {
		in->valid_from = f->valid_from;
		in->valid_until = f->valid_until;
		in->subject = f->subject;
		in->issuer = f->issuer;
		in->public_key = f->public_key;
		in->signature_algorithm = f->signature_algorithm;
	}
}
