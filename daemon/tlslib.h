/*
 * tlslib: the OpenSSL library context the host probes' TLS client runs in.
 *
 * It offers everything the default provider offers except the key decoders
 * a handshake never uses: libssl decodes every presented certificate's key,
 * and OpenSSL 3.0 builds that decoder chain from every decoder its library
 * context holds, per certificate.  See docs/architecture.md, "A host probe".
 */
#ifndef CERTFLEET_TLSLIB_H
#define CERTFLEET_TLSLIB_H

#include <stddef.h>
#include <openssl/types.h>

/*
 * The context, shared by its users (the provider behind it keeps its state
 * per process): each tlslib_acquire that succeeds is paired with one
 * tlslib_release.  NULL with err set if it cannot be made.
 */
OSSL_LIB_CTX	*tlslib_acquire(char *err, size_t errlen);
void		 tlslib_release(void);

#endif
