/*
 * The SQLite store: opened once, migrated from the embedded schema/ files,
 * every query a prepared statement with bound parameters.  Writes gather in
 * one transaction that commits every few milliseconds; callers that must
 * answer only after durability wait with store_when_durable().
 */
#ifndef CERTFLEET_STORE_H
#define CERTFLEET_STORE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct techzone_source;
struct x509_facts;

struct store_migration {
	unsigned	 version;
	const char	*name;
	const char	*sql;
};
extern const struct store_migration store_migrations[];
extern const unsigned store_nmigrations;

/* A tracked item as stored.  Times are 0 when unset. */
struct store_item {
	int64_t			 id;
	char			 source[8];	/* "pem" or "host" */
	int			 active;
	char			*check_error;
	struct x509_facts	*facts;		/* NULL before a first check */
	int64_t			 created_at;
	int64_t			 last_checked_at;
	int64_t			 next_check_at;
	/* Host items only. */
	char			*host;
	int			 port;
	char			*sni;
	char			*address;
	char			*tls_version;
	char			*cipher;
	int			 chain_valid;	/* -1: unknown */
	int			 hostname_match;	/* -1: unknown */
	char			*verify_error;
	int			 chain_length;
	char			*chain_sha256;
	int			 check_failures;
};

void	 store_item_free(struct store_item *item);

struct store_counts {
	int64_t	 tracked, active, pem, host, events;
};

/*
 * Opens (creating if needed) and migrates the database at path.  base may be
 * NULL for tools and tests that never group writes: each write then commits
 * at store_write_end().  Returns NULL with err when the file is unusable or
 * its schema is newer than this build.
 */
struct store	*store_open(struct event_base *base, const char *path,
		    int commit_interval_ms, char *err, size_t errlen);
/* Commits anything pending, then closes.  NULL is a no-op. */
void		 store_close(struct store *st);
unsigned	 store_schema_version(const struct store *st);
unsigned	 store_schema_latest(void);
void		 store_set_commit_interval(struct store *st, int ms);

/*
 * Brackets one logical write.  Between begin and end the caller runs any
 * number of store_* mutations; end(ok=0) undoes just them.
 */
int		 store_write_begin(struct store *st, char *err, size_t errlen);
void		 store_write_end(struct store *st, int ok);

/* Calls cb(ok, arg) once everything written so far has committed (or failed). */
typedef void	 store_durable_cb(int ok, void *arg);
void		 store_when_durable(struct store *st, store_durable_cb *cb, void *arg);
/* Commits now; returns 0 or -1. */
int		 store_flush(struct store *st);

/* Items.  Functions return 0, 1 for "no such item" where noted, -1 on error. */
int	 store_item_insert(struct store *st, struct store_item *item,
	    char *err, size_t errlen);		/* sets item->id */
int	 store_item_get(struct store *st, int64_t id, struct store_item **out,
	    char *err, size_t errlen);		/* 1: not found */
int	 store_item_find_pem(struct store *st, const char *fingerprint,
	    int64_t *id);			/* 1: not found */
int	 store_item_delete(struct store *st, int64_t id,
	    char *err, size_t errlen);		/* 1: not found */
int	 store_item_find_host(struct store *st, const char *host, int port,
	    const char *sni, int64_t *id);		/* 1: not found */
/* The hex SHA-256 of the item's last chain, "" when it has none. */
int	 store_item_chain_digest(struct store *st, int64_t id,
	    char out[65]);				/* 1: not found */
/* Writes every mutable column of an existing item. 1: not found. */
int	 store_item_update(struct store *st, const struct store_item *item,
	    char *err, size_t errlen);
int	 store_item_set_next_check(struct store *st, int64_t id, int64_t at,
	    char *err, size_t errlen);
/* Up to max ids of active items due at or before now, soonest first. */
int	 store_items_due(struct store *st, int64_t now, int64_t *ids,
	    size_t max, size_t *n);
