#!/bin/sh
# The daemon's life: start on defaults, refuse a second instance, survive
# SIGKILL without a stale lock, keep everything across restarts, reload on
# SIGHUP, refuse unusable state dirs, bad configs and newer schemas.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k.pem" -out "$T/c.pem" -subj "/CN=life.example" -days 10 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k2.pem" -out "$T/c2.pem" -subj "/CN=life2.example" -days 10 2>/dev/null

run_cf --version
expect_contains "client version" "$OUT" "certfleet "
rc=0; "$CERTFLEETD" --version >"$T/out" 2>&1 || rc=$?
expect_eq "daemon --version" "$rc" 0
rc=0; "$CERTFLEETD" --help >"$T/out" 2>&1 || rc=$?
expect_eq "daemon --help" "$rc" 0
expect_contains "daemon --help lists settings" "$(cat "$T/out")" "--state-dir"

start_daemon
run_cf --json track add --pem "$T/c.pem"
expect_eq "add" "$RC" 0
ID=$(echo "$OUT" | jq .id)

# A second instance on the same state dir refuses with one clear line.
rc=0
"$CERTFLEETD" --state-dir "$STATE" --socket "$T/other.sock" >"$T/second" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && pass || fail "second instance started"
expect_contains "second instance message" "$(cat "$T/second")" \
    "another certfleetd (pid $DAEMON_PID) holds $STATE"
# ...and so does one on another state dir that wants the same socket.
rc=0
"$CERTFLEETD" --state-dir "$T/state2" --socket "$CERTFLEET_SOCKET" >"$T/second" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && pass || fail "second instance on the same socket started"
expect_contains "same socket message" "$(cat "$T/second")" "holds $CERTFLEET_SOCKET"
run_cf status
expect_eq "first instance still serves" "$RC" 0

# SIGTERM: orderly, exit 0, socket removed.
stop_daemon TERM
expect_eq "SIGTERM exit status" "$?" 0
[ ! -e "$CERTFLEET_SOCKET" ] && pass || fail "socket left behind after SIGTERM"

# Restart keeps everything.
start_daemon
run_cf --json track show "$ID"
expect_eq "item survives restart" "$(echo "$OUT" | jq -r .common_name)" life.example

# SIGKILL right after an acknowledged write: the write is there, no stale lock.
run_cf --json track add --pem "$T/c2.pem"
ID2=$(echo "$OUT" | jq .id)
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
start_daemon
run_cf --json track show "$ID2"
expect_eq "acknowledged write survives SIGKILL" "$(echo "$OUT" | jq -r .common_name)" life2.example

# SIGHUP reloads the config file; a bad file keeps the running config.
stop_daemon
printf 'log-level = info\n' >"$T/cf.conf"
start_daemon --config "$T/cf.conf"
printf 'log-level = debug\ncommit-interval-ms = 2\n' >"$T/cf.conf"
kill -HUP "$DAEMON_PID"
wait_log "config reloaded"
expect_contains "reload logged" "$(cat "$T/daemon.log")" "config reloaded"
printf 'log-level = debug\nlog-level = info\n' >"$T/cf.conf"
kill -HUP "$DAEMON_PID"
wait_log "reload failed"
expect_contains "bad reload refused" "$(cat "$T/daemon.log")" \
    "reload failed, keeping the running config: $T/cf.conf:2: 'log-level' is set twice"
run_cf status
expect_eq "serving after a bad reload" "$RC" 0
stop_daemon

# --check-config names file and line.
printf 'state-dir = /tmp\nnonsense = 1\n' >"$T/bad.conf"
rc=0
"$CERTFLEETD" --config "$T/bad.conf" --check-config >"$T/out" 2>&1 || rc=$?
expect_eq "check-config exit" "$rc" 1
expect_eq "check-config message" "$(cat "$T/out")" \
    "certfleetd: $T/bad.conf:2: unknown setting 'nonsense'"

# An unusable state directory: one line, non-zero.
: >"$T/afile"
rc=0
"$CERTFLEETD" --state-dir "$T/afile" >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && pass || fail "started on a file as state dir"
expect_eq "unusable state dir lines" "$(wc -l <"$T/out")" 1
expect_contains "unusable state dir" "$(cat "$T/out")" "state directory $T/afile is unusable"

# A database from a newer certfleetd is refused, untouched.
sqlite3 "$STATE/certfleet.db" "PRAGMA user_version = 999"
rc=0
"$CERTFLEETD" --state-dir "$STATE" --socket "$CERTFLEET_SOCKET" >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && pass || fail "started on a newer schema"
expect_contains "newer schema" "$(cat "$T/out")" "database schema version 999 is newer"
expect_eq "newer db untouched" "$(sqlite3 "$STATE/certfleet.db" 'PRAGMA user_version')" 999

finish
