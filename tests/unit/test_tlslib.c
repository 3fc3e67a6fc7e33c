/*
 * Unit tests for daemon/tlslib.c: the probes' library context lists only
 * the DER SubjectPublicKeyInfo decoders, decodes every key type a
 * certificate carries as the default context does, offers everything else
 * (a TLS client context, ciphers, key exchange), and is shared and
 * reference-counted.  Certificates are made here with the OpenSSL API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tlslib.h"

static void
count_decoder(OSSL_DECODER *dec, void *arg)
{
	int *n = arg;

	(void)dec;
	(*n)++;
}

static int
decoders_in(OSSL_LIB_CTX *ctx)
{
	int n = 0;

	OSSL_DECODER_do_all_provided(ctx, count_decoder, &n);
	return n;
}

/* A self-signed certificate for key, as DER. */
static int
cert_der(EVP_PKEY *key, unsigned char **der)
{
	X509 *x = X509_new();
	int len = -1;

	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"tlslib.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	/* Ed25519 signs without a separate digest. */
	if (X509_sign(x, key, EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL :
	    EVP_sha256()) > 0)
		len = i2d_X509(x, der);
	X509_free(x);
	return len;
}

static void
test_only_spki_decoders(void **state)
{
	char err[256] = "";
	OSSL_LIB_CTX *ctx = tlslib_acquire(err, sizeof(err));

	(void)state;
	assert_non_null(ctx);
	assert_string_equal(err, "");
	/* The default provider has 40 in OpenSSL 3.0; ours, its 12 DER
	 * SubjectPublicKeyInfo ones (one per key type and the generic one). */
	assert_true(decoders_in(NULL) > decoders_in(ctx));
	assert_true(decoders_in(ctx) >= 10);
	assert_true(decoders_in(ctx) <= 16);
	tlslib_release();
}

static void
test_keys_decode_as_in_default(void **state)
{
	const char *types[] = { "RSA", "EC", "ED25519", "X448" };
	char err[256];
	OSSL_LIB_CTX *ctx = tlslib_acquire(err, sizeof(err));

	(void)state;
	assert_non_null(ctx);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		EVP_PKEY *key = strcmp(types[i], "RSA") == 0 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
		    strcmp(types[i], "EC") == 0 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384") :
		    EVP_PKEY_Q_keygen(NULL, NULL, types[i]);
		/* X448 cannot sign: its certificate is signed by an Ed25519 key. */
		EVP_PKEY *signer = strcmp(types[i], "X448") == 0 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") : NULL;
		unsigned char *der = NULL;
		const unsigned char *p;
		X509 *x;
		int len;

		assert_non_null(key);
		if (signer != NULL) {
			X509 *c = X509_new();

			assert_non_null(c);
			X509_set_pubkey(c, key);
			X509_set_issuer_name(c, X509_get_subject_name(c));
			ASN1_INTEGER_set(X509_get_serialNumber(c), 2);
			X509_gmtime_adj(X509_getm_notBefore(c), 0);
			X509_gmtime_adj(X509_getm_notAfter(c), 86400);
			assert_true(X509_sign(c, signer, NULL) > 0);
			len = i2d_X509(c, &der);
			X509_free(c);
		} else
			len = cert_der(key, &der);
		assert_true(len > 0);
		p = der;
		x = X509_new_ex(ctx, NULL);
		assert_non_null(x);
		assert_non_null(d2i_X509(&x, &p, len));
		assert_non_null(X509_get0_pubkey(x));
		assert_true(EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1);
		assert_true(EVP_PKEY_is_a(X509_get0_pubkey(x), types[i]));
		if (signer == NULL)	/* verified in our context, key from default */
			assert_int_equal(X509_verify(x, key), 1);
		X509_free(x);
		OPENSSL_free(der);
		EVP_PKEY_free(key);
		EVP_PKEY_free(signer);
	}
	tlslib_release();
}

static void
test_tls_client_context(void **state)
{
	char err[256];
	OSSL_LIB_CTX *ctx = tlslib_acquire(err, sizeof(err));
	SSL_CTX *sctx;
	EVP_PKEY *kx;
	SSL *ssl;

	(void)state;
	assert_non_null(ctx);
	sctx = SSL_CTX_new_ex(ctx, NULL, TLS_client_method());
	assert_non_null(sctx);
	assert_int_equal(SSL_CTX_set_cipher_list(sctx, "ALL:@SECLEVEL=0"), 1);
	ssl = SSL_new(sctx);
	assert_non_null(ssl);
	/* The groups libssl offers come from the provider's capabilities. */
	assert_int_equal(SSL_set1_groups_list(ssl, "X25519:P-256:X448:ffdhe2048"),
	    1);
	kx = EVP_PKEY_Q_keygen(ctx, NULL, "X25519");
	assert_non_null(kx);
	EVP_PKEY_free(kx);
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	tlslib_release();
}

static void
test_shared_and_counted(void **state)
{
	char err[256];
	OSSL_LIB_CTX *a = tlslib_acquire(err, sizeof(err));
	OSSL_LIB_CTX *b = tlslib_acquire(err, sizeof(err));
	OSSL_LIB_CTX *c;

	(void)state;
	assert_non_null(a);
	assert_ptr_equal(a, b);
	tlslib_release();
	/* Still held once: still usable. */
	assert_true(decoders_in(a) > 0);
	tlslib_release();
	tlslib_release();	/* one too many: ignored */
	/* Made again from nothing after the last release. */
	c = tlslib_acquire(err, sizeof(err));
	assert_non_null(c);
	assert_true(decoders_in(c) > 0);
	assert_true(decoders_in(NULL) > decoders_in(c));
	tlslib_release();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_spki_decoders),
		cmocka_unit_test(test_keys_decode_as_in_default),
		cmocka_unit_test(test_tls_client_context),
		cmocka_unit_test(test_shared_and_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
