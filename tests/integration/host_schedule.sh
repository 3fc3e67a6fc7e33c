#!/bin/sh
# The schedule of host items, without waiting for real time: the daemon
# runs with --test-hooks yes and `certfleet debug clock SECONDS` moves its
# clock.  After a good check next_check_at is last_checked_at + 30 days
# (more than 90 days left), 7 days (> 30), 48 hours (> 7), else 24 hours;
# a failed check retries after 10 minutes, doubling, capped at that tier
# (24 hours when nothing is known).  The scheduler checks due items by
# itself, never inactive ones; PEM items are never scheduled; the schedule
# survives a restart.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.41		# the vhost server: one leaf per SNI name
F=127.0.0.42		# the server that goes away
NOW=$(date -u +%s)
DAY=86400

make_ca
# dN.test: N days and 12 hours left, so N whole days for the next 12 hours.
VHOSTS=
for d in 120 91 90 60 31 30 20 8 7 5; do
	make_leaf "d$d" "/CN=d$d.test" "DNS:d$d.test" $((NOW - 3600)) \
	    $((NOW + d * DAY + 43200))
	VHOSTS="$VHOSTS --vhost d$d.test=$P/d$d.chain.pem,$P/d$d.key"
done
make_leaf expired "/CN=expired.test" "DNS:expired.test" 1577836800 1580515200
make_leaf f20 "/CN=f20.test" "DNS:f20.test" $((NOW - 3600)) $((NOW + 20 * DAY + 43200))
make_selfsigned pem "/CN=pem.test" "DNS:pem.test" 100

SLOG="$T/vhost.log"
# shellcheck disable=SC2086
must_start_server tls $A 0 --cert "$P/d120.chain.pem" --key "$P/d120.key" \
    --log "$SLOG" $VHOSTS \
    --vhost "expired.test=$P/expired.chain.pem,$P/expired.key"
VPORT=$SRV_PORT
must_start_server tls $F 0 --cert "$P/f20.chain.pem" --key "$P/f20.key" \
    --log "$T/f.log"
FPID=$SRV_PID FPORT=$SRV_PORT

start_daemon --ca-file "$P/root.pem" --test-hooks yes

OFFSET=0
# clock SECONDS: moves the daemon's clock to real time + SECONDS.
clock() {
	run_cf --json debug clock "$1"
	expect_eq "debug clock $1: exit" "$RC" 0
	expect_eq "debug clock $1: offset" "$(printf '%s\n' "$OUT" | jq .offset)" "$1"
	OFFSET=$1
}

# tier DAYS: the interval after a good check with DAYS whole days left.
tier() {
	if [ "$1" -gt 90 ]; then echo $((30 * DAY))
	elif [ "$1" -gt 30 ]; then echo $((7 * DAY))
	elif [ "$1" -gt 7 ]; then echo $((2 * DAY))
	else echo $DAY; fi
}

# floordiv A B: A/B rounded toward minus infinity (B > 0).
floordiv() {
	q=$(($1 / $2))
	if [ $(($1 % $2)) -ne 0 ] && [ "$1" -lt 0 ]; then q=$((q - 1)); fi
	echo $q
}

# interval: next_check_at - last_checked_at of SHOW, in seconds.
interval() {
	nx=$(jf next_check_at) lc=$(jf last_checked_at)
	if [ "$nx" = "<null>" ] || [ "$lc" = "<null>" ]; then echo "next=$nx last=$lc"
	else echo $(($(epoch "$nx") - $(epoch "$lc"))); fi
}

# expect_good_tier NAME LEAF: SHOW's next check is the tier for the days
# its leaf had left at its last check.
expect_good_tier() {
	until=$(ossl_epoch "$2" enddate)
	left=$(floordiv $((until - $(epoch "$(jf last_checked_at)"))) $DAY)
	expect_eq "$1: next_check_at - last_checked_at ($left days left)" "$(interval)" "$(tier "$left")"
}

