/*
 * Unit tests for the frame checks and msgpack decoding in lib/wire.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certfleet/wire.h"

static int
check(const uint8_t *b, size_t n, char *err)
{
	return wire_check(b, n, err, 128);
}

static size_t
pack_request(uint8_t *out, const char *method)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, 0);
	msgpack_pack_uint32(&pk, 7);
	wire_pack_str(&pk, method);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	wire_pack_kv_int(&pk, "id", -3);
	wire_pack_kv_str(&pk, "pem", "text");
	memcpy(out, sb.data, sb.size);
	n = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return n;
}

static void
test_valid_request(void **state)
{
	uint8_t buf[256];
	char err[128];
	size_t n = pack_request(buf, "Track.Show");
	msgpack_zone zone;
	msgpack_object o;

	assert_int_equal(check(buf, n, err), 0);
	msgpack_zone_init(&zone, 256);
	assert_int_equal(wire_unpack(buf, n, &zone, &o, err, sizeof(err)), 0);
	assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(o.via.array.size, 4);
	const msgpack_object *params = &o.via.array.ptr[3].via.array.ptr[0];
	const msgpack_object *id = wire_map_get(params, "id");
	assert_non_null(id);
	assert_int_equal(id->via.i64, -3);
	assert_null(wire_map_get(params, "absent"));
	assert_null(wire_map_get(id, "id"));	/* not a map */
	msgpack_zone_destroy(&zone);
}

static void
test_every_prefix_is_truncated(void **state)
{
	uint8_t buf[256];
	char err[128];
	size_t n = pack_request(buf, "Track.Show");

	for (size_t i = 0; i < n; i++)
		assert_int_equal(check(buf, i, err), -1);
}

static void
test_count_bombs(void **state)
{
	/* array32 of 134 M elements in 5 bytes: must not reach msgpack-c. */
	const uint8_t arr[] = { 0xdd, 0x08, 0x00, 0x00, 0x00 };
	const uint8_t map[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0 };
	const uint8_t str[] = { 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a' };
	char err[128];

	assert_int_equal(check(arr, sizeof(arr), err), -1);
	assert_non_null(strstr(err, "element count"));
	assert_int_equal(check(map, sizeof(map), err), -1);
	assert_int_equal(check(str, sizeof(str), err), -1);
	assert_non_null(strstr(err, "truncated"));
}

static void
test_depth_limit(void **state)
{
	uint8_t buf[64];
	char err[128];

	/* WIRE_DEPTH_MAX nested arrays around nil: accepted. */
	memset(buf, 0x91, WIRE_DEPTH_MAX);
	buf[WIRE_DEPTH_MAX] = 0xc0;
	assert_int_equal(check(buf, WIRE_DEPTH_MAX + 1, err), 0);
	/* One more: refused. */
	memset(buf, 0x91, WIRE_DEPTH_MAX + 1);
	buf[WIRE_DEPTH_MAX + 1] = 0xc0;
	assert_int_equal(check(buf, WIRE_DEPTH_MAX + 2, err), -1);
	assert_non_null(strstr(err, "nested"));
}

static void
test_rejects(void **state)
{
	const uint8_t trailing[] = { 0xc0, 0xc0 };
	const uint8_t reserved[] = { 0xc1 };
	const uint8_t ext[] = { 0xd4, 0x01, 0x00 };
	const uint8_t fixstr_short[] = { 0xa5, 'a', 'b' };
	const uint8_t ok_scalars[] = { 0x93, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe0 };
	char err[128];

	assert_int_equal(check(trailing, sizeof(trailing), err), -1);
	assert_non_null(strstr(err, "trailing"));
	assert_int_equal(check(reserved, 1, err), -1);
	assert_int_equal(check(ext, sizeof(ext), err), -1);
	assert_int_equal(check(fixstr_short, sizeof(fixstr_short), err), -1);
	assert_int_equal(check(trailing, 0, err), -1);
	assert_int_equal(check(ok_scalars, sizeof(ok_scalars), err), 0);
}

static void
test_len_roundtrip(void **state)
{
	uint8_t hdr[WIRE_HDR_LEN];

	wire_put_len(hdr, WIRE_FRAME_MAX);
	assert_int_equal(wire_get_len(hdr), WIRE_FRAME_MAX);
	wire_put_len(hdr, 0x01020304);
	assert_memory_equal(hdr, "\x01\x02\x03\x04", 4);
	assert_string_equal(wire_status_name(WIRE_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(wire_status_name(99), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request),
		cmocka_unit_test(test_every_prefix_is_truncated),
		cmocka_unit_test(test_count_bombs),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_len_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
