/*
 * Deploy: a managed certificate's files reach the directories that use it,
 * with certbot's file names, atomically, followed by a reload command.  A
 * target's version (the leaf's fingerprint) is recorded only after its
 * files and its reload succeeded, so a crash anywhere means the next start
 * deploys again.  Files are written by a child (certfleetd-deploy-writer,
 * deploy_write.c) and the reload runs through proc.c: nothing blocks the
 * loop, and at most deploy-concurrency children run at once.
 */
#ifndef CERTFLEET_DEPLOY_H
#define CERTFLEET_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

struct cf_err;
struct daemon;

#define DEPLOY_PATH_MAX		4096
#define DEPLOY_FILES_MAX	5
#define DEPLOY_TIMEOUT_DEFAULT	60
#define DEPLOY_RETRY_MIN	60		/* seconds, doubling */
#define DEPLOY_RETRY_MAX	21600

/* certbot's names, so server configs written for certbot work unchanged. */
extern const char *const deploy_file_names[];	/* NULL-ended */

#define DEPLOY_WRITER		"certfleetd-deploy-writer"
/* The writer program's main: reads a deploy on stdin (deploy_write.c). */
int	 deploy_writer_main(void);
/* Its work, for tests: 0, or -1 with err (nothing replaced). */
int	 deploy_write(const char *in, size_t n, char *err, size_t errlen);

struct deploy_params {
	int64_t		 cert_id;
	const char	*dir;
	const char	*owner;		/* "user[:group]"; NULL: the daemon's */
	int		 key_mode;	/* -1: 0600 */
	int		 cert_mode;	/* -1: 0644 */
	int		 combined;
	const char	*reload;	/* NULL: none */
	int		 timeout;	/* 0: DEPLOY_TIMEOUT_DEFAULT */
};

struct store_deploy;
/* Checks p whole and adds the target (deployed soon when the certificate
 * has one); the new row (store_deploy_free) or NULL with e. */
struct store_deploy *deploy_add(struct daemon *d, const struct deploy_params *p,
		    struct cf_err *e);
int		 deploy_remove(struct daemon *d, int64_t cert_id,
		    int64_t target_id, struct cf_err *e);

/* The runner. */
struct deployer;
struct deployer	*deployer_new(struct daemon *d, char *err, size_t errlen);
void		 deployer_free(struct deployer *dp);
void		 deployer_kick(struct deployer *dp);
/* Deploys under way, and the most at once since start (Daemon.Status). */
void		 deployer_stats(const struct deployer *dp, size_t *running,
		    size_t *peak);
/*
 * Deploys the certificate's targets (one, or all with target_id 0) now;
 * done(cert_id, NULL, arg) once none is running or due, or with a reason
 * when it could not be started (or the daemon stops).  From the loop,
 * possibly inside this call.
 */
typedef void	 deploy_run_cb(int64_t cert_id, const char *err, void *arg);
void		 deployer_run(struct deployer *dp, int64_t cert_id,
		    int64_t target_id, deploy_run_cb *done, void *arg);

#endif
