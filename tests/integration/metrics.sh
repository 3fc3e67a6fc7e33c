#!/bin/sh
# The monitoring endpoints of one certfleetd (GET /metrics, /healthz, the
# monitor socket), scraped by curl, by a strict parser of the exposition
# format (tests/integration/metrics_parse.py), by promtool and by a real
# Prometheus evaluating contrib/prometheus/certfleet.rules.yml:
#  - items of every kind: a PEM certificate, an expired one, one 5 days
#    from the end of a 90-day life, one whose CN holds `"} 1`, a newline,
#    `fake_metric 1`, a bidi control and a C1 control; a live host (served
#    by tests/integration/tlsserver.py) and a host whose server is gone;
#  - the 0.0.4 body passes promtool check metrics, every family has HELP
#    and TYPE, the hostile name stays inside its label (no fake_metric
#    line; the label decodes to the escaped text); per-item values against
#    openssl (notAfter, notBefore, serial) and the aggregates; the
#    aggregates follow the daemon's (test) clock;
#  - OpenMetrics when asked for: its content type, # EOF last, parses;
#  - /healthz, /, 404, methods other than GET/HEAD, 20 KB of headers;
#  - http-allow: a peer at 127.0.0.2 is cut off at accept on both listeners;
#  - http-max-connections 4: a fifth connection waits until one of four
#    open ones closes;
#  - the monitor socket: mode 0666, role monitor, each method the daemon
#    lists called with empty params: the read-only ones answered, all
#    others PERMISSION_DENIED with the monitor message;
#  - Prometheus scrapes the daemon (target up), stores notAfter and the
#    hostile label as exported, and fires CertfleetCertExpiringSoon (its
#    `for:` shortened) for the 5-day certificate only;
#  - 5000 more items: the multi-MB body completes; a reader that stalls and
#    then reads 4 KiB at a time neither grows the daemon by the body's size
#    nor slows the control socket; a reader that resets mid-body leaves the
#    next scrape whole; HEAD of it ends, so its connection serves the next
#    request.
# One daemon, one Prometheus; every process is stopped by PID.  Prints one
# "ok - ..." or "not ok - ..." line per check and exits 1 if any failed.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

for c in curl jq openssl; do
	command -v $c >/dev/null || { echo "$c not installed: skipped"; exit 77; }
done

MPARSE="$S/tests/integration/metrics_parse.py"
MRPC="$S/tests/integration/metrics_rpc.py"
MHTTP="$S/tests/integration/metrics_http.py"
HOSTILE_CERT="$S/tests/integration/hostile_cert.py"
RULES="$S/contrib/prometheus/certfleet.rules.yml"
PROM_PID=
HELPER_PIDS=

metrics_cleanup() {
	for p in $PROM_PID $HELPER_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PROM_PID=
	HELPER_PIDS=
	tls_cleanup
}
trap metrics_cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() { pass; echo "ok - $*"; }
not_ok() {
	CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1))
	echo "not ok - $*"
}
# is WHAT GOT WANT
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got [$2], want [$3]"; fi
}
# show FILE: a failing check's evidence, as comments
show() { head -n "${2:-20}" "$1" | sed 's/^/#   /'; }

# http NAME [curl args...]: one request; HCODE the status (000: none), HRC
# curl's exit status; $T/NAME.body and $T/NAME.hdr hold the reply.
http() {
	_n=$1; shift
	HRC=0
	HCODE=$(curl -s --max-time "${HTTP_TIMEOUT:-10}" -D "$T/$_n.hdr" \
	    -o "$T/$_n.body" -w '%{http_code}' "$@") || HRC=$?
}
# hdr NAME HEADER: a header of the last reply saved as NAME
hdr() { tr -d '\r' <"$T/$1.hdr" | sed -n "s/^$2: *//Ip" | tail -n 1; }

# parse NAME [--openmetrics]: $T/NAME.body through the strict parser into
# $T/NAME.json (one sample a line); PRC its exit status.
parse() {
	PRC=0
	"$PYTHON" "$MPARSE" ${2:+"$2"} "$T/$1.body" >"$T/$1.json" 2>"$T/$1.perr" || PRC=$?
}
# mval NAME METRIC JQ-CONDITION: the values of METRIC's samples in
# $T/NAME.json where the condition (on .labels) holds, space separated.
mval() {
	jq -r --arg m "$2" "select(.name == \$m and ($3)) | .value" "$T/$1.json" |
	    paste -sd' ' -
}
# scrape NAME: GET /metrics into $T/NAME.body and parse it.
scrape() {
	http "$1" "http://127.0.0.1:$P1/metrics"
	parse "$1"
}

