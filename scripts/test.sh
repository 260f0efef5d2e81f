#!/usr/bin/env bash
# Installs what ticketgate needs, builds it twice (release with -Werror, and
# ASan+UBSan), and runs every test in both. This is the README's test command
# and what .ci/run calls. Each ctest runs beside a PostgreSQL server of its
# own (scripts/pg-test.sh: TG_TEST_PG_URL); without one, the PostgreSQL
# tests are skipped with a line saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_WERROR=ON
cmake --build build -j"$jobs"
scripts/pg-test.sh -- ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${TG_SKIP_SANITIZE:-0}" != 1 ]; then
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON -DTG_WERROR=ON
    cmake --build build-asan -j"$jobs"
    # The replica tests load for 10 s here (30 s, the issue's figure, in
    # the release run above): the same paths under the sanitizers, and
    # the suite stays well under 10 minutes on 2 cores.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TG_PG_LOAD_SECONDS=${TG_PG_LOAD_SECONDS:-10} \
        scripts/pg-test.sh -- ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
