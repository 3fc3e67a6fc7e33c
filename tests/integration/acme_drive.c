/*
 * Test driver: runs a whole ACME order through daemon/acme.c on a real
 * event_base against a real CA (pebble): account lookup that must fail,
 * account, lookup, order, authorizations, challenges, polling with backoff,
 * finalize with a keystore CSR, chain download, key and name checks,
 * re-finalize and re-revoke errors, revoke, ARI, and an order for an ACME
 * profile pebble (2.4, no profiles extension) does not offer, refused
 * before it is sent.  The driver is itself a
 * state machine, as the lifecycle module will be: every step starts from
 * what the previous one returned, by URL.  Prints one "step key=value..."
 * line per step for the shell test, "FAIL ..." for each broken promise, and
 * exits 0 only when every check held.
 *
 *   acme_drive DIRECTORY_URL CA_FILE [--fetches N] [--eab KID:KEY] NAME...
 *
 *   acme_drive --get URL CA_FILE
 *
 * fetches one URL with http.c alone and prints "get status=N len=N" or
 * "get error=SENTENCE" (for the body cap against a server that sends no
 * length).  With --eab, the account is first asked for without EAB (refused before
 * any request, the directory requiring it) and with a wrong MAC key
 * (refused by the CA), then made with the right one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "daemon.h"
#include "http.h"
#include "keystore.h"
#include "log.h"

#define NAMES_MAX	8
#define POLLS_MAX	60
#define BACKOFF_START_MS 100
#define BACKOFF_MAX_MS	2000

enum drive_state {
	D_LOOKUP_MISSING = 0,	/* onlyReturnExisting before any account */
	D_ACCOUNT_NO_EAB,	/* --eab: without it, refused locally */
	D_ACCOUNT_BAD_EAB,	/* --eab: a wrong MAC key, refused by the CA */
	D_ACCOUNT,
	D_LOOKUP,
	D_ORDER_PROFILE,	/* an ACME profile pebble does not offer */
	D_ORDER,
	D_AUTHZ_FETCH,		/* each authz: find its dns-01 challenge */
	D_CHALLENGE,		/* each authz: answer it */
	D_AUTHZ_POLL,		/* each authz: until valid */
	D_ORDER_READY,		/* poll the order until ready */
	D_FINALIZE,
	D_ORDER_VALID,		/* poll the order until valid */
	D_CERT,
	D_REFINALIZE,		/* finalizing a valid order: a problem */
	D_REVOKE,
	D_REREVOKE,		/* revoking twice: a problem */
	D_ARI,
	D_FETCHES,		/* --fetches: POST-as-GET in a row */
	D_DONE,
};

struct drive {
	struct event_base	*base;
	struct acme_client	*client;
	enum drive_state	 state;
	const struct acme_result *res;	/* the answer being handled */
	EVP_PKEY		*account_key, *cert_key;
	char			 kid[ACME_URL_MAX + 1];
	char			 order_url[ACME_URL_MAX + 1];
	char			 finalize_url[ACME_URL_MAX + 1];
	char			 cert_url[ACME_URL_MAX + 1];
	char			 thumbprint[64];
	char			*authz[NAMES_MAX];
	char			*chall[NAMES_MAX];
	size_t			 nauthz, idx;
	const char		*names[NAMES_MAX];
	size_t			 nnames;
	X509			*leaf;
	int			 polls, backoff_ms, fetches, fetched;
	struct event		*timer;
	int			 fails;
	int			 rc;
	char			*eab_kid, *eab_key;
};

static void drive_step(struct drive *d);

static void
fail(struct drive *d, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	d->fails++;
}

/* A broken step ends the run: later steps depend on it. */
static void
stop(struct drive *d, const char *fmt, const char *err)
{
	fail(d, fmt, err ? err : "(no error)");
	d->state = D_DONE;
	event_base_loopbreak(d->base);
}

static void
drive_cb(const struct acme_result *res, void *arg)
{
	struct drive *d = arg;

	d->res = res;
	drive_step(d);
	d->res = NULL;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	drive_step(arg);
}

