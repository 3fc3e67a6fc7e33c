/*
 * The issuing engine.  One job per certificate being worked on, each a
 * state machine driven by one step function; every ACME answer is written
 * to the store before the next request, so a job killed anywhere resumes
 * from the order's URL after a restart (the CA's order is the state: fetch
 * it, then do what its status asks).
 *
 *   CNAME -> ACCOUNT -> SLOT -> [KEY] -> ORDER -> AUTHZ -> RESPOND -> POLL
 *   -> FINALIZE -> POLL -> DOWNLOAD -> done
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "certfleet/escape.h"
#include "acme.h"
#include "cert.h"
#include "certfleet/wire.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "dns.h"
#include "event.h"
#include "expiry.h"
#include "http.h"
#include "issue.h"
#include "keystore.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "store_deploy.h"
#include "techzone.h"
#include "x509.h"

#define SECS_PER_DAY		86400
/* Due certificates picked up per callback.  Starting a job costs ~1-2 ms
 * (the certificate's key is unsealed and parsed: ~0.7 ms in OpenSSL 3.0,
 * plus a write), so a batch of 64 held the loop ~65-120 ms and delayed
 * RPC answers that long; a full batch is followed by the next one at once
 * (after whatever else is ready), not a second later. */
#define ISSUE_DUE_BATCH		8
/* Order polls: the first soon (a CA validates in well under a second), then
 * doubling up to a ceiling, unless the CA says Retry-After. */
#define ISSUE_POLL_FIRST_MS	100
#define ISSUE_POLL_MAX_MS	10000
/* An order not done after this many polls has failed. */
#define ISSUE_POLLS_MAX		120
/* The longest the engine sleeps without looking for due work. */
#define ISSUE_TICK_MAX_SECS	60
/* Without a Retry-After, a rate-limited account waits at least this. */
#define ISSUE_RATELIMIT_SECS	3600

enum job_state {
	JOB_CNAME,		/* each _acme-challenge CNAME in turn */
	JOB_ACCOUNT,		/* the CA account of (profile, email) */
	JOB_SLOT,		/* waiting for an order slot of that account */
	JOB_KEY,		/* a renewal's new key, made in the pool */
	JOB_ORDER,		/* newOrder, or fetching the stored order */
	JOB_AUTHZ,		/* each authorization: fetch, publish its TXT */
	JOB_RESPOND,		/* each published challenge: tell the CA */
	JOB_POLL,		/* waiting before the order is fetched again */
	JOB_FINALIZE,
	JOB_DOWNLOAD,
	JOB_DONE,
};

struct issue_client {
	int64_t			 profile_id;
	struct acme_client	*acme;
	LIST_ENTRY(issue_client) entry;
};

struct issue_account {
	int64_t			 id;
	int			 orders;	/* jobs holding a slot */
	/* Once registered: its key and URL, so each job need not unseal and
	 * parse the key again (~0.7 ms in OpenSSL 3.0). */
	EVP_PKEY		*key;
	char			*kid;
	char			 thumb[ACME_THUMBPRINT_LEN + 1];
	LIST_ENTRY(issue_account) entry;
};

struct job {
	struct issuer		*is;
	int64_t			 cert_id;
	enum job_state		 state;
	int			 renewal;	/* a new key, the old cert replaced */
	const char		*reason;	/* issue, renew, forced */
	struct store_cert	*cert;
	struct store_ca		*ca;
	struct store_order	*order;
	struct acme_client	*client;
	struct issue_account	*acct;		/* set once a slot is held */
	int64_t			 account_id;
	char			*kid;
	EVP_PKEY		*acct_key;
	char			 thumb[ACME_THUMBPRINT_LEN + 1];
	EVP_PKEY		*key;		/* the key the CSR is for */
	char			**names;	/* domain, then aliases */
	size_t			 nnames;
	size_t			 next;		/* CNAME, authz or challenge index */
	char			**authz;	/* the order's authorizations */
	size_t			 nauthz;
	char			**challenges;	/* dns-01 URLs to answer */
	size_t			 nchallenges;
	int			 responded;
	int64_t			 quiet_until;	/* old TXT values cached till then */
	int64_t			 started_ms;	/* for the log's step timings */
	int			 polls;
	int			 poll_ms;
	struct acme_op		*op;
	struct dns_req		*dns_req;
	struct keystore_job	*kjob;
	struct event		*timer;
	LIST_ENTRY(job)		 entry;
	TAILQ_ENTRY(job)	 wait_entry;	/* on the slot queue */
	int			 waiting;	/* ... while this is set */
};

struct revoke_job;

struct issuer {
	struct daemon		*d;
	LIST_HEAD(, revoke_job)	 revokes;
	struct event		*tick;
	LIST_HEAD(, job)	 jobs;
	size_t			 njobs;
	TAILQ_HEAD(, job)	 slot_wait;
	LIST_HEAD(, issue_client) clients;
	LIST_HEAD(, issue_account) accounts;
	struct issuer_stats	 stats;
	struct issuer_metrics	 metrics;
};

struct revoke_job {
	struct issuer		*is;
	int64_t			 cert_id;
	int			 reason;
	struct acme_op		*op;
	issuer_done_fn		*done;
	void			*arg;
	LIST_ENTRY(revoke_job)	 entry;
};

static void job_step(struct job *j);
static void job_fail(struct job *j, const char *why,
    const struct acme_problem *p, int64_t retry_after);

/* --- small helpers -------------------------------------------------------- */

static struct job *
job_find(struct issuer *is, int64_t cert_id)
{
	struct job *j;

	LIST_FOREACH(j, &is->jobs, entry)
		if (j->cert_id == cert_id)
			return j;
	return NULL;
}

static int
write_begin(struct issuer *is, char *err, size_t errlen)
{
	return store_write_begin(is->d->store, err, errlen);
}

/*
 * Ends a bracket with an event (kind NULL: none) about certificate c, its
 * names, state and facts in the data; 0 or -1 (rolled back).
 */
static int
write_end(struct issuer *is, int ok, const char *kind,
    const struct store_cert *c, const char *msg)
{
	struct event ev;
	char err[256];

	if (ok && kind != NULL) {
		event_init(&ev, kind, EVENT_SUBJECT_CERTIFICATE, c->id);
		esc_format(ev.message, sizeof(ev.message), "%s", msg);
		event_cert(&ev, c, clock_now());
		ok = event_record(is->d, &ev, err, sizeof(err)) == 0;
	}
	store_write_end(is->d->store, ok);
	return ok ? 0 : -1;
}

/* Writes the certificate (and the order, when there is one). */
static int
job_save(struct job *j, const char *kind, const char *msg)
{
	struct issuer *is = j->is;
	char err[256];
	int ok;

	if (write_begin(is, err, sizeof(err)) == -1) {
		log_error("certificate %lld: %s", (long long)j->cert_id, err);
		return -1;
	}
	j->cert->updated_at = clock_now();
	ok = store_cert_update(is->d->store, j->cert, err, sizeof(err)) == 0 &&
	    (j->order == NULL || store_order_update(is->d->store, j->order, err,
	    sizeof(err)) == 0);
	if (write_end(is, ok, kind, j->cert, msg) == -1) {
		log_error("certificate %lld: cannot save its state: %s",
		    (long long)j->cert_id, ok ? "the event" : err);
		return -1;
	}
	return 0;
}

static int
set_str(char **dst, const char *src)
{
	char *v = src ? strdup(src) : NULL;

	if (src != NULL && v == NULL)
		return -1;
	free(*dst);
	*dst = v;
	return 0;
}

static char *
techzone_owner(const struct issuer *is, const struct store_cert *c)
{
	const char *zone = is->d->cfg->techzone_name;
	size_t zl;
	char *s;

	if (zone == NULL || c->label == NULL)
		return NULL;
	zl = strlen(zone);
	if (zl > 0 && zone[zl - 1] == '.')
		zl--;
	if (asprintf(&s, "%s.%.*s", c->label, (int)zl, zone) == -1)
		return NULL;
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return s;
}

