/*
 * The ACME client (RFC 8555, ARI RFC 9773).  The protocol part does no I/O:
 * JWS, JWK thumbprints, key authorizations, Retry-After and the strict
 * parsers of the CA's JSON documents take bytes in and give answers out.
 * The async part (struct acme_client and its operations) runs on the loop
 * through http.c.  Each operation is one protocol step that can be started
 * on its own from URLs the caller persisted, so an order resumes after a
 * restart at the step it reached.  Nothing here logs, and no private key,
 * EAB MAC key or JWS ever appears in an error sentence.
 */
#ifndef CERTFLEET_ACME_H
#define CERTFLEET_ACME_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct http_count;

struct event_base;
struct http;
struct http_response;

/* --- bounds ------------------------------------------------------------ */

#define ACME_URL_MAX		2048
#define ACME_DOC_MAX		(256u * 1024)	/* JSON documents */
#define ACME_IDENTIFIERS_MAX	100		/* names per order */
#define ACME_CHALLENGES_MAX	16		/* per authorization */
#define ACME_CONTACTS_MAX	8
#define ACME_NONCE_MAX		256		/* bytes in one nonce */
#define ACME_NONCE_POOL		8		/* nonces kept per client */
/*
 * badNonce retries per signed POST.  Each reuses the nonce the refusal
 * carried, so it costs one request; 5 was not enough when a CA refuses a
 * quarter of nonces (6 refusals in a row come once in ~4,000 requests).
 */
#define ACME_BADNONCE_RETRIES	10
#define ACME_OPS_MAX		128		/* operations per client */
#define ACME_RETRY_AFTER_MAX	(7 * 86400)	/* larger values are clamped */
#define ACME_THUMBPRINT_LEN	43		/* base64url(SHA-256) */
#define ACME_DETAIL_MAX		1024
#define ACME_PROFILES_MAX	32		/* names kept per directory */
#define ACME_PROFILE_NAME_MAX	64		/* bytes in a profile name */

/* --- encoding, keys, JWS ----------------------------------------------- */

/*
 * base64url without padding into out (NUL-terminated).  Returns the length,
 * or -1 when out is too small.
 */
int		 acme_b64url_encode(const void *in, size_t len, char *out,
		    size_t outlen);
/*
 * Strict decoding (no padding, no whitespace, canonical last character).
 * Returns the length written to out, or -1.
 */
int		 acme_b64url_decode(const char *in, size_t len,
		    unsigned char *out, size_t outlen);

/*
 * The public JWK of key in RFC 7638's canonical form (members sorted, no
 * whitespace): EC P-256/P-384 {"crv","kty","x","y"}, RSA {"e","kty","n"}.
 * Returns a new string (caller frees with free()) or NULL with err.
 */
char		*acme_jwk(EVP_PKEY *key, char *err, size_t errlen);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)); out >= 44 bytes. */
int		 acme_thumbprint(EVP_PKEY *key, char *out, size_t outlen,
		    char *err, size_t errlen);
/* "ES256" (P-256), "ES384" (P-384), "RS256" (RSA >= 2048); NULL otherwise. */
const char	*acme_jws_alg(EVP_PKEY *key);

/*
 * A flattened JWS (RFC 7515 §7.2.2) for an ACME POST: protected header
 * {alg, nonce, url} plus kid when kid != NULL, else the jwk.  payload NULL
 * means POST-as-GET (empty payload).  ECDSA signatures are raw r||s.
 * Returns a new string (caller frees with free()) or NULL with err.
 */
char		*acme_jws(EVP_PKEY *key, const char *kid, const char *nonce,
		    const char *url, const char *payload, char *err,
		    size_t errlen);

/*
 * The externalAccountBinding value for newAccount (RFC 8555 §7.3.4): an
 * HS256 JWS over the account's JWK with the CA's key id, the MAC key given
 * base64url-encoded as CAs hand it out.  Returns a new JSON string (caller
 * frees with free()) or NULL with err (which never quotes the MAC key).
 */
char		*acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid,
		    const char *mac_key_b64url, const char *url, char *err,
		    size_t errlen);