/* Polls again after Retry-After, else after a doubling backoff. */
static void
poll_later(struct drive *d, int64_t retry_after)
{
	struct timeval tv;
	long ms = retry_after >= 0 ? (long)retry_after * 1000 : d->backoff_ms;

	if (++d->polls > POLLS_MAX) {
		stop(d, "gave up polling after %s attempts", "60");
		return;
	}
	d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    d->backoff_ms * 2;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(d->timer, &tv);
}

static void
poll_reset(struct drive *d)
{
	d->polls = 0;
	d->backoff_ms = BACKOFF_START_MS;
}

static void
copy_url(char *dst, const char *src)
{
	snprintf(dst, ACME_URL_MAX + 1, "%s", src ? src : "");
}

/* Every start either gives an op or ends the run. */
static void
started(struct drive *d, struct acme_op *op, const char *err)
{
	if (op == NULL)
		stop(d, "could not start a step: %s", err);
}

static void
print_problem(const char *step, const struct acme_result *r)
{
	printf("%s problem=%s http=%ld\n", step,
	    r->problem ? r->problem->type : "none", r->http_status);
}

static void
check_certificate(struct drive *d, const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0, ok = 1;

	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (n++ == 0)
			d->leaf = x;
		else
			X509_free(x);
	}
	ERR_clear_error();
	BIO_free(bio);
	if (d->leaf == NULL) {
		stop(d, "no certificate in the chain: %s", "");
		return;
	}
	for (size_t i = 0; i < d->nnames; i++)
		if (X509_check_host(d->leaf, d->names[i], 0, 0, NULL) != 1) {
			fail(d, "the leaf does not name %s", d->names[i]);
			ok = 0;
		}
	printf("certificate chain_certs=%d key_match=%d names_ok=%d\n", n,
	    keystore_key_matches_cert(d->cert_key, d->leaf), ok);
	if (!keystore_key_matches_cert(d->cert_key, d->leaf))
		fail(d, "the leaf is not for our key");
	if (keystore_key_matches_cert(d->account_key, d->leaf))
		fail(d, "the leaf matches the account key");
	if (n < 2)
		fail(d, "the chain has no intermediate");
}

/* eab NULL: none; kid NULL inside: none, and --eab not in use. */
static void
start_account(struct drive *d, const struct acme_eab *eab)
{
	const char *contact[] = { "mailto:ops@certfleet.test" };
	char err[512];

	if (eab != NULL && eab->kid == NULL)
		eab = NULL;
	started(d, acme_account_new(d->client, d->account_key, contact, 1, 1,
	    eab, 0, drive_cb, d, err, sizeof(err)), err);
}

static void
start_finalize(struct drive *d)
{
	unsigned char *der = NULL;
	size_t len;
	char err[256];
	X509_REQ *req;

	req = keystore_make_csr(d->cert_key, d->names, d->nnames, err,
	    sizeof(err));
	if (req == NULL || keystore_csr_to_der(req, &der, &len, err,
	    sizeof(err)) == -1) {
		X509_REQ_free(req);
		stop(d, "CSR: %s", err);
		return;
	}
	X509_REQ_free(req);
	started(d, acme_finalize(d->client, d->account_key, d->kid,
	    d->finalize_url, der, len, drive_cb, d, err, sizeof(err)), err);
	free(der);
}

static void
start_revoke(struct drive *d)
{
	unsigned char *der = NULL;
	char err[256];
	int len = i2d_X509(d->leaf, &der);

	if (len <= 0) {
		stop(d, "encoding the leaf failed%s", "");
		return;
	}
	/* 4: superseded */
	started(d, acme_revoke(d->client, d->account_key, d->kid, der,
	    (size_t)len, 4, drive_cb, d, err, sizeof(err)), err);
	OPENSSL_free(der);
}

