#!/usr/bin/env python3
"""A typical Python asyncio TLS prober, as a baseline for certfleetd.

usage: pyprobe.py TARGETS_FILE --cafile ROOT.pem [--concurrency 500]
                  [--timeout 10] [--limit N]

TARGETS_FILE: one target per line, `HOST:PORT SNI` (the format of
`certfleet track import`).  For each target: open a TLS connection with
asyncio + ssl (one shared context that verifies against --cafile and checks
the host name), read the peer certificate (DER), close.  A semaphore bounds
the probes in flight.  Prints one JSON object on stdout:
  {"probed", "ok", "failed", "seconds", "rate", "maxrss_kb", "causes"}
Every HOST must be a loopback address.  Python standard library only.
"""
import argparse
import asyncio
import ipaddress
import json
import resource
import ssl
import sys
import time


def read_targets(path, limit):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            host, port = parts[0].rsplit(":", 1)
            host = host.strip("[]")
            if not ipaddress.ip_address(host).is_loopback:
                sys.exit("pyprobe.py: refusing non-loopback address " + host)
            sni = parts[1] if len(parts) > 1 else None
            out.append((host, int(port), sni))
            if limit and len(out) >= limit:
                break
    return out


def cause_of(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "verify:" + str(exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        return "tls:" + (exc.reason or type(exc).__name__)
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, (asyncio.IncompleteReadError, EOFError)):
        return "eof"
    return type(exc).__name__


async def probe_one(ctx, host, port, sni, timeout):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname=sni,
                                ssl_handshake_timeout=timeout),
        timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(
            binary_form=True)
        if not der:
            raise ssl.SSLError("no peer certificate")
        return der
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except Exception:
            pass


async def run(targets, cafile, concurrency, timeout):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    sem = asyncio.Semaphore(concurrency)
    causes = {}
    ok = 0

    async def one(t):
        nonlocal ok
        async with sem:
            try:
                await probe_one(ctx, t[0], t[1], t[2], timeout)
                ok += 1
            except Exception as e:  # noqa: BLE001 - a prober counts them all
                c = cause_of(e)
                causes[c] = causes.get(c, 0) + 1

    start = time.monotonic()
    await asyncio.gather(*(one(t) for t in targets))
    return ok, causes, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets")
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    targets = read_targets(a.targets, a.limit)
    ok, causes, secs = asyncio.run(
        run(targets, a.cafile, a.concurrency, a.timeout))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "probed": len(targets), "ok": ok, "failed": len(targets) - ok,
        "seconds": round(secs, 3),
        "rate": round(len(targets) / secs, 1) if secs > 0 else 0,
        "maxrss_kb": ru.ru_maxrss, "cpu_seconds": round(
            ru.ru_utime + ru.ru_stime, 2),
        "concurrency": a.concurrency, "causes": causes}))


if __name__ == "__main__":
    main()
