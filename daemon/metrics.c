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

static void
put_labels(struct mwriter *w, const struct mlabel *l, size_t nl,
    const char *extra_name, const char *extra_value)
{
	char v[1024];

	if (nl == 0 && extra_name == NULL)
		return;
	evbuffer_add(w->out, "{", 1);
	for (size_t i = 0; i < nl; i++) {
		const char *s = l[i].value != NULL ? l[i].value : "";
		size_t n = strlen(s);

		if (i > 0)
			evbuffer_add(w->out, ",", 1);
		evbuffer_add(w->out, l[i].name, strlen(l[i].name));
		evbuffer_add(w->out, "=\"", 2);
		/* Most values are plain ASCII: written as they are, a scrape of
		 * 100,000 items saves millions of escaping passes. */
		if (plain_ascii(s, n) && n < sizeof(v))
			evbuffer_add(w->out, s, n);
		else
			evbuffer_add(w->out, v, esc_prom_label(v, sizeof(v), s,
			    n));
		evbuffer_add(w->out, "\"", 1);
	}
	if (extra_name != NULL)
		evbuffer_add_printf(w->out, "%s%s=\"%s\"", nl ? "," : "",
		    extra_name, extra_value);
	evbuffer_add(w->out, "}", 1);
}

static void
put_value(struct mwriter *w, double value)
{
	if (isinf(value))
		evbuffer_add_printf(w->out, " %sInf\n", value > 0 ? "+" : "-");
	else if (isnan(value))
		evbuffer_add_printf(w->out, " NaN\n");
	else if (value == (double)(int64_t)value && fabs(value) < 9e15)
		evbuffer_add_printf(w->out, " %lld\n", (long long)value);
	else
		evbuffer_add_printf(w->out, " %.17g\n", value);
}

void
mw_sample(struct mwriter *w, const char *name, const char *suffix,
    const struct mlabel *l, size_t nl, double value)
{
	evbuffer_add_printf(w->out, "%s%s", name, suffix);
	put_labels(w, l, nl, NULL, NULL);
	put_value(w, value);
}

void
mw_counter(struct mwriter *w, const char *name, const struct mlabel *l,
    size_t nl, uint64_t value)
{
	evbuffer_add_printf(w->out, "%s_total", name);
	put_labels(w, l, nl, NULL, NULL);
	evbuffer_add_printf(w->out, " %llu\n", (unsigned long long)value);
}

void
mw_hist(struct mwriter *w, const char *name, const struct mlabel *l,
    size_t nl, const struct hist *h)
{
	uint64_t cum = 0;
	char le[32];

	for (int i = 0; i <= h->nbounds; i++) {
		cum += h->counts[i];
		if (i < h->nbounds && h->bounds[i] == (double)(int64_t)h->bounds[i])
			snprintf(le, sizeof(le), "%lld", (long long)h->bounds[i]);
		else if (i < h->nbounds)
			snprintf(le, sizeof(le), "%g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		evbuffer_add_printf(w->out, "%s_bucket", name);
		put_labels(w, l, nl, "le", le);
		evbuffer_add_printf(w->out, " %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(w->out, "%s_sum", name);
	put_labels(w, l, nl, NULL, NULL);
	put_value(w, h->sum);
	evbuffer_add_printf(w->out, "%s_count", name);
	put_labels(w, l, nl, NULL, NULL);
	evbuffer_add_printf(w->out, " %llu\n", (unsigned long long)h->count);
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
