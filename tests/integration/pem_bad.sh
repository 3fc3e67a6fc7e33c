#!/bin/sh
# PEM refusals: everything but exactly one decodable certificate is refused
# with exit 1, nothing on stdout and one stderr line holding the seed's
# sentence and the precise reason, without touching the store, leaking key
# material or hurting the daemon.  Plus the client's usage errors.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

PREFIX="certfleet: Unable to process PEM-encoded certificate. Please double-check certificate and try again. ("

# store_state: "<items in track list> <tracked.total in status>".
store_state() {
	"$CERTFLEET" --json track list | jq length | tr -d '\n'
	printf ' '
	"$CERTFLEET" --json status | jq .tracked.total
}

# daemon_ok WHAT: the daemon we started still runs and answers.
daemon_ok() {
	if kill -0 "$DAEMON_PID" 2>/dev/null; then pass
	else fail "$1: certfleetd (pid $DAEMON_PID) died"; fi
	rc=0
	"$CERTFLEET" status >/dev/null 2>&1 || rc=$?
	expect_eq "$1: daemon answers" "$rc" 0
}

# refused NAME FILE exact|contains REASON: `track add --pem FILE`, human and
# --json, is refused with the reason; the store stays as it was.
refused() {
	for mode in human json; do
		n="$1 ($mode)"
		if [ $mode = json ]; then run_cf --json track add --pem "$2"
		else run_cf track add --pem "$2"; fi
		expect_eq "$n: exit" "$RC" 1
		expect_eq "$n: stdout" "$OUT" ""
		expect_eq "$n: one stderr line" "$(wc -l <"$T/err")" 1
		case $ERR in
		"$PREFIX"*) pass ;;
		*) fail "$n: stderr [$ERR] does not start with the refusal sentence" ;;
		esac
		if [ "$3" = exact ]; then
			expect_eq "$n: reason" "$ERR" "$PREFIX$4)"
		else
			expect_contains "$n: reason" "$ERR" "$4"
		fi
		expect_eq "$n: store unchanged" "$(store_state)" "$STATE0"
	done
	daemon_ok "$1"
}

# A key's base64 body lines long enough not to match anything by chance.
key_lines() {
	sed '/^-----/d; /^Proc-Type:/d; /^DEK-Info:/d; /^$/d' "$1" | awk 'length($0) >= 16'
}

# expect_no_key_material WHAT TEXT KEYFILE
expect_no_key_material() {
	leaked=0
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		case $2 in *"$l"*) leaked=1 ;; esac
	done <<EOF
$(key_lines "$3")
EOF
	if [ $leaked -eq 0 ]; then pass; else fail "$1: holds key material"; fi
}

start_daemon

# One good certificate, so "unchanged" means something.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/good.key" -out "$T/good.pem" -subj "/CN=good.fleet.example" \
    -days 30 2>/dev/null
run_cf --json track add --pem "$T/good.pem"
expect_eq "first good add" "$RC" 0
STATE0=$(store_state)
expect_eq "store holds one item" "$STATE0" "1 1"

for i in 2 3; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/c$i.key" -out "$T/c$i.pem" -subj "/CN=c$i.fleet.example" \
	    -days 30 2>/dev/null
done

# --- nothing, or too many ---------------------------------------------------
: >"$T/empty.pem"
refused "empty file" "$T/empty.pem" exact "found no certificate"
printf 'just some text\nno PEM here\n-- not a boundary --\n' >"$T/text.pem"
refused "plain text" "$T/text.pem" exact "found no certificate"
cat "$T/good.pem" "$T/c2.pem" >"$T/two.pem"
refused "two certificates" "$T/two.pem" exact "found 2 certificates"
cat "$T/good.pem" "$T/c2.pem" "$T/c3.pem" >"$T/three.pem"
refused "three certificates" "$T/three.pem" exact "found 3 certificates"
{ echo junk; cat "$T/c2.pem"; echo garbage; echo "more garbage"; cat "$T/c3.pem"; } >"$T/mixed.pem"
refused "junk/cert/garbage/cert" "$T/mixed.pem" exact "found 2 certificates"

