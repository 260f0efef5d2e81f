#!/usr/bin/python3
"""Many replicas on one PostgreSQL chain (issue 15), against the real server
of scripts/pg-test.sh (TG_TEST_PG_URL, TG_TEST_PG_CTL). Each scenario
starts REPLICAS ticketgate processes at once on a fresh database of its own
(so their migrations race, as pods of a Deployment do), drives CONNECTIONS
keep-alive connections spread over them with real Bearer-JWT requests to
POST /v1/check, every one a new ticket, for SECONDS, stops the replicas
(SIGTERM) and then checks the chain:
  * every acknowledged decision (a 200 naming its decision_id) is stored
    exactly once, under the ticket it was asked for;
  * seq is contiguous, distinct prev_hash equals the row count, every row's
    prev_hash is the previous row's hash (audit export), and psql agrees on
    the counts;
  * `ticketgate audit verify` passes.
Scenarios:
  load       the steady run; halfway, and again once the load is over,
             three new tickets with one justification go to three
             replicas in turn, 0.1 s apart: the third is flagged
             JUSTIFICATION_COPY_FORWARD (max_reuse 2), however busy the
             replicas are (each counts from its own index, fed by the
             others' records, while it writes; from the database when it
             is idle).
  kill       a replica is killed with SIGKILL halfway; its connections move
             to the others; it is started again at three quarters.
  pgrestart  PostgreSQL crashes (pg_ctl stop -m immediate) at a third and
             stays down DOWN seconds: every replica answers 503 (and
             /readyz 503) meanwhile; started again, every replica, the same
             process, is ready and acknowledges decisions again.
usage: pg_replicas.py BINARY SOURCE_DIR SCENARIO
Environment: TG_PG_LOAD_SECONDS (30), TG_PG_REPLICAS (4),
TG_PG_CONNECTIONS (64), TG_PG_DOWN_SECONDS (4). Without TG_TEST_PG_URL it
prints one skip line and exits 77."""
import base64, datetime as dt, glob, hashlib, hmac, http.client, json, os
import re, shutil, signal, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "support"))
import tgserver  # noqa: E402

if len(sys.argv) != 4 or sys.argv[3] not in ("load", "kill", "pgrestart"):
    print(__doc__, file=sys.stderr)
    sys.exit(2)
binary, src, scenario = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
SECONDS = float(os.environ.get("TG_PG_LOAD_SECONDS", "30"))
REPLICAS = int(os.environ.get("TG_PG_REPLICAS", "4"))
CONNS = int(os.environ.get("TG_PG_CONNECTIONS", "64"))
DOWN = float(os.environ.get("TG_PG_DOWN_SECONDS", "4"))
SECRET = b"generic-client-secret-for-tests-0123456789"
HMAC_KEY = "pg-replicas-link-key-0123456789abcdef"

base_url = os.environ.get("TG_TEST_PG_URL", "")
if not base_url:
    print("SKIP pg_replicas %s: no PostgreSQL server (%s); run the tests through "
          "scripts/pg-test.sh (scripts/test.sh does)"
          % (scenario, os.environ.get("TG_TEST_PG_SKIP", "TG_TEST_PG_URL is not set")))
    sys.exit(77)
PG_CTL = os.environ.get("TG_TEST_PG_CTL", "")
if scenario == "pgrestart" and not PG_CTL:
    print("SKIP pg_replicas pgrestart: TG_TEST_PG_CTL is not set (scripts/pg-test.sh sets it)")
    sys.exit(77)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def psql_bin():
    p = shutil.which("psql")
    if p:
        return p
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    if not found:
        print("FAIL: psql not found (Debian postgresql-client)")
        sys.exit(1)
    return found[-1]


PSQL = psql_bin()


def psql(url, sql):
    r = subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql %r: %s" % (sql, r.stderr.strip()))
    return r.stdout.strip()


def with_db(url, db):
    """url with its database (the path) replaced by db."""
    u = urllib.parse.urlsplit(url)
    # by hand: urlunsplit drops the "//" of an empty host (a socket URL)
    return "%s://%s/%s%s" % (u.scheme, u.netloc, db, ("?" + u.query) if u.query else "")


