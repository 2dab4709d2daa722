#!/usr/bin/env bash
# Equal-budget ablation of the exploration noise on peg insertion Easy (full-task issue, item 1):
# gSDE as released (the default) vs the earlier held-noise gSDE variant vs plain Gaussian noise
# (scripts/experiments/peg_ablation.sh: side by side, same dataset, then every reset type + one PNG).
#
#   scripts/experiments/peg_noise_ablation.sh [BUDGET_S=5400] [OUT=runs/peg_noise]     (RESUME=1 continues)
set -eo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/peg_ablation.sh" "${2:-runs/peg_noise}" "${1:-5400}" \
  gsde "gSDE as released" "--noise gsde" \
  gsde_held "gSDE held 8 steps, detached, capped" "--noise gsde_held" \
  gaussian "Gaussian" "--noise gaussian"
