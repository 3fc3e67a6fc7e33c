/*
 * Unit tests for the tech zone: techzone_answer() fed queries built with
 * libknot and its answers parsed back; the rate limit on a test clock; and
 * the server on a real event_base with client sockets on 127.0.0.53.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libknot/libknot.h>

#include "daemon.h"
#include "techzone.h"

#define ZONE	"acme.test"
#define BIG	2048		/* room for any UDP answer in these tests */

struct fixture {
	struct techzone_mem	*mem;
	struct techzone		*tz;
	int			 fail_source;	/* the source returns -1 */
	struct techzone_source	 src;
};

static int
failing_txt(void *ctx, const char *owner, techzone_txt_cb *each, void *arg)
{
	return -1;
}

static struct fixture *
fixture_new(const char *const *addrs, size_t naddrs)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct techzone_conf conf;
	char err[256];

	assert_non_null(f);
	f->mem = techzone_mem_new();
	assert_non_null(f->mem);
	techzone_mem_source(f->mem, &f->src);
	techzone_conf_init(&conf, ZONE);
	conf.ns_addrs = addrs;
	conf.nns_addrs = naddrs;
	conf.serial = 2024010101;
	f->tz = techzone_new(&conf, &f->src, err, sizeof(err));
	if (f->tz == NULL)
		fail_msg("techzone_new: %s", err);
	return f;
}

static int
setup(void **state)
{
	struct fixture *f = fixture_new(NULL, 0);

	assert_int_equal(techzone_mem_add(f->mem, "one.acme.test", "value-1"), 0);
	assert_int_equal(techzone_mem_add(f->mem, "two.acme.test", "value-a"), 0);
	assert_int_equal(techzone_mem_add(f->mem, "TWO.acme.test.", "value-b"), 0);
	assert_int_equal(techzone_mem_add(f->mem, "x.deep.acme.test", "d"), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	techzone_free(f->tz);
	techzone_mem_free(f->mem);
	free(f);
	return 0;
}

/* --- building queries and reading answers ---------------------------------- */

struct q {
	const char	*name;
	uint16_t	 type;
	uint16_t	 qclass;	/* 0: IN */
	int		 edns;		/* payload; 0: no OPT */
	uint8_t		 edns_version;
	int		 rd;
	uint16_t	 id;
};

static size_t
query_build(uint8_t *buf, size_t max, const struct q *q)
{
	knot_pkt_t *pkt = knot_pkt_new(buf, (uint16_t)max, NULL);
	knot_dname_storage_t dn;
	knot_rrset_t opt;
	size_t len;

	assert_non_null(pkt);
	knot_pkt_clear(pkt);	/* a zero header, ready to write */
	assert_non_null(knot_dname_from_str(dn, q->name, sizeof(dn)));
	knot_wire_set_id(pkt->wire, q->id ? q->id : 0x1234);
	if (q->rd)
		knot_wire_set_rd(pkt->wire);
	assert_int_equal(knot_pkt_put_question(pkt, dn,
	    q->qclass ? q->qclass : KNOT_CLASS_IN, q->type), KNOT_EOK);
	if (q->edns) {
		assert_int_equal(knot_edns_init(&opt, (uint16_t)q->edns, 0,
		    q->edns_version, NULL), KNOT_EOK);
		assert_int_equal(knot_pkt_begin(pkt, KNOT_ADDITIONAL), KNOT_EOK);
		assert_int_equal(knot_pkt_put(pkt, 0, &opt, 0), KNOT_EOK);
		knot_rrset_clear(&opt, NULL);
	}
	len = pkt->size;
	knot_pkt_free(pkt);
	return len;
}

struct ans {
	enum techzone_verdict	 v;
	uint8_t			 wire[KNOT_WIRE_MAX_PKTSIZE];
	size_t			 len;
	knot_pkt_t		*pkt;	/* parsed, case kept */
};

static void
ans_parse(struct ans *a)
{
	a->pkt = NULL;
	if (a->v != TECHZONE_ANSWER)
		return;
	assert_true(a->len >= KNOT_WIRE_HEADER_SIZE);
	a->pkt = knot_pkt_new(a->wire, (uint16_t)a->len, NULL);
	assert_non_null(a->pkt);
	assert_int_equal(knot_pkt_parse(a->pkt, KNOT_PF_NOCANON), KNOT_EOK);
}

static struct ans *
ask_raw(struct fixture *f, const uint8_t *query, size_t qlen, int tcp,
    size_t outmax)
{
	struct ans *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	a->v = techzone_answer(f->tz, query, qlen, tcp, a->wire, outmax, &a->len);
	if (a->v == TECHZONE_DROP)
		assert_int_equal(a->len, 0);
	ans_parse(a);
	return a;
}

static struct ans *
ask(struct fixture *f, const struct q *q, int tcp)
{
	uint8_t buf[1024];
	size_t len = query_build(buf, sizeof(buf), q);
	struct ans *a = ask_raw(f, buf, len, tcp, sizeof(a->wire));

	assert_int_equal(a->v, TECHZONE_ANSWER);
	/* Every answer echoes the ID, is a response and never offers recursion. */
	assert_int_equal(knot_wire_get_id(a->wire), q->id ? q->id : 0x1234);
	assert_true(knot_wire_get_qr(a->wire));
	assert_false(knot_wire_get_ra(a->wire));
	return a;
}

static void
ans_free(struct ans *a)
{
	knot_pkt_free(a->pkt);
	free(a);
}

static uint16_t
rcode(const struct ans *a)
{
	return knot_pkt_ext_rcode(a->pkt);
}

static uint16_t
count(const struct ans *a, knot_section_t s)
{
	const knot_pktsection_t *sec = knot_pkt_section(a->pkt, s);
	uint16_t n = 0;

	for (uint16_t i = 0; i < sec->count; i++)
		n += knot_pkt_rr(sec, i)->rrs.count;
	return n;
}

/* The i-th RRset of a section, of the type expected. */
static const knot_rrset_t *
rrset(const struct ans *a, knot_section_t s, uint16_t i, uint16_t type)
{
	const knot_pktsection_t *sec = knot_pkt_section(a->pkt, s);

	assert_true(i < sec->count);
	assert_int_equal(knot_pkt_rr(sec, i)->type, type);
	return knot_pkt_rr(sec, i);
}

/* Whether the answer holds a TXT value of a single string equal to v. */
static int
txt_has(const struct ans *a, const char *v)
{
	const knot_pktsection_t *sec = knot_pkt_section(a->pkt, KNOT_ANSWER);

	for (uint16_t i = 0; i < sec->count; i++) {
		const knot_rrset_t *rr = knot_pkt_rr(sec, i);
		knot_rdata_t *rd = rr->rrs.rdata;

		for (uint16_t j = 0; rr->type == KNOT_RRTYPE_TXT &&
		    j < rr->rrs.count; j++, rd = knot_rdataset_next(rd))
			if (rd->len == strlen(v) + 1 && rd->data[0] == strlen(v) &&
			    memcmp(rd->data + 1, v, strlen(v)) == 0)
				return 1;
	}
	return 0;
}

/* --- the apex --------------------------------------------------------------- */

static void
test_apex_soa(void **state)
{
	struct q q = { .name = ZONE ".", .type = KNOT_RRTYPE_SOA, .rd = 1 };
	struct ans *a = ask(*state, &q, 0);
	const knot_rrset_t *soa;

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(a->wire));
	/* RD is copied back, as RFC 1035 says, and ignored. */
	assert_true(knot_wire_get_rd(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	soa = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_SOA);
	assert_int_equal(soa->ttl, 3600);
	assert_int_equal(knot_soa_serial(soa->rrs.rdata), 2024010101);
	assert_int_equal(knot_soa_minimum(soa->rrs.rdata), 30);
	assert_true(knot_dname_is_equal(knot_soa_primary(soa->rrs.rdata),
	    (const knot_dname_t *)"\3ns1\4acme\4test"));
	assert_true(knot_dname_is_equal(knot_soa_mailbox(soa->rrs.rdata),
	    (const knot_dname_t *)"\12hostmaster\4acme\4test"));
	ans_free(a);
}

static void
test_apex_ns(void **state)
{
	struct q q = { .name = ZONE ".", .type = KNOT_RRTYPE_NS };
	struct ans *a = ask(*state, &q, 0);
	const knot_rrset_t *ns;

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	ns = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_NS);
	assert_true(knot_dname_is_equal(knot_ns_name(ns->rrs.rdata),
	    (const knot_dname_t *)"\3ns1\4acme\4test"));
	ans_free(a);
}

