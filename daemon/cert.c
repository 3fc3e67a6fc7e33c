/*
 * Managed certificates and CA profiles: checks of every user-given value,
 * drafts, the CSR step (key in the pool, sealed to its row) and imports.
 * Each change writes its activity event in the same write bracket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"
#include "acme.h"
#include "cert.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "expiry.h"
#include "issue.h"
#include "keystore.h"
#include "log.h"
#include "store.h"
#include "x509.h"

#define SECS_PER_DAY	86400
#define TRUST_READ_MAX	(4u * 1024 * 1024)

/* --- domain names ---------------------------------------------------------- */

/*
 * A name quoted for a message in the one escaped form (esc_term), so the
 * sentence stays plain text whatever the input held; long names are cut
 * and marked.
 */
static const char *
quoted(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t o;

	buf[0] = '\'';
	o = 1 + esc_term(buf + 1, buflen - 2, s, len, 0, NULL);
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

static uint32_t
puny_adapt(uint32_t delta, uint32_t npoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / 700 : delta / 2;
	delta += delta / npoints;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (36 - 1 + 1) * delta / (delta + 38);
}

/*
 * Whether s (the part after "xn--") is Punycode (RFC 3492) that decodes to
 * at least one non-ASCII code point: "xn--" followed by anything else is not
 * an A-label, and CAs refuse it.
 */
static int
punycode_valid(const char *s, size_t len)
{
	uint32_t n = 128, i = 0, bias = 72, nout = 0;
	size_t pos = 0, b = 0;
	int found = 0;

	for (size_t j = 0; j < len; j++)
		if (s[j] == '-') {
			b = j;
			found = 1;
		}
	if (found) {
		nout = (uint32_t)b;
		pos = b + 1;
	}
	if (pos >= len)
		return 0;	/* nothing encoded: ASCII only */
	while (pos < len) {
		uint32_t oldi = i, w = 1, digit, t;

		for (uint32_t k = 36;; k += 36) {
			char c;

			if (pos >= len)
				return 0;
			c = s[pos++];
			if (c >= 'a' && c <= 'z')
				digit = (uint32_t)(c - 'a');
			else if (c >= '0' && c <= '9')
				digit = (uint32_t)(c - '0') + 26;
			else
				return 0;
			if (digit > (UINT32_MAX - i) / w)
				return 0;
			i += digit * w;
			t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
			if (digit < t)
				break;
			if (w > UINT32_MAX / (36 - t))
				return 0;
			w *= 36 - t;
		}
		bias = puny_adapt(i - oldi, nout + 1, oldi == 0);
		if (i / (nout + 1) > UINT32_MAX - n)
			return 0;
		n += i / (nout + 1);
		i %= nout + 1;
		if (n < 0x80 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff))
			return 0;
		if (++nout > CERT_LABEL_MAX)
			return 0;
		i++;
	}
	return 1;
}

static int
check_label(const char *l, size_t n, const char *q, char *err, size_t errlen)
{
	if (n == 0) {
		snprintf(err, errlen, "domain %s has an empty label", q);
		return -1;
	}
	if (n > CERT_LABEL_MAX) {
		snprintf(err, errlen, "domain %s has a label longer than %d "
		    "characters", q, CERT_LABEL_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = l[i];

		if (c == '*') {
			snprintf(err, errlen, "domain %s: a wildcard is allowed "
			    "only as the whole leftmost label (*.example.com)", q);
			return -1;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-')) {
			snprintf(err, errlen, "domain %s contains '%c', which a "
			    "domain name cannot (letters, digits and hyphens "
			    "only)", q, c);
			return -1;
		}
	}
	if (l[0] == '-' || l[n - 1] == '-') {
		snprintf(err, errlen, "domain %s has a label that starts or ends "
		    "with a hyphen", q);
		return -1;
	}
	if (n >= 4 && l[2] == '-' && l[3] == '-') {
		if (l[0] != 'x' || l[1] != 'n') {
			snprintf(err, errlen, "domain %s has a label with '--' in "
			    "the third and fourth positions that is not an "
			    "A-label (xn--)", q);
			return -1;
		}
		if (!punycode_valid(l + 4, n - 4)) {
			snprintf(err, errlen, "domain %s has an xn-- label that "
			    "is not a valid A-label (Punycode)", q);
			return -1;
		}
	}
	return 0;
}

int
cert_check_name(const char *name, size_t len, char *err, size_t errlen)
{
	char qb[96] = "";
	const char *q, *p, *end, *last = NULL;
	size_t nlabels = 0, i;
	int wild = 0;

	if (name == NULL || len == 0) {
		snprintf(err, errlen, "a domain name cannot be empty");
		return -1;
	}
	q = quoted(name, len, qb, sizeof(qb));
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] >= 0x80) {
			snprintf(err, errlen, "domain %s is an internationalized "
			    "name (U-label): give it in its A-label form, xn--... "
			    "(e.g. as 'idn2' prints it)", q);
			return -1;
		}
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f) {
			snprintf(err, errlen, "domain %s contains a space or "
			    "control character", q);
			return -1;
		}
	for (i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z') {
			snprintf(err, errlen, "domain %s must be lower case", q);
			return -1;
		}
	if (name[len - 1] == '.' && len > 1) {
		snprintf(err, errlen, "domain %s ends with a dot: give it without "
		    "the trailing dot", q);
		return -1;
	}
	if (len > CERT_NAME_MAX) {
		snprintf(err, errlen, "domain %s is longer than %d characters", q,
		    CERT_NAME_MAX);
		return -1;
	}
	p = name;
	end = name + len;
	if (len >= 2 && name[0] == '*' && name[1] == '.') {
		p += 2;		/* the wildcard label; the rest is checked */
		wild = 1;
	}
	while (p <= end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		const char *le = dot ? dot : end;

		if (check_label(p, (size_t)(le - p), q, err, errlen) == -1)
			return -1;
		nlabels++;
		last = p;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (nlabels < 2) {
		snprintf(err, errlen, wild ?
		    "domain %s: a wildcard needs at least two labels after it "
		    "(*.example.com)" : "domain %s needs at least two labels "
		    "(e.g. example.com)", q);
		return -1;
	}
	for (p = last; p < end && *p >= '0' && *p <= '9'; p++)
		;
	if (p == end) {
		snprintf(err, errlen, "domain %s looks like an IP address; "
		    "certificates here are for domain names", q);
		return -1;
	}
	return 0;
}

