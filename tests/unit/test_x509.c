/*
 * Unit tests for daemon/x509.c.  Every certificate is built here with the
 * OpenSSL API, so the tests need no fixture files and no openssl binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509.h"

/* Key generation is the slow part (RSA under valgrind): do it once. */
struct keys {
	EVP_PKEY	*rsa;
	EVP_PKEY	*ec;
	EVP_PKEY	*ed;
};

static struct keys keys;

static int
setup_keys(void **state)
{
	keys.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	keys.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	keys.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return keys.rsa && keys.ec && keys.ed ? 0 : -1;
}

static int
teardown_keys(void **state)
{
	EVP_PKEY_free(keys.rsa);
	EVP_PKEY_free(keys.ec);
	EVP_PKEY_free(keys.ed);
	return 0;
}

/* --- building certificates ------------------------------------------------ */

static X509 *
new_cert(const char *not_before, const char *not_after)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notBefore(x),
	    not_before));
	assert_true(ASN1_TIME_set_string_X509(X509_getm_notAfter(x),
	    not_after));
	return x;
}

static void
name_add_len(X509_NAME *name, const char *field, const char *value, int len)
{
	assert_true(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
	    (const unsigned char *)value, len, -1, 0));
}

static void
subject_add(X509 *x, const char *field, const char *value)
{
	name_add_len(X509_get_subject_name(x), field, value, -1);
}

/* Signs x with key; a self-signed issuer unless one was set already. */
static void
sign_cert(X509 *x, EVP_PKEY *key)
{
	const EVP_MD *md = EVP_sha256();

	if (X509_NAME_entry_count(X509_get_issuer_name(x)) == 0)
		assert_true(X509_set_issuer_name(x, X509_get_subject_name(x)));
	assert_true(X509_set_pubkey(x, key));
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
		md = NULL;
	assert_true(X509_sign(x, key, md) > 0);
}

static void
san_push(GENERAL_NAMES *gens, int type, const void *data, int len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *s = ASN1_STRING_type_new(type == GEN_IPADD ?
	    V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);

	assert_non_null(gn);
	assert_non_null(s);
	assert_true(ASN1_STRING_set(s, data, len));
	GENERAL_NAME_set0_value(gn, type, s);
	assert_true(sk_GENERAL_NAME_push(gens, gn) > 0);
}

static void
san_dns(GENERAL_NAMES *gens, const char *name)
{
	san_push(gens, GEN_DNS, name, (int)strlen(name));
}

static void
san_ip(GENERAL_NAMES *gens, const char *text)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);

	assert_non_null(ip);
	san_push(gens, GEN_IPADD, ASN1_STRING_get0_data(ip),
	    ASN1_STRING_length(ip));
	ASN1_OCTET_STRING_free(ip);
}

/* Adds gens as the subjectAltName extension and frees them. */
static void
add_sans(X509 *x, GENERAL_NAMES *gens)
{
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT), 1);
	GENERAL_NAMES_free(gens);
}

static char *
to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_non_null(bio);
	assert_true(PEM_write_bio_X509(bio, x));
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	s = strndup(data, (size_t)n);
	assert_non_null(s);
	BIO_free(bio);
	return s;
}

/* The DER of x, base64 on one line, with extra bytes appended. */
static char *
der_base64(X509 *x, const unsigned char *extra, size_t nextra)
{
	unsigned char *der = NULL, *buf;
	char *b64;
	int n;

	n = i2d_X509(x, &der);
	assert_true(n > 0);
	buf = malloc((size_t)n + nextra);
	assert_non_null(buf);
	memcpy(buf, der, (size_t)n);
	if (nextra > 0)
		memcpy(buf + n, extra, nextra);
	OPENSSL_free(der);
	b64 = malloc(((size_t)n + nextra + 2) / 3 * 4 + 1);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, buf, (int)((size_t)n + nextra));
	free(buf);
	return b64;
}

