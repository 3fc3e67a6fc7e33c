/*
 * SQLite behind one connection.  All SQL text of the daemon lives in this
 * file, as statements prepared once at open and bound per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "daemon.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "techzone.h"
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
	/* managed certificates */
	STMT_CA_INSERT,
	STMT_CA_GET,
	STMT_CA_GET_ID,
	STMT_CA_SET_EAB,
	STMT_CA_SET_ACME_PROFILE,
	STMT_CA_DELETE,
	STMT_CAS_ALL,
	STMT_ACCOUNT_INSERT,
	STMT_ACCOUNT_GET,
	STMT_ACCOUNT_UPDATE,
	STMT_CERT_INSERT,
	STMT_CERT_GET,
	STMT_CERT_UPDATE,
	STMT_CERT_DELETE,
	STMT_CERTS_AFTER,
	STMT_CERTS_STATUS_AFTER,
	STMT_CERTS_DUE,
	STMT_ORDERS_RESUME,
	STMT_CERTS_NEXT_DUE,
	STMT_ORDER_INSERT,
	STMT_ORDER_UPDATE,
	STMT_ORDER_RUNNING,
	STMT_ORDERS_CERT,
	STMT_VERSION_ADD,
	STMT_VERSIONS_CERT,
	STMT_TZ_ADD,
	STMT_TZ_REMOVE,
	STMT_TZ_REMOVE_CERT,
	STMT_TZ_VALUES,
	STMT_TZ_BELOW,
	STMT_TZ_SERIAL,
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

#define CA_COLUMNS \
	"p.id, p.name, p.directory_url, p.trust_file, p.eab_kid, " \
	"p.eab_hmac_key, p.eab_required, p.builtin, p.created_at, " \
	"(SELECT count(*) FROM certificates c WHERE c.profile_id = p.id), " \
	"p.acme_profile"

#define ACCOUNT_COLUMNS \
	"id, profile_id, email, key, account_url, tos_agreed_at, created_at"

/* Column i of a CERT_COLUMNS row is parameter ?i of STMT_CERT_INSERT. */
#define CERT_COLUMNS \
	"c.id, c.source, c.status, c.domain, c.aliases, c.profile_id, " \
	"c.email, c.tos_agreed_at, c.auto_renew_days, c.key_type, c.label, " \
	"c.key, c.csr_pem, c.chain_pem, c.cert_pem, c.common_name, " \
	"c.issued_by, c.issuer, c.subject, c.organization, " \
	"c.organizational_unit, c.location, c.serial_number, " \
	"c.signature_algorithm, c.public_key, c.fingerprint_sha256, " \
	"c.valid_from, c.valid_until, c.subject_alt_names, c.last_error, " \
	"c.problem_type, c.failures, c.next_attempt_at, c.next_renewal_at, " \
	"c.created_at, c.updated_at, p.name"
#define CERT_FROM \
	" FROM certificates c LEFT JOIN ca_profiles p ON p.id = c.profile_id "

/* Column i of an ORDER_COLUMNS row is parameter ?i of STMT_ORDER_INSERT. */
#define ORDER_COLUMNS \
	"id, cert_id, account_id, reason, step, status, order_url, " \
	"finalize_url, cert_url, authz, key, csr_pem, problem_type, " \
	"problem_detail, serial_number, started_at, updated_at, finished_at"