static void
test_apex_other_type_nodata(void **state)
{
	struct q q = { .name = ZONE ".", .type = KNOT_RRTYPE_A };
	struct ans *a = ask(*state, &q, 0);

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	assert_int_equal(count(a, KNOT_AUTHORITY), 1);
	assert_int_equal(rrset(a, KNOT_AUTHORITY, 0, KNOT_RRTYPE_SOA)->ttl, 30);
	ans_free(a);
}

/* --- challenge names ---------------------------------------------------------- */

static void
test_txt_one(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a = ask(*state, &q, 0);
	const knot_rrset_t *txt;

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(a->wire));
	assert_false(knot_wire_get_tc(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	txt = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_TXT);
	assert_int_equal(txt->ttl, TECHZONE_TXT_TTL);
	assert_true(txt_has(a, "value-1"));
	assert_int_equal(count(a, KNOT_AUTHORITY), 0);
	ans_free(a);
}

static void
test_txt_two_values(void **state)
{
	struct q q = { .name = "two." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a = ask(*state, &q, 0);
	const knot_rrset_t *txt;

	assert_int_equal(count(a, KNOT_ANSWER), 2);
	txt = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_TXT);
	assert_int_equal(txt->ttl, TECHZONE_TXT_TTL);
	assert_true(txt_has(a, "value-a"));
	assert_true(txt_has(a, "value-b"));
	ans_free(a);
}

static void
test_txt_removed_one_by_one(void **state)
{
	struct fixture *f = *state;
	struct q q = { .name = "two." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a;

	assert_int_equal(techzone_mem_del(f->mem, "two.acme.test", "value-a"), 0);
	assert_int_equal(techzone_mem_del(f->mem, "two.acme.test", "value-a"), -1);
	a = ask(f, &q, 0);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	assert_true(txt_has(a, "value-b"));
	ans_free(a);
	assert_int_equal(techzone_mem_del(f->mem, "two.acme.test", "value-b"), 0);
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NXDOMAIN);
	ans_free(a);
}

static void
test_nodata(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_A };
	struct ans *a = ask(*state, &q, 0);
	const knot_rrset_t *soa;

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	assert_int_equal(count(a, KNOT_AUTHORITY), 1);
	soa = rrset(a, KNOT_AUTHORITY, 0, KNOT_RRTYPE_SOA);
	assert_true(knot_dname_is_equal(soa->owner,
	    (const knot_dname_t *)"\4acme\4test"));
	/* RFC 2308: the negative TTL, min(SOA TTL, MINIMUM). */
	assert_int_equal(soa->ttl, 30);
	ans_free(a);
}

