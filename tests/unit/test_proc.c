/*
 * Unit tests for the child process runner (daemon/proc.c) on a real
 * event_base with real /bin/sh children: exit codes and signals, stdin fed
 * and refused, output kept and cut, timeouts that take the whole process
 * group, a hostile environment value, inherited descriptors, many children,
 * cancellation and shutdown, and calls made from inside a done callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <event2/event.h>

#include "proc.h"

/* Short waits, so the whole file runs in a few seconds. */
#define TEST_GRACE_MS		200
#define TEST_DRAIN_MS		200
#define TEST_TIMEOUT_MS		300
/* A test that waits longer than this has hung. */
#define TEST_GUARD_MS		10000

struct fixture {
	struct event_base	*base;
	struct proc_runner	*pr;
};

struct outcome {
	int		 called;
	enum proc_how	 how;
	int		 code;
	pid_t		 pid;
	char		*output;
	size_t		 output_len;
	int		 truncated;
	int64_t		 elapsed_ms;
	char		 error[256];
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	f->pr = proc_runner_new(f->base, err, sizeof(err));
	assert_non_null(f->pr);
	proc_runner_tune(f->pr, TEST_GRACE_MS, TEST_DRAIN_MS, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	proc_runner_free(f->pr);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
record_cb(const struct proc_result *res, void *arg)
{
	struct outcome *o = arg;

	o->called++;
	o->how = res->how;
	o->code = res->code;
	o->pid = res->pid;
	o->truncated = res->output_truncated;
	o->elapsed_ms = res->elapsed_ms;
	snprintf(o->error, sizeof(o->error), "%s", res->error);
	/* The result's memory is the runner's: keep a copy. */
	free(o->output);
	assert_non_null(o->output = malloc(res->output_len + 1));
	memcpy(o->output, res->output, res->output_len + 1);
	o->output_len = res->output_len;
}

static void
outcome_clear(struct outcome *o)
{
	free(o->output);
	memset(o, 0, sizeof(*o));
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* Runs the loop until cond(arg) holds or ms pass; returns cond's value. */
static int
run_until(struct fixture *f, int (*cond)(void *), void *arg, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *guard;
	int expired = 0;

	assert_non_null(guard = evtimer_new(f->base, guard_cb, &expired));
	evtimer_add(guard, &tv);
	while ((cond == NULL || !cond(arg)) && !expired)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(guard);
	return cond != NULL && cond(arg);
}

static int
is_called(void *arg)
{
	return ((struct outcome *)arg)->called > 0;
}

static int
none_running(void *arg)
{
	return proc_running(arg) == 0;
}

static void
run_one(struct fixture *f, const struct proc_spec *spec, struct outcome *o)
{
	char err[256];

	memset(o, 0, sizeof(*o));
	if (proc_start(f->pr, spec, record_cb, o, err, sizeof(err)) == NULL)
		fail_msg("proc_start: %s", err);
	assert_true(run_until(f, is_called, o, TEST_GUARD_MS));
	assert_int_equal(o->called, 1);
	assert_int_equal(proc_running(f->pr), 0);
}

static int
group_gone(pid_t pgid)
{
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

/* SIGKILL is delivered, and orphans reaped, a moment after it is sent. */
static int
group_gone_within(pid_t pgid, int ms)
{
	int64_t until = mono_ms() + ms;

	while (!group_gone(pgid)) {
		if (mono_ms() > until)
			return 0;
		usleep(5000);
	}
	return 1;
}

static void
test_exit_zero_output(void **state)
{
	struct proc_spec spec = { .command = "echo out; echo err >&2" };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "out\nerr\n");
	assert_int_equal(o.output_len, 8);
	assert_false(o.truncated);
	assert_string_equal(o.error, "");
	assert_true(o.pid > 0);
	assert_true(o.elapsed_ms >= 0 && o.elapsed_ms < TEST_GUARD_MS);
	outcome_clear(&o);
}

static void
test_exit_status(void **state)
{
	struct proc_spec spec = { .command = "echo failing; exit 1" };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 1);
	assert_string_equal(o.output, "failing\n");
	assert_string_equal(o.error, "exited with status 1");
	outcome_clear(&o);
}

static void
test_killed_by_signal(void **state)
{
	struct proc_spec spec = { .command = "kill -9 $$" };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_SIGNALED);
	assert_int_equal(o.code, SIGKILL);
	assert_string_equal(o.error, "killed by signal 9 (SIGKILL)");
	outcome_clear(&o);
}

/* The shell always starts; a command it cannot find is status 127. */
static void
test_not_found(void **state)
{
	struct proc_spec spec = { .command = "certfleet-no-such-command-x" };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 127);
	assert_string_equal(o.error,
	    "exited with status 127 (command not found)");
	assert_non_null(strstr(o.output, "not found"));
	outcome_clear(&o);
}

