#!/bin/sh
# The monitoring contrib files: the Prometheus alerting rules pass
# `promtool check rules` and their unit tests pass `promtool test rules`
# (and a copy with a wrong threshold fails them); the Grafana dashboard is
# valid JSON whose queries parse as PromQL and name only metrics certfleetd
# exports; the Icinga 2 CheckCommand has every argument of `certfleet check`.
#
# Needs promtool (Prometheus 2.x) and jq: without them the test FAILS.
# Prints one line per check, "ok - ..." or "not ok - ...", and exits 1 if
# any check failed.

set -u

S=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${CF_BUILDDIR:-$(pwd)}
RULES="$S/contrib/prometheus/certfleet.rules.yml"
RTESTS="$S/contrib/prometheus/certfleet.rules.test.yml"
DASH="$S/contrib/grafana/certfleet-dashboard.json"
ICINGA="$S/contrib/icinga2/certfleet-check.conf"

T=$(mktemp -d "${TMPDIR:-/tmp}/cf-prom.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

FAILS=0
ok() { echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
# show FILE: a failing check's output, as comments
show() { sed 's/^/#   /' "$1"; }

# The metrics certfleetd exports (the /metrics contract).  Histograms are
# listed apart: only their _bucket, _sum and _count series exist.
CONTRACT_PLAIN='
certfleet_cert_not_after_timestamp_seconds
certfleet_cert_not_before_timestamp_seconds
certfleet_cert_chain_valid
certfleet_cert_hostname_match
certfleet_check_success
certfleet_check_timestamp_seconds
certfleet_cert_renewal_overdue
certfleet_managed_cert_status
certfleet_managed_cert_failures
certfleet_deploy_success
certfleet_deploy_timestamp_seconds
certfleet_certificates
certfleet_certificates_expiring
certfleet_metrics_items_omitted
certfleet_probes_total
certfleet_probes_in_flight
certfleet_probe_queue_depth
certfleet_acme_orders_total
certfleet_acme_requests_total
certfleet_acme_rate_limited_total
certfleet_techzone_queries_total
certfleet_techzone_rrl_dropped_total
certfleet_rpc_requests_total
certfleet_store_size_bytes
certfleet_notify_deliveries_total
certfleet_notify_outbox_pending
certfleet_build_info
process_cpu_seconds_total
process_open_fds
process_max_fds
process_virtual_memory_bytes
process_virtual_memory_max_bytes
process_resident_memory_bytes
process_start_time_seconds
up
'
CONTRACT_HIST='
certfleet_cert_expiry_seconds
certfleet_probe_duration_seconds
certfleet_acme_request_duration_seconds
certfleet_rpc_duration_seconds
certfleet_loop_lag_seconds
certfleet_store_commit_duration_seconds
'
{
	for m in $CONTRACT_PLAIN; do echo "$m"; done
	for h in $CONTRACT_HIST; do
		echo "${h}_bucket"; echo "${h}_sum"; echo "${h}_count"
	done
} | sort -u >"$T/contract"

# metric_names: PromQL expressions on stdin, one a line; prints the metric
# names they select, one a line.  Drops strings, label matchers, ranges,
# dashboard variables, by/on/... label lists, function and aggregation
# names (a word before "("), keywords and numbers.
metric_names() {
	sed -E \
	    -e 's/"([^"\\]|\\.)*"//g' \
	    -e "s/'([^'\\\\]|\\\\.)*'//g" \
	    -e 's/label_values\(([^,)]*),[^)]*\)/\1/g' \
	    -e 's/\$\{[^}]*\}//g' \
	    -e 's/\$[A-Za-z_][A-Za-z0-9_]*//g' \
	    -e 's/\{[^}]*\}/ /g' \
	    -e 's/\[[^]]*\]/ /g' \
	    -e 's/(^|[^A-Za-z0-9_:])(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)/\1 /g' \
	    -e 's/[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\(/ (/g' |
	tr -c 'A-Za-z0-9_:' '\n' |
	grep -E '^[A-Za-z_:]' |
	grep -vxE 'and|or|unless|bool|offset|atan2|by|without|on|ignoring|group_left|group_right|[Ii]nf|[Nn]a[Nn]' |
	sort -u
}

# not_in_contract: names on stdin that the contract does not have.
not_in_contract() {
	sort -u | comm -23 - "$T/contract"
}

# ------------------------------------------------------------ prerequisites
HAVE_PROMTOOL=1
if command -v promtool >/dev/null 2>&1; then
	ok "promtool found: $(promtool --version 2>&1 | sed -n '1s/^promtool, //p')"
else
	HAVE_PROMTOOL=0
	not_ok "promtool not found in PATH: these tests need Prometheus' promtool (Debian: apt-get install prometheus); not skipping"
fi
HAVE_JQ=1
if command -v jq >/dev/null 2>&1; then
	ok "jq found"
else
	HAVE_JQ=0
	not_ok "jq not found in PATH: needed to check the Grafana dashboard (Debian: apt-get install jq)"
fi
for f in "$RULES" "$RTESTS" "$DASH" "$ICINGA"; do
	if [ -r "$f" ]; then :; else not_ok "missing file $f"; fi
done

# ----------------------------------------------------------- alerting rules
ALERTS=$(sed -n 's/^[[:space:]]*-[[:space:]]*alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "$RULES" | sort -u)
WANT_ALERTS='CertfleetCertExpiringSoon CertfleetCertExpiringCritical CertfleetCertExpired
CertfleetChainInvalid CertfleetHostnameMismatch CertfleetHostCheckFailing
CertfleetRenewalFailing CertfleetDeployFailing CertfleetDown CertfleetLoopLagHigh'
missing=
for a in $WANT_ALERTS; do
	echo "$ALERTS" | grep -qx "$a" || missing="$missing $a"
done
if [ -z "$missing" ]; then
	ok "rules file defines all $(echo "$WANT_ALERTS" | wc -w | tr -d ' ') alerts"
else
	not_ok "rules file lacks:$missing"
fi

nrules=$(grep -c '^[[:space:]]*-[[:space:]]*alert:' "$RULES")
nsev=$(grep -cE '^[[:space:]]*severity:[[:space:]]*(warning|critical)[[:space:]]*$' "$RULES")
nsum=$(grep -c '^[[:space:]]*summary:' "$RULES")
ndesc=$(grep -c '^[[:space:]]*description:' "$RULES")
if [ "$nrules" -gt 0 ] && [ "$nsev" = "$nrules" ] && [ "$nsum" = "$nrules" ] && [ "$ndesc" = "$nrules" ]; then
	ok "each of the $nrules rules has a severity (warning|critical), a summary and a description"
else
	not_ok "rules $nrules, severity labels $nsev, summaries $nsum, descriptions $ndesc"
fi

bad=$(cat "$RULES" "$RTESTS" | tr -c 'A-Za-z0-9_:' '\n' | grep '^certfleet_' | not_in_contract)
if [ -z "$bad" ]; then
	ok "rules and their test series use only metric names of the contract"
else
	not_ok "metric names not in the contract, in the rules or their tests: $(echo $bad)"
fi

# Every alert has a unit test case where it fires and one where it must not
# (an explicit "exp_alerts: []").
awk '
	/^[[:space:]]*alertname:/ { name = $2; next }
	/^[[:space:]]*exp_alerts:[[:space:]]*\[\][[:space:]]*$/ { if (name != "") quiet[name] = 1; name = ""; next }
	/^[[:space:]]*exp_alerts:[[:space:]]*$/ { if (name != "") fires[name] = 1; name = ""; next }
	END { for (n in fires) print n " fires"; for (n in quiet) print n " quiet" }
' "$RTESTS" | sort >"$T/cases"
missing=
for a in $ALERTS; do
	grep -qx "$a fires" "$T/cases" || missing="$missing $a(fires)"
	grep -qx "$a quiet" "$T/cases" || missing="$missing $a(must-not-fire)"
done
if [ -n "$ALERTS" ] && [ -z "$missing" ]; then
	ok "every alert has a firing and a must-not-fire unit test case"
else
	not_ok "unit test cases missing for:$missing"
fi

if [ $HAVE_PROMTOOL = 1 ]; then
	if promtool check rules "$RULES" >"$T/out" 2>&1; then
		ok "promtool check rules certfleet.rules.yml ($(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$T/out") rules)"
	else
		not_ok "promtool check rules certfleet.rules.yml"; show "$T/out"
	fi
	if promtool test rules "$RTESTS" >"$T/out" 2>&1; then
		ok "promtool test rules certfleet.rules.test.yml"
	else
		not_ok "promtool test rules certfleet.rules.test.yml"; show "$T/out"
	fi

	# mutant NAME SED-SCRIPT: a copy of the rules with one change must still
	# be a valid rules file but fail the unit tests.
	mutant() {
		rm -rf "$T/m"; mkdir "$T/m"
		cp "$RTESTS" "$T/m/"
		sed "$2" "$RULES" >"$T/m/certfleet.rules.yml"
		if cmp -s "$RULES" "$T/m/certfleet.rules.yml"; then
			not_ok "mutant ($1): the edit did not apply to the rules file"
		elif ! promtool check rules "$T/m/certfleet.rules.yml" >"$T/out" 2>&1; then
			not_ok "mutant ($1): the edited rules file is not valid"; show "$T/out"
		elif promtool test rules "$T/m/certfleet.rules.test.yml" >"$T/out" 2>&1; then
			not_ok "mutant ($1): promtool test rules still passes, the tests miss it"
		else
			ok "mutant ($1) fails promtool test rules: $(grep -o 'alertname: [A-Za-z]*, time: [0-9a-z]*' "$T/out" | head -n 1)"
		fi
	}
	mutant "ExpiringSoon threshold 14d -> 21d" 's/14 \* 86400/21 * 86400/'
	mutant "ExpiringCritical at lifetime/3 instead of /6" 's|) / 6, 3 \* 86400)|) / 3, 3 * 86400)|'
	mutant "expiring rules without the time-left > 0 guard" 's/- time() > 0)/- time() > -86400)/'
	mutant "Expired with > instead of >=" 's/^\(        expr: time() - certfleet_cert_not_after_timestamp_seconds\) >= 0/\1 > 0/'
fi

# ---------------------------------------------------------------- dashboard
if [ $HAVE_JQ = 1 ]; then
	if jq . "$DASH" >/dev/null 2>"$T/out"; then
		ok "dashboard is valid JSON"
	else
		not_ok "dashboard is not valid JSON"; show "$T/out"
	fi

	# Every expression: panel targets at any depth (rows too) and the
	# templating variables' queries.
	jq -r '
		[ (.. | objects | select(has("expr")) | .expr | strings),
		  (.templating.list[]? | .query | if type == "object" then .query else . end | strings) ]
		| .[] | gsub("\n"; " ")' "$DASH" >"$T/exprs" 2>"$T/out"
	nexpr=$(wc -l <"$T/exprs" | tr -d ' ')

	if jq -e '
		(.schemaVersion | type == "number" and . >= 36)
		and ([.__inputs[]? | select(.name == "DS_PROMETHEUS" and .pluginId == "prometheus")] | length == 1)
		and ([.. | objects | select(has("datasource")) | .datasource
		      | select(type == "object" and .type == "prometheus") | .uid]
		     | length > 0 and all(. == "${DS_PROMETHEUS}"))
		and ([.. | objects | select(has("gridPos")) | .id] | length == (unique | length))
		and ([.panels[] | select(.type != "row") | select(([.targets[]?.expr] | length) == 0)] | length == 0)
	' "$DASH" >/dev/null 2>&1; then
		ok "dashboard: schemaVersion >= 36, \${DS_PROMETHEUS} input and datasources, unique panel ids, every panel has a query"
	else
		not_ok "dashboard structure (schemaVersion, \${DS_PROMETHEUS}, panel ids, queries)"
	fi

	metric_names <"$T/exprs" >"$T/names"
	bad=$(not_in_contract <"$T/names")
	if [ "$nexpr" -gt 0 ] && [ -s "$T/names" ] && [ -z "$bad" ]; then
		ok "dashboard: the $nexpr queries use only contract metrics ($(wc -l <"$T/names" | tr -d ' ') names)"
	else
		not_ok "dashboard queries name metrics not in the contract: [$(echo $bad)] ($nexpr queries found)"
	fi
	# The name check itself must be able to fail.
	probe=$(printf '%s\n' 'sum by (result) (rate(certfleet_probe_total{job="certfleet"}[5m])) / on (instance) group_left (version) certfleet_build_info' |
	    metric_names | not_in_contract)
	if [ "$probe" = certfleet_probe_total ]; then
		ok "the contract check rejects a misspelt name (certfleet_probe_total) and nothing else"
	else
		not_ok "the contract check on a misspelt name gave [$(echo $probe)]"
	fi

	missing=
	for m in certfleet_cert_not_after_timestamp_seconds certfleet_cert_expiry_seconds_bucket \
	    certfleet_certificates certfleet_probes_total certfleet_probe_duration_seconds_bucket \
	    certfleet_acme_orders_total certfleet_acme_requests_total certfleet_acme_rate_limited_total \
	    certfleet_loop_lag_seconds_bucket certfleet_rpc_requests_total certfleet_rpc_duration_seconds_bucket; do
		grep -qx "$m" "$T/names" || missing="$missing $m"
	done
	if [ -z "$missing" ]; then
		ok "dashboard: expiry table, expiry histogram, states, probes, ACME, loop lag and RPC panels present"
	else
		not_ok "dashboard has no query on:$missing"
	fi
	if jq -e '[.panels[] | select(.type == "table") | .targets[]?.expr
	           | select(test("sort\\(\\s*\\(\\s*certfleet_cert_not_after_timestamp_seconds[^)]*-\\s*time\\(\\)\\s*\\)\\s*/\\s*86400\\s*\\)"))]
	          | length >= 1' "$DASH" >/dev/null 2>&1; then
		ok "dashboard: expiry table shows days left = (not_after - time()) / 86400, ascending"
	else
		not_ok "dashboard: no table with sort((certfleet_cert_not_after_timestamp_seconds - time()) / 86400)"
	fi

	# Each query parses as PromQL: promtool checks them as recording rules,
	# with Grafana's variables replaced by plain values.
	if [ $HAVE_PROMTOOL = 1 ]; then
		sed -e 's/\$__rate_interval/5m/g' -e 's/\$__interval/1m/g' -e 's/\$__range/1h/g' \
		    -e 's/\$instance/.*/g' -e 's/label_values(\([^,)]*\),[^)]*)/\1/' "$T/exprs" |
		jq -R -r 'select(length > 0) | "      - record: dashboard:query\n        expr: \(@json)"' >"$T/r"
		{ echo 'groups:'; echo '  - name: dashboard'; echo '    rules:'; cat "$T/r"; } >"$T/dash.rules.yml"
		if [ "$nexpr" -gt 0 ] && promtool check rules --lint=none "$T/dash.rules.yml" >"$T/out" 2>&1; then
			ok "dashboard: all $nexpr queries parse as PromQL (promtool)"
		else
			not_ok "dashboard: a query does not parse as PromQL"; show "$T/out"
		fi
	fi
