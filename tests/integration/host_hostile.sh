#!/bin/sh
# Hostile TLS endpoints on loopback (tests/integration/tlsserver.py): a
# server that never speaks, one that answers garbage, one that closes at
# once, one that trickles a byte a second, one presenting a chain far over
# the 128 KiB limit, and one whose accept queue is full.  Each probe must
# fail with "Unable to retrieve SSL Details (cause)" within its time limit
# and store nothing, and the daemon must stay responsive and small while 50
# probes hang on the silent server.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.31
NOW=$(date -u +%s)
NODATA="Unable to retrieve SSL Details"

make_ca
make_leaf huge "/CN=huge.test" "DNS:huge.test" $((NOW - 3600)) $((NOW + 90 * 86400))

must_start_server silent $A 0
SILENT=$SRV_PORT
must_start_server garbage $A 0
GARBAGE=$SRV_PORT
must_start_server close $A 0
CLOSE=$SRV_PORT
must_start_server trickle $A 0
TRICKLE=$SRV_PORT
must_start_server hugechain $A 0 --cert "$P/huge.chain.pem" --key "$P/huge.key" \
    --log "$T/huge.log"
HUGE=$SRV_PORT
must_start_server tls $A 0 --cert "$P/huge.chain.pem" --key "$P/huge.key"
GOOD=$SRV_PORT

start_daemon --ca-file "$P/root.pem" --probe-timeout 3

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$DAEMON_PID/status"; }
alive() {
	if kill -0 "$DAEMON_PID" 2>/dev/null; then pass; else fail "$1: the daemon died"; fi
}

# hostile NAME PORT GLOB MIN_MS MAX_MS: track add fails with a message
# matching "certfleet: Unable to retrieve SSL Details (GLOB)" after
# MIN_MS..MAX_MS, nothing is stored, and the daemon still answers.
hostile() {
	n=$1
	list0=$("$CERTFLEET" --json track list | jq -c '[.[].id]')
	t0=$(now_ms)
	run_cf track add --host "$A:$2" --sni huge.test
	el=$(($(now_ms) - t0))
	[ -z "${CF_VERBOSE:-}" ] || echo "$n: $el ms: $ERR"
	expect_eq "$n: exit" "$RC" 1
	# $3 is a pattern: left unquoted on purpose.
	# shellcheck disable=SC2027,SC2254
	case $ERR in
	"certfleet: $NODATA ("$3")") pass ;;
	*) fail "$n: message [$ERR] does not match [certfleet: $NODATA ($3)]" ;;
	esac
	expect_eq "$n: stdout" "$OUT" ""
	if [ "$el" -ge "$4" ] && [ "$el" -le "$5" ]; then pass
	else fail "$n: took $el ms, want $4..$5 ms"; fi
	expect_eq "$n: nothing stored" "$("$CERTFLEET" --json track list | jq -c '[.[].id]')" "$list0"
	alive "$n"
	run_cf status
	expect_eq "$n: status answers" "$RC" 0
}

# The whole-probe deadline ends a silent peer and a trickling one alike: a
# byte a second never resets it.
hostile silent "$SILENT" "timed out after 3 s" 2500 5000
hostile trickle "$TRICKLE" "timed out after 3 s" 2500 5000
hostile garbage "$GARBAGE" "TLS handshake failed: *" 0 2500
hostile close "$CLOSE" "TLS handshake failed: *" 0 2500
hostile hugechain "$HUGE" "TLS handshake failed: excessive message size" 0 2500
expect_eq "hugechain: one connection" "$(grep -c '^accept ' "$T/huge.log")" 1
expect_eq "hugechain: the probe gave up on the chain" "$(grep -c '^hsfail ' "$T/huge.log")" 1

# Nothing hostile left a mark on the good path.
run_cf --json track add --host "$A:$GOOD" --sni huge.test
expect_eq "good after hostile: exit" "$RC" 0
expect_eq "good after hostile: chain_valid" "$(printf '%s\n' "$OUT" | jq .chain_valid)" true
GOOD_ID=$(printf '%s\n' "$OUT" | jq .id)

# --- 50 probes hanging on the silent server ------------------------------------

i=1
: >"$T/fifty"
while [ $i -le 50 ]; do
	echo "$A:$SILENT s$i.hostile.test" >>"$T/fifty"
	i=$((i + 1))
