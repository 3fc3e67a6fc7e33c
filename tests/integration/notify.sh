#!/bin/sh
# Notification delivery against real receivers on loopback
# (tests/integration/webhook_rx.py, smtp_rx.py, and a command written
# here), with the test clock hook moving time past backoffs:
#  - webhooks signed as Standard Webhooks, webhook-id the event id, the body
#    the event; a secret made by notify add shown once and never again;
#  - --kinds and --min-severity; retries after 5xx with Retry-After; 410
#    disables the sink (sink_disabled); other 4xx give up at once
#    (delivery_given_up) until notify retry; a hanging receiver times out
#    while the daemon and the other sinks go on;
#  - exec sinks: the event on stdin, CERTFLEET_* variables, hostile names
#    never run, a failing command retried; only admins add them;
#  - e-mail: one RFC 5322 message per burst, its header; STARTTLS required
#    and the server's certificate verified (--smtp-ca-file), also right
#    after another sink's mail to the same server;
#  - bad input refused with one line naming the field, nothing stored;
#  - two sinks that both give up do not feed each other events;
#  - at-least-once across five SIGKILLs with ~2000 events in flight;
#  - hostile names (", }, <, =, newline, C1, bidi, long multibyte) through
#    the webhook JSON, Slack text, e-mail and exec, checked at byte level.
# Each receiver is started for its purpose and stopped by PID.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PYTHON=${PYTHON:-python3}
WEBHOOK_RX="$S/tests/integration/webhook_rx.py"
SMTP_RX="$S/tests/integration/smtp_rx.py"
HOSTILE_CERT="$S/tests/integration/hostile_cert.py"
RX_PIDS=
LOAD_PIDS=

notify_cleanup() {
	for p in $LOAD_PIDS $RX_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	RX_PIDS=
	LOAD_PIDS=
	cleanup
}
trap notify_cleanup EXIT
trap 'exit 1' INT TERM HUP

command -v jq >/dev/null || { echo "jq not installed: skipped"; exit 77; }
command -v openssl >/dev/null || { echo "openssl not installed: skipped"; exit 77; }

# --- receivers ---------------------------------------------------------------

