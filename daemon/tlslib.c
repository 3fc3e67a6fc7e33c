/*
 * tlslib.c: a library context whose one provider is the default provider
 * with three of its algorithm lists cut to what a TLS client uses.
 *
 * libssl parses the certificates a server presents with d2i_X509, in the
 * SSL_CTX's library context, and every X509_PUBKEY is decoded on the spot
 * by OSSL_DECODER_CTX_new_for_pkey.  In OpenSSL 3.0 that call enumerates
 * every key manager and every decoder of the context, twice per
 * certificate; and each enumeration copies the context's whole method
 * store (every cipher, digest, MAC, KDF, ... fetched so far: a first fetch
 * of one cipher stores all 124 of them) with a reference taken on each
 * method.  That was a third of a probe's CPU.  So the lists are cut:
 *
 *   decoders  only DER SubjectPublicKeyInfo (12 of 40): every key type
 *             a certificate can carry decodes exactly as before;
 *   ciphers   only the record ciphers libssl knows (16 of 124);
 *   MACs      HMAC, the only one libssl uses (1 of 9);
 *   KDFs      TLS1-PRF, HKDF and TLS13-KDF (3 of 12).
 *
 * Digests, key managers, signatures, key exchange, random numbers and the
 * rest are the default provider's own lists: certificates are verified in
 * this context too, with whatever digest they were signed with.
 *
 * The provider wraps a default provider loaded into a private inner
 * context, and hands its provider context to the core as its own, so the
 * algorithms it lists run as the default provider's always do.  A provider
 * init function gets no argument of ours, hence one instance per process.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "tlslib.h"

#define TLSLIB_PROVIDER	"certfleet-tls"
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The record ciphers of libssl 3.0's suite table, and the stitched
 * AES-CBC-HMAC ones it prefers for CBC suites when a provider has them.
 * (DES, RC4, RC2, IDEA and SEED live in the legacy provider, not here.)
 */
static const char *const tls_ciphers[] = {
	"AES-128-CBC", "AES-256-CBC", "AES-128-GCM", "AES-256-GCM",
	"AES-128-CCM", "AES-256-CCM", "ChaCha20-Poly1305",
	"CAMELLIA-128-CBC", "CAMELLIA-256-CBC", "ARIA-128-GCM", "ARIA-256-GCM",
	"DES-EDE3-CBC",
	"AES-128-CBC-HMAC-SHA1", "AES-256-CBC-HMAC-SHA1",
	"AES-128-CBC-HMAC-SHA256", "AES-256-CBC-HMAC-SHA256",
};
static const char *const tls_macs[] = { "HMAC" };
static const char *const tls_kdfs[] = { "TLS1-PRF", "HKDF", "TLS13-KDF" };

struct cut {
	int			 operation;
	const char *const	*names;		/* keep those named so; or */
	size_t			 nnames;
	int			 spki;		/* keep the SPKI decoders */
	OSSL_ALGORITHM		*kept;		/* then a zero entry */
};

static struct {
	unsigned	 refs;
	OSSL_LIB_CTX	*ctx;		/* what users get */
	OSSL_PROVIDER	*lean;		/* our provider, loaded in ctx */
	OSSL_LIB_CTX	*inner;		/* holds the wrapped default provider */
	OSSL_PROVIDER	*deflt;
	struct cut	 cuts[4];
} tl = {
	.cuts = {
		{ OSSL_OP_DECODER, NULL, 0, 1, NULL },
		{ OSSL_OP_CIPHER, tls_ciphers, NELEM(tls_ciphers), 0, NULL },
		{ OSSL_OP_MAC, tls_macs, NELEM(tls_macs), 0, NULL },
		{ OSSL_OP_KDF, tls_kdfs, NELEM(tls_kdfs), 0, NULL },
	},
};

