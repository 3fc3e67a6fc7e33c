/*
 * Unit tests for the escaping layer (lib/escape.c): each output's form of
 * hostile text, cuts on character boundaries, widths in columns, and the
 * wire's UTF-8 promise (wire_pack_strn).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certfleet/escape.h"
#include "certfleet/wire.h"

static const char *
term(const char *s, size_t max_cols, size_t len)
{
	static char buf[4096];

	esc_term(buf, len, s, strlen(s), max_cols, NULL);
	return buf;
}

static void
test_decode(void **state)
{
	static const struct { const char *s; size_t len; uint32_t cp; } v[] = {
		{ "A", 1, 'A' },
		{ "\xc3\xa9", 2, 0xe9 },
		{ "\xe4\xb8\xad", 3, 0x4e2d },
		{ "\xf0\x9f\x98\x80", 4, 0x1f600 },
		{ "\xc0\x80", 1, ESC_INVALID },		/* overlong NUL */
		{ "\xe0\x80\xaf", 1, ESC_INVALID },	/* overlong '/' */
		{ "\xed\xa0\x80", 1, ESC_INVALID },	/* surrogate */
		{ "\xf4\x90\x80\x80", 1, ESC_INVALID },	/* past U+10FFFF */
		{ "\xe4\xb8", 1, ESC_INVALID },		/* cut short */
		{ "\x80", 1, ESC_INVALID },
		{ "\xff", 1, ESC_INVALID },
	};
	uint32_t cp;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(esc_utf8_decode(v[i].s, strlen(v[i].s), &cp),
		    v[i].len);
		assert_int_equal(cp, v[i].cp);
	}
	assert_true(esc_utf8_valid("caf\xc3\xa9", 5));
	assert_false(esc_utf8_valid("caf\xc3", 4));
	assert_int_equal(esc_utf8_fixed_len("a\xff" "b", 3), 5);
}

static void
test_term_escapes(void **state)
{
	(void)state;
	assert_string_equal(term("a\x1b[31mb", 0, 4096), "a\\x1b[31mb");
	assert_string_equal(term("one\ntwo\r\t\x7f", 0, 4096),
	    "one\\x0atwo\\x0d\\x09\\x7f");
	/* C1 as a code point (OpenSSL's Latin-1 reading of 0x9b) and as a
	 * raw byte look the same. */
	assert_string_equal(term("x\xc2\x9by", 0, 4096), "x\\x9by");
	assert_string_equal(term("x\x9by", 0, 4096), "x\\x9by");
	assert_string_equal(term("\xe2\x80\xae" "cba", 0, 4096), "\\u202ecba");
	assert_string_equal(term("\xd8\x9c\xe2\x81\xa6\xe2\x80\x8f", 0, 4096),
	    "\\u061c\\u2066\\u200f");
	assert_string_equal(term("a\xe2\x80\x8b" "b\xef\xbb\xbf\xc2\xad", 0,
	    4096), "a\\u200bb\\ufeff\\u00ad");
	assert_string_equal(term("\xe2\x80\xa8", 0, 4096), "\\u2028");
	assert_string_equal(term("tag\xf3\xa0\x81\x81", 0, 4096),
	    "tag\\U000e0041");
	assert_string_equal(term("\xef\xbf\xbe", 0, 4096), "\\ufffe");
	/* Printable text, accents and wide characters are shown as they are. */
	assert_string_equal(term("B\xc3\xbcro \xe4\xb8\xad", 0, 4096),
	    "B\xc3\xbcro \xe4\xb8\xad");
	assert_string_equal(term("a\\x1b", 0, 4096), "a\\x1b");
	assert_string_equal(term("", 0, 4096), "");
}

