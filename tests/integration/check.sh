#!/bin/sh
# `certfleet check`, the Monitoring Plugins check, end to end through the
# read-only monitor socket: the exact status line, perfdata and exit code
# for OK, WARNING and CRITICAL by days (given and default thresholds, a
# 6-day certificate's scaled ones), an expired certificate (a past notAfter,
# and the daemon's clock moved past another), a live host probed afresh
# (trusted, untrusted, wrong name, closed port; nothing saved), a tracked
# host whose server went away, --all with its counts and -v lines, a
# hostile CN that stays one clean line, --json, and UNKNOWN (exit 3) for
# everything that is not a verdict: no such item, bad arguments, no answer
# in time, no daemon.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.1
NOW=$(date -u +%s)
DAY=86400
MON="$T/mon.sock"
HOSTILE_CERT="$S/tests/integration/hostile_cert.py"

# --- certificates -------------------------------------------------------------
make_ca
# 90 days, an hour old: 89 days left whenever this runs.
make_leaf ok "/CN=ok.check.test" "DNS:ok.check.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_leaf live "/CN=live.check.test" "DNS:live.check.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_leaf expired "/CN=expired.check.test" "DNS:expired.check.test" \
    1577836800 1580515200			# 2020-01-01 .. 2020-02-01
make_leaf imp "/CN=imp.check.test" "DNS:imp.check.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_leaf spare "/CN=spare.check.test" "DNS:spare.check.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_selfsigned self "/CN=self.check.test" "DNS:self.check.test" 90
# A 6-day certificate, as the brief of the check has it.
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$P/six.key" -out "$P/six.pem" -days 6 -subj "/CN=six.check.test"
# A CN holding a newline, '|', U+202E and an escape sequence; 100 days of
# life with 20 (less an hour) left: WARNING by the default 30 days.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/hx.key" 2>/dev/null
HX_CN=$(printf 'evil\n|\342\200\256.check.test\033[2J' | od -An -tx1 | tr -d ' \n')
"$PYTHON" "$HOSTILE_CERT" --key "$T/hx.key" --out "$P/hx.pem" \
    --subject "CN:utf8:$HX_CN" \
    --not-before $((NOW - 80 * DAY - 3600)) --not-after $((NOW + 20 * DAY - 3600))
HX_SHOWN='evil\x0a/\u202e.check.test\x1b[2J'

# notafter FILE: notAfter in epoch seconds; ymd EPOCH: its UTC date.
notafter() { ossl_epoch "$1" enddate; }
ymd() { date -u -d "@$1" +%Y-%m-%d; }
# floor_days EPOCH: days left until EPOCH from now, rounded down.
floor_days() {
	s=$(($1 - $(date -u +%s)))
	if [ "$s" -ge 0 ]; then echo $((s / DAY)); else echo $((-((-s + DAY - 1) / DAY))); fi
}

# --- servers and the daemon ---------------------------------------------------
VH="--vhost self.check.test=$P/self.chain.pem,$P/self.key"
# shellcheck disable=SC2086
must_start_server tls $A 0 --cert "$P/live.chain.pem" --key "$P/live.key" $VH
LIVE=$SRV_PORT
must_start_server tls $A 0 --cert "$P/live.chain.pem" --key "$P/live.key"
DOOMED_PID=$SRV_PID DOOMED=$SRV_PORT
CLOSED=$(free_port $A)

start_daemon --monitor-socket "$MON" --test-hooks yes --ca-file "$P/root.pem" \
    --probe-timeout 3

# Items are added on the admin socket; every check goes through the
# monitor socket.
add_pem() { "$CERTFLEET" --json track add --pem "$1" | jq -r .id; }
OK_ID=$(add_pem "$P/ok.pem")
SIX_ID=$(add_pem "$P/six.pem")
EXP_ID=$(add_pem "$P/expired.pem")
HX_ID=$(add_pem "$P/hx.pem")
SPARE_ID=$(add_pem "$P/spare.pem")
run_cf --json track add --host "$A:$DOOMED" --sni live.check.test
expect_eq "track add the doomed host" "$RC" 0
DOOMED_ID=$(printf '%s\n' "$OUT" | jq -r .id)

