/*
 * Unit tests for the store: migrations and version refusal, item and event
 * round trips, savepoint rollback, and group commit with durable callbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "store.h"
#include "store_events.h"
#include "x509.h"

struct fixture {
	char	 dir[64];
	char	 path[96];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/cf-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	for (const char *sfx = ""; ; sfx = sfx[0] == '\0' ? "-wal" :
	    strcmp(sfx, "-wal") == 0 ? "-shm" : NULL) {
		if (sfx == NULL)
			break;
		snprintf(p, sizeof(p), "%s%s", f->path, sfx);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static int
raw_exec_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int
ev_add(struct store *st, int64_t at, int64_t item, const char *kind)
{
	struct store_event ev = { .at = at, .kind = kind, .message = "m",
	    .subject_type = item ? "tracked" : NULL, .subject_id = item };
	char err[256];

	return store_event_insert(st, &ev, err, sizeof(err));
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct x509_facts *
fake_facts(const char *cn, const char *fp)
{
	struct x509_facts *f = calloc(1, sizeof(*f));

	f->common_name = strdup(cn);
	f->subject = strdup("CN=x");
	f->issuer = strdup("CN=issuer");
	f->serial_number = strdup("0A");
	f->fingerprint_sha256 = strdup(fp);
	f->pem = strdup("-----BEGIN CERTIFICATE-----\n");
	f->valid_from = 1000;
	f->valid_until = 2000;
	f->nsans = 2;
	f->sans = calloc(2, sizeof(char *));
	f->sans[0] = strdup("a.example");
	f->sans[1] = strdup("quote\"and\\slash|pipe");
	return f;
}

static int64_t
insert(struct store *st, const char *cn, const char *fp)
{
	struct store_item item = { .active = 1, .created_at = 1500 };
	char err[256];

	memcpy(item.source, "pem", 4);
	item.facts = fake_facts(cn, fp);
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_item_insert(st, &item, err, sizeof(err)), 0);
	store_write_end(st, 1);
	x509_facts_free(item.facts);
	return item.id;
}

static void
test_fresh_database_is_migrated(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));

	assert_non_null(st);
	assert_int_equal(store_schema_version(st), store_schema_latest());
	store_close(st);
	assert_int_equal(raw_exec_int(f->path, "PRAGMA user_version"),
	    (int)store_schema_latest());
	assert_int_equal(raw_exec_int(f->path,
	    "SELECT count(*) FROM sqlite_master WHERE name = 'tracked'"), 1);
	/* WAL persists in the file header. */
	assert_int_equal(raw_exec_int(f->path,
	    "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	/* Reopening applies nothing twice. */
	st = store_open(NULL, f->path, 5, err, sizeof(err));
	assert_non_null(st);
	store_close(st);
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	char err[256], sql[64];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));

	store_close(st);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %u",
	    store_schema_latest() + 1);
	raw_exec_int(f->path, sql);
	st = store_open(NULL, f->path, 5, err, sizeof(err));
	assert_null(st);
	assert_non_null(strstr(err, "is newer than this certfleetd supports"));
}

static void
test_unusable_file_is_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	FILE *fp = fopen(f->path, "w");

	fputs("this is not a database, it is a text file of some length......"
	    "................................................................",
	    fp);
	fclose(fp);
	assert_null(store_open(NULL, f->path, 5, err, sizeof(err)));
	assert_non_null(strstr(err, "database"));
}

static void
test_item_roundtrip(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	struct store_item *got;
	int64_t id = insert(st, "a.example", "ff00"), found;

	assert_int_equal(store_item_get(st, id, &got, err, sizeof(err)), 0);
	assert_string_equal(got->source, "pem");
	assert_string_equal(got->facts->common_name, "a.example");
	assert_int_equal(got->facts->valid_until, 2000);
	assert_int_equal(got->facts->nsans, 2);
	assert_string_equal(got->facts->sans[1], "quote\"and\\slash|pipe");
	assert_null(got->facts->organization);
	assert_int_equal(got->next_check_at, 0);
	store_item_free(got);
	assert_int_equal(store_item_find_pem(st, "ff00", &found), 0);
	assert_int_equal(found, id);
	assert_int_equal(store_item_find_pem(st, "ee00", &found), 1);
	assert_int_equal(store_item_get(st, id + 1, &got, err, sizeof(err)), 1);
	store_close(st);
}

