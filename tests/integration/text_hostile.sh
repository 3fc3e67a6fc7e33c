#!/bin/sh
# Every output is safe for any text a certificate carries.  A corpus of
# hostile certificates (tests/integration/hostile_cert.py builds them byte by
# byte: C0 and C1 controls, DEL, raw high bytes in T61String/IA5String, bidi
# and invisible characters, 60 KB names, names whose cuts fall inside
# characters) goes through `track add --pem`, `track add --host` (a loopback
# TLS server presents them), `cert import` and every command that shows them,
# with and without --json.  Then every byte the client printed and every line
# of the daemon's log is checked:
#   - no control byte but "\n", no DEL; valid UTF-8; no C1 code point, no
#     bidi or invisible formatting character; no forged line;
#   - --json: exit 0, parses, ASCII only, and the names round-trip exactly;
#   - tables and `show`: C0, DEL, C1 as \xNN, hidden characters as \uNNNN
#     (\UNNNNNNNN above the BMP), a cut ends with "…" and splits no character;
#   - the log: one well-formed line per record;
#   - `cert import` (without a CA) refuses names with control characters in
#     one stderr line that shows the name escaped, and stores nothing.
. "${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$S/tests/integration/lib_tls.sh"

A=127.0.0.61
HOSTILE="$S/tests/integration/hostile_cert.py"
V="$T/v"	# the corpus: certificates, and what each name should look like
O="$T/o"	# every stdout and stderr of the client, for the byte checks
mkdir -p "$V" "$O"

# fail WHAT: as lib.sh's, but with printf: messages hold backslashes.
fail() {
	CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1))
	printf 'FAIL: %s\n' "$*"
}

# --- the corpus -----------------------------------------------------------------

for k in root evil leaf; do
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$V/$k.key"
done

# For each certificate NAME: NAME.pem, NAME.chain.pem (leaf + its CA),
# NAME.cn (the CN as the daemon decodes it: UTF-8 as is, T61/IA5/Printable
# as Latin-1, BMP as UTF-16), NAME.want.json and NAME.want_cert.json (the
# decoded name fields of a tracked item and of a managed certificate) and
# NAME.esc ("LABEL<TAB>VALUE" a line: each name escaped by the rules, for
# the values short enough to be shown whole).  "bad" holds invalid UTF-8
# (OpenSSL itself refuses to decode it), "surr" a lone surrogate in a
# BMPString.
"$PYTHON" - "$HOSTILE" "$V" <<'EOF' || { echo "the corpus could not be built"; exit 1; }
import json, os, sys

sys.dont_write_bytecode = True	# nothing written into the source tree
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import hostile_cert

V = sys.argv[2]

HIDDEN = ({0x00AD, 0x061C, 0xFEFF, 0x2028, 0x2029} | set(range(0x200B, 0x2010)) |
          set(range(0x202A, 0x202F)) | set(range(0x2060, 0x2065)) |
          set(range(0x2066, 0x206A)) | set(range(0xE0000, 0xE0080)))


def esc(s):
    out = []
    for ch in s:
        c = ord(ch)
        if c < 0x20 or c == 0x7F or 0x80 <= c <= 0x9F:
            out.append("\\x%02x" % c)
        elif c in HIDDEN:
            out.append("\\u%04x" % c if c <= 0xFFFF else "\\U%08x" % c)
        else:
            out.append(ch)
    return "".join(out)


def decode(typ, b):
    if typ == "utf8":
        return b.decode("utf-8")
    if typ == "bmp":
        return b.decode("utf-16-be")
    return b.decode("latin-1")


def u(s):
    return s.encode("utf-8")


