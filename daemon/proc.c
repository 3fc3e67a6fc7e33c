/*
 * Child processes on the loop.  posix_spawn starts /bin/sh -c COMMAND in a
 * process group of its own, with default signals and only descriptors 0-2;
 * a pidfd per child tells the loop when to reap it (waitpid WNOHANG), its
 * stdin is fed and its stdout+stderr drained by ordinary events, and one
 * timer carries the deadline, the kill grace and the drain bound.  Each
 * child is a struct proc with an explicit state and one step function.
 * Where pidfd_open is missing (Linux before 5.3, valgrind 3.19), a SIGCHLD
 * event asks each child instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "daemon.h"
#include "proc.h"

#define PROC_READ_CHUNK		16384
/* Bytes read or written per wake-up, so a chatty child shares the loop. */
#define PROC_IO_BUDGET		(256u * 1024)
/*
 * How often a group is looked at once its shell is reaped: the death of
 * the other members sends us nothing, so kill(-pgid, 0) is asked.
 */
#define PROC_GROUP_POLL_MS	20

enum proc_state {
	PROC_ST_RUNNING = 0,	/* deadline armed; input fed, output drained */
	PROC_ST_DRAINING,	/* shell exited; output read to EOF, bounded */
	PROC_ST_TERMINATING,	/* deadline passed; SIGTERM sent to the group */
	PROC_ST_KILLING,	/* grace over; SIGKILL sent to the group */
	PROC_ST_DONE,		/* result ready, queued for delivery */
	PROC_ST_CANCELLED,	/* nobody wants a result; waiting to reap */
	PROC_ST_DEAD,		/* reaped and unwanted, queued to be freed */
};

struct proc {
	struct proc_runner	*pr;
	enum proc_state		 state;
	pid_t			 pid;		/* also its process group id */
	int			 pidfd;		/* -1: see proc_reap_polled */
	int			 in_fd, out_fd;	/* our ends; -1 once closed */
	struct event		*pid_ev, *in_ev, *out_ev, *timer;
	proc_done_fn		*done;
	void			*arg;
	/* What the callbacks saw, for the step to act on. */
	int			 reaped;
	int			 wstatus;
	int			 status_lost;	/* reaped by someone else */
	int			 out_eof;
	int			 timer_fired;
	/* Input: our copy, written from input_off on. */
	char			*input;
	size_t			 input_len, input_off;
	/* Output: the first output_max bytes, NUL-terminated. */
	char			*out;
	size_t			 out_len, out_cap, output_max;
	int			 out_truncated;
	int			 timeout_ms;
	int			 timed_out;
	int			 killed;	/* the grace ran out: SIGKILL */
	int			 delivering;
	int			 shutdown_killed; /* destroy waits on it */
	int64_t			 started_ms, signalled_ms, elapsed_ms;
	TAILQ_ENTRY(proc)	 entry;		/* pr->procs, until freed */
	TAILQ_ENTRY(proc)	 qentry;	/* pr->done or pr->dead */
};

TAILQ_HEAD(proc_list, proc);

struct proc_runner {
	struct event_base	*base;
	struct event		*later_ev;	/* delivers and frees */
	struct event		*sigchld_ev;	/* only without pidfds */
	struct proc_list	 procs;		/* every child held */
	struct proc_list	 done;		/* results to deliver */
	struct proc_list	 dead;		/* to free */
	size_t			 nprocs;
	int			 kill_grace_ms, drain_ms;
	size_t			 max_procs;
	int			 in_callback;
	int			 free_pending;
};

static const char *const proc_base_env[] = { PROC_ENV_PATH, PROC_ENV_LANG };
#define PROC_BASE_ENV_COUNT \
	(sizeof(proc_base_env) / sizeof(proc_base_env[0]))

static void proc_step(struct proc *p);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
set_prio(struct event_base *base, struct event *ev)
{
	/* Tests may run a base without priorities. */
	if (event_base_get_npriorities(base) > PRIO_DEFAULT)
		event_priority_set(ev, PRIO_DEFAULT);
}

