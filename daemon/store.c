/*
 * SQLite behind one connection.  All SQL text of the daemon lives in this
 * file, as statements prepared once at open and bound per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "daemon.h"
#include "log.h"
#include "store.h"
#include "x509.h"

enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_ITEM_INSERT,
	STMT_ITEM_GET,
	STMT_ITEM_FIND_PEM,
	STMT_ITEM_DELETE,
	STMT_ITEM_SET_ACTIVE,
	STMT_ITEMS_AFTER,
	STMT_COUNTS,
	STMT_EVENT_ADD,
	STMT_EVENTS_ALL,
	STMT_EVENTS_ITEM,
	STMT_ITEM_FIND_HOST,
	STMT_ITEM_CHAIN_DIGEST,
	STMT_ITEM_UPDATE,
	STMT_ITEM_SET_NEXT,
	STMT_ITEMS_DUE,
	STMT_NEXT_DUE,
	STMT_ACTIVE_HOSTS,
	STMT_SNAPSHOT_ADD,
	STMT_SNAPSHOTS_ITEM,
	STMT_SNAPSHOTS_DELETE,
	STMT_COUNT
};

#define ITEM_COLUMNS \
	"id, source, active, check_error, pem, common_name, issued_by, " \
	"issuer, subject, organization, organizational_unit, location, " \
	"serial_number, signature_algorithm, public_key, fingerprint_sha256, " \
	"valid_from, valid_until, subject_alt_names, created_at, " \
	"last_checked_at, next_check_at, host, port, sni, address, " \
	"tls_version, cipher, chain_valid, hostname_match, verify_error, " \
	"chain_length, chain_sha256, check_failures"

static const char *const stmt_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT w",
	[STMT_RELEASE] = "RELEASE w",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO w",
	[STMT_ITEM_INSERT] =
	    "INSERT INTO tracked (source, active, check_error, pem, "
	    "common_name, issued_by, issuer, subject, organization, "
	    "organizational_unit, location, serial_number, "
	    "signature_algorithm, public_key, fingerprint_sha256, valid_from, "
	    "valid_until, subject_alt_names, created_at, last_checked_at, "
	    "next_check_at, host, port, sni, address, tls_version, cipher, "
	    "chain_valid, hostname_match, verify_error, chain_length, "
	    "chain_sha256, check_failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
	    "?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)",
	[STMT_ITEM_GET] = "SELECT " ITEM_COLUMNS " FROM tracked WHERE id = ?",
	[STMT_ITEM_FIND_PEM] = "SELECT id FROM tracked WHERE source = 'pem' "
	    "AND fingerprint_sha256 = ?",
	[STMT_ITEM_DELETE] = "DELETE FROM tracked WHERE id = ?",
	[STMT_ITEM_SET_ACTIVE] = "UPDATE tracked SET active = ?, "
	    "next_check_at = ? WHERE id = ?",
	[STMT_ITEMS_AFTER] = "SELECT " ITEM_COLUMNS " FROM tracked "
	    "WHERE id > ? ORDER BY id LIMIT ?",
	[STMT_COUNTS] = "SELECT tracked, active, pem, host, events FROM counts "
	    "WHERE id = 1",
	[STMT_EVENT_ADD] = "INSERT INTO events (at, item_id, kind, message) "
	    "VALUES (?, ?, ?, ?)",
	[STMT_EVENTS_ALL] = "SELECT id, at, item_id, kind, message FROM events "
	    "ORDER BY id DESC LIMIT ?",
	[STMT_EVENTS_ITEM] = "SELECT id, at, item_id, kind, message FROM events "
	    "WHERE item_id = ? ORDER BY id DESC LIMIT ?",
	[STMT_ITEM_FIND_HOST] = "SELECT id FROM tracked WHERE source = 'host' "
	    "AND host = ?1 AND port = ?2 AND coalesce(sni, '') = coalesce(?3, '')",
	[STMT_ITEM_CHAIN_DIGEST] = "SELECT chain_sha256 FROM tracked "
	    "WHERE id = ? AND fingerprint_sha256 IS NOT NULL",
	/* Same numbering as STMT_ITEM_INSERT; ?34 is the id. */
	[STMT_ITEM_UPDATE] = "UPDATE tracked SET active = ?2, check_error = ?3, "
	    "pem = ?4, common_name = ?5, issued_by = ?6, issuer = ?7, "
	    "subject = ?8, organization = ?9, organizational_unit = ?10, "
	    "location = ?11, serial_number = ?12, signature_algorithm = ?13, "
	    "public_key = ?14, fingerprint_sha256 = ?15, valid_from = ?16, "
	    "valid_until = ?17, subject_alt_names = ?18, last_checked_at = ?20, "
	    "next_check_at = ?21, address = ?25, tls_version = ?26, cipher = ?27, "
	    "chain_valid = ?28, hostname_match = ?29, verify_error = ?30, "
	    "chain_length = ?31, chain_sha256 = ?32, check_failures = ?33 "
	    "WHERE id = ?34",
	[STMT_ITEM_SET_NEXT] = "UPDATE tracked SET next_check_at = ? WHERE id = ?",
	[STMT_ITEMS_DUE] = "SELECT id FROM tracked WHERE next_check_at <= ? "
	    "AND active = 1 ORDER BY next_check_at LIMIT ?",
	[STMT_NEXT_DUE] = "SELECT min(next_check_at) FROM tracked",
	[STMT_ACTIVE_HOSTS] = "SELECT id FROM tracked WHERE source = 'host' "
	    "AND active = 1 ORDER BY id",
	[STMT_SNAPSHOT_ADD] = "INSERT INTO snapshots (item_id, at, chain_sha256, "
	    "leaf_sha256, chain_length, chain_pem) VALUES (?, ?, ?, ?, ?, ?)",
	[STMT_SNAPSHOTS_ITEM] = "SELECT at, chain_sha256, leaf_sha256, "
	    "chain_length, chain_pem FROM snapshots WHERE item_id = ? ORDER BY id",
	[STMT_SNAPSHOTS_DELETE] = "DELETE FROM snapshots WHERE item_id = ?",
};

