#!/bin/sh
# Host tracking against live TLS servers on loopback: a private CA (root +
# intermediate) made with openssl, leafs in every judged shape (good,
# expired, not yet valid, self-signed, wrong host, incomplete chain) served
# by tests/integration/tlsserver.py, every fact of `track show --json`
# checked against openssl and against what the server saw; every refusal of
# `track add --host` with its exact message and nothing stored; snapshots
# of the raw chain when the served certificate changes; check --all and
# import.  Names resolve through a test DNS server on 127.0.0.1 that knows
# good.test and six.test and answers NXDOMAIN for everything else.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.21		# the address every server here listens on
NOW=$(date -u +%s)
DAY=86400

make_ca
make_leaf good "/C=DE/ST=Berlin/L=Berlin/O=Good Org/OU=Web/OU=Ops/CN=good.test" \
    "DNS:good.test,DNS:www.good.test,IP:$A" $((NOW - 3600)) $((NOW + 200 * DAY))
make_leaf good2 "/O=Good Org/CN=good.test" "DNS:good.test,IP:$A" \
    $((NOW - 60)) $((NOW + 100 * DAY))
make_leaf expired "/O=Old Org/CN=expired.test" "DNS:expired.test" \
    1577836800 1580515200			# 2020-01-01 .. 2020-02-01
make_leaf future "/CN=future.test" "DNS:future.test" \
    $((NOW + 10 * DAY)) $((NOW + 400 * DAY))
make_leaf incomplete "/CN=incomplete.test" "DNS:incomplete.test" \
    $((NOW - 3600)) $((NOW + 50 * DAY))
make_selfsigned self "/CN=self.test" "DNS:self.test" 90
make_leaf wild "/CN=*.wild.test" "DNS:*.wild.test" $((NOW - 3600)) $((NOW + 60 * DAY))
make_leaf six "/CN=six.test" "DNS:six.test,IP:::1" $((NOW - 3600)) $((NOW + 60 * DAY))

# The main server: good.test by default, the other shapes by SNI.
VHOSTS="--vhost expired.test=$P/expired.chain.pem,$P/expired.key
--vhost future.test=$P/future.chain.pem,$P/future.key
--vhost self.test=$P/self.chain.pem,$P/self.key
--vhost incomplete.test=$P/incomplete.pem,$P/incomplete.key
--vhost a.wild.test=$P/wild.chain.pem,$P/wild.key
--vhost a.b.wild.test=$P/wild.chain.pem,$P/wild.key"
SLOG="$T/main.log"
# shellcheck disable=SC2086
must_start_server tls $A 0 --cert "$P/good.chain.pem" --key "$P/good.key" \
    --log "$SLOG" $VHOSTS
MAIN_PID=$SRV_PID MAIN=$SRV_PORT
must_start_server tls $A 0 --cert "$P/good.chain.pem" --key "$P/good.key" \
    --tls12 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 --log "$T/tls12.log"
TLS12=$SRV_PORT
must_start_server silent $A 0
SILENT=$SRV_PORT
must_start_server garbage $A 0
GARBAGE=$SRV_PORT
CLOSED=$(free_port $A)
must_start_server dns 127.0.0.1 0 --map good.test=$A --map six.test=::1 \
    --map multi.test=127.0.0.22 --map multi.test=$A \
    --log "$T/dns.log"
DNS=$SRV_PORT

start_daemon --ca-file "$P/root.pem" --probe-timeout 2 \
    --dns-resolver "127.0.0.1:$DNS"

# A PEM item first: host items carry the same keys.
run_cf --json track add --pem "$P/root.pem"
expect_eq "pem add" "$RC" 0
PEM_ID=$(printf '%s\n' "$OUT" | jq -r .id)
PEM_KEYS=$(printf '%s\n' "$OUT" | jq -c 'keys')

# last_hs LOG: the server's last handshake line: "VERSION CIPHER SNI".
last_hs() { sed -n 's/^hs //p' "$1" | tail -n 1; }

# add_host NAME [args...]: `track add --host`, expecting success.  Sets ID,
# SHOW (from track show) and ADDED; t0/t1 bracket the add.
add_host() {
	n=$1; shift
	t0=$(($(date -u +%s) - 1))
	run_cf --json track add "$@"
	t1=$(date -u +%s)
	expect_eq "$n: add exit" "$RC" 0
	expect_eq "$n: add stderr" "$ERR" ""
	ADDED=$OUT
	ID=$(printf '%s\n' "$OUT" | jq -r '.id // empty')
	show "${ID:-0}"
	expect_eq "$n: add answer is the item" \
	    "$(printf '%s\n' "$ADDED" | jq -cS 'del(.days_remaining)')" \
	    "$(printf '%s\n' "$SHOW" | jq -cS 'del(.days_remaining)')"
}

