#!/bin/sh
# Managed certificates through the real client and daemon: CA profiles and
# their refusals, drafts and every name check, the CSR step (refused without
# a tech zone; CNAME lines with a wildcard sharing its base's), keys (admin
# only, sealed at rest), PEM files, imports good, mismatched and expired,
# lists by status and deletion.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

NOW=$(date -u +%s)
DAY=86400
jf() { printf "%s\n" "$OUT" | jq -r "$1"; }
# as_operator ARGS...: runs certfleet as a member of the socket's group.
as_operator() {
	RC=0
	setpriv --reuid=nobody --regid="$(id -g)" --clear-groups \
	    "$CERTFLEET" "$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
# refused WHAT WANT_TEXT certfleet-args...: exit 1, one line naming the cause.
refused() {
	what=$1 want=$2
	shift 2
	run_cf "$@"
	expect_eq "$what: exit" "$RC" 1
	expect_contains "$what: message" "$ERR" "$want"
	expect_eq "$what: one line" "$(echo "$ERR" | wc -l)" 1
	expect_eq "$what: nothing on stdout" "$OUT" ""
}

make_ca
make_leaf good "/O=Imported Org/CN=imp.example.com" \
    "DNS:imp.example.com,DNS:www.imp.example.com" $((NOW - 3600)) $((NOW + 60 * DAY))
make_leaf other "/CN=other.example.com" "DNS:other.example.com" \
    $((NOW - 3600)) $((NOW + 60 * DAY))
make_leaf old "/CN=old.example.com" "DNS:old.example.com" \
    1577836800 1580515200			# 2020-01-01 .. 2020-02-01
EAB_KEY=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W

# --- without a tech zone --------------------------------------------------
start_daemon

# Built-in profiles.
run_cf --json ca list
expect_eq "ca list exit" "$RC" 0
expect_eq "built-ins" "$(jf '[.[] | select(.builtin) | .name] | join(",")')" \
    "google,letsencrypt,letsencrypt-staging,zerossl"
expect_eq "zerossl needs EAB" "$(jf '.[] | select(.name == "zerossl") | .eab_required')" true
expect_eq "letsencrypt directory" \
    "$(jf '.[] | select(.name == "letsencrypt") | .directory')" \
    "https://acme-v02.api.letsencrypt.org/directory"
run_cf ca list
expect_contains "ca list table" "$OUT" "letsencrypt-staging"

# ca add and its checks.
run_cf --json ca add myca --directory https://acme.test/dir --trust "$P/root.pem"
expect_eq "ca add exit" "$RC" 0
expect_eq "ca add directory" "$(jf .directory)" "https://acme.test/dir"
expect_eq "ca add trust" "$(jf .trust)" "$P/root.pem"
expect_eq "ca add no EAB" "$(jf .eab_configured)" false
run_cf --json ca show myca
expect_eq "ca show" "$(jf .name),$(jf .builtin),$(jf .certificates)" "myca,false,0"
refused "ca add twice" "exists already" ca add myca --directory https://acme.test/dir
refused "ca add http" "https://" ca add plain --directory http://acme.test/dir
refused "ca add no host" "needs a host" ca add nohost --directory https:///dir
refused "ca add bad name" "CA profile name" ca add My.CA --directory https://acme.test/
refused "ca add missing trust" "No such file" ca add t1 --directory https://acme.test/ \
    --trust /nonexistent/roots.pem
echo "not a certificate" >"$T/junk.pem"
refused "ca add junk trust" "holds no PEM certificate" ca add t2 \
    --directory https://acme.test/ --trust "$T/junk.pem"
refused "ca add bad EAB key" "base64url" ca add e1 --directory https://acme.test/ \
    --eab-kid kid1 --eab-hmac-key 'abc+/def=ghijklmnopqrstuvwxyz'
refused "ca add short EAB key" "at least 16 bytes" ca add e2 \
    --directory https://acme.test/ --eab-kid kid1 --eab-hmac-key abcdef
run_cf ca add e3 --directory https://acme.test/ --eab-kid kid1
expect_eq "EAB kid without key: usage" "$RC" 2
refused "built-in directory" "built in" ca add letsencrypt \
    --directory https://elsewhere.test/dir
refused "ca show unknown" "no CA profile 'nope'" ca show nope

# ACME profiles: stored and shown; a bad name refused; a built-in takes one
# like its EAB (and "" clears it).  Pebble 2.4 offers no profiles, so the
# order side is left to the unit tests and acme_pebble.sh's local refusal.
run_cf --json ca add profca --directory https://acme.test/dir --acme-profile tlsserver
expect_eq "ca add --acme-profile" "$RC,$(jf .acme_profile)" "0,tlsserver"
run_cf ca show profca
expect_contains "ca show: ACME profile" "$OUT" "ACME Profile"
expect_contains "ca show: its name" "$(echo "$OUT" | grep 'ACME Profile')" tlsserver
run_cf --json ca show myca
expect_eq "no ACME profile: nil" "$(jf .acme_profile)" null
refused "ca add bad ACME profile" "ACME profile name" ca add p1 \
    --directory https://acme.test/ --acme-profile 'short lived'
refused "ca add long ACME profile" "ACME profile name" ca add p2 \
    --directory https://acme.test/ --acme-profile "$(printf '%065d' 0)"
refused "ca add quoted ACME profile" "ACME profile name" ca add p3 \
    --directory https://acme.test/ --acme-profile 'a"b'
run_cf --json ca show p1
expect_eq "refused profile not stored" "$RC" 1
run_cf --json ca add letsencrypt --acme-profile shortlived
expect_eq "built-in takes an ACME profile" \
    "$RC,$(jf .acme_profile),$(jf .builtin),$(jf .eab_configured),$(jf .directory)" \
    "0,shortlived,true,false,https://acme-v02.api.letsencrypt.org/directory"
run_cf --json ca list
expect_eq "ca list shows it" \
    "$(jf '.[] | select(.name == "letsencrypt") | .acme_profile')" shortlived
refused "built-in: ACME profile and trust" "built in" ca add letsencrypt \
    --acme-profile classic --trust "$P/root.pem"
refused "built-in: bad ACME profile" "ACME profile name" ca add letsencrypt \
    --acme-profile 'x y'
run_cf --json ca add letsencrypt-staging --acme-profile classic \
    --eab-kid kid-9 --eab-hmac-key "$EAB_KEY"
expect_eq "built-in: EAB and ACME profile at once" \
    "$RC,$(jf .acme_profile),$(jf .eab_kid)" "0,classic,kid-9"
run_cf --json ca add letsencrypt --acme-profile ''
expect_eq "built-in: ACME profile cleared" "$RC,$(jf .acme_profile)" "0,null"
run_cf ca add --help
expect_contains "ca add --help" "$OUT" "--acme-profile P"
run_cf ca delete profca
expect_eq "delete profca" "$RC" 0

# EAB-only CAs are refused until their EAB is set.
refused "zerossl without EAB" "External Account Binding" cert create \
    --domain z.example.com --ca zerossl --agree-tos
run_cf --json ca add zerossl --eab-kid kid-123 --eab-hmac-key "$EAB_KEY"
expect_eq "zerossl EAB set" "$RC,$(jf .eab_configured),$(jf .eab_kid)" "0,true,kid-123"
run_cf --json cert create --domain z.example.com --ca zerossl --agree-tos
expect_eq "zerossl with EAB" "$RC,$(jf .status),$(jf .ca)" "0,draft,zerossl"
ZID=$(jf .id)

# Drafts: every check on the names and settings.
create() { run_cf cert create --ca myca --agree-tos "$@"; }
create --domain Example.com
expect_eq "upper case: exit" "$RC" 1
expect_contains "upper case" "$ERR" "must be lower case"
create --domain "m$(printf '\303\274')nchen.example"
expect_contains "U-label refused with the xn-- form" "$ERR" "A-label form, xn--"
run_cf --json cert create --ca myca --agree-tos --domain xn--mnchen-3ya.example
expect_eq "A-label accepted" "$RC,$(jf .domain)" "0,xn--mnchen-3ya.example"
run_cf cert delete "$(jf .id)" >/dev/null
create --domain www.example.com --alias 'www.*.example.com'
expect_contains "wildcard not leftmost" "$ERR" "only as the whole leftmost label"
create --domain '*.com'
expect_contains "wildcard on a TLD" "$ERR" "at least two labels after it"
create --domain example.com --alias www.example.com --alias example.com
expect_contains "duplicate" "$ERR" "'example.com' is given twice"
create --domain exa_mple.com
expect_contains "underscore" "$ERR" "contains '_'"
create --domain example.com.
expect_contains "trailing dot" "$ERR" "trailing dot"
create --domain "$(printf 'a%.0s' $(seq 64)).example.com"
expect_contains "long label" "$ERR" "longer than 63"
create --domain ab--cd.example.com
expect_contains "R-LDH label" "$ERR" "not an A-label"
create --domain xn--9999999999999.example.com
expect_contains "bad Punycode" "$ERR" "not a valid A-label"
create --domain 10.0.0.1
expect_contains "IP address" "$ERR" "IP address"
set --
for i in $(seq 100); do set -- "$@" --alias "n$i.example.com"; done
create --domain example.com "$@"
expect_contains "101 names" "$ERR" "too many names: 101"
create --domain example.com --renew-days 90
expect_contains "renew days" "$ERR" "renew_days must be in 1..89"
create --domain example.com --key-type dsa1024
expect_contains "key type" "$ERR" "key_type must be"
create --domain example.com --email not-an-address
expect_contains "email" "$ERR" "name@example.com"
refused "unknown CA" "no CA profile 'nope'" cert create --domain example.com \
    --ca nope --agree-tos
run_cf cert create --domain example.com --ca myca
expect_eq "no --agree-tos: usage" "$RC" 2
run_cf --json cert list
expect_eq "refusals stored nothing" "$(jf length)" 1

# A good draft, then edits.
run_cf --json cert create --domain example.com --alias '*.example.com' \
    --ca myca --email ops@example.com --agree-tos --key-type ec384
expect_eq "create exit" "$RC" 0
ID=$(jf .id)
expect_eq "draft" "$(jf .status),$(jf .source),$(jf .key_type),$(jf .auto_renew_days)" \
    "draft,acme,ec384,30"
expect_eq "draft has nothing cryptographic" "$(jf .has_key),$(jf .csr),$(jf .label)" \
    "false,null,null"
expect_eq "draft no CNAMEs" "$(jf '.cname_instructions | length')" 0
run_cf --json cert update "$ID" --renew-days 20 --alias '*.example.com' \
    --alias www.example.com --alias api.example.com
expect_eq "update exit" "$RC" 0
expect_eq "update aliases" "$(jf '.aliases | join(",")')" \
    "*.example.com,www.example.com,api.example.com"
expect_eq "update renew days" "$(jf .auto_renew_days),$(jf .email)" "20,ops@example.com"
refused "update checks names" "must be lower case" cert update "$ID" --domain EXAMPLE.com
refused "update unknown id" "no certificate 999" cert update 999 --renew-days 10

# No tech zone: the CSR step names the missing setting.
refused "csr without tech zone" "techzone-name" cert csr "$ID"
run_cf --json cert show "$ID"
expect_eq "still a draft" "$(jf .status),$(jf .has_key)" "draft,false"
stop_daemon
expect_eq "daemon stopped cleanly" "$?" 0

# --- with a tech zone (it must listen somewhere: any free loopback port) ------
# Pending certificates get their CNAMEs looked up: only ever on loopback
# (port 1 is closed, so each look-up fails at once).
TZ_FLAGS="--techzone-name acme.test --techzone-listen 127.0.0.1:0 --dns-resolver 127.0.0.1:1"
# shellcheck disable=SC2086
start_daemon $TZ_FLAGS
run_cf cert csr "$ID"
expect_eq "csr exit" "$RC" 0
run_cf --json cert show "$ID"
L=$(jf .label)
case "$L" in
*[!a-z2-7]* | "") fail "label '$L' is not base32" ;;
*) expect_eq "label length" "${#L}" 20 ;;
esac
refused "csr unknown id" "no certificate 999" cert csr 999
run_cf --json cert csr "$ZID"
expect_eq "csr --json prints the object" \
    "$RC,$(jf .status),$(jf '.cname_instructions | length')" "0,pending,1"
