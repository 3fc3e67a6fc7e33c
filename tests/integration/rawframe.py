#!/usr/bin/env python3
"""Speaks raw frames to certfleetd to test how it treats hostile clients.

usage: rawframe.py SOCKET CASE
Prints what the daemon answered (decoded error code and message) or
"closed", and exits 0 when the daemon behaved as the case expects.
Only the Python standard library: a tiny msgpack subset is encoded here.
"""
import socket
import struct
import sys
import time


def mp(v):
    """Encodes None, bool, int >= 0, str, list, dict (enough for requests)."""
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
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else
                b"\xdb" + struct.pack(">I", len(b))) + b
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(
            mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def frame(body):
    return struct.pack(">I", len(body)) + body


def read_frame(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    n = struct.unpack(">I", hdr)[0]
    return recv_exact(s, n)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def error_of(body):
    """Finds the gRPC code and message in a response frame, crudely."""
    i = body.find(b"code")
    code = body[i + 4] if i >= 0 else None
    j = body.find(b"message")
    msg = ""
    if j >= 0:
        k = j + 7
        t = body[k]
        if 0xa0 <= t <= 0xbf:
            msg = body[k + 1:k + 1 + (t & 0x1f)].decode(errors="replace")
        elif t == 0xd9:
            msg = body[k + 2:k + 2 + body[k + 1]].decode(errors="replace")
    return code, msg


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def expect_error_then_close(s, code):
    body = read_frame(s)
    if body is None:
        print("closed without an answer")
        return False
    got, msg = error_of(body)
    print("error", got, msg)
    rest = read_frame(s)
    if rest is not None:
        print("connection stayed open")
        return False
    print("closed")
    return got == code


def main():
    path, case = sys.argv[1], sys.argv[2]
    s = connect(path)
    if case == "half-frame":
        # Two bytes of a header, then hold the connection for a while.
        s.sendall(b"\x00\x00")
        time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 3)
        return True
    if case == "hangup-mid-request":
        body = mp([0, 1, "Daemon.Status", []])
        s.sendall(struct.pack(">I", len(body)) + body[:3])
        s.close()
        return True
    if case == "garbage":
        s.sendall(frame(b"\xc1\xff\x00garbage"))
        return expect_error_then_close(s, 3)
    if case == "oversize":
        s.sendall(struct.pack(">I", 16 * 1024 * 1024 + 1))
        return expect_error_then_close(s, 8)
    if case == "bomb":
        s.sendall(frame(b"\xdd\x08\x00\x00\x00"))
        return expect_error_then_close(s, 3)
    if case == "deep":
        s.sendall(frame(b"\x91" * 100 + b"\xc0"))
        return expect_error_then_close(s, 3)
    if case in ("unknown-method", "bad-params", "unknown-param", "not-request"):
        req = {
            "unknown-method": [0, 5, "No.Such", []],
            "bad-params": [0, 5, "Track.Show", [7]],
            "unknown-param": [0, 5, "Track.Show", [{"id": 1, "bogus": 2}]],
            "not-request": [1, 5, None, None],
        }[case]
        s.sendall(frame(mp(req)))
        body = read_frame(s)
        code, msg = error_of(body)
        print("error", code, msg)
        want = 12 if case == "unknown-method" else 3
        # The connection stays usable after a refused request.
        s.sendall(frame(mp([0, 6, "Daemon.Status", []])))
        ok = read_frame(s)
        return code == want and ok is not None and b"version" in ok
    if case == "pipeline":
        # Many requests without reading: the daemon must not fall over.
        n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
        req = b"".join(frame(mp([0, i, "Daemon.Status", []])) for i in range(n))
        s.sendall(req)
        got = 0
        while got < n:
            if read_frame(s) is None:
                break
            got += 1
        print("answers", got)
        return got == n
    print("unknown case", case)
    return False


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
