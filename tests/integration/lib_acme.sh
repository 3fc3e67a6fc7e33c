# A real pebble (Debian's) on a loopback address, for ACME tests.  Sourced
# after lib.sh (uses $T).  Its HTTPS certificate comes from a throwaway CA
# made here, since Debian ships none of pebble's test certificates.
#
#   PEBBLE_ENV="PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1" \
#       start_pebble 127.0.0.20 [-dnsserver 127.0.0.10:53]
#   ... "$PEBBLE_DIR" (directory URL) and "$PEBBLE_TRUST" (CA file) ...
#   stop_pebble
#
# ACME listens on ADDR:14000, management on ADDR:15000.  Each suite starts
# its own pebble (Debian's 2.4.0 can deadlock under load and never recover).

PEBBLE=${PEBBLE:-/usr/bin/pebble}
PEBBLE_PID=
PEBBLE_DIR=
PEBBLE_TRUST=
PEBBLE_ENV=${PEBBLE_ENV:-}
# "KID:BASE64URL-KEY": pebble then requires external account binding.
PEBBLE_EAB=${PEBBLE_EAB:-}

# pebble_certs DIR ADDR: a CA and a server certificate for ADDR.
pebble_certs() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -days 2 -subj "/CN=certfleet test pebble CA" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=pebble" -keyout "$1/key.pem" -out "$1/server.csr" \
	    2>/dev/null || return 1
	printf 'subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' \
	    "$2" >"$1/server.ext"
	openssl x509 -req -in "$1/server.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
	    -CAcreateserial -days 2 -extfile "$1/server.ext" \
	    -out "$1/cert.pem" 2>/dev/null
}

# start_pebble ADDR [-dnsserver HOST:PORT] [-strict]: starts pebble on ADDR
# and waits until its directory answers over verified HTTPS.
start_pebble() {
	addr=$1; shift
	pd="$T/pebble-$addr"
	mkdir -p "$pd"
	pebble_certs "$pd" "$addr" || { echo "pebble: cannot make certificates"; exit 1; }
	eab_required=false
	eab_keys=
	if [ -n "$PEBBLE_EAB" ]; then
		eab_required=true
		eab_keys=$(printf ',\n    "externalAccountMACKeys": { "%s": "%s" }' \
		    "${PEBBLE_EAB%%:*}" "${PEBBLE_EAB#*:}")
	fi
	cat >"$pd/config.json" <<EOT
{
  "pebble": {
    "listenAddress": "$addr:14000",
    "managementListenAddress": "$addr:15000",
    "certificate": "$pd/cert.pem",
    "privateKey": "$pd/key.pem",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab_required$eab_keys
  }
}
EOT
	# shellcheck disable=SC2086
	env $PEBBLE_ENV "$PEBBLE" -config "$pd/config.json" "$@" \
	    >>"$T/pebble.log" 2>&1 &
	PEBBLE_PID=$!
	PEBBLE_DIR="https://$addr:14000/dir"
	PEBBLE_TRUST="$pd/ca.pem"
	i=0
	until curl -sf --cacert "$PEBBLE_TRUST" -o /dev/null "$PEBBLE_DIR"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$PEBBLE_PID" 2>/dev/null; then
			echo "pebble did not start:"; cat "$T/pebble.log"
			exit 1
		fi
		sleep 0.05
	done
}

# stop_pebble: stops the pebble we started, by PID.
stop_pebble() {
	[ -n "$PEBBLE_PID" ] || return 0
	kill -TERM "$PEBBLE_PID" 2>/dev/null || true
	wait "$PEBBLE_PID" 2>/dev/null || true
	PEBBLE_PID=
}

# pebble_alive: 0 when pebble still answers its directory (a deadlocked
# pebble accepts connections but never answers).
pebble_alive() {
	curl -sf --max-time 5 --cacert "$PEBBLE_TRUST" -o /dev/null "$PEBBLE_DIR"
}
