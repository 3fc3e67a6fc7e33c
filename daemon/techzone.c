/*
 * The tech zone's authoritative DNS server.  techzone_answer() turns one
 * query into one answer with libknot's packet code and nothing else; the
 * server below binds UDP and TCP sockets to the loop and adds the per-network
 * response rate limit that a public UDP server needs against reflection.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <libknot/libknot.h>

#include "daemon.h"
#include "log.h"
#include "techzone.h"

/* RFC 8482: a synthesized HINFO answers ANY where the name has records. */
static const uint8_t hinfo_rfc8482[] = "\x07RFC8482\x00";

struct techzone {
	knot_dname_storage_t	 apex;		/* lowercase wire form */
	knot_rrset_t		 ns;		/* apex NS */
	knot_rrset_t		 a, aaaa;	/* of the NS names inside the zone */
	knot_dname_storage_t	 inzone_ns[TECHZONE_NS_MAX];
	size_t			 ninzone_ns;
	uint8_t			 soa_rdata[2 * KNOT_DNAME_MAXLEN + 20];
	uint16_t		 soa_len;
	uint32_t		 serial;
	uint32_t		 soa_ttl, neg_ttl, txt_ttl;
	struct techzone_source	 src;
};

/* One answer under construction. */
struct answer {
	const struct techzone	*tz;
	knot_pkt_t		*q;		/* the parsed query */
	knot_pkt_t		*r;		/* the response, written into out */
	uint8_t			*out;
	uint16_t		 max;		/* the size the response may reach */
	int			 edns;		/* the query had a usable OPT: echo one */
	knot_rrset_t		 opt;
	knot_rrset_t		 soa;
	knot_rrset_t		 txt;
	knot_rrset_t		 hinfo;
	int			 nomem;
};

/* --- the zone -------------------------------------------------------------- */

void
techzone_conf_init(struct techzone_conf *conf, const char *zone)
{
	memset(conf, 0, sizeof(*conf));
	conf->zone = zone;
	conf->serial = 1;
	conf->refresh = 3600;
	conf->retry = 600;
	conf->expire = 604800;
	conf->minimum = 30;
	conf->soa_ttl = 3600;
	conf->ns_ttl = 3600;
	conf->txt_ttl = TECHZONE_TXT_TTL;
}

/* Parses a name given in presentation form, lowercased; -1 if invalid. */
static int
name_parse(knot_dname_storage_t dst, const char *name)
{
	char buf[KNOT_DNAME_TXT_MAXLEN + 2];
	size_t len = strlen(name);

	/* A name without its final dot is still absolute here. */
	if (len == 0 || len >= sizeof(buf) - 1)
		return -1;
	memcpy(buf, name, len + 1);
	if (buf[len - 1] != '.')
		memcpy(buf + len, ".", 2);
	if (knot_dname_from_str(dst, buf, KNOT_DNAME_MAXLEN) == NULL)
		return -1;
	knot_dname_to_lower(dst);
	return 0;
}

