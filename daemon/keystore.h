/*
 * Private keys: the master key that seals them at rest (AES-256-GCM, bound to
 * their row), generation (RSA in worker threads so the loop never stalls),
 * PEM in and out, CSRs, and the key/certificate match.  Nothing here logs;
 * no error sentence ever contains key material or echoes PEM input.
 */
#ifndef CERTFLEET_KEYSTORE_H
#define CERTFLEET_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct event_base;
struct keystore;
struct keystore_pool;
struct keystore_job;

/* --- master key and sealing --------------------------------------------- */

#define KEYSTORE_MASTER_FILE	"master.key"
#define KEYSTORE_MASTER_LEN	32	/* AES-256 */

/*
 * Sealed blob: version (1 byte) || nonce (12) || ciphertext || tag (16).
 * The version byte is authenticated along with the caller's AAD.
 */
#define KEYSTORE_SEAL_VERSION	1
#define KEYSTORE_NONCE_LEN	12
#define KEYSTORE_TAG_LEN	16
#define KEYSTORE_SEAL_OVERHEAD	(1 + KEYSTORE_NONCE_LEN + KEYSTORE_TAG_LEN)
/* Largest plaintext and AAD accepted (a PEM RSA 4096 key is ~3.3 KB). */
#define KEYSTORE_SEAL_MAX	(1024u * 1024)
#define KEYSTORE_AAD_MAX	256

/*
 * Reads <state_dir>/master.key, creating it (32 random bytes, mode 0600,
 * O_EXCL|O_NOFOLLOW, fsync'd with its directory) when missing.  Refuses a
 * symbolic link, a file that is not regular, of the wrong size, owned by
 * another user or with any group/other permission bit.  Returns a new
 * keystore (caller frees with keystore_free) or NULL with err.
 */
struct keystore	*keystore_open(const char *state_dir, char *err, size_t errlen);
/* Wipes the master key and frees.  NULL is a no-op. */
void		 keystore_free(struct keystore *ks);

/*
 * The AAD that binds a sealed value to its place, "table:row_id:column"
 * (e.g. "certificates:42:key"), written NUL-terminated into buf.  Returns
 * its length, or -1 when it does not fit or a name is empty or holds ':'.
 */
int		 keystore_aad(char *buf, size_t buflen, const char *table,
		    int64_t row_id, const char *column);

/*
 * Encrypts len bytes of plain under the master key with a fresh random
 * nonce.  On success *out is a new blob of *outlen bytes (not secret; caller
 * frees with free()).  Returns 0, or -1 with err.
 */
int		 keystore_seal(const struct keystore *ks, const void *plain,
		    size_t len, const void *aad, size_t aadlen,
		    unsigned char **out, size_t *outlen, char *err, size_t errlen);
/*
 * The reverse.  On success *out holds the plaintext followed by a NUL that
 * *outlen does not count (secret: caller frees with keystore_secret_free).
 * A wrong AAD or master key, any flipped bit, a short blob or an unknown
 * version all fail with -1 and a sentence that says nothing of the content.
 */
