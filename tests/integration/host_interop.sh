#!/bin/sh
# The probe's TLS client against openssl s_server in every key type and
# protocol shape a fleet holds: RSA, EC P-384, Ed25519 and Ed448 leafs;
# TLS 1.3 with a forced cipher, with X448 and with ffdhe2048 (each a
# HelloRetryRequest, since the client's first key share is X25519); TLS 1.2
# with ECDHE and with DHE over CBC suites (the MAC keys of the pre-AEAD
# record layer); TLS 1.0 with RSA key exchange.  The probes run in their
# own OpenSSL library context (daemon/tlslib.c), so this checks that it
# lacks nothing a handshake or a certificate's key needs: every probe must
# succeed, report what the server negotiated, verify the chain and match
# the name, and report the leaf's key and fingerprint as openssl does.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.23
NAME=interop.test
# make_key NAME KEYSPEC...: a self-signed leaf for $NAME in $P/NAME.{pem,key}.
make_key() {
	n=$1; shift
	ossl req -x509 -newkey "$@" -nodes -keyout "$P/$n.key" -out "$P/$n.pem" \
	    -days 30 -subj "/CN=$NAME" -addext "subjectAltName=DNS:$NAME"
	cat "$P/$n.pem" >>"$P/anchors.pem"
}

# wait_listen PORT: until something accepts on $A:PORT (10 s at most).
wait_listen() {
	"$PYTHON" -c 'import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)' "$A" "$1"
}

# serve KEY ARGS...: openssl s_server for leaf KEY; sets PORT.
serve() {
	k=$1; shift
	PORT=$(free_port $A)
	openssl s_server -accept "$A:$PORT" -cert "$P/$k.pem" -key "$P/$k.key" \
	    -quiet "$@" >"$T/s_server.$PORT.log" 2>&1 &
	SERVER_PIDS="$SERVER_PIDS $!"	# stopped by lib_tls.sh's cleanup
	if ! wait_listen "$PORT"; then
		echo "openssl s_server $* did not start:"; cat "$T/s_server.$PORT.log"
		exit 1
	fi
}

P="$T/pki"
mkdir -p "$P"
: >"$P/anchors.pem"
make_key rsa rsa:2048
make_key ec384 ec -pkeyopt ec_paramgen_curve:P-384
make_key ed25519 ed25519
make_key ed448 ed448

start_daemon --ca-file "$P/anchors.pem" --probe-timeout 5

# probe CASE KEY WANT_VERSION WANT_CIPHER PUBKEY -- S_SERVER ARGS...
probe() {
	n=$1 k=$2 want_v=$3 want_c=$4 want_k=$5
	shift 6
	serve "$k" "$@"
	run_cf --json track add --host "$A:$PORT" --sni "$NAME"
	expect_eq "$n: add exit" "$RC" 0
	expect_eq "$n: add stderr" "$ERR" ""
	id=$(printf '%s\n' "$OUT" | jq -r '.id // empty')
	show "${id:-0}"
	expect_eq "$n: status" "$(jf status)" valid
	expect_eq "$n: tls_version" "$(jf tls_version)" "$want_v"
	expect_eq "$n: cipher" "$(jf cipher)" "$want_c"
	expect_eq "$n: chain_valid" "$(jf chain_valid)" true
	expect_eq "$n: verify_error" "$(jf verify_error)" "<null>"
	expect_eq "$n: hostname_match" "$(jf hostname_match)" true
	expect_eq "$n: public_key" "$(jf public_key)" "$want_k"
	expect_eq "$n: fingerprint_sha256" "$(jf fingerprint_sha256)" \
	    "$(ossl_fpr "$P/$k.pem")"
	# A re-check of the same chain takes the unchanged path.
	run_cf --json track check "${id:-0}"
	expect_eq "$n: re-check exit" "$RC" 0
	show "${id:-0}"
	expect_eq "$n: re-check keeps chain_valid" "$(jf chain_valid)" true
	expect_eq "$n: re-check keeps public_key" "$(jf public_key)" "$want_k"
}

probe rsa13 rsa TLSv1.3 TLS_AES_128_GCM_SHA256 "RSA 2048" -- \
    -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
probe ed25519 ed25519 TLSv1.3 TLS_CHACHA20_POLY1305_SHA256 ED25519 -- \
    -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
probe ed448-x448 ed448 TLSv1.3 TLS_AES_256_GCM_SHA384 ED448 -- \
    -tls1_3 -groups X448
probe rsa-ffdhe rsa TLSv1.3 TLS_AES_256_GCM_SHA384 "RSA 2048" -- \
    -tls1_3 -groups ffdhe2048
probe ec384-cbc ec384 TLSv1.2 ECDHE-ECDSA-AES256-SHA384 "EC P-384" -- \
    -tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384
probe rsa-dhe rsa TLSv1.2 DHE-RSA-AES128-SHA "RSA 2048" -- \
    -tls1_2 -cipher DHE-RSA-AES128-SHA
probe rsa-tls10 rsa TLSv1 AES128-SHA "RSA 2048" -- \
    -tls1 -cipher AES128-SHA:@SECLEVEL=0

finish
