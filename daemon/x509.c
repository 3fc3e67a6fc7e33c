/*
 * Certificate facts.  x509_facts_from_pem walks hostile PEM text itself, so
 * that nothing but exactly one certificate gets through, and hands the parsed
 * certificate to x509_facts_from_cert, which turns it into display strings.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certfleet/escape.h"
#include "x509.h"

#define PEM_LABEL_MAX	64	/* longest label we are willing to quote */
#define SANS_MAX	10000
#define SECS_PER_DAY	86400

static const char begin_prefix[] = "-----BEGIN ";
static const char end_prefix[] = "-----END ";
static const char dashes[] = "-----";

/* What a walk over the PEM text found. */
struct pem_scan {
	size_t		 ncerts;
	size_t		 nother;
	char		 other[PEM_LABEL_MAX + 1]; /* first foreign label */
	const char	*body;		/* first CERTIFICATE block's body */
	size_t		 bodylen;
	/* Optional: called for every CERTIFICATE block; -1 stops the walk. */
	int		(*each)(const char *body, size_t bodylen, void *arg);
	void		*arg;
	int		 stopped;
};

/*
 * Every failure goes through here, so the OpenSSL error queue is drained
 * where the failure happened and never blames the next, unrelated call.
 */
static void __attribute__((format(printf, 3, 4)))
refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	ERR_clear_error();
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
dup_bytes(const void *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* --- PEM walking ---------------------------------------------------------- */

/* Offset of the first byte that cannot appear in text, or len if none. */
static size_t
first_binary_byte(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\t' || p[i] == '\r' || p[i] == '\n')
			continue;
		if (p[i] < 0x20 || p[i] == 0x7f)
			break;
	}
	return i;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Next line at *pos without its terminator and surrounding blanks (so CRLF
 * and indented pastes work).  Returns 0 at the end of the text.
 */
static int
next_line(const char *text, size_t len, size_t *pos, const char **line,
    size_t *linelen)
{
	const char *s, *e, *nl;

	if (*pos >= len)
		return 0;
	s = text + *pos;
	if ((nl = memchr(s, '\n', len - *pos)) != NULL) {
		e = nl;
		*pos = (size_t)(nl - text) + 1;
	} else {
		e = text + len;
		*pos = len;
	}
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	*line = s;
	*linelen = (size_t)(e - s);
	return 1;
}

static int
has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t plen = strlen(prefix);

	return n >= plen && memcmp(s, prefix, plen) == 0;
}

/*
 * Label of an encapsulation boundary: 1 if line is one (label copied out),
 * 0 if it is not, -1 if it starts like one but is malformed.  Labels are
 * kept to printable ASCII because they end up quoted in error messages.
 */
static int
boundary_label(const char *line, size_t n, const char *prefix, char *label)
{
	size_t plen = strlen(prefix), dlen = strlen(dashes), llen, i;

	/* "-----BEGIN" without the space is still a broken boundary. */
	if (n < plen - 1 || memcmp(line, prefix, plen - 1) != 0)
		return 0;
	if (n < plen + dlen || !has_prefix(line, n, prefix) ||
	    memcmp(line + n - dlen, dashes, dlen) != 0)
		return -1;
	llen = n - plen - dlen;
	if (llen == 0 || llen > PEM_LABEL_MAX)
		return -1;
	for (i = 0; i < llen; i++) {
		if (line[plen + i] < 0x20 || line[plen + i] > 0x7e)
			return -1;
	}
	memcpy(label, line + plen, llen);
	label[llen] = '\0';
	return 1;
}

/* Case-insensitive, so no spelling of a key's boundary line gets through. */
static int
mentions_private_key(const char *line, size_t n)
{
	static const char needle[] = "PRIVATE KEY";
	size_t i, k = sizeof(needle) - 1;

	for (i = 0; i + k <= n; i++) {
		if (strncasecmp(line + i, needle, k) == 0)
			return 1;
	}
	return 0;
}

