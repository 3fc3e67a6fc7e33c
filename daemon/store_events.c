/*
 * The store's event tables: the activity feed, the expiry watch, and (for
 * notify.c) sinks and their outbox.  All their SQL lives here, prepared once
 * at open (store_events_prepare) and bound per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_events.h"
#include "store_int.h"

enum ev_stmt {
	EV_INSERT,
	EV_ENQUEUE,
	EV_ENQUEUE_ONE,
	EV_DESC,
	EV_ASC,
	EV_SUBJECT_DESC,
	EV_SUBJECT_ASC,
	EV_LAST,
	EV_GET,
	EX_GET,
	EX_PUT,
	EX_DELETE,
	EX_DUE,
	EX_NEXT,
	SK_INSERT,
	SK_SET_SECRET,
	SK_GET_NAME,
	SK_GET_ID,
	SK_ALL,
	SK_DELETE,
	SK_DISABLE,
	SK_ENABLE,
	DL_DUE,
	DL_NEXT,
	DL_LEASE,
	DL_DELETE,
	DL_SINK_DELIVERED,
	DL_FAIL,
	DL_SINK_FAILED,
	DL_RETRY,
	EV_STMT_COUNT
};

_Static_assert(EV_STMT_COUNT <= STORE_EV_STMT_MAX, "raise STORE_EV_STMT_MAX");

#define EVENT_COLUMNS \
	"id, at, kind, CASE severity WHEN 'info' THEN 0 WHEN 'warning' " \
	"THEN 1 ELSE 2 END, subject_type, subject_id, message, data"
/* ?1 after, ?2 before, ?3 kinds (",a,b," or NULL), ?4 limit. */
#define EVENT_RANGE \
	" WHERE id > ?1 AND id < ?2 AND (?3 IS NULL OR " \
	"instr(?3, ',' || kind || ',') > 0)"
#define SINK_COLUMNS \
	"id, name, type, target, format, secret, smtp_url, smtp_user, " \
	"mail_from, smtp_insecure, kinds, min_severity, timeout, enabled, " \
	"disabled_reason, delivered, failed, last_delivered_at, last_error, " \
	"created_at, smtp_ca_file, (SELECT count(*) FROM deliveries d WHERE " \
	"d.sink_id = s.id AND d.next_at IS NOT NULL), (SELECT count(*) FROM " \
	"deliveries d WHERE d.sink_id = s.id AND d.next_at IS NULL)"
#define EXPIRY_COLUMNS \
	"subject_type, subject_id, fingerprint, valid_from, valid_until, " \
	"warned_days, expired_at, overdue_at, due_at"