static char *
concat(const char *first, ...)
{
	va_list ap;
	const char *s;
	char *out;
	size_t len = 0;

	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	out = malloc(len + 1);
	assert_non_null(out);
	out[0] = '\0';
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

/* SHA-256 of the DER, computed apart from the code under test. */
static void
expected_fingerprint(X509 *x, char out[65])
{
	unsigned char *der = NULL, md[32];
	unsigned int n = 0, i;
	int len;

	len = i2d_X509(x, &der);
	assert_true(len > 0);
	assert_true(EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL));
	assert_int_equal(n, 32);
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
}

/* --- running the code under test ------------------------------------------ */

/* Facts of x, taken the way the daemon takes them: through its PEM. */
static struct x509_facts *
facts_of(X509 *x)
{
	struct x509_facts *f;
	char err[256] = "", *pem = to_pem(x);

	f = x509_facts_from_pem(pem, strlen(pem), err, sizeof(err));
	if (f == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(ERR_peek_error(), 0);
	free(pem);
	return f;
}

static void
expect_refusal_len(const char *text, size_t len, const char *want)
{
	struct x509_facts *f;
	char err[256] = "";

	f = x509_facts_from_pem(text, len, err, sizeof(err));
	assert_null(f);
	assert_string_equal(err, want);
	/* A refusal must not leave errors behind for the next caller. */
	assert_int_equal(ERR_peek_error(), 0);
}

static void
expect_refusal(const char *text, const char *want)
{
	expect_refusal_len(text, strlen(text), want);
}

static void
expect_cert_refusal(X509 *x, const char *want)
{
	char *pem = to_pem(x), err[256] = "";

	expect_refusal(pem, want);
	assert_null(x509_facts_from_cert(x, err, sizeof(err)));
	assert_string_equal(err, want);
	assert_int_equal(ERR_peek_error(), 0);
	free(pem);
}

/* --- certificate facts ---------------------------------------------------- */

static void
test_rsa_full_subject(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	struct x509_facts *f;
	char fp[65], *pem;

	subject_add(x, "C", "DE");
	subject_add(x, "ST", "Bayern");
	subject_add(x, "L", "München");
	subject_add(x, "O", "Müller & Söhne, GmbH");
	subject_add(x, "OU", "Ops");
	subject_add(x, "OU", "Platform");
	subject_add(x, "CN", "www.example.com");
	sign_cert(x, keys.rsa);
	f = facts_of(x);

	assert_string_equal(f->common_name, "www.example.com");
	assert_string_equal(f->issued_by, "www.example.com");
	assert_string_equal(f->subject, "CN=www.example.com,OU=Platform,"
	    "OU=Ops,O=Müller & Söhne\\, GmbH,L=München,ST=Bayern,C=DE");
	assert_string_equal(f->issuer, f->subject);
	assert_string_equal(f->organization, "Müller & Söhne, GmbH");
	assert_string_equal(f->organizational_unit, "Ops, Platform");
	assert_string_equal(f->location, "München, Bayern, DE");
	assert_string_equal(f->serial_number, "01");
	assert_string_equal(f->signature_algorithm, "sha256WithRSAEncryption");
	assert_string_equal(f->public_key, "RSA 2048");
	expected_fingerprint(x, fp);
	assert_string_equal(f->fingerprint_sha256, fp);
	assert_int_equal(f->valid_from, 1704067200);
	assert_int_equal(f->valid_until, 2019686400);
	assert_int_equal(f->nsans, 0);
	assert_null(f->sans);
	pem = to_pem(x);
	assert_string_equal(f->pem, pem);
	free(pem);
	x509_facts_free(f);
	X509_free(x);
}

static void
test_ec_cn_only(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	struct x509_facts *f, *again;
	char err[256] = "", fp[65];

	subject_add(x, "CN", "ec.example");
	sign_cert(x, keys.ec);
	f = facts_of(x);
	assert_string_equal(f->common_name, "ec.example");
	assert_string_equal(f->issued_by, "ec.example");
	assert_string_equal(f->subject, "CN=ec.example");
	assert_string_equal(f->issuer, "CN=ec.example");
	assert_null(f->organization);
	assert_null(f->organizational_unit);
	assert_null(f->location);
	assert_string_equal(f->signature_algorithm, "ecdsa-with-SHA256");
	assert_string_equal(f->public_key, "EC P-256");
	expected_fingerprint(x, fp);
	assert_string_equal(f->fingerprint_sha256, fp);

	/* The re-encoded PEM is the same certificate. */
	again = x509_facts_from_pem(f->pem, strlen(f->pem), err, sizeof(err));
	assert_non_null(again);
	assert_string_equal(again->fingerprint_sha256, fp);
	x509_facts_free(again);

	/* Straight from the parsed certificate, without PEM. */
	again = x509_facts_from_cert(x, err, sizeof(err));
	assert_non_null(again);
	assert_string_equal(again->public_key, "EC P-256");
	assert_string_equal(again->fingerprint_sha256, fp);
	x509_facts_free(again);
	x509_facts_free(f);
	X509_free(x);
}

static void
test_other_ec_curves(void **state)
{
	static const struct {
		const char	*group;
		const char	*want;
	} cases[] = {
		{ "P-384", "EC P-384" },
		{ "P-521", "EC P-521" },
		{ "secp256k1", "EC secp256k1" },
		{ "brainpoolP256r1", "EC brainpoolP256r1" },
	};
	struct x509_facts *f;
	EVP_PKEY *key;
	X509 *x;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].group);
		assert_non_null(key);
		x = new_cert("20240101000000Z", "20340101000000Z");
		subject_add(x, "CN", "curve");
		sign_cert(x, key);
		f = facts_of(x);
		assert_string_equal(f->public_key, cases[i].want);
		x509_facts_free(f);
		X509_free(x);
		EVP_PKEY_free(key);
	}
}