/* --- the CA clients and accounts ----------------------------------------- */

static struct acme_client *
client_for(struct issuer *is, const struct store_ca *ca, char *err,
    size_t errlen)
{
	struct issue_client *ic;
	struct http_count count = {
		&is->metrics.requests, &is->metrics.duration, ca->name,
	};
	struct acme_client_conf conf = {
		.directory_url = ca->directory_url,
		.ca_file = ca->trust_file,
		.timeout_ms = (long)is->d->cfg->acme_timeout * 1000,
		.count = &count,
	};

	LIST_FOREACH(ic, &is->clients, entry)
		if (ic->profile_id == ca->id)
			return ic->acme;
	if ((ic = calloc(1, sizeof(*ic))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((ic->acme = acme_client_new(is->d->base, is->d->http, &conf, err,
	    errlen)) == NULL) {
		free(ic);
		return NULL;
	}
	ic->profile_id = ca->id;
	LIST_INSERT_HEAD(&is->clients, ic, entry);
	return ic->acme;
}

static struct issue_account *
account_slots(struct issuer *is, int64_t id)
{
	struct issue_account *a;

	LIST_FOREACH(a, &is->accounts, entry)
		if (a->id == id)
			return a;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->id = id;
	LIST_INSERT_HEAD(&is->accounts, a, entry);
	return a;
}

static void
slot_release(struct job *j)
{
	struct issuer *is = j->is;
	struct job *w;

	if (j->acct == NULL)
		return;
	j->acct->orders--;
	j->acct = NULL;
	/* The first job waiting on that account takes the slot. */
	TAILQ_FOREACH(w, &is->slot_wait, wait_entry)
		if (w->account_id == j->account_id) {
			TAILQ_REMOVE(&is->slot_wait, w, wait_entry);
			w->waiting = 0;
			job_step(w);
			break;
		}
}

/* --- job lifetime ---------------------------------------------------------- */

static void
job_free(struct job *j)
{
	struct issuer *is = j->is;

	if (j->op != NULL)
		acme_op_cancel(j->op);
	if (j->dns_req != NULL)
		dns_cancel(j->dns_req);
	if (j->kjob != NULL)
		keystore_job_cancel(j->kjob);
	if (j->waiting)
		TAILQ_REMOVE(&is->slot_wait, j, wait_entry);
	slot_release(j);
	if (j->timer != NULL)
		event_free(j->timer);
	LIST_REMOVE(j, entry);
	is->njobs--;
	/* Its certificate's next attempt may come before the tick's. */
	issuer_kick(is);
	store_cert_free(j->cert);
	store_ca_free(j->ca);
	store_order_free(j->order);
	EVP_PKEY_free(j->acct_key);
	EVP_PKEY_free(j->key);
	free(j->kid);
	free(j->names);
	for (size_t i = 0; i < j->nauthz; i++)
		free(j->authz[i]);
	free(j->authz);
	for (size_t i = 0; i < j->nchallenges; i++)
		free(j->challenges[i]);
	free(j->challenges);
	free(j);
}

static void
job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	job_step(arg);
}

static void
job_later(struct job *j, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(j->timer, &tv);
}

/* Removes the certificate's challenge values: one order's, or any left. */
static void
unpublish(struct job *j)
{
	char err[256];

	if (write_begin(j->is, err, sizeof(err)) == 0) {
		int ok = store_techzone_remove_cert(j->is->d->store, j->cert_id,
		    NULL, err, sizeof(err)) == 0;
		write_end(j->is, ok, NULL, NULL, NULL);
	}
}

/*
 * A step failed: the certificate is "error" with the CA's problem, the
 * order failed, and the next try comes after a backoff that honors the
 * CA's Retry-After and never storms a rate limit.
 */
static void
job_fail(struct job *j, const char *why, const struct acme_problem *p,
    int64_t retry_after)
{
	struct issuer *is = j->is;
	struct config *cfg = is->d->cfg;
	struct store_cert *c = j->cert;
	int64_t now = clock_now(), delay;
	char msg[1536], when[40];

	c->failures++;
	delay = schedule_backoff(c->failures, cfg->acme_retry_min,
	    cfg->acme_retry_max);
	if (p != NULL && acme_problem_is(p, "rateLimited") && retry_after < 0 &&
	    delay < ISSUE_RATELIMIT_SECS)
		delay = ISSUE_RATELIMIT_SECS;
	if (retry_after > delay)
		delay = retry_after;
	memcpy(c->status, "error", 6);
	c->next_attempt_at = now + delay;
	esc_format(msg, sizeof(msg), "%s", why);
	set_str(&c->last_error, msg);
	set_str(&c->problem_type, p != NULL && p->type[0] ? p->type : NULL);
	if (j->order != NULL) {
		set_str(&j->order->status, "failed");
		set_str(&j->order->problem_type, p && p->type[0] ? p->type : NULL);
		set_str(&j->order->problem_detail, why);
		j->order->finished_at = now;
	}
	unpublish(j);
	clock_rfc3339(c->next_attempt_at, when, sizeof(when));
	esc_format(msg, sizeof(msg), "certificate %lld (%s): %s failed: %s; "
	    "failed %d time%s, next try at %s", (long long)c->id, c->domain,
	    j->reason, why, c->failures, c->failures == 1 ? "" : "s", when);
	log_warn("%s", msg);
	job_save(j, j->renewal ? "cert_renew_failed" : "cert_issue_failed", msg);
	is->stats.failed++;
	if (j->ca != NULL) {
		mcounters_add(&is->metrics.orders, j->ca->name, "failed", 1);
		if (p != NULL && acme_problem_is(p, "rateLimited"))
			mcounters_add(&is->metrics.rate_limited, j->ca->name,
			    NULL, 1);
	}
	job_free(j);
}

/* Ends a job without an order change (nothing to do, or CNAMEs not ready). */
static void
job_end(struct job *j)
{
	job_free(j);
}

/* --- CNAMEs ----------------------------------------------------------------- */

/* The next distinct _acme-challenge name from j->next on; NULL at the end. */
static const char *
next_challenge_base(struct job *j)
{
	while (j->next < j->nnames) {
		const char *n = j->names[j->next];
		const char *base = strncmp(n, "*.", 2) == 0 ? n + 2 : n;
		int seen = 0;

		for (size_t i = 0; i < j->next && !seen; i++) {
			const char *m = j->names[i];
			seen = strcmp(strncmp(m, "*.", 2) == 0 ? m + 2 : m,
			    base) == 0;
		}
		if (!seen)
			return base;
		j->next++;
	}
	return NULL;
}

/* The CNAMEs are not there yet: pending, looked up again after a while. */
static void
cname_wait(struct job *j, const char *why)
{
	struct config *cfg = j->is->d->cfg;
	struct store_cert *c = j->cert;
	char msg[2048];

	c->failures++;
	c->next_attempt_at = clock_now() + schedule_backoff(c->failures,
	    cfg->cname_poll_min, cfg->cname_poll_max);
	/* Renewals keep their status: the certificate they renew still works. */
	if (!j->renewal)
		memcpy(c->status, "pending", 8);
	/* Said once per cause, not on every poll. */
	if (c->last_error == NULL || strcmp(c->last_error, why) != 0) {
		set_str(&c->last_error, why);
		esc_format(msg, sizeof(msg), "certificate %lld (%s): waiting for "
		    "DNS: %.1500s", (long long)c->id, c->domain, why);
		log_info("%s", msg);
		job_save(j, "cert_waiting", msg);
	} else
		job_save(j, NULL, NULL);
	job_end(j);
}

static void
cname_cb(enum dns_cname_status st, const char *target, const char *why,
    void *arg)
{
	struct job *j = arg;
	const char *base = next_challenge_base(j);
	char expected[512], msg[2048], *owner;

	j->dns_req = NULL;
	if ((owner = techzone_owner(j->is, j->cert)) == NULL) {
		job_fail(j, "no tech zone is configured (set techzone-name)",
		    NULL, -1);
		return;
	}
	snprintf(expected, sizeof(expected), "%s", owner);
	free(owner);
	if (st == DNS_CNAME_FOUND && strcmp(target, expected) == 0) {
		j->next++;
		job_step(j);
		return;
	}
	if (st == DNS_CNAME_FOUND)
		esc_format(msg, sizeof(msg), "_acme-challenge.%s. is a CNAME to "
		    "%s. but must point to %s.", base, target, expected);
	else
		esc_format(msg, sizeof(msg), "_acme-challenge.%s. must be a CNAME "
		    "to %s. (%s)", base, expected, why);
	cname_wait(j, msg);
}

static void
step_cname(struct job *j)
{
	const char *base = next_challenge_base(j);
	char name[CERT_NAME_MAX + 20];

	if (base == NULL) {
		/* The CNAME polls' count is not the order's: an order that
		 * fails backs off from its first failure, not from the polls. */
		if (strcmp(j->cert->status, "pending") == 0)
			j->cert->failures = 0;
		j->next = 0;
		j->state = JOB_ACCOUNT;
		job_step(j);
		return;
	}
	snprintf(name, sizeof(name), "_acme-challenge.%s", base);
	if ((j->dns_req = dns_cname(j->is->d->dns, name, cname_cb, j)) == NULL)
		job_fail(j, "out of memory looking up a CNAME", NULL, -1);
}

/* --- the account ------------------------------------------------------------ */

static int
account_load(struct job *j, struct store_account **out, char *err,
    size_t errlen)
{
	struct issuer *is = j->is;
	struct store_account *a = NULL;
	const char *email = j->cert->email ? j->cert->email : "";
	struct cf_err e = { 0 };
	EVP_PKEY *key;
	int rc;

	rc = store_account_get(is->d->store, j->ca->id, email, &a, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1) {
		/* A new account: its ES256 key (fast enough for the loop). */
		if ((key = keystore_generate(KEY_EC256, err, errlen)) == NULL)
			return -1;
		if ((a = calloc(1, sizeof(*a))) == NULL ||
		    (a->email = strdup(email)) == NULL) {
			store_account_free(a);
			EVP_PKEY_free(key);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		a->profile_id = j->ca->id;
		a->created_at = clock_now();
		if (write_begin(is, err, errlen) == -1) {
			store_account_free(a);
			EVP_PKEY_free(key);
			return -1;
		}
		rc = store_account_insert(is->d->store, a, err, errlen);
		if (rc == 0 && cert_seal_key(is->d, key, "acme_accounts", a->id,
		    &a->key_sealed, &a->key_sealed_len, &e) == -1) {
			snprintf(err, errlen, "%s", e.msg);
			rc = -1;
		}
		if (rc == 0)
			rc = store_account_update(is->d->store, a, err, errlen);
		EVP_PKEY_free(key);
		if (write_end(is, rc == 0, NULL, NULL, NULL) == -1) {
			store_account_free(a);
			return -1;
		}
	}
	*out = a;
	return 0;
}

static void account_cache(struct job *j);

static void
account_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;
	struct issuer *is = j->is;
	struct store_account *a = NULL;
	char err[256], msg[512];
	int ok;

	j->op = NULL;
	if (!res->ok) {
		job_fail(j, res->err, res->problem, res->retry_after);
		return;
	}
	if (store_account_get(is->d->store, j->ca->id, j->cert->email ?
	    j->cert->email : "", &a, err, sizeof(err)) != 0 ||
	    set_str(&a->account_url, res->account_url) == -1) {
		store_account_free(a);
		job_fail(j, "cannot record the CA account", NULL, -1);
		return;
	}
	a->tos_agreed_at = clock_now();
	ok = write_begin(is, err, sizeof(err)) == 0;
	ok = ok && store_account_update(is->d->store, a, err, sizeof(err)) == 0;
	esc_format(msg, sizeof(msg), "CA %s: ACME account registered for %s "
	    "(certificate %lld)", j->ca->name, a->email[0] ? a->email :
	    "(no email)", (long long)j->cert->id);
	if (write_end(is, ok, "acme_account", j->cert, msg) == -1 ||
	    (j->kid = strdup(res->account_url)) == NULL) {
		store_account_free(a);
		job_fail(j, "cannot record the CA account", NULL, -1);
		return;
	}
	log_info("CA %s: account %s registered for %s", j->ca->name,
	    res->account_url, a->email[0] ? a->email : "(no email)");
	store_account_free(a);
	account_cache(j);
	j->state = JOB_SLOT;
	job_step(j);
}

/* Takes the account's key and URL from the cache; 1 when they were there. */
static int
account_cached(struct job *j, int64_t id)
{
	struct issue_account *a = account_slots(j->is, id);

	if (a == NULL || a->key == NULL || (j->kid = strdup(a->kid)) == NULL)
		return 0;
	EVP_PKEY_up_ref(a->key);
	j->acct_key = a->key;
	memcpy(j->thumb, a->thumb, sizeof(j->thumb));
	return 1;
}

/* Remembers a registered account's key and URL for the next jobs. */
static void
account_cache(struct job *j)
{
	struct issue_account *a = account_slots(j->is, j->account_id);

	if (a == NULL || a->key != NULL || (a->kid = strdup(j->kid)) == NULL)
		return;
	EVP_PKEY_up_ref(j->acct_key);
	a->key = j->acct_key;
	memcpy(a->thumb, j->thumb, sizeof(a->thumb));
}

/* Registers the account when it has no URL yet (newAccount is idempotent
 * for a key the CA knows, so a crash here costs one call). */
static int
account_register(struct job *j, const struct store_account *a, char *err,
    size_t errlen)
{
	struct cf_err e = { 0 };
	unsigned char *mac = NULL;
	size_t maclen = 0;
	char contact[CERT_EMAIL_MAX + 8];
	const char *contacts[1] = { contact };
	struct acme_eab eab;
	int rc = 0;

	snprintf(contact, sizeof(contact), "mailto:%s", a->email);
	if (j->ca->eab_kid != NULL && cert_unseal(j->is->d,
	    j->ca->eab_hmac_sealed, j->ca->eab_hmac_sealed_len, "ca_profiles",
	    j->ca->id, "eab_hmac_key", &mac, &maclen, &e) == -1) {
		snprintf(err, errlen, "%s", e.msg);
		return -1;
	}
	eab.kid = j->ca->eab_kid;
	eab.mac_key = (const char *)mac;
	if ((j->op = acme_account_new(j->client, j->acct_key, contacts,
	    a->email[0] ? 1 : 0, 1, mac ? &eab : NULL, 0, account_cb, j, err,
	    errlen)) == NULL)
		rc = -1;
	keystore_secret_free(mac, maclen);
	return rc;
}

static void
step_account(struct job *j)
{
	struct issuer *is = j->is;
	struct store_account *a = NULL;
	struct cf_err e = { 0 };
	char err[1536];

	if (j->ca == NULL) {
		if (j->cert->ca_id == 0 || store_ca_get_id(is->d->store,
		    j->cert->ca_id, &j->ca, err, sizeof(err)) != 0) {
			job_fail(j, "the certificate's CA profile is gone", NULL,
			    -1);
			return;
		}
		if (j->ca->eab_required && j->ca->eab_kid == NULL) {
			snprintf(err, sizeof(err), "CA profile %s needs external "
			    "account binding: set it with 'certfleet ca add %s "
			    "--eab-kid KID --eab-hmac-key KEY'", j->ca->name,
			    j->ca->name);
			job_fail(j, err, NULL, -1);
			return;
		}
	}
	if (j->client == NULL &&
	    (j->client = client_for(is, j->ca, err, sizeof(err))) == NULL) {
		job_fail(j, err, NULL, -1);
		return;
	}
	if (account_load(j, &a, err, sizeof(err)) == -1) {
		job_fail(j, err, NULL, -1);
		return;
	}
	j->account_id = a->id;
	if (account_cached(j, a->id)) {
		store_account_free(a);
		j->state = JOB_SLOT;
		job_step(j);
		return;
	}
	if ((j->acct_key = cert_unseal_key(is->d, a->key_sealed,
	    a->key_sealed_len, "acme_accounts", a->id, &e)) == NULL ||
	    acme_thumbprint(j->acct_key, j->thumb, sizeof(j->thumb), err,
	    sizeof(err)) == -1) {
		store_account_free(a);
		job_fail(j, j->acct_key == NULL ? e.msg : err, NULL, -1);
		return;
	}
	if (a->account_url == NULL) {
		if (account_register(j, a, err, sizeof(err)) == -1)
			job_fail(j, err, NULL, -1);
		store_account_free(a);
		return;
	}
	if ((j->kid = strdup(a->account_url)) == NULL) {
		store_account_free(a);
		job_fail(j, "out of memory", NULL, -1);
		return;
	}
	store_account_free(a);
	account_cache(j);
	j->state = JOB_SLOT;
	job_step(j);
}

/* --- slots, keys and the order ---------------------------------------------- */

static void
step_slot(struct job *j)
{
	struct issuer *is = j->is;
	struct issue_account *a = account_slots(is, j->account_id);

	if (a == NULL) {
		job_fail(j, "out of memory", NULL, -1);
		return;
	}
	if (a->orders >= is->d->cfg->acme_orders_per_account) {
		TAILQ_INSERT_TAIL(&is->slot_wait, j, wait_entry);
		j->waiting = 1;
		return;		/* slot_release() steps it again */
	}
	a->orders++;
	j->acct = a;
	j->state = j->renewal && (j->order == NULL ||
	    j->order->key_sealed == NULL) ? JOB_KEY : JOB_ORDER;
	job_step(j);
}

/* Makes the order row (and, for a renewal, seals the new key into it). */
static int
order_create(struct job *j, char *err, size_t errlen)
{
	struct issuer *is = j->is;
	struct store_order *o = calloc(1, sizeof(*o));
	struct cf_err e = { 0 };
	int rc;

	if (o == NULL || (o->reason = strdup(j->reason)) == NULL ||
	    (o->step = strdup("new-order")) == NULL ||
	    (o->status = strdup("running")) == NULL) {
		store_order_free(o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->cert_id = j->cert_id;
	o->account_id = j->account_id;
	o->started_at = o->updated_at = clock_now();
	if (write_begin(is, err, errlen) == -1) {
		store_order_free(o);
		return -1;
	}
	rc = store_order_insert(is->d->store, o, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "the certificate already has an order "
		    "under way");
	if (rc == 0 && j->renewal) {
		X509_REQ *req = NULL;
		size_t len;

		if (cert_seal_key(is->d, j->key, "cert_orders", o->id,
		    &o->key_sealed, &o->key_sealed_len, &e) == -1) {
			snprintf(err, errlen, "%s", e.msg);
			rc = -1;
		} else if ((req = keystore_make_csr(j->key,
		    (const char *const *)j->names, j->nnames, err,
		    errlen)) == NULL ||
		    keystore_csr_to_pem(req, &o->csr_pem, &len, err,
		    errlen) == -1)
			rc = -1;
		X509_REQ_free(req);
	}
	if (rc == 0)
		rc = store_order_update(is->d->store, o, err, errlen);
	if (write_end(is, rc == 0, NULL, NULL, NULL) == -1) {
		store_order_free(o);
		return -1;
	}
	j->order = o;
	return 0;
}

static void
key_cb(EVP_PKEY *key, const char *kerr, void *arg)
{
	struct job *j = arg;
	char err[1536];

	j->kjob = NULL;
	if (key == NULL) {
		snprintf(err, sizeof(err), "key generation failed: %s", kerr);
		job_fail(j, err, NULL, -1);
		return;
	}
	EVP_PKEY_free(j->key);
	j->key = key;
	if (order_create(j, err, sizeof(err)) == -1) {
		job_fail(j, err, NULL, -1);
		return;
	}
	j->state = JOB_ORDER;
	job_step(j);
}

static void
step_key(struct job *j)
{
	enum keystore_key_type kt;
	char err[256];

	if (keystore_key_type_parse(j->cert->key_type, &kt) == -1)
		kt = KEYSTORE_KEY_DEFAULT;
	if ((j->kjob = keystore_generate_async(j->is->d->keygen, kt, key_cb, j,
	    err, sizeof(err))) == NULL)
		job_fail(j, err, NULL, -1);
}

static int
take_authz(struct job *j, const struct acme_order *o)
{
	for (size_t i = 0; i < j->nauthz; i++)
		free(j->authz[i]);
	free(j->authz);
	j->nauthz = 0;
	if ((j->authz = calloc(o->nauthorizations + 1, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < o->nauthorizations; i++)
		if ((j->authz[j->nauthz++] = strdup(o->authorizations[i])) == NULL)
			return -1;
	return 0;
}

/* The CA's order says what comes next. */
static void
order_dispatch(struct job *j, const struct acme_order *o, int64_t retry_after)
{
	char msg[1536];

	if (o->finalize != NULL && set_str(&j->order->finalize_url,
	    o->finalize) == -1) {
		job_fail(j, "out of memory", NULL, -1);
		return;
	}
	switch (o->status) {
	case ACME_ST_PENDING:
		if (j->responded)
			break;
		if (take_authz(j, o) == -1) {
			job_fail(j, "out of memory", NULL, -1);
			return;
		}
		j->next = 0;
		j->state = JOB_AUTHZ;
		set_str(&j->order->step, "authorizations");
		job_save(j, NULL, NULL);
		job_step(j);
		return;
	case ACME_ST_READY:
		j->state = JOB_FINALIZE;
		set_str(&j->order->step, "finalize");
		job_save(j, NULL, NULL);
		job_step(j);
		return;
	case ACME_ST_PROCESSING:
		break;
	case ACME_ST_VALID:
		if (o->certificate == NULL ||
		    set_str(&j->order->cert_url, o->certificate) == -1) {
			job_fail(j, "the CA's valid order names no certificate",
			    NULL, -1);
			return;
		}
		j->state = JOB_DOWNLOAD;
		set_str(&j->order->step, "download");
		job_save(j, NULL, NULL);
		job_step(j);
		return;
	default:
		esc_format(msg, sizeof(msg), "the CA's order is %s%s%s",
		    acme_status_name(o->status), o->has_error ? ": " : "",
		    o->has_error ? o->error.detail : "");
		job_fail(j, msg, o->has_error ? &o->error : NULL, retry_after);
		return;
	}
	/* Pending after our answers, or processing: ask again later. */
	if (++j->polls > ISSUE_POLLS_MAX) {
		job_fail(j, "the CA did not finish the order in time", NULL, -1);
		return;
	}
	j->state = JOB_POLL;
	if (retry_after > 0 && retry_after * 1000 > j->poll_ms)
		job_later(j, retry_after > 60 ? 60000 : (int)retry_after * 1000);
	else
		job_later(j, j->poll_ms);
	j->poll_ms = j->poll_ms * 2 > ISSUE_POLL_MAX_MS ? ISSUE_POLL_MAX_MS :
	    j->poll_ms * 2;
}

static void
order_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;

	j->op = NULL;
	if (!res->ok) {
		job_fail(j, res->err, res->problem, res->retry_after);
		return;
	}
	if (j->order->order_url == NULL) {
		if (res->location == NULL) {
			job_fail(j, "the CA's new order has no Location", NULL, -1);
			return;
		}
		set_str(&j->order->order_url, res->location);
	}
	order_dispatch(j, res->order, res->retry_after);
}

static void
step_order(struct job *j)
{
	const struct acme_directory *dir = acme_client_directory(j->client);
	const char *profile = j->ca->acme_profile;
	char err[1536];

	/*
	 * A CA that does not offer the profile would refuse the order, or
	 * (without the extension) silently issue its default: say so instead.
	 * Before the directory is known acme_order_new makes the same check.
	 */
	if ((j->order == NULL || j->order->order_url == NULL) &&
	    profile != NULL && dir != NULL && acme_directory_check_profile(dir,
	    profile, err, sizeof(err)) == -1) {
		job_fail(j, err, NULL, -1);
		return;
	}
	if (j->order == NULL && order_create(j, err, sizeof(err)) == -1) {
		job_fail(j, err, NULL, -1);
		return;
	}
	/* A stored order is fetched: its status says where we were. */
	if (j->order->order_url != NULL)
		j->op = acme_fetch(j->client, j->acct_key, j->kid,
		    j->order->order_url, ACME_DOC_ORDER, order_cb, j, err,
		    sizeof(err));
	else
		j->op = acme_order_new(j->client, j->acct_key, j->kid,
		    (const char *const *)j->names, j->nnames, profile, order_cb,
		    j, err, sizeof(err));
	if (j->op == NULL)
		job_fail(j, err, NULL, -1);
}

/* --- authorizations and challenges ------------------------------------------ */

static int
publish(struct job *j, const char *token, char *err, size_t errlen)
{
	char txt[64], *owner;
	int rc;

	if (acme_dns01_txt(token, j->thumb, txt, sizeof(txt)) == -1) {
		snprintf(err, errlen, "the CA's challenge token is unusable");
		return -1;
	}
	if ((owner = techzone_owner(j->is, j->cert)) == NULL) {
		snprintf(err, errlen, "no tech zone is configured (set "
		    "techzone-name)");
		return -1;
	}
	if (write_begin(j->is, err, errlen) == 0) {
		rc = store_techzone_add(j->is->d->store, owner, txt, j->cert_id,
		    clock_now(), err, errlen);
		rc = write_end(j->is, rc >= 0, NULL, NULL, NULL);
	} else
		rc = -1;
	free(owner);
	return rc;
}

static void
authz_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;
	const struct acme_authz *a = res->authz;
	const struct acme_challenge *ch;
	char err[1536];
	char **v;

	j->op = NULL;
	if (!res->ok) {
		job_fail(j, res->err, res->problem, res->retry_after);
		return;
	}
	j->next++;
	if (a->status == ACME_ST_VALID) {
		job_step(j);
		return;
	}
	if (a->status != ACME_ST_PENDING) {
		ch = acme_authz_challenge(a, "dns-01");
		snprintf(err, sizeof(err), "authorization of %s is %s%s%s",
		    a->identifier.value, acme_status_name(a->status),
		    ch && ch->has_error ? ": " : "",
		    ch && ch->has_error ? ch->error.detail : "");
		job_fail(j, err, ch && ch->has_error ? &ch->error : NULL, -1);
		return;
	}
	if ((ch = acme_authz_challenge(a, "dns-01")) == NULL ||
	    ch->token == NULL) {
		snprintf(err, sizeof(err), "the CA offers no dns-01 challenge "
		    "for %s", a->identifier.value);
		job_fail(j, err, NULL, -1);
		return;
	}
	if (publish(j, ch->token, err, sizeof(err)) == -1) {
		job_fail(j, err, NULL, -1);
		return;
	}
	if (ch->status == ACME_ST_PENDING) {
		if ((v = realloc(j->challenges, (j->nchallenges + 1) *
		    sizeof(*v))) == NULL ||
		    (v[j->nchallenges] = strdup(ch->url)) == NULL) {
			if (v != NULL)
				j->challenges = v;
			job_fail(j, "out of memory", NULL, -1);
			return;
		}
		j->challenges = v;
		j->nchallenges++;
	}
	job_step(j);
}

static void
step_authz(struct job *j)
{
	char err[1536];

	/* Every value is published before any challenge is answered: a name
	 * and its wildcard share one TXT name. */
	if (j->next >= j->nauthz) {
		j->next = 0;
		j->state = JOB_RESPOND;
		job_step(j);
		return;
	}
	if ((j->op = acme_fetch(j->client, j->acct_key, j->kid,
	    j->authz[j->next], ACME_DOC_AUTHZ, authz_cb, j, err,
	    sizeof(err))) == NULL)
		job_fail(j, err, NULL, -1);
}

static void
respond_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;

	j->op = NULL;
	if (!res->ok) {
		job_fail(j, res->err, res->problem, res->retry_after);
		return;
	}
	j->next++;
	job_step(j);
}

static void
step_respond(struct job *j)
{
	char err[1536];

	/* A resolver may still hold the previous order's values at this
	 * name: the CA must not look before they have expired. */
	if (j->next == 0 && j->nchallenges > 0 &&
	    clock_now() < j->quiet_until) {
		int64_t wait = j->quiet_until - clock_now();

		/* Bounded, should the clock have been moved back. */
		job_later(j, (int)(wait > TECHZONE_TXT_TTL + 1 ?
		    TECHZONE_TXT_TTL + 1 : wait) * 1000);
		j->quiet_until = 0;
		return;
	}
	if (j->next >= j->nchallenges) {
		j->responded = 1;
		j->state = JOB_POLL;
		job_later(j, j->poll_ms);
		return;
	}
	if ((j->op = acme_challenge_respond(j->client, j->acct_key, j->kid,
	    j->challenges[j->next], respond_cb, j, err, sizeof(err))) == NULL)
		job_fail(j, err, NULL, -1);
}

static void
step_poll(struct job *j)
{
	char err[1536];

	if ((j->op = acme_fetch(j->client, j->acct_key, j->kid,
	    j->order->order_url, ACME_DOC_ORDER, order_cb, j, err,
	    sizeof(err))) == NULL)
		job_fail(j, err, NULL, -1);
}

/* --- finalize and download ---------------------------------------------------- */

static void
step_finalize(struct job *j)
{
	const char *pem = j->renewal ? j->order->csr_pem : j->cert->csr_pem;
	unsigned char *der = NULL;
	X509_REQ *req = NULL;
	BIO *bio;
	char err[1536];
	int len = -1;

	if (pem != NULL && (bio = BIO_new_mem_buf(pem, -1)) != NULL) {
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (req == NULL || (len = i2d_X509_REQ(req, &der)) <= 0) {
		X509_REQ_free(req);
		job_fail(j, "the stored CSR is unusable", NULL, -1);
		return;
	}
	X509_REQ_free(req);
	j->polls = 0;
	j->poll_ms = ISSUE_POLL_FIRST_MS;
	j->op = acme_finalize(j->client, j->acct_key, j->kid,
	    j->order->finalize_url, der, (size_t)len, order_cb, j, err,
	    sizeof(err));
	OPENSSL_free(der);
	if (j->op == NULL)
		job_fail(j, err, NULL, -1);
}

/* The intermediates of a downloaded chain as PEM ("" when none). */
static char *
intermediates_pem(STACK_OF(X509) *chain)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;
	int ok = bio != NULL;

	for (int i = 1; ok && i < sk_X509_num(chain); i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i)) == 1;
	if (ok) {
		n = BIO_get_mem_data(bio, &data);
		s = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
	}
	BIO_free(bio);
	return s;
}

/*
 * When to renew: renew_days before notAfter, but never before half the
 * remaining lifetime has passed.  A CA that issues certificates shorter
 * than the threshold (or a clock ahead of the CA's) would otherwise make
 * each new certificate due at once, and the CA would be asked forever.
 */
static int64_t
renewal_time(const struct x509_facts *f, int renew_days, int64_t now)
{
	int64_t at = f->valid_until - (int64_t)renew_days * SECS_PER_DAY;
	int64_t floor = now + (f->valid_until > now ?
	    (f->valid_until - now) / 2 : ISSUE_RATELIMIT_SECS);

	return at > floor ? at : floor;
}

/*
 * The key the CSR is for, unsealed only when needed (a job that only finds
 * its CNAME missing never pays for it): a renewal's own, from its order, or
 * the certificate's.
 */
static int
job_key(struct job *j, char *err, size_t errlen)
{
	struct cf_err e = { 0 };
	const struct store_order *o = j->order;

	if (j->key != NULL)
		return 0;
	if (o != NULL && o->key_sealed != NULL)
		j->key = cert_unseal_key(j->is->d, o->key_sealed,
		    o->key_sealed_len, "cert_orders", o->id, &e);
	else if (!j->renewal)
		j->key = cert_unseal_key(j->is->d, j->cert->key_sealed,
		    j->cert->key_sealed_len, "certificates", j->cert_id, &e);
	else
		cf_err_set(&e, WIRE_INTERNAL, "the renewal's key is missing");
	if (j->key == NULL) {
		snprintf(err, errlen, "%s", e.msg);
		return -1;
	}
	return 0;
}

/* The new certificate replaces the old in one write, which keeps the old. */
static int
install(struct job *j, STACK_OF(X509) *chain, char *err, size_t errlen)
{
	struct issuer *is = j->is;
	struct store_cert *c = j->cert;
	X509 *leaf = sk_X509_value(chain, 0);
	struct x509_facts *f;
	struct cf_err e = { 0 };
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	char *inter, msg[1024], when[40];
	int64_t now = clock_now();
	int ok;

	if (job_key(j, err, errlen) == -1)
		return -1;
	if (!keystore_key_matches_cert(j->key, leaf)) {
		snprintf(err, errlen, "the CA's certificate is not for our key");
		return -1;
	}
	if ((f = x509_facts_from_cert(leaf, err, errlen)) == NULL)
		return -1;
	if ((inter = intermediates_pem(chain)) == NULL ||
	    (j->renewal && cert_seal_key(is->d, j->key, "certificates", c->id,
	    &sealed, &sealed_len, &e) == -1)) {
		snprintf(err, errlen, "%s", inter ? e.msg : "out of memory");
		x509_facts_free(f);
		free(inter);
		return -1;
	}
	if (write_begin(is, err, errlen) == -1) {
		x509_facts_free(f);
		free(inter);
		free(sealed);
		return -1;
	}
	ok = c->facts == NULL || store_cert_version_add(is->d->store, c, now,
	    err, errlen) == 0;
	x509_facts_free(c->facts);
	c->facts = f;
	free(c->chain_pem);
	c->chain_pem = inter;
	if (j->renewal) {
		free(c->key_sealed);
		c->key_sealed = sealed;
		c->key_sealed_len = sealed_len;
		set_str(&c->csr_pem, j->order->csr_pem);
	}
	memcpy(c->status, "active", 7);
	c->failures = 0;
	set_str(&c->last_error, NULL);
	set_str(&c->problem_type, NULL);
	c->next_renewal_at = renewal_time(f, c->renew_days, now);
	c->next_attempt_at = c->next_renewal_at;
	c->updated_at = now;
	set_str(&j->order->status, "valid");
	set_str(&j->order->step, "done");
	set_str(&j->order->serial_number, f->serial_number);
	j->order->finished_at = now;
	ok = ok && store_cert_update(is->d->store, c, err, errlen) == 0 &&
	    store_order_update(is->d->store, j->order, err, errlen) == 0 &&
	    store_techzone_remove_cert(is->d->store, c->id, NULL, err,
	    errlen) == 0 && expiry_observe(is->d, EVENT_SUBJECT_CERTIFICATE,
	    c->id, f, err, errlen) == 0 &&
	    store_deploy_due_cert(is->d->store, c->id, now, err, errlen) == 0;
	clock_rfc3339(f->valid_until, when, sizeof(when));
	esc_format(msg, sizeof(msg), "certificate %lld (%s) %s: serial %s, valid "
	    "until %s (%lld ms)", (long long)c->id, c->domain, j->renewal ?
	    "renewed" : "issued", f->serial_number ? f->serial_number : "?", when,
	    (long long)(clock_mono_ms() - j->started_ms));
	if (write_end(is, ok, j->renewal ? "cert_renewed" : "cert_issued", c,
	    msg) == -1) {
		if (ok)
			snprintf(err, errlen, "cannot record the event");
		return -1;
	}
	log_info("%s", msg);
	/* Its deploy targets were made due in the same transaction. */
	if (is->d->deployer != NULL)
		deployer_kick(is->d->deployer);
	if (j->renewal)
		is->stats.renewed++;
	else
		is->stats.issued++;
	if (j->ca != NULL)
		mcounters_add(&is->metrics.orders, j->ca->name, "valid", 1);
	return 0;
}

int64_t
issue_ari_pick(int64_t start, int64_t end, int64_t threshold, int64_t now,
    uint32_t r)
{
	int64_t at;

	if (end < start)
		return threshold;
	at = start + (int64_t)((double)(end - start) * (r / 4294967296.0));
	if (at < now)
		at = now;
	return at < threshold ? at : threshold;
}

/* The CA's suggested window (RFC 9773): a random moment in it, if sooner. */
static void
ari_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;
	struct store_cert *c = j->cert;
	uint32_t r = 0;
	int64_t at;

	j->op = NULL;
	if (res->ok && res->renewal_info != NULL) {
		(void)RAND_bytes((unsigned char *)&r, sizeof(r));
		at = issue_ari_pick(res->renewal_info->window_start,
		    res->renewal_info->window_end, c->next_renewal_at,
		    clock_now(), r);
		if (at != c->next_renewal_at) {
			c->next_renewal_at = c->next_attempt_at = at;
			store_order_free(j->order);
			j->order = NULL;
			job_save(j, NULL, NULL);
		}
	} else if (!res->ok)
		log_info("certificate %lld: no renewal window from the CA (%s); "
		    "renewing by its threshold", (long long)j->cert_id, res->err);
	job_free(j);
}

