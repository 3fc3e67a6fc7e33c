/*
 * The reads a /metrics scrape makes: certificate-holding items a page at a
 * time in id order (so a scrape of a million items is many short reads,
 * never one long one), deploy targets likewise, and the outbox by sink.
 * Strings point into SQLite's row and are valid during the callback only.
 */
#ifndef CERTFLEET_STORE_METRICS_H
#define CERTFLEET_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum metric_source { MS_HOST, MS_PEM, MS_MANAGED };

struct store_metric_item {
	int64_t			 id;
	enum metric_source	 source;
	int			 active;
	const char		*host;		/* host items; else NULL */
	int			 port;
	const char		*sni;
	const char		*cn;
	const char		*issuer;
	const char		*serial;
	int64_t			 valid_from;	/* 0: no certificate yet */
	int64_t			 valid_until;
	int			 chain_valid;	/* -1: not known */
	int			 hostname_match;
	int64_t			 checked_at;	/* 0: never checked */
	int			 check_failures;
	const char		*check_error;	/* the last check's failure */
	const char		*verify_error;
	int			 chain_length;
	const char		*subject_dn;
	const char		*issuer_dn;
	const char		*public_key;
	const char		*signature_algorithm;
	const char		*status;	/* managed: its status */
	int			 failures;	/* managed: failed attempts */
	int64_t			 next_renewal_at;	/* managed; 0: none */
};

struct store_metric_deploy {
	int64_t		 id;
	int64_t		 cert_id;
	const char	*dir;
	const char	*state;		/* pending, ok, failed */
	int64_t		 deployed_at;	/* 0: never */
};

typedef void	 store_metric_item_cb(const struct store_metric_item *it,
		    void *arg);
typedef void	 store_metric_deploy_cb(const struct store_metric_deploy *dp,
		    void *arg);
typedef void	 store_metric_pending_cb(const char *sink, int64_t pending,
		    void *arg);

/*
 * Up to limit managed certificates (managed != 0) or tracked items with id
 * > after, in id order, each given to cb.  Returns how many (0: past the
 * last), -1 with err.
 */
int	 store_metric_items(struct store *st, int managed, int64_t after,
	    int limit, store_metric_item_cb *cb, void *arg, char *err,
	    size_t errlen);
int	 store_metric_deploys(struct store *st, int64_t after, int limit,
	    store_metric_deploy_cb *cb, void *arg, char *err, size_t errlen);
/* Deliveries not yet made (due or waiting to retry), per sink. */
int	 store_metric_outbox(struct store *st, store_metric_pending_cb *cb,
	    void *arg, char *err, size_t errlen);
/* The database's size in bytes (pages in use and free). */
int64_t	 store_metric_size(struct store *st);
/* The SQLite library's version, for certfleet_build_info. */
const char *store_engine_version(void);

#endif
