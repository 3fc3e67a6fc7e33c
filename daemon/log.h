/*
 * One logging call for the whole daemon: stderr always, syslog when asked.
 * Callers never pass key material or secrets; tests grep the logs for them.
 */
#ifndef CERTFLEET_LOG_H
#define CERTFLEET_LOG_H

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void	 log_init(const char *ident);
void	 log_configure(int level, int use_syslog);
int	 log_level_parse(const char *name);	/* -1 when unknown */
const char *log_level_name(int level);
void	 log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