static void
download_cb(const struct acme_result *res, void *arg)
{
	struct job *j = arg;
	const struct acme_directory *dir;
	STACK_OF(X509) *chain = NULL;
	char err[1536];

	j->op = NULL;
	if (!res->ok) {
		job_fail(j, res->err, res->problem, res->retry_after);
		return;
	}
	if (x509_chain_from_pem(res->pem, res->pem_len, &chain, err,
	    sizeof(err)) == -1 || sk_X509_num(chain) == 0) {
		if (chain != NULL)
			snprintf(err, sizeof(err), "empty chain");
		sk_X509_pop_free(chain, X509_free);
		job_fail(j, "the CA's certificate chain is unusable", NULL, -1);
		return;
	}
	if (install(j, chain, err, sizeof(err)) == -1) {
		sk_X509_pop_free(chain, X509_free);
		job_fail(j, err, NULL, -1);
		return;
	}
	/* A CA with ARI says when it wants the renewal; ask it once now. */
	dir = acme_client_directory(j->client);
	if (dir != NULL && dir->renewal_info != NULL &&
	    (j->op = acme_renewal_info_get(j->client, sk_X509_value(chain, 0),
	    ari_cb, j, err, sizeof(err))) != NULL) {
		j->state = JOB_DONE;
		sk_X509_pop_free(chain, X509_free);
		return;
	}
	sk_X509_pop_free(chain, X509_free);
	j->state = JOB_DONE;
	job_free(j);
}