static void
test_rollback_undoes_only_its_bracket(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	char err[256];
	struct store *st = store_open(base, f->path, 5, err, sizeof(err));
	struct store_counts c;
	int64_t keep = insert(st, "keep", "aa");
	struct store_item item = { .active = 1, .created_at = 1 };

	memcpy(item.source, "pem", 4);
	item.facts = fake_facts("gone", "bb");
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_item_insert(st, &item, err, sizeof(err)), 0);
	store_write_end(st, 0);
	x509_facts_free(item.facts);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(store_counts(st, &c), 0);
	assert_int_equal(c.tracked, 1);
	assert_true(keep > 0);
	/* The unique index refuses a second row with the same PEM fingerprint. */
	item.facts = fake_facts("dup", "aa");
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_item_insert(st, &item, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "UNIQUE"));
	store_write_end(st, 0);
	x509_facts_free(item.facts);
	store_close(st);
	event_base_free(base);
}

/* Status counts come from a row kept by triggers: they must match a scan. */
static void
test_counts_follow_every_write(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	char err[256];
	struct store *st = store_open(base, f->path, 5, err, sizeof(err));
	struct store_counts c;
	int64_t a = insert(st, "a", "aa"), b = insert(st, "b", "bb");

	insert(st, "c", "cc");
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_item_set_active(st, b, 0, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(store_item_delete(st, a, err, sizeof(err)), 0);
	assert_int_equal(ev_add(st, 1, b, "checked"), 0);
	assert_int_equal(ev_add(st, 2, 0, "note"), 0);
	store_write_end(st, 1);
	/* A rolled-back bracket leaves the counts as they were. */
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_item_delete(st, b, err, sizeof(err)), 0);
	store_write_end(st, 0);
	assert_int_equal(store_flush(st), 0);
	assert_int_equal(store_counts(st, &c), 0);
	assert_int_equal(c.tracked, 2);
	assert_int_equal(c.active, 1);
	assert_int_equal(c.pem, 2);
	assert_int_equal(c.host, 0);
	assert_int_equal(c.tracked, raw_exec_int(f->path,
	    "SELECT count(*) FROM tracked"));
	assert_int_equal(c.active, raw_exec_int(f->path,
	    "SELECT sum(active) FROM tracked"));
	assert_int_equal(c.events, raw_exec_int(f->path,
	    "SELECT count(*) FROM events"));
	store_close(st);
	event_base_free(base);
}

static void
durable(int ok, void *arg)
{
	int *calls = arg;

	if (ok)
		(*calls)++;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	char err[256];
	struct store *st = store_open(base, f->path, 5, err, sizeof(err));
	int calls = 0;

	/* Nothing pending: durable at once. */
	store_when_durable(st, durable, &calls);
	assert_int_equal(calls, 1);
	insert(st, "one", "01");
	insert(st, "two", "02");
	store_when_durable(st, durable, &calls);
	store_when_durable(st, durable, &calls);
	assert_int_equal(calls, 1);
	/* Another connection sees nothing before the commit... */
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM tracked"), 0);
	event_base_loop(base, EVLOOP_ONCE);
	/* ...and both rows, in one commit, after it. */
	assert_int_equal(calls, 3);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM tracked"), 2);
	store_close(st);
	event_base_free(base);
}

static int
collect(const struct store_event *ev, void *arg)
{
	char *out = arg;

	strcat(out, ev->kind);
	strcat(out, ";");
	return 0;
}

