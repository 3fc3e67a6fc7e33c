#!/bin/sh
# Managed certificates issued for real: pebble (Debian's ACME test CA, 5% of
# nonces rejected as it does by default) validates DNS-01 through unbound,
# which follows each customer's _acme-challenge CNAME (in knotd's "test."
# zone) into certfleetd's own tech zone.  Covers: one name; several names
# with a wildcard and its base; a CNAME missing then added (pending -> active
# with nobody acting); a CNAME to the wrong target (stays pending, says what
# it found); renewal by threshold on a moved clock (new key, old kept);
# forced renewal; revocation; SIGKILL in the middle of an order (one order,
# finished after the restart); the CA down (error, backoff, recovery); an
# ACME profile the CA does not offer (the job fails before any order).
# A webhook sink (tests/integration/webhook_rx.py, checking every Standard
# Webhooks signature) receives the issuing events, a renewal failure too.
CF_NET=127.0.61
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_dns.sh"
. "$S/tests/integration/lib_acme.sh"

PEBBLE_ADDR=$CF_NET.20
DOWN_ADDR=$CF_NET.21
ZONE=$DNS_TZ_ZONE
DB="$STATE/certfleet.db"

# Every process is ours to stop, by PID, however the test ends.
RX_PID=
NGX_PID=
trap 'rc=$?; [ $rc -eq 0 ] || { dns_logs; echo "--- daemon log (tail) ---";
    tail -40 "$T/daemon.log"; }; [ -z "$RX_PID" ] || kill "$RX_PID" 2>/dev/null;
    [ -z "$NGX_PID" ] || kill "$NGX_PID" 2>/dev/null;
    stop_pebble; stop_dns; cleanup' EXIT
start_dns
# pebble's VA asks the resolver, which follows the CNAMEs; no VA sleep.
PEBBLE_ENV="PEBBLE_VA_NOSLEEP=1" start_pebble "$PEBBLE_ADDR" \
    -dnsserver "$DNS_RESOLVER:53"

DAEMON_FLAGS="--techzone-name $ZONE --techzone-listen $DNS_TZ:53
    --dns-resolver $DNS_RESOLVER:53 --test-hooks yes
    --cname-poll-min 1 --cname-poll-max 2 --acme-retry-min 1 --acme-retry-max 3"
# shellcheck disable=SC2086
start_daemon $DAEMON_FLAGS

run_cf() {
	RC=0
	OUT=$("$CERTFLEET" "$@" 2>"$T/err") || RC=$?
	ERR=$(cat "$T/err")
}
jf() { printf '%s\n' "$OUT" | jq -r ".$1 // \"<null>\""; }
show() { run_cf --json cert show "$1"; }

run_cf ca add pebble --directory "$PEBBLE_DIR" --trust "$PEBBLE_TRUST"
expect_eq "ca add pebble" "$RC" 0

# The issuing events go to a signed webhook on loopback.
SECRET="whsec_$(head -c 32 /dev/urandom | base64 -w0)"
printf '%s\n' "$SECRET" >"$T/hook.secret"
python3 "$S/tests/integration/webhook_rx.py" --listen "$CF_NET.30:0" \
    --port-file "$T/hook.port" --log "$T/hook.log" --secret "$SECRET" &
RX_PID=$!
i=0
while [ ! -s "$T/hook.port" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
run_cf notify add hook --webhook "http://$CF_NET.30:$(cat "$T/hook.port")/hook" \
    --secret-file "$T/hook.secret" \
    --kinds cert_issued,cert_renewed,cert_issue_failed,cert_renew_failed,deploy_ok
expect_eq "notify add hook" "$RC" 0
# hook_got KIND CERT_ID: waits (20 s) for a correctly signed delivery.
hook_got() {
	i=0
	while [ "$(hook_has "$1" "$2")" != true ] && [ $i -lt 400 ]; do
		i=$((i + 1)); sleep 0.05
	done
	if [ "$(hook_has "$1" "$2")" = true ]; then pass
	else fail "webhook: no signed $1 for certificate $2 (received: $(jq -c \
	    '[.status, .sig_ok, .kind, .body.subject.id]' "$T/hook.log" |
	    tr '\n' ' '))"; fi
}
hook_has() {
	jq -s --arg k "$1" --argjson id "$2" 'any(.[]; .sig_ok == true and
	    .status == 200 and .kind == $k and .body.subject.id == $id)' \
	    "$T/hook.log" 2>/dev/null
}

