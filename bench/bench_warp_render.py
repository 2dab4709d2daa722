"""Rendered frames/s vs N worlds: MuJoCo Warp's batch renderer beside MuJoCo's OpenGL, same run.

For each N, an env on the MuJoCo Warp engine (peg insertion Easy, --device) and the collector's
two renderers on it, with the collector's settings (visual randomization on, 3 cameras at the
collector's resolution, Warp: shadows, 1 ray per pixel):
  warp    collect/warp_render.WarpBatchRenderer.render_all(): every world and camera in one call
          (a captured graph replay: copy state, kinematics, collision, BVH refit, ray tracing,
          unpack) plus the one copy of the images to the host
  opengl  collect/visual.RandomizedRenderer.render_all(): MuJoCo's OpenGL renderer, world after
          world (a host copy of the state, mj_forward, 3 renders and read-backs per world); only
          for N <= --opengl-max-n (its time is linear in N)
A frame is one camera image of one world. The first call of each renderer (kernel compile or
cache load, graph capture, GL context) is timed separately and not in frames/s. On the CPU
device Warp uses one core: its numbers there say nothing about a GPU.
Run: python bench/bench_warp_render.py [--sizes 1 2 4] [--frames 2] [--device cpu] [--json out.json]
GPU: python bench/bench_warp_render.py --device cuda:0 --sizes 256 1024 4096 --opengl-max-n 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))
os.environ.setdefault("MUJOCO_GL", "egl")


def time_calls(renderer, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        renderer.render_all()  # returns host images: the copy out is the synchronisation
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=2, help="timed render_all calls per renderer and N")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"),
                   help="default: the collector's (config/cameras.yaml)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--opengl-max-n", type=int, default=8, help="OpenGL only for N up to this")
    p.add_argument("--no-randomization", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.frames < 1 or min(args.sizes) < 1:
        print("bench_warp_render: error: --frames and --sizes must be >= 1", file=sys.stderr)
        return 2
    from omnireset_sim.collect.collector import DEFAULT_CAMERAS
    from omnireset_sim.collect.visual import RandomizedRenderer, VisualRandomizationCfg
    from omnireset_sim.collect.warp_render import WarpBatchRenderer, warp_render_setup
    from omnireset_sim.envs import make_env

    try:
        device, (height, width) = warp_render_setup(args.device, args.image_size)
    except ValueError as exc:
        print(f"bench_warp_render: error: {exc}", file=sys.stderr)
        return 2
    cams = DEFAULT_CAMERAS
    vis = VisualRandomizationCfg(enabled=not args.no_randomization)
    import torch

    print(f"device {device}, {len(cams)} cameras at {height}x{width}, visual randomization "
          f"{'off' if args.no_randomization else 'on'}, {args.frames} timed calls; MUJOCO_GL={os.environ['MUJOCO_GL']}")
    print(f"{'N':>6} {'warp first s':>12} {'warp frames/s':>14} {'opengl frames/s':>16} {'warp/opengl':>12}")
    rows = []
    for n in args.sizes:
        env = make_env("peg_insertion", "easy", n, engine="mujoco_warp", device=device, seed=0)
        env.step(torch.zeros(n, 7))  # one policy step: forwarded, settled worlds
        row = {"num_worlds": n, "frames_per_call": n * len(cams)}
        try:
            warp = WarpBatchRenderer(env.engine, cams, width, height, vis, seed=0)
            for i in range(n):
                warp.randomize(i)
            t = time.perf_counter()
            warp.render_all()
            row["warp_first_call_s"] = time.perf_counter() - t
            s = time_calls(warp, args.frames)
            row["warp_frames_per_s"] = n * len(cams) * args.frames / s
            row["warp_ms_per_call"] = 1e3 * s / args.frames
            row["warp_settings"] = warp.settings
            warp.close()
            if n <= args.opengl_max_n:
                try:
                    gl = RandomizedRenderer(env.engine, cams, width, height, vis, seed=0)
                except Exception as exc:  # noqa: BLE001 -- no GL context on this machine: Warp only
                    row["opengl_error"] = f"{type(exc).__name__}: {exc}"
                else:
                    for i in range(n):
                        gl.randomize(i)
                    gl.render_all()  # GL context and texture upload
                    s = time_calls(gl, args.frames)
                    row["opengl_frames_per_s"] = n * len(cams) * args.frames / s
                    gl.close()
        finally:
            env.close()
        ratio = (row["warp_frames_per_s"] / row["opengl_frames_per_s"]) if "opengl_frames_per_s" in row else None
        row["warp_over_opengl"] = ratio
        gl_txt = f"{row['opengl_frames_per_s']:16.1f}" if "opengl_frames_per_s" in row else f"{'-':>16}"
        print(f"{n:6d} {row['warp_first_call_s']:12.2f} {row['warp_frames_per_s']:14.1f} {gl_txt} "
              f"{(f'{ratio:12.2f}' if ratio else '-'.rjust(12))}", flush=True)
        rows.append(row)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "image_size": [height, width], "cameras": list(cams),
                                               "visual_randomization": not args.no_randomization,
                                               "frames": args.frames, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