static void
count_block(struct pem_scan *scan, const char *label, const char *body,
    size_t bodylen)
{
	if (strcmp(label, "CERTIFICATE") == 0) {
		if (scan->each != NULL && !scan->stopped &&
		    scan->each(body, bodylen, scan->arg) == -1)
			scan->stopped = 1;
		if (scan->ncerts++ == 0) {
			scan->body = body;
			scan->bodylen = bodylen;
		}
	} else if (scan->nother++ == 0)
		snprintf(scan->other, sizeof(scan->other), "%s", label);
}

/*
 * Walks every block rather than trusting PEM_read_bio_X509, which stops at
 * the first certificate and silently ignores whatever follows.  A private
 * key is refused at its first boundary line, even a malformed one, so its
 * body is never even looked at.
 */
static int
scan_pem(const char *text, size_t len, struct pem_scan *scan, char *err,
    size_t errlen)
{
	char label[PEM_LABEL_MAX + 1], found[PEM_LABEL_MAX + 1];
	const char *line, *body = NULL;
	size_t pos = 0, linelen;
	int inside = 0, rb, re;

	scan->ncerts = scan->nother = 0;
	scan->other[0] = '\0';
	scan->body = NULL;
	scan->bodylen = 0;
	scan->stopped = 0;
	while (next_line(text, len, &pos, &line, &linelen)) {
		rb = boundary_label(line, linelen, begin_prefix, found);
		re = rb != 0 ? 0 :
		    boundary_label(line, linelen, end_prefix, found);
		if (rb == 0 && re == 0)
			continue;	/* base64 body or explanatory text */
		if (mentions_private_key(line, linelen)) {
			refuse(err, errlen,
			    "found a private key, not a certificate");
			return -1;
		}
		if (rb != 0) {
			if (inside) {
				refuse(err, errlen, "unterminated PEM block");
				return -1;
			}
			if (rb == -1) {
				refuse(err, errlen, "malformed PEM BEGIN line");
				return -1;
			}
			memcpy(label, found, sizeof(label));
			inside = 1;
			body = text + pos;
			continue;
		}
		if (re == -1) {
			refuse(err, errlen, "malformed PEM END line");
			return -1;
		}
		if (!inside) {
			refuse(err, errlen,
			    "PEM END line without a BEGIN line");
			return -1;
		}
		if (strcmp(label, found) != 0) {
			refuse(err, errlen, "mismatched PEM block labels");
			return -1;
		}
		count_block(scan, label, body, (size_t)(line - body));
		inside = 0;
	}
	if (inside) {
		refuse(err, errlen, "unterminated PEM block");
		return -1;
	}
	return 0;
}

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 of a block body into buf (n bytes will do): any line layout,
 * but only the alphabet, whole quanta and padding at the very end.
 * OpenSSL's decoder is more forgiving than we want for hostile input.
 */
static int
decode_base64(const char *s, size_t n, unsigned char *buf, size_t *outlen)
{
	size_t i, k, m = 0, pad = 0, o = 0;
	unsigned long quad;
	int v;

	for (i = 0; i < n; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			buf[m++] = (unsigned char)s[i];
	}
	while (pad < 2 && pad < m && buf[m - 1 - pad] == '=')
		pad++;
	if (m % 4 != 0)
		return -1;
	/* Decoding in place is safe: each quad is read before 3 bytes land. */
	for (i = 0; i < m; i += 4) {
		quad = 0;
		for (k = 0; k < 4; k++) {
			if (i + k >= m - pad)
				v = 0;
			else if ((v = base64_value(buf[i + k])) == -1)
				return -1;
			quad = (quad << 6) | (unsigned long)v;
		}
		buf[o++] = (unsigned char)(quad >> 16);
		buf[o++] = (unsigned char)(quad >> 8);
		buf[o++] = (unsigned char)quad;
	}
	*outlen = o - pad;
	return 0;
}