struct waiter {
	store_durable_cb	*cb;
	void			*arg;
	STAILQ_ENTRY(waiter)	 entry;
};
STAILQ_HEAD(waiters, waiter);

struct store {
	sqlite3			*db;
	sqlite3_stmt		*stmt[STMT_COUNT];
	struct event		*commit_ev;	/* NULL: commit at write end */
	int			 commit_interval_ms;
	int			 txn_open;
	int			 depth;		/* open write brackets */
	unsigned		 version;
	struct waiters		 waiters;
};

static void store_commit_cb(evutil_socket_t fd, short what, void *arg);
static int run_changes(struct store *st, sqlite3_stmt *s, const char *what,
    char *err, size_t errlen);

static void
db_error(struct store *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(st->db));
}

static sqlite3_stmt *
stmt_get(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Runs a statement that returns no rows. */
static int
stmt_run(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static void
bind_time(sqlite3_stmt *s, int i, int64_t t)
{
	if (t == 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, t);
}

/* Ends a row walk: 0 when it ran out of rows or the caller stopped it. */
static int
walk_end(struct store *st, sqlite3_stmt *s, int stopped, int rc,
    const char *what, char *err, size_t errlen)
{
	int failed = !stopped && rc != SQLITE_DONE;

	if (failed)
		db_error(st, what, err, errlen);
	sqlite3_reset(s);
	return failed ? -1 : 0;
}

static int
exec_sql(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "database: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

unsigned
store_schema_latest(void)
{
	return store_migrations[store_nmigrations - 1].version;
}

static int
read_user_version(struct store *st, unsigned *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) !=
	    SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = (unsigned)sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Applies each migration newer than the file's version in its own transaction. */
static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	unsigned have;
	char sql[64];

	if (read_user_version(st, &have) == -1) {
		db_error(st, "reading schema version", err, errlen);
		return -1;
	}
	if (have > store_schema_latest()) {
		snprintf(err, errlen, "database schema version %u is newer than "
		    "this certfleetd supports (%u): upgrade certfleetd", have,
		    store_schema_latest());
		return -1;
	}
	for (unsigned i = 0; i < store_nmigrations; i++) {
		const struct store_migration *m = &store_migrations[i];

		if (m->version <= have)
			continue;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", m->version);
		if (exec_sql(st, "BEGIN IMMEDIATE", err, errlen) == -1)
			return -1;
		if (exec_sql(st, m->sql, err, errlen) == -1 ||
		    exec_sql(st, sql, err, errlen) == -1 ||
		    exec_sql(st, "COMMIT", err, errlen) == -1) {
			char ignored[64];
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, " (in %s)", m->name);
			exec_sql(st, "ROLLBACK", ignored, sizeof(ignored));
			return -1;
		}
		log_info("database migrated to schema version %u (%s)",
		    m->version, m->name);
		have = m->version;
	}
	st->version = have;
	return 0;
}

static int
store_prepare_all(struct store *st, char *err, size_t errlen)
{
	for (int i = 0; i < STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) != SQLITE_OK) {
			db_error(st, "preparing statements", err, errlen);
			return -1;
		}
	}
	return 0;
}