ROOT = [("O", "utf8", b"Certfleet Test"), ("CN", "utf8", b"Certfleet Hostile Root")]
EVIL = [("CN", "utf8", u("Evil \u202eAC\u2066 Root")), ("O", "utf8", u("ca\u200f\u061c"))]
CORPUS = [
    # name, CA, subject [(attr, type, bytes)], dNSNames [bytes]
    ("ctl", "root", [("CN", "utf8", b"ctl.hostile.test"), ("O", "utf8", b"Certfleet Test")],
     [b"ctl.hostile.test"]),
    ("c0", "root", [
        ("CN", "utf8", b"\x1b[31mc0\x07bel\rcr\ttab\x7fdel\nforged: line"),
        ("O", "utf8", b"\n2026-01-01T00:00:00Z certfleetd[1]: error: forged"),
        ("OU", "printable", b"ou\x1b]0;title\x07")],
     [b"c0.hostile.test", b"c0\x1b[2J.hostile.test", b"tab\tdel\x7f.hostile.test"]),
    ("c1", "root", [
        ("CN", "utf8", u("c1\u009b31m\u0085nel.hostile.test")),
        ("O", "utf8", u("org\u009b1m")),
        ("OU", "utf8", u("ou\u0085x"))],
     [b"c1.hostile.test", b"c1\xc2\x9b.hostile.test"]),
    ("latin", "root", [
        ("CN", "t61", b"t61\x9b31m\x85\xe9.hostile.test"),
        ("O", "printable", b"print\x1b[1m"),
        ("OU", "ia5", b"ia5\x9b\x85")],
     [b"latin.hostile.test", b"ia5\x9b.hostile.test", b"\x85nel.hostile.test",
      b"caf\xe9.hostile.test"]),
    ("bidi", "evil", [
        ("CN", "utf8", u("bidi\u202eexe.txt\u2066x\u2069\u200fy\u061cz.hostile.test")),
        ("O", "utf8", u("zw\u200bsp\ufeffbom\u00adshy\u2028ls\u2029ps")),
        ("OU", "utf8", u("wj\u2060x\u2064y\U000e0041tag\u202a\u202d"))],
     [b"bidi.hostile.test", u("\u202egnp.hostile.test"), u("zw\u200b.hostile.test")]),
    ("bmp", "root", [
        ("CN", "bmp", "bmp\u202e\u0085.hostile.test".encode("utf-16-be")),
        ("O", "bmp", "bmp org\u2067".encode("utf-16-be"))],
     [b"bmp.hostile.test"]),
    ("big", "root", [("CN", "utf8", u("\u00e9" * 30720)), ("O", "utf8", b"Certfleet Test")],
     [b"big.hostile.test"]),
    ("cut", "root", [("CN", "utf8", u("a" + "\u4e2d" * 20000)),
                     ("O", "utf8", u("a" + "\U0001f600" * 300))],
     [b"cut.hostile.test"]),
    ("buro", "root", [("CN", "utf8", u("B\u00fcro.hostile.test")), ("O", "utf8", u("B\u00fcro GmbH"))],
     [b"buro.hostile.test"]),
    ("sanonly", "root", [("CN", "utf8", b"sanonly.hostile.test")],
     [b"sanonly.hostile.test", b"bad\x1b[0m.sanonly.hostile.test"]),
    ("bad", "root", [("CN", "utf8", b"bad\xff\xfe\xc0\xaf.hostile.test")], [b"bad.hostile.test"]),
    ("surr", "root", [("CN", "bmp", b"\x00s\xd8\x00\x00x")], [b"surr.hostile.test"]),
]
LABELS = {"CN": "Common Name", "O": "Organization", "OU": "Organizational Unit"}


def value_file(name, n, data):
    path = os.path.join(V, "%s.v%d" % (name, n))
    with open(path, "wb") as f:
        f.write(data)
    return "@" + path


def make(name, key, subject, sans, ca=None, is_ca=False):
    args = ["--key", os.path.join(V, key + ".key"), "--out", os.path.join(V, name + ".pem")]
    for i, (attr, typ, data) in enumerate(subject):
        args += ["--subject", "%s:%s:%s" % (attr, typ, value_file(name, i, data))]
    for i, data in enumerate(sans):
        args += ["--san-dns", value_file(name, 100 + i, data)]
    if ca:
        args += ["--ca-key", os.path.join(V, ca + ".key"), "--ca-cert", os.path.join(V, ca + ".pem")]
    if is_ca:
        args.append("--is-ca")
    if hostile_cert.main(args) != 0:
        sys.exit(1)


