#!/usr/bin/env bash
# One GPU check in <= 12 minutes (written for a GPU machine; not run on the CPU-only dev machine):
#  1. env-steps/s of MuJoCo Warp at N = 1024 / 4096 / 16384: the Warp-kernel law with the policy
#     step in one captured graph (the default), the torch law between captured physics steps, and
#     no capture (bench/bench_engines.py, ~3 min);
#  1b. rendered frames/s of the collector's MuJoCo Warp batch renderer (3 cameras at 224x224, visual
#     randomization on) at N = 4 / 1024 / 4096 worlds, beside MuJoCo's OpenGL (EGL) at N = 4; N = 4
#     first also takes the render kernel's one compile (bench/bench_warp_render.py, <= 90 s);
#  2. PPO on peg insertion Easy for 5.5 minutes at 16384 envs on the GPU, then success per reset
#     type from the run's metrics (rl/train.py --engine mujoco_warp --device cuda:0);
#  3. with >= 2 GPUs only: 2 ranks under torchrun (rsl-rl's distributed mode, NCCL), 3 iterations
#     at 1024 envs per rank, then the two ranks' network digests must be equal.
# Usage: bench/gpu_check.sh [RESET_DATASET.npz]   (default data/resets/peg_insertion/easy.npz if it
#        exists; without one the env's reaching resets are the only reset type)
# Env: DEVICE (cuda:0), OUT (runs/gpu_check), TRAIN_S (330), SIZES ("1024 4096 16384"),
#      RENDER_SIZES ("4 1024 4096").
# Prerequisite: `make setup` with a CUDA build of torch (or pip install torch==2.13.0 from the CUDA
# index into .venv) and the pinned mujoco-warp/warp-lang; `source env.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda:0}"
OUT="${OUT:-runs/gpu_check}"
TRAIN_S="${TRAIN_S:-330}"
SIZES="${SIZES:-1024 4096 16384}"
RENDER_SIZES="${RENDER_SIZES:-4 1024 4096}"
RESETS="${1:-data/resets/peg_insertion/easy.npz}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python - <<'PY'
import torch, warp, mujoco, mujoco_warp  # noqa: F401
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "warp", warp.__version__, "mujoco", mujoco.__version__)
PY

echo "== 1. env-steps/s (policy-step graph vs torch law + step graph vs no graph) =="
# shellcheck disable=SC2086
timeout 300 python bench/bench_engines.py --device "$DEVICE" --sizes $SIZES \
  --engines mujoco_warp mujoco_warp_torch mujoco_warp_ng --steps 10 --repeats 2 --json "$OUT/bench_engines.json" || echo "bench: exit $?"

echo "== 1b. rendered frames/s (MuJoCo Warp batch renderer vs MuJoCo OpenGL) =="
render_t0=$SECONDS
# shellcheck disable=SC2086
MUJOCO_GL="${MUJOCO_GL:-egl}" timeout 90 python bench/bench_warp_render.py --device "$DEVICE" --sizes $RENDER_SIZES \
  --frames 2 --opengl-max-n 4 --json "$OUT/bench_warp_render.json" || echo "render bench: exit $?"
echo "render bench: $((SECONDS - render_t0)) s (gpu_check so far: ${SECONDS} s)"

echo "== 2. train peg insertion Easy, 16384 envs, ${TRAIN_S} s =="
resets=()
if [ -f "$RESETS" ]; then resets=(--resets "$RESETS"); else echo "no reset dataset at $RESETS: reaching resets only"; fi
timeout $((TRAIN_S + 150)) python -m omnireset_sim.rl.train --engine mujoco_warp --device "$DEVICE" \
  --task peg_insertion --variant easy --num-envs 16384 --max-time-s "$TRAIN_S" --print-every 10 \
  --run-dir "$OUT/train" "${resets[@]}" || echo "train: exit $?"

echo "== success per reset type (last logged iteration) =="
python - "$OUT/train/metrics.jsonl" <<'PY' || echo "metrics: exit $?"
import json, sys
from pathlib import Path
path = Path(sys.argv[1])
rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
if not rows:
    sys.exit(f"no metrics at {path}")
last = rows[-1]
flat = {}
def walk(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            walk(v, f"{prefix}{k}/")
        else:
            flat[f"{prefix}{k}"] = v
walk(last)
for k in sorted(flat):
    if "Success" in k or k.endswith(("iteration", "fps", "env_steps_per_s")):
        print(f"{k:50s} {flat[k]}")
PY

echo "== 3. torchrun, 2 ranks (needs >= 2 GPUs) =="
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)
if [ "$ngpu" -ge 2 ]; then
  timeout 240 python -m torch.distributed.run --nproc_per_node 2 -m omnireset_sim.rl.train --engine mujoco_warp \
    --device cuda --task peg_insertion --variant easy --num-envs 1024 --max-iterations 3 --print-every 1 \
    --run-dir "$OUT/train_ddp" 2>&1 | tee "$OUT/train_ddp.log" | grep -E "^train|distributed:" || echo "torchrun: exit $?"
  digests=$(grep -oE "train\[rank [0-9]+/2\]: networks [0-9a-f]+" "$OUT/train_ddp.log" | awk '{print $NF}' | sort -u | wc -l)
  [ "$digests" = "1" ] && echo "ranks in step: one network digest" || echo "RANKS DIFFER or missing: $digests digests"
else
  echo "skipped: $ngpu GPU(s) visible"
fi