# rx_wait_port NAME PID: waits (10 s) for the receiver's port file.
rx_wait_port() {
	_w=0
	while [ ! -s "$T/$1.port" ]; do
		_w=$((_w + 1))
		if [ $_w -gt 200 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "receiver $1 did not start:"; cat "$T/$1.err"
			exit 1
		fi
		sleep 0.05
	done
}

# rx_start NAME PORT [webhook_rx options]: a webhook receiver on
# 127.0.0.1:PORT (0: any) logging to $T/NAME.log; sets RX_PORT.
rx_start() {
	name=$1 port=$2
	shift 2
	rm -f "$T/$name.port"
	"$PYTHON" "$WEBHOOK_RX" --listen "127.0.0.1:$port" \
	    --port-file "$T/$name.port" --log "$T/$name.log" "$@" \
	    2>>"$T/$name.err" &
	pid=$!
	RX_PIDS="$RX_PIDS $pid"
	echo "$pid" >"$T/$name.pid"
	rx_wait_port "$name" "$pid"
	RX_PORT=$(cat "$T/$name.port")
}

# smtp_start NAME [smtp_rx options]: an SMTP server on 127.0.0.1 storing
# messages in $T/NAME/; sets RX_PORT.
smtp_start() {
	name=$1
	shift
	rm -f "$T/$name.port"
	"$PYTHON" "$SMTP_RX" --listen 127.0.0.1:0 --port-file "$T/$name.port" \
	    --maildir "$T/$name" "$@" 2>>"$T/$name.err" &
	pid=$!
	RX_PIDS="$RX_PIDS $pid"
	echo "$pid" >"$T/$name.pid"
	rx_wait_port "$name" "$pid"
	RX_PORT=$(cat "$T/$name.port")
}

# nmail DIR: how many messages smtp_rx has stored in $T/DIR.
nmail() {
	_n=0
	for _f in "$T/$1"/*.json; do [ -e "$_f" ] && _n=$((_n + 1)); done
	echo $_n
}

# rx_stop NAME: stops that receiver, by its PID.
rx_stop() {
	pid=$(cat "$T/$1.pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rest=
	for p in $RX_PIDS; do
		[ "$p" = "$pid" ] || rest="$rest $p"
	done
	RX_PIDS=$rest
}

# rx_q NAME FILTER: jq -s FILTER over the receiver's log (an array of its
# requests, oldest first).
rx_q() {
	if [ -s "$T/$1.log" ]; then
		jq -s -c "$2" "$T/$1.log"
	else
		echo '[]' | jq -c "$2"
	fi
}

# rx_until NAME FILTER: waits (20 s) until FILTER over the log is true.
rx_until() {
	_w=0
	while [ "$(rx_q "$1" "$2")" != true ] && [ $_w -lt 400 ]; do
		_w=$((_w + 1)); sleep 0.05
	done
	[ $_w -lt 400 ] || echo "(waited 20 s in vain for receiver $1: $2)"
}

# rx_got NAME IDS: true once every event id of the JSON array IDS was
# answered 200 by the receiver.
rx_got_filter() {
	printf '%s\n' "([.[] | select(.status == 200) | .event_id] | unique) as \$g |
	    $1 - \$g == []"
}
rx_got() { rx_until "$1" "$(rx_got_filter "$2")"; }
# rx_ok_ids NAME [PATH]: the event ids answered 200, sorted, as a JSON array.
rx_ok_ids() {
	rx_q "$1" "[.[] | select(.status == 200 and (\"${2:-}\" == \"\" or
	    .path == \"${2:-}\")) | .event_id] | unique"
}

# --- the daemon ----------------------------------------------------------------

# sink NAME: the sink's JSON.
sink() { "$CERTFLEET" --json notify show "$1"; }
# sink_until NAME FILTER: waits (20 s) until FILTER over the sink is true.
sink_until() {
	_w=0
	while [ "$(sink "$1" | jq "$2")" != true ] && [ $_w -lt 400 ]; do
		_w=$((_w + 1)); sleep 0.05
	done
	[ $_w -lt 400 ] || echo "(waited 20 s in vain for sink $1: $2)"
}
# j TEXT: TEXT on stdout as it is (dash's echo reads backslashes).
j() { printf '%s\n' "$1"; }
# event ID: the event as Events.List gives it, keys sorted.
event() {
	"$CERTFLEET" --json events --after $(($1 - 1)) --limit 10000 |
	    jq -S -c "map(select(.id == $1)) | .[0]"
}
last_event() { "$CERTFLEET" --json events --limit 1 | jq '.[0].id // 0'; }
# ids_after ID [KINDS]: ids of the events after ID, as a sorted JSON array.
ids_after() {
	"$CERTFLEET" --json events --after "$1" ${2:+--kinds "$2"} \
	    --limit 10000 | jq -c '[.[].id] | sort'
}
OFFSET=0
# fwd SECONDS: moves the daemon's clock SECONDS further; the notification
# runner looks for due deliveries at once.
fwd() {
	OFFSET=$((OFFSET + $1))
	"$CERTFLEET" debug clock "$OFFSET" >/dev/null
}
# mkcert NAME DAYS [SUBJECT]: a self-signed certificate, $T/NAME.pem.
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -subj "${3:-/CN=$1.example}" \
	    -days "$2" 2>/dev/null
}
# add NAME: tracks $T/NAME.pem; prints the item id.
add() { "$CERTFLEET" --json track add --pem "$T/$1.pem" | jq .id; }
# one_line WHAT: the last command's stderr is one line starting "certfleet: ".
one_line() {
	expect_eq "$1: one line on stderr" "$(printf '%s\n' "$ERR" | wc -l)" 1
	expect_contains "$1: says who" "$ERR" "certfleet: "
}

start_daemon --test-hooks yes

# =============================================================================
# 1. Webhooks: signed, webhook-id = the event id, the body = the event.
# =============================================================================
SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
printf '%s\n' "$SECRET" >"$T/sig.secret"
rx_start sig 0 --secret "$SECRET"
SIG_URL="http://127.0.0.1:$RX_PORT/hooks/certfleet?x=1"
run_cf --json notify add sig --webhook "$SIG_URL" --secret-file "$T/sig.secret"
expect_eq "add with --secret-file: exit" "$RC" 0
expect_eq "add with --secret-file: secret not echoed" \
    "$(j "$OUT" | jq 'has("secret")')" false
expect_eq "add with --secret-file: has_secret" "$(j "$OUT" | jq .has_secret)" true
expect_eq "add: target" "$(j "$OUT" | jq -r .target)" "$SIG_URL"
expect_eq "add: defaults" "$(j "$OUT" | jq -c '[.type, .format, .kinds,
    .min_severity, .timeout, .enabled, .delivered, .pending]')" \
    '["webhook","json",null,"info",10,true,0,0]'
SIG_ID=$(j "$OUT" | jq .id)
FIRST=$(last_event)
for c in w1 w2 w3; do mkcert $c 3650; add $c >/dev/null; done
run_cf --json notify test sig
expect_eq "notify test: exit" "$RC" 0
TEST_EV=$(j "$OUT" | jq .event)
expect_eq "notify test: names the sink" "$(j "$OUT" | jq -r .name)" sig
WANT=$(ids_after "$FIRST")
expect_eq "three added events and the test" "$(j "$WANT" | jq length)" 4
rx_got sig "$WANT"
expect_eq "webhook: every event arrived" "$(rx_ok_ids sig)" "$WANT"
expect_eq "webhook: every signature valid" "$(rx_q sig 'map(.sig_ok) | unique')" '[true]'
expect_eq "webhook: webhook-id is the event id" \
    "$(rx_q sig 'map(.id == (.event_id | tostring)) | unique')" '[true]'
expect_eq "webhook: POST to the URL's path and query" \
    "$(rx_q sig 'map(.method + " " + .path) | unique')" '["POST /hooks/certfleet?x=1"]'
expect_eq "webhook: JSON content type" \
    "$(rx_q sig 'map(.headers["content-type"]) | unique')" '["application/json"]'
expect_eq "webhook: timestamp is the real time" "$(rx_q sig "map(
    (.headers[\"webhook-timestamp\"] | tonumber) - $(date +%s) | . < 120 and . > -120)
    | unique")" '[true]'
for id in $(j "$WANT" | jq '.[]'); do
	expect_eq "webhook: body of event $id is the event" \
	    "$(rx_q sig "map(select(.event_id == $id)) | .[0].body" | jq -S -c .)" \
	    "$(event "$id" | jq -S -c .)"
done
B=$(rx_q sig "map(select(.event_id == $TEST_EV)) | .[0].body")
expect_eq "notify_test: kind, severity, subject" \
    "$(j "$B" | jq -c '[.kind, .severity, .subject.type, .subject.id]')" \
    "[\"notify_test\",\"info\",\"sink\",$SIG_ID]"
expect_eq "notify_test: data names the sink" "$(j "$B" | jq -c '.data |
    [.sink, .type]')" '["sig","webhook"]'
B=$(rx_q sig 'map(select(.kind == "added")) | .[0].body')
expect_eq "added: subject tracked" "$(j "$B" | jq -r .subject.type)" tracked
expect_contains "added: data names the certificate" \
    "$(j "$B" | jq -c .data.names)" ".example"
sink_until sig '.delivered == 4 and .pending == 0'
expect_eq "sig: counters" "$(sink sig | jq -c '[.delivered, .failed_attempts,
    .pending, .given_up, .last_error, (.last_delivered_at != null)]')" \
    '[4,0,0,0,null,true]'

# A secret made by the daemon: shown once by notify add (table and JSON),
# never by show or list; it signs what the receiver gets.
GEN_PORT=$("$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_cf notify add gen1 --webhook "http://127.0.0.1:$GEN_PORT/" --kinds notify_test
expect_eq "add without a secret: exit" "$RC" 0
GEN1=$(j "$OUT" | grep -E '^whsec_[A-Za-z0-9+/]{43}=$' || true)
expect_eq "add without a secret: a whsec_ secret of 32 bytes shown" \
    "$(printf '%s' "${GEN1#whsec_}" | base64 -d 2>/dev/null | wc -c)" 32
expect_contains "add without a secret: says it is shown once" "$OUT" "shown this once"
run_cf --json notify add gen2 --webhook "http://127.0.0.1:$GEN_PORT/" --kinds notify_test
GEN2=$(j "$OUT" | jq -r '.secret // ""')
expect_eq "add --json: secret" "$(printf '%s' "${GEN2#whsec_}" | base64 -d 2>/dev/null | wc -c)" 32
expect_eq "two sinks: two secrets" "$([ "$GEN1" != "$GEN2" ] && echo differ)" differ
for cmd in "notify show gen1" "--json notify show gen1" "notify show gen2" \
    "--json notify show gen2" "notify list" "--json notify list"; do
	run_cf $cmd
	expect_eq "$cmd: exit" "$RC" 0
	case "$OUT" in
	*whsec_*|*"${GEN1#whsec_}"*|*"${GEN2#whsec_}"*|*"${SECRET#whsec_}"*)
		fail "$cmd shows a secret" ;;
	*) pass ;;
	esac
done
expect_eq "show: has_secret, no secret" "$(sink gen2 | jq -c '[.has_secret, has("secret")]')" \
    '[true,false]'
# Sealed in the store: no secret's text in the state directory.
if grep -rqF -e "${SECRET#whsec_}" -e "${GEN1#whsec_}" -e "${GEN2#whsec_}" "$STATE"; then
	fail "a secret is stored in clear in $STATE"
else pass; fi
rx_start gen "$GEN_PORT" --secret "$GEN2"
run_cf --json notify test gen2
GEN_EV=$(j "$OUT" | jq .event)
rx_got gen "[$GEN_EV]"
expect_eq "made secret: signs the delivery" \
    "$(rx_q gen "map(select(.event_id == $GEN_EV)) | [.[].sig_ok] | unique")" '[true]'
expect_eq "notify test: to that sink alone" "$(rx_q gen 'map(.event_id) | unique')" "[$GEN_EV]"
run_cf notify delete gen1
expect_eq "notify delete: exit" "$RC" 0
expect_contains "notify delete: says so" "$OUT" "gen1 deleted"
run_cf notify show gen1
expect_eq "deleted sink: not found" "$RC" 1
"$CERTFLEET" notify delete gen2 >/dev/null
rx_stop gen

# =============================================================================
# 2. --kinds and --min-severity (expiry driven by the clock), and the first
#    e-mail: an expiring warning's subject.
# =============================================================================
rx_start filt 0
FILT=$RX_PORT
"$CERTFLEET" notify add exp --webhook "http://127.0.0.1:$FILT/exp" \
    --kinds expiring,expired >/dev/null
"$CERTFLEET" notify add crit --webhook "http://127.0.0.1:$FILT/crit" \
    --min-severity critical >/dev/null
expect_eq "kinds shown" "$(sink exp | jq -c .kinds)" '["expiring","expired"]'
expect_eq "min severity shown" "$(sink crit | jq -r .min_severity)" critical
smtp_start mail
MAIL=$RX_PORT
run_cf notify add mailexp --email ops@example.com --smtp "smtp://127.0.0.1:$MAIL" \
    --smtp-insecure --from certfleet@example.org --kinds expiring
expect_eq "email sink: exit" "$RC" 0
expect_eq "email sink: shown" "$(sink mailexp | jq -c '[.type, .target, .smtp_url,
    .smtp_insecure, .timeout, .has_secret]')" \
    "[\"email\",\"ops@example.com\",\"smtp://127.0.0.1:$MAIL\",true,60,false]"
FIRST=$(last_event)
mkcert d90 90
mkcert d5 5
D90=$(add d90)
D5=$(add d5)
# 61 days on: d90 crosses 30 days (one warning), d5 has expired.
fwd $((61 * 86400 + 60))
i=0
while [ "$(ids_after "$FIRST" expiring,expired | jq length)" -lt 2 ] && [ $i -lt 400 ]; do
	i=$((i + 1)); sleep 0.05
done
EXP=$(ids_after "$FIRST" expiring,expired)
expect_eq "day 61: one expiring, one expired" \
    "$("$CERTFLEET" --json events --after "$FIRST" --kinds expiring,expired |
    jq -c '[.[] | [.kind, .item]] | sort')" "$(echo "[[\"expired\",$D5],[\"expiring\",$D90]]" |
    jq -c 'sort')"
CRIT=$("$CERTFLEET" --json events --after "$FIRST" --limit 10000 |
    jq -c '[.[] | select(.severity == "critical") | .id] | sort')
expect_eq "day 61: one critical event" "$(j "$CRIT" | jq length)" 1
rx_got filt "$EXP"
rx_got filt "$CRIT"
sleep 0.3	# anything wrongly sent comes with the rest
expect_eq "--kinds expiring,expired: only those" "$(rx_ok_ids filt /exp)" "$EXP"
expect_eq "--kinds: nothing else was even tried" \
    "$(rx_q filt 'map(select(.path == "/exp") | .kind) | unique')" '["expired","expiring"]'
expect_eq "--min-severity critical: only critical" "$(rx_ok_ids filt /crit)" "$CRIT"
expect_eq "--min-severity critical: nothing else tried" \
    "$(rx_q filt 'map(select(.path == "/crit") | .body.severity) | unique')" '["critical"]'
# The daemon's clock is 61 days on; signatures carry the real time.
run_cf --json notify test sig
SIG_EV=$(j "$OUT" | jq .event)
rx_got sig "[$SIG_EV]"
expect_eq "clock moved: timestamp still real, signature valid" \
    "$(rx_q sig "map(select(.event_id == $SIG_EV)) | .[0].sig_ok")" true
"$CERTFLEET" notify delete sig >/dev/null
"$CERTFLEET" notify delete exp >/dev/null
"$CERTFLEET" notify delete crit >/dev/null
rx_stop sig
rx_stop filt
# The e-mail is due a minute after its event.
fwd 120
i=0
while [ ! -e "$T/mail/1.json" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
expect_eq "expiring: one mail" "$(nmail mail)" 1
M="$T/mail/1.eml"
expect_eq "mail: envelope" "$(jq -c '[.mail_from, .rcpt_tos, .tls]' "$T/mail/1.json")" \
    '["certfleet@example.org",["ops@example.com"],false]'
hdr() { sed -n "/^\r\$/q; s/^$1: \(.*\)\r\$/\1/p" "$M"; }
expect_eq "mail: Subject names the certificate and the days" "$(hdr Subject)" \
    "[certfleet] warning: d90.example expires in 28 days"
expect_eq "mail: From" "$(hdr From)" certfleet@example.org
expect_eq "mail: To" "$(hdr To)" ops@example.com
expect_contains "mail: Message-ID" "$(hdr Message-ID)" "@example.org>"
expect_eq "mail: Date parses" "$(date -d "$(hdr Date)" >/dev/null 2>&1 && echo ok)" ok
EXPIRING=$("$CERTFLEET" --json events --after "$FIRST" --kinds expiring | jq '.[0].id')
expect_contains "mail: body names the event" "$(cat "$M")" "warning  expiring (event $EXPIRING)"
expect_contains "mail: body has the names" "$(cat "$M")" "names:        d90.example"
expect_eq "mail: CRLF line ends only" "$(tr -d '\n' <"$M" | tr '\r' '\n' | wc -l)" \
    "$(wc -l <"$M" | tr -d ' ')"
sink_until mailexp '.delivered == 1'
expect_eq "mailexp: counters" "$(sink mailexp | jq -c '[.delivered, .pending, .last_error]')" \
    '[1,0,null]'
"$CERTFLEET" notify delete mailexp >/dev/null

# =============================================================================
# From here on the daemon's clock runs 61 days ahead; certificates live long.
# A healthy sink, "all", gets every event from now on.
# =============================================================================
rx_start all 0
ALL=$RX_PORT
"$CERTFLEET" notify add all --webhook "http://127.0.0.1:$ALL/" >/dev/null

# =============================================================================
# 3. Retries: 503 with Retry-After, every second request.
# =============================================================================
rx_start retry 0 --fail-every 2 --fail-status 503 --retry-after 100
"$CERTFLEET" notify add retry --webhook "http://127.0.0.1:$RX_PORT/" --kinds added >/dev/null
FIRST=$(last_event)
for c in r1 r2 r3 r4; do mkcert $c 3650; add $c >/dev/null; done
WANT=$(ids_after "$FIRST" added)
rx_until retry 'length >= 4'
sink_until retry '.failed_attempts == 2 and .delivered == 2'
expect_eq "retry: two of four answered 503" "$(rx_q retry 'map(.status) | sort')" '[200,200,503,503]'
S=$(sink retry)
expect_eq "retry: counters after the failures" \
    "$(j "$S" | jq -c '[.delivered, .failed_attempts, .pending, .given_up]')" '[2,2,2,0]'
expect_eq "retry: last_error" "$(j "$S" | jq -r .last_error)" "the receiver answered HTTP 503"
run_cf notify list
expect_contains "notify list: shows the last error" "$(j "$OUT" | grep '^retry ')" "503"
# 60 s on: past the first backoff (30 s +-20%) but not Retry-After (100 s).
fwd 60
sleep 1
expect_eq "retry: Retry-After honoured" "$(rx_q retry length)" 4
# Past Retry-After: the retries come at once (the runner would otherwise
# look again only within a minute).
fwd 150
_w=0
while [ "$(rx_q retry length)" = 4 ] && [ $_w -lt 100 ]; do _w=$((_w + 1)); sleep 0.05; done
expect_eq "retry: due at once when the clock moves (within 5 s)" \
    "$([ "$(rx_q retry length)" != 4 ] && echo yes || echo no)" yes
i=0
while [ "$(rx_q retry "$(rx_got_filter "$WANT")")" != true ] && [ $i -lt 10 ]; do
	i=$((i + 1))
	n=$(rx_q retry length)
	fwd 150
	rx_until retry "length > $n"
done
expect_eq "retry: every event arrived at least once" "$(rx_ok_ids retry)" "$WANT"
sink_until retry '.pending == 0'
expect_eq "retry: counters at the end" "$(sink retry | jq -c '[.delivered, .failed_attempts,
    .pending, .given_up]')" "[4,$(rx_q retry 'map(select(.status == 503)) | length'),0,0]"
"$CERTFLEET" notify delete retry >/dev/null
rx_stop retry

# =============================================================================
# 4. 410 Gone disables the sink.
# =============================================================================
rx_start gone 0 --gone
"$CERTFLEET" notify add gone --webhook "http://127.0.0.1:$RX_PORT/" >/dev/null
GONE_ID=$(sink gone | jq .id)
FIRST=$(last_event)
run_cf --json notify test gone
GONE_EV=$(j "$OUT" | jq .event)
sink_until gone '.enabled == false'
S=$(sink gone)
expect_eq "410: sink disabled" "$(j "$S" | jq .enabled)" false
expect_contains "410: the reason" "$(j "$S" | jq -r .disabled_reason)" "410"
run_cf --json events --kinds sink_disabled
expect_eq "410: one sink_disabled event" "$(j "$OUT" | jq -c "[.[] | select(.subject ==
    {\"type\":\"sink\",\"id\":$GONE_ID}) | [.kind, .severity, .data.sink]]")" \
    '[["sink_disabled","warning","gone"]]'
DIS_EV=$(j "$OUT" | jq ".[] | select(.subject.id == $GONE_ID) | .id")
rx_got all "[$DIS_EV]"
expect_eq "410: sink_disabled goes to the other sinks" "$(rx_q all "map(select(.event_id ==
    $DIS_EV and .status == 200)) | length > 0")" true
mkcert g1 3650
add g1 >/dev/null
G1_EV=$(last_event)
rx_got all "[$G1_EV]"
expect_eq "410: nothing more is sent to it" "$(rx_q gone 'map(.event_id)')" "[$GONE_EV]"
run_cf --json events --kinds delivery_given_up
expect_eq "410: no delivery_given_up for it" "$(j "$OUT" | jq "map(select(.subject.id ==
    $GONE_ID)) | length")" 0
run_cf --json notify enable gone
expect_eq "410: enabled again" "$(j "$OUT" | jq -c '[.enabled, .disabled_reason]')" '[true,null]'
run_cf --json events --before "$G1_EV" --limit 1
expect_eq "events --before: older only" "$(j "$OUT" | jq '.[0].id < '"$G1_EV")" true
"$CERTFLEET" notify delete gone >/dev/null
rx_stop gone

# =============================================================================
# 5. Other 4xx: given up at once; notify retry queues it again.
# =============================================================================
rx_start nf 0 --fail-every 1 --fail-status 404
NF=$RX_PORT
"$CERTFLEET" notify add nf --webhook "http://127.0.0.1:$NF/" --kinds notify_test >/dev/null
NF_ID=$(sink nf | jq .id)
run_cf --json notify test nf
NF_EV=$(j "$OUT" | jq .event)
sink_until nf '.given_up == 1'
S=$(sink nf)
expect_eq "404: given up at once" "$(j "$S" | jq -c '[.delivered, .failed_attempts,
    .pending, .given_up]')" '[0,1,0,1]'
expect_eq "404: last_error" "$(j "$S" | jq -r .last_error)" "the receiver answered HTTP 404"
run_cf --json events --subject "sink:$NF_ID"
OUT=$(j "$OUT" | jq -c 'map(select(.kind == "delivery_given_up"))')
expect_eq "404: a delivery_given_up event" "$(j "$OUT" | jq -c '[.[] | [.severity,
    .data.event_id, .data.sink]]')" "[[\"warning\",$NF_EV,\"nf\"]]"
expect_contains "404: the event says why" "$(j "$OUT" | jq -r '.[0].message')" "404"
fwd 7200
sleep 0.5
expect_eq "404: not tried again" "$(rx_q nf length)" 1
rx_stop nf
rx_start nf "$NF"
run_cf --json notify retry nf
expect_eq "notify retry: exit" "$RC" 0
expect_eq "notify retry: requeued" "$(j "$OUT" | jq .requeued)" 1
rx_got nf "[$NF_EV]"
expect_eq "retried: arrived" "$(rx_ok_ids nf)" "[$NF_EV]"
sink_until nf '.delivered == 1'
expect_eq "retried: counters" "$(sink nf | jq -c '[.delivered, .pending, .given_up]')" '[1,0,0]'
run_cf notify retry nf
expect_eq "notify retry again: exit" "$RC" 0
expect_contains "notify retry again: nothing" "$OUT" "0 deliveries"
run_cf notify retry nosuch
expect_eq "notify retry: unknown sink" "$RC" 1
"$CERTFLEET" notify delete nf >/dev/null
rx_stop nf

# =============================================================================
# 6. A receiver that hangs: timed out; the daemon and other sinks go on.
# =============================================================================
rx_start hang 0 --hang
"$CERTFLEET" notify add hang --webhook "http://127.0.0.1:$RX_PORT/" --kinds added \
    --timeout 2 >/dev/null
expect_eq "timeout shown" "$(sink hang | jq .timeout)" 2
FIRST=$(last_event)
for c in h1 h2 h3; do mkcert $c 3650; add $c >/dev/null; done
WANT=$(ids_after "$FIRST" added)
rx_until hang 'length >= 3'
t0=$(date +%s%N)
run_cf status
t1=$(date +%s%N)
expect_eq "hanging deliveries: status answers" "$RC" 0
expect_eq "hanging deliveries: status within 1 s" "$([ $(((t1 - t0) / 1000000)) -lt 1000 ] &&
    echo yes)" yes
rx_got all "$WANT"
expect_eq "hanging sink: the other sink got the events" "$(rx_q all "$(rx_got_filter "$WANT")")" true
sink_until hang '.failed_attempts == 3'
S=$(sink hang)
expect_eq "hang: recorded as failed, retried later" "$(j "$S" | jq -c '[.delivered,
    .failed_attempts, .pending, .given_up]')" '[0,3,3,0]'
expect_contains "hang: last_error says timeout" "$(j "$S" | jq -r .last_error | tr A-Z a-z)" "timed out"
"$CERTFLEET" notify delete hang >/dev/null
rx_stop hang

# =============================================================================
# 7. Exec sinks.
# =============================================================================
mkdir "$T/exec"
cat >"$T/notify_exec.sh" <<EOF
#!/bin/sh
if [ -e "$T/exec.fail" ]; then echo "failing on purpose"; exit 1; fi
cat >"$T/exec/\$CERTFLEET_EVENT_ID.json"
env >"$T/exec/\$CERTFLEET_EVENT_ID.env"
EOF
chmod +x "$T/notify_exec.sh"
run_cf --json notify add run --exec "$T/notify_exec.sh" --kinds added,notify_test
expect_eq "exec sink: exit" "$RC" 0
expect_eq "exec sink: shown" "$(j "$OUT" | jq -c '[.type, .target, .timeout, .has_secret]')" \
    "[\"exec\",\"$T/notify_exec.sh\",60,false]"
# Names that a shell would run if they reached a command line.
TQ=$(printf '%s' "$T" | sed 's|/|\\/|g')
mkcert x1 3650 "/CN=\$(touch $TQ\/pwned1)"
mkcert x2 3650 "/CN=\"; touch $TQ\/pwned2; \"/O=\`touch $TQ\/pwned3\`"
mkcert x3 3650 "/CN=x3.example';touch $TQ\/pwned4;'"
FIRST=$(last_event)
for c in x1 x2 x3; do add $c >/dev/null; done
WANT=$(ids_after "$FIRST" added)
i=0
for id in $(j "$WANT" | jq '.[]'); do
	while [ ! -s "$T/exec/$id.env" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
done
sleep 0.2
for id in $(j "$WANT" | jq '.[]'); do
	E=$(event "$id")
	expect_eq "exec: stdin is event $id" "$(jq -S -c . "$T/exec/$id.json" 2>/dev/null)" \
	    "$(j "$E" | jq -S -c .)"
	envv() { sed -n "s/^$1=//p" "$T/exec/$id.env"; }
	expect_eq "exec $id: CERTFLEET_EVENT_ID" "$(envv CERTFLEET_EVENT_ID)" "$id"
	expect_eq "exec $id: CERTFLEET_EVENT_KIND" "$(envv CERTFLEET_EVENT_KIND)" added
	expect_eq "exec $id: CERTFLEET_SEVERITY" "$(envv CERTFLEET_SEVERITY)" info
	expect_eq "exec $id: CERTFLEET_EVENT_AT" "$(envv CERTFLEET_EVENT_AT)" "$(j "$E" | jq -r .at)"
	expect_eq "exec $id: CERTFLEET_MESSAGE" "$(envv CERTFLEET_MESSAGE)" "$(j "$E" | jq -r .message)"
	expect_eq "exec $id: CERTFLEET_SUBJECT_*" "$(envv CERTFLEET_SUBJECT_TYPE):$(envv CERTFLEET_SUBJECT_ID)" \
	    "tracked:$(j "$E" | jq .subject.id)"
	expect_eq "exec $id: CERTFLEET_COMMON_NAME" "$(envv CERTFLEET_COMMON_NAME)" \
	    "$(j "$E" | jq -r .data.common_name)"
	expect_eq "exec $id: CERTFLEET_SERIAL" "$(envv CERTFLEET_SERIAL)" "$(j "$E" | jq -r .data.serial_number)"
	expect_eq "exec $id: CERTFLEET_FINGERPRINT" "$(envv CERTFLEET_FINGERPRINT)" \
	    "$(j "$E" | jq -r .data.fingerprint_sha256)"
	expect_eq "exec $id: CERTFLEET_NOT_AFTER" "$(envv CERTFLEET_NOT_AFTER)" "$(j "$E" | jq -r .data.not_after)"
	expect_eq "exec $id: CERTFLEET_DAYS_REMAINING" "$(envv CERTFLEET_DAYS_REMAINING)" \
	    "$(j "$E" | jq -r .data.days_remaining)"
done
X1=$(j "$WANT" | jq '.[0]')
expect_eq "exec: the daemon's own environment is not passed on" \
    "$(grep -c '^CERTFLEET_SOCKET=' "$T/exec/$X1.env" || true)" 0
expect_eq "exec: the hostile CN arrives exactly" \
    "$(sed -n 's/^CERTFLEET_COMMON_NAME=//p' "$T/exec/$X1.env")" "\$(touch $T/pwned1)"
for p in pwned1 pwned2 pwned3 pwned4; do
	expect_eq "exec: a hostile name is not run ($p)" "$([ -e "$T/$p" ] && echo ran || echo no)" no
done
# A command that fails is recorded and retried.
: >"$T/exec.fail"
run_cf --json notify test run
RUN_EV=$(j "$OUT" | jq .event)
sink_until run '.failed_attempts >= 1'
S=$(sink run)
expect_eq "exec exit 1: failed, pending" "$(j "$S" | jq -c '[.failed_attempts, .pending, .given_up]')" \
    '[1,1,0]'
expect_contains "exec exit 1: last_error has its output" "$(j "$S" | jq -r .last_error)" "failing on purpose"
rm "$T/exec.fail"
fwd 60
i=0
while [ ! -s "$T/exec/$RUN_EV.env" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
expect_eq "exec: retried and delivered" "$(sed -n 's/^CERTFLEET_EVENT_KIND=//p' "$T/exec/$RUN_EV.env")" \
    notify_test
sink_until run '.pending == 0'
expect_eq "exec: counters" "$(sink run | jq -c '[.delivered, .failed_attempts, .pending]')" '[4,1,0]'
"$CERTFLEET" notify delete run >/dev/null
# An operator (the socket's group, not root) may add a webhook, not a command.
if command -v setpriv >/dev/null && chmod 0710 "$T" &&
    setpriv --reuid=65534 --regid=0 --clear-groups "$CERTFLEET" status >/dev/null 2>&1; then
	RC=0
	setpriv --reuid=65534 --regid=0 --clear-groups "$CERTFLEET" notify add opx \
	    --exec true >"$T/out" 2>"$T/err" || RC=$?
	ERR=$(cat "$T/err")
	expect_eq "operator: exec refused" "$RC" 1
	expect_contains "operator: says why" "$ERR" "admin"
	run_cf notify show opx
	expect_eq "operator: nothing stored" "$RC" 1
	RC=0
	setpriv --reuid=65534 --regid=0 --clear-groups "$CERTFLEET" notify add opw \
	    --webhook "http://127.0.0.1:$ALL/op" --kinds notify_test >/dev/null 2>&1 || RC=$?
	expect_eq "operator: webhook allowed" "$RC" 0
	"$CERTFLEET" notify delete opw >/dev/null 2>&1 || true
else
	echo "cannot run the client as another uid: operator role not checked"
fi
chmod 0700 "$T"

# =============================================================================
# 8. E-mail: one message per burst; STARTTLS required; the server verified.
# =============================================================================
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=notify test CA" -days 3650 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/smtp.key" \
    -out "$T/smtp.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/smtp.ext"
openssl x509 -req -in "$T/smtp.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
    -CAcreateserial -out "$T/smtp.pem" -days 3650 -extfile "$T/smtp.ext" 2>/dev/null
smtp_start tls --starttls --cert "$T/smtp.pem" --key "$T/smtp.key" --require-starttls
TLS=$RX_PORT
"$CERTFLEET" notify add mailall --email 'a@example.com,b@example.com' \
    --smtp "smtp://127.0.0.1:$MAIL" --smtp-insecure --kinds added >/dev/null
"$CERTFLEET" notify add mailstrict --email strict@example.com \
    --smtp "smtp://127.0.0.1:$MAIL" --kinds added >/dev/null
"$CERTFLEET" notify add mailtls --email tls@example.com \
    --smtp "smtp://127.0.0.1:$TLS" --kinds added >/dev/null
"$CERTFLEET" notify add mailca --email ca@example.com --smtp "smtp://127.0.0.1:$TLS" \
    --smtp-ca-file "$T/ca.pem" --kinds added >/dev/null
expect_eq "smtp_ca_file shown" "$(sink mailca | jq -r .smtp_ca_file)" "$T/ca.pem"
FIRST=$(last_event)
for c in m1 m2 m3; do mkcert $c 3650; add $c >/dev/null; done
WANT=$(ids_after "$FIRST" added)
sleep 0.5
expect_eq "mail: nothing before its minute" "$(nmail mail)" 1
fwd 120
sink_until mailall '.delivered == 3'
sink_until mailstrict '.failed_attempts + .delivered >= 1'
sink_until mailtls '.failed_attempts + .delivered >= 1'
sink_until mailca '.delivered == 3'
sleep 0.3
expect_eq "mail: three events, one message" "$(cat "$T"/mail/*.json | jq -s -c 'map(select(
    .rcpt_tos[0] == "a@example.com") | [.rcpt_tos, .tls])')" \
    '[[["a@example.com","b@example.com"],false]]'
M="$T/mail/$(cat "$T"/mail/*.json | jq -s 'map(select(.rcpt_tos[0] == "a@example.com")) |
    .[0].n').eml"
expect_eq "burst: Subject" "$(hdr Subject)" "[certfleet] 3 events; info: $(event "$(j "$WANT" |
    jq '.[0]')" | jq -r .message)"
expect_eq "burst: To" "$(hdr To)" "a@example.com, b@example.com"
expect_contains "burst: From defaults to certfleet@HOSTNAME" "$(hdr From)" "certfleet@"
expect_eq "burst: Date, Message-ID" "$([ -n "$(hdr Date)" ] && [ -n "$(hdr Message-ID)" ] && echo ok)" ok
for id in $(j "$WANT" | jq '.[]'); do
	expect_contains "burst: event $id in the body" "$(cat "$M")" "added (event $id)"
done
for c in m1 m2 m3; do
	expect_contains "burst: $c named" "$(cat "$M")" "names:        $c.example"
done
sink_until mailall '.delivered == 3'
expect_eq "burst: counted per event" "$(sink mailall | jq -c '[.delivered, .pending]')" '[3,0]'
S=$(sink mailstrict)
expect_eq "no STARTTLS, not insecure: not delivered" "$(j "$S" | jq -c '[.delivered,
    .failed_attempts >= 1, .pending]')" '[0,true,3]'
expect_contains "no STARTTLS: the error says so" "$(j "$S" | jq -r .last_error)" "TLS"
expect_eq "no STARTTLS: nothing reached the server for it" \
    "$(cat "$T"/mail/*.json | jq -s -c '[.[].rcpt_tos[]] | index("strict@example.com")')" null
S=$(sink mailtls)
expect_eq "untrusted STARTTLS certificate: not delivered" \
    "$(j "$S" | jq -c '[.delivered, .failed_attempts >= 1]')" '[0,true]'
expect_contains "untrusted certificate: the error says so" "$(j "$S" | jq -r .last_error |
    tr A-Z a-z)" "certificate"
expect_eq "untrusted certificate: nothing stored for it (only mailca's)" "$(nmail tls)" 1
expect_eq "STARTTLS with its CA file: delivered over TLS" "$(jq -c '[.rcpt_tos, .tls]' \
    "$T/tls/1.json" 2>/dev/null)" '[["ca@example.com"],true]'
# One after the other on the same server: a sink's settings hold even when
# another sink's mail has just gone there (its connection may be kept).
# smtp_rx logs the client's address: one port, one connection.
# seq_mail OK_SINK STRICT_SINK SERVER WHAT: a test mail through OK_SINK,
# delivered, then one through STRICT_SINK, which must fail.
seq_mail() {
	d0=$(sink "$1" | jq .delivered)
	"$CERTFLEET" notify test "$1" >/dev/null
	sink_until "$1" ".delivered > $d0"
	n0=$(nmail "$3")
	d0=$(sink "$2" | jq .delivered)
	f0=$(sink "$2" | jq '.failed_attempts + .delivered')
	"$CERTFLEET" notify test "$2" >/dev/null
	sink_until "$2" ".failed_attempts + .delivered > $f0"
	expect_eq "$4: not delivered" "$(sink "$2" | jq ".delivered - $d0")" 0
	expect_eq "$4: nothing reached the server" "$(cat "$T/$3"/*.json |
	    jq -s -c "map(select(.n > $n0) | [.rcpt_tos[0], .tls, .peer[1]])")" '[]'
}
seq_mail mailall mailstrict mail "no STARTTLS, right after an insecure sink's mail"
seq_mail mailca mailtls tls \
    "untrusted certificate, right after a mail trusted by another sink's CA file"
for k in mailall mailstrict mailtls mailca; do
	"$CERTFLEET" notify delete $k >/dev/null 2>&1 || true
done
rx_stop tls
rx_stop mail

# =============================================================================
# 9. Bad input: refused with one line naming the field; nothing stored.
# =============================================================================
BEFORE=$("$CERTFLEET" --json notify list | jq -c 'map(.name)')
printf 'whsec_not base64!\n' >"$T/bad1.secret"
printf 'whsec_%s\n' "$(head -c 16 /dev/urandom | base64)" >"$T/bad2.secret"
printf '%s\n' "$(head -c 32 /dev/urandom | base64)" >"$T/bad3.secret"
: >"$T/empty.secret"
W="--webhook http://127.0.0.1:$ALL/bad"
# bad RC PATTERN ARGS...: notify add refused with exit RC (1, 2, or 1|2:
# either), its stderr matching the glob *PATTERN* (naming the field).
bad() {
	want=$1 needle=$2
	shift 2
	run_cf notify add "$@"
	case "$want" in
	*"|"*) case "$RC" in 1|2) want=$RC ;; esac ;;
	esac
	expect_eq "notify add $*: exit" "$RC" "$want"
	# shellcheck disable=SC2254
	case "$ERR" in
	*$needle*) pass ;;
	*) fail "notify add $*: [$ERR] does not name [$needle]" ;;
	esac
	one_line "notify add $*"
}
bad 1 "unknown event kind 'nosuch'" bad1 $W --kinds added,nosuch
bad 1 "min_severity" bad2 $W --min-severity urgent
bad 1 "does not parse" bad3 --webhook 'http://[::1'
bad 1 "does not parse" bad4 --webhook 'no url at all'
bad 1 "https://" bad5 --webhook 'http://192.0.2.1/'
bad 1 "https://" bad6 --webhook 'http://localhost/'
bad 1 "https://" bad7 --webhook "ftp://127.0.0.1/"
# Names, not address literals, even when they start like one.
bad 1 "https://" bad8 --webhook 'http://127.0.0.1.nip.io/' --kinds notify_test
bad 1 "https://" bad9 --webhook 'http://127.example/' --kinds notify_test
bad 2 "--secret-file $T/nonexistent" bad10 $W --secret-file "$T/nonexistent"
bad 2 "--secret-file" bad11 $W --secret-file "$T/empty.secret"
bad 1 "secret" bad12 $W --secret-file "$T/bad1.secret"
bad 1 "secret" bad13 $W --secret-file "$T/bad2.secret"
bad 1 "secret" bad14 $W --secret-file "$T/bad3.secret"
bad 1 "smtp_url" bad15 --email a@example.com --smtp ftp://x
bad 1 "recipient" bad16 --email '' --smtp smtp://127.0.0.1:25
bad 1 "'not-an-address' is not an e-mail address" bad17 --email not-an-address \
    --smtp smtp://127.0.0.1:25
bad 1 "is not an e-mail address" bad18 --email 'a@example.com,b@example.com>' \
    --smtp smtp://127.0.0.1:25
bad 1 "is not an e-mail address" bad19 --email "$(printf 'a@example.com\r\nBcc: x@example.com')" \
    --smtp smtp://127.0.0.1:25
bad 1 "from" bad20 --email a@example.com --smtp smtp://127.0.0.1:25 --from 'nobody'
bad 1 "name" Bad21 $W
bad 1 "format" bad22 $W --format xml
bad 2 "--timeout" bad23 $W --timeout 0
bad 2 "one of --webhook" bad24
bad 1 "command" bad25 --exec ''
bad 1 "a sink named 'all' exists already" all $W
bad "1|2" "smtp?ca?file" bad26 --email a@example.com --smtp smtp://127.0.0.1:25 \
    --smtp-ca-file relative.pem
bad "1|2" "smtp?ca?file" bad27 --email a@example.com --smtp smtp://127.0.0.1:25 \
    --smtp-ca-file "$T/nonexistent.pem"
AFTER=$("$CERTFLEET" --json notify list | jq -c 'map(.name)')
expect_eq "bad input: nothing stored" "$AFTER" "$BEFORE"
for k in bad8 bad9; do "$CERTFLEET" notify delete $k >/dev/null 2>&1 || true; done

# =============================================================================
# Two sinks that both give up: an event about one sink goes to the other,
# whose giving up is an event for the first... it must not feed itself.
# =============================================================================
"$CERTFLEET" notify delete all >/dev/null
rx_start rej 0 --fail-every 1 --fail-status 400
"$CERTFLEET" notify add reja --webhook "http://127.0.0.1:$RX_PORT/a" >/dev/null
"$CERTFLEET" notify add rejb --webhook "http://127.0.0.1:$RX_PORT/b" >/dev/null
FIRST=$(last_event)
"$CERTFLEET" notify test reja >/dev/null
sink_until reja '.given_up >= 1'
sleep 2
N=$(ids_after "$FIRST" | jq length)
rx_stop rej
"$CERTFLEET" notify delete reja >/dev/null
"$CERTFLEET" notify delete rejb >/dev/null
expect_eq "two sinks giving up: a bounded number of events (not a loop)" \
    "$([ "$N" -le 4 ] && echo bounded || echo "$N events in 2 s")" bounded

rx_stop all

# =============================================================================
# 10. At least once across SIGKILLs: ~2000 events, a receiver failing every
#     fifth request, the daemon killed 5 times while delivering.
# =============================================================================
rc=0
stop_daemon || rc=$?
expect_eq "daemon stops cleanly" "$rc" 0
rm -rf "$STATE"
OFFSET=0
start_daemon --test-hooks yes
rx_start bulk 0 --fail-every 5
"$CERTFLEET" notify add bulk --webhook "http://127.0.0.1:$RX_PORT/" >/dev/null
BULK_ID=$(sink bulk | jq .id)
for c in k1 k2 k3 k4; do mkcert $c 3650; add $c >/dev/null; done
TOTAL=2000
t_start=$(date +%s)
# Four clients toggle their items until the feed holds TOTAL events; a
# call that meets a killed daemon just fails.
for item in 1 2 3 4; do
	(
		n=0
		while [ $n -lt 1500 ] && [ ! -e "$T/bulk.stop" ]; do
			n=$((n + 1))
			"$CERTFLEET" track deactivate $item >/dev/null 2>&1 || sleep 0.02
			"$CERTFLEET" track activate $item >/dev/null 2>&1 || sleep 0.02
		done
	) &
	LOAD_PIDS="$LOAD_PIDS $!"
done
kills=0
AT_KILL=
while [ $kills -lt 5 ]; do
	sleep "0.$(shuf -i 200-999 -n 1)"
	AT_KILL="$AT_KILL $(rx_q bulk length)"
	stop_daemon KILL 2>/dev/null || true
	kills=$((kills + 1))
	start_daemon --test-hooks yes
done
i=0
while [ "$("$CERTFLEET" status --json 2>/dev/null | jq '.events // 0')" -lt $TOTAL ] &&
    [ $i -lt 1200 ]; do
	i=$((i + 1)); sleep 0.05
done
: >"$T/bulk.stop"
for p in $LOAD_PIDS; do wait "$p" 2>/dev/null || true; done
LOAD_PIDS=
t_loaded=$(date +%s)
EVENTS=$("$CERTFLEET" --json events --limit 10000 | jq -c "[.[] | select(.subject !=
    {\"type\":\"sink\",\"id\":$BULK_ID}) | .id] | sort")
expect_eq "bulk: at least $TOTAL events" "$([ "$(j "$EVENTS" | jq length)" -ge $TOTAL ] &&
    echo yes)" yes
j "$EVENTS" >"$T/bulk.want"
# Leases of the killed daemons and the retries fall due as the clock moves;
# an hour at a time while the receiver waits for more.
i=0
while [ "$(rx_q bulk "$(rx_got_filter "$EVENTS")")" != true ] && [ $i -lt 60 ]; do
	i=$((i + 1))
	before=$(rx_q bulk length)
	sleep 0.5
	[ "$(rx_q bulk length)" != "$before" ] || fwd 3600
done
t_done=$(date +%s)
MISSING=$(rx_q bulk "([.[] | select(.status == 200) | .event_id] | unique) as \$g | $EVENTS - \$g | length")
expect_eq "bulk: every event reached the receiver (200) at least once" "$MISSING" 0
# A delivery that reached the receiver just before a SIGKILL stays leased
# (then is sent again): the clock moves past the leases until none is left.
i=0
while [ "$(sink bulk | jq .pending)" != 0 ] && [ $i -lt 20 ]; do
	i=$((i + 1))
	fwd 3600
	_w=0
	while [ "$(sink bulk | jq .pending)" != 0 ] && [ $_w -lt 40 ]; do
		_w=$((_w + 1)); sleep 0.05
	done
done
expect_eq "bulk: nothing pending or given up" "$(sink bulk | jq -c '[.pending, .given_up]')" '[0,0]'
expect_eq "bulk: the daemon logged no store error" \
    "$(grep -c 'notifications: ' "$T/daemon.log" || true)" 0
echo "bulk: $(j "$EVENTS" | jq length) events, $(rx_q bulk length) requests" \
    "($(rx_q bulk '[.[] | select(.status == 200)] | length - ([.[] | select(.status == 200) |
    .event_id] | unique | length)') duplicates), 5 SIGKILLs;" \
    "load $((t_loaded - t_start)) s, then all delivered in $((t_done - t_loaded)) s" \
    "(clock moved $((OFFSET / 3600)) h); killed at requests$AT_KILL"
rx_stop bulk

# =============================================================================
# 11. Hostile names through every output to other programs: a certificate
#     whose CN holds ", }, <, =, a newline, C1 and bidi controls and long
#     multibyte text, and whose O tries a mail header and a Slack ping,
#     checked at byte level in the signed webhook's JSON, the Slack text,
#     the e-mail and the exec sink's environment and stdin.
# =============================================================================
openssl ecparam -name prime256v1 -genkey -noout -out "$T/hx.key" 2>/dev/null
HX_CN=$(printf 'a"}<=\n\302\233\342\200\256%s' "$(printf '%0300d' 0 | sed 's/0/中/g')" |
    od -An -tx1 | tr -d ' \n')
HX_O=$(printf '<!channel> &x\r\nBcc: v@x' | od -An -tx1 | tr -d ' \n')
"$PYTHON" "$HOSTILE_CERT" --key "$T/hx.key" \
    --out "$T/hx.pem" --subject "CN:utf8:$HX_CN" --subject "O:utf8:$HX_O" \
    --not-before $(($(date +%s) - 3600)) --not-after $(($(date +%s) + 2 * 86400))
printf '%s' "$HX_CN" >"$T/hx.cn.hex"
rx_start hxw 0 --secret "$SECRET"
"$CERTFLEET" notify add hxw --webhook "http://127.0.0.1:$RX_PORT/" \
    --secret-file "$T/sig.secret" --kinds added >/dev/null
rx_start hxs 0
"$CERTFLEET" notify add hxs --webhook "http://127.0.0.1:$RX_PORT/" \
    --format slack --kinds added >/dev/null
smtp_start hxm
"$CERTFLEET" notify add hxm --email ops@example.test \
    --smtp "smtp://127.0.0.1:$RX_PORT" --smtp-insecure --kinds added >/dev/null
cat >"$T/hx.sh" <<HXEOF
#!/bin/sh
cat >"$T/hx.stdin"
printf '%s' "\$CERTFLEET_COMMON_NAME" >"$T/hx.env.cn"
HXEOF
chmod +x "$T/hx.sh"
"$CERTFLEET" notify add hxe --exec "$T/hx.sh" --kinds added >/dev/null
add hx >/dev/null
HX_EV=$(last_event)
fwd 120		# the mail is due a minute after its event
rx_got hxw "[$HX_EV]"
rx_got hxs "[$HX_EV]"
i=0
while { [ ! -s "$T/hx.env.cn" ] || [ ! -e "$T/hxm/1.json" ]; } && [ $i -lt 400 ]; do
	i=$((i + 1)); sleep 0.05
done
"$PYTHON" - "$T" <<'PYEOF' >"$T/hx.check"
import json, re, sys
t = sys.argv[1]
cn = bytes.fromhex(open(t + "/hx.cn.hex").read())
hidden = re.compile("[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f"
                    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad"
                    "\u2028\u2029]")
def out(what, ok):
    print(("pass " if ok else "FAIL ") + what)
wh = [json.loads(l) for l in open(t + "/hxw.log")]
w = [x for x in wh if x.get("kind") == "added"]
out("webhook: signed", bool(w) and w[0]["sig_ok"] is True)
out("webhook: the CN round-trips byte for byte",
    bool(w) and w[0]["body"]["data"]["common_name"].encode() == cn)
out("webhook: the raw body is one JSON document",
    bool(w) and isinstance(w[0]["body"], dict))
sl = [json.loads(l)["body"]["text"] for l in open(t + "/hxs.log")]
out("slack: a message came", len(sl) > 0)
out("slack: no '<' or '>' and no control or bidi character",
    all("<" not in x and ">" not in x and not hidden.search(x) for x in sl))
raw = open(t + "/hxm/1.eml", "rb").read()
head, _, body = raw.partition(b"\r\n\r\n")
lines = head.split(b"\r\n")
out("mail: header lines printable ASCII",
    all(all(0x20 <= c < 0x7f for c in l) for l in lines))
out("mail: no injected header", not any(l.lower().startswith(b"bcc:")
                                        for l in lines))
out("mail: CRLF line ends only", b"\n" not in raw.replace(b"\r\n", b""))
out("mail: body UTF-8 with no control or bidi character",
    not hidden.search(body.decode("utf-8").replace("\r\n", "")))
out("mail: body lines at most 998 bytes",
    all(len(l) <= 998 for l in body.split(b"\r\n")))
out("exec: CERTFLEET_COMMON_NAME byte for byte",
    open(t + "/hx.env.cn", "rb").read() == cn)
out("exec: stdin's JSON carries the CN byte for byte",
    json.load(open(t + "/hx.stdin"))["data"]["common_name"].encode() == cn)
PYEOF
while read -r verdict what; do
	if [ "$verdict" = pass ]; then pass; else fail "hostile names: $what"; fi
done <"$T/hx.check"
expect_eq "hostile names: every check ran" "$(wc -l <"$T/hx.check")" 12

finish
