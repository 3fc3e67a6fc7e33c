/*
 * Fuzz target for x509_facts_from_pem and x509_chain_from_pem: arbitrary
 * bytes as pasted PEM text.
 * Linked with libFuzzer or with replay_main.c, which feeds it the corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>

#include "x509.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Beyond "does not crash": no OpenSSL errors are left behind, a refusal
 * always explains itself, and an accepted certificate's re-encoded PEM is
 * accepted again as the very same certificate.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_facts *facts, *again;
	STACK_OF(X509) *chain;
	char err[256];

	/* The chain walker: the same hygiene, and never more than its limit. */
	err[0] = '\0';
	if (x509_chain_from_pem((const char *)data, size, &chain, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0' || chain != NULL)
			__builtin_trap();
	} else if (sk_X509_num(chain) > X509_CHAIN_MAX)
		__builtin_trap();
	sk_X509_pop_free(chain, X509_free);
	if (ERR_peek_error() != 0)
		__builtin_trap();
	err[0] = '\0';
	facts = x509_facts_from_pem((const char *)data, size, err, sizeof(err));
	if (facts == NULL) {
		if (err[0] == '\0' || ERR_peek_error() != 0)
			__builtin_trap();
		return 0;
	}
	if (ERR_peek_error() != 0)
		__builtin_trap();
	again = x509_facts_from_pem(facts->pem, strlen(facts->pem), err,
	    sizeof(err));
	if (again == NULL ||
	    strcmp(again->fingerprint_sha256, facts->fingerprint_sha256) != 0)
		__builtin_trap();
	x509_facts_free(again);
	x509_facts_free(facts);
	return 0;
}
