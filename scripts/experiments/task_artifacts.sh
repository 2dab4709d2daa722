#!/usr/bin/env bash
# Regenerate one task's reset artifacts from its current spec and measure the oracle on them
# (task-fidelity issue, item 4): grasps -> partial assemblies -> the four Easy reset datasets
# (+ coverage and gallery PNGs) -> the shipped oracle's success from each reset type and from the
# env's reaching sampler (128 episodes each, Wilson 95 % intervals), on one MuJoCo thread.
#
#   scripts/experiments/task_artifacts.sh TASK [OUT=data/resets] [PER_TYPE=1000] [EPISODE_S=task's]
#
# Writes OUT/TASK/{grasps,partial_assemblies,easy}.npz, easy_{coverage,gallery,gallery_small}.png,
# eval/by_reset_type.{json,png} and a log per stage; the resets CLI resumes a stopped dataset from its chunks (--keep-parts).
# python -m omnireset_sim.list_tasks --artifacts OUT prints the README's per-task table from them.
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source env.sh >/dev/null
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
TASK=${1:?usage: task_artifacts.sh TASK [OUT] [PER_TYPE] [EPISODE_S]}
OUT=${2:-data/resets}
PER_TYPE=${3:-1000}
EPISODE_S=${4:-}
D="$OUT/$TASK"
mkdir -p "$D"
POLICY=src/omnireset_bringup/policies/oracle_$TASK
[ -d "$POLICY" ] || { echo "task_artifacts: error: no shipped oracle at $POLICY" >&2; exit 2; }
stage() { echo "[$(date -u +%H:%M:%S)] $TASK: $*"; }
export OMP_NUM_THREADS=1
stage grasps
python -m omnireset_sim.resets.grasps_cli --task "$TASK" --num-grasps 1000 --out "$D/grasps.npz" > "$D/grasps.log" 2>&1
stage partial assemblies
python -m omnireset_sim.resets.partial_assemblies_cli --task "$TASK" --num-poses 500 \
  --out "$D/partial_assemblies.npz" > "$D/partial_assemblies.log" 2>&1
stage "resets ($PER_TYPE per type)"
python -m omnireset_sim.resets.resets_cli --task "$TASK" --variant easy --per-type "$PER_TYPE" \
  --grasps "$D/grasps.npz" --partial-assemblies "$D/partial_assemblies.npz" --keep-parts \
  --out "$D/easy.npz" --coverage "$D/easy_coverage.png" --gallery "$D/easy_gallery.png" > "$D/resets.log" 2>&1
stage "oracle by reset type"
extra=()
[ -n "$EPISODE_S" ] && extra+=(--episode-length-s "$EPISODE_S")
python -m omnireset_sim.rl.evaluate "$POLICY" --by-reset-type --resets "$D/easy.npz" --episodes 128 \
  --num-envs 64 --nthread 1 --seed 1000 --out "$D/eval" "${extra[@]}" > "$D/eval.log" 2>&1
stage "gallery for docs/results (half size, 64 colours)"
python - "$D/easy_gallery.png" "$D/easy_gallery_small.png" <<'PY'
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS).quantize(64)
img.save(sys.argv[2] + ".tmp.png", optimize=True)
import os; os.replace(sys.argv[2] + ".tmp.png", sys.argv[2])
PY
stage done