static void
test_stdin_echoed(void **state)
{
	static const char in[] = "line one\nline two\n";
	struct proc_spec spec = { .command = "cat", .input = in,
	    .input_len = sizeof(in) - 1 };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, in);
	outcome_clear(&o);
}

static char *
pattern(size_t len)
{
	char *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(i * 7 % 251);
	return b;
}

/* 1 MiB in and out at once: neither side may wait on the other. */
static void
test_stdin_large(void **state)
{
	size_t len = 1024 * 1024;
	char *in = pattern(len);
	struct proc_spec spec = { .command = "cat", .input = in,
	    .input_len = len, .output_max = 2 * len };
	struct proc_spec count = { .command = "cat >/dev/null; echo done",
	    .input = in, .input_len = len };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.code, 0);
	assert_int_equal(o.output_len, len);
	assert_false(o.truncated);
	assert_memory_equal(o.output, in, len);
	outcome_clear(&o);

	run_one(*state, &count, &o);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "done\n");
	outcome_clear(&o);
	free(in);
}

/* A child that never reads: EPIPE, not SIGPIPE, and no wait. */
static void
test_stdin_unread(void **state)
{
	size_t len = 1024 * 1024;
	char *in = pattern(len);
	struct proc_spec quits = { .command = "exit 3", .input = in,
	    .input_len = len };
	struct proc_spec closes = { .command = "exec 0<&-; sleep 0.1; echo ok",
	    .input = in, .input_len = len };
	struct outcome o;

	run_one(*state, &quits, &o);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 3);
	outcome_clear(&o);

	run_one(*state, &closes, &o);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "ok\n");
	outcome_clear(&o);
	free(in);
}

static void
test_output_limit(void **state)
{
	struct proc_spec exact = { .command = "printf 12345", .output_max = 5 };
	struct proc_spec over = { .command = "printf 12345", .output_max = 4 };
	struct outcome o;

	run_one(*state, &exact, &o);
	assert_string_equal(o.output, "12345");
	assert_false(o.truncated);
	outcome_clear(&o);

	run_one(*state, &over, &o);
	assert_string_equal(o.output, "1234");
	assert_int_equal(o.output_len, 4);
	assert_true(o.truncated);
	outcome_clear(&o);
}

/* 10 MB past a 1000-byte limit: read and dropped, so yes|head finishes. */
static void
test_output_flood(void **state)
{
	struct proc_spec spec = { .command = "yes | head -c 10000000",
	    .output_max = 1000 };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 0);
	assert_int_equal(o.output_len, 1000);
	assert_true(o.truncated);
	for (size_t i = 0; i < o.output_len; i++)
		assert_int_equal(o.output[i], i % 2 ? '\n' : 'y');
	outcome_clear(&o);
}

static void
test_timeout_group(void **state)
{
	struct proc_spec spec = { .command = "sleep 30 & sleep 30; wait",
	    .timeout_ms = TEST_TIMEOUT_MS };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_int_equal(o.how, PROC_TIMED_OUT);
	assert_int_equal(o.code, SIGTERM);
	assert_string_equal(o.error, "timed out after 300 ms (terminated)");
	assert_true(o.elapsed_ms >= TEST_TIMEOUT_MS);
	/* Both sleeps were in its group: none may outlive the result. */
	assert_true(group_gone(o.pid));
	outcome_clear(&o);
}

/*
 * A group that ignores SIGTERM gets SIGKILL after the grace.  The shell
 * must have set its trap before the timeout's SIGTERM, or it simply dies
 * of it: under valgrind on a loaded machine 300 ms was not always enough
 * for sh to start (a CI run failed so).  So this test's timeout is long,
 * and the output proves the trap was set first, so a slow start fails as
 * that, never as a wrong escalation.
 */
#define TERM_IGNORED_TIMEOUT_MS	3000

