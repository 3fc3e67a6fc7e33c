#!/bin/sh
# The activity feed: every change is an event (time, item, kind, message),
# newest first, filterable by item, bounded by --limit, outliving its item.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k.pem" -out "$T/a.pem" -subj "/CN=a.example" -days 10 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k.pem" -out "$T/b.pem" -subj "/CN=b.example" -days 10 2>/dev/null
start_daemon

run_cf --json events
expect_eq "empty feed" "$OUT" "[]"
A=$("$CERTFLEET" --json track add --pem "$T/a.pem" | jq .id)
B=$("$CERTFLEET" --json track add --pem "$T/b.pem" | jq .id)
"$CERTFLEET" track deactivate "$A" >/dev/null
"$CERTFLEET" track deactivate "$A" >/dev/null	# no change: no event
"$CERTFLEET" track activate "$A" >/dev/null
"$CERTFLEET" track delete "$A" >/dev/null

run_cf --json events --item "$A"
expect_eq "kinds for A, newest first" "$(echo "$OUT" | jq -r '[.[].kind] | join(",")')" \
    "deleted,activated,deactivated,added"
expect_eq "events name their item" "$(echo "$OUT" | jq "[.[].item] | unique | .[0]")" "$A"
expect_eq "times are RFC 3339 Z" \
    "$(echo "$OUT" | jq '[.[].at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")] | all')" true
expect_contains "added message" "$(echo "$OUT" | jq -r '.[3].message')" "a.example"

run_cf --json events
expect_eq "all events" "$(echo "$OUT" | jq length)" 5
expect_eq "newest first by id" "$(echo "$OUT" | jq '[.[].id] == ([.[].id] | sort | reverse)')" true
run_cf --json events --limit 2
expect_eq "limit" "$(echo "$OUT" | jq length)" 2
run_cf --json events --item "$B"
expect_eq "filter by item" "$(echo "$OUT" | jq -r '[.[].kind] | join(",")')" added


# Ids are never reused, so the feed of a deleted item stays its own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k.pem" -out "$T/c.pem" -subj "/CN=c.example" -days 10 2>/dev/null
"$CERTFLEET" track delete "$B" >/dev/null
C=$("$CERTFLEET" --json track add --pem "$T/c.pem" | jq .id)
[ "$C" -gt "$B" ] && pass || fail "id $C reused after deleting $B"
run_cf --json events --item "$C"
expect_eq "new item has only its own events" "$(echo "$OUT" | jq length)" 1

# Human view: a table with a header.
run_cf events
expect_contains "table header" "$OUT" "TIME"
expect_contains "table row" "$OUT" "deactivated"

# Bad arguments are usage errors.
run_cf events --limit 0
expect_eq "limit 0" "$RC" 2
run_cf events --item x
expect_eq "bad item" "$RC" 2

# The feed survives a restart.
stop_daemon
start_daemon
run_cf --json events
expect_eq "events after restart" "$(echo "$OUT" | jq length)" 7
finish
