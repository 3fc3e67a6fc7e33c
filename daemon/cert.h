/*
 * Managed certificates and CA profiles: the core behind the Ca.* and Cert.*
 * methods.  Drafts are plain rows; the CSR step makes the key (in the key
 * pool, off the loop), seals it to its row and assigns the certificate's
 * stable tech-zone label.  Issuing (pending -> active) is the engine's, not
 * this file's.  Nothing here logs key material or formats it into an error.
 */
#ifndef CERTFLEET_CERT_H
#define CERTFLEET_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct cf_err;
struct daemon;
struct store_ca;
struct store_cert;

#define CERT_NAMES_MAX		100	/* names per certificate (CA limit) */
#define CERT_NAME_MAX		253
#define CERT_LABEL_MAX		63
#define CERT_EMAIL_MAX		254
/* Before a certificate exists its lifetime is assumed to be this. */
#define CERT_LIFETIME_DAYS	90
#define CERT_RENEW_DAYS_DEFAULT	30
#define CERT_LABEL_LEN		20	/* base32 characters: 100 random bits */

#define CA_NAME_MAX		63
#define CA_URL_MAX		2048
#define CA_EAB_KID_MAX		256
#define CA_EAB_KEY_MAX		512	/* base64url characters */

/* --- pure checks (unit-tested) ------------------------------------------- */

/*
 * One DNS name as a certificate may carry it: lower case, LDH labels of
 * 1..63 characters, at most 253 in all, at least two labels, no trailing
 * dot, internationalized names only as A-labels (xn--, valid Punycode), a
 * wildcard only as the whole leftmost label.  Returns 0, or -1 with one
 * sentence in err that names the problem.
 */
int	 cert_check_name(const char *name, size_t len, char *err, size_t errlen);
/* Each name, then: no duplicates, at most CERT_NAMES_MAX. */
int	 cert_check_names(const char *const *names, size_t n, char *err,
	    size_t errlen);
int	 cert_check_email(const char *email, size_t len, char *err,
	    size_t errlen);
int	 cert_check_ca_name(const char *name, size_t len, char *err,
	    size_t errlen);
/* https:// only, printable ASCII, a host. */
int	 cert_check_directory(const char *url, size_t len, char *err,
	    size_t errlen);
/* base64url without padding, 16 bytes or more once decoded. */
int	 cert_check_eab_key(const char *key, size_t len, char *err,
	    size_t errlen);
/*
 * The ACME profile a CA profile asks for: 1..64 of A-Z a-z 0-9 . _ -
 * (acme_profile_name_valid), or "" for none.
 */
int	 cert_check_acme_profile(const char *name, size_t len, char *err,
	    size_t errlen);

/*
 * The CNAME records a certificate needs: one per distinct
 * "_acme-challenge.<name>." (a wildcard shares its base name's), in the
 * order of the names, each pointing at "<label>.<techzone>.".  Writes at
 * most max and returns how many there are (0 without a label or zone).
 */
struct cert_cname {
	char	 name[CERT_NAME_MAX + 20];
	char	 target[CERT_LABEL_MAX + CERT_NAME_MAX + 4];
};
size_t	 cert_cnames(const struct store_cert *c, const char *techzone,
	    struct cert_cname *out, size_t max);

/* The status to show at now: a stored "active" past notAfter is "expired". */
const char *cert_status(const struct store_cert *c, int64_t now);

/* --- shared with the issuing engine ------------------------------------------ */

/* domain, then the aliases: a view into c (caller frees the array only). */
const char	**cert_names(const struct store_cert *c, size_t *n);
/* Seals plain to "table:id:column"; *out new (free()).  0, or -1 with e. */
int		 cert_seal(struct daemon *d, const void *plain, size_t len,
		    const char *table, int64_t id, const char *column,
		    unsigned char **out, size_t *outlen, struct cf_err *e);
/* The reverse; *out is secret (keystore_secret_free).  0, or -1 with e. */
int		 cert_unseal(struct daemon *d, const unsigned char *blob,
		    size_t len, const char *table, int64_t id, const char *column,
		    unsigned char **out, size_t *outlen, struct cf_err *e);
