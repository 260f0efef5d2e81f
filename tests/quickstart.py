#!/usr/bin/python3
"""The README's quick start, run as a new user runs it, on the live clock:
the real server on a copy of example/ (a fresh store), tickets printed by
scripts/example-ticket.py, tokens minted by scripts/mint-jwt.py, POST
/v1/check. The allow ticket must be answered `allow` and the deny ones
`deny` with the codes the README names, today and on any other day (issue
9, item 8); `ticketgate check` on the same tickets must agree. Run by ctest
as `quickstart`. usage: quickstart.py BINARY SOURCE_DIR"""
import datetime as dt, json, os, shutil, subprocess, sys, tempfile
import time, urllib.error, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import tgserver  # noqa: E402

binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HELPER = os.path.join(src, "scripts", "example-ticket.py")
MINT = os.path.join(src, "scripts", "mint-jwt.py")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def helper(*args):
    r = subprocess.run([sys.executable, HELPER] + list(args),
                       capture_output=True, check=True)
    return r.stdout


tmp = tempfile.mkdtemp(prefix="tg-quickstart-")
ex = os.path.join(tmp, "example")
shutil.copytree(os.path.join(src, "example"), ex,
                ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(ex, "ticketgate.yaml")
shutil.copy(os.path.join(src, "example", "ticketgate.yaml"), cfg)
tgserver.use_port_zero(cfg)
log_path = os.path.join(tmp, "server.log")
log = open(log_path, "w")
proc = subprocess.Popen([binary, "serve", "-c", cfg], cwd=ex,
                        stdout=log, stderr=log)
base = tgserver.wait_ready(proc, log_path)


def mint():
    return subprocess.run([sys.executable, MINT], capture_output=True,
                          check=True, text=True).stdout.strip()


def post(body, tok=None):
    tok = tok or mint()
    req = urllib.request.Request(
        base + "/v1/check", data=body, method="POST",
        headers={"Authorization": "Bearer " + tok,
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def offline(body):
    r = subprocess.run([binary, "check", "-c", cfg, "-"], input=body,
                       capture_output=True, cwd=ex)
    lines = r.stdout.decode().splitlines()
    if not lines:
        print("ticketgate check printed nothing (exit %d): %s"
              % (r.returncode, r.stderr.decode()[-2000:]))
        return {}
    return json.loads(lines[0])


def codes(d):
    return sorted(f["code"] for f in d.get("findings", []))


def last_day(evaluated_at, days):
    """The last plain date an end may name: D 23:59:59 within the limit."""
    t = dt.datetime.strptime(evaluated_at, "%Y-%m-%dT%H:%M:%SZ")
    return (t + dt.timedelta(days=days, seconds=-86399)).date().isoformat()


try:
    check(proc.poll() is None, "the server runs on the example configuration")

    # The shipped ticket, as it is, may have expired (the bug of issue 9):
    # the helper's copy of it must not, whatever the day.
    allow = helper()
    t = json.loads(allow)
    now = dt.datetime.now(dt.timezone.utc)
    end = dt.datetime.strptime(t["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)
    check(dt.timedelta(days=2) < end - now <= dt.timedelta(days=3),
          "the allow ticket ends in 3 days from now (%s)" % t["expires_at"])

    status, d = post(allow)
    check(status == 200 and d.get("decision") == "allow" and not codes(d),
          "example-ticket.py | curl: allow (got %s %s %s)"
          % (status, d.get("decision"), codes(d)))
    check(offline(allow).get("decision") == "allow",
          "example-ticket.py | ticketgate check -: allow")

    # mint-jwt.py gives every token a jti, so a token the README's reader
    # copies carries one body only (API.md: a jti is single-use).
    tok = mint()
    first, d1 = post(allow, tok)
    again, d2 = post(allow, tok)
    other, _ = post(helper("--days", "2"), tok)
    check(first == 200 and again == 200 and
          d1.get("decision_id") == d2.get("decision_id") and other == 409,
          "one minted token: its body again is the recorded decision, "
          "another body 409 (got %s %s %s)" % (first, again, other))

    deny = helper("--deny")
    status, d = post(deny)
    check(status == 200 and d.get("decision") == "deny"
          and codes(d) == ["AUTHORITY_NONE", "SOD_SELF_APPROVAL"],
          "example-ticket.py --deny: deny, SOD_SELF_APPROVAL and "
          "AUTHORITY_NONE (got %s %s %s)" % (status, d.get("decision"), codes(d)))
    sod = [f["message"] for f in d.get("findings", [])
           if f["code"] == "SOD_SELF_APPROVAL"]
    check(sod == ["The approver Bob Smith (bob@example.com) is also the "
                  "requester; a second person must approve."],
          "the deny names the approver by name and id (got %s)" % sod)
    check(codes(offline(deny)) == codes(d), "ticketgate check agrees on --deny")

    # The expiry limit of the example: admin for 30 days at most.
    status, d = post(helper("--days", "30"))
    check(status == 200 and d.get("decision") == "allow",
          "--days 30: allow (got %s %s %s)" % (status, d.get("decision"), codes(d)))
    status, d = post(helper("--days", "31"))
    check(status == 200 and d.get("decision") == "deny"
          and codes(d) == ["EXPIRY_TOO_LONG"],
          "--days 31: deny EXPIRY_TOO_LONG (got %s %s %s)"
          % (status, d.get("decision"), codes(d)))
    if d.get("findings"):
        want = "set it to %s or an earlier day." % last_day(d["evaluated_at"], 30)
        check(d["findings"][0]["message"].endswith(want),
              "--days 31 names the last allowed day: %r in %r"
              % (want, d["findings"][0]["message"]))

    # --now makes the helper reproducible: the shipped dates come back.
    fixed = json.loads(helper("--now", "2026-12-01T00:00:00Z"))
    shipped = json.load(open(os.path.join(src, "example", "payloads",
                                          "canonical-ticket.json")))
    check(fixed["expires_at"] == "2026-12-04T00:00:00Z"
          and {k: v for k, v in fixed.items() if k not in ("created_at", "expires_at")}
          == {k: v for k, v in shipped.items() if k not in ("created_at", "expires_at")},
          "--now 2026-12-01T00:00:00Z: the shipped ticket, ending 2026-12-04")
    bad = subprocess.run([sys.executable, HELPER, "--now", "2026-12-01T00:00:00"],
                         capture_output=True)
    check(bad.returncode == 2 and b"zone" in bad.stderr,
          "--now without a zone is refused")
finally:
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    if failures:
        sys.stderr.write(open(os.path.join(tmp, "server.log")).read())
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("quick start: every check passed")