NOW=$(date -u +%s)
DAY=86400
P1=$(free_port 127.0.0.1)
P2=$(free_port 127.0.0.2)
MON="$T/monitor.sock"

# --- certificates and servers ------------------------------------------------
make_ca
make_leaf live "/CN=live.test" "DNS:live.test,IP:127.0.0.1" \
    $((NOW - 3600)) $((NOW + 200 * DAY))
make_leaf gone "/CN=gone.test" "DNS:gone.test,IP:127.0.0.1" \
    $((NOW - 3600)) $((NOW + 150 * DAY))
make_selfsigned normal "/CN=normal.test" "DNS:normal.test" 365
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/h.key"
hc() { "$PYTHON" "$HOSTILE_CERT" --key "$T/h.key" "$@" || exit 1; }
hc --out "$T/expired.pem" --subject CN:utf8:=expired.test \
    --not-before $((NOW - 100 * DAY)) --not-after $((NOW - 10 * DAY))
# 90 days of life, 5 left: past min(14d, lifetime/3), before min(3d, /6).
hc --out "$T/soon.pem" --subject CN:utf8:=soon.test \
    --not-before $((NOW - 85 * DAY)) --not-after $((NOW + 5 * DAY))
# The CN: `"} 1`, LF, `fake_metric 1`, U+202E, `evil`, U+009B, `end`.
HOSTILE_HEX=$(printf '"} 1\nfake_metric 1\342\200\256evil\302\233end' |
    od -An -tx1 | tr -d ' \n')
hc --out "$T/hostile.pem" --subject "CN:utf8:$HOSTILE_HEX"
# What the label must hold once the format's escapes are undone: the
# daemon's own escapes as text (\x0a, \u202e, \x9b).
HOSTILE_SHOWN='"} 1\x0afake_metric 1\u202eevil\x9bend'
# ... and the bytes on the wire, with the format's escapes on top.
HOSTILE_WIRE='cn="\"} 1\\x0afake_metric 1\\u202eevil\\x9bend"'

must_start_server tls 127.0.0.1 0 --cert "$P/live.chain.pem" --key "$P/live.key"
LIVE_PORT=$SRV_PORT
must_start_server tls 127.0.0.1 0 --cert "$P/gone.chain.pem" --key "$P/gone.key"
GONE_PID=$SRV_PID GONE_PORT=$SRV_PORT

start_daemon --test-hooks yes --ca-file "$P/root.pem" --probe-timeout 3 \
    --http-listen "127.0.0.1:$P1" --http-listen "127.0.0.2:$P2" \
    --http-allow 127.0.0.1/32 --http-max-connections 4 \
    --monitor-socket "$MON"

# add NAME ARGS...: track add; sets NAME_ID (the script stops if it fails).
add() {
	_v=$1; shift
	run_cf --json track add "$@"
	if [ "$RC" -ne 0 ]; then
		echo "track add $* failed: $ERR"; exit 1
	fi
	eval "${_v}_ID=\$(printf '%s\n' \"\$OUT\" | jq -r .id)"
}
add NORMAL --pem "$P/normal.pem"
add EXPIRED --pem "$T/expired.pem"
add SOON --pem "$T/soon.pem"
add HOSTILE --pem "$T/hostile.pem"
T_ADD=$(date -u +%s)
add LIVE --host "127.0.0.1:$LIVE_PORT"
add GONE --host "127.0.0.1:$GONE_PORT"
stop_server "$GONE_PID"
# shellcheck disable=SC2153 # the *_ID variables are set by add()
run_cf --json track check "$GONE_ID"
is "the stopped host's check fails" \
    "$(printf '%s\n' "$OUT" | jq -r '.error != null and .check_failures > 0' 2>/dev/null)" true

# --- 0.0.4 exposition ---------------------------------------------------------
scrape m1
is "GET /metrics: 200" "$HCODE" 200
is "GET /metrics: Content-Type" "$(hdr m1 Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
if command -v promtool >/dev/null 2>&1; then
	if promtool check metrics <"$T/m1.body" >"$T/promtool.out" 2>&1; then
		ok "promtool check metrics passes"
	else
		not_ok "promtool check metrics"; show "$T/promtool.out"
	fi
