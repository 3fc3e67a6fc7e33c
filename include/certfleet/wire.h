/*
 * The wire contract between certfleetd and its clients: framing, message
 * shapes, status codes and method names.  The daemon, the client, the tests
 * and the fuzzers all link the one implementation in lib/wire.c.
 */
#ifndef CERTFLEET_WIRE_H
#define CERTFLEET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* A frame is a 4-byte big-endian length followed by one msgpack value. */
#define WIRE_HDR_LEN		4
#define WIRE_FRAME_MAX		(16u * 1024 * 1024)
/* Deeper nesting than any message needs is refused before msgpack-c sees it. */
#define WIRE_DEPTH_MAX		16

/* msgpack-rpc message types. */
enum wire_type {
	WIRE_REQUEST = 0,
	WIRE_RESPONSE = 1,
	WIRE_NOTIFY = 2,
	WIRE_STREAM = 3,
};

/* gRPC status codes, carried as {code, message, details}. */
enum wire_status {
	WIRE_OK = 0,
	WIRE_CANCELLED = 1,
	WIRE_UNKNOWN = 2,
	WIRE_INVALID_ARGUMENT = 3,
	WIRE_DEADLINE_EXCEEDED = 4,
	WIRE_NOT_FOUND = 5,
	WIRE_ALREADY_EXISTS = 6,
	WIRE_PERMISSION_DENIED = 7,
	WIRE_RESOURCE_EXHAUSTED = 8,
	WIRE_FAILED_PRECONDITION = 9,
	WIRE_ABORTED = 10,
	WIRE_OUT_OF_RANGE = 11,
	WIRE_UNIMPLEMENTED = 12,
	WIRE_INTERNAL = 13,
	WIRE_UNAVAILABLE = 14,
	WIRE_DATA_LOSS = 15,
	WIRE_UNAUTHENTICATED = 16,
};

const char	*wire_status_name(int code);

/*
 * Checks that buf holds exactly one well-formed msgpack value no deeper than
 * WIRE_DEPTH_MAX whose every array and map count fits in the bytes that
 * remain.  msgpack-c reserves memory from announced counts before reading
 * them, so nothing reaches it unchecked.  Returns 0, or -1 with a sentence
 * in err.
 */
int	 wire_check(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Big-endian frame header helpers. */
void	 wire_put_len(uint8_t hdr[WIRE_HDR_LEN], uint32_t len);
uint32_t wire_get_len(const uint8_t hdr[WIRE_HDR_LEN]);

/*
 * Unpacks one checked frame body into a zone owned by the caller
 * (msgpack_zone_init / msgpack_zone_destroy).  Returns 0 or -1 with err.
 */
int	 wire_unpack(const uint8_t *buf, size_t len, msgpack_zone *zone,
	    msgpack_object *out, char *err, size_t errlen);

/* Looks up a string key in a map object; NULL when absent. */
const msgpack_object *wire_map_get(const msgpack_object *map, const char *key);

/* Packs a C string, or nil for NULL; wire_pack_strn packs s[0..n).  Both
 * pack valid UTF-8: each invalid byte becomes U+FFFD. */
void	 wire_pack_str(msgpack_packer *pk, const char *s);
void	 wire_pack_strn(msgpack_packer *pk, const char *s, size_t n);
void	 wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
void	 wire_pack_kv_int(msgpack_packer *pk, const char *key, int64_t val);
void	 wire_pack_kv_bool(msgpack_packer *pk, const char *key, int val);
void	 wire_pack_key(msgpack_packer *pk, const char *key);

#endif