# new_cert NAME ALIASES...: create + csr; sets ID, LABEL, CNAMES (the
# _acme-challenge names, one a line).
new_cert() {
	d=$1
	shift
	args=""
	for a in "$@"; do args="$args --alias $a"; done
	# shellcheck disable=SC2086
	run_cf --json cert create --domain "$d" $args --ca pebble \
	    --email "ops@$d" --agree-tos
	expect_eq "$d: create" "$RC" 0
	ID=$(jf id)
	run_cf --json cert csr "$ID"
	expect_eq "$d: csr" "$RC" 0
	expect_eq "$d: pending after csr" "$(jf status)" pending
	LABEL=$(jf label)
	CNAMES=$(printf '%s\n' "$OUT" | jq -r '.cname_instructions[] | .name + " " + .target')
}
delegate() { # the customer's one-time CNAMEs
	printf '%s\n' "$CNAMES" | while read -r n t; do dns_add_cname "$n" "$t"; done
}

# expect_issued NAME ID NAMES...: active, a chain from pebble, the leaf for
# every name and for the certificate's key.
expect_issued() {
	n=$1 id=$2
	shift 2
	show "$id"
	expect_eq "$n: active" "$(jf status)" active
	expect_eq "$n: no last error" "$(jf last_error)" "<null>"
	printf '%s\n' "$OUT" | jq -r .certificate >"$T/$n.leaf.pem"
	for name in "$@"; do
		if openssl x509 -in "$T/$n.leaf.pem" -noout -checkhost "$name" 2>/dev/null |
		    grep -q "does match"; then pass
		else fail "$n: the leaf is not for $name"; fi
	done
	expect_eq "$n: issued by pebble" \
	    "$(openssl x509 -in "$T/$n.leaf.pem" -noout -issuer | grep -c Pebble)" 1
	expect_eq "$n: serial as stored" "$(jf serial_number | tr a-f A-F | sed 's/^0*//')" \
	    "$(openssl x509 -in "$T/$n.leaf.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')"
	run_cf cert key "$id"
	printf '%s\n' "$OUT" >"$T/$n.key.pem"
	expect_eq "$n: the leaf is for the stored key" \
	    "$(openssl x509 -in "$T/$n.leaf.pem" -noout -pubkey | openssl sha256)" \
	    "$(openssl pkey -in "$T/$n.key.pem" -pubout | openssl sha256)"
	show "$id"
	if [ "$(printf '%s\n' "$OUT" | jq '[.orders[] | select(.status == "valid")] | length')" -ge 1 ]
	then pass; else fail "$n: no valid order"; fi
	expect_eq "$n: no TXT value left" \
	    "$(sqlite3 "$DB" "SELECT count(*) FROM techzone_records WHERE cert_id = $id")" 0
}

# --- 1. one name, end to end -----------------------------------------------------
new_cert one.test
ONE=$ID
expect_eq "one: one CNAME instruction" "$CNAMES" "_acme-challenge.one.test. $LABEL.$ZONE."
delegate
t0=$(date +%s%N)
run_cf cert wait "$ONE" --timeout 60
expect_eq "one: wait exit" "$RC" 0
t1=$(date +%s%N)
echo "one: active $(( (t1 - t0) / 1000000 )) ms after its CNAME was added"
grep -E "certificate $ONE[: ]" "$T/daemon.log" | sed 's/^[^ ]* [^ ]* /  /'
# From the CNAME check that passed to the certificate stored, by the log.
ms=$(sed -n "s/.*certificate $ONE (one.test) issued: .* (\([0-9]*\) ms)$/\1/p" "$T/daemon.log")
echo "one: issued $ms ms after its CNAME check passed (target: under 1500)"
expect_issued one "$ONE" one.test
run_cf --json events --limit 50
expect_contains "one: issued event" "$OUT" "cert_issued"

# --- 2. several names, a wildcard and its base share one CNAME ----------------------
new_cert w.test "*.w.test" x.w.test
W=$ID
expect_eq "wildcard: two CNAME instructions" "$(printf '%s\n' "$CNAMES" | wc -l)" 2
expect_contains "wildcard: base" "$CNAMES" "_acme-challenge.w.test. $LABEL.$ZONE."
expect_contains "wildcard: alias" "$CNAMES" "_acme-challenge.x.w.test. $LABEL.$ZONE."
delegate
run_cf cert wait "$W" --timeout 60
expect_eq "wildcard: wait exit" "$RC" 0
expect_issued wildcard "$W" w.test any.w.test x.w.test

