"""Shared CLI plumbing: task/robot/gripper arguments, torch threads, tqdm progress."""

from __future__ import annotations

import argparse
import os

from ..assets.arm import ArmConfig
from ..assets.gripper import GripperConfig
from ..assets.scene import SceneConfig


def add_scene_args(parser: argparse.ArgumentParser) -> None:
    from ..tasks import task_names

    parser.add_argument("--task", required=True, help=f"one of {task_names()}")
    parser.add_argument("--robot", default=ArmConfig().robot, help="UR model (ur3e, ur5e, ur7e, ur10e)")
    parser.add_argument("--calibration", default=None, help="ur_calibration kinematics YAML")
    parser.add_argument("--gripper-force", type=float, default=GripperConfig().force,
                        help="grip force limit (N); must match the env's SceneConfig")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-parts", action="store_true", help="keep the resumable chunk folder")


def scene_from_args(args) -> SceneConfig:
    return SceneConfig(arm=ArmConfig(robot=args.robot, calibration=args.calibration),
                       gripper=GripperConfig(force=args.gripper_force))


def setup_runtime() -> None:
    # Small batched torch ops (IK) are ~50x slower with several intra-op threads on a shared CPU.
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MUJOCO_GL", "egl")


def progress_bar(total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