# --- a database of this scenario's own ---------------------------------
dbname = "tg_replicas_%s_%d" % (scenario, os.getpid())
admin_url = with_db(base_url, "postgres")
psql(admin_url, "DROP DATABASE IF EXISTS %s" % dbname)
psql(admin_url, "CREATE DATABASE %s" % dbname)
db_url = with_db(base_url, dbname)

# --- configuration: the example on PostgreSQL, port 0 ------------------
tmp = tempfile.mkdtemp(prefix="tg-pgrep-%s-" % scenario)
ex = os.path.join(tmp, "example")
shutil.copytree(os.path.join(src, "example"), ex, ignore=shutil.ignore_patterns("data"))
cfg = os.path.join(ex, "ticketgate.yaml")
tgserver.use_port_zero(cfg)
text = open(cfg).read()
new = re.sub(r'(?m)^store:\n(  .*\n|\s*#.*\n)*',
             'store:\n  driver: postgresql\n  url: "${TG_DATABASE_URL}"\n'
             '  hmac_key: "${TG_STORE_HMAC_KEY}"\n', text, count=1)
if new == text:
    print("FAIL: no store: section in %s" % cfg)
    sys.exit(1)
open(cfg, "w").write(new)
ENV = dict(os.environ, TG_DATABASE_URL=db_url, TG_STORE_HMAC_KEY=HMAC_KEY)

# The example ticket, allowed on the live clock (as bench/http_bench.sh).
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
ticket = json.load(open(os.path.join(ex, "payloads", "canonical-ticket.json")))
ticket["expires_at"] = (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
ticket["created_at"] = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
TEMPLATE = json.dumps(ticket)
CHANGE = "CHG0031337"
if CHANGE not in TEMPLATE:
    print("FAIL: the example ticket's justification no longer names %s" % CHANGE)
    sys.exit(1)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token():
    """An HS256 token of sources.generic, no jti (reusable, as a client's
    long-lived credential: each request still carries its own body)."""
    t = int(time.time())
    signing = (b64u(b'{"alg":"HS256","typ":"JWT"}') + "." +
               b64u(json.dumps({"iss": "ticketgate-client", "aud": "ticketgate",
                                "iat": t, "exp": t + 3600}).encode()))
    return signing + "." + b64u(hmac.new(SECRET, signing.encode(), hashlib.sha256).digest())


TOKEN = token()


# --- replicas --------------------------------------------------------
class Replica:
    def __init__(self, i):
        self.i = i
        self.proc = None
        self.base = None
        self.port = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(tmp, "replica%d.%d.log" % (self.i, self.starts))
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "serve", "-c", cfg], cwd=ex, env=ENV,
                                     stdout=log, stderr=log)
        log.close()

    def wait(self):
        self.base = tgserver.wait_ready(self.proc, self.log_path, timeout=60)
        self.port = int(self.base.rsplit(":", 1)[1])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def get_status(base, path, timeout=3):
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def wait_ready(r, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if get_status(r.base, "/readyz") == 200:
            return True
        time.sleep(0.1)
    return False


replicas = [Replica(i) for i in range(REPLICAS)]


def stop_all():
    for r in replicas:
        if r.alive():
            r.proc.send_signal(signal.SIGTERM)
    for r in replicas:
        if r.proc is not None:
            try:
                r.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait()


def dump_logs():
    for path in sorted(glob.glob(os.path.join(tmp, "replica*.log"))):
        lines = open(path, errors="replace").read().splitlines()
        interesting = [l for l in lines if ('"level":"error"' in l or '"level":"warn"' in l
                                            or not l.startswith("{"))
                       and '"event":"request"' not in l]
        print("---- %s: %d lines, last warnings/errors ----" % (os.path.basename(path), len(lines)))
        for l in interesting[-15:]:
            print(l[:400])


def finish(code):
    stop_all()
    if code != 0:
        dump_logs()
    try:
        psql(admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
    except Exception as e:  # the server may be gone: it is removed anyway
        print("note: could not drop %s: %s" % (dbname, e))
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)


t0 = time.monotonic()
for r in replicas:          # all at once: their migrations race
    r.start()
for r in replicas:
    r.wait()
for r in replicas:
    if not wait_ready(r, 30):
        check(False, "replica %d ready (/readyz 200) after start" % r.i)
        finish(1)
print("%d replicas ready in %.1f s on %s (ports %s)" % (
    REPLICAS, time.monotonic() - t0, dbname, ", ".join(str(r.port) for r in replicas)), flush=True)


# --- the load ----------------------------------------------------------
stop_load = threading.Event()
lock = threading.Lock()
acked = {}                  # decision_id -> (ticket id, replica, ack time)
dup_ack = []                # a decision_id acknowledged twice
statuses = {}               # (replica, status) -> count
unexpected = []             # (replica, status, body) of anything but 200 / 503
errors = {}                 # replica -> connection errors
window = {"down_from": None, "down_to": None}
n_started = [0]


def body_for(tid, seq):
    tag = "%s-%d" % (tid, seq)
    return TEMPLATE.replace('"id": "%s"' % ticket["id"], '"id": "PGR-%s"' % tag, 1) \
                   .replace(CHANGE, "CHG" + tag, 1).encode(), "PGR-" + tag


def worker(tid):
    home = tid % REPLICAS
    target = home
    conn = None
    seq = 0
    local_acked = []
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    while not stop_load.is_set():
        r = replicas[target]
        if not r.alive():   # killed: its clients move to the next replica
            target = (target + 1) % REPLICAS
            conn = None
            time.sleep(0.005)
            continue
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=20)
        seq += 1
        body, tkey = body_for(tid, seq)
        try:
            conn.request("POST", "/v1/check", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
        except Exception:
            with lock:
                errors[target] = errors.get(target, 0) + 1
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.02)
            if home != target and replicas[home].alive():
                target = home
            continue
        with lock:
            statuses[(target, status)] = statuses.get((target, status), 0) + 1
        if status == 200:
            try:
                did = json.loads(data)["decision_id"]
            except Exception:
                with lock:
                    unexpected.append((target, status, data[:200]))
                continue
            local_acked.append((did, tkey, target, time.monotonic()))
        elif status == 503:
            time.sleep(0.02)    # as a client honouring Retry-After would, briefly
        else:
            with lock:
                unexpected.append((target, status, data[:300]))
        if home != target and replicas[home].alive():
            target = home
            conn = None
    with lock:
        for did, tkey, target, when in local_acked:
            if did in acked:
                dup_ack.append(did)
            acked[did] = (tkey, target, when)


threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(CONNS)]
load_t0 = time.monotonic()
for t in threads:
    t.start()


def copy_forward_round(tag):
    """The findings of three new tickets with one justification (tag), each
    sent to the next replica 0.1 s after the one before was answered (the
    bound a busy replica's index may lag the others: TG_CF_FRESH_MS)."""
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    codes = []
    for k in range(3):
        r = replicas[k % REPLICAS]
        body = TEMPLATE.replace('"id": "%s"' % ticket["id"], '"id": "CFW-%s-%d"' % (tag, k), 1) \
                       .replace(CHANGE, "CHG" + tag, 1)
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=20)
        try:
            conn.request("POST", "/v1/check", body=body.encode(), headers=headers)
            resp = conn.getresponse()
            doc = json.loads(resp.read()) if resp.status == 200 else {}
        finally:
            conn.close()
        codes.append(sorted(f.get("code") for f in doc.get("findings", [])) if doc else None)
        time.sleep(0.1)
    return codes


def check_copy_forward(tag, when):
    codes = copy_forward_round(tag)
    flag = "JUSTIFICATION_COPY_FORWARD"
    check(None not in codes and flag not in codes[0] and flag not in codes[1] and flag in codes[2],
          "%s: one justification on replicas 0, 1, 2 in turn: only the third is flagged "
          "copy-forward (findings %s)" % (when, codes))


def sleep_until(frac):
    left = load_t0 + SECONDS * frac - time.monotonic()
    if left > 0:
        time.sleep(left)


down_seen = {}              # replica -> /readyz statuses, in order, while PostgreSQL was down
if scenario == "load":
    sleep_until(0.5)
    check_copy_forward("CFWBUSY%d" % os.getpid(), "under load")
elif scenario == "kill":
    sleep_until(0.5)
    victim = replicas[1 % REPLICAS]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    print("killed replica %d (pid %d) with SIGKILL at %.1f s"
          % (victim.i, victim.proc.pid, time.monotonic() - load_t0), flush=True)
    sleep_until(0.75)
    victim.start()          # as its Deployment would, onto the live chain
    victim.wait()
    check(wait_ready(victim, 30), "the killed replica starts again on the live chain and is ready")
    window["up_at"] = time.monotonic()
