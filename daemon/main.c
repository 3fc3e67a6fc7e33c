/*
 * certfleetd: arguments and config, the state lock, signals, and an orderly
 * start and stop around one libevent loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "autoconfig.h"
#include "api.h"
#include "cert.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "dns.h"
#include "event.h"
#include "expiry.h"
#include "http.h"
#include "httpd.h"
#include "issue.h"
#include "keystore.h"
#include "log.h"
#include "notify.h"
#include "probe.h"
#include "rpc.h"
#include "scrape.h"
#include "schedule.h"
#include "store.h"
#include "techzone.h"
#include "track.h"

/* How long shutdown lets queued answers reach their clients. */
#define SHUTDOWN_GRACE_MS	200

struct override {
	const char	*name;
	const char	*value;
};

struct args {
	const char	*config_path;
	struct override	*overrides;	/* command-line settings, re-applied on reload */
	size_t		 noverrides;
	int		 check_only;
};

struct runtime {
	struct daemon	 d;
	struct args	*args;
	char		*socket_path;
	int		 lock_fds[3];	/* state dir, socket, monitor socket */
	struct event	*sig_term, *sig_int, *sig_hup, *grace;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: certfleetd [--config FILE] [--foreground] [--check-config]\n"
	    "                  [--SETTING VALUE ...]\n"
	    "\n"
	    "Issues, renews, imports, tracks and audits TLS certificates.\n"
	    "Runs in the foreground and logs to stderr; SIGHUP reloads the\n"
	    "config, SIGTERM stops after committing.\n"
	    "\n"
	    "  --config FILE                    read settings from FILE (name = value lines)\n"
	    "  --foreground                     stay in the foreground (the default)\n"
	    "  -n, --check-config               check the config and exit\n"
	    "  --version                        print the version and exit\n"
	    "  --help                           this text\n"
	    "\n"
	    "Settings (also config file keys of the same name):\n");
	config_usage(fp);
}

/* Builds getopt options: fixed flags plus one per settings-table row. */
static struct option *
build_options(void)
{
	static const struct option fixed[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), n = 0;
	struct option *opts;

	while (config_name_at(n) != NULL)
		n++;
	if ((opts = calloc(nfixed + n + 1, sizeof(*opts))) == NULL)
		return NULL;
	memcpy(opts, fixed, sizeof(fixed));
	for (size_t i = 0; i < n; i++)
		opts[nfixed + i] = (struct option){ config_name_at(i),
		    required_argument, NULL, 0x100 + (int)i };
	return opts;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	struct option *opts = build_options();
	int ch, idx;

	if (opts == NULL)
		return -1;
	if ((a->overrides = calloc(argc, sizeof(*a->overrides))) == NULL) {
		free(opts);
		return -1;
	}
	while ((ch = getopt_long(argc, argv, "c:fnVh", opts, &idx)) != -1) {
		switch (ch) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'f':
			break;
		case 'n':
			a->check_only = 1;
			break;
		case 'V':
			printf("certfleetd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (ch >= 0x100) {
				a->overrides[a->noverrides++] = (struct override){
				    config_name_at(ch - 0x100), optarg };
				break;
			}
			free(opts);
			fprintf(stderr, "certfleetd: try --help\n");
			exit(2);
		}
	}
	free(opts);
	if (optind < argc) {
		fprintf(stderr, "certfleetd: unexpected argument '%s'; try --help\n",
		    argv[optind]);
		exit(2);
	}
	return 0;
}

