#!/usr/bin/env python3
"""RGB student benchmark: expert-data collection frames/s, distillation samples/s, and student
inference per tick with vs without the per-frame feature cache (policy_runner.RgbPolicyRunner,
ResNet-18, 3 cameras x 5 frames). Each number is printed with its baseline from the same run:

  collection     frames/s with visual randomization   vs  the same without (plain rendering)
  training       samples/s with augmentation          vs  without augmentation
  inference      ms/tick with the feature cache       vs  re-encoding all 15 frames every tick

    source env.sh && python bench/bench_student.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")

from omnireset_control.kinematics import BatchedKinematics, load_kinematics  # noqa: E402
from omnireset_policy.exported_policy import load_exported_policy  # noqa: E402
from omnireset_policy.policy_runner import RgbPolicyRunner  # noqa: E402
from omnireset_policy.student.distill import DistillConfig, distill  # noqa: E402
from omnireset_policy.student_network import make_random_rgb_policy  # noqa: E402
from omnireset_sim.collect.collector import CollectConfig, collect  # noqa: E402
from omnireset_sim.collect.visual import VisualRandomizationCfg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXPERT = REPO / "src" / "omnireset_bringup" / "policies" / "demo"
CAMERAS = ("front", "side", "wrist")


def bench_collection(tmp: Path, size: int, num_envs: int, episodes: int, seconds: float) -> None:
    rates = {}
    for name, enabled in (("randomized", True), ("plain", False)):
        cfg = CollectConfig(expert=str(EXPERT), out_dir=str(tmp / f"collect_{name}"), num_envs=num_envs,
                            num_episodes=episodes, episode_seconds=seconds, width=size, height=size, keep_all=True,
                            visual=VisualRandomizationCfg(enabled=enabled))
        stats = collect(cfg)
        rates[name] = stats
    r, p = rates["randomized"], rates["plain"]
    print(f"collection {size}x{size}, {num_envs} worlds, 3 cameras: {r.frames_per_second:.1f} frames/s "
          f"({r.frames_rendered} frames, rendering {100 * r.render_seconds / r.seconds:.0f}% of the wall time; "
          f"expert, physics, HDF5 the rest) "
          f"vs plain {p.frames_per_second:.1f} frames/s -> ratio {r.frames_per_second / p.frames_per_second:.2f}")
    return tmp / "collect_randomized"


def bench_training(data: Path, tmp: Path, encoder: str, steps: int, batch: int, threads: int) -> None:
    torch.set_num_threads(threads)
    rates = {}
    for augment in (True, False):
        cfg = DistillConfig(data=[str(data)], run_dir=str(tmp / f"run_{augment}"), encoder=encoder, steps=steps,
                            batch_size=batch, augment=augment, tensorboard=False, checkpoint_every=10**6)
        rates[augment] = distill(cfg, progress=False).samples_per_second
    print(f"training {encoder}, batch {batch} x 3 cams x 5 frames: {rates[True]:.2f} samples/s with augmentation "
          f"vs {rates[False]:.2f} without -> ratio {rates[True] / rates[False]:.2f}")


def bench_inference(tmp: Path, encoder: str, size: int, ticks: int, threads: int) -> None:
    path = make_random_rgb_policy(tmp / f"rgb_{encoder}", encoder=encoder, image_size=(size, size))
    policy = load_exported_policy(path)
    kin = BatchedKinematics(load_kinematics("ur7e"))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(4)]
    med = {}
    for cache in (True, False):
        runner = RgbPolicyRunner(policy, kin, torch_threads=threads, use_feature_cache=cache)
        times = []
        for tick in range(ticks + 2):
            imgs = {c: (tick, frames[(tick + k) % 4]) for k, c in enumerate(CAMERAS)}
            step = runner.step([0.1, -1.4, 1.6, -1.7, -1.57, 0.3], imgs)
            if step.error:
                raise RuntimeError(step.error)
            if tick >= 2:
                times.append(step.inference_time)
        med[cache] = statistics.median(times) * 1e3
    print(f"inference {encoder} {size}x{size}, 3 cams x 5 frames, {threads} thread(s): {med[True]:.1f} ms/tick "
          f"with feature cache vs {med[False]:.1f} ms/tick re-encoding -> speed-up {med[False] / med[True]:.2f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, ~1 min on 2 cores)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    q = args.quick
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = bench_collection(tmp, size=64 if q else 224, num_envs=2 if q else 4, episodes=2 if q else 4,
                                seconds=0.5 if q else 2.0)
        bench_training(data, tmp, encoder="tiny" if q else "resnet18", steps=3 if q else 10, batch=4 if q else 8,
                       threads=args.threads)
        bench_inference(tmp, encoder="resnet18", size=96 if q else 224, ticks=5 if q else 20, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
