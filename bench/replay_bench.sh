#!/usr/bin/env bash
# Measures `ticketgate replay` end to end: a store of N decisions (default
# 1,000,000) made by bench/replay_bench.c (real decisions of the corpus's
# tickets, or the example ticket, recorded through the store API with their
# judged tickets, then copied in one SQLite transaction), replayed under a
# candidate that tightens policy.expiry.max_days.write from 90 to 30 days.
# Run by hand, on a quiet machine:
#   bench/replay_bench.sh [N]
# TG_BUILD names a Release build directory (default build); the script
# builds ticketgate and replay_bench there. TG_REPLAY_THREADS, if set, is
# replay's worker count (default one per online CPU). TG_REPLAY_STORE keeps
# the store at that path (made once, reused by later runs: before/after
# comparisons on one store); TG_REPLAY_BIN times another ticketgate binary
# on it; TG_REPLAY_OUT keeps replay's output there. Stores made by an older
# replay_bench have no facts documents (it says so): make a new one.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
build=${TG_BUILD:-build}
cmake --build "$build" --target ticketgate replay_bench >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=${TG_REPLAY_STORE:-$tmp/store.db}
bin=${TG_REPLAY_BIN:-$build/ticketgate}
cp -r example/. "$tmp/"
sed 's/write: 90/write: 30/' "$tmp/ticketgate.yaml" > "$tmp/candidate.yaml"
grep -q 'write: 30' "$tmp/candidate.yaml"
tickets=../shared/corpus/canonical.jsonl
if [ -f "$tickets" ]; then
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.strip(): print(json.dumps(json.loads(l)["ticket"]))' "$tickets" > "$tmp/tickets.jsonl"
else
    python3 -c 'import json; print(json.dumps(json.load(open("example/payloads/canonical-ticket.json"))))' > "$tmp/tickets.jsonl"
fi
t0=$(date +%s.%N)
if [ ! -f "$store" ]; then
    "$build/replay_bench" "$tmp/ticketgate.yaml" "$store" "$n" "$tmp/tickets.jsonl"
fi
t1=$(date +%s.%N)
size=$(stat -c %s "$store")
# A store made before schema v3 has no facts: replay reads the decision
# documents instead (slower); say which one is timed.
python3 - "$store" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
cols = [r[1] for r in db.execute("PRAGMA table_info(records)")]
n, f = db.execute("SELECT count(*), %s FROM records" % ("count(facts)" if "facts" in cols else "0")).fetchone()
print("facts: %d of %d records carry a facts document" % (f, n))
PY
cat "$store" > /dev/null   # in the page cache, as a store in use is
start=$(date +%s.%N)
/usr/bin/time -f "%M %U %S" -o "$tmp/rss" "$bin" replay \
    -c "$tmp/candidate.yaml" --store "$store" > "$tmp/out.txt"
end=$(date +%s.%N)
if [ -n "${TG_REPLAY_OUT:-}" ]; then
    cp "$tmp/out.txt" "$TG_REPLAY_OUT"
fi
python3 - "$n" "$t0" "$t1" "$start" "$end" "$(cat "$tmp/rss")" "$size" "$tmp/out.txt" \
    "${TG_REPLAY_THREADS:-$(getconf _NPROCESSORS_ONLN)}" <<'PY'
import sys
n, t0, t1, s, e = int(sys.argv[1]), *map(float, sys.argv[2:6])
rss, user, sys_ = sys.argv[6].split()
size, out, workers = int(sys.argv[7]), sys.argv[8], sys.argv[9]
changed = next((l.split()[0] for l in open(out) if "would change" in l), "?")
secs = e - s
print("store: %d decisions made in %.1f s, %.0f MB (%.0f bytes a record)" % (n, t1 - t0, size / 1e6, size / n))
print("replay, %s workers: %d decisions in %.2f s = %.0f records/s, CPU %.1f us a record, peak RSS %.1f MB, %s would change"
      % (workers, n, secs, n / secs, (float(user) + float(sys_)) / n * 1e6, int(rss) / 1024, changed))
print("target (>= 100,000 records/s end to end): %s" % ("met" if n / secs >= 100000 else "NOT met"))
PY