# chk ARGS...: `certfleet check` on the monitor socket; sets OUT, ERR, RC.
chk() { run_cf --socket "$MON" check "$@"; }
# expect_line WHAT WANT_RC WANT_LINE: the output is exactly that one line.
expect_line() {
	expect_eq "$1: exit" "$RC" "$2"
	expect_eq "$1: line" "$OUT" "$3"
}

# --- OK, WARNING, CRITICAL by days -------------------------------------------
OK_NA=$(notafter "$P/ok.pem")
OK_DATE=$(ymd "$OK_NA")
chk --item "$OK_ID"
expect_line "ok" 0 \
    "CERTFLEET OK - ok.check.test expires in 89 days ($OK_DATE) | 'days'=89;30;14;0;"
expect_eq "ok: stderr" "$ERR" ""
chk --item "$OK_ID" -w 100
expect_line "-w 100" 1 \
    "CERTFLEET WARNING - ok.check.test expires in 89 days ($OK_DATE) | 'days'=89;100;14;0;"
chk --item "$OK_ID" --warning 100 --critical 95
expect_line "-w 100 -c 95" 2 \
    "CERTFLEET CRITICAL - ok.check.test expires in 89 days ($OK_DATE) | 'days'=89;100;95;0;"
chk --item "$OK_ID" -w 89 -c 89
expect_line "-w 89 -c 89 (89 days and hours left)" 0 \
    "CERTFLEET OK - ok.check.test expires in 89 days ($OK_DATE) | 'days'=89;89;89;0;"

# A 6-day certificate: warns at 1 day, critical only once expired.
SIX_NA=$(notafter "$P/six.pem")
d1=$(floor_days "$SIX_NA")
chk --item "$SIX_ID"
d2=$(floor_days "$SIX_NA")
six_line() { echo "CERTFLEET OK - six.check.test expires in $1 days ($(ymd "$SIX_NA")) | 'days'=$1;1;;0;"; }
want=$(six_line "$d1")
[ "$OUT" != "$want" ] && [ "$d1" != "$d2" ] && want=$(six_line "$d2")
expect_line "6-day" 0 "$want"

# --- expired ----------------------------------------------------------------
EXP_NA=$(notafter "$P/expired.pem")
# "expired N days ago": whole days since notAfter (a floor); the perfdata's
# days left is a floor too, so one more (negative) unless exactly N days.
exp_line() {
	ago=$(( ($(date -u +%s) - EXP_NA) / DAY ))
	echo "CERTFLEET CRITICAL - expired.check.test expired $ago days ago (2020-02-01) | 'days'=$(floor_days "$EXP_NA");7;3;0;"
}
w1=$(exp_line)
chk --item "$EXP_ID"
w2=$(exp_line)
# 31 days of life: the default thresholds step down to 7 and 3.
want=$w1
[ "$OUT" != "$want" ] && want=$w2
expect_line "expired notAfter" 2 "$want"

# The daemon's clock moved 2 days and an hour past the 6-day certificate's
# notAfter: days_left is -3 (a floor), and it is critical.
run_cf debug clock $((SIX_NA - $(date -u +%s) + 2 * DAY + 3600))
expect_eq "debug clock: exit" "$RC" 0
chk --item "$SIX_ID"
expect_line "6-day past notAfter" 2 \
    "CERTFLEET CRITICAL - six.check.test expired 2 days ago ($(ymd "$SIX_NA")) | 'days'=-3;1;;0;"
# The 90-day one with 10 days less an hour left: critical by the default 14.
run_cf debug clock $((OK_NA - $(date -u +%s) - 10 * DAY + 3600))
chk --item "$OK_ID"
expect_line "ok with 9 days left" 2 \
    "CERTFLEET CRITICAL - ok.check.test expires in 9 days ($OK_DATE) | 'days'=9;30;14;0;"
run_cf debug clock 0
expect_eq "debug clock 0: exit" "$RC" 0
chk --item "$SIX_ID"
expect_eq "6-day, clock reset: exit" "$RC" 0
# The monitor socket cannot move the clock.
run_cf --socket "$MON" debug clock 10
expect_eq "debug clock on the monitor socket: refused" "$RC" 1

