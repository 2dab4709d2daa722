"""Offscreen render time per camera frame (MuJoCo Renderer, CPU GL: MUJOCO_GL=egl or osmesa).

Prints ms per 224x224 frame for each camera (front, side, wrist) of a task scene, and the cost of
a full 3-camera observation, next to one env step of the same env for scale.
Run: python bench/bench_render.py [--quick] [--gl egl|osmesa] [--size 224]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames")
    parser.add_argument("--gl", default=os.environ.get("MUJOCO_GL", "egl"), choices=("egl", "osmesa"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--task", default="peg_insertion")
    args = parser.parse_args()
    os.environ["MUJOCO_GL"] = args.gl
    import torch

    from omnireset_sim.envs import make_env

    frames = 10 if args.quick else 60
    env = make_env(args.task, "easy", 1, nthread=0)
    env.step(torch.zeros(1, 7))
    print(f"MUJOCO_GL={args.gl}, {args.size}x{args.size}, task {args.task}, {frames} frames per camera")
    total = 0.0
    for cam in ("front", "side", "wrist"):
        env.render(0, cam, args.size, args.size)  # warm-up (context, textures)
        t = time.perf_counter()
        for _ in range(frames):
            env.render(0, cam, args.size, args.size)
        ms = (time.perf_counter() - t) / frames * 1e3
        total += ms
        print(f"  {cam:>5}: {ms:6.1f} ms/frame")
    t = time.perf_counter()
    for _ in range(frames):
        env.step(torch.zeros(1, 7))
    step_ms = (time.perf_counter() - t) / frames * 1e3
    print(f"  3-camera observation: {total:.1f} ms; one env step (12 physics steps, N=1): {step_ms:.1f} ms "
          f"-> rendering at 10 Hz costs {total / step_ms:.1f}x the physics of one env")
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
