/*
 * The /metrics document.  Order: aggregates need every certificate, so a
 * scrape first walks them all a page at a time (no output), then writes the
 * daemon's families and the aggregates, then each per-item family in its
 * own pass over the first metrics-items certificates (managed first, then
 * tracked, in id order), because the format wants a family's samples
 * together.  Each step reads one page, so the loop never stalls for a
 * million items and a slow reader paces the walk.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "expiry.h"
#include "findings.h"
#include "issue.h"
#include "metrics.h"
#include "notify.h"
#include "probe.h"
#include "rpc.h"
#include "scrape.h"
#include "store.h"
#include "store_metrics.h"
#include "techzone.h"

#define SCRAPE_PAGE		500	/* rows per step, writing series */
#define SCRAPE_COUNT_PAGE	2000	/* rows per step, counting */

enum item_state { IS_OK, IS_EXPIRING, IS_EXPIRED, IS_INVALID, IS_FAILED,
    IS_COUNT };
static const char *const state_names[IS_COUNT] = {
	"ok", "expiring", "expired", "invalid", "failed",
};
static const char *const source_names[] = { "host", "pem", "managed" };

/* Days in seconds (base units): 0, 1, 3, 7, 14, 30, 60, 90 days. */
static const double left_bounds[] = {
	0, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400,
	90 * 86400,
};
static const int within_days[] = { 7, 14, 30 };
#define NWITHIN	(sizeof(within_days) / sizeof(within_days[0]))

struct aggregates {
	uint64_t	 states[3][IS_COUNT];	/* [source][state] */
	struct mcounters findings;		/* {code, severity} */
	uint64_t	 within[NWITHIN];
	uint64_t	 items;			/* every certificate-holding row */
	struct hist	 left;			/* seconds to notAfter */
};

enum scrape_state {
	SC_COUNT,		/* aggregates over every item, no output */
	SC_DAEMON,		/* the daemon's families and the aggregates */
	SC_ITEMS,		/* one per-item family per pass */
	SC_DEPLOYS,		/* one deploy family per pass */
	SC_END,
	SC_DONE,
};

struct scrape;
typedef void	 item_writer(struct scrape *s, const struct store_metric_item *it);

struct item_family {
	const char	*name;
	enum mtype	 type;
	const char	*help;
	int		 managed_only;
	item_writer	*write;
};

struct scrape {
	struct daemon		*d;
	struct mwriter		 w;
	enum scrape_state	 state;
	size_t			 family;	/* in item_families / deploy */
	int			 managed;	/* walking managed (else tracked) */
	int64_t			 after;		/* the last id read */
	int64_t			 emitted;	/* items walked in this pass */
	int64_t			 limit;		/* metrics-items */
	int64_t			 now;
	struct aggregates	 agg;
};

/* --- per-item series ----------------------------------------------------- */

/* The labels that say which certificate a series is about. */
static void
item_sample(struct scrape *s, const char *name, const struct
    store_metric_item *it, double v)
{
	char id[24], port[8];
	struct mlabel l[8] = {
		{ "id", id }, { "source", source_names[it->source] },
		{ "host", it->host }, { "port", port }, { "sni", it->sni },
		{ "cn", it->cn }, { "issuer", it->issuer },
		{ "serial", it->serial },
	};

	snprintf(id, sizeof(id), "%lld", (long long)it->id);
	if (it->source == MS_HOST)
		snprintf(port, sizeof(port), "%d", it->port);
	else
		port[0] = '\0';
	mw_sample(&s->w, name, "", l, 8, v);
}

static void
w_not_after(struct scrape *s, const struct store_metric_item *it)
{
	if (it->valid_until != 0)
		item_sample(s, "certfleet_cert_not_after_timestamp_seconds", it,
		    (double)it->valid_until);
}

static void
w_not_before(struct scrape *s, const struct store_metric_item *it)
{
	if (it->valid_until != 0)
		item_sample(s, "certfleet_cert_not_before_timestamp_seconds",
		    it, (double)it->valid_from);
}

