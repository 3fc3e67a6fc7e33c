# A real DNS topology on loopback for tests that follow a CNAME into the
# tech zone, the way a CA's resolver does:
#
#   unbound  $CF_NET.10:53   resolver, stub zone "test." -> knotd
#   knotd    $CF_NET.11:53   zone "test." (the customers' names), dynamic
#                            updates with a TSIG key; delegates
#                            $DNS_TZ_ZONE to ns1.$DNS_TZ_ZONE = $CF_NET.12
#   certfleetd's tech zone   $CF_NET.12:53 (the test starts it)
#
# Source after lib.sh.  Each test script takes its own CF_NET (a /24 inside
# 127.0.0.0/8; never 127.0.0.x, which others use) so tests run in parallel.
# Port 53 needs root; without it, or without unbound/knotd/nsupdate/dig, the
# test is skipped (77).  Every process is stopped by its PID.
#
#   start_dns              starts knotd, then unbound; waits until each answers
#   dns_alive              fails the test (logs printed) unless both answer
#   dns_add_cname NAME TARGET   NAME. CNAME TARGET. in "test." (TTL 1)
#   dns_del_cname NAME          removes NAME's CNAME
#   dns_add_a NAME ADDR         NAME. A ADDR (a name with other records)
#   dns_update CMD...           any nsupdate "update ..." lines, one send
#   dns_logs               prints both logs (done on a failing exit too)
#   stop_dns               stops both, by PID
#
# lib_dns.sh sets the EXIT trap (stop_dns, then lib.sh's cleanup); a script
# that sets its own must call both.  The tech zone must lie under "test.".

CF_NET=${CF_NET:-127.0.53}
DNS_RESOLVER=$CF_NET.10
DNS_KNOT=$CF_NET.11
DNS_TZ=$CF_NET.12
DNS_TZ_ZONE=${DNS_TZ_ZONE:-acme.test}
DNS_DIR="$T/dns"
UNBOUND_PID=
KNOT_PID=

case "$DNS_TZ_ZONE" in
*?.test) ;;
*) echo "lib_dns: DNS_TZ_ZONE must lie under test."; exit 1 ;;
esac
case "$CF_NET" in
127.0.0|127.0.0.*) echo "lib_dns: CF_NET $CF_NET is shared with other tests"; exit 1 ;;
127.*) ;;
*) echo "lib_dns: CF_NET must lie in 127.0.0.0/8 (loopback only)"; exit 1 ;;
esac

dns_skip_unless_ready() {
	for p in unbound knotd nsupdate dig; do
		command -v "$p" >/dev/null 2>&1 ||
		    { echo "$p not installed: skipped"; exit 77; }
	done
	[ "$(id -u)" -eq 0 ] || { echo "port 53 needs root: skipped"; exit 77; }
}

# dns_answers SERVER: whether SERVER answers SOA test. at all (any rcode).
dns_answers() {
	dig @"$1" +tries=1 +time=1 SOA test. 2>/dev/null | grep -q 'status: '
}

# dns_wait NAME PID SERVER: waits up to 10 s for SERVER to answer.
dns_wait() {
	i=0
	while ! dns_answers "$3"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "$1 did not start:"
			dns_logs
			exit 1
		fi
		sleep 0.1
	done
}

dns_logs() {
	for f in "$DNS_DIR/knot.log" "$DNS_DIR/knotd.out" "$DNS_DIR/unbound.log" \
	    "$DNS_DIR/unbound.out"; do
		[ -s "$f" ] || continue
		echo "--- $f ---"
		tail -40 "$f"
	done
}