static X509 *
decode_cert_block(const char *body, size_t bodylen, char *err, size_t errlen)
{
	unsigned char *der;
	const unsigned char *p;
	size_t derlen;
	X509 *cert;

	if ((der = malloc(bodylen + 1)) == NULL) {
		refuse(err, errlen, "out of memory");
		return NULL;
	}
	if (decode_base64(body, bodylen, der, &derlen) == -1) {
		free(der);
		refuse(err, errlen, "certificate block is not valid base64");
		return NULL;
	}
	p = der;
	cert = d2i_X509(NULL, &p, (long)derlen);
	if (cert == NULL) {
		free(der);
		refuse(err, errlen, "certificate DER is malformed");
		return NULL;
	}
	if (p != der + derlen) {
		X509_free(cert);
		free(der);
		refuse(err, errlen,
		    "trailing bytes inside the certificate block");
		return NULL;
	}
	free(der);
	return cert;
}

struct x509_facts *
x509_facts_from_pem(const char *text, size_t len, char *err, size_t errlen)
{
	struct pem_scan scan;
	struct x509_facts *facts;
	size_t bad;
	X509 *cert;

	if (len > X509_PEM_MAX) {
		refuse(err, errlen, "input too large (%zu bytes, limit %u)",
		    len, X509_PEM_MAX);
		return NULL;
	}
	if (text == NULL)
		len = 0;
	if ((bad = first_binary_byte((const unsigned char *)text, len)) < len) {
		refuse(err, errlen,
		    "input is not text (binary data at byte %zu)", bad);
		return NULL;
	}
	memset(&scan, 0, sizeof(scan));
	if (scan_pem(text, len, &scan, err, errlen) == -1)
		return NULL;
	if (scan.ncerts == 0 && scan.nother == 0) {
		refuse(err, errlen, "found no certificate");
		return NULL;
	}
	if (scan.ncerts > 1) {
		refuse(err, errlen, "found %zu certificates", scan.ncerts);
		return NULL;
	}
	if (scan.nother > 0) {
		refuse(err, errlen, "found a %s block, not a certificate",
		    scan.other);
		return NULL;
	}
	if ((cert = decode_cert_block(scan.body, scan.bodylen, err,
	    errlen)) == NULL)
		return NULL;
	facts = x509_facts_from_cert(cert, err, errlen);
	X509_free(cert);
	return facts;
}

struct chain_walk {
	STACK_OF(X509)	*chain;
	char		*err;
	size_t		 errlen;
};

