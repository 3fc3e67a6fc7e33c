#!/usr/bin/env python3
"""Daemon.Status round trips on one kept connection, for tests/bench/metrics.

usage: metrics_rtt.py SOCKET OUTFILE [--interval-ms 10]

Sends `[0, id, "Daemon.Status", []]` (4-byte big-endian length + msgpack)
on one connection to the control socket, waits for the answer, sleeps
--interval-ms and again, until SIGTERM.  Each round trip is one line of
OUTFILE: "START RTT" in seconds, START on CLOCK_MONOTONIC (comparable with
the bench's time.monotonic()).  A lost connection is reconnected and
written as "START -1".  A separate process, so the bench's own work (its
GIL) never delays a sample; pin it with taskset.
"""
import argparse
import signal
import socket
import struct
import sys
import time

BODY = b"\x94\x00\x01\xad" + b"Daemon.Status" + b"\x90"
FRAME = struct.pack(">I", len(BODY)) + BODY


def recv_exact(s, n):
    got = bytearray()
    while len(got) < n:
        c = s.recv(n - len(got))
        if not c:
            raise ConnectionError("closed")
        got += c
    return bytes(got)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("socket")
    ap.add_argument("outfile")
    ap.add_argument("--interval-ms", type=float, default=10.0)
    a = ap.parse_args()
    halt = []
    signal.signal(signal.SIGTERM, lambda *_: halt.append(1))
    signal.signal(signal.SIGINT, lambda *_: halt.append(1))
    out = open(a.outfile, "w", buffering=1 << 16)
    s = None
    while not halt:
        t = time.monotonic()
        try:
            if s is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(30)
                s.connect(a.socket)
                t = time.monotonic()
            s.sendall(FRAME)
            n = struct.unpack(">I", recv_exact(s, 4))[0]
            recv_exact(s, n)
            out.write("%.6f %.6f\n" % (t, time.monotonic() - t))
        except (OSError, ConnectionError):
            out.write("%.6f -1\n" % t)
            if s is not None:
                s.close()
            s = None
            time.sleep(0.1)
        time.sleep(a.interval_ms / 1000.0)
    out.close()
    if s is not None:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
