#!/usr/bin/env bash
# Equal-budget ablation of the exploration noise on peg insertion Easy (full-task issue, item 1):
# gSDE as released (the default) vs the earlier held-noise gSDE variant vs plain Gaussian noise.
# The three runs go side by side on the same machine (same load, same wall-clock budget), each on
# one torch/MuJoCo thread, from the same released-pipeline reset dataset, then each is evaluated
# from every reset type (128 episodes, Wilson intervals) and the curves go into one PNG.
#
#   scripts/experiments/peg_noise_ablation.sh [BUDGET_S=5400] [OUT=runs/peg_noise]
#
# Resumable: rerun with RESUME=1 to continue stopped runs exactly (train --resume). Needs
# data/resets/peg_insertion/easy.npz (README: "Learning result with the released pipeline").
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source env.sh
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
BUDGET=${1:-5400}
OUT=${2:-runs/peg_noise}
RESETS=data/resets/peg_insertion/easy.npz
[ -f "$RESETS" ] || { echo "peg_noise_ablation: error: $RESETS missing (see the README's reset-generation commands)" >&2; exit 2; }
mkdir -p "$OUT"
for noise in gsde gsde_held gaussian; do
  # a resume repeats the run's own arguments: train refuses one whose task/env/PPO options differ
  args=(--task peg_insertion --variant easy --num-envs 1024 --seed 0 --noise "$noise" --resets "$RESETS"
        --max-time-s "$BUDGET" --max-iterations 100000 --torch-threads 1 --nthread 1 --run-dir "$OUT/$noise")
  if [ "${RESUME:-0}" = 1 ] && [ -d "$OUT/$noise" ]; then
    args+=(--resume "$OUT/$noise" --allow-code-change)
  fi
  python -m omnireset_sim.rl.train "${args[@]}" >> "$OUT/$noise.log" 2>&1 &
done
wait
python -m omnireset_sim.rl.evaluate "$OUT/gsde" --by-reset-type --resets "$RESETS" \
  --compare "$OUT/gsde_held" "$OUT/gaussian" --episodes 128 --num-envs 128 --out "$OUT/eval"
python -m omnireset_sim.rl.plot_training "$OUT/gsde" "$OUT/gsde_held" "$OUT/gaussian" \
  --labels "gSDE as released" "gSDE held 8 steps, detached, capped" "Gaussian" \
  --out "$OUT/by_type_vs_time.png" --diagnostics "$OUT/diagnostics.png"