make("root", "root", ROOT, [], is_ca=True)
make("evil", "evil", EVIL, [], is_ca=True)
issuer_cn = {"root": "Certfleet Hostile Root", "evil": "Evil \u202eAC\u2066 Root"}
for name, ca, subject, sans in CORPUS:
    make(name, "leaf", subject, sans, ca=ca)
    with open(os.path.join(V, name + ".chain.pem"), "wb") as f:
        for p in (name, ca):
            f.write(open(os.path.join(V, p + ".pem"), "rb").read())
    if name in ("bad", "surr"):
        continue
    want, esc_lines = {}, []
    for attr, typ, data in subject:
        key = {"CN": "common_name", "O": "organization", "OU": "organizational_unit"}[attr]
        text = decode(typ, data)
        want[key] = text
        if len(text) < 200:
            esc_lines.append((LABELS[attr], esc(text)))
    want["subject_alt_names"] = [s.decode("latin-1") for s in sans]
    esc_lines += [("Subject Alternative Names", esc(s)) for s in want["subject_alt_names"]]
    want["issued_by"] = issuer_cn[ca]
    esc_lines.append(("Issued By", esc(issuer_cn[ca])))
    with open(os.path.join(V, name + ".cn"), "wb") as f:
        f.write(u(want["common_name"]))
    with open(os.path.join(V, name + ".want.json"), "w") as f:
        json.dump(want, f)
    want.pop("organizational_unit", None)
    with open(os.path.join(V, name + ".want_cert.json"), "w") as f:
        json.dump(want, f)
    with open(os.path.join(V, name + ".esc"), "w", encoding="utf-8") as f:
        for label, e in esc_lines:
            f.write("%s\t%s\n" % (label, e))
EOF
NAMES="ctl c0 c1 latin bidi bmp big cut buro sanonly"

# The generator's certificates are well-formed and correctly signed.
for n in root evil $NAMES; do
	if openssl x509 -in "$V/$n.pem" -noout -text >/dev/null 2>"$T/openssl.err"; then pass
	else fail "openssl x509 -text $n: $(head -c 300 "$T/openssl.err")"; fi
done
for n in ctl c0 c1 latin bmp big cut buro sanonly; do
	expect_eq "openssl verify $n" "$(openssl verify -CAfile "$V/root.pem" "$V/$n.pem" 2>&1)" "$V/$n.pem: OK"
done
expect_eq "openssl verify bidi" "$(openssl verify -CAfile "$V/evil.pem" "$V/bidi.pem" 2>&1)" "$V/bidi.pem: OK"

# --- helpers ----------------------------------------------------------------------

# bytes.py: the byte checks, and a safe rendering of output for FAIL lines:
# UTF-8 text as is, but a control byte, DEL or invalid byte as <1b>, a C1
# or hidden character as <U+202E> (so escapes the client printed, such as
# \x1b, stay distinguishable from the raw bytes).
cat >"$T/bytes.py" <<'EOF'
import re, sys

HIDDEN = ({0x00AD, 0x061C, 0xFEFF, 0x2028, 0x2029} | set(range(0x200B, 0x2010)) |
          set(range(0x202A, 0x202F)) | set(range(0x2060, 0x2065)) |
          set(range(0x2066, 0x206A)) | set(range(0xE0000, 0xE0080)))
CTL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
HID = re.compile("[\x80-\x9f" + "".join(re.escape(chr(c)) for c in sorted(HIDDEN)) + "]")
LOG = re.compile(rb"^[0-9-]+T[0-9:]+Z certfleetd\[[0-9]+\]: (error|warn|info|debug): ")
FORGED = (b"forged", b"2026-01-01T00:00:00Z certfleetd[1]:")


def render(b):
    out = []
    for ch in b.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if 0xDC80 <= c <= 0xDCFF:
            out.append("<%02x>" % (c - 0xDC00))
        elif c < 0x20 or c == 0x7F:
            out.append("<%02x>" % c)
        elif 0x80 <= c <= 0x9F or c in HIDDEN:
            out.append("<U+%04X>" % c)
        else:
            out.append(ch)
    return "".join(out)


def clip(s, n=400):
    return s if len(s) <= n else s[:n] + "...(%d characters)" % len(s)


