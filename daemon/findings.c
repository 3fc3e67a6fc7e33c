/*
 * Audit findings from stored facts: one small rule per code, each adding
 * at most one finding; then worst first.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/escape.h"
#include "check.h"
#include "findings.h"

#define DAY	86400

/* CA/Browser Forum SC-081v3: the longest publicly trusted lifetimes. */
static const struct {
	int64_t	 until;		/* notBefore before this */
	int	 days;
} validity_caps[] = {
	{ 1773532800, 398 },	/* 2026-03-15 */
	{ 1805068800, 200 },	/* 2027-03-15 */
	{ 1868227200, 100 },	/* 2029-03-15 */
	{ INT64_MAX, 47 },
};

struct acc {
	struct finding	*out;
	size_t		 n;
};

static void add(struct acc *a, const char *code, enum finding_severity sev,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
add(struct acc *a, const char *code, enum finding_severity sev,
    const char *fmt, ...)
{
	struct finding *f;
	char text[FINDING_TEXT_MAX];
	va_list ap;

	if (a->n == FINDINGS_MAX)
		return;
	f = &a->out[a->n++];
	f->code = code;
	f->severity = sev;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Reasons quote strangers (a verify error, an algorithm's OID). */
	esc_log(f->text, sizeof(f->text), text, strlen(text));
}

const char *
finding_severity_name(enum finding_severity s)
{
	static const char *const names[] = {
		"info", "low", "medium", "high", "critical",
	};

	return s <= SEV_CRITICAL ? names[s] : "info";
}

int
findings_max_validity_days(int64_t not_before)
{
	for (size_t i = 0; i < sizeof(validity_caps) / sizeof(validity_caps[0]);
	    i++)
		if (not_before < validity_caps[i].until)
			return validity_caps[i].days;
	return 0;
}

static void
rule_dates(const struct findings_input *in, int warn_days, int64_t now,
    struct acc *a)
{
	int64_t life = in->valid_until - in->valid_from + 1, left;
	int warn, crit;

	if (now < in->valid_from) {
		add(a, "not_yet_valid", SEV_HIGH, "not valid for another %lld "
		    "hours", (long long)((in->valid_from - now) / 3600 + 1));
		return;
	}
	left = in->valid_until - now;
	if (left < 0) {
		add(a, "expired", SEV_CRITICAL, "expired %lld days ago",
		    (long long)(-left / DAY));
		return;
	}
	warn = warn_days >= 0 ? warn_days :
	    check_ladder_days(FINDINGS_WARN_DEFAULT, life);
	crit = check_ladder_days(FINDINGS_CRITICAL_DEFAULT < warn ?
	    FINDINGS_CRITICAL_DEFAULT : warn - 1, life);
	if (left < (int64_t)crit * DAY)
		add(a, "expiring", SEV_CRITICAL, "expires in %lld days (under "
		    "%d)", (long long)(left / DAY), crit);
	else if (left < (int64_t)warn * DAY)
		add(a, "expiring", SEV_HIGH, "expires in %lld days (under %d)",
		    (long long)(left / DAY), warn);
	/* Apart from the days left: its automation has stopped. */
	if (in->watch_renewal && now >= in->valid_from + life * 2 / 3)
		add(a, "renewal_overdue", SEV_MEDIUM, "two thirds of its %lld "
		    "days gone and still in use", (long long)(life / DAY));
}

static void
rule_chain(const struct findings_input *in, struct acc *a)
{
	const char *why = in->verify_error != NULL && in->verify_error[0] ?
	    in->verify_error : "not trusted";

	if (in->subject != NULL && in->issuer != NULL &&
	    strcmp(in->subject, in->issuer) == 0)
		add(a, "self_signed", SEV_HIGH, "issued by itself (%s)",
		    in->subject);
	if (in->chain_valid != 0)
		return;
	/* Only the leaf sent and its issuer unknown: an omitted
	 * intermediate, which browsers may fetch and other clients not. */
	if (in->chain_length == 1 && strstr(why, "local issuer") != NULL)
		add(a, "incomplete_chain", SEV_HIGH, "the server sends no "
		    "intermediate: %s", why);
	else
		add(a, "untrusted_chain", SEV_HIGH, "chain not trusted: %s",
		    why);
}

/* Bits of a key as x509.c names it ("RSA 2048", "EC P-256"); 0: unknown. */
static int
key_bits(const char *name, int *rsa_like)
{
	const char *p;

	*rsa_like = 0;
	if (name == NULL)
		return 0;
	if (strncmp(name, "RSA", 3) == 0 || strncmp(name, "DSA", 3) == 0) {
		*rsa_like = 1;
		p = strrchr(name, ' ');
		return p != NULL ? atoi(p + 1) : 0;
	}
	if (strncmp(name, "EC ", 3) == 0) {
		/* NIST names carry the size ("P-256"); secp names too. */
		for (p = name + 3; *p && !isdigit((unsigned char)*p); p++)
			;
		return atoi(p);
	}
	return 0;
}

static void
rule_crypto(const struct findings_input *in, struct acc *a)
{
	int rsa_like, bits = key_bits(in->public_key, &rsa_like);
	char sig[128];

	if (bits > 0 && ((rsa_like && bits < 2048) || (!rsa_like && bits < 256)))
		add(a, "weak_key", SEV_HIGH, "%s key (at least %s)",
		    in->public_key, rsa_like ? "2048 bits" : "256 bits");
	if (in->signature_algorithm == NULL)
		return;
	snprintf(sig, sizeof(sig), "%s", in->signature_algorithm);
	for (char *p = sig; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strstr(sig, "sha1") != NULL || strstr(sig, "md5") != NULL ||
	    strstr(sig, "md2") != NULL || strstr(sig, "md4") != NULL)
		add(a, "weak_signature", SEV_HIGH, "signed with %s",
		    in->signature_algorithm);
}

static void
rule_validity(const struct findings_input *in, struct acc *a)
{
	int64_t days = (in->valid_until - in->valid_from + 1) / DAY;
	int cap = findings_max_validity_days(in->valid_from);

	if (in->publicly_trusted && cap > 0 && days > cap)
		add(a, "long_validity", SEV_MEDIUM, "valid %lld days; a publicly "
		    "trusted certificate issued then may last %d", (long long)days,
		    cap);
}

static int
by_severity(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;

	if (a->severity != b->severity)
		return (int)b->severity - (int)a->severity;
	return strcmp(a->code, b->code);
}

size_t
findings_compute(const struct findings_input *in, int warn_days, int64_t now,
    struct finding *out)
{
	struct acc a = { .out = out, .n = 0 };

	if (in->check_failures >= FINDINGS_CHECK_FAILING)
		add(&a, "check_failing", SEV_HIGH, "no answer for the last %d "
		    "checks", in->check_failures);
	if (in->valid_until == 0)
		return a.n;
	rule_dates(in, warn_days, now, &a);
	rule_chain(in, &a);
	if (in->hostname_match == 0)
		add(&a, "hostname_mismatch", SEV_HIGH, "the certificate does "
		    "not match the name it is served for");
	rule_crypto(in, &a);
	rule_validity(in, &a);
	qsort(out, a.n, sizeof(*out), by_severity);
	return a.n;
}
