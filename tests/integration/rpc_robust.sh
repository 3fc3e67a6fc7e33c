#!/bin/sh
# A client that sends garbage, half a frame, an oversized or hostile frame,
# or hangs up mid-request affects no one else; many clients work at once;
# roles follow the peer's credentials.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

RAW="python3 $S/tests/integration/rawframe.py $CERTFLEET_SOCKET"
start_daemon

# Half a frame held open must not delay another client.
$RAW half-frame 3 &
holder=$!
sleep 0.2
start=$(date +%s%N)
run_cf status
end=$(date +%s%N)
expect_eq "status beside a half frame" "$RC" 0
ms=$(( (end - start) / 1000000 ))
[ "$ms" -lt 1000 ] && pass || fail "status took ${ms} ms beside a half frame"
wait $holder

for c in garbage oversize bomb deep unknown-method bad-params unknown-param \
    not-request hangup-mid-request; do
	rc=0
	$RAW $c >"$T/raw.out" 2>&1 || rc=$?
	expect_eq "raw case $c" "$rc" 0
	[ "$rc" -eq 0 ] || cat "$T/raw.out"
	run_cf status
	expect_eq "daemon answers after $c" "$RC" 0
done

# The count bomb must not have cost real memory.
rss=$(awk '/VmHWM/ {print $2}' /proc/$DAEMON_PID/status)
[ "$rss" -lt 102400 ] && pass || fail "peak RSS ${rss} KiB after hostile frames"

rc=0
$RAW pipeline 2000 >"$T/raw.out" 2>&1 || rc=$?
expect_eq "2000 pipelined requests answered" "$rc" 0

# Twenty clients adding at once: every answer arrives, every row is there.
i=0
while [ $i -lt 20 ]; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/k$i.pem" -out "$T/c$i.pem" -subj "/CN=c$i.example" \
	    -days 10 2>/dev/null
	i=$((i + 1))
done
pids=
i=0
while [ $i -lt 20 ]; do
	"$CERTFLEET" --json track add --pem "$T/c$i.pem" >"$T/add$i.out" 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
expect_eq "concurrent adds that failed" "$bad" 0
run_cf --json track list
expect_eq "items after concurrent adds" "$(echo "$OUT" | jq length)" 20
expect_eq "distinct ids" "$(echo "$OUT" | jq '[.[].id] | unique | length')" 20

# Roles: the socket is 0660; a stranger cannot even connect...
expect_eq "socket mode" "$(stat -c %a "$CERTFLEET_SOCKET")" 660
chmod 0755 "$T"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$CERTFLEET" status >"$T/out" 2>"$T/err" || rc=$?
expect_eq "stranger exit code" "$rc" 3
expect_eq "stranger error lines" "$(wc -l <"$T/err")" 1
# ...and is refused by role when the mode is widened by hand.
chmod 0666 "$CERTFLEET_SOCKET"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$CERTFLEET" status >"$T/out" 2>"$T/err" || rc=$?
expect_eq "stranger refused by role" "$rc" 1
expect_contains "stranger message" "$(cat "$T/err")" "permission denied"
# A member of the socket's group is an operator.
rc=0
setpriv --reuid=nobody --regid="$(id -g)" --clear-groups \
    "$CERTFLEET" --json status >"$T/out" 2>"$T/err" || rc=$?
expect_eq "operator status" "$rc" 0
expect_eq "operator role" "$(jq -r .role "$T/out")" operator
run_cf --json status
expect_eq "admin role" "$(echo "$OUT" | jq -r .role)" admin

stop_daemon
expect_eq "clean exit" "$?" 0
finish
