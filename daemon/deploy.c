/*
 * Deploy targets (deploy.h): checked and stored here; deployed by the
 * runner, one job per target, each an explicit state machine: WRITING (the
 * writer child puts the files in place) then RELOADING (the target's
 * command), then the outcome is recorded with its event.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "certfleet/escape.h"
#include "cert.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "event.h"
#include "keystore.h"
#include "log.h"
#include "proc.h"
#include "schedule.h"
#include "store.h"
#include "store_deploy.h"
#include "x509.h"

#define DEPLOY_BATCH		64	/* targets started per loop turn */
#define DEPLOY_OUTPUT_MAX	4096
#define DEPLOY_REARM_MAX	3600

/* --- targets ---------------------------------------------------------------- */

/* "user[:group]" or numeric ids into uid and gid (-1: unchanged). */
static int
parse_owner(const char *owner, long *uid, long *gid, struct cf_err *e)
{
	char user[256], *colon, *end;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[4096];

	*uid = *gid = -1;
	if (owner == NULL)
		return 0;
	if (strlen(owner) >= sizeof(user))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "owner: too long");
	snprintf(user, sizeof(user), "%s", owner);
	if ((colon = strchr(user, ':')) != NULL)
		*colon++ = '\0';
	if (user[0] != '\0') {
		*uid = strtol(user, &end, 10);
		if (*end != '\0' || end == user) {
			/* Local files on a server; a blocking NSS lookup is
			 * bounded by the machine's own configuration. */
			if (getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) != 0 ||
			    pwp == NULL)
				return cf_err_set(e, WIRE_INVALID_ARGUMENT, "owner: "
				    "no user '%s'", user);
			*uid = (long)pw.pw_uid;
		}
	}
	if (colon != NULL && *colon != '\0') {
		*gid = strtol(colon, &end, 10);
		if (*end != '\0' || end == colon) {
			if (getgrnam_r(colon, &gr, buf, sizeof(buf), &grp) != 0 ||
			    grp == NULL)
				return cf_err_set(e, WIRE_INVALID_ARGUMENT, "owner: "
				    "no group '%s'", colon);
			*gid = (long)gr.gr_gid;
		}
	}
	return 0;
}

/* The directory as the writer will find it: absolute, real, not writable
 * by others.  Checked again by the writer at every deploy. */
static int
check_dir(const char *dir, struct cf_err *e)
{
	struct stat st;

	if (dir == NULL || dir[0] != '/' || strlen(dir) > DEPLOY_PATH_MAX - 64)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir must be an "
		    "absolute path");
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir holds a "
			    "control character");
	if (lstat(dir, &st) == -1)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir %s: %s", dir,
		    strerror(errno));
	if (S_ISLNK(st.st_mode))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir %s is a "
		    "symbolic link: give the real directory", dir);
	if (!S_ISDIR(st.st_mode))
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir %s is not a "
		    "directory", dir);
	if (st.st_mode & S_IWOTH)
		return cf_err_set(e, WIRE_INVALID_ARGUMENT, "dir %s is writable "
		    "by others: anyone could swap the files", dir);
	return 0;
}

