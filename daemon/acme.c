/*
 * RFC 8555 client.  The first half is pure (encoding, JWS, thumbprints,
 * document parsers) and unit-tested without a network; the second half runs
 * one operation per protocol step on the loop: directory, nonce pool, signed
 * POST with badNonce retries, problem documents handed to the caller.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "clock.h"
#include "daemon.h"
#include "http.h"

#define EAB_MAC_KEY_MAX		256
#define CSR_DER_MAX		(64u * 1024)
#define CERT_DER_MAX		(64u * 1024)
#define NAME_MAX_LEN		253
#define CONTACT_MAX_LEN		256
#define TOKEN_MAX_LEN		256

/* Turns OpenSSL's queue into one sentence and empties it. */
static void
ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s failed%s%s", what, buf[0] ? ": " : "", buf);
}

/* --- base64url --------------------------------------------------------- */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
acme_b64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = in;
	size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0), o = 0;

	if (need + 1 > outlen || need > INT32_MAX)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t rem = len - i;

		if (rem > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (rem > 2)
			v |= p[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		if (rem > 1)
			out[o++] = b64url_chars[v >> 6 & 63];
		if (rem > 2)
			out[o++] = b64url_chars[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
acme_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen)
{
	size_t o = 0, need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1 || need > outlen || need > INT32_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Left-over bits must be zero, so each value has one spelling. */
	if (acc != 0)
		return -1;
	return (int)o;
}

/* A new base64url string of len bytes, or NULL. */
static char *
b64url_new(const void *in, size_t len)
{
	size_t cap = len / 3 * 4 + 5;
	char *s = malloc(cap);

	if (s != NULL && acme_b64url_encode(in, len, s, cap) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int
is_b64url(const char *s, size_t maxlen)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= maxlen || b64url_val((unsigned char)s[n]) < 0)
			return 0;
	return n > 0;
}

/* --- JWK, thumbprint, JWS ---------------------------------------------- */

enum key_kind { KK_NONE, KK_P256, KK_P384, KK_RSA };

static enum key_kind
key_kind(EVP_PKEY *key)
{
	char group[64];

	if (key == NULL)
		return KK_NONE;
	if (EVP_PKEY_is_a(key, "RSA"))
		return EVP_PKEY_get_bits(key) >= 2048 ? KK_RSA : KK_NONE;
	if (!EVP_PKEY_is_a(key, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL)) {
		ERR_clear_error();
		return KK_NONE;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		return KK_P256;
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		return KK_P384;
	return KK_NONE;
}

const char *
acme_jws_alg(EVP_PKEY *key)
{
	switch (key_kind(key)) {
	case KK_P256:
		return "ES256";
	case KK_P384:
		return "ES384";
	case KK_RSA:
		return "RS256";
	default:
		return NULL;
	}
}

/* base64url of a BIGNUM: fixed width when pad > 0, else minimal. */
static char *
bn_b64url(const BIGNUM *bn, int pad)
{
	unsigned char buf[1024];
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	if (n <= 0 || n > (int)sizeof(buf) || BN_bn2binpad(bn, buf, n) != n)
		return NULL;
	return b64url_new(buf, (size_t)n);
}

char *
acme_jwk(EVP_PKEY *key, char *err, size_t errlen)
{
	enum key_kind kind = key_kind(key);
	BIGNUM *a = NULL, *b = NULL;
	char *sa = NULL, *sb = NULL, *out = NULL;
	size_t len;
	int ok;

	if (kind == KK_NONE) {
		snprintf(err, errlen, "the account key must be EC P-256, "
		    "P-384 or RSA of at least 2048 bits");
		return NULL;
	}
	if (kind == KK_RSA)
		ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) &&
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b);
	else
		ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) &&
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b);
	if (!ok) {
		ossl_err(err, errlen, "reading the public key");
		goto done;
	}
	if (kind == KK_RSA) {
		sa = bn_b64url(b, 0);		/* e */
		sb = bn_b64url(a, 0);		/* n */
	} else {
		int w = kind == KK_P256 ? 32 : 48;

		sa = bn_b64url(a, w);
		sb = bn_b64url(b, w);
	}
	if (sa == NULL || sb == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	len = strlen(sa) + strlen(sb) + 64;
	if ((out = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	/* RFC 7638 §3: required members only, sorted, no whitespace. */
	if (kind == KK_RSA)
		snprintf(out, len, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
		    sa, sb);
	else
		snprintf(out, len, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
		    "\"y\":\"%s\"}", kind == KK_P256 ? "P-256" : "P-384", sa, sb);
done:
	BN_free(a);
	BN_free(b);
	free(sa);
	free(sb);
	return out;
}

int
acme_thumbprint(EVP_PKEY *key, char *out, size_t outlen, char *err,
    size_t errlen)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *jwk = acme_jwk(key, err, errlen);

	if (jwk == NULL)
		return -1;
	SHA256((const unsigned char *)jwk, strlen(jwk), md);
	free(jwk);
	if (acme_b64url_encode(md, sizeof(md), out, outlen) < 0) {
		snprintf(err, errlen, "thumbprint buffer too small");
		return -1;
	}
	return 0;
}

/*
 * Signs input with key as JWS alg wants it: ECDSA as raw r||s of the
 * curve's width (RFC 7518 §3.4), not OpenSSL's DER; RSA PKCS#1 v1.5.
 * Returns a new base64url string or NULL with err.
 */
static char *
jws_sign(EVP_PKEY *key, const char *input, size_t len, char *err,
    size_t errlen)
{
	enum key_kind kind = key_kind(key);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL, raw[96];
	const unsigned char *p;
	size_t siglen = 0;
	ECDSA_SIG *es = NULL;
	char *out = NULL;
	int w;

	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, kind == KK_P384 ? EVP_sha384() :
	    EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input,
	    len) != 1 || (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input,
	    len) != 1) {
		ossl_err(err, errlen, "signing the request");
		goto done;
	}
	if (kind == KK_RSA) {
		out = b64url_new(sig, siglen);
		goto done;
	}
	w = kind == KK_P256 ? 32 : 48;
	p = sig;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)siglen)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, w) != w ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + w, w) != w) {
		ossl_err(err, errlen, "converting the ECDSA signature");
		goto done;
	}
	out = b64url_new(raw, (size_t)(2 * w));