# --- private keys -----------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem" 2>/dev/null
refused "private key" "$T/key.pem" exact "found a private key, not a certificate"
expect_no_key_material "private key: stderr" "$ERR" "$T/key.pem"
cat "$T/good.pem" "$T/good.key" >"$T/cert-key.pem"
refused "cert then its key" "$T/cert-key.pem" exact "found a private key, not a certificate"
expect_no_key_material "cert then its key: stderr" "$ERR" "$T/good.key"
cat "$T/good.key" "$T/good.pem" >"$T/key-cert.pem"
refused "key then cert" "$T/key-cert.pem" exact "found a private key, not a certificate"
openssl genrsa -traditional -out "$T/rsakey.pem" 2048 2>/dev/null
refused "traditional RSA key" "$T/rsakey.pem" exact "found a private key, not a certificate"
openssl ecparam -name prime256v1 -genkey -out "$T/eckey.pem" 2>/dev/null
refused "EC PARAMETERS + EC key" "$T/eckey.pem" exact "found a private key, not a certificate"
openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret -out "$T/enckey.pem" 2>/dev/null
refused "encrypted key" "$T/enckey.pem" exact "found a private key, not a certificate"
for k in key good.key rsakey eckey enckey; do
	[ "$k" = good.key ] && f="$T/good.key" || f="$T/$k.pem"
	expect_no_key_material "daemon log vs $k" "$(cat "$T/daemon.log")" "$f"
done

# --- not text, too large ----------------------------------------------------
{ head -c 2048 /dev/urandom; printf '\000'; head -c 2047 /dev/urandom; } >"$T/binary.pem"
expect_eq "binary input is 4096 bytes" "$(wc -c <"$T/binary.pem")" 4096
refused "binary garbage" "$T/binary.pem" contains "(input is not text"
{ cat "$T/good.pem"; printf 'x\000y\n'; } >"$T/cert-nul.pem"
refused "cert then a NUL" "$T/cert-nul.pem" contains "(input is not text (binary data at byte "

# pad FILE SIZE OUT: FILE followed by comment lines, SIZE bytes in all.
pad() {
	python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2]) - len(data)
line = b"# " + b"x" * 61 + b"\n"
tail = line * (n // 64)
if n % 64:
    tail += b"y" * (n % 64 - 1) + b"\n"
open(sys.argv[3], "wb").write(data + tail)' "$1" "$2" "$3"
}
pad "$T/c2.pem" $((300 * 1024)) "$T/big.pem"
expect_eq "oversized input is 300 KiB" "$(wc -c <"$T/big.pem")" 307200
refused "300 KiB" "$T/big.pem" contains "too large"
pad "$T/c2.pem" 262145 "$T/limit1.pem"
refused "limit + 1 byte" "$T/limit1.pem" exact "input too large: 262145 bytes, limit 262144"

# --- broken blocks ----------------------------------------------------------
# Characters outside the base64 alphabet in the middle of the body.
sed '4s/^\(.\{20\}\)..../\1*!*!/' "$T/c2.pem" >"$T/badchars.pem"
refused "base64 with foreign characters" "$T/badchars.pem" exact \
    "certificate block is not valid base64"
# A body whose length is no longer whole base64 quanta.
sed '4s/^\(.\{10\}\).../\1/' "$T/c2.pem" >"$T/quanta.pem"
refused "base64 cut short" "$T/quanta.pem" exact "certificate block is not valid base64"
# Valid base64, but the DER's outer header is flipped / a line is missing.
sed '2s/^MII/AII/' "$T/c2.pem" >"$T/flipped.pem"
refused "flipped DER header" "$T/flipped.pem" exact "certificate DER is malformed"
sed '4d' "$T/c2.pem" >"$T/dropline.pem"
refused "dropped body line" "$T/dropline.pem" exact "certificate DER is malformed"
# Extra bytes after the certificate inside its block.
openssl x509 -in "$T/c2.pem" -outform DER >"$T/c2.der"
printf 'XYZ' >>"$T/c2.der"
{ echo "-----BEGIN CERTIFICATE-----"; openssl base64 -in "$T/c2.der"
  echo "-----END CERTIFICATE-----"; } >"$T/trailing.pem"
refused "trailing DER bytes" "$T/trailing.pem" exact "trailing bytes inside the certificate block"
# Truncated: BEGIN without END.
head -n 5 "$T/c2.pem" >"$T/truncated.pem"
refused "truncated block" "$T/truncated.pem" contains "unterminated"
refused "truncated block, exact" "$T/truncated.pem" exact "unterminated PEM block"
{ head -n 5 "$T/c2.pem"; cat "$T/c3.pem"; } >"$T/truncated2.pem"
refused "BEGIN inside a block" "$T/truncated2.pem" exact "unterminated PEM block"
sed 1d "$T/c2.pem" >"$T/nobegin.pem"
refused "END without BEGIN" "$T/nobegin.pem" exact "PEM END line without a BEGIN line"
sed '$s/CERTIFICATE/X509 CRL/' "$T/c2.pem" >"$T/mismatch.pem"
refused "mismatched labels" "$T/mismatch.pem" exact "mismatched PEM block labels"

