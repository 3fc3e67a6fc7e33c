/*
 * Notification sinks: where events go (a webhook, e-mail, a command) and
 * the runner that delivers them.  Every event's deliveries are rows of an
 * outbox written with the event (store_events.c), so delivery is at least
 * once: a delivery under way holds a lease in the store, a crash lets the
 * lease run out and the delivery is tried again.  Failures back off from
 * 30 s, doubling to an hour, with jitter, for up to 3 days; then the
 * delivery is given up (notify retry re-queues it).  Sinks are independent:
 * each has its own slots, so a hung receiver holds only its own.
 */
#ifndef CERTFLEET_NOTIFY_H
#define CERTFLEET_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct cf_err;
struct daemon;
struct store_sink;
struct mcounters;

#define NOTIFY_NAME_MAX		63
#define NOTIFY_RETRY_MIN	30		/* seconds, doubling */
#define NOTIFY_RETRY_MAX	3600
#define NOTIFY_GIVE_UP		(3 * 86400)	/* seconds after the event */
#define NOTIFY_MAIL_BATCH	100		/* events in one message */
#define NOTIFY_OUTPUT_MAX	4096		/* of a command's output, kept */

struct notify_params {
	const char	*name;
	const char	*type;		/* webhook, email, exec */
	const char	*url;		/* webhook */
	const char	*secret;	/* webhook: whsec_...; NULL: made */
	const char	*format;	/* webhook: json (default), slack */
	const char	*recipients;	/* email: "a@x,b@y" */
	const char	*smtp_url;	/* email: smtp:// or smtps:// */
	const char	*smtp_user;
	const char	*smtp_password;
	const char	*mail_from;
	int		 smtp_insecure;
	const char	*smtp_ca_file;	/* absolute path; NULL: system store */
	const char	*command;	/* exec: run by /bin/sh -c */
	const char	*kinds;		/* "a,b"; NULL: every kind */
	const char	*min_severity;	/* NULL: info */
	int64_t		 timeout;	/* seconds per attempt; 0: the type's */
};

/*
 * Checks p whole and adds the sink; nothing is stored when anything is
 * wrong.  *secret_out (when not NULL) gets a new copy of a secret made
 * here, to show once (caller frees with keystore_secret_free).  Returns
 * the sink (caller frees with store_sink_free) or NULL with e.
 */
struct store_sink *notify_add(struct daemon *d, const struct notify_params *p,
		    char **secret_out, struct cf_err *e);
struct store_sink *notify_get(struct daemon *d, const char *name,
		    struct cf_err *e);
int		 notify_delete(struct daemon *d, const char *name,
		    struct cf_err *e);
/* A notify_test event for this sink alone, through the real path; its id
 * in *event_id. */
int		 notify_test(struct daemon *d, const char *name,
		    int64_t *event_id, struct cf_err *e);
/* Enables a sink again (after a 410 disabled it). */
int		 notify_enable(struct daemon *d, const char *name,
		    struct cf_err *e);
/* Re-queues what the sink gave up; how many in *n. */
int		 notify_retry(struct daemon *d, const char *name, int64_t *n,
		    struct cf_err *e);

/* The runner. */
struct notify;
struct notify	*notify_new(struct daemon *d, char *err, size_t errlen);
/* Stops every delivery under way (their leases let them run again after a
 * restart) and frees. */
void		 notify_free(struct notify *n);
void		 notify_kick(struct notify *n);
/* Deliveries under way (Daemon.Status). */
size_t		 notify_inflight(const struct notify *n);

/* Pure, for tests: the Standard Webhooks signature "v1,<base64>" of
 * id.timestamp.body under key; 0, or -1. */
int		 notify_sign(const unsigned char *key, size_t keylen,
		    const char *id, long long ts, const char *body,
		    size_t body_len, char *out, size_t outlen);
/* Pure: "whsec_<base64>" into its key bytes; -1 when malformed. */
int		 notify_secret_parse(const char *text, unsigned char *key,
		    size_t keymax, size_t *keylen);

/* Deliveries by {sink, result} since start: delivered, retried, given_up,
 * disabled. */
const struct mcounters *notify_deliveries(const struct notify *n);

#endif
