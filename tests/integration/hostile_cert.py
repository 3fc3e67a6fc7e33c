#!/usr/bin/env python3
"""Hostile X.509 certificates for the integration tests, built by hand.

usage: hostile_cert.py --key KEY --out FILE [options]

Writes one X.509 v3 certificate (PEM, or DER with --der) for the public half
of KEY.  Its names hold exactly the bytes given, whatever they are: control
characters, invalid UTF-8, bytes no encoder would write.  The certificate is
DER-encoded here (a small encoder, below) and signed with `openssl dgst
-sha256 -sign`, so the signature is valid and a chain made with it verifies.
Python standard library and the openssl command only.

Options:
  --key FILE          the subject's private key (EC P-256/P-384/P-521 or RSA,
                      PEM); its public half goes in the certificate
  --out FILE          where to write the certificate
  --ca-key FILE       sign with this key (default: --key, self-signed)
  --ca-cert FILE      the issuing CA's certificate (PEM or DER): its subject
                      is copied verbatim as our issuer, and its subject key
                      identifier (if any) becomes our authority key identifier
  --subject ATTR:TYPE:VALUE
  --issuer ATTR:TYPE:VALUE
                      one RDN of the subject / issuer, in order, repeatable.
                      ATTR is CN, O, OU, C, L, ST, SN, GN, DC, E (email), or
                      a dotted OID.  TYPE is the string type: utf8 (0x0c),
                      t61 (0x14), ia5 (0x16), printable (0x13), bmp (0x1e),
                      universal (0x1c), visible (0x1a), numeric (0x12), or a
                      tag number (e.g. 0x0c).  VALUE is the content bytes in
                      hex ("1b5b33316d"), "@FILE" for the raw bytes of FILE,
                      or "=TEXT" for TEXT in UTF-8 (for plain names).
                      Without --issuer, the issuer is the CA certificate's
                      subject (copied verbatim), else the subject.
  --san-dns VALUE     a dNSName (IA5String; VALUE as above), repeatable
  --san-ip ADDR       an iPAddress (dotted IPv4 or IPv6 text), repeatable
  --no-san            no subjectAltName extension even without SANs
                      (default: none when no --san-* is given)
  --not-before EPOCH  default: now - 1 hour
  --not-after EPOCH   default: now + 90 days
  --serial HEX        default: 16 random bytes
  --is-ca             basicConstraints CA:TRUE and keyUsage keyCertSign,
                      cRLSign (default: CA:FALSE, digitalSignature,
                      keyEncipherment, and extendedKeyUsage serverAuth)
  --der               write DER instead of PEM

Exit status 0 on success, 2 on a usage error, 1 when openssl fails.
"""
import base64
import binascii
import datetime
import hashlib
import ipaddress
import os
import subprocess
import sys
import tempfile
import time

# --- DER encoding ------------------------------------------------------------


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    # DER sorts SET OF by encoding; our RDNs hold one attribute each.
    return tlv(0x31, b"".join(sorted(items)))


def integer(v):
    if isinstance(v, bytes):
        b = v.lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return tlv(0x02, b)
    if v == 0:
        return tlv(0x02, b"\x00")
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return tlv(0x02, b)