# --- a host probed afresh: nothing saved --------------------------------------
# A probe connects anywhere: not a read, so the monitor socket refuses it
# (UNKNOWN) and the operator's socket runs it.
chk --host "$A:$LIVE" --sni live.check.test
expect_line "--host on the monitor socket" 3 \
    "CERTFLEET UNKNOWN - permission denied: probing a host needs the operator role (the monitor socket checks tracked items)"
chk() { run_cf check "$@"; }
IDS_BEFORE=$(list_ids)
LIVE_NA=$(notafter "$P/live.pem")
chk --host "$A:$LIVE" --sni live.check.test
expect_line "live host" 0 \
    "CERTFLEET OK - live.check.test:$LIVE expires in 89 days ($(ymd "$LIVE_NA")) | 'days'=89;30;14;0;"
chk --host "$A:$LIVE" --sni live.check.test -w 100
expect_line "live host -w 100" 1 \
    "CERTFLEET WARNING - live.check.test:$LIVE expires in 89 days ($(ymd "$LIVE_NA")) | 'days'=89;100;14;0;"
chk --host "$A:$LIVE" --sni other.check.test
expect_line "name mismatch" 2 \
    "CERTFLEET CRITICAL - other.check.test:$LIVE: the certificate does not match the name | 'days'=89;30;14;0;"
chk --host "$A:$LIVE" --sni self.check.test
expect_eq "untrusted chain: exit" "$RC" 2
expect_contains "untrusted chain: line" "$OUT" \
    "CERTFLEET CRITICAL - self.check.test:$LIVE: chain not trusted: "
chk --host "$A:$CLOSED"
expect_line "closed port" 2 \
    "CERTFLEET CRITICAL - $A:$CLOSED: no certificate: connection refused"
expect_eq "host checks saved nothing" "$(list_ids)" "$IDS_BEFORE"
chk() { run_cf --socket "$MON" check "$@"; }

# --- a tracked host whose server went away ------------------------------------
chk --item "$DOOMED_ID"
expect_line "tracked host, up" 0 \
    "CERTFLEET OK - live.check.test:$DOOMED expires in 89 days ($(ymd "$LIVE_NA")) | 'days'=89;30;14;0;"
stop_server "$DOOMED_PID"
run_cf track check "$DOOMED_ID"
chk --item "$DOOMED_ID"
expect_eq "tracked host, down: exit" "$RC" 2
case $OUT in
"CERTFLEET CRITICAL - live.check.test:$DOOMED: the last check failed: "*"connection refused"*" | 'days'=89;30;14;0;")
	pass ;;
*) fail "tracked host, down: line [$OUT]" ;;
esac

# --- a hostile CN -------------------------------------------------------------
HX_NA=$(notafter "$P/hx.pem")
chk --item "$HX_ID"
expect_line "hostile CN" 1 \
    "CERTFLEET WARNING - $HX_SHOWN expires in 19 days ($(ymd "$HX_NA")) | 'days'=19;30;14;0;"
expect_eq "hostile CN: one line" "$(wc -l <"$T/out" | tr -d ' ')" 1
expect_eq "hostile CN: one '|', the perfdata's" "$(tr -cd '|' <"$T/out")" "|"
expect_eq "hostile CN: no control byte" \
    "$(tr -d '\n' <"$T/out" | od -An -tx1 | tr ' ' '\n' | grep -c '^[01][0-9a-f]$\|^7f$' || true)" 0
expect_eq "hostile CN: no raw U+202E" "$(grep -c "$(printf '\342\200\256')" "$T/out" || true)" 0

# The daemon's summary is escaped at the source, not only by the client.
run_cf --socket "$MON" --json check --item "$HX_ID"
expect_eq "hostile CN: JSON summary" "$(printf '%s\n' "$OUT" | jq -r .summary)" \
    "evil\\x0a|\\u202e.check.test\\x1b[2J expires in 19 days ($(ymd "$HX_NA"))"

