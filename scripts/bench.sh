#!/usr/bin/env bash
# Runs every benchmark in bench/ with its quick sizes; each prints ratios against a baseline
# measured in the same run. `scripts/bench.sh NAME` runs only bench/NAME*.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/workspace_env.sh
for b in bench/${1:-bench_}*; do
  case "$b" in
    *.py) echo "=== $b"; python "$b" --quick ;;
    *.sh) echo "=== $b"; bash "$b" ;;
  esac
done
