/*
 * Unit tests for daemon/keystore.c: the master key file, sealing, key
 * generation (blocking and on a loop), PEM, CSRs and the key/cert match.
 * No network; files live in a fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "daemon.h"
#include "keystore.h"

/* Keys made once: RSA generation is slow, under valgrind very slow. */
static EVP_PKEY *keys[KEY_RSA3072 + 1];
static EVP_PKEY *other_ec256;	/* a second key for mismatches */
static char tmp_root[64];
static int ndirs;

static int
setup_keys(void **state)
{
	char err[256];

	for (int t = KEY_EC256; t <= KEY_RSA3072; t++)
		if ((keys[t] = keystore_generate(t, err, sizeof(err))) == NULL) {
			fprintf(stderr, "keystore_generate(%d): %s\n", t, err);
			return -1;
		}
	if ((other_ec256 = keystore_generate(KEY_EC256, err, sizeof(err))) == NULL)
		return -1;
	snprintf(tmp_root, sizeof(tmp_root), "%s", "/tmp/test_keystore.XXXXXX");
	return mkdtemp(tmp_root) != NULL ? 0 : -1;
}

static int
remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown_keys(void **state)
{
	for (size_t t = 0; t < sizeof(keys) / sizeof(keys[0]); t++)
		EVP_PKEY_free(keys[t]);
	EVP_PKEY_free(other_ec256);
	/* Depth first, and symbolic links removed, never followed. */
	return nftw(tmp_root, remove_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty state directory for one test. */
static void
new_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/d%d", tmp_root, ++ndirs);
	assert_int_equal(mkdir(buf, 0700), 0);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t n,
    mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
refused(const char *dir, const char *want)
{
	char err[512] = "";
	struct keystore *ks = keystore_open(dir, err, sizeof(err));

	if (ks != NULL) {
		keystore_free(ks);
		fail_msg("%s: opened, expected a refusal with '%s'", dir, want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
}

/* --- master key ---------------------------------------------------------- */

static void
test_master_created_0600(void **state)
{
	char dir[128], path[192], err[256];
	struct keystore *a, *b;
	unsigned char *blob, *plain;
	size_t bloblen, plainlen;
	struct stat st;

	new_dir(dir, sizeof(dir));
	a = keystore_open(dir, err, sizeof(err));
	if (a == NULL)
		fail_msg("%s", err);
	snprintf(path, sizeof(path), "%s/%s", dir, KEYSTORE_MASTER_FILE);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, KEYSTORE_MASTER_LEN);

	/* Reopened, the same key: what one seals, the other opens. */
	b = keystore_open(dir, err, sizeof(err));
	if (b == NULL)
		fail_msg("%s", err);
	assert_int_equal(keystore_seal(a, "hello", 5, "t:1:c", 5, &blob,
	    &bloblen, err, sizeof(err)), 0);
	assert_int_equal(keystore_unseal(b, blob, bloblen, "t:1:c", 5, &plain,
	    &plainlen, err, sizeof(err)), 0);
	assert_int_equal(plainlen, 5);
	assert_memory_equal(plain, "hello", 5);
	keystore_secret_free(plain, plainlen);
	free(blob);
	keystore_free(a);
	keystore_free(b);
	keystore_free(NULL);
}

static void
test_master_refused(void **state)
{
	unsigned char key[KEYSTORE_MASTER_LEN + 1] = { 1, 2, 3 };
	char dir[128], path[192];

	new_dir(dir, sizeof(dir));
	write_file(dir, KEYSTORE_MASTER_FILE, key, KEYSTORE_MASTER_LEN, 0644);
	refused(dir, "mode 0644");
	refused(dir, "chmod 600");

	new_dir(dir, sizeof(dir));
	write_file(dir, KEYSTORE_MASTER_FILE, key, KEYSTORE_MASTER_LEN, 0640);
	refused(dir, "mode 0640");

	new_dir(dir, sizeof(dir));
	write_file(dir, KEYSTORE_MASTER_FILE, key, KEYSTORE_MASTER_LEN - 1, 0600);
	refused(dir, "31 bytes");

	new_dir(dir, sizeof(dir));
	write_file(dir, KEYSTORE_MASTER_FILE, key, KEYSTORE_MASTER_LEN + 1, 0600);
	refused(dir, "33 bytes");

	/* What a crash during creation would leave. */
	new_dir(dir, sizeof(dir));
	write_file(dir, KEYSTORE_MASTER_FILE, key, 0, 0600);
	refused(dir, "0 bytes");

	new_dir(dir, sizeof(dir));
	write_file(dir, "elsewhere", key, KEYSTORE_MASTER_LEN, 0600);
	snprintf(path, sizeof(path), "%s/%s", dir, KEYSTORE_MASTER_FILE);
	assert_int_equal(symlink("elsewhere", path), 0);
	refused(dir, "symbolic link");

	new_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, KEYSTORE_MASTER_FILE);
	assert_int_equal(mkdir(path, 0700), 0);
	refused(dir, "not a regular file");

	snprintf(path, sizeof(path), "%s/missing", tmp_root);
	refused(path, "state directory");
}

/* --- sealing ------------------------------------------------------------- */

static struct keystore *
open_new(void)
{
	char dir[128], err[256];
	struct keystore *ks;

	new_dir(dir, sizeof(dir));
	if ((ks = keystore_open(dir, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	return ks;
}

static void
test_seal_roundtrip(void **state)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 4000 };
	struct keystore *ks = open_new();
	unsigned char src[4000], *blob, *plain;
	size_t bloblen, plainlen;
	char err[256];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(keystore_seal(ks, src, lens[i], "a:1:b", 5,
		    &blob, &bloblen, err, sizeof(err)), 0);
		assert_int_equal(bloblen, lens[i] + KEYSTORE_SEAL_OVERHEAD);
		assert_int_equal(blob[0], KEYSTORE_SEAL_VERSION);
		assert_int_equal(keystore_unseal(ks, blob, bloblen, "a:1:b", 5,
		    &plain, &plainlen, err, sizeof(err)), 0);
		assert_int_equal(plainlen, lens[i]);
		assert_memory_equal(plain, src, lens[i]);
		assert_int_equal(plain[plainlen], '\0');
		keystore_secret_free(plain, plainlen);
		free(blob);
	}
	/* No AAD at all is allowed too, as long as both sides agree. */
	assert_int_equal(keystore_seal(ks, "x", 1, NULL, 0, &blob, &bloblen,
	    err, sizeof(err)), 0);
	assert_int_equal(keystore_unseal(ks, blob, bloblen, NULL, 0, &plain,
	    &plainlen, err, sizeof(err)), 0);
	keystore_secret_free(plain, plainlen);
	free(blob);
	keystore_secret_free(NULL, 0);
	keystore_free(ks);
}

static void
unseal_fails(const struct keystore *ks, const unsigned char *blob, size_t len,
    const char *aad, const char *want)
{
	unsigned char *plain = (unsigned char *)"untouched";
	size_t plainlen = 99;
	char err[256] = "";

	assert_int_equal(keystore_unseal(ks, blob, len, aad, strlen(aad), &plain,
	    &plainlen, err, sizeof(err)), -1);
	assert_null(plain);
	assert_int_equal(plainlen, 0);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
	/* Nothing of the secret in the sentence. */
	assert_null(strstr(err, "SECRET"));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_seal_tampered(void **state)
{
	static const char secret[] = "SECRET key material";
	struct keystore *ks = open_new(), *other = open_new();
	unsigned char *blob, copy[64];
	size_t len;
	char aad[64], err[256];

	assert_int_equal(keystore_aad(aad, sizeof(aad), "certificates", 42,
	    "key"), 19);
	assert_string_equal(aad, "certificates:42:key");
	assert_int_equal(keystore_seal(ks, secret, sizeof(secret) - 1, aad,
	    strlen(aad), &blob, &len, err, sizeof(err)), 0);
	assert_true(len <= sizeof(copy));

	/* Moved to another row or column, or no AAD: refused. */
	unseal_fails(ks, blob, len, "certificates:43:key", "did not authenticate");
	unseal_fails(ks, blob, len, "certificates:42:csr", "did not authenticate");
	unseal_fails(ks, blob, len, "", "did not authenticate");
	/* Another master key. */
	unseal_fails(other, blob, len, aad, "did not authenticate");

	/* One flipped bit anywhere in nonce, ciphertext or tag. */
	for (size_t i = 1; i < len; i++)
		for (int bit = 0; bit < 8; bit += 7) {
			memcpy(copy, blob, len);
			copy[i] ^= (unsigned char)(1u << bit);
			unseal_fails(ks, copy, len, aad, "did not authenticate");
		}
	/* Every truncation, and one byte too many. */
	for (size_t n = 0; n < len; n++)
		unseal_fails(ks, blob, n, aad, n < KEYSTORE_SEAL_OVERHEAD ?
		    "too short" : "did not authenticate");
	memcpy(copy, blob, len);
	copy[len] = 0;
	unseal_fails(ks, copy, len + 1, aad, "did not authenticate");
	/* Unknown versions are refused before any decryption. */
	memcpy(copy, blob, len);
	copy[0] = 0;
	unseal_fails(ks, copy, len, aad, "unknown format version");
	copy[0] = 2;
	unseal_fails(ks, copy, len, aad, "unknown format version");

	free(blob);
	keystore_free(ks);
	keystore_free(other);
}

static void
test_seal_fresh_nonce(void **state)
{
	struct keystore *ks = open_new();
	unsigned char *a, *b;
	size_t alen, blen;
	char err[256];

	assert_int_equal(keystore_seal(ks, "same", 4, "t:1:c", 5, &a, &alen, err,
	    sizeof(err)), 0);
	assert_int_equal(keystore_seal(ks, "same", 4, "t:1:c", 5, &b, &blen, err,
	    sizeof(err)), 0);
	assert_int_equal(alen, blen);
	assert_memory_not_equal(a + 1, b + 1, KEYSTORE_NONCE_LEN);
	assert_memory_not_equal(a + 1 + KEYSTORE_NONCE_LEN,
	    b + 1 + KEYSTORE_NONCE_LEN, alen - 1 - KEYSTORE_NONCE_LEN);
	free(a);
	free(b);
	keystore_free(ks);
}

static void
test_seal_limits(void **state)
{
	struct keystore *ks = open_new();
	unsigned char *blob = (unsigned char *)"x", *big;
	char aad[KEYSTORE_AAD_MAX + 1], err[256];
	size_t len = 1;

	memset(aad, 'a', sizeof(aad));
	assert_int_equal(keystore_seal(ks, "x", 1, aad, sizeof(aad), &blob, &len,
	    err, sizeof(err)), -1);
	assert_null(blob);
	assert_int_equal(len, 0);
	assert_non_null(big = calloc(1, KEYSTORE_SEAL_MAX + 1));
	assert_int_equal(keystore_seal(ks, big, KEYSTORE_SEAL_MAX + 1, "a", 1,
	    &blob, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "value too large to seal");
	assert_int_equal(keystore_seal(ks, big, KEYSTORE_SEAL_MAX, "a", 1,
	    &blob, &len, err, sizeof(err)), 0);
	free(blob);
	free(big);
	keystore_free(ks);
}

static void
test_aad(void **state)
{
	char buf[32];

	assert_int_equal(keystore_aad(buf, sizeof(buf), "certificates", 42, "key"),
	    19);
	assert_string_equal(buf, "certificates:42:key");
	assert_int_equal(keystore_aad(buf, sizeof(buf), "t", -1, "c"), 6);
	assert_string_equal(buf, "t:-1:c");
	/* A ':' in a name would make "a:b" + 1 + "c" meet "a" + ... */
	assert_int_equal(keystore_aad(buf, sizeof(buf), "a:b", 1, "c"), -1);
	assert_int_equal(keystore_aad(buf, sizeof(buf), "a", 1, "b:c"), -1);
	assert_int_equal(keystore_aad(buf, sizeof(buf), "", 1, "c"), -1);
	assert_int_equal(keystore_aad(buf, sizeof(buf), "t", 1, ""), -1);
	/* Exactly fits, then one short. */
	assert_int_equal(keystore_aad(buf, 20, "certificates", 42, "key"), 19);
	assert_int_equal(keystore_aad(buf, 19, "certificates", 42, "key"), -1);
}

/* --- key types, generation and PEM --------------------------------------- */

static void
test_key_type_names(void **state)
{
	static const char *names[] = { "ec256", "ec384", "rsa2048", "rsa3072",
	    "rsa4096" };
	enum keystore_key_type t;

	assert_int_equal(KEYSTORE_KEY_DEFAULT, KEY_EC256);
	for (int i = KEY_EC256; i <= KEY_RSA4096; i++) {
		assert_string_equal(keystore_key_type_name(i), names[i]);
		assert_int_equal(keystore_key_type_parse(names[i], &t), 0);
		assert_int_equal(t, i);
	}
	assert_null(keystore_key_type_name(KEY_RSA4096 + 1));
	assert_null(keystore_key_type_name(-1));
	assert_int_equal(keystore_key_type_parse("rsa1024", &t), -1);
	assert_int_equal(keystore_key_type_parse("EC256", &t), -1);
	assert_int_equal(keystore_key_type_parse("", &t), -1);
}

/* The key's PEM is PKCS#8, reads back to the same key and writes the same. */
static void
pem_roundtrip(EVP_PKEY *key, enum keystore_key_type type)
{
	char *pem, *again, err[256];
	size_t len, againlen;
	EVP_PKEY *back;

	assert_int_equal(keystore_key_type_of(key), type);
	assert_int_equal(keystore_key_to_pem(key, &pem, &len, err, sizeof(err)), 0);
	assert_int_equal(strlen(pem), len);
	assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	back = keystore_key_from_pem(pem, len, err, sizeof(err));
	if (back == NULL)
		fail_msg("%s: %s", keystore_key_type_name(type), err);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	assert_int_equal(keystore_key_type_of(back), type);
	assert_int_equal(keystore_key_to_pem(back, &again, &againlen, err,
	    sizeof(err)), 0);
	assert_int_equal(againlen, len);
	assert_memory_equal(again, pem, len);
	assert_int_equal(ERR_peek_error(), 0);
	keystore_secret_free(pem, len);
	keystore_secret_free(again, againlen);
	EVP_PKEY_free(back);
}

static void
test_generate_types(void **state)
{
	char err[256] = "";

	/* rsa4096 is generated by the asynchronous tests below. */
	for (int t = KEY_EC256; t <= KEY_RSA3072; t++)
		pem_roundtrip(keys[t], t);
	assert_int_equal(EVP_PKEY_get_bits(keys[KEY_RSA2048]), 2048);
	assert_int_equal(EVP_PKEY_get_bits(keys[KEY_RSA3072]), 3072);
	assert_null(keystore_generate(KEY_RSA4096 + 1, err, sizeof(err)));
	assert_string_equal(err, "unknown key type");
}

static char *
pem_of(EVP_PKEY *key, int traditional, const EVP_CIPHER *enc)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_non_null(bio);
	if (traditional)
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, key, enc,
		    NULL, 0, NULL, enc ? "pass" : NULL), 1);
	else if (enc != NULL)
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, key, enc, NULL, 0,
		    NULL, "pass"), 1);
	else
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
		    NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	s = strndup(data, (size_t)n);
	BIO_free(bio);
	assert_non_null(s);
	return s;
}