static void
w_chain_valid(struct scrape *s, const struct store_metric_item *it)
{
	if (it->source == MS_HOST && it->active && it->chain_valid != -1)
		item_sample(s, "certfleet_cert_chain_valid", it,
		    it->chain_valid);
}

static void
w_hostname_match(struct scrape *s, const struct store_metric_item *it)
{
	if (it->source == MS_HOST && it->active && it->hostname_match != -1)
		item_sample(s, "certfleet_cert_hostname_match", it,
		    it->hostname_match);
}

static void
w_check_success(struct scrape *s, const struct store_metric_item *it)
{
	if (it->source == MS_HOST && it->active && it->checked_at != 0)
		item_sample(s, "certfleet_check_success", it,
		    it->check_failures == 0);
}

static void
w_check_time(struct scrape *s, const struct store_metric_item *it)
{
	if (it->source == MS_HOST && it->active && it->checked_at != 0)
		item_sample(s, "certfleet_check_timestamp_seconds", it,
		    (double)it->checked_at);
}

/*
 * Overdue: two thirds of the life gone and still the certificate in use,
 * for those whose replacement is expected (PITFALLS: what users ask for
 * instead of fixed days); a managed one also past its planned renewal.
 */
static int
renewal_overdue(const struct store_metric_item *it, int64_t now)
{
	int64_t life = it->valid_until - it->valid_from + 1;

	if (it->source == MS_PEM || it->valid_until == 0 || now > it->valid_until)
		return 0;
	if (it->source == MS_MANAGED && it->next_renewal_at != 0 &&
	    now < it->next_renewal_at)
		return 0;
	return now >= it->valid_from + life * 2 / 3;
}

static void
w_overdue(struct scrape *s, const struct store_metric_item *it)
{
	if (it->source != MS_PEM && it->valid_until != 0)
		item_sample(s, "certfleet_cert_renewal_overdue", it,
		    renewal_overdue(it, s->now));
}

static void
managed_sample(struct scrape *s, const char *name,
    const struct store_metric_item *it, const char *status, double v)
{
	char id[24];
	struct mlabel l[3] = {
		{ "id", id }, { "cn", it->cn }, { "status", status },
	};

	snprintf(id, sizeof(id), "%lld", (long long)it->id);
	mw_sample(&s->w, name, "", l, status != NULL ? 3 : 2, v);
}

static void
w_managed_status(struct scrape *s, const struct store_metric_item *it)
{
	static const char *const statuses[] = {
		"draft", "pending", "active", "expired", "error", "revoked",
	};

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		managed_sample(s, "certfleet_managed_cert_status", it,
		    statuses[i], it->status != NULL &&
		    strcmp(it->status, statuses[i]) == 0);
}

static void
w_managed_failures(struct scrape *s, const struct store_metric_item *it)
{
	managed_sample(s, "certfleet_managed_cert_failures", it, NULL,
	    it->failures);
}

/*
 * A deactivated host item is no longer checked: its last check's verdicts
 * (chain, name, success) are left out, or an alert would page for a host
 * the operator switched off; its certificate's dates stay.
 */
static const struct item_family item_families[] = {
	{ "certfleet_cert_not_after_timestamp_seconds", MT_GAUGE,
	  "The certificate's notAfter, in Unix seconds.", 0, w_not_after },
	{ "certfleet_cert_not_before_timestamp_seconds", MT_GAUGE,
	  "The certificate's notBefore, in Unix seconds.", 0, w_not_before },
	{ "certfleet_cert_chain_valid", MT_GAUGE,
	  "1 when the host's chain verified at its last check.", 0,
	  w_chain_valid },
	{ "certfleet_cert_hostname_match", MT_GAUGE,
	  "1 when the host's certificate matched its name at its last check.",
	  0, w_hostname_match },
	{ "certfleet_check_success", MT_GAUGE,
	  "1 when the host's last check got a certificate.", 0,
	  w_check_success },
	{ "certfleet_check_timestamp_seconds", MT_GAUGE,
	  "When the host was last checked, in Unix seconds.", 0,
	  w_check_time },
	{ "certfleet_cert_renewal_overdue", MT_GAUGE,
	  "1 when two thirds of the certificate's life are gone and it is "
	  "still the one in use.", 0, w_overdue },
	{ "certfleet_managed_cert_status", MT_GAUGE,
	  "A managed certificate's status: 1 for the current one.", 1,
	  w_managed_status },
	{ "certfleet_managed_cert_failures", MT_GAUGE,
	  "A managed certificate's consecutive failed issuing attempts.", 1,
	  w_managed_failures },
};
#define NITEM_FAMILIES	(sizeof(item_families) / sizeof(item_families[0]))

