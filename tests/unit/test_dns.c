/*
 * Unit tests for the CNAME poll's pure part (answers built byte by byte,
 * hostile ones included: compression loops, forward pointers, overlong
 * names, records past the end) and for dns_cname on a loop against a silent
 * resolver (timeout, cancellation, a bad name answered from the loop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>

#include "dns.h"

struct msg {
	unsigned char	b[1024];
	size_t		n;
};

static void
put8(struct msg *m, unsigned v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

/* A name in wire form, uncompressed, from "a.b.c". */
static void
put_name(struct msg *m, const char *name)
{
	while (*name) {
		size_t n = strcspn(name, ".");

		put8(m, (unsigned)n);
		for (size_t i = 0; i < n; i++)
			put8(m, (unsigned char)name[i]);
		name += n;
		if (*name == '.')
			name++;
	}
	put8(m, 0);
}

/* Header and the CNAME question for qname. */
static void
start(struct msg *m, unsigned rcode, unsigned ancount, const char *qname)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | rcode);	/* QR RD RA */
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, 5);
	put16(m, 1);
}

/* One record: owner as a pointer to the question (offset 12). */
static void
put_rr_ptr(struct msg *m, unsigned type, const char *rdata_name)
{
	size_t rdlen_at;

	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 60);
	rdlen_at = m->n;
	put16(m, 0);
	put_name(m, rdata_name);
	m->b[rdlen_at] = (unsigned char)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (unsigned char)((m->n - rdlen_at - 2) & 0xff);
}

static enum dns_cname_status
parse(struct msg *m, const char *qname, char *target, char *why)
{
	return dns_cname_parse(m->b, m->n, qname, target, DNS_NAME_TEXT_MAX, why,
	    512);
}

