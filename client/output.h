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
/* Prints o as one indented JSON document on stdout; -1 on failure. */
int		 out_json(const msgpack_object *o);
int		 out_json_doc(json_t *doc);

/*
 * A map member as display text in buf: strings as they are (control
 * characters replaced), numbers, yes/no, "-" for nil or absent, and arrays
 * joined with sep.
 */
const char	*out_text(const msgpack_object *map, const char *key,
		    const char *sep, char *buf, size_t len);

/* Prints "label:  value" lines aligned at width. */
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
