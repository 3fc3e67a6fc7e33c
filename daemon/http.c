/*
 * libcurl multi bound to libevent the way curl's hiperfifo example does it:
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it (CURLMOPT_TIMERFUNCTION); every wake-up goes through
 * curl_multi_socket_action and then check_multi_info collects finished
 * transfers.  Nothing else in the daemon calls into curl.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "autoconfig.h"
#include "daemon.h"
#include "http.h"

#define HTTP_CONNECT_TIMEOUT_MS	10000
#define HTTP_TIMEOUT_MS		30000

struct http_sock {
	curl_socket_t		 fd;
	struct event		*ev;
	struct http		*http;
};

enum req_state {
	REQ_RUNNING = 0,	/* in the multi handle */
	REQ_DONE,		/* finished, waiting on the deliver list */
};

struct http_req {
	struct http		*http;
	enum req_state		 state;
	CURL			*easy;
	struct curl_slist	*headers;
	http_cb			*cb;
	void			*arg;
	char			*url;
	CURLcode		 result;
	int			 too_big;
	int			 body_cut_ok;
	int			 url_secret;	/* errors show scheme://host only */
	struct http_count	 count;		/* count.requests NULL: none */
	char			 count_label[MCOUNT_LABEL_MAX];
	/* An SMTP message being sent. */
	char			*upload;
	size_t			 upload_len, upload_off;
	char			 curl_err[CURL_ERROR_SIZE];
	/* The body and headers being received. */
	char			*body;
	size_t			 body_len, body_cap;
	char			*content_type, *replay_nonce, *location;
	char			*retry_after;
	struct http_link	 links[HTTP_LINKS_MAX];
	size_t			 nlinks;
	TAILQ_ENTRY(http_req)	 entry;
};

TAILQ_HEAD(http_req_list, http_req);

struct http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct event		*deliver_ev;
	struct http_req_list	 running;
	struct http_req_list	 done;
	size_t			 nreqs;
};

static void check_multi_info(struct http *http);
static struct http_req *req_start(struct http_req *req, char *err,
    size_t errlen);

static void
set_prio(struct event_base *base, struct event *ev)
{
	/* Tests may run a base without priorities. */
	if (event_base_get_npriorities(base) > PRIO_DEFAULT)
		event_priority_set(ev, PRIO_DEFAULT);
}

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_sock *s = arg;
	struct http *http = s->http;
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	/* s may be freed inside this call (CURL_POLL_REMOVE). */
	curl_multi_socket_action(http->multi, fd, action, &running);
	check_multi_info(http);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *http = arg;
	int running;

	curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(http);
}

/* curl asks for one deadline; calling back into curl from here is not
 * allowed, so even "now" goes through the timer. */
static int
multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *http = arg;
	struct timeval tv;

	if (timeout_ms < 0)
		return evtimer_del(http->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(http->timer, &tv);
}

static int
multi_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http *http = arg;
	struct http_sock *s = sockp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(http->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->fd = fd;
		s->http = http;
		curl_multi_assign(http->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(http->base, fd, kind, sock_event_cb, s);
	if (s->ev == NULL) {
		curl_multi_assign(http->multi, fd, NULL);
		free(s);
		return -1;
	}
	set_prio(http->base, s->ev);
	return event_add(s->ev, NULL);
}

static void
req_free(struct http_req *req)
{
	if (req->easy != NULL) {
		curl_multi_remove_handle(req->http->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	curl_slist_free_all(req->headers);
	free(req->url);
	free(req->upload);
	free(req->body);
	free(req->content_type);
	free(req->replay_nonce);
	free(req->location);
	free(req->retry_after);
	for (size_t i = 0; i < req->nlinks; i++) {
		free(req->links[i].url);
		free(req->links[i].rel);
	}
	req->http->nreqs--;
	free(req);
}

/*
 * The URL as an error shows it: scheme://host[:port] only.  A webhook's
 * path and query may be its credential (Slack's are), and userinfo is.
 */
static const char *
url_shown(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *host, *end, *at;

	if (p == NULL) {
		snprintf(buf, len, "(a URL)");
		return buf;
	}
	host = p + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at != NULL)
		host = at + 1;
	snprintf(buf, len, "%.*s%.*s", (int)(p + 3 - url), url,
	    (int)(end - host), host);
	return buf;
}

static void
req_count(struct http_req *req, long status)
{
	char code[24];
	double secs = 0;

	if (req->count.requests == NULL)
		return;
	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "error");
	mcounters_add(req->count.requests, req->count_label, code, 1);
	if (req->count.duration != NULL &&
	    curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME, &secs) == CURLE_OK)
		hist_observe(req->count.duration, secs);
}