static void
step_download(struct job *j)
{
	char err[1536];

	if ((j->op = acme_certificate_get(j->client, j->acct_key, j->kid,
	    j->order->cert_url, download_cb, j, err, sizeof(err))) == NULL)
		job_fail(j, err, NULL, -1);
}

/* --- the step function --------------------------------------------------------- */

static const char *const job_state_names[] = {
	[JOB_CNAME] = "checking CNAMEs", [JOB_ACCOUNT] = "CA account",
	[JOB_SLOT] = "order slot", [JOB_KEY] = "new key", [JOB_ORDER] = "order",
	[JOB_AUTHZ] = "authorizations", [JOB_RESPOND] = "challenges",
	[JOB_POLL] = "polling the order", [JOB_FINALIZE] = "finalize",
	[JOB_DOWNLOAD] = "download", [JOB_DONE] = "done",
};

static void
job_step(struct job *j)
{
	log_debug("certificate %lld: %s (+%lld ms)", (long long)j->cert_id,
	    job_state_names[j->state],
	    (long long)(clock_mono_ms() - j->started_ms));
	switch (j->state) {
	case JOB_CNAME:
		step_cname(j);
		break;
	case JOB_ACCOUNT:
		step_account(j);
		break;
	case JOB_SLOT:
		step_slot(j);
		break;
	case JOB_KEY:
		step_key(j);
		break;
	case JOB_ORDER:
		step_order(j);
		break;
	case JOB_AUTHZ:
		step_authz(j);
		break;
	case JOB_RESPOND:
		step_respond(j);
		break;
	case JOB_POLL:
		step_poll(j);
		break;
	case JOB_FINALIZE:
		step_finalize(j);
		break;
	case JOB_DOWNLOAD:
		step_download(j);
		break;
	case JOB_DONE:
		break;
	}
}

