#!/usr/bin/env python3
"""Raw control-socket requests for tests/integration/metrics.sh.

usage: metrics_rpc.py SOCKET add-pems FILE
           Track.Add of every certificate in FILE (concatenated PEM), many
           requests in flight on one connection; prints "added N failed M"
           and the first failure's code and message.
       metrics_rpc.py SOCKET walk
           Daemon.Methods, then every method it lists with an empty params
           map, each on a connection of its own; prints one line per
           method: "NAME ROLE CODE MESSAGE" where CODE is the gRPC code of
           the error, "ok" for a result, "stream" for a stream item first,
           or "pending" when nothing came within 2 s (Events.Watch waits
           for events).

Python standard library only: msgpack is encoded and decoded here (the
subset the daemon speaks).
"""
import socket
import struct
import sys


# --- msgpack -----------------------------------------------------------------

def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(
            mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def unmp(b, i=0):
    """Decodes one msgpack value at b[i:]; returns (value, next index)."""
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i:i + n].decode(errors="replace"), i + n
    if 0x90 <= t <= 0x9f:
        return unmp_list(b, i, t & 0x0f)
    if 0x80 <= t <= 0x8f:
        return unmp_map(b, i, t & 0x0f)
    if t == 0xc0:
        return None, i
    if t == 0xc2:
        return False, i
    if t == 0xc3:
        return True, i
    fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
             0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q",
             0xca: ">f", 0xcb: ">d"}
    if t in fixed:
        f = fixed[t]
        n = struct.calcsize(f)
        return struct.unpack(f, b[i:i + n])[0], i + n
    lens = {0xd9: (">B", "s"), 0xda: (">H", "s"), 0xdb: (">I", "s"),
            0xc4: (">B", "b"), 0xc5: (">H", "b"), 0xc6: (">I", "b"),
            0xdc: (">H", "a"), 0xdd: (">I", "a"),
            0xde: (">H", "m"), 0xdf: (">I", "m")}
    if t in lens:
        f, kind = lens[t]
        k = struct.calcsize(f)
        n = struct.unpack(f, b[i:i + k])[0]
        i += k
        if kind == "s":
            return b[i:i + n].decode(errors="replace"), i + n
        if kind == "b":
            return b[i:i + n], i + n
        if kind == "a":
            return unmp_list(b, i, n)
        return unmp_map(b, i, n)
    raise ValueError("msgpack type 0x%02x not handled" % t)


def unmp_list(b, i, n):
    out = []
    for _ in range(n):
        v, i = unmp(b, i)
        out.append(v)
    return out, i


def unmp_map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = unmp(b, i)
        v, i = unmp(b, i)
        out[k] = v
    return out, i


# --- frames ------------------------------------------------------------------

def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    body = recv_exact(s, struct.unpack(">I", hdr)[0])
    if body is None:
        return None
    return unmp(body)[0]


def request(msgid, method, params):
    body = mp([0, msgid, method, [params] if params is not None else []])
    return struct.pack(">I", len(body)) + body


def call(path, method, params=None):
    s = connect(path)
    s.sendall(request(1, method, params))
    while True:
        m = read_msg(s)
        if m is None:
            raise RuntimeError("connection closed during %s" % method)
        if m[0] == 1:
            s.close()
            return m[2], m[3]


# --- commands ----------------------------------------------------------------

def split_pems(path):
    text = open(path).read()
    out = []
    mark = "-----END CERTIFICATE-----"
    for part in text.split(mark):
        if "-----BEGIN CERTIFICATE-----" in part:
            out.append(part[part.index("-----BEGIN CERTIFICATE-----"):] +
                       mark + "\n")
    return out


def add_pems(path, file):
    pems = split_pems(file)
    s = connect(path, 60)
    window = 64
    sent = got = added = failed = 0
    first = None
    while got < len(pems):
        while sent < len(pems) and sent - got < window:
            s.sendall(request(sent + 1, "Track.Add", {"pem": pems[sent]}))
            sent += 1
        m = read_msg(s)
        if m is None:
            print("connection closed after %d answers" % got)
            return 1
        if m[0] != 1:
            continue
        got += 1
        if m[2] is None:
            added += 1
        else:
            failed += 1
            if first is None:
                first = "%s %s" % (m[2].get("code"), m[2].get("message"))
    print("added %d failed %d%s" % (added, failed,
                                    " first: " + first if first else ""))
    return 0 if failed == 0 else 1


def walk(path):
    err, methods = call(path, "Daemon.Methods")
    if err is not None:
        print("Daemon.Methods failed: %r" % err)
        return 1
    for m in methods:
        name = m["name"]
        s = connect(path, 2.0)
        s.sendall(request(7, name, {}))
        try:
            msg = read_msg(s)
        except socket.timeout:
            msg = "pending"
        s.close()
        if msg == "pending":
            what = "pending"
        elif msg is None:
            what = "closed"
        elif msg[0] == 3:
            what = "stream"
        elif msg[2] is None:
            what = "ok"
        else:
            what = "%s %s" % (msg[2].get("code"),
                              str(msg[2].get("message")).replace("\n", " "))
        print("%s %s %s" % (name, m.get("role", "?"), what))
    return 0


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, cmd = argv[1], argv[2]
    if cmd == "add-pems" and len(argv) == 4:
        return add_pems(path, argv[3])
    if cmd == "walk":
        return walk(path)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
