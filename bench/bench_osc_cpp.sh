#!/usr/bin/env bash
# Build and run bench_osc_cpp.cpp against the header-only core (needs g++ and libeigen3-dev).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${TMPDIR:-/tmp}/omnireset_bench_osc_cpp"
g++ -std=c++17 -O2 -DNDEBUG -I "$ROOT/src/omnireset_control/include" -I /usr/include/eigen3 \
  "$ROOT/bench/bench_osc_cpp.cpp" -o "$OUT"
"$OUT"