def where(data, off):
    start = data.rfind(b"\n", 0, off) + 1
    end = data.find(b"\n", off)
    end = len(data) if end < 0 else end
    lo, hi = max(start, off - 60), min(end, off + 60)
    while lo > start and lo < off and 0x80 <= data[lo] < 0xC0:
        lo += 1
    while hi < end and 0x80 <= data[hi] < 0xC0:
        hi += 1
    return "offset %d, line %d: %s%s%s" % (
        off, data.count(b"\n", 0, off) + 1, "..." if lo > start else "",
        render(data[lo:hi]), "..." if hi < end else "")


def report(what, problem):
    print(("FAIL %s: %s" % (what, problem)) if problem else "PASS")


def check(manifest, wrapped):
    for entry in open(manifest, encoding="utf-8", errors="replace"):
        what, path, kind = entry.rstrip("\n").split("\t")
        data = open(path, "rb").read()
        lines = data.split(b"\n")
        if kind == "log" and wrapped:	# valgrind's own lines
            lines = [l for l in lines if not re.match(rb"^==[0-9]+==", l)]
            data = b"\n".join(lines)

        bad = CTL.findall(data)
        m = CTL.search(data)
        report(what, bad and "control byte 0x%02x (%d in all) at %s; want none but LF" %
               (data[m.start()], len(bad), where(data, m.start())))

        try:
            text = data.decode("utf-8")
            report(what, None)
        except UnicodeDecodeError as e:
            text = data.decode("utf-8", "replace")
            report(what, "invalid UTF-8 %s at %s; want valid UTF-8" %
                   (render(data[e.start:e.end]), where(data, e.start)))

        hid = HID.findall(text)
        m = HID.search(text)
        report(what, hid and "U+%04X (%d C1 or hidden characters in all) at %s; want none" %
               (ord(hid[0]), len(hid), where(data, len(text[:m.start()].encode("utf-8", "replace")))))

        forged = [l for l in lines if l.startswith(FORGED)]
        report(what, forged and "forged line [%s]; want none" % clip(render(forged[0]), 160))

        if kind == "json":
            m = re.search(rb"[\x80-\xff]", data)
            report(what, m and "non-ASCII byte in JSON at %s; want \\u escapes" % where(data, m.start()))
        if kind == "log":
            badl = [l for l in lines[:-1] if not LOG.match(l)]
            report(what, badl and "%d lines not in the log format, the first [%s]" %
                   (len(badl), clip(render(badl[0]), 160)))
            report(what, lines[-1] != b"" and "does not end with a newline")


mode = sys.argv[1]
if mode == "check":		# check MANIFEST WRAPPED: PASS or FAIL lines
    check(sys.argv[2], bool(sys.argv[3]))
elif mode == "excerpt":		# excerpt FILE ANCHOR
    data = open(sys.argv[2], "rb").read()
    anchor = sys.argv[3].encode()
    lines = data.split(b"\n")
    pick = [l for l in lines if anchor and anchor in l] or lines[:3]
    print(clip(" / ".join(render(l) for l in pick)))
elif mode == "cut":		# cut FILE WHOLE NEEDLE: FILE holds WHOLE's bytes or NEEDLE
    data = open(sys.argv[2], "rb").read()
    sys.exit(not (open(sys.argv[3], "rb").read() in data or sys.argv[4].encode() in data))
EOF

N=0
: >"$T/manifest"
# cf WHAT ARGS...: runs certfleet ARGS; its stdout ($OF) and stderr ($EF)
# are kept for the byte checks at the end (the JSON rules apply to stdout
# when --json is among ARGS).  Sets RC, OF, EF.
cf() {
	what=$1; shift
	N=$((N + 1))
	OF="$O/$N.out"
	EF="$O/$N.err"
	RC=0
	"$CERTFLEET" "$@" >"$OF" 2>"$EF" </dev/null || RC=$?
	kind=text
	for a in "$@"; do
		[ "$a" = --json ] && kind=json
	done
	printf '%s\t%s\t%s\n' "$what: stdout" "$OF" "$kind" "$what: stderr" "$EF" text \
	    >>"$T/manifest"
}

