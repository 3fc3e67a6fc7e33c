/*
 * Framing and message checks shared by daemon, client, tests and fuzzers.
 * Nothing here does I/O: bytes come in, decisions go out.
 */
#include <stdio.h>
#include <string.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"

/* Bounds the msgpack_object array msgpack-c builds: 24 bytes each. */
#define WIRE_OBJECTS_MAX	(1u << 20)

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *
wire_status_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(status_names) / sizeof(status_names[0]))
		return "UNKNOWN";
	return status_names[code];
}

void
wire_put_len(uint8_t hdr[WIRE_HDR_LEN], uint32_t len)
{
	hdr[0] = len >> 24;
	hdr[1] = len >> 16;
	hdr[2] = len >> 8;
	hdr[3] = len;
}

uint32_t
wire_get_len(const uint8_t hdr[WIRE_HDR_LEN])
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
}

static uint64_t
be_read(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * Reads one type byte at buf[*off] and reports how many payload bytes
 * follow (skip) and how many child objects it opens (children).
 */
static int
wire_head(const uint8_t *buf, size_t len, size_t *off, uint64_t *skip,
    uint64_t *children, const char **why)
{
	uint8_t b = buf[(*off)++];
	int lenbytes = 0;
	uint64_t mul = 0;	/* children per announced count: 1 array, 2 map */

	*skip = 0;
	*children = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 0;
	if (b >= 0x80 && b <= 0x8f) {
		*children = 2ull * (b & 0x0f);
		return 0;
	}
	if (b >= 0x90 && b <= 0x9f) {
		*children = b & 0x0f;
		return 0;
	}
	if (b >= 0xa0 && b <= 0xbf) {
		*skip = b & 0x1f;
		return 0;
	}
	switch (b) {
	case 0xca: *skip = 4; return 0;
	case 0xcb: *skip = 8; return 0;
	case 0xcc: case 0xd0: *skip = 1; return 0;
	case 0xcd: case 0xd1: *skip = 2; return 0;
	case 0xce: case 0xd2: *skip = 4; return 0;
	case 0xcf: case 0xd3: *skip = 8; return 0;
	case 0xc4: case 0xd9: lenbytes = 1; break;
	case 0xc5: case 0xda: lenbytes = 2; break;
	case 0xc6: case 0xdb: lenbytes = 4; break;
	case 0xdc: lenbytes = 2; mul = 1; break;
	case 0xdd: lenbytes = 4; mul = 1; break;
	case 0xde: lenbytes = 2; mul = 2; break;
	case 0xdf: lenbytes = 4; mul = 2; break;
	case 0xc1:
		*why = "reserved type byte 0xc1";
		return -1;
	default:
		*why = "extension types are not accepted";
		return -1;
	}
	if (len - *off < (size_t)lenbytes) {
		*why = "truncated length";
		return -1;
	}
	uint64_t n = be_read(buf + *off, lenbytes);
	*off += lenbytes;
	if (mul == 0)
		*skip = n;
	else
		*children = n * mul;
	return 0;
}

int
wire_check(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	uint64_t stack[WIRE_DEPTH_MAX + 1];
	uint64_t objects = 0, pending = 1;
	size_t off = 0;
	int depth = 0;
	const char *why = NULL;

	if (len == 0) {
		why = "empty frame";
		goto bad;
	}
	stack[0] = 1;
	while (depth >= 0) {
		uint64_t skip, children;

		if (stack[depth] == 0) {
			depth--;
			continue;
		}
		if (off >= len) {
			why = "truncated value";
			goto bad;
		}
		stack[depth]--;
		pending--;
		if (++objects > WIRE_OBJECTS_MAX) {
			why = "too many objects";
			goto bad;
		}
		if (wire_head(buf, len, &off, &skip, &children, &why) == -1)
			goto bad;
		if (skip > len - off) {
			why = "truncated string or number";
			goto bad;
		}
		off += skip;
		if (children == 0)
			continue;
		/* Every child takes at least one byte. */
		pending += children;
		if (pending > len - off) {
			why = "element count larger than the frame";
			goto bad;
		}
		if (depth == WIRE_DEPTH_MAX) {
			why = "nested too deeply";
			goto bad;
		}
		stack[++depth] = children;
	}
	if (off != len) {
		why = "trailing bytes after the value";
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "malformed message: %s", why);
	return -1;
}

int
wire_unpack(const uint8_t *buf, size_t len, msgpack_zone *zone,
    msgpack_object *out, char *err, size_t errlen)
{
	size_t off = 0;

	if (wire_check(buf, len, err, errlen) == -1)
		return -1;
	if (msgpack_unpack((const char *)buf, len, &off, zone, out) !=
	    MSGPACK_UNPACK_SUCCESS || off != len) {
		snprintf(err, errlen, "malformed message: msgpack decode failed");
		return -1;
	}
	return 0;
}

const msgpack_object *
wire_map_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

void
wire_pack_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	wire_pack_strn(pk, s, strlen(s));
}

void
wire_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
	static const char fffd[] = "\xef\xbf\xbd";
	size_t i = 0, run = 0, k;
	uint32_t cp;

	if (esc_utf8_valid(s, n)) {
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, s, n);
		return;
	}
	/* Every string on the wire is UTF-8: an invalid byte is U+FFFD. */
	msgpack_pack_str(pk, esc_utf8_fixed_len(s, n));
	while (i + run < n) {
		k = esc_utf8_decode(s + i + run, n - i - run, &cp);
		if (cp != ESC_INVALID) {
			run += k;
			continue;
		}
		msgpack_pack_str_body(pk, s + i, run);
		msgpack_pack_str_body(pk, fffd, 3);
		i += run + 1;
		run = 0;
	}
	msgpack_pack_str_body(pk, s + i, run);
}

void
wire_pack_key(msgpack_packer *pk, const char *key)
{
	wire_pack_str(pk, key);
}

void
wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	wire_pack_str(pk, key);
	wire_pack_str(pk, val);
}

void
wire_pack_kv_int(msgpack_packer *pk, const char *key, int64_t val)
{
	wire_pack_str(pk, key);
	msgpack_pack_int64(pk, val);
}

void
wire_pack_kv_bool(msgpack_packer *pk, const char *key, int val)
{
	wire_pack_str(pk, key);
	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}
