#!/bin/sh
# One description of the RPC: the daemon's method table, schema/rpc.md and
# the client's commands must agree.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

start_daemon
run_cf --json methods
expect_eq "methods call" "$RC" 0
served=$(echo "$OUT" | jq -r '.[].name' | sort)
documented=$(sed -n 's/^### \([A-Za-z]*\.[A-Za-z]*\)$/\1/p' "$S/schema/rpc.md" | sort)
expect_eq "schema/rpc.md documents exactly the served methods" "$documented" "$served"

# Every client command names a method that the daemon serves.
"$CERTFLEET" --help | sed -n 's/^  \([a-z][a-z ]*[a-z]\)  .*/\1/p' >"$T/cmds"
while read -r c; do
	# shellcheck disable=SC2086
	m=$("$CERTFLEET" $c --help | sed -n 's/^Calls \([A-Za-z.]*\)\.  .*/\1/p')
	case "
$served
" in
	*"
$m
"*) pass ;;
	*) fail "command '$c' calls '$m', which the daemon does not serve" ;;
	esac
done <"$T/cmds"
finish