done:
	if (out == NULL && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	ECDSA_SIG_free(es);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* {"protected":..,"payload":..,"signature":..} from a header object. */
static char *
jws_finish(json_t *hdr, const char *payload, EVP_PKEY *key,
    const unsigned char *mac_key, size_t mac_len, char *err, size_t errlen)
{
	char *hdr_json = NULL, *hdr64 = NULL, *pay64 = NULL, *input = NULL;
	char *sig64 = NULL, *out = NULL;
	json_t *jws = NULL;
	size_t ilen;

	err[0] = '\0';
	if ((hdr_json = json_dumps(hdr, JSON_COMPACT)) == NULL ||
	    (hdr64 = b64url_new(hdr_json, strlen(hdr_json))) == NULL ||
	    (pay64 = payload ? b64url_new(payload, strlen(payload)) :
	    strdup("")) == NULL)
		goto oom;
	ilen = strlen(hdr64) + 1 + strlen(pay64);
	if ((input = malloc(ilen + 1)) == NULL)
		goto oom;
	snprintf(input, ilen + 1, "%s.%s", hdr64, pay64);
	if (mac_key != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;

		if (HMAC(EVP_sha256(), mac_key, (int)mac_len,
		    (unsigned char *)input, ilen, md, &mdlen) == NULL) {
			ossl_err(err, errlen, "computing the EAB MAC");
			goto done;
		}
		sig64 = b64url_new(md, mdlen);
		OPENSSL_cleanse(md, sizeof(md));
	} else if ((sig64 = jws_sign(key, input, ilen, err, errlen)) == NULL)
		goto done;
	if (sig64 == NULL)
		goto oom;
	if ((jws = json_pack("{s:s, s:s, s:s}", "protected", hdr64,
	    "payload", pay64, "signature", sig64)) == NULL ||
	    (out = json_dumps(jws, JSON_COMPACT)) == NULL)
		goto oom;
	goto done;
oom:
	if (err[0] == '\0')
		snprintf(err, errlen, "out of memory");
done:
	json_decref(jws);
	free(hdr_json);
	free(hdr64);
	free(pay64);
	free(input);
	free(sig64);
	return out;
}

char *
acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
    const char *payload, char *err, size_t errlen)
{
	const char *alg = acme_jws_alg(key);
	json_t *hdr = NULL, *jwk = NULL;
	char *jwk_s = NULL, *out = NULL;

	if (alg == NULL) {
		snprintf(err, errlen, "the account key must be EC P-256, "
		    "P-384 or RSA of at least 2048 bits");
		return NULL;
	}
	if (nonce == NULL || url == NULL) {
		snprintf(err, errlen, "a JWS needs a nonce and a URL");
		return NULL;
	}
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "nonce", nonce,
	    "url", url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (kid != NULL) {
		if (json_object_set_new(hdr, "kid", json_string(kid)) == -1) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	} else {
		if ((jwk_s = acme_jwk(key, err, errlen)) == NULL)
			goto done;
		if ((jwk = json_loads(jwk_s, 0, NULL)) == NULL ||
		    json_object_set(hdr, "jwk", jwk) == -1) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	out = jws_finish(hdr, payload, key, NULL, 0, err, errlen);
done:
	json_decref(jwk);
	json_decref(hdr);
	free(jwk_s);
	return out;
}

char *
acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid,
    const char *mac_key_b64url, const char *url, char *err, size_t errlen)
{
	unsigned char mac[EAB_MAC_KEY_MAX];
	json_t *hdr = NULL;
	char *jwk = NULL, *out = NULL;
	int maclen;

	if (eab_kid == NULL || eab_kid[0] == '\0' || strlen(eab_kid) > 256 ||
	    mac_key_b64url == NULL || url == NULL) {
		snprintf(err, errlen, "EAB needs a key id (at most 256 bytes) "
		    "and a MAC key");
		return NULL;
	}
	maclen = acme_b64url_decode(mac_key_b64url, strlen(mac_key_b64url),
	    mac, sizeof(mac));
	if (maclen < 16) {
		OPENSSL_cleanse(mac, sizeof(mac));
		snprintf(err, errlen, "the EAB MAC key is not base64url of "
		    "16 to %d bytes", EAB_MAC_KEY_MAX);
		return NULL;
	}
	if ((jwk = acme_jwk(account_key, err, errlen)) == NULL)
		goto done;
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid",
	    eab_kid, "url", url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	out = jws_finish(hdr, jwk, NULL, mac, (size_t)maclen, err, errlen);
done:
	OPENSSL_cleanse(mac, sizeof(mac));
	json_decref(hdr);
	free(jwk);
	return out;
}

int
acme_key_authorization(const char *token, const char *thumbprint, char *out,
    size_t outlen)
{
	int n;

	if (token == NULL || thumbprint == NULL ||
	    !is_b64url(token, TOKEN_MAX_LEN) ||
	    !is_b64url(thumbprint, ACME_THUMBPRINT_LEN))
		return -1;
	n = snprintf(out, outlen, "%s.%s", token, thumbprint);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
acme_dns01_txt(const char *token, const char *thumbprint, char *out,
    size_t outlen)
{
	char ka[TOKEN_MAX_LEN + ACME_THUMBPRINT_LEN + 2];
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (acme_key_authorization(token, thumbprint, ka, sizeof(ka)) == -1)
		return -1;
	SHA256((const unsigned char *)ka, strlen(ka), md);
	return acme_b64url_encode(md, sizeof(md), out, outlen) < 0 ? -1 : 0;
}

/* --- times ------------------------------------------------------------- */

/* n decimal digits at s; -1 when any is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
acme_time_parse(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, off = 0;
	const char *p;
	time_t v;

	if (s == NULL || strlen(s) < 20)
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 ||
	    s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		off = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
	} else
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	if ((v = timegm(&tm)) == (time_t)-1 || tm.tm_mday != d)
		return -1;
	*t = (int64_t)v - off;
	return 0;
}

int
acme_retry_after(const char *value, int64_t now, int64_t *delay)
{
	/* RFC 9110 §5.6.7: IMF-fixdate, then the two obsolete forms. */
	static const char *const fmts[] = {
		"%a, %d %b %Y %H:%M:%S GMT",
		"%A, %d-%b-%y %H:%M:%S GMT",
		"%a %b %e %H:%M:%S %Y",
	};
	const char *p;
	int64_t v = 0;

	if (value == NULL || value[0] == '\0' || strlen(value) > 64)
		return -1;
	for (p = value; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > ACME_RETRY_AFTER_MAX)
			v = ACME_RETRY_AFTER_MAX;
	if (*p == '\0') {
		*delay = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tm tm = { 0 };
		const char *end = strptime(value, fmts[i], &tm);
		time_t t;

		if (end == NULL || *end != '\0')
			continue;
		if ((t = timegm(&tm)) == (time_t)-1)
			return -1;
		v = (int64_t)t - now;
		*delay = v < 0 ? 0 : v > ACME_RETRY_AFTER_MAX ?
		    ACME_RETRY_AFTER_MAX : v;
		return 0;
	}
	return -1;
}

/* --- ARI --------------------------------------------------------------- */

int
acme_ari_cert_id(X509 *cert, char *out, size_t outlen, char *err,
    size_t errlen)
{
	const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(cert);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	unsigned char *der = NULL;
	const unsigned char *p;
	long clen;
	int dlen, tag, cls, n1, n2, rc = -1;

	if (kid == NULL || ASN1_STRING_length(kid) <= 0) {
		ERR_clear_error();
		snprintf(err, errlen, "the certificate has no authority key "
		    "identifier, so ARI cannot name it");
		return -1;
	}
	/* The serial's DER content octets, leading zero byte included. */
	if (serial == NULL || (dlen = i2d_ASN1_INTEGER(serial, &der)) <= 0) {
		ossl_err(err, errlen, "encoding the serial number");
		return -1;
	}
	p = der;
	if (ASN1_get_object(&p, &clen, &tag, &cls, dlen) & 0x80 ||
	    tag != V_ASN1_INTEGER || clen <= 0) {
		ossl_err(err, errlen, "reading the serial number");
		goto done;
	}
	n1 = acme_b64url_encode(ASN1_STRING_get0_data(kid),
	    (size_t)ASN1_STRING_length(kid), out, outlen);
	if (n1 < 0 || (size_t)n1 + 2 > outlen ||
	    (n2 = acme_b64url_encode(p, (size_t)clen, out + n1 + 1,
	    outlen - (size_t)n1 - 1)) < 0) {
		snprintf(err, errlen, "the ARI certID does not fit");
		goto done;
	}
	out[n1] = '.';
	rc = 0;
done:
	OPENSSL_free(der);
	return rc;
}

/* --- documents --------------------------------------------------------- */

static const char *const status_names[] = {
	[ACME_ST_UNKNOWN] = "unknown",
	[ACME_ST_PENDING] = "pending",
	[ACME_ST_READY] = "ready",
	[ACME_ST_PROCESSING] = "processing",
	[ACME_ST_VALID] = "valid",
	[ACME_ST_INVALID] = "invalid",
	[ACME_ST_EXPIRED] = "expired",
	[ACME_ST_DEACTIVATED] = "deactivated",
	[ACME_ST_REVOKED] = "revoked",
};

const char *
acme_status_name(enum acme_status st)
{
	if ((unsigned)st >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[st];
}

int
acme_problem_is(const struct acme_problem *p, const char *name)
{
	size_t n = sizeof(ACME_ERR_PREFIX) - 1;

	return p != NULL && strncmp(p->type, ACME_ERR_PREFIX, n) == 0 &&
	    strcmp(p->type + n, name) == 0;
}

/* CA text may end up in logs: control characters become '?'. */
static void
copy_text(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ?
		    '?' : src[i];
	dst[i] = '\0';
}

static json_t *
doc_load(const char *body, size_t len, const char *what, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL || len == 0) {
		snprintf(err, errlen, "the %s is empty", what);
		return NULL;
	}
	if (len > ACME_DOC_MAX) {
		snprintf(err, errlen, "the %s is larger than %u bytes", what,
		    ACME_DOC_MAX);
		return NULL;
	}
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "the %s is not JSON (line %d: %.80s)",
		    what, jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "the %s is not a JSON object", what);
		return NULL;
	}
	return root;
}

