"""View or record any task: a PNG strip, a GIF or an MP4 of a random or scripted rollout.

  python -m omnireset_sim.view --task peg_insertion --variant easy --steps 40 --out peg.gif
  ros2 run omnireset_sim view --task cube_stacking --policy scripted --out strip.png

Rendering is offscreen on the CPU (MUJOCO_GL=egl by default, or osmesa).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def scripted_action(env, generator=None):
    """A simple reaching script: move the TCP toward a point above the target object, gripper open."""
    import torch

    s = env.engine.state()
    ee_pos, _ = env.kin.forward(s.joint_pos)
    goal = s.target_pos.clone()
    goal[:, 2] += 0.05
    delta = (goal - ee_pos) / env.action_scale[:3]
    action = torch.zeros(env.num_envs, 7, dtype=torch.float64)
    action[:, :3] = delta.clamp(-1.0, 1.0)
    action[:, 6] = 1.0
    return action


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from .tasks import task_names

    parser = argparse.ArgumentParser(prog="omnireset_sim.view", description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="peg_insertion", help=f"one of {task_names()}")
    parser.add_argument("--variant", default="easy", help="easy or hard")
    parser.add_argument("--steps", type=int, default=30, help="policy steps (10 Hz)")
    parser.add_argument("--every", type=int, default=5, help="record every k-th step")
    parser.add_argument("--policy", choices=("random", "zero", "scripted"), default="scripted")
    parser.add_argument("--cameras", default="front,side,wrist", help="comma-separated subset of front,side,wrist")
    parser.add_argument("--size", type=int, default=224, help="square image size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="rollout.png", help=".png (strip), .gif or .mp4")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from .envs import make_env
    from .tasks import get_variant

    try:
        get_variant(args.task, args.variant)
    except ValueError as exc:
        parser.error(str(exc))
    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()]
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".gif", ".mp4"):
        parser.error(f"--out must end in .png, .gif or .mp4, got {out.name!r}")
    if args.steps < 1 or args.every < 1:
        parser.error("--steps and --every must be >= 1")

    env = make_env(args.task, args.variant, 1, seed=args.seed, nthread=0)
    gen = torch.Generator().manual_seed(args.seed)
    frames = []
    try:
        from tqdm import tqdm

        progress = tqdm(range(args.steps + 1), desc=f"{args.task}/{args.variant}", unit="step", file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is in the venv
        progress = range(args.steps + 1)
    for step in progress:
        if step % args.every == 0 or step == args.steps:
            views = [env.render(0, cam, args.size, args.size) for cam in cameras]
            frames.append(np.concatenate(views, axis=1))
        if step == args.steps:
            break
        if args.policy == "random":
            action = torch.rand(1, 7, generator=gen, dtype=torch.float64) * 2 - 1
        elif args.policy == "zero":
            action = torch.zeros(1, 7, dtype=torch.float64)
        else:
            action = scripted_action(env)
        _, _, done, extras = env.step(action)
    env.close()

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        Image.fromarray(np.concatenate(frames, axis=0)).save(out)
    elif out.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(out, save_all=True, append_images=images[1:], duration=int(100 * args.every), loop=0)
    else:
        try:
            import imageio.v3 as iio
        except ImportError:
            print("error: MP4 needs the `imageio` and `imageio-ffmpeg` packages; use .gif or .png", file=sys.stderr)
            return 2
        iio.imwrite(out, np.stack(frames), fps=max(1, 10 // args.every))
    print(f"wrote {out} ({len(frames)} frames x {len(cameras)} cameras)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