static void
test_timeout_term_ignored(void **state)
{
	struct proc_spec spec = {
	    .command = "trap '' TERM; echo trapped; sleep 30 & sleep 30; wait",
	    .timeout_ms = TERM_IGNORED_TIMEOUT_MS };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_non_null(o.output);
	assert_string_equal(o.output, "trapped\n");
	assert_int_equal(o.how, PROC_TIMED_OUT);
	assert_int_equal(o.code, SIGKILL);
	assert_string_equal(o.error, "timed out after 3 s (killed)");
	assert_true(o.elapsed_ms >= TERM_IGNORED_TIMEOUT_MS + TEST_GRACE_MS);
	assert_true(group_gone(o.pid));
	outcome_clear(&o);
}

/* A process the shell leaves holding the pipe delays the result a bound. */
static void
test_drain_bound(void **state)
{
	struct proc_spec spec = { .command = "sleep 30 & echo hi" };
	struct outcome o;
	int left_alone;

	run_one(*state, &spec, &o);
	/* It is left alone (a deploy may start a service): clean up here. */
	left_alone = !group_gone(o.pid);
	kill(-o.pid, SIGKILL);
	assert_true(group_gone_within(o.pid, 2000));
	assert_true(left_alone);
	assert_int_equal(o.how, PROC_EXITED);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "hi\n");
	assert_true(o.elapsed_ms >= TEST_DRAIN_MS);
	assert_true(o.elapsed_ms < TEST_GUARD_MS);
	outcome_clear(&o);
}

/* Data reaches a command only as "$NAME": never parsed by the shell. */
static void
test_env_not_interpreted(void **state)
{
	char marker[64], value[512], entry[600];
	const char *env[3];
	struct proc_spec spec = {
	    .command = "printf '%s|%s|%s|%s' \"$CERTFLEET_X\" \"$CERTFLEET_Y\" "
	    "\"$LANG\" \"${HOME-unset}\"",
	    .env = env };
	char want[1200];
	struct outcome o;

	snprintf(marker, sizeof(marker), "/tmp/certfleet-test-proc-%ld",
	    (long)getpid());
	unlink(marker);
	snprintf(value, sizeof(value), "$(touch %s) `touch %s` 'single' "
	    "\"double\" \\back ${IFS}\nsecond line; touch %s", marker, marker,
	    marker);
	snprintf(entry, sizeof(entry), "CERTFLEET_X=%s", value);
	env[0] = entry;
	env[1] = "CERTFLEET_Y=two";
	env[2] = NULL;
	run_one(*state, &spec, &o);
	assert_int_equal(o.code, 0);
	snprintf(want, sizeof(want), "%s|two|C.UTF-8|unset", value);
	assert_string_equal(o.output, want);
	assert_int_equal(access(marker, F_OK), -1);
	outcome_clear(&o);
}

static void
test_env_replaces_base(void **state)
{
	const char *env[] = { "PATH=/bin", NULL };
	struct proc_spec spec = { .command = "printf '%s' \"$PATH\"",
	    .env = env };
	struct outcome o;

	run_one(*state, &spec, &o);
	assert_string_equal(o.output, "/bin");
	outcome_clear(&o);
}

static void
assert_refused(struct fixture *f, const struct proc_spec *spec,
    const char *needle)
{
	struct outcome o = { 0 };
	char err[256] = "";

	assert_null(proc_start(f->pr, spec, record_cb, &o, err, sizeof(err)));
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_int_equal(proc_running(f->pr), 0);
	run_until(f, NULL, NULL, 20);
	assert_int_equal(o.called, 0);
}

static void
test_env_refused(void **state)
{
	static const char *const noeq[] = { "NOEQUALS", NULL };
	static const char *const digit[] = { "1X=y", NULL };
	static const char *const dash[] = { "A-B=c", NULL };
	static const char *const empty[] = { "=x", NULL };
	static const char *const twice[] = { "X=1", "X=2", NULL };
	const char *many[PROC_ENV_MAX + 2];
	char names[PROC_ENV_MAX + 1][32];
	char *longv;
	const char *longenv[2];
	struct proc_spec spec = { .command = "true" };

	spec.env = noeq;
	assert_refused(*state, &spec, "NAME=value");
	spec.env = digit;
	assert_refused(*state, &spec, "NAME=value");
	spec.env = dash;
	assert_refused(*state, &spec, "NAME=value");
	spec.env = empty;
	assert_refused(*state, &spec, "NAME=value");
	spec.env = twice;
	assert_refused(*state, &spec, "X is given twice");
	for (int i = 0; i <= PROC_ENV_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "V%d=1", i);
		many[i] = names[i];
	}
	many[PROC_ENV_MAX + 1] = NULL;
	spec.env = many;
	assert_refused(*state, &spec, "more than 64");
	assert_non_null(longv = malloc(PROC_ENV_ENTRY_MAX + 2));
	memset(longv, 'a', PROC_ENV_ENTRY_MAX + 1);
	memcpy(longv, "L=", 2);
	longv[PROC_ENV_ENTRY_MAX + 1] = '\0';
	longenv[0] = longv;
	longenv[1] = NULL;
	spec.env = longenv;
	assert_refused(*state, &spec, "L is longer");
	free(longv);
}

