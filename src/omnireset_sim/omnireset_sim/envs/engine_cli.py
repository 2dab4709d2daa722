"""--engine / --device for the command-line tools (train, evaluate, collect): two lines per CLI.

`add_engine_args(parser)` adds the options; `apply_engine_args(args, prog)` checks that the engine
can run here -- else one line naming what is missing and how to get it, exit status 2, no
traceback -- and makes it the default of every env the process builds (vec_env.ENGINE_DEFAULTS).
"""

from __future__ import annotations

import argparse
import sys

ENGINE_CHOICES = ("mujoco", "mujoco_warp", "isaaclab")


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="mujoco",
                        help="physics engine: mujoco (C, CPU; default), mujoco_warp (GPU; slow on the CPU) or "
                             "isaaclab (Isaac Lab 3 on Newton/MuJoCo Warp; needs the venv of make isaaclab-setup)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N (mujoco_warp only)")


def check_engine(engine: str, device: str) -> str:
    """The normalized device for `engine`, or EngineUnavailable / ValueError saying why not."""
    from .mujoco_warp_engine import check_device, import_warp

    if engine == "mujoco":
        if str(device) != "cpu":
            raise ValueError(f"--engine mujoco runs on the CPU only (got --device {device}); "
                             f"for a GPU use --engine mujoco_warp --device {device}")
        return "cpu"
    if engine == "isaaclab":
        from ..isaaclab._version import IsaacLabUnavailable, require_isaaclab

        try:
            require_isaaclab()
        except IsaacLabUnavailable as exc:
            raise ValueError(str(exc)) from None
        return str(device)
    if engine != "mujoco_warp":
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINE_CHOICES)}")
    import_warp()
    return check_device(device)


def apply_engine_args(args: argparse.Namespace, prog: str) -> None:
    from . import vec_env
    from .mujoco_warp_engine import EngineUnavailable

    engine, device = getattr(args, "engine", "mujoco"), getattr(args, "device", "cpu")
    try:
        device = check_engine(engine, device)
    except (EngineUnavailable, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    vec_env.ENGINE_DEFAULTS.update(engine=engine, device=device)