struct store *
store_open(struct event_base *base, const char *path, int commit_interval_ms,
    char *err, size_t errlen)
{
	struct store *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	STAILQ_INIT(&st->waiters);
	st->commit_interval_ms = commit_interval_ms;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database %s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* FULL: in WAL mode NORMAL can lose acknowledged commits on power loss. */
	if (exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
	    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0", err, errlen) == -1)
		goto fail;
	if (store_migrate(st, err, errlen) == -1 ||
	    store_prepare_all(st, err, errlen) == -1)
		goto fail;
	if (base != NULL &&
	    (st->commit_ev = evtimer_new(base, store_commit_cb, st)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Answers wait for the commit: it runs with them, before bulk work. */
	if (st->commit_ev != NULL && event_base_get_npriorities(base) > PRIO_RPC)
		event_priority_set(st->commit_ev, PRIO_RPC);
	return st;
fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->txn_open)
		store_flush(st);
	if (st->commit_ev != NULL)
		event_free(st->commit_ev);
	for (int i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

unsigned
store_schema_version(const struct store *st)
{
	return st->version;
}

void
store_set_commit_interval(struct store *st, int ms)
{
	st->commit_interval_ms = ms;
}

/* --- group commit -------------------------------------------------------- */

static void
store_run_waiters(struct store *st, int ok)
{
	struct waiters ready = STAILQ_HEAD_INITIALIZER(ready);
	struct waiter *w;

	/* Callbacks may write again and queue new waiters: run a detached list. */
	STAILQ_CONCAT(&ready, &st->waiters);
	while ((w = STAILQ_FIRST(&ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&ready, entry);
		w->cb(ok, w->arg);
		free(w);
	}
}

int
store_flush(struct store *st)
{
	int ok = 1;

	if (!st->txn_open) {
		store_run_waiters(st, 1);
		return 0;
	}
	if (st->commit_ev != NULL)
		evtimer_del(st->commit_ev);
	if (stmt_run(st, stmt_get(st, STMT_COMMIT)) == -1) {
		log_error("database commit failed: %s; the batch is rolled back",
		    sqlite3_errmsg(st->db));
		stmt_run(st, stmt_get(st, STMT_ROLLBACK));
		ok = 0;
	}
	st->txn_open = 0;
	store_run_waiters(st, ok);
	return ok ? 0 : -1;
}

static void
store_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;

	if (st->depth == 0)
		store_flush(st);
}

int
store_write_begin(struct store *st, char *err, size_t errlen)
{
	if (!st->txn_open) {
		if (stmt_run(st, stmt_get(st, STMT_BEGIN)) == -1) {
			db_error(st, "begin", err, errlen);
			return -1;
		}
		st->txn_open = 1;
		if (st->commit_ev != NULL) {
			struct timeval tv = { 0, st->commit_interval_ms * 1000 };
			evtimer_add(st->commit_ev, &tv);
		}
	}
	if (stmt_run(st, stmt_get(st, STMT_SAVEPOINT)) == -1) {
		db_error(st, "savepoint", err, errlen);
		return -1;
	}
	st->depth++;
	return 0;
}

void
store_write_end(struct store *st, int ok)
{
	if (!ok)
		stmt_run(st, stmt_get(st, STMT_ROLLBACK_TO));
	stmt_run(st, stmt_get(st, STMT_RELEASE));
	st->depth--;
	if (st->commit_ev == NULL && st->depth == 0)
		store_flush(st);
}

void
store_when_durable(struct store *st, store_durable_cb *cb, void *arg)
{
	struct waiter *w;

	if (!st->txn_open) {
		cb(1, arg);
		return;
	}
	if ((w = malloc(sizeof(*w))) == NULL) {
		/* Cannot queue: make it durable now rather than answer early. */
		cb(store_flush(st) == 0, arg);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	STAILQ_INSERT_TAIL(&st->waiters, w, entry);
}

/* --- items --------------------------------------------------------------- */

void
store_item_free(struct store_item *item)
{
	if (item == NULL)
		return;
	free(item->check_error);
	x509_facts_free(item->facts);
	free(item->host);
	free(item->sni);
	free(item->address);
	free(item->tls_version);
	free(item->cipher);
	free(item->verify_error);
	free(item->chain_sha256);
	free(item);
}

static char *
sans_to_json(const struct x509_facts *f)
{
	json_t *arr = json_array();
	char *s;

	for (size_t i = 0; arr != NULL && i < f->nsans; i++)
		json_array_append_new(arr, json_string(f->sans[i]));
	s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return s;
}

static int
sans_from_json(const char *text, struct x509_facts *f)
{
	json_t *arr = json_loads(text ? text : "[]", 0, NULL);
	size_t n;

	if (arr == NULL || !json_is_array(arr)) {
		json_decref(arr);
		return -1;
	}
	n = json_array_size(arr);
	if (n > 0 && (f->sans = calloc(n, sizeof(char *))) == NULL) {
		json_decref(arr);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if ((f->sans[i] = strdup(s ? s : "")) == NULL)
			break;
		f->nsans++;
	}
	json_decref(arr);
	return f->nsans == n ? 0 : -1;
}

static void
bind_tristate(sqlite3_stmt *s, int i, int v)
{
	if (v < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int(s, i, v);
}

/* Binds ?1..?33 in the order of STMT_ITEM_INSERT; sans is caller-owned. */
static int
bind_item(sqlite3_stmt *s, const struct store_item *item, char **sans)
{
	const struct x509_facts *f = item->facts;

	*sans = NULL;
	bind_text(s, 1, item->source);
	sqlite3_bind_int(s, 2, item->active);
	bind_text(s, 3, item->check_error);
	if (f != NULL) {
		if ((*sans = sans_to_json(f)) == NULL)
			return -1;
		bind_text(s, 4, f->pem);
		bind_text(s, 5, f->common_name);
		bind_text(s, 6, f->issued_by);
		bind_text(s, 7, f->issuer);
		bind_text(s, 8, f->subject);
		bind_text(s, 9, f->organization);
		bind_text(s, 10, f->organizational_unit);
		bind_text(s, 11, f->location);
		bind_text(s, 12, f->serial_number);
		bind_text(s, 13, f->signature_algorithm);
		bind_text(s, 14, f->public_key);
		bind_text(s, 15, f->fingerprint_sha256);
		sqlite3_bind_int64(s, 16, f->valid_from);
		sqlite3_bind_int64(s, 17, f->valid_until);
		sqlite3_bind_text(s, 18, *sans, -1, SQLITE_STATIC);
	} else
		sqlite3_bind_text(s, 18, "[]", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 19, item->created_at);
	bind_time(s, 20, item->last_checked_at);
	bind_time(s, 21, item->next_check_at);
	bind_text(s, 22, item->host);
	if (item->host != NULL)
		sqlite3_bind_int(s, 23, item->port);
	bind_text(s, 24, item->sni);
	bind_text(s, 25, item->address);
	bind_text(s, 26, item->tls_version);
	bind_text(s, 27, item->cipher);
	bind_tristate(s, 28, item->host ? item->chain_valid : -1);
	bind_tristate(s, 29, item->host ? item->hostname_match : -1);
	bind_text(s, 30, item->verify_error);
	bind_tristate(s, 31, item->host ? item->chain_length : -1);
	bind_text(s, 32, item->chain_sha256);
	sqlite3_bind_int(s, 33, item->check_failures);
	return 0;
}

int
store_item_insert(struct store *st, struct store_item *item, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_INSERT);
	char *sans;
	int rc;

	if (bind_item(s, item, &sans) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	free(sans);
	if (rc != SQLITE_DONE) {
		db_error(st, "adding item", err, errlen);
		return -1;
	}
	item->id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int
store_item_update(struct store *st, const struct store_item *item, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_UPDATE);
	char *sans;
	int rc;

	if (bind_item(s, item, &sans) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sqlite3_bind_int64(s, 34, item->id);
	rc = run_changes(st, s, "updating item", err, errlen);
	free(sans);
	return rc;
}

static char *
col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

static int
col_tristate(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(s, col);
}

/* Builds an item from the current row of a statement selecting ITEM_COLUMNS. */
static struct store_item *
item_from_row(sqlite3_stmt *s)
{
	struct store_item *item = calloc(1, sizeof(*item));
	struct x509_facts *f;

	if (item == NULL)
		return NULL;
	item->id = sqlite3_column_int64(s, 0);
	snprintf(item->source, sizeof(item->source), "%s",
	    (const char *)sqlite3_column_text(s, 1));
	item->active = sqlite3_column_int(s, 2);
	item->check_error = col_strdup(s, 3);
	item->created_at = sqlite3_column_int64(s, 19);
	item->last_checked_at = sqlite3_column_int64(s, 20);
	item->next_check_at = sqlite3_column_int64(s, 21);
	item->host = col_strdup(s, 22);
	item->port = sqlite3_column_int(s, 23);
	item->sni = col_strdup(s, 24);
	item->address = col_strdup(s, 25);
	item->tls_version = col_strdup(s, 26);
	item->cipher = col_strdup(s, 27);
	item->chain_valid = col_tristate(s, 28);
	item->hostname_match = col_tristate(s, 29);
	item->verify_error = col_strdup(s, 30);
	item->chain_length = sqlite3_column_int(s, 31);
	item->chain_sha256 = col_strdup(s, 32);
	item->check_failures = sqlite3_column_int(s, 33);
	if (sqlite3_column_type(s, 15) == SQLITE_NULL)
		return item;	/* never checked successfully */
	if ((f = item->facts = calloc(1, sizeof(*f))) == NULL)
		goto fail;
	f->pem = col_strdup(s, 4);
	f->common_name = col_strdup(s, 5);
	f->issued_by = col_strdup(s, 6);
	f->issuer = col_strdup(s, 7);
	f->subject = col_strdup(s, 8);
	f->organization = col_strdup(s, 9);
	f->organizational_unit = col_strdup(s, 10);
	f->location = col_strdup(s, 11);
	f->serial_number = col_strdup(s, 12);
	f->signature_algorithm = col_strdup(s, 13);
	f->public_key = col_strdup(s, 14);
	f->fingerprint_sha256 = col_strdup(s, 15);
	f->valid_from = sqlite3_column_int64(s, 16);
	f->valid_until = sqlite3_column_int64(s, 17);
	if (sans_from_json((const char *)sqlite3_column_text(s, 18), f) == -1)
		goto fail;
	return item;
fail:
	store_item_free(item);
	return NULL;
}

int
store_item_get(struct store *st, int64_t id, struct store_item **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_GET);
	int rc;

	*out = NULL;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		db_error(st, "reading item", err, errlen);
		sqlite3_reset(s);
		return -1;
	}
	*out = item_from_row(s);
	sqlite3_reset(s);
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory reading item %lld",
		    (long long)id);
		return -1;
	}
	return 0;
}

int
store_item_find_pem(struct store *st, const char *fingerprint, int64_t *id)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_FIND_PEM);
	int rc;

	bind_text(s, 1, fingerprint);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? 1 : -1;
}

/* Runs a bound UPDATE/DELETE; 1 when it touched no row. */
static int
run_changes(struct store *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	if (stmt_run(st, s) == -1) {
		db_error(st, what, err, errlen);
		return -1;
	}
	return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

int
store_item_delete(struct store *st, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_DELETE);

	sqlite3_bind_int64(s, 1, id);
	return run_changes(st, s, "deleting item", err, errlen);
}

int
store_item_set_active(struct store *st, int64_t id, int active,
    int64_t next_check_at, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_SET_ACTIVE);

	sqlite3_bind_int(s, 1, active);
	bind_time(s, 2, next_check_at);
	sqlite3_bind_int64(s, 3, id);
	return run_changes(st, s, "updating item", err, errlen);
}