# wait_for ID JQ_CONDITION: polls track show (at most 10 s) until the
# condition holds of the item; returns 1 if it never did.  Sets SHOW.
wait_for() {
	i=0
	while :; do
		show "$1"
		if printf '%s\n' "$SHOW" | jq -e "$2" >/dev/null 2>&1; then return 0; fi
		i=$((i + 1))
		[ $i -ge 100 ] && return 1
		sleep 0.1
	done
}

hs_count() { grep -c " $1\$" "$SLOG" || true; }

# --- 1. the tier after a good check ----------------------------------------------

IDS=
for d in 120 91 90 60 31 30 20 8 7 5 expired; do
	case $d in expired) name=expired ;; *) name=d$d ;; esac
	run_cf --json track add --host "$A:$VPORT" --sni "$name.test"
	expect_eq "$name: add exit" "$RC" 0
	SHOW=$OUT
	id=$(jf id)
	eval "ID_$name=\$id"
	IDS="$IDS $id"
	case $d in
	expired) expect_eq "$name: status" "$(jf status)" expired ;;
	*) expect_eq "$name: days_remaining" "$(jf days_remaining)" "$d" ;;
	esac
	expect_good_tier "$name" "$P/$name.pem"
done
# The same, spelled out.
show "$ID_d120"; expect_eq "120 days: +30 days" "$(interval)" $((30 * DAY))
show "$ID_d91"; expect_eq "91 days: +30 days" "$(interval)" $((30 * DAY))
show "$ID_d90"; expect_eq "90 days: +7 days" "$(interval)" $((7 * DAY))
show "$ID_d60"; expect_eq "60 days: +7 days" "$(interval)" $((7 * DAY))
show "$ID_d31"; expect_eq "31 days: +7 days" "$(interval)" $((7 * DAY))
show "$ID_d30"; expect_eq "30 days: +48 h" "$(interval)" $((2 * DAY))
show "$ID_d20"; expect_eq "20 days: +48 h" "$(interval)" $((2 * DAY))
show "$ID_d8"; expect_eq "8 days: +48 h" "$(interval)" $((2 * DAY))
show "$ID_d7"; expect_eq "7 days: +24 h" "$(interval)" $DAY
show "$ID_d5"; expect_eq "5 days: +24 h" "$(interval)" $DAY
show "$ID_expired"; expect_eq "expired: +24 h" "$(interval)" $DAY

# PEM items are never scheduled.
run_cf --json track add --pem "$P/pem.pem"
expect_eq "pem: add exit" "$RC" 0
SHOW=$OUT
ID_PEM=$(jf id)
expect_eq "pem: next_check_at" "$(jf next_check_at)" "<null>"
PEM_LAST=$(jf last_checked_at)

# Inactive items have no next check.  d60 is activated again later; d91
# stays inactive to the end.
for name in d60 d91; do
	eval "id=\$ID_$name"
	run_cf --json track deactivate "$id"
	SHOW=$OUT
	expect_eq "$name: deactivate exit" "$RC" 0
	expect_eq "$name: deactivated" "$(jf active)" false
	expect_eq "$name: inactive next_check_at" "$(jf next_check_at)" "<null>"
	show "$id"
	expect_eq "$name: inactive next_check_at (show)" "$(jf next_check_at)" "<null>"
done
show "$ID_d60"; LAST_d60=$(jf last_checked_at)
show "$ID_d91"; LAST_d91=$(jf last_checked_at)
EV_d60=$(event_count "$ID_d60") EV_d91=$(event_count "$ID_d91")
HS_d60=$(hs_count d60.test) HS_d91=$(hs_count d91.test)
expect_eq "d60: the server saw one handshake" "$HS_d60" 1

# Nothing is due yet: a few scheduler turns change nothing.
show "$ID_d120"; LAST_d120=$(jf last_checked_at)
EV_d120=$(event_count "$ID_d120")
clock 60
sleep 0.3
show "$ID_d120"
expect_eq "not due: d120 not checked" "$(jf last_checked_at)" "$LAST_d120"
expect_eq "not due: no event" "$(event_count "$ID_d120")" "$EV_d120"

# --- 2. the scheduler checks due items by itself -----------------------------

