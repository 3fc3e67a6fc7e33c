/*
 * Test driver for the tech zone's records and the CNAME poll, using the
 * daemon's own code:
 *
 *   tztool add DB OWNER VALUE [CERT_ID]   one value, into a live database
 *   tztool del DB OWNER VALUE             one value
 *   tztool del-cert DB CERT_ID            every value of a certificate
 *   tztool cname RESOLVER NAME...         dns_cname for each name, at once;
 *                                         prints "NAME STATUS TARGET|-" and
 *                                         "  why: ..." per name, in order
 *
 * Writes go through the store's functions on a second connection while
 * certfleetd runs (WAL allows it); the write lock is retried for a while,
 * since certfleetd may hold it for a group commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"
#include "log.h"
#include "store.h"

static int
store_edit(int argc, char **argv)
{
	const char *op = argv[1];
	struct store *st;
	char err[512];
	int64_t n = 0;
	int rc = -1;

	if ((st = store_open(NULL, argv[2], 5, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tztool: %s\n", err);
		return 1;
	}
	for (int tries = 0; store_write_begin(st, err, sizeof(err)) == -1; tries++) {
		if (tries == 200) {
			fprintf(stderr, "tztool: %s\n", err);
			store_close(st);
			return 1;
		}
		usleep(25000);
	}
	if (strcmp(op, "add") == 0 && argc >= 5)
		rc = store_techzone_add(st, argv[3], argv[4],
		    argc > 5 ? atoll(argv[5]) : 1, (int64_t)time(NULL), err,
		    sizeof(err));
	else if (strcmp(op, "del") == 0 && argc == 5)
		rc = store_techzone_remove(st, argv[3], argv[4], err, sizeof(err));
	else if (strcmp(op, "del-cert") == 0 && argc == 4)
		rc = store_techzone_remove_cert(st, atoll(argv[3]), &n, err,
		    sizeof(err));
	else
		snprintf(err, sizeof(err), "bad arguments");
	store_write_end(st, rc != -1);
	if (rc == -1 || store_flush(st) == -1) {
		fprintf(stderr, "tztool %s: %s\n", op, err);
		store_close(st);
		return 1;
	}
	printf("%s\n", rc == 1 ? "unchanged" : "ok");
	store_close(st);
	return 0;
}

struct poll {
	const char	*name;
	int		 done;
	char		 line[2048];
};

static const char *const status_names[] = {
	[DNS_CNAME_FOUND] = "found",
	[DNS_CNAME_NONE] = "none",
	[DNS_CNAME_NXDOMAIN] = "nxdomain",
	[DNS_CNAME_TIMEOUT] = "timeout",
	[DNS_CNAME_FAILED] = "failed",
};

static void
cname_cb(enum dns_cname_status status, const char *target, const char *why,
    void *arg)
{
	struct poll *p = arg;

	p->done = 1;
	snprintf(p->line, sizeof(p->line), "%s %s %s\n  why: %s", p->name,
	    status_names[status], target ? target : "-", why);
}

static int
cname(int argc, char **argv)
{
	const char *servers[] = { argv[2] };
	struct event_base *base = event_base_new();
	struct poll *polls;
	struct dns *dns;
	char err[512];
	int rc = 0;

	if (base == NULL || (polls = calloc(argc, sizeof(*polls))) == NULL)
		return 1;
	if ((dns = dns_new(base, servers, 1, 1000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tztool: %s\n", err);
		return 1;
	}
	for (int i = 3; i < argc; i++) {
		polls[i].name = argv[i];
		if (dns_cname(dns, argv[i], cname_cb, &polls[i]) == NULL)
			return 1;
	}
	event_base_dispatch(base);
	for (int i = 3; i < argc; i++) {
		if (!polls[i].done) {
			printf("%s: no callback\n", argv[i]);
			rc = 1;
		} else
			printf("%s\n", polls[i].line);
	}
	dns_free(dns);
	event_base_free(base);
	free(polls);
	return rc;
}

int
main(int argc, char **argv)
{
	log_init("tztool");
	if (argc >= 4 && strcmp(argv[1], "cname") == 0)
		return cname(argc, argv);
	if (argc >= 4)
		return store_edit(argc, argv);
	fprintf(stderr, "usage: tztool add|del|del-cert DB ... | "
	    "tztool cname RESOLVER NAME...\n");
	return 2;
}
