/*
 * Test driver: serves a tech zone from the command line's records on a real
 * event_base, so dig and kdig can query the real server.  Prints
 * "port N" once listening; SIGTERM or SIGINT stops it with everything freed,
 * after one line of counters.
 *
 *   techzone_serve LISTEN ZONE [NAME=VALUE | NAME=@N:LEN ...]
 *
 * NAME=@N:LEN adds N values of LEN bytes at NAME (for answers too big for UDP).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "techzone.h"

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int
add_record(struct techzone_mem *m, char *arg)
{
	char *eq = strchr(arg, '='), v[256];
	int n, len;

	if (eq == NULL)
		return -1;
	*eq++ = '\0';
	if (sscanf(eq, "@%d:%d", &n, &len) != 2)
		return techzone_mem_add(m, arg, eq);
	if (n < 1 || len < 4 || len > 255)
		return -1;
	for (int i = 0; i < n; i++) {
		memset(v, 'a' + i % 26, (size_t)len);
		v[len] = '\0';
		v[0] = (char)('0' + i / 100 % 10);
		v[1] = (char)('0' + i / 10 % 10);
		v[2] = (char)('0' + i % 10);
		v[3] = '-';
		if (techzone_mem_add(m, arg, v) == -1)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct techzone_server_conf sconf;
	struct techzone_conf conf;
	struct techzone_source src;
	struct techzone_server *srv = NULL;
	struct techzone_stats st;
	struct techzone_mem *m;
	struct techzone *tz = NULL;
	struct event_base *base;
	struct event *sigterm, *sigint;
	const char *listen[1];
	char err[256];
	int rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: techzone_serve LISTEN ZONE "
		    "[NAME=VALUE | NAME=@N:LEN ...]\n");
		return 2;
	}
	log_init("techzone_serve");
	log_configure(LOG_LVL_DEBUG, 0);
	if ((m = techzone_mem_new()) == NULL ||
	    (base = event_base_new()) == NULL) {
		fprintf(stderr, "techzone_serve: out of memory\n");
		return 1;
	}
	event_base_priority_init(base, PRIO_COUNT);
	for (int i = 3; i < argc; i++)
		if (add_record(m, argv[i]) == -1) {
			fprintf(stderr, "techzone_serve: bad record '%s'\n", argv[i]);
			goto out;
		}
	techzone_mem_source(m, &src);
	techzone_conf_init(&conf, argv[2]);
	if ((tz = techzone_new(&conf, &src, err, sizeof(err))) == NULL) {
		fprintf(stderr, "techzone_serve: %s\n", err);
		goto out;
	}
	techzone_server_conf_init(&sconf);
	listen[0] = argv[1];
	sconf.listen = listen;
	sconf.nlisten = 1;
	if ((srv = techzone_server_new(base, tz, &sconf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "techzone_serve: %s\n", err);
		goto out;
	}
	sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
	sigint = evsignal_new(base, SIGINT, stop_cb, base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	printf("port %d\n", techzone_server_port(srv, 0));
	fflush(stdout);
	event_base_dispatch(base);
	techzone_server_stats(srv, &st);
	printf("udp_answers %llu tcp_answers %llu tcp_accepted %llu dropped %llu\n",
	    (unsigned long long)st.udp_answers, (unsigned long long)st.tcp_answers,
	    (unsigned long long)st.tcp_accepted, (unsigned long long)st.dropped);
	event_free(sigterm);
	event_free(sigint);
	rc = 0;
out:
	techzone_server_free(srv);
	techzone_free(tz);
	techzone_mem_free(m);
	event_base_free(base);
	return rc;
}
