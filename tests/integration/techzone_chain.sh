#!/bin/sh
# certfleetd's tech zone, served from its database, asked directly and
# through a real resolver that follows a customer's CNAME into it (unbound ->
# knotd -> certfleetd, see lib_dns.sh); records persist across a restart; bad
# tech zone settings are refused with one line; dns_cname through the same
# resolver (found, none, NXDOMAIN, pointing elsewhere).
CF_NET=127.0.53
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_dns.sh"

start_dns
TZTOOL="$B/tests/integration/tztool"
DB="$STATE/certfleet.db"
ZONE=$DNS_TZ_ZONE
LABEL=k3x9
OWNER=$LABEL.$ZONE

# q SERVER ARGS...: one dig, no retries.
q() { s=$1; shift; dig @"$s" +tries=1 +time=2 "$@" 2>&1 || true; }
status() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
answers() { printf '%s\n' "$1" | sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p'; }
# txt SERVER NAME: the TXT values, sorted, on one line ("" when none).
txt() { q "$1" +short TXT "$2" | grep '^"' | sort | tr '\n' ' '; }

# eventually WHAT WANT CMD...: the resolver caches for up to a second, so a
# change shows through it within a few; CMD's output must become WANT.
eventually() {
	what=$1 want=$2
	shift 2
	i=0
	while got=$("$@"); [ "$got" != "$want" ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	expect_eq "$what" "$got" "$want"
}

# --- bad settings are refused with one line -----------------------------------
refused() {	# refused WHAT WANT_TEXT ARGS...
	what=$1 want=$2
	shift 2
	rc=0
	"$CERTFLEETD" --state-dir "$T/bad" --socket "$T/bad.sock" "$@" \
	    >"$T/bad.out" 2>&1 || rc=$?
	expect_eq "$what: exit status" "$([ $rc -ne 0 ] && echo refused)" refused
	# A fresh state directory logs its migration first; the reason is the
	# one error line, and the last.
	expect_contains "$what: reason" "$(tail -1 "$T/bad.out")" "error: $want"
	expect_eq "$what: one error line" "$(grep -c 'error:' "$T/bad.out")" 1
}
refused "name without listen" \
    "techzone-name $ZONE is set without techzone-listen" --techzone-name "$ZONE"
refused "listen without name" "techzone-listen is set without techzone-name" \
    --techzone-listen "$DNS_TZ:53"
# knotd holds its address's port 53.
refused "port in use" "tech zone $ZONE cannot start: techzone-listen $DNS_KNOT:53 (" \
    --techzone-name "$ZONE" --techzone-listen "$DNS_KNOT:53"
expect_contains "port in use: the cause" "$(cat "$T/bad.out")" "in use"
refused "bad listen address" "tech zone $ZONE cannot start: listen address 'no-such-address:53'" \
    --techzone-name "$ZONE" --techzone-listen "no-such-address:53"
refused "bad zone name" "techzone-name: " \
    --techzone-name "a..b" --techzone-listen "$DNS_TZ:53"
rc=0
"$CERTFLEETD" -n --techzone-name "$ZONE" >"$T/bad.out" 2>&1 || rc=$?
expect_eq "check-config refuses too" "$rc" 1

# --- the daemon serves the zone, from a config file (for the reload below) -----
printf 'techzone-name = %s\ntechzone-listen = %s:53\n' "$ZONE" "$DNS_TZ" \
    >"$T/cf.conf"
start_daemon --config "$T/cf.conf"
dns_alive
run_cf --json status
expect_eq "status: tech zone name" "$(echo "$OUT" | jq -r .techzone.name)" "$ZONE"
expect_eq "status: listen" "$(echo "$OUT" | jq -c .techzone.listen)" "[\"$DNS_TZ:53\"]"
run_cf status
expect_contains "status text: tech zone" "$OUT" "Tech Zone        $ZONE"

expect_eq "SOA, directly" "$(q "$DNS_TZ" +short SOA "$ZONE" | cut -d' ' -f1-2)" \
    "ns1.$ZONE. hostmaster.$ZONE."
expect_eq "NS glue from the listen address" "$(q "$DNS_TZ" +short A "ns1.$ZONE")" \
    "$DNS_TZ"
out=$(q "$DNS_TZ" TXT "$OWNER")
expect_eq "nothing yet: NXDOMAIN" "$(status "$out")" NXDOMAIN
serial0=$(q "$DNS_TZ" +short SOA "$ZONE" | cut -d' ' -f3)

# --- a value inserted into the running daemon's database -----------------------
expect_eq "add a value" "$("$TZTOOL" add "$DB" "$OWNER" value-one 1)" ok
expect_eq "the same value again" "$("$TZTOOL" add "$DB" "$OWNER" value-one 1)" unchanged
expect_eq "answered directly" "$(txt "$DNS_TZ" "$OWNER")" '"value-one" '
expect_eq "asked in upper case" "$(txt "$DNS_TZ" "$(echo "$OWNER" | tr a-z A-Z)")" \
    '"value-one" '
serial1=$(q "$DNS_TZ" +short SOA "$ZONE" | cut -d' ' -f3)
expect_eq "serial changed" "$([ "$serial1" != "$serial0" ] && echo yes)" yes

# --- through the resolver, following the customer's CNAME -----------------------
dns_add_cname "_acme-challenge.foo.test" "$OWNER"
eventually "CNAME followed into the tech zone" \
    "$OWNER. \"value-one\"" sh -c "dig @$DNS_RESOLVER +tries=1 +time=2 +short \
    TXT _acme-challenge.foo.test | tr '\n' ' ' | sed 's/ \$//'"
out=$(q "$DNS_RESOLVER" TXT _acme-challenge.foo.test)
expect_eq "resolver: NOERROR" "$(status "$out")" NOERROR
expect_eq "resolver: CNAME + TXT" "$(answers "$out")" 2

# Two values at one name (a wildcard and its base share it): both come back.
"$TZTOOL" add "$DB" "$OWNER" value-two 1 >/dev/null
eventually "two values through the resolver" '"value-one" "value-two" ' \
    txt "$DNS_RESOLVER" _acme-challenge.foo.test
expect_eq "two values directly" "$(txt "$DNS_TZ" "$OWNER")" '"value-one" "value-two" '

# Removal one by one, then the name is gone.
"$TZTOOL" del "$DB" "$OWNER" value-one >/dev/null
eventually "one removed: the other stays" '"value-two" ' \
    txt "$DNS_RESOLVER" _acme-challenge.foo.test
expect_eq "removing it again" "$("$TZTOOL" del "$DB" "$OWNER" value-one)" unchanged
"$TZTOOL" del-cert "$DB" 1 >/dev/null
out=$(q "$DNS_TZ" TXT "$OWNER")
expect_eq "all removed: NXDOMAIN directly" "$(status "$out")" NXDOMAIN
expect_contains "NXDOMAIN carries the SOA" "$out" "$ZONE.		30	IN	SOA"
eventually "all removed: NXDOMAIN through the CNAME" NXDOMAIN \
    sh -c "dig @$DNS_RESOLVER +tries=1 +time=2 TXT _acme-challenge.foo.test \
    | sed -n 's/.*status: \([A-Z]*\).*/\1/p'"

# A value deeper down makes the names above it empty non-terminals: NODATA.
"$TZTOOL" add "$DB" "x.sub.$ZONE" deep 2 >/dev/null
out=$(q "$DNS_TZ" TXT "sub.$ZONE")
expect_eq "empty non-terminal: NOERROR" "$(status "$out")" NOERROR
expect_eq "empty non-terminal: no answer" "$(answers "$out")" 0
out=$(q "$DNS_TZ" A "x.sub.$ZONE")
expect_eq "a name with TXT only, asked for A: NODATA" "$(status "$out")/$(answers "$out")" \
    NOERROR/0
"$TZTOOL" del-cert "$DB" 2 >/dev/null

# --- SIGHUP keeps the running tech zone (its settings need a restart) ----------
printf 'techzone-name = other.test\ntechzone-listen = %s.13:53\n' "$CF_NET" \
    >"$T/cf.conf"
kill -HUP "$DAEMON_PID"
wait_log "config reloaded"
expect_contains "reload: warns about the name" "$(cat "$T/daemon.log")" \
    "'techzone-name' changed; it takes effect at the next restart"
run_cf --json status
expect_eq "reload: status keeps the running name" \
    "$(echo "$OUT" | jq -r .techzone.name)" "$ZONE"
expect_eq "reload: status keeps the running listen" \
    "$(echo "$OUT" | jq -c .techzone.listen)" "[\"$DNS_TZ:53\"]"
expect_eq "reload: still answers" "$(q "$DNS_TZ" +short SOA "$ZONE" | cut -d' ' -f1)" \
    "ns1.$ZONE."
printf 'techzone-name = %s\ntechzone-listen = %s:53\n' "$ZONE" "$DNS_TZ" \
    >"$T/cf.conf"

# --- records persist across a restart -----------------------------------------------
"$TZTOOL" add "$DB" "$OWNER" persisted 3 >/dev/null
run_cf --json status
expect_eq "answers counted" "$(echo "$OUT" | jq '.techzone.udp_answers > 0')" true
rc=0
stop_daemon || rc=$?
expect_eq "daemon stopped cleanly" "$rc" 0
start_daemon --config "$T/cf.conf"
expect_eq "after a restart, directly" "$(txt "$DNS_TZ" "$OWNER")" '"persisted" '
dns_alive
eventually "after a restart, through the resolver" '"persisted" ' \
    txt "$DNS_RESOLVER" _acme-challenge.foo.test

# --- dns_cname through the same resolver ------------------------------------------------
dns_add_cname "_acme-challenge.else.test" "k3x9.other.example.net"
dns_add_a "www.test" 127.0.53.99
dns_alive
"$TZTOOL" cname "$DNS_RESOLVER:53" _acme-challenge.foo.test \
    _acme-challenge.absent.test _acme-challenge.else.test www.test \
    _ACME-Challenge.FOO.test. >"$T/cname.out" 2>&1 || fail "tztool cname failed"
got=$(grep -v '^  why' "$T/cname.out")
expect_eq "dns_cname statuses" "$got" "_acme-challenge.foo.test found $OWNER
_acme-challenge.absent.test nxdomain -
_acme-challenge.else.test found k3x9.other.example.net
www.test none -
_ACME-Challenge.FOO.test. found $OWNER"
expect_contains "dns_cname: why names the target" "$(cat "$T/cname.out")" \
    "why: _acme-challenge.foo.test is a CNAME to $OWNER"
expect_contains "dns_cname: why for NXDOMAIN" "$(cat "$T/cname.out")" \
    "why: _acme-challenge.absent.test does not exist (NXDOMAIN)"
expect_contains "dns_cname: why for a name without CNAME" "$(cat "$T/cname.out")" \
    "why: www.test exists but has no CNAME record"
# The CNAME removed: NXDOMAIN again once the resolver's cache lets go.
dns_del_cname "_acme-challenge.else.test"
eventually "dns_cname after removal" "_acme-challenge.else.test nxdomain -" \
    sh -c "'$TZTOOL' cname '$DNS_RESOLVER:53' _acme-challenge.else.test | head -1"
# Nobody on the resolver's address: no answer, a failure, not a verdict.
"$TZTOOL" cname "$CF_NET.14:53" x.test >"$T/cname.out" 2>&1 || true
case "$(head -1 "$T/cname.out")" in
"x.test timeout -"|"x.test failed -") pass ;;
*) fail "dns_cname without a resolver: $(cat "$T/cname.out")" ;;
esac
dns_alive
finish
