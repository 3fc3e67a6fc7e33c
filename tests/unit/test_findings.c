/*
 * Unit tests for the audit findings (daemon/findings.c): each code found
 * from the facts that make it and not from the ones that do not, the
 * expiring thresholds scaled to the lifetime (PITFALLS), long_validity by
 * notBefore, worst first, and one escaped line each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "findings.h"

#define DAY	86400
#define T0	1800000000LL	/* 2027-01-15 */

static struct findings_input
clean(int64_t life_days)
{
	struct findings_input in = {
		.valid_from = T0, .valid_until = T0 + life_days * DAY - 1,
		.subject = "CN=a.example", .issuer = "CN=Test CA,O=Test",
		.public_key = "EC P-256",
		.signature_algorithm = "ecdsa-with-SHA256",
		.chain_valid = 1, .hostname_match = 1, .chain_length = 2,
		.watch_renewal = 1, .publicly_trusted = 1,
	};
	return in;
}

static size_t
run(const struct findings_input *in, int64_t now, struct finding *f)
{
	return findings_compute(in, -1, now, f);
}

/* The finding with code, or NULL. */
static const struct finding *
has(const struct finding *f, size_t n, const char *code)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].code, code) == 0)
			return &f[i];
	return NULL;
}

static void
test_clean(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];

	(void)state;
	assert_int_equal(run(&in, T0 + DAY, f), 0);
}

static void
test_expiry_scaled(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	const struct finding *x;
	size_t n;

	(void)state;
	/* 90 days: expiring under 30 (high), under 7 (critical). */
	n = run(&in, in.valid_until - 29 * DAY, f);
	assert_non_null(x = has(f, n, "expiring"));
	assert_int_equal(x->severity, SEV_HIGH);
	n = run(&in, in.valid_until - 31 * DAY, f);
	assert_null(has(f, n, "expiring"));
	n = run(&in, in.valid_until - 6 * DAY, f);
	assert_int_equal(has(f, n, "expiring")->severity, SEV_CRITICAL);
	/* 6 days: not expiring at birth; 1 day is its threshold. */
	in = clean(6);
	n = run(&in, T0 + 3600, f);
	assert_null(has(f, n, "expiring"));
	n = run(&in, in.valid_until - 12 * 3600, f);
	assert_non_null(has(f, n, "expiring"));
	/* Given: applies as given. */
	in = clean(6);
	n = findings_compute(&in, 30, T0 + 3600, f);
	assert_non_null(has(f, n, "expiring"));
}

static void
test_expired_and_not_yet(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	n = run(&in, in.valid_until + 3 * DAY, f);
	assert_non_null(has(f, n, "expired"));
	assert_int_equal(f[0].severity, SEV_CRITICAL);
	assert_string_equal(f[0].text, "expired 3 days ago");
	assert_null(has(f, n, "expiring"));
	n = run(&in, T0 - 3600, f);
	assert_non_null(has(f, n, "not_yet_valid"));
	assert_null(has(f, n, "expired"));
}

static void
test_renewal_overdue(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	n = run(&in, T0 + 61 * DAY, f);
	assert_non_null(has(f, n, "renewal_overdue"));
	n = run(&in, T0 + 59 * DAY, f);
	assert_null(has(f, n, "renewal_overdue"));
	in.watch_renewal = 0;		/* a pasted PEM */
	n = run(&in, T0 + 61 * DAY, f);
	assert_null(has(f, n, "renewal_overdue"));
}

static void
test_chain(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	in.chain_valid = 0;
	in.verify_error = "unable to get local issuer certificate";
	in.chain_length = 1;
	n = run(&in, T0 + DAY, f);
	assert_non_null(has(f, n, "incomplete_chain"));
	assert_null(has(f, n, "untrusted_chain"));
	in.chain_length = 2;
	n = run(&in, T0 + DAY, f);
	assert_non_null(has(f, n, "untrusted_chain"));
	assert_null(has(f, n, "incomplete_chain"));
	in = clean(90);
	in.issuer = in.subject;
	n = run(&in, T0 + DAY, f);
	assert_non_null(has(f, n, "self_signed"));
	in = clean(90);
	in.hostname_match = 0;
	n = run(&in, T0 + DAY, f);
	assert_non_null(has(f, n, "hostname_mismatch"));
	/* Not known (a PEM item): nothing said. */
	in = clean(90);
	in.chain_valid = -1;
	in.hostname_match = -1;
	assert_int_equal(run(&in, T0 + DAY, f), 0);
}

