#!/usr/bin/env python3
"""Test servers for the host-tracking integration tests (loopback only).

usage: tlsserver.py MODE ADDR PORT [options]

MODE is one of
  tls        TLS with the chain in --cert (leaf first) and --key; serves
             any number of connections, one thread each
  hugechain  like tls, but presents the leaf followed by --repeat (200)
             copies of the last certificate of --cert, more if needed to
             make at least 160 KiB: well over the probe's 128 KiB limit
  silent     accept and never say anything (hold the connection open)
  garbage    read what the client sends, answer with bytes that are not
             TLS (a fixed non-TLS first byte, then random bytes), close
  close      accept and close at once
  trickle    send a TLS handshake record header announcing 16 KiB, then
             one byte per second, forever (until the peer goes away)
  backlog    listen with a backlog of 1, fill it and never accept, so
             that further connection attempts are never answered
  dns        a UDP DNS server: names given with --map NAME=IP get their
             A/AAAA records, anything else is answered NXDOMAIN
  dnssilent  a UDP socket that reads queries and never answers

ADDR must be a loopback address (127.0.0.0/8 or ::1); anything else is
refused.  PORT 0 picks a free port.  Prints "ready PORT" on stdout once
listening, then serves until SIGTERM or SIGINT.

Options:
  --cert FILE      certificate chain, PEM, leaf first (tls, hugechain)
  --key FILE       the leaf's private key (tls, hugechain)
  --tls12          tls: offer TLS 1.2 only, with --ciphers
  --ciphers LIST   tls: OpenSSL cipher list for TLS 1.2
  --repeat N       hugechain: copies of the intermediate (200)
  --log FILE       append one line per event: "accept UNIXTIME", "hs VERSION
                   CIPHER SNI" after a handshake (SNI "-" when none was
                   sent), "hsfail REASON", "query NAME TYPE" (dns)
  --map NAME=IP    dns: an answer (repeatable; IPv4 or IPv6)
  --vhost NAME=CHAIN,KEY
                   tls: a client sending SNI NAME gets this chain and key
                   instead (repeatable)

Python standard library only.
"""
import ipaddress
import os
import random
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time

LOG_LOCK = threading.Lock()
LOG_FILE = None


def log(line):
    if LOG_FILE is None:
        return
    with LOG_LOCK:
        with open(LOG_FILE, "a") as f:
            f.write(line + "\n")


def usage(msg):
    sys.stderr.write("tlsserver.py: %s\n" % msg)
    sys.exit(2)


def parse_args(argv):
    if len(argv) < 3:
        usage("usage: tlsserver.py MODE ADDR PORT [options]")
    opts = {"mode": argv[0], "addr": argv[1], "port": int(argv[2]),
            "cert": None, "key": None, "tls12": False, "ciphers": None,
            "repeat": 200, "log": None, "map": [], "vhost": []}
    i = 3
    while i < len(argv):
        a = argv[i]
        if a == "--tls12":
            opts["tls12"] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            usage("%s needs a value" % a)
        v = argv[i + 1]
        if a == "--cert":
            opts["cert"] = v
        elif a == "--key":
            opts["key"] = v
        elif a == "--ciphers":
            opts["ciphers"] = v
        elif a == "--repeat":
            opts["repeat"] = int(v)
        elif a == "--log":
            opts["log"] = v
        elif a == "--vhost":
            name, _, files = v.partition("=")
            chain, _, key = files.partition(",")
            opts["vhost"].append((name.lower(), chain, key))
        elif a == "--map":
            name, _, ip = v.partition("=")
            opts["map"].append((name.lower().rstrip("."),
                                ipaddress.ip_address(ip)))
        else:
            usage("unknown option %s" % a)
        i += 2
    ip = ipaddress.ip_address(opts["addr"])
    if not ip.is_loopback:
        usage("refusing non-loopback address %s" % opts["addr"])
    opts["family"] = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return opts


def read_pem_certs(path):
    certs, cur = [], None
    with open(path) as f:
        for line in f:
            if line.startswith("-----BEGIN CERTIFICATE-----"):
                cur = [line]
            elif cur is not None:
                cur.append(line)
                if line.startswith("-----END CERTIFICATE-----"):
                    certs.append("".join(cur))
                    cur = None
    return certs