expect_time_between() { # WHAT RFC3339 LO HI
	case $2 in
	[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z)
		e=$(epoch "$2")
		if [ "$e" -ge "$3" ] && [ "$e" -le "$4" ]; then pass
		else fail "$1: $2 not within $(rfc3339 "$3")..$(rfc3339 "$4")"; fi ;;
	*) fail "$1: [$2] is not RFC 3339 UTC" ;;
	esac
}

# leaf_facts NAME LEAF: every certificate fact of SHOW against openssl.
leaf_facts() {
	n=$1 f=$2
	expect_eq "$n: common_name" "$(jf common_name)" "$(ossl_attr "$f" subject CN first)"
	expect_eq "$n: subject" "$(jf subject)" "$(ossl_dn "$f" subject)"
	expect_eq "$n: issuer" "$(jf issuer)" "$(ossl_dn "$f" issuer)"
	ib=$(ossl_attr "$f" issuer CN first)
	[ "$ib" = "<null>" ] && ib=$(ossl_attr "$f" issuer O first)
	expect_eq "$n: issued_by" "$(jf issued_by)" "$ib"
	expect_eq "$n: organization" "$(jf organization)" "$(ossl_attr "$f" subject O first)"
	expect_eq "$n: organizational_unit" "$(jf organizational_unit)" \
	    "$(ossl_attr "$f" subject OU all)"
	expect_eq "$n: location" "$(jf location)" "$(ossl_location "$f")"
	expect_eq "$n: serial_number" "$(jf serial_number)" \
	    "$(openssl x509 -in "$f" -noout -serial | sed 's/^serial=//')"
	expect_eq "$n: signature_algorithm" "$(jf signature_algorithm)" "$(ossl_sigalg "$f")"
	expect_eq "$n: public_key" "$(jf public_key)" "$(ossl_pubkey "$f")"
	expect_eq "$n: fingerprint_sha256" "$(jf fingerprint_sha256)" "$(ossl_fpr "$f")"
	expect_eq "$n: subject_alt_names" "$(printf '%s\n' "$SHOW" | jq -c .subject_alt_names)" \
	    "$(ossl_sans "$f")"
	from=$(ossl_epoch "$f" startdate)
	until=$(ossl_epoch "$f" enddate)
	expect_eq "$n: valid_from" "$(jf valid_from)" "$(rfc3339 "$from")"
	expect_eq "$n: valid_until" "$(jf valid_until)" "$(rfc3339 "$until")"
	d=$(jf days_remaining)
	now=$(date -u +%s)
	lo=$(( (until - now - 2) / DAY )) hi=$(( (until - now + 2) / DAY ))
	if [ "$until" -lt "$now" ]; then
		lo=$(( (until - now - 2) / DAY - 1 )) hi=$(( (until - now + 2) / DAY ))
	fi
	case $d in
	-[0-9]*|[0-9]*)
		if [ "$d" -ge "$lo" ] && [ "$d" -le "$hi" ]; then pass
		else fail "$n: days_remaining $d, want $lo..$hi"; fi ;;
	*) fail "$n: days_remaining [$d] is not an integer" ;;
	esac
}

# host_facts NAME HOST PORT SNI ADDRESS LOG: the target, the connection
# (against the server's own record of the handshake) and the schedule.
host_facts() {
	n=$1
	expect_eq "$n: same keys as a PEM item" "$(printf '%s\n' "$SHOW" | jq -c keys)" "$PEM_KEYS"
	expect_eq "$n: source" "$(jf source)" host
	expect_eq "$n: active" "$(jf active)" true
	expect_eq "$n: host" "$(jf host)" "$2"
	expect_eq "$n: port" "$(printf '%s\n' "$SHOW" | jq -c .port)" "$3"
	expect_eq "$n: sni" "$(jf sni)" "$4"
	expect_eq "$n: address" "$(jf address)" "$5"
	hs=$(last_hs "$6")
	expect_eq "$n: tls_version is what the server negotiated" "$(jf tls_version)" \
	    "$(echo "$hs" | cut -d' ' -f1)"
	expect_eq "$n: cipher is what the server negotiated" "$(jf cipher)" \
	    "$(echo "$hs" | cut -d' ' -f2)"
	want_sni=$4
	[ "$want_sni" = "<null>" ] && { case $2 in *[a-z]*) want_sni=$2 ;; *) want_sni=- ;; esac; }
	expect_eq "$n: SNI the server saw" "$(echo "$hs" | cut -d' ' -f3)" "$want_sni"
	expect_eq "$n: check_failures" "$(jf check_failures)" 0
	expect_eq "$n: error" "$(jf error)" "<null>"
	expect_time_between "$n: created_at" "$(jf created_at)" "$t0" "$t1"
	expect_time_between "$n: last_checked_at" "$(jf last_checked_at)" "$t0" "$t1"
	case $(jf next_check_at) in
	"<null>") fail "$n: next_check_at is null for an active host item" ;;
	*) pass ;;
	esac
}

