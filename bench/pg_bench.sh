#!/usr/bin/env bash
# Issue 15's speed target: 2 replicas on one PostgreSQL chain against one
# replica on SQLite, on the same machine, given the same request: POST
# /v1/check with a new ticket every request (bench/check_distinct.lua, as
# bench/http_bench.sh's distinct-ticket run), every decision recorded.
# Prints both throughputs and the ratio; the target is >= 0.7x.
#
#   bench/pg_bench.sh [DURATION] [CONNECTIONS]
#
# DURATION (default 10) seconds a run, after a 2 s warm-up; CONNECTIONS
# (default 32) in all: SQLite's one replica gets them all, each PostgreSQL
# replica half (one wrk each, run side by side, their req/s summed).
# PostgreSQL: TG_BENCH_PG_URL names a server to use (a database the bench
# may fill); without it the bench runs itself under scripts/pg-test.sh (a
# throw-away server in a temporary directory, fsync on, as the store of the
# SQLite run is; glibc's allocator set as in docker/compose.postgresql.yaml,
# TG_TEST_PG_GLIBC_TUNABLES= (empty) measures glibc's defaults). The SQLite
# store runs with store.sync: full (an fsync a commit, as PostgreSQL's
# default synchronous_commit makes every commit durable; docker/config/
# uses full too); TG_BENCH_SQLITE_SYNC=normal
# measures the example's default, which may lose the last commits on a
# power cut. Builds build-bench/ (Release) unless TG_BIN names a
# binary. TG_BENCH_DIR puts the temporary directory (the SQLite file) on
# another disk. TG_BENCH_PERF=FILE records `perf record -g` of the two
# replicas and PostgreSQL's processes into FILE during the PostgreSQL run
# (where their CPU goes: perf report --sort comm,dso). After the runs,
# pgbench inserts copies of the stored records into tables with the same
# indexes, as many a transaction as the replicas wrote, from 2 clients:
# PostgreSQL's own CPU a record with nothing of ticketgate's around it
# (TG_BENCH_FLOOR=0 skips it). Both servers log at
# warn. Every CPU on the machine is
# shared by the servers, PostgreSQL and wrk: the figure is for this
# machine, and says most on an otherwise idle one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dur=${1:-10}
conns=${2:-32}
sqlite_sync=${TG_BENCH_SQLITE_SYNC:-full}

for tool in wrk curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "pg_bench: $tool is needed (scripts/install-deps.sh)" >&2; exit 2; }
done

pg_url=${TG_BENCH_PG_URL:-${TG_TEST_PG_URL:-}}
if [ -z "$pg_url" ]; then
    if [ -n "${TG_TEST_PG_SKIP:-}" ]; then
        echo "pg_bench: no PostgreSQL: $TG_TEST_PG_SKIP" >&2
        exit 2
    fi
    exec scripts/pg-test.sh -- "$root/bench/pg_bench.sh" "$@"
fi

bin=${TG_BIN:-}
if [ -z "$bin" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc 2>/dev/null || echo 2)" --target ticketgate >/dev/null
    bin=$root/build-bench/ticketgate
fi