static void
from_pem_refused(const char *text, const char *want)
{
	char err[256] = "";
	EVP_PKEY *key = keystore_key_from_pem(text, strlen(text), err,
	    sizeof(err));

	if (key != NULL) {
		EVP_PKEY_free(key);
		fail_msg("accepted, expected '%s'", want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
	/* Errors never quote the input. */
	assert_null(strstr(err, "MIG"));
	assert_null(strstr(err, "MII"));
	assert_null(strstr(err, "LEAKME"));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
from_pem_ok(const char *text, EVP_PKEY *want)
{
	char err[256] = "";
	EVP_PKEY *key = keystore_key_from_pem(text, strlen(text), err,
	    sizeof(err));

	if (key == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(EVP_PKEY_eq(key, want), 1);
	assert_int_equal(ERR_peek_error(), 0);
	EVP_PKEY_free(key);
}

static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static char *
cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &data);
	s = strndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

static void
test_key_from_pem(void **state)
{
	EVP_PKEY *ec = keys[KEY_EC256], *rsa = keys[KEY_RSA2048];
	char *p8 = pem_of(ec, 0, NULL), *p8b = pem_of(other_ec256, 0, NULL);
	char *trad_ec = pem_of(ec, 1, NULL), *trad_rsa = pem_of(rsa, 1, NULL);
	char *enc8 = pem_of(ec, 0, EVP_aes_256_cbc());
	char *enc_trad = pem_of(rsa, 1, EVP_aes_256_cbc());
	X509 *x = self_signed(ec, "example.com");
	char *crt = cert_pem(x), buf[16384];

	/* Accepted: PKCS#8, traditional RSA and EC, with text and a cert. */
	from_pem_ok(p8, ec);
	from_pem_ok(trad_ec, ec);
	from_pem_ok(trad_rsa, rsa);
	snprintf(buf, sizeof(buf), "Bag Attributes\n%s%s", crt, p8);
	from_pem_ok(buf, ec);
	snprintf(buf, sizeof(buf), "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw=="
	    "\n-----END EC PARAMETERS-----\n%s", trad_ec);
	from_pem_ok(buf, ec);

	/* Refused. */
	from_pem_refused("", "no private key found");
	from_pem_refused(crt, "no private key found");
	from_pem_refused("LEAKME not PEM at all", "no private key found");
	snprintf(buf, sizeof(buf), "%s%s", p8, p8b);
	from_pem_refused(buf, "found 2 private keys");
	snprintf(buf, sizeof(buf), "%s%s", p8, p8);
	from_pem_refused(buf, "found 2 private keys");
	snprintf(buf, sizeof(buf), "%s%s", p8, trad_rsa);
	from_pem_refused(buf, "found 2 private keys");
	/* Encrypted keys: refused, and no terminal prompt (the test would hang). */
	from_pem_refused(enc8, "encrypted");
	from_pem_refused(enc_trad, "encrypted");
	from_pem_refused("-----BEGIN PRIVATE KEY-----\nLEAKMELEAKMELEAKME\n"
	    "-----END PRIVATE KEY-----\n", "could not be decoded");
	from_pem_refused("-----BEGIN OPENSSH PRIVATE KEY-----\nLEAKME\n"
	    "-----END OPENSSH PRIVATE KEY-----\n", "could not be decoded");
	snprintf(buf, sizeof(buf), "%.*s", (int)(strlen(p8) - 27), p8);
	from_pem_refused(buf, "no END line");
	/* A body cut in half. */
	snprintf(buf, sizeof(buf), "-----BEGIN PRIVATE KEY-----\n%.20s\n"
	    "-----END PRIVATE KEY-----\n", p8 + 28);
	from_pem_refused(buf, "could not be decoded");

	/* Binary data, and the size limit: at it, then one byte over. */
	{
		char err[256];
		size_t n = strlen(p8);
		char *big = calloc(1, KEYSTORE_PEM_MAX + 2);
		EVP_PKEY *key;

		assert_non_null(big);
		memcpy(buf, p8, n + 1);
		assert_null(keystore_key_from_pem(buf, n + 1, err, sizeof(err)));
		assert_non_null(strstr(err, "binary"));
		memset(big, '\n', KEYSTORE_PEM_MAX + 1);
		memcpy(big, p8, n);
		assert_non_null(key = keystore_key_from_pem(big, KEYSTORE_PEM_MAX,
		    err, sizeof(err)));
		EVP_PKEY_free(key);
		assert_null(keystore_key_from_pem(big, KEYSTORE_PEM_MAX + 1, err,
		    sizeof(err)));
		assert_non_null(strstr(err, "larger than"));
		free(big);
	}

	free(p8);
	free(p8b);
	free(trad_ec);
	free(trad_rsa);
	free(enc8);
	free(enc_trad);
	free(crt);
	X509_free(x);
}

/* --- generation on the loop ---------------------------------------------- */

struct result {
	int		 calls;
	EVP_PKEY	*key;
	char		 err[256];
	struct event_base *base;
	int		 break_loop;	/* event_base_loopbreak when called */
};

static void
result_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct result *r = arg;

	r->calls++;
	EVP_PKEY_free(r->key);
	r->key = key;
	if (err != NULL)
		snprintf(r->err, sizeof(r->err), "%s", err);
	if (r->break_loop)
		event_base_loopbreak(r->base);
}

static struct event_base *
new_base(void)
{
	struct event_base *base = event_base_new();

	assert_non_null(base);
	assert_int_equal(event_base_priority_init(base, PRIO_COUNT), 0);
	return base;
}

static struct keystore_pool *
new_pool(struct event_base *base)
{
	char err[256];
	struct keystore_pool *pool = keystore_pool_new(base, err, sizeof(err));

	if (pool == NULL)
		fail_msg("%s", err);
	return pool;
}

static struct keystore_job *
start(struct keystore_pool *pool, enum keystore_key_type type,
    struct result *r)
{
	char err[256];
	struct keystore_job *job = keystore_generate_async(pool, type, result_cb,
	    r, err, sizeof(err));

	if (job == NULL)
		fail_msg("%s", err);
	return job;
}

static void
test_async_delivers(void **state)
{
	struct event_base *base = new_base();
	struct keystore_pool *pool = new_pool(base);
	struct result r[3] = { { 0 } };

	start(pool, KEY_EC256, &r[0]);
	start(pool, KEY_EC384, &r[1]);
	start(pool, KEY_RSA2048, &r[2]);
	/* Never inside the caller, even once the workers are done. */
	keystore_pool_wait_idle(pool);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 0);
	/* Dispatch returns by itself: an idle pool watches nothing. */
	assert_int_equal(event_base_dispatch(base), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_non_null(r[i].key);
	}
	assert_int_equal(keystore_key_type_of(r[0].key), KEY_EC256);
	assert_int_equal(keystore_key_type_of(r[1].key), KEY_EC384);
	assert_int_equal(keystore_key_type_of(r[2].key), KEY_RSA2048);
	for (int i = 0; i < 3; i++)
		EVP_PKEY_free(r[i].key);
	keystore_pool_free(pool);
	keystore_pool_free(NULL);
	event_base_free(base);
}

struct ticker {
	struct event	*ev;
	int		 ticks;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;

	t->ticks++;
}

struct rsa_result {
	struct result	 r;
	struct ticker	*ticker;
	int		 ticks_at_done;
};

static void
rsa_done_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct rsa_result *rr = arg;

	rr->ticks_at_done = rr->ticker->ticks;
	event_del(rr->ticker->ev);
	result_cb(key, err, &rr->r);
}