expect_eq "zerossl CNAME" "$(jf '.cname_instructions[0].name')" \
    "_acme-challenge.z.example.com."
[ "$(jf .label)" != "$L" ] && pass || fail "two certificates share label $L"
# One line per distinct challenge name: *.example.com shares example.com's.
run_cf --json cert show "$ID"
expect_eq "CNAME instructions" \
    "$(jf '.cname_instructions[] | "\(.name) CNAME \(.target)"')" \
"_acme-challenge.example.com. CNAME $L.acme.test.
_acme-challenge.www.example.com. CNAME $L.acme.test.
_acme-challenge.api.example.com. CNAME $L.acme.test."
expect_eq "pending" "$(jf .status),$(jf .has_key),$(jf .key_type)" "pending,true,ec384"
expect_eq "show has the CSR" "$(jf .csr | head -1)" "-----BEGIN CERTIFICATE REQUEST-----"
expect_eq "show fact names" \
    "$(jf '[has("common_name", "valid_from", "valid_until", "days_remaining", "issued_by", "issuer", "subject", "serial_number", "signature_algorithm", "public_key", "subject_alt_names", "fingerprint_sha256", "ca", "email", "tos_agreed", "auto_renew_days", "last_error", "next_renewal_at", "orders", "certificate", "chain")] | all')" true
