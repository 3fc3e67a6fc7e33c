/*
 * Human and JSON output.  Everything shown to a person passes through
 * esc_term() (certfleet/escape.h), since names in certificates are
 * attacker-chosen; every JSON string is valid UTF-8 and printed as ASCII.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"
#include "output.h"

/* Set when a JSON document could not be made or written; main() turns
 * it into a failing exit, so a program never reads half a document. */
static int out_error;

int
out_failed(void)
{
	return out_error;
}

/* A string as JSON, made valid UTF-8 first (jansson refuses anything else;
 * the daemon sends UTF-8, but a string may come from elsewhere). */
static json_t *
json_text(const char *s, size_t n)
{
	json_t *j;
	char *fixed;
	size_t len;

	if (esc_utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	len = esc_utf8_fixed_len(s, n);
	if ((fixed = malloc(len + 1)) == NULL)
		return NULL;
	len = esc_utf8(fixed, len + 1, s, n, 0);
	j = json_stringn_nocheck(fixed, len);
	free(fixed);
	return j;
}

/* Adds v to c (an array or, with key, an object); -1 when out of memory. */
static int
json_add(json_t *c, const msgpack_object *key, json_t *v)
{
	json_t *k;
	int rc;

	if (v == NULL)
		return -1;
	if (key == NULL)
		return json_array_append_new(c, v);
	if ((k = json_text(key->via.str.ptr, key->via.str.size)) == NULL) {
		json_decref(v);
		return -1;
	}
	rc = json_object_set_new_nocheck(c, json_string_value(k), v);
	json_decref(k);
	return rc;
}

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
		return json_text(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		if ((j = json_array()) == NULL)
			return NULL;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (json_add(j, NULL, out_json_from(&o->via.array.ptr[i]))
			    == -1) {
				json_decref(j);
				return NULL;
			}
		return j;
	case MSGPACK_OBJECT_MAP:
		if ((j = json_object()) == NULL)
			return NULL;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			if (k->type != MSGPACK_OBJECT_STR)
				continue;
			if (json_add(j, k, out_json_from(&o->via.map.ptr[i].val))
			    == -1) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	default:
		return json_null();
	}
}

/*
 * jansson escapes bytes below 0x20 but passes DEL (0x7f) through, even
 * with JSON_ENSURE_ASCII.  A DEL can only stand inside a string, so each
 * becomes \u007f.  Takes text; returns the new text, or NULL.
 */
static char *
json_escape_del(char *text)
{
	size_t n = 0, len = strlen(text);
	char *out, *o;

	for (size_t i = 0; i < len; i++)
		n += text[i] == 0x7f;
	if (n == 0)
		return text;
	if ((out = malloc(len + n * 5 + 1)) != NULL) {
		o = out;
		for (size_t i = 0; i < len; i++)
			if (text[i] == 0x7f) {
				memcpy(o, "\\u007f", 6);
				o += 6;
			} else
				*o++ = text[i];
		*o = '\0';
	}
	free(text);
	return out;
}

int
out_json_doc(json_t *doc)
{
	char *text;
	int rc = 0;

	if (doc == NULL) {
		out_error = 1;
		fprintf(stderr, "certfleet: cannot make the JSON document (out "
		    "of memory)\n");
		return -1;
	}
	/* The whole document first: a failure prints nothing rather than
	 * half of it.  ASCII only, so no byte of it can move a terminal. */
	text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (text != NULL)
		text = json_escape_del(text);
	if (text == NULL || fputs(text, stdout) == EOF ||
	    fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		out_error = 1;
		fprintf(stderr, "certfleet: cannot write the JSON document%s\n",
		    text == NULL ? " (out of memory)" : "");
		rc = -1;
	}
	free(text);
	return rc;
}

int
out_json(const msgpack_object *o)
{
	return out_json_doc(out_json_from(o));
}

/* Text gathered raw, escaped once at the end. */
struct raw {
	char	*p;
	size_t	 n, cap;
};

