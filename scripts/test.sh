#!/usr/bin/env bash
# The README's test command: set-up (idempotent), colcon build, C++ tests (gtest via colcon/ctest),
# then pytest over every package and tests/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
. scripts/workspace_env.sh

status=0
cxx_pkgs=$(colcon list --base-paths src --names-only --packages-select omnireset_control 2>/dev/null || true)
if [ -n "$cxx_pkgs" ]; then
  echo "[test] C++ tests (gtest) of: $cxx_pkgs"
  colcon --log-base log test --base-paths src --packages-select $cxx_pkgs \
    --event-handlers console_cohesion- summary+ status- --return-code-on-test-failure || status=1
  colcon test-result --test-result-base build --verbose || status=1
fi

echo "[test] pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exit 5 = no tests collected: a test run that ran nothing is a failure here.
if [ $rc -ne 0 ]; then status=$rc; fi
exit $status