static void
test_nxdomain(void **state)
{
	struct q q = { .name = "nope." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a = ask(*state, &q, 0);

	assert_int_equal(rcode(a), KNOT_RCODE_NXDOMAIN);
	assert_true(knot_wire_get_aa(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	assert_int_equal(count(a, KNOT_AUTHORITY), 1);
	assert_int_equal(rrset(a, KNOT_AUTHORITY, 0, KNOT_RRTYPE_SOA)->ttl, 30);
	ans_free(a);
}

static void
test_empty_non_terminal(void **state)
{
	/* x.deep.acme.test has a value, so deep.acme.test exists (RFC 8020). */
	struct q q = { .name = "deep." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a = ask(*state, &q, 0);

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	assert_int_equal(count(a, KNOT_AUTHORITY), 1);
	ans_free(a);
	q.name = "x.deep." ZONE ".";
	a = ask(*state, &q, 0);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	ans_free(a);
}

static void
test_refused_outside(void **state)
{
	const char *names[] = { "example.com.", "test.", ".", "acme.test.evil." };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct q q = { .name = names[i], .type = KNOT_RRTYPE_A, .rd = 1 };
		struct ans *a = ask(*state, &q, 0);

		assert_int_equal(rcode(a), KNOT_RCODE_REFUSED);
		assert_false(knot_wire_get_aa(a->wire));
		assert_int_equal(knot_wire_get_qdcount(a->wire), 1);
		assert_int_equal(count(a, KNOT_ANSWER), 0);
		assert_int_equal(count(a, KNOT_AUTHORITY), 0);
		ans_free(a);
	}
}

static void
test_refused_class_and_transfer(void **state)
{
	struct q ch = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT,
	    .qclass = KNOT_CLASS_CH };
	struct q axfr = { .name = ZONE ".", .type = KNOT_RRTYPE_AXFR };
	struct q ixfr = { .name = ZONE ".", .type = KNOT_RRTYPE_IXFR };
	struct ans *a;

	a = ask(*state, &ch, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_REFUSED);
	ans_free(a);
	a = ask(*state, &axfr, 1);
	assert_int_equal(rcode(a), KNOT_RCODE_REFUSED);
	ans_free(a);
	a = ask(*state, &ixfr, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_REFUSED);
	ans_free(a);
}

static void
test_case_preserved(void **state)
{
	struct q q = { .name = "TwO.AcMe.TeSt.", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[512];
	size_t len = query_build(buf, sizeof(buf), &q);
	struct ans *a = ask_raw(*state, buf, len, 0, BIG);
	const knot_rrset_t *txt;

	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	/* The question comes back byte for byte, and the answer points at it. */
	assert_memory_equal(a->wire + 12, buf + 12, len - 12);
	txt = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_TXT);
	assert_true(knot_dname_is_case_equal(txt->owner,
	    (const knot_dname_t *)"\3TwO\4AcMe\4TeSt"));
	assert_int_equal(count(a, KNOT_ANSWER), 2);
	ans_free(a);

	/* The apex in another case is still the apex. */
	q.name = "ACME.test.";
	q.type = KNOT_RRTYPE_SOA;
	a = ask(*state, &q, 0);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	assert_true(knot_dname_is_case_equal(rrset(a, KNOT_ANSWER, 0,
	    KNOT_RRTYPE_SOA)->owner, (const knot_dname_t *)"\4ACME\4test"));
	ans_free(a);
}

/* --- EDNS and sizes -------------------------------------------------------------- */

static void
test_edns_echo(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT,
	    .edns = 4096 };
	struct ans *a = ask(*state, &q, 0);

	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_non_null(a->pkt->opt_rr);
	assert_int_equal(knot_edns_get_payload(a->pkt->opt_rr), 1232);
	assert_int_equal(knot_edns_get_version(a->pkt->opt_rr), 0);
	assert_false(knot_edns_do(a->pkt->opt_rr));
	ans_free(a);

	/* No OPT in, none out. */
	q.edns = 0;
	a = ask(*state, &q, 0);
	assert_null(a->pkt->opt_rr);
	ans_free(a);

	/* Errors echo it too. */
	q.edns = 1232;
	q.name = "example.com.";
	a = ask(*state, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_REFUSED);
	assert_non_null(a->pkt->opt_rr);
	ans_free(a);
}

static void
test_edns_badvers(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT,
	    .edns = 1232, .edns_version = 1 };
	struct ans *a = ask(*state, &q, 0);

	assert_int_equal(rcode(a), KNOT_RCODE_BADVERS);
	assert_non_null(a->pkt->opt_rr);
	assert_int_equal(knot_edns_get_version(a->pkt->opt_rr), 0);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	ans_free(a);
}

/* n values of len bytes at big.acme.test. */
static void
add_values(struct fixture *f, const char *name, int n, size_t len)
{
	char v[256];

	for (int i = 0; i < n; i++) {
		memset(v, 'a' + i % 26, len);
		snprintf(v, sizeof(v), "%03d", i);
		v[3] = '-';
		v[len] = '\0';
		assert_int_equal(techzone_mem_add(f->mem, name, v), 0);
	}
}

