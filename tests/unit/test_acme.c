/*
 * Unit tests for daemon/acme.c's protocol part (no network): base64url,
 * JWK thumbprints (RFC 7638 vector), JWS checked with OpenSSL's own verify,
 * EAB, key authorizations, Retry-After, ARI certIDs, the strict document
 * parsers against good and hostile input, and the Link header parser of
 * http.c.  One loop test uses a refused loopback port: callbacks run once,
 * from the loop, and a cancelled operation never calls back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "daemon.h"
#include "http.h"
#include "keystore.h"

static EVP_PKEY *ec256, *ec384, *rsa2048;

static int
setup_keys(void **state)
{
	char err[256];

	ec256 = keystore_generate(KEY_EC256, err, sizeof(err));
	ec384 = keystore_generate(KEY_EC384, err, sizeof(err));
	rsa2048 = keystore_generate(KEY_RSA2048, err, sizeof(err));
	return ec256 && ec384 && rsa2048 ? 0 : -1;
}

static int
teardown_keys(void **state)
{
	EVP_PKEY_free(ec256);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(rsa2048);
	return 0;
}

/* Decodes a base64url member into a new NUL-terminated buffer. */
static unsigned char *
b64_member(json_t *obj, const char *key, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, key));
	unsigned char *out;
	int n;

	assert_non_null(s);
	out = malloc(strlen(s) + 1);
	assert_non_null(out);
	n = acme_b64url_decode(s, strlen(s), out, strlen(s) + 1);
	assert_true(n >= 0);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

/* --- base64url --------------------------------------------------------- */

static void
test_b64url(void **state)
{
	unsigned char bin[256], back[256];
	char txt[400];
	int n;

	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(bin); len += 1) {
		n = acme_b64url_encode(bin, len, txt, sizeof(txt));
		assert_true(n >= 0);
		assert_null(strpbrk(txt, "+/="));
		assert_int_equal(acme_b64url_decode(txt, (size_t)n, back,
		    sizeof(back)), (int)len);
		assert_memory_equal(bin, back, len);
	}
	assert_int_equal(acme_b64url_encode("\xfb\xff", 2, txt, sizeof(txt)), 3);
	assert_string_equal(txt, "-_8");
	assert_int_equal(acme_b64url_encode("abc", 3, txt, 4), -1);
	/* Padding, the standard alphabet, a lone char, non-zero tail bits. */
	assert_int_equal(acme_b64url_decode("YQ==", 4, back, sizeof(back)), -1);
	assert_int_equal(acme_b64url_decode("+/8", 3, back, sizeof(back)), -1);
	assert_int_equal(acme_b64url_decode("Y", 1, back, sizeof(back)), -1);
	assert_int_equal(acme_b64url_decode("YR", 2, back, sizeof(back)), -1);
	assert_int_equal(acme_b64url_decode("YQ", 2, back, sizeof(back)), 1);
	assert_int_equal(acme_b64url_decode("YWJj", 4, back, 2), -1);
}

/* --- RFC 7638 §3.1 ------------------------------------------------------- */

static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP"
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9"
    "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
    "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
    "r3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static EVP_PKEY *
rsa_public(const char *n64, const char *e64)
{
	unsigned char n[512], e[8];
	int nl = acme_b64url_decode(n64, strlen(n64), n, sizeof(n));
	int el = acme_b64url_decode(e64, strlen(e64), e, sizeof(e));
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, nl, NULL), *be = BN_bin2bn(e, el, NULL);
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *key = NULL;

	assert_true(nl > 0 && el > 0);
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY,
	    params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	return key;
}

static void
test_thumbprint_rfc7638(void **state)
{
	EVP_PKEY *key = rsa_public(rfc7638_n, "AQAB");
	char tp[64], err[256], *jwk;

	jwk = acme_jwk(key, err, sizeof(err));
	assert_non_null(jwk);
	assert_int_equal(strncmp(jwk, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7",
	    31), 0);
	free(jwk);
	assert_int_equal(acme_thumbprint(key, tp, sizeof(tp), err,
	    sizeof(err)), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_int_equal(acme_thumbprint(key, tp, 20, err, sizeof(err)), -1);
	EVP_PKEY_free(key);
}

static void
test_jwk_ec(void **state)
{
	char err[256], *jwk = acme_jwk(ec256, err, sizeof(err));
	json_t *j = json_loads(jwk, 0, NULL);
	BIGNUM *x = NULL;
	unsigned char want[32], *got;
	size_t len;

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "crv")),
	    "P-256");
	assert_string_equal(json_string_value(json_object_get(j, "kty")), "EC");
	assert_int_equal(json_object_size(j), 4);
	/* Coordinates are fixed width (32 bytes), leading zeros kept. */
	assert_true(EVP_PKEY_get_bn_param(ec256, OSSL_PKEY_PARAM_EC_PUB_X, &x));
	BN_bn2binpad(x, want, 32);
	got = b64_member(j, "x", &len);
	assert_int_equal(len, 32);
	assert_memory_equal(got, want, 32);
	free(got);
	got = b64_member(j, "y", &len);
	assert_int_equal(len, 32);
	free(got);
	/* Members in lexical order, no whitespace (RFC 7638 §3.3). */
	assert_int_equal(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"",
	    31), 0);
	BN_free(x);
	json_decref(j);
	free(jwk);
	jwk = acme_jwk(ec384, err, sizeof(err));
	assert_non_null(strstr(jwk, "\"P-384\""));
	free(jwk);
	assert_null(acme_jwk(NULL, err, sizeof(err)));
}

/* --- JWS ------------------------------------------------------------------- */

