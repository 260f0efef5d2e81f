#!/usr/bin/env bash
# Measures `ticketgate check` end to end: canonical tickets in (JSON Lines),
# decisions out to a file, on every core (one worker per online CPU), then
# on one thread (TG_CHECK_THREADS=1, the reference path) for comparison;
# the two outputs must be byte for byte the same. Run by hand:
#   bench/check_bench.sh [N]        (default N = 200000)
# TG_BIN names the binary (default build/ticketgate, a Release build);
# TG_CHECK_THREADS, if set, is the parallel run's worker count;
# TG_BENCH_RUNS (default 1) runs both that many times, alternating, and
# prints every run, then the best and the median (on a shared machine the
# best wall rate and the CPU time a ticket say most).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
bin=${TG_BIN:-build/ticketgate}
[ -x "$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Tickets of every kind the corpus holds, repeated with fresh ids.
python3 - "$n" "$tmp/tickets.jsonl" <<'PY'
import json, sys, os
n, out = int(sys.argv[1]), sys.argv[2]
src = os.path.join("example", "payloads", "canonical-ticket.json")
base = [json.load(open(src))]
corpus = os.path.join("..", "shared", "corpus", "canonical.jsonl")
if os.path.exists(corpus):
    base = [json.loads(l)["ticket"] for l in open(corpus) if l.strip()]
with open(out, "w") as f:
    for i in range(n):
        t = dict(base[i % len(base)])
        t["id"] = "BENCH-%d" % i
        f.write(json.dumps(t) + "\n")
PY
cat "$tmp/tickets.jsonl" > /dev/null   # in the page cache for both runs

run() { # NAME OUT [ENV...]: prints "NAME SECONDS LINES PEAK_RSS_KB USER_S SYS_S"
    local name=$1 out=$2
    shift 2
    local start end
    start=$(date +%s.%N)
    env "$@" /usr/bin/time -f "%M %U %S" -o "$tmp/rss-$name" "$bin" check \
        -c example/ticketgate.yaml --now 2026-12-01T00:00:00Z \
        "$tmp/tickets.jsonl" > "$out" || [ $? -eq 1 ]
    end=$(date +%s.%N)
    echo "$name $(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$end") $(wc -l < "$out") $(tail -n 1 "$tmp/rss-$name")"
}

runs=${TG_BENCH_RUNS:-1}
: > "$tmp/runs"
status=0
for i in $(seq "$runs"); do
    all=$(run all "$tmp/out-all.jsonl" ${TG_CHECK_THREADS:+TG_CHECK_THREADS=$TG_CHECK_THREADS})
    one=$(run one "$tmp/out-one.jsonl" TG_CHECK_THREADS=1)
    same=no
    cmp -s "$tmp/out-all.jsonl" "$tmp/out-one.jsonl" && same=yes
    [ "$same" = yes ] || status=1
    echo "$all $same" >> "$tmp/runs"
    echo "$one $same" >> "$tmp/runs"
done
python3 - "$tmp/runs" "${TG_CHECK_THREADS:-$(getconf _NPROCESSORS_ONLN)}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
workers = sys.argv[2]
def show(label, r):
    _, s, n, rss, u, y, same = r
    rate = int(n) / float(s)
    cpu = (float(u) + float(y)) / int(n) * 1e6
    print("%s: %s tickets in %.2f s = %.0f tickets/s, CPU %.1f us a ticket, peak RSS %.1f MB" % (label, n, float(s), rate, cpu, int(rss) / 1024))
    return rate, cpu, same
res = {"all": [], "one": []}
for r in rows:
    label = "check, %s workers" % workers if r[0] == "all" else "check, one thread "
    res[r[0]].append(show(label, r))
for k, label in (("all", "%s workers" % workers), ("one", "one thread")):
    rates = [x[0] for x in res[k]]
    cpus = [x[1] for x in res[k]]
    if len(rates) > 1:
        print("%s over %d runs: best %.0f, median %.0f tickets/s; CPU a ticket best %.1f, median %.1f us" % (label, len(rates), max(rates), statistics.median(rates), min(cpus), statistics.median(cpus)))
a = max(x[0] for x in res["all"])
o = max(x[0] for x in res["one"])
same = all(x[2] == "yes" for x in res["all"] + res["one"])
print("speed-up %.2fx (best against best); output byte for byte the one-thread run's: %s" % (a / o, "yes" if same else "no"))
print("target (>= 100,000 tickets/s on every core, same output): %s" % ("met" if a >= 100000 and same else "NOT met"))
PY
exit $status
