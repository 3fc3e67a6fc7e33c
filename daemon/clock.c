/*
 * Wall clock with a test offset.  The offset can only be set when the daemon
 * runs with its test hooks enabled (see main.c).
 */
#include <stdio.h>
#include <time.h>

#include "clock.h"

static int64_t offset;

int64_t
clock_now(void)
{
	return (int64_t)time(NULL) + offset;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_set_offset(int64_t seconds)
{
	offset = seconds;
}

int64_t
clock_offset(void)
{
	return offset;
}

char *
clock_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}