static void
test_env_at_limit(void **state)
{
	const char *many[PROC_ENV_MAX + 1];
	char names[PROC_ENV_MAX][32];
	struct proc_spec spec = { .command = "printf '%s' \"$V63\"",
	    .env = many };
	struct outcome o;

	for (int i = 0; i < PROC_ENV_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "V%d=%d", i, i);
		many[i] = names[i];
	}
	many[PROC_ENV_MAX] = NULL;
	run_one(*state, &spec, &o);
	assert_string_equal(o.output, "63");
	outcome_clear(&o);
}

static void
test_spec_refused(void **state)
{
	struct proc_spec spec = { .command = "" };

	assert_refused(*state, &spec, "no command");
	spec.command = NULL;
	assert_refused(*state, &spec, "no command");
	spec.command = "true";
	spec.timeout_ms = -1;
	assert_refused(*state, &spec, "timeout");
	spec.timeout_ms = PROC_TIMEOUT_MAX_MS + 1;
	assert_refused(*state, &spec, "timeout");
	spec.timeout_ms = 0;
	spec.output_max = PROC_OUTPUT_MAX + 1;
	assert_refused(*state, &spec, "output limit");
	spec.output_max = 0;
	spec.input_len = 5;
	assert_refused(*state, &spec, "input");
	spec.input = "x";
	spec.input_len = PROC_INPUT_MAX + 1;	/* refused before it is read */
	assert_refused(*state, &spec, "input");
}

/* Only 0-2 reach the child, even from a descriptor without O_CLOEXEC. */
static void
test_no_inherited_fds(void **state)
{
	struct proc_spec spec = { .command = "ls /proc/$$/fd; :" };
	struct outcome o;
	int fd = open("/dev/null", O_RDONLY);

	assert_true(fd >= 3);
	run_one(*state, &spec, &o);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.output, "0\n1\n2\n");
	outcome_clear(&o);
	close(fd);
}

/* Blocked and ignored signals of the daemon's are not the child's. */
static void
test_signals_reset(void **state)
{
	struct proc_spec spec = {
	    .command = "grep -E '^Sig(Blk|Ign)' /proc/self/status" };
	unsigned long long blk, ign;
	sigset_t block, old;
	struct outcome o;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGHUP);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	run_one(*state, &spec, &o);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_int_equal(sscanf(o.output, "SigBlk:\t%llx\nSigIgn:\t%llx",
	    &blk, &ign), 2);
	assert_int_equal(blk, 0);
	/*
	 * Nothing ignored, SIGPIPE included (the runner ignores it), but
	 * glibc's posix_spawn sets its own two internal signals (32, 33) to
	 * SIG_IGN in the child; a glibc program sets them up again itself.
	 */
	assert_int_equal(ign & ~((1ULL << 31) | (1ULL << 32)), 0);
	outcome_clear(&o);
}

#define MANY	50

static int
all_called(void *arg)
{
	struct outcome *o = arg;

	for (int i = 0; i < MANY; i++)
		if (!o[i].called)
			return 0;
	return 1;
}

static void
test_fifty_at_once(void **state)
{
	struct fixture *f = *state;
	struct outcome o[MANY];
	char entries[MANY][16], want[16], err[256];
	const char *env[MANY][2];

	memset(o, 0, sizeof(o));
	for (int i = 0; i < MANY; i++) {
		struct proc_spec spec = {
		    .command = "sleep 0.1; printf '%s' \"$N\"",
		    .env = env[i] };

		snprintf(entries[i], sizeof(entries[i]), "N=%d", i);
		env[i][0] = entries[i];
		env[i][1] = NULL;
		if (proc_start(f->pr, &spec, record_cb, &o[i], err,
		    sizeof(err)) == NULL)
			fail_msg("proc_start %d: %s", i, err);
	}
	assert_int_equal(proc_running(f->pr), MANY);
	assert_true(run_until(f, all_called, o, TEST_GUARD_MS));
	assert_int_equal(proc_running(f->pr), 0);
	for (int i = 0; i < MANY; i++) {
		snprintf(want, sizeof(want), "%d", i);
		assert_int_equal(o[i].called, 1);
		assert_int_equal(o[i].code, 0);
		assert_string_equal(o[i].output, want);
		outcome_clear(&o[i]);
	}
}

