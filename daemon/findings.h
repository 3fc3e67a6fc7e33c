/*
 * Audit findings (issue 13): what is wrong or weak about a certificate, as
 * stable codes with a severity and one line, judged from the facts the
 * store keeps.  Pure: the same facts and time give the same findings, so
 * the unit tests pin every rule.  Thresholds follow PITFALLS: the expiring
 * default steps down to a third of the lifetime, long_validity depends on
 * notBefore, and short-lived certificates carry no revocation by design.
 *
 * Computed here so far: expired, expiring, not_yet_valid, self_signed,
 * untrusted_chain, incomplete_chain, hostname_mismatch, weak_key,
 * weak_signature (the leaf's), long_validity, check_failing,
 * renewal_overdue.  Still to come with the issue: key_reuse, revoked,
 * revocation_unknown, old_protocol, intermediates' signatures, storage
 * and events.
 */
#ifndef CERTFLEET_FINDINGS_H
#define CERTFLEET_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

enum finding_severity {
	SEV_INFO = 0,
	SEV_LOW,
	SEV_MEDIUM,
	SEV_HIGH,
	SEV_CRITICAL,
};

#define FINDING_TEXT_MAX	256
#define FINDINGS_MAX		16	/* more than there are codes */

struct finding {
	const char		*code;		/* a literal: "weak_key" */
	enum finding_severity	 severity;
	char			 text[FINDING_TEXT_MAX];	/* escaped, one line */
};

/* The facts findings are drawn from; strings may be NULL. */
struct findings_input {
	int64_t		 valid_from;	/* 0: no certificate known */
	int64_t		 valid_until;
	const char	*subject;	/* DN, RFC 4514 */
	const char	*issuer;
	const char	*public_key;	/* "RSA 2048", "EC P-256" (x509.c) */
	const char	*signature_algorithm;	/* OpenSSL long name */
	int		 chain_valid;	/* -1: not known (not a host) */
	int		 hostname_match;	/* -1: not known */
	const char	*verify_error;
	int		 chain_length;	/* certificates the server sent */
	int		 check_failures;	/* consecutive, host items */
	int		 watch_renewal;	/* its replacement is expected */
	int		 publicly_trusted;	/* chain verified to the system store */
};

/* Days before notAfter that make `expiring`, and `critical` within. */
#define FINDINGS_WARN_DEFAULT		30
#define FINDINGS_CRITICAL_DEFAULT	7
#define FINDINGS_CHECK_FAILING		3	/* checks in a row */

/*
 * Fills out (at most FINDINGS_MAX) worst first; warn_days < 0 means the
 * default, scaled to the lifetime.  Returns how many.
 */
size_t	 findings_compute(const struct findings_input *in, int warn_days,
	    int64_t now, struct finding *out);
const char *finding_severity_name(enum finding_severity s);
/* The longest publicly trusted lifetime in days for a notBefore, 0: none. */
int	 findings_max_validity_days(int64_t not_before);

#endif