done
RSS0=$(rss_kb)
t0=$(now_ms)
"$CERTFLEET" --json track import "$T/fifty" >"$T/import.out" 2>"$T/import.err" &
IMPORT_PID=$!
# Wait until the probes are under way (the silent server has accepted them
# or the import is over), then ask the daemon for its status while they hang.
sleep 0.5
n=0 slow=0 maxms=0 maxrss=0
while kill -0 "$IMPORT_PID" 2>/dev/null && [ $n -lt 20 ]; do
	s0=$(now_ms)
	if "$CERTFLEET" status >/dev/null 2>&1; then :; else slow=$((slow + 1)); fi
	ms=$(($(now_ms) - s0))
	[ "$ms" -gt "$maxms" ] && maxms=$ms
	[ "$ms" -ge 1000 ] && slow=$((slow + 1))
	r=$(rss_kb)
	[ "${r:-0}" -gt "$maxrss" ] && maxrss=$r
	n=$((n + 1))
	sleep 0.1
done
if [ $n -ge 3 ]; then pass; else fail "import ended before status could be asked ($n times)"; fi
expect_eq "status during 50 hanging probes: answered in < 1 s every time (max $maxms ms)" "$slow" 0
expect_le "RSS during 50 hanging probes < 100 MB (${maxrss} kB)" "$maxrss" 102400
run_cf --json track list
expect_eq "track list answers during the import" "$RC" 0
rc=0
wait "$IMPORT_PID" || rc=$?
el=$(($(now_ms) - t0))
case $rc in 0|1) pass ;; *) fail "import: exit $rc" ;; esac
expect_eq "import of 50: summary" "$(jq -c . "$T/import.out")" \
    '{"probed":50,"ok":0,"failed":50,"added":50,"updated":0,"causes":{"timed out after 3 s":50}}'
# Concurrent: about one timeout in all, not fifty.
if [ "$el" -ge 2500 ] && [ "$el" -le 8000 ]; then pass
else fail "import of 50 silent targets took $el ms, want about 3 s"; fi
expect_contains "import: progress on stderr" "$(cat "$T/import.err")" "50"
LIST=$("$CERTFLEET" --json track list)
expect_eq "50 failed targets stored" \
    "$(printf '%s\n' "$LIST" | jq '[.[] | select(.port != null and .sni != null and (.sni | test("hostile")))] | length')" 50
expect_eq "all with status error" \
    "$(printf '%s\n' "$LIST" | jq '[.[] | select(.sni != null and (.sni | test("hostile"))) | .status] | unique | join(",")' -r)" error
expect_eq "all with one failure" \
    "$(printf '%s\n' "$LIST" | jq '[.[] | select(.sni != null and (.sni | test("hostile"))) | .check_failures] | unique | map(tostring) | join(",")' -r)" 1
expect_contains "error says the cause" \
    "$(printf '%s\n' "$LIST" | jq -r '[.[] | select(.sni == "s1.hostile.test")][0].error')" \
    "$NODATA (timed out after 3 s)"

# The same 50 again: updated in place, and the daemon still small.
run_cf --json track import "$T/fifty"
expect_eq "re-import of 50: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":50,"ok":0,"failed":50,"added":0,"updated":50,"causes":{"timed out after 3 s":50}}'
expect_eq "re-import: no duplicates" "$("$CERTFLEET" --json track list | jq length)" \
    "$(printf '%s\n' "$LIST" | jq length)"
expect_le "RSS after the imports < 100 MB ($(rss_kb) kB, was $RSS0 kB)" "$(rss_kb)" 102400

# check --all: the 50 hanging and the good one, concurrently.
t0=$(now_ms)
run_cf --json track check --all
el=$(($(now_ms) - t0))
expect_eq "check --all: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":51,"ok":1,"failed":50,"causes":{"timed out after 3 s":50}}'
if [ "$el" -le 8000 ]; then pass; else fail "check --all took $el ms"; fi
show "$GOOD_ID"
expect_eq "good item still valid" "$(jf status)" valid
alive "after the bulk runs"

# --- step timeouts, DNS, concurrency ---------------------------------------------

# With a short handshake limit the handshake step times out first; with a
# short connect limit a peer whose accept queue is full times out
# connecting; a resolver that never answers runs into the whole-probe
# deadline; at most --probe-concurrency probes hold a connection at once.
must_start_server dnssilent 127.0.0.1 0 --log "$T/dnssilent.log"
BLACKHOLE=$SRV_PORT
must_start_server silent $A 0 --log "$T/silent2.log"
SILENT2=$SRV_PORT
stop_daemon
start_daemon --ca-file "$P/root.pem" --probe-timeout 2 \
    --probe-handshake-timeout 1 --probe-connect-timeout 1 \
    --probe-concurrency 5 --dns-resolver "127.0.0.1:$BLACKHOLE"