/* Whether a property definition ("a=b,c=d") holds the clause exactly. */
static int
has_property(const char *def, const char *clause)
{
	size_t n = strlen(clause);

	while (def != NULL && *def != '\0') {
		const char *end = strchr(def, ',');
		size_t len = end != NULL ? (size_t)(end - def) : strlen(def);

		if (len == n && strncmp(def, clause, n) == 0)
			return 1;
		def = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

/* Whether any of the names ("A:B:C") is in the set; names ignore case. */
static int
named_in(const char *names, const char *const *set, size_t n)
{
	while (names != NULL && *names != '\0') {
		size_t len = strcspn(names, ":");

		for (size_t i = 0; i < n; i++)
			if (strlen(set[i]) == len &&
			    strncasecmp(names, set[i], len) == 0)
				return 1;
		names = names[len] == ':' ? names + len + 1 : NULL;
	}
	return 0;
}

static int
keeps(const struct cut *c, const OSSL_ALGORITHM *a)
{
	if (c->spki)
		return has_property(a->property_definition, "input=der") &&
		    has_property(a->property_definition,
		    "structure=SubjectPublicKeyInfo");
	return named_in(a->algorithm_names, c->names, c->nnames);
}

/* The default provider's list for the cut's operation, cut. */
static int
make_cut(struct cut *c)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *all = OSSL_PROVIDER_query_operation(tl.deflt,
	    c->operation, &no_cache);
	size_t n = 0, k = 0;

	if (all == NULL)
		return -1;
	while (all[n].algorithm_names != NULL)
		n++;
	if ((c->kept = OPENSSL_zalloc((n + 1) * sizeof(*all))) != NULL)
		for (size_t i = 0; i < n; i++)
			if (keeps(c, &all[i]))
				c->kept[k++] = all[i];
	/* The entries point into the provider's static tables, not into
	 * the list we give back. */
	OSSL_PROVIDER_unquery_operation(tl.deflt, c->operation, all);
	return c->kept != NULL && k > 0 ? 0 : -1;
}

static const struct cut *
cut_of(int operation)
{
	for (size_t i = 0; i < NELEM(tl.cuts); i++)
		if (tl.cuts[i].operation == operation)
			return &tl.cuts[i];
	return NULL;
}

static const OSSL_PARAM *
lean_gettable_params(void *provctx)
{
	(void)provctx;
	return OSSL_PROVIDER_gettable_params(tl.deflt);
}

static int
lean_get_params(void *provctx, OSSL_PARAM params[])
{
	(void)provctx;
	return OSSL_PROVIDER_get_params(tl.deflt, params);
}

/* libssl learns the TLS groups it may offer from here. */
static int
lean_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
    void *arg)
{
	(void)provctx;
	return OSSL_PROVIDER_get_capabilities(tl.deflt, capability, cb, arg);
}

static const OSSL_ALGORITHM *
lean_query(void *provctx, int operation, int *no_cache)
{
	const struct cut *c = cut_of(operation);

	(void)provctx;
	if (c != NULL) {
		*no_cache = 0;
		return c->kept;
	}
	return OSSL_PROVIDER_query_operation(tl.deflt, operation, no_cache);
}

static void
lean_unquery(void *provctx, int operation, const OSSL_ALGORITHM *algs)
{
	(void)provctx;
	if (cut_of(operation) == NULL)
		OSSL_PROVIDER_unquery_operation(tl.deflt, operation, algs);
}

static void
lean_teardown(void *provctx)
{
	(void)provctx;
	for (size_t i = 0; i < NELEM(tl.cuts); i++) {
		OPENSSL_free(tl.cuts[i].kept);
		tl.cuts[i].kept = NULL;
	}
	OSSL_PROVIDER_unload(tl.deflt);
	tl.deflt = NULL;
	OSSL_LIB_CTX_free(tl.inner);
	tl.inner = NULL;
}

static const OSSL_DISPATCH lean_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	  (void (*)(void))lean_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))lean_get_params },
	{ OSSL_FUNC_PROVIDER_GET_CAPABILITIES,
	  (void (*)(void))lean_get_capabilities },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))lean_query },
	{ OSSL_FUNC_PROVIDER_UNQUERY_OPERATION, (void (*)(void))lean_unquery },
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))lean_teardown },
	{ 0, NULL }
};

static int
lean_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	if ((tl.inner = OSSL_LIB_CTX_new()) == NULL ||
	    (tl.deflt = OSSL_PROVIDER_load(tl.inner, "default")) == NULL)
		goto fail;
	for (size_t i = 0; i < NELEM(tl.cuts); i++)
		if (make_cut(&tl.cuts[i]) == -1)
			goto fail;
	*provctx = OSSL_PROVIDER_get0_provider_ctx(tl.deflt);
	*out = lean_dispatch;
	return 1;
fail:
	lean_teardown(NULL);
	return 0;
}

OSSL_LIB_CTX *
tlslib_acquire(char *err, size_t errlen)
{
	if (tl.refs > 0) {
		tl.refs++;
		return tl.ctx;
	}
	if ((tl.ctx = OSSL_LIB_CTX_new()) == NULL ||
	    OSSL_PROVIDER_add_builtin(tl.ctx, TLSLIB_PROVIDER, lean_init) != 1 ||
	    (tl.lean = OSSL_PROVIDER_load(tl.ctx, TLSLIB_PROVIDER)) == NULL) {
		snprintf(err, errlen, "cannot set up the TLS library context: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
		    ERR_reason_error_string(ERR_peek_last_error()) :
		    "out of memory");
		ERR_clear_error();
		OSSL_LIB_CTX_free(tl.ctx);
		tl.ctx = NULL;
		return NULL;
	}
	tl.refs = 1;
	return tl.ctx;
}

void
tlslib_release(void)
{
	if (tl.refs == 0 || --tl.refs > 0)
		return;
	OSSL_PROVIDER_unload(tl.lean);
	tl.lean = NULL;
	OSSL_LIB_CTX_free(tl.ctx);
	tl.ctx = NULL;
}