/* Defaults, then the file, then the command line: a fresh config or NULL. */
static struct config *
load_config(const struct args *a, char *err, size_t errlen)
{
	struct config *cfg = config_new();

	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (a->config_path != NULL &&
	    config_load_file(cfg, a->config_path, err, errlen) == -1)
		goto fail;
	/* A list given on the command line replaces the file's list. */
	for (size_t i = 0; i < a->noverrides; i++)
		if (config_is_list(a->overrides[i].name))
			config_clear(cfg, a->overrides[i].name);
	for (size_t i = 0; i < a->noverrides; i++) {
		char why[256];

		if (config_set(cfg, a->overrides[i].name, a->overrides[i].value,
		    why, sizeof(why)) == -1) {
			snprintf(err, errlen, "--%s", why);
			goto fail;
		}
	}
	/* Checked whole here, so --check-config and a reload refuse them
	 * before anything is applied. */
	if (httpd_check_config(cfg, err, errlen) == -1)
		goto fail;
	if (cfg->monitor_socket != NULL &&
	    strcmp(cfg->monitor_socket, cfg->socket_path) == 0) {
		snprintf(err, errlen, "monitor-socket must differ from socket "
		    "(%s)", cfg->socket_path);
		goto fail;
	}
	return cfg;
fail:
	config_free(cfg);
	return NULL;
}

static int
ensure_dir(const char *dir, char *err, size_t errlen)
{
	struct stat sb;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state directory %s is unusable: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode) ||
	    access(dir, R_OK | W_OK | X_OK) == -1) {
		snprintf(err, errlen, "state directory %s is unusable: %s", dir,
		    errno ? strerror(errno) : "not a directory");
		return -1;
	}
	return 0;
}

/* Creates the socket's directory (e.g. under /run) when it is missing. */
static int
ensure_socket_dir(const char *socket_path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", socket_path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "socket directory %.900s is unusable: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Takes an flock that dies with its holder, so a crash or SIGKILL never
 * leaves a stale lock behind.  Returns the fd or -1.
 */
static int
take_lock(const char *path, const char *what, char *err, size_t errlen)
{
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: cannot open lock %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = errno == EWOULDBLOCK ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "another certfleetd%s%s%s holds %s",
		    buf[0] ? " (pid " : "", buf, buf[0] ? ")" : "", what);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n)
		log_warn("cannot record pid in %s: %s", path, strerror(errno));
	return fd;
}

static int
resolve_group(const struct config *cfg, gid_t *gid, char *err, size_t errlen)
{
	struct group *gr;

	if (cfg->socket_group == NULL) {
		*gid = getegid();
		return 0;
	}
	if ((gr = getgrnam(cfg->socket_group)) == NULL) {
		snprintf(err, errlen, "socket-group: no group named '%s'",
		    cfg->socket_group);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* Probes and RPC clients need descriptors: take all the hard limit allows. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit: %s",
			    strerror(errno));
	}
}

static void
probe_conf_from(const struct config *cfg, struct probe_conf *pc)
{
	pc->ca_file = cfg->ca_file;
	pc->concurrency = cfg->probe_concurrency;
	pc->handshakes = cfg->probe_handshakes;
	pc->timeout_ms = cfg->probe_timeout * 1000;
	pc->connect_timeout_ms = cfg->probe_connect_timeout * 1000;
	pc->handshake_timeout_ms = cfg->probe_handshake_timeout * 1000;
}

/* The tech zone settings go together; a one-line reason when they do not. */
static int
techzone_settings_check(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->techzone_name != NULL && cfg->ntechzone_listen == 0) {
		snprintf(err, errlen, "techzone-name %.300s is set without "
		    "techzone-listen: give the address(es) the tech zone answers "
		    "on", cfg->techzone_name);
		return -1;
	}
	if (cfg->techzone_name == NULL && cfg->ntechzone_listen > 0) {
		snprintf(err, errlen, "techzone-listen is set without "
		    "techzone-name: give the zone it serves");
		return -1;
	}
	return 0;
}

/*
 * The NS name's addresses are the listen addresses (a wildcard says
 * nothing about where the zone is reached, so it gives none), without
 * duplicates.  Fills addrs[] with strings in bufs; returns how many.
 */
