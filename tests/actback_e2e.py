#!/usr/bin/python3
"""The act-back path end to end (issue 12): the real server, configured to
act back on Jira and ServiceNow at tests/support/itsm_stub.py on loopback,
gets real HMAC-signed Jira webhooks and RS256-signed ServiceNow approvals,
and the stub checks and records every request it is sent. Run by ctest as
`actback_e2e`.  usage: actback_e2e.py BINARY SOURCE_DIR"""
import base64, datetime as dt, hashlib, hmac, json, os, re, shutil, signal
import subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "support"))
import tgserver  # noqa: E402

binary, src = sys.argv[1], os.path.abspath(sys.argv[2])
STUB = os.path.join(HERE, "support", "itsm_stub.py")
GENERIC_SECRET = b"generic-client-secret-for-tests-0123456789"
JIRA_SECRET = b"jira-webhook-secret-for-tests"
JIRA_TOKEN, SN_PASSWORD = "jira-api-token-TEST", "sn-password-TEST"
JIRA_AUTH = "Basic " + base64.b64encode(b"bot@acme.com:" + JIRA_TOKEN.encode()).decode()
SN_AUTH = "Basic " + base64.b64encode(b"ticketgate.integration:" + SN_PASSWORD.encode()).decode()
APPROVAL = "a" * 31 + "1"
RITM = "b" * 31 + "2"

failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append("%s%s" % (what, (": " + detail) if detail else ""))
        print("FAIL %s %s" % (what, detail))
    else:
        print("ok   %s" % what)


# ---- signing, as corpus_forms.py does ---------------------------------------
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


N = [0]


def claims(iss):
    N[0] += 1
    now = int(time.time())
    return {"iss": iss, "aud": "ticketgate", "iat": now, "exp": now + 600,
            "jti": "ab-%d-%d-%d" % (os.getpid(), now, N[0])}