static void
test_cname_found(void **state)
{
	struct msg m;
	char target[DNS_NAME_TEXT_MAX], why[512];

	start(&m, 0, 1, "_acme-challenge.Foo.test");
	put_rr_ptr(&m, 5, "K3X9.Acme.Test");
	/* Asked with another case and a final dot: the same name. */
	assert_int_equal(parse(&m, "_ACME-challenge.foo.test.", target, why),
	    DNS_CNAME_FOUND);
	assert_string_equal(target, "k3x9.acme.test");
	assert_non_null(strstr(why, "is a CNAME to k3x9.acme.test"));

	/* Target compressed against the question: "acme" + pointer. */
	start(&m, 0, 1, "x.acme.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 6);
	put8(&m, 3); put8(&m, 'l'); put8(&m, 'b'); put8(&m, 'l');
	put16(&m, 0xc00c + 2);	/* "acme.test" inside the question */
	assert_int_equal(parse(&m, "x.acme.test", target, why), DNS_CNAME_FOUND);
	assert_string_equal(target, "lbl.acme.test");

	/* A record at another owner (a chased chain) is not ours. */
	start(&m, 0, 1, "a.test");
	put_name(&m, "b.test"); put16(&m, 5); put16(&m, 1); put16(&m, 0);
	put16(&m, 60); put16(&m, 8); put_name(&m, "c.test");
	assert_int_equal(parse(&m, "a.test", target, why), DNS_CNAME_NONE);
}

static void
test_cname_none_nxdomain_failed(void **state)
{
	struct msg m;
	char target[DNS_NAME_TEXT_MAX], why[512];

	start(&m, 0, 0, "www.test");
	assert_int_equal(parse(&m, "www.test", target, why), DNS_CNAME_NONE);
	assert_non_null(strstr(why, "www.test exists but has no CNAME"));
	start(&m, 3, 0, "nope.test");
	assert_int_equal(parse(&m, "nope.test", target, why), DNS_CNAME_NXDOMAIN);
	assert_non_null(strstr(why, "NXDOMAIN"));
	start(&m, 2, 0, "x.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	assert_non_null(strstr(why, "SERVFAIL"));
	start(&m, 5, 0, "x.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	assert_non_null(strstr(why, "REFUSED"));
	/* The answer to another question. */
	start(&m, 0, 0, "other.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* Two different CNAMEs at one name. */
	start(&m, 0, 2, "x.test");
	put_rr_ptr(&m, 5, "a.test");
	put_rr_ptr(&m, 5, "b.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	assert_non_null(strstr(why, "several CNAME"));
	/* A query, not a response. */
	start(&m, 0, 0, "x.test");
	m.b[2] &= 0x7f;
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
}

static void
test_cname_hostile(void **state)
{
	struct msg m;
	char target[DNS_NAME_TEXT_MAX], why[512];

	/* Too short, and every truncation of a good answer. */
	assert_int_equal(dns_cname_parse((const unsigned char *)"", 0, "x.test",
	    target, sizeof(target), why, sizeof(why)), DNS_CNAME_FAILED);
	start(&m, 0, 1, "x.test");
	put_rr_ptr(&m, 5, "t.test");
	for (size_t n = 0; n < m.n; n++)
		assert_int_equal(dns_cname_parse(m.b, n, "x.test", target,
		    sizeof(target), why, sizeof(why)), DNS_CNAME_FAILED);
	/* ANCOUNT far beyond the records present. */
	start(&m, 0, 65535, "x.test");
	put_rr_ptr(&m, 5, "t.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	assert_non_null(strstr(why, "malformed"));
	/* RDLENGTH past the end. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 500); put_name(&m, "t.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* A target that runs past its RDLENGTH. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 3); put_name(&m, "t.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* Compression loop: the target points at itself. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 2);
	put16(&m, 0xc000 | (unsigned)m.n);
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* A label then a pointer back to that label: a loop through data. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 4);
	put8(&m, 1); put8(&m, 'a');
	put16(&m, 0xc000 | (unsigned)(m.n - 2));
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* A forward pointer. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 2);
	put16(&m, 0xc000 | (unsigned)(m.n + 2));
	put_name(&m, "t.test");
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* A name over 255 bytes in wire form. */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 5 * 64 + 1);
	for (int l = 0; l < 5; l++) {
		put8(&m, 63);
		for (int i = 0; i < 63; i++)
			put8(&m, 'a');
	}
	put8(&m, 0);
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
	/* Obsolete label types (0x40, 0x80). */
	start(&m, 0, 1, "x.test");
	put16(&m, 0xc00c); put16(&m, 5); put16(&m, 1); put16(&m, 0); put16(&m, 60);
	put16(&m, 2); put8(&m, 0x41); put8(&m, 0);
	assert_int_equal(parse(&m, "x.test", target, why), DNS_CNAME_FAILED);
}

static void
test_name_read_escapes(void **state)
{
	const unsigned char wire[] = { 3, 'A', '.', 0x07, 2, 'B', ' ', 0 };
	char out[64];
	size_t off = 0;

	assert_int_equal(dns_name_read(wire, sizeof(wire), &off, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "a\\.\\007.b\\032");
	assert_int_equal(off, sizeof(wire));
	/* Too small an output buffer fails rather than truncating. */
	off = 0;
	assert_int_equal(dns_name_read(wire, sizeof(wire), &off, out, 5), -1);
}

/* --- dns_cname on a loop ------------------------------------------------------- */

struct seen {
	int			 calls;
	enum dns_cname_status	 status;
	char			 why[512];
};

static void
seen_cb(enum dns_cname_status status, const char *target, const char *why,
    void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->status = status;
	snprintf(s->why, sizeof(s->why), "%s", why);
	assert_true(status != DNS_CNAME_FOUND || target != NULL);
}

static void
test_cname_timeout_cancel_badname(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct event_base *base = event_base_new();
	struct seen a = { 0 }, b = { 0 }, c = { 0 };
	char server[64], err[256];
	struct dns *dns;
	int fd;

	/* A resolver that never answers. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%d", ntohs(sin.sin_port));
	const char *servers[] = { server };
	dns = dns_new(base, servers, 1, 100, err, sizeof(err));
	assert_non_null(dns);

	assert_non_null(dns_cname(dns, "_acme-challenge.x.test", seen_cb, &a));
	dns_cancel(dns_cname(dns, "_acme-challenge.y.test", seen_cb, &b));
	assert_non_null(dns_cname(dns, "bad..", seen_cb, &c));
	/* Nothing runs inside the call. */
	assert_int_equal(c.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, DNS_CNAME_TIMEOUT);
	assert_non_null(strstr(a.why, "_acme-challenge.x.test"));
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, DNS_CNAME_FAILED);

	/* Freeing with a poll under way: its callback says so, once. */
	memset(&a, 0, sizeof(a));
	assert_non_null(dns_cname(dns, "z.test", seen_cb, &a));
	dns_free(dns);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, DNS_CNAME_FAILED);
	close(fd);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cname_found),
		cmocka_unit_test(test_cname_none_nxdomain_failed),
		cmocka_unit_test(test_cname_hostile),
		cmocka_unit_test(test_name_read_escapes),
		cmocka_unit_test(test_cname_timeout_cancel_badname),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