struct store_deploy *
deploy_add(struct daemon *d, const struct deploy_params *p, struct cf_err *e)
{
	struct store_deploy t = { 0 }, *out;
	struct store_cert *c;
	int rc;

	if ((c = cert_get(d, p->cert_id, e)) == NULL)
		return NULL;
	rc = check_dir(p->dir, e);
	if (rc == 0 && p->key_mode != -1 && (p->key_mode & ~0770) != 0)
		rc = cf_err_set(e, WIRE_INVALID_ARGUMENT, "key_mode %04o would "
		    "let others read the key (at most 0660)", p->key_mode);
	if (rc == 0 && p->cert_mode != -1 && (p->cert_mode & ~0777) != 0)
		rc = cf_err_set(e, WIRE_INVALID_ARGUMENT, "cert_mode must be "
		    "0000..0777");
	if (rc == 0 && (p->timeout < 0 || p->timeout > 3600))
		rc = cf_err_set(e, WIRE_INVALID_ARGUMENT, "timeout must be "
		    "1..3600 seconds");
	if (rc == 0 && p->reload != NULL && (p->reload[0] == '\0' ||
	    strlen(p->reload) > PROC_COMMAND_MAX))
		rc = cf_err_set(e, WIRE_INVALID_ARGUMENT, "reload: an empty or "
		    "overlong command");
	if (rc == 0)
		rc = parse_owner(p->owner, &t.uid, &t.gid, e);
	if (rc == -1) {
		store_cert_free(c);
		return NULL;
	}
	t.cert_id = c->id;
	t.dir = (char *)p->dir;
	t.owner = (char *)p->owner;
	t.key_mode = p->key_mode == -1 ? 0600 : p->key_mode;
	t.cert_mode = p->cert_mode == -1 ? 0644 : p->cert_mode;
	t.combined = p->combined;
	t.reload = (char *)p->reload;
	t.timeout = p->timeout ? p->timeout : DEPLOY_TIMEOUT_DEFAULT;
	t.created_at = clock_now();
	/* A certificate that exists is deployed at once. */
	t.next_attempt_at = c->facts != NULL ? t.created_at : 0;
	store_cert_free(c);
	if (store_write_begin(d->store, e->msg, sizeof(e->msg)) == -1) {
		e->code = WIRE_UNAVAILABLE;
		return NULL;
	}
	rc = store_deploy_insert(d->store, &t, e->msg, sizeof(e->msg));
	store_write_end(d->store, rc == 0);
	if (rc == 1)
		return cf_err_set(e, WIRE_ALREADY_EXISTS, "certificate %lld "
		    "deploys to %s already", (long long)p->cert_id, p->dir), NULL;
	if (rc == -1)
		return cf_err_set(e, WIRE_UNAVAILABLE, "%s", e->msg), NULL;
	log_info("certificate %lld: deploy target %lld added (%s)",
	    (long long)p->cert_id, (long long)t.id, p->dir);
	if (d->deployer != NULL)
		deployer_kick(d->deployer);
	rc = store_deploy_get(d->store, t.id, &out, e->msg, sizeof(e->msg));
	return cf_err_store(e, rc, "the target vanished") == 0 ? out : NULL;
}

int
deploy_remove(struct daemon *d, int64_t cert_id, int64_t target_id,
    struct cf_err *e)
{
	int rc;

	if (store_write_begin(d->store, e->msg, sizeof(e->msg)) == -1) {
		e->code = WIRE_UNAVAILABLE;
		return -1;
	}
	rc = store_deploy_delete(d->store, cert_id, target_id, e->msg,
	    sizeof(e->msg));
	store_write_end(d->store, rc == 0);
	return cf_err_store(e, rc, "certificate %lld has no deploy target %lld",
	    (long long)cert_id, (long long)target_id) == 0 ? 0 : -1;
}

/* --- the runner -------------------------------------------------------------- */

enum job_state {
	JOB_WRITING = 0,	/* the writer child puts the files in place */
	JOB_RELOADING,		/* the target's reload command runs */
};

struct deploy_job {
	struct deployer		*dp;
	enum job_state		 state;
	struct store_deploy	*t;
	char			 fingerprint[65];
	char			 serial[128];
	char			 not_after[40];
	char			*domains;	/* space separated */
	int			 again;		/* made due while running */
	struct proc		*proc;
	LIST_ENTRY(deploy_job)	 entry;
};

/* A Cert.DeployRun waiting for its targets. */
struct deploy_wait {
	deploy_run_cb		*done;
	void			*arg;
	int64_t			 cert_id;
	int64_t			 target_id;	/* 0: every target */
	LIST_ENTRY(deploy_wait)	 entry;
};