int
cert_check_names(const char *const *names, size_t n, char *err,
    size_t errlen)
{
	char qb[96] = "";

	if (n == 0) {
		snprintf(err, errlen, "a certificate needs a domain");
		return -1;
	}
	if (n > CERT_NAMES_MAX) {
		snprintf(err, errlen, "too many names: %zu (a certificate holds "
		    "at most %d, domain and aliases together)", n,
		    CERT_NAMES_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (cert_check_name(names[i], strlen(names[i]), err,
		    errlen) == -1)
			return -1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) == 0) {
				snprintf(err, errlen, "domain %s is given twice",
				    quoted(names[i], strlen(names[i]), qb,
				    sizeof(qb)));
				return -1;
			}
	return 0;
}

int
cert_check_email(const char *email, size_t len, char *err, size_t errlen)
{
	const char *at;

	if (len > CERT_EMAIL_MAX) {
		snprintf(err, errlen, "the email address is longer than %d "
		    "characters", CERT_EMAIL_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)email[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;:\"\\", c)) {
			snprintf(err, errlen, "the email address contains a "
			    "character an ACME contact cannot hold");
			return -1;
		}
	}
	at = memchr(email, '@', len);
	if (at == NULL || at == email || memchr(at + 1, '@',
	    len - (size_t)(at - email) - 1) != NULL ||
	    memchr(at + 1, '.', len - (size_t)(at - email) - 1) == NULL ||
	    email[len - 1] == '.' || at[1] == '.') {
		snprintf(err, errlen, "the email address must look like "
		    "name@example.com");
		return -1;
	}
	return 0;
}

int
cert_check_ca_name(const char *name, size_t len, char *err, size_t errlen)
{
	if (len == 0 || len > CA_NAME_MAX) {
		snprintf(err, errlen, "a CA profile name has 1 to %d characters",
		    CA_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '-' || c == '_' || c == '.'));

		if (!ok) {
			snprintf(err, errlen, "a CA profile name holds lower-case "
			    "letters, digits, '-', '_' and '.', and starts with a "
			    "letter or digit");
			return -1;
		}
	}
	return 0;
}

int
cert_check_directory(const char *url, size_t len, char *err, size_t errlen)
{
	static const char scheme[] = "https://";
	size_t sl = sizeof(scheme) - 1;

	if (len > CA_URL_MAX) {
		snprintf(err, errlen, "the directory URL is longer than %d "
		    "characters", CA_URL_MAX);
		return -1;
	}
	if (len < sl || strncasecmp(url, scheme, sl) != 0) {
		snprintf(err, errlen, "the directory URL must start with "
		    "https:// (ACME runs over HTTPS only)");
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
			snprintf(err, errlen, "the directory URL contains a space, "
			    "control or non-ASCII character");
			return -1;
		}
	if (len == sl || url[sl] == '/' || url[sl] == '?' || url[sl] == '#' ||
	    url[sl] == ':' || memchr(url, '@', len) != NULL) {
		snprintf(err, errlen, "the directory URL needs a host "
		    "(https://HOST[:PORT]/PATH, no user information)");
		return -1;
	}
	return 0;
}

int
cert_check_eab_key(const char *key, size_t len, char *err, size_t errlen)
{
	if (len > CA_EAB_KEY_MAX) {
		snprintf(err, errlen, "the EAB HMAC key is longer than %d "
		    "characters", CA_EAB_KEY_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			snprintf(err, errlen, "the EAB HMAC key must be base64url "
			    "without padding (A-Z a-z 0-9 - _), as the CA gives it");
			return -1;
		}
	}
	/* 4 characters carry 3 bytes; a remainder of 1 character is none. */
	if (len % 4 == 1 || len * 3 / 4 < 16) {
		snprintf(err, errlen, "the EAB HMAC key must be base64url of at "
		    "least 16 bytes");
		return -1;
	}
	return 0;
}

int
cert_check_acme_profile(const char *name, size_t len, char *err,
    size_t errlen)
{
	if (len == 0)
		return 0;
	if (len != strlen(name) || !acme_profile_name_valid(name)) {
		snprintf(err, errlen, "an ACME profile name has 1 to %d "
		    "characters of A-Z a-z 0-9 '.', '_' and '-' (such as "
		    "classic or shortlived)", ACME_PROFILE_NAME_MAX);
		return -1;
	}
	return 0;
}

/* --- names and CNAMEs ------------------------------------------------------- */

