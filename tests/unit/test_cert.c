/*
 * Unit tests for the managed-certificate checks: domain names (syntax,
 * length, case, A-labels, wildcards, duplicates, count), CA settings and the
 * CNAME instructions.  Pure functions, no store, no loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cert.h"
#include "issue.h"
#include "store.h"

static char err[1024];

static int
name_ok(const char *name)
{
	err[0] = '\0';
	return cert_check_name(name, strlen(name), err, sizeof(err)) == 0;
}

/* Refused, with a message that contains want. */
static void
refused(const char *name, const char *want)
{
	if (name_ok(name))
		fail_msg("'%s' was accepted", name);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message [%s] lacks [%s]", name, err, want);
}

static void
test_good_names(void **state)
{
	const char *good[] = {
		"example.com", "www.example.com", "a.b.c.example.co.uk",
		"*.example.com", "1password.com", "a-b.example", "x.y",
		"xn--mnchen-3ya.de",		/* münchen.de */
		"xn--bcher-kva.example",	/* bücher */
		"www.xn--fiqs8s.cn",		/* 中国 */
		"*.xn--mnchen-3ya.de",
		"abc.com0",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!name_ok(good[i]))
			fail_msg("'%s' refused: %s", good[i], err);
}

static void
test_bad_syntax(void **state)
{
	refused("", "cannot be empty");
	refused("exa_mple.com", "contains '_'");
	refused("exa mple.com", "space or control");
	refused("example.com.", "trailing dot");
	refused("a..example.com", "empty label");
	refused(".example.com", "empty label");
	refused("-a.example.com", "starts or ends with a hyphen");
	refused("a-.example.com", "starts or ends with a hyphen");
	refused("com", "at least two labels");
	refused("localhost", "at least two labels");
	refused("192.168.1.1", "IP address");
	refused("[::1]", "contains '['");
	refused("exa\001mple.com", "\\x01");
}

static void
test_case_and_idn(void **state)
{
	refused("Example.com", "lower case");
	refused("EXAMPLE.COM", "lower case");
	/* A U-label is refused with a pointer to the xn-- form. */
	refused("m\xc3\xbcnchen.de", "A-label form, xn--");
	refused("m\xc3\xbcnchen.de", "'m\xc3\xbcnchen.de'");
	refused("xn--.example.com", "hyphen");
	refused("xn--9999999999999.example.com", "not a valid A-label");
	refused("xn--zzzzzzzzzzzzzzzzz.example.com", "not a valid A-label");
	refused("ab--cd.example.com", "third and fourth positions");
}

static void
test_wildcards(void **state)
{
	refused("*.com", "wildcard needs at least two labels");
	refused("*.*.example.com", "only as the whole leftmost label");
	refused("www.*.example.com", "only as the whole leftmost label");
	refused("w*.example.com", "only as the whole leftmost label");
	refused("*", "only as the whole leftmost label");
	refused("*example.com", "only as the whole leftmost label");
}

static void
test_lengths(void **state)
{
	char label[80], name[400];

	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(name, sizeof(name), "%s.example.com", label);
	assert_true(name_ok(name));
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(name, sizeof(name), "%s.example.com", label);
	refused(name, "longer than 63");

	/* 253 characters in all is the limit: 3 x 63 + 61 + 3 dots = 253. */
	memset(label, 'b', 63);
	label[63] = '\0';
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label,
	    label);
	assert_int_equal(strlen(name), 253);
	assert_true(name_ok(name));
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", label, label, label,
	    label);
	assert_int_equal(strlen(name), 254);
	refused(name, "longer than 253");
}