# expect_chain NAME CHAIN_FILE: chain_length, chain_valid etc. are checked by
# the caller; this compares the raw chain and its one snapshot.
expect_snapshot() { # NAME ID SNAPSHOT_JSON CHAIN_FILE N
	expect_eq "$1: snapshot number" "$(printf '%s\n' "$3" | jq -r .snapshot)" "$5"
	expect_eq "$1: snapshot chain_sha256" "$(printf '%s\n' "$3" | jq -r .chain_sha256)" \
	    "$(chain_sha256 "$4")"
	pem_split "$4" "$T/leafof"
	expect_eq "$1: snapshot leaf_sha256" "$(printf '%s\n' "$3" | jq -r .leaf_sha256)" \
	    "$(ossl_fpr "$T/leafof/1.pem")"
	expect_eq "$1: snapshot chain_length" "$(printf '%s\n' "$3" | jq -r .chain_length)" \
	    "$(grep -c 'BEGIN CERTIFICATE' "$4")"
}

# --- 1. a good chain, by IP with --sni ---------------------------------------

add_host good --host "$A:$MAIN" --sni good.test
GOOD=$ID
leaf_facts good "$P/good.pem"
host_facts good "$A" "$MAIN" good.test "$A:$MAIN" "$SLOG"
expect_eq "good: status" "$(jf status)" valid
expect_eq "good: chain_valid" "$(jf chain_valid)" true
expect_eq "good: hostname_match" "$(jf hostname_match)" true
expect_eq "good: verify_error" "$(jf verify_error)" "<null>"
expect_eq "good: chain_length" "$(jf chain_length)" 2
expect_eq "good: TLS 1.3 by default" "$(jf tls_version)" TLSv1.3
case $(jf cipher) in TLS_*) pass ;; *) fail "good: cipher [$(jf cipher)] is not a TLS 1.3 suite" ;; esac
expect_eq "good: known OUs" "$(jf organizational_unit)" "Web, Ops"
expect_eq "good: known location" "$(jf location)" "Berlin, Berlin, DE"
expect_eq "good: IP SAN as text" "$(printf '%s\n' "$SHOW" | jq -r '.subject_alt_names[2]')" "$A"
run_cf --json track history "$GOOD"
expect_eq "good: history exit" "$RC" 0
expect_eq "good: one snapshot" "$(printf '%s\n' "$OUT" | jq length)" 1
expect_snapshot good "$GOOD" "$(printf '%s\n' "$OUT" | jq -c '.[0]')" "$P/good.chain.pem" 1
expect_eq "good: snapshot time is the check's" "$(printf '%s\n' "$OUT" | jq -r '.[0].at')" \
    "$(jf last_checked_at)"
run_cf track raw "$GOOD"
expect_eq "good: raw exit" "$RC" 0
printf '%s\n' "$OUT" >"$T/raw.pem"
expect_eq "good: raw is the served chain" "$(chain_fprs "$T/raw.pem" | tr '\n' ' ')" \
    "$(chain_fprs "$P/good.chain.pem" | tr '\n' ' ')"
run_cf --json events --item "$GOOD"
expect_eq "good: one event" "$(printf '%s\n' "$OUT" | jq length)" 1
expect_eq "good: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" added
run_cf track show "$GOOD"
expect_eq "good: human show" "$RC" 0
expect_contains "good: human show has the address" "$OUT" "$A:$MAIN"

# --- 2. by name, resolved through the test DNS server ------------------------

add_host byname --host "good.test:$MAIN"
BYNAME=$ID
leaf_facts byname "$P/good.pem"
host_facts byname good.test "$MAIN" "<null>" "$A:$MAIN" "$SLOG"
expect_eq "byname: chain_valid" "$(jf chain_valid)" true
expect_eq "byname: hostname_match (the host's name)" "$(jf hostname_match)" true
expect_eq "byname: the DNS server was asked" \
    "$(grep -c '^query good.test 1$' "$T/dns.log" | sed 's/^[1-9][0-9]*$/yes/')" yes

# --- 3. by URL and IP, no SNI: matched against the leaf's IP SAN ---------------

add_host url --host "https://$A:$MAIN/some/path?q=1#frag"
URL=$ID
host_facts url "$A" "$MAIN" "<null>" "$A:$MAIN" "$SLOG"
expect_eq "url: hostname_match (IP SAN)" "$(jf hostname_match)" true
expect_eq "url: chain_valid" "$(jf chain_valid)" true
expect_eq "url: same leaf" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/good.pem")"

# --- 4. what the chain judgement says ----------------------------------------

