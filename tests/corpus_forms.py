#!/usr/bin/python3
"""Sends every labelled corpus ticket to the real server in the three forms
an ITSM uses -- POST /v1/check (Bearer HS256), a Jira workflow-validator call
(X-Hub-Signature) and a ServiceNow approval (Bearer RS256) -- and checks that
all three reach the same decision and reason codes, and that /v1/check
agrees with the offline `check` at the same instant. Run by ctest as
`corpus_forms`.

The server runs on the real clock while the corpus is labelled at
2026-12-01T00:00:00Z, so every date-time in a ticket is moved by the same
whole number of days; the offline check is then run with --now at the
server's own clock. usage: corpus_forms.py BINARY SOURCE_DIR [CORPUS]"""
import base64, datetime as dt, hashlib, hmac, json, os, re, shutil, signal
import subprocess, sys, tempfile, time, urllib.request, urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import tgserver  # noqa: E402

binary, src = sys.argv[1], os.path.abspath(sys.argv[2])
corpus = sys.argv[3] if len(sys.argv) > 3 else os.path.join(src, "..", "shared", "corpus", "canonical.jsonl")
if not os.path.exists(corpus):
    print("corpus not found (shared/ is not beside this clone): skipped")
    sys.exit(77)  # ctest's SKIP_RETURN_CODE
cases = [json.loads(l) for l in open(corpus, encoding="utf-8") if l.strip()]

GENERIC_SECRET = b"generic-client-secret-for-tests-0123456789"
JIRA_SECRET = b"jira-webhook-secret-for-tests"
CORPUS_NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def jwt(alg, claims, key):
    head = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    msg = (head + "." + body).encode()
    if alg == "HS256":
        sig = hmac.new(key, msg, hashlib.sha256).digest()
    else:
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg,
                             capture_output=True, check=True).stdout
    return head + "." + body + "." + b64u(sig)

def claims(iss, n):
    now = int(time.time())
    return {"iss": iss, "aud": "ticketgate", "iat": now, "exp": now + 600, "jti": "cf-%d-%d" % (n, now)}

# ---- dates: move by whole days, keep each format -------------------------
DAYS = (dt.datetime.now(dt.timezone.utc) - CORPUS_NOW).days + 1
def shift(v):
    if not isinstance(v, str):
        return v
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(.*)", v)
    if not m:
        return v
    try:
        d = dt.date(int(m[1]), int(m[2]), int(m[3])) + dt.timedelta(days=DAYS)
    except ValueError:
        return v  # an invalid date stays invalid
    return d.isoformat() + m[4]

# ---- the three forms ------------------------------------------------------
def user(s):
    return None if s is None else {"accountId": s}

def opt(s):
    return None if s is None or s == "" else {"value": s}

def approvers_of(t):
    a = [t["approver"]] if t.get("approver") is not None else []
    return a + [x for x in (t.get("approvers") or []) if x is not None]

def jira_call(t):
    sc = t.get("scope") or {}
    b = t.get("beneficiary")
    btype = None
    if isinstance(b, dict):
        b, btype = b.get("id"), b.get("type")
    apps = approvers_of(t)
    f = {
        "issuetype": {"name": "Access Request" if t.get("kind", "access_request") == "access_request" else "Task"},
        "project": {"key": t.get("project") or "ACC"},
        "reporter": user(t.get("requester")),
        "customfield_10050": t.get("justification"),
        "customfield_10051": user(t.get("owner")),
        "customfield_10052": t.get("expires_at"),
        "customfield_10053": opt(sc.get("system")),
        "customfield_10054": opt(sc.get("environment")),
        "customfield_10055": None if sc.get("entitlement") in (None, "") else [{"value": sc["entitlement"]}],
        "customfield_10056": opt(sc.get("privilege")),
        "customfield_10057": user(b),
        "customfield_10058": opt(btype),
        "customfield_10060": [{"value": "Yes"}] if t.get("emergency") else None,
        "customfield_10027": None, "customfield_10059": None,
    }
    if len(apps) == 1:
        f["customfield_10059"] = user(apps[0])
    elif apps:
        f["customfield_10027"] = [{"name": "Approval", "approvers": [
            {"approver": user(a), "approverDecision": "approved"} for a in apps]}]
    # No top-level user: with no approver the ticket must stay without one.
    return {"issue": {"key": t["id"], "fields": f},
            "transition": {"from": {"name": "Waiting for approval"}, "to": {"name": "Approved"}}}

def sn_user(s):
    return None if s is None else {"user_name": s}