/* --- aggregates ---------------------------------------------------------- */

/* PITFALLS: a default of T days applies only to lifetimes of 3 T or more. */
static int
days_apply(int days, const struct store_metric_item *it)
{
	return 3 * (int64_t)days * EXPIRY_DAY <=
	    it->valid_until - it->valid_from + 1;
}

static enum item_state
item_state(const struct scrape *s, const struct store_metric_item *it)
{
	int thresholds[CONFIG_DAYS_MAX];
	size_t n;

	if ((it->source == MS_HOST && it->active &&
	    it->check_failures > 0) ||
	    (it->source == MS_MANAGED && it->status != NULL &&
	    strcmp(it->status, "error") == 0))
		return IS_FAILED;
	if (s->now > it->valid_until)
		return IS_EXPIRED;
	if (it->active && (it->chain_valid == 0 || it->hostname_match == 0))
		return IS_INVALID;
	n = expiry_thresholds(&s->d->cfg->warn_days, it->valid_from,
	    it->valid_until, thresholds);
	if (n > 0 && it->valid_until - s->now < thresholds[0] * EXPIRY_DAY)
		return IS_EXPIRING;
	return IS_OK;
}

/* The audit's findings, counted by code and severity over the fleet. */
static void
count_findings(struct scrape *s, const struct store_metric_item *it)
{
	struct finding f[FINDINGS_MAX];
	struct findings_input in = {
		.valid_from = it->valid_from, .valid_until = it->valid_until,
		.subject = it->subject_dn, .issuer = it->issuer_dn,
		.public_key = it->public_key,
		.signature_algorithm = it->signature_algorithm,
		.chain_valid = it->active ? it->chain_valid : -1,
		.hostname_match = it->active ? it->hostname_match : -1,
		.verify_error = it->verify_error,
		.chain_length = it->chain_length,
		.check_failures = it->active ? it->check_failures : 0,
		.watch_renewal = it->source != MS_PEM,
		/* Verified against the system store: a public CA's. */
		.publicly_trusted = it->source == MS_HOST && it->active &&
		    it->chain_valid == 1 && s->d->cfg->ca_file == NULL,
	};
	size_t n = findings_compute(&in, -1, s->now, f);

	for (size_t i = 0; i < n; i++)
		mcounters_add(&s->agg.findings, f[i].code,
		    finding_severity_name(f[i].severity), 1);
}

static void
count_item(const struct store_metric_item *it, void *arg)
{
	struct scrape *s = arg;
	struct aggregates *a = &s->agg;
	int64_t left;

	s->after = it->id;
	a->items++;
	if (it->valid_until == 0) {
		/* No certificate yet: only a failure is worth counting. */
		if ((it->source == MS_HOST && it->active &&
		    it->check_failures > 0) ||
		    (it->status != NULL && strcmp(it->status, "error") == 0))
			a->states[it->source][IS_FAILED]++;
		return;
	}
	a->states[it->source][item_state(s, it)]++;
	count_findings(s, it);
	left = it->valid_until - s->now;
	hist_observe(&a->left, (double)left);
	for (size_t i = 0; i < NWITHIN; i++)
		if (left > 0 && left <= within_days[i] * EXPIRY_DAY &&
		    days_apply(within_days[i], it))
			a->within[i]++;
}