add_host expired --host "$A:$MAIN" --sni expired.test
leaf_facts expired "$P/expired.pem"
host_facts expired "$A" "$MAIN" expired.test "$A:$MAIN" "$SLOG"
expect_eq "expired: status" "$(jf status)" expired
expect_eq "expired: chain_valid" "$(jf chain_valid)" false
expect_eq "expired: verify_error" "$(jf verify_error)" "certificate has expired"
expect_eq "expired: hostname_match" "$(jf hostname_match)" true
expect_eq "expired: chain_length" "$(jf chain_length)" 2
expect_eq "expired: valid_until" "$(jf valid_until)" 2020-02-01T00:00:00Z

add_host future --host "$A:$MAIN" --sni future.test
leaf_facts future "$P/future.pem"
host_facts future "$A" "$MAIN" future.test "$A:$MAIN" "$SLOG"
expect_eq "future: status" "$(jf status)" not_yet_valid
expect_eq "future: chain_valid" "$(jf chain_valid)" false
expect_eq "future: verify_error" "$(jf verify_error)" "certificate is not yet valid"
expect_eq "future: hostname_match" "$(jf hostname_match)" true

add_host self --host "$A:$MAIN" --sni self.test
leaf_facts self "$P/self.pem"
host_facts self "$A" "$MAIN" self.test "$A:$MAIN" "$SLOG"
expect_eq "self: status" "$(jf status)" valid
expect_eq "self: chain_valid" "$(jf chain_valid)" false
expect_eq "self: verify_error" "$(jf verify_error)" "self-signed certificate"
expect_eq "self: chain_length" "$(jf chain_length)" 1

add_host wronghost --host "$A:$MAIN" --sni other.test
leaf_facts wronghost "$P/good.pem"
host_facts wronghost "$A" "$MAIN" other.test "$A:$MAIN" "$SLOG"
expect_eq "wronghost: hostname_match" "$(jf hostname_match)" false
expect_eq "wronghost: chain_valid (names are not the chain's business)" \
    "$(jf chain_valid)" true
expect_eq "wronghost: verify_error" "$(jf verify_error)" "<null>"
expect_eq "wronghost: status" "$(jf status)" valid

add_host incomplete --host "$A:$MAIN" --sni incomplete.test
leaf_facts incomplete "$P/incomplete.pem"
host_facts incomplete "$A" "$MAIN" incomplete.test "$A:$MAIN" "$SLOG"
expect_eq "incomplete: chain_valid" "$(jf chain_valid)" false
expect_eq "incomplete: verify_error" "$(jf verify_error)" \
    "unable to get local issuer certificate"
expect_eq "incomplete: chain_length" "$(jf chain_length)" 1
expect_eq "incomplete: hostname_match" "$(jf hostname_match)" true

# The good chain again after all that: still judged valid.
add_host good-www --host "$A:$MAIN" --sni www.good.test
expect_eq "good-www: chain_valid" "$(jf chain_valid)" true
expect_eq "good-www: verify_error" "$(jf verify_error)" "<null>"

# Wildcards match one label.
add_host wild --host "$A:$MAIN" --sni a.wild.test
expect_eq "wild: the wildcard leaf" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/wild.pem")"
expect_eq "wild: hostname_match" "$(jf hostname_match)" true
add_host wild2 --host "$A:$MAIN" --sni a.b.wild.test
expect_eq "wild2: the wildcard leaf" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/wild.pem")"
expect_eq "wild2: hostname_match (two labels)" "$(jf hostname_match)" false

# A name with two addresses, the first one dead: the next one answers.
add_host multi --host "multi.test:$MAIN" --sni good.test
expect_eq "multi: address" "$(jf address)" "$A:$MAIN"
expect_eq "multi: host" "$(jf host)" multi.test
expect_eq "multi: chain_valid" "$(jf chain_valid)" true

# Port 443 when none is given (needs the privilege to listen there).
if start_server tls $A 443 --cert "$P/good.chain.pem" --key "$P/good.key" \
    --log "$T/443.log"; then
	P443_PID=$SRV_PID
	add_host port443 --host good.test
	host_facts port443 good.test 443 "<null>" "$A:443" "$T/443.log"
	expect_eq "port443: hostname_match" "$(jf hostname_match)" true
	add_host port443-ip --host "$A" --sni www.good.test
	expect_eq "port443-ip: port" "$(jf port)" 443
	expect_eq "port443-ip: address" "$(jf address)" "$A:443"
	run_cf track add --host "https://good.test/index.html"
	expect_eq "port443 url: exit" "$RC" 1
	expect_contains "port443 url: the same target" "$ERR" "already tracked"
	run_cf track add --host "good.test:443"
	expect_contains "port443 explicit: the same target" "$ERR" "already tracked"
	stop_server "$P443_PID"
	# Deleted, or check --all below would find 443 closed.
	"$CERTFLEET" --json track list | jq '.[] | select(.port == 443) | .id' |
	while read -r id; do
		"$CERTFLEET" track delete "$id" >/dev/null
	done