/* A key sealed to "table:id:key": to PEM and sealed, or unsealed and read. */
int		 cert_seal_key(struct daemon *d, EVP_PKEY *key, const char *table,
		    int64_t id, unsigned char **out, size_t *outlen,
		    struct cf_err *e);
EVP_PKEY	*cert_unseal_key(struct daemon *d, const unsigned char *blob,
		    size_t len, const char *table, int64_t id, struct cf_err *e);

/* --- CA profiles ---------------------------------------------------------- */

/* Ca.Add input, each checked here; NULL when absent. */
struct cert_ca_params {
	const char	*name;
	const char	*directory;
	const char	*trust_file;
	const char	*eab_kid;
	const char	*eab_hmac_key;	/* secret: never formatted */
	const char	*acme_profile;	/* "": none, clears a built-in's */
};

/*
 * Adds a profile, or sets the EAB and/or the ACME profile of a built-in one
 * (the only changes a built-in takes).  Returns the stored profile (caller
 * frees with store_ca_free) or NULL with e.
 */
struct store_ca	*cert_ca_add(struct daemon *d, const struct cert_ca_params *p,
		    struct cf_err *e);
struct store_ca	*cert_ca_get(struct daemon *d, const char *name,
		    struct cf_err *e);
/* Refused for built-ins and while certificates use it. */
int		 cert_ca_delete(struct daemon *d, const char *name,
		    struct cf_err *e);

/* --- certificates --------------------------------------------------------- */

/* Cert.Create / Cert.Update input; absent fields are NULL / -1 / 0. */
struct cert_params {
	const char	*domain;
	const char	**aliases;	/* with has_aliases: replaces them all */
	size_t		 naliases;
	int		 has_aliases;
	const char	*ca;
	const char	*email;		/* "" clears it */
	int		 agree_tos;	/* -1 absent */
	int64_t		 renew_days;	/* 0 absent */
	const char	*key_type;
};

/* Each returns the stored certificate (store_cert_free) or NULL with e. */
struct store_cert *cert_create(struct daemon *d, const struct cert_params *p,
		    struct cf_err *e);
/* Drafts only: FAILED_PRECONDITION otherwise. */
struct store_cert *cert_update(struct daemon *d, int64_t id,
		    const struct cert_params *p, struct cf_err *e);
struct store_cert *cert_get(struct daemon *d, int64_t id, struct cf_err *e);
int		 cert_delete(struct daemon *d, int64_t id, struct cf_err *e);

/*
 * Called once when a CSR step ends: c is the stored certificate (the callee
 * owns it) or NULL with e.
 */
typedef void	 cert_done_fn(struct store_cert *c, const struct cf_err *e,
		    void *arg);
/*
 * Starts the CSR step of a draft: the key is generated in the pool and done
 * runs later, from the loop (never inside this call).  Returns 0, or -1 with
 * e when it cannot start (not a draft, no tech zone, pool full).
 */
int		 cert_csr(struct daemon *d, int64_t id, cert_done_fn *done,
		    void *arg, struct cf_err *e);
/* Ends every CSR step under way: each done runs with UNAVAILABLE. */
void		 cert_cancel_all(struct daemon *d);

/*
 * The private key as PEM.  *pem is secret: the caller wipes and frees it
 * with keystore_secret_free(*pem, *len).
 */
int		 cert_key_pem(struct daemon *d, int64_t id, char **pem,
		    size_t *len, struct cf_err *e);

/* Cert.Import input: PEM texts (chain may be NULL) and renewal settings. */
struct cert_import_params {
	const char	*cert;
	size_t		 cert_len;
	const char	*key;		/* secret */
	size_t		 key_len;
	const char	*chain;
	size_t		 chain_len;
	const char	*ca;		/* NULL: not renewed by certfleet */
	const char	*email;
	int		 agree_tos;	/* -1 absent */
	int64_t		 renew_days;	/* 0 absent */
};
struct store_cert *cert_import(struct daemon *d,
		    const struct cert_import_params *p, struct cf_err *e);

#endif