tmp=$(mktemp -d "${TG_BENCH_DIR:-/tmp}/tgpgbench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # TG_BENCH_LOGS=DIR keeps the servers' logs and wrk's outputs
    if [ -n "${TG_BENCH_LOGS:-}" ]; then
        mkdir -p "$TG_BENCH_LOGS" && cp "$tmp"/*.log "$tmp"/*.txt "$TG_BENCH_LOGS"/ 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() { # URL PID LOG
    local _
    for _ in $(seq 1 400); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "pg_bench: server exited:" >&2; tail -n 5 "$3" >&2; return 1; }
        sleep 0.05
    done
    echo "pg_bench: $1 did not answer" >&2
    return 1
}

# A copy of example/ with the example ticket's expiry moved to now + 2 days
# (allowed on a live clock), as bench/http_bench.sh does; logging at warn.
mkdir -p "$tmp/cfg/data"
cp -R example/. "$tmp/cfg/"
chmod -R u+w "$tmp/cfg"
python3 - "$tmp/cfg" "$sqlite_sync" <<'PY'
import datetime, json, re, sys
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
cfg = open(d + "/ticketgate.yaml").read()
cfg = re.sub(r'(?m)^  log_level: .*\n', '', cfg)
cfg = cfg.replace("\nserver:\n", "\nserver:\n  log_level: warn\n", 1)
base = cfg
def listen(text, port):
    return re.sub(r'(?m)^  listen: .*$', '  listen: "127.0.0.1:%s"' % port, text, count=1)
sq = re.sub(r'(?m)^(store:\n)', r'\1  sync: %s\n' % sys.argv[2], base, count=1)
assert sq != base, "no store: section in the example"
open(d + "/sqlite.yaml.in", "w").write(sq)
pg = re.sub(r'(?m)^store:\n(  .*\n|\s*#.*\n)*',
            'store:\n  driver: postgresql\n  url: "${TG_DATABASE_URL}"\n', base, count=1)
assert pg != base, "no store: section in the example"
open(d + "/pg.yaml.in", "w").write(pg)
p = d + "/payloads/canonical-ticket.json"
t = json.load(open(p))
t["expires_at"] = (now + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
t["created_at"] = (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(t, open(p, "w"), indent=2)
PY
mkcfg() { # IN PORT OUT
    sed -E "0,/^  listen: .*/s//  listen: \"127.0.0.1:$2\"/" "$1" > "$3"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
secret="generic-client-secret-for-tests-0123456789"
now=$(date +%s)
hdr=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
claims=$(printf '{"iss":"ticketgate-client","aud":"ticketgate","iat":%d,"exp":%d}' "$now" $((now + 3600)) | b64url)
sig=$(printf '%s.%s' "$hdr" "$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
export TG_BENCH_TOKEN="$hdr.$claims.$sig"
body=$tmp/cfg/payloads/canonical-ticket.json

# wrk against URL: "req/s p50_ms p99_ms requests errors" on stdout.
wrk_run() { # TAG URL CONNS SECONDS OUT
    TG_BENCH_TAG="$1" TG_BENCH_BODY="$body" wrk -t1 -c"$3" -d"$4"s --latency \
        -s bench/check_distinct.lua "$2" > "$5"
}
summary() { # FILE
    python3 - "$1" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
p50 = ms(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1))
p99 = ms(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
reqs = int(re.search(r'(\d+) requests in', out).group(1))
non2 = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
sock = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
errs = (int(non2.group(1)) if non2 else 0) + (sum(map(int, sock.groups())) if sock else 0)
print("%.1f %.3f %.3f %d %d" % (rps, p50, p99, reqs, errs))
PY
}
# CPU seconds (user + system, all threads) the processes PIDS (comma
# separated) have used so far; a process gone since counts nothing.
cpu_s() { # PIDS
    python3 - "$1" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
t = 0
for pid in filter(None, sys.argv[1].split(",")):
    try:
        f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        pass
print("%.2f" % (t / hz))
PY
}
# CPU seconds by thread name (the HTTP workers, the store's writer, the
# rest) the processes PIDS have used so far: "workers writer other".
cpu_threads() { # PIDS
    python3 - "$1" <<'PY'
import glob, os, sys
hz = os.sysconf("SC_CLK_TCK")
t = {"civetweb-worker": 0, "writer": 0, "other": 0}
for pid in filter(None, sys.argv[1].split(",")):
    for task in glob.glob("/proc/%s/task/*" % pid):
        try:
            comm = open(task + "/comm").read().strip()
            f = open(task + "/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        k = comm if comm == "civetweb-worker" else "writer" if comm in ("tg-pg-writer", "tg-sq-writer") else "other"
        t[k] += int(f[11]) + int(f[12])
print("%.2f %.2f %.2f" % tuple(t[k] / hz for k in ("civetweb-worker", "writer", "other")))
PY
}
# Context switches (voluntary + involuntary, all threads) the processes
# PIDS have made so far: each is a wakeup, a few us of CPU on a VM.
ctx_n() { # PIDS
    python3 - "$1" <<'PY'
import glob, sys
t = 0
for pid in filter(None, sys.argv[1].split(",")):
    for st in glob.glob("/proc/%s/task/*/status" % pid):
        try:
            for line in open(st):
                if "ctxt_switches" in line:
                    t += int(line.split()[1])
        except (OSError, ValueError):
            pass
print(t)
PY
}
# Minor page faults the processes PIDS have taken so far (all threads): a
# heap given back to the kernel and touched again faults page by page
# (docker/README.md, "glibc's allocator in the database's processes").
flt_n() { # PIDS
    python3 - "$1" <<'PY'
import sys
t = 0
for pid in filter(None, sys.argv[1].split(",")):
    try:
        t += int(open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        pass
print(t)
PY
}
probe() { # PORT: the decision of one request, to show it is a real one
    curl -s -H "Authorization: Bearer $TG_BENCH_TOKEN" -H 'Content-Type: application/json' \
        --data-binary @"$body" "http://127.0.0.1:$1/v1/check" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("decision") or d.get("error"))'
}

# --- one replica on SQLite ------------------------------------------------
port=$(free_port)
mkcfg "$tmp/cfg/sqlite.yaml.in" "$port" "$tmp/cfg/sqlite.yaml"
"$bin" serve -c "$tmp/cfg/sqlite.yaml" 2> "$tmp/sqlite.log" & spid=$!; pids+=("$spid")
wait_ready "http://127.0.0.1:$port/readyz" "$spid" "$tmp/sqlite.log"
echo "probe: SQLite replica -> $(probe "$port")"
wrk_run s0 "http://127.0.0.1:$port" "$conns" 2 "$tmp/warm.txt"
c0=$(cpu_s "$spid")
t0=$(cpu_threads "$spid")
x0=$(ctx_n "$spid")
f0=$(flt_n "$spid")
wrk_run s1 "http://127.0.0.1:$port" "$conns" "$dur" "$tmp/sqlite.txt"
sq_cpu=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$c0" "$(cpu_s "$spid")")
sq=$(summary "$tmp/sqlite.txt")
sq_ctx=$(($(ctx_n "$spid") - x0))
sq_flt=$(($(flt_n "$spid") - f0))
sq_thr="$t0 $(cpu_threads "$spid")"
kill -TERM "$spid"; wait "$spid" 2>/dev/null || true

# --- two replicas on PostgreSQL -------------------------------------------
db="tgbench_$$"
admin=$(python3 -c 'import sys, urllib.parse as u; s = u.urlsplit(sys.argv[1]); print("%s://%s/postgres%s" % (s.scheme, s.netloc, ("?" + s.query) if s.query else ""))' "$pg_url")
export TG_DATABASE_URL
TG_DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u; s = u.urlsplit(sys.argv[1]); print("%s://%s/%s%s" % (s.scheme, s.netloc, sys.argv[2], ("?" + s.query) if s.query else ""))' "$pg_url" "$db")
psql -X -q -d "$admin" -c "CREATE DATABASE $db" >/dev/null
# TG_BENCH_KEEP_DB=1 keeps the run's database (its name is printed) to
# look into afterwards
dropdb() {
    if [ -n "${TG_BENCH_KEEP_DB:-}" ]; then echo "pg_bench: database $db kept" >&2; return; fi
    psql -X -q -d "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap 'cleanup; dropdb' EXIT
ports=()
ppids=()
for i in 1 2; do
    p=$(free_port)
    mkcfg "$tmp/cfg/pg.yaml.in" "$p" "$tmp/cfg/pg$i.yaml"
    "$bin" serve -c "$tmp/cfg/pg$i.yaml" 2> "$tmp/pg$i.log" & pid=$!; pids+=("$pid")
    ports+=("$p"); ppids+=("$pid")
done
for i in 0 1; do
    wait_ready "http://127.0.0.1:${ports[$i]}/readyz" "${ppids[$i]}" "$tmp/pg$((i + 1)).log"
done
echo "probe: PostgreSQL replicas -> $(probe "${ports[0]}"), $(probe "${ports[1]}")"
half=$((conns / 2))
wrk_run p0a "http://127.0.0.1:${ports[0]}" "$half" 2 "$tmp/warm1.txt" & w=$!
wrk_run p0b "http://127.0.0.1:${ports[1]}" "$half" 2 "$tmp/warm2.txt"
wait "$w"
perf_pid=
# the PostgreSQL processes serving the replicas (the bench database's
# backends, the server's background processes: WAL writer, checkpointer)
pgpids=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE (datname = current_database() OR datname IS NULL) AND pid <> pg_backend_pid()")
c0_tg=$(cpu_s "${ppids[0]},${ppids[1]}")
c0_pg=$(cpu_s "$pgpids")
t0_tg=$(cpu_threads "${ppids[0]},${ppids[1]}")
x0_tg=$(ctx_n "${ppids[0]},${ppids[1]}")
x0_pg=$(ctx_n "$pgpids")
f0_tg=$(flt_n "${ppids[0]},${ppids[1]}")
f0_pg=$(flt_n "$pgpids")
if [ -n "${TG_BENCH_PERF:-}" ]; then
    perf record -q -g -o "$TG_BENCH_PERF" -p "${ppids[0]},${ppids[1]},$pgpids" -- sleep "$dur" >/dev/null 2>&1 & perf_pid=$!
fi
wrk_run p1a "http://127.0.0.1:${ports[0]}" "$half" "$dur" "$tmp/pg1.txt" & w=$!
wrk_run p1b "http://127.0.0.1:${ports[1]}" "$half" "$dur" "$tmp/pg2.txt"
wait "$w"
if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
pg_ctx="$(($(ctx_n "${ppids[0]},${ppids[1]}") - x0_tg)) $(($(ctx_n "$pgpids") - x0_pg))"
pg_flt="$(($(flt_n "${ppids[0]},${ppids[1]}") - f0_tg)) $(($(flt_n "$pgpids") - f0_pg))"
pg_thr="$t0_tg $(cpu_threads "${ppids[0]},${ppids[1]}")"
pg_cpu=$(python3 -c 'import sys; a = [float(x) for x in sys.argv[1:]]; print("%.2f %.2f" % (a[1] - a[0], a[3] - a[2]))' "$c0_tg" "$(cpu_s "${ppids[0]},${ppids[1]}")" "$c0_pg" "$(cpu_s "$pgpids")")
pg1=$(summary "$tmp/pg1.txt")
pg2=$(summary "$tmp/pg2.txt")
for pid in "${ppids[@]}"; do kill -TERM "$pid"; done
for pid in "${ppids[@]}"; do wait "$pid" 2>/dev/null || true; done
verify=$("$bin" audit verify -c "$tmp/cfg/pg1.yaml" 2>&1 | head -n 1 || true)
# records per write transaction (group commit): xmin is the inserting one
per_batch=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT round(count(*)::numeric / greatest(count(DISTINCT xmin::text), 1), 2) FROM records" 2>/dev/null || echo "?")
errors_logged=$(cat "$tmp/sqlite.log" "$tmp/pg1.log" "$tmp/pg2.log" | grep -c '"level":"error"' || true)

# --- PostgreSQL alone: the floor of its own CPU a record ------------------
# pgbench (2 clients, as 2 replicas; prepared statements) inserts copies of
# the records this run stored, with the batch size it had, into tables
# made LIKE records and just_use (the same indexes), each row with the
# copy-forward use a decision writes: PostgreSQL's own work a record
# without the chain's lock, the head read or the copy-forward counts.
# TG_BENCH_FLOOR=0 skips it.
# Prints "ROWS_A_TRANSACTION RECORDS/S US_A_RECORD", or fails (the step is
# optional: a failure skips it, with a line, and the run's figures stay).
floor_step() {
    local rows nsrc f0 f1 n0 n1 fpids fb lz4 opts=
    rows=$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]))))' "$per_batch" 2>/dev/null) || rows=6
    psql -X -q -v ON_ERROR_STOP=1 -d "$TG_DATABASE_URL" >/dev/null <<'SQL' || return 1
