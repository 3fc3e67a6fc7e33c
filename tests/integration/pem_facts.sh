#!/bin/sh
# PEM facts: certificates made with openssl in every shape we show (RSA, EC,
# Ed25519; long, short and random serials; many SANs, IP SANs; an issuer
# with only an O; UTF-8 names; names needing RFC 4514 escapes; expired and
# not-yet-valid), each added with `track add --pem` and every fact of
# `track show --json` checked against what openssl itself says of the file.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

. "$S/tests/integration/lib_ossl.sh"

# ossl_sans FILE "IP1 IP2 ...": the SAN list as a JSON array: DNS names as
# openssl prints them, IP addresses replaced in order by the text we put in
# (openssl prints IPv6 expanded, we print inet_ntop's compressed form).
ossl_sans() {
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
	    sed -n '2,$p' | sed 's/^ *//; s/, /\n/g' | sed '/^$/d' |
	    awk -v ips="$2" '
		BEGIN { n = split(ips, ip, " ") }
		/^DNS:/ { print substr($0, 5); next }
		/^IP Address:/ { print (++k <= n ? ip[k] : "EXTRA-IP:" $0); next }
		{ print "UNEXPECTED:" $0 }
		END { if (k != n) print "IP-COUNT:" k "/" n }' |
	    jq -R . | jq -cs .
}

# --- what certfleet says ----------------------------------------------------

# jf FIELD: a field of $SHOW as raw text, "<null>" for null.
jf() {
	printf '%s\n' "$SHOW" | jq -r --arg k "$1" '.[$k] | if . == null then "<null>" else tostring end'
}

# floordiv A B: A/B rounded toward minus infinity (B > 0).
floordiv() {
	q=$(($1 / $2))
	if [ $(($1 % $2)) -ne 0 ] && [ "$1" -lt 0 ]; then q=$((q - 1)); fi
	echo $q
}

status_at() {
	if [ "$3" -lt "$1" ]; then echo not_yet_valid
	elif [ "$3" -gt "$2" ]; then echo expired
	else echo valid; fi
}

# expect_rfc3339_between WHAT VALUE LO HI: VALUE is RFC 3339 Z within [LO, HI].
expect_rfc3339_between() {
	case $2 in
	[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z)
		e=$(date -u -d "$2" +%s)
		if [ "$e" -ge "$3" ] && [ "$e" -le "$4" ]; then pass
		else fail "$1: $2 not within $(rfc3339 "$3")..$(rfc3339 "$4")"; fi ;;
	*) fail "$1: [$2] is not RFC 3339 UTC" ;;
	esac
}

IDS=
NCERTS=0

