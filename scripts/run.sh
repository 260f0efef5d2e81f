#!/usr/bin/env bash
# Installs what ticketgate needs, builds it, and serves the example
# configuration (example/ticketgate.yaml) on 127.0.0.1:8080 with the embedded
# SQLite evidence store in example/data/. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
exec ./build/ticketgate serve -c example/ticketgate.yaml "$@"