elif scenario == "pgrestart":
    sleep_until(1 / 3)
    pids_before = [r.proc.pid for r in replicas]
    window["down_from"] = time.monotonic()
    rc = subprocess.run([PG_CTL, "stop", "immediate"], capture_output=True, text=True)
    check(rc.returncode == 0, "PostgreSQL crashed (pg_ctl stop -m immediate)")
    print("PostgreSQL stopped (immediate) at %.1f s" % (time.monotonic() - load_t0), flush=True)
    t_down = time.monotonic()
    while time.monotonic() - t_down < DOWN:
        for r in replicas:
            down_seen.setdefault(r.i, []).append(get_status(r.base, "/readyz", timeout=2))
        time.sleep(0.2)
    window["down_to"] = time.monotonic()
    rc = subprocess.run([PG_CTL, "start"], capture_output=True, text=True)
    check(rc.returncode == 0, "PostgreSQL started again")
    print("PostgreSQL started at %.1f s" % (time.monotonic() - load_t0), flush=True)
    t_up = time.monotonic()
    for r in replicas:
        check(wait_ready(r, 30), "replica %d ready again after PostgreSQL came back (%.1f s)"
              % (r.i, time.monotonic() - t_up))
    check([r.proc.pid for r in replicas] == pids_before and all(r.alive() for r in replicas),
          "no replica was restarted (the same processes recovered)")
    window["up_at"] = time.monotonic()

sleep_until(1.0)
if "up_at" in window:        # a short run still loads the recovered replicas
    time.sleep(max(0.0, window["up_at"] + 3 - time.monotonic()))
stop_load.set()
for t in threads:
    t.join(timeout=60)
load_s = time.monotonic() - load_t0
hung = sum(1 for t in threads if t.is_alive())
if scenario == "load":
    time.sleep(0.2)         # every replica idle: the database counts
    check_copy_forward("CFWIDLE%d" % os.getpid(), "idle")
stop_all()

# --- what the clients saw ----------------------------------------------
total = sum(statuses.values())
by_status = {}
for (_, st), n in statuses.items():
    by_status[st] = by_status.get(st, 0) + n
print("load: %.1f s, %d connections, %d answers %s, %d acknowledged (%.0f/s), "
      "connection errors %s" % (load_s, CONNS, total, json.dumps(by_status, sort_keys=True),
                                len(acked), len(acked) / max(load_s, 1e-9),
                                json.dumps(errors, sort_keys=True)), flush=True)
check(hung == 0, "every client thread finished (%d hung)" % hung)
check(len(acked) > 0, "decisions were acknowledged")
check(not dup_ack, "no decision_id acknowledged twice (%d)" % len(dup_ack))
check(not unexpected, "no answer but 200 and 503 (%d others%s)" % (
    len(unexpected), (": first %r" % (unexpected[0],)) if unexpected else ""))
if scenario != "pgrestart":
    check(by_status.get(503, 0) == 0, "no 503 while PostgreSQL was up (%d)" % by_status.get(503, 0))
for r in replicas:
    n = sum(1 for v in acked.values() if v[1] == r.i)
    check(n > 0, "replica %d acknowledged decisions (%d)" % (r.i, n))
if scenario == "kill":
    n = sum(1 for v in acked.values() if v[1] == 1 % REPLICAS and v[2] > window["up_at"])
    check(n > 0, "the restarted replica acknowledged decisions (%d)" % n)
if scenario == "pgrestart":
    for r in replicas:
        seen = down_seen.get(r.i, [])
        # the first poll may come before the replica's next write noticed
        check(seen[-3:] == [503] * 3,
              "replica %d: /readyz 503 while PostgreSQL was down (saw %s)"
              % (r.i, " ".join(str(x) for x in seen)))
        n503 = statuses.get((r.i, 503), 0)
        check(n503 > 0, "replica %d answered 503 while PostgreSQL was down (%d)" % (r.i, n503))
    late = [v for v in acked.values() if v[2] > window["down_from"] + 1.0 and v[2] < window["down_to"]]
    check(not late, "no decision acknowledged while PostgreSQL was down (%d)" % len(late))
    after = {v[1] for v in acked.values() if v[2] > window["down_to"]}
    check(after == set(range(REPLICAS)), "every replica acknowledged decisions after the restart "
          "(%s)" % sorted(after))