static void
test_sizes(void **state)
{
	struct fixture *f = *state;
	struct q q = { .name = "big." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a;

	add_values(f, "big.acme.test", 30, 100);

	/* Without EDNS: at most 512 bytes, so TC and nothing else. */
	a = ask(f, &q, 0);
	assert_true(a->len <= 512);
	assert_true(knot_wire_get_tc(a->wire));
	assert_true(knot_wire_get_aa(a->wire));
	assert_int_equal(knot_wire_get_qdcount(a->wire), 1);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	ans_free(a);

	/* With EDNS asking for 4096: still at most 1232, TC, OPT echoed. */
	q.edns = 4096;
	a = ask(f, &q, 0);
	assert_true(a->len <= 1232);
	assert_true(knot_wire_get_tc(a->wire));
	assert_non_null(a->pkt->opt_rr);
	ans_free(a);

	/* Over TCP the whole answer: 30 values, ~3.4 KB. */
	q.edns = 0;
	a = ask(f, &q, 1);
	assert_false(knot_wire_get_tc(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 30);
	assert_true(a->len > 3000);
	ans_free(a);
}

static void
test_size_between_512_and_1232(void **state)
{
	struct fixture *f = *state;
	struct q q = { .name = "mid." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct ans *a;

	add_values(f, "mid.acme.test", 8, 100);	/* ~900 bytes */
	a = ask(f, &q, 0);
	assert_true(knot_wire_get_tc(a->wire));
	ans_free(a);
	q.edns = 1232;
	a = ask(f, &q, 0);
	assert_false(knot_wire_get_tc(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 8);
	assert_true(a->len > 512 && a->len <= 1232);
	ans_free(a);
	/* A client that says less than 512 gets 512 (RFC 6891 6.2.5). */
	q.edns = 100;
	a = ask(f, &q, 0);
	assert_true(knot_wire_get_tc(a->wire));
	assert_true(a->len <= 512);
	ans_free(a);
	/* A client that says 700 gets at most 700. */
	q.edns = 700;
	a = ask(f, &q, 0);
	assert_true(knot_wire_get_tc(a->wire));
	ans_free(a);
}

static void
test_long_and_many_values(void **state)
{
	struct fixture *f = *state;
	struct q q = { .name = "long." ZONE ".", .type = KNOT_RRTYPE_TXT };
	char v[TECHZONE_TXT_LEN_MAX + 2];
	const knot_rrset_t *txt;
	struct ans *a;

	/* 600 bytes go out as strings of 255, 255 and 90. */
	memset(v, 'x', 600);
	v[600] = '\0';
	assert_int_equal(techzone_mem_add(f->mem, "long.acme.test", v), 0);
	/* Longer than the limit: never served. */
	memset(v, 'y', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	assert_int_equal(techzone_mem_add(f->mem, "long.acme.test", v), 0);
	a = ask(f, &q, 1);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	txt = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_TXT);
	assert_int_equal(txt->rrs.rdata->len, 603);
	assert_int_equal(txt->rrs.rdata->data[0], 255);
	assert_int_equal(txt->rrs.rdata->data[256], 255);
	assert_int_equal(txt->rrs.rdata->data[512], 90);
	ans_free(a);

	/* At most TECHZONE_TXT_VALUES_MAX values at one name. */
	add_values(f, "many.acme.test", TECHZONE_TXT_VALUES_MAX + 20, 10);
	q.name = "many." ZONE ".";
	a = ask(f, &q, 1);
	assert_int_equal(count(a, KNOT_ANSWER), TECHZONE_TXT_VALUES_MAX);
	ans_free(a);
}

static void
test_any_minimal(void **state)
{
	struct fixture *f = *state;
	struct q q = { .name = "big." ZONE ".", .type = KNOT_RRTYPE_ANY };
	const knot_rrset_t *rr;
	struct ans *a;

	add_values(f, "big.acme.test", 30, 100);
	/* Over UDP and TCP alike: one synthesized HINFO (RFC 8482). */
	for (int tcp = 0; tcp <= 1; tcp++) {
		a = ask(f, &q, tcp);
		assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
		assert_false(knot_wire_get_tc(a->wire));
		assert_int_equal(count(a, KNOT_ANSWER), 1);
		rr = rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_HINFO);
		assert_memory_equal(rr->rrs.rdata->data, "\7RFC8482\0", 9);
		assert_true(a->len < 100);
		ans_free(a);
	}
	/* At the apex: the SOA alone. */
	q.name = ZONE ".";
	a = ask(f, &q, 0);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	(void)rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_SOA);
	ans_free(a);
	/* A name that does not exist. */
	q.name = "nope." ZONE ".";
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NXDOMAIN);
	ans_free(a);
}

/* --- malformed and unusual queries ------------------------------------------------ */

static void
test_notimp(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[512];
	size_t len;
	struct ans *a;

	for (int op = 1; op < 16; op++) {
		len = query_build(buf, sizeof(buf), &q);
		knot_wire_set_opcode(buf, (short)op);
		a = ask_raw(*state, buf, len, 0, BIG);
		assert_int_equal(a->v, TECHZONE_ANSWER);
		assert_int_equal(rcode(a), KNOT_RCODE_NOTIMPL);
		assert_int_equal(knot_wire_get_opcode(a->wire), op);
		assert_int_equal(count(a, KNOT_ANSWER), 0);
		ans_free(a);
	}
	/* Meta types other than ANY, AXFR and IXFR. */
	q.type = KNOT_RRTYPE_OPT;
	a = ask(*state, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NOTIMPL);
	ans_free(a);
}

static void
test_formerr_qdcount(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[512], two[512];
	size_t len = query_build(buf, sizeof(buf), &q), qlen = len - 12;
	struct ans *a;

	/* QDCOUNT 0: just the header. */
	knot_wire_set_qdcount(buf, 0);
	a = ask_raw(*state, buf, 12, 0, BIG);
	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_qdcount(a->wire), 0);
	assert_int_equal(a->len, 12);
	ans_free(a);

	/* QDCOUNT 2 with two questions. */
	memcpy(two, buf, len);
	memcpy(two + len, buf + 12, qlen);
	knot_wire_set_qdcount(two, 2);
	a = ask_raw(*state, two, len + qlen, 0, BIG);
	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_qdcount(a->wire), 0);
	ans_free(a);

	/* An answer section in a query. */
	knot_wire_set_qdcount(buf, 1);
	knot_wire_set_ancount(buf, 1);
	a = ask_raw(*state, buf, len, 0, BIG);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	ans_free(a);
}

static void
test_formerr_broken_question(void **state)
{
	/* A header, then a label running past the end. */
	uint8_t buf[] = { 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	    30, 'a', 'b', 'c' };
	/* A compression pointer in the question. */
	uint8_t ptr[] = { 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	    0xc0, 12, 0, 16, 0, 1 };
	/* Trailing bytes after the question. */
	uint8_t trail[] = { 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	    3, 'o', 'n', 'e', 4, 'a', 'c', 'm', 'e', 4, 't', 'e', 's', 't', 0,
	    0, 16, 0, 1, 0xde, 0xad };
	struct ans *a;

	a = ask_raw(*state, buf, sizeof(buf), 0, BIG);
	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_id(a->wire), 0xabcd);
	ans_free(a);
	a = ask_raw(*state, ptr, sizeof(ptr), 0, BIG);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	ans_free(a);
	a = ask_raw(*state, trail, sizeof(trail), 0, BIG);
	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_qdcount(a->wire), 1);
	ans_free(a);
}