static void
write_aggregates(struct scrape *s)
{
	struct mwriter *w = &s->w;
	struct aggregates *a = &s->agg;
	int64_t omitted = (int64_t)a->items - s->limit;

	mw_family(w, "certfleet_certificates", MT_GAUGE,
	    "Certificates by source and state (expiring: within the largest "
	    "warn-days threshold that fits the lifetime).");
	for (int src = 0; src < 3; src++)
		for (int st = 0; st < IS_COUNT; st++) {
			struct mlabel l[2] = {
				{ "source", source_names[src] },
				{ "state", state_names[st] },
			};
			mw_sample(w, "certfleet_certificates", "", l, 2,
			    (double)a->states[src][st]);
		}
	mw_gauge_hist(w, "certfleet_cert_expiry_seconds",
	    "Seconds until notAfter over every certificate, in buckets of 0, "
	    "1, 3, 7, 14, 30, 60 and 90 days (negative: expired).", &a->left);
	mw_family(w, "certfleet_certificates_expiring", MT_GAUGE,
	    "Certificates expiring within 7, 14 and 30 days, counting each "
	    "only where the period is at most a third of its lifetime.");
	for (size_t i = 0; i < NWITHIN; i++) {
		char within[8];
		struct mlabel l = { "within", within };

		snprintf(within, sizeof(within), "%dd", within_days[i]);
		mw_sample(w, "certfleet_certificates_expiring", "", &l, 1,
		    (double)a->within[i]);
	}
	mw_family(w, "certfleet_findings", MT_GAUGE,
	    "Audit findings over every certificate, by code and severity.");
	for (size_t i = 0; i < a->findings.n; i++) {
		struct mlabel l[2] = {
			{ "code", a->findings.v[i].v1 },
			{ "severity", a->findings.v[i].v2 },
		};
		mw_sample(w, "certfleet_findings", "", l, 2,
		    (double)a->findings.v[i].n);
	}
	mw_family(w, "certfleet_metrics_items_omitted", MT_GAUGE,
	    "Certificates beyond metrics-items: counted in the aggregates, "
	    "without series of their own.");
	mw_sample(w, "certfleet_metrics_items_omitted", "", NULL, 0,
	    omitted > 0 ? (double)omitted : 0);
}

/* --- the daemon's own families ------------------------------------------- */