static void
test_async_rsa4096_keeps_loop_running(void **state)
{
	struct event_base *base = new_base();
	struct keystore_pool *pool = new_pool(base);
	struct ticker t = { 0 };
	struct rsa_result rr = { .ticker = &t };
	const struct timeval ten_ms = { 0, 10000 };
	char err[256];

	t.ev = event_new(base, -1, EV_PERSIST, tick_cb, &t);
	assert_non_null(t.ev);
	assert_int_equal(event_add(t.ev, &ten_ms), 0);
	assert_non_null(keystore_generate_async(pool, KEY_RSA4096, rsa_done_cb,
	    &rr, err, sizeof(err)));
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(rr.r.calls, 1);
	if (rr.r.key == NULL)
		fail_msg("%s", rr.r.err);
	/* The timer kept firing while the worker generated. */
	assert_true(rr.ticks_at_done > 0);
	assert_int_equal(EVP_PKEY_get_bits(rr.r.key), 4096);
	pem_roundtrip(rr.r.key, KEY_RSA4096);
	EVP_PKEY_free(rr.r.key);
	event_free(t.ev);
	keystore_pool_free(pool);
	event_base_free(base);
}

static void
test_async_cancel(void **state)
{
	struct event_base *base = new_base();
	struct keystore_pool *pool = new_pool(base);
	struct result done = { 0 }, slow = { 0 }, fast = { .base = base,
	    .break_loop = 1 }, queued = { 0 }, slow2 = { 0 };
	struct keystore_job *job, *slow_job, *slow2_job;

	/* Done but not yet delivered: the key is freed, no callback. */
	job = start(pool, KEY_EC256, &done);
	keystore_pool_wait_idle(pool);
	keystore_job_cancel(job);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(done.calls, 0);

	/*
	 * Running: the queue is first in, first out, so once the EC key
	 * behind it arrives the RSA 4096 generation has started.
	 */
	slow_job = start(pool, KEY_RSA4096, &slow);
	start(pool, KEY_EC256, &fast);
	assert_int_equal(event_base_dispatch(base), 0);	/* loopbreak */
	assert_int_equal(fast.calls, 1);
	keystore_job_cancel(slow_job);
	/* Aborted at its next prime candidate, not seconds later. */
	keystore_pool_wait_idle(pool);

	/* Queued behind two busy workers (or running: both paths hold). */
	slow_job = start(pool, KEY_RSA4096, &slow);
	slow2_job = start(pool, KEY_RSA4096, &slow2);
	job = start(pool, KEY_EC256, &queued);
	keystore_job_cancel(job);
	keystore_job_cancel(slow2_job);
	keystore_job_cancel(slow_job);
	keystore_pool_wait_idle(pool);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(slow2.calls, 0);
	assert_int_equal(queued.calls, 0);
	EVP_PKEY_free(fast.key);

	/* Freeing the pool with work in every state: nothing is called. */
	job = start(pool, KEY_EC256, &done);
	keystore_pool_wait_idle(pool);
	start(pool, KEY_RSA4096, &slow);
	start(pool, KEY_RSA4096, &slow2);
	start(pool, KEY_EC384, &queued);
	keystore_pool_free(pool);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(done.calls + slow.calls + slow2.calls + queued.calls, 0);
	event_base_free(base);
}

