/*
 * One escaping layer for every output (include/certfleet/escape.h).  The
 * widths come from the C library's tables in the C.UTF-8 locale, whatever
 * locale the process runs in, so a table lines up the same for everyone.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "certfleet/escape.h"

/* Longest escape: "\UNNNNNNNN". */
#define ESC_SEQ_MAX	10

/* Invisible or reordering characters beyond the controls (Unicode's Cf,
 * plus the fillers that render as nothing), as inclusive ranges. */
static const uint32_t hidden_ranges[][2] = {
	{ 0x00ad, 0x00ad }, { 0x034f, 0x034f }, { 0x0600, 0x0605 },
	{ 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f },
	{ 0x0890, 0x0891 }, { 0x08e2, 0x08e2 }, { 0x115f, 0x1160 },
	{ 0x17b4, 0x17b5 }, { 0x180b, 0x180f }, { 0x200b, 0x200f },
	{ 0x2028, 0x202e }, { 0x2060, 0x206f }, { 0x3164, 0x3164 },
	{ 0xfdd0, 0xfdef }, { 0xfe00, 0xfe0f }, { 0xfeff, 0xfeff },
	{ 0xffa0, 0xffa0 }, { 0xfff0, 0xfffb }, { 0x110bd, 0x110bd },
	{ 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
	{ 0x1d173, 0x1d17a }, { 0xe0000, 0xe0fff },
};

size_t
esc_utf8_decode(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c = s[0], min;
	size_t more;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		more = 1;
		min = 0x80;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		min = 0x800;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		min = 0x10000;
		c &= 0x07;
	} else
		goto bad;
	if (n - 1 < more)
		goto bad;
	for (size_t k = 1; k <= more; k++) {
		if ((s[k] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return more + 1;
bad:
	*cp = ESC_INVALID;
	return 1;
}

int
esc_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		i += esc_utf8_decode(s + i, n - i, &cp);
		if (cp == ESC_INVALID)
			return 0;
	}
	return 1;
}

size_t
esc_utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n && (k = esc_utf8_decode(s + i, n - i, &cp)) <= max - i)
		i += k;
	return i;
}

size_t
esc_utf8_trim_partial(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	/* A lead byte within the last three bytes whose sequence is longer
	 * than what follows it, with only continuation bytes after it. */
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = s[n - back];
		size_t need;

		if ((c & 0xc0) == 0x80)
			continue;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return need > back ? n - back : n;
	}
	return n;
}

size_t
esc_utf8_fixed_len(const char *s, size_t n)
{
	size_t i = 0, out = 0, k;
	uint32_t cp;

	while (i < n) {
		k = esc_utf8_decode(s + i, n - i, &cp);
		out += cp == ESC_INVALID ? 3 : k;
		i += k;
	}
	return out;
}

/* The C.UTF-8 locale's ctype, made once; NULL when the system lacks it. */
static locale_t
utf8_locale(void)
{
	static locale_t loc;
	static int tried;

	if (!tried) {
		tried = 1;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

/* wcwidth() in C.UTF-8: -1 unprintable, else 0..2; 1 without the locale. */
static int
utf8_wcwidth(uint32_t cp)
{
	locale_t loc = utf8_locale(), old;
	int w;

	if (loc == (locale_t)0)
		return 1;
	old = uselocale(loc);
	w = wcwidth((wchar_t)cp);
	uselocale(old);
	return w;
}

int
esc_is_hidden(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(hidden_ranges) / sizeof(hidden_ranges[0]);

	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == ESC_INVALID)
		return 1;
	if (cp < 0xa0)
		return 0;
	if ((cp & 0xfffe) == 0xfffe)
		return 1;		/* noncharacters U+xFFFE, U+xFFFF */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < hidden_ranges[mid][0])
			hi = mid;
		else if (cp > hidden_ranges[mid][1])
			lo = mid + 1;
		else
			return 1;
	}
	return utf8_wcwidth(cp) < 0;
}

int
esc_cp_width(uint32_t cp)
{
	int w;

	if (cp < 0x7f)
		return 1;
	w = utf8_wcwidth(cp);
	return w < 0 ? 1 : w;
}

/* The escape of one character or invalid byte b (cp == ESC_INVALID). */
static size_t
escape_seq(char out[ESC_SEQ_MAX + 1], uint32_t cp, unsigned char b)
{
	if (cp == ESC_INVALID)
		return (size_t)snprintf(out, ESC_SEQ_MAX + 1, "\\x%02x", b);
	if (cp <= 0x9f)
		return (size_t)snprintf(out, ESC_SEQ_MAX + 1, "\\x%02x",
		    (unsigned)cp);
	if (cp <= 0xffff)
		return (size_t)snprintf(out, ESC_SEQ_MAX + 1, "\\u%04x",
		    (unsigned)cp);
	return (size_t)snprintf(out, ESC_SEQ_MAX + 1, "\\U%08x", (unsigned)cp);
}

