/*
 * Logging: one line per call, "LEVEL: message", to stderr (journald adds the
 * time under systemd) and optionally to syslog.  Messages carry names from
 * certificates and peers' errors, so each is escaped (esc_log) here, once:
 * no caller can forge a line or send a control sequence to a terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "certfleet/escape.h"
#include "log.h"

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

static int log_level = LOG_LVL_INFO;
static int log_syslog;
static const char *log_ident = "certfleetd";

void
log_init(const char *ident)
{
	log_ident = ident;
}

void
log_configure(int level, int use_syslog)
{
	log_level = level;
	if (use_syslog && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

void
log_msg(int level, const char *fmt, ...)
{
	char raw[2048], line[4096], stamp[32];
	va_list ap;
	time_t now;
	struct tm tm;
	int n;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* A message longer than raw was cut by vsnprintf: mark it. */
	esc_log(line, sizeof(line), raw, (size_t)n < sizeof(raw) ? (size_t)n :
	    esc_utf8_trim_partial(raw, sizeof(raw) - 1));
	if ((size_t)n >= sizeof(raw))
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s",
		    ESC_CUT_MARK);
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s[%d]: %s: %s\n", stamp, log_ident, (int)getpid(),
	    level_names[level], line);
	if (log_syslog)
		syslog(syslog_prio[level], "%s", line);
}