static void
raw_add(struct raw *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (p == NULL)
			return;		/* shown shorter, never wrong */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void
raw_scalar(struct raw *b, const msgpack_object *v)
{
	char num[32];

	switch (v->type) {
	case MSGPACK_OBJECT_NIL:
		raw_add(b, "-", 1);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		raw_add(b, v->via.boolean ? "yes" : "no", v->via.boolean ? 3 : 2);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		raw_add(b, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64,
		    v->via.u64));
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		raw_add(b, num, (size_t)snprintf(num, sizeof(num), "%" PRId64,
		    v->via.i64));
		break;
	case MSGPACK_OBJECT_STR:
		raw_add(b, v->via.str.ptr, v->via.str.size);
		break;
	case MSGPACK_OBJECT_MAP:
		/* A small map ({type, id}: a subject) as its values, "tracked:3". */
		for (uint32_t i = 0; i < v->via.map.size; i++) {
			const msgpack_object *e = &v->via.map.ptr[i].val;

			if (i > 0)
				raw_add(b, ":", 1);
			if (e->type != MSGPACK_OBJECT_MAP &&
			    e->type != MSGPACK_OBJECT_ARRAY)
				raw_scalar(b, e);
		}
		break;
	default:
		raw_add(b, "?", 1);
		break;
	}
}

const char *
out_text(const msgpack_object *map, const char *key, const char *sep,
    char *buf, size_t len)
{
	const msgpack_object *v = wire_map_get(map, key);
	struct raw b = { 0 };

	if (v == NULL || (v->type == MSGPACK_OBJECT_ARRAY &&
	    v->via.array.size == 0)) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (v->type != MSGPACK_OBJECT_ARRAY)
		raw_scalar(&b, v);
	for (uint32_t i = 0; v->type == MSGPACK_OBJECT_ARRAY &&
	    i < v->via.array.size; i++) {
		if (i > 0)
			raw_add(&b, sep, strlen(sep));
		raw_scalar(&b, &v->via.array.ptr[i]);
	}
	esc_term(buf, len, b.p ? b.p : "", b.n, 0, NULL);
	free(b.p);
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
		char clean[OUT_CELL_MAX];
		const char *s = cells[c] ? cells[c] : "-";

		/* Idempotent: a cell out_text made comes out the same. */
		esc_term(clean, sizeof(clean), s, strlen(s), 0, NULL);
		t->cells[t->nrows * t->ncols + c] = strdup(clean);
	}
	t->nrows++;
	return 0;
}

/* Widths in terminal columns: the cells are escaped, so every character
 * in them is one the terminal shows. */
static void
table_widths(const struct out_table *t, size_t *width)
{
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols && c < OUT_TABLE_COLS_MAX; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t w = s ? esc_width(s, strlen(s)) : 0;

			if (w > width[c])
				width[c] = w;
		}
}

static void
table_rows(const struct out_table *t, const size_t *width, FILE *fp)
{
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			s = s ? s : "";
			fputs(s, fp);
			if (c + 1 == t->ncols) {
				fputc('\n', fp);
				continue;
			}
			for (size_t w = esc_width(s, strlen(s));
			    w < width[c < OUT_TABLE_COLS_MAX ? c :
			    OUT_TABLE_COLS_MAX - 1] + 2; w++)
				fputc(' ', fp);
		}
}