static int
chain_add_cb(const char *body, size_t bodylen, void *arg)
{
	struct chain_walk *w = arg;
	X509 *cert;

	if (sk_X509_num(w->chain) >= X509_CHAIN_MAX) {
		refuse(w->err, w->errlen, "more than %d certificates in the chain",
		    X509_CHAIN_MAX);
		return -1;
	}
	if ((cert = decode_cert_block(body, bodylen, w->err, w->errlen)) == NULL)
		return -1;
	if (!sk_X509_push(w->chain, cert)) {
		X509_free(cert);
		refuse(w->err, w->errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
x509_chain_from_pem(const char *text, size_t len, STACK_OF(X509) **out,
    char *err, size_t errlen)
{
	struct chain_walk w = { .err = err, .errlen = errlen };
	struct pem_scan scan;
	size_t bad;

	*out = NULL;
	if (len > X509_PEM_MAX) {
		refuse(err, errlen, "input too large (%zu bytes, limit %u)",
		    len, X509_PEM_MAX);
		return -1;
	}
	if (text == NULL)
		len = 0;
	if ((bad = first_binary_byte((const unsigned char *)text, len)) < len) {
		refuse(err, errlen,
		    "input is not text (binary data at byte %zu)", bad);
		return -1;
	}
	if ((w.chain = sk_X509_new_null()) == NULL) {
		refuse(err, errlen, "out of memory");
		return -1;
	}
	memset(&scan, 0, sizeof(scan));
	scan.each = chain_add_cb;
	scan.arg = &w;
	if (scan_pem(text, len, &scan, err, errlen) == -1 || scan.stopped) {
		sk_X509_pop_free(w.chain, X509_free);
		return -1;
	}
	if (scan.nother > 0) {
		sk_X509_pop_free(w.chain, X509_free);
		refuse(err, errlen, "found a %s block, not a certificate",
		    scan.other);
		return -1;
	}
	*out = w.chain;
	return 0;
}

/* --- names ---------------------------------------------------------------- */

/*
 * A name string as UTF-8.  An embedded NUL is refused outright: C string
 * consumers would see "good.example" where the certificate says
 * "good.example\0.evil.example".
 */
static char *
asn1_to_utf8(const ASN1_STRING *s, const char *what, char *err,
    size_t errlen)
{
	unsigned char *u = NULL;
	char *out;
	int n;

	if ((n = ASN1_STRING_to_UTF8(&u, s)) < 0) {
		refuse(err, errlen, "certificate name is not valid text (%s)",
		    what);
		return NULL;
	}
	if (memchr(u, '\0', (size_t)n) != NULL) {
		OPENSSL_free(u);
		refuse(err, errlen, "certificate name contains a NUL byte (%s)",
		    what);
		return NULL;
	}
	/* Strict UTF-8: the store hands these strings to JSON encoders. */
	if (!esc_utf8_valid((const char *)u, (size_t)n)) {
		OPENSSL_free(u);
		refuse(err, errlen, "certificate name is not valid text (%s)",
		    what);
		return NULL;
	}
	out = dup_bytes(u, (size_t)n);
	OPENSSL_free(u);
	if (out == NULL)
		refuse(err, errlen, "out of memory");
	return out;
}

/* Appends sep and s to *dst (which may be NULL); -1 when out of memory. */
static int
append(char **dst, const char *sep, const char *s)
{
	size_t have = *dst ? strlen(*dst) : 0, slen = strlen(sep);
	size_t add = strlen(s);
	char *p;

	if ((p = realloc(*dst, have + slen + add + 1)) == NULL)
		return -1;
	if (have > 0) {
		memcpy(p + have, sep, slen);
		have += slen;
	}
	memcpy(p + have, s, add + 1);
	*dst = p;
	return 0;
}

/*
 * Entries of one attribute type, UTF-8, joined by ", "; first_only stops at
 * the first.  *out stays NULL when the name has no such entry.
 */
static int
name_entries(const X509_NAME *name, int nid, int first_only, char **out,
    char *err, size_t errlen)
{
	const X509_NAME_ENTRY *e;
	char *s;
	int i = -1;

	*out = NULL;
	while ((i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0) {
		e = X509_NAME_get_entry(name, i);
		if ((s = asn1_to_utf8(X509_NAME_ENTRY_get_data(e),
		    OBJ_nid2sn(nid), err, errlen)) == NULL)
			goto fail;
		if (append(out, ", ", s) == -1) {
			free(s);
			refuse(err, errlen, "out of memory");
			goto fail;
		}
		free(s);
		if (first_only)
			break;
	}
	return 0;
fail:
	free(*out);
	*out = NULL;
	return -1;
}

static const int checked_nids[] = {
	NID_commonName, NID_organizationName, NID_organizationalUnitName,
	NID_localityName, NID_stateOrProvinceName, NID_countryName,
};

/*
 * Every entry of the attribute types we show must be clean text, not just
 * the first one we happen to pick, or a second CN could hide a NUL.
 */
static int
name_is_clean(const X509_NAME *name, char *err, size_t errlen)
{
	size_t k;
	char *s;

	for (k = 0; k < sizeof(checked_nids) / sizeof(checked_nids[0]); k++) {
		if (name_entries(name, checked_nids[k], 0, &s, err,
		    errlen) == -1)
			return 0;
		free(s);
	}
	return 1;
}

/* First L, ST and C, joined; *out stays NULL when there is none. */
static int
location_of(const X509_NAME *name, char **out, char *err, size_t errlen)
{
	static const int nids[] = {
		NID_localityName, NID_stateOrProvinceName, NID_countryName,
	};
	char *s;
	size_t k;

	*out = NULL;
	for (k = 0; k < sizeof(nids) / sizeof(nids[0]); k++) {
		if (name_entries(name, nids[k], 1, &s, err, errlen) == -1)
			goto fail;
		if (s != NULL && append(out, ", ", s) == -1) {
			free(s);
			refuse(err, errlen, "out of memory");
			goto fail;
		}
		free(s);
	}
	return 0;
fail:
	free(*out);
	*out = NULL;
	return -1;
}

static char *
bio_to_string(BIO *bio)
{
	char *data;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) < 0)
		return NULL;
	return dup_bytes(data, (size_t)n);
}

/*
 * RFC 4514 text, identical to `openssl x509 -nameopt RFC2253,-esc_msb`:
 * without ESC_MSB, UTF-8 is printed as UTF-8 instead of \XX escapes.
 */
static char *
name_rfc4514(const X509_NAME *name, const char *what, char *err,
    size_t errlen)
{
	BIO *bio;
	char *s = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		refuse(err, errlen, "out of memory");
		return NULL;
	}
	if (X509_NAME_print_ex(bio, name, 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
		refuse(err, errlen, "certificate %s cannot be printed", what);
		goto out;
	}
	if ((s = bio_to_string(bio)) == NULL) {
		refuse(err, errlen, "out of memory");
		goto out;
	}
	if (!esc_utf8_valid(s, strlen(s))) {
		free(s);
		s = NULL;
		refuse(err, errlen, "certificate %s is not valid text", what);
	}
out:
	BIO_free(bio);
	return s;
}

static int
fill_names(X509 *cert, struct x509_facts *f, char *err, size_t errlen)
{
	const X509_NAME *subj = X509_get_subject_name(cert);
	const X509_NAME *iss = X509_get_issuer_name(cert);

	if (!name_is_clean(subj, err, errlen) ||
	    !name_is_clean(iss, err, errlen))
		return -1;
	if (name_entries(subj, NID_commonName, 1, &f->common_name, err,
	    errlen) == -1 ||
	    name_entries(iss, NID_commonName, 1, &f->issued_by, err,
	    errlen) == -1)
		return -1;
	if (f->issued_by == NULL && name_entries(iss, NID_organizationName, 1,
	    &f->issued_by, err, errlen) == -1)
		return -1;
	if (name_entries(subj, NID_organizationName, 1, &f->organization,
	    err, errlen) == -1 ||
	    name_entries(subj, NID_organizationalUnitName, 0,
	    &f->organizational_unit, err, errlen) == -1)
		return -1;
	if (location_of(subj, &f->location, err, errlen) == -1)
		return -1;
	if ((f->issuer = name_rfc4514(iss, "issuer", err, errlen)) == NULL ||
	    (f->subject = name_rfc4514(subj, "subject", err, errlen)) == NULL)
		return -1;
	return 0;
}

/* --- the other fields ----------------------------------------------------- */

/*
 * Same text as `openssl x509 -serial` (i2a_ASN1_INTEGER): whole bytes,
 * upper case, "-" for negatives.  BN_bn2hex only differs for zero.
 */
static char *
serial_hex(X509 *cert, char *err, size_t errlen)
{
	BIGNUM *bn;
	char *hex, *s;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert),
	    NULL)) == NULL) {
		refuse(err, errlen, "certificate serial number is malformed");
		return NULL;
	}
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL) {
		refuse(err, errlen, "out of memory");
		return NULL;
	}
	s = strdup(strcmp(hex, "0") == 0 ? "00" : hex);
	OPENSSL_free(hex);
	if (s == NULL)
		refuse(err, errlen, "out of memory");
	return s;
}