expect_eq "no certificate yet" "$(jf .days_remaining),$(jf .certificate)" "null,null"
jf .csr >"$T/req.pem"
expect_eq "CSR names" "$(openssl req -in "$T/req.pem" -noout -text |
    grep -o 'DNS:[^,]*' | tr '\n' ' ')" \
    "DNS:example.com DNS:*.example.com DNS:www.example.com DNS:api.example.com "
expect_contains "CSR is P-384" "$(openssl req -in "$T/req.pem" -noout -text)" "P-384"

# The csr command prints zone-file lines; a wildcard shares its base's.
run_cf --json cert create --domain '*.wild.example' --alias wild.example \
    --alias www.wild.example --ca myca --agree-tos --key-type rsa2048
WID=$(jf .id)
run_cf cert csr "$WID"
expect_eq "csr exit (rsa2048, made in the key pool)" "$RC" 0
LINES=$(echo "$OUT" | grep -v '^;')
expect_contains "csr comment line" "$OUT" "; certificate $WID is pending"
run_cf --json cert show "$WID"
WL=$(jf .label)
expect_eq "csr lines" "$LINES" "_acme-challenge.wild.example. CNAME $WL.acme.test.
_acme-challenge.www.wild.example. CNAME $WL.acme.test."
run_cf cert show "$WID"
expect_contains "show lists CNAMEs" "$OUT" "_acme-challenge.wild.example. CNAME $WL.acme.test."
expect_contains "show has the status" "$OUT" "pending"