CREATE TABLE floor_records (LIKE records INCLUDING ALL);
CREATE TABLE floor_just_use (LIKE just_use INCLUDING ALL);
CREATE TABLE floor_src AS SELECT row_number() OVER (ORDER BY seq) AS n, *
    FROM records WHERE kind = 'decision' ORDER BY seq LIMIT 2000;
CREATE UNIQUE INDEX ON floor_src(n);
CREATE SEQUENCE floor_seq;
SQL
    nsrc=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT count(*) FROM floor_src") || return 1
    [ "${nsrc:-0}" -gt 0 ] || return 1
    # As the product writes them: a copy-forward use only with a
    # justification, delivery ids kept unique.
    cat > "$tmp/floor.sql" <<SQL
\\set k random(1, $nsrc)
BEGIN;
WITH n AS (SELECT nextval('floor_seq') AS q, g FROM generate_series(1, $rows) g),
 ins AS (INSERT INTO floor_records SELECT n.q, 'f-' || n.q, 'F-' || n.q,
   s.source, s.delivery_id || '-' || n.q, s.body_sha256, s.policy, s.time,
   s.decision, s.just_norm || n.q, md5('p' || n.q) || md5(n.q::text),
   md5('h' || n.q) || md5(n.q::text), s.mac, s.kind, s.judged, s.facts
   FROM n JOIN floor_src s ON s.n = ((:k + n.g) % $nsrc) + 1
   RETURNING just_norm, ticket, time)