static void
test_crypto(void **state)
{
	static const struct { const char *key; int weak; } keys[] = {
		{ "RSA 1024", 1 }, { "RSA 2048", 0 }, { "RSA 4096", 0 },
		{ "RSASSA-PSS 1024", 1 }, { "RSASSA-PSS 3072", 0 },
		{ "DSA 1024", 1 }, { "EC P-256", 0 }, { "EC P-224", 1 },
		{ "EC P-192", 1 }, { "EC P-384", 0 }, { "ED25519", 0 },
		{ "EC secp256k1", 0 }, { "EC", 0 },
	};
	static const struct { const char *sig; int weak; } sigs[] = {
		{ "sha1WithRSAEncryption", 1 }, { "ecdsa-with-SHA1", 1 },
		{ "md5WithRSAEncryption", 1 }, { "sha256WithRSAEncryption", 0 },
		{ "ecdsa-with-SHA384", 0 }, { "ED25519", 0 },
	};
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		in.public_key = keys[i].key;
		n = run(&in, T0 + DAY, f);
		if (keys[i].weak)
			assert_non_null(has(f, n, "weak_key"));
		else
			assert_null(has(f, n, "weak_key"));
	}
	in = clean(90);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		in.signature_algorithm = sigs[i].sig;
		n = run(&in, T0 + DAY, f);
		if (sigs[i].weak)
			assert_non_null(has(f, n, "weak_signature"));
		else
			assert_null(has(f, n, "weak_signature"));
	}
}

static void
test_long_validity(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	assert_int_equal(findings_max_validity_days(1773532799), 398);
	assert_int_equal(findings_max_validity_days(1773532800), 200);
	assert_int_equal(findings_max_validity_days(1805068800), 100);
	assert_int_equal(findings_max_validity_days(1868227200), 47);
	/* notBefore 2027-01-15: 200 days allowed. */
	in = clean(201);
	n = run(&in, T0 + DAY, f);
	assert_non_null(has(f, n, "long_validity"));
	in = clean(200);
	n = run(&in, T0 + DAY, f);
	assert_null(has(f, n, "long_validity"));
	/* A private CA's long certificate is not a finding. */
	in = clean(500);
	in.publicly_trusted = 0;
	n = run(&in, T0 + DAY, f);
	assert_null(has(f, n, "long_validity"));
}

static void
test_check_failing_and_order(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	in.check_failures = 2;
	assert_null(has(f, run(&in, T0 + DAY, f), "check_failing"));
	in.check_failures = 3;
	in.public_key = "RSA 1024";
	n = run(&in, in.valid_until + DAY, f);
	assert_non_null(has(f, n, "check_failing"));
	/* Worst first. */
	assert_string_equal(f[0].code, "expired");
	for (size_t i = 1; i < n; i++)
		assert_true(f[i - 1].severity >= f[i].severity);
	/* No certificate yet: only the failing check. */
	in.valid_until = 0;
	n = run(&in, T0 + DAY, f);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].code, "check_failing");
}

static void
test_hostile_text(void **state)
{
	struct findings_input in = clean(90);
	struct finding f[FINDINGS_MAX];
	size_t n;

	(void)state;
	in.chain_valid = 0;
	in.verify_error = "bad\n\xe2\x80\xae\x1b[31m";
	in.subject = in.issuer = "CN=x\r\n";
	n = run(&in, T0 + DAY, f);
	for (size_t i = 0; i < n; i++)
		for (const char *p = f[i].text; *p; p++) {
			assert_true((unsigned char)*p >= 0x20);
			assert_true(strncmp(p, "\xe2\x80\xae", 3) != 0);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_expiry_scaled),
		cmocka_unit_test(test_expired_and_not_yet),
		cmocka_unit_test(test_renewal_overdue),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_crypto),
		cmocka_unit_test(test_long_validity),
		cmocka_unit_test(test_check_failing_and_order),
		cmocka_unit_test(test_hostile_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