_Static_assert(STMT_COUNT <= STORE_STMT_MAX, "raise STORE_STMT_MAX");

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
	[STMT_CA_INSERT] = "INSERT INTO ca_profiles (name, directory_url, "
	    "trust_file, eab_kid, eab_hmac_key, eab_required, builtin, "
	    "created_at, acme_profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	    "?9)",
	[STMT_CA_GET] = "SELECT " CA_COLUMNS " FROM ca_profiles p WHERE p.name = ?",
	[STMT_CA_GET_ID] = "SELECT " CA_COLUMNS " FROM ca_profiles p "
	    "WHERE p.id = ?",
	[STMT_CA_SET_EAB] = "UPDATE ca_profiles SET eab_kid = ?1, "
	    "eab_hmac_key = ?2 WHERE id = ?3",
	[STMT_CA_SET_ACME_PROFILE] = "UPDATE ca_profiles SET acme_profile = ?1 "
	    "WHERE id = ?2",
	[STMT_CA_DELETE] = "DELETE FROM ca_profiles WHERE id = ?",
	[STMT_CAS_ALL] = "SELECT " CA_COLUMNS " FROM ca_profiles p ORDER BY p.name",
	[STMT_ACCOUNT_INSERT] = "INSERT INTO acme_accounts (profile_id, email, "
	    "key, account_url, tos_agreed_at, created_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_ACCOUNT_GET] = "SELECT " ACCOUNT_COLUMNS " FROM acme_accounts "
	    "WHERE profile_id = ?1 AND email = ?2",
	[STMT_ACCOUNT_UPDATE] = "UPDATE acme_accounts SET key = ?1, "
	    "account_url = ?2, tos_agreed_at = ?3 WHERE id = ?4",
	[STMT_CERT_INSERT] = "INSERT INTO certificates (source, status, domain, "
	    "aliases, profile_id, email, tos_agreed_at, auto_renew_days, "
	    "key_type, label, key, csr_pem, chain_pem, cert_pem, common_name, "
	    "issued_by, issuer, subject, organization, organizational_unit, "
	    "location, serial_number, signature_algorithm, public_key, "
	    "fingerprint_sha256, valid_from, valid_until, subject_alt_names, "
	    "last_error, problem_type, failures, next_attempt_at, "
	    "next_renewal_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
	    "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, "
	    "?32, ?33, ?34, ?35)",
	[STMT_CERT_GET] = "SELECT " CERT_COLUMNS CERT_FROM "WHERE c.id = ?",
	/* Same numbering as STMT_CERT_INSERT; ?36 is the id. */
	[STMT_CERT_UPDATE] = "UPDATE certificates SET status = ?2, domain = ?3, "
	    "aliases = ?4, profile_id = ?5, email = ?6, tos_agreed_at = ?7, "
	    "auto_renew_days = ?8, key_type = ?9, label = ?10, key = ?11, "
	    "csr_pem = ?12, chain_pem = ?13, cert_pem = ?14, common_name = ?15, "
	    "issued_by = ?16, issuer = ?17, subject = ?18, organization = ?19, "
	    "organizational_unit = ?20, location = ?21, serial_number = ?22, "
	    "signature_algorithm = ?23, public_key = ?24, "
	    "fingerprint_sha256 = ?25, valid_from = ?26, valid_until = ?27, "
	    "subject_alt_names = ?28, last_error = ?29, problem_type = ?30, "
	    "failures = ?31, next_attempt_at = ?32, next_renewal_at = ?33, "
	    "updated_at = ?35 WHERE id = ?36",
	[STMT_CERT_DELETE] = "DELETE FROM certificates WHERE id = ?",
	[STMT_CERTS_AFTER] = "SELECT " CERT_COLUMNS CERT_FROM
	    "WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
	[STMT_CERTS_STATUS_AFTER] = "SELECT " CERT_COLUMNS CERT_FROM
	    "WHERE c.status = ?3 AND c.id > ?1 ORDER BY c.id LIMIT ?2",
	[STMT_CERTS_NEXT_DUE] = "SELECT min(next_attempt_at) FROM certificates",
	[STMT_ORDERS_RESUME] = "UPDATE certificates SET next_attempt_at = ? "
	    "WHERE id IN (SELECT cert_id FROM cert_orders WHERE status = 'running')",
	[STMT_CERTS_DUE] = "SELECT id FROM certificates WHERE next_attempt_at <= ? "
	    "ORDER BY next_attempt_at LIMIT ?",
	[STMT_ORDER_INSERT] = "INSERT INTO cert_orders (cert_id, account_id, "
	    "reason, step, status, order_url, finalize_url, cert_url, authz, "
	    "key, csr_pem, problem_type, problem_detail, serial_number, "
	    "started_at, updated_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
	/* Same numbering as STMT_ORDER_INSERT; ?18 is the id. */
	[STMT_ORDER_UPDATE] = "UPDATE cert_orders SET account_id = ?2, "
	    "reason = ?3, step = ?4, status = ?5, order_url = ?6, "
	    "finalize_url = ?7, cert_url = ?8, authz = ?9, key = ?10, "
	    "csr_pem = ?11, problem_type = ?12, problem_detail = ?13, "
	    "serial_number = ?14, updated_at = ?16, finished_at = ?17 "
	    "WHERE id = ?18",
	[STMT_ORDER_RUNNING] = "SELECT " ORDER_COLUMNS " FROM cert_orders "
	    "WHERE cert_id = ? AND status = 'running'",
	[STMT_ORDERS_CERT] = "SELECT " ORDER_COLUMNS " FROM cert_orders "
	    "WHERE cert_id = ? ORDER BY id DESC LIMIT ?",
	[STMT_VERSION_ADD] = "INSERT INTO cert_versions (cert_id, replaced_at, "
	    "serial_number, fingerprint_sha256, valid_from, valid_until, "
	    "cert_pem, chain_pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[STMT_VERSIONS_CERT] = "SELECT id, cert_id, replaced_at, serial_number, "
	    "fingerprint_sha256, valid_from, valid_until, cert_pem, chain_pem "
	    "FROM cert_versions WHERE cert_id = ? ORDER BY id",
	[STMT_TZ_ADD] = "INSERT INTO techzone_records (owner, owner_rev, value, "
	    "cert_id, created_at) VALUES (?, ?, ?, ?, ?) "
	    "ON CONFLICT (owner, value) DO NOTHING",
	[STMT_TZ_REMOVE] = "DELETE FROM techzone_records WHERE owner = ? "
	    "AND value = ?",
	[STMT_TZ_REMOVE_CERT] = "DELETE FROM techzone_records WHERE cert_id = ?",
	[STMT_TZ_VALUES] = "SELECT value FROM techzone_records WHERE owner = ? "
	    "ORDER BY id",
	/* ?1 is the name's reversed form + ".", ?2 the same + "/" ('.' + 1):
	 * exactly the owners whose reversed form starts with ?1. */
	[STMT_TZ_BELOW] = "SELECT 1 FROM techzone_records WHERE owner_rev >= ?1 "
	    "AND owner_rev < ?2 LIMIT 1",
	[STMT_TZ_SERIAL] = "SELECT serial FROM techzone_serial",
};

