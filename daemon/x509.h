/*
 * Certificate facts: PEM or DER in, the fields a user audits out.  Pure
 * functions over OpenSSL; no I/O, no store, no loop.
 */
#ifndef CERTFLEET_X509_H
#define CERTFLEET_X509_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* Largest PEM text accepted for one certificate. */
#define X509_PEM_MAX		(256u * 1024)
/* The seed's sentence, which every PEM refusal starts with. */
#define X509_PEM_REFUSAL \
	"Unable to process PEM-encoded certificate. Please double-check certificate and try again."

struct x509_facts {
	char	 *common_name;		/* subject CN, or NULL */
	char	 *issued_by;		/* issuer CN, else issuer O, else NULL */
	char	 *issuer;		/* issuer DN, RFC 4514 */
	char	 *subject;		/* subject DN, RFC 4514 */
	char	 *organization;		/* subject O, or NULL */
	char	 *organizational_unit;	/* subject OU(s) joined by ", ", or NULL */
	char	 *location;		/* L, ST, C joined by ", ", or NULL */
	char	 *serial_number;	/* upper-case hex, whole bytes */
	char	 *signature_algorithm;	/* OpenSSL long name */
	char	 *public_key;		/* "RSA 2048", "EC P-256", "ED25519" */
	char	 *fingerprint_sha256;	/* lower-case hex */
	int64_t	  valid_from;		/* notBefore, UTC seconds */
	int64_t	  valid_until;		/* notAfter, UTC seconds (inclusive) */
	char	**sans;			/* DNS names as written, IPs as text */
	size_t	  nsans;
	char	 *pem;			/* the certificate re-encoded as PEM */
};

/*
 * Decodes text that must hold exactly one PEM certificate and nothing but
 * whitespace or explanatory text around it.  Returns a new x509_facts (caller
 * frees with x509_facts_free) or NULL with the precise reason in err, e.g.
 * "found 2 certificates" (without the X509_PEM_REFUSAL sentence, which the
 * caller prepends).  Never copies key material into err.
 */
struct x509_facts *x509_facts_from_pem(const char *text, size_t len,
		    char *err, size_t errlen);

/* Most certificates accepted in a chain besides the leaf. */
#define X509_CHAIN_MAX		10

/*
 * Decodes text that must hold zero to X509_CHAIN_MAX PEM certificates and no
 * other block (walked as strictly as x509_facts_from_pem).  Returns 0 with
 * *out a new stack, empty for empty text (caller frees with
 * sk_X509_pop_free(*out, X509_free)), or -1 with the reason in err.
 */
int		 x509_chain_from_pem(const char *text, size_t len,
		    STACK_OF(X509) **out, char *err, size_t errlen);

/* Facts of an already parsed certificate; NULL with err on failure. */
struct x509_facts *x509_facts_from_cert(X509 *cert, char *err, size_t errlen);

void		 x509_facts_free(struct x509_facts *facts);

/* Seconds since the epoch of an ASN.1 time (years 0-9999); 0, or -1. */
int		 x509_time_to_epoch(const ASN1_TIME *t, int64_t *out);

/*
 * Whole days from now until notAfter, rounded toward minus infinity: 0 in
 * the last day, -1 from one second past notAfter.
 */
int64_t		 x509_days_remaining(int64_t valid_until, int64_t now);

/* "not_yet_valid", "expired" or "valid" at now; both ends inclusive. */
const char	*x509_validity_status(int64_t valid_from, int64_t valid_until,
		    int64_t now);

#endif