static int
zone_add_addrs(struct techzone *tz, const struct techzone_conf *conf,
    char *err, size_t errlen)
{
	if (conf->nns_addrs > TECHZONE_ADDRS_MAX) {
		snprintf(err, errlen, "at most %d name server addresses",
		    TECHZONE_ADDRS_MAX);
		return -1;
	}
	for (size_t i = 0; i < conf->nns_addrs; i++) {
		uint8_t buf[16];
		int rc;

		if (inet_pton(AF_INET, conf->ns_addrs[i], buf) == 1)
			rc = knot_rrset_add_rdata(&tz->a, buf, 4, NULL);
		else if (inet_pton(AF_INET6, conf->ns_addrs[i], buf) == 1)
			rc = knot_rrset_add_rdata(&tz->aaaa, buf, 16, NULL);
		else {
			snprintf(err, errlen, "name server address '%s' is not "
			    "an IPv4 or IPv6 address", conf->ns_addrs[i]);
			return -1;
		}
		if (rc != KNOT_EOK) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int
zone_add_ns(struct techzone *tz, const char *name, char *err, size_t errlen)
{
	knot_dname_storage_t dn;

	if (name_parse(dn, name) == -1) {
		snprintf(err, errlen, "name server '%s' is not a domain name", name);
		return -1;
	}
	if (knot_rrset_add_rdata(&tz->ns, dn, knot_dname_size(dn), NULL) !=
	    KNOT_EOK) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (knot_dname_in_bailiwick(dn, tz->apex) > 0)
		memcpy(tz->inzone_ns[tz->ninzone_ns++], dn, knot_dname_size(dn));
	return 0;
}

static int
zone_build_soa(struct techzone *tz, const struct techzone_conf *conf,
    const uint8_t *mname, char *err, size_t errlen)
{
	knot_dname_storage_t rname;
	uint8_t *p = tz->soa_rdata;
	size_t mlen = knot_dname_size(mname), rlen;
	uint32_t v[5];

	if (conf->rname != NULL) {
		if (name_parse(rname, conf->rname) == -1) {
			snprintf(err, errlen, "SOA rname '%s' is not a domain "
			    "name", conf->rname);
			return -1;
		}
	} else {
		/* "hostmaster." + zone, unless that is too long. */
		size_t alen = knot_dname_size(tz->apex);

		if (alen + 11 > KNOT_DNAME_MAXLEN) {
			snprintf(err, errlen, "zone name too long for a "
			    "default SOA rname");
			return -1;
		}
		memcpy(rname, "\x0ahostmaster", 11);
		memcpy(rname + 11, tz->apex, alen);
	}
	rlen = knot_dname_size(rname);
	memcpy(p, mname, mlen);
	memcpy(p + mlen, rname, rlen);
	p += mlen + rlen;
	v[0] = conf->serial;
	v[1] = conf->refresh;
	v[2] = conf->retry;
	v[3] = conf->expire;
	v[4] = conf->minimum;
	for (int i = 0; i < 5; i++, p += 4)
		knot_wire_write_u32(p, v[i]);
	tz->soa_len = (uint16_t)(p - tz->soa_rdata);
	return 0;
}

struct techzone *
techzone_new(const struct techzone_conf *conf, const struct techzone_source *src,
    char *err, size_t errlen)
{
	struct techzone *tz;
	char ns1[KNOT_DNAME_TXT_MAXLEN + 8];

	if (conf->zone == NULL || src == NULL || src->txt == NULL) {
		snprintf(err, errlen, "a tech zone needs a name and a source");
		return NULL;
	}
	if (conf->nns > TECHZONE_NS_MAX) {
		snprintf(err, errlen, "at most %d name servers", TECHZONE_NS_MAX);
		return NULL;
	}
	if ((tz = calloc(1, sizeof(*tz))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tz->src = *src;
	tz->serial = conf->serial;
	tz->soa_ttl = conf->soa_ttl;
	tz->neg_ttl = conf->minimum < conf->soa_ttl ? conf->minimum : conf->soa_ttl;
	tz->txt_ttl = conf->txt_ttl;
	if (name_parse(tz->apex, conf->zone) == -1 || tz->apex[0] == '\0') {
		snprintf(err, errlen, "tech zone '%s' is not a domain name below "
		    "the root", conf->zone);
		free(tz);
		return NULL;
	}
	knot_rrset_init(&tz->ns, tz->apex, KNOT_RRTYPE_NS, KNOT_CLASS_IN,
	    conf->ns_ttl);
	knot_rrset_init(&tz->a, tz->apex, KNOT_RRTYPE_A, KNOT_CLASS_IN,
	    conf->ns_ttl);
	knot_rrset_init(&tz->aaaa, tz->apex, KNOT_RRTYPE_AAAA, KNOT_CLASS_IN,
	    conf->ns_ttl);
	if (conf->nns == 0) {
		snprintf(ns1, sizeof(ns1), "ns1.%s", conf->zone);
		if (zone_add_ns(tz, ns1, err, errlen) == -1)
			goto fail;
	}
	for (size_t i = 0; i < conf->nns; i++)
		if (zone_add_ns(tz, conf->ns[i], err, errlen) == -1)
			goto fail;
	if (zone_add_addrs(tz, conf, err, errlen) == -1 ||
	    zone_build_soa(tz, conf, knot_rdataset_at(&tz->ns.rrs, 0)->data,
	    err, errlen) == -1)
		goto fail;
	return tz;
fail:
	techzone_free(tz);
	return NULL;
}

void
techzone_free(struct techzone *tz)
{
	if (tz == NULL)
		return;
	/* knot_rrset_clear would free the owner, which is ours. */
	knot_rdataset_clear(&tz->ns.rrs, NULL);
	knot_rdataset_clear(&tz->a.rrs, NULL);
	knot_rdataset_clear(&tz->aaaa.rrs, NULL);
	free(tz);
}

/* --- one answer ------------------------------------------------------------ */

/* How large the response may grow: RFC 6891 and the 1232-byte default. */
static uint16_t
answer_limit(const knot_pkt_t *q, int edns, int over_tcp, size_t outmax)
{
	size_t lim;

	if (over_tcp)
		lim = KNOT_WIRE_MAX_PKTSIZE;
	else if (!edns)
		lim = TECHZONE_UDP_PLAIN_MAX;
	else {
		lim = knot_edns_get_payload(q->opt_rr);
		if (lim < TECHZONE_UDP_PLAIN_MAX)
			lim = TECHZONE_UDP_PLAIN_MAX;
		if (lim > TECHZONE_UDP_EDNS_MAX)
			lim = TECHZONE_UDP_EDNS_MAX;
	}
	return (uint16_t)(lim < outmax ? lim : outmax);
}

/*
 * Starts (or restarts) the response: the query's header and question, the
 * flags of an authoritative server that does not recurse, room for the OPT.
 * rcode may be an extended one (BADVERS), which needs the OPT.
 */
static int
response_begin(struct answer *a, unsigned rcode, int aa, int tc)
{
	uint8_t *w;

	knot_pkt_free(a->r);
	if ((a->r = knot_pkt_new(a->out, a->max, NULL)) == NULL) {
		a->nomem = 1;
		return -1;
	}
	if (knot_pkt_init_response(a->r, a->q) != KNOT_EOK)
		return -1;
	w = a->r->wire;
	knot_wire_set_qdcount(w, a->q->qname_size > 0 ? 1 : 0);
	knot_wire_set_ancount(w, 0);
	knot_wire_set_nscount(w, 0);
	knot_wire_set_arcount(w, 0);
	knot_wire_set_qr(w);
	knot_wire_clear_aa(w);
	knot_wire_clear_tc(w);
	knot_wire_clear_ra(w);
	knot_wire_clear_ad(w);
	knot_wire_clear_z(w);
	if (aa)
		knot_wire_set_aa(w);
	if (tc)
		knot_wire_set_tc(w);
	knot_wire_set_rcode(w, KNOT_EDNS_RCODE_LO(rcode));
	if (!a->edns)
		return KNOT_EDNS_RCODE_HI(rcode) == 0 ? 0 : -1;
	if (a->opt.rrs.count == 0 && knot_edns_init(&a->opt, TECHZONE_UDP_EDNS_MAX,
	    0, 0, NULL) != KNOT_EOK) {
		a->nomem = 1;
		return -1;
	}
	knot_edns_set_ext_rcode(&a->opt, KNOT_EDNS_RCODE_HI(rcode));
	return knot_pkt_reserve(a->r, knot_edns_wire_size(&a->opt)) ==
	    KNOT_EOK ? 0 : -1;
}

static int
response_end(struct answer *a)
{
	if (!a->edns)
		return 0;
	if (knot_pkt_reclaim(a->r, knot_edns_wire_size(&a->opt)) != KNOT_EOK ||
	    knot_pkt_begin(a->r, KNOT_ADDITIONAL) != KNOT_EOK ||
	    knot_pkt_put(a->r, KNOT_COMPR_HINT_NONE, &a->opt, KNOT_PF_NOTRUNC) !=
	    KNOT_EOK)
		return -1;
	return 0;
}

/*
 * Writes the response: an RRset for the answer section (owner: the question)
 * and one for the authority section, either may be NULL.  When they do not
 * fit, the response is the header and question with TC=1.
 */
static enum techzone_verdict
answer_with(struct answer *a, unsigned rcode, int aa, const knot_rrset_t *an,
    const knot_rrset_t *ns)
{
	int rc = KNOT_EOK;

	if (response_begin(a, rcode, aa, 0) == -1)
		return TECHZONE_DROP;
	if (an != NULL)
		rc = knot_pkt_put(a->r, KNOT_COMPR_HINT_QNAME, an, KNOT_PF_NOTRUNC);
	if (rc == KNOT_EOK && ns != NULL &&
	    (rc = knot_pkt_begin(a->r, KNOT_AUTHORITY)) == KNOT_EOK)
		rc = knot_pkt_put(a->r, KNOT_COMPR_HINT_NONE, ns, KNOT_PF_NOTRUNC);
	if (rc == KNOT_ESPACE) {
		if (response_begin(a, rcode, aa, 1) == -1)
			return TECHZONE_DROP;
	} else if (rc != KNOT_EOK)
		return TECHZONE_DROP;
	return response_end(a) == 0 ? TECHZONE_ANSWER : TECHZONE_DROP;
}

static enum techzone_verdict
answer_rcode(struct answer *a, unsigned rcode)
{
	return answer_with(a, rcode, 0, NULL, NULL);
}

/* The SOA, with the source's serial, at answer or negative TTL. */
static const knot_rrset_t *
soa_rrset(struct answer *a, uint32_t ttl)
{
	const struct techzone *tz = a->tz;
	uint8_t rdata[sizeof(tz->soa_rdata)];

	if (a->soa.rrs.count == 0) {
		memcpy(rdata, tz->soa_rdata, tz->soa_len);
		knot_wire_write_u32(rdata + tz->soa_len - 20, tz->src.serial ?
		    tz->src.serial(tz->src.ctx) : tz->serial);
		knot_rrset_init(&a->soa, (knot_dname_t *)tz->apex,
		    KNOT_RRTYPE_SOA, KNOT_CLASS_IN, ttl);
		if (knot_rrset_add_rdata(&a->soa, rdata, tz->soa_len, NULL) !=
		    KNOT_EOK) {
			a->nomem = 1;
			return NULL;
		}
	}
	a->soa.ttl = ttl;
	return &a->soa;
}

static enum techzone_verdict
answer_negative(struct answer *a, unsigned rcode)
{
	const knot_rrset_t *soa = soa_rrset(a, a->tz->neg_ttl);

	if (soa == NULL)
		return TECHZONE_DROP;
	return answer_with(a, rcode, 1, NULL, soa);
}

/* Adds one value to the TXT RRset, in strings of at most 255 bytes. */
static int
txt_collect_cb(const char *value, size_t len, void *arg)
{
	struct answer *a = arg;
	uint8_t rdata[TECHZONE_TXT_LEN_MAX + TECHZONE_TXT_LEN_MAX / 255 + 1];
	size_t n = 0;

	if (a->txt.rrs.count >= TECHZONE_TXT_VALUES_MAX)
		return 1;
	if (value == NULL || len > TECHZONE_TXT_LEN_MAX)
		return 0;
	do {
		size_t chunk = len > 255 ? 255 : len;

		rdata[n++] = (uint8_t)chunk;
		memcpy(rdata + n, value, chunk);
		n += chunk;
		value += chunk;
		len -= chunk;
	} while (len > 0);
	if (knot_rrset_add_rdata(&a->txt, rdata, (uint16_t)n, NULL) != KNOT_EOK) {
		a->nomem = 1;
		return 1;
	}
	return 0;
}

/* Only whether the name has a value: stop at the first. */
static int
txt_exists_cb(const char *value, size_t len, void *arg)
{
	return 1;
}

/*
 * Asks the source about the question's name.  Returns 1 when it has TXT
 * values (collected into a->txt when want_values), 0 when not, -1 failure.
 */
static int
txt_lookup(struct answer *a, const char *owner, int want_values)
{
	const struct techzone *tz = a->tz;
	int n;

	knot_rrset_init(&a->txt, (knot_dname_t *)knot_pkt_qname(a->q),
	    KNOT_RRTYPE_TXT, KNOT_CLASS_IN, tz->txt_ttl);
	n = tz->src.txt(tz->src.ctx, owner,
	    want_values ? txt_collect_cb : txt_exists_cb, a);
	if (n < 0 || a->nomem)
		return -1;
	if (want_values)
		return a->txt.rrs.count > 0;
	return n > 0;
}

/* Whether the name exists without values of its own (RFC 8020 matters). */
static int
name_is_interior(struct answer *a, const char *owner)
{
	const struct techzone *tz = a->tz;
	const knot_dname_t *qname = knot_pkt_qname(a->q);

	for (size_t i = 0; i < tz->ninzone_ns; i++)
		if (knot_dname_in_bailiwick(tz->inzone_ns[i], qname) > 0)
			return 1;
	if (tz->src.below == NULL)
		return 0;
	return tz->src.below(tz->src.ctx, owner);
}

static int
name_is_inzone_ns(const struct techzone *tz, const knot_dname_t *qname)
{
	for (size_t i = 0; i < tz->ninzone_ns; i++)
		if (knot_dname_is_equal(tz->inzone_ns[i], qname))
			return 1;
	return 0;
}

/* ANY where the name exists: one synthesized HINFO (RFC 8482 4.2). */
static enum techzone_verdict
answer_any(struct answer *a)
{
	knot_rrset_init(&a->hinfo, (knot_dname_t *)knot_pkt_qname(a->q),
	    KNOT_RRTYPE_HINFO, KNOT_CLASS_IN, a->tz->txt_ttl);
	if (knot_rrset_add_rdata(&a->hinfo, hinfo_rfc8482,
	    sizeof(hinfo_rfc8482) - 1, NULL) != KNOT_EOK) {
		a->nomem = 1;
		return TECHZONE_DROP;
	}
	return answer_with(a, KNOT_RCODE_NOERROR, 1, &a->hinfo, NULL);
}

static enum techzone_verdict
answer_apex(struct answer *a, uint16_t qtype, const char *owner)
{
	const knot_rrset_t *soa;
	int has;

	switch (qtype) {
	case KNOT_RRTYPE_SOA:
	case KNOT_RRTYPE_ANY:	/* RFC 8482: one RRset, the SOA */
		if ((soa = soa_rrset(a, a->tz->soa_ttl)) == NULL)
			return TECHZONE_DROP;
		return answer_with(a, KNOT_RCODE_NOERROR, 1, soa, NULL);
	case KNOT_RRTYPE_NS:
		return answer_with(a, KNOT_RCODE_NOERROR, 1, &a->tz->ns, NULL);
	case KNOT_RRTYPE_TXT:
		if ((has = txt_lookup(a, owner, 1)) == -1)
			return a->nomem ? TECHZONE_DROP :
			    answer_rcode(a, KNOT_RCODE_SERVFAIL);
		if (has)
			return answer_with(a, KNOT_RCODE_NOERROR, 1, &a->txt, NULL);
		/* FALLTHROUGH */
	default:
		return answer_negative(a, KNOT_RCODE_NOERROR);
	}
}

static enum techzone_verdict
answer_ns_name(struct answer *a, uint16_t qtype)
{
	const knot_rrset_t *rr = NULL;

	if (qtype == KNOT_RRTYPE_A)
		rr = &a->tz->a;
	else if (qtype == KNOT_RRTYPE_AAAA)
		rr = &a->tz->aaaa;
	else if (qtype == KNOT_RRTYPE_ANY)
		return answer_any(a);
	if (rr == NULL || rr->rrs.count == 0)
		return answer_negative(a, KNOT_RCODE_NOERROR);
	return answer_with(a, KNOT_RCODE_NOERROR, 1, rr, NULL);
}

/* A name below the apex: a challenge name, an NS name, or nothing. */
static enum techzone_verdict
answer_below(struct answer *a, uint16_t qtype, const char *owner)
{
	int has, interior;

	if (name_is_inzone_ns(a->tz, knot_pkt_qname(a->q)))
		return answer_ns_name(a, qtype);
	if ((has = txt_lookup(a, owner, qtype == KNOT_RRTYPE_TXT)) == -1)
		return a->nomem ? TECHZONE_DROP :
		    answer_rcode(a, KNOT_RCODE_SERVFAIL);
	if (has && qtype == KNOT_RRTYPE_TXT)
		return answer_with(a, KNOT_RCODE_NOERROR, 1, &a->txt, NULL);
	if (has && qtype == KNOT_RRTYPE_ANY)
		return answer_any(a);
	if (has)
		return answer_negative(a, KNOT_RCODE_NOERROR);
	if ((interior = name_is_interior(a, owner)) == -1)
		return answer_rcode(a, KNOT_RCODE_SERVFAIL);
	return answer_negative(a, interior ? KNOT_RCODE_NOERROR :
	    KNOT_RCODE_NXDOMAIN);
}

static enum techzone_verdict
answer_query(struct answer *a, int parsed)
{
	const uint8_t *w = a->q->wire;
	uint16_t qtype, qclass;
	char owner[KNOT_DNAME_TXT_MAXLEN + 1];
	size_t olen;
	int depth;

	if (knot_wire_get_opcode(w) != KNOT_OPCODE_QUERY)
		return answer_rcode(a, KNOT_RCODE_NOTIMPL);
	if (!parsed || knot_wire_get_qdcount(w) != 1 ||
	    knot_wire_get_ancount(w) != 0 || knot_wire_get_nscount(w) != 0)
		return answer_rcode(a, KNOT_RCODE_FORMERR);
	if (a->edns && knot_edns_get_version(a->q->opt_rr) != 0)
		return answer_rcode(a, KNOT_RCODE_BADVERS);
	/* No TSIG key is known here. */
	if (knot_pkt_has_tsig(a->q))
		return answer_rcode(a, KNOT_RCODE_NOTAUTH);
	qtype = knot_pkt_qtype(a->q);
	qclass = knot_pkt_qclass(a->q);
	depth = knot_dname_in_bailiwick(knot_pkt_qname(a->q), a->tz->apex);
	/* Not ours, or a zone transfer: no recursion, no transfers. */
	if (qclass != KNOT_CLASS_IN || depth < 0 ||
	    qtype == KNOT_RRTYPE_AXFR || qtype == KNOT_RRTYPE_IXFR)
		return answer_rcode(a, KNOT_RCODE_REFUSED);
	if (qtype != KNOT_RRTYPE_ANY && knot_rrtype_is_metatype(qtype))
		return answer_rcode(a, KNOT_RCODE_NOTIMPL);
	if (knot_dname_to_str(owner, knot_pkt_qname(a->q), sizeof(owner)) == NULL)
		return answer_rcode(a, KNOT_RCODE_SERVFAIL);
	if ((olen = strlen(owner)) > 1 && owner[olen - 1] == '.')
		owner[olen - 1] = '\0';
	if (depth == 0)
		return answer_apex(a, qtype, owner);
	return answer_below(a, qtype, owner);
}

enum techzone_verdict
techzone_answer(const struct techzone *tz, const uint8_t *query, size_t qlen,
    int over_tcp, uint8_t *out, size_t outmax, size_t *outlen)
{
	uint8_t qwire[TECHZONE_QUERY_MAX];
	struct answer a = { .tz = tz, .out = out };
	enum techzone_verdict v;
	int rc;

	*outlen = 0;
	/* Garbage, or a response (answering those makes loops): silence. */
	if (qlen < KNOT_WIRE_HEADER_SIZE || qlen > sizeof(qwire) ||
	    outmax < KNOT_WIRE_HEADER_SIZE || knot_wire_get_qr(query))
		return TECHZONE_DROP;
	/* libknot parses in place and may edit the wire (TSIG). */
	memcpy(qwire, query, qlen);
	if ((a.q = knot_pkt_new(qwire, (uint16_t)qlen, NULL)) == NULL)
		return TECHZONE_DROP;
	rc = knot_pkt_parse(a.q, 0);
	if (rc == KNOT_ENOMEM) {
		knot_pkt_free(a.q);
		return TECHZONE_DROP;
	}
	a.edns = rc == KNOT_EOK && knot_pkt_has_edns(a.q);
	a.max = answer_limit(a.q, a.edns, over_tcp, outmax);
	v = answer_query(&a, rc == KNOT_EOK);
	if (v == TECHZONE_ANSWER && !a.nomem)
		*outlen = a.r->size;
	else
		v = TECHZONE_DROP;
	knot_pkt_free(a.r);
	knot_pkt_free(a.q);
	/* knot_edns_init made the OPT's owner; the others' are borrowed. */
	knot_rrset_clear(&a.opt, NULL);
	knot_rdataset_clear(&a.soa.rrs, NULL);
	knot_rdataset_clear(&a.txt.rrs, NULL);
	knot_rdataset_clear(&a.hinfo.rrs, NULL);
	return v;
}

size_t
techzone_slip(uint8_t *answer, size_t len)
{
	size_t pos = KNOT_WIRE_HEADER_SIZE;

	if (len < KNOT_WIRE_HEADER_SIZE)
		return len;
	if (knot_wire_get_qdcount(answer) == 1) {
		/* Our own answers carry the question uncompressed. */
		while (pos < len && answer[pos] != 0 && answer[pos] <= 63)
			pos += answer[pos] + 1;
		if (pos >= len || answer[pos] != 0 || pos + 5 > len)
			pos = KNOT_WIRE_HEADER_SIZE;
		else
			pos += 5;
	}
	if (pos == KNOT_WIRE_HEADER_SIZE)
		knot_wire_set_qdcount(answer, 0);
	knot_wire_set_ancount(answer, 0);
	knot_wire_set_nscount(answer, 0);
	knot_wire_set_arcount(answer, 0);
	knot_wire_set_tc(answer);
	return pos;
}

/* --- response rate limiting -------------------------------------------------- */

#define RRL_BUCKETS	8192

struct rrl_bucket {
	uint64_t	net;		/* the /24 or /64 */
	int64_t		second;
	uint32_t	count;		/* answers in that second */
	uint32_t	limited;	/* answers over the limit in that second */
	int		family;
};

struct techzone_rrl {
	unsigned		per_second;
	unsigned		slip;
	uint64_t		seed;
	struct rrl_bucket	b[RRL_BUCKETS];
};

struct techzone_rrl *
techzone_rrl_new(unsigned per_second, unsigned slip)
{
	struct techzone_rrl *rrl = calloc(1, sizeof(*rrl));

	if (rrl == NULL)
		return NULL;
	rrl->per_second = per_second;
	rrl->slip = slip;
	/* A secret seed, so nobody can aim at a victim's bucket. */
	if (getrandom(&rrl->seed, sizeof(rrl->seed), GRND_NONBLOCK) !=
	    sizeof(rrl->seed))
		rrl->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return rrl;
}

void
techzone_rrl_free(struct techzone_rrl *rrl)
{
	free(rrl);
}

/* splitmix64's finalizer: every bit of the key moves every bit of the hash. */
static uint64_t
rrl_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

enum techzone_rrl_verdict
techzone_rrl_check(struct techzone_rrl *rrl, const struct sockaddr *client,
    int64_t now)
{
	struct rrl_bucket *b;
	uint64_t net = 0;
	int family = client->sa_family;

	if (rrl == NULL || rrl->per_second == 0)
		return TECHZONE_RRL_PASS;
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)client;

		net = ntohl(sin->sin_addr.s_addr) >> 8;
	} else if (family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)client;

		for (int i = 0; i < 8; i++)
			net = net << 8 | sin6->sin6_addr.s6_addr[i];
	}
	b = &rrl->b[rrl_mix(net ^ rrl->seed ^ (uint64_t)family) % RRL_BUCKETS];
	if (b->family != family || b->net != net || b->second != now) {
		/* Another network takes the bucket over, as in NSD. */
		b->family = family;
		b->net = net;
		b->second = now;
		b->count = 0;
		b->limited = 0;
	}
	if (++b->count <= rrl->per_second)
		return TECHZONE_RRL_PASS;
	b->count = rrl->per_second + 1;		/* no wrap in a long second */
	if (rrl->slip > 0 && ++b->limited % rrl->slip == 0)
		return TECHZONE_RRL_SLIP;
	return TECHZONE_RRL_DROP;
}

/* --- an in-memory source ------------------------------------------------------ */

struct tz_mem_rec {
	char			*name;
	char			*value;
	TAILQ_ENTRY(tz_mem_rec)	 entry;
};

struct techzone_mem {
	TAILQ_HEAD(, tz_mem_rec) recs;
};

struct techzone_mem *
techzone_mem_new(void)
{
	struct techzone_mem *m = calloc(1, sizeof(*m));

	if (m != NULL)
		TAILQ_INIT(&m->recs);
	return m;
}

void
techzone_mem_free(struct techzone_mem *m)
{
	struct tz_mem_rec *r;

	if (m == NULL)
		return;
	while ((r = TAILQ_FIRST(&m->recs)) != NULL) {
		TAILQ_REMOVE(&m->recs, r, entry);
		free(r->name);
		free(r->value);
		free(r);
	}
	free(m);
}

/* Lowercase, without the final dot; NULL when out of memory. */
static char *
mem_name(const char *name)
{
	size_t len = strlen(name);
	char *s;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = (char)tolower((unsigned char)name[i]);
	s[len] = '\0';
	return s;
}

static struct tz_mem_rec *
mem_find(struct techzone_mem *m, const char *name, const char *value)
{
	struct tz_mem_rec *r;

	TAILQ_FOREACH(r, &m->recs, entry)
		if (strcmp(r->name, name) == 0 && strcmp(r->value, value) == 0)
			return r;
	return NULL;
}

int
techzone_mem_add(struct techzone_mem *m, const char *name, const char *value)
{
	struct tz_mem_rec *r;
	char *n = mem_name(name);

	if (n == NULL)
		return -1;
	if (mem_find(m, n, value) != NULL) {
		free(n);
		return 0;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->value = strdup(value)) == NULL) {
		free(r);
		free(n);
		return -1;
	}
	r->name = n;
	TAILQ_INSERT_TAIL(&m->recs, r, entry);
	return 0;
}