else
	not_ok "promtool not found (Debian: apt-get install prometheus); not skipping"
fi
if [ "$PRC" -eq 0 ]; then
	ok "strict parse: every sample well formed, every family has HELP and TYPE ($(tail -n 1 "$T/m1.perr"))"
else
	not_ok "strict parse of the 0.0.4 body"; show "$T/m1.perr"
fi
is "no line starts with fake_metric" "$(grep -c '^fake_metric' "$T/m1.body" || true)" 0
is "no sample named fake_metric" "$(jq -r 'select(.name | startswith("fake")) | .name' "$T/m1.json" | wc -l | tr -d ' ')" 0
is "the hostile CN is on the wire escaped twice (daemon, then format)" \
    "$(grep -cF -- "$HOSTILE_WIRE" "$T/m1.body" || true)" 2
is "hostile item: its not_after series' cn label decodes to the escaped text" \
    "$(jq -r --arg id "$HOSTILE_ID" --arg want "$HOSTILE_SHOWN" \
    'select(.name == "certfleet_cert_not_after_timestamp_seconds" and .labels.id == $id) | .labels.cn == $want' "$T/m1.json")" true
is "hostile item: issuer label (self-signed) decodes the same" \
    "$(jq -r --arg id "$HOSTILE_ID" --arg want "$HOSTILE_SHOWN" \
    'select(.name == "certfleet_cert_not_before_timestamp_seconds" and .labels.id == $id) | .labels.issuer == $want' "$T/m1.json")" true
is "hostile item: not_after is its notAfter" \
    "$(mval m1 certfleet_cert_not_after_timestamp_seconds ".labels.id == \"$HOSTILE_ID\"")" \
    "$(ossl_epoch "$T/hostile.pem" enddate)"

NITEMS=$(list_ids | wc -w | tr -d ' ')
is "one not_after series per item ($NITEMS items)" \
    "$(jq -r 'select(.name == "certfleet_cert_not_after_timestamp_seconds") | .labels.id' "$T/m1.json" | sort -u | wc -l | tr -d ' ')" "$NITEMS"
is "per-item series carry exactly id, source, host, port, sni, cn, issuer, serial" \
    "$(jq -c 'select(.name | test("^certfleet_(cert_not_|cert_chain|cert_hostname|check_|cert_renewal)")) | .labels | keys' "$T/m1.json" | sort -u)" \
    '["cn","host","id","issuer","port","serial","sni","source"]'

L=".labels.id == \"$LIVE_ID\""
G=".labels.id == \"$GONE_ID\""
is "live host: check_success 1" "$(mval m1 certfleet_check_success "$L")" 1
is "stopped host: check_success 0" "$(mval m1 certfleet_check_success "$G")" 0
is "live host: chain_valid 1" "$(mval m1 certfleet_cert_chain_valid "$L")" 1
is "live host: hostname_match 1" "$(mval m1 certfleet_cert_hostname_match "$L")" 1
is "live host: not_after = openssl's notAfter" \
    "$(mval m1 certfleet_cert_not_after_timestamp_seconds "$L and .labels.source == \"host\"")" \
    "$(ossl_epoch "$P/live.pem" enddate)"
is "live host: not_before = openssl's notBefore" \
    "$(mval m1 certfleet_cert_not_before_timestamp_seconds "$L")" \
    "$(ossl_epoch "$P/live.pem" startdate)"
is "live host: labels host, port, sni, cn, issuer, serial" \
    "$(jq -r --arg id "$LIVE_ID" 'select(.name == "certfleet_cert_not_after_timestamp_seconds" and .labels.id == $id) | .labels | [.source, .host, .port, .sni, .cn, .issuer, .serial] | join("|")' "$T/m1.json")" \
    "host|127.0.0.1|$LIVE_PORT||live.test|Certfleet Test Intermediate|$(openssl x509 -in "$P/live.pem" -noout -serial | sed 's/^serial=//')"
ct=$(mval m1 certfleet_check_timestamp_seconds "$L")
if [ -n "$ct" ] && [ "$ct" -ge $((T_ADD - 1)) ] && [ "$ct" -le $(($(date -u +%s) + 1)) ]; then
	ok "live host: check_timestamp_seconds is when it was checked ($ct)"
else
	not_ok "live host: check_timestamp_seconds [$ct] not within [$T_ADD, now]"
fi
is "PEM items have no check_* series" \
    "$(jq -r 'select((.name | startswith("certfleet_check_")) and .labels.source == "pem") | .name' "$T/m1.json" | wc -l | tr -d ' ')" 0