# --- managed certificates ------------------------------------------------------
# An imported one is judged like any other; a draft has no certificate:
# UNKNOWN, without perfdata.  The draft's CA profile points at loopback.
run_cf --json cert import --cert "$P/imp.pem" --key "$P/imp.key" --chain "$P/inter.pem"
expect_eq "cert import" "$RC" 0
IMP_ID=$(printf '%s\n' "$OUT" | jq -r .id)
chk --cert "$IMP_ID"
expect_line "--cert" 0 \
    "CERTFLEET OK - imp.check.test expires in 89 days ($(ymd "$(notafter "$P/imp.pem")")) | 'days'=89;30;14;0;"
chk --cert "$IMP_ID" -w 90 -c 30
expect_line "--cert -w 90 -c 30" 1 \
    "CERTFLEET WARNING - imp.check.test expires in 89 days ($(ymd "$(notafter "$P/imp.pem")")) | 'days'=89;90;30;0;"
"$CERTFLEET" ca add loop --directory "https://127.0.0.1:9/directory" >/dev/null
run_cf --json cert create --domain draft.check.test --ca loop --agree-tos
expect_eq "cert create (a draft)" "$RC" 0
DRAFT_ID=$(printf '%s\n' "$OUT" | jq -r .id)
chk --cert "$DRAFT_ID"
expect_line "--cert on a draft" 3 "CERTFLEET UNKNOWN - draft.check.test: no certificate yet"

# --- the fleet ----------------------------------------------------------------
# ok, six, imp: OK; hx: WARNING; expired, doomed: CRITICAL; spare: OK until
# deactivated; the draft is left out.
fleet_line() { # CRIT WARN UNKNOWN OK STATE
	echo "CERTFLEET $5 - $(($1 + $2 + $3 + $4)) certificates: $1 critical, $2 warning, $3 unknown, $4 ok | 'ok'=$4;;;0; 'warning'=$2;;;0; 'critical'=$1;;;0; 'unknown'=$3;;;0;"
}
chk --all
expect_line "--all" 2 "$(fleet_line 2 1 0 4 CRITICAL)"
"$CERTFLEET" track deactivate "$SPARE_ID" >/dev/null
chk --all
expect_line "--all, spare deactivated" 2 "$(fleet_line 2 1 0 3 CRITICAL)"
chk --all -v
expect_eq "--all -v: exit" "$RC" 2
expect_eq "--all -v: lines" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 4
expect_eq "--all -v: first line" "$(printf '%s\n' "$OUT" | sed -n 1p)" \
    "$(fleet_line 2 1 0 3 CRITICAL)"
expect_eq "--all -v: expired" "$(printf '%s\n' "$OUT" | grep -c "^CRITICAL: pem $EXP_ID: ")" 1
expect_contains "--all -v: expired line" "$OUT" \
    "CRITICAL: pem $EXP_ID: expired.check.test expired "
expect_contains "--all -v: hostile line" "$OUT" \
    "WARNING: pem $HX_ID: $HX_SHOWN expires in 19 days ($(ymd "$HX_NA"))"
expect_contains "--all -v: doomed line" "$OUT" \
    "CRITICAL: host $DOOMED_ID: live.check.test:$DOOMED: the last check failed"
expect_eq "--all -v: no control byte" \
    "$(tr -d '\n' <"$T/out" | od -An -tx1 | tr ' ' '\n' | grep -c '^[01][0-9a-f]$\|^7f$' || true)" 0
# Given thresholds apply to every item: -w 100 makes the OK ones warn.
chk --all -w 100 -c 0
expect_line "--all -w 100 -c 0" 2 "$(fleet_line 2 4 0 0 CRITICAL)"

# --- --json -------------------------------------------------------------------
run_cf --socket "$MON" --json check --item "$OK_ID" -w 100
expect_eq "--json: exit" "$RC" 1
expect_eq "--json: fields" "$(printf '%s\n' "$OUT" | jq -c '[.state, .status, .summary, .days_left, .thresholds.warning, .thresholds.critical]')" \
    "[1,\"WARNING\",\"ok.check.test expires in 89 days ($OK_DATE)\",89,100,14]"
run_cf --socket "$MON" --json check --all
expect_eq "--json --all: exit" "$RC" 2
expect_eq "--json --all: counts" "$(printf '%s\n' "$OUT" | jq -c '[.status, .items, .counts.OK, .counts.WARNING, .counts.CRITICAL, .counts.UNKNOWN]')" \
    '["CRITICAL",6,3,1,2,0]'