/* The soonest next_check_at of any item; 0 when none is scheduled. */
int	 store_next_due(struct store *st, int64_t *at);
typedef int store_id_fn(int64_t id, void *arg);
/* Calls fn with the id of every active host item. */
int	 store_active_hosts_each(struct store *st, store_id_fn *fn, void *arg);

/* Snapshots: a raw copy of a presented chain each time it changed. */
struct store_snapshot {
	int64_t		 number;	/* 1, 2, ... per item */
	int64_t		 at;
	const char	*chain_sha256;
	const char	*leaf_sha256;
	int64_t		 chain_length;
	const char	*chain_pem;
};
int	 store_snapshot_add(struct store *st, int64_t item_id, int64_t at,
	    const char *chain_sha256, const char *leaf_sha256, int chain_length,
	    const char *chain_pem, char *err, size_t errlen);
typedef int store_snapshot_fn(const struct store_snapshot *s, void *arg);
/* Oldest first. */
int	 store_snapshots_each(struct store *st, int64_t item_id,
	    store_snapshot_fn *fn, void *arg, char *err, size_t errlen);
int	 store_snapshots_delete(struct store *st, int64_t item_id,
	    char *err, size_t errlen);

int	 store_item_set_active(struct store *st, int64_t id, int active,
	    int64_t next_check_at, char *err, size_t errlen); /* 1: not found */

typedef int store_item_fn(const struct store_item *item, void *arg);
/* Calls fn for each item in id order after after_id, at most limit (0: all). */
int	 store_items_each(struct store *st, int64_t after_id, int64_t limit,
	    store_item_fn *fn, void *arg, char *err, size_t errlen);

int	 store_counts(struct store *st, struct store_counts *out);

/* Events, expiry, sinks and deliveries: store_events.h. */

/* --- managed certificates (schema 003) ----------------------------------- */

/*
 * Sealed columns come and go as keystore_seal() blobs; the store never sees
 * a key in the clear.  Every struct below is owned by its caller and freed
 * with its _free function (NULL is a no-op).
 */

/* A CA profile.  ncerts (read only) counts the certificates using it. */
struct store_ca {
	int64_t		 id;
	char		*name;
	char		*directory_url;
	char		*trust_file;		/* NULL: the system store */
	char		*eab_kid;		/* NULL: no EAB */
	unsigned char	*eab_hmac_sealed;	/* ca_profiles:<id>:eab_hmac_key */
	size_t		 eab_hmac_sealed_len;
	char		*acme_profile;		/* NULL: CA's default */
	int		 eab_required;
	int		 builtin;
	int64_t		 created_at;
	int64_t		 ncerts;
};
void	 store_ca_free(struct store_ca *ca);

/* Sets ca->id; 1 when the name is taken. */
int	 store_ca_insert(struct store *st, struct store_ca *ca, char *err,
	    size_t errlen);
/* 1: not found. */
int	 store_ca_get(struct store *st, const char *name, struct store_ca **out,
	    char *err, size_t errlen);
int	 store_ca_get_id(struct store *st, int64_t id, struct store_ca **out,
	    char *err, size_t errlen);
/* Sets (or with kid NULL clears) the EAB pair; 1: not found. */
int	 store_ca_set_eab(struct store *st, int64_t id, const char *kid,
	    const unsigned char *sealed, size_t sealed_len, char *err,
	    size_t errlen);
/* Sets (or with NULL clears) the ACME profile; 1: not found. */
int	 store_ca_set_acme_profile(struct store *st, int64_t id,
	    const char *acme_profile, char *err, size_t errlen);
/* Deletes the profile and its accounts; 1: not found. */
int	 store_ca_delete(struct store *st, int64_t id, char *err, size_t errlen);
typedef int store_ca_fn(const struct store_ca *ca, void *arg);
/* By name. */
int	 store_cas_each(struct store *st, store_ca_fn *fn, void *arg, char *err,
	    size_t errlen);