static void
test_term_cuts(void **state)
{
	size_t cols;
	char buf[64];

	(void)state;
	assert_string_equal(term("abcdefgh", 5, 4096), "abcd\xe2\x80\xa6");
	assert_string_equal(term("abcde", 5, 4096), "abcde");
	/* An escape is never split: it goes whole or not at all. */
	assert_string_equal(term("ab\x1b", 4, 4096), "ab\xe2\x80\xa6");
	/* Wide characters: 2 columns each. */
	esc_term(buf, sizeof(buf), "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 9,
	    5, &cols);
	assert_string_equal(buf, "\xe4\xb8\xad\xe4\xb8\xad\xe2\x80\xa6");
	assert_int_equal(cols, 5);
	/* The byte limit cuts on a character too, and marks it. */
	assert_string_equal(term("\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 0, 9),
	    "\xe4\xb8\xad\xe2\x80\xa6");
	assert_string_equal(term("\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 0, 10),
	    "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad");
	/* Too small for the mark: empty, never a broken character. */
	assert_string_equal(term("\xe4\xb8\xad\xe4\xb8\xad", 0, 3), "");
	assert_int_equal(esc_width("\xe4\xb8\xad" "a\xcc\x81", 6), 3);
	assert_int_equal(esc_width("\x1b", 1), 4);
}

static void
test_log_one_line(void **state)
{
	char buf[256];
	const char *in = "imported CN=x\nforged: line\r\x1b]0;t\x07";

	(void)state;
	esc_log(buf, sizeof(buf), in, strlen(in));
	assert_string_equal(buf, "imported CN=x\\x0aforged: line\\x0d\\x1b]0;t"
	    "\\x07");
	assert_null(strchr(buf, '\n'));
}

static void
test_utf8(void **state)
{
	char buf[16];

	(void)state;
	esc_utf8(buf, sizeof(buf), "a\xff" "b\xc3", 4, 0);
	assert_string_equal(buf, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	/* 15 bytes of room: five 3-byte characters fit, six do not. */
	esc_utf8(buf, sizeof(buf), "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad"
	    "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 18, 0);
	assert_int_equal(strlen(buf), 15);
	assert_true(esc_utf8_valid(buf, strlen(buf)));
	esc_utf8(buf, sizeof(buf), "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad"
	    "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 18, 1);
	assert_string_equal(buf, "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad"
	    "\xe4\xb8\xad\xe2\x80\xa6");
	assert_int_equal(esc_utf8_trim_partial("ab\xe4\xb8", 4), 2);
	assert_int_equal(esc_utf8_trim_partial("ab\xe4\xb8\xad", 5), 5);
	assert_int_equal(esc_utf8_trim_partial("ab\xf0", 3), 2);
	assert_int_equal(esc_utf8_trim_partial("abc", 3), 3);
}

static void
test_format(void **state)
{
	char name[3000], buf[100];
	size_t n;

	(void)state;
	/* 1,000 three-byte characters: the message is cut on a character
	 * and marked, never mid-sequence (the fixed-buffer bug). */
	for (size_t i = 0; i < 1000; i++)
		memcpy(name + i * 3, "\xe4\xb8\xad", 3);
	name[2999] = '\0';
	name[2998] = '\0';
	name[2997] = '\0';
	n = esc_format(buf, sizeof(buf), "certificate 1 (x%s) imported", name);
	assert_true(n < sizeof(buf));
	assert_true(esc_utf8_valid(buf, n));
	assert_memory_equal(buf + n - 3, ESC_CUT_MARK, 3);
	n = esc_format(buf, sizeof(buf), "item %d: %s", 7, "ok");
	assert_string_equal(buf, "item 7: ok");
	assert_int_equal(n, 10);
}

static void
test_wire_pack_strn(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_strn(&pk, "ok\xff\xc3\xa9\xe4\xb8", 7);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(u.data.type, MSGPACK_OBJECT_STR);
	assert_int_equal(u.data.via.str.size, 2 + 3 + 2 + 3 + 3);
	assert_memory_equal(u.data.via.str.ptr,
	    "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd", 13);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

static void
test_mail_header(void **state)
{
	char buf[512];

	(void)state;
	esc_mail_header(buf, sizeof(buf), "[certfleet] a.example expires", 29);
	assert_string_equal(buf, "[certfleet] a.example expires");
	/* A CR LF cannot start a header of its own. */
	esc_mail_header(buf, sizeof(buf), "x\r\nBcc: victim@example", 22);
	assert_null(strchr(buf, '\r'));
	assert_null(strchr(buf, '\n'));
	assert_string_equal(buf, "x\\x0d\\x0aBcc: victim@example");
	/* Non-ASCII: UTF-8 "B" encoded words, whole characters each. */
	esc_mail_header(buf, sizeof(buf), "B\xc3\xbcro", 5);
	assert_string_equal(buf, "=?UTF-8?B?QsO8cm8=?=");
	/* Text that reads as an encoded word is encoded too. */
	esc_mail_header(buf, sizeof(buf), "=?UTF-8?B?QQ==?=", 16);
	assert_memory_equal(buf, "=?UTF-8?B?", 10);
	assert_string_not_equal(buf, "=?UTF-8?B?QQ==?=");
}

static void
test_slack(void **state)
{
	char buf[128];

	(void)state;
	esc_slack(buf, sizeof(buf), "<!channel> a&b <http://x|y>", 27);
	assert_string_equal(buf, "&lt;!channel&gt; a&amp;b &lt;http://x|y&gt;");
	/* Never half an entity. */
	esc_slack(buf, 7, "a<b", 3);
	assert_string_equal(buf, "a&lt;b");
	esc_slack(buf, 6, "a<b", 3);
	assert_string_equal(buf, "a&lt;");
	esc_slack(buf, 5, "a<b", 3);
	assert_string_equal(buf, "a");
}

static void
test_prom_label(void **state)
{
	char buf[128];
	const char evil[] = "a\"} 1\nfake_metric 1\\";

	(void)state;
	esc_prom_label(buf, sizeof(buf), evil, sizeof(evil) - 1);
	/* The quote and the backslash escaped, the newline shown as text. */
	assert_string_equal(buf, "a\\\"} 1\\\\x0afake_metric 1\\\\");
	esc_prom_label(buf, sizeof(buf), "\xe2\x80\xae", 3);
	assert_string_equal(buf, "\\\\u202e");
	/* Never half an escape. */
	esc_prom_label(buf, 3, "a\"", 2);
	assert_string_equal(buf, "a");
}

static void
test_csv(void **state)
{
	char buf[128];

	(void)state;
	esc_csv(buf, sizeof(buf), "plain", 5);
	assert_string_equal(buf, "\"plain\"");
	esc_csv(buf, sizeof(buf), "=cmd|' /C calc'!A0", 18);
	assert_string_equal(buf, "\"'=cmd|' /C calc'!A0\"");
	esc_csv(buf, sizeof(buf), "a\"b\nc", 5);
	assert_string_equal(buf, "\"a\"\"b\\x0ac\"");
	esc_csv(buf, sizeof(buf), "-1", 2);
	assert_string_equal(buf, "\"'-1\"");
	/* Never half a doubled quote. */
	esc_csv(buf, 5, "a\"b", 3);
	assert_string_equal(buf, "\"a\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_term_escapes),
		cmocka_unit_test(test_term_cuts),
		cmocka_unit_test(test_log_one_line),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_wire_pack_strn),
		cmocka_unit_test(test_mail_header),
		cmocka_unit_test(test_slack),
		cmocka_unit_test(test_prom_label),
		cmocka_unit_test(test_csv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