def boolean(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


def octet_string(b):
    return tlv(0x04, b)


def bit_string(b, unused=0):
    return tlv(0x03, bytes([unused]) + b)


def null():
    return b"\x05\x00"


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2:
        raise ValueError("bad OID " + dotted)
    out = bytearray()
    for n in [parts[0] * 40 + parts[1]] + parts[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def explicit(n, content):
    return tlv(0xA0 | n, content)


def asn1_time(epoch):
    t = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    if 1950 <= t.year < 2050:
        return tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


# --- DER decoding (just enough to read a CA certificate and an SPKI) ---------


def der_read(buf, pos=0):
    """One TLV at pos: (tag, content_start, end)."""
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError("truncated DER")
    return tag, pos, pos + n


def der_children(buf, start, end):
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = der_read(buf, pos)
        out.append((tag, cs, ce, pos))
        pos = ce
    return out


def load_cert_der(path):
    data = open(path, "rb").read()
    if b"-----BEGIN CERTIFICATE-----" in data:
        body = data.split(b"-----BEGIN CERTIFICATE-----", 1)[1]
        body = body.split(b"-----END CERTIFICATE-----", 1)[0]
        data = base64.b64decode(b"".join(body.split()))
    return data


def ca_subject_and_ski(der):
    """The CA's subject Name TLV (verbatim) and its subjectKeyIdentifier."""
    _, cs, ce = der_read(der)
    tbs = der_children(der, cs, ce)[0]
    kids = der_children(der, tbs[1], tbs[2])
    i = 1 if kids[0][0] == 0xA0 else 0
    # serial, signature, issuer, validity, subject, spki, ...
    subj = kids[i + 4]
    subject = der[subj[3]:subj[2]]
    ski = None
    for tag, s, e, _ in kids[i + 6:]:
        if tag != 0xA3:
            continue
        exts = der_children(der, s, e)[0]
        for _, es, ee, _ in der_children(der, exts[1], exts[2]):
            parts = der_children(der, es, ee)
            if der[parts[0][3]:parts[0][2]] == oid("2.5.29.14"):
                val = der[parts[-1][1]:parts[-1][2]]
                _, ks, ke = der_read(val)
                ski = val[ks:ke]
    return subject, ski


# --- names -------------------------------------------------------------------

ATTRS = {
    "CN": "2.5.4.3", "SN": "2.5.4.4", "C": "2.5.4.6", "L": "2.5.4.7",
    "ST": "2.5.4.8", "O": "2.5.4.10", "OU": "2.5.4.11", "GN": "2.5.4.42",
    "DC": "0.9.2342.19200300.100.1.25", "E": "1.2.840.113549.1.9.1",
}
TYPES = {
    "utf8": 0x0C, "t61": 0x14, "teletex": 0x14, "ia5": 0x16,
    "printable": 0x13, "bmp": 0x1E, "universal": 0x1C, "visible": 0x1A,
    "numeric": 0x12,
}


def usage(msg):
    sys.stderr.write("hostile_cert.py: %s\n" % msg)
    sys.exit(2)


def value_bytes(v):
    if v.startswith("@"):
        return open(v[1:], "rb").read()
    if v.startswith("="):
        return v[1:].encode("utf-8", "surrogateescape")
    try:
        return binascii.unhexlify(v)
    except (binascii.Error, ValueError):
        usage("not hex: %r (use =TEXT or @FILE)" % v[:40])


def rdn(spec):
    parts = spec.split(":", 2)
    if len(parts) != 3:
        usage("want ATTR:TYPE:VALUE, got %r" % spec[:40])
    attr, typ, val = parts
    a = ATTRS.get(attr.upper(), attr)
    if not all(p.isdigit() for p in a.split(".")):
        usage("unknown attribute %r" % attr)
    t = TYPES.get(typ.lower())
    if t is None:
        try:
            t = int(typ, 0)
        except ValueError:
            usage("unknown string type %r" % typ)
    return set_of(seq(oid(a), tlv(t, value_bytes(val))))


def name(specs):
    return seq(*[rdn(s) for s in specs])


# --- keys and signing --------------------------------------------------------

OID_EC = oid("1.2.840.10045.2.1")
OID_RSA = oid("1.2.840.113549.1.1.1")


def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write("hostile_cert.py: openssl %s failed: %s\n" %
                         (args[0], p.stderr.decode(errors="replace").strip()))
        sys.exit(1)
    return p.stdout


def spki_of(key):
    return openssl("pkey", "-in", key, "-pubout", "-outform", "DER")


def sig_alg(spki):
    _, cs, ce = der_read(spki)
    alg = der_children(spki, cs, ce)[0]
    alg_oid = der_children(spki, alg[1], alg[2])[0]
    o = spki[alg_oid[3]:alg_oid[2]]
    if o == OID_EC:
        return seq(oid("1.2.840.10045.4.3.2"))          # ecdsa-with-SHA256
    if o == OID_RSA:
        return seq(oid("1.2.840.113549.1.1.11"), null())  # sha256WithRSA
    usage("only EC and RSA keys can sign here")


def key_id(spki):
    """RFC 5280 method 1: SHA-1 of the subjectPublicKey bits."""
    _, cs, ce = der_read(spki)
    bits = der_children(spki, cs, ce)[1]
    return hashlib.sha1(spki[bits[1] + 1:bits[2]]).digest()


def sign(key, tbs):
    with tempfile.NamedTemporaryFile(prefix="hostile-tbs.") as f:
        f.write(tbs)
        f.flush()
        return openssl("dgst", "-sha256", "-sign", key, f.name)


# --- extensions --------------------------------------------------------------


def ext(o, critical, value):
    parts = [oid(o)]
    if critical:
        parts.append(boolean(True))
    parts.append(octet_string(value))
    return seq(*parts)


def san_ip(text):
    try:
        return tlv(0x87, ipaddress.ip_address(text).packed)
    except ValueError:
        usage("not an IP address: %r" % text)


def key_usage(bits):
    """A KeyUsage BIT STRING from bit numbers (0 = digitalSignature)."""
    v = 0
    for b in bits:
        v |= 0x80 >> b
    last = max(bits)
    unused = 7 - last
    return bit_string(bytes([v]), unused)


# --- main --------------------------------------------------------------------


def parse(argv):
    o = {"subject": [], "issuer": [], "san": [], "no_san": False,
         "is_ca": False, "der": False, "key": None, "out": None,
         "ca_key": None, "ca_cert": None, "not_before": None,
         "not_after": None, "serial": None}
    multi = {"--subject": "subject", "--issuer": "issuer"}
    single = {"--key": "key", "--out": "out", "--ca-key": "ca_key",
              "--ca-cert": "ca_cert", "--not-before": "not_before",
              "--not-after": "not_after", "--serial": "serial"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            sys.exit(0)
        if a in ("--no-san", "--is-ca", "--der"):
            o[a[2:].replace("-", "_")] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            usage("%s wants a value" % a)
        v = argv[i + 1]
        if a in multi:
            o[multi[a]].append(v)
        elif a in single:
            o[single[a]] = v
        elif a == "--san-dns":
            o["san"].append(tlv(0x82, value_bytes(v)))
        elif a == "--san-ip":
            o["san"].append(san_ip(v))
        else:
            usage("unknown option %r" % a)
        i += 2
    if not o["key"] or not o["out"]:
        usage("--key and --out are required")
    if (o["ca_key"] is None) != (o["ca_cert"] is None):
        usage("--ca-key and --ca-cert go together")
    return o


def main(argv):
    o = parse(argv)
    now = int(time.time())
    nb = int(o["not_before"]) if o["not_before"] else now - 3600
    na = int(o["not_after"]) if o["not_after"] else now + 90 * 86400
    serial = (binascii.unhexlify(o["serial"]) if o["serial"]
              else b"\x01" + os.urandom(15))

    spki = spki_of(o["key"])
    subject = name(o["subject"])
    aki = None
    if o["ca_cert"]:
        ca_subject, aki = ca_subject_and_ski(load_cert_der(o["ca_cert"]))
        signer = o["ca_key"]
        alg = sig_alg(spki_of(signer))
    else:
        ca_subject = subject
        signer = o["key"]
        alg = sig_alg(spki)
        aki = key_id(spki)
    issuer = name(o["issuer"]) if o["issuer"] else ca_subject

    exts = []
    if o["is_ca"]:
        exts.append(ext("2.5.29.19", True, seq(boolean(True))))
        exts.append(ext("2.5.29.15", True, key_usage([5, 6])))
    else:
        exts.append(ext("2.5.29.19", True, seq()))
        exts.append(ext("2.5.29.15", True, key_usage([0, 2])))
        exts.append(ext("2.5.29.37", False, seq(oid("1.3.6.1.5.5.7.3.1"))))
    exts.append(ext("2.5.29.14", False, octet_string(key_id(spki))))
    if aki is not None:
        exts.append(ext("2.5.29.35", False, seq(tlv(0x80, aki))))
    if o["san"] and not o["no_san"]:
        exts.append(ext("2.5.29.17", False, seq(*o["san"])))

    tbs = seq(
        explicit(0, integer(2)),
        integer(serial),
        alg,
        issuer,
        seq(asn1_time(nb), asn1_time(na)),
        subject,
        spki,
        explicit(3, seq(*exts)),
    )
    cert = seq(tbs, alg, bit_string(sign(signer, tbs)))
    if o["der"]:
        out = cert
    else:
        b64 = base64.b64encode(cert).decode()
        out = ("-----BEGIN CERTIFICATE-----\n" +
               "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64)) +
               "-----END CERTIFICATE-----\n").encode()
    with open(o["out"], "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