const char **
cert_names(const struct store_cert *c, size_t *n)
{
	const char **v = calloc(c->naliases + 1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v[0] = c->domain;
	for (size_t i = 0; i < c->naliases; i++)
		v[i + 1] = c->aliases[i];
	*n = c->naliases + 1;
	return v;
}

static void
cname_of(const char *name, struct cert_cname *out)
{
	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	snprintf(out->name, sizeof(out->name), "_acme-challenge.%s.", name);
}

/* The name whose challenge name a name uses: a wildcard's base name. */
static const char *
challenge_base(const char *name)
{
	return strncmp(name, "*.", 2) == 0 ? name + 2 : name;
}

size_t
cert_cnames(const struct store_cert *c, const char *techzone,
    struct cert_cname *out, size_t max)
{
	size_t n = 0, zl;

	if (c->label == NULL || techzone == NULL || *techzone == '\0')
		return 0;
	zl = strlen(techzone);
	if (techzone[zl - 1] == '.')
		zl--;
	for (size_t i = 0; i <= c->naliases; i++) {
		const char *name = i == 0 ? c->domain : c->aliases[i - 1];
		int seen = 0;

		/* Compared with the names before it, so counting needs no out. */
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(challenge_base(j == 0 ? c->domain :
			    c->aliases[j - 1]), challenge_base(name)) == 0;
		if (seen)
			continue;
		if (n < max) {
			cname_of(name, &out[n]);
			snprintf(out[n].target, sizeof(out[n].target), "%s.%.*s.",
			    c->label, (int)zl, techzone);
		}
		n++;
	}
	return n;
}

const char *
cert_status(const struct store_cert *c, int64_t now)
{
	if (strcmp(c->status, "active") == 0 && c->facts != NULL &&
	    now > c->facts->valid_until)
		return "expired";
	return c->status;
}

/* --- shared helpers ----------------------------------------------------------- */

static int
write_begin(struct daemon *d, struct cf_err *e)
{
	char err[256];

	if (store_write_begin(d->store, err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", err);
	return 0;
}

/*
 * Ends a write bracket with an event about the subject (c's names and facts
 * in its data when c is given); -1 (rolled back) with e.
 */
static int
write_end_event(struct daemon *d, int ok, const char *kind,
    const char *subject_type, int64_t subject_id, const struct store_cert *c,
    const char *msg, struct cf_err *e)
{
	struct event ev;

	if (ok) {
		event_init(&ev, kind, subject_type, subject_id);
		esc_format(ev.message, sizeof(ev.message), "%s", msg);
		if (c != NULL)
			event_cert(&ev, c, clock_now());
		if (event_record(d, &ev, e->msg, sizeof(e->msg)) == -1) {
			e->code = WIRE_UNAVAILABLE;
			ok = 0;
		}
	}
	store_write_end(d->store, ok);
	return ok ? 0 : -1;
}

static int
need_keys(struct daemon *d, struct cf_err *e)
{
	if (d->keys == NULL)
		return cf_err_set(e, WIRE_UNAVAILABLE, "the key store is not "
		    "open");
	return 0;
}

int
cert_seal(struct daemon *d, const void *plain, size_t len, const char *table,
    int64_t id, const char *column, unsigned char **out, size_t *outlen,
    struct cf_err *e)
{
	char aad[KEYSTORE_AAD_MAX], err[256];
	int alen;

	if ((alen = keystore_aad(aad, sizeof(aad), table, id, column)) < 0)
		return cf_err_set(e, WIRE_INTERNAL, "cannot name a sealed value");
	if (keystore_seal(d->keys, plain, len, aad, (size_t)alen, out, outlen,
	    err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_INTERNAL, "sealing: %s", err);
	return 0;
}

int
cert_unseal(struct daemon *d, const unsigned char *blob, size_t len,
    const char *table, int64_t id, const char *column, unsigned char **out,
    size_t *outlen, struct cf_err *e)
{
	char aad[KEYSTORE_AAD_MAX], err[256];
	int alen;

	if (need_keys(d, e) == -1)
		return -1;
	if ((alen = keystore_aad(aad, sizeof(aad), table, id, column)) < 0)
		return cf_err_set(e, WIRE_INTERNAL, "cannot name a sealed value");
	if (blob == NULL || keystore_unseal(d->keys, blob, len, aad,
	    (size_t)alen, out, outlen, err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_DATA_LOSS, "the %s of %s %lld cannot "
		    "be unsealed: %s", column, table, (long long)id,
		    blob == NULL ? "none stored" : err);
	return 0;
}

EVP_PKEY *
cert_unseal_key(struct daemon *d, const unsigned char *blob, size_t len,
    const char *table, int64_t id, struct cf_err *e)
{
	unsigned char *pem = NULL;
	size_t plen = 0;
	EVP_PKEY *key;
	char err[256];

	if (cert_unseal(d, blob, len, table, id, "key", &pem, &plen, e) == -1)
		return NULL;
	key = keystore_key_from_pem((const char *)pem, plen, err, sizeof(err));
	keystore_secret_free(pem, plen);
	if (key == NULL)
		cf_err_set(e, WIRE_DATA_LOSS, "the key of %s %lld is unusable: %s",
		    table, (long long)id, err);
	return key;
}

int
cert_seal_key(struct daemon *d, EVP_PKEY *key, const char *table, int64_t id,
    unsigned char **out, size_t *outlen, struct cf_err *e)
{
	char *pem = NULL, err[256];
	size_t plen = 0;
	int rc;

	if (keystore_key_to_pem(key, &pem, &plen, err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_INTERNAL, "encoding a key: %s", err);
	rc = cert_seal(d, pem, plen, table, id, "key", out, outlen, e);
	keystore_secret_free(pem, plen);
	return rc;
}

/* --- CA profiles ------------------------------------------------------------ */

struct store_ca *
cert_ca_get(struct daemon *d, const char *name, struct cf_err *e)
{
	struct store_ca *ca;
	char qb[96];
	int rc;

	rc = store_ca_get(d->store, name, &ca, e->msg, sizeof(e->msg));
	return cf_err_store(e, rc, "no CA profile %s",
	    quoted(name, strlen(name), qb, sizeof(qb))) == 0 ? ca : NULL;
}

/* A readable regular file holding at least one PEM certificate. */
static int
check_trust_file(const char *path, struct cf_err *e)
{
	struct stat sb;
	BIO *bio = NULL;
	X509 *x = NULL;
	char *buf = NULL;
	ssize_t n;
	int fd, rc = -1;

	if (path[0] != '/')
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "the trust file must "
		    "be an absolute path (the daemon does not share your working "
		    "directory)");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "trust file %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "trust file %s is not a "
		    "regular file", path);
		goto out;
	}
	if (sb.st_size > (off_t)TRUST_READ_MAX) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "trust file %s is larger "
		    "than %u bytes", path, TRUST_READ_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if ((n = read(fd, buf, (size_t)sb.st_size)) < 0) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "trust file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)n)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "trust file %s holds no PEM "
		    "certificate", path);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(bio);
	free(buf);
	close(fd);
	return rc;
}

static int
check_ca_params(const struct cert_ca_params *p, struct cf_err *e)
{
	char err[512];

	if (cert_check_ca_name(p->name, strlen(p->name), err, sizeof(err)) == -1 ||
	    (p->directory && cert_check_directory(p->directory,
	    strlen(p->directory), err, sizeof(err)) == -1) ||
	    (p->acme_profile && cert_check_acme_profile(p->acme_profile,
	    strlen(p->acme_profile), err, sizeof(err)) == -1))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "%s", err);
	if ((p->eab_kid == NULL) != (p->eab_hmac_key == NULL))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "give the EAB key id "
		    "and the EAB HMAC key together");
	if (p->eab_kid != NULL) {
		size_t kl = strlen(p->eab_kid);

		if (kl == 0 || kl > CA_EAB_KID_MAX)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "the EAB key "
			    "id has 1 to %d characters", CA_EAB_KID_MAX);
		for (size_t i = 0; i < kl; i++)
			if ((unsigned char)p->eab_kid[i] <= 0x20 ||
			    (unsigned char)p->eab_kid[i] >= 0x7f)
				return cf_err_set(e, WIRE_INVALID_ARGUMENT, "the "
				    "EAB key id must be printable ASCII without "
				    "spaces");
		if (cert_check_eab_key(p->eab_hmac_key, strlen(p->eab_hmac_key),
		    err, sizeof(err)) == -1)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "%s", err);
	}
	if (p->trust_file != NULL && check_trust_file(p->trust_file, e) == -1)
		return -1;
	return 0;
}