/* token "." thumbprint into out; -1 when token is not base64url or too long. */
int		 acme_key_authorization(const char *token,
		    const char *thumbprint, char *out, size_t outlen);
/* The DNS-01 TXT value base64url(SHA-256(key authorization)); out >= 44. */
int		 acme_dns01_txt(const char *token, const char *thumbprint,
		    char *out, size_t outlen);

/*
 * Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date (all three
 * forms).  *delay is seconds from now, clamped to 0..ACME_RETRY_AFTER_MAX.
 * Returns 0, or -1 when value is neither.
 */
int		 acme_retry_after(const char *value, int64_t now,
		    int64_t *delay);

/* RFC 3339 timestamp to UTC seconds; 0 or -1. */
int		 acme_time_parse(const char *s, int64_t *t);

/*
 * ARI certID (RFC 9773 §4.1): base64url(AKI keyIdentifier) "."
 * base64url(serial's DER content octets).  Returns 0, or -1 with err when
 * the certificate has no AKI keyIdentifier.
 */
int		 acme_ari_cert_id(X509 *cert, char *out, size_t outlen,
		    char *err, size_t errlen);

/* --- documents --------------------------------------------------------- */

enum acme_status {
	ACME_ST_UNKNOWN = 0,
	ACME_ST_PENDING,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_EXPIRED,
	ACME_ST_DEACTIVATED,
	ACME_ST_REVOKED,
};
const char	*acme_status_name(enum acme_status st);

/* A problem document (RFC 7807) as the CA sent it, truncated to fit. */
struct acme_problem {
	char		 type[256];	/* "urn:ietf:params:acme:error:..." */
	char		 detail[ACME_DETAIL_MAX];
	int		 status;	/* 0 when absent */
	/* The first subproblem's identifier and type, when present. */
	char		 sub_identifier[256];
	char		 sub_type[256];
};
#define ACME_ERR_PREFIX		"urn:ietf:params:acme:error:"
/* 1 when p's type is ACME_ERR_PREFIX name (e.g. "badNonce"). */
int		 acme_problem_is(const struct acme_problem *p,
		    const char *name);

struct acme_directory {
	char	*new_nonce, *new_account, *new_order, *revoke_cert;
	char	*key_change, *renewal_info;	/* optional */
	char	*terms_of_service, *website;	/* meta, optional */
	int	 eab_required;
	/*
	 * meta.profiles (the ACME profiles extension), {name: description}:
	 * has_profiles when it is an object (anything else is ignored, as
	 * if absent).  Only the names are kept, in the
	 * CA's order; an entry whose name fails acme_profile_name_valid() or
	 * whose description is not a string is skipped (a CA's mistake in an
	 * optional extension must not make the whole CA unusable).  Past
	 * ACME_PROFILES_MAX names the rest are dropped and profiles_truncated
	 * set.
	 */
	int	 has_profiles;
	char	*profiles[ACME_PROFILES_MAX];
	size_t	 nprofiles;
	int	 profiles_truncated;
};

struct acme_identifier {
	char	*type;		/* "dns" */
	char	*value;
};

struct acme_order {
	enum acme_status	 status;
	int64_t			 expires;	/* 0 when absent */
	struct acme_identifier	*identifiers;
	size_t			 nidentifiers;
	char			**authorizations;
	size_t			 nauthorizations;
	char			*finalize;
	char			*certificate;	/* when valid */
	int			 has_error;
	struct acme_problem	 error;
};

struct acme_challenge {
	char			*type;		/* "dns-01", ... */
	char			*url;
	char			*token;		/* NULL when absent */
	enum acme_status	 status;
	int			 has_error;
	struct acme_problem	 error;
};

struct acme_authz {
	enum acme_status	 status;
	struct acme_identifier	 identifier;
	int			 wildcard;
	int64_t			 expires;
	struct acme_challenge	*challenges;
	size_t			 nchallenges;
};

struct acme_account {
	enum acme_status	 status;
	char			*orders;	/* optional */
};

struct acme_renewal_info {
	int64_t	 window_start, window_end;
	char	*explanation_url;		/* optional */
};

