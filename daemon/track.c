/*
 * Tracked items: adding, reading, (de)activating and deleting, each change
 * recorded in the activity feed inside the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "store.h"
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

struct store_item *
track_add_pem(struct daemon *d, const char *pem, size_t len, struct cf_err *e)
{
	struct store_item *item;
	struct x509_facts *facts;
	char err[512], msg[512];
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
	snprintf(msg, sizeof(msg), "added from PEM: %s, valid until %s",
	    facts->common_name ? facts->common_name : facts->subject,
	    clock_rfc3339(facts->valid_until, err, sizeof(err)));
	if (store_item_insert(d->store, item, e->msg, sizeof(e->msg)) == -1 ||
	    store_event_add(d->store, now, item->id, "added", msg, e->msg,
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
	if (rc == 1)
		cf_err_set(e, WIRE_NOT_FOUND, "no tracked item %lld",
		    (long long)id);
	else if (rc == -1)
		e->code = WIRE_UNAVAILABLE;
	return rc == 0 ? item : NULL;
}

int
track_delete(struct daemon *d, int64_t id, struct cf_err *e)
{
	char msg[128];
	int rc;

	if (write_begin(d, e) == -1)
		return -1;
	rc = store_item_delete(d->store, id, e->msg, sizeof(e->msg));
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "item %lld deleted", (long long)id);
		if (store_event_add(d->store, clock_now(), id, "deleted", msg,
		    e->msg, sizeof(e->msg)) == -1)
			rc = -1;
	}
	store_write_end(d->store, rc == 0);
	if (rc == 1)
		return cf_err_set(e, WIRE_NOT_FOUND, "no tracked item %lld",
		    (long long)id);
	if (rc == -1) {
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	log_info("item %lld deleted", (long long)id);
	return 0;
}

struct store_item *
track_set_active(struct daemon *d, int64_t id, int active, struct cf_err *e)
{
	struct store_item *item;
	const char *kind = active ? "activated" : "deactivated";
	char msg[128];
	int rc;

	if ((item = track_get(d, id, e)) == NULL)
		return NULL;
	if (item->active == active)
		return item;	/* nothing changes, nothing to record */
	if (write_begin(d, e) == -1) {
		store_item_free(item);
		return NULL;
	}
	/* Host items get their schedule back on activation (a later issue). */
	rc = store_item_set_active(d->store, id, active, 0, e->msg,
	    sizeof(e->msg));
	snprintf(msg, sizeof(msg), "item %lld %s", (long long)id, kind);
	if (rc == 0 && store_event_add(d->store, clock_now(), id, kind, msg,
	    e->msg, sizeof(e->msg)) == -1)
		rc = -1;
	store_write_end(d->store, rc == 0);
	if (rc != 0) {
		store_item_free(item);
		if (rc == 1)
			cf_err_set(e, WIRE_NOT_FOUND, "no tracked item %lld",
			    (long long)id);
		else
			e->code = WIRE_UNAVAILABLE;
		return NULL;
	}
	item->active = active;
	item->next_check_at = 0;
	return item;
}
