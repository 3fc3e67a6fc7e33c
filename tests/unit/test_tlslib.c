/*
 * Unit tests for daemon/tlslib.c: the probes' library context lists only
 * the DER SubjectPublicKeyInfo decoders, the TLS record ciphers, HMAC and
 * the TLS KDFs; decodes every key type a certificate carries as the
 * default context does; keeps every digest; makes a TLS client context;
 * and is shared and reference-counted.  Certificates are made here with
 * the OpenSSL API.
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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
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

static int
cipher_there(OSSL_LIB_CTX *ctx, const char *name)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(ctx, name, NULL);

	EVP_CIPHER_free(c);
	return c != NULL;
}

static void
test_cut_lists(void **state)
{
	const char *record[] = { "AES-128-GCM", "aes-256-gcm", "AES-128-CCM",
	    "ChaCha20-Poly1305", "AES-128-CBC", "CAMELLIA-256-CBC",
	    "ARIA-128-GCM", "DES-EDE3-CBC", "AES-128-CBC-HMAC-SHA256" };
	const char *digests[] = { "MD5", "SHA1", "SHA2-256", "SHA2-512",
	    "SHA3-256", "SM3" };
	char err[256];
	OSSL_LIB_CTX *ctx = tlslib_acquire(err, sizeof(err));
	EVP_MAC *mac;
	EVP_KDF *kdf;

	(void)state;
	assert_non_null(ctx);
	for (size_t i = 0; i < sizeof(record) / sizeof(record[0]); i++)
		assert_true(cipher_there(ctx, record[i]));
	/* Not a TLS record cipher: in the default context only. */
	assert_true(cipher_there(NULL, "AES-128-ECB"));
	assert_false(cipher_there(ctx, "AES-128-ECB"));
	assert_false(cipher_there(ctx, "AES-256-XTS"));
	/* Every digest stays: certificates are verified here too. */
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
		EVP_MD *md = EVP_MD_fetch(ctx, digests[i], NULL);

		assert_non_null(md);
		EVP_MD_free(md);
	}
	mac = EVP_MAC_fetch(ctx, "HMAC", NULL);
	assert_non_null(mac);
	EVP_MAC_free(mac);
	assert_null(mac = EVP_MAC_fetch(ctx, "CMAC", NULL));
	for (size_t i = 0; i < 3; i++) {
		kdf = EVP_KDF_fetch(ctx, (const char *[]){ "TLS1-PRF", "HKDF",
		    "TLS13-KDF" }[i], NULL);
		assert_non_null(kdf);
		EVP_KDF_free(kdf);
	}
	assert_null(kdf = EVP_KDF_fetch(ctx, "PBKDF2", NULL));
	ERR_clear_error();
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
		cmocka_unit_test(test_cut_lists),
		cmocka_unit_test(test_keys_decode_as_in_default),
		cmocka_unit_test(test_tls_client_context),
		cmocka_unit_test(test_shared_and_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