static void
req_deliver(struct http_req *req)
{
	struct http_response resp = { 0 };
	char err[CURL_ERROR_SIZE + HTTP_URL_MAX + 64], shown[HTTP_URL_MAX + 1];

	if (req->url_secret)
		url_shown(req->url, shown, sizeof(shown));
	else
		snprintf(shown, sizeof(shown), "%s", req->url);
	if (req->too_big && !req->body_cut_ok) {
		snprintf(err, sizeof(err), "%s: the response body is larger "
		    "than %u bytes", shown, HTTP_BODY_MAX);
		req_count(req, 0);
		req->cb(NULL, err, req->arg);
		return;
	}
	if (req->result != CURLE_OK && !req->too_big) {
		snprintf(err, sizeof(err), "%s: %s", shown,
		    req->curl_err[0] ? req->curl_err :
		    curl_easy_strerror(req->result));
		req_count(req, 0);
		req->cb(NULL, err, req->arg);
		return;
	}
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	resp.body = req->body ? req->body : "";
	resp.body_len = req->body_len;
	resp.content_type = req->content_type;
	resp.replay_nonce = req->replay_nonce;
	resp.location = req->location;
	resp.retry_after = req->retry_after;
	resp.links = req->links;
	resp.nlinks = req->nlinks;
	req_count(req, resp.status);
	req->cb(&resp, NULL, req->arg);
}

/* Delivers finished requests one at a time: a callback may start or cancel
 * others, including ones still on the list. */
static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *http = arg;
	struct http_req *req;

	while ((req = TAILQ_FIRST(&http->done)) != NULL) {
		TAILQ_REMOVE(&http->done, req, entry);
		req_deliver(req);
		req_free(req);
	}
}

static void
check_multi_info(struct http *http)
{
	struct http_req *req;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&req);
		req->result = msg->data.result;
		/* Out of the multi handle now, so nothing more arrives. */
		curl_multi_remove_handle(http->multi, req->easy);
		TAILQ_REMOVE(&http->running, req, entry);
		req->state = REQ_DONE;
		TAILQ_INSERT_TAIL(&http->done, req, entry);
	}
	if (!TAILQ_EMPTY(&http->done))
		event_active(http->deliver_ev, EV_TIMEOUT, 0);
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *req = arg;
	size_t len = size * n;
	char *p;

	/* curl 7.88 lets a body of unknown length run past MAXFILESIZE. */
	if (len > HTTP_BODY_MAX - req->body_len) {
		req->too_big = 1;
		return 0;
	}
	if (req->body_len + len + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;

		while (cap < req->body_len + len + 1)
			cap *= 2;
		if ((p = realloc(req->body, cap)) == NULL)
			return 0;
		req->body = p;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return len;
}

static void
clear_headers(struct http_req *req)
{
	free(req->content_type);
	free(req->replay_nonce);
	free(req->location);
	free(req->retry_after);
	req->content_type = req->replay_nonce = req->location = NULL;
	req->retry_after = NULL;
	for (size_t i = 0; i < req->nlinks; i++) {
		free(req->links[i].url);
		free(req->links[i].rel);
	}
	req->nlinks = 0;
}