else
	echo "SKIP: default port 443: cannot listen on $A:443 ($SRV_ERR)"
fi

# TLS 1.2 with one cipher: reported as negotiated.
add_host tls12 --host "$A:$TLS12" --sni good.test
host_facts tls12 "$A" "$TLS12" good.test "$A:$TLS12" "$T/tls12.log"
expect_eq "tls12: tls_version" "$(jf tls_version)" TLSv1.2
expect_eq "tls12: cipher" "$(jf cipher)" ECDHE-ECDSA-AES128-GCM-SHA256
expect_eq "tls12: chain_valid" "$(jf chain_valid)" true

# --- 5. IPv6 -------------------------------------------------------------------

if start_server tls ::1 0 --cert "$P/six.chain.pem" --key "$P/six.key" \
    --log "$T/six.log"; then
	SIX_PID=$SRV_PID SIX=$SRV_PORT
	add_host ipv6 --host "[::1]:$SIX" --sni six.test
	IPV6=$ID
	leaf_facts ipv6 "$P/six.pem"
	host_facts ipv6 ::1 "$SIX" six.test "[::1]:$SIX" "$T/six.log"
	expect_eq "ipv6: chain_valid" "$(jf chain_valid)" true
	expect_eq "ipv6: hostname_match" "$(jf hostname_match)" true
	add_host ipv6-url --host "https://[::1]:$SIX/x"
	expect_eq "ipv6 url: host" "$(jf host)" ::1
	expect_eq "ipv6 url: hostname_match (IP SAN ::1)" "$(jf hostname_match)" true
	add_host ipv6-name --host "six.test:$SIX"
	expect_eq "ipv6 name (AAAA only): address" "$(jf address)" "[::1]:$SIX"
	expect_eq "ipv6 name: hostname_match" "$(jf hostname_match)" true
else
	SIX_PID=
	echo "SKIP: IPv6 checks: cannot listen on ::1 ($SRV_ERR)"
fi

# --- 6. refusals: exact message, nothing stored --------------------------------

LIST0=$(list_ids)
EV0=$("$CERTFLEET" --json events --limit 10000 | jq length)

# refused NAME MESSAGE ARGS...: track add exits 1 with one stderr line
# "certfleet: MESSAGE" and stores nothing.
refused() {
	n=$1 want=$2; shift 2
	t0=$(now_ms)
	run_cf track add "$@"
	ELAPSED=$(($(now_ms) - t0))
	expect_eq "$n: exit" "$RC" 1
	expect_eq "$n: message" "$ERR" "certfleet: $want"
	expect_eq "$n: stdout" "$OUT" ""
	expect_eq "$n: track list unchanged" "$(list_ids)" "$LIST0"
	expect_eq "$n: no event" "$("$CERTFLEET" --json events --limit 10000 | jq length)" "$EV0"
}
# refused_glob NAME GLOB ARGS...: the same with a message matching GLOB.
refused_glob() {
	n=$1 want=$2; shift 2
	run_cf track add "$@"
	expect_eq "$n: exit" "$RC" 1
	# shellcheck disable=SC2254
	case $ERR in
	certfleet:\ $want) pass ;;
	*) fail "$n: message [$ERR] does not match [certfleet: $want]" ;;
	esac
	expect_eq "$n: one stderr line" "$(printf '%s\n' "$ERR" | wc -l)" 1
	expect_eq "$n: stdout" "$OUT" ""
	expect_eq "$n: track list unchanged" "$(list_ids)" "$LIST0"
	expect_eq "$n: no event" "$("$CERTFLEET" --json events --limit 10000 | jq length)" "$EV0"
}

URI="Please double-check your input and try again (Invalid URI Format)"
SCHEME="Please double check your input and try again (HttpWebRequest error)"
refused backslash "$URI" --host '\datto.com'
refused empty "$URI" --host ''
refused space "$URI" --host 'a b.test'
refused port0 "$URI" --host 'good.test:0'
refused port70000 "$URI" --host 'good.test:70000'
refused badport "$URI" --host "good.test:44x"
refused ipv6-unclosed "$URI" --host "[::1:$MAIN"
refused scheme-typo "$SCHEME" --host 'htps:\\datto.com'
refused scheme-ftp "$SCHEME" --host 'ftp://x'
refused_glob nxdomain \
    "SSL Certificate not found. Please check spelling and try again. (*)" \
    --host "nope.test:$MAIN"
expect_eq "nxdomain: the DNS server was asked" \
    "$(grep -c '^query nope.test ' "$T/dns.log" | sed 's/^[1-9][0-9]*$/yes/')" yes
refused refused "Unable to retrieve SSL Details (connection refused)" \
    --host "$A:$CLOSED" --sni good.test
refused timeout "Unable to retrieve SSL Details (timed out after 2 s)" \
    --host "$A:$SILENT" --sni good.test