static void
test_events_outlive_items(void **state)
{
	struct fixture *f = *state;
	char err[256], seen[256] = "";
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	int64_t id = insert(st, "x", "cc");

	struct store_event_filter all = { .limit = 2 };
	struct store_event_filter item = { .subject_type = "tracked",
	    .subject_id = id, .limit = 10 };
	struct store_event_filter cursor = { .after = 1, .ascending = 1,
	    .kinds = ",other,deleted,", .limit = 10 };

	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(ev_add(st, 1, id, "added"), 0);
	assert_int_equal(ev_add(st, 2, id, "deleted"), 0);
	assert_int_equal(ev_add(st, 3, 0, "other"), 0);
	assert_int_equal(store_item_delete(st, id, err, sizeof(err)), 0);
	assert_int_equal(store_item_delete(st, id, err, sizeof(err)), 1);
	store_write_end(st, 1);
	assert_int_equal(store_events_each(st, &item, collect, seen, err,
	    sizeof(err)), 0);
	assert_string_equal(seen, "deleted;added;");
	seen[0] = '\0';
	assert_int_equal(store_events_each(st, &all, collect, seen, err,
	    sizeof(err)), 0);
	assert_string_equal(seen, "other;deleted;");
	/* A cursor: after an id, oldest first, some kinds only. */
	seen[0] = '\0';
	assert_int_equal(store_events_each(st, &cursor, collect, seen, err,
	    sizeof(err)), 0);
	assert_string_equal(seen, "deleted;other;");
	store_close(st);
}

/* An event and the outbox rows of the sinks that want it commit together. */
static void
test_event_outbox(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	struct store_event ev = { .at = 5, .kind = "expiring", .severity = 1,
	    .message = "m", .data = "{}" };

	assert_non_null(st);
	raw_exec(f->path, "INSERT INTO sinks (name, type, "
	    "target, timeout, created_at) VALUES ('all', 'exec', 'true', 60, 1), "
	    "('crit', 'exec', 'true', 60, 1), ('exp', 'exec', 'true', 60, 1), "
	    "('off', 'exec', 'true', 60, 1); UPDATE sinks SET min_severity = 2 "
	    "WHERE name = 'crit'; UPDATE sinks SET kinds = ',expired,expiring,' "
	    "WHERE name = 'exp'; UPDATE sinks SET enabled = 0 WHERE name = "
	    "'off'");
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_event_insert(st, &ev, err, sizeof(err)), 0);
	ev.kind = "added";
	ev.severity = 0;
	assert_int_equal(store_event_insert(st, &ev, err, sizeof(err)), 0);
	/* Rolled back: neither the event nor its deliveries remain. */
	store_write_end(st, 1);
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_event_insert(st, &ev, err, sizeof(err)), 0);
	store_write_end(st, 0);
	assert_int_equal(store_flush(st), 0);
	/* expiring (warning): all, exp; added (info): all. */
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM "
	    "deliveries"), 3);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM "
	    "deliveries d JOIN sinks s ON s.id = d.sink_id WHERE s.name = "
	    "'exp'"), 1);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM events"),
	    2);
	store_close(st);
}

/* The expiry watch: a row per subject, the due index. */
static void
test_expiry_rows(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	struct store_expiry x = { .subject_type = "tracked", .subject_id = 7,
	    .fingerprint = "ab", .valid_from = 10, .valid_until = 100,
	    .due_at = 50 }, got[4];
	size_t n;
	int64_t next;

	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_expiry_put(st, &x, err, sizeof(err)), 0);
	x.subject_id = 8;
	x.due_at = 0;		/* nothing left */
	assert_int_equal(store_expiry_put(st, &x, err, sizeof(err)), 0);
	store_write_end(st, 1);
	assert_int_equal(store_expiry_next_due(st, &next), 0);
	assert_int_equal(next, 50);
	assert_int_equal(store_expiry_due(st, 49, got, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_expiry_due(st, 50, got, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].subject_id, 7);
	assert_int_equal(store_expiry_get(st, "tracked", 8, &got[1], err,
	    sizeof(err)), 0);
	assert_int_equal(got[1].due_at, 0);
	assert_int_equal(store_expiry_get(st, "tracked", 9, &got[1], err,
	    sizeof(err)), 1);
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_expiry_delete(st, "tracked", 7, err,
	    sizeof(err)), 0);
	store_write_end(st, 1);
	assert_int_equal(store_expiry_next_due(st, &next), 0);
	assert_int_equal(next, 0);
	store_close(st);
}