static size_t
techzone_glue(const struct config *cfg, char bufs[][INET6_ADDRSTRLEN],
    const char **addrs, size_t max)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char ignored[256];
	size_t n = 0;

	for (size_t i = 0; i < cfg->ntechzone_listen && n < max; i++) {
		const void *a;
		int dup = 0;

		if (techzone_parse_listen(cfg->techzone_listen[i], &ss, &sslen,
		    ignored, sizeof(ignored)) == -1)
			continue;
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (void *)&ss;
			if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
				continue;
			a = &sin->sin_addr;
		} else {
			const struct sockaddr_in6 *sin6 = (void *)&ss;
			if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
				continue;
			a = &sin6->sin6_addr;
		}
		if (inet_ntop(ss.ss_family, a, bufs[n], INET6_ADDRSTRLEN) == NULL)
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(bufs[j], bufs[n]) == 0;
		if (!dup) {
			addrs[n] = bufs[n];
			n++;
		}
	}
	return n;
}

/* Builds the tech zone on the store's records and binds its server. */
static int
techzone_start(struct runtime *rt, char *err, size_t errlen)
{
	const struct config *cfg = rt->d.cfg;
	char bufs[TECHZONE_ADDRS_MAX][INET6_ADDRSTRLEN];
	const char *addrs[TECHZONE_ADDRS_MAX];
	struct techzone_server_conf sconf;
	struct techzone_source src;
	struct techzone_conf conf;
	char why[512];

	/* The pairing was checked at the top of start(). */
	if (cfg->techzone_name == NULL)
		return 0;
	techzone_conf_init(&conf, cfg->techzone_name);
	conf.ns_addrs = addrs;
	conf.nns_addrs = techzone_glue(cfg, bufs, addrs, TECHZONE_ADDRS_MAX);
	store_techzone_source(rt->d.store, &src);
	if ((rt->d.tz = techzone_new(&conf, &src, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "techzone-name: %s", why);
		return -1;
	}
	techzone_server_conf_init(&sconf);
	sconf.listen = (const char *const *)cfg->techzone_listen;
	sconf.nlisten = cfg->ntechzone_listen;
	if ((rt->d.tzsrv = techzone_server_new(rt->d.base, rt->d.tz, &sconf, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "tech zone %s cannot start: %s",
		    cfg->techzone_name, why);
		return -1;
	}
	for (size_t i = 0; i < cfg->ntechzone_listen; i++)
		log_info("tech zone %s answering on %s (UDP and TCP)",
		    cfg->techzone_name, cfg->techzone_listen[i]);
	return 0;
}

static void
durable_barrier(void *ctx, rpc_durable_cb *done, void *arg)
{
	struct daemon *d = ctx;

	store_when_durable(d->store, done, arg);
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;

	event_base_loopexit(rt->d.base, NULL);
}

static void
shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	struct timeval tv = { 0, SHUTDOWN_GRACE_MS * 1000 };

	if (rt->d.stopping++) {
		log_warn("second signal: stopping now");
		event_base_loopbreak(rt->d.base);
		return;
	}
	log_info("signal %d: stopping (no new clients; cancelling probes; "
	    "committing)", (int)sig);
	rpc_server_stop_accepting(rt->d.rpc);
	if (rt->d.monitor != NULL)
		rpc_server_stop_accepting(rt->d.monitor);
	httpd_free(rt->d.httpd);
	rt->d.httpd = NULL;
	if (rt->d.sched != NULL) {
		scheduler_free(rt->d.sched);
		rt->d.sched = NULL;
	}
	expiry_runner_free(rt->d.expiry);
	rt->d.expiry = NULL;
	notify_free(rt->d.notify);
	rt->d.notify = NULL;
	deployer_free(rt->d.deployer);
	rt->d.deployer = NULL;
	api_events_watch_stop(&rt->d);
	api_check_stop(&rt->d);
	if (rt->d.probes != NULL)
		probe_engine_cancel_all(rt->d.probes);
	/* Jobs stop where they are (the store has it); revocations answer. */
	issuer_free(rt->d.issuer);
	rt->d.issuer = NULL;
	/* CSR steps in the key pool are answered now, while clients listen. */
	cert_cancel_all(&rt->d);
	store_flush(rt->d.store);
	/* Let answers already queued reach their clients, briefly. */
	rt->grace = evtimer_new(rt->d.base, grace_cb, rt);
	if (rt->grace == NULL || evtimer_add(rt->grace, &tv) == -1)
		event_base_loopexit(rt->d.base, NULL);
}

/* Installs next, or keeps the running config and returns -1 with err. */
static int
apply_reloadable(struct runtime *rt, struct config *next, char *err,
    size_t errlen)
{
	struct config *cur = rt->d.cfg;

	for (size_t i = 0; config_name_at(i) != NULL; i++) {
		const char *name = config_name_at(i);

		if (config_differs(cur, next, name) && !config_reloadable(name))
			log_warn("reload: '%s' changed; it takes effect at the "
			    "next restart", name);
	}
	struct probe_conf pc;

	probe_conf_from(next, &pc);
	if (probe_engine_reconfigure(rt->d.probes, &pc, err, errlen) == -1 ||
	    (rt->d.httpd != NULL &&
	    httpd_reconfigure(rt->d.httpd, next, err, errlen) == -1))
		return -1;
	if (rt->d.sched != NULL)
		scheduler_set_max_in_flight(rt->d.sched, next->probe_concurrency);
	log_configure(next->log_level, next->syslog);
	store_set_commit_interval(rt->d.store, next->commit_interval_ms);
	rpc_server_set_max_clients(rt->d.rpc, next->max_clients);
	if (rt->d.monitor != NULL)
		rpc_server_set_max_clients(rt->d.monitor, next->max_clients);
	/* Settings only read at start keep their running values. */
	struct config swap = *next;
	next->state_dir = cur->state_dir;
	next->socket_path = cur->socket_path;
	next->socket_group = cur->socket_group;
	next->dns_resolvers = cur->dns_resolvers;
	next->ndns_resolvers = cur->ndns_resolvers;
	next->test_hooks = cur->test_hooks;
	next->techzone_name = cur->techzone_name;
	next->techzone_listen = cur->techzone_listen;
	next->ntechzone_listen = cur->ntechzone_listen;
	cur->state_dir = swap.state_dir;
	cur->socket_path = swap.socket_path;
	cur->socket_group = swap.socket_group;
	cur->dns_resolvers = swap.dns_resolvers;
	cur->ndns_resolvers = swap.ndns_resolvers;
	cur->techzone_name = swap.techzone_name;
	cur->techzone_listen = swap.techzone_listen;
	cur->ntechzone_listen = swap.ntechzone_listen;
	config_free(cur);
	rt->d.cfg = next;
	return 0;
}

static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	struct config *next;
	char err[512];

	if ((next = load_config(rt->args, err, sizeof(err))) == NULL) {
		log_error("reload failed, keeping the running config: %s", err);
		return;
	}
	if (apply_reloadable(rt, next, err, sizeof(err)) == -1) {
		log_error("reload failed, keeping the running config: %s", err);
		config_free(next);
		return;
	}
	log_info("config reloaded");
}