# ---- tickets ------------------------------------------------------------------
def ticket(key, kind):
    """The example's ACC-4410 as key: allow as shipped; deny: the requester
    approves it himself (SOD_SELF_APPROVAL); annotate: 60 days, past the 30
    of admin, which this test's policy only warns about."""
    t = json.load(open(os.path.join(src, "example", "payloads", "canonical-ticket.json")))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, second=0)
    t["id"] = key
    t["created_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    t["expires_at"] = (now + dt.timedelta(days=60 if kind == "annotate" else 3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Every ticket its own justification: no copy-forward warning between them.
    t["justification"] += " Ticket %s of run %d." % (key, os.getpid())
    if kind == "deny":
        t["approver"] = t["requester"]
    return t


def jira_call(t, to="Approved"):
    sc = t["scope"]
    user = lambda s: {"accountId": s}
    f = {"issuetype": {"name": "Access Request"}, "project": {"key": t["project"]},
         "reporter": user(t["requester"]), "customfield_10050": t["justification"],
         "customfield_10051": user(t["owner"]), "customfield_10052": t["expires_at"],
         "customfield_10053": {"value": sc["system"]}, "customfield_10054": {"value": sc["environment"]},
         "customfield_10055": [{"value": sc["entitlement"]}], "customfield_10056": {"value": sc["privilege"]},
         "customfield_10057": user(t["beneficiary"]), "customfield_10058": None,
         "customfield_10060": None, "customfield_10027": None,
         "customfield_10059": user(t["approver"])}
    return {"issue": {"key": t["id"], "fields": f},
            "transition": {"from": {"name": "Waiting for approval"}, "to": {"name": to}}}


def sn_doc(t, approval=APPROVAL, ritm=RITM):
    sc = t["scope"]
    sn_user = lambda s: {"user_name": s}
    v = {"business_justification": t["justification"],
         "resource_owner": {"value": t["owner"], "display_value": ""},
         "target_system": sc["system"], "environment": sc["environment"],
         "entitlement": sc["entitlement"], "access_level": sc["privilege"],
         "access_expiry": t["expires_at"], "emergency_access": "false"}
    return {"event_id": "ev-%s-%d" % (t["id"], time.time_ns()),
            "approval": {"sys_id": approval, "state": "approved", "previous_state": "requested",
                         "approver": sn_user(t["approver"])},
            "ritm": {"sys_id": ritm, "number": t["id"], "cat_item": {"name": "Database access"},
                     "opened_by": sn_user(t["requester"]), "requested_for": sn_user(t["beneficiary"]),
                     "variables": v}}


# ---- HTTP -------------------------------------------------------------------
def http(method, url, body=None, headers=None, timeout=10):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = dict(headers or {})
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Stub:
    def __init__(self, port=0):
        self.proc = subprocess.Popen([sys.executable, STUB, "--port", str(port), "--jira-auth", JIRA_AUTH,
                                      "--sn-auth", SN_AUTH], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"port (\d+)", line or "")
        if not m:
            raise SystemExit("FAIL: the stub did not start: %r" % line)
        self.port = int(m.group(1))
        self.base = "http://127.0.0.1:%d" % self.port

    def ctl(self, path, body):
        st, raw = http("POST", self.base + path, body)
        assert st == 204, (path, st, raw)

    def issue(self, key, status="Approved"):
        self.ctl("/_stub/issue", {"key": key, "status": status,
                                  "workflow": {"Approved": ["Waiting for approval", "Done"],
                                               "Waiting for approval": ["Approved"]}})

    def state(self):
        st, raw = http("GET", self.base + "/_stub/state")
        assert st == 200
        return json.loads(raw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def reqs(state, key):
    return [r for r in state["requests"] if "/issue/%s" % key in r["path"]]


def calls(state, key):
    """The requests about key as "METHOD path[?query]" lines."""
    return ["%s %s%s" % (r["method"], r["path"], "?" + r["query"] if r["query"] else "") for r in reqs(state, key)]


def wait_for(what, pred, timeout=15.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    check(what, False, "not within %.0f s" % timeout)
    return None


# ---- the server -------------------------------------------------------------
tmp = tempfile.mkdtemp(prefix="tg-actback-")
stub = Stub()
shutil.copytree(os.path.join(src, "example"), os.path.join(tmp, "example"), ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(tmp, "example", "ticketgate.yaml")
tgserver.use_port_zero(cfg)
text = open(cfg).read()
ACT = """    act_back:
      base_url: "http://127.0.0.1:%d"
      auth: { email: bot@acme.com, api_token: "${TG_TEST_JIRA_TOKEN}" }
      on_deny: { comment: true, transition_to: "Waiting for approval", label: access-governance-denied }
      on_annotate: { comment: true }
      comment_visibility: internal
      max_per_host: 2
      max_attempts: 40
      retry_base_ms: 200
      retry_max_ms: 800
      timeout_ms: 1000
""" % stub.port
SN_ACT = """    act_back:
      instance_url: "http://localhost:%d"
      auth: { user: ticketgate.integration, password: "${TG_TEST_SN_PASSWORD}" }
      on_deny: { reject_approval: true, work_note: true }
      on_annotate: { work_note: true }
      max_attempts: 40
      retry_base_ms: 200
      retry_max_ms: 800
      timeout_ms: 1000
""" % stub.port
for old, new in (("  jira:\n", "  jira:\n" + ACT), ("  servicenow:\n", "  servicenow:\n" + SN_ACT),
                 ("  actions: {}", "  actions: { EXPIRY_TOO_LONG: warn }")):
    assert text.count(old) == 1, old
    text = text.replace(old, new)
open(cfg, "w").write(text)
env = dict(os.environ, TG_TEST_JIRA_TOKEN=JIRA_TOKEN, TG_TEST_SN_PASSWORD=SN_PASSWORD)
log_path = os.path.join(tmp, "server.log")
proc = None


def start_server(clock_offset=0):
    """Starts the server; clock_offset (TG_CLOCK_OFFSET_S) runs its clock
    that many seconds ahead, so a restart can step past a lease instead of
    waiting it out."""
    global proc, base
    log = open(log_path, "a")
    penv = dict(env, TG_CLOCK_OFFSET_S=str(clock_offset)) if clock_offset else env
    proc = subprocess.Popen([binary, "serve", "-c", cfg], stdout=log, stderr=log, env=penv)
    log.close()
    # A restart logs a second "listening" line: read the port after it.
    with open(log_path) as f:
        before = f.read().count('"event":"listen"')
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        with open(log_path) as f:
            lines = [l for l in f if '"event":"listen"' in l and "(admin)" not in l]
        if len(lines) > before:
            m = re.search(r"listening on port (\d+)", lines[-1])
            base = "http://127.0.0.1:%s" % m.group(1)
            break
        if proc.poll() is not None:
            tgserver.fail(None, log_path, "the server exited while starting")
        time.sleep(0.05)
    else:
        tgserver.fail(proc, log_path, "no listen line")
    wait_for("server healthy", lambda: http("GET", base + "/healthz")[0] == 200)


def jira_webhook(t, to="Approved", delivery=None):
    body = json.dumps(jira_call(t, to)).encode()
    sig = hmac.new(JIRA_SECRET, body, hashlib.sha256).hexdigest()
    h = {"X-Hub-Signature": "sha256=" + sig}
    if delivery:
        h["X-Atlassian-Webhook-Identifier"] = delivery
    st, raw = http("POST", base + "/v1/webhooks/jira", body, h)
    return st, json.loads(raw or b"{}")


def sn_webhook(t, **ids):
    body = json.dumps(sn_doc(t, **ids)).encode()
    tok = jwt("RS256", claims("https://acme.service-now.com"),
              os.path.join(tmp, "example", "keys", "servicenow-private-TEST-ONLY.pem"))
    st, raw = http("POST", base + "/v1/webhooks/servicenow", body, {"Authorization": "Bearer " + tok})
    return st, json.loads(raw or b"{}")


def actions(key):
    tok = jwt("HS256", claims("ticketgate-client"), GENERIC_SECRET)
    st, raw = http("GET", base + "/v1/actions?ticket=" + key, headers={"Authorization": "Bearer " + tok})
    assert st == 200, (st, raw)
    return json.loads(raw)["actions"]


def settled(key, n):
    a = actions(key)
    return a if len(a) == n and all(x["state"] in ("delivered", "dead") for x in a) else None


def metric(name_labels):
    st, raw = http("GET", base + "/metrics")
    for line in raw.decode().splitlines():
        if line.startswith(name_labels + " "):
            return float(line.split()[-1])
    return 0.0


DENY_SEQ = lambda k: ["POST /rest/api/3/issue/%s/comment" % k,
                      "GET /rest/api/3/issue/%s?fields=status" % k,
                      "GET /rest/api/3/issue/%s/transitions" % k,
                      "POST /rest/api/3/issue/%s/transitions" % k,
                      "PUT /rest/api/3/issue/%s" % k]

try:
    start_server()
    run = os.getpid() % 100000
    K = lambda n: "ACC-%d%02d" % (run, n)

    # -- deny: comment, transition, label, in that order ---------------------
    k = K(1)
    stub.issue(k)
    st, d = jira_webhook(ticket(k, "deny"))
    check("deny answered", st == 200 and d.get("decision") == "deny", "%s %s" % (st, d))
    a = wait_for("deny: three actions delivered", lambda: settled(k, 3))
    s = stub.state()
    check("deny: the requests, in order", calls(s, k) == DENY_SEQ(k), "%s" % calls(s, k))
    iss = s["issues"][k]
    check("deny: one internal comment with the reason and the decision id",
          len(iss["comments"]) == 1 and iss["comments"][0]["internal"]
          and "- " in iss["comments"][0]["text"] and d["decision_id"] in iss["comments"][0]["text"],
          json.dumps(iss["comments"]))
    check("deny: moved back to Waiting for approval", iss["status"] == "Waiting for approval", iss["status"])
    check("deny: labelled", iss["labels"] == ["access-governance-denied"], str(iss["labels"]))
    check("deny: transition body names the picked transition",
          [r["body"] for r in reqs(s, k) if r["method"] == "POST" and r["path"].endswith("/transitions")]
          == [{"transition": {"id": "11"}}])
    check("deny: every request with the Basic credentials",
          all(r["auth"] == JIRA_AUTH for r in reqs(s, k)))
    check("deny: actions listed delivered with one attempt",
          a and all(x["state"] == "delivered" and x["attempts"] == 1 for x in a), json.dumps(a))

    # -- annotate: a comment only; allow and skip: nothing ----------------
    k2, k3, k4 = K(2), K(3), K(4)
    for x in (k2, k3, k4):
        stub.issue(x)
    st, d2 = jira_webhook(ticket(k2, "annotate"))
    check("annotate answered", st == 200 and d2.get("decision") == "annotate", "%s %s" % (st, d2))
    st, d3 = jira_webhook(ticket(k3, "allow"))
    check("allow answered", st == 200 and d3.get("decision") == "allow", "%s %s" % (st, d3))
    st, d4 = jira_webhook(ticket(k4, "deny"), to="In Progress")
    check("skip answered", st == 200 and d4.get("decision") == "skip", "%s %s" % (st, d4))
    wait_for("annotate: one action delivered", lambda: settled(k2, 1))
    time.sleep(1.0)  # two polls: anything planned for allow or skip would be out
    s = stub.state()
    check("annotate: the comment only", calls(s, k2) == ["POST /rest/api/3/issue/%s/comment" % k2], str(calls(s, k2)))
    check("allow, skip: no request", calls(s, k3) == [] and calls(s, k4) == [] and actions(k3) == [] and actions(k4) == [])

    # -- 429 with Retry-After: 1 -> one retry, a second or more later -----
    k5 = K(5)
    stub.issue(k5)
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k5, "status": 429,
                               "headers": {"Retry-After": "1"}, "body": {"errorMessages": ["Rate limit"]}}])
    jira_webhook(ticket(k5, "deny"))
    wait_for("429: settled", lambda: settled(k5, 3))
    s = stub.state()
    posts = [r for r in reqs(s, k5) if r["method"] == "POST" and r["path"].endswith("/comment")]
    check("429: two comment posts, the second after Retry-After",
          len(posts) == 2 and posts[1]["t"] - posts[0]["t"] >= 1.0,
          str([round(p["t"] - posts[0]["t"], 3) for p in posts]))
    check("429: one comment stored", len(s["issues"][k5]["comments"]) == 1)
    check("429: one retry counted", metric('ticketgate_actions_total{system="jira",action="comment",outcome="retry"}') >= 1)

    # -- 500 on the first comment, stored all the same -> one comment -----
    k6 = K(6)
    stub.issue(k6)
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k6, "status": 500,
                               "store": True, "body": {"errorMessages": ["Internal server error"]}}])
    jira_webhook(ticket(k6, "deny"))
    a6 = wait_for("500: settled", lambda: settled(k6, 3))
    s = stub.state()
    c6 = calls(s, k6)
    check("500: one comment in the end", len(s["issues"][k6]["comments"]) == 1, json.dumps(s["issues"][k6]["comments"]))
    # The transition and label go ahead while the comment waits its turn.
    post, get = "POST /rest/api/3/issue/%s/comment" % k6, "GET /rest/api/3/issue/%s/comment?startAt=0&maxResults=100" % k6
    check("500: one post, then the marker found by reading the comments",
          c6.count(post) == 1 and c6.count(get) == 1 and c6.index(post) < c6.index(get), str(c6))
    check("500: the comment settled delivered on its second attempt",
          [(x["state"], x["attempts"]) for x in a6 or [] if x["action"] == "comment"] == [("delivered", 2)],
          json.dumps(a6))

    # -- 401 -> dead letter at once, in /v1/actions and /metrics ----------
    k7 = K(7)
    stub.issue(k7)
    dead_before = metric('ticketgate_actions_total{system="jira",action="comment",outcome="dead"}')
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k7, "status": 401,
                               "body": {"errorMessages": ["You are not authenticated."]}}])
    jira_webhook(ticket(k7, "deny"))
    a7 = wait_for("401: settled", lambda: settled(k7, 3))
    com = [x for x in (a7 or []) if x["action"] == "comment"]
    check("401: the comment is dead after one attempt, its error kept",
          len(com) == 1 and com[0]["state"] == "dead" and com[0]["attempts"] == 1 and "401" in (com[0]["last_error"] or ""),
          json.dumps(com))
    check("401: counted dead", metric('ticketgate_actions_total{system="jira",action="comment",outcome="dead"}') == dead_before + 1)
    check("401: an error log line", re.search(r'"level":"error","event":"actback_dead".*%s' % k7, open(log_path).read()) is not None)
    check("401: posted once", calls(stub.state(), k7).count("POST /rest/api/3/issue/%s/comment" % k7) == 1)

    # -- Jira retries a delivery (same X-Atlassian-Webhook-Identifier): the
    # decision already recorded is answered, and no second set is sent -----
    k12 = K(12)
    stub.issue(k12)
    t12 = ticket(k12, "deny")
    st, d12 = jira_webhook(t12, delivery="wh-%s" % k12)
    a12 = wait_for("retried delivery: settled", lambda: settled(k12, 3))
    st2, d12b = jira_webhook(t12, delivery="wh-%s" % k12)
    check("retried delivery: the same decision answered",
          st2 == 200 and d12b.get("decision_id") == d12.get("decision_id"), "%s %s" % (st2, d12b))
    time.sleep(1.0)  # two polls: a second set of actions would be out by now
    s = stub.state()
    check("retried delivery: three actions, each request once",
          len(actions(k12)) == 3 and calls(s, k12) == DENY_SEQ(k12)
          and len(s["issues"][k12]["comments"]) == 1, str(calls(s, k12)))

    # -- the issue moved on meanwhile: no transition back -------------------
    k11 = K(11)
    stub.issue(k11, status="Done")
    skipped_before = metric('ticketgate_actions_total{system="jira",action="transition",outcome="skipped"}')
    jira_webhook(ticket(k11, "deny"))
    a11 = wait_for("moved on: settled", lambda: settled(k11, 3))
    s = stub.state()
    check("moved on: the status read, no transition posted",
          sorted(calls(s, k11)) == sorted(["POST /rest/api/3/issue/%s/comment" % k11,
                                           "GET /rest/api/3/issue/%s?fields=status" % k11,
                                           "PUT /rest/api/3/issue/%s" % k11]) and s["issues"][k11]["status"] == "Done",
          str(calls(s, k11)))
    tr = [x for x in a11 or [] if x["action"] == "transition"]
    check("moved on: the transition settled delivered, saying why it was skipped",
          len(tr) == 1 and tr[0]["state"] == "delivered" and "skipped" in (tr[0]["last_error"] or "")
          and "Done" in tr[0]["last_error"], json.dumps(tr))
    check("moved on: counted skipped",
          metric('ticketgate_actions_total{system="jira",action="transition",outcome="skipped"}') == skipped_before + 1)

    # -- at most max_per_host (2) requests in flight to Jira's host --------
    # (ServiceNow is "localhost", another host: six workers in all.)
    ks3 = [K(20 + i) for i in range(3)]
    for x in ks3:
        stub.issue(x)
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % x, "status": 201,
                               "store": True, "delay": 0.7, "body": {"id": "1"}} for x in ks3])
    # At once, and each comment slow (0.7 s, below the 1 s request
    # timeout): on a loaded machine the three must still be due together.
    ths = [threading.Thread(target=jira_webhook, args=(ticket(x, "deny"),)) for x in ks3]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    for x in ks3:
        wait_for("cap: %s settled" % x, lambda: settled(x, 3))
    s = stub.state()
    spans = [(r["t"], r["end"]) for r in s["requests"] if r["path"].startswith("/rest/") and "end" in r
             and any("/issue/%s" % x in r["path"] for x in ks3)]
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    check("cap: at most 2 requests in flight to one host", most == 2,
          "%d at once: %s" % (most, [(round(a - spans[0][0], 2), round(b - spans[0][0], 2)) for a, b in spans]))

    # -- ServiceNow deny: approval rejected, work note ---------------------
    ks = "RITM%07d" % run
    stub.ctl("/_stub/record", {"table": "sysapproval_approver", "sys_id": APPROVAL, "state": "approved"})
    stub.ctl("/_stub/record", {"table": "sc_req_item", "sys_id": RITM})
    st, ds = sn_webhook(ticket(ks, "deny"))
    check("servicenow deny answered", st == 200 and ds.get("decision") == "deny", "%s %s" % (st, ds))
    wait_for("servicenow: two actions delivered", lambda: settled(ks, 2))
    s = stub.state()
    sn = [r for r in s["requests"] if r["path"].startswith("/api/now/")]
    check("servicenow: PATCH approval then PATCH work note",
          ["%s %s" % (r["method"], r["path"]) for r in sn] ==
          ["PATCH /api/now/table/sysapproval_approver/" + APPROVAL, "PATCH /api/now/table/sc_req_item/" + RITM],
          str(sn))
    ap = s["records"]["sysapproval_approver/" + APPROVAL]
    check("servicenow: approval rejected with the reasons and the decision id",
          ap["state"] == "rejected" and ds["decision_id"] in ap["comments"][0], json.dumps(ap))
    check("servicenow: one work note", len(s["records"]["sc_req_item/" + RITM]["work_notes"]) == 1)
    check("servicenow: Basic credentials", all(r["auth"] == SN_AUTH for r in sn))

    # -- ServiceNow: a 500 on a work note that was stored -> one note --------
    ks4 = "RITM%07d" % (run + 2)
    notes = len(s["records"]["sc_req_item/" + RITM]["work_notes"])
    stub.ctl("/_stub/rules", [{"method": "PATCH", "path": "/api/now/table/sc_req_item/" + RITM, "status": 500,
                               "store": True, "body": {"error": {"message": "Transaction cancelled"}}}])
    st, ds4 = sn_webhook(ticket(ks4, "deny"))
    wait_for("servicenow 500: settled", lambda: settled(ks4, 2))
    s = stub.state()
    wn = s["records"]["sc_req_item/" + RITM]["work_notes"]
    check("servicenow 500: one work note more, with this decision's id",
          len(wn) == notes + 1 and ds4["decision_id"] in wn[-1], json.dumps(wn[notes:]))
    sn = ["%s %s%s" % (r["method"], r["path"], "?" + r["query"] if r["query"] else "")
          for r in s["requests"] if r["path"] == "/api/now/table/sc_req_item/" + RITM]
    check("servicenow 500: the notes read before the retry, no second PATCH",
          sn[-2:] == ["PATCH /api/now/table/sc_req_item/" + RITM,
                      "GET /api/now/table/sc_req_item/%s?sysparm_fields=work_notes&sysparm_display_value=true" % RITM],
          str(sn[-3:]))

    # -- ServiceNow annotate: a work note only ---------------------------------
    ks6, ritm6 = "RITM%07d" % (run + 6), "b" * 31 + "6"
    stub.ctl("/_stub/record", {"table": "sc_req_item", "sys_id": ritm6})
    st, ds6 = sn_webhook(ticket(ks6, "annotate"), ritm=ritm6)
    check("servicenow annotate answered", st == 200 and ds6.get("decision") == "annotate", "%s %s" % (st, ds6))
    wait_for("servicenow annotate: settled", lambda: settled(ks6, 1))
    s = stub.state()
    check("servicenow annotate: one PATCH of the work note, the approval untouched",
          ["%s %s" % (r["method"], r["path"]) for r in s["requests"] if r["path"].startswith("/api/now/")][-1:]
          == ["PATCH /api/now/table/sc_req_item/" + ritm6]
          and [a["action"] for a in actions(ks6)] == ["work_note"]
          and ds6["decision_id"] in s["records"]["sc_req_item/" + ritm6]["work_notes"][0], str(actions(ks6)))

    # -- ServiceNow answers 200 but a field ACL kept the state: dead letter --
    ks5, appr5, ritm5 = "RITM%07d" % (run + 5), "c" * 31 + "5", "b" * 31 + "5"
    stub.ctl("/_stub/record", {"table": "sysapproval_approver", "sys_id": appr5, "state": "approved",
                               "readonly": ["state"]})
    stub.ctl("/_stub/record", {"table": "sc_req_item", "sys_id": ritm5})
    st, ds5 = sn_webhook(ticket(ks5, "deny"), approval=appr5, ritm=ritm5)
    a5 = wait_for("servicenow acl: settled", lambda: settled(ks5, 2))
    rj = [x for x in a5 or [] if x["action"] == "reject_approval"]
    check("servicenow acl: the rejection that did not take is a dead letter naming the field",
          len(rj) == 1 and rj[0]["state"] == "dead" and rj[0]["attempts"] == 1
          and "not rejected" in (rj[0]["last_error"] or "")
          and "sysapproval_approver.state" in (rj[0]["last_error"] or ""), json.dumps(rj))
    check("servicenow acl: the work note still delivered",
          [x["state"] for x in a5 or [] if x["action"] == "work_note"] == ["delivered"], json.dumps(a5))

    # -- stub down, kill -9 after the answer, restart, stub up -------------
    k8 = K(8)
    port = stub.port
    stub.stop()
    st, d8 = jira_webhook(ticket(k8, "deny"))
    check("down: deny acknowledged", st == 200 and d8.get("decision") == "deny")
    wait_for("down: an attempt failed", lambda: re.search(r'"event":"actback_retry".*%s' % k8, open(log_path).read()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # An attempt cut by the kill is due again once its lease (3 request
    # timeouts + 1 + 10 s: 14 s here) has run out: the restarted server's
    # clock runs 15 s ahead instead of the test waiting for it.
    start_server(clock_offset=15)
    stub = Stub(port)
    stub.issue(k8)
    a8 = wait_for("after restart: three actions delivered", lambda: settled(k8, 3), timeout=10)
    s = stub.state()
    # Each action retries on its own schedule, so their order is free; a
    # comment tried before (while the stub was down) is looked for first.
    c8 = calls(s, k8)
    check("after restart: each request once", sorted(c8) == sorted(
          DENY_SEQ(k8) + ["GET /rest/api/3/issue/%s/comment?startAt=0&maxResults=100" % k8]), str(c8))
    check("after restart: delivered, one comment", a8 and all(x["state"] == "delivered" for x in a8)
          and len(s["issues"][k8]["comments"]) == 1, json.dumps(a8))

    # -- kill -9 while a comment is in flight, which Jira stores all the
    # same: after the lease, the comment is looked for, not posted again --
    k15 = K(15)
    stub.issue(k15)
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k15, "status": 201,
                               "store": True, "delay": 0.8, "body": {"id": "1"}}])
    jira_webhook(ticket(k15, "deny"))
    wait_for("mid-send: the comment is in flight",
             lambda: "POST /rest/api/3/issue/%s/comment" % k15 in calls(stub.state(), k15))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Jira finishes storing the comment whose sender was killed.
    wait_for("mid-send: Jira stored the cut request's comment",
             lambda: len(stub.state()["issues"][k15]["comments"]) == 1)
    # The lease of the cut attempt (3 request timeouts + 1 + 10 s: 14 s),
    # stepped past by a clock another 15 s ahead of the last one.
    start_server(clock_offset=30)
    a15 = wait_for("mid-send: three actions delivered after the lease", lambda: settled(k15, 3), timeout=10)
    s = stub.state()
    c15 = calls(s, k15)
    com = [x for x in a15 or [] if x["action"] == "comment"]
    check("mid-send: one comment; the re-claimed attempt found its marker instead of posting",
          len(s["issues"][k15]["comments"]) == 1 and c15.count("POST /rest/api/3/issue/%s/comment" % k15) == 1
          and "GET /rest/api/3/issue/%s/comment?startAt=0&maxResults=100" % k15 in c15
          and len(com) == 1 and com[0]["state"] == "delivered" and com[0]["attempts"] == 2
          and "already on the issue" in (com[0]["last_error"] or ""), "%s %s" % (c15, json.dumps(com)))

    st = stub.state()
    check("the stub saw no malformed request", st["errors"] == [], json.dumps(st["errors"]))

    # -- stop is prompt while the ITSM hangs: the transfer is cut ----------
    # A request timeout longer than the hang and the server's own stop.
    proc.send_signal(signal.SIGTERM)
    check("SIGTERM: clean exit", proc.wait(timeout=30) == 0)
    text = open(cfg).read().replace("timeout_ms: 1000\n", "timeout_ms: 10000\n")
    open(cfg, "w").write(text)
    start_server()
    k9 = K(9)
    stub.issue(k9)
    stub.ctl("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k9, "status": 201,
                               "delay": 9, "body": {"id": "1"}}])
    jira_webhook(ticket(k9, "deny"))
    wait_for("hang: the comment is in flight", lambda: "POST /rest/api/3/issue/%s/comment" % k9 in calls(stub.state(), k9))
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    took = time.monotonic() - t0
    # The server's own stop takes about 2 s; the hung answer would be 9.
    check("SIGTERM with a request in flight: clean exit within 5 s", rc == 0 and took < 5,
          "rc %s after %.1f s" % (rc, took))
    out = subprocess.run([binary, "outbox", "list", "-c", cfg, "--ticket", k9, "--json"], capture_output=True, text=True, env=env)
    check("the cut attempt is due again", "interrupted" in out.stdout and "pending" in out.stdout,
          out.stdout + out.stderr)

    # -- Jira Data Center: REST v2, plain text, a Bearer PAT ----------------
    text = open(cfg).read()
    old = 'auth: { email: bot@acme.com, api_token: "${TG_TEST_JIRA_TOKEN}" }'
    assert text.count(old) == 1
    text = text.replace(old, 'auth: { bearer: "${TG_TEST_JIRA_TOKEN}" }\n      api_version: 2')
    old = "on_annotate: { work_note: true }\n      max_attempts: 40"
    assert text.count(old) == 1
    text = text.replace(old, "on_annotate: { work_note: true }\n      max_attempts: 2")
    open(cfg, "w").write(text)
    stub.ctl("/_stub/auth", {"jira": "Bearer " + JIRA_TOKEN})
    start_server()
    k10 = K(10)
    stub.issue(k10)
    st, d10 = jira_webhook(ticket(k10, "deny"))
    wait_for("v2: three actions delivered", lambda: settled(k10, 3))
    s = stub.state()
    c10 = calls(s, k10)
    check("v2: the v2 paths", [c.replace("/api/2/", "/api/3/") for c in c10] == DENY_SEQ(k10), str(c10))
    check("v2: Bearer", all(r["auth"] == "Bearer " + JIRA_TOKEN for r in reqs(s, k10)))
    com = s["issues"][k10]["comments"]
    check("v2: one plain-text internal comment with the reasons and the decision id",
          len(com) == 1 and isinstance(com[0]["body"], str) and com[0]["internal"]
          and "\n- " in com[0]["body"] and d10["decision_id"] in com[0]["body"], json.dumps(com))
    # -- a 503 each time: dead after max_attempts (2 here) ---------------
    ks2 = "RITM%07d" % (run + 1)
    stub.ctl("/_stub/record", {"table": "sc_req_item", "sys_id": RITM})  # a new stub since the kill
    stub.ctl("/_stub/record", {"table": "sysapproval_approver", "sys_id": APPROVAL, "state": "approved"})
    stub.ctl("/_stub/rules", [{"method": "PATCH", "path": "/api/now/table/sc_req_item/" + RITM, "status": 503,
                               "times": 2, "body": {"error": {"message": "Service Unavailable"}}}])
    sn_webhook(ticket(ks2, "deny"))
    a = wait_for("max_attempts: settled", lambda: settled(ks2, 2))
    wn = [x for x in a or [] if x["action"] == "work_note"]
    check("max_attempts: the work note dead after its 2nd attempt",
          len(wn) == 1 and wn[0]["state"] == "dead" and wn[0]["attempts"] == 2
          and "gave up after 2 attempts: PATCH work note: HTTP 503" in (wn[0]["last_error"] or ""),
          json.dumps(wn))
    # -- a reload that changes where or how to deliver says it waits -------
    text = open(cfg).read().replace("retry_max_ms: 800\n", "retry_max_ms: 900\n")
    open(cfg, "w").write(text)
    proc.send_signal(signal.SIGHUP)
    check("reload: the act_back change is said to apply on restart",
          wait_for("reload logged", lambda: re.search(r'"event":"reload","msg":"act_back delivery settings changed',
                                                      open(log_path).read())) is not None)
    # -- dry run: one comment saying it was not enforced, or nothing -------
    def reload():
        n = open(log_path).read().count('"configuration reloaded')
        proc.send_signal(signal.SIGHUP)
        wait_for("reload done", lambda: open(log_path).read().count('"configuration reloaded') > n)
    text = open(cfg).read()
    assert text.count("  mode: enforce") == 1
    open(cfg, "w").write(text.replace("  mode: enforce", "  mode: dryrun"))
    reload()
    k13 = K(13)
    stub.issue(k13)
    st, d13 = jira_webhook(ticket(k13, "deny"))
    check("dry run: a would-be deny answered annotate, dry_run",
          st == 200 and d13.get("decision") == "annotate" and d13.get("dry_run") is True, "%s %s" % (st, d13))
    a13 = wait_for("dry run: one action delivered", lambda: settled(k13, 1))
    time.sleep(1.0)
    s = stub.state()
    com = s["issues"][k13]["comments"]
    check("dry run: one comment, no transition, no label",
          calls(s, k13) == ["POST /rest/api/2/issue/%s/comment" % k13] and s["issues"][k13]["status"] == "Approved"
          and s["issues"][k13]["labels"] == [], str(calls(s, k13)))
    check("dry run: the comment says it was not enforced, with the decision id",
          len(com) == 1 and "not enforced" in com[0]["text"] and d13["decision_id"] in com[0]["text"]
          and (a13 or [{}])[0].get("params", {}).get("dry_run") is True, json.dumps(com))
    text = open(cfg).read()
    old = "comment_visibility: internal\n"
    assert text.count(old) == 1
    open(cfg, "w").write(text.replace(old, old + "      dryrun_comments: false\n"))
    reload()
    k14 = K(14)
    stub.issue(k14)
    st, d14 = jira_webhook(ticket(k14, "deny"))
    time.sleep(1.5)
    check("dryrun_comments false: nothing queued, nothing sent",
          st == 200 and d14.get("dry_run") is True and actions(k14) == [] and calls(stub.state(), k14) == [],
          "%s %s" % (actions(k14), calls(stub.state(), k14)))
    check("the stub saw no malformed request (v2)", stub.state()["errors"] == [], json.dumps(stub.state()["errors"]))
    proc.send_signal(signal.SIGTERM)
    check("v2: clean exit", proc.wait(timeout=30) == 0)
finally:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    stub.stop()
    if failures:
        sys.stdout.write(open(log_path).read()[-6000:])
    shutil.rmtree(tmp, ignore_errors=True)

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
