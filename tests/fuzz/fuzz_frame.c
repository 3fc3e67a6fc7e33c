/*
 * Fuzzes what the daemon does with a client's bytes: the frame length check,
 * wire_check and msgpack decoding, and the request-shape lookups.
 */
#include <stddef.h>
#include <stdint.h>

#include "certfleet/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone zone;
	msgpack_object msg;
	char err[128];
	uint32_t n;

	if (size < WIRE_HDR_LEN)
		return 0;
	n = wire_get_len(data);
	if (n == 0 || n > WIRE_FRAME_MAX || n > size - WIRE_HDR_LEN)
		return 0;
	msgpack_zone_init(&zone, 2048);
	if (wire_unpack(data + WIRE_HDR_LEN, n, &zone, &msg, err,
	    sizeof(err)) == 0 && msg.type == MSGPACK_OBJECT_ARRAY &&
	    msg.via.array.size == 4) {
		const msgpack_object *params = &msg.via.array.ptr[3];

		if (params->type == MSGPACK_OBJECT_ARRAY &&
		    params->via.array.size == 1)
			(void)wire_map_get(&params->via.array.ptr[0], "id");
	}
	msgpack_zone_destroy(&zone);
	return 0;
}
