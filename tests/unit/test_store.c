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
	assert_int_equal(store_event_add(st, 1, b, "checked", "x", err,
	    sizeof(err)), 0);
	assert_int_equal(store_event_add(st, 2, 0, "note", "y", err,
	    sizeof(err)), 0);
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

	assert_int_equal(store_write_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_event_add(st, 1, id, "added", "m", err,
	    sizeof(err)), 0);
	assert_int_equal(store_event_add(st, 2, id, "deleted", "m", err,
	    sizeof(err)), 0);
	assert_int_equal(store_event_add(st, 3, 0, "other", "m", err,
	    sizeof(err)), 0);
	assert_int_equal(store_item_delete(st, id, err, sizeof(err)), 0);
	assert_int_equal(store_item_delete(st, id, err, sizeof(err)), 1);
	store_write_end(st, 1);
	assert_int_equal(store_events_each(st, id, 10, collect, seen, err,
	    sizeof(err)), 0);
	assert_string_equal(seen, "deleted;added;");
	seen[0] = '\0';
	assert_int_equal(store_events_each(st, 0, 2, collect, seen, err,
	    sizeof(err)), 0);
	assert_string_equal(seen, "other;deleted;");
	store_close(st);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
