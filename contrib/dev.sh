#!/bin/sh
# certfleet developer entry point.
#
#   contrib/dev.sh run    install Debian deps if missing, build, and start
#                         certfleetd in the foreground with state in ./var
#   contrib/dev.sh test   install, build, then every test: make check, the
#                         same under ASan/UBSan, valgrind, the fuzzers for a
#                         bounded time, and make distcheck.  Ends with the
#                         line "N passed, N failed".
#   contrib/dev.sh build  install and build only
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

BUILD_DEPS="build-essential autoconf automake libtool pkg-config
libevent-dev libssl-dev libcurl4-openssl-dev libc-ares-dev libsqlite3-dev
libmsgpack-dev libjansson-dev libinih-dev libcmocka-dev libknot-dev"
TEST_DEPS="openssl jq python3 valgrind clang libclang-rt-14-dev sqlite3
bind9-dnsutils knot-dnsutils pebble unbound knot python3-aiosmtpd curl nginx-light prometheus"

log() { printf '==> %s\n' "$*" >&2; }

install_deps() {
	missing=
	for p in $BUILD_DEPS ${1:-}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		    missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	log "installing Debian packages:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "dev.sh: need root to install:$missing" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# The packages' own services (prometheus on *:9090, nginx, unbound,
	# knot) must not start on any address: tests start their own, on
	# loopback, and stop them by PID.
	own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	return 0
}

# build DIR [configure args...]: configures once, then builds.
build() {
	dir=$1; shift
	[ -x configure ] || { log "autoreconf"; autoreconf -fi >/dev/null; }
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		log "configure $dir $*"
		(cd "$dir" && "$ROOT/configure" "$@" >configure.out) ||
		    { cat "$dir/configure.out" "$dir/config.log" | tail -30; exit 1; }
	fi
	log "make $dir"
	make -s -C "$dir" -j"$JOBS" >/dev/null
}

PASSED=0
FAILED=0
tally() {	# tally NAME STATUS
	if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); else
		FAILED=$((FAILED + 1)); echo "FAILED: $1"; fi
}

# check_dir DIR: make check; adds its PASS/FAIL counts.
check_dir() {
	dir=$1
	rc=0
	make -C "$dir" -j"$JOBS" check >"$dir/check.out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):' "$dir/check.out" | sed "s|^|  [$dir] |"
	p=$(sed -n 's/^# PASS: *//p' "$dir/check.out" | tail -1)
	f=$(sed -n 's/^# FAIL: *//p' "$dir/check.out" | tail -1)
	e=$(sed -n 's/^# ERROR: *//p' "$dir/check.out" | tail -1)
	PASSED=$((PASSED + ${p:-0}))
	FAILED=$((FAILED + ${f:-0} + ${e:-0}))
	if [ "$rc" -ne 0 ]; then
		[ -n "$p$f$e" ] || FAILED=$((FAILED + 1))
		for l in $(find "$dir/tests" -name '*.log' 2>/dev/null); do
			if grep -qE '^(FAIL|ERROR)' "${l%.log}.trs" 2>/dev/null; then
				echo "--- $l"; tail -40 "$l"
			fi
		done
		tail -20 "$dir/check.out"
	fi
}

run_valgrind() {
	log "valgrind: unit tests"
	for t in test_wire test_x509 test_store test_config test_schedule \
	    test_keystore test_techzone test_acme test_dns test_cert test_tlslib \
	    test_escape test_expiry test_proc test_notify test_metrics \
	    test_check test_findings; do
		rc=0
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		    --error-exitcode=99 build/tests/unit/$t >build/valgrind-$t.out 2>&1 || rc=$?
		[ $rc -eq 0 ] || tail -30 build/valgrind-$t.out
		tally "valgrind $t" $rc
	done
	for t in daemon_life host_schedule acme_issue expiry_events check; do
		log "valgrind: certfleetd under tests/integration/$t.sh"
		rc=0
		CF_DAEMON_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
		    CF_BUILDDIR="$ROOT/build" CF_SRCDIR="$ROOT" \
		    sh tests/integration/$t.sh >build/valgrind-$t.out 2>&1 || rc=$?
		[ $rc -eq 0 ] || tail -40 build/valgrind-$t.out
		tally "valgrind certfleetd ($t)" $rc
	done
	log "valgrind: techzone_serve under tests/integration/techzone_dig.sh"
	rc=0
	CF_DAEMON_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	    CF_BUILDDIR="$ROOT/build" CF_SRCDIR="$ROOT" \
	    sh tests/integration/techzone_dig.sh >build/valgrind-techzone_dig.out 2>&1 || rc=$?
	[ $rc -eq 0 ] || tail -40 build/valgrind-techzone_dig.out
	tally "valgrind techzone_serve (techzone_dig)" $rc
}

run_fuzzers() {
	log "fuzz build (clang, libFuzzer + ASan/UBSan)"
	# fuzzer-no-link gives the libraries' code coverage feedback too; without
	# it libFuzzer sees only the target file's own few edges.
	build build-fuzz CC=clang --enable-fuzzing --disable-unit-tests \
	    CFLAGS="-g -O1 -fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined"
	make -s -C build-fuzz -j"$JOBS" tests/fuzz/fuzz_frame tests/fuzz/fuzz_pem \
	    tests/fuzz/fuzz_target tests/fuzz/fuzz_techzone tests/fuzz/fuzz_acme \
	    tests/fuzz/fuzz_cname tests/fuzz/fuzz_esc_term tests/fuzz/fuzz_esc_log \
	    tests/fuzz/fuzz_esc_utf8 tests/fuzz/fuzz_esc_mail >/dev/null
	for t in frame pem target techzone acme cname esc_term esc_log esc_utf8 esc_mail; do
		work=build-fuzz/corpus-$t
		mkdir -p "$work"
		cp -f tests/fuzz/corpus/$t/* "$work/"
		log "fuzz $t for ${FUZZ_SECONDS}s"
		rc=0
		build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$FUZZ_SECONDS" \
		    -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
		    -artifact_prefix=build-fuzz/crash-$t- "$work" \
		    >build-fuzz/fuzz-$t.out 2>&1 || rc=$?
		grep -E 'stat::number_of_executed_units|stat::peak_rss' build-fuzz/fuzz-$t.out |
		    sed "s|^|  fuzz $t |" || true
		[ $rc -eq 0 ] || tail -40 build-fuzz/fuzz-$t.out
		tally "fuzz $t" $rc
	done
}

cmd_test() {
	install_deps "$TEST_DEPS"
	build build
	log "make check"
	check_dir build
	log "sanitizer build (ASan + UBSan)"
	build build-asan CFLAGS="-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"
	log "make check under ASan/UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    check_dir build-asan
	run_valgrind
	run_fuzzers
	log "make distcheck"
	rc=0
	make -C build distcheck >build/distcheck.out 2>&1 || rc=$?
	[ $rc -eq 0 ] || tail -40 build/distcheck.out
	tally "make distcheck" $rc
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

cmd_run() {
	install_deps
	build build
	mkdir -p "$ROOT/var"
	sock="$ROOT/var/certfleet.sock"
	cat <<EOT
certfleetd starting in the foreground (Ctrl-C stops it); state in $ROOT/var
In another shell:
  export CERTFLEET_SOCKET=$sock
  $ROOT/build/certfleet status
EOT
	exec "$ROOT/build/certfleetd" --state-dir "$ROOT/var" --socket "$sock"
}

case "${1:-}" in
run) cmd_run ;;
test) cmd_test ;;
build) install_deps; build build ;;
*) echo "usage: contrib/dev.sh run|test|build" >&2; exit 2 ;;
esac