/* Seals and stores p's EAB pair on profile id. */
static int
store_eab(struct daemon *d, int64_t id, const struct cert_ca_params *p,
    struct cf_err *e)
{
	unsigned char *sealed = NULL;
	size_t slen = 0;
	int rc;

	if (cert_seal(d, p->eab_hmac_key, strlen(p->eab_hmac_key), "ca_profiles",
	    id, "eab_hmac_key", &sealed, &slen, e) == -1)
		return -1;
	rc = store_ca_set_eab(d->store, id, p->eab_kid, sealed, slen, e->msg,
	    sizeof(e->msg));
	free(sealed);
	if (rc != 0)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", rc == 1 ?
		    "the CA profile vanished" : e->msg);
	return 0;
}

/* An ACME profile as stored: NULL for none ("" or absent). */
static const char *
acme_profile_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* A built-in profile takes only its EAB pair and its ACME profile. */
static struct store_ca *
set_builtin(struct daemon *d, struct store_ca *ca,
    const struct cert_ca_params *p, struct cf_err *e)
{
	const char *prof = acme_profile_or_null(p->acme_profile);
	char msg[256];
	int ok, rc;

	if (p->trust_file != NULL || (p->eab_kid == NULL &&
	    p->acme_profile == NULL) || (p->directory != NULL &&
	    strcmp(p->directory, ca->directory_url) != 0)) {
		cf_err_set(e, p->eab_kid || p->acme_profile ?
		    WIRE_FAILED_PRECONDITION : WIRE_ALREADY_EXISTS,
		    "CA profile '%s' is built in: only its EAB (--eab-kid KID "
		    "--eab-hmac-key KEY) and its ACME profile (--acme-profile "
		    "NAME) can be set", ca->name);
		store_ca_free(ca);
		return NULL;
	}
	if (write_begin(d, e) == -1) {
		store_ca_free(ca);
		return NULL;
	}
	ok = p->eab_kid == NULL || store_eab(d, ca->id, p, e) == 0;
	if (ok && p->acme_profile != NULL &&
	    (rc = store_ca_set_acme_profile(d->store, ca->id, prof, e->msg,
	    sizeof(e->msg))) != 0) {
		cf_err_set(e, WIRE_UNAVAILABLE, "%s", rc == 1 ?
		    "the CA profile vanished" : e->msg);
		ok = 0;
	}
	if (p->acme_profile == NULL)
		esc_format(msg, sizeof(msg), "CA profile '%s': EAB key id set",
		    ca->name);
	else
		esc_format(msg, sizeof(msg), "CA profile '%s': %sACME profile "
		    "%s%s", ca->name, p->eab_kid ? "EAB key id set, " : "",
		    prof ? "set to " : "cleared", prof ? prof : "");
	if (write_end_event(d, ok, p->eab_kid ? "ca_eab_set" :
	    "ca_acme_profile_set", EVENT_SUBJECT_CA, ca->id, NULL, msg,
	    e) == -1) {
		store_ca_free(ca);
		return NULL;
	}
	log_info("%s", msg);
	store_ca_free(ca);
	return cert_ca_get(d, p->name, e);
}

struct store_ca *
cert_ca_add(struct daemon *d, const struct cert_ca_params *p, struct cf_err *e)
{
	struct store_ca ca = { 0 }, *old = NULL;
	char msg[256];
	int rc, ok;

	if (check_ca_params(p, e) == -1)
		return NULL;
	if (p->eab_kid != NULL && need_keys(d, e) == -1)
		return NULL;
	rc = store_ca_get(d->store, p->name, &old, e->msg, sizeof(e->msg));
	if (rc == -1) {
		e->code = WIRE_UNAVAILABLE;
		return NULL;
	}
	if (rc == 0 && old->builtin)
		return set_builtin(d, old, p, e);
	if (rc == 0) {
		store_ca_free(old);
		cf_err_set(e, WIRE_ALREADY_EXISTS, "CA profile '%s' exists "
		    "already", p->name);
		return NULL;
	}
	if (p->directory == NULL) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "parameter 'directory' is "
		    "required");
		return NULL;
	}
	ca.name = (char *)p->name;
	ca.directory_url = (char *)p->directory;
	ca.trust_file = (char *)p->trust_file;
	ca.acme_profile = (char *)acme_profile_or_null(p->acme_profile);
	ca.created_at = clock_now();
	if (write_begin(d, e) == -1)
		return NULL;
	/* The EAB key is sealed to the row's id, known once it is inserted. */
	rc = store_ca_insert(d->store, &ca, e->msg, sizeof(e->msg));
	if (rc == 1)
		cf_err_set(e, WIRE_ALREADY_EXISTS, "CA profile '%s' exists "
		    "already", p->name);
	else if (rc == -1)
		e->code = WIRE_UNAVAILABLE;
	ok = rc == 0 && (p->eab_kid == NULL || store_eab(d, ca.id, p, e) == 0);
	esc_format(msg, sizeof(msg), "CA profile '%s' added (%s%s%s)", p->name,
	    p->directory, ca.acme_profile ? ", ACME profile " : "",
	    ca.acme_profile ? ca.acme_profile : "");
	if (write_end_event(d, ok, "ca_added", EVENT_SUBJECT_CA, ca.id, NULL,
	    msg, e) == -1)
		return NULL;
	log_info("%s", msg);
	return cert_ca_get(d, p->name, e);
}

int
cert_ca_delete(struct daemon *d, const char *name, struct cf_err *e)
{
	struct store_ca *ca;
	char msg[256];
	int64_t id;
	int rc;

	if ((ca = cert_ca_get(d, name, e)) == NULL)
		return -1;
	if (ca->builtin) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "CA profile '%s' is built "
		    "in and cannot be deleted", ca->name);
		store_ca_free(ca);
		return -1;
	}
	if (ca->ncerts > 0) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "CA profile '%s' is used "
		    "by %lld certificate%s: delete them or move them to another "
		    "profile first", ca->name, (long long)ca->ncerts,
		    ca->ncerts == 1 ? "" : "s");
		store_ca_free(ca);
		return -1;
	}
	if (write_begin(d, e) == -1) {
		store_ca_free(ca);
		return -1;
	}
	rc = store_ca_delete(d->store, ca->id, e->msg, sizeof(e->msg));
	if (rc != 0)
		e->code = rc == 1 ? WIRE_NOT_FOUND : WIRE_UNAVAILABLE;
	esc_format(msg, sizeof(msg), "CA profile '%s' deleted", ca->name);
	id = ca->id;
	store_ca_free(ca);
	if (write_end_event(d, rc == 0, "ca_deleted", EVENT_SUBJECT_CA, id,
	    NULL, msg, e) == -1)
		return -1;
	log_info("%s", msg);
	return 0;
}