static void
test_ed25519(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	struct x509_facts *f;

	subject_add(x, "CN", "ed.example");
	sign_cert(x, keys.ed);
	f = facts_of(x);
	assert_string_equal(f->signature_algorithm, "ED25519");
	assert_string_equal(f->public_key, "ED25519");
	x509_facts_free(f);
	X509_free(x);
}

static void
test_issuer_differs(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	X509_NAME *iss = X509_get_issuer_name(x);
	struct x509_facts *f;

	name_add_len(iss, "O", "Example Trust", -1);
	name_add_len(iss, "CN", "Example CA", -1);
	subject_add(x, "CN", "leaf.example");
	sign_cert(x, keys.ec);
	f = facts_of(x);
	assert_string_equal(f->issued_by, "Example CA");
	assert_string_equal(f->issuer, "CN=Example CA,O=Example Trust");
	assert_string_equal(f->subject, "CN=leaf.example");
	x509_facts_free(f);
	X509_free(x);
}

static void
test_issued_by_fallbacks(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	struct x509_facts *f;

	/* No CN: the organization names the issuer. */
	subject_add(x, "O", "Only Org");
	sign_cert(x, keys.ec);
	f = facts_of(x);
	assert_null(f->common_name);
	assert_string_equal(f->issued_by, "Only Org");
	assert_string_equal(f->organization, "Only Org");
	x509_facts_free(f);
	X509_free(x);

	/* Neither: nothing to show, but the DN is still there. */
	x = new_cert("20240101000000Z", "20340101000000Z");
	subject_add(x, "C", "DE");
	sign_cert(x, keys.ec);
	f = facts_of(x);
	assert_null(f->common_name);
	assert_null(f->issued_by);
	assert_null(f->organization);
	assert_string_equal(f->location, "DE");
	assert_string_equal(f->subject, "C=DE");
	x509_facts_free(f);
	X509_free(x);
}