/* --fetches: POST-as-GET the order again and again (nonce pool, badNonce). */
static void
next_fetch(struct drive *d)
{
	char err[512];

	if (d->fetches-- > 0) {
		started(d, acme_fetch(d->client, d->account_key, d->kid,
		    d->order_url, ACME_DOC_ORDER, drive_cb, d, err,
		    sizeof(err)), err);
		return;
	}
	d->state = D_DONE;
	event_base_loopbreak(d->base);
}

static void
drive_step(struct drive *d)
{
	const struct acme_result *r = d->res;
	char err[512], txt[64];
	const struct acme_challenge *ch;

	switch (d->state) {
	case D_LOOKUP_MISSING:
		if (r == NULL) {
			started(d, acme_account_new(d->client, d->account_key,
			    NULL, 0, 0, NULL, 1, drive_cb, d, err, sizeof(err)),
			    err);
			return;
		}
		print_problem("lookup_missing", r);
		if (r->ok || !acme_problem_is(r->problem,
		    "accountDoesNotExist"))
			fail(d, "looking up an unknown account: %s", r->err);
		if (d->eab_kid != NULL) {
			d->state = D_ACCOUNT_NO_EAB;
			start_account(d, NULL);
			return;
		}
		d->state = D_ACCOUNT;
		start_account(d, &(struct acme_eab){ NULL, NULL });
		return;
	case D_ACCOUNT_NO_EAB:
		printf("account_no_eab ok=%d http=%ld err=%s\n", r->ok,
		    r->http_status, r->err ? r->err : "");
		if (r->ok || r->http_status != 0)
			fail(d, "an account without EAB was not refused locally");
		d->state = D_ACCOUNT_BAD_EAB;
		/* Valid base64url, the wrong 32 bytes. */
		start_account(d, &(struct acme_eab){ d->eab_kid,
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
		return;
	case D_ACCOUNT_BAD_EAB:
		print_problem("account_bad_eab", r);
		if (r->ok || r->problem == NULL)
			fail(d, "a wrong EAB MAC key was not refused: %s", r->err);
		d->state = D_ACCOUNT;
		start_account(d, &(struct acme_eab){ d->eab_kid, d->eab_key });
		return;
	case D_ACCOUNT:
		if (!r->ok) {
			stop(d, "newAccount: %s", r->err);
			return;
		}
		copy_url(d->kid, r->account_url);
		printf("account http=%ld status=%s\n", r->http_status,
		    acme_status_name(r->account->status));
		d->state = D_LOOKUP;
		started(d, acme_account_new(d->client, d->account_key, NULL, 0,
		    0, NULL, 1, drive_cb, d, err, sizeof(err)), err);
		return;
	case D_LOOKUP:
		if (!r->ok) {
			stop(d, "account lookup: %s", r->err);
			return;
		}
		printf("lookup same_kid=%d http=%ld\n",
		    strcmp(r->account_url, d->kid) == 0, r->http_status);
		if (strcmp(r->account_url, d->kid) != 0)
			fail(d, "the lookup found another account");
		d->state = D_ORDER_PROFILE;
		started(d, acme_order_new(d->client, d->account_key, d->kid,
		    d->names, d->nnames, "classic", drive_cb, d, err,
		    sizeof(err)), err);
		return;
	case D_ORDER_PROFILE:
		printf("order_profile ok=%d http=%ld err=%s\n", r->ok,
		    r->http_status, r->err ? r->err : "");
		if (r->ok || r->http_status != 0)
			fail(d, "an order for a profile the CA does not offer "
			    "was not refused locally");
		d->state = D_ORDER;
		started(d, acme_order_new(d->client, d->account_key, d->kid,
		    d->names, d->nnames, NULL, drive_cb, d, err, sizeof(err)),
		    err);
		return;
	case D_ORDER:
		if (!r->ok) {
			stop(d, "newOrder: %s", r->err);
			return;
		}
		copy_url(d->order_url, r->location);
		copy_url(d->finalize_url, r->order->finalize);
		printf("order status=%s identifiers=%zu authorizations=%zu\n",
		    acme_status_name(r->order->status),
		    r->order->nidentifiers, r->order->nauthorizations);
		for (size_t i = 0; i < r->order->nauthorizations &&
		    i < NAMES_MAX; i++)
			d->authz[d->nauthz++] = strdup(r->order->authorizations[i]);
		if (d->nauthz != d->nnames)
			fail(d, "%zu authorizations for %zu names", d->nauthz,
			    d->nnames);
		d->idx = 0;
		d->state = D_AUTHZ_FETCH;
		started(d, acme_fetch(d->client, d->account_key, d->kid,
		    d->authz[0], ACME_DOC_AUTHZ, drive_cb, d, err, sizeof(err)),
		    err);
		return;
	case D_AUTHZ_FETCH:
		if (!r->ok) {
			stop(d, "authorization: %s", r->err);
			return;
		}
		if ((ch = acme_authz_challenge(r->authz, "dns-01")) == NULL ||
		    ch->token == NULL) {
			stop(d, "no dns-01 challenge for %s",
			    r->authz->identifier.value);
			return;
		}
		d->chall[d->idx] = strdup(ch->url);
		if (acme_dns01_txt(ch->token, d->thumbprint, txt,
		    sizeof(txt)) == -1)
			fail(d, "no TXT value for the token");
		printf("authz name=%s status=%s txt_len=%zu\n",
		    r->authz->identifier.value,
		    acme_status_name(r->authz->status), strlen(txt));
		d->state = D_CHALLENGE;
		started(d, acme_challenge_respond(d->client, d->account_key,
		    d->kid, d->chall[d->idx], drive_cb, d, err, sizeof(err)),
		    err);
		return;
	case D_CHALLENGE:
		if (!r->ok) {
			stop(d, "challenge: %s", r->err);
			return;
		}
		printf("challenge status=%s\n",
		    acme_status_name(r->challenge->status));
		if (++d->idx < d->nauthz) {
			d->state = D_AUTHZ_FETCH;
			started(d, acme_fetch(d->client, d->account_key, d->kid,
			    d->authz[d->idx], ACME_DOC_AUTHZ, drive_cb, d, err,
			    sizeof(err)), err);
			return;
		}
		d->idx = 0;
		poll_reset(d);
		d->state = D_AUTHZ_POLL;
		started(d, acme_fetch(d->client, d->account_key, d->kid,
		    d->authz[0], ACME_DOC_AUTHZ, drive_cb, d, err, sizeof(err)),
		    err);
		return;
	case D_AUTHZ_POLL:
		if (r == NULL) {	/* the poll timer */
			started(d, acme_fetch(d->client, d->account_key, d->kid,
			    d->authz[d->idx], ACME_DOC_AUTHZ, drive_cb, d, err,
			    sizeof(err)), err);
			return;
		}
		if (!r->ok) {
			stop(d, "polling an authorization: %s", r->err);
			return;
		}
		if (r->authz->status == ACME_ST_PENDING) {
			poll_later(d, r->retry_after);
			return;
		}
		printf("authz_final name=%s status=%s polls=%d\n",
		    r->authz->identifier.value,
		    acme_status_name(r->authz->status), d->polls);
		if (r->authz->status != ACME_ST_VALID) {
			stop(d, "authorization ended %s",
			    acme_status_name(r->authz->status));
			return;
		}
		if (++d->idx < d->nauthz) {
			poll_reset(d);
			started(d, acme_fetch(d->client, d->account_key, d->kid,
			    d->authz[d->idx], ACME_DOC_AUTHZ, drive_cb, d, err,
			    sizeof(err)), err);
			return;
		}
		poll_reset(d);
		d->state = D_ORDER_READY;
		/* FALLTHROUGH */
	case D_ORDER_READY:
		if (r == NULL || r->authz != NULL) {
			started(d, acme_fetch(d->client, d->account_key, d->kid,
			    d->order_url, ACME_DOC_ORDER, drive_cb, d, err,
			    sizeof(err)), err);
			return;
		}
		if (!r->ok) {
			stop(d, "polling the order: %s", r->err);
			return;
		}
		if (r->order->status == ACME_ST_PENDING) {
			poll_later(d, r->retry_after);
			return;
		}
		printf("order_ready status=%s\n",
		    acme_status_name(r->order->status));
		if (r->order->status != ACME_ST_READY) {
			stop(d, "the order ended %s",
			    acme_status_name(r->order->status));
			return;
		}
		d->state = D_FINALIZE;
		start_finalize(d);
		return;
	case D_FINALIZE:
		if (!r->ok) {
			stop(d, "finalize: %s", r->err);
			return;
		}
		printf("finalize status=%s\n",
		    acme_status_name(r->order->status));
		poll_reset(d);
		d->state = D_ORDER_VALID;
		if (r->order->status != ACME_ST_VALID) {
			poll_later(d, r->retry_after);
			return;
		}
		/* FALLTHROUGH */
	case D_ORDER_VALID:
		if (r == NULL) {
			started(d, acme_fetch(d->client, d->account_key, d->kid,
			    d->order_url, ACME_DOC_ORDER, drive_cb, d, err,
			    sizeof(err)), err);
			return;
		}
		if (!r->ok) {
			stop(d, "polling the order: %s", r->err);
			return;
		}
		if (r->order->status == ACME_ST_PROCESSING) {
			poll_later(d, r->retry_after);
			return;
		}
		if (r->order->status != ACME_ST_VALID) {
			stop(d, "the order ended %s",
			    acme_status_name(r->order->status));
			return;
		}
		copy_url(d->cert_url, r->order->certificate);
		printf("order_valid\n");
		d->state = D_CERT;
		started(d, acme_certificate_get(d->client, d->account_key,
		    d->kid, d->cert_url, drive_cb, d, err, sizeof(err)), err);
		return;
	case D_CERT:
		if (!r->ok) {
			stop(d, "certificate: %s", r->err);
			return;
		}
		check_certificate(d, r->pem, r->pem_len);
		if (d->state == D_DONE)
			return;
		d->state = D_REFINALIZE;
		start_finalize(d);
		return;
	case D_REFINALIZE:
		print_problem("refinalize", r);
		if (r->ok || r->problem == NULL)
			fail(d, "finalizing a valid order was not refused");
		else
			printf("refinalize_err %s\n", r->err);
		d->state = D_REVOKE;
		start_revoke(d);
		return;
	case D_REVOKE:
		printf("revoke ok=%d http=%ld\n", r->ok, r->http_status);
		if (!r->ok)
			fail(d, "revoke: %s", r->err);
		d->state = D_REREVOKE;
		start_revoke(d);
		return;
	case D_REREVOKE:
		print_problem("rerevoke", r);
		if (r->ok || !acme_problem_is(r->problem, "alreadyRevoked"))
			fail(d, "revoking twice: %s", r->err ? r->err : "ok");
		d->state = D_ARI;
		{
			struct acme_op *op = acme_renewal_info_get(d->client,
			    d->leaf, drive_cb, d, err, sizeof(err));

			if (op == NULL)
				stop(d, "ARI: %s", err);
		}
		return;
	case D_ARI:
		/* pebble 2.4 has no renewalInfo: the op must say so. */
		printf("ari ok=%d has_renewal_info=%d\n", r->ok,
		    acme_client_directory(d->client)->renewal_info != NULL);
		if (!r->ok)
			printf("ari_err %s\n", r->err);
		d->state = D_FETCHES;
		next_fetch(d);
		return;
	case D_FETCHES:
		if (r->ok && r->order != NULL)
			d->fetched++;
		else
			fail(d, "fetch: %s", r->err ? r->err : "no order");
		next_fetch(d);
		return;
	case D_DONE:
		return;
	}
}

static void
get_cb(const struct http_response *resp, const char *err, void *arg)
{
	if (resp != NULL)
		printf("get status=%ld len=%zu\n", resp->status, resp->body_len);
	else
		printf("get error=%s\n", err);
	event_base_loopbreak(arg);
}

/* --get: one plain request through http.c. */
static int
get_main(const char *url, const char *ca_file)
{
	struct event_base *base = event_base_new();
	struct http_request r = { .method = HTTP_GET, .url = url,
	    .ca_file = ca_file, .timeout_ms = 20000 };
	struct http *http;
	char err[512];

	if (base == NULL || (http = http_new(base, err, sizeof(err))) == NULL)
		return 1;
	if (http_request(http, &r, get_cb, base, err, sizeof(err)) == NULL)
		printf("get error=%s\n", err);
	else
		event_base_dispatch(base);
	http_free(http);
	event_base_free(base);
	return 0;
}

int
main(int argc, char **argv)
{
	struct drive d = { .backoff_ms = BACKOFF_START_MS };
	struct acme_client_conf conf = { 0 };
	struct acme_stats st;
	struct http *http = NULL;
	char err[512];
	int i = 3;

	if (argc < 4) {
		fprintf(stderr, "usage: acme_drive DIRECTORY_URL CA_FILE "
		    "[--fetches N] [--eab KID:KEY] NAME...\n");
		return 2;
	}
	log_init("acme_drive");
	if (strcmp(argv[1], "--get") == 0)
		return get_main(argv[2], argv[3]);
	conf.directory_url = argv[1];
	conf.ca_file = argv[2];
	conf.connect_timeout_ms = 5000;
	conf.timeout_ms = 20000;
	for (;;) {
		if (strcmp(argv[i], "--fetches") == 0 && i + 2 < argc) {
			d.fetches = atoi(argv[i + 1]);
			i += 2;
		} else if (strcmp(argv[i], "--eab") == 0 && i + 2 < argc &&
		    strchr(argv[i + 1], ':') != NULL) {
			d.eab_kid = argv[i + 1];
			d.eab_key = strchr(argv[i + 1], ':');
			*d.eab_key++ = '\0';
			i += 2;
		} else
			break;
	}
	for (; i < argc && d.nnames < NAMES_MAX; i++)
		d.names[d.nnames++] = argv[i];
	if ((d.base = event_base_new()) == NULL)
		return 1;
	event_base_priority_init(d.base, PRIO_COUNT);
	d.timer = evtimer_new(d.base, timer_cb, &d);
	d.account_key = keystore_generate(KEY_EC256, err, sizeof(err));
	d.cert_key = keystore_generate(KEY_EC256, err, sizeof(err));
	if (d.account_key == NULL || d.cert_key == NULL ||
	    acme_thumbprint(d.account_key, d.thumbprint, sizeof(d.thumbprint),
	    err, sizeof(err)) == -1 ||
	    (http = http_new(d.base, err, sizeof(err))) == NULL ||
	    (d.client = acme_client_new(d.base, http, &conf, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "acme_drive: %s\n", err);
		return 1;
	}
	drive_step(&d);
	if (d.state != D_DONE)
		event_base_dispatch(d.base);
	if (d.state != D_DONE)
		fail(&d, "the loop ended in state %d", (int)d.state);
	acme_client_stats(d.client, &st);
	printf("stats requests=%llu bad_nonce_retries=%llu nonce_fetches=%llu "
	    "directory_fetches=%llu fetched=%d\n",
	    (unsigned long long)st.requests,
	    (unsigned long long)st.bad_nonce_retries,
	    (unsigned long long)st.nonce_fetches,
	    (unsigned long long)st.directory_fetches, d.fetched);
	printf("%s\n", d.fails ? "failed" : "done");
	acme_client_free(d.client);
	http_free(http);
	for (size_t k = 0; k < d.nauthz; k++) {
		free(d.authz[k]);
		free(d.chall[k]);
	}
	X509_free(d.leaf);
	EVP_PKEY_free(d.account_key);
	EVP_PKEY_free(d.cert_key);
	event_free(d.timer);
	event_base_free(d.base);
	return d.fails ? 1 : 0;
}