# 30 days and 2 minutes on: every active item is due.
t0=$(($(date -u +%s) - 1))
clock $((30 * DAY + 120))
if wait_for "$ID_d120" ".last_checked_at != \"$LAST_d120\""; then pass
else fail "d120 not checked by the scheduler within 10 s of the clock move"; fi
t1=$(($(date -u +%s) + 1))
e=$(epoch "$(jf last_checked_at)")
if [ "$e" -ge $((t0 + OFFSET)) ] && [ "$e" -le $((t1 + OFFSET)) ]; then pass
else fail "d120: last_checked_at $(jf last_checked_at) is not on the moved clock"; fi
expect_eq "d120: still valid" "$(jf status)" valid
expect_eq "d120: 90 days left on the moved clock" "$(jf days_remaining)" 90
expect_eq "d120: now +7 days" "$(interval)" $((7 * DAY))
expect_good_tier d120 "$P/d120.pem"
expect_eq "d120: one more event" "$(event_count "$ID_d120")" $((EV_d120 + 1))
run_cf --json events --item "$ID_d120" --limit 1
expect_eq "d120: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" checked
expect_contains "d120: the scheduler checked it" \
    "$(printf '%s\n' "$OUT" | jq -r '.[0].message')" scheduled
run_cf --json track history "$ID_d120"
expect_eq "d120: same chain, one snapshot" "$(printf '%s\n' "$OUT" | jq length)" 1

# Every other active host item was checked too, and rescheduled by the days
# left on the moved clock.
for name in d90 d31 d30 d20 d8 d7 d5 expired; do
	eval "id=\$ID_$name"
	if wait_for "$id" "(.last_checked_at | fromdateiso8601) >= $((t0 + OFFSET))"; then pass
	else fail "$name: not checked by the scheduler"; fi
	expect_good_tier "$name" "$P/$name.pem"
	case $name in d20|d8|d7|d5|expired) want=expired ;; *) want=valid ;; esac
	expect_eq "$name: status on the moved clock" "$(jf status)" "$want"
done
# On the moved clock d20's leaf has expired, so its chain no longer verifies.
show "$ID_d20"
expect_eq "d20 expired on the moved clock: status" "$(jf status)" expired
# Chains are judged on the daemon's clock, moved or not.
expect_eq "d20 expired on the moved clock: chain_valid" "$(jf chain_valid)" false
expect_eq "d20 expired on the moved clock: verify_error" "$(jf verify_error)" \
    "certificate has expired"
show "$ID_d31"; expect_eq "d31 (1 day left): +24 h" "$(interval)" $DAY
show "$ID_d30"; expect_eq "d30 (12 hours left): +24 h" "$(interval)" $DAY
show "$ID_d5"; expect_eq "d5 (expired): +24 h" "$(interval)" $DAY

# Inactive items were left alone: no check, no event, no connection.
for name in d60 d91; do
	eval "id=\$ID_$name; last=\$LAST_$name; ev=\$EV_$name; hs=\$HS_$name"
	show "$id"
	expect_eq "$name: inactive, not checked" "$(jf last_checked_at)" "$last"
	expect_eq "$name: inactive, no event" "$(event_count "$id")" "$ev"
	expect_eq "$name: inactive, server not contacted" "$(hs_count "$name.test")" "$hs"
	expect_eq "$name: inactive, still no next check" "$(jf next_check_at)" "<null>"
done
show "$ID_PEM"
expect_eq "pem: not checked" "$(jf last_checked_at)" "$PEM_LAST"
expect_eq "pem: still no next check" "$(jf next_check_at)" "<null>"