# check_cert NAME FILE WANT_STATUS WANT_PUBKEY "IPS": adds FILE and checks
# every fact against openssl.  Sets ID.
check_cert() {
	n=$1 f=$2
	# The daemon's time(2) reads the kernel's coarse clock, which can lag
	# date(1)'s by a few milliseconds: a window opens one second early.
	t0=$(($(date -u +%s) - 1))
	run_cf --json track add --pem "$f"
	t1=$(date -u +%s)
	expect_eq "$n: add exit" "$RC" 0
	expect_eq "$n: add stderr" "$ERR" ""
	ADDED=$OUT
	ID=$(printf '%s\n' "$OUT" | jq -r .id)
	IDS="$IDS $ID"
	NCERTS=$((NCERTS + 1))

	s0=$(($(date -u +%s) - 1))
	run_cf --json track show "$ID"
	s1=$(date -u +%s)
	expect_eq "$n: show exit" "$RC" 0
	SHOW=$OUT
	expect_eq "$n: add answer is the item" \
	    "$(printf '%s\n' "$ADDED" | jq -cS 'del(.days_remaining)')" \
	    "$(printf '%s\n' "$SHOW" | jq -cS 'del(.days_remaining)')"
	expect_eq "$n: 35 keys" "$(printf '%s\n' "$SHOW" | jq 'keys | length')" 35
	expect_eq "$n: findings, each with code, severity and text" \
	    "$(printf '%s\n' "$SHOW" | jq '.findings | type == "array" and all(.[]; (keys == ["code", "severity", "text"]))')" true

	expect_eq "$n: id" "$(jf id)" "$ID"
	expect_eq "$n: source" "$(jf source)" pem
	expect_eq "$n: active" "$(jf active)" true
	expect_eq "$n: error" "$(jf error)" "<null>"
	expect_eq "$n: next_check_at" "$(jf next_check_at)" "<null>"
	expect_rfc3339_between "$n: created_at" "$(jf created_at)" "$t0" "$t1"
	expect_rfc3339_between "$n: last_checked_at" "$(jf last_checked_at)" "$t0" "$t1"

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
	expect_eq "$n: public_key (openssl)" "$(jf public_key)" "$(ossl_pubkey "$f")"
	expect_eq "$n: public_key (known)" "$(jf public_key)" "$4"
	expect_eq "$n: fingerprint_sha256" "$(jf fingerprint_sha256)" "$(ossl_fpr "$f")"
	expect_eq "$n: subject_alt_names" "$(printf '%s\n' "$SHOW" | jq -c .subject_alt_names)" \
	    "$(ossl_sans "$f" "$5")"

	from=$(ossl_epoch "$f" startdate)
	until=$(ossl_epoch "$f" enddate)
	expect_eq "$n: valid_from" "$(jf valid_from)" "$(rfc3339 "$from")"
	expect_eq "$n: valid_until" "$(jf valid_until)" "$(rfc3339 "$until")"
	d=$(jf days_remaining)
	hi=$(floordiv $((until - s0)) 86400)
	lo=$(floordiv $((until - s1)) 86400)
	case $d in
	-[0-9]*|[0-9]*)
		if [ "$d" -ge "$lo" ] && [ "$d" -le "$hi" ]; then pass
		else fail "$n: days_remaining $d, want $lo..$hi"; fi ;;
	*) fail "$n: days_remaining [$d] is not an integer" ;;
	esac
	st=$(jf status)
	expect_eq "$n: status (wanted)" "$st" "$3"
	if [ "$st" = "$(status_at "$from" "$until" "$s0")" ] ||
	    [ "$st" = "$(status_at "$from" "$until" "$s1")" ]; then pass
	else fail "$n: status $st does not match the validity period"; fi

	# The human view joins the SANs with " | ".
	run_cf track show "$ID"
	expect_eq "$n: human show exit" "$RC" 0
	want=$(printf '%s\n' "$SHOW" | jq -r 'if (.subject_alt_names | length) == 0
	    then "-" else .subject_alt_names | join(" | ") end')
	expect_eq "$n: human SAN line" \
	    "$(printf '%s\n' "$OUT" | sed -n 's/^Subject Alternative Names  *//p')" "$want"
}

gen_selfsigned() { # FILE KEYALG-ARGS... -- REQ-ARGS...
	out=$1; shift
	openssl req -x509 -nodes -keyout "$out.key" -out "$out" "$@" 2>"$T/openssl.err" ||
	    { cat "$T/openssl.err"; exit 1; }
}

start_daemon

# 1. RSA 2048, the full subject, a random serial, 50 DNS SANs (one a
# wildcard) and IPv4/IPv6 SANs.
sans=
i=1
while [ $i -le 49 ]; do
	sans="${sans}DNS:host$i.fleet.example,"
	i=$((i + 1))
done
sans="${sans}DNS:*.wild.fleet.example,IP:192.0.2.10,IP:2001:db8::1,IP:::1,IP:2001:db8:0:1::,IP:fe80::1:2,IP:10.0.0.1"
gen_selfsigned "$T/rsa2048.pem" -newkey rsa:2048 -sha256 -days 90 \
    -subj "/C=US/ST=California/L=San Francisco/O=Fleet Org/OU=Ops/OU=Web/CN=www.fleet.example" \
    -addext "subjectAltName=$sans"
check_cert rsa2048 "$T/rsa2048.pem" valid "RSA 2048" \
    "192.0.2.10 2001:db8::1 ::1 2001:db8:0:1:: fe80::1:2 10.0.0.1"
ID_RSA=$ID
expect_eq "rsa2048: 56 SANs" "$(printf '%s\n' "$SHOW" | jq '.subject_alt_names | length')" 56
expect_eq "rsa2048: wildcard SAN kept" \
    "$(printf '%s\n' "$SHOW" | jq -r '.subject_alt_names[49]')" "*.wild.fleet.example"
expect_eq "rsa2048: known location" "$(jf location)" "San Francisco, California, US"
expect_eq "rsa2048: known OUs" "$(jf organizational_unit)" "Ops, Web"