static void
test_sans(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	struct x509_facts *f;
	char name[64];
	int i;

	subject_add(x, "CN", "multi.example");
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "host%d.example.net", i);
		san_dns(gens, name);
	}
	san_ip(gens, "192.0.2.10");
	san_push(gens, GEN_EMAIL, "ops@example.net", 15);	/* skipped */
	san_ip(gens, "2001:db8::10");
	san_push(gens, GEN_URI, "https://example.net/", 20);	/* skipped */
	san_dns(gens, "*.Wild.Example.NET");
	add_sans(x, gens);
	sign_cert(x, keys.ec);
	f = facts_of(x);

	assert_int_equal(f->nsans, 53);
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "host%d.example.net", i);
		assert_string_equal(f->sans[i], name);
	}
	assert_string_equal(f->sans[50], "192.0.2.10");
	assert_string_equal(f->sans[51], "2001:db8::10");
	assert_string_equal(f->sans[52], "*.Wild.Example.NET");
	x509_facts_free(f);
	X509_free(x);
}

static void
test_sans_only_skipped_kinds(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	struct x509_facts *f;

	subject_add(x, "CN", "mail.example");
	san_push(gens, GEN_EMAIL, "ops@example.net", 15);
	add_sans(x, gens);
	sign_cert(x, keys.ec);
	f = facts_of(x);
	assert_int_equal(f->nsans, 0);
	assert_null(f->sans);
	x509_facts_free(f);
	X509_free(x);
}

static X509 *
cert_with_n_sans(int n)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	int i;

	subject_add(x, "CN", "many.example");
	for (i = 0; i < n; i++)
		san_dns(gens, "a");
	add_sans(x, gens);
	sign_cert(x, keys.ec);
	return x;
}

static void
test_san_limit(void **state)
{
	struct x509_facts *f;
	X509 *x;

	x = cert_with_n_sans(10000);
	f = facts_of(x);
	assert_int_equal(f->nsans, 10000);
	assert_string_equal(f->sans[9999], "a");
	x509_facts_free(f);
	X509_free(x);

	x = cert_with_n_sans(10001);
	expect_cert_refusal(x, "too many subjectAltNames");
	X509_free(x);
}

static void
test_san_bad_ip_length(void **state)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();

	subject_add(x, "CN", "ip.example");
	san_dns(gens, "ip.example");
	san_push(gens, GEN_IPADD, "\xc0\x00\x02\x01\x01", 5);
	add_sans(x, gens);
	sign_cert(x, keys.ec);
	expect_cert_refusal(x, "malformed IP address in subjectAltName");
	X509_free(x);
}

static void
test_cn_with_nul(void **state)
{
	static const char spoof[] = "good.example\0.evil.example";
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");

	name_add_len(X509_get_subject_name(x), "CN", spoof,
	    (int)sizeof(spoof) - 1);
	sign_cert(x, keys.ec);
	expect_cert_refusal(x, "certificate name contains a NUL byte (CN)");
	X509_free(x);
}

static void
test_second_ou_with_nul(void **state)
{
	static const char spoof[] = "Ops\0Admin";
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");

	subject_add(x, "CN", "ou.example");
	subject_add(x, "OU", "Dev");
	name_add_len(X509_get_subject_name(x), "OU", spoof,
	    (int)sizeof(spoof) - 1);
	sign_cert(x, keys.ec);
	expect_cert_refusal(x, "certificate name contains a NUL byte (OU)");
	X509_free(x);
}

static void
test_issuer_o_with_nul(void **state)
{
	static const char spoof[] = "Trusted\0CA";
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");

	name_add_len(X509_get_issuer_name(x), "O", spoof,
	    (int)sizeof(spoof) - 1);
	subject_add(x, "CN", "leaf.example");
	sign_cert(x, keys.ec);
	expect_cert_refusal(x, "certificate name contains a NUL byte (O)");
	X509_free(x);
}

static void
test_san_with_nul(void **state)
{
	static const char spoof[] = "good.example\0.evil.example";
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();

	subject_add(x, "CN", "good.example");
	san_dns(gens, "good.example");
	san_push(gens, GEN_DNS, spoof, (int)sizeof(spoof) - 1);
	add_sans(x, gens);
	sign_cert(x, keys.ec);
	expect_cert_refusal(x,
	    "certificate name contains a NUL byte (subjectAltName)");
	X509_free(x);
}