static void store_commit_cb(evutil_socket_t fd, short what, void *arg);

static sqlite3_stmt *
stmt_get(struct store *st, enum stmt_id id)
{
	return stmt_reset(st->stmt[id]);
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
	hist_init(&st->commit_hist, hist_latency_bounds, hist_latency_nbounds);
	st->tz_serial = 1;
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
	    store_prepare_all(st, err, errlen) == -1 ||
	    store_events_prepare(st, err, errlen) == -1 ||
	    store_deploy_prepare(st, err, errlen) == -1 ||
	    store_metrics_prepare(st, err, errlen) == -1)
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
	store_events_finalize(st);
	store_deploy_finalize(st);
	store_metrics_finalize(st);
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
	struct timespec t0, t1;
	int ok = 1;

	if (!st->txn_open) {
		store_run_waiters(st, 1);
		return 0;
	}
	if (st->commit_ev != NULL)
		evtimer_del(st->commit_ev);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (stmt_run(st, stmt_get(st, STMT_COMMIT)) == -1) {
		log_error("database commit failed: %s; the batch is rolled back",
		    sqlite3_errmsg(st->db));
		stmt_run(st, stmt_get(st, STMT_ROLLBACK));
		ok = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	hist_observe(&st->commit_hist, (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9);
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

/* --- managed certificates ------------------------------------------------- */

static char *
strings_to_json(char *const *v, size_t n)
{
	json_t *arr = json_array();
	char *s;

	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return s;
}

static int
strings_from_json(const char *text, char ***out, size_t *n)
{
	struct x509_facts tmp = { 0 };

	if (sans_from_json(text, &tmp) == -1) {
		for (size_t i = 0; i < tmp.nsans; i++)
			free(tmp.sans[i]);
		free(tmp.sans);
		return -1;
	}
	*out = tmp.sans;
	*n = tmp.nsans;
	return 0;
}

/* Single-row lookup shared by the _get functions: 0, 1 none, -1 error. */
typedef void *row_fn(sqlite3_stmt *s);

static int
get_one(struct store *st, sqlite3_stmt *s, row_fn *fn, void **out,
    const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_step(s);

	*out = NULL;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		db_error(st, what, err, errlen);
		sqlite3_reset(s);
		return -1;
	}
	*out = fn(s);
	sqlite3_reset(s);
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory %s", what);
		return -1;
	}
	return 0;
}

/* CA profiles. */

void
store_ca_free(struct store_ca *ca)
{
	if (ca == NULL)
		return;
	free(ca->name);
	free(ca->directory_url);
	free(ca->trust_file);
	free(ca->eab_kid);
	free(ca->eab_hmac_sealed);
	free(ca->acme_profile);
	free(ca);
}

static void *
ca_from_row(sqlite3_stmt *s)
{
	struct store_ca *ca = calloc(1, sizeof(*ca));

	if (ca == NULL)
		return NULL;
	ca->id = sqlite3_column_int64(s, 0);
	ca->name = col_strdup(s, 1);
	ca->directory_url = col_strdup(s, 2);
	ca->trust_file = col_strdup(s, 3);
	ca->eab_kid = col_strdup(s, 4);
	ca->eab_required = sqlite3_column_int(s, 6);
	ca->builtin = sqlite3_column_int(s, 7);
	ca->created_at = sqlite3_column_int64(s, 8);
	ca->ncerts = sqlite3_column_int64(s, 9);
	ca->acme_profile = col_strdup(s, 10);
	if (ca->name == NULL || ca->directory_url == NULL ||
	    (ca->acme_profile == NULL &&
	    sqlite3_column_type(s, 10) != SQLITE_NULL) ||
	    col_blob(s, 5, &ca->eab_hmac_sealed, &ca->eab_hmac_sealed_len) == -1) {
		store_ca_free(ca);
		return NULL;
	}
	return ca;
}

int
store_ca_insert(struct store *st, struct store_ca *ca, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_INSERT);
	int rc;

	bind_text(s, 1, ca->name);
	bind_text(s, 2, ca->directory_url);
	bind_text(s, 3, ca->trust_file);
	bind_text(s, 4, ca->eab_kid);
	bind_blob(s, 5, ca->eab_hmac_sealed, ca->eab_hmac_sealed_len);
	sqlite3_bind_int(s, 6, ca->eab_required);
	sqlite3_bind_int(s, 7, ca->builtin);
	sqlite3_bind_int64(s, 8, ca->created_at);
	bind_text(s, 9, ca->acme_profile);
	if ((rc = run_insert(st, s, "adding CA profile", err, errlen)) == 0)
		ca->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
