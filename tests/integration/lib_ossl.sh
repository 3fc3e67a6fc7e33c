# What openssl itself says about a certificate file, for tests that check
# certfleet's facts against it.  Sourced after lib.sh (uses $T).

# ossl_dn FILE subject|issuer: the DN as RFC 2253 text, UTF-8 unescaped.
ossl_dn() {
	openssl x509 -in "$1" -noout -"$2" -nameopt RFC2253,-esc_msb,utf8 |
	    sed "s/^$2=//"
}

# ossl_attr FILE subject|issuer TYPE first|all: the raw values of one
# attribute type in certificate order (first one, or all joined by ", "),
# "<null>" when there is none.  openssl's output is cached per file content.
ossl_attr() {
	ml="$T/multiline.$2"
	# Keyed by content, not name: a test may rewrite a file in place.
	key="$1 $(cksum <"$1")"
	if [ ! -s "$ml" ] || [ "$(cat "$ml.of")" != "$key" ]; then
		openssl x509 -in "$1" -noout -"$2" -nameopt sep_multiline,sname,utf8 >"$ml"
		echo "$key" >"$ml.of"
	fi
	v=$(sed -n "s/^ *$3=//p" "$ml")
	if [ -z "$v" ]; then
		echo "<null>"
	elif [ "$4" = first ]; then
		printf '%s\n' "$v" | head -n 1
	else
		printf '%s\n' "$v" | awk 'NR > 1 { printf ", " } { printf "%s", $0 } END { print "" }'
	fi
}

# ossl_location FILE: first L, ST and C joined by ", ", skipping missing ones.
ossl_location() {
	loc=
	for a in L ST C; do
		v=$(ossl_attr "$1" subject "$a" first)
		[ "$v" = "<null>" ] && continue
		loc=${loc:+$loc, }$v
	done
	echo "${loc:-<null>}"
}

# ossl_epoch FILE startdate|enddate: the date in UTC seconds.
ossl_epoch() {
	date -u -d "$(openssl x509 -in "$1" -noout -"$2" | sed 's/^[^=]*=//')" +%s
}
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

ossl_sigalg() {
	openssl x509 -in "$1" -noout -text |
	    sed -n 's/^ *Signature Algorithm: *//p' | head -n 1 | sed 's/ *$//'
}

# ossl_pubkey FILE: "RSA 2048", "EC P-256", "ED25519", derived from -text.
ossl_pubkey() {
	txt=$(openssl x509 -in "$1" -noout -text)
	alg=$(printf '%s\n' "$txt" | sed -n 's/^ *Public Key Algorithm: *//p' | head -n 1)
	case $alg in
	rsaEncryption)
		echo "RSA $(printf '%s\n' "$txt" |
		    sed -n 's/^ *Public-Key: (\([0-9]*\) bit)/\1/p' | head -n 1)" ;;
	id-ecPublicKey)
		echo "EC $(printf '%s\n' "$txt" | sed -n 's/^ *NIST CURVE: *//p' | head -n 1)" ;;
	ED25519) echo ED25519 ;;
	*) echo "unknown:$alg" ;;
	esac
}

ossl_fpr() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//' |
	    tr -d : | tr 'A-F' 'a-f'
}