/* An ACME account: one per profile and contact email ("" for none). */
struct store_account {
	int64_t		 id;
	int64_t		 profile_id;
	char		*email;
	unsigned char	*key_sealed;		/* acme_accounts:<id>:key */
	size_t		 key_sealed_len;
	char		*account_url;		/* NULL until registered */
	int64_t		 tos_agreed_at;
	int64_t		 created_at;
};
void	 store_account_free(struct store_account *a);
/* Sets a->id; 1 when the profile already has an account for that email. */
int	 store_account_insert(struct store *st, struct store_account *a,
	    char *err, size_t errlen);
/* 1: not found. */
int	 store_account_get(struct store *st, int64_t profile_id,
	    const char *email, struct store_account **out, char *err,
	    size_t errlen);
/* Writes key, account_url and tos_agreed_at; 1: not found. */
int	 store_account_update(struct store *st, const struct store_account *a,
	    char *err, size_t errlen);

/* A managed certificate.  facts is NULL until a certificate exists. */
struct store_cert {
	int64_t			 id;
	char			 source[8];	/* "acme" or "import" */
	char			 status[12];	/* draft pending active expired error revoked */
	char			*domain;
	char			**aliases;
	size_t			 naliases;
	int64_t			 ca_id;		/* 0: none (an import not renewed) */
	char			*ca_name;	/* read only, from the profile */
	char			*email;
	int64_t			 tos_agreed_at;
	int			 renew_days;
	char			 key_type[12];
	char			*label;		/* NULL before the CSR */
	unsigned char		*key_sealed;	/* certificates:<id>:key */
	size_t			 key_sealed_len;
	char			*csr_pem;
	char			*chain_pem;
	struct x509_facts	*facts;		/* facts->pem is the certificate */
	char			*last_error;
	char			*problem_type;
	int			 failures;
	int64_t			 next_attempt_at;
	int64_t			 next_renewal_at;
	int64_t			 created_at;
	int64_t			 updated_at;
};
void	 store_cert_free(struct store_cert *c);
/* Sets c->id; 1 when the label is taken. */
int	 store_cert_insert(struct store *st, struct store_cert *c, char *err,
	    size_t errlen);
/* 1: not found. */
int	 store_cert_get(struct store *st, int64_t id, struct store_cert **out,
	    char *err, size_t errlen);
/* Writes every column but id, source and created_at; 1: not found (or the
 * label is taken: the error says so). */
int	 store_cert_update(struct store *st, const struct store_cert *c,
	    char *err, size_t errlen);
/* Deletes it with its orders and versions; 1: not found. */
int	 store_cert_delete(struct store *st, int64_t id, char *err,
	    size_t errlen);
typedef int store_cert_fn(const struct store_cert *c, void *arg);
/* In id order after after_id, at most limit (0: all); status NULL: any. */
int	 store_certs_each(struct store *st, const char *status, int64_t after_id,
	    int64_t limit, store_cert_fn *fn, void *arg, char *err,
	    size_t errlen);
/* Up to max ids whose next_attempt_at is at or before now, soonest first. */
int	 store_certs_due(struct store *st, int64_t now, int64_t *ids,
	    size_t max, size_t *n);

/* The soonest next_attempt_at of any certificate; 0 when none is set. */
int	 store_certs_next_due(struct store *st, int64_t *at);
/* Makes every certificate with a running order due at now (at start). */
int	 store_orders_resume(struct store *st, int64_t now, char *err,
	    size_t errlen);

/* One ACME order of a certificate: its history and its resumable state. */
struct store_order {
	int64_t		 id;
	int64_t		 cert_id;
	int64_t		 account_id;	/* 0: none yet */
	char		*reason;	/* issue, renew, forced */
	char		*step;
	char		*status;	/* running, valid, failed, cancelled */
	char		*order_url;
	char		*finalize_url;
	char		*cert_url;
	char		*authz;		/* JSON array, the engine's per-name state */
	unsigned char	*key_sealed;	/* cert_orders:<id>:key (a renewal's key) */
	size_t		 key_sealed_len;
	char		*csr_pem;
	char		*problem_type;
	char		*problem_detail;
	char		*serial_number;
	int64_t		 started_at;
	int64_t		 updated_at;
	int64_t		 finished_at;
};
void	 store_order_free(struct store_order *o);
/* Sets o->id; 1 when the certificate already has a running order. */
int	 store_order_insert(struct store *st, struct store_order *o, char *err,
	    size_t errlen);