/*
 * A string member: -1 with err when present but not a string, with a NUL
 * inside, longer than max, or missing while required.  *out NULL when absent.
 */
static int
get_str(json_t *obj, const char *key, int required, size_t max,
    const char **out, const char *what, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "the %s has no \"%s\"", what, key);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "the %s's \"%s\" is not a string of at "
		    "most %zu bytes", what, key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
valid_url(const char *s)
{
	if (strncasecmp(s, "https://", 8) != 0 || s[8] == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* An https URL member, copied into *out (NULL when absent and optional). */
static int
get_url(json_t *obj, const char *key, int required, char **out,
    const char *what, char *err, size_t errlen)
{
	const char *s;

	*out = NULL;
	if (get_str(obj, key, required, ACME_URL_MAX, &s, what, err,
	    errlen) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (!valid_url(s)) {
		snprintf(err, errlen, "the %s's \"%s\" is not an https URL",
		    what, key);
		return -1;
	}
	if ((*out = strdup(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
get_status(json_t *obj, enum acme_status *st, const char *what, char *err,
    size_t errlen)
{
	const char *s;

	if (get_str(obj, "status", 1, 32, &s, what, err, errlen) == -1)
		return -1;
	for (size_t i = 1; i < sizeof(status_names) / sizeof(status_names[0]);
	    i++)
		if (strcmp(s, status_names[i]) == 0) {
			*st = (enum acme_status)i;
			return 0;
		}
	snprintf(err, errlen, "the %s has an unknown status", what);
	return -1;
}

static int
get_time(json_t *obj, const char *key, int required, int64_t *t,
    const char *what, char *err, size_t errlen)
{
	const char *s;

	*t = 0;
	if (get_str(obj, key, required, 64, &s, what, err, errlen) == -1)
		return -1;
	if (s != NULL && acme_time_parse(s, t) == -1) {
		snprintf(err, errlen, "the %s's \"%s\" is not an RFC 3339 "
		    "time", what, key);
		return -1;
	}
	return 0;
}

static int
get_array(json_t *obj, const char *key, size_t min, size_t max,
    json_t **arr, const char *what, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !json_is_array(v) || json_array_size(v) < min ||
	    json_array_size(v) > max) {
		snprintf(err, errlen, "the %s's \"%s\" is not a list of %zu "
		    "to %zu entries", what, key, min, max);
		return -1;
	}
	*arr = v;
	return 0;
}

static int
problem_from_json(json_t *obj, struct acme_problem *p, char *err,
    size_t errlen)
{
	const char *type, *detail;
	json_t *status, *subs;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "the problem document is not an object");
		return -1;
	}
	if (get_str(obj, "type", 0, 1024, &type, "problem document", err,
	    errlen) == -1 || get_str(obj, "detail", 0, 64 * 1024, &detail,
	    "problem document", err, errlen) == -1)
		return -1;
	copy_text(p->type, sizeof(p->type), type ? type : "about:blank");
	copy_text(p->detail, sizeof(p->detail), detail ? detail : "");
	if ((status = json_object_get(obj, "status")) != NULL) {
		if (!json_is_integer(status) ||
		    json_integer_value(status) < 100 ||
		    json_integer_value(status) > 599) {
			snprintf(err, errlen, "the problem document's status "
			    "is not an HTTP status");
			return -1;
		}
		p->status = (int)json_integer_value(status);
	}
	if ((subs = json_object_get(obj, "subproblems")) != NULL &&
	    json_is_array(subs) && json_array_size(subs) > 0) {
		json_t *s = json_array_get(subs, 0), *id;
		const char *v = NULL;

		if (json_is_object(s)) {
			if (get_str(s, "type", 0, 1024, &v, "subproblem", err,
			    errlen) == 0 && v != NULL)
				copy_text(p->sub_type, sizeof(p->sub_type), v);
			id = json_object_get(s, "identifier");
			if (json_is_object(id) && get_str(id, "value", 0, 255,
			    &v, "subproblem", err, errlen) == 0 && v != NULL)
				copy_text(p->sub_identifier,
				    sizeof(p->sub_identifier), v);
		}
	}
	err[0] = '\0';
	return 0;
}

int
acme_problem_parse(const char *body, size_t len, struct acme_problem *p,
    char *err, size_t errlen)
{
	json_t *root = doc_load(body, len, "problem document", err, errlen);
	int rc;

	if (root == NULL)
		return -1;
	rc = problem_from_json(root, p, err, errlen);
	json_decref(root);
	return rc;
}

void
acme_directory_free(struct acme_directory *d)
{
	if (d == NULL)
		return;
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->renewal_info);
	free(d->terms_of_service);
	free(d->website);
	for (size_t i = 0; i < d->nprofiles; i++)
		free(d->profiles[i]);
	free(d);
}

int
acme_profile_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ACME_PROFILE_NAME_MAX)
		return 0;
	for (; *name; name++) {
		char c = *name;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* meta.profiles: the names the CA offers (see acme.h for what is kept). */
static int
directory_profiles(struct acme_directory *d, json_t *profiles)
{
	const char *name;
	json_t *desc;

	if (!json_is_object(profiles))
		return 0;
	d->has_profiles = 1;
	json_object_foreach(profiles, name, desc) {
		if (!json_is_string(desc) || !acme_profile_name_valid(name))
			continue;
		if (d->nprofiles == ACME_PROFILES_MAX) {
			d->profiles_truncated = 1;
			break;
		}
		if ((d->profiles[d->nprofiles] = strdup(name)) == NULL)
			return -1;
		d->nprofiles++;
	}
	return 0;
}

int
acme_directory_offers(const struct acme_directory *d, const char *profile)
{
	if (!d->has_profiles)
		return 0;
	for (size_t i = 0; i < d->nprofiles; i++)
		if (strcmp(d->profiles[i], profile) == 0)
			return 1;
	return d->profiles_truncated;
}

int
acme_directory_check_profile(const struct acme_directory *d,
    const char *profile, char *err, size_t errlen)
{
	char list[ACME_PROFILES_MAX * (ACME_PROFILE_NAME_MAX + 2) + 8];
	size_t off = 0;

	if (!acme_profile_name_valid(profile)) {
		snprintf(err, errlen, "the ACME profile name is not 1 to %d "
		    "characters of A-Z a-z 0-9 . _ -", ACME_PROFILE_NAME_MAX);
		return -1;
	}
	if (acme_directory_offers(d, profile))
		return 0;
	/* Names were checked on the way in: safe to quote. */
	list[0] = '\0';
	for (size_t i = 0; i < d->nprofiles; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
		    i ? ", " : "", d->profiles[i]);
	if (d->nprofiles == 0)
		snprintf(err, errlen, "ACME profile '%s' is not offered: this "
		    "CA offers no profiles", profile);
	else
		snprintf(err, errlen, "ACME profile '%s' is not offered: this "
		    "CA offers %s", profile, list);
	return -1;
}

struct acme_directory *
acme_directory_parse(const char *body, size_t len, char *err, size_t errlen)
{
	static const char what[] = "directory";
	struct acme_directory *d;
	json_t *root, *meta, *v;
	const char *s;

	if ((root = doc_load(body, len, what, err, errlen)) == NULL)
		return NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(root);
		return NULL;
	}
	if (get_url(root, "newNonce", 1, &d->new_nonce, what, err, errlen) ||
	    get_url(root, "newAccount", 1, &d->new_account, what, err,
	    errlen) ||
	    get_url(root, "newOrder", 1, &d->new_order, what, err, errlen) ||
	    get_url(root, "revokeCert", 0, &d->revoke_cert, what, err,
	    errlen) ||
	    get_url(root, "keyChange", 0, &d->key_change, what, err, errlen) ||
	    get_url(root, "renewalInfo", 0, &d->renewal_info, what, err,
	    errlen))
		goto bad;
	if ((meta = json_object_get(root, "meta")) != NULL) {
		if (!json_is_object(meta)) {
			snprintf(err, errlen, "the directory's meta is not an "
			    "object");
			goto bad;
		}
		if (get_str(meta, "termsOfService", 0, ACME_URL_MAX, &s, what,
		    err, errlen) == -1)
			goto bad;
		if (s != NULL && (d->terms_of_service = strdup(s)) == NULL)
			goto oom;
		if (get_str(meta, "website", 0, ACME_URL_MAX, &s, what, err,
		    errlen) == -1)
			goto bad;
		if (s != NULL && (d->website = strdup(s)) == NULL)
			goto oom;
		if ((v = json_object_get(meta, "externalAccountRequired")) !=
		    NULL) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "the directory's "
				    "externalAccountRequired is not a boolean");
				goto bad;
			}
			d->eab_required = json_is_true(v);
		}
		if (directory_profiles(d, json_object_get(meta,
		    "profiles")) == -1)
			goto oom;
	}
	json_decref(root);
	return d;
