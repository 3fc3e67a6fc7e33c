/*
 * Fuzzes the escaping layer, one function per build (FUZZ_ESC_TERM,
 * FUZZ_ESC_LOG, FUZZ_ESC_UTF8), with each output's promises as assertions.
 * The first two input bytes choose the buffer size and column limit, so
 * cuts land everywhere.
 *   term, log: valid UTF-8; no C0 byte (so no line break), no DEL, no C1,
 *     no bidi or other hidden character; within the buffer and columns;
 *     escaping the output again changes nothing (no cut); an uncut output
 *     shows every input character.
 *   utf8: valid UTF-8 within the buffer; valid input that fits comes out
 *     unchanged; a cut output is a prefix of the fixed input.
 *   mail (FUZZ_ESC_MAIL): printable ASCII only, CR LF only as the fold
 *     "\r\n " between encoded words, so no header can be injected; and
 *     Slack text: no '<' or '>' at all, '&' only as an entity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certfleet/escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)	do { if (!(x)) __builtin_trap(); } while (0)

#if defined(FUZZ_ESC_TERM) || defined(FUZZ_ESC_LOG) || defined(FUZZ_ESC_MAIL)
static void
check_shown(const char *out, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	CHECK(strlen(out) == n);
	CHECK(esc_utf8_valid(out, n));
	while (i < n) {
		k = esc_utf8_decode(out + i, n - i, &cp);
		CHECK(!esc_is_hidden(cp));
		CHECK(cp >= 0x20 && cp != 0x7f);
		i += k;
	}
}

#endif

#if defined(FUZZ_ESC_TERM) || defined(FUZZ_ESC_LOG)
static void
fuzz_shown(const char *in, size_t n, size_t len, size_t max_cols)
{
	char *out = malloc(len), *again;
	size_t o, cols, o2;

#ifdef FUZZ_ESC_TERM
	o = esc_term(out, len, in, n, max_cols, &cols);
	if (max_cols)
		CHECK(cols <= max_cols);
	CHECK(cols == esc_width(out, o));
#else
	(void)max_cols;
	(void)cols;
	o = esc_log(out, len, in, n);
#endif
	CHECK(o < len);
	check_shown(out, o);
	/* Escaping is idempotent: nothing shown needs escaping again. */
	CHECK(!esc_needs_escape(out, o));
	again = malloc(o + 1);
	o2 = esc_log(again, o + 1, out, o);
	CHECK(o2 == o && memcmp(again, out, o) == 0);
	free(again);
	/* An input with nothing to escape that fits is shown as it is. */
	if (!esc_needs_escape(in, n) && n < len &&
	    (max_cols == 0 || esc_width(in, n) <= max_cols))
		CHECK(o == n && memcmp(out, in, n) == 0);
	free(out);
}
#endif

#ifdef FUZZ_ESC_UTF8
static void
fuzz_utf8(const char *in, size_t n, size_t len, int mark)
{
	char *out = malloc(len), *fixed;
	size_t o, flen = esc_utf8_fixed_len(in, n);

	o = esc_utf8(out, len, in, n, mark);
	CHECK(o < len && out[o] == '\0');
	CHECK(esc_utf8_valid(out, o));
	if (esc_utf8_valid(in, n) && n < len)
		CHECK(o == n && memcmp(out, in, n) == 0);
	fixed = malloc(flen + 1);
	CHECK(esc_utf8(fixed, flen + 1, in, n, 0) == flen);
	if (flen < len)
		CHECK(o == flen && memcmp(out, fixed, o) == 0);
	else if (mark && o >= ESC_CUT_MARK_LEN &&
	    memcmp(out + o - ESC_CUT_MARK_LEN, ESC_CUT_MARK,
	    ESC_CUT_MARK_LEN) == 0)
		CHECK(memcmp(out, fixed, o - ESC_CUT_MARK_LEN) == 0);
	else
		CHECK(memcmp(out, fixed, o) == 0);
	free(fixed);
	free(out);
}
#endif

#ifdef FUZZ_ESC_MAIL
static void
check_text(const char *out, size_t n)
{
	check_shown(out, n);
}

static void
fuzz_mail(const char *in, size_t n, size_t len)
{
	char *out = malloc(len);
	size_t o = esc_mail_header(out, len, in, n);

	CHECK(o < len && strlen(out) == o);
	for (size_t i = 0; i < o; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '\r') {
			CHECK(i + 2 < o && out[i + 1] == '\n' && out[i + 2] == ' ');
			i += 2;
			continue;
		}
		CHECK(c >= 0x20 && c < 0x7f);
	}
	o = esc_slack(out, len, in, n);
	CHECK(o < len && strlen(out) == o);
	check_text(out, o);
	for (size_t i = 0; i < o; i++) {
		CHECK(out[i] != '<' && out[i] != '>');
		if (out[i] == '&')
			CHECK(strncmp(out + i, "&amp;", 5) == 0 ||
			    strncmp(out + i, "&lt;", 4) == 0 ||
			    strncmp(out + i, "&gt;", 4) == 0);
	}
	/* A Prometheus label value: a quote or newline never ends it early. */
	o = esc_prom_label(out, len, in, n);
	CHECK(o < len && strlen(out) == o);
	check_text(out, o);
	for (size_t i = 0; i < o; i++) {
		if (out[i] == '\\') {
			CHECK(i + 1 < o && (out[i + 1] == '\\' || out[i + 1] == '"'));
			i++;
			continue;
		}
		CHECK(out[i] != '"' && out[i] != '\n');
	}
	/* A CSV cell: quoted, quotes doubled, never a formula's first char. */
	o = esc_csv(out, len, in, n);
	CHECK(o < len && strlen(out) == o);
	if (o > 0) {
		CHECK(o >= 2 && out[0] == '"' && out[o - 1] == '"');
		CHECK(strchr("=+-@\t\r", out[1]) == NULL || o == 2);
		for (size_t i = 1; i + 1 < o; i++) {
			CHECK(out[i] != '\r' && out[i] != '\n');
			if (out[i] == '"') {
				CHECK(i + 2 < o && out[i + 1] == '"');
				i++;
			}
		}
	}
	free(out);
}
#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, max_cols;

	if (size < 2)
		return 0;
	len = 1 + data[0] * 4u;		/* 1..1021 bytes */
	max_cols = data[1] & 0x7f;	/* 0 (none)..127 columns */
	data += 2;
	size -= 2;
#if defined(FUZZ_ESC_TERM) || defined(FUZZ_ESC_LOG)
	fuzz_shown((const char *)data, size, len, max_cols);
#elif defined(FUZZ_ESC_MAIL)
	(void)max_cols;
	fuzz_mail((const char *)data, size, len);
#else
	fuzz_utf8((const char *)data, size, len, max_cols & 1);
#endif
	return 0;
}
