/*
 * What GET /metrics says: the daemon's own counters (each subsystem's,
 * read through its accessor), aggregates over every certificate, and
 * series per certificate for the first metrics-items of them, read from
 * the store a page at a time, never by probing.  A scrape is a cursor:
 * each step appends one bounded part, so the HTTP side can send it, wait
 * for the reader, and let the loop serve others between parts.
 */
#ifndef CERTFLEET_SCRAPE_H
#define CERTFLEET_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct evbuffer;
struct hist;
struct scrape;

struct scrape	*scrape_new(struct daemon *d, int openmetrics);
/*
 * Appends the next part to out (at most one page of rows).  Returns 1 while
 * more remains, 0 once out holds the end of the document, -1 with err on a
 * store error.
 */
int		 scrape_step(struct scrape *s, struct evbuffer *out, char *err,
		    size_t errlen);
void		 scrape_free(struct scrape *s);

/* How late a periodic timer fires: the loop's lag, for /metrics. */
struct lag_sampler;
struct lag_sampler *lag_sampler_new(struct daemon *d);
const struct hist *lag_sampler_hist(const struct lag_sampler *l);
void		 lag_sampler_free(struct lag_sampler *l);

#endif