static void
keep_header(char **slot, const char *v, size_t len)
{
	char *copy;

	if (len > HTTP_HEADER_VALUE_MAX || (copy = strndup(v, len)) == NULL)
		return;
	free(*slot);
	*slot = copy;
}

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *req = arg;
	size_t len = size * n, nlen;
	const char *colon, *v, *end;
	char value[HTTP_HEADER_VALUE_MAX + 1];

	/* A new status line (after a 100 Continue) starts a new header set. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		clear_headers(req);
		return len;
	}
	if ((colon = memchr(data, ':', len)) == NULL)
		return len;
	nlen = (size_t)(colon - data);
	v = colon + 1;
	end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
#define IS(name) (nlen == sizeof(name) - 1 && \
	    strncasecmp(data, name, nlen) == 0)
	if (IS("replay-nonce"))
		keep_header(&req->replay_nonce, v, (size_t)(end - v));
	else if (IS("location"))
		keep_header(&req->location, v, (size_t)(end - v));
	else if (IS("retry-after"))
		keep_header(&req->retry_after, v, (size_t)(end - v));
	else if (IS("content-type"))
		keep_header(&req->content_type, v, (size_t)(end - v));
	else if (IS("link") && (size_t)(end - v) <= HTTP_HEADER_VALUE_MAX) {
		memcpy(value, v, (size_t)(end - v));
		value[end - v] = '\0';
		/* A malformed value keeps the links parsed before it. */
		(void)http_parse_link(value, req->links, &req->nlinks,
		    HTTP_LINKS_MAX);
	}
#undef IS
	return len;
}

struct http *
http_new(struct event_base *base, char *err, size_t errlen)
{
	struct http *http;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl cannot be initialised");
		return NULL;
	}
	if ((http = calloc(1, sizeof(*http))) == NULL) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	http->base = base;
	TAILQ_INIT(&http->running);
	TAILQ_INIT(&http->done);
	http->multi = curl_multi_init();
	http->timer = evtimer_new(base, timer_cb, http);
	http->deliver_ev = event_new(base, -1, 0, deliver_cb, http);
	if (http->multi == NULL || http->timer == NULL ||
	    http->deliver_ev == NULL) {
		snprintf(err, errlen, "out of memory");
		http_free(http);
		return NULL;
	}
	set_prio(base, http->timer);
	set_prio(base, http->deliver_ev);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
	return http;
}

void
http_free(struct http *http)
{
	struct http_req *req;

	if (http == NULL)
		return;
	while ((req = TAILQ_FIRST(&http->running)) != NULL) {
		TAILQ_REMOVE(&http->running, req, entry);
		req_free(req);
	}
	while ((req = TAILQ_FIRST(&http->done)) != NULL) {
		TAILQ_REMOVE(&http->done, req, entry);
		req_free(req);
	}
	/* Removing the handles closed their sockets (CURL_POLL_REMOVE). */
	if (http->multi != NULL)
		curl_multi_cleanup(http->multi);
	if (http->timer != NULL)
		event_free(http->timer);
	if (http->deliver_ev != NULL)
		event_free(http->deliver_ev);
	free(http);
	curl_global_cleanup();
}

size_t
http_pending(const struct http *http)
{
	return http->nreqs;
}

static int
req_setup(struct http_req *req, const struct http_request *r)
{
	CURL *e = req->easy;
	char ct[256];
	int bad = 0;

#define SET(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
	bad = 1; } while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, req);
	SET(CURLOPT_ERRORBUFFER, req->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	/* https only (ACME's every URL), unless the caller vouched for a
	 * plain loopback one; no redirect is ever followed. */
	SET(CURLOPT_PROTOCOLS_STR, r->plain_ok ? "http,https" : "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->ca_file != NULL) {
		/* The profile's trust file only, not the system's directory. */
		SET(CURLOPT_CAINFO, r->ca_file);
		SET(CURLOPT_CAPATH, NULL);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms > 0 ?
	    r->connect_timeout_ms : (long)HTTP_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms :
	    (long)HTTP_TIMEOUT_MS);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, req);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, req);
	switch (r->method) {
	case HTTP_HEAD:
		SET(CURLOPT_NOBODY, 1L);
		break;
	case HTTP_POST:
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_COPYPOSTFIELDS, r->body_len ? r->body : "");
		break;
	case HTTP_GET:
		SET(CURLOPT_HTTPGET, 1L);
		break;
	}
#undef SET
	if (r->method == HTTP_POST) {
		/* A 100-continue round trip buys nothing for small bodies. */
		req->headers = curl_slist_append(req->headers, "Expect:");
		if (r->content_type != NULL) {
			snprintf(ct, sizeof(ct), "Content-Type: %s",
			    r->content_type);
			req->headers = curl_slist_append(req->headers, ct);
		}
	}
	if (r->accept != NULL) {
		snprintf(ct, sizeof(ct), "Accept: %s", r->accept);
		req->headers = curl_slist_append(req->headers, ct);
	}
	for (size_t i = 0; r->headers != NULL && r->headers[i] != NULL; i++)
		req->headers = curl_slist_append(req->headers, r->headers[i]);
	if (req->headers != NULL &&
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK)
		bad = 1;
	return bad ? -1 : 0;
}