static int
start(struct runtime *rt, char *err, size_t errlen)
{
	struct config *cfg = rt->d.cfg;
	struct rpc_server_conf rc = { 0 };
	struct probe_conf pc;
	char path[PATH_MAX];
	gid_t gid;

	/* Refused before any lock or file is touched. */
	if (techzone_settings_check(cfg, err, errlen) == -1 ||
	    ensure_dir(cfg->state_dir, err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/certfleetd.lock", cfg->state_dir);
	if ((rt->lock_fds[0] = take_lock(path, cfg->state_dir, err, errlen)) == -1)
		return -1;
	if ((rt->socket_path = strdup(cfg->socket_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ensure_socket_dir(rt->socket_path, err, errlen) == -1)
		return -1;
	/* A second lock beside the socket stops two state dirs sharing one. */
	snprintf(path, sizeof(path), "%s.lock", rt->socket_path);
	if ((rt->lock_fds[1] = take_lock(path, rt->socket_path, err,
	    errlen)) == -1)
		return -1;
	if (resolve_group(cfg, &gid, err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/certfleet.db", cfg->state_dir);
	if ((rt->d.store = store_open(rt->d.base, path, cfg->commit_interval_ms,
	    err, errlen)) == NULL ||
	    (rt->d.events = events_new(rt->d.base, rt->d.store, err,
	    errlen)) == NULL)
		return -1;
	/* Private keys are sealed under the master key beside the database. */
	if ((rt->d.keys = keystore_open(cfg->state_dir, err, errlen)) == NULL ||
	    (rt->d.keygen = keystore_pool_new(rt->d.base, err, errlen)) == NULL)
		return -1;
	probe_conf_from(cfg, &pc);
	if ((rt->d.dns = dns_new(rt->d.base, (const char *const *)cfg->dns_resolvers,
	    cfg->ndns_resolvers, cfg->dns_timeout_ms, err, errlen)) == NULL ||
	    (rt->d.probes = probe_engine_new(rt->d.base, rt->d.dns, &pc, err,
	    errlen)) == NULL ||
	    (rt->d.sched = scheduler_new(rt->d.base, rt->d.store,
	    track_scheduled_start, &rt->d, cfg->probe_concurrency, err,
	    errlen)) == NULL ||
	    (rt->d.http = http_new(rt->d.base, err, errlen)) == NULL ||
	    (rt->d.issuer = issuer_new(&rt->d, err, errlen)) == NULL ||
	    (rt->d.expiry = expiry_runner_new(&rt->d, err, errlen)) == NULL ||
	    (rt->d.notify = notify_new(&rt->d, err, errlen)) == NULL ||
	    (rt->d.deployer = deployer_new(&rt->d, err, errlen)) == NULL)
		return -1;
	if (techzone_start(rt, err, errlen) == -1)
		return -1;
	rc.path = rt->socket_path;
	rc.group = gid;
	rc.max_clients = cfg->max_clients;
	rc.methods = api_methods;
	rc.ctx = &rt->d;
	rc.barrier = durable_barrier;
	rc.stats = &rt->d.rpc_stats;
	if ((rt->d.rpc = rpc_server_new(rt->d.base, &rc, err, errlen)) == NULL)
		return -1;
	if (cfg->monitor_socket != NULL) {
		/* Its own lock: two daemons given one monitor path would each
		 * remove the other's socket. */
		snprintf(path, sizeof(path), "%s.lock", cfg->monitor_socket);
		if ((rt->lock_fds[2] = take_lock(path, cfg->monitor_socket, err,
		    errlen)) == -1)
			return -1;
		rc.path = cfg->monitor_socket;
		rc.mode = cfg->monitor_socket_mode;
		rc.monitor = 1;
		if ((rt->d.monitor = rpc_server_new(rt->d.base, &rc, err,
		    errlen)) == NULL)
			return -1;
	}
	if ((rt->d.lag = lag_sampler_new(&rt->d)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg->nhttp_listen > 0 &&
	    (rt->d.httpd = httpd_new(&rt->d, err, errlen)) == NULL)
		return -1;
	return 0;
}

/* One loop, with priorities and a bounded slice for bulk work. */
static struct event_base *
loop_new(void)
{
	struct event_config *ec = event_config_new();
	struct timeval slice = { 0, LOOP_SLICE_MS * 1000 };
	struct event_base *base = NULL;

	if (ec == NULL)
		return NULL;
	if (event_config_set_max_dispatch_interval(ec, &slice, -1,
	    PRIO_DEFAULT) == 0 && (base = event_base_new_with_config(ec)) != NULL &&
	    event_base_priority_init(base, PRIO_COUNT) == -1) {
		event_base_free(base);
		base = NULL;
	}
	event_config_free(ec);
	return base;
}

static int
add_signals(struct runtime *rt)
{
	struct event_base *b = rt->d.base;

	rt->sig_term = evsignal_new(b, SIGTERM, shutdown_cb, rt);
	rt->sig_int = evsignal_new(b, SIGINT, shutdown_cb, rt);
	rt->sig_hup = evsignal_new(b, SIGHUP, reload_cb, rt);
	if (rt->sig_term == NULL || rt->sig_int == NULL || rt->sig_hup == NULL)
		return -1;
	if (evsignal_add(rt->sig_term, NULL) == -1 ||
	    evsignal_add(rt->sig_int, NULL) == -1 ||
	    evsignal_add(rt->sig_hup, NULL) == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
teardown(struct runtime *rt)
{
	httpd_free(rt->d.httpd);
	lag_sampler_free(rt->d.lag);
	scheduler_free(rt->d.sched);
	expiry_runner_free(rt->d.expiry);
	notify_free(rt->d.notify);
	deployer_free(rt->d.deployer);
	probe_engine_free(rt->d.probes);
	issuer_free(rt->d.issuer);
	http_free(rt->d.http);
	/* Before the RPC server: a CSR step still under way answers its call. */
	cert_cancel_all(&rt->d);
	api_events_watch_stop(&rt->d);
	api_check_stop(&rt->d);
	keystore_pool_free(rt->d.keygen);
	rpc_server_free(rt->d.rpc);
	rpc_server_free(rt->d.monitor);
	rpc_stats_free(&rt->d.rpc_stats);
	/* The server reads the zone, the zone reads the store: in that order. */
	techzone_server_free(rt->d.tzsrv);
	techzone_free(rt->d.tz);
	dns_free(rt->d.dns);
	/* The store's last commit may still tell the events' listeners. */
	store_close(rt->d.store);
	events_free(rt->d.events);
	keystore_free(rt->d.keys);
	if (rt->sig_term) event_free(rt->sig_term);
	if (rt->sig_int) event_free(rt->sig_int);
	if (rt->sig_hup) event_free(rt->sig_hup);
	if (rt->grace) event_free(rt->grace);
	if (rt->d.base) event_base_free(rt->d.base);
	for (int i = 0; i < 3; i++)
		if (rt->lock_fds[i] >= 0)
			close(rt->lock_fds[i]);
	free(rt->socket_path);
	config_free(rt->d.cfg);
	free(rt->args->overrides);
}

int
main(int argc, char **argv)
{
	struct args args = { 0 };
	struct runtime rt = { .args = &args, .lock_fds = { -1, -1, -1 } };
	char err[1024];
	int rc = 1;

	log_init("certfleetd");
	if (parse_args(argc, argv, &args) == -1) {
		fprintf(stderr, "certfleetd: out of memory\n");
		return 1;
	}
	if ((rt.d.cfg = load_config(&args, err, sizeof(err))) == NULL) {
		fprintf(stderr, "certfleetd: %s\n", err);
		free(args.overrides);
		return args.check_only ? 1 : 2;
	}
	if (args.check_only &&
	    techzone_settings_check(rt.d.cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "certfleetd: %s\n", err);
		config_free(rt.d.cfg);
		free(args.overrides);
		return 1;
	}
	if (args.check_only) {
		printf("certfleetd: config OK\n");
		config_free(rt.d.cfg);
		free(args.overrides);
		return 0;
	}
	log_configure(rt.d.cfg->log_level, rt.d.cfg->syslog);
	raise_fd_limit();
	rt.d.started_at = (int64_t)time(NULL);
	rpc_stats_init(&rt.d.rpc_stats);
	if ((rt.d.base = loop_new()) == NULL || add_signals(&rt) == -1) {
		log_error("cannot set up the event loop");
		goto out;
	}
	if (start(&rt, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto out;
	}
	log_info("certfleetd %s ready: socket %s, state %s (schema %u)",
	    PACKAGE_VERSION, rt.socket_path, rt.d.cfg->state_dir,
	    store_schema_version(rt.d.store));
	if (event_base_dispatch(rt.d.base) == -1) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
	log_info("stopped");
out:
	teardown(&rt);
	return rc;
}