/* Managed certificates: profiles, accounts, certificates, orders, versions. */
static void
test_cert_tables(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	struct store_ca ca = { .name = "t", .directory_url = "https://a.test/d",
	    .created_at = 1 }, *gca;
	struct store_account acct = { .email = "a@b.test", .created_at = 1 },
	    *gacct;
	unsigned char blob[4] = { 0, 1, 2, 3 };
	char *aliases[] = { "*.x.test", "y.x.test" };
	struct store_cert c = { .domain = "x.test", .aliases = aliases,
	    .naliases = 2, .renew_days = 30, .created_at = 5, .updated_at = 5 },
	    *gc;
	struct store_order o = { .reason = "issue", .step = "new",
	    .status = "running", .started_at = 7, .updated_at = 7 }, *go;
	int64_t ids[4];
	size_t n;

	assert_non_null(st);
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	/* The built-ins are seeded; a name is unique. */
	assert_int_equal(store_ca_get(st, "zerossl", &gca, err, sizeof(err)), 0);
	assert_true(gca->builtin && gca->eab_required && gca->eab_kid == NULL);
	store_ca_free(gca);
	assert_int_equal(store_ca_insert(st, &ca, err, sizeof(err)), 0);
	assert_int_equal(store_ca_insert(st, &ca, err, sizeof(err)), 1);
	assert_int_equal(store_ca_set_eab(st, ca.id, "kid", blob, 4, err,
	    sizeof(err)), 0);
	assert_int_equal(store_ca_get_id(st, ca.id, &gca, err, sizeof(err)), 0);
	assert_string_equal(gca->eab_kid, "kid");
	assert_int_equal(gca->eab_hmac_sealed_len, 4);
	assert_memory_equal(gca->eab_hmac_sealed, blob, 4);
	assert_null(gca->acme_profile);
	store_ca_free(gca);
	/* The ACME profile (007): inserted, set, cleared, absent on built-ins. */
	assert_int_equal(store_ca_get(st, "letsencrypt", &gca, err,
	    sizeof(err)), 0);
	assert_null(gca->acme_profile);
	store_ca_free(gca);
	assert_int_equal(store_ca_insert(st, &(struct store_ca){ .name = "p",
	    .directory_url = "https://p.test/d", .acme_profile = "tlsserver",
	    .created_at = 1 }, err, sizeof(err)), 0);
	assert_int_equal(store_ca_get(st, "p", &gca, err, sizeof(err)), 0);
	assert_string_equal(gca->acme_profile, "tlsserver");
	assert_int_equal(store_ca_set_acme_profile(st, gca->id, "shortlived",
	    err, sizeof(err)), 0);
	store_ca_free(gca);
	assert_int_equal(store_ca_get(st, "p", &gca, err, sizeof(err)), 0);
	assert_string_equal(gca->acme_profile, "shortlived");
	assert_int_equal(store_ca_set_acme_profile(st, gca->id, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(store_ca_delete(st, gca->id, err, sizeof(err)), 0);
	assert_int_equal(store_ca_set_acme_profile(st, gca->id, NULL, err,
	    sizeof(err)), 1);
	store_ca_free(gca);

	/* One account per profile and email. */
	acct.profile_id = ca.id;
	assert_int_equal(store_account_insert(st, &acct, err, sizeof(err)), 0);
	assert_int_equal(store_account_insert(st, &acct, err, sizeof(err)), 1);
	acct.key_sealed = blob;
	acct.key_sealed_len = 4;
	acct.account_url = "https://a.test/acct/1";
	acct.tos_agreed_at = 9;
	assert_int_equal(store_account_update(st, &acct, err, sizeof(err)), 0);
	assert_int_equal(store_account_get(st, ca.id, "a@b.test", &gacct, err,
	    sizeof(err)), 0);
	assert_string_equal(gacct->account_url, "https://a.test/acct/1");
	assert_int_equal(gacct->key_sealed_len, 4);
	store_account_free(gacct);
	assert_int_equal(store_account_get(st, ca.id, "", &gacct, err,
	    sizeof(err)), 1);

	/* A certificate round trip, sealed key and aliases included. */
	memcpy(c.source, "acme", 5);
	memcpy(c.status, "pending", 8);
	memcpy(c.key_type, "ec256", 6);
	c.ca_id = ca.id;
	c.label = "abc";
	c.key_sealed = blob;
	c.key_sealed_len = 4;
	c.next_attempt_at = 100;
	assert_int_equal(store_cert_insert(st, &c, err, sizeof(err)), 0);
	assert_int_equal(store_cert_get(st, c.id, &gc, err, sizeof(err)), 0);
	assert_string_equal(gc->ca_name, "t");
	assert_int_equal(gc->naliases, 2);
	assert_string_equal(gc->aliases[0], "*.x.test");
	assert_memory_equal(gc->key_sealed, blob, 4);
	assert_null(gc->facts);
	gc->facts = fake_facts("x.test", "aa11");
	memcpy(gc->status, "active", 7);
	assert_int_equal(store_cert_update(st, gc, err, sizeof(err)), 0);
	store_cert_free(gc);
	assert_int_equal(store_cert_get(st, c.id, &gc, err, sizeof(err)), 0);
	assert_string_equal(gc->status, "active");
	assert_string_equal(gc->facts->fingerprint_sha256, "aa11");
	assert_int_equal(store_cert_version_add(st, gc, 50, err, sizeof(err)), 0);
	store_cert_free(gc);
	c.id = 0;
	assert_int_equal(store_cert_insert(st, &c, err, sizeof(err)), 1);
	assert_int_equal(store_certs_due(st, 99, ids, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_certs_due(st, 100, ids, 4, &n), 0);
	assert_int_equal(n, 1);
	c.id = ids[0];

	/* At most one running order per certificate. */
	o.cert_id = c.id;
	assert_int_equal(store_order_insert(st, &o, err, sizeof(err)), 0);
	assert_int_equal(store_order_insert(st, &o, err, sizeof(err)), 1);
	assert_int_equal(store_order_running(st, c.id, &go, err, sizeof(err)), 0);
	assert_string_equal(go->step, "new");
	assert_string_equal(go->authz, "[]");
	free(go->status);
	go->status = strdup("valid");
	go->finished_at = 8;
	assert_int_equal(store_order_update(st, go, err, sizeof(err)), 0);
	store_order_free(go);
	assert_int_equal(store_order_running(st, c.id, &go, err, sizeof(err)), 1);
	assert_int_equal(store_order_insert(st, &o, err, sizeof(err)), 0);
	store_write_end(st, 1);

	/* Deleting the certificate takes its orders and versions along. */
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_cert_delete(st, c.id, err, sizeof(err)), 0);
	assert_int_equal(store_cert_delete(st, c.id, err, sizeof(err)), 1);
	assert_int_equal(store_ca_delete(st, ca.id, err, sizeof(err)), 0);
	store_write_end(st, 1);
	store_close(st);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM cert_orders"), 0);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM cert_versions"), 0);
	assert_int_equal(raw_exec_int(f->path, "SELECT count(*) FROM acme_accounts"), 0);
}