if [ "$ELAPSED" -ge 1500 ] && [ "$ELAPSED" -le 4500 ]; then pass
else fail "timeout: took $ELAPSED ms with --probe-timeout 2"; fi
refused_glob garbage "Unable to retrieve SSL Details (TLS handshake failed: *)" \
    --host "$A:$GARBAGE" --sni good.test

# Already tracked: the same target, however it is written.
LIST0=$(list_ids)
refused_glob dup-ip "*already tracked*" --host "$A:$MAIN" --sni good.test
refused_glob dup-url "*already tracked*" --host "$A:$MAIN"
refused_glob dup-url2 "*already tracked*" --host "https://$A:$MAIN/"
refused_glob dup-name "*already tracked*" --host "good.test:$MAIN"
# ... which the probe did not even need.
stop_server "$MAIN_PID"
refused_glob dup-server-down "*already tracked*" --host "$A:$MAIN" --sni good.test

# --- 7. a changed chain is a new snapshot ---------------------------------------

# shellcheck disable=SC2086
must_start_server tls $A "$MAIN" --cert "$P/good2.chain.pem" --key "$P/good2.key" \
    --log "$SLOG" $VHOSTS
MAIN_PID=$SRV_PID
EV1=$(event_count "$GOOD")
run_cf --json track check "$GOOD"
expect_eq "swap: check exit" "$RC" 0
SHOW=$OUT
expect_eq "swap: the new leaf" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/good2.pem")"
expect_eq "swap: status" "$(jf status)" valid
expect_eq "swap: chain_valid" "$(jf chain_valid)" true
leaf_facts swap "$P/good2.pem"
show "$GOOD"
expect_eq "swap: check answer is the item" \
    "$(printf '%s\n' "$OUT" | jq -cS 'del(.days_remaining)')" \
    "$(printf '%s\n' "$SHOW" | jq -cS 'del(.days_remaining)')"
run_cf --json track history "$GOOD"
HIST=$OUT
expect_eq "swap: two snapshots" "$(printf '%s\n' "$HIST" | jq length)" 2
expect_snapshot "swap old" "$GOOD" "$(printf '%s\n' "$HIST" | jq -c '.[0]')" "$P/good.chain.pem" 1
expect_snapshot "swap new" "$GOOD" "$(printf '%s\n' "$HIST" | jq -c '.[1]')" "$P/good2.chain.pem" 2
run_cf track raw "$GOOD" --snapshot 1
expect_eq "swap: raw 1 exit" "$RC" 0
printf '%s\n' "$OUT" >"$T/raw1.pem"
expect_eq "swap: raw --snapshot 1 is the old chain" "$(chain_fprs "$T/raw1.pem" | tr '\n' ' ')" \
    "$(chain_fprs "$P/good.chain.pem" | tr '\n' ' ')"
run_cf track raw "$GOOD"
printf '%s\n' "$OUT" >"$T/raw2.pem"
expect_eq "swap: raw is the new chain" "$(chain_fprs "$T/raw2.pem" | tr '\n' ' ')" \
    "$(chain_fprs "$P/good2.chain.pem" | tr '\n' ' ')"
run_cf track raw "$GOOD" --snapshot 2
expect_eq "swap: raw --snapshot 2 is the latest" "$OUT" "$(cat "$T/raw2.pem")"
run_cf track raw "$GOOD" --snapshot 3
expect_eq "swap: raw --snapshot 3 does not exist" "$RC" 1
expect_eq "swap: one more event" "$(event_count "$GOOD")" $((EV1 + 1))
run_cf --json events --item "$GOOD" --limit 1
expect_eq "swap: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" chain_changed
expect_eq "swap: the event names the new certificate" \
    "$(printf '%s\n' "$OUT" | jq -r '.[0].data.fingerprint_sha256')" "$(ossl_fpr "$P/good2.pem")"
expect_eq "swap: the event's subject" "$(printf '%s\n' "$OUT" | jq -c '.[0].subject')" \
    "{\"type\":\"tracked\",\"id\":$GOOD}"

# The same chain again: no snapshot, but an event.  The probe skips decoding
# what the item already knows, so every fact must stay as the swap left it.
show "$GOOD"
SWAPPED=$OUT
sleep 1
run_cf track check "$GOOD"
expect_eq "unchanged: check exit" "$RC" 0
expect_contains "unchanged: human item" "$OUT" "$(ossl_fpr "$P/good2.pem")"
show "$GOOD"
NOTIME='del(.days_remaining, .last_checked_at, .next_check_at)'
expect_eq "unchanged: every fact kept" "$(printf '%s\n' "$OUT" | jq -cS "$NOTIME")" \
    "$(printf '%s\n' "$SWAPPED" | jq -cS "$NOTIME")"
expect_eq "unchanged: checked anew" "$(printf '%s\n' "$OUT" | jq -r \
    --arg prev "$(printf '%s\n' "$SWAPPED" | jq -r .last_checked_at)" \
    '.last_checked_at > $prev')" true