store_ca_get(struct store *st, const char *name, struct store_ca **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_GET);

	bind_text(s, 1, name);
	return get_one(st, s, ca_from_row, (void **)out, "reading CA profile",
	    err, errlen);
}

int
store_ca_get_id(struct store *st, int64_t id, struct store_ca **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_GET_ID);

	sqlite3_bind_int64(s, 1, id);
	return get_one(st, s, ca_from_row, (void **)out, "reading CA profile",
	    err, errlen);
}

int
store_ca_set_eab(struct store *st, int64_t id, const char *kid,
    const unsigned char *sealed, size_t sealed_len, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_SET_EAB);

	bind_text(s, 1, kid);
	bind_blob(s, 2, kid ? sealed : NULL, sealed_len);
	sqlite3_bind_int64(s, 3, id);
	return run_changes(st, s, "updating CA profile", err, errlen);
}

int
store_ca_set_acme_profile(struct store *st, int64_t id,
    const char *acme_profile, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_SET_ACME_PROFILE);

	bind_text(s, 1, acme_profile);
	sqlite3_bind_int64(s, 2, id);
	return run_changes(st, s, "updating CA profile", err, errlen);
}

int
store_ca_delete(struct store *st, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CA_DELETE);

	sqlite3_bind_int64(s, 1, id);
	return run_changes(st, s, "deleting CA profile", err, errlen);
}

int
store_cas_each(struct store *st, store_ca_fn *fn, void *arg, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CAS_ALL);
	int rc, stop = 0;

	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_ca *ca = ca_from_row(s);

		if (ca == NULL) {
			snprintf(err, errlen, "out of memory listing CA profiles");
			sqlite3_reset(s);
			return -1;
		}
		stop = fn(ca, arg);
		store_ca_free(ca);
	}
	return walk_end(st, s, stop, rc, "listing CA profiles", err, errlen);
}

/* ACME accounts. */

void
store_account_free(struct store_account *a)
{
	if (a == NULL)
		return;
	free(a->email);
	free(a->key_sealed);
	free(a->account_url);
	free(a);
}

static void *
account_from_row(sqlite3_stmt *s)
{
	struct store_account *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->id = sqlite3_column_int64(s, 0);
	a->profile_id = sqlite3_column_int64(s, 1);
	a->email = col_strdup(s, 2);
	a->account_url = col_strdup(s, 4);
	a->tos_agreed_at = sqlite3_column_int64(s, 5);
	a->created_at = sqlite3_column_int64(s, 6);
	if (a->email == NULL ||
	    col_blob(s, 3, &a->key_sealed, &a->key_sealed_len) == -1) {
		store_account_free(a);
		return NULL;
	}
	return a;
}

int
store_account_insert(struct store *st, struct store_account *a, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ACCOUNT_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, a->profile_id);
	bind_text(s, 2, a->email ? a->email : "");
	bind_blob(s, 3, a->key_sealed, a->key_sealed_len);
	bind_text(s, 4, a->account_url);
	bind_time(s, 5, a->tos_agreed_at);
	sqlite3_bind_int64(s, 6, a->created_at);
	if ((rc = run_insert(st, s, "adding ACME account", err, errlen)) == 0)
		a->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
store_account_get(struct store *st, int64_t profile_id, const char *email,
    struct store_account **out, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ACCOUNT_GET);

	sqlite3_bind_int64(s, 1, profile_id);
	bind_text(s, 2, email ? email : "");
	return get_one(st, s, account_from_row, (void **)out,
	    "reading ACME account", err, errlen);
}

int
store_account_update(struct store *st, const struct store_account *a,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ACCOUNT_UPDATE);

	bind_blob(s, 1, a->key_sealed, a->key_sealed_len);
	bind_text(s, 2, a->account_url);
	bind_time(s, 3, a->tos_agreed_at);
	sqlite3_bind_int64(s, 4, a->id);
	return run_changes(st, s, "updating ACME account", err, errlen);
}

/* Certificates. */

void
store_cert_free(struct store_cert *c)
{
	if (c == NULL)
		return;
	free(c->domain);
	for (size_t i = 0; i < c->naliases; i++)
		free(c->aliases[i]);
	free(c->aliases);
	free(c->ca_name);
	free(c->email);
	free(c->label);
	free(c->key_sealed);
	free(c->csr_pem);
	free(c->chain_pem);
	x509_facts_free(c->facts);
	free(c->last_error);
	free(c->problem_type);
	free(c);
}