static void
test_async_limit(void **state)
{
	struct event_base *base = new_base();
	struct keystore_pool *pool = new_pool(base);
	struct result r[KEYSTORE_POOL_JOBS + 1];
	char err[256] = "";

	memset(r, 0, sizeof(r));
	for (int i = 0; i < KEYSTORE_POOL_JOBS; i++)
		start(pool, KEY_EC256, &r[i]);
	/* Undelivered results count: the loop has not run yet. */
	assert_null(keystore_generate_async(pool, KEY_EC256, result_cb,
	    &r[KEYSTORE_POOL_JOBS], err, sizeof(err)));
	assert_non_null(strstr(err, "too many key generations"));
	assert_null(keystore_generate_async(pool, KEY_RSA4096 + 1, result_cb,
	    &r[KEYSTORE_POOL_JOBS], err, sizeof(err)));
	assert_string_equal(err, "unknown key type");
	assert_int_equal(event_base_dispatch(base), 1);
	for (int i = 0; i < KEYSTORE_POOL_JOBS; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_non_null(r[i].key);
		EVP_PKEY_free(r[i].key);
	}
	assert_int_equal(r[KEYSTORE_POOL_JOBS].calls, 0);
	/* Room again once delivered. */
	start(pool, KEY_EC256, &r[KEYSTORE_POOL_JOBS]);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(r[KEYSTORE_POOL_JOBS].calls, 1);
	EVP_PKEY_free(r[KEYSTORE_POOL_JOBS].key);
	keystore_pool_free(pool);
	event_base_free(base);
}