is "certificates{source=pem,state=expired} 1" \
    "$(mval m1 certfleet_certificates '.labels.source == "pem" and .labels.state == "expired"')" 1
is "certificates{source=pem,state=expiring} 1 (the 5-day one)" \
    "$(mval m1 certfleet_certificates '.labels.source == "pem" and .labels.state == "expiring"')" 1
is "certificates{source=host}: ok 1, failed 1" \
    "$(mval m1 certfleet_certificates '.labels.source == "host" and (.labels.state == "ok" or .labels.state == "failed")')" "1 1"
is "certificates_expiring{within=7d} 1" \
    "$(mval m1 certfleet_certificates_expiring '.labels.within == "7d"')" 1
is "cert_expiry_seconds_count counts every certificate" \
    "$(mval m1 certfleet_cert_expiry_seconds_count true)" "$NITEMS"
is "metrics_items_omitted 0" "$(mval m1 certfleet_metrics_items_omitted true)" 0
is "0.0.4 body has no # EOF" "$(grep -c '^# EOF' "$T/m1.body" || true)" 0

# The aggregates judge on the daemon's clock: 6 days on, the 5-day
# certificate has expired too.
run_cf debug clock $((6 * DAY))
scrape m2
is "clock +6 days: certificates{pem,expired} 2" \
    "$(mval m2 certfleet_certificates '.labels.source == "pem" and .labels.state == "expired"')" 2
run_cf debug clock 0
scrape m3
is "clock reset: certificates{pem,expired} 1" \
    "$(mval m3 certfleet_certificates '.labels.source == "pem" and .labels.state == "expired"')" 1

# --- OpenMetrics ---------------------------------------------------------------
http om -H 'Accept: application/openmetrics-text; version=1.0.0' "http://127.0.0.1:$P1/metrics"
is "OpenMetrics: 200" "$HCODE" 200
case $(hdr om Content-Type) in
application/openmetrics-text*version=1.0.0*) ok "OpenMetrics: Content-Type $(hdr om Content-Type)" ;;
*) not_ok "OpenMetrics: Content-Type [$(hdr om Content-Type)]" ;;
esac
is "OpenMetrics: the body ends with # EOF" "$(tail -n 1 "$T/om.body")" "# EOF"
parse om --openmetrics
if [ "$PRC" -eq 0 ]; then ok "OpenMetrics: strict parse ($(tail -n 1 "$T/om.perr"))"
else not_ok "OpenMetrics: strict parse"; show "$T/om.perr"; fi
is "OpenMetrics: the hostile label decodes the same" \
    "$(jq -r --arg id "$HOSTILE_ID" --arg want "$HOSTILE_SHOWN" \
    'select(.name == "certfleet_cert_not_after_timestamp_seconds" and .labels.id == $id) | .labels.cn == $want' "$T/om.json")" true

# --- other requests ------------------------------------------------------------
http hz "http://127.0.0.1:$P1/healthz"
is "/healthz: 200 ok" "$HCODE $(cat "$T/hz.body")" "200 ok"
http root "http://127.0.0.1:$P1/"
is "/: 200" "$HCODE" 200
http nope "http://127.0.0.1:$P1/nope"
is "/nope: 404" "$HCODE" 404
http post -X POST "http://127.0.0.1:$P1/metrics"
case $HCODE in
405|501) ok "POST /metrics refused ($HCODE)" ;;
*) not_ok "POST /metrics: got [$HCODE], want 405 or 501" ;;
esac
http put -X PUT --data x "http://127.0.0.1:$P1/metrics"
case $HCODE in
4[0-9][0-9]|5[0-9][0-9]) ok "PUT /metrics with a body refused ($HCODE)" ;;
*) not_ok "PUT /metrics with a body: got [$HCODE], want a refusal" ;;
esac
"$PYTHON" "$MHTTP" head 127.0.0.1 "$P1" >"$T/head" 2>&1 || true
is "HEAD /metrics: 200, no body, the connection goes on" "$(cat "$T/head")" "head 200 body 0 then 200"
"$PYTHON" -c 'print("X-Big: " + "a" * 20480)' >"$T/bighdr"
http big -H "@$T/bighdr" "http://127.0.0.1:$P1/metrics"
case $HCODE in
4[0-9][0-9]) ok "20 KB of headers refused ($HCODE)" ;;
*) not_ok "20 KB of headers: got [$HCODE], want 4xx" ;;
esac
http hz2 "http://127.0.0.1:$P1/healthz"
is "after the big headers: /healthz 200" "$HCODE" 200