leaf_facts unchanged "$P/good2.pem"
run_cf --json track history "$GOOD"
expect_eq "unchanged: still two snapshots" "$(printf '%s\n' "$OUT" | jq length)" 2
expect_eq "unchanged: one more event" "$(event_count "$GOOD")" $((EV1 + 2))
run_cf --json events --item "$GOOD" --limit 1
expect_eq "unchanged: event kind" "$(printf '%s\n' "$OUT" | jq -r '.[0].kind')" checked

# Back to the first chain: a change again, so a third snapshot.
stop_server "$MAIN_PID"
# shellcheck disable=SC2086
must_start_server tls $A "$MAIN" --cert "$P/good.chain.pem" --key "$P/good.key" \
    --log "$SLOG" $VHOSTS
MAIN_PID=$SRV_PID
run_cf --json track check "$GOOD"
expect_eq "swap back: check exit" "$RC" 0
run_cf --json track history "$GOOD"
HIST=$OUT
expect_eq "swap back: three snapshots" "$(printf '%s\n' "$HIST" | jq length)" 3
expect_snapshot "swap back" "$GOOD" "$(printf '%s\n' "$HIST" | jq -c '.[2]')" "$P/good.chain.pem" 3
run_cf track raw "$GOOD" --snapshot 2
printf '%s\n' "$OUT" >"$T/raw2b.pem"
expect_eq "swap back: raw --snapshot 2 is still the second chain" \
    "$(chain_fprs "$T/raw2b.pem" | tr '\n' ' ')" "$(chain_fprs "$P/good2.chain.pem" | tr '\n' ' ')"

# The same leaf without its intermediate: the chain changed, the leaf not.
stop_server "$MAIN_PID"
# shellcheck disable=SC2086
must_start_server tls $A "$MAIN" --cert "$P/good.pem" --key "$P/good.key" \
    --log "$SLOG" $VHOSTS
MAIN_PID=$SRV_PID
run_cf --json track check "$GOOD"
expect_eq "leaf only: check exit" "$RC" 0
SHOW=$OUT
expect_eq "leaf only: chain_valid" "$(jf chain_valid)" false
expect_eq "leaf only: verify_error" "$(jf verify_error)" "unable to get local issuer certificate"
expect_eq "leaf only: chain_length" "$(jf chain_length)" 1
run_cf --json track history "$GOOD"
HIST=$OUT
expect_eq "leaf only: four snapshots" "$(printf '%s\n' "$HIST" | jq length)" 4
expect_snapshot "leaf only" "$GOOD" "$(printf '%s\n' "$HIST" | jq -c '.[3]')" "$P/good.pem" 4
expect_eq "leaf only: same leaf as snapshot 3" "$(printf '%s\n' "$HIST" | jq -r '.[3].leaf_sha256')" \
    "$(printf '%s\n' "$HIST" | jq -r '.[2].leaf_sha256')"
run_cf track raw "$GOOD"
printf '%s\n' "$OUT" >"$T/raw4.pem"
expect_eq "leaf only: raw is the leaf alone" "$(chain_fprs "$T/raw4.pem" | tr '\n' ' ')" \
    "$(ossl_fpr "$P/good.pem") "
stop_server "$MAIN_PID"
# shellcheck disable=SC2086
must_start_server tls $A "$MAIN" --cert "$P/good.chain.pem" --key "$P/good.key" \
    --log "$SLOG" $VHOSTS
MAIN_PID=$SRV_PID

run_cf track check "$PEM_ID"
expect_eq "check of a PEM item: exit" "$RC" 1
run_cf track check 999999
expect_eq "check of no item: exit" "$RC" 1

# --- 8. check --all and import ----------------------------------------------------