# Activated, d60 is due at once and the scheduler checks it.
run_cf --json track activate "$ID_d60"
expect_eq "d60: activate exit" "$RC" 0
SHOW=$OUT
expect_eq "d60: active" "$(jf active)" true
case $(jf next_check_at) in
"<null>") fail "d60: activated item has no next_check_at" ;;
*) expect_le "d60: due at once" "$(epoch "$(jf next_check_at)")" $(($(date -u +%s) + OFFSET + 1)) ;;
esac
if wait_for "$ID_d60" ".last_checked_at != \"$LAST_d60\""; then pass
else fail "d60: not checked within 10 s of being activated"; fi
expect_eq "d60: the server saw the check" "$(hs_count d60.test)" $((HS_d60 + 1))
expect_eq "d60: 30 days left on the moved clock" "$(jf days_remaining)" 30
expect_eq "d60: now +48 h" "$(interval)" $((2 * DAY))
expect_good_tier d60 "$P/d60.pem"
run_cf --json events --item "$ID_d60" --limit 2
expect_eq "d60: activated, then checked" "$(printf '%s\n' "$OUT" | jq -r '[.[].kind] | join(",")')" \
    "checked,activated"

# 90 days on: d91 is still left alone.
clock $((90 * DAY))
wait_for "$ID_d60" "(.last_checked_at | fromdateiso8601) >= $((t0 + OFFSET))" ||
    fail "d60: not checked after the clock moved 90 days"
show "$ID_d91"
expect_eq "d91: 90 days later, still not checked" "$(jf last_checked_at)" "$LAST_d91"
expect_eq "d91: 90 days later, no event" "$(event_count "$ID_d91")" "$EV_d91"
expect_eq "d91: 90 days later, server not contacted" "$(hs_count d91.test)" "$HS_d91"

# --- 3. failed checks back off -----------------------------------------------------

clock 0
run_cf --json track add --host "$F:$FPORT" --sni f20.test
expect_eq "f20: add exit" "$RC" 0
SHOW=$OUT
ID_F=$(jf id)
expect_eq "f20: +48 h" "$(interval)" $((2 * DAY))
stop_server "$FPID"

# failed_check N WANT_INTERVAL: after the Nth failure in a row.
expect_failed() {
	n=$1
	expect_eq "failure $n ($2): status" "$(jf status)" error
	expect_eq "failure $n ($2): check_failures" "$(jf check_failures)" "$n"
	expect_eq "failure $n ($2): next_check_at - last_checked_at" "$(interval)" "$3"
	if [ "$n" -eq 1 ]; then times="1 time"; else times="$n times"; fi
	expect_contains "failure $n ($2): error" "$(jf error)" \
	    "Unable to retrieve SSL Details (connection refused)"
	expect_contains "failure $n ($2): error says when" "$(jf error)" \
	    "failed $times, next try at $(jf next_check_at)"
}

# A failed check still prints the item, and fails the command.
run_cf --json track check "$ID_F"
expect_eq "f20 down: check exit" "$RC" 1
expect_contains "f20 down: check says why" "$ERR" "connection refused"
SHOW=$OUT
expect_failed 1 f20 600
expect_eq "f20 down: facts kept" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/f20.pem")"
run_cf --json events --item "$ID_F" --limit 1
expect_eq "f20 down: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" check_failed

# The scheduler retries by itself when the retry is due.
clock 700
if wait_for "$ID_F" '.check_failures == 2'; then pass
else fail "f20: the scheduler did not retry within 10 s"; fi
expect_failed 2 f20 1200
run_cf --json events --item "$ID_F" --limit 1
expect_eq "f20 retry: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" check_failed
expect_contains "f20 retry: by the scheduler" "$(printf '%s\n' "$OUT" | jq -r '.[0].message')" scheduled
clock 2000
if wait_for "$ID_F" '.check_failures == 3'; then pass
else fail "f20: the scheduler did not retry a second time"; fi
expect_failed 3 f20 2400

# Doubling up to the 48 h tier of a leaf with 20 days left.
want=2400
for n in 4 5 6 7 8 9 10 11; do
	want=$((want * 2))
	[ $want -gt $((2 * DAY)) ] && want=$((2 * DAY))
	run_cf --json track check "$ID_F"
	SHOW=$OUT
	expect_failed $n f20 $want
done

