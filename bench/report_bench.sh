#!/usr/bin/env bash
# Times `ticketgate report` end to end on a store of N decisions and N
# events (default 1,000,000 each) made by bench/report_bench.c through the
# store API. The store is kept (TG_REPORT_STORE, default
# /tmp/ticketgate-report-bench-N.db) so that a second run times the report
# only. Run by hand, on a quiet machine:
#   bench/report_bench.sh [N]
# TG_BUILD names a Release build directory (default build); the script
# builds ticketgate and report_bench there. Prints the wall time, CPU time
# and peak RSS of each format. TG_REPORT_BIN times another ticketgate
# binary (before/after comparisons on one store). Stores made by an older
# report_bench have no facts documents (it says so): make a new one.
# TG_REPORT_PERF=FILE records the text run with `perf record -g` into FILE
# (its own run after the timed ones; judge a change by the shares and the
# CPU, which a busy machine moves less than the wall time).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
build=${TG_BUILD:-build}
store=${TG_REPORT_STORE:-/tmp/ticketgate-report-bench-$n.db}
bin=${TG_REPORT_BIN:-$build/ticketgate}
cmake --build "$build" --target ticketgate report_bench >/dev/null
if [ ! -f "$store" ]; then
    "$build/report_bench" "$store" "$n"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r example/. "$tmp/"
sed "s|path: ./data/ticketgate.db|path: $store|" example/ticketgate.yaml > "$tmp/ticketgate.yaml"
grep -q "path: $store" "$tmp/ticketgate.yaml"
cat "$store" > /dev/null   # in the page cache, as a store in use is
echo "store: $store ($(stat -c %s "$store") bytes), $n decisions + $n events"
# A store made before schema v3 has no facts: the report reads the decision
# documents and judged tickets instead (slower); say which one is timed.
python3 - "$store" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
cols = [r[1] for r in db.execute("PRAGMA table_info(records)")]
n, f = db.execute("SELECT count(*), %s FROM records WHERE kind IS NULL OR kind = 'decision'" % ("count(facts)" if "facts" in cols else "0")).fetchone()
print("facts: %d of %d decisions carry a facts document" % (f, n))
PY
for fmt in json html text; do
    start=$(date +%s.%N)
    /usr/bin/time -f "%M %U %S" -o "$tmp/rss" "$bin" report \
        -c "$tmp/ticketgate.yaml" --since 2026-09-01 --until 2026-12-01 \
        --now 2026-12-01 --format "$fmt" -o "$tmp/report.$fmt"
    end=$(date +%s.%N)
    read -r rss user sys < "$tmp/rss"
    python3 -c 'import sys; s,e,r,u,y,f,n=sys.argv[1:]; print("%-4s %6.2f s wall, %6.2f s CPU (%.1f us a row of %d), peak RSS %d MB" % (f, float(e)-float(s), float(u)+float(y), (float(u)+float(y))/(2*int(n))*1e6, 2*int(n), int(r)//1024))' \
        "$start" "$end" "$rss" "$user" "$sys" "$fmt" "$n"
done
if [ -n "${TG_REPORT_PERF:-}" ]; then
    perf record -q -g -o "$TG_REPORT_PERF" "$bin" report \
        -c "$tmp/ticketgate.yaml" --since 2026-09-01 --until 2026-12-01 \
        --now 2026-12-01 --format text -o "$tmp/report.perf.text"
    echo "perf: $TG_REPORT_PERF (perf report -i $TG_REPORT_PERF --no-children)"
fi