# --- http-allow ----------------------------------------------------------------
# A peer outside http-allow is cut off right after the accept, before it
# can send anything: no answer at all (curl's 000), so strangers cannot
# hold connection slots either.
http deny1 --interface 127.0.0.2 "http://127.0.0.1:$P1/metrics"
is "peer 127.0.0.2 -> 127.0.0.1 listener: cut, no answer" "$HCODE" 000
is "nothing served to it" "$(cat "$T/deny1.body" 2>/dev/null)" ""
http deny2 --interface 127.0.0.2 "http://127.0.0.2:$P2/healthz"
is "peer 127.0.0.2 -> 127.0.0.2 listener: cut, no answer" "$HCODE" 000
http allow2 --interface 127.0.0.1 "http://127.0.0.2:$P2/healthz"
is "peer 127.0.0.1 -> 127.0.0.2 listener: 200" "$HCODE" 200

# --- the monitor socket --------------------------------------------------------
is "monitor socket mode 666" "$(stat -c %a "$MON")" 666
run_cf --socket "$MON" status
case $OUT in
*"Your Role"*monitor*) ok "status through the monitor socket: role monitor" ;;
*) not_ok "status through the monitor socket: [$OUT] $ERR" ;;
esac
run_cf --socket "$MON" track add --pem "$P/normal.pem"
is "track add through the monitor socket: refused" "$RC|$ERR" \
    "1|certfleet: permission denied: the monitor socket only reads"
READ_ONLY="Daemon.Status Daemon.Methods Track.List Track.Show Events.List
Events.Watch Events.Kinds Cert.DeployList Ca.List Ca.Show Cert.Show Cert.List
Check.Run"
WRC=0
"$PYTHON" "$MRPC" "$MON" walk >"$T/walk" 2>&1 || WRC=$?
nwalk=$(wc -l <"$T/walk" | tr -d ' ')
if [ "$WRC" -eq 0 ] && [ "$nwalk" -ge 40 ]; then
	ok "monitor socket: walked all $nwalk methods Daemon.Methods lists"
else
	not_ok "monitor socket: walk failed ($WRC, $nwalk methods)"; show "$T/walk"
fi
bad_ro='' bad_rw='' n_ro=0 n_rw=0 bad_role=''
RO=" $(printf '%s' "$READ_ONLY" | tr '\n' ' ') "
while read -r name role result; do
	case $RO in
	*" $name "*)
		n_ro=$((n_ro + 1))
		case $result in 7\ *|closed) bad_ro="$bad_ro $name($result)" ;; esac
		[ "$role" = monitor ] || bad_role="$bad_role $name:$role" ;;
	*)
		n_rw=$((n_rw + 1))
		[ "$result" = "7 permission denied: the monitor socket only reads" ] ||
		    bad_rw="$bad_rw $name($result)"
		[ "$role" != monitor ] || bad_role="$bad_role $name:$role" ;;
	esac
done <"$T/walk"
if [ "$n_ro" -ge 12 ] && [ -z "$bad_ro" ]; then
	ok "monitor socket: the $n_ro read-only methods are not refused"
else
	not_ok "monitor socket: read-only methods refused or missing ($n_ro):$bad_ro"
fi
if [ "$n_rw" -gt 0 ] && [ -z "$bad_rw" ]; then
	ok "monitor socket: the other $n_rw methods answer PERMISSION_DENIED (7) with the monitor message"
else
	not_ok "monitor socket: not refused:$bad_rw"
fi
is "Daemon.Methods gives role monitor to exactly the read-only methods" "$bad_role" ""
scrape m4
is "rpc_requests_total counts the refusals" \
    "$(mval m4 certfleet_rpc_requests_total '.labels.method == "Debug.SetClock" and .labels.code == "PERMISSION_DENIED"')" 1

# --- a real Prometheus ---------------------------------------------------------
if command -v prometheus >/dev/null 2>&1; then
	PP=$(free_port 127.0.0.1)
	mkdir -p "$T/prom"
	# CertfleetCertExpiringSoon waits `for: 15m` in the shipped rules; the
	# copy here fires at once so that a test can see it.  Nothing else of
	# the rules changes.
	sed '/alert: CertfleetCertExpiringSoon/,/for:/ s/for: 15m/for: 0s/' \
	    "$RULES" >"$T/certfleet.rules.yml"
	if cmp -s "$RULES" "$T/certfleet.rules.yml"; then
		not_ok "the rules copy: for: 15m of CertfleetCertExpiringSoon not found"
	fi
	cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $T/certfleet.rules.yml
