#!/usr/bin/env python3
"""HTTP clients that misbehave on purpose, for tests/integration/metrics.sh.

usage: metrics_http.py bound ADDR PORT N
           Opens N connections and makes each one served once (GET /healthz,
           keep-alive), so the daemon holds N open; then an (N+1)th
           connection sends GET /healthz.  Prints "held N", then
           "waiting: no answer in 2.0 s" or "answered early: STATUS" (the
           bound did not hold it back), closes one of the N and prints
           "after one closed: STATUS in SECONDS s" or "after one closed: no
           answer in 5 s", then closes the others.
       metrics_http.py slow ADDR PORT STALL OUT
           GET /metrics, reads nothing for STALL seconds, then reads 4 KiB
           at a time with a 1 ms pause; gives up when no byte comes for 5 s.
           Writes "stalled" to OUT when the stall is over, and at the end
           prints "bytes N complete yes|no seconds S" (complete: the
           chunked body ended with its last chunk).
       metrics_http.py head ADDR PORT
           HEAD /metrics, then GET /healthz on the same keep-alive
           connection; prints "head STATUS body N then STATUS" (N: bytes
           that came after the HEAD reply's header within 0.5 s; "then
           none" when the GET got no answer in 3 s).
       metrics_http.py cut ADDR PORT BYTES
           GET /metrics, reads BYTES of the reply and closes the socket
           with a reset; prints "read N".

Python standard library only.
"""
import socket
import struct
import sys
import time


def connect(addr, port, timeout=5.0):
    s = socket.create_connection((addr, port), timeout=timeout)
    return s


def get(s, path, addr, port):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" %
               (path, addr, port)).encode())


def read_response(s):
    """One response with a Content-Length body; returns its status or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return None
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return status


def bound(addr, port, n):
    held = []
    for _ in range(n):
        s = connect(addr, port)
        get(s, "/healthz", addr, port)
        if read_response(s) != 200:
            print("a held connection was not served")
            return 1
        held.append(s)
    print("held %d" % len(held))
    sys.stdout.flush()
    extra = connect(addr, port)
    get(extra, "/healthz", addr, port)
    extra.settimeout(2.0)
    try:
        st = read_response(extra)
        print("answered early: %s" % st)
    except socket.timeout:
        print("waiting: no answer in 2.0 s")
    sys.stdout.flush()
    t0 = time.monotonic()
    held[0].close()
    extra.settimeout(5.0)
    try:
        st = read_response(extra)
        print("after one closed: %s in %.1f s" % (st, time.monotonic() - t0))
    except socket.timeout:
        print("after one closed: no answer in 5 s")
    for s in held[1:]:
        s.close()
    extra.close()
    return 0


def slow(addr, port, stall, out):
    # A small receive buffer: the kernel holds little for this reader.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5.0)
    s.connect((addr, port))
    t0 = time.monotonic()
    get(s, "/metrics", addr, port)
    time.sleep(stall)
    with open(out, "w") as f:
        f.write("stalled\n")
    s.settimeout(5.0)
    data = bytearray()
    while True:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        if data.endswith(b"\r\n0\r\n\r\n"):
            break
        time.sleep(0.001)
    s.close()
    print("bytes %d complete %s seconds %.1f" % (
        len(data), "yes" if data.endswith(b"\r\n0\r\n\r\n") else "no",
        time.monotonic() - t0))
    return 0


def head(addr, port):
    s = connect(addr, port)
    s.sendall(("HEAD /metrics HTTP/1.1\r\nHost: %s:%d\r\n\r\n" %
               (addr, port)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            print("head none")
            return 0
        buf += chunk
    head, extra = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    s.settimeout(0.5)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            extra += chunk
    except socket.timeout:
        pass
    s.settimeout(3.0)
    get(s, "/healthz", addr, port)
    try:
        then = read_response(s)
    except socket.timeout:
        then = "none"
    print("head %d body %d then %s" % (status, len(extra), then))
    return 0


def cut(addr, port, want):
    s = connect(addr, port)
    get(s, "/metrics", addr, port)
    got = 0
    while got < want:
        chunk = s.recv(min(4096, want - got))
        if not chunk:
            break
        got += len(chunk)
    # A reset, not a polite close: the reader is gone at once.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("read %d" % got)
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "bound":
        return bound(argv[2], int(argv[3]), int(argv[4]))
    if len(argv) == 6 and argv[1] == "slow":
        return slow(argv[2], int(argv[3]), float(argv[4]), argv[5])
    if len(argv) == 4 and argv[1] == "head":
        return head(argv[2], int(argv[3]))
    if len(argv) == 5 and argv[1] == "cut":
        return cut(argv[2], int(argv[3]), int(argv[4]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