# cfj WHAT ARGS...: cf WHAT --json ARGS; exit 0 and a stdout jq parses.
cfj() {
	what="$1 --json"; shift
	cf "$what" --json "$@"
	exit_is "$what" 0
	if jq . "$OF" >/dev/null 2>"$T/jq.err"; then pass
	else fail "$what: stdout is not JSON: $(head -c 200 "$T/jq.err") in $(excerpt "$OF")"; fi
}

# excerpt FILE [ANCHOR]: the lines of FILE holding ANCHOR (else the first
# three), rendered safely (see bytes.py), at most 400 characters.
excerpt() { "$PYTHON" "$T/bytes.py" excerpt "$1" "${2:-}"; }

# exit_is WHAT CODE: the last cf exited CODE.
exit_is() {
	if [ "$RC" = "$2" ]; then pass
	else fail "$1: exit: got [$RC], want [$2]; stderr: $(excerpt "$EF")"; fi
}

# has WHAT FILE NEEDLE [ANCHOR]: FILE holds NEEDLE (bytes).
has() {
	if LC_ALL=C grep -aqF -e "$3" "$2"; then pass
	else fail "$1: want [$3], got: $(excerpt "$2" "${4:-}")"; fi
}

# one_line WHAT FILE PREFIX: FILE is one line starting with PREFIX.
one_line() {
	nl=$(wc -l <"$2" | tr -d ' ')
	if [ "$nl" = 1 ]; then pass
	else fail "$1: got $nl lines [$(excerpt "$2")], want 1"; fi
	case $(head -c ${#3} "$2") in
	"$3") pass ;;
	*) fail "$1: want a line starting [$3], got: $(excerpt "$2")" ;;
	esac
}

# escaped WHAT FILE NAME [LABEL...]: FILE (a `show`) holds each name of
# certificate NAME escaped by the rules (only the LABELs given, else all).
escaped() {
	w=$1 f=$2 c=$3
	shift 3
	while IFS="	" read -r label e; do
		if [ $# -gt 0 ]; then
			case " $* " in *" $label "*) ;; *) continue ;; esac
		fi
		has "$w: $label escaped" "$f" "$e" "$label"
	done <"$V/$c.esc"
}

# roundtrip WHAT FILE NAME [cert]: the JSON object in FILE carries the names
# of certificate NAME exactly as decoded (jq sees the real characters).
roundtrip() {
	wf="$V/$3.want.json"
	[ "${4:-}" = cert ] && wf="$V/$3.want_cert.json"
	got=$(jq -c --slurpfile w "$wf" '. as $g | [$w[0] | to_entries[] |
	    select($g[.key] != .value) | .key]' "$2" 2>&1) || got="jq failed: $got"
	expect_eq "$1: name fields equal to the certificate's (the differing keys)" "$got" "[]"
	jq -j '.common_name // empty' "$2" >"$T/cn.got" 2>/dev/null || true
	if cmp -s "$T/cn.got" "$V/$3.cn"; then pass
	else fail "$1: common_name: got $(wc -c <"$T/cn.got") bytes [$(excerpt "$T/cn.got")], want the CN's $(wc -c <"$V/$3.cn") bytes [$(excerpt "$V/$3.cn")]"
	fi
}

# cut_ok WHAT FILE NAME: a long CN is shown whole or cut with "…" after a
# whole character.
cut_ok() {
	case $3 in
	big) ch="é" ;;
	cut) ch="中" ;;
	esac
	if "$PYTHON" "$T/bytes.py" cut "$2" "$V/$3.cn" "$ch…"
	then pass
	else fail "$1: the long CN is neither whole nor cut with [$ch…]: $(excerpt "$2" "$ch$ch")"
	fi
}

# fpr_id FILE: the id of the tracked item of that certificate, if any.
fpr_id() {
	"$CERTFLEET" --json track list 2>/dev/null | jq -r --arg f "$(ossl_fpr "$1" 2>/dev/null)" \
	    '[.[] | select(.fingerprint_sha256 == $f) | .id][0] // empty' 2>/dev/null || true
}

# --- a TLS server presenting them, and the daemon ------------------------------------

must_start_server tls $A 0 --cert "$V/ctl.chain.pem" --key "$V/leaf.key" \
    --vhost "c0.hostile.test=$V/c0.chain.pem,$V/leaf.key" \
    --vhost "latin.hostile.test=$V/latin.chain.pem,$V/leaf.key" \
    --vhost "bidi.hostile.test=$V/bidi.chain.pem,$V/leaf.key"
