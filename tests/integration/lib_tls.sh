# Shared helpers for the host-tracking integration tests: test servers
# (tests/integration/tlsserver.py) on loopback addresses, stopped by PID; a
# private CA made with openssl; what openssl says of a certificate.
# Sourced after lib.sh.

PYTHON=${PYTHON:-python3}
TLSSERVER="$S/tests/integration/tlsserver.py"
SERVER_PIDS=

tls_cleanup() {
	for p in $SERVER_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SERVER_PIDS=
	cleanup
}
trap tls_cleanup EXIT
trap 'exit 1' INT TERM HUP

SRV_N=0
# start_server MODE ADDR PORT [options...]: starts tlsserver.py and waits for
# it to listen.  Sets SRV_PID and SRV_PORT; returns 1 (with SRV_ERR) when
# the server could not start (e.g. no ::1).
start_server() {
	SRV_N=$((SRV_N + 1))
	out="$T/server.$SRV_N.out"
	: >"$out"
	"$PYTHON" "$TLSSERVER" "$@" >"$out" 2>"$out.err" &
	SRV_PID=$!
	SERVER_PIDS="$SERVER_PIDS $SRV_PID"
	i=0
	while ! grep -q '^ready ' "$out"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$SRV_PID" 2>/dev/null; then
			SRV_ERR=$(cat "$out.err")
			stop_server "$SRV_PID"
			SRV_PORT=
			return 1
		fi
		sleep 0.05
	done
	SRV_PORT=$(sed -n 's/^ready //p' "$out")
	return 0
}

# must_start_server MODE ADDR PORT [options...]: start_server or give up.
must_start_server() {
	if ! start_server "$@"; then
		echo "test server $1 on $2 did not start: $SRV_ERR"
		exit 1
	fi
}

# stop_server PID: stops one test server we started.
stop_server() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	rest=
	for p in $SERVER_PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	SERVER_PIDS=$rest
}

# free_port ADDR: a TCP port nothing listens on at ADDR right now.
free_port() {
	"$PYTHON" -c 'import socket,sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# now_ms: wall-clock milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- a private CA -----------------------------------------------------------

ossl() { # openssl ARGS...: quiet unless it fails
	openssl "$@" >"$T/openssl.err" 2>&1 || { echo "openssl $1 failed:"; cat "$T/openssl.err"; exit 1; }
}

# make_ca: $T/pki/root.pem (+.key), $T/pki/inter.pem (+.key), an `openssl ca`
# database whose leafs carry the SANs of their request.
make_ca() {
	P="$T/pki"
	mkdir -p "$P/new"
	: >"$P/index.txt"
	echo 1000 >"$P/serial"
	cat >"$P/ca.cnf" <<EOF
[ca]
default_ca = cadef
[cadef]
dir = $P
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = copy
x509_extensions = leaf_ext
[pol]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
localityName = optional
stateOrProvinceName = optional
countryName = optional
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$P/root.key" -out "$P/root.pem" -days 3650 \
	    -subj "/O=Certfleet Test/CN=Certfleet Test Root"
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$P/inter.key" -out "$P/inter.csr" \
	    -subj "/O=Certfleet Test/CN=Certfleet Test Intermediate"
	ossl x509 -req -in "$P/inter.csr" -CA "$P/root.pem" -CAkey "$P/root.key" \
	    -set_serial 7 -days 3000 -extfile "$P/ca.cnf" -extensions inter_ext \
	    -out "$P/inter.pem"
}

# asn1_time EPOCH: the date as `openssl ca -startdate/-enddate` wants it.
asn1_time() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }

# make_leaf NAME SUBJECT SAN START END: $T/pki/NAME.pem (leaf), NAME.key,
# NAME.chain.pem (leaf + intermediate), signed by the intermediate with the
# validity START..END (epoch seconds).
make_leaf() {
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$P/$1.key" -out "$P/$1.csr" -subj "$2" \
	    -addext "subjectAltName=$3"
	ossl ca -batch -config "$P/ca.cnf" -cert "$P/inter.pem" \
	    -keyfile "$P/inter.key" -in "$P/$1.csr" -out "$P/$1.pem" -notext \
	    -startdate "$(asn1_time "$4")" -enddate "$(asn1_time "$5")"
	cat "$P/$1.pem" "$P/inter.pem" >"$P/$1.chain.pem"
}

# make_selfsigned NAME SUBJECT SAN DAYS
make_selfsigned() {
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$P/$1.key" -out "$P/$1.pem" -days "$4" -subj "$2" \
	    -addext "subjectAltName=$3"
	cp "$P/$1.pem" "$P/$1.chain.pem"
}

. "$S/tests/integration/lib_ossl.sh"
epoch() { date -u -d "$1" +%s; }

# ossl_sans FILE: the SANs as a JSON array: DNS names as openssl prints
# them, IP addresses in their canonical text (inet_ntop's compressed IPv6).
ossl_sans() {
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
	    sed -n '2,$p' | "$PYTHON" -c 'import ipaddress, json, sys
out = []
for part in sys.stdin.read().strip().split(", "):
    if part.startswith("DNS:"):
        out.append(part[4:])
    elif part.startswith("IP Address:"):
        out.append(str(ipaddress.ip_address(part[11:])))
    elif part:
        out.append("UNEXPECTED:" + part)
print(json.dumps(out, separators=(",", ":"), ensure_ascii=False))'
}

# pem_split FILE DIR: one file per certificate, DIR/1.pem, DIR/2.pem, ...
pem_split() {
	rm -rf "$2"; mkdir -p "$2"
	awk -v d="$2" '/-----BEGIN CERTIFICATE-----/ { n++ }
	    n { print > (d "/" n ".pem") }
	    /-----END CERTIFICATE-----/ { close(d "/" n ".pem") }' "$1"
}

# chain_fprs FILE: the SHA-256 fingerprints of every certificate, one a line.
chain_fprs() {
	pem_split "$1" "$T/split"
	n=1
	while [ -f "$T/split/$n.pem" ]; do
		ossl_fpr "$T/split/$n.pem"
		n=$((n + 1))
	done
}

# chain_sha256 FILE: SHA-256 over the DER of every certificate in order.
chain_sha256() {
	pem_split "$1" "$T/split"
	n=1
	: >"$T/split/all.der"
	while [ -f "$T/split/$n.pem" ]; do
		openssl x509 -in "$T/split/$n.pem" -outform DER >>"$T/split/all.der"
		n=$((n + 1))
	done
	sha256sum "$T/split/all.der" | cut -d' ' -f1
}

# --- what certfleet says ----------------------------------------------------

# jf FIELD: a field of $SHOW as raw text, "<null>" for null.
jf() {
	printf '%s\n' "$SHOW" | jq -r --arg k "$1" '.[$k] | if . == null then "<null>" else tostring end'
}

# show ID: sets SHOW to `track show ID --json` (empty when it fails).
show() {
	run_cf --json track show "$1"
	SHOW=$OUT
	[ "$RC" -eq 0 ] || SHOW='{}'
}

# list_ids: the ids of `track list`, space separated.
list_ids() {
	"$CERTFLEET" --json track list | jq -r '[.[].id] | join(" ")'
}

# event_count ID: how many events the feed holds about item ID.
event_count() {
	"$CERTFLEET" --json events --item "$1" --limit 10000 | jq length
}

# expect_le WHAT A B: A <= B (integers).
expect_le() {
	if [ "$2" -le "$3" ] 2>/dev/null; then pass; else fail "$1: $2 > $3"; fi
}