static void *
cert_from_row(sqlite3_stmt *s)
{
	struct store_cert *c = calloc(1, sizeof(*c));
	struct x509_facts *f;

	if (c == NULL)
		return NULL;
	c->id = sqlite3_column_int64(s, 0);
	snprintf(c->source, sizeof(c->source), "%s",
	    (const char *)sqlite3_column_text(s, 1));
	snprintf(c->status, sizeof(c->status), "%s",
	    (const char *)sqlite3_column_text(s, 2));
	c->domain = col_strdup(s, 3);
	c->ca_id = sqlite3_column_int64(s, 5);
	c->email = col_strdup(s, 6);
	c->tos_agreed_at = sqlite3_column_int64(s, 7);
	c->renew_days = sqlite3_column_int(s, 8);
	snprintf(c->key_type, sizeof(c->key_type), "%s",
	    (const char *)sqlite3_column_text(s, 9));
	c->label = col_strdup(s, 10);
	c->csr_pem = col_strdup(s, 12);
	c->chain_pem = col_strdup(s, 13);
	c->last_error = col_strdup(s, 29);
	c->problem_type = col_strdup(s, 30);
	c->failures = sqlite3_column_int(s, 31);
	c->next_attempt_at = sqlite3_column_int64(s, 32);
	c->next_renewal_at = sqlite3_column_int64(s, 33);
	c->created_at = sqlite3_column_int64(s, 34);
	c->updated_at = sqlite3_column_int64(s, 35);
	c->ca_name = col_strdup(s, 36);
	if (c->domain == NULL ||
	    strings_from_json((const char *)sqlite3_column_text(s, 4),
	    &c->aliases, &c->naliases) == -1 ||
	    col_blob(s, 11, &c->key_sealed, &c->key_sealed_len) == -1)
		goto fail;
	if (sqlite3_column_type(s, 25) == SQLITE_NULL)
		return c;	/* no certificate yet */
	if ((f = c->facts = calloc(1, sizeof(*f))) == NULL)
		goto fail;
	f->pem = col_strdup(s, 14);
	f->common_name = col_strdup(s, 15);
	f->issued_by = col_strdup(s, 16);
	f->issuer = col_strdup(s, 17);
	f->subject = col_strdup(s, 18);
	f->organization = col_strdup(s, 19);
	f->organizational_unit = col_strdup(s, 20);
	f->location = col_strdup(s, 21);
	f->serial_number = col_strdup(s, 22);
	f->signature_algorithm = col_strdup(s, 23);
	f->public_key = col_strdup(s, 24);
	f->fingerprint_sha256 = col_strdup(s, 25);
	f->valid_from = sqlite3_column_int64(s, 26);
	f->valid_until = sqlite3_column_int64(s, 27);
	if (sans_from_json((const char *)sqlite3_column_text(s, 28), f) == -1)
		goto fail;
	return c;
fail:
	store_cert_free(c);
	return NULL;
}

/* Binds ?1..?35 in the order of STMT_CERT_INSERT; *aliases, *sans caller-owned. */
static int
bind_cert(sqlite3_stmt *s, const struct store_cert *c, char **aliases,
    char **sans)
{
	const struct x509_facts *f = c->facts;

	*sans = NULL;
	if ((*aliases = strings_to_json(c->aliases, c->naliases)) == NULL)
		return -1;
	bind_text(s, 1, c->source);
	bind_text(s, 2, c->status);
	bind_text(s, 3, c->domain);
	sqlite3_bind_text(s, 4, *aliases, -1, SQLITE_STATIC);
	bind_id(s, 5, c->ca_id);
	bind_text(s, 6, c->email);
	bind_time(s, 7, c->tos_agreed_at);
	sqlite3_bind_int(s, 8, c->renew_days);
	bind_text(s, 9, c->key_type);
	bind_text(s, 10, c->label);
	bind_blob(s, 11, c->key_sealed, c->key_sealed_len);
	bind_text(s, 12, c->csr_pem);
	bind_text(s, 13, c->chain_pem);
	if (f != NULL) {
		if ((*sans = sans_to_json(f)) == NULL)
			return -1;
		bind_text(s, 14, f->pem);
		bind_text(s, 15, f->common_name);
		bind_text(s, 16, f->issued_by);
		bind_text(s, 17, f->issuer);
		bind_text(s, 18, f->subject);
		bind_text(s, 19, f->organization);
		bind_text(s, 20, f->organizational_unit);
		bind_text(s, 21, f->location);
		bind_text(s, 22, f->serial_number);
		bind_text(s, 23, f->signature_algorithm);
		bind_text(s, 24, f->public_key);
		bind_text(s, 25, f->fingerprint_sha256);
		sqlite3_bind_int64(s, 26, f->valid_from);
		sqlite3_bind_int64(s, 27, f->valid_until);
		sqlite3_bind_text(s, 28, *sans, -1, SQLITE_STATIC);
	} else
		sqlite3_bind_text(s, 28, "[]", -1, SQLITE_STATIC);
	bind_text(s, 29, c->last_error);
	bind_text(s, 30, c->problem_type);
	sqlite3_bind_int(s, 31, c->failures);
	bind_time(s, 32, c->next_attempt_at);
	bind_time(s, 33, c->next_renewal_at);
	sqlite3_bind_int64(s, 34, c->created_at);
	sqlite3_bind_int64(s, 35, c->updated_at);
	return 0;
}

int
store_cert_insert(struct store *st, struct store_cert *c, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERT_INSERT);
	char *aliases = NULL, *sans = NULL;
	int rc;

	if (bind_cert(s, c, &aliases, &sans) == -1) {
		free(aliases);
		free(sans);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((rc = run_insert(st, s, "adding certificate", err, errlen)) == 0)
		c->id = sqlite3_last_insert_rowid(st->db);
	free(aliases);
	free(sans);
	return rc;
}

