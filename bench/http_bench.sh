#!/usr/bin/env bash
# Measures the HTTP server against a bare CivetWeb handler with wrk:
# requests/s, the ratio to bare, p50/p99 latency and peak RSS, then a soak
# run at 64 connections that must show no errors and a flat RSS. Both sides
# keep connections open (wrk does by default; bench/bare.c turns CivetWeb's
# keep-alive on with the options server/http/http.c uses), and a probe before the
# runs shows that each really does: a second request on one curl reuses
# the connection.
#
#   bench/http_bench.sh [DURATION] [SOAK]
#
# Runs, 32 connections each: the bare handler (bench/bare.c) given the
# canonical ticket, then the Jira webhook request; POST /v1/check with a new
# ticket every request (bench/check_distinct.lua: the targets' run); the one
# example ticket again and again (bench/check.lua); the Jira webhook
# (bench/jira.lua). Each path's "x bare" is against the bare handler given
# the same request, so that both sides read the same bytes. Every decision is recorded in the evidence store.
# DURATION (default 10) seconds per 32-connection run; SOAK (default 60)
# seconds of the 64-connection run, 0 to skip it. TG_BENCH_BARE_THREADS
# (default 128, ticketgate's server.connections) is the bare handler's
# CivetWeb thread count. Builds build-bench/
# (Release) unless TG_BIN names a binary. The evidence store lives in a
# temporary directory; set TG_BENCH_DIR to put it on the disk you deploy on
# (a tmpfs makes every write cheaper than in production). The server logs at
# warn unless TG_BENCH_LOG_LEVEL says otherwise. TG_BENCH_PERF=FILE records
# the server with `perf record -g` during the distinct-ticket run (read it
# with perf report -i FILE; TG_BENCH_PERF_ARGS replaces -g, e.g.
# "--call-graph dwarf -F 999" to see through libc and jansson);
# TG_BENCH_PERF_RUN=jira records the Jira webhook run instead.
# TG_BENCH_ONLY=check stops after the distinct-ticket run, =jira runs only
# the Jira webhook after it (a profile of each path without the rest).
#
# Act-back (issue 12: the benchmarks stay within noise with act-back on):
# TG_BENCH_ACTBACK=1 starts tests/support/itsm_stub.py (the recording stub
# of Jira and ServiceNow) on loopback and adds sources.jira.act_back and
# sources.servicenow.act_back (on_deny and on_annotate, comment / work note)
# pointing at it; the runs are the same, and the end shows what the sender
# did (actions_total by outcome, the outbox left pending, requests the stub
# got). The runs' tickets are allowed, so that measures act-back on but
# idle (the planner, the sender thread's polls). TG_BENCH_JIRA_ANNOTATE=1
# makes the Jira webhook run's ticket an annotate (60 days of admin,
# EXPIRY_TOO_LONG made a warning): with act-back on every one of its
# decisions queues a Jira comment in its own transaction, delivered while
# the run goes on. Compare like with like, on a quiet machine:
#   TG_BENCH_JIRA_ANNOTATE=1 bench/http_bench.sh 10 0
#   TG_BENCH_JIRA_ANNOTATE=1 TG_BENCH_ACTBACK=1 bench/http_bench.sh 10 0
# The stub is Python and shares the cores with the server and wrk: the
# outbox grows during the annotate run (the decisions come faster than
# the comments leave) and drains after it, as with a slow Jira; the end
# line says how far (2 cores: ~600 comments/s drained after the runs).
# The server's "CPU us" a request then includes the sender's work.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dur=${1:-10}
soak=${2:-60}
conns=32
soak_conns=64
threads=2

for tool in wrk cc curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "http_bench: $tool is needed (scripts/install-deps.sh)" >&2; exit 2; }
done

bin=${TG_BIN:-}
if [ -z "$bin" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc 2>/dev/null || echo 2)" --target ticketgate >/dev/null
    bin=$root/build-bench/ticketgate