start_knot() {
	mkdir -p "$DNS_DIR/knot/storage" "$DNS_DIR/knot/run"
	DNS_TSIG_SECRET=$(head -c 32 /dev/urandom | base64)
	cat >"$DNS_DIR/knot/test.zone" <<EOF
\$ORIGIN test.
\$TTL 1
@	SOA	ns.test. hostmaster.test. 1 3600 600 604800 1
@	NS	ns.test.
ns	A	$DNS_KNOT
; the tech zone, delegated to certfleetd (its NS name is its default)
${DNS_TZ_ZONE%.test}	NS	ns1.$DNS_TZ_ZONE.
ns1.${DNS_TZ_ZONE%.test}	A	$DNS_TZ
EOF
	cat >"$DNS_DIR/knot/knot.conf" <<EOF
server:
    rundir: "$DNS_DIR/knot/run"
    pidfile: "$DNS_DIR/knot/run/knot.pid"
    listen: $DNS_KNOT@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: "$DNS_DIR/knot.log"
    any: info
database:
    storage: "$DNS_DIR/knot/storage"
key:
  - id: cftest
    algorithm: hmac-sha256
    secret: $DNS_TSIG_SECRET
acl:
  - id: cfupdate
    key: cftest
    action: update
zone:
  - domain: test.
    storage: "$DNS_DIR/knot"
    file: test.zone
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    acl: cfupdate
EOF
	knotd -c "$DNS_DIR/knot/knot.conf" >"$DNS_DIR/knotd.out" 2>&1 &
	KNOT_PID=$!
	dns_wait knotd "$KNOT_PID" "$DNS_KNOT"
}

start_unbound() {
	mkdir -p "$DNS_DIR/unbound"
	cat >"$DNS_DIR/unbound/unbound.conf" <<EOF
server:
    interface: $DNS_RESOLVER
    port: 53
    outgoing-interface: $DNS_RESOLVER
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$DNS_DIR/unbound"
    pidfile: "$DNS_DIR/unbound/unbound.pid"
    logfile: "$DNS_DIR/unbound.log"
    use-syslog: no
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    # tests change records and expect the change within a second or two
    cache-max-ttl: 1
    cache-max-negative-ttl: 1
    # a server that was down (a daemon restart) is asked again soon
    infra-host-ttl: 1
    infra-keep-probing: yes
    # nothing leaves loopback: only "test." is resolved, from knotd
    local-zone: "." refuse
    local-zone: "test." transparent
    domain-insecure: "test."
remote-control:
    control-enable: no
stub-zone:
    name: "test."
    stub-addr: $DNS_KNOT
EOF
	unbound -d -c "$DNS_DIR/unbound/unbound.conf" >"$DNS_DIR/unbound.out" 2>&1 &
	UNBOUND_PID=$!
	dns_wait unbound "$UNBOUND_PID" "$DNS_RESOLVER"
}

start_dns() {
	dns_skip_unless_ready
	mkdir -p "$DNS_DIR"
	start_knot
	start_unbound
}

# dns_alive: both processes run and answer; otherwise the test fails here.
dns_alive() {
	for x in "knotd $KNOT_PID $DNS_KNOT" "unbound $UNBOUND_PID $DNS_RESOLVER"; do
		# shellcheck disable=SC2086
		set -- $x
		if [ -z "$2" ] || ! kill -0 "$2" 2>/dev/null || ! dns_answers "$3"; then
			echo "lib_dns: $1 is not answering on $3"
			dns_logs
			exit 1
		fi
	done
}

# dns_update LINE...: one nsupdate transaction of "update ..." lines.
dns_update() {
	{
		echo "server $DNS_KNOT 53"
		echo "zone test."
		for l in "$@"; do echo "update $l"; done
		echo "send"
	} >"$DNS_DIR/nsupdate.in"
	if ! nsupdate -y "hmac-sha256:cftest:$DNS_TSIG_SECRET" -t 5 \
	    "$DNS_DIR/nsupdate.in" >"$DNS_DIR/nsupdate.out" 2>&1; then
		echo "lib_dns: nsupdate failed:"
		cat "$DNS_DIR/nsupdate.in" "$DNS_DIR/nsupdate.out"
		return 1
	fi
}

dns_add_cname() { dns_update "add ${1%.}. 1 CNAME ${2%.}."; }
dns_del_cname() { dns_update "delete ${1%.}. CNAME"; }
dns_add_a() { dns_update "add ${1%.}. 1 A $2"; }

stop_dns() {
	for pid in $UNBOUND_PID $KNOT_PID; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	UNBOUND_PID=
	KNOT_PID=
}

# Stopped on every exit; logs shown when the test failed.
trap 'rc=$?; [ $rc -eq 0 ] || [ $rc -eq 77 ] || dns_logs; stop_dns; cleanup' EXIT
