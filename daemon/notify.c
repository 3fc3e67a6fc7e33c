/*
 * Notification sinks and their delivery (notify.h).  The first half checks
 * and stores sinks; the second is the runner: a timer at the soonest due
 * delivery, woken also by every commit of events, that leases due rows per
 * sink within that sink's slots and delivers each through its own async
 * operation (a webhook POST on the loop's libcurl multi, one e-mail for a
 * burst of events, or a command through proc.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "certfleet/escape.h"
#include "clock.h"
#include "daemon.h"
#include "event.h"
#include "http.h"
#include "keystore.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "schedule.h"
#include "store.h"
#include "store_events.h"

#define SECRET_PREFIX		"whsec_"
#define SECRET_BYTES		32		/* made here */
#define SECRET_MIN		24		/* given: at least */
#define SECRET_MAX		64
#define RECIPIENTS_MAX		20
#define ADDRESS_MAX		254
#define WEBHOOK_TIMEOUT		10
#define EXEC_TIMEOUT		60
#define MAIL_TIMEOUT		60
#define TIMEOUT_MAX		3600
/* Deliveries under way per sink: a webhook keeps this many connections
 * alive; a command runs so many at once; mail goes one message a time. */
#define SLOTS_WEBHOOK		16
#define SLOTS_EXEC		4
#define SLOTS_EMAIL		1
/* A lease outlives the attempt's own timeout by this much. */
#define LEASE_SLACK		30
/* The runner looks at the outbox at least this often (seconds). */
#define NOTIFY_REARM_MAX	60

static void sinks_changed(struct daemon *d);

/* --- sinks -------------------------------------------------------------- */

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NOTIFY_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    strchr("-_.", s[i]) == NULL)
			return 0;
	return 1;
}

/* A mailbox as SMTP takes it: local@domain, printable ASCII, no space,
 * quote, angle bracket or comma (nothing that reads as a second one). */
static int
address_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);

	if (n == 0 || n > ADDRESS_MAX || at == NULL || at == s ||
	    at == s + n - 1 || memchr(at + 1, '@', (size_t)(s + n - at - 1)))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    strchr("<>\"(),;:\\[]", s[i]) != NULL)
			return 0;
	return 1;
}

/* "a@x,b@y": each checked; -1 with e naming the bad one. */
static int
recipients_ok(const char *list, struct cf_err *e)
{
	const char *p = list, *comma;
	size_t n = 0;
	char q[96];

	if (list == NULL || *list == '\0')
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: the "
		    "recipient list is empty");
	for (;; p = comma + 1) {
		size_t len;

		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (!address_ok(p, len)) {
			esc_term(q, sizeof(q), p, len, 64, NULL);
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: '%s' "
			    "is not an e-mail address (local@domain)", q);
		}
		if (++n > RECIPIENTS_MAX)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: at "
			    "most %d recipients", RECIPIENTS_MAX);
		if (comma == NULL)
			return 0;
	}
}

/* An address literal in 127.0.0.0/8 or ::1; a name never is (it could
 * resolve anywhere: "127.0.0.1.nip.io"). */
static int
loopback_literal(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char v6[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof(v6) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

/*
 * A webhook URL: https://, or http:// to a loopback address literal (a
 * name could resolve anywhere).  Parsed by libcurl's own URL parser.
 */
static int
webhook_url_ok(const char *url, int *plain, struct cf_err *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	int rc = -1;

	*plain = 0;
	if (u == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	if (strlen(url) > HTTP_URL_MAX || curl_url_set(u, CURLUPART_URL, url,
	    0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme,
	    0) != CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &host, 0) !=
	    CURLUE_OK) {
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: the URL does not "
		    "parse (https://host/path)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		curl_free(user);
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: a user or password "
		    "in the URL is refused (it would be shown); use the secret");
		goto out;
	}
	if (strcmp(scheme, "https") == 0)
		rc = 0;
	else if (strcmp(scheme, "http") == 0 && loopback_literal(host)) {
		*plain = 1;
		rc = 0;
	} else
		cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: the URL must be "
		    "https:// (plain http:// only to a loopback address, "
		    "127.0.0.0/8 or [::1])");
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int
notify_secret_parse(const char *text, unsigned char *key, size_t keymax,
    size_t *keylen)
{
	size_t n, plen = strlen(SECRET_PREFIX);
	unsigned char buf[((SECRET_MAX + 2) / 3) * 3 + 3];
	int len;

	if (strncmp(text, SECRET_PREFIX, plen) != 0)
		return -1;
	text += plen;
	n = strlen(text);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)text[i]) && text[i] != '+' &&
		    text[i] != '/' && !(text[i] == '=' && i >= n - 2))
			return -1;
	if ((len = EVP_DecodeBlock(buf, (const unsigned char *)text,
	    (int)n)) < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	len -= (text[n - 1] == '=') + (text[n - 2] == '=');
	if (len < SECRET_MIN || len > SECRET_MAX || (size_t)len > keymax) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, (size_t)len);
	*keylen = (size_t)len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
notify_sign(const unsigned char *key, size_t keylen, const char *id,
    long long ts, const char *body, size_t body_len, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char head[128], *signed_text;
	int n, ok;

	n = snprintf(head, sizeof(head), "%s.%lld.", id, ts);
	if (n < 0 || (size_t)n >= sizeof(head) || outlen < 3 + 4 * 32 / 3 + 4)
		return -1;
	/* The spec signs "id.timestamp.body" as one text. */
	if ((signed_text = malloc((size_t)n + body_len)) == NULL)
		return -1;
	memcpy(signed_text, head, (size_t)n);
	memcpy(signed_text + n, body, body_len);
	ok = HMAC(EVP_sha256(), key, (int)keylen,
	    (const unsigned char *)signed_text, (size_t)n + body_len, mac,
	    &maclen) != NULL;
	free(signed_text);
	if (!ok)
		return -1;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
	return 0;
}

/* Seals plain to sinks:<id>:secret. */
static int
seal_secret(struct daemon *d, int64_t id, const void *plain, size_t len,
    struct cf_err *e)
{
	char aad[KEYSTORE_AAD_MAX], err[256];
	unsigned char *blob = NULL;
	size_t blen = 0;
	int alen, rc;

	if (d->keys == NULL)
		return cf_err_set(e, WIRE_UNAVAILABLE, "the key store is not "
		    "open");
	if ((alen = keystore_aad(aad, sizeof(aad), "sinks", id, "secret")) < 0 ||
	    keystore_seal(d->keys, plain, len, aad, (size_t)alen, &blob, &blen,
	    err, sizeof(err)) == -1)
		return cf_err_set(e, WIRE_INTERNAL, "sealing the secret failed");
	rc = store_sink_set_secret(d->store, id, blob, blen, e->msg,
	    sizeof(e->msg));
	free(blob);
	if (rc != 0)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", e->msg);
	return 0;
}