refused "update after csr" "not a draft" cert update "$ID" --renew-days 10
refused "csr again" "not a draft" cert csr "$ID"
refused "pem before issuance" "no certificate yet" cert pem "$ID"

# The key: admin only, sealed at rest.
run_cf cert key "$ID"
expect_eq "key as admin" "$RC" 0
echo "$OUT" >"$T/key.pem"
expect_eq "key is PKCS#8" "$(head -1 "$T/key.pem")" "-----BEGIN PRIVATE KEY-----"
expect_eq "key matches the CSR" \
    "$(openssl pkey -in "$T/key.pem" -pubout 2>/dev/null)" \
    "$(openssl req -in "$T/req.pem" -pubkey -noout 2>/dev/null)"
chmod 0755 "$T"
as_operator cert key "$ID"
expect_eq "key as operator: exit" "$RC" 1
expect_contains "key as operator: denied" "$ERR" "permission denied"
expect_eq "key as operator: no output" "$OUT" ""
as_operator --json cert show "$ID"
expect_eq "operator may show" "$RC,$(jf .has_key)" "0,true"
as_operator cert pem "$ID" --out "$T/op"
expect_eq "operator pem --out refused" "$RC" 1
[ -e "$T/op/key.pem" ] && fail "operator wrote a key file" || pass
stop_daemon
body=$(sed -n 2p "$T/key.pem")
hits=$(cat "$STATE"/certfleet.db* | grep -ac -e "PRIVATE KEY" -e "$body" -e "$EAB_KEY" || true)
expect_eq "no key or EAB secret in the clear in the database" "$hits" 0
grep -q -e "$body" -e "$EAB_KEY" "$T/daemon.log" && fail "secret in the log" || pass
# shellcheck disable=SC2086
start_daemon $TZ_FLAGS
run_cf cert key "$ID"
expect_eq "key unseals after a restart" "$OUT" "$(cat "$T/key.pem")"

