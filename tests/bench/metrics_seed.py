#!/usr/bin/env python3
"""Stop-state seeding for tests/bench/metrics: adds COUNT rows to the
`tracked` table of a stopped certfleetd's database, in one transaction.

usage: metrics_seed.py DB COUNT [--seed N]

The database must have been created and migrated by certfleetd (start it
once on a fresh --state-dir, stop it) and the daemon must not be running.
The rows continue after the largest id.  Mix (fixed by --seed):
  * 90% host items `hNNNNNNN.example.test:443`, 10% pem items;
  * 90-day certificates (pem: 10% 1-year ones) with notAfter spread from
    10 days ago to 90 days ahead, so some expired, some expiring;
  * host items: 3% failing (check_failures 1..5, check_error set), 2% with
    chain_valid 0 (verify_error set), 1% with hostname_match 0;
  * host items are seeded deactivated (active 0, next_check_at NULL):
    `track check --all` checks every *active* host item, and the bench's
    load is a check --all of its 2,000 real hosts.  The scrape reads every
    row whatever `active` says (the aggregates and the per-item series
    ignore it), so this changes nothing in its cost.  pem items are active
    (they are never re-fetched; next_check_at NULL as for any pem item).
  * no rows in `expiry`: the daemon would otherwise warn about the
    expiring ones at start (a burst of events unrelated to the scrape).
Prints one JSON object: {"rows", "seconds", "host", "pem", "db_bytes"}.
Python standard library only.
"""
import argparse
import hashlib
import json
import os
import random
import sqlite3
import sys
import time

DAY = 86400

ISSUERS = [  # (issued_by, issuer DN, weight)
    ("R10", "C=US, O=Let's Encrypt, CN=R10", 35),
    ("R11", "C=US, O=Let's Encrypt, CN=R11", 35),
    ("E5", "C=US, O=Let's Encrypt, CN=E5", 10),
    ("Sectigo RSA Domain Validation Secure Server CA",
     "C=GB, ST=Greater Manchester, L=Salford, O=Sectigo Limited, "
     "CN=Sectigo RSA Domain Validation Secure Server CA", 10),
    ("Example Corp Internal Issuing CA 2",
     "DC=test, DC=example, O=Example Corp, CN=Example Corp Internal "
     "Issuing CA 2", 10),
]

ERRORS = [
    "connect: Connection refused",
    "connect: timed out after 5 s",
    "tls: handshake timed out after 10 s",
    "dns: NXDOMAIN",
    "tls: alert handshake failure",
]

COLUMNS = ("id", "source", "active", "check_error", "common_name",
           "issued_by", "issuer", "subject", "serial_number",
           "signature_algorithm", "public_key", "fingerprint_sha256",
           "valid_from", "valid_until", "subject_alt_names", "created_at",
           "last_checked_at", "next_check_at", "host", "port", "sni",
           "address", "tls_version", "cipher", "chain_valid",
           "hostname_match", "verify_error", "chain_length", "chain_sha256",
           "check_failures")


def rows(first_id, count, now, rng):
    iss_names = [x for x in ISSUERS for _ in range(x[2])]
    for k in range(count):
        i = first_id + k
        pem = rng.random() < 0.10
        cn = ("p%07d.example.test" if pem else "h%07d.example.test") % i
        issued_by, issuer, _ = rng.choice(iss_names)
        life = 365 * DAY if pem and rng.random() < 0.10 else 90 * DAY
        # notAfter between 10 days ago and the end of a fresh certificate.
        until = now - 10 * DAY + int(rng.random() * (life + 10 * DAY))
        frm = until - life + 1
        fp = hashlib.sha256(b"certfleet-bench-%d" % i).hexdigest()
        serial = "%032X" % rng.getrandbits(128)
        ec = rng.random() < 0.3
        sans = json.dumps([cn, "www." + cn] if rng.random() < 0.5 else [cn])
        created = now - 200 * DAY + int(rng.random() * 100 * DAY)
        if pem:
            yield (i, "pem", 1, None, cn, issued_by, issuer, "CN=" + cn,
                   serial, "ecdsa-with-SHA256" if ec else
                   "sha256WithRSAEncryption",
                   "EC P-256" if ec else "RSA 2048", fp, frm, until, sans,
                   created, None, None, None, None, None, None, None, None,
                   None, None, None, None, None, 0)
            continue
        r = rng.random()
        failures, err = 0, None
        chain_valid, match, verify = 1, 1, None
        if r < 0.03:
            failures = rng.randint(1, 5)
            err = rng.choice(ERRORS)
        elif r < 0.05:
            chain_valid = 0
            verify = "unable to get local issuer certificate"
        elif r < 0.06:
            match = 0
        checked = now - int(rng.random() * 30 * DAY)
        yield (i, "host", 0, err, cn, issued_by, issuer, "CN=" + cn, serial,
               "ecdsa-with-SHA256" if ec else "sha256WithRSAEncryption",
               "EC P-256" if ec else "RSA 2048", fp, frm, until, sans,
               created, checked, None, cn, 443, None,
               "192.0.2.%d" % (i % 250 + 1), "TLSv1.3",
               "TLS_AES_256_GCM_SHA384", chain_valid, match, verify, 2,
               hashlib.sha256(b"chain-%d" % i).hexdigest(), failures)


def seed(db, count, seed_value=1):
    t0 = time.monotonic()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    have = {r[1] for r in con.execute("PRAGMA table_info(tracked)")}
    missing = [c for c in COLUMNS if c not in have]
    if missing:
        sys.exit("metrics_seed.py: tracked has no column %s"
                 % ", ".join(missing))
    first = (con.execute("SELECT coalesce(max(id), 0) FROM tracked")
             .fetchone()[0]) + 1
    now = int(time.time())
    rng = random.Random(seed_value)
    sql = "INSERT INTO tracked (%s) VALUES (%s)" % (
        ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))
    con.execute("BEGIN")
    con.executemany(sql, rows(first, count, now, rng))
    con.execute("COMMIT")
    host, pem = con.execute(
        "SELECT sum(source = 'host'), sum(source = 'pem') FROM tracked "
        "WHERE id >= ?", (first,)).fetchone()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"rows": count, "first_id": first,
            "seconds": round(time.monotonic() - t0, 2),
            "host": host or 0, "pem": pem or 0,
            "db_bytes": os.path.getsize(db)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("db")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(a.db):
        sys.exit("metrics_seed.py: no database " + a.db)
    print(json.dumps(seed(a.db, a.count, a.seed)))


if __name__ == "__main__":
    main()