int
techzone_mem_del(struct techzone_mem *m, const char *name, const char *value)
{
	struct tz_mem_rec *r;
	char *n = mem_name(name);

	if (n == NULL)
		return -1;
	r = mem_find(m, n, value);
	free(n);
	if (r == NULL)
		return -1;
	TAILQ_REMOVE(&m->recs, r, entry);
	free(r->name);
	free(r->value);
	free(r);
	return 0;
}

static int
mem_txt(void *ctx, const char *owner, techzone_txt_cb *each, void *arg)
{
	struct techzone_mem *m = ctx;
	struct tz_mem_rec *r;
	int n = 0;

	TAILQ_FOREACH(r, &m->recs, entry) {
		if (strcmp(r->name, owner) != 0)
			continue;
		n++;
		if (each(r->value, strlen(r->value), arg) != 0)
			break;
	}
	return n;
}

static int
mem_below(void *ctx, const char *owner)
{
	struct techzone_mem *m = ctx;
	struct tz_mem_rec *r;
	size_t olen = strlen(owner);

	TAILQ_FOREACH(r, &m->recs, entry) {
		size_t len = strlen(r->name);

		if (len > olen + 1 && r->name[len - olen - 1] == '.' &&
		    strcmp(r->name + len - olen, owner) == 0)
			return 1;
	}
	return 0;
}