PORT=$SRV_PORT
start_daemon --ca-file "$V/root.pem"

# --- track add --pem, and everything that shows a tracked item ------------------------

ID_c0='' ID_bidi='' ID_latin='' ID_buro=''

for n in $NAMES; do
	cf "track add --pem $n" track add --pem "$V/$n.pem"
	exit_is "track add --pem $n" 0
	escaped "track add --pem $n" "$OF" "$n"
	id=$(fpr_id "$V/$n.pem")
	if [ -n "$id" ]; then
		cf "track delete $n" track delete "$id"
		expect_eq "track delete $n: exit" "$RC" 0
	fi
	cfj "track add --pem $n" track add --pem "$V/$n.pem"
	roundtrip "track add --pem $n --json" "$OF" "$n"
	id=$(jq -r '.id // empty' "$OF" 2>/dev/null || true)
	if [ -z "$id" ]; then
		fail "track add --pem $n: no item id"
		continue
	fi
	eval "ID_$n=\$id"

	cf "track show $n" track show "$id"
	expect_eq "track show $n: exit" "$RC" 0
	escaped "track show $n" "$OF" "$n"
	case $n in big|cut) cut_ok "track show $n" "$OF" "$n" ;; esac
	cfj "track show $n" track show "$id"
	roundtrip "track show $n --json" "$OF" "$n"
	cf "track history $n" track history "$id"
	cfj "track history $n" track history "$id"
	cf "track raw $n" track raw "$id"
	cf "track raw $n --json" --json track raw "$id"
	cf "events --item $n" events --item "$id"
	cfj "events --item $n" events --item "$id"
done

# The exact escapes, where a person reads them.
cf "track show c0" track show "$ID_c0"
has "track show c0: ESC" "$OF" '\x1b[31m' "Common Name"
has "track show c0: the whole CN" "$OF" '\x1b[31mc0\x07bel\x0dcr\x09tab\x7fdel\x0aforged: line' "Common Name"
cf "track show bidi" track show "$ID_bidi"
has "track show bidi: RLO" "$OF" '\u202e' "Common Name"
has "track show bidi: the issuer" "$OF" 'Evil \u202eAC\u2066 Root' "Issued By"
has "track show bidi: a tag character above the BMP" "$OF" '\U000e0041' "Organizational Unit"
cf "track show latin" track show "$ID_latin"
has "track show latin: IA5 0x9b in a SAN" "$OF" 'ia5\x9b.hostile.test' "Subject Alternative Names"
has "track show latin: T61 CN" "$OF" 't61\x9b31m\x85é.hostile.test' "Common Name"
cf "track show buro" track show "$ID_buro"
has "track show buro: clean non-ASCII shown as is" "$OF" 'Büro.hostile.test' "Common Name"

# Names that are no text at all: refused (or, if ever accepted, shown
# within the byte rules, checked at the end).
for n in bad surr; do
	for mode in human json; do
		if [ $mode = json ]; then cf "track add --pem $n --json" --json track add --pem "$V/$n.pem"
		else cf "track add --pem $n" track add --pem "$V/$n.pem"; fi
		case $RC in
		1)
			pass
			expect_eq "track add --pem $n ($mode): stdout bytes" "$(wc -c <"$OF" | tr -d ' ')" 0
			one_line "track add --pem $n ($mode): stderr" "$EF" "certfleet: "
			;;
		0) pass ;;
		*) fail "track add --pem $n ($mode): exit $RC ($(excerpt "$EF"))" ;;
		esac
		id=$(fpr_id "$V/$n.pem")
		[ -z "$id" ] || "$CERTFLEET" track delete "$id" >/dev/null 2>&1 || true
	done
done

# --- the TLS path: the same names, fetched live -------------------------------------

for n in c0 latin; do
	cf "track add --host $n" track add --host "$A:$PORT" --sni "$n.hostile.test"
	exit_is "track add --host $n" 0
	escaped "track add --host $n" "$OF" "$n"