# --- 3. no CNAME yet: pending, then active with nobody acting -----------------------
new_cert late.test
LATE=$ID
LATE_CNAMES=$CNAMES
sleep 3
show "$LATE"
expect_eq "late: still pending" "$(jf status)" pending
expect_contains "late: says what is missing" "$(jf last_error)" \
    "_acme-challenge.late.test. must be a CNAME to $LABEL.$ZONE."
CNAMES=$LATE_CNAMES
delegate
run_cf cert wait "$LATE" --timeout 60
expect_eq "late: active once the CNAME resolves" "$RC" 0

# --- 4. a CNAME to the wrong target: stays pending, names both -----------------------
new_cert wrong.test
WRONG=$ID
dns_add_cname _acme-challenge.wrong.test "elsewhere.example.test"
sleep 4
show "$WRONG"
expect_eq "wrong: still pending" "$(jf status)" pending
expect_eq "wrong: the message" "$(jf last_error)" \
    "_acme-challenge.wrong.test. is a CNAME to elsewhere.example.test. but must point to $LABEL.$ZONE."
run_cf cert wait "$WRONG" --timeout 1
expect_eq "wrong: wait times out" "$RC" 1
expect_contains "wrong: wait says why" "$ERR" "still pending"

# --- 5. renewal by threshold, on a moved clock ----------------------------------------
show "$ONE"
SERIAL1=$(jf serial_number)
RENEW_AT=$(date -u -d "$(jf next_renewal_at)" +%s)
KEY1=$(openssl pkey -in "$T/one.key.pem" -pubout | openssl sha256)
run_cf debug clock $((RENEW_AT - $(date +%s) + 60))
expect_eq "renewal: clock moved" "$RC" 0
i=0
while show "$ONE"; [ "$(jf serial_number)" = "$SERIAL1" ] && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
run_cf cert wait "$ONE" --timeout 60
expect_eq "renewal: active again" "$RC" 0
expect_issued renewed "$ONE" one.test
show "$ONE"
if [ "$(jf serial_number)" != "$SERIAL1" ]; then pass; else fail "renewal: same serial"; fi
if [ "$(openssl pkey -in "$T/renewed.key.pem" -pubout | openssl sha256)" != "$KEY1" ]; then pass
else fail "renewal: the key was not renewed"; fi
expect_eq "renewal: the old certificate kept" "$(printf '%s\n' "$OUT" | jq '.versions | length')" 1
expect_eq "renewal: the old serial kept" "$(printf '%s\n' "$OUT" | jq -r '.versions[0].serial_number')" "$SERIAL1"
# The wildcard certificate's threshold passed on the moved clock too.
run_cf cert wait "$W" --timeout 60
show "$W"
expect_eq "renewal: the other due certificate renewed too" \
    "$(printf '%s\n' "$OUT" | jq '.versions | length')" 1
run_cf debug clock 0

# --- 6. forced renewal ------------------------------------------------------------------
show "$W"
SERIAL2=$(jf serial_number)
run_cf cert renew "$W"
expect_eq "forced: renew exit" "$RC" 0
show "$W"
expect_eq "forced: in progress while the renewal runs" "$(jf in_progress)" true
expect_eq "forced: the old certificate still active meanwhile" "$(jf status)" active
run_cf cert renew "$W"
expect_eq "forced: a second renew while one runs is refused" "$RC" 1
run_cf cert wait "$W" --timeout 60
expect_eq "forced: wait" "$RC" 0
show "$W"
expect_eq "forced: no longer in progress" "$(printf '%s\n' "$OUT" | jq .in_progress)" false
if [ "$(jf serial_number)" != "$SERIAL2" ]; then pass; else fail "forced: same serial"; fi
expect_eq "forced: a third valid order (issue, threshold, forced)" \
    "$(printf '%s\n' "$OUT" | jq '[.orders[] | select(.status == "valid")] | length')" 3
expect_eq "forced: two versions kept" "$(printf '%s\n' "$OUT" | jq '.versions | length')" 2
run_cf cert renew "$WRONG"
expect_eq "forced: a pending certificate is refused" "$RC" 1