void
techzone_mem_source(struct techzone_mem *m, struct techzone_source *out)
{
	memset(out, 0, sizeof(*out));
	out->txt = mem_txt;
	out->below = mem_below;
	out->ctx = m;
}

/* --- the server: sockets on the loop ----------------------------------------- */

#define TZ_UDP_BATCH	64	/* datagrams per read event, then others run */
#define TZ_TCP_BATCH	16	/* queries per connection per event */
#define TZ_TCP_BACKLOG	128
#define TZ_RRL_LOG_SECS	60	/* at most one rate-limit line a minute */

enum tz_conn_state {
	TZ_CONN_IDLE,		/* between queries: nothing read yet */
	TZ_CONN_READING,	/* part of a query (or its length) is in */
	TZ_CONN_WRITING,	/* an answer is going out */
	TZ_CONN_DONE,		/* closed; freed from the loop */
};

struct tz_listener {
	struct techzone_server	*srv;
	int			 udp_fd;
	struct event		*udp_ev;
	struct evconnlistener	*tcp;
	int			 port;
	int			 wildcard;	/* reply from the address asked */
};

struct tz_conn {
	struct techzone_server	*srv;
	enum tz_conn_state	 state;
	int			 fd;
	struct event		*rd;
	struct event		*wr;
	struct event		*timer;
	uint8_t			 in[2 + TECHZONE_QUERY_MAX];
	size_t			 have;
	const uint8_t		*out;		/* the answer being written */
	uint8_t			*owned;		/* out, when it had to be kept */
	size_t			 outlen, outoff;
	TAILQ_ENTRY(tz_conn)	 entry;
};