static void
test_garbage_dropped(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[TECHZONE_QUERY_MAX + 10];
	size_t len;
	struct ans *a;

	/* Too short for a header. */
	memset(buf, 0, sizeof(buf));
	for (size_t n = 0; n < 12; n++) {
		a = ask_raw(*state, buf, n, 0, BIG);
		assert_int_equal(a->v, TECHZONE_DROP);
		ans_free(a);
	}
	/* A response (QR=1): answering would make loops. */
	len = query_build(buf, sizeof(buf), &q);
	knot_wire_set_qr(buf);
	a = ask_raw(*state, buf, len, 0, BIG);
	assert_int_equal(a->v, TECHZONE_DROP);
	ans_free(a);
	/* Over the size any query needs. */
	knot_wire_clear_qr(buf);
	a = ask_raw(*state, buf, TECHZONE_QUERY_MAX + 1, 0, BIG);
	assert_int_equal(a->v, TECHZONE_DROP);
	ans_free(a);
	/* No room for even a header. */
	a = ask_raw(*state, buf, len, 0, 11);
	assert_int_equal(a->v, TECHZONE_DROP);
	ans_free(a);
	/* Random bytes never crash and never answer a response. */
	srandom(42);
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)(random() % 300);

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)random();
		a = ask_raw(*state, buf, n, i & 1, BIG);
		if (n >= 12 && knot_wire_get_qr(buf))
			assert_int_equal(a->v, TECHZONE_DROP);
		ans_free(a);
	}
}

static void
test_tsig_notauth(void **state)
{
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[512];
	size_t len = query_build(buf, sizeof(buf), &q);
	knot_pkt_t *pkt = knot_pkt_new(buf, sizeof(buf), NULL);
	knot_tsig_key_t key = { .algorithm = DNSSEC_TSIG_HMAC_SHA256 };
	uint8_t secret[32] = { 1 }, digest[64];
	size_t dlen = sizeof(digest);
	struct ans *a;

	assert_non_null(pkt);
	pkt->size = len;
	key.name = (knot_dname_t *)"\3key\0";
	key.secret.data = secret;
	key.secret.size = sizeof(secret);
	assert_int_equal(knot_pkt_parse(pkt, 0), KNOT_EOK);
	assert_int_equal(knot_tsig_sign(pkt->wire, &pkt->size, pkt->max_size,
	    NULL, 0, digest, &dlen, &key, 0, 0), KNOT_EOK);
	len = pkt->size;
	knot_pkt_free(pkt);
	a = ask_raw(*state, buf, len, 0, BIG);
	assert_int_equal(a->v, TECHZONE_ANSWER);
	assert_int_equal(rcode(a), KNOT_RCODE_NOTAUTH);
	ans_free(a);
}

static void
test_source_failure(void **state)
{
	struct fixture *f = *state;
	struct techzone_source src = f->src;
	struct techzone_conf conf;
	struct q q = { .name = "one." ZONE ".", .type = KNOT_RRTYPE_TXT };
	struct techzone *ok = f->tz;
	char err[128];
	struct ans *a;

	src.txt = failing_txt;
	techzone_conf_init(&conf, ZONE);
	f->tz = techzone_new(&conf, &src, err, sizeof(err));
	assert_non_null(f->tz);
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_SERVFAIL);
	assert_false(knot_wire_get_aa(a->wire));
	ans_free(a);
	/* The apex's own records need no source. */
	q.name = ZONE ".";
	q.type = KNOT_RRTYPE_SOA;
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	ans_free(a);
	techzone_free(f->tz);
	f->tz = ok;
}

static uint32_t
serial_42(void *ctx)
{
	return 42;
}

static void
test_serial_from_source(void **state)
{
	struct fixture *f = *state;
	struct techzone_source src = f->src;
	struct techzone_conf conf;
	struct q q = { .name = ZONE ".", .type = KNOT_RRTYPE_SOA };
	struct techzone *ok = f->tz;
	char err[128];
	struct ans *a;

	src.serial = serial_42;
	techzone_conf_init(&conf, ZONE);
	f->tz = techzone_new(&conf, &src, err, sizeof(err));
	assert_non_null(f->tz);
	a = ask(f, &q, 0);
	assert_int_equal(knot_soa_serial(rrset(a, KNOT_ANSWER, 0,
	    KNOT_RRTYPE_SOA)->rrs.rdata), 42);
	ans_free(a);
	techzone_free(f->tz);
	f->tz = ok;
}

static void
test_ns_names(void **state)
{
	const char *addrs[] = { "192.0.2.53", "2001:db8::53" };
	struct fixture *f = fixture_new(addrs, 2);
	struct q q = { .name = "ns1." ZONE ".", .type = KNOT_RRTYPE_A };
	struct ans *a;

	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	assert_memory_equal(rrset(a, KNOT_ANSWER, 0, KNOT_RRTYPE_A)->rrs.rdata->data,
	    "\xc0\x00\x02\x35", 4);
	ans_free(a);
	q.type = KNOT_RRTYPE_AAAA;
	a = ask(f, &q, 0);
	assert_int_equal(count(a, KNOT_ANSWER), 1);
	ans_free(a);
	q.type = KNOT_RRTYPE_TXT;
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	ans_free(a);
	teardown((void **)&f);

	/* Without addresses the name still exists: NODATA. */
	f = fixture_new(NULL, 0);
	q.type = KNOT_RRTYPE_A;
	a = ask(f, &q, 0);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	ans_free(a);
	teardown((void **)&f);
}

static void
test_conf_errors(void **state)
{
	struct techzone_mem *m = techzone_mem_new();
	struct techzone_source src;
	struct techzone_conf conf;
	const char *bad_addr[] = { "ns.example" };
	const char *ns[] = { "a..b" };
	char err[256];

	techzone_mem_source(m, &src);
	techzone_conf_init(&conf, "bad..zone");
	assert_null(techzone_new(&conf, &src, err, sizeof(err)));
	assert_non_null(strstr(err, "bad..zone"));
	techzone_conf_init(&conf, ".");
	assert_null(techzone_new(&conf, &src, err, sizeof(err)));
	techzone_conf_init(&conf, ZONE);
	conf.ns_addrs = bad_addr;
	conf.nns_addrs = 1;
	assert_null(techzone_new(&conf, &src, err, sizeof(err)));
	assert_non_null(strstr(err, "ns.example"));
	techzone_conf_init(&conf, ZONE);
	conf.ns = ns;
	conf.nns = 1;
	assert_null(techzone_new(&conf, &src, err, sizeof(err)));
	techzone_mem_free(m);
}

