#!/bin/sh
# The ACME client against Debian's real pebble on 127.0.0.20 (loopback
# only): a whole order with two names driven by acme_drive (account lookup
# refused, account, order, challenges, polling, finalize, chain checked
# against the key and the names, re-finalize and re-revoke problems, revoke,
# no ARI), pebble's default 5% nonce rejection left on; then a pebble
# rejecting 25% of nonces, where badNonce retries must show up and every
# request still succeed; then a pebble requiring external account binding;
# then HTTPS verification against the wrong trust.
# Skipped (77) when pebble or curl is missing.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_acme.sh"

command -v "$PEBBLE" >/dev/null 2>&1 || { echo "pebble not installed: skipped"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "curl not installed: skipped"; exit 77; }
trap 'stop_pebble; cleanup' EXIT

ADDR=${CF_PEBBLE_ADDR:-127.0.0.20}
DRIVE="$B/tests/integration/acme_drive"
NAMES="a.certfleet.test b.certfleet.test"

# drive OUTFILE ARGS...: runs the driver (under CF_DAEMON_WRAPPER when set).
drive() {
	out=$1; shift
	rc=0
	# shellcheck disable=SC2086
	${CF_DAEMON_WRAPPER:-} "$DRIVE" "$@" >"$out" 2>>"$T/drive.err" || rc=$?
	DRIVE_RC=$rc
}
line() { grep "^$1 " "$2" | head -n 1; }
field() { sed -n "s/^$1 .*$2=\([^ ]*\).*/\1/p" "$3" | head -n 1; }

# --- a whole order; 5% of nonces rejected (pebble's default) ----------------------
# A VA sleep of 0 or 1 s makes authorizations pending for a while: polled.
PEBBLE_ENV="PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_SLEEPTIME=2" start_pebble "$ADDR"
drive "$T/run1" "$PEBBLE_DIR" "$PEBBLE_TRUST" $NAMES
R="$T/run1"
expect_eq "driver exit status" "$DRIVE_RC" 0
expect_eq "driver end" "$(tail -n 1 "$R")" done
expect_eq "no failed checks" "$(grep -c '^FAIL' "$R")" 0
expect_eq "unknown account: problem" "$(field lookup_missing problem "$R")" \
    urn:ietf:params:acme:error:accountDoesNotExist
expect_eq "unknown account: status" "$(field lookup_missing http "$R")" 400
expect_eq "account created" "$(line account "$R")" "account http=201 status=valid"
expect_eq "lookup finds it" "$(line lookup "$R")" "lookup same_kid=1 http=200"
expect_eq "unoffered ACME profile refused locally" "$(line order_profile "$R")" \
    "order_profile ok=0 http=0 err=ACME profile 'classic' is not offered: this CA offers no profiles"
expect_eq "order" "$(line order "$R")" \
    "order status=pending identifiers=2 authorizations=2"
expect_eq "authorizations seen" "$(grep -c '^authz name=' "$R")" 2
expect_eq "authorizations valid" "$(grep -c '^authz_final .*status=valid' "$R")" 2
expect_eq "order ready" "$(line order_ready "$R")" "order_ready status=ready"
expect_eq "order valid" "$(grep -c '^order_valid' "$R")" 1
expect_eq "chain" "$(line certificate "$R")" \
    "certificate chain_certs=2 key_match=1 names_ok=1"
expect_eq "re-finalize refused" "$(field refinalize problem "$R")" \
    urn:ietf:params:acme:error:orderNotReady
expect_contains "re-finalize sentence" "$(line refinalize_err "$R")" \
    "HTTP 403, urn:ietf:params:acme:error:orderNotReady"
expect_eq "revoke" "$(line revoke "$R")" "revoke ok=1 http=200"
expect_eq "revoke twice" "$(field rerevoke problem "$R")" \
    urn:ietf:params:acme:error:alreadyRevoked
expect_eq "no ARI at pebble" "$(line ari_err "$R")" \
    "ari_err this CA offers no renewalInfo (ARI)"
expect_eq "directory fetched once" "$(field stats directory_fetches "$R")" 1
echo "run 1: $(line stats "$R")"
grep -E "^(authz_final|finalize) " "$R"
pebble_alive || fail "pebble stopped answering (deadlock?)"
stop_pebble

