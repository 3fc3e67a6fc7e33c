/*
 * libcurl's multi interface on the loop: sockets and the timer are watched
 * here and nowhere else.  HTTPS only unless the caller allows plain HTTP (a
 * webhook on a loopback address), no redirects, verification always on.
 * SMTP (notification mail) rides the same multi handle.
 */
#ifndef CERTFLEET_HTTP_H
#define CERTFLEET_HTTP_H

#include <stddef.h>

#include "metrics.h"

struct event_base;
struct http;
struct http_req;

/* Largest body kept; a longer one fails the request mid-transfer. */
#define HTTP_BODY_MAX		(1024u * 1024)
/* Longest value kept for one of the headers below; longer ones are dropped. */
#define HTTP_HEADER_VALUE_MAX	2048
/* Link headers kept per response (ACME: "up", "alternate"); more ignored. */
#define HTTP_LINKS_MAX		16
/* Requests under way on one struct http; more are refused. */
#define HTTP_REQS_MAX		256
#define HTTP_URL_MAX		2048

enum http_method {
	HTTP_GET = 0,
	HTTP_HEAD,
	HTTP_POST,
};

struct http_link {
	char	*url;
	char	*rel;		/* lower case, e.g. "up", "alternate" */
};

/*
 * What came back.  Strings are NUL-terminated, NULL when the header was
 * absent (or too long); body is NUL-terminated too (body_len excludes it).
 * Owned by the http module: valid only during the callback.
 */
struct http_response {
	long			 status;
	const char		*body;
	size_t			 body_len;
	const char		*content_type;
	const char		*replay_nonce;
	const char		*location;
	const char		*retry_after;
	const struct http_link	*links;
	size_t			 nlinks;
};

/* Where a request is counted for /metrics, by label and HTTP status. */
struct http_count {
	struct mcounters	*requests;	/* {label, code}: "200", "error" */
	struct hist		*duration;	/* seconds, the whole transfer */
	const char		*label;		/* copied: a CA's name */
};

struct http_request {
	enum http_method	 method;
	const char		*url;		/* https:// only */
	const void		*body;		/* POST; copied at start */
	size_t			 body_len;
	const char		*content_type;	/* POST; NULL: none */
	const char		*accept;	/* NULL: curl's default */
	const char		*ca_file;	/* NULL: the system's trust store */
	long			 connect_timeout_ms; /* 0: 10 s */
	long			 timeout_ms;	/* whole request; 0: 30 s */
	const char *const	*headers;	/* more "Name: value" lines, NULL-ended */
	int			 plain_ok;	/* http:// too (the caller vouches) */
	int			 body_cut_ok;	/* a body past HTTP_BODY_MAX is cut, not
						 * an error: the status is what counts */
	int			 url_secret;	/* errors show scheme://host only (a
						 * webhook's path may be its token) */
	const struct http_count	*count;		/* NULL: not counted */
};

/*
 * Exactly one of resp and err is non-NULL: err is one sentence naming the
 * URL and what failed at the transport (DNS, TLS, timeout, body too big).
 * An HTTP error status is a response, not an error.
 */
typedef void	 http_cb(const struct http_response *resp, const char *err,
		    void *arg);

/* Returns a new http (caller frees with http_free) or NULL with err. */
struct http	*http_new(struct event_base *base, char *err, size_t errlen);
/*
 * Cancels every request under way (no callback runs) and frees.  Never
 * from inside one of its callbacks.  NULL is a no-op.
 */
void		 http_free(struct http *http);

/*
 * Starts a request.  cb runs exactly once, from the loop and never inside
 * this call, unless the request is cancelled.  Returns a handle valid until
 * cb starts or http_cancel returns; or NULL with err (bad URL, too many
 * requests, out of memory), in which case cb never runs.
 */
struct http_req	*http_request(struct http *http, const struct http_request *r,
		    http_cb *cb, void *arg, char *err, size_t errlen);
/* One message through SMTP: smtp:// (STARTTLS required unless
 * insecure) or smtps://. */
struct http_mail {
	const char		*url;
	const char		*from;
	const char *const	*rcpt;		/* NULL-ended */
	const char		*user;		/* NULL: no AUTH */
	const char		*password;
	const char		*message;	/* RFC 5322, CRLF line ends */
	size_t			 message_len;
	int			 insecure;	/* smtp:// may stay plain text */
	const char		*ca_file;
	long			 timeout_ms;
};

/*
 * Sends m as http_request sends a request: cb gets the server's final
 * reply code as resp->status (250 when accepted) or an error sentence.
 */
struct http_req	*http_mail_send(struct http *http, const struct http_mail *m,
		    http_cb *cb, void *arg, char *err, size_t errlen);

/* Connections kept per host (webhooks keep theirs alive); 0: curl's. */
void		 http_set_host_connections(struct http *http, long n);

/* cb will not run; the transfer stops at once. */
void		 http_cancel(struct http_req *req);

/* Requests under way (tests). */
size_t		 http_pending(const struct http *http);

/*
 * Parses one Link header value ("<url>; rel=\"up\", <url2>; rel=alternate")
 * appending to links[*n..max-1] and advancing *n (each url and rel new: free
 * with free(); rel in lower case).  Entries without a rel, and entries past
 * max, are skipped.  Returns 0, or -1 when the value is malformed (entries
 * added before the fault stay counted).  Pure; exposed for tests.
 */
int		 http_parse_link(const char *value, struct http_link *links,
		    size_t *n, size_t max);

#endif