/* Verifies a flattened JWS with OpenSSL; returns 1 when it verifies. */
static int
jws_verifies(const char *jws, EVP_PKEY *key)
{
	json_t *j = json_loads(jws, 0, NULL);
	const char *p64 = json_string_value(json_object_get(j, "protected"));
	const char *pl64 = json_string_value(json_object_get(j, "payload"));
	unsigned char *sig, *der = NULL;
	size_t siglen, derlen;
	char *input;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = EVP_sha256();
	int ok;

	sig = b64_member(j, "signature", &siglen);
	input = malloc(strlen(p64) + strlen(pl64) + 2);
	sprintf(input, "%s.%s", p64, pl64);
	if (EVP_PKEY_is_a(key, "EC")) {
		/* JWS has raw r||s; OpenSSL verifies DER. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		size_t w = siglen / 2;

		if (w == 48)
			md = EVP_sha384();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)w, NULL),
		    BN_bin2bn(sig + w, (int)w, NULL));
		derlen = (size_t)i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
	} else {
		der = OPENSSL_memdup(sig, siglen);
		derlen = siglen;
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, der, derlen, (unsigned char *)input,
	    strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	free(sig);
	free(input);
	json_decref(j);
	return ok;
}

static json_t *
jws_header(const char *jws)
{
	json_t *j = json_loads(jws, 0, NULL), *h;
	unsigned char *raw;
	size_t len;

	assert_non_null(j);
	assert_int_equal(json_object_size(j), 3);
	raw = b64_member(j, "protected", &len);
	h = json_loadb((char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(h);
	free(raw);
	json_decref(j);
	return h;
}

static void
check_jws(EVP_PKEY *key, const char *alg, size_t siglen)
{
	char err[256], *jws, *tampered, *jwk;
	json_t *h, *j;
	unsigned char *raw;
	size_t len;

	/* New account: jwk, no kid. */
	jws = acme_jws(key, NULL, "nonce-1", "https://ca.test/new-acct",
	    "{\"termsOfServiceAgreed\":true}", err, sizeof(err));
	assert_non_null(jws);
	h = jws_header(jws);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), alg);
	assert_string_equal(json_string_value(json_object_get(h, "nonce")),
	    "nonce-1");
	assert_string_equal(json_string_value(json_object_get(h, "url")),
	    "https://ca.test/new-acct");
	assert_null(json_object_get(h, "kid"));
	jwk = acme_jwk(key, err, sizeof(err));
	j = json_loads(jwk, 0, NULL);
	assert_true(json_equal(json_object_get(h, "jwk"), j));
	json_decref(j);
	free(jwk);
	json_decref(h);
	j = json_loads(jws, 0, NULL);
	raw = b64_member(j, "payload", &len);
	assert_string_equal((char *)raw, "{\"termsOfServiceAgreed\":true}");
	free(raw);
	raw = b64_member(j, "signature", &len);
	assert_int_equal(len, siglen);
	free(raw);
	json_decref(j);
	assert_true(jws_verifies(jws, key));
	/* One changed payload character must break the signature. */
	tampered = strdup(jws);
	char *pl = strstr(tampered, "\"payload\":\"") + 11;
	*pl = *pl == 'e' ? 'f' : 'e';
	assert_false(jws_verifies(tampered, key));
	free(tampered);
	free(jws);

	/* Later requests: kid, no jwk; POST-as-GET has an empty payload. */
	jws = acme_jws(key, "https://ca.test/acct/7", "nonce-2",
	    "https://ca.test/order/1", NULL, err, sizeof(err));
	assert_non_null(jws);
	h = jws_header(jws);
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
	    "https://ca.test/acct/7");
	assert_null(json_object_get(h, "jwk"));
	json_decref(h);
	j = json_loads(jws, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "payload")),
	    "");
	json_decref(j);
	assert_true(jws_verifies(jws, key));
	free(jws);
}

static void
test_jws_es256(void **state)
{
	check_jws(ec256, "ES256", 64);
}

static void
test_jws_es384(void **state)
{
	check_jws(ec384, "ES384", 96);
}

static void
test_jws_rs256(void **state)
{
	check_jws(rsa2048, "RS256", 256);
}

static void
test_jws_refused(void **state)
{
	char err[256];

	assert_null(acme_jws(NULL, NULL, "n", "https://x", "{}", err,
	    sizeof(err)));
	assert_null(acme_jws(ec256, NULL, NULL, "https://x", "{}", err,
	    sizeof(err)));
	assert_string_equal(acme_jws_alg(rsa2048), "RS256");
}

static void
test_eab(void **state)
{
	/* pebble's example kid-1 key. */
	const char *mac64 =
	    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
	unsigned char mac[64], md[32], *raw, *sig;
	unsigned int mdlen;
	char err[256], *eab, *jwk, *input;
	json_t *j, *h;
	size_t len, siglen;
	int maclen;

	eab = acme_eab_jws(ec256, "kid-1", mac64, "https://ca.test/new-acct",
	    err, sizeof(err));
	assert_non_null(eab);
	h = jws_header(eab);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
	    "HS256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
	    "kid-1");
	assert_string_equal(json_string_value(json_object_get(h, "url")),
	    "https://ca.test/new-acct");
	assert_null(json_object_get(h, "nonce"));
	json_decref(h);
	j = json_loads(eab, 0, NULL);
	raw = b64_member(j, "payload", &len);
	jwk = acme_jwk(ec256, err, sizeof(err));
	assert_string_equal((char *)raw, jwk);
	free(raw);
	free(jwk);
	/* The MAC is over protected "." payload with the decoded key. */
	maclen = acme_b64url_decode(mac64, strlen(mac64), mac, sizeof(mac));
	assert_int_equal(maclen, 48);
	const char *p64 = json_string_value(json_object_get(j, "protected"));
	const char *pl64 = json_string_value(json_object_get(j, "payload"));
	input = malloc(strlen(p64) + strlen(pl64) + 2);
	sprintf(input, "%s.%s", p64, pl64);
	HMAC(EVP_sha256(), mac, maclen, (unsigned char *)input, strlen(input),
	    md, &mdlen);
	sig = b64_member(j, "signature", &siglen);
	assert_int_equal(siglen, 32);
	assert_memory_equal(sig, md, 32);
	free(sig);
	free(input);
	json_decref(j);
	free(eab);

	/* A key that is not base64url is refused without being quoted. */
	err[0] = '\0';
	assert_null(acme_eab_jws(ec256, "kid-1", "not+base64/secretZZ",
	    "https://ca.test/new-acct", err, sizeof(err)));
	assert_non_null(strstr(err, "MAC key"));
	assert_null(strstr(err, "secret"));
	assert_null(acme_eab_jws(ec256, "kid-1", "c2hvcnQ",
	    "https://ca.test/new-acct", err, sizeof(err)));
	assert_null(acme_eab_jws(ec256, NULL, mac64, "https://x", err,
	    sizeof(err)));
}

