/*
 * The daemon's idea of now.  Everything that compares against the wall clock
 * asks here, so tests can move time with a hook instead of sleeping.
 */
#ifndef CERTFLEET_CLOCK_H
#define CERTFLEET_CLOCK_H

#include <stdint.h>
#include <stddef.h>

int64_t	 clock_now(void);			/* UTC seconds */
int64_t	 clock_mono_ms(void);			/* a steady clock, for durations */
void	 clock_set_offset(int64_t seconds);	/* test hook only */
int64_t	 clock_offset(void);

/* Formats t as RFC 3339 UTC with a Z suffix into buf (>= 21 bytes). */
char	*clock_rfc3339(int64_t t, char *buf, size_t len);

#endif