static char *
signature_name(X509 *cert, char *err, size_t errlen)
{
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	const char *ln;
	char buf[128], *s;
	int nid;

	nid = X509_get_signature_nid(cert);
	if (nid != NID_undef && (ln = OBJ_nid2ln(nid)) != NULL)
		s = strdup(ln);
	else {
		/* An algorithm OpenSSL has no name for: show its OID. */
		X509_get0_signature(NULL, &alg, cert);
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
		if (OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0) {
			refuse(err, errlen,
			    "certificate signature algorithm is malformed");
			return NULL;
		}
		s = strdup(buf);
	}
	if (s == NULL)
		refuse(err, errlen, "out of memory");
	return s;
}

static char *
ec_key_name(const EVP_PKEY *pkey)
{
	char group[80], buf[96];
	const char *nist;
	int nid;

	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL)) {
		/* Explicit curve parameters have no name to show. */
		ERR_clear_error();
		return strdup("EC");
	}
	nid = OBJ_sn2nid(group);
	if (nid != NID_undef && (nist = EC_curve_nid2nist(nid)) != NULL)
		snprintf(buf, sizeof(buf), "EC %s", nist);
	else
		snprintf(buf, sizeof(buf), "EC %s", group);
	return strdup(buf);
}

/* The key's algorithm OID, for keys OpenSSL could not decode. */
static char *
unknown_key_name(X509 *cert)
{
	ASN1_OBJECT *obj;
	char buf[128];
	int nid;

	ERR_clear_error();
	if (!X509_PUBKEY_get0_param(&obj, NULL, NULL, NULL,
	    X509_get_X509_PUBKEY(cert)))
		return NULL;
	if ((nid = OBJ_obj2nid(obj)) != NID_undef && OBJ_nid2sn(nid) != NULL)
		return strdup(OBJ_nid2sn(nid));
	if (OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0)
		return NULL;
	return strdup(buf);
}