/* A new "whsec_..." secret in *text (secret: keystore_secret_free). */
static int
make_secret(char **text, size_t *len, struct cf_err *e)
{
	unsigned char raw[SECRET_BYTES];
	size_t plen = strlen(SECRET_PREFIX);

	*len = plen + 4 * ((SECRET_BYTES + 2) / 3);
	if ((*text = malloc(*len + 1)) == NULL)
		return cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		free(*text);
		return cf_err_set(e, WIRE_INTERNAL, "no randomness for a secret");
	}
	memcpy(*text, SECRET_PREFIX, plen);
	EVP_EncodeBlock((unsigned char *)*text + plen, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* The type's own parameters, checked; fills k. */
static int
check_type(const struct notify_params *p, struct store_sink *k,
    struct cf_err *e)
{
	int plain;

	if (strcmp(p->type, "webhook") == 0) {
		if (p->url == NULL)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: "
			    "parameter 'url' is required");
		if (webhook_url_ok(p->url, &plain, e) == -1)
			return -1;
		if (p->format != NULL && strcmp(p->format, "json") != 0 &&
		    strcmp(p->format, "slack") != 0)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: "
			    "format must be json or slack");
		snprintf(k->format, sizeof(k->format), "%s", p->format ?
		    p->format : "json");
		k->target = (char *)p->url;
		return 0;
	}
	if (strcmp(p->type, "email") == 0) {
		if (recipients_ok(p->recipients, e) == -1)
			return -1;
		if (p->smtp_url == NULL || (strncmp(p->smtp_url, "smtp://", 7) !=
		    0 && strncmp(p->smtp_url, "smtps://", 8) != 0) ||
		    strlen(p->smtp_url) > HTTP_URL_MAX)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: "
			    "smtp_url must be smtp://HOST[:PORT] (STARTTLS "
			    "required unless smtp_insecure) or smtps://");
		if (p->mail_from != NULL && !address_ok(p->mail_from,
		    strlen(p->mail_from)))
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: 'from' "
			    "is not an e-mail address");
		if (p->smtp_ca_file != NULL && (p->smtp_ca_file[0] != '/' ||
		    access(p->smtp_ca_file, R_OK) != 0))
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: "
			    "smtp_ca_file must be an absolute path to a readable "
			    "PEM file");
		if ((p->smtp_user == NULL) != (p->smtp_password == NULL))
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "email: "
			    "smtp_user and smtp_password go together");
		k->target = (char *)p->recipients;
		k->smtp_url = (char *)p->smtp_url;
		k->smtp_user = (char *)p->smtp_user;
		k->mail_from = (char *)p->mail_from;
		k->smtp_insecure = p->smtp_insecure;
		k->smtp_ca_file = (char *)p->smtp_ca_file;
		return 0;
	}
	if (strcmp(p->type, "exec") == 0) {
		if (p->command == NULL || *p->command == '\0' ||
		    strlen(p->command) > PROC_COMMAND_MAX)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "exec: "
			    "parameter 'command' is required (at most %d bytes)",
			    PROC_COMMAND_MAX);
		k->target = (char *)p->command;
		return 0;
	}
	return cf_err_set(e, WIRE_INVALID_ARGUMENT, "type must be webhook, "
	    "email or exec");
}

/* Everything but the secret, checked; k borrows p's strings. */
static int
check_params(const struct notify_params *p, struct store_sink *k,
    char *kinds, size_t kinds_len, struct cf_err *e)
{
	int sev = 0;

	if (p->name == NULL || !name_ok(p->name))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "name: 1..%d of "
		    "a-z 0-9 - _ ., starting with a letter or digit",
		    NOTIFY_NAME_MAX);
	if (p->type == NULL || check_type(p, k, e) == -1)
		return p->type == NULL ? cf_err_set(e, WIRE_INVALID_ARGUMENT,
		    "type must be webhook, email or exec") : -1;
	if (p->kinds != NULL && event_kinds_parse(p->kinds, kinds, kinds_len,
	    e->msg, sizeof(e->msg)) == -1) {
		e->code = WIRE_INVALID_ARGUMENT;
		return -1;
	}
	if (p->min_severity != NULL &&
	    (sev = event_severity_parse(p->min_severity)) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "min_severity must "
		    "be info, warning or critical");
	if (p->timeout < 0 || p->timeout > TIMEOUT_MAX)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "timeout must be "
		    "1..%d seconds", TIMEOUT_MAX);
	k->name = (char *)p->name;
	snprintf(k->type, sizeof(k->type), "%s", p->type);
	k->kinds = p->kinds ? kinds : NULL;
	k->min_severity = sev;
	k->timeout = p->timeout ? (int)p->timeout : strcmp(p->type,
	    "webhook") == 0 ? WEBHOOK_TIMEOUT : strcmp(p->type, "exec") == 0 ?
	    EXEC_TIMEOUT : MAIL_TIMEOUT;
	k->created_at = clock_now();
	return 0;
}

struct store_sink *
notify_add(struct daemon *d, const struct notify_params *p, char **secret_out,
    struct cf_err *e)
{
	struct store_sink k = { 0 };
	char kinds[2048], *made = NULL;
	unsigned char key[SECRET_MAX];
	size_t keylen = 0, madelen = 0;
	int rc;

	if (secret_out != NULL)
		*secret_out = NULL;
	if (check_params(p, &k, kinds, sizeof(kinds), e) == -1)
		return NULL;
	if (strcmp(k.type, "webhook") == 0 && p->secret != NULL &&
	    notify_secret_parse(p->secret, key, sizeof(key), &keylen) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "webhook: the secret "
		    "must be whsec_ followed by base64 of %d..%d bytes (the "
		    "Standard Webhooks form)", SECRET_MIN, SECRET_MAX), NULL;
	OPENSSL_cleanse(key, sizeof(key));
	if (strcmp(k.type, "webhook") == 0 && p->secret == NULL &&
	    make_secret(&made, &madelen, e) == -1)
		return NULL;
	if (store_write_begin(d->store, e->msg, sizeof(e->msg)) == -1) {
		keystore_secret_free(made, madelen);
		e->code = WIRE_UNAVAILABLE;
		return NULL;
	}
	rc = store_sink_insert(d->store, &k, e->msg, sizeof(e->msg));
	if (rc == 1)
		cf_err_set(e, WIRE_ALREADY_EXISTS, "a sink named '%s' exists "
		    "already", k.name);
	else if (rc == -1)
		e->code = WIRE_UNAVAILABLE;
	/* The webhook's secret, or the SMTP password, sealed to the row. */
	if (rc == 0 && strcmp(k.type, "webhook") == 0)
		rc = seal_secret(d, k.id, made ? made : p->secret, made ?
		    madelen : strlen(p->secret), e);
	else if (rc == 0 && p->smtp_password != NULL)
		rc = seal_secret(d, k.id, p->smtp_password,
		    strlen(p->smtp_password), e);
	store_write_end(d->store, rc == 0);
	if (rc != 0) {
		keystore_secret_free(made, madelen);
		return NULL;
	}
	log_info("notification sink '%s' (%s) added", k.name, k.type);
	if (secret_out != NULL)
		*secret_out = made;
	else
		keystore_secret_free(made, madelen);
	sinks_changed(d);
	return notify_get(d, k.name, e);
}