scrape_configs:
  - job_name: certfleet
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$P1']
EOF
	prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	    --web.listen-address="127.0.0.1:$PP" >"$T/prom.log" 2>&1 &
	PROM_PID=$!
	PURL="http://127.0.0.1:$PP"
	# wait_prom SECONDS JQ-CONDITION CURL-ARGS...: polls the API until the
	# answer satisfies the condition; PJSON is the last answer.
	wait_prom() {
		_end=$(($(date +%s) + $1)); _cond=$2; shift 2
		while :; do
			PJSON=$(curl -s --max-time 2 "$@" 2>/dev/null || true)
			if [ -n "$PJSON" ] && printf '%s\n' "$PJSON" | jq -e "$_cond" >/dev/null 2>&1; then
				return 0
			fi
			[ "$(date +%s)" -lt "$_end" ] && kill -0 "$PROM_PID" 2>/dev/null || return 1
			sleep 0.3
		done
	}
	if wait_prom 30 '.data.activeTargets | length > 0 and all(.health == "up")' "$PURL/api/v1/targets"; then
		ok "Prometheus: target 127.0.0.1:$P1 up"
	else
		not_ok "Prometheus: target not up: $(printf '%s' "$PJSON" | jq -c '.data.activeTargets[]? | {health, lastError}' 2>/dev/null)"
		tail -n 5 "$T/prom.log" | sed 's/^/#   /'
	fi
	q() { wait_prom 10 "$1" "$PURL/api/v1/query" -G --data-urlencode "query=$2"; }
	LIVE_NA=$(ossl_epoch "$P/live.pem" enddate)
	if q '.data.result | length == 1' "certfleet_cert_not_after_timestamp_seconds{id=\"$LIVE_ID\",source=\"host\"}"; then :; fi
	is "Prometheus: live host's not_after = openssl's notAfter" \
	    "$(printf '%s\n' "$PJSON" | jq -r '.data.result[0].value[1] // empty')" "$LIVE_NA"
	if q '.data.result | length == 1' "certfleet_cert_not_after_timestamp_seconds{id=\"$HOSTILE_ID\"}"; then :; fi
	is "Prometheus: the hostile cn label stored as exported" \
	    "$(printf '%s\n' "$PJSON" | jq -r --arg want "$HOSTILE_SHOWN" '.data.result[0].metric.cn == $want')" true
	if q '.status == "success"' 'count({__name__=~"fake.*"})'; then :; fi
	is "Prometheus: no fake_metric series" "$(printf '%s\n' "$PJSON" | jq '.data.result | length')" 0

	# alerts FILTER: the ids of firing alerts matching the jq condition
	alerts() {
		printf '%s\n' "$PJSON" | jq -r "[.data.alerts[] | select(.state == \"firing\" and ($1)) | .labels.id] | sort | join(\" \")"
	}
	wait_prom 60 "[.data.alerts[] | select(.state == \"firing\" and .labels.alertname == \"CertfleetCertExpiringSoon\" and .labels.id == \"$SOON_ID\")] | length == 1" \
	    "$PURL/api/v1/alerts" || true
	is "Prometheus: CertfleetCertExpiringSoon fires for the 5-day certificate only" \
	    "$(alerts '.labels.alertname == "CertfleetCertExpiringSoon"')" "$SOON_ID"
	is "Prometheus: CertfleetCertExpired fires for the expired certificate only" \
	    "$(alerts '.labels.alertname == "CertfleetCertExpired"')" "$EXPIRED_ID"
	is "Prometheus: no alert for the live host or the healthy PEM item" \
	    "$(alerts ".labels.id == \"$LIVE_ID\" or .labels.id == \"$NORMAL_ID\"")" ""
	kill "$PROM_PID" 2>/dev/null || true
	wait "$PROM_PID" 2>/dev/null || true
	PROM_PID=
else
	not_ok "prometheus not found (Debian: apt-get install prometheus); not skipping"
fi