INSERT INTO floor_just_use SELECT just_norm, ticket, time FROM ins
  WHERE just_norm IS NOT NULL
  ON CONFLICT (just_norm, ticket) DO UPDATE
  SET last_time = GREATEST(floor_just_use.last_time, EXCLUDED.last_time);
COMMIT;
SQL
    # the replicas' sessions compress with lz4 where the server has it
    # (server/store/pg.c)
    lz4=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)") || return 1
    [ "$lz4" = 1 ] && opts="-c default_toast_compression=lz4"
    PGOPTIONS="$opts" pgbench -n -M prepared -c 2 -j 2 -T "$((dur + 2))" \
        -f "$tmp/floor.sql" "$TG_DATABASE_URL" > "$tmp/floor.txt" 2>&1 & fb=$!
    sleep 1
    fpids=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE (datname = current_database() OR datname IS NULL) AND pid <> pg_backend_pid()") || return 1
    f0=$(cpu_s "$fpids") && n0=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT count(*) FROM floor_records") || return 1
    sleep "$dur"
    f1=$(cpu_s "$fpids") && n1=$(psql -X -q -At -d "$TG_DATABASE_URL" -c "SELECT count(*) FROM floor_records") || return 1
    wait "$fb" || return 1
    python3 -c 'import sys; r = sys.argv[1]; c0, c1, n0, n1, d = map(float, sys.argv[2:]); n = n1 - n0; assert n > 0; print("%s %.0f %.1f" % (r, n / d, (c1 - c0) * 1e6 / n))' "$rows" "$f0" "$f1" "$n0" "$n1" "$dur"
}
floor="- -"
if [ "${TG_BENCH_FLOOR:-1}" != 0 ]; then
    if ! command -v pgbench >/dev/null; then
        echo "pg_bench: no pgbench: the floor step is skipped" >&2
    elif ! floor=$(floor_step 2>>"$tmp/floor.txt"); then
        floor="- -"
        echo "pg_bench: the floor step failed and is skipped:" >&2
        tail -n 3 "$tmp/floor.txt" >&2 || true
    fi
