/*
 * Text that came from a stranger (a certificate's names, a peer's error, a
 * stored message) turned into the safe form of each output.  One layer,
 * shared by the daemon, the client, the tests and the fuzzers: every table,
 * log line and wire string goes through it.  Pure functions; no I/O.
 *
 * The escapes, the same in every output meant for people:
 *   \xNN        a C0 or C1 control or DEL (U+0000-U+001F, U+007F-U+009F),
 *               or a byte that is not part of valid UTF-8 (so U+009B and a
 *               raw 0x9b byte look alike, as a Latin-1 reader would see it)
 *   \uNNNN      another character that must not reach a screen as itself:
 *               bidi controls (U+061C, U+200E/F, U+202A-U+202E,
 *               U+2066-U+2069), other invisible format characters (U+00AD,
 *               U+200B, U+2060, U+FEFF, ...), U+2028/U+2029, noncharacters
 *               and code points the C library cannot print
 *   \UNNNNNNNN  the same above U+FFFF
 * A backslash is left as it is.  Every function writes a NUL-terminated
 * string into a caller's buffer of len >= 1 bytes and never splits a
 * character; a cut is marked with ESC_CUT_MARK.
 */
#ifndef CERTFLEET_ESCAPE_H
#define CERTFLEET_ESCAPE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* U+2026, one column wide. */
#define ESC_CUT_MARK		"\xe2\x80\xa6"
#define ESC_CUT_MARK_LEN	3
/* Code point returned for a byte that does not start a valid sequence. */
#define ESC_INVALID		0xffffffffu

/*
 * Decodes one UTF-8 character from s[0..n), n >= 1, strictly (no overlong
 * forms, surrogates or values past U+10FFFF).  Returns its length in bytes;
 * *cp is the code point, or ESC_INVALID with length 1.
 */
size_t	 esc_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* 1 when s[0..n) is strict UTF-8. */
int	 esc_utf8_valid(const char *s, size_t n);
/* Bytes of the longest prefix of s[0..n) within max bytes that ends on a
 * character boundary (an invalid byte counts as a character). */
size_t	 esc_utf8_prefix(const char *s, size_t n, size_t max);
/* n less a last character that a cut (snprintf's) left incomplete. */
size_t	 esc_utf8_trim_partial(const char *s, size_t n);
/* Bytes s[0..n) takes once every invalid byte is U+FFFD (3 bytes). */
size_t	 esc_utf8_fixed_len(const char *s, size_t n);

/* 1 when cp is shown escaped (the list above), 0 when as itself. */
int	 esc_is_hidden(uint32_t cp);
/* Terminal columns of a shown (not hidden) code point: 0, 1 or 2. */
int	 esc_cp_width(uint32_t cp);
/* 1 when s[0..n) holds a byte or character that esc_term would escape. */
int	 esc_needs_escape(const char *s, size_t n);
/* Terminal columns of s[0..n) as esc_term would show it. */
size_t	 esc_width(const char *s, size_t n);

/*
 * For a terminal: s[0..n) with every hidden character and invalid byte
 * escaped, in at most max_cols columns (0: no limit) and len - 1 bytes; a
 * cut ends with ESC_CUT_MARK.  Returns the bytes written; *cols (if not
 * NULL) gets the columns.
 */
size_t	 esc_term(char *buf, size_t len, const char *s, size_t n,
	    size_t max_cols, size_t *cols);

/* For a log line: as esc_term without a column limit, so never a line
 * break; one log call stays one line. */
size_t	 esc_log(char *buf, size_t len, const char *s, size_t n);

/*
 * For a JSON or msgpack string: s[0..n) as valid UTF-8, each invalid byte
 * replaced by U+FFFD, cut on a character boundary to fit (with
 * ESC_CUT_MARK when mark is set).  Nothing else is changed: the encoder
 * escapes what its format needs.  Returns the bytes written.
 */
size_t	 esc_utf8(char *buf, size_t len, const char *s, size_t n, int mark);

/*
 * For an e-mail header field's value (RFC 5322/2047): escaped as esc_log
 * (so never a CR or LF that could start a header of its own), then, when
 * anything but printable ASCII remains, as UTF-8 "B" encoded-words of at
 * most 75 characters folded with CRLF SP, each word whole characters.
 * Returns the bytes written; a value that does not fit is cut on a word.
 */
size_t	 esc_mail_header(char *buf, size_t len, const char *s, size_t n);

/*
 * For Slack-style message text (Slack, Mattermost): as esc_log, then '&',
 * '<' and '>' as entities, so a name cannot ping @channel or forge a link.
 */
size_t	 esc_slack(char *buf, size_t len, const char *s, size_t n);

/*
 * For a Prometheus or OpenMetrics label value: as esc_log (no newline, no
 * control or bidi character), then '\\' and '"' backslash-escaped, so a
 * name like `"} 1\nfake 1` stays inside its quotes.
 */
size_t	 esc_prom_label(char *buf, size_t len, const char *s, size_t n);

/*
 * For a CSV cell (RFC 4180): as esc_log (no line break, no control or bidi
 * character), quotes doubled, the whole cell quoted; a cell starting with
 * = + - @, a tab or CR gets a ' first, so no spreadsheet runs it as a
 * formula.  Returns the bytes written (a cut never splits an escape).
 */
size_t	 esc_csv(char *buf, size_t len, const char *s, size_t n);

/*
 * snprintf for a stored message (an event, an error): the result is valid
 * UTF-8 and, when it does not fit, cut on a character boundary and marked
 * with ESC_CUT_MARK.  Returns the bytes written.
 */
size_t	 esc_format(char *buf, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
size_t	 esc_vformat(char *buf, size_t len, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));

#endif