struct techzone_server {
	struct event_base	*base;
	const struct techzone	*tz;
	struct techzone_server_conf conf;
	struct techzone_rrl	*rrl;
	struct tz_listener	*ls;
	size_t			 nls;
	struct event		*accept_pause;
	struct event		*reap;
	int			 nconns;
	int			 paused;
	TAILQ_HEAD(, tz_conn)	 conns;
	TAILQ_HEAD(, tz_conn)	 dead;
	struct techzone_stats	 stats;
	int64_t			 rrl_logged_at;
	uint8_t			 query[TECHZONE_QUERY_MAX];
	uint8_t			 ans[2 + KNOT_WIRE_MAX_PKTSIZE];
};

void
techzone_server_conf_init(struct techzone_server_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->tcp_max = 64;
	conf->tcp_idle_ms = 10000;
	conf->tcp_io_ms = 5000;
	conf->rrl_per_second = TECHZONE_RRL_DEFAULT_RATE;
	conf->rrl_slip = TECHZONE_RRL_DEFAULT_SLIP;
}

static int64_t
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

static void
tv_from_ms(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

int
techzone_parse_listen(const char *s, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *colon, *end;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	size_t hlen;
	long p = 53;
	char *pend;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || (end[1] != '\0' &&
		    end[1] != ':'))
			goto bad;
		hlen = (size_t)(end - s - 1);
		s++;
		port = end[1] == ':' ? end + 2 : NULL;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - s);
		port = colon + 1;
	} else
		hlen = strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (port != NULL) {
		errno = 0;
		p = strtol(port, &pend, 10);
		if (errno != 0 || pend == port || *pend != '\0' || p < 0 ||
		    p > 65535)
			goto bad;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*sin6);
		return 0;
	}
