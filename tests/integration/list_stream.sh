#!/bin/sh
# Listings stream page by page (issue 13, "a million items"): `--json track
# list` is one JSON array written as the pages arrive, `--jsonl` one object
# a line, the table one header with widths from its first page, all across
# several pages (1,000 items each) and in id order, with the same items in
# every form.  The client's memory no longer grows with the listing (the
# benchmark measures that); here, that nothing is lost or doubled at page
# boundaries.
. "${CF_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

N=2500
start_daemon

# Hosts on a closed loopback port: the import keeps each, failed.
i=0
while [ $i -lt $N ]; do
	echo "127.0.0.1:9 h$i.list.test"
	i=$((i + 1))
done >"$T/targets"
run_cf --json track import "$T/targets"
expect_eq "import: exit 1, every probe refused" "$RC" 1
expect_eq "import: all kept" "$(echo "$OUT" | jq .added)" "$N"

run_cf --json track list
expect_eq "--json: exit" "$RC" 0
expect_eq "--json: one valid array of N" "$(jq length "$T/out")" "$N"
expect_eq "--json: ids in order, none twice" \
    "$(jq '[.[].id] | . == (sort | unique)' "$T/out")" true
expect_eq "--json: indented as before (two spaces inside the array)" \
    "$(sed -n '2,3p' "$T/out")" "$(printf '  {\n    "id": 1,')"
cp "$T/out" "$T/list.json"

run_cf --jsonl track list
expect_eq "--jsonl: exit" "$RC" 0
expect_eq "--jsonl: N lines" "$(wc -l <"$T/out" | tr -d ' ')" "$N"
expect_eq "--jsonl: every line one object" \
    "$(jq -c 'type' "$T/out" | sort -u)" '"object"'
expect_eq "--jsonl: the same items as --json" \
    "$(jq -s -S . "$T/out" | md5sum)" "$(jq -S . "$T/list.json" | md5sum)"

run_cf track list
expect_eq "table: exit" "$RC" 0
expect_eq "table: one header and N rows" "$(wc -l <"$T/out" | tr -d ' ')" \
    "$((N + 1))"
expect_eq "table: the header once" "$(grep -c '^ID ' "$T/out")" 1
# Widths come from the first page and hold for the later ones.
expect_eq "table: the last row aligned as the first" \
    "$(sed -n '2p' "$T/out" | awk '{print index($0, $2)}')" \
    "$(tail -n 1 "$T/out" | awk '{print index($0, $2)}')"

# An empty listing is still one valid document.
run_cf --json track list --source pem 2>/dev/null || true
if [ "$RC" -eq 0 ]; then
	expect_eq "--json: an empty listing is []" "$OUT" "[]"
fi

finish