int
store_cert_update(struct store *st, const struct store_cert *c, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERT_UPDATE);
	char *aliases = NULL, *sans = NULL;
	int rc;

	if (bind_cert(s, c, &aliases, &sans) == -1) {
		free(aliases);
		free(sans);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sqlite3_bind_int64(s, 36, c->id);
	rc = run_insert(st, s, "updating certificate", err, errlen);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = 1;
	free(aliases);
	free(sans);
	return rc;
}

int
store_cert_get(struct store *st, int64_t id, struct store_cert **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERT_GET);

	sqlite3_bind_int64(s, 1, id);
	return get_one(st, s, cert_from_row, (void **)out, "reading certificate",
	    err, errlen);
}

int
store_cert_delete(struct store *st, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERT_DELETE);

	sqlite3_bind_int64(s, 1, id);
	return run_changes(st, s, "deleting certificate", err, errlen);
}

int
store_certs_each(struct store *st, const char *status, int64_t after_id,
    int64_t limit, store_cert_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, status ? STMT_CERTS_STATUS_AFTER :
	    STMT_CERTS_AFTER);
	int rc, stop = 0;

	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
	if (status != NULL)
		bind_text(s, 3, status);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_cert *c = cert_from_row(s);

		if (c == NULL) {
			snprintf(err, errlen, "out of memory listing certificates");
			sqlite3_reset(s);
			return -1;
		}
		stop = fn(c, arg);
		store_cert_free(c);
	}
	return walk_end(st, s, stop, rc, "listing certificates", err, errlen);
}

int
store_certs_next_due(struct store *st, int64_t *at)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERTS_NEXT_DUE);
	int rc = sqlite3_step(s);

	*at = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_orders_resume(struct store *st, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ORDERS_RESUME);
	int rc;

	sqlite3_bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "database: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_certs_due(struct store *st, int64_t now, int64_t *ids, size_t max,
    size_t *n)
{
	sqlite3_stmt *s = stmt_get(st, STMT_CERTS_DUE);
	int rc;

	*n = 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Orders. */

void
store_order_free(struct store_order *o)
{
	if (o == NULL)
		return;
	free(o->reason);
	free(o->step);
	free(o->status);
	free(o->order_url);
	free(o->finalize_url);
	free(o->cert_url);
	free(o->authz);
	free(o->key_sealed);
	free(o->csr_pem);
	free(o->problem_type);
	free(o->problem_detail);
	free(o->serial_number);
	free(o);
}

static void *
order_from_row(sqlite3_stmt *s)
{
	struct store_order *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->id = sqlite3_column_int64(s, 0);
	o->cert_id = sqlite3_column_int64(s, 1);
	o->account_id = sqlite3_column_int64(s, 2);
	o->reason = col_strdup(s, 3);
	o->step = col_strdup(s, 4);
	o->status = col_strdup(s, 5);
	o->order_url = col_strdup(s, 6);
	o->finalize_url = col_strdup(s, 7);
	o->cert_url = col_strdup(s, 8);
	o->authz = col_strdup(s, 9);
	o->csr_pem = col_strdup(s, 11);
	o->problem_type = col_strdup(s, 12);
	o->problem_detail = col_strdup(s, 13);
	o->serial_number = col_strdup(s, 14);
	o->started_at = sqlite3_column_int64(s, 15);
	o->updated_at = sqlite3_column_int64(s, 16);
	o->finished_at = sqlite3_column_int64(s, 17);
	if (o->reason == NULL || o->step == NULL || o->status == NULL ||
	    o->authz == NULL ||
	    col_blob(s, 10, &o->key_sealed, &o->key_sealed_len) == -1) {
		store_order_free(o);
		return NULL;
	}
	return o;
}

static void
bind_order(sqlite3_stmt *s, const struct store_order *o)
{
	sqlite3_bind_int64(s, 1, o->cert_id);
	bind_id(s, 2, o->account_id);
	bind_text(s, 3, o->reason);
	bind_text(s, 4, o->step);
	bind_text(s, 5, o->status);
	bind_text(s, 6, o->order_url);
	bind_text(s, 7, o->finalize_url);
	bind_text(s, 8, o->cert_url);
	bind_text(s, 9, o->authz ? o->authz : "[]");
	bind_blob(s, 10, o->key_sealed, o->key_sealed_len);
	bind_text(s, 11, o->csr_pem);
	bind_text(s, 12, o->problem_type);
	bind_text(s, 13, o->problem_detail);
	bind_text(s, 14, o->serial_number);
	sqlite3_bind_int64(s, 15, o->started_at);
	sqlite3_bind_int64(s, 16, o->updated_at);
	bind_time(s, 17, o->finished_at);
}

int
store_order_insert(struct store *st, struct store_order *o, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ORDER_INSERT);
	int rc;

	bind_order(s, o);
	if ((rc = run_insert(st, s, "adding order", err, errlen)) == 0)
		o->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
store_order_update(struct store *st, const struct store_order *o, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ORDER_UPDATE);

	bind_order(s, o);
	sqlite3_bind_int64(s, 18, o->id);
	return run_changes(st, s, "updating order", err, errlen);
}