bad:
	snprintf(err, errlen, "listen address '%s' is not ADDR:PORT, "
	    "[ADDR6]:PORT or an address", s);
	return -1;
}

/* --- UDP --- */

static void
rrl_log(struct techzone_server *srv, const struct sockaddr *sa, int64_t now)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (srv->rrl_logged_at != 0 && now - srv->rrl_logged_at < TZ_RRL_LOG_SECS)
		return;
	srv->rrl_logged_at = now;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    addr, sizeof(addr));
	log_warn("techzone: answers to the network of %s exceed %u/s; the rest "
	    "are dropped, every %uth truncated (%llu dropped, %llu truncated so "
	    "far); next report in a minute at most", addr,
	    srv->conf.rrl_per_second, srv->conf.rrl_slip,
	    (unsigned long long)srv->stats.rrl_dropped,
	    (unsigned long long)srv->stats.rrl_slipped);
}

/* Control messages need cmsghdr's alignment. */
union tz_cmsg {
	struct cmsghdr	hdr;
	uint8_t		buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			    CMSG_SPACE(sizeof(struct in_pktinfo))];
};

/* The address the query was sent to, for the reply to come from. */
static size_t
udp_reply_pktinfo(struct msghdr *in, union tz_cmsg *cbuf)
{
	struct cmsghdr *c, *o;
	struct msghdr tmp = { .msg_control = cbuf->buf,
	    .msg_controllen = sizeof(cbuf->buf) };

	for (c = CMSG_FIRSTHDR(in); c != NULL; c = CMSG_NXTHDR(in, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			o = CMSG_FIRSTHDR(&tmp);
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			o = CMSG_FIRSTHDR(&tmp);
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			return CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	return 0;
}

static void
udp_handle(struct tz_listener *l, struct msghdr *mh, size_t n)
{
	struct techzone_server *srv = l->srv;
	const struct sockaddr *from = mh->msg_name;
	union tz_cmsg cbuf;
	struct iovec iov;
	struct msghdr reply = { 0 };
	size_t len;
	int64_t now;

	/* Port 0 cannot be answered; nobody legitimate sends from it. */
	if (((const struct sockaddr_in *)mh->msg_name)->sin_port == 0 ||
	    techzone_answer(srv->tz, srv->query, n, 0, srv->ans, KNOT_WIRE_MAX_PKTSIZE,
	    &len) == TECHZONE_DROP) {
		srv->stats.dropped++;
		return;
	}
	now = srv->conf.clock ? srv->conf.clock() : monotonic_seconds();
	switch (techzone_rrl_check(srv->rrl, from, now)) {
	case TECHZONE_RRL_PASS:
		break;
	case TECHZONE_RRL_DROP:
		srv->stats.rrl_dropped++;
		rrl_log(srv, from, now);
		return;
	case TECHZONE_RRL_SLIP:
		srv->stats.rrl_slipped++;
		rrl_log(srv, from, now);
		len = techzone_slip(srv->ans, len);
		break;
	}
	iov.iov_base = srv->ans;
	iov.iov_len = len;
	reply.msg_name = mh->msg_name;
	reply.msg_namelen = mh->msg_namelen;
	reply.msg_iov = &iov;
	reply.msg_iovlen = 1;
	if (l->wildcard) {
		memset(&cbuf, 0, sizeof(cbuf));
		reply.msg_control = cbuf.buf;
		reply.msg_controllen = udp_reply_pktinfo(mh, &cbuf);
		if (reply.msg_controllen == 0)
			reply.msg_control = NULL;
	}
	/* A full socket buffer loses the answer, as the network might. */
	if (sendmsg(l->udp_fd, &reply, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("techzone: UDP answer not sent: %s", strerror(errno));
	else {
		srv->stats.udp_answers++;
		srv->stats.rcodes[0][srv->ans[3] & 0x0f]++;
	}
}

static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tz_listener *l = arg;
	struct techzone_server *srv = l->srv;

	for (int i = 0; i < TZ_UDP_BATCH; i++) {
		struct sockaddr_storage from;
		union tz_cmsg cbuf;
		struct iovec iov = { srv->query, sizeof(srv->query) };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("techzone: UDP receive failed: %s",
				    strerror(errno));
			return;
		}
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
		    (from.ss_family != AF_INET && from.ss_family != AF_INET6)) {
			srv->stats.dropped++;
			continue;
		}
		udp_handle(l, &mh, (size_t)n);
	}
}

/* --- TCP --- */

static void conn_step(struct tz_conn *c);

static void
listeners_enable(struct techzone_server *srv, int on)
{
	for (size_t i = 0; i < srv->nls; i++) {
		if (srv->ls[i].tcp == NULL)
			continue;
		if (on)
			evconnlistener_enable(srv->ls[i].tcp);
		else
			evconnlistener_disable(srv->ls[i].tcp);
	}
}

static void
conn_free(struct tz_conn *c)
{
	event_free(c->rd);
	event_free(c->wr);
	event_free(c->timer);
	free(c->owned);
	free(c);
}

/* Every end of a connection comes here; it is freed later, from the loop. */
static void
conn_end(struct tz_conn *c, const char *why, int counted)
{
	struct techzone_server *srv = c->srv;

	if (c->state == TZ_CONN_DONE)
		return;
	if (why != NULL)
		log_debug("techzone: TCP client closed (%s)", why);
	if (counted)
		srv->stats.tcp_closed++;
	event_del(c->rd);
	event_del(c->wr);
	event_del(c->timer);
	close(c->fd);
	c->fd = -1;
	c->state = TZ_CONN_DONE;
	TAILQ_REMOVE(&srv->conns, c, entry);
	TAILQ_INSERT_TAIL(&srv->dead, c, entry);
	event_active(srv->reap, EV_TIMEOUT, 0);
	if (srv->nconns-- == srv->conf.tcp_max && !srv->paused)
		listeners_enable(srv, 1);
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct techzone_server *srv = arg;
	struct tz_conn *c;

	while ((c = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, c, entry);
		conn_free(c);
	}
}

/* Enters a state; the deadline is set on entry and not moved by progress. */
static void
conn_set_state(struct tz_conn *c, enum tz_conn_state st)
{
	struct timeval tv;

	if (c->state == st)
		return;
	c->state = st;
	tv_from_ms(&tv, st == TZ_CONN_IDLE ? c->srv->conf.tcp_idle_ms :
	    c->srv->conf.tcp_io_ms);
	evtimer_add(c->timer, &tv);
}

/* Returns 1 with a whole query in c->in, 0 to wait, -1 after conn_end. */
static int
conn_read(struct tz_conn *c)
{
	for (;;) {
		size_t need = c->have < 2 ? 2 : 2 + knot_wire_read_u16(c->in);
		ssize_t n;

		if (c->have >= 2 && (need - 2 < KNOT_WIRE_HEADER_SIZE ||
		    need - 2 > TECHZONE_QUERY_MAX)) {
			conn_end(c, "a frame no query can fill", 1);
			return -1;
		}
		if (c->have == need)
			return 1;
		n = recv(c->fd, c->in + c->have, need - c->have, MSG_DONTWAIT);
		if (n == 0) {
			conn_end(c, c->have ? "closed mid-query" : NULL, 0);
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			conn_end(c, strerror(errno), 0);
			return -1;
		}
		c->have += (size_t)n;
		conn_set_state(c, TZ_CONN_READING);
	}
}

/* Answers the query in c->in; -1 when the client sent garbage. */
static int
conn_answer(struct tz_conn *c)
{
	struct techzone_server *srv = c->srv;
	size_t len;

	if (techzone_answer(srv->tz, c->in + 2, c->have - 2, 1, srv->ans + 2,
	    KNOT_WIRE_MAX_PKTSIZE, &len) == TECHZONE_DROP) {
		srv->stats.dropped++;
		conn_end(c, "not a query", 1);
		return -1;
	}
	srv->stats.tcp_answers++;
	srv->stats.rcodes[1][srv->ans[2 + 3] & 0x0f]++;
	knot_wire_write_u16(srv->ans, (uint16_t)len);
	c->have = 0;
	c->out = srv->ans;
	c->outlen = len + 2;
	c->outoff = 0;
	conn_set_state(c, TZ_CONN_WRITING);
	return 0;
}

/* Returns 1 when the answer is out, 0 to wait, -1 after conn_end. */
static int
conn_write(struct tz_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n >= 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_end(c, strerror(errno), 0);
			return -1;
		}
		/* The shared buffer is reused by the next query: keep a copy. */
		if (c->owned == NULL) {
			size_t rest = c->outlen - c->outoff;

			if ((c->owned = malloc(rest)) == NULL) {
				conn_end(c, "out of memory", 1);
				return -1;
			}
			memcpy(c->owned, c->out + c->outoff, rest);
			c->out = c->owned;
			c->outlen = rest;
			c->outoff = 0;
		}
		return 0;
	}
	free(c->owned);
	c->owned = NULL;
	c->out = NULL;
	conn_set_state(c, TZ_CONN_IDLE);
	return 1;
}