def make_ctx(opts, chain, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    if opts["tls12"]:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if opts["ciphers"]:
        ctx.set_ciphers(opts["ciphers"])
    ctx.load_cert_chain(chain, key)
    return ctx


def tls_context(opts):
    if not opts["cert"] or not opts["key"]:
        usage("%s needs --cert and --key" % opts["mode"])
    chain = opts["cert"]
    if opts["mode"] == "hugechain":
        certs = read_pem_certs(chain)
        if len(certs) < 2:
            usage("hugechain needs a leaf and an intermediate in --cert")
        # At least --repeat copies, and at least 160 KiB of DER in all.
        der = len("".join(certs[-1].splitlines()[1:-1])) * 3 // 4
        repeat = max(opts["repeat"], 160 * 1024 // der + 1)
        fd, chain = tempfile.mkstemp(prefix="hugechain.", suffix=".pem")
        with os.fdopen(fd, "w") as f:
            f.write(certs[0])
            for _ in range(repeat):
                f.write(certs[-1])
    ctx = make_ctx(opts, chain, opts["key"])
    if chain != opts["cert"]:
        os.unlink(chain)
    vhosts = dict((n, make_ctx(opts, c, k)) for (n, c, k) in opts["vhost"])

    def sni_cb(sslobj, name, _ctx):
        sslobj.cf_sni = name
        if name is not None and name.lower() in vhosts:
            sslobj.context = vhosts[name.lower()]
    ctx.sni_callback = sni_cb
    return ctx


def drain(conn, limit=None):
    """Reads until EOF, error, or limit seconds."""
    end = None if limit is None else time.monotonic() + limit
    try:
        while True:
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    return
                conn.settimeout(left)
            if not conn.recv(4096):
                return
    except (OSError, ValueError):
        return


def handle_tls(conn, ctx):
    conn.settimeout(10)
    try:
        s = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError) as e:
        log("hsfail %s" % (getattr(e, "reason", None) or e.__class__.__name__))
        return
    sni = getattr(s, "cf_sni", None) or "-"
    c = s.cipher()
    log("hs %s %s %s" % (s.version(), c[0] if c else "-", sni))
    drain(s, 5)
    try:
        s.close()
    except OSError:
        pass


def handle(opts, ctx, conn):
    mode = opts["mode"]
    log("accept %.3f" % time.time())
    try:
        if mode in ("tls", "hugechain"):
            handle_tls(conn, ctx)
        elif mode == "silent":
            drain(conn)
        elif mode == "garbage":
            drain(conn, 0.3)            # the ClientHello: no RST on close
            junk = bytes([0x47]) + os.urandom(1023)
            conn.sendall(junk)
            conn.shutdown(socket.SHUT_WR)
            drain(conn, 2)
        elif mode == "close":
            pass
        elif mode == "trickle":
            # A handshake record of 16384 bytes: the client waits for it
            # all, one byte a second.
            stream = b"\x16\x03\x03\x40\x00"
            conn.setblocking(True)
            i = 0
            while True:
                b = stream[i:i + 1] if i < len(stream) else b"\x00"
                i += 1
                conn.sendall(b)
                # Wait a second, noticing the peer going away.
                conn.settimeout(1.0)
                try:
                    if conn.recv(4096) == b"":
                        break
                    time.sleep(1.0)     # data, not EOF: keep the pace
                except socket.timeout:
                    pass
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


# --- DNS ---------------------------------------------------------------------

def dns_answer(query, mapping):
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    if qd != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(query):
            return None
        n = query[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(query[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
    question = query[12:pos + 4]
    name = ".".join(labels).lower()
    log("query %s %d" % (name, qtype))
    known = [ip for (n, ip) in mapping if n == name]
    answers = []
    if qclass == 1:
        for ip in known:
            if (qtype == 1 and ip.version == 4) or (qtype == 28 and ip.version == 6):
                answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, 60,
                                           len(ip.packed)) + ip.packed)
    rcode = 0 if known else 3                       # NXDOMAIN
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    return (struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
            + question + b"".join(answers))


def serve_dns(opts, sock):
    while True:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            continue
        reply = dns_answer(data, opts["map"])
        if reply is not None:
            try:
                sock.sendto(reply, peer)
            except OSError:
                pass


# --- main --------------------------------------------------------------------

def main():
    global LOG_FILE
    opts = parse_args(sys.argv[1:])
    LOG_FILE = opts["log"]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    mode = opts["mode"]
    if mode not in ("tls", "hugechain", "silent", "garbage", "close",
                    "trickle", "backlog", "dns", "dnssilent"):
        usage("unknown mode %s" % mode)

    if mode in ("dns", "dnssilent"):
        sock = socket.socket(opts["family"], socket.SOCK_DGRAM)
        sock.bind((opts["addr"], opts["port"]))
        print("ready %d" % sock.getsockname()[1], flush=True)
        if mode == "dns":
            serve_dns(opts, sock)
        while True:
            data, _ = sock.recvfrom(4096)
            log("dropped %d bytes" % len(data))

    ctx = tls_context(opts) if mode in ("tls", "hugechain") else None
    sock = socket.socket(opts["family"], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((opts["addr"], opts["port"]))
    port = sock.getsockname()[1]
    if mode == "backlog":
        sock.listen(0)
        # Fill the accept queue from here: later SYNs go unanswered.
        fillers = []
        for _ in range(4):
            c = socket.socket(opts["family"], socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((opts["addr"], port))
            except (BlockingIOError, OSError):
                pass
            fillers.append(c)
        time.sleep(0.2)
        print("ready %d" % port, flush=True)
        while True:
            time.sleep(3600)
    sock.listen(512)
    print("ready %d" % port, flush=True)
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        t = threading.Thread(target=handle, args=(opts, ctx, conn), daemon=True)
        t.start()


if __name__ == "__main__":
    main()