/* --- starting jobs ---------------------------------------------------------------- */

static int
order_end_of(const struct store_order *o, void *arg)
{
	int64_t *end = arg;

	if (o->finished_at > *end)
		*end = o->finished_at;
	return 0;
}

/* When the certificate's last order ended (and its TXT values went). */
static int64_t
last_order_end(struct issuer *is, int64_t cert_id)
{
	int64_t end = 0;
	char err[256];

	(void)store_orders_each(is->d->store, cert_id, 2, order_end_of, &end,
	    err, sizeof(err));
	return end;
}

/* What a due certificate needs: 1 a job started, 0 nothing (row updated). */
static int
job_start(struct issuer *is, int64_t id, const char *forced)
{
	struct job *j;
	struct store_cert *c = NULL;
	struct store_order *o = NULL;
	int64_t now = clock_now();
	char err[256];
	int renewal;

	if (store_cert_get(is->d->store, id, &c, err, sizeof(err)) != 0)
		return 0;
	if (store_order_running(is->d->store, id, &o, err, sizeof(err)) == -1)
		o = NULL;
	renewal = c->facts != NULL;
	if (o == NULL && forced == NULL && strcmp(c->status, "pending") != 0 &&
	    strcmp(c->status, "error") != 0) {
		/* Active (or expired): renew when its time has come. */
		int due = c->ca_id != 0 && c->next_renewal_at != 0 &&
		    now >= c->next_renewal_at &&
		    (strcmp(c->status, "active") == 0 ||
		    strcmp(c->status, "expired") == 0);

		if (!due) {
			/* Past notAfter is expired; then nothing is due. */
			int expire = strcmp(c->status, "active") == 0 &&
			    c->facts != NULL && now > c->facts->valid_until;
			if (expire)
				memcpy(c->status, "expired", 8);
			c->next_attempt_at = expire || c->ca_id == 0 ||
			    c->next_renewal_at == 0 ? 0 : c->next_renewal_at;
			/* The status only: `expired` itself is the expiry
			 * watch's event, as for every certificate. */
			if (write_begin(is, err, sizeof(err)) == 0)
				write_end(is, store_cert_update(is->d->store, c,
				    err, sizeof(err)) == 0, NULL, c, NULL);
			store_cert_free(c);
			return 0;
		}
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->timer = evtimer_new(is->d->base, job_timer_cb, j)) == NULL ||
	    (j->names = (char **)cert_names(c, &j->nnames)) == NULL) {
		if (j != NULL && j->timer != NULL)
			event_free(j->timer);
		free(j);
		store_cert_free(c);
		store_order_free(o);
		return 0;
	}
	event_priority_set(j->timer, PRIO_DEFAULT);
	j->is = is;
	j->cert_id = id;
	j->cert = c;
	j->order = o;
	j->renewal = renewal;
	j->reason = forced ? forced : renewal ? "renew" : "issue";
	j->poll_ms = ISSUE_POLL_FIRST_MS;
	j->started_ms = clock_mono_ms();
	j->quiet_until = last_order_end(is, id) + TECHZONE_TXT_TTL + 1;
	LIST_INSERT_HEAD(&is->jobs, j, entry);
	is->njobs++;
	/* Leased: the next tick leaves it alone while the job runs. */
	c->next_attempt_at = now + ISSUE_LEASE_SECS;
	if (job_save(j, NULL, NULL) == -1) {
		job_free(j);
		return 0;
	}
	/* A resumed order skips the CNAME check it already passed. */
	j->state = o != NULL ? JOB_ACCOUNT : JOB_CNAME;
	job_step(j);
	return 1;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct issuer *is = arg;
	int64_t ids[ISSUE_DUE_BATCH], next = 0, now;
	size_t n = 0, taken = 0;
	struct timeval tv = { 1, 0 };

	if (is->d->stopping)
		return;
	if (store_certs_due(is->d->store, clock_now(), ids, ISSUE_DUE_BATCH,
	    &n) == 0)
		for (size_t i = 0; i < n && is->njobs < ISSUE_JOBS_MAX; i++)
			if (job_find(is, ids[i]) == NULL) {
				job_start(is, ids[i], NULL);
				taken++;	/* leased or rescheduled */
			}
	/*
	 * Wake when the soonest certificate is due (a CNAME re-check, a retry,
	 * a renewal), not on a fixed beat.  A full batch looks again as soon
	 * as the loop has run the events that are ready (RPCs first, by
	 * priority); a full job table in a second.
	 */
	now = clock_now();
	if (n == ISSUE_DUE_BATCH && taken > 0 && is->njobs < ISSUE_JOBS_MAX)
		tv.tv_sec = 0;
	else if (n < ISSUE_DUE_BATCH && is->njobs < ISSUE_JOBS_MAX &&
	    store_certs_next_due(is->d->store, &next) == 0)
		tv.tv_sec = next == 0 ? ISSUE_TICK_MAX_SECS : next <= now ? 1 :
		    next - now > ISSUE_TICK_MAX_SECS ? ISSUE_TICK_MAX_SECS :
		    next - now;
	evtimer_add(is->tick, &tv);
}

