/*
 * Unit tests for the monitoring check's verdict (daemon/check.c): the
 * threshold ladder scaled to the lifetime (90, 45, 10 and 6 days), given
 * thresholds used as given, every state (OK, WARNING for days, a failing
 * renewal and an overdue one, CRITICAL for days, expiry, a failed check, an
 * untrusted chain and a name mismatch, UNKNOWN without a certificate), the
 * order they are judged in, the boundaries to the second, days_left as a
 * floor, and hostile names that must stay one line with nothing hidden.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certfleet/escape.h"
#include "check.h"

#define DAY	86400LL
#define T0	1800000000LL		/* 2027-01-15T08:00:00Z */

/* Both ends inclusive: N days is notAfter = notBefore + N days - 1. */
static struct check_input
cert_of(const char *name, int64_t lifetime_days)
{
	struct check_input in = {
		.name = name,
		.valid_from = T0,
		.valid_until = T0 + lifetime_days * DAY - 1,
		.chain_valid = -1,
		.hostname_match = -1,
	};

	return in;
}

/* now such that exactly secs seconds are left before notAfter. */
static int64_t
left(const struct check_input *in, int64_t secs)
{
	return in->valid_until - secs;
}

static void
judge(const struct check_input *in, int warn, int crit, int64_t now,
    struct check_verdict *v)
{
	/* Anything the judge forgets to fill shows as garbage. */
	memset(v, 0xa5, sizeof(*v));
	check_judge(in, warn, crit, now, v);
	/* Always a terminated, one-line reason. */
	assert_non_null(memchr(v->reason, '\0', sizeof(v->reason)));
}

static void
thresholds_of(int64_t lifetime_days, int warn, int crit, int *w, int *c)
{
	struct check_input in = cert_of("x", lifetime_days);

	*w = *c = -99;
	check_thresholds(warn, crit, in.valid_from, in.valid_until, w, c);
}

/* 1 when s holds no C0 control or DEL and no raw bidi control. */
static int
clean_line(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	/* U+202E, U+202A..U+202D, U+2066..U+2069 as UTF-8. */
	for (const char *p = s; (p = strstr(p, "\xe2\x80")) != NULL; p += 2)
		if ((unsigned char)p[2] >= 0xaa && (unsigned char)p[2] <= 0xae)
			return 0;
	for (const char *p = s; (p = strstr(p, "\xe2\x81")) != NULL; p += 2)
		if ((unsigned char)p[2] >= 0xa6 && (unsigned char)p[2] <= 0xa9)
			return 0;
	return 1;
}

/* --- thresholds ---------------------------------------------------------- */

static void
test_ladder_defaults(void **state)
{
	int w, c;

	(void)state;
	thresholds_of(90, -1, -1, &w, &c);
	assert_int_equal(w, 30);
	assert_int_equal(c, 14);
	thresholds_of(45, -1, -1, &w, &c);
	assert_int_equal(w, 14);
	assert_int_equal(c, 7);
	thresholds_of(10, -1, -1, &w, &c);
	assert_int_equal(w, 3);
	assert_int_equal(c, 1);
	/* 6 days: warn at 1 day, critical only once expired. */
	thresholds_of(6, -1, -1, &w, &c);
	assert_int_equal(w, 1);
	assert_int_equal(c, 0);
	/* Longer lives keep the defaults. */
	thresholds_of(398, -1, -1, &w, &c);
	assert_int_equal(w, 30);
	assert_int_equal(c, 14);
}