# A target never seen good: capped at 24 h.
CLOSED=$(free_port $A)
echo "$A:$CLOSED" | "$CERTFLEET" --json track import - >"$T/imp.out" 2>/dev/null || true
expect_eq "never good: import summary" "$(jq -c . "$T/imp.out")" \
    '{"probed":1,"ok":0,"failed":1,"added":1,"updated":0,"causes":{"connection refused":1}}'
ID_N=$("$CERTFLEET" --json track list | jq --argjson p "$CLOSED" '.[] | select(.port == $p) | .id')
show "$ID_N"
expect_failed 1 never 600
want=600
for n in 2 3 4 5 6 7 8 9 10; do
	want=$((want * 2))
	[ $want -gt $DAY ] && want=$DAY
	run_cf --json track check "$ID_N"
	SHOW=$OUT
	expect_failed $n never $want
done

# Back up: a good check clears the failures and returns to the tier.
must_start_server tls $F "$FPORT" --cert "$P/f20.chain.pem" --key "$P/f20.key" \
    --log "$T/f.log"
FPID=$SRV_PID
run_cf --json track check "$ID_F"
SHOW=$OUT
expect_eq "f20 back: status" "$(jf status)" valid
expect_eq "f20 back: check_failures" "$(jf check_failures)" 0
expect_eq "f20 back: error" "$(jf error)" "<null>"
expect_good_tier "f20 back" "$P/f20.pem"

# --- 4. the schedule survives a restart ----------------------------------------------

sched() {
	"$CERTFLEET" --json track list | jq -c 'map({id, active, created_at,
	    last_checked_at, next_check_at, check_failures, error, host, port, sni,
	    fingerprint_sha256})'
}
clock 0
BEFORE=$(sched)
stop_daemon
start_daemon --ca-file "$P/root.pem"
AFTER=$(sched)
expect_eq "schedule after a restart" "$AFTER" "$BEFORE"
run_cf debug clock 10
expect_eq "debug clock without --test-hooks: exit" "$RC" 1
expect_contains "debug clock without --test-hooks: why" "$ERR" "test-hooks"
sleep 0.3
expect_eq "schedule after a restart, a moment later" "$(sched)" "$BEFORE"

# ... and drives the checks after it.
stop_daemon
start_daemon --ca-file "$P/root.pem" --test-hooks yes
show "$ID_F"; LAST_F=$(jf last_checked_at)
HS_F=$(grep -c '^hs ' "$T/f.log")
clock $((3 * DAY))
if wait_for "$ID_F" ".last_checked_at != \"$LAST_F\""; then pass
else fail "f20: not checked by the scheduler after the restart"; fi
expect_eq "f20 after restart: the server saw it" "$(grep -c '^hs ' "$T/f.log")" $((HS_F + 1))
expect_good_tier "f20 after restart" "$P/f20.pem"
show "$ID_d91"
expect_eq "d91: still inactive after the restart" "$(jf active)" false
expect_eq "d91: never checked" "$(jf last_checked_at)" "$LAST_d91"
show "$ID_PEM"
expect_eq "pem: never scheduled" "$(jf next_check_at)" "<null>"

# check --all checks every active host item, and only those.  (The
# never-good item was due too: let its scheduled check end first.)
wait_for "$ID_N" '.check_failures == 11' || fail "never good: not retried after the restart"
NACTIVE=$("$CERTFLEET" --json track list | jq '[.[] | select(.source == "host" and .active)] | length')
HS_d91=$(hs_count d91.test)
run_cf --json track check --all
expect_eq "check --all: summary (all active host items; the never-good one fails)" \
    "$(printf '%s\n' "$OUT" | jq -c .)" \
    "{\"probed\":$NACTIVE,\"ok\":$((NACTIVE - 1)),\"failed\":1,\"causes\":{\"connection refused\":1}}"
expect_eq "check --all: d91 (inactive) not contacted" "$(hs_count d91.test)" "$HS_d91"
show "$ID_d91"
expect_eq "check --all: d91 (inactive) not checked" "$(jf last_checked_at)" "$LAST_d91"
show "$ID_N"
expect_eq "check --all: the never-good item failed again" "$(jf check_failures)" 12

finish