/* --- public ------------------------------------------------------------------------ */

struct issuer *
issuer_new(struct daemon *d, char *err, size_t errlen)
{
	struct issuer *is = calloc(1, sizeof(*is));
	int ok;

	if (is == NULL || (is->tick = evtimer_new(d->base, tick_cb, is)) == NULL) {
		free(is);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	is->d = d;
	LIST_INIT(&is->jobs);
	TAILQ_INIT(&is->slot_wait);
	LIST_INIT(&is->clients);
	LIST_INIT(&is->accounts);
	LIST_INIT(&is->revokes);
	/* Labels are CA profile names: a few, but users may add many. */
	mcounters_init(&is->metrics.orders, 256);
	mcounters_init(&is->metrics.requests, 1024);
	mcounters_init(&is->metrics.rate_limited, 128);
	hist_init(&is->metrics.duration, hist_latency_bounds,
	    hist_latency_nbounds);
	event_priority_set(is->tick, PRIO_DEFAULT);
	/* Orders a previous run left running are due now, lease or not. */
	if (store_write_begin(d->store, err, errlen) == -1) {
		issuer_free(is);
		return NULL;
	}
	ok = store_orders_resume(d->store, clock_now(), err, errlen) == 0;
	store_write_end(d->store, ok);
	if (!ok) {
		issuer_free(is);
		return NULL;
	}
	issuer_kick(is);
	return is;
}

void
issuer_free(struct issuer *is)
{
	struct issue_client *c;
	struct issue_account *a;

	if (is == NULL)
		return;
	struct revoke_job *r;

	/* Leases are given back: after a restart the work is due at once. */
	while (!LIST_EMPTY(&is->jobs)) {
		struct job *j = LIST_FIRST(&is->jobs);

		if (j->cert != NULL && j->state != JOB_DONE) {
			j->cert->next_attempt_at = clock_now();
			job_save(j, NULL, NULL);
		}
		job_free(j);
	}
	while ((r = LIST_FIRST(&is->revokes)) != NULL) {
		struct cf_err e = { 0 };

		LIST_REMOVE(r, entry);
		acme_op_cancel(r->op);
		cf_err_set(&e, WIRE_UNAVAILABLE, "certfleetd is stopping; the "
		    "revocation of certificate %lld may not have reached the CA",
		    (long long)r->cert_id);
		r->done(&e, r->arg);
		free(r);
	}
	while ((c = LIST_FIRST(&is->clients)) != NULL) {
		LIST_REMOVE(c, entry);
		acme_client_free(c->acme);
		free(c);
	}
	while ((a = LIST_FIRST(&is->accounts)) != NULL) {
		LIST_REMOVE(a, entry);
		EVP_PKEY_free(a->key);
		free(a->kid);
		free(a);
	}
	event_free(is->tick);
	mcounters_free(&is->metrics.orders);
	mcounters_free(&is->metrics.requests);
	mcounters_free(&is->metrics.rate_limited);
	free(is);
}

void
issuer_kick(struct issuer *is)
{
	if (is != NULL)
		event_active(is->tick, EV_TIMEOUT, 0);
}

int
issuer_busy(const struct issuer *is, int64_t cert_id)
{
	return is != NULL && job_find((struct issuer *)is, cert_id) != NULL;
}

void
issuer_forget(struct issuer *is, int64_t cert_id)
{
	struct job *j;

	if (is != NULL && (j = job_find(is, cert_id)) != NULL) {
		unpublish(j);
		job_free(j);
	}
}

int
issuer_renew(struct issuer *is, int64_t cert_id, struct cf_err *e)
{
	struct store_cert *c = NULL;
	int rc;

	rc = store_cert_get(is->d->store, cert_id, &c, e->msg, sizeof(e->msg));
	if (cf_err_store(e, rc, "no certificate %lld", (long long)cert_id) != 0)
		return -1;
	if (strcmp(c->status, "draft") == 0 || strcmp(c->status, "revoked") == 0 ||
	    c->ca_id == 0 || c->facts == NULL) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "certificate %lld is %s%s: "
		    "only an issued certificate with a CA profile can be renewed",
		    (long long)cert_id, c->status, c->ca_id == 0 ?
		    " without a CA profile" : "");
		store_cert_free(c);
		return -1;
	}
	store_cert_free(c);
	if (job_find(is, cert_id) != NULL)
		return cf_err_set(e, WIRE_ALREADY_EXISTS, "certificate %lld is "
		    "already being worked on", (long long)cert_id);
	if (!job_start(is, cert_id, "forced"))
		return cf_err_set(e, WIRE_UNAVAILABLE, "cannot start the renewal "
		    "of certificate %lld", (long long)cert_id);
	return 0;
}