static void
write_process(struct scrape *s)
{
	struct mwriter *w = &s->w;
	struct rusage ru;
	struct rlimit rl;
	long pages = 0, rss = 0;
	FILE *fp;
	DIR *dir;
	int fds = 0;

	getrusage(RUSAGE_SELF, &ru);
	mw_family(w, "process_cpu_seconds", MT_COUNTER,
	    "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(w->out, "process_cpu_seconds_total %.6f\n",
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if ((fp = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(fp);
	}
	mw_family(w, "process_resident_memory_bytes", MT_GAUGE,
	    "Resident memory size in bytes.");
	mw_sample(w, "process_resident_memory_bytes", "", NULL, 0,
	    (double)rss * sysconf(_SC_PAGESIZE));
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		while (readdir(dir) != NULL)
			fds++;
		closedir(dir);
		fds -= 3;	/* ".", ".." and the directory's own */
	}
	mw_family(w, "process_open_fds", MT_GAUGE,
	    "Number of open file descriptors.");
	mw_sample(w, "process_open_fds", "", NULL, 0, fds > 0 ? fds : 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		mw_family(w, "process_max_fds", MT_GAUGE,
		    "Maximum number of open file descriptors.");
		mw_sample(w, "process_max_fds", "", NULL, 0,
		    (double)rl.rlim_cur);
	}
	mw_family(w, "process_start_time_seconds", MT_GAUGE,
	    "Start time of the process since unix epoch in seconds.");
	mw_sample(w, "process_start_time_seconds", "", NULL, 0,
	    (double)s->d->started_at);
}

static void
write_build(struct scrape *s)
{
	struct mlabel l[4] = {
		{ "version", PACKAGE_VERSION },
		{ "openssl", OpenSSL_version(OPENSSL_VERSION_STRING) },
		{ "libevent", event_get_version() },
		{ "sqlite", store_engine_version() },
	};

	mw_family(&s->w, "certfleet_build_info", MT_GAUGE,
	    "certfleetd's version and the libraries it runs with.");
	mw_sample(&s->w, "certfleet_build_info", "", l, 4, 1);
}

static void
write_probes(struct scrape *s)
{
	struct mwriter *w = &s->w;
	const struct probe_stats *ps;

	if (s->d->probes == NULL)
		return;
	ps = probe_engine_stats(s->d->probes);
	mw_mcounters(w, "certfleet_probes", "TLS probes finished, by result "
	    "(ok or the cause of the failure).", &ps->results, "result", NULL);
	mw_family(w, "certfleet_probe_duration_seconds", MT_HISTOGRAM,
	    "Seconds from a probe's start (queueing included) to its verdict.");
	mw_hist(w, "certfleet_probe_duration_seconds", NULL, 0, &ps->duration);
	mw_family(w, "certfleet_probes_in_flight", MT_GAUGE,
	    "Probes with a socket open.");
	mw_sample(w, "certfleet_probes_in_flight", "", NULL, 0,
	    (double)probe_engine_active(s->d->probes));
	mw_family(w, "certfleet_probe_queue_depth", MT_GAUGE,
	    "Probes waiting for a slot.");
	mw_sample(w, "certfleet_probe_queue_depth", "", NULL, 0,
	    (double)probe_engine_queued(s->d->probes));
}

static void
write_acme(struct scrape *s)
{
	struct mwriter *w = &s->w;
	const struct issuer_metrics *im;

	if (s->d->issuer == NULL)
		return;
	im = issuer_metrics(s->d->issuer);
	mw_mcounters(w, "certfleet_acme_orders", "ACME orders finished, by CA "
	    "profile and result (valid, failed).", &im->orders, "ca", "result");
	mw_mcounters(w, "certfleet_acme_requests", "ACME HTTP requests, by CA "
	    "profile and HTTP status (error: no answer).", &im->requests, "ca",
	    "code");
	mw_family(w, "certfleet_acme_request_duration_seconds", MT_HISTOGRAM,
	    "Seconds one ACME HTTP request took.");
	mw_hist(w, "certfleet_acme_request_duration_seconds", NULL, 0,
	    &im->duration);
	mw_mcounters(w, "certfleet_acme_rate_limited", "Orders the CA refused "
	    "as rate limited, by CA profile.", &im->rate_limited, "ca", NULL);
}

static void
write_techzone(struct scrape *s)
{
	static const char *const rcodes[16] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
		"NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
	};
	struct mwriter *w = &s->w;
	struct techzone_stats ts = { 0 };

	if (s->d->tzsrv != NULL)
		techzone_server_stats(s->d->tzsrv, &ts);
	mw_family(w, "certfleet_techzone_queries", MT_COUNTER,
	    "Tech zone answers sent, by RCODE and transport.");
	for (int t = 0; t < 2; t++)
		for (int r = 0; r < 16; r++) {
			struct mlabel l[2] = {
				{ "rcode", rcodes[r] },
				{ "transport", t ? "tcp" : "udp" },
			};
			if (ts.rcodes[t][r] != 0 || r == 0)
				mw_counter(w, "certfleet_techzone_queries", l, 2,
				    ts.rcodes[t][r]);
		}
	mw_family(w, "certfleet_techzone_rrl_dropped", MT_COUNTER,
	    "Tech zone answers the response rate limit dropped.");
	mw_counter(w, "certfleet_techzone_rrl_dropped", NULL, 0,
	    ts.rrl_dropped);
}

static void
pending_cb(const char *sink, int64_t pending, void *arg)
{
	struct scrape *s = arg;
	struct mlabel l = { "sink", sink };

	mw_sample(&s->w, "certfleet_notify_outbox_pending", "", &l, 1,
	    (double)pending);
}

