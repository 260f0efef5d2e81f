#!/usr/bin/env bash
# Measures `ticketgate check` end to end: canonical tickets in (JSON Lines),
# decisions out to a file, on every core (one worker per online CPU), then
# on one thread (TG_CHECK_THREADS=1, the reference path) for comparison;
# the two outputs must be byte for byte the same. Run by hand:
#   bench/check_bench.sh [N]        (default N = 200000)
# TG_BIN names the binary (default build/ticketgate, a Release build);
# TG_CHECK_THREADS, if set, is the parallel run's worker count.
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

all=$(run all "$tmp/out-all.jsonl" ${TG_CHECK_THREADS:+TG_CHECK_THREADS=$TG_CHECK_THREADS})
one=$(run one "$tmp/out-one.jsonl" TG_CHECK_THREADS=1)
same=no
cmp -s "$tmp/out-all.jsonl" "$tmp/out-one.jsonl" && same=yes
python3 - "$all" "$one" "$same" "${TG_CHECK_THREADS:-$(getconf _NPROCESSORS_ONLN)}" <<'PY'
import sys
(_, a_s, a_n, a_rss, a_u, a_y), (_, o_s, o_n, o_rss, o_u, o_y) = (s.split() for s in sys.argv[1:3])
same, workers = sys.argv[3], sys.argv[4]
a, o = int(a_n) / float(a_s), int(o_n) / float(o_s)
# CPU time a ticket (user + system, all threads): what a busy machine
# does not change much, unlike the wall-clock rate.
print("check, %s workers: %s tickets in %.2f s = %.0f tickets/s, CPU %.1f us a ticket, peak RSS %.1f MB" % (workers, a_n, float(a_s), a, (float(a_u) + float(a_y)) / int(a_n) * 1e6, int(a_rss) / 1024))
print("check, one thread:  %s tickets in %.2f s = %.0f tickets/s, CPU %.1f us a ticket, peak RSS %.1f MB" % (o_n, float(o_s), o, (float(o_u) + float(o_y)) / int(o_n) * 1e6, int(o_rss) / 1024))
print("speed-up %.2fx; output byte for byte the one-thread run's: %s" % (a / o, same))
print("target (>= 100,000 tickets/s on every core, same output): %s" % ("met" if a >= 100000 and same == "yes" else "NOT met"))
sys.exit(0 if same == "yes" else 1)
PY