# Imports.
run_cf --json cert import --cert "$P/good.pem" --key "$P/good.key" --chain "$P/inter.pem"
expect_eq "import exit" "$RC" 0
IID=$(jf .id)
expect_eq "import status" "$(jf .status),$(jf .source),$(jf .ca)" "active,import,null"
expect_eq "import names" "$(jf .domain),$(jf '.aliases | join(",")')" \
    "imp.example.com,www.imp.example.com"
expect_eq "import facts" "$(jf .common_name),$(jf .organization),$(jf .key_type)" \
    "imp.example.com,Imported Org,ec256"
fp=$(openssl x509 -in "$P/good.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
    tr 'A-F' 'a-f')
expect_eq "import fingerprint" "$(jf .fingerprint_sha256)" "$fp"
expect_eq "import days remaining" "$(jf .days_remaining)" 59
expect_eq "import renewal" "$(jf .next_renewal_at | cut -c1-10)" \
    "$(date -u -d "@$((NOW + 30 * DAY))" +%Y-%m-%d)"
refused "import mismatched pair" \
    "certfleet: PEM mismatch: the private key does not belong to this certificate" \
    cert import --cert "$P/good.pem" --key "$P/other.key"
expect_eq "mismatch: exact message" "$ERR" \
    "certfleet: PEM mismatch: the private key does not belong to this certificate"
refused "import two certs" "found 2 certificates" cert import \
    --cert "$P/good.chain.pem" --key "$P/good.key"
refused "import key as chain" "private key" cert import --cert "$P/good.pem" \
    --key "$P/good.key" --chain "$P/good.key"
refused "import for renewal by google without EAB" "External Account Binding" \
    cert import --cert "$P/other.pem" --key "$P/other.key" --ca google --agree-tos
run_cf --json cert import --cert "$P/old.pem" --key "$P/old.key" --ca myca --agree-tos
expect_eq "import expired" "$RC,$(jf .status),$(jf .ca)" "0,expired,myca"
OID=$(jf .id)
# Renewed through its CA later, it has its own label and CNAME to make.
expect_eq "import for renewal: a CNAME instruction" \
    "$(printf '%s\n' "$OUT" | jq -r '.cname_instructions | length')" 1
expect_eq "expired days remaining" "$([ "$(jf .days_remaining)" -lt 0 ] && echo neg)" neg