/* Callbacks may start more work, cancel other jobs, or free the pool. */
struct chain {
	struct keystore_pool	*pool;
	struct keystore_job	*victim;
	struct result		 next;
	int			 calls;
	int			 free_pool;
};

static void
chain_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct chain *c = arg;
	char e[256];

	c->calls++;
	EVP_PKEY_free(key);
	if (c->victim != NULL)
		keystore_job_cancel(c->victim);
	if (c->free_pool)
		keystore_pool_free(c->pool);
	else if (c->calls == 1)
		assert_non_null(keystore_generate_async(c->pool, KEY_EC256,
		    result_cb, &c->next, e, sizeof(e)));
}

static void
test_async_from_callbacks(void **state)
{
	struct event_base *base = new_base();
	struct keystore_pool *pool = new_pool(base);
	struct chain c = { .pool = pool };
	struct result other = { 0 };
	char err[256];

	/* A callback queues another generation. */
	assert_non_null(keystore_generate_async(pool, KEY_EC256, chain_cb, &c,
	    err, sizeof(err)));
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.next.calls, 1);
	EVP_PKEY_free(c.next.key);

	/*
	 * A callback cancels a job that is done too, and frees the pool with
	 * one more done job behind it.  Waiting between the starts puts c's
	 * job first on the done list.
	 */
	memset(&c, 0, sizeof(c));
	c.pool = pool;
	c.free_pool = 1;
	assert_non_null(keystore_generate_async(pool, KEY_EC256, chain_cb, &c,
	    err, sizeof(err)));
	keystore_pool_wait_idle(pool);
	c.victim = start(pool, KEY_EC256, &other);
	start(pool, KEY_EC256, &other);
	keystore_pool_wait_idle(pool);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(other.calls, 0);
	event_base_free(base);
}

