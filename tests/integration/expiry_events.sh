#!/bin/sh
# Expiry warnings and the event stream, driven by the test clock hook:
# thresholds scale with the lifetime (90 days: 30,14,7,3,1; 45: 14,7,3,1;
# 6: 1), each fires once per certificate, the lowest when several are
# crossed at once, `expired` once at notAfter + 1 s, nothing again after a
# restart or a SIGKILL, and thresholds the user gives apply as given.
# Events.Watch: `events --follow` across a daemon restart, reconnected with
# --after, sees every event once.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

DAY=86400
mkcert() {	# mkcert NAME DAYS: a self-signed certificate valid DAYS days
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -subj "/CN=$1.example" \
	    -days "$2" 2>/dev/null
}
mkcert d90 90
mkcert d45 45
mkcert d6 6
mkcert d2 2

start_daemon --test-hooks yes

add() { "$CERTFLEET" --json track add --pem "$T/$1.pem" | jq .id; }
D90=$(add d90)
D45=$(add d45)
D6=$(add d6)
D2=$(add d2)

# kinds_of ID: the item's expiry events, oldest first, as "kind:days".
kinds_of() {
	"$CERTFLEET" --json events --item "$1" --kinds expiring,expired \
	    --limit 100 | jq -r 'reverse | map(.kind + (if .kind == "expiring"
	    then ":" + (.data.days_remaining | tostring) else "" end)) | join(",")'
}
# expiry_count: expiry events in the whole feed.
expiry_count() {
	"$CERTFLEET" --json events --kinds expiring,expired --limit 10000 | jq length
}
# settle N: waits (up to 20 s) until the feed holds N expiry events; the
# runner records them from the loop soon after a clock move.
settle() {
	i=0
	while [ "$(expiry_count)" -lt "$1" ] && [ $i -lt 400 ]; do
		i=$((i + 1)); sleep 0.05
	done
}
# at DAYS: moves the daemon's clock DAYS days (and 60 s) from now.
at() { "$CERTFLEET" debug clock $(($1 * DAY + 60)) >/dev/null; }

# At birth nothing is due, not even for the 6-day or 2-day certificate: a
# 7-day threshold would fire at birth, so it does not apply to them.
settle 1
expect_eq "at birth: no warnings" "$(expiry_count)" 0

# 61 days on: d90 is 29 days from expiry (30 crossed); d45, d6 and d2 have
# expired; each says so once, with no late threshold warnings.
at 61
settle 4
expect_eq "d90 at day 61" "$(kinds_of "$D90")" "expiring:28"
expect_eq "d45 at day 61" "$(kinds_of "$D45")" "expired"
expect_eq "d6 at day 61" "$(kinds_of "$D6")" "expired"
run_cf --json events --item "$D90" --kinds expiring --limit 1
expect_eq "expiring: severity" "$(echo "$OUT" | jq -r '.[0].severity')" warning
expect_eq "expiring: subject" "$(echo "$OUT" | jq -c '.[0].subject')" \
    "{\"type\":\"tracked\",\"id\":$D90}"
expect_eq "expiring: data names" "$(echo "$OUT" | jq -c '.[0].data.names')" '["d90.example"]'
expect_eq "expiring: data lifetime" "$(echo "$OUT" | jq '.[0].data.lifetime_days')" 90
expect_eq "expiring: data not_after" "$(echo "$OUT" | jq -r '.[0].data.not_after')" \
    "$(date -u -d "$(openssl x509 -in "$T/d90.pem" -noout -enddate | sed 's/^notAfter=//')" +%Y-%m-%dT%H:%M:%SZ)"
expect_contains "expiring: message" "$(echo "$OUT" | jq -r '.[0].message')" "expires in 28 days"

# The same moment again, and a restart: nothing new.
N=$(expiry_count)
at 61
stop_daemon
start_daemon --test-hooks yes
at 61
sleep 0.5	# a wrong duplicate would come within the runner's first turn
expect_eq "restart: nothing twice" "$(expiry_count)" "$N"

# Day 88 (2 days left): 14, 7 and 3 are all crossed; one warning, for 3,
# critical.  Then a SIGKILL right after: the state is in the store.
at 88
settle $((N + 1))
expect_eq "d90 at day 88" "$(kinds_of "$D90")" "expiring:28,expiring:1"
run_cf --json events --item "$D90" --kinds expiring --limit 1
expect_eq "3 days or less: critical" "$(echo "$OUT" | jq -r '.[0].severity')" critical
stop_daemon KILL || true
start_daemon --test-hooks yes
at 88
sleep 0.5
expect_eq "SIGKILL: nothing twice" "$(expiry_count)" $((N + 1))
at 91
settle $((N + 2))
expect_eq "d90 at day 91" "$(kinds_of "$D90")" "expiring:28,expiring:1,expired"
run_cf --json events --kinds expired --limit 1
expect_eq "expired: critical" "$(echo "$OUT" | jq -r '.[0].severity')" critical

# Thresholds given by the user apply as given, even to a 6-day certificate.
stop_daemon
"$CERTFLEET" debug clock 0 >/dev/null 2>&1 || true
mkcert e6 6
rm -rf "$STATE"
start_daemon --test-hooks yes --warn-days 5,2
E6=$(add e6)
at 1
settle 1
expect_eq "given 5,2: 6-day certificate warned at 5" "$(kinds_of "$E6")" "expiring:4"
run_cf events kinds
expect_contains "events kinds lists expiring" "$OUT" "expiring"
run_cf events --kinds nosuchkind
expect_eq "unknown kind: usage refused" "$RC" 1
expect_contains "unknown kind: says which" "$ERR" "unknown event kind 'nosuchkind'"
run_cf events --subject nope:1
expect_eq "bad subject refused" "$RC" 1

# --- Events.Watch ------------------------------------------------------------
# Follow from the start; restart the daemon mid-stream; follow again from
# the last id seen: every event exactly once, no gap.
"$CERTFLEET" --json events --follow --after 0 >"$T/follow1" 2>"$T/follow1.err" &
F1=$!
i=0
while [ ! -s "$T/follow1" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
mkcert w1 30
mkcert w2 30
add w1 >/dev/null
stop_daemon
rc=0
wait "$F1" || rc=$?
expect_eq "follow: ends when the daemon stops" "$rc" 3
expect_contains "follow: says where to resume" "$(cat "$T/follow1.err")" "--after"
LAST=$(tail -n 1 "$T/follow1" | jq .id)
start_daemon --test-hooks yes --warn-days 5,2
"$CERTFLEET" --json events --follow --after "$LAST" >"$T/follow2" &
F2=$!
add w2 >/dev/null
"$CERTFLEET" track deactivate "$E6" >/dev/null
ALL=$("$CERTFLEET" --json events --limit 10000 | jq -c '[.[].id] | sort')
i=0
while [ "$(cat "$T/follow1" "$T/follow2" | jq -s -c '[.[].id] | sort')" != "$ALL" ] &&
    [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
kill "$F2" 2>/dev/null; wait "$F2" 2>/dev/null || true
expect_eq "follow across a restart: every id once" \
    "$(cat "$T/follow1" "$T/follow2" | jq -s -c '[.[].id] | sort')" "$ALL"
expect_eq "follow: oldest first" "$(jq -s -c '[.[].id] == ([.[].id] | sort)' "$T/follow2")" true
expect_eq "follow: every line one JSON event" "$(cat "$T/follow1" "$T/follow2" | jq -s 'map(has("kind") and has("severity") and has("data")) | all')" true
finish