/* --- certificates -------------------------------------------------------------- */

struct store_cert *
cert_get(struct daemon *d, int64_t id, struct cf_err *e)
{
	struct store_cert *c;
	int rc;

	rc = store_cert_get(d->store, id, &c, e->msg, sizeof(e->msg));
	return cf_err_store(e, rc, "no certificate %lld", (long long)id) == 0 ?
	    c : NULL;
}

static int
set_str(char **dst, const char *src, struct cf_err *e)
{
	char *s = NULL;

	if (src != NULL && (s = strdup(src)) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

static int
set_aliases(struct store_cert *c, const char **v, size_t n, struct cf_err *e)
{
	char **a = n ? calloc(n, sizeof(*a)) : NULL;

	if (n && a == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((a[i] = strdup(v[i])) == NULL) {
			while (i > 0)
				free(a[--i]);
			free(a);
			return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED,
			    "out of memory");
		}
	for (size_t i = 0; i < c->naliases; i++)
		free(c->aliases[i]);
	free(c->aliases);
	c->aliases = a;
	c->naliases = n;
	return 0;
}

/* A profile usable for issuing: it exists and has its EAB if it needs one. */
static int
resolve_ca(struct daemon *d, const char *name, struct store_cert *c,
    struct cf_err *e)
{
	struct store_ca *ca;

	if ((ca = cert_ca_get(d, name, e)) == NULL) {
		if (e->code == WIRE_NOT_FOUND)
			e->code = WIRE_INVALID_ARGUMENT;
		return -1;
	}
	if (ca->eab_required && ca->eab_kid == NULL) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "CA profile '%s' requires "
		    "External Account Binding: set its EAB first with "
		    "'certfleet ca add %s --eab-kid KID --eab-hmac-key KEY' "
		    "(the CA's account page gives both)", ca->name, ca->name);
		store_ca_free(ca);
		return -1;
	}
	c->ca_id = ca->id;
	if (set_str(&c->ca_name, ca->name, e) == -1) {
		store_ca_free(ca);
		return -1;
	}
	store_ca_free(ca);
	return 0;
}

static int
check_renew_days(int64_t days, int64_t lifetime, struct cf_err *e)
{
	if (lifetime < 2)
		lifetime = 2;
	if (days < 1 || days > lifetime - 1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "renew_days must be "
		    "in 1..%lld (the certificate's lifetime, %lld days, minus "
		    "one)", (long long)lifetime - 1, (long long)lifetime);
	return 0;
}

/* Applies p to c (a draft or a new row) and checks the result as a whole. */
static int
apply_params(struct daemon *d, struct store_cert *c, const struct cert_params *p,
    struct cf_err *e)
{
	enum keystore_key_type kt;
	const char **names;
	size_t n;
	int rc;

	if (p->domain != NULL && set_str(&c->domain, p->domain, e) == -1)
		return -1;
	if (p->has_aliases && set_aliases(c, p->aliases, p->naliases, e) == -1)
		return -1;
	if ((names = cert_names(c, &n)) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	rc = cert_check_names(names, n, e->msg, sizeof(e->msg));
	free(names);
	if (rc == -1) {
		e->code = WIRE_INVALID_ARGUMENT;
		return -1;
	}
	if (p->key_type != NULL) {
		if (keystore_key_type_parse(p->key_type, &kt) == -1)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "key_type "
			    "must be ec256, ec384, rsa2048, rsa3072 or rsa4096");
		snprintf(c->key_type, sizeof(c->key_type), "%s", p->key_type);
	}
	if (p->renew_days != 0) {
		if (check_renew_days(p->renew_days, CERT_LIFETIME_DAYS, e) == -1)
			return -1;
		c->renew_days = (int)p->renew_days;
	}
	if (p->email != NULL) {
		if (*p->email != '\0' && cert_check_email(p->email,
		    strlen(p->email), e->msg, sizeof(e->msg)) == -1) {
			e->code = WIRE_INVALID_ARGUMENT;
			return -1;
		}
		if (set_str(&c->email, *p->email ? p->email : NULL, e) == -1)
			return -1;
	}
	if (p->agree_tos == 0)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "agree_tos must be "
		    "true: the CA issues only to those who agree to its terms of "
		    "service");
	if (p->agree_tos == 1 && c->tos_agreed_at == 0)
		c->tos_agreed_at = clock_now();
	if (p->ca != NULL && resolve_ca(d, p->ca, c, e) == -1)
		return -1;
	return 0;
}

static void
cert_summary(const struct store_cert *c, const char *what, char *msg,
    size_t len)
{
	esc_format(msg, len, "certificate %lld (%s%s) %s", (long long)c->id,
	    c->domain, c->naliases ? " and aliases" : "", what);
}

struct store_cert *
cert_create(struct daemon *d, const struct cert_params *p, struct cf_err *e)
{
	struct store_cert *c;
	char msg[512];
	int rc;

	if (p->domain == NULL || p->ca == NULL)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "domain and ca are "
		    "required"), NULL;
	if (p->agree_tos != 1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "agree_tos must be "
		    "true: the CA issues only to those who agree to its terms of "
		    "service"), NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory"),
		    NULL;
	memcpy(c->source, "acme", 5);
	memcpy(c->status, "draft", 6);
	snprintf(c->key_type, sizeof(c->key_type), "%s",
	    keystore_key_type_name(KEYSTORE_KEY_DEFAULT));
	c->renew_days = CERT_RENEW_DAYS_DEFAULT;
	c->created_at = c->updated_at = clock_now();
	if (apply_params(d, c, p, e) == -1 || write_begin(d, e) == -1) {
		store_cert_free(c);
		return NULL;
	}
	rc = store_cert_insert(d->store, c, e->msg, sizeof(e->msg));
	if (rc != 0)
		e->code = WIRE_UNAVAILABLE;
	cert_summary(c, "created as a draft", msg, sizeof(msg));
	if (write_end_event(d, rc == 0, "cert_created",
	    EVENT_SUBJECT_CERTIFICATE, c->id, c, msg, e) == -1) {
		store_cert_free(c);
		return NULL;
	}
	log_info("%s", msg);
	return c;
}