static int
timer_arm(struct proc *p, int64_t ms)
{
	struct timeval tv;

	/*
	 * libevent counts from the time cached when this loop turn began;
	 * after a long turn the wait would come up short.
	 */
	event_base_update_cache_time(p->pr->base);
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(p->timer, &tv);
}

static void
fd_close(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * The events stay allocated until the proc is freed: closing may happen
 * inside the event's own callback, where only event_del is safe.
 */
static void
in_close(struct proc *p)
{
	if (p->in_ev != NULL)
		event_del(p->in_ev);
	fd_close(&p->in_fd);
}

static void
out_close(struct proc *p)
{
	if (p->out_ev != NULL)
		event_del(p->out_ev);
	fd_close(&p->out_fd);
}

/*
 * After the shell is reaped the group id stays ours while any member
 * lives; only once the last is gone could a new process take that number
 * as its group, which needs pid_max pids spawned within the grace.
 */
static void
group_signal(struct proc *p, int sig)
{
	(void)kill(-p->pid, sig);
}

/* EPERM (a member that changed its uid) is a member still there. */
static int
group_gone(const struct proc *p)
{
	return kill(-p->pid, 0) == -1 && errno == ESRCH;
}

/*
 * A child whose pidfd could not be opened (though pidfds work) is killed at
 * once and looked for by a timer; nothing else would tell us it is gone.
 */
static int
proc_reap_polled(const struct proc *p)
{
	return p->pidfd == -1 && p->pr->sigchld_ev == NULL;
}

static void
proc_reap(struct proc *p)
{
	pid_t r;
	int st;

	if (p->reaped)
		return;
	do
		r = waitpid(p->pid, &st, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == p->pid) {
		p->reaped = 1;
		p->wstatus = st;
	} else if (r == -1) {
		/* ECHILD: SIGCHLD ignored, or a waitpid(-1) elsewhere. */
		p->reaped = 1;
		p->status_lost = 1;
	}
}

static void
out_keep(struct proc *p, const char *buf, size_t n)
{
	size_t room = p->output_max - p->out_len, take = n < room ? n : room;
	size_t cap;
	char *q;

	if (take < n)
		p->out_truncated = 1;
	if (take == 0)
		return;
	if (p->out_len + take + 1 > p->out_cap) {
		cap = p->out_cap ? p->out_cap : 4096;
		while (cap < p->out_len + take + 1)
			cap *= 2;
		if (cap > p->output_max + 1)
			cap = p->output_max + 1;
		if ((q = realloc(p->out, cap)) == NULL) {
			/* Out of memory costs the rest of the output only. */
			p->out_truncated = 1;
			p->output_max = p->out_len;
			return;
		}
		p->out = q;
		p->out_cap = cap;
	}
	memcpy(p->out + p->out_len, buf, take);
	p->out_len += take;
	p->out[p->out_len] = '\0';
}

/* Reads what the pipe holds, up to the budget; EOF closes it. */
static void
out_read(struct proc *p)
{
	char buf[PROC_READ_CHUNK];
	size_t budget = PROC_IO_BUDGET;
	ssize_t n;

	while (p->out_fd != -1 && budget > 0) {
		n = read(p->out_fd, buf, sizeof(buf));
		if (n > 0) {
			out_keep(p, buf, (size_t)n);
			budget -= (size_t)n < budget ? (size_t)n : budget;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		/* EOF, or an error that ends the stream all the same. */
		out_close(p);
		p->out_eof = 1;
	}
}

static void
in_write(struct proc *p)
{
	size_t budget = PROC_IO_BUDGET, n;
	ssize_t w;

	while (p->in_fd != -1 && p->input_off < p->input_len && budget > 0) {
		n = p->input_len - p->input_off;
		if (n > budget)
			n = budget;
		w = write(p->in_fd, p->input + p->input_off, n);
		if (w > 0) {
			p->input_off += (size_t)w;
			budget -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		/* EPIPE: it closed stdin or exited; the rest is not wanted. */
		in_close(p);
	}
	if (p->input_off == p->input_len)
		in_close(p);	/* EOF on its stdin */
}

/* Its command is under way: the result is not decided yet. */
static int
proc_active(const struct proc *p)
{
	return p->state == PROC_ST_RUNNING || p->state == PROC_ST_DRAINING ||
	    p->state == PROC_ST_TERMINATING || p->state == PROC_ST_KILLING;
}

static void
later_kick(struct proc_runner *pr)
{
	event_active(pr->later_ev, EV_TIMEOUT, 0);
}

static void
proc_finish(struct proc *p)
{
	in_close(p);
	out_read(p);		/* what is already in the pipe */
	out_close(p);
	evtimer_del(p->timer);
	p->elapsed_ms = now_ms() - p->started_ms;
	p->state = PROC_ST_DONE;
	TAILQ_INSERT_TAIL(&p->pr->done, p, qentry);
	later_kick(p->pr);
}

/* No result is wanted: free once reaped (the pidfd, or polling, says). */
static void
proc_abandon(struct proc *p)
{
	in_close(p);
	out_close(p);
	evtimer_del(p->timer);
	if (p->reaped) {
		p->state = PROC_ST_DEAD;
		TAILQ_INSERT_TAIL(&p->pr->dead, p, qentry);
		later_kick(p->pr);
		return;
	}
	p->state = PROC_ST_CANCELLED;
	if (proc_reap_polled(p))
		timer_arm(p, PROC_GROUP_POLL_MS);
}

/* Waits for the group until the given moment, looking every so often
 * once the shell is reaped (before that, its pidfd wakes us). */
static void
group_wait_arm(struct proc *p, int64_t until)
{
	int64_t left = until - now_ms();

	if (p->reaped && left > PROC_GROUP_POLL_MS)
		left = PROC_GROUP_POLL_MS;
	timer_arm(p, left);
}

static void
proc_step(struct proc *p)
{
	struct proc_runner *pr = p->pr;
	int fired = p->timer_fired;

	p->timer_fired = 0;
	switch (p->state) {
	case PROC_ST_RUNNING:
		if (p->reaped) {
			/* Nobody reads stdin now; its output is in the pipe. */
			in_close(p);
			out_read(p);
			if (p->out_eof) {
				proc_finish(p);
				break;
			}
			p->state = PROC_ST_DRAINING;
			timer_arm(p, pr->drain_ms);
		} else if (fired) {
			p->timed_out = 1;
			p->signalled_ms = now_ms();
			group_signal(p, SIGTERM);
			/* A stopped member would never act on the SIGTERM. */
			group_signal(p, SIGCONT);
			p->state = PROC_ST_TERMINATING;
			group_wait_arm(p, p->signalled_ms + pr->kill_grace_ms);
		}
		break;
	case PROC_ST_DRAINING:
		/*
		 * fired: something the shell left behind holds the pipe.  It
		 * is not killed: a deploy command may start a service.
		 */
		if (p->out_eof || fired)
			proc_finish(p);
		break;
	case PROC_ST_TERMINATING:
		if (p->reaped && group_gone(p)) {
			proc_finish(p);
		} else if (now_ms() - p->signalled_ms >= pr->kill_grace_ms) {
			p->killed = 1;
			p->signalled_ms = now_ms();
			group_signal(p, SIGKILL);
			p->state = PROC_ST_KILLING;
			group_wait_arm(p, p->signalled_ms + PROC_KILL_WAIT_MS);
		} else {
			/* Once the shell is reaped, the rest is polled for. */
			group_wait_arm(p, p->signalled_ms + pr->kill_grace_ms);
		}
		break;
	case PROC_ST_KILLING:
		/*
		 * Past the wait, a member in uninterruptible sleep (or an
		 * orphan PID 1 does not reap) is reported, not waited for.
		 */
		if ((p->reaped && group_gone(p)) ||
		    now_ms() - p->signalled_ms >= PROC_KILL_WAIT_MS)
			proc_finish(p);
		else
			group_wait_arm(p, p->signalled_ms + PROC_KILL_WAIT_MS);
		break;
	case PROC_ST_DONE:
		break;		/* the reap of a shell reported unreaped */
	case PROC_ST_CANCELLED:
		if (p->reaped)
			proc_abandon(p);
		else if (fired)
			timer_arm(p, PROC_GROUP_POLL_MS);
		break;
	case PROC_ST_DEAD:
		break;
	}
}

static void
pid_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	proc_reap(p);
	proc_step(p);
}

/* Signals coalesce: every child not yet reaped is asked. */
static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proc_runner *pr = arg;
	struct proc *p;

	/* A step never takes a proc off this list; later_cb does. */
	TAILQ_FOREACH(p, &pr->procs, entry) {
		if (p->reaped)
			continue;
		proc_reap(p);
		if (p->reaped)
			proc_step(p);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	p->timer_fired = 1;
	/* An exit at the deadline is an exit, not a timeout. */
	proc_reap(p);
	proc_step(p);
}

static void
out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	out_read(p);
	if (p->out_eof)
		proc_step(p);
}

static void
in_cb(evutil_socket_t fd, short what, void *arg)
{
	in_write(arg);
}

static void
format_ms(char *buf, size_t len, int ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%d s", ms / 1000);
	else
		snprintf(buf, len, "%d ms", ms);
}

static void
describe_exit(const struct proc *p, struct proc_result *res)
{
	const char *hint = "";

	res->how = PROC_EXITED;
	res->code = WEXITSTATUS(p->wstatus);
	if (res->code == 0)
		return;
	/* The shell's own codes, so a log line says what went wrong. */
	if (res->code == 127)
		hint = " (command not found)";
	else if (res->code == 126)
		hint = " (command not executable)";
	snprintf(res->error, sizeof(res->error), "exited with status %d%s",
	    res->code, hint);
}

static void
describe_signal(const struct proc *p, struct proc_result *res)
{
	const char *name = sigabbrev_np(WTERMSIG(p->wstatus));

	res->how = PROC_SIGNALED;
	res->code = WTERMSIG(p->wstatus);
	snprintf(res->error, sizeof(res->error),
	    "killed by signal %d (SIG%s)%s", res->code,
	    name ? name : "?", WCOREDUMP(p->wstatus) ? ", core dumped" : "");
}

static void
proc_describe(const struct proc *p, struct proc_result *res)
{
	char dur[32];

	if (p->timed_out) {
		res->how = PROC_TIMED_OUT;
		res->code = -1;
		if (p->reaped && !p->status_lost)
			res->code = WIFSIGNALED(p->wstatus) ?
			    WTERMSIG(p->wstatus) : WEXITSTATUS(p->wstatus);
		format_ms(dur, sizeof(dur), p->timeout_ms);
		snprintf(res->error, sizeof(res->error),
		    "timed out after %s (%s)", dur,
		    p->killed ? "killed" : "terminated");
	} else if (p->status_lost) {
		res->how = PROC_EXITED;
		res->code = -1;
		snprintf(res->error, sizeof(res->error),
		    "ended, but its exit status was taken by another waiter");
	} else if (WIFSIGNALED(p->wstatus)) {
		describe_signal(p, res);
	} else {
		describe_exit(p, res);
	}
}

static void
proc_deliver(struct proc *p)
{
	struct proc_result res;

	memset(&res, 0, sizeof(res));
	proc_describe(p, &res);
	res.pid = p->pid;
	res.output = p->out != NULL ? p->out : "";
	res.output_len = p->out_len;
	res.output_truncated = p->out_truncated;
	res.elapsed_ms = p->elapsed_ms;
	p->delivering = 1;
	p->done(&res, p->arg);
}

static void
proc_release(struct proc *p)
{
	struct proc_runner *pr = p->pr;

	TAILQ_REMOVE(&pr->procs, p, entry);
	pr->nprocs--;
	if (p->pid_ev != NULL)
		event_free(p->pid_ev);
	if (p->in_ev != NULL)
		event_free(p->in_ev);
	if (p->out_ev != NULL)
		event_free(p->out_ev);
	if (p->timer != NULL)
		event_free(p->timer);
	fd_close(&p->pidfd);
	fd_close(&p->in_fd);
	fd_close(&p->out_fd);
	/* A deploy's input holds a private key: never left in freed memory. */
	if (p->input != NULL)
		explicit_bzero(p->input, p->input_len);
	free(p->input);
	free(p->out);
	free(p);
}

static void runner_destroy(struct proc_runner *pr);

/*
 * Results are delivered one at a time: a callback may start children,
 * cancel others (those still on the list included) or free the runner.
 */
static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc_runner *pr = arg;
	struct proc *p;

	pr->in_callback++;
	while (!pr->free_pending && (p = TAILQ_FIRST(&pr->done)) != NULL) {
		TAILQ_REMOVE(&pr->done, p, qentry);
		proc_deliver(p);
		if (p->reaped) {
			proc_release(p);
		} else {
			/* Reported after PROC_KILL_WAIT_MS; still to reap. */
			p->delivering = 0;
			p->state = PROC_ST_CANCELLED;
			if (proc_reap_polled(p))
				timer_arm(p, PROC_GROUP_POLL_MS);
		}
	}
	while ((p = TAILQ_FIRST(&pr->dead)) != NULL) {
		TAILQ_REMOVE(&pr->dead, p, qentry);
		proc_release(p);
	}
	pr->in_callback--;
	if (pr->free_pending)
		runner_destroy(pr);
}