static const char *const ev_sql[EV_STMT_COUNT] = {
	[EV_INSERT] = "INSERT INTO events (at, item_id, kind, severity, "
	    "subject_type, subject_id, message, data) VALUES (?1, CASE ?4 "
	    "WHEN 'tracked' THEN ?5 END, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* The outbox row of every sink that wants it, in the same
	 * transaction: nothing is lost between the two. */
	[EV_ENQUEUE] = "INSERT INTO deliveries (event_id, sink_id, next_at, "
	    "created_at) SELECT ?1, id, ?2 + CASE type WHEN 'email' THEN "
	    "60 ELSE 0 END, ?2 FROM sinks WHERE enabled = 1 AND "
	    "min_severity <= ?3 AND (kinds IS NULL OR "
	    "instr(kinds, ',' || ?4 || ',') > 0) AND NOT (?5 IS 'sink' AND "
	    "id = ?6)",
	[EV_ENQUEUE_ONE] = "INSERT INTO deliveries (event_id, sink_id, next_at, "
	    "created_at) VALUES (?1, ?2, ?3, ?3)",
	[EV_DESC] = "SELECT " EVENT_COLUMNS " FROM events" EVENT_RANGE
	    " ORDER BY id DESC LIMIT ?4",
	[EV_ASC] = "SELECT " EVENT_COLUMNS " FROM events" EVENT_RANGE
	    " ORDER BY id LIMIT ?4",
	[EV_SUBJECT_DESC] = "SELECT " EVENT_COLUMNS " FROM events" EVENT_RANGE
	    " AND subject_type = ?5 AND subject_id = ?6 ORDER BY id DESC "
	    "LIMIT ?4",
	[EV_SUBJECT_ASC] = "SELECT " EVENT_COLUMNS " FROM events" EVENT_RANGE
	    " AND subject_type = ?5 AND subject_id = ?6 ORDER BY id LIMIT ?4",
	[EV_LAST] = "SELECT max(id) FROM events",
	[EV_GET] = "SELECT " EVENT_COLUMNS " FROM events WHERE id = ?",
	[EX_GET] = "SELECT " EXPIRY_COLUMNS " FROM expiry WHERE "
	    "subject_type = ? AND subject_id = ?",
	[EX_PUT] = "INSERT OR REPLACE INTO expiry (" EXPIRY_COLUMNS ") "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[EX_DELETE] = "DELETE FROM expiry WHERE subject_type = ? AND "
	    "subject_id = ?",
	[EX_DUE] = "SELECT " EXPIRY_COLUMNS " FROM expiry WHERE due_at "
	    "IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
	[EX_NEXT] = "SELECT min(due_at) FROM expiry WHERE due_at IS NOT NULL",
	[SK_INSERT] = "INSERT INTO sinks (name, type, target, format, "
	    "smtp_url, smtp_user, mail_from, smtp_insecure, kinds, "
	    "min_severity, timeout, created_at, smtp_ca_file) VALUES (?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SK_SET_SECRET] = "UPDATE sinks SET secret = ? WHERE id = ?",
	[SK_GET_NAME] = "SELECT " SINK_COLUMNS " FROM sinks s WHERE name = ?",
	[SK_GET_ID] = "SELECT " SINK_COLUMNS " FROM sinks s WHERE id = ?",
	[SK_ALL] = "SELECT " SINK_COLUMNS " FROM sinks s ORDER BY name",
	[SK_DELETE] = "DELETE FROM sinks WHERE id = ?",
	[SK_ENABLE] = "UPDATE sinks SET enabled = 1, disabled_reason = NULL "
	    "WHERE id = ?",
	[SK_DISABLE] = "UPDATE sinks SET enabled = 0, disabled_reason = ? "
	    "WHERE id = ?",
	[DL_DUE] = "SELECT id, event_id, sink_id, attempts, created_at FROM "
	    "deliveries WHERE sink_id = ? AND next_at IS NOT NULL AND "
	    "next_at <= ? ORDER BY next_at, id LIMIT ?",
	[DL_NEXT] = "SELECT min(d.next_at) FROM deliveries d JOIN sinks s ON "
	    "s.id = d.sink_id WHERE d.next_at IS NOT NULL AND s.enabled = 1",
	[DL_LEASE] = "UPDATE deliveries SET next_at = ? WHERE id = ?",
	[DL_DELETE] = "DELETE FROM deliveries WHERE id = ?",
	[DL_SINK_DELIVERED] = "UPDATE sinks SET delivered = delivered + 1, "
	    "last_delivered_at = ? WHERE id = ?",
	[DL_FAIL] = "UPDATE deliveries SET attempts = attempts + 1, "
	    "next_at = ?, last_error = ? WHERE id = ?",
	[DL_SINK_FAILED] = "UPDATE sinks SET failed = failed + 1, "
	    "last_error = ? WHERE id = ?",
	[DL_RETRY] = "UPDATE deliveries SET next_at = ?1, attempts = 0, "
	    "created_at = ?1 WHERE sink_id = ?2 AND next_at IS NULL",
};

static const char *const severity_names[] = { "info", "warning", "critical" };

static sqlite3_stmt *
ev_get(struct store *st, enum ev_stmt id)
{
	return stmt_reset(st->ev_stmt[id]);
}

