#!/usr/bin/env bash
# Measures `ticketgate check` throughput: canonical tickets evaluated per
# second on one core (check is single-threaded). Run by hand:
#   bench/check_bench.sh [N]        (default N = 200000)
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
start=$(date +%s.%N)
taskset -c 0 "$bin" check -c example/ticketgate.yaml --now 2026-12-01T00:00:00Z \
    "$tmp/tickets.jsonl" > "$tmp/out.jsonl" || [ $? -eq 1 ]
end=$(date +%s.%N)
lines=$(wc -l < "$tmp/out.jsonl")
python3 -c "import sys; n,s,e=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print('check: %d tickets in %.2f s = %.0f tickets/s on one core' % (n, e-s, n/(e-s)))" "$lines" "$start" "$end"