static void
test_limit(void **state)
{
	struct fixture *f = *state;
	struct proc_spec spec = { .command = "exec sleep 30" };
	struct outcome o[5];
	struct proc *p[5];
	char err[256];

	memset(o, 0, sizeof(o));
	proc_runner_tune(f->pr, 0, 0, 4);
	for (int i = 0; i < 4; i++)
		assert_non_null(p[i] = proc_start(f->pr, &spec, record_cb,
		    &o[i], err, sizeof(err)));
	assert_null(proc_start(f->pr, &spec, record_cb, &o[4], err,
	    sizeof(err)));
	assert_non_null(strstr(err, "too many child processes"));
	for (int i = 0; i < 4; i++)
		proc_cancel(p[i]);
	/* Cancelled children count until reaped. */
	assert_true(run_until(f, none_running, f->pr, TEST_GUARD_MS));
	assert_non_null(p[4] = proc_start(f->pr, &spec, record_cb, &o[4],
	    err, sizeof(err)));
	proc_cancel(p[4]);
	assert_true(run_until(f, none_running, f->pr, TEST_GUARD_MS));
	for (int i = 0; i < 5; i++)
		assert_int_equal(o[i].called, 0);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct proc_spec spec = { .command = "sleep 30 & sleep 30; wait",
	    .input = "x", .input_len = 1 };
	struct outcome o = { 0 };
	struct proc *p;
	char err[256];
	pid_t pid;

	assert_non_null(p = proc_start(f->pr, &spec, record_cb, &o, err,
	    sizeof(err)));
	pid = proc_pid(p);
	run_until(f, NULL, NULL, 100);
	proc_cancel(p);
	assert_true(run_until(f, none_running, f->pr, TEST_GUARD_MS));
	run_until(f, NULL, NULL, 50);
	assert_int_equal(o.called, 0);
	assert_true(group_gone_within(pid, 2000));
}

/* Cancelled after it exited, before the loop saw it: never called. */
static void
test_cancel_finished(void **state)
{
	struct fixture *f = *state;
	struct proc_spec spec = { .command = "true" };
	struct outcome o = { 0 };
	struct proc *p;
	char err[256];

	assert_non_null(p = proc_start(f->pr, &spec, record_cb, &o, err,
	    sizeof(err)));
	usleep(200000);		/* it has exited; nothing has reaped it */
	proc_cancel(p);
	proc_cancel(p);		/* twice is harmless while it is held */
	assert_true(run_until(f, none_running, f->pr, TEST_GUARD_MS));
	assert_int_equal(o.called, 0);
}

static void
test_free_running(void **state)
{
	struct fixture *f = *state;
	static const char *const cmds[] = { "exec sleep 30",
	    "sleep 30 & sleep 30; wait", "trap '' TERM; sleep 30 & wait" };
	struct outcome o[3];
	pid_t pid[3];
	char err[256];
	int64_t t0;

	memset(o, 0, sizeof(o));
	for (int i = 0; i < 3; i++) {
		struct proc_spec spec = { .command = cmds[i] };
		struct proc *p = proc_start(f->pr, &spec, record_cb, &o[i],
		    err, sizeof(err));

		assert_non_null(p);
		pid[i] = proc_pid(p);
	}
	run_until(f, NULL, NULL, 100);
	t0 = mono_ms();
	proc_runner_free(f->pr);
	f->pr = NULL;
	assert_true(mono_ms() - t0 < PROC_FREE_WAIT_MS);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(o[i].called, 0);
		assert_true(group_gone(pid[i]));
	}
}

struct chain {
	struct proc_runner	*pr;
	int			 n;
	char			 out[64];
};

static void
chain_cb(const struct proc_result *res, void *arg)
{
	struct chain *c = arg;
	struct proc_spec spec = { .command = "printf x" };
	char err[256];

	strncat(c->out, res->output, sizeof(c->out) - strlen(c->out) - 1);
	if (++c->n < 3 && proc_start(c->pr, &spec, chain_cb, c, err,
	    sizeof(err)) == NULL)
		fail_msg("proc_start from a callback: %s", err);
}

