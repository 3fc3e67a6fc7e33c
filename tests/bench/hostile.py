#!/usr/bin/env python3
"""Hostile TLS "endpoints" for the probe benchmark (loopback only).

usage: hostile.py TARGETS_FILE

TARGETS_FILE has one line per endpoint: `ADDR:PORT KIND`, where KIND is
  silent   accept and never say anything (hold the connection open)
  garbage  send some bytes that are not TLS, then close
  close    close the connection at once
  trickle  send a TLS record header announcing 16 KiB, then one byte
           per second, forever (until the peer goes away)

Every ADDR must be a loopback address (127.0.0.0/8 or ::1); anything else
is refused.  Prints "ready N" on stdout once all N listeners are up, then
serves until SIGTERM or SIGINT.  Python standard library only.
"""
import asyncio
import ipaddress
import os
import signal
import sys

GARBAGE = (b"HTTP/1.1 400 Bad Request\r\nServer: not-tls\r\n\r\n"
           + bytes(range(256)) + b"\x15\x03\x03\xff\xff")
# A handshake record header that announces 16384 bytes: a TLS client then
# waits for the rest, which arrives one byte per second.
TRICKLE_HEADER = b"\x16\x03\x03\x40\x00"


async def drain_until_eof(reader):
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass


async def handle(kind, reader, writer):
    try:
        if kind == "silent":
            await drain_until_eof(reader)
        elif kind == "garbage":
            writer.write(GARBAGE)
            await writer.drain()
        elif kind == "close":
            pass
        elif kind == "trickle":
            eof = asyncio.ensure_future(drain_until_eof(reader))
            stream = TRICKLE_HEADER
            i = 0
            while not eof.done():
                b = stream[i:i + 1] if i < len(stream) else b"\x00"
                i += 1
                writer.write(b)
                await writer.drain()
                try:
                    await asyncio.wait_for(asyncio.shield(eof), 1.0)
                except asyncio.TimeoutError:
                    pass
            eof.cancel()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main(path):
    targets = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            addr, kind = line.split()
            host, port = addr.rsplit(":", 1)
            host = host.strip("[]")
            if not ipaddress.ip_address(host).is_loopback:
                sys.exit("hostile.py: refusing non-loopback address " + host)
            if kind not in ("silent", "garbage", "close", "trickle"):
                sys.exit("hostile.py: unknown kind " + kind)
            targets.append((host, int(port), kind))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)

    servers = []
    for host, port, kind in targets:
        srv = await asyncio.start_server(
            lambda r, w, k=kind: handle(k, r, w), host, port,
            reuse_address=True, backlog=1024)
        servers.append(srv)
    print("ready", len(servers), flush=True)
    await stop.wait()
    for srv in servers:
        srv.close()
    # Do not wait for handlers (trickle ones run forever): just exit.
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))