# --- the chain ---------------------------------------------------------
# As an operator runs it (the configuration names the store), and with the
# URL given (--store, the key from -c): the export below reads the latter.
for how, args in (("-c", ["-c", cfg]), ("--store URL", ["--store", db_url, "-c", cfg])):
    verify = subprocess.run([binary, "audit", "verify"] + args, cwd=ex, env=ENV,
                            capture_output=True, text=True, timeout=600)
    check(verify.returncode == 0 and "MACs verified" in verify.stdout,
          "ticketgate audit verify %s passes, MACs verified (exit %d: %s)"
          % (how, verify.returncode, (verify.stdout + verify.stderr).strip()[-600:]))

exp = subprocess.run([binary, "audit", "export", "--store", db_url, "-c", cfg], cwd=ex, env=ENV,
                     capture_output=True, text=True, timeout=600)
check(exp.returncode == 0, "ticketgate audit export exits 0 (%d: %s)"
      % (exp.returncode, exp.stderr.strip()[-300:]))
rows = [json.loads(l) for l in exp.stdout.splitlines() if l.strip()]
seqs = [r.get("seq") for r in rows]
n = len(rows)
check(n > 0 and seqs == list(range(seqs[0], seqs[0] + n)),
      "seq is contiguous over all %d rows (first %s, last %s)" % (n, seqs[:1], seqs[-1:]))
prevs = [r.get("prev_hash") for r in rows]
check(None not in prevs and len(set(prevs)) == n,
      "distinct prev_hash equals the row count (%d of %d)" % (len(set(prevs)), n))
hashes = [r.get("hash") for r in rows]
links = sum(1 for i in range(1, n) if rows[i].get("prev_hash") != hashes[i - 1])
check(None not in hashes and links == 0,
      "every row's prev_hash is the previous row's hash (%d broken links)" % links)

decisions = {}
dup_rows = 0
for r in rows:
    if r.get("kind") not in (None, "decision"):
        continue
    did = r.get("decision_id") or r.get("key") or (r.get("decision") or {}).get("decision_id")
    if did in decisions:
        dup_rows += 1
    decisions[did] = r
check(dup_rows == 0, "no decision stored twice (%d duplicates)" % dup_rows)
missing = [d for d in acked if d not in decisions]
check(not missing, "every acknowledged decision is stored (%d of %d missing%s)" % (
    len(missing), len(acked), (", e.g. " + missing[0]) if missing else ""))
wrong = [d for d, v in acked.items() if d in decisions and decisions[d].get("ticket") != v[0]]
check(not wrong, "each stored under the ticket it was asked for (%d differ)" % len(wrong))
ours = sum(1 for d, r in decisions.items() if str(r.get("ticket") or "").startswith("PGR-"))
print("stored: %d rows, %d decisions of this load, %d acknowledged (%d stored but not "
      "acknowledged: answers lost with a killed replica or a dropped connection)"
      % (n, ours, len(acked), ours - len(acked) + len(missing)), flush=True)

# psql, beside the export: the same counts from the database itself.
try:
    tables = psql(db_url, "SELECT table_name FROM information_schema.columns WHERE "
                  "table_schema = current_schema() AND column_name = 'prev_hash'").split()
    check(len(tables) == 1, "one table holds the chain (prev_hash): %s" % tables)
    if len(tables) == 1:
        t = tables[0]
        got = psql(db_url, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), "
                   "count(DISTINCT prev_hash) FROM %s" % t).split("|")
        cnt, dseq, lo, hi, dprev = (int(x) for x in got)
        check(cnt == n and dseq == cnt and hi - lo + 1 == cnt and dprev == cnt,
              "psql on %s: %d rows, %d distinct seq in %d..%d, %d distinct prev_hash "
              "(export: %d rows)" % (t, cnt, dseq, lo, hi, dprev, n))
except RuntimeError as e:
    check(False, "psql reads the chain: %s" % e)

print("%s: %d failure(s)" % ("PASS" if not failures else "FAIL", len(failures)))
finish(0 if not failures else 1)
