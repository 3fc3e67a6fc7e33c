#!/bin/sh
# Audit findings (issue 13, first part) from real endpoints and real
# certificates: each item gets the codes its facts make and no others,
# in Track.Show's JSON and `track show`, and /metrics counts them by code
# and severity.  A clean endpoint has none.  long_validity needs a chain
# verified by the system store (a public CA), which no loopback test can
# have: the unit test covers it.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.1
NOW=$(date -u +%s)
DAY=86400

make_ca
make_leaf clean "/CN=clean.find.test" "DNS:clean.find.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_leaf leafonly "/CN=leafonly.find.test" "DNS:leafonly.find.test" \
    $((NOW - 3600)) $((NOW + 90 * DAY - 3600))
make_leaf expired "/CN=expired.find.test" "DNS:expired.find.test" \
    1577836800 1580515200
make_selfsigned self "/CN=self.find.test" "DNS:self.find.test" 90
# A 1024-bit RSA key and a SHA-1 signature, from the same CA (PEM items:
# a TLS server at Debian's security level refuses to load them).
ossl req -new -newkey rsa:1024 -nodes -keyout "$P/weak.key" -out "$P/weak.csr" \
    -subj "/CN=weak.find.test" -addext "subjectAltName=DNS:weak.find.test"
ossl ca -batch -config "$P/ca.cnf" -cert "$P/inter.pem" -keyfile "$P/inter.key" \
    -in "$P/weak.csr" -out "$P/weak.pem" -notext -days 80
ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$P/sha1.key" -out "$P/sha1.csr" -subj "/CN=sha1.find.test"
ossl ca -batch -config "$P/ca.cnf" -cert "$P/inter.pem" -keyfile "$P/inter.key" \
    -in "$P/sha1.csr" -out "$P/sha1.pem" -notext -days 80 -md sha1

VH="--vhost self.find.test=$P/self.chain.pem,$P/self.key"
# The leaf alone, its intermediate left out.
VH="$VH --vhost leafonly.find.test=$P/leafonly.pem,$P/leafonly.key"
# shellcheck disable=SC2086
must_start_server tls $A 0 --cert "$P/clean.chain.pem" --key "$P/clean.key" $VH
PORT=$SRV_PORT
must_start_server tls $A 0 --cert "$P/clean.chain.pem" --key "$P/clean.key"
GONE_PID=$SRV_PID GONE=$SRV_PORT

start_daemon --ca-file "$P/root.pem" --probe-timeout 3 \
    --http-listen "$A:$(free_port $A)"
HTTP=$(sed -n 's/.*http: serving \/metrics on //p' "$T/daemon.log" | head -1)

add_host() { "$CERTFLEET" --json track add --host "$A:$1" --sni "$2" | jq -r .id; }
add_pem() { "$CERTFLEET" --json track add --pem "$1" | jq -r .id; }
# codes ID: the item's finding codes, sorted, comma-joined.
codes() { "$CERTFLEET" --json track show "$1" | jq -r '[.findings[].code] | sort | join(",")'; }

CLEAN=$(add_host "$PORT" clean.find.test)
LEAF=$(add_host "$PORT" leafonly.find.test)
SELF=$(add_host "$PORT" self.find.test)
OTHER=$("$CERTFLEET" --json track import /dev/stdin <<EOT | jq -r .added
$A:$PORT other.find.test
EOT
)
expect_eq "a name the server has no certificate for: kept" "$OTHER" 1
MISMATCH=$("$CERTFLEET" --json track list | jq -r '.[] | select(.sni == "other.find.test") | .id')
GONE_ID=$(add_host "$GONE" clean.find.test)
WEAK=$(add_pem "$P/weak.pem")
SHA1=$(add_pem "$P/sha1.pem")
EXPIRED=$(add_pem "$P/expired.pem")

