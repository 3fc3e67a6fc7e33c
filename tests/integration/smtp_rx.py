#!/usr/bin/python3
"""A loopback SMTP server for the event integration tests (aiosmtpd).

usage: smtp_rx.py --listen ADDR:PORT --port-file PF --maildir DIR
                  [--starttls --cert CERT --key KEY] [--require-starttls]
                  [--auth USER:PASS] [--auth-optional]

Listens on ADDR:PORT.  ADDR must be a loopback address (127.0.0.0/8 or
::1; write IPv6 as [::1]:PORT); anything else is refused.  PORT 0 picks a
free port.  Once listening, the port number is written to PF (a temporary
file renamed into place, so PF is never seen half-written).  Serves until
SIGTERM or SIGINT, then exits 0.

  --starttls          offer STARTTLS with CERT (PEM chain, leaf first) and
                      KEY; without it STARTTLS is not offered (EHLO does
                      not list it, the command answers 454), so a client
                      that insists on TLS must give up
  --require-starttls  (with --starttls) refuse everything but EHLO/HELO,
                      NOOP, QUIT and STARTTLS before STARTTLS (530)
  --auth USER:PASS    offer AUTH PLAIN and LOGIN, accepting only USER with
                      PASS (535 otherwise); with --starttls AUTH is only
                      offered after STARTTLS, without it in plain text.
                      MAIL FROM is refused (530) until the client has
                      authenticated, unless --auth-optional is given

Each message accepted is stored as DIR/N.eml, the message as received (the
RFC 5322 header and body, dot-unstuffed, CRLF line ends), then DIR/N.json:
  {"n": N, "mail_from": "...", "rcpt_tos": ["...", ...],
   "tls": true if the session went through STARTTLS,
   "auth": the authenticated user name or null,
   "helo": the EHLO/HELO name, "peer": [addr, port], "size": bytes}
N counts from 1 (after the highest N already in DIR).  Both files are
written to a temporary name and renamed, the .json last: once N.json
exists, N.eml is complete.  DIR is created if missing.

Needs aiosmtpd (Debian: python3-aiosmtpd, 1.4.x in bookworm).  When the
python3 running this cannot import it (a pyenv python3 first in PATH, say),
the script re-executes itself with /usr/bin/python3.  Prints nothing on
stdout; errors go to stderr.
"""
import os
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    _SYS = "/usr/bin/python3"
    if (os.environ.get("SMTP_RX_REEXEC") is None and os.path.exists(_SYS)
            and os.path.realpath(sys.executable) != os.path.realpath(_SYS)):
        os.environ["SMTP_RX_REEXEC"] = "1"
        os.execv(_SYS, [_SYS, os.path.abspath(__file__)] + sys.argv[1:])
    sys.stderr.write("smtp_rx.py: cannot import aiosmtpd "
                     "(apt-get install python3-aiosmtpd)\n")
    sys.exit(2)

import argparse
import asyncio
import ipaddress
import json
import logging
import re
import signal
import ssl
import warnings


def die(msg):
    sys.stderr.write("smtp_rx.py: %s\n" % msg)
    sys.exit(2)


def parse_listen(s):
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
    else:
        host, sep, port = s.rpartition(":")
    if not sep:
        die("--listen wants ADDR:PORT")
    try:
        ip = ipaddress.ip_address(host)
        port = int(port)
    except ValueError:
        die("bad --listen %s" % s)
    if not ip.is_loopback:
        die("refusing non-loopback address %s" % host)
    return ip, port


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path),
                       ".%s.tmp.%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    os.replace(tmp, path)


def as_text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class Store:
    def __init__(self, maildir):
        self.maildir = maildir
        os.makedirs(maildir, exist_ok=True)
        high = 0
        for name in os.listdir(maildir):
            m = re.match(r"^(\d+)\.(eml|json)$", name)
            if m:
                high = max(high, int(m.group(1)))
        self.n = high

    async def handle_DATA(self, server, session, envelope):
        raw = getattr(envelope, "original_content", None)
        if raw is None:
            raw = envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.n += 1
        n = self.n
        base = os.path.join(self.maildir, str(n))
        meta = {"n": n,
                "mail_from": as_text(envelope.mail_from),
                "rcpt_tos": [as_text(r) for r in envelope.rcpt_tos],
                "tls": session.ssl is not None,
                "auth": (as_text(session.auth_data)
                         if session.authenticated else None),
                "helo": as_text(session.host_name),
                "peer": list(session.peer[:2]) if session.peer else None,
                "size": len(raw)}
        try:
            write_atomic(base + ".eml", raw)
            write_atomic(base + ".json",
                         (json.dumps(meta, sort_keys=True) + "\n").encode())
        except OSError as e:
            sys.stderr.write("smtp_rx.py: storing message %d: %s\n" % (n, e))
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def make_authenticator(user, password):
    user_b, pass_b = user.encode(), password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        if mechanism not in ("PLAIN", "LOGIN"):
            return AuthResult(success=False, handled=False)
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if auth_data.login == user_b and auth_data.password == pass_b:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)
    return authenticator


def main():
    p = argparse.ArgumentParser(prog="smtp_rx.py")
    p.add_argument("--listen", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--auth-optional", action="store_true")
    opts = p.parse_args()

    ip, port = parse_listen(opts.listen)
    if opts.require_starttls and not opts.starttls:
        die("--require-starttls needs --starttls")
    tls_ctx = None
    if opts.starttls:
        if not opts.cert or not opts.key:
            die("--starttls needs --cert and --key")
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(opts.cert, opts.key)
    auth = None
    if opts.auth is not None:
        user, sep, password = opts.auth.partition(":")
        if not sep or not user:
            die("--auth wants USER:PASS")
        auth = make_authenticator(user, password)

    # aiosmtpd warns through "mail.log" about settings chosen on purpose
    # here (AUTH without TLS); keep real errors only.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not")

    store = Store(opts.maildir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    kwargs = {"hostname": "smtp-rx.localhost",
              "decode_data": False,
              "tls_context": tls_ctx,
              "require_starttls": bool(opts.require_starttls),
              "loop": loop}
    if auth is not None:
        kwargs.update(authenticator=auth,
                      auth_required=not opts.auth_optional,
                      auth_require_tls=bool(opts.starttls),
                      auth_exclude_mechanism=[])
    else:
        kwargs.update(auth_require_tls=False)

    def factory():
        return SMTP(store, **kwargs)

    server = loop.run_until_complete(
        loop.create_server(factory, host=str(ip), port=port,
                           reuse_address=True))
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))

    bound = server.sockets[0].getsockname()[1]
    tmp = "%s.tmp.%d" % (opts.port_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % bound)
    os.replace(tmp, opts.port_file)

    loop.run_until_complete(stop)
    server.close()
    # Sessions still open would be torn down noisily by the garbage
    # collector; nothing is left to save, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