# The same certificate again, even wrapped in openssl's text dump or with
# CRLF line ends and indentation, is refused as already tracked.
openssl x509 -in "$T/rsa2048.pem" -text >"$T/rsa2048-text.pem"
sed 's/^/  /; s/$/\r/' "$T/rsa2048.pem" >"$T/rsa2048-crlf.pem"
for f in rsa2048.pem rsa2048-text.pem rsa2048-crlf.pem; do
	run_cf --json track add --pem "$T/$f"
	expect_eq "duplicate $f: exit" "$RC" 1
	expect_contains "duplicate $f: message" "$ERR" "already tracked"
	expect_contains "duplicate $f: names the item" "$ERR" "item $ID_RSA"
	expect_eq "duplicate $f: stdout" "$OUT" ""
	expect_eq "duplicate $f: one stderr line" "$(printf '%s\n' "$ERR" | wc -l)" 1
done

# 2. RSA 3072, SHA-512, CN only (no O/OU/location), serial 1, no SANs.
gen_selfsigned "$T/rsa3072.pem" -newkey rsa:3072 -sha512 -days 30 \
    -set_serial 1 -subj "/CN=only-cn.fleet.example"
check_cert rsa3072 "$T/rsa3072.pem" valid "RSA 3072" ""
expect_eq "rsa3072: serial 01" "$(jf serial_number)" 01
expect_eq "rsa3072: organization null" "$(printf '%s\n' "$SHOW" | jq -c .organization)" null
expect_eq "rsa3072: organizational_unit null" \
    "$(printf '%s\n' "$SHOW" | jq -c .organizational_unit)" null
expect_eq "rsa3072: location null" "$(printf '%s\n' "$SHOW" | jq -c .location)" null
expect_eq "rsa3072: no SANs" "$(printf '%s\n' "$SHOW" | jq -c .subject_alt_names)" "[]"

# 3. A CA whose subject has an O but no CN, and an EC P-256 leaf it signs
# with a 20-byte serial whose high bit is set; the leaf's names need
# RFC 4514 escapes.
gen_selfsigned "$T/orgca.pem" -newkey rsa:2048 -days 400 -subj "/O=Only Org CA"
check_cert orgca "$T/orgca.pem" valid "RSA 2048" ""
expect_eq "orgca: common_name null" "$(printf '%s\n' "$SHOW" | jq -c .common_name)" null
expect_eq "orgca: issued_by is the O" "$(jf issued_by)" "Only Org CA"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/p256.key" -out "$T/p256.csr" \
    -subj '/CN=leaf.fleet.example/O=Example, Inc./OU=R\+D/L=Lyon' 2>/dev/null
printf 'subjectAltName=DNS:leaf.fleet.example,IP:2001:db8:0:0:1:0:0:1,DNS:alt.fleet.example\n' \
    >"$T/p256.ext"
openssl x509 -req -in "$T/p256.csr" -CA "$T/orgca.pem" -CAkey "$T/orgca.pem.key" \
    -set_serial 0x00FF0102030405060708090A0B0C0D0E0F10111213 -days 10 -sha256 \
    -extfile "$T/p256.ext" -out "$T/p256.pem" 2>/dev/null
check_cert p256 "$T/p256.pem" valid "EC P-256" "2001:db8::1:0:0:1"
expect_eq "p256: issued_by is the issuer's O" "$(jf issued_by)" "Only Org CA"
expect_eq "p256: long serial" "$(jf serial_number)" FF0102030405060708090A0B0C0D0E0F10111213
expect_eq "p256: subject escapes" "$(jf subject)" 'L=Lyon,OU=R\+D,O=Example\, Inc.,CN=leaf.fleet.example'
expect_eq "p256: organization keeps the comma" "$(jf organization)" "Example, Inc."
expect_eq "p256: location L only" "$(jf location)" "Lyon"
expect_eq "p256: signature" "$(jf signature_algorithm)" sha256WithRSAEncryption

# A negative serial (openssl allows it) is shown as openssl shows it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/neg.key" -out "$T/neg.csr" -subj '/CN=negative.fleet.example' 2>/dev/null
openssl x509 -req -in "$T/neg.csr" -CA "$T/orgca.pem" -CAkey "$T/orgca.pem.key" \
    -set_serial -5 -days 10 -out "$T/neg.pem" 2>/dev/null
check_cert negserial "$T/neg.pem" valid "EC P-256" ""
expect_eq "negserial: serial" "$(jf serial_number)" -05

# 4. EC P-384, UTF-8 names, valid past 2050 (GeneralizedTime).
gen_selfsigned "$T/p384.pem" -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 \
    -sha384 -days 10000 -utf8 \
    -subj "/C=CH/ST=Zürich/L=Zürich/O=Zürich GmbH/OU=Prüfung/CN=zürich.fleet.example" \
    -addext "subjectAltName=DNS:xn--zrich-kva.fleet.example"