int
esc_needs_escape(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		i += esc_utf8_decode(s + i, n - i, &cp);
		if (esc_is_hidden(cp))
			return 1;
	}
	return 0;
}

/*
 * The shown form of the character at s[0..n): its bytes (*piece == s) or an
 * escape in seq.  Returns the character's length in s.
 */
static size_t
shown(const char *s, size_t n, char seq[ESC_SEQ_MAX + 1], const char **piece,
    size_t *plen, size_t *pcols)
{
	uint32_t cp;
	size_t k = esc_utf8_decode(s, n, &cp);

	if (esc_is_hidden(cp)) {
		*plen = escape_seq(seq, cp, (unsigned char)s[0]);
		*piece = seq;
		*pcols = *plen;
	} else {
		*piece = s;
		*plen = k;
		*pcols = (size_t)esc_cp_width(cp);
	}
	return k;
}

size_t
esc_width(const char *s, size_t n)
{
	char seq[ESC_SEQ_MAX + 1];
	const char *piece;
	size_t i = 0, cols = 0, plen, pcols;

	while (i < n) {
		i += shown(s + i, n - i, seq, &piece, &plen, &pcols);
		cols += pcols;
	}
	return cols;
}

/*
 * Whether the rest of s[i..n) fits in the remaining bytes and columns as it
 * is, so no mark has to be kept room for.
 */
static int
rest_fits(const char *s, size_t n, size_t room, size_t cols_room)
{
	char seq[ESC_SEQ_MAX + 1];
	const char *piece;
	size_t i = 0, used = 0, cols = 0, plen, pcols;

	while (i < n) {
		i += shown(s + i, n - i, seq, &piece, &plen, &pcols);
		used += plen;
		cols += pcols;
		if (used > room || cols > cols_room)
			return 0;
	}
	return 1;
}

size_t
esc_term(char *buf, size_t len, const char *s, size_t n, size_t max_cols,
    size_t *cols)
{
	char seq[ESC_SEQ_MAX + 1];
	const char *piece;
	size_t i = 0, o = 0, c = 0, plen, pcols, k;
	size_t room = len - 1, cols_room = max_cols ? max_cols : SIZE_MAX;
	int fits = 0;	/* the rest is known to fit: no room for a mark needed */

	while (i < n) {
		k = shown(s + i, n - i, seq, &piece, &plen, &pcols);
		if (o + plen > room || c + pcols > cols_room ||
		    (!fits && (o + plen + ESC_CUT_MARK_LEN > room ||
		    c + pcols + 1 > cols_room) && !(fits = rest_fits(s + i,
		    n - i, room - o, cols_room - c)))) {
			/* Cut here: leave room for the mark, one column. */
			if (o + ESC_CUT_MARK_LEN <= room && c + 1 <= cols_room) {
				memcpy(buf + o, ESC_CUT_MARK, ESC_CUT_MARK_LEN);
				o += ESC_CUT_MARK_LEN;
				c++;
			}
			break;
		}
		memcpy(buf + o, piece, plen);
		o += plen;
		c += pcols;
		i += k;
	}
	buf[o] = '\0';
	if (cols != NULL)
		*cols = c;
	return o;
}

size_t
esc_log(char *buf, size_t len, const char *s, size_t n)
{
	return esc_term(buf, len, s, n, 0, NULL);
}

size_t
esc_utf8(char *buf, size_t len, const char *s, size_t n, int mark)
{
	size_t i = 0, o = 0, k, plen, room = len - 1;
	uint32_t cp;
	int fits = 0;

	while (i < n) {
		const char *piece = s + i;

		k = esc_utf8_decode(s + i, n - i, &cp);
		plen = k;
		if (cp == ESC_INVALID) {
			piece = "\xef\xbf\xbd";		/* U+FFFD */
			plen = 3;
		}
		if (o + plen > room || (mark && !fits && o + plen +
		    ESC_CUT_MARK_LEN > room && !(fits = esc_utf8_fixed_len(s + i,
		    n - i) <= room - o))) {
			if (mark && o + ESC_CUT_MARK_LEN <= room) {
				memcpy(buf + o, ESC_CUT_MARK, ESC_CUT_MARK_LEN);
				o += ESC_CUT_MARK_LEN;
			}
			break;
		}
		memcpy(buf + o, piece, plen);
		o += plen;
		i += k;
	}
	buf[o] = '\0';
	return o;
}