# PEM files.
run_cf cert pem "$IID"
expect_eq "pem is cert + chain" "$OUT" "$(cat "$P/good.pem" "$P/inter.pem")"
ln -s /etc/passwd-should-not-be-written "$T/dangling"
mkdir -p "$T/pemdir"
ln -s "$T/dangling" "$T/pemdir/key.pem"
run_cf cert pem "$IID" --out "$T/pemdir"
expect_eq "pem --out exit" "$RC" 0
expect_eq "key.pem mode" "$(stat -c %a "$T/pemdir/key.pem")" 600
expect_eq "key.pem replaced the link" "$(stat -c %F "$T/pemdir/key.pem")" "regular file"
[ -e /etc/passwd-should-not-be-written ] && fail "followed a link" || pass
expect_eq "cert.pem" "$(cat "$T/pemdir/cert.pem")" "$(cat "$P/good.pem")"
expect_eq "chain.pem" "$(cat "$T/pemdir/chain.pem")" "$(cat "$P/inter.pem")"
expect_eq "fullchain.pem" "$(cat "$T/pemdir/fullchain.pem")" "$(cat "$P/good.pem" "$P/inter.pem")"
expect_eq "key.pem matches" "$(openssl pkey -in "$T/pemdir/key.pem" -pubout)" \
    "$(openssl x509 -in "$P/good.pem" -pubkey -noout)"
expect_eq "no temporary files left" "$(ls -A "$T/pemdir" | tr '\n' ' ')" \
    "cert.pem chain.pem fullchain.pem key.pem "

# Lists by status, CA deletion while used, deletion.
run_cf --json cert list --status pending
expect_eq "list pending" "$(jf '[.[].status] | unique | join(",")')" pending
expect_eq "list pending has the first" "$(jf "[.[].id] | index($ID) != null")" true
run_cf --json cert list --status expired
expect_eq "list expired" "$(jf '[.[].id] | join(",")')" "$OID"
run_cf --json cert list --status active
expect_eq "list active" "$(jf '[.[].id] | join(",")')" "$IID"
refused "list bad status" "status must be" cert list --status bogus
run_cf cert list
expect_contains "list table" "$OUT" "imp.example.com"
refused "delete used CA" "is used by" ca delete myca
refused "delete built-in" "built in and cannot be deleted" ca delete letsencrypt
for id in $(run_cf --json cert list; jf '.[] | select(.ca == "myca") | .id'); do
	"$CERTFLEET" cert delete "$id" >/dev/null || fail "delete $id"
done
run_cf cert show "$ID"
expect_eq "deleted certificate" "$RC,$ERR" "1,certfleet: no certificate $ID"
refused "delete twice" "no certificate $ID" cert delete "$ID"
run_cf ca delete myca
expect_eq "delete unused CA" "$RC,$OUT" "0,CA profile myca deleted"
refused "deleted CA" "no CA profile" ca show myca
run_cf --json events --limit 100
expect_contains "events name the changes" "$(jf '[.[].kind] | unique | join(",")')" \
    "ca_added,ca_deleted,ca_eab_set,cert_created,cert_csr,cert_deleted,cert_imported,cert_updated"
expect_contains "events name ACME profile changes" \
    "$(jf '[.[].kind] | unique | join(",")')" "ca_acme_profile_set"
# Stopping while a key is being made: the call is answered and the
# certificate is either pending with its key or still a draft, never between.
run_cf --json cert create --domain slow.example.com --ca letsencrypt --agree-tos \
    --key-type rsa4096
SID=$(jf .id)
crc=0
"$CERTFLEET" cert csr "$SID" >"$T/slow.out" 2>"$T/slow.err" &
CPID=$!
sleep 0.3
stop_daemon
expect_eq "stop during key generation: daemon exit" "$?" 0
wait "$CPID" || crc=$?
echo "csr during stop: exit $crc $(cat "$T/slow.err")"
# shellcheck disable=SC2086
start_daemon $TZ_FLAGS
run_cf --json cert show "$SID"
if [ "$crc" -eq 0 ]; then
	expect_eq "csr finished first" "$(jf .status),$(jf .has_key)" "pending,true"
else
	expect_eq "csr cut short: exit" "$crc" 3
	expect_eq "csr cut short: still a draft" "$(jf .status),$(jf .has_key),$(jf .label)" \
	    "draft,false,null"
fi
finish