static void
revoke_cb(const struct acme_result *res, void *arg)
{
	struct revoke_job *r = arg;
	struct issuer *is = r->is;
	struct store_cert *c = NULL;
	struct cf_err e = { 0 };
	char err[256], msg[512];

	r->op = NULL;
	LIST_REMOVE(r, entry);
	if (!res->ok && !(res->problem && acme_problem_is(res->problem,
	    "alreadyRevoked")))
		cf_err_set(&e, WIRE_FAILED_PRECONDITION, "the CA refused the "
		    "revocation: %s", res->err);
	else if (store_cert_get(is->d->store, r->cert_id, &c, err,
	    sizeof(err)) != 0)
		cf_err_set(&e, WIRE_NOT_FOUND, "certificate %lld is gone",
		    (long long)r->cert_id);
	else {
		memcpy(c->status, "revoked", 8);
		c->next_attempt_at = 0;
		c->updated_at = clock_now();
		esc_format(msg, sizeof(msg), "certificate %lld (%s) revoked",
		    (long long)c->id, c->domain);
		if (write_begin(is, err, sizeof(err)) == -1 ||
		    write_end(is, store_cert_update(is->d->store, c, err,
		    sizeof(err)) == 0, "cert_revoked", c, msg) == -1)
			cf_err_set(&e, WIRE_UNAVAILABLE, "revoked, but not "
			    "recorded: %s", err);
		else
			log_info("%s", msg);
	}
	store_cert_free(c);
	r->done(e.code ? &e : NULL, r->arg);
	free(r);
}