void
out_table_print(struct out_table *t, FILE *fp)
{
	size_t width[OUT_TABLE_COLS_MAX] = { 0 };

	table_widths(t, width);
	table_rows(t, width, fp);
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
	char bufs[OUT_TABLE_COLS_MAX][OUT_CELL_MAX];
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

/* --- listings, streamed --------------------------------------------------- */

#define OUT_PAGE_ROWS	1000	/* a table's rows held before printing */

struct out_stream {
	enum out_mode		 mode;
	size_t			 n;		/* items written */
	const char *const	*keys;
	struct out_table	*page;		/* OUT_TABLE: rows not yet printed */
	size_t			 width[OUT_TABLE_COLS_MAX];
	int			 widths_set;
};

struct out_stream *
out_stream_new(enum out_mode mode, size_t ncols, const char *const *headers,
    const char *const *keys)
{
	struct out_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->mode = mode;
	s->keys = keys;
	if (mode == OUT_TABLE &&
	    (ncols > OUT_TABLE_COLS_MAX ||
	    (s->page = out_table_new(ncols, headers)) == NULL)) {
		free(s);
		return NULL;
	}
	return s;
}

/* A table's page: widths from the first page, kept for every later one. */
static void
stream_flush_page(struct out_stream *s)
{
	struct out_table *t = s->page;

	if (!s->widths_set) {
		table_widths(t, s->width);
		s->widths_set = 1;
	}
	table_rows(t, s->width, stdout);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	t->nrows = 0;
}

/* One item as JSON text: ASCII only, DEL escaped too. */
static char *
item_text(const msgpack_object *item, size_t flags)
{
	json_t *j = out_json_from(item);
	char *text;

	if (j == NULL)
		return NULL;
	text = json_dumps(j, flags | JSON_ENSURE_ASCII);
	json_decref(j);
	return text != NULL ? json_escape_del(text) : NULL;
}

static int stream_text(struct out_stream *s, char *text);

static int
stream_failed(void)
{
	out_error = 1;
	fprintf(stderr, "certfleet: cannot write the listing\n");
	return -1;
}

int
out_stream_cells(struct out_stream *s, const char *const *cells)
{
	if (s->mode != OUT_TABLE || out_table_add(s->page, cells) == -1)
		return stream_failed();
	if (s->page->nrows > OUT_PAGE_ROWS)
		stream_flush_page(s);
	s->n++;
	return 0;
}

int
out_stream_json(struct out_stream *s, json_t *doc)
{
	char *text = json_dumps(doc, (s->mode == OUT_JSONL ? JSON_COMPACT :
	    JSON_INDENT(2)) | JSON_ENSURE_ASCII);

	return stream_text(s, text != NULL ? json_escape_del(text) : NULL);
}

int
out_stream_item(struct out_stream *s, const msgpack_object *item)
{
	if (s->mode == OUT_TABLE) {
		if (out_table_add_keys(s->page, item, s->keys) == -1)
			return stream_failed();
		if (s->page->nrows > OUT_PAGE_ROWS)
			stream_flush_page(s);
		s->n++;
		return 0;
	}
	return stream_text(s, item_text(item, s->mode == OUT_JSONL ?
	    JSON_COMPACT : JSON_INDENT(2)));
}

/* Writes one item's JSON text (taken) in the stream's framing. */
static int
stream_text(struct out_stream *s, char *text)
{
	int bad = 0;

	if (text == NULL)
		bad = 1;
	else {
		if (s->mode == OUT_JSONL)
			bad = fputs(text, stdout) == EOF;
		else {
			/* Inside the array: every line two spaces deeper. */
			bad = fputs(s->n ? ",\n  " : "[\n  ", stdout) == EOF;
			for (const char *p = text; *p && !bad; p++)
				bad = fputc(*p, stdout) == EOF ||
				    (*p == '\n' && fputs("  ", stdout) == EOF);
		}
		bad = bad || (s->mode == OUT_JSONL && fputc('\n', stdout) == EOF);
		free(text);
	}
	if (bad)
		return stream_failed();
	s->n++;
	return 0;
}

int
out_stream_end(struct out_stream *s, int ok)
{
	int rc = 0;

	if (ok && s->mode == OUT_TABLE)
		stream_flush_page(s);
	else if (ok && s->mode == OUT_JSON)
		rc = fputs(s->n ? "\n]\n" : "[]\n", stdout) == EOF ? -1 : 0;
	if (fflush(stdout) == EOF)
		rc = -1;
	if (rc == -1 && !out_error) {
		out_error = 1;
		fprintf(stderr, "certfleet: cannot write the listing\n");
	}
	out_table_free(s->page);
	free(s);
	return rc;
}
