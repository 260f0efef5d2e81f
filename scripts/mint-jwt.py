#!/usr/bin/env python3
"""Prints an HS256 Bearer token for sources.generic of a configuration, for
trying the API by hand (README). Standard library only.

    scripts/mint-jwt.py [--secret S] [--iss I] [--aud A] [--ttl SECONDS] [--jti ID]

Defaults are those of example/ticketgate.yaml."""
import argparse, base64, hashlib, hmac, json, time

p = argparse.ArgumentParser()
p.add_argument("--secret", default="generic-client-secret-for-tests-0123456789")
p.add_argument("--iss", default="ticketgate-client")
p.add_argument("--aud", default="ticketgate")
p.add_argument("--ttl", type=int, default=3600)
p.add_argument("--jti")
a = p.parse_args()

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

now = int(time.time())
claims = {"iss": a.iss, "aud": a.aud, "iat": now, "exp": now + a.ttl}
if a.jti:
    claims["jti"] = a.jti
signing = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims).encode())
sig = hmac.new(a.secret.encode(), signing.encode(), hashlib.sha256).digest()
print(signing + "." + b64u(sig))