# --- not a certificate ------------------------------------------------------
openssl req -new -key "$T/c2.key" -subj "/CN=csr.fleet.example" -out "$T/csr.pem" 2>/dev/null
refused "CSR" "$T/csr.pem" exact "found a CERTIFICATE REQUEST block, not a certificate"
cat "$T/c2.pem" "$T/csr.pem" >"$T/cert-csr.pem"
refused "cert + CSR" "$T/cert-csr.pem" exact "found a CERTIFICATE REQUEST block, not a certificate"

# --- a NUL byte in the subject CN -------------------------------------------
if python3 -c 'import cryptography' 2>/dev/null; then
	python3 - "$T/nul.pem" <<'EOF'
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                 "good.example\x00.evil.example")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                "NUL Test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
EOF
else
	# Patch the DER by hand; the signature breaks, which decoding ignores.
	# Signed by another CA so the CN appears only in the subject.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/nulca.key" -out "$T/nulca.pem" -subj "/O=NUL Test CA" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/nulleaf.key" -out "$T/nulleaf.csr" -subj "/CN=AAAA.example.com" 2>/dev/null
	openssl x509 -req -in "$T/nulleaf.csr" -CA "$T/nulca.pem" -CAkey "$T/nulca.key" \
	    -days 1 -outform DER -out "$T/nulleaf.der" 2>/dev/null
	python3 - "$T/nulleaf.der" "$T/nul.pem" <<'EOF'
import base64, sys
der = open(sys.argv[1], "rb").read()
assert der.count(b"AAAA.example.com") == 1
der = der.replace(b"AAAA.example.com", b"\x00AAA.example.com", 1)
b64 = base64.b64encode(der).decode()
body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE-----\n" + body +
                             "\n-----END CERTIFICATE-----\n")
EOF
fi
expect_contains "NUL CN: openssl sees the NUL" \
    "$(openssl x509 -in "$T/nul.pem" -noout -subject)" '\00'
refused "NUL byte in CN" "$T/nul.pem" contains "NUL byte"
refused "NUL byte in CN, exact" "$T/nul.pem" exact "certificate name contains a NUL byte (CN)"

# --- usage and lookup errors ------------------------------------------------
run_cf track add
expect_eq "add without --pem: exit" "$RC" 2
expect_eq "add without --pem: stdout" "$OUT" ""
expect_contains "add without --pem: message" "$ERR" "--pem FILE"
run_cf track add --pem "$T/does-not-exist.pem"
expect_eq "add missing file: exit" "$RC" 1
expect_eq "add missing file: message" "$ERR" \
    "certfleet: $T/does-not-exist.pem: No such file or directory"
run_cf track show abc
expect_eq "show abc: exit" "$RC" 2
expect_eq "show abc: stdout" "$OUT" ""
expect_contains "show abc: message" "$ERR" "'abc' is not an item ID"
run_cf track show 999999
expect_eq "show 999999: exit" "$RC" 1
expect_eq "show 999999: stdout" "$OUT" ""
expect_eq "show 999999: message" "$ERR" "certfleet: no tracked item 999999"
run_cf --json track show 999999
expect_eq "show 999999 --json: exit" "$RC" 1
expect_eq "show 999999 --json: stdout" "$OUT" ""
run_cf --socket /nonexistent/sock status
expect_eq "unreachable socket: exit" "$RC" 3
expect_eq "unreachable socket: stdout" "$OUT" ""
expect_eq "unreachable socket: one stderr line" "$(wc -l <"$T/err")" 1
expect_contains "unreachable socket: names it" "$ERR" "certfleet: "
expect_eq "store unchanged after usage errors" "$(store_state)" "$STATE0"
daemon_ok "after usage errors"

# --- the daemon survived all of it ------------------------------------------
run_cf --json track add --pem "$T/c2.pem"
expect_eq "good add afterwards: exit" "$RC" 0
expect_eq "good add afterwards: common_name" \
    "$(printf '%s\n' "$OUT" | jq -r .common_name)" c2.fleet.example
# Exactly at the size limit is still accepted.
pad "$T/c3.pem" 262144 "$T/limit.pem"
expect_eq "limit-sized input is 262144 bytes" "$(wc -c <"$T/limit.pem")" 262144
run_cf --json track add --pem "$T/limit.pem"
expect_eq "limit-sized add: exit" "$RC" 0
expect_eq "limit-sized add: common_name" \
    "$(printf '%s\n' "$OUT" | jq -r .common_name)" c3.fleet.example
expect_eq "store grew by two" "$(store_state)" "3 3"
expect_no_key_material "final daemon log vs key" "$(cat "$T/daemon.log")" "$T/key.pem"
daemon_ok "at the end"

finish