done
for n in ctl bidi; do
	cfj "track add --host $n" track add --host "$A:$PORT" --sni "$n.hostile.test"
	roundtrip "track add --host $n --json" "$OF" "$n"
done
for n in ctl c0 latin bidi; do
	id=$("$CERTFLEET" --json track list 2>/dev/null | jq -r --arg s "$n.hostile.test" \
	    '[.[] | select(.sni == $s) | .id][0] // empty' 2>/dev/null || true)
	if [ -z "$id" ]; then
		fail "track add --host $n: not in track list"
		continue
	fi
	cf "track check host $n" track check "$id"
	cfj "track check host $n" track check "$id"
	cf "track show host $n" track show "$id"
	escaped "track show host $n" "$OF" "$n"
	cfj "track show host $n" track show "$id"
	roundtrip "track show host $n --json" "$OF" "$n"
	[ $n = ctl ] && expect_eq "host ctl: chain_valid, hostname_match (the generator signs right)" \
	    "$(jq -c '[.chain_valid, .hostname_match]' "$OF")" '[true,true]'
	[ $n = c0 ] && expect_eq "host c0: chain_valid" "$(jq -c .chain_valid "$OF")" true
	cf "track history host $n" track history "$id"
	cfj "track history host $n" track history "$id"
	cf "track raw host $n" track raw "$id"
	expect_eq "track raw host $n: exit" "$RC" 0
	cf "events --item host $n" events --item "$id"
	cfj "events --item host $n" events --item "$id"
done

# The whole store at once.
cf "track list" track list
has "track list: ESC" "$OF" '\x1b[31m' "c0"
has "track list: RLO" "$OF" 'bidi\u202e' "bidi"
for n in big cut; do cut_ok "track list: $n" "$OF" "$n"; done
cfj "track list" track list
cf "events" events --limit 10000
has "events: ESC" "$OF" '\x1b[31m' "c0"
for n in big cut; do cut_ok "events: $n" "$OF" "$n"; done
cfj "events" events --limit 10000
cf "track deactivate c0" track deactivate "$ID_c0"
cfj "track activate c0" track activate "$ID_c0"

# --- names from the command line and from import files ------------------------------

cf "track show ESC argument" track show "$(printf '1\033[2J\nforged')"
expect_eq "track show ESC argument: exit" "$RC" 2
one_line "track show ESC argument: stderr" "$EF" "certfleet: "
has "track show ESC argument: escaped" "$EF" '\x1b[2J'
cf "track add --host ESC" track add --host "$(printf 'x\033[31m.test')"
case $RC in 1|2) pass ;; *) fail "track add --host ESC: exit $RC" ;; esac
one_line "track add --host ESC: stderr" "$EF" "certfleet: "
cf "track add --sni newline" track add --host "$A:$PORT" --sni "$(printf 'a\nforged.test\302\233')"
case $RC in 1|2) pass ;; *) fail "track add --sni newline: exit $RC" ;; esac
one_line "track add --sni newline: stderr" "$EF" "certfleet: "
# Lines with hostile SNI names, and one that fetches a hostile certificate.
printf '%s:%s c0\033[31m.hostile.test\n%s:%s \342\200\256x.test\nb\233.test\n\302\233\n%s:%s bidi.hostile.test\n' \
    $A "$PORT" $A "$PORT" $A "$PORT" >"$T/import.txt"
cf "track import hostile lines" track import "$T/import.txt"
cf "track import hostile lines --json" --json track import "$T/import.txt"
if jq . "$OF" >/dev/null 2>&1; then pass; else fail "track import --json: stdout is not JSON"; fi

# --- cert import --------------------------------------------------------------------

cert_ids() { "$CERTFLEET" --json cert list 2>/dev/null | jq -c '[.[].id]' 2>&1 || true; }

cfj "cert import ctl" cert import --cert "$V/ctl.pem" --key "$V/leaf.key"
roundtrip "cert import ctl --json" "$OF" ctl cert