# --- a tracked host due for replacement ---------------------------------------
# Two thirds of its life gone (and the days still above -w): WARNING,
# renewal overdue; a minute before, OK.
run_cf --json track add --host "$A:$LIVE" --sni live.check.test
expect_eq "track add the live host" "$RC" 0
LIVE_ID=$(printf '%s\n' "$OUT" | jq -r .id)
LIVE_NB=$(ossl_epoch "$P/live.pem" startdate)
DUE=$((LIVE_NB + (LIVE_NA - LIVE_NB + 1) * 2 / 3))
"$CERTFLEET" debug clock $((DUE - 60 - $(date -u +%s))) >/dev/null
chk --item "$LIVE_ID" -w 20 -c 10
expect_line "before two thirds" 0 \
    "CERTFLEET OK - live.check.test:$LIVE expires in 30 days ($(ymd "$LIVE_NA")) | 'days'=30;20;10;0;"
"$CERTFLEET" debug clock $((DUE + 60 - $(date -u +%s))) >/dev/null
chk --item "$LIVE_ID" -w 20 -c 10
expect_line "renewal overdue" 1 \
    "CERTFLEET WARNING - live.check.test:$LIVE: renewal overdue, expires in 29 days ($(ymd "$LIVE_NA")) | 'days'=29;20;10;0;"
"$CERTFLEET" debug clock 0 >/dev/null
"$CERTFLEET" track deactivate "$LIVE_ID" >/dev/null

# --- UNKNOWN: not a verdict ---------------------------------------------------
chk --item 999
expect_line "no such item" 3 "CERTFLEET UNKNOWN - no tracked item 999"
chk --cert 999
expect_eq "no such cert: exit" "$RC" 3
expect_contains "no such cert: line" "$OUT" "CERTFLEET UNKNOWN - "
chk --bogus
expect_line "--bogus" 3 \
    "CERTFLEET UNKNOWN - check: unknown option '--bogus' (certfleet check --help)"
chk --item "$OK_ID" --all
expect_line "two forms" 3 \
    "CERTFLEET UNKNOWN - check: give one of --item, --cert, --host or --all"
chk
expect_line "no form" 3 \
    "CERTFLEET UNKNOWN - check: give one of --item, --cert, --host or --all"
chk --item "$OK_ID" -c 20 -w 10
expect_line "-c above -w" 3 "CERTFLEET UNKNOWN - check: -c (20) must not exceed -w (10)"
chk --item "$OK_ID" --sni live.check.test
expect_line "--sni without --host" 3 "CERTFLEET UNKNOWN - check: --sni goes with --host"
chk --item "$OK_ID" -w -1
expect_line "-w -1" 3 "CERTFLEET UNKNOWN - -w needs days, 0..3650"
chk --item "$OK_ID" -t 0
expect_line "-t 0" 3 "CERTFLEET UNKNOWN - -t needs seconds, 1..3600"
chk --item "$OK_ID" extra
expect_line "an extra argument" 3 "CERTFLEET UNKNOWN - check: unexpected argument 'extra'"

# A stand-in for certfleetd on a unix socket: "silent" accepts and never
# answers; "replies" answers the Nth connection's request with the Nth
# canned result (frames: 4-byte length, msgpack [1, 0, error, result]), so
# the client's own escaping is tested against a daemon that does not escape.
cat >"$T/fake.py" <<'PYEOF'
import socket, struct, sys

def mp(v):
    if v is None:
        return b"\xc0"
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(mp(x) for x in v)
    return b"\xdf" + struct.pack(">I", len(v)) + b"".join(
        mp(k) + mp(x) for k, x in v.items())

HOSTILE = "bad\nname|x\u202e\x1b[2J\x7f\u0085"
REPLIES = [
    (None, {"state": 1, "status": "WARNING", "days_left": 5,
            "summary": HOSTILE + " expires in 5 days (2027-01-01)",
            "thresholds": {"warning": 30, "critical": 14},
            "not_after": "2027-01-01T00:00:00Z"}),
    (None, {"state": 2, "status": "CRITICAL", "items": 1,
            "counts": {"OK": 0, "WARNING": 0, "CRITICAL": 1, "UNKNOWN": 0},
            "problems": [{"state": 2, "source": "pem\r\nX", "id": 7,
                          "summary": HOSTILE}]}),
    (None, {"state": 9, "summary": "odd", "not_after": None}),
    ({"code": 5, "message": "no\nway\u202e"}, None),
]