int
store_events_prepare(struct store *st, char *err, size_t errlen)
{
	for (int i = 0; i < EV_STMT_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, ev_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->ev_stmt[i], NULL) !=
		    SQLITE_OK) {
			db_error(st, "preparing statements", err, errlen);
			return -1;
		}
	return 0;
}

void
store_events_finalize(struct store *st)
{
	for (int i = 0; i < EV_STMT_COUNT; i++)
		sqlite3_finalize(st->ev_stmt[i]);
}

/* --- events ---------------------------------------------------------------- */

int
store_event_insert(struct store *st, struct store_event *ev, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EV_INSERT);
	int sev = ev->severity < 0 || ev->severity > 2 ? 0 : ev->severity;

	sqlite3_bind_int64(s, 1, ev->at);
	bind_text(s, 2, ev->kind);
	bind_text(s, 3, severity_names[sev]);
	bind_text(s, 4, ev->subject_type);
	bind_id(s, 5, ev->subject_type ? ev->subject_id : 0);
	bind_text(s, 6, ev->message);
	bind_text(s, 7, ev->data ? ev->data : "{}");
	if (stmt_run(st, s) == -1) {
		db_error(st, "adding event", err, errlen);
		return -1;
	}
	ev->id = sqlite3_last_insert_rowid(st->db);
	if (ev->only_sink > 0) {
		s = ev_get(st, EV_ENQUEUE_ONE);
		sqlite3_bind_int64(s, 1, ev->id);
		sqlite3_bind_int64(s, 2, ev->only_sink);
		sqlite3_bind_int64(s, 3, ev->at);
		if (stmt_run(st, s) == -1) {
			db_error(st, "queueing the event's delivery", err, errlen);
			return -1;
		}
		return 0;
	}
	s = ev_get(st, EV_ENQUEUE);
	sqlite3_bind_int64(s, 1, ev->id);
	sqlite3_bind_int64(s, 2, ev->at);
	sqlite3_bind_int(s, 3, sev);
	bind_text(s, 4, ev->kind);
	bind_text(s, 5, ev->subject_type);
	sqlite3_bind_int64(s, 6, ev->subject_id);
	if (stmt_run(st, s) == -1) {
		db_error(st, "queueing the event's deliveries", err, errlen);
		return -1;
	}
	return 0;
}

static void
event_from_row(sqlite3_stmt *s, struct store_event *ev)
{
	ev->id = sqlite3_column_int64(s, 0);
	ev->at = sqlite3_column_int64(s, 1);
	ev->kind = (const char *)sqlite3_column_text(s, 2);
	ev->severity = sqlite3_column_int(s, 3);
	ev->subject_type = (const char *)sqlite3_column_text(s, 4);
	ev->subject_id = sqlite3_column_int64(s, 5);
	ev->message = (const char *)sqlite3_column_text(s, 6);
	ev->data = (const char *)sqlite3_column_text(s, 7);
}

int
store_events_each(struct store *st, const struct store_event_filter *f,
    store_event_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE, stop = 0;

	if (f->subject_type != NULL) {
		s = ev_get(st, f->ascending ? EV_SUBJECT_ASC : EV_SUBJECT_DESC);
		bind_text(s, 5, f->subject_type);
		sqlite3_bind_int64(s, 6, f->subject_id);
	} else
		s = ev_get(st, f->ascending ? EV_ASC : EV_DESC);
	sqlite3_bind_int64(s, 1, f->after);
	sqlite3_bind_int64(s, 2, f->before > 0 ? f->before : INT64_MAX);
	bind_text(s, 3, f->kinds);
	sqlite3_bind_int64(s, 4, f->limit);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_event ev;

		event_from_row(s, &ev);
		stop = fn(&ev, arg);
	}
	return walk_end(st, s, stop, rc, "listing events", err, errlen);
}

