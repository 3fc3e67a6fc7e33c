/*
 * Fuzzes the CNAME poll's answer reader: a resolver's DNS message, read for
 * the CNAME at a fixed name.  A verdict must be one of the five, with a
 * sentence; FOUND must come with a non-empty target that is a plain
 * presentation-form name (lowercase, printable, no unescaped final dot).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char target[DNS_NAME_TEXT_MAX], why[512];
	enum dns_cname_status st;
	size_t n, bs;

	st = dns_cname_parse(data, size, "_acme-challenge.foo.test", target,
	    sizeof(target), why, sizeof(why));
	if (st > DNS_CNAME_FAILED || why[0] == '\0')
		__builtin_trap();
	if (st == DNS_CNAME_FOUND) {
		n = strlen(target);
		if (n == 0 || n >= sizeof(target))
			__builtin_trap();
		/* A final dot only escaped ("\\."), by an odd run of backslashes. */
		for (bs = 0; bs + 1 < n && target[n - 2 - bs] == '\\'; bs++)
			;
		if (target[n - 1] == '.' && bs % 2 == 0)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if ((target[i] >= 'A' && target[i] <= 'Z') ||
			    (unsigned char)target[i] < 0x21 ||
			    (unsigned char)target[i] > 0x7e)
				__builtin_trap();
	}
	return 0;
}