fi

python3 - "$sq" "$pg1" "$pg2" "$conns" "$dur" "$(nproc)" "$errors_logged" "$verify" "$sqlite_sync" "$per_batch" "$sq_cpu" "$pg_cpu" "$pg_ctx" "$sq_ctx" "$floor" "$sq_thr" "$pg_thr" "$sq_flt" "$pg_flt" <<'PY'
import sys
pg_flt = [int(x) for x in sys.argv.pop(19).split()]
sq_flt = int(sys.argv.pop(18))
pg_thr = [float(x) for x in sys.argv.pop(17).split()]
sq_thr = [float(x) for x in sys.argv.pop(16).split()]
floor = sys.argv.pop(15).split()
sq_ctx = int(sys.argv.pop(14))
pg_ctx = [int(x) for x in sys.argv.pop(13).split()]
pg_cpu = [float(x) for x in sys.argv.pop(12).split()]
sq_cpu = float(sys.argv.pop(11))
per_batch = sys.argv.pop(10)
sync = sys.argv.pop(9)
sq, a, b = (s.split() for s in sys.argv[1:4])
conns, dur, cpus, errlog, verify = sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]), sys.argv[8]
pg_rps = float(a[0]) + float(b[0])
ratio = pg_rps / float(sq[0])
print()
print("POST /v1/check, a new ticket every request, %s connections in all, %s s, %s CPUs" % (conns, dur, cpus))
print("%-34s %10s %8s %8s %9s %7s" % ("run", "req/s", "p50 ms", "p99 ms", "requests", "errors"))
print("%-34s %10.0f %8.3f %8.3f %9s %7s" % ("1 replica, SQLite (sync %s)" % sync, float(sq[0]), float(sq[1]), float(sq[2]), sq[3], sq[4]))
for name, r in (("  PostgreSQL replica 1", a), ("  PostgreSQL replica 2", b)):
    print("%-34s %10.0f %8.3f %8.3f %9s %7s" % (name, float(r[0]), float(r[1]), float(r[2]), r[3], r[4]))