/* --- CSR and certificate match ------------------------------------------- */

static void
csr_check(EVP_PKEY *key, const char *const *names, size_t n,
    const char *want_cn, int want_sig_nid)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens;
	X509_REQ *req, *back;
	unsigned char *der;
	const unsigned char *p;
	char *pem, cn[300], err[256];
	size_t pemlen, derlen;
	BIO *bio;
	int len;

	req = keystore_make_csr(key, names, n, err, sizeof(err));
	if (req == NULL)
		fail_msg("%s", err);
	assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), 1);
	assert_int_equal(X509_REQ_get_signature_nid(req), want_sig_nid);
	len = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
	    NID_commonName, cn, sizeof(cn));
	if (want_cn == NULL) {
		assert_int_equal(len, -1);
		assert_int_equal(X509_NAME_entry_count(
		    X509_REQ_get_subject_name(req)), 0);
	} else
		assert_string_equal(cn, want_cn);

	exts = X509_REQ_get_extensions(req);
	assert_non_null(exts);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), n);
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, (int)i);
		const ASN1_IA5STRING *s;

		assert_int_equal(g->type, GEN_DNS);
		s = g->d.dNSName;
		assert_int_equal(ASN1_STRING_length(s), strlen(names[i]));
		assert_memory_equal(ASN1_STRING_get0_data(s), names[i],
		    strlen(names[i]));
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

	/* PEM and DER carry the same request. */
	assert_int_equal(keystore_csr_to_pem(req, &pem, &pemlen, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(pem), pemlen);
	assert_true(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) ==
	    0);
	assert_int_equal(keystore_csr_to_der(req, &der, &derlen, err,
	    sizeof(err)), 0);
	bio = BIO_new_mem_buf(pem, (int)pemlen);
	back = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(back);
	p = der;
	X509_REQ_free(back);
	back = d2i_X509_REQ(NULL, &p, (long)derlen);
	assert_non_null(back);
	assert_ptr_equal(p, der + derlen);
	assert_int_equal(X509_REQ_verify(back, X509_REQ_get0_pubkey(back)), 1);
	X509_REQ_free(back);
	free(pem);
	free(der);
	X509_REQ_free(req);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_csr(void **state)
{
	const char *names[] = { "example.com", "*.example.com", "www.example.com",
	    "xn--bcher-kva.example" };
	char long_name[80], *many[KEYSTORE_CSR_NAMES_MAX + 1];
	const char *one[1];

	csr_check(keys[KEY_EC256], names, 4, "example.com",
	    NID_ecdsa_with_SHA256);
	csr_check(keys[KEY_EC384], names, 2, "example.com",
	    NID_ecdsa_with_SHA384);
	csr_check(keys[KEY_RSA2048], names, 1, "example.com",
	    NID_sha256WithRSAEncryption);
	/* A wildcard first: CN as given. */
	csr_check(keys[KEY_EC256], names + 1, 2, "*.example.com",
	    NID_ecdsa_with_SHA256);
	/* 64 characters still fit the CN; 65 go to the SAN only. */
	memset(long_name, 'a', sizeof(long_name));
	memcpy(long_name + 64 - 4, ".com", 5);
	one[0] = long_name;
	csr_check(keys[KEY_EC256], one, 1, long_name, NID_ecdsa_with_SHA256);
	memcpy(long_name + 65 - 4, ".com", 5);
	csr_check(keys[KEY_EC256], one, 1, NULL, NID_ecdsa_with_SHA256);
	/* At the limit of names. */
	for (int i = 0; i <= KEYSTORE_CSR_NAMES_MAX; i++) {
		many[i] = malloc(32);
		snprintf(many[i], 32, "n%d.example.com", i);
	}
	csr_check(keys[KEY_EC256], (const char *const *)many,
	    KEYSTORE_CSR_NAMES_MAX, "n0.example.com", NID_ecdsa_with_SHA256);
	{
		char err[256];
		const char *bad[][2] = { { "ok.example", "bad name.example" },
		    { "ok.example", "" }, { "ok.example", "tab\t.example" },
		    { "ok.example", "caf\xc3\xa9.example" } };

		assert_null(keystore_make_csr(keys[KEY_EC256],
		    (const char *const *)many, KEYSTORE_CSR_NAMES_MAX + 1, err,
		    sizeof(err)));
		assert_non_null(strstr(err, "not 101"));
		assert_null(keystore_make_csr(keys[KEY_EC256], names, 0, err,
		    sizeof(err)));
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_null(keystore_make_csr(keys[KEY_EC256], bad[i], 2,
			    err, sizeof(err)));
			assert_string_equal(err, "name 2 is not a DNS name (1 to 253 "
			    "printable ASCII characters, no spaces)");
		}
		{
			char huge[300];

			memset(huge, 'a', sizeof(huge) - 1);
			huge[sizeof(huge) - 1] = '\0';
			one[0] = huge;
			assert_null(keystore_make_csr(keys[KEY_EC256], one, 1, err,
			    sizeof(err)));
			assert_non_null(strstr(err, "name 1"));
		}
	}
	for (int i = 0; i <= KEYSTORE_CSR_NAMES_MAX; i++)
		free(many[i]);
}

