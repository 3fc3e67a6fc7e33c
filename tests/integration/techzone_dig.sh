#!/bin/sh
# The tech zone's DNS server on real sockets, asked by real resolvers' tools:
# dig (and kdig when installed) over UDP and TCP against techzone_serve on
# 127.0.0.53, a free port.  Skipped (77) when dig is missing.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

command -v dig >/dev/null 2>&1 || { echo "dig not installed: skipped"; exit 77; }

SERVE="$B/tests/integration/techzone_serve"
SERVE_PID=
stop_serve() {
	[ -n "$SERVE_PID" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	rc=0
	wait "$SERVE_PID" || rc=$?
	SERVE_PID=
	return $rc
}
trap 'stop_serve; cleanup' EXIT

${CF_DAEMON_WRAPPER:-} "$SERVE" 127.0.0.53:0 acme.test \
    x.acme.test=hello x.acme.test=world big.acme.test=@30:100 \
    deep.sub.acme.test=d >"$T/serve.out" 2>"$T/daemon.log" &
SERVE_PID=$!
i=0
while ! grep -q '^port ' "$T/serve.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 400 ] || ! kill -0 "$SERVE_PID" 2>/dev/null; then
		echo "techzone_serve did not start:"; cat "$T/daemon.log"
		exit 1
	fi
	sleep 0.05
done
PORT=$(sed -n 's/^port //p' "$T/serve.out")

# q ARGS...: dig at our server, no retries, short timeout.
q() { dig @127.0.0.53 -p "$PORT" +tries=1 +time=3 "$@" 2>&1 || true; }
status() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
flags() { printf '%s\n' "$1" | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p'; }
answers() { printf '%s\n' "$1" | sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p'; }

# --- TXT over UDP and TCP, two values at one name ----------------------------
for mode in +notcp +tcp; do
	out=$(q $mode TXT x.acme.test)
	expect_eq "TXT $mode status" "$(status "$out")" NOERROR
	expect_eq "TXT $mode flags" "$(flags "$out")" "qr aa rd"
	expect_eq "TXT $mode answers" "$(answers "$out")" 2
	expect_eq "TXT $mode values" "$(q $mode +short TXT x.acme.test | sort | tr '\n' ' ')" \
	    '"hello" "world" '
done
out=$(q +norec TXT x.acme.test)
expect_eq "RD off: no RA either" "$(flags "$out")" "qr aa"

# --- the question's case comes back ---------------------------------------------
out=$(q TXT X.AcMe.TeSt)
expect_contains "case echoed in question" "$out" ";X.AcMe.TeSt."
expect_contains "case echoed in answer" "$out" "X.AcMe.TeSt.		10	IN	TXT	\"hello\""

# --- apex, NODATA, NXDOMAIN, REFUSED, ANY, NOTIMP ---------------------------------
expect_eq "SOA" "$(q +short SOA acme.test)" \
    "ns1.acme.test. hostmaster.acme.test. 1 3600 600 604800 30"
expect_eq "NS" "$(q +short NS acme.test)" "ns1.acme.test."
out=$(q A x.acme.test)
expect_eq "NODATA status" "$(status "$out")" NOERROR
expect_eq "NODATA answers" "$(answers "$out")" 0
expect_contains "NODATA SOA" "$out" "acme.test.		30	IN	SOA"
out=$(q TXT sub.acme.test)
expect_eq "empty non-terminal is NODATA" "$(status "$out")" NOERROR
out=$(q TXT nope.acme.test)
expect_eq "NXDOMAIN status" "$(status "$out")" NXDOMAIN
expect_contains "NXDOMAIN SOA" "$out" "acme.test.		30	IN	SOA"
out=$(q A www.example.com)
expect_eq "outside the zone" "$(status "$out")" REFUSED
expect_eq "outside: not authoritative" "$(flags "$out")" "qr rd"
expect_eq "ANY: one HINFO" "$(q +short ANY big.acme.test)" '"RFC8482" ""'
out=$(q +opcode=notify SOA acme.test)
expect_eq "NOTIFY" "$(status "$out")" NOTIMP
out=$(q +tcp AXFR acme.test)
expect_contains "AXFR refused" "$out" "Transfer failed"

# --- sizes: TC without EDNS, dig falls back to TCP and gets all 30 ---------------------
out=$(q +noedns +ignore TXT big.acme.test)
expect_eq "big over UDP, no EDNS: TC" "$(flags "$out")" "qr aa tc rd"
expect_contains "big over UDP, no EDNS: header and question" "$out" "MSG SIZE  rcvd: 31"
out=$(q +bufsize=4096 +ignore TXT big.acme.test)
expect_eq "big over UDP, EDNS 4096: TC" "$(flags "$out")" "qr aa tc rd"
expect_contains "EDNS echoed with 1232" "$out" "udp: 1232"
out=$(q TXT big.acme.test)
expect_contains "dig retried over TCP" "$out" "Truncated, retrying in TCP mode"
expect_eq "big via TCP: all values" "$(answers "$out")" 30
expect_eq "big via TCP: not TC" "$(flags "$out")" "qr aa rd"

# --- several queries on one TCP connection -------------------------------------------
out=$(q +tcp +keepopen +short x.acme.test TXT acme.test SOA acme.test NS)
expect_eq "keepopen: three answers" "$(printf '%s\n' "$out" | wc -l)" 4

# --- kdig, when installed ---------------------------------------------------------------
if command -v kdig >/dev/null 2>&1; then
	for mode in +notcp +tcp; do
		out=$(kdig @127.0.0.53 -p "$PORT" +retry=0 +timeout=3 $mode TXT x.acme.test 2>&1 || true)
		expect_contains "kdig $mode status" "$out" "status: NOERROR"
		expect_contains "kdig $mode value" "$out" '"world"'
	done
	out=$(kdig @127.0.0.53 -p "$PORT" +retry=0 +timeout=3 +tcp TXT big.acme.test 2>&1 || true)
	expect_contains "kdig big over TCP" "$out" "ANSWER: 30"
else
	echo "kdig not installed: its checks skipped"
fi

# --- garbage gets no answer, and the server lives on ------------------------------------
python3 - "$PORT" <<'EOF' || fail "garbage got an answer"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
for junk in (b"", b"x", b"\x00" * 11, b"\xff" * 40, b"\x12\x34\x80" + b"\x00" * 20):
    s.sendto(junk, ("127.0.0.53", int(sys.argv[1])))
try:
    s.recv(600)
    sys.exit(1)
except socket.timeout:
    pass
EOF
expect_eq "alive after garbage" "$(q +short TXT x.acme.test | wc -l)" 2

# --- a wildcard listener answers from the address asked (IP_PKTINFO) -------------
# 0.0.0.0 and [::] are bound only inside a private network namespace whose one
# interface is lo, so nothing listens beyond this machine's loopback.  Without
# IP_PKTINFO the answer to 127.0.0.53 would leave from 127.0.0.1 and be lost.
if unshare -n true 2>/dev/null && command -v ip >/dev/null 2>&1; then
	out=$(SERVE="$SERVE" T="$T" unshare -n sh -c '
		ip link set lo up || exit 1
		for l in 0.0.0.0 "[::]"; do
			# Made before the server starts: the wait below must not race
			# the background redirection.
			: >"$T/wild.out"
			"$SERVE" "$l:0" acme.test x.acme.test=wild >"$T/wild.out" 2>&1 &
			pid=$!
			i=0
			while ! grep -q "^port " "$T/wild.out" 2>/dev/null && [ $i -lt 100 ]; do
				i=$((i + 1)); sleep 0.05
			done
			p=$(sed -n "s/^port //p" "$T/wild.out")
			if [ "$l" = "[::]" ]; then addrs=::1; else addrs="127.0.0.1 127.0.0.53 127.1.2.3"; fi
			for a in $addrs; do
				echo "$a $(dig @$a -p "$p" +short +tries=1 +time=2 TXT x.acme.test)"
			done
			kill $pid; wait $pid
		done
	' 2>&1 || true)
	expect_eq "wildcard listeners answer from the address asked" "$out" \
	    "$(printf '%s "wild"\n' 127.0.0.1 127.0.0.53 127.1.2.3 ::1)"
else
	echo "no network namespaces here: the wildcard check is skipped"
fi

# --- the counters on the way out ---------------------------------------------------------
rc=0
stop_serve || rc=$?
expect_eq "techzone_serve exit status" "$rc" 0
stats=$(sed -n 's/^udp_answers/&/p' "$T/serve.out")
expect_contains "garbage counted as dropped" "$stats" "dropped 5"
# One connection per +tcp dig; the keepopen one carried three queries.
tcp_q=$(printf '%s\n' "$stats" | sed -n 's/.*tcp_answers \([0-9]*\).*/\1/p')
tcp_c=$(printf '%s\n' "$stats" | sed -n 's/.*tcp_accepted \([0-9]*\).*/\1/p')
expect_eq "TCP answers minus connections (keepopen saved two)" \
    "$((tcp_q - tcp_c))" 2
finish