static void
test_serials(void **state)
{
	static const struct {
		const char	*hex;	/* BN_hex2bn input */
		const char	*want;
	} cases[] = {
		{ "1", "01" },
		{ "0", "00" },
		{ "A1B", "0A1B" },
		{ "-1", "-01" },
		{ "8F0102030405060708090A0B0C0D0E0F10111213",
		  "8F0102030405060708090A0B0C0D0E0F10111213" },
	};
	struct x509_facts *f;
	BIGNUM *bn;
	X509 *x;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = new_cert("20240101000000Z", "20340101000000Z");
		bn = NULL;
		assert_true(BN_hex2bn(&bn, cases[i].hex) > 0);
		assert_non_null(BN_to_ASN1_INTEGER(bn,
		    X509_get_serialNumber(x)));
		BN_free(bn);
		subject_add(x, "CN", "serial.example");
		sign_cert(x, keys.ec);
		f = facts_of(x);
		assert_string_equal(f->serial_number, cases[i].want);
		x509_facts_free(f);
		X509_free(x);
	}
}

static void
test_validity_dates(void **state)
{
	static const struct {
		const char	*from, *until;
		int64_t		 want_from, want_until;
		const char	*status_now;	/* at 2024-06-01 */
	} cases[] = {
		/* expired */
		{ "20000101000000Z", "20010101000000Z",
		  946684800, 978307200, "expired" },
		/* not yet valid; GeneralizedTime past 2049 */
		{ "20900101000000Z", "99991231235959Z",
		  3786912000, INT64_C(253402300799), "not_yet_valid" },
		/* UTCTime and GeneralizedTime on either side of 2050 */
		{ "20491231235959Z", "20500101000000Z",
		  2524607999, 2524608000, "not_yet_valid" },
		/* before the epoch */
		{ "19500101000000Z", "19691231235959Z",
		  -631152000, -1, "expired" },
	};
	const int64_t june2024 = 1717200000;
	struct x509_facts *f;
	X509 *x;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = new_cert(cases[i].from, cases[i].until);
		subject_add(x, "CN", "dates.example");
		sign_cert(x, keys.ec);
		f = facts_of(x);
		assert_int_equal(f->valid_from, cases[i].want_from);
		assert_int_equal(f->valid_until, cases[i].want_until);
		assert_string_equal(x509_validity_status(f->valid_from,
		    f->valid_until, june2024), cases[i].status_now);
		x509_facts_free(f);
		X509_free(x);
	}
}

static void
test_from_cert_null(void **state)
{
	char err[64] = "";

	assert_null(x509_facts_from_cert(NULL, err, sizeof(err)));
	assert_string_equal(err, "no certificate");
	x509_facts_free(NULL);
}

/* --- PEM walking ---------------------------------------------------------- */

static X509 *
simple_cert(const char *cn)
{
	X509 *x = new_cert("20240101000000Z", "20340101000000Z");

	subject_add(x, "CN", cn);
	sign_cert(x, keys.ec);
	return x;
}

static void
test_pem_two_certs(void **state)
{
	X509 *a = simple_cert("a.example"), *b = simple_cert("b.example");
	char *pa = to_pem(a), *pb = to_pem(b), *text;

	text = concat(pa, pb, NULL);
	expect_refusal(text, "found 2 certificates");
	free(text);

	text = concat("junk before\n", pa, "garbage in between\n", pb,
	    "trailing words", NULL);
	expect_refusal(text, "found 2 certificates");
	free(text);

	text = concat(pa, pb, pa, NULL);
	expect_refusal(text, "found 3 certificates");
	free(text);

	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
}

/* err must not carry any line of the key's base64, not even a short one. */
static void
assert_no_key_bytes(const char *err, const char *keypem)
{
	const char *line = keypem, *nl;
	char chunk[17];

	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		if (line[0] == '-' || nl - line < 16)
			continue;
		memcpy(chunk, line, 16);
		chunk[16] = '\0';
		assert_null(strstr(err, chunk));
	}
}

static char *
key_pem(EVP_PKEY *key, int traditional)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_non_null(bio);
	if (traditional)
		assert_true(PEM_write_bio_PrivateKey_traditional(bio, key,
		    NULL, NULL, 0, NULL, NULL));
	else
		assert_true(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
		    NULL, NULL));
	n = BIO_get_mem_data(bio, &data);
	s = strndup(data, (size_t)n);
	assert_non_null(s);
	BIO_free(bio);
	return s;
}

