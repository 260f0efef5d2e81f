#!/usr/bin/env bash
# Issue 15's speed target as a median: bench/pg_bench.sh ROUNDS times in a
# row, one binary and one PostgreSQL server for all of them, each round's
# figures and the median of the ratios at the end. One round's ratio moves
# by +-0.08 on a 2-core VM (the SQLite run alone spans 12-17k req/s from
# one minute to the next), so a single run says little about a change of
# a few percent; the median of ten does.
#
#   bench/pg_bench_rounds.sh [ROUNDS] [DURATION] [CONNECTIONS]
#
# ROUNDS (default 10); DURATION and CONNECTIONS as bench/pg_bench.sh
# (10, 32). PostgreSQL: TG_BENCH_PG_URL, else a throw-away server under
# scripts/pg-test.sh for the whole series. TG_BIN names the binary, else
# build-bench/ is built once. The floor step runs only when
# TG_BENCH_FLOOR=1 (it adds 12 s a round). Every round's full output is
# kept in TG_BENCH_ROUNDS_OUT (default: a temporary file, printed path).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rounds=${1:-10}
dur=${2:-10}
conns=${3:-32}
case $rounds in ''|*[!0-9]*|0) echo "pg_bench_rounds: ROUNDS must be a positive number" >&2; exit 2;; esac

if [ -z "${TG_BENCH_PG_URL:-${TG_TEST_PG_URL:-}}" ]; then
    if [ -n "${TG_TEST_PG_SKIP:-}" ]; then
        echo "pg_bench_rounds: no PostgreSQL: $TG_TEST_PG_SKIP" >&2
        exit 2
    fi
    exec scripts/pg-test.sh -- "$root/bench/pg_bench_rounds.sh" "$@"
fi
if [ -z "${TG_BIN:-}" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc 2>/dev/null || echo 2)" --target ticketgate >/dev/null
    export TG_BIN=$root/build-bench/ticketgate
fi
export TG_BENCH_FLOOR=${TG_BENCH_FLOOR:-0}
out=${TG_BENCH_ROUNDS_OUT:-$(mktemp "${TMPDIR:-/tmp}/tgpgrounds-XXXXXX")}
: > "$out"

ratios=()
for i in $(seq 1 "$rounds"); do
    echo "--- round $i of $rounds, $(date -u +%H:%M:%S) UTC" >> "$out"
    if ! bench/pg_bench.sh "$dur" "$conns" >> "$out" 2>&1; then
        echo "pg_bench_rounds: round $i failed (output in $out)" >&2
        exit 1
    fi
    # "ratio PostgreSQL (2 replicas) / SQLite (1): 0.69x (target ...)"
    r=$(sed -n 's/^ratio PostgreSQL (2 replicas) \/ SQLite (1): \([0-9.]*\)x.*/\1/p' "$out" | tail -n 1)
    sq=$(awk '/^1 replica, SQLite/ {print $(NF-4)}' "$out" | tail -n 1)
    pg=$(awk '/^2 replicas, PostgreSQL/ {print $(NF-2)}' "$out" | tail -n 1)
    [ -n "$r" ] || { echo "pg_bench_rounds: round $i printed no ratio (output in $out)" >&2; exit 1; }
    printf 'round %2d: SQLite %6s req/s, PostgreSQL (2 replicas) %6s req/s: %sx\n' "$i" "$sq" "$pg" "$r"
    ratios+=("$r")
done
python3 - "${ratios[@]}" <<'PY'
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
m = statistics.median(r)
print("ratios: %s" % ", ".join("%.2f" % x for x in r))
print("median %.3fx over %d rounds (%.2f-%.2fx); %d of %d at or above 0.70x; target >= 0.7x as a median: %s"
      % (m, len(r), r[0], r[-1], sum(x >= 0.70 for x in r), len(r), "met" if m >= 0.70 else "NOT met"))
PY
echo "every round's output: $out"