oom:
	snprintf(err, errlen, "out of memory");
bad:
	acme_directory_free(d);
	json_decref(root);
	return NULL;
}

static int
identifier_from_json(json_t *v, struct acme_identifier *id, const char *what,
    char *err, size_t errlen)
{
	const char *type, *value;

	if (!json_is_object(v)) {
		snprintf(err, errlen, "the %s's identifier is not an object",
		    what);
		return -1;
	}
	if (get_str(v, "type", 1, 32, &type, what, err, errlen) == -1 ||
	    get_str(v, "value", 1, NAME_MAX_LEN, &value, what, err,
	    errlen) == -1)
		return -1;
	if ((id->type = strdup(type)) == NULL ||
	    (id->value = strdup(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
acme_order_free(struct acme_order *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->nidentifiers; i++) {
		free(o->identifiers[i].type);
		free(o->identifiers[i].value);
	}
	free(o->identifiers);
	for (size_t i = 0; i < o->nauthorizations; i++)
		free(o->authorizations[i]);
	free(o->authorizations);
	free(o->finalize);
	free(o->certificate);
	free(o);
}

struct acme_order *
acme_order_parse(const char *body, size_t len, char *err, size_t errlen)
{
	static const char what[] = "order";
	struct acme_order *o;
	json_t *root, *ids, *authz, *e;
	size_t n;

	if ((root = doc_load(body, len, what, err, errlen)) == NULL)
		return NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(root);
		return NULL;
	}
	if (get_status(root, &o->status, what, err, errlen) == -1 ||
	    get_time(root, "expires", 0, &o->expires, what, err, errlen) ||
	    get_array(root, "identifiers", 1, ACME_IDENTIFIERS_MAX, &ids, what,
	    err, errlen) == -1 ||
	    get_array(root, "authorizations", 0, ACME_IDENTIFIERS_MAX, &authz,
	    what, err, errlen) == -1 ||
	    get_url(root, "finalize", 1, &o->finalize, what, err, errlen) ||
	    get_url(root, "certificate", 0, &o->certificate, what, err,
	    errlen))
		goto bad;
	n = json_array_size(ids);
	if ((o->identifiers = calloc(n, sizeof(*o->identifiers))) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		o->nidentifiers++;
		if (identifier_from_json(json_array_get(ids, i),
		    &o->identifiers[i], what, err, errlen) == -1)
			goto bad;
	}
	n = json_array_size(authz);
	if (n > 0 && (o->authorizations = calloc(n, sizeof(char *))) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		json_t *u = json_array_get(authz, i);

		if (!json_is_string(u) || json_string_length(u) > ACME_URL_MAX ||
		    strlen(json_string_value(u)) != json_string_length(u) ||
		    !valid_url(json_string_value(u))) {
			snprintf(err, errlen, "the order's authorizations are "
			    "not all https URLs");
			goto bad;
		}
		if ((o->authorizations[i] = strdup(json_string_value(u))) ==
		    NULL)
			goto oom;
		o->nauthorizations++;
	}
	if ((e = json_object_get(root, "error")) != NULL) {
		if (problem_from_json(e, &o->error, err, errlen) == -1)
			goto bad;
		o->has_error = 1;
	}
	if (o->status == ACME_ST_VALID && o->certificate == NULL) {
		snprintf(err, errlen, "the order is valid but names no "
		    "certificate");
		goto bad;
	}
	json_decref(root);
	return o;
oom:
	snprintf(err, errlen, "out of memory");
bad:
	acme_order_free(o);
	json_decref(root);
	return NULL;
}

static void
challenge_clear(struct acme_challenge *c)
{
	free(c->type);
	free(c->url);
	free(c->token);
}

static int
challenge_from_json(json_t *obj, struct acme_challenge *c, char *err,
    size_t errlen)
{
	static const char what[] = "challenge";
	const char *type, *token;
	json_t *e;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a challenge is not an object");
		return -1;
	}
	if (get_str(obj, "type", 1, 64, &type, what, err, errlen) == -1 ||
	    get_url(obj, "url", 1, &c->url, what, err, errlen) == -1 ||
	    get_status(obj, &c->status, what, err, errlen) == -1 ||
	    get_str(obj, "token", 0, TOKEN_MAX_LEN, &token, what, err,
	    errlen) == -1)
		return -1;
	if (token != NULL && !is_b64url(token, TOKEN_MAX_LEN)) {
		snprintf(err, errlen, "the challenge's token is not base64url");
		return -1;
	}
	if ((c->type = strdup(type)) == NULL ||
	    (token != NULL && (c->token = strdup(token)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((e = json_object_get(obj, "error")) != NULL) {
		if (problem_from_json(e, &c->error, err, errlen) == -1)
			return -1;
		c->has_error = 1;
	}
	return 0;
}

void
acme_challenge_free(struct acme_challenge *c)
{
	if (c == NULL)
		return;
	challenge_clear(c);
	free(c);
}

struct acme_challenge *
acme_challenge_parse(const char *body, size_t len, char *err, size_t errlen)
{
	struct acme_challenge *c;
	json_t *root;

	if ((root = doc_load(body, len, "challenge", err, errlen)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
	} else if (challenge_from_json(root, c, err, errlen) == -1) {
		acme_challenge_free(c);
		c = NULL;
	}
	json_decref(root);
	return c;
}

void
acme_authz_free(struct acme_authz *a)
{
	if (a == NULL)
		return;
	free(a->identifier.type);
	free(a->identifier.value);
	for (size_t i = 0; i < a->nchallenges; i++)
		challenge_clear(&a->challenges[i]);
	free(a->challenges);
	free(a);
}

struct acme_authz *
acme_authz_parse(const char *body, size_t len, char *err, size_t errlen)
{
	static const char what[] = "authorization";
	struct acme_authz *a;
	json_t *root, *chs, *w;
	size_t n;

	if ((root = doc_load(body, len, what, err, errlen)) == NULL)
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(root);
		return NULL;
	}
	if (get_status(root, &a->status, what, err, errlen) == -1 ||
	    get_time(root, "expires", 0, &a->expires, what, err, errlen) ||
	    identifier_from_json(json_object_get(root, "identifier"),
	    &a->identifier, what, err, errlen) == -1 ||
	    get_array(root, "challenges", 0, ACME_CHALLENGES_MAX, &chs, what,
	    err, errlen) == -1)
		goto bad;
	if ((w = json_object_get(root, "wildcard")) != NULL) {
		if (!json_is_boolean(w)) {
			snprintf(err, errlen, "the authorization's wildcard is "
			    "not a boolean");
			goto bad;
		}
		a->wildcard = json_is_true(w);
	}
	n = json_array_size(chs);
	if (n > 0 && (a->challenges = calloc(n, sizeof(*a->challenges))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	for (size_t i = 0; i < n; i++) {
		a->nchallenges++;
		if (challenge_from_json(json_array_get(chs, i),
		    &a->challenges[i], err, errlen) == -1)
			goto bad;
	}
	json_decref(root);
	return a;
bad:
	acme_authz_free(a);
	json_decref(root);
	return NULL;
}

const struct acme_challenge *
acme_authz_challenge(const struct acme_authz *a, const char *type)
{
	for (size_t i = 0; a != NULL && i < a->nchallenges; i++)
		if (strcmp(a->challenges[i].type, type) == 0)
			return &a->challenges[i];
	return NULL;
}

void
acme_account_free(struct acme_account *a)
{
	if (a == NULL)
		return;
	free(a->orders);
	free(a);
}

struct acme_account *
acme_account_parse(const char *body, size_t len, char *err, size_t errlen)
{
	struct acme_account *a;
	json_t *root;

	if ((root = doc_load(body, len, "account", err, errlen)) == NULL)
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		snprintf(err, errlen, "out of memory");
	else if (get_status(root, &a->status, "account", err, errlen) == -1 ||
	    get_url(root, "orders", 0, &a->orders, "account", err, errlen)) {
		acme_account_free(a);
		a = NULL;
	}
	json_decref(root);
	return a;
}

void
acme_renewal_info_free(struct acme_renewal_info *r)
{
	if (r == NULL)
		return;
	free(r->explanation_url);
	free(r);
}

struct acme_renewal_info *
acme_renewal_info_parse(const char *body, size_t len, char *err,
    size_t errlen)
{
	static const char what[] = "renewal info";
	struct acme_renewal_info *r;
	json_t *root, *win;

	if ((root = doc_load(body, len, what, err, errlen)) == NULL)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(root);
		return NULL;
	}
	win = json_object_get(root, "suggestedWindow");
	if (!json_is_object(win)) {
		snprintf(err, errlen, "the renewal info has no suggestedWindow");
		goto bad;
	}
	if (get_time(win, "start", 1, &r->window_start, what, err, errlen) ||
	    get_time(win, "end", 1, &r->window_end, what, err, errlen) ||
	    get_url(root, "explanationURL", 0, &r->explanation_url, what, err,
	    errlen))
		goto bad;
	if (r->window_end <= r->window_start) {
		snprintf(err, errlen, "the renewal info's window ends before "
		    "it starts");
		goto bad;
	}
	json_decref(root);
	return r;
bad:
	acme_renewal_info_free(r);
	json_decref(root);
	return NULL;
}

/* --- the client on the loop -------------------------------------------- */

enum dir_state {
	DIR_NONE = 0,		/* not fetched, or the last fetch failed */
	DIR_FETCHING,
	DIR_READY,
};

/* Which protocol step an operation performs. */
enum op_kind {
	OP_ACCOUNT = 0,
	OP_ORDER_NEW,
	OP_FETCH,
	OP_CHALLENGE,
	OP_FINALIZE,
	OP_CERT,
	OP_REVOKE,
	OP_ARI,
};

enum op_state {
	OP_START = 0,		/* queued; first step runs from the loop */
	OP_WAIT_DIRECTORY,	/* the client is fetching the directory */
	OP_WAIT_NONCE,		/* HEAD newNonce under way */
	OP_WAIT_POST,		/* signed POST under way */
	OP_WAIT_GET,		/* unauthenticated GET under way (ARI) */
	OP_DONE,
};

struct acme_op {
	struct acme_client	*c;
	enum op_kind		 kind;
	enum acme_doc		 doc;
	enum op_state		 state;
	const char		*what;		/* for error sentences */
	EVP_PKEY		*key;
	char			*kid;
	char			*url;		/* NULL: from the directory */
	char			*payload;	/* NULL: POST-as-GET */
	/* newAccount: the payload is built once the directory is known. */
	char			**contacts;
	size_t			 ncontacts;
	int			 tos_agreed, only_existing;
	char			*eab_kid, *eab_mac;
	char			*ari_id;
	char			*profile;	/* newOrder, if any */
	int			 bad_nonces;
	struct event		 kick;
	struct http_req		*req;
	acme_cb			*cb;
	void			*arg;
	char			 err[1024];
	TAILQ_ENTRY(acme_op)	 entry;
};

struct acme_client {
	struct event_base	*base;
	struct http		*http;
	char			*directory_url;
	char			*ca_file;
	long			 connect_timeout_ms, timeout_ms;
	enum dir_state		 dir_state;
	struct acme_directory	*dir;
	struct http_req		*dir_req;
	char			 dir_err[512];
	char			*nonces[ACME_NONCE_POOL];
	size_t			 nnonces;
	TAILQ_HEAD(, acme_op)	 ops;
	size_t			 nops;
	struct acme_stats	 stats;
	struct http_count	 count;		/* count.requests NULL: none */
	char			 count_label[64];
};

static void op_step(struct acme_op *op, const struct http_response *resp,
    const char *terr);

static void
set_prio(struct event_base *base, struct event *ev)
{
	if (event_base_get_npriorities(base) > PRIO_DEFAULT)
		event_priority_set(ev, PRIO_DEFAULT);
}

/* Keeps the freshest nonces: a full pool drops its oldest. */
static void
nonce_put(struct acme_client *c, const char *nonce)
{
	char *copy;

	if (nonce == NULL || !is_b64url(nonce, ACME_NONCE_MAX) ||
	    (copy = strdup(nonce)) == NULL)
		return;
	if (c->nnonces == ACME_NONCE_POOL) {
		free(c->nonces[0]);
		memmove(c->nonces, c->nonces + 1,
		    (ACME_NONCE_POOL - 1) * sizeof(char *));
		c->nnonces--;
	}
	c->nonces[c->nnonces++] = copy;
}

static char *
nonce_take(struct acme_client *c)
{
	return c->nnonces ? c->nonces[--c->nnonces] : NULL;
}

static struct http_req *
client_http(struct acme_client *c, enum http_method m, const char *url,
    const char *body, const char *accept, http_cb *cb, void *arg, char *err,
    size_t errlen)
{
	struct http_request r = {
		.method = m,
		.url = url,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.content_type = body ? "application/jose+json" : NULL,
		.accept = accept,
		.ca_file = c->ca_file,
		.connect_timeout_ms = c->connect_timeout_ms,
		.timeout_ms = c->timeout_ms,
		.count = &c->count,
	};

	c->stats.requests++;
	return http_request(c->http, &r, cb, arg, err, errlen);
}

/* The directory arrived or failed: every op waiting on it steps. */
static void
dir_http_cb(const struct http_response *resp, const char *terr, void *arg)
{
	struct acme_client *c = arg;
	struct acme_op *op;
	char perr[400];

	c->dir_req = NULL;
	c->dir_state = DIR_NONE;
	if (terr != NULL) {
		snprintf(c->dir_err, sizeof(c->dir_err), "fetching the ACME "
		    "directory failed: %s", terr);
	} else if (resp->status != 200) {
		snprintf(c->dir_err, sizeof(c->dir_err), "the ACME directory "
		    "%s answered HTTP %ld", c->directory_url, resp->status);
	} else if ((c->dir = acme_directory_parse(resp->body, resp->body_len,
	    perr, sizeof(perr))) == NULL) {
		snprintf(c->dir_err, sizeof(c->dir_err), "%s: %s",
		    c->directory_url, perr);
	} else {
		c->dir_state = DIR_READY;
		c->dir_err[0] = '\0';
	}
	if (resp != NULL)
		nonce_put(c, resp->replay_nonce);
	TAILQ_FOREACH(op, &c->ops, entry)
		if (op->state == OP_WAIT_DIRECTORY)
			event_active(&op->kick, EV_TIMEOUT, 0);
}

static int
client_fetch_directory(struct acme_client *c, char *err, size_t errlen)
{
	if (c->dir_state != DIR_NONE)
		return 0;
	c->stats.directory_fetches++;
	c->dir_req = client_http(c, HTTP_GET, c->directory_url, NULL, NULL,
	    dir_http_cb, c, err, errlen);
	if (c->dir_req == NULL)
		return -1;
	c->dir_state = DIR_FETCHING;
	return 0;
}

struct acme_client *
acme_client_new(struct event_base *base, struct http *http,
    const struct acme_client_conf *conf, char *err, size_t errlen)
{
	struct acme_client *c;

	if (conf->directory_url == NULL || !valid_url(conf->directory_url) ||
	    strlen(conf->directory_url) > ACME_URL_MAX) {
		snprintf(err, errlen, "the ACME directory must be an https URL");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->directory_url = strdup(conf->directory_url)) == NULL ||
	    (conf->ca_file != NULL &&
	    (c->ca_file = strdup(conf->ca_file)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		acme_client_free(c);
		return NULL;
	}
	c->base = base;
	c->http = http;
	c->connect_timeout_ms = conf->connect_timeout_ms;
	c->timeout_ms = conf->timeout_ms;
	if (conf->count != NULL) {
		c->count = *conf->count;
		snprintf(c->count_label, sizeof(c->count_label), "%s",
		    conf->count->label != NULL ? conf->count->label : "");
		c->count.label = c->count_label;
	}
	TAILQ_INIT(&c->ops);
	return c;
}

/* Takes op off its client's books; its memory is freed by op_free. */
static void
op_detach(struct acme_op *op)
{
	if (op->c == NULL)
		return;
	if (op->req != NULL)
		http_cancel(op->req);
	op->req = NULL;
	event_del(&op->kick);
	TAILQ_REMOVE(&op->c->ops, op, entry);
	op->c->nops--;
	op->c = NULL;
}

static void
op_free(struct acme_op *op)
{
	op_detach(op);
	EVP_PKEY_free(op->key);
	free(op->kid);
	free(op->url);
	free(op->payload);
	for (size_t i = 0; i < op->ncontacts; i++)
		free(op->contacts[i]);
	free(op->contacts);
	free(op->eab_kid);
	if (op->eab_mac != NULL) {
		OPENSSL_cleanse(op->eab_mac, strlen(op->eab_mac));
		free(op->eab_mac);
	}
	free(op->ari_id);
	free(op->profile);
	free(op);
}

void
acme_client_free(struct acme_client *c)
{
	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->ops))
		op_free(TAILQ_FIRST(&c->ops));
	if (c->dir_req != NULL)
		http_cancel(c->dir_req);
	for (size_t i = 0; i < c->nnonces; i++)
		free(c->nonces[i]);
	acme_directory_free(c->dir);
	free(c->directory_url);
	free(c->ca_file);
	free(c);
}

const struct acme_directory *
acme_client_directory(const struct acme_client *c)
{
	return c->dir_state == DIR_READY ? c->dir : NULL;
}

void
acme_client_stats(const struct acme_client *c, struct acme_stats *st)
{
	*st = c->stats;
}

void
acme_op_cancel(struct acme_op *op)
{
	if (op != NULL)
		op_free(op);
}

/* Ends the operation: the callback runs once, then the op is gone. */
static void
op_finish(struct acme_op *op, struct acme_result *res)
{
	op->state = OP_DONE;
	if (!res->ok && res->err == NULL)
		res->err = op->err;
	/* Detached first, so the callback may free the client. */
	op_detach(op);
	op->cb(res, op->arg);
	op_free(op);
}

static void
op_fail(struct acme_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
op_fail(struct acme_op *op, const char *fmt, ...)
{
	struct acme_result res = { .retry_after = -1 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op->err, sizeof(op->err), fmt, ap);
	va_end(ap);
	res.err = op->err;
	op_finish(op, &res);
}

static void
op_http_cb(const struct http_response *resp, const char *terr, void *arg)
{
	struct acme_op *op = arg;

	op->req = NULL;
	if (resp != NULL)
		nonce_put(op->c, resp->replay_nonce);
	op_step(op, resp, terr);
}

static void
op_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	op_step(arg, NULL, NULL);
}

/* The URL this step posts to, from the directory unless given. */
static const char *
op_target(struct acme_op *op)
{
	const struct acme_directory *d = op->c->dir;

	switch (op->kind) {
	case OP_ACCOUNT:
		return d->new_account;
	case OP_ORDER_NEW:
		return d->new_order;
	case OP_REVOKE:
		return d->revoke_cert;
	default:
		return op->url;
	}
}

static int
account_payload(struct acme_op *op)
{
	json_t *p = json_object(), *contacts = json_array(), *eab = NULL;
	char *eab_s = NULL, eerr[256];
	int rc = -1;

	if (p == NULL || contacts == NULL)
		goto oom;
	for (size_t i = 0; i < op->ncontacts; i++)
		if (json_array_append_new(contacts,
		    json_string(op->contacts[i])) == -1)
			goto oom;
	if (op->only_existing) {
		if (json_object_set_new(p, "onlyReturnExisting",
		    json_true()) == -1)
			goto oom;
	} else if ((op->ncontacts > 0 &&
	    json_object_set(p, "contact", contacts) == -1) ||
	    (op->tos_agreed && json_object_set_new(p, "termsOfServiceAgreed",
	    json_true()) == -1))
		goto oom;
	if (!op->only_existing && op->eab_kid != NULL) {
		eab_s = acme_eab_jws(op->key, op->eab_kid, op->eab_mac,
		    op->c->dir->new_account, eerr, sizeof(eerr));
		if (eab_s == NULL) {
			snprintf(op->err, sizeof(op->err), "%s", eerr);
			goto done;
		}
		if ((eab = json_loads(eab_s, 0, NULL)) == NULL ||
		    json_object_set(p, "externalAccountBinding", eab) == -1)
			goto oom;
	} else if (!op->only_existing && op->c->dir->eab_required) {
		snprintf(op->err, sizeof(op->err), "this CA requires external "
		    "account binding (EAB) credentials");
		goto done;
	}
	if ((op->payload = json_dumps(p, JSON_COMPACT)) == NULL)
		goto oom;
	rc = 0;
	goto done;
oom:
	snprintf(op->err, sizeof(op->err), "out of memory");
done:
	json_decref(p);
	json_decref(contacts);
	json_decref(eab);
	free(eab_s);
	return rc;
}

/* Signs and posts with a pooled nonce, or asks for one first. */
static void
op_post(struct acme_op *op)
{
	struct acme_client *c = op->c;
	const char *url = op_target(op);
	char *nonce, *jws, err[512];

	if ((nonce = nonce_take(c)) == NULL) {
		c->stats.nonce_fetches++;
		op->req = client_http(c, HTTP_HEAD, c->dir->new_nonce, NULL,
		    NULL, op_http_cb, op, err, sizeof(err));
		if (op->req == NULL) {
			op_fail(op, "%s", err);
			return;
		}
		op->state = OP_WAIT_NONCE;
		return;
	}
	jws = acme_jws(op->key, op->kind == OP_ACCOUNT ? NULL : op->kid, nonce,
	    url, op->payload, err, sizeof(err));
	free(nonce);
	if (jws == NULL) {
		op_fail(op, "%s", err);
		return;
	}
	op->req = client_http(c, HTTP_POST, url, jws, op->kind == OP_CERT ?
	    "application/pem-certificate-chain" : NULL, op_http_cb, op, err,
	    sizeof(err));
	free(jws);
	if (op->req == NULL) {
		op_fail(op, "%s", err);
		return;
	}
	op->state = OP_WAIT_POST;
}

/* Is this answer the CA refusing our nonce? */
static int
is_bad_nonce(const struct http_response *resp)
{
	struct acme_problem p;
	char err[128];

	return resp->status == 400 && acme_problem_parse(resp->body,
	    resp->body_len, &p, err, sizeof(err)) == 0 &&
	    acme_problem_is(&p, "badNonce");
}

/* An error status: the problem document, if any, goes to the caller. */
static void
op_refused(struct acme_op *op, const struct http_response *resp,
    struct acme_result *res)
{
	struct acme_problem p;
	char perr[256];

	if (acme_problem_parse(resp->body, resp->body_len, &p, perr,
	    sizeof(perr)) == 0) {
		res->problem = &p;
		snprintf(op->err, sizeof(op->err), "%s: the CA answered HTTP "
		    "%ld, %s%s%.600s", op->what, resp->status, p.type,
		    p.detail[0] ? ": " : "", p.detail);
	} else {
		snprintf(op->err, sizeof(op->err), "%s: the CA answered HTTP "
		    "%ld without a problem document", op->what, resp->status);
	}
	res->err = op->err;
	op_finish(op, res);
}

/* A success status: parse what this step returns. */
static void
op_complete(struct acme_op *op, const struct http_response *resp)
{
	struct acme_result res = { .retry_after = -1 };
	struct acme_account *account = NULL;
	struct acme_order *order = NULL;
	struct acme_authz *authz = NULL;
	struct acme_challenge *ch = NULL;
	struct acme_renewal_info *ari = NULL;
	char perr[512] = "";
	int64_t delay;

	res.http = resp;
	res.http_status = resp->status;
	res.location = resp->location;
	if (resp->retry_after != NULL &&
	    acme_retry_after(resp->retry_after, clock_now(), &delay) == 0)
		res.retry_after = delay;
	if (resp->status >= 300 || resp->status < 200) {
		op_refused(op, resp, &res);
		return;
	}
	switch (op->kind) {
	case OP_ACCOUNT:
		if (resp->location == NULL || !valid_url(resp->location)) {
			snprintf(perr, sizeof(perr), "no account URL in the "
			    "Location header");
			break;
		}
		res.account_url = resp->location;
		res.account = account = acme_account_parse(resp->body,
		    resp->body_len, perr, sizeof(perr));
		break;
	case OP_ORDER_NEW:
		if (resp->location == NULL || !valid_url(resp->location)) {
			snprintf(perr, sizeof(perr), "no order URL in the "
			    "Location header");
			break;
		}
		/* FALLTHROUGH */
	case OP_FINALIZE:
		res.order = order = acme_order_parse(resp->body,
		    resp->body_len, perr, sizeof(perr));
		break;
	case OP_CHALLENGE:
		res.challenge = ch = acme_challenge_parse(resp->body,
		    resp->body_len, perr, sizeof(perr));
		break;
	case OP_FETCH:
		switch (op->doc) {
		case ACME_DOC_ORDER:
			res.order = order = acme_order_parse(resp->body,
			    resp->body_len, perr, sizeof(perr));
			break;
		case ACME_DOC_AUTHZ:
			res.authz = authz = acme_authz_parse(resp->body,
			    resp->body_len, perr, sizeof(perr));
			break;
		case ACME_DOC_CHALLENGE:
			res.challenge = ch = acme_challenge_parse(resp->body,
			    resp->body_len, perr, sizeof(perr));
			break;
		case ACME_DOC_ACCOUNT:
			res.account = account = acme_account_parse(resp->body,
			    resp->body_len, perr, sizeof(perr));
			break;
		}
		break;
	case OP_CERT:
		if (strstr(resp->body, "-----BEGIN CERTIFICATE-----") == NULL) {
			snprintf(perr, sizeof(perr), "the answer holds no PEM "
			    "certificate");
			break;
		}
		res.pem = resp->body;
		res.pem_len = resp->body_len;
		res.ok = 1;
		break;
	case OP_REVOKE:
		res.ok = 1;
		break;
	case OP_ARI:
		res.renewal_info = ari = acme_renewal_info_parse(resp->body,
		    resp->body_len, perr, sizeof(perr));
		break;
	}
	if (account || order || authz || ch || ari)
		res.ok = 1;
	if (!res.ok) {
		snprintf(op->err, sizeof(op->err), "%s: %s", op->what,
		    perr[0] ? perr : "unexpected answer");
		res.err = op->err;
	}
	op_finish(op, &res);
	acme_account_free(account);
	acme_order_free(order);
	acme_authz_free(authz);
	acme_challenge_free(ch);
	acme_renewal_info_free(ari);
}

/*
 * The one step function: every event of an operation (its kick, the
 * directory arriving, an HTTP answer) lands here, and the state says what
 * that event means.
 */
static void
op_step(struct acme_op *op, const struct http_response *resp,
    const char *terr)
{
	struct acme_client *c = op->c;
	char err[512], url[ACME_URL_MAX + 600];

	switch (op->state) {
	case OP_START:
	case OP_WAIT_DIRECTORY:
		if (c->dir_state == DIR_NONE && op->state == OP_WAIT_DIRECTORY &&
		    c->dir_err[0] != '\0') {
			op_fail(op, "%s", c->dir_err);
			return;
		}
		if (c->dir_state != DIR_READY) {
			if (client_fetch_directory(c, err, sizeof(err)) == -1) {
				op_fail(op, "%s", err);
				return;
			}
			op->state = OP_WAIT_DIRECTORY;
			return;
		}
		if (op->kind == OP_ARI) {
			if (c->dir->renewal_info == NULL) {
				op_fail(op, "this CA offers no renewalInfo "
				    "(ARI)");
				return;
			}
			snprintf(url, sizeof(url), "%s%s%s",
			    c->dir->renewal_info,
			    c->dir->renewal_info[strlen(c->dir->renewal_info) -
			    1] == '/' ? "" : "/", op->ari_id);
			op->req = client_http(c, HTTP_GET, url, NULL, NULL,
			    op_http_cb, op, err, sizeof(err));
			if (op->req == NULL) {
				op_fail(op, "%s", err);
				return;
			}
			op->state = OP_WAIT_GET;
			return;
		}
		if (op->kind == OP_ORDER_NEW && op->profile != NULL &&
		    acme_directory_check_profile(c->dir, op->profile, err,
		    sizeof(err)) == -1) {
			op_fail(op, "%s", err);
			return;
		}
		if (op->kind == OP_REVOKE && c->dir->revoke_cert == NULL) {
			op_fail(op, "this CA's directory has no revokeCert");
			return;
		}
		if (op->kind == OP_ACCOUNT && op->payload == NULL &&
		    account_payload(op) == -1) {
			/* op->err holds the sentence already. */
			struct acme_result res = { .retry_after = -1,
			    .err = op->err };

			op_finish(op, &res);
			return;
		}
		op_post(op);
		return;
	case OP_WAIT_NONCE:
		if (terr != NULL) {
			op_fail(op, "getting a nonce failed: %s", terr);
			return;
		}
		if (c->nnonces == 0) {
			op_fail(op, "the CA's newNonce answer (HTTP %ld) "
			    "carried no usable Replay-Nonce", resp->status);
			return;
		}
		op_post(op);
		return;
	case OP_WAIT_POST:
		if (terr != NULL) {
			op_fail(op, "%s: %s", op->what, terr);
			return;
		}
		/* RFC 8555 §6.5: retry with the nonce the error carried. */
		if (is_bad_nonce(resp) && op->bad_nonces < ACME_BADNONCE_RETRIES) {
			op->bad_nonces++;
			c->stats.bad_nonce_retries++;
			op_post(op);
			return;
		}
		op_complete(op, resp);
		return;
	case OP_WAIT_GET:
		if (terr != NULL) {
			op_fail(op, "%s: %s", op->what, terr);
			return;
		}
		op_complete(op, resp);
		return;
	case OP_DONE:
		return;
	}
}

/* A new op of kind, queued to start from the loop; NULL with err. */
static struct acme_op *
op_new(struct acme_client *c, enum op_kind kind, const char *what,
    EVP_PKEY *key, const char *kid, const char *url, acme_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct acme_op *op;

	if (c->nops >= ACME_OPS_MAX) {
		snprintf(err, errlen, "too many ACME operations under way "
		    "(at most %d)", ACME_OPS_MAX);
		return NULL;
	}
	if (kind != OP_ARI && acme_jws_alg(key) == NULL) {
		snprintf(err, errlen, "the account key must be EC P-256, "
		    "P-384 or RSA of at least 2048 bits");
		return NULL;
	}
	if (kind != OP_ARI && kind != OP_ACCOUNT && (kid == NULL ||
	    !valid_url(kid) || strlen(kid) > ACME_URL_MAX)) {
		snprintf(err, errlen, "the account URL (kid) must be an https "
		    "URL");
		return NULL;
	}
	if (url != NULL && (!valid_url(url) || strlen(url) > ACME_URL_MAX)) {
		snprintf(err, errlen, "the %s URL must be an https URL", what);
		return NULL;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL)
		goto oom;
	op->c = c;
	op->kind = kind;
	op->what = what;
	op->cb = cb;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&c->ops, op, entry);
	c->nops++;
	evtimer_assign(&op->kick, c->base, op_kick_cb, op);
	set_prio(c->base, &op->kick);
	if (key != NULL) {
		if (!EVP_PKEY_up_ref(key)) {
			ERR_clear_error();
			goto oom_free;
		}
		op->key = key;
	}
	if ((kid != NULL && (op->kid = strdup(kid)) == NULL) ||
	    (url != NULL && (op->url = strdup(url)) == NULL))
		goto oom_free;
	return op;
oom_free:
	op_free(op);
oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static struct acme_op *
op_start(struct acme_op *op)
{
	event_active(&op->kick, EV_TIMEOUT, 0);
	return op;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

struct acme_op *
acme_account_new(struct acme_client *c, EVP_PKEY *key,
    const char *const *contacts, size_t ncontacts, int tos_agreed,
    const struct acme_eab *eab, int only_existing, acme_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct acme_op *op;

	if (ncontacts > ACME_CONTACTS_MAX) {
		snprintf(err, errlen, "at most %d contacts", ACME_CONTACTS_MAX);
		return NULL;
	}
	for (size_t i = 0; i < ncontacts; i++)
		if (strncmp(contacts[i], "mailto:", 7) != 0 ||
		    strlen(contacts[i]) > CONTACT_MAX_LEN ||
		    !valid_name(contacts[i]) || strchr(contacts[i], ',')) {
			snprintf(err, errlen, "a contact must be one mailto: "
			    "address of at most %d bytes", CONTACT_MAX_LEN);
			return NULL;
		}
	if ((op = op_new(c, OP_ACCOUNT, only_existing ? "account lookup" :
	    "newAccount", key, NULL, NULL, cb, arg, err, errlen)) == NULL)
		return NULL;
	op->tos_agreed = tos_agreed;
	op->only_existing = only_existing;
	if (ncontacts > 0 &&
	    (op->contacts = calloc(ncontacts, sizeof(char *))) == NULL)
		goto oom;
	for (size_t i = 0; i < ncontacts; i++) {
		if ((op->contacts[i] = strdup(contacts[i])) == NULL)
			goto oom;
		op->ncontacts++;
	}
	if (eab != NULL && ((op->eab_kid = strdup(eab->kid)) == NULL ||
	    (op->eab_mac = strdup(eab->mac_key)) == NULL))
		goto oom;
	return op_start(op);
oom:
	op_free(op);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

char *
acme_order_payload(const char *const *names, size_t n, const char *profile,
    char *err, size_t errlen)
{
	json_t *p, *ids;
	char *out = NULL;

	if (n == 0 || n > ACME_IDENTIFIERS_MAX) {
		snprintf(err, errlen, "an order names 1 to %d identifiers",
		    ACME_IDENTIFIERS_MAX);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!valid_name(names[i])) {
			snprintf(err, errlen, "identifier %zu is not a DNS "
			    "name of 1 to %d printable bytes", i + 1,
			    NAME_MAX_LEN);
			return NULL;
		}
	if (profile != NULL && !acme_profile_name_valid(profile)) {
		snprintf(err, errlen, "the ACME profile name is not 1 to %d "
		    "characters of A-Z a-z 0-9 . _ -", ACME_PROFILE_NAME_MAX);
		return NULL;
	}
	if ((ids = json_array()) == NULL ||
	    (p = json_pack("{s:o}", "identifiers", ids)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(ids, json_pack("{s:s, s:s}", "type",
		    "dns", "value", names[i])) == -1)
			break;
	if (json_array_size(ids) == n && (profile == NULL ||
	    json_object_set_new(p, "profile", json_string(profile)) == 0))
		out = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (out == NULL)
		snprintf(err, errlen, "out of memory");
	return out;
}

struct acme_op *
acme_order_new(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const char *const *names, size_t n, const char *profile, acme_cb *cb,
    void *arg, char *err, size_t errlen)
{
	struct acme_op *op;
	char *payload;

	if ((payload = acme_order_payload(names, n, profile, err,
	    errlen)) == NULL)
		return NULL;
	if ((op = op_new(c, OP_ORDER_NEW, "newOrder", key, kid, NULL, cb, arg,
	    err, errlen)) == NULL) {
		free(payload);
		return NULL;
	}
	op->payload = payload;
	if (profile != NULL && (op->profile = strdup(profile)) == NULL) {
		op_free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return op_start(op);
}

struct acme_op *
acme_fetch(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const char *url, enum acme_doc doc, acme_cb *cb, void *arg, char *err,
    size_t errlen)
{
	static const char *const what[] = {
		[ACME_DOC_ORDER] = "fetching the order",
		[ACME_DOC_AUTHZ] = "fetching the authorization",
		[ACME_DOC_CHALLENGE] = "fetching the challenge",
		[ACME_DOC_ACCOUNT] = "fetching the account",
	};
	struct acme_op *op;

	if ((unsigned)doc > ACME_DOC_ACCOUNT || url == NULL) {
		snprintf(err, errlen, "fetch needs a URL and a document type");
		return NULL;
	}
	if ((op = op_new(c, OP_FETCH, what[doc], key, kid, url, cb, arg, err,
	    errlen)) == NULL)
		return NULL;
	op->doc = doc;
	return op_start(op);
}

struct acme_op *
acme_challenge_respond(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const char *url, acme_cb *cb, void *arg, char *err, size_t errlen)
{
	struct acme_op *op;

	if (url == NULL) {
		snprintf(err, errlen, "no challenge URL");
		return NULL;
	}
	if ((op = op_new(c, OP_CHALLENGE, "answering the challenge", key, kid,
	    url, cb, arg, err, errlen)) == NULL)
		return NULL;
	if ((op->payload = strdup("{}")) == NULL) {
		op_free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return op_start(op);
}

/* {"<name>": base64url(der)} plus an optional integer member. */
static char *
der_payload(const char *name, const unsigned char *der, size_t len,
    const char *iname, int ival)
{
	char *b64 = b64url_new(der, len), *out = NULL;
	json_t *p;

	if (b64 == NULL)
		return NULL;
	p = json_pack("{s:s}", name, b64);
	if (p != NULL && iname != NULL &&
	    json_object_set_new(p, iname, json_integer(ival)) == -1) {
		json_decref(p);
		p = NULL;
	}
	if (p != NULL)
		out = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	free(b64);
	return out;
}

struct acme_op *
acme_finalize(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const char *finalize_url, const unsigned char *csr_der, size_t csr_len,
    acme_cb *cb, void *arg, char *err, size_t errlen)
{
	struct acme_op *op;

	if (finalize_url == NULL || csr_der == NULL || csr_len == 0 ||
	    csr_len > CSR_DER_MAX) {
		snprintf(err, errlen, "finalize needs its URL and a CSR of at "
		    "most %u bytes", CSR_DER_MAX);
		return NULL;
	}
	if ((op = op_new(c, OP_FINALIZE, "finalizing the order", key, kid,
	    finalize_url, cb, arg, err, errlen)) == NULL)
		return NULL;
	if ((op->payload = der_payload("csr", csr_der, csr_len, NULL, 0)) ==
	    NULL) {
		op_free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return op_start(op);
}

struct acme_op *
acme_certificate_get(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const char *url, acme_cb *cb, void *arg, char *err, size_t errlen)
{
	struct acme_op *op;

	if (url == NULL) {
		snprintf(err, errlen, "no certificate URL");
		return NULL;
	}
	if ((op = op_new(c, OP_CERT, "downloading the certificate", key, kid,
	    url, cb, arg, err, errlen)) == NULL)
		return NULL;
	return op_start(op);
}

struct acme_op *
acme_revoke(struct acme_client *c, EVP_PKEY *key, const char *kid,
    const unsigned char *cert_der, size_t cert_len, int reason, acme_cb *cb,
    void *arg, char *err, size_t errlen)
{
	struct acme_op *op;

	/* RFC 5280 §5.3.1: 7 is unused; 0..10 otherwise. */
	if (reason < -1 || reason > 10 || reason == 7) {
		snprintf(err, errlen, "revocation reason %d is not an RFC 5280 "
		    "reason code", reason);
		return NULL;
	}
	if (cert_der == NULL || cert_len == 0 || cert_len > CERT_DER_MAX) {
		snprintf(err, errlen, "revoke needs a certificate of at most "
		    "%u bytes", CERT_DER_MAX);
		return NULL;
	}
	if ((op = op_new(c, OP_REVOKE, "revoking the certificate", key, kid,
	    NULL, cb, arg, err, errlen)) == NULL)
		return NULL;
	if ((op->payload = der_payload("certificate", cert_der, cert_len,
	    reason >= 0 ? "reason" : NULL, reason)) == NULL) {
		op_free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return op_start(op);
}

struct acme_op *
acme_renewal_info_get(struct acme_client *c, X509 *cert, acme_cb *cb,
    void *arg, char *err, size_t errlen)
{
	char id[512];
	struct acme_op *op;

	if (acme_ari_cert_id(cert, id, sizeof(id), err, errlen) == -1)
		return NULL;
	if ((op = op_new(c, OP_ARI, "fetching renewal info", NULL, NULL, NULL,
	    cb, arg, err, errlen)) == NULL)
		return NULL;
	if ((op->ari_id = strdup(id)) == NULL) {
		op_free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return op_start(op);
}
