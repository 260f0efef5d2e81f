#!/usr/bin/python3
"""valgrind_server.py - one full server run under valgrind, with every
thread and subsystem busy before SIGTERM: act-back to Jira and ServiceNow
(tests/support/itsm_stub.py; a 429 retried, a transfer in flight at the
stop), policy.shadow with a candidate that changes a decision, an event
posted to sources.events, /metrics scraped (the outcome metrics computed)
and GET /v1/expirations, a SIGHUP reload with a changed policy (a new
policy entry), then SIGTERM. Passes only with no valgrind error, no
definite or indirect leak and exit 0. Skipped (77) without valgrind. On a
sanitizer build (TG_SANITIZE) the same run is checked by ASan, LSan and
UBSan instead of valgrind.
Run by ctest as `valgrind_server`.  usage: valgrind_server.py BINARY SOURCE_DIR"""
import base64, datetime as dt, hashlib, hmac, json, os, re, shutil, signal
import subprocess, sys, tempfile, time, urllib.error, urllib.request

binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# A sanitizer build (TG_SANITIZE) cannot run under valgrind: the same run
# is checked by ASan, LeakSanitizer and UBSan instead.
with open(binary, "rb") as f:
    ASAN = b"__asan_init" in f.read()
if not ASAN and not shutil.which("valgrind"):
    print("valgrind not found: the valgrind server run is skipped (install valgrind)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "support"))
import tgserver  # noqa: E402

STUB = os.path.join(HERE, "support", "itsm_stub.py")
GENERIC_SECRET = b"generic-client-secret-for-tests-0123456789"
JIRA_SECRET = b"jira-webhook-secret-for-tests"
EVENTS_SECRET = b"events-hmac-secret-for-tests-0123456789"
JIRA_TOKEN, SN_PASSWORD = "jira-api-token-TEST", "sn-password-TEST"
JIRA_AUTH = "Basic " + base64.b64encode(b"bot@acme.com:" + JIRA_TOKEN.encode()).decode()
SN_AUTH = "Basic " + base64.b64encode(b"ticketgate.integration:" + SN_PASSWORD.encode()).decode()
APPROVAL, RITM = "a" * 31 + "1", "b" * 31 + "2"
VG_EXIT = 99
failures = []


def check(what, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (" " + detail) if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


N = [0]


def jwt(alg, iss, key):
    N[0] += 1
    now = int(time.time())
    claims = {"iss": iss, "aud": "ticketgate", "iat": now, "exp": now + 600,
              "jti": "vg-%d-%d-%d" % (os.getpid(), now, N[0])}
    msg = (b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "."
           + b64u(json.dumps(claims).encode())).encode()
    if alg == "HS256":
        sig = hmac.new(key, msg, hashlib.sha256).digest()
    else:
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg,
                             capture_output=True, check=True).stdout
    return msg.decode() + "." + b64u(sig)


def ticket(key, kind):
    """The example's ACC-4410 as key, expiring in 3 days: allow as shipped
    (and deny under the candidate, whose admin maximum is 1 day); deny: the
    requester approves it himself (SOD_SELF_APPROVAL)."""
    t = json.load(open(os.path.join(src, "example", "payloads", "canonical-ticket.json")))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, second=0)
    t["id"] = key
    t["created_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    t["expires_at"] = (now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    t["justification"] += " Ticket %s of run %d." % (key, os.getpid())
    if kind == "deny":
        t["approver"] = t["requester"]
    return t


def jira_call(t):
    sc, user = t["scope"], (lambda s: {"accountId": s})
    f = {"issuetype": {"name": "Access Request"}, "project": {"key": t["project"]},
         "reporter": user(t["requester"]), "customfield_10050": t["justification"],
         "customfield_10051": user(t["owner"]), "customfield_10052": t["expires_at"],
         "customfield_10053": {"value": sc["system"]}, "customfield_10054": {"value": sc["environment"]},
         "customfield_10055": [{"value": sc["entitlement"]}], "customfield_10056": {"value": sc["privilege"]},
         "customfield_10057": user(t["beneficiary"]), "customfield_10058": None,
         "customfield_10060": None, "customfield_10027": None,
         "customfield_10059": user(t["approver"])}
    return {"issue": {"key": t["id"], "fields": f},
            "transition": {"from": {"name": "Waiting for approval"}, "to": {"name": "Approved"}}}


def sn_doc(t):
    sc, sn_user = t["scope"], (lambda s: {"user_name": s})
    v = {"business_justification": t["justification"],
         "resource_owner": {"value": t["owner"], "display_value": ""},
         "target_system": sc["system"], "environment": sc["environment"],
         "entitlement": sc["entitlement"], "access_level": sc["privilege"],
         "access_expiry": t["expires_at"], "emergency_access": "false"}
    return {"event_id": "ev-%s-%d" % (t["id"], time.time_ns()),
            "approval": {"sys_id": APPROVAL, "state": "approved", "previous_state": "requested",
                         "approver": sn_user(t["approver"])},
            "ritm": {"sys_id": RITM, "number": t["id"], "cat_item": {"name": "Database access"},
                     "opened_by": sn_user(t["requester"]), "requested_for": sn_user(t["beneficiary"]),
                     "variables": v}}


def http(method, url, body=None, headers=None, timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = dict(headers or {})
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what, pred, timeout=20.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    check(what, False, "not within %.0f s" % timeout)
    return None


tmp = tempfile.mkdtemp(prefix="tg-vg-")
stub_proc = subprocess.Popen([sys.executable, STUB, "--jira-auth", JIRA_AUTH, "--sn-auth", SN_AUTH],
                             stdout=subprocess.PIPE, text=True)
m = re.match(r"port (\d+)", stub_proc.stdout.readline() or "")
if not m:
    stub_proc.kill()
    sys.exit("FAIL: the stub did not start")
STUB_URL = "http://127.0.0.1:%s" % m.group(1)


def stub(path, body):
    st, raw = http("POST", STUB_URL + path, body)
    assert st == 204, (path, st, raw)


def stub_state():
    return json.loads(http("GET", STUB_URL + "/_stub/state")[1])


ex = os.path.join(tmp, "example")
shutil.copytree(os.path.join(src, "example"), ex, ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(ex, "ticketgate.yaml")
tgserver.use_port_zero(cfg)
text = open(cfg).read()
# The candidate: the example with admin rights for 1 day at most.
open(os.path.join(ex, "candidate.yaml"), "w").write(text.replace("admin: 30 }", "admin: 1 }"))
ACT = """    act_back:
      base_url: "%s"
      auth: { email: bot@acme.com, api_token: "${TG_TEST_JIRA_TOKEN}" }
      on_deny: { comment: true, transition_to: "Waiting for approval", label: access-governance-denied }
      max_per_host: 2
      retry_base_ms: 200
      retry_max_ms: 800
      timeout_ms: 1000
""" % STUB_URL
SN_ACT = """    act_back:
      instance_url: "http://localhost:%s"
      auth: { user: ticketgate.integration, password: "${TG_TEST_SN_PASSWORD}" }
      on_deny: { reject_approval: true, work_note: true }
      retry_base_ms: 200
      retry_max_ms: 800
      timeout_ms: 1000
""" % m.group(1)
EVENTS = """  events:
    hmac_secret: "%s"
""" % EVENTS_SECRET.decode()
for old, new in (("  jira:\n", "  jira:\n" + ACT), ("  servicenow:\n", "  servicenow:\n" + SN_ACT),
                 ("  generic:\n", EVENTS + "  generic:\n"),
                 ("  mode: enforce", "  mode: enforce\n  shadow: candidate.yaml")):
    assert text.count(old) == 1, old
    text = text.replace(old, new)
open(cfg, "w").write(text)

log_path, vg_path = os.path.join(tmp, "server.log"), os.path.join(tmp, "valgrind.log")
env = dict(os.environ, TG_TEST_JIRA_TOKEN=JIRA_TOKEN, TG_TEST_SN_PASSWORD=SN_PASSWORD)
VG = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
      "--show-leak-kinds=definite,indirect", "--error-exitcode=%d" % VG_EXIT,
      "--log-file=" + vg_path]
if ASAN:
    VG = []
    env["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=%d:log_path=%s" % (VG_EXIT, vg_path)
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:log_path=%s" % vg_path
print("checked by %s" % ("ASan, LSan and UBSan (a sanitizer build)" if ASAN else "valgrind memcheck"))
t_start = time.monotonic()
log = open(log_path, "w")
proc = subprocess.Popen(VG + [binary, "serve", "-c", cfg], stdout=log, stderr=log, env=env)
log.close()
rc = None
try:
    base = tgserver.wait_ready(proc, log_path, timeout=60)
    gen = {"Authorization": "Bearer " + jwt("HS256", "ticketgate-client", GENERIC_SECRET)}
    run = os.getpid() % 100000
    K = lambda n: "ACC-%d%02d" % (run, n)
    WF = {"Approved": ["Waiting for approval", "Done"], "Waiting for approval": ["Approved"]}

    def jira(t):
        body = json.dumps(jira_call(t)).encode()
        sig = hmac.new(JIRA_SECRET, body, hashlib.sha256).hexdigest()
        st, raw = http("POST", base + "/v1/webhooks/jira", body, {"X-Hub-Signature": "sha256=" + sig})
        return st, json.loads(raw or b"{}")

    def actions(key):
        h = {"Authorization": "Bearer " + jwt("HS256", "ticketgate-client", GENERIC_SECRET)}
        st, raw = http("GET", base + "/v1/actions?ticket=" + key, headers=h)
        return json.loads(raw)["actions"] if st == 200 else []

    def delivered(key, n):
        a = actions(key)
        return a if len(a) == n and all(x["state"] == "delivered" for x in a) else None

    # A Jira deny: comment (429 once, Retry-After 1: a retry), transition, label.
    k1 = K(1)
    stub("/_stub/issue", {"key": k1, "status": "Approved", "workflow": WF})
    stub("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k1,
                           "status": 429, "headers": {"Retry-After": "1"}, "times": 1}])
    st, d = jira(ticket(k1, "deny"))
    check("jira deny answered", st == 200 and d.get("decision") == "deny", "%s %s" % (st, d))
    # A ServiceNow deny: approval rejected, work note.
    stub("/_stub/record", {"table": "sysapproval_approver", "sys_id": APPROVAL, "state": "approved"})
    stub("/_stub/record", {"table": "sc_req_item", "sys_id": RITM})
    ks = "RITM%07d" % run
    body = json.dumps(sn_doc(ticket(ks, "deny"))).encode()
    tok = jwt("RS256", "https://acme.service-now.com",
              os.path.join(ex, "keys", "servicenow-private-TEST-ONLY.pem"))
    st, raw = http("POST", base + "/v1/webhooks/servicenow", body, {"Authorization": "Bearer " + tok})
    check("servicenow deny answered", st == 200 and json.loads(raw).get("decision") == "deny",
          "%s %s" % (st, raw[:300]))
    # An allow the candidate denies: a shadow change.
    k2 = K(2)
    st, d2 = jira(ticket(k2, "allow"))
    check("jira allow answered", st == 200 and d2.get("decision") == "allow", "%s %s" % (st, d2))
    # An event (the revoke of the allowed ticket).
    ev = {"events": [{"type": "revoke", "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "identity": "bob@example.com", "system": "payments-db",
                      "entitlement": "role:refunds_ddl", "environment": "prod", "ticket": k2,
                      "source_id": "vg-%d-1" % run},
                     {"type": "grant", "time": "2026-11-20T08:00:00Z", "identity": "carol@example.com",
                      "system": "hr-portal", "entitlement": "hr-portal-user", "source_id": "vg-%d-2" % run}]}
    body = json.dumps(ev).encode()
    sig = hmac.new(EVENTS_SECRET, body, hashlib.sha256).hexdigest()
    st, raw = http("POST", base + "/v1/events", body, {"X-Hub-Signature": "sha256=" + sig})
    check("event accepted", st == 200, "%s %s" % (st, raw[:300]))

    wait_for("jira deny: 3 actions delivered", lambda: delivered(k1, 3), 30)
    wait_for("servicenow deny: 2 actions delivered", lambda: delivered(ks, 2), 30)
    s = stub_state()
    check("stub: no request refused", s["errors"] == [], json.dumps(s["errors"])[:500])
    check("stub: the Jira issue labelled", s["issues"][k1]["labels"] == ["access-governance-denied"])

    def shadow_changed():
        st, raw = http("GET", base + "/metrics")
        return st == 200 and re.search(r'^ticketgate_shadow_changes_total\{from="allow",to="deny"[^}]*\} [1-9]',
                                       raw.decode(), re.M)
    wait_for("shadow: the allow is a deny under the candidate", shadow_changed, 30)
    st, raw = http("GET", base + "/metrics")
    # Refreshed at the first scrape, after the events: the revoke linked to
    # the allowed ticket, the grant with no ticket.
    check("metrics: outcome metrics computed", st == 200
          and b"\nticketgate_revocation_lag_seconds_count 1\n" in raw
          and b"\nticketgate_unticketed_grants_total 1\n" in raw,
          "\n".join(l for l in raw.decode().splitlines() if "lag_seconds_count" in l or "unticketed" in l))
    st, raw = http("GET", base + "/v1/expirations?due_before=2099-01-01", headers=gen)
    check("expirations answered", st == 200 and "expirations" in json.loads(raw), "%s %s" % (st, raw[:300]))

    # Reload with a changed policy: a new policy entry, the shadow re-read.
    with open(cfg) as f:
        text = f.read()
    assert text.count("max_reuse: 2") == 1
    open(cfg, "w").write(text.replace("max_reuse: 2", "max_reuse: 3"))
    proc.send_signal(signal.SIGHUP)
    wait_for("reloaded", lambda: "configuration reloaded" in open(log_path).read(), 30)
    st, raw = http("GET", base + "/readyz")
    check("ready after reload", st == 200, "%s %s" % (st, raw[:300]))

    # After the reload: a deny whose comment hangs at the stop (a transfer
    # cut by SIGTERM, the action left for the next start).
    k3 = K(3)
    stub("/_stub/issue", {"key": k3, "status": "Approved", "workflow": WF})
    stub("/_stub/rules", [{"method": "POST", "path": "/rest/api/3/issue/%s/comment" % k3,
                           "status": 201, "delay": 5, "times": 1}])
    st, d3 = jira(ticket(k3, "deny"))
    check("deny after reload answered", st == 200 and d3.get("decision") == "deny", "%s %s" % (st, d3))
    wait_for("the comment in flight", lambda: any(r["path"].endswith("/issue/%s/comment" % k3)
                                                  for r in stub_state()["requests"])
             or any(x["state"] == "inflight" for x in actions(k3)), 20)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        check("stopped within 60 s of SIGTERM", False)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    stub_proc.kill()
    stub_proc.wait()

# valgrind writes vg_path; the sanitizers vg_path.<pid>.
vg = "".join(open(os.path.join(tmp, n)).read() for n in sorted(os.listdir(tmp))
             if n.startswith("valgrind.log"))
check("exit 0 (%s is the checker's error exit)" % VG_EXIT, rc == 0, "exit %s" % rc)
check("no memory error, no definite or indirect leak", vg.strip() == "", "\n" + vg[:20000])
log_text = open(log_path).read()
check("the server logged its stop", '"event":"stop"' in log_text)
print("run took %.1f s" % (time.monotonic() - t_start))
if failures:
    print("---- server log ----\n%s---- end ----" % log_text[-8000:])
    print("FAILED: %d check(s); files kept in %s" % (len(failures), tmp))
    sys.exit(1)
if os.environ.get("TG_TEST_KEEP") == "1":
    print("kept in %s" % tmp)
else:
    shutil.rmtree(tmp, ignore_errors=True)
print("PASS")
