/*
 * Unit tests for the settings table and config file parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static char path[] = "/tmp/cf-test-config-XXXXXX";

static void
write_file(const char *text)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int
load(const char *text, char *err, size_t errlen, struct config **out)
{
	struct config *cfg = config_new();
	int rc;

	strcpy(path, "/tmp/cf-test-config-XXXXXX");
	write_file(text);
	rc = config_load_file(cfg, path, err, errlen);
	unlink(path);
	if (out)
		*out = cfg;
	else
		config_free(cfg);
	return rc;
}

static void
test_defaults(void **state)
{
	struct config *cfg = config_new();

	assert_non_null(cfg->state_dir);
	assert_non_null(cfg->socket_path);
	assert_int_equal(cfg->log_level, LOG_LVL_INFO);
	assert_int_equal(cfg->commit_interval_ms, 5);
	assert_int_equal(cfg->syslog, 0);
	config_free(cfg);
}

static void
test_file_ok(void **state)
{
	struct config *cfg;
	char err[256];

	assert_int_equal(load("# comment\nstate-dir = /tmp/x\nlog-level = debug\n"
	    "syslog = yes\ncommit-interval-ms = 20\n", err, sizeof(err), &cfg), 0);
	assert_string_equal(cfg->state_dir, "/tmp/x");
	assert_int_equal(cfg->log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg->syslog, 1);
	assert_int_equal(cfg->commit_interval_ms, 20);
	config_free(cfg);
}

static void
test_file_errors_name_the_line(void **state)
{
	char err[256];

	assert_int_equal(load("log-level = info\n\nlog-level = debug\n", err,
	    sizeof(err), NULL), -1);
	assert_non_null(strstr(err, ":3: 'log-level' is set twice"));
	assert_int_equal(load("bogus = 1\n", err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, ":1: unknown setting 'bogus'"));
	assert_int_equal(load("commit-interval-ms = 0\n", err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, ":1: commit-interval-ms: '0' is not an integer in 1..1000"));
	assert_int_equal(load("syslog = maybe\n", err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "is not yes or no"));
	assert_int_equal(load("[main]\nsyslog = yes\n", err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "sections are not used"));
	assert_int_equal(load("log-level = loud\n", err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "not one of"));
}

static void
test_missing_file(void **state)
{
	struct config *cfg = config_new();
	char err[256];

	assert_int_equal(config_load_file(cfg, "/nonexistent/cf.conf", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/cf.conf: No such file"));
	config_free(cfg);
}

static void
test_set_and_differs(void **state)
{
	struct config *a = config_new(), *b = config_new();
	char err[256];

	assert_int_equal(config_set(a, "socket", "/tmp/s", err, sizeof(err)), 0);
	assert_true(config_differs(a, b, "socket"));
	assert_false(config_differs(a, b, "log-level"));
	assert_int_equal(config_set(a, "nope", "1", err, sizeof(err)), -1);
	assert_int_equal(config_set(a, "max-clients", "100001", err, sizeof(err)), -1);
	assert_true(config_reloadable("log-level"));
	assert_false(config_reloadable("state-dir"));
	config_free(a);
	config_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_ok),
		cmocka_unit_test(test_file_errors_name_the_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_set_and_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
