/*
 * The store's deploy_targets table: all its SQL, prepared once at open
 * (store_deploy_prepare) and bound per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_deploy.h"
#include "store_int.h"

enum dp_stmt {
	DP_INSERT,
	DP_GET,
	DP_CERT,
	DP_DELETE,
	DP_RESULT,
	DP_DUE_CERT,
	DP_DUE,
	DP_NEXT,
	DP_LEASE,
	DP_STMT_COUNT
};

_Static_assert(DP_STMT_COUNT <= STORE_DP_STMT_MAX, "raise STORE_DP_STMT_MAX");

#define DEPLOY_COLUMNS \
	"id, cert_id, dir, owner, uid, gid, key_mode, cert_mode, combined, " \
	"reload, timeout, state, deployed_fingerprint, deployed_at, " \
	"last_error, failures, next_attempt_at, created_at"

static const char *const dp_sql[DP_STMT_COUNT] = {
	[DP_INSERT] = "INSERT INTO deploy_targets (cert_id, dir, owner, uid, "
	    "gid, key_mode, cert_mode, combined, reload, timeout, "
	    "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?)",
	[DP_GET] = "SELECT " DEPLOY_COLUMNS " FROM deploy_targets WHERE id = ?",
	[DP_CERT] = "SELECT " DEPLOY_COLUMNS " FROM deploy_targets WHERE "
	    "cert_id = ? ORDER BY id",
	[DP_DELETE] = "DELETE FROM deploy_targets WHERE cert_id = ? AND id = ?",
	[DP_RESULT] = "UPDATE deploy_targets SET state = ?, "
	    "deployed_fingerprint = ?, deployed_at = ?, last_error = ?, "
	    "failures = ?, next_attempt_at = ? WHERE id = ?",
	[DP_DUE_CERT] = "UPDATE deploy_targets SET next_attempt_at = ?, "
	    "state = 'pending', failures = 0 WHERE cert_id = ?",
	[DP_DUE] = "SELECT id FROM deploy_targets WHERE next_attempt_at IS NOT "
	    "NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
	[DP_NEXT] = "SELECT min(next_attempt_at) FROM deploy_targets",
	[DP_LEASE] = "UPDATE deploy_targets SET next_attempt_at = ? WHERE id = ?",
};

static sqlite3_stmt *
dp_get(struct store *st, enum dp_stmt id)
{
	return stmt_reset(st->dp_stmt[id]);
}

int
store_deploy_prepare(struct store *st, char *err, size_t errlen)
{
	for (int i = 0; i < DP_STMT_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, dp_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->dp_stmt[i], NULL) !=
		    SQLITE_OK) {
			db_error(st, "preparing statements", err, errlen);
			return -1;
		}
	return 0;
}

void
store_deploy_finalize(struct store *st)
{
	for (int i = 0; i < DP_STMT_COUNT; i++)
		sqlite3_finalize(st->dp_stmt[i]);
}

void
store_deploy_free(struct store_deploy *t)
{
	if (t == NULL)
		return;
	free(t->dir);
	free(t->owner);
	free(t->reload);
	free(t->deployed_fingerprint);
	free(t->last_error);
	free(t);
}

static struct store_deploy *
deploy_from_row(sqlite3_stmt *s)
{
	struct store_deploy *t = calloc(1, sizeof(*t));
	const char *state;

	if (t == NULL)
		return NULL;
	t->id = sqlite3_column_int64(s, 0);
	t->cert_id = sqlite3_column_int64(s, 1);
	t->dir = col_strdup(s, 2);
	t->owner = col_strdup(s, 3);
	t->uid = (long)sqlite3_column_int64(s, 4);
	t->gid = (long)sqlite3_column_int64(s, 5);
	t->key_mode = sqlite3_column_int(s, 6);
	t->cert_mode = sqlite3_column_int(s, 7);
	t->combined = sqlite3_column_int(s, 8);
	t->reload = col_strdup(s, 9);
	t->timeout = sqlite3_column_int(s, 10);
	state = (const char *)sqlite3_column_text(s, 11);
	snprintf(t->state, sizeof(t->state), "%s", state ? state : "pending");
	t->deployed_fingerprint = col_strdup(s, 12);
	t->deployed_at = sqlite3_column_int64(s, 13);
	t->last_error = col_strdup(s, 14);
	t->failures = sqlite3_column_int(s, 15);
	t->next_attempt_at = sqlite3_column_int64(s, 16);
	t->created_at = sqlite3_column_int64(s, 17);
	if (t->dir == NULL) {
		store_deploy_free(t);
		return NULL;
	}
	return t;
}

int
store_deploy_insert(struct store *st, struct store_deploy *t, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, t->cert_id);
	bind_text(s, 2, t->dir);
	bind_text(s, 3, t->owner);
	sqlite3_bind_int64(s, 4, t->uid);
	sqlite3_bind_int64(s, 5, t->gid);
	sqlite3_bind_int(s, 6, t->key_mode);
	sqlite3_bind_int(s, 7, t->cert_mode);
	sqlite3_bind_int(s, 8, t->combined);
	bind_text(s, 9, t->reload);
	sqlite3_bind_int(s, 10, t->timeout);
	bind_time(s, 11, t->next_attempt_at);
	sqlite3_bind_int64(s, 12, t->created_at);
	if ((rc = run_insert(st, s, "adding a deploy target", err,
	    errlen)) == 0)
		t->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
store_deploy_get(struct store *st, int64_t id, struct store_deploy **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_GET);
	int rc;

	*out = NULL;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && (*out = deploy_from_row(s)) == NULL) {
		sqlite3_reset(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_error(st, "reading a deploy target", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
store_deploys_cert(struct store *st, int64_t cert_id, store_deploy_fn *fn,
    void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_CERT);
	int rc = SQLITE_DONE, stop = 0;

	sqlite3_bind_int64(s, 1, cert_id);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_deploy *t = deploy_from_row(s);

		if (t == NULL) {
			sqlite3_reset(s);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		stop = fn(t, arg);
		store_deploy_free(t);
	}
	return walk_end(st, s, stop, rc, "listing deploy targets", err, errlen);
}

int
store_deploy_delete(struct store *st, int64_t cert_id, int64_t id, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_DELETE);

	sqlite3_bind_int64(s, 1, cert_id);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "removing a deploy target", err, errlen);
}

int
store_deploy_result(struct store *st, const struct store_deploy *t, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_RESULT);

	bind_text(s, 1, t->state);
	bind_text(s, 2, t->deployed_fingerprint);
	bind_time(s, 3, t->deployed_at);
	bind_text(s, 4, t->last_error);
	sqlite3_bind_int(s, 5, t->failures);
	bind_time(s, 6, t->next_attempt_at);
	sqlite3_bind_int64(s, 7, t->id);
	return run_changes(st, s, "recording a deploy", err, errlen) == -1 ?
	    -1 : 0;
}

int
store_deploy_due_cert(struct store *st, int64_t cert_id, int64_t at,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_DUE_CERT);

	sqlite3_bind_int64(s, 1, at);
	sqlite3_bind_int64(s, 2, cert_id);
	return run_changes(st, s, "scheduling deploys", err, errlen) == -1 ?
	    -1 : 0;
}

int
store_deploys_due(struct store *st, int64_t now, int64_t *ids, size_t max,
    size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_DUE);
	int rc = SQLITE_DONE;

	*n = 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	return walk_end(st, s, *n == max, rc, "reading due deploys", err,
	    errlen);
}

int
store_deploy_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *s = dp_get(st, DP_NEXT);
	int rc = sqlite3_step(s);

	*at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_deploy_lease(struct store *st, int64_t id, int64_t until, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = dp_get(st, DP_LEASE);

	sqlite3_bind_int64(s, 1, until);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "leasing a deploy", err, errlen) == -1 ?
	    -1 : 0;
}