# refused NAME NEEDLE: cert import is refused in one line showing the name
# quoted and escaped (NEEDLE: the start of it), and nothing is stored.
refused() {
	for mode in human json; do
		w="cert import $1 ($mode)"
		before=$(cert_ids)
		if [ $mode = json ]; then
			cf "$w" --json cert import --cert "$V/$1.pem" --key "$V/leaf.key"
		else
			cf "$w" cert import --cert "$V/$1.pem" --key "$V/leaf.key"
		fi
		expect_eq "$w: exit" "$RC" 1
		expect_eq "$w: stdout bytes" "$(wc -c <"$OF" | tr -d ' ')" 0
		one_line "$w: stderr" "$EF" "certfleet: "
		has "$w: the name escaped" "$EF" "$2"
		if LC_ALL=C grep -aqF -e "'$2" -e "\"$2" "$EF"; then pass
		else fail "$w: want the name quoted ['$2...], got: $(excerpt "$EF")"; fi
		after=$(cert_ids)
		expect_eq "$w: nothing stored" "$after" "$before"
		# Leave the store as it was, whatever happened.
		for id in $(printf '%s\n' "$after" | jq -r --argjson b "$before" '. - $b | .[]'); do
			"$CERTFLEET" cert delete "$id" >/dev/null 2>&1 || true
		done
	done
}
refused c0 '\x1b[31mc0\x07bel'
refused c1 'c1\x9b31m\x85nel'
refused latin 't61\x9b31m\x85'
refused bidi 'bidi\u202eexe.txt\u2066'
refused bmp 'bmp\u202e\x85'
refused sanonly 'bad\x1b[0m.sanonly.hostile.test'

# Clean but unusual names: accepted or refused, either way valid output.
for n in buro big cut; do
	cf "cert import $n" cert import --cert "$V/$n.pem" --key "$V/leaf.key"
	case $RC in
	0) pass ;;
	1) pass; one_line "cert import $n: stderr" "$EF" "certfleet: " ;;
	*) fail "cert import $n: exit $RC ($(excerpt "$EF"))" ;;
	esac
done
cf "cert list" cert list
if [ "$("$CERTFLEET" --json cert list 2>/dev/null | jq -r '.[].domain' 2>/dev/null | grep -c '^Büro.hostile.test$')" = 1 ]; then
	has "cert list: clean non-ASCII shown as is" "$OF" "Büro.hostile.test" "hostile"
fi
cfj "cert list" cert list
cp "$OF" "$T/certs.json"
for id in $(jq -r '.[].id' "$T/certs.json" 2>/dev/null); do
	cf "cert show $id" cert show "$id"
	expect_eq "cert show $id: exit" "$RC" 0
	cfj "cert show $id" cert show "$id"
	cn=$(jq -r .common_name "$OF" 2>/dev/null | head -c 40)
	case $cn in
	ctl.hostile.test) n="ctl" ;;
	Büro.hostile.test) n="buro" ;;
	éé*) n="big" ;;
	a中*) n="cut" ;;
	*) fail "cert show $id: an unexpected certificate [$(printf '%s' "$cn" | od -c | head -2)]"; continue ;;
	esac
	roundtrip "cert show $n --json" "$OF" "$n" cert
	cf "cert show $n" cert show "$id"
	escaped "cert show $n" "$OF" "$n" "Common Name" "Organization" "Issued By" \
	    "Subject Alternative Names"
	case $n in big|cut) cut_ok "cert show $n" "$OF" "$n" ;; esac
done
cf "events after cert import" events --limit 10000
cfj "events after cert import" events --limit 10000
cf "status" status
cfj "status" status

# --- the bytes ---------------------------------------------------------------------

# The daemon's log is complete once it has stopped.
rc=0
stop_daemon || rc=$?
expect_eq "daemon exit status" "$rc" 0
printf '%s\t%s\t%s\n' "daemon log" "$T/daemon.log" log >>"$T/manifest"

# Prints PASS or "FAIL what" for each check of each file in the manifest.
"$PYTHON" "$T/bytes.py" check "$T/manifest" "${CF_DAEMON_WRAPPER:-}" >"$T/bytes.out"
while IFS= read -r l; do
	case $l in
	PASS) pass ;;
	"FAIL "*) fail "bytes: ${l#FAIL }" ;;
	*) fail "byte checker: $l" ;;
	esac
done <"$T/bytes.out"
[ -s "$T/bytes.out" ] || fail "the byte checker printed nothing"

finish