int
store_events_last_id(struct store *st, int64_t *id)
{
	sqlite3_stmt *s = ev_get(st, EV_LAST);
	int rc = sqlite3_step(s);

	*id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int
store_event_get(struct store *st, int64_t id, struct store_event **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EV_GET);
	struct store_event row, *ev;
	int rc;

	*out = NULL;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return 1;
		db_error(st, "reading an event", err, errlen);
		return -1;
	}
	event_from_row(s, &row);
	if ((ev = calloc(1, sizeof(*ev))) != NULL) {
		*ev = row;
		ev->kind = dup_or_null(row.kind);
		ev->subject_type = dup_or_null(row.subject_type);
		ev->message = dup_or_null(row.message);
		ev->data = dup_or_null(row.data);
	}
	sqlite3_reset(s);
	if (ev == NULL || ev->kind == NULL || ev->message == NULL ||
	    ev->data == NULL) {
		store_event_free(ev);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*out = ev;
	return 0;
}

void
store_event_free(struct store_event *ev)
{
	if (ev == NULL)
		return;
	free((char *)ev->kind);
	free((char *)ev->subject_type);
	free((char *)ev->message);
	free((char *)ev->data);
	free(ev);
}

/* --- expiry watch ---------------------------------------------------------- */

static void
expiry_from_row(sqlite3_stmt *s, struct store_expiry *x)
{
	const char *t = (const char *)sqlite3_column_text(s, 0);
	const char *fp = (const char *)sqlite3_column_text(s, 2);

	memset(x, 0, sizeof(*x));
	snprintf(x->subject_type, sizeof(x->subject_type), "%s", t ? t : "");
	x->subject_id = sqlite3_column_int64(s, 1);
	snprintf(x->fingerprint, sizeof(x->fingerprint), "%s", fp ? fp : "");
	x->valid_from = sqlite3_column_int64(s, 3);
	x->valid_until = sqlite3_column_int64(s, 4);
	x->warned_days = sqlite3_column_int(s, 5);
	x->expired_at = sqlite3_column_int64(s, 6);
	x->overdue_at = sqlite3_column_int64(s, 7);
	x->due_at = sqlite3_column_type(s, 8) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(s, 8);
	/* A migrated row is due "at 0": keep it distinct from "never". */
	if (sqlite3_column_type(s, 8) != SQLITE_NULL && x->due_at <= 0)
		x->due_at = 1;
}

int
store_expiry_get(struct store *st, const char *type, int64_t id,
    struct store_expiry *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EX_GET);
	int rc;

	bind_text(s, 1, type);
	sqlite3_bind_int64(s, 2, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		expiry_from_row(s, out);
	else if (rc != SQLITE_DONE)
		db_error(st, "reading the expiry watch", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
store_expiry_put(struct store *st, const struct store_expiry *x, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EX_PUT);

	bind_text(s, 1, x->subject_type);
	sqlite3_bind_int64(s, 2, x->subject_id);
	bind_text(s, 3, x->fingerprint);
	sqlite3_bind_int64(s, 4, x->valid_from);
	sqlite3_bind_int64(s, 5, x->valid_until);
	bind_id(s, 6, x->warned_days);
	bind_time(s, 7, x->expired_at);
	bind_time(s, 8, x->overdue_at);
	bind_time(s, 9, x->due_at);
	if (stmt_run(st, s) == -1) {
		db_error(st, "writing the expiry watch", err, errlen);
		return -1;
	}
	return 0;
}

int
store_expiry_delete(struct store *st, const char *type, int64_t id,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EX_DELETE);

	bind_text(s, 1, type);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "removing from the expiry watch", err,
	    errlen) == -1 ? -1 : 0;
}

int
store_expiry_due(struct store *st, int64_t now, struct store_expiry *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, EX_DUE);
	int rc = SQLITE_DONE;

	*n = 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		expiry_from_row(s, &out[(*n)++]);
	return walk_end(st, s, *n == max, rc, "reading due expiry warnings",
	    err, errlen);
}