int
store_order_running(struct store *st, int64_t cert_id,
    struct store_order **out, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ORDER_RUNNING);

	sqlite3_bind_int64(s, 1, cert_id);
	return get_one(st, s, order_from_row, (void **)out, "reading order",
	    err, errlen);
}

int
store_orders_each(struct store *st, int64_t cert_id, int64_t limit,
    store_order_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_ORDERS_CERT);
	int rc, stop = 0;

	sqlite3_bind_int64(s, 1, cert_id);
	sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_order *o = order_from_row(s);

		if (o == NULL) {
			snprintf(err, errlen, "out of memory listing orders");
			sqlite3_reset(s);
			return -1;
		}
		stop = fn(o, arg);
		store_order_free(o);
	}
	return walk_end(st, s, stop, rc, "listing orders", err, errlen);
}

/* Versions. */

int
store_cert_version_add(struct store *st, const struct store_cert *c,
    int64_t at, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_VERSION_ADD);
	const struct x509_facts *f = c->facts;

	if (f == NULL || f->pem == NULL)
		return 0;	/* nothing issued yet, nothing to keep */
	sqlite3_bind_int64(s, 1, c->id);
	sqlite3_bind_int64(s, 2, at);
	bind_text(s, 3, f->serial_number);
	bind_text(s, 4, f->fingerprint_sha256);
	sqlite3_bind_int64(s, 5, f->valid_from);
	sqlite3_bind_int64(s, 6, f->valid_until);
	bind_text(s, 7, f->pem);
	bind_text(s, 8, c->chain_pem);
	if (stmt_run(st, s) == -1) {
		db_error(st, "keeping the replaced certificate", err, errlen);
		return -1;
	}
	return 0;
}

int
store_cert_versions_each(struct store *st, int64_t cert_id,
    store_version_fn *fn, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_VERSIONS_CERT);
	int rc, stop = 0;

	sqlite3_bind_int64(s, 1, cert_id);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_cert_version v = {
			.id = sqlite3_column_int64(s, 0),
			.cert_id = sqlite3_column_int64(s, 1),
			.replaced_at = sqlite3_column_int64(s, 2),
			.serial_number = (const char *)sqlite3_column_text(s, 3),
			.fingerprint_sha256 =
			    (const char *)sqlite3_column_text(s, 4),
			.valid_from = sqlite3_column_int64(s, 5),
			.valid_until = sqlite3_column_int64(s, 6),
			.cert_pem = (const char *)sqlite3_column_text(s, 7),
			.chain_pem = (const char *)sqlite3_column_text(s, 8),
		};
		stop = fn(&v, arg);
	}
	return walk_end(st, s, stop, rc, "listing certificate versions", err,
	    errlen);
}

/* --- tech zone records ---------------------------------------------------- */

/*
 * Lowercases name into out without its final dot and writes its labels in
 * reverse order into rev ("k3.acme.test" -> "test.acme.k3").  A backslash
 * escapes the next character (presentation form), so "a\.b" is one label.
 * Returns -1 when the name is empty, too long or has an empty label.
 */