/* Writes every column but id, cert_id and started_at; 1: not found. */
int	 store_order_update(struct store *st, const struct store_order *o,
	    char *err, size_t errlen);
/* The certificate's running order; 1: none. */
int	 store_order_running(struct store *st, int64_t cert_id,
	    struct store_order **out, char *err, size_t errlen);
typedef int store_order_fn(const struct store_order *o, void *arg);
/* A certificate's orders, newest first, at most limit (0: all). */
int	 store_orders_each(struct store *st, int64_t cert_id, int64_t limit,
	    store_order_fn *fn, void *arg, char *err, size_t errlen);

/* A certificate that a renewal or re-import replaced. */
struct store_cert_version {
	int64_t		 id;
	int64_t		 cert_id;
	int64_t		 replaced_at;
	const char	*serial_number;
	const char	*fingerprint_sha256;
	int64_t		 valid_from;
	int64_t		 valid_until;
	const char	*cert_pem;
	const char	*chain_pem;
};
/* Keeps c's current certificate (if any) as a version replaced at `at`. */
int	 store_cert_version_add(struct store *st, const struct store_cert *c,
	    int64_t at, char *err, size_t errlen);
typedef int store_version_fn(const struct store_cert_version *v, void *arg);
/* Oldest first. */
int	 store_cert_versions_each(struct store *st, int64_t cert_id,
	    store_version_fn *fn, void *arg, char *err, size_t errlen);
/*
 * The tech zone's TXT records (ACME DNS-01 values).  Owners are names in
 * presentation form; they are stored lowercase without the final dot.
 *
 * Reads run on the daemon's one connection, so they see writes of the open
 * group-commit transaction before its COMMIT: a value added is answered by
 * the very next DNS query.  That is what issuance wants (it publishes, then
 * asks the CA to look); a value that a failed commit rolls back was served
 * for a few milliseconds, which costs nothing (challenge values are public).
 * Rows written by another connection are seen once that one commits.
 */
#define STORE_TZ_OWNER_MAX	253
#define STORE_TZ_VALUE_MAX	1024	/* TECHZONE_TXT_LEN_MAX */

/* Adds one value at owner; 1 when that pair was already there. */
int	 store_techzone_add(struct store *st, const char *owner,
	    const char *value, int64_t cert_id, int64_t now, char *err,
	    size_t errlen);
/* Removes one value at owner; 1 when it was not there. */
int	 store_techzone_remove(struct store *st, const char *owner,
	    const char *value, char *err, size_t errlen);
/* Removes every value of a certificate; *n (may be NULL) says how many. */
int	 store_techzone_remove_cert(struct store *st, int64_t cert_id,
	    int64_t *n, char *err, size_t errlen);
/*
 * Calls fn for each value at owner, oldest first, until it returns
 * non-zero.  Returns how many values it passed on (0 for a name that
 * cannot be an owner), or -1 with err.
 */
typedef int store_tz_value_fn(const char *value, size_t len, void *arg);
int	 store_techzone_values(struct store *st, const char *owner,
	    store_tz_value_fn *fn, void *arg, char *err, size_t errlen);
/* 1 when some owner lies strictly below name, 0 when none, -1 on error. */
int	 store_techzone_below(struct store *st, const char *name);
/* The SOA serial: changes whenever a record is added or removed. */
int	 store_techzone_serial(struct store *st, uint32_t *serial);
/*
 * A techzone_source answering from these records (its calls are the ones
 * above; a database error makes the DNS answer SERVFAIL).  st must outlive
 * every zone built on it.
 */
void	 store_techzone_source(struct store *st, struct techzone_source *out);

/* Seconds each COMMIT took, since open (for /metrics). */
struct hist;
const struct hist *store_commit_hist(const struct store *st);

#endif