/* A pidfd per child if the kernel (and valgrind) have them, else SIGCHLD. */
static int
reap_setup(struct proc_runner *pr, char *err, size_t errlen)
{
	int fd;

	if ((fd = pidfd_open(getpid(), 0)) != -1) {
		close(fd);
		return 0;
	}
	pr->sigchld_ev = evsignal_new(pr->base, SIGCHLD, sigchld_cb, pr);
	if (pr->sigchld_ev == NULL ||
	    evsignal_add(pr->sigchld_ev, NULL) == -1) {
		snprintf(err, errlen, "no pidfd_open, and cannot watch "
		    "SIGCHLD: %s", strerror(errno));
		if (pr->sigchld_ev != NULL)
			event_free(pr->sigchld_ev);
		pr->sigchld_ev = NULL;
		return -1;
	}
	set_prio(pr->base, pr->sigchld_ev);
	return 0;
}

struct proc_runner *
proc_runner_new(struct event_base *base, char *err, size_t errlen)
{
	struct proc_runner *pr;
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == -1) {
		snprintf(err, errlen, "cannot read SIGPIPE's disposition: %s",
		    strerror(errno));
		return NULL;
	}
	if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGPIPE, &sa, NULL) == -1) {
			snprintf(err, errlen, "cannot ignore SIGPIPE: %s",
			    strerror(errno));
			return NULL;
		}
	}
	if ((pr = calloc(1, sizeof(*pr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pr->base = base;
	TAILQ_INIT(&pr->procs);
	TAILQ_INIT(&pr->done);
	TAILQ_INIT(&pr->dead);
	pr->kill_grace_ms = PROC_KILL_GRACE_MS;
	pr->drain_ms = PROC_DRAIN_MS;
	pr->max_procs = PROC_RUNNING_MAX;
	if ((pr->later_ev = event_new(base, -1, 0, later_cb, pr)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(pr);
		return NULL;
	}
	set_prio(base, pr->later_ev);
	if (reap_setup(pr, err, errlen) == -1) {
		event_free(pr->later_ev);
		free(pr);
		return NULL;
	}
	return pr;
}

void
proc_runner_tune(struct proc_runner *pr, int kill_grace_ms, int drain_ms,
    size_t max_procs)
{
	if (kill_grace_ms > 0)
		pr->kill_grace_ms = kill_grace_ms;
	if (drain_ms > 0)
		pr->drain_ms = drain_ms;
	if (max_procs > 0 && max_procs <= PROC_RUNNING_MAX)
		pr->max_procs = max_procs;
}

/* Is p still waited for at shutdown: its shell, or a group we killed? */
static int
runner_waits_on(struct proc *p)
{
	proc_reap(p);
	return !p->reaped || (p->shutdown_killed && !group_gone(p));
}

static void
runner_destroy(struct proc_runner *pr)
{
	int64_t give_up = now_ms() + PROC_FREE_WAIT_MS, left;
	struct pollfd *fds;
	struct proc *p;
	size_t n;
	int waiting;

	/* Results not delivered are not wanted: their groups go. */
	TAILQ_FOREACH(p, &pr->procs, entry) {
		in_close(p);
		out_close(p);
		if (p->pid_ev != NULL)
			event_del(p->pid_ev);
		evtimer_del(p->timer);
		/* A finished command's leftovers are left alone, as after
		 * delivery; an unreaped shell still holds its group id. */
		p->shutdown_killed = !p->reaped || proc_active(p);
		if (p->shutdown_killed)
			group_signal(p, SIGKILL);
	}
	fds = calloc(pr->nprocs + 1, sizeof(*fds));
	for (;;) {
		waiting = 0;
		n = 0;
		TAILQ_FOREACH(p, &pr->procs, entry) {
			if (!runner_waits_on(p))
				continue;
			waiting = 1;
			if (fds != NULL && !p->reaped && p->pidfd != -1) {
				fds[n].fd = p->pidfd;
				fds[n++].events = POLLIN;
			}
		}
		left = give_up - now_ms();
		if (!waiting || left <= 0)
			break;
		/* Shutdown may wait on SIGKILLed children, briefly. */
		(void)poll(fds, n, left < PROC_GROUP_POLL_MS ? (int)left :
		    PROC_GROUP_POLL_MS);
	}
	free(fds);
	while ((p = TAILQ_FIRST(&pr->procs)) != NULL)
		proc_release(p);
	if (pr->sigchld_ev != NULL)
		event_free(pr->sigchld_ev);
	event_free(pr->later_ev);
	free(pr);
}

void
proc_runner_free(struct proc_runner *pr)
{
	if (pr == NULL)
		return;
	if (pr->in_callback > 0) {
		pr->free_pending = 1;	/* later_cb finishes the job */
		return;
	}
	runner_destroy(pr);
}

size_t
proc_running(const struct proc_runner *pr)
{
	return pr->nprocs;
}

pid_t
proc_pid(const struct proc *p)
{
	return p->pid;
}

/* Length of NAME in "NAME=value", or 0 when it is not a shell name. */
static size_t
env_name_len(const char *entry)
{
	size_t i;
	char c;

	for (i = 0; (c = entry[i]) != '\0' && c != '='; i++) {
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return c == '=' ? i : 0;
}

static int
env_has(const char *const *envp, size_t n, const char *entry, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], entry, len + 1) == 0)
			return 1;
	return 0;
}

/* envp: room for PROC_ENV_MAX + PROC_BASE_ENV_COUNT + 1. */
static int
env_build(const char *const *env, const char **envp, char *err,
    size_t errlen)
{
	size_t n = 0, len;

	for (; env != NULL && env[n] != NULL; n++) {
		if (n == PROC_ENV_MAX) {
			snprintf(err, errlen, "more than %d environment "
			    "variables", PROC_ENV_MAX);
			return -1;
		}
		if ((len = env_name_len(env[n])) == 0) {
			snprintf(err, errlen, "environment entry %zu is not "
			    "NAME=value with a shell name", n + 1);
			return -1;
		}
		if (strnlen(env[n], PROC_ENV_ENTRY_MAX + 1) >
		    PROC_ENV_ENTRY_MAX) {
			snprintf(err, errlen, "environment variable %.*s is "
			    "longer than %d bytes", (int)len, env[n],
			    PROC_ENV_ENTRY_MAX);
			return -1;
		}
		if (env_has((const char *const *)envp, n, env[n], len)) {
			snprintf(err, errlen, "environment variable %.*s is "
			    "given twice", (int)len, env[n]);
			return -1;
		}
		envp[n] = env[n];
	}
	for (size_t i = 0; i < PROC_BASE_ENV_COUNT; i++) {
		len = env_name_len(proc_base_env[i]);
		if (!env_has((const char *const *)envp, n, proc_base_env[i],
		    len))
			envp[n++] = proc_base_env[i];
	}
	envp[n] = NULL;
	return 0;
}

static int
spec_check(const struct proc_spec *spec, char *err, size_t errlen)
{
	if (spec->argv != NULL) {
		if (spec->argv[0] == NULL || spec->argv[0][0] != '/') {
			snprintf(err, errlen, "no program to run");
			return -1;
		}
	} else if (spec->command == NULL || spec->command[0] == '\0') {
		snprintf(err, errlen, "no command to run");
		return -1;
	}
	if (spec->argv == NULL &&
	    strnlen(spec->command, PROC_COMMAND_MAX + 1) > PROC_COMMAND_MAX) {
		snprintf(err, errlen, "the command is longer than %d bytes",
		    PROC_COMMAND_MAX);
		return -1;
	}
	if (spec->input_len > PROC_INPUT_MAX ||
	    (spec->input_len > 0 && spec->input == NULL)) {
		snprintf(err, errlen, "the input is missing or longer than "
		    "%u bytes", PROC_INPUT_MAX);
		return -1;
	}
	if (spec->timeout_ms < 0 || spec->timeout_ms > PROC_TIMEOUT_MAX_MS) {
		snprintf(err, errlen, "the timeout is not within 0..%d ms",
		    PROC_TIMEOUT_MAX_MS);
		return -1;
	}
	if (spec->output_max > PROC_OUTPUT_MAX) {
		snprintf(err, errlen, "the output limit is over %u bytes",
		    PROC_OUTPUT_MAX);
		return -1;
	}
	return 0;
}

/*
 * The child's ends must not be 0-2 (a daemon started with one closed
 * could get them from pipe2), or one dup2 would clobber another.
 */
static int
fd_above_stdio(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

/* A pipe, close-on-exec at both ends, non-blocking on ours. */
static int
make_pipe(int fds[2], int ours)
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if (fd_above_stdio(&fds[0]) == -1 || fd_above_stdio(&fds[1]) == -1 ||
	    fcntl(fds[ours], F_SETFL, O_NONBLOCK) == -1) {
		fd_close(&fds[0]);
		fd_close(&fds[1]);
		return -1;
	}
	return 0;
}

/*
 * posix_spawn, so no code of ours runs between fork and exec.  The daemon
 * blocks or ignores signals a hook must not inherit; descriptors it opens
 * without close-on-exec (or that a library opened) are closed from 3 up.
 */
static int
proc_spawn(struct proc *p, const struct proc_spec *spec, const char **envp,
    int in_child, int out_child, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *shell_argv[] = { "sh", "-c", (char *)spec->command, NULL };
	char *const *argv = spec->argv ? (char *const *)spec->argv : shell_argv;
	const char *path = spec->argv ? spec->argv[0] : PROC_SHELL;
	int rc = 0;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (in_child != -1)
		rc |= posix_spawn_file_actions_adddup2(&fa, in_child, 0);
	else
		rc |= posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0);
	rc |= posix_spawn_file_actions_adddup2(&fa, out_child, 1);
	rc |= posix_spawn_file_actions_adddup2(&fa, out_child, 2);
	rc |= posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc |= posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	rc |= posix_spawnattr_setsigmask(&attr, &none);
	rc |= posix_spawnattr_setsigdefault(&attr, &all);
	rc |= posix_spawnattr_setpgroup(&attr, 0);
	if (rc != 0) {
		snprintf(err, errlen, "cannot set up the child's spawn");
	} else if ((rc = posix_spawn(&p->pid, path, &fa, &attr, argv,
	    (char *const *)envp)) != 0) {
		snprintf(err, errlen, "cannot start %s: %s", path,
		    strerror(rc));
	}
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 ? 0 : -1;
}

static struct proc *
proc_alloc(struct proc_runner *pr, const struct proc_spec *spec,
    proc_done_fn *done, void *arg)
{
	struct proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->pr = pr;
	p->pidfd = p->in_fd = p->out_fd = -1;
	p->done = done;
	p->arg = arg;
	p->timeout_ms = spec->timeout_ms ? spec->timeout_ms :
	    PROC_TIMEOUT_DEFAULT_MS;
	p->output_max = spec->output_max ? spec->output_max :
	    PROC_OUTPUT_DEFAULT;
	if (spec->input_len > 0) {
		if ((p->input = malloc(spec->input_len)) == NULL) {
			free(p);
			return NULL;
		}
		memcpy(p->input, spec->input, spec->input_len);
		p->input_len = spec->input_len;
	}
	return p;
}

/* Pipes and the events on our ends, before anything is started. */
static int
proc_prepare(struct proc *p, int *in_child, int *out_child, char *err,
    size_t errlen)
{
	struct event_base *base = p->pr->base;
	int fds[2];

	if (make_pipe(fds, 0) == -1) {
		snprintf(err, errlen, "cannot make a pipe: %s",
		    strerror(errno));
		return -1;
	}
	p->out_fd = fds[0];
	*out_child = fds[1];
	if (p->input_len > 0) {
		if (make_pipe(fds, 1) == -1) {
			snprintf(err, errlen, "cannot make a pipe: %s",
			    strerror(errno));
			return -1;
		}
		p->in_fd = fds[1];
		*in_child = fds[0];
		p->in_ev = event_new(base, p->in_fd, EV_WRITE | EV_PERSIST,
		    in_cb, p);
	}
	p->out_ev = event_new(base, p->out_fd, EV_READ | EV_PERSIST, out_cb,
	    p);
	p->timer = evtimer_new(base, timer_cb, p);
	if (p->out_ev == NULL || p->timer == NULL ||
	    (p->input_len > 0 && p->in_ev == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	set_prio(base, p->out_ev);
	set_prio(base, p->timer);
	if (p->in_ev != NULL)
		set_prio(base, p->in_ev);
	return 0;
}

/* The child runs: watch its exit, feed it, read it, time it. */
static int
proc_watch(struct proc *p)
{
	if (p->pr->sigchld_ev == NULL) {
		if ((p->pidfd = pidfd_open(p->pid, 0)) == -1)
			return -1;
		p->pid_ev = event_new(p->pr->base, p->pidfd, EV_READ, pid_cb,
		    p);
		if (p->pid_ev == NULL)
			return -1;
		set_prio(p->pr->base, p->pid_ev);
		if (event_add(p->pid_ev, NULL) == -1)
			return -1;
	}
	if (event_add(p->out_ev, NULL) == -1 ||
	    (p->in_ev != NULL && event_add(p->in_ev, NULL) == -1) ||
	    timer_arm(p, p->timeout_ms) == -1)
		return -1;
	return 0;
}

struct proc *
proc_start(struct proc_runner *pr, const struct proc_spec *spec,
    proc_done_fn *done, void *arg, char *err, size_t errlen)
{
	const char *envp[PROC_ENV_MAX + PROC_BASE_ENV_COUNT + 1];
	int in_child = -1, out_child = -1, rc;
	struct proc *p;

	if (pr->free_pending) {
		snprintf(err, errlen, "the process runner is shutting down");
		return NULL;
	}
	if (pr->nprocs >= pr->max_procs) {
		snprintf(err, errlen, "too many child processes (%zu) already",
		    pr->nprocs);
		return NULL;
	}
	if (spec_check(spec, err, errlen) == -1 ||
	    env_build(spec->env, envp, err, errlen) == -1)
		return NULL;
	if ((p = proc_alloc(pr, spec, done, arg)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	TAILQ_INSERT_TAIL(&pr->procs, p, entry);
	pr->nprocs++;
	rc = proc_prepare(p, &in_child, &out_child, err, errlen);
	if (rc == 0)
		rc = proc_spawn(p, spec, envp, in_child, out_child,
		    err, errlen);
	/* Only the child keeps these: our copies would hide its EOF. */
	fd_close(&in_child);
	fd_close(&out_child);
	if (rc == -1) {
		proc_release(p);
		return NULL;
	}
	p->started_ms = now_ms();
	p->state = PROC_ST_RUNNING;
	if (proc_watch(p) == -1) {
		snprintf(err, errlen, "cannot watch child %ld: %s",
		    (long)p->pid, strerror(errno));
		/* Killed, and reaped by polling if the pidfd failed. */
		if (p->pid_ev != NULL)
			event_del(p->pid_ev);
		fd_close(&p->pidfd);
		group_signal(p, SIGKILL);
		proc_reap(p);
		proc_abandon(p);
		return NULL;
	}
	return p;
}

void
proc_cancel(struct proc *p)
{
	if (p == NULL || p->delivering)
		return;
	if (proc_active(p))
		group_signal(p, SIGKILL);
	else if (p->state == PROC_ST_DONE)	/* only its result goes */
		TAILQ_REMOVE(&p->pr->done, p, qentry);
	else
		return;		/* cancelled already */
	proc_abandon(p);
}