fi

tmp=$(mktemp -d "${TG_BENCH_DIR:-/tmp}/tgbench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

cc -O2 -o "$tmp/bare" bench/bare.c -lcivetweb

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_up() { # URL PID
    local _
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "http_bench: server exited" >&2; return 1; }
        sleep 0.05
    done
    echo "http_bench: $1 did not answer" >&2
    return 1
}

# A copy of example/ with a free port, and the example ticket's expiry moved
# to now + 2 days so that a live clock still finds it allowed.
mkdir -p "$tmp/cfg"
cp -R example/. "$tmp/cfg/"
chmod -R u+w "$tmp/cfg"    # example/ may be read-only
mkdir -p "$tmp/cfg/data"
port=$(free_port)

# TG_BENCH_ACTBACK=1: the recording stub of Jira and ServiceNow, and the
# credentials it expects (given to the server through ${...}).
stub_port=""
export TG_BENCH_JIRA_TOKEN=bench-jira-token TG_BENCH_SN_PASSWORD=bench-sn-password
jira_auth="Basic $(printf 'bot@acme.com:%s' "$TG_BENCH_JIRA_TOKEN" | openssl base64 -A)"
sn_auth="Basic $(printf 'ticketgate.integration:%s' "$TG_BENCH_SN_PASSWORD" | openssl base64 -A)"
if [ "${TG_BENCH_ACTBACK:-0}" = 1 ]; then
    python3 tests/support/itsm_stub.py --jira-auth "$jira_auth" --sn-auth "$sn_auth" > "$tmp/stub.out" 2>&1 & stpid=$!; pids+=("$stpid")
    for _ in $(seq 1 100); do
        stub_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/stub.out")
        [ -n "$stub_port" ] && break
        kill -0 "$stpid" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$stub_port" ] || { echo "http_bench: the ITSM stub did not start: $(cat "$tmp/stub.out")" >&2; exit 1; }
    # The example Jira webhook's issue, in a status the comment may land in.
    curl -fsS -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$stub_port/_stub/issue" \
        --data '{"key": "ACC-4410", "status": "Approved", "workflow": {"Approved": ["Waiting for approval"], "Waiting for approval": ["Approved"]}}'
fi

python3 - "$tmp/cfg" "$port" "${TG_BENCH_LOG_LEVEL:-warn}" "$stub_port" "${TG_BENCH_JIRA_ANNOTATE:-0}" <<'PY'
import datetime, json, re, sys
d, port, level, stub_port, annotate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
exp = now + datetime.timedelta(days=2)
cfg = open(d + "/ticketgate.yaml").read()
if stub_port:
    # As an operator would write it; retries as shipped (no tuning).
    for old, new in (("  jira:\n", """  jira:
    act_back:
      base_url: "http://127.0.0.1:%s"
      auth: { email: bot@acme.com, api_token: "${TG_BENCH_JIRA_TOKEN}" }
      on_deny: { comment: true, transition_to: "Waiting for approval", label: access-governance-denied }
      on_annotate: { comment: true }
      comment_visibility: internal
""" % stub_port), ("  servicenow:\n", """  servicenow:
    act_back:
      instance_url: "http://127.0.0.1:%s"
      auth: { user: ticketgate.integration, password: "${TG_BENCH_SN_PASSWORD}" }
      on_deny: { reject_approval: true, work_note: true }
      on_annotate: { work_note: true }
""" % stub_port)):
        assert cfg.count(old) == 1, old
        cfg = cfg.replace(old, new)
if annotate:
    assert cfg.count("  actions: {}") == 1
    cfg = cfg.replace("  actions: {}", "  actions: { EXPIRY_TOO_LONG: warn }")