struct deployer {
	struct daemon		*d;
	struct proc_runner	*procs;
	size_t			 peak;		/* most jobs at once */
	struct event		*timer;
	char			 writer[PATH_MAX];	/* the writer program */
	LIST_HEAD(, deploy_job)	 running;
	LIST_HEAD(, deploy_wait) waits;
	size_t			 nrunning;
};

static void deployer_arm(struct deployer *dp, int64_t delay);
static void waits_check(struct deployer *dp);

static void
job_free(struct deploy_job *j)
{
	LIST_REMOVE(j, entry);
	j->dp->nrunning--;
	store_deploy_free(j->t);
	free(j->domains);
	free(j);
}

/* Records the outcome with its event, then ends the job. */
static void
job_finish(struct deploy_job *j, const char *why)
{
	struct deployer *dp = j->dp;
	struct store_deploy *t = j->t;
	int64_t now = clock_now();
	struct event ev;
	char err[512], shown[1024];
	int ok;

	free(t->last_error);
	t->last_error = NULL;
	if (why == NULL && j->again) {
		/* Deployed, but a newer certificate (or a run) wants it again:
		 * its files are not recorded as the latest. */
		snprintf(t->state, sizeof(t->state), "pending");
		t->next_attempt_at = now;
	} else if (why == NULL) {
		snprintf(t->state, sizeof(t->state), "ok");
		free(t->deployed_fingerprint);
		t->deployed_fingerprint = strdup(j->fingerprint);
		t->deployed_at = now;
		t->failures = 0;
		t->next_attempt_at = 0;
	} else {
		esc_log(shown, sizeof(shown), why, strlen(why));
		snprintf(t->state, sizeof(t->state), "failed");
		t->last_error = strdup(shown);
		t->failures++;
		t->next_attempt_at = j->again ? now : now +
		    schedule_backoff(t->failures, DEPLOY_RETRY_MIN,
		    DEPLOY_RETRY_MAX);
	}
	event_init(&ev, why ? "deploy_failed" : "deploy_ok",
	    EVENT_SUBJECT_CERTIFICATE, t->cert_id);
	if (why)
		event_message(&ev, "certificate %lld: deploy to %s failed (attempt "
		    "%d, next at +%llds): %s", (long long)t->cert_id, t->dir,
		    t->failures, (long long)(t->next_attempt_at - now), shown);
	else
		event_message(&ev, "certificate %lld: deployed to %s (serial %s)",
		    (long long)t->cert_id, t->dir, j->serial);
	event_int(&ev, "target", t->id);
	event_str(&ev, "dir", t->dir);
	event_str(&ev, "fingerprint_sha256", j->fingerprint);
	event_str(&ev, "serial_number", j->serial);
	event_str(&ev, "not_after", j->not_after);
	event_str(&ev, "error", t->last_error);
	event_int(&ev, "attempt", t->failures);
	ok = store_write_begin(dp->d->store, err, sizeof(err)) == 0;
	if (!ok) {
		event_clear(&ev);
	} else {
		ok = store_deploy_result(dp->d->store, t, err, sizeof(err)) == 0 &&
		    event_record(dp->d, &ev, err, sizeof(err)) == 0;
		store_write_end(dp->d->store, ok);
	}
	if (!ok)
		log_error("certificate %lld: recording deploy target %lld: %s",
		    (long long)t->cert_id, (long long)t->id, err);
	else if (why)
		log_warn("%s", ev.message);
	else
		log_info("certificate %lld: deployed to %s", (long long)t->cert_id,
		    t->dir);
	job_free(j);
	waits_check(dp);
	deployer_arm(dp, 0);
}

static void
reload_done_cb(const struct proc_result *res, void *arg)
{
	struct deploy_job *j = arg;
	char why[DEPLOY_OUTPUT_MAX + 300];

	j->proc = NULL;
	if (res->how == PROC_EXITED && res->code == 0) {
		job_finish(j, NULL);
		return;
	}
	snprintf(why, sizeof(why), "the reload command %s%s%.*s", res->error,
	    res->output_len ? "; it said: " : "", (int)(res->output_len > 400 ?
	    400 : res->output_len), res->output ? res->output : "");
	job_finish(j, why);
}

