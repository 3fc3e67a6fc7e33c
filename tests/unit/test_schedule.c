/*
 * Unit tests for the schedule rules and host target parsing: pure functions,
 * no loop, no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certfleet/wire.h"
#include "daemon.h"
#include "schedule.h"
#include "track.h"

#define DAY	86400
#define NOW	1800000000

static void
test_tiers(void **state)
{
	/* Days to expiry > 90: 30 days; > 30: 7 days; > 7: 48 h; else 24 h. */
	assert_int_equal(schedule_interval(365), 30 * DAY);
	assert_int_equal(schedule_interval(91), 30 * DAY);
	assert_int_equal(schedule_interval(90), 7 * DAY);
	assert_int_equal(schedule_interval(31), 7 * DAY);
	assert_int_equal(schedule_interval(30), 2 * DAY);
	assert_int_equal(schedule_interval(8), 2 * DAY);
	assert_int_equal(schedule_interval(7), DAY);
	assert_int_equal(schedule_interval(0), DAY);
	assert_int_equal(schedule_interval(-400), DAY);
}

static void
test_next_after_success(void **state)
{
	/* 91 days and one second left: still the > 90 tier. */
	assert_int_equal(schedule_next(NOW, 1, 1, NOW + 91 * DAY + 1, 0),
	    NOW + 30 * DAY);
	/* Exactly 90 days: the > 30 tier. */
	assert_int_equal(schedule_next(NOW, 1, 1, NOW + 90 * DAY, 0),
	    NOW + 7 * DAY);
	/* One second short of 8 days counts as 7. */
	assert_int_equal(schedule_next(NOW, 1, 1, NOW + 8 * DAY - 1, 0),
	    NOW + DAY);
	/* Expired a second ago: daily. */
	assert_int_equal(schedule_next(NOW, 1, 1, NOW - 1, 0), NOW + DAY);
}

static void
test_next_after_failure(void **state)
{
	int64_t far = NOW + 365 * DAY;

	assert_int_equal(schedule_next(NOW, 0, 1, far, 1), NOW + 600);
	assert_int_equal(schedule_next(NOW, 0, 1, far, 2), NOW + 1200);
	assert_int_equal(schedule_next(NOW, 0, 1, far, 3), NOW + 2400);
	/* Never later than the tier: 30 days here. */
	assert_int_equal(schedule_next(NOW, 0, 1, far, 40), NOW + 30 * DAY);
	/* Nothing known: capped at a day. */
	assert_int_equal(schedule_next(NOW, 0, 0, 0, 40), NOW + DAY);
	/* Close to expiry the tier is a day, and so is the cap. */
	assert_int_equal(schedule_next(NOW, 0, 1, NOW + DAY, 9), NOW + DAY);
}

static void
parse_ok(const char *in, const char *sni, const char *host, int port,
    const char *want_sni)
{
	struct track_target t;
	struct cf_err e = { 0 };

	if (track_parse_target(in, sni, &t, &e) != 0)
		fail_msg("'%s' refused: %s", in, e.msg);
	assert_string_equal(t.host, host);
	assert_int_equal(t.port, port);
	assert_string_equal(t.sni, want_sni);
}

static void
parse_bad(const char *in, const char *msg)
{
	struct track_target t;
	struct cf_err e = { 0 };

	if (track_parse_target(in, NULL, &t, &e) == 0)
		fail_msg("'%s' accepted", in);
	assert_int_equal(e.code, WIRE_INVALID_ARGUMENT);
	assert_string_equal(e.msg, msg);
}

static void
test_targets(void **state)
{
	parse_ok("datto.com", NULL, "datto.com", 443, "");
	parse_ok("  datto.com:8443 ", NULL, "datto.com", 8443, "");
	parse_ok("https://datto.com/path?q=1", NULL, "datto.com", 443, "");
	parse_ok("HTTPS://datto.com:444/", NULL, "datto.com", 444, "");
	parse_ok("127.0.0.1:4433", "good.test", "127.0.0.1", 4433, "good.test");
	parse_ok("[::1]:4433", NULL, "::1", 4433, "");
	parse_ok("[2001:db8::1]", NULL, "2001:db8::1", 443, "");
	parse_ok("::1", NULL, "::1", 443, "");
	parse_ok("_dmarc.example.com", NULL, "_dmarc.example.com", 443, "");
	parse_ok("example.com.", NULL, "example.com.", 443, "");
	parse_ok("datto.com:65535", NULL, "datto.com", 65535, "");
}

static void
test_bad_targets(void **state)
{
	parse_bad("\\datto.com", TRACK_MSG_BAD_URI);
	parse_bad("", TRACK_MSG_BAD_URI);
	parse_bad("   ", TRACK_MSG_BAD_URI);
	parse_bad("a b.com", TRACK_MSG_BAD_URI);
	parse_bad("datto.com:0", TRACK_MSG_BAD_URI);
	parse_bad("datto.com:65536", TRACK_MSG_BAD_URI);
	parse_bad("datto.com:99999999999", TRACK_MSG_BAD_URI);
	parse_bad("datto.com:", TRACK_MSG_BAD_URI);
	parse_bad("datto..com", TRACK_MSG_BAD_URI);
	parse_bad(".datto.com", TRACK_MSG_BAD_URI);
	parse_bad("user@datto.com", TRACK_MSG_BAD_URI);
	parse_bad("[::1", TRACK_MSG_BAD_URI);
	parse_bad("[::1]x", TRACK_MSG_BAD_URI);
	parse_bad("[datto.com]:443", TRACK_MSG_BAD_URI);
	parse_bad("https://", TRACK_MSG_BAD_URI);
	parse_bad("htps:\\\\datto.com", TRACK_MSG_BAD_SCHEME);
	parse_bad("ftp://datto.com", TRACK_MSG_BAD_SCHEME);
	parse_bad("http:datto.com", TRACK_MSG_BAD_SCHEME);
}

static void
test_long_names(void **state)
{
	char label[80], name[400];
	struct track_target t;
	struct cf_err e = { 0 };

	memset(label, 'a', 64);
	label[64] = '\0';
	assert_int_equal(track_parse_target(label, NULL, &t, &e), -1);
	label[63] = '\0';
	assert_int_equal(track_parse_target(label, NULL, &t, &e), 0);
	memset(name, 'a', sizeof(name) - 1);
	for (size_t i = 50; i < sizeof(name) - 1; i += 51)
		name[i] = '.';
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(track_parse_target(name, NULL, &t, &e), -1);
	assert_int_equal(track_parse_target("ok.test", "bad sni", &t, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_next_after_success),
		cmocka_unit_test(test_next_after_failure),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_bad_targets),
		cmocka_unit_test(test_long_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
