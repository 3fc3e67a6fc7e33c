/*
 * tlslib.c: a library context whose one provider is the default provider
 * with its decoder list cut to what decoding a certificate's key needs.
 *
 * libssl parses the certificates a server presents with d2i_X509, in the
 * SSL_CTX's library context, and every X509_PUBKEY is decoded on the spot
 * by OSSL_DECODER_CTX_new_for_pkey.  In OpenSSL 3.0 that call constructs a
 * method object for each decoder the context's providers offer (40 in the
 * default provider: private keys, PEM, MSBLOB, PVK, ...) and searches them
 * for chains, per certificate: about a third of a probe's CPU.  Only the
 * DER SubjectPublicKeyInfo decoders can take part in decoding a public key
 * from a certificate, and those 12 are all kept, so every key type decodes
 * exactly as before, in about half the time.  Every other operation
 * (ciphers, key exchange, signatures, key management, random numbers) is
 * the default provider's own list, untouched.
 *
 * The provider wraps a default provider loaded into a private inner
 * context, and hands its provider context to the core as its own, so the
 * algorithms it lists run as the default provider's always do.  A provider
 * init function gets no argument of ours, hence one instance per process.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "tlslib.h"

#define TLSLIB_PROVIDER	"certfleet-tls"

static struct {
	unsigned	 refs;
	OSSL_LIB_CTX	*ctx;		/* what users get */
	OSSL_PROVIDER	*lean;		/* our provider, loaded in ctx */
	OSSL_LIB_CTX	*inner;		/* holds the wrapped default provider */
	OSSL_PROVIDER	*deflt;
	OSSL_ALGORITHM	*decoders;	/* the kept ones, then a zero entry */
} tl;

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

static int
keep_decoders(void)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *all = OSSL_PROVIDER_query_operation(tl.deflt,
	    OSSL_OP_DECODER, &no_cache);
	size_t n = 0, kept = 0;

	if (all == NULL)
		return -1;
	while (all[n].algorithm_names != NULL)
		n++;
	if ((tl.decoders = OPENSSL_zalloc((n + 1) * sizeof(*all))) != NULL)
		for (size_t i = 0; i < n; i++)
			if (has_property(all[i].property_definition, "input=der") &&
			    has_property(all[i].property_definition,
			    "structure=SubjectPublicKeyInfo"))
				tl.decoders[kept++] = all[i];
	/* The entries point into the provider's static tables, not into
	 * the list we give back. */
	OSSL_PROVIDER_unquery_operation(tl.deflt, OSSL_OP_DECODER, all);
	return tl.decoders != NULL && kept > 0 ? 0 : -1;
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
	(void)provctx;
	if (operation == OSSL_OP_DECODER) {
		*no_cache = 0;
		return tl.decoders;
	}
	return OSSL_PROVIDER_query_operation(tl.deflt, operation, no_cache);
}

static void
lean_unquery(void *provctx, int operation, const OSSL_ALGORITHM *algs)
{
	(void)provctx;
	if (operation != OSSL_OP_DECODER)
		OSSL_PROVIDER_unquery_operation(tl.deflt, operation, algs);
}

static void
lean_teardown(void *provctx)
{
	(void)provctx;
	OPENSSL_free(tl.decoders);
	tl.decoders = NULL;
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
	    (tl.deflt = OSSL_PROVIDER_load(tl.inner, "default")) == NULL ||
	    keep_decoders() == -1) {
		lean_teardown(NULL);
		return 0;
	}
	*provctx = OSSL_PROVIDER_get0_provider_ctx(tl.deflt);
	*out = lean_dispatch;
	return 1;
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
