#!/usr/bin/env python3
"""A strict reader of a /metrics body for tests/integration/metrics.sh.

usage: metrics_parse.py [--openmetrics] FILE

Reads the Prometheus text format 0.0.4 (or OpenMetrics 1.0 text with
--openmetrics) and prints one JSON object per sample on stdout:
  {"name": ..., "family": ..., "labels": {name: decoded value}, "value": "raw"}
Label values are decoded as the format says (\\\\, \\" and \\n; any other
backslash sequence is an error), so what a label holds can be compared
byte for byte.  Exits 1, naming the line, when anything is off:
  - a line that is not a HELP, TYPE or comment line, or a sample
    `name{label="value",...} value [timestamp]`;
  - a sample whose family has no HELP or no TYPE before it, a family
    declared twice, a family whose samples are not together, a series
    twice;
  - a sample name that does not fit its family's type (histogram: _bucket
    with le, _sum, _count; OpenMetrics counter: _total or _created);
  - OpenMetrics: no "# EOF" as the last line, anything after it, a blank
    line.
Prints "families N samples M" on stderr.  Python standard library only.
"""
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE = re.compile(r"^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                   r"|[+-]?Inf|NaN)$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped", "unknown",
         "info", "stateset", "gaugehistogram")


class Bad(Exception):
    pass


def parse_labels(s, i):
    """s[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad("bad label name at column %d" % (i + 1))
        lname = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad("label %s: want =\"" % lname)
        i += 2
        out = []
        while True:
            if i >= len(s):
                raise Bad("label %s: unterminated value" % lname)
            c = s[i]
            if c == '"':
                i += 1
                break
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt == "\\":
                    out.append("\\")
                elif nxt == '"':
                    out.append('"')
                elif nxt == "n":
                    out.append("\n")
                else:
                    raise Bad("label %s: bad escape \\%s" % (lname, nxt))
                i += 2
                continue
            out.append(c)
            i += 1
        if lname in labels:
            raise Bad("label %s twice" % lname)
        labels[lname] = "".join(out)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise Bad("after label %s: want , or }" % lname)


def family_of(name, types, om):
    """The declared family a sample name belongs to, or None."""
    if name in types and not (om and types[name] == "counter"):
        return name
    for sfx in ("_bucket", "_sum", "_count", "_total", "_created",
                "_gcount", "_gsum"):
        if name.endswith(sfx):
            base = name[:-len(sfx)]
            t = types.get(base)
            if t == "histogram" and sfx in (
                    "_bucket", "_sum", "_count", "_created"):
                return base
            if t == "gaugehistogram" and sfx in ("_bucket", "_gcount",
                                                 "_gsum"):
                return base
            if t == "summary" and sfx in ("_sum", "_count", "_created"):
                return base
            if om and t == "counter" and sfx in ("_total", "_created"):
                return base
    return None


def main(argv):
    om = False
    if argv and argv[0] == "--openmetrics":
        om = True
        argv = argv[1:]
    if len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    data = open(argv[0], "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e, file=sys.stderr)
        return 1
    if not text.endswith("\n"):
        print("the body does not end with a newline", file=sys.stderr)
        return 1
    lines = text[:-1].split("\n")
    helps, types, done, seen = {}, {}, set(), set()
    current = None
    errors = 0
    samples = 0
    eof_at = None
    out = sys.stdout
    for n, line in enumerate(lines, 1):
        try:
            if eof_at is not None:
                raise Bad("a line after # EOF")
            if line == "":
                if om:
                    raise Bad("a blank line in OpenMetrics")
                continue
            if line.startswith("#"):
                if om and line == "# EOF":
                    eof_at = n
                    continue
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    fam = parts[2]
                    if not NAME.fullmatch(fam):
                        raise Bad("bad family name %r" % fam)
                    table = helps if parts[1] == "HELP" else types
                    if fam in table:
                        raise Bad("second %s for %s" % (parts[1], fam))
                    if fam in done or fam in seen:
                        raise Bad("%s for %s after its samples" % (parts[1], fam))
                    if parts[1] == "TYPE":
                        if len(parts) != 4 or parts[3] not in TYPES:
                            raise Bad("bad TYPE line")
                        table[fam] = parts[3]
                    else:
                        table[fam] = parts[3] if len(parts) == 4 else ""
                    continue
                if om:
                    raise Bad("a comment other than HELP, TYPE, EOF")
                continue
            m = NAME.match(line)
            if not m:
                raise Bad("not a sample line")
            name = m.group(0)
            i = m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Bad("no space before the value")
            fields = rest[1:].split(" ")
            if len(fields) not in (1, 2) or not VALUE.match(fields[0]):
                raise Bad("bad value %r" % rest[1:])
            if len(fields) == 2 and not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", fields[1]):
                raise Bad("bad timestamp %r" % fields[1])
            fam = family_of(name, types, om)
            if fam is None:
                raise Bad("sample %s has no TYPE'd family" % name)
            if fam not in helps:
                raise Bad("family %s has no HELP" % fam)
            if types[fam] in ("histogram", "gaugehistogram") and \
                    name.endswith("_bucket") and "le" not in labels:
                raise Bad("bucket without le")
            if fam != current:
                if fam in done:
                    raise Bad("family %s: samples not together" % fam)
                if current is not None:
                    done.add(current)
                current = fam
            seen.add(fam)
            key = (name, tuple(sorted(labels.items())))
            if key in seen:
                raise Bad("series twice")
            seen.add(key)
            samples += 1
            out.write(json.dumps({"name": name, "family": fam,
                                  "labels": labels, "value": fields[0]},
                                 ensure_ascii=False) + "\n")
        except Bad as e:
            errors += 1
            if errors <= 20:
                print("line %d: %s: %s" % (n, e, line[:200]), file=sys.stderr)
    for fam in types:
        if fam not in helps:
            errors += 1
            print("family %s: TYPE without HELP" % fam, file=sys.stderr)
    for fam in helps:
        if fam not in types:
            errors += 1
            print("family %s: HELP without TYPE" % fam, file=sys.stderr)
    if om and eof_at is None:
        errors += 1
        print("no # EOF line", file=sys.stderr)
    print("families %d samples %d" % (len(types), samples), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
