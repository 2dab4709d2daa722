#!/usr/bin/env bash
# The README's main job on the embedded default engine (MuJoCo, CPU): set-up, then the sim graph
# with the shipped policy for a fixed time (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
. scripts/workspace_env.sh
if python -c "import omnireset_bringup.run_graph" 2>/dev/null; then
  exec python -m omnireset_bringup.run_graph --config sim "$@"
fi
echo "omnireset: the sim graph is not built yet (issue: deployment graph); set-up and build succeeded." >&2
exit 3