expect_eq "clean host: none" "$(codes "$CLEAN")" ""
expect_eq "leaf only: incomplete_chain" "$(codes "$LEAF")" "incomplete_chain"
expect_eq "self-signed host" "$(codes "$SELF")" "self_signed,untrusted_chain"
expect_eq "wrong name: hostname_mismatch" "$(codes "$MISMATCH")" "hostname_mismatch"
expect_eq "RSA 1024: weak_key" "$(codes "$WEAK")" "weak_key"
expect_eq "SHA-1: weak_signature" "$(codes "$SHA1")" "weak_signature"
expect_eq "expired PEM: expired" "$(codes "$EXPIRED")" "expired"
expect_eq "severity of expired" \
    "$("$CERTFLEET" --json track show "$EXPIRED" | jq -r '.findings[0].severity')" critical

# A host that stops answering: check_failing after three checks in a row.
stop_server "$GONE_PID"
for i in 1 2; do "$CERTFLEET" track check "$GONE_ID" >/dev/null 2>&1 || true; done
expect_eq "two failed checks: not yet" "$(codes "$GONE_ID")" ""
"$CERTFLEET" track check "$GONE_ID" >/dev/null 2>&1 || true
expect_eq "three failed checks: check_failing" "$(codes "$GONE_ID")" "check_failing"
# Deactivated, it is no longer judged by its checks.
"$CERTFLEET" track deactivate "$GONE_ID" >/dev/null
expect_eq "deactivated: no check finding" "$(codes "$GONE_ID")" ""

# The human view lists them, one a line.
run_cf track show "$WEAK"
expect_contains "track show: findings line" "$OUT" \
    "Findings                   high weak_key: RSA 1024 key (at least 2048 bits)"

# The check counts them with --findings: high is WARNING, critical CRITICAL.
run_cf check --item "$WEAK"
expect_eq "check without --findings: OK" "$RC" 0
run_cf check --item "$WEAK" --findings
expect_eq "check --findings, a high finding: WARNING" "$RC" 1
expect_contains "check --findings: the codes" "$OUT" "; findings: weak_key |"
run_cf check --item "$CLEAN" --findings
expect_eq "check --findings, a clean host: OK" "$RC" 0
run_cf check --all --findings
expect_eq "check --all --findings: UNKNOWN (item only)" "$RC" 3

# --- the report ------------------------------------------------------------------
# A CN a spreadsheet would run: self-signed, so it is in the report.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/f.key" -out "$T/formula.pem" -days 80 \
    -subj '/CN=@SUM(1;1)*cmd|" -x calc"!A0' 2>/dev/null
FORMULA=$(add_pem "$T/formula.pem")
TOTAL=$("$CERTFLEET" --json track list | jq '[.[].findings | length] | add')

run_cf audit --format json
expect_eq "audit json: exit" "$RC" 0
expect_eq "audit json: one finding row per finding of the items" \
    "$(jq '.findings | length' "$T/out")" "$TOTAL"
expect_eq "audit json: summary counts them" "$(jq '.summary.findings' "$T/out")" "$TOTAL"
expect_eq "audit json: rows are the items' findings" \
    "$(jq -c '[.findings[] | [.id, .code]] | sort' "$T/out")" \
    "$("$CERTFLEET" --json track list | jq -c '[.[] | .id as $i | .findings[] | [($i | tostring), .code]] | sort')"

