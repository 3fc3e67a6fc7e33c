/*
 * Human and JSON output.  Everything shown to a person passes through
 * text_clean(), since names in certificates are attacker-chosen.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/wire.h"
#include "output.h"

json_t *
out_json_from(const msgpack_object *o)
{
	json_t *j;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return json_integer(o->via.u64 > INT64_MAX ? INT64_MAX :
		    (json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		if ((j = json_array()) == NULL)
			return NULL;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			json_array_append_new(j, out_json_from(&o->via.array.ptr[i]));
		return j;
	case MSGPACK_OBJECT_MAP:
		if ((j = json_object()) == NULL)
			return NULL;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (k->type != MSGPACK_OBJECT_STR)
				continue;
			json_object_setn_new_nocheck(j, k->via.str.ptr,
			    k->via.str.size, out_json_from(&o->via.map.ptr[i].val));
		}
		return j;
	default:
		return json_null();
	}
}

int
out_json_doc(json_t *doc)
{
	int rc;

	if (doc == NULL)
		return -1;
	/* Certificate names may hold invalid UTF-8: escape rather than fail. */
	rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(doc);
	return rc;
}

int
out_json(const msgpack_object *o)
{
	return out_json_doc(out_json_from(o));
}

/* Copies s into buf with control characters shown as '?'. */
static void
text_clean(char *buf, size_t len, const char *s, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[j] = '\0';
}

static void
append(char *buf, size_t len, size_t *used, const char *s, size_t n)
{
	char clean[1024];

	text_clean(clean, sizeof(clean), s, n);
	*used += snprintf(buf + *used, *used < len ? len - *used : 0, "%s", clean);
	if (*used >= len)
		*used = len - 1;
}

static void
scalar_text(const msgpack_object *v, char *buf, size_t len)
{
	size_t used = 0;

	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		snprintf(buf, len, "-");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(buf, len, "%s", v->via.boolean ? "yes" : "no");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%" PRIu64, v->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%" PRId64, v->via.i64);
		break;
	case MSGPACK_OBJECT_STR:
		buf[0] = '\0';
		append(buf, len, &used, v->via.str.ptr, v->via.str.size);
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
}

const char *
out_text(const msgpack_object *map, const char *key, const char *sep,
    char *buf, size_t len)
{
	const msgpack_object *v = wire_map_get(map, key);
	char one[1024];
	size_t used = 0;

	if (v == NULL) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (v->type != MSGPACK_OBJECT_ARRAY) {
		scalar_text(v, buf, len);
		return buf;
	}
	buf[0] = '\0';
	for (uint32_t i = 0; i < v->via.array.size; i++) {
		scalar_text(&v->via.array.ptr[i], one, sizeof(one));
		if (i > 0)
			append(buf, len, &used, sep, strlen(sep));
		append(buf, len, &used, one, strlen(one));
	}
	if (v->via.array.size == 0)
		snprintf(buf, len, "-");
	return buf;
}

void
out_field(const char *label, const char *value, int width)
{
	printf("%-*s %s\n", width, label, value);
}

struct out_table {
	size_t	  ncols;
	size_t	  nrows;
	size_t	  cap;
	char	**cells;	/* row-major, including the header row */
};

struct out_table *
out_table_new(size_t ncols, const char *const *headers)
{
	struct out_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if (out_table_add(t, headers) == -1) {
		free(t);
		return NULL;
	}
	return t;
}

int
out_table_add(struct out_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(char *));
		if (p == NULL)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		char clean[1024];
		const char *s = cells[c] ? cells[c] : "-";

		text_clean(clean, sizeof(clean), s, strlen(s));
		t->cells[t->nrows * t->ncols + c] = strdup(clean);
	}
	t->nrows++;
	return 0;
}

void
out_table_print(struct out_table *t, FILE *fp)
{
	size_t width[16] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols && c < 16; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t n = s ? strlen(s) : 0;
			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(fp, "%s\n", s ? s : "");
			else
				fprintf(fp, "%-*s  ", (int)width[c < 16 ? c : 15],
				    s ? s : "");
		}
	}
}

void
out_table_free(struct out_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int
out_table_add_keys(struct out_table *t, const msgpack_object *map,
    const char *const *keys)
{
	char bufs[OUT_TABLE_COLS_MAX][1024];
	const char *cells[OUT_TABLE_COLS_MAX];

	if (t->ncols > OUT_TABLE_COLS_MAX)
		return -1;
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = out_text(map, keys[c], ",", bufs[c], sizeof(bufs[c]));
	return out_table_add(t, cells);
}

void
out_table_of(const msgpack_object *rows, size_t ncols,
    const char *const *headers, const char *const *keys)
{
	struct out_table *t = out_table_new(ncols, headers);

	if (t == NULL || ncols > OUT_TABLE_COLS_MAX) {
		out_table_free(t);
		return;
	}
	for (uint32_t i = 0; rows->type == MSGPACK_OBJECT_ARRAY &&
	    i < rows->via.array.size; i++)
		out_table_add_keys(t, &rows->via.array.ptr[i], keys);
	out_table_print(t, stdout);
	out_table_free(t);
}