s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("ready", flush=True)
held = []
for n in range(1000):
    c = s.accept()[0]
    held.append(c)
    if sys.argv[2] == "silent":
        continue
    hdr = c.recv(4, socket.MSG_WAITALL)
    c.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL)
    err, res = REPLIES[n % len(REPLIES)]
    body = b"\x94\x01\x00" + mp(err) + mp(res)
    c.sendall(struct.pack(">I", len(body)) + body)
PYEOF
# fake SOCKET MODE: starts fake.py; sets FAKE_PID.
fake() {
	: >"$T/fake.out"
	"$PYTHON" "$T/fake.py" "$1" "$2" >"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	SERVER_PIDS="$SERVER_PIDS $FAKE_PID"
	i=0
	while ! grep -q ready "$T/fake.out" && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
}

fake "$T/silent.sock" silent
t0=$(now_ms)
run_cf --socket "$T/silent.sock" check --all -t 1
t1=$(now_ms)
expect_line "silent socket" 3 "CERTFLEET UNKNOWN - no answer from certfleetd in time"
expect_le "silent socket: at least -t" 950 $((t1 - t0))
expect_le "silent socket: about -t" $((t1 - t0)) 1900
stop_server "$FAKE_PID"

fake "$T/fake.sock" replies
run_cf --socket "$T/fake.sock" check --item 1
expect_line "unescaped summary from the daemon" 1 \
    "CERTFLEET WARNING - bad\\x0aname/x\\u202e\\x1b[2J\\x7f\\x85 expires in 5 days (2027-01-01) | 'days'=5;30;14;0;"
run_cf --socket "$T/fake.sock" check --all -v
expect_eq "unescaped problem from the daemon: exit" "$RC" 2
expect_eq "unescaped problem from the daemon: -v line" "$(printf '%s\n' "$OUT" | sed -n 2p)" \
    "CRITICAL: pem\\x0d\\x0aX 7: bad\\x0aname/x\\u202e\\x1b[2J\\x7f\\x85"
expect_eq "unescaped problem from the daemon: lines" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2
run_cf --socket "$T/fake.sock" check --item 1
expect_line "a state out of range" 3 "CERTFLEET UNKNOWN - odd"
run_cf --socket "$T/fake.sock" check --item 1
expect_line "an unescaped error from the daemon" 3 \
    "CERTFLEET UNKNOWN - no\\x0away\\u202e"
stop_server "$FAKE_PID"

# A second daemon (its own state and socket) given the same monitor socket
# refuses to start, and the first one's socket stays.
rc=0
# (timeout: were it to start, it would run until killed, failing the check.)
timeout 10 "$CERTFLEETD" --state-dir "$T/state2" --socket "$T/second.sock" \
    --monitor-socket "$MON" >"$T/second.log" 2>&1 || rc=$?
expect_eq "second daemon on the same monitor socket: refused" "$rc" 1
expect_contains "second daemon: says who holds it" "$(cat "$T/second.log")" \
    "another certfleetd (pid $DAEMON_PID) holds $MON"
chk --item "$OK_ID"
expect_eq "the first daemon's monitor socket still answers" "$RC" 0

# No daemon: a missing socket, then the daemon stopped.
run_cf --socket "$T/missing.sock" check --all
expect_eq "missing socket: exit" "$RC" 3
expect_contains "missing socket: line" "$OUT" "CERTFLEET UNKNOWN - "
expect_eq "missing socket: one line" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1
rc=0
stop_daemon TERM || rc=$?
expect_eq "daemon exit status" "$rc" 0
run_cf --socket "$MON" check --item "$OK_ID"
expect_eq "daemon down: exit" "$RC" 3
expect_contains "daemon down: line" "$OUT" "CERTFLEET UNKNOWN - "

finish