/*
 * Strict parsers: every member's type is checked, required members must be
 * there, URLs must be https and at most ACME_URL_MAX, lists are bounded,
 * unknown members are ignored.  Each returns a new document (caller frees
 * with the matching _free, which accepts NULL) or NULL with err.
 */
struct acme_directory	*acme_directory_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_directory_free(struct acme_directory *d);
struct acme_order	*acme_order_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_order_free(struct acme_order *o);
struct acme_authz	*acme_authz_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_authz_free(struct acme_authz *a);
struct acme_challenge	*acme_challenge_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_challenge_free(struct acme_challenge *c);
struct acme_account	*acme_account_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_account_free(struct acme_account *a);
struct acme_renewal_info *acme_renewal_info_parse(const char *body, size_t len,
			    char *err, size_t errlen);
void			 acme_renewal_info_free(struct acme_renewal_info *r);
/* 0 and *p filled, or -1 with err. */
int			 acme_problem_parse(const char *body, size_t len,
			    struct acme_problem *p, char *err, size_t errlen);
/*
 * A profile name as certfleet accepts it, from the CA or the operator:
 * 1..ACME_PROFILE_NAME_MAX bytes of [A-Za-z0-9._-].  Returns 1 or 0.
 */
int			 acme_profile_name_valid(const char *name);
/*
 * 1 when d lists profile (or lists more names than it keeps, so the CA must
 * decide), else 0 (also when d offers no profiles at all).
 */
int			 acme_directory_offers(const struct acme_directory *d,
			    const char *profile);
/*
 * 0 when d offers profile, else -1 with one sentence in err naming the
 * profile and what the CA offers.
 */
int			 acme_directory_check_profile(
			    const struct acme_directory *d, const char *profile,
			    char *err, size_t errlen);
/*
 * The newOrder payload {"identifiers":[{"type":"dns","value":...}...]}
 * plus "profile" when profile != NULL.  Checks n (1..ACME_IDENTIFIERS_MAX),
 * each name (printable, 1..253 bytes) and the profile's name.  Returns a new
 * JSON string (caller frees with free()) or NULL with err.
 */
char			*acme_order_payload(const char *const *names, size_t n,
			    const char *profile, char *err, size_t errlen);
/* The authorization's challenge of type, or NULL. */
const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a,
			    const char *type);

/* --- the client on the loop -------------------------------------------- */

struct acme_client;
struct acme_op;

struct acme_client_conf {
	const char	*directory_url;
	const char	*ca_file;		/* NULL: system trust */
	long		 connect_timeout_ms;	/* 0: http.c's default */
	long		 timeout_ms;		/* 0: http.c's default */
	const struct http_count *count;		/* NULL: requests not counted */
};

struct acme_stats {
	uint64_t	 requests;		/* HTTP requests sent */
	uint64_t	 bad_nonce_retries;
	uint64_t	 nonce_fetches;		/* HEAD newNonce */
	uint64_t	 directory_fetches;
};

/* Returns a new client (caller frees with acme_client_free), or NULL + err. */
struct acme_client *acme_client_new(struct event_base *base, struct http *http,
		    const struct acme_client_conf *conf, char *err,
		    size_t errlen);
/*
 * Cancels every operation (no callback runs) and frees.  May be called from
 * inside an operation's callback.  NULL: no-op.
 */
void		 acme_client_free(struct acme_client *c);
/* The cached directory, or NULL before the first operation fetched it. */
const struct acme_directory *acme_client_directory(const struct acme_client *c);
void		 acme_client_stats(const struct acme_client *c,
		    struct acme_stats *st);

/*
 * What an operation ends with.  Everything points into the operation and is
 * valid only during the callback.
 *   ok:       the step succeeded; the fields of that step are set.
 *   problem:  the CA answered with a problem document (ok == 0).
 *   err:      one sentence: transport failure, unexpected answer, or the
 *             problem's type and detail summed up.  NULL when ok.
 *   retry_after: seconds from the response's Retry-After, else -1 (on
 *             errors such as 429/503, and on polled orders/authorizations).
 */
