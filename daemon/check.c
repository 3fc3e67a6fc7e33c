/*
 * The check's verdict: pure, so the unit tests pin every state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certfleet/escape.h"
#include "check.h"
#include "clock.h"

#define DAY	86400

static const int ladder[] = { 30, 14, 7, 3, 1 };

int
check_ladder_days(int max, int64_t life)
{
	for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++)
		if (ladder[i] <= max && 3 * (int64_t)ladder[i] * DAY <= life)
			return ladder[i];
	return 0;
}

void
check_thresholds(int warn, int crit, int64_t valid_from, int64_t valid_until,
    int *warn_out, int *crit_out)
{
	int64_t life = valid_until - valid_from + 1;

	*warn_out = warn >= 0 ? warn : check_ladder_days(CHECK_WARN_DEFAULT, life);
	if (crit >= 0) {
		*crit_out = crit;
		/* A default warning never below the critical given. */
		if (warn < 0 && *warn_out < crit)
			*warn_out = crit;
	} else {
		/* Below the warning, or the warning would never show. */
		int max = CHECK_CRIT_DEFAULT;

		if (*warn_out <= max)
			max = *warn_out - 1;
		*crit_out = max > 0 ? check_ladder_days(max, life) : 0;
	}
}

const char *
check_state_name(enum check_state s)
{
	static const char *const names[] = {
		"OK", "WARNING", "CRITICAL", "UNKNOWN",
	};

	return s <= CHECK_UNKNOWN ? names[s] : "UNKNOWN";
}

static void verdict(struct check_verdict *out, enum check_state s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
verdict(struct check_verdict *out, enum check_state s, const char *fmt, ...)
{
	char text[sizeof(out->reason)];
	va_list ap;

	out->state = s;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Names come from certificates: one line, nothing hidden. */
	esc_log(out->reason, sizeof(out->reason), text, strlen(text));
}

/* The checks that fail whatever the dates. */
static int
judge_broken(const struct check_input *in, struct check_verdict *out)
{
	if (in->check_error != NULL) {
		verdict(out, CHECK_CRITICAL, "%s: the last check failed: %s",
		    in->name, in->check_error);
		return 1;
	}
	if (in->chain_valid == 0) {
		verdict(out, CHECK_CRITICAL, "%s: chain not trusted: %s",
		    in->name, in->verify_error ? in->verify_error : "invalid");
		return 1;
	}
	if (in->hostname_match == 0) {
		verdict(out, CHECK_CRITICAL, "%s: the certificate does not "
		    "match the name", in->name);
		return 1;
	}
	return 0;
}

void
check_judge(const struct check_input *in, int warn, int crit, int64_t now,
    struct check_verdict *out)
{
	char date[40], left[64], line[sizeof(out->reason)];
	int64_t secs;

	struct check_input named;

	memset(out, 0, sizeof(*out));
	if (in->name == NULL) {
		named = *in;
		named.name = "certificate";
		in = &named;
	}
	if (in->valid_until == 0) {
		if (in->check_error != NULL)
			verdict(out, CHECK_CRITICAL, "%s: no certificate: %s",
			    in->name, in->check_error);
		else
			verdict(out, CHECK_UNKNOWN, "%s: no certificate yet",
			    in->name);
		return;
	}
	check_thresholds(warn, crit, in->valid_from, in->valid_until,
	    &out->warn, &out->crit);
	secs = in->valid_until - now;
	/* Floor, so "0 days" means less than one day left. */
	out->days_left = secs >= 0 ? secs / DAY : -((-secs + DAY - 1) / DAY);
	clock_rfc3339(in->valid_until, date, sizeof(date));
	date[10] = '\0';
	if (secs < 0) {
		/* Whole days since notAfter: never more than it has been. */
		int64_t ago = -secs / DAY;

		if (ago == 0)
			verdict(out, CHECK_CRITICAL, "%s expired less than a "
			    "day ago", in->name);
		else
			verdict(out, CHECK_CRITICAL, "%s expired %lld day%s ago",
			    in->name, (long long)ago, ago == 1 ? "" : "s");
		/* Cut on a character if the name filled the line. */
		esc_format(line, sizeof(line), "%s (%s)", out->reason, date);
		memcpy(out->reason, line, sizeof(line));
		return;
	}
	if (judge_broken(in, out))
		return;
	snprintf(left, sizeof(left), "%lld day%s (%s)",
	    (long long)out->days_left, out->days_left == 1 ? "" : "s", date);
	if (secs < (int64_t)out->crit * DAY)
		verdict(out, CHECK_CRITICAL, "%s expires in %s", in->name, left);
	else if (secs < (int64_t)out->warn * DAY)
		verdict(out, CHECK_WARNING, "%s expires in %s", in->name, left);
	else if (in->managed && in->status != NULL &&
	    strcmp(in->status, "error") == 0)
		verdict(out, CHECK_WARNING, "%s: renewal failing: %s", in->name,
		    in->last_error ? in->last_error : "see cert show");
	else if (in->watch_renewal && now >= in->valid_from +
	    (in->valid_until - in->valid_from + 1) * 2 / 3 &&
	    (!in->managed || in->next_renewal_at == 0 ||
	    now >= in->next_renewal_at))
		verdict(out, CHECK_WARNING, "%s: renewal overdue, expires in %s",
		    in->name, left);
	else
		verdict(out, CHECK_OK, "%s expires in %s", in->name, left);
}
