#!/usr/bin/python3
"""Validates real output of ticketgate against schemas/, and the example
payloads against the payload schemas. Run by ctest as `schemas`.

usage: validate_schemas.py BINARY SOURCE_DIR"""
import json, os, subprocess, sys, tempfile

import jsonschema
from jsonschema.validators import validator_for

binary, src = sys.argv[1], sys.argv[2]
sdir = os.path.join(src, "schemas")
store = {}
for name in os.listdir(sdir):
    with open(os.path.join(sdir, name), encoding="utf-8") as f:
        s = json.load(f)
    store[name] = s
    store[s["$id"]] = s
    validator_for(s).check_schema(s)

def validator(name):
    s = store[name]
    resolver = jsonschema.RefResolver(base_uri=s["$id"], referrer=s, store=store)
    return validator_for(s)(s, resolver=resolver)

failed = 0
def check(name, doc, what):
    global failed
    errs = sorted(validator(name).iter_errors(doc), key=lambda e: e.path)
    for e in errs[:3]:
        print("FAIL %s against %s: %s at %s" % (what, name, e.message, list(e.path)))
    failed += bool(errs)

ex = os.path.join(src, "example", "payloads")
pairs = [("canonical-ticket.json", "ticket.schema.json"),
         ("jira-cloud-webhook.json", "jira-webhook.schema.json"),
         ("jira-validator-call.json", "jira-validator-call.schema.json"),
         ("servicenow-approval.json", "servicenow-approval.schema.json")]
for payload, schema in pairs:
    with open(os.path.join(ex, payload), encoding="utf-8") as f:
        check(schema, json.load(f), payload)

# Real decisions: the example ticket, the corpus when shared/ is beside us,
# and a few hand-made edge tickets.
tickets = [json.load(open(os.path.join(ex, "canonical-ticket.json")))]
corpus = os.path.join(src, "..", "shared", "corpus", "canonical.jsonl")
if os.path.exists(corpus):
    tickets += [json.loads(l)["ticket"] for l in open(corpus, encoding="utf-8") if l.strip()]
tickets += [{"id": "X-1"}, {"id": "X-2", "kind": "incident"},
            {"id": "X-3", "emergency": True, "justification": "\u00e9" * 300},
            # a delegate acted (ServiceNow approval.acted_by): the decision
            # carries the assigned approver; display names the payload gave
            {"id": "X-4", "approver": "erin.yu", "assigned_approver": "dave.okafor",
             "names": {"erin.yu": "Erin Yu", "dave.okafor": "Dave Okafor"}}]
for t in tickets:
    check("ticket.schema.json", t, "ticket " + t["id"])
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    for t in tickets:
        f.write(json.dumps(t) + "\n")
    path = f.name
p = subprocess.run([binary, "check", "-c", os.path.join(src, "example", "ticketgate.yaml"),
                    "--now", "2026-12-01T00:00:00Z", path], capture_output=True, text=True)
os.unlink(path)
lines = [l for l in p.stdout.splitlines() if l.strip()]
if p.returncode not in (0, 1) or len(lines) != len(tickets):
    print("FAIL check exited %d with %d lines for %d tickets: %s" % (p.returncode, len(lines), len(tickets), p.stderr[:300]))
    failed += 1
for l in lines:
    d = json.loads(l)
    check("decision.schema.json", d, "decision for " + str(d.get("ticket")))

# A finding a policy exception let through (issue 13): its "exception"
# object in a real decision, and the schema refusing one that still denies.
import datetime, shutil as xshutil
xdir = tempfile.mkdtemp(prefix="tg-schemas-exc-")
xshutil.copytree(os.path.join(src, "example"), os.path.join(xdir, "ex"), ignore=xshutil.ignore_patterns("data"))
xcfg = os.path.join(xdir, "ex", "ticketgate.yaml")
xtoday = datetime.datetime.now(datetime.timezone.utc).date()
with open(xcfg, encoding="utf-8") as f:
    xtext = f.read()