static int
chain_done(void *arg)
{
	return ((struct chain *)arg)->n == 3;
}

static void
test_start_from_callback(void **state)
{
	struct fixture *f = *state;
	struct chain c = { .pr = f->pr };
	struct proc_spec spec = { .command = "printf x" };
	char err[256];

	assert_non_null(proc_start(f->pr, &spec, chain_cb, &c, err,
	    sizeof(err)));
	assert_true(run_until(f, chain_done, &c, TEST_GUARD_MS));
	assert_string_equal(c.out, "xxx");
	assert_int_equal(proc_running(f->pr), 0);
}

struct pair {
	struct proc	*p[2];
	int		 called[2];
};

static void
pair_cb(const struct proc_result *res, void *arg)
{
	struct pair *pp = arg;
	int me = res->pid == proc_pid(pp->p[0]) ? 0 : 1;

	pp->called[me]++;
	proc_cancel(pp->p[1 - me]);
}

static void
test_cancel_from_callback(void **state)
{
	struct fixture *f = *state;
	struct proc_spec spec = { .command = "true" };
	struct pair pp = { 0 };
	char err[256];

	for (int i = 0; i < 2; i++)
		assert_non_null(pp.p[i] = proc_start(f->pr, &spec, pair_cb,
		    &pp, err, sizeof(err)));
	/*
	 * Both have exited when the loop first runs, so both results are
	 * queued and the first delivered cancels one waiting for delivery.
	 */
	usleep(200000);
	assert_true(run_until(f, none_running, f->pr, TEST_GUARD_MS));
	run_until(f, NULL, NULL, 50);
	assert_int_equal(pp.called[0] + pp.called[1], 1);
}

struct freer {
	struct fixture	*f;
	int		 called;
};

static void
free_cb(const struct proc_result *res, void *arg)
{
	struct freer *fr = arg;

	fr->called++;
	proc_runner_free(fr->f->pr);	/* takes effect after we return */
	fr->f->pr = NULL;
}

static int
freer_called(void *arg)
{
	return ((struct freer *)arg)->called > 0;
}

static void
test_free_from_callback(void **state)
{
	struct fixture *f = *state;
	struct proc_spec quick = { .command = "true" };
	struct proc_spec slow = { .command = "sleep 30 & sleep 30; wait" };
	struct outcome o = { 0 };
	struct freer fr = { f, 0 };
	struct proc *p;
	char err[256];
	pid_t pid;

	assert_non_null(p = proc_start(f->pr, &slow, record_cb, &o, err,
	    sizeof(err)));
	pid = proc_pid(p);
	assert_non_null(proc_start(f->pr, &quick, free_cb, &fr, err,
	    sizeof(err)));
	assert_true(run_until(f, freer_called, &fr, TEST_GUARD_MS));
	assert_null(f->pr);
	run_until(f, NULL, NULL, 50);
	assert_int_equal(fr.called, 1);
	assert_int_equal(o.called, 0);
	assert_true(group_gone(pid));
}

static int
run_all(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_exit_zero_output),
		T(test_exit_status),
		T(test_killed_by_signal),
		T(test_not_found),
		T(test_stdin_echoed),
		T(test_stdin_large),
		T(test_stdin_unread),
		T(test_output_limit),
		T(test_output_flood),
		T(test_timeout_group),
		T(test_timeout_term_ignored),
		T(test_drain_bound),
		T(test_env_not_interpreted),
		T(test_env_replaces_base),
		T(test_env_refused),
		T(test_env_at_limit),
		T(test_spec_refused),
		T(test_no_inherited_fds),
		T(test_signals_reset),
		T(test_fifty_at_once),
		T(test_limit),
		T(test_cancel),
		T(test_cancel_finished),
		T(test_free_running),
		T(test_start_from_callback),
		T(test_cancel_from_callback),
		T(test_free_from_callback),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * What a command leaves in its group is reaped by PID 1 once the shell is
 * gone, as systemd does for the daemon; the PID 1 of some containers never
 * reaps, and a zombie still counts as a member of its group.  So the
 * tests run in a child of a parent that reaps every orphan, as init would.
 */
int
main(void)
{
	pid_t tests, w;
	int st, rc = 1;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		return run_all();
	if ((tests = fork()) == -1)
		return 1;
	if (tests == 0)
		exit(run_all());
	for (;;) {
		w = waitpid(-1, &st, 0);
		if (w == tests) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
			break;
		}
		if (w == -1 && errno != EINTR)
			break;
	}
	return rc;
}
