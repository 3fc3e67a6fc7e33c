/*
 * The store's deploy_targets table (schema 009).  Writes run inside the
 * caller's write bracket.  Functions return 0, 1 for "no such row" where
 * noted, -1 with err.
 */
#ifndef CERTFLEET_STORE_DEPLOY_H
#define CERTFLEET_STORE_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_deploy {
	int64_t		 id;
	int64_t		 cert_id;
	char		*dir;
	char		*owner;
	long		 uid, gid;	/* -1: unchanged */
	int		 key_mode, cert_mode;
	int		 combined;
	char		*reload;
	int		 timeout;
	char		 state[8];	/* pending, ok, failed */
	char		*deployed_fingerprint;
	int64_t		 deployed_at;
	char		*last_error;
	int		 failures;
	int64_t		 next_attempt_at;
	int64_t		 created_at;
};

void	 store_deploy_free(struct store_deploy *t);
/* Sets t->id; 1 when the certificate has a target in that dir already. */
int	 store_deploy_insert(struct store *st, struct store_deploy *t,
	    char *err, size_t errlen);
int	 store_deploy_get(struct store *st, int64_t id, struct store_deploy **out,
	    char *err, size_t errlen);				/* 1 */
typedef int store_deploy_fn(const struct store_deploy *t, void *arg);
int	 store_deploys_cert(struct store *st, int64_t cert_id,
	    store_deploy_fn *fn, void *arg, char *err, size_t errlen);
int	 store_deploy_delete(struct store *st, int64_t cert_id, int64_t id,
	    char *err, size_t errlen);				/* 1 */
/* Writes state, deployed_*, last_error, failures and next_attempt_at. */
int	 store_deploy_result(struct store *st, const struct store_deploy *t,
	    char *err, size_t errlen);
/* Every target of the certificate due at `at` (after an issuance). */
int	 store_deploy_due_cert(struct store *st, int64_t cert_id, int64_t at,
	    char *err, size_t errlen);
int	 store_deploys_due(struct store *st, int64_t now, int64_t *ids,
	    size_t max, size_t *n, char *err, size_t errlen);
int	 store_deploy_next_due(struct store *st, int64_t *at);
int	 store_deploy_lease(struct store *st, int64_t id, int64_t until,
	    char *err, size_t errlen);

#endif