int
issuer_revoke(struct issuer *is, int64_t cert_id, int reason,
    issuer_done_fn *done, void *arg, struct cf_err *e)
{
	struct job *j;
	struct revoke_job *r;
	unsigned char *der = NULL;
	char err[1536];
	int len, rc = -1;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	/* A job shell only to reuse the account step's loading. */
	j->is = is;
	rc = store_cert_get(is->d->store, cert_id, &j->cert, e->msg,
	    sizeof(e->msg));
	if (cf_err_store(e, rc, "no certificate %lld", (long long)cert_id) != 0) {
		free(j);
		return -1;
	}
	rc = -1;
	if (j->cert->facts == NULL || j->cert->ca_id == 0 ||
	    strcmp(j->cert->status, "revoked") == 0) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "certificate %lld is %s%s: "
		    "only an issued certificate with a CA profile can be revoked",
		    (long long)cert_id, j->cert->status, j->cert->ca_id == 0 ?
		    " without a CA profile" : "");
		goto out;
	}
	if (store_ca_get_id(is->d->store, j->cert->ca_id, &j->ca, err,
	    sizeof(err)) != 0 ||
	    (j->client = client_for(is, j->ca, err, sizeof(err))) == NULL) {
		cf_err_set(e, WIRE_FAILED_PRECONDITION, "the CA profile is "
		    "unusable");
		goto out;
	}
	{
		struct store_account *a = NULL;
		struct cf_err ke = { 0 };

		if (store_account_get(is->d->store, j->ca->id, j->cert->email ?
		    j->cert->email : "", &a, err, sizeof(err)) != 0 ||
		    a->account_url == NULL ||
		    (j->acct_key = cert_unseal_key(is->d, a->key_sealed,
		    a->key_sealed_len, "acme_accounts", a->id, &ke)) == NULL ||
		    (j->kid = strdup(a->account_url)) == NULL) {
			store_account_free(a);
			cf_err_set(e, WIRE_FAILED_PRECONDITION, "no CA account "
			    "to revoke certificate %lld with", (long long)cert_id);
			goto out;
		}
		store_account_free(a);
	}
	{
		BIO *bio = BIO_new_mem_buf(j->cert->facts->pem, -1);
		X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

		BIO_free(bio);
		len = x ? i2d_X509(x, &der) : -1;
		X509_free(x);
	}
	if (len <= 0 || (r = calloc(1, sizeof(*r))) == NULL) {
		OPENSSL_free(der);
		cf_err_set(e, WIRE_INTERNAL, "cannot encode the certificate");
		goto out;
	}
	r->is = is;
	r->cert_id = cert_id;
	r->reason = reason;
	r->done = done;
	r->arg = arg;
	if ((r->op = acme_revoke(j->client, j->acct_key, j->kid, der,
	    (size_t)len, reason, revoke_cb, r, err, sizeof(err))) == NULL) {
		cf_err_set(e, WIRE_UNAVAILABLE, "%s", err);
		free(r);
	} else {
		LIST_INSERT_HEAD(&is->revokes, r, entry);
		rc = 0;
	}
	OPENSSL_free(der);
out:
	store_cert_free(j->cert);
	store_ca_free(j->ca);
	EVP_PKEY_free(j->acct_key);
	free(j->kid);
	free(j);
	return rc;
}

const struct issuer_metrics *
issuer_metrics(const struct issuer *is)
{
	return &is->metrics;
}

void
issuer_stats(const struct issuer *is, struct issuer_stats *st)
{
	*st = is->stats;
	st->jobs = is->njobs;
}