static void
test_ladder_steps_at_a_third(void **state)
{
	struct check_input in = cert_of("x", 90);
	int w, c;

	(void)state;
	/* A third of the life, to the second: 90 days fits 30, one second
	 * less does not. */
	check_thresholds(-1, -1, in.valid_from, in.valid_until, &w, &c);
	assert_int_equal(w, 30);
	check_thresholds(-1, -1, in.valid_from, in.valid_until - 1, &w, &c);
	assert_int_equal(w, 14);
	assert_int_equal(c, 7);
	thresholds_of(42, -1, -1, &w, &c);
	assert_int_equal(w, 14);
	assert_int_equal(c, 7);
	thresholds_of(41, -1, -1, &w, &c);
	assert_int_equal(w, 7);
	assert_int_equal(c, 3);
	thresholds_of(21, -1, -1, &w, &c);
	assert_int_equal(w, 7);
	assert_int_equal(c, 3);
	thresholds_of(9, -1, -1, &w, &c);
	assert_int_equal(w, 3);
	assert_int_equal(c, 1);
	thresholds_of(3, -1, -1, &w, &c);
	assert_int_equal(w, 1);
	assert_int_equal(c, 0);
	/* Too short for any step: only expiry is judged. */
	thresholds_of(2, -1, -1, &w, &c);
	assert_int_equal(w, 0);
	assert_int_equal(c, 0);
}

static void
test_given_thresholds_as_given(void **state)
{
	int w, c;

	(void)state;
	thresholds_of(90, 100, 95, &w, &c);
	assert_int_equal(w, 100);
	assert_int_equal(c, 95);
	/* Given on a short life: not scaled. */
	thresholds_of(6, 20, 10, &w, &c);
	assert_int_equal(w, 20);
	assert_int_equal(c, 10);
	thresholds_of(90, 0, 0, &w, &c);
	assert_int_equal(w, 0);
	assert_int_equal(c, 0);
	/* Only -w given: the critical default still steps down the ladder. */
	thresholds_of(90, 100, -1, &w, &c);
	assert_int_equal(w, 100);
	assert_int_equal(c, 14);
	thresholds_of(45, 100, -1, &w, &c);
	assert_int_equal(w, 100);
	assert_int_equal(c, 14);
	thresholds_of(10, 100, -1, &w, &c);
	assert_int_equal(w, 100);
	assert_int_equal(c, 3);
	/* Only -c given: the warning default scales, the critical is kept. */
	thresholds_of(90, -1, 20, &w, &c);
	assert_int_equal(w, 30);
	assert_int_equal(c, 20);
	/* ... but never below it, or WARNING could not happen. */
	thresholds_of(6, -1, 2, &w, &c);
	assert_int_equal(w, 2);
	assert_int_equal(c, 2);
	thresholds_of(45, -1, 20, &w, &c);
	assert_int_equal(w, 20);
	assert_int_equal(c, 20);
	/* Only -w given below the default critical: critical below it. */
	thresholds_of(90, 12, -1, &w, &c);
	assert_int_equal(w, 12);
	assert_int_equal(c, 7);
	thresholds_of(90, 1, -1, &w, &c);
	assert_int_equal(w, 1);
	assert_int_equal(c, 0);
}

static void
test_verdict_carries_thresholds(void **state)
{
	struct check_input in = cert_of("t.example", 6);
	struct check_verdict v;

	(void)state;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.warn, 1);
	assert_int_equal(v.crit, 0);
	assert_int_equal(v.state, CHECK_OK);
	assert_int_equal(v.days_left, 5);
	assert_string_equal(v.reason, "t.example expires in 5 days (2027-01-21)");
	in = cert_of("t.example", 90);
	judge(&in, 100, -1, T0, &v);
	assert_int_equal(v.warn, 100);
	assert_int_equal(v.crit, 14);
}

/* --- the states ---------------------------------------------------------- */

static void
test_ok(void **state)
{
	struct check_input in = cert_of("ok.example", 90);
	struct check_verdict v;

	(void)state;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
	assert_int_equal(v.days_left, 89);
	assert_int_equal(v.warn, 30);
	assert_int_equal(v.crit, 14);
	assert_string_equal(v.reason,
	    "ok.example expires in 89 days (2027-04-15)");
	/* Known good facts change nothing. */
	in.chain_valid = 1;
	in.hostname_match = 1;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
	/* A managed certificate that is fine. */
	in.managed = 1;
	in.status = "valid";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
}

