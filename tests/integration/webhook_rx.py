#!/usr/bin/python3
"""A loopback webhook receiver for the event integration tests.

usage: webhook_rx.py --listen ADDR:PORT --port-file PF --log LOG
                     [--secret whsec_BASE64] [--fail-every N]
                     [--fail-status CODE] [--retry-after S] [--gone]
                     [--hang] [--huge-body] [--redirect] [--delay-ms D]
       webhook_rx.py --sign SECRET ID TS BODYFILE

Serves HTTP/1.1 with keep-alive on ADDR:PORT.  ADDR must be a loopback
address (127.0.0.0/8 or ::1; write IPv6 as [::1]:PORT); anything else is
refused.  PORT 0 picks a free port.  Once listening, the port number is
written to PF (a temporary file renamed into place, so PF is never seen
half-written).  Serves until SIGTERM or SIGINT, then exits 0.

Every request is logged to LOG as one JSON line (appended, flushed):
  {"n": request number (1, 2, ... over all connections),
   "conn": connection number (1, 2, ...; equal for keep-alive reuse),
   "method", "path",
   "id": the webhook-id header or null,
   "sig_ok": true/false, null without --secret,
   "sig_error": why sig_ok is false (absent when it is not false),
   "status": the status answered (null for --hang: no answer),
   "event_id": body["id"] or null, "kind": body["kind"] or null,
   "body": the parsed JSON body, or null if it is not JSON (then
           "body_raw" holds the text),
   "headers": {lower-case name: value} for webhook-*, content-type,
              content-length, transfer-encoding, user-agent, connection,
              host, retry-after ... (the ones a test may want to see)}

The Standard Webhooks signature (https://www.standardwebhooks.com) is
checked with --secret: the key is the base64 decoding of the secret after
an optional "whsec_" prefix; webhook-signature is a space-separated list
of "v1,BASE64(HMAC-SHA256(key, ID.TIMESTAMP.BODY))", at least one of which
must match (other versions are ignored); webhook-timestamp (unix seconds)
must be within 5 minutes of now.  Without --secret nothing is checked
(the Slack format, which posts {"text": "..."}).

The status answered, first rule that applies:
  --hang        read the request, log it, never answer; hold the
                connection until the peer closes it
  --huge-body   200 with Content-Length 1 GiB, then write that much (or
                until the peer goes away), then close
  --redirect    302 to http://127.0.0.1:1/
  --gone        410
  --fail-every N  when n % N == 0: --fail-status (503), with
                "Retry-After: S" if --retry-after S is given
  bad signature 401
  body not JSON 400
  method not POST 405
  otherwise     200
--delay-ms D sleeps D milliseconds before any answer.

--sign SECRET ID TS BODYFILE prints the signature header value
("v1,BASE64") for that message; BODYFILE "-" reads standard input.

Prints nothing on stdout; errors go to stderr.  Python standard library
only.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

TOLERANCE = 5 * 60
HUGE = 1 << 30
LOGGED_HEADERS = ("content-type", "content-length", "transfer-encoding",
                  "user-agent", "connection", "host", "accept", "expect")

LOG_LOCK = threading.Lock()
COUNT_LOCK = threading.Lock()
COUNTERS = {"n": 0, "conn": 0}


def die(msg):
    sys.stderr.write("webhook_rx.py: %s\n" % msg)
    sys.exit(2)


def secret_key(secret):
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    try:
        return base64.b64decode(secret, validate=True)
    except ValueError:
        die("the secret is not base64 (after the whsec_ prefix)")


def sign(key, msg_id, ts, body):
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def check_signature(key, headers, body):
    """Returns (ok, error)."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if msg_id is None or ts is None or sigs is None:
        return False, "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        t = int(ts)
    except ValueError:
        return False, "webhook-timestamp is not an integer"
    if abs(time.time() - t) > TOLERANCE:
        return False, "webhook-timestamp more than 5 minutes from now"
    want = sign(key, msg_id, ts, body).encode()
    ok = False
    for s in sigs.split(" "):
        if not s.startswith("v1,"):
            continue
        # No early exit: every entry is compared.
        if hmac.compare_digest(s.encode(), want):
            ok = True
    return (True, None) if ok else (False, "no v1 signature matches")


