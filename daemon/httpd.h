/*
 * The HTTP listener for monitoring (http-listen): GET /metrics and
 * /healthz on libevent's evhttp, on the daemon's loop.  Read-only: nothing
 * it serves changes state or shows a secret.  Bounded: connections
 * (http-max-connections), header size, idle time; peers outside http-allow
 * are refused; a /metrics reply is written a part at a time as the reader
 * takes it.
 */
#ifndef CERTFLEET_HTTPD_H
#define CERTFLEET_HTTPD_H

#include <stddef.h>

struct config;
struct daemon;
struct httpd;

/* Binds every http-listen address; NULL with err (a bad address, a port
 * in use, a bad http-allow CIDR). */
struct httpd	*httpd_new(struct daemon *d, char *err, size_t errlen);
/* Applies next's reloadable settings (http-allow, http-max-connections);
 * -1 with err, the running ones kept. */
int		 httpd_reconfigure(struct httpd *h, const struct config *next,
		    char *err, size_t errlen);
/* Closes every connection (scrapes under way end) and frees. */
void		 httpd_free(struct httpd *h);

/* Checks http-listen and http-allow whole; -1 with err. */
int		 httpd_check_config(const struct config *cfg, char *err,
		    size_t errlen);
/* Parses "ADDR:PORT" or "[v6]:PORT"; -1 with err.  For tests too. */
int		 httpd_parse_listen(const char *s, char *addr, size_t addrlen,
		    int *port, char *err, size_t errlen);

#endif