struct store_sink *
notify_get(struct daemon *d, const char *name, struct cf_err *e)
{
	struct store_sink *k;
	int rc;

	rc = store_sink_get(d->store, name, 0, &k, e->msg, sizeof(e->msg));
	return cf_err_store(e, rc, "no notification sink '%s'", name) == 0 ?
	    k : NULL;
}

/* One write to a sink found by name (delete, enable), then the runner
 * reads the sinks again. */
static int
sink_write(struct daemon *d, const char *name,
    int (*op)(struct store *, int64_t, char *, size_t), const char *done,
    struct cf_err *e)
{
	struct store_sink *k;
	int rc;

	if ((k = notify_get(d, name, e)) == NULL)
		return -1;
	if (store_write_begin(d->store, e->msg, sizeof(e->msg)) == -1) {
		store_sink_free(k);
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	rc = op(d->store, k->id, e->msg, sizeof(e->msg));
	store_write_end(d->store, rc == 0);
	store_sink_free(k);
	if (cf_err_store(e, rc, "no notification sink '%s'", name) != 0)
		return -1;
	log_info("notification sink '%s' %s", name, done);
	sinks_changed(d);
	return 0;
}

int
notify_delete(struct daemon *d, const char *name, struct cf_err *e)
{
	return sink_write(d, name, store_sink_delete, "deleted", e);
}

int
notify_test(struct daemon *d, const char *name, int64_t *event_id,
    struct cf_err *e)
{
	struct store_sink *k;
	struct event ev;
	char err[256];
	int rc;

	if ((k = notify_get(d, name, e)) == NULL)
		return -1;
	event_init(&ev, "notify_test", EVENT_SUBJECT_SINK, k->id);
	ev.only_sink = k->id;
	event_message(&ev, "a test of notification sink '%s' (%s): if you "
	    "read this, it works", k->name, k->type);
	event_str(&ev, "sink", k->name);
	event_str(&ev, "type", k->type);
	store_sink_free(k);
	if (store_write_begin(d->store, err, sizeof(err)) == -1) {
		event_clear(&ev);
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", err);
	}
	rc = event_record(d, &ev, err, sizeof(err));
	store_write_end(d->store, rc == 0);
	if (rc != 0)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", err);
	store_events_last_id(d->store, event_id);
	return 0;
}

int
notify_enable(struct daemon *d, const char *name, struct cf_err *e)
{
	return sink_write(d, name, store_sink_enable, "enabled", e);
}

int
notify_retry(struct daemon *d, const char *name, int64_t *n,
    struct cf_err *e)
{
	struct store_sink *k;
	int rc;