static void
test_csr_unsupported_key(void **state)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	const char *names[] = { "example.com" };
	char err[256];

	assert_non_null(ed);
	assert_non_null(p521);
	assert_int_equal(keystore_key_type_of(ed), -1);
	assert_int_equal(keystore_key_type_of(p521), -1);
	assert_null(keystore_make_csr(ed, names, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "a CSR needs"));
	assert_null(keystore_make_csr(p521, names, 1, err, sizeof(err)));
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p521);
}

static void
test_key_matches_cert(void **state)
{
	X509 *ec_cert = self_signed(keys[KEY_EC256], "ec.example");
	X509 *rsa_cert = self_signed(keys[KEY_RSA2048], "rsa.example");
	char *pem, err[256];
	size_t len;
	EVP_PKEY *reloaded;

	assert_int_equal(keystore_key_matches_cert(keys[KEY_EC256], ec_cert), 1);
	assert_int_equal(keystore_key_matches_cert(keys[KEY_RSA2048], rsa_cert),
	    1);
	/* Same type, other key; other type altogether. */
	assert_int_equal(keystore_key_matches_cert(other_ec256, ec_cert), 0);
	assert_int_equal(keystore_key_matches_cert(keys[KEY_EC384], ec_cert), 0);
	assert_int_equal(keystore_key_matches_cert(keys[KEY_RSA2048], ec_cert), 0);
	assert_int_equal(keystore_key_matches_cert(keys[KEY_EC256], rsa_cert), 0);
	assert_int_equal(keystore_key_matches_cert(NULL, ec_cert), 0);
	assert_int_equal(keystore_key_matches_cert(keys[KEY_EC256], NULL), 0);
	assert_int_equal(ERR_peek_error(), 0);
	/* A key as an import would read it. */
	assert_int_equal(keystore_key_to_pem(keys[KEY_EC256], &pem, &len, err,
	    sizeof(err)), 0);
	reloaded = keystore_key_from_pem(pem, len, err, sizeof(err));
	assert_non_null(reloaded);
	assert_int_equal(keystore_key_matches_cert(reloaded, ec_cert), 1);
	assert_string_equal(KEYSTORE_KEY_MISMATCH,
	    "PEM mismatch: the private key does not belong to this certificate");
	keystore_secret_free(pem, len);
	EVP_PKEY_free(reloaded);
	X509_free(ec_cert);
	X509_free(rsa_cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_created_0600),
		cmocka_unit_test(test_master_refused),
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test(test_seal_tampered),
		cmocka_unit_test(test_seal_fresh_nonce),
		cmocka_unit_test(test_seal_limits),
		cmocka_unit_test(test_aad),
		cmocka_unit_test(test_key_type_names),
		cmocka_unit_test(test_generate_types),
		cmocka_unit_test(test_key_from_pem),
		cmocka_unit_test(test_async_delivers),
		cmocka_unit_test(test_async_rsa4096_keeps_loop_running),
		cmocka_unit_test(test_async_cancel),
		cmocka_unit_test(test_async_limit),
		cmocka_unit_test(test_async_from_callbacks),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_csr_unsupported_key),
		cmocka_unit_test(test_key_matches_cert),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