static char *
public_key_name(X509 *cert, char *err, size_t errlen)
{
	const EVP_PKEY *pkey;
	const char *name = NULL;
	char buf[96], *s;
	int id;

	if ((pkey = X509_get0_pubkey(cert)) == NULL) {
		if ((s = unknown_key_name(cert)) == NULL)
			refuse(err, errlen,
			    "certificate public key is malformed");
		return s;
	}
	id = EVP_PKEY_get_base_id(pkey);
	if (id == EVP_PKEY_EC)
		s = ec_key_name(pkey);
	else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS ||
	    id == EVP_PKEY_DSA) {
		snprintf(buf, sizeof(buf), "%s %d", id == EVP_PKEY_RSA ? "RSA" :
		    OBJ_nid2sn(id), EVP_PKEY_get_bits(pkey));
		s = strdup(buf);
	} else {
		/* Provider-only key types have no NID; ask for their name. */
		if (id > 0)
			name = OBJ_nid2sn(id);
		if (name == NULL)
			name = EVP_PKEY_get0_type_name(pkey);
		ERR_clear_error();
		s = strdup(name != NULL ? name : "unknown");
	}
	if (s == NULL)
		refuse(err, errlen, "out of memory");
	return s;
}

static char *
fingerprint_sha256(X509 *cert, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;
	char *s;

	if (!X509_digest(cert, EVP_sha256(), md, &n)) {
		refuse(err, errlen,
		    "cannot compute the certificate fingerprint");
		return NULL;
	}
	if ((s = malloc(2 * (size_t)n + 1)) == NULL) {
		refuse(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", md[i]);
	s[2 * n] = '\0';
	return s;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil).  Used instead of timegm so years 0-9999 work whatever
 * the width of time_t, and -1 is never confused with an error.
 */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
x509_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	*out = days_from_civil((int64_t)tm.tm_year + 1900,
	    (int64_t)tm.tm_mon + 1, tm.tm_mday) * SECS_PER_DAY +
	    (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	return 0;
}

static int
fill_validity(X509 *cert, struct x509_facts *f, char *err, size_t errlen)
{
	if (x509_time_to_epoch(X509_get0_notBefore(cert),
	    &f->valid_from) == -1) {
		refuse(err, errlen, "certificate notBefore date is malformed");
		return -1;
	}
	if (x509_time_to_epoch(X509_get0_notAfter(cert),
	    &f->valid_until) == -1) {
		refuse(err, errlen, "certificate notAfter date is malformed");
		return -1;
	}
	return 0;
}

static char *
ip_text(const ASN1_OCTET_STRING *ip, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN];
	const unsigned char *p = ASN1_STRING_get0_data(ip);
	const char *s = NULL;
	char *out;

	if (ASN1_STRING_length(ip) == 4)
		s = inet_ntop(AF_INET, p, buf, sizeof(buf));
	else if (ASN1_STRING_length(ip) == 16)
		s = inet_ntop(AF_INET6, p, buf, sizeof(buf));
	if (s == NULL) {
		refuse(err, errlen, "malformed IP address in subjectAltName");
		return NULL;
	}
	if ((out = strdup(s)) == NULL)
		refuse(err, errlen, "out of memory");
	return out;
}

static char *
san_text(const GENERAL_NAME *gn, char *err, size_t errlen)
{
	if (gn->type == GEN_DNS)
		return asn1_to_utf8(gn->d.dNSName, "subjectAltName", err,
		    errlen);
	return ip_text(gn->d.iPAddress, err, errlen);
}

static int
fill_sans(X509 *cert, struct x509_facts *f, char *err, size_t errlen)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *gn;
	int crit = 0, i, n;

	if ((gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit,
	    NULL)) == NULL) {
		if (crit == -1)
			return 0;	/* no extension at all */
		refuse(err, errlen, crit == -2 ?
		    "certificate has more than one subjectAltName extension" :
		    "malformed subjectAltName extension");
		return -1;
	}
	if ((n = sk_GENERAL_NAME_num(gens)) > SANS_MAX) {
		refuse(err, errlen, "too many subjectAltNames");
		goto fail;
	}
	if (n > 0 && (f->sans = calloc((size_t)n, sizeof(char *))) == NULL) {
		refuse(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type != GEN_DNS && gn->type != GEN_IPADD)
			continue;
		if ((f->sans[f->nsans] = san_text(gn, err, errlen)) == NULL)
			goto fail;
		f->nsans++;
	}
	if (f->nsans == 0) {
		free(f->sans);
		f->sans = NULL;
	}
	GENERAL_NAMES_free(gens);
	return 0;