static int
collect_values(const char *value, size_t len, void *arg)
{
	char *out = arg;

	assert_int_equal(strlen(value), len);
	strcat(out, value);
	strcat(out, ";");
	return 0;
}

static int
stop_at_first(const char *value, size_t len, void *arg)
{
	return 1;
}

/* Values at one name, removal one by one and by certificate, the serial. */
static void
test_techzone_records(void **state)
{
	struct fixture *f = *state;
	char err[256], got[256];
	struct store *st = store_open(NULL, f->path, 5, err, sizeof(err));
	uint32_t s0, s1, s2;
	int64_t n;

	assert_non_null(st);
	assert_int_equal(store_techzone_serial(st, &s0), 0);
	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	/* Stored lowercase without the final dot, so any spelling finds it. */
	assert_int_equal(store_techzone_add(st, "K3.Acme.Test.", "v1", 7, 100,
	    err, sizeof(err)), 0);
	assert_int_equal(store_techzone_add(st, "k3.acme.test", "v2", 7, 101,
	    err, sizeof(err)), 0);
	/* The same pair again: a no-op that says so. */
	assert_int_equal(store_techzone_add(st, "k3.acme.test", "v1", 7, 102,
	    err, sizeof(err)), 1);
	assert_int_equal(store_techzone_add(st, "x.deep.sub.acme.test", "d", 8,
	    103, err, sizeof(err)), 0);
	store_write_end(st, 1);

	got[0] = '\0';
	assert_int_equal(store_techzone_values(st, "k3.ACME.test", collect_values,
	    got, err, sizeof(err)), 2);
	assert_string_equal(got, "v1;v2;");
	assert_int_equal(store_techzone_values(st, "k3.acme.test", stop_at_first,
	    NULL, err, sizeof(err)), 1);
	assert_int_equal(store_techzone_values(st, "nope.acme.test",
	    collect_values, got, err, sizeof(err)), 0);
	assert_int_equal(store_techzone_serial(st, &s1), 0);
	assert_true(s1 != s0);

	/* Empty non-terminals: strictly below, whole labels only. */
	assert_int_equal(store_techzone_below(st, "sub.acme.test"), 1);
	assert_int_equal(store_techzone_below(st, "deep.sub.acme.test"), 1);
	assert_int_equal(store_techzone_below(st, "acme.test"), 1);
	assert_int_equal(store_techzone_below(st, "x.deep.sub.acme.test"), 0);
	assert_int_equal(store_techzone_below(st, "ub.acme.test"), 0);
	assert_int_equal(store_techzone_below(st, "k3.acme.test"), 0);
	assert_int_equal(store_techzone_below(st, "other.test"), 0);

	/* Bad names are refused, with a sentence. */
	assert_int_equal(store_techzone_add(st, "a..acme.test", "v", 1, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "empty label"));
	assert_int_equal(store_techzone_add(st, ".", "v", 1, 1, err,
	    sizeof(err)), -1);

	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_techzone_remove(st, "k3.acme.test.", "v1", err,
	    sizeof(err)), 0);
	assert_int_equal(store_techzone_remove(st, "k3.acme.test", "v1", err,
	    sizeof(err)), 1);
	got[0] = '\0';
	assert_int_equal(store_techzone_values(st, "k3.acme.test", collect_values,
	    got, err, sizeof(err)), 1);
	assert_string_equal(got, "v2;");
	assert_int_equal(store_techzone_remove_cert(st, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_techzone_below(st, "sub.acme.test"), 0);
	store_write_end(st, 1);
	assert_int_equal(store_techzone_serial(st, &s2), 0);
	assert_true(s2 != s1);
	store_close(st);

	/* Records persist across a reopen. */
	st = store_open(NULL, f->path, 5, err, sizeof(err));
	got[0] = '\0';
	assert_int_equal(store_techzone_values(st, "k3.acme.test", collect_values,
	    got, err, sizeof(err)), 1);
	assert_string_equal(got, "v2;");
	store_close(st);
}

/*
 * The DNS server reads on the daemon's own connection: a value added is
 * served before the group commit makes it durable (and so visible to other
 * connections).
 */
static void
test_techzone_reads_see_uncommitted(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	char err[256], got[64] = "";
	struct store *st = store_open(base, f->path, 5, err, sizeof(err));

	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_techzone_add(st, "a.b.acme.test", "early", 1, 1,
	    err, sizeof(err)), 0);
	store_write_end(st, 1);
	assert_int_equal(store_techzone_values(st, "a.b.acme.test",
	    collect_values, got, err, sizeof(err)), 1);
	assert_int_equal(store_techzone_below(st, "b.acme.test"), 1);
	assert_int_equal(raw_exec_int(f->path,
	    "SELECT count(*) FROM techzone_records"), 0);
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(raw_exec_int(f->path,
	    "SELECT count(*) FROM techzone_records"), 1);
	store_close(st);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_database_is_migrated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_item_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_undoes_only_its_bracket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_follow_every_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_outlive_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_techzone_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_techzone_reads_see_uncommitted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
