/*
 * Fuzzes techzone_answer() with what anyone on the internet may send the
 * tech zone, as a UDP datagram or a TCP message, and with a tight output
 * limit.  Every answer must parse back, echo the ID, respect its size limit
 * and survive techzone_slip(); a violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "techzone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct techzone *
zone(void)
{
	static struct techzone *tz;
	static struct techzone_mem *m;
	static const char *addrs[] = { "192.0.2.1", "2001:db8::1" };
	struct techzone_source src;
	struct techzone_conf conf;
	char err[128], v[101];

	if (tz != NULL)
		return tz;
	if ((m = techzone_mem_new()) == NULL)
		abort();
	techzone_mem_add(m, "a.acme.test", "first");
	techzone_mem_add(m, "a.acme.test", "second");
	techzone_mem_add(m, "x.deep.acme.test", "deep");
	for (int i = 0; i < 30; i++) {
		memset(v, 'a' + i % 26, 100);
		v[0] = (char)('0' + i / 10);
		v[1] = (char)('0' + i % 10);
		v[100] = '\0';
		techzone_mem_add(m, "big.acme.test", v);
	}
	techzone_mem_source(m, &src);
	techzone_conf_init(&conf, "acme.test");
	conf.ns_addrs = addrs;
	conf.nns_addrs = 2;
	if ((tz = techzone_new(&conf, &src, err, sizeof(err))) == NULL)
		abort();
	return tz;
}

/* The answer must be a well-formed response to this query. */
static void
check(const uint8_t *q, const uint8_t *ans, size_t len, size_t limit, int tcp)
{
	static uint8_t copy[KNOT_WIRE_MAX_PKTSIZE];
	knot_pkt_t *pkt;

	if (len < KNOT_WIRE_HEADER_SIZE || len > limit ||
	    knot_wire_get_id(ans) != knot_wire_get_id(q) ||
	    !knot_wire_get_qr(ans) || knot_wire_get_ra(ans))
		abort();
	memcpy(copy, ans, len);
	if ((pkt = knot_pkt_new(copy, (uint16_t)len, NULL)) == NULL)
		return;
	if (knot_pkt_parse(pkt, 0) != KNOT_EOK)
		abort();
	/* An OPT goes back only to EDNS queries: without one, 512 bytes. */
	if (!tcp && pkt->opt_rr == NULL && len > TECHZONE_UDP_PLAIN_MAX)
		abort();
	knot_pkt_free(pkt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KNOT_WIRE_MAX_PKTSIZE];
	static const struct { int tcp; size_t outmax, limit; } modes[] = {
		{ 0, sizeof(out), TECHZONE_UDP_EDNS_MAX },
		{ 1, sizeof(out), sizeof(out) },
		{ 0, 100, 100 },
	};
	const struct techzone *tz = zone();

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		size_t len = 1;

		if (techzone_answer(tz, data, size, modes[i].tcp, out,
		    modes[i].outmax, &len) == TECHZONE_DROP) {
			if (len != 0)
				abort();
			continue;
		}
		check(data, out, len, modes[i].limit, modes[i].tcp);
		len = techzone_slip(out, len);
		check(data, out, len, modes[i].limit, modes[i].tcp);
		if (!knot_wire_get_tc(out))
			abort();
	}
	return 0;
}