with open(xcfg, "w", encoding="utf-8") as f:
    f.write(xtext.replace("  forbidden:\n", "  exceptions:\n    - { id: EXC-12, ticket_ref: SEC-881, owner: carol.diaz, "
            "codes: [EXPIRY_TOO_LONG], match: { system: payments-db, environment: prod }, until: %s, "
            "reason: schema check }\n  forbidden:\n" % (xtoday + datetime.timedelta(days=30)).isoformat(), 1))
xt = dict(tickets[0], expires_at=(xtoday + datetime.timedelta(days=200)).isoformat())
p = subprocess.run([binary, "check", "-c", xcfg, "-"], input=json.dumps(xt), capture_output=True, text=True)
xshutil.rmtree(xdir, ignore_errors=True)
try:
    xd = json.loads(p.stdout)
    xf = [f for f in xd["findings"] if "exception" in f]
except (ValueError, KeyError):
    xd, xf = {}, []
if p.returncode != 0 or len(xf) != 1:
    print("FAIL check with an exception exited %d, findings %s: %s" % (p.returncode, xd.get("findings"), p.stderr[:300]))
    failed += 1
else:
    check("decision.schema.json", xd, "decision with an exception")
    xf[0]["action"] = "deny"
    if not list(validator("decision.schema.json").iter_errors(xd)):
        print("FAIL decision.schema.json takes a denying finding with an exception")
        failed += 1

# Real judged tickets (issue 13): the same tickets through the real server,
# each record read back with `audit show --format json`.
import base64, hashlib, hmac, shutil, time, urllib.error, urllib.request
sys.path.insert(0, os.path.join(src, "tests", "support"))
import tgserver  # noqa: E402
tmp = tempfile.mkdtemp(prefix="tg-schemas-")
shutil.copytree(os.path.join(src, "example"), os.path.join(tmp, "ex"), ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(tmp, "ex", "ticketgate.yaml")
tgserver.use_port_zero(cfg)
log_path = os.path.join(tmp, "server.log")
proc = subprocess.Popen([binary, "serve", "-c", cfg], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
base = tgserver.wait_ready(proc, log_path)
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
ids = []
try:
    for n, t in enumerate(tickets):
        now = int(time.time())
        msg = b64u(b'{"alg":"HS256","typ":"JWT"}') + "." + b64u(json.dumps(
            {"iss": "ticketgate-client", "aud": "ticketgate", "iat": now, "exp": now + 600,
             "jti": "schemas-%d-%d" % (n, now)}).encode())
        tok = msg + "." + b64u(hmac.new(b"generic-client-secret-for-tests-0123456789",
                                         msg.encode(), hashlib.sha256).digest())
        req = urllib.request.Request(base + "/v1/check", data=json.dumps(t).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + tok})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                d = json.loads(r.read())
        except urllib.error.HTTPError as e:
            continue  # no decision, no record
        if d["decision"] != "skip":
            ids.append(d["decision_id"])
finally:
    proc.terminate()
    proc.wait()
for i in ids:
    p = subprocess.run([binary, "audit", "show", i, "-c", cfg, "--format", "json"], capture_output=True, text=True)
    try:
        rec = json.loads(p.stdout)
    except ValueError:
        rec = {}
    if p.returncode != 0 or not rec.get("judged"):
        print("FAIL audit show %s exited %d without a judged ticket: %s" % (i, p.returncode, p.stderr[:300]))
        failed += 1
        continue
    check("judged.schema.json", rec["judged"], "judged ticket of " + i)
    check("ticket.schema.json", rec["judged"]["ticket"], "kept ticket of " + i)
    check("decision.schema.json", rec["decision"], "recorded decision " + i)
shutil.rmtree(tmp, ignore_errors=True)
# every ticket `check` does not skip makes a record
want = sum(json.loads(l)["decision"] != "skip" for l in lines)
if len(ids) != want:
    print("FAIL %d of %d tickets made a record" % (len(ids), want))
    failed += 1
print("%d judged tickets validated" % len(ids))
print("%d passed, %d failed" % (len(pairs) + len(tickets) * 2 + len(ids) * 3 - failed, failed))
sys.exit(1 if failed else 0)
