#!/usr/bin/env bash
# Equal-budget ablation on peg insertion Easy (full-task issue, item 1): runs that differ only in the
# given train options go side by side on the same machine (same load, same wall-clock budget), each
# on one torch/MuJoCo thread, from the same released-pipeline reset dataset; then each is evaluated
# from every reset type (128 episodes, Wilson intervals) and the curves go into one PNG.
#
#   scripts/experiments/peg_ablation.sh OUT BUDGET_S NAME 'DESCRIPTION' 'TRAIN OPTIONS' [NAME ...]
#   e.g. scripts/experiments/peg_ablation.sh runs/peg_clip 3600 \
#          no_clip 'no action clip (released)' '' clip10 'actions clipped to +-10' '--action-clip 10'
#
# The first run is the baseline the others are compared with. Resumable: rerun with RESUME=1 to
# continue stopped runs exactly (train --resume, BUDGET_S more each). Needs
# data/resets/peg_insertion/easy.npz (README: "Learning result with the released pipeline").
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source env.sh >/dev/null
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
usage="usage: peg_ablation.sh OUT BUDGET_S NAME 'DESCRIPTION' 'TRAIN OPTIONS' [NAME 'DESCRIPTION' 'OPTIONS' ...]"
OUT=${1:?$usage}
BUDGET=${2:?$usage}
shift 2
if [ $# -lt 6 ] || [ $(( $# % 3 )) -ne 0 ]; then echo "peg_ablation: error: need >= 2 runs as NAME DESCRIPTION OPTIONS triples; $usage" >&2; exit 2; fi
RESETS=data/resets/peg_insertion/easy.npz
[ -f "$RESETS" ] || { echo "peg_ablation: error: $RESETS missing (see the README's reset-generation commands)" >&2; exit 2; }
mkdir -p "$OUT"
names=(); labels=()
while [ $# -gt 0 ]; do
  name=$1; label=$2; read -r -a extra <<< "$3"; shift 3
  names+=("$name"); labels+=("$label")
  # a resume repeats the run's own arguments: train refuses one whose task/env/PPO options differ
  args=(--task peg_insertion --variant easy --num-envs 1024 --seed 0 --resets "$RESETS" "${extra[@]}"
        --max-time-s "$BUDGET" --max-iterations 100000 --torch-threads 1 --nthread 1 --run-dir "$OUT/$name")
  if [ "${RESUME:-0}" = 1 ] && [ -d "$OUT/$name" ]; then
    args+=(--resume "$OUT/$name" --allow-code-change)
  fi
  python -m omnireset_sim.rl.train "${args[@]}" >> "$OUT/$name.log" 2>&1 &
done
wait
compare=()
for name in "${names[@]:1}"; do compare+=("$OUT/$name"); done
python -m omnireset_sim.rl.evaluate "$OUT/${names[0]}" --by-reset-type --resets "$RESETS" \
  --compare "${compare[@]}" --episodes 128 --num-envs 128 --out "$OUT/eval"
runs=()
for name in "${names[@]}"; do runs+=("$OUT/$name"); done
python -m omnireset_sim.rl.plot_training "${runs[@]}" --labels "${labels[@]}" \
  --out "$OUT/by_type_vs_time.png" --diagnostics "$OUT/diagnostics.png"