/* The reload, with the facts in certbot's variables and ours. */
static void
job_reload(struct deploy_job *j)
{
	struct store_deploy *t = j->t;
	char *env[16] = { NULL }, err[256];
	struct proc_spec spec = { .command = t->reload };
	size_t n = 0;
	int ok = 1;

#define ENV(...) do { if (asprintf(&env[n], __VA_ARGS__) == -1) ok = 0; \
	else n++; } while (0)
	ENV("CERTFLEET_CERT_ID=%lld", (long long)t->cert_id);
	ENV("CERTFLEET_DOMAINS=%s", j->domains);
	ENV("CERTFLEET_DIR=%s", t->dir);
	ENV("CERTFLEET_CERT_PATH=%s/cert.pem", t->dir);
	ENV("CERTFLEET_KEY_PATH=%s/privkey.pem", t->dir);
	ENV("CERTFLEET_CHAIN_PATH=%s/chain.pem", t->dir);
	ENV("CERTFLEET_FULLCHAIN_PATH=%s/fullchain.pem", t->dir);
	ENV("CERTFLEET_SERIAL=%s", j->serial);
	ENV("CERTFLEET_NOT_AFTER=%s", j->not_after);
	ENV("RENEWED_LINEAGE=%s", t->dir);
	ENV("RENEWED_DOMAINS=%s", j->domains);
#undef ENV
	spec.env = (const char *const *)env;
	spec.timeout_ms = t->timeout * 1000;
	spec.output_max = DEPLOY_OUTPUT_MAX;
	j->state = JOB_RELOADING;
	if (ok)
		j->proc = proc_start(j->dp->procs, &spec, reload_done_cb, j, err,
		    sizeof(err));
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	if (!ok || j->proc == NULL)
		job_finish(j, ok ? err : "out of memory");
}

static void
write_done_cb(const struct proc_result *res, void *arg)
{
	struct deploy_job *j = arg;
	char why[DEPLOY_OUTPUT_MAX + 300];

	j->proc = NULL;
	if (res->how != PROC_EXITED || res->code != 0) {
		snprintf(why, sizeof(why), "writing the files: %.*s%s",
		    (int)res->output_len, res->output ? res->output : "",
		    res->output_len ? "" : res->error);
		/* The writer's line ends with a newline: drop it. */
		why[strcspn(why, "\n")] = '\0';
		job_finish(j, why);
		return;
	}
	if (j->t->reload != NULL)
		job_reload(j);
	else
		job_finish(j, NULL);
}

/* Appends one file of the deploy to the writer's input (in has room). */
static void
add_file(char *in, size_t *len, const struct store_deploy *t,
    const char *name, int mode, const char *a, size_t alen, const char *b,
    size_t blen)
{
	*len += (size_t)sprintf(in + *len, "file %s %o %ld %ld %zu\n", name,
	    mode, t->uid, t->gid, alen + blen);
	memcpy(in + *len, a, alen);
	*len += alen;
	memcpy(in + *len, b, blen);
	*len += blen;
}

/* The writer's input: the certificate, chain, fullchain, key (and the
 * combined file); the key read through the one keystore path, into one
 * buffer sized once (never moved, so no unwiped copy is left behind). */
static char *
job_input(struct deploy_job *j, const struct store_cert *c, size_t *len,
    struct cf_err *e)
{
	const struct store_deploy *t = j->t;
	const char *cert = c->facts->pem, *chain = c->chain_pem ? c->chain_pem :
	    "";
	size_t clen = strlen(cert), chlen = strlen(chain), klen = 0, cap;
	char *key = NULL, *in;