int
store_expiry_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *s = ev_get(st, EX_NEXT);
	int rc = sqlite3_step(s);

	*at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL &&
	    *at <= 0)
		*at = 1;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* --- notification sinks ------------------------------------------------------ */

void
store_sink_free(struct store_sink *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->target);
	if (s->secret != NULL)
		memset(s->secret, 0, s->secret_len);
	free(s->secret);
	free(s->smtp_url);
	free(s->smtp_user);
	free(s->mail_from);
	free(s->smtp_ca_file);
	free(s->kinds);
	free(s->disabled_reason);
	free(s->last_error);
	free(s);
}

static struct store_sink *
sink_from_row(sqlite3_stmt *s)
{
	struct store_sink *k = calloc(1, sizeof(*k));
	const char *t;

	if (k == NULL)
		return NULL;
	k->id = sqlite3_column_int64(s, 0);
	k->name = col_strdup(s, 1);
	t = (const char *)sqlite3_column_text(s, 2);
	snprintf(k->type, sizeof(k->type), "%s", t ? t : "");
	k->target = col_strdup(s, 3);
	t = (const char *)sqlite3_column_text(s, 4);
	snprintf(k->format, sizeof(k->format), "%s", t ? t : "json");
	if (col_blob(s, 5, &k->secret, &k->secret_len) == -1)
		goto fail;
	k->smtp_url = col_strdup(s, 6);
	k->smtp_user = col_strdup(s, 7);
	k->mail_from = col_strdup(s, 8);
	k->smtp_insecure = sqlite3_column_int(s, 9);
	k->kinds = col_strdup(s, 10);
	k->min_severity = sqlite3_column_int(s, 11);
	k->timeout = sqlite3_column_int(s, 12);
	k->enabled = sqlite3_column_int(s, 13);
	k->disabled_reason = col_strdup(s, 14);
	k->delivered = sqlite3_column_int64(s, 15);
	k->failed = sqlite3_column_int64(s, 16);
	k->last_delivered_at = sqlite3_column_int64(s, 17);
	k->last_error = col_strdup(s, 18);
	k->created_at = sqlite3_column_int64(s, 19);
	k->smtp_ca_file = col_strdup(s, 20);
	k->pending = sqlite3_column_int64(s, 21);
	k->given_up = sqlite3_column_int64(s, 22);
	if (k->name == NULL || k->target == NULL)
		goto fail;
	return k;
fail:
	store_sink_free(k);
	return NULL;
}

int
store_sink_insert(struct store *st, struct store_sink *k, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_INSERT);
	int rc;

	bind_text(s, 1, k->name);
	bind_text(s, 2, k->type);
	bind_text(s, 3, k->target);
	bind_text(s, 4, k->format[0] ? k->format : "json");
	bind_text(s, 5, k->smtp_url);
	bind_text(s, 6, k->smtp_user);
	bind_text(s, 7, k->mail_from);
	sqlite3_bind_int(s, 8, k->smtp_insecure);
	bind_text(s, 9, k->kinds);
	sqlite3_bind_int(s, 10, k->min_severity);
	sqlite3_bind_int(s, 11, k->timeout);
	sqlite3_bind_int64(s, 12, k->created_at);
	bind_text(s, 13, k->smtp_ca_file);
	if ((rc = run_insert(st, s, "adding a sink", err, errlen)) == 0)
		k->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
store_sink_set_secret(struct store *st, int64_t id, const unsigned char *blob,
    size_t len, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_SET_SECRET);

	bind_blob(s, 1, blob, len);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "sealing a sink's secret", err, errlen);
}