static int
require_draft(const struct store_cert *c, const char *doing, struct cf_err *e)
{
	if (strcmp(c->status, "draft") == 0)
		return 0;
	return cf_err_set(e, WIRE_FAILED_PRECONDITION, "certificate %lld is "
	    "%s, not a draft: %s", (long long)c->id, c->status, doing);
}

struct store_cert *
cert_update(struct daemon *d, int64_t id, const struct cert_params *p,
    struct cf_err *e)
{
	struct store_cert *c;
	char msg[512];
	int rc;

	if ((c = cert_get(d, id, e)) == NULL)
		return NULL;
	if (require_draft(c, "its names and settings were fixed when its key "
	    "and CSR were made", e) == -1 || apply_params(d, c, p, e) == -1 ||
	    write_begin(d, e) == -1) {
		store_cert_free(c);
		return NULL;
	}
	c->updated_at = clock_now();
	rc = store_cert_update(d->store, c, e->msg, sizeof(e->msg));
	cf_err_store(e, rc, "no certificate %lld", (long long)id);
	cert_summary(c, "draft updated", msg, sizeof(msg));
	if (write_end_event(d, rc == 0, "cert_updated",
	    EVENT_SUBJECT_CERTIFICATE, c->id, c, msg, e) == -1) {
		store_cert_free(c);
		return NULL;
	}
	return c;
}

int
cert_delete(struct daemon *d, int64_t id, struct cf_err *e)
{
	char msg[128];
	int rc;

	/* A job under way stops first, and its challenge values go. */
	issuer_forget(d->issuer, id);
	if (write_begin(d, e) == -1)
		return -1;
	rc = store_cert_delete(d->store, id, e->msg, sizeof(e->msg));
	if (rc == 0)
		rc = expiry_forget(d, EVENT_SUBJECT_CERTIFICATE, id, e->msg,
		    sizeof(e->msg));
	cf_err_store(e, rc, "no certificate %lld", (long long)id);
	esc_format(msg, sizeof(msg), "certificate %lld deleted", (long long)id);
	if (write_end_event(d, rc == 0, "cert_deleted",
	    EVENT_SUBJECT_CERTIFICATE, id, NULL, msg, e) == -1)
		return -1;
	log_info("%s", msg);
	return 0;
}

int
cert_key_pem(struct daemon *d, int64_t id, char **pem, size_t *len,
    struct cf_err *e)
{
	struct store_cert *c;
	unsigned char *plain = NULL;
	size_t plen = 0;

	if (need_keys(d, e) == -1 || (c = cert_get(d, id, e)) == NULL)
		return -1;
	if (c->key_sealed == NULL) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "certificate %lld has no "
		    "private key yet (a draft gets one with 'cert csr')",
		    (long long)id);
		store_cert_free(c);
		return -1;
	}
	if (cert_unseal(d, c->key_sealed, c->key_sealed_len, "certificates",
	    id, "key", &plain, &plen, e) == -1) {
		store_cert_free(c);
		return -1;
	}
	store_cert_free(c);
	*pem = (char *)plain;
	*len = plen;
	return 0;
}

/* --- the CSR step ------------------------------------------------------------- */

struct csr_job {
	struct daemon		*d;
	int64_t			 id;
	char			 key_type[12];
	struct keystore_job	*kj;
	cert_done_fn		*done;
	void			*arg;
	LIST_ENTRY(csr_job)	 entry;
};

struct cert_jobs {
	LIST_HEAD(, csr_job)	 jobs;
};

static void
random_label(char *out, size_t outlen)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[CERT_LABEL_LEN];
	size_t i;

	/* RAND_bytes cannot fail once OpenSSL has seeded; if it did, the
	 * UNIQUE constraint would still refuse a repeated label. */
	if (RAND_bytes(r, sizeof(r)) != 1)
		ERR_clear_error();
	for (i = 0; i < CERT_LABEL_LEN && i + 1 < outlen; i++)
		out[i] = b32[r[i] & 31];
	out[i] = '\0';
}

/* Makes the CSR and the sealed key of c from key; fills c. */
static int
csr_fill(struct daemon *d, struct store_cert *c, EVP_PKEY *key,
    struct cf_err *e)
{
	const char **names;
	X509_REQ *req;
	char err[256], *pem = NULL, *csr = NULL, label[CERT_LABEL_LEN + 1];
	size_t n, plen = 0, clen = 0;
	int rc = -1;

	if ((names = cert_names(c, &n)) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	req = keystore_make_csr(key, names, n, err, sizeof(err));
	free(names);
	if (req == NULL)
		return cf_err_set(e, WIRE_INTERNAL, "making the CSR: %s", err);
	if (keystore_csr_to_pem(req, &csr, &clen, err, sizeof(err)) == -1) {
		cf_err_set(e, WIRE_INTERNAL, "encoding the CSR: %s", err);
		goto out;
	}
	if (keystore_key_to_pem(key, &pem, &plen, err, sizeof(err)) == -1) {
		cf_err_set(e, WIRE_INTERNAL, "encoding the key: %s", err);
		goto out;
	}
	free(c->key_sealed);
	c->key_sealed = NULL;
	if (cert_seal(d, pem, plen, "certificates", c->id, "key", &c->key_sealed,
	    &c->key_sealed_len, e) == -1)
		goto out;
	free(c->csr_pem);
	c->csr_pem = csr;
	csr = NULL;
	if (c->label == NULL) {
		random_label(label, sizeof(label));
		if (set_str(&c->label, label, e) == -1)
			goto out;
	}
	memcpy(c->status, "pending", 8);
	/*
	 * The issuing engine takes it from here, after cname-poll-min: the
	 * label is new, so nobody can have made the CNAME yet, and looking now
	 * would only leave a "no such name" in the resolver's cache.
	 */
	c->updated_at = clock_now();
	c->next_attempt_at = c->updated_at + d->cfg->cname_poll_min;
	c->failures = 0;
	rc = 0;
out:
	keystore_secret_free(pem, plen);
	free(csr);
	X509_REQ_free(req);
	return rc;
}

static void
csr_key_cb(EVP_PKEY *key, const char *kerr, void *arg)
{
	struct csr_job *job = arg;
	struct daemon *d = job->d;
	struct store_cert *c = NULL;
	struct cf_err e = { 0 };
	char msg[512];
	int rc;

	LIST_REMOVE(job, entry);
	if (key == NULL) {
		cf_err_set(&e, WIRE_INTERNAL, "key generation failed: %s", kerr);
		goto fail;
	}
	/* The row may have changed while the key was made: read it again. */
	if ((c = cert_get(d, job->id, &e)) == NULL)
		goto fail;
	if (strcmp(c->status, "draft") != 0 ||
	    strcmp(c->key_type, job->key_type) != 0) {
		cf_err_set(&e, WIRE_ABORTED, "certificate %lld changed while its "
		    "key was generated; try again", (long long)job->id);
		goto fail;
	}
	if (csr_fill(d, c, key, &e) == -1 || write_begin(d, &e) == -1)
		goto fail;
	rc = store_cert_update(d->store, c, e.msg, sizeof(e.msg));
	if (rc != 0)
		e.code = rc == 1 ? WIRE_ABORTED : WIRE_UNAVAILABLE;
	esc_format(msg, sizeof(msg), "certificate %lld: %s key and CSR made, "
	    "label %s, pending", (long long)c->id, c->key_type, c->label);
	if (write_end_event(d, rc == 0, "cert_csr", EVENT_SUBJECT_CERTIFICATE,
	    c->id, c, msg, &e) == -1)
		goto fail;
	log_info("%s", msg);
	EVP_PKEY_free(key);
	issuer_kick(d->issuer);
	job->done(c, NULL, job->arg);
	free(job);
	return;
fail:
	EVP_PKEY_free(key);
	store_cert_free(c);
	job->done(NULL, &e, job->arg);
	free(job);
}

int
cert_csr(struct daemon *d, int64_t id, cert_done_fn *done, void *arg,
    struct cf_err *e)
{
	enum keystore_key_type kt;
	struct store_cert *c;
	struct csr_job *job;
	char err[256];