fi

# ------------------------------------------------------------------- icinga2
missing=
grep -q '^object CheckCommand "certfleet"' "$ICINGA" || missing="$missing object-CheckCommand"
grep -q 'command = \[ "[^"]*", "check" \]' "$ICINGA" || missing="$missing command"
for a in --item --cert --host --sni -w -c --socket; do
	grep -q "^[[:space:]]*\"$a\" = {" "$ICINGA" || missing="$missing $a"
done
for a in --all --findings --verbose; do
	sed -n "/^[[:space:]]*\"$a\" = {/,/}/p" "$ICINGA" | grep -q 'set_if' || missing="$missing $a(set_if)"
done
for v in item cert host sni all warning critical findings verbose socket; do
	grep -q "\\\$certfleet_$v\\\$" "$ICINGA" || missing="$missing \$certfleet_$v\$"
done
open=$(sed 's|//.*||' "$ICINGA" | tr -cd '{' | wc -c)
close=$(sed 's|//.*||' "$ICINGA" | tr -cd '}' | wc -c)
[ "$open" = "$close" ] || missing="$missing braces($open/$close)"
grep -q '^ \* apply Service' "$ICINGA" || missing="$missing example-apply-Service"
if [ -z "$missing" ]; then
	ok "icinga2 CheckCommand \"certfleet\": all arguments and custom vars, example apply Service"
else
	not_ok "icinga2 CheckCommand lacks:$missing"
fi

# The arguments against the client's own help, once `certfleet check` exists.
CF=
for c in "$B/certfleet" "$S/build/certfleet"; do
	[ -x "$c" ] && { CF=$c; break; }
done
if [ -n "$CF" ] && "$CF" check --help >"$T/help" 2>&1; then
	missing=
	for a in --item --cert --host --sni --all -w -c --findings --verbose --socket; do
		grep -qE -- "(^|[^-[:alnum:]])$a([^-[:alnum:]]|\$)" "$T/help" || missing="$missing $a"
	done
	if [ -z "$missing" ]; then
		ok "every icinga2 argument is in certfleet check --help"
	else
		not_ok "certfleet check --help does not mention:$missing"
	fi
else
	not_ok "no built certfleet client with a check command to compare the icinga2 arguments with"
fi

if [ $FAILS -ne 0 ]; then
	echo "# $FAILS check(s) failed"
	exit 1
fi
exit 0