hostile handshake-timeout "$SILENT" "timed out after 1 s in the TLS handshake" 700 2000
hostile trickle-handshake-timeout "$TRICKLE" "timed out after 1 s in the TLS handshake" 700 2000
if start_server backlog $A 0; then
	hostile connect-timeout "$SRV_PORT" "connect timed out" 700 2000
	stop_server "$SRV_PID"
else
	echo "SKIP: connect timeout: cannot fill an accept queue ($SRV_ERR)"
fi

NF="SSL Certificate not found. Please check spelling and try again."
t0=$(now_ms)
run_cf track add --host nowhere.test
el=$(($(now_ms) - t0))
[ -z "${CF_VERBOSE:-}" ] || echo "dns-blackhole: $el ms: $ERR"
expect_eq "dns-blackhole: exit" "$RC" 1
case $ERR in
"certfleet: $NF ("*")") pass ;;
*) fail "dns-blackhole: message [$ERR] is not [certfleet: $NF (...)]" ;;
esac
if [ "$el" -ge 1500 ] && [ "$el" -le 3500 ]; then pass
else fail "dns-blackhole: took $el ms with --probe-timeout 2"; fi
if grep -q '^dropped ' "$T/dnssilent.log"; then pass
else fail "dns-blackhole: the resolver was never asked"; fi

i=1
: >"$T/ten"
while [ $i -le 10 ]; do
	echo "$A:$SILENT2 c$i.hostile.test" >>"$T/ten"
	i=$((i + 1))
done
t0=$(now_ms)
run_cf --json track import "$T/ten"
el=$(($(now_ms) - t0))
expect_eq "concurrency 5: import summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":10,"ok":0,"failed":10,"added":10,"updated":0,"causes":{"timed out after 1 s in the TLS handshake":10}}'
# Two waves of five one-second probes.
if [ "$el" -ge 1800 ] && [ "$el" -le 5000 ]; then pass
else fail "concurrency 5: 10 one-second probes took $el ms, want about 2 s"; fi
expect_eq "concurrency 5: connections in the first wave" \
    "$(awk '$1 == "accept" { if (!t0) t0 = $2; if ($2 < t0 + 0.8) n++ } END { print n + 0 }' "$T/silent2.log")" 5
expect_eq "concurrency 5: connections in all" "$(grep -c '^accept ' "$T/silent2.log")" 10

# The defaults: a silent peer is given up after 10 s.  A resolver on a
# closed port fails at once.
CLOSEDUDP=$(free_port 127.0.0.1)
stop_daemon
start_daemon --ca-file "$P/root.pem" --dns-resolver "127.0.0.1:$CLOSEDUDP"
hostile default-timeout "$SILENT" "timed out after 10 s" 9500 12500
t0=$(now_ms)
run_cf track add --host nowhere.test
el=$(($(now_ms) - t0))
[ -z "${CF_VERBOSE:-}" ] || echo "dns-refused: $el ms: $ERR"
expect_eq "dns-refused: exit" "$RC" 1
case $ERR in
"certfleet: $NF ("*")") pass ;;
*) fail "dns-refused: message [$ERR] is not [certfleet: $NF (...)]" ;;
esac
if [ "$el" -le 2000 ]; then pass; else fail "dns-refused: took $el ms"; fi

# The handshake window: with one slot, connected probes wait their turn with
# nothing sent, and every one still finishes: the wait for our own slot is
# not counted against a probe's deadline, so a silent peer holding the slot
# costs the others only its own timeout.
stop_daemon
start_daemon --ca-file "$P/root.pem" --probe-handshakes 1 --probe-timeout 4
: >"$T/window"
echo "$A:$SILENT w0.hostile.test" >>"$T/window"
for n in 1 2 3 4 5 6; do echo "$A:$GOOD w$n.huge.test" >>"$T/window"; done
t0=$(now_ms)
run_cf --json track import "$T/window"
el=$(($(now_ms) - t0))
expect_eq "handshake window 1: summary" \
    "$(printf '%s\n' "$OUT" | jq -c '{probed, ok, failed}')" \
    '{"probed":7,"ok":6,"failed":1}'
if [ "$el" -le 4500 ]; then pass
else fail "handshake window 1: 7 probes took $el ms, want one 4 s timeout at most"; fi

alive "at the end"
run_cf --json status
expect_eq "status at the end" "$RC" 0
expect_le "RSS at the end < 100 MB ($(rss_kb) kB)" "$(rss_kb)" 102400
finish
