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
print("%d passed, %d failed" % (len(pairs) + len(tickets) * 2 - failed, failed))
sys.exit(1 if failed else 0)
