/*
 * Unit tests for the metrics module (daemon/metrics.c): histogram buckets
 * are cumulative in the output and +Inf counts all, labelled counters cap
 * their series and count the overflow as "other", counter families are
 * named as each format wants, label values from strangers cannot end
 * their quotes, and OpenMetrics ends with "# EOF".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "metrics.h"

/* The writer's output as a NUL-terminated string (caller frees). */
static char *
text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void
test_hist(void **state)
{
	static const double bounds[] = { 1, 5, 10 };
	struct evbuffer *b = evbuffer_new();
	struct mwriter w = { .out = b };
	struct hist h;
	char *s;

	(void)state;
	hist_init(&h, bounds, 3);
	hist_observe(&h, 0.5);
	hist_observe(&h, 1);		/* le is inclusive */
	hist_observe(&h, 7);
	hist_observe(&h, 100);
	mw_hist(&w, "x_seconds", NULL, 0, &h);
	s = text_of(b);
	assert_non_null(strstr(s, "x_seconds_bucket{le=\"1\"} 2\n"));
	assert_non_null(strstr(s, "x_seconds_bucket{le=\"5\"} 2\n"));
	assert_non_null(strstr(s, "x_seconds_bucket{le=\"10\"} 3\n"));
	assert_non_null(strstr(s, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(s, "x_seconds_sum 108.5\n"));
	assert_non_null(strstr(s, "x_seconds_count 4\n"));
	free(s);
	evbuffer_free(b);
}

static void
test_counters_cap(void **state)
{
	struct mcounters c;
	char v[16];
	uint64_t total = 0;
	int other = 0;

	(void)state;
	mcounters_init(&c, 4);
	for (int i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "cause%d", i);
		mcounters_add(&c, v, NULL, 1);
	}
	mcounters_add(&c, "cause0", NULL, 5);
	assert_true(c.n <= 4);
	for (size_t i = 0; i < c.n; i++) {
		total += c.v[i].n;
		if (strcmp(c.v[i].v1, "other") == 0)
			other = 1;
	}
	assert_int_equal(total, 15);	/* nothing lost, only pooled */
	assert_true(other);
	mcounters_free(&c);
}

static void
test_counter_names(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct mwriter w = { .out = b };
	struct mcounters c;
	char *s;

	(void)state;
	mcounters_init(&c, 8);
	mcounters_add(&c, "ok", NULL, 3);
	mw_mcounters(&w, "p", "help", &c, "result", NULL);
	mw_end(&w);
	s = text_of(b);
	assert_string_equal(s, "# HELP p_total help\n# TYPE p_total counter\n"
	    "p_total{result=\"ok\"} 3\n");
	free(s);
	w.openmetrics = 1;
	mw_mcounters(&w, "p", "help", &c, "result", NULL);
	mw_end(&w);
	s = text_of(b);
	assert_string_equal(s, "# HELP p help\n# TYPE p counter\n"
	    "p_total{result=\"ok\"} 3\n# EOF\n");
	free(s);
	mcounters_free(&c);
	evbuffer_free(b);
}

static void
test_hostile_label(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct mwriter w = { .out = b };
	struct mlabel l[2] = {
		{ "cn", "a\"} 1\nfake_metric 1" }, { "host", "plain.example" },
	};
	char *s;

	(void)state;
	mw_sample(&w, "m", "", l, 2, 1);
	s = text_of(b);
	assert_string_equal(s, "m{cn=\"a\\\"} 1\\\\x0afake_metric 1\","
	    "host=\"plain.example\"} 1\n");
	free(s);
	evbuffer_free(b);
}

static void
test_values(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct mwriter w = { .out = b };
	char *s;

	(void)state;
	mw_sample(&w, "a", "", NULL, 0, 1796686028);
	mw_sample(&w, "b", "", NULL, 0, 0.25);
	mw_sample(&w, "c", "", NULL, 0, -3);
	s = text_of(b);
	assert_string_equal(s, "a 1796686028\nb 0.25\nc -3\n");
	free(s);
	assert_true(mw_wants_openmetrics(
	    "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"));
	assert_false(mw_wants_openmetrics("text/plain"));
	assert_false(mw_wants_openmetrics(NULL));
	evbuffer_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist),
		cmocka_unit_test(test_counters_cap),
		cmocka_unit_test(test_counter_names),
		cmocka_unit_test(test_hostile_label),
		cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