	if ((k = notify_get(d, name, e)) == NULL)
		return -1;
	if (store_write_begin(d->store, e->msg, sizeof(e->msg)) == -1) {
		store_sink_free(k);
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	rc = store_deliveries_retry(d->store, k->id, clock_now(), n, e->msg,
	    sizeof(e->msg));
	store_write_end(d->store, rc == 0);
	store_sink_free(k);
	if (rc != 0) {
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	sinks_changed(d);
	return 0;
}

/* --- the runner ----------------------------------------------------------- */

/* A sink as the runner keeps it: its row, its unsealed secret, its slots. */
struct sink_rt {
	struct store_sink	*k;
	unsigned char		*secret;	/* unsealed; wiped on free */
	size_t			 secret_len;
	int			 slots;
	int			 inflight;
	int			 gone;		/* deleted while deliveries ran */
	int			 failing;	/* its last delivery failed */
	LIST_ENTRY(sink_rt)	 entry;
};

enum dl_state {
	DL_SENDING = 0,		/* the request, mail or command is under way */
	DL_RECORDING,		/* its outcome is being written */
};

/* One delivery under way: one event (an e-mail: up to a batch of them). */
struct delivery {
	struct notify		*n;
	struct sink_rt		*rt;
	enum dl_state		 state;
	struct store_delivery	 rows[NOTIFY_MAIL_BATCH];
	unsigned char		 about_sink[NOTIFY_MAIL_BATCH];
	size_t			 nrows;
	struct http_req		*req;
	struct proc		*proc;
	LIST_ENTRY(delivery)	 entry;
};

struct notify {
	struct daemon		*d;
	struct http		*http;		/* webhooks' and mail's own */
	struct proc_runner	*procs;
	struct event		*timer;
	int			 reload;	/* sinks changed: read them again */
	LIST_HEAD(, sink_rt)	 sinks;
	LIST_HEAD(, delivery)	 running;
	size_t			 inflight;
	struct mcounters	 deliveries;	/* {sink, result}, for /metrics */
};

static void notify_arm(struct notify *n, int64_t delay);

static void
sink_rt_free(struct sink_rt *rt)
{
	keystore_secret_free(rt->secret, rt->secret_len);
	store_sink_free(rt->k);
	free(rt);
}

static int
unseal_secret(struct notify *n, struct sink_rt *rt, char *err, size_t errlen)
{
	char aad[KEYSTORE_AAD_MAX];
	int alen;

	if (rt->k->secret == NULL || n->d->keys == NULL)
		return 0;
	if ((alen = keystore_aad(aad, sizeof(aad), "sinks", rt->k->id,
	    "secret")) < 0)
		return -1;
	return keystore_unseal(n->d->keys, rt->k->secret, rt->k->secret_len,
	    aad, (size_t)alen, &rt->secret, &rt->secret_len, err, errlen);
}

static struct sink_rt *
sink_find(struct notify *n, int64_t id)
{
	struct sink_rt *rt;

	LIST_FOREACH(rt, &n->sinks, entry)
		if (rt->k->id == id)
			return rt;
	return NULL;
}

/* One row of the sinks table: a sink known already takes the fresh row
 * (its counters and state); a new one is unsealed and added. */
static int
sink_load_one(const struct store_sink *k, void *arg)
{
	struct notify *n = arg;
	struct sink_rt *rt = sink_find(n, k->id);
	struct store_sink *fresh;
	char err[256];

	if (store_sink_get(n->d->store, NULL, k->id, &fresh, err,
	    sizeof(err)) != 0)
		return 0;
	if (rt != NULL) {
		store_sink_free(rt->k);
		rt->k = fresh;
		rt->gone = 0;
		return 0;
	}
	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		store_sink_free(fresh);
		return 0;
	}
	rt->k = fresh;
	rt->slots = strcmp(k->type, "webhook") == 0 ? SLOTS_WEBHOOK :
	    strcmp(k->type, "exec") == 0 ? SLOTS_EXEC : SLOTS_EMAIL;
	if (unseal_secret(n, rt, err, sizeof(err)) == -1) {
		log_error("notification sink '%s': its secret cannot be "
		    "unsealed (%s); it is skipped", k->name, err);
		sink_rt_free(rt);
		return 0;
	}
	LIST_INSERT_HEAD(&n->sinks, rt, entry);
	return 0;
}

/* Reads the sinks again.  One deleted meanwhile is marked gone and freed
 * when its last delivery under way ends. */
static void
sinks_reload(struct notify *n)
{
	struct sink_rt *rt, *next;
	char err[256];

	LIST_FOREACH(rt, &n->sinks, entry)
		rt->gone = 1;
	if (store_sinks_each(n->d->store, sink_load_one, n, err,
	    sizeof(err)) == -1)
		log_error("notifications: cannot read the sinks: %s", err);
	for (rt = LIST_FIRST(&n->sinks); rt != NULL; rt = next) {
		next = LIST_NEXT(rt, entry);
		if (rt->gone && rt->inflight == 0) {
			LIST_REMOVE(rt, entry);
			sink_rt_free(rt);
		}
	}
	n->reload = 0;
}

/* The runner reads the sinks again before its next look. */
static void
sinks_changed(struct daemon *d)
{
	if (d->notify == NULL)
		return;
	d->notify->reload = 1;
	notify_kick(d->notify);
}

/* --- what is sent --------------------------------------------------------- */

/* The event as receivers get it: Events.List's shape, as JSON. */
static json_t *
event_json(const struct store_event *ev)
{
	json_t *j = json_object(), *data, *subj = json_null();
	char at[40];

	if (j == NULL)
		return NULL;
	data = json_loads(ev->data ? ev->data : "{}", 0, NULL);
	if (ev->subject_type != NULL)
		subj = json_pack("{s:s, s:I}", "type", ev->subject_type, "id",
		    (json_int_t)ev->subject_id);
	json_object_set_new(j, "id", json_integer(ev->id));
	json_object_set_new(j, "at", json_string(clock_rfc3339(ev->at, at,
	    sizeof(at))));
	json_object_set_new(j, "kind", json_string(ev->kind));
	json_object_set_new(j, "severity", json_string(
	    event_severity_name(ev->severity)));
	json_object_set_new(j, "subject", subj ? subj : json_null());
	json_object_set_new(j, "item", ev->subject_type != NULL &&
	    strcmp(ev->subject_type, EVENT_SUBJECT_TRACKED) == 0 ?
	    json_integer(ev->subject_id) : json_null());
	/* Stored messages are valid UTF-8 (esc_format): jansson takes them. */
	json_object_set_new(j, "message", json_string(ev->message));
	json_object_set_new(j, "data", data ? data : json_object());
	return j;
}

static char *
event_body(const struct store_event *ev, const char *format, size_t *len)
{
	json_t *j;
	char *text, line[EVENT_MESSAGE_MAX * 2 + 128];

	if (strcmp(format, "slack") == 0) {
		/* Slack, Mattermost: {"text": ...}; the text escaped so no
		 * name can ping a channel or forge a link. */
		char msg[EVENT_MESSAGE_MAX * 2];

		esc_slack(msg, sizeof(msg), ev->message, strlen(ev->message));
		esc_format(line, sizeof(line), "*certfleet %s* (%s): %s",
		    event_severity_name(ev->severity), ev->kind, msg);
		j = json_pack("{s:s}", "text", line);
	} else
		j = event_json(ev);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	*len = text ? strlen(text) : 0;
	return text;
}

/* --- the runner's deliveries ------------------------------------------------ */

static void
delivery_free(struct delivery *dl)
{
	struct notify *n = dl->n;
	struct sink_rt *rt = dl->rt;

	LIST_REMOVE(dl, entry);
	n->inflight--;
	if (--rt->inflight == 0 && rt->gone) {
		LIST_REMOVE(rt, entry);
		sink_rt_free(rt);
	}
	free(dl);
}

/* An event about the sink itself (never delivered to it). */
static int
sink_event(struct notify *n, struct sink_rt *rt, const char *kind,
    const char *why, const struct store_delivery *row, char *err,
    size_t errlen)
{
	struct event ev;

	event_init(&ev, kind, EVENT_SUBJECT_SINK, rt->k->id);
	if (strcmp(kind, "sink_disabled") == 0)
		event_message(&ev, "notification sink '%s' disabled: %s",
		    rt->k->name, why);
	else
		event_message(&ev, "notification sink '%s' gave up on event "
		    "%lld after %d attempts: %s", rt->k->name,
		    (long long)row->event_id, row->attempts + 1, why);
	event_str(&ev, "sink", rt->k->name);
	event_str(&ev, "type", rt->k->type);
	event_str(&ev, "error", why);
	if (row != NULL)
		event_int(&ev, "event_id", row->event_id);
	return event_record(n->d, &ev, err, errlen);
}

enum outcome {
	OUT_DELIVERED = 0,
	OUT_RETRY,		/* try again after the backoff */
	OUT_GIVE_UP,		/* this delivery fails for good */
	OUT_DISABLE,		/* the receiver is gone (410) */
};

/* Writes what became of the delivery's rows, then ends it. */
static void
delivery_finish(struct delivery *dl, enum outcome out, int64_t retry_after,
    const char *why)
{
	struct notify *n = dl->n;
	struct sink_rt *rt = dl->rt;
	int64_t now = clock_now();
	char err[512], shown[512];
	const char *result[NOTIFY_MAIL_BATCH];
	int ok;

	dl->state = DL_RECORDING;
	esc_log(shown, sizeof(shown), why ? why : "", why ? strlen(why) : 0);
	if (store_write_begin(n->d->store, err, sizeof(err)) == -1) {
		/* The leases run out and the deliveries are tried again. */
		log_error("notifications: %s", err);
		delivery_free(dl);
		return;
	}
	ok = 1;
	for (size_t i = 0; i < dl->nrows && ok; i++) {
		struct store_delivery *row = &dl->rows[i];
		int64_t next = now + schedule_backoff(row->attempts + 1,
		    NOTIFY_RETRY_MIN, NOTIFY_RETRY_MAX);

		if (out == OUT_DELIVERED) {
			result[i] = "delivered";
			ok = store_delivery_done(n->d->store, row, now, err,
			    sizeof(err)) == 0;
			continue;
		}
		if (retry_after > NOTIFY_GIVE_UP)
			retry_after = NOTIFY_GIVE_UP;	/* a receiver's number */
		if (retry_after > 0 && now + retry_after > next)
			next = now + retry_after;
		if (out != OUT_RETRY || next > row->created_at + NOTIFY_GIVE_UP)
			next = 0;
		result[i] = next != 0 ? "retried" : out == OUT_DISABLE ?
		    "disabled" : "given_up";
		ok = store_delivery_failed(n->d->store, row, next, shown, err,
		    sizeof(err)) == 0;
		/* A delivery_given_up or sink_disabled that could not be
		 * delivered makes no event of its own: two failing sinks would
		 * feed each other without end. */
		if (ok && next == 0 && out != OUT_DISABLE && !dl->about_sink[i])
			ok = sink_event(n, rt, "delivery_given_up", shown, row,
			    err, sizeof(err)) == 0;
	}
	if (ok && out == OUT_DISABLE && !rt->gone && rt->k->enabled) {
		ok = store_sink_disable(n->d->store, rt->k->id, shown, err,
		    sizeof(err)) == 0 && sink_event(n, rt, "sink_disabled", shown,
		    NULL, err, sizeof(err)) == 0;
		rt->k->enabled = 0;
		n->reload = 1;
	}
	store_write_end(n->d->store, ok);
	for (size_t i = 0; ok && i < dl->nrows; i++)
		mcounters_add(&n->deliveries, rt->k->name, result[i], 1);
	if (!ok)
		log_error("notifications: recording a delivery to '%s': %s",
		    rt->k->name, err);
	else if (out != OUT_DELIVERED && !rt->failing)
		log_warn("notification sink '%s': event %lld%s not delivered: "
		    "%s; retrying (said once until a delivery works)",
		    rt->k->name, (long long)dl->rows[0].event_id,
		    dl->nrows > 1 ? " and others" : "", shown);
	else if (out != OUT_DELIVERED)
		log_debug("notification sink '%s': event %lld not delivered: %s",
		    rt->k->name, (long long)dl->rows[0].event_id, shown);
	else if (rt->failing)
		log_info("notification sink '%s': delivering again",
		    rt->k->name);
	rt->failing = out != OUT_DELIVERED;
	delivery_free(dl);
	notify_arm(n, 0);
}

static void
webhook_done_cb(const struct http_response *resp, const char *err, void *arg)
{
	struct delivery *dl = arg;
	char why[256];
	long st;

	dl->req = NULL;
	if (resp == NULL) {
		delivery_finish(dl, OUT_RETRY, 0, err);
		return;
	}
	st = resp->status;
	if (st >= 200 && st < 300) {
		delivery_finish(dl, OUT_DELIVERED, 0, NULL);
		return;
	}
	snprintf(why, sizeof(why), "the receiver answered HTTP %ld", st);
	if (st == 410)
		delivery_finish(dl, OUT_DISABLE, 0, why);
	else if (st == 429 || st >= 500 || st == 408)
		delivery_finish(dl, OUT_RETRY, resp->retry_after ?
		    strtol(resp->retry_after, NULL, 10) : 0, why);
	else
		delivery_finish(dl, OUT_GIVE_UP, 0, why);
}

/* POSTs the event, signed as Standard Webhooks says. */
static int
webhook_start(struct delivery *dl, const struct store_event *ev, char *err,
    size_t errlen)
{
	struct sink_rt *rt = dl->rt;
	char id[32], ts_h[64], id_h[64], sig[128], sig_h[160];
	const char *headers[4] = { NULL };
	struct http_request r = { .method = HTTP_POST };
	long long ts = (long long)time(NULL);
	size_t len;
	char *body = event_body(ev, rt->k->format, &len);

	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(id, sizeof(id), "%lld", (long long)ev->id);
	snprintf(id_h, sizeof(id_h), "webhook-id: %s", id);
	/* The receiver's clock judges freshness: the real time, not ours. */
	snprintf(ts_h, sizeof(ts_h), "webhook-timestamp: %lld", ts);
	headers[0] = id_h;
	headers[1] = ts_h;
	if (rt->secret != NULL) {
		unsigned char key[SECRET_MAX];
		size_t keylen;

		if (notify_secret_parse((const char *)rt->secret, key,
		    sizeof(key), &keylen) == -1 || notify_sign(key, keylen, id,
		    ts, body, len, sig, sizeof(sig)) == -1) {
			OPENSSL_cleanse(key, sizeof(key));
			free(body);
			snprintf(err, errlen, "cannot sign with the sink's secret");
			return -1;
		}
		OPENSSL_cleanse(key, sizeof(key));
		snprintf(sig_h, sizeof(sig_h), "webhook-signature: %s", sig);
		headers[2] = sig_h;
	}
	r.url = rt->k->target;
	r.body = body;
	r.body_len = len;
	r.content_type = "application/json";
	r.headers = headers;
	r.plain_ok = strncmp(r.url, "http://", 7) == 0;
	r.body_cut_ok = 1;
	r.url_secret = 1;
	r.timeout_ms = (long)rt->k->timeout * 1000;
	r.connect_timeout_ms = r.timeout_ms;
	dl->req = http_request(dl->n->http, &r, webhook_done_cb, dl, err,
	    errlen);
	free(body);
	return dl->req ? 0 : -1;
}

static void
exec_done_cb(const struct proc_result *res, void *arg)
{
	struct delivery *dl = arg;
	char why[NOTIFY_OUTPUT_MAX + 300];

	dl->proc = NULL;
	if (res->how == PROC_EXITED && res->code == 0) {
		delivery_finish(dl, OUT_DELIVERED, 0, NULL);
		return;
	}
	snprintf(why, sizeof(why), "the command %s%s%.*s", res->error,
	    res->output_len ? "; it said: " : "", (int)(res->output_len > 400 ?
	    400 : res->output_len), res->output ? res->output : "");
	delivery_finish(dl, OUT_RETRY, 0, why);
}

/* "NAME=value" for data's key, when it holds a scalar. */
static void
env_add(char **env, size_t *n, const char *name, json_t *v)
{
	char buf[64];
	const char *text = NULL;

	if (v == NULL || *n >= PROC_ENV_MAX - 1)
		return;
	if (json_is_string(v))
		text = json_string_value(v);
	else if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		text = buf;
	} else if (json_is_boolean(v))
		text = json_is_true(v) ? "1" : "0";
	if (text != NULL && asprintf(&env[*n], "%s=%s", name, text) != -1)
		(*n)++;
}

/*
 * Runs the command with the event as JSON on stdin and its facts in
 * CERTFLEET_* variables: data never reaches the command line.
 */
static int
exec_start(struct delivery *dl, const struct store_event *ev, char *err,
    size_t errlen)
{
	static const struct { const char *key, *name; } facts[] = {
		{ "host", "CERTFLEET_HOST" }, { "port", "CERTFLEET_PORT" },
		{ "sni", "CERTFLEET_SNI" }, { "domain", "CERTFLEET_DOMAIN" },
		{ "common_name", "CERTFLEET_COMMON_NAME" },
		{ "serial_number", "CERTFLEET_SERIAL" },
		{ "fingerprint_sha256", "CERTFLEET_FINGERPRINT" },
		{ "not_after", "CERTFLEET_NOT_AFTER" },
		{ "days_remaining", "CERTFLEET_DAYS_REMAINING" },
		{ "error", "CERTFLEET_ERROR" },
	};
	char *env[PROC_ENV_MAX] = { NULL };
	json_t *j = event_json(ev), *data;
	struct proc_spec spec = { .command = dl->rt->k->target };
	size_t n = 0, len;
	char *input;
	int rc = -1;

	if (j == NULL || (input = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	env_add(env, &n, "CERTFLEET_EVENT_ID", json_object_get(j, "id"));
	env_add(env, &n, "CERTFLEET_EVENT_KIND", json_object_get(j, "kind"));
	env_add(env, &n, "CERTFLEET_SEVERITY", json_object_get(j, "severity"));
	env_add(env, &n, "CERTFLEET_EVENT_AT", json_object_get(j, "at"));
	env_add(env, &n, "CERTFLEET_MESSAGE", json_object_get(j, "message"));
	if (ev->subject_type != NULL) {
		env_add(env, &n, "CERTFLEET_SUBJECT_TYPE", json_object_get(
		    json_object_get(j, "subject"), "type"));
		env_add(env, &n, "CERTFLEET_SUBJECT_ID", json_object_get(
		    json_object_get(j, "subject"), "id"));
	}
	data = json_object_get(j, "data");
	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
		env_add(env, &n, facts[i].name, json_object_get(data,
		    facts[i].key));
	len = strlen(input);
	spec.env = (const char *const *)env;
	spec.input = input;
	spec.input_len = len;
	spec.timeout_ms = dl->rt->k->timeout * 1000;
	spec.output_max = NOTIFY_OUTPUT_MAX;
	dl->proc = proc_start(dl->n->procs, &spec, exec_done_cb, dl, err,
	    errlen);
	rc = dl->proc ? 0 : -1;
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(input);
	json_decref(j);
	return rc;
}

/* --- e-mail ---------------------------------------------------------------- */

/* Appends text to the message, growing it; -1 when out of memory. */
static int
mail_add(char **m, size_t *len, size_t *cap, const char *text, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = (*len + n + 1) * 2;
		char *p = realloc(*m, c);

		if (p == NULL)
			return -1;
		*m = p;
		*cap = c;
	}
	memcpy(*m + *len, text, n);
	*len += n;
	(*m)[*len] = '\0';
	return 0;
}

/* A body line: escaped, cut into lines of at most 900 bytes on character
 * boundaries (SMTP allows 998), CRLF-ended. */
static int
mail_line(char **m, size_t *len, size_t *cap, const char *label,
    const char *text)
{
	char shown[EVENT_MESSAGE_MAX * ESC_CUT_MARK_LEN * 4];
	size_t n, off = 0, k;
	int rc = 0;

	if (text == NULL)
		return 0;
	n = esc_log(shown, sizeof(shown), text, strlen(text));
	if (label != NULL)
		rc |= mail_add(m, len, cap, label, strlen(label));
	do {
		k = esc_utf8_prefix(shown + off, n - off, 900);
		rc |= mail_add(m, len, cap, shown + off, k);
		rc |= mail_add(m, len, cap, "\r\n", 2);
		off += k;
	} while (off < n && k > 0);
	return rc ? -1 : 0;
}

static const char *
data_text(json_t *data, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(data, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_array(v) && json_is_string(json_array_get(v, 0)))
		return json_string_value(json_array_get(v, 0));
	return NULL;
}

/* One event's paragraph. */
static int
mail_event(char **m, size_t *len, size_t *cap, const struct store_event *ev)
{
	json_t *data = json_loads(ev->data ? ev->data : "{}", 0, NULL);
	char at[40], head[160], num[32], port[32], host[600];
	const char *h = data_text(data, "host", host, sizeof(host));
	int rc;

	snprintf(head, sizeof(head), "%s  %s  %s (event %lld)",
	    clock_rfc3339(ev->at, at, sizeof(at)),
	    event_severity_name(ev->severity), ev->kind, (long long)ev->id);
	rc = mail_line(m, len, cap, NULL, head);
	rc |= mail_line(m, len, cap, "  ", ev->message);
	if (h != NULL) {
		snprintf(host, sizeof(host), "%s:%s", h, data_text(data, "port",
		    port, sizeof(port)) ? port : "?");
		rc |= mail_line(m, len, cap, "  host:         ", host);
	}
	rc |= mail_line(m, len, cap, "  names:        ", data_text(data, "names",
	    num, sizeof(num)));
	rc |= mail_line(m, len, cap, "  not after:    ", data_text(data,
	    "not_after", num, sizeof(num)));
	rc |= mail_line(m, len, cap, "  days left:    ", data_text(data,
	    "days_remaining", num, sizeof(num)));
	rc |= mail_line(m, len, cap, "  serial:       ", data_text(data,
	    "serial_number", num, sizeof(num)));
	rc |= mail_line(m, len, cap, "  error:        ", data_text(data,
	    "last_error", num, sizeof(num)) ? data_text(data, "last_error", num,
	    sizeof(num)) : data_text(data, "error", num, sizeof(num)));
	rc |= mail_add(m, len, cap, "\r\n", 2);
	json_decref(data);
	return rc ? -1 : 0;
}

/* "[certfleet] warning: a.example expires in 6 days" and the like. */
static void
mail_subject(const struct store_event *const *evs, size_t n, char *buf,
    size_t len)
{
	const struct store_event *top = evs[0];
	json_t *data;
	char num[32], what[300];
	const char *name, *days;

	for (size_t i = 1; i < n; i++)
		if (evs[i]->severity > top->severity)
			top = evs[i];
	data = json_loads(top->data ? top->data : "{}", 0, NULL);
	name = data_text(data, "names", num, sizeof(num));
	if (name == NULL)
		name = data_text(data, "domain", num, sizeof(num));
	days = json_is_integer(json_object_get(data, "days_remaining")) ?
	    data_text(data, "days_remaining", num, sizeof(num)) : NULL;
	if (name != NULL && strcmp(top->kind, "expiring") == 0 && days)
		esc_format(what, sizeof(what), "%s expires in %s day%s", name,
		    days, strcmp(days, "1") == 0 ? "" : "s");
	else if (name != NULL && strcmp(top->kind, "expired") == 0)
		esc_format(what, sizeof(what), "%s has expired", name);
	else
		esc_format(what, sizeof(what), "%.200s", top->message);
	if (n > 1)
		snprintf(buf, len, "[certfleet] %zu events; %s: %s", n,
		    event_severity_name(top->severity), what);
	else
		snprintf(buf, len, "[certfleet] %s: %s",
		    event_severity_name(top->severity), what);
	json_decref(data);
}

/* A header line, its value escaped for mail (RFC 2047 when needed). */
static int
mail_header(char **m, size_t *len, size_t *cap, const char *name,
    const char *value)
{
	char v[2048];
	size_t n = esc_mail_header(v, sizeof(v), value, strlen(value));

	return mail_add(m, len, cap, name, strlen(name)) |
	    mail_add(m, len, cap, ": ", 2) | mail_add(m, len, cap, v, n) |
	    mail_add(m, len, cap, "\r\n", 2);
}

#define MAIL_MIME \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: 8bit\r\n" \
	"Auto-Submitted: auto-generated\r\n" \
	"\r\n"

/* The RFC 5322 message for evs, CRLF line ends; NULL when out of memory. */
static char *
mail_message(const struct sink_rt *rt, const struct store_event *const *evs,
    size_t n, const char *from, size_t *len)
{
	char *m = NULL, date[64], subject[512], mid[160], to[RECIPIENTS_MAX *
	    (ADDRESS_MAX + 2)];
	unsigned char rnd[8];
	size_t cap = 0;
	time_t now = (time_t)clock_now();
	struct tm tm;
	int rc;

	*len = 0;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	mail_subject(evs, n, subject, sizeof(subject));
	(void)RAND_bytes(rnd, sizeof(rnd));
	snprintf(mid, sizeof(mid), "<certfleet.%lld.%lld.%02x%02x%02x%02x%02x"
	    "%02x%02x%02x@%s>", (long long)rt->k->id, (long long)evs[0]->id,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
	    strchr(from, '@') + 1);
	snprintf(to, sizeof(to), "%s", rt->k->target);
	for (char *c = to; *c; c++)
		if (*c == ',')
			*c = ' ';	/* "a@x b@y": RFC 5322 wants commas */
	rc = mail_header(&m, len, &cap, "Date", date);
	rc |= mail_header(&m, len, &cap, "From", from);
	rc |= mail_add(&m, len, &cap, "To: ", 4);
	for (const char *p = rt->k->target; *p; p++)
		rc |= mail_add(&m, len, &cap, *p == ',' ? ", " : p, *p == ',' ?
		    2 : 1);
	rc |= mail_add(&m, len, &cap, "\r\n", 2);
	rc |= mail_header(&m, len, &cap, "Subject", subject);
	rc |= mail_header(&m, len, &cap, "Message-ID", mid);
	rc |= mail_add(&m, len, &cap, MAIL_MIME, strlen(MAIL_MIME));
	for (size_t i = 0; i < n; i++)
		rc |= mail_event(&m, len, &cap, evs[i]);
	snprintf(subject, sizeof(subject), "certfleetd, notification sink '%s'",
	    rt->k->name);
	rc |= mail_add(&m, len, &cap, "-- \r\n", 5);
	rc |= mail_line(&m, len, &cap, NULL, subject);
	if (rc) {
		free(m);
		return NULL;
	}
	return m;
}

static void
mail_done_cb(const struct http_response *resp, const char *err, void *arg)
{
	struct delivery *dl = arg;
	char why[128];

	dl->req = NULL;
	if (resp == NULL) {
		delivery_finish(dl, OUT_RETRY, 0, err);
		return;
	}
	if (resp->status >= 200 && resp->status < 300) {
		delivery_finish(dl, OUT_DELIVERED, 0, NULL);
		return;
	}
	snprintf(why, sizeof(why), "the SMTP server answered %ld",
	    resp->status);
	delivery_finish(dl, OUT_RETRY, 0, why);
}

static int
mail_start(struct delivery *dl, const struct store_event *const *evs,
    size_t n, char *err, size_t errlen)
{
	struct sink_rt *rt = dl->rt;
	const char *rcpt[RECIPIENTS_MAX + 1] = { NULL };
	char list[RECIPIENTS_MAX * (ADDRESS_MAX + 1) + 1], from[ADDRESS_MAX +
	    64], host[128] = "localhost", *save = NULL, *msg;
	struct http_mail m = { 0 };
	size_t nr = 0, len;

	if (rt->k->mail_from != NULL)
		snprintf(from, sizeof(from), "%s", rt->k->mail_from);
	else {
		(void)gethostname(host, sizeof(host) - 1);
		snprintf(from, sizeof(from), "certfleet@%s", host);
	}
	snprintf(list, sizeof(list), "%s", rt->k->target);
	for (char *a = strtok_r(list, ",", &save); a != NULL &&
	    nr < RECIPIENTS_MAX; a = strtok_r(NULL, ",", &save))
		rcpt[nr++] = a;
	if ((msg = mail_message(rt, evs, n, from, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m.url = rt->k->smtp_url;
	m.from = from;
	m.rcpt = rcpt;
	m.user = rt->k->smtp_user;
	m.password = (const char *)rt->secret;
	m.message = msg;
	m.message_len = len;
	m.insecure = rt->k->smtp_insecure;
	m.ca_file = rt->k->smtp_ca_file;
	m.timeout_ms = (long)rt->k->timeout * 1000;
	dl->req = http_mail_send(dl->n->http, &m, mail_done_cb, dl, err, errlen);
	free(msg);
	return dl->req ? 0 : -1;
}

/* --- the runner's loop ------------------------------------------------------ */

/*
 * Starts one delivery of rows (leased already): loads their events and
 * hands them to the sink's kind of sender.  A start that fails is recorded
 * like a failed attempt.
 */
static void
delivery_start(struct notify *n, struct sink_rt *rt,
    const struct store_delivery *rows, size_t nrows)
{
	struct store_event *evs[NOTIFY_MAIL_BATCH] = { NULL };
	struct delivery *dl;
	char err[512] = "";
	size_t ne = 0;
	int rc = -1;

	if ((dl = calloc(1, sizeof(*dl))) == NULL)
		return;		/* the lease runs out; tried again then */
	dl->n = n;
	dl->rt = rt;
	memcpy(dl->rows, rows, nrows * sizeof(*rows));
	dl->nrows = nrows;
	LIST_INSERT_HEAD(&n->running, dl, entry);
	n->inflight++;
	rt->inflight++;
	for (size_t i = 0; i < nrows; i++)
		if (store_event_get(n->d->store, rows[i].event_id, &evs[ne],
		    err, sizeof(err)) == 0) {
			/* What notification says of itself: not worth an
			 * event of its own when it cannot be delivered. */
			dl->about_sink[i] =
			    strcmp(evs[ne]->kind, "delivery_given_up") == 0 ||
			    strcmp(evs[ne]->kind, "sink_disabled") == 0;
			ne++;
		}
	if (ne == 0)
		snprintf(err, sizeof(err), "the event is gone");
	else if (strcmp(rt->k->type, "webhook") == 0)
		rc = webhook_start(dl, evs[0], err, sizeof(err));
	else if (strcmp(rt->k->type, "exec") == 0)
		rc = exec_start(dl, evs[0], err, sizeof(err));
	else
		rc = mail_start(dl, (const struct store_event *const *)evs, ne,
		    err, sizeof(err));
	for (size_t i = 0; i < ne; i++)
		store_event_free(evs[i]);
	if (rc == -1)
		delivery_finish(dl, ne == 0 ? OUT_GIVE_UP : OUT_RETRY, 0, err);
}

/* Leases and starts what is due for one sink; 1 when more is due.  *started
 * counts the deliveries begun. */
static int
sink_pump(struct notify *n, struct sink_rt *rt, int64_t now, size_t *started)
{
	struct store_delivery rows[NOTIFY_MAIL_BATCH];
	int mail = strcmp(rt->k->type, "email") == 0;
	size_t want, got = 0;
	char err[256];
	int ok = 1;

	if (rt->gone || !rt->k->enabled || rt->inflight >= rt->slots)
		return 0;
	want = mail ? NOTIFY_MAIL_BATCH : (size_t)(rt->slots - rt->inflight);
	/* Mail is due a minute after its event; once one is due, the ones
	 * queued within that minute go in the same message. */
	if (mail && (store_deliveries_due(n->d->store, rt->k->id, now, rows, 1,
	    &got, err, sizeof(err)) == -1 || got == 0))
		return 0;
	if (store_deliveries_due(n->d->store, rt->k->id, now + (mail ? 60 : 0),
	    rows, want, &got, err, sizeof(err)) == -1 || got == 0 ||
	    store_write_begin(n->d->store, err, sizeof(err)) == -1) {
		if (got != 0)
			log_error("notifications: %s", err);
		return 0;
	}
	/* Held until the attempt's timeout has passed: a crash mid-attempt
	 * lets the lease run out, and the delivery is tried again. */
	for (size_t i = 0; i < got && ok; i++)
		ok = store_delivery_lease(n->d->store, rows[i].id, now +
		    rt->k->timeout + LEASE_SLACK, err, sizeof(err)) == 0;
	store_write_end(n->d->store, ok);
	if (!ok) {
		log_error("notifications: %s", err);
		return 0;
	}
	*started += got;
	if (mail)
		delivery_start(n, rt, rows, got);
	else
		for (size_t i = 0; i < got; i++)
			delivery_start(n, rt, &rows[i], 1);
	return got == want;
}

static void
notify_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	struct sink_rt *rt, *next;
	int64_t now = clock_now(), due;
	size_t started = 0;
	int more = 0;

	(void)fd;
	(void)what;
	if (n->reload)
		sinks_reload(n);
	for (rt = LIST_FIRST(&n->sinks); rt != NULL; rt = next) {
		next = LIST_NEXT(rt, entry);
		more |= sink_pump(n, rt, now, &started);
	}
	if (more) {
		notify_arm(n, 0);
		return;
	}
	/* What is due but was not started waits for a sink's slot (a
	 * finishing delivery arms us again) or is a sink we skip: never a
	 * loop that spins on it. */
	if (store_deliveries_next_due(n->d->store, &due) == -1 || due == 0)
		notify_arm(n, NOTIFY_REARM_MAX);
	else
		notify_arm(n, due - now >= 1 ? due - now : started ? 0 : 1);
}

static void
notify_arm(struct notify *n, int64_t delay)
{
	struct timeval tv = { delay < 0 ? 0 : delay, 0 };

	if (delay > NOTIFY_REARM_MAX)
		tv.tv_sec = NOTIFY_REARM_MAX;
	evtimer_add(n->timer, &tv);
}

static void
notify_wake_cb(void *arg)
{
	notify_kick(arg);
}

struct notify *
notify_new(struct daemon *d, char *err, size_t errlen)
{
	struct notify *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->d = d;
	n->reload = 1;
	LIST_INIT(&n->sinks);
	LIST_INIT(&n->running);
	mcounters_init(&n->deliveries, 1024);
	if ((n->http = http_new(d->base, err, errlen)) == NULL ||
	    (n->procs = proc_runner_new(d->base, err, errlen)) == NULL ||
	    (n->timer = evtimer_new(d->base, notify_run_cb, n)) == NULL ||
	    (d->events != NULL && events_listen(d->events, notify_wake_cb,
	    n) == -1)) {
		if (err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		notify_free(n);
		return NULL;
	}
	/* Connections to a receiver are kept alive, a sink's slots at most. */
	http_set_host_connections(n->http, SLOTS_WEBHOOK);
	/* Bulk work: answers to clients come first. */
	if (event_base_get_npriorities(d->base) > PRIO_BULK)
		event_priority_set(n->timer, PRIO_BULK);
	notify_arm(n, 0);
	return n;
}

void
notify_free(struct notify *n)
{
	struct delivery *dl;
	struct sink_rt *rt;

	if (n == NULL)
		return;
	if (n->d->events != NULL)
		events_unlisten(n->d->events, notify_wake_cb, n);
	/* Deliveries under way stop here; their leases bring them back
	 * after a restart, so nothing acknowledged is lost. */
	while ((dl = LIST_FIRST(&n->running)) != NULL) {
		if (dl->req != NULL)
			http_cancel(dl->req);
		if (dl->proc != NULL)
			proc_cancel(dl->proc);
		delivery_free(dl);
	}
	while ((rt = LIST_FIRST(&n->sinks)) != NULL) {
		LIST_REMOVE(rt, entry);
		sink_rt_free(rt);
	}
	if (n->timer != NULL)
		event_free(n->timer);
	proc_runner_free(n->procs);
	http_free(n->http);
	mcounters_free(&n->deliveries);
	free(n);
}

void
notify_kick(struct notify *n)
{
	notify_arm(n, 0);
}

size_t
notify_inflight(const struct notify *n)
{
	return n->inflight;
}

const struct mcounters *
notify_deliveries(const struct notify *n)
{
	return &n->deliveries;
}