/* Read interest while reading, write interest only while an answer waits. */
static void
conn_wait(struct tz_conn *c)
{
	if (c->state == TZ_CONN_WRITING) {
		event_del(c->rd);
		event_add(c->wr, NULL);
	} else {
		event_del(c->wr);
		event_add(c->rd, NULL);
	}
}

static void
conn_step(struct tz_conn *c)
{
	int rc;

	for (int queries = 0; queries < TZ_TCP_BATCH; ) {
		switch (c->state) {
		case TZ_CONN_IDLE:
		case TZ_CONN_READING:
			if ((rc = conn_read(c)) <= 0)
				goto wait;
			queries++;
			if (conn_answer(c) == -1)
				return;
			break;
		case TZ_CONN_WRITING:
			if ((rc = conn_write(c)) <= 0)
				goto wait;
			break;
		case TZ_CONN_DONE:
			return;
		}
	}
	/* More may be waiting; let other clients run first. */
	rc = 0;
wait:
	if (rc == 0)
		conn_wait(c);
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_step(arg);
}

static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tz_conn *c = arg;

	conn_end(c, c->state == TZ_CONN_IDLE ? "idle" : "too slow", 1);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct tz_listener *l = arg;
	struct techzone_server *srv = l->srv;
	struct tz_conn *c = calloc(1, sizeof(*c));

	if (c == NULL ||
	    (c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_io_cb,
	    c)) == NULL ||
	    (c->wr = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, conn_io_cb,
	    c)) == NULL ||
	    (c->timer = evtimer_new(srv->base, conn_timeout_cb, c)) == NULL) {
		log_warn("techzone: out of memory accepting a TCP client");
		if (c != NULL) {
			if (c->rd)
				event_free(c->rd);
			if (c->wr)
				event_free(c->wr);
			free(c);
		}
		close(fd);
		return;
	}
	srv->stats.tcp_accepted++;
	c->srv = srv;
	c->fd = fd;
	c->state = TZ_CONN_DONE;	/* so that entering IDLE arms the timer */
	event_priority_set(c->rd, PRIO_DEFAULT);
	event_priority_set(c->wr, PRIO_DEFAULT);
	event_priority_set(c->timer, PRIO_DEFAULT);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	if (++srv->nconns >= srv->conf.tcp_max)
		listeners_enable(srv, 0);
	conn_set_state(c, TZ_CONN_IDLE);
	conn_wait(c);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct techzone_server *srv = arg;

	srv->paused = 0;
	if (srv->nconns < srv->conf.tcp_max)
		listeners_enable(srv, 1);
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct tz_listener *l = arg;
	struct techzone_server *srv = l->srv;
	struct timeval pause = { 0, 100 * 1000 };

	/* Out of descriptors the socket stays readable: pause, do not spin. */
	log_warn("techzone: TCP accept failed: %s; pausing for 100 ms",
	    strerror(EVUTIL_SOCKET_ERROR()));
	srv->paused = 1;
	listeners_enable(srv, 0);
	evtimer_add(srv->accept_pause, &pause);
}