/* --- key authorization, DNS-01 ------------------------------------------- */

/* An independent SHA-256 + base64url (OpenSSL's encoder, alphabet swapped). */
static void
ref_txt(const char *ka, char *out)
{
	unsigned char md[32];
	unsigned char b64[64];
	int n;

	EVP_Digest(ka, strlen(ka), md, NULL, EVP_sha256(), NULL);
	n = EVP_EncodeBlock(b64, md, 32);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[n] = '\0';
}

static void
test_key_authorization(void **state)
{
	const char *token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
	const char *tp = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
	char ka[512], txt[64], want[64];

	assert_int_equal(acme_key_authorization(token, tp, ka, sizeof(ka)), 0);
	assert_string_equal(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_int_equal(acme_dns01_txt(token, tp, txt, sizeof(txt)), 0);
	ref_txt(ka, want);
	assert_string_equal(txt, want);
	assert_int_equal(strlen(txt), 43);
	/* Tokens from the CA are base64url only. */
	assert_int_equal(acme_dns01_txt("a.b", tp, txt, sizeof(txt)), -1);
	assert_int_equal(acme_dns01_txt("", tp, txt, sizeof(txt)), -1);
	assert_int_equal(acme_dns01_txt("to ken", tp, txt, sizeof(txt)), -1);
	assert_int_equal(acme_key_authorization(token, tp, ka, 20), -1);
}

/* --- times ------------------------------------------------------------------ */

static void
test_retry_after(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const int64_t t = 1445412480;
	int64_t d;

	assert_int_equal(acme_retry_after("120", t, &d), 0);
	assert_int_equal(d, 120);
	assert_int_equal(acme_retry_after("0", t, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(acme_retry_after("99999999999999999999", t, &d), 0);
	assert_int_equal(d, ACME_RETRY_AFTER_MAX);
	assert_int_equal(acme_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	    t - 30, &d), 0);
	assert_int_equal(d, 30);
	assert_int_equal(acme_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT",
	    t - 45, &d), 0);
	assert_int_equal(d, 45);
	assert_int_equal(acme_retry_after("Wed Oct 21 07:28:00 2015", t - 60,
	    &d), 0);
	assert_int_equal(d, 60);
	/* In the past: now; far future: clamped. */
	assert_int_equal(acme_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	    t + 100, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(acme_retry_after("Wed, 21 Oct 2099 07:28:00 GMT", t,
	    &d), 0);
	assert_int_equal(d, ACME_RETRY_AFTER_MAX);
	const char *bad[] = { "", "-5", "12a", "1.5", " 12", "soon",
	    "Wed, 21 Oct 2015 07:28:00", "Wed, 21 Oct 2015 07:28:00 GMT x",
	    "Wed, 32 Oct 2015 07:28:00 GMT", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(acme_retry_after(bad[i], t, &d), -1);
	assert_int_equal(acme_retry_after(NULL, t, &d), -1);
}

static void
test_time_parse(void **state)
{
	int64_t t;

	assert_int_equal(acme_time_parse("2015-10-21T07:28:00Z", &t), 0);
	assert_int_equal(t, 1445412480);
	assert_int_equal(acme_time_parse("2015-10-21T07:28:00.123456Z", &t), 0);
	assert_int_equal(t, 1445412480);
	assert_int_equal(acme_time_parse("2015-10-21T09:28:00+02:00", &t), 0);
	assert_int_equal(t, 1445412480);
	assert_int_equal(acme_time_parse("2015-10-21T07:28:00", &t), -1);
	assert_int_equal(acme_time_parse("2015-13-21T07:28:00Z", &t), -1);
	assert_int_equal(acme_time_parse("2015-02-30T07:28:00Z", &t), -1);
	assert_int_equal(acme_time_parse("2015-10-21 07:28:00Z", &t), -1);
	assert_int_equal(acme_time_parse("2015-10-21T07:28:00.Z", &t), -1);
	assert_int_equal(acme_time_parse("+015-10-21T07:28:00Z", &t), -1);
}

/* --- ARI ---------------------------------------------------------------------- */

/* A certificate with the AKI and serial of RFC 9773's example. */
static X509 *
ari_cert(int with_aki)
{
	static const unsigned char kid[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87,
	    0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C,
	    0xDE, 0x01, 0xC8, 0xD4 };
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	X509_NAME *name = X509_NAME_new();

	BN_hex2bn(&bn, "87654321");
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (unsigned char *)"ari.test", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, ec256);
	if (with_aki) {
		AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();

		akid->keyid = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(akid->keyid, kid, sizeof(kid));
		X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0);
		AUTHORITY_KEYID_free(akid);
	}
	assert_true(X509_sign(x, ec256, EVP_sha256()) > 0);
	return x;
}

static void
test_ari_cert_id(void **state)
{
	X509 *x = ari_cert(1);
	char id[256], err[256];

	assert_int_equal(acme_ari_cert_id(x, id, sizeof(id), err,
	    sizeof(err)), 0);
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	assert_int_equal(acme_ari_cert_id(x, id, 20, err, sizeof(err)), -1);
	X509_free(x);
	x = ari_cert(0);
	assert_int_equal(acme_ari_cert_id(x, id, sizeof(id), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "authority key identifier"));
	X509_free(x);
}

/* --- documents ------------------------------------------------------------------- */

#define PARSE(fn, s) fn((s), strlen(s), err, sizeof(err))

static void
test_directory(void **state)
{
	char err[256];
	struct acme_directory *d;

	d = PARSE(acme_directory_parse, "{"
	    "\"newNonce\":\"https://ca.test/nonce\","
	    "\"newAccount\":\"https://ca.test/acct\","
	    "\"newOrder\":\"https://ca.test/order\","
	    "\"revokeCert\":\"https://ca.test/revoke\","
	    "\"keyChange\":\"https://ca.test/kc\","
	    "\"renewalInfo\":\"https://ca.test/ari/\","
	    "\"xyz\":[1,2,{\"a\":null}],"
	    "\"meta\":{\"termsOfService\":\"https://ca.test/tos.pdf\","
	    "\"externalAccountRequired\":true,\"profiles\":{\"classic\":\"x\"}}}");
	assert_non_null(d);
	assert_string_equal(d->new_nonce, "https://ca.test/nonce");
	assert_string_equal(d->renewal_info, "https://ca.test/ari/");
	assert_string_equal(d->terms_of_service, "https://ca.test/tos.pdf");
	assert_true(d->eab_required);
	assert_true(d->has_profiles);
	acme_directory_free(d);
	d = PARSE(acme_directory_parse, "{"
	    "\"newNonce\":\"https://ca.test/nonce\","
	    "\"newAccount\":\"https://ca.test/acct\","
	    "\"newOrder\":\"https://ca.test/order\"}");
	assert_non_null(d);
	assert_null(d->renewal_info);
	assert_null(d->revoke_cert);
	assert_false(d->eab_required);
	acme_directory_free(d);

	const char *bad[] = {
		"",
		"[]",
		"\"x\"",
		"{",
		"{\"newNonce\":\"https://a\",\"newAccount\":\"https://b\"}",
		"{\"newNonce\":\"http://a\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\"}",
		"{\"newNonce\":7,\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\"}",
		"{\"newNonce\":\"https://a\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\",\"newOrder\":\"https://d\"}",
		"{\"newNonce\":\"https://a b\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\"}",
		"{\"newNonce\":\"https://a\\u0000x\",\"newAccount\":"
		    "\"https://b\",\"newOrder\":\"https://c\"}",
		"{\"newNonce\":\"https://a\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\",\"meta\":[]}",
		"{\"newNonce\":\"https://a\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\",\"meta\":"
		    "{\"externalAccountRequired\":\"yes\"}}",
		"{\"newNonce\":\"https://\",\"newAccount\":\"https://b\","
		    "\"newOrder\":\"https://c\"}",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		d = PARSE(acme_directory_parse, bad[i]);
		if (d != NULL)
			fail_msg("accepted bad directory %d", i);
		assert_true(err[0] != '\0');
	}
	/* Bounded: an over-long document and deep nesting never crash. */
	size_t big = ACME_DOC_MAX + 10;
	char *s = malloc(big + 1);
	memset(s, ' ', big);
	s[0] = '{';
	s[big - 1] = '}';
	s[big] = '\0';
	assert_null(acme_directory_parse(s, big, err, sizeof(err)));
	assert_non_null(strstr(err, "larger"));
	for (size_t i = 0; i < 100000; i++)
		s[i] = '[';
	assert_null(acme_directory_parse(s, 100000, err, sizeof(err)));
	free(s);
}

#define DIR_URLS "\"newNonce\":\"https://ca.test/nonce\"," \
	"\"newAccount\":\"https://ca.test/acct\"," \
	"\"newOrder\":\"https://ca.test/order\""

static void
test_directory_profiles(void **state)
{
	char err[512], *s;
	struct acme_directory *d;
	size_t off;

	/* Let's Encrypt's three, in the CA's order. */
	d = PARSE(acme_directory_parse, "{" DIR_URLS ",\"meta\":{\"profiles\":{"
	    "\"classic\":\"The same profile you're accustomed to\","
	    "\"shortlived\":\"https://letsencrypt.org/docs/profiles#shortlived\","
	    "\"tlsserver\":\"https://letsencrypt.org/docs/profiles#tlsserver\""
	    "}}}");
	assert_non_null(d);
	assert_true(d->has_profiles);
	assert_int_equal(d->nprofiles, 3);
	assert_false(d->profiles_truncated);
	assert_string_equal(d->profiles[0], "classic");
	assert_string_equal(d->profiles[2], "tlsserver");
	assert_true(acme_directory_offers(d, "shortlived"));
	assert_false(acme_directory_offers(d, "Shortlived"));
	assert_false(acme_directory_offers(d, "short"));
	assert_int_equal(acme_directory_check_profile(d, "tlsserver", err,
	    sizeof(err)), 0);
	assert_int_equal(acme_directory_check_profile(d, "modern", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "ACME profile 'modern' is not offered: this "
	    "CA offers classic, shortlived, tlsserver");
	acme_directory_free(d);

	/* No profiles at all, or an empty map: nothing is offered. */
	d = PARSE(acme_directory_parse, "{" DIR_URLS "}");
	assert_non_null(d);
	assert_false(d->has_profiles);
	assert_false(acme_directory_offers(d, "classic"));
	assert_int_equal(acme_directory_check_profile(d, "classic", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "ACME profile 'classic' is not offered: this "
	    "CA offers no profiles");
	acme_directory_free(d);
	d = PARSE(acme_directory_parse, "{" DIR_URLS ",\"meta\":{\"profiles\":"
	    "{}}}");
	assert_non_null(d);
	assert_true(d->has_profiles);
	assert_int_equal(d->nprofiles, 0);
	assert_false(acme_directory_offers(d, "classic"));
	acme_directory_free(d);

	/*
	 * Hostile maps: a profiles member that is no object is ignored, bad
	 * entries are skipped, and the directory itself still parses.
	 */
	const char *ignored[] = {
		"[\"classic\"]", "\"classic\"", "null", "7", "true",
	};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		char doc[512];

		snprintf(doc, sizeof(doc), "{" DIR_URLS ",\"meta\":{"
		    "\"profiles\":%s}}", ignored[i]);
		d = PARSE(acme_directory_parse, doc);
		assert_non_null(d);
		assert_false(d->has_profiles);
		assert_int_equal(d->nprofiles, 0);
		acme_directory_free(d);
	}
	s = malloc(4096);
	assert_non_null(s);
	off = (size_t)snprintf(s, 4096, "{" DIR_URLS ",\"meta\":{\"profiles\":{"
	    "\"\":\"empty\",\"has space\":\"x\",\"semi;colon\":\"x\","
	    "\"quote'\":\"x\",\"nl\\n\":\"x\",\"tab\\t\":\"x\","
	    "\"caf\\u00e9\":\"x\",\"");
	memset(s + off, 'a', 65);
	off += 65;
	off += (size_t)snprintf(s + off, 4096 - off, "\":\"too long\","
	    "\"object\":{\"a\":1},\"number\":3,\"null\":null,"
	    "\"ok-1.2_3\":\"\",\"");
	memset(s + off, 'b', 64);
	off += 64;
	snprintf(s + off, 4096 - off, "\":\"64 bytes\"}}}");
	d = acme_directory_parse(s, strlen(s), err, sizeof(err));
	assert_non_null(d);
	assert_true(d->has_profiles);
	assert_int_equal(d->nprofiles, 2);
	assert_string_equal(d->profiles[0], "ok-1.2_3");
	assert_int_equal(strlen(d->profiles[1]), 64);
	assert_false(acme_directory_offers(d, "has space"));
	assert_false(acme_directory_offers(d, "object"));
	assert_false(acme_directory_offers(d, ""));
	/* A bad name asked for is refused whatever the CA lists. */
	assert_int_equal(acme_directory_check_profile(d, "a b", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not 1 to 64"));
	acme_directory_free(d);

	/*
	 * Refused by the JSON loader like anywhere in the document: a
	 * duplicate member, a NUL in a member name.
	 */
	d = PARSE(acme_directory_parse, "{" DIR_URLS ",\"meta\":{\"profiles\":{"
	    "\"a\":\"x\",\"a\":\"y\"}}}");
	assert_null(d);
	d = PARSE(acme_directory_parse, "{" DIR_URLS ",\"meta\":{\"profiles\":{"
	    "\"nul\\u0000x\":\"x\"}}}");
	assert_null(d);

	/* At the limit: 32 kept; one more and the CA decides. */
	for (int extra = 0; extra <= 1; extra++) {
		off = (size_t)snprintf(s, 4096, "{" DIR_URLS ",\"meta\":{"
		    "\"profiles\":{");
		for (int i = 0; i < ACME_PROFILES_MAX + extra; i++)
			off += (size_t)snprintf(s + off, 4096 - off,
			    "%s\"p%d\":\"x\"", i ? "," : "", i);
		snprintf(s + off, 4096 - off, "}}}");
		d = acme_directory_parse(s, strlen(s), err, sizeof(err));
		assert_non_null(d);
		assert_int_equal(d->nprofiles, ACME_PROFILES_MAX);
		assert_int_equal(d->profiles_truncated, extra);
		assert_true(acme_directory_offers(d, "p31"));
		assert_int_equal(acme_directory_offers(d, "p32"), extra);
		assert_int_equal(acme_directory_offers(d, "nope"), extra);
		/* The sentence naming all 32 fits and stays one sentence. */
		if (!extra) {
			assert_int_equal(acme_directory_check_profile(d, "nope",
			    err, sizeof(err)), -1);
			assert_non_null(strstr(err, "p0, p1, "));
		}
		acme_directory_free(d);
	}
	free(s);
}

/* Parses an order payload back: its identifiers' values and profile. */
static void
check_payload(const char *payload, const char *const *names, size_t n,
    const char *profile)
{
	json_error_t jerr;
	json_t *root, *ids, *v;

	root = json_loads(payload, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(root);
	assert_true(json_is_object(root));
	assert_int_equal(json_object_size(root), profile ? 2 : 1);
	ids = json_object_get(root, "identifiers");
	assert_true(json_is_array(ids));
	assert_int_equal(json_array_size(ids), n);
	for (size_t i = 0; i < n; i++) {
		json_t *id = json_array_get(ids, i);

		assert_int_equal(json_object_size(id), 2);
		assert_string_equal(json_string_value(json_object_get(id,
		    "type")), "dns");
		assert_string_equal(json_string_value(json_object_get(id,
		    "value")), names[i]);
	}
	v = json_object_get(root, "profile");
	if (profile == NULL)
		assert_null(v);
	else
		assert_string_equal(json_string_value(v), profile);
	json_decref(root);
}

static void
test_order_payload(void **state)
{
	const char *names[] = { "a.test", "*.b.test" };
	const char *many[ACME_IDENTIFIERS_MAX + 1];
	char err[256], *p, longname[ACME_PROFILE_NAME_MAX + 2];

	p = acme_order_payload(names, 2, NULL, err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(p, "{\"identifiers\":[{\"type\":\"dns\",\"value\":"
	    "\"a.test\"},{\"type\":\"dns\",\"value\":\"*.b.test\"}]}");
	check_payload(p, names, 2, NULL);
	free(p);
	p = acme_order_payload(names, 2, "shortlived", err, sizeof(err));
	assert_non_null(p);
	check_payload(p, names, 2, "shortlived");
	free(p);
	memset(longname, 'x', ACME_PROFILE_NAME_MAX);
	longname[ACME_PROFILE_NAME_MAX] = '\0';
	p = acme_order_payload(names, 1, longname, err, sizeof(err));
	assert_non_null(p);
	check_payload(p, names, 1, longname);
	free(p);

	/* Refused: bad profiles (nothing to inject), bad names, bad counts. */
	const char *bad_profiles[] = { "", "short lived", "a\"b", "a\\b",
	    "x\n", "caf\xc3\xa9", "a,b", "{}", NULL };
	for (int i = 0; bad_profiles[i]; i++) {
		err[0] = '\0';
		assert_null(acme_order_payload(names, 2, bad_profiles[i], err,
		    sizeof(err)));
		assert_non_null(strstr(err, "ACME profile"));
	}
	longname[ACME_PROFILE_NAME_MAX] = 'x';
	longname[ACME_PROFILE_NAME_MAX + 1] = '\0';
	assert_null(acme_order_payload(names, 2, longname, err, sizeof(err)));
	assert_null(acme_order_payload(names, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "1 to 100"));
	for (size_t i = 0; i <= ACME_IDENTIFIERS_MAX; i++)
		many[i] = "a.test";
	p = acme_order_payload(many, ACME_IDENTIFIERS_MAX, "classic", err,
	    sizeof(err));
	assert_non_null(p);
	free(p);
	assert_null(acme_order_payload(many, ACME_IDENTIFIERS_MAX + 1,
	    "classic", err, sizeof(err)));
	names[1] = "bad name";
	assert_null(acme_order_payload(names, 2, "classic", err, sizeof(err)));
	assert_non_null(strstr(err, "identifier 2"));
	names[1] = "";
	assert_null(acme_order_payload(names, 2, NULL, err, sizeof(err)));
}

static const char good_order[] = "{"
    "\"status\":\"pending\",\"expires\":\"2030-01-01T00:00:00Z\","
    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"},"
    "{\"type\":\"dns\",\"value\":\"*.b.test\"}],"
    "\"authorizations\":[\"https://ca.test/authz/1\","
    "\"https://ca.test/authz/2\"],"
    "\"finalize\":\"https://ca.test/finalize/1\"}";

static void
test_order(void **state)
{
	char err[256], *s;
	struct acme_order *o;
	size_t n;

	o = PARSE(acme_order_parse, good_order);
	assert_non_null(o);
	assert_int_equal(o->status, ACME_ST_PENDING);
	assert_int_equal(o->expires, 1893456000);
	assert_int_equal(o->nidentifiers, 2);
	assert_string_equal(o->identifiers[1].value, "*.b.test");
	assert_int_equal(o->nauthorizations, 2);
	assert_string_equal(o->authorizations[1], "https://ca.test/authz/2");
	assert_null(o->certificate);
	assert_false(o->has_error);
	acme_order_free(o);

	o = PARSE(acme_order_parse, "{\"status\":\"invalid\","
	    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"authorizations\":[],\"finalize\":\"https://ca.test/f\","
	    "\"error\":{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
	    "\"detail\":\"no\\nway\",\"status\":400}}");
	assert_non_null(o);
	assert_true(o->has_error);
	assert_true(acme_problem_is(&o->error, "rejectedIdentifier"));
	/* Control characters from the CA never reach a log line. */
	assert_string_equal(o->error.detail, "no?way");
	acme_order_free(o);

	o = PARSE(acme_order_parse, "{\"status\":\"valid\","
	    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"authorizations\":[\"https://ca.test/a\"],"
	    "\"finalize\":\"https://ca.test/f\","
	    "\"certificate\":\"https://ca.test/cert/1\"}");
	assert_non_null(o);
	assert_string_equal(o->certificate, "https://ca.test/cert/1");
	acme_order_free(o);

	const char *bad[] = {
		"{\"status\":\"bogus\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],"
		    "\"finalize\":\"https://f\"}",
		"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
		    "\"authorizations\":[],\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[],"
		    "\"authorizations\":[],\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[\"a\"],"
		    "\"authorizations\":[],\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":1}],\"authorizations\":[],"
		    "\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[7],"
		    "\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":\"https://x\","
		    "\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[]}",
		"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],"
		    "\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"expires\":\"tomorrow\","
		    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
		    "\"authorizations\":[],\"finalize\":\"https://f\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],"
		    "\"finalize\":\"https://f\",\"error\":\"boom\"}",
		"{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],"
		    "\"finalize\":\"https://f\",\"error\":{\"status\":\"400\"}}",
		NULL,
	};
	for (int i = 0; bad[i]; i++)
		if ((o = PARSE(acme_order_parse, bad[i])) != NULL)
			fail_msg("accepted bad order %d", i);

	/* The identifier bound: 100 pass, 101 fail. */
	for (int lim = ACME_IDENTIFIERS_MAX; lim <= ACME_IDENTIFIERS_MAX + 1;
	    lim++) {
		s = malloc(64 * 200);
		n = (size_t)sprintf(s, "{\"status\":\"ready\",\"finalize\":"
		    "\"https://f\",\"authorizations\":[],\"identifiers\":[");
		for (int i = 0; i < lim; i++)
			n += (size_t)sprintf(s + n, "%s{\"type\":\"dns\","
			    "\"value\":\"n%d.test\"}", i ? "," : "", i);
		strcpy(s + n, "]}");
		o = acme_order_parse(s, strlen(s), err, sizeof(err));
		if (lim == ACME_IDENTIFIERS_MAX) {
			assert_non_null(o);
			assert_int_equal(o->nidentifiers, lim);
		} else
			assert_null(o);
		acme_order_free(o);
		free(s);
	}
}

static void
test_authz_challenge(void **state)
{
	char err[256];
	struct acme_authz *a;
	struct acme_challenge *c;
	const struct acme_challenge *dns;

	a = PARSE(acme_authz_parse, "{\"status\":\"pending\","
	    "\"expires\":\"2030-01-01T00:00:00Z\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"b.test\"},"
	    "\"wildcard\":true,\"challenges\":["
	    "{\"type\":\"http-01\",\"url\":\"https://ca.test/c/1\","
	    "\"token\":\"tok1\",\"status\":\"pending\"},"
	    "{\"type\":\"dns-01\",\"url\":\"https://ca.test/c/2\","
	    "\"token\":\"DGyRejmCefe7v4NfDGDKfA\",\"status\":\"pending\"},"
	    "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca.test/c/3\","
	    "\"token\":\"tok3\",\"status\":\"invalid\",\"error\":"
	    "{\"type\":\"urn:ietf:params:acme:error:connection\"}}]}");
	assert_non_null(a);
	assert_true(a->wildcard);
	assert_string_equal(a->identifier.value, "b.test");
	assert_int_equal(a->nchallenges, 3);
	dns = acme_authz_challenge(a, "dns-01");
	assert_non_null(dns);
	assert_string_equal(dns->token, "DGyRejmCefe7v4NfDGDKfA");
	assert_string_equal(dns->url, "https://ca.test/c/2");
	assert_true(a->challenges[2].has_error);
	assert_null(acme_authz_challenge(a, "dns-account-01"));
	acme_authz_free(a);

	c = PARSE(acme_challenge_parse, "{\"type\":\"dns-01\","
	    "\"url\":\"https://ca.test/c/2\",\"status\":\"valid\","
	    "\"validated\":\"2030-01-01T00:00:00Z\",\"token\":\"abc\"}");
	assert_non_null(c);
	assert_int_equal(c->status, ACME_ST_VALID);
	acme_challenge_free(c);

	const char *bad[] = {
		/* token with a dot would forge another key authorization */
		"{\"type\":\"dns-01\",\"url\":\"https://c\",\"status\":"
		    "\"pending\",\"token\":\"a.b\"}",
		"{\"type\":\"dns-01\",\"url\":\"https://c\",\"status\":"
		    "\"pending\",\"token\":7}",
		"{\"type\":\"dns-01\",\"status\":\"pending\"}",
		"{\"type\":[],\"url\":\"https://c\",\"status\":\"pending\"}",
		"{\"type\":\"dns-01\",\"url\":\"ftp://c\",\"status\":\"pending\"}",
		NULL,
	};
	for (int i = 0; bad[i]; i++)
		if ((c = PARSE(acme_challenge_parse, bad[i])) != NULL)
			fail_msg("accepted bad challenge %d", i);

	const char *bad_authz[] = {
		"{\"status\":\"pending\",\"challenges\":[]}",
		"{\"status\":\"pending\",\"identifier\":\"b\",\"challenges\":[]}",
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"b\"},\"challenges\":{}}",
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"b\"},\"challenges\":[],\"wildcard\":1}",
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"b\"},\"challenges\":[null]}",
		NULL,
	};
	for (int i = 0; bad_authz[i]; i++)
		if ((a = PARSE(acme_authz_parse, bad_authz[i])) != NULL)
			fail_msg("accepted bad authz %d", i);

	/* 17 challenges: over the bound. */
	char s[4096];
	size_t n = (size_t)sprintf(s, "{\"status\":\"pending\",\"identifier\":"
	    "{\"type\":\"dns\",\"value\":\"b\"},\"challenges\":[");
	for (int i = 0; i <= ACME_CHALLENGES_MAX; i++)
		n += (size_t)sprintf(s + n, "%s{\"type\":\"x\",\"url\":"
		    "\"https://c/%d\",\"status\":\"pending\"}", i ? "," : "", i);
	strcpy(s + n, "]}");
	assert_null(PARSE(acme_authz_parse, s));
}

static void
test_problem_account_ari(void **state)
{
	char err[256];
	struct acme_problem p;
	struct acme_account *a;
	struct acme_renewal_info *r;
	const char *pj = "{\"type\":\"urn:ietf:params:acme:error:malformed\","
	    "\"detail\":\"Some of the identifiers requested were rejected\","
	    "\"status\":400,\"subproblems\":[{\"type\":"
	    "\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"x\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"bad.test\"}}]}";

	assert_int_equal(acme_problem_parse(pj, strlen(pj), &p, err,
	    sizeof(err)), 0);
	assert_true(acme_problem_is(&p, "malformed"));
	assert_false(acme_problem_is(&p, "badNonce"));
	assert_int_equal(p.status, 400);
	assert_string_equal(p.sub_identifier, "bad.test");
	assert_string_equal(p.sub_type,
	    "urn:ietf:params:acme:error:rejectedIdentifier");
	pj = "{\"detail\":\"no type\"}";
	assert_int_equal(acme_problem_parse(pj, strlen(pj), &p, err,
	    sizeof(err)), 0);
	assert_string_equal(p.type, "about:blank");
	pj = "{\"type\":\"x\",\"status\":99999}";
	assert_int_equal(acme_problem_parse(pj, strlen(pj), &p, err,
	    sizeof(err)), -1);
	pj = "{\"type\":5}";
	assert_int_equal(acme_problem_parse(pj, strlen(pj), &p, err,
	    sizeof(err)), -1);
	/* A long detail is truncated, never overflows. */
	char big[5000];
	int n = sprintf(big, "{\"type\":\"t\",\"detail\":\"");
	memset(big + n, 'd', 4000);
	strcpy(big + n + 4000, "\"}");
	assert_int_equal(acme_problem_parse(big, strlen(big), &p, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(p.detail), ACME_DETAIL_MAX - 1);

	a = PARSE(acme_account_parse, "{\"status\":\"valid\",\"contact\":"
	    "[\"mailto:a@b.test\"],\"orders\":\"https://ca.test/orders/1\"}");
	assert_non_null(a);
	assert_int_equal(a->status, ACME_ST_VALID);
	assert_string_equal(a->orders, "https://ca.test/orders/1");
	acme_account_free(a);
	assert_null(PARSE(acme_account_parse, "{\"status\":true}"));
	assert_null(PARSE(acme_account_parse, "{\"status\":\"valid\","
	    "\"orders\":\"http://x\"}"));

	r = PARSE(acme_renewal_info_parse, "{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
	    "\"explanationURL\":\"https://ca.test/docs/ari\"}");
	assert_non_null(r);
	assert_int_equal(r->window_end - r->window_start, 86400);
	assert_string_equal(r->explanation_url, "https://ca.test/docs/ari");
	acme_renewal_info_free(r);
	assert_null(PARSE(acme_renewal_info_parse, "{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}"));
	assert_null(PARSE(acme_renewal_info_parse, "{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-03T04:00:00Z\"}}"));
	assert_null(PARSE(acme_renewal_info_parse, "{\"suggestedWindow\":[]}"));
}

/* --- http.c's Link parser ------------------------------------------------------- */

static void
free_links(struct http_link *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].url);
		free(l[i].rel);
	}
}

static void
test_link(void **state)
{
	struct http_link l[4] = { 0 };
	size_t n = 0;

	assert_int_equal(http_parse_link("<https://ca.test/dir>;rel=\"index\", "
	    "<https://ca.test/cert/1/1> ; rel=Alternate ; title=\"a, b\"",
	    l, &n, 4), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].url, "https://ca.test/dir");
	assert_string_equal(l[0].rel, "index");
	assert_string_equal(l[1].url, "https://ca.test/cert/1/1");
	assert_string_equal(l[1].rel, "alternate");
	/* A second header appends; no rel: skipped; past max: ignored. */
	assert_int_equal(http_parse_link("<https://x/up>;rel=\"up\", <https://y>, "
	    "<https://z>;rel=up, <https://w>;rel=up", l, &n, 4), 0);
	assert_int_equal(n, 4);
	assert_string_equal(l[2].url, "https://x/up");
	assert_string_equal(l[3].url, "https://z");
	free_links(l, n);
	n = 0;
	assert_int_equal(http_parse_link("https://no-brackets;rel=up", l, &n, 4),
	    -1);
	assert_int_equal(http_parse_link("<https://unterminated;rel=up", l, &n,
	    4), -1);
	assert_int_equal(http_parse_link("<https://a>;rel=\"open", l, &n, 4), -1);
	assert_int_equal(http_parse_link("<https://a>;rel=up junk", l, &n, 4),
	    -1);
	assert_int_equal(n, 0);
	assert_int_equal(http_parse_link("", l, &n, 4), 0);
	assert_int_equal(n, 0);
}

/* --- the client on a loop, against a refused loopback port ------------------ */

struct loop_ctx {
	struct acme_client *free_client;	/* freed from the callback */
	int	 calls;
	int	 inside_start;
	char	 err[512];
	struct event_base *base;
};

static void
loop_cb(const struct acme_result *res, void *arg)
{
	struct loop_ctx *ctx = arg;

	if (ctx->inside_start)
		fail_msg("callback ran inside the starting call");
	ctx->calls++;
	assert_false(res->ok);
	snprintf(ctx->err, sizeof(ctx->err), "%s", res->err);
	if (ctx->free_client != NULL) {
		acme_client_free(ctx->free_client);
		ctx->free_client = NULL;
	}
	event_base_loopbreak(ctx->base);
}

static void
never_cb(const struct acme_result *res, void *arg)
{
	fail_msg("a cancelled operation called back: %s", res->err);
}

static void
test_client_unreachable(void **state)
{
	struct event_base *base = event_base_new();
	struct loop_ctx ctx = { .base = base };
	struct acme_client_conf conf = {
		.directory_url = "https://127.0.0.1:1/dir",
		.connect_timeout_ms = 2000,
		.timeout_ms = 3000,
	};
	const char *names[] = { "a.test" };
	struct acme_client *c;
	struct acme_op *op, *gone;
	struct http *http;
	char err[256];

	assert_non_null(base);
	http = http_new(base, err, sizeof(err));
	assert_non_null(http);
	assert_null(acme_client_new(base, http, &(struct acme_client_conf){
	    .directory_url = "http://127.0.0.1:1/dir" }, err, sizeof(err)));
	c = acme_client_new(base, http, &conf, err, sizeof(err));
	assert_non_null(c);
	/* Bad arguments fail at once, with no callback. */
	assert_null(acme_order_new(c, ec256, "https://ca.test/acct/1", names, 0,
	    NULL, never_cb, NULL, err, sizeof(err)));
	assert_null(acme_order_new(c, ec256, "not-a-url", names, 1, NULL,
	    never_cb, NULL, err, sizeof(err)));
	assert_null(acme_order_new(c, ec256, "https://ca.test/acct/1", names, 1,
	    "short lived", never_cb, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "ACME profile"));
	assert_null(acme_revoke(c, ec256, "https://ca.test/acct/1",
	    (unsigned char *)"x", 1, 7, never_cb, NULL, err, sizeof(err)));

	ctx.inside_start = 1;
	op = acme_account_new(c, ec256, NULL, 0, 1, NULL, 0, loop_cb, &ctx,
	    err, sizeof(err));
	gone = acme_order_new(c, ec256, "https://ca.test/acct/1", names, 1,
	    "shortlived", never_cb, NULL, err, sizeof(err));
	ctx.inside_start = 0;
	assert_non_null(op);
	assert_non_null(gone);
	acme_op_cancel(gone);
	event_base_dispatch(base);
	assert_int_equal(ctx.calls, 1);
	assert_non_null(strstr(ctx.err, "directory"));
	assert_non_null(strstr(ctx.err, "127.0.0.1"));
	assert_null(acme_client_directory(c));

	/* A callback may free the client, other operations and all. */
	ctx.calls = 0;
	ctx.free_client = c;
	assert_non_null(acme_fetch(c, ec256, "https://ca.test/acct/1",
	    "https://ca.test/order/1", ACME_DOC_ORDER, loop_cb, &ctx, err,
	    sizeof(err)));
	assert_non_null(acme_fetch(c, ec256, "https://ca.test/acct/1",
	    "https://ca.test/order/2", ACME_DOC_ORDER, never_cb, NULL, err,
	    sizeof(err)));
	event_base_dispatch(base);
	assert_int_equal(ctx.calls, 1);
	assert_null(ctx.free_client);
	event_base_loop(base, EVLOOP_NONBLOCK);

	/*
	 * A peer that accepts TCP but never speaks TLS: the directory fetch
	 * hangs, and a client freed then calls nobody back.
	 */
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];
	struct timeval tv = { 0, 200000 };

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/dir",
	    ntohs(sin.sin_port));
	conf.directory_url = url;
	/* Timeouts far beyond the 200 ms looked at, so that nothing but a
	 * wrong callback can end the fetch however slow the run (valgrind). */
	conf.connect_timeout_ms = 60000;
	conf.timeout_ms = 60000;
	c = acme_client_new(base, http, &conf, err, sizeof(err));
	assert_non_null(c);
	gone = acme_fetch(c, ec256, "https://ca.test/acct/1",
	    "https://ca.test/order/1", ACME_DOC_ORDER, never_cb, NULL, err,
	    sizeof(err));
	assert_non_null(gone);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_int_equal(http_pending(http), 1);
	acme_client_free(c);
	assert_int_equal(http_pending(http), 0);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	close(lfd);
	http_free(http);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_jwk_ec),
		cmocka_unit_test(test_jws_es256),
		cmocka_unit_test(test_jws_es384),
		cmocka_unit_test(test_jws_rs256),
		cmocka_unit_test(test_jws_refused),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_key_authorization),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_ari_cert_id),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_directory_profiles),
		cmocka_unit_test(test_order_payload),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_authz_challenge),
		cmocka_unit_test(test_problem_account_ari),
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_client_unreachable),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
