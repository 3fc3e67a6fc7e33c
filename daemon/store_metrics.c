/*
 * The SQL a /metrics scrape runs, prepared once at open
 * (store_metrics_prepare).  Every read is a bounded page on a primary key
 * or an index: the scrape decides how many pages a loop turn takes.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_int.h"
#include "store_metrics.h"

enum mx_stmt {
	MX_TRACKED,
	MX_MANAGED,
	MX_DEPLOYS,
	MX_OUTBOX,
	MX_SIZE,
	MX_STMT_COUNT
};

_Static_assert(MX_STMT_COUNT <= STORE_MX_STMT_MAX, "raise STORE_MX_STMT_MAX");

static const char *const mx_sql[MX_STMT_COUNT] = {
	[MX_TRACKED] = "SELECT id, source, active, host, port, sni, "
	    "common_name, issued_by, serial_number, valid_from, valid_until, "
	    "chain_valid, hostname_match, last_checked_at, check_failures, "
	    "check_error, verify_error, chain_length, subject, issuer, "
	    "public_key, signature_algorithm FROM tracked WHERE id > ? ORDER BY id LIMIT ?",
	[MX_MANAGED] = "SELECT id, coalesce(common_name, domain), issued_by, "
	    "serial_number, valid_from, valid_until, status, failures, "
	    "next_renewal_at, subject, issuer, public_key, signature_algorithm "
	    "FROM certificates WHERE id > ? ORDER BY id "
	    "LIMIT ?",
	[MX_DEPLOYS] = "SELECT id, cert_id, dir, state, deployed_at FROM "
	    "deploy_targets WHERE id > ? ORDER BY id LIMIT ?",
	[MX_OUTBOX] = "SELECT s.name, (SELECT count(*) FROM deliveries d "
	    "WHERE d.sink_id = s.id AND d.next_at IS NOT NULL) FROM sinks s "
	    "ORDER BY s.name",
	[MX_SIZE] = "SELECT page_count * page_size FROM pragma_page_count(), "
	    "pragma_page_size()",
};

static sqlite3_stmt *
mx_get(struct store *st, enum mx_stmt id)
{
	return stmt_reset(st->mx_stmt[id]);
}

int
store_metrics_prepare(struct store *st, char *err, size_t errlen)
{
	for (int i = 0; i < MX_STMT_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, mx_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->mx_stmt[i], NULL) !=
		    SQLITE_OK) {
			db_error(st, "prepare", err, errlen);
			return -1;
		}
	return 0;
}

void
store_metrics_finalize(struct store *st)
{
	for (int i = 0; i < MX_STMT_COUNT; i++) {
		sqlite3_finalize(st->mx_stmt[i]);
		st->mx_stmt[i] = NULL;
	}
}

static const char *
text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

static int
int_or(sqlite3_stmt *s, int col, int dflt)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? dflt :
	    sqlite3_column_int(s, col);
}

static void
row_tracked(sqlite3_stmt *s, struct store_metric_item *it)
{
	const char *src = text(s, 1);

	it->id = sqlite3_column_int64(s, 0);
	it->source = src != NULL && strcmp(src, "host") == 0 ? MS_HOST :
	    MS_PEM;
	it->active = sqlite3_column_int(s, 2);
	it->host = text(s, 3);
	it->port = sqlite3_column_int(s, 4);
	it->sni = text(s, 5);
	it->cn = text(s, 6);
	it->issuer = text(s, 7);
	it->serial = text(s, 8);
	it->valid_from = sqlite3_column_int64(s, 9);
	it->valid_until = sqlite3_column_int64(s, 10);
	it->chain_valid = int_or(s, 11, -1);
	it->hostname_match = int_or(s, 12, -1);
	it->checked_at = sqlite3_column_int64(s, 13);
	it->check_failures = sqlite3_column_int(s, 14);
	it->check_error = text(s, 15);
	it->verify_error = text(s, 16);
	it->chain_length = sqlite3_column_int(s, 17);
	it->subject_dn = text(s, 18);
	it->issuer_dn = text(s, 19);
	it->public_key = text(s, 20);
	it->signature_algorithm = text(s, 21);
}

static void
row_managed(sqlite3_stmt *s, struct store_metric_item *it)
{
	it->id = sqlite3_column_int64(s, 0);
	it->source = MS_MANAGED;
	it->active = 1;
	it->cn = text(s, 1);
	it->issuer = text(s, 2);
	it->serial = text(s, 3);
	it->valid_from = sqlite3_column_int64(s, 4);
	it->valid_until = sqlite3_column_int64(s, 5);
	it->chain_valid = -1;
	it->hostname_match = -1;
	it->status = text(s, 6);
	it->failures = sqlite3_column_int(s, 7);
	it->next_renewal_at = sqlite3_column_int64(s, 8);
	it->subject_dn = text(s, 9);
	it->issuer_dn = text(s, 10);
	it->public_key = text(s, 11);
	it->signature_algorithm = text(s, 12);
}

int
store_metric_items(struct store *st, int managed, int64_t after, int limit,
    store_metric_item_cb *cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = mx_get(st, managed ? MX_MANAGED : MX_TRACKED);
	int n = 0, rc;

	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_metric_item it = { 0 };

		if (managed)
			row_managed(s, &it);
		else
			row_tracked(s, &it);
		cb(&it, arg);
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_error(st, "reading items for metrics", err, errlen);
		n = -1;
	}
	sqlite3_reset(s);
	return n;
}

int
store_metric_deploys(struct store *st, int64_t after, int limit,
    store_metric_deploy_cb *cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = mx_get(st, MX_DEPLOYS);
	int n = 0, rc;

	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_metric_deploy dp = {
			.id = sqlite3_column_int64(s, 0),
			.cert_id = sqlite3_column_int64(s, 1),
			.dir = text(s, 2),
			.state = text(s, 3),
			.deployed_at = sqlite3_column_int64(s, 4),
		};

		cb(&dp, arg);
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_error(st, "reading deploy targets for metrics", err, errlen);
		n = -1;
	}
	sqlite3_reset(s);
	return n;
}

int
store_metric_outbox(struct store *st, store_metric_pending_cb *cb, void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = mx_get(st, MX_OUTBOX);
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(text(s, 0), sqlite3_column_int64(s, 1), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		db_error(st, "reading the outbox for metrics", err, errlen);
		return -1;
	}
	return 0;
}

int64_t
store_metric_size(struct store *st)
{
	sqlite3_stmt *s = mx_get(st, MX_SIZE);
	int64_t n = -1;

	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return n;
}

const char *
store_engine_version(void)
{
	return sqlite3_libversion();
}
