/*
 * The store's insides, shared by the files that own its tables (store.c:
 * tracked items, certificates, the tech zone; store_events.c: events,
 * expiry, notification sinks and their outbox).  Nothing outside those
 * files includes this: SQL stays in the store.
 */
#ifndef CERTFLEET_STORE_INT_H
#define CERTFLEET_STORE_INT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <sqlite3.h>

#include "metrics.h"
#include "store.h"

/* Statements each part prepares once at open, by its own enum. */
#define STORE_STMT_MAX		96
#define STORE_EV_STMT_MAX	48
#define STORE_DP_STMT_MAX	16
#define STORE_MX_STMT_MAX	8

struct waiter {
	store_durable_cb	*cb;
	void			*arg;
	STAILQ_ENTRY(waiter)	 entry;
};
STAILQ_HEAD(waiters, waiter);

struct store {
	sqlite3			*db;
	sqlite3_stmt		*stmt[STORE_STMT_MAX];
	sqlite3_stmt		*ev_stmt[STORE_EV_STMT_MAX];	/* store_events.c */
	sqlite3_stmt		*dp_stmt[STORE_DP_STMT_MAX];	/* store_deploy.c */
	sqlite3_stmt		*mx_stmt[STORE_MX_STMT_MAX];	/* store_metrics.c */
	struct hist		 commit_hist;	/* seconds per COMMIT */
	struct event		*commit_ev;	/* NULL: commit at write end */
	int			 commit_interval_ms;
	int			 txn_open;
	int			 depth;		/* open write brackets */
	unsigned		 version;
	struct waiters		 waiters;
	uint32_t		 tz_serial;	/* last read, for a failed read */
	int64_t			 tz_warned_at;	/* rate limit of the source's log */
};


/* Prepare and finalize the other parts' statements (store_open/close). */
int	 store_events_prepare(struct store *st, char *err, size_t errlen);
void	 store_events_finalize(struct store *st);
int	 store_deploy_prepare(struct store *st, char *err, size_t errlen);
void	 store_deploy_finalize(struct store *st);
int	 store_metrics_prepare(struct store *st, char *err, size_t errlen);
void	 store_metrics_finalize(struct store *st);

/* Resets s for a new use. */
static inline sqlite3_stmt *
stmt_reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static inline void
db_error(struct store *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(st->db));
}

/* Runs a statement that returns no rows. */
static inline int
stmt_run(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static inline void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static inline void
bind_time(sqlite3_stmt *s, int i, int64_t t)
{
	if (t == 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, t);
}

/* Ends a row walk: 0 when it ran out of rows or the caller stopped it. */
static inline int
walk_end(struct store *st, sqlite3_stmt *s, int stopped, int rc,
    const char *what, char *err, size_t errlen)
{
	int failed = !stopped && rc != SQLITE_DONE;

	if (failed)
		db_error(st, what, err, errlen);
	sqlite3_reset(s);
	return failed ? -1 : 0;
}

/* Runs a bound UPDATE/DELETE; 1 when it touched no row. */
static inline int
run_changes(struct store *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	if (stmt_run(st, s) == -1) {
		db_error(st, what, err, errlen);
		return -1;
	}
	return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

/* Runs a bound INSERT: 0, 1 on a uniqueness conflict, -1 on error. */
static inline int
run_insert(struct store *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(s);
	int ext = sqlite3_extended_errcode(st->db);

	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 0;
	}
	db_error(st, what, err, errlen);
	sqlite3_reset(s);
	return ext == SQLITE_CONSTRAINT_UNIQUE ? 1 : -1;
}

static inline void
bind_blob(sqlite3_stmt *s, int i, const unsigned char *p, size_t n)
{
	if (p == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_blob64(s, i, p, n, SQLITE_TRANSIENT);
}

static inline void
bind_id(sqlite3_stmt *s, int i, int64_t id)
{
	if (id <= 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, id);
}

static inline char *
col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

/* A copy of a BLOB column; 0 when NULL, -1 out of memory. */
static inline int
col_blob(sqlite3_stmt *s, int col, unsigned char **out, size_t *len)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	*out = NULL;
	*len = 0;
	if (p == NULL || n <= 0)
		return 0;
	if ((*out = malloc((size_t)n)) == NULL)
		return -1;
	memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

#endif
