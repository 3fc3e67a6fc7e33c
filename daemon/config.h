/*
 * Daemon settings: one table of rows (name, type, bounds, default, help).
 * The same names serve as command-line flags (--name) and as keys in the
 * optional config file.  A config is parsed into a fresh struct and only
 * installed by the caller when it parsed cleanly.
 */
#ifndef CERTFLEET_CONFIG_H
#define CERTFLEET_CONFIG_H

#include <stdio.h>

/* Day thresholds, largest first ("30,14,7,3,1"). */
#define CONFIG_DAYS_MAX		16
struct config_days {
	int	 days[CONFIG_DAYS_MAX];
	size_t	 n;
	int	 given;		/* set by the user, not the default */
};

struct config {
	char	*state_dir;
	char	*socket_path;
	char	*socket_group;		/* NULL: the daemon's own group */
	int	 log_level;
	int	 syslog;
	int	 commit_interval_ms;
	int	 max_clients;
	char	**dns_resolvers;	/* ADDR[:PORT]; none: resolv.conf */
	size_t	 ndns_resolvers;
	int	 dns_timeout_ms;	/* one try at one resolver */
	char	*ca_file;		/* NULL: the system trust store */
	int	 probe_concurrency;
	int	 probe_handshakes;
	int	 probe_timeout;		/* seconds, the whole probe */
	int	 probe_connect_timeout;
	int	 probe_handshake_timeout;
	int	 test_hooks;		/* Debug.* methods: tests only */
	char	*techzone_name;		/* NULL: no tech zone, no issuance */
	char	**techzone_listen;	/* ADDR:PORT, UDP and TCP on each */
	size_t	 ntechzone_listen;
	int	 acme_orders_per_account;	/* ACME orders in flight per account */
	int	 acme_timeout;		/* seconds, one ACME request */
	int	 acme_retry_min;	/* seconds, first retry after a failure */
	int	 acme_retry_max;	/* seconds, the backoff's ceiling */
	int	 cname_poll_min;	/* seconds, first CNAME re-check */
	int	 cname_poll_max;	/* seconds, the re-checks' ceiling */
	struct config_days warn_days;	/* expiry warning thresholds */
	int	 deploy_concurrency;	/* deploy children at once */
	char	**http_listen;		/* ADDR:PORT for /metrics */
	size_t	 nhttp_listen;
	char	**http_allow;		/* CIDRs; none: loopback only */
	size_t	 nhttp_allow;
	int	 http_max_connections;
	int	 metrics_items;		/* per-item series in a scrape */
	char	*monitor_socket;	/* NULL: none */
	int	 monitor_socket_mode;
};

/* Returns a new config holding the defaults; free with config_free. */
struct config	*config_new(void);
void		 config_free(struct config *cfg);

/* Sets one setting by name from text (a list setting appends); -1 with err. */
int		 config_set(struct config *cfg, const char *name,
		    const char *value, char *err, size_t errlen);

/*
 * Reads a file of "name = value" lines ('#' or ';' comments) into cfg.
 * Errors read "path:line: message"; a repeated key is an error.
 */
int		 config_load_file(struct config *cfg, const char *path,
		    char *err, size_t errlen);

/* Empties a list setting (before command-line values replace the file's). */
void		 config_clear(struct config *cfg, const char *name);
int		 config_is_list(const char *name);

/* Whether a setting can change on SIGHUP without a restart. */
int		 config_reloadable(const char *name);

/* Names of settings that differ between a and b, for reload reports. */
int		 config_differs(const struct config *a, const struct config *b,
		    const char *name);

/* Prints one help line per setting. */
void		 config_usage(FILE *fp);

/* Iteration over setting names (NULL past the end). */
const char	*config_name_at(size_t i);

#endif
