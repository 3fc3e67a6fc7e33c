#!/bin/sh
# Deploy targets, for real: an imported certificate's files land in a
# directory with certbot's names, owners and modes, written atomically; the
# reload runs with certbot's and certfleet's variables (a certbot-style
# hook reading only RENEWED_LINEAGE and RENEWED_DOMAINS works); bad targets
# are refused with nothing stored; a full disk leaves the previous files; a
# failing or hanging reload is recorded,
# killed with its process group and retried; a symlinked file is refused
# and the previous files stay; SIGKILL inside a slow reload leaves one
# consistent version, deployed again after the restart.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -subj "/CN=$1.example" \
	    -addext "subjectAltName=DNS:$1.example,DNS:www.$1.example" \
	    -days 90 2>/dev/null
}
mkcert dep
start_daemon --test-hooks yes
ID=$("$CERTFLEET" --json cert import --cert "$T/dep.pem" --key "$T/dep.key" | jq .id)
D="$T/www"
mkdir -p "$D"
chmod 755 "$D"
# A certbot deploy hook: it knows nothing of certfleet.
cat >"$T/certbot-hook.sh" <<HOOK
#!/bin/sh
echo "\$RENEWED_LINEAGE|\$RENEWED_DOMAINS|\$CERTFLEET_CERT_ID|\$CERTFLEET_KEY_PATH" >"$T/hook.out"
HOOK
chmod +x "$T/certbot-hook.sh"

count() { "$CERTFLEET" --json events --kinds "$1" --limit 1000 | jq length; }

# --- bad targets: a clear error, nothing stored -------------------------------
bad() {	# bad WHAT WANT-IN-ERR ARGS...
	what=$1 want=$2; shift 2
	run_cf cert deploy add "$ID" "$@"
	expect_eq "$what: refused" "$RC" 1
	expect_contains "$what: says why" "$ERR" "$want"
	expect_eq "$what: nothing stored" "$("$CERTFLEET" --json cert deploy list "$ID" | jq length)" 0
}
bad "relative dir made absolute, missing" "No such file" --dir "nope/nope"
bad "missing dir" "No such file" --dir "$T/missing"
ln -s "$D" "$T/link"
bad "symlinked dir" "symbolic link" --dir "$T/link"
mkdir -p "$T/open" && chmod 777 "$T/open"
bad "world-writable dir" "writable by others" --dir "$T/open"
bad "key readable by others" "let others read the key" --dir "$D" --key-mode 0644
bad "no such user" "no user" --dir "$D" --owner nosuchuser9
bad "no such group" "no group" --dir "$D" --owner root:nosuchgroup9
run_cf cert deploy add "$ID" --dir "$D" --timeout 99999
expect_eq "timeout out of range: usage" "$RC" 2
run_cf cert deploy remove "$ID" 77
expect_eq "unknown target" "$RC" 1

# --- a deploy: names, owner, modes, the hook ------------------------------------
run_cf --json cert deploy add "$ID" --dir "$D" --owner nobody:nogroup \
    --key-mode 0640 --combined --reload "$T/certbot-hook.sh"
expect_eq "add" "$RC" 0
TGT=$(printf '%s\n' "$OUT" | jq .id)
run_cf --json cert deploy run "$ID"
expect_eq "run" "$RC" 0
expect_eq "run: ok" "$(printf '%s\n' "$OUT" | jq -r '.[0].state')" ok
for f in cert.pem chain.pem fullchain.pem; do
	expect_eq "$f: owner and mode" "$(stat -c '%U:%G %a' "$D/$f")" "nobody:nogroup 644"
done
expect_eq "privkey.pem: owner and mode" "$(stat -c '%U:%G %a' "$D/privkey.pem")" "nobody:nogroup 640"
expect_eq "combined.pem: mode" "$(stat -c '%a' "$D/combined.pem")" 640
expect_eq "cert.pem is the certificate" "$(openssl x509 -in "$D/cert.pem" -noout -fingerprint -sha256)" \
    "$(openssl x509 -in "$T/dep.pem" -noout -fingerprint -sha256)"
expect_eq "the key matches" "$(openssl pkey -in "$D/privkey.pem" -pubout | sha256sum)" \
    "$(openssl x509 -in "$T/dep.pem" -noout -pubkey | sha256sum)"
expect_eq "combined: key then certificate" "$(grep -c 'BEGIN' "$D/combined.pem")" 2
expect_eq "no temporary files left" "$(ls -A "$D" | grep -c certfleet || true)" 0
expect_eq "certbot hook" "$(cat "$T/hook.out")" \
    "$D|dep.example www.dep.example|$ID|$D/privkey.pem"
expect_eq "deploy_ok events" "$(count deploy_ok)" 2	# at add, and the run

# --- a reload that fails, then one that hangs: recorded, retried ----------------
"$CERTFLEET" cert deploy remove "$ID" "$TGT" >/dev/null
run_cf --json cert deploy add "$ID" --dir "$D" --reload 'echo broken >&2; exit 1'
T2=$(printf '%s\n' "$OUT" | jq .id)
run_cf --json cert deploy run "$ID"
expect_eq "failing reload: the command fails" "$RC" 1
expect_eq "failing reload: failed" "$(printf '%s\n' "$OUT" | jq -r '.[0].state')" failed
expect_contains "failing reload: says why" "$(printf '%s\n' "$OUT" | jq -r '.[0].last_error')" \
    "exited with status 1; it said: broken"
