# Shared helpers for integration tests: start a real certfleetd on a fresh
# state directory, drive it with the real certfleet client, stop it by PID.
# Sourced by each tests/integration/*.sh; they run under `make check`.

set -eu

B=${CF_BUILDDIR:-$(pwd)}
S=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CERTFLEETD="$B/certfleetd"
CERTFLEET="$B/certfleet"

T=$(mktemp -d "${TMPDIR:-/tmp}/cf-it.XXXXXX")
STATE="$T/state"
export CERTFLEET_SOCKET="$T/certfleet.sock"
DAEMON_PID=
FAILS=0
CHECKS=0

cleanup() {
	stop_daemon
	rm -rf "$T"
}
trap cleanup EXIT

# start_daemon [extra flags...]: starts certfleetd and waits for its socket.
start_daemon() {
	${CF_DAEMON_WRAPPER:-} "$CERTFLEETD" --state-dir "$STATE" --socket "$CERTFLEET_SOCKET" \
	    --log-level debug "$@" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	i=0
	while ! "$CERTFLEET" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 400 ] || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "certfleetd did not start:"; cat "$T/daemon.log"
			exit 1
		fi
		sleep 0.05
	done
}

# stop_daemon [SIGNAL]: stops the daemon we started, by PID; returns its status.
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -"${1:-TERM}" "$DAEMON_PID" 2>/dev/null || true
	rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	return $rc
}

# wait_log TEXT: waits up to 20 s for TEXT in the daemon's log (slow under
# valgrind); the check that follows then reads the log.
wait_log() {
	i=0
	while ! grep -qF -- "$1" "$T/daemon.log" 2>/dev/null && [ $i -lt 400 ]; do
		i=$((i + 1))
		sleep 0.05
	done
}

pass() { CHECKS=$((CHECKS + 1)); }
fail() {
	CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1))
	echo "FAIL: $*"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then pass; else fail "$1: got [$2], want [$3]"; fi
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
	case "$2" in
	*"$3"*) pass ;;
	*) fail "$1: [$2] does not contain [$3]" ;;
	esac
}

# run_cf VAR_PREFIX args...: runs certfleet; sets OUT, ERR, RC.
run_cf() {
	RC=0
	"$CERTFLEET" "$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# finish: prints the tally and exits non-zero on any failure.
finish() {
	# A daemon still running must stop cleanly: sanitizers and valgrind
	# report leaks and errors through its exit status.
	if [ -n "$DAEMON_PID" ]; then
		rc=0
		stop_daemon || rc=$?
		expect_eq "daemon exit status" "$rc" 0
	fi
	echo "$CHECKS checks, $FAILS failed"
	if [ "$FAILS" -ne 0 ]; then
		echo "--- daemon log ---"; tail -50 "$T/daemon.log" 2>/dev/null || true
		exit 1
	fi
	exit 0
}
