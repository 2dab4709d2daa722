#!/usr/bin/env bash
# colcon build of the workspace against the project's underlay (system Jazzy or the venv wheels).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -x .venv/bin/python ] || { echo "[build] error: no .venv; run scripts/setup.sh (make setup) first" >&2; exit 1; }
set +u
# shellcheck disable=SC1091
. scripts/ros_env.sh
set -u
echo "[build] colcon build"
colcon --log-base log build --base-paths src --symlink-install \
  --cmake-args -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$ROOT/.venv/bin/python" \
  --event-handlers console_cohesion- summary+ status- "$@"