static int
write_daemon(struct scrape *s, char *err, size_t errlen)
{
	struct mwriter *w = &s->w;

	write_build(s);
	write_process(s);
	write_probes(s);
	write_acme(s);
	write_techzone(s);
	mw_mcounters(w, "certfleet_rpc_requests", "Control socket requests "
	    "answered, by method and status code.", &s->d->rpc_stats.requests,
	    "method", "code");
	mw_mcounters_hist(w, "certfleet_rpc_duration_seconds", "Seconds from "
	    "a request to its answer, by method.", &s->d->rpc_stats.durations,
	    "method");
	if (s->d->lag != NULL) {
		mw_family(w, "certfleet_loop_lag_seconds", MT_HISTOGRAM,
		    "How late a 250 ms timer fires: the event loop's stalls.");
		mw_hist(w, "certfleet_loop_lag_seconds", NULL, 0,
		    lag_sampler_hist(s->d->lag));
	}
	mw_family(w, "certfleet_store_commit_duration_seconds", MT_HISTOGRAM,
	    "Seconds each database COMMIT took (a group of writes).");
	mw_hist(w, "certfleet_store_commit_duration_seconds", NULL, 0,
	    store_commit_hist(s->d->store));
	mw_family(w, "certfleet_store_size_bytes", MT_GAUGE,
	    "The database's size in bytes.");
	mw_sample(w, "certfleet_store_size_bytes", "", NULL, 0,
	    (double)store_metric_size(s->d->store));
	if (s->d->notify != NULL)
		mw_mcounters(w, "certfleet_notify_deliveries", "Notification "
		    "deliveries, by sink and result.",
		    notify_deliveries(s->d->notify), "sink", "result");
	mw_family(w, "certfleet_notify_outbox_pending", MT_GAUGE,
	    "Deliveries waiting to be made or retried, by sink.");
	if (store_metric_outbox(s->d->store, pending_cb, s, err, errlen) == -1)
		return -1;
	write_aggregates(s);
	return 0;
}

/* --- deploy targets ------------------------------------------------------ */

static void
deploy_cb(const struct store_metric_deploy *dp, void *arg)
{
	struct scrape *s = arg;
	char cert[24], target[24];
	struct mlabel l[3] = {
		{ "cert_id", cert }, { "target", target }, { "dir", dp->dir },
	};

	s->after = dp->id;
	if (s->emitted++ >= s->limit)
		return;
	snprintf(cert, sizeof(cert), "%lld", (long long)dp->cert_id);
	snprintf(target, sizeof(target), "%lld", (long long)dp->id);
	if (s->family == 0 && dp->state != NULL &&
	    strcmp(dp->state, "pending") != 0)
		mw_sample(&s->w, "certfleet_deploy_success", "", l, 3,
		    strcmp(dp->state, "ok") == 0);
	else if (s->family == 1 && dp->deployed_at != 0)
		mw_sample(&s->w, "certfleet_deploy_timestamp_seconds", "", l, 3,
		    (double)dp->deployed_at);
}

static int
step_deploys(struct scrape *s, char *err, size_t errlen)
{
	int n;

	if (s->after == 0 && s->emitted == 0) {
		if (s->family == 0)
			mw_family(&s->w, "certfleet_deploy_success", MT_GAUGE,
			    "1 when the deploy target's last attempt worked.");
		else
			mw_family(&s->w, "certfleet_deploy_timestamp_seconds",
			    MT_GAUGE, "When the target last got a "
			    "certificate, in Unix seconds.");
	}
	n = store_metric_deploys(s->d->store, s->after, SCRAPE_PAGE, deploy_cb,
	    s, err, errlen);
	if (n == -1)
		return -1;
	if (n < SCRAPE_PAGE || s->emitted >= s->limit) {
		s->after = 0;
		s->emitted = 0;
		if (++s->family == 2)
			s->state = SC_END;
	}
	return 0;
}

/* --- the cursor ---------------------------------------------------------- */

static void
item_cb(const struct store_metric_item *it, void *arg)
{
	struct scrape *s = arg;

	s->after = it->id;
	if (s->emitted++ >= s->limit)
		return;
	item_families[s->family].write(s, it);
}

/* Next pass, or from managed certificates on to tracked items. */
static void
pass_next(struct scrape *s, int walked_all)
{
	s->after = 0;
	if (s->managed && walked_all && !item_families[s->family].managed_only &&
	    s->emitted < s->limit) {
		s->managed = 0;
		return;
	}
	s->managed = 1;
	s->emitted = 0;
	if (++s->family == NITEM_FAMILIES) {
		s->family = 0;
		s->state = SC_DEPLOYS;
	}
}

