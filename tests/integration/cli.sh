#!/bin/sh
# The client's habits: --help for every command, --json before or after the
# command words, exit codes 1 refused / 2 usage / 3 unreachable, one line
# of error on stderr.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

run_cf --help
expect_eq "--help exit" "$RC" 0
expect_contains "--help lists track add" "$OUT" "track add"
commands=$(echo "$OUT" | sed -n 's/^  \([a-z][a-z ]*[a-z]\)  .*/\1/p')
[ -n "$commands" ] && pass || fail "no commands listed"
echo "$commands" | while read -r c; do
	# shellcheck disable=SC2086
	"$CERTFLEET" $c --help >"$T/h" 2>&1 || echo "FAIL: $c --help exit $?"
	grep -q "^usage: certfleet $c" "$T/h" || echo "FAIL: $c --help has no usage line"
done >"$T/helpcheck"
expect_eq "every command has --help" "$(cat "$T/helpcheck")" ""

run_cf
expect_eq "no command" "$RC" 2
run_cf frobnicate
expect_eq "unknown command" "$RC" 2
expect_eq "unknown command one line" "$(echo "$ERR" | wc -l)" 1
run_cf track
expect_eq "group word alone" "$RC" 2
run_cf track show
expect_eq "missing id" "$RC" 2
run_cf track show 1 2
expect_eq "extra argument" "$RC" 2

# Unreachable daemon: exit 3, one line.
run_cf status
expect_eq "no daemon exit" "$RC" 3
expect_eq "no daemon one line" "$(echo "$ERR" | wc -l)" 1
expect_contains "no daemon says where" "$ERR" "$CERTFLEET_SOCKET"
run_cf --socket "$T/nowhere.sock" status
expect_eq "--socket honoured" "$RC" 3
expect_contains "--socket path in message" "$ERR" "$T/nowhere.sock"

start_daemon
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/k.pem" -out "$T/c.pem" -subj "/CN=cli.example" -days 10 2>/dev/null
"$CERTFLEET" track add --pem "$T/c.pem" >/dev/null

# --json before and after the command words gives the same document.
a=$("$CERTFLEET" --json track show 1)
b=$("$CERTFLEET" track show 1 --json)
c=$("$CERTFLEET" track --json show 1)
expect_eq "--json after" "$b" "$a"
expect_eq "--json between" "$c" "$a"
expect_eq "one JSON document" "$(echo "$a" | jq -s length)" 1
run_cf --socket "$CERTFLEET_SOCKET" status --json
expect_eq "--socket with --json" "$(echo "$OUT" | jq .tracked.total)" 1

# Refused requests exit 1 with one line and nothing on stdout.
run_cf track show 4242
expect_eq "not found exit" "$RC" 1
expect_eq "not found stdout" "$OUT" ""
expect_eq "not found message" "$ERR" "certfleet: no tracked item 4242"

# Human output: a table for lists, fields for one item.
run_cf track list
expect_contains "list header" "$OUT" "COMMON NAME"
expect_contains "list row" "$OUT" "cli.example"
run_cf status
expect_contains "status fields" "$OUT" "Schema Version"
finish