static void
test_slip(void **state)
{
	struct q q = { .name = "TwO." ZONE ".", .type = KNOT_RRTYPE_TXT,
	    .edns = 1232 };
	uint8_t buf[512];
	size_t len = query_build(buf, sizeof(buf), &q), qsize;
	struct ans *a = ask(*state, &q, 0);

	qsize = len - 12 - 11;	/* the question, without the OPT */
	a->len = techzone_slip(a->wire, a->len);
	assert_int_equal(a->len, 12 + qsize);
	assert_true(knot_wire_get_tc(a->wire));
	assert_memory_equal(a->wire + 12, buf + 12, qsize);
	knot_pkt_free(a->pkt);
	ans_parse(a);
	assert_int_equal(count(a, KNOT_ANSWER), 0);
	assert_int_equal(knot_wire_get_arcount(a->wire), 0);
	ans_free(a);
}

/* --- rate limiting on a test clock -------------------------------------------------- */

static struct sockaddr_storage
addr(const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];

	assert_int_equal(techzone_parse_listen(ip, &ss, &len, err,
	    sizeof(err)), 0);
	return ss;
}

static void
test_rrl(void **state)
{
	struct techzone_rrl *rrl = techzone_rrl_new(200, 2);
	struct sockaddr_storage a1 = addr("198.51.100.1"),
	    a2 = addr("198.51.100.250"), b = addr("198.51.101.1");
	const int64_t t = 1000;
	int drop = 0, slip = 0;

	assert_non_null(rrl);
	/* 200 answers in one second to one /24, split over two hosts. */
	for (int i = 0; i < 200; i++)
		assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)
		    (i & 1 ? &a1 : &a2), t), TECHZONE_RRL_PASS);
	/* Past that: dropped, every second one slipped with TC. */
	for (int i = 0; i < 100; i++) {
		switch (techzone_rrl_check(rrl, (struct sockaddr *)&a1, t)) {
		case TECHZONE_RRL_DROP:
			drop++;
			break;
		case TECHZONE_RRL_SLIP:
			slip++;
			break;
		default:
			fail_msg("answer %d over the limit passed", i);
		}
	}
	assert_int_equal(drop, 50);
	assert_int_equal(slip, 50);
	/* Another /24 in the same second is not limited. */
	for (int i = 0; i < 200; i++)
		assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)&b, t),
		    TECHZONE_RRL_PASS);
	assert_int_not_equal(techzone_rrl_check(rrl, (struct sockaddr *)&b, t),
	    TECHZONE_RRL_PASS);
	/* The next second starts afresh. */
	assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)&a1, t + 1),
	    TECHZONE_RRL_PASS);
	techzone_rrl_free(rrl);
}

static void
test_rrl_ipv6_and_off(void **state)
{
	struct techzone_rrl *rrl = techzone_rrl_new(10, 0);
	struct sockaddr_storage a = addr("2001:db8:1:2::1"),
	    same64 = addr("2001:db8:1:2:ffff::9"), other64 = addr("2001:db8:1:3::1");

	for (int i = 0; i < 10; i++)
		assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)&a, 5),
		    TECHZONE_RRL_PASS);
	/* Same /64: limited; slip 0 drops everything over the limit. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(techzone_rrl_check(rrl,
		    (struct sockaddr *)&same64, 5), TECHZONE_RRL_DROP);
	assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)&other64, 5),
	    TECHZONE_RRL_PASS);
	techzone_rrl_free(rrl);

	/* A rate of 0 turns it off. */
	rrl = techzone_rrl_new(0, 2);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(techzone_rrl_check(rrl, (struct sockaddr *)&a, 5),
		    TECHZONE_RRL_PASS);
	techzone_rrl_free(rrl);
}

static void
test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	const char *bad[] = { "", ":53", "1.2.3.4:", "1.2.3.4:65536",
	    "1.2.3.4:x", "[::1", "[::1]x", "host.example:53", "[1.2.3.4]:53x" };

	assert_int_equal(techzone_parse_listen("127.0.0.53:5353", &ss, &len,
	    err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5353);
	assert_int_equal(techzone_parse_listen("0.0.0.0", &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 53);
	assert_int_equal(techzone_parse_listen("[::1]:53", &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(techzone_parse_listen("::", &ss, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 53);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (techzone_parse_listen(bad[i], &ss, &len, err,
		    sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

/* --- the server on real sockets ------------------------------------------------------ */

struct live {
	struct fixture		*f;
	struct event_base	*base;
	struct techzone_server	*srv;
	struct sockaddr_in	 sa;
};

static int64_t fake_now = 100;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static struct live *
live_new(void (*tweak)(struct techzone_server_conf *))
{
	struct live *l = calloc(1, sizeof(*l));
	struct techzone_server_conf conf;
	const char *listen[] = { "127.0.0.53:0" };
	char err[256];

	assert_non_null(l);
	l->f = fixture_new(NULL, 0);
	assert_int_equal(techzone_mem_add(l->f->mem, "x.acme.test", "hello"), 0);
	add_values(l->f, "big.acme.test", 30, 100);
	l->base = event_base_new();
	assert_non_null(l->base);
	event_base_priority_init(l->base, PRIO_COUNT);
	techzone_server_conf_init(&conf);
	conf.listen = listen;
	conf.nlisten = 1;
	conf.clock = fake_clock;
	if (tweak != NULL)
		tweak(&conf);
	l->srv = techzone_server_new(l->base, l->f->tz, &conf, err, sizeof(err));
	if (l->srv == NULL)
		fail_msg("techzone_server_new: %s", err);
	assert_true(techzone_server_port(l->srv, 0) > 0);
	assert_int_equal(techzone_server_port(l->srv, 1), -1);
	l->sa.sin_family = AF_INET;
	l->sa.sin_port = htons((uint16_t)techzone_server_port(l->srv, 0));
	inet_pton(AF_INET, "127.0.0.53", &l->sa.sin_addr);
	return l;
}

static void
live_free(struct live *l)
{
	techzone_server_free(l->srv);
	event_base_free(l->base);
	teardown((void **)&l->f);
	free(l);
}

/* Runs the loop until fd is readable (1) or about 3 s have gone (0). */
static int
pump(struct live *l, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < 300; i++) {
		event_base_loop(l->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 10) == 1)
			return 1;
	}
	return 0;
}

/* Runs the loop for about ms milliseconds; 1 if fd became readable. */
static int
pump_for(struct live *l, int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < ms / 5; i++) {
		event_base_loop(l->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 5) == 1)
			return 1;
	}
	return 0;
}

static int
udp_client(struct live *l)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&l->sa, sizeof(l->sa)), 0);
	return fd;
}

