/*
 * Counters, histograms and the exposition formats.  Label values come from
 * strangers (a certificate's CN, a CA's problem type): every one is written
 * through esc_prom_label, and no metric or label name is ever taken from
 * data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "certfleet/escape.h"
#include "metrics.h"

const double hist_latency_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const int hist_latency_nbounds =
    sizeof(hist_latency_bounds) / sizeof(hist_latency_bounds[0]);

const double hist_lag_bounds[] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1,
};
const int hist_lag_nbounds =
    sizeof(hist_lag_bounds) / sizeof(hist_lag_bounds[0]);

void
hist_init(struct hist *h, const double *bounds, int nbounds)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = nbounds > HIST_BOUNDS_MAX ? HIST_BOUNDS_MAX : nbounds;
}

void
hist_observe(struct hist *h, double v)
{
	int i = 0;

	if (isnan(v))
		return;
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

/* --- labelled counters --------------------------------------------------- */

void
mcounters_init(struct mcounters *c, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->max = max;
	c->bounds = hist_latency_bounds;
	c->nbounds = hist_latency_nbounds;
}

void
mcounters_free(struct mcounters *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].h);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static struct mcount *
mcounters_get(struct mcounters *c, const char *v1, const char *v2)
{
	struct mcount *m;

	if (v1 == NULL)
		v1 = "";
	if (v2 == NULL)
		v2 = "";
	for (size_t i = 0; i < c->n; i++)
		if (strncmp(c->v[i].v1, v1, MCOUNT_LABEL_MAX - 1) == 0 &&
		    strncmp(c->v[i].v2, v2, MCOUNT_LABEL_MAX - 1) == 0)
			return &c->v[i];
	/* The last slot is kept for "other": beyond max series, new label
	 * sets share it, so the counts still add up. */
	if (c->n + 1 >= c->max &&
	    !(strcmp(v1, "other") == 0 && strcmp(v2, "other") == 0))
		return mcounters_get(c, "other", "other");
	if (c->n >= c->max)
		return NULL;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct mcount *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	m = &c->v[c->n++];
	memset(m, 0, sizeof(*m));
	/* Cut on a character: the value is written as UTF-8 later. */
	memcpy(m->v1, v1, esc_utf8_prefix(v1, strlen(v1), MCOUNT_LABEL_MAX - 1));
	memcpy(m->v2, v2, esc_utf8_prefix(v2, strlen(v2), MCOUNT_LABEL_MAX - 1));
	return m;
}

void
mcounters_add(struct mcounters *c, const char *v1, const char *v2,
    uint64_t delta)
{
	struct mcount *m = mcounters_get(c, v1, v2);

	if (m != NULL)
		m->n += delta;
}

void
mcounters_hist(struct mcounters *c, const char *v1, double v)
{
	struct mcount *m = mcounters_get(c, v1, NULL);

	if (m == NULL)
		return;
	if (m->h == NULL) {
		if ((m->h = malloc(sizeof(*m->h))) == NULL)
			return;
		hist_init(m->h, c->bounds, c->nbounds);
	}
	hist_observe(m->h, v);
	m->n++;
}

/* --- writer -------------------------------------------------------------- */

int
mw_wants_openmetrics(const char *accept)
{
	return accept != NULL &&
	    strstr(accept, "application/openmetrics-text") != NULL;
}

static const char *
type_name(enum mtype t)
{
	return t == MT_COUNTER ? "counter" : t == MT_GAUGE ? "gauge" :
	    "histogram";
}

void
mw_family(struct mwriter *w, const char *name, enum mtype type,
    const char *help)
{
	/* 0.0.4 names a counter family with its _total; OpenMetrics without. */
	const char *sfx = type == MT_COUNTER && !w->openmetrics ? "_total" : "";

	evbuffer_add_printf(w->out, "# HELP %s%s %s\n# TYPE %s%s %s\n", name,
	    sfx, help, name, sfx, type_name(type));
}

/* Printable ASCII with neither '\\' nor '"': the same after escaping. */
static int
plain_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' || s[i] == '"')
			return 0;
	return 1;
}

/*
 * One sample line built in memory and added to the output at once: at
 * 100,000 items a scrape writes ~800,000 of them, and per-piece evbuffer
 * calls and printf were most of its CPU.  Sized for the longest line: every
 * label value is at most LABEL_MAX bytes escaped.
 */
#define LABEL_MAX	1024
#define LINE_MAX	(16 * 1024)

struct line {
	char	 b[LINE_MAX];
	size_t	 n;
};

static void
line_put(struct line *ln, const char *s, size_t n)
{
	if (n > LINE_MAX - ln->n)
		n = LINE_MAX - ln->n;	/* cannot happen with <= 8 labels */
	memcpy(ln->b + ln->n, s, n);
	ln->n += n;
}

static void
line_labels(struct line *ln, const struct mlabel *l, size_t nl,
    const char *extra_name, const char *extra_value)
{
	if (nl == 0 && extra_name == NULL)
		return;
	line_put(ln, "{", 1);
	for (size_t i = 0; i < nl; i++) {
		const char *s = l[i].value != NULL ? l[i].value : "";
		size_t n = strlen(s);

		if (i > 0)
			line_put(ln, ",", 1);
		line_put(ln, l[i].name, strlen(l[i].name));
		line_put(ln, "=\"", 2);
		/* Most values are plain ASCII: copied as they are. */
		if (plain_ascii(s, n) && n < LABEL_MAX)
			line_put(ln, s, n);
		else if (LINE_MAX - ln->n > LABEL_MAX)
			ln->n += esc_prom_label(ln->b + ln->n, LABEL_MAX, s, n);
		line_put(ln, "\"", 1);
	}
	if (extra_name != NULL) {
		if (nl > 0)
			line_put(ln, ",", 1);
		line_put(ln, extra_name, strlen(extra_name));
		line_put(ln, "=\"", 2);
		line_put(ln, extra_value, strlen(extra_value));
		line_put(ln, "\"", 1);
	}
	line_put(ln, "}", 1);
}

