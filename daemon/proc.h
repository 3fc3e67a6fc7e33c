/*
 * The daemon's one runner of child processes: hooks, notification commands
 * and deploy reload commands.  Each runs as /bin/sh -c COMMAND in a process
 * group of its own, with a minimal environment, its input fed and its
 * output drained from the loop, and a deadline after which the whole group
 * is terminated.  Every function is called on the loop's thread.
 */
#ifndef CERTFLEET_PROC_H
#define CERTFLEET_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct proc;
struct proc_runner;

#define PROC_SHELL		"/bin/sh"
/*
 * A child's whole environment is these two plus the spec's env (which may
 * replace them): nothing of the daemon's own environment leaks into a hook.
 */
#define PROC_ENV_PATH		"PATH=/usr/local/sbin:/usr/local/bin:" \
				"/usr/sbin:/usr/bin:/sbin:/bin"
#define PROC_ENV_LANG		"LANG=C.UTF-8"

/* Children held at once (running, or killed and not yet reaped). */
#define PROC_RUNNING_MAX	256
#define PROC_COMMAND_MAX	65536		/* bytes */
#define PROC_ENV_MAX		64		/* entries of a spec's env */
#define PROC_ENV_ENTRY_MAX	65536		/* bytes of one "NAME=value" */
#define PROC_INPUT_MAX		(16u * 1024 * 1024)
#define PROC_OUTPUT_MAX		(16u * 1024 * 1024)
#define PROC_OUTPUT_DEFAULT	(64u * 1024)	/* output_max 0 */
#define PROC_TIMEOUT_DEFAULT_MS	60000		/* timeout_ms 0 */
#define PROC_TIMEOUT_MAX_MS	3600000
/* After the deadline's SIGTERM, the group has this long before SIGKILL. */
#define PROC_KILL_GRACE_MS	5000
/*
 * After the shell exits, how long a process it left behind may keep the
 * output pipe open before the result is delivered without the rest.
 */
#define PROC_DRAIN_MS		1000
/* After SIGKILL, how long to wait for the group to be gone. */
#define PROC_KILL_WAIT_MS	1000
/* proc_runner_free waits at most this long for the children it killed. */
#define PROC_FREE_WAIT_MS	1000

struct proc_spec {
	/* Run as PROC_SHELL -c command: a setting, never built from data. */
	const char		*command;
	/* Or, when set, argv[0] run directly with these arguments (no shell):
	 * the daemon's own helpers.  command is then ignored. */
	const char *const	*argv;
	/*
	 * NULL-terminated "NAME=value" entries added to the environment
	 * (NAME: [A-Za-z_][A-Za-z0-9_]*, each at most once); the way to hand
	 * data to a command, which reads it as "$NAME".  May be NULL.
	 */
	const char *const	*env;
	/*
	 * Written to the child's stdin from the loop, then stdin is closed.
	 * Copied by proc_start.  A child that exits or closes stdin without
	 * reading it all simply does not get the rest.  input_len 0: stdin
	 * is /dev/null.
	 */
	const char		*input;
	size_t			 input_len;
	int			 timeout_ms;	/* 0: PROC_TIMEOUT_DEFAULT_MS */
	/*
	 * The first output_max bytes of stdout and stderr (one pipe, in the
	 * order written) are kept; the rest is read and dropped, so a chatty
	 * child never blocks.  0: PROC_OUTPUT_DEFAULT.
	 */
	size_t			 output_max;
};

enum proc_how {
	PROC_EXITED = 0,	/* code: exit status */
	PROC_SIGNALED,		/* code: signal number */
	PROC_TIMED_OUT,		/* code: the shell's signal or exit status,
				 * -1 if it could not be reaped in time */
};

/*
 * How a child ended.  Owned by the runner: valid only during the callback
 * (copy what is kept).  A command that exits 127 is one the shell did not
 * find: starting /bin/sh itself cannot fail after proc_start succeeded.
 */
struct proc_result {
	enum proc_how	 how;
	int		 code;
	pid_t		 pid;		/* was also its process group id */
	const char	*output;	/* NUL-terminated; never NULL */
	size_t		 output_len;	/* excludes the NUL */
	int		 output_truncated;
	int64_t		 elapsed_ms;	/* start to result */
	/*
	 * One sentence for logs, empty when it exited with status 0:
	 * "exited with status 1", "killed by signal 9 (SIGKILL)",
	 * "timed out after 60 s (terminated)", "... (killed)".
	 */
	char		 error[256];
};

typedef void	 proc_done_fn(const struct proc_result *res, void *arg);

/*
 * Returns a new runner (caller frees with proc_runner_free) or NULL with
 * err.  It sets SIGPIPE to SIG_IGN if it was SIG_DFL (main.c ignores it
 * already): writing to a child that stopped reading must cost an EPIPE,
 * not the daemon.  Children get every signal back at its default.
 *
 * Children are reaped through a pidfd each; where pidfd_open is missing
 * (Linux before 5.3, valgrind 3.19) through a SIGCHLD event on base
 * instead, so then no other base may hold signal events (libevent).
 *
 * Processes a command leaves behind (the group's members) are reaped by
 * whoever is PID 1, as for any orphan; under an init that does not reap,
 * a timed-out group is seen gone only after PROC_KILL_WAIT_MS.
 */
struct proc_runner *proc_runner_new(struct event_base *base, char *err,
		    size_t errlen);
/*
 * SIGKILL to the group of every child whose result has not been delivered,
 * waits at most PROC_FREE_WAIT_MS (blocking: this is for shutdown) for them
 * to be reaped and their groups gone, and frees; no callback runs.  Called
 * from inside a done callback, it takes effect when that callback returns.
 * NULL is a no-op.
 */
void		 proc_runner_free(struct proc_runner *pr);
/* Tests: shorter waits and a lower limit than the defaults; 0 keeps one. */
void		 proc_runner_tune(struct proc_runner *pr, int kill_grace_ms,
		    int drain_ms, size_t max_procs);

/*
 * Starts a child.  done runs exactly once, from the loop and never inside
 * this call, unless the child is cancelled; only after the shell has exited
 * and its output reached EOF (or PROC_DRAIN_MS passed); after a timeout,
 * once its whole group is gone (or PROC_KILL_WAIT_MS after SIGKILL).  done may call proc_start, proc_cancel
 * (on other children) and proc_runner_free.  Returns a handle valid until
 * done starts or proc_cancel returns; or NULL with err (a spec refused, too
 * many children, no pipe, no shell), in which case done never runs.
 */
struct proc	*proc_start(struct proc_runner *pr,
		    const struct proc_spec *spec, proc_done_fn *done, void *arg,
		    char *err, size_t errlen);
/*
 * The owner no longer wants the result: SIGKILL to the child's group, done
 * will not run; the child is reaped later.  Doing nothing once done has
 * started.
 */
void		 proc_cancel(struct proc *p);
/* The child's pid, also its process group id (for log lines). */
pid_t		 proc_pid(const struct proc *p);
/* Children held: started and not yet delivered, or cancelled and unreaped. */
size_t		 proc_running(const struct proc_runner *pr);

#endif
