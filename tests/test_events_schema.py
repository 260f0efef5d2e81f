#!/usr/bin/python3
"""test_events_schema.py - schemas/event.schema.json against the canonical
fixtures (and inputs it must refuse), and against every event document the
real server stored from the fixtures of all four forms. Run by ctest as
`events_schema`.

usage: test_events_schema.py BINARY SOURCE_DIR"""
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import jsonschema
from jsonschema.validators import validator_for

binary, src = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "tests", "support"))
import tgserver  # noqa: E402

FIX = os.path.join(src, "tests", "fixtures", "events")
SECRET = b"events-hmac-secret-for-tests-0123456789"
GROUP = "7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31"

schema = json.load(open(os.path.join(src, "schemas", "event.schema.json")))
V = validator_for(schema)
V.check_schema(schema)
validator = V(schema, format_checker=jsonschema.FormatChecker())
failed = 0


def errors(doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.path))


def expect(doc, valid, what):
    global failed
    errs = errors(doc)
    if valid and errs:
        failed += 1
        print("FAIL %s: %s at %s" % (what, errs[0].message, list(errs[0].path)))
    elif not valid and not errs:
        failed += 1
        print("FAIL %s: accepted, should be refused" % what)


for name in ("canonical-grant.json", "canonical-batch.json"):
    expect(json.load(open(os.path.join(FIX, name))), True, name)

base = {"type": "grant", "time": "2026-11-20T08:00:00Z", "identity": "bob",
        "system": "vault", "entitlement": "kv-read", "source_id": "s-1"}
refused = {
    "grant without system": {k: v for k, v in base.items() if k != "system"},
    "review without ticket": dict(base, type="review"),
    "unknown member": dict(base, entitlment="x"),
    "another type": dict(base, type="granted"),
    "a date for a time": dict(base, time="yesterday"),
    "unmapped without reason": dict(base, mapped=False, form="canonical"),
    "mapped with a reason": dict(base, mapped=True, form="canonical",
                                 unmapped_reason="x"),
    # The server keys the chain by source_id, at most 256 bytes (TG_EVENTS_MAX_ID).
    "a source_id over 256 bytes": dict(base, source_id="s" * 257),
}
for what, doc in refused.items():
    expect(doc, False, what)

# ---- the real server: every form in, every stored document checked.
tmp = tempfile.mkdtemp(prefix="tg-evschema-")
proc = None
try:
    shutil.copytree(os.path.join(src, "example"), os.path.join(tmp, "ex"))
    cfgdir = os.path.join(tmp, "ex")
    cfg = os.path.join(cfgdir, "ticketgate.yaml")
    os.makedirs(os.path.join(cfgdir, "data"), exist_ok=True)
    tgserver.use_port_zero(cfg)
    text = open(cfg).read()
    text = text.replace("  generic:\n", "  events:\n    hmac_secret: \"%s\"\n"
                        "  generic:\n" % SECRET.decode(), 1)
    text += ("\nevents:\n  mappings:\n"
             "    - {okta_group: 00g1emaKYZTWRYYRRTSK, system: payments-db, "
             "entitlement: payments-read, environment: prod}\n"
             "    - {aws_group: Admins, system: vault, entitlement: iam-admins}\n"
             "    - {scim_group: %s, system: payments-db, entitlement: "
             "payments-write}\n" % GROUP)
    open(cfg, "w").write(text)
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "serve", "-c", cfg], stdout=log,
                            stderr=subprocess.STDOUT)
    url = tgserver.wait_ready(proc, log_path)

    def post(path, body, ctype="application/json"):
        sig = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(url + path, data=body, method="POST",
                                     headers={"Content-Type": ctype,
                                              "X-Hub-Signature": "sha256=" + sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    sent = [("/v1/events", "okta-event-hook.json", "application/json"),
            ("/v1/events", "cloudtrail-mixed.json", "application/json"),
            ("/v1/events", "canonical-grant.json", "application/json"),
            ("/v1/events", "canonical-batch.json", "application/json"),
            ("/v1/events/scim/Groups/" + GROUP, "scim-add.json",
             "application/scim+json"),
            ("/v1/events/scim/Groups/" + GROUP, "scim-remove-filter.json",
             "application/scim+json")]
    accepted = 0
    for path, name, ctype in sent:
        status, answer = post(path, open(os.path.join(FIX, name), "rb").read(),
                              ctype)
        if status != 200:
            tgserver.fail(proc, log_path, "%s: %d %r" % (name, status, answer))
        accepted += answer["accepted"]
    proc.send_signal(signal.SIGTERM)
    if proc.wait(timeout=15) != 0:
        tgserver.fail(None, log_path, "the server exited with %d" % proc.returncode)
    proc = None

    # What an auditor reads back: `ticketgate audit export`.
    out = subprocess.run([binary, "audit", "export", "-c", cfg],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        tgserver.fail(None, None, "audit export: %s" % out.stderr)
    rows = [r for r in map(json.loads, out.stdout.splitlines())
            if r.get("kind") == "event"]
    if len(rows) != accepted or accepted < 20:
        failed += 1
        print("FAIL: %d event entries stored, %d accepted" % (len(rows), accepted))
    keys = set()
    for r in rows:
        d = r["decision"]
        expect(d, True, "stored event %s" % d.get("source_id"))
        keys.add(d.get("source_id"))
        if r.get("source") != d.get("form"):
            failed += 1
            print("FAIL: entry source %s, form %s" % (r.get("source"), d.get("form")))
    if len(keys) != len(rows):
        failed += 1
        print("FAIL: a source_id was stored twice")
finally:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)

print("events_schema: %s" % ("FAIL" if failed else "ok"))
sys.exit(1 if failed else 0)