static void
line_value(struct line *ln, double value)
{
	char num[40];
	int n;

	if (isinf(value))
		n = snprintf(num, sizeof(num), " %sInf\n", value > 0 ? "+" : "-");
	else if (isnan(value))
		n = snprintf(num, sizeof(num), " NaN\n");
	else if (fabs(value) < 9e15 && value == (double)(int64_t)value) {
		/* Integers (timestamps, 0/1, counts): by hand, not printf. */
		int64_t v = (int64_t)value;
		uint64_t u = v < 0 ? (uint64_t)-v : (uint64_t)v;
		char *p = num + sizeof(num);

		*--p = '\n';
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u != 0);
		if (v < 0)
			*--p = '-';
		*--p = ' ';
		line_put(ln, p, (size_t)(num + sizeof(num) - p));
		return;
	} else
		n = snprintf(num, sizeof(num), " %.17g\n", value);
	line_put(ln, num, (size_t)n);
}

static void
put_line(struct mwriter *w, const char *name, const char *suffix,
    const struct mlabel *l, size_t nl, const char *extra_name,
    const char *extra_value, double value)
{
	struct line ln;

	ln.n = 0;
	line_put(&ln, name, strlen(name));
	line_put(&ln, suffix, strlen(suffix));
	line_labels(&ln, l, nl, extra_name, extra_value);
	line_value(&ln, value);
	evbuffer_add(w->out, ln.b, ln.n);
}

void
mw_sample(struct mwriter *w, const char *name, const char *suffix,
    const struct mlabel *l, size_t nl, double value)
{
	put_line(w, name, suffix, l, nl, NULL, NULL, value);
}

void
mw_counter(struct mwriter *w, const char *name, const struct mlabel *l,
    size_t nl, uint64_t value)
{
	put_line(w, name, "_total", l, nl, NULL, NULL, (double)value);
}

static void
put_buckets(struct mwriter *w, const char *name, const struct mlabel *l,
    size_t nl, const struct hist *h)
{
	uint64_t cum = 0;
	char le[32];

	for (int i = 0; i <= h->nbounds; i++) {
		cum += h->counts[i];
		/* OpenMetrics wants canonical numbers ("1.0"); 0.0.4 readers
		 * take "1" as well, as Prometheus before 3.0 writes it. */
		if (i < h->nbounds && h->bounds[i] == (double)(int64_t)h->bounds[i])
			snprintf(le, sizeof(le), "%lld%s", (long long)h->bounds[i],
			    w->openmetrics ? ".0" : "");
		else if (i < h->nbounds)
			snprintf(le, sizeof(le), "%g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_line(w, name, "_bucket", l, nl, "le", le, (double)cum);
	}
}

void
mw_hist(struct mwriter *w, const char *name, const struct mlabel *l,
    size_t nl, const struct hist *h)
{
	put_buckets(w, name, l, nl, h);
	put_line(w, name, "_sum", l, nl, NULL, NULL, h->sum);
	put_line(w, name, "_count", l, nl, NULL, NULL, (double)h->count);
}

void
mw_gauge_hist(struct mwriter *w, const char *name, const char *help,
    const struct hist *h)
{
	if (!w->openmetrics) {
		mw_family(w, name, MT_HISTOGRAM, help);
		mw_hist(w, name, NULL, 0, h);
		return;
	}
	/* A distribution now, not a count since start: OpenMetrics' gauge
	 * histogram, whose _gsum may not be negative (expired ones are):
	 * left out. */
	evbuffer_add_printf(w->out, "# HELP %s %s\n# TYPE %s gaugehistogram\n",
	    name, help, name);
	put_buckets(w, name, NULL, 0, h);
	put_line(w, name, "_gcount", NULL, 0, NULL, NULL, (double)h->count);
}

void
mw_mcounters(struct mwriter *w, const char *name, const char *help,
    const struct mcounters *c, const char *l1, const char *l2)
{
	mw_family(w, name, MT_COUNTER, help);
	for (size_t i = 0; i < c->n; i++) {
		struct mlabel l[2] = {
			{ l1, c->v[i].v1 }, { l2, c->v[i].v2 },
		};

		mw_counter(w, name, l, l2 != NULL ? 2 : 1, c->v[i].n);
	}
}

void
mw_mcounters_hist(struct mwriter *w, const char *name, const char *help,
    const struct mcounters *c, const char *l1)
{
	mw_family(w, name, MT_HISTOGRAM, help);
	for (size_t i = 0; i < c->n; i++) {
		struct mlabel l = { l1, c->v[i].v1 };

		if (c->v[i].h != NULL)
			mw_hist(w, name, &l, 1, c->v[i].h);
	}
}

void
mw_end(struct mwriter *w)
{
	if (w->openmetrics)
		evbuffer_add(w->out, "# EOF\n", 6);
}