	if (cert_key_pem(j->dp->d, c->id, &key, &klen, e) == -1)
		return NULL;
	/* Headers (< 128 bytes each), the dir line, every file's bytes. */
	cap = 64 + strlen(t->dir) + 5 * 128 + 2 * clen + 2 * chlen + 2 * klen +
	    clen + chlen;
	if ((in = malloc(cap)) == NULL) {
		keystore_secret_free(key, klen);
		cf_err_set(e, WIRE_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	*len = (size_t)sprintf(in, "certfleet-deploy 1\ndir %s\n", t->dir);
	add_file(in, len, t, "cert.pem", t->cert_mode, cert, clen, "", 0);
	add_file(in, len, t, "chain.pem", t->cert_mode, chain, chlen, "", 0);
	add_file(in, len, t, "fullchain.pem", t->cert_mode, cert, clen, chain,
	    chlen);
	add_file(in, len, t, "privkey.pem", t->key_mode, key, klen, "", 0);
	/* key + fullchain, for HAProxy and Postfix, with a key's mode; the
	 * fullchain part written as cert then chain. */
	if (t->combined) {
		*len += (size_t)sprintf(in + *len, "file combined.pem %o %ld %ld "
		    "%zu\n", t->key_mode, t->uid, t->gid, klen + clen + chlen);
		memcpy(in + *len, key, klen);
		memcpy(in + *len + klen, cert, clen);
		memcpy(in + *len + klen + clen, chain, chlen);
		*len += klen + clen + chlen;
	}
	keystore_secret_free(key, klen);
	memcpy(in + *len, "end\n", 4);
	*len += 4;
	return in;
}

static char *
domains_of(const struct store_cert *c)
{
	size_t n = strlen(c->domain) + 1;
	char *s;

	for (size_t i = 0; i < c->naliases; i++)
		n += strlen(c->aliases[i]) + 1;
	if ((s = malloc(n)) == NULL)
		return NULL;
	strcpy(s, c->domain);
	for (size_t i = 0; i < c->naliases; i++) {
		strcat(s, " ");
		strcat(s, c->aliases[i]);
	}
	return s;
}

static struct deploy_job *
job_running(struct deployer *dp, int64_t id)
{
	struct deploy_job *j;

	LIST_FOREACH(j, &dp->running, entry)
		if (j->t->id == id)
			return j;
	return NULL;
}

/* Starts the deploy of one (leased) target; one running is told to go
 * again when it ends, so two writers never interleave on one directory. */
static void
job_start(struct deployer *dp, int64_t id)
{
	const char *argv[] = { dp->writer, NULL };
	struct deploy_job *j;
	struct store_cert *c = NULL;
	struct proc_spec spec = { .argv = argv };
	struct cf_err e = { 0 };
	char *in = NULL;
	size_t len = 0;

	if ((j = job_running(dp, id)) != NULL) {
		j->again = 1;
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;		/* the lease runs out: tried again then */
	j->dp = dp;
	LIST_INSERT_HEAD(&dp->running, j, entry);
	if (++dp->nrunning > dp->peak)
		dp->peak = dp->nrunning;
	if (store_deploy_get(dp->d->store, id, &j->t, e.msg, sizeof(e.msg)) != 0) {
		LIST_REMOVE(j, entry);
		dp->nrunning--;
		free(j);
		return;
	}
	if ((c = cert_get(dp->d, j->t->cert_id, &e)) == NULL) {
		job_finish(j, e.msg);
		return;
	}
	if (c->facts == NULL || c->facts->pem == NULL) {
		store_cert_free(c);
		job_finish(j, "the certificate has not been issued yet");
		return;
	}
	snprintf(j->fingerprint, sizeof(j->fingerprint), "%s",
	    c->facts->fingerprint_sha256);
	snprintf(j->serial, sizeof(j->serial), "%s", c->facts->serial_number ?
	    c->facts->serial_number : "");
	clock_rfc3339(c->facts->valid_until, j->not_after, sizeof(j->not_after));
	j->domains = domains_of(c);
	in = job_input(j, c, &len, &e);
	store_cert_free(c);
	if (in == NULL || j->domains == NULL) {
		keystore_secret_free(in, len);
		job_finish(j, e.msg[0] ? e.msg : "out of memory");
		return;
	}
	spec.input = in;
	spec.input_len = len;
	spec.timeout_ms = 60000;
	spec.output_max = DEPLOY_OUTPUT_MAX;
	j->state = JOB_WRITING;
	j->proc = proc_start(dp->procs, &spec, write_done_cb, j, e.msg,
	    sizeof(e.msg));
	/* proc_start copied the input: the key leaves our memory now. */
	keystore_secret_free(in, len);
	if (j->proc == NULL)
		job_finish(j, e.msg);
}

static void
deployer_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deployer *dp = arg;
	int64_t ids[DEPLOY_BATCH], now = clock_now(), next;
	size_t max = (size_t)dp->d->cfg->deploy_concurrency, n = 0, want;
	char err[256];
	int ok = 1;

	(void)fd;
	(void)what;
	if (dp->nrunning >= max)
		return;		/* a finishing job arms us again */
	want = max - dp->nrunning < DEPLOY_BATCH ? max - dp->nrunning :
	    DEPLOY_BATCH;
	if (store_deploys_due(dp->d->store, now, ids, want, &n, err,
	    sizeof(err)) == -1 || (n > 0 && store_write_begin(dp->d->store, err,
	    sizeof(err)) == -1)) {
		log_error("deploys: %s; trying again in a minute", err);
		deployer_arm(dp, 60);
		return;
	}
	/* Leased past the writer's and the reload's timeouts: a crash mid
	 * deploy lets the lease run out and the target deploys again. */
	for (size_t i = 0; i < n && ok; i++)
		ok = store_deploy_lease(dp->d->store, ids[i], now + 2 * 3600,
		    err, sizeof(err)) == 0;
	if (n > 0)
		store_write_end(dp->d->store, ok);
	for (size_t i = 0; i < n && ok; i++)
		job_start(dp, ids[i]);
	if (n == want) {
		deployer_arm(dp, 0);
		return;
	}
	if (store_deploy_next_due(dp->d->store, &next) == -1 || next == 0)
		deployer_arm(dp, DEPLOY_REARM_MAX);
	else
		deployer_arm(dp, next - clock_now());
}

static void
deployer_arm(struct deployer *dp, int64_t delay)
{
	struct timeval tv = { delay < 0 ? 0 : delay, 0 };

	if (delay > DEPLOY_REARM_MAX)
		tv.tv_sec = DEPLOY_REARM_MAX;
	evtimer_add(dp->timer, &tv);
}

void
deployer_kick(struct deployer *dp)
{
	deployer_arm(dp, 0);
}

struct deployer *
deployer_new(struct daemon *d, char *err, size_t errlen)
{
	struct deployer *dp = calloc(1, sizeof(*dp));
	ssize_t n;

	if (dp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dp->d = d;
	LIST_INIT(&dp->running);
	LIST_INIT(&dp->waits);
	/* Beside certfleetd (the build tree, or both installed in one place),
	 * else where it is installed. */
	if ((n = readlink("/proc/self/exe", dp->writer, sizeof(dp->writer) -
	    1)) > 0) {
		char *slash;

		dp->writer[n] = '\0';
		if ((slash = strrchr(dp->writer, '/')) != NULL &&
		    (size_t)(slash - dp->writer) + sizeof(DEPLOY_WRITER) + 1 <
		    sizeof(dp->writer))
			strcpy(slash + 1, DEPLOY_WRITER);
	}
	if (n <= 0 || access(dp->writer, X_OK) != 0)
		snprintf(dp->writer, sizeof(dp->writer), "%s/%s",
		    CF_LIBEXEC_DIR, DEPLOY_WRITER);
	if ((dp->procs = proc_runner_new(d->base, err, errlen)) == NULL ||
	    (dp->timer = evtimer_new(d->base, deployer_run_cb, dp)) == NULL) {
		if (dp->procs == NULL && err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		deployer_free(dp);
		return NULL;
	}
	deployer_arm(dp, 0);
	return dp;
}

void
deployer_free(struct deployer *dp)
{
	struct deploy_job *j;
	struct deploy_wait *w;

	if (dp == NULL)
		return;
	/* Jobs stop here; their leases bring them back after a restart. */
	while ((j = LIST_FIRST(&dp->running)) != NULL) {
		if (j->proc != NULL)
			proc_cancel(j->proc);
		job_free(j);
	}
	while ((w = LIST_FIRST(&dp->waits)) != NULL) {
		LIST_REMOVE(w, entry);
		w->done(w->cert_id, "certfleetd is stopping; the deploy resumes "
		    "at the next start", w->arg);
		free(w);
	}
	if (dp->timer != NULL)
		event_free(dp->timer);
	proc_runner_free(dp->procs);
	free(dp);
}

/* --- deploy run ----------------------------------------------------------------- */

struct wait_ctx {
	const struct deploy_wait *w;
	int64_t		 now;
	int		 busy;
};

static int
wait_target(const struct store_deploy *t, void *arg)
{
	struct wait_ctx *ctx = arg;

	if ((ctx->w->target_id == 0 || t->id == ctx->w->target_id) &&
	    t->next_attempt_at != 0 && t->next_attempt_at <= ctx->now)
		ctx->busy = 1;		/* due, not started yet */
	return ctx->busy;
}

/* Done when none of its targets is running or due. */
static int
wait_done(struct deployer *dp, const struct deploy_wait *w)
{
	struct wait_ctx ctx = { .w = w, .now = clock_now() };
	struct deploy_job *j;
	char err[256];

	LIST_FOREACH(j, &dp->running, entry)
		if (j->t->cert_id == w->cert_id && (w->target_id == 0 ||
		    j->t->id == w->target_id))
			return 0;
	if (store_deploys_cert(dp->d->store, w->cert_id, wait_target, &ctx, err,
	    sizeof(err)) == -1)
		return 1;	/* the answer will say what the store says */
	return !ctx.busy;
}

static void
waits_check(struct deployer *dp)
{
	struct deploy_wait *w, *next;

	for (w = LIST_FIRST(&dp->waits); w != NULL; w = next) {
		next = LIST_NEXT(w, entry);
		if (!wait_done(dp, w))
			continue;
		LIST_REMOVE(w, entry);
		w->done(w->cert_id, NULL, w->arg);
		free(w);
	}
}

void
deployer_run(struct deployer *dp, int64_t cert_id, int64_t target_id,
    deploy_run_cb *done, void *arg)
{
	struct deploy_wait *w = calloc(1, sizeof(*w));
	char err[256];
	int ok;

	if (w == NULL) {
		done(cert_id, "out of memory", arg);
		return;
	}
	w->done = done;
	w->arg = arg;
	w->cert_id = cert_id;
	w->target_id = target_id;
	if (target_id != 0) {
		struct store_deploy *t = NULL;
		int rc = store_deploy_get(dp->d->store, target_id, &t, err,
		    sizeof(err));
		int mine = rc == 0 && t->cert_id == cert_id;

		store_deploy_free(t);
		if (!mine) {
			free(w);
			done(cert_id, rc == -1 ? err : "no such deploy target of "
			    "this certificate", arg);
			return;
		}
	}
	/* Due now; the runner starts them within the concurrency bound. */
	ok = store_write_begin(dp->d->store, err, sizeof(err)) == 0;
	if (ok) {
		ok = target_id ? store_deploy_lease(dp->d->store, target_id,
		    clock_now(), err, sizeof(err)) == 0 :
		    store_deploy_due_cert(dp->d->store, cert_id, clock_now(), err,
		    sizeof(err)) == 0;
		store_write_end(dp->d->store, ok);
	}
	if (!ok) {
		free(w);
		done(cert_id, err, arg);
		return;
	}
	LIST_INSERT_HEAD(&dp->waits, w, entry);
	deployer_run_cb(-1, 0, dp);
	waits_check(dp);
}

void
deployer_stats(const struct deployer *dp, size_t *running, size_t *peak)
{
	*running = dp->nrunning;
	*peak = dp->peak;
}