/* A new transfer for url, counted, with its own easy handle; NULL with
 * err at the limit or out of memory. */
static struct http_req *
req_new(struct http *http, const char *url, http_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct http_req *req;

	if (http->nreqs >= HTTP_REQS_MAX) {
		snprintf(err, errlen, "too many transfers under way (at most "
		    "%d)", HTTP_REQS_MAX);
		return NULL;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	http->nreqs++;
	req->http = http;
	req->cb = cb;
	req->arg = arg;
	if ((req->url = strdup(url)) == NULL ||
	    (req->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		req_free(req);
		return NULL;
	}
	return req;
}

struct http_req *
http_request(struct http *http, const struct http_request *r, http_cb *cb,
    void *arg, char *err, size_t errlen)
{
	struct http_req *req;

	if (r->url == NULL || (strncasecmp(r->url, "https://", 8) != 0 &&
	    (!r->plain_ok || strncasecmp(r->url, "http://", 7) != 0)) ||
	    strlen(r->url) > HTTP_URL_MAX) {
		snprintf(err, errlen, "refusing a URL that is not https "
		    "or longer than %d bytes", HTTP_URL_MAX);
		return NULL;
	}
	if ((r->content_type && strlen(r->content_type) > 128) ||
	    (r->accept && strlen(r->accept) > 128) ||
	    (r->method == HTTP_POST && r->body_len > HTTP_BODY_MAX)) {
		snprintf(err, errlen, "refusing an oversized request to %s",
		    r->url);
		return NULL;
	}
	if ((req = req_new(http, r->url, cb, arg, err, errlen)) == NULL)
		return NULL;
	req->body_cut_ok = r->body_cut_ok;
	req->url_secret = r->url_secret;
	if (r->count != NULL && r->count->requests != NULL) {
		req->count = *r->count;
		snprintf(req->count_label, sizeof(req->count_label), "%s",
		    r->count->label != NULL ? r->count->label : "");
		req->count.label = req->count_label;
	}
	if (req_setup(req, r) == -1) {
		snprintf(err, errlen, "libcurl refused the options for %s",
		    r->url);
		req_free(req);
		return NULL;
	}
	return req_start(req, err, errlen);
}

/* Hands a set-up request to the multi handle. */
static struct http_req *
req_start(struct http_req *req, char *err, size_t errlen)
{
	struct http *http = req->http;

	/* Only sets a zero timer: nothing completes inside this call. */
	if (curl_multi_add_handle(http->multi, req->easy) != CURLM_OK) {
		snprintf(err, errlen, "libcurl refused a request to %s",
		    req->url);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
		req_free(req);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&http->running, req, entry);
	return req;
}

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct http_req *req = arg;
	size_t len = size * n, left = req->upload_len - req->upload_off;

	if (len > left)
		len = left;
	memcpy(buf, req->upload + req->upload_off, len);
	req->upload_off += len;
	return len;
}

static int
mail_setup(struct http_req *req, const struct http_mail *m)
{
	CURL *e = req->easy;
	int bad = 0;

#define SET(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
	bad = 1; } while (0)
	SET(CURLOPT_URL, m->url);
	SET(CURLOPT_PRIVATE, req);
	SET(CURLOPT_ERRORBUFFER, req->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* Never another sink's connection: its STARTTLS, trust and login
	 * were checked for its own settings, not this mail's. */
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	/* CURLUSESSL_TRY would send in clear text when the server offers no
	 * STARTTLS: required, unless the operator said insecure. */
	SET(CURLOPT_USE_SSL, m->insecure ? (long)CURLUSESSL_TRY :
	    (long)CURLUSESSL_ALL);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (m->ca_file != NULL) {
		SET(CURLOPT_CAINFO, m->ca_file);
		SET(CURLOPT_CAPATH, NULL);
	}
	if (m->user != NULL) {
		SET(CURLOPT_USERNAME, m->user);
		SET(CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	SET(CURLOPT_MAIL_FROM, m->from);
	for (size_t i = 0; m->rcpt[i] != NULL; i++)
		req->headers = curl_slist_append(req->headers, m->rcpt[i]);
	SET(CURLOPT_MAIL_RCPT, req->headers);
	SET(CURLOPT_READFUNCTION, read_cb);
	SET(CURLOPT_READDATA, req);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->message_len);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, m->timeout_ms > 0 ? m->timeout_ms :
	    (long)HTTP_TIMEOUT_MS);
#undef SET
	return bad || req->headers == NULL ? -1 : 0;
}

struct http_req *
http_mail_send(struct http *http, const struct http_mail *m, http_cb *cb,
    void *arg, char *err, size_t errlen)
{
	struct http_req *req;

	if (m->url == NULL || (strncasecmp(m->url, "smtp://", 7) != 0 &&
	    strncasecmp(m->url, "smtps://", 8) != 0) ||
	    strlen(m->url) > HTTP_URL_MAX || m->rcpt == NULL ||
	    m->rcpt[0] == NULL || m->from == NULL ||
	    m->message_len > HTTP_BODY_MAX) {
		snprintf(err, errlen, "refusing a mail that is not smtp(s), "
		    "has no sender or recipient, or is too long");
		return NULL;
	}
	if ((req = req_new(http, m->url, cb, arg, err, errlen)) == NULL)
		return NULL;
	if ((req->upload = malloc(m->message_len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		req_free(req);
		return NULL;
	}
	memcpy(req->upload, m->message, m->message_len);
	req->upload_len = m->message_len;
	if (mail_setup(req, m) == -1) {
		snprintf(err, errlen, "libcurl refused the options for %s",
		    m->url);
		req_free(req);
		return NULL;
	}
	return req_start(req, err, errlen);
}

void
http_set_host_connections(struct http *http, long n)
{
	curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
}

void
http_cancel(struct http_req *req)
{
	if (req == NULL)
		return;
	if (req->state == REQ_RUNNING)
		TAILQ_REMOVE(&req->http->running, req, entry);
	else
		TAILQ_REMOVE(&req->http->done, req, entry);
	req_free(req);
}

/* --- Link header ------------------------------------------------------- */


static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int
http_parse_link(const char *p, struct http_link *links, size_t *np,
    size_t max)
{
	size_t n = *np;

	for (;;) {
		const char *url, *url_end, *rel = NULL;
		size_t rel_len = 0;

		p = skip_ws(p);
		while (*p == ',')
			p = skip_ws(p + 1);
		if (*p == '\0')
			return 0;
		if (*p != '<')
			return -1;
		url = ++p;
		if ((url_end = strchr(url, '>')) == NULL)
			return -1;
		p = skip_ws(url_end + 1);
		/* Parameters: ; name=value or ; name="quoted value" */
		while (*p == ';') {
			const char *name, *val;
			size_t name_len, val_len;

			p = skip_ws(p + 1);
			name = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' &&
			    *p != ' ' && *p != '\t')
				p++;
			name_len = (size_t)(p - name);
			p = skip_ws(p);
			val = p;
			val_len = 0;
			if (*p == '=') {
				p = skip_ws(p + 1);
				if (*p == '"') {
					val = ++p;
					while (*p && *p != '"')
						p++;
					if (*p != '"')
						return -1;
					val_len = (size_t)(p - val);
					p++;
				} else {
					val = p;
					while (*p && *p != ';' && *p != ',' &&
					    *p != ' ' && *p != '\t')
						p++;
					val_len = (size_t)(p - val);
				}
			}
			p = skip_ws(p);
			if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 &&
			    rel == NULL) {
				rel = val;
				rel_len = val_len;
			}
		}
		if (*p != ',' && *p != '\0')
			return -1;
		if (rel == NULL || rel_len == 0 || n >= max)
			continue;
		links[n].url = strndup(url, (size_t)(url_end - url));
		links[n].rel = strndup(rel, rel_len);
		if (links[n].url == NULL || links[n].rel == NULL) {
			free(links[n].url);
			free(links[n].rel);
			links[n].url = links[n].rel = NULL;
			return -1;
		}
		for (char *c = links[n].rel; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		*np = ++n;
	}
}