static void
test_name_sets(void **state)
{
	const char *base[] = { "example.com", "*.example.com", "www.example.com" };
	const char *dup[] = { "example.com", "www.example.com", "example.com" };
	const char *bad[] = { "example.com", "Bad.example.com" };
	static char names[101][32];
	const char *many[101];

	assert_int_equal(cert_check_names(base, 3, err, sizeof(err)), 0);
	assert_int_equal(cert_check_names(dup, 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'example.com' is given twice"));
	assert_int_equal(cert_check_names(bad, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lower case"));
	assert_int_equal(cert_check_names(base, 0, err, sizeof(err)), -1);
	for (int i = 0; i < 101; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d.example.com", i);
		many[i] = names[i];
	}
	assert_int_equal(cert_check_names(many, 100, err, sizeof(err)), 0);
	assert_int_equal(cert_check_names(many, 101, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many names: 101"));
}

static void
test_ca_settings(void **state)
{
#define OK(fn, s) assert_int_equal(fn(s, strlen(s), err, sizeof(err)), 0)
#define NO(fn, s) assert_int_equal(fn(s, strlen(s), err, sizeof(err)), -1)
	OK(cert_check_directory, "https://acme.example/directory");
	OK(cert_check_directory, "https://127.0.0.1:14000/dir");
	NO(cert_check_directory, "http://acme.example/directory");
	NO(cert_check_directory, "ftp://acme.example/");
	NO(cert_check_directory, "https://");
	NO(cert_check_directory, "https:///path");
	NO(cert_check_directory, "https://user@acme.example/");
	NO(cert_check_directory, "https://acme.example/a b");
	OK(cert_check_eab_key, "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W");
	OK(cert_check_eab_key, "abcdefghijklmnopqrstuv");		/* 16 bytes */
	NO(cert_check_eab_key, "abcdefghijklmnopqrstu");		/* 15 */
	NO(cert_check_eab_key, "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajV+/==");
	NO(cert_check_eab_key, "");
	OK(cert_check_ca_name, "my-ca.test_1");
	NO(cert_check_ca_name, "My");
	NO(cert_check_ca_name, "-x");
	NO(cert_check_ca_name, "");
	OK(cert_check_email, "ops@example.com");
	NO(cert_check_email, "ops");
	NO(cert_check_email, "ops@@example.com");
	NO(cert_check_email, "ops@localhost");
	NO(cert_check_email, "<ops@example.com>");
	OK(cert_check_acme_profile, "shortlived");
	OK(cert_check_acme_profile, "Tls.Server_2-x");
	OK(cert_check_acme_profile, "");		/* none */
	OK(cert_check_acme_profile, "0123456789012345678901234567890123456789"
	    "012345678901234567890123");		/* 64 */
	NO(cert_check_acme_profile, "0123456789012345678901234567890123456789"
	    "0123456789012345678901234");		/* 65 */
	NO(cert_check_acme_profile, "short lived");
	NO(cert_check_acme_profile, "short\"lived");
	NO(cert_check_acme_profile, "caf\xc3\xa9");
	NO(cert_check_acme_profile, "a/b");
	assert_non_null(strstr(err, "ACME profile name"));
	/* A NUL inside the given length. */
	assert_int_equal(cert_check_acme_profile("ab\0c", 4, err, sizeof(err)),
	    -1);
}

static void
test_cnames(void **state)
{
	char *aliases[] = { "*.example.com", "www.example.com", "*.www.example.com",
	    "other.test" };
	struct store_cert c = {
		.domain = "example.com", .aliases = aliases, .naliases = 4,
		.label = "k3j9abc",
	};
	struct cert_cname v[8];
	size_t n;

	n = cert_cnames(&c, "acme.example.net.", v, 8);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "_acme-challenge.example.com.");
	assert_string_equal(v[0].target, "k3j9abc.acme.example.net.");
	assert_string_equal(v[1].name, "_acme-challenge.www.example.com.");
	assert_string_equal(v[2].name, "_acme-challenge.other.test.");
	assert_string_equal(v[2].target, "k3j9abc.acme.example.net.");
	assert_int_equal(cert_cnames(&c, "acme.example.net", NULL, 0), 3);
	assert_int_equal(cert_cnames(&c, NULL, v, 8), 0);
	c.label = NULL;
	assert_int_equal(cert_cnames(&c, "acme.example.net", v, 8), 0);
}

/* ARI: a point inside the CA's window, bounded by now and the threshold. */
static void
test_ari_window(void **state)
{
	(void)state;
	/* r spans the window. */
	assert_int_equal(issue_ari_pick(1000, 2000, 5000, 0, 0), 1000);
	assert_int_equal(issue_ari_pick(1000, 2000, 5000, 0, 2147483648u), 1500);
	assert_true(issue_ari_pick(1000, 2000, 5000, 0, 4294967295u) < 2000);
	assert_true(issue_ari_pick(1000, 2000, 5000, 0, 4294967295u) >= 1999);
	/* Never later than our own threshold. */
	assert_int_equal(issue_ari_pick(1000, 2000, 1200, 0, 4294967295u), 1200);
	/* A window already open: not in the past. */
	assert_int_equal(issue_ari_pick(1000, 2000, 5000, 1800, 0), 1800);
	/* A window past its end still renews now, not never. */
	assert_int_equal(issue_ari_pick(1000, 2000, 5000, 3000, 0), 3000);
	/* An inverted window is ignored. */
	assert_int_equal(issue_ari_pick(2000, 1000, 5000, 0, 0), 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_names),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_case_and_idn),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_name_sets),
		cmocka_unit_test(test_ca_settings),
		cmocka_unit_test(test_cnames),
		cmocka_unit_test(test_ari_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