def sn_doc(t):
    sc = t.get("scope") or {}
    b = t.get("beneficiary")
    if isinstance(b, dict):
        b = b.get("id")
    apps = approvers_of(t)
    v = {"business_justification": t.get("justification"),
         "resource_owner": None if t.get("owner") is None else {"value": t["owner"], "display_value": ""},
         "target_system": sc.get("system"), "environment": sc.get("environment"),
         "entitlement": sc.get("entitlement"), "access_level": sc.get("privilege"),
         "access_expiry": t.get("expires_at"),
         "emergency_access": "true" if t.get("emergency") else "false"}
    return {"event_id": "ev-" + t["id"] + "-" + str(time.time_ns()),
            "approval": {"sys_id": "x", "state": "approved", "previous_state": "requested",
                         "approver": sn_user(apps[0]) if apps else None},
            # A catalog item the example's servicenow gate names (its
            # projects are catalog items, not the corpus's Jira keys).
            "ritm": {"sys_id": "y", "number": t["id"], "cat_item": {"name": "Database access"},
                     "opened_by": sn_user(t.get("requester")),
                     "requested_for": sn_user(b if b is not None else t.get("requester")),
                     "variables": {k: x for k, x in v.items() if x is not None}}}

def sn_comparable(t):
    """ServiceNow has one approver per approval record, no ticket kinds and
    no beneficiary type variable in the example: those tickets are not
    expressible there."""
    b = t.get("beneficiary")
    return (len(approvers_of(t)) <= 1 and t.get("kind", "access_request") == "access_request"
            and not isinstance(b, dict))

# ---- the server -------------------------------------------------------------
tmp = tempfile.mkdtemp(prefix="tg-forms-")
shutil.copytree(os.path.join(src, "example"), os.path.join(tmp, "example"), ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(tmp, "example", "ticketgate.yaml")
tgserver.use_port_zero(cfg)
log_path = os.path.join(tmp, "server.log")
log = open(log_path, "w")
proc = subprocess.Popen([binary, "serve", "-c", cfg], stdout=log, stderr=log)
base = tgserver.wait_ready(proc, log_path)

def post(path, body, headers):
    req = urllib.request.Request(base + path, data=body, method="POST",
                                 headers=dict(headers, **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def outcome(status, d):
    """Decision and codes, leaving out JUSTIFICATION_COPY_FORWARD: corpus
    cases share justifications across ticket ids, so the store rightly
    notices reuse that the offline check cannot see."""
    if status != 200:
        return ("http %d" % status, d.get("error"))
    codes = tuple(sorted({f["code"] for f in d["findings"]} - {"JUSTIFICATION_COPY_FORWARD"}))
    decision = d["decision"]
    if decision == "annotate" and not codes:
        decision = "allow"
    return (decision, codes)

ok = bad = 0
def expect(name, what, got, want):
    global ok, bad
    if got == want:
        ok += 1
    else:
        bad += 1
        print("MISMATCH %s %s\n  want %s\n  got  %s" % (name, what, want, got))

tickets = []
try:
    for n, c in enumerate(cases):
        t = json.loads(json.dumps(c["ticket"]))
        t["expires_at"] = shift(t.get("expires_at"))
        t["id"] = "%s-%d" % (t["id"], n)  # one id per case: no copy-forward across cases
        # ids are unique per case so justifications do not count as reuse;
        # copy-forward is the store's own test.
        body = json.dumps(t).encode()
        tok = jwt("HS256", claims("ticketgate-client", n), GENERIC_SECRET)
        canon = outcome(*post("/v1/check", body, {"Authorization": "Bearer " + tok}))
        jb = json.dumps(jira_call(t)).encode()
        sig = hmac.new(JIRA_SECRET, jb, hashlib.sha256).hexdigest()
        expect(c["name"], "jira", outcome(*post("/v1/webhooks/jira", jb, {"X-Hub-Signature": "sha256=" + sig})), canon)
        if sn_comparable(t):
            sb = json.dumps(sn_doc(t)).encode()
            tok = jwt("RS256", claims("https://acme.service-now.com", n),
                      os.path.join(tmp, "example", "keys", "servicenow-private-TEST-ONLY.pem"))
            expect(c["name"], "servicenow", outcome(*post("/v1/webhooks/servicenow", sb, {"Authorization": "Bearer " + tok})), canon)
        tickets.append((t, canon))
    # The offline check at the server's instant must agree with /v1/check
    # (copy-forward aside, which check does not evaluate).
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    inp = os.path.join(tmp, "t.jsonl")
    with open(inp, "w") as f:
        for t, _ in tickets:
            f.write(json.dumps(t) + "\n")
    p = subprocess.run([binary, "check", "-c", cfg, "--now", now, inp], capture_output=True, text=True)
    for (t, canon), line in zip(tickets, p.stdout.splitlines()):
        off = outcome(200, json.loads(line))
        expect(t["id"], "check vs /v1/check", off, canon)
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -1
    log.close()
    if rc != 0 or bad:
        sys.stdout.write(open(os.path.join(tmp, "server.log")).read()[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)
if rc != 0:
    print("server exited with %s after SIGTERM" % rc)
    bad += 1
print("%d passed, %d failed" % (ok, bad))
sys.exit(1 if bad else 0)