static void
test_pem_private_key(void **state)
{
	const char *want = "found a private key, not a certificate";
	X509 *x = simple_cert("key.example");
	char *cert = to_pem(x), *pkcs8 = key_pem(keys.ec, 0);
	char *trad = key_pem(keys.rsa, 1), *text, err[256];
	struct x509_facts *f;

	assert_non_null(strstr(pkcs8, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(trad, "-----BEGIN RSA PRIVATE KEY-----"));

	err[0] = '\0';
	f = x509_facts_from_pem(pkcs8, strlen(pkcs8), err, sizeof(err));
	assert_null(f);
	assert_string_equal(err, want);
	assert_no_key_bytes(err, pkcs8);

	expect_refusal(trad, want);

	/* A certificate with its key pasted after it. */
	text = concat(cert, trad, NULL);
	err[0] = '\0';
	assert_null(x509_facts_from_pem(text, strlen(text), err, sizeof(err)));
	assert_string_equal(err, want);
	assert_no_key_bytes(err, trad);
	free(text);

	/* The key first and never terminated: still called a key. */
	text = concat(trad, NULL);
	*strstr(text, "-----END") = '\0';
	expect_refusal(text, want);
	free(text);

	/* A key opened inside a certificate block. */
	text = concat("-----BEGIN CERTIFICATE-----\n", trad, NULL);
	expect_refusal(text, want);
	free(text);

	/* Boundaries too broken to parse still name a key. */
	expect_refusal("-----BEGIN RSA PRIVATE KEY\nAAAA\n", want);
	expect_refusal("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END private key\n", want);

	expect_refusal("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
	    "AAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", want);
	expect_refusal("-----BEGIN OPENSSH PRIVATE KEY-----\n"
	    "AAAA\n-----END OPENSSH PRIVATE KEY-----\n", want);

	free(cert);
	free(pkcs8);
	free(trad);
	X509_free(x);
}

static void
test_pem_nothing(void **state)
{
	char err[64] = "";

	expect_refusal("", "found no certificate");
	expect_refusal("just some words\nand more\n", "found no certificate");
	assert_null(x509_facts_from_pem(NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "found no certificate");
}

static void
test_pem_binary(void **state)
{
	static const char nul[] = "abc\0\x01\x02garbage";
	static const char ctl[] = "-----BEGIN CERTIFICATE-----\n\x01\n";

	expect_refusal_len(nul, sizeof(nul) - 1,
	    "input is not text (binary data at byte 3)");
	expect_refusal(ctl, "input is not text (binary data at byte 28)");
	expect_refusal("ab\x7f", "input is not text (binary data at byte 2)");
	expect_refusal_len("\0", 1,
	    "input is not text (binary data at byte 0)");
}

static void
test_pem_too_large(void **state)
{
	char *big = malloc(X509_PEM_MAX + 1);

	assert_non_null(big);
	memset(big, ' ', X509_PEM_MAX + 1);
	expect_refusal_len(big, X509_PEM_MAX + 1,
	    "input too large (262145 bytes, limit 262144)");
	/* The limit itself is still looked at. */
	expect_refusal_len(big, X509_PEM_MAX, "found no certificate");
	free(big);
}

static void
test_pem_bad_base64(void **state)
{
	X509 *x = simple_cert("b64.example");
	char *pem = to_pem(x), *body, *text, *b64;

	/* A character outside the alphabet in the middle of the body. */
	body = strchr(pem, '\n') + 10;
	*body = '*';
	expect_refusal(pem, "certificate block is not valid base64");
	free(pem);

	/* A quantum cut short. */
	expect_refusal("-----BEGIN CERTIFICATE-----\nQUJD\nQQ\n"
	    "-----END CERTIFICATE-----\n",
	    "certificate block is not valid base64");

	/* Fine base64, but not a certificate. */
	expect_refusal("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQh\n"
	    "-----END CERTIFICATE-----\n", "certificate DER is malformed");
	expect_refusal("-----BEGIN CERTIFICATE-----\n"
	    "-----END CERTIFICATE-----\n", "certificate DER is malformed");

	/* A whole certificate followed by two stray bytes. */
	b64 = der_base64(x, (const unsigned char *)"\0\0", 2);
	text = concat("-----BEGIN CERTIFICATE-----\n", b64,
	    "\n-----END CERTIFICATE-----\n", NULL);
	expect_refusal(text, "trailing bytes inside the certificate block");
	free(text);
	free(b64);

	/* The same DER on one long line is fine. */
	b64 = der_base64(x, NULL, 0);
	text = concat("-----BEGIN CERTIFICATE-----\n", b64,
	    "\n-----END CERTIFICATE-----\n", NULL);
	{
		char err[256] = "";
		struct x509_facts *f = x509_facts_from_pem(text, strlen(text),
		    err, sizeof(err));

		if (f == NULL)
			fail_msg("refused: %s", err);
		assert_string_equal(f->common_name, "b64.example");
		x509_facts_free(f);
	}
	free(text);
	free(b64);
	X509_free(x);
}

static void
test_pem_broken_blocks(void **state)
{
	X509 *x = simple_cert("cut.example");
	char *pem = to_pem(x), *text;

	text = strdup(pem);
	assert_non_null(text);
	*strstr(text, "-----END") = '\0';
	expect_refusal(text, "unterminated PEM block");
	free(text);

	/* A second BEGIN before the first block ended. */
	text = strdup(pem);
	assert_non_null(text);
	*strstr(text, "-----END") = '\0';
	{
		char *two = concat(text, pem, NULL);

		expect_refusal(two, "unterminated PEM block");
		free(two);
	}
	free(text);

	text = strdup(pem);
	assert_non_null(text);
	memcpy(strstr(text, "-----END CERTIFICATE"), "-----END CERTIFICATX",
	    20);
	expect_refusal(text, "mismatched PEM block labels");
	free(text);

	expect_refusal("-----END CERTIFICATE-----\n",
	    "PEM END line without a BEGIN line");
	expect_refusal("-----BEGIN CERTIFICATE\nAAAA\n",
	    "malformed PEM BEGIN line");
	expect_refusal("-----BEGIN CERTIFICATE-----\nAAAA\n-----END\n",
	    "malformed PEM END line");

	free(pem);
	X509_free(x);
}

static void
test_pem_other_labels(void **state)
{
	X509 *x = simple_cert("label.example");
	char *pem = to_pem(x), *text;

	expect_refusal("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
	    "-----END CERTIFICATE REQUEST-----\n",
	    "found a CERTIFICATE REQUEST block, not a certificate");
	text = concat(pem, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
	    "-----END PUBLIC KEY-----\n", NULL);
	expect_refusal(text, "found a PUBLIC KEY block, not a certificate");
	free(text);
	expect_refusal("-----BEGIN X509 CERTIFICATE-----\nAAAA\n"
	    "-----END X509 CERTIFICATE-----\n",
	    "found a X509 CERTIFICATE block, not a certificate");
	free(pem);
	X509_free(x);
}

static void
test_pem_explanatory_text(void **state)
{
	X509 *x = simple_cert("text.example");
	char *pem = to_pem(x), *text, err[256] = "", fp[65];
	struct x509_facts *f;

	expected_fingerprint(x, fp);
	text = concat("Subject: CN=text.example\n"
	    "Zertifikat für Grüße — issued by ops\n\n", pem,
	    "\nThat was it.  -----\n", NULL);
	f = x509_facts_from_pem(text, strlen(text), err, sizeof(err));
	if (f == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(f->fingerprint_sha256, fp);
	assert_string_equal(f->pem, pem);
	x509_facts_free(f);
	free(text);
	free(pem);
	X509_free(x);
}

static char *
with_crlf(const char *s)
{
	char *out = malloc(2 * strlen(s) + 1), *p;

	assert_non_null(out);
	for (p = out; *s != '\0'; s++) {
		if (*s == '\n')
			*p++ = '\r';
		*p++ = *s;
	}
	*p = '\0';
	return out;
}

static void
test_pem_crlf(void **state)
{
	X509 *x = simple_cert("crlf.example");
	char *pem = to_pem(x), *text = with_crlf(pem), err[256] = "", fp[65];
	struct x509_facts *f;

	expected_fingerprint(x, fp);
	f = x509_facts_from_pem(text, strlen(text), err, sizeof(err));
	if (f == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(f->fingerprint_sha256, fp);
	assert_string_equal(f->common_name, "crlf.example");
	x509_facts_free(f);
	free(text);
	free(pem);
	X509_free(x);
}

static void
test_pem_short_err_buffer(void **state)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	assert_null(x509_facts_from_pem("", 0, err, sizeof(err)));
	assert_string_equal(err, "found n");
	assert_null(x509_facts_from_pem("", 0, NULL, 0));
}

/* --- time ----------------------------------------------------------------- */

static void
test_days_remaining(void **state)
{
	const int64_t until = 1798027131;

	assert_int_equal(x509_days_remaining(until, until - 1), 0);
	assert_int_equal(x509_days_remaining(until, until), 0);
	assert_int_equal(x509_days_remaining(until, until + 1), -1);
	assert_int_equal(x509_days_remaining(until, until - 86400), 1);
	assert_int_equal(x509_days_remaining(until, until - 86401), 1);
	assert_int_equal(x509_days_remaining(until, until - 86399), 0);
	assert_int_equal(x509_days_remaining(until, until + 86400), -1);
	assert_int_equal(x509_days_remaining(until, until + 86401), -2);
	assert_int_equal(x509_days_remaining(-1, 0), -1);
	/* Absurd dates saturate instead of overflowing. */
	assert_true(x509_days_remaining(INT64_MAX, INT64_MIN) > 0);
	assert_true(x509_days_remaining(INT64_MIN, INT64_MAX) < 0);
}

static void
test_validity_status(void **state)
{
	const int64_t from = 1704067200, until = 2019686400;

	assert_string_equal(x509_validity_status(from, until, from - 1),
	    "not_yet_valid");
	assert_string_equal(x509_validity_status(from, until, from), "valid");
	assert_string_equal(x509_validity_status(from, until, from + 1),
	    "valid");
	assert_string_equal(x509_validity_status(from, until, until - 1),
	    "valid");
	assert_string_equal(x509_validity_status(from, until, until), "valid");
	assert_string_equal(x509_validity_status(from, until, until + 1),
	    "expired");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_full_subject),
		cmocka_unit_test(test_ec_cn_only),
		cmocka_unit_test(test_other_ec_curves),
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_issuer_differs),
		cmocka_unit_test(test_issued_by_fallbacks),
		cmocka_unit_test(test_sans),
		cmocka_unit_test(test_sans_only_skipped_kinds),
		cmocka_unit_test(test_san_limit),
		cmocka_unit_test(test_san_bad_ip_length),
		cmocka_unit_test(test_cn_with_nul),
		cmocka_unit_test(test_second_ou_with_nul),
		cmocka_unit_test(test_issuer_o_with_nul),
		cmocka_unit_test(test_san_with_nul),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_validity_dates),
		cmocka_unit_test(test_from_cert_null),
		cmocka_unit_test(test_pem_two_certs),
		cmocka_unit_test(test_pem_private_key),
		cmocka_unit_test(test_pem_nothing),
		cmocka_unit_test(test_pem_binary),
		cmocka_unit_test(test_pem_too_large),
		cmocka_unit_test(test_pem_bad_base64),
		cmocka_unit_test(test_pem_broken_blocks),
		cmocka_unit_test(test_pem_other_labels),
		cmocka_unit_test(test_pem_explanatory_text),
		cmocka_unit_test(test_pem_crlf),
		cmocka_unit_test(test_pem_short_err_buffer),
		cmocka_unit_test(test_days_remaining),
		cmocka_unit_test(test_validity_status),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
