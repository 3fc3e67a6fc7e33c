/*
 * Fuzzes the host target parser: "HOST[:PORT] [SNI]" lines from users and
 * import files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon.h"
#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[600], *sni;
	struct track_target t;
	struct cf_err e;

	if (size >= sizeof(host))
		size = sizeof(host) - 1;
	memcpy(host, data, size);
	host[size] = '\0';
	if ((sni = strchr(host, '\n')) != NULL)
		*sni++ = '\0';
	if (track_parse_target(host, sni, &t, &e) == 0 &&
	    (t.port < 1 || t.port > 65535 || t.host[0] == '\0'))
		__builtin_trap();
	return 0;
}