size_t
esc_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	char stack[1024], *raw = stack;
	size_t out;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(stack, sizeof(stack), fmt, aq);
	va_end(aq);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	/* The whole text first, so the cut is ours and not vsnprintf's. */
	if ((size_t)n >= sizeof(stack)) {
		if ((raw = malloc((size_t)n + 1)) == NULL)
			return esc_utf8(buf, len, stack, esc_utf8_trim_partial(
			    stack, sizeof(stack) - 1), 1);
		vsnprintf(raw, (size_t)n + 1, fmt, ap);
	}
	out = esc_utf8(buf, len, raw, (size_t)n, 1);
	if (raw != stack)
		free(raw);
	return out;
}

size_t
esc_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = esc_vformat(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

/* --- e-mail headers and chat text ---------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of in[0..n) into out (4 * ((n + 2) / 3) bytes); returns that. */
static size_t
base64(char *out, const unsigned char *in, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 |
		    (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	return o;
}

/* Input bytes per encoded word: "=?UTF-8?B?" + 60 + "?=" is 72 <= 75. */
#define MAIL_WORD_IN	45

size_t
esc_mail_header(char *buf, size_t len, const char *s, size_t n)
{
	char *shown;
	size_t slen, o = 0, i = 0;
	int plain = 1;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if ((shown = malloc(n * ESC_SEQ_MAX + 4)) == NULL)
		return 0;
	slen = esc_log(shown, n * ESC_SEQ_MAX + 4, s, n);
	for (size_t k = 0; k < slen; k++)
		plain &= (unsigned char)shown[k] < 0x7f;
	/* "=?" would read as an encoded word: encode such text too, and text
	 * too long to fit (encoded words are cut whole, never a mark that is
	 * not ASCII). */
	if (plain && strstr(shown, "=?") == NULL && slen < len) {
		memcpy(buf, shown, slen + 1);
		free(shown);
		return slen;
	}
	while (i < slen) {
		size_t k = esc_utf8_prefix(shown + i, slen - i, MAIL_WORD_IN);
		size_t need = (i ? 3 : 0) + 12 + 4 * ((k + 2) / 3);

		if (k == 0 || o + need >= len)
			break;
		if (i) {
			memcpy(buf + o, "\r\n ", 3);
			o += 3;
		}
		memcpy(buf + o, "=?UTF-8?B?", 10);
		o += 10;
		o += base64(buf + o, (const unsigned char *)shown + i, k);
		memcpy(buf + o, "?=", 2);
		o += 2;
		i += k;
	}
	buf[o] = '\0';
	free(shown);
	return o;
}

/*
 * esc_log's text with some characters replaced by a sequence of their own
 * (entities, backslash escapes): walks the escaped text a character at a
 * time, so a cut never splits a character or a replacement.
 */
static size_t
esc_replaced(char *buf, size_t len, const char *s, size_t n,
    const char *(*replace)(uint32_t))
{
	char *shown;
	size_t slen, o = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if ((shown = malloc(n * ESC_SEQ_MAX + 4)) == NULL)
		return 0;
	slen = esc_log(shown, n * ESC_SEQ_MAX + 4, s, n);
	for (size_t k = 0; k < slen;) {
		uint32_t cp;
		size_t cl = esc_utf8_decode(shown + k, slen - k, &cp);
		const char *rep = replace(cp);
		const char *piece = rep ? rep : shown + k;
		size_t plen = rep ? strlen(rep) : cl;

		if (o + plen + 1 > len)
			break;
		memcpy(buf + o, piece, plen);
		o += plen;
		k += cl;
	}
	buf[o] = '\0';
	free(shown);
	return o;
}

static const char *
slack_entity(uint32_t cp)
{
	return cp == '&' ? "&amp;" : cp == '<' ? "&lt;" : cp == '>' ? "&gt;" :
	    NULL;
}

size_t
esc_slack(char *buf, size_t len, const char *s, size_t n)
{
	return esc_replaced(buf, len, s, n, slack_entity);
}

static const char *
prom_escape(uint32_t cp)
{
	/* esc_log left no newline; the format's other two specials. */
	return cp == '\\' ? "\\\\" : cp == '"' ? "\\\"" : NULL;
}

size_t
esc_prom_label(char *buf, size_t len, const char *s, size_t n)
{
	return esc_replaced(buf, len, s, n, prom_escape);
}

static const char *
csv_escape(uint32_t cp)
{
	return cp == '"' ? "\"\"" : NULL;
}

size_t
esc_csv(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0, body;

	if (len < 4) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	/* Always quoted (RFC 4180), quotes doubled; a leading = + - @ or a
	 * tab or CR would be run as a formula by a spreadsheet: a ' first. */
	buf[o++] = '"';
	if (n > 0 && strchr("=+-@\t\r", s[0]) != NULL)
		buf[o++] = '\'';
	body = esc_replaced(buf + o, len - o - 1, s, n, csv_escape);
	o += body;
	buf[o++] = '"';
	buf[o] = '\0';
	return o;
}