def write_log(path, rec):
    line = json.dumps(rec, sort_keys=True) + "\n"
    with LOG_LOCK:
        with open(path, "a") as f:
            f.write(line)
            f.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120                 # idle keep-alive connections

    def version_string(self):
        return "webhook_rx"

    def setup(self):
        super().setup()
        with COUNT_LOCK:
            COUNTERS["conn"] += 1
            self.conn_no = COUNTERS["conn"]

    def log_message(self, *args):
        pass

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(n)

    def answer(self, status, body=b"", extra=()):
        if self.server.opts.delay_ms:
            time.sleep(self.server.opts.delay_ms / 1000.0)
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def hang(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.settimeout(None)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def huge(self):
        self.close_connection = True
        if self.server.opts.delay_ms:
            time.sleep(self.server.opts.delay_ms / 1000.0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        chunk = b" " * 65536
        left = HUGE
        try:
            while left > 0:
                n = min(left, len(chunk))
                self.wfile.write(chunk[:n])
                left -= n
            self.wfile.flush()
        except OSError:
            pass

    def handle_any(self):
        opts = self.server.opts
        with COUNT_LOCK:
            COUNTERS["n"] += 1
            n = COUNTERS["n"]
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            write_log(opts.log, {"n": n, "conn": self.conn_no,
                                 "method": self.command, "path": self.path,
                                 "status": 400, "error": "unreadable body"})
            try:
                self.answer(400, b"bad request body\n")
            except OSError:
                pass
            return
        hdrs = {}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk.startswith("webhook-") or lk in LOGGED_HEADERS:
                hdrs[lk] = v
        rec = {"n": n, "conn": self.conn_no, "method": self.command,
               "path": self.path, "id": hdrs.get("webhook-id"),
               "sig_ok": None, "status": None, "event_id": None,
               "kind": None, "body": None, "headers": hdrs}
        if self.server.key is not None:
            ok, err = check_signature(self.server.key, hdrs, body)
            rec["sig_ok"] = ok
            if err:
                rec["sig_error"] = err
        is_json = True
        try:
            rec["body"] = json.loads(body)
        except ValueError:
            is_json = False
            rec["body_raw"] = body.decode("utf-8", "replace")
        if isinstance(rec["body"], dict):
            rec["event_id"] = rec["body"].get("id")
            rec["kind"] = rec["body"].get("kind")

        if opts.hang:
            write_log(opts.log, rec)
            self.hang()
            return
        if opts.huge_body:
            rec["status"] = 200
            write_log(opts.log, rec)
            self.huge()
            return
        extra = []
        if opts.redirect:
            status = 302
            extra.append(("Location", "http://127.0.0.1:1/"))
        elif opts.gone:
            status = 410
        elif opts.fail_every and n % opts.fail_every == 0:
            status = opts.fail_status
            if opts.retry_after is not None:
                extra.append(("Retry-After", opts.retry_after))
        elif rec["sig_ok"] is False:
            status = 401
        elif not is_json:
            status = 400
        elif self.command != "POST":
            status = 405
        else:
            status = 200
        rec["status"] = status
        write_log(opts.log, rec)
        try:
            self.answer(status, b"ok\n" if status == 200 else
                        ("%d\n" % status).encode(), extra)
        except OSError:
            self.close_connection = True

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # Not HTTPServer.server_bind: no reverse lookup of the address.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


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


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--sign":
        if len(sys.argv) != 6:
            die("usage: webhook_rx.py --sign SECRET ID TS BODYFILE")
        _, _, secret, msg_id, ts, path = sys.argv
        if path == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                body = f.read()
        print(sign(secret_key(secret), msg_id, ts, body))
        return

    p = argparse.ArgumentParser(prog="webhook_rx.py")
    p.add_argument("--listen", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--secret")
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after")
    p.add_argument("--gone", action="store_true")
    p.add_argument("--hang", action="store_true")
    p.add_argument("--huge-body", action="store_true")
    p.add_argument("--redirect", action="store_true")
    p.add_argument("--delay-ms", type=int, default=0)
    opts = p.parse_args()
    if opts.fail_every < 0:
        die("--fail-every wants N >= 1")

    ip, port = parse_listen(opts.listen)
    key = secret_key(opts.secret) if opts.secret is not None else None

    cls = Server
    if ip.version == 6:
        cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    srv = cls((str(ip), port), Handler)
    srv.opts = opts
    srv.key = key

    def stop(*_):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    tmp = "%s.tmp.%d" % (opts.port_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except SystemExit:
        pass
    finally:
        srv.server_close()
    # Handler threads (a hanging or streaming connection) are daemon
    # threads: leave without waiting for them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