struct acme_result {
	int				 ok;
	const char			*err;
	const struct acme_problem	*problem;
	long				 http_status;	/* 0: no response */
	int64_t				 retry_after;
	const char			*location;	/* Location header */
	const char			*account_url;	/* account ops: the kid */
	const struct acme_account	*account;
	const struct acme_order		*order;
	const struct acme_authz		*authz;
	const struct acme_challenge	*challenge;
	const struct acme_renewal_info	*renewal_info;
	const char			*pem;		/* certificate chain */
	size_t				 pem_len;
	const struct http_response	*http;		/* raw (Links) */
};

typedef void	 acme_cb(const struct acme_result *res, void *arg);

/*
 * Every operation below: key is the account key (a reference is taken, so
 * the caller may free its own); kid the account URL.  cb runs exactly once,
 * from the loop and never inside the starting call, unless the operation is
 * cancelled.  Returns a handle valid until cb starts or acme_op_cancel
 * returns, or NULL with err (bad arguments, too many operations).  The
 * directory is fetched first when not cached; nonces come from the pool.
 */

/* EAB credentials from the CA (the MAC key base64url-encoded). */
struct acme_eab {
	const char	*kid;
	const char	*mac_key;
};

/*
 * newAccount.  contacts: "mailto:..." URIs.  only_existing: look up the
 * account of key without creating one (RFC 8555 §7.3.1); a CA that knows
 * none answers accountDoesNotExist.  Result: account_url, account.
 */
struct acme_op	*acme_account_new(struct acme_client *c, EVP_PKEY *key,
		    const char *const *contacts, size_t ncontacts,
		    int tos_agreed, const struct acme_eab *eab,
		    int only_existing, acme_cb *cb, void *arg, char *err,
		    size_t errlen);
/*
 * newOrder for DNS names (wildcards as "*.x"), with the CA's profile when
 * profile != NULL (see acme_order_payload).  A directory that does not offer
 * that profile fails the operation before anything is sent (err from
 * acme_directory_check_profile).  Result: location, order.
 */
struct acme_op	*acme_order_new(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const char *const *names, size_t n,
		    const char *profile, acme_cb *cb, void *arg, char *err,
		    size_t errlen);

enum acme_doc {
	ACME_DOC_ORDER = 0,
	ACME_DOC_AUTHZ,
	ACME_DOC_CHALLENGE,
	ACME_DOC_ACCOUNT,
};
/* POST-as-GET of url, parsed as doc.  Result: order/authz/challenge/account. */
struct acme_op	*acme_fetch(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const char *url, enum acme_doc doc,
		    acme_cb *cb, void *arg, char *err, size_t errlen);
/* Tells the CA to validate a challenge (payload {}).  Result: challenge. */
struct acme_op	*acme_challenge_respond(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const char *url, acme_cb *cb, void *arg,
		    char *err, size_t errlen);
/* Finalize with a DER CSR.  Result: order (often "processing"). */
struct acme_op	*acme_finalize(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const char *finalize_url,
		    const unsigned char *csr_der, size_t csr_len, acme_cb *cb,
		    void *arg, char *err, size_t errlen);
/* Downloads the chain (application/pem-certificate-chain).  Result: pem;
 * the http Links carry rel="alternate" chains. */
struct acme_op	*acme_certificate_get(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const char *url, acme_cb *cb, void *arg,
		    char *err, size_t errlen);
/* revokeCert with the account key (RFC 5280 reason code 0..10, -1: none). */
struct acme_op	*acme_revoke(struct acme_client *c, EVP_PKEY *key,
		    const char *kid, const unsigned char *cert_der,
		    size_t cert_len, int reason, acme_cb *cb, void *arg,
		    char *err, size_t errlen);
/* GET renewalInfo/<certID>; fails when the directory has no renewalInfo.
 * Result: renewal_info, retry_after. */
struct acme_op	*acme_renewal_info_get(struct acme_client *c, X509 *cert,
		    acme_cb *cb, void *arg, char *err, size_t errlen);

/* cb will not run; any request under way is stopped. */
void		 acme_op_cancel(struct acme_op *op);

#endif