int
store_items_each(struct store *st, int64_t after_id, int64_t limit,
    store_item_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEMS_AFTER);
	int rc, stop = 0;

	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_item *item = item_from_row(s);

		if (item == NULL) {
			snprintf(err, errlen, "out of memory listing items");
			sqlite3_reset(s);
			return -1;
		}
		stop = fn(item, arg);
		store_item_free(item);
	}
	return walk_end(st, s, stop, rc, "listing items", err, errlen);
}

int
store_counts(struct store *st, struct store_counts *out)
{
	sqlite3_stmt *s = stmt_get(st, STMT_COUNTS);
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		out->tracked = sqlite3_column_int64(s, 0);
		out->active = sqlite3_column_int64(s, 1);
		out->pem = sqlite3_column_int64(s, 2);
		out->host = sqlite3_column_int64(s, 3);
		out->events = sqlite3_column_int64(s, 4);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* --- events -------------------------------------------------------------- */

int
store_event_add(struct store *st, int64_t at, int64_t item_id,
    const char *kind, const char *message, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_EVENT_ADD);

	sqlite3_bind_int64(s, 1, at);
	if (item_id > 0)
		sqlite3_bind_int64(s, 2, item_id);
	else
		sqlite3_bind_null(s, 2);
	bind_text(s, 3, kind);
	bind_text(s, 4, message);
	if (stmt_run(st, s) == -1) {
		db_error(st, "adding event", err, errlen);
		return -1;
	}
	return 0;
}