int
store_sink_get(struct store *st, const char *name, int64_t id,
    struct store_sink **out, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, id ? SK_GET_ID : SK_GET_NAME);
	int rc;

	*out = NULL;
	if (id)
		sqlite3_bind_int64(s, 1, id);
	else
		bind_text(s, 1, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && (*out = sink_from_row(s)) == NULL) {
		sqlite3_reset(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_error(st, "reading a sink", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
store_sinks_each(struct store *st, store_sink_fn *fn, void *arg, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_ALL);
	int rc = SQLITE_DONE, stop = 0;

	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_sink *k = sink_from_row(s);

		if (k == NULL) {
			sqlite3_reset(s);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		stop = fn(k, arg);
		store_sink_free(k);
	}
	return walk_end(st, s, stop, rc, "listing sinks", err, errlen);
}

int
store_sink_delete(struct store *st, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_DELETE);

	/* Its deliveries go with it (ON DELETE CASCADE). */
	sqlite3_bind_int64(s, 1, id);
	return run_changes(st, s, "deleting a sink", err, errlen);
}

int
store_sink_enable(struct store *st, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_ENABLE);

	sqlite3_bind_int64(s, 1, id);
	return run_changes(st, s, "enabling a sink", err, errlen);
}

int
store_sink_disable(struct store *st, int64_t id, const char *reason,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, SK_DISABLE);

	bind_text(s, 1, reason);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "disabling a sink", err, errlen) == -1 ?
	    -1 : 0;
}

/* --- deliveries ---------------------------------------------------------------- */

int
store_deliveries_due(struct store *st, int64_t sink_id, int64_t now,
    struct store_delivery *out, size_t max, size_t *n, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, DL_DUE);
	int rc = SQLITE_DONE;

	*n = 0;
	sqlite3_bind_int64(s, 1, sink_id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_delivery *d = &out[(*n)++];

		d->id = sqlite3_column_int64(s, 0);
		d->event_id = sqlite3_column_int64(s, 1);
		d->sink_id = sqlite3_column_int64(s, 2);
		d->attempts = sqlite3_column_int(s, 3);
		d->created_at = sqlite3_column_int64(s, 4);
	}
	return walk_end(st, s, *n == max, rc, "reading due deliveries", err,
	    errlen);
}

int
store_deliveries_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *s = ev_get(st, DL_NEXT);
	int rc = sqlite3_step(s);

	*at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_delivery_lease(struct store *st, int64_t id, int64_t lease_until,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, DL_LEASE);

	sqlite3_bind_int64(s, 1, lease_until);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "leasing a delivery", err, errlen) == -1 ?
	    -1 : 0;
}

int
store_delivery_done(struct store *st, const struct store_delivery *d,
    int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, DL_DELETE);
	int rc;

	sqlite3_bind_int64(s, 1, d->id);
	if ((rc = run_changes(st, s, "recording a delivery", err, errlen)) != 0)
		return rc == 1 ? 0 : -1;	/* 1: the sink went meanwhile */
	s = ev_get(st, DL_SINK_DELIVERED);
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, d->sink_id);
	return run_changes(st, s, "counting a delivery", err, errlen) == -1 ?
	    -1 : 0;
}

int
store_delivery_failed(struct store *st, const struct store_delivery *d,
    int64_t next_at, const char *why, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, DL_FAIL);
	int rc;

	bind_time(s, 1, next_at);
	bind_text(s, 2, why);
	sqlite3_bind_int64(s, 3, d->id);
	if ((rc = run_changes(st, s, "recording a failed delivery", err,
	    errlen)) != 0)
		return rc == 1 ? 0 : -1;
	s = ev_get(st, DL_SINK_FAILED);
	bind_text(s, 1, why);
	sqlite3_bind_int64(s, 2, d->sink_id);
	return run_changes(st, s, "counting a failed delivery", err,
	    errlen) == -1 ? -1 : 0;
}

int
store_deliveries_retry(struct store *st, int64_t sink_id, int64_t now,
    int64_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = ev_get(st, DL_RETRY);

	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, sink_id);
	if (stmt_run(st, s) == -1) {
		db_error(st, "re-queueing deliveries", err, errlen);
		return -1;
	}
	*n = sqlite3_changes(st->db);
	return 0;
}