# --- 7. revoke ---------------------------------------------------------------------------
run_cf cert revoke "$LATE" --reason nonsense
expect_eq "revoke: bad reason" "$RC" 1
run_cf --json cert revoke "$LATE" --reason superseded
expect_eq "revoke: exit" "$RC" 0
expect_eq "revoke: status" "$(jf status)" revoked
run_cf cert revoke "$LATE"
expect_eq "revoke: twice is refused" "$RC" 1
run_cf --json cert list --status revoked
expect_eq "revoke: listed" "$(printf '%s\n' "$OUT" | jq -r '.[0].id')" "$LATE"

# --- 8. SIGKILL in the middle of an order; the restart finishes it ----------------------
new_cert kill.test
KILL=$ID
delegate
i=0
until [ "$(sqlite3 "$DB" "SELECT count(*) FROM cert_orders WHERE cert_id = $KILL AND order_url IS NOT NULL AND status = 'running'" 2>/dev/null)" = 1 ] ||
    [ $i -gt 400 ]; do
	i=$((i + 1)); sleep 0.01
done
show "$KILL"
if [ "$(jf status)" = active ]; then
	echo "kill: the order finished before it could be killed; restarting anyway"
fi
stop_daemon KILL || true
# shellcheck disable=SC2086
start_daemon $DAEMON_FLAGS
run_cf cert wait "$KILL" --timeout 60
expect_eq "kill: active after the restart" "$RC" 0
expect_issued killed "$KILL" kill.test
show "$KILL"
expect_eq "kill: one order in all" "$(printf '%s\n' "$OUT" | jq '.orders | length')" 1

# --- 9. the CA down: error with backoff, then recovery ---------------------------------
mkdir -p "$T/pebble-$DOWN_ADDR"
pebble_certs "$T/pebble-$DOWN_ADDR" "$DOWN_ADDR"
run_cf ca add down --directory "https://$DOWN_ADDR:14000/dir" \
    --trust "$T/pebble-$DOWN_ADDR/ca.pem"
expect_eq "down: ca add" "$RC" 0
run_cf --json cert create --domain down.test --ca down --agree-tos
DOWN=$(jf id)
run_cf --json cert csr "$DOWN"
LABEL=$(jf label)
dns_add_cname _acme-challenge.down.test "$LABEL.$ZONE"
i=0
while show "$DOWN"; { [ "$(jf status)" != error ] || [ "$(jf failures)" -lt 2 ]; } &&
    [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
expect_eq "down: error" "$(jf status)" error
expect_contains "down: says the CA cannot be reached" "$(jf last_error)" "$DOWN_ADDR"
F1=$(jf failures)
if [ "$F1" -ge 2 ]; then pass; else fail "down: failures $F1, want retries"; fi
NEXT=$(jf next_attempt_at)
run_cf cert wait "$DOWN" --timeout 5
expect_eq "down: wait fails at once" "$RC" 1
expect_contains "down: wait gives the last error" "$ERR" "failed:"
stop_pebble
PEBBLE_ENV="PEBBLE_VA_NOSLEEP=1" start_pebble "$DOWN_ADDR" -dnsserver "$DNS_RESOLVER:53"
i=0
while show "$DOWN"; [ "$(jf status)" != active ] && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
expect_eq "down: recovered" "$(jf status)" active
expect_eq "down: failures reset" "$(jf failures)" 0
hook_got cert_issue_failed "$DOWN"
hook_got cert_issued "$DOWN"
expect_contains "webhook: the failure says why" "$(jq -r --argjson id "$DOWN" \
    'select(.kind == "cert_issue_failed" and .body.subject.id == $id) |
    .body.data.last_error' "$T/hook.log" | head -n 1)" "$DOWN_ADDR"

# --- 9b. deployed to a real nginx, reloaded, renewed, seen served ----------------------
# The certificate's files go where nginx reads them; the reload reloads it;
# certfleet tracks that nginx by host and sees the renewed serial served.
NGX="$T/nginx"
mkdir -p "$NGX/www"
run_cf --json cert deploy add "$DOWN" --dir "$NGX/www" \
    --reload "$(command -v nginx || echo /usr/sbin/nginx) -c $NGX/nginx.conf -p $NGX -s reload"
expect_eq "deploy: add" "$RC" 0
run_cf --json cert deploy run "$DOWN"
expect_eq "deploy: first run (nginx not up yet: the reload fails)" \
    "$(printf '%s\n' "$OUT" | jq -r '.[0].state')" failed
cat >"$NGX/nginx.conf" <<NGINX
daemon off; master_process on; worker_processes 1;
pid $NGX/nginx.pid; error_log $NGX/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $NGX;
  server { listen $CF_NET.31:8443 ssl; server_name down.test;
    ssl_certificate $NGX/www/fullchain.pem;
    ssl_certificate_key $NGX/www/privkey.pem;
    location / { return 204; } } }