static int
step_items(struct scrape *s, char *err, size_t errlen)
{
	const struct item_family *f = &item_families[s->family];
	int n;

	if (s->managed && s->after == 0)
		mw_family(&s->w, f->name, f->type, f->help);
	n = store_metric_items(s->d->store, s->managed, s->after, SCRAPE_PAGE,
	    item_cb, s, err, errlen);
	if (n == -1)
		return -1;
	if (n < SCRAPE_PAGE || s->emitted >= s->limit)
		pass_next(s, n < SCRAPE_PAGE);
	return 0;
}

static int
step_count(struct scrape *s, char *err, size_t errlen)
{
	int n = store_metric_items(s->d->store, s->managed, s->after,
	    SCRAPE_COUNT_PAGE, count_item, s, err, errlen);

	if (n == -1)
		return -1;
	if (n < SCRAPE_COUNT_PAGE) {
		s->after = 0;
		if (s->managed)
			s->managed = 0;
		else {
			s->managed = 1;
			s->state = SC_DAEMON;
		}
	}
	return 0;
}

struct scrape *
scrape_new(struct daemon *d, int openmetrics)
{
	struct scrape *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->d = d;
	s->w.openmetrics = openmetrics;
	s->state = SC_COUNT;
	s->managed = 1;
	s->limit = d->cfg->metrics_items;
	s->now = clock_now();
	mcounters_init(&s->agg.findings, 128);
	hist_init(&s->agg.left, left_bounds,
	    sizeof(left_bounds) / sizeof(left_bounds[0]));
	return s;
}

int
scrape_step(struct scrape *s, struct evbuffer *out, char *err, size_t errlen)
{
	int rc = 0;

	s->w.out = out;
	switch (s->state) {
	case SC_COUNT:
		rc = step_count(s, err, errlen);
		break;
	case SC_DAEMON:
		rc = write_daemon(s, err, errlen);
		s->state = SC_ITEMS;
		break;
	case SC_ITEMS:
		rc = step_items(s, err, errlen);
		break;
	case SC_DEPLOYS:
		rc = step_deploys(s, err, errlen);
		break;
	case SC_END:
		mw_end(&s->w);
		s->state = SC_DONE;
		break;
	case SC_DONE:
		break;
	}
	s->w.out = NULL;
	if (rc == -1)
		return -1;
	return s->state != SC_DONE;
}

void
scrape_free(struct scrape *s)
{
	if (s == NULL)
		return;
	mcounters_free(&s->agg.findings);
	free(s);
}

/* --- loop lag ------------------------------------------------------------ */

#define LAG_INTERVAL_MS	250

struct lag_sampler {
	struct event	*timer;
	struct timespec	 due;
	struct hist	 lag;
};

static void
lag_arm(struct lag_sampler *l)
{
	struct timeval tv = { 0, LAG_INTERVAL_MS * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &l->due);
	l->due.tv_nsec += LAG_INTERVAL_MS * 1000000L;
	if (l->due.tv_nsec >= 1000000000L) {
		l->due.tv_sec++;
		l->due.tv_nsec -= 1000000000L;
	}
	evtimer_add(l->timer, &tv);
}

static void
lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lag_sampler *l = arg;
	struct timespec now;
	double late;

	clock_gettime(CLOCK_MONOTONIC, &now);
	late = (double)(now.tv_sec - l->due.tv_sec) +
	    (now.tv_nsec - l->due.tv_nsec) / 1e9;
	hist_observe(&l->lag, late > 0 ? late : 0);
	lag_arm(l);
}

struct lag_sampler *
lag_sampler_new(struct daemon *d)
{
	struct lag_sampler *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->timer = evtimer_new(d->base, lag_cb, l)) == NULL) {
		free(l);
		return NULL;
	}
	/* At the highest priority it is late only when a callback held the
	 * loop, not because other ready work went first. */
	event_priority_set(l->timer, PRIO_RPC);
	hist_init(&l->lag, hist_lag_bounds, hist_lag_nbounds);
	lag_arm(l);
	return l;
}

const struct hist *
lag_sampler_hist(const struct lag_sampler *l)
{
	return &l->lag;
}

void
lag_sampler_free(struct lag_sampler *l)
{
	if (l == NULL)
		return;
	event_free(l->timer);
	free(l);
}