	if (d->stopping)
		return cf_err_set(e, WIRE_UNAVAILABLE, "the daemon is stopping");
	if ((c = cert_get(d, id, e)) == NULL)
		return -1;
	if (require_draft(c, "its key and CSR exist already", e) == -1) {
		store_cert_free(c);
		return -1;
	}
	if (d->cfg->techzone_name == NULL || d->cfg->techzone_name[0] == '\0') {
		store_cert_free(c);
		return cf_err_set(e, WIRE_FAILED_PRECONDITION, "no tech zone is "
		    "configured: set the techzone-name setting (e.g. "
		    "--techzone-name acme.example.net) so the CSR step can give "
		    "the CNAME target");
	}
	if (need_keys(d, e) == -1 || d->keygen == NULL ||
	    keystore_key_type_parse(c->key_type, &kt) == -1) {
		store_cert_free(c);
		return e->code ? -1 : cf_err_set(e, WIRE_UNAVAILABLE, "key "
		    "generation is not available");
	}
	if (d->cert_jobs == NULL) {
		if ((d->cert_jobs = calloc(1, sizeof(*d->cert_jobs))) == NULL) {
			store_cert_free(c);
			return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED,
			    "out of memory");
		}
		LIST_INIT(&d->cert_jobs->jobs);
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		store_cert_free(c);
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	}
	job->d = d;
	job->id = id;
	memcpy(job->key_type, c->key_type, sizeof(job->key_type));
	job->done = done;
	job->arg = arg;
	store_cert_free(c);
	if ((job->kj = keystore_generate_async(d->keygen, kt, csr_key_cb, job,
	    err, sizeof(err))) == NULL) {
		free(job);
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "cannot generate a "
		    "key now: %s", err);
	}
	LIST_INSERT_HEAD(&d->cert_jobs->jobs, job, entry);
	return 0;
}

void
cert_cancel_all(struct daemon *d)
{
	struct csr_job *job;
	struct cf_err e = { 0 };

	if (d->cert_jobs == NULL)
		return;
	cf_err_set(&e, WIRE_UNAVAILABLE, "the daemon is stopping; the CSR was "
	    "not made (the certificate is still a draft)");
	while ((job = LIST_FIRST(&d->cert_jobs->jobs)) != NULL) {
		LIST_REMOVE(job, entry);
		keystore_job_cancel(job->kj);
		job->done(NULL, &e, job->arg);
		free(job);
	}
	free(d->cert_jobs);
	d->cert_jobs = NULL;
}

/* --- import ------------------------------------------------------------------ */