NGINX
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$NGX/nginx.conf" -p "$NGX" &
NGX_PID=$!
i=0
while [ ! -s "$NGX/nginx.pid" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
run_cf --json cert deploy run "$DOWN"
expect_eq "deploy: ok once nginx runs" "$(printf '%s\n' "$OUT" | jq -r '.[0].state')" ok
show "$DOWN"
SERIAL_D1=$(jf serial_number)
run_cf --json track add --host "$CF_NET.31:8443" --sni down.test
expect_eq "deploy: nginx serves the deployed certificate" \
    "$(printf '%s\n' "$OUT" | jq -r .serial_number)" "$SERIAL_D1"
NGX_ITEM=$(printf '%s\n' "$OUT" | jq .id)
run_cf cert renew "$DOWN"
i=0
while show "$DOWN"; [ "$(jf serial_number)" = "$SERIAL_D1" ] && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
SERIAL_D2=$(jf serial_number)
if [ "$SERIAL_D2" != "$SERIAL_D1" ]; then pass; else fail "deploy: not renewed"; fi
# The renewal deploys again and reloads nginx; the next check sees it.
i=0
while run_cf --json track check "$NGX_ITEM"; [ "$(printf '%s\n' "$OUT" |
    jq -r .serial_number)" != "$SERIAL_D2" ] && [ $i -lt 100 ]; do
	i=$((i + 1)); sleep 0.1
done
expect_eq "deploy: nginx serves the renewed certificate" \
    "$(printf '%s\n' "$OUT" | jq -r .serial_number)" "$SERIAL_D2"
expect_eq "deploy: the renewal is a chain change" "$("$CERTFLEET" --json events \
    --item "$NGX_ITEM" --kinds chain_changed | jq length)" 1
hook_got deploy_ok "$DOWN"
hook_got cert_renewed "$DOWN"
kill "$NGX_PID" 2>/dev/null; wait "$NGX_PID" 2>/dev/null || true
NGX_PID=

# --- 10. an ACME profile the CA does not offer (pebble 2.4 has no profiles) ------------
# The job fails naming the profile and what the CA offers; no order is placed.
run_cf ca add pebble-prof --directory "$PEBBLE_DIR" --trust "$PEBBLE_TRUST" \
    --acme-profile shortlived
expect_eq "profile: ca add" "$RC" 0
run_cf --json cert create --domain prof.test --ca pebble-prof --agree-tos
PROF=$(jf id)
run_cf --json cert csr "$PROF"
dns_add_cname _acme-challenge.prof.test "$(jf label).$ZONE"
i=0
while show "$PROF"; [ "$(jf status)" != error ] && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
expect_eq "profile: error" "$(jf status)" error
expect_eq "profile: says why" "$(jf last_error)" \
    "ACME profile 'shortlived' is not offered: this CA offers no profiles"
expect_eq "profile: no order placed" "$(printf '%s\n' "$OUT" | jq '.orders | length')" 0

hook_got cert_issued 1
hook_got cert_renewed 1
# A renewal that fails (the CA gone) reaches the webhook too.
stop_pebble
run_cf cert renew "$DOWN"
expect_eq "renew with the CA down: accepted" "$RC" 0
hook_got cert_renew_failed "$DOWN"

# --- the daemon stayed answering; nothing secret in its log ----------------------------
if grep -qF "$SECRET" "$T/daemon.log"; then fail "the webhook secret in the log"
else pass; fi
for f in "$T"/*.key.pem; do
	if grep -qF "$(sed -n 2p "$f")" "$T/daemon.log"; then fail "key material in the log ($f)"
	else pass; fi
done
stop_daemon
expect_eq "daemon exit" "$?" 0

echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