# --- a quarter of nonces rejected: retries seen, nothing lost -------------------------
PEBBLE_ENV="PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=25" \
    start_pebble "$ADDR"
drive "$T/run2" "$PEBBLE_DIR" "$PEBBLE_TRUST" --fetches 30 $NAMES
R="$T/run2"
expect_eq "badNonce run: exit status" "$DRIVE_RC" 0
expect_eq "badNonce run: end" "$(tail -n 1 "$R")" done
expect_eq "badNonce run: every fetch answered" "$(field stats fetched "$R")" 30
n=$(field stats bad_nonce_retries "$R")
if [ "${n:-0}" -gt 0 ]; then pass; else fail "no badNonce retry counted at 25% rejection"; fi
echo "run 2: $(line stats "$R")"

# --- external account binding required --------------------------------------------
stop_pebble
EAB_KEY=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
PEBBLE_EAB="kid-1:$EAB_KEY" \
    PEBBLE_ENV="PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1" start_pebble "$ADDR"
drive "$T/run4" "$PEBBLE_DIR" "$PEBBLE_TRUST" --eab "kid-1:$EAB_KEY" $NAMES
R="$T/run4"
expect_eq "EAB run: exit status" "$DRIVE_RC" 0
expect_eq "EAB run: end" "$(tail -n 1 "$R")" done
expect_contains "EAB run: refused without EAB" "$(line account_no_eab "$R")" \
    "requires external account binding"
expect_eq "EAB run: wrong MAC refused" "$(field account_bad_eab problem "$R")" \
    urn:ietf:params:acme:error:unauthorized
expect_eq "EAB run: account" "$(line account "$R")" "account http=201 status=valid"
expect_eq "EAB run: chain" "$(line certificate "$R")" \
    "certificate chain_certs=2 key_match=1 names_ok=1"
if grep -q "$EAB_KEY" "$R" "$T/drive.err"; then
	fail "the EAB MAC key was printed"
else
	pass
fi

# --- HTTPS verification is on: the wrong trust fails, with a sentence ------------------
drive "$T/run3" "$PEBBLE_DIR" /etc/ssl/certs/ca-certificates.crt $NAMES
expect_eq "wrong trust: exit status" "$DRIVE_RC" 1
expect_contains "wrong trust: reported" "$(grep '^FAIL' "$T/run3" | head -n 1)" \
    "fetching the ACME directory failed: https://$ADDR:14000/dir: SSL certificate problem"
stop_pebble

# --- the body cap holds against a server that sends no length -----------------------
# openssl s_server -WWW answers HTTP/1.0 with no Content-Length, the case
# libcurl 7.88's MAXFILESIZE does not stop.
www="$T/www"
mkdir -p "$www"
head -c 1048576 /dev/zero >"$www/exact"
head -c 1048577 /dev/zero >"$www/over"
(cd "$www" && exec openssl s_server -quiet -accept "$ADDR:14001" -naccept 3 \
    -cert "$T/pebble-$ADDR/cert.pem" -key "$T/pebble-$ADDR/key.pem" -WWW) \
    >"$T/s_server.log" 2>&1 &
WWW_PID=$!
i=0
until curl -sf --cacert "$PEBBLE_TRUST" -o /dev/null "https://$ADDR:14001/exact" ||
    [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
drive "$T/get1" --get "https://$ADDR:14001/exact" "$PEBBLE_TRUST"
expect_eq "1 MiB body kept" "$(cat "$T/get1")" "get status=200 len=1048576"
drive "$T/get2" --get "https://$ADDR:14001/over" "$PEBBLE_TRUST"
expect_eq "1 MiB + 1 refused" "$(cat "$T/get2")" \
    "get error=https://$ADDR:14001/over: the response body is larger than 1048576 bytes"
kill "$WWW_PID" 2>/dev/null || true
wait "$WWW_PID" 2>/dev/null || true

if [ "$FAILS" -ne 0 ]; then
	for f in run1 run2 run3 run4; do echo "--- $f"; cat "$T/$f" 2>/dev/null; done
	cat "$T/drive.err" 2>/dev/null
	echo "--- pebble log"; tail -30 "$T/pebble.log"
fi
finish