static void
test_days_warning_and_critical(void **state)
{
	struct check_input in = cert_of("d.example", 90);
	struct check_verdict v;

	(void)state;
	judge(&in, 100, -1, T0, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_string_equal(v.reason,
	    "d.example expires in 89 days (2027-04-15)");
	judge(&in, 100, 95, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "d.example expires in 89 days (2027-04-15)");
	/* Defaults: 20 days left warns, 10 is critical. */
	judge(&in, -1, -1, left(&in, 20 * DAY), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 20);
	judge(&in, -1, -1, left(&in, 10 * DAY), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_int_equal(v.days_left, 10);
	assert_string_equal(v.reason,
	    "d.example expires in 10 days (2027-04-15)");
}

static void
test_boundaries_to_the_second(void **state)
{
	struct check_input in = cert_of("b.example", 90);
	struct check_verdict v;

	(void)state;
	/* Exactly 14 days left is not critical (but warns); one second less
	 * is critical. */
	judge(&in, -1, -1, left(&in, 14 * DAY), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 14);
	judge(&in, -1, -1, left(&in, 14 * DAY - 1), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_int_equal(v.days_left, 13);
	/* The same at the warning. */
	judge(&in, -1, -1, left(&in, 30 * DAY), &v);
	assert_int_equal(v.state, CHECK_OK);
	assert_int_equal(v.days_left, 30);
	judge(&in, -1, -1, left(&in, 30 * DAY - 1), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 29);
	/* And at given thresholds. */
	judge(&in, 50, 40, left(&in, 40 * DAY), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	judge(&in, 50, 40, left(&in, 40 * DAY - 1), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	judge(&in, 50, 40, left(&in, 50 * DAY), &v);
	assert_int_equal(v.state, CHECK_OK);
	judge(&in, 50, 40, left(&in, 50 * DAY - 1), &v);
	assert_int_equal(v.state, CHECK_WARNING);
}

static void
test_six_days_critical_only_when_expired(void **state)
{
	struct check_input in = cert_of("six.example", 6);
	struct check_verdict v;

	(void)state;
	judge(&in, -1, -1, left(&in, DAY), &v);
	assert_int_equal(v.state, CHECK_OK);
	assert_int_equal(v.days_left, 1);
	assert_string_equal(v.reason,
	    "six.example expires in 1 day (2027-01-21)");
	judge(&in, -1, -1, left(&in, DAY - 1), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 0);
	/* The last second of its life: still only a warning. */
	judge(&in, -1, -1, in.valid_until, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 0);
	assert_string_equal(v.reason,
	    "six.example expires in 0 days (2027-01-21)");
	judge(&in, -1, -1, in.valid_until + 1, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_int_equal(v.days_left, -1);
}

static void
test_days_left_is_a_floor(void **state)
{
	struct check_input in = cert_of("f.example", 90);
	struct check_verdict v;

	(void)state;
	judge(&in, 0, 0, left(&in, 2 * DAY), &v);
	assert_int_equal(v.days_left, 2);
	judge(&in, 0, 0, left(&in, 2 * DAY - 1), &v);
	assert_int_equal(v.days_left, 1);
	judge(&in, 0, 0, left(&in, DAY), &v);
	assert_int_equal(v.days_left, 1);
	judge(&in, 0, 0, left(&in, 1), &v);
	assert_int_equal(v.days_left, 0);
	judge(&in, 0, 0, left(&in, 0), &v);
	assert_int_equal(v.days_left, 0);
	assert_int_equal(v.state, CHECK_OK);	/* -w 0 -c 0: expiry only */
	/* Past notAfter: negative, rounded down. */
	judge(&in, 0, 0, left(&in, -1), &v);
	assert_int_equal(v.days_left, -1);
	judge(&in, 0, 0, left(&in, -DAY), &v);
	assert_int_equal(v.days_left, -1);
	judge(&in, 0, 0, left(&in, -DAY - 1), &v);
	assert_int_equal(v.days_left, -2);
	judge(&in, 0, 0, left(&in, -10 * DAY), &v);
	assert_int_equal(v.days_left, -10);
	judge(&in, 0, 0, left(&in, -10 * DAY - 1), &v);
	assert_int_equal(v.days_left, -11);
}

static void
test_expired(void **state)
{
	struct check_input in = cert_of("old.example", 90);
	struct check_verdict v;

	(void)state;
	/* notAfter itself is still valid, one second later is not. */
	judge(&in, -1, -1, in.valid_until, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "old.example expires in 0 days (2027-04-15)");
	judge(&in, -1, -1, in.valid_until + 1, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_non_null(strstr(v.reason, "old.example expired "));
	assert_non_null(strstr(v.reason, " ago (2027-04-15)"));
	judge(&in, -1, -1, left(&in, -3 * DAY - 5), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_int_equal(v.days_left, -4);
	assert_string_equal(v.reason,
	    "old.example expired 3 days ago (2027-04-15)");
	/* Whatever thresholds: expired is critical. */
	judge(&in, 0, 0, left(&in, -3 * DAY - 5), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	/* Expiry is said before anything else that is wrong. */
	in.check_error = "connection refused";
	in.chain_valid = 0;
	in.hostname_match = 0;
	in.managed = 1;
	in.status = "error";
	judge(&in, -1, -1, left(&in, -3 * DAY - 5), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "old.example expired 3 days ago (2027-04-15)");
}

static void
test_check_failed(void **state)
{
	struct check_input in = cert_of("h.example:8443", 90);
	struct check_verdict v;

	(void)state;
	in.check_error = "connection refused";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "h.example:8443: the last check failed: connection refused");
	/* Before an untrusted chain or a mismatch. */
	in.chain_valid = 0;
	in.hostname_match = 0;
	judge(&in, -1, -1, T0, &v);
	assert_string_equal(v.reason,
	    "h.example:8443: the last check failed: connection refused");
	/* The days are still known. */
	assert_int_equal(v.days_left, 89);
	assert_int_equal(v.warn, 30);
	assert_int_equal(v.crit, 14);
}

static void
test_chain_invalid(void **state)
{
	struct check_input in = cert_of("c.example", 90);
	struct check_verdict v;

	(void)state;
	in.chain_valid = 0;
	in.verify_error = "unable to get local issuer certificate";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason, "c.example: chain not trusted: "
	    "unable to get local issuer certificate");
	in.verify_error = NULL;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason, "c.example: chain not trusted: invalid");
	/* Before a mismatch, and before days that would warn. */
	in.hostname_match = 0;
	judge(&in, 100, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason, "c.example: chain not trusted: invalid");
	/* -1: not known, not judged. */
	in = cert_of("c.example", 90);
	in.chain_valid = -1;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
}

static void
test_name_mismatch(void **state)
{
	struct check_input in = cert_of("wrong.example", 90);
	struct check_verdict v;

	(void)state;
	in.chain_valid = 1;
	in.hostname_match = 0;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "wrong.example: the certificate does not match the name");
	/* Before a failing renewal. */
	in.managed = 1;
	in.status = "error";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	in = cert_of("wrong.example", 90);
	in.hostname_match = 1;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
}

static void
test_renewal_failing(void **state)
{
	struct check_input in = cert_of("m.example", 90);
	struct check_verdict v;

	(void)state;
	in.managed = 1;
	in.status = "error";
	in.last_error = "DNS-01: NXDOMAIN";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_string_equal(v.reason,
	    "m.example: renewal failing: DNS-01: NXDOMAIN");
	assert_int_equal(v.days_left, 89);
	in.last_error = NULL;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_string_equal(v.reason,
	    "m.example: renewal failing: see cert show");
	/* Days that are critical say so first. */
	judge(&in, -1, -1, left(&in, 5 * DAY), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "m.example expires in 5 days (2027-04-15)");
	/* An item that is not managed has no renewal to fail. */
	in.managed = 0;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
	/* Other statuses are fine. */
	in.managed = 1;
	in.status = "valid";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
	in.status = NULL;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
}

static void
test_renewal_overdue(void **state)
{
	struct check_input in = cert_of("r.example", 365);
	struct check_verdict v;
	int64_t two_thirds = T0 + 365 * DAY * 2 / 3;

	(void)state;
	in.watch_renewal = 1;
	judge(&in, -1, -1, two_thirds - 1, &v);
	assert_int_equal(v.state, CHECK_OK);
	judge(&in, -1, -1, two_thirds, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_int_equal(v.days_left, 121);
	assert_string_equal(v.reason, "r.example: renewal overdue, expires "
	    "in 121 days (2028-01-15)");
	/* Nobody expects a replacement: fine. */
	in.watch_renewal = 0;
	judge(&in, -1, -1, two_thirds, &v);
	assert_int_equal(v.state, CHECK_OK);
	/* Managed: overdue only once its renewal time has passed. */
	in.watch_renewal = 1;
	in.managed = 1;
	in.status = "valid";
	in.next_renewal_at = two_thirds + 10 * DAY;
	judge(&in, -1, -1, two_thirds, &v);
	assert_int_equal(v.state, CHECK_OK);
	judge(&in, -1, -1, in.next_renewal_at - 1, &v);
	assert_int_equal(v.state, CHECK_OK);
	judge(&in, -1, -1, in.next_renewal_at, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_non_null(strstr(v.reason, "renewal overdue"));
	/* A renewal time before two thirds does not make it overdue early. */
	in.next_renewal_at = T0 + DAY;
	judge(&in, -1, -1, two_thirds - 1, &v);
	assert_int_equal(v.state, CHECK_OK);
	/* No renewal time: overdue at two thirds. */
	in.next_renewal_at = 0;
	judge(&in, -1, -1, two_thirds, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	/* Days below the warning are said as days. */
	in = cert_of("r.example", 90);
	in.watch_renewal = 1;
	judge(&in, -1, -1, left(&in, 20 * DAY), &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_string_equal(v.reason,
	    "r.example expires in 20 days (2027-04-15)");
}

static void
test_no_certificate(void **state)
{
	struct check_input in = {
		.name = "new.example", .chain_valid = -1, .hostname_match = -1,
	};
	struct check_verdict v;

	(void)state;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_UNKNOWN);
	assert_string_equal(v.reason, "new.example: no certificate yet");
	assert_int_equal(v.days_left, 0);
	assert_int_equal(v.warn, 0);
	assert_int_equal(v.crit, 0);
	/* Given thresholds change nothing. */
	judge(&in, 100, 95, T0, &v);
	assert_int_equal(v.state, CHECK_UNKNOWN);
	/* A check that failed is a verdict: critical. */
	in.check_error = "connection refused";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_string_equal(v.reason,
	    "new.example: no certificate: connection refused");
	assert_int_equal(v.days_left, 0);
	/* A managed draft with a failing first issue and no check error. */
	in.check_error = NULL;
	in.managed = 1;
	in.status = "error";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_UNKNOWN);
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(check_state_name(CHECK_OK), "OK");
	assert_string_equal(check_state_name(CHECK_WARNING), "WARNING");
	assert_string_equal(check_state_name(CHECK_CRITICAL), "CRITICAL");
	assert_string_equal(check_state_name(CHECK_UNKNOWN), "UNKNOWN");
	assert_string_equal(check_state_name((enum check_state)7), "UNKNOWN");
	assert_int_equal(CHECK_OK, 0);
	assert_int_equal(CHECK_WARNING, 1);
	assert_int_equal(CHECK_CRITICAL, 2);
	assert_int_equal(CHECK_UNKNOWN, 3);
}

/* --- hostile text -------------------------------------------------------- */

#define HOSTILE	"evil\n.example\r|\xe2\x80\xae" "moc.\x1b[31m\x7f\xc2\x9b"

static void
assert_hostile_reason(const struct check_verdict *v)
{
	assert_true(clean_line(v->reason));
	assert_null(strchr(v->reason, '\n'));
	assert_null(strstr(v->reason, "\xe2\x80\xae"));
	assert_null(strstr(v->reason, "\xc2\x9b"));
	/* Shown, not dropped. */
	assert_non_null(strstr(v->reason, "evil\\x0a.example\\x0d|\\u202emoc."
	    "\\x1b[31m\\x7f\\x9b"));
	assert_true(esc_utf8_valid(v->reason, strlen(v->reason)));
}

static void
test_hostile_name_every_state(void **state)
{
	struct check_input in = cert_of(HOSTILE, 90);
	struct check_verdict v;

	(void)state;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_OK);
	assert_hostile_reason(&v);
	assert_non_null(strstr(v.reason, " expires in 89 days (2027-04-15)"));
	judge(&in, 100, -1, T0, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_hostile_reason(&v);
	judge(&in, -1, -1, left(&in, -2 * DAY), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_hostile_reason(&v);
	assert_non_null(strstr(v.reason, " expired 2 days ago (2027-04-15)"));
	in.hostname_match = 0;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_hostile_reason(&v);
	in.hostname_match = -1;
	in.watch_renewal = 1;
	judge(&in, 0, 0, T0 + 61 * DAY, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_hostile_reason(&v);
	in.valid_until = 0;
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_UNKNOWN);
	assert_hostile_reason(&v);
}

static void
test_hostile_errors(void **state)
{
	struct check_input in = cert_of("e.example", 90);
	struct check_verdict v;

	(void)state;
	/* Peers and CAs write errors: the same rules. */
	in.check_error = "refused\r\nX-Injected: 1\xe2\x80\xae";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_true(clean_line(v.reason));
	assert_string_equal(v.reason, "e.example: the last check failed: "
	    "refused\\x0d\\x0aX-Injected: 1\\u202e");
	in.check_error = NULL;
	in.chain_valid = 0;
	in.verify_error = "bad\nchain\xe2\x81\xa6";
	judge(&in, -1, -1, T0, &v);
	assert_true(clean_line(v.reason));
	assert_string_equal(v.reason,
	    "e.example: chain not trusted: bad\\x0achain\\u2066");
	in.chain_valid = -1;
	in.managed = 1;
	in.status = "error";
	in.last_error = "acme: \x1b]0;owned\x07";
	judge(&in, -1, -1, T0, &v);
	assert_int_equal(v.state, CHECK_WARNING);
	assert_true(clean_line(v.reason));
	/* Invalid UTF-8 comes out as escapes, never as raw bytes. */
	in.last_error = "\xff\xfe\xc0\x80";
	judge(&in, -1, -1, T0, &v);
	assert_true(esc_utf8_valid(v.reason, strlen(v.reason)));
}

static void
test_long_name_fits(void **state)
{
	char name[2000];
	struct check_input in;
	struct check_verdict v;
	size_t n = 0;

	(void)state;
	/* Newlines and multibyte text that escape to far more than the
	 * reason holds: cut on a character, still one clean line. */
	for (int i = 0; n + 4 < sizeof(name); i++) {
		if (i % 4 == 0)
			name[n++] = '\n';
		memcpy(name + n, "\xe4\xb8\xad", 3);	/* U+4E2D */
		n += 3;
	}
	name[n] = '\0';
	in = cert_of(name, 90);
	judge(&in, -1, -1, T0, &v);
	assert_true(strlen(v.reason) < sizeof(v.reason));
	assert_true(clean_line(v.reason));
	assert_true(esc_utf8_valid(v.reason, strlen(v.reason)));
	judge(&in, -1, -1, left(&in, -DAY - 1), &v);
	assert_int_equal(v.state, CHECK_CRITICAL);
	assert_true(strlen(v.reason) < sizeof(v.reason));
	assert_true(clean_line(v.reason));
	assert_true(esc_utf8_valid(v.reason, strlen(v.reason)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ladder_defaults),
		cmocka_unit_test(test_ladder_steps_at_a_third),
		cmocka_unit_test(test_given_thresholds_as_given),
		cmocka_unit_test(test_verdict_carries_thresholds),
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_days_warning_and_critical),
		cmocka_unit_test(test_boundaries_to_the_second),
		cmocka_unit_test(test_six_days_critical_only_when_expired),
		cmocka_unit_test(test_days_left_is_a_floor),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_check_failed),
		cmocka_unit_test(test_chain_invalid),
		cmocka_unit_test(test_name_mismatch),
		cmocka_unit_test(test_renewal_failing),
		cmocka_unit_test(test_renewal_overdue),
		cmocka_unit_test(test_no_certificate),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_hostile_name_every_state),
		cmocka_unit_test(test_hostile_errors),
		cmocka_unit_test(test_long_name_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
