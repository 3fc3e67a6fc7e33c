/*
 * Unit tests for the expiry rules (daemon/expiry.c): which thresholds apply
 * to a lifetime, one warning per crossing, the lowest when several are
 * crossed at once, `expired` at notAfter + 1 s, renewal_overdue at two
 * thirds of the life, and when to look next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "expiry.h"
#include "store_events.h"

#define DAY	EXPIRY_DAY
#define T0	1800000000LL

static struct config_days dflt = { { 30, 14, 7, 3, 1 }, 5, 0 };

static struct store_expiry
cert_of(int64_t lifetime_days)
{
	struct store_expiry x = { .valid_from = T0 };

	/* Both ends inclusive: N days is notAfter = notBefore + N days - 1. */
	x.valid_until = T0 + lifetime_days * DAY - 1;
	return x;
}

static size_t
applies(int64_t lifetime_days, int *out)
{
	struct store_expiry x = cert_of(lifetime_days);

	return expiry_thresholds(&dflt, x.valid_from, x.valid_until, out);
}

static void
test_thresholds_scale_with_lifetime(void **state)
{
	struct config_days given = { { 30, 14, 7, 3, 1 }, 5, 1 };
	int d[CONFIG_DAYS_MAX];
	struct store_expiry six = cert_of(6);

	(void)state;
	assert_int_equal(applies(90, d), 5);
	assert_int_equal(d[0], 30);
	assert_int_equal(applies(64, d), 4);
	assert_int_equal(d[0], 14);
	assert_int_equal(applies(45, d), 4);
	assert_int_equal(applies(6, d), 1);
	assert_int_equal(d[0], 1);
	assert_int_equal(applies(2, d), 0);
	/* Thresholds the user gave apply as given. */
	assert_int_equal(expiry_thresholds(&given, six.valid_from,
	    six.valid_until, d), 5);
}

static void
test_one_warning_per_crossing(void **state)
{
	struct store_expiry x = cert_of(90);
	struct expiry_due due;
	int d[CONFIG_DAYS_MAX];
	size_t n = applies(90, d);
	int64_t at30 = x.valid_until + 1 - 30 * DAY;

	(void)state;
	expiry_decide(&x, d, n, 0, T0, &due);
	assert_int_equal(due.warn_days, 0);
	assert_int_equal(x.due_at, at30);
	/* One second early: nothing; at the crossing: 30. */
	expiry_decide(&x, d, n, 0, at30 - 1, &due);
	assert_int_equal(due.warn_days, 0);
	expiry_decide(&x, d, n, 0, at30, &due);
	assert_int_equal(due.warn_days, 30);
	assert_int_equal(x.warned_days, 30);
	assert_int_equal(x.due_at, x.valid_until + 1 - 14 * DAY);
	/* Looked at again (a restart): nothing twice. */
	expiry_decide(&x, d, n, 0, at30 + 5, &due);
	assert_int_equal(due.warn_days, 0);
}

static void
test_first_seen_below_several(void **state)
{
	struct store_expiry x = cert_of(90);
	struct expiry_due due;
	int d[CONFIG_DAYS_MAX];
	size_t n = applies(90, d);

	(void)state;
	/* Two days left: 30, 14, 7 and 3 are all crossed; one warning, 3. */
	expiry_decide(&x, d, n, 0, x.valid_until + 1 - 2 * DAY, &due);
	assert_int_equal(due.warn_days, 3);
	assert_int_equal(x.due_at, x.valid_until + 1 - DAY);
	expiry_decide(&x, d, n, 0, x.valid_until + 1 - DAY, &due);
	assert_int_equal(due.warn_days, 1);
	assert_int_equal(x.due_at, x.valid_until + 1);
}

static void
test_expired_at_the_second(void **state)
{
	struct store_expiry x = cert_of(6);
	struct expiry_due due;
	int d[CONFIG_DAYS_MAX];
	size_t n = applies(6, d);

	(void)state;
	/* notAfter itself is still valid. */
	expiry_decide(&x, d, n, 0, x.valid_until, &due);
	assert_int_equal(due.expired, 0);
	assert_int_equal(due.warn_days, 1);
	expiry_decide(&x, d, n, 0, x.valid_until + 1, &due);
	assert_int_equal(due.expired, 1);
	assert_int_equal(x.due_at, 0);
	expiry_decide(&x, d, n, 0, x.valid_until + 100, &due);
	assert_int_equal(due.expired, 0);
}

static void
test_renewal_overdue(void **state)
{
	struct store_expiry x = cert_of(90);
	struct expiry_due due;
	int d[CONFIG_DAYS_MAX];
	size_t n = applies(90, d);
	int64_t two_thirds = T0 + 60 * DAY;

	(void)state;
	expiry_decide(&x, d, n, 1, T0 + DAY, &due);
	assert_int_equal(x.due_at, two_thirds);
	expiry_decide(&x, d, n, 1, two_thirds, &due);
	assert_int_equal(due.overdue, 1);
	assert_int_equal(due.warn_days, 30);
	expiry_decide(&x, d, n, 1, two_thirds + 1, &due);
	assert_int_equal(due.overdue, 0);
	/* A pasted PEM is not expected to be replaced. */
	x = cert_of(90);
	expiry_decide(&x, d, n, 0, two_thirds, &due);
	assert_int_equal(due.overdue, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thresholds_scale_with_lifetime),
		cmocka_unit_test(test_one_warning_per_crossing),
		cmocka_unit_test(test_first_seen_below_several),
		cmocka_unit_test(test_expired_at_the_second),
		cmocka_unit_test(test_renewal_overdue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