expect_eq "failing reload: retried later" "$(printf '%s\n' "$OUT" | jq '.[0].next_attempt_at != null')" true
run_cf --json events --kinds deploy_failed --limit 1
expect_eq "deploy_failed event" "$(printf '%s\n' "$OUT" | jq -r '.[0].data.dir')" "$D"
"$CERTFLEET" cert deploy remove "$ID" "$T2" >/dev/null
run_cf --json cert deploy add "$ID" --dir "$D" --timeout 1 \
    --reload "sleep 30 & echo \$! >$T/child.pid; wait"
T3=$(printf '%s\n' "$OUT" | jq .id)
run_cf --json cert deploy run "$ID"
expect_eq "hanging reload: failed" "$(printf '%s\n' "$OUT" | jq -r '.[0].state')" failed
expect_contains "hanging reload: timed out" "$(printf '%s\n' "$OUT" | jq -r '.[0].last_error')" "timed out"
if kill -0 "$(cat "$T/child.pid")" 2>/dev/null; then fail "hanging reload: its child survived"
else pass; fi
"$CERTFLEET" cert deploy remove "$ID" "$T3" >/dev/null

# --- an existing file that is a symbolic link: refused, old files stay ----------
cp "$D/cert.pem" "$T/cert.before"
mv "$D/chain.pem" "$T/chain.saved"
ln -s /etc/passwd "$D/chain.pem"
run_cf --json cert deploy add "$ID" --dir "$D"
run_cf --json cert deploy run "$ID"
expect_contains "symlinked file: refused" "$(printf '%s\n' "$OUT" | jq -r '.[0].last_error')" \
    "not a regular file"
expect_eq "symlinked file: /etc/passwd untouched" "$(head -c 5 /etc/passwd)" "root:"
expect_eq "symlinked file: cert.pem as before" "$(cmp -s "$D/cert.pem" "$T/cert.before" && echo same)" same
rm "$D/chain.pem"
mv "$T/chain.saved" "$D/chain.pem"
T4=$(printf '%s\n' "$OUT" | jq .[0].id)
"$CERTFLEET" cert deploy remove "$ID" "$T4" >/dev/null

# --- a full disk: the previous files stay, the target is failed -----------------
FULL="$T/full"
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k,mode=755 tmpfs "$FULL" 2>/dev/null; then
	trap 'umount "$FULL" 2>/dev/null || true; cleanup' EXIT
	run_cf --json cert deploy add "$ID" --dir "$FULL"
	TF=$(printf '%s\n' "$OUT" | jq .id)
	"$CERTFLEET" cert deploy run "$ID" "$TF" >/dev/null 2>&1 || true
	cp "$FULL/privkey.pem" "$T/full.key.before"
	dd if=/dev/zero of="$FULL/filler" bs=1k count=1000 2>/dev/null || true
	run_cf --json cert deploy run "$ID" "$TF"
	expect_eq "full disk: the command fails" "$RC" 1
	expect_eq "full disk: failed" "$(printf '%s\n' "$OUT" | jq -r --argjson t "$TF" \
	    '.[] | select(.id == $t) | .state')" failed
	expect_contains "full disk: says why" "$(printf '%s\n' "$OUT" | jq -r --argjson t "$TF" \
	    '.[] | select(.id == $t) | .last_error')" "No space left"
	expect_eq "full disk: the key as before" "$(cmp -s "$FULL/privkey.pem" "$T/full.key.before" && echo same)" same
	expect_eq "full disk: no temporary file left" "$(ls -A "$FULL" | grep -c certfleet || true)" 0
	"$CERTFLEET" cert deploy remove "$ID" "$TF" >/dev/null
	umount "$FULL"
	trap cleanup EXIT
else
	echo "deploy.sh: the full-disk case needs a tmpfs mount (root): not run"
fi

# --- SIGKILL inside a slow reload: one consistent version, deployed again -------
mkcert dep2
ID2=$("$CERTFLEET" --json cert import --cert "$T/dep2.pem" --key "$T/dep2.key" | jq .id)
D2="$T/www2"
mkdir -p "$D2"
run_cf --json cert deploy add "$ID2" --dir "$D2" --reload "touch $T/reload.started; sleep 5"
i=0
while [ ! -e "$T/reload.started" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
stop_daemon KILL || true
expect_eq "killed mid-reload: key matches certificate" \
    "$(openssl pkey -in "$D2/privkey.pem" -pubout | sha256sum)" \
    "$(openssl x509 -in "$D2/cert.pem" -noout -pubkey | sha256sum)"
start_daemon --test-hooks yes
run_cf --json cert deploy list "$ID2"
expect_eq "killed mid-reload: not recorded as deployed" \
    "$(printf '%s\n' "$OUT" | jq -r '.[0].deployed_at')" null
rm -f "$T/reload.started"
# The lease of the interrupted deploy runs out; then it deploys again.
"$CERTFLEET" debug clock $((3 * 3600)) >/dev/null
i=0
while [ "$("$CERTFLEET" --json cert deploy list "$ID2" | jq -r '.[0].state')" != ok ] &&
    [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
expect_eq "after the restart: deployed" "$("$CERTFLEET" --json cert deploy list "$ID2" | jq -r '.[0].state')" ok
expect_eq "after the restart: reloaded" "$([ -e "$T/reload.started" ] && echo yes)" yes
finish