int
store_events_each(struct store *st, int64_t item_id, int64_t limit,
    store_event_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (item_id > 0) {
		s = stmt_get(st, STMT_EVENTS_ITEM);
		sqlite3_bind_int64(s, 1, item_id);
		sqlite3_bind_int64(s, 2, limit);
	} else {
		s = stmt_get(st, STMT_EVENTS_ALL);
		sqlite3_bind_int64(s, 1, limit);
	}
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_event ev = {
			.id = sqlite3_column_int64(s, 0),
			.at = sqlite3_column_int64(s, 1),
			.item_id = sqlite3_column_int64(s, 2),
			.kind = (const char *)sqlite3_column_text(s, 3),
			.message = (const char *)sqlite3_column_text(s, 4),
		};
		stop = fn(&ev, arg);
	}
	return walk_end(st, s, stop, rc, "listing events", err, errlen);
}

/* --- host items and schedule --------------------------------------------- */

int
store_item_find_host(struct store *st, const char *host, int port,
    const char *sni, int64_t *id)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_FIND_HOST);
	int rc;

	bind_text(s, 1, host);
	sqlite3_bind_int(s, 2, port);
	bind_text(s, 3, sni);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? 1 : -1;
}

int
store_item_chain_digest(struct store *st, int64_t id, char out[65])
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_CHAIN_DIGEST);
	const unsigned char *v;
	int rc;

	out[0] = '\0';
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && (v = sqlite3_column_text(s, 0)) != NULL &&
	    sqlite3_column_bytes(s, 0) == 64)
		memcpy(out, v, 65);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? 1 : -1;
}