/* --- binding --- */

static int
sock_open(int family, int type, const struct sockaddr_storage *ss,
    socklen_t sslen, char *err, size_t errlen, const char *spec)
{
	int fd, one = 1;

	if ((fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "techzone-listen %s: socket: %s", spec,
		    strerror(errno));
		return -1;
	}
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] and 0.0.0.0 can then both be listed. */
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen) == -1 ||
	    (type == SOCK_STREAM && listen(fd, TZ_TCP_BACKLOG) == -1)) {
		snprintf(err, errlen, "techzone-listen %s (%s): %s", spec,
		    type == SOCK_STREAM ? "TCP" : "UDP", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void
ss_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int
ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Binds UDP, then TCP on the same port (port 0: UDP picks, TCP follows). */
static int
listener_open(struct techzone_server *srv, struct tz_listener *l,
    const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen, blen;
	int want, tcp_fd = -1, one = 1;

	l->srv = srv;
	l->udp_fd = -1;
	if (techzone_parse_listen(spec, &ss, &sslen, err, errlen) == -1)
		return -1;
	want = ss_port(&ss);
	for (int tries = 0; tries < 16 && tcp_fd == -1; tries++) {
		if ((l->udp_fd = sock_open(ss.ss_family, SOCK_DGRAM, &ss, sslen,
		    err, errlen, spec)) == -1)
			return -1;
		blen = sizeof(ss);
		getsockname(l->udp_fd, (struct sockaddr *)&ss, &blen);
		tcp_fd = sock_open(ss.ss_family, SOCK_STREAM, &ss, sslen, err,
		    errlen, spec);
		if (tcp_fd == -1) {
			close(l->udp_fd);
			l->udp_fd = -1;
			if (want != 0)
				return -1;
			ss_set_port(&ss, 0);
		}
	}
	if (tcp_fd == -1)
		return -1;
	l->port = ss_port(&ss);
	if ((l->wildcard = is_wildcard(&ss)) != 0) {
		if (ss.ss_family == AF_INET)
			setsockopt(l->udp_fd, IPPROTO_IP, IP_PKTINFO, &one,
			    sizeof(one));
		else
			setsockopt(l->udp_fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
			    &one, sizeof(one));
	}
	if ((l->tcp = evconnlistener_new(srv->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, tcp_fd)) == NULL ||
	    (l->udp_ev = event_new(srv->base, l->udp_fd, EV_READ | EV_PERSIST,
	    udp_read_cb, l)) == NULL) {
		if (l->tcp == NULL)
			close(tcp_fd);
		snprintf(err, errlen, "techzone-listen %s: out of memory", spec);
		return -1;
	}
	evconnlistener_set_error_cb(l->tcp, accept_error_cb);
	event_priority_set(l->udp_ev, PRIO_DEFAULT);
	event_add(l->udp_ev, NULL);
	return 0;
}

struct techzone_server *
techzone_server_new(struct event_base *base, const struct techzone *tz,
    const struct techzone_server_conf *conf, char *err, size_t errlen)
{
	struct techzone_server *srv;

	if (conf->nlisten == 0 || conf->tcp_max < 1 || conf->tcp_idle_ms < 1 ||
	    conf->tcp_io_ms < 1) {
		snprintf(err, errlen, "techzone: no listen address, or a zero "
		    "TCP limit or timeout");
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->base = base;
	srv->tz = tz;
	srv->conf = *conf;
	srv->conf.listen = NULL;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->dead);
	if ((srv->rrl = techzone_rrl_new(conf->rrl_per_second,
	    conf->rrl_slip)) == NULL ||
	    (srv->ls = calloc(conf->nlisten, sizeof(*srv->ls))) == NULL ||
	    (srv->reap = event_new(base, -1, 0, reap_cb, srv)) == NULL ||
	    (srv->accept_pause = evtimer_new(base, accept_resume_cb, srv)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		techzone_server_free(srv);
		return NULL;
	}
	event_priority_set(srv->reap, PRIO_DEFAULT);
	event_priority_set(srv->accept_pause, PRIO_DEFAULT);
	for (size_t i = 0; i < conf->nlisten; i++) {
		srv->nls++;
		if (listener_open(srv, &srv->ls[i], conf->listen[i], err,
		    errlen) == -1) {
			techzone_server_free(srv);
			return NULL;
		}
	}
	return srv;
}

void
techzone_server_free(struct techzone_server *srv)
{
	struct tz_conn *c;

	if (srv == NULL)
		return;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_end(c, NULL, 0);
	while ((c = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, c, entry);
		conn_free(c);
	}
	for (size_t i = 0; i < srv->nls; i++) {
		struct tz_listener *l = &srv->ls[i];

		if (l->tcp != NULL)
			evconnlistener_free(l->tcp);
		if (l->udp_ev != NULL)
			event_free(l->udp_ev);
		if (l->udp_fd != -1)
			close(l->udp_fd);
	}
	free(srv->ls);
	if (srv->reap != NULL)
		event_free(srv->reap);
	if (srv->accept_pause != NULL)
		event_free(srv->accept_pause);
	techzone_rrl_free(srv->rrl);
	free(srv);
}

int
techzone_server_port(const struct techzone_server *srv, size_t i)
{
	return i < srv->nls ? srv->ls[i].port : -1;
}

void
techzone_server_stats(const struct techzone_server *srv,
    struct techzone_stats *out)
{
	*out = srv->stats;
}