NHOST=$("$CERTFLEET" --json track list | jq '[.[] | select(.source == "host")] | length')
run_cf --json track check --all
expect_eq "check --all: exit" "$RC" 0
expect_eq "check --all: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    "{\"probed\":$NHOST,\"ok\":$NHOST,\"failed\":0,\"causes\":{}}"
expect_contains "check --all: progress on stderr" "$ERR" "$NHOST"

if [ -n "$SIX_PID" ]; then
	stop_server "$SIX_PID"
	run_cf --json track check --all
	expect_eq "check --all, ::1 down: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
	    "{\"probed\":$NHOST,\"ok\":$((NHOST - 3)),\"failed\":3,\"causes\":{\"connection refused\":3}}"
	show "$IPV6"
	expect_eq "::1 down: status" "$(jf status)" error
	expect_eq "::1 down: check_failures" "$(jf check_failures)" 1
	expect_contains "::1 down: error cause" "$(jf error)" "connection refused"
	expect_contains "::1 down: error count" "$(jf error)" "failed 1 time, next try at $(jf next_check_at)"
	expect_eq "::1 down: facts kept" "$(jf fingerprint_sha256)" "$(ossl_fpr "$P/six.pem")"
fi

NITEMS=$("$CERTFLEET" --json track list | jq length)
cat >"$T/targets" <<EOF
# one target a line, host[:port] [sni]

$A:$MAIN good.test
   $A:$MAIN    www2.good.test
$A:$CLOSED
# the end
EOF
run_cf --json track import "$T/targets"
case $RC in 0|1) pass ;; *) fail "import: exit $RC" ;; esac
expect_eq "import: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":3,"ok":2,"failed":1,"added":2,"updated":1,"causes":{"connection refused":1}}'
expect_contains "import: progress on stderr" "$ERR" "3"
expect_eq "import: two new items" "$("$CERTFLEET" --json track list | jq length)" $((NITEMS + 2))
LIST=$("$CERTFLEET" --json track list)
expect_eq "import: the tracked target is not duplicated" \
    "$(printf '%s\n' "$LIST" | jq --arg a "$A" --argjson p "$MAIN" \
    '[.[] | select(.host == $a and .port == $p and .sni == "good.test")] | length')" 1
expect_eq "import: the updated item is the old one" \
    "$(printf '%s\n' "$LIST" | jq --arg a "$A" --argjson p "$MAIN" \
    '.[] | select(.host == $a and .port == $p and .sni == "good.test") | .id')" "$GOOD"
NEWOK=$(printf '%s\n' "$LIST" | jq -c --arg a "$A" --argjson p "$MAIN" \
    '.[] | select(.host == $a and .port == $p and .sni == "www2.good.test")')
SHOW=$NEWOK
expect_eq "import: new target status" "$(jf status)" valid
expect_eq "import: new target hostname_match (no such SAN)" "$(jf hostname_match)" false
BAD=$(printf '%s\n' "$LIST" | jq -c --arg a "$A" --argjson p "$CLOSED" \
    '.[] | select(.host == $a and .port == $p)')
SHOW=$BAD
expect_eq "import: the failed target is stored" "$(jf source)" host
expect_eq "import: failed status" "$(jf status)" error
expect_eq "import: failed check_failures" "$(jf check_failures)" 1
expect_contains "import: failed error" "$(jf error)" \
    "Unable to retrieve SSL Details (connection refused)"
expect_eq "import: failed has no facts" "$(jf fingerprint_sha256)" "<null>"
expect_eq "import: failed sni" "$(jf sni)" "<null>"
case $(jf next_check_at) in
"<null>") fail "import: failed item has no next_check_at" ;;
*) expect_eq "import: failed retry in 10 min" \
    $(($(epoch "$(jf next_check_at)") - $(epoch "$(jf last_checked_at)"))) 600 ;;
esac
run_cf track add --host "$A:$CLOSED"
expect_contains "import: a stored failed target is already tracked" "$ERR" "already tracked"

# Importing the same file again updates all three.
run_cf --json track import - <"$T/targets"
expect_eq "re-import: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":3,"ok":2,"failed":1,"added":0,"updated":3,"causes":{"connection refused":1}}'
expect_eq "re-import: no new items" "$("$CERTFLEET" --json track list | jq length)" $((NITEMS + 2))
show "$(printf '%s\n' "$BAD" | jq .id)"
expect_eq "re-import: failures counted" "$(jf check_failures)" 2

# One target twice in one file: one item, added once and updated once.
NITEMS=$("$CERTFLEET" --json track list | jq length)
printf '%s\n' "$A:$MAIN twice.good.test" "$A:$MAIN twice.good.test" >"$T/twice"
run_cf --json track import "$T/twice"
expect_eq "twice: one new item" "$("$CERTFLEET" --json track list | jq length)" $((NITEMS + 1))
# The first line to finish adds the item, the second updates it.
expect_eq "twice: summary" "$(printf '%s\n' "$OUT" | jq -c .)" \
    '{"probed":2,"ok":2,"failed":0,"added":1,"updated":1,"causes":{}}'

# --- 9. resolvers are tried in turn -----------------------------------------------

# (With the first resolver on a closed port a lookup still waits for the
# resolver's 2 s per-try timeout before asking the second: hence 5 s here.)
CLOSEDUDP=$(free_port 127.0.0.1)
stop_daemon
start_daemon --ca-file "$P/root.pem" --probe-timeout 5 \
    --dns-resolver "127.0.0.1:$CLOSEDUDP" --dns-resolver "127.0.0.1:$DNS"
add_host second-resolver --host "good.test:$TLS12"
expect_eq "second resolver: address" "$(jf address)" "$A:$TLS12"
expect_eq "second resolver: hostname_match" "$(jf hostname_match)" true

if kill -0 "$DAEMON_PID"; then pass; else fail "daemon died"; fi
finish
