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

/* Prints an array of maps as a table: one column per key, under headers. */
void		 out_table_of(const msgpack_object *rows, size_t ncols,
		    const char *const *headers, const char *const *keys);

#endif
