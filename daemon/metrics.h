/*
 * Counters and histograms that each subsystem owns and updates on its hot
 * path (a few additions, no allocation once a label set is known), and the
 * writer of the Prometheus text format 0.0.4 and OpenMetrics 1.0 that the
 * scrape renders them with.  A leaf: it knows no other daemon module.
 */
#ifndef CERTFLEET_METRICS_H
#define CERTFLEET_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* --- histograms ---------------------------------------------------------- */

#define HIST_BOUNDS_MAX	16

struct hist {
	const double	*bounds;		/* upper bounds, ascending */
	int		 nbounds;
	uint64_t	 counts[HIST_BOUNDS_MAX + 1];	/* per bucket; last: +Inf */
	double		 sum;
	uint64_t	 count;
};

/* Bucket sets shared by the families that measure alike. */
extern const double	 hist_latency_bounds[];	/* 1 ms .. 10 s */
extern const int	 hist_latency_nbounds;
extern const double	 hist_lag_bounds[];	/* 1 ms .. 1 s */
extern const int	 hist_lag_nbounds;

void	 hist_init(struct hist *h, const double *bounds, int nbounds);
void	 hist_observe(struct hist *h, double v);

/* --- labelled counters --------------------------------------------------- */

/*
 * A counter family with up to two label values per series, for small label
 * sets (causes, codes, CA names).  Beyond max series, new label sets are
 * counted under "other", so a stranger's varied answers cannot grow it.
 */
#define MCOUNT_LABEL_MAX	64

struct mcount {
	char		 v1[MCOUNT_LABEL_MAX];
	char		 v2[MCOUNT_LABEL_MAX];
	uint64_t	 n;
	struct hist	*h;		/* mcounters_hist only */
};

struct mcounters {
	struct mcount	*v;
	size_t		 n, cap, max;
	const double	*bounds;	/* for mcounters_hist */
	int		 nbounds;
};

void	 mcounters_init(struct mcounters *c, size_t max);
void	 mcounters_free(struct mcounters *c);
/* v2 may be NULL for a one-label family. */
void	 mcounters_add(struct mcounters *c, const char *v1, const char *v2,
	    uint64_t delta);
/* A histogram per label set (v1 only), e.g. a duration per method. */
void	 mcounters_hist(struct mcounters *c, const char *v1, double v);

/* --- the exposition writer ----------------------------------------------- */

enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct mwriter {
	struct evbuffer	*out;
	int		 openmetrics;
};

/* A label as written; values are escaped by the writer. */
struct mlabel {
	const char	*name;
	const char	*value;
};

#define MW_CONTENT_TYPE_TEXT \
	"text/plain; version=0.0.4; charset=utf-8"
#define MW_CONTENT_TYPE_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Whether an Accept header asks for OpenMetrics. */
int	 mw_wants_openmetrics(const char *accept);

/*
 * HELP and TYPE lines.  name is the family's name; for a counter without
 * "_total" (the writer adds it where each format wants it).
 */
void	 mw_family(struct mwriter *w, const char *name, enum mtype type,
	    const char *help);
/* One sample: name + suffix ("", "_total", "_bucket" ...), labels, value. */
void	 mw_sample(struct mwriter *w, const char *name, const char *suffix,
	    const struct mlabel *l, size_t nl, double value);
void	 mw_counter(struct mwriter *w, const char *name,
	    const struct mlabel *l, size_t nl, uint64_t value);
/* A histogram's _bucket, _sum and _count samples. */
void	 mw_hist(struct mwriter *w, const char *name, const struct mlabel *l,
	    size_t nl, const struct hist *h);
/* A distribution of the present (not since start): a histogram in 0.0.4,
 * a gaugehistogram in OpenMetrics; HELP and TYPE included. */
void	 mw_gauge_hist(struct mwriter *w, const char *name, const char *help,
	    const struct hist *h);
/* Every series of an mcounters family (l1, l2: its label names). */
void	 mw_mcounters(struct mwriter *w, const char *name, const char *help,
	    const struct mcounters *c, const char *l1, const char *l2);
void	 mw_mcounters_hist(struct mwriter *w, const char *name,
	    const char *help, const struct mcounters *c, const char *l1);
/* The end of the exposition ("# EOF" in OpenMetrics). */
void	 mw_end(struct mwriter *w);

#endif