check_cert p384 "$T/p384.pem" valid "EC P-384" ""
expect_eq "p384: UTF-8 organization" "$(jf organization)" "Zürich GmbH"
expect_eq "p384: UTF-8 common name" "$(jf common_name)" "zürich.fleet.example"
expect_eq "p384: UTF-8 location" "$(jf location)" "Zürich, Zürich, CH"
expect_eq "p384: ecdsa signature" "$(jf signature_algorithm)" ecdsa-with-SHA384
case $(jf valid_until) in
20[5-9][0-9]-*) pass ;;
*) fail "p384: valid_until $(jf valid_until) is not past 2050" ;;
esac
run_cf track show "$ID"
expect_contains "p384: human view is UTF-8" "$OUT" "Zürich GmbH"

# 5. Ed25519, ST and C only.
gen_selfsigned "$T/ed25519.pem" -newkey ed25519 -days 5 \
    -subj "/C=FR/ST=Bretagne/CN=ed.fleet.example" \
    -addext "subjectAltName=IP:198.51.100.7,DNS:ed.fleet.example"
check_cert ed25519 "$T/ed25519.pem" valid ED25519 "198.51.100.7"
expect_eq "ed25519: location" "$(jf location)" "Bretagne, FR"
expect_eq "ed25519: signature" "$(jf signature_algorithm)" ED25519

# 6./7. Expired and not yet valid, issued by a throwaway `openssl ca`.
mkdir -p "$T/ca/new"
: >"$T/ca/index.txt"
echo 1000 >"$T/ca/serial"
cat >"$T/ca.cnf" <<EOF
[ca]
default_ca = cadef
[cadef]
dir = $T/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha384
policy = pol
unique_subject = no
copy_extensions = copy
[pol]
commonName = supplied
organizationName = optional
EOF
ca_sign() { # CSR OUT START END
	openssl ca -batch -config "$T/ca.cnf" -cert "$T/orgca.pem" \
	    -keyfile "$T/orgca.pem.key" -in "$1" -out "$2" -notext \
	    -startdate "$3" -enddate "$4" >"$T/openssl.err" 2>&1 ||
	    { cat "$T/openssl.err"; exit 1; }
}
openssl req -new -key "$T/rsa2048.pem.key" \
    -out "$T/expired.csr" -subj "/O=Old Org/CN=expired.fleet.example" 2>/dev/null
ca_sign "$T/expired.csr" "$T/expired.pem" 20200101000000Z 20200201000000Z
check_cert expired "$T/expired.pem" expired "RSA 2048" ""
expect_eq "expired: valid_from" "$(jf valid_from)" 2020-01-01T00:00:00Z
expect_eq "expired: valid_until" "$(jf valid_until)" 2020-02-01T00:00:00Z
case $(jf days_remaining) in
-[1-9]*) pass ;;
*) fail "expired: days_remaining $(jf days_remaining) is not negative" ;;
esac
expect_eq "expired: serial from the CA" "$(jf serial_number)" 1000

openssl req -new -newkey ed25519 -nodes -keyout "$T/future.key" \
    -out "$T/future.csr" -subj "/CN=future.fleet.example" 2>/dev/null
ca_sign "$T/future.csr" "$T/future.pem" 20350101000000Z 20360101000000Z
check_cert future "$T/future.pem" not_yet_valid ED25519 ""
expect_eq "future: valid_from" "$(jf valid_from)" 2035-01-01T00:00:00Z
expect_eq "future: RSA-signed" "$(jf signature_algorithm)" sha384WithRSAEncryption

# Track.List holds the same objects as Track.Show, in id order.
run_cf --json track list
expect_eq "list exit" "$RC" 0
LIST=$OUT
expect_eq "list length" "$(printf '%s\n' "$LIST" | jq length)" "$NCERTS"
expect_eq "list ids in order" "$(printf '%s\n' "$LIST" | jq -r '.[].id' | tr '\n' ' ')" \
    "$(echo $IDS) "
for id in $IDS; do
	run_cf --json track show "$id"
	expect_eq "list entry $id == show" \
	    "$(printf '%s\n' "$LIST" | jq -cS --argjson id "$id" '.[] | select(.id == $id) | del(.days_remaining)')" \
	    "$(printf '%s\n' "$OUT" | jq -cS 'del(.days_remaining)')"
done
run_cf --json status
expect_eq "status counts them" "$(printf '%s\n' "$OUT" | jq .tracked.total)" "$NCERTS"

finish
