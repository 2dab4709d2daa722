#!/usr/bin/env bash
# Runs every benchmark in bench/ with its quick sizes; each prints ratios against a baseline
# measured in the same run. `scripts/bench.sh NAME` runs only bench/NAME*.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
set +u
# shellcheck disable=SC1091
. ./env.sh
set -u
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export MUJOCO_GL="${MUJOCO_GL:-egl}"
for b in bench/${1:-bench_}*; do
  case "$b" in
    *.py) echo "=== $b"; python "$b" --quick ;;
    *.sh) echo "=== $b"; bash "$b" ;;
  esac
done