int
store_item_set_next_check(struct store *st, int64_t id, int64_t at, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEM_SET_NEXT);

	bind_time(s, 1, at);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "scheduling item", err, errlen);
}

int
store_items_due(struct store *st, int64_t now, int64_t *ids, size_t max,
    size_t *n)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ITEMS_DUE);
	int rc;

	*n = 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int
store_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *s = stmt_get(st, STMT_NEXT_DUE);
	int rc = sqlite3_step(s);

	*at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_active_hosts_each(struct store *st, store_id_fn *fn, void *arg)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ACTIVE_HOSTS);
	int rc, stop = 0;

	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW)
		stop = fn(sqlite3_column_int64(s, 0), arg);
	sqlite3_reset(s);
	return stop || rc == SQLITE_DONE ? 0 : -1;
}

/* --- snapshots ------------------------------------------------------------ */

int
store_snapshot_add(struct store *st, int64_t item_id, int64_t at,
    const char *chain_sha256, const char *leaf_sha256, int chain_length,
    const char *chain_pem, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_SNAPSHOT_ADD);

	sqlite3_bind_int64(s, 1, item_id);
	sqlite3_bind_int64(s, 2, at);
	bind_text(s, 3, chain_sha256);
	bind_text(s, 4, leaf_sha256);
	sqlite3_bind_int(s, 5, chain_length);
	bind_text(s, 6, chain_pem);
	if (stmt_run(st, s) == -1) {
		db_error(st, "adding snapshot", err, errlen);
		return -1;
	}
	return 0;
}

int
store_snapshots_each(struct store *st, int64_t item_id, store_snapshot_fn *fn,
    void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_SNAPSHOTS_ITEM);
	int rc, stop = 0;
	int64_t n = 0;

	sqlite3_bind_int64(s, 1, item_id);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_snapshot snap = {
			.number = ++n,
			.at = sqlite3_column_int64(s, 0),
			.chain_sha256 = (const char *)sqlite3_column_text(s, 1),
			.leaf_sha256 = (const char *)sqlite3_column_text(s, 2),
			.chain_length = sqlite3_column_int64(s, 3),
			.chain_pem = (const char *)sqlite3_column_text(s, 4),
		};
		stop = fn(&snap, arg);
	}
	return walk_end(st, s, stop, rc, "listing snapshots", err, errlen);
}

int
store_snapshots_delete(struct store *st, int64_t item_id, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_SNAPSHOTS_DELETE);

	sqlite3_bind_int64(s, 1, item_id);
	return run_changes(st, s, "deleting snapshots", err, errlen) == -1 ? -1 : 0;
}