run_cf audit --format csv
expect_eq "audit csv: exit" "$RC" 0
"$PYTHON" - "$T/out" "$T/csv.check" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
head, body = rows[0], rows[1:]
bad = [r for r in body for c in r if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
names = [r[4] for r in body if "SUM" in r[4]]
open(sys.argv[2], "w").write("%d %s %d %s\n" % (len(body), ",".join(head), len(bad), names[0] if names else "-"))
PY
expect_eq "audit csv: parsed back, no cell a spreadsheet would run" "$(cat "$T/csv.check")" \
    "$TOTAL SEVERITY,CODE,ID,SOURCE,NAME,NOT AFTER,DETAIL 0 '@SUM(1;1)*cmd|\" -x calc\"!A0"

run_cf audit --min-severity critical --format json
expect_eq "audit --min-severity critical: only the expired" \
    "$(jq -c '[.findings[].code] | unique' "$T/out")" '["expired"]'
run_cf audit --finding weak_key,weak_signature --format json
expect_eq "audit --finding: only those codes" \
    "$(jq -c '[.findings[].code] | sort' "$T/out")" '["weak_key","weak_signature"]'
run_cf audit --source host --format json
expect_eq "audit --source host: host items only" \
    "$(jq -c '[.findings[].source] | unique' "$T/out")" '["host"]'
run_cf audit
expect_eq "audit table: one row per finding, a header and a summary" \
    "$(wc -l <"$T/out" | tr -d ' ')" "$((TOTAL + 3))"
expect_contains "audit table: the summary" "$(tail -n 1 "$T/out")" \
    "with findings; $TOTAL findings:"

# Bad input: a clear error, nothing written.
run_cf audit --finding nosuch
expect_eq "audit --finding nosuch: usage error" "$RC" 2
expect_contains "audit --finding nosuch: says which" "$ERR" "unknown code 'nosuch'"
run_cf audit --format html
expect_eq "audit --format html: not yet" "$RC" 2
echo keep >"$T/report.csv"
run_cf audit --format csv --out "$T/report.csv"
expect_eq "audit --out an existing file: refused" "$RC" 2
expect_eq "audit --out: the file is untouched" "$(cat "$T/report.csv")" keep
run_cf audit --format csv --out "$T/report.csv" --force
expect_eq "audit --out --force: written" "$(head -1 "$T/report.csv" | tr -d '\r')" \
    '"SEVERITY","CODE","ID","SOURCE","NAME","NOT AFTER","DETAIL"'

# /metrics counts them by code and severity.
M=$(curl -s "http://$HTTP/metrics")
for want in 'code="weak_key",severity="high"} 1' \
    'code="weak_signature",severity="high"} 1' \
    'code="expired",severity="critical"} 1' \
    'code="incomplete_chain",severity="high"} 1' \
    'code="hostname_mismatch",severity="high"} 1' \
    'code="self_signed",severity="high"} 2'; do
	expect_contains "metrics: $want" "$M" "certfleet_findings{$want"
done
expect_eq "metrics: no check_failing for the deactivated host" \
    "$(printf '%s\n' "$M" | grep -c 'code="check_failing"')" 0

# --- hostile names through every output to other programs (PITFALLS) -------
# A CN holding ", }, <, =, a newline, C1 and bidi controls and long
# multibyte text, and an O trying a mail header: the Prometheus text and
# OpenMetrics, the audit's CSV, JSON and table, and the check's line,
# checked at byte level.
HOSTILE_CERT="$S/tests/integration/hostile_cert.py"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/hx.key" 2>/dev/null
HX_CN=$(printf 'a"}<=\n\302\233\342\200\256%s' "$(printf '%0300d' 0 | sed 's/0/中/g')" |
    od -An -tx1 | tr -d ' \n')
HX_O=$(printf '<!channel> &x\r\nBcc: v@x' | od -An -tx1 | tr -d ' \n')
"$PYTHON" "$HOSTILE_CERT" --key "$T/hx.key" --out "$T/hx.pem" \
    --subject "CN:utf8:$HX_CN" --subject "O:utf8:$HX_O" \
    --not-before $((NOW - 3600)) --not-after $((NOW + 80 * DAY))
printf '%s' "$HX_CN" >"$T/hx.cn.hex"
HX=$(add_pem "$T/hx.pem")
curl -s "http://$HTTP/metrics" >"$T/hx.prom"
curl -s -H 'Accept: application/openmetrics-text; version=1.0.0' \
    "http://$HTTP/metrics" >"$T/hx.om"
"$CERTFLEET" audit --format csv >"$T/hx.csv"
"$CERTFLEET" audit --format json >"$T/hx.json"
"$CERTFLEET" audit >"$T/hx.table"
"$CERTFLEET" check --item "$HX" >"$T/hx.check" || true
expect_eq "hostile: promtool check metrics" \
    "$(promtool check metrics <"$T/hx.prom" >/dev/null 2>&1; echo $?)" 0
"$PYTHON" - "$T" "$HX" <<'PYEOF' >"$T/hx.result"
import csv, io, json, re, sys
t, hx = sys.argv[1], sys.argv[2]
cn = bytes.fromhex(open(t + "/hx.cn.hex").read()).decode()
# How every output for people and for text formats shows it (esc_log).
shown = 'a"}<=\\x0a\\x9b\\u202e' + "\u4e2d" * 300
hidden = re.compile("[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c"
                    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
out = []
def check(what, ok):
    out.append(("ok" if ok else "BAD") + " " + what)
def text(name, allow_cr=False):
    raw = open(t + "/" + name, "rb").read()
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        check(name + ": valid UTF-8 (%s)" % e, False)
        return ""
    bad = hidden.findall(s.replace("\r\n", "") if allow_cr else s)
    check(name + ": no control, C1 or bidi character %r" % bad[:3], not bad)
    return s
def unlabel(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)
for name in ("hx.prom", "hx.om"):
    s = text(name)
    lines = s.split("\n")
    stray = [l for l in lines if l and not l.startswith(("#", "certfleet_", "process_"))]
    check(name + ": every line a comment or one of ours %r" % stray[:1], not stray)
    pat = re.compile(r'^certfleet_cert_not_after_timestamp_seconds\{id="%s",'
                     r'source="pem",host="",port="",sni="",cn="((?:[^"\\]|\\.)*)",'
                     r'issuer="((?:[^"\\]|\\.)*)",serial="[0-9A-F]+"\} [0-9]+$' % hx)
    m = [pat.match(l) for l in lines if l.startswith("certfleet_cert_not_after")]
    m = [x for x in m if x]
    check(name + ": the item's series parses, one", len(m) == 1)
    if m:
        check(name + ": cn label decodes to the escaped name",
              unlabel(m[0].group(1)) == shown)
        check(name + ": issuer label (self-signed: the CN) too",
              unlabel(m[0].group(2)) == shown)
    check(name + ": OpenMetrics ends with # EOF" if name == "hx.om" else
          name + ": no # EOF", s.endswith("# EOF\n") == (name == "hx.om"))
s = text("hx.csv", allow_cr=True)
raw = open(t + "/hx.csv", "rb").read()
check("hx.csv: every record ends CRLF, no bare CR or LF",
      raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n") ==
      raw.count(b"\r"))
rows = [r for r in csv.reader(io.StringIO(s, newline="")) if r[2:3] == [hx]]
check("hx.csv: the item's finding rows", len(rows) >= 1)
for r in rows:
    check("hx.csv: NAME is the escaped name, whole", r[4] == shown)
    check("hx.csv: DETAIL on one line, the name escaped",
          r[6].startswith("issued by itself (") and "\\u202e" in r[6]
          and "\n" not in r[6] and "\r" not in r[6])
raw = open(t + "/hx.json", "rb").read()
check("hx.json: ASCII only", all(b < 0x7f and (b >= 0x20 or b in b"\n") for b in raw))
doc = json.loads(raw)
rows = [r for r in doc["findings"] if r["id"] == hx]
check("hx.json: the item's rows", len(rows) >= 1)
for r in rows:
    check("hx.json: name is the CN byte for byte", r["name"] == cn)
s = text("hx.table")
check("hx.table: the escaped name in its row", ("  " + shown[:40]) in s)
s = text("hx.check")
check("hx.check: one line", s.count("\n") == 1 and s.endswith("\n"))
check("hx.check: one perfdata separator", s.count("|") == 1)
check("hx.check: starts with the escaped name",
      s.startswith("CERTFLEET OK - " + shown[:30]) or
      s.startswith("CERTFLEET WARNING - " + shown[:30]))
print("\n".join(out))
PYEOF
while read -r verdict what; do
	if [ "$verdict" = ok ]; then pass; else fail "$what"; fi
done <"$T/hx.result"
# Two metrics formats x 6, CSV 5 (one finding row: self_signed), JSON 3,
# table 2, check 4: a check that did not run is a failure too.
HX_CHECKS=26
expect_eq "hostile: every byte-level check ran" "$(grep -c '' "$T/hx.result")" \
    "$HX_CHECKS"

finish