int		 keystore_unseal(const struct keystore *ks, const void *blob,
		    size_t bloblen, const void *aad, size_t aadlen,
		    unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* Wipes len bytes and frees.  NULL is a no-op. */
void		 keystore_secret_free(void *p, size_t len);

/* --- key types and generation ------------------------------------------- */

enum keystore_key_type {
	KEY_EC256 = 0,
	KEY_EC384,
	KEY_RSA2048,
	KEY_RSA3072,
	KEY_RSA4096,
};
#define KEYSTORE_KEY_DEFAULT	KEY_EC256

/* "ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"; NULL if out of range. */
const char	*keystore_key_type_name(enum keystore_key_type type);
/* 0 and *type set, or -1 when name is none of the above. */
int		 keystore_key_type_parse(const char *name,
		    enum keystore_key_type *type);
/* The type of an existing key, or -1 when it is none of ours. */
int		 keystore_key_type_of(const EVP_PKEY *key);

/*
 * Generates a key, blocking (RSA 4096 takes seconds): never call it on the
 * loop, use keystore_generate_async there.  Returns a new key (caller frees
 * with EVP_PKEY_free) or NULL with err.
 */
EVP_PKEY	*keystore_generate(enum keystore_key_type type, char *err,
		    size_t errlen);

/*
 * Worker threads for generation, bound to one loop.  At most
 * KEYSTORE_POOL_THREADS threads, started on demand and kept until the pool is
 * freed; at most KEYSTORE_POOL_JOBS requests outstanding (queued, running or
 * waiting for the loop to deliver them).  Every function below is called on
 * the loop's thread.
 */
#define KEYSTORE_POOL_THREADS	2
#define KEYSTORE_POOL_JOBS	64

/* Returns a new pool (caller frees with keystore_pool_free) or NULL with err. */
struct keystore_pool *keystore_pool_new(struct event_base *base, char *err,
		    size_t errlen);
/*
 * Cancels every outstanding request (no callback runs; their keys are
 * freed), stops the threads (a running RSA generation is aborted) and frees.
 * Called from inside one of the pool's callbacks, it takes effect when that
 * callback returns.  NULL is a no-op.
 */
void		 keystore_pool_free(struct keystore_pool *pool);

/*
 * Result of an asynchronous generation: key is new and owned by the callback
 * (EVP_PKEY_free), err NULL; or key NULL and err a sentence.
 */
typedef void	 keystore_key_cb(EVP_PKEY *key, const char *err, void *arg);

/*
 * Queues a generation.  cb runs exactly once, on the loop and never inside
 * this call, unless the request is cancelled.  Returns a handle, valid until
 * cb starts or keystore_job_cancel returns; or NULL with err when the pool is
 * full or no thread could be started.
 */
struct keystore_job *keystore_generate_async(struct keystore_pool *pool,
		    enum keystore_key_type type, keystore_key_cb *cb, void *arg,
		    char *err, size_t errlen);
/*
 * cb will not run; the key, if one was or will be generated, is freed; a
 * running RSA generation is aborted.  Doing nothing once cb has started.
 */
void		 keystore_job_cancel(struct keystore_job *job);

/* Blocks until no request is queued or running (tests only). */
void		 keystore_pool_wait_idle(struct keystore_pool *pool);

/* --- PEM --------------------------------------------------------------- */

/* Largest PEM text accepted for a private key. */
#define KEYSTORE_PEM_MAX	(64u * 1024)

/*
 * The key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY").  *pem is new and
 * NUL-terminated, *len excludes the NUL (secret: caller frees with
 * keystore_secret_free(*pem, *len)).  Returns 0, or -1 with err.
 */
int		 keystore_key_to_pem(EVP_PKEY *key, char **pem, size_t *len,
		    char *err, size_t errlen);
/*
 * Decodes text holding exactly one unencrypted private key (PKCS#8 or the
 * traditional RSA/EC forms; other PEM blocks such as certificates are
 * ignored).  Never prompts for a passphrase.  Returns a new key (caller frees
 * with EVP_PKEY_free) or NULL with err, which never quotes the input.
 */
EVP_PKEY	*keystore_key_from_pem(const char *pem, size_t len, char *err,
		    size_t errlen);

/* --- CSR and certificate match ------------------------------------------ */

#define KEYSTORE_CSR_NAMES_MAX	100	/* Let's Encrypt's limit per order */
#define KEYSTORE_NAME_MAX	253
#define KEYSTORE_CN_MAX		64	/* ub-common-name */

/*
 * A CSR for names[0..n-1]: subject CN = names[0] (left out when longer than
 * KEYSTORE_CN_MAX, as CAs accept), subjectAltName = every name as a DNS name,
 * in order (wildcards as given).  Signed with SHA-384 for ec384 keys, else
 * SHA-256.  Names must be printable ASCII without spaces.  Returns a new
 * request (caller frees with X509_REQ_free) or NULL with err.
 */
X509_REQ	*keystore_make_csr(EVP_PKEY *key, const char *const *names,
		    size_t n, char *err, size_t errlen);
/* *pem new and NUL-terminated (caller frees with free()); 0 or -1 with err. */
int		 keystore_csr_to_pem(X509_REQ *req, char **pem, size_t *len,
		    char *err, size_t errlen);
/* *der new (caller frees with free()); 0 or -1 with err. */
int		 keystore_csr_to_der(X509_REQ *req, unsigned char **der,
		    size_t *len, char *err, size_t errlen);

#define KEYSTORE_KEY_MISMATCH \
	"PEM mismatch: the private key does not belong to this certificate"

/* 1 when key is the private half of cert's public key, else 0. */
int		 keystore_key_matches_cert(EVP_PKEY *key, X509 *cert);

#endif