static int
tcp_client(struct live *l)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	/* The backlog takes it even before the loop accepts. */
	assert_int_equal(connect(fd, (struct sockaddr *)&l->sa, sizeof(l->sa)), 0);
	return fd;
}

static struct ans *
udp_ask(struct live *l, int fd, const struct q *q)
{
	uint8_t buf[512];
	size_t len = query_build(buf, sizeof(buf), q);
	struct ans *a = calloc(1, sizeof(*a));
	ssize_t n;

	assert_non_null(a);
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	assert_true(pump(l, fd));
	n = recv(fd, a->wire, sizeof(a->wire), 0);
	assert_true(n > 0);
	a->len = (size_t)n;
	a->v = TECHZONE_ANSWER;
	ans_parse(a);
	return a;
}

/* Reads one length-framed answer; NULL at EOF. */
static struct ans *
tcp_read_answer(struct live *l, int fd)
{
	struct ans *a = calloc(1, sizeof(*a));
	uint8_t hdr[2];
	size_t want, got = 0;

	assert_non_null(a);
	for (size_t have = 0; have < 2; ) {
		ssize_t n;

		assert_true(pump(l, fd));
		if ((n = recv(fd, hdr + have, 2 - have, 0)) <= 0) {
			free(a);
			return NULL;
		}
		have += (size_t)n;
	}
	want = knot_wire_read_u16(hdr);
	while (got < want) {
		ssize_t n;

		assert_true(pump(l, fd));
		n = recv(fd, a->wire + got, want - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	a->len = want;
	a->v = TECHZONE_ANSWER;
	ans_parse(a);
	return a;
}

static void
tcp_send_query(int fd, const struct q *q)
{
	uint8_t buf[514];
	size_t len = query_build(buf + 2, sizeof(buf) - 2, q);

	knot_wire_write_u16(buf, (uint16_t)len);
	assert_int_equal(send(fd, buf, len + 2, 0), (ssize_t)len + 2);
}

/* EOF seen within about ms. */
static int
closed_within(struct live *l, int fd, int ms)
{
	char c;

	if (!pump_for(l, fd, ms))
		return 0;
	/* A close with unread input arrives as a reset. */
	return recv(fd, &c, 1, 0) <= 0;
}

static void
test_live_udp_then_tcp(void **state)
{
	struct live *l = live_new(NULL);
	struct q q = { .name = "X.acme.test.", .type = KNOT_RRTYPE_TXT };
	struct techzone_stats st;
	struct ans *a;
	int u = udp_client(l), t;

	a = udp_ask(l, u, &q);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	assert_true(txt_has(a, "hello"));
	ans_free(a);

	/* Too big for UDP: TC, and TCP then serves it whole. */
	q.name = "big.acme.test.";
	a = udp_ask(l, u, &q);
	assert_true(knot_wire_get_tc(a->wire));
	assert_true(a->len <= 512);
	ans_free(a);
	t = tcp_client(l);
	tcp_send_query(t, &q);
	a = tcp_read_answer(l, t);
	assert_non_null(a);
	assert_false(knot_wire_get_tc(a->wire));
	assert_int_equal(count(a, KNOT_ANSWER), 30);
	ans_free(a);

	/* Garbage over UDP: no answer at all. */
	assert_int_equal(send(u, "garbage", 7, 0), 7);
	assert_false(pump_for(l, u, 100));
	techzone_server_stats(l->srv, &st);
	assert_int_equal(st.udp_answers, 2);
	assert_int_equal(st.tcp_answers, 1);
	assert_int_equal(st.dropped, 1);
	close(u);
	close(t);
	live_free(l);
}

static void
test_live_tcp_pipelined(void **state)
{
	struct live *l = live_new(NULL);
	struct q q1 = { .name = "x.acme.test.", .type = KNOT_RRTYPE_TXT, .id = 1 };
	struct q q2 = { .name = "nope.acme.test.", .type = KNOT_RRTYPE_TXT, .id = 2 };
	struct q q3 = { .name = "acme.test.", .type = KNOT_RRTYPE_SOA, .id = 3 };
	uint8_t buf[1600];
	size_t len = 0, n;
	struct ans *a;
	int t = tcp_client(l);

	/* Three queries in one write, the third split over two more. */
	n = query_build(buf + 2, 500, &q1);
	knot_wire_write_u16(buf, (uint16_t)n);
	len = n + 2;
	n = query_build(buf + len + 2, 500, &q2);
	knot_wire_write_u16(buf + len, (uint16_t)n);
	len += n + 2;
	n = query_build(buf + len + 2, 500, &q3);
	knot_wire_write_u16(buf + len, (uint16_t)n);
	assert_int_equal(send(t, buf, len + 1, 0), (ssize_t)len + 1);
	for (uint16_t id = 1; id <= 2; id++) {
		a = tcp_read_answer(l, t);
		assert_non_null(a);
		assert_int_equal(knot_wire_get_id(a->wire), id);
		assert_int_equal(rcode(a), id == 1 ? KNOT_RCODE_NOERROR :
		    KNOT_RCODE_NXDOMAIN);
		ans_free(a);
	}
	assert_int_equal(send(t, buf + len + 1, n + 1, 0), (ssize_t)n + 1);
	a = tcp_read_answer(l, t);
	assert_non_null(a);
	assert_int_equal(knot_wire_get_id(a->wire), 3);
	ans_free(a);
	close(t);
	live_free(l);
}

static void
short_timeouts(struct techzone_server_conf *conf)
{
	conf->tcp_idle_ms = 60;
	conf->tcp_io_ms = 60;
	conf->tcp_max = 1;
}

static void
test_live_tcp_timeouts_and_limit(void **state)
{
	struct live *l = live_new(short_timeouts);
	struct q q = { .name = "x.acme.test.", .type = KNOT_RRTYPE_TXT };
	struct techzone_stats st;
	struct ans *a;
	int t1, t2;

	/* Idle: closed after tcp_idle_ms. */
	t1 = tcp_client(l);
	assert_true(closed_within(l, t1, 2000));
	close(t1);

	/* Half a query: closed after tcp_io_ms. */
	t1 = tcp_client(l);
	assert_int_equal(send(t1, "\0", 1, 0), 1);
	assert_true(closed_within(l, t1, 2000));
	close(t1);

	/* At the limit (1) a second client waits until the first is gone. */
	t1 = tcp_client(l);
	tcp_send_query(t1, &q);
	a = tcp_read_answer(l, t1);
	assert_non_null(a);
	ans_free(a);
	t2 = tcp_client(l);
	tcp_send_query(t2, &q);
	assert_false(pump_for(l, t2, 30));
	close(t1);
	a = tcp_read_answer(l, t2);
	assert_non_null(a);
	assert_int_equal(rcode(a), KNOT_RCODE_NOERROR);
	ans_free(a);
	close(t2);

	/* A frame no query can fill: closed at once. */
	t1 = tcp_client(l);
	assert_int_equal(send(t1, "\0\3abc", 5, 0), 5);
	assert_true(closed_within(l, t1, 50));
	close(t1);
	/* Not a query (QR=1): closed, no answer. */
	t1 = tcp_client(l);
	{
		uint8_t buf[514];
		size_t len = query_build(buf + 2, sizeof(buf) - 2, &q);

		knot_wire_write_u16(buf, (uint16_t)len);
		knot_wire_set_qr(buf + 2);
		assert_int_equal(send(t1, buf, len + 2, 0), (ssize_t)len + 2);
	}
	assert_true(closed_within(l, t1, 2000));
	close(t1);
	techzone_server_stats(l->srv, &st);
	assert_int_equal(st.tcp_closed, 4);
	live_free(l);
}

static void
slow_rrl(struct techzone_server_conf *conf)
{
	conf->rrl_per_second = 3;
	conf->rrl_slip = 2;
}

static void
test_live_rrl(void **state)
{
	struct live *l = live_new(slow_rrl);
	struct q q = { .name = "x.acme.test.", .type = KNOT_RRTYPE_TXT };
	uint8_t buf[512];
	size_t len = query_build(buf, sizeof(buf), &q);
	struct techzone_stats st;
	int u = udp_client(l), got = 0, tc = 0;

	fake_now = 500;
	for (int i = 0; i < 8; i++)
		assert_int_equal(send(u, buf, len, 0), (ssize_t)len);
	/* 3 answers, then drop, TC, drop, TC, drop. */
	while (pump_for(l, u, 200)) {
		uint8_t ans[512];

		assert_true(recv(u, ans, sizeof(ans), 0) > 12);
		got++;
		if (knot_wire_get_tc(ans))
			tc++;
	}
	assert_int_equal(got, 5);
	assert_int_equal(tc, 2);
	techzone_server_stats(l->srv, &st);
	assert_int_equal(st.rrl_dropped, 3);
	assert_int_equal(st.rrl_slipped, 2);
	/* A second later the same client is answered again. */
	fake_now++;
	assert_int_equal(send(u, buf, len, 0), (ssize_t)len);
	assert_true(pump(l, u));
	close(u);
	live_free(l);
}

static void
test_live_bind_errors(void **state)
{
	struct fixture *f = fixture_new(NULL, 0);
	struct event_base *base = event_base_new();
	struct techzone_server_conf conf;
	struct techzone_server *a, *b;
	const char *listen[] = { "127.0.0.53:0" }, *bad[] = { "nonsense" };
	char again[64], err[256];

	techzone_server_conf_init(&conf);
	conf.listen = bad;
	conf.nlisten = 1;
	assert_null(techzone_server_new(base, f->tz, &conf, err, sizeof(err)));
	assert_non_null(strstr(err, "nonsense"));
	conf.listen = listen;
	a = techzone_server_new(base, f->tz, &conf, err, sizeof(err));
	assert_non_null(a);
	/* The same port twice: refused with the address in the message. */
	snprintf(again, sizeof(again), "127.0.0.53:%d", techzone_server_port(a, 0));
	listen[0] = again;
	b = techzone_server_new(base, f->tz, &conf, err, sizeof(err));
	assert_null(b);
	assert_non_null(strstr(err, again));
	techzone_server_free(a);
	event_base_free(base);
	teardown((void **)&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apex_soa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apex_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apex_other_type_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_two_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_removed_one_by_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_non_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_class_and_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edns_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edns_badvers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_between_512_and_1232, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_and_many_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notimp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_formerr_qdcount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_formerr_broken_question, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tsig_notauth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_from_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slip, setup, teardown),
		cmocka_unit_test(test_ns_names),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_rrl),
		cmocka_unit_test(test_rrl_ipv6_and_off),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_live_udp_then_tcp),
		cmocka_unit_test(test_live_tcp_pipelined),
		cmocka_unit_test(test_live_tcp_timeouts_and_limit),
		cmocka_unit_test(test_live_rrl),
		cmocka_unit_test(test_live_bind_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
