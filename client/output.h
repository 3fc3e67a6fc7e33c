/*
 * Output for people (key/value blocks and tables, control characters made
 * harmless) and for programs (one JSON document on stdout).
 */
#ifndef CERTFLEET_CLIENT_OUTPUT_H
#define CERTFLEET_CLIENT_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include <msgpack.h>

/* Converts a msgpack value to JSON; NULL when out of memory. */
json_t		*out_json_from(const msgpack_object *o);
/*
 * Prints o as one indented JSON document on stdout, or nothing: -1 with a
 * line on stderr when it cannot be made or written, and out_failed() is
 * then true (main() exits non-zero).  out_json_doc takes doc's reference.
 */
int		 out_json(const msgpack_object *o);
int		 out_json_doc(json_t *doc);
int		 out_failed(void);

/* Bytes of a table cell or out_text buffer: longer text is cut, marked. */
#define OUT_CELL_MAX	1024

/*
 * A map member as display text in buf: strings escaped for a terminal
 * (esc_term), numbers, yes/no, "-" for nil or absent, and arrays joined
 * with sep; cut on a character with a mark when buf is too small.
 */
const char	*out_text(const msgpack_object *map, const char *key,
		    const char *sep, char *buf, size_t len);

/* Prints "label:  value" lines aligned at width; value is escaped text
 * (out_text's). */
void		 out_field(const char *label, const char *value, int width);

struct out_table;
struct out_table *out_table_new(size_t ncols, const char *const *headers);
int		 out_table_add(struct out_table *t, const char *const *cells);
/* Adds a row of map's values under keys (one per column, at most 16). */
#define OUT_TABLE_COLS_MAX	16
int		 out_table_add_keys(struct out_table *t, const msgpack_object *map,
		    const char *const *keys);
void		 out_table_print(struct out_table *t, FILE *fp);
void		 out_table_free(struct out_table *t);

/*
 * A listing written as it arrives, page by page, in constant memory: one
 * JSON array written incrementally (OUT_JSON), one compact object a line
 * (OUT_JSONL), or a table whose column widths come from its first page
 * (later wider cells push their line out, never the memory up).
 */
enum out_mode { OUT_TABLE, OUT_JSON, OUT_JSONL };
struct out_stream;
struct out_stream *out_stream_new(enum out_mode mode, size_t ncols,
		    const char *const *headers, const char *const *keys);
/* One item (a map); -1 when it cannot be written (out_failed() then). */
int		 out_stream_item(struct out_stream *s, const msgpack_object *item);
/* A table row of cells (OUT_TABLE), or a JSON value (OUT_JSON, OUT_JSONL;
 * the caller keeps its reference). */
int		 out_stream_cells(struct out_stream *s, const char *const *cells);
int		 out_stream_json(struct out_stream *s, json_t *doc);
/* Ends the listing (closes the JSON array, prints a table's last page)
 * and frees; ok 0 after an error: a JSON array is left unclosed, so no
 * reader takes half a listing as whole (the exit code says it too). */
int		 out_stream_end(struct out_stream *s, int ok);

/* Prints an array of maps as a table: one column per key, under headers. */
void		 out_table_of(const msgpack_object *rows, size_t ncols,
		    const char *const *headers, const char *const *keys);

#endif