static int
tz_owner(const char *name, char *out, char *rev, char *err, size_t errlen)
{
	size_t starts[STORE_TZ_OWNER_MAX / 2 + 2], len, nlabels = 0, r = 0;
	int at_start = 1, empty = 0;

	len = strlen(name);
	if (len > 0 && name[len - 1] == '.' && (len < 2 || name[len - 2] != '\\'))
		len--;
	if (len == 0 || len > STORE_TZ_OWNER_MAX) {
		snprintf(err, errlen, "tech zone name '%.300s' is empty or longer "
		    "than %d characters", name, STORE_TZ_OWNER_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (at_start) {
			starts[nlabels++] = i;
			at_start = 0;
		}
		if (c == '.') {
			if (starts[nlabels - 1] == i) {
				empty = 1;
				break;
			}
			out[i] = '.';
			at_start = 1;
			continue;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		if (c == '\\' && i + 1 < len) {
			i++;
			out[i] = name[i];
		}
	}
	/* at_start here: the name ended in "..". */
	if (empty || at_start) {
		snprintf(err, errlen, "tech zone name '%.300s' has an empty label",
		    name);
		return -1;
	}
	out[len] = '\0';
	starts[nlabels] = len + 1;
	for (size_t l = nlabels; l-- > 0;) {
		size_t n = starts[l + 1] - 1 - starts[l];

		memcpy(rev + r, out + starts[l], n);
		r += n;
		if (l > 0)
			rev[r++] = '.';
	}
	rev[r] = '\0';
	return 0;
}

int
store_techzone_add(struct store *st, const char *owner, const char *value,
    int64_t cert_id, int64_t now, char *err, size_t errlen)
{
	char name[STORE_TZ_OWNER_MAX + 1], rev[STORE_TZ_OWNER_MAX + 1];
	sqlite3_stmt *s;

	if (tz_owner(owner, name, rev, err, errlen) == -1)
		return -1;
	if (strlen(value) > STORE_TZ_VALUE_MAX) {
		snprintf(err, errlen, "a TXT value at %s is longer than %d bytes",
		    name, STORE_TZ_VALUE_MAX);
		return -1;
	}
	s = stmt_get(st, STMT_TZ_ADD);
	bind_text(s, 1, name);
	bind_text(s, 2, rev);
	bind_text(s, 3, value);
	sqlite3_bind_int64(s, 4, cert_id);
	sqlite3_bind_int64(s, 5, now);
	return run_changes(st, s, "adding a tech zone record", err, errlen);
}

int
store_techzone_remove(struct store *st, const char *owner, const char *value,
    char *err, size_t errlen)
{
	char name[STORE_TZ_OWNER_MAX + 1], rev[STORE_TZ_OWNER_MAX + 1];
	sqlite3_stmt *s;

	if (tz_owner(owner, name, rev, err, errlen) == -1)
		return -1;
	s = stmt_get(st, STMT_TZ_REMOVE);
	bind_text(s, 1, name);
	bind_text(s, 2, value);
	return run_changes(st, s, "removing a tech zone record", err, errlen);
}

int
store_techzone_remove_cert(struct store *st, int64_t cert_id, int64_t *n,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt_get(st, STMT_TZ_REMOVE_CERT);

	sqlite3_bind_int64(s, 1, cert_id);
	if (stmt_run(st, s) == -1) {
		db_error(st, "removing a certificate's tech zone records", err,
		    errlen);
		return -1;
	}
	if (n != NULL)
		*n = sqlite3_changes(st->db);
	return 0;
}

int
store_techzone_values(struct store *st, const char *owner,
    store_tz_value_fn *fn, void *arg, char *err, size_t errlen)
{
	char name[STORE_TZ_OWNER_MAX + 1], rev[STORE_TZ_OWNER_MAX + 1];
	sqlite3_stmt *s;
	int rc, stop = 0, n = 0;

	if (tz_owner(owner, name, rev, err, errlen) == -1)
		return 0;	/* no such name can have values */
	s = stmt_get(st, STMT_TZ_VALUES);
	bind_text(s, 1, name);
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);

		n++;
		stop = fn(v ? v : "", (size_t)sqlite3_column_bytes(s, 0), arg);
	}
	if (walk_end(st, s, stop, rc, "reading tech zone records", err,
	    errlen) == -1)
		return -1;
	return n;
}

int
store_techzone_below(struct store *st, const char *name)
{
	char norm[STORE_TZ_OWNER_MAX + 1], lo[STORE_TZ_OWNER_MAX + 2],
	    hi[STORE_TZ_OWNER_MAX + 2], ignored[128];
	sqlite3_stmt *s;
	size_t n;
	int rc;

	if (tz_owner(name, norm, lo, ignored, sizeof(ignored)) == -1)
		return 0;
	n = strlen(lo);
	memcpy(hi, lo, n);
	hi[n] = '/';
	hi[n + 1] = '\0';
	lo[n] = '.';
	lo[n + 1] = '\0';
	s = stmt_get(st, STMT_TZ_BELOW);
	bind_text(s, 1, lo);
	bind_text(s, 2, hi);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_techzone_serial(struct store *st, uint32_t *serial)
{
	sqlite3_stmt *s = stmt_get(st, STMT_TZ_SERIAL);
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		st->tz_serial = (uint32_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	*serial = st->tz_serial;
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * The source's calls run inside a DNS answer, the edge for these errors:
 * the answer becomes SERVFAIL and one line a minute at most says why.
 */
static void
tz_source_warn(struct store *st, const char *why)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if (st->tz_warned_at != 0 && ts.tv_sec - st->tz_warned_at < 60)
		return;
	st->tz_warned_at = ts.tv_sec;
	log_warn("tech zone: %s; answering SERVFAIL", why);
}

static int
tz_source_txt(void *ctx, const char *owner, techzone_txt_cb *each, void *arg)
{
	struct store *st = ctx;
	char err[256];
	int n;

	if ((n = store_techzone_values(st, owner, each, arg, err,
	    sizeof(err))) == -1)
		tz_source_warn(st, err);
	return n;
}

static int
tz_source_below(void *ctx, const char *owner)
{
	struct store *st = ctx;
	int rc;

	if ((rc = store_techzone_below(st, owner)) == -1)
		tz_source_warn(st, sqlite3_errmsg(st->db));
	return rc;
}

static uint32_t
tz_source_serial(void *ctx)
{
	struct store *st = ctx;
	uint32_t serial;

	/* A failed read keeps the last serial: the SOA stays answerable. */
	store_techzone_serial(st, &serial);
	return serial;
}

void
store_techzone_source(struct store *st, struct techzone_source *out)
{
	memset(out, 0, sizeof(*out));
	out->txt = tz_source_txt;
	out->below = tz_source_below;
	out->serial = tz_source_serial;
	out->ctx = st;
}

const struct hist *
store_commit_hist(const struct store *st)
{
	return &st->commit_hist;
}