/* The chain re-encoded as PEM, NULL for none; -1 with e. */
static int
import_chain(const char *text, size_t len, char **out, struct cf_err *e)
{
	STACK_OF(X509) *chain;
	char err[256];
	BIO *bio;
	BUF_MEM *mem;
	int ok = 1;

	*out = NULL;
	if (text == NULL)
		return 0;
	if (x509_chain_from_pem(text, len, &chain, err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "chain: %s", err);
	if (sk_X509_num(chain) == 0) {
		sk_X509_pop_free(chain, X509_free);
		return 0;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		ok = 0;
	for (int i = 0; ok && i < sk_X509_num(chain); i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	if (ok) {
		BIO_get_mem_ptr(bio, &mem);
		if ((*out = malloc(mem->length + 1)) == NULL)
			ok = 0;
		else {
			memcpy(*out, mem->data, mem->length);
			(*out)[mem->length] = '\0';
		}
	}
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	if (!ok)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}

/* The imported certificate's DNS names become domain and aliases. */
static int
import_names(struct store_cert *c, const struct x509_facts *f, struct cf_err *e)
{
	const char **v = calloc(f->nsans + 1, sizeof(*v));
	size_t n = 0;
	int rc;

	if (v == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	if (f->common_name != NULL)
		v[n++] = f->common_name;
	for (size_t i = 0; i < f->nsans; i++) {
		int dup = 0;

		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(v[j], f->sans[i]) == 0;
		if (!dup)
			v[n++] = f->sans[i];
	}
	if (n == 0) {
		free(v);
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "the certificate "
		    "names no subject (no CN and no subject alternative name)");
	}
	for (size_t i = 0; i < n; i++) {
		char qb[96];
		size_t len = strlen(v[i]);

		if (len > 0 && !esc_needs_escape(v[i], len))
			continue;
		cf_err_set(e, WIRE_INVALID_ARGUMENT, len == 0 ? "the "
		    "certificate has an empty name" : "the certificate's name %s "
		    "holds a control or invisible character; a managed "
		    "certificate's names must be shown as they are",
		    quoted(v[i], len, qb, sizeof(qb)));
		free(v);
		return -1;
	}
	rc = set_str(&c->domain, v[0], e) == -1 ||
	    set_aliases(c, v + 1, n - 1, e) == -1 ? -1 : 0;
	free(v);
	return rc;
}

/* Key matches cert; the key's type names the row's key_type. */
static int
import_key(struct store_cert *c, const char *pem,
    size_t len, const struct x509_facts *f, EVP_PKEY **key, struct cf_err *e)
{
	char err[256];
	BIO *bio;
	X509 *x = NULL;
	int kt, match;

	if ((*key = keystore_key_from_pem(pem, len, err, sizeof(err))) == NULL)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "private key: %s",
		    err);
	/* f->pem is our own re-encoding of the one certificate. */
	if ((bio = BIO_new_mem_buf(f->pem, -1)) != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (x == NULL)
		return cf_err_set(e, WIRE_INTERNAL, "cannot read the "
		    "certificate back");
	match = keystore_key_matches_cert(*key, x);
	X509_free(x);
	if (!match)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "%s",
		    KEYSTORE_KEY_MISMATCH);
	if ((kt = keystore_key_type_of(*key)) < 0)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "the key's type is "
		    "not one certfleet keeps (ec256, ec384, rsa2048, rsa3072, "
		    "rsa4096)");
	snprintf(c->key_type, sizeof(c->key_type), "%s",
	    keystore_key_type_name((enum keystore_key_type)kt));
	return 0;
}

static int
import_renewal(struct daemon *d, struct store_cert *c,
    const struct cert_import_params *p, struct cf_err *e)
{
	const struct x509_facts *f = c->facts;
	int64_t lifetime = (f->valid_until - f->valid_from + SECS_PER_DAY) /
	    SECS_PER_DAY;
	const char **names;
	size_t n;
	int rc;

	if (p->renew_days != 0) {
		if (check_renew_days(p->renew_days, lifetime, e) == -1)
			return -1;
		c->renew_days = (int)p->renew_days;
	} else {
		c->renew_days = CERT_RENEW_DAYS_DEFAULT;
		if (c->renew_days > lifetime - 1)
			c->renew_days = lifetime > 3 ? (int)(lifetime / 3) : 1;
	}
	c->next_renewal_at = f->valid_until -
	    (int64_t)c->renew_days * SECS_PER_DAY;
	if (p->email != NULL && *p->email != '\0') {
		if (cert_check_email(p->email, strlen(p->email), e->msg,
		    sizeof(e->msg)) == -1) {
			e->code = WIRE_INVALID_ARGUMENT;
			return -1;
		}
		if (set_str(&c->email, p->email, e) == -1)
			return -1;
	}
	if (p->ca == NULL)
		return 0;
	/* Renewed by certfleet: the names must be ones a CA would issue. */
	if ((names = cert_names(c, &n)) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	rc = cert_check_names(names, n, e->msg, sizeof(e->msg));
	free(names);
	if (rc == -1) {
		e->code = WIRE_INVALID_ARGUMENT;
		return -1;
	}
	if (p->agree_tos != 1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "agree_tos must be "
		    "true to renew through CA profile '%s'", p->ca);
	c->tos_agreed_at = clock_now();
	if (resolve_ca(d, p->ca, c, e) == -1)
		return -1;
	/* Renewed like an issued certificate: it needs its own label for the
	 * _acme-challenge CNAMEs, shown from now on. */
	if (c->label == NULL) {
		char label[CERT_LABEL_LEN + 1];

		random_label(label, sizeof(label));
		if (set_str(&c->label, label, e) == -1)
			return -1;
	}
	return 0;
}

struct store_cert *
cert_import(struct daemon *d, const struct cert_import_params *p,
    struct cf_err *e)
{
	struct store_cert *c;
	EVP_PKEY *key = NULL;
	char err[512], msg[512], *pem = NULL;
	size_t plen = 0;
	int rc;

	if (need_keys(d, e) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory"),
		    NULL;
	if ((c->facts = x509_facts_from_pem(p->cert, p->cert_len, err,
	    sizeof(err))) == NULL) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "%s (%s)", X509_PEM_REFUSAL,
		    err);
		goto fail;
	}
	memcpy(c->source, "import", 7);
	c->created_at = c->updated_at = clock_now();
	snprintf(c->status, sizeof(c->status), "%s",
	    c->created_at > c->facts->valid_until ? "expired" : "active");
	if (import_names(c, c->facts, e) == -1 ||
	    import_key(c, p->key, p->key_len, c->facts, &key, e) == -1 ||
	    import_chain(p->chain, p->chain_len, &c->chain_pem, e) == -1 ||
	    import_renewal(d, c, p, e) == -1)
		goto fail;
	/* The engine renews it at its time, or (without a CA) marks it
	 * expired one second past notAfter. */
	c->next_attempt_at = c->ca_id != 0 ? c->next_renewal_at :
	    c->facts->valid_until + 1;
	/* Our own encoding of the key is sealed, never the pasted text. */
	if (keystore_key_to_pem(key, &pem, &plen, err, sizeof(err)) == -1) {
		cf_err_set(e, WIRE_INTERNAL, "encoding the key: %s", err);
		goto fail;
	}
	if (write_begin(d, e) == -1)
		goto fail;
	rc = store_cert_insert(d->store, c, e->msg, sizeof(e->msg));
	if (rc == 0 && cert_seal(d, pem, plen, "certificates", c->id, "key",
	    &c->key_sealed, &c->key_sealed_len, e) == 0)
		rc = store_cert_update(d->store, c, e->msg, sizeof(e->msg));
	else if (rc == 0)
		rc = -2;
	if (rc == 0)
		rc = expiry_observe(d, EVENT_SUBJECT_CERTIFICATE, c->id, c->facts,
		    e->msg, sizeof(e->msg));
	if (rc == -1 || rc == 1)
		e->code = WIRE_UNAVAILABLE;
	cert_summary(c, "imported", msg, sizeof(msg));
	if (write_end_event(d, rc == 0, "cert_imported",
	    EVENT_SUBJECT_CERTIFICATE, c->id, c, msg, e) == -1)
		goto fail;
	keystore_secret_free(pem, plen);
	EVP_PKEY_free(key);
	log_info("%s (%s, %s)", msg, c->facts->fingerprint_sha256, c->status);
	return c;
fail:
	keystore_secret_free(pem, plen);
	EVP_PKEY_free(key);
	store_cert_free(c);
	return NULL;
}