# --- http-max-connections 4 ----------------------------------------------------
nlim=$(grep -c 'the limit; new ones wait' "$T/daemon.log" || true)
"$PYTHON" "$MHTTP" bound 127.0.0.1 "$P1" 4 >"$T/bound" 2>&1 || true
is "bound: four connections held" "$(sed -n 1p "$T/bound")" "held 4"
is "bound: the fifth waits while they are open" "$(sed -n 2p "$T/bound")" "waiting: no answer in 2.0 s"
case $(sed -n 3p "$T/bound") in
"after one closed: 200 in "*) ok "bound: the fifth is served once one of them closes ($(sed -n 3p "$T/bound"))" ;;
*) not_ok "bound: after closing one: [$(sed -n 3p "$T/bound")]" ;;
esac
if [ "$(grep -c 'the limit; new ones wait' "$T/daemon.log" || true)" -gt "$nlim" ]; then
	ok "bound: the daemon logs that the limit was reached"
else
	not_ok "bound: no 'the limit' line in the log"
fi

# --- a multi-MB body -----------------------------------------------------------
# 5000 more PEM items, signed in one openssl run by a CA whose name, like
# their CN, is 64 characters, so each series is long.
BK="$T/bulk"
mkdir -p "$BK/new"
: >"$BK/index.txt"
echo 1000 >"$BK/serial"
cat >"$BK/ca.cnf" <<EOF
[ca]
default_ca = cadef
[cadef]
dir = $BK
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
default_days = 400
policy = pol
unique_subject = no
[pol]
commonName = supplied
EOF
long=$(printf '%064d' 0 | tr 0 x)
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$BK/ca.key" -out "$BK/ca.pem" -days 1000 -subj "/CN=ca${long#xx}"
ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$BK/leaf.key" -out "$BK/leaf.csr" -subj "/CN=bk${long#xx}"
NBULK=5000
t0=$(now_ms)
# shellcheck disable=SC2046
ossl ca -batch -config "$BK/ca.cnf" -cert "$BK/ca.pem" -keyfile "$BK/ca.key" \
    -notext -out "$BK/last.pem" -infiles $(i=0; while [ $i -lt $NBULK ]; do echo "$BK/leaf.csr"; i=$((i + 1)); done)
cat "$BK"/new/*.pem >"$BK/all.pem"
t1=$(now_ms)
ARC=0
"$PYTHON" "$MRPC" "$CERTFLEET_SOCKET" add-pems "$BK/all.pem" >"$T/addpems" 2>&1 || ARC=$?
t2=$(now_ms)
is "bulk: $NBULK PEM items added (signed in $((t1 - t0)) ms, added in $((t2 - t1)) ms)" \
    "$ARC $(cat "$T/addpems")" "0 added $NBULK failed 0"
NALL=$((NITEMS + NBULK))

# The daemon's memory before it sends the big body: a scrape is paced by
# its reader, so neither a fast nor a stalled one makes the daemon hold it.
rss() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" "/proc/$DAEMON_PID/status"; }
RSS0=$(rss VmRSS)
t0=$(now_ms)
HTTP_TIMEOUT=15 scrape big
t1=$(now_ms)
BODY=$(wc -c <"$T/big.body" | tr -d ' ')
if [ "$HRC" -eq 0 ] && [ "$PRC" -eq 0 ] && [ "$BODY" -gt 2000000 ]; then
	ok "bulk: the whole $BODY-byte body in $((t1 - t0)) ms, well formed"
else
	not_ok "bulk: /metrics gave $BODY bytes in $((t1 - t0)) ms, curl exit $HRC (18: cut short, 28: timed out), parse $PRC"
	tail -c 300 "$T/big.body" | tail -n 2 | cut -c 1-150 | sed 's/^/#   /'
fi
is "bulk: one not_after series per item" \
    "$(jq -r 'select(.name == "certfleet_cert_not_after_timestamp_seconds") | .labels.id' "$T/big.json" | sort -u | wc -l | tr -d ' ')" "$NALL"
[ "$BODY" -gt 2000000 ] || BODY=3000000	# what the body would be

# HEAD of the big body: headers only, and the keep-alive connection
# serves the next request.
"$PYTHON" "$MHTTP" head 127.0.0.1 "$P1" >"$T/head2" 2>&1 || true
is "bulk: HEAD /metrics, then GET /healthz on the same connection" "$(cat "$T/head2")" "head 200 body 0 then 200"

# A reader that stalls 2 s, then takes 4 KiB at a time.
rm -f "$T/stalled"
"$PYTHON" "$MHTTP" slow 127.0.0.1 "$P1" 2 "$T/stalled" >"$T/slow" 2>&1 &
SLOW_PID=$!
HELPER_PIDS=$SLOW_PID
sleep 1.5
RSS1=$(rss VmRSS)
maxms=0 n=0
while kill -0 "$SLOW_PID" 2>/dev/null && [ $n -lt 100 ]; do
	t0=$(now_ms)
	"$CERTFLEET" status >/dev/null 2>&1 || maxms=99999
	t1=$(now_ms)
	[ $((t1 - t0)) -gt "$maxms" ] && maxms=$((t1 - t0))
	n=$((n + 1))
	sleep 0.1
done
wait "$SLOW_PID" || true
HELPER_PIDS=
grow=$(((RSS1 - RSS0) * 1024))
peak=$((($(rss VmHWM) - RSS0) * 1024))
if [ "$grow" -lt $((BODY / 2)) ]; then
	ok "slow reader: the daemon grew $grow bytes while it stalled (body $BODY)"
else
	not_ok "slow reader: the daemon grew $grow bytes while it stalled (body $BODY): it buffers the body"
fi
if [ "$peak" -lt $((BODY / 2)) ]; then
	ok "big scrapes: the daemon's peak RSS rose $peak bytes over both (body $BODY)"
else
	not_ok "big scrapes: the daemon's peak RSS rose $peak bytes (body $BODY): it buffers the body"
fi
if [ "$n" -gt 0 ] && [ "$maxms" -lt 1000 ]; then
	ok "slow reader: certfleet status answered $n times meanwhile, slowest $maxms ms"
else
	not_ok "slow reader: certfleet status slowest $maxms ms ($n calls)"
fi
case $(cat "$T/slow") in
"bytes "*" complete yes "*) ok "slow reader: got the whole body ($(cat "$T/slow"))" ;;
*) not_ok "slow reader: [$(cat "$T/slow")]" ;;
esac

# A reader that resets the connection 100 KB into the body.
"$PYTHON" "$MHTTP" cut 127.0.0.1 "$P1" 100000 >"$T/cut" 2>&1 || true
is "reset reader: read 100000 bytes, then reset" "$(cat "$T/cut")" "read 100000"
http hz3 "http://127.0.0.1:$P1/healthz"
is "after the reset: /healthz 200" "$HCODE" 200
HTTP_TIMEOUT=15 scrape big2
if [ "$HRC" -eq 0 ] && [ "$PRC" -eq 0 ] &&
    [ "$(jq -r 'select(.name == "certfleet_cert_not_after_timestamp_seconds") | .labels.id' "$T/big2.json" | sort -u | wc -l | tr -d ' ')" = "$NALL" ]; then
	ok "after the reset: the next scrape is whole ($(wc -c <"$T/big2.body" | tr -d ' ') bytes)"
else
	not_ok "after the reset: the next scrape gave $(wc -c <"$T/big2.body" | tr -d ' ') bytes, curl exit $HRC, parse $PRC"
fi
run_cf status
is "after the reset: the control socket answers" "$RC" 0

# HTTP/1.0 gets no chunks: the body ends with the close.  Twice, a reply
# that ended by closing freed its job twice (a crash); with "Connection:
# keep-alive", evhttp announced a Content-Length of 0 before the body.
for ka in "" "Connection: keep-alive"; do
	HTTP_TIMEOUT=15 http h10 -0 ${ka:+-H "$ka"} "http://127.0.0.1:$P1/metrics"
	parse h10
	n10=$(jq -r 'select(.name == "certfleet_cert_not_after_timestamp_seconds") | .labels.id' "$T/h10.json" 2>/dev/null | sort -u | wc -l | tr -d ' ')
	is "HTTP/1.0 ${ka:-plain}: whole body, closed ($HCODE, curl $HRC, parse $PRC, $(hdr h10 Connection))" \
	    "$HCODE $HRC $PRC $n10 $(hdr h10 Connection)" "200 0 0 $NALL close"
done
run_cf status
is "after HTTP/1.0: the control socket answers" "$RC" 0

# --- the end -------------------------------------------------------------------
rc=0
stop_daemon || rc=$?
is "the daemon exits 0 on SIGTERM" "$rc" 0
echo "# $CHECKS checks, $FAILS failed"
if [ "$FAILS" -ne 0 ]; then
	echo "# --- daemon log (last 30 lines) ---"
	tail -n 30 "$T/daemon.log" | cut -c 1-200 | sed 's/^/#   /'
	exit 1
fi
exit 0