print("%-34s %10.0f %8s %8s %9d %7d" % ("2 replicas, PostgreSQL", pg_rps, "", "", int(a[3]) + int(b[3]), int(a[4]) + int(b[4])))
print("ratio PostgreSQL (2 replicas) / SQLite (1): %.2fx (target >= 0.7x): %s" % (ratio, "met" if ratio >= 0.7 else "NOT met"))
print("errors: %d wrk, %d server log lines at error level" % (int(sq[4]) + int(a[4]) + int(b[4]), errlog))
print("audit verify of the PostgreSQL chain: %s" % verify)
print("PostgreSQL records per write transaction: %s" % per_batch)
# CPU a request: what the figure would be on a machine of its own, where
# the servers are CPU-bound (wrk's own CPU is not counted, either side)
sq_n, pg_n = int(sq[3]), int(a[3]) + int(b[3])
if sq_n and pg_n:
    sq_us = sq_cpu * 1e6 / sq_n
    tg_us, db_us = (c * 1e6 / pg_n for c in pg_cpu)
    print("CPU a request: SQLite %.0f us; PostgreSQL %.0f us (replicas %.0f + PostgreSQL %.0f); ratio by CPU %.2fx"
          % (sq_us, tg_us + db_us, tg_us, db_us, sq_us / (tg_us + db_us)))
    def by_thread(t, n):
        return "workers %.0f, writer %.0f, other %.0f" % tuple((t[i + 3] - t[i]) * 1e6 / n for i in range(3))
    print("CPU a request by thread: SQLite %s; PostgreSQL replicas %s" % (by_thread(sq_thr, sq_n), by_thread(pg_thr, pg_n)))
    print("context switches a request: SQLite %.1f; PostgreSQL: replicas %.1f, PostgreSQL %.1f"
          % (sq_ctx / sq_n, pg_ctx[0] / pg_n, pg_ctx[1] / pg_n))
    print("minor page faults a request: SQLite %.2f; PostgreSQL: replicas %.2f, PostgreSQL %.2f"
          % (sq_flt / sq_n, pg_flt[0] / pg_n, pg_flt[1] / pg_n))
    if len(floor) == 3 and floor[2] != "-":
        fl = float(floor[2])
        print("PostgreSQL alone (pgbench, the same records, %s a transaction, 2 clients): %s records/s, %.0f us CPU a record;"
              " ratio by CPU with PostgreSQL at that floor: %.2fx" % (floor[0], floor[1], fl, sq_us / (tg_us + fl)))
PY
