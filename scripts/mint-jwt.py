#!/usr/bin/env python3
"""Prints an HS256 Bearer token for sources.generic of a configuration, for
trying the API by hand (README). Standard library only.

    scripts/mint-jwt.py [--secret S] [--iss I] [--aud A] [--ttl SECONDS] [--jti ID | --no-jti]

Defaults are those of example/ticketgate.yaml. Every token gets a random
`jti` unless one is given: a jti is single-use (API.md), so one token
carries one body, as a real client's should; `--no-jti` leaves it out."""
import argparse, base64, hashlib, hmac, json, time, uuid

p = argparse.ArgumentParser()
p.add_argument("--secret", default="generic-client-secret-for-tests-0123456789")
p.add_argument("--iss", default="ticketgate-client")
p.add_argument("--aud", default="ticketgate")
p.add_argument("--ttl", type=int, default=3600)
p.add_argument("--jti", default=None)
p.add_argument("--no-jti", action="store_true")
a = p.parse_args()

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

now = int(time.time())
claims = {"iss": a.iss, "aud": a.aud, "iat": now, "exp": now + a.ttl}
if not a.no_jti:
    claims["jti"] = a.jti or uuid.uuid4().hex
signing = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims).encode())
sig = hmac.new(a.secret.encode(), signing.encode(), hashlib.sha256).digest()
print(signing + "." + b64u(sig))