cfg = re.sub(r'(?m)^  listen: .*$', '  listen: "127.0.0.1:%s"' % port, cfg, count=1)
cfg = re.sub(r'(?m)^  log_level: .*\n', '', cfg)
# warn by default: at info every request writes its JSON record to
# stderr (here a file); TG_BENCH_LOG_LEVEL=info measures that too.
cfg = cfg.replace("\nserver:\n", "\nserver:\n  log_level: %s\n" % level, 1)
open(d + "/ticketgate.yaml", "w").write(cfg)
p = d + "/payloads/canonical-ticket.json"
t = json.load(open(p))
t["expires_at"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
t["created_at"] = (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(t, open(p, "w"), indent=2)
p = d + "/payloads/jira-cloud-webhook.json"
j = open(p).read()
# The annotate run's ticket: 60 days of admin, over the 30 allowed.
jexp = now + datetime.timedelta(days=60) if annotate else exp
j = j.replace('"2026-12-04T00:00:00.000+0000"', '"%s.000+0000"' % jexp.strftime("%Y-%m-%dT%H:%M:%S"))
open(p, "w").write(j)
PY

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# The example's sources.generic: HS256, issuer ticketgate-client.
secret="generic-client-secret-for-tests-0123456789"
now=$(date +%s)
hdr=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
claims=$(printf '{"iss":"ticketgate-client","aud":"ticketgate","iat":%d,"exp":%d}' "$now" $((now + 3600)) | b64url)
sig=$(printf '%s.%s' "$hdr" "$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
export TG_BENCH_TOKEN="$hdr.$claims.$sig"
jira_body=$tmp/cfg/payloads/jira-cloud-webhook.json
check_body=$tmp/cfg/payloads/canonical-ticket.json
jira_mac=$(openssl dgst -sha256 -hmac "jira-webhook-secret-for-tests" -r "$jira_body" | cut -d' ' -f1)
export TG_BENCH_SIG="sha256=$jira_mac"

# CPU time (user + system) of process PID so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# wrk's figures: requests/s, p50 and p99 in ms, errors (non-2xx + socket),
# and the server's CPU time a request in us. The last is what a shared,
# busy machine changes least: the ratio of two servers' CPU a request is
# the ratio their requests/s would reach on the same free cores.
# The bytes the server has written so far (write and pwrite: answers,
# the WAL, checkpoints), from /proc/PID/io.
wchar() { awk '$1 == "wchar:" { print $2 }' "/proc/$1/io"; }

run_wrk() { # NAME URL LUA BODY CONNS SECONDS PID
    local out c0 c1 w0 w1
    c0=$(cpu_ticks "$7")
    w0=$(wchar "$7")
    out=$(TG_BENCH_BODY="$4" wrk -t"$threads" -c"$5" -d"$6"s --latency -s "$3" "$2")
    c1=$(cpu_ticks "$7")
    w1=$(wchar "$7")
    echo "$out" > "$tmp/wrk-$1.txt"
    python3 - "$1" "$((c1 - c0))" "$hz" "$((w1 - w0))" <<PY
import re, sys
out = open("$tmp/wrk-$1.txt").read()
def ms(v):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', v)
    n, u = float(m.group(1)), m.group(2)
    return n * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
p50 = ms(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1))
p99 = ms(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
reqs = int(re.search(r'(\d+) requests in', out).group(1))
non2 = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
sock = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
errs = (int(non2.group(1)) if non2 else 0) + (sum(map(int, sock.groups())) if sock else 0)
cpu = int(sys.argv[2]) / int(sys.argv[3]) / max(reqs, 1) * 1e6
# bytes written a request: what a record costs the store's files (and the
# answer's own bytes), the same however busy the machine is
wr = int(sys.argv[4]) / max(reqs, 1)
print("%s %.1f %.3f %.3f %d %d %.1f %.0f" % (sys.argv[1], rps, p50, p99, reqs, errs, cpu, wr))
PY
}

kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# "yes" if a second request on one curl reuses the first one's connection.
keepalive() { # URL [curl options...]
    local url=$1
    shift
    if curl -sv -o /dev/null -o /dev/null "$@" "$url" "$url" 2>&1 |
        grep -q 'Re-using existing connection'; then echo yes; else echo NO; fi
}

# --- the bare handler ---------------------------------------------------
bport=$(free_port)
"$tmp/bare" "$bport" "${TG_BENCH_BARE_THREADS:-128}" & bpid=$!; pids+=("$bpid")
wait_up "http://127.0.0.1:$bport/" "$bpid"
ka_bare=$(keepalive "http://127.0.0.1:$bport/v1/check" --data-binary @"$check_body")
TG_BENCH_BODY="$check_body" wrk -t"$threads" -c"$conns" -d2s -s bench/check.lua "http://127.0.0.1:$bport" >/dev/null
bare=$(run_wrk bare "http://127.0.0.1:$bport" bench/check.lua "$check_body" "$conns" "$dur" "$bpid")
# The same request as the Jira run (3 KB body and its header): the Jira
# path's ratio is to this, so that both sides read the same bytes.
bare_jira=$(run_wrk bare_jira "http://127.0.0.1:$bport" bench/jira.lua "$jira_body" "$conns" "$dur" "$bpid")
kill "$bpid"; wait "$bpid" 2>/dev/null || true

# --- ticketgate ---------------------------------------------------------
"$bin" serve -c "$tmp/cfg/ticketgate.yaml" 2> "$tmp/server.log" & spid=$!; pids+=("$spid")
wait_up "http://127.0.0.1:$port/healthz" "$spid"
one=$(curl -s -H "Authorization: Bearer $TG_BENCH_TOKEN" -H 'Content-Type: application/json' \
      --data-binary @"$check_body" "http://127.0.0.1:$port/v1/check")
jone=$(curl -s -H "X-Hub-Signature: $TG_BENCH_SIG" -H 'Content-Type: application/json' \
      --data-binary @"$jira_body" "http://127.0.0.1:$port/v1/webhooks/jira")
dec() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d.get("decision") or d.get("error"), " ".join(f["code"] for f in d.get("findings", [])))' "$1"; }
echo "probe: /v1/check -> $(dec "$one"); /v1/webhooks/jira -> $(dec "$jone")"
ka_check=$(keepalive "http://127.0.0.1:$port/v1/check" -H "Authorization: Bearer $TG_BENCH_TOKEN" \
           -H 'Content-Type: application/json' --data-binary @"$check_body")
ka_jira=$(keepalive "http://127.0.0.1:$port/v1/webhooks/jira" -H "X-Hub-Signature: $TG_BENCH_SIG" \
          -H 'Content-Type: application/json' --data-binary @"$jira_body")
echo "keep-alive: bare handler $ka_bare, /v1/check $ka_check, /v1/webhooks/jira $ka_jira"
TG_BENCH_BODY="$check_body" wrk -t"$threads" -c"$conns" -d2s -s bench/check_distinct.lua "http://127.0.0.1:$port" >/dev/null
ppid=""
perf_start() { # RUN: records the server during that run when asked to
    [ -n "${TG_BENCH_PERF:-}" ] && [ "${TG_BENCH_PERF_RUN:-check}" = "$1" ] || return 0
    # shellcheck disable=SC2086 # TG_BENCH_PERF_ARGS is a list of options
    perf record -q ${TG_BENCH_PERF_ARGS:--g} -p "$spid" -o "$TG_BENCH_PERF" -- sleep "$dur" 2>/dev/null & ppid=$!
}
perf_wait() { if [ -n "$ppid" ]; then wait "$ppid" || true; ppid=""; fi; }
# The short form of one path's run against its bare baseline.
short() { # BARE RUN
    echo "(name req/s p50_ms p99_ms requests errors cpu_us_a_request bytes_written_a_request)"
    echo "$1"; echo "$2"
    python3 -c "import sys; b, c = sys.argv[1].split(), sys.argv[2].split(); print('x bare %.2f; CPU a request %.2fx the bare handler\'s' % (float(c[1]) / float(b[1]), float(c[6]) / float(b[6])))" "$1" "$2"
}
perf_start check
check=$(run_wrk check "http://127.0.0.1:$port" bench/check_distinct.lua "$check_body" "$conns" "$dur" "$spid")
perf_wait
hwm0=$(kb "$spid" VmHWM)
if [ "${TG_BENCH_ONLY:-}" = check ]; then
    short "$bare" "$check"
    exit 0
fi
if [ "${TG_BENCH_ONLY:-}" != jira ]; then
    same=$(run_wrk same "http://127.0.0.1:$port" bench/check.lua "$check_body" "$conns" "$dur" "$spid")
fi
perf_start jira
jira=$(run_wrk jira "http://127.0.0.1:$port" bench/jira.lua "$jira_body" "$conns" "$dur" "$spid")
perf_wait
if [ "${TG_BENCH_ONLY:-}" = jira ]; then
    short "$bare_jira" "$jira"
    exit 0
fi
hwm1=$(kb "$spid" VmHWM)

soakline=""
: > "$tmp/rss.txt"
if [ "$soak" -gt 0 ]; then
    # VmRSS every 5 s: flat means the last samples do not keep climbing.
    ( while kill -0 "$spid" 2>/dev/null; do kb "$spid" VmRSS; sleep 5; done ) > "$tmp/rss.txt" & rpid=$!; pids+=("$rpid")
    soakline=$(run_wrk soak "http://127.0.0.1:$port" bench/check_distinct.lua "$check_body" "$soak_conns" "$soak" "$spid")
    kill "$rpid" 2>/dev/null || true
fi
hwm2=$(kb "$spid" VmHWM)
# TG_BENCH_SMAPS=FILE keeps the server's memory map after the runs (what
# its resident memory is made of: heap, thread stacks, the WAL index).
[ -n "${TG_BENCH_SMAPS:-}" ] && cp "/proc/$spid/smaps" "$TG_BENCH_SMAPS"
actback_line=""
if [ -n "$stub_port" ]; then
    # What the sender did: the outbox at the end of the runs, then up to
    # 30 s for it to drain.
    pending() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '$1 == "ticketgate_outbox_pending" { print $2 }'; }
    left=$(pending)
    t0=$(date +%s)
    while [ "$(pending)" != 0 ] && [ $(($(date +%s) - t0)) -lt 30 ]; do sleep 1; done
    drain=$(($(date +%s) - t0))
    outcomes=$(curl -fsS "http://127.0.0.1:$port/metrics" | python3 -c 'import re, sys
n = {}
for l in sys.stdin:
    m = re.match(r"ticketgate_actions_total\{system=\"(\w+)\",action=\"(\w+)\",outcome=\"(\w+)\"\} (\d+)", l)
    if m and int(m.group(4)):
        n["%s %s %s" % m.groups()[:3]] = int(m.group(4))
print(", ".join("%s %d" % kv for kv in sorted(n.items())))')
    stubreqs=$(curl -fsS "http://127.0.0.1:$stub_port/_stub/state" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(len(s["requests"]), len(s["errors"]))')
    actback_line="on, $left action(s) pending at the end of the runs, $(pending) after ${drain} s more; actions_total: ${outcomes:-none}; the stub got ${stubreqs% *} request(s), refused ${stubreqs#* }"
fi
kill -TERM "$spid"; wait "$spid" 2>/dev/null || true
errors_logged=$(grep -c '"level":"error"' "$tmp/server.log" || true)

python3 - "$ka_bare $ka_check $ka_jira" "$hwm0" "$bare" "$check" "$same" "$jira" "$bare_jira" "$hwm1" "$hwm2" "$conns" "$soak_conns" "$errors_logged" "$soakline" "$(tr '\n' ' ' < "$tmp/rss.txt" 2>/dev/null || true)" <<'PY'
import sys
ka = sys.argv.pop(1).split()
hwm0 = int(sys.argv.pop(1))
bare, check, same, jira, bare_jira = (s.split() for s in sys.argv[1:6])
hwm1, hwm2, c, sc, errlog = int(sys.argv[6]), int(sys.argv[7]), sys.argv[8], sys.argv[9], int(sys.argv[10])
soak = sys.argv[11].split()
rss = [int(x) for x in sys.argv[12].split()]
b = float(bare[1])
bj = float(bare_jira[1])
print()
print("%-34s %10s %7s %8s %8s %9s %7s %8s %9s" % ("run (%s connections)" % c, "req/s", "x bare", "p50 ms", "p99 ms", "requests", "errors", "CPU us", "CPU bare/"))
# Each path against the bare handler given the same request. "CPU us" is
# the server's CPU time a request; "CPU bare/" the bare handler's over it,
# the ratio the req/s would show with the two cores to itself.
for name, r, base in (("bare handler, canonical ticket", bare, b), ("/v1/check, distinct tickets", check, b),
                      ("/v1/check, one ticket again", same, b),
                      ("bare handler, Jira webhook body", bare_jira, bj), ("/v1/webhooks/jira, one issue", jira, bj)):
    cb = float(bare[6]) if base == b else float(bare_jira[6])
    print("%-34s %10.0f %7.2f %8.3f %8.3f %9s %7s %8.1f %9.2f" % (name, float(r[1]), float(r[1]) / base, float(r[2]), float(r[3]), r[4], r[5], float(r[6]), cb / float(r[6])))
print("peak RSS (VmHWM): %.1f MB after the distinct-ticket run, %.1f MB after all %s-connection runs" % (hwm0 / 1024, hwm1 / 1024, c))
# Issue 10's targets: /v1/check with evidence on distinct tickets at least
# 0.6x the bare handler with p99 under 2 ms, the Jira webhook at least 0.5x,
# peak RSS under 32 MB; every side keeping its connections open.
ka_ok = all(k == "yes" for k in ka)
print("keep-alive on every side: %s" % ("yes" if ka_ok else "NO (the ratios compare unlike things)"))
ok = ka_ok and float(check[1]) / b >= 0.6 and float(check[3]) < 2 and hwm1 < 32 * 1024 and int(check[5]) == 0
if soak:
    print("soak %s connections: %.0f req/s, p50 %.3f ms, p99 %.3f ms, %s requests, %s errors" % (sc, float(soak[1]), float(soak[2]), float(soak[3]), soak[4], soak[5]))
    print("  VmRSS every 5 s (MB): %s" % " ".join("%.1f" % (x / 1024) for x in rss))
    print("  peak RSS (VmHWM) at the end: %.1f MB" % (hwm2 / 1024))
    half = rss[len(rss) // 2:] if len(rss) >= 4 else rss
    flat = bool(half) and max(half) - min(half) <= max(2048, 0.05 * max(half))
    print("  RSS flat over the second half: %s" % ("yes" if flat else "NO"))
    ok = ok and int(soak[5]) == 0 and flat and hwm2 < 32 * 1024
print("server log lines at error level: %d" % errlog)
print("/v1/check targets (>= 0.6x bare, p99 < 2 ms, RSS < 32 MB, no errors%s): %s" % (", flat soak RSS" if soak else "", "met" if ok else "NOT met"))
jok = ka_ok and float(jira[1]) / bj >= 0.5 and int(jira[5]) == 0
print("Jira webhook target (>= 0.5x the bare handler given the same request, no errors): %s" % ("met" if jok else "NOT met"))
PY
echo "act-back: ${actback_line:-off (TG_BENCH_ACTBACK=1 turns it on)}; Jira webhook ticket: $(dec "$jone")"
