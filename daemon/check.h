/*
 * The monitoring check (Check.Run, `certfleet check`): one certificate, a
 * host probed afresh (nothing saved), or the whole fleet, judged as the
 * Monitoring Plugins judge: OK, WARNING, CRITICAL, UNKNOWN.  Day thresholds
 * the user gave are used as given; the defaults (30 and 14) step down the
 * ladder 30, 14, 7, 3, 1 to a third of the lifetime (PITFALLS), so a 6-day
 * certificate warns at 1 day and is critical only once expired.
 */
#ifndef CERTFLEET_CHECK_H
#define CERTFLEET_CHECK_H

#include <stddef.h>
#include <stdint.h>

enum check_state {
	CHECK_OK = 0,
	CHECK_WARNING = 1,
	CHECK_CRITICAL = 2,
	CHECK_UNKNOWN = 3,
};

#define CHECK_WARN_DEFAULT	30
#define CHECK_CRIT_DEFAULT	14

/* What a verdict is drawn from; strings may be NULL. */
struct check_input {
	const char	*name;		/* what the status line names */
	int		 managed;	/* a managed certificate */
	int		 watch_renewal;	/* its replacement is expected */
	int64_t		 valid_from;	/* 0: no certificate known */
	int64_t		 valid_until;
	int		 chain_valid;	/* -1: not known */
	int		 hostname_match;
	const char	*verify_error;
	const char	*check_error;	/* the last check failed: why */
	const char	*status;	/* managed: its status */
	const char	*last_error;	/* managed: why issuing failed */
	int64_t		 next_renewal_at;	/* managed; 0: none */
};

struct check_verdict {
	enum check_state state;
	char		 reason[512];	/* "expires in 63 days (2027-02-08)" */
	int64_t		 days_left;	/* floor; negative once expired */
	int		 warn, crit;	/* the thresholds used; 0: none */
};

/*
 * Pure.  warn and crit are days, -1 for the defaults (scaled to the
 * lifetime).  Fills out.
 */
void	 check_judge(const struct check_input *in, int warn, int crit,
	    int64_t now, struct check_verdict *out);
/* The thresholds used for a certificate valid from..until. */
void	 check_thresholds(int warn, int crit, int64_t valid_from,
	    int64_t valid_until, int *warn_out, int *crit_out);
const char *check_state_name(enum check_state s);
/* The largest of 30, 14, 7, 3, 1 days that is at most max and at most a
 * third of life (seconds): a default threshold scaled (PITFALLS). 0: none. */
int	 check_ladder_days(int max, int64_t life);

#endif