fail:
	GENERAL_NAMES_free(gens);
	return -1;
}

static char *
cert_pem(X509 *cert, char *err, size_t errlen)
{
	BIO *bio;
	char *s = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(bio, cert) || (s = bio_to_string(bio)) == NULL)
		refuse(err, errlen, "cannot re-encode the certificate");
	BIO_free(bio);
	return s;
}

struct x509_facts *
x509_facts_from_cert(X509 *cert, char *err, size_t errlen)
{
	struct x509_facts *f;

	if (cert == NULL) {
		refuse(err, errlen, "no certificate");
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		refuse(err, errlen, "out of memory");
		return NULL;
	}
	if (fill_names(cert, f, err, errlen) == -1 ||
	    (f->serial_number = serial_hex(cert, err, errlen)) == NULL ||
	    (f->signature_algorithm = signature_name(cert, err,
	    errlen)) == NULL ||
	    (f->public_key = public_key_name(cert, err, errlen)) == NULL ||
	    (f->fingerprint_sha256 = fingerprint_sha256(cert, err,
	    errlen)) == NULL ||
	    fill_validity(cert, f, err, errlen) == -1 ||
	    fill_sans(cert, f, err, errlen) == -1 ||
	    (f->pem = cert_pem(cert, err, errlen)) == NULL) {
		x509_facts_free(f);
		return NULL;
	}
	return f;
}

void
x509_facts_free(struct x509_facts *f)
{
	size_t i;

	if (f == NULL)
		return;
	free(f->common_name);
	free(f->issued_by);
	free(f->issuer);
	free(f->subject);
	free(f->organization);
	free(f->organizational_unit);
	free(f->location);
	free(f->serial_number);
	free(f->signature_algorithm);
	free(f->public_key);
	free(f->fingerprint_sha256);
	for (i = 0; i < f->nsans; i++)
		free(f->sans[i]);
	free(f->sans);
	free(f->pem);
	free(f);
}

/* --- time ----------------------------------------------------------------- */

int64_t
x509_days_remaining(int64_t valid_until, int64_t now)
{
	int64_t diff, days;

	/* Dates come from hostile certificates; saturate, don't overflow. */
	if (__builtin_sub_overflow(valid_until, now, &diff))
		diff = valid_until > now ? INT64_MAX : INT64_MIN;
	days = diff / SECS_PER_DAY;
	if (diff % SECS_PER_DAY != 0 && diff < 0)
		days--;
	return days;
}

const char *
x509_validity_status(int64_t valid_from, int64_t valid_until, int64_t now)
{
	if (now < valid_from)
		return "not_yet_valid";
	if (now > valid_until)
		return "expired";
	return "valid";
}
